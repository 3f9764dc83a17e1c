/* mhd_quirks.c - what differs between the libmicrohttpd versions echosvc knows (0.9.75, 1.0.x), in one place. */
#include "mhd_quirks.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/* The versions this module knows, as MHD_VERSION numbers. */
#define KNOWN_0_9_75 0x00097500UL
#define KNOWN_1_0 0x01000000UL
#define KNOWN_1_1 0x01010000UL     /* first not known */
#define DISCIPLINE_SINCE 0x00097701UL
#define DISCIPLINE_STRICT 1        /* RFC 9112's limits for a server, no leniency */

#if MHD_VERSION < KNOWN_0_9_75
#error "libmicrohttpd 0.9.75 or later is needed"
#endif

/* What mhd_quirks_init() found; read-only once the loops run. */
static bool discipline;       /* MHD_OPTION_CLIENT_DISCIPLINE_LVL known to the build and the library */
static bool hides_head_bytes;

/* "1.0.1" as 0x01000100; 0 when it does not parse. */
static unsigned long version_number(const char *text)
{
	unsigned long parts[4] = {0}, number = 0;
	const char *p = text;

	for (int i = 0; i < 4 && p != NULL && *p != '\0'; i++) {
		char *end;

		parts[i] = strtoul(p, &end, 10);
		if (end == p || parts[i] > 255)
			return 0;
		p = *end == '.' ? end + 1 : NULL;
	}
	for (int i = 0; i < 4; i++)
		number = number << 8 | (parts[i] / 10 * 16 + parts[i] % 10);
	return number;
}

const char *mhd_quirks_init(void)
{
	static char warning[160];
	const char *version = MHD_get_version();
	unsigned long number = version != NULL ? version_number(version) : 0;
	bool known = (number & 0xffffff00UL) == KNOWN_0_9_75 ||
		     (number >= KNOWN_1_0 && number < KNOWN_1_1);

#if MHD_VERSION >= DISCIPLINE_SINCE
	discipline = number >= DISCIPLINE_SINCE;
#endif
	hides_head_bytes = !discipline || !known; /* unknown: check it too */
	if (known)
		return NULL;
	snprintf(warning, sizeof(warning),
		 "libmicrohttpd %s is not a version echosvc knows (0.9.75, 1.0.x): every "
		 "workaround stays on",
		 version != NULL ? version : "(unknown)");
	return warning;
}

bool mhd_quirks_head_hides_bytes(void)
{
	return hides_head_bytes;
}

size_t mhd_quirks_daemon_options(struct MHD_OptionItem *items)
{
	size_t count = 0;

#if MHD_VERSION >= DISCIPLINE_SINCE
	if (discipline)
		items[count++] = (struct MHD_OptionItem){MHD_OPTION_CLIENT_DISCIPLINE_LVL,
							 DISCIPLINE_STRICT, NULL};
#else
	(void)items;
#endif
	return count;
}

void mhd_quirks_tls_uncork(int fd)
{
	int off = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
}
