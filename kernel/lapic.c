/*
 * kernel/lapic.c - the local APIC in xAPIC mode, reached through its
 * register page, which vmm_map_mmio maps uncached (never the identity map:
 * there is none after boot).
 *
 * lapic_init():
 *  1. CPUID must list an APIC. IA32_APIC_BASE gives the page; the APIC is
 *     enabled there (globally) and taken out of x2APIC mode if the firmware
 *     left it in it (that takes a pass through disabled: the SDM forbids
 *     going straight from x2APIC to xAPIC).
 *  2. Map the page; accept every priority (TPR 0); software-enable with
 *     VEC_LAPIC_SPURIOUS; mask the error LVT; the timer divides by 1 and
 *     is stopped. LINT0/LINT1 keep the firmware's setting: LINT0 carries the
 *     legacy PIC, whose lines irq_init masked, LINT1 the NMI.
 *  3. Drain in-service interrupts the firmware took without an EOI: one
 *     would block every vector of its priority class and below.
 *
 * The timer's vector is dispatched by trap.c to timer_interrupt, then EOI
 * here. The spurious vector is raised when an interrupt went away before the
 * CPU took it; it sets no in-service bit, so it gets no EOI.
 *
 * One CPU: the register page and `regs` are this CPU's. Registers are
 * 32-bit and at 16-byte strides; every access is a volatile 32-bit one.
 */
#include "kernel/lapic.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/layout.h"
#include "mm/vmm.h"

#define MSR_APIC_BASE		0x1b
#define APIC_BASE_ENABLE	(1ull << 11)
#define APIC_BASE_X2APIC	(1ull << 10)
#define APIC_BASE_ADDR		0x000ffffffffff000ull
#define CPUID1_EDX_APIC		(1u << 9)

/* Register offsets in the page. */
#define LAPIC_ID		0x020
#define LAPIC_VERSION		0x030
#define LAPIC_TPR		0x080
#define LAPIC_EOI		0x0b0
#define LAPIC_SVR		0x0f0
#define LAPIC_ISR		0x100	/* 8 registers, 32 vectors each */
#define LAPIC_ESR		0x280
#define LAPIC_LVT_TIMER		0x320
#define LAPIC_LVT_ERROR		0x370
#define LAPIC_TIMER_INITIAL	0x380
#define LAPIC_TIMER_CURRENT	0x390
#define LAPIC_TIMER_DIVIDE	0x3e0

#define SVR_ENABLE		(1u << 8)
#define LVT_MASKED		(1u << 16)
#define LVT_TIMER_PERIODIC	(1u << 17)
#define DIVIDE_BY_1		0xb

static volatile uint32_t *regs;
static uint64_t regs_pa;
static uint32_t timer_lvt;		/* what LAPIC_LVT_TIMER holds */

static uint32_t lapic_read(unsigned reg)
{
	return regs[reg / 4];
}

static void lapic_write(unsigned reg, uint32_t v)
{
	regs[reg / 4] = v;
}

void lapic_init(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	if (!(r[3] & CPUID1_EDX_APIC))
		panic("lapic: this CPU has no local APIC (CPUID 1: EDX bit 9); the timer needs one");

	uint64_t base = rdmsr(MSR_APIC_BASE);
	if (base & APIC_BASE_X2APIC) {
		kprintf("lapic: the firmware left x2APIC mode on; back to xAPIC through disabled\n");
		wrmsr(MSR_APIC_BASE, base & ~(APIC_BASE_ENABLE | APIC_BASE_X2APIC));
	}
	base = (base & ~APIC_BASE_X2APIC) | APIC_BASE_ENABLE;
	wrmsr(MSR_APIC_BASE, base);
	regs_pa = base & APIC_BASE_ADDR;
	uint64_t va = vmm_map_mmio(regs_pa, PAGE_SIZE);
	if (!va)
		panic("lapic: cannot map its page at 0x%llx", (unsigned long long)regs_pa);
	regs = (volatile uint32_t *)va;

	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_LAPIC_SPURIOUS);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_ESR, 0);		/* the ESR updates on a write */
	timer_lvt = LVT_MASKED | VEC_LAPIC_TIMER;
	lapic_write(LAPIC_LVT_TIMER, timer_lvt);
	lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
	lapic_write(LAPIC_TIMER_INITIAL, 0);

	unsigned drained = 0;
	for (unsigned i = 0; i < 8; i++)
		while (lapic_read(LAPIC_ISR + 16 * i) && drained < 256) {
			lapic_eoi();
			drained++;
		}

	kprintf("lapic: id %u, version 0x%x, registers at phys 0x%llx mapped uncached at 0x%llx%s\n",
		lapic_read(LAPIC_ID) >> 24, lapic_read(LAPIC_VERSION) & 0xff,
		(unsigned long long)regs_pa, (unsigned long long)va,
		drained ? " (drained interrupts the firmware left in service)" : "");
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/* Writing the initial count restarts the timer in its current mode, so the
 * LVT is written only to change mode, and then with the timer stopped: the
 * new mode never runs the old count. (A one-shot's count is often 1; QEMU,
 * handed periodic mode with it, reloads every 2 ns while its main loop
 * catches up with the clock, and never does.) */
static void timer_start(uint32_t lvt, uint32_t count)
{
	lvt |= VEC_LAPIC_TIMER;
	if (lvt != timer_lvt) {
		lapic_write(LAPIC_TIMER_INITIAL, 0);
		lapic_write(LAPIC_LVT_TIMER, lvt);
		timer_lvt = lvt;
	}
	lapic_write(LAPIC_TIMER_INITIAL, count);	/* starts (or, 0, stops) it */
}

void lapic_timer_oneshot(uint32_t count)
{
	timer_start(0, count);
}

void lapic_timer_periodic(uint32_t count)
{
	timer_start(LVT_TIMER_PERIODIC, count);
}

void lapic_timer_free_run(uint32_t count)
{
	timer_start(LVT_MASKED, count);
}

uint32_t lapic_timer_count(void)
{
	return lapic_read(LAPIC_TIMER_CURRENT);
}

bool lapic_timer_periodic_mode(void)
{
	return lapic_read(LAPIC_LVT_TIMER) & LVT_TIMER_PERIODIC;
}

uint64_t lapic_mmio_va(void)
{
	return (uint64_t)regs;
}

uint64_t lapic_mmio_pa(void)
{
	return regs_pa;
}
