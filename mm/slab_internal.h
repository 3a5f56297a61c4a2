/*
 * mm/slab_internal.h - what mm/slab.c (object caches), mm/kmalloc.c (the
 * size classes on top) and mm/slab_fast.c (the entry points' fast paths)
 * share: the cache structure, object geometry, and the per-CPU magazine
 * fast paths, inline so that kmalloc and kfree pay no call for them. Users
 * include mm/slab.h instead.
 */
#ifndef MM_SLAB_INTERNAL_H
#define MM_SLAB_INTERNAL_H

#include "mm/slab.h"
#include "kernel/percpu.h"
#include "kernel/restart.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/layout.h"
#include "mm/pmm.h"

#include "kernel/x86.h"

#define MAG_MAX		32		/* objects a CPU magazine can hold */
/* ...but no more than this many bytes of them (and at least 2): a magazine's
 * objects are free memory that no other cache can use, and a magazine
 * reused LIFO keeps refilling the slabs its objects came from. 4 KiB keeps
 * 32 for classes up to 128 B and gives those from 1.5 KiB up 2. */
#define MAG_BYTES	(4 * 1024)
/* Empty slabs a cache keeps in reserve (hysteresis, so that a cache at a
 * slab boundary does not allocate and free a block on every other call, and
 * a recent double free is still found on its slab's free list) - but only
 * a cache of small objects, at least this many to a slab, or a debug cache.
 * An empty slab of large objects is memory every other class lacks at its
 * peak, and their magazines already spare most trips to the page allocator. */
#define SLAB_KEEP_EMPTY	1
#define KEEP_EMPTY_MIN_OBJS	16
/* A magazine this small (objects of 512 B and up) chooses which objects a
 * flush returns (mm/slab.c: mag_flush). */
#define FLUSH_CHOOSE_CAP	8
#define SLAB_MAX_ORDER	3		/* slabs are at most 32 KiB */
#define TRACK_DEPTH	6		/* frames kept per allocation/free (U) */

/* Named bytes, chosen as Linux's so that a dump reads the same. */
#define POISON_FREE	0x6b	/* a freed object's bytes (P) */
#define REDZONE_BYTE	0xbb	/* the guard after an object (Z) */
#define REDZONE_BYTES	16

/* Word 1 of a free object's metadata. A set mark only makes a double free
 * suspected: the slow path confirms it by finding the object on a free
 * list, so user data (or a stale copy) that matches by chance costs one
 * locked look-up, never a false report. It is a sign-extended 32-bit
 * immediate, so that the fast paths compare and store it in one
 * instruction each; as an address it lies in the top GiB, which nothing
 * maps (mm/layout.h), so it rarely matches a pointer by chance. */
#define FREE_MARK	0xfffffffff4eec0deull

/* A cache's slab lists. Partial slabs are kept in PARTIAL_BUCKETS lists by
 * how full they are (LIST_PARTIAL + 0: the emptiest), so that refills take
 * from the fullest and the sparsest are left to drain and be released -
 * in caches of at most SORT_PARTIAL_MAX_OBJS objects to a slab. Where a
 * slab holds more, its objects are small and their slabs' sorting saved no
 * measurable footprint (make bench), while moving a slab between lists
 * every few frees cost time; those caches use LIST_PARTIAL alone. */
#define PARTIAL_BUCKETS	8
#define SORT_PARTIAL_MAX_OBJS	16
enum { LIST_NONE, LIST_FULL, LIST_EMPTY, LIST_PARTIAL, NR_LISTS = LIST_PARTIAL + PARTIAL_BUCKETS };

struct magazine {
	unsigned count;
	void *objs[MAG_MAX];
} __attribute__((aligned(64)));	/* one CPU's, away from the others' lines */

struct kmem_cache {
	/* First, so that CPU 0's magazine is at the cache's own address and
	 * the fast paths need no add to find it. */
	struct magazine mag[MAX_CPUS];	/* each: its CPU (restartable sequences) */

	const char *name;
	size_t size;			/* as asked */
	size_t obj_size;		/* size rounded to the alignment */
	size_t stride;			/* object + red zone + metadata + tracks */
	size_t meta;			/* offset of the free pointer and mark */
	unsigned flags;			/* SLAB_* debug letters */
	unsigned order;			/* slab block order */
	unsigned per_slab;
	unsigned mag_cap;		/* magazine capacity, <= MAG_MAX; 0 when debugging */
	unsigned batch;			/* objects moved per refill / flush */
	uint32_t objs_end;		/* per_slab * stride: where a slab's tail starts */
	uint64_t div_magic;		/* ceil(2^64 / stride): offset -> index (obj_index) */
	unsigned keep_empty;		/* empty slabs kept: SLAB_KEEP_EMPTY or 0 */
	uint64_t bucket_mul;		/* ceil(PARTIAL_BUCKETS * 2^24 / (per_slab - 1)), or 0 */
	void (*ctor)(void *);

	struct spinlock lock;
	struct page *lists[NR_LISTS];	/* lock: slab heads by LIST_*; [0] unused */
	uint64_t nr_slabs[NR_LISTS];	/* lock */
	uint64_t slab_inuse;		/* lock: objects out of slabs (in magazines too) */

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

/* The head page of the slab holding addr, whose page is pg: pg less its
 * page's offset in the slab (no second look-up in the page database). */
static inline struct page *head_of(struct page *pg, const void *addr)
{
	return pg - (((uintptr_t)addr - (uintptr_t)pg->slab_base) >> PAGE_SHIFT);
}

static inline uint64_t *meta_of(const struct kmem_cache *c, void *obj)
{
	return (uint64_t *)((uint8_t *)obj + c->meta);
}

static inline struct track *tracks_of(const struct kmem_cache *c, void *obj)
{
	return (struct track *)((uint8_t *)meta_of(c, obj) + 16);
}

/*
 * Offset -> object, without dividing: with M = ceil(2^64 / stride), for any
 * off < 2^32 the high half of off * M is off / stride, and the low half is
 * below M exactly when stride divides off (Lemire, Kaser and Kurz, "Faster
 * remainder by direct computation", 2019). Slabs are at most 32 KiB.
 */
static inline uint64_t obj_index(const struct kmem_cache *c, uint64_t off)
{
	return (uint64_t)(((unsigned __int128)off * c->div_magic) >> 64);
}

/* Is off (from the slab's base) the start of one of its objects? */
static inline bool obj_start(const struct kmem_cache *c, uint64_t off)
{
	return off < c->objs_end && off * c->div_magic < c->div_magic;
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

__attribute__((noinline)) void kmem_cache_free_foreign(struct kmem_cache *c, void *p,
							struct page *pg);

/* ---- mm/kmalloc.c, for mm/slab.c and mm/slab_fast.c ---- */

#define KMALLOC_SMALL_MAX	1024	/* sizes up to this are looked up by 16 B steps */
extern struct kmem_cache *kmalloc_class_small[KMALLOC_SMALL_MAX / 16 + 1];
extern struct kmem_cache *kmalloc_class_large[KMALLOC_MAX_CACHE / 128 + 1];

void kmalloc_init(unsigned debug_flags);
__attribute__((noinline)) void *kmalloc_large_alloc(size_t n, unsigned flags);
void kfree_large(struct page *pg, void *p);
__attribute__((noinline)) void kfree_unowned(void *p);
__attribute__((noinline)) void kfree_slow(void *p, struct page *pg);

/* ---- the fast paths ----
 *
 * A magazine push or pop is a restartable sequence (kernel/restart.h): the
 * store of the new count commits it, and an interrupt that lands before
 * the commit sends it back to its start. So it needs no lock, no atomic
 * instruction and no interrupt masking, and an interrupt handler may
 * allocate and free in the middle of it. Debug caches have no magazine
 * capacity (mag_cap 0, count always 0), so both sequences send them to the
 * slow paths, which check everything under the lock; so does kmalloc_large.
 * A failed fast path ends in a tail call, so kmalloc and kfree stay leaf
 * functions without a frame of their own.
 */

/*
 * Pop an object off this CPU's magazine of c and clear its free mark, or
 * take the slow path. meta: c->meta, passed as a constant by callers that
 * know it (kmalloc's caches keep metadata at 0 unless debugging, and debug
 * caches never get past the pop).
 */
static inline __attribute__((always_inline)) void *cache_alloc(struct kmem_cache *c,
							       unsigned flags, size_t meta)
{
	/* The CPU is read outside the sequence: right while it cannot change
	 * under it (one CPU, no preemption: kernel/percpu.h). */
	struct magazine *m = &c->mag[cpu_id()];
	void *obj;
	uint64_t n;

	/* n = count - 1 borrows (CF) when the magazine is empty. */
	__asm__ volatile goto("1:\n\t"
			      "movl %[count], %k[n]\n\t"
			      "subl $1, %k[n]\n\t"
			      "jb %l[slow]\n\t"
			      "movq %c[objs](%[m], %[n], 8), %[obj]\n\t"
			      "movl %k[n], %[count]\n"		/* commit */
			      "2:\n\t"
			      RESTART_SEQ("1b", "2b")
			      : [obj] "=&r"(obj), [n] "=&r"(n), [count] "+m"(m->count)
			      : [m] "r"(m),
				[objs] "i"(__builtin_offsetof(struct magazine, objs))
			      : "cc", "memory"
			      : slow);
	((uint64_t *)((uint8_t *)obj + meta))[1] = 0;
	if (flags & KM_ZERO)
		return memset(obj, 0, c->obj_size);
	return obj;
slow:
	return slab_alloc_slow(c, flags);
}

/* Is obj the start of an object in slab page pg? False on every page that
 * is no slab's (their slab_objs_end is 0), and for large kmalloc blocks. */
static inline __attribute__((always_inline)) bool slab_obj_start(const struct page *pg,
								  const void *obj)
{
	/* Integers, not pointers: slab_base is NULL on other pages. (uint32_t):
	 * a slab is at most 32 KiB, so off is exact on slab pages. */
	uint64_t off = (uintptr_t)obj - (uintptr_t)pg->slab_base;
	return (uint32_t)off < pg->slab_objs_end && off * pg->slab_div_magic < pg->slab_div_magic;
}

/*
 * Push obj, an object start of a slab of c, on this CPU's magazine and set
 * its free mark. Return: false when it carries the mark already (a likely
 * double free) or the magazine is full; the caller then takes the slow
 * path. The mark is set inside the sequence, before the commit: once in the
 * magazine the object may be handed out again by an interrupt, which must
 * find it marked. (So a sequence restarted after setting it, that then
 * finds the magazine full, hands the slow path a marked object: that costs
 * the slow path one locked look-up, which does not find it on a free list.)
 */
static inline __attribute__((always_inline)) bool cache_free_fast(struct kmem_cache *c, void *obj)
{
	struct magazine *m = &c->mag[cpu_id()];
	uint64_t meta = c->meta, n;

	if (__builtin_expect(*(uint64_t *)((uint8_t *)obj + meta + 8) == FREE_MARK, 0))
		return false;
	__asm__ volatile goto("1:\n\t"
			      "movl %[count], %k[n]\n\t"
			      "cmpl %[cap], %k[n]\n\t"
			      "jae %l[full]\n\t"
			      "movq %[obj], %c[objs](%[m], %[n], 8)\n\t"
			      "movq %[markv], 8(%[obj], %[meta])\n\t"
			      "incl %k[n]\n\t"
			      "movl %k[n], %[count]\n"		/* commit */
			      "2:\n\t"
			      RESTART_SEQ("1b", "2b")
			      : [n] "=&r"(n), [count] "+m"(m->count)
			      : [m] "r"(m), [obj] "r"(obj), [meta] "r"(meta), [cap] "m"(c->mag_cap),
				[markv] "e"(FREE_MARK),
				[objs] "i"(__builtin_offsetof(struct magazine, objs))
			      : "cc", "memory"
			      : full);
	return true;
full:
	return false;
}

#endif
