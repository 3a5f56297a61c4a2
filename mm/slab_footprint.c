/*
 * mm/slab_footprint.c - the heap's footprint policy: how far each CPU's
 * slabs grow and how much they keep idle. Policy only: mm/slab.c makes,
 * lists and releases the slabs, tells this file (mm/slab_footprint.h)
 * what they do and asks it what to keep.
 *
 * Growth: the bytes each CPU's slabs hold, the most they have held, and
 * footprint_make_room, which gives the slabs only the CPU lists hold to a
 * cache that needs one before the heap grows past that most (see the top
 * of mm/slab.c for the heap, and KEEP_FREED_BYTES below for what this
 * lets the CPU lists keep).
 *
 * Idle memory is what stays free but out of the page allocator's buddy
 * lists: free objects on CPU lists, kept empty slabs, and the page
 * allocator's per-CPU cached pages. With RAM the memory the page
 * allocator manages, once everything is freed:
 *   1. one cache keeps at most max(64 KiB, RAM/128) per CPU;
 *   2. every cache and the page allocator's CPU caches together keep at
 *      most RAM/32, summed over the CPUs.
 * Both hold by construction, with no cost on the fast paths
 * (footprint_set_bounds_locked):
 *   - a CPU list holds at most what its last refill left (fewer than
 *     batch + per_slab objects: the refill's room) plus keep_below more
 *     kept objects (cache_free_fast keeps one into an empty list);
 *   - the page allocator's CPU cache holds at most PMM_CACHE_HIGH pages;
 *   - from what total (2) leaves after every cache's room, the page cache
 *     and the debug caches' one empty slab each, an eighth is a pool for
 *     the empty slabs of every cache (counted exactly, as slabs enter and
 *     leave the empty lists: footprint_keeps_empty), and the rest is each
 *     cache's share of kept objects (keep_below): half of it split evenly
 *     in bytes, half in objects, so that a cache of large objects can keep
 *     some and one of small objects does not keep thousands it rarely
 *     needs;
 *   - within (1), a cache's empty slabs take at most a quarter, and its
 *     kept objects what its room and empty slabs leave.
 * The bounds are set when a cache joins or leaves the list of caches. If
 * the rooms alone pass (2) (very little RAM, or very many caches), every
 * cache keeps at least one object and no empty slab; kmem_dump prints the
 * bounds.
 *
 * Context: the owner CPU with interrupts off (slab_alloc_slow,
 * kmem_reclaim), but for footprint_count and footprint_count_empty, which
 * kmem_cache_destroy calls for every CPU's slabs (atomic adds), and
 * footprint_set_bounds_locked and footprint_bounds, under or taking
 * slab_caches_lock.
 */
#include "mm/slab_footprint.h"

/* Empty slabs a CPU keeps, rather than giving them back to the page
 * allocator at once (hysteresis: a cache at a slab boundary does not
 * allocate and free a block on every other call, a cache that works in
 * batches does not cut up its slabs again for each, and a recent double
 * free is still found on its slab's free list). A cache of small objects
 * keeps some, up to KEEP_EMPTY_BYTES and the idle bounds; a debug cache
 * keeps SLAB_KEEP_EMPTY; a cache of large objects none: its empty slab is
 * memory every other class lacks at its peak. kmem_reclaim gives them all
 * back when the page allocator runs short. */
#define KEEP_EMPTY_BYTES	(2 * 1024 * 1024)
/* A CPU keeps objects freed into full slabs on its own free list (counted
 * since the list was last empty) rather than moving the slab to the partial
 * list (cache_free_fast): objects of full slabs are the best to hand out
 * again, and a free or allocation that stays on the CPU list costs no list
 * move. A cache of large objects (fewer than SMALL_SLAB_OBJS to a slab)
 * keeps them even while the list holds a refill's objects. How many: the
 * cache's share of the idle bounds, and at most this many bytes; more buys
 * little speed and raises the heap's peak, since a kept object's slab
 * stays out of every other cache's reach until footprint_make_room trims
 * it. */
#define KEEP_FREED_BYTES	(256 * 1024)
/* What each new slab adds to a CPU's credit, up to TRIM_BUDGET, and what
 * looking at a cache costs it: footprint_make_room says why its walks are
 * paid for by the slabs made. */
#define TRIM_CREDIT	64
#define TRIM_VISIT	1

/* The bytes of slabs each CPU owns in caches without debugging, and the
 * most they have been since kmem_reclaim last ran there. Bytes change by
 * atomic adds (kmem_cache_destroy releases every CPU's empty slabs); the
 * rest only on its CPU. */
static struct cpu_footprint {
	uint64_t bytes;
	uint64_t peak;
	uint64_t empty;		/* of bytes: its kept empty slabs */
	unsigned credit;	/* footprint_make_room's to spend: see there */
} footprint[MAX_CPUS];

static struct footprint_bounds bounds;	/* slab_caches_lock */

/* The most a refill of c leaves on a CPU list, and the one object a keep
 * into an empty list adds (bytes). */
static uint64_t refill_room(const struct kmem_cache *c)
{
	return (uint64_t)(c->batch + c->per_slab) * c->stride;
}

void footprint_set_bounds_locked(void)
{
	uint64_t ram = kernel_pmm.total_pages * PAGE_SIZE;
	struct footprint_bounds b = {
		.per_cache = ram / 128 > 64 * 1024 ? ram / 128 : 64 * 1024,
		.total = ram / 32 / cpus_online(),
		.room = PMM_CACHE_HIGH * PAGE_SIZE,
	};
	unsigned n = 0;
	uint64_t strides = 0;
	for (struct kmem_cache *x = slab_caches; x; x = x->next) {
		if (debug_cache(x)) {
			b.room += SLAB_KEEP_EMPTY * slab_bytes(x);
		} else {
			b.room += refill_room(x);
			strides += x->stride;
			n++;
		}
	}
	uint64_t spare = b.total > b.room ? b.total - b.room : 0;
	b.empty_pool = spare / 8;
	uint64_t kept_all = spare - b.empty_pool;
	b.kept_share = n ? kept_all / 2 / n : 0;
	b.kept_objs = strides ? (kept_all - kept_all / 2) / strides : 0;
	for (struct kmem_cache *x = slab_caches; x; x = x->next) {
		if (debug_cache(x))
			continue;
		uint64_t empties = 0;
		if (x->per_slab >= SMALL_SLAB_OBJS)
			empties = (b.per_cache / 4 < KEEP_EMPTY_BYTES ? b.per_cache / 4 : KEEP_EMPTY_BYTES) /
				  slab_bytes(x);
		uint64_t used = refill_room(x) + empties * slab_bytes(x);
		uint64_t kept = b.per_cache > used ? b.per_cache - used : 0;
		uint64_t share = b.kept_share + b.kept_objs * x->stride;
		kept = kept < share ? kept : share;
		kept = kept < KEEP_FREED_BYTES ? kept : KEEP_FREED_BYTES;
		x->keep_below = (unsigned)(kept / x->stride);
		x->keep_empty = (unsigned)empties;
	}
	bounds = b;
}

void footprint_bounds(struct footprint_bounds *out)
{
	uint64_t f = spin_lock_irqsave(&slab_caches_lock);
	*out = bounds;
	spin_unlock_irqrestore(&slab_caches_lock, f);
}

void footprint_count_empty(const struct kmem_cache *c, unsigned cpu, int slabs)
{
	if (!debug_cache(c))
		__atomic_fetch_add(&footprint[cpu].empty, (uint64_t)(int64_t)slabs * slab_bytes(c),
				   __ATOMIC_RELAXED);
}

bool footprint_keeps_empty(const struct kmem_cache *c, unsigned cpu)
{
	return c->owned[cpu].nr_slabs[LIST_EMPTY] < c->keep_empty &&
	       footprint[cpu].empty + slab_bytes(c) <= bounds.empty_pool;
}

void footprint_count(const struct kmem_cache *c, unsigned cpu, int slabs)
{
	if (!debug_cache(c))
		__atomic_fetch_add(&footprint[cpu].bytes, (uint64_t)(int64_t)slabs * slab_bytes(c),
				   __ATOMIC_RELAXED);
}

void footprint_grown(unsigned cpu)
{
	struct cpu_footprint *h = &footprint[cpu];
	h->peak = h->bytes > h->peak ? h->bytes : h->peak;
	h->credit = h->credit + TRIM_CREDIT < TRIM_BUDGET ? h->credit + TRIM_CREDIT : TRIM_BUDGET;
}

void footprint_reset(unsigned cpu)
{
	footprint[cpu].peak = footprint[cpu].bytes;
	footprint[cpu].credit = TRIM_BUDGET;
}

/*
 * Before cpu makes a new slab of c: if that would take cpu's slabs past the
 * most they have held, first release the unused slabs other caches hold on
 * cpu (slab_trim_cpu), until the new slab fits under that peak. So the free
 * lists may keep many objects (KEEP_FREED_BYTES), which makes most frees
 * and allocations fast-path ones, without raising the heap's peak: memory
 * one cache keeps idle goes to another before the heap grows.
 *
 * The walks are paid for by the slabs made: each new slab adds TRIM_CREDIT
 * to the CPU's credit, up to TRIM_BUDGET, and a call spends it, one for
 * each object looked at and TRIM_VISIT for each cache. So a call keeps
 * interrupts off for a bounded time, and a heap that must grow while its
 * lists hold nothing to release (objects of slabs in use, or nothing) pays
 * a bounded price per slab rather than a look at every cache and list. A
 * cache is passed over while the credit is short of a slab's objects (the
 * credit saves up for it), and one whose list the credit ran out in goes
 * to the end of the list of caches, so that a long list of objects in use
 * does not take every call's credit from the caches after it. Skipped
 * when another CPU holds the list of caches.
 */
void footprint_make_room(struct kmem_cache *c, unsigned cpu)
{
	struct cpu_footprint *h = &footprint[cpu];
	uint64_t need = slab_bytes(c);
	if (h->bytes + need <= h->peak || spin_is_locked(&slab_caches_lock))
		return;
	uint64_t f = spin_lock_irqsave(&slab_caches_lock);
	struct kmem_cache *cut = NULL;	/* its list goes on past the credit */
	/* Caches of large objects first: their lists are short, and what
	 * they keep is most often whole slabs. (The list of caches holds the
	 * kmalloc classes smallest first, but for the moves below.) */
	for (int large = 1; large >= 0; large--) {
		for (struct kmem_cache *x = slab_caches; x; x = x->next) {
			if (x == c || debug_cache(x) || (x->per_slab < SMALL_SLAB_OBJS) != large)
				continue;
			if (h->credit < TRIM_VISIT)
				goto done;
			h->credit -= TRIM_VISIT;
			/* Less credit than a slab's objects releases little:
			 * save it up for a later call. */
			if (!x->owned[cpu].slabs || h->credit < x->per_slab)
				continue;
			unsigned walked = slab_trim_cpu(x, cpu, h->credit);
			if (walked == h->credit)
				cut = x;
			h->credit -= walked;
			if (h->bytes + need <= h->peak)
				goto done;
		}
	}
done:
	/* The next call starts past a list the credit ran out in, so that
	 * one list of objects in use does not take every call's credit. */
	if (cut)
		slab_cache_move_last_locked(cut);
	spin_unlock_irqrestore(&slab_caches_lock, f);
}
