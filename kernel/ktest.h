/*
 * kernel/ktest.h - in-kernel tests.
 *
 *     KTEST(printf, width) { KEXPECT_EQ(ksnprintf(b, 8, "%4d", 7), 4); }
 *     KTEST_DEATH(trap, null_deref, "null_deref_victim") { null_deref_victim(); }
 *     KTEST_DEATH_DEBUG(spinlock, out_of_order, "spinlock order") { ... }
 *
 * KEXPECT_* record a failure and go on; KASSERT_* record it and end the test.
 * Both print file:line, the expression and the values compared. A death test
 * must panic; the runner boots it on its own and checks that the panic report
 * mentions the given text (usually the name of the function that dies).
 * KTEST_DEATH_DEBUG is a death test of a check only debug kernels (-DDEBUG)
 * compile in: a release kernel reports it skipped, saying so, since there
 * it would survive.
 * Tests register through the "ktests" linker section; suites are reported as
 * KTAP subtests in the order their first test was linked.
 */
#ifndef KERNEL_KTEST_H
#define KERNEL_KTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ktest {
	const char *suite;
	const char *name;
	void (*fn)(void);
	const char *death;	/* NULL, or what the panic report must mention */
	const char *file;
	int line;
	const char *skip;	/* NULL, or why this kernel cannot run it */
};

#define KTEST_DEFINE(suite_, name_, death_, skip_)				\
	static void ktest_fn_##suite_##_##name_(void);				\
	static const struct ktest ktest_##suite_##_##name_ = {			\
		#suite_, #name_, ktest_fn_##suite_##_##name_, death_,		\
		__FILE__, __LINE__, skip_ };					\
	static const struct ktest *const ktest_ptr_##suite_##_##name_		\
	__attribute__((used, section("ktests"))) = &ktest_##suite_##_##name_;	\
	static void ktest_fn_##suite_##_##name_(void)

#define KTEST(suite, name)		KTEST_DEFINE(suite, name, NULL, NULL)
/* A test that times guest execution: it runs only when the runner boots the
 * kernel under -icount (the matrix's qemu column says icount, and the runner
 * passes ktest.icount=1), where guest time is instruction time and the same
 * on every run; elsewhere it reports itself skipped. */
extern const char ktest_needs_icount[];
#define KTEST_ICOUNT(suite, name)	KTEST_DEFINE(suite, name, NULL, ktest_needs_icount)
#define KTEST_DEATH(suite, name, text)	KTEST_DEFINE(suite, name, text, NULL)
#ifdef DEBUG
#define KTEST_DEATH_DEBUG(suite, name, text) KTEST_DEFINE(suite, name, text, NULL)
#else
#define KTEST_DEATH_DEBUG(suite, name, text)					\
	KTEST_DEFINE(suite, name, text, "release kernel: the check is compiled out (needs -DDEBUG)")
#endif

/* Failure reporting, used by the macros below. */
void ktest_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
_Noreturn void ktest_abort(void);

/* Integer and pointer checks compare as the C operator would; the values
 * are printed as signed decimal and hex. Tests compare sizes with literals
 * all the time, so -Wsign-compare is off inside these macros. */
#define KTEST_CMP_(fatal, macro, a, op, b)					\
	do {									\
		_Pragma("GCC diagnostic push")					\
		_Pragma("GCC diagnostic ignored \"-Wsign-compare\"")		\
		__auto_type ka_ = (a);						\
		__auto_type kb_ = (b);						\
		if (!(ka_ op kb_)) {						\
			ktest_fail(__FILE__, __LINE__,				\
				   "%s failed: %s %s %s (%lld vs %lld, 0x%llx vs 0x%llx)", \
				   macro, #a, #op, #b, (long long)ka_, (long long)kb_, \
				   (unsigned long long)ka_, (unsigned long long)kb_); \
			if (fatal)						\
				ktest_abort();					\
		}								\
		_Pragma("GCC diagnostic pop")					\
	} while (0)

#define KTEST_BOOL_(fatal, macro, cond, want)					\
	do {									\
		if (!(cond) != !(want)) {					\
			ktest_fail(__FILE__, __LINE__, "%s failed: %s is %s",	\
				   macro, #cond, (want) ? "false" : "true");	\
			if (fatal)						\
				ktest_abort();					\
		}								\
	} while (0)

#define KTEST_STR_(fatal, macro, a, b, same)					\
	do {									\
		const char *ka_ = (a), *kb_ = (b);				\
		if ((ktest_streq(ka_, kb_)) != (same)) {			\
			ktest_fail(__FILE__, __LINE__, "%s failed: %s %s %s (\"%s\" vs \"%s\")", \
				   macro, #a, (same) ? "==" : "!=", #b,		\
				   ka_ ? ka_ : "(null)", kb_ ? kb_ : "(null)");	\
			if (fatal)						\
				ktest_abort();					\
		}								\
	} while (0)

#define KTEST_CONTAINS_(fatal, macro, hay, needle)				\
	do {									\
		const char *ka_ = (hay), *kb_ = (needle);			\
		if (!ktest_contains(ka_, kb_)) {				\
			ktest_fail(__FILE__, __LINE__, "%s failed: %s does not contain %s (\"%s\" lacks \"%s\")", \
				   macro, #hay, #needle, ka_ ? ka_ : "(null)", kb_); \
			if (fatal)						\
				ktest_abort();					\
		}								\
	} while (0)

bool ktest_streq(const char *a, const char *b);
bool ktest_contains(const char *hay, const char *needle);

#define KEXPECT_EQ(a, b)	KTEST_CMP_(0, "KEXPECT_EQ", a, ==, b)
#define KEXPECT_NE(a, b)	KTEST_CMP_(0, "KEXPECT_NE", a, !=, b)
#define KEXPECT_LT(a, b)	KTEST_CMP_(0, "KEXPECT_LT", a, <, b)
#define KEXPECT_LE(a, b)	KTEST_CMP_(0, "KEXPECT_LE", a, <=, b)
#define KEXPECT_GT(a, b)	KTEST_CMP_(0, "KEXPECT_GT", a, >, b)
#define KEXPECT_GE(a, b)	KTEST_CMP_(0, "KEXPECT_GE", a, >=, b)
#define KEXPECT_TRUE(c)		KTEST_BOOL_(0, "KEXPECT_TRUE", c, 1)
#define KEXPECT_FALSE(c)	KTEST_BOOL_(0, "KEXPECT_FALSE", c, 0)
#define KEXPECT_NULL(p)		KTEST_CMP_(0, "KEXPECT_NULL", (const void *)(p), ==, NULL)
#define KEXPECT_NOT_NULL(p)	KTEST_CMP_(0, "KEXPECT_NOT_NULL", (const void *)(p), !=, NULL)
#define KEXPECT_STREQ(a, b)	KTEST_STR_(0, "KEXPECT_STREQ", a, b, 1)
#define KEXPECT_STRNE(a, b)	KTEST_STR_(0, "KEXPECT_STRNE", a, b, 0)
#define KEXPECT_CONTAINS(h, n)	KTEST_CONTAINS_(0, "KEXPECT_CONTAINS", h, n)

#define KASSERT_EQ(a, b)	KTEST_CMP_(1, "KASSERT_EQ", a, ==, b)
#define KASSERT_NE(a, b)	KTEST_CMP_(1, "KASSERT_NE", a, !=, b)
#define KASSERT_LT(a, b)	KTEST_CMP_(1, "KASSERT_LT", a, <, b)
#define KASSERT_LE(a, b)	KTEST_CMP_(1, "KASSERT_LE", a, <=, b)
#define KASSERT_GT(a, b)	KTEST_CMP_(1, "KASSERT_GT", a, >, b)
#define KASSERT_GE(a, b)	KTEST_CMP_(1, "KASSERT_GE", a, >=, b)
#define KASSERT_TRUE(c)		KTEST_BOOL_(1, "KASSERT_TRUE", c, 1)
#define KASSERT_FALSE(c)	KTEST_BOOL_(1, "KASSERT_FALSE", c, 0)
#define KASSERT_NULL(p)		KTEST_CMP_(1, "KASSERT_NULL", (const void *)(p), ==, NULL)
#define KASSERT_NOT_NULL(p)	KTEST_CMP_(1, "KASSERT_NOT_NULL", (const void *)(p), !=, NULL)
#define KASSERT_STREQ(a, b)	KTEST_STR_(1, "KASSERT_STREQ", a, b, 1)
#define KASSERT_CONTAINS(h, n)	KTEST_CONTAINS_(1, "KASSERT_CONTAINS", h, n)

/* Outcome of running one test, for the harness's own tests. */
struct ktest_outcome {
	unsigned failures;	/* KEXPECT/KASSERT failures recorded */
	bool aborted;		/* a KASSERT ended it */
};

/* Run t as a nested test with console output captured into out. */
struct ktest_outcome ktest_run_captured(const struct ktest *t, char *out, size_t size);

/* Deterministic pseudo-random numbers for tests, seeded by ktest.seed=. */
uint64_t ktest_random(void);

#endif
