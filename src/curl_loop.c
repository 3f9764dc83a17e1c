/* curl_loop.c - a curl multi handle driven by an event loop: its sockets and timer in the loop's set. */
#include "curl_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * One of curl's sockets in the loop's epoll set. A socket curl opened
 * through on_open stays there between transfers, as nginx keeps its idle
 * upstream connections: a kept-alive connection then costs no epoll_ctl per
 * transfer. It leaves the set when an event comes while curl wants none (the
 * peer closed an idle connection), and is forgotten when curl closes the
 * socket (on_close) or opens another on its number (on_open). A socket curl
 * opens and closes by itself (its threaded resolver's) is forgotten as soon
 * as curl no longer wants it (CURL_POLL_REMOVE).
 */
struct socket_watch {
	struct loop_io io;                 /* io.events: what is registered, 0 = none */
	struct curl_loop *owner;
	uint32_t wanted;                   /* what curl wants now; 0 between calls */
	bool ours;                         /* opened through on_open: on_close tells its end */
};

struct curl_loop {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;           /* curl's CURLMOPT_TIMERFUNCTION */
	curl_loop_done *done;
	void *arg;
	struct socket_watch **watches;     /* by fd */
	size_t watch_slots;
};

/* Reports the transfers curl has finished. */
static void collect(struct curl_loop *cl)
{
	struct CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(cl->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			cl->done(cl->arg, msg->easy_handle, msg->data.result);
}

static void on_socket_ready(void *arg, uint32_t events)
{
	struct socket_watch *watch = arg;
	struct curl_loop *cl = watch->owner;
	int flags = ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
		    ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
		    ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
	int running;

	if (watch->wanted == 0) {
		/* an idle connection closed by A: curl finds it dead when it
		 * next looks; until then it must not wake the loop */
		loop_io_remove(cl->loop, &watch->io);
		watch->io.events = 0;
		return;
	}
	/* the watch may be freed inside: curl can close the socket */
	curl_multi_socket_action(cl->multi, watch->io.fd, flags, &running);
	collect(cl);
}

static void on_timer_fired(void *arg)
{
	struct curl_loop *cl = arg;
	int running;

	curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(cl);
}

/* The watch of fd, made when create is set and there is none. */
static struct socket_watch *watch_get(struct curl_loop *cl, curl_socket_t fd, bool create)
{
	struct socket_watch *watch;

	if (fd < 0)
		return NULL;
	if ((size_t)fd >= cl->watch_slots) {
		size_t slots = (size_t)fd + 64;
		struct socket_watch **grown;

		if (!create)
			return NULL;
		grown = realloc(cl->watches, slots * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		memset(grown + cl->watch_slots, 0, (slots - cl->watch_slots) * sizeof(*grown));
		cl->watches = grown;
		cl->watch_slots = slots;
	}
	watch = cl->watches[fd];
	if (watch != NULL || !create)
		return watch;
	watch = calloc(1, sizeof(*watch));
	if (watch == NULL)
		return NULL;
	watch->io.fd = fd;
	watch->io.handle = on_socket_ready;
	watch->io.arg = watch;
	watch->owner = cl;
	cl->watches[fd] = watch;
	return watch;
}

static void watch_free(struct curl_loop *cl, struct socket_watch *watch)
{
	if (watch->io.events != 0)
		loop_io_remove(cl->loop, &watch->io);
	cl->watches[watch->io.fd] = NULL;
	free(watch);
}

/* CURLMOPT_SOCKETFUNCTION: mirrors curl's interest in a socket into the
 * loop's epoll set, lazily (see struct socket_watch). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *socket_data)
{
	struct curl_loop *cl = arg;
	struct socket_watch *watch = watch_get(cl, fd, what != CURL_POLL_REMOVE);
	uint32_t events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
			  ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);

	if (watch == NULL)
		return what == CURL_POLL_REMOVE ? 0 : -1;
	if (what == CURL_POLL_REMOVE && !watch->ours) {
		/* a socket curl opens and closes itself (its resolver's): it may
		 * be closed next, with no on_close, and its number reused by any
		 * socket of the process; a watch left on it would look registered */
		watch_free(cl, watch);
		return 0;
	}
	watch->wanted = events;
	if (events == 0)
		return 0; /* stays registered until an event or on_close */
	if (watch->io.events == 0) {
		watch->io.events = events;
		if (loop_io_add(cl->loop, &watch->io) < 0) {
			watch->io.events = 0;
			return -1;
		}
		return 0;
	}
	if (loop_io_modify(cl->loop, &watch->io, events) == 0)
		return 0;
	/* registered no more (its number closed and reused unseen): anew */
	watch->io.events = events;
	if (errno == ENOENT && loop_io_add(cl->loop, &watch->io) == 0)
		return 0;
	watch->io.events = 0;
	return -1;
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: a new socket's number may be that of one curl
 * closed without telling on_close, and a stale watch on it would look
 * registered, so the new socket would never be watched. Any watch left on
 * the number is forgotten here: a new socket starts clean.
 */
static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct curl_loop *cl = arg;
	int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
	struct socket_watch *stale = watch_get(cl, fd, false), *watch;

	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (stale != NULL)
		watch_free(cl, stale);
	watch = watch_get(cl, fd, true);
	if (watch != NULL)
		watch->ours = true; /* out of memory: made on curl's first use, as not ours */
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the socket's watch goes before the socket. */
static int on_close(void *arg, curl_socket_t fd)
{
	struct curl_loop *cl = arg;
	struct socket_watch *watch = watch_get(cl, fd, false);

	if (watch != NULL)
		watch_free(cl, watch);
	return close(fd);
}

/* CURLMOPT_TIMERFUNCTION: when curl wants socket_action(TIMEOUT) called. */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct curl_loop *cl = arg;

	if (timeout_ms < 0) {
		loop_timer_disarm(cl->loop, &cl->timer);
		return 0;
	}
	return loop_timer_arm(cl->loop, &cl->timer, (uint64_t)timeout_ms) < 0 ? -1 : 0;
}

struct curl_loop *curl_loop_new(struct loop *loop, curl_loop_done *done, void *arg)
{
	struct curl_loop *cl = calloc(1, sizeof(*cl));

	if (cl == NULL)
		return NULL;
	cl->loop = loop;
	cl->done = done;
	cl->arg = arg;
	loop_timer_init(&cl->timer, on_timer_fired, cl);
	cl->multi = curl_multi_init();
	if (cl->multi == NULL) {
		free(cl);
		return NULL;
	}
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	return cl;
}

CURLM *curl_loop_multi(struct curl_loop *cl)
{
	return cl->multi;
}

void curl_loop_prepare(struct curl_loop *cl, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, cl);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, cl);
}

void curl_loop_free(struct curl_loop *cl)
{
	curl_multi_cleanup(cl->multi);
	for (size_t fd = 0; fd < cl->watch_slots; fd++)
		if (cl->watches[fd] != NULL)
			watch_free(cl, cl->watches[fd]);
	free(cl->watches);
	loop_timer_disarm(cl->loop, &cl->timer);
	free(cl);
}
