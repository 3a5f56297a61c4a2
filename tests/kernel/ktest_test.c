/*
 * tests/kernel/ktest_test.c - the harness checks itself: a deliberately
 * failing check is reported as a failure with file:line and both values,
 * KASSERT ends a test, and ktest_random replays.
 */
#include "kernel/ktest.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/timer.h"
#include "kernel/trap.h"
#include "kernel/irq.h"
#include "kernel/x86.h"

static int after_assert;

static void inner_failing_expect(void)
{
	int two = 1 + 1;
	KEXPECT_EQ(two, 3);
	KEXPECT_STREQ("abc", "abd");
}

static void inner_failing_assert(void)
{
	KASSERT_TRUE(after_assert < 0);
	after_assert = 1;
}

static void inner_passing(void)
{
	KEXPECT_EQ(2 + 2, 4);
	KEXPECT_CONTAINS("haystack", "st");
}

static const struct ktest failing_expect = { "inner", "failing_expect", inner_failing_expect, NULL, __FILE__, __LINE__, NULL };
static const struct ktest failing_assert = { "inner", "failing_assert", inner_failing_assert, NULL, __FILE__, __LINE__, NULL };
static const struct ktest passing = { "inner", "passing", inner_passing, NULL, __FILE__, __LINE__, NULL };

KTEST(ktest, failing_expect_is_reported_with_values)
{
	char out[512];
	struct ktest_outcome r = ktest_run_captured(&failing_expect, out, sizeof(out));
	KEXPECT_EQ(r.failures, 2);
	KEXPECT_FALSE(r.aborted);
	KEXPECT_CONTAINS(out, "ktest_test.c:");
	KEXPECT_CONTAINS(out, "KEXPECT_EQ failed: two == 3 (2 vs 3");
	KEXPECT_CONTAINS(out, "(\"abc\" vs \"abd\")");
}

KTEST(ktest, failing_assert_ends_the_test)
{
	char out[512];
	after_assert = 0;
	struct ktest_outcome r = ktest_run_captured(&failing_assert, out, sizeof(out));
	KEXPECT_EQ(r.failures, 1);
	KEXPECT_TRUE(r.aborted);
	KEXPECT_EQ(after_assert, 0);
	KEXPECT_CONTAINS(out, "KASSERT_TRUE failed: after_assert < 0 is false");
}

KTEST(ktest, passing_test_reports_nothing)
{
	char out[256];
	struct ktest_outcome r = ktest_run_captured(&passing, out, sizeof(out));
	KEXPECT_EQ(r.failures, 0);
	KEXPECT_STREQ(out, "");
}

KTEST(ktest, random_is_deterministic_per_test)
{
	uint64_t a = ktest_random(), b = ktest_random();
	KEXPECT_NE(a, b);
	/* A nested test restores our generator afterwards, so replay via a second nested run. */
	char out[64];
	ktest_run_captured(&passing, out, sizeof(out));
	KEXPECT_NE(ktest_random(), a);
}

/* A test that ends (here by a failed KASSERT) before its cleanup leaves a
 * timer hook set, a deadline armed, or a trap catch armed: the runner
 * clears each and fails the test, so that no later test runs with a hook
 * or a callback writing into this one's dead frame (a queued event there
 * being overwritten, too), or with its own faults swallowed by this one's
 * catch. */
static void stale_hook(void *ctx)
{
	(*(volatile uint64_t *)ctx)++;
}

static void inner_leaves_a_hook(void)
{
	volatile uint64_t local = 0;
	timer_set_handler(stale_hook, (void *)&local);
	KASSERT_TRUE(local == 1);	/* fails before the cleanup below */
	timer_set_handler(NULL, NULL);
}

static void inner_leaves_a_catch(void)
{
	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	KASSERT_EQ(c.hits, 1);		/* fails before the disarm below */
	trap_catch_disarm();
}

static void stale_deadline(void *ctx)
{
	(*(volatile uint64_t *)ctx)++;
}

static void inner_leaves_a_deadline(void)
{
	struct timer_event ev = { 0 };
	volatile uint64_t local = 0;
	timer_deadline_ns(&ev, clock_ns() + NSEC_PER_SEC, stale_deadline, (void *)&local);
	KASSERT_TRUE(local == 1);	/* fails before the cancel below */
	timer_cancel(&ev);
}

static const struct ktest leaves_a_deadline = { "inner", "leaves_a_deadline", inner_leaves_a_deadline, NULL, __FILE__, __LINE__, NULL };
static const struct ktest leaves_a_hook = { "inner", "leaves_a_hook", inner_leaves_a_hook, NULL, __FILE__, __LINE__, NULL };
static const struct ktest leaves_a_catch = { "inner", "leaves_a_catch", inner_leaves_a_catch, NULL, __FILE__, __LINE__, NULL };

KTEST(ktest, a_test_leaving_a_timer_hook_fails_and_the_hook_goes)
{
	char out[512];
	struct ktest_outcome r = ktest_run_captured(&leaves_a_hook, out, sizeof(out));
	KEXPECT_EQ(r.failures, 2);
	KEXPECT_CONTAINS(out, "test left a timer hook set");
	KEXPECT_FALSE(timer_handler_set());
	KEXPECT_TRUE(irq_enabled());
}

KTEST(ktest, a_test_leaving_a_deadline_armed_fails_and_the_deadline_goes)
{
	char out[512];
	struct ktest_outcome r = ktest_run_captured(&leaves_a_deadline, out, sizeof(out));
	KEXPECT_EQ(r.failures, 2);
	KEXPECT_CONTAINS(out, "test left a timer deadline armed");
	KEXPECT_EQ(timer_armed_count(), 0);
}

KTEST(ktest, a_test_leaving_a_trap_catch_fails_and_the_catch_goes)
{
	char out[512];
	struct ktest_outcome r = ktest_run_captured(&leaves_a_catch, out, sizeof(out));
	KEXPECT_EQ(r.failures, 2);
	KEXPECT_CONTAINS(out, "test left a trap catch armed");
	KEXPECT_FALSE(trap_catch_armed());
}

/* A KASSERT in a handler cannot end its test (the jump would skip the
 * interrupt's EOI, and the timer would never tick again): it panics,
 * naming the test. */
static void failing_hook(void *ctx)
{
	(void)ctx;
	KASSERT_TRUE(ctx != NULL);
}

KTEST_DEATH(ktest, kassert_in_an_interrupt_handler_panics, "cannot end a test")
{
	/* The handler is in place before the tick count is read: a tick in
	 * between would end the wait without calling it. */
	irq_disable();
	timer_set_handler(failing_hook, NULL);
	uint64_t start = timer_ticks(), t0 = rdtsc();
	irq_enable();
	while (timer_ticks() == start && rdtsc() - t0 < (1ull << 32))
		__asm__ volatile("pause");
	irq_disable();
	timer_set_handler(NULL, NULL);
	KEXPECT_TRUE(false);	/* not reached: the tick panics */
}
