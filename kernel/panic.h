/*
 * kernel/panic.h - broken invariants end here: panic(), ASSERT, DEBUG_ASSERT.
 *
 * Two kinds of failure, never mixed: a broken invariant panics (file, line,
 * backtrace); running out of something returns NULL or an error value.
 */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#include <stdint.h>

_Noreturn void panic_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like panic_at, but the backtrace starts at a trapped context. */
_Noreturn void panic_trace_from(uint64_t rip, uint64_t rsp, uint64_t rbp, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)

/* Print a frame-pointer backtrace that starts at rip, then walks rbp. */
void backtrace_print(uint64_t rip, uint64_t rbp);

/* Save up to max return addresses of the caller's callers (its own first);
 * Return: how many. For allocation tracking (slab_debug=U). */
unsigned backtrace_save(uint64_t *pcs, unsigned max);
/* Print saved return addresses, symbolised, one per line. */
void backtrace_print_addrs(const uint64_t *pcs, unsigned n);

/* The same for a trapped context, which may sit in a function without a frame. */
void backtrace_print_trap(uint64_t rip, uint64_t rsp, uint64_t rbp);

/* Cheap checks that stay on in every build. The report quotes the
 * condition as written: DEBUG_ASSERT stringifies its own argument, which
 * passed on to ASSERT would arrive with its macros expanded. */
#define ASSERT_AS_(cond, text)							\
	do {									\
		if (__builtin_expect(!(cond), 0))				\
			panic_at(__FILE__, __LINE__, "assertion failed: %s", text); \
	} while (0)
#define ASSERT(cond) ASSERT_AS_(cond, #cond)

/* Expensive checks: compiled away unless DEBUG, but always type-checked. */
#ifdef DEBUG
#define DEBUG_ASSERT(cond) ASSERT_AS_(cond, #cond)
#else
#define DEBUG_ASSERT(cond) do { if (0) { (void)(cond); } } while (0)
#endif

/* Called by panic, in registration order, after the report and before
 * halting (the test harness says which test died). A notifier must not
 * panic. Context: set-up, before any panic it is meant for. */
struct panic_notifier {
	void (*fn)(void);
	struct panic_notifier *next;
};
void panic_notifier_register(struct panic_notifier *n);

#endif
