/* trace.h - W3C Trace Context: the traceparent a request carried and the span this service makes. */
#ifndef ECHOSVC_TRACE_H
#define ECHOSVC_TRACE_H

#include <stdbool.h>

#define TRACE_ID_LEN 32        /* hex digits of a trace-id */
#define TRACE_SPAN_LEN 16      /* hex digits of a parent-id or span-id */
#define TRACE_PARENT_LEN 55    /* 00-<trace-id>-<parent-id>-<flags> */
#define TRACE_STATE_MAX 512    /* longest tracestate passed on */

/* One request's place in a trace. Strings are NUL-terminated hex. */
struct trace {
	char trace_id[TRACE_ID_LEN + 1];
	char span_id[TRACE_SPAN_LEN + 1];    /* this service's span, always new */
	char parent_id[TRACE_SPAN_LEN + 1];  /* "" when no valid traceparent came */
	char flags[3];
};

/*
 * Starts this service's span. A valid traceparent (may be NULL) is
 * continued: its trace-id and flags are kept and its parent-id recorded;
 * otherwise a new trace starts with flags 01. Returns whether it continued.
 */
bool trace_begin(struct trace *t, const char *traceparent);

/* The traceparent for a call this span makes: 00-<trace-id>-<span-id>-<flags>. */
void trace_format_parent(const struct trace *t, char dst[TRACE_PARENT_LEN + 1]);

/*
 * The tracestate to pass on with a call: the one received when the
 * traceparent was valid, it is at most TRACE_STATE_MAX bytes and holds no
 * control character (it goes into a header line); NULL otherwise.
 */
const char *trace_state_forward(const struct trace *t, const char *tracestate);

#endif
