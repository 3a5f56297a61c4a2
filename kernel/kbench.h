/*
 * kernel/kbench.h - in-kernel benchmarks, run by ktest.action=bench.
 *
 *     KBENCH(pmm_order0_cached) { ... kbench_record(&s, kbench_cycles() - t0) ... }
 *
 * Cycles are TSC ticks. Under QEMU with -icount shift=0,sleep=off one tick is
 * one guest instruction, so the figures are instruction counts, identical from
 * run to run; on real hardware they are TSC cycles. `make bench` runs them.
 */
#ifndef KERNEL_KBENCH_H
#define KERNEL_KBENCH_H

#include <stdint.h>

#include "kernel/x86.h"

struct kbench {
	const char *name;
	void (*fn)(void);
};

#define KBENCH(name_)								\
	static void kbench_fn_##name_(void);					\
	static const struct kbench kbench_##name_ = { #name_, kbench_fn_##name_ }; \
	static const struct kbench *const kbench_ptr_##name_			\
	__attribute__((used, section("kbenches"))) = &kbench_##name_;		\
	static void kbench_fn_##name_(void)

#define KBENCH_MAX_SAMPLES	4096

/* Samples of one operation, in ticks with the timer's own cost removed. */
struct kbench_samples {
	uint64_t v[KBENCH_MAX_SAMPLES];
	unsigned n;
};

static inline uint64_t kbench_cycles(void) { return rdtsc(); }

/* Record one sample (dropped once full); t is a raw kbench_cycles() delta. */
void kbench_record(struct kbench_samples *s, uint64_t t);

/* Print "bench: <name> ops=N median=M max=X" (sorts s). */
void kbench_report(const char *name, struct kbench_samples *s);

/* Run every KBENCH in the image, then leave QEMU. */
_Noreturn void kbench_main(void);

#endif
