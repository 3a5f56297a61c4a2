/*
 * mm/gc_roots.c - the collector's roots outside the threads.
 *
 * The data segment is .data and .bss, [__data_start, __bss_end), mapped
 * with 4 KiB pages so that their dirty bits say which pages to rescan. Three
 * parts of it are not roots, because they hold no mutator's pointers: the
 * trap (IST) stacks and the boot stack, and the collector's own state (its
 * metadata points into the heap everywhere, and would keep everything).
 * This file's table of registered roots is excluded for the same reason.
 *
 * Registered roots are ranges anywhere, for memory the collector does not
 * scan by itself: kmalloc memory, in the direct map, has no 4 KiB dirty
 * bits, so every registered root is rescanned whole in the final phase,
 * and their total is capped (GC_ROOT_BYTES_MAX, mm/gc.h). roots.lock
 * guards the table.
 */
#include "mm/gc_roots.h"
#include "mm/gc.h"
#include "mm/gc_internal.h"
#include "kernel/error.h"
#include "kernel/gdt.h"
#include "kernel/panic.h"
#include "kernel/sync.h"
#include "mm/layout.h"
#include "mm/vmm.h"

struct range {
	uintptr_t lo, hi;
};

#define NR_EXCLUSIONS 4

static struct {
	struct spinlock lock;
	struct range r[GC_MAX_ROOTS];
	unsigned n;
	size_t total;			/* bytes registered */
	struct range ex[NR_EXCLUSIONS];	/* fixed: the data segment's exclusions, sorted */
} roots = { .lock = SPINLOCK_INIT("gc roots", LOCK_RANK_GC) };

void gc_roots_init(uintptr_t state_lo, uintptr_t state_hi)
{
	struct range *ex = roots.ex;
	ex[0] = (struct range){ gdt_stack_guard(0), gdt_stack_guard(IST_COUNT - 1) + PAGE_SIZE + IST_STACK_SIZE };
	ex[1] = (struct range){ gdt_stack_guard(IST_COUNT),
				gdt_stack_guard(IST_COUNT) + PAGE_SIZE + BOOT_STACK_SIZE };
	ex[2] = (struct range){ state_lo, state_hi };
	ex[3] = (struct range){ (uintptr_t)&roots, (uintptr_t)(&roots + 1) };
	for (int i = 0; i < NR_EXCLUSIONS; i++)
		for (int j = i + 1; j < NR_EXCLUSIONS; j++)
			if (ex[j].lo < ex[i].lo) {
				struct range t = ex[i];
				ex[i] = ex[j];
				ex[j] = t;
			}
}

int gc_root_add(void *start, size_t len)
{
	ASSERT((uintptr_t)start % 8 == 0);
	uint64_t f = spin_lock_irqsave(&roots.lock);
	int err = KERR_NOSPACE;
	if (roots.n < GC_MAX_ROOTS && roots.total + len <= GC_ROOT_BYTES_MAX) {
		roots.r[roots.n++] = (struct range){ (uintptr_t)start, (uintptr_t)start + len };
		roots.total += len;
		err = KERR_OK;
	}
	spin_unlock_irqrestore(&roots.lock, f);
	return err;
}

int gc_root_remove(void *start)
{
	uint64_t f = spin_lock_irqsave(&roots.lock);
	int err = KERR_NOENT;
	for (unsigned i = 0; i < roots.n; i++)
		if (roots.r[i].lo == (uintptr_t)start) {
			roots.total -= roots.r[i].hi - roots.r[i].lo;
			roots.r[i] = roots.r[--roots.n];
			err = KERR_OK;
			break;
		}
	spin_unlock_irqrestore(&roots.lock, f);
	return err;
}

size_t gc_roots_mark_registered(struct gc_heap *h)
{
	size_t n = 0;
	uint64_t f = spin_lock_irqsave(&roots.lock);
	for (unsigned i = 0; i < roots.n; i++)
		n += gc_mark_range(h, (void *)roots.r[i].lo, (void *)roots.r[i].hi);
	spin_unlock_irqrestore(&roots.lock, f);
	return n;
}

size_t gc_roots_mark_data(struct gc_heap *h, uintptr_t lo, uintptr_t hi)
{
	size_t n = 0;
	for (int i = 0; i < NR_EXCLUSIONS && lo < hi; i++) {
		const struct range *ex = &roots.ex[i];
		if (ex->hi <= lo || ex->lo >= hi)
			continue;
		if (ex->lo > lo)
			n += gc_mark_range(h, (void *)lo, (void *)ex->lo);
		lo = ex->hi;
	}
	if (lo < hi)
		n += gc_mark_range(h, (void *)lo, (void *)hi);
	return n;
}

struct rescan {
	struct gc_heap *h;
	size_t bytes;
};

static void rescan_page(void *ctx, uint64_t pg)
{
	struct rescan *r = ctx;
	uintptr_t lo = pg > (uintptr_t)__data_start ? pg : (uintptr_t)__data_start;
	uintptr_t hi = pg + PAGE_SIZE < (uintptr_t)__bss_end ? pg + PAGE_SIZE : (uintptr_t)__bss_end;
	r->bytes += gc_roots_mark_data(r->h, lo, hi);
}

size_t gc_roots_rescan_data(struct gc_heap *h, uintptr_t lo, uintptr_t hi)
{
	struct rescan r = { h, 0 };
	vmm_dirty_scan(lo, hi, rescan_page, &r);
	return r.bytes;
}
