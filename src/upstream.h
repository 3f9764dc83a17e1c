/* upstream.h - B's client to A: a curl multi handle on each loop, replicas shared. */
#ifndef ECHOSVC_UPSTREAM_H
#define ECHOSVC_UPSTREAM_H

#include <stddef.h>

#include "config.h"
#include "loop.h"
#include "upstream_outcome.h"

/* How one call ended. The result owns its texts (malloc'ed) until
 * upstream_result_finish(). */
struct upstream_result {
	enum upstream_outcome outcome;
	unsigned status;       /* 200, or 502 / 503 / 504: what B answers */
	char *echo;            /* status 200: A's "echo", NUL-terminated */
	size_t echo_len;
	char *error;           /* otherwise: Get "URL": cause */
	size_t error_len;
	const char *replica;   /* the replica of the last attempt (borrowed for
				* the process's life), NULL when none was made */
	unsigned attempts;
};

/* What to ask A. Borrowed for the length of upstream_call(). */
struct upstream_request {
	const char *msg;
	size_t len;
	const char *request_id;  /* sent as X-Request-Id */
	const char *traceparent; /* sent as is; NULL: none */
	const char *tracestate;  /* sent as is; NULL: none */
};

/* Called on the lane's loop thread when a call has ended, never from within
 * upstream_call(). The texts of result pass to the callee: it copies the
 * struct and frees them with upstream_result_finish(). */
typedef void upstream_done(void *ctx, struct upstream_result *result);

struct upstream;       /* shared by every loop: replicas, breakers, limits */
struct upstream_lane;  /* one loop's: a curl multi handle and its calls */

/* Makes the shared part and registers its metrics. Returns NULL with a
 * reason in error on failure. Before any lane exists. */
struct upstream *upstream_new(const struct config *cfg, char *error, size_t error_size);

/* Frees the shared part, once every lane is freed. */
void upstream_free(struct upstream *up);

/* Makes the lane of loop (call on the loop's thread, which owns it from
 * here on). Returns NULL with a reason in error on failure. */
struct upstream_lane *upstream_lane_new(struct upstream *up, struct loop *loop, char *error,
					size_t error_size);

/* Frees the lane. Every call must have ended (upstream_abandon()). */
void upstream_lane_free(struct upstream_lane *lane);

/*
 * Starts a call to A's /echo. Returns 0 when it is out: on_done(ctx, …)
 * will be called exactly once, on this loop's thread. Returns -1 when no
 * call was made (too many calls in flight, every circuit open, out of
 * memory): *refused then holds the answer, owned by the caller.
 */
int upstream_call(struct upstream_lane *lane, const struct upstream_request *request,
		  upstream_done *on_done, void *ctx, struct upstream_result *refused);

/* The loop has been idle a while: the easy handles kept for reuse are freed
 * (a burst of N calls left N of them, about 10 KiB each; making one again
 * costs microseconds). The lane's loop thread. */
void upstream_lane_idle(struct upstream_lane *lane);

/* Ends every call of the lane with 503 now, and every later one at once:
 * the last step of a drain. The lane's loop thread. */
void upstream_abandon(struct upstream_lane *lane);

/* Frees the texts of result. */
void upstream_result_finish(struct upstream_result *result);

#endif
