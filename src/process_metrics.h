/* process_metrics.h - the standard process_* metrics every Prometheus client library exports. */
#ifndef ECHOSVC_PROCESS_METRICS_H
#define ECHOSVC_PROCESS_METRICS_H

#include "buffer.h"

/* Records the start time. Once, at start-up. */
void process_metrics_init(void);

/*
 * Appends process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds, read from /proc/self as the Go and Python
 * clients do. A value that cannot be read is left out. Returns 0 or -1 as
 * buffer_append().
 */
int process_metrics_render(struct buffer *out);

#endif
