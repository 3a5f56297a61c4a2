/*
 * tests/kernel/timer_test.c - the timer tick, and allocation from interrupt
 * context (hazard 3): a tick that allocates pages while the interrupted code
 * is itself inside the page allocator.
 *
 * Timing is not asserted (under TCG a tick's length is host-dependent): only
 * that ticks arrive, that the hook runs once per tick with its ctx, and that
 * interrupts are off again when each test ends.
 */
#include "kernel/console.h"
#include "kernel/irq.h"
#include "kernel/ktest.h"
#include "kernel/timer.h"
#include "kernel/x86.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "tests/kernel/irq_stress.h"

static struct {
	uint64_t calls;
	void *ctx;	/* what the last call was given */
} tick_log;

static void log_tick(void *ctx)
{
	tick_log.calls++;
	tick_log.ctx = ctx;
}

/* Enable interrupts until n ticks have passed (or the timer stalls). Return: ticks seen. */
static uint64_t ticks_with_irqs_on(uint64_t n)
{
	uint64_t start = timer_ticks(), seen = start, progress_tsc = rdtsc();
	uint64_t flags = irq_save();

	irq_enable();
	while (seen - start < n && rdtsc() - progress_tsc < IRQ_STRESS_STALL_CYCLES) {
		__asm__ volatile("pause");
		if (timer_ticks() != seen) {
			seen = timer_ticks();
			progress_tsc = rdtsc();
		}
	}
	irq_restore(flags);
	return timer_ticks() - start;
}

KTEST(timer, ticks_arrive_and_call_the_handler_with_its_ctx)
{
	static int cookie;

	KASSERT_TRUE(irq_enabled());
	tick_log.calls = 0;
	tick_log.ctx = NULL;
	timer_set_handler(log_tick, &cookie);
	uint64_t n = ticks_with_irqs_on(5);
	timer_set_handler(NULL, NULL);

	KEXPECT_GE(n, 5);
	KEXPECT_EQ(tick_log.calls, n);
	KEXPECT_EQ(tick_log.ctx, (void *)&cookie);
	KEXPECT_TRUE(irq_enabled());

	/* Without a hook the ticks go on, and the old hook is not called. */
	KEXPECT_GE(ticks_with_irqs_on(2), 2);
	KEXPECT_EQ(tick_log.calls, n);
	KEXPECT_TRUE(irq_enabled());
}

static void record_rate(void *ctx)
{
	*(unsigned *)ctx = timer_hz();
}

KTEST(timer, rate_can_be_raised_and_restored)
{
	unsigned hz = timer_hz(), hz_in_run = 0;

	KEXPECT_GE(hz, TIMER_HZ_MIN);
	KEXPECT_LE(hz, TIMER_HZ_MAX);
	struct irq_stress s = { .in_irq = record_rate, .ctx = &hz_in_run, .ticks = 50, .hz = 5000 };
	struct irq_stress_result r = irq_stress_run(&s);

	KEXPECT_FALSE(r.stalled);
	KEXPECT_GE(r.ticks, 50);
	KEXPECT_EQ(r.irq_calls, r.ticks);
	KEXPECT_EQ(hz_in_run, 5000);
	KEXPECT_EQ(timer_hz(), hz);
	KEXPECT_TRUE(irq_enabled());
}

/*
 * Pages from interrupt context. Each tick frees the block it allocated
 * RING ticks ago and allocates another; the main loop allocates a batch and
 * frees it. Every page of a block is stamped with its address and owner, so
 * a block handed to both contexts at once shows up as a broken stamp.
 */
#define RING		8
#define BATCH		8
#define ORDERS		4	/* blocks of order 0..3: the CPU cache and the buddy lists */
#define OWNER_IRQ	0x1bad1bad1bad1badull
#define OWNER_LOOP	0x600d600d600d600dull

struct block {
	uint64_t *p;
	unsigned order;
};

struct page_stress {
	struct block ring[RING];	/* tick only, until the run ends */
	unsigned next;			/* tick only */
	uint64_t rng;			/* tick only: ktest_random belongs to the main code */
	volatile bool in_allocator;	/* main code is inside page_alloc or page_free */
	uint64_t irqs_in_allocator;	/* tick only */
	/* One set of counters per context, so neither loses the other's updates. */
	uint64_t irq_allocs, irq_failed, irq_broken;
	uint64_t loop_allocs, loop_failed, loop_broken;
};

static void stamp(struct block b, uint64_t owner)
{
	for (size_t i = 0; i < (size_t)1 << b.order; i++)
		b.p[i * PAGE_SIZE / 8] = ((uintptr_t)b.p + i) ^ owner;
}

static bool stamped(struct block b, uint64_t owner)
{
	for (size_t i = 0; i < (size_t)1 << b.order; i++)
		if (b.p[i * PAGE_SIZE / 8] != (((uintptr_t)b.p + i) ^ owner))
			return false;
	return true;
}

static void pages_in_irq(void *ctx)
{
	struct page_stress *ps = ctx;
	struct block *b = &ps->ring[ps->next++ % RING];

	if (ps->in_allocator)
		ps->irqs_in_allocator++;
	if (b->p) {
		ps->irq_broken += !stamped(*b, OWNER_IRQ);
		page_free(b->p, b->order);
	}
	ps->rng ^= ps->rng << 13;
	ps->rng ^= ps->rng >> 7;
	ps->rng ^= ps->rng << 17;
	b->order = (unsigned)(ps->rng % ORDERS);
	b->p = page_alloc(b->order, 0);
	ps->irq_allocs++;
	if (b->p)
		stamp(*b, OWNER_IRQ);
	else
		ps->irq_failed++;
}

static void pages_in_loop(void *ctx)
{
	struct page_stress *ps = ctx;
	struct block batch[BATCH];

	for (unsigned i = 0; i < BATCH; i++) {
		batch[i].order = (unsigned)(ktest_random() % ORDERS);
		ps->in_allocator = true;
		batch[i].p = page_alloc(batch[i].order, 0);
		ps->in_allocator = false;
		ps->loop_allocs++;
		if (batch[i].p)
			stamp(batch[i], OWNER_LOOP);
		else
			ps->loop_failed++;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		if (!batch[i].p)
			continue;
		ps->loop_broken += !stamped(batch[i], OWNER_LOOP);
		ps->in_allocator = true;
		page_free(batch[i].p, batch[i].order);
		ps->in_allocator = false;
	}
}

KTEST(timer, page_alloc_in_interrupt_while_the_main_loop_allocates)
{
	static struct page_stress ps;
	struct pmm_stats before, after;
	uint64_t reports = kernel_pmm.reports;

	ps = (struct page_stress){ .rng = 0x9e3779b97f4a7c15ull };
	pmm_stats(&kernel_pmm, &before);
	struct irq_stress s = { .in_irq = pages_in_irq, .in_loop = pages_in_loop, .ctx = &ps,
				.ticks = 500, .hz = 2000 };
	struct irq_stress_result r = irq_stress_run(&s);
	for (unsigned i = 0; i < RING; i++) {
		ps.irq_broken += ps.ring[i].p && !stamped(ps.ring[i], OWNER_IRQ);
		page_free(ps.ring[i].p, ps.ring[i].order);
	}
	kprintf("    # %llu ticks, %llu in the main loop, %llu inside page_alloc/page_free; "
		"%llu loops\n", (unsigned long long)r.ticks, (unsigned long long)r.irqs_in_loop,
		(unsigned long long)ps.irqs_in_allocator, (unsigned long long)r.loops);

	KEXPECT_FALSE(r.stalled);
	KEXPECT_TRUE(irq_enabled());
	KEXPECT_GE(r.ticks, 500);
	KEXPECT_EQ(r.irq_calls, r.ticks);
	KEXPECT_EQ(ps.irq_allocs, r.ticks);
	KEXPECT_GE(r.irqs_in_loop, 200);
	KEXPECT_GT(ps.irqs_in_allocator, 0);
	KEXPECT_EQ(ps.irq_failed, 0);
	KEXPECT_EQ(ps.loop_failed, 0);
	KEXPECT_EQ(ps.irq_broken, 0);
	KEXPECT_EQ(ps.loop_broken, 0);
	KEXPECT_EQ(kernel_pmm.reports, reports);

	pmm_check(&kernel_pmm);
	pmm_stats(&kernel_pmm, &after);
	KEXPECT_EQ(after.free_pages, before.free_pages);
	KEXPECT_EQ(after.total_pages, before.total_pages);
}
