/*
 * kernel/thread.c - a kernel thread's life: create, start, exit, join.
 *
 *   1. kthread_create takes a struct thread from the "thread" kmem cache and
 *      a stack, and lays out the stack as thread_switch would have left it,
 *      returning into thread_entry (kernel/switch.S); the thread goes on its
 *      CPU's run queue.
 *   2. Its first turn: thread_start frees what the last dead thread left,
 *      turns interrupts on (every thread runs with them on) and calls
 *      fn(arg); returning from fn is thread_exit_code(0).
 *   3. Exit: the thread is marked dead, its joiner woken, and it gives up
 *      the CPU for good; its stack is freed once the CPU has left it
 *      (thread_reap, from the scheduler).
 *   4. kthread_join waits for the thread to be dead, then frees its struct.
 * Every thread but the idle ones is on the list of threads from create to
 * join (thread_for_each: the collector's roots, the harness's leak check).
 *
 * Stacks are mm/kstack's: a reservation of the thread's limit with a guard
 * below, only its top page mapped at first, grown by page faults. A fault
 * that cannot be served (the guard hit, or memory truly gone) calls
 * thread_stack_fault, which kills the thread when that is safe: it holds
 * no spinlock (kstack checks), no mutex, has interrupts and preemption
 * on, and the stack is its own. Otherwise kstack panics with the same
 * report.
 *
 * Locking: the list of threads and a thread's state change with
 * interrupts off (one CPU; kernel/sched.c).
 */
#include "kernel/thread.h"
#include "kernel/error.h"
#include "kernel/irq.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printf.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "mm/kstack.h"
#include "mm/slab.h"

static struct kmem_cache *thread_cache;
static struct thread *all_threads;	/* interrupts off */
static unsigned nr_threads;		/* interrupts off */
static uint64_t next_id = 1;

void thread_entry(void);		/* kernel/switch.S */

/* ---- stacks ---- */

static bool stack_alloc(struct thread *t, size_t limit)
{
	struct kstack_stats st;
	t->stack = kstack_create(limit, t->name);
	if (!t->stack)
		return false;
	kstack_stats(t->stack, &st);
	t->stack_lo = st.lo;
	t->stack_hi = kstack_top(t->stack);
	return true;
}

static void stack_free(struct thread *t)
{
	kstack_destroy(t->stack);
	t->stack = NULL;
	t->stack_lo = t->stack_hi = 0;
}

/* kstack's fault hook: an overflow or a shortage in the running thread's
 * own stack kills it, when nothing it holds would be left behind. */
static bool thread_stack_fault(const struct kstack_fault *f, struct trap_frame *frame)
{
	(void)frame;
	struct thread *t = current();
	if (f->ks != t->stack || t->mutexes_held || t->preempt_count)
		return false;
	kprintf("thread %s (%llu) killed\n", t->name, (unsigned long long)t->id);
	sched_kill_current(KERR_KILLED);
}

void thread_init(void)
{
	kstack_set_fault_hook(thread_stack_fault);
}

/* ---- the list of threads ---- */

static void list_insert(struct thread *t)
{
	t->all_prev = NULL;
	t->all_next = all_threads;
	if (all_threads)
		all_threads->all_prev = t;
	all_threads = t;
	nr_threads++;
}

static void list_remove(struct thread *t)
{
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		all_threads = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	nr_threads--;
}

unsigned thread_count(void)
{
	return __atomic_load_n(&nr_threads, __ATOMIC_RELAXED);
}

void thread_for_each(void (*fn)(struct thread *t, void *ctx), void *ctx)
{
	uint64_t f = irq_save();
	for (struct thread *t = all_threads; t; t = t->all_next)
		fn(t, ctx);
	irq_restore(f);
}

/* ---- life ---- */

struct thread *kthread_create(void (*fn)(void *), void *arg, const char *name)
{
	static const struct kthread_opts defaults = { 0, PRIO_NORMAL };
	return kthread_create_opts(fn, arg, name, &defaults);
}

struct thread *kthread_create_opts(void (*fn)(void *), void *arg, const char *name,
				   const struct kthread_opts *opts)
{
	ASSERT(opts->prio < NR_PRIOS);
	if (!thread_cache) {
		thread_cache = kmem_cache_create("thread", sizeof(struct thread),
						 _Alignof(struct thread), 0, NULL);
		if (!thread_cache)
			return NULL;
	}
	struct thread *t = kmem_cache_alloc(thread_cache, KM_ZERO);
	if (!t)
		return NULL;
	ksnprintf(t->name, sizeof(t->name), "%s", name);
	t->fn = fn;
	t->arg = arg;
	t->prio = opts->prio;
	t->cpu = cpu_id();
	t->harness = current()->harness;
	if (!stack_alloc(t, opts->stack_limit)) {
		kmem_cache_free(thread_cache, t);
		return NULL;
	}
	/* What thread_switch pushes, lowest first: RFLAGS (interrupts off:
	 * thread_start turns them on), r15, r14, r13, r12, rbx (the thread),
	 * rbp (0: the end of the frame chain), then the return address. The
	 * return address sits at top - 8, so that thread_entry starts with
	 * the stack 16-byte aligned, as a call would leave it. */
	uint64_t *sp = (uint64_t *)t->stack_hi;
	*--sp = (uint64_t)thread_entry;
	*--sp = 0;			/* rbp */
	*--sp = (uint64_t)t;		/* rbx */
	for (int i = 0; i < 4; i++)
		*--sp = 0;		/* r12..r15 */
	*--sp = RFLAGS_RESERVED;	/* interrupts off */
	t->rsp = (uint64_t)sp;

	uint64_t f = irq_save();
	t->id = next_id++;
	list_insert(t);
	t->state = THREAD_BLOCKED;
	irq_restore(f);
	thread_wake(t);
	return t;
}

/* A new thread's first code (kernel/switch.S: thread_entry). */
_Noreturn void thread_start(struct thread *t);
_Noreturn void thread_start(struct thread *t)
{
	sched_reap();
	irq_enable();
	t->fn(t->arg);
	thread_exit_code(0);
}

_Noreturn void thread_exit_code(int code)
{
	cli();
	struct thread *t = current();
	t->exit_code = code;
	t->state = THREAD_DEAD;
	if (t->joiner)
		thread_wake(t->joiner);
	sched_exit();
}

_Noreturn void thread_exit(void)
{
	thread_exit_code(0);
}

void thread_reap(struct thread *t)
{
	if (t->stack)
		stack_free(t);
}

int kthread_join(struct thread *t)
{
	uint64_t f = irq_save();
	struct thread *self = current();
	ASSERT(t != self && !t->joiner);
	while (t->state != THREAD_DEAD) {
		t->joiner = self;
		self->state = THREAD_BLOCKED;
		sched_block();
	}
	sched_reap();
	list_remove(t);
	irq_restore(f);
	int code = t->exit_code;
	kmem_cache_free(thread_cache, t);
	return code;
}
