/* json.c - JSON string output with UTF-8 repair. */
#include "json.h"

#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/*
 * Looks at the sequence starting at p (avail >= 1 bytes). Returns its length
 * when it is one well-formed character; otherwise returns 0 and stores in
 * *bad the length of the maximal ill-formed subpart (at least 1), which is
 * the part to replace by one U+FFFD. Table 3-7 of the Unicode standard.
 */
static size_t utf8_sequence(const unsigned char *p, size_t avail, size_t *bad)
{
	unsigned char lead = p[0];
	unsigned char low = 0x80, high = 0xBF; /* allowed range of byte 2 */
	size_t need, i;

	if (lead < 0x80)
		return 1;
	if (lead >= 0xC2 && lead <= 0xDF) {
		need = 2;
	} else if (lead >= 0xE0 && lead <= 0xEF) {
		need = 3;
		if (lead == 0xE0)
			low = 0xA0; /* overlong */
		else if (lead == 0xED)
			high = 0x9F; /* surrogates */
	} else if (lead >= 0xF0 && lead <= 0xF4) {
		need = 4;
		if (lead == 0xF0)
			low = 0x90; /* overlong */
		else if (lead == 0xF4)
			high = 0x8F; /* past U+10FFFF */
	} else {
		*bad = 1; /* C0, C1, F5..FF, or a stray continuation byte */
		return 0;
	}
	for (i = 1; i < need; i++) {
		unsigned char lo = i == 1 ? low : 0x80;
		unsigned char hi = i == 1 ? high : 0xBF;

		if (i >= avail || p[i] < lo || p[i] > hi) {
			*bad = i;
			return 0;
		}
	}
	return need;
}

size_t json_escape(char *dst, size_t dst_size, const char *src, size_t len,
		   size_t *consumed)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)src;
	size_t in = 0, outlen = 0;

	while (in < len) {
		char escape[6];
		const char *piece = escape;
		size_t piece_len, advance;
		unsigned char c = p[in];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			if (outlen == dst_size)
				break;
			dst[outlen++] = (char)c;
			in++;
			continue;
		}
		if (c < 0x80) {
			escape[0] = '\\';
			piece_len = 2;
			advance = 1;
			switch (c) {
			case '"': escape[1] = '"'; break;
			case '\\': escape[1] = '\\'; break;
			case '\n': escape[1] = 'n'; break;
			case '\r': escape[1] = 'r'; break;
			case '\t': escape[1] = 't'; break;
			case '\b': escape[1] = 'b'; break;
			case '\f': escape[1] = 'f'; break;
			default:
				memcpy(escape, "\\u00", 4);
				escape[4] = hex[c >> 4];
				escape[5] = hex[c & 0x0F];
				piece_len = 6;
				break;
			}
		} else {
			size_t bad = 0;
			size_t n = utf8_sequence(p + in, len - in, &bad);

			if (n > 0) {
				piece = src + in;
				piece_len = n;
				advance = n;
			} else {
				piece = replacement;
				piece_len = 3;
				advance = bad;
			}
		}
		if (dst_size - outlen < piece_len)
			break;
		memcpy(dst + outlen, piece, piece_len);
		outlen += piece_len;
		in += advance;
	}
	*consumed = in;
	return outlen;
}

int json_append_string(struct buffer *out, const char *src, size_t len)
{
	char chunk[512];

	if (buffer_append(out, "\"", 1) < 0)
		return -1;
	while (len > 0) {
		size_t used;
		size_t written = json_escape(chunk, sizeof(chunk), src, len, &used);

		if (buffer_append(out, chunk, written) < 0)
			return -1;
		src += used;
		len -= used;
	}
	return buffer_append(out, "\"", 1);
}

int json_append_error(struct buffer *out, const char *message, size_t len)
{
	if (buffer_append_str(out, "{\"error\":") < 0 ||
	    json_append_string(out, message, len) < 0)
		return -1;
	return buffer_append(out, "}\n", 2);
}
