/*
 * kernel/thread.h - kernel threads and the scheduler (design: kernel/sched.c
 * for scheduling and switching, kernel/thread.c for a thread's life).
 *
 * A thread runs fn(arg) on a stack of its own, with interrupts on; the timer
 * preempts it in favour of a thread of higher or equal priority (round robin
 * within a priority). Every function here may be called from thread
 * context; the ones that block (join, sleep, yield) must not be called with
 * a spinlock held or interrupts off, nor from an interrupt handler.
 */
#ifndef KERNEL_THREAD_H
#define KERNEL_THREAD_H

/* Offsets that kernel/switch.S uses (checked against the struct below). */
#define THREAD_RSP		0
#define THREAD_PREEMPTED	8
#define THREAD_FRAME		16

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/console.h"
#include "kernel/trap.h"

/* Priorities, lowest first. Mutators run at PRIO_NORMAL; the collector runs
 * above them. The idle thread has none: it runs only when no queue has a
 * thread. */
enum thread_prio { PRIO_NORMAL, PRIO_HIGH, NR_PRIOS };

enum thread_state {
	THREAD_RUNNING,		/* on a CPU */
	THREAD_RUNNABLE,	/* on a run queue */
	THREAD_BLOCKED,		/* on a wait queue, or sleeping */
	THREAD_DEAD,		/* exited or killed; its stack goes once switched off */
};

struct kstack;
struct mutex;
struct waitq;

struct thread {
	/* First, at the offsets above: kernel/switch.S reads them. */
	uint64_t rsp;			/* saved by thread_switch when it gave up the CPU */
	uint8_t preempted;		/* its context is `frame`, saved by a preemption */
	uint8_t pad[7];
	struct trap_frame frame;	/* the interrupt frame it was preempted in */

	char name[24];
	void (*fn)(void *);
	void *arg;			/* a root for the collector, as the registers are */
	enum thread_state state;	/* the run queue lock (interrupts off, one CPU) */
	enum thread_prio prio;
	unsigned cpu;			/* whose run queue it is on */
	unsigned preempt_count;		/* > 0: the timer does not switch it away */
	unsigned mutexes_held;		/* kernel/sync.c */
	struct mutex *held[4];		/* DEBUG: the first mutexes it holds, for the
					   rank check */
	struct thread *next;		/* run queue or wait queue link */
	struct waitq *waiting_on;	/* while blocked on a wait queue */
	uint64_t wake_tick;		/* while sleeping: the tick it wakes at */
	struct thread *sleep_next;	/* the sleep list, by wake_tick */
	int exit_code;
	struct thread *joiner;		/* blocked in kthread_join on it */

	struct kstack *stack;		/* NULL for the boot thread (the boot stack) */
	uint64_t stack_lo, stack_hi;	/* its stack's reservation */

	/* State that was a global while one thread ran. */
	struct trap_catch *trap_catch;	/* armed by trap_catch_arm */
	void *harness;			/* the test harness's state of the test it runs
					   for; inherited by the threads it creates */

	struct console_line line;	/* its output, a line at a time */

	/* The collector's (mm/gc.c), under its marking: the cycle whose root
	 * scan reached this stack, and the lowest address that scan has reached
	 * from the top. */
	uint64_t gc_cycle;
	uint64_t gc_scan_lo;

	struct thread *all_next, *all_prev;	/* every thread but the idle ones */
	uint64_t switches;		/* times it got the CPU */
	uint64_t id;
};
_Static_assert(__builtin_offsetof(struct thread, rsp) == THREAD_RSP, "kernel/switch.S");
_Static_assert(__builtin_offsetof(struct thread, preempted) == THREAD_PREEMPTED, "kernel/switch.S");
_Static_assert(__builtin_offsetof(struct thread, frame) == THREAD_FRAME, "kernel/switch.S");

struct kthread_opts {
	size_t stack_limit;		/* 0: the default (kstack.max=) */
	enum thread_prio prio;
};

/* Start fn(arg) on a new thread named name (copied), runnable at once.
 * Return: the thread, to be joined; NULL when memory is short.
 * Context: thread. */
struct thread *kthread_create(void (*fn)(void *), void *arg, const char *name);
struct thread *kthread_create_opts(void (*fn)(void *), void *arg, const char *name,
				   const struct kthread_opts *opts);

/* Wait for t to end and free it. Return: its exit code (thread_exit's, or
 * KERR_KILLED when it was killed). Each thread is joined once. */
int kthread_join(struct thread *t);

/* End the calling thread (returning from fn does the same, with code 0). */
_Noreturn void thread_exit_code(int code);
_Noreturn void thread_exit(void);

/* Give the CPU to another runnable thread of the same or higher priority,
 * if there is one. */
void thread_yield(void);

/* Sleep at least ns nanoseconds (rounded up to timer ticks). */
void thread_sleep_ns(uint64_t ns);

/* The running thread. Context: any (in a handler: the interrupted thread). */
struct thread *current(void);

/* Preemption off and on for the running thread (nests). A spinlock taken
 * with spin_lock holds it off; preempt_enable switches if the timer asked
 * to meanwhile. */
void preempt_disable(void);
void preempt_enable(void);

/* Threads waiting on this CPU's run queues for their turn (the running one
 * and the idle thread aside). The collector asks it: any means a mutator
 * is losing the CPU to it. */
unsigned sched_runnable(void);

/* Threads alive (created and not yet joined), the idle threads aside. */
unsigned thread_count(void);

/* Call fn on every thread alive, with the run queues locked (interrupts
 * off): fn must not block. For the collector and the test harness. */
void thread_for_each(void (*fn)(struct thread *t, void *ctx), void *ctx);

/* ---- for the scheduler's own callers (kernel/) ---- */

/* Set the threads' stack-fault policy up (mm/kstack's hook). Context:
 * once, from kmain, after kstack_init. */
void thread_init(void);

/* Make the boot context thread 0 of this CPU and start the scheduler; the
 * caller carries on as the idle thread: call sched_idle() when done. */
void sched_init(void);
_Noreturn void sched_idle(void);

/* The timer tick: wake sleepers, and ask for a switch when the running
 * thread's time is up. Context: the timer interrupt. */
void sched_tick(void);

/* At the end of an interrupt that came from thread context with interrupts
 * on: switch away if a switch is due (this does not return then; the
 * interrupted context is saved in the thread). Context: trap_dispatch. */
void sched_preempt_point(struct trap_frame *f);

/* From a trap handler that interrupted a thread (not nested in another
 * handler): switch to the next runnable thread as a preemption would, the
 * interrupted one continuing from f later (any restartable sequence in f
 * already rewound by the caller). Returns only when no other thread is
 * runnable. Tests use it to switch threads at chosen instructions. */
void sched_switch_from_trap(struct trap_frame *f);

/* Block the running thread (state already THREAD_BLOCKED, on some list)
 * until thread_wake. Interrupts off. */
void sched_block(void);
/* Make t runnable. Context: any, interrupts off or on. */
void thread_wake(struct thread *t);

/* For kernel/thread.c: free what the last thread that died here left
 * (interrupts off); give the CPU up for good, the running thread dead. */
void sched_reap(void);
_Noreturn void sched_exit(void);

/* Kill the running thread from a trap handler (a stack overflow): it never
 * runs again; the CPU goes on with another thread. Interrupts off. */
_Noreturn void sched_kill_current(int code);

#endif
#endif
