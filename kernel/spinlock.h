/*
 * kernel/spinlock.h - spinlocks: ones that disable interrupts while held,
 * and ones that disable only preemption.
 *
 * Every lock disables interrupts on its CPU for as long as it is held, so an
 * interrupt handler that allocates can never spin on a lock its own CPU's
 * interrupted code holds (hazard 3 in the architecture). There is one kind
 * of lock, not two, because the allocators must be callable from the timer.
 *
 * Lock order: each lock has a rank; a CPU may only take a lock of higher rank
 * than every lock it holds. Ranks are listed once, here, lowest first:
 *
 *   1. LOCK_RANK_VMM     kernel page tables (mm/vmm.c); allocates page-table
 *                        pages, so it is taken before the page allocator's
 *   2. LOCK_RANK_SLAB_CACHES  the list of all caches (mm/slab.c)
 *   3. LOCK_RANK_SLAB    one kmem_cache's slab lists (mm/slab.c); both are
 *                        reached from page allocation through kmem_reclaim
 *   4. LOCK_RANK_PMM     the buddy free lists (mm/pmm.c)
 *   5. LOCK_RANK_KSTACK  stack slots and the stack-page cache (mm/kstack.c);
 *                        taken last, so that any caller may hold another
 *                        lock, and nothing is taken under it
 *   6. LOCK_RANK_GC      the collector's heap (mm/gc_heap.c); nothing is
 *                        taken under it either: spans are mapped outside it
 *
 * Debug builds (-DDEBUG) check the order at run time and panic on inversion;
 * release builds keep only the cheap recursion check.
 */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

enum lock_rank {
	LOCK_RANK_NONE = 0,
	LOCK_RANK_VMM = 1,
	LOCK_RANK_SLAB_CACHES = 2,
	LOCK_RANK_SLAB = 3,
	LOCK_RANK_PMM = 4,
	LOCK_RANK_KSTACK = 5,
	LOCK_RANK_GC = 6,
};

struct spinlock {
	volatile uint32_t locked;
	enum lock_rank rank;
	const char *name;
};

#define SPINLOCK_INIT(name_, rank_) { 0, rank_, name_ }

#ifdef HOST_TEST
/* Host builds have no interrupts to mask, but may run on several threads
 * (benchmarks): a plain test-and-set lock. */
static inline uint64_t spin_lock_irqsave(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
	return 0;
}
static inline void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags)
{
	(void)flags;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}
#else
uint64_t spin_lock_irqsave(struct spinlock *l);
void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags);
/* Spinlocks this CPU holds now (a thread must hold none to block). A
 * page-fault handler reads it to know whether the code it interrupted
 * holds any (mm/kstack.c): the count is raised only once a lock is taken
 * and lowered before it is released; spin_lock_irqsave's with interrupts
 * off, spin_lock's with them on, but no lock spin_lock takes is one the
 * page allocator takes. Context: any; interrupts off for the answer to
 * stay true. */
unsigned spin_held_count(void);
#endif

static inline bool spin_is_locked(const struct spinlock *l) { return l->locked != 0; }

#ifndef HOST_TEST
/* A lock for data that no interrupt handler touches: preemption is off
 * while it is held, interrupts stay as they are. Taking one in a handler
 * panics. Context: thread. */
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
#endif

#endif
