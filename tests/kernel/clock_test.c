/*
 * tests/kernel/clock_test.c - clock_ns: monotonic, and running at the rate
 * of the PIT, the clock it was calibrated against (kernel/calibrate.c does
 * the same measurement with more care; this is the check from outside).
 */
#include "kernel/console.h"
#include "kernel/ktest.h"
#include "kernel/time.h"
#include "kernel/x86.h"

KTEST(clock, never_goes_back_and_advances)
{
	uint64_t first = clock_ns(), last = first, back = 0;

	for (unsigned i = 0; i < 100000; i++) {
		uint64_t now = clock_ns();
		back += now < last;
		last = now;
	}
	KEXPECT_EQ(back, 0);
	KEXPECT_GT(last, first);
}

#define PIT_INPUT_HZ	1193182
#define PIT_CH2		0x42
#define PIT_CMD		0x43
#define PORT_B		0x61
#define WAIT_CLOCKS	47727		/* 40 ms */

static uint16_t pit_count(void)
{
	outb(PIT_CMD, 0x80);		/* latch channel 2 */
	uint8_t lo = inb(PIT_CH2);
	return (uint16_t)(lo | inb(PIT_CH2) << 8);
}

/* clock_ns over WAIT_CLOCKS or more of PIT channel 2, scaled to 40 ms. */
static uint64_t clock_over_pit_window(void)
{
	outb(PORT_B, (uint8_t)((inb(PORT_B) & ~0x02) | 0x01));	/* gate on, speaker off */
	outb(PIT_CMD, 0xb0);		/* channel 2, mode 0 */
	outb(PIT_CH2, 0xff);
	outb(PIT_CH2, 0xff);
	uint16_t p0 = pit_count();
	uint64_t t0 = clock_ns();
	uint16_t p1;
	while ((uint16_t)(p0 - (p1 = pit_count())) < WAIT_CLOCKS)
		;
	uint64_t t1 = clock_ns();
	outb(PORT_B, (uint8_t)(inb(PORT_B) & ~0x03));
	return (t1 - t0) * WAIT_CLOCKS / (uint16_t)(p0 - p1);
}

/* The best of three windows within 0.5%: under TCG a busy host can hold
 * QEMU up between a PIT read and the clock read beside it. */
KTEST(clock, runs_at_the_pit_rate)
{
	const uint64_t want = (uint64_t)WAIT_CLOCKS * NSEC_PER_SEC / PIT_INPUT_HZ;
	uint64_t best = 0, best_err = UINT64_MAX;

	for (unsigned i = 0; i < 3; i++) {
		uint64_t got = clock_over_pit_window();
		uint64_t err = got > want ? got - want : want - got;
		if (err < best_err) {
			best_err = err;
			best = got;
		}
	}
	kprintf("    # %llu PIT clocks (%llu ns): clock_ns %llu ns\n", (unsigned long long)WAIT_CLOCKS,
		(unsigned long long)want, (unsigned long long)best);
	KEXPECT_LE(best_err, want / 200);
}
