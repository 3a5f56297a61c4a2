/*
 * tests/kernel/printf_test.c - kernel/printf.c as the kernel build compiles it
 * (freestanding, no SSE, -mcmodel=kernel). tests/host/printf_test.c checks
 * every conversion against the C library; these make sure the same results
 * come out of the kernel image, including va_list passing through kvformat.
 */
#include "kernel/ktest.h"
#include "kernel/printf.h"

#include <stdint.h>

KTEST(printf, integers)
{
	char b[64];
	KEXPECT_EQ(ksnprintf(b, sizeof(b), "%d|%5d|%-5d|%05d", -42, 7, 7, -7), 21);
	KEXPECT_STREQ(b, "-42|    7|7    |-0007");
	ksnprintf(b, sizeof(b), "%llu %lld", (unsigned long long)UINT64_MAX, (long long)INT64_MIN);
	KEXPECT_STREQ(b, "18446744073709551615 -9223372036854775808");
}

KTEST(printf, hex_pointer_and_strings)
{
	char b[64];
	ksnprintf(b, sizeof(b), "%x %#X %p %s %.3s %c", 255u, 255u, (void *)0xffffffff80000000ull,
		  "ok", "abcdef", 'z');
	KEXPECT_STREQ(b, "ff 0XFF 0xffffffff80000000 ok abc z");
}

KTEST(printf, truncation_keeps_length_and_nul)
{
	char b[8] = "xxxxxxx";
	KEXPECT_EQ(ksnprintf(b, 4, "%s", "abcdef"), 6);
	KEXPECT_STREQ(b, "abc");
	KEXPECT_EQ(ksnprintf(NULL, 0, "%d", 12345), 5);
}

static void count_char(char c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
}

static int format_via(int *count, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvformat(count_char, count, fmt, ap);
	va_end(ap);
	return n;
}

KTEST(printf, kvformat_calls_back_once_per_char)
{
	int count = 0;
	KEXPECT_EQ(format_via(&count, "%s-%08x", "abc", 0x1234u), 12);
	KEXPECT_EQ(count, 12);
}
