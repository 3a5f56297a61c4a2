/*
 * tests/host/gc_shim.c - the machine under the collector's core, on the host.
 *
 * A heap's range is reserved PROT_NONE. A mapped page starts read-only and
 * clean; the first write faults, and the SIGSEGV handler marks the page
 * dirty and makes it writable: exactly the hardware's dirty bit, set by
 * the first write through a mapping whose bit is clear. Testing and
 * clearing makes the page read-only again. One lock orders the two, so a
 * write racing a clear either faults after it (and dirties the page
 * again) or lands before it (and is reported by it): none is lost. An
 * access to a page that is not mapped kills the test, as it would fault
 * in the kernel.
 */
#include "tests/host/gc_shim.h"
#include "mm/gc_internal.h"
#include "mm/layout.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uintptr_t region_lo, region_hi;
enum { UNMAPPED, CLEAN, DIRTY };
static uint8_t *state;		/* a byte a page of the region */
static volatile int shim_lock;

static void lock(void)
{
	while (__atomic_exchange_n(&shim_lock, 1, __ATOMIC_ACQUIRE))
		;
}
static void unlock(void) { __atomic_store_n(&shim_lock, 0, __ATOMIC_RELEASE); }

static size_t page_index(uintptr_t va) { return (va - region_lo) / PAGE_SIZE; }

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr;
	uintptr_t pg = a & ~(PAGE_SIZE - 1);
	bool ours = a >= region_lo && a < region_hi;
	if (ours) {
		lock();
		ours = state[page_index(pg)] != UNMAPPED;
		if (ours) {
			state[page_index(pg)] = DIRTY;
			mprotect((void *)pg, PAGE_SIZE, PROT_READ | PROT_WRITE);
		}
		unlock();
	}
	if (!ours)
		signal(sig, SIG_DFL);	/* an access to an unmapped page: the fault recurs and kills */
}

uintptr_t gc_shim_reserve(size_t size)
{
	void *p = mmap(NULL, size + GC_SLOT_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("gc_shim_reserve");
		abort();
	}
	region_lo = ((uintptr_t)p + GC_SLOT_SIZE - 1) & ~(GC_SLOT_SIZE - 1);
	region_hi = region_lo + size;
	state = calloc(size / PAGE_SIZE, 1);
	gc_shim_catch_faults();
	return region_lo;
}

void gc_shim_catch_faults(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
}

size_t gc_shim_mapped;

void *gc_plat_meta_alloc(size_t n) { return calloc(1, n ? n : 1); }
void gc_plat_meta_free(void *p) { free(p); }

bool gc_plat_map(uintptr_t va)
{
	if (gc_shim_fail_maps > 0 && --gc_shim_fail_maps == 0)
		return false;
	lock();
	state[page_index(va)] = CLEAN;
	mprotect((void *)va, PAGE_SIZE, PROT_READ);
	unlock();
	__atomic_fetch_add(&gc_shim_mapped, 1, __ATOMIC_RELAXED);
	return true;
}

int gc_shim_fail_maps;

void gc_plat_unmap(uintptr_t va)
{
	lock();
	mprotect((void *)va, PAGE_SIZE, PROT_NONE);
	madvise((void *)va, PAGE_SIZE, MADV_DONTNEED);
	state[page_index(va)] = UNMAPPED;
	unlock();
	__atomic_fetch_sub(&gc_shim_mapped, 1, __ATOMIC_RELAXED);
}

bool gc_plat_test_and_clear_dirty(uintptr_t va)
{
	lock();
	bool d = state[page_index(va)] == DIRTY;
	if (d) {
		mprotect((void *)va, PAGE_SIZE, PROT_READ);
		state[page_index(va)] = CLEAN;
	}
	unlock();
	return d;
}

size_t gc_plat_dirty_scan(uintptr_t lo, uintptr_t hi, void (*fn)(void *ctx, uintptr_t pg), void *ctx)
{
	size_t n = 0;
	for (uintptr_t pg = lo & ~(PAGE_SIZE - 1); pg < hi; pg += PAGE_SIZE)
		if (pg >= region_lo && pg < region_hi && gc_plat_test_and_clear_dirty(pg)) {
			fn(ctx, pg);
			n++;
		}
	return n;
}

bool gc_shim_dirty(uintptr_t va)
{
	lock();
	bool d = state[page_index(va)] == DIRTY;
	unlock();
	return d;
}
