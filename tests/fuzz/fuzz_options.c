/* fuzz_options.c - libFuzzer: the option parser on any argv (NUL-separated words). */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ARGS_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *argv[ARGS_MAX + 2];
	char error[CONFIG_ERROR_MAX];
	struct config cfg;
	int argc = 1;
	size_t start = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[0] = (char *)"echosvc";
	for (size_t i = 0; i <= size && argc <= ARGS_MAX; i++)
		if (text[i] == '\0') {
			argv[argc++] = text + start;
			start = i + 1;
		}
	argv[argc] = NULL;
	switch (config_parse(&cfg, argc, argv, error)) {
	case CONFIG_USAGE:
		/* one line, bounded, naming what was wrong */
		assert(strlen(error) > 0 && strlen(error) < CONFIG_ERROR_MAX);
		assert(strchr(error, '\n') == NULL);
		break;
	case CONFIG_RUN:
	case CONFIG_CHECK:
		/* what was accepted is within the table's bounds */
		if (cfg.role != CONFIG_ROLE_UP) {
			assert(cfg.listen.port <= 65535);
			assert(cfg.threads >= 1 && cfg.threads <= 256);
			assert(cfg.max_msg_bytes <= 8192);
		}
		if (cfg.role == CONFIG_ROLE_B)
			assert(cfg.service_a_count >= 1 && cfg.service_a_count <= CONFIG_REPLICAS_MAX);
		break;
	default:
		break;
	}
	free(text);
	return 0;
}
