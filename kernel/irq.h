/*
 * kernel/irq.h - hardware interrupt lines and the CPU's interrupt flag.
 *
 * Lines are the legacy 8259 PICs' IRQ 0-15, delivered at vectors
 * VEC_IRQ_BASE..VEC_IRQ_BASE+15 (irq_init remaps them there, all masked).
 * The timer is the local APIC's (kernel/lapic.h), so no line is in use.
 * The kernel runs with interrupts disabled (IF=0); code that is written to be
 * interrupted enables them around itself and disables them before returning.
 */
#ifndef KERNEL_IRQ_H
#define KERNEL_IRQ_H

#include "kernel/x86.h"

#include <stdbool.h>

#define IRQ_LINES	16

void irq_init(void);

/*
 * Call fn(ctx) whenever line irq fires, and unmask the line; fn NULL masks the
 * line and forgets its handler. fn runs in interrupt context: on the IRQ
 * stack (IST_IRQ, 16 KiB) with interrupts off. It may take spinlocks (every
 * lock disables interrupts while held, so the interrupted code holds none)
 * but must not wait for anything another context would have to do.
 * Context: any.
 */
void irq_register(unsigned irq, void (*fn)(void *ctx), void *ctx);

/*
 * Run line irq's handler and acknowledge the interrupt (EOI). Spurious IRQ 7
 * and 15, raised by a PIC whose request went away before the CPU took it, are
 * dropped. Return: false when the line has no handler (a bug: it is masked).
 * Context: trap_dispatch, for vectors VEC_IRQ_BASE..VEC_IRQ_BASE+15.
 */
bool irq_dispatch(unsigned irq);

static inline void irq_enable(void) { sti(); }
static inline void irq_disable(void) { cli(); }
static inline bool irq_enabled(void) { return (read_rflags() & RFLAGS_IF) != 0; }

#endif
