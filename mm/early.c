/*
 * mm/early.c - bump allocation from a fixed arena in .bss.
 *
 * Serves structures needed before the page allocator exists, or that live
 * for the whole run and are too small to deserve a page (virtual-range
 * tables). The arena is part of the data segment, so its size counts against
 * DATA_BUDGET at link time and it never grows. .bss is zeroed at boot, so
 * allocations come back zeroed. Boot is single-threaded: no lock.
 */
#include "mm/early.h"
#include "kernel/panic.h"

static unsigned char arena[EARLY_ARENA_SIZE] __attribute__((aligned(64)));
static size_t used;

void *early_alloc(size_t size, size_t align)
{
	ASSERT(align && (align & (align - 1)) == 0);
	size_t start = (used + align - 1) & ~(align - 1);
	if (start > EARLY_ARENA_SIZE || size > EARLY_ARENA_SIZE - start)
		panic("early: arena of %u KiB exhausted (%zu bytes asked, %zu used); raise EARLY_ARENA_SIZE",
		      EARLY_ARENA_SIZE / 1024, size, used);
	used = start + size;
	return &arena[start];
}

size_t early_used(void)
{
	return used;
}
