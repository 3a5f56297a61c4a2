/*
 * kernel/printf.h - freestanding formatted output (see printf.c for the design).
 *
 * Conversions d i u x X o c s p %, flags "-0+ #", width and precision
 * (including '*'), lengths hh h l ll z t j; output matches glibc.
 * No floating point. Reentrant; takes no locks.
 */
#ifndef KERNEL_PRINTF_H
#define KERNEL_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

/* Receives each output character in order; arg is passed through untouched. */
typedef void (*kputc_fn)(char c, void *arg);

/* Return: number of characters passed to out. */
int kvformat(kputc_fn out, void *arg, const char *fmt, va_list ap);

/*
 * C99 vsnprintf semantics: writes at most size-1 characters plus a NUL when
 * size > 0; buf may be NULL when size is 0.
 * Return: the length the full output would have had.
 */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
