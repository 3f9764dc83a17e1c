/* mhd_quirks.c - what differs between the libmicrohttpd versions echosvc knows (0.9.75, 1.0.x), in one place. */
#include "mhd_quirks.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* The versions this module knows, as MHD_VERSION numbers. */
#define KNOWN_0_9_75 0x00097500UL
#define KNOWN_1_0 0x01000000UL
#define KNOWN_1_1 0x01010000UL     /* first not known */
#define DISCIPLINE_SINCE 0x00097701UL
#define DISCIPLINE_STRICT 1        /* RFC 9112's limits for a server, no leniency */

#if MHD_VERSION < KNOWN_0_9_75
#error "libmicrohttpd 0.9.75 or later is needed"
#endif

static struct mhd_quirks quirks;

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

	quirks.version = MHD_get_version();
	quirks.number = quirks.version != NULL ? version_number(quirks.version) : 0;
	quirks.known = (quirks.number & 0xffffff00UL) == KNOWN_0_9_75 ||
		       (quirks.number >= KNOWN_1_0 && quirks.number < KNOWN_1_1);
#if MHD_VERSION >= DISCIPLINE_SINCE
	quirks.discipline = quirks.number >= DISCIPLINE_SINCE;
#endif
	quirks.hides_head_bytes = !quirks.discipline || !quirks.known; /* unknown: check it too */
	if (quirks.known)
		return NULL;
	snprintf(warning, sizeof(warning),
		 "libmicrohttpd %s is not a version echosvc knows (0.9.75, 1.0.x): every "
		 "workaround stays on",
		 quirks.version != NULL ? quirks.version : "(unknown)");
	return warning;
}

const struct mhd_quirks *mhd_quirks_get(void)
{
	return &quirks;
}

size_t mhd_quirks_daemon_options(struct MHD_OptionItem *items)
{
	size_t count = 0;

#if MHD_VERSION >= DISCIPLINE_SINCE
	if (quirks.discipline)
		items[count++] = (struct MHD_OptionItem){MHD_OPTION_CLIENT_DISCIPLINE_LVL,
							 DISCIPLINE_STRICT, NULL};
#else
	(void)items;
#endif
	return count;
}

int mhd_quirks_descriptor_shortage(int fd)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (copy >= 0) {
		close(copy);
		return 0;
	}
	return errno == EMFILE || errno == ENFILE ? errno : 0;
}

void mhd_quirks_tls_uncork(int fd)
{
	int off = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
}
