/* upstream_handle.h - B's pooled curl easy handles to A, each with its own URL and headers. */
#ifndef ECHOSVC_UPSTREAM_HANDLE_H
#define ECHOSVC_UPSTREAM_HANDLE_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "curl_loop.h"

#define UPSTREAM_REQUEST_ID_MAX 128  /* longer ids are cut, as the seed did */
#define UPSTREAM_TRACEPARENT_MAX 63  /* version 00 is 55; a later one may be longer */

/* The headers of one call to A, copied from the client's request: the call
 * owns them (tracestate is malloc'ed, NULL when absent). */
struct upstream_headers {
	char request_id[UPSTREAM_REQUEST_ID_MAX + 1];
	size_t request_id_len;
	char traceparent[UPSTREAM_TRACEPARENT_MAX + 1];
	size_t traceparent_len;       /* 0: none */
	char *tracestate;
};

/* An easy handle with the options every attempt shares set once (curl's
 * options are sticky), a parsed URL (CURLU) and a header list of its own:
 * an attempt changes only what differs from the handle's last attempt. */
struct upstream_handle;

/* A new handle for calls to A with cfg's limits and TLS files; curl's
 * sockets are watched through cl; A's body goes to on_answer with the
 * attempt's WRITEDATA. NULL when out of memory. */
struct upstream_handle *upstream_handle_new(const struct config *cfg, struct curl_loop *cl,
					    curl_write_callback on_answer);

void upstream_handle_free(struct upstream_handle *h);

CURL *upstream_handle_easy(const struct upstream_handle *h);

/* Aims h at one attempt: replica's base (its "http[s]://host[:port]") and
 * A's path, made and parsed only when replica is not the handle's last, with
 * query (encoded, no '?'), and the call's headers (rewritten in place when
 * they are as long as the last ones). Returns 0, or -1 when out of memory
 * or the URL does not parse; then the handle must be freed, not reused. */
int upstream_handle_aim(struct upstream_handle *h, size_t replica, const char *base,
			const char *query, const struct upstream_headers *headers);

/* Copies a request's header values into *headers: 0, or -1 when out of
 * memory (nothing to free then). */
int upstream_headers_copy(struct upstream_headers *headers, const char *request_id,
			  const char *traceparent, const char *tracestate);

void upstream_headers_finish(struct upstream_headers *headers);

#endif
