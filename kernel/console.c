/*
 * kernel/console.c - kprintf: printf.c's formatter feeding the serial port,
 * a whole line at a time.
 *
 * Line-atomic: each context gathers its output in a line buffer of its own
 * (every thread has one in struct thread; interrupt and exception handlers
 * share the CPU's, since they do not interleave with each other), and a
 * line reaches the serial port whole, with interrupts off, at its newline
 * or when the buffer fills. So a line of one thread never interleaves with
 * another's or a handler's, and KTAP output stays parseable under
 * preemption. console_flush sends a partial line (panic does, so that
 * nothing printed is lost).
 *
 * A capture buffer can divert output (the harness's self-tests); while it
 * is set, whole lines go there instead of to the serial port.
 */
#include "kernel/console.h"
#include "kernel/printf.h"
#include "kernel/serial.h"
#include "kernel/thread.h"
#include "kernel/trap.h"
#include "kernel/x86.h"

#include <stddef.h>

static struct {
	char *buf;	/* NULL: no capture in progress */
	size_t size;
	size_t len;
} capture;

static struct console_line trap_line;	/* handlers' (one CPU) */

static struct console_line *line_here(void)
{
	return in_trap() ? &trap_line : &current()->line;
}

static void line_flush(struct console_line *l)
{
	uint64_t f = irq_save();
	for (unsigned i = 0; i < l->len; i++) {
		if (!capture.buf)
			serial_putc(l->buf[i]);
		else if (capture.len + 1 < capture.size) {
			capture.buf[capture.len++] = l->buf[i];
			capture.buf[capture.len] = '\0';
		}
	}
	l->len = 0;
	irq_restore(f);
}

static void console_putc(char c, void *arg)
{
	(void)arg;
	struct console_line *l = line_here();
	l->buf[l->len++] = c;
	if (c == '\n' || l->len == CONSOLE_LINE)
		line_flush(l);
}

int kvprintf(const char *fmt, va_list ap)
{
	return kvformat(console_putc, NULL, fmt, ap);
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

void console_flush(void)
{
	line_flush(&current()->line);
	line_flush(&trap_line);
}

void console_capture(char *buf, unsigned long size)
{
	/* What the running context printed of a line so far goes where
	 * output went until now. */
	line_flush(line_here());
	capture.buf = size ? buf : NULL;
	capture.size = size;
	capture.len = 0;
	if (capture.buf)
		capture.buf[0] = '\0';
}
