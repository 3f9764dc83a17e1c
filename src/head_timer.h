/* head_timer.h - client sockets as the kernel sees them: the header timeout (408), the peer's FIN, room to write. */
#ifndef ECHOSVC_HEAD_TIMER_H
#define ECHOSVC_HEAD_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

/*
 * libmicrohttpd's idle timeout counts only total silence, so a client that
 * sends a byte now and then holds its connection slot forever. This module
 * watches the client connections of one loop: once a connection has
 * received bytes while no request head was complete, the head has
 * --header-timeout-ms to arrive; past that the client gets a 408 answer and
 * the connection is shut down (libmicrohttpd then closes it). The first
 * byte is seen by a scan of the kernel's byte counts (TCP_INFO) every
 * interval, so the limit holds to within one interval. The scan runs only
 * while there are connections: a loop with none is not woken.
 */
struct head_timer;
struct head_watch;

/* Called for each connection timed out, just before its 408 goes out: the
 * server logs and counts it. fd is the client's socket, still connected;
 * waited_ms is from the first byte seen; id is the X-Request-Id the 408
 * carries. */
typedef void head_timer_expired(void *arg, int fd, uint64_t waited_ms, const char *id);

/* Makes the timer of loop (it scans once there are watches). With tls the
 * connections speak TLS: a timed-out one is closed without an answer (the
 * handshake's bytes count as the head's). NULL with errno when out of
 * memory. */
struct head_timer *head_timer_new(struct loop *loop, unsigned timeout_ms, bool tls,
				  head_timer_expired *expired, void *arg);

/* Stops and frees; every watch must have been forgotten. */
void head_timer_free(struct head_timer *timer);

/* Starts watching a client connection's socket; NULL when out of memory
 * (the connection is then not timed). */
struct head_watch *head_timer_watch(struct head_timer *timer, int fd);

/* The connection has closed: forgets it. watch may be NULL. */
void head_timer_forget(struct head_timer *timer, struct head_watch *watch);

/* A request head is complete (busy) or its answer is done (not busy). */
void head_timer_busy(struct head_watch *watch, bool busy);

/* Whether the client has half-closed (sent its FIN) while a request was
 * in progress or unread: its answer must then say Connection: close.
 * false for a NULL watch (a connection not watched: out of memory). */
bool head_timer_half_closed(const struct head_watch *watch);

/* Whether the socket is in the loop's set (head_timer_await_writable()
 * can wait on it); false for NULL. */
bool head_timer_watching(const struct head_watch *watch);

/* Calls writable(arg) once, when the socket can take bytes again (or has
 * failed: the write then says so); a NULL writable stops a wait. -1 when
 * the socket is not watched. */
typedef void head_timer_writable(void *arg);
int head_timer_await_writable(struct head_watch *watch, head_timer_writable *writable, void *arg);

#endif
