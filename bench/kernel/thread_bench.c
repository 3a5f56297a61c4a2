/*
 * bench/kernel/thread_bench.c - guest cost of the scheduler, in TSC ticks
 * (instructions under -icount shift=0): `make bench` prints them.
 *
 * Cases:
 *  - thread_switch: two threads ping-pong with thread_yield; a sample is
 *    one round trip (two switches), reported halved as `switch`;
 *  - thread_create_join: create a thread that returns at once, and join
 *    it, with the thread cache and stack supply warm.
 */
#include "kernel/kbench.h"
#include "kernel/thread.h"

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
