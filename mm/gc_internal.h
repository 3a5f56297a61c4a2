/*
 * mm/gc_internal.h - the collector's core: its heap of spans, the mark
 * state, and the machine under them. mm/gc_heap.c owns spans, allocation
 * and sweeping; mm/gc_mark.c owns marking; mm/gc.c is the kernel's driver
 * (roots, cycles, policy). The host tests build the first two against
 * tests/host/gc_shim.c.
 *
 * Geometry. A heap is a virtual range [base, base + size) cut into slots
 * of GC_SLOT_SIZE. A span is one or more consecutive slots:
 *   - a class span holds objects of one size class packed from its start,
 *     in the fewest slots (1..4) that waste at most an eighth of them;
 *   - a large span holds one object above GC_MAX_SMALL, with only the
 *     pages it needs mapped.
 * slot_span[] maps every slot a span covers to the span, so an address
 * finds its span in one load and its object in one multiply.
 *
 * Side metadata. A span's descriptor and its bitmaps (alloc and mark, one
 * bit an object) are kmalloc memory, outside the pages they describe:
 * marking writes no heap page, so a heap page's dirty bit records the
 * mutator's writes only (hazard 6 in the architecture).
 *
 * Locking: h->lock (an irq-saving spinlock, rank LOCK_RANK_GC) guards span
 * lists, slots, alloc bits and counters; nothing is taken under it, so
 * span creation and release map and unmap pages outside it. Mark bits are
 * written by the marker alone while marking (allocation is white then), and
 * by the allocator, with atomic OR, only while sweeping (allocation in an
 * unswept span is black).
 */
#ifndef MM_GC_INTERNAL_H
#define MM_GC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/spinlock.h"

#define GC_SLOT_SHIFT	13
#define GC_SLOT_SIZE	(1ul << GC_SLOT_SHIFT)	/* 8 KiB */
#define GC_GRANULE	16ul			/* object sizes and alignment */
#define GC_MAX_SMALL	8192ul			/* larger objects get a span each */
#define GC_NR_CLASSES	56
#define GC_SPAN_MAX_SLOTS 4			/* of a class span */
#define GC_CLASS_LARGE	0xff
#define GC_FREE_POISON	0xdb			/* swept objects, when h->poison */
#define GC_REGION_SHIFT	21			/* 2 MiB: a page table's reach */

/* The machine, as the core sees it (kernel: mm/gc.c; host: the shim). */
void *gc_plat_meta_alloc(size_t n);		/* zeroed, outside any heap; NULL: none */
void gc_plat_meta_free(void *p);
bool gc_plat_map(uintptr_t va);			/* a 4 KiB page, RW, zeroed */
void gc_plat_unmap(uintptr_t va);		/* and invalidate its TLB entry */
bool gc_plat_test_and_clear_dirty(uintptr_t va);	/* with the TLB entry invalidated */
/* Clear every dirty page's bit in [lo, hi) as above, calling fn(ctx, page)
 * for each, in address order. Return: the dirty pages found. */
size_t gc_plat_dirty_scan(uintptr_t lo, uintptr_t hi, void (*fn)(void *ctx, uintptr_t pg), void *ctx);

enum gc_phase {
	GC_IDLE,	/* between cycles: allocation is white */
	GC_MARK,	/* marking: allocation is white (found from the roots) */
	GC_SWEEP,	/* sweeping: allocation in an unswept span is black */
};

struct gc_span {
	uintptr_t start;		/* fixed: its first byte */
	uint32_t size;			/* fixed: object size, a multiple of GC_GRANULE */
	uint32_t nobj;			/* fixed: objects it holds */
	uint32_t nslots, npages;	/* fixed: slots covered, pages mapped */
	uint32_t div_magic;		/* fixed: index = offset * div_magic >> 32 (class spans) */
	uint8_t cls;			/* fixed: size class, or GC_CLASS_LARGE */
	bool noscan;			/* fixed: its objects are never scanned */
	bool on_partial;		/* lock: on its class's list of spans with room */
	bool rescan;			/* marker: an object of it was marked but not pushed */
	uint32_t nalloc;		/* lock: objects allocated */
	uint32_t free_hint;		/* lock: no free object below this index */
	uint64_t swept_cycle;		/* lock: the last cycle whose sweep it has had */
	struct gc_span *next, *prev;	/* lock: every span (h->spans), newest first */
	struct gc_span *pnext, *pprev;	/* lock: the class's spans with free objects */
	struct gc_span *rescan_next;	/* marker: spans with rescan set */
	uint64_t *alloc, *mark;		/* fixed pointers into bits[] */
	uint32_t *page_cycle;		/* marker: per page, the cycle that last cleared
					   its dirty bit (mm/gc_mark.c, step 2) */
	uint64_t bits[];		/* alloc bitmap, mark bitmap, then page_cycle */
};

/* An entry on the mark stack: a grey range, scanned word by word. */
struct gc_grey {
	uintptr_t lo, hi;
};

struct gc_heap {
	uintptr_t base;			/* fixed */
	size_t size;			/* fixed: bytes of virtual range */
	size_t nslots;			/* fixed */
	struct gc_span **slot_span;	/* fixed array; entries written under lock,
					   read with acquire loads */
	uint64_t *slot_used;		/* lock: a bit a slot */
	uint64_t *region_scanned;	/* marker: a bit a 2 MiB region of the range
					   where a page was cleared this cycle */
	size_t slot_hint;		/* lock: no free slot below this one */
	size_t slot_top;		/* lock: no span has ever reached this slot */
	struct spinlock lock;
	struct gc_span *partial[GC_NR_CLASSES][2];	/* lock: [cls][noscan] */
	struct gc_span *spans;		/* lock */
	enum gc_phase phase;		/* lock to write */
	uint64_t cycle;			/* lock to write: cycles begun */
	size_t pages, page_limit;	/* lock: pages mapped, most allowed */
	size_t peak_pages;		/* lock: the most pages ever mapped */
	uint64_t alloc_bytes;		/* lock: bytes in allocated objects */
	uint64_t peak_alloc_bytes;	/* lock: the most alloc_bytes ever */
	uint64_t total_alloc_bytes, total_allocs;	/* lock */
	uint64_t freed_bytes, freed_objects;		/* lock */
	bool poison;			/* fixed: fill swept objects with GC_FREE_POISON */

	/* The marker's alone: one marker at a time. */
	struct gc_grey *stack;
	unsigned stack_cap, stack_top;	/* entries in use this cycle, filled */
	unsigned stack_room;		/* entries allocated */
	struct gc_span *rescan_list;
	uint64_t marked_bytes, scanned_bytes, overflows;

	/* The sweeper's alone. */
	struct gc_span *sweep_next;
};

/* mm/gc_heap.c */
/* Set up h over [base, base + size) with at most page_limit pages mapped.
 * Return: KERR_OK, or KERR_NOMEM when its tables cannot be had. */
int gc_heap_init(struct gc_heap *h, uintptr_t base, size_t size, size_t page_limit);
/* Release every span and table (h must be idle). */
void gc_heap_destroy(struct gc_heap *h);
/* A zeroed object, or NULL when no page or slot is left. Never collects. */
void *gc_heap_alloc(struct gc_heap *h, size_t n, bool noscan);
/* The rounded size n is served with (0 for n above what a heap can hold). */
size_t gc_size_class_bytes(size_t n);

/* Words of h->region_scanned. */
static inline size_t gc_region_words(const struct gc_heap *h)
{
	return ((h->size >> GC_REGION_SHIFT) + 64) / 64;
}

/* The span holding address a, or NULL. */
static inline struct gc_span *gc_span_of(const struct gc_heap *h, uintptr_t a)
{
	uintptr_t off = a - h->base;
	if (off >= h->size)
		return NULL;
	return __atomic_load_n(&h->slot_span[off >> GC_SLOT_SHIFT], __ATOMIC_ACQUIRE);
}

/* Set bits of x: the kernel's target CPU may lack POPCNT, and libgcc is not linked. */
static inline unsigned gc_popcount(uint64_t x)
{
	x = x - (x >> 1 & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + (x >> 2 & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)(x * 0x0101010101010101ull >> 56);
}

static inline bool gc_bit(const uint64_t *map, uint32_t i)
{
	return __atomic_load_n(&map[i / 64], __ATOMIC_RELAXED) >> (i % 64) & 1;
}

/* The index of the object of s that holds address a, or -1: beyond its
 * objects, or not allocated. */
static inline int64_t gc_object_index(const struct gc_span *s, uintptr_t a)
{
	uintptr_t off = a - s->start;
	uint32_t i = s->cls == GC_CLASS_LARGE ? (off < s->size ? 0 : UINT32_MAX)
					      : (uint32_t)((uint64_t)off * s->div_magic >> 32);
	if (i >= s->nobj || !gc_bit(s->alloc, i))
		return -1;
	return i;
}

/* The start of the allocated object holding a, or 0. */
uintptr_t gc_object_of(const struct gc_heap *h, uintptr_t a);

/* Begin sweeping the cycle just marked: phase GC_SWEEP. Lock not held. */
void gc_sweep_begin(struct gc_heap *h);
/* Sweep up to `spans` spans. Return: true once the sweep is complete (phase
 * GC_IDLE again). */
bool gc_sweep_step(struct gc_heap *h, unsigned spans);

/* Walk every span, its bitmaps and the counters; panic on inconsistency. */
void gc_heap_check(struct gc_heap *h);

/* mm/gc_mark.c */
/* Begin a cycle: phase GC_MARK, with a mark stack of `cap` entries (the
 * last cycle's memory kept when it is as large). Return: KERR_OK or KERR_NOMEM. */
int gc_mark_begin(struct gc_heap *h, unsigned cap);
/* Scan [lo, hi) as a root: every aligned word that points into an allocated
 * object greys it. Return: bytes scanned. */
size_t gc_mark_range(struct gc_heap *h, const void *lo, const void *hi);
/* Mark the object word v points into, if any (a register's value). */
void gc_mark_word(struct gc_heap *h, uintptr_t v);
/* Scan grey ranges for about `budget` bytes. Return: true when nothing is
 * grey (the stack is empty and no overflow is pending). */
bool gc_mark_drain(struct gc_heap *h, size_t budget);
/* Grey the marked objects' parts on every dirty page of the heap, clearing
 * the dirty bits. Return: the dirty pages found. */
size_t gc_mark_dirty_pages(struct gc_heap *h);
/* The same in steps: from *cursor (h->base to begin), over `bytes` of the
 * heap's range at most, *dirty counting the dirty pages. Return: true once
 * the range is covered. */
bool gc_mark_dirty_step(struct gc_heap *h, uintptr_t *cursor, size_t bytes, size_t *dirty);
/* Whether the object holding a is marked (a test's question). */
bool gc_is_marked(const struct gc_heap *h, uintptr_t a);

#ifndef HOST_TEST
/* mm/gc.c, for its tests: the kernel's heap; gctrace on or off (returns the
 * previous setting); a mark stack small enough to overflow. */
struct gc_heap *gc_kernel_heap(void);
bool gc_trace_set(bool on);
/* The mark stack's entries from the next cycle on (returns the last). */
unsigned gc_mark_stack_set(unsigned entries);
#endif

#endif
