/* service.h - a role's whole life: one loop per thread, each with its server; signals; drain. */
#ifndef ECHOSVC_SERVICE_H
#define ECHOSVC_SERVICE_H

#include <stddef.h>

#include "loop.h"
#include "server.h"

/* What a role plugs into each loop. The callbacks run on that loop's thread. */
struct service_role {
	struct server_options server;
	/* Makes the role's state for one loop (B: its client to A), or NULL
	 * with a reason in error. May be NULL: no state. */
	void *(*loop_start)(struct loop *loop, void *arg, char *error, size_t error_size);
	/* The drain's last step: answer what is still waiting (B: 503 to every
	 * call to A) and refuse what comes later. May be NULL. */
	void (*loop_abandon)(void *state);
	/* The loop has been idle a while (idle_trim.h): let go of what is
	 * kept only for reuse (B: pooled easy handles). May be NULL. */
	void (*loop_idle)(void *state);
	/* Frees the state once the loop's server is gone. May be NULL. */
	void (*loop_finish)(void *state);
	void *arg;
};

/*
 * Runs the role: --threads threads, each with a loop and a server on its
 * own SO_REUSEPORT listening socket; logs event=listening once every one is
 * up; waits for SIGINT or SIGTERM (which must be blocked in every thread);
 * drains (stops accepting, waits up to --drain-ms for requests in flight,
 * abandons the rest) and logs event=shutdown. A second signal during the
 * drain ends the process at once with status 128+signal. Returns the exit
 * status: 0, or 1 when the service could not start (the reason is logged).
 */
int service_run(const struct config *cfg, const struct service_role *role);

#endif
