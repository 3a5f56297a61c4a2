/*
 * kernel/gdt.c - the kernel's GDT and TSS, with one IST stack per kind of trap.
 *
 * Every exception and interrupt is delivered on an IST stack (see idt.c), so
 * taking one never touches the interrupted thread's stack: a thread whose
 * stack page is not mapped yet can still take the page fault that maps it.
 * #DF, NMI, #MC and #PF each get a stack of their own, because they can
 * arrive while another handler is running; the remaining exceptions share
 * one, and hardware interrupts another.
 *
 * Limit: a second trap of the same slot while its handler runs reuses the
 * stack top and clobbers the first frame. That only happens when the first
 * handler is itself faulting, which ends in a panic anyway.
 *
 * Each IST stack, and the boot stack (the idle thread's), has an unmapped
 * guard page below it (gdt_guard_stacks, once the kernel's own page tables
 * are in), so a handler that overruns its stack faults instead of silently
 * writing over the stack below it.
 *
 * Layout: 0x00 null, 0x08 kernel code (64-bit), 0x10 kernel data, 0x18 TSS
 * (a 16-byte system descriptor). Called once, from kmain, before idt_init.
 */
#include "kernel/gdt.h"
#include "kernel/panic.h"
#include "mm/vmm.h"
#include "mm/layout.h"

#include <stddef.h>
#include <stdint.h>

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];		/* ring 0-2 stacks: unused, we never leave ring 0 */
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "TSS layout is fixed by the CPU");

static struct tss tss;
static uint64_t gdt[5];
/* Slot i: a guard page, then the stack. */
static uint8_t ist_area[IST_COUNT][PAGE_SIZE + IST_STACK_SIZE] __attribute__((aligned(PAGE_SIZE)));
extern uint8_t boot_stack_guard[];	/* boot/entry.S */

uint64_t gdt_stack_guard(unsigned i)
{
	return i < IST_COUNT ? (uint64_t)ist_area[i] : (uint64_t)boot_stack_guard;
}

void gdt_guard_stacks(void)
{
	for (unsigned i = 0; i <= IST_COUNT; i++)
		if (vmm_unmap(gdt_stack_guard(i), NULL) != 0)
			panic("gdt: guard page 0x%llx below a stack was not mapped",
			      (unsigned long long)gdt_stack_guard(i));
}

void gdt_init(void)
{
	for (int i = 0; i < IST_COUNT; i++)
		tss.ist[i] = (uint64_t)&ist_area[i][PAGE_SIZE + IST_STACK_SIZE];
	tss.iomap_base = sizeof(tss);	/* no I/O permission bitmap */

	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffff;	/* present, ring 0, code, long mode */
	gdt[2] = 0x00cf92000000ffff;	/* present, ring 0, data, writable */
	gdt[3] = (limit & 0xffff) | (base & 0xffffff) << 16 |
		 (uint64_t)0x89 << 40 |	/* present, available 64-bit TSS */
		 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[4] = base >> 32;

	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr =
		{ sizeof(gdt) - 1, (uint64_t)gdt };
	__asm__ volatile(
		"lgdt %0\n\t"
		"pushq %1\n\t"			/* reload CS with a far return */
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movw %w2, %%ax\n\t"
		"movw %%ax, %%ds\n\t"
		"movw %%ax, %%es\n\t"
		"movw %%ax, %%ss\n\t"
		"ltr %w3"
		:: "m"(gdtr), "i"(KERNEL_CS), "r"(KERNEL_DS), "r"(TSS_SEL)
		: "rax", "memory");
}
