/* rng.c - fast per-thread random numbers for ids: unique, not secret. */
#include "rng.h"

#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local uint64_t rng_state[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(void)
{
	uint64_t *s = rng_state;
	uint64_t result, t;

	if (!rng_seeded) {
		if (getrandom(s, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state)) {
			s[0] = (uint64_t)time(NULL);
			s[1] = (uint64_t)(uintptr_t)&rng_state;
			s[2] = (uint64_t)getpid();
			s[3] = 0x9E3779B97F4A7C15u;
		}
		rng_seeded = true;
	}
	result = rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void rng_hex(char *dst, size_t digits)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	/* a word's bits a nibble at a time, without a division per digit: ids
	 * are made for every request */
	while (i < digits) {
		uint64_t bits = rng_next();
		size_t end = digits - i < 16 ? digits : i + 16;

		for (; i < end; i++, bits >>= 4)
			dst[i] = hex[bits & 0x0F];
	}
	dst[digits] = '\0';
}
