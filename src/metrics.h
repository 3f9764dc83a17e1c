/* metrics.h - request counters and histograms, and the Prometheus text of every source. */
#ifndef ECHOSVC_METRICS_H
#define ECHOSVC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define METRICS_ENDPOINTS_MAX 8 /* routes plus "other" */

/* Appends more metric families when /metrics is rendered: what a module
 * counts itself (the servers' connections, B's calls to A). Returns 0 or -1
 * as buffer_append(). */
typedef int metrics_source(struct buffer *out, void *arg);

/*
 * Sets the service label and the endpoint names; endpoint 0 is "other"
 * (paths that matched no route), endpoints[i] is route i. The array is copied,
 * the strings are borrowed for the process's life. Call once before any
 * thread counts.
 */
void metrics_init(const char *service, const char *const *endpoints, size_t count);

/* Adds a source of metric families, rendered after the request families in
 * the order added. Call before any thread renders. Returns 0, or -1 when
 * the table is full. */
int metrics_add_source(metrics_source *source, void *arg);

/* The value of the service label ("A" or "B"), for sources. */
const char *metrics_service(void);

/* Counts one answered request. Lock-free; any thread. */
void metrics_request_observe(size_t endpoint, unsigned code, uint64_t elapsed_ns);

/* Appends the whole exposition (format 0.0.4). Returns 0 or -1 as buffer_append(). */
int metrics_render(struct buffer *out);

#endif
