/*
 * kernel/sched.c - the scheduler: per-CPU run queues, switching, sleeping,
 * and preemption from the timer.
 *
 * Data structures:
 *   struct runq   per CPU: a FIFO of runnable threads per priority, the
 *                 running thread, the idle thread (the CPU's boot context,
 *                 on no queue), the sleepers sorted by wake tick, the
 *                 thread last switched off dead (its stack still to free),
 *                 and need_resched.
 * Scheduling: the highest non-empty priority's first thread runs; a thread
 * that gives up the CPU, or whose tick ran out, goes to the back of its
 * queue (round robin within a priority, one tick a turn). A thread woken
 * at a higher priority than the running one asks for a switch at once.
 *
 * Switching:
 *   1. By the thread itself (yield, sleep, block, exit: schedule()):
 *      thread_switch saves its callee-saved registers on its own stack.
 *   2. By the timer (sched_preempt_point, at the end of trap_dispatch):
 *      the interrupt arrived on an IST stack, which the next interrupt
 *      reuses (hazard 8), so the interrupted frame is copied into the
 *      thread's struct thread, and the IST stack is abandoned. The frame
 *      is copied only after trap_dispatch has rewound any restartable
 *      sequence it landed in (kernel/restart.h), so a thread preempted
 *      inside a heap fast path resumes at the sequence's start. A thread
 *      is preempted only from thread context with interrupts on, outside
 *      every handler, and never while preempt_count > 0.
 *   Both end in thread_resume (kernel/switch.S), which continues the next
 *   thread the way it was left. `current` is set before the stack changes;
 *   a fault in the switch itself (a stack growth) finds its stack from the
 *   fault address, never from `current` (hazard 9).
 * A dead thread's stack is freed once the CPU has left it (reap), by the
 * next schedule(), tick, new thread or join.
 *
 * Locking: a run queue belongs to its CPU and changes only there, with
 * interrupts off (one CPU now; SMP adds a lock per queue for remote
 * wakes). DEBUG builds check the queues' invariants on every change.
 */
#include "kernel/thread.h"
#include "kernel/irq.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "kernel/timer.h"
#include "kernel/x86.h"

struct runq {
	struct thread *head[NR_PRIOS], *tail[NR_PRIOS];
	unsigned nr;			/* runnable threads on the queues */
	struct thread *current;
	struct thread *idle;
	struct thread *sleepers;	/* by wake_tick, earliest first */
	struct thread *dead;		/* switched off dead: its stack to free */
	bool need_resched;
};

/* The boot context of CPU 0, which becomes its idle thread. current()
 * answers from the first instruction of kmain on. */
static struct thread boot_thread = { .name = "idle/0", .state = THREAD_RUNNING };
static struct runq runqs[MAX_CPUS] = { [0] = { .current = &boot_thread, .idle = &boot_thread } };

void thread_switch(struct thread *prev, struct thread *next);
_Noreturn void thread_resume(struct thread *next);
void thread_reap(struct thread *t);	/* kernel/thread.c */

static struct runq *this_rq(void) { return &runqs[cpu_id()]; }

struct thread *current(void)
{
	return this_rq()->current;
}

static void check_rq(struct runq *rq)
{
#ifdef DEBUG
	unsigned n = 0;
	for (unsigned p = 0; p < NR_PRIOS; p++) {
		struct thread *last = NULL;
		for (struct thread *t = rq->head[p]; t; last = t, t = t->next) {
			ASSERT(t->state == THREAD_RUNNABLE && t->prio == p && t != rq->idle);
			ASSERT(++n <= rq->nr);
		}
		ASSERT(rq->tail[p] == last);
	}
	ASSERT(n == rq->nr);
	ASSERT(rq->current->state == THREAD_RUNNING || rq->current->state == THREAD_DEAD ||
	       rq->current->state == THREAD_BLOCKED || rq->current->state == THREAD_RUNNABLE);
#else
	(void)rq;
#endif
}

static void enqueue(struct runq *rq, struct thread *t)
{
	DEBUG_ASSERT(t != rq->idle && !t->next);
	t->state = THREAD_RUNNABLE;
	t->next = NULL;
	if (rq->tail[t->prio])
		rq->tail[t->prio]->next = t;
	else
		rq->head[t->prio] = t;
	rq->tail[t->prio] = t;
	rq->nr++;
	check_rq(rq);
}

/* The next thread to run: the first of the highest non-empty queue, or
 * the idle thread. */
static struct thread *dequeue(struct runq *rq)
{
	for (unsigned p = NR_PRIOS; p-- > 0; ) {
		struct thread *t = rq->head[p];
		if (t) {
			rq->head[p] = t->next;
			if (!t->next)
				rq->tail[p] = NULL;
			t->next = NULL;
			rq->nr--;
			check_rq(rq);
			return t;
		}
	}
	return rq->idle;
}

/* Is a thread of priority at least prio waiting to run? */
static bool runnable_at(const struct runq *rq, enum thread_prio prio)
{
	for (unsigned p = prio; p < NR_PRIOS; p++)
		if (rq->head[p])
			return true;
	return false;
}

static void reap(struct runq *rq)
{
	struct thread *t = rq->dead;
	if (t) {
		rq->dead = NULL;
		thread_reap(t);
	}
}

/* Make next the running thread and continue it: called with interrupts
 * off, prev already queued, blocked or dead. */
static void switch_to(struct runq *rq, struct thread *prev, struct thread *next)
{
	next->state = THREAD_RUNNING;
	next->switches++;
	rq->current = next;
	if (prev->state == THREAD_DEAD) {
		DEBUG_ASSERT(!rq->dead);
		rq->dead = prev;
	}
	thread_switch(prev, next);
}

/* Give the CPU up: the running thread is RUNNING (and goes back on its
 * queue), BLOCKED or DEAD. Interrupts off, no spinlock held. */
static void schedule(void)
{
	struct runq *rq = this_rq();
	struct thread *prev = rq->current;
	ASSERT(!irq_enabled());
	if (spin_held_count())
		panic("schedule: thread %s would block holding a spinlock", prev->name);
	reap(rq);
	if (prev->state == THREAD_RUNNING && prev != rq->idle)
		enqueue(rq, prev);
	else if (prev->state == THREAD_RUNNING)
		prev->state = THREAD_RUNNABLE;
	rq->need_resched = false;
	struct thread *next = dequeue(rq);
	if (next == prev) {
		prev->state = THREAD_RUNNING;
		return;
	}
	switch_to(rq, prev, next);
	reap(this_rq());
}

void sched_reap(void)
{
	reap(this_rq());
}

_Noreturn void sched_exit(void)
{
	ASSERT(current()->state == THREAD_DEAD);
	schedule();
	panic("thread %s ran again after it exited", current()->name);
}

void sched_block(void)
{
	ASSERT(current()->state == THREAD_BLOCKED);
	schedule();
}

void thread_wake(struct thread *t)
{
	uint64_t f = irq_save();
	struct runq *rq = &runqs[t->cpu];
	if (t->state == THREAD_BLOCKED) {
		enqueue(rq, t);
		if (rq->current == rq->idle || t->prio > rq->current->prio)
			rq->need_resched = true;
	}
	/* From thread context, a higher-priority thread runs now. */
	bool now = rq->need_resched && !in_trap() && (f & RFLAGS_IF) && !rq->current->preempt_count;
	if (now)
		schedule();
	irq_restore(f);
}

unsigned sched_runnable(void)
{
	return __atomic_load_n(&this_rq()->nr, __ATOMIC_RELAXED);
}

void thread_yield(void)
{
	uint64_t f = irq_save();
	schedule();
	irq_restore(f);
}

void preempt_disable(void)
{
	__atomic_add_fetch(&current()->preempt_count, 1, __ATOMIC_RELAXED);
}

void preempt_enable(void)
{
	uint64_t f = irq_save();
	struct runq *rq = this_rq();
	ASSERT(rq->current->preempt_count > 0);
	rq->current->preempt_count--;
	if (!rq->current->preempt_count && rq->need_resched && (f & RFLAGS_IF) && !in_trap())
		schedule();
	irq_restore(f);
}

/* ---- sleeping ------------------------------------------------------------- */

void thread_sleep_ns(uint64_t ns)
{
	uint64_t hz = timer_hz();
	uint64_t ticks = ns / 1000000000ull * hz + (ns % 1000000000ull * hz + 999999999ull) / 1000000000ull;
	uint64_t f = irq_save();
	struct runq *rq = this_rq();
	struct thread *t = rq->current;
	ASSERT(t != rq->idle);
	/* The tick after the next `ticks` have passed: a tick may be due at once. */
	t->wake_tick = timer_ticks() + (ticks ? ticks : 1) + 1;
	struct thread **pp = &rq->sleepers;
	while (*pp && (*pp)->wake_tick <= t->wake_tick)
		pp = &(*pp)->sleep_next;
	t->sleep_next = *pp;
	*pp = t;
	t->state = THREAD_BLOCKED;
	schedule();
	irq_restore(f);
}

void sched_tick(void)
{
	struct runq *rq = this_rq();
	uint64_t now = timer_ticks();
	reap(rq);
	while (rq->sleepers && rq->sleepers->wake_tick <= now) {
		struct thread *t = rq->sleepers;
		rq->sleepers = t->sleep_next;
		t->sleep_next = NULL;
		enqueue(rq, t);
	}
	/* The running thread's turn is one tick. */
	struct thread *cur = rq->current;
	if (cur == rq->idle ? rq->nr != 0 : runnable_at(rq, cur->prio))
		rq->need_resched = true;
}

/* ---- preemption ----------------------------------------------------------------- */

/* Save the interrupted thread's frame in it, queued, and continue the next
 * thread; return only when that is the same thread. */
static void preempt(struct runq *rq, struct trap_frame *f, bool abandon)
{
	struct thread *prev = rq->current;
	rq->need_resched = false;
	reap(rq);
	if (prev != rq->idle)
		enqueue(rq, prev);
	struct thread *next = dequeue(rq);
	if (next == prev) {
		prev->state = THREAD_RUNNING;
		return;
	}
	if (prev == rq->idle)
		prev->state = THREAD_RUNNABLE;
	if (abandon)
		trap_abandon();
	prev->frame = *f;
	prev->preempted = 1;
	next->state = THREAD_RUNNING;
	next->switches++;
	rq->current = next;
	thread_resume(next);
}

void sched_preempt_point(struct trap_frame *f)
{
	struct runq *rq = this_rq();
	if (rq->need_resched && !rq->current->preempt_count)
		preempt(rq, f, false);
}

void sched_switch_from_trap(struct trap_frame *f)
{
	struct runq *rq = this_rq();
	ASSERT(trap_level() == 1 && !irq_enabled() && !rq->current->preempt_count);
	preempt(rq, f, true);
}

_Noreturn void sched_kill_current(int code)
{
	struct runq *rq = this_rq();
	struct thread *t = rq->current;
	ASSERT(!irq_enabled() && t != rq->idle);
	trap_abandon();
	t->exit_code = code;
	t->state = THREAD_DEAD;
	if (t->joiner)
		enqueue(rq, t->joiner);
	reap(rq);
	rq->dead = t;
	struct thread *next = dequeue(rq);
	next->state = THREAD_RUNNING;
	next->switches++;
	rq->current = next;
	thread_resume(next);
}

/* ---- the boot context ----------------------------------------------------------- */

void sched_init(void)
{
	struct runq *rq = this_rq();
	rq->idle->cpu = cpu_id();
	/* The boot thread runs kmain until sched_idle; it is the idle thread,
	 * on no queue, and never exits. */
}

_Noreturn void sched_idle(void)
{
	struct runq *rq = this_rq();
	for (;;) {
		cli();
		if (rq->nr)
			schedule();
		/* sti takes effect after hlt begins: no wake is missed between. */
		__asm__ volatile("sti; hlt" ::: "memory");
	}
}
