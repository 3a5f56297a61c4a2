/* kernel/bootinfo.h - what the multiboot2 loader told us, parsed once. */
#ifndef KERNEL_BOOTINFO_H
#define KERNEL_BOOTINFO_H

#include <stdbool.h>
#include <stdint.h>

struct mb2_mmap_entry {
	uint64_t base;
	uint64_t length;
	uint32_t type;		/* 1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad */
	uint32_t reserved;
};

/* Modules the loader put in memory. The kernel loads none of its own (the
 * header asks for none) but a loader may add them; memmap keeps them safe. */
#define BOOTINFO_MAX_MODULES	8

struct bootinfo_module {
	uint64_t start, end;		/* physical, [start, end) */
	const char *name;		/* the loader's string for it; never NULL */
};

struct bootinfo {
	uint64_t info_phys;		/* the multiboot2 information structure */
	uint32_t info_size;
	const char *cmdline;		/* never NULL */
	const char *loader;		/* never NULL */
	bool uefi;			/* an EFI system table tag was present */
	const uint8_t *mmap;		/* entries, mmap_entry_size apart; NULL if none */
	uint32_t mmap_entry_size;
	uint32_t mmap_count;
	uint64_t rsdp_phys;		/* copy of the ACPI RSDP inside the info; 0 if none */
	unsigned rsdp_revision;		/* 1 or 2 (which tag) */
	struct bootinfo_module modules[BOOTINFO_MAX_MODULES];
	unsigned nmodules;
};

extern struct bootinfo bootinfo;

/* Parse the multiboot2 information at info_phys into bootinfo. A malformed
 * structure is reported on the console and parsing stops at the bad tag. */
void bootinfo_parse(uint64_t info_phys);

/* The i-th memory map entry, copied out (entries may be unaligned). */
struct mb2_mmap_entry bootinfo_mmap_entry(uint32_t i);

/* Print the boot report: loader, firmware, modules, raw memory map, and the
 * kernel's section sizes. */
void bootinfo_report(void);

#endif
