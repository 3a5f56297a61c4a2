/*
 * kernel/scale.c - choosing mult and shift for kernel/scale.h.
 *
 * The shift is as large as keeps to_hz << shift within 64 bits, so the one
 * division here is a plain 64-bit one (no 128-bit division exists without
 * libgcc) and mult carries at least 63 - log2(from_hz) significant bits:
 * 31 for a 4 GHz TSC, so a conversion is off by less than a part in 2^31
 * (0.5 ns a second) on top of the calibration's own error.
 */
#include "kernel/scale.h"
#include "kernel/panic.h"

void scale_init(struct scale *s, uint64_t from_hz, uint64_t to_hz)
{
	if (!from_hz || !to_hz)
		panic("scale_init: rate of 0 Hz (from %llu Hz to %llu Hz)",
		      (unsigned long long)from_hz, (unsigned long long)to_hz);

	unsigned shift = (unsigned)__builtin_clzll(to_hz);
	uint64_t n = to_hz << shift;
	uint64_t q = n / from_hz, r = n % from_hz;

	if (r >= from_hz - r)
		q++;		/* to nearest; q < 2^64 - 1 here, as from_hz > 1 */
	*s = (struct scale){ .mult = q, .shift = shift };
}
