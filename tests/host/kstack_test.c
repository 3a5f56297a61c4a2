/*
 * tests/host/kstack_test.c - the stack slots' arithmetic (mm/kstack.h):
 * slot sizes for limits, guards of at least a page, reservations that never
 * touch, 16 default slots to a page-table page, and every address finding
 * its slot, checked over whole sub-regions' edges.
 */
#include "mm/kstack.h"
#include "tests/host/htest.h"

#define SLOT(cls)	(1ull << (KSTACK_SLOT_SHIFT_MIN + (cls)))

HTEST(slot_size_holds_limit_and_a_guard_page)
{
	for (uint64_t limit = KSTACK_LIMIT_MIN; limit <= KSTACK_LIMIT_MAX; limit += PAGE_SIZE) {
		unsigned shift = kstack_slot_shift(limit);
		HASSERT_TRUE(shift >= KSTACK_SLOT_SHIFT_MIN);
		HASSERT_TRUE(kstack_class_of_shift(shift) < KSTACK_CLASSES);
		HASSERT_TRUE((1ull << shift) >= limit + PAGE_SIZE);
		/* The smallest: half of it would not hold the limit and a guard. */
		if (shift > KSTACK_SLOT_SHIFT_MIN)
			HASSERT_TRUE((1ull << (shift - 1)) < limit + PAGE_SIZE);
	}
	HEXPECT_EQ(kstack_slot_shift(KSTACK_LIMIT_DEFAULT), 17);	/* 128 KiB, 64 KiB of guard */
	HEXPECT_EQ(kstack_slot_shift(1 << 20), 21);			/* 1 MiB in 2 MiB */
	HEXPECT_EQ(kstack_slot_shift(KSTACK_LIMIT_MAX), 24);
}

HTEST(default_slots_share_a_page_table_page_sixteen_at_a_time)
{
	unsigned cls = kstack_class_of_shift(kstack_slot_shift(KSTACK_LIMIT_DEFAULT));
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t base = kstack_slot_base(cls, i);
		HEXPECT_EQ(base >> 21, kstack_slot_base(cls, i - i % 16) >> 21);
		HEXPECT_EQ(base % SLOT(cls), 0);
	}
	HEXPECT_EQ(kstack_slot_base(cls, 16) - kstack_slot_base(cls, 0), 2ull << 20);
}

HTEST(every_address_finds_its_slot)
{
	for (unsigned cls = 0; cls < KSTACK_CLASSES; cls++) {
		uint64_t slots = kstack_class_slots(cls);
		HEXPECT_EQ(slots * SLOT(cls), 1ull << KSTACK_CLASS_SHIFT);
		uint64_t picks[] = { 0, 1, 15, 16, slots / 2, slots - 1 };
		for (unsigned k = 0; k < sizeof(picks) / sizeof(picks[0]); k++) {
			uint64_t base = kstack_slot_base(cls, picks[k]);
			uint64_t probes[] = { base, base + PAGE_SIZE - 1, base + SLOT(cls) / 2,
					      base + SLOT(cls) - 1 };
			for (unsigned p = 0; p < 4; p++) {
				unsigned c;
				uint64_t i;
				HASSERT_TRUE(kstack_slot_of(probes[p], &c, &i));
				HEXPECT_EQ(c, cls);
				HEXPECT_EQ(i, picks[k]);
			}
		}
	}
	unsigned c;
	uint64_t i;
	HEXPECT_TRUE(!kstack_slot_of(KSTACK_REGION_BASE - 1, &c, &i));
	HEXPECT_TRUE(!kstack_slot_of(KSTACK_REGION_BASE + KERNEL_REGION_SIZE, &c, &i));
	HEXPECT_TRUE(!kstack_slot_of(0, &c, &i));
	HEXPECT_TRUE(kstack_slot_of(KSTACK_REGION_BASE + KERNEL_REGION_SIZE - 1, &c, &i));
	HEXPECT_EQ(c, KSTACK_CLASSES - 1);
	HEXPECT_EQ(i, kstack_class_slots(KSTACK_CLASSES - 1) - 1);
}

/* A reservation is the top `limit` bytes of its slot: between any two,
 * a guard of at least a page that belongs to neither. */
HTEST(reservations_never_touch)
{
	for (uint64_t limit = KSTACK_LIMIT_MIN; limit <= KSTACK_LIMIT_MAX; limit = limit * 3 / 2 & ~(PAGE_SIZE - 1)) {
		unsigned cls = kstack_class_of_shift(kstack_slot_shift(limit));
		uint64_t lo1 = kstack_slot_base(cls, 8) + SLOT(cls) - limit;
		uint64_t hi0 = kstack_slot_base(cls, 7) + SLOT(cls);
		HEXPECT_TRUE(lo1 >= hi0 + PAGE_SIZE);
		unsigned c;
		uint64_t i;
		HASSERT_TRUE(kstack_slot_of(lo1 - 1, &c, &i));	/* the guard is the upper slot's */
		HEXPECT_EQ(i, 8);
	}
}

int main(void)
{
	return htest_main("kstack");
}
