/*
 * kernel/trap.c - what happens after isr.S saved a trap frame.
 *
 * trap_dispatch(frame):
 *  1. A trap that a test armed a trap_catch for is recorded, and execution
 *     resumes where the test said (an interrupt's, as a handled one: 3).
 *  2. A page fault inside a range with an owner (mm/vmm.c) goes to the
 *     owner's handler; if it handles it, the instruction is retried.
 *  3. The local APIC timer's interrupt goes to timer_interrupt, then EOI
 *     to the local APIC; its spurious vector is dropped (it takes no EOI);
 *     interrupts from the legacy PICs go to their line's handler
 *     (kernel/irq.c). Then a restartable sequence the interrupt landed in
 *     is sent back to its start (kernel/restart.h).
 *  4. Last, once no handler is under way, an interrupt that came from a
 *     thread with interrupts on is a preemption point (kernel/sched.c):
 *     the scheduler may save the frame in the thread and run another.
 *  5. Anything else is reported (name, error code, CR2 for #PF, registers,
 *     symbolised RIP) and panics with a backtrace from the trapped context.
 *
 * NMI handlers never fault: the iretq that ends a handled fault re-enables
 * NMIs, even in the middle of an NMI's handler. So any exception while an
 * NMI is being handled panics at once, before any handler or catch.
 *
 * The armed catch is the running thread's (struct thread), so a catch armed
 * by one thread never swallows another's fault. One CPU, interrupts off
 * inside handlers.
 */
#include "kernel/trap.h"
#include "kernel/console.h"
#include "kernel/irq.h"
#include "kernel/lapic.h"
#include "kernel/panic.h"
#include "kernel/qemu.h"
#include "kernel/restart.h"
#include "kernel/symbols.h"
#include "kernel/thread.h"
#include "kernel/timer.h"
#include "kernel/x86.h"
#include "mm/vmm.h"

#include <stdbool.h>
#include <stddef.h>

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI non-maskable interrupt", "#BP breakpoint",
	"#OF overflow", "#BR bound range exceeded", "#UD invalid opcode",
	"#NM device not available", "#DF double fault", "coprocessor segment overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack-segment fault",
	"#GP general protection fault", "#PF page fault", "reserved (15)",
	"#MF x87 floating-point error", "#AC alignment check", "#MC machine check",
	"#XM SIMD floating-point exception", "#VE virtualization exception",
	"#CP control protection exception", "reserved (22)", "reserved (23)",
	"reserved (24)", "reserved (25)", "reserved (26)", "reserved (27)",
	"#HV hypervisor injection", "#VC VMM communication", "#SX security exception",
	"reserved (31)",
};

static bool reporting;	/* a fault while reporting one must not recurse */
static unsigned trap_depth;	/* trap_dispatch calls under way (in_trap) */
static bool in_nmi;		/* an NMI's dispatch is under way */

const char *trap_name(uint64_t vector)
{
	return vector < 32 ? exception_names[vector] : "interrupt";
}

void trap_catch_arm(struct trap_catch *c, uint64_t vector)
{
	*c = (struct trap_catch){ .vector = vector };
	current()->trap_catch = c;
}

void trap_catch_disarm(void)
{
	current()->trap_catch = NULL;
}

bool trap_catch_armed(void)
{
	return current()->trap_catch != NULL;
}

void trap_abandon(void)
{
	ASSERT(trap_depth == 1);
	trap_depth = 0;
}

bool in_trap(void)
{
	return trap_depth != 0;
}

unsigned trap_level(void)
{
	return trap_depth;
}

static void report_page_fault_error(uint64_t err)
{
	kprintf(" [%s, %s, %s%s%s]", err & 1 ? "protection violation" : "not present",
		err & 2 ? "write" : (err & 16 ? "instruction fetch" : "read"),
		err & 4 ? "user" : "kernel",
		err & 8 ? ", reserved bit set" : "",
		err & 32 ? ", protection key" : "");
}

static void trap_report(const struct trap_frame *f)
{
	char sym[128];

	kprintf("------------[ exception %s (vector %llu) ]------------\n",
		trap_name(f->vector), (unsigned long long)f->vector);
	kprintf("error code: 0x%llx", (unsigned long long)f->error);
	if (f->vector == VEC_PF)
		report_page_fault_error(f->error);
	kprintf("\n");
	if (f->vector == VEC_PF)
		kprintf("CR2: 0x%016llx (faulting address)\n", (unsigned long long)read_cr2());
	ksym_format(sym, sizeof(sym), f->rip);
	kprintf("RIP: %04llx:%016llx %s\n", (unsigned long long)f->cs,
		(unsigned long long)f->rip, sym);
	kprintf("RSP: %04llx:%016llx RFLAGS: %016llx\n", (unsigned long long)f->ss,
		(unsigned long long)f->rsp, (unsigned long long)f->rflags);

	const struct { const char *name; uint64_t v; } regs[] = {
		{ "RAX", f->rax }, { "RBX", f->rbx }, { "RCX", f->rcx },
		{ "RDX", f->rdx }, { "RSI", f->rsi }, { "RDI", f->rdi },
		{ "RBP", f->rbp }, { "R08", f->r8 },  { "R09", f->r9 },
		{ "R10", f->r10 }, { "R11", f->r11 }, { "R12", f->r12 },
		{ "R13", f->r13 }, { "R14", f->r14 }, { "R15", f->r15 },
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		kprintf("%s: %016llx%s", regs[i].name, (unsigned long long)regs[i].v,
			i % 3 == 2 ? "\n" : " ");
	kprintf("CR0: %016llx CR3: %016llx CR4: %016llx\n", (unsigned long long)read_cr0(),
		(unsigned long long)read_cr3(), (unsigned long long)read_cr4());
}

/* Before returning from a handled interrupt: its handler may have used the
 * heap, so a restartable sequence (a heap push or pop) it interrupted
 * starts again. Exceptions and NMIs are not rewound (kernel/restart.h);
 * an unhandled interrupt's report shows where it really landed. */
static void resume_interrupted(struct trap_frame *f)
{
	if (f->vector >= VEC_IRQ_BASE)
		restart_seq_fixup(&f->rip);
}

static void dispatch(struct trap_frame *f);

static _Noreturn void nmi_fault(const struct trap_frame *f)
{
	in_nmi = false;
	reporting = true;
	console_capture(NULL, 0);
	trap_report(f);
	panic_trace_from(f->rip, f->rsp, f->rbp, "exception %s: a fault inside the NMI handler (its iretq would "
			 "re-enable NMIs)", trap_name(f->vector));
}

void trap_dispatch(struct trap_frame *f)
{
	trap_depth++;
	if (f->vector == VEC_NMI) {
		in_nmi = true;
		dispatch(f);
		in_nmi = false;
	} else {
		if (in_nmi && f->vector < 32)
			nmi_fault(f);
		dispatch(f);
	}
	trap_depth--;
	if (f->vector >= VEC_IRQ_BASE && (f->rflags & RFLAGS_IF) && !trap_depth)
		sched_preempt_point(f);
}

static void dispatch(struct trap_frame *f)
{
	struct trap_catch *armed = current()->trap_catch;
	if (armed && armed->vector == f->vector) {
		armed->hits++;
		armed->rip = f->rip;
		armed->error = f->error;
		armed->cr2 = f->vector == VEC_PF ? read_cr2() : 0;
		if (armed->on_trap)
			armed->on_trap(f, armed->arg);
		if (armed->resume)
			f->rip = armed->resume;
		else
			resume_interrupted(f);
		return;
	}
	if (f->vector == VEC_PF && vmm_handle_fault(read_cr2(), f))
		return;
	if (f->vector == VEC_LAPIC_TIMER) {
		timer_interrupt();
		lapic_eoi();
		resume_interrupted(f);
		return;
	}
	if (f->vector == VEC_LAPIC_SPURIOUS ||
	    (f->vector >= VEC_IRQ_BASE && f->vector < VEC_IRQ_BASE + IRQ_LINES &&
	     irq_dispatch((unsigned)(f->vector - VEC_IRQ_BASE)))) {
		resume_interrupted(f);
		return;
	}

	if (reporting) {
		kprintf("exception %s at rip 0x%llx (cr2 0x%llx) while reporting another; halting\n",
			trap_name(f->vector), (unsigned long long)f->rip,
			(unsigned long long)read_cr2());
		qemu_exit(QEMU_EXIT_FAIL);
		halt_forever();
	}
	reporting = true;
	console_capture(NULL, 0);	/* a report must reach the serial port */
	trap_report(f);
	char sym[128];
	ksym_format(sym, sizeof(sym), f->rip);
	panic_trace_from(f->rip, f->rsp, f->rbp, "unhandled %s %s at %s",
			 f->vector < 32 ? "exception" : "interrupt",
			 trap_name(f->vector), sym);
}
