/*
 * tests/host/symbols_test.c - kernel/symbols.c's lookup on hand-built tables:
 * exact starts, interiors, gaps between symbols, before the first and past
 * the last, and the empty table.
 */
#include "htest.h"
#include "kernel/symbols.h"

static const char names[] = "alpha\0beta\0gamma";
static const struct ksym syms[] = {
	{ 0x1000, 0x10, 0 },	/* alpha [0x1000, 0x1010) */
	{ 0x1010, 0x20, 6 },	/* beta  [0x1010, 0x1030) */
	{ 0x2000, 0x8, 11 },	/* gamma [0x2000, 0x2008), a gap before it */
};
static const struct ksym_table table = { syms, 3, names };

HTEST(start_of_each_symbol)
{
	uint64_t off = 1, size = 0;
	HEXPECT_STREQ(ksym_lookup_in(&table, 0x1000, &off, &size), "alpha");
	HEXPECT_EQ(off, 0);
	HEXPECT_EQ(size, 0x10);
	HEXPECT_STREQ(ksym_lookup_in(&table, 0x1010, NULL, NULL), "beta");
	HEXPECT_STREQ(ksym_lookup_in(&table, 0x2000, NULL, NULL), "gamma");
}

HTEST(interior_gives_offset)
{
	uint64_t off = 0;
	HEXPECT_STREQ(ksym_lookup_in(&table, 0x102f, &off, NULL), "beta");
	HEXPECT_EQ(off, 0x1f);
}

HTEST(gaps_and_ends_are_unknown)
{
	HEXPECT_TRUE(ksym_lookup_in(&table, 0xfff, NULL, NULL) == NULL);
	HEXPECT_TRUE(ksym_lookup_in(&table, 0x1030, NULL, NULL) == NULL);
	HEXPECT_TRUE(ksym_lookup_in(&table, 0x2008, NULL, NULL) == NULL);
	HEXPECT_TRUE(ksym_lookup_in(&table, UINT64_MAX, NULL, NULL) == NULL);
	HEXPECT_TRUE(ksym_lookup_in(&table, 0, NULL, NULL) == NULL);
}

HTEST(empty_table)
{
	const struct ksym_table empty = { syms, 0, names };
	HEXPECT_TRUE(ksym_lookup_in(&empty, 0x1000, NULL, NULL) == NULL);
}

HTEST(single_symbol_table)
{
	const struct ksym_table one = { syms + 2, 1, names };
	HEXPECT_STREQ(ksym_lookup_in(&one, 0x2004, NULL, NULL), "gamma");
	HEXPECT_TRUE(ksym_lookup_in(&one, 0x1000, NULL, NULL) == NULL);
}

int main(void)
{
	return htest_main("symbols");
}
