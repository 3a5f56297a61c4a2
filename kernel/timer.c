/*
 * kernel/timer.c - the periodic tick: channel 0 of the legacy PIT (8254),
 * wired to IRQ 0 of the master PIC.
 *
 *  1. timer_init checks timer.hz=, programs channel 0 as a rate generator
 *     (mode 2: one pulse every `divisor` input clocks) and installs
 *     timer_tick on IRQ 0, which unmasks the line. Interrupts stay disabled.
 *  2. Each tick, while some code has interrupts enabled: count it, call the
 *     hook set by timer_set_handler, and return to irq.c, which sends EOI.
 *
 * The PIT counts down at 1.193182 MHz from a 16-bit divisor, hence the
 * slowest rate of 18.2 Hz; the rate is rounded to the nearest divisor.
 *
 * State: `ticks` is written only by the tick. hook and hook_ctx are written
 * with interrupts off, so a tick sees both old or both new. One CPU.
 */
#include "kernel/timer.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/irq.h"
#include "kernel/panic.h"
#include "kernel/thread.h"
#include "kernel/x86.h"

#define PIT_CH0		0x40
#define PIT_CMD		0x43
#define PIT_INPUT_HZ	1193182
#define PIT_CH0_RATE	0x34	/* channel 0, low then high byte, mode 2, binary */
#define TIMER_IRQ	0

static uint64_t timer_hz_option = TIMER_HZ_DEFAULT;
CMDLINE_OPTION(timer_hz_option, "timer.hz", CMDLINE_U64, NULL,
	       "timer interrupts per second, 19..10000");

static unsigned hz;
static uint64_t ticks;
static void (*hook)(void *ctx);
static void *hook_ctx;

static void timer_tick(void *unused)
{
	(void)unused;
	__atomic_store_n(&ticks, ticks + 1, __ATOMIC_RELAXED);
	sched_tick();
	if (hook)
		hook(hook_ctx);
}

void timer_set_hz(unsigned rate)
{
	ASSERT(rate >= TIMER_HZ_MIN && rate <= TIMER_HZ_MAX);
	uint16_t divisor = (uint16_t)((PIT_INPUT_HZ + rate / 2) / rate);

	uint64_t flags = irq_save();
	outb(PIT_CMD, PIT_CH0_RATE);
	outb(PIT_CH0, (uint8_t)divisor);
	outb(PIT_CH0, (uint8_t)(divisor >> 8));
	hz = rate;
	irq_restore(flags);
}

unsigned timer_hz(void)
{
	return hz;
}

void timer_init(void)
{
	if (timer_hz_option < TIMER_HZ_MIN || timer_hz_option > TIMER_HZ_MAX) {
		kprintf("timer: warning: timer.hz=%llu: out of range (%d..%d); using default %d\n",
			(unsigned long long)timer_hz_option, TIMER_HZ_MIN, TIMER_HZ_MAX,
			TIMER_HZ_DEFAULT);
		timer_hz_option = TIMER_HZ_DEFAULT;
	}
	timer_set_hz((unsigned)timer_hz_option);
	irq_register(TIMER_IRQ, timer_tick, NULL);
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
