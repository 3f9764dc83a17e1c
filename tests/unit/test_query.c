/* test_query.c - finding and decoding msg in a raw query string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

/* Returns the decoded msg of query, or NULL when there is none. */
static const char *find(const char *query, char *out, size_t out_size)
{
	char copy[256];
	char *value;
	size_t len;

	snprintf(copy, sizeof(copy), "%s", query);
	if (!query_find_msg(copy, strlen(copy), &value, &len))
		return NULL;
	assert_true(len < out_size);
	memcpy(out, value, len);
	out[len] = '\0';
	return out;
}

#define MSG(query, want)                                            \
	do {                                                        \
		char out_[256];                                     \
		const char *got_ = find(query, out_, sizeof(out_)); \
		assert_non_null(got_);                              \
		assert_string_equal(got_, want);                    \
	} while (0)

static void test_plain_and_empty(void **state)
{
	MSG("msg=hello", "hello");
	MSG("msg=", "");
	MSG("msg", "");
	MSG("a=1&msg&b=2", "");
	MSG("a=1&msg=x&b=2", "x");
}

static void test_decoding(void **state)
{
	MSG("msg=a+b%2Bc", "a b+c");
	MSG("msg=%41%62", "Ab");
	MSG("msg=%zz%4", "%zz%4");
	MSG("msg=100%", "100%");
	MSG("msg=a=b", "a=b");
	MSG("msg=%26%23", "&#");
}

static void test_names(void **state)
{
	MSG("m%73g=key", "key");
	MSG("%6d%73%67=k2", "k2");
	MSG("msg=first&msg=second", "first");
	assert_null(find("msgx=1", (char[8]){0}, 8));
	assert_null(find("xmsg=1", (char[8]){0}, 8));
	assert_null(find("", (char[8]){0}, 8));
	assert_null(find("&&&", (char[8]){0}, 8));
	assert_null(find("ms=g", (char[8]){0}, 8));
	assert_null(find("Msg=1", (char[8]){0}, 8));
}

static void test_nul_is_kept(void **state)
{
	char query[] = "msg=a%00b";
	char *value;
	size_t len;

	assert_true(query_find_msg(query, strlen(query), &value, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(value, "a\0b", 3);
}

static void test_other_parameters_untouched(void **state)
{
	char query[] = "a=%41&msg=%42";
	char *value;
	size_t len;

	assert_true(query_find_msg(query, strlen(query), &value, &len));
	assert_memory_equal(query, "a=%41&msg=", 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_empty),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_nul_is_kept),
		cmocka_unit_test(test_other_parameters_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
