/*
 * tests/host/memmap_test.c - mm/memmap.c's map cleaning on crafted maps,
 * under ASan and UBSan: the maps QEMU hands out, overlaps in both
 * directions, unaligned, unsorted, duplicate and absurd entries,
 * reservations, the mem= limit, and tables that overflow. Every test checks
 * the exact ranges that come out, and every build checks the invariants.
 * Then memmap_take, which boot uses to place the page frame database.
 */
#include "htest.h"
#include "mm/memmap.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define KIB		(1ull << 10)
#define MIB		(1ull << 20)
#define GIB		(1ull << 30)

struct warnings {
	int count;
	char all[8192];
};

static void collect(void *ctx, const char *msg)
{
	struct warnings *w = ctx;
	size_t used = strlen(w->all), len = strlen(msg);
	w->count++;
	if (used + len + 2 <= sizeof(w->all)) {	/* keep what fits, whole lines only */
		memcpy(w->all + used, msg, len);
		memcpy(w->all + used + len, "\n", 2);
	}
}

static struct memmap m;
static struct warnings w;

/* The output invariant, checked after every build. */
static void check_invariants(int line)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < m.nusable; i++) {
		const struct mem_range *r = &m.usable[i];
		bool ok = r->start < r->end && r->start % 4096 == 0 && r->end % 4096 == 0 &&
			  (i == 0 || m.usable[i - 1].end < r->start);
		if (!ok) {
			htest_fail_begin(__FILE__, line);
			printf("usable[%u] [0x%llx, 0x%llx) is empty, unaligned or out of order\n", i,
			       (unsigned long long)r->start, (unsigned long long)r->end);
		}
		sum += r->end - r->start;
	}
	if (sum != m.usable_bytes) {
		htest_fail_begin(__FILE__, line);
		printf("usable_bytes 0x%llx, ranges sum to 0x%llx\n",
		       (unsigned long long)m.usable_bytes, (unsigned long long)sum);
	}
}

static int build_at(int line, const struct memmap_entry *e, unsigned n, const struct mem_range *res,
		    unsigned nres, uint64_t limit)
{
	memset(&w, 0, sizeof(w));
	memset(&m, 0xa5, sizeof(m));	/* memmap_build must set every field */
	int rc = memmap_build(&m, e, n, res, nres, limit, collect, &w);
	check_invariants(line);
	return rc;
}

#define BUILD(e, res, limit)	build_at(__LINE__, e, ARRAY_SIZE(e), res, ARRAY_SIZE(res), limit)
#define BUILD_NORES(e, limit)	build_at(__LINE__, e, ARRAY_SIZE(e), NULL, 0, limit)

static void expect_ranges(int line, const struct mem_range *want, unsigned n)
{
	bool same = m.nusable == n;

	for (unsigned i = 0; same && i < n; i++)
		same = m.usable[i].start == want[i].start && m.usable[i].end == want[i].end;
	if (same)
		return;
	htest_fail_begin(__FILE__, line);
	printf("ranges differ; got");
	for (unsigned i = 0; i < m.nusable && i < MEMMAP_MAX_RANGES; i++)
		printf(" [0x%llx,0x%llx)", (unsigned long long)m.usable[i].start,
		       (unsigned long long)m.usable[i].end);
	printf(", want");
	for (unsigned i = 0; i < n; i++)
		printf(" [0x%llx,0x%llx)", (unsigned long long)want[i].start, (unsigned long long)want[i].end);
	printf("\n");
	fflush(stdout);
}

#define EXPECT_RANGES(...)							\
	do {									\
		const struct mem_range want_[] = { __VA_ARGS__ };		\
		expect_ranges(__LINE__, want_, ARRAY_SIZE(want_));		\
	} while (0)

#define U	MEMMAP_USABLE
#define R	MEMMAP_RESERVED
#define ACPI	MEMMAP_ACPI_RECLAIMABLE
#define NVS	MEMMAP_ACPI_NVS
#define BAD	MEMMAP_BAD

/* QEMU's pc machine with -m 128M (SeaBIOS's E820 as GRUB passes it on). */
static const struct memmap_entry qemu_128m[] = {
	{ 0x0, 0x9fc00, U },
	{ 0x9fc00, 0x400, R },
	{ 0xf0000, 0x10000, R },
	{ 0x100000, 0x7ee0000, U },
	{ 0x7fe0000, 0x20000, R },
	{ 0xfffc0000, 0x40000, R },
};

HTEST(qemu_128m_map)
{
	HEXPECT_EQ(BUILD_NORES(qemu_128m, 0), 0);
	EXPECT_RANGES({ 0x0, 0x9f000 }, { 0x100000, 0x7fe0000 });
	HEXPECT_EQ(m.usable_bytes, 0x9f000 + 0x7ee0000);
	HEXPECT_EQ(m.reserved_bytes, 0x400 + 0x10000 + 0x20000 + 0x40000);
	HEXPECT_EQ(m.acpi_reclaimable_bytes, 0);
	HEXPECT_EQ(m.limited_bytes, 0);
	HEXPECT_EQ(w.count, 0);
}

HTEST(qemu_128m_with_the_kernels_reservations)
{
	static const struct mem_range res[] = {
		{ 0, MIB },			/* first 1 MiB */
		{ 0x200000, 0x3a5000 },		/* image */
		{ 0x3ad1a8, 0x3ad1a8 + 0x2c8 },	/* boot information, unaligned */
	};

	HEXPECT_EQ(BUILD(qemu_128m, res, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 }, { 0x3a5000, 0x3ad000 }, { 0x3ae000, 0x7fe0000 });
	HEXPECT_EQ(m.usable_bytes, 0x7ee0000 - 0x1a5000 - 0x1000);
	HEXPECT_EQ(w.count, 0);
}

/* QEMU -m 6G: 3 GiB below the PCI hole, the other 3 GiB above 4 GiB, and the
 * newer machine types' reserved HyperTransport window far up. */
HTEST(qemu_6g_map_with_the_pci_hole)
{
	static const struct memmap_entry e[] = {
		{ 0x0, 0x9fc00, U },
		{ 0x9fc00, 0x400, R },
		{ 0xf0000, 0x10000, R },
		{ 0x100000, 0xbff00000, U },
		{ 0xfeffc000, 0x4000, R },
		{ 0xfffc0000, 0x40000, R },
		{ 0x100000000, 0xc0000000, U },
		{ 0xfd00000000, 0x300000000, R },
	};
	static const struct mem_range res[] = { { 0, MIB } };

	HEXPECT_EQ(BUILD(e, res, 0), 0);
	EXPECT_RANGES({ MIB, 3 * GIB }, { 4 * GIB, 7 * GIB });
	HEXPECT_EQ(m.usable_bytes, 6 * GIB - MIB);
	HEXPECT_EQ(m.reserved_bytes, 0x400 + 0x10000 + 0x4000 + 0x40000 + 0x300000000);
	HEXPECT_EQ(w.count, 0);
}

HTEST(unsorted_map_gives_the_same_result)
{
	static const struct memmap_entry e[] = {
		{ 0xfffc0000, 0x40000, R },
		{ 0x100000, 0x7ee0000, U },
		{ 0x9fc00, 0x400, R },
		{ 0x7fe0000, 0x20000, R },
		{ 0x0, 0x9fc00, U },
		{ 0xf0000, 0x10000, R },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x0, 0x9f000 }, { 0x100000, 0x7fe0000 });
	HEXPECT_EQ(m.reserved_bytes, 0x400 + 0x10000 + 0x20000 + 0x40000);
}

HTEST(usable_inside_reserved_is_lost)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x100000, R },
		{ 0x150000, 0x10000, U },
		{ 0x400000, 0x100000, U },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x400000, 0x500000 });
	HEXPECT_EQ(m.reserved_bytes, 0x100000);
}

HTEST(reserved_inside_usable_splits_it)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x300000, U },
		{ 0x200000, 0x1000, R },
		{ 0x2ff800, 0x1000, NVS },	/* unaligned: both pages it touches go */
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 }, { 0x201000, 0x2ff000 }, { 0x301000, 0x400000 });
	HEXPECT_EQ(m.reserved_bytes, 0x2000);
}

HTEST(partial_overlaps_at_either_end)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x100000, U },
		{ 0xf0000, 0x20800, R },	/* covers the start, unaligned end */
		{ 0x1ff000, 0x10000, BAD },	/* covers the end */
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x111000, 0x1ff000 });
}

HTEST(zero_length_entries_are_nothing)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x100000, U },
		{ 0x180000, 0, R },		/* would split the range */
		{ 0x300000, 0, U },		/* would add one */
		{ UINT64_MAX, 0, U },		/* would need clipping */
		{ 0x400000, 0x1000, U },
		{ 0x400000, 0, R },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 }, { 0x400000, 0x401000 });
	HEXPECT_EQ(m.reserved_bytes, 0);
	HEXPECT_EQ(w.count, 0);
}

HTEST(unaligned_usable_shrinks_inward)
{
	static const struct memmap_entry e[] = {
		{ 0x1001, 0x2ffe, U },		/* [0x1001, 0x3fff) */
		{ 0x10800, 0x1000, U },		/* straddles two pages, holds neither */
		{ 0x20800, 0x1000, U },		/* two adjacent halves make one whole page */
		{ 0x21800, 0x1000, U },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x2000, 0x3000 }, { 0x21000, 0x22000 });
}

HTEST(overlapping_usable_entries_merge)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x200000, U },
		{ 0x180000, 0x200000, U },
		{ 0x380000, 0x80000, U },	/* adjacent to the second */
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x400000 });
}

HTEST(duplicate_entries_count_once)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x100000, U },
		{ 0x100000, 0x100000, U },
		{ 0x300000, 0x2000, R },
		{ 0x300000, 0x2000, R },
		{ 0x400000, 0x1000, ACPI },
		{ 0x400000, 0x1000, ACPI },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 });
	HEXPECT_EQ(m.reserved_bytes, 0x2000);
	HEXPECT_EQ(m.acpi_reclaimable_bytes, 0x1000);
}

HTEST(type_mixture_and_acpi_accounting)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x700000, U },
		{ 0x200000, 0x10000, ACPI },	/* inside usable: ACPI wins */
		{ 0x300000, 0x4000, NVS },
		{ 0x400000, 0x1000, BAD },
		{ 0x500000, 0x1000, 0 },	/* unknown types are reserved */
		{ 0x600000, 0x1000, 0xdeadbeef },
		{ 0x7f0000, 0x20000, ACPI },	/* half in usable, half beyond */
		{ 0x900000, 0x8000, ACPI },	/* ACPI and reserved overlap: */
		{ 0x904000, 0x8000, R },	/* reserved wins the overlap */
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 }, { 0x210000, 0x300000 }, { 0x304000, 0x400000 },
		      { 0x401000, 0x500000 }, { 0x501000, 0x600000 }, { 0x601000, 0x7f0000 });
	HEXPECT_EQ(m.acpi_reclaimable_bytes, 0x10000 + 0x20000 + 0x4000);
	HEXPECT_EQ(m.reserved_bytes, 0x4000 + 3 * 0x1000 + 0x8000);
	HEXPECT_EQ(w.count, 0);
}

HTEST(huge_entry_is_clipped_to_52_bits)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 1ull << 60, U },	/* ends past the limit, not past 2^64 */
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, MEMMAP_PHYS_LIMIT });
	HEXPECT_EQ(w.count, 1);
	HEXPECT_TRUE(strstr(w.all, "entry 0 (base 0x100000, length 0x1000000000000000, type 1) runs past "
			    "the 52-bit physical address limit; clipped to end at 0x10000000000000") != NULL);
}

/* A usable entry whose end lies past 2^64 has a corrupt length: clipped, it
 * claimed 4 PiB, and boot then panicked sizing the frame database for it. A
 * reserved one still reserves what it covers. */
HTEST(usable_entry_whose_length_wraps_is_ignored)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x7f00000, U },
		{ 0x8000000, UINT64_MAX - 0x1000, U },	/* wraps past 2^64 */
		{ 0x200000, UINT64_MAX, R },		/* wraps too: reserves to the limit */
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 });
	HEXPECT_TRUE(strstr(w.all, "entry 1 (base 0x8000000, length 0xffffffffffffefff, type 1) ends "
			    "past 2^64, so its length is corrupt; ignored") != NULL);
	HEXPECT_TRUE(strstr(w.all, "entry 2 (base 0x200000, length 0xffffffffffffffff, type 2) runs past "
			    "the 52-bit physical address limit; clipped") != NULL);
	HEXPECT_EQ(w.count, 2);
}

HTEST(entries_beyond_52_bits_are_ignored)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x1000, U },
		{ 1ull << 60, 1ull << 30, U },
		{ MEMMAP_PHYS_LIMIT - 0x1000, 0x2000, U },	/* straddles the limit */
		{ UINT64_MAX - 0xfff, 0x1000, R },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), 0);
	EXPECT_RANGES({ 0x100000, 0x101000 }, { MEMMAP_PHYS_LIMIT - 0x1000, MEMMAP_PHYS_LIMIT });
	HEXPECT_EQ(w.count, 3);
	HEXPECT_TRUE(strstr(w.all, "entry 1 (base 0x1000000000000000, length 0x40000000, type 1) lies "
			    "beyond the 52-bit physical address limit; ignored") != NULL);
	HEXPECT_TRUE(strstr(w.all, "entry 2 (") != NULL);
	HEXPECT_TRUE(strstr(w.all, "entry 3 (") != NULL);
	HEXPECT_EQ(m.reserved_bytes, 0);
}

HTEST(huge_reserved_entry_leaves_nothing)
{
	static const struct memmap_entry e[] = {
		{ 0x100000, 0x100000, U },
		{ 0x1000, UINT64_MAX, R },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), -1);
	HEXPECT_EQ(m.nusable, 0);
	HEXPECT_EQ(m.usable_bytes, 0);
	HEXPECT_EQ(m.reserved_bytes, MEMMAP_PHYS_LIMIT - 0x1000);
	HEXPECT_TRUE(strstr(w.all, "no usable memory: 1024 KiB marked usable in 2 entries") != NULL);
}

HTEST(reservations_round_outward_and_split)
{
	static const struct memmap_entry e[] = { { 0x100000, 0x400000, U } };
	static const struct mem_range res[] = {
		{ 0x201010, 0x202010 },		/* touches 0x201000 and 0x202000 */
		{ 0x0, 0x100800 },		/* covers the start */
		{ 0x4ff000, 0x600000 },		/* covers the end */
		{ 0x300800, 0x300800 },		/* empty: cuts nothing, not a page */
		{ 0x380000, 0x370000 },		/* inverted: warned, cuts nothing */
	};

	HEXPECT_EQ(BUILD(e, res, 0), 0);
	EXPECT_RANGES({ 0x101000, 0x201000 }, { 0x203000, 0x4ff000 });
	HEXPECT_EQ(w.count, 1);
	HEXPECT_TRUE(strstr(w.all, "reservation [0x380000, 0x370000) ends before it starts; ignored") != NULL);
	HEXPECT_EQ(m.reserved_bytes, 0);	/* reservations are not the map's reserved memory */
}

HTEST(reservation_covering_everything_fails)
{
	static const struct memmap_entry e[] = { { 0x100000, 0x400000, U } };
	static const struct mem_range res[] = { { 0, UINT64_MAX } };

	HEXPECT_EQ(BUILD(e, res, 0), -1);
	HEXPECT_TRUE(strstr(w.all, "no usable memory") != NULL);
	HEXPECT_TRUE(strstr(w.all, "1 reservations") != NULL);
}

static const struct memmap_entry three[] = {
	{ 0x100000, 0x100000, U },		/* 1 MiB */
	{ 0x400000, 0x200000, U },		/* 2 MiB */
	{ 0x1000000, 0x400000, U },		/* 4 MiB */
};

HTEST(limit_exactly_the_total)
{
	HEXPECT_EQ(BUILD_NORES(three, 7 * MIB), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 }, { 0x400000, 0x600000 }, { 0x1000000, 0x1400000 });
	HEXPECT_EQ(m.limited_bytes, 0);
}

HTEST(limit_larger_than_the_total)
{
	HEXPECT_EQ(BUILD_NORES(three, 1ull << 40), 0);
	HEXPECT_EQ(m.usable_bytes, 7 * MIB);
	HEXPECT_EQ(m.limited_bytes, 0);
}

HTEST(limit_keeps_the_lowest_bytes)
{
	HEXPECT_EQ(BUILD_NORES(three, 2 * MIB), 0);
	EXPECT_RANGES({ 0x100000, 0x200000 }, { 0x400000, 0x500000 });
	HEXPECT_EQ(m.usable_bytes, 2 * MIB);
	HEXPECT_EQ(m.limited_bytes, 5 * MIB);
	HEXPECT_EQ(w.count, 0);
}

HTEST(limit_smaller_than_the_first_range)
{
	HEXPECT_EQ(BUILD_NORES(three, 64 * KIB + 100), 0);	/* rounds down to whole pages */
	EXPECT_RANGES({ 0x100000, 0x110000 });
	HEXPECT_EQ(m.limited_bytes, 7 * MIB - 64 * KIB);
}

HTEST(limit_below_one_page_fails)
{
	HEXPECT_EQ(BUILD_NORES(three, 4095), -1);
	HEXPECT_EQ(m.nusable, 0);
	HEXPECT_EQ(m.limited_bytes, 7 * MIB);
	HEXPECT_TRUE(strstr(w.all, "mem=4095 leaves no usable memory (less than one page)") != NULL);
}

HTEST(no_usable_memory_fails_with_a_message)
{
	static const struct memmap_entry e[] = {
		{ 0x0, 0x9fc00, R },
		{ 0x100000, 0x800, U },		/* less than a page */
		{ 0x200000, 0x10000, ACPI },
	};

	HEXPECT_EQ(BUILD_NORES(e, 0), -1);
	HEXPECT_EQ(m.nusable, 0);
	HEXPECT_EQ(m.acpi_reclaimable_bytes, 0x10000);
	HEXPECT_STREQ(w.all, "no usable memory: 2 KiB marked usable in 3 entries, none of it whole "
		      "pages clear of other entries and of the 0 reservations\n");
}

HTEST(empty_map_fails_with_a_message)
{
	HEXPECT_EQ(build_at(__LINE__, NULL, 0, NULL, 0, 0), -1);
	HEXPECT_STREQ(w.all, "the loader gave no memory map\n");
}

/* n ranges of 3 pages, 1 MiB apart, except the listed ones of 2 pages. */
static unsigned many_ranges(struct memmap_entry *e, unsigned n, const unsigned *small, unsigned nsmall)
{
	for (unsigned i = 0; i < n; i++) {
		e[i] = (struct memmap_entry){ (i + 1) * MIB, 0x3000, U };
		for (unsigned j = 0; j < nsmall; j++)
			if (small[j] == i)
				e[i].length = 0x2000;
	}
	return n;
}

HTEST(too_many_ranges_keeps_the_largest)
{
	static const unsigned small[] = { 0, 17, 30, 41, 55, 69 };
	struct memmap_entry e[70];
	unsigned n = many_ranges(e, 70, small, ARRAY_SIZE(small));

	HEXPECT_EQ(build_at(__LINE__, e, n, NULL, 0, 0), 0);
	HASSERT_EQ(m.nusable, MEMMAP_MAX_RANGES);
	for (unsigned i = 0, k = 0; i < 70; i++) {
		bool is_small = false;
		for (unsigned j = 0; j < ARRAY_SIZE(small); j++)
			is_small |= small[j] == i;
		if (is_small)
			continue;
		HEXPECT_EQ(m.usable[k].start, (i + 1) * MIB);
		HEXPECT_EQ(m.usable[k].end, (i + 1) * MIB + 0x3000);
		k++;
	}
	HEXPECT_EQ(m.usable_bytes, 64 * 0x3000);
	HEXPECT_EQ(w.count, 1);
	HEXPECT_STREQ(w.all, "more than 64 usable ranges: dropped the 6 smallest (48 KiB) to keep the largest\n");
}

HTEST(too_many_equal_ranges_keeps_the_lowest)
{
	struct memmap_entry e[66];
	unsigned n = many_ranges(e, 66, NULL, 0);

	HEXPECT_EQ(build_at(__LINE__, e, n, NULL, 0, 0), 0);
	HASSERT_EQ(m.nusable, MEMMAP_MAX_RANGES);
	HEXPECT_EQ(m.usable[0].start, MIB);
	HEXPECT_EQ(m.usable[63].start, 64 * MIB);
	HEXPECT_TRUE(strstr(w.all, "dropped the 2 smallest (24 KiB)") != NULL);
}

HTEST(too_many_ranges_drops_the_highest_of_equal_smallest)
{
	static const unsigned small[] = { 3, 10 };
	struct memmap_entry e[65];
	unsigned n = many_ranges(e, 65, small, ARRAY_SIZE(small));

	HEXPECT_EQ(build_at(__LINE__, e, n, NULL, 0, 0), 0);
	HASSERT_EQ(m.nusable, MEMMAP_MAX_RANGES);
	HEXPECT_EQ(m.usable[3].start, 4 * MIB);
	HEXPECT_EQ(m.usable[3].end, 4 * MIB + 0x2000);
	HEXPECT_EQ(m.usable[10].start, 12 * MIB);	/* 11 MiB's small range went */
	HEXPECT_EQ(m.usable[63].start, 65 * MIB);
}

HTEST(limit_applies_before_the_table_fills)
{
	struct memmap_entry e[70];
	unsigned n = many_ranges(e, 70, NULL, 0);

	HEXPECT_EQ(build_at(__LINE__, e, n, NULL, 0, 10 * 0x3000 + 0x1000), 0);
	HEXPECT_EQ(m.nusable, 11);
	HEXPECT_EQ(m.usable[10].end - m.usable[10].start, 0x1000);
	HEXPECT_EQ(m.limited_bytes, 70 * 0x3000 - 10 * 0x3000 - 0x1000);
	HEXPECT_EQ(w.count, 0);
}

/* ---- memmap_take: the kernel's own bytes off the front of a range ---- */

static const struct memmap_entry three_ranges[] = {
	{ 0x100000, 0x80000, U },	/* [1 MiB, 1.5 MiB) */
	{ 0x200000, 0x100000, U },	/* [2 MiB, 3 MiB) */
	{ 0x140000000, 0x40000000, U },	/* [5 GiB, 6 GiB) */
};

HTEST(take_comes_off_the_first_range_that_holds_it)
{
	uint64_t at = 0;
	HASSERT_EQ(BUILD_NORES(three_ranges, 0), 0);
	HEXPECT_TRUE(memmap_take(&m, 0x80001, 4 * GIB, &at));	/* rounds up to 0x81000 */
	HEXPECT_EQ(at, 0x200000);
	EXPECT_RANGES({ 0x100000, 0x180000 }, { 0x281000, 0x300000 }, { 0x140000000, 0x180000000 });
	HEXPECT_EQ(m.usable_bytes, 0x80000 + 0x100000 + 0x40000000);	/* what the map offered */
}

HTEST(take_that_uses_a_range_up_removes_it)
{
	uint64_t at = 0;
	HASSERT_EQ(BUILD_NORES(three_ranges, 0), 0);
	HEXPECT_TRUE(memmap_take(&m, 0x80000, 4 * GIB, &at));
	HEXPECT_EQ(at, 0x100000);
	EXPECT_RANGES({ 0x200000, 0x300000 }, { 0x140000000, 0x180000000 });
	HEXPECT_TRUE(memmap_take(&m, 0x100000, 4 * GIB, &at));
	HEXPECT_EQ(at, 0x200000);
	EXPECT_RANGES({ 0x140000000, 0x180000000 });
}

HTEST(take_that_nothing_below_the_limit_holds_changes_nothing)
{
	uint64_t at = 7;
	HASSERT_EQ(BUILD_NORES(three_ranges, 0), 0);
	HEXPECT_TRUE(!memmap_take(&m, 0x200000, 4 * GIB, &at));	/* only the 5 GiB range holds it */
	HEXPECT_TRUE(!memmap_take(&m, 0, 4 * GIB, &at));
	HEXPECT_TRUE(!memmap_take(&m, UINT64_MAX, UINT64_MAX, &at));
	HEXPECT_EQ(at, 7);
	EXPECT_RANGES({ 0x100000, 0x180000 }, { 0x200000, 0x300000 }, { 0x140000000, 0x180000000 });
	HEXPECT_TRUE(memmap_take(&m, 0x200000, UINT64_MAX, &at));
	HEXPECT_EQ(at, 0x140000000);
}

/* One range across 4 GiB (entries that meet there merge): its front holds
 * the bytes below the limit, so the take comes off it (it refused, and boot
 * panicked saying nothing below 4 GiB held the database). */
HTEST(take_from_a_range_across_the_limit_stays_below_it)
{
	static const struct memmap_entry across[] = {
		{ 0x100000, 4 * GIB - 0x100000, U },
		{ 4 * GIB, 4 * GIB, U },
	};
	uint64_t at = 7;
	HASSERT_EQ(BUILD_NORES(across, 0), 0);
	EXPECT_RANGES({ 0x100000, 8 * GIB });
	HEXPECT_TRUE(!memmap_take(&m, 4 * GIB, 4 * GIB, &at));	/* would end past the limit */
	HEXPECT_EQ(at, 7);
	HEXPECT_TRUE(memmap_take(&m, 4 * GIB - 0x100000, 4 * GIB, &at));	/* ends at it exactly */
	HEXPECT_EQ(at, 0x100000);
	EXPECT_RANGES({ 4 * GIB, 8 * GIB });
	HEXPECT_TRUE(!memmap_take(&m, 0x1000, 4 * GIB, &at));	/* starts at the limit */
}

int main(void)
{
	return htest_main("memmap");
}
