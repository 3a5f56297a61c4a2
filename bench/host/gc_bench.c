/*
 * bench/host/gc_bench.c - the collector's core against the Boehm-Demers-Weiser
 * collector on the host, on the workloads of bench/kernel/gc_bench.c.
 *
 * One source, two binaries (Makefile): -DGC_TIDEMARK runs mm/gc_heap.c and
 * mm/gc_mark.c on bench/host/gc_machine.c (a read-write range without
 * dirty bits, which whole-collection mode does not need); -DGC_BOEHM
 * runs libgc (GC_MALLOC, GC_gcollect) with one marker (GC_MARKERS=1) and its
 * default free-space divisor. The workloads see only alloc(), which returns
 * zeroed memory and may collect, alloc_noscan() for pointer-free memory, and
 * collect(), one complete collection.
 *
 * Tidemark runs in whole-collection mode, one cycle with the world stopped:
 *  1. alloc() collects first when the heap's allocated bytes reach the goal,
 *     max(2 x the bytes the last cycle marked, 4 MiB): GOGC=100.
 *  2. collect() spills the callee-saved registers into its own frame
 *     (__builtin_unwind_init), then marks from the C stack, from its stack
 *     pointer up to main's frame, and from `roots`, the one global that
 *     holds heap pointers; then drains the mark stack to the end.
 *  3. It sweeps every span, and sets the next goal.
 * No mutator runs inside a cycle, so no dirty round is needed, and the
 * machine reports no page dirty.
 *
 * Workloads, each printed as one line
 *   bench: gc.<name> alloc=<tidemark|boehm> key=value ...
 *  - gcbench: Ellis, Kovac and Boehm's GCBench (stretch tree of depth 18,
 *    long-lived tree of depth 16, an array of 500,000 words, top-down and
 *    bottom-up trees of depth 4..16);
 *  - bintrees16, bintrees18: binary-trees at depths 16 and 18;
 *    each with total_ns, collections, gc_ns (inside collections),
 *    max_pause_ns (the longest collection), peak_heap (Tidemark: the heap's
 *    high-water of mapped pages, h->peak_pages x 4 KiB; Boehm: that of
 *    GC_get_heap_size()), live_bytes (what a forced collection finds marked
 *    once the workload has returned, outside the timing), alloc_bytes
 *    (allocated in all: Boehm's are larger, as GC_MALLOC adds a byte to
 *    every object so that a pointer just past its end still keeps it, and
 *    rounds to 16), user_ns and sys_ns (the process's CPU time), and what
 *    one collector alone has (collector_report);
 *  - collect: ns, the median of COLLECTS forced collections with GCBench's
 *    live set held (the long-lived tree and the array);
 *  - alloc32: ns per 32-byte allocation over ALLOC_OPS of them, 1024 live,
 *    collections included, and alloc_ns, the same without the time inside
 *    collections (Boehm's lazy sweep runs in allocation, and stays in it).
 * Each workload runs in a process of its own (a forked child), so that no
 * heap a workload grew is there when the next one starts: `gc_bench_x`
 * runs them all, `gc_bench_x gcbench` one, in the process itself (for perf).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef GC_TIDEMARK
#include "kernel/error.h"
#include "mm/gc_internal.h"
#include "mm/layout.h"
#include "tests/host/gc_shim.h"
#define ALLOC_NAME "tidemark"
#elif defined(GC_BOEHM)
#include <gc.h>
#include <gc/gc_mark.h>
#define ALLOC_NAME "boehm"
#else
#error "build with -DGC_TIDEMARK or -DGC_BOEHM"
#endif

#define COLLECTS	15
#define ALLOC_OPS	10000000
#define RING		1024

struct tnode {
	struct tnode *left, *right;
	uint64_t i, j;
};

/* Every heap pointer a workload keeps outside its stack. */
static struct {
	struct tnode *long_lived;
	uint64_t *array;
	struct tnode *ring[RING];
} roots;

static void die(const char *why)
{
	fprintf(stderr, "gc_bench (%s): %s\n", ALLOC_NAME, why);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Figures of the collections, kept by either collector's layer; the core's
 * own counters (scanned, marked, overflows) by Tidemark's alone. */
struct figures {
	uint64_t collections, gc_ns, max_pause_ns;
	uint64_t scanned, marked, overflows;
};
static struct figures st;

static void pause_done(uint64_t ns)
{
	st.collections++;
	st.gc_ns += ns;
	if (ns > st.max_pause_ns)
		st.max_pause_ns = ns;
}

/* ---- the collector under test --------------------------------------------- */

#ifdef GC_TIDEMARK
#define HEAP_BYTES	(2ul << 30)	/* reserved; pages are mapped as spans need them */
#define MIN_GOAL	(4ul << 20)
#define MARK_STACK	4096		/* entries, as the kernel's (mm/gc.c) */

static struct gc_heap heap;
static uintptr_t stack_top;		/* main's frame: the stack's roots end there */
static uint64_t goal = MIN_GOAL;

static void collector_init(void)
{
	uintptr_t base = gc_shim_reserve(HEAP_BYTES);
	if (gc_heap_init(&heap, base, HEAP_BYTES, HEAP_BYTES / PAGE_SIZE) != KERR_OK)
		die("gc_heap_init failed");
}

/* The heap's high-water of mapped pages, kept by the core, from now on. */
static void peak_reset(void)
{
	uint64_t flags = spin_lock_irqsave(&heap.lock);
	heap.peak_pages = heap.pages;
	spin_unlock_irqrestore(&heap.lock, flags);
}

static size_t peak_bytes(void) { return heap.peak_pages * PAGE_SIZE; }
static uint64_t total_alloc_bytes(void) { return heap.total_alloc_bytes; }

/* Steps 2 and 3. Not inlined: its frame must hold the spilled registers,
 * below every frame of the mutator's. */
static __attribute__((noinline)) void collect(void)
{
	__builtin_unwind_init();
	uint64_t t0 = now_ns(), overflows = heap.overflows;
	if (gc_mark_begin(&heap, MARK_STACK) != KERR_OK)
		die("no memory for the mark stack");
	uintptr_t sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	gc_mark_range(&heap, (const void *)sp, (const void *)stack_top);
	gc_mark_range(&heap, &roots, &roots + 1);
	while (!gc_mark_drain(&heap, SIZE_MAX))
		;
	gc_sweep_begin(&heap);
	while (!gc_sweep_step(&heap, UINT32_MAX))
		;
	goal = 2 * heap.marked_bytes > MIN_GOAL ? 2 * heap.marked_bytes : MIN_GOAL;
	st.scanned += heap.scanned_bytes;
	st.marked += heap.marked_bytes;
	st.overflows += heap.overflows - overflows;
	pause_done(now_ns() - t0);
}

/* Step 1, then the core's allocation (already zeroed). */
static inline void *alloc_kind(size_t n, bool noscan)
{
	if (heap.alloc_bytes >= goal)
		collect();
	void *p = gc_heap_alloc(&heap, n, noscan);
	if (__builtin_expect(!p, 0))
		die("the heap's range is exhausted");
	return p;
}

static inline void *alloc(size_t n) { return alloc_kind(n, false); }
static inline void *alloc_noscan(size_t n) { return alloc_kind(n, true); }

/* The live bytes a collection now finds (after run_end: not the workload's). */
static uint64_t live_bytes(void)
{
	collect();
	return heap.marked_bytes;
}

/* Figures only this collector has: the core's counters, summed over a
 * timed workload's collections: heap bytes scanned (a dirty page's marked
 * objects are scanned again, as are an overflowed span's), bytes marked,
 * and mark-stack overflows. */
static void collector_report(const struct figures *f)
{
	printf(" scanned_bytes=%llu marked_bytes=%llu overflows=%llu", (unsigned long long)f->scanned,
	       (unsigned long long)f->marked, (unsigned long long)f->overflows);
}
#else
static uint64_t boehm_t0;
static size_t boehm_peak;

/* The high-water of GC_get_heap_size(), sampled as each collection starts
 * and ends: the heap grows only in allocation and shrinks (unmapping) only
 * inside a collection, so the largest it was is seen then or now. */
static void sample_heap(void)
{
	size_t heap = GC_get_heap_size();
	if (heap > boehm_peak)
		boehm_peak = heap;
}

static void peak_reset(void) { boehm_peak = GC_get_heap_size(); }

static size_t peak_bytes(void)
{
	sample_heap();
	return boehm_peak;
}

/* GC_EVENT_START to GC_EVENT_END is one collection with the world stopped:
 * Boehm is not in incremental mode, and its lazy sweep runs in allocation. */
static void GC_CALLBACK on_event(GC_EventType e)
{
	if (e == GC_EVENT_START || e == GC_EVENT_END)
		sample_heap();
	if (e == GC_EVENT_START)
		boehm_t0 = now_ns();
	else if (e == GC_EVENT_END)
		pause_done(now_ns() - boehm_t0);
}

static void collector_init(void)
{
	setenv("GC_MARKERS", "1", 1);
	GC_INIT();
	GC_set_on_collection_event(on_event);
}

static uint64_t total_alloc_bytes(void) { return GC_get_total_bytes(); }

static void collect(void) { GC_gcollect(); }

static inline void *alloc(size_t n)
{
	void *p = GC_MALLOC(n);
	if (__builtin_expect(!p, 0))
		die("GC_MALLOC failed");
	return p;
}

/* GC_MALLOC_ATOMIC's memory is not cleared; alloc_noscan's is, as Tidemark's. */
static inline void *alloc_noscan(size_t n)
{
	void *p = GC_MALLOC_ATOMIC(n);
	if (!p)
		die("GC_MALLOC_ATOMIC failed");
	return memset(p, 0, n);
}

static void GC_CALLBACK add_marked(void *obj, size_t bytes, void *sum)
{
	(void)obj;
	*(uint64_t *)sum += bytes;
}

static void *GC_CALLBACK enumerate_marked(void *sum)
{
	GC_enumerate_reachable_objects_inner(add_marked, sum);
	return NULL;
}

/* Figures only this collector has: its free-space divisor, the share of
 * the heap it lets allocation take between collections. */
static void collector_report(const struct figures *f)
{
	(void)f;
	printf(" free_space_divisor=%lu", (unsigned long)GC_get_free_space_divisor());
}

/* The live bytes a collection now finds (after run_end: not the
 * workload's): its marks, summed while they are still this collection's. */
static uint64_t live_bytes(void)
{
	uint64_t sum = 0;
	GC_gcollect();
	GC_call_with_alloc_lock(enumerate_marked, &sum);
	return sum;
}
#endif

/* ---- the workloads (bench/kernel/gc_bench.c's) ---------------------------- */

static unsigned tree_size(unsigned depth) { return (1u << (depth + 1)) - 1; }

static void populate(unsigned depth, struct tnode *n)
{
	if (depth == 0)
		return;
	n->left = alloc(sizeof(*n));
	n->right = alloc(sizeof(*n));
	populate(depth - 1, n->left);
	populate(depth - 1, n->right);
}

static struct tnode *make_tree(unsigned depth)
{
	struct tnode *n = alloc(sizeof(*n));
	if (depth > 0) {
		n->left = make_tree(depth - 1);
		n->right = make_tree(depth - 1);
	}
	return n;
}

static unsigned check(const struct tnode *n)
{
	return n ? 1 + check(n->left) + check(n->right) : 0;
}

static void require(bool ok, const char *what)
{
	if (!ok)
		die(what);
}

/* CPU time of this process: user and system (mostly first-touch page
 * faults). */
static void cpu_ns(uint64_t *user, uint64_t *sys)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*user = (uint64_t)ru.ru_utime.tv_sec * 1000000000ull + (uint64_t)ru.ru_utime.tv_usec * 1000;
	*sys = (uint64_t)ru.ru_stime.tv_sec * 1000000000ull + (uint64_t)ru.ru_stime.tv_usec * 1000;
}

/* A timed workload's figures, from run_begin to run_end. */
static struct {
	const char *name;
	uint64_t t0, alloc0, user0, sys0;
	uint64_t total, allocated, user, sys;
	struct figures gc;
	size_t peak_heap;
} run;

/* Begin a timed workload: its collections, pauses and peak from here.
 * name: the case main prints (run_report) once it returns, or NULL when the
 * workload prints its own line. */
static void run_begin(const char *name)
{
	memset(&st, 0, sizeof(st));
	peak_reset();
	run.name = name;
	run.alloc0 = total_alloc_bytes();
	cpu_ns(&run.user0, &run.sys0);
	run.t0 = now_ns();
}

static void run_end(void)
{
	run.total = now_ns() - run.t0;
	cpu_ns(&run.user, &run.sys);
	run.user -= run.user0;
	run.sys -= run.sys0;
	run.allocated = total_alloc_bytes() - run.alloc0;
	run.gc = st;
	run.peak_heap = peak_bytes();
}

/* Zero the stack below main's frame, where the workload's frames were: the
 * frames made next would otherwise hold their stale words, which a
 * conservative scan takes for pointers to dead trees. */
static __attribute__((noinline)) void scrub_stack(void)
{
	char pad[64 << 10];
	explicit_bzero(pad, sizeof(pad));
}

/* Print the workload's line, with the live bytes held at its end. Called
 * from main once the workload has returned, with its stack scrubbed. */
static void run_report(void)
{
	scrub_stack();
	uint64_t live = live_bytes();
	printf("bench: gc.%s alloc=%s total_ns=%llu collections=%llu gc_ns=%llu max_pause_ns=%llu "
	       "peak_heap=%zu live_bytes=%llu alloc_bytes=%llu user_ns=%llu sys_ns=%llu",
	       run.name, ALLOC_NAME, (unsigned long long)run.total, (unsigned long long)run.gc.collections,
	       (unsigned long long)run.gc.gc_ns, (unsigned long long)run.gc.max_pause_ns,
	       run.peak_heap, (unsigned long long)live, (unsigned long long)run.allocated,
	       (unsigned long long)run.user, (unsigned long long)run.sys);
	collector_report(&run.gc);
	printf("\n");
}

/* The long-lived tree and the array: GCBench's live set. */
static void gcbench_live_set(unsigned depth, unsigned words)
{
	roots.long_lived = alloc(sizeof(struct tnode));
	populate(depth, roots.long_lived);
	roots.array = alloc_noscan(words * sizeof(uint64_t));
	for (unsigned i = 0; i < words / 2; i++)
		roots.array[i] = i;
}

static void run_gcbench(void)
{
	enum { STRETCH = 18, LONG_LIVED = 16, ARRAY = 500000, MIN_DEPTH = 4, MAX_DEPTH = 16 };
	collect();
	run_begin("gcbench");
	require(check(make_tree(STRETCH)) == tree_size(STRETCH), "stretch tree");
	gcbench_live_set(LONG_LIVED, ARRAY);
	for (unsigned d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
		unsigned iters = 2 * tree_size(STRETCH) / tree_size(d);
		for (unsigned k = 0; k < iters; k++) {
			struct tnode *t = alloc(sizeof(*t));
			populate(d, t);
			struct tnode *b = make_tree(d);
			if (k == 0)
				require(check(t) == tree_size(d) && check(b) == tree_size(d), "gcbench trees");
		}
	}
	require(check(roots.long_lived) == tree_size(LONG_LIVED) && roots.array[1000] == 1000,
		"gcbench live set");
	run_end();
}

static void run_bintrees(unsigned max)
{
	enum { MIN = 4 };
	collect();
	run_begin(max == 16 ? "bintrees16" : "bintrees18");
	require(check(make_tree(max + 1)) == tree_size(max + 1), "stretch tree");
	roots.long_lived = make_tree(max);
	for (unsigned d = MIN; d <= max; d += 2) {
		unsigned iters = 1u << (max - d + MIN);
		uint64_t sum = 0;
		for (unsigned k = 0; k < iters; k++)
			sum += check(make_tree(d));
		require(sum == (uint64_t)iters * tree_size(d), "binary-trees sum");
	}
	require(check(roots.long_lived) == tree_size(max), "binary-trees long-lived tree");
	run_end();
}

static void run_bintrees16(void) { run_bintrees(16); }
static void run_bintrees18(void) { run_bintrees(18); }

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void run_collect(void)
{
	gcbench_live_set(16, 500000);
	collect();
	uint64_t ns[COLLECTS];
	for (int i = 0; i < COLLECTS; i++) {
		uint64_t t0 = now_ns();
		collect();
		ns[i] = now_ns() - t0;
	}
	qsort(ns, COLLECTS, sizeof(ns[0]), cmp_u64);
	require(check(roots.long_lived) == tree_size(16), "collect: long-lived tree");
	printf("bench: gc.collect alloc=%s ns=%llu min_ns=%llu max_ns=%llu live_bytes=%llu\n",
	       ALLOC_NAME, (unsigned long long)ns[COLLECTS / 2], (unsigned long long)ns[0],
	       (unsigned long long)ns[COLLECTS - 1], (unsigned long long)live_bytes());
}

static void run_alloc32(void)
{
	collect();
	run_begin(NULL);
	for (uint64_t i = 0; i < ALLOC_OPS; i++) {
		struct tnode *p = alloc(32);
		p->i = i;
		roots.ring[i % RING] = p;
	}
	run_end();
	for (unsigned i = 0; i < RING; i++)
		require(roots.ring[i]->i % RING == i, "alloc32 ring");
	printf("bench: gc.alloc32 alloc=%s ns=%.1f alloc_ns=%.1f collections=%llu peak_heap=%zu "
	       "user_ns=%llu sys_ns=%llu\n",
	       ALLOC_NAME, (double)run.total / ALLOC_OPS, (double)(run.total - run.gc.gc_ns) / ALLOC_OPS,
	       (unsigned long long)run.gc.collections, run.peak_heap, (unsigned long long)run.user,
	       (unsigned long long)run.sys);
}

static const struct {
	const char *name;
	void (*run)(void);
} workloads[] = {
	{ "gcbench", run_gcbench },
	{ "bintrees16", run_bintrees16 },
	{ "bintrees18", run_bintrees18 },
	{ "collect", run_collect },
	{ "alloc32", run_alloc32 },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Run workload w in this process, and print its line. */
static void run_workload(size_t w)
{
	collector_init();
	workloads[w].run();
	if (run.name)
		run_report();
}

int main(int argc, char **argv)
{
#ifdef GC_TIDEMARK
	stack_top = (uintptr_t)__builtin_frame_address(0);
#endif
	if (argc > 2)
		die("usage: gc_bench_<collector> [gcbench|bintrees16|bintrees18|collect|alloc32]");
	for (size_t w = 0; w < NR_WORKLOADS; w++) {
		if (argc == 2) {
			if (strcmp(argv[1], workloads[w].name))
				continue;
			run_workload(w);
			return 0;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			die("fork failed");
		if (pid == 0) {
			run_workload(w);
			exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			die("a workload's process failed");
	}
	if (argc == 2)
		die("no such workload");
	return 0;
}
