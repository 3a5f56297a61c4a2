/*
 * mm/slab_fast.c - the heap's entry points whose common case touches only
 * this CPU's free list or the slab of the object freed: kmalloc, kzalloc,
 * kfree, kmem_cache_alloc, kmem_cache_free.
 *
 * Each is the inline fast path of mm/slab_internal.h plus a lookup, and
 * leaves through a tail call when that path fails (empty CPU free list,
 * a slab changing list, another CPU's slab, debug cache, misuse, large
 * block). This file alone is built with sibling
 * calls and frameless leaves (see the Makefile): a kmalloc hit is then
 * about 15 instructions with no stack traffic. The price is that a report
 * from a slow path shows the caller of kfree (say) directly under
 * slab_free_slow, without a kfree frame between; the caller is what a
 * report needs.
 *
 * Context: any, interrupt handlers included (kernel/restart.h), but not
 * exception or NMI handlers, which do not rewind the sequences.
 */
#include "mm/slab_internal.h"

void *kmalloc(size_t n, unsigned flags)
{
	/* kmalloc_cache's lookup, written out: going through its NULL result
	 * costs the fast path 3 more instructions (make bench). Metadata is
	 * at 0 in every kmalloc cache that has fast paths. */
	if (__builtin_expect(n <= KMALLOC_MAX_CACHE, 1))
		return cache_alloc(kmalloc_class[(n + 15) >> 4], flags, 0);
	return kmalloc_large_alloc(n, flags);
}

void *kzalloc(size_t n, unsigned flags)
{
	return kmalloc(n, flags | KM_ZERO);
}

void kfree(void *p)
{
	/* pmm_virt_to_page, written out so that NULL and foreign pointers
	 * share one branch; then slab_obj_start and head_of, interleaved so
	 * that no register is copied (make bench: kmalloc64.pair). */
	uint64_t i = ((uintptr_t)p - kernel_pmm.va_start) >> PAGE_SHIFT;
	if (__builtin_expect(i < kernel_pmm.npages, 1)) {
		struct page *pg = &kernel_pmm.db[i];
		uint64_t off = (uintptr_t)p - (uintptr_t)pg->slab_base;
		if (__builtin_expect((uint32_t)off < pg->slab_objs_end, 1)) {
			uint64_t magic = pg->slab_div_magic;
			struct page *head = head_of(pg);
			if (__builtin_expect(off * magic < magic, 1)) {
				/* Metadata at 0: caches whose slabs carry
				 * OWNER_META fail the owner test. */
				unsigned cpu = cpu_id();
				enum free_fast r = cache_free_fast(p, head, 0, cpu, cpu);
				if (__builtin_expect(r == FREED, 1))
					return;
				if (r == FREE_SETTLE) {
					slab_settle(head);
					return;
				}
			}
		}
		kfree_slow(p);	/* large blocks too; it finds pg again, so that
				   pg need not live past head_of */
		return;
	}
	kfree_unowned(p);
}

void *kmem_cache_alloc(struct kmem_cache *c, unsigned flags)
{
	return cache_alloc(c, flags, c->meta);
}

void kmem_cache_free(struct kmem_cache *c, void *p)
{
	if (!p)
		return;
	struct page *pg = pmm_virt_to_page(&kernel_pmm, p);
	if (__builtin_expect(!pg || pg->slab_cache != c, 0)) {
		kmem_cache_free_foreign(c, p, pg);
		return;
	}
	if (__builtin_expect(slab_obj_start(pg, p), 1)) {
		struct page *head = head_of(pg);
		unsigned cpu = cpu_id();
		enum free_fast r = cache_free_fast(p, head, c->meta, owner_tag(c, cpu), cpu);
		if (__builtin_expect(r == FREED, 1))
			return;
		if (r == FREE_SETTLE) {
			slab_settle(head);
			return;
		}
	}
	slab_free_slow(c, p, pg);
}
