/* kernel/console.h - kprintf and friends: formatted text to the serial console. */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdarg.h>

int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);

/*
 * Console capture: while set, output is appended to buf (NUL-terminated,
 * truncated at size) instead of going to the serial port. The test harness
 * uses it to check what a failing inner test printed. NULL ends capture.
 */
void console_capture(char *buf, unsigned long size);

/* A line being gathered (kernel/console.c: output is line-atomic). */
#define CONSOLE_LINE	160
struct console_line {
	unsigned len;
	char buf[CONSOLE_LINE];
};

/* Send the running context's partial line, and the handlers'. */
void console_flush(void);

#endif
