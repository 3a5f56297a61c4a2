/*
 * mm/slab.h - the heap: object caches and kmalloc (design: mm/slab.c).
 *
 * Objects come from slabs (buddy blocks cut into equal objects); each CPU
 * allocates from a slab of its own and frees straight into the slabs it
 * owns, so the common allocation and free take no lock. kmalloc serves sizes up to
 * KMALLOC_MAX_CACHE from size classes and larger ones from the page
 * allocator. Every object is at least 16-byte aligned; power-of-two sizes
 * are naturally aligned. Failure returns NULL; misuse is reported.
 */
#ifndef MM_SLAB_H
#define MM_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMALLOC_MIN_ALIGN	16
#define KMALLOC_MAX_CACHE	8192	/* larger requests go to page_alloc */
/* The largest object kmem_cache_create takes: the page allocator's largest
 * block (4 MiB, PMM_MAX_ORDER) less a page, the most that slab_debug='s
 * metadata and a page alignment add, so that a cache made without
 * slab_debug= is made with it too. */
#define KMEM_CACHE_MAX_SIZE	(4u * 1024 * 1024 - 4096)

/* Allocation flags (kmalloc, kmem_cache_alloc). */
#define KM_ZERO		(1u << 0)	/* zero the object */

/* kmem_cache_create flags: Linux's slab_debug= letters, per cache. */
#define SLAB_CONSISTENCY	(1u << 0)	/* F: free list and padding checks */
#define SLAB_RED_ZONE		(1u << 1)	/* Z: guard bytes after each object */
#define SLAB_POISON		(1u << 2)	/* P: fill free objects, check on alloc */
#define SLAB_STORE_USER		(1u << 3)	/* U: remember alloc/free backtraces */
#define SLAB_DEBUG_MASK		0xfu

struct kmem_cache;

/*
 * A cache of objects of `size` bytes, 1 to KMEM_CACHE_MAX_SIZE, aligned to
 * `align` (0, or a power of two up to a page; at least KMALLOC_MIN_ALIGN),
 * debugged as `flags` and slab_debug= ask, each built by ctor (if not NULL)
 * when its slab is made. Objects above 32 KiB get a slab each, the
 * smallest block that holds one.
 * Return: the cache; NULL for a size or alignment outside those bounds
 * (reported, naming the cache and the value), or when no memory is left.
 */
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
				     unsigned flags, void (*ctor)(void *));
void *kmem_cache_alloc(struct kmem_cache *c, unsigned flags);
void kmem_cache_free(struct kmem_cache *c, void *p);
/* A cache with objects still in use reports the leak and stays alive; a
 * cache kmem_cache_create did not make (a kmalloc class), or one destroyed
 * already, is reported and left alone. */
void kmem_cache_destroy(struct kmem_cache *c);

void *kmalloc(size_t n, unsigned flags);
void *kzalloc(size_t n, unsigned flags);
/* Misuse is reported: p not the start of a heap object (NULL back), or
 * already freed. */
void *krealloc(void *p, size_t n, unsigned flags);
void kfree(void *p);
/* The usable size of the object or large block p points into. */
size_t ksize(const void *p);

/* The start of the heap object containing addr, or NULL if addr is not
 * inside one (the collector's question). O(1). */
void *kmem_object_base(const void *addr);

/* Give every empty slab of this CPU's, and its current slabs' free objects,
 * back to the page allocator (other CPUs give theirs as they refill). */
void kmem_reclaim(void);

struct kmem_cache_stats {
	const char *name;
	size_t object_size;	/* as asked */
	size_t stride;		/* bytes per object in a slab, metadata included */
	uint64_t objects_in_use;
	uint64_t slabs;
	uint64_t bytes;		/* pages held by its slabs */
	bool fast_paths;	/* served by the per-CPU fast paths (not when debugging) */
};
void kmem_cache_stats(struct kmem_cache *c, struct kmem_cache_stats *out);
/* Its stats' bytes alone, without the lock or a walk: for sampling often. */
uint64_t kmem_cache_bytes(struct kmem_cache *c);

/* What the heap and the page allocator keep idle: free but out of the
 * buddy lists (mm/slab_footprint.c states the bounds). Summed over the CPUs,
 * exact while no other CPU uses the heap. */
struct kmem_idle {
	uint64_t cpu_lists;	/* free objects on CPU lists, in bytes of stride */
	uint64_t empty_slabs;	/* kept empty slabs, in bytes */
	uint64_t cached_pages;	/* the page allocator's per-CPU caches, in bytes */
	uint64_t total;
	uint64_t cache_max;	/* the most one cache keeps on one CPU */
	const char *cache_max_name;
};
void kmem_idle(struct kmem_idle *out);

/* Print a slabinfo-style table of every cache. */
void kmem_dump(void);
/* Verify every cache's slabs, lists and counts (and red zones, poison,
 * padding); broken invariants panic. */
void slab_check(void);

/* Misuse reports so far (double free, foreign pointer, wrong cache, red
 * zone, use after free, a corrupt free list or padding); tests count them,
 * as Linux's slub_kunit does. */
uint64_t slab_report_count(void);

/* Set up the kmalloc caches over kernel_pmm; slab_debug= applies to them. */
void slab_init(void);

/* The kmalloc cache serving n bytes, or NULL above KMALLOC_MAX_CACHE. */
struct kmem_cache *kmalloc_cache(size_t n);

#endif
