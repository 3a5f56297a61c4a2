/*
 * mm/slab_internal.h - the heap's private header: the structures its files
 * share, their invariants, object geometry, and the functions of its core,
 * mm/slab.c, that the other files call. The heap's files:
 *   mm/slab.c            caches, slabs and their lists, the slow paths
 *   mm/slab_fast.c       the fast paths: kmalloc, kfree, kmem_cache_alloc
 *                        and kmem_cache_free
 *   mm/kmalloc.c         size classes and large blocks (mm/kmalloc.h)
 *   mm/slab_footprint.c  how far each CPU's slabs grow, what they keep idle
 *                        (mm/slab_footprint.h)
 *   mm/slab_debug.c      misuse reports, slab_debug= (mm/slab_debug.h)
 *   mm/slab_check.c      statistics, kmem_dump, the verifier
 * Each of the others' interface to the rest is the header next to it.
 * Users include mm/slab.h instead; only the heap's files and white-box
 * tests include this.
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

/* Objects freed on one CPU into slabs another CPU owns wait in the freeing
 * CPU's buffer of this many, then go to their owners' remote lists in one
 * hold of the cache lock. 14: struct kmem_cpu_objs is then 128 bytes, so
 * that finding a CPU's part of a cache is a shift. */
#define REMOTE_MAX	14
/* A cache with at least this many objects to a slab is one of small
 * objects; with fewer, one of large objects. */
#define SMALL_SLAB_OBJS	16
#define SLAB_MAX_ORDER	3		/* 32 KiB, unless one object needs more */
#define TRACK_DEPTH	6		/* frames kept per allocation/free (U) */

/* A slab's owner (struct page slab_owner): the CPU whose fast paths free
 * into it (with OWNER_META for a constructed cache, below), or this for a
 * debug cache's slabs, which every CPU frees through the slow path: the tag
 * CPU 63 would have, and no CPU has (MAX_CPUS < OWNER_FULL). */
#define OWNER_NONE	0xbf
/* ORed into a slab's owner byte while the slab is on the full list, so that
 * the free fast path's one owner test also sends frees into full slabs
 * aside, to be kept on the CPU's free list (mm/slab_fast.c:
 * cache_free_fast). */
#define OWNER_FULL	0x40
/* ORed into the owner byte of the slabs of caches whose metadata is not at
 * offset 0 (constructed caches), so that kfree's fast path, which assumes
 * 0, sends them to the slow path. */
#define OWNER_META	0x80
/* Below the flags, and never CPU 63, whose tag OWNER_NONE is. */
_Static_assert(MAX_CPUS < OWNER_FULL, "a CPU number must fit below the owner byte's flags");
/* What a slab's count in use (struct page slab_inuse) is lowered by while
 * the slab is full (on its owner's full list), so that the free fast path's
 * decrement leaves it negative and takes the slow path, which moves the
 * slab to the partial list (mm/slab.c: slab_settle) when the free was not
 * kept (cache_free_fast). */
#define FULL_BIAS	0x40000000

/* Named bytes, chosen as Linux's so that a dump reads the same. */
#define POISON_FREE	0x6b	/* a freed object's bytes (P) */
#define REDZONE_BYTE	0xbb	/* the guard after an object (Z) */
#define PAD_BYTE	0x5a	/* a debug slab's bytes no object owns (F) */
#define REDZONE_BYTES	16

/* Word 1 of a free object's metadata. A set mark only makes a double free
 * suspected: the slow path confirms it by finding the object on a free
 * list, so user data (or a stale copy) that matches by chance costs one
 * locked look-up, never a false report. It is a sign-extended 32-bit
 * immediate, so that the fast paths compare and store it in one
 * instruction each; as an address it lies in the top GiB, which nothing
 * maps (mm/layout.h), so it rarely matches a pointer by chance. */
#define FREE_MARK	0xfffffffff4eec0deull

/* The lists of the slabs one CPU owns. A slab taken onto a CPU free list
 * is full (all its objects are out of it) until frees come back. A partial
 * slab goes to the head of its list, and refills take from the head: the
 * slab most recently freed into, usually one object short of full. So
 * objects pack into few slabs and sparse ones drain to empty and go back to
 * the page allocator, without sorting by fullness, which frees straight
 * into slabs could not keep up to date without costing the fast path, and
 * which would save little memory. */
enum { LIST_NONE, LIST_FULL, LIST_PARTIAL, LIST_EMPTY, NR_LISTS };

/* The free objects one CPU holds of a cache, outside their slabs: its free
 * list and its buffer toward other CPUs. Only that CPU changes them: the
 * fast paths in restartable sequences, the slow paths with interrupts off. */
struct kmem_cpu_objs {
	void *freelist;			/* free objects, taken from its slabs, to hand out */
	unsigned nkept;			/* objects kept on it since it was last empty
					   (cache_free_fast); after a refill, 0, or 1
					   if the cache keeps on a refill's objects */
	unsigned nout;
	void *out[REMOTE_MAX];		/* freed here into other CPUs' slabs */
} __attribute__((aligned(64)));	/* away from the other CPUs' lines */
_Static_assert(sizeof(struct kmem_cpu_objs) == 128, "a CPU's part of a cache: a shift away");

/* The slabs one CPU owns of a cache (per CPU, not per NUMA node). Only
 * their owner changes them (with interrupts off), except `remote`, which
 * the cache lock guards. */
struct kmem_cpu_slabs {
	struct page *lists[NR_LISTS];	/* slab heads by LIST_*; [LIST_NONE] unused */
	uint32_t nr_slabs[NR_LISTS];
	uint64_t slabs;			/* every slab it owns */
	void *remote;			/* c->lock: objects of its slabs other CPUs freed */
	uint64_t nremote;		/* c->lock */
};

struct kmem_cache {
	/* First, so that CPU 0's free list is at the cache's own address and
	 * the fast paths need no add to find it. */
	struct kmem_cpu_objs cpu[MAX_CPUS];

	const char *name;
	size_t size;			/* as asked */
	size_t obj_size;		/* size rounded to the alignment */
	size_t stride;			/* object + red zone + metadata + tracks */
	size_t meta;			/* offset of the free pointer and mark */
	unsigned flags;			/* SLAB_* debug letters; kmalloc_large's
					   SLAB_LARGE */
	unsigned order;			/* slab block order */
	unsigned per_slab;
	uint32_t objs_end;		/* per_slab * stride: where a slab's tail starts */
	uint64_t div_magic;		/* ceil(2^64 / stride): offset -> index (obj_index) */
	unsigned keep_empty;		/* empty slabs a CPU keeps, at most
					   (slab_caches_lock: set by
					   footprint_set_bounds_locked) */
	unsigned batch;			/* objects a refill takes at least, if it can */
	unsigned keep_below;		/* a CPU list keeps freed objects while fewer
					   than 1 + this were kept (cache_free_fast;
					   slab_caches_lock: set by
					   footprint_set_bounds_locked) */
	bool keep_on_refill;		/* keeps also while the CPU list holds a
					   refill's objects (large objects) */
	void (*ctor)(void *);

	/* Guards the remote lists, and a debug cache's slabs (all in
	 * owned[0], owned by OWNER_NONE, counted exactly). */
	struct spinlock lock;
	struct kmem_cpu_slabs owned[MAX_CPUS];	/* by owner CPU */

	struct kmem_cache *next;	/* slab_caches_lock */
};

/* A debug cache (slab_debug letters): it keeps no CPU lists, its slabs are
 * nobody's (OWNER_NONE), in owned[0], and its paths do everything under its
 * lock, counting exactly. */
static inline bool debug_cache(const struct kmem_cache *c)
{
	return c->flags & SLAB_DEBUG_MASK;
}

/* What U records of an object, after its metadata: the backtraces of its
 * last allocation and its last free, in that order. */
enum track_kind { TRACK_ALLOC, TRACK_FREE, NR_TRACKS };
struct track {
	uint64_t pcs[TRACK_DEPTH];
	unsigned n;
};

/* ---- geometry -------------------------------------------------------- */

static inline uint8_t *slab_base_of(const struct page *pg) { return pg->slab_base; }

/* The largest slab is the page allocator's largest block: its offsets
 * must stay below 2^32 (obj_index, slab_obj_start), and its last page's
 * distance back to its head's entry must fit slab_head_off. */
_Static_assert((PAGE_SIZE << PMM_MAX_ORDER) <= (1ull << 32), "a slab's offsets must fit 32 bits");
_Static_assert(((1u << PMM_MAX_ORDER) - 1) * sizeof(struct page) <= UINT16_MAX,
	       "a slab's pages must reach their head through a uint16_t slab_head_off");
_Static_assert(KMEM_CACHE_MAX_SIZE == (PAGE_SIZE << PMM_MAX_ORDER) - PAGE_SIZE,
	       "KMEM_CACHE_MAX_SIZE: the largest block less a page");

/* The head page of slab page pg: one load and one subtract (each page of a
 * slab records how far back its head's entry is). */
static inline struct page *head_of(struct page *pg)
{
	return (struct page *)((uintptr_t)pg - pg->slab_head_off);
}

/* The bytes of each of c's slabs. */
static inline uint64_t slab_bytes(const struct kmem_cache *c)
{
	return PAGE_SIZE << c->order;
}

/* Which list a slab with `inuse` objects out belongs on. */
static inline unsigned list_for(const struct kmem_cache *c, unsigned inuse)
{
	return inuse == 0 ? LIST_EMPTY : inuse == c->per_slab ? LIST_FULL : LIST_PARTIAL;
}

/* A slab's count in use, without FULL_BIAS. */
static inline unsigned count_of(const struct page *head)
{
	return (unsigned)(head->slab_inuse < 0 ? head->slab_inuse + FULL_BIAS : head->slab_inuse);
}

/* The most objects cpu's free list of c can hold: it holds only objects of
 * the slabs that CPU owns. A walk of a list that may change under it (or
 * that a bug made circular) stops there. */
static inline uint64_t slab_cpu_list_max(const struct kmem_cache *c, unsigned cpu)
{
	return c->owned[cpu].slabs * c->per_slab;
}

static inline uint64_t *meta_of(const struct kmem_cache *c, void *obj)
{
	return (uint64_t *)((uint8_t *)obj + c->meta);
}

static inline struct track *tracks_of(const struct kmem_cache *c, void *obj)
{
	return (struct track *)((uint8_t *)meta_of(c, obj) + 16);
}

/* Where a debug object's padding starts: past its metadata and tracks. It
 * runs to the stride (what the alignment adds), and holds PAD_BYTE with F. */
static inline size_t pad_of(const struct kmem_cache *c)
{
	return c->meta + 16 + (c->flags & SLAB_STORE_USER ? NR_TRACKS * sizeof(struct track) : 0);
}

/*
 * Offset -> object, without dividing: with M = ceil(2^64 / stride), for any
 * off < 2^32 the high half of off * M is off / stride, and the low half is
 * below M exactly when stride divides off (Lemire, Kaser and Kurz, "Faster
 * remainder by direct computation", 2019). Slabs are at most 4 MiB.
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

/* Is obj the start of an object in slab page pg? False on every page that
 * is no slab's (their slab_objs_end is 0), and for large kmalloc blocks. */
static inline __attribute__((always_inline)) bool slab_obj_start(const struct page *pg,
								  const void *obj)
{
	/* Integers, not pointers: slab_base is NULL on other pages. (uint32_t):
	 * a slab is at most 4 MiB, so off is exact on slab pages. */
	uint64_t off = (uintptr_t)obj - (uintptr_t)pg->slab_base;
	return (uint32_t)off < pg->slab_objs_end && off * pg->slab_div_magic < pg->slab_div_magic;
}

/* The owner byte of cpu's slabs of c. */
static inline uint8_t owner_tag(const struct kmem_cache *c, unsigned cpu)
{
	return (uint8_t)(cpu | (c->meta ? OWNER_META : 0));
}

/* A slab's owner tag, without OWNER_FULL. */
static inline uint8_t owner_of(const struct page *head)
{
	return (uint8_t)(head->slab_owner & ~OWNER_FULL);
}

/* The head page of obj's slab (obj known to be in one). */
static inline struct page *slab_head_of(void *obj)
{
	return head_of(pmm_virt_to_page(&kernel_pmm, obj));
}

/* ---- the core's functions (mm/slab.c) ----------------------------------
 *
 * For the heap's other files: the fast paths' slow ends, kmalloc's cache
 * set-up, the list of caches, and what the footprint policy asks of the
 * slabs (mm/slab_footprint.h says what it calls back).
 */

/* The list of caches, newest first but for slab_cache_move_last_locked. */
extern struct spinlock slab_caches_lock;
extern struct kmem_cache *slab_caches;		/* slab_caches_lock */
/* Call fn on every cache, holding the list of caches' lock. */
void slab_for_each_cache(void (*fn)(struct kmem_cache *c));
/* Move c to the end of the list of caches. Must hold slab_caches_lock. */
void slab_cache_move_last_locked(struct kmem_cache *c);

/* Set c up (kmem_cache_create's geometry and bounds) without listing it;
 * then slab_cache_link puts it on the list of caches. */
void slab_cache_setup(struct kmem_cache *c, const char *name, size_t size, size_t align,
		      unsigned flags, void (*ctor)(void *));
void slab_cache_link(struct kmem_cache *c);

/* The slow paths the fast paths (mm/slab_fast.c) end in. */
__attribute__((noinline)) void *slab_alloc_slow(struct kmem_cache *c, unsigned flags);
__attribute__((noinline)) void slab_free_slow(struct kmem_cache *c, void *obj, struct page *pg);
__attribute__((noinline)) void slab_settle(struct page *head);
__attribute__((noinline)) void kmem_cache_free_foreign(struct kmem_cache *c, void *p,
							struct page *pg);

/* Give back what cpu holds of c: every object on its free list to its slab,
 * or through the buffer to its owner's remote list. Then take back the
 * objects other CPUs freed into cpu's slabs, and release its empty slabs.
 * Must be cpu with interrupts off, or c being destroyed; not a debug cache. */
void slab_cpu_flush(struct kmem_cache *c, unsigned cpu);
void slab_cpu_collect(struct kmem_cache *c, unsigned cpu);
/* Release the empty slabs in own (a debug cache's: owned[0]). Must be its
 * owner CPU with interrupts off, or hold c->lock for a debug cache. */
void slab_release_empty(struct kmem_cache *c, struct kmem_cpu_slabs *own);
/* Release c's slabs on cpu that only its free list holds, looking at up to
 * `budget` objects of it. Must be cpu, interrupts off. Return: the objects
 * looked at. */
unsigned slab_trim_cpu(struct kmem_cache *c, unsigned cpu, unsigned budget);

/* Objects out of c's slabs and not free anywhere: what its users hold.
 * Must hold c->lock; exact while no other CPU uses c. */
uint64_t slab_in_use_locked(struct kmem_cache *c);
/* Is obj on the free list of c starting at f? (At most `max` steps, each
 * onto an object of c.) */
bool slab_on_list(struct kmem_cache *c, void *f, void *obj, uint64_t max);

#endif
