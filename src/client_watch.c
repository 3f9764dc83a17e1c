/* client_watch.c - each client socket as the kernel sees it: a head's first byte and its timeout, the peer's FIN, room to write. */
#include "client_watch.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "list.h"

#define SCAN_MAX_MS 1000  /* how late a first byte may be noticed */

struct client_watch {
	struct list_link link;     /* on the timer's list */
	struct client_watches *timer;
	int fd;
	struct loop_io fin_io;     /* EPOLLRDHUP (and EPOLLOUT while awaited), one-shot;
				    * fd < 0: not watched */
	bool fin_seen;             /* the FIN watch has fired */
	bool peer_fin;             /* the client has half-closed */
	client_watch_writable *writable; /* awaits room to write, or NULL */
	void *writable_arg;
	bool busy;                 /* a head is complete, its answer not done */
	bool was_busy;             /* busy since the last scan */
	uint64_t baseline;         /* bytes received when last idle */
	uint64_t first_byte_ms;    /* when bytes were first seen, 0: none */
};

struct client_watches {
	struct loop *loop;
	struct loop_timer scan;    /* armed while there are watches */
	unsigned timeout_ms;
	unsigned interval_ms;
	client_watch_expired *expired;
	void *arg;
	struct list_link *watches;
};

/* The bytes the kernel has received on fd; false when it cannot tell. */
static bool bytes_received(int fd, uint64_t *bytes)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
		return false;
	*bytes = info.tcpi_bytes_received;
	return true;
}

static void scan(void *arg)
{
	struct client_watches *timer = arg;
	uint64_t now = loop_now_ms();

	for (struct list_link *l = timer->watches; l != NULL; l = l->next) {
		struct client_watch *w = LIST_ITEM(l, struct client_watch, link);
		uint64_t bytes;

		if (w->busy || w->first_byte_ms == UINT64_MAX || !bytes_received(w->fd, &bytes))
			continue;
		if (w->was_busy) {
			/* an answer came since the last scan: what arrived so far
			 * was that request; start over from here */
			w->was_busy = false;
			w->baseline = bytes;
			w->first_byte_ms = 0;
			continue;
		}
		if (w->first_byte_ms == 0) {
			if (bytes > w->baseline)
				w->first_byte_ms = now;
			continue;
		}
		if (now - w->first_byte_ms >= timer->timeout_ms) {
			uint64_t waited_ms = now - w->first_byte_ms;

			w->first_byte_ms = UINT64_MAX; /* once */
			timer->expired(timer->arg, w->fd, waited_ms);
		}
	}
	/* no connection, no scan: an idle loop is not woken for nothing */
	if (timer->watches != NULL)
		loop_timer_arm(timer->loop, &timer->scan, timer->interval_ms);
}

struct client_watches *client_watches_new(struct loop *loop, unsigned timeout_ms,
					  client_watch_expired *expired, void *arg)
{
	struct client_watches *timer = calloc(1, sizeof(*timer));

	if (timer == NULL)
		return NULL;
	timer->loop = loop;
	timer->timeout_ms = timeout_ms;
	/* a tenth of the timeout, within 10 ms .. 1 s */
	timer->interval_ms = timeout_ms / 10 < 10 ? 10 : timeout_ms / 10 > SCAN_MAX_MS
								 ? SCAN_MAX_MS
								 : timeout_ms / 10;
	timer->expired = expired;
	timer->arg = arg;
	loop_timer_init(&timer->scan, scan, timer);
	return timer;
}

void client_watches_free(struct client_watches *timer)
{
	loop_timer_disarm(timer->loop, &timer->scan);
	free(timer);
}

/* Re-arms the one-shot registration for what is still awaited. */
static void watch_arm(struct client_watch *watch)
{
	uint32_t events = (watch->fin_seen ? 0 : EPOLLRDHUP) |
			  (watch->writable != NULL ? EPOLLOUT : 0);

	if (events != 0)
		loop_io_modify(watch->timer->loop, &watch->fin_io, events | EPOLLONESHOT);
}

/*
 * The client's FIN (EPOLLRDHUP, one-shot). libmicrohttpd may take a short
 * read for "nothing more to read" under edge-triggered epoll, so when a
 * request and its client's FIN come together it may never read the end of
 * the stream. While a request is in progress, or one is still unread, its
 * answer must say Connection: close (client_watch_half_closed()); on an idle
 * connection with nothing unread, a shutdown makes libmicrohttpd read the
 * end of the stream and close it. One epoll_ctl per connection, where a
 * recv(MSG_PEEK) per answer did it before. The same registration carries
 * EPOLLOUT while an answer waits for room (client_watch_await_writable()).
 */
static void on_socket(void *arg, uint32_t events)
{
	struct client_watch *watch = arg;
	int unread = 0;

	watch->fin_io.events = 0; /* one-shot: the kernel has disarmed it */
	if (!watch->fin_seen && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
		watch->fin_seen = true;
		if (watch->busy || (ioctl(watch->fd, FIONREAD, &unread) == 0 && unread > 0))
			watch->peer_fin = true;
		else
			shutdown(watch->fd, SHUT_RDWR);
	}
	if (watch->writable != NULL && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
		client_watch_writable *writable = watch->writable;

		watch->writable = NULL;
		writable(watch->writable_arg); /* may await again */
	}
	watch_arm(watch);
}

struct client_watch *client_watch_add(struct client_watches *timer, int fd)
{
	struct client_watch *watch = calloc(1, sizeof(*watch));

	if (watch == NULL)
		return NULL;
	watch->timer = timer;
	watch->fd = fd;
	watch->fin_io.fd = fd;
	watch->fin_io.events = EPOLLRDHUP | EPOLLONESHOT;
	watch->fin_io.handle = on_socket;
	watch->fin_io.arg = watch;
	if (loop_io_add(timer->loop, &watch->fin_io) < 0)
		watch->fin_io.fd = -1; /* client_watch_half_closed() asks the socket */
	list_push(&timer->watches, &watch->link);
	if (!loop_timer_armed(&timer->scan))
		loop_timer_arm(timer->loop, &timer->scan, timer->interval_ms);
	return watch;
}

bool client_watch_half_closed(const struct client_watch *watch)
{
	char byte;

	if (watch == NULL)
		return false;
	if (watch->fin_io.fd >= 0)
		return watch->peer_fin;
	/* the FIN is not watched (epoll_ctl failed): ask the socket */
	return recv(watch->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

bool client_watch_watching(const struct client_watch *watch)
{
	return watch != NULL && watch->fin_io.fd >= 0;
}

int client_watch_await_writable(struct client_watch *watch, client_watch_writable *writable, void *arg)
{
	if (!client_watch_watching(watch))
		return -1;
	watch->writable = writable;
	watch->writable_arg = arg;
	watch_arm(watch);
	return 0;
}

void client_watch_forget(struct client_watches *timer, struct client_watch *watch)
{
	if (watch == NULL)
		return;
	/* libmicrohttpd closes the socket right after: that takes it out of
	 * the epoll set, no epoll_ctl needed */
	if (watch->fin_io.fd >= 0)
		loop_io_forget(timer->loop, &watch->fin_io);
	list_remove(&timer->watches, &watch->link);
	free(watch);
}

void client_watch_busy(struct client_watch *watch, bool busy)
{
	if (watch == NULL)
		return;
	/* an answer is done and the client had half-closed meanwhile: the
	 * answer is all in the kernel's hands, the connection can end */
	if (watch->busy && !busy && watch->peer_fin)
		shutdown(watch->fd, SHUT_RDWR);
	watch->busy = busy;
	watch->was_busy = true;
}
