/* loop.c - one thread's event loop: epoll, timers, a wake-up fd, before-sleep hooks. */
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_MAX 64
#define HOOKS_MAX 8
/* A hook that keeps arming timers due at once must not starve the sockets:
 * after this many turns without a wait, the loop polls them anyway. */
#define BUSY_TURNS_MAX 16

struct loop {
	int epoll_fd;
	struct loop_io wake_io;       /* eventfd */
	loop_hook *on_wake;
	void *wake_arg;
	bool stopping;
	struct loop_timer **heap;     /* min-heap on deadline_ms */
	size_t timer_count;
	size_t heap_size;
	struct {
		loop_hook *run;
		void *arg;
	} hooks[HOOKS_MAX];
	size_t hook_count;
	struct epoll_event events[EVENTS_MAX]; /* the batch being handled */
	int event_next;
	int event_count;
	uint64_t io_handled;          /* events handled, ever */
};

uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(void)
{
	return loop_now_ns() / 1000000u;
}

static void wake_read(void *arg, uint32_t events)
{
	struct loop *loop = arg;
	uint64_t count;

	while (read(loop->wake_io.fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	if (loop->on_wake != NULL)
		loop->on_wake(loop->wake_arg);
}

struct loop *loop_new(char *error, size_t error_size)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL) {
		snprintf(error, error_size, "event loop: %s", strerror(errno));
		return NULL;
	}
	loop->wake_io.fd = -1;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0)
		goto fail;
	loop->wake_io.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_io.fd < 0)
		goto fail;
	loop->wake_io.events = EPOLLIN;
	loop->wake_io.handle = wake_read;
	loop->wake_io.arg = loop;
	if (loop_io_add(loop, &loop->wake_io) < 0)
		goto fail;
	return loop;
fail:
	snprintf(error, error_size, "event loop: %s", strerror(errno));
	loop_free(loop);
	return NULL;
}

void loop_free(struct loop *loop)
{
	if (loop == NULL)
		return;
	if (loop->wake_io.fd >= 0)
		close(loop->wake_io.fd);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	free(loop->heap);
	free(loop);
}

int loop_io_add(struct loop *loop, struct loop_io *io)
{
	struct epoll_event event = {.events = io->events, .data.ptr = io};

	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, io->fd, &event);
}

int loop_io_modify(struct loop *loop, struct loop_io *io, uint32_t events)
{
	struct epoll_event event = {.events = events, .data.ptr = io};

	if (events == io->events)
		return 0;
	io->events = events;
	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, io->fd, &event);
}

void loop_io_forget(struct loop *loop, struct loop_io *io)
{
	for (int i = loop->event_next; i < loop->event_count; i++)
		if (loop->events[i].data.ptr == io)
			loop->events[i].data.ptr = NULL;
}

void loop_io_remove(struct loop *loop, struct loop_io *io)
{
	/* ENOENT or EBADF when the fd is closed already: nothing to undo */
	epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, io->fd, NULL);
	loop_io_forget(loop, io);
}

void loop_timer_init(struct loop_timer *timer, loop_timer_handler *fire, void *arg)
{
	timer->deadline_ms = 0;
	timer->fire = fire;
	timer->arg = arg;
	timer->slot = 0;
}

static void heap_set(struct loop *loop, size_t index, struct loop_timer *timer)
{
	loop->heap[index] = timer;
	timer->slot = index + 1;
}

static void heap_up(struct loop *loop, size_t index)
{
	struct loop_timer *timer = loop->heap[index];

	while (index > 0) {
		size_t parent = (index - 1) / 2;

		if (loop->heap[parent]->deadline_ms <= timer->deadline_ms)
			break;
		heap_set(loop, index, loop->heap[parent]);
		index = parent;
	}
	heap_set(loop, index, timer);
}

static void heap_down(struct loop *loop, size_t index)
{
	struct loop_timer *timer = loop->heap[index];

	for (;;) {
		size_t child = 2 * index + 1;

		if (child >= loop->timer_count)
			break;
		if (child + 1 < loop->timer_count &&
		    loop->heap[child + 1]->deadline_ms < loop->heap[child]->deadline_ms)
			child++;
		if (loop->heap[child]->deadline_ms >= timer->deadline_ms)
			break;
		heap_set(loop, index, loop->heap[child]);
		index = child;
	}
	heap_set(loop, index, timer);
}

bool loop_timer_armed(const struct loop_timer *timer)
{
	return timer->slot != 0;
}

void loop_timer_disarm(struct loop *loop, struct loop_timer *timer)
{
	size_t index;
	struct loop_timer *last;

	if (timer->slot == 0)
		return;
	index = timer->slot - 1;
	timer->slot = 0;
	last = loop->heap[--loop->timer_count];
	if (index == loop->timer_count)
		return;
	heap_set(loop, index, last);
	heap_up(loop, index);
	heap_down(loop, last->slot - 1);
}

int loop_timer_arm(struct loop *loop, struct loop_timer *timer, uint64_t delay_ms)
{
	loop_timer_disarm(loop, timer);
	if (loop->timer_count == loop->heap_size) {
		size_t size = loop->heap_size ? loop->heap_size * 2 : 16;
		struct loop_timer **heap = realloc(loop->heap, size * sizeof(*heap));

		if (heap == NULL) {
			errno = ENOMEM;
			return -1;
		}
		loop->heap = heap;
		loop->heap_size = size;
	}
	timer->deadline_ms = loop_now_ms() + delay_ms;
	heap_set(loop, loop->timer_count++, timer);
	heap_up(loop, loop->timer_count - 1);
	return 0;
}

int loop_hook_add(struct loop *loop, loop_hook *hook, void *arg)
{
	if (loop->hook_count == HOOKS_MAX)
		return -1;
	loop->hooks[loop->hook_count].run = hook;
	loop->hooks[loop->hook_count].arg = arg;
	loop->hook_count++;
	return 0;
}

void loop_hook_remove(struct loop *loop, loop_hook *hook, void *arg)
{
	for (size_t i = 0; i < loop->hook_count; i++) {
		if (loop->hooks[i].run != hook || loop->hooks[i].arg != arg)
			continue;
		memmove(&loop->hooks[i], &loop->hooks[i + 1],
			(loop->hook_count - i - 1) * sizeof(loop->hooks[0]));
		loop->hook_count--;
		return;
	}
}

void loop_set_wake(struct loop *loop, loop_hook *on_wake, void *arg)
{
	loop->on_wake = on_wake;
	loop->wake_arg = arg;
}

void loop_wake(struct loop *loop)
{
	uint64_t one = 1;

	while (write(loop->wake_io.fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void loop_stop(struct loop *loop)
{
	loop->stopping = true;
}

/* Fires every timer that is due; a timer armed by a callback for "now"
 * waits for the next turn, so that a re-arming timer cannot spin here. */
static void timers_run(struct loop *loop)
{
	uint64_t now = loop_now_ms();
	size_t budget = loop->timer_count;

	while (budget-- > 0 && loop->timer_count > 0 && loop->heap[0]->deadline_ms <= now) {
		struct loop_timer *timer = loop->heap[0];

		loop_timer_disarm(loop, timer);
		timer->fire(timer->arg);
		if (loop->stopping)
			return;
	}
}

/* How long the wait may last: until the next timer, or forever. */
static int wait_ms(const struct loop *loop)
{
	uint64_t now, deadline;

	if (loop->timer_count == 0)
		return -1;
	now = loop_now_ms();
	deadline = loop->heap[0]->deadline_ms;
	if (deadline <= now)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

uint64_t loop_io_handled(const struct loop *loop)
{
	return loop->io_handled;
}

void loop_note_activity(struct loop *loop)
{
	loop->io_handled++;
}

int loop_run(struct loop *loop)
{
	unsigned busy_turns = 0;

	loop->stopping = false;
	while (!loop->stopping) {
		int timeout;

		timers_run(loop);
		for (size_t i = 0; i < loop->hook_count && !loop->stopping; i++)
			loop->hooks[i].run(loop->hooks[i].arg);
		if (loop->stopping)
			break;
		timeout = wait_ms(loop);
		/* Work a hook made due now (curl's zero timer, a resumed
		 * request) runs without a system call in between. */
		if (timeout == 0 && ++busy_turns < BUSY_TURNS_MAX)
			continue;
		busy_turns = 0;
		loop->event_count = epoll_wait(loop->epoll_fd, loop->events, EVENTS_MAX, timeout);
		if (loop->event_count < 0) {
			loop->event_count = 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (loop->event_next = 0; loop->event_next < loop->event_count;) {
			struct epoll_event *event = &loop->events[loop->event_next++];
			struct loop_io *io = event->data.ptr;

			if (io != NULL) {
				loop->io_handled++;
				io->handle(io->arg, event->events);
			}
			if (loop->stopping)
				break;
		}
		loop->event_next = loop->event_count = 0;
	}
	return 0;
}
