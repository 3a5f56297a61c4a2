/*
 * mm/slab_cache.c - the life of the heap's caches: the cache of caches,
 * kmem_cache_create and kmem_cache_destroy, shrinking every cache for the
 * page allocator (kmem_reclaim), and the heap's set-up (slab_init).
 *
 * A cache is on the list of caches (slab_caches, under slab_caches_lock)
 * from its creation to its destruction; the footprint policy's bounds are
 * set again whenever the list changes. Destroying a cache takes it off the
 * list first, so that no kmem_reclaim on another CPU empties its lists
 * meanwhile, then empties every CPU's part of it (mm/slab.c's
 * slab_cpu_flush and slab_cpu_collect), and frees it only when none of its
 * objects is still in use: a cache with objects left is reported and kept.
 */
#include "mm/slab_internal.h"
#include "mm/slab_debug.h"
#include "mm/slab_footprint.h"
#include "mm/kmalloc.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

static unsigned debug_flags;			/* slab_debug=, for every cache */

/* The cache of caches lives in .bss. */
static struct kmem_cache cache_cache;

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
				     unsigned flags, void (*ctor)(void *))
{
	if (size == 0 || size > KMEM_CACHE_MAX_SIZE) {
		slab_report(&cache_cache, NULL, "kmem_cache_create of %s: size %zu is not 1..%u "
			    "(KMEM_CACHE_MAX_SIZE); refused", name, size, KMEM_CACHE_MAX_SIZE);
		return NULL;
	}
	if ((align & (align - 1)) || align > PAGE_SIZE) {
		slab_report(&cache_cache, NULL, "kmem_cache_create of %s: alignment %zu is not a "
			    "power of two up to a page; refused", name, align);
		return NULL;
	}
	struct kmem_cache *c = kmem_cache_alloc(&cache_cache, 0);
	if (!c)
		return NULL;
	slab_cache_setup(c, name, size, align, flags | debug_flags, ctor);
	slab_cache_link(c);
	return c;
}

/* Give back what this CPU holds of c - its free list, its buffer toward
 * other CPUs, what they freed into its slabs - and release its empty
 * slabs (a debug cache: all its empty slabs). */
static void cache_shrink(struct kmem_cache *c)
{
	if (debug_cache(c)) {
		uint64_t f = spin_lock_irqsave(&c->lock);
		slab_release_empty(c, &c->owned[0]);
		spin_unlock_irqrestore(&c->lock, f);
		return;
	}
	uint64_t irq = irq_save();
	slab_cpu_flush(c, cpu_id());
	slab_cpu_collect(c, cpu_id());
	irq_restore(irq);
}

/* Take c off the list of caches. Return: whether it was on it. */
static bool cache_unlink(struct kmem_cache *c)
{
	bool found = false;
	uint64_t f = spin_lock_irqsave(&slab_caches_lock);
	for (struct kmem_cache **pp = &slab_caches; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			found = true;
			break;
		}
	}
	if (found)
		footprint_set_bounds_locked();
	spin_unlock_irqrestore(&slab_caches_lock, f);
	return found;
}

void kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c)
		return;
	/* Only a cache kmem_cache_create made, once. It leaves the list of
	 * caches first: kmem_reclaim shrinks every cache on that list, holding
	 * its lock throughout, so no reclaim on another CPU empties c's lists
	 * while this does. (Nothing of c is read before it is found there: a
	 * wild pointer only has its page looked up.) */
	if (kmem_object_base(c) != c || pmm_virt_to_page(&kernel_pmm, c)->slab_cache != &cache_cache ||
	    !cache_unlink(c)) {
		slab_report(&cache_cache, NULL, "kmem_cache_destroy of 0x%llx, which is no cache "
			    "kmem_cache_create made, or one destroyed already", (unsigned long long)c);
		return;
	}
	/* Nobody may use c once it is being destroyed, so every CPU's part is
	 * ours to empty: their free objects are not leaked. Each CPU's free
	 * list and buffer go home as that CPU's would, and only then does
	 * every owner take back its remote objects. */
	uint64_t irq = irq_save();
	if (!debug_cache(c)) {
		for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
			slab_cpu_flush(c, cpu);
		for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
			slab_cpu_collect(c, cpu);
	}
	irq_restore(irq);
	cache_shrink(c);
	uint64_t f = spin_lock_irqsave(&c->lock);
	uint64_t leaked = slab_in_use_locked(c);
	spin_unlock_irqrestore(&c->lock, f);
	if (leaked) {
		slab_report(c, NULL, "kmem_cache_destroy: %llu objects still in use; cache kept",
			    (unsigned long long)leaked);
		slab_cache_link(c);
		return;
	}
	kmem_cache_free(&cache_cache, c);
}

void slab_for_each_cache(void (*fn)(struct kmem_cache *c))
{
	uint64_t f = spin_lock_irqsave(&slab_caches_lock);
	for (struct kmem_cache *c = slab_caches; c; c = c->next)
		fn(c);
	spin_unlock_irqrestore(&slab_caches_lock, f);
}

void kmem_reclaim(void)
{
	slab_for_each_cache(cache_shrink);
	/* What this CPU's caches held was too much: footprint_make_room
	 * counts from what they hold now. */
	uint64_t irq = irq_save();
	footprint_reset(cpu_id());
	irq_restore(irq);
}

/* ---- set-up --------------------------------------------------------------------- */

/* A page allocator report about one of the heap's blocks names its cache. */
static void slab_describe_block(const struct page *head, char *buf, size_t n)
{
	if (head->slab_cache)
		ksnprintf(buf, n, "%s", head->slab_cache->name);
}

void slab_init(void)
{
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		footprint_reset(cpu);
	debug_flags = slab_debug_parse();
	slab_cache_setup(&cache_cache, "kmem_cache", sizeof(struct kmem_cache),
			 _Alignof(struct kmem_cache), debug_flags, NULL);
	slab_cache_link(&cache_cache);
	kmalloc_init(debug_flags);
	pmm_owner_describe(PAGE_OWNER_SLAB, slab_describe_block);
	pmm_owner_describe(PAGE_OWNER_KMALLOC, slab_describe_block);
	kernel_pmm.reclaim = kmem_reclaim;
}
