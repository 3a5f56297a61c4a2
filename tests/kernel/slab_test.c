/*
 * tests/kernel/slab_test.c - the heap in the kernel build: size classes,
 * alignment, large allocations, krealloc, exhaustion and recovery, a
 * randomised stress against a shadow record, each misuse detector on
 * exactly its misuse (counted through slab_report_count, like slub_kunit),
 * allocation from interrupts, the fast paths' sequences interrupted at
 * every instruction, and interrupts after random instructions anywhere in
 * the fast paths.
 * tests/host/slab_test.c runs the same mm/slab.c under ASan and UBSan.
 */
#include "kernel/console.h"
#include "kernel/irq.h"
#include "kernel/ktest.h"
#include "kernel/restart.h"
#include "kernel/string.h"
#include "kernel/sync.h"
#include "kernel/thread.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"
#include "mm/slab_internal.h"
#include "mm/slab_footprint.h"
#include "tests/kernel/irq_stress.h"

static const size_t classes[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256,
	336, 400, 448, 512, 672, 816, 1024, 1360, 1632, 2048, 2720, 3264, 4096,
	5120, 6144, 7168, 8192,
};

KTEST(slab, every_size_class_fits_and_aligns)
{
	size_t prev = 0;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		size_t sizes[] = { prev + 1, classes[i] };
		for (int j = 0; j < 2; j++) {
			size_t n = sizes[j];
			uint8_t *p = kmalloc(n, 0);
			KASSERT_NOT_NULL(p);
			KEXPECT_EQ(ksize(p), classes[i]);
			KEXPECT_EQ((uintptr_t)p % KMALLOC_MIN_ALIGN, 0);
			if ((classes[i] & (classes[i] - 1)) == 0)
				KEXPECT_EQ((uintptr_t)p % classes[i], 0);	/* naturally aligned */
			p[0] = 1;
			p[n - 1] = 2;
			KEXPECT_EQ(kmem_object_base(p + n - 1), p);
			kfree(p);
		}
		prev = classes[i];
	}
	/* Worst internal waste (at the first size of each class) is at most 25%
	 * from 64 B up; below, the 16-byte alignment forces 16-byte steps, as
	 * Go's smallest classes waste more too. */
	for (size_t i = 1; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i] >= 64)
			KEXPECT_LE((classes[i] - classes[i - 1] - 1) * 100 / classes[i], 25);
}

/*
 * Natural alignment with many objects live, as the boot's slab_debug=
 * letters lay them out: one object at a time always sits at its slab's
 * aligned base, so only a crowd shows a debug stride that is no multiple
 * of the size.
 */
KTEST(slab, power_of_two_sizes_stay_aligned_with_many_objects_live)
{
	static void *objs[600];
	for (size_t size = 16; size <= KMALLOC_MAX_CACHE; size *= 2) {
		unsigned n = size >= 4096 ? 64 : sizeof(objs) / sizeof(objs[0]), misaligned = 0;
		for (unsigned i = 0; i < n; i++) {
			objs[i] = kmalloc(size, 0);
			KASSERT_NOT_NULL(objs[i]);
			misaligned += (uintptr_t)objs[i] % size != 0;
		}
		KEXPECT_EQ(misaligned, 0);
		if (misaligned)
			kprintf("    # kmalloc(%zu): %u of %u objects misaligned\n", size, misaligned, n);
		for (unsigned i = 0; i < n; i++)
			kfree(objs[i]);
	}
	slab_check();
}

/* page_free of blocks the heap owns (a slab's, a large kmalloc block) is
 * reported, naming the owner, and changes nothing. */
KTEST(slab, page_free_of_a_heap_block_is_reported_and_changes_nothing)
{
	static char out[1024];
	uint64_t reports = kernel_pmm.reports, slab_reports = slab_report_count();
	uint8_t *obj = kmalloc(4096, 0), *large = kmalloc(20000, 0);
	KASSERT_NOT_NULL(obj);
	KASSERT_NOT_NULL(large);
	obj[0] = 0x11;
	large[0] = 0x22;

	console_capture(out, sizeof(out));
	page_free(obj, 0);
	console_capture(NULL, 0);
	KEXPECT_EQ(kernel_pmm.reports, reports + 1);
	KEXPECT_CONTAINS(out, "belongs to a slab of the heap (kmalloc-4096)");
	KEXPECT_CONTAINS(out, "Call Trace:");
	console_capture(out, sizeof(out));
	page_free(large, 3);
	console_capture(NULL, 0);
	KEXPECT_EQ(kernel_pmm.reports, reports + 2);
	KEXPECT_CONTAINS(out, "belongs to a large kmalloc block");
	pmm_check(&kernel_pmm);
	slab_check();
	KEXPECT_EQ(obj[0], 0x11);
	KEXPECT_EQ(large[0], 0x22);
	kfree(obj);
	kfree(large);
	KEXPECT_EQ(slab_report_count(), slab_reports);
	pmm_check(&kernel_pmm);
	slab_check();
}

/* Every byte kmalloc's classes hold in slabs (all idle once all is freed). */
static uint64_t class_slab_bytes(void)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		bytes += kmem_cache_bytes(kmalloc_cache(classes[i]));
	return bytes;
}

/* Once everything is freed, what the heap and the page allocator keep idle
 * is within the bounds, stated here as the test's own idea of them. */
static void expect_idle_within_bounds(const char *after)
{
	uint64_t ram = kernel_pmm.total_pages * PAGE_SIZE;
	uint64_t per_cache = ram / 128 > 64 * 1024 ? ram / 128 : 64 * 1024;
	struct kmem_idle i;
	kmem_idle(&i);
	kprintf("    # after %s: idle %llu KiB (lists %llu, empty slabs %llu, pages %llu) of %llu; "
		"most in one cache %llu KiB (%s) of %llu; class slabs %llu KiB\n", after,
		(unsigned long long)(i.total >> 10), (unsigned long long)(i.cpu_lists >> 10),
		(unsigned long long)(i.empty_slabs >> 10), (unsigned long long)(i.cached_pages >> 10),
		(unsigned long long)(ram / 32 >> 10), (unsigned long long)(i.cache_max >> 10),
		i.cache_max_name, (unsigned long long)(per_cache >> 10),
		(unsigned long long)(class_slab_bytes() >> 10));
	KEXPECT_LE(i.total, ram / 32);
	KEXPECT_LE(i.cache_max, per_cache);
}

/* Scaled to the machine: objects of `size` bytes, at most a sixteenth of
 * RAM of them. */
static unsigned idle_count(size_t size, unsigned want)
{
	uint64_t most = kernel_pmm.total_pages * PAGE_SIZE / 16 / size;
	return want < most ? want : (unsigned)most;
}

KTEST(slab, idle_memory_is_bounded_once_everything_is_freed)
{
	static void *objs[4096];
	static const size_t big[] = { 4096, 8192 };
	kmem_reclaim();
	for (size_t b = 0; b < 2; b++) {
		unsigned n = idle_count(big[b], 1024);
		for (unsigned i = 0; i < n; i++)
			KASSERT_NOT_NULL(objs[i] = kmalloc(big[b], 0));
		for (unsigned i = 0; i < n; i++)
			kfree(objs[i]);
		expect_idle_within_bounds(big[b] == 4096 ? "kmalloc(4096) x 1024" : "kmalloc(8192) x 1024");
	}
	/* Every class at once, freed in random order: the CPU lists of many
	 * caches full at the same time. */
	unsigned n = 0;
	uint64_t live = 0, most = kernel_pmm.total_pages * PAGE_SIZE / 16;
	while (n < sizeof(objs) / sizeof(objs[0])) {
		size_t size = 8 + ktest_random() % (KMALLOC_MAX_CACHE - 7);
		if (live + size > most)
			break;
		KASSERT_NOT_NULL(objs[n] = kmalloc(size, 0));
		live += size;
		n++;
	}
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)(ktest_random() % i);
		void *t = objs[i - 1];
		objs[i - 1] = objs[j];
		objs[j] = t;
	}
	for (unsigned i = 0; i < n; i++)
		kfree(objs[i]);
	expect_idle_within_bounds("random sizes, random order");
	slab_check();
}

KTEST(slab, large_requests_go_to_the_page_allocator)
{
	uint8_t *p = kmalloc(KMALLOC_MAX_CACHE + 1, 0);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(ksize(p), 4 * PAGE_SIZE);
	KEXPECT_EQ((uintptr_t)p % PAGE_SIZE, 0);
	KEXPECT_EQ(kmem_object_base(p + 12345), p);
	p[KMALLOC_MAX_CACHE] = 7;
	kfree(p);
	KEXPECT_EQ(kmalloc(8ull << 20, 0), NULL);	/* above the largest block */
}

KTEST(slab, krealloc_keeps_contents)
{
	uint8_t *p = kmalloc(24, 0);
	KASSERT_NOT_NULL(p);
	for (int i = 0; i < 24; i++)
		p[i] = (uint8_t)i;
	p = krealloc(p, 3000, 0);
	KASSERT_NOT_NULL(p);
	for (int i = 0; i < 24; i++)
		KEXPECT_EQ(p[i], i);
	p = krealloc(p, 20000, 0);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(p[23], 23);
	p = krealloc(p, 16, 0);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(p[15], 15);
	KEXPECT_EQ(ksize(p), 16);
	KEXPECT_NULL(krealloc(p, 0, 0));
}

KTEST(slab, kzalloc_zeroes_a_recycled_object)
{
	enum { TRIES = 64 };	/* more than a slab of 200 B objects holds */
	static uint8_t *got[TRIES];
	uint8_t *p = kmalloc(200, 0);
	KASSERT_NOT_NULL(p);
	memset(p, 0xee, 200);
	kfree(p);
	/* p went back to its slab: allocate until the heap hands it out again
	 * (once this CPU's list runs dry, at the latest), each object zeroed. */
	unsigned k = 0, bad = 0;
	bool again = false;
	while (k < TRIES && !again) {
		uint8_t *q = kzalloc(200, 0);
		KASSERT_NOT_NULL(q);
		for (int i = 0; i < 200; i++)
			bad += q[i] != 0;
		got[k++] = q;
		again = q == p;
	}
	KEXPECT_TRUE(again);
	KEXPECT_EQ(bad, 0);
	while (k)
		kfree(got[--k]);
}

/* Allocate until NULL, chaining the objects through their first word. */
static void **exhaust(size_t n, unsigned *count)
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

KTEST(slab, exhaustion_returns_null_and_recovers)
{
	struct pmm_stats before, after;
	unsigned big, small;

	kmem_reclaim();
	pmm_drain(&kernel_pmm);
	pmm_stats(&kernel_pmm, &before);
	void **bigs = exhaust(1 << 20, &big);	/* most memory, in 1 MiB blocks */
	void **smalls = exhaust(64, &small);	/* then every last slab */
	KEXPECT_GT(big, 0);
	KEXPECT_GT(small, 0);
	KEXPECT_NULL(kmalloc(64, 0));
	free_chain(smalls);
	free_chain(bigs);
	void *p = kmalloc(64, 0);
	KEXPECT_NOT_NULL(p);
	kfree(p);
	slab_check();
	kmem_reclaim();
	pmm_drain(&kernel_pmm);
	pmm_stats(&kernel_pmm, &after);
	KEXPECT_EQ(after.free_pages, before.free_pages);
}

/*
 * Objects freed into full slabs stay on the CPU list; when another cache
 * then needs a slab at the heap's peak, the slabs only those lists hold go
 * back first (footprint_make_room). kmalloc-4096 holds one object to a slab,
 * and keeps every free.
 */
KTEST(slab, a_new_slab_takes_the_pages_cpu_lists_hold_before_the_heap_grows)
{
	struct kmem_cache *c4k = kmalloc_cache(4096), *c2k = kmalloc_cache(2048);
	void *big[8], *half[8];
	/* As many as kmalloc-4096 keeps: its share of the idle bounds, which
	 * scale with RAM. */
	int n = c4k->keep_below + 1 < 8 ? (int)c4k->keep_below + 1 : 8;

	kmem_reclaim();		/* every CPU list empty, the peak what is left */
	uint64_t base4k = kmem_cache_bytes(c4k);
	for (int i = 0; i < n; i++)
		KASSERT_NOT_NULL(big[i] = kmalloc(4096, 0));
	if (c4k->flags) {
		/* slab_debug=: no CPU lists, so nothing is kept; each slab
		 * but SLAB_KEEP_EMPTY goes back at its last free. */
		for (int i = 0; i < n; i++)
			kfree(big[i]);
		KEXPECT_LE(kmem_cache_bytes(c4k), base4k + (SLAB_KEEP_EMPTY * PAGE_SIZE << c4k->order));
		slab_check();
		return;
	}
	KEXPECT_EQ(kmem_cache_bytes(c4k), base4k + (uint64_t)n * PAGE_SIZE);
	uint64_t peak = kmem_cache_bytes(c4k) + kmem_cache_bytes(c2k);
	for (int i = 0; i < n; i++)
		kfree(big[i]);
	KEXPECT_EQ(kmem_cache_bytes(c4k), base4k + (uint64_t)n * PAGE_SIZE);	/* kept */
	for (int i = 0; i < n; i++)
		KASSERT_NOT_NULL(half[i] = kmalloc(2048, 0));
	KEXPECT_EQ(kmem_cache_bytes(c4k), base4k);
	KEXPECT_LE(kmem_cache_bytes(c4k) + kmem_cache_bytes(c2k), peak);
	slab_check();
	for (int i = 0; i < n; i++)
		kfree(half[i]);
	slab_check();
}

#define STRESS_SLOTS	1000
#define STRESS_OPS	1000000

struct shadow {
	uint64_t *p;
	size_t n;	/* bytes asked */
	uint64_t tag;
};

/* Tags at the first, middle and last word: contents are checked where a
 * neighbour's overrun or a double hand-out would land, cheaply enough for
 * 10^6 operations under emulation (the host test checks every byte). */
static void tag(struct shadow *s)
{
	size_t w = s->n / 8;
	s->p[w - 1] = s->tag ^ 2;
	s->p[w / 2] = s->tag ^ 1;
	s->p[0] = s->tag;
}

static bool tag_ok(const struct shadow *s)
{
	size_t w = s->n / 8;	/* in small objects the three words coincide */
	return s->p[0] == s->tag && (w / 2 == 0 || s->p[w / 2] == (s->tag ^ 1)) &&
	       (w - 1 <= w / 2 || s->p[w - 1] == (s->tag ^ 2));
}

KTEST(slab, random_stress_against_shadow)
{
	static struct shadow slots[STRESS_SLOTS];
	uint64_t reports = slab_report_count(), bad = 0, allocs = 0;

	for (unsigned op = 0; op < STRESS_OPS; op++) {
		struct shadow *s = &slots[ktest_random() % STRESS_SLOTS];
		if (s->p) {
			bad += !tag_ok(s);
			kfree(s->p);
			s->p = NULL;
			continue;
		}
		uint64_t r = ktest_random();
		s->n = (r % 64 == 0) ? 8192 + (r >> 8) % 40000 : 8 + (r >> 8) % 4089;
		s->n &= ~7ull;
		s->p = kmalloc(s->n, 0);
		KASSERT_NOT_NULL(s->p);
		s->tag = r | 1;
		tag(s);
		allocs++;
		if (op % 100000 == 0)
			slab_check();
	}
	for (unsigned i = 0; i < STRESS_SLOTS; i++) {
		if (slots[i].p) {
			bad += !tag_ok(&slots[i]);
			kfree(slots[i].p);
			slots[i].p = NULL;
		}
	}
	slab_check();
	KEXPECT_EQ(bad, 0);
	KEXPECT_GT(allocs, STRESS_OPS / 3);
	KEXPECT_EQ(slab_report_count(), reports);
}

/* ---- detectors: each fires on its misuse, once, and on nothing else ---- */

static char report[2048];

/* Run the misuse with the console captured; return how many reports it made. */
#define REPORTS_OF(stmt)							\
	({									\
		uint64_t before_ = slab_report_count();				\
		console_capture(report, sizeof(report));			\
		stmt;								\
		console_capture(NULL, 0);					\
		slab_report_count() - before_;					\
	})

KTEST(slab, double_free_is_reported_once)
{
	void *p = kmalloc(64, 0);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(REPORTS_OF(kfree(p)), 0);
	KEXPECT_EQ(REPORTS_OF(kfree(p)), 1);
	KEXPECT_CONTAINS(report, "BUG kmalloc-64: double free");
	void *q = kmalloc(64, 0);	/* the heap still works, and hands p out once */
	void *r = kmalloc(64, 0);
	KEXPECT_NE(q, r);
	kfree(q);
	kfree(r);
	slab_check();
}

KTEST(slab, foreign_and_interior_pointers_are_reported)
{
	int on_stack;
	uint8_t *page = page_alloc(0, 0);
	uint8_t *p = kmalloc(128, 0);
	KASSERT_NOT_NULL(page);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(REPORTS_OF(kfree(&on_stack)), 1);
	KEXPECT_CONTAINS(report, "which the heap does not own");
	KEXPECT_EQ(REPORTS_OF(kfree(page)), 1);
	KEXPECT_EQ(REPORTS_OF(kfree(p + 16)), 1);
	KEXPECT_CONTAINS(report, "not the start of an object");
	KEXPECT_EQ(REPORTS_OF(kfree(p)), 0);
	page_free(page, 0);
	slab_check();
}

KTEST(slab, wrong_cache_is_reported)
{
	struct kmem_cache *a = kmem_cache_create("test-a", 40, 0, 0, NULL);
	struct kmem_cache *b = kmem_cache_create("test-b", 40, 0, 0, NULL);
	KASSERT_NOT_NULL(a);
	KASSERT_NOT_NULL(b);
	void *obj = kmem_cache_alloc(a, 0);
	KASSERT_NOT_NULL(obj);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(b, obj)), 1);
	KEXPECT_CONTAINS(report, "BUG test-b: kmem_cache_free");
	KEXPECT_CONTAINS(report, "belongs to test-a");
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(a, obj)), 0);
	kmem_cache_destroy(a);
	kmem_cache_destroy(b);
}

KTEST(slab, red_zone_overwrite_is_reported)
{
	struct kmem_cache *c = kmem_cache_create("test-rz", 48, 0, SLAB_RED_ZONE, NULL);
	KASSERT_NOT_NULL(c);
	uint8_t *obj = kmem_cache_alloc(c, 0);
	KASSERT_NOT_NULL(obj);
	obj[48] = 0;	/* one past the end */
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 1);
	KEXPECT_CONTAINS(report, "BUG test-rz: Right Redzone overwritten");
	obj = kmem_cache_alloc(c, 0);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 0);	/* repaired, and quiet */
	slab_check();
	kmem_cache_destroy(c);
}

KTEST(slab, write_after_free_is_reported_under_poisoning)
{
	struct kmem_cache *c = kmem_cache_create("test-poison", 64, 0, SLAB_POISON, NULL);
	KASSERT_NOT_NULL(c);
	uint8_t *obj = kmem_cache_alloc(c, 0);
	KASSERT_NOT_NULL(obj);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 0);
	obj[10] = 0x42;	/* use after free */
	uint8_t *again;
	KEXPECT_EQ(REPORTS_OF(again = kmem_cache_alloc(c, 0)), 1);
	KEXPECT_CONTAINS(report, "Poison overwritten");
	KEXPECT_CONTAINS(report, "offset 10");
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, again)), 0);
	kmem_cache_destroy(c);
}

/* F: a free list link written over is found by the next free, and the
 * list rebuilt from the free marks: no object is lost. */
KTEST(slab, consistency_finds_a_corrupt_free_list_link)
{
	struct kmem_cache *c = kmem_cache_create("test-f", 80, 0, SLAB_CONSISTENCY, NULL);
	KASSERT_NOT_NULL(c);
	uint8_t *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0), *d = kmem_cache_alloc(c, 0);
	KASSERT_TRUE(a && b && d);
	kmem_cache_free(c, a);
	meta_of(c, a)[0] = (uint64_t)(b + 8);	/* the list's first link, into b */
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, d)), 1);
	KEXPECT_CONTAINS(report, "BUG test-f: Freelist corrupt: 0x");
	KEXPECT_CONTAINS(report, "rebuilt from the free marks");
	slab_check();
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, b)), 0);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);	/* every object came back */
	slab_check();
}

/* F: a write into a slab's tail or an object's padding is found by the
 * next free, and refilled. */
KTEST(slab, consistency_finds_overwritten_padding)
{
	struct kmem_cache *c = kmem_cache_create("test-tail", 80, 0, SLAB_CONSISTENCY, NULL);
	KASSERT_NOT_NULL(c);
	uint8_t *a = kmem_cache_alloc(c, 0);
	KASSERT_NOT_NULL(a);
	KASSERT_LT(c->objs_end, PAGE_SIZE << c->order);
	uint8_t *base = slab_head_of(a)->slab_base;
	base[c->objs_end] = 0;
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, a)), 1);
	KEXPECT_CONTAINS(report, "BUG test-tail: Slab padding overwritten");
	slab_check();
	KEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);

	c = kmem_cache_create("test-pad", 24, 64, SLAB_CONSISTENCY, NULL);
	KASSERT_NOT_NULL(c);
	uint8_t *o = kmem_cache_alloc(c, 0);
	KASSERT_NOT_NULL(o);
	o[c->stride - 1] = 0;
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, o)), 1);
	KEXPECT_CONTAINS(report, "BUG test-pad: Object padding overwritten");
	slab_check();
	KEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
}

__attribute__((noinline)) static void *owner_tracking_allocator(struct kmem_cache *c)
{
	void *p = kmem_cache_alloc(c, 0);
	__asm__ volatile("");
	return p;
}

KTEST(slab, owner_tracking_names_the_allocation_site)
{
	struct kmem_cache *c = kmem_cache_create("test-user", 32, 0, SLAB_STORE_USER, NULL);
	KASSERT_NOT_NULL(c);
	void *obj = owner_tracking_allocator(c);
	KASSERT_NOT_NULL(obj);
	kmem_cache_free(c, obj);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_free(c, obj)), 1);
	KEXPECT_CONTAINS(report, "double free");
	KEXPECT_CONTAINS(report, "last allocated at");
	KEXPECT_CONTAINS(report, "owner_tracking_allocator");
	KEXPECT_CONTAINS(report, "last freed at");
	kmem_cache_destroy(c);
}

KTEST(slab, destroy_with_objects_in_use_reports_and_keeps_the_cache)
{
	struct kmem_cache *c = kmem_cache_create("test-leak", 100, 0, 0, NULL);
	KASSERT_NOT_NULL(c);
	void *a = kmem_cache_alloc(c, 0), *b = kmem_cache_alloc(c, 0);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 1);
	KEXPECT_CONTAINS(report, "2 objects still in use");
	void *d = kmem_cache_alloc(c, 0);	/* still a working cache */
	KEXPECT_NOT_NULL(d);
	kmem_cache_free(c, a);
	kmem_cache_free(c, b);
	kmem_cache_free(c, d);
	KEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
}

static void ctor_fill(void *p)
{
	memset(p, 0x5a, 72);
}

KTEST(slab, constructor_state_survives_free)
{
	struct kmem_cache *c = kmem_cache_create("test-ctor", 72, 0, 0, ctor_fill);
	KASSERT_NOT_NULL(c);
	uint8_t *p = kmem_cache_alloc(c, 0);
	KASSERT_NOT_NULL(p);
	for (int i = 0; i < 72; i++)
		KEXPECT_EQ(p[i], 0x5a);
	kmem_cache_free(c, p);	/* the free pointer must not land in the object */
	p = kmem_cache_alloc(c, 0);
	for (int i = 0; i < 72; i++)
		KEXPECT_EQ(p[i], 0x5a);
	kmem_cache_free(c, p);
	kmem_cache_destroy(c);
}

/* Objects above the kmalloc classes, in slabs of several pages, up to
 * KMEM_CACHE_MAX_SIZE: many of each, written whole and read back, the heap
 * verified after each step; anything larger is refused and reported. */
KTEST(slab, created_caches_take_objects_up_to_the_maximum_size)
{
	/* The largest: as many as there are free 4 MiB blocks, up to 3 (a
	 * 32 MiB boot may have one). */
	static const struct { size_t size; unsigned n, at_least; } cases[] = {
		{ 12 * 1024, 64, 64 }, { 64 * 1024, 32, 32 }, { KMEM_CACHE_MAX_SIZE, 3, 1 },
	};
	static uint64_t *objs[64];
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t size = cases[k].size, words = size / 8;
		struct kmem_cache *c;
		KEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-big", size, 0, 0, NULL)), 0);
		KASSERT_NOT_NULL(c);
		unsigned n = 0;
		while (n < cases[k].n && (objs[n] = kmem_cache_alloc(c, 0)) != NULL) {
			KEXPECT_EQ(kmem_object_base((uint8_t *)objs[n] + size - 1), objs[n]);
			for (size_t w = 0; w < words; w++)
				objs[n][w] = (uint64_t)n << 32 | w;
			n++;
		}
		KEXPECT_GE(n, cases[k].at_least);
		slab_check();
		uint64_t bad = 0;
		for (unsigned i = 0; i < n; i++)
			for (size_t w = 0; w < words; w++)
				bad += objs[i][w] != ((uint64_t)i << 32 | w);
		KEXPECT_EQ(bad, 0);
		for (unsigned i = 0; i < n; i++)
			kmem_cache_free(c, objs[i]);
		slab_check();
		KEXPECT_EQ(REPORTS_OF(kmem_cache_destroy(c)), 0);
		slab_check();
	}
	struct kmem_cache *c;
	KEXPECT_EQ(REPORTS_OF(c = kmem_cache_create("test-huge", KMEM_CACHE_MAX_SIZE + 1, 0, 0, NULL)), 1);
	KEXPECT_NULL(c);
	KEXPECT_CONTAINS(report, "BUG kmem_cache: kmem_cache_create of test-huge: size 4190209");
}

KTEST(slab, stats_count_objects_in_use)
{
	struct kmem_cache *c = kmem_cache_create("test-stats", 256, 0, 0, NULL);
	struct kmem_cache_stats st;
	void *objs[10];
	KASSERT_NOT_NULL(c);
	for (int i = 0; i < 10; i++)
		objs[i] = kmem_cache_alloc(c, 0);
	kmem_cache_stats(c, &st);
	KEXPECT_EQ(st.objects_in_use, 10);
	KEXPECT_GE(st.slabs, 1);
	KEXPECT_EQ(st.bytes % PAGE_SIZE, 0);
	for (int i = 0; i < 10; i++)
		kmem_cache_free(c, objs[i]);
	kmem_cache_stats(c, &st);
	KEXPECT_EQ(st.objects_in_use, 0);
	kmem_cache_destroy(c);
}

KTEST(slab, object_base_of_interior_and_foreign_addresses)
{
	uint8_t *p = kmalloc(100, 0);	/* kmalloc-112 */
	int local;
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(kmem_object_base(p), p);
	KEXPECT_EQ(kmem_object_base(p + 99), p);
	KEXPECT_EQ(kmem_object_base(p + 111), p);
	KEXPECT_NULL(kmem_object_base(&local));
	KEXPECT_NULL(kmem_object_base(NULL));
	kfree(p);
}

/* ---- interrupt context (hazard 3) ---- */

#define IRQ_RING	16

struct irq_heap {
	uint64_t *ring[IRQ_RING];	/* the tick handler's objects, freed 16 ticks later */
	unsigned next;
	uint64_t bad, nulls;		/* stamps found broken; allocations that failed */
};

/* Each object carries its own address and a context tag: an object handed
 * to both contexts at once, or changed under one, breaks its stamp. */
static void stamp(uint64_t *p, size_t n, uint64_t who)
{
	p[0] = (uint64_t)p ^ who;
	p[n / 8 - 1] = ~(uint64_t)p ^ who;
}

static bool stamp_ok(const uint64_t *p, size_t n, uint64_t who)
{
	return p[0] == ((uint64_t)p ^ who) && p[n / 8 - 1] == (~(uint64_t)p ^ who);
}

static void heap_in_irq(void *ctx)
{
	struct irq_heap *h = ctx;
	unsigned slot = h->next++ % IRQ_RING;
	size_t n = 64 + 32 * (slot % 5);	/* the sizes the main loop uses too */
	if (h->ring[slot]) {
		h->bad += !stamp_ok(h->ring[slot], 64 + 32 * (slot % 5), 1);
		kfree(h->ring[slot]);
	}
	h->ring[slot] = kmalloc(n, 0);
	if (!h->ring[slot]) {
		h->nulls++;
		return;
	}
	stamp(h->ring[slot], n, 1);
}

static void heap_in_loop(void *ctx)
{
	struct irq_heap *h = ctx;
	uint64_t *p[8];
	for (int i = 0; i < 8; i++) {
		size_t n = 64 + 32 * (i % 5);
		p[i] = kmalloc(n, 0);
		if (!p[i]) {
			h->nulls++;
			continue;
		}
		stamp(p[i], n, 2);
	}
	for (int i = 0; i < 8; i++) {
		if (!p[i])
			continue;
		h->bad += !stamp_ok(p[i], 64 + 32 * (i % 5), 2);
		kfree(p[i]);
	}
}

KTEST(slab, allocation_from_interrupt_context)
{
	static struct irq_heap h;
	uint64_t reports = slab_report_count();
	struct irq_stress s = { .in_irq = heap_in_irq, .in_loop = heap_in_loop, .ctx = &h,
				.ticks = 500, .hz = 2000 };
	struct irq_stress_result r = irq_stress_run(&s);
	KEXPECT_FALSE(r.stalled);
	KEXPECT_EQ(r.irq_calls, r.ticks);
	KEXPECT_GT(r.irqs_in_loop, r.ticks / 2);	/* most ticks hit the heap mid-call */
	KEXPECT_EQ(h.bad, 0);
	KEXPECT_EQ(h.nulls, 0);
	for (unsigned i = 0; i < IRQ_RING; i++) {
		if (h.ring[i]) {
			KEXPECT_TRUE(stamp_ok(h.ring[i], 64 + 32 * (i % 5), 1));
			kfree(h.ring[i]);
			h.ring[i] = NULL;
		}
	}
	KEXPECT_EQ(slab_report_count(), reports);
	slab_check();
}

/*
 * The fast paths' sequences (kernel/restart.h), interrupted at every
 * instruction. The test single-steps (TF) through kmalloc and kfree of two
 * classes (small objects, whose frees into a refill's slab are pushed onto
 * it, and large ones, whose frees are kept on the CPU list), and through
 * kmem_cache_alloc and kmem_cache_free of two constructed caches (metadata
 * after the object; large and small objects): every inlined sequence. The #DB trap after
 * an instruction plays an interrupt handler that allocates or frees on the
 * same cache, as a timer handler may, and rewinds the interrupted sequence
 * as trap_dispatch does for interrupts. Pass k (1..STEP_INSIDE) interrupts
 * each run of a sequence once, after its k-th instruction; a sequence is
 * at most 9 instructions long (a keep onto an empty list), so passes 1..8
 * reach every point strictly inside every sequence (and 9..10 check that
 * nothing else is). Passes STEP_INSIDE + j interrupt, without a rewind,
 * the j-th instruction after a sequence ends: a free's decrement of its
 * slab's count, or a keep's count of kept objects, still pending, and the
 * way into slab_settle before it masks interrupts, where the handler's own
 * frees and allocations must leave every count right.
 */
#define STEP_INSIDE	10
#define STEP_AFTER	6
#define STEP_PASSES	(STEP_INSIDE + STEP_AFTER)
#define STEP_KINDS	4
#define STEP_HELD	24	/* per kind */
#define STEP_OPS	48
#define STEP_DRAIN	64	/* more than two refills of kinds 1 and 2 take */
#define STEP_MAX_POINTS	64

struct step_state {
	struct kmem_cache *cache;	/* kind 2's, large objects */
	struct kmem_cache *small;	/* kind 3's, small objects */
	unsigned target;		/* interrupt after this many instructions */
	unsigned pos;			/* instructions run in the current attempt */
	bool in_seq;			/* the last step was inside a sequence */
	unsigned after;			/* instructions since the last sequence ended */
	bool acted;			/* interrupted this run already: let it finish */
	uint64_t acts, after_acts;
	uint64_t *held[STEP_KINDS][STEP_HELD];	/* the "handler's" objects */
	unsigned nheld[STEP_KINDS], nulls;
	uint64_t points[STEP_MAX_POINTS];	/* distinct RIPs restarted from */
	unsigned npoints;
	const struct restart_seq *seqs[STEP_MAX_POINTS];	/* distinct sequences */
	unsigned nseqs;
	/* Threaded: the act runs on another thread, switched to from the
	 * trap as a preemption would (step_switch). */
	bool threaded;
	struct waitq wq;
	volatile bool pending, stop;
	struct thread *helper;
};

#define STEP_CTOR_SIZE	1000	/* few to a slab, so that frees find full slabs */
#define STEP_SMALL_SIZE	200	/* 18 to a slab: frees into a refill's slab are pushed */

static void step_ctor(void *p)
{
	memset(p, 0x5c, STEP_CTOR_SIZE);
}

static void step_ctor_small(void *p)
{
	memset(p, 0x5c, STEP_SMALL_SIZE);
}

/* The objects the single-step tests take: kmalloc(size), or for size 0
 * an object of the test's constructed cache cc. */
static uint64_t *obj_alloc(struct kmem_cache *cc, size_t size)
{
	return size ? kmalloc(size, 0) : kmem_cache_alloc(cc, 0);
}

static void obj_free(struct kmem_cache *cc, size_t size, uint64_t *p)
{
	if (size)
		kfree(p);
	else
		kmem_cache_free(cc, p);
}

static const size_t step_sizes[STEP_KINDS] = { 64, 2048, 0, 0 };

static struct kmem_cache *step_cache(struct step_state *s, unsigned kind)
{
	return kind == 3 ? s->small : s->cache;
}

static uint64_t *step_alloc(struct step_state *s, unsigned kind)
{
	return obj_alloc(step_cache(s, kind), step_sizes[kind]);
}

static void step_free(struct step_state *s, unsigned kind, uint64_t *p)
{
	obj_free(step_cache(s, kind), step_sizes[kind], p);
}

/* Trap (#DB) after every instruction from here to single_step_off, with
 * interrupts on as a handler would find them (every PIC line is masked:
 * only #DB comes). */
static uint64_t single_step_flags;

static void single_step_on(void)
{
	single_step_flags = irq_save();
	irq_enable();
	__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq" ::: "memory", "cc");
}

static void single_step_off(void)
{
	__asm__ volatile("pushfq; andq $~0x100, (%%rsp); popfq" ::: "memory", "cc");
	irq_restore(single_step_flags);
}

static void note_once(uint64_t *set, unsigned *n, uint64_t v)
{
	for (unsigned i = 0; i < *n; i++)
		if (set[i] == v)
			return;
	if (*n < STEP_MAX_POINTS)
		set[(*n)++] = v;
}

/* The "handler": take or give back an object of the next kind. */
static void step_act(struct step_state *s)
{
	/* Each kind in turn; alternate taking and giving back, so the
	 * counts move both ways. */
	unsigned kind = (unsigned)(s->acts % STEP_KINDS);
	bool take = (s->acts++ / STEP_KINDS) % 2 == 0;
	if (take && s->nheld[kind] < STEP_HELD) {
		uint64_t *p = step_alloc(s, kind);
		if (!p) {
			s->nulls++;
			return;
		}
		p[0] = (uint64_t)p ^ 0xabcdef;
		s->held[kind][s->nheld[kind]++] = p;
	} else if (s->nheld[kind]) {
		step_free(s, kind, s->held[kind][--s->nheld[kind]]);
	}
}

/* The other thread of a threaded run: one act each time the stepped
 * thread is switched away from. */
static void step_helper(void *arg)
{
	struct step_state *s = arg;
	for (;;) {
		wait_event(&s->wq, s->pending || s->stop);
		if (s->stop)
			return;
		step_act(s);
		s->pending = false;
	}
}

/* The act, in the trap: as an interrupt handler (step_act), or, threaded,
 * on the helper thread, which runs while the stepped thread, its
 * sequence rewound, waits as a preempted thread. */
static void step_do(struct step_state *s, struct trap_frame *f)
{
	if (!s->threaded) {
		step_act(s);
		return;
	}
	s->pending = true;
	waitq_wake_one(&s->wq);
	sched_switch_from_trap(f);
}

static void step_hook(struct trap_frame *f, void *arg)
{
	struct step_state *s = arg;
	const struct restart_seq *seq = restart_seq_find(f->rip);

	if (!seq) {
		/* Just out of a sequence: its run is over; count the
		 * instructions since. */
		if (s->in_seq) {
			s->in_seq = false;
			s->pos = 0;
			s->after = 0;
			s->acted = false;
		}
		s->after++;
		if (s->target <= STEP_INSIDE || s->after != s->target - STEP_INSIDE ||
		    s->acted || !(f->rflags & RFLAGS_IF))
			return;
		s->after_acts++;
		s->acted = true;
		step_do(s, f);
		return;
	}
	s->in_seq = true;
	/* Code with interrupts masked would not see this interrupt yet. */
	if (++s->pos != s->target || s->acted || !(f->rflags & RFLAGS_IF))
		return;
	note_once(s->points, &s->npoints, f->rip);
	note_once((uint64_t *)s->seqs, &s->nseqs, (uint64_t)seq);
	restart_seq_fixup(&f->rip);
	s->pos = 0;
	s->acted = true;	/* until the run, restarted, leaves the sequence */
	step_do(s, f);
}

/* No object twice among a[0..n) and b[0..m) (NULL entries aside). */
static bool all_distinct(uint64_t **a, unsigned n, uint64_t **b, unsigned m)
{
	for (unsigned i = 0; i < n + m; i++) {
		uint64_t *x = i < n ? a[i] : b[i - n];
		for (unsigned j = i + 1; j < n + m; j++)
			if (x && x == (j < n ? a[j] : b[j - n]))
				return false;
	}
	return true;
}

/* Every pass of the single-step test: each instruction of every sequence
 * interrupted in turn, the act done by a handler or, threaded, by another
 * thread switched to there. */
static void step_passes(bool threaded)
{
	static struct step_state s;
	uint64_t reports = slab_report_count();
	struct trap_catch c;
	/* 1.5 KiB: static, as s is, rather than in the frame (frames above
	 * 1 KiB warn, see the Makefile). */
	static uint64_t *mine[STEP_KINDS][STEP_OPS];
	static unsigned nmine[STEP_KINDS];

	s = (struct step_state){ .threaded = threaded, .wq = WAITQ_INIT };
	if (threaded)
		KASSERT_NOT_NULL(s.helper = kthread_create(step_helper, &s, "stepper"));
	s.cache = kmem_cache_create("test-restart", STEP_CTOR_SIZE, 0, 0, step_ctor);
	s.small = kmem_cache_create("test-restart-small", STEP_SMALL_SIZE, 0, 0, step_ctor_small);
	KASSERT_NOT_NULL(s.cache);
	KASSERT_NOT_NULL(s.small);
	for (s.target = 1; s.target <= STEP_PASSES; s.target++) {
		unsigned bad = 0;
		/* Every CPU list empty: the first allocation of each kind
		 * refills, so that frees into that slab (full) are pushed
		 * onto it in a cache of small objects, not kept as they were
		 * after the last pass's drain. */
		kmem_reclaim();
		trap_catch_arm(&c, VEC_DB);
		c.on_trap = step_hook;
		c.arg = &s;
		single_step_on();
		for (unsigned k = 0; k < STEP_KINDS; k++) {
			nmine[k] = 0;
			for (unsigned i = 0; i < STEP_OPS; i++) {
				uint64_t *p = step_alloc(&s, k);
				if (p) {
					p[0] = i;
					mine[k][nmine[k]++] = p;
				}
				/* Free one of each three, so that the CPU list
				 * both empties (refills) and slabs take frees. */
				if (i % 3 == 2 && nmine[k] >= 2) {
					step_free(&s, k, mine[k][nmine[k] - 2]);
					mine[k][nmine[k] - 2] = mine[k][nmine[k] - 1];
					nmine[k]--;
				}
			}
		}
		/* A keep onto an empty list, in each pass: empty the CPU list
		 * of kinds 1 and 2 (large objects), let one more allocation
		 * refill it from a slab (which is then full), empty it again,
		 * then free the last object taken. */
		for (unsigned k = 1; k <= 2; k++) {
			struct kmem_cache *kc = step_sizes[k] ? kmalloc_cache(step_sizes[k]) : s.cache;
			uint64_t *drain[STEP_DRAIN];
			unsigned nd = 0;
			for (int round = 0; round < 2; round++) {
				while (kc->cpu[cpu_id()].freelist && nd < STEP_DRAIN)
					drain[nd++] = step_alloc(&s, k);
				if (round == 0 && nd < STEP_DRAIN)
					drain[nd++] = step_alloc(&s, k);
			}
			while (nd)
				step_free(&s, k, drain[--nd]);
		}
		single_step_off();
		trap_catch_disarm();

		for (unsigned k = 0; k < STEP_KINDS; k++) {
			KEXPECT_EQ(nmine[k], STEP_OPS - STEP_OPS / 3);
			KEXPECT_TRUE(all_distinct(mine[k], nmine[k], s.held[k], s.nheld[k]));
			for (unsigned i = 0; i < s.nheld[k]; i++)
				bad += s.held[k][i][0] != ((uint64_t)s.held[k][i] ^ 0xabcdef);
			for (unsigned i = 0; i < nmine[k]; i++)
				step_free(&s, k, mine[k][i]);
		}
		KEXPECT_EQ(bad, 0);
		slab_check();
	}
	for (unsigned k = 0; k < STEP_KINDS; k++)
		while (s.nheld[k])
			step_free(&s, k, s.held[k][--s.nheld[k]]);
	struct kmem_cache_stats cst;
	kmem_cache_stats(s.cache, &cst);	/* its fast paths, before it goes */
	kmem_cache_destroy(s.cache);
	kmem_cache_destroy(s.small);
	KEXPECT_EQ(s.nulls, 0);

	/* Every sequence the build has was interrupted, at each of its points:
	 * a pop has 4 instructions before its commit, a push onto a slab 5, a
	 * keep 8 (counting the store it makes only onto an empty list).
	 * kmalloc and kmem_cache_alloc pop; kfree and
	 * kmem_cache_free push, each onto a slab and, keeping an object of a
	 * full slab, onto the CPU's list.
	 * A debug cache's CPU list stays empty, so its pops leave after
	 * their 3rd instruction, and no free reaches its push (the slabs are
	 * nobody's: OWNER_NONE). The kmalloc classes and the constructed
	 * caches may differ: a constructed cache drops P (slab_debug=P). */
	size_t nseqs;
	restart_seqs(&nseqs);
	KEXPECT_EQ(nseqs, 6);
	struct kmem_cache_stats st;
	kmem_cache_stats(kmalloc_cache(64), &st);
	KEXPECT_EQ(s.nseqs, (st.fast_paths ? 3u : 1u) + (cst.fast_paths ? 3u : 1u));
	KEXPECT_EQ(s.npoints, (st.fast_paths ? 4 + 5 + 8 : 2) + (cst.fast_paths ? 4 + 5 + 8 : 2));
	/* And the handler ran just after sequences, each pass. */
	KEXPECT_TRUE(s.after_acts >= STEP_AFTER * STEP_KINDS);
	KEXPECT_EQ(slab_report_count(), reports);
	slab_check();
	if (threaded) {
		/* Each act ran on the helper, switched to from the trap. */
		KEXPECT_GE(s.helper->switches, s.acts);
		KEXPECT_GT(s.acts, 0);
		s.stop = true;
		waitq_wake_one(&s.wq);
		kthread_join(s.helper);
	}
}

KTEST(slab, fast_path_sequences_restart_at_every_interrupted_instruction)
{
	step_passes(false);
}

/* A thread preempted inside a heap fast path resumes correctly: the same
 * passes, switching to another thread that uses the heap at each point. */
KTEST(slab, fast_path_sequences_restart_when_preempted_at_every_instruction)
{
	step_passes(true);
}

/*
 * The same single-stepping, but the "handler" runs after randomly chosen
 * instructions anywhere in kmalloc, kfree, kmem_cache_alloc and
 * kmem_cache_free (not only in and just after sequences), takes or gives
 * back a few objects of random kinds, and now and then calls kmem_reclaim.
 * Every object, the test's and the handler's, carries a stamp of its own
 * address; none may be handed out twice or change.
 */
#define RND_KINDS	4
#define RND_SLOTS	32
#define RND_PASSES	12
#define RND_OPS		200

static const size_t rnd_sizes[RND_KINDS] = { 64, 2048, 4096, 0 };

struct rnd_state {
	struct kmem_cache *cache;	/* size 0's */
	uint64_t rng;			/* the handler's own draws */
	unsigned period;		/* the handler runs after about 1 in period steps */
	uint64_t *held[RND_KINDS][RND_SLOTS];	/* the handler's objects */
	uint64_t acts, nulls;
};

static uint64_t rnd_next(uint64_t *r)
{
	*r = *r * 6364136223846793005ull + 1442695040888963407ull;
	return *r >> 33;
}

/* Flip one random slot: free what it holds, or fill it, stamped for who. */
static void rnd_flip(struct rnd_state *s, uint64_t *r, uint64_t *slots[RND_KINDS][RND_SLOTS],
		     uint64_t who)
{
	uint64_t x = rnd_next(r);
	unsigned kind = (unsigned)(x % RND_KINDS), i = (unsigned)((x >> 4) % RND_SLOTS);
	uint64_t **slot = &slots[kind][i];
	if (*slot) {
		obj_free(s->cache, rnd_sizes[kind], *slot);
		*slot = NULL;
	} else if ((*slot = obj_alloc(s->cache, rnd_sizes[kind])) != NULL) {
		stamp(*slot, 16, who);
	} else {
		s->nulls++;
	}
}

static void rnd_hook(struct trap_frame *f, void *arg)
{
	struct rnd_state *s = arg;
	if (!(f->rflags & RFLAGS_IF) || rnd_next(&s->rng) % s->period)
		return;
	restart_seq_fixup(&f->rip);
	s->acts++;
	for (unsigned n = 1 + (unsigned)(rnd_next(&s->rng) % 6); n--; )
		rnd_flip(s, &s->rng, s->held, 0x1111);
	if (rnd_next(&s->rng) % 64 == 0)
		kmem_reclaim();
}

static unsigned rnd_bad_stamps(uint64_t *slots[RND_KINDS][RND_SLOTS], uint64_t who)
{
	unsigned bad = 0;
	for (unsigned k = 0; k < RND_KINDS; k++)
		for (unsigned i = 0; i < RND_SLOTS; i++)
			bad += slots[k][i] && !stamp_ok(slots[k][i], 16, who);
	return bad;
}

KTEST(slab, random_interrupts_anywhere_in_the_fast_paths)
{
	static struct rnd_state s;
	static uint64_t *mine[RND_KINDS][RND_SLOTS];
	static const unsigned periods[] = { 3, 7, 13, 29, 61, 127 };
	uint64_t reports = slab_report_count(), r = ktest_random();
	unsigned bad = 0, twice = 0;
	struct trap_catch c;

	s = (struct rnd_state){ .rng = ktest_random() };
	s.cache = kmem_cache_create("test-random-irq", STEP_CTOR_SIZE, 0, 0, step_ctor);
	KASSERT_NOT_NULL(s.cache);
	for (unsigned pass = 0; pass < RND_PASSES; pass++) {
		s.period = periods[pass % (sizeof(periods) / sizeof(periods[0]))];
		trap_catch_arm(&c, VEC_DB);
		c.on_trap = rnd_hook;
		c.arg = &s;
		single_step_on();
		for (unsigned op = 0; op < RND_OPS; op++)
			rnd_flip(&s, &r, mine, 0x2222);
		single_step_off();
		trap_catch_disarm();

		bad += rnd_bad_stamps(mine, 0x2222) + rnd_bad_stamps(s.held, 0x1111);
		for (unsigned k = 0; k < RND_KINDS; k++)
			twice += !all_distinct(mine[k], RND_SLOTS, s.held[k], RND_SLOTS);
		slab_check();
	}
	for (unsigned k = 0; k < RND_KINDS; k++)
		for (unsigned i = 0; i < RND_SLOTS; i++) {
			if (mine[k][i])
				obj_free(s.cache, rnd_sizes[k], mine[k][i]);
			if (s.held[k][i])
				obj_free(s.cache, rnd_sizes[k], s.held[k][i]);
			mine[k][i] = s.held[k][i] = NULL;
		}
	kmem_cache_destroy(s.cache);
	KEXPECT_GT(s.acts, RND_PASSES * RND_OPS / 8);	/* the handler ran often */
	KEXPECT_EQ(s.nulls, 0);
	KEXPECT_EQ(bad, 0);
	KEXPECT_EQ(twice, 0);
	KEXPECT_EQ(slab_report_count(), reports);
	slab_check();
}

/*
 * The random-interrupt test again, but each "interrupt" also makes a new
 * slab of a cache of one page to a slab at the heap's peak, so that
 * footprint_make_room (slab_trim_cpu) runs inside the handler, over the very
 * caches the interrupted fast path is in. (From a review.)
 */
#define GROW_MAX	192

struct grow_state {
	struct rnd_state r;
	struct kmem_cache *grow;
	void *held[GROW_MAX];
	unsigned n;
	uint64_t grows;
};

static void grow_hook(struct trap_frame *f, void *arg)
{
	struct grow_state *g = arg;
	struct rnd_state *s = &g->r;
	if (!(f->rflags & RFLAGS_IF) || rnd_next(&s->rng) % s->period)
		return;
	restart_seq_fixup(&f->rip);
	s->acts++;
	if (g->n == GROW_MAX) {
		while (g->n)
			kmem_cache_free(g->grow, g->held[--g->n]);
		kmem_reclaim();	/* its list empty again, the peak what is left */
	}
	void *p = kmem_cache_alloc(g->grow, 0);
	if (p) {
		g->held[g->n++] = p;
		g->grows++;
	} else {
		s->nulls++;
	}
	for (unsigned n = 1 + (unsigned)(rnd_next(&s->rng) % 4); n--; )
		rnd_flip(s, &s->rng, s->held, 0x1111);
}

KTEST(slab, random_interrupts_that_grow_the_heap)
{
	static struct grow_state g;
	static uint64_t *mine[RND_KINDS][RND_SLOTS];
	static const unsigned periods[] = { 2, 3, 5, 7, 11 };
	uint64_t reports = slab_report_count(), r = ktest_random();
	unsigned bad = 0, twice = 0;
	struct trap_catch c;

	g = (struct grow_state){ .r.rng = ktest_random() };
	g.r.cache = kmem_cache_create("test-grow-irq", STEP_CTOR_SIZE, 0, 0, step_ctor);
	g.grow = kmem_cache_create("test-grow", 4096, 0, 0, NULL);
	KASSERT_NOT_NULL(g.r.cache);
	KASSERT_NOT_NULL(g.grow);
	kmem_reclaim();
	/* Under slab_debug= every cache is a debug cache, which footprint_make_room
	 * passes over, and each single-stepped free walks its slab's free
	 * list and the object's padding (F): a few passes keep the stress,
	 * within the boot's time. */
	unsigned passes = g.grow->flags ? RND_PASSES / 4 : 2 * RND_PASSES;
	for (unsigned pass = 0; pass < passes; pass++) {
		g.r.period = periods[pass % (sizeof(periods) / sizeof(periods[0]))];
		trap_catch_arm(&c, VEC_DB);
		c.on_trap = grow_hook;
		c.arg = &g;
		single_step_on();
		for (unsigned op = 0; op < RND_OPS; op++)
			rnd_flip(&g.r, &r, mine, 0x2222);
		single_step_off();
		trap_catch_disarm();

		bad += rnd_bad_stamps(mine, 0x2222) + rnd_bad_stamps(g.r.held, 0x1111);
		for (unsigned k = 0; k < RND_KINDS; k++)
			twice += !all_distinct(mine[k], RND_SLOTS, g.r.held[k], RND_SLOTS);
		slab_check();
	}
	for (unsigned k = 0; k < RND_KINDS; k++)
		for (unsigned i = 0; i < RND_SLOTS; i++) {
			if (mine[k][i])
				obj_free(g.r.cache, rnd_sizes[k], mine[k][i]);
			if (g.r.held[k][i])
				obj_free(g.r.cache, rnd_sizes[k], g.r.held[k][i]);
			mine[k][i] = g.r.held[k][i] = NULL;
		}
	while (g.n)
		kmem_cache_free(g.grow, g.held[--g.n]);
	kmem_cache_destroy(g.r.cache);
	kmem_cache_destroy(g.grow);
	kprintf("    # grows %llu acts %llu\n", (unsigned long long)g.grows, (unsigned long long)g.r.acts);
	KEXPECT_GT(g.grows, 100);
	KEXPECT_EQ(g.r.nulls, 0);
	KEXPECT_EQ(bad, 0);
	KEXPECT_EQ(twice, 0);
	KEXPECT_EQ(slab_report_count(), reports);
	slab_check();
}
