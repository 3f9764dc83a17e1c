/* server_private.h - what server.c (the daemon on its loop) and server_reply.c (one request's answer) share. */
#ifndef ECHOSVC_SERVER_PRIVATE_H
#define ECHOSVC_SERVER_PRIVATE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access_log.h"
#include "address.h"
#include "client_watch.h"
#include "fault.h"
#include "list.h"
#include "loop.h"
#include "metrics.h"
#include "request_head.h"
#include "server.h"
#include "trace.h"

#define IDLE_TIMEOUT_S 30      /* a keep-alive connection idle this long is closed */

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
	const struct config *config;
	const struct server_route *routes;
	size_t route_count;
	void *role_state;
	bool draining;             /* answers say Connection: close */
	bool abandoned;            /* delays are no longer injected */
	bool resumed;              /* a request was resumed this turn */
	bool accept_starved;       /* out of descriptors with no connection: retried on a timer */
	bool closed;               /* a connection closed in this MHD_run() */
	bool active;               /* a callback came in this MHD_run() */
	bool faults;               /* fault injection is configured */
	struct fault_dice dice;
	struct list_link *delayed;  /* requests waiting out an injected delay */
	struct list_link *parked;   /* every request parked (server_suspend()), until resumed */
	struct server_stats *stats;
	const struct server_options *options; /* borrowed */
	_Atomic bool *stopping;        /* the process's, or NULL */
	struct client_watches *watches;    /* each client socket: header timeout, FIN, room */
};

/* How a request parked behind a held TLS answer goes on (server_tls.c). */
typedef void server_tls_resume(struct server_request *req);

/* Per-connection state: MHD's socket_context, made when the connection
 * starts and freed when it closes (server_conn_changed()). */
struct server_conn {
	struct client_watch *watch;           /* NULL when out of memory */
	struct tls_hold *tls;                 /* its TLS credentials; NULL: plain HTTP */
	void *tls_session;                    /* MHD's gnutls_session_t; NULL: plain HTTP */
	int fd;
	bool tcp_pushed;                      /* MHD's TCP_CORK taken off (server_tls.c) */
	bool tls_unsent;                      /* a held answer waits for room */
	struct loop_timer unsent_timer;       /* for IDLE_TIMEOUT_S at most */
	struct server *server;
	struct server_request *gated;         /* the next request, parked meanwhile */
	server_tls_resume *resume_gated;      /* how it goes on (server_tls_flush()) */
	char peer[ADDRESS_TEXT_MAX];          /* the client, formatted once */
	struct sockaddr_storage client;       /* the client's address, counted in ip_limit */
};

/* The methods the server serves (GET, and HEAD as GET without the body);
 * any other is answered 405 or 404 before a body is read. */
enum server_method {
	SERVER_GET,
	SERVER_HEAD,
	SERVER_OTHER,
};

/*
 * Where a request is in its life. The transitions are the request_state_*
 * functions and server_suspend()/server_resume() (server_reply.c), nowhere
 * else:
 *   HEAD      --request_state_open(): the handler gets the head-->  OPEN
 *   OPEN      --server_suspend()-->                                  PARKED
 *   PARKED    --request_state_suspend(): a later handler call-->     SUSPENDED
 *   PARKED, SUSPENDED --server_resume()-->                           OPEN
 *   any       --request_state_answer(): an answer is queued-->       ANSWERED
 * (an answer to a parked request resumes it first).
 */
enum server_request_state {
	REQUEST_HEAD,       /* the URI is in; the handler has not had the head */
	REQUEST_OPEN,       /* the handler had the head; no answer yet */
	REQUEST_PARKED,     /* waits for server_resume(), on the server's parked list */
	REQUEST_SUSPENDED,  /* parked, and MHD_suspend_connection() in force */
	REQUEST_ANSWERED,   /* its answer is queued */
};

/* Per-request state: MHD's req_cls, created in uri_started() and freed in
 * request_completed() only. */
struct server_request {
	struct server *server;
	struct MHD_Connection *connection;
	const struct server_route *route;     /* NULL: not found */
	const char *path;                     /* MHD's decoded path, borrowed */
	size_t target_len;                    /* the raw target's, as the URI log callback saw it */
	const char *method;                   /* as the client sent it, MHD's */
	const char *version;                  /* MHD's, as the handler got it */
	enum server_method method_kind;
	uint64_t start_ns;
	enum server_request_state state;
	bool close;                           /* the answer says Connection: close */
	bool cr_in_target;                    /* a bare CR in the request line */
	bool space_in_target;                 /* whitespace inside the request line's target */
	bool tls_held;                        /* its answer is one TLS record (server_tls.c) */
	bool fault_decided;
	bool fault_delay;                     /* this request was delayed */
	bool fault_error;                     /* and/or answered with an injected error */
	unsigned final_calls;                 /* calls with the whole request in */
	struct server_conn *conn;             /* the connection's, borrowed; may be NULL */
	struct loop_timer fault_timer;        /* the injected delay */
	struct list_link delayed_link;        /* on the server's delayed list */
	struct list_link parked_link;         /* on the server's parked list while parked */
	struct access_log_note notes[ACCESS_LOG_NOTES_MAX]; /* the role's fields */
	size_t note_count;
	void *data;
	void (*free_data)(void *);
	struct trace trace;
	char request_id[REQUEST_HEAD_ID_MAX + 1];
	size_t query_len;
	char query[];                         /* raw query, decoded in place by server_msg */
};

/* Logs and counts an answer libmicrohttpd gave itself (server.c's
 * head_refused()). */
void server_account_refused(struct server_request *req, unsigned status, const char *reason);

/* server_conn.c: the daemon's callbacks for connections. The accept policy:
 * past --max-connections, or past --max-connections-per-ip from the
 * client's address, a new connection is closed at once. */
enum MHD_Result server_conn_allowed(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* MHD_OPTION_NOTIFY_CONNECTION: a connection's state made and freed, counted. */
void server_conn_changed(void *cls, struct MHD_Connection *connection, void **socket_context,
			 enum MHD_ConnectionNotificationCode code);
/* client_watch_expired: the server's 408 for a head that did not come in time. */
void server_conn_head_timed_out(void *arg, int fd, uint64_t waited_ms);

/* The transitions of enum server_request_state not in server.h. */
void request_state_open(struct server_request *req);
void request_state_answer(struct server_request *req);
/* After a handler call: a request parked in a call after its first with
 * the whole request in is suspended in MHD (MHD_QUIRK_SUSPEND_LATER). */
void request_state_suspend(struct server_request *req);
bool request_state_parked(const struct server_request *req);

/* Answers status with {"error":message} and an Allow header. */
void server_reply_error_allow(struct server_request *req, unsigned status, const char *message,
			      const char *allow);

/* server_tls.c: a TLS connection's answer as one record, written when
 * libmicrohttpd is done with it; while one waits for room in the socket,
 * the connection's next request waits too. It calls nothing above it: it
 * answers with verdicts, and resumes a waiting request through the
 * callback it was given. */
/* Holds req's answer while MHD writes it, when its connection is TLS and
 * stays open after it. */
void server_tls_hold(struct server_request *req);
/* req is done: writes its held answer. Returns whether the answer is out
 * of the server's hands; false while it waits for room, and then the
 * request server_tls_gate() parks behind it is given to resume once it is
 * out. keeps_open: MHD keeps the connection for another request. */
bool server_tls_flush(struct server_request *req, bool keeps_open, server_tls_resume *resume);
/* Whether req must wait, parked by the caller, for the answer before it. */
bool server_tls_gate(struct server_request *req);
/* Ends a connection whose held answer waits for room (its client does not
 * read): the parked request behind it is resumed, and MHD closes it. */
void server_tls_release(struct server_conn *conn);

#endif
