/*
 * mm/memmap.h - the loader's raw memory map, cleaned into the usable physical
 * ranges the page allocator may take (see mm/memmap.c).
 */
#ifndef MM_MEMMAP_H
#define MM_MEMMAP_H

#include <stdbool.h>
#include <stdint.h>

#define MEMMAP_MAX_RANGES	64
#define MEMMAP_PHYS_LIMIT	(1ull << 52)	/* x86-64's widest physical address */

/* Multiboot2 / E820 entry types; any other value is treated as reserved. */
enum {
	MEMMAP_USABLE = 1,
	MEMMAP_RESERVED = 2,
	MEMMAP_ACPI_RECLAIMABLE = 3,
	MEMMAP_ACPI_NVS = 4,
	MEMMAP_BAD = 5,
};

struct mem_range { uint64_t start, end; };			/* [start, end) */
struct memmap_entry { uint64_t base, length; uint32_t type; };	/* raw, as the loader gave it */

struct memmap {
	struct mem_range usable[MEMMAP_MAX_RANGES];	/* sorted, disjoint, page-aligned,
							   reservations cut out */
	unsigned nusable;
	uint64_t usable_bytes;
	uint64_t acpi_reclaimable_bytes;	/* type 3: reported separately, not used */
	uint64_t reserved_bytes;		/* other non-usable types (2, 4, 5, unknown) */
	uint64_t limited_bytes;			/* usable bytes dropped by the mem= limit */
};

typedef void (*memmap_warn_fn)(void *ctx, const char *msg);

/*
 * Clean the raw map e[0..n): usable (type 1) memory that no other entry
 * claims, shrunk to whole pages, minus reserve[0..nreserve) (each rounded out
 * to whole pages), keeping only the lowest limit_bytes of it (0: no limit).
 * Entries are clipped at MEMMAP_PHYS_LIMIT; a usable entry whose end lies
 * past 2^64 has a corrupt length and is ignored (any other type still claims
 * what it covers). Anything odd in the input (clipping, corrupt entries, too
 * many ranges) is reported through warn. Pure: no console, no globals.
 * Return: 0, or -1 with a message through warn when nothing usable is left.
 */
int memmap_build(struct memmap *out, const struct memmap_entry *e, unsigned n,
		 const struct mem_range *reserve, unsigned nreserve, uint64_t limit_bytes,
		 memmap_warn_fn warn, void *ctx);

/*
 * Take `bytes` (rounded up to whole pages) off the front of the first usable
 * range of m that holds them, so that they end at or below `below` (the
 * range itself may run on past it), for the kernel's
 * own use (the page frame database). A range used up whole leaves the map,
 * which lists only non-empty ranges. usable_bytes still counts the bytes
 * taken: it says what the map offered. Pure, like memmap_build.
 * Return: true with the bytes' first address in *at, or false, the map
 * unchanged, when no such range holds them (or bytes is 0).
 */
bool memmap_take(struct memmap *m, uint64_t bytes, uint64_t below, uint64_t *at);

#ifndef HOST_TEST
extern struct memmap memmap;
extern uint64_t memmap_mem_limit;	/* mem= (0: no limit) */

/* Build memmap from the boot information, reserving the first 1 MiB, the
 * kernel image, the boot information and the modules; honours mem=. Prints
 * the result; panics when no usable memory is left. Call once, after
 * bootinfo_parse() and cmdline_init(). */
void memmap_init(void);
#endif

#endif
