/*
 * kernel/symbols.c - symbolisation for backtraces and exception reports.
 *
 * The table (struct ksym[], sorted by address, plus a names blob) sits in the
 * "ksyms" section at the end of .rodata. The Makefile links the kernel twice:
 * pass 1 with an empty table, then tools/gensyms.sh turns pass 1's `nm` into
 * the real table for pass 2. .text comes before the table, so no function
 * moves between the passes (the Makefile checks that).
 *
 * Lookup is a binary search for the last symbol starting at or below addr;
 * the address belongs to it only if it falls inside the symbol's size.
 */
#include "kernel/symbols.h"
#include "kernel/printf.h"

const char *ksym_lookup_in(const struct ksym_table *t, uint64_t addr,
			   uint64_t *offset, uint64_t *size)
{
	uint64_t lo = 0, hi = t->count;	/* answer in [lo, hi) */

	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (t->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if (t->count == 0 || addr < t->syms[lo].addr ||
	    addr - t->syms[lo].addr >= t->syms[lo].size)
		return NULL;
	if (offset)
		*offset = addr - t->syms[lo].addr;
	if (size)
		*size = t->syms[lo].size;
	return t->names + t->syms[lo].name;
}

#ifndef HOST_TEST
extern const struct ksym ksym_entries[];
extern const uint64_t ksym_count;
extern const char ksym_names[];

const char *ksym_lookup(uint64_t addr, uint64_t *offset, uint64_t *size)
{
	const struct ksym_table kernel = { ksym_entries, ksym_count, ksym_names };
	return ksym_lookup_in(&kernel, addr, offset, size);
}

int ksym_format(char *buf, size_t n, uint64_t addr)
{
	uint64_t off, size;
	const char *name = ksym_lookup(addr, &off, &size);

	if (!name)
		return ksnprintf(buf, n, "0x%016llx", (unsigned long long)addr);
	return ksnprintf(buf, n, "%s+0x%llx/0x%llx", name,
			 (unsigned long long)off, (unsigned long long)size);
}
#endif
