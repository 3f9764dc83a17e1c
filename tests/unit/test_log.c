/* test_log.c - log field escaping and request-id validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "request_head.h"

static void check_value(const char *in, size_t len, bool quote, const char *want)
{
	char out[256];
	size_t n = log_format_value(out, sizeof(out), in, len, quote);

	out[n] = '\0';
	assert_string_equal(out, want);
}

#define VALUE(in, quote, want) check_value(in, sizeof(in) - 1, quote, want)

static void test_plain_values_stay_bare(void **state)
{
	VALUE("/echo", false, "/echo");
	VALUE("abc-123", false, "abc-123");
}

static void test_unusual_values_are_quoted(void **state)
{
	VALUE("/a b", false, "\"/a b\"");
	VALUE("/x=1", false, "\"/x=1\"");
	VALUE("/q\"", false, "\"/q\\\"\"");
	VALUE("/b\\", false, "\"/b\\\\\"");
	VALUE("", false, "\"\"");
	VALUE("ok", true, "\"ok\"");
}

static void test_no_line_break_or_forged_field(void **state)
{
	VALUE("/x\nservice=A status=ok", false, "\"/x\\nservice=A status=ok\"");
	VALUE("\r\t\x01\x7f\xc3\xa9", false, "\"\\r\\t\\x01\\x7f\\xc3\\xa9\"");
}

static void test_long_value_is_cut_inside_quotes(void **state)
{
	char in[1000], out[64];
	size_t n;

	memset(in, '"', sizeof(in));
	n = log_format_value(out, sizeof(out), in, sizeof(in), false);
	assert_true(n <= sizeof(out));
	assert_int_equal(out[0], '"');
	assert_int_equal(out[n - 1], '"');
	assert_memory_equal(out + n - 4, "...", 3);
	/* an escape is never split: the byte before "..." ends a \" pair */
	assert_int_equal(out[n - 5], '"');
	assert_int_equal(out[n - 6], '\\');
}

static void test_request_id_rules(void **state)
{
	char longest[129], too_long[130];

	memset(longest, 'a', 128);
	longest[128] = '\0';
	memset(too_long, 'a', 129);
	too_long[129] = '\0';
	assert_true(request_head_id_valid("abc-DEF_1.2:3"));
	assert_true(request_head_id_valid(longest));
	assert_false(request_head_id_valid(too_long));
	assert_false(request_head_id_valid(""));
	assert_false(request_head_id_valid("a b"));
	assert_false(request_head_id_valid("a\"b"));
	assert_false(request_head_id_valid("é"));
	assert_false(request_head_id_valid("a/b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_values_stay_bare),
		cmocka_unit_test(test_unusual_values_are_quoted),
		cmocka_unit_test(test_no_line_break_or_forged_field),
		cmocka_unit_test(test_long_value_is_cut_inside_quotes),
		cmocka_unit_test(test_request_id_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
