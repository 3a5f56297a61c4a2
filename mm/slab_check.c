/*
 * mm/slab_check.c - what the heap says about itself: per-cache statistics
 * (kmem_cache_stats, kmem_cache_bytes), the slabinfo-style table
 * (kmem_dump), and the verifier (slab_check), which walks every slab, free
 * list, buffer and remote list of every cache and asserts the invariants
 * listed at the top of mm/slab.c.
 *
 * Context: any but interrupt handlers for kmem_dump and slab_check (they
 * print, and walk every cache); they mask interrupts and take each cache's
 * lock. Other CPUs' private parts are read as they are: exact on one CPU.
 */
#include "mm/slab_internal.h"
#include "mm/slab_debug.h"
#include "mm/slab_footprint.h"
#include "kernel/console.h"
#include "kernel/panic.h"

uint64_t kmem_cache_bytes(struct kmem_cache *c)
{
	uint64_t slabs = 0;
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		slabs += __atomic_load_n(&c->owned[cpu].slabs, __ATOMIC_RELAXED);
	return slabs * slab_bytes(c);
}

void kmem_cache_stats(struct kmem_cache *c, struct kmem_cache_stats *out)
{
	uint64_t irq = irq_save();
	uint64_t f = spin_lock_irqsave(&c->lock);
	uint64_t slabs = 0;
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		slabs += c->owned[cpu].slabs;
	*out = (struct kmem_cache_stats){
		.name = c->name, .object_size = c->size, .stride = c->stride,
		.objects_in_use = slab_in_use_locked(c),
		.slabs = slabs, .bytes = slabs * slab_bytes(c), .fast_paths = !debug_cache(c),
	};
	spin_unlock_irqrestore(&c->lock, f);
	irq_restore(irq);
}

static struct kmem_idle idle;		/* kmem_idle's sum, under slab_caches_lock */

static void idle_of_cache(struct kmem_cache *c)
{
	uint64_t irq = irq_save();
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		uint64_t objs = 0, max = slab_cpu_list_max(c, cpu);
		for (void *o = c->cpu[cpu].freelist; o && objs < max; o = (void *)meta_of(c, o)[0])
			objs++;
		uint64_t list = objs * c->stride;
		uint64_t empty = (uint64_t)c->owned[cpu].nr_slabs[LIST_EMPTY] * slab_bytes(c);
		idle.cpu_lists += list;
		idle.empty_slabs += empty;
		if (list + empty > idle.cache_max) {
			idle.cache_max = list + empty;
			idle.cache_max_name = c->name;
		}
	}
	irq_restore(irq);
}

void kmem_idle(struct kmem_idle *out)
{
	struct pmm_stats ps;
	uint64_t f = spin_lock_irqsave(&slab_caches_lock);
	idle = (struct kmem_idle){ .cache_max_name = "" };
	for (struct kmem_cache *c = slab_caches; c; c = c->next)
		idle_of_cache(c);
	*out = idle;
	spin_unlock_irqrestore(&slab_caches_lock, f);
	pmm_stats(&kernel_pmm, &ps);
	out->cached_pages = ps.cached_pages * PAGE_SIZE;
	out->total = out->cpu_lists + out->empty_slabs + out->cached_pages;
}

static void dump_cache(struct kmem_cache *c)
{
	struct kmem_cache_stats s;
	kmem_cache_stats(c, &s);
	kprintf("%-18s %8zu %8zu %10llu %8llu %10llu\n", s.name, s.object_size, s.stride,
		(unsigned long long)s.objects_in_use, (unsigned long long)s.slabs,
		(unsigned long long)(s.bytes >> 10));
}

void kmem_dump(void)
{
	struct footprint_bounds b;
	struct kmem_idle i;
	kprintf("%-18s %8s %8s %10s %8s %10s\n", "# name", "objsize", "stride", "active",
		"slabs", "KiB");
	slab_for_each_cache(dump_cache);
	footprint_bounds(&b);
	kmem_idle(&i);
	kprintf("# idle: %llu KiB (CPU lists %llu, empty slabs %llu, cached pages %llu); bounds a CPU: "
		"%llu KiB a cache, %llu KiB in all (refill room %llu, empty slabs %llu, kept %llu KiB "
		"and %llu objects a cache)\n",
		(unsigned long long)(i.total >> 10), (unsigned long long)(i.cpu_lists >> 10),
		(unsigned long long)(i.empty_slabs >> 10), (unsigned long long)(i.cached_pages >> 10),
		(unsigned long long)(b.per_cache >> 10), (unsigned long long)(b.total >> 10),
		(unsigned long long)(b.room >> 10), (unsigned long long)(b.empty_pool >> 10),
		(unsigned long long)(b.kept_share >> 10), (unsigned long long)b.kept_objs);
}

/* A free object held outside its slab (a CPU free list, a buffer, a
 * remote list): an object start of c, marked, not on its slab's list too.
 * Return: its slab. */
static struct page *check_held(struct kmem_cache *c, void *obj)
{
	struct page *pg = pmm_virt_to_page(&kernel_pmm, obj);
	ASSERT(pg && pg->slab_cache == c && slab_obj_start(pg, obj) && is_free_marked(c, obj));
	struct page *head = head_of(pg);
	ASSERT(!slab_on_list(c, head->slab_freelist, obj, c->per_slab));
	return head;
}

static void check_slab(struct kmem_cache *c, struct page *head, unsigned list, uint8_t owner)
{
	uint8_t *base = head->slab_base;
	ASSERT(head->slab_cache == c && head->slab_list == list && owner_of(head) == owner);
	ASSERT(!(head->slab_owner & OWNER_FULL) == (list != LIST_FULL));
	ASSERT(pmm_virt_to_page(&kernel_pmm, base) == head);
	for (unsigned i = 0; i < (1u << c->order); i++)	/* what kfree reads */
		ASSERT(head[i].slab_cache == c && head[i].slab_base == base &&
		       head[i].slab_objs_end == c->objs_end && head[i].slab_div_magic == c->div_magic &&
		       head[i].slab_head_off == i * sizeof(struct page));
	unsigned nfree = 0;
	for (void *f = head->slab_freelist; f; f = (void *)meta_of(c, f)[0]) {
		uint64_t off = (uint64_t)((uint8_t *)f - base);
		ASSERT(off % c->stride == 0 && off / c->stride < c->per_slab);
		ASSERT(is_free_marked(c, f));
		if (c->flags & SLAB_POISON)
			ASSERT(slab_first_unpoisoned(c, f) < 0);
		ASSERT(++nfree <= c->per_slab);
	}
	/* Objects on a CPU free list count as out of their slab; a full slab
	 * is one whose free list was taken (frees may have come back since,
	 * until they settle it), and only a full slab's count is biased (a
	 * debug cache's counts are exact, never biased). */
	ASSERT(nfree + count_of(head) == c->per_slab);
	ASSERT(debug_cache(c) ? head->slab_inuse >= 0 : (head->slab_inuse < 0) == (list == LIST_FULL));
	if (list != LIST_FULL)
		ASSERT(list_for(c, count_of(head)) == list);
	if (c->flags & SLAB_RED_ZONE)
		for (unsigned i = 0; i < c->per_slab; i++)
			ASSERT(slab_redzone_intact(c, base + (uint64_t)i * c->stride));
	if (c->flags & SLAB_CONSISTENCY) {
		for (unsigned i = 0; i < c->per_slab; i++)
			ASSERT(slab_first_unpadded(base + (uint64_t)i * c->stride + pad_of(c),
						   c->stride - pad_of(c)) < 0);
		ASSERT(slab_first_unpadded(base + c->objs_end, slab_bytes(c) - c->objs_end) < 0);
	}
}

static void check_cache(struct kmem_cache *c)
{
	uint64_t irq = irq_save();
	uint64_t f = spin_lock_irqsave(&c->lock);
	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
		struct kmem_cpu_slabs *own = &c->owned[cpu];
		struct kmem_cpu_objs *k = &c->cpu[cpu];
		uint8_t owner = debug_cache(c) ? OWNER_NONE : owner_tag(c, cpu);
		uint64_t slabs = 0;
		for (unsigned list = LIST_FULL; list < NR_LISTS; list++) {
			uint64_t nr = 0;
			for (struct page *h = own->lists[list]; h; h = h->next, nr++)
				check_slab(c, h, list, owner);
			ASSERT(nr == own->nr_slabs[list]);
			slabs += nr;
		}
		ASSERT(slabs == own->slabs);
		/* Free objects held outside their slabs: each once. */
		if (debug_cache(c))
			ASSERT(!k->freelist);
		uint64_t nk = 0;
		for (void *o = k->freelist; o; o = (void *)meta_of(c, o)[0]) {
			ASSERT(owner_of(check_held(c, o)) == owner);
			ASSERT(++nk <= slab_cpu_list_max(c, cpu));
		}
		ASSERT(k->nout < REMOTE_MAX);
		for (unsigned i = 0; i < k->nout; i++) {
			ASSERT(owner_of(check_held(c, k->out[i])) != owner);
			for (unsigned j = i + 1; j < k->nout; j++)
				ASSERT(k->out[j] != k->out[i]);
		}
		uint64_t nr = 0;
		for (void *o = own->remote; o; o = (void *)meta_of(c, o)[0], nr++)
			ASSERT(owner_of(check_held(c, o)) == owner);
		ASSERT(nr == own->nremote);
	}
	spin_unlock_irqrestore(&c->lock, f);
	irq_restore(irq);
}

void slab_check(void)
{
	slab_for_each_cache(check_cache);
}
