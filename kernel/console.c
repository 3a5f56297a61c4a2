/*
 * kernel/console.c - kprintf: printf.c's formatter feeding the serial port.
 *
 * One CPU for now and no locking: output from an exception handler may
 * interleave with the code it interrupted, which is what you want to see.
 * A capture buffer can divert output (used by the harness's self-tests).
 */
#include "kernel/console.h"
#include "kernel/printf.h"
#include "kernel/serial.h"

#include <stddef.h>

static struct {
	char *buf;	/* NULL: no capture in progress */
	size_t size;
	size_t len;
} capture;

static void console_putc(char c, void *arg)
{
	(void)arg;
	if (capture.buf) {
		if (capture.len + 1 < capture.size) {
			capture.buf[capture.len++] = c;
			capture.buf[capture.len] = '\0';
		}
		return;
	}
	serial_putc(c);
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

void console_capture(char *buf, unsigned long size)
{
	capture.buf = size ? buf : NULL;
	capture.size = size;
	capture.len = 0;
	if (capture.buf)
		capture.buf[0] = '\0';
}
