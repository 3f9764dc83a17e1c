/* serve_a.c - service A: its routes, /health, /echo and /metrics. */
#include "serve_a.h"

#include "buffer.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "server_builtin.h"
#include "service.h"

/* The largest answer: every msg byte escaped as \u00XX, plus the frame. */
#define ECHO_BODY_MAX(msg_max) ((size_t)(msg_max) * 6 + 32)

static void handle_echo(struct server_request *req)
{
	const char *msg;
	size_t len;
	struct buffer body;
	char small[512];

	if (server_msg(req, &msg, &len) < 0)
		return;
	/* most messages are short: their answer is built on the stack */
	if (ECHO_BODY_MAX(len) < sizeof(small))
		buffer_init_fixed(&body, small, sizeof(small));
	else
		buffer_init(&body, ECHO_BODY_MAX(len));
	if (buffer_append_str(&body, "{\"echo\":") < 0 || json_append_string(&body, msg, len) < 0 ||
	    buffer_append(&body, "}\n", 2) < 0)
		server_reply_error(req, 500, "out of memory");
	else
		server_reply(req, 200, body.data, body.len, NULL, 0);
	buffer_finish(&body);
}

static const struct server_route routes[] = {
	{"/health", server_handle_health, false},
	{"/readyz", server_handle_readyz, false},
	{"/echo", handle_echo, true},
	{"/metrics", server_handle_metrics, false},
};


int serve_a_run(const struct config *cfg)
{
	struct service_role role = {
		.server = {
			.config = cfg,
			.routes = routes,
			.route_count = sizeof(routes) / sizeof(routes[0]),
		},
	};

	log_init("A", cfg->log_format);
	return service_run(cfg, &role);
}
