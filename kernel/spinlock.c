/*
 * kernel/spinlock.c - acquire and release, with the lock-order check.
 *
 * Two kinds: spin_lock_irqsave disables interrupts (the allocators', which
 * interrupt handlers use too); spin_lock disables only preemption, for
 * data no handler touches. Acquire: save RFLAGS and disable interrupts (or
 * preemption), then test-and-set with
 * "pause" while spinning (reads only, so waiting CPUs do not bounce the
 * cache line). Release: store 0 with release semantics, restore RFLAGS.
 * The held-lock stack is per CPU; one CPU for now.
 */
#include "kernel/spinlock.h"
#include "kernel/panic.h"
#include "kernel/thread.h"
#include "kernel/trap.h"
#include "kernel/x86.h"

#define MAX_HELD	8

/* The locks this CPU holds, innermost last, each with the handler
 * nesting it was taken at: a handler's locks are checked against the
 * handler's own, since a lock that leaves interrupts on (spin_lock) may be
 * held by the thread the handler interrupted. */
static struct {
	struct { const struct spinlock *lock; unsigned level; } held[MAX_HELD];
	unsigned depth;
} cpu0_locks;

unsigned spin_held_count(void)
{
	return cpu0_locks.depth;
}

static inline __attribute__((always_inline)) void acquire(struct spinlock *l)
{
	/* The level matters only to the DEBUG rank check. */
#ifdef DEBUG
	unsigned level = trap_level();
#else
	unsigned level = 0;
#endif
	for (unsigned i = 0; i < cpu0_locks.depth; i++)
		if (cpu0_locks.held[i].lock == l)
			panic("spinlock %s: recursive acquire", l->name);
#ifdef DEBUG
	if (cpu0_locks.depth && cpu0_locks.held[cpu0_locks.depth - 1].level == level &&
	    cpu0_locks.held[cpu0_locks.depth - 1].lock->rank >= l->rank)
		panic("spinlock order: taking %s (rank %d) while holding %s (rank %d)", l->name,
		      l->rank, cpu0_locks.held[cpu0_locks.depth - 1].lock->name,
		      cpu0_locks.held[cpu0_locks.depth - 1].lock->rank);
#endif
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (l->locked)
			__asm__ volatile("pause");

	if (cpu0_locks.depth == MAX_HELD)
		panic("spinlock %s: more than %d locks held", l->name, MAX_HELD);
	cpu0_locks.held[cpu0_locks.depth].lock = l;
	cpu0_locks.held[cpu0_locks.depth].level = level;
	cpu0_locks.depth++;
}

static inline __attribute__((always_inline)) void release(struct spinlock *l)
{
	if (!cpu0_locks.depth || cpu0_locks.held[cpu0_locks.depth - 1].lock != l)
		panic("spinlock %s: released out of order or not held", l->name);
	cpu0_locks.depth--;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

uint64_t spin_lock_irqsave(struct spinlock *l)
{
	uint64_t flags = irq_save();
	acquire(l);
	return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags)
{
	release(l);
	irq_restore(flags);
}

void spin_lock(struct spinlock *l)
{
	if (in_trap())
		panic("spinlock %s: spin_lock in a handler, which it does not hold off", l->name);
	preempt_disable();
	acquire(l);
}

void spin_unlock(struct spinlock *l)
{
	release(l);
	preempt_enable();
}
