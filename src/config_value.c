/* config_value.c - the parsers of option values: numbers, rates, addresses, A's URLs. */
#include "config_value.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum config_value_error config_value_number(const char *text, unsigned long min,
				     unsigned long max, unsigned *out)
{
	char *end;
	unsigned long value;

	if (*text == '\0')
		return CONFIG_VALUE_EMPTY;
	if (!isdigit((unsigned char)*text))
		return CONFIG_VALUE_NOT_NUMBER; /* strtoul would accept " 5" and "-5" */
	errno = 0;
	value = strtoul(text, &end, 10);
	if (*end != '\0')
		return CONFIG_VALUE_NOT_NUMBER;
	if (errno == ERANGE || value < min || value > max)
		return CONFIG_VALUE_RANGE;
	*out = (unsigned)value;
	return CONFIG_VALUE_OK;
}

enum config_value_error config_value_rate(const char *text, double *out)
{
	size_t digits = 0, dots = 0;
	double value;

	if (*text == '\0')
		return CONFIG_VALUE_EMPTY;
	/* strtod alone would take "inf", "nan", "0x1p-2" and " 1" */
	for (const char *p = text; *p != '\0'; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.')
			dots++;
		else
			return CONFIG_VALUE_NOT_NUMBER;
	}
	if (digits == 0 || dots > 1)
		return CONFIG_VALUE_NOT_NUMBER;
	value = strtod(text, NULL);
	if (value < 0 || value > 1)
		return CONFIG_VALUE_RANGE;
	*out = value;
	return CONFIG_VALUE_OK;
}

/* A host name or IPv4 literal: letters, digits, dots, dashes, underscores. */
static bool host_name_valid(const char *host, size_t len)
{
	if (len == 0 || len >= CONFIG_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != '_')
			return false;
	}
	return true;
}

static bool host_v6_valid(const char *host, size_t len)
{
	if (len < 2 || len >= CONFIG_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!isxdigit(c) && c != ':' && c != '.')
			return false;
	}
	return true;
}

/*
 * Splits "host:port" or "[v6]:port" (port optional when default_port is
 * not 0) into its parts. The host is copied without brackets.
 */
static enum config_value_error parse_host_port(const char *text, char host[CONFIG_HOST_MAX],
					unsigned *port, unsigned min_port,
					unsigned default_port)
{
	const char *host_start = text, *host_end, *rest;
	bool v6 = false;

	if (*text == '[') {
		host_start = text + 1;
		host_end = strchr(host_start, ']');
		if (host_end == NULL)
			return CONFIG_VALUE_ADDRESS;
		rest = host_end + 1;
		v6 = true;
	} else {
		host_end = strchr(text, ':');
		if (host_end == NULL)
			host_end = text + strlen(text);
		rest = host_end;
	}
	size_t host_len = (size_t)(host_end - host_start);

	if (v6 ? !host_v6_valid(host_start, host_len) : !host_name_valid(host_start, host_len))
		return CONFIG_VALUE_ADDRESS;
	if (*rest == '\0') {
		if (default_port == 0)
			return CONFIG_VALUE_ADDRESS;
		*port = default_port;
	} else {
		if (*rest != ':' ||
		    config_value_number(rest + 1, min_port, 65535, port) != CONFIG_VALUE_OK)
			return CONFIG_VALUE_ADDRESS;
	}
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	return CONFIG_VALUE_OK;
}

enum config_value_error config_value_address(const char *text, struct config_address *out)
{
	struct config_address parsed;

	if (*text == '\0')
		return CONFIG_VALUE_EMPTY;
	if (parse_host_port(text, parsed.host, &parsed.port, 0, 0) != CONFIG_VALUE_OK)
		return CONFIG_VALUE_ADDRESS;
	*out = parsed;
	return CONFIG_VALUE_OK;
}

/* One "http[s]://host[:port]" with at most a trailing "/". */
static enum config_value_error parse_url(const char *text, size_t len, struct config_url *out)
{
	static const char *const schemes[] = {"http://", "https://"};
	char authority[CONFIG_URL_MAX - 8];
	size_t authority_len, scheme_len = 0;
	bool tls = false;

	for (size_t i = 0; i < 2; i++)
		if (len > strlen(schemes[i]) && strncasecmp(text, schemes[i], strlen(schemes[i])) == 0) {
			scheme_len = strlen(schemes[i]);
			tls = i == 1;
		}
	if (scheme_len == 0)
		return CONFIG_VALUE_URL;
	if (text[len - 1] == '/')
		len--; /* "http://a:1/" names the same base as "http://a:1" */
	authority_len = len - scheme_len;
	if (authority_len == 0 || authority_len >= sizeof(authority))
		return CONFIG_VALUE_URL;
	memcpy(authority, text + scheme_len, authority_len);
	authority[authority_len] = '\0';
	if (parse_host_port(authority, out->host, &out->port, 1, tls ? 443 : 80) != CONFIG_VALUE_OK)
		return CONFIG_VALUE_URL;
	snprintf(out->base, sizeof(out->base), "%s%s", schemes[tls], authority);
	out->tls = tls;
	return CONFIG_VALUE_OK;
}

enum config_value_error config_value_path(const char *text, char *dst, size_t dst_size)
{
	size_t len = strlen(text);

	if (len == 0)
		return CONFIG_VALUE_EMPTY;
	if (len >= dst_size)
		return CONFIG_VALUE_RANGE;
	memcpy(dst, text, len + 1);
	return CONFIG_VALUE_OK;
}

enum config_value_error config_value_urls(const char *text,
					  struct config_url urls_out[CONFIG_REPLICAS_MAX],
					  size_t *count_out)
{
	struct config_url urls[CONFIG_REPLICAS_MAX];
	size_t count = 0;
	const char *start = text;

	if (*text == '\0')
		return CONFIG_VALUE_EMPTY;
	for (;;) {
		const char *comma = strchr(start, ',');
		size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);

		if (count == CONFIG_REPLICAS_MAX)
			return CONFIG_VALUE_TOO_MANY_URLS;
		if (parse_url(start, len, &urls[count]) != CONFIG_VALUE_OK)
			return CONFIG_VALUE_URL;
		count++;
		if (comma == NULL)
			break;
		start = comma + 1;
	}
	memcpy(urls_out, urls, count * sizeof(urls[0]));
	*count_out = count;
	return CONFIG_VALUE_OK;
}

