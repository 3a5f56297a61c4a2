/* kernel/gdt.h - segments, the TSS and its interrupt stack table (IST). */
#ifndef KERNEL_GDT_H
#define KERNEL_GDT_H

#include <stdint.h>

#define KERNEL_CS	0x08
#define KERNEL_DS	0x10
#define TSS_SEL		0x18

/* IST slots (1-based, as the IDT encodes them); each has its own stack. */
enum ist_slot {
	IST_DOUBLE_FAULT = 1,
	IST_NMI,
	IST_MACHINE_CHECK,
	IST_PAGE_FAULT,
	IST_EXCEPTION,		/* every other exception */
	IST_IRQ,		/* hardware interrupts */
	IST_COUNT = IST_IRQ
};

void gdt_init(void);

/* Unmap the guard page below every IST stack and below the boot stack.
 * Context: once, after vmm_init. */
void gdt_guard_stacks(void);
/* The guard page of IST slot index i (0-based), or of the boot stack
 * (i == IST_COUNT). For tests. */
uint64_t gdt_stack_guard(unsigned i);

#endif
