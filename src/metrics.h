/* metrics.h - request and upstream counters, histograms, Prometheus text. */
#ifndef ECHOSVC_METRICS_H
#define ECHOSVC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define METRICS_ENDPOINTS_MAX 8 /* routes plus "other" */

/* How one call from B to A ended, as echosvc_upstream_requests_total counts it. */
enum metrics_outcome {
	METRICS_OK,
	METRICS_REFUSED,
	METRICS_TIMEOUT,
	METRICS_BAD_RESPONSE,
	METRICS_CIRCUIT_OPEN,
	METRICS_OVERLOADED,
	METRICS_OUTCOME_COUNT
};

/* Appends more metric families when /metrics is rendered (B's circuits). */
typedef int metrics_source(struct buffer *out, void *arg);

/*
 * Sets the service label and the endpoint names; endpoint 0 is "other"
 * (paths that matched no route), endpoints[i] is route i. The array is copied,
 * the strings are borrowed for the process's life. Call once before any
 * thread counts.
 */
void metrics_init(const char *service, const char *const *endpoints, size_t count);

/* Registers B's upstream families and the source of its gauges (calls in
 * flight, circuits), which may be NULL. */
void metrics_enable_upstream(metrics_source *source, void *arg);

/* Counts one answered request. Lock-free; any thread. */
void metrics_request_observe(size_t endpoint, unsigned code, uint64_t elapsed_ns);

/* Moves the requests-in-progress gauge: +1 when a request line arrives, -1
 * when its answer is sent. The drain waits for it to reach 0. Any thread. */
void metrics_requests_active_add(int delta);

/* Counts a client connection opened (+1) or closed (-1). Any thread. */
void metrics_connection_observe(int delta);

/* Requests in progress now. Any thread. */
unsigned metrics_requests_active(void);

/* Counts one call to A by its outcome. Lock-free; any thread. */
void metrics_upstream_observe(enum metrics_outcome outcome);

/* Appends the whole exposition (format 0.0.4). Returns 0 or -1 as buffer_append(). */
int metrics_render(struct buffer *out);

#endif
