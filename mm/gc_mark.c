/*
 * mm/gc_mark.c - marking: conservative, tri-colour, with the mark stack
 * bounded and the page dirty bits as the write barrier.
 *
 * Colours. White: allocated, mark bit clear. Grey: marked, and some part of
 * it is on the mark stack, or its span is on the rescan list, or it lies on
 * a dirty page. Black: marked, and none of that.
 *
 * Invariant: a black object never points to a white one, except from a
 * part on a dirty page. The mutator may break the plain invariant only by
 * a store, and a store through the heap's 4 KiB mappings sets its page's
 * dirty bit, which is exactly the exception. The steps that keep it:
 *  1. Greying (mark_word): a white object is marked and pushed whole.
 *     Allocation while marking is black (mm/gc_heap.c): a new object holds
 *     zeros, so it points to nothing, and any later store dirties its page.
 *  2. Scanning a grey range (scan): first, for each page it covers, the
 *     dirty bit is tested and cleared (with the TLB entry invalidated,
 *     hazard 5); if it was set, the marked objects' parts on that page may
 *     have been written since they were scanned, and are pushed again, so
 *     they stay grey once the page is clean. Then every word of the range
 *     greys what it points to. A range above GC_SCAN_CHUNK is split, the
 *     rest pushed first, so no step scans much at once.
 *  3. Overflow: a push that finds the stack full leaves the object marked
 *     and puts its span on the rescan list; once the stack is empty, every
 *     marked object of those spans is scanned again. Each overflow follows
 *     the marking of a new object, so this ends.
 *  4. Dirty rounds (gc_mark_dirty_pages): every mapped page of a scanned
 *     span whose dirty bit is set has its marked parts pushed, its bit
 *     cleared. With the world stopped and the roots rescanned, a round and
 *     a drain leave nothing grey: then no black object points to a white
 *     one, and every white object is garbage.
 *
 * A word "points into" an object when it is an address in [start, start +
 * size) of an allocated object: interior pointers count, one past the end
 * does not (mm/gc.h).
 *
 * Locking: one marker at a time owns the mark stack and the rescan list.
 * Mark bits are set with atomic OR (the allocator sets them too); alloc
 * bits and slot_span[] are read with atomic loads, so marking needs no
 * lock while mutators allocate.
 */
#include "mm/gc_internal.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "mm/layout.h"

#define GC_SCAN_CHUNK 4096ul

/* Roots and heap words are read as they are, wherever they are: on the
 * host, ASan's poisoned stack red zones are among them. */
#ifdef HOST_TEST
#define GC_RAW_READ __attribute__((no_sanitize_address))
#else
#define GC_RAW_READ
#endif

int gc_mark_begin(struct gc_heap *h, unsigned cap)
{
	ASSERT(h->phase == GC_IDLE && cap > 0);
	if (h->stack_cap != cap) {
		struct gc_grey *st = gc_plat_meta_alloc(cap * sizeof(*st));
		if (!st)
			return KERR_NOMEM;
		gc_plat_meta_free(h->stack);
		h->stack = st;
		h->stack_cap = cap;
	}
	h->stack_top = 0;
	h->rescan_list = NULL;
	h->marked_bytes = h->scanned_bytes = 0;
	uint64_t flags = spin_lock_irqsave(&h->lock);
	h->cycle++;
	h->phase = GC_MARK;
	spin_unlock_irqrestore(&h->lock, flags);
	return KERR_OK;
}

static void push(struct gc_heap *h, struct gc_span *s, uintptr_t lo, uintptr_t hi)
{
	if (h->stack_top < h->stack_cap) {
		h->stack[h->stack_top++] = (struct gc_grey){ lo, hi };
		return;
	}
	h->overflows++;
	if (!s->rescan) {
		s->rescan = true;
		s->rescan_next = h->rescan_list;
		h->rescan_list = s;
	}
}

void gc_mark_word(struct gc_heap *h, uintptr_t v)
{
	struct gc_span *s = gc_span_of(h, v);
	if (!s)
		return;
	int64_t i = gc_object_index(s, v);
	if (i < 0)
		return;
	uint64_t bit = 1ull << (i % 64);
	if (__atomic_fetch_or(&s->mark[i / 64], bit, __ATOMIC_RELAXED) & bit)
		return;
	h->marked_bytes += s->size;
	if (!s->noscan) {
		uintptr_t start = s->start + (uintptr_t)i * s->size;
		push(h, s, start, start + s->size);
	}
}

GC_RAW_READ size_t gc_mark_range(struct gc_heap *h, const void *lo, const void *hi)
{
	const uintptr_t *p = (const uintptr_t *)(((uintptr_t)lo + 7) & ~7ul);
	const uintptr_t *end = (const uintptr_t *)((uintptr_t)hi & ~7ul);
	for (; p < end; p++)
		gc_mark_word(h, *(const volatile uintptr_t *)p);
	return (size_t)((uintptr_t)hi - (uintptr_t)lo);
}

/* Push the marked objects' parts on page pg of s, but [skip_lo, skip_hi). */
static void regrey_page(struct gc_heap *h, struct gc_span *s, uintptr_t pg, uintptr_t skip_lo,
			uintptr_t skip_hi)
{
	uintptr_t pg_end = pg + PAGE_SIZE;
	uint32_t first = (uint32_t)((pg - s->start) / s->size);
	for (uint32_t i = first; i < s->nobj; i++) {
		uintptr_t lo = s->start + (uintptr_t)i * s->size, hi = lo + s->size;
		if (lo >= pg_end)
			break;
		if (!gc_bit(s->mark, i))
			continue;
		lo = lo > pg ? lo : pg;
		hi = hi < pg_end ? hi : pg_end;
		if (lo >= skip_lo && hi <= skip_hi)
			continue;
		push(h, s, lo, hi);
	}
}

/* Step 2: clear the dirty bits of [lo, hi)'s pages, then scan it. */
GC_RAW_READ static void scan(struct gc_heap *h, struct gc_span *s, uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t pg = lo & ~(PAGE_SIZE - 1); pg < hi; pg += PAGE_SIZE)
		if (gc_plat_test_and_clear_dirty(pg))
			regrey_page(h, s, pg, lo, hi);
	for (const uintptr_t *p = (const uintptr_t *)lo; p < (const uintptr_t *)hi; p++)
		gc_mark_word(h, *(const volatile uintptr_t *)p);
	h->scanned_bytes += hi - lo;
}

/* Step 3: scan every marked object of one span on the rescan list. */
static void rescan_span(struct gc_heap *h, struct gc_span *s)
{
	for (uint32_t i = 0; i < s->nobj; i++)
		if (gc_bit(s->mark, i)) {
			uintptr_t lo = s->start + (uintptr_t)i * s->size;
			scan(h, s, lo, lo + s->size);
		}
}

bool gc_mark_drain(struct gc_heap *h, size_t budget)
{
	size_t done = 0;
	while (done < budget) {
		if (h->stack_top == 0) {
			struct gc_span *s = h->rescan_list;
			if (!s)
				return true;
			h->rescan_list = s->rescan_next;
			s->rescan = false;
			rescan_span(h, s);
			done += (size_t)s->nobj * s->size;
			continue;
		}
		struct gc_grey g = h->stack[--h->stack_top];
		if (g.hi - g.lo > GC_SCAN_CHUNK) {
			h->stack[h->stack_top++] = (struct gc_grey){ g.lo + GC_SCAN_CHUNK, g.hi };
			g.hi = g.lo + GC_SCAN_CHUNK;
		}
		scan(h, gc_span_of(h, g.lo), g.lo, g.hi);
		done += g.hi - g.lo;
	}
	return h->stack_top == 0 && !h->rescan_list;
}

size_t gc_mark_dirty_pages(struct gc_heap *h)
{
	size_t dirty = 0;
	uint64_t flags = spin_lock_irqsave(&h->lock);
	struct gc_span *s = h->spans;
	spin_unlock_irqrestore(&h->lock, flags);
	/* Spans are released only by the sweep, never while marking: the list
	 * from this head stays valid, and newer spans hold black objects whose
	 * pages are dirty only by the mutator's stores after allocation, which
	 * the final round (world stopped) sees from the new head. */
	for (; s; s = s->next) {
		if (s->noscan)
			continue;
		for (uint32_t p = 0; p < s->npages; p++) {
			uintptr_t pg = s->start + p * PAGE_SIZE;
			if (gc_plat_test_and_clear_dirty(pg)) {
				dirty++;
				regrey_page(h, s, pg, 0, 0);
			}
		}
	}
	return dirty;
}

bool gc_is_marked(const struct gc_heap *h, uintptr_t a)
{
	struct gc_span *s = gc_span_of(h, a);
	int64_t i = s ? gc_object_index(s, a) : -1;
	return i >= 0 && gc_bit(s->mark, (uint32_t)i);
}
