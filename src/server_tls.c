/* server_tls.c - a TLS connection's answer as one record, and the backpressure while one waits for room. */
#include <microhttpd.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "mhd_quirks.h"
#include "server_private.h"
#include "tls.h"

/*
 * libmicrohttpd may write an answer's head and its body as two TLS records
 * (see tls_session_hold()). Here the answer is held while MHD
 * writes it and flushed as one record when MHD reports the request done
 * (request_completed()). MHD then believes the answer is out: should the
 * socket be full, what waits is flushed when it has room again, and until
 * then the connection's next request is parked, so that a client that
 * sends without reading is held back as MHD itself would hold it, and what
 * waits stays one answer. Answers that end their connection are not held:
 * MHD closes right after, which would drop what could not be written.
 */

/* The client expects the connection to stay open after this answer (as
 * libmicrohttpd decides: HTTP/1.1 without a close token). A Connection
 * header that merely contains "close" counts as one, which only costs
 * the hold. */
static bool client_keeps_open(const struct server_request *req)
{
	const char *connection =
		MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, "Connection");

	return strcmp(req->version, MHD_HTTP_VERSION_1_1) == 0 &&
	       (connection == NULL || strcasestr(connection, "close") == NULL);
}

void server_tls_hold(struct server_request *req)
{
	struct server_conn *conn = req->conn;

	if (conn == NULL || conn->tls_session == NULL || !client_watch_watching(conn->watch) ||
	    !client_keeps_open(req))
		return;
	tls_session_hold(conn->tls_session);
	req->tls_held = true;
}

/*
 * Writes what is held, and takes off the cork libmicrohttpd may have left on
 * the socket for it (mhd_quirks_tls_uncork()); once per connection, as the
 * library does not cork it again. Returns 1, 0 or -1 as tls_session_flush().
 */
static int conn_flush(struct server_conn *conn)
{
	int rc = tls_session_flush(conn->tls_session);

	if (rc != 0 && !conn->tcp_pushed) {
		mhd_quirks_tls_uncork(conn->fd);
		conn->tcp_pushed = true;
	}
	return rc;
}

/* Nothing waits any more: the request parked behind the answer goes on. */
static void conn_unsent_done(struct server_conn *conn)
{
	struct server_request *next = conn->gated;

	loop_timer_disarm(conn->server->loop, &conn->unsent_timer);
	conn->tls_unsent = false;
	conn->gated = NULL;
	if (next != NULL)
		conn->resume_gated(next); /* its head made the watch busy already */
	else
		client_watch_busy(conn->watch, false);
}

/* client_watch_writable: the socket has room again (or has failed). */
static void conn_writable(void *arg)
{
	struct server_conn *conn = arg;

	if (conn_flush(conn) == 0 && client_watch_await_writable(conn->watch, conn_writable, conn) == 0)
		return;
	/* out, or the session failed (MHD finds that out on its next read) */
	conn_unsent_done(conn);
}

/*
 * A client that has read nothing for IDLE_TIMEOUT_S: the connection ends,
 * as libmicrohttpd ends one whose answer cannot be written for as long
 * (its own timeout does not run while the next request is parked). The
 * shutdown makes the flush fail; the parked request then goes back to MHD,
 * which finds the connection broken and closes it.
 */
static void conn_unsent_expired(void *arg)
{
	server_tls_release(arg);
}

void server_tls_release(struct server_conn *conn)
{
	client_watch_await_writable(conn->watch, NULL, NULL);
	shutdown(conn->fd, SHUT_RDWR);
	conn_flush(conn); /* fails now; what it held is dropped with the session */
	conn_unsent_done(conn);
}

/* While the answer waits, the connection stays busy for the header timer
 * (its answer is not done); a connection ending now has nothing to wait for. */
bool server_tls_flush(struct server_request *req, bool keeps_open, server_tls_resume *resume)
{
	struct server_conn *conn = req->conn;

	if (conn == NULL)
		return true;
	if (conn->gated == req)
		conn->gated = NULL; /* closed while parked */
	if (conn->tls_unsent) {
		/* an answer of a closing connection (see server_tls_gate()) */
		conn_flush(conn);
		return true;
	}
	if (!req->tls_held)
		return true;
	if (conn_flush(conn) != 0 || !keeps_open ||
	    client_watch_await_writable(conn->watch, conn_writable, conn) < 0)
		return true;
	conn->tls_unsent = true;
	conn->resume_gated = resume;
	loop_timer_init(&conn->unsent_timer, conn_unsent_expired, conn);
	loop_timer_arm(conn->server->loop, &conn->unsent_timer, IDLE_TIMEOUT_S * 1000u);
	return false;
}

/*
 * Before a request is handled: while an answer waits for room, the request
 * waits too, parked like a B call. Requests answered as soon as their head
 * is in (a refused head, a method other than GET or HEAD) are not held
 * back: their connection closes after the answer, and what waits goes out
 * as far as it can.
 */
bool server_tls_gate(struct server_request *req)
{
	struct server_conn *conn = req->conn;

	if (conn == NULL || !conn->tls_unsent)
		return false;
	conn->gated = req;
	return true;
}
