/*
 * mm/gc_plat.c - the kernel's machine under the collector's core, the
 * interface mm/gc_internal.h declares (the host tests have theirs in
 * tests/host/gc_shim.c).
 *
 * Heap pages are 4 KiB mappings in the collector's region, owned as
 * PAGE_OWNER_GC, so that their PTEs' dirty bits are the write barrier; a
 * page is zeroed through the direct map before it is mapped, while no
 * mutator can reach it, so its dirty bit starts clear. The core's
 * metadata is kmalloc memory, or, for the large tables, pages of the
 * region's upper half.
 */
#include "mm/gc_internal.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "kernel/string.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"
#include "mm/vmm.h"

/* The heap's tables (the slot table is 8 bytes an 8 KiB slot: 12 MiB for a
 * 6 GiB heap) are more than kmalloc serves: they go in the upper half of the
 * collector's region, above any heap, in pages mapped once and kept for
 * good. At boot only, in gc_start. */
#define GC_META_BASE	(GC_HEAP_REGION_BASE + KERNEL_REGION_SIZE / 2)
#define GC_META_KMALLOC	(32ul << 10)
static uintptr_t meta_next = GC_META_BASE;

void *gc_plat_meta_alloc(size_t n)
{
	if (n <= GC_META_KMALLOC)
		return kzalloc(n, 0);
	uintptr_t start = meta_next, end = start + ((n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
	for (uintptr_t va = start; va < end; va += PAGE_SIZE) {
		void *page = page_alloc_as(0, 0, PAGE_OWNER_GC);
		if (!page || vmm_map(va, virt_to_phys(page), VMM_WRITE) != KERR_OK)
			return NULL;	/* at boot only: gc_init panics */
		memset(page, 0, PAGE_SIZE);
	}
	meta_next = end;
	return (void *)start;
}

void gc_plat_meta_free(void *p)
{
	ASSERT((uintptr_t)p < GC_META_BASE);	/* the tables are never freed */
	kfree(p);
}

bool gc_plat_map(uintptr_t va)
{
	/* Zeroed through the direct map before it is mapped: not yet the heap's. */
	void *page = page_alloc_as(0, PAGE_ZERO, PAGE_OWNER_GC);
	if (!page)
		return false;
	if (vmm_map(va, virt_to_phys(page), VMM_WRITE) != KERR_OK) {
		page_free_as(page, 0, PAGE_OWNER_GC);
		return false;
	}
	return true;
}

void gc_plat_unmap(uintptr_t va)
{
	uint64_t pa;
	ASSERT(vmm_unmap(va, &pa) == KERR_OK);
	page_free_as(phys_to_virt(pa), 0, PAGE_OWNER_GC);
}

bool gc_plat_test_and_clear_dirty(uintptr_t va) { return vmm_test_and_clear_dirty(va); }

struct dirty_ctx {
	void (*fn)(void *ctx, uintptr_t pg);
	void *ctx;
};

static void dirty_adapter(void *ctx, uint64_t va)
{
	struct dirty_ctx *d = ctx;
	d->fn(d->ctx, (uintptr_t)va);
}

size_t gc_plat_dirty_scan(uintptr_t lo, uintptr_t hi, void (*fn)(void *ctx, uintptr_t pg), void *ctx)
{
	struct dirty_ctx d = { fn, ctx };
	return vmm_dirty_scan(lo, hi, dirty_adapter, &d);
}

