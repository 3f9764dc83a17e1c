/* client_watch.h - each client socket as the kernel sees it: a head's first byte and its timeout, the peer's FIN, room to write. */
#ifndef ECHOSVC_CLIENT_WATCH_H
#define ECHOSVC_CLIENT_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

/*
 * libmicrohttpd's idle timeout counts only total silence, so a client that
 * sends a byte now and then holds its connection slot forever. This module
 * watches the client connections of one loop: once a connection has
 * received bytes while no request head was complete, the head has
 * --header-timeout-ms to arrive; past that the owner is told (and answers
 * and shuts the socket down). The first byte is seen by a scan of the
 * kernel's byte counts (TCP_INFO) every interval, so the limit holds to
 * within one interval. The scan runs only while there are connections: a
 * loop with none is not woken. It also watches each socket for the peer's
 * FIN and, on request, for room to write.
 */
struct client_watches;
struct client_watch;

/* Called once for each connection whose head did not come in time: fd is
 * the client's socket, still connected (the callee answers and shuts it
 * down; libmicrohttpd then reads the end and closes the connection);
 * waited_ms is from the first byte seen. */
typedef void client_watch_expired(void *arg, int fd, uint64_t waited_ms);

/* Makes the watches of loop (they scan once there are any). NULL with errno
 * when out of memory. */
struct client_watches *client_watches_new(struct loop *loop, unsigned timeout_ms,
					  client_watch_expired *expired, void *arg);

/* Stops and frees; every watch must have been forgotten. */
void client_watches_free(struct client_watches *timer);

/* Starts watching a client connection's socket; NULL when out of memory
 * (the connection is then not timed). */
struct client_watch *client_watch_add(struct client_watches *timer, int fd);

/* The connection has closed: forgets it. watch may be NULL. */
void client_watch_forget(struct client_watches *timer, struct client_watch *watch);

/* A request head is complete (busy) or its answer is done (not busy). */
void client_watch_busy(struct client_watch *watch, bool busy);

/* Whether the client has half-closed (sent its FIN) while a request was
 * in progress or unread: its answer must then say Connection: close.
 * false for a NULL watch (a connection not watched: out of memory). */
bool client_watch_half_closed(const struct client_watch *watch);

/* Whether the socket is in the loop's set (client_watch_await_writable()
 * can wait on it); false for NULL. */
bool client_watch_watching(const struct client_watch *watch);

/* Calls writable(arg) once, when the socket can take bytes again (or has
 * failed: the write then says so); a NULL writable stops a wait. -1 when
 * the socket is not watched. */
typedef void client_watch_writable(void *arg);
int client_watch_await_writable(struct client_watch *watch, client_watch_writable *writable, void *arg);

#endif
