/* probe.c - one bounded GET whose exit status says whether the answer was 2xx. */
#include "probe.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_value.h"

#define PROBE_TIMEOUT_MS_DEFAULT 2000
#define PROBE_TIMEOUT_MS_MAX 600000
#define PROBE_LISTEN_DEFAULT "127.0.0.1:8080" /* --listen's default for A */
/* An answer body is read and dropped; past this the probe stops reading
 * (a health answer is a few bytes, a stuck stream is not healthy). */
#define PROBE_BODY_MAX (1024 * 1024)

struct probe_options {
	const char *url;
	const char *ca_file;
	unsigned timeout_ms;
	int own_port; /* no URL given: the /readyz of this container's own service */
	char default_url[300];
};

struct probe_body {
	size_t bytes;
};

void probe_print_usage(FILE *out)
{
	fprintf(out, "       echosvc probe [URL] [--timeout-ms MS] [--ca FILE]\n");
}

/* The /readyz of the service this environment configures: ECHOSVC_LISTEN
 * (read as --listen reads it; unset: A's default) with a wildcard host made
 * loopback, https when ECHOSVC_TLS_CERT is set. So one health check line
 * fits A and B in an image whatever port each is given. Returns 0, or -1
 * when ECHOSVC_LISTEN is not HOST:PORT. */
static int default_url(char *url, size_t size)
{
	const char *listen = getenv("ECHOSVC_LISTEN");
	const char *tls = getenv("ECHOSVC_TLS_CERT");
	struct config_address address;
	char shown[CONFIG_HOST_MAX + 16];
	int n;

	if (config_value_address(listen != NULL && listen[0] != '\0' ? listen : PROBE_LISTEN_DEFAULT,
				 &address) != CONFIG_VALUE_OK)
		return -1;
	if (strcmp(address.host, "0.0.0.0") == 0)
		snprintf(address.host, sizeof(address.host), "127.0.0.1");
	else if (strcmp(address.host, "::") == 0)
		snprintf(address.host, sizeof(address.host), "::1");
	n = snprintf(url, size, "%s://%s/readyz", tls != NULL && tls[0] != '\0' ? "https" : "http",
		     config_format_address(&address, shown, sizeof(shown)));
	return n > 0 && (size_t)n < size ? 0 : -1;
}

static int usage(const char *message, const char *arg)
{
	fprintf(stderr, "echosvc probe: %s%.200s (expected: echosvc probe [URL] [--timeout-ms MS] "
			"[--ca FILE])\n", message, arg != NULL ? arg : "");
	return 2;
}

/* Returns 0 and fills opt, or the usage exit status. */
static int options_parse(struct probe_options *opt, int argc, char **argv)
{
	opt->url = NULL;
	opt->ca_file = NULL;
	opt->timeout_ms = PROBE_TIMEOUT_MS_DEFAULT;
	opt->own_port = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--timeout-ms") == 0 || strcmp(arg, "--ca") == 0) {
			if (i + 1 == argc)
				return usage("missing value after ", arg);
			i++;
			if (strcmp(arg, "--ca") == 0) {
				opt->ca_file = argv[i];
				continue;
			}
			if (config_value_number(argv[i], 1, PROBE_TIMEOUT_MS_MAX, &opt->timeout_ms) !=
			    CONFIG_VALUE_OK)
				return usage("--timeout-ms takes 1 to 600000, not ", argv[i]);
		} else if (arg[0] == '-') {
			return usage("unknown option ", arg);
		} else if (opt->url != NULL) {
			return usage("one URL only, not also ", arg);
		} else {
			opt->url = arg;
		}
	}
	if (opt->url == NULL) {
		if (default_url(opt->default_url, sizeof(opt->default_url)) < 0)
			return usage("no URL, and ECHOSVC_LISTEN is not HOST:PORT: ",
				     getenv("ECHOSVC_LISTEN"));
		opt->url = opt->default_url;
		opt->own_port = 1;
	}
	if (strncmp(opt->url, "http://", 7) != 0 && strncmp(opt->url, "https://", 8) != 0)
		return usage("the URL must start with http:// or https://: ", opt->url);
	return 0;
}

static size_t body_drop(char *data, size_t size, size_t count, void *userdata)
{
	struct probe_body *body = userdata;

	(void)data;
	body->bytes += size * count;
	/* returning less than given makes libcurl end the transfer */
	return body->bytes > PROBE_BODY_MAX ? 0 : size * count;
}

int probe_run(int argc, char **argv)
{
	struct probe_options opt;
	struct probe_body body = {0};
	char error[CURL_ERROR_SIZE] = "";
	long status = 0;
	int exit_status = 1;
	CURL *curl = NULL;
	CURLcode rc;

	int usage_status = options_parse(&opt, argc, argv);
	if (usage_status != 0)
		return usage_status;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "echosvc probe: libcurl cannot start\n");
		return 1;
	}
	curl = curl_easy_init();
	if (curl == NULL) {
		fprintf(stderr, "echosvc probe: out of memory\n");
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, opt.url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	/* a probe of a local port must not go through a proxy from the environment */
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)opt.timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)opt.timeout_ms);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "echosvc-probe");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_drop);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
	if (opt.ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, opt.ca_file);
	else if (opt.own_port) {
		/* its own port on loopback: whether it answers, not who it is (a
		 * certificate for a public name does not name 127.0.0.1) */
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr, "echosvc probe: %.300s: %s\n", opt.url,
			error[0] != '\0' ? error : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status <= 299) {
		printf("%.300s: %ld\n", opt.url, status);
		exit_status = 0;
	} else {
		fprintf(stderr, "echosvc probe: %.300s: status %ld\n", opt.url, status);
	}
out:
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return exit_status;
}
