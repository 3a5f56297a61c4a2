/*
 * tests/host/htest.h - header-only unit-test harness for host builds.
 *
 * One test file per binary. HTEST(name) { ... } defines a test and, through
 * a constructor, appends it to a static table; main calls
 * htest_main("suite"), which runs every test in the order it appears in the
 * file and prints KTAP version 1, the suite as a single subtest:
 *
 *   KTAP version 1
 *   1..1
 *       KTAP version 1
 *       # Subtest: printf
 *       1..2
 *       # printf_test.c:42: HEXPECT_STREQ failed: buf == "0x1f" ("0x1F" vs "0x1f")
 *       not ok 1 hex_upper
 *       ok 2 width
 *   ok 1 printf
 *
 * Diagnostics come before the result line they belong to. HEXPECT_* record
 * a failure and carry on; HASSERT_* record it and return from the test.
 * Integer checks compare as 64-bit values and print each side in signed
 * decimal and hex. stdout is flushed per line so a sanitizer abort mid-test
 * leaves every earlier line intact for the runner. Helpers are static
 * inline so a file that never uses one does not trip -Wunused-function.
 */
#ifndef TESTS_HOST_HTEST_H
#define TESTS_HOST_HTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HTEST_MAX 256

struct htest {
	const char *name;
	void (*fn)(void);
	int line;	/* run order: constructor order is not guaranteed */
};

static struct htest htest_table[HTEST_MAX];
static int htest_count;
static bool htest_failed;	/* current test has a failed check */

static inline void htest_register(const char *name, void (*fn)(void), int line)
{
	if (htest_count == HTEST_MAX) {
		fprintf(stderr, "htest: more than %d tests, raise HTEST_MAX\n", HTEST_MAX);
		__builtin_trap();
	}
	htest_table[htest_count++] = (struct htest){ name, fn, line };
}

#define HTEST(name)							\
	static void htest_fn_##name(void);				\
	__attribute__((constructor)) static void htest_reg_##name(void)	\
	{								\
		htest_register(#name, htest_fn_##name, __LINE__);	\
	}								\
	static void htest_fn_##name(void)

static inline const char *htest_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Starts a "    # file:line: " diagnostic; the caller finishes the line. */
static inline void htest_fail_begin(const char *file, int line)
{
	htest_failed = true;
	printf("    # %s:%d: ", htest_basename(file), line);
}

/* Quoted, with escapes, so a stray newline cannot break the KTAP stream. */
static inline void htest_print_quoted(const char *s)
{
	if (!s) {
		fputs("NULL", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static inline bool htest_check(bool ok, const char *file, int line,
			       const char *macro, const char *expr)
{
	if (!ok) {
		htest_fail_begin(file, line);
		printf("%s failed: %s\n", macro, expr);
		fflush(stdout);
	}
	return ok;
}

static inline bool htest_check_int(bool ok, const char *file, int line,
				   const char *macro, const char *a_expr,
				   const char *op, const char *b_expr,
				   uint64_t a, uint64_t b)
{
	if (!ok) {
		htest_fail_begin(file, line);
		printf("%s failed: %s %s %s (%lld 0x%llx vs %lld 0x%llx)\n",
		       macro, a_expr, op, b_expr,
		       (long long)a, (unsigned long long)a,
		       (long long)b, (unsigned long long)b);
		fflush(stdout);
	}
	return ok;
}

static inline bool htest_check_str(const char *file, int line,
				   const char *macro, const char *a_expr,
				   const char *b_expr, const char *a, const char *b)
{
	bool ok = (a && b) ? strcmp(a, b) == 0 : a == b;

	if (!ok) {
		htest_fail_begin(file, line);
		printf("%s failed: %s == %s (", macro, a_expr, b_expr);
		htest_print_quoted(a);
		fputs(" vs ", stdout);
		htest_print_quoted(b);
		fputs(")\n", stdout);
		fflush(stdout);
	}
	return ok;
}

/* Each operand is evaluated once, converted to uint64_t to sidestep sign-compare. */
#define HTEST_INT_CHECK_(macro, a, op, b)				\
	({								\
		uint64_t htest_a_ = (uint64_t)(a);			\
		uint64_t htest_b_ = (uint64_t)(b);			\
		htest_check_int(htest_a_ op htest_b_, __FILE__, __LINE__, \
				macro, #a, #op, #b, htest_a_, htest_b_); \
	})

#define HEXPECT_TRUE(c)							\
	do { htest_check(!!(c), __FILE__, __LINE__, "HEXPECT_TRUE", #c); } while (0)
#define HEXPECT_EQ(a, b)						\
	do { HTEST_INT_CHECK_("HEXPECT_EQ", a, ==, b); } while (0)
#define HEXPECT_NE(a, b)						\
	do { HTEST_INT_CHECK_("HEXPECT_NE", a, !=, b); } while (0)
#define HEXPECT_STREQ(a, b)						\
	do {								\
		htest_check_str(__FILE__, __LINE__, "HEXPECT_STREQ",	\
				#a, #b, (a), (b));			\
	} while (0)

#define HASSERT_TRUE(c)							\
	do {								\
		if (!htest_check(!!(c), __FILE__, __LINE__, "HASSERT_TRUE", #c)) \
			return;						\
	} while (0)
#define HASSERT_EQ(a, b)						\
	do {								\
		if (!HTEST_INT_CHECK_("HASSERT_EQ", a, ==, b))		\
			return;						\
	} while (0)

/* Return: 0 iff every test passed, so it can be main's exit status. */
static inline int htest_main(const char *suite)
{
	int failures = 0;

	/* Insertion sort by line: stable, and the table is small. */
	for (int i = 1; i < htest_count; i++) {
		struct htest t = htest_table[i];
		int j = i;
		for (; j > 0 && htest_table[j - 1].line > t.line; j--)
			htest_table[j] = htest_table[j - 1];
		htest_table[j] = t;
	}

	printf("KTAP version 1\n1..1\n");
	printf("    KTAP version 1\n    # Subtest: %s\n    1..%d\n", suite, htest_count);
	fflush(stdout);
	for (int i = 0; i < htest_count; i++) {
		htest_failed = false;
		htest_table[i].fn();
		failures += htest_failed;
		printf("    %s %d %s\n", htest_failed ? "not ok" : "ok", i + 1,
		       htest_table[i].name);
		fflush(stdout);
	}
	printf("%s 1 %s\n", failures ? "not ok" : "ok", suite);
	fflush(stdout);
	return failures ? 1 : 0;
}

#endif
