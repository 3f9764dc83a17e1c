/* upstream_replicas.h - A's replicas and their circuit breakers, shared by every loop of B. */
#ifndef ECHOSVC_UPSTREAM_REPLICAS_H
#define ECHOSVC_UPSTREAM_REPLICAS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "config.h"

/*
 * The replicas of A and their breakers, shared by every loop: a lock held
 * for a few instructions guards the breakers; the open flags are mirrored
 * in atomics for /metrics.
 */
struct upstream_replicas {
	pthread_mutex_t lock;
	atomic_uint next;                 /* round-robin turn */
	size_t count;
	struct {
		const struct config_url *url;  /* borrowed from the config */
		struct breaker breaker;        /* under lock */
		atomic_bool open;
	} replica[CONFIG_REPLICAS_MAX];
};

void upstream_replicas_init(struct upstream_replicas *r, const struct config *cfg);
void upstream_replicas_finish(struct upstream_replicas *r);

/*
 * The replica for an attempt. A first attempt (failed < 0) goes round-robin,
 * skipping open circuits by taking the next turn (so the load of a skipped
 * replica spreads evenly). A retry goes to the replicas after the one that
 * failed, or the same one when there is only one. Returns the index, or -1
 * when no replica may be called now.
 */
int upstream_replicas_choose(struct upstream_replicas *r, int failed, uint64_t now_ms);

/* Reports how an attempt on replica index ended. */
void upstream_replicas_record(struct upstream_replicas *r, size_t index, bool success,
			      uint64_t now_ms);

/* Forgets an attempt that was chosen but never made. */
void upstream_replicas_cancel(struct upstream_replicas *r, size_t index);

/* The replica the next first attempt would try: the URL of a call never made. */
size_t upstream_replicas_peek(struct upstream_replicas *r);

/* Whether replica index's circuit is open or half-open. Any thread. */
bool upstream_replicas_open(struct upstream_replicas *r, size_t index);

#endif
