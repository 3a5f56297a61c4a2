/*
 * kernel/idt.c - the interrupt descriptor table.
 *
 * All 256 vectors point at their stub in isr.S, as interrupt gates (IF is
 * cleared on entry), each on an IST stack chosen by kind (see gdt.c). The
 * legacy PICs are set up by irq_init (kernel/irq.c). Called once from kmain,
 * after gdt_init.
 */
#include "kernel/gdt.h"
#include "kernel/trap.h"

#include <stdint.h>

#define GATE_INTERRUPT	0x8e	/* present, ring 0, 64-bit interrupt gate */
#define ISR_STUB_SIZE	16

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout is fixed by the CPU");

static struct idt_gate idt[256];
extern const char isr_stubs[];

static uint8_t ist_for(unsigned vector)
{
	switch (vector) {
	case VEC_DF:	return IST_DOUBLE_FAULT;
	case VEC_NMI:	return IST_NMI;
	case VEC_MC:	return IST_MACHINE_CHECK;
	case VEC_PF:	return IST_PAGE_FAULT;
	default:	return vector < VEC_IRQ_BASE ? IST_EXCEPTION : IST_IRQ;
	}
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t addr = (uint64_t)isr_stubs + v * ISR_STUB_SIZE;
		idt[v] = (struct idt_gate){
			.offset_low = (uint16_t)addr,
			.selector = KERNEL_CS,
			.ist = ist_for(v),
			.type = GATE_INTERRUPT,
			.offset_mid = (uint16_t)(addr >> 16),
			.offset_high = (uint32_t)(addr >> 32),
		};
	}
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr =
		{ sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" :: "m"(idtr) : "memory");
}
