/*
 * tests/kernel/early_test.c - the boot bump allocator: aligned, zeroed,
 * inside the data segment, and a clear panic naming its size when exhausted.
 */
#include "kernel/ktest.h"
#include "mm/early.h"
#include "mm/layout.h"

KTEST(early, aligned_zeroed_and_in_the_data_segment)
{
	size_t before = early_used();
	unsigned char *p = early_alloc(100, 64);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ((uintptr_t)p % 64, 0);
	KEXPECT_GE((uintptr_t)p, (uintptr_t)__data_start);
	KEXPECT_LE((uintptr_t)(p + 100), (uintptr_t)__data_end);
	for (int i = 0; i < 100; i++)
		KEXPECT_EQ(p[i], 0);
	KEXPECT_GE(early_used(), before + 100);
}

KTEST_DEATH(early, exhaustion_panics_naming_the_arena_size, "arena of 64 KiB exhausted")
{
	early_alloc(EARLY_ARENA_SIZE + 1, 8);
}
