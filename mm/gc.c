/*
 * mm/gc.c - the kernel's collector: its heap in the collector region, the
 * threads' roots, and incremental cycles run by the collector's thread in
 * quanta that the timer ends.
 *
 * The core is mm/gc_heap.c (spans, allocation, sweep) and mm/gc_mark.c
 * (marking, with its invariant), on the machine mm/gc_plat.c gives it; the
 * data segment and registered roots are mm/gc_roots.c's, the pause record
 * and the quota's arithmetic mm/gc_quota.c's. This file decides when and
 * over what the core runs.
 *
 * GC time is any interval in which a runnable mutator, or one waiting in
 * gc_alloc, has lost the CPU to the collector; a pause is one such
 * interval. The quota, the pause figures and MMU all count this and only
 * this. The collector's thread runs above mutator priority, so while it
 * works no mutator runs (one CPU): each quantum is a pause, measured from
 * the deadline interrupt that woke it (its switch in included) to the
 * moment it blocks again.
 *
 * Quanta. The worker works in steps of at most GC_STEP_BYTES of scanning
 * (or GC_SWEEP_SPANS spans), and between steps asks whether its quantum is
 * over: a one-shot deadline at the quantum's end sets q_over. A quantum
 * starts only when it keeps every window of gc.window within gc.quota
 * (the pause record, mm/gc_quota.c, says how much each window already
 * holds), and no sooner than gc.window * gc.quantum / gc.quota after the
 * last one began, so that the quanta spread evenly over the window. While no mutator is runnable
 * the CPU is idle and the worker runs without a deadline; a mutator that
 * becomes runnable ends that at the next step, the step counted a pause.
 *
 * A cycle, phase by phase (struct gc_state.phase):
 *  ROOTS   gc_mark_begin (the start phase), then, in steps: the data
 *          segment page by page, each page's dirty bit cleared before it is
 *          scanned; the registered roots; every thread's start argument,
 *          and its stack from the top down to its stack pointer over mapped
 *          pages, again clearing each page's dirty bit first
 *          (thread.gc_scan_lo is how far down the scan has got).
 *  DRAIN   the mark stack, in steps.
 *  DIRTY   a round: the heap's dirty pages regreyed, the data segment's
 *          dirty pages rescanned, in steps; then DRAIN again, then FINAL.
 *  FINAL   the world stopped (gc_stop_world): the heap's and data
 *          segment's dirty pages, the registered roots whole (kmalloc
 *          memory has no dirty bits), every thread's registers (the frame a
 *          preemption saved; a thread that switched itself saved them on
 *          its stack), its start argument, its stack below gc_scan_lo and
 *          its dirty stack pages; then a drain. Its work is bounded by the
 *          quantum: when the deadline comes first, the phase gives up, the
 *          world starts again and DRAIN, DIRTY and FINAL run once more (a
 *          round). The invariant survives a give-up: what was cleared was
 *          pushed grey. After GC_MAX_ROUNDS rounds the final phase runs to
 *          its end whatever it takes: mutators are throttled, counted as
 *          an overrun. So a cycle always ends.
 *  SWEEP   in steps; allocation in a span not yet swept is black.
 *  TRIM    every stopped thread's stack trimmed below its stack pointer
 *          (kstack_trim, a page of cushion kept); the next goal set.
 * Dead threads are skipped: their roots are dropped. The worker's own
 * stack holds no mutator's pointers and is not a root.
 *
 * The pacer. The goal is L(1 + gc.percent/100), at least GC_MIN_GOAL,
 * where L is what the last cycle found live. A cycle starts when the
 * allocated bytes reach goal - a*m*W*(1-u)/u: a is the allocation rate
 * (bytes per ns of mutator time), m the mark cost (ns of collector time per
 * byte scanned), W the bytes a cycle scans (L and the roots), u the
 * quota's share of a window. The cycle then takes W*m/u of wall time, in
 * which mutators allocate a*m*W*(1-u)/u: it ends as the goal is reached.
 * Beyond the goal allocation goes on (the goal is soft). gc.limit is hard:
 * an allocation that finds no page waits for a complete cycle begun after
 * it failed, and while anyone waits the worker runs even when the quota
 * says no, each such quantum counted as an overrun. Only after that cycle
 * does gc_alloc return NULL.
 *
 * Locking: gc.lock (irq-saving spinlock) guards requests, counters, the
 * pause log and the figures gc_stats reads; the worker alone runs cycles,
 * so the mark and sweep state is its own. The heap's lock is mm/gc_heap.c's.
 */
#include "mm/gc.h"
#include "mm/gc_internal.h"
#include "mm/gc_quota.h"
#include "mm/gc_roots.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "kernel/sync.h"
#include "kernel/thread.h"
#include "kernel/time.h"
#include "kernel/timer.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/kstack.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/slab.h"

#define GC_MARK_STACK	4096		/* entries: 64 KiB; overflow costs rescans, not correctness */
#define GC_MIN_GOAL	(4ul << 20)
#define GC_STEP_BYTES	(4ul << 10)	/* scanning between two looks at the deadline */
#define GC_DIRTY_STEP	(512ul << 10)	/* heap range a dirty-round step covers */
#define GC_SWEEP_SPANS	1
#define GC_MAX_ROUNDS	32

static uint64_t gc_percent = 100;
CMDLINE_OPTION(gc_percent, "gc.percent", CMDLINE_U64, NULL,
	       "heap growth over live data that starts a collection, in percent (1..10000)");
static bool gc_trace;
CMDLINE_OPTION(gc_trace, "gctrace", CMDLINE_BOOL, NULL,
	       "print a line per collection, in the layout of Go's GODEBUG=gctrace=1");
static uint64_t gc_limit;
CMDLINE_OPTION(gc_limit, "gc.limit", CMDLINE_SIZE, NULL,
	       "hard limit of the collector's heap (default: all RAM)");
static uint64_t gc_quantum_us = 500;
CMDLINE_OPTION(gc_quantum_us, "gc.quantum", CMDLINE_U64, NULL,
	       "longest collector pause, in microseconds (50..gc.quota)");
static uint64_t gc_window_us = 50000;
CMDLINE_OPTION(gc_window_us, "gc.window", CMDLINE_U64, NULL,
	       "the sliding window of the collector's quota, in microseconds (1000..10000000)");
static uint64_t gc_quota_us = 10000;
CMDLINE_OPTION(gc_quota_us, "gc.quota", CMDLINE_U64, NULL,
	       "collector time allowed in any gc.window while mutators run, in microseconds");

enum cycle_phase { C_ROOTS, C_DRAIN, C_DIRTY, C_FINAL, C_SWEEP, C_TRIM };
enum root_step { R_DATA, R_REGISTERED, R_THREADS, R_DONE };
enum quantum_mode { Q_PAUSE, Q_IDLE };

static struct gc_state {
	struct gc_heap heap;
	struct spinlock lock;		/* see the top of the file */

	struct thread *worker;
	struct waitq worker_wq, done_wq;
	bool worker_wake;		/* lock: look at the requests, or the deadline came */
	uint64_t requested, started, completed;	/* lock: cycles */
	unsigned waiters;		/* lock: threads waiting in gc_alloc for memory */

	/* Policy, the worker's to write (lock). */
	uint64_t goal, trigger, live;
	uint64_t q_ns, window_ns, quota_ns, period_ns;
	uint64_t alloc_rate_milli;	/* a: bytes per 1000 ns of mutator time */
	uint64_t mark_cost_pico;	/* m: ps of collector time per byte scanned */

	/* The running cycle: the worker's alone. */
	enum cycle_phase phase;
	enum root_step root_step;
	uintptr_t data_cursor, dirty_cursor;
	unsigned dirty_part;		/* 0: the heap, 1: the data segment */
	unsigned rounds;
	bool round_done;		/* a dirty round ran since the last final phase */
	uint64_t t_begin, t_start_end, t_final, t_final_end, cycle_max_pause, mark_ns;
	uint64_t alloc_at_begin, gc_ns_at_begin, before;
	uint64_t cyc_stack_bytes, cyc_data_bytes, cyc_root_bytes, cyc_trimmed;

	/* The worker's quantum. */
	struct timer_event ev;
	bool q_over;			/* set by ev's handler */
	uint64_t wake_ns;		/* when ev's handler ran */
	enum quantum_mode mode;
	uint64_t q_start, last_q_start;

	/* Figures (lock). */
	uint64_t cycles, root_bytes, stack_bytes, data_bytes, trimmed_bytes, trimmed_total;
	uint64_t gc_ns, overruns, wait_ns, waits, rounds_total;
	struct gc_pause_record rec;
	unsigned mark_cap;		/* mark-stack entries, GC_MARK_STACK but in tests */
	bool ready;
} gc;

/* ---- set-up ----------------------------------------------------------------- */

static uint64_t option_us(uint64_t *v, const char *name, uint64_t lo, uint64_t hi, uint64_t def)
{
	if (*v < lo || *v > hi) {
		kprintf("gc: warning: %s=%llu: out of range (%llu..%llu us); using default %llu\n", name,
			(unsigned long long)*v, (unsigned long long)lo, (unsigned long long)hi,
			(unsigned long long)def);
		*v = def;
	}
	return *v * 1000;
}

static void worker_main(void *unused);

void gc_start(void)
{
	if (gc_percent < 1 || gc_percent > 10000) {
		kprintf("gc: warning: gc.percent=%llu: out of range (1..10000); using default 100\n",
			(unsigned long long)gc_percent);
		gc_percent = 100;
	}
	gc.window_ns = option_us(&gc_window_us, "gc.window", 1000, 10000000, 50000);
	gc.quota_ns = option_us(&gc_quota_us, "gc.quota", 50, gc_window_us, gc_window_us / 5);
	gc.q_ns = option_us(&gc_quantum_us, "gc.quantum", 50, gc_quota_us,
			    gc_quota_us < 500 ? gc_quota_us : 500);
	gc.period_ns = gc.window_ns * gc.q_ns / gc.quota_ns;

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
	if (gc_mark_begin(&gc.heap, GC_MARK_STACK) != KERR_OK)
		panic("gc: no memory for the mark stack");
	gc_sweep_begin(&gc.heap);		/* nothing to sweep: back to idle */
	while (!gc_sweep_step(&gc.heap, UINT32_MAX))
		;
	gc.lock = (struct spinlock)SPINLOCK_INIT("gc", LOCK_RANK_GC);
	gc.worker_wq = (struct waitq)WAITQ_INIT;
	gc.done_wq = (struct waitq)WAITQ_INIT;
	gc.ev.service = true;
	gc.goal = gc.trigger = GC_MIN_GOAL;
	gc.mark_cap = GC_MARK_STACK;
	gc_record_init(&gc.rec);
	gc_roots_init((uintptr_t)&gc, (uintptr_t)(&gc + 1));
	struct kthread_opts opts = { .prio = PRIO_HIGH };
	gc.worker = kthread_create_opts(worker_main, NULL, "gc", &opts);
	if (!gc.worker)
		panic("gc: no memory for the collector's thread");
	__atomic_store_n(&gc.ready, true, __ATOMIC_RELEASE);
}

static void check_context(const char *what)
{
	if (trap_level() > 0 || spin_held_count() > 0)
		panic("gc: %s called %s", what,
		      trap_level() > 0 ? "in an interrupt handler" : "with a spinlock held");
	ASSERT(__atomic_load_n(&gc.ready, __ATOMIC_ACQUIRE));
}

/* ---- roots ------------------------------------------------------------------ */

/* Count n bytes of the data segment scanned this cycle. Return: n. */
static size_t data_scanned(size_t n)
{
	gc.cyc_data_bytes += n;
	return n;
}

/* A thread's stack: [lo, hi) where it holds data now, over mapped pages. */
static bool stack_range(struct thread *t, uintptr_t *lo, uintptr_t *hi)
{
	if (!t->stack)
		return false;
	uint64_t sp = t->preempted ? t->frame.rsp : t->rsp;
	*lo = kstack_mapped_bottom(t->stack);
	*hi = kstack_top(t->stack);
	if (sp > *lo)
		*lo = sp;
	return *lo < *hi;
}

struct thread_pass {
	size_t budget;		/* bytes this step may scan */
	bool final;
	bool incomplete;	/* a thread's stack is not scanned down to its pointer */
};

/* Scan t's stack from gc_scan_lo down towards lo, a page at a time, each
 * page's dirty bit cleared before it is read. */
static void scan_down(struct thread *t, uintptr_t lo, struct thread_pass *p)
{
	while (t->gc_scan_lo > lo && p->budget) {
		uintptr_t hi = t->gc_scan_lo, pg = (hi - 1) & ~(PAGE_SIZE - 1);
		uintptr_t from = pg > lo ? pg : lo;
		gc_plat_test_and_clear_dirty(pg);
		size_t n = gc_mark_range(&gc.heap, (void *)from, (void *)hi);
		gc.cyc_stack_bytes += n;
		t->gc_scan_lo = from;
		p->budget = p->budget > n ? p->budget - n : 0;
	}
}

struct stack_page {
	uintptr_t lo;
};

static void rescan_stack_page(void *ctx, uintptr_t pg)
{
	struct stack_page *sp = ctx;
	uintptr_t from = pg > sp->lo ? pg : sp->lo;
	if (from < pg + PAGE_SIZE)
		gc.cyc_stack_bytes += gc_mark_range(&gc.heap, (void *)from, (void *)(pg + PAGE_SIZE));
}

static void scan_thread(struct thread *t, void *ctx)
{
	struct thread_pass *p = ctx;
	if (t == gc.worker || t->state == THREAD_DEAD)
		return;
	uintptr_t lo, hi;
	bool has_stack = stack_range(t, &lo, &hi);
	if (t->gc_cycle != gc.heap.cycle) {
		t->gc_cycle = gc.heap.cycle;
		t->gc_scan_lo = has_stack ? hi : 0;
		gc_mark_word(&gc.heap, (uintptr_t)t->arg);
	}
	if (p->final) {
		/* Its registers and argument; its stack's pages written since
		 * they were scanned; the part below the scan. */
		gc_mark_word(&gc.heap, (uintptr_t)t->arg);
		if (t->preempted)
			gc_mark_range(&gc.heap, &t->frame, &t->frame + 1);
		if (!has_stack)
			return;
		struct stack_page sp = { lo };
		if (t->gc_scan_lo < hi)
			gc_plat_dirty_scan(t->gc_scan_lo & ~(PAGE_SIZE - 1), hi, rescan_stack_page, &sp);
		size_t budget = p->budget;
		p->budget = SIZE_MAX;
		scan_down(t, lo, p);
		p->budget = budget;
		return;
	}
	if (has_stack && t->gc_scan_lo > lo) {
		scan_down(t, lo, p);
		if (t->gc_scan_lo > lo)
			p->incomplete = true;
	}
}

/* ---- the quantum ------------------------------------------------------------ */

static void record_pause(uint64_t start, uint64_t end)
{
	uint64_t f = spin_lock_irqsave(&gc.lock);
	gc_record_pause(&gc.rec, start, end);
	if (end - start > gc.cycle_max_pause)
		gc.cycle_max_pause = end - start;
	spin_unlock_irqrestore(&gc.lock, f);
}

static void on_deadline(void *unused)
{
	(void)unused;
	gc.wake_ns = clock_ns();
	__atomic_store_n(&gc.q_over, true, __ATOMIC_RELAXED);
	gc.worker_wake = true;
	waitq_wake_one(&gc.worker_wq);
}

/* Does a mutator want the CPU? */
static bool mutators_waiting(void)
{
	return sched_runnable() > 0 || __atomic_load_n(&gc.waiters, __ATOMIC_RELAXED) > 0;
}

/* Sleep until clock_ns() reaches when, or a request comes. */
static void sleep_until(uint64_t when)
{
	uint64_t f = spin_lock_irqsave(&gc.lock);
	gc.worker_wake = false;
	spin_unlock_irqrestore(&gc.lock, f);
	timer_deadline_ns(&gc.ev, when, on_deadline, NULL);
	wait_event(&gc.worker_wq, __atomic_load_n(&gc.worker_wake, __ATOMIC_RELAXED));
	timer_cancel(&gc.ev);
}

/* The earliest start, at or after now, of a quantum that keeps every
 * window within the quota and is a period after the last one's start. */
static uint64_t quantum_slot(uint64_t now)
{
	uint64_t s = gc.last_q_start + gc.period_ns;
	if (s < now)
		s = now;
	uint64_t f = spin_lock_irqsave(&gc.lock);
	s = gc_quota_slot(&gc.rec, s, gc.q_ns, gc.window_ns, gc.quota_ns);
	spin_unlock_irqrestore(&gc.lock, f);
	return s;
}

static void quantum_begin(void)
{
	for (;;) {
		uint64_t now = clock_ns();
		if (!mutators_waiting()) {
			gc.mode = Q_IDLE;
			gc.q_start = now;
			return;
		}
		uint64_t s = quantum_slot(now);
		bool woke = false;
		if (s > now && __atomic_load_n(&gc.waiters, __ATOMIC_RELAXED)) {
			uint64_t f = spin_lock_irqsave(&gc.lock);
			gc.overruns++;		/* memory is short: run now, over the quota */
			spin_unlock_irqrestore(&gc.lock, f);
			s = now;
		}
		if (s > now) {
			gc.wake_ns = 0;
			sleep_until(s);
			woke = gc.wake_ns != 0;
			if (clock_ns() < s)
				continue;	/* a request woke it: look again */
		}
		gc.mode = Q_PAUSE;
		gc.q_start = woke ? gc.wake_ns : clock_ns();
		gc.last_q_start = gc.q_start;
		__atomic_store_n(&gc.q_over, false, __ATOMIC_RELAXED);
		/* A step may overrun the deadline by its own length: end 5% early. */
		timer_deadline_ns(&gc.ev, gc.q_start + gc.q_ns - gc.q_ns / 20, on_deadline, NULL);
		return;
	}
}

static void quantum_end(uint64_t step_start)
{
	timer_cancel(&gc.ev);
	uint64_t now = clock_ns();
	if (gc.mode == Q_PAUSE)
		record_pause(gc.q_start, now);
	else if (mutators_waiting())
		record_pause(step_start, now);	/* the step that kept a woken mutator waiting */
	uint64_t f = spin_lock_irqsave(&gc.lock);
	gc.gc_ns += now - gc.q_start;
	spin_unlock_irqrestore(&gc.lock, f);
}

/* Is the quantum over: its deadline came, or (idle) a mutator woke? */
static bool quantum_over(void)
{
	if (gc.mode == Q_PAUSE)
		return __atomic_load_n(&gc.q_over, __ATOMIC_RELAXED);
	return mutators_waiting();
}

/* Stopping the world: on one CPU, no mutator runs while the worker holds
 * preemption off. SMP extends this pair with IPIs that park the others. */
static void gc_stop_world(void) { preempt_disable(); }
static void gc_start_world(void) { preempt_enable(); }

/* ---- cycles ----------------------------------------------------------------- */

static void trim_thread(struct thread *t, void *unused)
{
	(void)unused;
	if (t == gc.worker || t->state == THREAD_DEAD || t->state == THREAD_RUNNING || !t->stack)
		return;
	struct kstack_stats before, after;
	kstack_stats(t->stack, &before);
	kstack_trim(t->stack, t->preempted ? t->frame.rsp : t->rsp);
	kstack_stats(t->stack, &after);
	gc.cyc_trimmed += before.mapped - after.mapped;
}

static void cycle_begin(void)
{
	struct gc_heap *h = &gc.heap;
	uint64_t now = clock_ns();
	gc.t_begin = now;
	if (gc_mark_begin(h, __atomic_load_n(&gc.mark_cap, __ATOMIC_RELAXED)) != KERR_OK)
		panic("gc: no memory for the mark stack");
	uint64_t f = spin_lock_irqsave(&h->lock);
	gc.before = h->alloc_bytes;
	uint64_t total = h->total_alloc_bytes;
	spin_unlock_irqrestore(&h->lock, f);
	/* a, from the allocation since the last cycle began over the mutator
	 * time since then. */
	f = spin_lock_irqsave(&gc.lock);
	if (gc.cycles) {
		uint64_t wall = now - gc.t_start_end, busy = gc.gc_ns - gc.gc_ns_at_begin;
		uint64_t mut = wall > busy ? wall - busy : 1;
		uint64_t bytes = total - gc.alloc_at_begin;
		if (mut > 1000000)
			gc.alloc_rate_milli = bytes * 1000 / mut;
	}
	gc.alloc_at_begin = total;
	gc.gc_ns_at_begin = gc.gc_ns;
	gc.started++;
	spin_unlock_irqrestore(&gc.lock, f);
	gc.phase = C_ROOTS;
	gc.root_step = R_DATA;
	gc.data_cursor = (uintptr_t)__data_start;
	gc.rounds = 0;
	gc.round_done = false;
	gc.cycle_max_pause = gc.mark_ns = 0;
	gc.cyc_stack_bytes = gc.cyc_data_bytes = gc.cyc_root_bytes = gc.cyc_trimmed = 0;
	gc.t_start_end = clock_ns();
}

static bool roots_step(void)
{
	switch (gc.root_step) {
	case R_DATA: {
		uintptr_t end = (uintptr_t)__bss_end;
		for (size_t n = 0; n < GC_STEP_BYTES && gc.data_cursor < end;) {
			uintptr_t pg = gc.data_cursor & ~(PAGE_SIZE - 1);
			uintptr_t hi = pg + PAGE_SIZE < end ? pg + PAGE_SIZE : end;
			gc_plat_test_and_clear_dirty(pg);
			n += data_scanned(gc_roots_mark_data(&gc.heap, gc.data_cursor, hi)) + 64;
			gc.data_cursor = hi;
		}
		if (gc.data_cursor >= end)
			gc.root_step = R_REGISTERED;
		return false;
	}
	case R_REGISTERED:
		gc.cyc_root_bytes += gc_roots_mark_registered(&gc.heap);
		gc.root_step = R_THREADS;
		return false;
	case R_THREADS: {
		struct thread_pass p = { .budget = GC_STEP_BYTES };
		thread_for_each(scan_thread, &p);
		if (!p.incomplete && p.budget)
			gc.root_step = R_DONE;
		return false;
	}
	case R_DONE:
		return true;
	}
	return true;
}

/* The final phase, world stopped. Return: true when marking is complete. */
static bool final_phase(bool bounded)
{
	struct gc_heap *h = &gc.heap;
#define GIVE_UP() (bounded && __atomic_load_n(&gc.q_over, __ATOMIC_RELAXED))
	size_t dirty = 0;
	uintptr_t cursor = h->base;
	while (!gc_mark_dirty_step(h, &cursor, GC_DIRTY_STEP, &dirty))
		if (GIVE_UP())
			return false;
	for (uintptr_t lo = (uintptr_t)__data_start; lo < (uintptr_t)__bss_end; lo += 16ul << 10) {
		uintptr_t hi = lo + (16ul << 10) < (uintptr_t)__bss_end ? lo + (16ul << 10) : (uintptr_t)__bss_end;
		data_scanned(gc_roots_rescan_data(h, lo, hi));
		if (GIVE_UP())
			return false;
	}
	gc.cyc_root_bytes += gc_roots_mark_registered(h);
	struct thread_pass p = { .budget = SIZE_MAX, .final = true };
	thread_for_each(scan_thread, &p);
	while (!gc_mark_drain(h, GC_STEP_BYTES))
		if (GIVE_UP())
			return false;
	return true;
#undef GIVE_UP
}

static void cycle_finish(void);

/* One step of the cycle. Return: true when the cycle is over. */
static bool cycle_step(void)
{
	struct gc_heap *h = &gc.heap;
	switch (gc.phase) {
	case C_ROOTS:
		if (roots_step())
			gc.phase = C_DRAIN;
		return false;
	case C_DRAIN:
		if (gc_mark_drain(h, GC_STEP_BYTES)) {
			gc.dirty_cursor = h->base;
			gc.dirty_part = 0;
			gc.phase = gc.round_done ? C_FINAL : C_DIRTY;
		}
		return false;
	case C_DIRTY: {
		size_t dirty = 0;
		struct thread_pass p = { .budget = SIZE_MAX, .final = true };
		switch (gc.dirty_part) {
		case 0:
			if (gc_mark_dirty_step(h, &gc.dirty_cursor, GC_DIRTY_STEP, &dirty))
				gc.dirty_part = 1;
			break;
		case 1: {
			/* The data segment, 16 KiB of it a step: each dirty page
			 * found costs a page's scan. */
			if (gc.data_cursor < (uintptr_t)__data_start || gc.data_cursor >= (uintptr_t)__bss_end)
				gc.data_cursor = (uintptr_t)__data_start;
			uintptr_t hi = gc.data_cursor + (16ul << 10);
			if (hi >= (uintptr_t)__bss_end) {
				hi = (uintptr_t)__bss_end;
				gc.dirty_part = 2;
			}
			data_scanned(gc_roots_rescan_data(h, gc.data_cursor, hi));
			gc.data_cursor = gc.dirty_part == 2 ? 0 : hi;
			break;
		}
		default:
			/* The stacks as the final phase sees them, so that what is
			 * reachable only from them is marked before it. */
			thread_for_each(scan_thread, &p);
			gc.round_done = true;
			gc.phase = C_DRAIN;
		}
		return false;
	}
	case C_FINAL: {
		/* A fresh quantum for it, its whole length. */
		uint64_t now = clock_ns();
		if (gc.mode == Q_PAUSE && gc.rounds < GC_MAX_ROUNDS && now - gc.q_start > gc.q_ns / 10) {
			__atomic_store_n(&gc.q_over, true, __ATOMIC_RELAXED);
			return false;
		}
		bool bounded = gc.rounds < GC_MAX_ROUNDS;
		if (gc.mode == Q_IDLE) {
			__atomic_store_n(&gc.q_over, false, __ATOMIC_RELAXED);
			timer_deadline_ns(&gc.ev, now + gc.q_ns - gc.q_ns / 20, on_deadline, NULL);
		}
		gc_stop_world();
		gc.t_final = now;
		bool done = final_phase(bounded);
		gc_start_world();
		if (gc.mode == Q_IDLE)
			timer_cancel(&gc.ev);
		gc.t_final_end = clock_ns();
		if (!done) {
			/* What it cleared is grey: another round, then a final
			 * phase with less to do. */
			gc.rounds++;
			gc.round_done = false;
			gc.phase = C_DRAIN;
			if (gc.rounds == GC_MAX_ROUNDS) {
				uint64_t f = spin_lock_irqsave(&gc.lock);
				gc.overruns++;	/* the next final phase runs to its end */
				spin_unlock_irqrestore(&gc.lock, f);
			}
			return false;
		}
		gc.live = h->marked_bytes;
		gc_sweep_begin(h);
		gc.phase = C_SWEEP;
		return false;
	}
	case C_SWEEP:
		if (gc_sweep_step(h, GC_SWEEP_SPANS))
			gc.phase = C_TRIM;
		return false;
	case C_TRIM:
		thread_for_each(trim_thread, NULL);
		cycle_finish();
		return true;
	}
	return true;
}

/* Go's gctrace layout: "gc N @Ts P%: start+incremental+end ms clock,
 * before->after->live KB, goal KB goal, stack KB stacks, data KB globals",
 * then Tidemark's own: the cycle's largest pause, overruns so far, stack
 * bytes trimmed. The start phase is gc_mark_begin; the end phase the last
 * (successful) final phase; the incremental phase is the wall time
 * between them. */
static void trace_cycle(uint64_t after, uint64_t t_end)
{
	uint64_t us[3] = { (gc.t_start_end - gc.t_begin) / 1000, (gc.t_final - gc.t_start_end) / 1000,
			   (gc.t_final_end - gc.t_final) / 1000 };
	uint64_t pct = t_end ? gc.gc_ns * 100 / t_end : 0;
	kprintf("gc %llu @%llu.%03llus %llu%%: %llu.%03llu+%llu.%03llu+%llu.%03llu ms clock, "
		"%llu->%llu->%llu KB, %llu KB goal, %llu KB stacks, %llu KB globals, "
		"max pause %llu us, %llu overruns, %llu KB trimmed\n",
		(unsigned long long)gc.cycles, (unsigned long long)(t_end / 1000000000),
		(unsigned long long)(t_end / 1000000 % 1000), (unsigned long long)pct,
		(unsigned long long)(us[0] / 1000), (unsigned long long)(us[0] % 1000),
		(unsigned long long)(us[1] / 1000), (unsigned long long)(us[1] % 1000),
		(unsigned long long)(us[2] / 1000), (unsigned long long)(us[2] % 1000),
		(unsigned long long)(gc.before >> 10), (unsigned long long)(after >> 10),
		(unsigned long long)(gc.live >> 10), (unsigned long long)(gc.goal >> 10),
		(unsigned long long)(gc.stack_bytes >> 10), (unsigned long long)(gc.data_bytes >> 10),
		(unsigned long long)(gc.cycle_max_pause / 1000), (unsigned long long)gc.overruns,
		(unsigned long long)(gc.trimmed_bytes >> 10));
}

/* The goal and trigger for the next cycle; figures; wake the waiters. */
static void cycle_finish(void)
{
	struct gc_heap *h = &gc.heap;
	uint64_t f = spin_lock_irqsave(&h->lock);
	uint64_t after = h->alloc_bytes, scanned = h->scanned_bytes;
	spin_unlock_irqrestore(&h->lock, f);
	uint64_t work = scanned + gc.cyc_root_bytes + gc.cyc_stack_bytes + gc.cyc_data_bytes;
	uint64_t goal = gc.live + gc.live * gc_percent / 100;
	if (goal < GC_MIN_GOAL)
		goal = GC_MIN_GOAL;
	if (gc_limit && goal > gc_limit)
		goal = gc_limit;

	f = spin_lock_irqsave(&gc.lock);
	if (work)
		gc.mark_cost_pico = gc.mark_ns * 1000 / work;
	/* The bytes mutators allocate while the next cycle runs:
	 * a * (m * W / u) * (1 - u), with u = quota / window. */
	uint64_t runway = gc.alloc_rate_milli * gc.mark_cost_pico / 1000 * work / 1000000 *
			  (gc.window_ns - gc.quota_ns) / gc.quota_ns;
	gc.goal = goal;
	gc.trigger = goal > gc.live + runway ? goal - runway : gc.live;
	gc.cycles++;
	gc.completed++;
	gc.root_bytes = gc.cyc_root_bytes + gc.cyc_stack_bytes + gc.cyc_data_bytes;
	gc.stack_bytes = gc.cyc_stack_bytes;
	gc.data_bytes = gc.cyc_data_bytes;
	gc.trimmed_bytes = gc.cyc_trimmed;
	gc.trimmed_total += gc.cyc_trimmed;
	gc.rounds_total += gc.rounds;
	spin_unlock_irqrestore(&gc.lock, f);
	waitq_wake_all(&gc.done_wq);
	if (gc_trace)
		trace_cycle(after, clock_ns());
}

static bool marking(void) { return gc.phase <= C_FINAL; }

static void worker_main(void *unused)
{
	(void)unused;
	for (;;) {
		wait_event(&gc.worker_wq, __atomic_load_n(&gc.requested, __ATOMIC_RELAXED) > gc.started);
		quantum_begin();
		cycle_begin();
		for (;;) {
			uint64_t t = clock_ns();
			if (gc_record_fold_due(&gc.rec)) {
				/* A step of its own, before the log wraps over pauses
				 * not yet folded. */
				uint64_t f = spin_lock_irqsave(&gc.lock);
				gc_record_fold_mmu(&gc.rec);
				spin_unlock_irqrestore(&gc.lock, f);
				if (quantum_over()) {
					quantum_end(t);
					quantum_begin();
				}
				continue;
			}
			bool was_marking = marking();
			bool done = cycle_step();
			if (was_marking)
				gc.mark_ns += clock_ns() - t;
			if (done) {
				quantum_end(t);
				break;
			}
			if (quantum_over()) {
				quantum_end(t);
				quantum_begin();
			}
		}
	}
}

/* ---- the mutators' side ----------------------------------------------------- */

/* Ask for a cycle after those begun so far. Return: its number. */
static uint64_t request_cycle(bool wait_for_memory)
{
	uint64_t f = spin_lock_irqsave(&gc.lock);
	uint64_t target = gc.started + 1;
	if (gc.requested < target)
		gc.requested = target;
	if (wait_for_memory)
		gc.waiters++;
	gc.worker_wake = true;
	spin_unlock_irqrestore(&gc.lock, f);
	waitq_wake_one(&gc.worker_wq);
	return target;
}

static void wait_cycle(uint64_t target)
{
	wait_event(&gc.done_wq, __atomic_load_n(&gc.completed, __ATOMIC_RELAXED) >= target);
}

void gc_collect(void)
{
	check_context("gc_collect");
	wait_cycle(request_cycle(false));
}

static void *alloc(size_t n, bool noscan)
{
	check_context("gc_alloc");
	struct gc_heap *h = &gc.heap;
	uint64_t bytes = __atomic_load_n(&h->alloc_bytes, __ATOMIC_RELAXED);
	if (bytes >= __atomic_load_n(&gc.trigger, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&gc.requested, __ATOMIC_RELAXED) == gc.completed)
		request_cycle(false);
	void *p = gc_heap_alloc(h, n, noscan);
	if (p || !gc_size_class_bytes(n))
		return p;
	/* No page: wait for a complete cycle begun after this failure. */
	uint64_t t0 = clock_ns();
	wait_cycle(request_cycle(true));
	uint64_t f = spin_lock_irqsave(&gc.lock);
	gc.waiters--;
	gc.waits++;
	gc.wait_ns += clock_ns() - t0;
	spin_unlock_irqrestore(&gc.lock, f);
	return gc_heap_alloc(h, n, noscan);
}

void *gc_alloc(size_t n) { return alloc(n, false); }
void *gc_alloc_noscan(size_t n) { return alloc(n, true); }

void gc_stats(struct gc_stats *out)
{
	ASSERT(__atomic_load_n(&gc.ready, __ATOMIC_ACQUIRE));
	struct gc_heap *h = &gc.heap;
	uint64_t f = spin_lock_irqsave(&gc.lock);
	gc_record_fold_mmu(&gc.rec);
	*out = (struct gc_stats){
		.cycles = gc.cycles,
		.live_bytes = gc.live,
		.goal_bytes = gc.goal,
		.trigger_bytes = gc.trigger,
		.root_bytes = gc.root_bytes,
		.stack_bytes = gc.stack_bytes,
		.data_bytes = gc.data_bytes,
		.pause_max_ns = gc.rec.max_ns,
		.pause_total_ns = gc.rec.total_ns,
		.pauses = gc.rec.nlog,
		.gc_ns = gc.gc_ns,
		.stack_trimmed_bytes = gc.trimmed_total,
		.alloc_wait_ns = gc.wait_ns,
		.alloc_waits = gc.waits,
		.overruns = gc.overruns,
		.rounds = gc.rounds_total,
		.alloc_rate_milli = gc.alloc_rate_milli,
		.mark_cost_pico = gc.mark_cost_pico,
	};
	for (int i = 0; i < GC_HIST; i++)
		out->pause_hist[i] = gc.rec.hist[i];
	for (int i = 0; i < GC_MMU_WINDOWS; i++)
		out->mmu_ppm[i] = gc.rec.mmu_ppm[i];
	spin_unlock_irqrestore(&gc.lock, f);
	f = spin_lock_irqsave(&h->lock);
	out->heap_bytes = h->pages * PAGE_SIZE;
	out->alloc_bytes = h->alloc_bytes;
	out->peak_alloc_bytes = h->peak_alloc_bytes;
	out->peak_heap_bytes = h->peak_pages * PAGE_SIZE;
	out->total_alloc_bytes = h->total_alloc_bytes;
	out->total_allocs = h->total_allocs;
	out->freed_bytes = h->freed_bytes;
	out->freed_objects = h->freed_objects;
	out->scanned_bytes = h->scanned_bytes;
	out->mark_overflows = h->overflows;
	spin_unlock_irqrestore(&h->lock, f);
}

void gc_peak_reset(void)
{
	struct gc_heap *h = &gc.heap;
	uint64_t f = spin_lock_irqsave(&h->lock);
	h->peak_pages = h->pages;
	h->peak_alloc_bytes = h->alloc_bytes;
	spin_unlock_irqrestore(&h->lock, f);
}

void gc_pauses(struct gc_pause_log *out)
{
	uint64_t f = spin_lock_irqsave(&gc.lock);
	gc_record_copy(&gc.rec, out);
	spin_unlock_irqrestore(&gc.lock, f);
}

unsigned gc_mark_stack_set(unsigned entries)
{
	ASSERT(entries > 0);
	return __atomic_exchange_n(&gc.mark_cap, entries, __ATOMIC_RELAXED);
}

bool gc_trace_set(bool on)
{
	bool was = gc_trace;
	gc_trace = on;
	return was;
}

struct gc_heap *gc_kernel_heap(void)
{
	return &gc.heap;
}
