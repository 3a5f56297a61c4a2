/*
 * tests/kernel/kstack_call.h - run a function on a kernel stack from the
 * test thread, as the thread layer will once it switches RSP, and frames
 * that grow a stack the way compiled code does (tests and benchmarks).
 */
#ifndef TESTS_KERNEL_KSTACK_CALL_H
#define TESTS_KERNEL_KSTACK_CALL_H

#include <stdint.h>

/*
 * kt_call_on_stack(sp, fn, arg): run fn(arg) with RSP = sp (16-byte
 * aligned), then come back to the caller's stack. Saves the callee-saved
 * registers and RFLAGS on the caller's stack (so the caller's interrupt
 * state comes back either way) and the caller's RSP in kt_saved_rsp. A
 * stack-fault hook that sets the trap frame's RIP to kt_call_resume and
 * its RSP to kt_saved_rsp abandons fn, as killing a thread would.
 * Return: 0 when fn returned, 1 when it was abandoned. Not reentrant.
 */
int kt_call_on_stack(uint64_t sp, void (*fn)(void *), void *arg);
void kt_call_resume(void);
extern uint64_t kt_saved_rsp;
/* A frame of `bytes` (a multiple of 4096) probed a page at a time, as
 * -fstack-clash-protection allocates one, then written at its low end. */
void kt_probed_frame(uint64_t bytes);
/* The same frame allocated with one sub and written at its low end only;
 * bytes is a number passed as kt_call_on_stack's argument. */
void kt_unprobed_frame(void *bytes);

#endif
