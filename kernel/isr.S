/*
 * kernel/isr.S - one entry stub per IDT vector, and the common path.
 *
 * Stub n (16 bytes apart, at isr_stubs + 16 * n) pushes a zero error code
 * when the CPU does not push one, then the vector, and jumps to isr_common,
 * which saves the general registers as a struct trap_frame (kernel/trap.h),
 * calls trap_dispatch(frame), restores, and returns with iretq. The handler
 * may change the frame (tests resume past a faulting instruction that way).
 * RBP is left as interrupted so the frame chain runs through the trap.
 */
#include "kernel/trap_regs.h"

	.text
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	/* Vectors where the CPU pushes an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX. */
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	isr_common
	.set vec, vec + 1
	.endr

isr_common:
	PUSH_TRAP_REGS
	movq	%rsp, %rdi
	cld
	call	trap_dispatch
	POP_TRAP_REGS
	iretq
