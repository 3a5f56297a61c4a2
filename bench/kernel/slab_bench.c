/*
 * bench/kernel/slab_bench.c - guest cost of kmalloc/kfree on the fast path
 * (a pop of the CPU's free list, a push onto the slab's), in TSC ticks: instructions under -icount shift=0.
 * The pair is timed in its own loop, without a timer read in its middle.
 */
#include "kernel/kbench.h"
#include "mm/slab.h"

#define ROUNDS	2000

static struct kbench_samples alloc_s, free_s, pair_s;

KBENCH(slab)
{
	alloc_s.n = free_s.n = pair_s.n = 0;
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t t0 = kbench_cycles();
		void *p = kmalloc(64, 0);
		uint64_t t1 = kbench_cycles();
		kfree(p);
		uint64_t t2 = kbench_cycles();
		kbench_record(&alloc_s, t1 - t0);
		kbench_record(&free_s, t2 - t1);
	}
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t t0 = kbench_cycles();
		kfree(kmalloc(64, 0));
		kbench_record(&pair_s, kbench_cycles() - t0);
	}
	kbench_report("kmalloc64.alloc", &alloc_s);
	kbench_report("kmalloc64.free", &free_s);
	kbench_report("kmalloc64.pair", &pair_s);
}
