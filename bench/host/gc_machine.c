/*
 * bench/host/gc_machine.c - the collector core's machine for the host
 * benchmark (bench/host/gc_bench.c), which runs the core in
 * whole-collection mode: every cycle runs from start to end with the
 * mutator stopped, so no write barrier is needed, and no page is ever
 * dirty. The tests' machine (tests/host/gc_shim.c) emulates dirty bits
 * with mprotect and SIGSEGV, a system call or a signal per page, which
 * would be most of what this benchmark timed and nothing the kernel pays.
 *
 * The heap's range is reserved read-write once. Mapping a page zeroes it,
 * as the kernel's gc_plat_map hands out zeroed pages; unmapping leaves it
 * resident, as a page on a free list would be. The interface is
 * tests/host/gc_shim.h's, so the benchmark builds against either.
 */
#include "tests/host/gc_shim.h"
#include "mm/gc_internal.h"
#include "mm/layout.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

size_t gc_shim_mapped;
int gc_shim_fail_maps;

uintptr_t gc_shim_reserve(size_t size)
{
	void *p = mmap(NULL, size + GC_SLOT_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		abort();
	return ((uintptr_t)p + GC_SLOT_SIZE - 1) & ~(GC_SLOT_SIZE - 1);
}

void gc_shim_catch_faults(void) {}
bool gc_shim_dirty(uintptr_t va) { (void)va; return false; }

void *gc_plat_meta_alloc(size_t n) { return calloc(1, n ? n : 1); }
void gc_plat_meta_free(void *p) { free(p); }

bool gc_plat_map(uintptr_t va)
{
	memset((void *)va, 0, PAGE_SIZE);
	gc_shim_mapped++;
	return true;
}

void gc_plat_unmap(uintptr_t va)
{
	(void)va;
	gc_shim_mapped--;
}

bool gc_plat_test_and_clear_dirty(uintptr_t va) { (void)va; return false; }

size_t gc_plat_dirty_scan(uintptr_t lo, uintptr_t hi, void (*fn)(void *ctx, uintptr_t pg), void *ctx)
{
	(void)lo, (void)hi, (void)fn, (void)ctx;
	return 0;
}
