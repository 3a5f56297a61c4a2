/*
 * kernel/irq.c - a handler per legacy PIC line, masking, and EOI.
 *
 * irq_dispatch(irq), from trap_dispatch with interrupts off:
 *  1. IRQ 7 or 15 with no bit set in its PIC's in-service register is
 *     spurious: no EOI for it, except that a spurious IRQ 15 did put the
 *     master's cascade line (IRQ 2) in service, so the master gets one.
 *  2. Otherwise call the line's handler, then send EOI: to the slave for
 *     lines 8-15, and always to the master (the slave is wired to its IRQ 2).
 * irq_init remaps the PICs and masks every line.
 *
 * State: handlers[] is written with interrupts off, so irq_dispatch sees a
 * line's fn and ctx together. One CPU.
 */
#include "kernel/irq.h"
#include "kernel/panic.h"
#include "kernel/trap.h"
#include "kernel/x86.h"

#define PIC1_CMD	0x20
#define PIC1_DATA	0x21
#define PIC2_CMD	0xa0
#define PIC2_DATA	0xa1
#define PIC_EOI		0x20	/* OCW2: non-specific end of interrupt */
#define PIC_READ_ISR	0x0b	/* OCW3: the command port reads the in-service register */
#define PIC_CASCADE	2	/* the master's line the slave is wired to */

static struct {
	void (*fn)(void *ctx);
	void *ctx;
} handlers[IRQ_LINES];

/* Remap both PICs to VEC_IRQ_BASE.., clear of the CPU's exceptions, and mask
 * every line until a handler is registered: a stray IRQ must not look like
 * an exception. Called once from kmain, after idt_init. */
void irq_init(void)
{
	outb(PIC1_CMD, 0x11);		/* ICW1: initialise, expect ICW4 */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, VEC_IRQ_BASE);	/* ICW2: vector base */
	outb(PIC2_DATA, VEC_IRQ_BASE + 8);
	outb(PIC1_DATA, 4);		/* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, 1);		/* ICW4: 8086 mode */
	outb(PIC2_DATA, 1);
	outb(PIC1_DATA, 0xff);		/* mask everything */
	outb(PIC2_DATA, 0xff);
}

static void pic_set_masked(unsigned irq, bool masked)
{
	uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;
	uint8_t bit = (uint8_t)(1u << (irq & 7));
	uint8_t mask = inb(port);

	outb(port, masked ? mask | bit : mask & (uint8_t)~bit);
}

static bool pic_in_service(unsigned irq)
{
	uint16_t port = irq < 8 ? PIC1_CMD : PIC2_CMD;

	outb(port, PIC_READ_ISR);
	return inb(port) & (1u << (irq & 7));
}

void irq_register(unsigned irq, void (*fn)(void *ctx), void *ctx)
{
	ASSERT(irq < IRQ_LINES && irq != PIC_CASCADE);

	uint64_t flags = irq_save();
	handlers[irq].fn = fn;
	handlers[irq].ctx = ctx;
	pic_set_masked(irq, !fn);
	if (irq >= 8 && fn)
		pic_set_masked(PIC_CASCADE, false);
	irq_restore(flags);
}

bool irq_dispatch(unsigned irq)
{
	ASSERT(irq < IRQ_LINES);

	if ((irq & 7) == 7 && !pic_in_service(irq)) {
		if (irq >= 8)
			outb(PIC1_CMD, PIC_EOI);
		return true;
	}
	if (!handlers[irq].fn)
		return false;
	handlers[irq].fn(handlers[irq].ctx);
	if (irq >= 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
	return true;
}
