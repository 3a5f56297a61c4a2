/*
 * tests/kernel/kstack_test.c - kernel stacks: reservations and guards,
 * growth on faults (from the allocator, the cache or the reserve, by the
 * faulting context), overflow reports, stray accesses, trimming, page
 * reuse, exhaustion, and 10,000 idle stacks' memory.
 *
 * A test runs a function on a kstack with kt_call_on_stack (below), as the
 * thread layer will after switching RSP. A fault the kstack code hands to
 * the thread layer's hook is caught by test_hook, which resumes the test
 * at kt_call_resume, the way a hook that kills the thread would send it to
 * the scheduler.
 */
#include "kernel/console.h"
#include "kernel/error.h"
#include "kernel/irq.h"
#include "kernel/ktest.h"
#include "kernel/printf.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "kernel/timer.h"
#include "kernel/trap.h"
#include "mm/kstack.h"
#include "mm/pmm.h"
#include "mm/slab.h"
#include "mm/vmm.h"
#include "tests/kernel/kstack_call.h"

static struct {
	unsigned calls;
	struct kstack_fault last;
} hooked;

static bool test_hook(const struct kstack_fault *f, struct trap_frame *tf)
{
	hooked.calls++;
	hooked.last = *f;
	tf->rip = (uint64_t)kt_call_resume;
	tf->rsp = kt_saved_rsp;
	return true;
}

/* The thread layer's hook, while a test has its own. */
static kstack_fault_fn saved_hook;

static void hook_on(void)
{
	hooked.calls = 0;
	saved_hook = kstack_set_fault_hook(test_hook);
}

static void hook_off(void) { kstack_set_fault_hook(saved_hook); }

static struct kstack_stats stats(const struct kstack *ks)
{
	struct kstack_stats s;
	kstack_stats(ks, &s);
	return s;
}

static struct kstack_totals totals(void)
{
	struct kstack_totals t;
	kstack_totals(&t);
	return t;
}

static uint64_t free_pages(void)
{
	struct pmm_stats s;
	pmm_stats(&kernel_pmm, &s);
	return s.free_pages;
}

/* Recurse with 256-byte frames until a frame lies below `stop`; each frame
 * checks its own contents once its callee returns. Return: words found
 * changed. A stop of 0 never comes: the recursion runs into the guard. */
__attribute__((noinline)) static uint64_t descend(uint64_t stop, uint64_t salt)
{
	volatile uint64_t frame[32];
	uint64_t bad = 0;
	for (unsigned i = 0; i < 32; i++)
		frame[i] = salt * 977 + i;
	if ((uint64_t)frame > stop)
		bad = descend(stop, salt + 1);
	for (unsigned i = 0; i < 32; i++)
		bad += frame[i] != salt * 977 + i;
	return bad;
}

struct descent {
	uint64_t stop;
	bool irqs_on;		/* enable interrupts for the descent */
	struct spinlock *lock;	/* held during the descent, when set */
	uint64_t bad;
};

static void descend_fn(void *arg)
{
	struct descent *d = arg;
	uint64_t flags = 0;
	if (d->lock)
		flags = spin_lock_irqsave(d->lock);
	if (d->irqs_on)
		irq_enable();
	d->bad = descend(d->stop, 1);
	irq_disable();
	if (d->lock)
		spin_unlock_irqrestore(d->lock, flags);
}

static int run_descent(struct kstack *ks, struct descent *d)
{
	return kt_call_on_stack(kstack_top(ks), descend_fn, d);
}

KTEST(kstack, new_stack_has_top_page_and_guard)
{
	struct kstack *ks = kstack_create(0, "t-new");
	KASSERT_NOT_NULL(ks);
	struct kstack_stats s = stats(ks);
	KEXPECT_EQ(s.limit, KSTACK_LIMIT_DEFAULT);
	KEXPECT_EQ(s.hi - s.lo, s.limit);
	KEXPECT_EQ(s.mapped, PAGE_SIZE);
	KEXPECT_EQ(s.high_water, PAGE_SIZE);
	KEXPECT_EQ(kstack_top(ks) % 16, 0);
	KEXPECT_LT(kstack_top(ks), s.hi);
	KEXPECT_GE(kstack_top(ks), s.hi - KSTACK_META_SIZE);
	KEXPECT_EQ(kstack_mapped_bottom(ks), s.hi - PAGE_SIZE);
	KEXPECT_STREQ(s.name, "t-new");
	/* Only the top page is mapped; the guard below lo is a whole 64 KiB. */
	struct vmm_translation t;
	KEXPECT_TRUE(vmm_translate(s.hi - PAGE_SIZE, &t));
	KEXPECT_FALSE(vmm_translate(s.hi - 2 * PAGE_SIZE, &t));
	KEXPECT_FALSE(vmm_translate(s.lo - 1, &t));
	KEXPECT_EQ(s.hi % (128 * 1024), 0);
	/* The slot, guard included, finds the stack; a free slot finds none. */
	KEXPECT_EQ(kstack_find(s.lo), ks);
	KEXPECT_EQ(kstack_find(s.hi - 128 * 1024), ks);
	KEXPECT_EQ(kstack_find(s.hi - 1), ks);
	KEXPECT_NULL(kstack_find(s.hi + 64 * 1024));
	KEXPECT_NULL(kstack_find(0xffff800000000000ull));
	kstack_check();
	kstack_destroy(ks);
	KEXPECT_NULL(kstack_find(s.lo));
	KEXPECT_FALSE(vmm_translate(s.hi - PAGE_SIZE, &t));
	kstack_check();
}

KTEST(kstack, limits_pick_slot_sizes_up_to_16m)
{
	static const struct { size_t limit; uint64_t want, slot; } cases[] = {
		{ 1, KSTACK_LIMIT_MIN, 128 << 10 },
		{ 100 * 1024 + 1, 104 * 1024, 128 << 10 },
		{ 124 * 1024, 124 * 1024, 128 << 10 },	/* a one-page guard */
		{ 1 << 20, 1 << 20, 2 << 20 },
		{ (1 << 20) + 4096, (1 << 20) + 4096, 2 << 20 },
		{ KSTACK_LIMIT_MAX, KSTACK_LIMIT_MAX, 16 << 20 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kstack *ks = kstack_create(cases[i].limit, "t-limit");
		KASSERT_NOT_NULL(ks);
		struct kstack_stats s = stats(ks);
		KEXPECT_EQ(s.limit, cases[i].want);
		KEXPECT_EQ(s.hi % cases[i].slot, 0);
		KEXPECT_EQ(kstack_find(s.hi - cases[i].slot), ks);
		KEXPECT_GE(s.lo - (s.hi - cases[i].slot), PAGE_SIZE);	/* the guard */
		kstack_destroy(ks);
	}
	kstack_check();
}

KTEST(kstack, max_option_is_checked)
{
	char out[256];
	console_capture(out, sizeof(out));
	uint64_t bad_unit = kstack_max_from_option(12345);
	uint64_t too_small = kstack_max_from_option(4096);
	uint64_t too_big = kstack_max_from_option(32ull << 20);
	console_capture(NULL, 0);
	KEXPECT_EQ(bad_unit, KSTACK_LIMIT_DEFAULT);
	KEXPECT_EQ(too_small, KSTACK_LIMIT_DEFAULT);
	KEXPECT_EQ(too_big, KSTACK_LIMIT_DEFAULT);
	KEXPECT_CONTAINS(out, "kstack: warning: kstack.max=12345: not a multiple of 4K; using default 64K");
	KEXPECT_CONTAINS(out, "kstack.max=33554432: out of range (8K..16380K); using default 64K");
	console_capture(out, sizeof(out));
	KEXPECT_EQ(kstack_max_from_option(1 << 20), 1 << 20);
	KEXPECT_EQ(kstack_max_from_option(8192), 8192);
	console_capture(NULL, 0);
	KEXPECT_STREQ(out, "");
}

KTEST(kstack, recursion_near_the_limit_grows_it)
{
	struct kstack *ks = kstack_create(0, "t-grow");
	KASSERT_NOT_NULL(ks);
	struct kstack_stats s = stats(ks);
	struct descent d = { .stop = s.lo + 1024 };
	KEXPECT_EQ(run_descent(ks, &d), 0);
	KEXPECT_EQ(d.bad, 0);
	struct kstack_stats after = stats(ks);
	KEXPECT_EQ(after.mapped, s.limit);	/* every page, down to lo */
	KEXPECT_EQ(after.high_water, s.limit);
	KEXPECT_GE(after.growth_faults, 1);
	KEXPECT_LE(after.growth_faults, s.limit / PAGE_SIZE - 1);
	KEXPECT_EQ(kstack_mapped_bottom(ks), s.lo);
	/* Run again: all mapped now, no new faults, contents still right. */
	KEXPECT_EQ(run_descent(ks, &d), 0);
	KEXPECT_EQ(d.bad, 0);
	KEXPECT_EQ(stats(ks).growth_faults, after.growth_faults);
	kstack_check();
	kstack_destroy(ks);
}

KTEST(kstack, deep_recursion_with_interrupts_on_is_served)
{
	struct kstack *ks = kstack_create((1 << 20) + 64 * 1024, "t-deep");
	KASSERT_NOT_NULL(ks);
	struct kstack_stats s = stats(ks);
	struct kstack_totals t0 = totals();
	hook_on();
	unsigned hz = timer_hz();
	timer_set_hz(1000);
	uint64_t ticks = timer_ticks();
	struct descent d = { .stop = s.hi - (1 << 20), .irqs_on = true };
	int resumed = run_descent(ks, &d);
	ticks = timer_ticks() - ticks;
	timer_set_hz(hz);
	hook_off();
	struct kstack_totals t1 = totals();
	KEXPECT_EQ(resumed, 0);
	KEXPECT_EQ(hooked.calls, 0);
	KEXPECT_EQ(d.bad, 0);
	KEXPECT_GE(stats(ks).mapped, 1 << 20);
	/* The cache and page_alloc served all of it; the reserve none. */
	KEXPECT_EQ(t1.from_reserve, t0.from_reserve);
	KEXPECT_GE((t1.from_allocator - t0.from_allocator) + (t1.reuses - t0.reuses), 255);
	kprintf("    # 1 MiB of growth (%llu faults) took %llu ticks at 1000 Hz\n",
		(unsigned long long)stats(ks).growth_faults, (unsigned long long)ticks);
	kstack_check();
	kstack_destroy(ks);
}

KTEST(kstack, overflow_hits_the_guard_and_is_reported)
{
	static char out[4096];
	struct kstack *ks = kstack_create(0, "t-overflow");
	KASSERT_NOT_NULL(ks);
	struct kstack_stats s = stats(ks);
	struct descent d = { .stop = 0, .irqs_on = true };
	hook_on();
	console_capture(out, sizeof(out));
	int resumed = run_descent(ks, &d);
	console_capture(NULL, 0);
	hook_off();
	KASSERT_EQ(resumed, 1);
	KEXPECT_EQ(hooked.calls, 1);
	KEXPECT_EQ(hooked.last.kind, KSTACK_OVERFLOW);
	KEXPECT_EQ(hooked.last.ks, ks);
	KEXPECT_LT(hooked.last.addr, s.lo);
	KEXPECT_GE(hooked.last.addr, s.lo - PAGE_SIZE);
	char want[160];
	ksnprintf(want, sizeof(want),
		  "BUG: stack guard page was hit at 0x%llx in thread t-overflow (stack 0x%llx..0x%llx, "
		  "limit 64 KiB)\nCall Trace:\n", (unsigned long long)hooked.last.addr,
		  (unsigned long long)s.lo, (unsigned long long)s.hi);
	KEXPECT_CONTAINS(out, want);
	KEXPECT_CONTAINS(out, "descend+0x");	/* symbolised, from the trapped context */
	KEXPECT_EQ(stats(ks).mapped, s.limit);
	kstack_check();
	kstack_destroy(ks);
}

KTEST_DEATH(kstack, overflow_without_a_hook_panics, "BUG: stack guard page was hit at 0x")
{
	kstack_set_fault_hook(NULL);	/* the boot never comes back to need it */
	struct kstack *ks = kstack_create(0, "t-death");
	struct descent d = { .stop = 0, .irqs_on = true };
	run_descent(ks, &d);
}

struct frame_run {
	uint64_t stop;		/* descend to here first */
	uint64_t bytes;		/* then a frame this big */
};

__attribute__((noinline)) static void descend_then_frame(const struct frame_run *r, uint64_t depth)
{
	volatile uint64_t pad[24];
	pad[0] = depth;
	if ((uint64_t)pad > r->stop)
		descend_then_frame(r, depth + 1);
	else
		kt_probed_frame(r->bytes);
	pad[1] = pad[0];
}

static void frame_fn(void *arg)
{
	irq_enable();
	descend_then_frame(arg, 0);
	irq_disable();
}

/* Stack a sits right above stack b: a frame larger than a's guard, probed a
 * page at a time as -fstack-clash-protection does, hits a's guard and
 * leaves b alone. The control: the same frame without probes writes into
 * b's top page and no fault tells anyone, which is why the kernel is built
 * with the probes. */
KTEST(kstack, large_frame_hits_the_guard_not_the_neighbour)
{
	struct kstack *b = kstack_create(0, "t-below"), *a = kstack_create(0, "t-above");
	KASSERT_NOT_NULL(b);
	KASSERT_NOT_NULL(a);
	struct kstack_stats sa = stats(a), sb = stats(b);
	KASSERT_EQ(sa.hi - 128 * 1024, sb.hi);	/* adjacent slots */
	uint64_t guard = sa.lo - sb.hi;
	KEXPECT_EQ(guard, 64 * 1024);
	uint64_t *bw = (uint64_t *)(sb.hi - PAGE_SIZE);
	const unsigned words = (PAGE_SIZE - KSTACK_META_SIZE) / 8;
	for (unsigned i = 0; i < words; i++)
		bw[i] = 0xb0b0b0b000000000ull | i;

	static char out[4096];
	struct frame_run r = { .stop = sa.lo + 16 * 1024 + 512, .bytes = guard + 8 * 1024 };
	hook_on();
	console_capture(out, sizeof(out));
	int resumed = kt_call_on_stack(kstack_top(a), frame_fn, &r);
	console_capture(NULL, 0);
	hook_off();
	KEXPECT_CONTAINS(out, "in thread t-above");
	KEXPECT_CONTAINS(out, "kt_probed_frame+0x");
	KEXPECT_EQ(resumed, 1);
	KEXPECT_EQ(hooked.calls, 1);
	KEXPECT_EQ(hooked.last.kind, KSTACK_OVERFLOW);
	KEXPECT_EQ(hooked.last.ks, a);
	KEXPECT_GE(hooked.last.addr, sa.lo - PAGE_SIZE);	/* the first guard page */
	KEXPECT_LT(hooked.last.addr, sa.lo);
	KEXPECT_EQ(stats(a).mapped, sa.limit);	/* the probes grew a down to lo first */
	struct kstack_stats sb2 = stats(b);
	KEXPECT_EQ(sb2.mapped, PAGE_SIZE);
	KEXPECT_EQ(sb2.growth_faults, 0);
	unsigned changed = 0;
	for (unsigned i = 0; i < words; i++)
		changed += bw[i] != (0xb0b0b0b000000000ull | i);
	KEXPECT_EQ(changed, 0);

	/* Control: from a's bottom, one sub of guard + 2 KiB lands in b. */
	uint64_t sp = sa.lo + 1024, bytes = guard + 2048;
	uint64_t target = sp - 16 - bytes;	/* return address and rbp, then the frame */
	KASSERT_GE(target, sb.hi - PAGE_SIZE);
	KASSERT_LT(target, sb.hi - KSTACK_META_SIZE);
	hook_on();
	KEXPECT_EQ(kt_call_on_stack(sp, kt_unprobed_frame, (void *)bytes), 0);
	hook_off();
	KEXPECT_EQ(hooked.calls, 0);
	KEXPECT_EQ(*(uint64_t *)target, 0x5a5a5a5a);
	kstack_check();
	kstack_destroy(a);
	kstack_destroy(b);
}

static void stray_fn(void *arg)
{
	irq_enable();
	*(volatile uint64_t *)arg = 1;
	irq_disable();
}

/* Code running on another stack touches a's unmapped part: reported, and
 * a does not grow. */
KTEST(kstack, stray_access_from_another_stack_is_reported)
{
	static char out[1024];
	struct kstack *a = kstack_create(0, "t-target"), *b = kstack_create(0, "t-stray");
	KASSERT_NOT_NULL(a);
	KASSERT_NOT_NULL(b);
	struct kstack_stats sa = stats(a);
	uint64_t addr = sa.lo + 8 * 1024;
	hook_on();
	console_capture(out, sizeof(out));
	int resumed = kt_call_on_stack(kstack_top(b), stray_fn, (void *)addr);
	console_capture(NULL, 0);
	hook_off();
	KEXPECT_EQ(resumed, 1);
	KEXPECT_EQ(hooked.calls, 1);
	KEXPECT_EQ(hooked.last.kind, KSTACK_STRAY);
	KEXPECT_EQ(hooked.last.ks, a);
	KEXPECT_EQ(hooked.last.addr, addr);
	KEXPECT_CONTAINS(out, "BUG: stray access at 0x");
	KEXPECT_CONTAINS(out, "below the mapped part of thread t-target's stack");
	KEXPECT_EQ(stats(a).mapped, PAGE_SIZE);
	KEXPECT_EQ(stats(a).growth_faults, 0);
	kstack_check();
	kstack_destroy(b);
	kstack_destroy(a);
}

/* With a spinlock held, growth takes no lock and no allocator: the
 * reserve serves it, even with interrupts on. */
KTEST(kstack, growth_holding_a_spinlock_uses_the_reserve)
{
	static struct spinlock test_lock = SPINLOCK_INIT("kstack-test", LOCK_RANK_NONE);
	struct kstack *ks = kstack_create(0, "t-locked");
	KASSERT_NOT_NULL(ks);
	KASSERT_TRUE(kstack_refill());
	struct kstack_stats s = stats(ks);
	struct kstack_totals t0 = totals();
	struct descent d = { .stop = s.hi - 4 * PAGE_SIZE, .irqs_on = true, .lock = &test_lock };
	KEXPECT_EQ(run_descent(ks, &d), 0);
	struct kstack_totals t1 = totals();
	uint64_t grown = (stats(ks).mapped - s.mapped) / PAGE_SIZE;
	KEXPECT_GE(grown, 3);
	KEXPECT_EQ(t1.from_reserve - t0.from_reserve, grown);
	KEXPECT_EQ(t1.reserve_locked - t0.reserve_locked, grown);
	KEXPECT_EQ(t1.from_allocator, t0.from_allocator);
	KEXPECT_EQ(t1.reuses, t0.reuses);
	KEXPECT_EQ(t1.reserve_pages, t0.reserve_pages - grown);
	KEXPECT_EQ(d.bad, 0);
	kstack_check();
	KEXPECT_TRUE(kstack_refill());
	KEXPECT_EQ(totals().reserve_pages, KSTACK_RESERVE_PAGES);
	kstack_destroy(ks);
}

/* With interrupts off and no lock, growth may take the cache's lock but
 * not call page_alloc (it may have interrupted the allocator's CPU cache). */
KTEST(kstack, growth_with_interrupts_off_avoids_the_allocator)
{
	struct kstack *ks = kstack_create(0, "t-irqoff");
	KASSERT_NOT_NULL(ks);
	KASSERT_TRUE(kstack_refill());
	struct kstack_stats s = stats(ks);
	struct kstack_totals t0 = totals();
	struct descent d = { .stop = s.hi - 6 * PAGE_SIZE };
	KEXPECT_EQ(run_descent(ks, &d), 0);
	struct kstack_totals t1 = totals();
	uint64_t grown = (stats(ks).mapped - s.mapped) / PAGE_SIZE;
	KEXPECT_GE(grown, 5);
	KEXPECT_EQ(t1.from_allocator, t0.from_allocator);
	KEXPECT_EQ((t1.reuses - t0.reuses) + (t1.from_reserve - t0.from_reserve), grown);
	KEXPECT_EQ(t1.reserve_locked, t0.reserve_locked);
	KEXPECT_EQ(d.bad, 0);
	kstack_check();
	kstack_destroy(ks);
	KEXPECT_TRUE(kstack_refill());
}

static void prebuild_fn(void *arg)
{
	uint64_t va = *(const uint64_t *)arg;
	irq_enable();
	*(int *)arg = vmm_prebuild(va, va + PAGE_SIZE);
	irq_disable();
}

/* vmm_prebuild runs at every depth across a page boundary, each time on a
 * fresh 2 MiB of scratch space, so that it allocates a page-table page
 * under vmm's lock and some of its growth faults land while it holds the
 * lock: growth must not take it again (that would panic: a recursive
 * acquire) and the reserve serves them. The 64 page-table pages stay:
 * vmm never frees one. */
KTEST(kstack, growth_holding_vmm_lock_uses_the_reserve)
{
	struct kstack *ks = kstack_create(0, "t-vmm");
	KASSERT_NOT_NULL(ks);
	struct kstack_totals t0 = totals();
	unsigned failed = 0, missing = 0;
	uint64_t va = SCRATCH_REGION_BASE + (64ull << 30);
	for (uint64_t off = 16; off <= 1024; off += 16, va += 2ull << 20) {
		kstack_trim(ks, kstack_top(ks));
		KASSERT_TRUE(kstack_refill());
		uint64_t arg = va;
		KEXPECT_EQ(kt_call_on_stack(kstack_mapped_bottom(ks) + off, prebuild_fn, &arg), 0);
		failed += (int)arg != KERR_OK;
		missing += vmm_pte(va) == NULL;
	}
	struct kstack_totals t1 = totals();
	KEXPECT_EQ(failed, 0);
	KEXPECT_EQ(missing, 0);
	KEXPECT_GT(t1.reserve_locked, t0.reserve_locked);
	KEXPECT_GT(t1.from_allocator + t1.reuses, t0.from_allocator + t0.reuses);
	kstack_check();
	kstack_destroy(ks);
	KEXPECT_TRUE(kstack_refill());
}

static void refill_only(void *arg)
{
	(void)arg;
	kstack_refill();
}

/* A refill whose own stack faults pops the reserve it is filling: it ends
 * full, with distinct zeroed pages (kstack_check). */
KTEST(kstack, refill_interrupted_by_growth_stays_consistent)
{
	static struct spinlock test_lock = SPINLOCK_INIT("kstack-test", LOCK_RANK_NONE);
	struct kstack *drain = kstack_create(0, "t-drain"), *ks = kstack_create(0, "t-refill");
	KASSERT_NOT_NULL(drain);
	KASSERT_NOT_NULL(ks);
	/* Half the reserve goes to a descent under a lock. */
	struct descent d = { .stop = stats(drain).hi - 9 * PAGE_SIZE, .lock = &test_lock };
	KEXPECT_EQ(run_descent(drain, &d), 0);
	KASSERT_LE(totals().reserve_pages, KSTACK_RESERVE_PAGES - 8);
	kstack_check();

	struct kstack_totals t0 = totals();
	uint64_t faults = stats(ks).growth_faults;
	/* 64 bytes of stack left: refill's first calls fault, under the lock,
	 * taken before the switch to that stack. */
	uint64_t flags = spin_lock_irqsave(&test_lock);
	int r = kt_call_on_stack(kstack_mapped_bottom(ks) + 64, refill_only, NULL);
	spin_unlock_irqrestore(&test_lock, flags);
	KEXPECT_EQ(r, 0);
	struct kstack_totals t1 = totals();
	KEXPECT_GT(stats(ks).growth_faults, faults);
	KEXPECT_GT(t1.from_reserve, t0.from_reserve);	/* popped during the refill */
	KEXPECT_EQ(t1.reserve_pages, KSTACK_RESERVE_PAGES);
	kstack_check();
	kstack_destroy(ks);
	kstack_destroy(drain);
}

KTEST(kstack, trim_unmaps_below_the_sp_and_growth_resumes)
{
	struct kstack *ks = kstack_create(0, "t-trim");
	KASSERT_NOT_NULL(ks);
	struct kstack_stats s = stats(ks);
	struct descent d = { .stop = s.lo + 8 * 1024 };
	KEXPECT_EQ(run_descent(ks, &d), 0);
	struct kstack_stats grown = stats(ks);
	KEXPECT_GE(grown.mapped, s.limit - 8 * 1024);
	uint64_t spare = free_pages() + totals().cache_pages;

	/* It ran and returned: the saved SP is the top. */
	kstack_trim(ks, kstack_top(ks));
	struct kstack_stats t = stats(ks);
	KEXPECT_EQ(t.mapped, 2 * PAGE_SIZE);	/* the SP's page and a cushion page */
	KEXPECT_EQ(t.trims, 1);
	KEXPECT_EQ(t.high_water, grown.high_water);
	KEXPECT_EQ(free_pages() + totals().cache_pages, spare + (grown.mapped - t.mapped) / PAGE_SIZE);
	/* The TLB entries went too (invlpg): a read faults rather than hit
	 * the old page through a stale translation. */
	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movq (%%rdi), %%rax", "D"(s.lo + 9 * 1024));
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	kstack_check();

	/* A trim that leaves nothing to unmap changes nothing. */
	kstack_trim(ks, kstack_top(ks));
	KEXPECT_EQ(stats(ks).trims, 1);

	d.bad = 1;
	KEXPECT_EQ(run_descent(ks, &d), 0);
	KEXPECT_EQ(d.bad, 0);
	KEXPECT_EQ(stats(ks).mapped, grown.mapped);
	KEXPECT_GT(stats(ks).growth_faults, grown.growth_faults);
	kstack_check();
	kstack_destroy(ks);
}

KTEST(kstack, create_and_destroy_1000_reuses_pages)
{
	kstack_destroy(kstack_create(0, "t-warm"));	/* the page tables of the first slot */
	KASSERT_TRUE(kstack_refill());
	struct kstack_totals t0 = totals();
	uint64_t before = free_pages() + t0.cache_pages;
	for (unsigned i = 0; i < 1000; i++) {
		struct kstack *ks = kstack_create(0, "t-churn");
		KASSERT_NOT_NULL(ks);
		kstack_destroy(ks);
	}
	struct kstack_totals t1 = totals();
	KEXPECT_GE(t1.reuses - t0.reuses, 1000);
	KEXPECT_EQ(free_pages() + t1.cache_pages, before);
	KEXPECT_EQ(t1.stacks, t0.stacks);
	kprintf("    # 1000 creates took %llu pages from the cache\n",
		(unsigned long long)(t1.reuses - t0.reuses));
	kstack_check();
}

/* 10,000 idle stacks on a 128 MiB machine (scaled to this boot's RAM), each
 * with its one page: what each costs, page tables and bitmap bits included. */
KTEST(kstack, ten_thousand_idle_stacks_fit)
{
	uint64_t n = kernel_pmm.total_pages * 10000 / 30000;
	if (n > 10000)
		n = 10000;
	struct kstack **all = kmalloc(n * sizeof(*all), 0);
	KASSERT_NOT_NULL(all);
	KASSERT_TRUE(kstack_refill());
	struct kstack_totals t0 = totals();
	uint64_t before = free_pages() + t0.cache_pages;
	uint64_t made = 0;
	for (; made < n; made++) {
		all[made] = kstack_create(0, "t-idle");
		if (!all[made])
			break;
	}
	KEXPECT_EQ(made, n);
	struct kstack_totals t1 = totals();
	uint64_t used = before - (free_pages() + t1.cache_pages);
	uint64_t per = made ? used * PAGE_SIZE / made : 0;
	/* The slot bitmaps are allocated at boot: their share, apart. */
	uint64_t bits = kernel_pmm.total_pages / 8 * KSTACK_CLASSES;
	kprintf("    # %llu idle stacks: %llu bytes each (stack page and page tables), plus %llu "
		"bytes of slot bitmaps in all\n", (unsigned long long)made,
		(unsigned long long)per, (unsigned long long)bits);
	KEXPECT_EQ(t1.stacks - t0.stacks, made);
	KEXPECT_EQ(t1.mapped - t0.mapped, made * PAGE_SIZE);
	KEXPECT_LE(per, 8192);
	KEXPECT_LE(per, PAGE_SIZE + PAGE_SIZE / 16 + 64);	/* a page, 1/16 page table, change */
	kstack_check();
	for (uint64_t i = 0; i < made; i++)
		kstack_destroy(all[i]);
	kfree(all);
	KEXPECT_EQ(totals().stacks, t0.stacks);
	kstack_check();
}

struct hoard {
	void *head;
	uint64_t pages;
};

/* Take every free page, largest blocks first; each block's first words
 * link it and record its order. */
static void hoard_all(struct hoard *h)
{
	for (int order = PMM_MAX_ORDER; order >= 0; order--) {
		void *p;
		while ((p = page_alloc((unsigned)order, 0))) {
			((void **)p)[0] = h->head;
			((uint64_t *)p)[1] = (uint64_t)order;
			h->head = p;
			h->pages += 1ull << order;
		}
	}
}

static void release_all(struct hoard *h)
{
	while (h->head) {
		void *p = h->head;
		h->head = ((void **)p)[0];
		page_free(p, (unsigned)((uint64_t *)p)[1]);
	}
}

/* Growth with the page allocator, the cache and the reserve all empty is
 * real exhaustion: the hook hears of it, naming the shortage. The largest
 * limit outgrows the cache (at most 1024 pages) and the reserve together. */
KTEST(kstack, exhaustion_calls_the_hook_naming_the_shortage)
{
	static char out[2048];
	struct kstack *ks = kstack_create(KSTACK_LIMIT_MAX, "t-nomem");
	KASSERT_NOT_NULL(ks);
	struct hoard h = { NULL, 0 };
	hoard_all(&h);
	struct descent d = { .stop = stats(ks).lo + 4096, .irqs_on = true };
	hook_on();
	console_capture(out, sizeof(out));
	int resumed = run_descent(ks, &d);
	console_capture(NULL, 0);
	hook_off();
	release_all(&h);
	KEXPECT_EQ(resumed, 1);
	KEXPECT_EQ(hooked.calls, 1);
	KEXPECT_EQ(hooked.last.kind, KSTACK_NOMEM);
	KEXPECT_CONTAINS(hooked.last.shortage, "memory");
	KEXPECT_CONTAINS(out, "kstack: thread t-nomem cannot grow its stack to 0x");
	KEXPECT_EQ(totals().reserve_pages, 0);
	KEXPECT_EQ(totals().cache_pages, 0);
	kstack_check();
	kstack_destroy(ks);
	KEXPECT_TRUE(kstack_refill());
	kstack_check();
}

KTEST_DEATH(kstack, destroying_twice_is_reported, "is not a live stack")
{
	struct kstack *ks = kstack_create(0, "t-twice");
	kstack_destroy(ks);
	kstack_destroy(ks);
}
