/* access_log.h - the access line of one request: the server's fields, then those a role adds. */
#ifndef ECHOSVC_ACCESS_LOG_H
#define ECHOSVC_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>

#define ACCESS_LOG_NOTES_MAX 4 /* fields a role may add to one line */

/* A field a role adds (B: the replica that answered, the attempts made):
 * key is a literal; text, when not NULL, the value (escaped), else number. */
struct access_log_note {
	const char *key;
	const char *text;
	unsigned long long number;
};

/* One request, as the seed logs it, and after the seed's fields the ones
 * echosvc adds. Strings are borrowed for the call and may hold any bytes:
 * whatever a client sent is escaped. A NULL (or "") optional field is left
 * out. */
struct access_log_entry {
	const char *endpoint;
	size_t endpoint_len;
	bool ok;
	const char *error;      /* NULL when ok */
	size_t error_len;
	unsigned long latency_ms;
	unsigned code;          /* HTTP status */
	const char *request_id;
	const char *trace_id;
	const char *span_id;
	const char *parent_id;
	const char *method;     /* as the client sent it */
	const char *peer;       /* the client's HOST:PORT */
	size_t bytes;           /* body bytes sent */
	const struct access_log_note *notes; /* the role's, in order, after bytes */
	size_t note_count;
	const char *fault;      /* "error", "delay" or "delay,error" */
};

/* Writes the request's line (batched on a loop thread). Thread-safe. */
void access_log_write(const struct access_log_entry *entry);

#endif
