/* server.c - one loop's HTTP server: a libmicrohttpd daemon driven by that loop. */
#include "server.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buffer.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "query.h"
#include "head_timer.h"
#include "request_head.h"

#define IDLE_TIMEOUT_S 30      /* a keep-alive connection idle this long is closed */
#define SERVER_HEADER_ROOM (8 * 1024) /* headers beside a maximal request line */

/*
 * The daemon runs in libmicrohttpd's external-event mode: no thread of its
 * own; its epoll fd sits in the loop's set, MHD_run() runs when that fd is
 * ready, after a request was resumed, and when MHD's own timeout (idle
 * connections) comes due. Everything here runs on the loop's thread; the
 * stats are atomics only so that other threads may read them (the drain,
 * /metrics on another loop).
 */
struct server {
	struct MHD_Daemon *daemon;
	struct loop *loop;
	struct loop_io mhd_io;     /* MHD's epoll fd */
	struct loop_timer mhd_timer;
	int listen_fd;             /* -1 once quiesced */
	const char *service;
	const struct config *config;
	const struct server_route *routes;
	size_t route_count;
	void *role_state;
	bool draining;             /* answers say Connection: close */
	bool resumed;              /* a request was resumed this turn */
	struct server_stats *stats;
	const struct server_options *options; /* borrowed */
	_Atomic bool *stopping;        /* the process's, or NULL */
	struct head_timer *head_timer; /* --header-timeout-ms */
};

/* Per-request state: MHD's req_cls, created in uri_started() and freed in
 * request_completed() only. */
struct server_request {
	struct server *server;
	struct MHD_Connection *connection;
	const struct server_route *route;     /* NULL: not found */
	const char *path;                     /* MHD's decoded path, borrowed */
	uint64_t start_ns;
	bool head;
	bool started;                         /* the handler saw the headers */
	bool answered;
	bool parked;                          /* the handler waits for server_resume() */
	bool close;                           /* the answer says Connection: close */
	bool cr_in_target;                    /* a bare CR in the request line */
	struct head_watch *watch;             /* the connection's, borrowed */
	bool suspended;                       /* MHD_suspend_connection() is in force */
	unsigned final_calls;                 /* calls with the whole request in */
	void *data;
	void (*free_data)(void *);
	char request_id[REQUEST_HEAD_ID_MAX + 1];
	size_t query_len;
	char query[];                         /* raw query, decoded in place by server_msg */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void request_id_assign(struct server_request *req)
{
	const char *given = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
							"X-Request-Id");

	if (given != NULL && request_head_id_valid(given))
		snprintf(req->request_id, sizeof(req->request_id), "%s", given);
	else
		request_head_new_id(req->request_id);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first sight of a request, with its raw
 * URI. What this returns becomes req_cls. */
static void *uri_started(void *cls, const char *uri, struct MHD_Connection *connection)
{
	struct server *srv = cls;
	const char *query = strchr(uri, '?');
	size_t query_len = query != NULL ? strlen(query + 1) : 0;
	struct server_request *req = calloc(1, sizeof(*req) + query_len + 1);

	if (req == NULL)
		return NULL; /* the access handler then refuses the request */
	req->server = srv;
	req->connection = connection;
	req->start_ns = now_ns();
	req->query_len = query_len;
	req->cr_in_target = strchr(uri, '\r') != NULL;
	if (query != NULL)
		memcpy(req->query, query + 1, query_len);
	atomic_fetch_add_explicit(&srv->stats->requests_active, 1, memory_order_relaxed);
	return req;
}

/* MHD_OPTION_NOTIFY_COMPLETED: the one place a request's state is freed. */
static void request_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct server *srv = cls;
	struct server_request *req = *req_cls;

	if (req == NULL)
		return;
	head_timer_busy(req->watch, false);
	if (req->free_data != NULL)
		req->free_data(req->data);
	free(req);
	*req_cls = NULL;
	atomic_fetch_sub_explicit(&srv->stats->requests_active, 1, memory_order_relaxed);
}

/* MHD_OPTION_NOTIFY_CONNECTION: counts connections, for keep-alive checks
 * and the process's --max-connections. */
static void connection_changed(void *cls, struct MHD_Connection *connection, void **socket_context,
			       enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	int delta = code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1;

	if (delta > 0) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

		atomic_fetch_add_explicit(&srv->stats->connections_accepted, 1, memory_order_relaxed);
		if (info != NULL)
			*socket_context = head_timer_watch(srv->head_timer, info->connect_fd);
	} else {
		head_timer_forget(srv->head_timer, *socket_context);
		*socket_context = NULL;
	}
	atomic_fetch_add_explicit(&srv->stats->connections_open, (unsigned)delta,
				  memory_order_relaxed);
}

/*
 * The accept policy: past --max-connections a new connection is closed at
 * once, never left waiting in the kernel's queue (which is what MHD's own
 * limit does: it stops accepting). Loops accepting at the same instant may
 * pass the limit by one connection each.
 */
static enum MHD_Result connection_allowed(void *cls, const struct sockaddr *addr,
					  socklen_t addrlen)
{
	struct server *srv = cls;

	const struct server_options *options = srv->options;

	if (options->connections_open == NULL)
		return MHD_YES;
	return options->connections_open(options->connections_arg) < srv->config->max_connections
		       ? MHD_YES
		       : MHD_NO;
}

/*
 * MHD's error log. Only what an operator must see goes on: running out of
 * file descriptors (MHD then stops accepting until a connection closes),
 * at most once a second for the whole process.
 */
static void daemon_log(void *cls, const char *format, va_list args)
	__attribute__((format(printf, 2, 0)));

static void daemon_log(void *cls, const char *format, va_list args)
{
	static _Atomic uint64_t last_ms;
	char message[256];
	uint64_t now = loop_now_ms(), last = atomic_load(&last_ms);
	size_t len;

	vsnprintf(message, sizeof(message), format, args);
	if (strstr(message, "accepting connection") == NULL &&
	    strstr(message, "resource limit") == NULL)
		return;
	if (last != 0 && now - last < 1000)
		return;
	if (!atomic_compare_exchange_strong(&last_ms, &last, now))
		return; /* another loop logged it */
	len = strlen(message);
	while (len > 0 && message[len - 1] == '\n')
		message[--len] = '\0';
	log_failure(message);
}

/*
 * Whether the client has sent its FIN (an HTTP/1.1 half-close after the
 * request). libmicrohttpd 0.9.75 takes a short read for "nothing more to
 * read" under edge-triggered epoll; when the request and the FIN came
 * together it never reads the end of the stream, and would hold the
 * connection open until the idle timeout after answering. An answer with
 * Connection: close makes it close the connection once the answer is sent.
 */
static bool client_half_closed(const struct server_request *req)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	char byte;

	return info != NULL &&
	       recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void reply_content(struct server_request *req, unsigned status, const char *content_type,
			  const char *body, size_t len, const char *error, size_t error_len,
			  const char *allow)
{
	struct server *srv = req->server;
	struct MHD_Response *response;
	uint64_t elapsed = now_ns() - req->start_ns;
	const char *endpoint = req->route != NULL ? req->route->path : req->path;
	struct log_request entry = {
		.endpoint = endpoint,
		.endpoint_len = strlen(endpoint),
		.ok = status < 400,
		.error = error,
		.error_len = error_len,
		.latency_ms = (unsigned long)(elapsed / 1000000u),
		.code = status,
		.request_id = req->request_id,
	};

	req->answered = true;
	response = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return; /* out of memory: MHD closes the connection */
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(response, "X-Request-Id", req->request_id);
	if (allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	if (srv->draining || req->close || client_half_closed(req))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	MHD_queue_response(req->connection, status, response);
	MHD_destroy_response(response);
	metrics_request_observe(req->route != NULL ? (size_t)(req->route - srv->routes) + 1 : 0,
				status, elapsed);
	log_request(&entry);
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

static void reply_error_allow(struct server_request *req, unsigned status, const char *message,
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
	reply_error_allow(req, status, message, NULL);
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
 * libmicrohttpd 0.9.75 does not update a suspended connection's event state,
 * and on resume reads the socket with the state it had while the headers
 * came in: when the client has half-closed after its request (a FIN, which
 * HTTP/1.1 allows), that read finds the end of the stream and MHD closes the
 * connection without the answer. So a request the handler parks during its
 * first call with the whole request in is not suspended yet: MHD keeps it
 * ready, brings its state up to date (nothing more to read) and calls the
 * handler again in the same loop turn; access_handler() suspends it then,
 * unless the answer came first.
 */
void server_suspend(struct server_request *req)
{
	req->parked = true;
}

void server_resume(struct server_request *req)
{
	req->parked = false;
	if (req->suspended) {
		req->suspended = false;
		MHD_resume_connection(req->connection);
	}
	/* MHD takes it back in its next run: make that run this turn */
	req->server->resumed = true;
}

const char *server_request_id(const struct server_request *req)
{
	return req->request_id;
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

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection,
				      const char *url, const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	struct server *srv = cls;
	struct server_request *req = *req_cls;

	if (req == NULL)
		return MHD_NO; /* uri_started() could not allocate: drop the connection */
	if (!req->started) {
		const char *framing = req->cr_in_target ? "a bare CR in the request line"
							: request_head_framing_error(connection, version);

		const union MHD_ConnectionInfo *context =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		req->started = true;
		if (context != NULL) {
			req->watch = context->socket_context;
			head_timer_busy(req->watch, true); /* the head is in, in time */
		}
		url = request_head_origin_path(url);
		req->path = url;
		req->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
		for (size_t i = 0; i < srv->route_count; i++)
			if (strcmp(url, srv->routes[i].path) == 0)
				req->route = &srv->routes[i];
		request_id_assign(req);
		if (framing != NULL) {
			/* answered before any body is read; MHD then reads no more */
			req->close = true;
			server_reply_error(req, 400, framing);
			return MHD_YES;
		}
		if (!req->head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
			/* Answered before any body is read: MHD closes the connection
			 * afterwards, so an unwanted upload is never drained. */
			if (req->route == NULL)
				server_reply_error(req, 404, "not found");
			else
				reply_error_allow(req, 405, "method not allowed", "GET, HEAD");
			return MHD_YES;
		}
		/* Answer on a later call: answering now makes MHD 0.9.75 close
		 * the connection instead of keeping it alive. */
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* a GET with a body: the body is ignored */
		return MHD_YES;
	}
	if (req->answered)
		return MHD_YES;
	req->final_calls++;
	if (req->route == NULL)
		server_reply_error(req, 404, "not found");
	else
		req->route->handle(req);
	/* See server_suspend(): not on the first call with the request in. */
	if (!req->answered && req->parked && !req->suspended && req->final_calls > 1) {
		MHD_suspend_connection(req->connection);
		req->suspended = true;
	}
	return MHD_YES;
}

void server_metrics_init(const struct server_options *options)
{
	const char *names[METRICS_ENDPOINTS_MAX] = {"other"};
	size_t count = 1;

	/* "other", then the routes, in the order reply_content() counts them */
	for (size_t i = 0; i < options->route_count && count < METRICS_ENDPOINTS_MAX; i++)
		names[count++] = options->routes[i].path;
	metrics_init(options->service, names, count);
}

/* head_timer_expired: a client's head did not arrive in time; it has had
 * its 408. Logged and counted like an answer, with no route. */
static void head_timed_out(void *arg, uint64_t waited_ms)
{
	struct server *srv = arg;
	char message[96], id[REQUEST_HEAD_NEW_ID_LEN + 1];
	struct log_request entry = {.endpoint = "-", .endpoint_len = 1, .code = 408,
				    .latency_ms = (unsigned long)waited_ms, .request_id = id};

	request_head_new_id(id);
	snprintf(message, sizeof(message),
		 "request head not complete within %u ms (--header-timeout-ms)",
		 srv->config->header_timeout_ms);
	entry.error = message;
	entry.error_len = strlen(message);
	metrics_request_observe(0, 408, waited_ms * 1000000u);
	log_request(&entry);
}

/* Runs MHD, then tells the loop when MHD wants to run again. */
static void daemon_run(struct server *srv)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	srv->resumed = false;
	MHD_run(srv->daemon);
	if (MHD_get_timeout(srv->daemon, &timeout) == MHD_YES)
		loop_timer_arm(srv->loop, &srv->mhd_timer, (uint64_t)timeout);
	else
		loop_timer_disarm(srv->loop, &srv->mhd_timer);
}

static void on_daemon_ready(void *arg, uint32_t events)
{
	daemon_run(arg);
}

static void on_daemon_timer(void *arg)
{
	daemon_run(arg);
}

/* Before the loop sleeps: requests resumed during the turn (a call to A
 * ended) are answered now rather than one wait later. */
static void before_sleep(void *arg)
{
	struct server *srv = arg;

	if (srv->resumed)
		daemon_run(srv);
}

struct server *server_new(struct loop *loop, const struct server_options *options,
			  int listen_fd, void *role_state, struct server_stats *stats, char *error,
			  size_t error_size)
{
	const struct config *cfg = options->config;
	struct server *srv = calloc(1, sizeof(*srv));
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	/* Room for a msg at the limit even when every byte is percent-encoded
	 * (the limit is --max-msg-bytes, not the URL length), beside 8 KiB of
	 * headers as nginx allows, and 1 KiB for MHD's own bookkeeping (found by
	 * test_header_room_beside_a_maximal_request_line).
	 * Not more: MHD 0.9.75 zeroes the whole pool after every request. */
	size_t memory = (size_t)cfg->max_msg_bytes * 3 + SERVER_HEADER_ROOM + 1024;
	/* --max-connections is the process's, held by connection_allowed();
	 * MHD's own limit only backs it up (when reached MHD stops accepting,
	 * and connections would wait in the kernel's queue). */
	unsigned limit = cfg->max_connections + 64;
	const union MHD_DaemonInfo *info;

	if (srv == NULL) {
		snprintf(error, error_size, "server: %s", strerror(errno));
		return NULL;
	}
	srv->loop = loop;
	srv->listen_fd = listen_fd;
	srv->service = options->service;
	srv->config = cfg;
	srv->routes = options->routes;
	srv->route_count = options->route_count;
	srv->role_state = role_state;
	srv->stats = stats;
	srv->options = options;
	srv->stopping = options->stopping;
	loop_timer_init(&srv->mhd_timer, on_daemon_timer, srv);
	srv->head_timer = head_timer_new(loop, cfg->header_timeout_ms, head_timed_out, srv);
	if (srv->head_timer == NULL) {
		snprintf(error, error_size, "server: %s", strerror(errno));
		free(srv);
		return NULL;
	}
	if (cfg->listen.host[0] != '\0' && strchr(cfg->listen.host, ':') != NULL)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(
		flags, 0, connection_allowed, srv, access_handler, srv,
		MHD_OPTION_EXTERNAL_LOGGER, daemon_log, srv,
		MHD_OPTION_LISTEN_SOCKET, listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
		MHD_OPTION_URI_LOG_CALLBACK, uri_started, srv,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, connection_changed, srv,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(error, error_size, "server: the HTTP server did not start");
		head_timer_free(srv->head_timer);
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	srv->mhd_io.fd = info != NULL ? info->epoll_fd : -1;
	srv->mhd_io.events = EPOLLIN;
	srv->mhd_io.handle = on_daemon_ready;
	srv->mhd_io.arg = srv;
	if (srv->mhd_io.fd < 0 || loop_io_add(loop, &srv->mhd_io) < 0 ||
	    loop_hook_add(loop, before_sleep, srv) < 0) {
		snprintf(error, error_size, "server: watching the HTTP server: %s", strerror(errno));
		if (srv->mhd_io.fd >= 0)
			loop_io_remove(loop, &srv->mhd_io);
		MHD_stop_daemon(srv->daemon);
		head_timer_free(srv->head_timer);
		free(srv);
		return NULL;
	}
	return srv;
}

void server_quiesce(struct server *srv)
{
	srv->draining = true;
	if (srv->listen_fd < 0)
		return;
	/* MHD hands the socket back; closing it makes the kernel refuse new
	 * connections instead of queueing them for no one. */
	if (MHD_quiesce_daemon(srv->daemon) != MHD_INVALID_SOCKET)
		close(srv->listen_fd);
	srv->listen_fd = -1;
}

void server_free(struct server *srv)
{
	loop_timer_disarm(srv->loop, &srv->mhd_timer);
	loop_io_remove(srv->loop, &srv->mhd_io);
	/* closes the listening socket too, unless server_quiesce() took it;
	 * and every connection, which forgets its head watch */
	MHD_stop_daemon(srv->daemon);
	head_timer_free(srv->head_timer);
	free(srv);
}

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
