/*
 * kernel/kbench.c - runs the KBENCH functions and summarises their samples.
 *
 *  1. Calibrate: the smallest delta between two back-to-back kbench_cycles()
 *     calls is the timer's own cost; every sample has it subtracted.
 *  2. Run each benchmark in link order; each records samples of the
 *     operations it measures and calls kbench_report() per operation.
 *  3. A report prints the median and the maximum: the median is the fast
 *     path, the maximum the worst single operation (refills, splits).
 * Interrupts stay off throughout, so nothing else runs inside a sample.
 */
#include "kernel/kbench.h"
#include "kernel/console.h"
#include "kernel/qemu.h"
#include "kernel/sort.h"

extern const struct kbench *const __start_kbenches[], *const __stop_kbenches[];

static uint64_t timer_cost;

void kbench_record(struct kbench_samples *s, uint64_t t)
{
	if (s->n < KBENCH_MAX_SAMPLES)
		s->v[s->n++] = t > timer_cost ? t - timer_cost : 0;
}

void kbench_report(const char *name, struct kbench_samples *s)
{
	if (!s->n)
		return;
	sort_u64(s->v, s->n);
	kprintf("bench: %s ops=%u median=%llu max=%llu\n", name, s->n,
		(unsigned long long)s->v[s->n / 2], (unsigned long long)s->v[s->n - 1]);
}

_Noreturn void kbench_main(void)
{
	uint64_t best = ~0ull;
	for (int i = 0; i < 64; i++) {
		uint64_t t0 = kbench_cycles();
		uint64_t t1 = kbench_cycles();
		if (t1 - t0 < best)
			best = t1 - t0;
	}
	timer_cost = best;

	/* A loop of exactly 2 * 1000 instructions tells what a tick is worth:
	 * 2000 under -icount shift=0 (one tick per instruction). */
	uint64_t n = 1000, t0 = kbench_cycles();
	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n));
	uint64_t loop = kbench_cycles() - t0 - timer_cost;
	kprintf("bench: calibration timer_cost=%llu loop_2000_instructions=%llu\n",
		(unsigned long long)timer_cost, (unsigned long long)loop);

	for (const struct kbench *const *b = __start_kbenches; b < __stop_kbenches; b++) {
		kprintf("bench: running %s\n", (*b)->name);
		(*b)->fn();
	}
	kprintf("bench: done\n");
	qemu_exit(QEMU_EXIT_PASS);
	halt_forever();
}
