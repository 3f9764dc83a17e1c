/* fd_budget.h - the descriptors a service may hold: the soft limit raised to the hard one, connection limits fitted to it. */
#ifndef ECHOSVC_FD_BUDGET_H
#define ECHOSVC_FD_BUDGET_H

#include <stddef.h>

/* Descriptors a service holds besides its connections: stdio, each loop's
 * listening socket, epoll and wake-up descriptors, libmicrohttpd's epoll fd,
 * TLS files being read, the resolver's. */
#define FD_BUDGET_RESERVE_BASE 32
#define FD_BUDGET_RESERVE_PER_LOOP 8

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (as nginx's
 * worker_rlimit_nofile), then returns how many client connections fit
 * beside `others` descriptors (B's calls to A) and the reserve for `loops`
 * loops: `wanted` when it fits; otherwise what is left beyond the reserve,
 * less what the calls need up to half of it, with one line in warning
 * saying so (warning[0] is '\0' when it fits). At least 1.
 */
unsigned fd_budget_connections(unsigned wanted, unsigned others, unsigned loops, char *warning,
			       size_t warning_size);

/*
 * Whether this process can open a socket now: 0, or the errno that says it
 * cannot (EMFILE, ENFILE, ENOBUFS, ENOMEM), from a socket() made and closed
 * at once. libmicrohttpd's failed accept() and libcurl's failed connect do
 * not say why through their APIs. Two system calls: for failure paths.
 */
int fd_budget_shortage(void);

#endif
