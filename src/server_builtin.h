/* server_builtin.h - the routes every role serves the same way: /health, /readyz, /metrics. */
#ifndef ECHOSVC_SERVER_BUILTIN_H
#define ECHOSVC_SERVER_BUILTIN_H

#include "server.h"

/* GET /health for either role: 200 {"status":"ok"}, never waits on anyone. */
void server_handle_health(struct server_request *req);

/* GET /readyz for either role: 200 {"status":"ready"} until a stop signal,
 * then 503 {"status":"draining"}; about this process alone. */
void server_handle_readyz(struct server_request *req);

/* GET /metrics for either role: the Prometheus text of metrics_render(). */
void server_handle_metrics(struct server_request *req);

#endif
