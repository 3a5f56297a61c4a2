/*
 * tests/kernel/spinlock_test.c - the lock order (kernel/spinlock.h): locks
 * taken by rising rank nest, and in a debug kernel a lock taken below the
 * rank of the one held panics, naming both. Release kernels compile that
 * check out, so they skip its death test.
 */
#include "kernel/ktest.h"
#include "kernel/spinlock.h"

/* The tests' own locks, ranked as the page tables' and the page allocator's:
 * the first and the last in the order. */
static struct spinlock low = SPINLOCK_INIT("test-low", LOCK_RANK_VMM);
static struct spinlock high = SPINLOCK_INIT("test-high", LOCK_RANK_PMM);

KTEST(spinlock, rising_ranks_nest)
{
	uint64_t f = spin_lock_irqsave(&low);
	uint64_t g = spin_lock_irqsave(&high);
	KEXPECT_TRUE(spin_is_locked(&low));
	KEXPECT_TRUE(spin_is_locked(&high));
	spin_unlock_irqrestore(&high, g);
	spin_unlock_irqrestore(&low, f);
	KEXPECT_FALSE(spin_is_locked(&low));
	KEXPECT_FALSE(spin_is_locked(&high));
}

KTEST_DEATH_DEBUG(spinlock, falling_rank_panics,
		  "spinlock order: taking test-low (rank 1) while holding test-high (rank 4)")
{
	spin_lock_irqsave(&high);
	spin_lock_irqsave(&low);
}
