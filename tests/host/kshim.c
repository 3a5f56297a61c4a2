/*
 * tests/host/kshim.c - the kernel services mm/ code calls, for host builds.
 *
 * Physical memory is whatever the test points host_phys_base at
 * (mm/layout.h: phys_to_virt(pa) = host_phys_base + pa). Console output goes
 * to stdout through the kernel's own printf, each line prefixed "    # " so
 * the KTAP parser takes it for a diagnostic of the running test (a bare
 * "ok"/"not ok" line would be a result, and a "#" at a shallower indent
 * than the subtest would end it). console_capture works as in the kernel, so
 * a test can read a report. panic prints the kernel's panic line and aborts;
 * backtraces are not walked (the host has no symbol table of ours).
 */
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "mm/layout.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

uint8_t *host_phys_base;
_Thread_local unsigned host_cpu_id;

static struct {
	char *buf;
	unsigned long size, len;
} capture;

static bool at_line_start = true;

static void shim_putc(char c, void *arg)
{
	(void)arg;
	if (capture.buf) {
		if (capture.len + 1 < capture.size) {
			capture.buf[capture.len++] = c;
			capture.buf[capture.len] = '\0';
		}
		return;
	}
	if (at_line_start)
		fputs("    # ", stdout);
	putchar(c);
	at_line_start = c == '\n';
}

int kvprintf(const char *fmt, va_list ap)
{
	int n = kvformat(shim_putc, NULL, fmt, ap);
	fflush(stdout);
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

void console_capture(char *buf, unsigned long size)
{
	capture.buf = size ? buf : NULL;
	capture.size = size;
	capture.len = 0;
	if (capture.buf)
		capture.buf[0] = '\0';
}

static _Noreturn void panic_finish(const char *file, int line, const char *fmt, va_list ap)
{
	console_capture(NULL, 0);
	kprintf("Kernel panic - not syncing: ");
	kvprintf(fmt, ap);
	if (file)
		kprintf(" (%s:%d)", file, line);
	kprintf("\n");
	abort();
}

_Noreturn void panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	panic_finish(file, line, fmt, ap);
}

_Noreturn void panic_trace_from(uint64_t rip, uint64_t rsp, uint64_t rbp, const char *fmt, ...)
{
	va_list ap;
	(void)rip;
	(void)rsp;
	(void)rbp;
	va_start(ap, fmt);
	panic_finish(NULL, 0, fmt, ap);
}

void backtrace_print(uint64_t rip, uint64_t rbp)
{
	(void)rbp;
	kprintf("Call Trace: (host build: not walked; called from %#llx)\n", (unsigned long long)rip);
}

/* Host frames below main belong to libc, built without frame pointers: only
 * the immediate caller is recorded. */
unsigned backtrace_save(uint64_t *pcs, unsigned max)
{
	if (max == 0)
		return 0;
	pcs[0] = (uint64_t)__builtin_return_address(0);
	return 1;
}

void backtrace_print_addrs(const uint64_t *pcs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		kprintf(" [<%016llx>]\n", (unsigned long long)pcs[i]);
}
