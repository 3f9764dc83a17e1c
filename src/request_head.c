/* request_head.c - what echosvc checks and derives from a request's head: framing, target, id. */
#include "request_head.h"

#include <string.h>
#include <strings.h>

#include "mhd_quirks.h"
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
	unsigned hosts;
	size_t lines_size;        /* the header lines as "name: value" CR LF */
	unsigned lines;
};

/* A Host field's value (RFC 9110 7.2: uri-host [":" port]) holds no
 * whitespace, control character, '/', '?', '#' or '@'. */
static bool host_valid(const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '@' ||
		    c == '\\')
			return false;
	}
	return true;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      size_t key_size, const char *value, size_t value_size)
{
	struct framing *f = cls;

	f->lines_size += key_size + 2 + value_size + 2;
	f->lines++;
	if (strpbrk(key, " \t") != NULL)
		f->error = "whitespace before a colon in a header";
	else if (value != NULL && memchr(value, '\r', value_size) != NULL)
		f->error = "a bare CR in a header";
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->error = "Transfer-Encoding is not accepted: this service takes no body";
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0 &&
		 (++f->content_lengths > 1 || value == NULL || strcmp(value, "0") != 0))
		f->error = f->content_lengths > 1
				   ? "more than one Content-Length"
				   : "a Content-Length other than 0: this service takes no body";
	else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		f->error = ++f->hosts > 1 ? "more than one Host"
			   : value == NULL || !host_valid(value, value_size) ? "an invalid Host"
									       : NULL;
	return f->error == NULL ? MHD_YES : MHD_NO;
}

/*
 * RFC 9112 6.3 and 5.1, for services that never take a body: anything that
 * frames one, or that two parsers could frame differently, is refused, and
 * the connection closes after the answer, so that nothing a client smuggled
 * after the head ever runs as a request. Decided from what libmicrohttpd's
 * API gives: the header fields, the raw target and the head's size. Where
 * the library hides NULs and folded lines (mhd_quirks.h), the head may be
 * no longer than its request line and fields written out with one space
 * after each colon and CR LF after each line: what is more is bytes a C
 * string hid, a folded line joined to the one before, or more than one space
 * before a value, which no common client sends. Returns the reason, or NULL.
 */
#define STRINGIFY(x) #x
#define NUMBER(x) STRINGIFY(x)

const char *request_head_framing_error(struct MHD_Connection *connection, const char *method,
				       size_t target_len, const char *version, unsigned *status,
				       bool *values_cut)
{
	struct framing f = {0};
	const union MHD_ConnectionInfo *size =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	size_t head_size = size != NULL ? size->header_size : 0;

	*values_cut = false;
	*status = 400;
	MHD_get_connection_values_n(connection, MHD_HEADER_KIND, framing_header, &f);
	if (f.error != NULL)
		return f.error;
	if (f.lines_size > REQUEST_HEAD_BYTES_MAX || f.lines > REQUEST_HEAD_LINES_MAX) {
		*status = 431;
		return "request header fields too large: more than " NUMBER(REQUEST_HEAD_BYTES_MAX)
		       " bytes or " NUMBER(REQUEST_HEAD_LINES_MAX) " lines";
	}
	if (mhd_quirks_head_hides_bytes() &&
	    head_size > strlen(method) + 1 + target_len + 1 + strlen(version) + 2 + f.lines_size + 2) {
		*values_cut = true;
		return "a NUL byte, a folded line or extra whitespace in the request head";
	}
	if (f.hosts == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
		return "an HTTP/1.1 request without Host";
	return NULL;
}

bool request_head_method_valid(const char *method)
{
	static const char tchar_symbols[] = "!#$%&'*+-.^_`|~";

	if (method[0] == '\0')
		return false;
	for (const char *p = method; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr(tchar_symbols, *p) != NULL))
			return false;
	return true;
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

