/* config.c - the option table and the parsing of argv and ECHOSVC_* variables. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_value.h"
#include "probe.h"
#include "version.h"

enum config_type {
	TYPE_ADDRESS,  /* HOST:PORT or [V6]:PORT */
	TYPE_URLS,     /* http://host[:port][,http://…] */
	TYPE_NUMBER,   /* unsigned, within min..max */
	TYPE_RATE,     /* double, 0 to 1 */
	TYPE_FILE,     /* a file name; no default: "" */
	TYPE_LOG_FORMAT,
};


struct config_option {
	const char *name;
	enum config_type type;
	unsigned roles;
	const char *default_value;    /* parsed like any other value; NULL: none */
	const char *default_b;        /* serve-b's default when it differs */
	unsigned long min, max;       /* TYPE_NUMBER bounds */
	size_t offset;                /* where the value lives in struct config */
	const char *value_name;
	const char *help;
};

#define AB (CONFIG_ROLE_A | CONFIG_ROLE_B)
#define FIELD(f) offsetof(struct config, f)

/* The one table: adding an option is adding a row (and an enum entry). */
static const struct config_option options[CONFIG_OPTION_COUNT] = {
	[CONFIG_LISTEN] = {"listen", TYPE_ADDRESS, AB, "127.0.0.1:8080", "127.0.0.1:8081",
		0, 0, FIELD(listen), "HOST:PORT",
		"where to listen; [::1]:PORT for IPv6; port 0 picks a free port"},
	[CONFIG_LISTEN_A] = {"listen-a", TYPE_ADDRESS, CONFIG_ROLE_UP, "127.0.0.1:8080", NULL,
		0, 0, FIELD(listen_a), "HOST:PORT", "where up starts service A (port 1-65535)"},
	[CONFIG_LISTEN_B] = {"listen-b", TYPE_ADDRESS, CONFIG_ROLE_UP, "127.0.0.1:8081", NULL,
		0, 0, FIELD(listen_b), "HOST:PORT", "where up starts service B"},
	[CONFIG_SERVICE_A] = {"service-a", TYPE_URLS, CONFIG_ROLE_B, "http://127.0.0.1:8080", NULL,
		0, 0, FIELD(service_a), "URL[,URL...]",
		"A's base URL, http://host[:port] or https://host[:port]; several are replicas"},
	[CONFIG_TIMEOUT_MS] = {"timeout-ms", TYPE_NUMBER, CONFIG_ROLE_B, "2000", NULL,
		1, 3600000, FIELD(timeout_ms), "N", "whole-attempt limit for one call to A"},
	[CONFIG_CONNECT_TIMEOUT_MS] = {"connect-timeout-ms", TYPE_NUMBER, CONFIG_ROLE_B, "500", NULL,
		1, 600000, FIELD(connect_timeout_ms), "N", "connect limit for one call to A"},
	[CONFIG_RETRIES] = {"retries", TYPE_NUMBER, CONFIG_ROLE_B, "1", NULL,
		0, 10, FIELD(retries), "N",
		"extra attempts after a connect failure, each on the next replica"},
	[CONFIG_MAX_INFLIGHT] = {"max-inflight", TYPE_NUMBER, CONFIG_ROLE_B, "1024", NULL,
		1, 100000, FIELD(max_inflight), "N",
		"calls to A in flight at once; past it B answers 503 at once"},
	[CONFIG_BREAKER_FAILURES] = {"breaker-failures", TYPE_NUMBER, CONFIG_ROLE_B, "5", NULL,
		1, 1000000, FIELD(breaker_failures), "N",
		"consecutive failures that open a replica's circuit"},
	[CONFIG_BREAKER_OPEN_MS] = {"breaker-open-ms", TYPE_NUMBER, CONFIG_ROLE_B, "2000", NULL,
		1, 3600000, FIELD(breaker_open_ms), "N",
		"how long an open circuit fails fast before one trial call"},
	[CONFIG_MAX_MSG_BYTES] = {"max-msg-bytes", TYPE_NUMBER, AB, "4096", NULL,
		0, 8192, FIELD(max_msg_bytes), "N",
		"longest accepted msg, in bytes after decoding"},
	[CONFIG_THREADS] = {"threads", TYPE_NUMBER, AB, "0", NULL,
		0, 256, FIELD(threads), "N",
		"event loops, one thread each; 0 means one per CPU this process may use"},
	[CONFIG_MAX_CONNECTIONS] = {"max-connections", TYPE_NUMBER, AB, "1024", NULL,
		1, 65536, FIELD(max_connections), "N", "client connections held at once"},
	[CONFIG_MAX_CONNECTIONS_PER_IP] = {"max-connections-per-ip", TYPE_NUMBER, AB, "0", NULL,
		0, 65536, FIELD(max_connections_per_ip), "N",
		"client connections from one IP address at once; 0 means no separate limit"},
	[CONFIG_HEADER_TIMEOUT_MS] = {"header-timeout-ms", TYPE_NUMBER, AB, "10000", NULL,
		100, 600000, FIELD(header_timeout_ms), "N",
		"the request line and headers must arrive within this long of the first byte, else 408 and close"},
	[CONFIG_DRAIN_MS] = {"drain-ms", TYPE_NUMBER, AB, "5000", NULL,
		0, 600000, FIELD(drain_ms), "N",
		"how long shutdown waits for requests in flight"},
	[CONFIG_SHUTDOWN_DELAY_MS] = {"shutdown-delay-ms", TYPE_NUMBER, AB, "0", NULL,
		0, 600000, FIELD(shutdown_delay_ms), "N",
		"after a stop signal, keep serving (with /readyz at 503) this long before closing the listening sockets"},
	[CONFIG_FAULT_ERROR_RATE] = {"fault-error-rate", TYPE_RATE, AB, "0", NULL,
		0, 0, FIELD(fault_error_rate), "R",
		"fraction (0-1) of main-route requests answered with an injected error"},
	[CONFIG_FAULT_ERROR_CODE] = {"fault-error-code", TYPE_NUMBER, AB, "500", NULL,
		400, 599, FIELD(fault_error_code), "C", "status of an injected error"},
	[CONFIG_FAULT_DELAY_MS] = {"fault-delay-ms", TYPE_NUMBER, AB, "0", NULL,
		0, 600000, FIELD(fault_delay_ms), "N",
		"injected delay before the answer; 0 means none"},
	[CONFIG_FAULT_DELAY_RATE] = {"fault-delay-rate", TYPE_RATE, AB, "1", NULL,
		0, 0, FIELD(fault_delay_rate), "R",
		"fraction (0-1) of main-route requests that get the delay"},
	[CONFIG_FAULT_SEED] = {"fault-seed", TYPE_NUMBER, AB, "0", NULL,
		0, 4294967295u, FIELD(fault_seed), "S",
		"0 means random; otherwise the fault decisions repeat from start-up (exactly, with --threads 1)"},
	[CONFIG_TLS_CERT] = {"tls-cert", TYPE_FILE, AB, NULL, NULL,
		0, 0, FIELD(tls_cert), "FILE",
		"serve HTTPS (TLS 1.2 and 1.3) with this PEM certificate chain; SIGHUP reloads it"},
	[CONFIG_TLS_KEY] = {"tls-key", TYPE_FILE, AB, NULL, NULL,
		0, 0, FIELD(tls_key), "FILE", "the PEM private key of --tls-cert; SIGHUP reloads it"},
	[CONFIG_TLS_CLIENT_CA] = {"tls-client-ca", TYPE_FILE, AB, NULL, NULL,
		0, 0, FIELD(tls_client_ca), "FILE",
		"require client certificates signed by this PEM CA (mutual TLS); SIGHUP reloads it"},
	[CONFIG_SERVICE_A_CA] = {"service-a-ca", TYPE_FILE, CONFIG_ROLE_B, NULL, NULL,
		0, 0, FIELD(service_a_ca), "FILE",
		"PEM CA that an https:// A's certificate must chain to; none means the system store"},
	[CONFIG_SERVICE_A_CERT] = {"service-a-cert", TYPE_FILE, CONFIG_ROLE_B, NULL, NULL,
		0, 0, FIELD(service_a_cert), "FILE", "PEM client certificate B presents to A"},
	[CONFIG_SERVICE_A_KEY] = {"service-a-key", TYPE_FILE, CONFIG_ROLE_B, NULL, NULL,
		0, 0, FIELD(service_a_key), "FILE", "the PEM private key of --service-a-cert"},
	[CONFIG_LOG_FORMAT] = {"log-format", TYPE_LOG_FORMAT, AB | CONFIG_ROLE_UP, "text", NULL,
		0, 0, FIELD(log_format), "text|json", "log line format"},
};

static const struct {
	enum config_role role;
	const char *name;
	const char *summary;
} commands[] = {
	{CONFIG_ROLE_A, "serve-a", "run service A, the echo service"},
	{CONFIG_ROLE_B, "serve-b", "run service B, the front service that calls A"},
	{CONFIG_ROLE_UP, "up", "run A and B as two child processes (local demo)"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

const char *config_option_name(enum config_option_id id)
{
	return options[id].name;
}

const char *config_role_name(enum config_role role)
{
	for (size_t i = 0; i < COUNT(commands); i++)
		if (commands[i].role == role)
			return commands[i].name;
	return "echosvc";
}

/* "timeout-ms" -> "ECHOSVC_TIMEOUT_MS" */
static void env_name(const struct config_option *opt, char *dst, size_t dst_size)
{
	size_t n = (size_t)snprintf(dst, dst_size, "ECHOSVC_%s", opt->name);

	for (size_t i = 0; i < n && i < dst_size; i++)
		dst[i] = dst[i] == '-' ? '_' : (char)toupper((unsigned char)dst[i]);
}

static enum config_value_error parse_value(const struct config_option *opt, const char *text,
				    struct config *cfg)
{
	void *field = (char *)cfg + opt->offset;

	switch (opt->type) {
	case TYPE_ADDRESS:
		return config_value_address(text, field);
	case TYPE_URLS:
		return config_value_urls(text, cfg->service_a, &cfg->service_a_count);
	case TYPE_NUMBER:
		return config_value_number(text, opt->min, opt->max, field);
	case TYPE_RATE:
		return config_value_rate(text, field);
	case TYPE_FILE:
		return config_value_path(text, field, CONFIG_PATH_MAX);
	case TYPE_LOG_FORMAT:
		if (strcmp(text, "text") == 0)
			cfg->log_format = CONFIG_LOG_TEXT;
		else if (strcmp(text, "json") == 0)
			cfg->log_format = CONFIG_LOG_JSON;
		else
			return CONFIG_VALUE_CHOICE;
		return CONFIG_VALUE_OK;
	}
	return CONFIG_VALUE_CHOICE;
}

/* What a value of this option must look like, for usage errors and help. */
static void expected_text(const struct config_option *opt, char *dst, size_t dst_size)
{
	switch (opt->type) {
	case TYPE_ADDRESS:
		snprintf(dst, dst_size, "HOST:PORT with a port from 0 to 65535, [::1]:PORT for IPv6");
		break;
	case TYPE_URLS:
		snprintf(dst, dst_size,
			 "http://host[:port] or https://host[:port], several separated by commas (at most %d)",
			 CONFIG_REPLICAS_MAX);
		break;
	case TYPE_NUMBER:
		snprintf(dst, dst_size, "a whole number from %lu to %lu", opt->min, opt->max);
		break;
	case TYPE_RATE:
		snprintf(dst, dst_size, "a fraction from 0 to 1, such as 0.25");
		break;
	case TYPE_FILE:
		snprintf(dst, dst_size, "a file name (at most %d bytes)", CONFIG_PATH_MAX - 1);
		break;
	case TYPE_LOG_FORMAT:
		snprintf(dst, dst_size, "text or json");
		break;
	}
}

static void value_error(const struct config_option *opt, const char *origin,
			const char *value, enum config_value_error why, char *error)
{
	char expected[160];
	const char *what = "is not valid";

	expected_text(opt, expected, sizeof(expected));
	if (why == CONFIG_VALUE_RANGE)
		what = "is out of range";
	else if (why == CONFIG_VALUE_TOO_MANY_URLS)
		what = "names too many replicas";
	else if (why == CONFIG_VALUE_EMPTY)
		what = "is empty";
	/* %.*s: a hostile value cannot make the line longer than the buffer */
	snprintf(error, CONFIG_ERROR_MAX, "echosvc: %s: '%.200s' %s: expected %s", origin,
		 value, what, expected);
}

static int apply_value(struct config *cfg, enum config_option_id id, const char *text,
		       const char *origin, enum config_source source, char *error)
{
	enum config_value_error why = parse_value(&options[id], text, cfg);

	if (why != CONFIG_VALUE_OK) {
		value_error(&options[id], origin, text, why, error);
		return -1;
	}
	cfg->source[id] = source;
	return 0;
}

static int find_option(const char *name, size_t len)
{
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
			return i;
	return -1;
}

static int apply_defaults(struct config *cfg, char *error)
{
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++) {
		const struct config_option *opt = &options[i];
		const char *value = opt->default_value;

		if (!(opt->roles & cfg->role) || value == NULL)
			continue;
		if (cfg->role == CONFIG_ROLE_B && opt->default_b != NULL)
			value = opt->default_b;
		if (apply_value(cfg, (enum config_option_id)i, value, "default",
				CONFIG_SOURCE_DEFAULT, error) < 0)
			return -1;
	}
	return 0;
}

/* Variables of options that do not apply to this role are ignored: up's
 * children share one environment. */
static int apply_environment(struct config *cfg, char *error)
{
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++) {
		char name[64];
		const char *value;

		if (!(options[i].roles & cfg->role))
			continue;
		env_name(&options[i], name, sizeof(name));
		value = getenv(name);
		if (value != NULL &&
		    apply_value(cfg, (enum config_option_id)i, value, name, CONFIG_SOURCE_ENV,
				error) < 0)
			return -1;
	}
	return 0;
}

static enum config_result apply_flags(struct config *cfg, int argc, char **argv,
				      char *error)
{
	bool check = false;

	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		const char *name, *equals, *value;
		size_t name_len;
		int id;
		char origin[64];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return CONFIG_HELP;
		if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0)
			return CONFIG_VERSION;
		if (strcmp(arg, "--check-config") == 0) {
			check = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(error, CONFIG_ERROR_MAX,
				 "echosvc: unexpected argument '%.200s' (see echosvc %s --help)",
				 arg, config_role_name(cfg->role));
			return CONFIG_USAGE;
		}
		name = arg + 2;
		equals = strchr(name, '=');
		name_len = equals != NULL ? (size_t)(equals - name) : strlen(name);
		id = find_option(name, name_len);
		if (id < 0 || !(options[id].roles & cfg->role)) {
			snprintf(error, CONFIG_ERROR_MAX,
				 "echosvc: unknown option '--%.*s' for %s (see echosvc %s --help)",
				 (int)(name_len > 200 ? 200 : name_len), name,
				 config_role_name(cfg->role), config_role_name(cfg->role));
			return CONFIG_USAGE;
		}
		snprintf(origin, sizeof(origin), "--%s", options[id].name);
		if (equals != NULL) {
			value = equals + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			char expected[160];

			expected_text(&options[id], expected, sizeof(expected));
			snprintf(error, CONFIG_ERROR_MAX, "echosvc: %s: missing value: expected %s",
				 origin, expected);
			return CONFIG_USAGE;
		}
		if (apply_value(cfg, (enum config_option_id)id, value, origin, CONFIG_SOURCE_FLAG,
				error) < 0)
			return CONFIG_USAGE;
	}
	return check ? CONFIG_CHECK : CONFIG_RUN;
}

/* Checks that need more than one value. */
static int validate(struct config *cfg, char *error)
{
	if (cfg->role == CONFIG_ROLE_UP) {
		/* B is pointed at A's address, so A's port must be known up front */
		if (cfg->listen_a.port == 0) {
			snprintf(error, CONFIG_ERROR_MAX,
				 "echosvc: --listen-a: port 0 is not valid for up: expected a port from 1 to 65535");
			return -1;
		}
	}
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
		snprintf(error, CONFIG_ERROR_MAX,
			 "echosvc: --tls-cert and --tls-key go together: expected both or neither");
		return -1;
	}
	if (cfg->tls_client_ca[0] != '\0' && cfg->tls_cert[0] == '\0') {
		snprintf(error, CONFIG_ERROR_MAX,
			 "echosvc: --tls-client-ca needs --tls-cert and --tls-key: client certificates are asked for in a TLS handshake");
		return -1;
	}
	if ((cfg->service_a_cert[0] == '\0') != (cfg->service_a_key[0] == '\0')) {
		snprintf(error, CONFIG_ERROR_MAX,
			 "echosvc: --service-a-cert and --service-a-key go together: expected both or neither");
		return -1;
	}
	if ((cfg->role & (CONFIG_ROLE_A | CONFIG_ROLE_B)) && cfg->threads == 0) {
		/* The CPUs this process may run on, not those the machine has:
		 * a container limited by a cpuset gets its own count. */
		cpu_set_t cpus;
		long count = sched_getaffinity(0, sizeof(cpus), &cpus) == 0
				     ? CPU_COUNT(&cpus)
				     : sysconf(_SC_NPROCESSORS_ONLN);

		cfg->threads = count < 1 ? 1 : count > 256 ? 256 : (unsigned)count;
	}
	return 0;
}

/* A usage error quotes what it was given, which may hold any byte: control
 * characters become '?', so that the message stays one line. */
static void one_line(char *error)
{
	for (char *p = error; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F)
			*p = '?';
}

static enum config_result parse(struct config *cfg, int argc, char **argv, char *error)
{
	const char *command = argc > 1 ? argv[1] : NULL;
	enum config_result result;

	memset(cfg, 0, sizeof(*cfg));
	error[0] = '\0';
	if (command == NULL) {
		snprintf(error, CONFIG_ERROR_MAX,
			 "echosvc: missing command: expected serve-a, serve-b, up or probe (see echosvc --help)");
		return CONFIG_USAGE;
	}
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
	    strcmp(command, "help") == 0)
		return CONFIG_HELP;
	if (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0)
		return CONFIG_VERSION;
	for (size_t i = 0; i < COUNT(commands); i++)
		if (strcmp(command, commands[i].name) == 0)
			cfg->role = commands[i].role;
	if (cfg->role == 0) {
		snprintf(error, CONFIG_ERROR_MAX,
			 "echosvc: unknown command '%.200s': expected serve-a, serve-b, up or probe (see echosvc --help)",
			 command);
		return CONFIG_USAGE;
	}
	if (apply_defaults(cfg, error) < 0 || apply_environment(cfg, error) < 0)
		result = CONFIG_USAGE;
	else
		result = apply_flags(cfg, argc, argv, error);
	if ((result == CONFIG_RUN || result == CONFIG_CHECK) && validate(cfg, error) < 0)
		result = CONFIG_USAGE;
	return result;
}

enum config_result config_parse(struct config *cfg, int argc, char **argv,
				char error[CONFIG_ERROR_MAX])
{
	enum config_result result = parse(cfg, argc, argv, error);

	if (result == CONFIG_USAGE)
		one_line(error);
	return result;
}

char *config_format_address(const struct config_address *address, char *dst,
			    size_t dst_size)
{
	bool v6 = strchr(address->host, ':') != NULL;

	snprintf(dst, dst_size, v6 ? "[%s]:%u" : "%s:%u", address->host, address->port);
	return dst;
}

static void format_value(const struct config *cfg, const struct config_option *opt,
			 char *dst, size_t dst_size)
{
	const void *field = (const char *)cfg + opt->offset;
	size_t used = 0;

	dst[0] = '\0';
	switch (opt->type) {
	case TYPE_ADDRESS:
		config_format_address(field, dst, dst_size);
		break;
	case TYPE_URLS:
		for (size_t i = 0; i < cfg->service_a_count && used < dst_size; i++)
			used += (size_t)snprintf(dst + used, dst_size - used, "%s%s",
						 i > 0 ? "," : "", cfg->service_a[i].base);
		break;
	case TYPE_NUMBER:
		snprintf(dst, dst_size, "%u", *(const unsigned *)field);
		break;
	case TYPE_RATE:
		snprintf(dst, dst_size, "%g", *(const double *)field);
		break;
	case TYPE_FILE:
		snprintf(dst, dst_size, "%s", *(const char *)field != '\0' ? (const char *)field : "none");
		break;
	case TYPE_LOG_FORMAT:
		snprintf(dst, dst_size, "%s", cfg->log_format == CONFIG_LOG_JSON ? "json" : "text");
		break;
	}
}

void config_print(FILE *out, const struct config *cfg)
{
	fprintf(out, "command = %s\n", config_role_name(cfg->role));
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++) {
		const struct config_option *opt = &options[i];
		char value[CONFIG_REPLICAS_MAX * CONFIG_URL_MAX];
		char name[64];

		if (!(opt->roles & cfg->role))
			continue;
		format_value(cfg, opt, value, sizeof(value));
		env_name(opt, name, sizeof(name));
		switch (cfg->source[i]) {
		case CONFIG_SOURCE_DEFAULT:
			fprintf(out, "%s = %s (default%s)\n", opt->name, value,
				i == CONFIG_THREADS ? ": one per CPU" : "");
			break;
		case CONFIG_SOURCE_ENV:
			fprintf(out, "%s = %s (environment %s)\n", opt->name, value, name);
			break;
		case CONFIG_SOURCE_FLAG:
			fprintf(out, "%s = %s (flag --%s)\n", opt->name, value, opt->name);
			break;
		}
	}
}

void config_print_help(FILE *out, const struct config *cfg)
{
	fprintf(out, "echosvc %s - an echo service (A) and a front service (B) that calls it\n\n",
		ECHOSVC_VERSION);
	fprintf(out, "usage: echosvc serve-a [options]\n"
		     "       echosvc serve-b [options]\n"
		     "       echosvc up [--listen-a HOST:PORT] [--listen-b HOST:PORT]\n");
	if (cfg == NULL || cfg->role == 0)
		probe_print_usage(out);
	fprintf(out, "       echosvc --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < COUNT(commands); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "  %-9s %s\n", "probe",
		"GET a URL once; exit 0 on a 2xx answer, 1 otherwise (a health check)");
	fprintf(out, "\noptions (each also as ECHOSVC_<NAME>; a flag beats the environment):\n");
	for (int i = 0; i < CONFIG_OPTION_COUNT; i++) {
		const struct config_option *opt = &options[i];
		char flag[64], defaults[80], name[64], roles[16];

		if (cfg != NULL && cfg->role != 0 && !(opt->roles & cfg->role))
			continue;
		snprintf(flag, sizeof(flag), "--%s %s", opt->name, opt->value_name);
		env_name(opt, name, sizeof(name));
		if (opt->default_b != NULL)
			snprintf(defaults, sizeof(defaults), "A %s, B %s", opt->default_value,
				 opt->default_b);
		else
			snprintf(defaults, sizeof(defaults), "%s",
				 opt->default_value != NULL ? opt->default_value : "none");
		snprintf(roles, sizeof(roles), "%s%s%s%s%s",
			 (opt->roles & CONFIG_ROLE_A) ? "A" : "",
			 (opt->roles & CONFIG_ROLE_A) && (opt->roles & CONFIG_ROLE_B) ? ", " : "",
			 (opt->roles & CONFIG_ROLE_B) ? "B" : "",
			 (opt->roles & CONFIG_ROLE_UP) && (opt->roles & ~CONFIG_ROLE_UP) ? ", " : "",
			 (opt->roles & CONFIG_ROLE_UP) ? "up" : "");
		fprintf(out, "  %-30s %s\n  %-30s %s; default %s; %s\n", flag, opt->help, "",
			roles, defaults, name);
	}
	fprintf(out, "  %-32s %s\n", "--check-config",
		"print the effective configuration and where each value came from, then exit");
}
