/*
 * kernel/spinlock.c - acquire and release, with the lock-order check.
 *
 * Acquire: save RFLAGS and disable interrupts, then test-and-set with
 * "pause" while spinning (reads only, so waiting CPUs do not bounce the
 * cache line). Release: store 0 with release semantics, restore RFLAGS.
 * The held-lock stack is per CPU; one CPU for now.
 */
#include "kernel/spinlock.h"
#include "kernel/panic.h"
#include "kernel/x86.h"

#define MAX_HELD	8

static struct {
	const struct spinlock *held[MAX_HELD];
	unsigned depth;
} cpu0_locks;

uint64_t spin_lock_irqsave(struct spinlock *l)
{
	uint64_t flags = irq_save();

	for (unsigned i = 0; i < cpu0_locks.depth; i++)
		if (cpu0_locks.held[i] == l)
			panic("spinlock %s: recursive acquire", l->name);
#ifdef DEBUG
	if (cpu0_locks.depth && cpu0_locks.held[cpu0_locks.depth - 1]->rank >= l->rank)
		panic("spinlock order: taking %s (rank %d) while holding %s (rank %d)", l->name,
		      l->rank, cpu0_locks.held[cpu0_locks.depth - 1]->name,
		      cpu0_locks.held[cpu0_locks.depth - 1]->rank);
#endif
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (l->locked)
			__asm__ volatile("pause");

	if (cpu0_locks.depth == MAX_HELD)
		panic("spinlock %s: more than %d locks held", l->name, MAX_HELD);
	cpu0_locks.held[cpu0_locks.depth++] = l;
	return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags)
{
	if (!cpu0_locks.depth || cpu0_locks.held[cpu0_locks.depth - 1] != l)
		panic("spinlock %s: released out of order or not held", l->name);
	cpu0_locks.depth--;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	irq_restore(flags);
}

unsigned spin_held_count(void)
{
	return cpu0_locks.depth;
}
