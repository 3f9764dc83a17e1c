/* test_config.c - the option table: defaults, environment, flags, bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define ARGS(...) ((char **)(const char *[]){"echosvc", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((const char *[]){"echosvc", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, error, ...) config_parse(cfg, ARGC(__VA_ARGS__), ARGS(__VA_ARGS__), error)

static int clear_env(void **state)
{
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++) {
		char name[64];
		size_t n = (size_t)snprintf(name, sizeof(name), "ECHOSVC_%s", config_option_name(i));

		for (size_t j = 0; j < n; j++)
			name[j] = name[j] == '-' ? '_' : (char)(name[j] >= 'a' && name[j] <= 'z'
								  ? name[j] - 32 : name[j]);
		unsetenv(name);
	}
	return 0;
}

static void test_defaults_a(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(PARSE(&cfg, error, "serve-a"), CONFIG_RUN);
	assert_int_equal(cfg.role, CONFIG_ROLE_A);
	assert_string_equal(cfg.listen.host, "127.0.0.1");
	assert_int_equal(cfg.listen.port, 8080);
	assert_int_equal(cfg.max_msg_bytes, 4096);
	assert_int_equal(cfg.max_connections, 1024);
	assert_int_equal(cfg.drain_ms, 5000);
	assert_true(cfg.threads >= 1);
	assert_int_equal(cfg.log_format, CONFIG_LOG_TEXT);
	assert_int_equal(cfg.source[CONFIG_LISTEN], CONFIG_SOURCE_DEFAULT);
}

static void test_defaults_b(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(PARSE(&cfg, error, "serve-b"), CONFIG_RUN);
	assert_int_equal(cfg.listen.port, 8081);
	assert_int_equal(cfg.service_a_count, 1);
	assert_string_equal(cfg.service_a[0].base, "http://127.0.0.1:8080");
	assert_string_equal(cfg.service_a[0].host, "127.0.0.1");
	assert_int_equal(cfg.service_a[0].port, 8080);
	assert_int_equal(cfg.timeout_ms, 2000);
	assert_int_equal(cfg.connect_timeout_ms, 500);
	assert_int_equal(cfg.retries, 1);
	assert_int_equal(cfg.max_inflight, 1024);
	assert_int_equal(cfg.breaker_failures, 5);
	assert_int_equal(cfg.breaker_open_ms, 2000);
}

static void test_env_then_flag(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	setenv("ECHOSVC_TIMEOUT_MS", "300", 1);
	assert_int_equal(PARSE(&cfg, error, "serve-b"), CONFIG_RUN);
	assert_int_equal(cfg.timeout_ms, 300);
	assert_int_equal(cfg.source[CONFIG_TIMEOUT_MS], CONFIG_SOURCE_ENV);
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--timeout-ms", "400"), CONFIG_RUN);
	assert_int_equal(cfg.timeout_ms, 400);
	assert_int_equal(cfg.source[CONFIG_TIMEOUT_MS], CONFIG_SOURCE_FLAG);
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--timeout-ms=500"), CONFIG_RUN);
	assert_int_equal(cfg.timeout_ms, 500);
}

static void test_env_of_other_role_ignored(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	setenv("ECHOSVC_TIMEOUT_MS", "not a number", 1);
	assert_int_equal(PARSE(&cfg, error, "serve-a"), CONFIG_RUN);
	assert_int_equal(PARSE(&cfg, error, "serve-b"), CONFIG_USAGE);
	assert_non_null(strstr(error, "ECHOSVC_TIMEOUT_MS"));
	assert_non_null(strstr(error, "not a number"));
}

static void test_listen_forms(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX], shown[300];

	assert_int_equal(PARSE(&cfg, error, "serve-a", "--listen", "[::1]:0"), CONFIG_RUN);
	assert_string_equal(cfg.listen.host, "::1");
	assert_int_equal(cfg.listen.port, 0);
	assert_string_equal(config_format_address(&cfg.listen, shown, sizeof(shown)), "[::1]:0");
	assert_int_equal(PARSE(&cfg, error, "serve-a", "--listen", "localhost:65535"), CONFIG_RUN);
	assert_int_equal(cfg.listen.port, 65535);
}

/* Each is a usage error whose line names the flag and the value. */
static void check_usage(int argc, char **argv, const char *flag, const char *value)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(config_parse(&cfg, argc, argv, error), CONFIG_USAGE);
	assert_null(strchr(error, '\n'));
	if (flag != NULL && strstr(error, flag) == NULL)
		fail_msg("'%s' does not name %s", error, flag);
	if (value != NULL && strstr(error, value) == NULL)
		fail_msg("'%s' does not name %s", error, value);
}

#define USAGE(flag, value, ...) check_usage(ARGC(__VA_ARGS__), ARGS(__VA_ARGS__), flag, value)

static void test_bad_values(void **state)
{
	USAGE("--listen", "127.0.0.1:70000", "serve-a", "--listen", "127.0.0.1:70000");
	USAGE("--listen", "127.0.0.1", "serve-a", "--listen", "127.0.0.1");
	USAGE("--listen", "127.0.0.1:-1", "serve-a", "--listen", "127.0.0.1:-1");
	USAGE("--listen", "::1:80", "serve-a", "--listen", "::1:80");
	USAGE("--listen", "[::1", "serve-a", "--listen", "[::1");
	USAGE("--listen", "is empty", "serve-a", "--listen", "");
	USAGE("--service-a", "https://a:0", "serve-b", "--service-a", "https://a:0");
	USAGE("--service-a", "httpss://a", "serve-b", "--service-a", "httpss://a");
	USAGE("--tls-key", "both or neither", "serve-a", "--tls-cert", "c.pem");
	USAGE("--tls-cert", "both or neither", "serve-b", "--tls-key", "k.pem");
	USAGE("--tls-client-ca", "--tls-cert", "serve-a", "--tls-client-ca", "ca.pem");
	USAGE("--service-a-key", "both or neither", "serve-b", "--service-a-cert", "c.pem");
	USAGE("--tls-cert", "is empty", "serve-a", "--tls-cert", "");
	USAGE("--service-a-ca", "unknown option", "serve-a", "--service-a-ca", "ca.pem");
	USAGE("--service-a", "ftp://x", "serve-b", "--service-a", "ftp://x");
	USAGE("--service-a", "http://a:1/path", "serve-b", "--service-a", "http://a:1/path");
	USAGE("--service-a", "http://a:0", "serve-b", "--service-a", "http://a:0");
	USAGE("--service-a", "http://a:1,", "serve-b", "--service-a", "http://a:1,");
	USAGE("--service-a", "http://", "serve-b", "--service-a", "http://");
	USAGE("--timeout-ms", "abc", "serve-b", "--timeout-ms", "abc");
	USAGE("--timeout-ms", "-5", "serve-b", "--timeout-ms", "-5");
	USAGE("--timeout-ms", "0", "serve-b", "--timeout-ms", "0");
	USAGE("--timeout-ms", "12x", "serve-b", "--timeout-ms", "12x");
	USAGE("--timeout-ms", "99999999999999999999", "serve-b", "--timeout-ms",
	      "99999999999999999999");
	USAGE("--retries", "11", "serve-b", "--retries", "11");
	USAGE("--max-msg-bytes", "8193", "serve-a", "--max-msg-bytes", "8193");
	USAGE("--threads", " 4", "serve-a", "--threads", " 4");
	USAGE("--log-format", "xml", "serve-a", "--log-format", "xml");
	USAGE("--drain-ms", "missing value", "serve-a", "--drain-ms");
	USAGE("--fault-error-rate", "out of range", "serve-a", "--fault-error-rate", "1.5");
	USAGE("--fault-error-rate", "not valid", "serve-a", "--fault-error-rate", "-0.1");
	USAGE("--fault-error-rate", "not valid", "serve-a", "--fault-error-rate", "nan");
	USAGE("--fault-error-rate", "not valid", "serve-a", "--fault-error-rate", "1e-3");
	USAGE("--fault-error-rate", "not valid", "serve-a", "--fault-error-rate", "0.1.2");
	USAGE("--fault-error-rate", "not valid", "serve-a", "--fault-error-rate", ".");
	USAGE("--fault-delay-rate", "a fraction from 0 to 1", "serve-b", "--fault-delay-rate",
	      "2");
	USAGE("--fault-error-code", "from 400 to 599", "serve-a", "--fault-error-code", "200");
	USAGE("--fault-error-code", "from 400 to 599", "serve-a", "--fault-error-code", "600");
	USAGE("--fault-seed", "out of range", "serve-a", "--fault-seed", "4294967296");
}

static void test_fault_options(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(PARSE(&cfg, error, "serve-a"), CONFIG_RUN);
	assert_true(cfg.fault_error_rate == 0 && cfg.fault_delay_rate == 1);
	assert_int_equal(cfg.fault_error_code, 500);
	assert_int_equal(cfg.fault_delay_ms, 0);
	assert_int_equal(cfg.fault_seed, 0);
	setenv("ECHOSVC_FAULT_ERROR_RATE", "0.25", 1);
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--fault-delay-rate", ".5",
			       "--fault-error-code", "503", "--fault-delay-ms", "200",
			       "--fault-seed", "4294967295"),
			 CONFIG_RUN);
	unsetenv("ECHOSVC_FAULT_ERROR_RATE");
	assert_true(cfg.fault_error_rate == 0.25 && cfg.fault_delay_rate == 0.5);
	assert_int_equal(cfg.fault_error_code, 503);
	assert_int_equal(cfg.fault_delay_ms, 200);
	assert_int_equal(cfg.fault_seed, 4294967295u);
	assert_int_equal(cfg.source[CONFIG_FAULT_ERROR_RATE], CONFIG_SOURCE_ENV);
	assert_int_equal(PARSE(&cfg, error, "serve-a", "--fault-error-rate", "1"), CONFIG_RUN);
	assert_true(cfg.fault_error_rate == 1);
}

static void test_bad_commands_and_flags(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(config_parse(&cfg, 1, ARGS(NULL), error), CONFIG_USAGE);
	USAGE("frobnicate", NULL, "frobnicate");
	USAGE("--nope", NULL, "serve-a", "--nope", "1");
	USAGE("--timeout-ms", "serve-a", "serve-a", "--timeout-ms", "5");
	USAGE("stray", NULL, "serve-a", "stray");
	USAGE("--listen-a", NULL, "up", "--listen-a", "127.0.0.1:0");
}

static void test_help_version_check(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(PARSE(&cfg, error, "--help"), CONFIG_HELP);
	assert_int_equal(PARSE(&cfg, error, "--version"), CONFIG_VERSION);
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--help"), CONFIG_HELP);
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--check-config"), CONFIG_CHECK);
}

static void test_replicas(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];

	assert_int_equal(PARSE(&cfg, error, "serve-b", "--service-a",
			       "http://a:1,HTTP://[::1]:2/,http://b"),
			 CONFIG_RUN);
	assert_int_equal(cfg.service_a_count, 3);
	assert_string_equal(cfg.service_a[0].base, "http://a:1");
	assert_string_equal(cfg.service_a[1].host, "::1");
	assert_int_equal(cfg.service_a[1].port, 2);
	assert_string_equal(cfg.service_a[1].base, "http://[::1]:2");
	assert_int_equal(cfg.service_a[2].port, 80);
	assert_false(cfg.service_a[0].tls);
	/* https:// mixes with http://; 443 by default; the scheme in lower case */
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--service-a", "HTTPS://a,https://b:8443,http://c",
			       "--service-a-ca", "ca.pem"),
			 CONFIG_RUN);
	assert_string_equal(cfg.service_a[0].base, "https://a");
	assert_int_equal(cfg.service_a[0].port, 443);
	assert_true(cfg.service_a[0].tls && cfg.service_a[1].tls && !cfg.service_a[2].tls);
	assert_int_equal(cfg.service_a[1].port, 8443);
	assert_string_equal(cfg.service_a_ca, "ca.pem");
	assert_string_equal(cfg.tls_cert, "");
}

static void test_check_config_output(void **state)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX], text[4096] = "";
	FILE *out = fmemopen(text, sizeof(text) - 1, "w");

	setenv("ECHOSVC_RETRIES", "3", 1);
	assert_int_equal(PARSE(&cfg, error, "serve-b", "--timeout-ms", "700", "--check-config"),
			 CONFIG_CHECK);
	config_print(out, &cfg);
	fclose(out);
	assert_non_null(strstr(text, "timeout-ms = 700 (flag --timeout-ms)\n"));
	assert_non_null(strstr(text, "retries = 3 (environment ECHOSVC_RETRIES)\n"));
	assert_non_null(strstr(text, "listen = 127.0.0.1:8081 (default)\n"));
}

static void test_help_lists_every_option(void **state)
{
	char text[16384] = "";
	FILE *out = fmemopen(text, sizeof(text) - 1, "w");

	config_print_help(out, NULL);
	fclose(out);
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++) {
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s ", config_option_name(i));
		if (strstr(text, flag) == NULL)
			fail_msg("help lacks %s", flag);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_a, clear_env),
		cmocka_unit_test_setup(test_defaults_b, clear_env),
		cmocka_unit_test_setup(test_env_then_flag, clear_env),
		cmocka_unit_test_setup(test_env_of_other_role_ignored, clear_env),
		cmocka_unit_test_setup(test_listen_forms, clear_env),
		cmocka_unit_test_setup(test_bad_values, clear_env),
		cmocka_unit_test_setup(test_bad_commands_and_flags, clear_env),
		cmocka_unit_test_setup(test_fault_options, clear_env),
		cmocka_unit_test_setup(test_help_version_check, clear_env),
		cmocka_unit_test_setup(test_replicas, clear_env),
		cmocka_unit_test_setup(test_check_config_output, clear_env),
		cmocka_unit_test_setup(test_help_lists_every_option, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
