/*
 * tests/kernel/symbols_test.c - the embedded symbol table names the kernel's
 * own functions, so backtraces and exception reports can be read.
 */
#include "kernel/ktest.h"
#include "kernel/printf.h"
#include "kernel/symbols.h"

_Noreturn void kmain(uint32_t magic, uint32_t info_phys);

/* A function of known extent whose address the test takes. */
__attribute__((noinline)) static int symbols_probe(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}

KTEST(symbols, known_function_is_named)
{
	uint64_t off = 99, size = 0;
	KEXPECT_STREQ(ksym_lookup((uint64_t)kmain, &off, &size), "kmain");
	KEXPECT_EQ(off, 0);
	KEXPECT_GT(size, 0);
}

KTEST(symbols, address_inside_a_static_function)
{
	uint64_t off = 0, size = 0;
	KEXPECT_EQ(symbols_probe(1), 4);
	KEXPECT_STREQ(ksym_lookup((uint64_t)symbols_probe + 1, &off, &size), "symbols_probe");
	KEXPECT_EQ(off, 1);
}

KTEST(symbols, format_is_linux_style)
{
	char buf[128], want[128];
	uint64_t size = 0;
	ksym_lookup((uint64_t)kmain, NULL, &size);
	ksym_format(buf, sizeof(buf), (uint64_t)kmain + 0x10);
	ksnprintf(want, sizeof(want), "kmain+0x10/0x%llx", (unsigned long long)size);
	KEXPECT_STREQ(buf, want);
}

KTEST(symbols, unknown_address_is_not_named)
{
	char buf[64];
	KEXPECT_NULL(ksym_lookup(0x1000, NULL, NULL));
	ksym_format(buf, sizeof(buf), 0x1000);
	KEXPECT_STREQ(buf, "0x0000000000001000");
}
