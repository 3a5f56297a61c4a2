/*
 * bench/kernel/pmm_bench.c - guest cost of page_alloc/page_free, in TSC ticks
 * (instructions under -icount shift=0): `make bench` prints them in a table.
 *
 * Cases:
 *  - order 0 through the per-CPU cache, alloc then free at once: the fast
 *    path, the same page cycling through the cache;
 *  - order 0 through the cache, 256 allocations then 256 frees: crosses the
 *    refill and drain marks, so the maximum shows a batch refill or drain;
 *  - order 0 with the cache bypassed (PAGE_NOCACHE): the buddy path;
 *  - order 9 (2 MiB): splits and coalesces across several orders.
 */
#include "kernel/kbench.h"
#include "kernel/printf.h"
#include "mm/pmm.h"

#define ROUNDS		2000
#define BURST		256

static struct kbench_samples alloc_s, free_s, pair_s;

static void reset(void)
{
	alloc_s.n = free_s.n = pair_s.n = 0;
}

/*
 * `rounds` allocations and frees of `order`: each operation timed on its own,
 * then, in a second loop, each alloc+free pair timed as one (so the pair
 * carries no timer read in its middle).
 */
static void cycle(unsigned order, unsigned flags, bool nocache, unsigned rounds)
{
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t t0 = kbench_cycles();
		void *p = page_alloc(order, flags);
		uint64_t t1 = kbench_cycles();
		if (nocache)
			pmm_free_nocache(&kernel_pmm, p, order);
		else
			page_free(p, order);
		uint64_t t2 = kbench_cycles();
		kbench_record(&alloc_s, t1 - t0);
		kbench_record(&free_s, t2 - t1);
	}
	for (unsigned i = 0; i < rounds; i++) {
		uint64_t t0 = kbench_cycles();
		void *p = page_alloc(order, flags);
		if (nocache)
			pmm_free_nocache(&kernel_pmm, p, order);
		else
			page_free(p, order);
		kbench_record(&pair_s, kbench_cycles() - t0);
	}
}

static void report(const char *prefix)
{
	char name[64];
	ksnprintf(name, sizeof(name), "%s.alloc", prefix);
	kbench_report(name, &alloc_s);
	ksnprintf(name, sizeof(name), "%s.free", prefix);
	kbench_report(name, &free_s);
	if (pair_s.n) {
		ksnprintf(name, sizeof(name), "%s.pair", prefix);
		kbench_report(name, &pair_s);
	}
	reset();
}

KBENCH(pmm)
{
	static void *burst[BURST];

	reset();
	cycle(0, 0, false, ROUNDS);
	report("order0_cached");

	for (int round = 0; round < 8; round++) {
		for (unsigned i = 0; i < BURST; i++) {
			uint64_t t0 = kbench_cycles();
			burst[i] = page_alloc(0, 0);
			kbench_record(&alloc_s, kbench_cycles() - t0);
		}
		for (unsigned i = 0; i < BURST; i++) {
			uint64_t t0 = kbench_cycles();
			page_free(burst[i], 0);
			kbench_record(&free_s, kbench_cycles() - t0);
		}
	}
	report("order0_cached_burst");

	cycle(0, PAGE_NOCACHE, true, ROUNDS);
	report("order0_nocache");

	cycle(9, 0, false, ROUNDS);
	report("order9");
}
