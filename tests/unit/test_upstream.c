/* test_upstream.c - the policy of a call to A: URL, classification, answer check, replica choice. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "upstream_policy.h"

static void check_url(const char *msg, size_t len, const char *want)
{
	struct buffer out;

	buffer_init(&out, 4096);
	assert_int_equal(upstream_build_url(&out, "http://127.0.0.1:8080", msg, len), 0);
	assert_string_equal(out.data, want);
	buffer_finish(&out);
}

#define URL(msg, want) check_url(msg, sizeof(msg) - 1, want)

static void test_url_encoding(void **state)
{
	URL("hello", "http://127.0.0.1:8080/echo?msg=hello");
	URL("", "http://127.0.0.1:8080/echo?msg=");
	URL("a b&c#d+e%f", "http://127.0.0.1:8080/echo?msg=a%20b%26c%23d%2Be%25f");
	URL("-._~AZaz09", "http://127.0.0.1:8080/echo?msg=-._~AZaz09");
	URL("\xF0\x9F\x98\x80\xFF", "http://127.0.0.1:8080/echo?msg=%F0%9F%98%80%FF");
	URL("\"\\\n", "http://127.0.0.1:8080/echo?msg=%22%5C%0A");
}

static void test_url_long_msg(void **state)
{
	char msg[1000];
	struct buffer out;

	memset(msg, '/', sizeof(msg));
	buffer_init(&out, 8192);
	assert_int_equal(upstream_build_url(&out, "http://a", msg, sizeof(msg)), 0);
	assert_int_equal(out.len, strlen("http://a/echo?msg=") + 3 * sizeof(msg));
	buffer_finish(&out);
}

static struct upstream_failure classify(CURLcode code, long os_errno, int sent, int received,
					long http)
{
	struct upstream_failure f;

	upstream_classify(code, os_errno, sent, received, http, 2000, 500, &f);
	return f;
}

static void test_success(void **state)
{
	struct upstream_failure f = classify(CURLE_OK, 0, 1, 1, 200);

	assert_int_equal(f.status, 0);
	assert_int_equal(f.outcome, UPSTREAM_OK);
}

static void test_refused_is_503_and_retried(void **state)
{
	struct upstream_failure f = classify(CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, 0, 0);

	assert_int_equal(f.status, 503);
	assert_string_equal(f.cause, "connection refused");
	assert_true(f.retryable);
	assert_int_equal(f.outcome, UPSTREAM_REFUSED);
	f = classify(CURLE_COULDNT_RESOLVE_HOST, 0, 0, 0, 0);
	assert_int_equal(f.status, 503);
	assert_string_equal(f.cause, "name did not resolve");
	f = classify(CURLE_COULDNT_CONNECT, EHOSTUNREACH, 0, 0, 0);
	assert_int_equal(f.status, 503);
	assert_non_null(strstr(f.cause, "connect: "));
}

static void test_timeouts(void **state)
{
	struct upstream_failure f = classify(CURLE_OPERATION_TIMEDOUT, 0, 1, 0, 0);

	assert_int_equal(f.status, 504);
	assert_string_equal(f.cause, "timeout after 2000 ms");
	assert_false(f.retryable);
	f = classify(CURLE_OPERATION_TIMEDOUT, 0, 0, 0, 0);
	assert_int_equal(f.status, 503);
	assert_string_equal(f.cause, "connect timeout after 500 ms");
	assert_true(f.retryable);
}

static void test_resets(void **state)
{
	struct upstream_failure f = classify(CURLE_RECV_ERROR, ECONNRESET, 1, 0, 0);

	assert_int_equal(f.status, 503);
	assert_string_equal(f.cause, "connection reset");
	assert_true(f.retryable);
	f = classify(CURLE_GOT_NOTHING, 0, 1, 0, 0);
	assert_int_equal(f.status, 503);
	assert_true(f.retryable);
	f = classify(CURLE_RECV_ERROR, ECONNRESET, 1, 1, 200);
	assert_int_equal(f.status, 502);
	assert_false(f.retryable);
}

static void test_bad_answers(void **state)
{
	struct upstream_failure f = classify(CURLE_OK, 0, 1, 1, 500);

	assert_int_equal(f.status, 502);
	assert_string_equal(f.cause, "HTTP 500");
	assert_int_equal(f.outcome, UPSTREAM_BAD_RESPONSE);
	f = classify(CURLE_WRITE_ERROR, 0, 1, 1, 200);
	assert_int_equal(f.status, 502);
	assert_string_equal(f.cause, "answer larger than 65536 bytes");
	f = classify(CURLE_FILESIZE_EXCEEDED, 0, 1, 1, 200);
	assert_int_equal(f.status, 502);
	f = classify(CURLE_WEIRD_SERVER_REPLY, 0, 1, 1, 0);
	assert_int_equal(f.status, 502);
	assert_false(f.retryable);
	f = classify(CURLE_PARTIAL_FILE, 0, 1, 1, 200);
	assert_int_equal(f.status, 502);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_encoding),
		cmocka_unit_test(test_url_long_msg),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_refused_is_503_and_retried),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_bad_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
