/* query.c - the msg parameter of a form-encoded query string. */
#include "query.h"

#include <string.h>

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes form encoding in place; returns the decoded length. */
static size_t form_decode(char *text, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		char c = text[in];

		if (c == '+') {
			c = ' ';
		} else if (c == '%' && in + 2 < len) {
			int hi = hex_value(text[in + 1]), lo = hex_value(text[in + 2]);

			if (hi >= 0 && lo >= 0) {
				c = (char)(hi * 16 + lo);
				in += 2;
			}
		}
		text[out++] = c;
		in++;
	}
	return out;
}

/* Whether the encoded name text[0..len) decodes to "msg". */
static bool name_is_msg(const char *text, size_t len)
{
	char copy[9];

	if (len > sizeof(copy)) /* "%6d%73%67" is the longest spelling of "msg" */
		return false;
	memcpy(copy, text, len);
	return form_decode(copy, len) == 3 && memcmp(copy, "msg", 3) == 0;
}

bool query_find_msg(char *query, size_t len, char **value, size_t *value_len)
{
	size_t pos = 0;

	while (pos < len) {
		char *piece = query + pos;
		char *amp = memchr(piece, '&', len - pos);
		size_t piece_len = amp != NULL ? (size_t)(amp - piece) : len - pos;
		char *equals = memchr(piece, '=', piece_len);
		size_t name_len = equals != NULL ? (size_t)(equals - piece) : piece_len;

		if (name_is_msg(piece, name_len)) {
			char *start = equals != NULL ? equals + 1 : piece + piece_len;
			size_t encoded = equals != NULL ? piece_len - name_len - 1 : 0;

			*value = start;
			*value_len = form_decode(start, encoded);
			return true;
		}
		pos += piece_len + 1;
	}
	return false;
}
