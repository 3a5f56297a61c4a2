/*
 * bench/kernel/kstack_bench.c - guest cost of a stack's growth, per page,
 * in TSC ticks (instructions under -icount shift=0), zeroing included.
 *
 * Each round trims a stack to its top pages, then times a descent of
 * 256-byte frames across GROW_PAGES pages, less the same descent over the
 * now-mapped pages: what is left is the faults', one fault a page.
 *  - kstack_grow_cache.page: interrupts on, no lock: pages come back from
 *    the stack-page cache the trim filled (the common case);
 *  - kstack_grow_reserve.page: interrupts off: the cache's lock, or with a
 *    spinlock held the per-CPU reserve (refilled between rounds).
 */
#include "kernel/irq.h"
#include "kernel/kbench.h"
#include "kernel/panic.h"
#include "kernel/spinlock.h"
#include "mm/kstack.h"
#include "tests/kernel/kstack_call.h"

#define ROUNDS		64
#define GROW_PAGES	12	/* within both the cache and the reserve */

static struct kbench_samples grow_s;

__attribute__((noinline)) static void descend(uint64_t stop)
{
	volatile uint64_t frame[30];
	frame[0] = stop;
	if ((uint64_t)frame > stop)
		descend(stop);
	frame[1] = frame[0];
}

struct run {
	uint64_t stop;
	struct spinlock *lock;
	uint64_t ticks;
};

static void timed_descent(void *arg)
{
	struct run *r = arg;
	uint64_t flags = 0;
	if (r->lock)
		flags = spin_lock_irqsave(r->lock);
	else
		irq_enable();
	uint64_t t0 = kbench_cycles();
	descend(r->stop);
	r->ticks = kbench_cycles() - t0;
	if (r->lock)
		spin_unlock_irqrestore(r->lock, flags);
	else
		irq_disable();
}

static void rounds(struct kstack *ks, struct spinlock *lock, const char *name)
{
	grow_s.n = 0;
	for (int i = 0; i < ROUNDS; i++) {
		kstack_trim(ks, kstack_top(ks));
		kstack_refill();
		struct run r = { .stop = kstack_mapped_bottom(ks) - GROW_PAGES * PAGE_SIZE, .lock = lock };
		kt_call_on_stack(kstack_top(ks), timed_descent, &r);
		uint64_t grow = r.ticks;
		kt_call_on_stack(kstack_top(ks), timed_descent, &r);
		kbench_record(&grow_s, (grow - r.ticks) / GROW_PAGES);
	}
	kbench_report(name, &grow_s);
}

KBENCH(kstack)
{
	static struct spinlock lock = SPINLOCK_INIT("kstack-bench", LOCK_RANK_NONE);
	struct kstack *ks = kstack_create(0, "bench-grow");
	if (!ks)
		panic("kstack bench: no stack");
	rounds(ks, NULL, "kstack_grow_cache.page");
	rounds(ks, &lock, "kstack_grow_reserve.page");
	kstack_destroy(ks);
}
