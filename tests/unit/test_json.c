/* test_json.c - UTF-8 repair (maximal subparts) and JSON string escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

#define FFFD "\xEF\xBF\xBD"

static void check_repair(const char *in, size_t len, const char *want)
{
	/* no input here needs a JSON escape: what json_escape() writes is
	 * the repaired text itself */
	char out[1024];
	size_t consumed = 0;
	size_t n = json_escape(out, sizeof(out), in, len, &consumed);

	assert_int_equal(consumed, len);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
}

#define REPAIR(in, want) check_repair(in, sizeof(in) - 1, want)

static void test_valid_utf8_unchanged(void **state)
{
	REPAIR("hello", "hello");
	REPAIR("\xC3\xA9", "\xC3\xA9");                 /* é */
	REPAIR("\xE2\x82\xAC", "\xE2\x82\xAC");         /* € */
	REPAIR("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"); /* 😀 */
	REPAIR("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
	REPAIR("\xED\x9F\xBF", "\xED\x9F\xBF");         /* U+D7FF, below surrogates */
	REPAIR("", "");
}

static void test_invalid_bytes(void **state)
{
	REPAIR("\xFF", FFFD);
	REPAIR("a\x80" "b", "a" FFFD "b");               /* stray continuation */
	REPAIR("\x80\x80", FFFD FFFD);                   /* each its own */
	REPAIR("\xC0\xAF", FFFD FFFD);                   /* C0 never valid */
	REPAIR("\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD); /* past the range */
}

static void test_truncated_sequences(void **state)
{
	REPAIR("\xE2\x82", FFFD);          /* one subpart: one U+FFFD */
	REPAIR("\xE2\x82" "a", FFFD "a");
	REPAIR("\xF0\x9F\x98", FFFD);
	REPAIR("\xF0\x9F\x98" "\xF0\x9F\x98\x80", FFFD "\xF0\x9F\x98\x80");
	REPAIR("\xC3", FFFD);
}

static void test_overlong_and_surrogates(void **state)
{
	REPAIR("\xE0\x80\xAF", FFFD FFFD FFFD);     /* E0 needs A0..BF next */
	REPAIR("\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD);
	REPAIR("\xED\xA0\x80", FFFD FFFD FFFD);     /* U+D800 */
	REPAIR("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
}

/* The example of the Unicode standard, table 3-8. */
static void test_unicode_table_3_8(void **state)
{
	REPAIR("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
	       "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
}

static void check_string(const char *in, size_t len, const char *want)
{
	struct buffer out;

	buffer_init(&out, 4096);
	assert_int_equal(json_append_string(&out, in, len), 0);
	assert_string_equal(out.data, want);
	buffer_finish(&out);
}

#define STRING(in, want) check_string(in, sizeof(in) - 1, want)

static void test_json_escapes(void **state)
{
	STRING("plain", "\"plain\"");
	STRING("q\"b\\", "\"q\\\"b\\\\\"");
	STRING("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
	STRING("\x01\x1f", "\"\\u0001\\u001f\"");
	STRING("a\0b", "\"a\\u0000b\"");
	STRING("\x7f", "\"\x7f\"");
	STRING("&#+%<>/", "\"&#+%<>/\"");
	STRING("\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\"");
	STRING("\xFF", "\"" FFFD "\"");
}

static void test_long_string_crosses_chunks(void **state)
{
	char in[3000], want[6100];
	size_t w = 0;

	for (size_t i = 0; i < sizeof(in); i++) {
		in[i] = i % 3 == 0 ? '"' : 'x';
	}
	want[w++] = '"';
	for (size_t i = 0; i < sizeof(in); i++) {
		if (in[i] == '"')
			want[w++] = '\\';
		want[w++] = in[i];
	}
	want[w++] = '"';
	want[w] = '\0';
	check_string(in, sizeof(in), want);
}

static void test_escape_never_splits(void **state)
{
	char dst[8];
	size_t used, n;

	/* 5 bytes of room: "ab" fits, the 6-byte \u0001 does not */
	n = json_escape(dst, 5, "ab\x01" "c", 4, &used);
	assert_int_equal(n, 2);
	assert_int_equal(used, 2);
	/* a 4-byte character is kept whole or not at all */
	n = json_escape(dst, 3, "\xF0\x9F\x98\x80", 4, &used);
	assert_int_equal(n, 0);
	assert_int_equal(used, 0);
}

static void test_error_body(void **state)
{
	struct buffer out;

	buffer_init(&out, 256);
	assert_int_equal(json_append_error(&out, "not found", 9), 0);
	assert_string_equal(out.data, "{\"error\":\"not found\"}\n");
	buffer_finish(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_utf8_unchanged),
		cmocka_unit_test(test_invalid_bytes),
		cmocka_unit_test(test_truncated_sequences),
		cmocka_unit_test(test_overlong_and_surrogates),
		cmocka_unit_test(test_unicode_table_3_8),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_long_string_crosses_chunks),
		cmocka_unit_test(test_escape_never_splits),
		cmocka_unit_test(test_error_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
