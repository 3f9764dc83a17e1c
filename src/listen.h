/* listen.h - a role's listening sockets: one per loop on one address, the kernel spreading connections. */
#ifndef ECHOSVC_LISTEN_H
#define ECHOSVC_LISTEN_H

#include <stddef.h>

#include "config.h"

/*
 * One listening socket per loop, all on the same address with SO_REUSEPORT,
 * so that the kernel spreads connections over the loops; a second echosvc
 * cannot share a port in use (a probe bound without SO_REUSEPORT checks the
 * address first and picks the port when 0 was asked for). Fills
 * fds[0..count) with non-blocking, close-on-exec sockets, or returns -1 with
 * a message naming the address.
 */
int listen_open(const struct config_address *address, int *fds, size_t count,
		char *error, size_t error_size);

#endif
