/*
 * kernel/calibrate.c - how fast the TSC and the local APIC timer run,
 * timed by channel 2 of the legacy PIT (8254). This is the PIT's only use:
 * the tick and deadlines run on the local APIC (kernel/timer.c).
 *
 * calibrate():
 *  1. Raise channel 2's gate (port 0x61 bit 0; the speaker stays off).
 *  2. Each window: start the local APIC timer counting down, masked, and
 *     load channel 2 in mode 0 with 0xffff (54.9 ms). Sample all three
 *     clocks; wait until the PIT has counted CALIBRATE_WINDOW_US; sample
 *     again. A sample is the tightest of SAMPLE_TRIES reads, each the PIT's
 *     latched count and the APIC's count between two TSC reads, stamped
 *     with the TSC midway. Each rate is its count's change over the PIT's.
 *  3. A window whose PIT ran out (OUT high: port 0x61 bit 5) before its
 *     last sample is dropped. Each rate is the median of the windows.
 *
 * Why samples and not "poll OUT, then read the TSC": under TCG every guest
 * clock follows the host's, and on a busy host QEMU is descheduled for
 * milliseconds at a time. A read of OUT that comes late stretches the window
 * for the TSC and the APIC alike (by 20% in 3 of 5 windows, seen on this
 * project's shared machine); the PIT's own count says how long the window
 * really was, and a sample whose TSC reads lie far apart is not used.
 *
 * CPUID leaf 0x15 (TSC/crystal ratio and crystal clock) is read and
 * reported beside the measurement, not used: QEMU's TCG gives none, and a
 * second path no test runs would be a path never tested. The timer test
 * compares the two where the CPU has both.
 */
#include "kernel/calibrate.h"
#include "kernel/lapic.h"
#include "kernel/panic.h"
#include "kernel/sort.h"
#include "kernel/x86.h"

#define PIT_INPUT_HZ	1193182
#define PIT_CH2		0x42
#define PIT_CMD		0x43
#define PIT_CH2_ONESHOT	0xb0	/* channel 2, low then high byte, mode 0, binary */
#define PIT_CH2_LATCH	0x80	/* channel 2: latch the count for reading */
#define PORT_B		0x61	/* the PC's system control port B */
#define PORT_B_GATE2	0x01
#define PORT_B_SPEAKER	0x02
#define PORT_B_OUT2	0x20
#define WINDOW_PIT_CLOCKS ((uint64_t)PIT_INPUT_HZ * CALIBRATE_WINDOW_US / 1000000)
#define SAMPLE_TRIES	16
#define MAX_TRIES	(4 * CALIBRATE_WINDOWS)	/* windows, the dropped ones included */
#define POLL_LIMIT	100000000	/* reads of the PIT before giving up on it */

_Static_assert(WINDOW_PIT_CLOCKS < 0xffff - 0xffff / 8,
	       "a window must leave the last sample time before the PIT's count runs out");

struct sample {
	uint64_t tsc;
	uint32_t apic;
	uint16_t pit;
};

static uint16_t pit_count(void)
{
	outb(PIT_CMD, PIT_CH2_LATCH);
	uint8_t lo = inb(PIT_CH2);
	return (uint16_t)(lo | inb(PIT_CH2) << 8);
}

static struct sample sample_clocks(void)
{
	struct sample best = { 0 };
	uint64_t best_width = UINT64_MAX;

	for (unsigned i = 0; i < SAMPLE_TRIES; i++) {
		uint64_t t0 = rdtsc();
		uint16_t pit = pit_count();
		uint32_t apic = lapic_timer_count();
		uint64_t t1 = rdtsc();
		if (t1 - t0 < best_width) {
			best_width = t1 - t0;
			best = (struct sample){ t0 + (t1 - t0) / 2, apic, pit };
		}
	}
	return best;
}

/* Sorts v. Return: its median; *spread_ppm its (max - min) / median. */
static uint64_t median(uint64_t *v, unsigned n, uint64_t *spread_ppm)
{
	sort_u64(v, n);
	uint64_t mid = v[n / 2];
	*spread_ppm = mid ? (v[n - 1] - v[0]) * 1000000 / mid : 0;
	return mid;
}

static uint64_t cpuid_tsc_hz(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	if (r[0] < 0x15)
		return 0;
	cpuid(0x15, 0, r);	/* EAX denominator, EBX numerator, ECX crystal Hz */
	return r[0] && r[1] && r[2] ? (uint64_t)r[2] * r[1] / r[0] : 0;
}

/* One window. Return: false when the PIT ran out before its end. */
static bool window(uint64_t *tsc_hz, uint64_t *apic_hz)
{
	lapic_timer_free_run(UINT32_MAX);
	outb(PIT_CMD, PIT_CH2_ONESHOT);
	outb(PIT_CH2, 0xff);
	outb(PIT_CH2, 0xff);		/* counting starts */
	struct sample s0 = sample_clocks();
	unsigned polls = 0;
	while ((uint16_t)(s0.pit - pit_count()) < WINDOW_PIT_CLOCKS)
		if (++polls == POLL_LIMIT)
			panic("calibrate: the PIT's channel 2 does not count (no PIT?)");
	struct sample s1 = sample_clocks();
	if (inb(PORT_B) & PORT_B_OUT2)
		return false;
	uint64_t pit = (uint16_t)(s0.pit - s1.pit);
	*tsc_hz = (s1.tsc - s0.tsc) * PIT_INPUT_HZ / pit;
	*apic_hz = (uint64_t)(s0.apic - s1.apic) * PIT_INPUT_HZ / pit;
	return true;
}

void calibrate(struct calibration *out)
{
	uint64_t tsc[CALIBRATE_WINDOWS], apic[CALIBRATE_WINDOWS];
	unsigned n = 0, tries = 0;

	*out = (struct calibration){ .cpuid_tsc_hz = cpuid_tsc_hz() };
	outb(PORT_B, (uint8_t)((inb(PORT_B) & ~PORT_B_SPEAKER) | PORT_B_GATE2));
	while (n < CALIBRATE_WINDOWS && tries++ < MAX_TRIES)
		n += window(&tsc[n], &apic[n]);
	lapic_timer_free_run(0);
	outb(PORT_B, (uint8_t)(inb(PORT_B) & ~(PORT_B_SPEAKER | PORT_B_GATE2)));
	if (!n)
		panic("calibrate: the PIT ran out before the end of each of %u windows", MAX_TRIES);

	out->windows = n;
	out->tsc_hz = median(tsc, n, &out->tsc_spread_ppm);
	out->lapic_hz = median(apic, n, &out->lapic_spread_ppm);
	if (!out->tsc_hz || !out->lapic_hz)
		panic("calibrate: TSC %llu Hz, local APIC timer %llu Hz: a clock that does not run",
		      (unsigned long long)out->tsc_hz, (unsigned long long)out->lapic_hz);
}
