/* serve_b.c - service B: its routes, /health, /call-echo and /metrics. */
#include "serve_b.h"

#include <string.h>

#include "buffer.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "upstream.h"

static struct upstream *upstream; /* set once before the server starts */

static void reply_failure(struct server_request *req, const struct upstream_result *result)
{
	struct buffer body;

	buffer_init(&body, result->error_len * 6 + 128);
	if (buffer_append_str(&body, "{\"error\":") < 0 ||
	    json_append_string(&body, result->error, result->error_len) < 0 ||
	    buffer_append_str(&body, ",\"service_a\":\"unavailable\",\"service_b\":\"ok\"}\n") < 0)
		server_reply_error(req, result->status, result->error);
	else
		server_reply(req, result->status, body.data, body.len, result->error,
			     result->error_len);
	buffer_finish(&body);
}

static void reply_success(struct server_request *req, const struct upstream_result *result)
{
	const char *echo = result->echo->valuestring;
	size_t len = strlen(echo);
	struct buffer body;

	buffer_init(&body, len * 6 + 64);
	if (buffer_append_str(&body, "{\"service_a\":{\"echo\":") < 0 ||
	    json_append_string(&body, echo, len) < 0 ||
	    buffer_append_str(&body, "},\"service_b\":\"ok\"}\n") < 0)
		server_reply_error(req, 500, "out of memory");
	else
		server_reply(req, 200, body.data, body.len, NULL, 0);
	buffer_finish(&body);
}

/* Runs twice per call: once to start it (the connection is then parked, no
 * thread waits), once when upstream resumes the request with the result. */
static void handle_call_echo(struct server_request *req)
{
	const struct upstream_result *result = upstream_call_result(req);
	const char *msg;
	size_t len;

	if (result != NULL) {
		if (result->status == 200)
			reply_success(req, result);
		else
			reply_failure(req, result);
		return;
	}
	if (server_msg(req, &msg, &len) < 0)
		return;
	if (upstream_submit(upstream, req, msg, len) < 0) {
		struct upstream_result overload;
		struct buffer error;

		buffer_init(&error, CONFIG_URL_MAX + len * 3 + 64);
		upstream_overload_result(upstream, msg, len, &error, &overload);
		reply_failure(req, &overload);
		buffer_finish(&error);
	}
}

static const struct server_route routes[] = {
	{"/health", server_handle_health},
	{"/call-echo", handle_call_echo},
	{"/metrics", server_handle_metrics},
};


int serve_b_run(const struct config *cfg)
{
	struct server_options options = {
		.service = "B",
		.config = cfg,
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
	};
	char error[CONFIG_ERROR_MAX];
	int status;

	log_init("B", cfg->log_format);
	upstream = upstream_new(cfg, error, sizeof(error));
	if (upstream == NULL) {
		log_failure(error);
		return 1;
	}
	status = server_run(&options, upstream_abandon, upstream);
	upstream_free(upstream);
	return status;
}
