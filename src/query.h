/* query.h - the msg parameter of a form-encoded query string. */
#ifndef ECHOSVC_QUERY_H
#define ECHOSVC_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Finds the first parameter whose decoded name is "msg" in query[0..len)
 * (the text after '?', undecoded) and decodes its value in place: '+' is a
 * space, %XX is a byte, a '%' not followed by two hex digits stays as it is,
 * and a bare "msg" (no '=') is the empty string. On success stores where the
 * decoded bytes start (inside query) and how many there are, and returns
 * true; returns false when there is no msg. Other parameters are left as
 * they were. Pure: no allocation, no global state.
 */
bool query_find_msg(char *query, size_t len, char **value, size_t *value_len);

#endif
