/*
 * mm/gc_heap.c - the collector's heap: spans of size-class objects and
 * large objects in a virtual range of 4 KiB mappings, their allocation,
 * and the sweep that frees what marking did not reach.
 *
 * Structures are in mm/gc_internal.h (geometry, side bitmaps, locking).
 *
 * Allocate (gc_heap_alloc):
 *  1. Round n to its size class (a table lookup); above GC_MAX_SMALL the
 *     object gets a span of its own (step 4).
 *  2. Under the lock, take the first span on the class's partial list and
 *     its lowest free object (from free_hint, a word of alloc bits at a
 *     time); set its alloc bit, and its mark bit when the object must be
 *     black: while sweeping, in a span not yet swept (else the sweep would
 *     free it). While marking, allocation is white: a new object that
 *     stays unreachable costs the marker nothing, and one that is reached
 *     is found as any other object is (mm/gc_mark.c, step 1).
 *  3. A free object already holds zeros: pages come zeroed (gc_plat_map),
 *     and the sweep zeroes what it frees, through the heap's own mapping
 *     (collector memory is never written through the direct map, hazard
 *     13). So allocating writes nothing and dirties no page: only the
 *     mutator's own stores do, and the write barrier sees just those.
 *     With h->poison the sweep poisons instead, and allocation zeroes.
 *  4. No span with room: make one. Slots are taken and pages counted under
 *     the lock; pages are mapped outside it; then the span is published in
 *     slot_span[] (descriptor first, release store) and linked.
 *
 * Sweep (gc_sweep_begin, gc_sweep_step), after a cycle's marking:
 *  1. Per span: the objects allocated but not marked are zeroed (poisoned
 *     when h->poison) outside the lock, unless the whole span dies; none of
 *     them can change meanwhile (unreachable, and an allocation into an
 *     unswept span is black). Then, under the lock, they are freed, the mark
 *     bits become the alloc bits,
 *     and the mark bits are cleared for the next cycle. Sweeping therefore
 *     finishes before the next cycle marks: the mark bits start clear.
 *  2. A span left empty is unlinked and unpublished under the lock, then
 *     unmapped and its slots and descriptor freed.
 *  Spans made during the sweep go on the head of h->spans, behind the
 *  sweep's cursor, and count as swept.
 */
#include "mm/gc_internal.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "kernel/string.h"
#include "mm/layout.h"

static uint16_t class_size[GC_NR_CLASSES];
static uint8_t class_slots[GC_NR_CLASSES];
static uint8_t class_of_granules[GC_MAX_SMALL / GC_GRANULE + 1];

/* Steps of 16 B to 256 B, then eight classes per doubling: at most an
 * eighth of an object is rounding, as in Go's classes. */
static void classes_init(void)
{
	if (class_size[0])
		return;
	unsigned n = 0;
	for (unsigned s = 16; s <= 256; s += 16)
		class_size[n++] = (uint16_t)s;
	for (unsigned base = 256; base < GC_MAX_SMALL; base *= 2)
		for (unsigned k = 1; k <= 8; k++)
			class_size[n++] = (uint16_t)(base + base / 8 * k);
	ASSERT(n == GC_NR_CLASSES && class_size[n - 1] == GC_MAX_SMALL);
	for (unsigned c = 0; c < n; c++) {
		unsigned k = 1;
		while (k < GC_SPAN_MAX_SLOTS && (k * GC_SLOT_SIZE) % class_size[c] > k * GC_SLOT_SIZE / 8)
			k++;
		class_slots[c] = (uint8_t)k;
	}
	for (unsigned g = 0, c = 0; g <= GC_MAX_SMALL / GC_GRANULE; g++) {
		while (class_size[c] < g * GC_GRANULE)
			c++;
		class_of_granules[g] = (uint8_t)c;
	}
}

static unsigned class_of(size_t n)
{
	return class_of_granules[(n + GC_GRANULE - 1) / GC_GRANULE];
}

size_t gc_size_class_bytes(size_t n)
{
	classes_init();
	if (n == 0)
		n = 1;
	if (n <= GC_MAX_SMALL)
		return class_size[class_of(n)];
	return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

int gc_heap_init(struct gc_heap *h, uintptr_t base, size_t size, size_t page_limit)
{
	classes_init();
	ASSERT(base % GC_SLOT_SIZE == 0 && size % (64 * GC_SLOT_SIZE) == 0);
	memset(h, 0, sizeof(*h));
	h->base = base;
	h->size = size;
	h->nslots = size / GC_SLOT_SIZE;
	h->page_limit = page_limit;
	h->lock = (struct spinlock)SPINLOCK_INIT("gc", LOCK_RANK_GC);
	h->slot_span = gc_plat_meta_alloc(h->nslots * sizeof(h->slot_span[0]));
	h->slot_used = gc_plat_meta_alloc(h->nslots / 8);
	h->region_scanned = gc_plat_meta_alloc(gc_region_words(h) * sizeof(uint64_t));
	if (!h->slot_span || !h->slot_used || !h->region_scanned) {
		gc_plat_meta_free(h->slot_span);
		gc_plat_meta_free(h->slot_used);
		gc_plat_meta_free(h->region_scanned);
		return KERR_NOMEM;
	}
	return KERR_OK;
}

/* Take n consecutive free slots, lowest first. Return: the first, or -1.
 * Must hold h->lock. */
static int64_t slots_take_locked(struct gc_heap *h, size_t n)
{
	size_t run = 0;
	for (size_t i = h->slot_hint; i < h->nslots; i++) {
		if (run == 0 && i % 64 == 0 && h->slot_used[i / 64] == ~0ull) {
			i += 63;
			continue;
		}
		if (h->slot_used[i / 64] >> (i % 64) & 1) {
			run = 0;
			continue;
		}
		if (++run < n)
			continue;
		size_t first = i + 1 - n;
		for (size_t j = first; j <= i; j++)
			h->slot_used[j / 64] |= 1ull << (j % 64);
		if (first == h->slot_hint)
			h->slot_hint = i + 1;
		return (int64_t)first;
	}
	return -1;
}

static void slots_free_locked(struct gc_heap *h, size_t first, size_t n)
{
	for (size_t j = first; j < first + n; j++) {
		ASSERT(h->slot_used[j / 64] >> (j % 64) & 1);
		h->slot_used[j / 64] &= ~(1ull << (j % 64));
	}
	if (first < h->slot_hint)
		h->slot_hint = first;
}

static size_t bitmap_words(uint32_t nobj) { return (nobj + 63) / 64; }

static void partial_add_locked(struct gc_heap *h, struct gc_span *s)
{
	struct gc_span **head = &h->partial[s->cls][s->noscan];
	s->pprev = NULL;
	s->pnext = *head;
	if (*head)
		(*head)->pprev = s;
	*head = s;
	s->on_partial = true;
}

static void partial_del_locked(struct gc_heap *h, struct gc_span *s)
{
	if (s->pprev)
		s->pprev->pnext = s->pnext;
	else
		h->partial[s->cls][s->noscan] = s->pnext;
	if (s->pnext)
		s->pnext->pprev = s->pprev;
	s->on_partial = false;
}

static void unmap_pages(uintptr_t start, uint32_t npages)
{
	for (uint32_t p = 0; p < npages; p++)
		gc_plat_unmap(start + p * PAGE_SIZE);
}

/*
 * Make a span of `nslots` slots with `npages` pages mapped, holding nobj
 * objects of `size` bytes (cls GC_CLASS_LARGE: one object), published and
 * linked. Return: the span, or NULL when slots, pages or metadata ran out.
 * Context: h->lock not held.
 */
/* Whether an object allocated in s now must be black. Must hold h->lock. */
static bool alloc_black_locked(const struct gc_heap *h, const struct gc_span *s)
{
	return h->phase == GC_SWEEP && s->swept_cycle != h->cycle;
}

static void account_alloc_locked(struct gc_heap *h, size_t bytes)
{
	h->alloc_bytes += bytes;
	h->total_alloc_bytes += bytes;
	h->total_allocs++;
	if (h->alloc_bytes > h->peak_alloc_bytes)
		h->peak_alloc_bytes = h->alloc_bytes;
}

/* A new span, published; a large one with its object allocated, its
 * address stored in *large_obj under the lock (a root from then on, in the
 * caller's frame). */
static struct gc_span *span_new(struct gc_heap *h, unsigned cls, bool noscan, uint32_t size,
				uint32_t nobj, uint32_t nslots, uint32_t npages,
				void *volatile *large_obj)
{
	size_t words = bitmap_words(nobj);
	struct gc_span *s = gc_plat_meta_alloc(sizeof(*s) + 2 * words * sizeof(uint64_t) +
					       npages * sizeof(uint32_t));
	if (!s)
		return NULL;

	uint64_t flags = spin_lock_irqsave(&h->lock);
	int64_t first = h->pages + npages <= h->page_limit ? slots_take_locked(h, nslots) : -1;
	if (first >= 0) {
		h->pages += npages;
		if (h->pages > h->peak_pages)
			h->peak_pages = h->pages;
		if ((size_t)first + nslots > h->slot_top)
			h->slot_top = (size_t)first + nslots;
	}
	spin_unlock_irqrestore(&h->lock, flags);
	if (first < 0) {
		gc_plat_meta_free(s);
		return NULL;
	}

	s->start = h->base + (uintptr_t)first * GC_SLOT_SIZE;
	for (uint32_t p = 0; p < npages; p++) {
		if (!gc_plat_map(s->start + p * PAGE_SIZE)) {
			unmap_pages(s->start, p);
			flags = spin_lock_irqsave(&h->lock);
			h->pages -= npages;
			slots_free_locked(h, (size_t)first, nslots);
			spin_unlock_irqrestore(&h->lock, flags);
			gc_plat_meta_free(s);
			return NULL;
		}
	}
	s->size = size;
	s->nobj = nobj;
	s->nslots = nslots;
	s->npages = npages;
	s->cls = (uint8_t)cls;
	s->noscan = noscan;
	/* ceil(2^32 / size): exact for offsets below 2^32 / size (mm/gc_internal.h) */
	s->div_magic = cls == GC_CLASS_LARGE ? 0 : (uint32_t)(((1ull << 32) + size - 1) / size);
	s->alloc = s->bits;
	s->mark = s->bits + words;
	s->page_cycle = (uint32_t *)(s->bits + 2 * words);

	flags = spin_lock_irqsave(&h->lock);
	s->swept_cycle = h->phase == GC_MARK ? h->cycle - 1 : h->cycle;
	s->next = h->spans;
	if (h->spans)
		h->spans->prev = s;
	h->spans = s;
	for (uint32_t i = 0; i < nslots; i++)
		__atomic_store_n(&h->slot_span[first + i], s, __ATOMIC_RELEASE);
	/* Under the lock that publishes it: a sweep that begins as soon as it
	 * is dropped must find the large object allocated, and the class span
	 * on its partial list, not an empty span to release. */
	if (cls == GC_CLASS_LARGE) {
		__atomic_store_n(&s->alloc[0], 1, __ATOMIC_RELAXED);
		s->nalloc = 1;
		if (alloc_black_locked(h, s))
			__atomic_fetch_or(&s->mark[0], 1, __ATOMIC_RELAXED);
		account_alloc_locked(h, size);
		*large_obj = (void *)s->start;
	} else {
		partial_add_locked(h, s);
	}
	spin_unlock_irqrestore(&h->lock, flags);
	return s;
}

/* Unlink and unpublish s, then unmap and free it. Context: lock not held. */
static void span_release(struct gc_heap *h, struct gc_span *s)
{
	uint64_t flags = spin_lock_irqsave(&h->lock);
	if (s->on_partial)
		partial_del_locked(h, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		h->spans = s->next;
	if (s->next)
		s->next->prev = s->prev;
	size_t first = (s->start - h->base) >> GC_SLOT_SHIFT;
	for (uint32_t i = 0; i < s->nslots; i++)
		__atomic_store_n(&h->slot_span[first + i], NULL, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&h->lock, flags);

	unmap_pages(s->start, s->npages);

	flags = spin_lock_irqsave(&h->lock);
	h->pages -= s->npages;
	slots_free_locked(h, first, s->nslots);
	spin_unlock_irqrestore(&h->lock, flags);
	gc_plat_meta_free(s);
}

static void *large_alloc(struct gc_heap *h, size_t n, bool noscan)
{
	if (n > h->size / 2)
		return NULL;
	size_t bytes = (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	void *volatile obj = NULL;	/* fresh pages: zeroed */
	if (!span_new(h, GC_CLASS_LARGE, noscan, (uint32_t)bytes, 1,
		      (uint32_t)((bytes + GC_SLOT_SIZE - 1) >> GC_SLOT_SHIFT), (uint32_t)(bytes / PAGE_SIZE),
		      &obj))
		return NULL;
	return obj;
}

/* The lowest free object of s at or above free_hint. Must hold h->lock. */
static uint32_t find_free_locked(struct gc_span *s)
{
	for (uint32_t w = s->free_hint / 64; w < bitmap_words(s->nobj); w++) {
		uint64_t freebits = ~s->alloc[w];
		if (w == s->free_hint / 64)
			freebits &= ~0ull << (s->free_hint % 64);
		if (freebits) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(freebits);
			ASSERT(i < s->nobj);
			return i;
		}
	}
	panic("gc: span %#lx on a partial list has no free object", (unsigned long)s->start);
}

void *gc_heap_alloc(struct gc_heap *h, size_t n, bool noscan)
{
	if (n == 0)
		n = 1;
	if (n > GC_MAX_SMALL)
		return large_alloc(h, n, noscan);
	unsigned cls = class_of(n);
	for (;;) {
		uint64_t flags = spin_lock_irqsave(&h->lock);
		struct gc_span *s = h->partial[cls][noscan];
		if (s) {
			uint32_t i = find_free_locked(s);
			__atomic_fetch_or(&s->alloc[i / 64], 1ull << (i % 64), __ATOMIC_RELAXED);
			s->free_hint = i + 1;
			if (++s->nalloc == s->nobj)
				partial_del_locked(h, s);
			if (alloc_black_locked(h, s))
				__atomic_fetch_or(&s->mark[i / 64], 1ull << (i % 64), __ATOMIC_RELAXED);
			account_alloc_locked(h, s->size);
			/* The object's address is in a register before the lock
			 * drops and preemption may come: allocation while marking
			 * is white, and the final phase must find it in the
			 * registers, not a span and an index. */
			void *obj = (void *)(s->start + (uintptr_t)i * s->size);
			__asm__ volatile("" : "+r"(obj));
			spin_unlock_irqrestore(&h->lock, flags);
			if (h->poison)
				memset(obj, 0, s->size);
			return obj;
		}
		spin_unlock_irqrestore(&h->lock, flags);

		uint32_t size = class_size[cls], nslots = class_slots[cls];
		s = span_new(h, cls, noscan, size, (uint32_t)(nslots * GC_SLOT_SIZE / size), nslots,
			     (uint32_t)(nslots * GC_SLOT_SIZE / PAGE_SIZE), NULL);
		if (!s)
			return NULL;
	}
}

uintptr_t gc_object_of(const struct gc_heap *h, uintptr_t a)
{
	struct gc_span *s = gc_span_of(h, a);
	if (!s)
		return 0;
	int64_t i = gc_object_index(s, a);
	return i < 0 ? 0 : s->start + (uintptr_t)i * s->size;
}

void gc_sweep_begin(struct gc_heap *h)
{
	uint64_t flags = spin_lock_irqsave(&h->lock);
	ASSERT(h->phase == GC_MARK);
	h->phase = GC_SWEEP;
	h->sweep_next = h->spans;
	spin_unlock_irqrestore(&h->lock, flags);
}

/* Free s's unmarked objects and make its marks its alloc bits. Return:
 * whether it is empty now. Must hold h->lock. */
static bool sweep_span_locked(struct gc_heap *h, struct gc_span *s)
{
	uint32_t live = 0, freed = 0;
	for (size_t w = 0; w < bitmap_words(s->nobj); w++) {
		uint64_t mark = __atomic_load_n(&s->mark[w], __ATOMIC_RELAXED);
		uint64_t dead = s->alloc[w] & ~mark;
		ASSERT((mark & ~s->alloc[w]) == 0);
		if (dead && s->free_hint > w * 64 + (uint32_t)__builtin_ctzll(dead))
			s->free_hint = (uint32_t)(w * 64 + (uint32_t)__builtin_ctzll(dead));
		freed += (uint32_t)gc_popcount(dead);
		live += (uint32_t)gc_popcount(mark);
		__atomic_store_n(&s->alloc[w], mark, __ATOMIC_RELAXED);
		__atomic_store_n(&s->mark[w], 0, __ATOMIC_RELAXED);
	}
	ASSERT(live + freed == s->nalloc);
	s->nalloc = live;
	s->swept_cycle = h->cycle;
	h->freed_objects += freed;
	h->freed_bytes += (uint64_t)freed * s->size;
	h->alloc_bytes -= (uint64_t)freed * s->size;
	if (live == 0)
		return true;
	if (freed && !s->on_partial && s->cls != GC_CLASS_LARGE)
		partial_add_locked(h, s);
	return false;
}

/* Step 1's fill: s's unmarked objects zeroed or poisoned, unless none of
 * its objects is marked (then its pages go). Lock not held. */
static void clear_dead(struct gc_heap *h, struct gc_span *s)
{
	size_t words = bitmap_words(s->nobj);
	bool any_live = false;
	for (size_t w = 0; w < words && !any_live; w++)
		any_live = __atomic_load_n(&s->mark[w], __ATOMIC_RELAXED) != 0;
	if (!any_live)
		return;
	for (size_t w = 0; w < words; w++) {
		uint64_t dead = __atomic_load_n(&s->alloc[w], __ATOMIC_RELAXED) &
				~__atomic_load_n(&s->mark[w], __ATOMIC_RELAXED);
		for (; dead; dead &= dead - 1) {
			uintptr_t i = w * 64 + (uintptr_t)__builtin_ctzll(dead);
			memset((void *)(s->start + i * s->size), h->poison ? GC_FREE_POISON : 0, s->size);
		}
	}
}

bool gc_sweep_step(struct gc_heap *h, unsigned spans)
{
	for (unsigned done = 0; done < spans; done++) {
		uint64_t flags = spin_lock_irqsave(&h->lock);
		struct gc_span *s = h->sweep_next;
		if (!s) {
			h->phase = GC_IDLE;
			spin_unlock_irqrestore(&h->lock, flags);
			return true;
		}
		h->sweep_next = s->next;
		spin_unlock_irqrestore(&h->lock, flags);
		clear_dead(h, s);
		flags = spin_lock_irqsave(&h->lock);
		bool empty = sweep_span_locked(h, s);
		spin_unlock_irqrestore(&h->lock, flags);
		if (empty)
			span_release(h, s);
	}
	return false;
}

void gc_heap_destroy(struct gc_heap *h)
{
	ASSERT(h->phase == GC_IDLE);
	while (h->spans)
		span_release(h, h->spans);
	gc_plat_meta_free(h->stack);
	gc_plat_meta_free(h->slot_span);
	gc_plat_meta_free(h->slot_used);
	gc_plat_meta_free(h->region_scanned);
	memset(h, 0, sizeof(*h));
}

void gc_heap_check(struct gc_heap *h)
{
	uint64_t flags = spin_lock_irqsave(&h->lock);
	size_t pages = 0, slots = 0;
	uint64_t bytes = 0;
	for (struct gc_span *s = h->spans; s; s = s->next) {
		ASSERT(!s->next || s->next->prev == s);
		size_t first = (s->start - h->base) >> GC_SLOT_SHIFT;
		for (uint32_t i = 0; i < s->nslots; i++) {
			ASSERT(h->slot_span[first + i] == s);
			ASSERT(h->slot_used[(first + i) / 64] >> ((first + i) % 64) & 1);
		}
		uint32_t n = 0;
		for (size_t w = 0; w < bitmap_words(s->nobj); w++)
			n += (uint32_t)gc_popcount(s->alloc[w]);
		if (s->nobj % 64)
			ASSERT(s->alloc[s->nobj / 64] >> (s->nobj % 64) == 0);
		ASSERT(n == s->nalloc);
		ASSERT(s->on_partial == (s->cls != GC_CLASS_LARGE && n < s->nobj));
		pages += s->npages;
		slots += s->nslots;
		bytes += (uint64_t)n * s->size;
	}
	size_t used = 0;
	for (size_t w = 0; w < h->nslots / 64; w++)
		used += (size_t)gc_popcount(h->slot_used[w]);
	ASSERT(pages == h->pages && slots == used && bytes == h->alloc_bytes);
	spin_unlock_irqrestore(&h->lock, flags);
}
