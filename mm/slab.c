/*
 * mm/slab.c - the heap: object caches over buddy blocks, each CPU owning
 * the slabs it made (mm/kmalloc.c puts the size classes on top; the entry
 * points' fast paths are in mm/slab_fast.c, statistics and the verifier in
 * mm/slab_check.c, misuse reports and slab_debug= in mm/slab_debug.c, the
 * footprint policy - how far each CPU's slabs grow, what they keep idle -
 * in mm/slab_footprint.c, creating and destroying caches in
 * mm/slab_cache.c; this file holds the rest: slabs, their lists and the
 * slow paths).
 *
 * Data structures:
 *   struct kmem_cache  one per object type (or kmalloc size class): object
 *                      geometry; per CPU, a free list to allocate from and
 *                      a buffer of objects freed into other CPUs' slabs
 *                      (struct kmem_cpu_objs); per owning CPU, its slabs'
 *                      lists (full, partial, empty) and a remote list of
 *                      its objects other CPUs freed (struct
 *                      kmem_cpu_slabs); one lock.
 *   slab               a buddy block of 2^order pages cut into `per_slab`
 *                      objects `stride` bytes apart, starting at the block's
 *                      first byte (so power-of-two sizes are naturally
 *                      aligned). Its state lives in the page allocator's
 *                      struct page: every page of it names its cache, its
 *                      base and how far back its head's entry is, with
 *                      copies of the cache's objs_end and div_magic (address
 *                      -> object is O(1), without a division or a load of
 *                      the cache); the head page holds the free list, the
 *                      count in use, the owner and the list links.
 *   free object        word 0 of its metadata is the next free object, word
 *                      1 the free mark (FREE_MARK). Metadata sits at offset
 *                      0 of the object, or after it when the cache has a
 *                      constructor or debugging (then the free pointer must
 *                      not overwrite the object).
 *
 * Allocate (kmem_cache_alloc, kmalloc):
 *   1. Pop this CPU's free list in a restartable sequence (an interrupt
 *      sends it back to its start: kernel/restart.h); clear the free mark.
 *      Done: no lock, no atomic instruction, interrupts left as they were.
 *   2. Empty list (interrupts off): take back what other CPUs freed into
 *      this CPU's slabs; then take whole free lists of its slabs, partial
 *      ones first, then an empty one, until the list has `batch` objects.
 *      A slab taken is full: its count carries FULL_BIAS and its owner
 *      byte OWNER_FULL, so that a free into it is kept on the CPU list or
 *      takes the slow path (below). No slab to take from: a block from the
 *      page allocator, taken whole; but if that would take this CPU's
 *      slabs past the most they have held, other caches first give back
 *      the slabs that only their CPU lists hold (footprint_make_room).
 *   3. Debug caches have no CPU lists and do everything under the lock,
 *      counting exactly, so every check sees exact state.
 * Free (kmem_cache_free, kfree):
 *   1. Find the page's struct page. Not a slab page: a large kmalloc
 *      block, or a foreign pointer (reported).
 *   2. Check the pointer is an object's start (reported if not: the page's
 *      copy of the geometry answers without a division), and its free
 *      mark: a set mark means a likely double free, confirmed (and
 *      reported) under the lock by finding the object on a free list.
 *   3. This CPU owns the slab: push onto the slab's own free list and set
 *      the mark, in one restartable sequence, then lower the slab's count.
 *      The count says when the slab changes list (slab_settle): full to
 *      partial, and partial to empty (kept, within the idle bounds of
 *      mm/slab_footprint.c, or back to the page allocator). But a slab on
 *      the full list carries OWNER_FULL in its owner byte, so the owner test
 *      sends its frees aside: up to keep_below + 1 of them (the cache's
 *      share of the idle bounds) since the CPU list was last empty (in a
 *      cache of small objects, only while it holds no refill's objects)
 *      go onto the CPU list (another restartable push), and the slab
 *      stays full.
 *   4. Another CPU owns it: into this CPU's buffer, which goes to the
 *      owner's remote list, under the lock, REMOTE_MAX objects at a time.
 * Footprint: every free object in a slab, CPU list or empty slab is memory
 * no other cache can use. Frees into partial slabs go straight back to
 * them, so sparse slabs drain and are released; refills take the slab most
 * recently freed into, usually one short of full, and objects freed into
 * full slabs are handed out again first. The CPU lists may keep many
 * objects, which keeps most calls on the fast paths, because they cost the
 * heap's peak nothing: before a CPU's slabs grow past the most they have
 * held, every slab of its that only its CPU lists hold goes back to the
 * page allocator for the cache that needs one (footprint_make_room).
 * Magazines in front of sorted slabs held more at the peak; a small fixed
 * bound on the CPU lists instead of footprint_make_room holds about as
 * little, but costs far more time per allocation and free.
 *   The policy is mm/slab_footprint.c's; this file is its mechanism. It
 *   tells the policy of every slab made or released (footprint_count), put
 *   on or taken off an empty list (footprint_count_empty), of each slab a
 *   CPU makes (footprint_grown) and of kmem_reclaim (footprint_reset); asks
 *   it whether to keep an emptied slab (footprint_keeps_empty) and, before
 *   a new slab, to make room (footprint_make_room); and has it set every
 *   cache's bounds when the list of caches changes
 *   (footprint_set_bounds_locked). The policy calls back slab_trim_cpu, to
 *   release the slabs only a CPU's free list holds, and
 *   slab_cache_move_last_locked, to reorder the list of caches it walks.
 *
 * Invariants (slab_check, in mm/slab_check.c, asserts them): every slab is
 * on the list its `slab_list` names, of its owner's slabs (owned[]), and
 * the counts match; a slab's owner byte carries OWNER_FULL exactly on the
 * full list; free list length + count in use = per_slab, the count biased
 * exactly on the full list; a partial or empty slab's list is the one
 * list_for gives; every free object is an object start inside its slab,
 * carries its free mark, and is in one place only (its slab's list, a CPU
 * list, a buffer or a remote list); with debugging, red zones hold
 * REDZONE_BYTE, free objects POISON_FREE, and (F) each object's padding
 * and each slab's tail PAD_BYTE.
 *
 * Locking: a CPU's part of a cache (its free list and buffer, the lists
 * of the slabs it owns, and their heads) is changed only by that CPU: the
 * fast paths in restartable sequences, the slow paths with interrupts off.
 * So an interrupt handler that allocates or frees finds them consistent,
 * and neither path takes a lock. Each cache's lock (LOCK_RANK_SLAB) guards the
 * remote lists and a debug cache's slabs. slab_caches_lock
 * (LOCK_RANK_SLAB_CACHES) guards the list of caches. The page allocator is
 * never called with a cache lock held: kmem_reclaim, which it may call,
 * takes cache locks. Statistics and checks read other CPUs' parts as they
 * are: exact on one CPU, approximate while others run.
 *
 * Misuse is reported by slab_report ("BUG <cache>: ..." with the object and
 * a backtrace, plus the recorded allocation and free backtraces with
 * slab_debug=U), counted, and leaves the heap as it was.
 */
#include "mm/slab_internal.h"
#include "mm/slab_debug.h"
#include "mm/slab_footprint.h"
#include "mm/kmalloc.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

/* A refill takes whole free lists of slabs until it has this many bytes of
 * objects (at least one object): few trips for small objects, little memory
 * held away from the slabs for large ones. */
#define REFILL_BYTES	(2 * 1024)

struct spinlock slab_caches_lock = SPINLOCK_INIT("slab-caches", LOCK_RANK_SLAB_CACHES);
struct kmem_cache *slab_caches;		/* slab_caches_lock */

/* Pick the smallest slab order (up to SLAB_MAX_ORDER) that wastes at most
 * 1/8 of the block, or failing that the least wasteful one. A stride too
 * big for that (only kmem_cache_create's) gets the smallest block that
 * holds one object, as in Linux: a bigger block would waste less, but pin
 * more memory while the cache holds few objects, and be harder for the
 * buddy allocator to find. */
static unsigned pick_order(size_t stride)
{
	if (stride > (PAGE_SIZE << SLAB_MAX_ORDER)) {
		unsigned o = SLAB_MAX_ORDER + 1;
		while ((PAGE_SIZE << o) < stride)
			o++;
		return o;
	}
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
	/* Zeroed, then set field by field: from a compound literal, clang
	 * builds the whole 1.9 KiB cache in the frame and copies it. */
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->size = size;
	c->flags = flags & SLAB_DEBUG_MASK;
	c->ctor = ctor;
	c->lock = (struct spinlock)SPINLOCK_INIT("slab", LOCK_RANK_SLAB);
	c->obj_size = (size + align - 1) & ~(align - 1);
	if (c->obj_size < 16)
		c->obj_size = 16;	/* room for the free pointer and mark */
	if (!debug_cache(c) && !ctor) {
		c->meta = 0;
		c->stride = c->obj_size;
	} else {
		c->meta = c->obj_size + (flags & SLAB_RED_ZONE ? REDZONE_BYTES : 0);
		c->stride = c->meta + 16 + (flags & SLAB_STORE_USER ? NR_TRACKS * sizeof(struct track) : 0);
		c->stride = (c->stride + align - 1) & ~(align - 1);
	}
	c->order = pick_order(c->stride);
	c->per_slab = (unsigned)(slab_bytes(c) / c->stride);
	ASSERT(c->order <= PMM_MAX_ORDER && c->per_slab >= 1);
	c->objs_end = (uint32_t)(c->per_slab * c->stride);
	c->div_magic = ~0ull / c->stride + 1;
	c->batch = (unsigned)(REFILL_BYTES / c->stride);
	c->batch = c->batch ? c->batch : 1;
	c->keep_on_refill = c->per_slab < SMALL_SLAB_OBJS;
	/* What it keeps idle is its share of the idle bounds, set when it
	 * joins the list of caches (slab_cache_link); until then nothing. */
	c->keep_below = 0;
	c->keep_empty = debug_cache(c) ? SLAB_KEEP_EMPTY : 0;
}

void slab_cache_link(struct kmem_cache *c)
{
	uint64_t f = spin_lock_irqsave(&slab_caches_lock);
	c->next = slab_caches;
	slab_caches = c;
	footprint_set_bounds_locked();
	spin_unlock_irqrestore(&slab_caches_lock, f);
}

void slab_cache_move_last_locked(struct kmem_cache *c)
{
	if (!c->next)
		return;
	struct kmem_cache **pp = &slab_caches;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	c->next = NULL;
}

/* ---- slabs --------------------------------------------------------------- */

/* The slabs of the CPU that owns a slab; a debug cache's are all in
 * owned[0]. */
static struct kmem_cpu_slabs *owner_slabs(struct kmem_cache *c, const struct page *head)
{
	uint8_t owner = owner_of(head);
	return &c->owned[owner == OWNER_NONE ? 0 : owner & ~OWNER_META];
}

static void list_del(struct kmem_cpu_slabs *own, struct page *head)
{
	DEBUG_ASSERT(head->slab_list > LIST_NONE && head->slab_list < NR_LISTS);
	DEBUG_ASSERT(owner_slabs(head->slab_cache, head) == own);
	DEBUG_ASSERT(own->nr_slabs[head->slab_list] > 0);
	DEBUG_ASSERT(head->prev ? head->prev->next == head : own->lists[head->slab_list] == head);
	DEBUG_ASSERT(!head->next || head->next->prev == head);
	DEBUG_ASSERT(((head->slab_owner & OWNER_FULL) != 0) == (head->slab_list == LIST_FULL));
	if (head->slab_list == LIST_EMPTY)
		footprint_count_empty(head->slab_cache, (unsigned)(own - head->slab_cache->owned), -1);
	if (head->prev)
		head->prev->next = head->next;
	else
		own->lists[head->slab_list] = head->next;
	if (head->next)
		head->next->prev = head->prev;
	own->nr_slabs[head->slab_list]--;
	head->slab_list = LIST_NONE;
	head->slab_owner = owner_of(head);
}

/* Put a slab on no list onto `list`. A slab going on the full list carries
 * OWNER_FULL in its owner byte until list_del takes it off. */
static void list_add(struct kmem_cpu_slabs *own, struct page *head, unsigned list)
{
	DEBUG_ASSERT(list > LIST_NONE && list < NR_LISTS);
	DEBUG_ASSERT(head->slab_list == LIST_NONE);
	DEBUG_ASSERT(head->slab_head_off == 0);
	DEBUG_ASSERT(!(head->slab_owner & OWNER_FULL));
	DEBUG_ASSERT(owner_slabs(head->slab_cache, head) == own);
	if (list == LIST_EMPTY)
		footprint_count_empty(head->slab_cache, (unsigned)(own - head->slab_cache->owned), 1);
	head->slab_list = (uint8_t)list;
	if (list == LIST_FULL)
		head->slab_owner |= OWNER_FULL;
	head->prev = NULL;
	head->next = own->lists[list];
	if (head->next)
		head->next->prev = head;
	own->lists[list] = head;
	own->nr_slabs[list]++;
}

/* Link every object of the slab at base into a free list, in address
 * order, ending in `tail`, and mark each free; only their metadata words
 * are written. In order, so that the objects are handed out in order: a
 * walk of the slab's memory, not a chase through it. Return: the first. */
static void *link_all(struct kmem_cache *c, uint8_t *base, void *tail)
{
	for (unsigned i = c->per_slab; i-- > 0; ) {
		uint64_t *m = meta_of(c, base + (uint64_t)i * c->stride);
		m[0] = (uint64_t)tail;
		m[1] = FREE_MARK;
		tail = (uint8_t *)m - c->meta;
	}
	return tail;
}

/*
 * A new slab from the page allocator, owned by `owner` and counted among its
 * slabs, on no list: every object free and prepared (constructed, poisoned,
 * red-zoned as its cache asks) but not yet linked, its free list empty. The
 * caller links them: take_empty onto a CPU's free list, or link_all for a
 * debug slab. Called without the cache lock (the page allocator may call
 * kmem_reclaim).
 * Return: its head page, or NULL when no block is left.
 */
static struct page *slab_new(struct kmem_cache *c, uint8_t owner)
{
	uint8_t *base = page_alloc_as(c->order, 0, PAGE_OWNER_SLAB);
	if (!base)
		return NULL;
	struct page *head = pmm_virt_to_page(&kernel_pmm, base);
	for (unsigned i = 0; i < (1u << c->order); i++) {
		head[i].slab_cache = c;
		head[i].slab_base = base;
		head[i].slab_objs_end = c->objs_end;
		head[i].slab_div_magic = c->div_magic;
		head[i].slab_head_off = (uint16_t)(i * sizeof(struct page));
	}
	if (c->ctor || debug_cache(c)) {
		for (unsigned i = 0; i < c->per_slab; i++) {
			uint8_t *obj = base + (uint64_t)i * c->stride;
			if (c->ctor)
				c->ctor(obj);
			if (c->flags & SLAB_POISON)
				memset(obj, POISON_FREE, c->obj_size);
			if (c->flags & SLAB_RED_ZONE)
				memset(obj + c->obj_size, REDZONE_BYTE, REDZONE_BYTES);
			if (c->flags & SLAB_STORE_USER)
				memset(tracks_of(c, obj), 0, NR_TRACKS * sizeof(struct track));
		}
		if (c->flags & SLAB_CONSISTENCY)
			slab_pad_fill(c, base);
	}
	head->slab_freelist = NULL;
	head->slab_inuse = 0;
	head->slab_list = LIST_NONE;
	head->slab_owner = owner;
	head->next = head->prev = NULL;
	struct kmem_cpu_slabs *own = owner_slabs(c, head);
	/* An add, not a store: a debug cache's owned[0] is every CPU's, and
	 * its slow paths make and release slabs outside its lock (read by
	 * kmem_cache_bytes). */
	__atomic_fetch_add(&own->slabs, 1, __ATOMIC_RELAXED);
	footprint_count(c, (unsigned)(own - c->owned), 1);
	return head;
}

/* Give a slab's block back (on no list, every object free); clear what
 * marks its pages as a slab's, and uncount it from its owner's slabs. */
static void slab_release(struct kmem_cache *c, struct page *head)
{
	void *base = head->slab_base;
	struct kmem_cpu_slabs *own = owner_slabs(c, head);
	__atomic_fetch_sub(&own->slabs, 1, __ATOMIC_RELAXED);	/* as slab_new */
	footprint_count(c, (unsigned)(own - c->owned), -1);
	for (unsigned i = 0; i < (1u << c->order); i++) {
		head[i].slab_cache = NULL;
		head[i].slab_base = NULL;
		head[i].slab_objs_end = 0;
		head[i].slab_div_magic = 0;
		head[i].slab_head_off = 0;
	}
	head->slab_freelist = NULL;
	head->slab_inuse = 0;
	head->slab_owner = 0;
	head->next = head->prev = NULL;
	page_free_as(base, c->order, PAGE_OWNER_SLAB);
}

/* A slab that has just become empty and is on no list: keep it on the
 * empty list while the idle bounds allow (footprint_keeps_empty), or give it
 * back. */
static void slab_emptied(struct kmem_cache *c, struct kmem_cpu_slabs *own, struct page *head)
{
	if (footprint_keeps_empty(c, (unsigned)(own - c->owned)))
		list_add(own, head, LIST_EMPTY);
	else
		slab_release(c, head);
}

/* Release the empty slabs in own. */
void slab_release_empty(struct kmem_cache *c, struct kmem_cpu_slabs *own)
{
	struct page *head;
	while ((head = own->lists[LIST_EMPTY]) != NULL) {
		list_del(own, head);
		slab_release(c, head);
	}
}

/* ---- owned slabs (interrupts off, on their owner CPU) ------------------- */

/*
 * Move slab `head` to the list its count asks for, where it changed in a way
 * the free fast path leaves to the slow one: from full (the count carries
 * FULL_BIAS, so it is negative) to partial or empty, and from partial to
 * empty (0). Driven by the state alone, so a call that finds nothing to do
 * (an interrupt handler settled the slab first, or took its free list
 * again, making it full once more) changes nothing.
 */
static void settle_irqoff(struct kmem_cache *c, struct kmem_cpu_slabs *own, struct page *head)
{
	DEBUG_ASSERT(head->slab_head_off == 0);
	DEBUG_ASSERT(head->slab_cache == c);
	DEBUG_ASSERT(!debug_cache(c));
	DEBUG_ASSERT(owner_slabs(c, head) == own);
	DEBUG_ASSERT(head->slab_list != LIST_NONE);
	DEBUG_ASSERT(count_of(head) <= c->per_slab);
	DEBUG_ASSERT((head->slab_inuse < 0) == (head->slab_list == LIST_FULL));
	unsigned want = list_for(c, count_of(head));
	if (want == head->slab_list)
		return;
	/* Not full: FULL_BIAS comes off by an add, not a store, so that a
	 * free whose decrement is pending (an interrupt handler settling in
	 * its gap) still lands on the right count. A slab is full again only
	 * when a refill takes its free list, which biases it itself. */
	ASSERT(want != LIST_FULL);
	if (head->slab_inuse < 0)
		head->slab_inuse += FULL_BIAS;
	list_del(own, head);
	if (want == LIST_EMPTY)
		slab_emptied(c, own, head);
	else
		list_add(own, head, want);
}

/*
 * The free fast path's slow end: the slab's count says it must change list
 * (a free into a full slab that was not kept, or the last object back).
 */
void slab_settle(struct page *head)
{
	uint64_t irq = irq_save();
	unsigned cpu = cpu_id();
	struct kmem_cache *c = head->slab_cache;
	/* Between the fast path's decrement and irq_save an interrupt handler
	 * may have settled the slab, released it, and even reused its block
	 * (for another slab, or a large kmalloc block); so act only on the
	 * head page of a slab this CPU owns, by its state now. Flags 0, not
	 * !debug_cache(c): kmalloc_large's SLAB_LARGE must fail the test too,
	 * in one compare. */
	if (c && !c->flags && !head->slab_head_off && owner_of(head) == owner_tag(c, cpu))
		settle_irqoff(c, &c->owned[cpu], head);
	irq_restore(irq);
}

/* Free obj (marked) onto its slab `head`, which this CPU owns. */
static void slab_put(struct kmem_cache *c, struct kmem_cpu_slabs *own, void *obj, struct page *head)
{
	meta_of(c, obj)[0] = (uint64_t)head->slab_freelist;
	head->slab_freelist = obj;
	if (--head->slab_inuse <= 0)
		settle_irqoff(c, own, head);
}

/* Send cpu's buffer of objects freed into other CPUs' slabs to their
 * owners' remote lists, in one hold of the lock. */
static void remote_flush(struct kmem_cache *c, unsigned cpu)
{
	struct kmem_cpu_objs *k = &c->cpu[cpu];
	uint64_t f = spin_lock_irqsave(&c->lock);
	for (unsigned i = 0; i < k->nout; i++) {
		void *obj = k->out[i];
		struct kmem_cpu_slabs *owner = owner_slabs(c, slab_head_of(obj));
		meta_of(c, obj)[0] = (uint64_t)owner->remote;
		owner->remote = obj;
		__atomic_store_n(&owner->nremote, owner->nremote + 1, __ATOMIC_RELAXED);
	}
	spin_unlock_irqrestore(&c->lock, f);
	k->nout = 0;
}

/* Take back the objects other CPUs freed into cpu's slabs (collect_remote). */
static __attribute__((noinline)) void collect_remote_slow(struct kmem_cache *c, unsigned cpu)
{
	struct kmem_cpu_slabs *own = &c->owned[cpu];
	uint64_t f = spin_lock_irqsave(&c->lock);
	void *obj = own->remote;
	own->remote = NULL;
	__atomic_store_n(&own->nremote, 0, __ATOMIC_RELAXED);
	spin_unlock_irqrestore(&c->lock, f);
	while (obj) {
		void *next = (void *)meta_of(c, obj)[0];
		slab_put(c, own, obj, slab_head_of(obj));
		obj = next;
	}
}

static inline void collect_remote(struct kmem_cache *c, unsigned cpu)
{
	if (__atomic_load_n(&c->owned[cpu].nremote, __ATOMIC_RELAXED))
		collect_remote_slow(c, cpu);
}

/* A free object (marked) leaves cpu's hands: onto its slab if cpu owns
 * that, else into the buffer toward its owner. */
static void object_home(struct kmem_cache *c, unsigned cpu, void *obj)
{
	struct page *head = slab_head_of(obj);
	if (owner_of(head) == owner_tag(c, cpu)) {
		slab_put(c, &c->owned[cpu], obj, head);
		return;
	}
	struct kmem_cpu_objs *k = &c->cpu[cpu];
	k->out[k->nout++] = obj;
	if (k->nout == REMOTE_MAX)
		remote_flush(c, cpu);
}

/* Take slab `head` of cpu's (on no list, every object free: new, or
 * empty) onto its free list whole, its objects linked in address order
 * (see refill). Return: how many. */
static unsigned take_empty(struct kmem_cache *c, unsigned cpu, struct page *head)
{
	struct kmem_cpu_objs *k = &c->cpu[cpu];
	head->slab_freelist = NULL;
	head->slab_inuse = (int32_t)c->per_slab - FULL_BIAS;
	list_add(&c->owned[cpu], head, LIST_FULL);
	k->freelist = link_all(c, head->slab_base, k->freelist);
	return c->per_slab;
}

/*
 * Fill cpu's free list of c (empty) with the whole free lists of its slabs,
 * partial ones first, until it holds `batch` objects or no slab has one.
 * Each slab taken is full until frees come back (its count carries
 * FULL_BIAS). Return: false when no slab had a free object.
 *
 * A partial slab's list is walked to its end, to splice it and to count it:
 * its count may be one too high while a free's decrement is pending. An
 * empty slab's count is exact (settle_irqoff empties a slab only at 0, and
 * a pending decrement would keep it above), so take_empty links its
 * objects again, in order, rather than walk them: frees left them in any
 * order, and a walk of that order is a chain of cache misses, one an
 * object.
 */
static bool refill(struct kmem_cache *c, unsigned cpu)
{
	struct kmem_cpu_objs *k = &c->cpu[cpu];
	struct kmem_cpu_slabs *own = &c->owned[cpu];
	unsigned got = 0;

	collect_remote(c, cpu);
	while (got < c->batch) {
		struct page *head = own->lists[LIST_PARTIAL];
		if (!head && !(head = own->lists[LIST_EMPTY]))
			break;
		list_del(own, head);
		if (head->slab_inuse == 0) {
			got += take_empty(c, cpu, head);
			continue;
		}
		/* Its objects count as out: add, so that a pending decrement
		 * (an interrupt handler refilling in its gap) still lands. */
		void *first = head->slab_freelist, *last = first;
		unsigned len = 1;
		for (void *o; (o = (void *)meta_of(c, last)[0]) != NULL; last = o)
			len++;
		head->slab_freelist = NULL;
		head->slab_inuse += (int32_t)len - FULL_BIAS;
		list_add(own, head, LIST_FULL);
		meta_of(c, last)[0] = (uint64_t)k->freelist;
		k->freelist = first;
		got += len;
	}
	return got != 0;
}

/* Every object on cpu's free list of c back to its slab. */
static void cpu_list_home(struct kmem_cache *c, unsigned cpu)
{
	struct kmem_cpu_objs *k = &c->cpu[cpu];
	while (k->freelist) {
		void *obj = k->freelist;
		k->freelist = (void *)meta_of(c, obj)[0];
		object_home(c, cpu, obj);
	}
}

/*
 * Release c's slabs on cpu that no one uses: its empty slabs, and the slabs
 * every object of which not on the slab's own free list is among the first
 * `budget` objects of cpu's free list. The others' objects stay on that
 * list, in order. Return: the objects looked at.
 *
 * Two walks of that part of the list. The first counts each object off its
 * slab's count in use, so that a slab whose count reaches 0 has no object
 * out but these (the count includes FULL_BIAS on the full list: count_of).
 * The second takes the objects of such slabs off the list and puts the
 * count back for the rest. An object past the part walked keeps its slab's
 * count above 0, and so does a free whose decrement is pending (this runs
 * in an interrupt handler that came between a free's push and its
 * decrement): such a slab is kept, never released too early.
 *
 * Context: on cpu, interrupts off (footprint_make_room, for the policy).
 */
unsigned slab_trim_cpu(struct kmem_cache *c, unsigned cpu, unsigned budget)
{
	struct kmem_cpu_objs *k = &c->cpu[cpu];
	struct kmem_cpu_slabs *own = &c->owned[cpu];
	slab_release_empty(c, own);
	unsigned walked = 0;
	for (void *o = k->freelist; o && walked < budget; o = (void *)meta_of(c, o)[0], walked++)
		slab_head_of(o)->slab_inuse--;
	struct page *unused = NULL;		/* off their lists, through ->next */
	void **pp = &k->freelist;
	for (unsigned i = 0; i < walked; i++) {
		void *o = *pp;
		struct page *head = slab_head_of(o);
		if (count_of(head) == 0) {
			if (head->slab_list != LIST_NONE) {
				list_del(own, head);
				head->next = unused;
				unused = head;
			}
			*pp = (void *)meta_of(c, o)[0];
		} else {
			head->slab_inuse++;
			pp = (void **)meta_of(c, o);
		}
	}
	while (unused) {
		struct page *head = unused;
		unused = head->next;
		slab_release(c, head);
	}
	return walked;
}


/* ---- debug caches (under the cache lock, counted exactly, owned[0]) ------ */

static void relist_locked(struct kmem_cache *c, struct page *head)
{
	struct kmem_cpu_slabs *own = &c->owned[0];
	unsigned want = list_for(c, (unsigned)head->slab_inuse);
	if (head->slab_list != want) {
		list_del(own, head);
		list_add(own, head, want);
	}
}

/* Take one object from slab `head`. Must hold c->lock. */
static void *debug_take_locked(struct kmem_cache *c, struct page *head)
{
	void *obj = head->slab_freelist;
	head->slab_freelist = (void *)meta_of(c, obj)[0];
	head->slab_inuse++;
	relist_locked(c, head);
	return obj;
}

/* Put obj back on its slab `head`. Return: the slab if it should now be
 * released (an empty slab beyond keep_empty), else NULL. Must hold c->lock. */
static struct page *debug_put_locked(struct kmem_cache *c, void *obj, struct page *head)
{
	struct kmem_cpu_slabs *own = &c->owned[0];
	meta_of(c, obj)[0] = (uint64_t)head->slab_freelist;
	head->slab_freelist = obj;
	head->slab_inuse--;
	relist_locked(c, head);
	if (head->slab_list == LIST_EMPTY && own->nr_slabs[LIST_EMPTY] > c->keep_empty) {
		list_del(own, head);
		return head;
	}
	return NULL;
}

/* ---- the slow paths -------------------------------------------------------- */

void *slab_alloc_slow(struct kmem_cache *c, unsigned flags)
{
	void *obj = NULL;

	if (!debug_cache(c)) {
		uint64_t irq = irq_save();
		unsigned cpu = cpu_id();
		struct kmem_cpu_objs *k = &c->cpu[cpu];
		for (;;) {
			/* An interrupt may have refilled the list before irq_save. */
			if (k->freelist) {
				obj = k->freelist;
				k->freelist = (void *)meta_of(c, obj)[0];
				break;
			}
			k->nkept = c->keep_on_refill;
			if (refill(c, cpu))
				continue;
			/* No slab has a free object: carve one, and take all of
			 * it. The page allocator may reclaim, which changes this
			 * CPU's part of c: so look again from the top. */
			footprint_make_room(c, cpu);
			struct page *head = slab_new(c, owner_tag(c, cpu));
			if (head)
				footprint_grown(cpu);
			if (!head) {
				/* Its reclaim may have taken back objects other
				 * CPUs freed into this CPU's slabs. */
				if (refill(c, cpu))
					continue;
				break;
			}
			take_empty(c, cpu, head);
		}
		irq_restore(irq);
		if (!obj)
			return NULL;
		meta_of(c, obj)[1] = 0;
	} else {
		/* Debug: straight from the slabs under the lock, checked. */
		uint64_t f = spin_lock_irqsave(&c->lock);
		struct kmem_cpu_slabs *own = &c->owned[0];
		struct page *head;
		for (;;) {
			head = own->lists[LIST_PARTIAL];
			if (!head)
				head = own->lists[LIST_EMPTY];
			if (!head) {
				spin_unlock_irqrestore(&c->lock, f);
				head = slab_new(c, OWNER_NONE);
				if (!head)
					return NULL;
				head->slab_freelist = link_all(c, head->slab_base, NULL);
				f = spin_lock_irqsave(&c->lock);
				list_add(own, head, LIST_EMPTY);
			}
			/* F: the entry the pop hands out and the one it leaves
			 * as the head, so that the list always starts sound. A
			 * rebuilt list is sound, or empty and the slab full. */
			if (!(c->flags & SLAB_CONSISTENCY) || slab_freelist_check_locked(c, head, 2))
				break;
			relist_locked(c, head);
		}
		obj = debug_take_locked(c, head);
		slab_debug_on_alloc(c, obj);
		meta_of(c, obj)[1] = 0;
		spin_unlock_irqrestore(&c->lock, f);
	}
	if (flags & KM_ZERO)
		memset(obj, 0, c->obj_size);
	return obj;
}

/* May a walk of a free list of c step onto f? Another CPU's private list
 * may change under the walk, and an object taken from it holds user data
 * where the next pointer was: so each step must be an object of c. */
static bool walkable(struct kmem_cache *c, void *f)
{
	struct page *pg = pmm_virt_to_page(&kernel_pmm, f);
	return pg && pg->slab_cache == c && slab_obj_start(pg, f);
}

bool slab_on_list(struct kmem_cache *c, void *f, void *obj, uint64_t max)
{
	for (; f && max && walkable(c, f); f = (void *)meta_of(c, f)[0], max--)
		if (f == obj)
			return true;
	return false;
}

/* Is obj free in c right now: on its slab's free list, a CPU free list, a
 * CPU's buffer toward other CPUs or a remote list? Must hold c->lock,
 * interrupts off. Exact while no other CPU uses c (another CPU's private
 * lists may change under the look). Used only to confirm a suspected
 * double free. */
static bool on_free_list_locked(struct kmem_cache *c, void *obj, struct page *head)
{
	if (slab_on_list(c, head->slab_freelist, obj, c->per_slab))
		return true;
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		struct kmem_cpu_objs *k = &c->cpu[cpu];
		if (slab_on_list(c, k->freelist, obj, slab_cpu_list_max(c, cpu)) ||
		    slab_on_list(c, c->owned[cpu].remote, obj, ~0ull))
			return true;
		for (unsigned i = 0; i < k->nout && i < REMOTE_MAX; i++)
			if (k->out[i] == obj)
				return true;
	}
	return false;
}

void slab_free_slow(struct kmem_cache *c, void *obj, struct page *pg)
{
	if (!c) {	/* kmem_cache_free(NULL, p) of a page no slab holds */
		kmem_cache_free_foreign(c, obj, pg);
		return;
	}
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

	struct page *head = head_of(pg);
	if (!debug_cache(c)) {
		/* Another CPU's slab, kfree of a constructed cache's object, or a
		 * set mark. Only a set mark needs the lock: every free object
		 * carries it, so without it obj is not free. */
		uint64_t irq = irq_save();
		if (is_free_marked(c, obj)) {
			uint64_t f = spin_lock_irqsave(&c->lock);
			bool twice = on_free_list_locked(c, obj, head);
			spin_unlock_irqrestore(&c->lock, f);
			if (twice) {
				irq_restore(irq);
				slab_report(c, obj, "double free");
				return;
			}
		}
		meta_of(c, obj)[1] = FREE_MARK;
		object_home(c, cpu_id(), obj);
		irq_restore(irq);
		return;
	}

	/* Debug cache: check, poison, record, and straight back to the slab,
	 * all under one hold of the lock. F walks the slab's list first, so
	 * that the look for a double free walks a sound one. */
	uint64_t f = spin_lock_irqsave(&c->lock);
	if ((c->flags & SLAB_CONSISTENCY) && !slab_freelist_check_locked(c, head, ~0u))
		relist_locked(c, head);
	if (is_free_marked(c, obj) && on_free_list_locked(c, obj, head)) {
		spin_unlock_irqrestore(&c->lock, f);
		slab_report(c, obj, "double free");
		return;
	}
	if ((c->flags & SLAB_RED_ZONE) && !slab_redzone_intact(c, obj)) {
		spin_unlock_irqrestore(&c->lock, f);
		slab_report(c, obj, "Right Redzone overwritten");
		f = spin_lock_irqsave(&c->lock);
		memset((uint8_t *)obj + c->obj_size, REDZONE_BYTE, REDZONE_BYTES);
	}
	if (c->flags & SLAB_CONSISTENCY) {
		slab_pad_check(c, obj);
		slab_tail_check(c, base);
	}
	if (c->flags & SLAB_POISON)
		memset(obj, POISON_FREE, c->obj_size);
	if (c->flags & SLAB_STORE_USER)
		slab_record(c, obj, TRACK_FREE);
	meta_of(c, obj)[1] = FREE_MARK;
	struct page *release = debug_put_locked(c, obj, head);
	spin_unlock_irqrestore(&c->lock, f);
	if (release)
		slab_release(c, release);
}

/* ---- for the cache lifecycle (mm/slab_cache.c) --------------------------------- */

void slab_cpu_flush(struct kmem_cache *c, unsigned cpu)
{
	cpu_list_home(c, cpu);
	if (c->cpu[cpu].nout)
		remote_flush(c, cpu);
}

void slab_cpu_collect(struct kmem_cache *c, unsigned cpu)
{
	collect_remote(c, cpu);
	slab_release_empty(c, &c->owned[cpu]);
}

void kmem_cache_free_foreign(struct kmem_cache *c, void *p, struct page *pg)
{
	slab_report(c, NULL, "kmem_cache_free of 0x%llx, which belongs to %s", (unsigned long long)p,
		    pg && pg->slab_cache ? pg->slab_cache->name : "no cache");
}

uint64_t slab_in_use_locked(struct kmem_cache *c)
{
	uint64_t inuse = 0;
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		struct kmem_cpu_slabs *own = &c->owned[cpu];
		struct kmem_cpu_objs *k = &c->cpu[cpu];
		inuse += (uint64_t)own->nr_slabs[LIST_FULL] * c->per_slab;
		for (struct page *h = own->lists[LIST_FULL]; h; h = h->next)
			inuse -= c->per_slab - count_of(h);	/* frees whose decrement is pending */
		for (struct page *h = own->lists[LIST_PARTIAL]; h; h = h->next)
			inuse += count_of(h);
		uint64_t max = slab_cpu_list_max(c, cpu);
		for (void *o = k->freelist; o && max && walkable(c, o); o = (void *)meta_of(c, o)[0], max--)
			inuse--;
		inuse -= k->nout + own->nremote;
	}
	return inuse;
}
