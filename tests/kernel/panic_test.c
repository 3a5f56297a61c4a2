/*
 * tests/kernel/panic_test.c - panic() prints a symbolised frame-pointer
 * backtrace. The live test captures a backtrace and reads it; the death test
 * panics for real and the runner reads the report.
 */
#include "kernel/console.h"
#include "kernel/ktest.h"
#include "kernel/panic.h"

static char trace[2048];

__attribute__((noinline)) static void backtrace_inner(void)
{
	console_capture(trace, sizeof(trace));
	backtrace_print((uint64_t)backtrace_inner, (uint64_t)__builtin_frame_address(0));
	console_capture(NULL, 0);
}

__attribute__((noinline)) static void backtrace_outer(void)
{
	backtrace_inner();
	__asm__ volatile("");	/* keep the call from becoming a tail call */
}

KTEST(panic, backtrace_names_each_caller)
{
	backtrace_outer();
	KEXPECT_CONTAINS(trace, "Call Trace:");
	KEXPECT_CONTAINS(trace, "] backtrace_inner+0x0/");
	KEXPECT_CONTAINS(trace, "] backtrace_outer+0x");
	KEXPECT_CONTAINS(trace, "] ktest_fn_panic_backtrace_names_each_caller+0x");
}

__attribute__((noinline)) static void panic_victim(int why)
{
	panic("deliberate panic from a test (why=%d)", why);
}

KTEST_DEATH(panic, explicit_panic_prints_backtrace, "panic_victim")
{
	panic_victim(42);
}
