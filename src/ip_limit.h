/* ip_limit.h - the process's connections per client address, held against --max-connections-per-ip. */
#ifndef ECHOSVC_IP_LIMIT_H
#define ECHOSVC_IP_LIMIT_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * One table for the whole process, shared by every loop's server: the limit
 * is per process, like --max-connections, not per libmicrohttpd daemon (whose
 * own per-IP limit would admit the limit once per loop). Thread-safe: a
 * mutex taken once when a connection is accepted and once when it closes.
 */
struct ip_limit;

/* A table admitting at most per_ip connections from one address; NULL with
 * errno when out of memory. per_ip 0 makes a table that admits everything. */
struct ip_limit *ip_limit_new(unsigned per_ip);

void ip_limit_free(struct ip_limit *limit);

/* Counts a connection from addr when its address has fewer than the limit;
 * returns whether it was admitted (an address that is not IPv4 or IPv6, or
 * no memory for a new address, is admitted uncounted: false refusals would
 * be worse). Each admitted connection is given back with ip_limit_give(). */
bool ip_limit_take(struct ip_limit *limit, const struct sockaddr *addr);

/* A connection ip_limit_take() admitted has closed. */
void ip_limit_give(struct ip_limit *limit, const struct sockaddr *addr);

#endif
