/* fault.c - fault injection's decisions: which main-route requests fail or wait. */
#include "fault.h"

#include "rng.h"

#define GOLDEN 0x9E3779B97F4A7C15u  /* splitmix64's increment */

bool fault_enabled(const struct config *cfg)
{
	return cfg->fault_error_rate > 0 || (cfg->fault_delay_ms > 0 && cfg->fault_delay_rate > 0);
}

void fault_dice_init(struct fault_dice *dice, uint64_t seed, unsigned stream)
{
	if (seed == 0)
		seed = rng_next();
	/* streams far apart in the sequence, so loops do not repeat each other */
	dice->state = seed + (uint64_t)stream * 0xD1B54A32D192ED03u;
}

/* splitmix64 (Steele, Lea and Flood): a sequence anyone can reproduce,
 * here or in a test, from the seed alone. */
static uint64_t dice_next(struct fault_dice *dice)
{
	uint64_t z = (dice->state += GOLDEN);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

static double dice_draw(struct fault_dice *dice)
{
	return (double)(dice_next(dice) >> 11) * 0x1.0p-53;
}

struct fault_decision fault_decide(struct fault_dice *dice, const struct config *cfg)
{
	double delay = dice_draw(dice), error = dice_draw(dice);
	struct fault_decision d = {
		.delay = cfg->fault_delay_ms > 0 && delay < cfg->fault_delay_rate,
		.error = error < cfg->fault_error_rate,
	};

	return d;
}
