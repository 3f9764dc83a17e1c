/* request_head.c - what echosvc checks and derives from a request's head: framing, target, id. */
#include "request_head.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* xoshiro256** per thread, seeded from the kernel: request ids need to be
 * unique, not secret, and must not cost a system call each. */
static _Thread_local uint64_t rng_state[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t *s = rng_state;
	uint64_t result, t;

	if (!rng_seeded) {
		if (getrandom(s, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state)) {
			s[0] = (uint64_t)time(NULL);
			s[1] = (uint64_t)(uintptr_t)&rng_state;
			s[2] = (uint64_t)getpid();
			s[3] = 0x9E3779B97F4A7C15u;
		}
		rng_seeded = true;
	}
	result = rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

bool request_head_id_valid(const char *id)
{
	size_t len = 0;

	for (; id[len] != '\0'; len++) {
		char c = id[len];

		if (len == REQUEST_HEAD_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return len > 0;
}

void request_head_new_id(char id[REQUEST_HEAD_NEW_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int half = 0; half < 2; half++) {
		uint64_t bits = rng_next();

		for (int i = 0; i < 16; i++)
			id[half * 16 + i] = hex[(bits >> (i * 4)) & 0x0F];
	}
	id[REQUEST_HEAD_NEW_ID_LEN] = '\0';
}

/* What the framing check has seen of a request's headers. */
struct framing {
	const char *error;        /* the first reason to refuse, or NULL */
	unsigned content_lengths;
	bool host;
};

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct framing *f = cls;

	if (strpbrk(key, " \t") != NULL)
		f->error = "whitespace before a colon in a header";
	else if (value != NULL && strchr(value, '\r') != NULL)
		f->error = "a bare CR in a header";
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->error = "Transfer-Encoding is not accepted: this service takes no body";
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0 &&
		 (++f->content_lengths > 1 || value == NULL || strcmp(value, "0") != 0))
		f->error = f->content_lengths > 1 ? "more than one Content-Length"
						  : "a Content-Length other than 0: this service takes no body";
	else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		f->host = true;
	return f->error == NULL ? MHD_YES : MHD_NO;
}

/*
 * RFC 9112 6.3 and 5.1, for services that never take a body: anything that
 * frames one, or that two parsers could frame differently, is refused, and
 * the connection closes after the answer, so that nothing a client smuggled
 * after the head ever runs as a request. Returns the reason, or NULL.
 */
const char *request_head_framing_error(struct MHD_Connection *connection, const char *version)
{
	struct framing f = {0};

	MHD_get_connection_values(connection, MHD_HEADER_KIND, framing_header, &f);
	if (f.error == NULL && !f.host && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
		f.error = "an HTTP/1.1 request without Host";
	return f.error;
}

/* The path of an absolute-form target ("http://host/echo"), which RFC 9112
 * 3.2.2 asks a server to accept like the origin form; url otherwise. */
const char *request_head_origin_path(const char *url)
{
	const char *authority, *path;

	if (strncasecmp(url, "http://", 7) == 0)
		authority = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		authority = url + 8;
	else
		return url;
	path = strchr(authority, '/');
	return path != NULL ? path : "/";
}

