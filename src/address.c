/* address.c - socket addresses as log text: HOST:PORT, [V6]:PORT. */
#include "address.h"

#include <netinet/in.h>
#include <stdio.h>

void address_format(const struct sockaddr *addr, char *dst, size_t dst_size)
{
	char host[INET6_ADDRSTRLEN];

	if (addr != NULL && addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(dst, dst_size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (addr != NULL && addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(dst, dst_size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(dst, dst_size, "-");
	}
}

void address_of_socket(int fd, bool local, char *dst, size_t dst_size)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	int rc = local ? getsockname(fd, (struct sockaddr *)&addr, &len)
		       : getpeername(fd, (struct sockaddr *)&addr, &len);

	address_format(rc == 0 ? (const struct sockaddr *)&addr : NULL, dst, dst_size);
}
