/*
 * tests/fuzz/slab_fuzz.c - libFuzzer drives the heap (mm/slab.c) through
 * kmalloc, kfree, krealloc and a debug cache's alloc and free.
 *
 * The heap is set up once (LLVMFuzzerInitialize) over a 256 KiB kernel_pmm,
 * small enough that inputs run it out of pages and take the failure and
 * reclaim paths. Input: groups of four bytes (cmd, slot, lo, hi); cmd % 8
 * picks the operation below, slot % SLOTS the object, lo | hi << 8 a size
 * up to SIZE_MAX_ASKED (kmalloc's classes and large blocks both).
 *
 * Each live object holds a canary at its first and last requested byte,
 * checked when it is freed or reallocated; kmem_object_base and ksize are
 * checked against it. slab_check runs every CHECK_EVERY operations and on
 * request. Each input ends with everything freed, and the heap must then
 * give back every page it took, with no misuse reported: runs are
 * independent.
 */
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA		(256ull << 10)
#define SLOTS		64
#define SIZE_MAX_ASKED	(12 * 1024)
#define CHECK_EVERY	64

struct slot {
	uint8_t *p;
	size_t n;			/* bytes asked */
	uint8_t canary;
	struct kmem_cache *cache;	/* NULL: kmalloc */
};

static struct slot slots[SLOTS];
static struct kmem_cache *debug_cache;	/* every slab_debug letter */
static uint64_t initial_free;

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

static uint64_t free_pages(void)
{
	struct pmm_stats st;
	kmem_reclaim();
	pmm_drain(&kernel_pmm);
	pmm_stats(&kernel_pmm, &st);
	return st.free_pages;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	host_phys_base = aligned_alloc(ARENA, ARENA);
	void *db = aligned_alloc(_Alignof(struct page), pmm_db_bytes(0, ARENA));
	CHECK(host_phys_base && db);
	pmm_init(&kernel_pmm, db, 0, ARENA);
	pmm_add_range(&kernel_pmm, PAGE_SIZE, ARENA);
	slab_init();
	debug_cache = kmem_cache_create("fuzz-debug", 100, 0, SLAB_DEBUG_MASK, NULL);
	CHECK(debug_cache);
	initial_free = free_pages();
	return 0;
}

/* A one-byte object holds only the first. */
static void set_canaries(struct slot *s)
{
	s->p[s->n - 1] = s->canary ^ 0xff;
	s->p[0] = s->canary;
}

/* The canaries, and what the heap says about the object. */
static void check_slot(const struct slot *s)
{
	CHECK(s->p[0] == s->canary);
	CHECK(s->n == 1 || s->p[s->n - 1] == (uint8_t)(s->canary ^ 0xff));
	CHECK(kmem_object_base(s->p) == s->p);
	CHECK(kmem_object_base(s->p + s->n - 1) == s->p);
	if (!s->cache) {
		size_t k = ksize(s->p);
		CHECK(k >= s->n && (uintptr_t)s->p % KMALLOC_MIN_ALIGN == 0);
		if ((k & (k - 1)) == 0)
			CHECK((uintptr_t)s->p % k == 0);
	}
}

static void release(struct slot *s)
{
	check_slot(s);
	if (s->cache)
		kmem_cache_free(s->cache, s->p);
	else
		kfree(s->p);
	s->p = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t reports = slab_report_count();
	unsigned ops = 0;

	memset(slots, 0, sizeof(slots));
	for (size_t i = 0; i + 4 <= size; i += 4) {
		uint8_t cmd = data[i];
		struct slot *s = &slots[data[i + 1] % SLOTS];
		size_t n = (data[i + 2] | (size_t)data[i + 3] << 8) % (SIZE_MAX_ASKED + 1);
		uint8_t canary = (uint8_t)(cmd ^ i);

		switch (cmd % 8) {
		case 0: case 1: case 2: {	/* kmalloc / kzalloc */
			if (s->p || n == 0)
				break;
			bool zero = cmd & 0x10;
			s->p = zero ? kzalloc(n, 0) : kmalloc(n, 0);
			if (!s->p)
				break;		/* out of pages */
			if (zero)
				for (size_t k = 0; k < n; k += 61)
					CHECK(s->p[k] == 0);
			*s = (struct slot){ .p = s->p, .n = n, .canary = canary };
			set_canaries(s);
			check_slot(s);
			break;
		}
		case 3: case 4:			/* free */
			if (s->p)
				release(s);
			break;
		case 5: {			/* krealloc: NULL, grow, shrink, or to 0 */
			if (s->cache || (!s->p && n == 0))
				break;		/* krealloc(NULL, 0) is kmalloc(0): not this case */
			if (s->p)
				check_slot(s);
			uint8_t *q = krealloc(s->p, n, 0);
			if (n == 0) {
				CHECK(q == NULL);
				s->p = NULL;
				break;
			}
			if (!q)
				break;		/* out of pages: s->p is still valid */
			if (s->p) {
				CHECK(q[0] == s->canary);
				if (n >= s->n && s->n > 1)
					CHECK(q[s->n - 1] == (uint8_t)(s->canary ^ 0xff));
			}
			*s = (struct slot){ .p = q, .n = n, .canary = canary };
			set_canaries(s);
			check_slot(s);
			break;
		}
		case 6:				/* the debug cache */
			if (s->p) {
				release(s);
				break;
			}
			s->p = kmem_cache_alloc(debug_cache, cmd & 0x10 ? KM_ZERO : 0);
			if (!s->p)
				break;
			*s = (struct slot){ .p = s->p, .n = 1 + n % 100, .canary = canary,
					    .cache = debug_cache };
			set_canaries(s);
			check_slot(s);
			break;
		case 7:
			if (cmd & 0x10)
				kmem_reclaim();
			slab_check();
			break;
		}
		if (++ops % CHECK_EVERY == 0)
			slab_check();
	}

	for (int k = 0; k < SLOTS; k++)
		if (slots[k].p)
			release(&slots[k]);
	slab_check();
	CHECK(slab_report_count() == reports);
	CHECK(free_pages() == initial_free);
	return 0;
}
