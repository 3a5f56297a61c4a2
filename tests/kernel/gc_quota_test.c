/*
 * tests/kernel/gc_quota_test.c - the collector's pause quota, seen from
 * its pause log: every window of gc.window holds at most gc.quota of GC
 * time, no pause outlasts the quantum by more than 10%, and MMU at 10 ms
 * and 1 ms meets its target, so a 10 ms burst that passes the 50 ms quota
 * still fails (the GCBench test asserts them; the churn, not yet within
 * them, prints its figures). Guest time must be instruction time for these figures to
 * mean anything, so the tests run only under -icount (the matrix's icount
 * row); the workloads are a small GCBench and a churn of many cycles.
 */
#include "kernel/ktest.h"
#include "kernel/console.h"
#include "kernel/printf.h"
#include "kernel/time.h"
#include "mm/gc.h"
#include "mm/gc_internal.h"
#include "mm/slab.h"
#include "tests/kernel/gc_trees.h"

#define QUOTA_NS	10000000ull	/* the defaults: gc.quota, gc.window, gc.quantum */
#define WINDOW_NS	50000000ull
#define QUANTUM_NS	500000ull

struct window_figures {
	unsigned pauses;
	uint64_t max_pause, worst[3];	/* most GC time in a window of 1, 10, 50 ms */
};

static const uint64_t widths[3] = { 1000000, 10000000, WINDOW_NS };

static uint64_t overlap(uint64_t s, uint64_t e, uint64_t a, uint64_t b)
{
	uint64_t lo = s > a ? s : a, hi = e < b ? e : b;
	return hi > lo ? hi - lo : 0;
}

/* The figures of the pauses that began at or after since. A window's GC
 * time is largest when it starts at a pause's start or ends at a pause's
 * end, so those windows are measured. */
static void figures(const struct gc_pause_log *log, uint64_t since, struct window_figures *f)
{
	*f = (struct window_figures){ 0 };
	unsigned first = 0;
	while (first < log->n && log->p[first].start_ns < since)
		first++;
	for (unsigned i = first; i < log->n; i++) {
		uint64_t d = log->p[i].end_ns - log->p[i].start_ns;
		f->pauses++;
		if (d > f->max_pause)
			f->max_pause = d;
		for (int w = 0; w < 3; w++) {
			uint64_t a = log->p[i].start_ns, b = a + widths[w];
			uint64_t c = log->p[i].end_ns > widths[w] ? log->p[i].end_ns - widths[w] : 0;
			uint64_t from_start = 0, to_end = 0;
			for (unsigned j = first; j < log->n; j++) {
				from_start += overlap(log->p[j].start_ns, log->p[j].end_ns, a, b);
				to_end += overlap(log->p[j].start_ns, log->p[j].end_ns, c, log->p[i].end_ns);
			}
			uint64_t m = from_start > to_end ? from_start : to_end;
			if (m > f->worst[w])
				f->worst[w] = m;
		}
	}
}

/* The figures of the pauses since `since`, which a run of the collector
 * made while a mutator ran, printed; with `strict`, the targets asserted. */
static void expect_quota(const char *what, uint64_t since, const struct gc_stats *s0,
			 unsigned min_cycles, bool strict)
{
	struct gc_pause_log *log = kmalloc(sizeof(*log), 0);
	KASSERT_NOT_NULL(log);
	gc_pauses(log);
	struct gc_stats s1;
	gc_stats(&s1);
	struct window_figures f;
	figures(log, since, &f);
	kfree(log);
	uint64_t mmu[3];
	for (int w = 0; w < 3; w++)
		mmu[w] = 100 - f.worst[w] * 100 / widths[w];
	kprintf("    # %s: %llu cycles, %u pauses, largest %llu us; most GC time in 50 ms %llu us; "
		"MMU 1/10/50 ms %llu/%llu/%llu%%; %llu overruns, %llu rounds; peak %llu KiB, live %llu KiB\n",
		what, (unsigned long long)(s1.cycles - s0->cycles), f.pauses,
		(unsigned long long)f.max_pause / 1000, (unsigned long long)f.worst[2] / 1000,
		(unsigned long long)mmu[0], (unsigned long long)mmu[1], (unsigned long long)mmu[2],
		(unsigned long long)(s1.overruns - s0->overruns),
		(unsigned long long)(s1.rounds - s0->rounds),
		(unsigned long long)s1.peak_alloc_bytes >> 10, (unsigned long long)s1.live_bytes >> 10);
	KEXPECT_GE(s1.cycles - s0->cycles, min_cycles);
	KEXPECT_GT(f.pauses, 0);
	if (!strict)
		return;
	KEXPECT_LE(f.worst[2], QUOTA_NS);
	KEXPECT_GE(mmu[1], 75);
	KEXPECT_GE(mmu[0], 40);
	KEXPECT_LE(f.max_pause, QUANTUM_NS + QUANTUM_NS / 10);
	KEXPECT_EQ(s1.overruns - s0->overruns, 0);
}

/* ---- GCBench, the Ellis/Kovac/Boehm shapes, small ---- */

static struct tnode *volatile long_lived;

KTEST_ICOUNT(gc_quota, a_small_gcbench_keeps_every_window_within_the_quota)
{
	enum { STRETCH = 14, LONG_LIVED = 12, MIN_DEPTH = 4, MAX_DEPTH = 12 };
	gc_collect();
	gc_peak_reset();
	struct gc_stats s0;
	gc_stats(&s0);
	uint64_t since = clock_ns();

	KEXPECT_EQ(gc_tree_count(gc_tree_make(STRETCH)), gc_tree_size(STRETCH));
	long_lived = gc_tree_node();
	KASSERT_NOT_NULL(long_lived);
	gc_tree_populate(LONG_LIVED, long_lived);
	for (unsigned d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
		unsigned iters = 2 * gc_tree_size(STRETCH) / gc_tree_size(d);
		for (unsigned k = 0; k < iters; k++) {
			struct tnode *t = gc_tree_node();
			KASSERT_NOT_NULL(t);
			gc_tree_populate(d, t);
			struct tnode *b = gc_tree_make(d);
			if (k == 0) {
				KEXPECT_EQ(gc_tree_count(t), gc_tree_size(d));
				KEXPECT_EQ(gc_tree_count(b), gc_tree_size(d));
			}
		}
	}
	KEXPECT_EQ(gc_tree_count(long_lived), gc_tree_size(LONG_LIVED));
	KEXPECT_EQ(gc_tree_nulls, 0);
	expect_quota("gcbench 14/12", since, &s0, 1, true);
	long_lived = NULL;
}

/* ---- churn: a live list rebuilt piecewise while garbage is made ---- */

struct cnode {
	struct cnode *next;
	uint64_t value;
};

/* A live list in the data segment: every final phase rescans its dirty
 * pages whole, 8 KiB here. */
#define NLIVE 1024
static struct cnode *churn_list[NLIVE];

KTEST_ICOUNT(gc_quota, a_long_churn_runs_many_cycles_and_keeps_its_live_list)
{
	gc_collect();
	gc_peak_reset();
	struct gc_stats s0;
	gc_stats(&s0);
	uint64_t since = clock_ns();
	for (unsigned i = 0; i < NLIVE; i++) {
		churn_list[i] = gc_alloc(sizeof(struct cnode));
		KASSERT_NOT_NULL(churn_list[i]);
		churn_list[i]->value = i;
	}
	uint64_t sum = 0;
	for (unsigned round = 0; round < 1500000; round++) {
		/* Garbage that is allocated and dropped, never written: a
		 * write to every new object dirties pages faster than the
		 * final phase can rescan them within a quantum (make bench
		 * measures that case). */
		KASSERT_NOT_NULL(gc_alloc(16 + round % 256));
		if (round % 8 == 0) {
			unsigned i = round / 8 % NLIVE;
			struct cnode *n = gc_alloc(sizeof(*n));
			KASSERT_NOT_NULL(n);
			n->value = i;
			n->next = churn_list[(i * 7 + 1) % NLIVE];	/* a pointer rewritten while marking */
			churn_list[i] = n;
		}
	}
	for (unsigned i = 0; i < NLIVE; i++)
		sum += churn_list[i]->value;
	KEXPECT_EQ(sum, (uint64_t)NLIVE * (NLIVE - 1) / 2);
	/* Not yet within the targets: its final phases outgrow the quantum
	 * (a page-table walk over the whole heap range, and tens of KiB of
	 * the kernel's own dirty data pages), and after GC_MAX_ROUNDS rounds
	 * one runs to its end, an overrun. The figures are printed. */
	expect_quota("churn", since, &s0, 3, false);
	for (unsigned i = 0; i < NLIVE; i++)
		churn_list[i] = NULL;
}
