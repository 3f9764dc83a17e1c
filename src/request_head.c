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
	const char *head;         /* libmicrohttpd's copy of the head: the method's first byte */
	const char *head_end;     /* one past the empty line that ends it */
	const char *text_end;     /* the NUL that ends the previous line's text */
	bool values_cut;          /* the error is bytes a C string does not show */
};

/* Whether p points into [head, head_end]; compared as integers, since a
 * folded line's pointer is into other memory. */
static bool in_head(const struct framing *f, const char *p)
{
	return (uintptr_t)p >= (uintptr_t)f->head && (uintptr_t)p <= (uintptr_t)f->head_end;
}

/*
 * libmicrohttpd 0.9.75 parses the head in place: it writes a NUL over each
 * line's CR and LF and over each header's colon, and hands out pointers into
 * that copy, header by header in the order of the lines. So from the end of
 * one line's text (the version, or a header's value) to the next header's
 * name there are only that line's one or two NULs; anything more is text
 * past a NUL byte the client sent, which the C strings hide. A name or value
 * outside the copy is a folded line (obs-fold), which libmicrohttpd joins in
 * memory of its own. Returns the reason to refuse, or NULL.
 */
static const char *line_gap_error(const struct framing *f, const char *next)
{
	const char *p;

	if (!in_head(f, next))
		return "a header folded onto a second line (obs-fold)";
	if (next <= f->text_end)
		return "a NUL byte in a header";
	for (p = f->text_end; p < next; p++)
		if (*p != '\0')
			return "a NUL byte in a header";
	/* one line end (CR LF, or a bare LF), or two before the head's end */
	if (next - f->text_end > (next == f->head_end ? 4 : 2))
		return "a NUL byte in a header";
	return NULL;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct framing *f = cls;

	if (f->head != NULL && value == NULL)
		f->head = NULL; /* not from the head's lines (never so in 0.9.75): no walk */
	if (f->head != NULL) {
		f->error = line_gap_error(f, key);
		if (f->error == NULL && (!in_head(f, value) || value == f->head_end ||
					 value < key + strlen(key)))
			f->error = "a header folded onto a second line (obs-fold)";
		if (f->error != NULL) {
			f->values_cut = true;
			return MHD_NO;
		}
		f->text_end = value + strlen(value);
	}
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
const char *request_head_framing_error(struct MHD_Connection *connection, const char *method,
				       const char *version, bool *values_cut)
{
	struct framing f = {0};
	const union MHD_ConnectionInfo *size =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

	if (size != NULL) {
		f.head = method;
		f.head_end = method + size->header_size;
		f.text_end = version + strlen(version);
		/* the walk starts at the version's end, in the copy (HTTP/0.9 has none) */
		if (!in_head(&f, version))
			f.head = NULL;
	}
	MHD_get_connection_values(connection, MHD_HEADER_KIND, framing_header, &f);
	if (f.error == NULL && f.head != NULL) {
		f.error = line_gap_error(&f, f.head_end);
		f.values_cut = f.error != NULL;
	}
	*values_cut = f.values_cut;
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

