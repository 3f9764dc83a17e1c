/* access_log.c - the access line of one request: the server's fields, then those a role adds. */
#include "access_log.h"

#include "log.h"

void access_log_write(const struct access_log_entry *entry)
{
	struct log_line line;

	log_line_begin(&line);
	log_line_field(&line, "endpoint", entry->endpoint, entry->endpoint_len, false, LOG_FIELD_MAX);
	log_line_field(&line, "status", entry->ok ? "ok" : "error", entry->ok ? 2 : 5, false, 16);
	if (entry->error != NULL)
		log_line_field(&line, "error", entry->error, entry->error_len, true,
			       2 * LOG_FIELD_MAX);
	log_line_number(&line, "latency_ms", entry->latency_ms);
	log_line_number(&line, "code", entry->code);
	log_line_optional(&line, "request_id", entry->request_id, 256);
	log_line_optional(&line, "trace_id", entry->trace_id, 64);
	log_line_optional(&line, "span_id", entry->span_id, 64);
	log_line_optional(&line, "parent_id", entry->parent_id, 64);
	log_line_optional(&line, "method", entry->method, 64);
	log_line_optional(&line, "peer", entry->peer, 80);
	log_line_number(&line, "bytes", entry->bytes);
	for (size_t i = 0; i < entry->note_count; i++) {
		const struct access_log_note *note = &entry->notes[i];

		if (note->text != NULL)
			log_line_optional(&line, note->key, note->text, 2 * LOG_FIELD_MAX);
		else
			log_line_number(&line, note->key, note->number);
	}
	log_line_optional(&line, "fault", entry->fault, 32);
	log_line_send(&line);
}
