/*
 * tests/kernel/thread_test.c - threads and the scheduler: create and join,
 * preemption that really interleaves busy threads and keeps every register
 * intact, sleep order, priorities, mutexes and wait queues under
 * preemption, and the heap's fast paths under preemption.
 */
#include "kernel/console.h"
#include "kernel/error.h"
#include "kernel/irq.h"
#include "kernel/ktest.h"
#include "kernel/spinlock.h"
#include "kernel/sync.h"
#include "kernel/thread.h"
#include "kernel/timer.h"
#include "kernel/x86.h"
#include "mm/kstack.h"
#include "mm/pmm.h"
#include "mm/slab.h"

/* Spin until cond or until the timer has ticked `ticks` times. */
#define SPIN_TICKS(cond, ticks)							\
	do {									\
		uint64_t spin_end_ = timer_ticks() + (ticks);			\
		while (!(cond) && timer_ticks() < spin_end_)			\
			__asm__ volatile("pause");				\
	} while (0)

static void store_arg(void *arg)
{
	*(volatile int *)arg = 1;
}

KTEST(thread, create_and_join_runs_the_function)
{
	int ran = 0;
	struct thread *t = kthread_create(store_arg, &ran, "store");
	KASSERT_NOT_NULL(t);
	KEXPECT_EQ(kthread_join(t), 0);
	KEXPECT_EQ(ran, 1);
}

static void exit_with(void *arg)
{
	thread_exit_code((int)(uintptr_t)arg);
}

KTEST(thread, exit_code_reaches_the_joiner)
{
	struct thread *t = kthread_create(exit_with, (void *)(uintptr_t)42, "exit42");
	KASSERT_NOT_NULL(t);
	KEXPECT_EQ(kthread_join(t), 42);
}

static void add_one(void *arg)
{
	__atomic_add_fetch((unsigned *)arg, 1, __ATOMIC_RELAXED);
}

/* 1,000 threads, created and joined in batches, all memory back. */
KTEST(thread, a_thousand_threads_come_and_go)
{
	enum { BATCH = 50, ROUNDS = 20 };
	struct thread *t[BATCH];
	unsigned ran = 0, before = thread_count();
	struct kstack_totals k0, k1;
	kstack_totals(&k0);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < BATCH; i++)
			KASSERT_NOT_NULL(t[i] = kthread_create(add_one, &ran, "one"));
		for (int i = 0; i < BATCH; i++)
			KEXPECT_EQ(kthread_join(t[i]), 0);
	}
	KEXPECT_EQ(ran, BATCH * ROUNDS);
	KEXPECT_EQ(thread_count(), before);
	/* Stack pages of exited threads are reused before new ones: each
	 * batch after the first takes as many as the cache kept. */
	kstack_totals(&k1);
	uint64_t per_batch = k1.cache_max < BATCH ? k1.cache_max : BATCH;
	kprintf("    # %llu stack pages reused of %u stacks (cache of %llu)\n",
		(unsigned long long)(k1.reuses - k0.reuses), BATCH * ROUNDS,
		(unsigned long long)k1.cache_max);
	KEXPECT_GE(k1.reuses - k0.reuses, (uint64_t)(ROUNDS - 1) * per_batch);
}

/* Two busy threads that never yield: the timer makes them take turns. */
struct busy {
	volatile bool stop;
	volatile unsigned last;		/* who ran last */
	volatile uint64_t turns;	/* changes of who runs */
	volatile uint64_t count[2];
};

struct busy_arg {
	struct busy *b;
	unsigned me;
};

static void busy_loop(void *arg)
{
	struct busy_arg *a = arg;
	while (!a->b->stop) {
		if (a->b->last != a->me) {
			a->b->last = a->me;
			a->b->turns++;
		}
		a->b->count[a->me]++;
	}
}

KTEST(thread, preemption_interleaves_busy_threads)
{
	static struct busy b;
	b = (struct busy){ .last = 2 };
	struct busy_arg a0 = { &b, 0 }, a1 = { &b, 1 };
	struct thread *t0 = kthread_create(busy_loop, &a0, "busy0");
	struct thread *t1 = kthread_create(busy_loop, &a1, "busy1");
	KASSERT_NOT_NULL(t0);
	KASSERT_NOT_NULL(t1);
	/* The test thread sleeps, so only the two compete. */
	thread_sleep_ns(20ull * 1000000000 / timer_hz());
	b.stop = true;
	kthread_join(t0);
	kthread_join(t1);
	kprintf("    # %llu turns, %llu and %llu loops\n", (unsigned long long)b.turns,
		(unsigned long long)b.count[0], (unsigned long long)b.count[1]);
	KEXPECT_GE(b.turns, 10);
	KEXPECT_GT(b.count[0], 0);
	KEXPECT_GT(b.count[1], 0);
}

/*
 * Every general register survives preemption: regs_spin fills all of them
 * with values derived from its seed, spins, and checks them (1 on a
 * mismatch), while the timer switches between two threads at 10 kHz. A
 * preemption that lost or mixed up a register (the frame saved from the
 * IST stack, restored by iretq) shows as a mismatch.
 */
uint64_t regs_spin(uint64_t seed, uint64_t loops);
__asm__(".text\n"
	".globl regs_spin\n"
	"regs_spin:\n\t"
	"pushq %rbx\n\t pushq %rbp\n\t pushq %r12\n\t pushq %r13\n\t pushq %r14\n\t pushq %r15\n\t"
	"movq %rsi, %rax\n\t"
	"leaq 1(%rdi), %rbx\n\t leaq 2(%rdi), %rcx\n\t leaq 3(%rdi), %rdx\n\t"
	"leaq 4(%rdi), %rsi\n\t leaq 5(%rdi), %rbp\n\t leaq 6(%rdi), %r8\n\t"
	"leaq 7(%rdi), %r9\n\t leaq 8(%rdi), %r10\n\t leaq 9(%rdi), %r11\n\t"
	"leaq 10(%rdi), %r12\n\t leaq 11(%rdi), %r13\n\t leaq 12(%rdi), %r14\n\t"
	"leaq 13(%rdi), %r15\n"
	"1:\n\t pause\n\t subq $1, %rax\n\t jnz 1b\n\t"
	"movq %rbx, %rax\n\t subq %rdi, %rax\n\t cmpq $1, %rax\n\t jne 9f\n\t"
	"movq %rcx, %rax\n\t subq %rdi, %rax\n\t cmpq $2, %rax\n\t jne 9f\n\t"
	"movq %rdx, %rax\n\t subq %rdi, %rax\n\t cmpq $3, %rax\n\t jne 9f\n\t"
	"movq %rsi, %rax\n\t subq %rdi, %rax\n\t cmpq $4, %rax\n\t jne 9f\n\t"
	"movq %rbp, %rax\n\t subq %rdi, %rax\n\t cmpq $5, %rax\n\t jne 9f\n\t"
	"movq %r8, %rax\n\t subq %rdi, %rax\n\t cmpq $6, %rax\n\t jne 9f\n\t"
	"movq %r9, %rax\n\t subq %rdi, %rax\n\t cmpq $7, %rax\n\t jne 9f\n\t"
	"movq %r10, %rax\n\t subq %rdi, %rax\n\t cmpq $8, %rax\n\t jne 9f\n\t"
	"movq %r11, %rax\n\t subq %rdi, %rax\n\t cmpq $9, %rax\n\t jne 9f\n\t"
	"movq %r12, %rax\n\t subq %rdi, %rax\n\t cmpq $10, %rax\n\t jne 9f\n\t"
	"movq %r13, %rax\n\t subq %rdi, %rax\n\t cmpq $11, %rax\n\t jne 9f\n\t"
	"movq %r14, %rax\n\t subq %rdi, %rax\n\t cmpq $12, %rax\n\t jne 9f\n\t"
	"movq %r15, %rax\n\t subq %rdi, %rax\n\t cmpq $13, %rax\n\t jne 9f\n\t"
	"xorl %eax, %eax\n\t jmp 8f\n"
	"9:\n\t movl $1, %eax\n"
	"8:\n\t popq %r15\n\t popq %r14\n\t popq %r13\n\t popq %r12\n\t popq %rbp\n\t popq %rbx\n\t"
	"ret\n");

struct regs_arg {
	uint64_t seed;
	volatile bool *stop;
	uint64_t rounds, bad;
};

static void check_registers(void *arg)
{
	struct regs_arg *a = arg;
	while (!*a->stop) {
		a->bad += regs_spin(a->seed + a->rounds * 16, 20000);
		a->rounds++;
	}
}

KTEST(thread, preempted_threads_keep_every_register)
{
	static volatile bool stop;
	static struct regs_arg a0, a1;
	unsigned hz = timer_hz();
	stop = false;
	a0 = (struct regs_arg){ .seed = 0x1111000000000000ull, .stop = &stop };
	a1 = (struct regs_arg){ .seed = 0x2222000000000000ull, .stop = &stop };
	timer_set_hz(TIMER_HZ_MAX);
	struct thread *t0 = kthread_create(check_registers, &a0, "regs0");
	struct thread *t1 = kthread_create(check_registers, &a1, "regs1");
	KASSERT_NOT_NULL(t0);
	KASSERT_NOT_NULL(t1);
	uint64_t s0 = timer_ticks();
	thread_sleep_ns(5000ull * 1000000000 / TIMER_HZ_MAX);	/* 5,000 ticks */
	stop = true;
	kthread_join(t0);
	kthread_join(t1);
	timer_set_hz(hz);
	kprintf("    # %llu ticks; rounds %llu and %llu; %llu and %llu switches\n",
		(unsigned long long)(timer_ticks() - s0), (unsigned long long)a0.rounds,
		(unsigned long long)a1.rounds, (unsigned long long)t0->switches,
		(unsigned long long)t1->switches);
	KEXPECT_EQ(a0.bad, 0);
	KEXPECT_EQ(a1.bad, 0);
	KEXPECT_GT(a0.rounds, 0);
	KEXPECT_GT(a1.rounds, 0);
}

/* Sleepers wake in the order of their wake times, not of their sleeps. */
struct sleeper {
	uint64_t ns;
	unsigned *next_slot;
	unsigned *order;
	unsigned me;
};

static void sleep_then_note(void *arg)
{
	struct sleeper *s = arg;
	thread_sleep_ns(s->ns);
	uint64_t f = irq_save();
	s->order[(*s->next_slot)++] = s->me;
	irq_restore(f);
}

KTEST(thread, sleepers_wake_in_order)
{
	enum { N = 5 };
	static const unsigned ticks[N] = { 50, 10, 40, 20, 30 };
	struct sleeper s[N];
	struct thread *t[N];
	unsigned order[N], slot = 0;
	uint64_t tick_ns = 1000000000ull / timer_hz();
	for (unsigned i = 0; i < N; i++) {
		s[i] = (struct sleeper){ ticks[i] * tick_ns, &slot, order, i };
		KASSERT_NOT_NULL(t[i] = kthread_create(sleep_then_note, &s[i], "sleeper"));
	}
	uint64_t start = timer_ticks();
	for (unsigned i = 0; i < N; i++)
		kthread_join(t[i]);
	KEXPECT_GE(timer_ticks() - start, 50);
	static const unsigned want[N] = { 1, 3, 4, 2, 0 };
	for (unsigned i = 0; i < N; i++)
		KEXPECT_EQ(order[i], want[i]);
}

/* A mutex keeps a read-modify-write whole while its holders are preempted
 * and yield in the middle. */
struct counted {
	struct mutex m;
	uint64_t value;
	unsigned rounds;
};

static void count_under_mutex(void *arg)
{
	struct counted *c = arg;
	for (unsigned i = 0; i < c->rounds; i++) {
		mutex_lock(&c->m);
		uint64_t v = c->value;
		if (i % 7 == 0)
			thread_yield();
		for (volatile int spin = 0; spin < 50; spin++)
			;
		c->value = v + 1;
		mutex_unlock(&c->m);
	}
}

KTEST(thread, mutex_serialises_preempted_threads)
{
	enum { N = 4 };
	static struct counted c;
	c = (struct counted){ .m = MUTEX_INIT("test", 1), .rounds = 2000 };
	struct thread *t[N];
	unsigned hz = timer_hz();
	timer_set_hz(TIMER_HZ_MAX);
	for (int i = 0; i < N; i++)
		KASSERT_NOT_NULL(t[i] = kthread_create(count_under_mutex, &c, "counter"));
	for (int i = 0; i < N; i++)
		kthread_join(t[i]);
	timer_set_hz(hz);
	KEXPECT_EQ(c.value, (uint64_t)N * c.rounds);
	KEXPECT_NULL(c.m.owner);
}

/* A producer and a consumer through a one-slot mailbox and wait queues. */
struct mailbox {
	struct waitq full, empty;
	volatile bool has;
	volatile uint64_t item;
	uint64_t sum, n;
};

static void consume(void *arg)
{
	struct mailbox *mb = arg;
	for (uint64_t i = 0; i < mb->n; i++) {
		wait_event(&mb->full, mb->has);
		mb->sum += mb->item;
		uint64_t f = irq_save();
		mb->has = false;
		irq_restore(f);
		waitq_wake_one(&mb->empty);
	}
}

KTEST(thread, wait_queues_pass_items_in_order)
{
	static struct mailbox mb;
	mb = (struct mailbox){ .full = WAITQ_INIT, .empty = WAITQ_INIT, .n = 500 };
	struct thread *t = kthread_create(consume, &mb, "consumer");
	KASSERT_NOT_NULL(t);
	for (uint64_t i = 1; i <= mb.n; i++) {
		wait_event(&mb.empty, !mb.has);
		mb.item = i;
		uint64_t f = irq_save();
		mb.has = true;
		irq_restore(f);
		waitq_wake_one(&mb.full);
	}
	kthread_join(t);
	KEXPECT_EQ(mb.sum, mb.n * (mb.n + 1) / 2);
}

/* A thread of higher priority, once woken, runs before the waker goes on. */
struct prio_probe {
	struct waitq wq;
	volatile bool go;
	volatile int ran;
};

static void high_waits(void *arg)
{
	struct prio_probe *p = arg;
	wait_event(&p->wq, p->go);
	p->ran = 1;
}

KTEST(thread, a_woken_higher_priority_thread_runs_first)
{
	static struct prio_probe p;
	p = (struct prio_probe){ .wq = WAITQ_INIT };
	struct kthread_opts o = { 0, PRIO_HIGH };
	struct thread *t = kthread_create_opts(high_waits, &p, "high", &o);
	KASSERT_NOT_NULL(t);
	SPIN_TICKS(t->state == THREAD_BLOCKED, 100);	/* it ran at once and waits */
	KEXPECT_EQ(t->state, THREAD_BLOCKED);
	p.go = true;
	waitq_wake_one(&p.wq);
	KEXPECT_EQ(p.ran, 1);	/* before this line: it preempted us */
	kthread_join(t);
}

/* The heap's fast paths under preemption: threads allocate and free
 * across every class while the timer switches them at 10 kHz; the
 * restartable sequences are rewound before a preempted thread's frame is
 * saved, so every object comes back intact. */
struct churn {
	uint64_t seed;
	unsigned ops;
	uint64_t bad;
};

static void heap_churn(void *arg)
{
	struct churn *c = arg;
	enum { SLOTS = 48 };
	uint64_t *slot[SLOTS] = { 0 };
	size_t size[SLOTS];
	uint64_t x = c->seed;
	for (unsigned i = 0; i < c->ops; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		unsigned k = (unsigned)((x >> 32) % SLOTS);
		if (slot[k]) {
			if (slot[k][0] != (uint64_t)slot[k] || slot[k][size[k] / 8 - 1] != c->seed)
				c->bad++;
			kfree(slot[k]);
			slot[k] = NULL;
		} else {
			size[k] = 16 + (x >> 20) % 4080;
			size[k] &= ~7ull;
			slot[k] = kmalloc(size[k], 0);
			if (slot[k]) {
				slot[k][0] = (uint64_t)slot[k];
				slot[k][size[k] / 8 - 1] = c->seed;
			}
		}
	}
	for (unsigned k = 0; k < SLOTS; k++)
		kfree(slot[k]);
}

KTEST(thread, heap_fast_paths_survive_preemption)
{
	enum { N = 3 };
	static struct churn c[N];
	struct thread *t[N];
	unsigned hz = timer_hz();
	timer_set_hz(TIMER_HZ_MAX);
	for (int i = 0; i < N; i++) {
		c[i] = (struct churn){ .seed = 0x5eed0000u + (uint64_t)i, .ops = 60000 };
		KASSERT_NOT_NULL(t[i] = kthread_create(heap_churn, &c[i], "churn"));
	}
	for (int i = 0; i < N; i++)
		kthread_join(t[i]);
	timer_set_hz(hz);
	for (int i = 0; i < N; i++)
		KEXPECT_EQ(c[i].bad, 0);
	slab_check();
}

/* KEXPECTs in a thread the test started count against the test. */
static void fails_once(void *arg)
{
	(void)arg;
	KEXPECT_TRUE(false);
}

static void inner_thread_fails(void)
{
	struct thread *t = kthread_create(fails_once, NULL, "fails");
	KASSERT_NOT_NULL(t);
	kthread_join(t);
}

static struct thread *left_behind;

static void sleep_a_little(void *arg)
{
	(void)arg;
	thread_sleep_ns(5ull * 1000000000 / timer_hz());
}

static void inner_leaves_a_thread(void)
{
	left_behind = kthread_create(sleep_a_little, NULL, "left");
}

static const struct ktest thread_fails = { .suite = "inner", .name = "thread_fails",
					   .fn = inner_thread_fails, .file = __FILE__, .line = __LINE__ };
static const struct ktest leaves_a_thread = { .suite = "inner", .name = "leaves_a_thread",
					      .fn = inner_leaves_a_thread, .file = __FILE__,
					      .line = __LINE__ };

KTEST(thread, a_failure_in_a_child_thread_fails_the_test)
{
	char out[512];
	struct ktest_outcome r = ktest_run_captured(&thread_fails, out, sizeof(out));
	KEXPECT_EQ(r.failures, 1);
}

KTEST(thread, a_test_leaving_a_thread_alive_fails)
{
	char out[512];
	struct ktest_outcome r = ktest_run_captured(&leaves_a_thread, out, sizeof(out));
	KEXPECT_EQ(r.failures, 1);
	KEXPECT_CONTAINS(out, "test left 1 threads alive");
	KASSERT_NOT_NULL(left_behind);
	KEXPECT_EQ(kthread_join(left_behind), 0);
}

/* While a thread holds a spin_lock the timer does not switch it away; the
 * switch it asked for comes at the unlock. */
static void count_forever(void *arg)
{
	struct busy *b = arg;
	while (!b->stop)
		b->count[0]++;
}

KTEST(thread, a_spin_lock_holds_preemption_off)
{
	static struct busy b;
	static struct spinlock lock = SPINLOCK_INIT("test-spin", LOCK_RANK_PMM);
	b = (struct busy){ 0 };
	struct thread *t = kthread_create(count_forever, &b, "counter");
	KASSERT_NOT_NULL(t);
	thread_yield();
	spin_lock(&lock);
	uint64_t before = b.count[0], start = timer_ticks();
	SPIN_TICKS(false, 5);
	uint64_t during = b.count[0] - before;
	KEXPECT_GE(timer_ticks() - start, 5);
	KEXPECT_TRUE(irq_enabled());
	spin_unlock(&lock);
	SPIN_TICKS(b.count[0] != before, 50);	/* now it runs again */
	b.stop = true;
	kthread_join(t);
	KEXPECT_EQ(during, 0);
	KEXPECT_GT(b.count[0], before);
}

/* ---- threads on growable stacks (mm/kstack) ---- */

/* Recursion that writes every frame and checks it on the way back. */
static __attribute__((noinline)) uint64_t recurse(uint64_t depth, uint64_t seed)
{
	volatile uint64_t frame[24];
	for (unsigned i = 0; i < 24; i++)
		frame[i] = seed ^ depth ^ i;
	uint64_t bad = depth ? recurse(depth - 1, seed) : 0;
	for (unsigned i = 0; i < 24; i++)
		bad += frame[i] != (seed ^ depth ^ i);
	return bad;
}

struct deep {
	uint64_t depth, bad, faults;
};

static void go_deep(void *arg)
{
	struct deep *d = arg;
	struct kstack_stats before, after;
	kstack_stats(current()->stack, &before);
	d->bad = recurse(d->depth, 0x5eed);
	kstack_stats(current()->stack, &after);
	d->faults = after.growth_faults - before.growth_faults;
}

/* A thread given a 1 MiB stack recurses through nearly all of it, with
 * interrupts on: each fault maps pages from the allocator, none kills it,
 * and every frame reads back what was written. */
KTEST(thread, deep_recursion_grows_the_stack_and_is_not_killed)
{
	struct deep d = { .depth = (1024 * 1024 - 64 * 1024) / 256 };
	struct kthread_opts o = { 1024 * 1024 + 64 * 1024, PRIO_NORMAL };
	struct thread *t = kthread_create_opts(go_deep, &d, "deep", &o);
	KASSERT_NOT_NULL(t);
	KEXPECT_EQ(kthread_join(t), 0);
	kprintf("    # %llu frames, %llu growth faults\n", (unsigned long long)d.depth,
		(unsigned long long)d.faults);
	KEXPECT_EQ(d.bad, 0);
	KEXPECT_GE(d.faults, 200);
}

static void recurse_forever(void *arg)
{
	(void)arg;
	recurse(~0ull >> 1, 1);
}

/* Past its limit a thread hits the guard: the report names it, it is
 * killed, its joiner hears so, and everything else goes on. */
KTEST(thread, recursion_past_the_limit_kills_only_that_thread)
{
	static char out[2048];
	unsigned before = thread_count();
	console_capture(out, sizeof(out));
	struct thread *t = kthread_create(recurse_forever, NULL, "runaway");
	KASSERT_NOT_NULL(t);
	int code = kthread_join(t);
	console_capture(NULL, 0);
	KEXPECT_EQ(code, KERR_KILLED);
	KEXPECT_CONTAINS(out, "BUG: stack guard page was hit at");
	KEXPECT_CONTAINS(out, "in thread runaway (stack");
	KEXPECT_CONTAINS(out, "limit 64 KiB");
	KEXPECT_CONTAINS(out, "recurse");
	KEXPECT_CONTAINS(out, "thread runaway");
	KEXPECT_EQ(thread_count(), before);
	/* And the scheduler still runs threads. */
	int ran = 0;
	struct thread *u = kthread_create(store_arg, &ran, "after");
	KASSERT_NOT_NULL(u);
	KEXPECT_EQ(kthread_join(u), 0);
	KEXPECT_EQ(ran, 1);
	kstack_check();
}

/* The timer lands while a thread's stack pointer sits on its last mapped
 * bytes, and preempts it there: interrupts arrive on an IST stack and the
 * frame is saved in struct thread, so nothing is pushed below. */
static volatile bool ticked;

static void note_tick(void *ctx)
{
	(void)ctx;
	ticked = true;
}

struct low_sp {
	uint64_t faults, switches;
};

static void sit_on_the_last_byte(void *arg)
{
	struct low_sp *r = arg;
	struct kstack_stats before, after;
	kstack_stats(current()->stack, &before);
	uint64_t bottom = kstack_mapped_bottom(current()->stack), sw = current()->switches;
	ticked = false;
	__asm__ volatile("movq %%rsp, %%rbx\n\t"
			 "movq %[low], %%rsp\n\t"
			 "1: pause\n\t"
			 "cmpb $0, (%[flag])\n\t"
			 "je 1b\n\t"
			 "movq %%rbx, %%rsp"
			 :: [low] "r"(bottom + 8), [flag] "r"(&ticked) : "rbx", "memory", "cc");
	r->switches = current()->switches - sw;
	kstack_stats(current()->stack, &after);
	r->faults = after.growth_faults - before.growth_faults;
}

KTEST(thread, a_tick_lands_with_the_sp_on_the_last_mapped_byte)
{
	static struct busy b;
	b = (struct busy){ 0 };
	struct low_sp r = { ~0ull, 0 };
	struct thread *busy = kthread_create(count_forever, &b, "busy");
	KASSERT_NOT_NULL(busy);
	timer_set_handler(note_tick, NULL);
	struct thread *t = kthread_create(sit_on_the_last_byte, &r, "low");
	KASSERT_NOT_NULL(t);
	KEXPECT_EQ(kthread_join(t), 0);
	timer_set_handler(NULL, NULL);
	b.stop = true;
	kthread_join(busy);
	KEXPECT_EQ(r.faults, 0);
	KEXPECT_GT(r.switches, 0);	/* preempted there, and resumed */
}

/* kstack_trim unmaps what a stopped thread's stack no longer uses; the
 * thread runs on, growing again. */
struct trimmed {
	struct waitq wq;
	volatile bool parked, go;
	uint64_t bad;
};

static void grow_park_grow(void *arg)
{
	struct trimmed *tr = arg;
	tr->bad = recurse(32 * 1024 / 256, 7);
	uint64_t f = irq_save();
	tr->parked = true;
	while (!tr->go)
		waitq_wait_irqoff(&tr->wq);
	irq_restore(f);
	tr->bad += recurse(32 * 1024 / 256, 8);
}

KTEST(thread, trim_lowers_the_mapped_count_and_the_thread_runs_on)
{
	static struct trimmed tr;
	tr = (struct trimmed){ .wq = WAITQ_INIT };
	struct thread *t = kthread_create(grow_park_grow, &tr, "trimmed");
	KASSERT_NOT_NULL(t);
	SPIN_TICKS(tr.parked && t->state == THREAD_BLOCKED, 1000);
	KASSERT_TRUE(t->state == THREAD_BLOCKED);
	struct kstack_stats before, after;
	kstack_stats(t->stack, &before);
	kstack_trim(t->stack, t->rsp);
	kstack_stats(t->stack, &after);
	KEXPECT_LT(after.mapped, before.mapped);
	KEXPECT_GE(before.mapped, 32 * 1024);
	KEXPECT_EQ(after.trims, before.trims + 1);
	tr.go = true;
	waitq_wake_one(&tr.wq);
	KEXPECT_EQ(kthread_join(t), 0);
	KEXPECT_EQ(tr.bad, 0);
}

/* Thousands of idle threads at once, each with one stack page mapped,
 * scaled to the machine: 10,000 at 128 MiB. Reports what one costs. */
static void park(void *arg)
{
	struct waitq *wq = arg;
	uint64_t f = irq_save();
	waitq_wait_irqoff(wq);
	irq_restore(f);
}

KTEST(thread, ten_thousand_idle_threads_at_128_mib)
{
	static struct waitq wq = WAITQ_INIT;
	static struct thread *t[10000];
	uint64_t ram = kernel_pmm.total_pages * PAGE_SIZE;
	unsigned n = ram >= 120ull << 20 || ram / (12 * 1024) > 10000 ? 10000
									  : (unsigned)(ram / (12 * 1024));
	struct pmm_stats p0, p1;
	kmem_reclaim();
	pmm_stats(&kernel_pmm, &p0);
	unsigned made = 0, one_page = 0;
	for (; made < n; made++)
		if (!(t[made] = kthread_create(park, &wq, "idle")))
			break;
	thread_sleep_ns(5ull * 1000000000 / timer_hz());	/* each runs once and parks */
	pmm_stats(&kernel_pmm, &p1);
	for (unsigned i = 0; i < made; i++) {
		struct kstack_stats st;
		kstack_stats(t[i]->stack, &st);
		one_page += st.mapped == PAGE_SIZE;
	}
	uint64_t bytes = (p0.free_pages - p1.free_pages) * PAGE_SIZE;
	kprintf("    # %u threads alive, %llu bytes each (stack, struct thread, page tables, slab)\n",
		made, (unsigned long long)(made ? bytes / made : 0));
	KEXPECT_EQ(made, n);
	KEXPECT_EQ(one_page, made);
	KEXPECT_LE(bytes / (made ? made : 1), 8192);
	KEXPECT_EQ(waitq_wake_all(&wq), made);
	for (unsigned i = 0; i < made; i++)
		KEXPECT_EQ(kthread_join(t[i]), 0);
}

/* A frame larger than the stack and its guard together (64 KiB each by
 * default): built with -fstack-clash-protection, it probes its pages from
 * the top and hits the guard, where without the probes its low end would
 * land past the guard, in the slot below, on its stack's top pages. The
 * thread is killed and reported. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wframe-larger-than="
static __attribute__((noinline)) void huge_frame(void)
{
	volatile uint8_t big[160 * 1024];
	big[0] = 1;
	big[sizeof(big) - 1] = 2;
}
#pragma GCC diagnostic pop

static void run_huge_frame(void *arg)
{
	(void)arg;
	huge_frame();
}

KTEST(thread, a_frame_bigger_than_the_guard_hits_it)
{
	static char out[2048];
	console_capture(out, sizeof(out));
	struct thread *t = kthread_create(run_huge_frame, NULL, "huge");
	KASSERT_NOT_NULL(t);
	int code = kthread_join(t);
	console_capture(NULL, 0);
	KEXPECT_EQ(code, KERR_KILLED);
	KEXPECT_CONTAINS(out, "BUG: stack guard page was hit at");
	KEXPECT_CONTAINS(out, "huge_frame");
	kstack_check();
}

/* A thread that overflows holding a mutex cannot be killed (its waiters
 * would hang): the kernel panics with the same report. */
static void overflow_holding_a_mutex(void *arg)
{
	mutex_lock(arg);
	recurse(~0ull >> 1, 2);
}

KTEST_DEATH(thread, an_overflow_holding_a_mutex_panics, "stack guard page was hit")
{
	static struct mutex m = MUTEX_INIT("held", 1);
	struct thread *t = kthread_create(overflow_holding_a_mutex, &m, "holder");
	KASSERT_NOT_NULL(t);
	kthread_join(t);
}

/* Console output is line-atomic: two threads print lines, each in three
 * pieces, while the timer switches them at 10 kHz; every line arrives
 * whole. */
static void print_lines(void *arg)
{
	char tag = *(const char *)arg;
	for (int i = 0; i < 150; i++) {
		kprintf("<%c%03d ", tag, i);
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		kprintf("middle %c ", tag);
		kprintf("end%c>\n", tag);
	}
}

KTEST(thread, console_lines_never_interleave)
{
	static char out[16384];
	static const char a = 'A', b = 'B';
	unsigned hz = timer_hz();
	timer_set_hz(TIMER_HZ_MAX);
	console_capture(out, sizeof(out));
	struct thread *ta = kthread_create(print_lines, (void *)&a, "printA");
	struct thread *tb = kthread_create(print_lines, (void *)&b, "printB");
	if (ta)
		kthread_join(ta);
	if (tb)
		kthread_join(tb);
	console_capture(NULL, 0);
	timer_set_hz(hz);
	KASSERT_NOT_NULL(ta);
	KASSERT_NOT_NULL(tb);
	unsigned lines = 0, broken = 0, switches = 0;
	char last = 0;
	for (const char *p = out; *p; ) {
		const char *nl = p;
		while (*nl && *nl != '\n')
			nl++;
		char t = p[1];
		/* "<T### middle T endT>" */
		bool ok = nl - p == 20 && p[0] == '<' && (t == 'A' || t == 'B') && p[13] == t &&
			  p[18] == t && p[19] == '>';
		broken += !ok;
		switches += last && t != last;
		last = t;
		lines++;
		p = *nl ? nl + 1 : nl;
	}
	kprintf("    # %u lines, %u changes of thread between lines\n", lines, switches);
	KEXPECT_EQ(lines, 300);
	KEXPECT_EQ(broken, 0);
	KEXPECT_GT(switches, 0);
}
