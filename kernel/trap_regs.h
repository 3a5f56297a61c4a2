/*
 * kernel/trap_regs.h - the general registers of a struct trap_frame
 * (kernel/trap.h), pushed and popped in its order, for kernel/isr.S (which
 * builds the frame) and kernel/switch.S (which resumes a preempted thread
 * from the frame saved in its struct thread). Assembly only.
 */
#ifndef KERNEL_TRAP_REGS_H
#define KERNEL_TRAP_REGS_H

.macro PUSH_TRAP_REGS
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
.endm

/* Pop them, then step over the vector and error code: an iretq follows. */
.macro POP_TRAP_REGS
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector and error code */
.endm

#endif
