/*
 * tests/kernel/ktest_test.c - the harness checks itself: a deliberately
 * failing check is reported as a failure with file:line and both values,
 * KASSERT ends a test, and ktest_random replays.
 */
#include "kernel/ktest.h"
#include "kernel/string.h"

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

static const struct ktest failing_expect = { "inner", "failing_expect", inner_failing_expect, NULL, __FILE__, __LINE__ };
static const struct ktest failing_assert = { "inner", "failing_assert", inner_failing_assert, NULL, __FILE__, __LINE__ };
static const struct ktest passing = { "inner", "passing", inner_passing, NULL, __FILE__, __LINE__ };

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
