/*
 * tests/kernel/memmap_test.c - the memory map this boot cleaned: well formed,
 * the reservations kept out, mem= honoured, and the page allocator managing
 * exactly what the map offered. tests/host/memmap_test.c covers hostile maps.
 */
#include "kernel/bootinfo.h"
#include "kernel/ktest.h"
#include "mm/layout.h"
#include "mm/memmap.h"
#include "mm/pmm.h"

static bool overlaps_usable(uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < memmap.nusable; i++)
		if (start < memmap.usable[i].end && memmap.usable[i].start < end)
			return true;
	return false;
}

KTEST(memmap, ranges_sorted_disjoint_page_aligned)
{
	uint64_t sum = 0;
	KASSERT_GT(memmap.nusable, 0);
	for (unsigned i = 0; i < memmap.nusable; i++) {
		const struct mem_range *r = &memmap.usable[i];
		KEXPECT_EQ(r->start % PAGE_SIZE, 0);
		KEXPECT_EQ(r->end % PAGE_SIZE, 0);
		KEXPECT_LT(r->start, r->end);
		if (i)
			KEXPECT_LE(memmap.usable[i - 1].end, r->start);
		sum += r->end - r->start;
	}
	KEXPECT_LE(sum, memmap.usable_bytes);	/* boot carved the frame database off the front */
}

KTEST(memmap, reservations_are_not_usable)
{
	KEXPECT_FALSE(overlaps_usable(0, 1 << 20));
	KEXPECT_FALSE(overlaps_usable((uint64_t)__kernel_phys_start, (uint64_t)__kernel_phys_end));
	KEXPECT_FALSE(overlaps_usable(bootinfo.info_phys, bootinfo.info_phys + bootinfo.info_size));
}

KTEST(memmap, mem_limit_is_honoured)
{
	if (memmap_mem_limit == 0) {
		KEXPECT_EQ(memmap.limited_bytes, 0);
		return;
	}
	/* The matrix boots with mem= below the machine's RAM: the limit binds exactly. */
	KEXPECT_EQ(memmap.usable_bytes, memmap_mem_limit);
	KEXPECT_GT(memmap.limited_bytes, 0);
}

KTEST(memmap, allocator_manages_what_the_map_offered)
{
	struct pmm_stats st;
	uint64_t sum = 0;
	for (unsigned i = 0; i < memmap.nusable; i++)
		sum += memmap.usable[i].end - memmap.usable[i].start;
	pmm_stats(&kernel_pmm, &st);
	KEXPECT_EQ(st.total_pages * PAGE_SIZE, sum);
}
