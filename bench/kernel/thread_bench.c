/*
 * bench/kernel/thread_bench.c - guest cost of the scheduler, in TSC ticks
 * (instructions under -icount shift=0): `make bench` prints them.
 *
 * Cases:
 *  - thread_switch: two threads ping-pong with thread_yield; a sample is
 *    one round trip (two switches), reported halved as `switch`;
 *  - thread_create_join: create a thread that returns at once, and join
 *    it, with the thread cache and stack supply warm;
 *  - thread_idle_bytes: what an idle thread costs, in bytes.
 */
#include "kernel/kbench.h"
#include "kernel/sync.h"
#include "kernel/thread.h"
#include "mm/pmm.h"
#include "mm/slab.h"

#define ROUNDS	2000

static struct kbench_samples rt_s, create_s;
static volatile bool stop;

static void yield_back(void *arg)
{
	(void)arg;
	while (!stop)
		thread_yield();
}

KBENCH(thread_switch)
{
	rt_s.n = 0;
	stop = false;
	struct thread *t = kthread_create(yield_back, NULL, "pong");
	if (!t)
		return;
	thread_yield();		/* let it start */
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t t0 = kbench_cycles();
		thread_yield();
		kbench_record(&rt_s, kbench_cycles() - t0);
	}
	stop = true;
	kthread_join(t);
	for (unsigned i = 0; i < rt_s.n; i++)
		rt_s.v[i] /= 2;
	kbench_report("thread.switch", &rt_s);
}

static void nothing(void *arg)
{
	(void)arg;
}

KBENCH(thread_create_join)
{
	create_s.n = 0;
	for (unsigned i = 0; i < 16; i++)	/* warm the caches */
		kthread_join(kthread_create(nothing, NULL, "warm"));
	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t t0 = kbench_cycles();
		struct thread *t = kthread_create(nothing, NULL, "bench");
		if (!t)
			break;
		kthread_join(t);
		kbench_record(&create_s, kbench_cycles() - t0);
	}
	kbench_report("thread.create_join", &create_s);
}

/* Memory per idle thread, in bytes (not instructions): 1,000 threads
 * parked on a wait queue, the page allocator's free pages before and
 * after (stack page, page-table share, struct thread's slab share). */
static void park(void *arg)
{
	uint64_t f = irq_save();
	waitq_wait_irqoff(arg);
	irq_restore(f);
}

KBENCH(thread_idle_bytes)
{
	enum { N = 1000 };
	static struct thread *t[N];
	static struct waitq wq = WAITQ_INIT;
	struct pmm_stats p0, p1;
	unsigned made = 0;
	kmem_reclaim();
	pmm_stats(&kernel_pmm, &p0);
	while (made < N && (t[made] = kthread_create(park, &wq, "idle")))
		made++;
	thread_sleep_ns(1000000);
	pmm_stats(&kernel_pmm, &p1);
	waitq_wake_all(&wq);
	for (unsigned i = 0; i < made; i++)
		kthread_join(t[i]);
	/* A figure, not a timing: stored as is (kbench_record would take the
	 * timer's cost off it). */
	create_s.n = made ? 1 : 0;
	create_s.v[0] = made ? (p0.free_pages - p1.free_pages) * PAGE_SIZE / made : 0;
	kbench_report("thread.idle_bytes", &create_s);
}
