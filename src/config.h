/* config.h - the option table: flags, ECHOSVC_* variables, defaults, bounds, help. */
#ifndef ECHOSVC_CONFIG_H
#define ECHOSVC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_HOST_MAX 256     /* longest host name or address, with NUL */
#define CONFIG_URL_MAX 300      /* longest replica base URL, with NUL */
#define CONFIG_REPLICAS_MAX 16  /* most replicas of A that B accepts */
#define CONFIG_ERROR_MAX 1400   /* room for one usage error line (a path may be long) */
#define CONFIG_PATH_MAX 1024    /* longest file name, with NUL */

/* Which command an option applies to; an option names a mask of these. */
enum config_role {
	CONFIG_ROLE_A = 1,
	CONFIG_ROLE_B = 2,
	CONFIG_ROLE_UP = 4,
};

enum config_log_format {
	CONFIG_LOG_TEXT,
	CONFIG_LOG_JSON,
};

/* Where an effective value came from, for --check-config. */
enum config_source {
	CONFIG_SOURCE_DEFAULT,
	CONFIG_SOURCE_ENV,
	CONFIG_SOURCE_FLAG,
};

/* One row per option of the table, in the order --help lists them. */
enum config_option_id {
	CONFIG_LISTEN,
	CONFIG_LISTEN_A,
	CONFIG_LISTEN_B,
	CONFIG_SERVICE_A,
	CONFIG_TIMEOUT_MS,
	CONFIG_CONNECT_TIMEOUT_MS,
	CONFIG_RETRIES,
	CONFIG_MAX_INFLIGHT,
	CONFIG_BREAKER_FAILURES,
	CONFIG_BREAKER_OPEN_MS,
	CONFIG_MAX_MSG_BYTES,
	CONFIG_THREADS,
	CONFIG_MAX_CONNECTIONS,
	CONFIG_MAX_CONNECTIONS_PER_IP,
	CONFIG_HEADER_TIMEOUT_MS,
	CONFIG_DRAIN_MS,
	CONFIG_SHUTDOWN_DELAY_MS,
	CONFIG_FAULT_ERROR_RATE,
	CONFIG_FAULT_ERROR_CODE,
	CONFIG_FAULT_DELAY_MS,
	CONFIG_FAULT_DELAY_RATE,
	CONFIG_FAULT_SEED,
	CONFIG_TLS_CERT,
	CONFIG_TLS_KEY,
	CONFIG_TLS_CLIENT_CA,
	CONFIG_SERVICE_A_CA,
	CONFIG_SERVICE_A_CERT,
	CONFIG_SERVICE_A_KEY,
	CONFIG_LOG_FORMAT,
	CONFIG_OPTION_COUNT
};

/* A listening address; host holds no brackets, even for IPv6. */
struct config_address {
	char host[CONFIG_HOST_MAX];
	unsigned port;
};

/* A replica of A: base is "http[s]://host[:port]" as given (the scheme in
 * lower case), without a trailing slash; host and port are its parts (port
 * 80, or 443 for https, when none was given). */
struct config_url {
	char base[CONFIG_URL_MAX];
	char host[CONFIG_HOST_MAX];
	unsigned port;
	bool tls;
};

struct config {
	enum config_role role;
	struct config_address listen;
	struct config_address listen_a;  /* up only */
	struct config_address listen_b;  /* up only */
	struct config_url service_a[CONFIG_REPLICAS_MAX];
	size_t service_a_count;
	unsigned timeout_ms;
	unsigned connect_timeout_ms;
	unsigned retries;
	unsigned max_inflight;
	unsigned breaker_failures;
	unsigned breaker_open_ms;
	unsigned max_msg_bytes;
	unsigned threads;           /* 0 is resolved to the CPU count */
	unsigned max_connections;
	unsigned max_connections_per_ip; /* 0: only max_connections applies */
	unsigned header_timeout_ms;
	unsigned drain_ms;
	unsigned shutdown_delay_ms;
	double fault_error_rate;    /* 0..1 of main-route requests */
	unsigned fault_error_code;
	unsigned fault_delay_ms;
	double fault_delay_rate;    /* 0..1 */
	unsigned fault_seed;        /* 0: random */
	/* TLS files; "" when not given */
	char tls_cert[CONFIG_PATH_MAX];
	char tls_key[CONFIG_PATH_MAX];
	char tls_client_ca[CONFIG_PATH_MAX];
	char service_a_ca[CONFIG_PATH_MAX];
	char service_a_cert[CONFIG_PATH_MAX];
	char service_a_key[CONFIG_PATH_MAX];
	enum config_log_format log_format;
	enum config_source source[CONFIG_OPTION_COUNT];
};

/* What config_parse() found the command line asks for. */
enum config_result {
	CONFIG_RUN,      /* cfg is complete: run the role */
	CONFIG_HELP,     /* print config_print_help(), exit 0 */
	CONFIG_VERSION,  /* print the version, exit 0 */
	CONFIG_CHECK,    /* print config_print(), exit 0 */
	CONFIG_USAGE,    /* error holds one line; exit 2 */
};

/*
 * Fills cfg from defaults, then ECHOSVC_* environment variables, then argv
 * (argv[1] is the command). On CONFIG_USAGE, error holds one line naming the
 * flag or variable, the value and what was expected. Reads the environment
 * with getenv(); not thread-safe against setenv().
 */
enum config_result config_parse(struct config *cfg, int argc, char **argv,
				char error[CONFIG_ERROR_MAX]);

/* Writes the usage text: every command, or one role's options when cfg->role
 * is set by a parse that returned CONFIG_HELP after a command. */
void config_print_help(FILE *out, const struct config *cfg);

/* Writes each effective option of cfg's role, with where it came from. */
void config_print(FILE *out, const struct config *cfg);

/* Writes an address as HOST:PORT, with brackets for IPv6. Returns dst. */
char *config_format_address(const struct config_address *address, char *dst,
			    size_t dst_size);

/* The option's flag name without dashes ("timeout-ms"), for docs and tests. */
const char *config_option_name(enum config_option_id id);

/* The command-line name of a role ("serve-a"). */
const char *config_role_name(enum config_role role);

#endif
