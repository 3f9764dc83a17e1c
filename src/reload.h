/* reload.h - SIGHUP's reload of the TLS files, in a thread of its own so that it never holds up a stop signal. */
#ifndef ECHOSVC_RELOAD_H
#define ECHOSVC_RELOAD_H

#include <stdbool.h>

struct tls_server;
struct reloader;

/*
 * A reload of tls's files (NULL: a service without TLS, whose SIGHUP is
 * logged and ignored). tls is borrowed until reloader_free() says it is no
 * longer used. NULL when out of memory.
 */
struct reloader *reloader_new(struct tls_server *tls);

/*
 * Starts a reload in a thread of its own and returns at once: reading a
 * file may block (a hung network mount), and the signal thread must stay
 * free for SIGTERM. A request while one runs makes it run once more after
 * it. Logs event=reload (or event=sighup). For the signal thread.
 */
void reloader_request(struct reloader *r);

/*
 * Frees r when no reload runs and returns true: tls may then be freed. A
 * reload still running (stuck reading a file) keeps r and tls for the rest
 * of the process's life: returns false.
 */
bool reloader_free(struct reloader *r);

#endif
