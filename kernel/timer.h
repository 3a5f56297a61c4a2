/*
 * kernel/timer.h - the periodic tick and one-shot deadlines, both on the
 * local APIC timer; the clock they are timed by is clock_ns (kernel/time.h).
 *
 * timer_init starts ticking at timer.hz= but leaves interrupts disabled; they
 * come on with the first thread (every thread runs with them on), and each
 * tick then drives the scheduler (sched_tick). A tick or deadline that fell
 * due while interrupts were off comes as soon as they are on again.
 */
#ifndef KERNEL_TIMER_H
#define KERNEL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/calibrate.h"

#define TIMER_HZ_DEFAULT	1000
#define TIMER_HZ_MIN		19	/* the range timer.hz= has always had */
#define TIMER_HZ_MAX		10000	/* above this, the tick crowds out everything else */

/* Map and calibrate the local APIC timer and the TSC against the PIT,
 * start clock_ns, and start the tick at timer.hz=. Context: once, from
 * kmain, interrupts disabled (the scheduler turns them on). */
void timer_init(void);

/* Return: what timer_init measured (the rates are also in the boot log). */
const struct calibration *timer_calibration(void);

/*
 * Call fn(ctx) on every tick, in interrupt context: on the IRQ stack with
 * interrupts off, after the tick is counted (a handler may take spinlocks and
 * allocate, but must not wait for another context). fn NULL removes the
 * hook. There is one hook; setting one replaces the last. Context: any.
 */
void timer_set_handler(void (*fn)(void *ctx), void *ctx);

/* Is a hook set? (The test runner clears one a test left behind.) */
bool timer_handler_set(void);

/* Return: ticks since timer_init. Context: any. */
uint64_t timer_ticks(void);

/* Change the tick rate; hz must lie in TIMER_HZ_MIN..TIMER_HZ_MAX (else
 * panic). The next tick comes one new period later. Tests raise it to get
 * many ticks quickly, then restore timer_hz(). Context: any. */
void timer_set_hz(unsigned hz);

/* Return: the current tick rate, as requested. */
unsigned timer_hz(void);

/*
 * One-shot deadlines. The caller owns each event, zeroed before its first
 * use (static, or `= { 0 }`), and keeps it alive while it is armed.
 * fn(ctx) runs once, in interrupt context as the tick hook does, no earlier
 * than clock_ns() == when_ns and as soon after as the next interrupt can
 * come: well under a tick, since the APIC is programmed for the deadline
 * itself. Deadlines due together run in time order, those of equal time in
 * the order they were armed, and before that interrupt's tick.
 */
struct timer_event {
	/* Set by its owner before arming: a kernel service's event, which
	 * outlives any test: timer_armed_count and timer_cancel_all pass it by. */
	bool service;
	/* Private to kernel/timer.c; written with interrupts off. */
	uint64_t when_ns;
	void (*fn)(void *ctx);
	void *ctx;
	struct timer_event *next, **pprev;	/* queued while pprev != NULL */
};

/* Arm ev to call fn(ctx) at when_ns (a clock_ns() time; one in the past
 * runs at the next interrupt). An armed ev is moved to the new time. fn is
 * called with ev disarmed, so it may arm ev again. Context: any, fn
 * included. */
void timer_deadline_ns(struct timer_event *ev, uint64_t when_ns, void (*fn)(void *ctx), void *ctx);

/* Disarm ev. Return: true when it was armed (fn will not run for it); false
 * when it had run already, or was never armed. Context: any; once it
 * returns, fn is not running (one CPU) unless the caller is fn. */
bool timer_cancel(struct timer_event *ev);

/* Return: whether ev is armed. Context: any. */
bool timer_armed(const struct timer_event *ev);

/* Return: how many events are armed. (The test runner cancels those a
 * test left behind with timer_cancel_all: each lives in that test's
 * frame or data.) Context: any. */
unsigned timer_armed_count(void);
void timer_cancel_all(void);

/* The timer's interrupt: run due deadlines, count a due tick, program the
 * APIC for the next. Context: trap_dispatch, for VEC_LAPIC_TIMER; the
 * caller sends the EOI. */
void timer_interrupt(void);

#endif
