/* test_loop.c - the event loop: timers in order, fds, removal within a batch, wake-ups, hooks. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

struct record {
	struct loop *loop;
	char order[16];
	size_t count;
	size_t stop_at;        /* loop_stop() once count reaches it */
};

static void note(struct record *rec, char what)
{
	if (rec->count < sizeof(rec->order) - 1)
		rec->order[rec->count] = what;
	rec->count++;
	if (rec->count == rec->stop_at)
		loop_stop(rec->loop);
}

struct tagged_timer {
	struct loop_timer timer;
	struct record *rec;
	char tag;
};

static void timer_fired(void *arg)
{
	struct tagged_timer *t = arg;

	note(t->rec, t->tag);
}

static struct loop *loop_make(void)
{
	char error[128];
	struct loop *loop = loop_new(error, sizeof(error));

	assert_non_null(loop);
	return loop;
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct record rec = {.loop = loop_make(), .stop_at = 3};
	struct tagged_timer t[4];
	const char tags[] = "abcd";
	/* gaps far wider than a slow (valgrind) arm: only the order counts */
	const uint64_t delays[] = {300, 100, 200, 50};

	for (size_t i = 0; i < 4; i++) {
		t[i].rec = &rec;
		t[i].tag = tags[i];
		loop_timer_init(&t[i].timer, timer_fired, &t[i]);
		assert_int_equal(loop_timer_arm(rec.loop, &t[i].timer, delays[i]), 0);
	}
	assert_true(loop_timer_armed(&t[3].timer));
	loop_timer_disarm(rec.loop, &t[3].timer);         /* never fires */
	loop_timer_disarm(rec.loop, &t[3].timer);         /* twice is harmless */
	assert_false(loop_timer_armed(&t[3].timer));
	assert_int_equal(loop_timer_arm(rec.loop, &t[0].timer, 1), 0); /* moved first */
	assert_int_equal(loop_run(rec.loop), 0);
	assert_int_equal(rec.count, 3);
	assert_memory_equal(rec.order, "abc", 3);
	for (size_t i = 0; i < 3; i++) /* fired: one-shot, no longer armed */
		assert_false(loop_timer_armed(&t[i].timer));
	loop_free(rec.loop);
}

struct pipe_watch {
	struct loop_io io;
	struct record *rec;
	char tag;
	struct pipe_watch *remove;  /* removed by this one's handler */
};

static void pipe_ready(void *arg, uint32_t events)
{
	struct pipe_watch *w = arg;
	char byte;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(w->io.fd, &byte, 1), 1);
	if (w->remove != NULL)
		loop_io_remove(w->rec->loop, &w->remove->io);
	note(w->rec, w->tag);
}

static void stop_soon(void *arg)
{
	struct record *rec = arg;

	loop_stop(rec->loop);
}

/* Two readable pipes reported in one batch: the first handler removes the
 * second, whose event must then be dropped (its memory may be gone). */
static void test_remove_within_a_batch(void **state)
{
	struct record rec = {.loop = loop_make()};
	int p1[2], p2[2];
	struct pipe_watch w1 = {.rec = &rec, .tag = '1'}, w2 = {.rec = &rec, .tag = '2'};
	struct loop_timer stop;

	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	w1.io = (struct loop_io){.fd = p1[0], .events = EPOLLIN, .handle = pipe_ready, .arg = &w1};
	w2.io = (struct loop_io){.fd = p2[0], .events = EPOLLIN, .handle = pipe_ready, .arg = &w2};
	w1.remove = &w2;
	w2.remove = &w1;
	assert_int_equal(loop_io_add(rec.loop, &w1.io), 0);
	assert_int_equal(loop_io_add(rec.loop, &w2.io), 0);
	assert_int_equal(write(p1[1], "x", 1), 1);
	assert_int_equal(write(p2[1], "y", 1), 1);
	loop_timer_init(&stop, stop_soon, &rec);
	assert_int_equal(loop_timer_arm(rec.loop, &stop, 50), 0);
	assert_int_equal(loop_run(rec.loop), 0);
	assert_int_equal(rec.count, 1); /* whichever came first removed the other */
	loop_free(rec.loop);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

static void test_modify_and_remove(void **state)
{
	struct record rec = {.loop = loop_make()};
	int p[2];
	struct pipe_watch w = {.rec = &rec, .tag = 'r'};
	struct loop_timer stop;

	assert_int_equal(pipe(p), 0);
	w.io = (struct loop_io){.fd = p[0], .events = EPOLLIN, .handle = pipe_ready, .arg = &w};
	assert_int_equal(loop_io_add(rec.loop, &w.io), 0);
	assert_int_equal(loop_io_modify(rec.loop, &w.io, EPOLLIN), 0); /* no change */
	assert_int_equal(loop_io_modify(rec.loop, &w.io, 0), 0);       /* nothing wanted */
	assert_int_equal(write(p[1], "x", 1), 1);
	loop_timer_init(&stop, stop_soon, &rec);
	assert_int_equal(loop_timer_arm(rec.loop, &stop, 30), 0);
	assert_int_equal(loop_run(rec.loop), 0);
	assert_int_equal(rec.count, 0);
	rec.stop_at = 1;
	assert_int_equal(loop_io_modify(rec.loop, &w.io, EPOLLIN), 0);
	assert_int_equal(loop_run(rec.loop), 0);
	assert_int_equal(rec.count, 1);
	loop_io_remove(rec.loop, &w.io);
	loop_free(rec.loop);
	close(p[0]);
	close(p[1]);
}

struct waker {
	struct loop *loop;
	pthread_t loop_thread;
	int wakes;
	bool on_loop_thread;
};

static void woken(void *arg)
{
	struct waker *w = arg;

	w->wakes++;
	w->on_loop_thread = pthread_equal(pthread_self(), w->loop_thread);
	loop_stop(w->loop);
}

static void *wake_three_times(void *arg)
{
	struct waker *w = arg;

	for (int i = 0; i < 3; i++)
		loop_wake(w->loop);
	return NULL;
}

/* Wakes from another thread run on_wake on the loop's thread, merged. */
static void test_wake_from_another_thread(void **state)
{
	struct waker w = {.loop = loop_make(), .loop_thread = pthread_self()};
	pthread_t thread;

	loop_set_wake(w.loop, woken, &w);
	assert_int_equal(pthread_create(&thread, NULL, wake_three_times, &w), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(loop_run(w.loop), 0);
	assert_int_equal(w.wakes, 1);
	assert_true(w.on_loop_thread);
	loop_free(w.loop);
}

struct hooked {
	struct record *rec;
	char tag;
	struct loop_timer *arm;   /* armed for now by this hook, once */
};

static void hook_ran(void *arg)
{
	struct hooked *h = arg;

	note(h->rec, h->tag);
	if (h->arm != NULL) {
		assert_int_equal(loop_timer_arm(h->rec->loop, h->arm, 0), 0);
		h->arm = NULL;
	}
}

/* Hooks run in order before each wait; a timer a hook arms for now runs
 * before the loop sleeps, then the hooks again. */
static void test_hooks_run_in_order_before_sleep(void **state)
{
	struct record rec = {.loop = loop_make(), .stop_at = 5};
	struct tagged_timer now = {.rec = &rec, .tag = 't'};
	struct hooked first = {.rec = &rec, .tag = 'h', .arm = &now.timer};
	struct hooked second = {.rec = &rec, .tag = 'f'};

	loop_timer_init(&now.timer, timer_fired, &now);
	assert_int_equal(loop_hook_add(rec.loop, hook_ran, &first), 0);
	assert_int_equal(loop_hook_add(rec.loop, hook_ran, &second), 0);
	assert_int_equal(loop_run(rec.loop), 0);
	assert_memory_equal(rec.order, "hfthf", 5);
	loop_free(rec.loop);
}

/* A removed hook runs no more; the others keep their order. */
static void test_hook_removed(void **state)
{
	struct record rec = {.loop = loop_make(), .stop_at = 5};
	struct tagged_timer now = {.rec = &rec, .tag = 't'};
	struct hooked first = {.rec = &rec, .tag = 'h', .arm = &now.timer};
	struct hooked gone = {.rec = &rec, .tag = 'g'};
	struct hooked last = {.rec = &rec, .tag = 'f'};

	loop_timer_init(&now.timer, timer_fired, &now);
	assert_int_equal(loop_hook_add(rec.loop, hook_ran, &first), 0);
	assert_int_equal(loop_hook_add(rec.loop, hook_ran, &gone), 0);
	assert_int_equal(loop_hook_add(rec.loop, hook_ran, &last), 0);
	loop_hook_remove(rec.loop, hook_ran, &gone);
	loop_hook_remove(rec.loop, hook_ran, &gone); /* a second time: nothing */
	assert_int_equal(loop_run(rec.loop), 0);
	assert_memory_equal(rec.order, "hfthf", 5);
	loop_free(rec.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_remove_within_a_batch),
		cmocka_unit_test(test_modify_and_remove),
		cmocka_unit_test(test_wake_from_another_thread),
		cmocka_unit_test(test_hooks_run_in_order_before_sleep),
		cmocka_unit_test(test_hook_removed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
