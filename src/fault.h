/* fault.h - fault injection's decisions: which main-route requests fail or wait. */
#ifndef ECHOSVC_FAULT_H
#define ECHOSVC_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* One loop's dice: a splitmix64 sequence, so that a seed repeats exactly. */
struct fault_dice {
	uint64_t state;
};

struct fault_decision {
	bool delay;   /* answer --fault-delay-ms late */
	bool error;   /* answer --fault-error-code with {"error":"injected fault"} */
};

/* Whether any fault is configured at all. */
bool fault_enabled(const struct config *cfg);

/*
 * Seeds the dice of the stream-th loop (0, 1, …). Seed 0 takes a random
 * seed; any other seed gives the same sequence at every start, and stream
 * 0 starts with splitmix64's state equal to the seed.
 */
void fault_dice_init(struct fault_dice *dice, uint64_t seed, unsigned stream);

/*
 * Decides one main-route request. Two draws every time, the delay's then
 * the error's, whatever the rates: a draw u (53 bits, in [0, 1)) hits when
 * u < rate. Pure: no clock, no I/O.
 */
struct fault_decision fault_decide(struct fault_dice *dice, const struct config *cfg);

#endif
