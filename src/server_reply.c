/* server_reply.c - one request as a handler sees it: its input, its answer, its log line. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "buffer.h"
#include "json.h"
#include "metrics.h"
#include "query.h"
#include "server_private.h"

/* Whether the client has sent its FIN (an HTTP/1.1 half-close after the
 * request): the answer then says Connection: close (see client_watch.c). */
static bool client_half_closed(const struct server_request *req)
{
	return req->conn != NULL && client_watch_half_closed(req->conn->watch);
}

static const char *fault_field(const struct server_request *req)
{
	if (req->fault_delay && req->fault_error)
		return "delay,error";
	if (req->fault_delay)
		return "delay";
	return req->fault_error ? "error" : NULL;
}

/* The server's method as metrics label it. */
static enum metrics_method metrics_method_of(enum server_method method)
{
	switch (method) {
	case SERVER_GET:
		return METRICS_GET;
	case SERVER_HEAD:
		return METRICS_HEAD;
	case SERVER_OTHER:
		break;
	}
	return METRICS_OTHER;
}

/* The access log line and the counts of one answer. */
static void request_account(struct server_request *req, unsigned status, size_t body_len,
			    const char *error, size_t error_len)
{
	const struct server *srv = req->server;
	uint64_t elapsed = loop_now_ns() - req->start_ns;
	const char *endpoint = req->route != NULL ? req->route->path : req->path;
	struct access_log_entry entry = {
		.endpoint = endpoint,
		.endpoint_len = strlen(endpoint),
		.ok = status < 400,
		.error = error,
		.error_len = error_len,
		.latency_ms = (unsigned long)(elapsed / 1000000u),
		.code = status,
		.request_id = req->request_id,
		.trace_id = req->trace.trace_id,
		.span_id = req->trace.span_id,
		.parent_id = req->trace.parent_id,
		.method = req->method,
		.peer = req->conn != NULL ? req->conn->peer : "-",
		.bytes = req->method_kind == SERVER_HEAD ? 0 : body_len,
		.notes = req->notes,
		.note_count = req->note_count,
		.fault = fault_field(req),
	};

	metrics_request_observe(req->route != NULL ? (size_t)(req->route - srv->routes) + 1 : 0,
				metrics_method_of(req->method_kind), status, elapsed);
	access_log_write(&entry);
}

void server_account_refused(struct server_request *req, unsigned status, const char *reason)
{
	req->method = "-";
	req->method_kind = SERVER_OTHER;
	req->path = "-";
	request_state_answer(req);
	request_account(req, status, 0, reason, strlen(reason));
}

static void reply_content(struct server_request *req, unsigned status, const char *content_type,
			  const char *body, size_t len, const char *error, size_t error_len,
			  const char *allow)
{
	struct server *srv = req->server;
	struct MHD_Response *response;

	request_state_answer(req);
	response = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return; /* out of memory: MHD closes the connection */
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(response, "X-Request-Id", req->request_id);
	if (allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	if (srv->draining || req->close || client_half_closed(req))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	else
		server_tls_hold(req);
	MHD_queue_response(req->connection, status, response);
	MHD_destroy_response(response);
	request_account(req, status, len, error, error_len);
}

void server_reply(struct server_request *req, unsigned status, const char *body, size_t len,
		  const char *error, size_t error_len)
{
	reply_content(req, status, "application/json", body, len, error, error_len, NULL);
}

void server_reply_text(struct server_request *req, const char *content_type, const char *body,
		       size_t len)
{
	reply_content(req, 200, content_type, body, len, NULL, 0, NULL);
}

void server_reply_error_allow(struct server_request *req, unsigned status, const char *message,
			      const char *allow)
{
	char body[512];
	struct buffer out;
	size_t len = strlen(message);

	/* Error texts are short: a buffer on the stack, no allocation. */
	buffer_init_fixed(&out, body, sizeof(body));
	if (json_append_error(&out, message, len) < 0) {
		out.len = 0;
		buffer_append_str(&out, "{\"error\":\"internal error\"}\n");
	}
	reply_content(req, status, "application/json", out.data, out.len, message, len, allow);
}

void server_reply_error(struct server_request *req, unsigned status, const char *message)
{
	server_reply_error_allow(req, status, message, NULL);
}

int server_msg(struct server_request *req, const char **msg, size_t *len)
{
	size_t limit = req->server->config->max_msg_bytes;
	char *value, message[96];
	size_t value_len;

	if (!query_find_msg(req->query, req->query_len, &value, &value_len)) {
		server_reply_error(req, 400, "missing query parameter: msg");
		return -1;
	}
	if (value_len > limit) {
		snprintf(message, sizeof(message), "msg is longer than %zu bytes (--max-msg-bytes)",
			 limit);
		server_reply_error(req, 414, message);
		return -1;
	}
	if (memchr(value, '\0', value_len) != NULL) {
		server_reply_error(req, 400, "msg contains a NUL byte (%00), which is not accepted");
		return -1;
	}
	*msg = value;
	*len = value_len;
	return 0;
}

/*
 * MHD_QUIRK_SUSPEND_LATER (mhd_quirks.h): a request the handler parks during
 * its first call with the whole request in is not suspended yet: MHD keeps it
 * ready, brings its state up to date (nothing more to read) and calls the
 * handler again in the same loop turn; the access handler suspends it then,
 * unless the answer came first.
 */
void server_suspend(struct server_request *req)
{
	if (req->state != REQUEST_OPEN)
		return; /* parked already, or answered */
	list_push(&req->server->parked, &req->parked_link);
	req->state = REQUEST_PARKED;
}

void server_resume(struct server_request *req)
{
	if (!request_state_parked(req))
		return;
	list_remove(&req->server->parked, &req->parked_link);
	if (req->state == REQUEST_SUSPENDED)
		MHD_resume_connection(req->connection);
	req->state = REQUEST_OPEN;
	/* MHD takes it back in its next run: make that run this turn */
	req->server->resumed = true;
}

void request_state_open(struct server_request *req)
{
	if (req->state == REQUEST_HEAD)
		req->state = REQUEST_OPEN;
}

void request_state_answer(struct server_request *req)
{
	server_resume(req);
	req->state = REQUEST_ANSWERED;
}

void request_state_suspend(struct server_request *req)
{
	if (req->state == REQUEST_PARKED && req->final_calls > 1) {
		MHD_suspend_connection(req->connection);
		req->state = REQUEST_SUSPENDED;
	}
}

bool request_state_parked(const struct server_request *req)
{
	return req->state == REQUEST_PARKED || req->state == REQUEST_SUSPENDED;
}

const char *server_request_id(const struct server_request *req)
{
	return req->request_id;
}

const struct trace *server_trace(const struct server_request *req)
{
	return &req->trace;
}

const char *server_header(const struct server_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

/* What server_header_list() gathers. */
struct header_list {
	const char *name;
	size_t name_len;
	char *dst;
	size_t size, len;
	unsigned count;
	bool overflow;
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static enum MHD_Result header_list_add(void *cls, enum MHD_ValueKind kind, const char *key,
				       size_t key_size, const char *value, size_t value_size)
{
	struct header_list *list = cls;

	if (key_size != list->name_len || strcasecmp(key, list->name) != 0)
		return MHD_YES;
	while (value_size > 0 && is_ows(value[0])) {
		value++;
		value_size--;
	}
	while (value_size > 0 && is_ows(value[value_size - 1]))
		value_size--;
	if (list->count++ > 0) {
		if (list->len + 1 >= list->size) {
			list->overflow = true;
			return MHD_NO;
		}
		list->dst[list->len++] = ',';
	}
	if (list->len + value_size + 1 > list->size) {
		list->overflow = true;
		return MHD_NO;
	}
	memcpy(list->dst + list->len, value, value_size);
	list->len += value_size;
	return MHD_YES;
}

const char *server_header_list(const struct server_request *req, const char *name, char *dst,
			       size_t size, unsigned *count)
{
	struct header_list list = {.name = name, .name_len = strlen(name), .dst = dst, .size = size};

	if (size == 0)
		return NULL;
	MHD_get_connection_values_n(req->connection, MHD_HEADER_KIND, header_list_add, &list);
	*count = list.count;
	if (list.count == 0 || list.overflow)
		return NULL;
	dst[list.len] = '\0';
	return dst;
}

/* A note past the last one a line holds is dropped: ACCESS_LOG_NOTES_MAX
 * covers every role's. */
void server_note_text(struct server_request *req, const char *key, const char *text)
{
	if (req->note_count < ACCESS_LOG_NOTES_MAX)
		req->notes[req->note_count++] = (struct access_log_note){.key = key, .text = text};
}

void server_note_number(struct server_request *req, const char *key, unsigned long long number)
{
	if (req->note_count < ACCESS_LOG_NOTES_MAX)
		req->notes[req->note_count++] = (struct access_log_note){.key = key, .number = number};
}

void server_set_data(struct server_request *req, void *data, void (*free_data)(void *))
{
	req->data = data;
	req->free_data = free_data;
}

void *server_data(const struct server_request *req)
{
	return req->data;
}

void *server_role_state(const struct server_request *req)
{
	return req->server->role_state;
}
