/* breaker.c - a circuit breaker as a pure state machine; time is passed in. */
#include "breaker.h"

void breaker_init(struct breaker *b, unsigned threshold, uint64_t open_ms)
{
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->threshold = threshold > 0 ? threshold : 1;
	b->open_ms = open_ms;
	b->opened_at = 0;
}

bool breaker_allow(struct breaker *b, uint64_t now_ms)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_OPEN:
		if (now_ms - b->opened_at < b->open_ms)
			return false;
		b->state = BREAKER_HALF_OPEN;
		return true;
	case BREAKER_HALF_OPEN:
		return false;
	}
	return false;
}

static void breaker_open(struct breaker *b, uint64_t now_ms)
{
	b->state = BREAKER_OPEN;
	b->opened_at = now_ms;
	b->failures = 0;
}

void breaker_record(struct breaker *b, bool success, uint64_t now_ms)
{
	if (success) {
		b->state = BREAKER_CLOSED;
		b->failures = 0;
		return;
	}
	switch (b->state) {
	case BREAKER_CLOSED:
		if (++b->failures >= b->threshold)
			breaker_open(b, now_ms);
		break;
	case BREAKER_HALF_OPEN:
		breaker_open(b, now_ms);
		break;
	case BREAKER_OPEN:
		/* a call allowed before the circuit opened ended late: the
		 * circuit stays open, its time is not extended */
		break;
	}
}

void breaker_cancel(struct breaker *b)
{
	if (b->state == BREAKER_HALF_OPEN) {
		b->state = BREAKER_OPEN;
		b->opened_at -= b->open_ms; /* time is already up: next caller tries */
	}
}

bool breaker_is_open(const struct breaker *b)
{
	return b->state != BREAKER_CLOSED;
}
