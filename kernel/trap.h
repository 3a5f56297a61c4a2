/*
 * kernel/trap.h - exception and interrupt dispatch, reports, and catching
 * an expected trap (for tests that provoke one on purpose).
 */
#ifndef KERNEL_TRAP_H
#define KERNEL_TRAP_H

#include <stdbool.h>
#include <stdint.h>

/* What isr.S pushes, lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "must match kernel/isr.S");

enum {
	VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_UD = 6, VEC_NM = 7,
	VEC_DF = 8, VEC_GP = 13, VEC_PF = 14, VEC_MC = 18,
	VEC_IRQ_BASE = 32,	/* the legacy PICs are remapped here (kernel/irq.c) */
	/* The local APIC's (kernel/lapic.c): in the top priority class, above
	 * any device's; the spurious vector's low 4 bits are 1s, as older
	 * APICs hard-wire them. */
	VEC_LAPIC_TIMER = 0xf0,
	VEC_LAPIC_SPURIOUS = 0xff,
};

void idt_init(void);
void trap_dispatch(struct trap_frame *f);
const char *trap_name(uint64_t vector);

/*
 * Catching an expected trap. Arm a trap_catch for one vector, run the
 * instruction with TRAP_TRY, disarm. A trap on that vector is recorded
 * instead of reported; execution resumes at the end of the TRAP_TRY (for
 * faults like #UD, whose saved RIP is the faulting instruction) or where
 * the CPU left it (for traps like #BP, when resume is 0).
 */
struct trap_catch {
	uint64_t vector;
	uint64_t resume;	/* set by TRAP_TRY; 0: return to the saved RIP */
	unsigned hits;
	uint64_t rip;		/* saved RIP of the last hit */
	uint64_t error;		/* error code of the last hit */
	uint64_t cr2;		/* CR2 at the last hit (#PF) */
	/* Optional, set after arming: runs on each hit, in trap context (a
	 * test that plays an interrupt handler on single-step traps). */
	void (*on_trap)(struct trap_frame *f, void *arg);
	void *arg;
};

void trap_catch_arm(struct trap_catch *c, uint64_t vector);
void trap_catch_disarm(void);
/* Is a catch armed? (The test runner disarms one a test left behind.) */
bool trap_catch_armed(void);
/* Is an exception or interrupt handler running (trap_dispatch under way)? */
bool in_trap(void);
/* How many trap_dispatch calls are under way (0 in thread context). */
unsigned trap_level(void);
/* The handler under way will never return (the scheduler kills or leaves
 * the thread it interrupted). Context: a trap handler, not nested. */
void trap_abandon(void);

/* Execute the instruction(s) insn; a caught fault resumes right after them.
 * Optional asm input operands follow insn (r11 is taken by the macro). */
#define TRAP_TRY(c, insn, ...)						\
	__asm__ volatile("leaq 1f(%%rip), %%r11\n\t"			\
			 "movq %%r11, %0\n\t"				\
			 insn "\n"					\
			 "1:"						\
			 : "=m"((c)->resume) : __VA_ARGS__ : "r11", "rax", "memory")

#endif
