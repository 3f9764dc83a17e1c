/* loop.h - one thread's event loop: epoll, timers, a wake-up fd, before-sleep hooks. */
#ifndef ECHOSVC_LOOP_H
#define ECHOSVC_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Like redis's ae: everything registered on a loop is owned by the thread
 * that runs it, and that thread is the only caller of every function here
 * but loop_wake(). epoll_wait() is called in this module and nowhere else.
 */
struct loop;

typedef void loop_io_handler(void *arg, uint32_t events);
typedef void loop_timer_handler(void *arg);
typedef void loop_hook(void *arg);

/* A file descriptor watched by the loop. The caller owns the struct and
 * keeps it in place while it is registered. */
struct loop_io {
	int fd;
	uint32_t events;          /* EPOLLIN, EPOLLOUT, …: level-triggered */
	loop_io_handler *handle;  /* called with the events that are ready */
	void *arg;
};

/* A one-shot timer. The caller owns the struct; loop_timer_init() once. */
struct loop_timer {
	uint64_t deadline_ms;     /* loop_now_ms() time at which it fires */
	loop_timer_handler *fire;
	void *arg;
	size_t slot;              /* heap position + 1; 0 when not armed */
};

/* Makes a loop (epoll set and wake-up eventfd). NULL with a reason in error. */
struct loop *loop_new(char *error, size_t error_size);

/* Frees the loop. Whatever is still registered is forgotten, not closed. */
void loop_free(struct loop *loop);

/* Milliseconds of CLOCK_MONOTONIC: the clock of every timer. */
uint64_t loop_now_ms(void);

/* The same clock in nanoseconds: latencies. */
uint64_t loop_now_ns(void);

/* Starts watching io->fd for io->events. Returns 0, or -1 with errno. */
int loop_io_add(struct loop *loop, struct loop_io *io);

/* Changes what io waits for; no system call when nothing changes. */
int loop_io_modify(struct loop *loop, struct loop_io *io, uint32_t events);

/* Stops watching io (its fd may already be closed). An event already
 * collected for io in this turn is dropped: io may be freed on return. */
void loop_io_remove(struct loop *loop, struct loop_io *io);

/* Forgets io without a system call: for an fd about to be closed (closing
 * takes it out of the epoll set). An event already collected for io in this
 * turn is dropped. */
void loop_io_forget(struct loop *loop, struct loop_io *io);

void loop_timer_init(struct loop_timer *timer, loop_timer_handler *fire, void *arg);

/* (Re)arms timer to fire delay_ms from now. Returns 0, or -1 (ENOMEM). */
int loop_timer_arm(struct loop *loop, struct loop_timer *timer, uint64_t delay_ms);

/* Whether timer is armed (waiting to fire). */
bool loop_timer_armed(const struct loop_timer *timer);

/* Disarms timer; no effect when it is not armed. */
void loop_timer_disarm(struct loop *loop, struct loop_timer *timer);

/*
 * Adds a hook run before each wait, in the order hooks were added (redis's
 * beforeSleep): work that was made ready during the turn runs there, and
 * buffered output goes out. Returns 0, or -1 when the table is full.
 */
int loop_hook_add(struct loop *loop, loop_hook *hook, void *arg);

/* Removes the hook added with this hook and arg, keeping the others' order;
 * no effect when there is none. Not from inside a hook. */
void loop_hook_remove(struct loop *loop, loop_hook *hook, void *arg);

/* What runs on the loop's thread after loop_wake(). */
void loop_set_wake(struct loop *loop, loop_hook *on_wake, void *arg);

/* Wakes the loop from any thread; wakes that come before the loop gets to
 * them are merged into one call of on_wake. Thread-safe. */
void loop_wake(struct loop *loop);

/* How many I/O events the loop has handled, and work it was told of: whether
 * anything came or went between two looks (timers, which also fire on an
 * idle loop, do not count by themselves). */
uint64_t loop_io_handled(const struct loop *loop);

/* Counts work a timer did as activity (loop_io_handled()): a connection a
 * timeout closed frees memory as surely as one the client closed. The
 * loop's thread only. */
void loop_note_activity(struct loop *loop);

/* Makes loop_run() return once the current callback has returned. */
void loop_stop(struct loop *loop);

/* Runs until loop_stop(). Returns 0, or -1 with errno when epoll fails. */
int loop_run(struct loop *loop);

#endif
