/*
 * bench/host/slab_bench.c - Tidemark's heap against glibc malloc, jemalloc,
 * mimalloc and tcmalloc, on the host: median ns per operation.
 *
 * One source, one binary per allocator: the Makefile builds
 * build/bench/slab_bench_<name> with ALLOC_NAME "<name>". With -DALLOC_TIDEMARK
 * it calls kmalloc/kfree: mm/slab.c over kernel_pmm on a private arena,
 * through the test shim. Otherwise it calls malloc/free, and the build links
 * the allocator that replaces them (-lALLOC_LIB); main checks that malloc
 * really resolves into that library before timing anything.
 *
 * Workloads. An operation is one allocation and one free; every object gets
 * one word written into it, as any user would, behind a compiler barrier so
 * that no allocate/free pair can be optimised away.
 *   a  hot loop: allocate 64 B, free it.
 *   b  random: a table of B_SLOTS slots; each operation picks a random slot,
 *      frees what it holds and puts a new object of 8..4096 B (uniform)
 *      there, so about B_SLOTS objects are live with random lifetimes.
 *   c  batches: allocate C_OBJS objects of 128 B, free them in a shuffled
 *      order; C_ROUNDS times.
 *   d  two threads (two "CPUs" for Tidemark): one allocates 64 B objects and
 *      passes them through a single-producer single-consumer ring to the
 *      other, which frees them: every free is remote. Wall time / objects.
 * Random choices are drawn once from a seed (1, unless given) before any
 * timing, so every allocator sees the same sequence and the timed loops do
 * no RNG work. Each workload runs REPEATS times; the median is printed as
 *   bench: slab.<workload> alloc=<name> ns=<median>
 *
 * Footprint (Tidemark only): after the timed runs of b, kmem_reclaim empties
 * the heap and one more, untimed, run of b samples after every operation both
 * the live bytes (sum of requested sizes) and the heap bytes (sum over the
 * kmalloc caches of kmem_cache_bytes(): every page its slabs hold, kept
 * empty slabs included). Both only grow inside an
 * operation's allocation, so a sample after each operation sees every peak.
 * Printed as
 *   bench: slab.b alloc=tidemark peak_ratio=<heap/live> peak_heap=<B> peak_live=<B>
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef ALLOC_TIDEMARK
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"
/* Fake physical memory, touched only as used: 128 MiB, as the default test
 * boot has, since the heap's idle bounds scale with RAM
 * (mm/slab_footprint.c). */
#define ARENA_BYTES	(128ull << 20)
#else
#include <dlfcn.h>
#endif

#define REPEATS		7

#define A_OPS		1000000
#define A_SIZE		64

#define B_SLOTS		1000
#define B_OPS		1000000
#define B_MIN_SIZE	8
#define B_MAX_SIZE	4096

#define C_OBJS		10000
#define C_ROUNDS	20
#define C_SIZE		128

#define D_OPS		1000000
#define D_SIZE		64
#define D_RING		1024	/* slots, a power of two */

/* ---- the allocator under test ------------------------------------------- */

#ifdef ALLOC_TIDEMARK
static inline void *bench_alloc(size_t n) { return kmalloc(n, 0); }
static inline void bench_free(void *p) { kfree(p); }
/* The CPU this thread plays (kernel/percpu.h): its free lists and slabs. */
static void set_cpu(unsigned cpu) { host_cpu_id = cpu; }
#else
static inline void *bench_alloc(size_t n) { return malloc(n); }
static inline void bench_free(void *p) { free(p); }
static void set_cpu(unsigned cpu) { (void)cpu; }
#endif

static void die(const char *why)
{
	fprintf(stderr, "slab_bench (%s): %s\n", ALLOC_NAME, why);
	exit(1);
}

/* Allocate n bytes and write the first word, as a user would. The barrier
 * makes the pointer escape: without it the compiler may delete a
 * malloc/free pair whose memory is never read. */
static inline __attribute__((always_inline)) void *get(size_t n, uint64_t v)
{
	uint64_t *p = bench_alloc(n);
	if (__builtin_expect(!p, 0))
		die("allocation failed");
	*p = v;
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

/* ---- timing ------------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median of REPEATS runs of one workload; each run returns ns per operation. */
static double median_of(double (*run)(void))
{
	double per[REPEATS];
	for (int r = 0; r < REPEATS; r++)
		per[r] = run();
	qsort(per, REPEATS, sizeof(per[0]), cmp_double);
	return per[REPEATS / 2];
}

/* splitmix64: a fixed, fast sequence, identical for every allocator. */
static uint64_t rng_state = 1;
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- a: hot loop -------------------------------------------------------- */

static double run_a(void)
{
	double t0 = now_ns();
	for (uint64_t i = 0; i < A_OPS; i++)
		bench_free(get(A_SIZE, i));
	return (now_ns() - t0) / A_OPS;
}

/* ---- b: random sizes and lifetimes --------------------------------------- */

static uint16_t b_slot[B_OPS], b_size[B_OPS];	/* drawn by main */
static void *b_table[B_SLOTS];

/* Free every object left in the table (not timed). */
static void b_empty(void)
{
	for (unsigned s = 0; s < B_SLOTS; s++) {
		bench_free(b_table[s]);
		b_table[s] = NULL;
	}
}

static double run_b(void)
{
	double t0 = now_ns();
	for (uint64_t i = 0; i < B_OPS; i++) {
		void **slot = &b_table[b_slot[i]];
		if (*slot)
			bench_free(*slot);
		*slot = get(b_size[i], i);
	}
	double t = now_ns() - t0;
	b_empty();
	return t / B_OPS;
}

/* Workload b once more, untimed, calling after_op (if any) after every
 * operation; its objects stay in b_table. Return: the peak of the live
 * bytes (sum of requested sizes). */
static uint64_t b_untimed(void (*after_op)(void))
{
	static uint16_t held[B_SLOTS];		/* requested size of each slot's object */
	uint64_t live = 0, peak_live = 0;

	for (uint64_t i = 0; i < B_OPS; i++) {
		unsigned s = b_slot[i];
		if (b_table[s])
			bench_free(b_table[s]);
		b_table[s] = get(b_size[i], i);
		live = live - held[s] + b_size[i];
		held[s] = b_size[i];
		peak_live = live > peak_live ? live : peak_live;
		if (after_op)
			after_op();
	}
	for (unsigned s = 0; s < B_SLOTS; s++)
		held[s] = 0;
	return peak_live;
}

#ifdef ALLOC_TIDEMARK
/* Sizes up to B_MAX_SIZE come from kmalloc caches, never from the page
 * allocator directly, so the caches' pages are the heap's whole footprint. */
_Static_assert(B_MAX_SIZE <= KMALLOC_MAX_CACHE, "workload b would make large allocations");

static struct kmem_cache *b_caches[64];		/* the caches serving 1..B_MAX_SIZE */
static unsigned b_nr_caches;

static void b_find_caches(void)
{
	for (size_t n = 1; n <= B_MAX_SIZE; n++) {
		struct kmem_cache *c = kmalloc_cache(n);
		/* Classes grow with n, so a new cache differs from the last one. */
		if (b_nr_caches && b_caches[b_nr_caches - 1] == c)
			continue;
		if (b_nr_caches == sizeof(b_caches) / sizeof(b_caches[0]))
			die("more kmalloc caches than b_caches holds");
		b_caches[b_nr_caches++] = c;
	}
}

static uint64_t heap_bytes(void)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < b_nr_caches; i++)
		sum += kmem_cache_bytes(b_caches[i]);
	return sum;
}

static uint64_t peak_heap;

static void sample_heap(void)
{
	uint64_t heap = heap_bytes();
	peak_heap = heap > peak_heap ? heap : peak_heap;
}

/* Workload b once more, untimed, sampling both footprints after every
 * operation (see the top of the file). */
static void footprint_b(void)
{
	kmem_reclaim();
	peak_heap = 0;
	uint64_t peak_live = b_untimed(sample_heap);
	b_empty();
	printf("bench: slab.b alloc=%s peak_ratio=%.3f peak_heap=%llu peak_live=%llu\n", ALLOC_NAME,
	       (double)peak_heap / (double)peak_live, (unsigned long long)peak_heap,
	       (unsigned long long)peak_live);
}
#endif

/* ---- f: b's footprint as resident memory, for every allocator ------------ */

/* A /proc/self/status field in KiB ("VmRSS", "VmHWM"), or 0. */
static uint64_t status_kib(const char *field)
{
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Workload b once, untimed, in a process that ran nothing else: the growth
 * of its peak resident set (VmHWM) over its resident set before, per peak
 * live byte. This is what an allocator's memory costs the machine, free
 * lists and caches included, measured the same way for every allocator
 * (Tidemark's arena pages count once touched). Asked for on its own:
 *   build/bench/slab_bench_<name> f
 * prints
 *   bench: slab.f alloc=<name> rss_ratio=<peak RSS growth / peak live> rss_kib=<KiB> */
static void footprint_rss(void)
{
	uint64_t before = status_kib("VmRSS");
	uint64_t peak_live = b_untimed(NULL);
	uint64_t grown = (status_kib("VmHWM") - before) * 1024;
	b_empty();
	printf("bench: slab.f alloc=%s rss_ratio=%.3f rss_kib=%llu\n", ALLOC_NAME,
	       (double)grown / (double)peak_live, (unsigned long long)(grown / 1024));
}

/* ---- c: producer/consumer batches ----------------------------------------- */

static void *c_objs[C_OBJS];
static uint16_t c_order[C_OBJS];	/* a shuffle of 0..C_OBJS-1, drawn by main */

static double run_c(void)
{
	double t0 = now_ns();
	for (unsigned r = 0; r < C_ROUNDS; r++) {
		for (unsigned i = 0; i < C_OBJS; i++)
			c_objs[i] = get(C_SIZE, i);
		for (unsigned i = 0; i < C_OBJS; i++)
			bench_free(c_objs[c_order[i]]);
	}
	return (now_ns() - t0) / ((double)C_ROUNDS * C_OBJS);
}

/* ---- d: allocate on one thread, free on another --------------------------- */

/* head: the producer's count of objects put in; tail: the consumer's count
 * taken out. Each is written by one thread only, on its own cache line, and
 * each thread keeps a possibly stale copy of the other's: stale only makes
 * the ring look fuller (producer) or emptier (consumer) than it is. */
static struct {
	void *slot[D_RING];
	uint64_t head __attribute__((aligned(64)));
	uint64_t tail __attribute__((aligned(64)));
} ring;

/* Wait until the other thread's counter moves past `seen`; return it. Spin
 * briefly, then yield: on a loaded host the two threads may share one CPU,
 * and pure spinning would then hand over once per scheduler tick. */
static uint64_t d_wait(const uint64_t *counter, uint64_t seen)
{
	uint64_t now;
	for (unsigned spins = 0; (now = __atomic_load_n(counter, __ATOMIC_ACQUIRE)) == seen; spins++) {
		if (spins < 1000)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
	return now;
}

static void *d_producer(void *arg)
{
	uint64_t tail_seen = 0;
	(void)arg;
	set_cpu(0);
	for (uint64_t head = 0; head < D_OPS; head++) {
		if (head - tail_seen == D_RING)
			tail_seen = d_wait(&ring.tail, tail_seen);
		ring.slot[head % D_RING] = get(D_SIZE, head);
		__atomic_store_n(&ring.head, head + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *d_consumer(void *arg)
{
	uint64_t head_seen = 0;
	(void)arg;
	set_cpu(1);
	for (uint64_t tail = 0; tail < D_OPS; tail++) {
		if (tail == head_seen)
			head_seen = d_wait(&ring.head, head_seen);
		void *p = ring.slot[tail % D_RING];
		__atomic_store_n(&ring.tail, tail + 1, __ATOMIC_RELEASE);
		bench_free(p);
	}
	return NULL;
}

/* The time includes creating the two threads: tens of microseconds against
 * tens of milliseconds of work. The producer shares CPU 0 with main, which
 * only waits meanwhile. */
static double run_d(void)
{
	pthread_t prod, cons;
	ring.head = ring.tail = 0;
	double t0 = now_ns();
	if (pthread_create(&cons, NULL, d_consumer, NULL) || pthread_create(&prod, NULL, d_producer, NULL))
		die("pthread_create failed");
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	return (now_ns() - t0) / D_OPS;
}

/* ---- setup ---------------------------------------------------------------- */

#ifdef ALLOC_TIDEMARK
/* kernel_pmm over a private arena, then the kmalloc caches over it. */
static void heap_init(void)
{
	host_phys_base = aligned_alloc(1 << 22, ARENA_BYTES);
	void *db = aligned_alloc(_Alignof(struct page), pmm_db_bytes(0, ARENA_BYTES));
	if (!host_phys_base || !db)
		die("no memory for the arena");
	pmm_init(&kernel_pmm, db, 0, ARENA_BYTES);
	pmm_add_range(&kernel_pmm, PAGE_SIZE, ARENA_BYTES);	/* page 0 stays reserved */
	slab_init();
	b_find_caches();
}
#else
/* Refuse to time the wrong allocator: the malloc every call here binds to
 * must come from libALLOC_LIB. */
static void heap_init(void)
{
	Dl_info info;
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	if (!m || !dladdr(m, &info) || !info.dli_fname || !strstr(info.dli_fname, "lib" ALLOC_LIB ".so"))
		die("malloc does not come from lib" ALLOC_LIB);
}
#endif

/* Was workload w asked for? No argument runs a to d; "bc" runs b and c
 * (for profiling one workload: perf record build/bench/slab_bench_tidemark b).
 * f (footprint_rss) runs only alone. A second argument replaces the random
 * draws' seed (1), to see how much a figure owes to one sequence:
 *   build/bench/slab_bench_tidemark b 2 */
static const char *only;
static int wanted(char w) { return !only || strchr(only, w) != NULL; }

int main(int argc, char **argv)
{
	if (argc > 1)
		only = argv[1];
	if (argc > 2) {
		char *end;
		rng_state = strtoull(argv[2], &end, 10);
		if (!*argv[2] || *end)
			die("the seed must be a decimal number");
	}
	heap_init();

	for (unsigned i = 0; i < B_OPS; i++) {
		b_slot[i] = (uint16_t)(rng() % B_SLOTS);
		b_size[i] = (uint16_t)(B_MIN_SIZE + rng() % (B_MAX_SIZE - B_MIN_SIZE + 1));
	}
	for (unsigned i = 0; i < C_OBJS; i++)
		c_order[i] = (uint16_t)i;
	for (unsigned i = C_OBJS - 1; i > 0; i--) {	/* Fisher-Yates */
		unsigned j = (unsigned)(rng() % (i + 1));
		uint16_t t = c_order[i];
		c_order[i] = c_order[j];
		c_order[j] = t;
	}

	/* f only when asked: it must run in a process of its own. */
	if (only && strchr(only, 'f')) {
		footprint_rss();
		return 0;
	}
	if (wanted('a'))
		printf("bench: slab.a alloc=%s ns=%.1f\n", ALLOC_NAME, median_of(run_a));
	if (wanted('b')) {
		printf("bench: slab.b alloc=%s ns=%.1f\n", ALLOC_NAME, median_of(run_b));
#ifdef ALLOC_TIDEMARK
		footprint_b();
#endif
	}
	if (wanted('c'))
		printf("bench: slab.c alloc=%s ns=%.1f\n", ALLOC_NAME, median_of(run_c));
	if (wanted('d'))
		printf("bench: slab.d alloc=%s ns=%.1f\n", ALLOC_NAME, median_of(run_d));
	return 0;
}
