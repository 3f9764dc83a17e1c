/* main.c - echosvc's entry: parse the command line, run the chosen role. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "probe.h"
#include "serve_a.h"
#include "serve_b.h"
#include "signals.h"
#include "up.h"
#include "version.h"

/* The version, and on a second line the libraries that run it (a bug
 * report needs them: Debian 12 and 13 ship different ones). */
static void version_print(void)
{
	const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

	printf("echosvc %s\nlibmicrohttpd %s, libcurl %s, cJSON %s, GnuTLS %s\n", ECHOSVC_VERSION,
	       MHD_get_version(), curl->version, cJSON_Version(), gnutls_check_version(NULL));
}

int main(int argc, char **argv)
{
	struct config cfg;
	char error[CONFIG_ERROR_MAX];
	sigset_t taken;

	/* First of all, before any thread exists, so that every thread inherits
	 * the mask: the roles take these signals with sigwait() in one place
	 * (SIGHUP never stops a service), and one that comes while the options
	 * are read waits for it. What comes between exec and this line still
	 * has the default action (docs/operations.md). */
	signals_taken(&taken);
	sigprocmask(SIG_BLOCK, &taken, NULL);
	/* a client, not a role: it has none of the services' options */
	if (argc > 1 && strcmp(argv[1], "probe") == 0)
		return probe_run(argc - 1, argv + 1);
	switch (config_parse(&cfg, argc, argv, error)) {
	case CONFIG_HELP:
		config_print_help(stdout, &cfg);
		return 0;
	case CONFIG_VERSION:
		version_print();
		return 0;
	case CONFIG_CHECK:
		config_print(stdout, &cfg);
		return 0;
	case CONFIG_USAGE:
		log_usage(error);
		return 2;
	case CONFIG_RUN:
		break;
	}
	/* a peer that closes early must not kill the process */
	signal(SIGPIPE, SIG_IGN);
	notify_init();
	switch (cfg.role) {
	case CONFIG_ROLE_A:
		return serve_a_run(&cfg);
	case CONFIG_ROLE_B:
		return serve_b_run(&cfg);
	case CONFIG_ROLE_UP:
		return up_run(&cfg);
	}
	return 2;
}
