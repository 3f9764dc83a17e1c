/* server_builtin.c - the routes every role serves the same way: /health, /readyz, /metrics. */
#include "server_builtin.h"

#include <stdatomic.h>

#include "buffer.h"
#include "metrics.h"
#include "server_private.h"

void server_handle_health(struct server_request *req)
{
	static const char body[] = "{\"status\":\"ok\"}\n";

	server_reply(req, 200, body, sizeof(body) - 1, NULL, 0);
}

void server_handle_readyz(struct server_request *req)
{
	static const char ready[] = "{\"status\":\"ready\"}\n";
	static const char draining[] = "{\"status\":\"draining\"}\n";

	const struct server *srv = req->server;

	if (srv->draining || (srv->stopping != NULL && atomic_load(srv->stopping)))
		server_reply(req, 503, draining, sizeof(draining) - 1, "draining", 8);
	else
		server_reply(req, 200, ready, sizeof(ready) - 1, NULL, 0);
}

void server_handle_metrics(struct server_request *req)
{
	struct buffer text;

	buffer_init(&text, 1024 * 1024);
	if (metrics_render(&text) < 0)
		server_reply_error(req, 500, "metrics could not be rendered");
	else
		server_reply_text(req, "text/plain; version=0.0.4; charset=utf-8", text.data,
				  text.len);
	buffer_finish(&text);
}
