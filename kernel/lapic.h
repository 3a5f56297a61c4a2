/*
 * kernel/lapic.h - this CPU's local APIC (xAPIC, through its MMIO page):
 * the spurious-interrupt vector, end of interrupt, and the timer.
 *
 * The timer counts down from an initial count at the local APIC's timer
 * clock (divide-by-1), raising VEC_LAPIC_TIMER (kernel/trap.h) when it
 * reaches 0: once (one-shot) or every initial count (periodic). Its rate is
 * measured by kernel/calibrate.c; kernel/timer.c drives it.
 */
#ifndef KERNEL_LAPIC_H
#define KERNEL_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

/* Map the page uncached, enable the APIC with the spurious vector, accept
 * every priority, stop the timer. Panics when the CPU has no local APIC.
 * Context: once, from timer_init, interrupts disabled. */
void lapic_init(void);

/* Acknowledge the interrupt being handled. Context: an interrupt handler
 * of a local APIC vector (never the spurious one, which takes no EOI). */
void lapic_eoi(void);

/* Start the timer: raise VEC_LAPIC_TIMER after `count` timer clocks, once
 * or every `count` clocks; count 0 stops it. An interrupt the previous
 * programming raised may still be pending. Context: interrupts disabled. */
void lapic_timer_oneshot(uint32_t count);
void lapic_timer_periodic(uint32_t count);

/* Count down from `count` with the interrupt masked (calibration). */
void lapic_timer_free_run(uint32_t count);

/* Return: the timer's current count (0 once a one-shot has fired). */
uint32_t lapic_timer_count(void);

/* Return: whether the timer is in periodic mode, as the hardware says. */
bool lapic_timer_periodic_mode(void);

/* Return: the virtual address of the register page, and its physical one. */
uint64_t lapic_mmio_va(void);
uint64_t lapic_mmio_pa(void);

#endif
