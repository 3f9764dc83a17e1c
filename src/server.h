/* server.h - the HTTP server both roles share: listen, route, answer, drain. */
#ifndef ECHOSVC_SERVER_H
#define ECHOSVC_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define SERVER_REQUEST_ID_MAX 128

struct server;
struct server_request;

/*
 * A route's handler runs on an HTTP worker thread once the request is
 * complete, and again after each server_resume(). Before it returns it must
 * either answer (server_reply*) or have suspended the connection
 * (server_suspend). It must not block.
 */
typedef void server_handler(struct server_request *req);

struct server_route {
	const char *path;        /* exact match on the decoded path */
	server_handler *handle;
};

struct server_options {
	const char *service;                /* "A" or "B": logs and metrics */
	const struct config *config;        /* borrowed for the server's life */
	const struct server_route *routes;  /* borrowed; GET and HEAD only */
	size_t route_count;
};

/*
 * Listens on config->listen and starts the worker threads, then logs
 * event=listening with the real address. Returns NULL with a message like
 * "listen 127.0.0.1:8080: Address already in use" in error on failure.
 */
struct server *server_start(const struct server_options *options, char *error,
			    size_t error_size);

/*
 * Graceful stop: stops accepting, waits up to drain_ms for requests in flight,
 * then calls abandon(arg) (may be NULL), which must make every suspended
 * request resume promptly; waits for those answers, stops the daemon and frees
 * the server. Call from one thread, once.
 */
void server_stop(struct server *srv, unsigned drain_ms, void (*abandon)(void *), void *arg);

/*
 * Reads the msg query parameter under the rules of the spec: '+' is a space,
 * %XX a byte, a bare "msg" is empty. On success stores a pointer to the
 * decoded bytes (owned by req, valid until it completes) and returns 0. When
 * msg is missing, too long or holds a NUL, answers 400/414 itself and
 * returns -1.
 */
int server_msg(struct server_request *req, const char **msg, size_t *len);

/*
 * Answers with status and a JSON body (copied). error is the text logged
 * in error="…" (NULL when the answer is a success). Thread: the handler's.
 */
void server_reply(struct server_request *req, unsigned status, const char *body, size_t len,
		  const char *error, size_t error_len);

/* Answers 200 with a body of another type (the metrics text), copied. */
void server_reply_text(struct server_request *req, const char *content_type, const char *body,
		       size_t len);

/* Answers status with {"error":message}; message is also logged. */
void server_reply_error(struct server_request *req, unsigned status, const char *message);

/* Parks the connection: no worker thread waits on it until server_resume(). */
void server_suspend(struct server_request *req);

/* Wakes a suspended request; its handler runs again. Any thread. */
void server_resume(struct server_request *req);

/* The request's id: the client's valid X-Request-Id or a fresh one. */
const char *server_request_id(const struct server_request *req);

/* Whether a client's X-Request-Id is kept: 1-128 of [A-Za-z0-9._:-]. */
bool server_request_id_valid(const char *id);

/* Attaches role state that is freed with free_data(data) when the request
 * completes. The request owns it from here on. */
void server_set_data(struct server_request *req, void *data, void (*free_data)(void *));

/* The role state set by server_set_data(), or NULL. */
void *server_data(const struct server_request *req);


/* GET /health for either role: 200 {"status":"ok"}, never waits on anyone. */
void server_handle_health(struct server_request *req);

/* GET /metrics for either role: the Prometheus text of metrics_render(). */
void server_handle_metrics(struct server_request *req);

/*
 * A role's whole life: starts the server (SIGINT and SIGTERM must already be
 * blocked in every thread), waits for a signal, drains as server_stop() does
 * and logs event=shutdown. A second signal during the drain ends the process
 * at once with status 128+signal. Returns the exit status: 0, or 1 when the
 * server could not start (the reason is logged).
 */
int server_run(const struct server_options *options, void (*abandon)(void *), void *arg);

#endif
