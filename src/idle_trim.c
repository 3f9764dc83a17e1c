/* idle_trim.c - gives freed heap memory back to the system once a loop has been idle a while. */
#include "idle_trim.h"

#include <malloc.h>
#include <stdlib.h>

/* Under AddressSanitizer the heap is the sanitizer's, and glibc's malloc is
 * never initialised: a first malloc_trim() would initialise it, and two
 * loops doing that at once both attach to its main arena, which glibc then
 * finds corrupt when the second of them exits. */
#if defined(__SANITIZE_ADDRESS__)
#define IDLE_TRIM_HEAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IDLE_TRIM_HEAP 0
#endif
#endif
#if !defined(IDLE_TRIM_HEAP) && defined(__GLIBC__)
#define IDLE_TRIM_HEAP 1
#endif
#ifndef IDLE_TRIM_HEAP
#define IDLE_TRIM_HEAP 0
#endif

struct idle_trim {
	struct loop *loop;
	struct loop_timer timer;
	idle_trim_hook *before_trim;
	void *arg;
	uint64_t seen;   /* loop_io_handled() when the timer was armed or fired */
};

static void arm(struct idle_trim *trim)
{
	/* out of memory: tried again after the next I/O */
	loop_timer_arm(trim->loop, &trim->timer, IDLE_TRIM_MS);
	trim->seen = loop_io_handled(trim->loop);
}

/* IDLE_TRIM_MS after arming: the trim when no I/O came or went meanwhile,
 * otherwise another look later (under load, one timer a second). Timers
 * that fire on an idle loop (the head scan) do not count as activity. */
static void on_timer(void *arg)
{
	struct idle_trim *trim = arg;

	if (loop_io_handled(trim->loop) != trim->seen) {
		arm(trim);
		return;
	}
	if (trim->before_trim != NULL)
		trim->before_trim(trim->arg);
#if IDLE_TRIM_HEAP
	malloc_trim(0);
#endif
}

/* Before each sleep: I/O since the last look starts the wait for idleness;
 * a loop that stays idle after its trim is not woken for it again. */
static void before_sleep(void *arg)
{
	struct idle_trim *trim = arg;

	if (!loop_timer_armed(&trim->timer) && loop_io_handled(trim->loop) != trim->seen)
		arm(trim);
}

struct idle_trim *idle_trim_new(struct loop *loop, idle_trim_hook *before_trim, void *arg)
{
	struct idle_trim *trim = calloc(1, sizeof(*trim));

	if (trim == NULL)
		return NULL;
	trim->loop = loop;
	trim->before_trim = before_trim;
	trim->arg = arg;
	trim->seen = loop_io_handled(loop);
	loop_timer_init(&trim->timer, on_timer, trim);
	if (loop_hook_add(loop, before_sleep, trim) < 0) {
		free(trim);
		return NULL;
	}
	return trim;
}

void idle_trim_free(struct idle_trim *trim)
{
	if (trim == NULL)
		return;
	loop_timer_disarm(trim->loop, &trim->timer);
	loop_hook_remove(trim->loop, before_sleep, trim);
	free(trim);
}
