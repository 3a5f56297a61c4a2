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
 *     Allocation while marking is white (mm/gc_heap.c): nothing black
 *     points to a new object but by a store, which dirties the page, and
 *     a new object found only in the roots is found by their rescan in the
 *     final round. An object is zero when allocated, so allocating dirties
 *     no page, and marked objects are rescanned only for real stores.
 *  2. Scanning a grey range (scan): first, for each page it covers whose
 *     dirty bit this cycle has not cleared yet (page_cycle), the bit is
 *     tested and cleared (with the TLB entry invalidated, hazard 5); if it
 *     was set, the marked objects' parts on that page may have been
 *     written since they were scanned, and are pushed again, so they stay
 *     grey once the page is clean. A page cleared earlier in the cycle
 *     needs no clearing: any store since then has set its bit again, and
 *     the dirty rounds (step 4) push its marked parts, this range's too. Then every word of the range
 *     greys what it points to. A range above GC_SCAN_CHUNK is split, the
 *     rest pushed first, so no step scans much at once.
 *  3. Overflow: a push that finds the stack full leaves the object marked
 *     and puts its span on the rescan list; once the stack is empty, every
 *     marked object of those spans is scanned again. Each overflow follows
 *     the marking of a new object, so this ends.
 *  4. Dirty rounds (gc_mark_dirty_pages, or in steps gc_mark_dirty_step):
 *     every dirty page of the heap's range has its bit cleared and, on a
 *     span that is scanned, its marked parts pushed. With the world
 *     stopped and the roots rescanned, a round and a drain leave nothing
 *     grey: then no black object points to a white one, and every white
 *     object is garbage.
 *
 * A word "points into" an object when it is an address in [start, start +
 * size) of an allocated object: interior pointers count, one past the end
 * does not (mm/gc.h).
 *
 * Locking: one marker at a time owns the mark stack and the rescan list.
 * Mark bits are the marker's alone while marking (the allocator sets them
 * only while sweeping); alloc bits and slot_span[] are read with atomic
 * loads, so marking needs no lock while mutators allocate.
 */
#include "mm/gc_internal.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "kernel/string.h"
#include "mm/layout.h"

#define GC_SCAN_CHUNK 4096ul
#define GC_PREFETCH 8		/* ranges in flight between the stack and the scan */

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
	if (h->stack_room < cap) {
		struct gc_grey *st = gc_plat_meta_alloc(cap * sizeof(*st));
		if (!st)
			return KERR_NOMEM;
		gc_plat_meta_free(h->stack);
		h->stack = st;
		h->stack_room = cap;
	}
	h->stack_cap = cap;
	h->stack_top = 0;
	memset(h->region_scanned, 0, gc_region_words(h) * sizeof(uint64_t));
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

/* Grey the white object that v, an address in the heap's range, points
 * into. Only the marker writes mark bits while marking (allocation is
 * white then, and the sweep's black allocation comes after), so the bit
 * is set with a plain store. */
static inline __attribute__((always_inline)) void mark_heap_word(struct gc_heap *h, uintptr_t v)
{
	struct gc_span *s = __atomic_load_n(&h->slot_span[(v - h->base) >> GC_SLOT_SHIFT],
					    __ATOMIC_ACQUIRE);
	if (!s)
		return;
	int64_t i = gc_object_index(s, v);
	if (i < 0)
		return;
	uint64_t bit = 1ull << (i % 64), *word = &s->mark[i / 64];
	uint64_t w = __atomic_load_n(word, __ATOMIC_RELAXED);
	if (w & bit)
		return;
	__atomic_store_n(word, w | bit, __ATOMIC_RELAXED);
	h->marked_bytes += s->size;
	if (!s->noscan) {
		uintptr_t start = s->start + (uintptr_t)i * s->size;
		push(h, s, start, start + s->size);
	}
}

void gc_mark_word(struct gc_heap *h, uintptr_t v)
{
	if (v - h->base < h->size)
		mark_heap_word(h, v);
}

/* Grey what every aligned word of [lo, hi) points to. */
GC_RAW_READ static inline __attribute__((always_inline)) void scan_words(struct gc_heap *h,
									 uintptr_t lo, uintptr_t hi)
{
	uintptr_t base = h->base, size = h->size;
	for (const uintptr_t *p = (const uintptr_t *)lo; p < (const uintptr_t *)hi; p++) {
		uintptr_t v = *(const volatile uintptr_t *)p;
		if (v - base < size)	/* most words are no heap address */
			mark_heap_word(h, v);
	}
}

GC_RAW_READ size_t gc_mark_range(struct gc_heap *h, const void *lo, const void *hi)
{
	const uintptr_t *p = (const uintptr_t *)(((uintptr_t)lo + 7) & ~7ul);
	const uintptr_t *end = (const uintptr_t *)((uintptr_t)hi & ~7ul);
	if (p < end)
		scan_words(h, (uintptr_t)p, (uintptr_t)end);
	return (size_t)((uintptr_t)hi - (uintptr_t)lo);
}

/* Push the marked objects' parts on page pg of s, but [skip_lo, skip_hi);
 * neighbouring marked objects go as one range. The mark bits are read a
 * word at a time: a page of small objects costs a few loads, not one per
 * object. */
static void regrey_page(struct gc_heap *h, struct gc_span *s, uintptr_t pg, uintptr_t skip_lo,
			uintptr_t skip_hi)
{
	uintptr_t pg_end = pg + PAGE_SIZE, run_lo = 0, run_hi = 0;
	uint32_t first = (uint32_t)((pg - s->start) / s->size);
	uint32_t last = (uint32_t)((pg_end - 1 - s->start) / s->size);
	if (last >= s->nobj)
		last = s->nobj - 1;
	for (uint32_t w = first / 64; w <= last / 64; w++) {
		uint64_t bits = __atomic_load_n(&s->mark[w], __ATOMIC_RELAXED);
		if (w == first / 64)
			bits &= ~0ull << (first % 64);
		if (w == last / 64 && last % 64 != 63)
			bits &= (2ull << (last % 64)) - 1;
		for (; bits; bits &= bits - 1) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
			uintptr_t lo = s->start + (uintptr_t)i * s->size, hi = lo + s->size;
			lo = lo > pg ? lo : pg;
			hi = hi < pg_end ? hi : pg_end;
			if (lo >= skip_lo && hi <= skip_hi)
				continue;
			if (run_hi == lo) {
				run_hi = hi;
				continue;
			}
			if (run_hi > run_lo)
				push(h, s, run_lo, run_hi);
			run_lo = lo;
			run_hi = hi;
		}
	}
	if (run_hi > run_lo)
		push(h, s, run_lo, run_hi);
}

/* Note that a page of pg's region has had its dirty bit cleared this
 * cycle: only such regions can hold a black object's page. */
static inline void region_note(struct gc_heap *h, uintptr_t pg)
{
	size_t r = (pg - h->base) >> GC_REGION_SHIFT;
	h->region_scanned[r / 64] |= 1ull << (r % 64);
}

/* Step 2, first half: clear the dirty bits of [lo, hi)'s pages (in s) not
 * yet cleared this cycle, pushing the marked parts of those that were
 * dirty. */
static void clear_pages(struct gc_heap *h, struct gc_span *s, uintptr_t lo, uintptr_t hi)
{
	uint32_t cycle = (uint32_t)h->cycle;
	for (uintptr_t pg = lo & ~(PAGE_SIZE - 1); pg < hi; pg += PAGE_SIZE) {
		uint32_t *pc = &s->page_cycle[(pg - s->start) / PAGE_SIZE];
		if (*pc == cycle)
			continue;
		*pc = cycle;
		region_note(h, pg);
		if (gc_plat_test_and_clear_dirty(pg))
			regrey_page(h, s, pg, lo, hi);
	}
}

/* Step 2: clear the dirty bits of [lo, hi)'s pages, then scan it. */
static void scan(struct gc_heap *h, struct gc_span *s, uintptr_t lo, uintptr_t hi)
{
	clear_pages(h, s, lo, hi);
	scan_words(h, lo, hi);
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
	size_t done = 0, scanned = 0;
	uint32_t cycle = (uint32_t)h->cycle;
	/* Ranges wait GC_PREFETCH pops between leaving the stack (their first
	 * line prefetched) and being scanned, so that the scan seldom waits
	 * for memory. */
	struct gc_grey ring[GC_PREFETCH];
	unsigned head = 0, n = 0;
	while (done < budget) {
		struct gc_grey g;
		if (h->stack_top) {
			struct gc_grey in = h->stack[--h->stack_top];
			if (in.hi - in.lo > GC_SCAN_CHUNK) {
				h->stack[h->stack_top++] = (struct gc_grey){ in.lo + GC_SCAN_CHUNK, in.hi };
				in.hi = in.lo + GC_SCAN_CHUNK;
			}
			__builtin_prefetch((const void *)in.lo);
			if (n < GC_PREFETCH) {
				ring[(head + n++) % GC_PREFETCH] = in;
				continue;
			}
			g = ring[head];
			ring[head] = in;
			head = (head + 1) % GC_PREFETCH;
		} else if (n) {
			g = ring[head];
			head = (head + 1) % GC_PREFETCH;
			n--;
		} else {
			struct gc_span *s = h->rescan_list;
			if (!s)
				break;
			h->rescan_list = s->rescan_next;
			s->rescan = false;
			rescan_span(h, s);
			done += (size_t)s->nobj * s->size;
			continue;
		}
		struct gc_span *s = gc_span_of(h, g.lo);
		if (((g.lo ^ (g.hi - 1)) & ~(PAGE_SIZE - 1)) ||
		    s->page_cycle[(g.lo - s->start) / PAGE_SIZE] != cycle)
			clear_pages(h, s, g.lo, g.hi);
		scan_words(h, g.lo, g.hi);
		scanned += g.hi - g.lo;
		done += g.hi - g.lo;
	}
	/* The budget ran out: what waits is grey, back on the stack. */
	for (; n; n--, head = (head + 1) % GC_PREFETCH)
		push(h, gc_span_of(h, ring[head].lo), ring[head].lo, ring[head].hi);
	h->scanned_bytes += scanned;
	return h->stack_top == 0 && !h->rescan_list;
}

static void regrey_dirty(void *ctx, uintptr_t pg)
{
	struct gc_heap *h = ctx;
	struct gc_span *s = gc_span_of(h, pg);
	if (s && pg - s->start < (uintptr_t)s->npages * PAGE_SIZE) {
		s->page_cycle[(pg - s->start) / PAGE_SIZE] = (uint32_t)h->cycle;
		region_note(h, pg);
		if (!s->noscan)
			regrey_page(h, s, pg, 0, 0);
	}
}

/* Spans are released only by the sweep, never while marking, so a span
 * found here stays. Pages of spans made after a step covered their range
 * are dirty only by stores after allocation, which a later round (the last
 * with the world stopped) sees. A black object lies on a page whose dirty
 * bit this cycle has cleared (step 2 clears a range's pages before it
 * scans it), so a region where no page was cleared holds none, and is
 * skipped without a look at its page table; `bytes` counts the regions
 * looked at. */
bool gc_mark_dirty_step(struct gc_heap *h, uintptr_t *cursor, size_t bytes, size_t *dirty)
{
	uint64_t flags = spin_lock_irqsave(&h->lock);
	uintptr_t top = h->base + h->slot_top * GC_SLOT_SIZE;
	spin_unlock_irqrestore(&h->lock, flags);
	uintptr_t lo = *cursor;
	size_t looked = 0;
	while (lo < top && looked < bytes) {
		size_t r = (lo - h->base) >> GC_REGION_SHIFT;
		uintptr_t end = h->base + ((uintptr_t)(r + 1) << GC_REGION_SHIFT);
		if (end > top)
			end = top;
		if (h->region_scanned[r / 64] >> (r % 64) & 1) {
			if (end - lo > bytes - looked)
				end = lo + (bytes - looked);
			*dirty += gc_plat_dirty_scan(lo, end, regrey_dirty, h);
			looked += end - lo;
		}
		lo = end;
	}
	*cursor = lo;
	return lo >= top;
}

size_t gc_mark_dirty_pages(struct gc_heap *h)
{
	uintptr_t cursor = h->base;
	size_t dirty = 0;
	while (!gc_mark_dirty_step(h, &cursor, SIZE_MAX, &dirty))
		;
	return dirty;
}

bool gc_is_marked(const struct gc_heap *h, uintptr_t a)
{
	struct gc_span *s = gc_span_of(h, a);
	int64_t i = s ? gc_object_index(s, a) : -1;
	return i >= 0 && gc_bit(s->mark, (uint32_t)i);
}
