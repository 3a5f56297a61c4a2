/*
 * tests/kernel/trap_test.c - exceptions are caught, recorded and resumed from
 * where the test arranges; an unexpected one panics with a symbolised report.
 */
#include "kernel/gdt.h"
#include "kernel/ktest.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/layout.h"
#include "mm/vmm.h"

KTEST(trap, breakpoint_resumes_after_int3)
{
	struct trap_catch c;
	uint64_t after;

	trap_catch_arm(&c, VEC_BP);
	/* #BP is a trap: the saved RIP is already past int3, so no resume point. */
	__asm__ volatile("int3\n\t"
			 "leaq -1(%%rip), %0" : "=r"(after) :: "memory");
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	/* The lea's RIP-relative base is the next instruction; the saved RIP was the lea's own start. */
	KEXPECT_LT(c.rip, after);
	KEXPECT_GT(c.rip + 8, after);
}

KTEST(trap, invalid_opcode_is_caught_and_skipped)
{
	struct trap_catch c;
	volatile int reached = 0;

	trap_catch_arm(&c, VEC_UD);
	TRAP_TRY(&c, "ud2");
	reached = 1;
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(reached, 1);
	KEXPECT_EQ(c.rip, c.resume - 2);	/* ud2 is two bytes, just before the resume point */
}

KTEST(trap, general_protection_on_non_canonical_address)
{
	struct trap_catch c;

	trap_catch_arm(&c, VEC_GP);
	TRAP_TRY(&c, "movabsq $0x8000000000000000, %%rax\n\tmovq (%%rax), %%rax");
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.error, 0);
}

KTEST(trap, page_fault_reports_address_and_error_code)
{
	struct trap_catch c;

	trap_catch_arm(&c, VEC_PF);
	TRAP_TRY(&c, "movq $0x18, %%rax\n\tmovq $1, (%%rax)");
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_EQ(c.cr2, 0x18);
	KEXPECT_EQ(c.error & 3, 2);	/* not present, write */
}

/* The runner checks that the panic report names this function. */
__attribute__((noinline)) static void null_deref_victim(void)
{
	static int *volatile null_pointer;	/* volatile: the compiler cannot see it is NULL */
	*null_pointer = 1;
}

KTEST_DEATH(trap, null_deref_panics_with_report, "null_deref_victim")
{
	null_deref_victim();
}

/* Every IST stack and the boot stack has an unmapped guard page below it:
 * a write there faults instead of landing on the stack below. */
KTEST(trap, stacks_of_the_trap_path_have_guard_pages)
{
	for (unsigned i = 0; i <= IST_COUNT; i++) {
		uint64_t guard = gdt_stack_guard(i);
		struct vmm_translation tr;
		KEXPECT_FALSE(vmm_translate(guard, &tr));
		KEXPECT_TRUE(vmm_translate(guard + PAGE_SIZE, &tr));
		struct trap_catch c;
		trap_catch_arm(&c, VEC_PF);
		TRAP_TRY(&c, "movq $1, (%1)", "r"(guard + PAGE_SIZE - 8));
		trap_catch_disarm();
		KEXPECT_EQ(c.hits, 1);
		KEXPECT_EQ(c.cr2, guard + PAGE_SIZE - 8);
	}
}

/* The kernel switches no FPU or SSE state: an x87 instruction raises #NM
 * (CR0.EM, TS), an SSE one #UD (CR4.OSFXSR clear). */
KTEST(trap, fpu_and_sse_instructions_trap)
{
	struct trap_catch c;
	trap_catch_arm(&c, VEC_NM);
	TRAP_TRY(&c, "fninit");
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	trap_catch_arm(&c, VEC_UD);
	TRAP_TRY(&c, "xorps %%xmm0, %%xmm0");
	trap_catch_disarm();
	KEXPECT_EQ(c.hits, 1);
	KEXPECT_TRUE(read_cr0() & CR0_TS);
}

KTEST_DEATH(trap, an_unexpected_fpu_instruction_is_reported, "#NM device not available")
{
	__asm__ volatile("fld1");
}

/* An NMI handler must not fault: the iretq of a handled nested fault
 * would re-enable NMIs in the middle of the NMI. A fault there panics at
 * once. (int $2 runs the NMI path through its IDT gate.) */
static void fault_in_nmi(struct trap_frame *f, void *arg)
{
	(void)f;
	(void)arg;
	static int *volatile unmapped = (int *)0x28;
	*unmapped = 1;
}

KTEST_DEATH(trap, a_fault_in_the_nmi_handler_panics, "fault inside the NMI handler")
{
	struct trap_catch c;
	trap_catch_arm(&c, VEC_NMI);
	c.on_trap = fault_in_nmi;
	__asm__ volatile("int $2" ::: "memory");
	trap_catch_disarm();
}
