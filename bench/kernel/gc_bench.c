/*
 * bench/kernel/gc_bench.c - the collector under load, in guest time
 * (instruction time under -icount shift=0): `make bench` prints a table.
 *
 * Workloads, all on gc_alloc:
 *  - gcbench: Ellis, Kovac and Boehm's shapes: a stretch tree of depth 18,
 *    a long-lived tree of depth 16 and an array of 500,000 8-byte words
 *    (doubles in the original; the kernel uses no FPU), then top-down and
 *    bottom-up trees of depth 4 to 16;
 *  - binarytrees: the benchmarks game's, at depths 16, 17 and 18.
 * Each reports its total time, GC CPU %, pause p50/p99/max, MMU at 1, 10
 * and 50 ms (from the pause log), a, m, L, peak heap / L, the bound on the
 * peak the issue gives, and overruns.
 */
#include "kernel/console.h"
#include "kernel/kbench.h"
#include "kernel/printf.h"
#include "kernel/time.h"
#include "mm/gc.h"
#include "mm/slab.h"
#include "tests/kernel/gc_trees.h"

static struct tnode *volatile long_lived;
static uint64_t *volatile array;

/* Print the run's line: "bench: gc.<name> key=value ...". */
static void report(const char *name, uint64_t t0, const struct gc_stats *s0, bool ok)
{
	uint64_t t1 = clock_ns();
	struct gc_stats s1;
	gc_stats(&s1);
	struct gc_pause_log *log = kmalloc(sizeof(*log), 0);
	struct gc_pause_figures f = { 0 };
	if (log) {
		gc_pauses(log);
		gc_pause_figures(log, t0, &f);
		kfree(log);
	}
	uint64_t wall = t1 - t0, gc_ns = s1.gc_ns - s0->gc_ns;
	uint64_t mmu[3];
	static const uint64_t widths[3] = { 1000000, 10000000, 50000000 };
	for (int w = 0; w < 3; w++)
		mmu[w] = f.worst_ns[w] >= widths[w] ? 0 : 1000 - f.worst_ns[w] * 1000 / widths[w];
	/* The least peak a collector with share u needs: max(L(1 + p), L(1 +
	 * a m (1-u)/u)), u = 0.2, in KiB; a in bytes/ns, m in ns/byte. */
	uint64_t live = s1.live_bytes, am_milli = s1.alloc_rate_milli * s1.mark_cost_pico / 1000;
	uint64_t bound_p = live * 2, bound_am = live + live * am_milli * 4 / 1000;
	uint64_t bound = bound_p > bound_am ? bound_p : bound_am;
	kprintf("bench: gc.%s ok=%d total_ms=%llu gc_pct=%llu pauses=%u p50_us=%llu p99_us=%llu "
		"max_us=%llu mmu1=%llu mmu10=%llu mmu50=%llu a_milli=%llu m_pico=%llu live_kb=%llu "
		"peak_kb=%llu heap_kb=%llu bound_kb=%llu cycles=%llu overruns=%llu rounds=%llu\n",
		name, ok, (unsigned long long)wall / 1000000,
		(unsigned long long)(wall ? gc_ns * 100 / wall : 0), f.pauses,
		(unsigned long long)f.p50_ns / 1000, (unsigned long long)f.p99_ns / 1000,
		(unsigned long long)f.max_ns / 1000, (unsigned long long)mmu[0],
		(unsigned long long)mmu[1], (unsigned long long)mmu[2],
		(unsigned long long)s1.alloc_rate_milli, (unsigned long long)s1.mark_cost_pico,
		(unsigned long long)live >> 10, (unsigned long long)s1.peak_alloc_bytes >> 10,
		(unsigned long long)s1.peak_heap_bytes >> 10,
		(unsigned long long)bound >> 10, (unsigned long long)(s1.cycles - s0->cycles),
		(unsigned long long)(s1.overruns - s0->overruns),
		(unsigned long long)(s1.rounds - s0->rounds));
}

/* GCBench itself: its frame, and the trees its locals hold, are gone when
 * gc_gcbench measures false retention. */
static __attribute__((noinline)) void gcbench(void)
{
	enum { STRETCH = 18, LONG_LIVED = 16, ARRAY = 500000, MIN_DEPTH = 4, MAX_DEPTH = 16 };
	gc_collect();
	gc_peak_reset();
	struct gc_stats s0;
	gc_stats(&s0);
	uint64_t t0 = clock_ns();
	bool ok = gc_tree_count(gc_tree_make(STRETCH)) == gc_tree_size(STRETCH);
	long_lived = gc_tree_node();
	gc_tree_populate(LONG_LIVED, long_lived);
	array = gc_alloc_noscan(ARRAY * sizeof(uint64_t));
	if (array)
		for (unsigned i = 0; i < ARRAY / 2; i++)
			array[i] = i;
	for (unsigned d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
		unsigned iters = 2 * gc_tree_size(STRETCH) / gc_tree_size(d);
		for (unsigned k = 0; k < iters; k++) {
			struct tnode *t = gc_tree_node();
			gc_tree_populate(d, t);
			struct tnode *b = gc_tree_make(d);
			if (k == 0)
				ok &= gc_tree_count(t) == gc_tree_size(d) && gc_tree_count(b) == gc_tree_size(d);
		}
	}
	ok &= long_lived && gc_tree_count(long_lived) == gc_tree_size(LONG_LIVED) && array &&
	      array[1000] == 1000 && gc_tree_nulls == 0;
	report("gcbench", t0, &s0, ok);
	/* long_lived and array stay for gc_gcbench_retention. */
}

/* GCBench, then false retention: with only the long-lived tree and the
 * array reachable, what complete collections still find beyond them is
 * kept by stale words in the stacks and the data segment. */
KBENCH(gc_gcbench)
{
	gcbench();
	enum { LONG_LIVED = 16, ARRAY = 500000 };
	gc_collect();
	gc_collect();
	struct gc_stats s;
	gc_stats(&s);
	uint64_t truth = gc_tree_size(LONG_LIVED) * sizeof(struct tnode) +
			 ((ARRAY * sizeof(uint64_t) + 4095) & ~4095ul);
	kprintf("bench: gc.retention live_bytes=%llu true_bytes=%llu retained_bytes=%lld\n",
		(unsigned long long)s.live_bytes, (unsigned long long)truth,
		(long long)(s.live_bytes - truth));
	long_lived = NULL;
	array = NULL;
}

/* The benchmarks game's binary-trees at depth max: a stretch tree of max
 * + 1, a long-lived tree of max, and 2^(max - d + 4) trees of each even
 * depth d from 4 to max. */
static void binarytrees(unsigned max, const char *name)
{
	enum { MIN = 4 };
	gc_collect();
	gc_peak_reset();
	struct gc_stats s0;
	gc_stats(&s0);
	uint64_t t0 = clock_ns();
	bool ok = gc_tree_count(gc_tree_make(max + 1)) == gc_tree_size(max + 1);
	long_lived = gc_tree_make(max);
	for (unsigned d = MIN; d <= max; d += 2) {
		unsigned iters = 1u << (max - d + MIN);
		uint64_t sum = 0;
		for (unsigned k = 0; k < iters; k++)
			sum += gc_tree_count(gc_tree_make(d));
		ok &= sum == (uint64_t)iters * gc_tree_size(d);
	}
	ok &= gc_tree_count(long_lived) == gc_tree_size(max) && gc_tree_nulls == 0;
	report(name, t0, &s0, ok);
	long_lived = NULL;
}

KBENCH(gc_binarytrees)
{
	binarytrees(16, "binarytrees");
	binarytrees(17, "binarytrees17");
	binarytrees(18, "binarytrees18");
}

static struct kbench_samples collect_s;

/* One complete collection of GCBench's live set (its long-lived tree and
 * array), nothing else running: the caller waits in gc_collect, so the
 * collector works in idle time, without quanta. Its ns per live byte is
 * the mark and sweep cost free of the quota's rounds. */
KBENCH(gc_collect)
{
	enum { LONG_LIVED = 16, ARRAY = 500000, RUNS = 9 };
	long_lived = gc_tree_node();
	gc_tree_populate(LONG_LIVED, long_lived);
	array = gc_alloc_noscan(ARRAY * sizeof(uint64_t));
	gc_collect();
	struct gc_stats s;
	for (unsigned i = 0; i < RUNS; i++) {
		uint64_t t0 = kbench_cycles();
		gc_collect();
		kbench_record(&collect_s, kbench_cycles() - t0);
	}
	gc_stats(&s);
	bool ok = gc_tree_count(long_lived) == gc_tree_size(LONG_LIVED) && array && gc_tree_nulls == 0;
	kprintf("bench: gc.collect_live ok=%d live_kb=%llu scanned_kb=%llu\n", ok,
		(unsigned long long)s.live_bytes >> 10, (unsigned long long)s.scanned_bytes >> 10);
	kbench_report("gc.collect", &collect_s);
	long_lived = NULL;
	array = NULL;
}
