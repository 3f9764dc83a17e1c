/* address.h - socket addresses as log text: HOST:PORT, [V6]:PORT. */
#ifndef ECHOSVC_ADDRESS_H
#define ECHOSVC_ADDRESS_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define ADDRESS_TEXT_MAX (INET6_ADDRSTRLEN + 16) /* [V6]:PORT with its NUL */

/* Writes addr as HOST:PORT, or [V6]:PORT for IPv6; "-" when addr is NULL
 * or of another family. */
void address_format(const struct sockaddr *addr, char *dst, size_t dst_size);

/* The local (local) or peer address of socket fd, formatted; "-" when the
 * kernel does not say. */
void address_of_socket(int fd, bool local, char *dst, size_t dst_size);

#endif
