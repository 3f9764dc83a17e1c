/* test_breaker.c - the circuit breaker's states under a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "breaker.h"

static void test_opens_after_threshold(void **state)
{
	struct breaker b;

	breaker_init(&b, 3, 1000);
	for (int i = 0; i < 2; i++) {
		assert_true(breaker_allow(&b, 10));
		breaker_record(&b, false, 10);
		assert_false(breaker_is_open(&b));
	}
	assert_true(breaker_allow(&b, 10));
	breaker_record(&b, false, 10);
	assert_true(breaker_is_open(&b));
	assert_false(breaker_allow(&b, 11));
	assert_false(breaker_allow(&b, 1009));
}

static void test_success_resets_count(void **state)
{
	struct breaker b;

	breaker_init(&b, 3, 1000);
	breaker_record(&b, false, 0);
	breaker_record(&b, false, 0);
	breaker_record(&b, true, 0);
	breaker_record(&b, false, 0);
	breaker_record(&b, false, 0);
	assert_false(breaker_is_open(&b)); /* not consecutive */
}

static void test_half_open_single_trial(void **state)
{
	struct breaker b;

	breaker_init(&b, 1, 1000);
	breaker_record(&b, false, 5000);
	assert_false(breaker_allow(&b, 5999));
	assert_true(breaker_allow(&b, 6000));  /* the trial call */
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_false(breaker_allow(&b, 6000)); /* concurrent callers wait */
	assert_false(breaker_allow(&b, 9000));
}

static void test_trial_success_closes(void **state)
{
	struct breaker b;

	breaker_init(&b, 2, 100);
	breaker_record(&b, false, 0);
	breaker_record(&b, false, 0);
	assert_true(breaker_allow(&b, 100));
	breaker_record(&b, true, 101);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_allow(&b, 102));
	breaker_record(&b, false, 102); /* one failure does not reopen */
	assert_false(breaker_is_open(&b));
}

static void test_trial_failure_reopens_for_full_period(void **state)
{
	struct breaker b;

	breaker_init(&b, 1, 100);
	breaker_record(&b, false, 0);
	assert_true(breaker_allow(&b, 150));
	breaker_record(&b, false, 160);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_false(breaker_allow(&b, 259));
	assert_true(breaker_allow(&b, 260));
}

static void test_cancelled_trial_lets_next_try(void **state)
{
	struct breaker b;

	breaker_init(&b, 1, 100);
	breaker_record(&b, false, 0);
	assert_true(breaker_allow(&b, 100));
	breaker_cancel(&b);
	assert_true(breaker_allow(&b, 101));
}

static void test_late_failure_does_not_extend(void **state)
{
	struct breaker b;

	breaker_init(&b, 1, 100);
	breaker_record(&b, false, 0);
	breaker_record(&b, false, 50); /* a call from before the opening */
	assert_true(breaker_allow(&b, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opens_after_threshold),
		cmocka_unit_test(test_success_resets_count),
		cmocka_unit_test(test_half_open_single_trial),
		cmocka_unit_test(test_trial_success_closes),
		cmocka_unit_test(test_trial_failure_reopens_for_full_period),
		cmocka_unit_test(test_cancelled_trial_lets_next_try),
		cmocka_unit_test(test_late_failure_does_not_extend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
