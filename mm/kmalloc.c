/*
 * mm/kmalloc.c - kmalloc and friends: size classes over object caches.
 *
 *  - 29 classes from 16 B to 8 KiB: 16-byte steps to 128 B, then steps of at
 *    most 25% to 256 B; so the worst internal waste stays near Go's. Every
 *    class is a multiple of 16, and power-of-two classes sit at multiples
 *    of their size (slabs start on block boundaries).
 *  - From 256 B to 4 KiB the classes are cut to their slabs instead. What an
 *    object costs is its slab's bytes over the objects the slab holds, so a
 *    class that leaves a slab's tail unused wastes as much as a coarser
 *    class; and a slab of many large objects is held until its last one is
 *    freed, so a class that shrinks keeps its slabs. So each class is the
 *    largest multiple of 16 that puts its count of objects in its slab:
 *    336 (12 to a 4 KiB slab), 400 (10), 448 (9), 512 (8), 672 (6), 816
 *    (5), 1024 (4), 1360 (3), 1632 (5 to 8 KiB), 2048 (2 to 4 KiB), 2720 (3
 *    to 8 KiB), 3264 (5 to 16 KiB) and 4096. None puts more than 5 objects
 *    of over 1 KiB in a slab; the price is steps of up to a third (a
 *    quarter of an object wasted at worst). (896 B would hold 4 to a slab,
 *    as 1024 does, so it would cost as much.) At the heap's peak they hold
 *    less than the multiples of 128 B that put as many objects in a slab
 *    (1280, 1536, 2688, 3200; 320, 384, 640, 768, 896).
 *  - kmalloc(n): n -> class through a table of 16 B steps (one load), then
 *    the cache's fast path (a pop of this CPU's free list); kmalloc and
 *    kfree themselves are in mm/slab_fast.c, this file holds everything
 *    around them.
 *  - Above 8 KiB: a page block, marked as kmalloc_large in its struct pages
 *    so that kfree, ksize and kmem_object_base still know it.
 *  - kfree(p): p's struct page names its cache; anything else is reported.
 * The class caches live in .bss and are set up by slab_init.
 */
#include "mm/kmalloc.h"
#include "mm/slab_debug.h"
#include "kernel/printf.h"

static const uint16_t class_sizes[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256,
	336, 400, 448, 512, 672, 816, 1024, 1360, 1632, 2048, 2720, 3264, 4096,
	5120, 6144, 7168, 8192,
};
#define NR_CLASSES	(sizeof(class_sizes) / sizeof(class_sizes[0]))
static struct kmem_cache kmalloc_caches[NR_CLASSES];
static char kmalloc_names[NR_CLASSES][16];
/* Size -> cache (for kmalloc in mm/slab_fast.c), by 16 B steps up to 8 KiB:
 * one shift and one load for every size, with no branch between small and
 * large sizes, which a mix of them would mispredict (as a table of 16 B
 * steps to 1 KiB and one of 128 B steps above did). Pointers, not indexes:
 * the fast path is one load away from its cache. */
struct kmem_cache *kmalloc_class[KMALLOC_MAX_CACHE / 16 + 1];
struct kmem_cache kmalloc_large = { .name = "kmalloc-large", .flags = SLAB_LARGE };

struct kmem_cache *kmalloc_cache(size_t n)
{
	return n <= KMALLOC_MAX_CACHE ? kmalloc_class[(n + 15) >> 4] : NULL;
}

static unsigned order_for(size_t n)
{
	unsigned o = 0;
	while ((PAGE_SIZE << o) < n)
		o++;
	return o;
}

void *kmalloc_large_alloc(size_t n, unsigned flags)
{
	/* Before order_for: near SIZE_MAX its shift would pass 63 bits. */
	if (n > (PAGE_SIZE << PMM_MAX_ORDER))
		return NULL;
	unsigned order = order_for(n);
	uint8_t *p = page_alloc_as(order, flags & KM_ZERO ? PAGE_ZERO : 0, PAGE_OWNER_KMALLOC);
	if (!p)
		return NULL;
	struct page *head = pmm_virt_to_page(&kernel_pmm, p);
	for (unsigned i = 0; i < (1u << order); i++) {
		head[i].slab_cache = &kmalloc_large;
		head[i].slab_base = p;
	}
	return p;
}

void kfree_large(struct page *pg, void *p)
{
	if (p != pg->slab_base) {
		slab_report(&kmalloc_large, NULL, "kfree of 0x%llx, inside the large object at 0x%llx",
			    (unsigned long long)p, (unsigned long long)pg->slab_base);
		return;
	}
	unsigned order = pg->order;
	for (unsigned i = 0; i < (1u << order); i++) {
		pg[i].slab_cache = NULL;
		pg[i].slab_base = NULL;
	}
	page_free_as(p, order, PAGE_OWNER_KMALLOC);
}

void kfree_slow(void *p)
{
	struct page *pg = pmm_virt_to_page(&kernel_pmm, p);	/* p is in the database */
	if (pg->slab_cache)
		slab_free_slow(pg->slab_cache, p, pg);
	else
		kfree_unowned(p);
}

void kfree_unowned(void *p)
{
	if (p)
		slab_report(NULL, NULL, "kfree of 0x%llx, which the heap does not own "
			    "(a foreign pointer, or an object freed twice after its "
			    "slab or large block went back to the page allocator)", (unsigned long long)p);
}

size_t ksize(const void *p)
{
	struct page *pg = pmm_virt_to_page(&kernel_pmm, p);
	if (!p || !pg || !pg->slab_cache)
		return 0;
	if (pg->slab_cache == &kmalloc_large)	/* the block's order is on its first page */
		return PAGE_SIZE << pmm_virt_to_page(&kernel_pmm, pg->slab_base)->order;
	return pg->slab_cache->obj_size;
}

void *krealloc(void *p, size_t n, unsigned flags)
{
	if (!p)
		return kmalloc(n, flags);
	if (n == 0) {
		kfree(p);
		return NULL;
	}
	size_t old = ksize(p);
	if (old == 0 || kmem_object_base(p) != p) {
		slab_report(NULL, NULL, "krealloc of 0x%llx, which is not the start of a heap object",
			    (unsigned long long)p);
		return NULL;
	}
	/* In place, unless p looks free: then it moves, and the kfree of the
	 * move confirms (and reports) a double free, or frees p if its data
	 * only matched the free mark by chance. */
	struct kmem_cache *c = pmm_virt_to_page(&kernel_pmm, p)->slab_cache;
	bool marked = c != &kmalloc_large && is_free_marked(c, p);
	if (!marked && n <= old && (n > KMALLOC_MAX_CACHE || kmalloc_cache(n) == kmalloc_cache(old)))
		return p;
	void *q = kmalloc(n, flags);
	if (!q)
		return NULL;	/* p stays valid, as C's realloc */
	if (q == p) {
		/* Only a free object is handed out: p was free. */
		kfree(q);
		slab_report(c, p, "krealloc of 0x%llx, which is free", (unsigned long long)p);
		return NULL;
	}
	memcpy(q, p, n < old ? n : old);
	kfree(p);
	return q;
}

void *kmem_object_base(const void *addr)
{
	struct page *pg = pmm_virt_to_page(&kernel_pmm, addr);
	if (!pg || !pg->slab_cache)
		return NULL;
	uint8_t *base = slab_base_of(pg);
	struct kmem_cache *c = pg->slab_cache;
	if (c == &kmalloc_large)
		return base;
	uint64_t off = (uint64_t)((const uint8_t *)addr - base), idx = obj_index(c, off);
	if (idx >= c->per_slab || off - idx * c->stride >= c->obj_size)
		return NULL;	/* the slab's tail, or an object's metadata */
	return base + idx * c->stride;
}

/*
 * A power-of-two class is aligned to its size, with slab_debug letters
 * too: a debug stride adds a red zone, metadata and tracks, and only this
 * alignment rounds it back to a multiple of the size (Linux's kmalloc
 * classes are aligned the same way, for the same reason). Without
 * debugging the stride is the size either way.
 */
void kmalloc_class_setup(struct kmem_cache *c, const char *name, size_t size, unsigned debug_flags)
{
	size_t align = (size & (size - 1)) == 0 ? size : KMALLOC_MIN_ALIGN;
	slab_cache_setup(c, name, size, align, debug_flags, NULL);
}

void kmalloc_init(unsigned debug_flags)
{
	unsigned k = 0;
	for (unsigned i = 0; i < sizeof(kmalloc_class) / sizeof(kmalloc_class[0]); i++) {
		while (class_sizes[k] < i * 16)
			k++;
		kmalloc_class[i] = &kmalloc_caches[k];
	}
	for (unsigned i = NR_CLASSES; i-- > 0; ) {
		ksnprintf(kmalloc_names[i], sizeof(kmalloc_names[i]), "kmalloc-%u", class_sizes[i]);
		kmalloc_class_setup(&kmalloc_caches[i], kmalloc_names[i], class_sizes[i], debug_flags);
		slab_cache_link(&kmalloc_caches[i]);
	}
}
