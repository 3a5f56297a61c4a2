/*
 * kernel/timer.h - the periodic timer tick (the legacy PIT on IRQ 0).
 *
 * timer_init starts ticking at timer.hz= but leaves interrupts disabled: ticks
 * are only taken while some code has enabled them (irq_enable, kernel/irq.h).
 */
#ifndef KERNEL_TIMER_H
#define KERNEL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_HZ_DEFAULT	100
#define TIMER_HZ_MIN		19	/* the PIT's 16-bit divisor allows 18.2 Hz at the slowest */
#define TIMER_HZ_MAX		10000	/* above this, the tick crowds out everything else */

/* Program the timer at timer.hz= and unmask its line. Context: once, from
 * kmain, interrupts disabled (they stay so). */
void timer_init(void);

/*
 * Call fn(ctx) on every tick, in interrupt context (see irq_register), after
 * the tick is counted; fn NULL removes the hook. There is one hook; setting
 * one replaces the last. Context: any.
 */
void timer_set_handler(void (*fn)(void *ctx), void *ctx);

/* Is a hook set? (The test runner clears one a test left behind.) */
bool timer_handler_set(void);

/* Return: ticks since timer_init. Context: any. */
uint64_t timer_ticks(void);

/* Change the tick rate; hz must lie in TIMER_HZ_MIN..TIMER_HZ_MAX (else
 * panic). Tests raise it to get many ticks quickly, then restore timer_hz().
 * Context: any. */
void timer_set_hz(unsigned hz);

/* Return: the current tick rate, as requested (the PIT gets the nearest divisor). */
unsigned timer_hz(void);

#endif
