/*
 * tests/kernel/trap_test.c - exceptions are caught, recorded and resumed from
 * where the test arranges; an unexpected one panics with a symbolised report.
 */
#include "kernel/ktest.h"
#include "kernel/trap.h"

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
