/* test_upstream.c - the policy of a call to A: URL, classification, answer check, replica choice. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <stdlib.h>

#include "upstream_policy.h"
#include "upstream_replicas.h"

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

static struct upstream_failure classify_tls(CURLcode code, long os_errno, int sent,
					    int received, long http, int tls, long verify)
{
	struct upstream_attempt a = {code, os_errno, sent, received, http, tls, 0, verify};
	struct upstream_failure f;

	upstream_classify(&a, 2000, 500, &f);
	return f;
}

static struct upstream_failure classify(CURLcode code, long os_errno, int sent, int received,
					long http)
{
	return classify_tls(code, os_errno, sent, received, http, 0, 0);
}

static void test_tls_failures(void **state)
{
	static const struct {
		CURLcode code;
		long os_errno;
		int tls;
		long verify;
		const char *cause;
	} cases[] = {
		{CURLE_PEER_FAILED_VERIFICATION, 0, 1, 0x42, "TLS: certificate verify failed"},
		{CURLE_PEER_FAILED_VERIFICATION, 0, 1, 0x402, "TLS: certificate expired"},
		{CURLE_PEER_FAILED_VERIFICATION, 0, 1, 0, "TLS: host name mismatch"},
		{CURLE_SSL_CONNECT_ERROR, 0, 1, 0, "TLS: handshake failed"},
		{CURLE_SSL_CERTPROBLEM, 0, 1, 0, "TLS: client certificate could not be used"},
		{CURLE_SSL_CACERT_BADFILE, 0, 1, 0, "TLS: CA file could not be read"},
		{CURLE_RECV_ERROR, 0, 1, 0, "TLS: handshake refused by A (client certificate?)"},
		{CURLE_SEND_ERROR, 0, 1, 0, "TLS: handshake refused by A (client certificate?)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct upstream_failure f = classify_tls(cases[i].code, cases[i].os_errno, 1, 0, 0,
							 cases[i].tls, cases[i].verify);

		assert_int_equal(f.status, 503);
		assert_int_equal(f.outcome, UPSTREAM_TLS);
		assert_false(f.retryable); /* never retried */
		assert_string_equal(f.cause, cases[i].cause);
	}
	/* a reset on a kept-alive connection is a reset, TLS or not; on a
	 * new TLS connection it is A refusing the handshake */
	assert_int_equal(classify_tls(CURLE_RECV_ERROR, ECONNRESET, 1, 0, 0, 1, 0).outcome,
			 UPSTREAM_REFUSED);
	{
		struct upstream_attempt fresh = {CURLE_RECV_ERROR, ECONNRESET, 1, 0, 0, 1, 1, 0};
		struct upstream_failure f;

		upstream_classify(&fresh, 2000, 500, &f);
		assert_int_equal(f.outcome, UPSTREAM_TLS);
		fresh.tls = 0;
		upstream_classify(&fresh, 2000, 500, &f);
		assert_int_equal(f.outcome, UPSTREAM_REFUSED);
	}
	assert_int_equal(classify_tls(CURLE_RECV_ERROR, 0, 1, 0, 0, 0, 0).outcome, UPSTREAM_REFUSED);
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

static void check_answer(const char *answer, const char *want_echo, const char *want_cause)
{
	struct upstream_failure f;
	char *echo = NULL;
	size_t len = 0;
	int rc = upstream_check_answer(answer, strlen(answer), &echo, &len, &f);

	if (want_echo != NULL) {
		assert_int_equal(rc, 0);
		assert_int_equal(len, strlen(want_echo));
		assert_memory_equal(echo, want_echo, len);
		free(echo);
	} else {
		assert_int_equal(rc, -1);
		assert_null(echo);
		assert_int_equal(f.status, 502);
		assert_int_equal(f.outcome, UPSTREAM_BAD_RESPONSE);
		assert_string_equal(f.cause, want_cause);
	}
}

static void test_answer_check(void **state)
{
	check_answer("{\"echo\":\"hi\"}\n", "hi", NULL);
	check_answer("{\"echo\":\"\\u00e9\\\"\"}", "\xC3\xA9\"", NULL);
	check_answer("{\"other\":1,\"echo\":\"\"}", "", NULL);
	check_answer("<html>", NULL, "answer is not JSON");
	check_answer("{\"echo\":5}", NULL, "answer has no string \"echo\"");
	check_answer("{\"Echo\":\"x\"}", NULL, "answer has no string \"echo\"");
	check_answer("", NULL, "answer is not JSON");
	/* cJSON would end the string at the NUL: B cannot carry it exactly */
	check_answer("{\"echo\":\"a\\u0000b\"}", NULL, "answer holds a NUL (\\u0000) B cannot pass on");
	check_answer("{\"echo\":\"a\\\\u0000b\"}", "a\\u0000b", NULL); /* a backslash, then text */
	/* one JSON value and nothing after it but whitespace */
	check_answer("{\"echo\":\"ok\"} \r\n\t", "ok", NULL);
	check_answer("{\"echo\":\"ok\"} trailing", NULL, "answer is not JSON");
	check_answer("{\"echo\":\"ok\"}{\"echo\":\"two\"}", NULL, "answer is not JSON");
	/* two echo members: which one a parser keeps is not defined */
	check_answer("{\"echo\":\"a\",\"echo\":\"b\"}", NULL, "answer has more than one \"echo\"");
	check_answer("[\"echo\"]", NULL, "answer has no string \"echo\"");
}

static void test_local_shortage(void **state)
{
	struct upstream_failure f;

	assert_true(upstream_classify_local(EMFILE, &f));
	assert_int_equal(f.status, 503);
	assert_int_equal(f.outcome, UPSTREAM_LOCAL);
	assert_false(f.retryable);
	assert_string_equal(f.cause, "B cannot open a connection: too many open files");
	assert_true(upstream_classify_local(ENOBUFS, &f));
	assert_true(upstream_classify_local(ENFILE, &f));
	assert_false(upstream_classify_local(ECONNREFUSED, &f));
	assert_false(upstream_classify_local(0, &f));
}

static void test_answer_with_a_raw_nul(void **state)
{
	static const char answer[] = "{\"echo\":\"a\0b\"}";
	struct upstream_failure f;
	char *echo = NULL;
	size_t len = 0;

	assert_int_equal(upstream_check_answer(answer, sizeof(answer) - 1, &echo, &len, &f), -1);
	assert_null(echo);
	assert_int_equal(f.status, 502);
}

static struct config replica_config(size_t count, unsigned failures, unsigned open_ms)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.service_a_count = count;
	for (size_t i = 0; i < count; i++)
		snprintf(cfg.service_a[i].base, sizeof(cfg.service_a[i].base), "http://a%zu", i);
	cfg.breaker_failures = failures;
	cfg.breaker_open_ms = open_ms;
	return cfg;
}

static void test_replicas_round_robin(void **state)
{
	struct config cfg = replica_config(3, 1, 1000);
	struct upstream_replicas r;

	upstream_replicas_init(&r, &cfg);
	for (int i = 0; i < 6; i++)
		assert_int_equal(upstream_replicas_choose(&r, -1, 0), i % 3);
	/* replica 1 opens: first attempts skip it, spreading its turn */
	upstream_replicas_record(&r, 1, false, 0);
	assert_true(upstream_replicas_open(&r, 1));
	assert_int_equal(upstream_replicas_choose(&r, -1, 10), 0);
	assert_int_equal(upstream_replicas_choose(&r, -1, 10), 2);
	assert_int_equal(upstream_replicas_choose(&r, -1, 10), 0);
	/* its time is up: one trial call goes to it, and no other until it ends */
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), 1);
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), 2);
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), 0);
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), 2);
	upstream_replicas_record(&r, 1, true, 1001);
	assert_false(upstream_replicas_open(&r, 1));
	upstream_replicas_finish(&r);
}

static void test_replicas_retry_and_all_open(void **state)
{
	struct config cfg = replica_config(3, 1, 1000);
	struct config one = replica_config(1, 2, 1000);
	struct upstream_replicas r;

	upstream_replicas_init(&r, &cfg);
	/* a retry goes to the replicas after the one that failed */
	assert_int_equal(upstream_replicas_choose(&r, 1, 0), 2);
	upstream_replicas_record(&r, 2, false, 0);
	assert_int_equal(upstream_replicas_choose(&r, 2, 0), 0);
	upstream_replicas_record(&r, 0, false, 0);
	upstream_replicas_record(&r, 1, false, 0);
	assert_int_equal(upstream_replicas_choose(&r, -1, 1), -1);
	assert_int_equal(upstream_replicas_choose(&r, 0, 1), -1);
	upstream_replicas_finish(&r);

	/* one replica: a retry goes to the same one, until its circuit opens */
	upstream_replicas_init(&r, &one);
	assert_int_equal(upstream_replicas_choose(&r, 0, 0), 0);
	upstream_replicas_record(&r, 0, false, 0);
	assert_int_equal(upstream_replicas_choose(&r, 0, 0), 0);
	upstream_replicas_record(&r, 0, false, 0);
	assert_int_equal(upstream_replicas_choose(&r, 0, 0), -1);
	/* a trial that was chosen but never made is forgotten */
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), 0);
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), -1);
	upstream_replicas_cancel(&r, 0);
	assert_int_equal(upstream_replicas_choose(&r, -1, 1000), 0);
	assert_int_equal(upstream_replicas_peek(&r), 0);
	upstream_replicas_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_failures),
		cmocka_unit_test(test_url_encoding),
		cmocka_unit_test(test_url_long_msg),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_refused_is_503_and_retried),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_answer_check),
		cmocka_unit_test(test_answer_with_a_raw_nul),
		cmocka_unit_test(test_local_shortage),
		cmocka_unit_test(test_replicas_round_robin),
		cmocka_unit_test(test_replicas_retry_and_all_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
