/*
 * tests/kernel/timer_test.c - the tick and one-shot deadlines on the local
 * APIC timer, its calibration, and allocation from interrupt context
 * (hazard 3): a tick that allocates pages while the interrupted code is
 * itself inside the page allocator.
 *
 * Rates are checked against clock_ns with tolerances that hold under TCG,
 * where a busy host can hold the guest up (late or merged interrupts), and
 * under -icount shift=0,sleep=off, where every clock is instruction time.
 * A deadline must never run early; how late it runs is bounded well under a
 * tick (the median of a batch, so one host hiccup does not fail a boot) and
 * printed. Every test ends with interrupts off and no deadline armed.
 */
#include "kernel/console.h"
#include "kernel/irq.h"
#include "kernel/ktest.h"
#include "kernel/lapic.h"
#include "kernel/time.h"
#include "kernel/timer.h"
#include "kernel/x86.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/vmm.h"
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
	/* Interrupts off but inside ticks_with_irqs_on, so that every tick
	 * the hook sees is one it counts. */
	uint64_t flags = irq_save();
	tick_log.calls = 0;
	tick_log.ctx = NULL;
	timer_set_handler(log_tick, &cookie);
	uint64_t n = ticks_with_irqs_on(5);
	timer_set_handler(NULL, NULL);

	KEXPECT_GE(n, 5);
	KEXPECT_EQ(tick_log.calls, n);
	KEXPECT_EQ(tick_log.ctx, (void *)&cookie);

	/* Without a hook the ticks go on, and the old hook is not called. */
	KEXPECT_GE(ticks_with_irqs_on(2), 2);
	KEXPECT_EQ(tick_log.calls, n);
	irq_restore(flags);
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

KTEST(timer, calibration_is_plausible)
{
	const struct calibration *c = timer_calibration();

	kprintf("    # TSC %llu Hz, local APIC timer %llu Hz, spreads %llu/%llu ppm\n",
		(unsigned long long)c->tsc_hz, (unsigned long long)c->lapic_hz,
		(unsigned long long)c->tsc_spread_ppm, (unsigned long long)c->lapic_spread_ppm);
	KEXPECT_GE(c->tsc_hz, 100000000);		/* 100 MHz .. 10 GHz */
	KEXPECT_LE(c->tsc_hz, 10000000000ull);
	KEXPECT_GE(c->lapic_hz, 1000000);		/* 1 MHz .. 5 GHz */
	KEXPECT_LE(c->lapic_hz, 5000000000ull);
	KEXPECT_EQ(clock_tsc_hz(), c->tsc_hz);
	if (c->cpuid_tsc_hz) {			/* the PIT agrees with CPUID to 1% */
		KEXPECT_LE(c->tsc_hz, c->cpuid_tsc_hz + c->cpuid_tsc_hz / 100);
		KEXPECT_GE(c->tsc_hz, c->cpuid_tsc_hz - c->cpuid_tsc_hz / 100);
	}
}

KTEST(timer, lapic_page_is_mapped_uncached_by_the_kernel)
{
	struct vmm_translation t;

	KEXPECT_GE(lapic_mmio_va(), MMIO_REGION_BASE);
	KEXPECT_LT(lapic_mmio_va(), MMIO_REGION_BASE + MMIO_REGION_SIZE);
	KASSERT_TRUE(vmm_translate(lapic_mmio_va(), &t));
	KEXPECT_EQ(t.pa, lapic_mmio_pa());
	KEXPECT_EQ(t.page_size, PAGE_SIZE);
	KEXPECT_TRUE(t.uncached);
	KEXPECT_EQ(t.prot, vmm_has_nx() ? VMM_WRITE : VMM_WRITE | VMM_EXEC);
}

/*
 * Interrupts on for `ns` of clock time, waiting in hlt (the next tick is at
 * most a period away): a guest that spins keeps a host CPU busy that QEMU's
 * own timer thread may need, and on a busy host that alone delays TCG's
 * interrupts by milliseconds. Return: ticks taken meanwhile.
 */
static uint64_t ticks_over_ns(uint64_t ns)
{
	uint64_t start = timer_ticks(), end = clock_ns() + ns;
	uint64_t flags = irq_save();

	irq_enable();
	while (clock_ns() < end)
		hlt();
	irq_restore(flags);
	return timer_ticks() - start;
}

static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

#define TICK_GAPS	2048

static struct {
	uint64_t last;
	unsigned n;
	uint64_t gap[TICK_GAPS];	/* clock time between consecutive ticks */
} tick_gaps;

static void record_gap(void *unused)
{
	uint64_t now = clock_ns();

	(void)unused;
	if (tick_gaps.last && tick_gaps.n < TICK_GAPS)
		tick_gaps.gap[tick_gaps.n++] = now - tick_gaps.last;
	tick_gaps.last = now;
}

/*
 * Ticks over 200 ms of clock time. A busy host holds TCG's guest up, and
 * late interrupts merge (a one-shot tick at 10000 Hz is often more than a
 * period late there), so the count only bounds the rate from above (no
 * more than 1% over, and one pending at enable) and loosely from below (a
 * quarter). The rate itself is in the gaps between ticks: their median,
 * and at least a quarter of them, lie within 5% of the period plus 10 us,
 * the jitter of reading the clock in a handler under TCG on a busy host
 * (which dominates at 10000 Hz).
 */
static void expect_rate(unsigned hz)
{
	const uint64_t ms = 200, want = hz * ms / 1000, period = NSEC_PER_SEC / hz;

	tick_gaps.last = 0;
	tick_gaps.n = 0;
	timer_set_handler(record_gap, NULL);
	uint64_t n = ticks_over_ns(ms * 1000000);
	timer_set_handler(NULL, NULL);
	sort_u64(tick_gaps.gap, tick_gaps.n);
	uint64_t median = tick_gaps.n ? tick_gaps.gap[tick_gaps.n / 2] : 0;
	const uint64_t slack = period / 20 + 10000;
	unsigned on_time = 0;
	for (unsigned i = 0; i < tick_gaps.n; i++)
		on_time += tick_gaps.gap[i] >= period - slack && tick_gaps.gap[i] <= period + slack;

	kprintf("    # %u Hz (%s): %llu ticks in %llu ms, median gap %llu ns, %u of %u gaps on time\n",
		hz, lapic_timer_periodic_mode() ? "periodic" : "one-shot", (unsigned long long)n,
		(unsigned long long)ms, (unsigned long long)median, on_time, tick_gaps.n);
	KEXPECT_LE(n, want + want / 100 + 1);
	KEXPECT_GE(n, want / 4);
	KEXPECT_GE(median, period - slack);
	KEXPECT_LE(median, period + slack);
	KEXPECT_GE(on_time * 4, tick_gaps.n);
	KEXPECT_GT(on_time, 0);
}

KTEST(timer, periodic_ticks_come_at_timer_hz_by_the_clock)
{
	unsigned hz = timer_hz();

	KEXPECT_TRUE(lapic_timer_periodic_mode());
	expect_rate(hz);
	static const unsigned rates[] = { 100, 1000, 10000 };
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		timer_set_hz(rates[i]);
		expect_rate(rates[i]);
		KEXPECT_TRUE(lapic_timer_periodic_mode());
	}
	timer_set_hz(hz);
	KEXPECT_TRUE(irq_enabled());
}

static void never(void *ctx)
{
	(*(unsigned *)ctx)++;
}

KTEST(timer, one_shot_ticks_keep_the_rate_while_a_deadline_waits)
{
	static struct timer_event far;
	/* Armed with interrupts off, as the checks below expect; they run in
	 * run_deadlines. */
	uint64_t flags = irq_save();
	unsigned hz = timer_hz(), runs = 0;

	timer_deadline_ns(&far, clock_ns() + 60 * NSEC_PER_SEC, never, &runs);
	KEXPECT_FALSE(lapic_timer_periodic_mode());
	expect_rate(hz);
	timer_set_hz(10000);
	expect_rate(10000);
	timer_set_hz(hz);
	KEXPECT_FALSE(lapic_timer_periodic_mode());
	KEXPECT_TRUE(timer_cancel(&far));
	/* The next tick puts the APIC back in periodic mode. */
	KEXPECT_GE(ticks_over_ns(3 * NSEC_PER_SEC / hz), 1);
	KEXPECT_TRUE(lapic_timer_periodic_mode());
	KEXPECT_EQ(runs, 0);
	KEXPECT_EQ(timer_armed_count(), 0);
	irq_restore(flags);
}

/* A deadline that records when it ran and in which order. */
struct probe {
	struct timer_event ev;
	uint64_t when, ran_at;
	unsigned runs, order;
	unsigned rearm;		/* arm again this many times, rearm_ns apart */
	uint64_t rearm_ns;
};

static unsigned probe_order;

static void probe_ran(void *ctx)
{
	struct probe *p = ctx;

	p->ran_at = clock_ns();
	p->runs++;
	p->order = ++probe_order;
	if (p->rearm) {
		p->rearm--;
		p->when += p->rearm_ns;
		timer_deadline_ns(&p->ev, p->when, probe_ran, p);
	}
}

static void probe_arm(struct probe *p, uint64_t when)
{
	*p = (struct probe){ .when = when };
	timer_deadline_ns(&p->ev, when, probe_ran, p);
}

/* Interrupts on until no deadline is armed, or `limit_ns` passed; in
 * hlt, as ticks_over_ns. */
static void run_deadlines(uint64_t limit_ns)
{
	uint64_t end = clock_ns() + limit_ns;
	uint64_t flags = irq_save();

	irq_enable();
	while (timer_armed_count() && clock_ns() < end)
		hlt();
	irq_restore(flags);
}

#define LATENCY_RUNS	21

KTEST(timer, a_deadline_runs_sub_tick_never_early_and_soon_after)
{
	static struct probe p;
	/* Armed with interrupts off, as the checks below expect; they run in
	 * run_deadlines. */
	uint64_t flags = irq_save();
	uint64_t late[LATENCY_RUNS], early = 0;
	const uint64_t ahead = 200000;		/* 200 us: a fifth of a 1000 Hz tick */
	unsigned hz = timer_hz();

	timer_set_hz(1000);
	for (unsigned i = 0; i < LATENCY_RUNS; i++) {
		/* Just after a tick, so that only the deadline's own
		 * programming can make it run before the next one. */
		ticks_over_ns(1);
		probe_arm(&p, clock_ns() + ahead);
		run_deadlines(NSEC_PER_SEC);
		KEXPECT_EQ(p.runs, 1);
		early += p.ran_at < p.when;
		late[i] = p.ran_at - p.when;
	}
	timer_set_hz(hz);
	sort_u64(late, LATENCY_RUNS);
	kprintf("    # 200 us deadline at 1000 Hz: late by %llu ns median, %llu min, %llu max\n",
		(unsigned long long)late[LATENCY_RUNS / 2], (unsigned long long)late[0],
		(unsigned long long)late[LATENCY_RUNS - 1]);
	KEXPECT_EQ(early, 0);
	KEXPECT_LT(late[LATENCY_RUNS / 2], 200000);	/* well before the next tick */
	KEXPECT_EQ(timer_armed_count(), 0);
	irq_restore(flags);
}

KTEST(timer, deadlines_run_in_time_order_and_equal_times_as_armed)
{
	static struct probe p[6];
	static const unsigned offset_us[6] = { 900, 300, 1700, 300, 100, 2500 };
	static const unsigned order[6] = { 4, 2, 5, 3, 1, 6 };
	/* Armed with interrupts off, as the checks below expect; they run in
	 * run_deadlines. */
	uint64_t flags = irq_save();
	uint64_t now = clock_ns();

	probe_order = 0;
	for (unsigned i = 0; i < 6; i++)
		probe_arm(&p[i], now + offset_us[i] * 1000ull);
	KEXPECT_EQ(timer_armed_count(), 6);
	run_deadlines(NSEC_PER_SEC);
	for (unsigned i = 0; i < 6; i++) {
		KEXPECT_EQ(p[i].runs, 1);
		KEXPECT_EQ(p[i].order, order[i]);
		KEXPECT_GE(p[i].ran_at, p[i].when);
	}
	KEXPECT_EQ(timer_armed_count(), 0);
	irq_restore(flags);
}

KTEST(timer, cancel_disarms_and_rearming_moves)
{
	static struct probe a, b, c;
	/* Armed with interrupts off, as the checks below expect; they run in
	 * run_deadlines. */
	uint64_t flags = irq_save();
	uint64_t now = clock_ns();

	probe_arm(&a, now + 500000);
	probe_arm(&b, now + 1000000);
	probe_arm(&c, now + 10 * NSEC_PER_SEC);
	KEXPECT_TRUE(timer_armed(&a.ev));
	KEXPECT_TRUE(timer_cancel(&a.ev));	/* the head: its interrupt finds nothing */
	KEXPECT_FALSE(timer_armed(&a.ev));
	KEXPECT_FALSE(timer_cancel(&a.ev));
	c.when = now + 300000;
	timer_deadline_ns(&c.ev, c.when, probe_ran, &c);	/* moved, not added */
	KEXPECT_EQ(timer_armed_count(), 2);
	run_deadlines(NSEC_PER_SEC);
	KEXPECT_EQ(a.runs, 0);
	KEXPECT_EQ(b.runs, 1);
	KEXPECT_EQ(c.runs, 1);
	KEXPECT_GE(c.ran_at, c.when);
	KEXPECT_FALSE(timer_cancel(&b.ev));	/* already ran */
	/* Past a's time, with interrupts on: still nothing for a. */
	ticks_over_ns(1000000);
	KEXPECT_EQ(a.runs, 0);
	irq_restore(flags);
}

KTEST(timer, a_deadline_may_arm_itself_again_from_its_callback)
{
	static struct probe p;
	const unsigned times = 10;

	/* Armed with interrupts off, as the checks below expect; they run in
	 * run_deadlines. */
	uint64_t flags = irq_save();
	probe_arm(&p, clock_ns() + 100000);
	p.rearm = times - 1;
	p.rearm_ns = 150000;
	run_deadlines(NSEC_PER_SEC);
	KEXPECT_EQ(p.runs, times);
	KEXPECT_GE(p.ran_at, p.when);
	KEXPECT_FALSE(timer_armed(&p.ev));
	irq_restore(flags);
}

KTEST(timer, a_deadline_that_is_due_waits_for_interrupts_to_be_enabled)
{
	static struct probe p;
	uint64_t t0 = clock_ns();

	uint64_t flags = irq_save();
	probe_arm(&p, t0 - 1 < t0 ? t0 - 1 : 0);
	while (clock_ns() - t0 < 2000000)	/* 2 ms, interrupts off */
		__asm__ volatile("pause");
	KEXPECT_EQ(p.runs, 0);
	uint64_t on = clock_ns();
	run_deadlines(NSEC_PER_SEC);
	irq_restore(flags);
	KEXPECT_EQ(p.runs, 1);
	KEXPECT_GE(p.ran_at, on);
	/* At the first interrupt: under TCG, once QEMU's timer thread gets a
	 * host CPU, which on a busy host takes milliseconds. */
	KEXPECT_LT(p.ran_at - on, 100000000);
}

/* A one-shot that fired leaves the count it ran down from. Switching to
 * periodic must not pass through periodic mode with that count: QEMU's APIC
 * would reload every count+1 clocks while its main loop catches up with the
 * clock, which at a count of 1 it never does (the guest stops for good).
 * Each switch below is such a window; many of them make one likely. */
KTEST(timer, switching_a_fired_one_shot_to_periodic_never_runs_the_old_count)
{
	const unsigned switches = 20000;
	uint64_t flags = irq_save();

	for (unsigned i = 0; i < switches; i++) {
		lapic_timer_oneshot(1);
		while (lapic_timer_count())
			__asm__ volatile("pause");
		lapic_timer_periodic(UINT32_MAX);
		KEXPECT_TRUE(lapic_timer_periodic_mode());
		KEXPECT_GT(lapic_timer_count(), UINT32_MAX / 2);
	}
	timer_set_hz(timer_hz());	/* the tick, periodic, from now */
	irq_restore(flags);
	KEXPECT_EQ(timer_armed_count(), 0);
}
