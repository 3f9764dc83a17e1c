/* config_value.h - the parsers of option values: numbers, rates, addresses, A's URLs. */
#ifndef ECHOSVC_CONFIG_VALUE_H
#define ECHOSVC_CONFIG_VALUE_H

#include <stddef.h>

#include "config.h"

/* Why a value was refused: one convention for every parser here. */
enum config_value_error {
	CONFIG_VALUE_OK,
	CONFIG_VALUE_EMPTY,
	CONFIG_VALUE_NOT_NUMBER,
	CONFIG_VALUE_RANGE,
	CONFIG_VALUE_ADDRESS,
	CONFIG_VALUE_URL,
	CONFIG_VALUE_TOO_MANY_URLS,
	CONFIG_VALUE_CHOICE,
};

/* A whole number in decimal within min..max; no sign, no space. */
enum config_value_error config_value_number(const char *text, unsigned long min,
					    unsigned long max, unsigned *out);

/* A fraction from 0 to 1 in plain decimal ("0", "0.25", "1", ".5"). */
enum config_value_error config_value_rate(const char *text, double *out);

/* A file name, copied into dst (dst_size bytes); existence is checked at
 * start-up, not here. */
enum config_value_error config_value_path(const char *text, char *dst, size_t dst_size);

/* HOST:PORT or [V6]:PORT, port 0 to 65535. */
enum config_value_error config_value_address(const char *text, struct config_address *out);

/* URL[,URL…], each http[s]://host[:port] with at most a trailing slash. */
enum config_value_error config_value_urls(const char *text,
					  struct config_url urls_out[CONFIG_REPLICAS_MAX],
					  size_t *count_out);

#endif
