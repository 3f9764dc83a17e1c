/* serve_b.c - service B: its routes, /health, /call-echo and /metrics. */
#include "serve_b.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "server_builtin.h"
#include "service.h"
#include "trace.h"
#include "upstream.h"

/* One /call-echo: the request owns it (server_set_data) and frees it when
 * it completes; the call to A fills result and resumes the request. */
struct call_echo {
	struct server_request *req;
	bool done;
	struct upstream_result result;
};

static void call_echo_free(void *data)
{
	struct call_echo *ce = data;

	upstream_result_finish(&ce->result);
	free(ce);
}

static void reply_failure(struct server_request *req, const struct upstream_result *result)
{
	const char *error = result->error != NULL ? result->error : "unavailable";
	size_t error_len = result->error != NULL ? result->error_len : strlen(error);
	struct buffer body;

	buffer_init(&body, error_len * 6 + 128);
	if (buffer_append_str(&body, "{\"error\":") < 0 ||
	    json_append_string(&body, error, error_len) < 0 ||
	    buffer_append_str(&body, ",\"service_a\":\"unavailable\",\"service_b\":\"ok\"}\n") < 0)
		server_reply_error(req, result->status, error);
	else
		server_reply(req, result->status, body.data, body.len, error, error_len);
	buffer_finish(&body);
}

static void reply_success(struct server_request *req, const struct upstream_result *result)
{
	struct buffer body;

	buffer_init(&body, result->echo_len * 6 + 64);
	if (buffer_append_str(&body, "{\"service_a\":{\"echo\":") < 0 ||
	    json_append_string(&body, result->echo, result->echo_len) < 0 ||
	    buffer_append_str(&body, "},\"service_b\":\"ok\"}\n") < 0)
		server_reply_error(req, 500, "out of memory");
	else
		server_reply(req, 200, body.data, body.len, NULL, 0);
	buffer_finish(&body);
}

static void reply_result(struct server_request *req, const struct upstream_result *result)
{
	server_note_text(req, "replica", result->replica);
	if (result->attempts > 0)
		server_note_number(req, "attempts", result->attempts);
	if (result->status == 200)
		reply_success(req, result);
	else
		reply_failure(req, result);
}

/* upstream_done: on the request's loop thread, the call has ended. */
static void call_echo_done(void *ctx, struct upstream_result *result)
{
	struct call_echo *ce = ctx;

	ce->result = *result; /* the texts are ours now */
	ce->done = true;
	server_resume(ce->req);
}

/* Runs twice per call: once to start it (the request is then parked and
 * the loop serves others), once when the call has ended. */
static void handle_call_echo(struct server_request *req)
{
	struct call_echo *ce = server_data(req);
	const struct trace *trace = server_trace(req);
	char traceparent[TRACE_PARENT_LEN + 1], tracestate[TRACE_STATE_MAX + 1];
	unsigned fields;
	struct upstream_request request = {
		.request_id = server_request_id(req),
		.traceparent = traceparent,
		.tracestate = trace_state_forward(
			trace, server_header_list(req, "tracestate", tracestate, sizeof(tracestate),
						  &fields)),
	};
	struct upstream_result refused;

	if (ce != NULL) {
		if (ce->done)
			reply_result(req, &ce->result);
		return;
	}
	if (server_msg(req, &request.msg, &request.len) < 0)
		return;
	/* A's parent is B's span */
	trace_format_parent(trace, traceparent);
	ce = calloc(1, sizeof(*ce));
	if (ce == NULL) {
		server_reply_error(req, 503, "out of memory");
		return;
	}
	ce->req = req;
	server_set_data(req, ce, call_echo_free);
	if (upstream_call(server_role_state(req), &request, call_echo_done, ce, &refused) < 0) {
		reply_result(req, &refused);
		upstream_result_finish(&refused);
		return;
	}
	/* on_done never runs before upstream_call() returns: suspending now
	 * is in time for the resume */
	server_suspend(req);
}

static const struct server_route routes[] = {
	{"/health", server_handle_health, false},
	{"/readyz", server_handle_readyz, false},
	{"/call-echo", handle_call_echo, true},
	{"/metrics", server_handle_metrics, false},
};

static void *lane_start(struct loop *loop, void *arg, char *error, size_t error_size)
{
	return upstream_lane_new(arg, loop, error, error_size);
}

static void lane_abandon(void *state)
{
	upstream_abandon(state);
}

static void lane_idle(void *state)
{
	upstream_lane_idle(state);
}

static void lane_finish(void *state)
{
	upstream_lane_free(state);
}

int serve_b_run(const struct config *cfg)
{
	struct service_role role = {
		.server = {
			.config = cfg,
			.routes = routes,
			.route_count = sizeof(routes) / sizeof(routes[0]),
		},
		.loop_start = lane_start,
		.loop_abandon = lane_abandon,
		.loop_idle = lane_idle,
		.loop_finish = lane_finish,
	};
	char error[CONFIG_ERROR_MAX];
	struct upstream *upstream;
	int status;

	log_init("B", cfg->log_format);
	upstream = upstream_new(cfg, error, sizeof(error));
	if (upstream == NULL) {
		log_failure(error);
		return 1;
	}
	role.arg = upstream;
	status = service_run(cfg, &role);
	upstream_free(upstream);
	return status;
}
