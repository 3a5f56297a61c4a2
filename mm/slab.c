/*
 * mm/slab.c - the heap: object caches over buddy blocks, with per-CPU
 * magazines in front (mm/kmalloc.c puts the size classes on top; the entry
 * points' fast paths are in mm/slab_fast.c, this file holds the rest).
 *
 * Data structures:
 *   struct kmem_cache  one per object type (or kmalloc size class): object
 *                      geometry, lists of slabs (full, empty, and partial
 *                      ones in PARTIAL_BUCKETS lists by how full they are),
 *                      one lock, and one magazine of free objects per CPU.
 *   slab               a buddy block of 2^order pages cut into `per_slab`
 *                      objects `stride` bytes apart, starting at the block's
 *                      first byte (so power-of-two sizes are naturally
 *                      aligned). Its state lives in the page allocator's
 *                      struct page: every page of it names its cache and its
 *                      base, with copies of the cache's objs_end and
 *                      div_magic (address -> object is O(1), without a
 *                      division or a load of the cache); the head page holds
 *                      the free list, the count in use and its list links.
 *   free object        word 0 of its metadata is the next free object, word
 *                      1 the free mark (FREE_MARK). Metadata
 *                      sits at offset 0 of the object, or after it when the
 *                      cache has a constructor or debugging (then the free
 *                      pointer must not overwrite the object).
 *
 * Allocate (kmem_cache_alloc, kmalloc):
 *   1. Pop this CPU's magazine in a restartable sequence (an interrupt
 *      sends it back to its start: kernel/restart.h); clear the free mark.
 *      Done: no lock, no atomic instruction, interrupts left as they were.
 *   2. Empty magazine: under the cache lock, move up to `batch` objects from
 *      the fullest partial slabs (then an empty one) into it, a run of each
 *      slab's free list at a time. No slab to take from: drop the lock, take
 *      a block from the page allocator, carve it, and retry.
 *   3. Debug caches have no magazines and do all of this under the lock,
 *      so every check sees exact state.
 * Free (kmem_cache_free, kfree):
 *   1. Find the page's struct page; it names the cache. Not a slab page:
 *      a large kmalloc block, or a foreign pointer (reported).
 *   2. Check the pointer is an object's start (reported if not: the page's
 *      copy of the geometry answers without a division), and its free
 *      mark: a set mark means a likely double free, confirmed (and
 *      reported) under the lock by finding the object on a free list.
 *   3. Push on this CPU's magazine and set the mark, in one restartable
 *      sequence; when the magazine is full, return `batch`
 *      objects to their slabs under the lock: a small magazine returns those
 *      of its emptiest slabs, a large one its oldest. A slab that becomes
 *      empty goes on the empty list; beyond `keep_empty` of those, back to
 *      the page allocator.
 * Footprint: every free object in a slab, magazine or empty slab is memory
 * no other cache can use. So refills pack objects into the fullest slabs,
 * flushes send back the objects of the sparsest ones (which then drain and
 * are released), magazines hold at most MAG_BYTES, and caches of large
 * objects keep no empty slab. With mm/kmalloc.c's classes, that takes peak
 * heap bytes per live byte on make bench's random-size workload from 1.33
 * to 1.24.
 *
 * Invariants (slab_check asserts them): every slab is on the list its
 * `slab_list` names, which is the one list_for gives for its count in use,
 * and its counts match; free list length + in use =
 * per_slab; every free object is an object start inside its slab and
 * carries its free mark; with debugging, red zones hold REDZONE_BYTE and
 * free objects hold POISON_FREE.
 *
 * Locking: each cache's lock (LOCK_RANK_SLAB) guards its lists, counts and
 * its slabs' head entries; the magazines belong to their CPU: the fast
 * paths change them in restartable sequences, the slow paths with
 * interrupts off, so an interrupt handler that allocates finds a
 * consistent magazine and takes the lock only when the interrupted code is
 * not holding it (spinlocks disable interrupts). caches_lock
 * (LOCK_RANK_SLAB_CACHES) guards the list of caches. The page allocator is
 * never called with a cache lock held: kmem_reclaim, which it may call,
 * takes cache locks.
 *
 * Misuse is reported by slab_report ("BUG <cache>: ..." with the object and
 * a backtrace, plus the recorded allocation and free backtraces with
 * slab_debug=U), counted, and leaves the heap as it was.
 */
#include "mm/slab_internal.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

#include <stdarg.h>

#ifndef HOST_TEST
#include "kernel/cmdline.h"
#endif

static struct spinlock caches_lock = SPINLOCK_INIT("slab-caches", LOCK_RANK_SLAB_CACHES);
static struct kmem_cache *caches;		/* caches_lock */
static uint64_t reports;			/* atomic */
static unsigned debug_flags;			/* slab_debug=, for every cache */

/* The cache of caches lives in .bss. */
static struct kmem_cache cache_cache;

static bool debug_cache(const struct kmem_cache *c) { return c->flags & SLAB_DEBUG_MASK; }

/* Pick the smallest slab order (up to SLAB_MAX_ORDER) that wastes at most
 * 1/8 of the block, or failing that the least wasteful one. */
static unsigned pick_order(size_t stride)
{
	unsigned best = SLAB_MAX_ORDER;
	uint64_t best_waste = ~0ull;
	for (unsigned o = 0; o <= SLAB_MAX_ORDER; o++) {
		uint64_t bytes = PAGE_SIZE << o;
		if (bytes < stride)
			continue;
		uint64_t waste = bytes % stride;
		if (waste * 8 <= bytes)
			return o;
		if (waste * 1000 / bytes < best_waste) {
			best_waste = waste * 1000 / bytes;
			best = o;
		}
	}
	return best;
}

void slab_cache_setup(struct kmem_cache *c, const char *name, size_t size, size_t align,
			unsigned flags, void (*ctor)(void *))
{
	if (align < KMALLOC_MIN_ALIGN)
		align = KMALLOC_MIN_ALIGN;
	/* Poisoning would undo what the constructor built: a constructed
	 * cache's free objects must stay constructed, as in Linux. */
	if (ctor)
		flags &= ~SLAB_POISON;
	*c = (struct kmem_cache){
		.name = name, .size = size, .flags = flags & SLAB_DEBUG_MASK, .ctor = ctor,
		.lock = SPINLOCK_INIT("slab", LOCK_RANK_SLAB),
	};
	c->obj_size = (size + align - 1) & ~(align - 1);
	if (c->obj_size < 16)
		c->obj_size = 16;	/* room for the free pointer and mark */
	if (!debug_cache(c) && !ctor) {
		c->meta = 0;
		c->stride = c->obj_size;
	} else {
		c->meta = c->obj_size + (flags & SLAB_RED_ZONE ? REDZONE_BYTES : 0);
		c->stride = c->meta + 16 + (flags & SLAB_STORE_USER ? 2 * sizeof(struct track) : 0);
		c->stride = (c->stride + align - 1) & ~(align - 1);
	}
	c->order = pick_order(c->stride);
	c->per_slab = (unsigned)((PAGE_SIZE << c->order) / c->stride);
	c->objs_end = (uint32_t)(c->per_slab * c->stride);
	c->div_magic = ~0ull / c->stride + 1;
	/* The division of list_for as a multiplication: exact (checked for
	 * every count) while per_slab <= 4097. */
	_Static_assert(SORT_PARTIAL_MAX_OBJS <= 4097, "list_for's multiplication would be inexact");
	if (c->per_slab > 1 && c->per_slab <= SORT_PARTIAL_MAX_OBJS)
		c->bucket_mul = (((uint64_t)PARTIAL_BUCKETS << 24) + c->per_slab - 2) / (c->per_slab - 1);
	c->mag_cap = (unsigned)(MAG_BYTES / c->stride);
	c->mag_cap = c->mag_cap < 2 ? 2 : c->mag_cap > MAG_MAX ? MAG_MAX : c->mag_cap;
	c->batch = (c->mag_cap + 1) / 2;
	c->keep_empty = debug_cache(c) || c->per_slab >= KEEP_EMPTY_MIN_OBJS ? SLAB_KEEP_EMPTY : 0;
	if (c->flags)
		c->mag_cap = c->batch = 0;	/* the fast paths send debug caches to the slow */
}

void slab_cache_link(struct kmem_cache *c)
{
	uint64_t f = spin_lock_irqsave(&caches_lock);
	c->next = caches;
	caches = c;
	spin_unlock_irqrestore(&caches_lock, f);
}

/* ---- reports ------------------------------------------------------------ */

static void print_track(const char *what, const struct track *t)
{
	if (!t->n) {
		kprintf("  %s: (not recorded)\n", what);
		return;
	}
	kprintf("  %s:\n", what);
	backtrace_print_addrs(t->pcs, t->n < TRACK_DEPTH ? t->n : TRACK_DEPTH);
}

/*
 * The one way misuse is reported: "BUG <cache>: <what>", the object, the
 * backtrace of the offending call and, with U, where the object was last
 * allocated and freed. Counts the report; changes nothing.
 */
void slab_report(const struct kmem_cache *c, void *obj, const char *fmt, ...)
{
	const uint64_t *fp = __builtin_frame_address(0);
	va_list ap;

	kprintf("BUG %s: ", c ? c->name : "kmalloc");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	if (obj && c && c != &kmalloc_large)
		kprintf("  object 0x%llx, size %zu (stride %zu)\n", (unsigned long long)obj,
			c->size, c->stride);
	backtrace_print(fp[1] - 1, fp[0]);
	if (obj && c && (c->flags & SLAB_STORE_USER)) {
		print_track("last allocated at", &tracks_of(c, obj)[0]);
		print_track("last freed at", &tracks_of(c, obj)[1]);
	}
	__atomic_add_fetch(&reports, 1, __ATOMIC_RELAXED);
}

uint64_t slab_report_count(void)
{
	return __atomic_load_n(&reports, __ATOMIC_RELAXED);
}

/* ---- slabs --------------------------------------------------------------- */

static void list_del_locked(struct kmem_cache *c, struct page *head)
{
	if (head->prev)
		head->prev->next = head->next;
	else
		c->lists[head->slab_list] = head->next;
	if (head->next)
		head->next->prev = head->prev;
	c->nr_slabs[head->slab_list]--;
	head->slab_list = LIST_NONE;
}

static void list_add_locked(struct kmem_cache *c, struct page *head, unsigned list)
{
	head->slab_list = (uint8_t)list;
	head->prev = NULL;
	head->next = c->lists[list];
	if (head->next)
		head->next->prev = head;
	c->lists[list] = head;
	c->nr_slabs[list]++;
}

/* Which list a slab with `inuse` objects out belongs on: a partial slab's
 * bucket is (inuse - 1) * PARTIAL_BUCKETS / (per_slab - 1), so that with up
 * to PARTIAL_BUCKETS + 1 objects to a slab each count has its own. */
static inline unsigned list_for(const struct kmem_cache *c, unsigned inuse)
{
	if (inuse == 0)
		return LIST_EMPTY;
	if (inuse == c->per_slab)
		return LIST_FULL;
	return LIST_PARTIAL + (unsigned)(((uint64_t)(inuse - 1) * c->bucket_mul) >> 24);
}

static inline void relist_locked(struct kmem_cache *c, struct page *head)
{
	unsigned want = list_for(c, head->slab_inuse);
	if (head->slab_list != want) {
		list_del_locked(c, head);
		list_add_locked(c, head, want);
	}
}

/*
 * A new slab from the page allocator, carved and on no list. Called without
 * the cache lock (the page allocator may call kmem_reclaim).
 * Return: its head page, or NULL when no block is left.
 */
static struct page *slab_new(struct kmem_cache *c)
{
	uint8_t *base = page_alloc(c->order, 0);
	if (!base)
		return NULL;
	struct page *head = pmm_virt_to_page(&kernel_pmm, base);
	for (unsigned i = 0; i < (1u << c->order); i++) {
		head[i].slab_cache = c;
		head[i].slab_base = base;
		head[i].slab_objs_end = c->objs_end;
		head[i].slab_div_magic = c->div_magic;
	}
	void *next = NULL;
	if (!c->ctor && !c->flags) {
		/* The common case, on its own: two stores an object. */
		for (unsigned i = c->per_slab; i-- > 0; ) {
			uint64_t *obj = (uint64_t *)(base + (uint64_t)i * c->stride);
			obj[0] = (uint64_t)next;
			obj[1] = FREE_MARK;
			next = obj;
		}
	} else {
		for (unsigned i = c->per_slab; i-- > 0; ) {
			uint8_t *obj = base + (uint64_t)i * c->stride;
			if (c->ctor)
				c->ctor(obj);
			if (c->flags & SLAB_POISON)
				memset(obj, POISON_FREE, c->obj_size);
			if (c->flags & SLAB_RED_ZONE)
				memset(obj + c->obj_size, REDZONE_BYTE, REDZONE_BYTES);
			if (c->flags & SLAB_STORE_USER)
				memset(tracks_of(c, obj), 0, 2 * sizeof(struct track));
			meta_of(c, obj)[0] = (uint64_t)next;
			meta_of(c, obj)[1] = FREE_MARK;
			next = obj;
		}
	}
	head->slab_freelist = next;
	head->slab_inuse = 0;
	head->slab_list = LIST_NONE;
	head->next = head->prev = NULL;
	return head;
}

/* Give a slab's block back; clear what marks its pages as a slab's first. */
static void slab_release(struct kmem_cache *c, struct page *head)
{
	void *base = head->slab_base;
	for (unsigned i = 0; i < (1u << c->order); i++) {
		head[i].slab_cache = NULL;
		head[i].slab_base = NULL;
		head[i].slab_objs_end = 0;
		head[i].slab_div_magic = 0;
	}
	head->slab_freelist = NULL;
	head->next = head->prev = NULL;
	page_free(base, c->order);
}

/* Take up to n free objects from slab `head` into out[], in one cut of its
 * free list and one relist. Return: how many. Must hold c->lock. */
static unsigned slab_take_locked(struct kmem_cache *c, struct page *head, void **out, unsigned n)
{
	void *obj = head->slab_freelist;
	unsigned k = 0;
	for (; k < n && obj; k++) {
		out[k] = obj;
		obj = (void *)meta_of(c, obj)[0];
	}
	head->slab_freelist = obj;
	head->slab_inuse += k;
	c->slab_inuse += k;
	relist_locked(c, head);
	return k;
}

/* Put obj back on its slab `head`. Return: the slab if it should now be
 * released (an empty slab beyond keep_empty), else NULL. Must hold c->lock. */
static struct page *slab_put_locked(struct kmem_cache *c, void *obj, struct page *head)
{
	meta_of(c, obj)[0] = (uint64_t)head->slab_freelist;
	head->slab_freelist = obj;
	head->slab_inuse--;
	c->slab_inuse--;
	relist_locked(c, head);
	if (head->slab_list == LIST_EMPTY && c->nr_slabs[LIST_EMPTY] > c->keep_empty) {
		list_del_locked(c, head);
		return head;
	}
	return NULL;
}

/* A slab with a free object, or NULL: the fullest partial one, so that
 * objects pack into few slabs and the sparse ones empty and go back to the
 * page allocator; an empty slab only when no slab is partial. Must hold
 * c->lock. */
static struct page *slab_with_room_locked(struct kmem_cache *c)
{
	for (unsigned list = NR_LISTS; list-- > LIST_PARTIAL; )
		if (c->lists[list])
			return c->lists[list];
	return c->lists[LIST_EMPTY];
}

/* ---- debug checks (caches with slab_debug letters) ------------------------ */

static bool redzone_intact(const struct kmem_cache *c, void *obj)
{
	const uint8_t *rz = (const uint8_t *)obj + c->obj_size;
	for (unsigned i = 0; i < REDZONE_BYTES; i++)
		if (rz[i] != REDZONE_BYTE)
			return false;
	return true;
}

static long first_unpoisoned(const struct kmem_cache *c, void *obj)
{
	const uint8_t *b = obj;
	for (size_t i = 0; i < c->obj_size; i++)
		if (b[i] != POISON_FREE)
			return (long)i;
	return -1;
}

static void record(const struct kmem_cache *c, void *obj, int which)
{
	struct track *t = &tracks_of(c, obj)[which];
	t->n = backtrace_save(t->pcs, TRACK_DEPTH);
}

/* Allocation checks for a debug cache; reports, never refuses the object. */
static void debug_on_alloc(struct kmem_cache *c, void *obj)
{
	if (c->flags & SLAB_POISON) {
		long at = first_unpoisoned(c, obj);
		if (at >= 0)
			slab_report(c, obj, "Poison overwritten: written after free at offset %ld (0x%02x)",
				    at, ((uint8_t *)obj)[at]);
	}
	if ((c->flags & SLAB_RED_ZONE) && !redzone_intact(c, obj)) {
		slab_report(c, obj, "Right Redzone overwritten (while free)");
		/* Repaired, so that one overwrite is one report and slab_check
		 * still passes. */
		memset((uint8_t *)obj + c->obj_size, REDZONE_BYTE, REDZONE_BYTES);
	}
	if (c->flags & SLAB_STORE_USER)
		record(c, obj, 0);
}

/* ---- the slow paths -------------------------------------------------------- */

/* Fill this CPU's magazine (interrupts off) with up to `batch` objects
 * from slabs; carve a new slab only when none has a free object. Carving
 * while the magazine holds some would let the page allocator's reclaim
 * flush them back: the allocation would fail with objects free, or (when
 * that flush empties a slab whose block then serves the carve) carve and
 * reclaim the same block for ever. Return: false when the page allocator
 * had nothing. */
static bool mag_refill(struct kmem_cache *c, struct magazine *m)
{
	for (;;) {
		uint64_t f = spin_lock_irqsave(&c->lock);
		struct page *head;
		while (m->count < c->batch && (head = slab_with_room_locked(c)) != NULL)
			m->count += slab_take_locked(c, head, m->objs + m->count, c->batch - m->count);
		spin_unlock_irqrestore(&c->lock, f);
		if (m->count)
			return true;
		head = slab_new(c);
		if (!head)
			return false;
		f = spin_lock_irqsave(&c->lock);
		list_add_locked(c, head, LIST_EMPTY);
		spin_unlock_irqrestore(&c->lock, f);
	}
}

/* The head page of obj's slab (obj known to be in one). */
static struct page *slab_head_of(void *obj)
{
	return head_of(pmm_virt_to_page(&kernel_pmm, obj), obj);
}

/* Return the oldest n objects of a magazine to their slabs, then push
 * `extra` (a freed object that did not fit) if not NULL (interrupts off).
 * The common flush: where a slab holds many objects, which ones go back
 * matters little, and this is the cheapest choice. */
static void mag_flush_oldest(struct kmem_cache *c, struct magazine *m, unsigned n, void *extra)
{
	struct page *release[MAG_MAX];
	unsigned nrel = 0;

	uint64_t f = spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < n; i++) {
		struct page *r = slab_put_locked(c, m->objs[i], slab_head_of(m->objs[i]));
		if (r)
			release[nrel++] = r;
	}
	spin_unlock_irqrestore(&c->lock, f);
	memmove(m->objs, m->objs + n, (m->count - n) * sizeof(m->objs[0]));
	m->count -= n;
	if (extra)
		m->objs[m->count++] = extra;
	for (unsigned i = 0; i < nrel; i++)
		slab_release(c, release[i]);
}

/*
 * Return n of the objects of a magazine, and of `extra` (as above), to
 * their slabs: those of the emptiest slabs (and of slabs equally full, the
 * oldest), so that those slabs drain and go back to the page allocator
 * while the objects of the fullest stay to be handed out first. This is
 * where the footprint of caches of large objects, few to a slab (magazines
 * of at most FLUSH_CHOOSE_CAP), is won. What stays keeps its order, extra
 * last (the top: the most recently freed, cache-hot object). A selection:
 * n is at most half of a handful.
 */
static void mag_flush_chosen(struct kmem_cache *c, struct magazine *m, unsigned n, void *extra)
{
	enum { GONE = 0xff };
	void *objs[FLUSH_CHOOSE_CAP + 1];
	struct page *heads[FLUSH_CHOOSE_CAP + 1], *release[FLUSH_CHOOSE_CAP + 1];
	uint8_t key[FLUSH_CHOOSE_CAP + 1];
	unsigned total = m->count, nrel = 0;

	for (unsigned i = 0; i < total; i++)
		objs[i] = m->objs[i];
	if (extra)
		objs[total++] = extra;
	for (unsigned i = 0; i < total; i++)
		heads[i] = slab_head_of(objs[i]);
	uint64_t f = spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < total; i++) {
		/* Fullness: a magazine's object is out of its slab, so the slab
		 * is partial (by bucket) or full, never empty. */
		unsigned list = heads[i]->slab_list;
		ASSERT(list == LIST_FULL || list >= LIST_PARTIAL);
		key[i] = (uint8_t)(list == LIST_FULL ? PARTIAL_BUCKETS : list - LIST_PARTIAL);
	}
	while (n--) {
		unsigned best = total;
		for (unsigned i = 0; i < total; i++)
			if (key[i] != GONE && (best == total || key[i] < key[best]))
				best = i;
		key[best] = GONE;
		struct page *r = slab_put_locked(c, objs[best], heads[best]);
		if (r)
			release[nrel++] = r;
	}
	m->count = 0;
	for (unsigned i = 0; i < total; i++)
		if (key[i] != GONE)
			m->objs[m->count++] = objs[i];
	spin_unlock_irqrestore(&c->lock, f);
	for (unsigned i = 0; i < nrel; i++)
		slab_release(c, release[i]);
}

/* Return n objects of a magazine to their slabs, then push extra if not
 * NULL (interrupts off). */
static void mag_flush(struct kmem_cache *c, struct magazine *m, unsigned n, void *extra)
{
	if (c->mag_cap <= FLUSH_CHOOSE_CAP && n < m->count + (extra != NULL))
		mag_flush_chosen(c, m, n, extra);
	else
		mag_flush_oldest(c, m, n, extra);
}

void *slab_alloc_slow(struct kmem_cache *c, unsigned flags)
{
	void *obj = NULL;

	if (!c->flags) {
		uint64_t irq = irq_save();
		struct magazine *m = &c->mag[cpu_id()];
		if (m->count || mag_refill(c, m))
			obj = m->objs[--m->count];
		irq_restore(irq);
		if (!obj)
			return NULL;
		meta_of(c, obj)[1] = 0;
	} else {
		/* Debug: straight from the slabs under the lock, checked. */
		uint64_t f = spin_lock_irqsave(&c->lock);
		struct page *head = slab_with_room_locked(c);
		if (!head) {
			spin_unlock_irqrestore(&c->lock, f);
			head = slab_new(c);
			if (!head)
				return NULL;
			f = spin_lock_irqsave(&c->lock);
			list_add_locked(c, head, LIST_EMPTY);
		}
		slab_take_locked(c, head, &obj, 1);
		debug_on_alloc(c, obj);
		meta_of(c, obj)[1] = 0;
		spin_unlock_irqrestore(&c->lock, f);
	}
	if (flags & KM_ZERO)
		memset(obj, 0, c->obj_size);
	return obj;
}

/* Is obj on a free list of c right now (a magazine or its slab's list)?
 * Must hold c->lock. Used only to confirm a suspected double free. */
static bool on_free_list_locked(struct kmem_cache *c, void *obj, struct page *head)
{
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		for (unsigned i = 0; i < c->mag[cpu].count; i++)
			if (c->mag[cpu].objs[i] == obj)
				return true;
	for (void *f = head->slab_freelist; f; f = (void *)meta_of(c, f)[0])
		if (f == obj)
			return true;
	return false;
}

void slab_free_slow(struct kmem_cache *c, void *obj, struct page *pg)
{
	if (c == &kmalloc_large) {
		kfree_large(pg, obj);
		return;
	}
	uint8_t *base = slab_base_of(pg);
	uint64_t off = (uint64_t)((uint8_t *)obj - base), idx = obj_index(c, off);

	if (!obj_start(c, off)) {
		slab_report(c, NULL, "free of 0x%llx, which is not the start of an object "
			    "(inside object 0x%llx at offset %llu)", (unsigned long long)obj,
			    (unsigned long long)(base + idx * c->stride),
			    (unsigned long long)(off - idx * c->stride));
		return;
	}

	struct page *head = head_of(pg, obj);
	if (!c->flags) {
		/* A full magazine, or a set mark. Only a set mark needs the lock:
		 * every free object carries it, so without it obj is not free. */
		if (is_free_marked(c, obj)) {
			uint64_t f = spin_lock_irqsave(&c->lock);
			bool twice = on_free_list_locked(c, obj, head);
			spin_unlock_irqrestore(&c->lock, f);
			if (twice) {
				slab_report(c, obj, "double free");
				return;
			}
		}
		/* Flush half of the magazine, then push. */
		meta_of(c, obj)[1] = FREE_MARK;
		uint64_t irq = irq_save();
		struct magazine *m = &c->mag[cpu_id()];
		if (m->count >= c->mag_cap)
			mag_flush(c, m, c->batch, obj);
		else
			m->objs[m->count++] = obj;
		irq_restore(irq);
		return;
	}

	/* Debug cache: check, poison, record, and straight back to the slab,
	 * all under one hold of the lock. */
	uint64_t f = spin_lock_irqsave(&c->lock);
	if (is_free_marked(c, obj) && on_free_list_locked(c, obj, head)) {
		spin_unlock_irqrestore(&c->lock, f);
		slab_report(c, obj, "double free");
		return;
	}
	if ((c->flags & SLAB_RED_ZONE) && !redzone_intact(c, obj)) {
		spin_unlock_irqrestore(&c->lock, f);
		slab_report(c, obj, "Right Redzone overwritten");
		f = spin_lock_irqsave(&c->lock);
		memset((uint8_t *)obj + c->obj_size, REDZONE_BYTE, REDZONE_BYTES);
	}
	if (c->flags & SLAB_POISON)
		memset(obj, POISON_FREE, c->obj_size);
	if (c->flags & SLAB_STORE_USER)
		record(c, obj, 1);
	meta_of(c, obj)[1] = FREE_MARK;
	struct page *release = slab_put_locked(c, obj, head);
	spin_unlock_irqrestore(&c->lock, f);
	if (release)
		slab_release(c, release);
}

/* ---- object caches ---------------------------------------------------------- */

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
				     unsigned flags, void (*ctor)(void *))
{
	if (size == 0 || size > KMALLOC_MAX_CACHE || (align & (align - 1)) || align > PAGE_SIZE)
		return NULL;
	struct kmem_cache *c = kmem_cache_alloc(&cache_cache, 0);
	if (!c)
		return NULL;
	slab_cache_setup(c, name, size, align, flags | debug_flags, ctor);
	slab_cache_link(c);
	return c;
}

void kmem_cache_free_foreign(struct kmem_cache *c, void *p, struct page *pg)
{
	slab_report(c, NULL, "kmem_cache_free of 0x%llx, which belongs to %s", (unsigned long long)p,
		    pg && pg->slab_cache ? pg->slab_cache->name : "no cache");
}

/* Return every object of this CPU's magazine to its slab, and release the
 * empty slabs beyond none kept. */
static void cache_shrink(struct kmem_cache *c)
{
	uint64_t irq = irq_save();
	struct magazine *m = &c->mag[cpu_id()];
	if (m->count)
		mag_flush(c, m, m->count, NULL);
	irq_restore(irq);

	for (;;) {
		uint64_t f = spin_lock_irqsave(&c->lock);
		struct page *head = c->lists[LIST_EMPTY];
		if (head)
			list_del_locked(c, head);
		spin_unlock_irqrestore(&c->lock, f);
		if (!head)
			return;
		slab_release(c, head);
	}
}

void kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c)
		return;
	/* Nobody may use c once it is being destroyed, so the other CPUs'
	 * magazines are ours to empty too: their objects are free, not leaked. */
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		if (cpu != cpu_id() && c->mag[cpu].count)
			mag_flush(c, &c->mag[cpu], c->mag[cpu].count, NULL);
	cache_shrink(c);
	uint64_t f = spin_lock_irqsave(&c->lock);
	uint64_t leaked = c->slab_inuse;
	spin_unlock_irqrestore(&c->lock, f);
	if (leaked) {
		slab_report(c, NULL, "kmem_cache_destroy: %llu objects still in use; cache kept",
			    (unsigned long long)leaked);
		return;
	}
	f = spin_lock_irqsave(&caches_lock);
	for (struct kmem_cache **pp = &caches; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	spin_unlock_irqrestore(&caches_lock, f);
	kmem_cache_free(&cache_cache, c);
}

void kmem_reclaim(void)
{
	uint64_t f = spin_lock_irqsave(&caches_lock);
	for (struct kmem_cache *c = caches; c; c = c->next)
		cache_shrink(c);
	spin_unlock_irqrestore(&caches_lock, f);
}

/* ---- statistics and checking ------------------------------------------------- */

void kmem_cache_stats(struct kmem_cache *c, struct kmem_cache_stats *out)
{
	uint64_t f = spin_lock_irqsave(&c->lock);
	uint64_t cached = 0;
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		cached += c->mag[cpu].count;
	uint64_t slabs = 0;
	for (unsigned list = LIST_FULL; list < NR_LISTS; list++)
		slabs += c->nr_slabs[list];
	*out = (struct kmem_cache_stats){
		.name = c->name, .object_size = c->size, .stride = c->stride,
		.objects_in_use = c->slab_inuse - cached,
		.slabs = slabs, .bytes = slabs * (PAGE_SIZE << c->order), .magazine = c->mag_cap,
	};
	spin_unlock_irqrestore(&c->lock, f);
}

void kmem_dump(void)
{
	kprintf("%-18s %8s %8s %10s %8s %10s\n", "# name", "objsize", "stride", "active",
		"slabs", "KiB");
	uint64_t f = spin_lock_irqsave(&caches_lock);
	for (struct kmem_cache *c = caches; c; c = c->next) {
		struct kmem_cache_stats s;
		kmem_cache_stats(c, &s);
		kprintf("%-18s %8zu %8zu %10llu %8llu %10llu\n", s.name, s.object_size, s.stride,
			(unsigned long long)s.objects_in_use, (unsigned long long)s.slabs,
			(unsigned long long)(s.bytes >> 10));
	}
	spin_unlock_irqrestore(&caches_lock, f);
}

static void check_slab_locked(struct kmem_cache *c, struct page *head, unsigned list)
{
	uint8_t *base = head->slab_base;
	ASSERT(head->slab_cache == c && head->slab_list == list);
	ASSERT(pmm_virt_to_page(&kernel_pmm, base) == head);
	for (unsigned i = 0; i < (1u << c->order); i++)	/* what kfree reads */
		ASSERT(head[i].slab_cache == c && head[i].slab_base == base &&
		       head[i].slab_objs_end == c->objs_end && head[i].slab_div_magic == c->div_magic);
	unsigned nfree = 0;
	for (void *f = head->slab_freelist; f; f = (void *)meta_of(c, f)[0]) {
		uint64_t off = (uint64_t)((uint8_t *)f - base);
		ASSERT(off % c->stride == 0 && off / c->stride < c->per_slab);
		ASSERT(is_free_marked(c, f));
		if (c->flags & SLAB_POISON)
			ASSERT(first_unpoisoned(c, f) < 0);
		ASSERT(++nfree <= c->per_slab);
	}
	ASSERT(nfree + head->slab_inuse == c->per_slab);
	ASSERT(list_for(c, head->slab_inuse) == list);
	if (c->flags & SLAB_RED_ZONE)
		for (unsigned i = 0; i < c->per_slab; i++)
			ASSERT(redzone_intact(c, base + (uint64_t)i * c->stride));
}

static void check_cache(struct kmem_cache *c)
{
	uint64_t f = spin_lock_irqsave(&c->lock);
	uint64_t inuse = 0;
	for (unsigned list = LIST_FULL; list < NR_LISTS; list++) {
		uint64_t n = 0;
		for (struct page *h = c->lists[list]; h; h = h->next, n++) {
			check_slab_locked(c, h, list);
			inuse += h->slab_inuse;
		}
		ASSERT(n == c->nr_slabs[list]);
	}
	ASSERT(inuse == c->slab_inuse);
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		ASSERT(c->mag[cpu].count <= c->mag_cap);
		for (unsigned i = 0; i < c->mag[cpu].count; i++) {
			void *obj = c->mag[cpu].objs[i];
			struct page *pg = pmm_virt_to_page(&kernel_pmm, obj);
			ASSERT(pg && pg->slab_cache == c && is_free_marked(c, obj));
			/* Once: not in a magazine twice, nor on its slab too. */
			for (unsigned cpu2 = cpu; cpu2 < MAX_CPUS; cpu2++)
				for (unsigned j = cpu2 == cpu ? i + 1 : 0; j < c->mag[cpu2].count; j++)
					ASSERT(c->mag[cpu2].objs[j] != obj);
			for (void *o = head_of(pg, obj)->slab_freelist; o; o = (void *)meta_of(c, o)[0])
				ASSERT(o != obj);
		}
	}
	spin_unlock_irqrestore(&c->lock, f);
}

void slab_check(void)
{
	uint64_t f = spin_lock_irqsave(&caches_lock);
	for (struct kmem_cache *c = caches; c; c = c->next)
		check_cache(c);
	spin_unlock_irqrestore(&caches_lock, f);
}

/* ---- set-up --------------------------------------------------------------------- */

#ifndef HOST_TEST
static const char *slab_debug = "";
CMDLINE_OPTION(slab_debug, "slab_debug", CMDLINE_STR, NULL,
	       "debug every cache: F checks, Z red zones, P poisoning, U owner tracking");
#else
static const char *slab_debug = "";
#endif

/* Linux's letters; anything else is named and ignored. */
static unsigned parse_debug(const char *s)
{
	unsigned flags = 0;
	for (; *s; s++) {
		switch (*s) {
		case 'F': case 'f': flags |= SLAB_CONSISTENCY; break;
		case 'Z': case 'z': flags |= SLAB_RED_ZONE; break;
		case 'P': case 'p': flags |= SLAB_POISON; break;
		case 'U': case 'u': flags |= SLAB_STORE_USER; break;
		default:
			kprintf("slab: warning: slab_debug=%s: unknown letter '%c' ignored "
				"(F, Z, P, U are known)\n", slab_debug, *s);
		}
	}
	return flags;
}

void slab_init(void)
{
	debug_flags = parse_debug(slab_debug);
	slab_cache_setup(&cache_cache, "kmem_cache", sizeof(struct kmem_cache),
			 _Alignof(struct kmem_cache), debug_flags, NULL);
	slab_cache_link(&cache_cache);
	kmalloc_init(debug_flags);
	kernel_pmm.reclaim = kmem_reclaim;
}
