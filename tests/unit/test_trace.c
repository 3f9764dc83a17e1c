/* test_trace.c - W3C traceparent parsing, new spans, and what tracestate is passed on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"

#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"

static bool lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void test_valid_parent_is_continued(void **state)
{
	struct trace t;
	char next[TRACE_PARENT_LEN + 1];

	assert_true(trace_begin(&t, "00-" TRACE_ID "-" PARENT "-01"));
	assert_string_equal(t.trace_id, TRACE_ID);
	assert_string_equal(t.parent_id, PARENT);
	assert_string_equal(t.flags, "01");
	assert_true(lower_hex(t.span_id, 16));
	assert_string_not_equal(t.span_id, PARENT);
	trace_format_parent(&t, next);
	assert_int_equal(strlen(next), TRACE_PARENT_LEN);
	assert_memory_equal(next, "00-" TRACE_ID "-", 36);
	assert_memory_equal(next + 36, t.span_id, 16);
	assert_string_equal(next + 52, "-01");
	/* flags are kept as they came: not sampled stays not sampled */
	assert_true(trace_begin(&t, "00-" TRACE_ID "-" PARENT "-00"));
	assert_string_equal(t.flags, "00");
}

static void test_invalid_parents_start_a_new_trace(void **state)
{
	static const char *const invalid[] = {
		NULL,
		"",
		"00-" TRACE_ID "-" PARENT "-0",                      /* short flags */
		"00-" TRACE_ID "-" PARENT "-011",                    /* version 00 is exactly 55 */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01", /* upper case */
		"00-" TRACE_ID "-00F067AA0BA902B7-01",
		"00-00000000000000000000000000000000-" PARENT "-01", /* all-zero ids */
		"00-" TRACE_ID "-0000000000000000-01",
		"ff-" TRACE_ID "-" PARENT "-01",                     /* version ff */
		"0g-" TRACE_ID "-" PARENT "-01",
		"00_" TRACE_ID "-" PARENT "-01",
		"00-" TRACE_ID "x" PARENT "-01",
		"00-" TRACE_ID "-" PARENT "-0z",
		"00-4bf92f3577b34da6a3ce929d0e0e473-" PARENT "-01",  /* 31 digits */
		"01-" TRACE_ID "-" PARENT "-01x",                    /* later version: '-' must follow */
	};

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct trace t;

		assert_false(trace_begin(&t, invalid[i]));
		assert_true(lower_hex(t.trace_id, 32));
		assert_string_not_equal(t.trace_id, TRACE_ID);
		assert_string_equal(t.parent_id, "");
		assert_string_equal(t.flags, "01");
		assert_true(lower_hex(t.span_id, 16));
	}
}

static void test_later_versions_are_read_as_00(void **state)
{
	struct trace t;

	assert_true(trace_begin(&t, "cc-" TRACE_ID "-" PARENT "-01-what-the-future-holds"));
	assert_string_equal(t.trace_id, TRACE_ID);
	assert_true(trace_begin(&t, "01-" TRACE_ID "-" PARENT "-01"));
	assert_string_equal(t.parent_id, PARENT);
}

static void test_new_ids_differ(void **state)
{
	struct trace a, b;

	trace_begin(&a, NULL);
	trace_begin(&b, NULL);
	assert_string_not_equal(a.trace_id, b.trace_id);
	assert_string_not_equal(a.span_id, b.span_id);
}

static void test_tracestate_passed_on_only_with_a_valid_parent(void **state)
{
	struct trace valid, fresh;
	char big[TRACE_STATE_MAX + 2];

	trace_begin(&valid, "00-" TRACE_ID "-" PARENT "-01");
	trace_begin(&fresh, "garbage");
	assert_string_equal(trace_state_forward(&valid, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
			    "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
	assert_null(trace_state_forward(&fresh, "congo=t61rcWkgMzE"));
	assert_null(trace_state_forward(&valid, NULL));
	memset(big, 'a', sizeof(big));
	big[TRACE_STATE_MAX] = '\0';
	assert_non_null(trace_state_forward(&valid, big)); /* 512: passed on */
	big[TRACE_STATE_MAX] = 'a';
	big[TRACE_STATE_MAX + 1] = '\0';
	assert_null(trace_state_forward(&valid, big)); /* 513: dropped */
	assert_null(trace_state_forward(&valid, "a=b\r\nX-Evil: 1"));
	assert_non_null(trace_state_forward(&valid, "a=b ,\tc=d"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_parent_is_continued),
		cmocka_unit_test(test_invalid_parents_start_a_new_trace),
		cmocka_unit_test(test_later_versions_are_read_as_00),
		cmocka_unit_test(test_new_ids_differ),
		cmocka_unit_test(test_tracestate_passed_on_only_with_a_valid_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
