/*
 * kernel/ktest.c - the in-kernel test runner: KTAP version 1 over serial.
 *
 * ktest_main():
 *  1. Select tests whose "suite.name" matches ktest.filter (comma-separated
 *     globs with * and ?).
 *  2. ktest.action=list prints them, one per line; =none runs nothing.
 *  3. For each suite, in the order its first test was linked, print a KTAP
 *     subtest: plan, then one result per test. A test runs under ksetjmp so
 *     that KASSERT_* can end it; its failure diagnostics precede its result.
 *  4. A death test runs only when the filter names it exactly (the runner's
 *     own boot for it); otherwise it is reported "# SKIP death test". A test
 *     this kernel cannot run (its skip reason) is reported "# SKIP <reason>".
 *  5. Leave QEMU with the fail code when something failed; otherwise
 *     return to the init thread (kernel/init.c), which leaves with the
 *     pass code.
 * The harness is an init task (kernel/init.h) and runs on the init thread,
 * with interrupts on, as every thread runs. A panic during a test ends the
 * run; the harness's panic notifier makes the log say which test it was.
 *
 * State: one test runs at a time. Its struct ktest_run lives on the
 * harness's stack, and the running thread's `harness` field points at it;
 * threads the test creates inherit the pointer, so their KEXPECTs count
 * against the test. Nested runs (the harness's self-tests) save and
 * restore the pointer.
 */
#include "kernel/ktest.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/init.h"
#include "kernel/irq.h"
#include "kernel/kbench.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "kernel/qemu.h"
#include "kernel/setjmp.h"
#include "kernel/string.h"
#include "kernel/thread.h"
#include "kernel/timer.h"
#include "kernel/trap.h"
#include "kernel/x86.h"

#include <stdarg.h>

#define MAX_SUITES	128
#define MAX_SUITE_TESTS	512

extern const struct ktest *const __start_ktests[], *const __stop_ktests[];

static const char *ktest_filter = "*";
static const char *ktest_action = "run";
static uint64_t ktest_seed = 1;
CMDLINE_OPTION(ktest_filter, "ktest.filter", CMDLINE_STR, NULL,
	       "run tests whose suite.name matches one of these comma-separated globs");
CMDLINE_OPTION(ktest_action, "ktest.action", CMDLINE_CHOICE, "run|list|bench|none",
	       "run the tests, list them, run the benchmarks, or do none of these");
CMDLINE_OPTION(ktest_seed, "ktest.seed", CMDLINE_U64, NULL,
	       "seed for ktest_random(), so a randomised test can be replayed");

struct ktest_run {
	const struct ktest *test;
	unsigned failures;		/* interrupts off: threads of the test add too */
	kjmp_buf *abort_to;		/* the test's own thread's */
	struct thread *thread;		/* the thread that runs the test function */
	uint64_t rng;
};

static struct ktest_run *run_now(void)
{
	return current()->harness;
}

static unsigned ktest_count(void) { return (unsigned)(__stop_ktests - __start_ktests); }

bool ktest_streq(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

bool ktest_contains(const char *hay, const char *needle)
{
	return hay && needle && strstr(hay, needle) != NULL;
}

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
	const char *base = file;
	for (const char *p = file; *p; p++)
		if (*p == '/')
			base = p + 1;

	va_list ap;
	va_start(ap, fmt);
	kprintf("    # %s:%d: ", base, line);
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	struct ktest_run *run = run_now();
	if (run) {
		uint64_t f = irq_save();
		run->failures++;
		irq_restore(f);
	}
}

_Noreturn void ktest_abort(void)
{
	struct ktest_run *run = run_now();
	if (!run || !run->abort_to)
		panic("KASSERT failed outside a running test");
	/* A jump out of a handler would leave its interrupt unacknowledged
	 * (no EOI: the timer never ticks again) and its frame abandoned. */
	if (in_trap())
		panic("KASSERT failed in an interrupt or exception handler, which cannot end a "
		      "test; record failures there and check them after (tests/kernel/irq_stress.h)");
	/* A thread the test started cannot jump into the test's stack: it
	 * ends, its failure recorded. */
	if (current() != run->thread) {
		kprintf("    # KASSERT failed in thread %s, which the test started: it exits\n",
			current()->name);
		thread_exit_code(-1);
	}
	klongjmp(*run->abort_to, 1);
}

/* xorshift64*: small, fast and good enough for tests. */
uint64_t ktest_random(void)
{
	struct ktest_run *run = run_now();
	uint64_t f = irq_save();
	uint64_t x = run->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	run->rng = x;
	irq_restore(f);
	return x * 0x2545f4914f6cdd1dull;
}

/* Seed from ktest.seed and the test's name: each test replays on its own. */
static uint64_t seed_for(const struct ktest *t)
{
	uint64_t h = 1469598103934665603ull ^ ktest_seed;	/* FNV-1a */
	for (const char *s = t->suite; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	for (const char *s = t->name; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h ? h : 1;
}

static struct ktest_outcome run_one(const struct ktest *t)
{
	kjmp_buf env;
	struct ktest_outcome out = { 0, false };
	struct ktest_run run = { .test = t, .abort_to = &env, .thread = current(),
				 .rng = seed_for(t) };
	void *saved = current()->harness;
	unsigned threads = thread_count();

	current()->harness = &run;
	if (ksetjmp(env) == 0)
		t->fn();
	else
		out.aborted = true;
	/* Threads run with interrupts on, and between tests there is no
	 * timer hook, no deadline armed, no trap catch and no thread the test
	 * started; a test that left any of them behind (a KASSERT ends a test
	 * before its cleanup) would disturb every test after it: the hook
	 * writing into the test's dead frame, a deadline's event there being
	 * overwritten while queued, the catch swallowing a later test's fault,
	 * the thread running on. */
	if (!irq_enabled()) {
		irq_enable();
		ktest_fail(t->file, t->line, "test returned with interrupts disabled");
	}
	if (thread_count() > threads)
		ktest_fail(t->file, t->line, "test left %u threads alive",
			   thread_count() - threads);
	if (timer_handler_set()) {
		timer_set_handler(NULL, NULL);
		ktest_fail(t->file, t->line, "test left a timer hook set");
	}
	if (timer_armed_count()) {
		timer_cancel_all();
		ktest_fail(t->file, t->line, "test left a timer deadline armed");
	}
	if (trap_catch_armed()) {
		trap_catch_disarm();
		ktest_fail(t->file, t->line, "test left a trap catch armed");
	}
	out.failures = run.failures;
	current()->harness = saved;
	return out;
}

struct ktest_outcome ktest_run_captured(const struct ktest *t, char *out, size_t size)
{
	console_capture(out, size);
	struct ktest_outcome r = run_one(t);
	console_capture(NULL, 0);
	return r;
}

static void ktest_on_panic(void)
{
	struct ktest_run *run = run_now();
	if (run)
		kprintf("ktest: panic while running %s.%s (%s:%d)\n", run->test->suite,
			run->test->name, run->test->file, run->test->line);
}

static struct panic_notifier ktest_notifier = { ktest_on_panic, NULL };

/* Glob with * and ? over [p, pend) against s. */
static bool glob_match(const char *p, const char *pend, const char *s)
{
	for (; p < pend; p++, s++) {
		if (*p == '*') {
			for (;; s++) {
				if (glob_match(p + 1, pend, s))
					return true;
				if (!*s)
					return false;
			}
		}
		if (!*s || (*p != '?' && *p != *s))
			return false;
	}
	return !*s;
}

static bool selected(const struct ktest *t)
{
	char full[128];
	ksnprintf(full, sizeof(full), "%s.%s", t->suite, t->name);
	for (const char *p = ktest_filter; *p; ) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (glob_match(p, end, full))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

/* A death test runs only in a boot whose filter names exactly that test. */
static bool death_boot_for(const struct ktest *t)
{
	size_t n = strlen(t->suite);
	return strncmp(ktest_filter, t->suite, n) == 0 && ktest_filter[n] == '.' &&
	       strcmp(ktest_filter + n + 1, t->name) == 0;
}

/* Suites in first-linked order; returns how many, each with its first test. */
static unsigned collect_suites(const char **suites)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ktest_count(); i++) {
		const struct ktest *t = __start_ktests[i];
		bool seen = false;
		if (!selected(t))
			continue;
		for (unsigned j = 0; j < n && !seen; j++)
			seen = strcmp(suites[j], t->suite) == 0;
		if (!seen) {
			if (n == MAX_SUITES)
				panic("ktest: more than %d suites", MAX_SUITES);
			suites[n++] = t->suite;
		}
	}
	return n;
}

const char ktest_needs_icount[] = "needs -icount: the matrix's icount row runs it";
static bool ktest_icount;
CMDLINE_OPTION(ktest_icount, "ktest.icount", CMDLINE_BOOL, NULL,
	       "QEMU runs with -icount: run the tests that time the guest (KTEST_ICOUNT)");

struct tally {
	unsigned passed, failed, skipped;
};

/* Run one selected test and print its KTAP result line as number k. */
static void run_and_report(const struct ktest *t, unsigned k, struct tally *tally)
{
	if (t->skip && !(t->skip == ktest_needs_icount && ktest_icount)) {
		kprintf("    ok %u %s # SKIP %s\n", k, t->name, t->skip);
		tally->skipped++;
		return;
	}
	if (t->death && !death_boot_for(t)) {
		kprintf("    ok %u %s # SKIP death test: booted on its own\n", k, t->name);
		tally->skipped++;
		return;
	}
	if (t->death)
		kprintf("    # death test %s.%s: expecting a panic that mentions \"%s\"\n",
			t->suite, t->name, t->death);

	struct ktest_outcome r = run_one(t);
	if (t->death) {
		kprintf("    not ok %u %s # death test survived: it returned without panicking\n",
			k, t->name);
		tally->failed++;
	} else if (r.failures) {
		kprintf("    not ok %u %s\n", k, t->name);
		tally->failed++;
	} else {
		kprintf("    ok %u %s\n", k, t->name);
		tally->passed++;
	}
}

/* One suite's tests at a time; static to keep 4 KiB off the boot stack. */
static const struct ktest *suite_buf[MAX_SUITE_TESTS];

/* A suite's selected tests in source order (the linker may reverse a file's). */
static unsigned suite_tests(const char *suite, const struct ktest **out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ktest_count(); i++) {
		const struct ktest *t = __start_ktests[i];
		if (strcmp(t->suite, suite) != 0 || !selected(t))
			continue;
		if (n == MAX_SUITE_TESTS)
			panic("ktest: suite %s has more than %d tests", suite, MAX_SUITE_TESTS);
		unsigned j = n++;
		for (; j > 0; j--) {
			int c = strcmp(out[j - 1]->file, t->file);
			if (c < 0 || (c == 0 && out[j - 1]->line < t->line))
				break;
			out[j] = out[j - 1];
		}
		out[j] = t;
	}
	return n;
}

static void run_suite(const char *suite, unsigned index, struct tally *total)
{
	const struct ktest **tests = suite_buf;
	struct tally tally = { 0, 0, 0 };
	unsigned n = suite_tests(suite, tests);

	kprintf("    KTAP version 1\n    # Subtest: %s\n    1..%u\n", suite, n);
	for (unsigned k = 0; k < n; k++)
		run_and_report(tests[k], k + 1, &tally);
	kprintf("%s %u %s\n", tally.failed ? "not ok" : "ok", index, suite);
	total->passed += tally.passed;
	total->failed += tally.failed;
	total->skipped += tally.skipped;
}

static void list_suite(const char *suite)
{
	const struct ktest **tests = suite_buf;
	unsigned n = suite_tests(suite, tests);

	for (unsigned k = 0; k < n; k++) {
		if (tests[k]->death)
			kprintf("ktest: %s.%s (death test; the report must mention \"%s\")\n",
				suite, tests[k]->name, tests[k]->death);
		else
			kprintf("ktest: %s.%s\n", suite, tests[k]->name);
	}
}

static void ktest_main(void)
{
	/* 1 KiB: static, not in the frame (ktest_main runs once; frames
	 * above 1 KiB warn, see the Makefile). */
	static const char *suites[MAX_SUITES];
	unsigned nsuites = collect_suites(suites);

	panic_notifier_register(&ktest_notifier);
	if (strcmp(ktest_action, "bench") == 0)
		kbench_main();
	if (strcmp(ktest_action, "list") == 0)
		for (unsigned i = 0; i < nsuites; i++)
			list_suite(suites[i]);
	if (strcmp(ktest_action, "run") == 0) {
		struct tally total = { 0, 0, 0 };
		kprintf("KTAP version 1\n# ktest: filter \"%s\", seed %llu\n1..%u\n",
			ktest_filter, (unsigned long long)ktest_seed, nsuites);
		for (unsigned i = 0; i < nsuites; i++)
			run_suite(suites[i], i + 1, &total);
		kprintf("# ktest: %u passed, %u failed, %u skipped\n", total.passed,
			total.failed, total.skipped);
		/* A filter that selects nothing is most likely a typo: fail,
		 * rather than pass having run no test. */
		if (!nsuites)
			kprintf("# ktest: ktest.filter=%s selects no test\n", ktest_filter);
		if (total.failed || !nsuites) {
			qemu_exit(QEMU_EXIT_FAIL);
			halt_forever();
		}
	}
}
INIT_TASK("ktest", ktest_main);
