/* test_buffer.c - the capped buffer refuses to grow past its cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buffer.h"

static void test_append_within_cap(void **state)
{
	struct buffer buf;

	buffer_init(&buf, 8);
	assert_int_equal(buffer_append_str(&buf, "abcd"), 0);
	assert_int_equal(buffer_printf(&buf, "%d", 1234), 0);
	assert_int_equal(buf.len, 8);
	assert_string_equal(buf.data, "abcd1234");
	buffer_finish(&buf);
}

static void test_append_past_cap_fails_unchanged(void **state)
{
	struct buffer buf;

	buffer_init(&buf, 5);
	assert_int_equal(buffer_append_str(&buf, "abc"), 0);
	errno = 0;
	assert_int_equal(buffer_append_str(&buf, "def"), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(buf.len, 3);
	assert_string_equal(buf.data, "abc");
	assert_int_equal(buffer_printf(&buf, "%s", "xyz"), -1);
	assert_string_equal(buf.data, "abc");
	buffer_finish(&buf);
}

static void test_release_hands_over(void **state)
{
	struct buffer buf;
	size_t len;
	char *data;

	buffer_init(&buf, 100);
	assert_int_equal(buffer_append(&buf, "a\0b", 3), 0);
	data = buffer_release(&buf, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "a\0b", 3);
	assert_null(buf.data);
	free(data);
}

static void test_fixed_storage_never_grows(void **state)
{
	char storage[6];
	struct buffer buf;

	buffer_init_fixed(&buf, storage, sizeof(storage));
	assert_int_equal(buffer_append_str(&buf, "abcde"), 0);
	assert_ptr_equal(buf.data, storage);
	assert_string_equal(storage, "abcde");
	assert_int_equal(buffer_append_str(&buf, "f"), -1);
	assert_string_equal(storage, "abcde");
	buffer_finish(&buf); /* frees nothing */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_within_cap),
		cmocka_unit_test(test_append_past_cap_fails_unchanged),
		cmocka_unit_test(test_release_hands_over),
		cmocka_unit_test(test_fixed_storage_never_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
