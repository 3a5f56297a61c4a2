/*
 * tests/kernel/vmm_test.c - the kernel's own page tables: W^X image, nothing
 * at page 0, the direct map in large pages, 4 KiB map/unmap/protect, the
 * accessed/dirty bits with their TLB invalidation, guard gaps between
 * virtual ranges, and fault dispatch to a range's owner.
 */
#include "kernel/error.h"
#include "kernel/ktest.h"
#include "kernel/trap.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

#define PF_PRESENT	1
#define PF_WRITE	2
#define PF_FETCH	16

static const uint32_t rodata_word = 0x1234;
static uint8_t data_code[16] = { 0xc3 };	/* "ret", in .data: must not execute */

__attribute__((noinline)) static int text_probe(void) { return 7; }

/* Fresh scratch virtual ranges for the tests, 1 page of guard each side. */
static struct vm_arena *scratch(void)
{
	static struct vm_arena arena;
	static bool ready;
	if (!ready) {
		vm_arena_init(&arena, "test-scratch", SCRATCH_REGION_BASE, 1ull << 30, PAGE_SIZE, 64);
		ready = true;
	}
	return &arena;
}

KTEST(vmm, write_to_text_faults)
{
	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movb $0x90, (%%rdi)", "D"(text_probe));
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.cr2, (uint64_t)text_probe);
	KEXPECT_EQ(c.error & (PF_PRESENT | PF_WRITE), PF_PRESENT | PF_WRITE);
	KEXPECT_EQ(text_probe(), 7);
}

KTEST(vmm, write_to_rodata_faults)
{
	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movl $0, (%%rdi)", "D"(&rodata_word));
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.cr2, (uint64_t)&rodata_word);
	KEXPECT_EQ(*(const volatile uint32_t *)&rodata_word, 0x1234);
}

KTEST(vmm, execute_from_data_faults)
{
	struct trap_catch c;
	if (!vmm_has_nx()) {
		KEXPECT_TRUE(!vmm_has_nx());	/* nothing to enforce NX with on this CPU */
		return;
	}
	trap_catch_arm(&c, VEC_PF);
	/* jmp, not call: the resume point must find the stack as it left it. */
	TRAP_TRY(&c, "jmp *%%rdi", "D"(data_code));
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.rip, (uint64_t)data_code);
	KEXPECT_EQ(c.error & (PF_PRESENT | PF_FETCH), PF_PRESENT | PF_FETCH);
}

KTEST(vmm, null_dereference_faults)
{
	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movq (%%rdi), %%rax", "D"(0));
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.cr2, 0);
	KEXPECT_EQ(c.error & PF_PRESENT, 0);
}

KTEST(vmm, image_is_wx_and_low_memory_unmapped)
{
	struct vmm_translation t;
	KASSERT_TRUE(vmm_translate((uint64_t)text_probe, &t));
	KEXPECT_EQ(t.prot, VMM_EXEC);
	KASSERT_TRUE(vmm_translate((uint64_t)&rodata_word, &t));
	KEXPECT_EQ(t.prot & VMM_WRITE, 0);
	KASSERT_TRUE(vmm_translate((uint64_t)data_code, &t));
	KEXPECT_EQ(t.prot & VMM_WRITE, VMM_WRITE);
	if (vmm_has_nx())
		KEXPECT_EQ(t.prot & VMM_EXEC, 0);
	KEXPECT_FALSE(vmm_translate(0, &t));
	KEXPECT_FALSE(vmm_translate(KERNEL_PHYS, &t));	/* the 32-bit boot code's identity map */
}

KTEST(vmm, direct_map_uses_large_pages)
{
	struct vmm_translation t;
	void *p = page_alloc(0, 0);
	KASSERT_NOT_NULL(p);
	KASSERT_TRUE(vmm_translate((uint64_t)p, &t));
	KEXPECT_EQ(t.pa, virt_to_phys(p));
	KEXPECT_GE(t.page_size, PAGE_SIZE);
	page_free(p, 0);
	/* Every matrix boot has RAM from 1 MiB to well past 16 MiB. */
	KASSERT_TRUE(vmm_translate(DIRECT_MAP_BASE + (16ull << 20), &t));
	KEXPECT_GE(t.page_size, 2ull << 20);
	/* Boots with more than 2 GiB have all of [1 GiB, 2 GiB) as RAM. */
	if (vmm_has_1g_pages() && vmm_translate(DIRECT_MAP_BASE + (2ull << 30), &t)) {
		KASSERT_TRUE(vmm_translate(DIRECT_MAP_BASE + (1ull << 30), &t));
		KEXPECT_EQ(t.page_size, 1ull << 30);
	}
}

KTEST(vmm, map_translate_protect_unmap)
{
	struct vmm_translation t;
	uint64_t va = vm_arena_alloc(scratch(), PAGE_SIZE), pa = 0;
	void *page = page_alloc(0, PAGE_ZERO);
	KASSERT_NE(va, 0);
	KASSERT_NOT_NULL(page);
	KASSERT_EQ(vmm_map(va, virt_to_phys(page), VMM_WRITE), KERR_OK);
	*(volatile uint64_t *)va = 0xfeedface;
	KEXPECT_EQ(*(uint64_t *)page, 0xfeedface);	/* same frame, seen through the direct map */
	KASSERT_TRUE(vmm_translate(va + 8, &t));
	KEXPECT_EQ(t.pa, virt_to_phys(page) + 8);
	KEXPECT_EQ(t.page_size, PAGE_SIZE);

	KEXPECT_EQ(vmm_protect(va, VMM_READ), KERR_OK);
	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movq $1, (%%rdi)", "D"(va));
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);

	KEXPECT_EQ(vmm_unmap(va, &pa), KERR_OK);
	KEXPECT_EQ(pa, virt_to_phys(page));
	KEXPECT_FALSE(vmm_translate(va, &t));
	KEXPECT_EQ(vmm_unmap(va, NULL), KERR_NOENT);
	page_free(page, 0);
	vm_arena_free(scratch(), va);
}

KTEST(vmm, dirty_bit_test_and_clear_sees_every_write)
{
	uint64_t va = vm_arena_alloc(scratch(), PAGE_SIZE);
	void *page = page_alloc(0, PAGE_ZERO);
	KASSERT_NOT_NULL(page);
	KASSERT_EQ(vmm_map(va, virt_to_phys(page), VMM_WRITE), KERR_OK);

	(void)*(volatile uint64_t *)va;
	KEXPECT_TRUE(vmm_test_and_clear_accessed(va));
	KEXPECT_FALSE(vmm_test_and_clear_accessed(va));
	KEXPECT_FALSE(vmm_test_and_clear_dirty(va));	/* read only so far */
	*(volatile uint64_t *)va = 1;
	KEXPECT_TRUE(vmm_test_and_clear_dirty(va));
	KEXPECT_FALSE(vmm_test_and_clear_dirty(va));
	/* Without the invlpg in test-and-clear, this write would hit a TLB entry
	 * that still says dirty, and the bit would stay clear. */
	*(volatile uint64_t *)va = 2;
	KEXPECT_TRUE(vmm_test_and_clear_dirty(va));

	vmm_unmap(va, NULL);
	page_free(page, 0);
	vm_arena_free(scratch(), va);
}

KTEST(vmm, ranges_have_unmapped_guard_gaps)
{
	struct vm_arena *a = scratch();
	uint64_t r1 = vm_arena_alloc(a, 2 * PAGE_SIZE), r2 = vm_arena_alloc(a, PAGE_SIZE);
	KASSERT_NE(r1, 0);
	KASSERT_NE(r2, 0);
	KEXPECT_GE(r2, r1 + 2 * PAGE_SIZE + PAGE_SIZE);	/* at least one guard page between */
	void *page = page_alloc(0, PAGE_ZERO);
	KASSERT_NOT_NULL(page);
	KASSERT_EQ(vmm_map(r1 + PAGE_SIZE, virt_to_phys(page), VMM_WRITE), KERR_OK);

	struct trap_catch c;
	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movq $1, (%%rdi)", "D"(r1 + 2 * PAGE_SIZE));	/* one past the end */
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.cr2, r1 + 2 * PAGE_SIZE);

	vmm_unmap(r1 + PAGE_SIZE, NULL);
	page_free(page, 0);
	vm_arena_free(a, r2);
	vm_arena_free(a, r1);
	KEXPECT_EQ(a->count, 0);
}

/* Sizes no arena can hold, near 2^64 among them (where size plus the
 * guards wraps), get 0 and leave the arena as it was. */
KTEST(vmm, arena_refuses_sizes_it_cannot_hold)
{
	static struct vm_arena a;
	vm_arena_init(&a, "test-huge", SCRATCH_REGION_BASE + (4ull << 30), 1ull << 30, PAGE_SIZE, 8);
	KEXPECT_EQ(vm_arena_alloc(&a, ~0ull - PAGE_SIZE + 1), 0);
	KEXPECT_EQ(vm_arena_alloc(&a, ~0ull - 2 * PAGE_SIZE + 1), 0);
	KEXPECT_EQ(vm_arena_alloc(&a, ~0ull), 0);
	KEXPECT_EQ(vm_arena_alloc(&a, (1ull << 30) - PAGE_SIZE), 0);	/* no room for the guards */
	KEXPECT_EQ(a.count, 0);
	uint64_t r = vm_arena_alloc(&a, (1ull << 30) - 2 * PAGE_SIZE);	/* exactly fits */
	KEXPECT_EQ(r, SCRATCH_REGION_BASE + (4ull << 30) + PAGE_SIZE);
	KEXPECT_EQ(vm_arena_alloc(&a, PAGE_SIZE), 0);
	vm_arena_free(&a, r);
	KEXPECT_EQ(a.count, 0);
}

struct demand {
	unsigned faults;
	void *page;
};

/* Owner handler: map a page on first touch, as stack growth will. */
static bool demand_fault(void *ctx, uint64_t addr, struct trap_frame *f)
{
	struct demand *d = ctx;
	(void)f;
	d->faults++;
	return vmm_map(addr & ~(PAGE_SIZE - 1), virt_to_phys(d->page), VMM_WRITE) == KERR_OK;
}

KTEST(vmm, fault_in_owned_range_goes_to_owner)
{
	struct demand d = { 0, page_alloc(0, PAGE_ZERO) };
	uint64_t va = vm_arena_alloc(scratch(), PAGE_SIZE);
	KASSERT_NOT_NULL(d.page);
	KASSERT_EQ(vmm_fault_register(va, va + PAGE_SIZE, "test-demand", demand_fault, &d), KERR_OK);
	*(volatile uint32_t *)(va + 64) = 42;		/* faults, owner maps, retried */
	KEXPECT_EQ(d.faults, 1);
	KEXPECT_EQ(((uint32_t *)d.page)[16], 42);
	*(volatile uint32_t *)(va + 68) = 43;		/* mapped now: no second fault */
	KEXPECT_EQ(d.faults, 1);
	vmm_fault_unregister(va);
	vmm_unmap(va, NULL);
	page_free(d.page, 0);
	vm_arena_free(scratch(), va);
}
