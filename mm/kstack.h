/*
 * mm/kstack.h - kernel-thread stacks: a reservation each in the stack
 * region, grown by page faults, trimmed on request (design: mm/kstack.c).
 *
 * Geometry, shared with the host tests: the region (KSTACK_REGION_BASE,
 * 16 TiB) is cut into KSTACK_CLASSES sub-regions of 2 TiB, one per slot
 * size, 128 KiB, 256 KiB, ... 16 MiB. A stack of limit L takes the smallest
 * slot that holds L plus a guard page, and uses its top L bytes:
 *
 *   slot base                                                   slot end
 *   | guard (never mapped, >= 1 page) | reservation: L bytes       |meta|
 *                                     lo  ...grows down...  top ^   hi
 *
 * so reservations never touch (a slot's guard lies between its reservation
 * and the slot below), and an address finds its slot, and the struct
 * kstack at the slot's top, by arithmetic. Slots of 128 KiB pack 16 to a
 * 2 MiB page-table page.
 */
#ifndef MM_KSTACK_H
#define MM_KSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/layout.h"

#define KSTACK_SLOT_SHIFT_MIN	17	/* 128 KiB: the default limit and a 64 KiB guard */
#define KSTACK_CLASSES		8	/* slots of 2^17 .. 2^24 bytes */
#define KSTACK_CLASS_SHIFT	41	/* each slot size's sub-region: 2 TiB */
#define KSTACK_LIMIT_DEFAULT	(64ull * 1024)
#define KSTACK_LIMIT_MIN	(2 * PAGE_SIZE)
/* The largest slot, less its guard page. */
#define KSTACK_LIMIT_MAX	((1ull << (KSTACK_SLOT_SHIFT_MIN + KSTACK_CLASSES - 1)) - PAGE_SIZE)
/* The struct kstack lives in the top bytes of the slot, above the stack top. */
#define KSTACK_META_SIZE	128

_Static_assert((unsigned long long)KSTACK_CLASSES << KSTACK_CLASS_SHIFT == KERNEL_REGION_SIZE,
	       "the slot sizes' sub-regions fill the stack region");

/* The slot size (as a shift) for a stack of `limit` bytes (a multiple of
 * PAGE_SIZE, KSTACK_LIMIT_MIN..KSTACK_LIMIT_MAX): the smallest that holds
 * the limit and a guard page. */
static inline unsigned kstack_slot_shift(uint64_t limit)
{
	unsigned s = KSTACK_SLOT_SHIFT_MIN;
	while ((1ull << s) < limit + PAGE_SIZE)
		s++;
	return s;
}

static inline unsigned kstack_class_of_shift(unsigned shift) { return shift - KSTACK_SLOT_SHIFT_MIN; }

/* Slots in one sub-region, before any limit from RAM. */
static inline uint64_t kstack_class_slots(unsigned cls)
{
	return 1ull << (KSTACK_CLASS_SHIFT - KSTACK_SLOT_SHIFT_MIN - cls);
}

static inline uint64_t kstack_slot_base(unsigned cls, uint64_t index)
{
	return KSTACK_REGION_BASE + ((uint64_t)cls << KSTACK_CLASS_SHIFT) +
	       (index << (KSTACK_SLOT_SHIFT_MIN + cls));
}

/* The slot of an address in the stack region: false outside it. */
static inline bool kstack_slot_of(uint64_t addr, unsigned *cls, uint64_t *index)
{
	uint64_t off = addr - KSTACK_REGION_BASE;	/* wraps below the region */
	if (off >= KERNEL_REGION_SIZE)
		return false;
	*cls = (unsigned)(off >> KSTACK_CLASS_SHIFT);
	*index = (off & ((1ull << KSTACK_CLASS_SHIFT) - 1)) >> (KSTACK_SLOT_SHIFT_MIN + *cls);
	return true;
}

#ifndef HOST_TEST
struct kstack;
struct trap_frame;

/*
 * Set up the slot bitmaps, the per-CPU reserves and the fault handler, and
 * check kstack.max=. Context: once, from kmain after slab_init.
 */
void kstack_init(void);

/* Return: v when it is a valid stack limit (a multiple of 4 KiB within
 * KSTACK_LIMIT_MIN..KSTACK_LIMIT_MAX); else KSTACK_LIMIT_DEFAULT, after a
 * warning that names kstack.max=. Context: any (kstack_init checks the
 * option with it). */
uint64_t kstack_max_from_option(uint64_t v);

/*
 * A new stack of `limit` bytes (0: kstack.max=; otherwise rounded up to a
 * page, at least KSTACK_LIMIT_MIN; above KSTACK_LIMIT_MAX is a bug and
 * panics), with its top page mapped. `name` is copied (31 characters kept)
 * and names the thread in reports. Refills this CPU's reserve.
 * Return: the stack, or NULL when no slot, page-table page or page is left.
 * Context: thread; may allocate; takes the kstack lock.
 */
struct kstack *kstack_create(size_t limit, const char *name);

/*
 * Unmap the stack and give its pages to the stack-page cache. Nothing may
 * run on it any more; a stack that is not live (destroyed twice, or not a
 * stack) is reported and panics. Context: thread; takes the kstack lock.
 */
void kstack_destroy(struct kstack *ks);

/* The initial stack pointer: 16-byte aligned, just below the struct kstack.
 * Context: any. */
uint64_t kstack_top(const struct kstack *ks);

/*
 * Give back the pages wholly below saved_sp less a one-page cushion (they
 * go to the stack-page cache, each invalidated with invlpg). The thread
 * grows again on its next fault there. saved_sp must lie in the mapped part.
 * Context: the owner is not running, and nothing uses its stack below
 * saved_sp; takes the kstack lock, may free pages.
 */
void kstack_trim(struct kstack *ks, uint64_t saved_sp);

/*
 * Top this CPU's reserve of zeroed pages up (KSTACK_RESERVE_PAGES) from the
 * cache and the page allocator. The reserve serves growth faults that hit
 * code holding a spinlock or running with interrupts off; the thread layer
 * calls this at safe points (a context switch). Return: false when memory
 * ran out before the reserve was full. Context: thread, with enough stack
 * mapped or interrupts on (its own growth faults may use the reserve).
 */
bool kstack_refill(void);

/* The live stack whose slot holds addr, or NULL. O(1). Context: any. */
struct kstack *kstack_find(uint64_t addr);

/* The lowest mapped address: [kstack_mapped_bottom, kstack_top) is mapped
 * page by page with no holes, and nothing below it is. The collector scans
 * a stopped thread from max(saved SP, this) to the top. Context: any; the
 * answer holds while the owner neither runs nor is trimmed. */
uint64_t kstack_mapped_bottom(const struct kstack *ks);

struct kstack_stats {
	uint64_t lo, hi;		/* the reservation [lo, hi) */
	uint64_t limit;			/* hi - lo */
	uint64_t mapped;		/* bytes mapped now */
	uint64_t high_water;		/* the most bytes ever mapped */
	uint64_t growth_faults;		/* faults that mapped pages */
	uint64_t trims;			/* kstack_trim calls that unmapped pages */
	const char *name;
};
/* Context: any. */
void kstack_stats(const struct kstack *ks, struct kstack_stats *out);

struct kstack_totals {
	uint64_t stacks;		/* live */
	uint64_t mapped;		/* bytes mapped in all stacks */
	uint64_t reserved;		/* bytes of reservations (sum of limits) */
	uint64_t cache_pages;		/* pages of dead stacks waiting for reuse */
	uint64_t cache_max;		/* the most the cache keeps (RAM/512, 16..1024) */
	uint64_t reserve_pages;		/* pages in every CPU's reserve */
	uint64_t reuses;		/* pages taken from the cache instead of the allocator */
	uint64_t growth_faults;
	uint64_t from_allocator;	/* growth pages from page_alloc */
	uint64_t from_reserve;		/* growth pages from a reserve: */
	uint64_t reserve_locked;	/*   of those, while the faulting code held a spinlock */
};
/* Context: any; a snapshot. */
void kstack_totals(struct kstack_totals *out);

/* Walk every live stack, the cache and the reserves and ASSERT the
 * invariants listed in mm/kstack.c. Context: thread; no stack changes
 * meanwhile. */
void kstack_check(void);

/*
 * What the thread layer decides after a stack fault it could survive.
 * kind names what happened:
 *   KSTACK_OVERFLOW  the guard below the reservation was hit;
 *   KSTACK_STRAY     a context whose stack pointer lies outside this
 *                    stack's slot touched its unmapped part (a stale
 *                    pointer, or a frame that jumped the guard from above);
 *   KSTACK_NOMEM     growth found no page anywhere: `shortage` names what
 *                    ran out.
 * The report (BUG line and backtrace) is printed before the hook runs.
 */
enum kstack_fault_kind { KSTACK_OVERFLOW, KSTACK_STRAY, KSTACK_NOMEM };

struct kstack_fault {
	enum kstack_fault_kind kind;
	struct kstack *ks;		/* the stack the address lies in */
	uint64_t addr;			/* the faulting address */
	const char *shortage;		/* KSTACK_NOMEM only */
};

/*
 * Called in the page-fault handler (its IST stack, interrupts off) only
 * when the faulting context had interrupts on and held no spinlock; in
 * every other case the kernel panics with the report, as it does when no
 * hook is set or the hook returns false. A hook that kills the thread
 * changes the frame so that it resumes elsewhere (the scheduler, on a
 * stack of its own) and returns true. Context: set once, at thread-layer
 * set-up (tests set and clear it); NULL restores the default.
 */
typedef bool (*kstack_fault_fn)(const struct kstack_fault *f, struct trap_frame *frame);
/* Return: the hook it replaces (tests put it back). */
kstack_fault_fn kstack_set_fault_hook(kstack_fault_fn fn);

/* Pages each CPU's reserve holds when full. */
#define KSTACK_RESERVE_PAGES	16
#endif

#endif
