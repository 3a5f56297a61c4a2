/*
 * kernel/panic.c - the end of the line for a broken invariant.
 *
 * panic():
 *  1. Stop interrupts and divert nothing: console capture is dropped so the
 *     report always reaches the serial port.
 *  2. Print "Kernel panic - not syncing: <msg>" with file and line.
 *  3. Print a frame-pointer backtrace ("Call Trace:", Linux style
 *     " [<addr>] func+0xoff/0xsize"), symbolised from the embedded table.
 *  4. Tell the test harness (it names the running test), then leave QEMU
 *     with the failure code, or halt on real hardware.
 * A panic while panicking only prints a line and halts: the first report is
 * the one that matters and the second may be caused by the first.
 */
#include "kernel/panic.h"
#include "kernel/console.h"
#include "kernel/qemu.h"
#include "kernel/symbols.h"
#include "kernel/x86.h"
#include "mm/layout.h"

#include <stdarg.h>
#include <stdbool.h>

#define BACKTRACE_MAX_FRAMES	32
#define FRAME_MAX_GAP		(64 * 1024)	/* larger jumps mean a broken chain */

static bool panicking;

static void print_frame(uint64_t addr)
{
	char sym[128];
	ksym_format(sym, sizeof(sym), addr);
	kprintf(" [<%016llx>] %s\n", (unsigned long long)addr, sym);
}

/*
 * Each frame is [saved rbp][return address]. The walk stops at rbp == 0 (set
 * by boot/entry.S), at a misaligned or non-kernel rbp, or when the chain does
 * not move up the stack: a corrupt chain must not fault inside a panic.
 */
static void backtrace_walk(uint64_t rip, uint64_t rbp)
{
	print_frame(rip);
	for (int i = 0; i < BACKTRACE_MAX_FRAMES; i++) {
		if (rbp < DIRECT_MAP_BASE || (rbp & 7))
			return;
		const uint64_t *frame = (const uint64_t *)rbp;
		uint64_t next = frame[0], ret = frame[1];
		if (ret < KERNEL_VMA)
			return;
		/* The return address points after the call; -1 names the caller's line. */
		print_frame(ret - 1);
		if (next <= rbp || next - rbp > FRAME_MAX_GAP)
			return;
		rbp = next;
	}
}

unsigned backtrace_save(uint64_t *pcs, unsigned max)
{
	uint64_t rbp = (uint64_t)__builtin_frame_address(0);
	unsigned n = 0;

	/* The same walk and the same stopping rules as backtrace_walk. */
	while (n < max && rbp >= DIRECT_MAP_BASE && !(rbp & 7)) {
		const uint64_t *frame = (const uint64_t *)rbp;
		if (frame[1] < KERNEL_VMA)
			break;
		pcs[n++] = frame[1] - 1;
		if (frame[0] <= rbp || frame[0] - rbp > FRAME_MAX_GAP)
			break;
		rbp = frame[0];
	}
	return n;
}

void backtrace_print_addrs(const uint64_t *pcs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		print_frame(pcs[i]);
}

void backtrace_print(uint64_t rip, uint64_t rbp)
{
	kprintf("Call Trace:\n");
	backtrace_walk(rip, rbp);
}

/*
 * GCC builds functions that need no stack without a frame, even with
 * -fno-omit-frame-pointer. When a trap lands in one (or in a prologue before
 * "push %rbp; mov %rsp,%rbp" completed), rbp still belongs to the caller's
 * caller, and the caller is found only at [rsp]: its return address.
 */
static bool frame_not_set_up(uint64_t rip)
{
	static const uint8_t prologue[4] = { 0x55, 0x48, 0x89, 0xe5 };
	uint64_t off;

	if (!ksym_lookup(rip, &off, NULL))
		return false;
	const uint8_t *start = (const uint8_t *)(rip - off);
	for (int i = 0; i < 4; i++)
		if (start[i] != prologue[i])
			return true;
	return off < sizeof(prologue);
}

void backtrace_print_trap(uint64_t rip, uint64_t rsp, uint64_t rbp)
{
	if (rsp >= DIRECT_MAP_BASE && !(rsp & 7) && frame_not_set_up(rip)) {
		uint64_t ret = *(const uint64_t *)rsp;
		if (ret >= KERNEL_VMA && ksym_lookup(ret - 1, NULL, NULL)) {
			kprintf("Call Trace:\n");
			print_frame(rip);
			backtrace_walk(ret - 1, rbp);
			return;
		}
	}
	kprintf("Call Trace:\n");
	backtrace_walk(rip, rbp);
}

static struct panic_notifier *notifiers;

void panic_notifier_register(struct panic_notifier *n)
{
	struct panic_notifier **pp = &notifiers;
	while (*pp)
		pp = &(*pp)->next;
	n->next = NULL;
	*pp = n;
}

static _Noreturn void panic_finish(uint64_t rip, uint64_t rsp, uint64_t rbp, const char *file,
				   int line, const char *fmt, va_list ap)
{
	cli();
	console_capture(NULL, 0);
	console_flush();	/* what the thread had printed of its last line */
	if (panicking) {
		kprintf("Kernel panic - nested panic while panicking; halting\n");
		halt_forever();
	}
	panicking = true;

	kprintf("Kernel panic - not syncing: ");
	kvprintf(fmt, ap);
	if (file)
		kprintf(" (%s:%d)", file, line);
	kprintf("\n");
	if (rsp)
		backtrace_print_trap(rip, rsp, rbp);
	else
		backtrace_print(rip, rbp);
	for (struct panic_notifier *n = notifiers; n; n = n->next)
		n->fn();
	qemu_exit(QEMU_EXIT_FAIL);
	halt_forever();
}

_Noreturn void panic_at(const char *file, int line, const char *fmt, ...)
{
	/* Start the trace in our caller: the call instruction (return address - 1,
	 * which for a call at the very end of a function is still inside it) and
	 * the caller's saved rbp. */
	const uint64_t *fp = __builtin_frame_address(0);
	va_list ap;
	va_start(ap, fmt);
	panic_finish(fp[1] - 1, 0, fp[0], file, line, fmt, ap);
}

_Noreturn void panic_trace_from(uint64_t rip, uint64_t rsp, uint64_t rbp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	panic_finish(rip, rsp, rbp, NULL, 0, fmt, ap);
}
