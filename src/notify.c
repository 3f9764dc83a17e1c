/* notify.c - the systemd readiness protocol (sd_notify(3)): READY=1, STOPPING=1, STATUS=. */
#include "notify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The protocol is small and documented as stable: one datagram of
 * newline-separated KEY=VALUE lines to an AF_UNIX socket. */
static struct sockaddr_un target;
static socklen_t target_len;  /* 0: no NOTIFY_SOCKET */

/* Fills addr from a NOTIFY_SOCKET value; returns its length, or 0 when the
 * value is not an address this protocol knows. */
static socklen_t address_from(const char *value, struct sockaddr_un *addr)
{
	size_t len = strlen(value);

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (len < 2 || len >= sizeof(addr->sun_path) || (value[0] != '/' && value[0] != '@'))
		return 0;
	memcpy(addr->sun_path, value, len);
	if (value[0] == '@')
		addr->sun_path[0] = '\0'; /* abstract: no trailing NUL counted */
	else
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

void notify_init(void)
{
	const char *value = getenv("NOTIFY_SOCKET");

	if (value == NULL)
		return;
	target_len = address_from(value, &target);
	unsetenv("NOTIFY_SOCKET");
}

int notify_send(const char *state)
{
	int fd, rc, saved;

	if (target_len == 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&target,
		    target_len) < 0
		     ? -1
		     : 0;
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int notify_listen(char *name, size_t name_size)
{
	static atomic_uint serial;
	struct sockaddr_un addr;
	unsigned random_part = 0;
	socklen_t len;
	int fd, saved;

	if (getrandom(&random_part, sizeof(random_part), 0) < 0)
		random_part = (unsigned)getpid();
	snprintf(name, name_size, "@echosvc-%d-%u-%08x", (int)getpid(),
		 atomic_fetch_add(&serial, 1), random_part);
	len = address_from(name, &addr);
	if (len == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&addr, len) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
