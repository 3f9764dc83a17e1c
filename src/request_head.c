/* request_head.c - what echosvc checks and derives from a request's head: framing, target, id. */
#include "request_head.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "rng.h"

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
	rng_hex(id, REQUEST_HEAD_NEW_ID_LEN);
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

