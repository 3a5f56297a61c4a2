/*
 * kernel/sync.h - sleeping synchronisation for threads: wait queues and
 * mutexes (design: kernel/sync.c). Spinlocks are kernel/spinlock.h.
 */
#ifndef KERNEL_SYNC_H
#define KERNEL_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/x86.h"

struct thread;

/* Threads waiting for something, woken in the order they came. */
struct waitq {
	struct thread *head, *tail;	/* interrupts off */
};

#define WAITQ_INIT	{ NULL, NULL }

/* Block the running thread on wq until a wake. Interrupts must be off (the
 * caller tested its condition with them off, so no wake can come between
 * the test and the block); they are off again on return. Context: thread,
 * no spinlock held. */
void waitq_wait_irqoff(struct waitq *wq);

/* Wake the first waiter, or every waiter. Return: whether one was woken /
 * how many. Context: any, interrupt handlers included. */
bool waitq_wake_one(struct waitq *wq);
unsigned waitq_wake_all(struct waitq *wq);

/* Wait on wq until cond holds; cond is evaluated with interrupts off. */
#define wait_event(wq, cond)							\
	do {									\
		uint64_t wait_flags_ = irq_save();				\
		while (!(cond))							\
			waitq_wait_irqoff(wq);					\
		irq_restore(wait_flags_);					\
	} while (0)

/*
 * A sleeping mutex: one owner; others wait on its queue. Unlocking hands
 * the mutex to the first waiter, so waiters are served in order. Ranks, as
 * spinlocks' (kernel/spinlock.h), are checked in DEBUG builds: a thread
 * takes mutexes in rising rank. Unlocking one the caller does not own
 * panics in every build.
 */
struct mutex {
	struct thread *owner;		/* interrupts off */
	struct waitq waiters;
	const char *name;
	unsigned rank;
};

#define MUTEX_INIT(name_, rank_)	{ NULL, WAITQ_INIT, name_, rank_ }

/* Context: thread, no spinlock held. */
void mutex_lock(struct mutex *m);
bool mutex_trylock(struct mutex *m);
void mutex_unlock(struct mutex *m);
/* Does the running thread own m? */
bool mutex_held(const struct mutex *m);

#endif
