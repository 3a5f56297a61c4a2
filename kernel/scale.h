/*
 * kernel/scale.h - converting a count at one rate into a count at another
 * without a division: out = in * mult >> shift, where mult / 2^shift is
 * to_hz / from_hz. The product is 128 bits wide, so any 64-bit input is
 * safe; the result is exact to a part in 2^32 or better (the TSC to
 * nanoseconds, nanoseconds to local APIC timer counts).
 */
#ifndef KERNEL_SCALE_H
#define KERNEL_SCALE_H

#include <stdint.h>

struct scale {
	uint64_t mult;
	unsigned shift;
};

/* Set s to convert counts at from_hz into counts at to_hz (both nonzero,
 * else panic). Rounded to nearest. Context: any; it divides once. */
void scale_init(struct scale *s, uint64_t from_hz, uint64_t to_hz);

/* Return: in * to_hz / from_hz, rounded down. The caller keeps it below
 * 2^64 (it is cut to 64 bits). Context: any; no division. */
static inline uint64_t scale_apply(const struct scale *s, uint64_t in)
{
	return (uint64_t)(((unsigned __int128)in * s->mult) >> s->shift);
}

#endif
