/* trace.c - W3C Trace Context: the traceparent a request carried and the span this service makes. */
#include "trace.h"

#include <stdio.h>
#include <string.h>

#include "rng.h"

/* n lower-case hex digits, not all zero (an all-zero id is invalid). */
static bool hex_field(const char *s, size_t n, bool nonzero)
{
	bool zero = true;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		if (c != '0')
			zero = false;
	}
	return !(nonzero && zero);
}

/*
 * Version 00 is exactly 55 characters. A later version (01 to fe) may
 * carry more fields after the first four, behind a '-', which W3C Trace
 * Context asks a parser to accept and ignore; version ff is invalid.
 */
static bool parent_valid(const char *p)
{
	size_t len = strlen(p);

	if (len < TRACE_PARENT_LEN || !hex_field(p, 2, false) || strncmp(p, "ff", 2) == 0)
		return false;
	if (strncmp(p, "00", 2) == 0 ? len != TRACE_PARENT_LEN
				     : len > TRACE_PARENT_LEN && p[TRACE_PARENT_LEN] != '-')
		return false;
	return p[2] == '-' && hex_field(p + 3, TRACE_ID_LEN, true) && p[35] == '-' &&
	       hex_field(p + 36, TRACE_SPAN_LEN, true) && p[52] == '-' &&
	       hex_field(p + 53, 2, false);
}

bool trace_begin(struct trace *t, const char *traceparent)
{
	bool valid = traceparent != NULL && parent_valid(traceparent);

	if (valid) {
		memcpy(t->trace_id, traceparent + 3, TRACE_ID_LEN);
		t->trace_id[TRACE_ID_LEN] = '\0';
		memcpy(t->parent_id, traceparent + 36, TRACE_SPAN_LEN);
		t->parent_id[TRACE_SPAN_LEN] = '\0';
		memcpy(t->flags, traceparent + 53, 2);
	} else {
		do
			rng_hex(t->trace_id, TRACE_ID_LEN);
		while (!hex_field(t->trace_id, TRACE_ID_LEN, true));
		t->parent_id[0] = '\0';
		memcpy(t->flags, "01", 2);
	}
	t->flags[2] = '\0';
	do
		rng_hex(t->span_id, TRACE_SPAN_LEN);
	while (!hex_field(t->span_id, TRACE_SPAN_LEN, true));
	return valid;
}

void trace_format_parent(const struct trace *t, char dst[TRACE_PARENT_LEN + 1])
{
	snprintf(dst, TRACE_PARENT_LEN + 1, "00-%s-%s-%s", t->trace_id, t->span_id, t->flags);
}

const char *trace_state_forward(const struct trace *t, const char *tracestate)
{
	size_t len;

	if (t->parent_id[0] == '\0' || tracestate == NULL)
		return NULL;
	for (len = 0; tracestate[len] != '\0'; len++) {
		unsigned char c = (unsigned char)tracestate[len];

		if (len == TRACE_STATE_MAX || (c < 0x20 && c != '\t') || c == 0x7F)
			return NULL;
	}
	return tracestate;
}
