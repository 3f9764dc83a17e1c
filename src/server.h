/* server.h - one loop's HTTP server: a libmicrohttpd daemon driven by that loop. */
#ifndef ECHOSVC_SERVER_H
#define ECHOSVC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "trace.h"


struct server;
struct server_request;
struct tls_server;
struct ip_limit;

/* A server's counters, kept by the caller so that they outlive the server
 * (another thread may read them for /metrics while this one stops). */
struct server_stats {
	_Atomic unsigned requests_active;      /* received, not yet completed */
	_Atomic unsigned connections_open;
	_Atomic uint64_t connections_accepted;
};

/*
 * A route's handler runs on the server's loop thread once the request is
 * complete, and again after each server_resume(). Before it returns it must
 * either answer (server_reply*) or have suspended the request
 * (server_suspend). It must not block.
 */
typedef void server_handler(struct server_request *req);

struct server_route {
	const char *path;        /* exact match on the decoded path */
	server_handler *handle;
	bool faults;             /* the main route: faults are injected here */
};

struct server_options {
	const struct config *config;        /* borrowed for the server's life */
	const struct server_route *routes;  /* borrowed; GET and HEAD only */
	size_t route_count;
	/* The process's open client connections (summed over every server's
	 * stats), held against --max-connections; NULL: no limit of ours.
	 * Called from any loop. */
	unsigned (*connections_open)(void *arg);
	void *connections_arg;
	/* --max-connections as it fits the descriptor limit (fd_budget.h) */
	unsigned max_connections;
	/* Set once a stop signal has arrived: /readyz answers 503 from then
	 * on, on every loop at once. NULL: always ready. */
	_Atomic bool *stopping;
	/* The TLS files (NULL: plain HTTP), borrowed for the servers' life. */
	struct tls_server *tls;
	/* The process's connections per client address (--max-connections-per-ip),
	 * shared by every server; borrowed; NULL: no such limit. */
	struct ip_limit *ip_limit;
};

/* Registers the routes as the metrics' endpoint labels. Once per process,
 * before any server exists. */
void server_metrics_init(const struct server_options *options);

/*
 * Starts a daemon on loop, serving the listening socket listen_fd (taken
 * over on success; the caller still owns it on failure). role_state is what
 * server_role_state() gives handlers of this server; stats (zeroed, borrowed
 * for the server's life) receive its counts. Loop thread only from here on.
 * Returns NULL with a reason in error on failure.
 */
struct server *server_new(struct loop *loop, const struct server_options *options,
			  int listen_fd, void *role_state, struct server_stats *stats, char *error,
			  size_t error_size);

/* Stops accepting: the listening socket is closed, so a new connection is
 * refused at once, and every later answer says Connection: close. */
void server_quiesce(struct server *srv);

/* The drain's last step: requests waiting out an injected delay are
 * answered now, and no later one is delayed. */
void server_abandon(struct server *srv);

/* Stops the daemon (open connections are closed) and frees the server.
 * Every suspended request must have been resumed. */
void server_free(struct server *srv);

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
 * in error="…" (NULL when the answer is a success).
 */
void server_reply(struct server_request *req, unsigned status, const char *body, size_t len,
		  const char *error, size_t error_len);

/* Answers 200 with a body of another type (the metrics text), copied. */
void server_reply_text(struct server_request *req, const char *content_type, const char *body,
		       size_t len);

/* Answers status with {"error":message}; message is also logged. */
void server_reply_error(struct server_request *req, unsigned status, const char *message);

/* Parks the request: the loop serves others until server_resume(). */
void server_suspend(struct server_request *req);

/* Wakes a suspended request; its handler runs again in this loop turn.
 * The server's loop thread only. */
void server_resume(struct server_request *req);

/* The request's id: the client's valid X-Request-Id or a fresh one. */
const char *server_request_id(const struct server_request *req);

/* The request's place in a W3C trace (its own span). */
const struct trace *server_trace(const struct server_request *req);

/* A request header's value (the first of that name), or NULL. Borrowed
 * until the request completes. */
const char *server_header(const struct server_request *req, const char *name);

/*
 * Every field named name, as one list (RFC 9110 5.3): the values in order,
 * each without optional whitespace around it, joined by commas, written to
 * dst. Returns dst; NULL when there is none or the list does not fit size
 * (what does not fit is not passed on cut short). *count is the number of
 * fields.
 */
const char *server_header_list(const struct server_request *req, const char *name, char *dst,
			       size_t size, unsigned *count);

/* Fields a role adds to the request's access line, after the server's own,
 * in the order noted (B: the replica that answered, the attempts made). key
 * is a literal; text is borrowed until the request completes, and a NULL or
 * empty one is left out. */
void server_note_text(struct server_request *req, const char *key, const char *text);
void server_note_number(struct server_request *req, const char *key, unsigned long long number);

/* Attaches role state that is freed with free_data(data) when the request
 * completes. The request owns it from here on. */
void server_set_data(struct server_request *req, void *data, void (*free_data)(void *));

/* The role state set by server_set_data(), or NULL. */
void *server_data(const struct server_request *req);

/* The role_state given to server_new() for the loop serving req. */
void *server_role_state(const struct server_request *req);

#endif
