/*
 * kernel/sync.c - wait queues and mutexes.
 *
 * A wait queue is a FIFO of blocked threads, linked through struct
 * thread's `next` (a blocked thread is on no run queue). Waiting:
 *   1. with interrupts off, the caller finds its condition false;
 *   2. it joins the queue, marks itself blocked and gives up the CPU;
 *   3. a waker takes it off the queue and makes it runnable
 *      (thread_wake), from any context.
 * One CPU, so interrupts off is the queue's lock; SMP gives each queue a
 * spinlock taken in 1-3.
 *
 * A mutex is an owner and a wait queue. mutex_unlock hands ownership
 * straight to the first waiter (no barging, FIFO). Each thread counts the
 * mutexes it holds (a thread holding one cannot be killed safely), and in
 * DEBUG builds keeps the first few it holds to check the rank order.
 */
#include "kernel/sync.h"
#include "kernel/irq.h"
#include "kernel/panic.h"
#include "kernel/thread.h"

void waitq_wait_irqoff(struct waitq *wq)
{
	ASSERT(!irq_enabled());
	struct thread *t = current();
	t->next = NULL;
	if (wq->tail)
		wq->tail->next = t;
	else
		wq->head = t;
	wq->tail = t;
	t->waiting_on = wq;
	t->state = THREAD_BLOCKED;
	sched_block();
}

static struct thread *take_first(struct waitq *wq)
{
	struct thread *t = wq->head;
	if (t) {
		wq->head = t->next;
		if (!wq->head)
			wq->tail = NULL;
		t->next = NULL;
		t->waiting_on = NULL;
	}
	return t;
}

bool waitq_wake_one(struct waitq *wq)
{
	uint64_t f = irq_save();
	struct thread *t = take_first(wq);
	irq_restore(f);
	if (t)
		thread_wake(t);
	return t != NULL;
}

unsigned waitq_wake_all(struct waitq *wq)
{
	uint64_t f = irq_save();
	struct thread *list = wq->head;
	wq->head = wq->tail = NULL;
	irq_restore(f);
	unsigned n = 0;
	while (list) {
		struct thread *t = list;
		list = t->next;
		t->next = NULL;
		t->waiting_on = NULL;
		thread_wake(t);
		n++;
	}
	return n;
}

#define HELD_SLOTS	(sizeof(((struct thread *)0)->held) / sizeof(struct mutex *))

static void took(struct thread *t, struct mutex *m)
{
#ifdef DEBUG
	for (unsigned i = 0; i < HELD_SLOTS; i++)
		if (t->held[i] && t->held[i]->rank >= m->rank)
			panic("mutex order: taking %s (rank %u) while holding %s (rank %u)", m->name,
			      m->rank, t->held[i]->name, t->held[i]->rank);
	for (unsigned i = 0; i < HELD_SLOTS; i++)
		if (!t->held[i]) {
			t->held[i] = m;
			break;
		}
#else
	(void)m;
#endif
	t->mutexes_held++;
}

static void released(struct thread *t, struct mutex *m)
{
	for (unsigned i = 0; i < HELD_SLOTS; i++)
		if (t->held[i] == m)
			t->held[i] = NULL;
	t->mutexes_held--;
}

void mutex_lock(struct mutex *m)
{
	uint64_t f = irq_save();
	struct thread *t = current();
	if (m->owner == t)
		panic("mutex %s: recursive lock by %s", m->name, t->name);
	if (!m->owner) {
		m->owner = t;
	} else {
		/* The unlock hands it over: when this wakes, t owns m. */
		while (m->owner != t)
			waitq_wait_irqoff(&m->waiters);
	}
	took(t, m);
	irq_restore(f);
}

bool mutex_trylock(struct mutex *m)
{
	uint64_t f = irq_save();
	bool got = !m->owner;
	if (got) {
		m->owner = current();
		took(m->owner, m);
	}
	irq_restore(f);
	return got;
}

void mutex_unlock(struct mutex *m)
{
	uint64_t f = irq_save();
	struct thread *t = current();
	if (m->owner != t)
		panic("mutex %s: unlocked by %s, which does not own it (owner %s)", m->name,
		      t->name, m->owner ? m->owner->name : "none");
	released(t, m);
	struct thread *next = m->waiters.head;
	if (next) {
		m->waiters.head = next->next;
		if (!m->waiters.head)
			m->waiters.tail = NULL;
		next->next = NULL;
		next->waiting_on = NULL;
		m->owner = next;
	} else {
		m->owner = NULL;
	}
	irq_restore(f);
	if (next)
		thread_wake(next);
}

bool mutex_held(const struct mutex *m)
{
	return m->owner == current();
}
