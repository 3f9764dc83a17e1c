/* metrics.h - request counters and histograms, and the Prometheus text of every source. */
#ifndef ECHOSVC_METRICS_H
#define ECHOSVC_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

#define METRICS_HANDLERS_MAX 8 /* routes plus "other" */
#define METRICS_BUCKETS 13     /* histogram buckets, 0.5 ms to 5 s, +Inf apart */

/* The method label: what clients may use, and everything else. */
enum metrics_method {
	METRICS_GET,
	METRICS_HEAD,
	METRICS_OTHER,
	METRICS_METHODS
};

/* The kind label of echosvc_faults_injected_total. */
enum metrics_fault {
	METRICS_FAULT_ERROR,
	METRICS_FAULT_DELAY,
	METRICS_FAULTS
};

/* A histogram one thread (or a few) observes into, without a lock. */
struct metrics_histogram {
	atomic_uint_fast64_t bucket[METRICS_BUCKETS]; /* not cumulative */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
};

/* A snapshot: histograms summed for rendering. Zero it before adding. */
struct metrics_histogram_total {
	uint64_t bucket[METRICS_BUCKETS];
	uint64_t count;
	uint64_t sum_ns;
};

/* Appends more metric families when /metrics is rendered: what a module
 * counts itself (the servers' connections, B's calls to A). Returns 0 or -1
 * as buffer_append(). */
typedef int metrics_source(struct buffer *out, void *arg);

/*
 * Sets the handler names: handler 0 is "other" (paths that matched no
 * route), handlers[i] is route i. The array is copied, the strings are
 * borrowed for the process's life. extra_code is a status the code label
 * must name besides echosvc's own (the injected error's), 0 for none.
 * Call once before any thread counts.
 */
void metrics_init(const char *const *handlers, size_t count, unsigned extra_code);

/* Adds a source of metric families, rendered after the request families in
 * the order added. Call before any thread renders. Returns 0, or -1 when
 * the table is full. */
int metrics_add_source(metrics_source *source, void *arg);

/* Counts one answered request. Lock-free; any thread. */
void metrics_request_observe(size_t handler, enum metrics_method method, unsigned code,
			     uint64_t elapsed_ns);

/* Counts one injected fault. Lock-free; any thread. */
void metrics_fault_observe(enum metrics_fault kind);

/* Adds one observation. Lock-free; any thread. */
void metrics_histogram_observe(struct metrics_histogram *h, uint64_t elapsed_ns);

/* Adds h's values to total. */
void metrics_histogram_add(struct metrics_histogram_total *total,
			   const struct metrics_histogram *h);

/* Appends name_bucket/_sum/_count lines with labels (already escaped, may
 * be ""). Returns 0 or -1 as buffer_append(). */
int metrics_histogram_render(struct buffer *out, const char *name, const char *labels,
			     const struct metrics_histogram_total *total);

/* Appends the whole exposition (format 0.0.4). Returns 0 or -1 as buffer_append(). */
int metrics_render(struct buffer *out);

#endif
