/*
 * mm/gc.c - the kernel's collector: its heap in the collector region, the
 * roots, and complete collections.
 *
 * The core is mm/gc_heap.c (spans, allocation, sweep) and mm/gc_mark.c
 * (marking, with its invariant); this file gives the core its machine (4 KiB
 * mappings in GC_HEAP_REGION_BASE, pages owned as PAGE_OWNER_GC, kmalloc
 * metadata) and decides when and over what it runs.
 *
 * Collect (gc_collect), one at a time (gc.lock, a mutex):
 *  1. Stop the world: preemption off. On one CPU no mutator runs then, and
 *     none was stopped inside the heap's critical sections: they hold the
 *     heap's irq-saving lock, so no tick preempted them there (hazard 4).
 *  2. Mark the roots:
 *       - the data segment, [__data_start, __bss_end), but the collector's
 *         own state (struct gc_state, whose tables hold heap addresses that
 *         are not references) and the trap and boot stacks (their guard
 *         pages are unmapped, and they hold no mutator's pointers);
 *       - the registered roots;
 *       - every other live thread: its start argument, the frame a
 *         preemption saved (its registers), and its stack from the saved
 *         stack pointer to the top, over mapped pages only;
 *       - this thread: its callee-saved registers, spilled to its own stack
 *         below the scanned range's start, and that stack.
 *     Dead threads are skipped: their roots are dropped.
 *  3. Drain the mark stack; sweep every span.
 *  4. Trim every other thread's stack below its saved stack pointer
 *     (kstack_trim, a page of cushion kept): pages a stack no longer uses go
 *     back to the stack-page cache, and the thread grows again on demand.
 *  5. Set the next goal: live bytes times (1 + gc.percent / 100), and at
 *     least GC_MIN_GOAL. Start the world; with gctrace=1, print the cycle.
 *
 * gc_alloc collects when the bytes allocated reach the goal, and once more
 * before it gives up on an allocation that finds no page.
 */
#include "mm/gc.h"
#include "mm/gc_internal.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/error.h"
#include "kernel/gdt.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "kernel/string.h"
#include "kernel/sync.h"
#include "kernel/thread.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/kstack.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"
#include "mm/vmm.h"

#define GC_MARK_STACK	1024		/* entries: 16 KiB; overflow costs rescans, not correctness */
#define GC_MIN_GOAL	(4ul << 20)
#define GC_MUTEX_RANK	100		/* above any mutex a caller of gc_alloc may hold */

static uint64_t gc_percent = 100;
CMDLINE_OPTION(gc_percent, "gc.percent", CMDLINE_U64, NULL,
	       "heap growth over live data that starts a collection, in percent (1..10000)");
static bool gc_trace;
CMDLINE_OPTION(gc_trace, "gctrace", CMDLINE_BOOL, NULL,
	       "print a line per collection, in the layout of Go's GODEBUG=gctrace=1");
static uint64_t gc_limit;
CMDLINE_OPTION(gc_limit, "gc.limit", CMDLINE_SIZE, NULL,
	       "hard limit of the collector's heap (default: all RAM)");

struct root {
	uintptr_t lo, hi;
};

static struct gc_state {
	struct gc_heap heap;
	struct mutex lock;		/* one collection at a time */
	struct spinlock roots_lock;	/* roots[] */
	struct root roots[GC_MAX_ROOTS];
	unsigned nroots;
	uint64_t goal;			/* lock: heap.alloc_bytes that starts a cycle */
	uint64_t cycles, live;		/* lock */
	uint64_t root_bytes, stack_bytes, data_bytes;	/* lock: the last cycle's */
	uint64_t pause_max_ns, pause_total_ns;		/* lock */
	uint64_t trimmed_bytes, trimmed_total;		/* lock: the last cycle's, all */
	bool ready;
} gc;

/* ---- the machine under the core ------------------------------------------- */

/* The heap's tables (the slot table is 8 bytes an 8 KiB slot: 12 MiB for a
 * 6 GiB heap) are more than kmalloc serves: they go in the upper half of the
 * collector's region, above any heap, in pages mapped once and kept for
 * good. Under gc_init's mutex. */
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
	void *page = page_alloc_as(0, 0, PAGE_OWNER_GC);
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

/* ---- set-up ----------------------------------------------------------------- */

static void gc_init(void)
{
	if (gc_percent < 1 || gc_percent > 10000) {
		kprintf("gc: warning: gc.percent=%llu: out of range (1..10000); using default 100\n",
			(unsigned long long)gc_percent);
		gc_percent = 100;
	}
	uint64_t ram_pages = kernel_pmm.total_pages;
	uint64_t pages = ram_pages;
	if (gc_limit) {
		if (gc_limit < 64 * PAGE_SIZE || gc_limit / PAGE_SIZE > ram_pages) {
			kprintf("gc: warning: gc.limit=%llu: out of range (256K..RAM); using all RAM\n",
				(unsigned long long)gc_limit);
			gc_limit = 0;
		} else {
			pages = gc_limit / PAGE_SIZE;
		}
	}
	/* Twice the pages in virtual range, so that large objects find room
	 * between the spans the sweep leaves. */
	size_t size = (pages * PAGE_SIZE * 2 + 64 * GC_SLOT_SIZE - 1) & ~(64 * GC_SLOT_SIZE - 1);
	ASSERT(size <= KERNEL_REGION_SIZE);
	if (gc_heap_init(&gc.heap, GC_HEAP_REGION_BASE, size, pages) != KERR_OK)
		panic("gc: no memory for the heap's tables");
	gc.lock = (struct mutex)MUTEX_INIT("gc", GC_MUTEX_RANK);
	gc.roots_lock = (struct spinlock)SPINLOCK_INIT("gc roots", LOCK_RANK_GC);
	gc.goal = GC_MIN_GOAL;
	gc.ready = true;
}

/* The collector's state is set up on first use, in thread context. */
static void gc_ready(void)
{
	if (__atomic_load_n(&gc.ready, __ATOMIC_ACQUIRE))
		return;
	static struct mutex init_lock = MUTEX_INIT("gc init", GC_MUTEX_RANK - 1);
	mutex_lock(&init_lock);
	if (!gc.ready)
		gc_init();
	mutex_unlock(&init_lock);
}

/* ---- roots ------------------------------------------------------------------ */

int gc_root_add(void *start, size_t len)
{
	ASSERT((uintptr_t)start % 8 == 0);
	uint64_t f = spin_lock_irqsave(&gc.roots_lock);
	int err = KERR_NOSPACE;
	if (gc.nroots < GC_MAX_ROOTS) {
		gc.roots[gc.nroots++] = (struct root){ (uintptr_t)start, (uintptr_t)start + len };
		err = KERR_OK;
	}
	spin_unlock_irqrestore(&gc.roots_lock, f);
	return err;
}

int gc_root_remove(void *start)
{
	uint64_t f = spin_lock_irqsave(&gc.roots_lock);
	int err = KERR_NOENT;
	for (unsigned i = 0; i < gc.nroots; i++)
		if (gc.roots[i].lo == (uintptr_t)start) {
			gc.roots[i] = gc.roots[--gc.nroots];
			err = KERR_OK;
			break;
		}
	spin_unlock_irqrestore(&gc.roots_lock, f);
	return err;
}

static size_t mark_data_segment(void)
{
	/* Sorted, disjoint exclusions: the trap stacks, the boot stack, this file's state. */
	struct root ex[3] = {
		{ gdt_stack_guard(0), gdt_stack_guard(IST_COUNT - 1) + PAGE_SIZE + IST_STACK_SIZE },
		{ gdt_stack_guard(IST_COUNT), gdt_stack_guard(IST_COUNT) + PAGE_SIZE + BOOT_STACK_SIZE },
		{ (uintptr_t)&gc, (uintptr_t)(&gc + 1) },
	};
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (ex[j].lo < ex[i].lo) {
				struct root t = ex[i];
				ex[i] = ex[j];
				ex[j] = t;
			}
	uintptr_t at = (uintptr_t)__data_start, end = (uintptr_t)__bss_end;
	size_t n = 0;
	for (int i = 0; i < 3; i++) {
		if (ex[i].lo >= end || ex[i].hi <= at)
			continue;
		if (ex[i].lo > at)
			n += gc_mark_range(&gc.heap, (void *)at, (void *)ex[i].lo);
		at = ex[i].hi;
	}
	if (at < end)
		n += gc_mark_range(&gc.heap, (void *)at, (void *)end);
	return n;
}

static void mark_thread(struct thread *t, void *ctx)
{
	struct thread *self = ctx;
	if (t == self || t->state == THREAD_DEAD)
		return;
	gc_mark_word(&gc.heap, (uintptr_t)t->arg);
	uint64_t sp = t->rsp;
	if (t->preempted) {
		gc_mark_range(&gc.heap, &t->frame, &t->frame + 1);
		sp = t->frame.rsp;
	}
	if (!t->stack)
		return;
	uint64_t lo = kstack_mapped_bottom(t->stack), hi = kstack_top(t->stack);
	if (sp > lo)
		lo = sp;
	if (lo < hi)
		gc.stack_bytes += gc_mark_range(&gc.heap, (void *)lo, (void *)hi);
}

/* This thread's registers, pushed onto its stack, then the stack from there. */
__attribute__((noinline)) static void mark_self(struct thread *self)
{
	uint64_t regs[6];
	__asm__ volatile("mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t"
			 "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"
			 : : "r"(regs) : "memory");
	gc_mark_range(&gc.heap, regs, regs + 6);
	gc_mark_word(&gc.heap, (uintptr_t)self->arg);
	uintptr_t hi = self->stack ? kstack_top(self->stack) : self->stack_hi;
	uintptr_t lo = (uintptr_t)__builtin_frame_address(0);
	if (hi > lo)
		gc.stack_bytes += gc_mark_range(&gc.heap, (void *)lo, (void *)hi);
}

static void trim_thread(struct thread *t, void *ctx)
{
	struct thread *self = ctx;
	if (t == self || t->state == THREAD_DEAD || t->state == THREAD_RUNNING || !t->stack)
		return;
	struct kstack_stats before, after;
	kstack_stats(t->stack, &before);
	kstack_trim(t->stack, t->preempted ? t->frame.rsp : t->rsp);
	kstack_stats(t->stack, &after);
	gc.trimmed_bytes += before.mapped - after.mapped;
}

/* ---- collections ------------------------------------------------------------ */

/* Go's gctrace layout: "gc N @Ts P%: start+incremental+end ms clock,
 * before->after->live KB, goal KB goal, stack KB stacks, data KB globals",
 * then Tidemark's own: the largest pause so far, overruns, stack trimmed.
 * Collections are whole today, so the incremental phase is 0: the roots are
 * the start phase, draining and sweeping the end phase. */
static void trace_cycle(uint64_t t0, uint64_t t_roots, uint64_t t_end, uint64_t before, uint64_t after)
{
	uint64_t ms_x1000[3] = { (t_roots - t0) / 1000, 0, (t_end - t_roots) / 1000 };
	uint64_t pct = t_end ? gc.pause_total_ns * 100 / t_end : 0;
	kprintf("gc %llu @%llu.%03llus %llu%%: %llu.%03llu+%llu+%llu.%03llu ms clock, %llu->%llu->%llu KB, "
		"%llu KB goal, %llu KB stacks, %llu KB globals, max pause %llu us, 0 overruns, %llu KB trimmed\n",
		(unsigned long long)gc.cycles, (unsigned long long)(t_end / 1000000000),
		(unsigned long long)(t_end / 1000000 % 1000), (unsigned long long)pct,
		(unsigned long long)(ms_x1000[0] / 1000), (unsigned long long)(ms_x1000[0] % 1000),
		(unsigned long long)ms_x1000[1], (unsigned long long)(ms_x1000[2] / 1000),
		(unsigned long long)(ms_x1000[2] % 1000), (unsigned long long)(before >> 10),
		(unsigned long long)(after >> 10), (unsigned long long)(gc.live >> 10),
		(unsigned long long)(gc.goal >> 10), (unsigned long long)(gc.stack_bytes >> 10),
		(unsigned long long)(gc.data_bytes >> 10), (unsigned long long)(gc.pause_max_ns / 1000),
		(unsigned long long)(gc.trimmed_bytes >> 10));
}

static void check_context(const char *what)
{
	if (trap_level() > 0 || spin_held_count() > 0)
		panic("gc: %s called %s", what,
		      trap_level() > 0 ? "in an interrupt handler" : "with a spinlock held");
}

void gc_collect(void)
{
	check_context("gc_collect");
	gc_ready();
	mutex_lock(&gc.lock);
	preempt_disable();
	uint64_t t0 = clock_ns();

	struct gc_heap *h = &gc.heap;
	uint64_t before = h->alloc_bytes;
	if (gc_mark_begin(h, GC_MARK_STACK) != KERR_OK)
		panic("gc: no memory for the mark stack");
	gc.stack_bytes = 0;
	gc.data_bytes = mark_data_segment();
	size_t root_bytes = 0;
	uint64_t f = spin_lock_irqsave(&gc.roots_lock);
	for (unsigned i = 0; i < gc.nroots; i++)
		root_bytes += gc_mark_range(h, (void *)gc.roots[i].lo, (void *)gc.roots[i].hi);
	spin_unlock_irqrestore(&gc.roots_lock, f);
	struct thread *self = current();
	thread_for_each(mark_thread, self);
	mark_self(self);
	gc.root_bytes = root_bytes + gc.stack_bytes + gc.data_bytes;
	uint64_t t_roots = clock_ns();
	while (!gc_mark_drain(h, SIZE_MAX))
		;
	uint64_t live = h->marked_bytes;
	gc_sweep_begin(h);
	while (!gc_sweep_step(h, UINT32_MAX))
		;

	gc.trimmed_bytes = 0;
	thread_for_each(trim_thread, self);
	gc.trimmed_total += gc.trimmed_bytes;

	gc.cycles++;
	gc.live = live;
	uint64_t goal = live + live * gc_percent / 100;
	gc.goal = goal > GC_MIN_GOAL ? goal : GC_MIN_GOAL;
	uint64_t t_end = clock_ns(), pause = t_end - t0;
	gc.pause_total_ns += pause;
	if (pause > gc.pause_max_ns)
		gc.pause_max_ns = pause;
	preempt_enable();
	if (gc_trace)
		trace_cycle(t0, t_roots, t_end, before, h->alloc_bytes);
	mutex_unlock(&gc.lock);
}

static void *alloc(size_t n, bool noscan)
{
	check_context("gc_alloc");
	gc_ready();
	if (__atomic_load_n(&gc.heap.alloc_bytes, __ATOMIC_RELAXED) >= gc.goal)
		gc_collect();
	void *p = gc_heap_alloc(&gc.heap, n, noscan);
	if (!p) {
		gc_collect();
		p = gc_heap_alloc(&gc.heap, n, noscan);
	}
	return p;
}

void *gc_alloc(size_t n) { return alloc(n, false); }
void *gc_alloc_noscan(size_t n) { return alloc(n, true); }

void gc_stats(struct gc_stats *out)
{
	gc_ready();
	mutex_lock(&gc.lock);
	struct gc_heap *h = &gc.heap;
	uint64_t f = spin_lock_irqsave(&h->lock);
	*out = (struct gc_stats){
		.cycles = gc.cycles,
		.heap_bytes = h->pages * PAGE_SIZE,
		.alloc_bytes = h->alloc_bytes,
		.live_bytes = gc.live,
		.goal_bytes = gc.goal,
		.total_alloc_bytes = h->total_alloc_bytes,
		.total_allocs = h->total_allocs,
		.freed_bytes = h->freed_bytes,
		.freed_objects = h->freed_objects,
		.scanned_bytes = h->scanned_bytes,
		.root_bytes = gc.root_bytes,
		.stack_bytes = gc.stack_bytes,
		.data_bytes = gc.data_bytes,
		.mark_overflows = h->overflows,
		.pause_max_ns = gc.pause_max_ns,
		.pause_total_ns = gc.pause_total_ns,
		.stack_trimmed_bytes = gc.trimmed_total,
	};
	spin_unlock_irqrestore(&h->lock, f);
	mutex_unlock(&gc.lock);
}

bool gc_trace_set(bool on)
{
	bool was = gc_trace;
	gc_trace = on;
	return was;
}

struct gc_heap *gc_kernel_heap(void)
{
	gc_ready();
	return &gc.heap;
}
