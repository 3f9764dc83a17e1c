/* log.h - request and event lines on stderr, text or JSON, one write() each. */
#ifndef ECHOSVC_LOG_H
#define ECHOSVC_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define LOG_LINE_MAX 4096 /* PIPE_BUF: a line this long is written atomically */

/* One request, as the seed logs it. Strings are borrowed for the call and
 * may hold any bytes: whatever a client sent is escaped. */
struct log_request {
	const char *endpoint;
	size_t endpoint_len;
	bool ok;
	const char *error;      /* NULL when ok */
	size_t error_len;
	unsigned long latency_ms;
	unsigned code;          /* HTTP status */
	/* The fields after the seed's, each NUL-terminated; NULL (or "" for
	 * parent_id, 0 for attempts) leaves the field out. */
	const char *request_id;
	const char *trace_id;
	const char *span_id;
	const char *parent_id;
	const char *method;     /* as the client sent it: escaped */
	const char *peer;       /* the client's HOST:PORT */
	size_t bytes;           /* body bytes sent */
	const char *replica;    /* B: the A that answered */
	unsigned attempts;      /* B: attempts made on A */
	const char *fault;      /* "error", "delay" or "delay,error" */
};

/* Sets the service name ("A", "B", "up") and the format for every later
 * line. Call once before any thread logs. */
void log_init(const char *service, enum config_log_format format);

/* From here on this thread's request lines are batched until log_flush()
 * (events still go out at once). For a loop thread: call log_flush() before
 * the loop sleeps. */
void log_batch_begin(void);

/* Writes this thread's batched lines. */
void log_flush(void);

/* Writes this thread's batched lines and stops batching. */
void log_batch_end(void);

/* Writes one request line. Thread-safe. */
void log_request(const struct log_request *entry);

/* Writes "event=EVENT [key=value]". key may be NULL. Thread-safe. */
void log_event(const char *event, const char *key, const char *value);

/* Writes "event=EVENT key=value …" with count key/value pairs
 * (pairs[2i] is a key, pairs[2i+1] its value). Thread-safe. */
void log_event_pairs(const char *event, const char *const *pairs, size_t count);

/* Writes "event=error error=\"message\"": a failure the process reports
 * before it exits. Thread-safe. */
void log_failure(const char *message);

/* Writes message and a newline as it is (usage errors, before the service
 * is known). */
void log_usage(const char *message);

/*
 * Writes value into dst as a text log field value: bare when it is plain
 * (printable ASCII, no space, quote, backslash or '='), otherwise quoted with
 * \" \\ \n \r \t and \xHH escapes. Always quoted when force_quote. Values
 * longer than dst allows end in "..." inside the quotes. Returns the bytes
 * written; dst_size must be at least 8. dst is not NUL-terminated.
 */
size_t log_format_value(char *dst, size_t dst_size, const char *value, size_t len,
			bool force_quote);

#endif
