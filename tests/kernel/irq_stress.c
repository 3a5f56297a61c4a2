/*
 * tests/kernel/irq_stress.c - the loop behind irq_stress_run (see the header).
 *
 * The timer hook wraps in_irq to count its calls and whether in_loop was
 * running when the tick came. The main loop checks for progress after each
 * in_loop call, so a timer that never ticks ends the run instead of the boot.
 */
#include "tests/kernel/irq_stress.h"
#include "kernel/irq.h"
#include "kernel/panic.h"
#include "kernel/timer.h"
#include "kernel/x86.h"

#include <stddef.h>

struct run {
	const struct irq_stress *s;
	volatile bool looping;		/* main code is inside in_loop */
	uint64_t irq_calls;		/* written by the tick only */
	uint64_t irqs_in_loop;		/* written by the tick only */
};

static void stress_tick(void *ctx)
{
	struct run *r = ctx;

	r->irq_calls++;
	if (r->looping)
		r->irqs_in_loop++;
	if (r->s->in_irq)
		r->s->in_irq(r->s->ctx);
}

struct irq_stress_result irq_stress_run(const struct irq_stress *s)
{
	uint64_t flags = irq_save();	/* threads run with interrupts on */
	struct run r = { .s = s };
	struct irq_stress_result out = { 0 };
	unsigned saved_hz = timer_hz();

	if (s->hz)
		timer_set_hz(s->hz);
	timer_set_handler(stress_tick, &r);
	uint64_t start = timer_ticks(), seen = start, progress_tsc = rdtsc();

	irq_enable();
	while (seen - start < s->ticks) {
		if (s->in_loop) {
			r.looping = true;
			s->in_loop(s->ctx);
			r.looping = false;
			out.loops++;
		} else {
			__asm__ volatile("pause");
		}
		uint64_t now = timer_ticks();
		if (now != seen) {
			seen = now;
			progress_tsc = rdtsc();
		} else if (rdtsc() - progress_tsc > IRQ_STRESS_STALL_CYCLES) {
			out.stalled = true;
			break;
		}
	}
	irq_disable();

	out.ticks = timer_ticks() - start;
	timer_set_handler(NULL, NULL);
	if (s->hz)
		timer_set_hz(saved_hz);
	out.irq_calls = r.irq_calls;
	out.irqs_in_loop = r.irqs_in_loop;
	irq_restore(flags);
	return out;
}
