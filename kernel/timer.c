/*
 * kernel/timer.c - the tick and one-shot deadlines, served by the one
 * local APIC timer (kernel/lapic.c), timed by clock_ns (kernel/clock.c).
 *
 * Structures: the tick (`hz`, its period in ns and in APIC clocks, the time
 * `next_tick_ns` it is next due); the deadline queue, caller-owned struct
 * timer_events in a list sorted by time, equal times in arming order.
 *
 * Modes. While no deadline is armed, the APIC runs periodic at the tick
 * rate and reloads itself: every interrupt is a tick, and nothing is
 * reprogrammed. Arming a deadline switches it to one-shot, programmed for
 * whichever comes first, the next tick or the first deadline, and each
 * interrupt programs the next. Once the queue is empty, the next tick
 * switches back to periodic: switching at a tick keeps the ticks' phase.
 * Invariant: periodic implies an empty queue.
 *
 * timer_init():
 *  1. lapic_init; calibrate the TSC and the APIC timer against the PIT
 *     (kernel/calibrate.c); start clock_ns at the TSC's rate.
 *  2. Check timer.hz= and start the tick, periodic. The legacy PIC stays
 *     masked as irq_init left it: no line is registered.
 * timer_interrupt(), from trap.c with interrupts off (trap.c sends EOI):
 *  1. Run each deadline clock_ns() has reached, earliest first; each is off
 *     the queue before its fn runs, so fn may arm it (or others) again.
 *  2. Periodic: count the tick. One-shot: count it if it is due, or nearly
 *     (TICK_EARLY: the APIC's and the TSC's rates, though measured over the
 *     same windows, differ by a little, and an interrupt a hair early must
 *     not cost a second one). The next is due one period after the last
 *     one's due time, or, if that has passed (interrupts were off), one
 *     period from now. Call the hook.
 *  3. Program the APIC for what comes next (program_locked), or switch to
 *     periodic (the queue is empty and a tick was just taken).
 * A deadline never runs before its time: an interrupt that comes early only
 * programs the APIC for the rest.
 *
 * Locking: every variable here is written with interrupts off (one CPU),
 * so the handler and the code it interrupted never see a half-made change;
 * `_locked` functions must be called so.
 */
#include "kernel/timer.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/lapic.h"
#include "kernel/panic.h"
#include "kernel/scale.h"
#include "kernel/thread.h"
#include "kernel/time.h"
#include "kernel/x86.h"

static uint64_t timer_hz_option = TIMER_HZ_DEFAULT;
CMDLINE_OPTION(timer_hz_option, "timer.hz", CMDLINE_U64, NULL,
	       "timer interrupts per second, 19..10000");

static struct calibration cal;
static struct scale ns_to_apic;		/* clock_ns nanoseconds to APIC timer clocks */
static unsigned hz;
static uint64_t period_ns;
static uint32_t period_count;		/* period_ns in APIC clocks */
static uint64_t next_tick_ns;		/* when the next tick is due */
static bool periodic;			/* the APIC is in periodic mode */
static uint64_t ticks;
static void (*hook)(void *ctx);
static void *hook_ctx;
static struct timer_event *queue;	/* sorted by when_ns */
static unsigned armed;			/* events in the queue */

static uint64_t tick_early_ns(void)
{
	return period_ns / 64;
}

static void mhz(const char *what, uint64_t hz_, const char *tail)
{
	kprintf("%s %llu.%03llu MHz%s", what, (unsigned long long)(hz_ / 1000000),
		(unsigned long long)(hz_ / 1000 % 1000), tail);
}

/* One-shot at clock time `when`: rounded up by a clock, so that it comes
 * late rather than early, and at least 1 (0 would stop the timer). */
static void oneshot_at_locked(uint64_t when, uint64_t now)
{
	uint64_t count = when > now ? scale_apply(&ns_to_apic, when - now) + 1 : 1;

	lapic_timer_oneshot(count > UINT32_MAX ? UINT32_MAX : (uint32_t)count);
}

static void program_locked(uint64_t now)
{
	if (!queue) {
		if (!periodic)
			oneshot_at_locked(next_tick_ns, now);	/* periodic again from that tick */
		return;
	}
	periodic = false;
	oneshot_at_locked(queue->when_ns < next_tick_ns ? queue->when_ns : next_tick_ns, now);
}

static void unlink_locked(struct timer_event *ev)
{
	if (*ev->pprev != ev)
		panic("timer: event %p is not where the queue holds it: overwritten, freed while "
		      "armed, or not zeroed before its first use", (void *)ev);
	*ev->pprev = ev->next;
	if (ev->next)
		ev->next->pprev = ev->pprev;
	ev->next = NULL;
	ev->pprev = NULL;
	if (!ev->service)
		armed--;
}

void timer_interrupt(void)
{
	uint64_t now = clock_ns();

	while (queue && queue->when_ns <= now) {
		struct timer_event *ev = queue;
		unlink_locked(ev);
		ev->fn(ev->ctx);
		now = clock_ns();
	}
	if (periodic || now + tick_early_ns() >= next_tick_ns) {
		if (periodic || next_tick_ns + period_ns <= now)
			next_tick_ns = now + period_ns;
		else
			next_tick_ns += period_ns;
		__atomic_store_n(&ticks, ticks + 1, __ATOMIC_RELAXED);
		sched_tick();
		if (hook)
			hook(hook_ctx);
		if (!queue && !periodic) {
			lapic_timer_periodic(period_count);
			periodic = true;
			next_tick_ns = clock_ns() + period_ns;
			return;
		}
	}
	if (!periodic)
		program_locked(clock_ns());
}

void timer_set_hz(unsigned rate)
{
	ASSERT(rate >= TIMER_HZ_MIN && rate <= TIMER_HZ_MAX);
	ASSERT(cal.lapic_hz);		/* after timer_init */

	uint64_t flags = irq_save();
	uint64_t count = scale_apply(&ns_to_apic, (NSEC_PER_SEC + rate / 2) / rate);
	if (!count || count > UINT32_MAX)
		panic("timer_set_hz: %u Hz is %llu clocks of a %llu Hz APIC timer: past its 32-bit count",
		      rate, (unsigned long long)count, (unsigned long long)cal.lapic_hz);
	hz = rate;
	period_ns = (NSEC_PER_SEC + rate / 2) / rate;
	period_count = (uint32_t)count;
	next_tick_ns = clock_ns() + period_ns;
	if (periodic)
		lapic_timer_periodic(period_count);
	else
		program_locked(clock_ns());
	irq_restore(flags);
}

unsigned timer_hz(void)
{
	return hz;
}

const struct calibration *timer_calibration(void)
{
	return &cal;
}

void timer_init(void)
{
	lapic_init();
	calibrate(&cal);
	kprintf("timer: against the PIT (median of %u windows of %u us):",
		cal.windows, CALIBRATE_WINDOW_US);
	mhz(" TSC", cal.tsc_hz, "");
	kprintf(" (spread %llu ppm),", (unsigned long long)cal.tsc_spread_ppm);
	mhz(" local APIC timer", cal.lapic_hz, "");
	kprintf(" (spread %llu ppm); CPUID 0x15:", (unsigned long long)cal.lapic_spread_ppm);
	if (cal.cpuid_tsc_hz)
		mhz(" TSC", cal.cpuid_tsc_hz, "\n");
	else
		kprintf(" no frequency\n");
	clock_init(cal.tsc_hz);
	scale_init(&ns_to_apic, NSEC_PER_SEC, cal.lapic_hz);

	if (timer_hz_option < TIMER_HZ_MIN || timer_hz_option > TIMER_HZ_MAX) {
		kprintf("timer: warning: timer.hz=%llu: out of range (%d..%d); using default %d\n",
			(unsigned long long)timer_hz_option, TIMER_HZ_MIN, TIMER_HZ_MAX,
			TIMER_HZ_DEFAULT);
		timer_hz_option = TIMER_HZ_DEFAULT;
	}
	periodic = true;
	timer_set_hz((unsigned)timer_hz_option);
	kprintf("timer: tick at %u Hz (local APIC, %u clocks); legacy PIC masked\n", hz, period_count);
}

void timer_set_handler(void (*fn)(void *ctx), void *ctx)
{
	uint64_t flags = irq_save();
	hook = fn;
	hook_ctx = ctx;
	irq_restore(flags);
}

bool timer_handler_set(void)
{
	return __atomic_load_n(&hook, __ATOMIC_RELAXED) != NULL;
}

uint64_t timer_ticks(void)
{
	return __atomic_load_n(&ticks, __ATOMIC_RELAXED);
}

void timer_deadline_ns(struct timer_event *ev, uint64_t when_ns, void (*fn)(void *ctx), void *ctx)
{
	ASSERT(fn);

	uint64_t flags = irq_save();
	if (ev->pprev)
		unlink_locked(ev);
	ev->when_ns = when_ns;
	ev->fn = fn;
	ev->ctx = ctx;
	struct timer_event **pp = &queue;
	while (*pp && (*pp)->when_ns <= when_ns)
		pp = &(*pp)->next;
	ev->next = *pp;
	if (ev->next)
		ev->next->pprev = &ev->next;
	*pp = ev;
	ev->pprev = pp;
	if (!ev->service)
		armed++;
	/* Only a new head, or leaving periodic mode, changes what the APIC
	 * waits for; inside timer_interrupt it is programmed on the way out. */
	if (queue == ev || periodic)
		program_locked(clock_ns());
	irq_restore(flags);
}

bool timer_cancel(struct timer_event *ev)
{
	uint64_t flags = irq_save();
	bool was = ev->pprev != NULL;
	/* A cancelled head costs one interrupt that finds nothing due. */
	if (was)
		unlink_locked(ev);
	irq_restore(flags);
	return was;
}

bool timer_armed(const struct timer_event *ev)
{
	return __atomic_load_n(&ev->pprev, __ATOMIC_RELAXED) != NULL;
}

unsigned timer_armed_count(void)
{
	return __atomic_load_n(&armed, __ATOMIC_RELAXED);
}

void timer_cancel_all(void)
{
	uint64_t flags = irq_save();
	for (struct timer_event *ev = queue, *next; ev; ev = next) {
		next = ev->next;
		if (!ev->service)
			unlink_locked(ev);
	}
	irq_restore(flags);
}
