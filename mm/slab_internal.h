/*
 * mm/slab_internal.h - what mm/slab.c (object caches) and mm/kmalloc.c (the
 * size classes on top) share: the cache structure, object geometry, and the
 * per-CPU magazine fast paths, inline so that kmalloc and kfree pay no call
 * for them. Users include mm/slab.h instead.
 */
#ifndef MM_SLAB_INTERNAL_H
#define MM_SLAB_INTERNAL_H

#include "mm/slab.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/layout.h"
#include "mm/pmm.h"

#include "kernel/x86.h"

#define MAG_MAX		32		/* objects a CPU magazine can hold */
#define MAG_BYTES	(8 * 1024)	/* ...but no more than this many bytes of them */
#define SLAB_KEEP_EMPTY	1		/* empty slabs a cache keeps in reserve */
#define SLAB_MAX_ORDER	3		/* slabs are at most 32 KiB */
#define TRACK_DEPTH	6		/* frames kept per allocation/free (U) */

/* Named bytes, chosen as Linux's so that a dump reads the same. */
#define POISON_FREE	0x6b	/* a freed object's bytes (P) */
#define REDZONE_BYTE	0xbb	/* the guard after an object (Z) */
#define REDZONE_BYTES	16

/* Word 1 of a free object's metadata. A set mark only makes a double free
 * suspected: the slow path confirms it by finding the object on a free
 * list, so user data (or a stale copy) that matches by chance costs one
 * locked look-up, never a false report. */
#define FREE_MARK	0x5ab1f4eec0ffee00ull

enum { LIST_NONE, LIST_PARTIAL, LIST_FULL, LIST_EMPTY };

struct magazine {
	unsigned count;
	void *objs[MAG_MAX];
} __attribute__((aligned(64)));	/* one CPU's, away from the others' lines */

struct kmem_cache {
	const char *name;
	size_t size;			/* as asked */
	size_t obj_size;		/* size rounded to the alignment */
	size_t stride;			/* object + red zone + metadata + tracks */
	size_t meta;			/* offset of the free pointer and mark */
	unsigned flags;			/* SLAB_* debug letters */
	unsigned order;			/* slab block order */
	unsigned per_slab;
	unsigned mag_cap;		/* magazine capacity, <= MAG_MAX */
	unsigned batch;			/* objects moved per refill / flush */
	uint64_t recip;			/* ceil(2^32 / stride): offset -> index */
	void (*ctor)(void *);

	struct spinlock lock;
	struct page *lists[4];		/* lock: slab heads by LIST_*; [0] unused */
	uint64_t nr_slabs[4];		/* lock */
	uint64_t slab_inuse;		/* lock: objects out of slabs (in magazines too) */

	struct magazine mag[MAX_CPUS];	/* each: its CPU, interrupts off */
	struct kmem_cache *next;	/* caches_lock */
};

struct track {
	uint64_t pcs[TRACK_DEPTH];
	unsigned n;
};

/* Marks the pages of a kmalloc too large for the classes (mm/kmalloc.c). Its
 * flags are non-zero so that kfree's fast path sends it to the slow path. */
#define SLAB_LARGE	(1u << 31)
extern struct kmem_cache kmalloc_large;

/* ---- geometry ---- */

static inline uint8_t *slab_base_of(const struct page *pg) { return pg->slab_base; }

static inline struct page *head_of(const struct page *pg)
{
	return pmm_virt_to_page(&kernel_pmm, pg->slab_base);
}

static inline uint64_t *meta_of(const struct kmem_cache *c, void *obj)
{
	return (uint64_t *)((uint8_t *)obj + c->meta);
}

static inline struct track *tracks_of(const struct kmem_cache *c, void *obj)
{
	return (struct track *)((uint8_t *)meta_of(c, obj) + 16);
}

/* Index of the object at offset off in its slab; exact for off < 2^17. */
static inline uint64_t obj_index(const struct kmem_cache *c, uint64_t off)
{
	return (off * c->recip) >> 32;
}

static inline bool is_free_marked(const struct kmem_cache *c, void *obj)
{
	return meta_of(c, obj)[1] == (FREE_MARK);
}

/* ---- mm/slab.c, for mm/kmalloc.c ---- */

void slab_cache_setup(struct kmem_cache *c, const char *name, size_t size, size_t align,
		      unsigned flags, void (*ctor)(void *));
void slab_cache_link(struct kmem_cache *c);
void slab_report(const struct kmem_cache *c, void *obj, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
__attribute__((noinline)) void *slab_alloc_slow(struct kmem_cache *c, unsigned flags);
__attribute__((noinline)) void slab_free_slow(struct kmem_cache *c, void *obj, struct page *pg);

/* ---- mm/kmalloc.c, for mm/slab.c ---- */

void kmalloc_init(unsigned debug_flags);
void kfree_large(struct page *pg, void *p);

/* ---- the fast paths ---- */

static inline __attribute__((always_inline)) void *cache_alloc(struct kmem_cache *c, unsigned flags)
{
	if (__builtin_expect(!c->flags, 1)) {
		uint64_t irq = irq_save();
		struct magazine *m = &c->mag[cpu_id()];
		if (__builtin_expect(m->count != 0, 1)) {
			void *obj = m->objs[--m->count];
			irq_restore(irq);
			meta_of(c, obj)[1] = 0;
			if (flags & KM_ZERO)
				memset(obj, 0, c->obj_size);
			return obj;
		}
		irq_restore(irq);
	}
	return slab_alloc_slow(c, flags);
}

/*
 * The object obj (known to be in a slab page pg of cache c) freed through
 * the magazine when it is a plain object start with no free mark; anything
 * else takes the slow path, which checks and reports.
 */
static inline __attribute__((always_inline)) void cache_free(struct kmem_cache *c, void *obj,
							     struct page *pg)
{
	uint64_t off = (uint64_t)((uint8_t *)obj - slab_base_of(pg));
	uint64_t idx = obj_index(c, off);
	if (__builtin_expect(!c->flags && idx < c->per_slab && idx * c->stride == off &&
			     !is_free_marked(c, obj), 1)) {
		meta_of(c, obj)[1] = FREE_MARK;
		uint64_t irq = irq_save();
		struct magazine *m = &c->mag[cpu_id()];
		if (__builtin_expect(m->count < c->mag_cap, 1)) {
			m->objs[m->count++] = obj;
			irq_restore(irq);
			return;
		}
		irq_restore(irq);
		meta_of(c, obj)[1] = 0;		/* free_slow sets it again */
	}
	slab_free_slow(c, obj, pg);
}

#endif
