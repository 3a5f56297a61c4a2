/*
 * kernel/clock.c - clock_ns(), the kernel's monotonic clock, on the TSC.
 *
 * clock_ns() = (rdtsc() - tsc_base) * mult >> shift: a 128-bit product
 * (kernel/scale.h), so it neither overflows nor needs a division, and is
 * safe in any context. mult and shift come from the TSC rate that
 * kernel/calibrate.c measured against the PIT at boot; after clock_init
 * nothing is written, so readers need no lock.
 *
 * Invariant TSC (CPUID 0x80000007 EDX bit 8): the TSC then runs at one rate
 * in every power state, and clock_ns keeps the boot rate. Without it (QEMU's
 * TCG does not set the bit; old CPUs lack it) clock_ns is still monotonic,
 * but runs slow or fast when the CPU changes frequency or stops the TSC in a
 * deep C-state. The kernel changes neither P-states nor enters C-states
 * below hlt's C1, and there the TSC runs at its rate on every x86-64 CPU
 * with a constant TSC; boot reports which case holds. One CPU: with several,
 * unsynchronised TSCs would need the invariant bit and a sync check.
 */
#include "kernel/time.h"
#include "kernel/console.h"
#include "kernel/scale.h"
#include "kernel/x86.h"

#define CPUID_80000007_EDX_INVARIANT_TSC	(1u << 8)

static uint64_t tsc_base;
static uint64_t tsc_hz;
static struct scale tsc_to_ns;	/* mult 0 until clock_init: clock_ns() is 0 */
static bool invariant;

void clock_init(uint64_t hz)
{
	uint32_t r[4];

	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000007) {
		cpuid(0x80000007, 0, r);
		invariant = r[3] & CPUID_80000007_EDX_INVARIANT_TSC;
	}
	tsc_hz = hz;
	scale_init(&tsc_to_ns, hz, NSEC_PER_SEC);
	tsc_base = rdtsc();
	kprintf("clock: TSC at %llu.%03llu MHz, %s\n", (unsigned long long)(hz / 1000000),
		(unsigned long long)(hz / 1000 % 1000),
		invariant ? "invariant" : "not invariant (CPUID 0x80000007): clock_ns keeps this rate "
		"only while the CPU keeps its frequency and stays out of deep C-states");
}

uint64_t clock_ns(void)
{
	return scale_apply(&tsc_to_ns, rdtsc() - tsc_base);
}

uint64_t clock_tsc_hz(void)
{
	return tsc_hz;
}

bool clock_tsc_invariant(void)
{
	return invariant;
}
