/* kernel/gdt.h - segments, the TSS and its interrupt stack table (IST). */
#ifndef KERNEL_GDT_H
#define KERNEL_GDT_H

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

#endif
