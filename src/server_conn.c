/* server_conn.c - one loop's client connections: admitted, watched, timed out and let go. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access_log.h"
#include "address.h"
#include "ip_limit.h"
#include "metrics.h"
#include "request_head.h"
#include "server_private.h"
#include "tls.h"
#include "trace.h"

/* A new connection's state: its client watch and its client's address, which
 * every request's log line names (formatted here once, not per request). */
static struct server_conn *conn_start(struct server *srv, struct MHD_Connection *connection)
{
	struct server_conn *conn = calloc(1, sizeof(*conn));
	const union MHD_ConnectionInfo *info;

	if (conn == NULL)
		return NULL; /* its requests log peer=- and are not timed */
	conn->server = srv;
	/* Each answer of MHD_get_connection_info() is read before the next
	 * call: a library may answer every call in one buffer. */
	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	conn->fd = info != NULL ? info->connect_fd : -1;
	if (conn->fd >= 0)
		conn->watch = client_watch_add(srv->watches, conn->fd);
	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	address_format(info != NULL ? info->client_addr : NULL, conn->peer, sizeof(conn->peer));
	if (info != NULL && info->client_addr != NULL)
		memcpy(&conn->client, info->client_addr,
		       info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								: sizeof(struct sockaddr_in));
	return conn;
}

/* MHD_OPTION_NOTIFY_CONNECTION: counts connections, for keep-alive checks
 * and the process's --max-connections. */
void server_conn_changed(void *cls, struct MHD_Connection *connection, void **socket_context,
			 enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	int delta = code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1;

	srv->active = true;
	if (delta > 0) {
		struct server_conn *conn = conn_start(srv, connection);

		if (conn == NULL) {
			/* not counted for its address: its close could not say which */
			const union MHD_ConnectionInfo *client =
				MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

			ip_limit_give(srv->options->ip_limit, client != NULL ? client->client_addr : NULL);
		}
		atomic_fetch_add_explicit(&srv->stats->connections_accepted, 1, memory_order_relaxed);
		if (srv->options->tls != NULL) {
			/* before its handshake, which the next MHD_run() starts */
			const union MHD_ConnectionInfo *tls = MHD_get_connection_info(
				connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);

			if (tls != NULL) {
				struct tls_hold *hold =
					tls_server_session(srv->options->tls, tls->tls_session);

				/* without a conn the hold is never given back: its
				 * credentials then stay until exit */
				if (conn != NULL) {
					conn->tls = hold;
					conn->tls_session = tls->tls_session;
				}
			}
		}
		*socket_context = conn;
	} else {
		struct server_conn *conn = *socket_context;

		srv->closed = true;
		/* closed by a timeout too (MHD's idle one, ours): what it held is
		 * free, and the loop's idle trim must see it (idle_trim.h) */
		loop_note_activity(srv->loop);

		/* MHD has ended the GnuTLS session before telling (MHD_cleanup_connections) */
		if (conn != NULL) {
			loop_timer_disarm(srv->loop, &conn->unsent_timer);
			client_watch_forget(srv->watches, conn->watch);
			tls_server_release(srv->options->tls, conn->tls);
			ip_limit_give(srv->options->ip_limit, (const struct sockaddr *)&conn->client);
			free(conn);
		}
		*socket_context = NULL;
	}
	atomic_fetch_add_explicit(&srv->stats->connections_open, (unsigned)delta,
				  memory_order_relaxed);
}

/*
 * The accept policy: past --max-connections, or past --max-connections-per-ip
 * from the client's address, a new connection is closed at once, never left
 * waiting in the kernel's queue (which is what MHD's own limit does: it stops
 * accepting). Both limits are the process's. Loops accepting at the same
 * instant may pass --max-connections by one connection each.
 */
enum MHD_Result server_conn_allowed(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct server *srv = cls;
	const struct server_options *options = srv->options;

	srv->active = true;
	if (options->connections_open != NULL &&
	    options->connections_open(options->connections_arg) >= options->max_connections)
		return MHD_NO;
	return ip_limit_take(options->ip_limit, addr) ? MHD_YES : MHD_NO;
}

/* client_watch_expired: a client's head did not arrive in time. Logged and
 * counted like an answer, with no route and no method; it gets its 408 on
 * the raw socket (nothing else is being written to it: its head is not
 * complete), then the socket is shut down, so that libmicrohttpd reads the
 * end of the stream and closes the connection. A TLS connection gets no
 * answer: only its TLS session could carry one, and that is libmicrohttpd's
 * (the handshake's bytes count as the head's). */
void server_conn_head_timed_out(void *arg, int fd, uint64_t waited_ms)
{
	struct server *srv = arg;
	char message[96], peer[ADDRESS_TEXT_MAX], id[REQUEST_HEAD_NEW_ID_LEN + 1];
	char answer[512];
	struct trace trace;
	struct access_log_entry entry = {.endpoint = "-", .endpoint_len = 1, .code = 408,
				    .latency_ms = (unsigned long)waited_ms, .request_id = id,
				    .trace_id = trace.trace_id, .span_id = trace.span_id,
				    .method = "-", .peer = peer};
	int len;

	request_head_new_id(id); /* the answer's and the log line's */
	trace_begin(&trace, NULL);
	address_of_socket(fd, false, peer, sizeof(peer));
	snprintf(message, sizeof(message),
		 "request head not complete within %u ms (--header-timeout-ms)",
		 srv->config->header_timeout_ms);
	entry.error = message;
	entry.error_len = strlen(message);
	metrics_request_observe(0, METRICS_OTHER, 408, waited_ms * 1000000u);
	access_log_write(&entry);
	if (srv->options->tls == NULL) {
		len = snprintf(answer, sizeof(answer),
			       "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
			       "Content-Length: %zu\r\nConnection: close\r\nX-Request-Id: %s\r\n"
			       "\r\n{\"error\":\"%s\"}\n",
			       strlen(message) + sizeof("{\"error\":\"\"}\n") - 1, id, message);
		if (len > 0 && (size_t)len < sizeof(answer))
			send(fd, answer, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	shutdown(fd, SHUT_RDWR);
}
