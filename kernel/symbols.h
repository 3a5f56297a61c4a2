/*
 * kernel/symbols.h - address -> function name, from the table that the
 * two-pass link embeds (tools/gensyms.sh writes it; see the Makefile).
 */
#ifndef KERNEL_SYMBOLS_H
#define KERNEL_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct ksym {
	uint64_t addr;
	uint32_t size;
	uint32_t name;		/* offset into the names blob */
};

struct ksym_table {
	const struct ksym *syms;	/* sorted by addr */
	uint64_t count;
	const char *names;
};

/* Return: the name of the function containing addr, or NULL; *offset and
 * *size (either may be NULL) describe where addr lies in it. */
const char *ksym_lookup_in(const struct ksym_table *t, uint64_t addr,
			   uint64_t *offset, uint64_t *size);
const char *ksym_lookup(uint64_t addr, uint64_t *offset, uint64_t *size);

/* Format addr Linux-style, "name+0xoff/0xsize", or "0x<hex>" when unknown. */
int ksym_format(char *buf, size_t n, uint64_t addr);

#endif
