/* breaker.h - a circuit breaker as a pure state machine; time is passed in. */
#ifndef ECHOSVC_BREAKER_H
#define ECHOSVC_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state {
	BREAKER_CLOSED,    /* calls pass; failures are counted */
	BREAKER_OPEN,      /* calls fail fast until open_ms have passed */
	BREAKER_HALF_OPEN, /* one trial call is out; it decides */
};

/* One replica's breaker. Not thread-safe: one thread owns it. */
struct breaker {
	enum breaker_state state;
	unsigned failures;   /* consecutive, while closed */
	unsigned threshold;  /* failures that open the circuit */
	uint64_t open_ms;    /* how long it stays open */
	uint64_t opened_at;  /* ms, when it last opened */
};

/* Starts closed. threshold >= 1. */
void breaker_init(struct breaker *b, unsigned threshold, uint64_t open_ms);

/*
 * Whether a call may go out now (now_ms from any monotonic clock). When an
 * open circuit's time is up, the first caller gets true and becomes the
 * trial call (half-open); others get false until breaker_record().
 */
bool breaker_allow(struct breaker *b, uint64_t now_ms);

/* Reports how an allowed call ended. A success closes the circuit; a
 * failure in half-open, or the threshold-th consecutive one, opens it. */
void breaker_record(struct breaker *b, bool success, uint64_t now_ms);

/* Forgets a trial call that was allowed but never made, so that the next
 * caller may try. No effect unless half-open. */
void breaker_cancel(struct breaker *b);

/* Whether calls are being refused or held back (open or half-open). */
bool breaker_is_open(const struct breaker *b);

#endif
