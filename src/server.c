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

#include "fd_budget.h"
#include "log.h"
#include "mhd_quirks.h"
#include "server_private.h"
#include "tls.h"

/*
 * A connection's memory pool holds its request head and what libmicrohttpd
 * makes of it: an entry (pointers and sizes, 56 bytes on 64-bit) for each
 * header line and for each cookie, a copy of the Cookie header to split it,
 * and the answer's head. Sized so that a head within the contract's budget
 * (request_head.h) always fits with its answer: past the budget echosvc
 * answers 431 itself, never libmicrohttpd by closing with no answer.
 */
#define POOL_ENTRY 64            /* an entry, rounded up */
#define POOL_COOKIE_BYTES 32     /* at most one cookie per this many bytes of Cookie */
#define POOL_LINE_EXTRA 256      /* the request line beside msg: method, path, version, host */
#define POOL_REPLY 1536          /* the answer's head and libmicrohttpd's own bookkeeping */
#define ACCEPT_RETRY_MS 100    /* out of file descriptors with no connection */

static atomic_uint servers_made; /* each loop's fault dice is its own stream */

/* The client's X-Request-Id when it is a valid one, otherwise a new id
 * (also when a NUL in the head may have cut the value short). */
static void request_id_assign(struct server_request *req, bool values_cut)
{
	const char *given = values_cut ? NULL
				       : MHD_lookup_connection_value(req->connection,
								     MHD_HEADER_KIND, "X-Request-Id");

	if (given != NULL && request_head_id_valid(given))
		snprintf(req->request_id, sizeof(req->request_id), "%s", given);
	else
		request_head_new_id(req->request_id);
}

/* The one traceparent field, without optional whitespace, or NULL: W3C
 * Trace Context makes two of them invalid (a new trace starts). A value too
 * long to fit is no valid one either. */
static const char *request_traceparent(const struct server_request *req,
				       char dst[TRACE_PARENT_LEN + 2])
{
	unsigned count = 0;
	const char *value = server_header_list(req, "traceparent", dst, TRACE_PARENT_LEN + 2, &count);

	return count == 1 ? value : NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first sight of a request, with its raw
 * URI. What this returns becomes req_cls. */
static void *uri_started(void *cls, const char *uri, struct MHD_Connection *connection)
{
	struct server *srv = cls;
	const char *query = strchr(uri, '?');
	size_t query_len = query != NULL ? strlen(query + 1) : 0;
	struct server_request *req = calloc(1, sizeof(*req) + query_len + 1);
	const union MHD_ConnectionInfo *context;

	if (req == NULL)
		return NULL; /* the access handler then refuses the request */
	srv->active = true;
	req->server = srv;
	req->connection = connection;
	context = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (context != NULL)
		req->conn = context->socket_context;
	req->start_ns = loop_now_ns();
	req->query_len = query_len;
	req->target_len = strlen(uri);
	/* a raw target holds neither; libmicrohttpd may have let them through */
	req->cr_in_target = strchr(uri, '\r') != NULL;
	req->space_in_target = strchr(uri, ' ') != NULL || strchr(uri, '\t') != NULL;
	if (query != NULL)
		memcpy(req->query, query + 1, query_len);
	atomic_fetch_add_explicit(&srv->stats->requests_active, 1, memory_order_relaxed);
	return req;
}

static struct client_watch *request_watch(const struct server_request *req)
{
	return req->conn != NULL ? req->conn->watch : NULL;
}

static void delayed_remove(struct server *srv, struct server_request *req)
{
	loop_timer_disarm(srv->loop, &req->fault_timer);
	list_remove(&srv->delayed, &req->delayed_link);
}

/* The injected delay is over: the request goes on where it stopped. */
static void delay_over(void *arg)
{
	struct server_request *req = arg;

	delayed_remove(req->server, req);
	server_resume(req);
}

/*
 * Fault injection on a main route, before its handler: decides once per
 * request; a delayed request is parked with a timer on the loop (it holds
 * no thread) and comes back here when the timer fires. Returns whether
 * the handler runs now.
 */
static bool fault_gate(struct server_request *req)
{
	struct server *srv = req->server;

	if (!srv->faults || !req->route->faults)
		return true;
	if (!req->fault_decided) {
		struct fault_decision d = fault_decide(&srv->dice, srv->config);

		req->fault_decided = true;
		req->fault_error = d.error;
		if (d.delay && !srv->abandoned) {
			loop_timer_init(&req->fault_timer, delay_over, req);
			if (loop_timer_arm(srv->loop, &req->fault_timer, srv->config->fault_delay_ms) == 0) {
				req->fault_delay = true;
				list_push(&srv->delayed, &req->delayed_link);
				metrics_fault_observe(METRICS_FAULT_DELAY);
				server_suspend(req);
				return false;
			}
		}
	}
	if (req->fault_error) {
		metrics_fault_observe(METRICS_FAULT_ERROR);
		server_reply_error(req, srv->config->fault_error_code, "injected fault");
		return false;
	}
	return true;
}

/*
 * A request whose head libmicrohttpd answered itself, before the access
 * handler saw it (a head it could not parse or hold, or one its strict
 * parser refuses, mhd_quirks.h): its answer is libmicrohttpd's, and the
 * connection closes after it. Logged and counted like one of ours.
 */
static void head_refused(struct server_request *req)
{
	const union MHD_ConnectionInfo *status =
		MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_HTTP_STATUS);
	unsigned code = status != NULL ? status->http_status : 0;
	const char *reason = code == 431 ? "request header fields too large"
			     : code == 414 ? "request line too long"
			     : code == 505 ? "HTTP version not supported"
					   : "malformed request head";

	if (code < 400)
		return; /* no answer: the client left, or the head timed out (408, logged) */
	request_id_assign(req, true);
	trace_begin(&req->trace, NULL);
	server_account_refused(req, code, reason);
}

/* MHD_OPTION_NOTIFY_COMPLETED: the one place a request's state is freed. */
static void request_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct server *srv = cls;
	struct server_request *req = *req_cls;

	if (req == NULL)
		return;
	if (req->state == REQUEST_HEAD)
		head_refused(req);
	if (loop_timer_armed(&req->fault_timer)) /* closed while delayed: only at the daemon's stop */
		delayed_remove(srv, req);
	if (request_state_parked(req)) /* closed while parked */
		list_remove(&srv->parked, &req->parked_link);
	if (server_tls_flush(req, code == MHD_REQUEST_TERMINATED_COMPLETED_OK, server_resume))
		client_watch_busy(request_watch(req), false);
	if (req->free_data != NULL)
		req->free_data(req->data);
	free(req);
	*req_cls = NULL;
	loop_note_activity(srv->loop); /* also when a timer ended it (a call to A) */
	atomic_fetch_sub_explicit(&srv->stats->requests_active, 1, memory_order_relaxed);
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
	if (req->state == REQUEST_HEAD) {
		char traceparent[TRACE_PARENT_LEN + 2];
		bool values_cut = false;
		unsigned refusal = 400;
		const char *framing =
			req->cr_in_target      ? "a bare CR in the request line"
			: req->space_in_target ? "extra spaces in the request line"
			: !request_head_method_valid(method) ? "a method that is not a token"
					       : request_head_framing_error(connection, method,
									    req->target_len, version,
									    &refusal, &values_cut);

		request_state_open(req);
		req->version = version;
		client_watch_busy(request_watch(req), true); /* the head is in, in time */
		url = request_head_origin_path(url);
		req->path = url;
		req->method = method;
		req->method_kind = strcmp(method, MHD_HTTP_METHOD_GET) == 0    ? SERVER_GET
				   : strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ? SERVER_HEAD
									       : SERVER_OTHER;
		for (size_t i = 0; i < srv->route_count; i++)
			if (strcmp(url, srv->routes[i].path) == 0)
				req->route = &srv->routes[i];
		request_id_assign(req, values_cut);
		trace_begin(&req->trace, values_cut ? NULL : request_traceparent(req, traceparent));
		if (framing != NULL) {
			/* answered before any body is read; MHD then reads no more */
			req->close = true;
			server_reply_error(req, refusal, framing);
			return MHD_YES;
		}
		if (req->method_kind == SERVER_OTHER) {
			/* Answered before any body is read: MHD closes the connection
			 * afterwards, so an unwanted upload is never drained. */
			if (req->route == NULL)
				server_reply_error(req, 404, "not found");
			else
				server_reply_error_allow(req, 405, "method not allowed", "GET, HEAD");
			return MHD_YES;
		}
		/* answered on a later call (MHD_QUIRK_ANSWER_LATER) */
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* a GET with a body: the body is ignored */
		return MHD_YES;
	}
	if (req->state == REQUEST_ANSWERED)
		return MHD_YES;
	req->final_calls++;
	if (request_state_parked(req))
		; /* called again in the turn it parked (see server_suspend()) */
	else if (server_tls_gate(req))
		server_suspend(req); /* until the answer before it is out */
	else if (req->route == NULL)
		server_reply_error(req, 404, "not found");
	else if (fault_gate(req))
		req->route->handle(req);
	request_state_suspend(req);
	return MHD_YES;
}

void server_metrics_init(const struct server_options *options)
{
	const char *names[METRICS_HANDLERS_MAX] = {"other"};
	size_t count = 1;

	/* "other", then the routes, in the order request_account() counts them */
	for (size_t i = 0; i < options->route_count && count < METRICS_HANDLERS_MAX; i++)
		names[count++] = options->routes[i].path;
	metrics_init(names, count,
		     fault_enabled(options->config) ? options->config->fault_error_code : 0);
}

/* Out of descriptors, said once a second for the whole process. */
static void accept_shortage_log(int error)
{
	static _Atomic uint64_t last_ms;
	uint64_t now = loop_now_ms(), last = atomic_load(&last_ms);
	char message[128];

	if ((last != 0 && now - last < 1000) || !atomic_compare_exchange_strong(&last_ms, &last, now))
		return;
	snprintf(message, sizeof(message),
		 "accept: %s; new connections wait until a descriptor is free", strerror(error));
	log_failure(message);
}

/* Out of descriptors with no connection to close: MHD is watched again on
 * a timer. It has no connection whose events could be missed meanwhile. */
static void accept_starve(struct server *srv)
{
	srv->accept_starved = true;
	loop_io_remove(srv->loop, &srv->mhd_io);
	loop_timer_arm(srv->loop, &srv->mhd_timer, ACCEPT_RETRY_MS);
}

/* Runs MHD, then tells the loop when MHD wants to run again. ready: the
 * run is for MHD's epoll fd, which was ready. */
static void daemon_run(struct server *srv, bool ready)
{
	MHD_UNSIGNED_LONG_LONG timeout;
	int shortage;

	srv->resumed = false;
	srv->closed = false;
	srv->active = false;
	MHD_run(srv->daemon);
	if (srv->closed) {
		/* at the descriptor limit MHD watches its listening socket again
		 * only from the start of a later run (mhd_quirks.h) */
		MHD_run(srv->daemon);
	}
	/* ready, and nothing came of it: perhaps an accept() that failed (a
	 * run for a partial head or a handshake's step looks the same) */
	shortage = ready && !srv->active && srv->listen_fd >= 0
			   ? fd_budget_shortage()
			   : 0;
	if (shortage != 0) {
		accept_shortage_log(shortage);
		if (atomic_load(&srv->stats->connections_open) == 0) {
			/* accept() would fail as fast as the loop turns */
			accept_starve(srv);
			return;
		}
	}
	if (MHD_get_timeout(srv->daemon, &timeout) == MHD_YES)
		loop_timer_arm(srv->loop, &srv->mhd_timer, (uint64_t)timeout);
	else
		loop_timer_disarm(srv->loop, &srv->mhd_timer);
}

static void on_daemon_ready(void *arg, uint32_t events)
{
	daemon_run(arg, true);
}

static void on_daemon_timer(void *arg)
{
	struct server *srv = arg;

	if (srv->accept_starved) {
		srv->accept_starved = false;
		if (loop_io_add(srv->loop, &srv->mhd_io) < 0) {
			accept_starve(srv); /* the epoll set is short of memory too */
			return;
		}
		daemon_run(srv, true);
		return;
	}
	daemon_run(srv, false);
}

/* Before the loop sleeps: requests resumed during the turn (a call to A
 * ended) are answered now rather than one wait later. */
static void before_sleep(void *arg)
{
	struct server *srv = arg;

	if (srv->resumed)
		daemon_run(srv, false);
}

struct server *server_new(struct loop *loop, const struct server_options *options,
			  int listen_fd, void *role_state, struct server_stats *stats, char *error,
			  size_t error_size)
{
	const struct config *cfg = options->config;
	struct server *srv = calloc(1, sizeof(*srv));
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	/* Room for a msg at the limit even when every byte is percent-encoded
	 * (the limit is --max-msg-bytes, not the URL length), beside the header
	 * budget and what libmicrohttpd makes of it; not more: it is zeroed after
	 * every request (MHD_QUIRK_POOL_ZEROED) */
	size_t memory = (size_t)cfg->max_msg_bytes * 3 + POOL_LINE_EXTRA + REQUEST_HEAD_BYTES_MAX +
			REQUEST_HEAD_LINES_MAX * POOL_ENTRY + REQUEST_HEAD_BYTES_MAX +
			REQUEST_HEAD_BYTES_MAX / POOL_COOKIE_BYTES * POOL_ENTRY + POOL_REPLY;
	/* --max-connections is the process's, held by server_conn_allowed();
	 * MHD's own limit only backs it up (when reached MHD stops accepting,
	 * and connections would wait in the kernel's queue). */
	unsigned limit = options->max_connections + 64;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem tls_options[4] = {{MHD_OPTION_END, 0, NULL}};
	struct MHD_OptionItem quirk_options[MHD_QUIRKS_OPTIONS_MAX + 1] = {{MHD_OPTION_END, 0, NULL}};

	if (srv == NULL)
		goto out_of_memory;
	srv->loop = loop;
	srv->listen_fd = listen_fd;
	srv->faults = fault_enabled(cfg);
	fault_dice_init(&srv->dice, cfg->fault_seed, atomic_fetch_add(&servers_made, 1));
	srv->config = cfg;
	srv->routes = options->routes;
	srv->route_count = options->route_count;
	srv->role_state = role_state;
	srv->stats = stats;
	srv->options = options;
	srv->stopping = options->stopping;
	loop_timer_init(&srv->mhd_timer, on_daemon_timer, srv);
	srv->watches = client_watches_new(loop, cfg->header_timeout_ms, server_conn_head_timed_out, srv);
	if (srv->watches == NULL)
		goto out_of_memory;
	if (cfg->listen.host[0] != '\0' && strchr(cfg->listen.host, ':') != NULL)
		flags |= MHD_USE_IPv6;
	quirk_options[mhd_quirks_daemon_options(quirk_options)] =
		(struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	if (options->tls != NULL) {
		/* the first files; each connection then gets the current ones
		 * (tls_server_session() in server_conn_changed()) */
		flags |= MHD_USE_TLS;
		tls_options[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
			(void *)tls_server_cert_pem(options->tls)};
		tls_options[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
			(void *)tls_server_key_pem(options->tls)};
		tls_options[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
			(void *)TLS_PRIORITIES};
	}
	srv->daemon = MHD_start_daemon(
		flags, 0, server_conn_allowed, srv, access_handler, srv,
		MHD_OPTION_LISTEN_SOCKET, listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
		MHD_OPTION_URI_LOG_CALLBACK, uri_started, srv,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, server_conn_changed, srv,
		MHD_OPTION_ARRAY, tls_options,
		MHD_OPTION_ARRAY, quirk_options,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(error, error_size, "server: the HTTP server did not start");
		goto fail;
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
			loop_io_remove(loop, &srv->mhd_io); /* before MHD closes that fd */
		goto fail;
	}
	return srv;

out_of_memory:
	snprintf(error, error_size, "server: %s", strerror(errno));
fail:
	if (srv != NULL) {
		if (srv->daemon != NULL)
			MHD_stop_daemon(srv->daemon);
		if (srv->watches != NULL)
			client_watches_free(srv->watches);
		free(srv);
	}
	return NULL;
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

/* A parked request whose connection's held TLS answer waits for room, or NULL. */
static struct server_conn *gated_conn(const struct server *srv)
{
	for (struct list_link *l = srv->parked; l != NULL; l = l->next) {
		struct server_request *req = LIST_ITEM(l, struct server_request, parked_link);

		if (req->conn != NULL && req->conn->gated == req)
			return req->conn;
	}
	return NULL;
}

void server_abandon(struct server *srv)
{
	struct server_conn *conn;

	/* what still waits out a delay is answered now, and nothing more is
	 * delayed: the drain must end within --drain-ms */
	srv->abandoned = true;
	while (srv->delayed != NULL) {
		struct server_request *req =
			LIST_ITEM(srv->delayed, struct server_request, delayed_link);

		delayed_remove(srv, req);
		server_resume(req);
	}
	/* a client that has not read its answers will not read them now: its
	 * connection ends, as at the idle timeout */
	while ((conn = gated_conn(srv)) != NULL)
		server_tls_release(conn);
	/* the role's own parked requests (B's calls) are the role's to answer */
}

void server_free(struct server *srv)
{
	/* libmicrohttpd aborts the process when stopped with a suspended
	 * connection: whatever is still parked goes back to it, to be closed */
	while (srv->parked != NULL)
		server_resume(LIST_ITEM(srv->parked, struct server_request, parked_link));
	loop_timer_disarm(srv->loop, &srv->mhd_timer);
	loop_io_remove(srv->loop, &srv->mhd_io);
	loop_hook_remove(srv->loop, before_sleep, srv);
	/* closes the listening socket too, unless server_quiesce() took it;
	 * and every connection, which forgets its client watch */
	MHD_stop_daemon(srv->daemon);
	client_watches_free(srv->watches);
	free(srv);
}
