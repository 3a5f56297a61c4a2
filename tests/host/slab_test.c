/*
 * tests/host/slab_test.c - mm/slab.c on the host, under ASan and UBSan.
 *
 * The heap runs over kernel_pmm, as in the kernel: main points it at a
 * 128 MiB arena aligned to 4 MiB (so a block's virtual alignment is its
 * physical one) and calls slab_init once; the tests share that heap, and
 * each leaves it as it found it. Misuse is counted through
 * slab_report_count and read through console_capture (tests/host/kshim.c);
 * after every report the heap must still pass slab_check. The two-thread
 * test gives each thread its own CPU id (kernel/percpu.h), so each has its
 * own free lists and slabs, as two CPUs would. tests/kernel/slab_test.c runs the same
 * code in the kernel build.
 */
#include "kernel/console.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"
#include "mm/slab_internal.h"
#include "mm/slab_footprint.h"
#include "mm/kmalloc.h"
#include "tests/host/htest.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#define MiB		(1ull << 20)
#define ARENA		(128 * MiB)	/* as the default test boot: the idle bounds scale with it */
#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/* kmalloc's size classes, restated: the test's own idea of what ksize is. */
static const size_t classes[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256,
	336, 400, 448, 512, 672, 816, 1024, 1360, 1632, 2048, 2720, 3264, 4096,
	5120, 6144, 7168, 8192,
};

static size_t class_of(size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(classes); i++)
		if (classes[i] >= n)
			return classes[i];
	return 0;
}

static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* ---- contents: bytes regenerated from a seed ------------------------------ */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Byte i of a fill depends only on seed and i, so a prefix checks alone. */
static void fill(void *p, size_t n, uint64_t seed)
{
	uint8_t *b = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = mix(seed + i);
		memcpy(b + i, &w, 8);
	}
	if (i < n) {
		uint64_t w = mix(seed + i);
		memcpy(b + i, &w, n - i);
	}
}

static bool filled(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = mix(seed + i);
		if (memcmp(b + i, &w, 8))
			return false;
	}
	if (i < n) {
		uint64_t w = mix(seed + i);
		if (memcmp(b + i, &w, n - i))
			return false;
	}
	return true;
}

static uint64_t rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix(*s);
}

/* ---- reports ------------------------------------------------------------- */

static char report[4096];

/* Run stmt with the console captured; the value is how many reports it made. */
#define REPORTS_OF(stmt)						\
	({								\
		uint64_t before_ = slab_report_count();			\
		console_capture(report, sizeof(report));		\
		stmt;							\
		console_capture(NULL, 0);				\
		slab_report_count() - before_;				\
	})

static inline bool expect_contains(const char *file, int line, const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		return true;
	htest_fail_begin(file, line);
	printf("report lacks ");
	htest_print_quoted(needle);
	printf(": ");
	htest_print_quoted(hay);
	printf("\n");
	fflush(stdout);
	return false;
}
#define HEXPECT_CONTAINS(hay, needle)	\
	do { expect_contains(__FILE__, __LINE__, (hay), (needle)); } while (0)

static uint64_t in_use(struct kmem_cache *c)
{
	struct kmem_cache_stats st;
	kmem_cache_stats(c, &st);
	return st.objects_in_use;
}

/* Objects in use over every kmalloc class. */
static uint64_t kmalloc_in_use(void)
{
	uint64_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(classes); i++)
		n += in_use(kmalloc_cache(classes[i]));
	return n;
}

/* ---- size classes -------------------------------------------------------- */

HTEST(every_size_fits_its_class_and_aligns)
{
	uint64_t reports = slab_report_count();
	for (size_t n = 1; n <= KMALLOC_MAX_CACHE; n++) {
		size_t want = class_of(n);
		uint8_t *p = kmalloc(n, 0);
		HASSERT_TRUE(p != NULL);
		HEXPECT_EQ(ksize(p), want);
		HEXPECT_EQ((uintptr_t)p % KMALLOC_MIN_ALIGN, 0);
		if (is_pow2(want))
			HEXPECT_EQ((uintptr_t)p % want, 0);
		HEXPECT_TRUE(kmalloc_cache(n) == kmalloc_cache(want));
		memset(p, 0xa5, ksize(p));	/* all of ksize is the caller's */
		HEXPECT_TRUE(kmem_object_base(p + n - 1) == p);
		kfree(p);
	}
	/* Each class's cache carries its name and size. */
	for (size_t i = 0; i < ARRAY_LEN(classes); i++) {
		struct kmem_cache_stats st;
		char name[32];
		kmem_cache_stats(kmalloc_cache(classes[i]), &st);
		snprintf(name, sizeof(name), "kmalloc-%zu", classes[i]);
		HEXPECT_STREQ(st.name, name);
		HEXPECT_EQ(st.object_size, classes[i]);
	}
	HEXPECT_TRUE(kmalloc_cache(KMALLOC_MAX_CACHE + 1) == NULL);
	HEXPECT_EQ(slab_report_count(), reports);
	slab_check();
}

HTEST(large_sizes_are_page_rounded_powers_of_two)
{
	uint64_t reports = slab_report_count();
	size_t sizes[64], n = 0;
	sizes[n++] = KMALLOC_MAX_CACHE + 1;
	sizes[n++] = 3 * PAGE_SIZE;
	for (size_t b = 4 * PAGE_SIZE; b <= (PAGE_SIZE << PMM_MAX_ORDER); b <<= 1) {
		sizes[n++] = b - 1;
		sizes[n++] = b;
		if (b < (PAGE_SIZE << PMM_MAX_ORDER))
			sizes[n++] = b + 1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t want = 4 * PAGE_SIZE;
		while (want < sizes[i])
			want <<= 1;
		uint8_t *p = kmalloc(sizes[i], 0);
		HASSERT_TRUE(p != NULL);
		HEXPECT_EQ(ksize(p), want);
		HEXPECT_EQ((uintptr_t)p % want, 0);	/* naturally aligned: a buddy block */
		p[0] = 1;
		p[sizes[i] - 1] = 2;
		HEXPECT_TRUE(kmem_object_base(p + sizes[i] - 1) == p);
		HEXPECT_TRUE(kmem_object_base(p + want / 2) == p);
		kfree(p);
	}
	/* Above the largest block, and sizes whose page count would overflow. */
	HEXPECT_TRUE(kmalloc((PAGE_SIZE << PMM_MAX_ORDER) + 1, 0) == NULL);
	HEXPECT_TRUE(kmalloc(1ull << 62, 0) == NULL);
	HEXPECT_TRUE(kmalloc(SIZE_MAX, 0) == NULL);
	HEXPECT_TRUE(kzalloc(SIZE_MAX - PAGE_SIZE, 0) == NULL);
	HEXPECT_EQ(slab_report_count(), reports);
	slab_check();
}

HTEST(krealloc_keeps_contents)
{
	uint64_t reports = slab_report_count();
	/* Through every kind of move: up the classes, into and out of the large
	 * blocks, down again; each step keeps the common prefix. */
	static const size_t steps[] = { 1, 24, 100, 1000, 4096, 5000, 8192, 8193, 20000, 300000,
					20000, 9000, 8192, 3000, 33, 16, 7 };
	size_t n = 0;
	uint8_t *p = NULL;
	for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
		uint8_t *q = krealloc(p, steps[i], 0);
		HASSERT_TRUE(q != NULL);
		if (p)
			HEXPECT_TRUE(filled(q, n < steps[i] ? n : steps[i], 77));
		HEXPECT_TRUE(ksize(q) >= steps[i]);
		fill(q, steps[i], 77);
		p = q;
		n = steps[i];
	}
	/* Within its class the object stays where it is. */
	uint8_t *same = krealloc(p, 9, 0);
	HEXPECT_TRUE(same == p);
	HEXPECT_EQ(ksize(same), 16);
	HEXPECT_TRUE(filled(same, 7, 77));
	/* krealloc(p, 0) frees. */
	struct kmem_cache *c16 = kmalloc_cache(16);
	uint64_t before = in_use(c16);
	HEXPECT_TRUE(krealloc(same, 0, 0) == NULL);
	HEXPECT_EQ(in_use(c16), before - 1);
	/* krealloc(NULL, n) is kmalloc(n). */
	p = krealloc(NULL, 700, 0);
	HASSERT_TRUE(p != NULL);
	HEXPECT_EQ(ksize(p), 816);
	HEXPECT_EQ(in_use(kmalloc_cache(700)), 1);
	/* A failed growth leaves the old object as it was. */
	fill(p, 700, 5);
	HEXPECT_TRUE(krealloc(p, SIZE_MAX, 0) == NULL);
	HEXPECT_TRUE(filled(p, 700, 5));
	kfree(p);
	HEXPECT_EQ(in_use(kmalloc_cache(700)), 0);
	HEXPECT_EQ(slab_report_count(), reports);
	slab_check();
}

HTEST(kzalloc_zeroes_a_recycled_object)
{
	enum { TRIES = 600 };	/* more than a slab of the smallest class holds */
	static uint8_t *got[TRIES];
	for (size_t n = 8; n <= 20000; n = n * 3 + 1) {
		uint8_t *p = kmalloc(n, 0);
		HASSERT_TRUE(p != NULL);
		memset(p, 0xee, ksize(p));
		kfree(p);
		/* p went back to its slab; allocate until the heap hands it out
		 * again (after the CPU's list runs dry, at the latest), every
		 * object zeroed. */
		size_t bad = 0, k = 0;
		bool again = false;
		while (k < TRIES && !again) {
			uint8_t *q = kzalloc(n, 0);
			HASSERT_TRUE(q != NULL);
			for (size_t i = 0; i < ksize(q); i++)
				bad += q[i] != 0;
			got[k++] = q;
			again = q == p;
		}
		HEXPECT_TRUE(again || n > KMALLOC_MAX_CACHE);
		HEXPECT_EQ(bad, 0);
		while (k)
			kfree(got[--k]);
	}
	slab_check();
}

HTEST(stats_count_objects_and_pages)
{
	struct kmem_cache *c = kmem_cache_create("test-stats", 256, 0, 0, NULL);
	struct kmem_cache_stats st;
	void *objs[100];
	HASSERT_TRUE(c != NULL);
	for (int i = 0; i < 100; i++)
		objs[i] = kmem_cache_alloc(c, 0);
	kmem_cache_stats(c, &st);
	HEXPECT_STREQ(st.name, "test-stats");
	HEXPECT_EQ(st.object_size, 256);
	HEXPECT_EQ(st.objects_in_use, 100);
	HEXPECT_TRUE(st.slabs * (PAGE_SIZE / 256) >= 100);
	HEXPECT_TRUE(st.bytes >= st.slabs * PAGE_SIZE && st.bytes % PAGE_SIZE == 0);
	for (int i = 0; i < 100; i++)
		kmem_cache_free(c, objs[i]);
	kmem_cache_stats(c, &st);
	HEXPECT_EQ(st.objects_in_use, 0);
	slab_check();
	uint64_t reports = slab_report_count();
	kmem_cache_destroy(c);
	HEXPECT_EQ(slab_report_count(), reports);
}

/* ---- exhaustion ------------------------------------------------------------ */

/* Allocate n-byte objects until NULL, chained through their first word. */
static void **exhaust(size_t n, uint64_t *count)
{
	void **head = NULL, **p;
	*count = 0;
	while ((p = kmalloc(n, 0)) != NULL) {
		*p = head;
		head = p;
		(*count)++;
	}
	return head;
}

static void free_chain(void **head)
{
	while (head) {
		void **next = *head;
		kfree(head);
		head = next;
	}
}

static uint64_t free_pages_after_reclaim(void)
{
	struct pmm_stats st;
	kmem_reclaim();
	pmm_drain(&kernel_pmm);
	pmm_stats(&kernel_pmm, &st);
	return st.free_pages;
}

HTEST(exhaustion_returns_null_and_recovers)
{
	uint64_t big, mid, small, reports = slab_report_count();
	uint64_t before = free_pages_after_reclaim();

	/* Free objects and empty slabs in reserve, for the shortage to reclaim. */
	void *reserve[500];
	for (int i = 0; i < 500; i++)
		reserve[i] = kmalloc(256, 0);
	for (int i = 0; i < 500; i++)
		kfree(reserve[i]);

	void **bigs = exhaust(MiB, &big);	/* most of memory, in 1 MiB blocks */
	void **mids = exhaust(3000, &mid);	/* then order-2 slabs */
	void **smalls = exhaust(64, &small);	/* then every last page */
	HEXPECT_TRUE(big >= 50);
	HEXPECT_TRUE(small > 0);
	HEXPECT_TRUE(kmalloc(64, 0) == NULL);
	HEXPECT_TRUE(kmalloc(20000, 0) == NULL);
	HEXPECT_TRUE(kmalloc(3000, 0) == NULL);
	struct pmm_stats empty;
	pmm_stats(&kernel_pmm, &empty);
	HEXPECT_EQ(empty.free_pages, 0);
	/* Running out made the heap give back what it held in reserve. */
	struct kmem_cache_stats st;
	kmem_cache_stats(kmalloc_cache(256), &st);
	HEXPECT_EQ(st.slabs, 0);
	slab_check();

	free_chain(smalls);
	free_chain(mids);
	free_chain(bigs);
	void *p = kmalloc(64, 0), *q = kmalloc(MiB, 0);
	HEXPECT_TRUE(p != NULL && q != NULL);
	kfree(p);
	kfree(q);
	slab_check();
	pmm_check(&kernel_pmm);
	HEXPECT_EQ(free_pages_after_reclaim(), before);
	HEXPECT_EQ(slab_report_count(), reports);
	printf("    # exhaustion: %llu x 1 MiB, %llu x 3000 B, %llu x 64 B before NULL\n",
	       (unsigned long long)big, (unsigned long long)mid, (unsigned long long)small);
}

/* Every object of c's slabs handed out: none free in them or a CPU list. */
static bool cache_full(struct kmem_cache *c)
{
	struct kmem_cache_stats st;
	kmem_cache_stats(c, &st);
	return st.slabs && st.objects_in_use == st.slabs * (st.bytes / st.slabs / st.stride);
}

/*
 * With no page left, freed objects are still handed out, whatever the
 * slab's shape: kmalloc-1360 (3 to a slab, a refill of 2 finding 1 free),
 * -1632 and -2720 (order-1 slabs, one object a refill), -8192 (one object
 * to a slab) and -1024, -400, -336 (few objects to a slab: a refill takes
 * half of one). A refill that went to the page allocator holding objects
 * had them flushed back by the allocator's reclaim, and failed with
 * objects free.
 */
HTEST(exhaustion_hands_out_every_free_object)
{
	static const size_t sizes[] = { 1360, 1632, 2720, 8192, 1024, 400, 336 };
	uint64_t before = free_pages_after_reclaim();
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		struct kmem_cache *c = kmalloc_cache(sizes[i]);
		uint64_t big, n, again;
		void **bigs = exhaust(MiB, &big);
		void **objs = exhaust(sizes[i], &n);
		HEXPECT_TRUE(n >= 2);
		HEXPECT_TRUE(cache_full(c));
		for (int k = 0; k < 2; k++) {
			void **p = objs;
			objs = *p;
			kfree(p);
		}
		kmem_reclaim();		/* the two back on their slabs */
		void **more = exhaust(sizes[i], &again);
		HEXPECT_EQ(again, 2);
		HEXPECT_TRUE(cache_full(c));
		slab_check();
		free_chain(more);
		free_chain(objs);
		free_chain(bigs);
	}
	HEXPECT_EQ(free_pages_after_reclaim(), before);
}

/* ---- heap growth: footprint_make_room ------------------------------------ */

/*
 * Objects freed into full slabs stay on the CPU list; when another cache
 * then needs a slab, the slabs only those lists hold go back first, so the
 * heap does not pass its peak. kmalloc-4096 holds one object to a slab,
 * every one of which a free keeps.
 */
HTEST(a_new_slab_takes_the_pages_cpu_lists_hold_before_the_heap_grows)
{
	struct kmem_cache *c4k = kmalloc_cache(4096), *c2k = kmalloc_cache(2048);
	kmem_reclaim();		/* every list empty, the peak what is left */
	uint64_t base = kmem_cache_bytes(c4k) + kmem_cache_bytes(c2k);
	void *big[8], *half[8];
	for (int i = 0; i < 8; i++)
		HASSERT_TRUE((big[i] = kmalloc(4096, 0)) != NULL);
	uint64_t peak = kmem_cache_bytes(c4k) + kmem_cache_bytes(c2k);
	HEXPECT_EQ(peak, base + 8 * PAGE_SIZE);
	for (int i = 0; i < 8; i++)
		kfree(big[i]);
	HEXPECT_EQ(kmem_cache_bytes(c4k) + kmem_cache_bytes(c2k), peak);	/* kept */
	for (int i = 0; i < 8; i++)
		HASSERT_TRUE((half[i] = kmalloc(2048, 0)) != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c2k), 4 * PAGE_SIZE);
	HEXPECT_TRUE(kmem_cache_bytes(c4k) + kmem_cache_bytes(c2k) <= peak);
	slab_check();
	for (int i = 0; i < 8; i++)
		kfree(half[i]);
	slab_check();
}

/*
 * A slab with an object still in use stays, and its free objects stay on
 * the CPU list, in order, to be handed out again; a slab whose objects are
 * all on the list goes back. kmalloc-1360 holds 3 objects to a 4 KiB slab,
 * taken whole onto the list in address order.
 */
HTEST(footprint_make_room_keeps_slabs_with_objects_in_use)
{
	struct kmem_cache *c = kmalloc_cache(1360);
	kmem_reclaim();
	uint64_t base = kmem_cache_bytes(c);
	uint8_t *o[6];
	for (int i = 0; i < 6; i++)
		HASSERT_TRUE((o[i] = kmalloc(1360, 0)) != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c), base + 2 * PAGE_SIZE);
	/* One slab all free (o[0..2]), one with o[5] in use. */
	uint8_t *slab_a = kmem_object_base(o[0]), *slab_b = kmem_object_base(o[3]);
	HASSERT_TRUE(((uintptr_t)slab_a >> PAGE_SHIFT) == ((uintptr_t)o[2] >> PAGE_SHIFT));
	HASSERT_TRUE(((uintptr_t)slab_b >> PAGE_SHIFT) == ((uintptr_t)o[5] >> PAGE_SHIFT));
	for (int i = 0; i < 5; i++)
		kfree(o[i]);
	/* A larger class's new slab would pass the peak. */
	void *big = kmalloc(8192, 0);
	HASSERT_TRUE(big != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c), base + PAGE_SIZE);
	slab_check();
	/* The two kept objects of the slab in use come back, last freed first. */
	HEXPECT_TRUE(kmalloc(1360, 0) == o[4]);
	HEXPECT_TRUE(kmalloc(1360, 0) == o[3]);
	HEXPECT_EQ(kmem_cache_bytes(c), base + PAGE_SIZE);
	slab_check();
	kfree(o[3]);
	kfree(o[4]);
	kfree(o[5]);
	kfree(big);
	slab_check();
}

/*
 * One footprint_make_room call spends TRIM_BUDGET at most, one for each
 * CPU-list object looked at (and TRIM_VISIT for each cache). A new cache of
 * 16 B objects (256 to a 4 KiB slab, taken whole onto the CPU list in
 * address order) with 17 slabs' objects kept on that list: the budget covers
 * at most the 16 slabs freed last, at the top of the list; the slab freed
 * first, at its bottom, stays, and what stays is handed out again.
 */
HTEST(footprint_make_room_looks_at_a_bounded_number_of_objects)
{
	enum { PER = 256, SLABS = 17, N = PER * SLABS };
	_Static_assert(PER * (SLABS - 1) == TRIM_BUDGET, "the budget covers all but one slab");
	static void *obj[N];
	struct kmem_cache *c = kmem_cache_create("trim-budget", 16, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	c->keep_below = N;	/* more than its share of the idle bounds: all N kept */
	kmem_reclaim();
	for (int i = 0; i < N; i++)
		HASSERT_TRUE((obj[i] = kmem_cache_alloc(c, 0)) != NULL);
	for (int i = 0; i < N; i++)
		kmem_cache_free(c, obj[i]);
	HEXPECT_EQ(kmem_cache_bytes(c), SLABS * PAGE_SIZE);	/* all kept */
	void *big = kmalloc(8192, 0);	/* visits c first: the newest cache */
	HASSERT_TRUE(big != NULL);
	uint64_t left = kmem_cache_bytes(c) / PAGE_SIZE;
	HEXPECT_TRUE(left >= 1 && left <= 2);	/* the caches before c cost a little */
	for (int i = (int)(left * PER) - 1; i >= 0; i--)
		HEXPECT_TRUE(kmem_cache_alloc(c, 0) == obj[i]);
	HEXPECT_EQ(kmem_cache_bytes(c), left * PAGE_SIZE);
	slab_check();
	for (int i = 0; i < (int)(left * PER); i++)
		kmem_cache_free(c, obj[i]);
	kfree(big);
	kmem_cache_destroy(c);
	slab_check();
}

/* Allocate from c until no slab of this CPU's has a free object left and
 * its CPU list is empty, so that its next allocation makes a slab. */
static void drain_cache(struct kmem_cache *c, void **held)
{
	struct kmem_cpu_slabs *own = &c->owned[cpu_id()];
	while (c->cpu[cpu_id()].freelist || own->nr_slabs[LIST_PARTIAL] || own->nr_slabs[LIST_EMPTY]) {
		void **p = kmem_cache_alloc(c, 0);
		*p = *held;
		*held = p;
	}
}

/*
 * footprint_make_room takes from caches of large objects first: a kept
 * kmalloc-4096 object is a page to give back at once, where kmalloc-64's
 * kept objects fill a whole slab only together.
 */
HTEST(footprint_make_room_trims_caches_of_large_objects_first)
{
	struct kmem_cache *c64 = kmalloc_cache(64), *c4k = kmalloc_cache(4096),
			  *c2k = kmalloc_cache(2048);
	void *held64 = NULL, *held2k = NULL;
	kmem_reclaim();
	drain_cache(c2k, &held2k);
	drain_cache(c64, &held64);
	uint64_t b64 = kmem_cache_bytes(c64), b4k = kmem_cache_bytes(c4k);
	unsigned per = c64->per_slab;
	static void *small[PAGE_SIZE / 16];
	for (unsigned i = 0; i < per; i++)
		HASSERT_TRUE((small[i] = kmalloc(64, 0)) != NULL);	/* one new slab */
	void *page = kmalloc(4096, 0);
	HASSERT_TRUE(page != NULL);
	HASSERT_EQ(kmem_cache_bytes(c64), b64 + PAGE_SIZE);
	HASSERT_EQ(kmem_cache_bytes(c4k), b4k + PAGE_SIZE);
	for (unsigned i = 0; i < per; i++)
		kfree(small[i]);			/* kept: the slab is full */
	kfree(page);					/* kept */
	void *half = kmalloc(2048, 0);			/* one new page: past the peak */
	HASSERT_TRUE(half != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c4k), b4k);		/* the page went back */
	HEXPECT_EQ(kmem_cache_bytes(c64), b64 + PAGE_SIZE);	/* the 64 B objects stayed */
	slab_check();
	kfree(half);
	free_chain(held2k);
	free_chain(held64);
	slab_check();
}

/* CPU 3 allocates and frees arg pages through kmalloc-4096, then gives
 * back its page allocator's per-CPU cache. */
static void *cpu3_frees_pages(void *arg)
{
	unsigned n = (unsigned)(uintptr_t)arg;
	host_cpu_id = 3;
	void **p = calloc(n, sizeof(void *));
	if (p) {
		for (unsigned i = 0; i < n; i++)
			p[i] = kmalloc(4096, 0);
		for (unsigned i = 0; i < n; i++)
			kfree(p[i]);
		free(p);
	}
	pmm_drain(&kernel_pmm);
	return NULL;
}

static void *cpu3_reclaims(void *arg)
{
	(void)arg;
	host_cpu_id = 3;
	kmem_reclaim();
	pmm_drain(&kernel_pmm);
	return NULL;
}

/*
 * A cache of one object to a slab keeps freed objects, each a page, up to
 * its share of the idle bounds (mm/slab_footprint.c) a CPU: a CPU that frees
 * 8 MiB of them and goes idle holds at most one cache's bound, which only
 * its own kmem_reclaim (or footprint_make_room) gives back.
 */
HTEST(pages_kept_on_an_idle_cpu_are_bounded)
{
	pthread_t t;
	host_cpu_id = 0;
	uint64_t before = free_pages_after_reclaim();
	HASSERT_EQ(pthread_create(&t, NULL, cpu3_frees_pages, (void *)(uintptr_t)2048), 0);
	pthread_join(t, NULL);
	uint64_t held = before - free_pages_after_reclaim();	/* CPU 0 reclaims its own */
	struct footprint_bounds b;
	footprint_bounds(&b);
	HEXPECT_TRUE(held > 0 && held <= b.per_cache / PAGE_SIZE);
	slab_check();
	HASSERT_EQ(pthread_create(&t, NULL, cpu3_reclaims, NULL), 0);
	pthread_join(t, NULL);
	HEXPECT_EQ(free_pages_after_reclaim(), before);
}

/* ---- randomised stress against a shadow record ------------------------------- */

#define STRESS_SLOTS	2000
#define STRESS_OPS	1000000
#define STRESS_CHECK	10000

struct shadow {
	uint8_t *p;
	size_t n;	/* bytes asked */
	uint64_t seed;	/* regenerates all n bytes */
	struct kmem_cache *cache;	/* its cache, or NULL for kmalloc */
};

static size_t stress_size(uint64_t r)
{
	unsigned kind = r % 100;
	r >>= 8;
	if (kind < 2)
		return KMALLOC_MAX_CACHE + 1 + r % (64 * 1024);	/* large */
	if (kind < 6)
		return 4097 + r % (KMALLOC_MAX_CACHE - 4096);
	return 8 + r % (4096 - 7);
}

HTEST(random_stress_against_shadow)
{
	static struct shadow slots[STRESS_SLOTS];
	uint64_t rng = 1, reports = slab_report_count(), in_use_before = kmalloc_in_use();
	uint64_t allocs = 0, frees = 0, reallocs = 0, checks = 0, live = 0, peak = 0, bytes = 0, bad = 0;

	for (unsigned op = 1; op <= STRESS_OPS; op++) {
		uint64_t r = rng_next(&rng);
		struct shadow *s = &slots[r % STRESS_SLOTS];
		r >>= 16;
		if (!s->p) {
			s->n = stress_size(r);
			s->p = kmalloc(s->n, 0);
			HASSERT_TRUE(s->p != NULL);
			s->seed = rng_next(&rng);
			fill(s->p, s->n, s->seed);
			allocs++;
			live++;
			peak = live > peak ? live : peak;
		} else {
			bad += ksize(s->p) < s->n;
			bad += kmem_object_base(s->p + r % s->n) != s->p;
			if (r % 8 == 0) {
				size_t n = stress_size(r >> 3);
				uint8_t *q = krealloc(s->p, n, 0);
				HASSERT_TRUE(q != NULL);
				bad += !filled(q, n < s->n ? n : s->n, s->seed);
				bytes += n < s->n ? n : s->n;
				s->p = q;
				s->n = n;
				s->seed = rng_next(&rng);
				fill(s->p, s->n, s->seed);
				reallocs++;
			} else {
				bad += !filled(s->p, s->n, s->seed);
				bytes += s->n;
				kfree(s->p);
				s->p = NULL;
				frees++;
				live--;
			}
		}
		if (op % STRESS_CHECK == 0) {
			slab_check();
			checks++;
		}
		HASSERT_EQ(bad, 0);
	}
	for (unsigned i = 0; i < STRESS_SLOTS; i++) {
		if (slots[i].p) {
			bad += !filled(slots[i].p, slots[i].n, slots[i].seed);
			kfree(slots[i].p);
			slots[i].p = NULL;
		}
	}
	slab_check();
	HEXPECT_EQ(bad, 0);
	HEXPECT_EQ(kmalloc_in_use(), in_use_before);
	HEXPECT_EQ(slab_report_count(), reports);
	HEXPECT_TRUE(peak >= 900);
	printf("    # stress: %d ops: %llu allocs, %llu frees, %llu reallocs, peak %llu live, "
	       "%llu MiB checked, %llu slab_checks\n", STRESS_OPS, (unsigned long long)allocs,
	       (unsigned long long)frees, (unsigned long long)reallocs, (unsigned long long)peak,
	       (unsigned long long)(bytes >> 20), (unsigned long long)checks);
}

/* ---- detectors: each fires on its misuse, once, and on nothing else ----------- */

/* krealloc of a freed object within its class: reported, and the free
 * object is not handed back, whether it waits on its slab or on top of the
 * CPU's free list (where krealloc's own kmalloc would take it). */
HTEST(krealloc_of_a_freed_object_is_reported)
{
	uint64_t before = kmalloc_in_use();
	uint8_t *f = kmalloc(100, 0), *g;
	HASSERT_TRUE(f != NULL);
	kfree(f);
	HEXPECT_EQ(REPORTS_OF(g = krealloc(f, 110, 0)), 1);
	HEXPECT_CONTAINS(report, "BUG kmalloc-112: ");
	HEXPECT_TRUE(g != f);
	kfree(g);
	slab_check();

	/* Empty the CPU list twice (so that the second refill's slabs have
	 * taken no free since), then free the last object taken: its slab is
	 * full, so the object is kept on top of the list. */
	struct kmem_cache *c = kmalloc_cache(100);
	uint8_t *held[512];
	unsigned n = 0;
	for (int round = 0; round < 2; round++) {
		do
			held[n++] = kmalloc(100, 0);
		while (c->cpu[cpu_id()].freelist && n < 512);
	}
	HASSERT_TRUE(c->cpu[cpu_id()].freelist == NULL);
	f = held[--n];
	kfree(f);
	HASSERT_TRUE(c->cpu[cpu_id()].freelist == f);
	HEXPECT_EQ(REPORTS_OF(g = krealloc(f, 110, 0)), 1);
	HEXPECT_CONTAINS(report, "BUG kmalloc-112: krealloc of 0x");
	HEXPECT_CONTAINS(report, "which is free");
	HEXPECT_TRUE(g == NULL);
	HEXPECT_TRUE(c->cpu[cpu_id()].freelist == f);	/* back where it was */
	slab_check();
	while (n)
		kfree(held[--n]);
	HEXPECT_EQ(kmalloc_in_use(), before);
	slab_check();
}

HTEST(double_free_is_reported_once)
{
	void *p = kmalloc(64, 0);
	HASSERT_TRUE(p != NULL);
	HEXPECT_EQ(REPORTS_OF(kfree(p)), 0);
	HEXPECT_EQ(REPORTS_OF(kfree(p)), 1);	/* still on its slab's free list */
	HEXPECT_CONTAINS(report, "BUG kmalloc-64: double free");
	HEXPECT_CONTAINS(report, "Call Trace:");
	slab_check();
	void *q = kmalloc(64, 0), *r = kmalloc(64, 0);	/* handed out once, not twice */
	HEXPECT_TRUE(q != r);
	kfree(q);
	kfree(r);

	/* Freed long enough ago to be back on its slab's free list. */
	void *objs[200];
	for (int i = 0; i < 200; i++)
		objs[i] = kmalloc(64, 0);
	for (int i = 0; i < 200; i++)
		kfree(objs[i]);
	HEXPECT_EQ(REPORTS_OF(kfree(objs[0])), 1);
	HEXPECT_CONTAINS(report, "double free");
	slab_check();

	/* A plain cache of its own, and a large block. */
	struct kmem_cache *c = kmem_cache_create("test-df", 40, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	void *o = kmem_cache_alloc(c, 0);
	kmem_cache_free(c, o);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, o)), 1);
	HEXPECT_CONTAINS(report, "BUG test-df: double free");
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	void *big = kmalloc(50000, 0);
	kfree(big);
	HEXPECT_EQ(REPORTS_OF(kfree(big)), 1);
	HEXPECT_CONTAINS(report, "which the heap does not own");
	slab_check();
}

HTEST(foreign_and_interior_pointers_are_reported)
{
	int on_stack;
	void *libc = malloc(64);
	uint8_t *page = page_alloc(0, 0);
	uint8_t *p = kmalloc(128, 0), *big = kmalloc(40000, 0);
	HASSERT_TRUE(libc && page && p && big);
	struct pmm_stats before, after;
	pmm_stats(&kernel_pmm, &before);

	HEXPECT_EQ(REPORTS_OF(kfree(&on_stack)), 1);
	HEXPECT_CONTAINS(report, "BUG kmalloc: kfree of 0x");
	HEXPECT_CONTAINS(report, "which the heap does not own");
	HEXPECT_EQ(REPORTS_OF(kfree(libc)), 1);
	HEXPECT_CONTAINS(report, "which the heap does not own");
	HEXPECT_EQ(REPORTS_OF(kfree(page)), 1);
	HEXPECT_CONTAINS(report, "which the heap does not own");
	HEXPECT_EQ(REPORTS_OF(kfree(host_phys_base)), 1);	/* a reserved frame */
	HEXPECT_EQ(REPORTS_OF(kfree(p + 16)), 1);
	HEXPECT_CONTAINS(report, "BUG kmalloc-128: free of 0x");
	HEXPECT_CONTAINS(report, "not the start of an object");
	HEXPECT_CONTAINS(report, "at offset 16");
	HEXPECT_EQ(REPORTS_OF(kfree(p + 127)), 1);
	HEXPECT_EQ(REPORTS_OF(kfree(big + PAGE_SIZE)), 1);
	HEXPECT_CONTAINS(report, "BUG kmalloc-large: kfree of 0x");
	HEXPECT_CONTAINS(report, "inside the large object");
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(kmalloc_cache(128), &on_stack)), 1);
	HEXPECT_CONTAINS(report, "belongs to no cache");
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(NULL, page)), 1);	/* no cache, no slab */
	HEXPECT_CONTAINS(report, "belongs to no cache");
	HEXPECT_EQ(REPORTS_OF(ksize(&on_stack)), 0);
	HEXPECT_EQ(ksize(&on_stack), 0);
	HEXPECT_EQ(REPORTS_OF(krealloc(libc, 10, 0)), 1);
	HEXPECT_CONTAINS(report, "krealloc of 0x");
	/* Interior pointers: reported, and nothing moved or copied. */
	void *r;
	HEXPECT_EQ(REPORTS_OF(r = krealloc(p + 16, 200, 0)), 1);
	HEXPECT_CONTAINS(report, "which is not the start of a heap object");
	HEXPECT_TRUE(r == NULL);
	HEXPECT_EQ(REPORTS_OF(r = krealloc(big + PAGE_SIZE, 100, 0)), 1);
	HEXPECT_TRUE(r == NULL);
	/* A large block's size, from any of its pages. */
	HEXPECT_EQ(ksize(big + PAGE_SIZE + 100), ksize(big));
	pmm_stats(&kernel_pmm, &after);
	HEXPECT_EQ(after.free_pages, before.free_pages);
	slab_check();

	/* The real owners free quietly. */
	HEXPECT_EQ(REPORTS_OF(kfree(p)), 0);
	HEXPECT_EQ(REPORTS_OF(kfree(big)), 0);
	HEXPECT_EQ(REPORTS_OF(kfree(NULL)), 0);
	page_free(page, 0);
	free(libc);
	slab_check();
}

HTEST(wrong_cache_is_reported)
{
	struct kmem_cache *a = kmem_cache_create("test-a", 40, 0, 0, NULL);
	struct kmem_cache *b = kmem_cache_create("test-b", 40, 0, 0, NULL);
	HASSERT_TRUE(a && b);
	void *obj = kmem_cache_alloc(a, 0), *km = kmalloc(40, 0), *big = kmalloc(10000, 0);
	HASSERT_TRUE(obj && km && big);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(b, obj)), 1);
	HEXPECT_CONTAINS(report, "BUG test-b: kmem_cache_free of 0x");
	HEXPECT_CONTAINS(report, "which belongs to test-a");
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(b, km)), 1);
	HEXPECT_CONTAINS(report, "which belongs to kmalloc-48");
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(b, big)), 1);
	HEXPECT_CONTAINS(report, "which belongs to kmalloc-large");
	HEXPECT_EQ(in_use(a), 1);
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(a, obj)), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(kmalloc_cache(40), km)), 0);
	kfree(big);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(a)), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(b)), 0);
	slab_check();
}

HTEST(red_zone_overwrite_is_reported)
{
	struct kmem_cache *c = kmem_cache_create("test-rz", 48, 0, SLAB_RED_ZONE, NULL);
	HASSERT_TRUE(c != NULL);
	uint8_t *obj = kmem_cache_alloc(c, 0);
	HASSERT_TRUE(obj != NULL);
	obj[48] = 0;	/* one past the end */
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 1);
	HEXPECT_CONTAINS(report, "BUG test-rz: Right Redzone overwritten");
	HEXPECT_CONTAINS(report, "size 48");
	slab_check();	/* repaired */

	obj = kmem_cache_alloc(c, 0);
	obj[48 + 15] = 0x11;	/* the red zone's last byte */
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 1);
	slab_check();

	/* Into the red zone of a free object: found when it is next handed out,
	 * reported once, and repaired. */
	obj = kmem_cache_alloc(c, 0);
	kmem_cache_free(c, obj);
	obj[50] = 0;
	uint8_t *again;
	HEXPECT_EQ(REPORTS_OF(again = kmem_cache_alloc(c, 0)), 1);
	HEXPECT_TRUE(again == obj);
	HEXPECT_CONTAINS(report, "BUG test-rz: Right Redzone overwritten (while free)");
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, again)), 0);

	/* Writing all 48 bytes is no misuse. */
	obj = kmem_cache_alloc(c, 0);
	memset(obj, 0xff, 48);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	slab_check();
}

HTEST(write_after_free_is_reported_under_poisoning)
{
	struct kmem_cache *c = kmem_cache_create("test-poison", 64, 0, SLAB_POISON, NULL);
	HASSERT_TRUE(c != NULL);
	uint8_t *obj = kmem_cache_alloc(c, 0);
	HASSERT_TRUE(obj != NULL);
	memset(obj, 0, 64);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 0);
	for (int i = 0; i < 64; i++)
		HEXPECT_EQ(obj[i], 0x6b);	/* POISON_FREE */
	obj[10] = 0x42;	/* use after free */
	uint8_t *again;
	HEXPECT_EQ(REPORTS_OF(again = kmem_cache_alloc(c, 0)), 1);
	HEXPECT_TRUE(again == obj);
	HEXPECT_CONTAINS(report, "BUG test-poison: Poison overwritten");
	HEXPECT_CONTAINS(report, "offset 10 (0x42)");
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, again)), 0);
	slab_check();
	/* Untouched free objects come back quietly. */
	HEXPECT_EQ(REPORTS_OF(again = kmem_cache_alloc(c, 0)), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, again)), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
}

HTEST(owner_tracking_names_the_last_allocation_and_free)
{
	struct kmem_cache *c = kmem_cache_create("test-user", 32, 0, SLAB_STORE_USER, NULL);
	HASSERT_TRUE(c != NULL);
	void *obj = kmem_cache_alloc(c, 0);
	HASSERT_TRUE(obj != NULL);
	kmem_cache_free(c, obj);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 1);
	HEXPECT_CONTAINS(report, "BUG test-user: double free");
	HEXPECT_CONTAINS(report, "last allocated at:\n [<");
	HEXPECT_CONTAINS(report, "last freed at:\n [<");
	HEXPECT_TRUE(strstr(report, "not recorded") == NULL);
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
}

/* A debug slab's free list, with F: a link written over (as by an
 * overflow past the red zone) is found by the next free, which walks the
 * whole list, or by the next allocation, which checks the two entries its
 * pop reads and leaves behind; the list is rebuilt from the free marks,
 * so every free object is still handed out, once, and the cache can be
 * destroyed. */
HTEST(consistency_finds_a_corrupt_free_list_link)
{
	struct kmem_cache *c = kmem_cache_create("test-f", 64, 0, SLAB_CONSISTENCY, NULL);
	HASSERT_TRUE(c != NULL);
	int local;
	uint8_t *o[4];
	for (int i = 0; i < 4; i++) {
		o[i] = kmem_cache_alloc(c, 0);
		HASSERT_TRUE(o[i] != NULL);
	}
	struct page *head = slab_head_of(o[0]);
	for (int bad = 0; bad < 5; bad++) {
		for (int on_alloc = 0; on_alloc < 2; on_alloc++) {
			kmem_cache_free(c, o[0]);
			kmem_cache_free(c, o[1]);
			uint8_t *first = head->slab_freelist;	/* o[1], then o[0] */
			uint64_t *link = meta_of(c, first);
			switch (bad) {
			case 0: link[0] = (uint64_t)(o[2] + 8); break;		/* inside an object */
			case 1: link[0] = (uint64_t)o[2]; break;		/* an object in use */
			case 2: link[0] = (uint64_t)first; break;		/* a loop */
			case 3: link[0] = (uint64_t)&local; break;		/* not the heap's */
			case 4: meta_of(c, o[0])[0] = (uint64_t)first; break;	/* a longer loop */
			}
			uint64_t n;
			if (on_alloc) {
				/* A loop passes the first pop's look, not the second's. */
				uint8_t *a, *b;
				n = REPORTS_OF(a = kmem_cache_alloc(c, 0); b = kmem_cache_alloc(c, 0));
				HASSERT_TRUE(a != NULL && b != NULL);
				HEXPECT_TRUE(a != b);
				HEXPECT_TRUE((a == o[0] || a == o[1]) && (b == o[0] || b == o[1]));
				o[0] = a;
				o[1] = b;
			} else {
				n = REPORTS_OF(kmem_cache_free(c, o[3]));
				o[3] = kmem_cache_alloc(c, 0);
				uint8_t *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
				HEXPECT_TRUE(o[3] != a && o[3] != b && a != b);
				HEXPECT_TRUE(slab_head_of(a) == head && slab_head_of(b) == head);
				o[0] = a;
				o[1] = b;
			}
			HEXPECT_EQ(n, 1);
			HEXPECT_CONTAINS(report, "BUG test-f: Freelist corrupt: ");
			if ((bad == 2 || bad == 4) && !on_alloc)
				HEXPECT_CONTAINS(report, "loops (more entries than its 51 objects)");
			HEXPECT_CONTAINS(report, "rebuilt from the free marks");
			slab_check();
			HEXPECT_EQ(in_use(c), 4);
		}
	}
	/* A count in use out of step with the list. */
	kmem_cache_free(c, o[0]);
	head->slab_inuse--;
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, o[1])), 1);
	HEXPECT_CONTAINS(report, "BUG test-f: Wrong object count: slab 0x");
	slab_check();
	HEXPECT_EQ(in_use(c), 2);
	for (int i = 2; i < 4; i++)
		HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, o[i])), 0);
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);	/* no object lost */
}

/* With F, the bytes past an object's metadata up to its stride (here the
 * alignment's) hold PAD_BYTE: a write there is found when the object is
 * freed, or, written while it is free, when it is next handed out; reported
 * once, and refilled. Correct use stays quiet. */
HTEST(consistency_finds_overwritten_object_padding)
{
	static const unsigned flag_sets[] = { SLAB_CONSISTENCY, SLAB_DEBUG_MASK };
	for (size_t f = 0; f < ARRAY_LEN(flag_sets); f++) {
		struct kmem_cache *c = kmem_cache_create("test-pad", 24, 64, flag_sets[f], NULL);
		HASSERT_TRUE(c != NULL);
		size_t pad = c->stride - 1;	/* the padding's last byte */
		HASSERT_TRUE(c->stride > c->meta + 16 + (flag_sets[f] & SLAB_STORE_USER ? 2 * sizeof(struct track) : 0));
		uint8_t *o[40];
		for (int i = 0; i < 40; i++) {
			o[i] = kmem_cache_alloc(c, 0);
			HASSERT_TRUE(o[i] != NULL);
			HEXPECT_EQ(o[i][pad], 0x5a);
			memset(o[i], 0xee, 64);	/* all of the (aligned) object */
		}
		uint64_t quiet = 0;
		for (int i = 0; i < 40; i++)
			quiet += REPORTS_OF(kmem_cache_free(c, o[i]));
		HEXPECT_EQ(quiet, 0);
		slab_check();

		uint8_t *obj = kmem_cache_alloc(c, 0);
		obj[pad] = 0;
		HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 1);
		HEXPECT_CONTAINS(report, "BUG test-pad: Object padding overwritten at offset");
		HEXPECT_CONTAINS(report, "(0x00)");
		HEXPECT_EQ(obj[pad], 0x5a);
		slab_check();

		obj[pad] = 0x11;	/* while free */
		uint8_t *again;
		HEXPECT_EQ(REPORTS_OF(again = kmem_cache_alloc(c, 0)), 1);
		HEXPECT_TRUE(again == obj);
		HEXPECT_CONTAINS(report, "BUG test-pad: Object padding overwritten");
		HEXPECT_CONTAINS(report, "(0x11)");
		slab_check();
		HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, again)), 0);
		HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
		slab_check();
	}
}

/* With F, a slab's tail past its last object holds PAD_BYTE: a write there
 * is found by the next free into that slab, and refilled. */
HTEST(consistency_finds_an_overwritten_slab_tail)
{
	struct kmem_cache *c = kmem_cache_create("test-tail", 80, 0, SLAB_CONSISTENCY, NULL);
	HASSERT_TRUE(c != NULL);
	size_t tail = (PAGE_SIZE << c->order) - c->objs_end;
	HASSERT_TRUE(tail > 0);
	uint8_t *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	HASSERT_TRUE(a != NULL && b != NULL);
	uint8_t *base = slab_head_of(a)->slab_base;
	HASSERT_TRUE(slab_head_of(b)->slab_base == base);
	for (size_t i = 0; i < tail; i++)
		HEXPECT_EQ(base[c->objs_end + i], 0x5a);

	base[c->objs_end] = 0;	/* its first byte */
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, a)), 1);
	HEXPECT_CONTAINS(report, "BUG test-tail: Slab padding overwritten at 0x");
	HEXPECT_CONTAINS(report, "byte 0 of the tail");
	HEXPECT_EQ(base[c->objs_end], 0x5a);
	slab_check();

	base[(PAGE_SIZE << c->order) - 1] = 0x77;	/* its last byte */
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, b)), 1);
	HEXPECT_CONTAINS(report, "byte 63 of the tail");
	HEXPECT_CONTAINS(report, "(0x77)");
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	slab_check();
}

HTEST(every_debug_letter_is_quiet_on_correct_use)
{
	struct kmem_cache *c = kmem_cache_create("test-fzpu", 100, 0, SLAB_DEBUG_MASK, NULL);
	static struct shadow objs[300];
	uint64_t rng = 7;
	HASSERT_TRUE(c != NULL);
	uint64_t reports = slab_report_count();
	for (int round = 0; round < 20000; round++) {
		struct shadow *s = &objs[rng_next(&rng) % ARRAY_LEN(objs)];
		if (s->p) {
			HEXPECT_TRUE(filled(s->p, 100, s->seed));
			kmem_cache_free(c, s->p);
			s->p = NULL;
		} else {
			s->p = kmem_cache_alloc(c, round % 3 ? 0 : KM_ZERO);
			HASSERT_TRUE(s->p != NULL);
			s->seed = rng_next(&rng);
			fill(s->p, 100, s->seed);	/* every byte asked for */
		}
		if (round % 1000 == 0)
			slab_check();
	}
	for (size_t i = 0; i < ARRAY_LEN(objs); i++) {
		if (objs[i].p)
			kmem_cache_free(c, objs[i].p);
		objs[i].p = NULL;
	}
	slab_check();
	kmem_cache_destroy(c);
	HEXPECT_EQ(slab_report_count(), reports);
}

/*
 * Power-of-two classes stay naturally aligned under every slab_debug
 * letter, with many objects live at once: a debug stride (red zone,
 * metadata, tracks) is no multiple of the size unless the class's
 * alignment rounds it up, and one object at a time always sits at its
 * slab's aligned base. Private class caches, set up as kmalloc_init sets
 * up the real ones.
 */
HTEST(power_of_two_classes_align_under_every_debug_letter)
{
	static const unsigned letters[] = { SLAB_CONSISTENCY, SLAB_RED_ZONE, SLAB_POISON,
					    SLAB_STORE_USER, SLAB_DEBUG_MASK };
	static struct kmem_cache c;
	static void *objs[1024];
	uint64_t reports = slab_report_count();
	for (size_t l = 0; l < ARRAY_LEN(letters); l++) {
		for (size_t size = 16; size <= KMALLOC_MAX_CACHE; size *= 2) {
			kmalloc_class_setup(&c, "test-class", size, letters[l]);
			unsigned n = 3 * c.per_slab > 64 ? 3 * c.per_slab : 64;
			if (n > ARRAY_LEN(objs))
				n = ARRAY_LEN(objs);
			unsigned misaligned = 0;
			for (unsigned i = 0; i < n; i++) {
				objs[i] = kmem_cache_alloc(&c, 0);
				HASSERT_TRUE(objs[i] != NULL);
				misaligned += (uintptr_t)objs[i] % size != 0;
				memset(objs[i], 0x5c, size);
			}
			HEXPECT_EQ(misaligned, 0);
			if (misaligned)
				printf("# %zu B with letters 0x%x: %u of %u misaligned\n", size,
				       letters[l], misaligned, n);
			for (unsigned i = 0; i < n; i++)
				kmem_cache_free(&c, objs[i]);
			uint64_t f = spin_lock_irqsave(&c.lock);
			slab_release_empty(&c, &c.owned[0]);	/* a debug cache's slabs are owned[0]'s */
			spin_unlock_irqrestore(&c.lock, f);
			HEXPECT_EQ(c.owned[0].slabs, 0);
		}
	}
	HEXPECT_EQ(slab_report_count(), reports);
}

/* Run stmt with the console captured; the value is how many page
 * allocator reports it made. */
#define PMM_REPORTS_OF(stmt)						\
	({								\
		uint64_t before_ = kernel_pmm.reports;			\
		console_capture(report, sizeof(report));		\
		stmt;							\
		console_capture(NULL, 0);				\
		kernel_pmm.reports - before_;				\
	})

/*
 * A block the heap owns, freed through the page allocator, is misuse: the
 * report names its owner, and nothing changes (the heap still frees it,
 * and both allocators' verifiers pass).
 */
HTEST(page_free_of_a_heap_block_is_reported_naming_its_owner)
{
	uint64_t reports = slab_report_count();
	uint8_t *slab_obj = kmalloc(4096, 0), *large = kmalloc(20000, 0);
	HASSERT_TRUE(slab_obj != NULL && large != NULL);
	memset(slab_obj, 0x11, 4096);
	memset(large, 0x22, 20000);

	HEXPECT_EQ(PMM_REPORTS_OF(page_free(slab_obj, 0)), 1);
	HEXPECT_CONTAINS(report, "BUG pmm: ");
	HEXPECT_CONTAINS(report, "as a page_alloc caller's block, but it belongs to a slab of the heap (kmalloc-4096)");
	HEXPECT_EQ(PMM_REPORTS_OF(page_free(large, 3)), 1);
	HEXPECT_CONTAINS(report, "belongs to a large kmalloc block (kmalloc-large) (order 3)");
	/* The wrong order too: the owner is what the report names first. */
	HEXPECT_EQ(PMM_REPORTS_OF(page_free(large, 2)), 1);
	HEXPECT_CONTAINS(report, "belongs to a large kmalloc block");
	/* A slab's block freed as a large kmalloc block's, and the reverse. */
	HEXPECT_EQ(PMM_REPORTS_OF(page_free_as(slab_obj, 0, PAGE_OWNER_KMALLOC)), 1);
	HEXPECT_CONTAINS(report, "as a large kmalloc block's block, but it belongs to a slab of the heap");
	HEXPECT_EQ(PMM_REPORTS_OF(page_free_as(large, 3, PAGE_OWNER_SLAB)), 1);
	pmm_check(&kernel_pmm);
	slab_check();
	HEXPECT_EQ(slab_obj[4095], 0x11);	/* still allocated, untouched */
	HEXPECT_EQ(large[19999], 0x22);
	kfree(slab_obj);
	kfree(large);
	HEXPECT_EQ(slab_report_count(), reports);
	pmm_check(&kernel_pmm);
	slab_check();

	/* The other way round, as before: kfree of a page_alloc caller's block. */
	void *pages = page_alloc(0, 0);
	HASSERT_TRUE(pages != NULL);
	HEXPECT_EQ(REPORTS_OF(kfree(pages)), 1);
	HEXPECT_CONTAINS(report, "which the heap does not own");
	page_free(pages, 0);
	pmm_check(&kernel_pmm);
}

/* ---- caches -------------------------------------------------------------------- */

HTEST(destroy_with_objects_in_use_reports_and_keeps_the_cache)
{
	char dump[4096];
	struct kmem_cache *c = kmem_cache_create("test-leak", 100, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	void *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 1);
	HEXPECT_CONTAINS(report, "BUG test-leak: kmem_cache_destroy: 2 objects still in use; cache kept");
	console_capture(dump, sizeof(dump));
	kmem_dump();
	console_capture(NULL, 0);
	HEXPECT_CONTAINS(dump, "test-leak");
	void *d = kmem_cache_alloc(c, 0);	/* still a working cache */
	HEXPECT_TRUE(d != NULL);
	HEXPECT_EQ(in_use(c), 3);
	kmem_cache_free(c, a);
	kmem_cache_free(c, b);
	kmem_cache_free(c, d);
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	console_capture(dump, sizeof(dump));
	kmem_dump();
	console_capture(NULL, 0);
	HEXPECT_TRUE(strstr(dump, "test-leak") == NULL);
	HEXPECT_CONTAINS(dump, "kmalloc-64");
	slab_check();
}

/* Only a cache kmem_cache_create made is destroyed, and only once: a second
 * destroy, or one of a kmalloc class or of a wild pointer, is reported and
 * changes nothing. */
HTEST(destroy_of_a_destroyed_static_or_wild_cache_is_reported)
{
	int on_stack;
	struct kmem_cache *c = kmem_cache_create("test-twice", 100, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	kmem_cache_free(c, kmem_cache_alloc(c, 0));
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 1);
	HEXPECT_CONTAINS(report, "BUG kmem_cache: kmem_cache_destroy of 0x");
	HEXPECT_CONTAINS(report, "which is no cache kmem_cache_create made, or one destroyed already");
	struct kmem_cache *k64 = kmalloc_cache(64);
	uint64_t k64_in_use = in_use(k64);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(k64)), 1);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy((struct kmem_cache *)&on_stack)), 1);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy((struct kmem_cache *)((uint8_t *)k64 + 8))), 1);
	void *p = kmalloc(64, 0);		/* the class still works */
	HEXPECT_TRUE(p != NULL);
	HEXPECT_EQ(in_use(k64), k64_in_use + 1);
	kfree(p);
	slab_check();
}

/* A reclaim on another CPU (any page allocation there may run one) must not
 * shrink a cache while it is being destroyed: both would empty the same
 * lists. Before the destroy took the cache off the list of caches first,
 * this hung within a few rounds on a circular slab list. */
static struct kmem_cache *volatile race_cache;
static volatile int race_phase, race_stop;

static void *race_reclaimer(void *arg)
{
	void *objs[64];
	(void)arg;
	host_cpu_id = 1;
	while (!race_stop) {
		while (race_phase != 1 && !race_stop)
			sched_yield();
		if (race_stop)
			break;
		struct kmem_cache *c = race_cache;
		/* Slabs of CPU 1's, empty ones among them, for both to shrink. */
		for (int i = 0; i < 64; i++)
			objs[i] = kmem_cache_alloc(c, 0);
		for (int i = 0; i < 64; i++)
			kmem_cache_free(c, objs[i]);
		race_phase = 2;
		while (race_phase == 2)		/* CPU 1 leaves c alone now */
			kmem_reclaim();
	}
	return NULL;
}

HTEST(destroy_races_a_reclaim_on_another_cpu)
{
	uint64_t reports = slab_report_count();
	pthread_t t;
	host_cpu_id = 0;
	race_phase = race_stop = 0;
	HASSERT_EQ(pthread_create(&t, NULL, race_reclaimer, NULL), 0);
	for (int i = 0; i < 200; i++) {
		struct kmem_cache *c = kmem_cache_create("test-race", 256, 0, 0, NULL);
		HASSERT_TRUE(c != NULL);
		race_cache = c;
		race_phase = 1;
		while (race_phase != 2)
			sched_yield();
		kmem_cache_destroy(c);
		race_phase = 0;
		if (i % 50 == 0)
			slab_check();
	}
	race_stop = 1;
	pthread_join(t, NULL);
	slab_check();
	HEXPECT_EQ(slab_report_count(), reports);
	uint64_t pages = 0;		/* of the last cache, destroyed */
	for (uint64_t i = 0; i < kernel_pmm.npages; i++)
		pages += kernel_pmm.db[i].slab_cache == race_cache;
	HEXPECT_EQ(pages, 0);
}

HTEST(object_base_maps_interior_addresses)
{
	static const size_t sizes[] = { 16, 48, 100, 200, 640, 3000, 4096, 7000, 8192 };
	int local;
	for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
		uint8_t *objs[20];
		for (int i = 0; i < 20; i++) {
			objs[i] = kmalloc(sizes[k], 0);
			HASSERT_TRUE(objs[i] != NULL);
		}
		for (int i = 0; i < 20; i++) {
			size_t bad = 0;
			for (size_t off = 0; off < ksize(objs[i]); off++)
				bad += kmem_object_base(objs[i] + off) != objs[i];
			HEXPECT_EQ(bad, 0);
		}
		for (int i = 0; i < 20; i++)
			kfree(objs[i]);
	}

	/* The tail of a slab that no object covers: kmalloc-48 fits 85 in a page. */
	uint8_t *p = kmalloc(48, 0);
	uint8_t *page = (uint8_t *)((uintptr_t)p & ~(PAGE_SIZE - 1));
	HEXPECT_TRUE(kmem_object_base(page + 85 * 48 - 1) == page + 84 * 48);
	HEXPECT_TRUE(kmem_object_base(page + 85 * 48) == NULL);
	HEXPECT_TRUE(kmem_object_base(page + PAGE_SIZE - 1) == NULL);
	kfree(p);

	/* A debug cache's red zone and metadata are not the object. */
	struct kmem_cache *c = kmem_cache_create("test-base", 64, 0, SLAB_RED_ZONE, NULL);
	HASSERT_TRUE(c != NULL);
	uint8_t *o = kmem_cache_alloc(c, 0);
	HEXPECT_TRUE(kmem_object_base(o + 63) == o);
	HEXPECT_TRUE(kmem_object_base(o + 64) == NULL);
	HEXPECT_TRUE(kmem_object_base(o + 64 + 16) == NULL);
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);

	/* A large block maps to its base from any page of it. */
	uint8_t *big = kmalloc(MiB, 0);
	HASSERT_TRUE(big != NULL);
	for (size_t off = 0; off < MiB; off += 4093)
		HEXPECT_TRUE(kmem_object_base(big + off) == big);
	HEXPECT_TRUE(kmem_object_base(big + MiB - 1) == big);
	kfree(big);

	/* Not the heap's. */
	void *libc = malloc(32);
	uint8_t *pg = page_alloc(0, 0);
	HEXPECT_TRUE(kmem_object_base(NULL) == NULL);
	HEXPECT_TRUE(kmem_object_base(&local) == NULL);
	HEXPECT_TRUE(kmem_object_base(libc) == NULL);
	HEXPECT_TRUE(kmem_object_base(pg) == NULL);
	HEXPECT_TRUE(kmem_object_base(pg + 100) == NULL);
	HEXPECT_TRUE(kmem_object_base(host_phys_base) == NULL);
	HEXPECT_TRUE(kmem_object_base(host_phys_base + ARENA) == NULL);
	HEXPECT_TRUE(kmem_object_base(host_phys_base - 1) == NULL);
	page_free(pg, 0);
	free(libc);
}

static unsigned ctor_calls;

static void ctor_fill(void *p)
{
	memset(p, 0x5a, 72);
	ctor_calls++;
}

HTEST(constructor_state_survives_free)
{
	static const unsigned flag_sets[] = { 0, SLAB_POISON, SLAB_RED_ZONE | SLAB_STORE_USER,
					      SLAB_DEBUG_MASK };
	for (size_t k = 0; k < ARRAY_LEN(flag_sets); k++) {
		uint64_t reports = slab_report_count();
		struct kmem_cache *c = kmem_cache_create("test-ctor", 72, 0, flag_sets[k], ctor_fill);
		uint8_t *objs[100];
		HASSERT_TRUE(c != NULL);
		ctor_calls = 0;
		for (int i = 0; i < 100; i++) {
			objs[i] = kmem_cache_alloc(c, 0);
			HASSERT_TRUE(objs[i] != NULL);
			size_t bad = 0;
			for (int b = 0; b < 72; b++)
				bad += objs[i][b] != 0x5a;
			HEXPECT_EQ(bad, 0);
		}
		unsigned calls = ctor_calls;
		HEXPECT_TRUE(calls >= 100);	/* once per object as its slab is carved */
		/* Users give objects back constructed; the allocator must not
		 * disturb them (no free pointer, no poison inside). Every other
		 * one, so that no slab empties and goes back to the pages. */
		for (int i = 1; i < 100; i += 2)
			kmem_cache_free(c, objs[i]);
		for (int i = 1; i < 100; i += 2) {
			objs[i] = kmem_cache_alloc(c, 0);
			size_t bad = 0;
			for (int b = 0; b < 72; b++)
				bad += objs[i][b] != 0x5a;
			HEXPECT_EQ(bad, 0);
		}
		HEXPECT_EQ(ctor_calls, calls);	/* recycled, not constructed again */
		for (int i = 0; i < 100; i++)
			kmem_cache_free(c, objs[i]);
		slab_check();
		kmem_cache_destroy(c);
		HEXPECT_EQ(slab_report_count(), reports);
	}
}

HTEST(alignment_of_created_caches)
{
	static const size_t aligns[] = { 0, 8, 16, 32, 64, 128, 256, 4096 };
	for (size_t k = 0; k < ARRAY_LEN(aligns); k++) {
		for (unsigned flags = 0; flags <= SLAB_DEBUG_MASK; flags += 5) {
			struct kmem_cache *c = kmem_cache_create("test-align", 24, aligns[k], flags, NULL);
			HASSERT_TRUE(c != NULL);
			size_t want = aligns[k] < KMALLOC_MIN_ALIGN ? KMALLOC_MIN_ALIGN : aligns[k];
			void *objs[10];
			for (int i = 0; i < 10; i++) {
				objs[i] = kmem_cache_alloc(c, 0);
				HASSERT_TRUE(objs[i] != NULL);
				HEXPECT_EQ((uintptr_t)objs[i] % want, 0);
				memset(objs[i], 0xcc, 24);
			}
			for (int i = 0; i < 10; i++)
				kmem_cache_free(c, objs[i]);
			kmem_cache_destroy(c);
		}
	}
	slab_check();
}

/* Objects above the kmalloc classes: slabs of several pages (12 KiB: a
 * 16 KiB slab; above 32 KiB, one object a slab, the smallest block that
 * holds it), up to KMEM_CACHE_MAX_SIZE with and without every debug letter
 * (whose metadata the largest size leaves a page for) and at page
 * alignment. Each object is written whole and read back. */
HTEST(created_caches_take_objects_up_to_the_maximum_size)
{
	static const size_t sizes[] = { 12 * 1024, 20 * 1024, 33 * 1024, 64 * 1024, MiB,
					KMEM_CACHE_MAX_SIZE };
	static const unsigned flag_sets[] = { 0, SLAB_DEBUG_MASK };
	static const size_t aligns[] = { 0, PAGE_SIZE };
	for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
		for (size_t f = 0; f < ARRAY_LEN(flag_sets); f++) {
			for (size_t a = 0; a < ARRAY_LEN(aligns); a++) {
				size_t size = sizes[k];
				struct kmem_cache *c;
				HEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-big", size, aligns[a],
									    flag_sets[f], NULL)), 0);
				HASSERT_TRUE(c != NULL);
				HEXPECT_TRUE(c->order <= PMM_MAX_ORDER && c->per_slab >= 1);
				HEXPECT_TRUE(c->objs_end <= (PAGE_SIZE << c->order));
				if (c->stride > (PAGE_SIZE << SLAB_MAX_ORDER))
					HEXPECT_EQ(c->per_slab, 1);
				/* 16 MiB of objects, at least 3, at most 40. */
				size_t n = 16 * MiB / size;
				n = n < 3 ? 3 : n > 40 ? 40 : n;
				uint8_t *objs[40];
				for (size_t i = 0; i < n; i++) {
					objs[i] = kmem_cache_alloc(c, 0);
					HASSERT_TRUE(objs[i] != NULL);
					HEXPECT_EQ((uintptr_t)objs[i] % (aligns[a] ? aligns[a] : KMALLOC_MIN_ALIGN), 0);
					HEXPECT_TRUE(ksize(objs[i]) >= size);
					HEXPECT_TRUE(kmem_object_base(objs[i] + size - 1) == objs[i]);
					HEXPECT_TRUE(kmem_object_base(objs[i] + size / 2) == objs[i]);
					fill(objs[i], size, i + 1);
				}
				slab_check();
				for (size_t i = 0; i < n; i++)
					HEXPECT_TRUE(filled(objs[i], size, i + 1));
				HEXPECT_EQ(in_use(c), n);
				for (size_t i = 0; i < n; i++)
					HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, objs[i])), 0);
				slab_check();
				HEXPECT_EQ(in_use(c), 0);
				HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
				slab_check();
			}
		}
	}
}

/* What kmem_cache_create refuses it reports, naming the cache and the
 * size or alignment, and the heap is as it was. */
HTEST(created_caches_refuse_what_slab_h_rules_out)
{
	struct kmem_cache *c;
	HEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-huge", KMEM_CACHE_MAX_SIZE + 1, 0, 0, NULL)), 1);
	HEXPECT_TRUE(c == NULL);
	HEXPECT_CONTAINS(report, "BUG kmem_cache: kmem_cache_create of test-huge: size 4190209");
	HEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-empty", 0, 0, 0, NULL)), 1);
	HEXPECT_TRUE(c == NULL);
	HEXPECT_CONTAINS(report, "kmem_cache_create of test-empty: size 0");
	HEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-odd", 64, 24, 0, NULL)), 1);
	HEXPECT_TRUE(c == NULL);
	HEXPECT_CONTAINS(report, "kmem_cache_create of test-odd: alignment 24");
	HEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-wide", 64, 2 * PAGE_SIZE, 0, NULL)), 1);
	HEXPECT_TRUE(c == NULL);
	HEXPECT_CONTAINS(report, "alignment 8192");
	slab_check();
}

/* ---- the free fast path's windows, played by hand --------------------------- */

/* The free fast path's sequence - push onto the slab's list, set the mark,
 * commit - without the decrement after it: the state an interrupt handler
 * finds when it lands between the two. */
static struct page *push_without_decrement(void *obj)
{
	struct page *head = head_of(pmm_virt_to_page(&kernel_pmm, obj));
	((uint64_t *)obj)[0] = (uint64_t)head->slab_freelist;
	((uint64_t *)obj)[1] = FREE_MARK;
	head->slab_freelist = obj;
	return head;
}

/* A handler that allocates in that gap may refill from the very slab, making
 * it full again with the pending decrement still to land: the decrement
 * then takes the slow path, which must leave the slab full (a full slab on
 * the partial list would send the next refill to an empty free list). */
HTEST(a_refill_between_a_free_and_its_decrement_leaves_the_slab_full)
{
	struct kmem_cache *c = kmem_cache_create("test-window", 64, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	unsigned per = c->per_slab;
	void **a = calloc(per, sizeof(void *)), **h = calloc(per, sizeof(void *));
	HASSERT_TRUE(a && h);
	for (unsigned i = 0; i < per; i++)
		a[i] = kmem_cache_alloc(c, 0);		/* slab S, every object out */
	void *b = kmem_cache_alloc(c, 0);		/* the next slab, on the CPU list */
	struct page *s = head_of(pmm_virt_to_page(&kernel_pmm, a[0]));
	kmem_cache_free(c, a[0]);			/* S: partial */
	HEXPECT_EQ(s->slab_list, LIST_PARTIAL);
	push_without_decrement(a[1]);
	/* The handler: allocates until its CPU list refills from S. */
	for (unsigned i = 0; i < per; i++)
		h[i] = kmem_cache_alloc(c, 0);
	HEXPECT_EQ(s->slab_list, LIST_FULL);
	/* Back in the free: the decrement, and the slow path it takes. */
	if (--s->slab_inuse <= 0)
		slab_settle(s);
	HEXPECT_EQ(s->slab_list, LIST_FULL);
	slab_check();
	/* Every object handed out once, and all of them back. */
	for (unsigned i = 0; i < per; i++)
		if (i != 0 && i != 1)
			kmem_cache_free(c, a[i]);
	for (unsigned i = 0; i < per; i++)
		kmem_cache_free(c, h[i]);
	kmem_cache_free(c, b);
	HEXPECT_EQ(in_use(c), 0);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	free(a);
	free(h);
	slab_check();
}

/* Objects freed into full slabs while the CPU list is empty are kept on it;
 * a double free of one deep in that list is still found there. */
HTEST(double_free_deep_in_the_cpu_list_is_reported)
{
	struct kmem_cache *c = kmem_cache_create("test-kept", 2048, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	void *o[12], *n[12];
	for (int i = 0; i < 12; i++)
		o[i] = kmem_cache_alloc(c, 0);
	for (int i = 0; i < 8; i++)
		kmem_cache_free(c, o[i]);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, o[0])), 1);
	HEXPECT_CONTAINS(report, "double free");
	slab_check();
	for (int i = 0; i < 8; i++)
		n[i] = kmem_cache_alloc(c, 0);
	unsigned dup = 0;
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 12; j++)
			dup += j < 8 ? (j > i && n[i] == n[j]) : n[i] == o[j];
	HEXPECT_EQ(dup, 0);
	for (int i = 0; i < 8; i++)
		kmem_cache_free(c, n[i]);
	for (int i = 8; i < 12; i++)
		kmem_cache_free(c, o[i]);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	slab_check();
}

/* ---- two CPUs ----------------------------------------------------------------------- */

#define THREAD_OPS	200000
#define THREAD_SLOTS	256
#define QUEUE_LEN	128

/* Objects one thread allocated and filled, for the other to check and free. */
struct handoff {
	pthread_mutex_t lock;
	struct shadow q[QUEUE_LEN];
	unsigned head, count;
};

static struct handoff handoffs[2] = {
	{ .lock = PTHREAD_MUTEX_INITIALIZER }, { .lock = PTHREAD_MUTEX_INITIALIZER },
};
static struct kmem_cache *shared_cache;

struct worker {
	unsigned cpu;
	uint64_t bad, allocs, frees, handed, taken;
};

static bool handoff_push(struct handoff *h, struct shadow s)
{
	pthread_mutex_lock(&h->lock);
	bool ok = h->count < QUEUE_LEN;
	if (ok)
		h->q[(h->head + h->count++) % QUEUE_LEN] = s;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

static bool handoff_pop(struct handoff *h, struct shadow *s)
{
	pthread_mutex_lock(&h->lock);
	bool ok = h->count > 0;
	if (ok) {
		*s = h->q[h->head];
		h->head = (h->head + 1) % QUEUE_LEN;
		h->count--;
	}
	pthread_mutex_unlock(&h->lock);
	return ok;
}

static void free_shadow(struct shadow *s, uint64_t *bad)
{
	*bad += !filled(s->p, s->n, s->seed);
	if (s->cache)
		kmem_cache_free(s->cache, s->p);
	else
		kfree(s->p);
	s->p = NULL;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct shadow slots[THREAD_SLOTS] = { 0 };
	uint64_t rng = 1000 + w->cpu;
	host_cpu_id = w->cpu;

	for (unsigned op = 0; op < THREAD_OPS; op++) {
		uint64_t r = rng_next(&rng);
		switch (r % 8) {
		case 0: case 1: {		/* allocate for the other thread */
			struct shadow s = { .seed = rng_next(&rng) };
			if (s.seed & 1) {
				s.n = 200;
				s.cache = shared_cache;
				s.p = kmem_cache_alloc(shared_cache, 0);
			} else {
				s.n = 8 + (r >> 8) % 2040;
				s.p = kmalloc(s.n, 0);
			}
			if (!s.p) {
				w->bad++;
				break;
			}
			fill(s.p, s.n, s.seed);
			w->allocs++;
			if (handoff_push(&handoffs[w->cpu], s)) {
				w->handed++;
			} else {
				free_shadow(&s, &w->bad);
				w->frees++;
			}
			break;
		}
		case 2: {			/* free what the other thread allocated */
			struct shadow s;
			if (handoff_pop(&handoffs[!w->cpu], &s)) {
				free_shadow(&s, &w->bad);
				w->taken++;
				w->frees++;
			}
			break;
		}
		default: {			/* this thread's own */
			struct shadow *s = &slots[(r >> 8) % THREAD_SLOTS];
			if (s->p) {
				free_shadow(s, &w->bad);
				w->frees++;
			} else {
				s->n = 8 + (r >> 16) % 2040;
				s->seed = rng_next(&rng);
				s->p = kmalloc(s->n, 0);
				if (!s->p) {
					w->bad++;
					break;
				}
				fill(s->p, s->n, s->seed);
				w->allocs++;
			}
		}
		}
	}
	for (unsigned i = 0; i < THREAD_SLOTS; i++) {
		if (slots[i].p) {
			free_shadow(&slots[i], &w->bad);
			w->frees++;
		}
	}
	return NULL;
}

HTEST(two_cpus_allocate_and_free_each_others_objects)
{
	uint64_t reports = slab_report_count(), before = kmalloc_in_use();
	shared_cache = kmem_cache_create("test-shared", 200, 0, 0, NULL);
	HASSERT_TRUE(shared_cache != NULL);
	struct worker w[2] = { { .cpu = 0 }, { .cpu = 1 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		HASSERT_EQ(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	/* What is left in the queues, freed here on CPU 0. */
	uint64_t bad = w[0].bad + w[1].bad, frees = w[0].frees + w[1].frees;
	for (int i = 0; i < 2; i++) {
		struct shadow s;
		while (handoff_pop(&handoffs[i], &s)) {
			free_shadow(&s, &bad);
			frees++;
		}
	}
	slab_check();
	HEXPECT_EQ(bad, 0);
	HEXPECT_EQ(w[0].allocs + w[1].allocs, frees);
	HEXPECT_TRUE(w[0].taken > 1000 && w[1].taken > 1000);
	HEXPECT_EQ(kmalloc_in_use(), before);
	HEXPECT_EQ(in_use(shared_cache), 0);
	/* Both CPUs' lists and buffers hold objects of the cache; destroying
	 * it takes them back, so nothing counts as leaked. */
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(shared_cache)), 0);
	HEXPECT_EQ(slab_report_count(), reports);
	slab_check();
	printf("    # two CPUs: %llu + %llu allocations, %llu + %llu handed across\n",
	       (unsigned long long)w[0].allocs, (unsigned long long)w[1].allocs,
	       (unsigned long long)w[0].taken, (unsigned long long)w[1].taken);
}

/* A debug cache's slabs are all in owned[0], which every CPU shares; its
 * slow paths make and release slabs outside its lock, so its count of
 * slabs must move by atomic adds (it drifted, and slab_check panicked). */
static struct kmem_cache *debug_shared;

static void *debug_worker(void *arg)
{
	void *objs[4] = { 0 };
	uint64_t rng = 99 + (uintptr_t)arg;
	host_cpu_id = (unsigned)(uintptr_t)arg;
	for (int i = 0; i < 100000; i++) {
		unsigned k = rng_next(&rng) % 4;
		if (objs[k]) {
			kmem_cache_free(debug_shared, objs[k]);
			objs[k] = NULL;
		} else {
			objs[k] = kmem_cache_alloc(debug_shared, 0);
		}
	}
	for (int k = 0; k < 4; k++)
		kmem_cache_free(debug_shared, objs[k]);
	return NULL;
}

HTEST(a_debug_cache_on_two_cpus_counts_its_slabs)
{
	uint64_t reports = slab_report_count();
	debug_shared = kmem_cache_create("test-debug2", 3000, 0, SLAB_RED_ZONE, NULL);
	HASSERT_TRUE(debug_shared != NULL);
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		HASSERT_EQ(pthread_create(&t[i], NULL, debug_worker, (void *)i), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	host_cpu_id = 0;
	uint64_t pages = 0;
	for (uint64_t i = 0; i < kernel_pmm.npages; i++)
		pages += kernel_pmm.db[i].slab_cache == debug_shared;
	HEXPECT_EQ(debug_shared->owned[0].slabs << debug_shared->order, pages);
	slab_check();
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(debug_shared)), 0);
	HEXPECT_EQ(slab_report_count(), reports);
}

/* The division-free geometry (mm/slab_internal.h) against division, for
 * every offset of a slab, for the geometry of every size in 16 B steps,
 * with and without debug metadata. */
HTEST(object_index_and_start_match_division_at_every_offset)
{
	static struct kmem_cache c;
	static const unsigned flag_sets[] = { 0, SLAB_DEBUG_MASK };
	uint64_t checked = 0, bad_index = 0, bad_start = 0, bad_page = 0;
	for (size_t f = 0; f < ARRAY_LEN(flag_sets); f++) {
		for (size_t size = 16; size <= KMALLOC_MAX_CACHE; size += 16) {
			slab_cache_setup(&c, "test-geometry", size, 16, flag_sets[f], NULL);
			struct page pg = { .slab_base = (void *)0x100000, .slab_objs_end = c.objs_end,
					   .slab_div_magic = c.div_magic };
			for (uint64_t off = 0; off < (PAGE_SIZE << c.order); off++) {
				bool start = off % c.stride == 0 && off / c.stride < c.per_slab;
				bad_index += obj_index(&c, off) != off / c.stride;
				bad_start += obj_start(&c, off) != start;
				bad_page += slab_obj_start(&pg, (uint8_t *)pg.slab_base + off) != start;
				checked++;
			}
		}
	}
	HEXPECT_EQ(bad_index, 0);
	HEXPECT_EQ(bad_start, 0);
	HEXPECT_EQ(bad_page, 0);
	HEXPECT_TRUE(checked > 10000000);

	/* A page that is no slab's fails the check for any address. */
	struct page none = { 0 };
	HEXPECT_TRUE(!slab_obj_start(&none, (void *)0x100000));
	HEXPECT_TRUE(!slab_obj_start(&none, NULL));
}

/* ---- footprint_make_room in a free's window, constructed caches ---------- */

/* A free's push has committed and its decrement is pending when
 * footprint_make_room trims the cache: the slab, whose other objects are all
 * on the CPU list, must stay; the decrement then lands and settles it. */
HTEST(a_trim_between_a_free_and_its_decrement_keeps_the_slab)
{
	struct kmem_cache *c = kmem_cache_create("trim-pending", 64, 0, 0, NULL);
	HASSERT_TRUE(c != NULL);
	unsigned per = c->per_slab;
	void **a = calloc(per, sizeof(void *));
	HASSERT_TRUE(a != NULL);
	kmem_reclaim();
	for (unsigned i = 0; i < per; i++)
		a[i] = kmem_cache_alloc(c, 0);
	struct page *s = head_of(pmm_virt_to_page(&kernel_pmm, a[0]));
	HEXPECT_EQ(s->slab_list, LIST_FULL);
	for (unsigned i = 1; i < per; i++)
		kmem_cache_free(c, a[i]);		/* kept on the CPU list */
	HEXPECT_EQ(s->slab_list, LIST_FULL);
	push_without_decrement(a[0]);
	void *big = kmalloc(8192, 0);			/* past the peak: make room */
	HASSERT_TRUE(big != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c), PAGE_SIZE);	/* kept */
	HEXPECT_EQ(s->slab_cache, c);
	if (--s->slab_inuse <= 0)			/* the decrement lands */
		slab_settle(s);
	slab_check();
	HEXPECT_EQ(in_use(c), 0);
	/* Every object comes back once. */
	for (unsigned i = 0; i < per; i++)
		a[i] = kmem_cache_alloc(c, 0);
	for (unsigned i = 0; i < per; i++)
		for (unsigned j = i + 1; j < per; j++)
			HEXPECT_TRUE(a[i] != a[j]);
	for (unsigned i = 0; i < per; i++)
		kmem_cache_free(c, a[i]);
	kfree(big);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	free(a);
	slab_check();
}

static void trim_ctor(void *p) { memset(p, 0x5a, 1000); }

/* A constructed cache (metadata after the object) is trimmed like any
 * other: whole slabs go, the objects of the slab in use stay constructed. */
HTEST(a_trim_of_a_constructed_cache_keeps_its_objects_constructed)
{
	struct kmem_cache *c = kmem_cache_create("trim-ctor", 1000, 0, 0, trim_ctor);
	HASSERT_TRUE(c != NULL && c->meta != 0 && c->per_slab < SMALL_SLAB_OBJS);
	unsigned per = c->per_slab;
	uint8_t *o[64];
	HASSERT_TRUE(3 * per <= 64);
	kmem_reclaim();
	for (unsigned i = 0; i < 3 * per; i++)
		HASSERT_TRUE((o[i] = kmem_cache_alloc(c, 0)) != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c), 3 * (PAGE_SIZE << c->order));
	for (unsigned i = 0; i + 1 < 3 * per; i++)	/* the last stays in use */
		kmem_cache_free(c, o[i]);
	void *big = kmalloc(8192, 0);
	HASSERT_TRUE(big != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c), PAGE_SIZE << c->order);
	slab_check();
	for (unsigned i = 0; i + 1 < per; i++) {
		uint8_t *p = kmem_cache_alloc(c, 0);
		size_t bad = 0;
		for (int b = 0; b < 1000; b++)
			bad += p[b] != 0x5a;
		HEXPECT_EQ(bad, 0);
		o[i] = p;
	}
	HEXPECT_EQ(kmem_cache_bytes(c), PAGE_SIZE << c->order);
	for (unsigned i = 0; i + 1 < per; i++)
		kmem_cache_free(c, o[i]);
	kmem_cache_free(c, o[3 * per - 1]);
	kfree(big);
	HEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
	slab_check();
}

/* While an earlier cache's CPU list holds objects of slabs in use (nothing
 * to release), a later cache's whole idle slabs are still reached as the
 * heap grows: footprint_make_room saves its credit up for a slab's worth of
 * objects, and the next call starts past a list the credit ran out in.
 * (Spent from the head of the list of caches each call, the credit never got
 * past kmalloc-16's list.) From a review. */
HTEST(idle_slabs_behind_a_list_of_objects_in_use_are_reached)
{
	struct kmem_cache *c16 = kmalloc_cache(16), *c64 = kmalloc_cache(64), *c8k = kmalloc_cache(8192);
	enum { SLABS16 = 20 };
	unsigned per16 = c16->per_slab, per64 = c64->per_slab;
	void **a = calloc(SLABS16 * per16, sizeof(void *)), **b = calloc(4 * per64, sizeof(void *));
	void *big[32];
	HASSERT_TRUE(a && b);
	kmem_reclaim();
	void *held16 = NULL, *held64 = NULL;
	drain_cache(c16, &held16);
	drain_cache(c64, &held64);
	/* kmalloc-16: 20 new slabs, every object but one a slab freed and kept. */
	for (unsigned i = 0; i < SLABS16 * per16; i++)
		HASSERT_TRUE((a[i] = kmalloc(16, 0)) != NULL);
	for (unsigned i = 0; i < SLABS16 * per16; i++)
		if (i % per16)
			kfree(a[i]);
	/* kmalloc-64: 4 new slabs, all freed and kept: 4 idle pages. */
	for (unsigned i = 0; i < 4 * per64; i++)
		HASSERT_TRUE((b[i] = kmalloc(64, 0)) != NULL);
	uint64_t b64 = kmem_cache_bytes(c64), b8k = kmem_cache_bytes(c8k);
	for (unsigned i = 0; i < 4 * per64; i++)
		kfree(b[i]);
	HEXPECT_EQ(kmem_cache_bytes(c64), b64);		/* kept */
	/* The heap grows by 32 slabs of 8 KiB. */
	for (int i = 0; i < 32; i++)
		HASSERT_TRUE((big[i] = kmalloc(8192, 0)) != NULL);
	HEXPECT_EQ(kmem_cache_bytes(c8k), b8k + 32 * 8192);
	printf("    # kmalloc-64 idle pages still held after the heap grew by 64 pages: %llu\n",
	       (unsigned long long)((kmem_cache_bytes(c64) - (b64 - 4 * PAGE_SIZE)) / PAGE_SIZE));
	HEXPECT_EQ(kmem_cache_bytes(c64), b64 - 4 * PAGE_SIZE);	/* what the top of mm/slab.c says */
	slab_check();
	for (int i = 0; i < 32; i++)
		kfree(big[i]);
	for (unsigned i = 0; i < SLABS16 * per16; i += per16)
		kfree(a[i]);
	free_chain(held16);
	free_chain(held64);
	free(a);
	free(b);
	slab_check();
}

int main(void)
{
	host_phys_base = aligned_alloc(4 * MiB, ARENA);
	void *db = aligned_alloc(_Alignof(struct page), pmm_db_bytes(0, ARENA));
	if (!host_phys_base || !db)
		abort();
	pmm_init(&kernel_pmm, db, 0, ARENA);
	pmm_add_range(&kernel_pmm, PAGE_SIZE, ARENA);
	slab_init();
	int rc = htest_main("slab");
	free(db);
	free(host_phys_base);
	return rc;
}
