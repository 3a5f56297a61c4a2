/*
 * kernel/switch.S - giving the CPU from one thread to another.
 *
 * A thread that gives the CPU up itself (sched.c: schedule) saves its
 * callee-saved registers and RFLAGS on its own stack and its stack pointer
 * in struct thread (thread_switch). A thread the timer preempted has its
 * whole interrupt frame saved in struct thread instead (sched.c: the frame
 * came on an IST stack, which the next interrupt reuses). thread_resume
 * continues either kind:
 *   1. preempted: point RSP at the saved frame inside struct thread, pop
 *      the general registers, drop vector and error code, and iretq, which
 *      restores RIP, RFLAGS and the thread's own RSP. Interrupts stay off
 *      until the iretq, so nothing else runs on that borrowed "stack".
 *   2. otherwise: load its saved RSP, pop what thread_switch pushed, ret.
 * Both are entered with interrupts off; the caller has already made `next`
 * the current thread.
 */
#include "kernel/thread.h"
#include "kernel/trap_regs.h"

	.text
	.globl thread_switch, thread_resume, thread_entry

/* void thread_switch(struct thread *prev, struct thread *next) */
thread_switch:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushfq
	movq	%rsp, THREAD_RSP(%rdi)
	movq	%rsi, %rdi
	/* fall through */

/* _Noreturn void thread_resume(struct thread *next) */
thread_resume:
	cmpb	$0, THREAD_PREEMPTED(%rdi)
	jne	1f
	movq	THREAD_RSP(%rdi), %rsp
	popfq
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
1:	movb	$0, THREAD_PREEMPTED(%rdi)
	leaq	THREAD_FRAME(%rdi), %rsp
	POP_TRAP_REGS
	iretq

/* A new thread's first "return" from thread_switch lands here, with its
 * struct thread in %rbx (kthread_create laid out the stack). */
thread_entry:
	movq	%rbx, %rdi
	xorl	%ebp, %ebp		/* the end of the frame chain */
	call	thread_start
	ud2
