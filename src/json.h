/* json.h - JSON string output with UTF-8 repair (cJSON reads, this writes). */
#ifndef ECHOSVC_JSON_H
#define ECHOSVC_JSON_H

#include <stddef.h>

#include "buffer.h"

/*
 * UTF-8 repair: bytes that are not well-formed UTF-8 are replaced, one
 * U+FFFD for each maximal ill-formed subsequence (Unicode 15, section 3.9,
 * "U+FFFD Substitution of Maximal Subparts"), the practice of browsers and
 * of Python's errors="replace". Everything else is kept exactly.
 */

/* Escapes src as the inside of a JSON string (no quotes), repairing UTF-8.
 * Writes at most dst_size bytes to dst and never splits an escape or a
 * character; stores in *consumed how many source bytes were used and
 * returns how many bytes were written. dst is not NUL-terminated. */
size_t json_escape(char *dst, size_t dst_size, const char *src, size_t len,
		   size_t *consumed);

/* Appends src as a quoted JSON string. Returns 0 or -1 as buffer_append(). */
int json_append_string(struct buffer *out, const char *src, size_t len);

/* Appends {"error":message}\n, the body of every error answer. */
int json_append_error(struct buffer *out, const char *message, size_t len);

#endif
