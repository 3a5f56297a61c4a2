/*
 * kernel/calibrate.h - the TSC's and the local APIC timer's rates, measured
 * against the legacy PIT (whose input clock is fixed at 1.193182 MHz).
 */
#ifndef KERNEL_CALIBRATE_H
#define KERNEL_CALIBRATE_H

#include <stdint.h>

#define CALIBRATE_WINDOWS	5	/* the median of these is taken */
#define CALIBRATE_WINDOW_US	20000

struct calibration {
	uint64_t tsc_hz;
	uint64_t lapic_hz;	/* the local APIC timer's clock, at divide-by-1 */
	/* Spread of the windows' rates, (max - min) / median, in parts per
	 * million: a busy host makes TCG's windows disagree. */
	uint64_t tsc_spread_ppm, lapic_spread_ppm;
	unsigned windows;	/* windows measured (fewer when the PIT ran out) */
	uint64_t cpuid_tsc_hz;	/* CPUID leaf 0x15's figure, or 0 where it gives none */
};

/* Measure both rates over the same PIT windows (so that the two agree
 * better than either does with the PIT), with the local APIC timer counting
 * down masked. Panics when the PIT does not count.
 * Context: boot, interrupts disabled, after lapic_init. */
void calibrate(struct calibration *out);

#endif
