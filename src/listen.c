/* listen.c - a role's listening sockets: one per loop on one address, the kernel spreading connections. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

/* Opens a listening socket on host:port; reuse_port lets the other loops
 * bind the same address. Returns the fd, or -1 with errno. */
static int listen_socket(const struct addrinfo *ai, bool reuse_port, bool do_listen)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int saved;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    (do_listen && listen(fd, LISTEN_BACKLOG) < 0))
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static unsigned socket_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		return 0;
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

static void set_port(struct addrinfo *ai, unsigned port)
{
	/* getaddrinfo() allocates ai_addr for the family's own struct: the
	 * casts go through void * to say the alignment is right */
	if (ai->ai_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port = htons((uint16_t)port);
}

int listen_open(const struct config_address *address, int *fds, size_t count,
		char *error, size_t error_size)
{
	struct addrinfo hints = {0}, *found = NULL;
	char port[8], shown[CONFIG_HOST_MAX + 16];
	size_t opened = 0;
	int rc, probe;

	config_format_address(address, shown, sizeof(shown));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", address->port);
	rc = getaddrinfo(address->host, port, &hints, &found);
	if (rc != 0) {
		snprintf(error, error_size, "listen %s: %s", shown, gai_strerror(rc));
		return -1;
	}
	probe = listen_socket(found, false, count == 1);
	if (probe < 0)
		goto fail;
	if (count == 1) {
		fds[opened++] = probe;
	} else {
		set_port(found, socket_port(probe));
		close(probe);
		for (; opened < count; opened++) {
			fds[opened] = listen_socket(found, true, true);
			if (fds[opened] < 0)
				goto fail;
		}
	}
	freeaddrinfo(found);
	return 0;
fail:
	snprintf(error, error_size, "listen %s: %s", shown, strerror(errno));
	while (opened > 0)
		close(fds[--opened]);
	freeaddrinfo(found);
	return -1;
}
