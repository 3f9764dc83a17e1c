/* notify.h - the systemd readiness protocol (sd_notify(3)): READY=1, STOPPING=1, STATUS=. */
#ifndef ECHOSVC_NOTIFY_H
#define ECHOSVC_NOTIFY_H

#include <stddef.h>

/*
 * Reads NOTIFY_SOCKET (a path, or @name for Linux's abstract namespace) and
 * removes it from the environment, so that no child takes it for its own.
 * Call once, before any thread exists.
 */
void notify_init(void);

/*
 * Sends state ("READY=1\nSTATUS=…") as one datagram to the socket
 * notify_init() found. Returns 0, also when there is none (nothing to tell),
 * or -1 with errno. Thread-safe.
 */
int notify_send(const char *state);

/*
 * Makes a datagram socket bound to a fresh abstract address and writes the
 * NOTIFY_SOCKET value that reaches it ("@echosvc-…") into name: how `up`
 * learns that a child listens. Returns the fd, or -1 with errno.
 */
int notify_listen(char *name, size_t name_size);

#endif
