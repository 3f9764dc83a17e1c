/* rng.h - fast per-thread random numbers for ids: unique, not secret. */
#ifndef ECHOSVC_RNG_H
#define ECHOSVC_RNG_H

#include <stddef.h>
#include <stdint.h>

/* The next 64 bits of this thread's xoshiro256**, seeded by the kernel on
 * first use: no system call per number, no lock. */
uint64_t rng_next(void);

/* Writes digits lower-case hex digits and a NUL into dst (digits + 1 bytes). */
void rng_hex(char *dst, size_t digits);

#endif
