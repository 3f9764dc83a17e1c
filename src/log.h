/* log.h - lines on stderr, text or JSON, one write() each: built, escaped and batched here. */
#ifndef ECHOSVC_LOG_H
#define ECHOSVC_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define LOG_LINE_MAX 4096 /* PIPE_BUF: a line this long is written atomically */

/* A field's longest escaped value (an error's may take twice this). */
#define LOG_FIELD_MAX 1024

/* A line under construction, on the caller's stack: fields are appended in
 * order, escaped for the format, and cut at LOG_LINE_MAX, never overrun.
 * What a line holds is its caller's business (access_log.c: a request). */
struct log_line {
	char text[LOG_LINE_MAX];
	size_t len;
};

/* Starts a line with the time and the service. */
void log_line_begin(struct log_line *line);

/* Adds " key=value" (text) or ,"key":"value" (JSON), escaped: value may hold
 * any bytes. Quoted in text when force_quote; at most max bytes of it. */
void log_line_field(struct log_line *line, const char *key, const char *value, size_t len,
		    bool force_quote, size_t max);

/* The same for a NUL-terminated value, left out when it is NULL or "". */
void log_line_optional(struct log_line *line, const char *key, const char *value, size_t max);

/* Adds " key=N" (text) or ,"key":N (JSON). */
void log_line_number(struct log_line *line, const char *key, unsigned long long value);

/* Ends the line and writes it: into this thread's batch while batching
 * (log_batch_begin()), else at once. Thread-safe. */
void log_line_send(struct log_line *line);

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
