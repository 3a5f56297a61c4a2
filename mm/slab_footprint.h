/*
 * mm/slab_footprint.h - the heap's footprint policy (mm/slab_footprint.c):
 * how far each CPU's slabs grow, and how much they keep idle. Private to
 * the heap; mm/slab.c is its caller.
 *
 * The interface, both ways:
 *   mm/slab.c tells the policy what its slabs do: footprint_count (a slab
 *   made or released), footprint_count_empty (a slab on or off an empty
 *   list), footprint_grown (a CPU made a slab), footprint_reset
 *   (kmem_reclaim ran); asks it footprint_keeps_empty (keep an emptied
 *   slab?) and footprint_make_room (before a new slab); and calls
 *   footprint_set_bounds_locked when the list of caches changes.
 *   The policy asks mm/slab.c (mm/slab_internal.h) for slab_trim_cpu (give
 *   back the slabs only a CPU's free list holds) and
 *   slab_cache_move_last_locked, and walks the list of caches; it sets each
 *   cache's keep_below and keep_empty.
 *   footprint_bounds reports the bounds (kmem_dump, tests).
 */
#ifndef MM_SLAB_FOOTPRINT_H
#define MM_SLAB_FOOTPRINT_H

#include "mm/slab_internal.h"

/* Empty slabs a debug cache keeps (slab_cache_setup). Other caches' come
 * from the idle bounds: see mm/slab_footprint.c. */
#define SLAB_KEEP_EMPTY	1
/* What one footprint_make_room call may spend, in CPU-list objects looked
 * at, so that it keeps interrupts off for a bounded time. */
#define TRIM_BUDGET	4096

/* cpu's slabs of c grew (slabs > 0) or shrank by `slabs` slabs. */
void footprint_count(const struct kmem_cache *c, unsigned cpu, int slabs);
/* cpu's empty slabs of c (on its empty list) grew or shrank by `slabs`. */
void footprint_count_empty(const struct kmem_cache *c, unsigned cpu, int slabs);
/* May cpu keep one more empty slab of c? */
bool footprint_keeps_empty(const struct kmem_cache *c, unsigned cpu);
/* Set every cache's keep_below and keep_empty from the idle bounds, for
 * the caches on the list now. Must hold slab_caches_lock. */
void footprint_set_bounds_locked(void);
/* cpu made a slab: its peak and footprint_make_room's credit follow. */
void footprint_grown(unsigned cpu);
/* kmem_reclaim ran on cpu (and set-up): the peak is what its slabs hold. */
void footprint_reset(unsigned cpu);
/* Before cpu makes a new slab of c: give other caches' idle slabs back
 * first if the new one would take cpu past its peak. */
void footprint_make_room(struct kmem_cache *c, unsigned cpu);

/* The idle bounds in force, per CPU (kmem_dump and tests). */
struct footprint_bounds {
	uint64_t per_cache;	/* one cache, all it keeps */
	uint64_t total;		/* every cache and the page allocator's CPU cache */
	uint64_t empty_pool;	/* of total: the empty slabs of every cache */
	uint64_t kept_share;	/* of total: each cache's kept objects, at most this */
	uint64_t kept_objs;	/* plus this many objects */
	uint64_t room;		/* of total: what refills may leave, and the page cache */
};
void footprint_bounds(struct footprint_bounds *out);

#endif
