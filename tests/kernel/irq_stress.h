/*
 * tests/kernel/irq_stress.h - run code in interrupt context while the main
 * code loops, for tests of allocation from interrupt context (hazard 3):
 *
 *     struct irq_stress s = { .in_irq = alloc_some, .in_loop = alloc_more,
 *                             .ctx = &state, .ticks = 500, .hz = 2000 };
 *     struct irq_stress_result r = irq_stress_run(&s);
 *     KEXPECT_FALSE(r.stalled);
 *     KEXPECT_EQ(r.irq_calls, r.ticks);
 *     ... then check state, and the allocator with its *_check().
 *
 * in_irq runs on every timer tick, in interrupt context (see irq_register);
 * in_loop runs over and over with interrupts enabled, so the ticks land inside
 * it. Neither should use KASSERT_*: in in_irq it panics (a handler cannot end
 * a test), and in in_loop it ends the test with the hook set, which the runner
 * then reports as a second failure. Record failures in ctx and check them
 * afterwards.
 */
#ifndef TESTS_KERNEL_IRQ_STRESS_H
#define TESTS_KERNEL_IRQ_STRESS_H

#include <stdbool.h>
#include <stdint.h>

struct irq_stress {
	void (*in_irq)(void *ctx);	/* each tick; NULL: just count ticks */
	void (*in_loop)(void *ctx);	/* repeatedly; NULL: spin */
	void *ctx;			/* passed to both */
	uint64_t ticks;			/* run until this many ticks have passed */
	unsigned hz;			/* timer rate meanwhile; 0 keeps the current one */
};

struct irq_stress_result {
	uint64_t ticks;		/* ticks while interrupts were on */
	uint64_t irq_calls;	/* calls of in_irq: one per tick */
	uint64_t loops;		/* calls of in_loop */
	uint64_t irqs_in_loop;	/* ticks that arrived while in_loop was running */
	bool stalled;		/* gave up: no tick for IRQ_STRESS_STALL_CYCLES */
};

/* A run gives up when the timer stops ticking for this many TSC cycles
 * (seconds on any machine or emulator), instead of hanging the boot. */
#define IRQ_STRESS_STALL_CYCLES	(1ull << 34)

/*
 * Set the timer's rate and hook, enable interrupts, loop until s->ticks
 * ticks have passed, disable interrupts, and restore the hook (none) and
 * the rate. Context: a test, interrupts disabled; returns with them disabled.
 */
struct irq_stress_result irq_stress_run(const struct irq_stress *s);

#endif
