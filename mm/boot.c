/*
 * mm/boot.c - bring memory management up, in the one order that works.
 *
 *  1. memmap_init(): the loader's map, cleaned, with the first 1 MiB, the
 *     image, the boot information and modules reserved.
 *  2. Carve the page frame database out of the first usable range below
 *     4 GiB that holds it: the boot page tables map only the first 4 GiB.
 *  3. pmm_init(), then hand the allocator the usable memory below 4 GiB.
 *  4. vmm_init(): the kernel's own tables, direct-mapping all RAM; its
 *     page-table pages come from step 3's memory.
 *  5. Hand the allocator the memory above 4 GiB, now that it is mapped.
 * Called once from kmain, single-threaded, interrupts off.
 */
#include "mm/boot.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "mm/layout.h"
#include "mm/memmap.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define FOUR_GIB	(1ull << 32)

/* The page frame database's home: the first usable range below 4 GiB that
 * holds it (memmap_take). */
static uint64_t carve_db(uint64_t bytes)
{
	uint64_t db;
	if (!memmap_take(&memmap, bytes, FOUR_GIB, &db))
		panic("mm: no usable range below 4 GiB holds the %llu KiB page frame database",
		      (unsigned long long)(bytes >> 10));
	if (memmap.nusable == 0)
		panic("mm: the page frame database (%llu KiB) takes all usable memory",
		      (unsigned long long)(bytes >> 10));
	return db;
}

/* Add the part of every usable range that lies in [lo, hi). */
static void add_ranges(uint64_t lo, uint64_t hi)
{
	for (unsigned i = 0; i < memmap.nusable; i++) {
		uint64_t s = memmap.usable[i].start, e = memmap.usable[i].end;
		s = s < lo ? lo : s;
		e = e > hi ? hi : e;
		if (s < e)
			pmm_add_range(&kernel_pmm, s, e);
	}
}

void mm_init(void)
{
	memmap_init();

	uint64_t lowest = memmap.usable[0].start;
	uint64_t highest = memmap.usable[memmap.nusable - 1].end;
	uint64_t db_bytes = pmm_db_bytes(lowest, highest);
	uint64_t db = carve_db(db_bytes);
	pmm_init(&kernel_pmm, phys_to_virt(db), lowest, highest);

	add_ranges(0, FOUR_GIB);
	vmm_init();
	add_ranges(FOUR_GIB, ~0ull);

	struct pmm_stats st;
	pmm_stats(&kernel_pmm, &st);
	kprintf("pmm: %llu MiB in %llu pages managed, %llu KiB frame database at 0x%llx\n",
		(unsigned long long)(st.total_pages >> 8), (unsigned long long)st.total_pages,
		(unsigned long long)(db_bytes >> 10), (unsigned long long)db);
}
