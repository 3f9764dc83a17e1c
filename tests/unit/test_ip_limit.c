/* test_ip_limit.c - connections per client address: admitted up to the limit, given back, one count per client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ip_limit.h"

static struct sockaddr_in v4(const char *text)
{
	struct sockaddr_in in;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	inet_pton(AF_INET, text, &in.sin_addr);
	return in;
}

static struct sockaddr_in6 v6(const char *text)
{
	struct sockaddr_in6 in;

	memset(&in, 0, sizeof(in));
	in.sin6_family = AF_INET6;
	inet_pton(AF_INET6, text, &in.sin6_addr);
	return in;
}

#define SA(x) ((const struct sockaddr *)(const void *)&(x))

static void test_admits_up_to_the_limit_per_address(void **state)
{
	struct ip_limit *limit = ip_limit_new(2);
	struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");

	assert_non_null(limit);
	assert_true(ip_limit_take(limit, SA(a)));
	assert_true(ip_limit_take(limit, SA(a)));
	assert_false(ip_limit_take(limit, SA(a)));
	assert_true(ip_limit_take(limit, SA(b))); /* another address has its own count */
	ip_limit_give(limit, SA(a));
	assert_true(ip_limit_take(limit, SA(a)));
	assert_false(ip_limit_take(limit, SA(a)));
	ip_limit_free(limit);
}

static void test_an_ipv4_client_counts_once_on_a_dual_stack_socket(void **state)
{
	struct ip_limit *limit = ip_limit_new(1);
	struct sockaddr_in plain = v4("192.0.2.7");
	struct sockaddr_in6 mapped = v6("::ffff:192.0.2.7"), other = v6("2001:db8::7");

	assert_true(ip_limit_take(limit, SA(plain)));
	assert_false(ip_limit_take(limit, SA(mapped)));
	assert_true(ip_limit_take(limit, SA(other)));
	ip_limit_give(limit, SA(mapped));
	assert_true(ip_limit_take(limit, SA(plain)));
	ip_limit_free(limit);
}

static void test_no_limit_and_unknown_families(void **state)
{
	struct ip_limit *limit = ip_limit_new(0);
	struct sockaddr_in a = v4("10.0.0.1");
	struct sockaddr unix_addr = {.sa_family = AF_UNIX};

	for (int i = 0; i < 100; i++)
		assert_true(ip_limit_take(limit, SA(a)));
	ip_limit_free(limit);
	limit = ip_limit_new(1);
	assert_true(ip_limit_take(limit, &unix_addr));
	assert_true(ip_limit_take(limit, &unix_addr));
	assert_true(ip_limit_take(limit, NULL));
	ip_limit_give(limit, NULL);
	assert_true(ip_limit_take(NULL, SA(a)));
	ip_limit_free(limit);
	ip_limit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admits_up_to_the_limit_per_address),
		cmocka_unit_test(test_an_ipv4_client_counts_once_on_a_dual_stack_socket),
		cmocka_unit_test(test_no_limit_and_unknown_families),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
