/*
 * mm/pmm.c - the physical page allocator: a binary buddy system over a page
 * frame database, with a per-CPU cache of single pages in front of it.
 *
 * Data structures:
 *   struct page     one per frame in [base_pfn, end_pfn), in one array (the
 *                   database), so any physical address finds its metadata by
 *                   subtraction. Frames that are not RAM stay PG_RESERVED.
 *   free[order]     doubly linked lists of free blocks, threaded through the
 *                   head's struct page and never through the free memory:
 *                   RAM above 4 GiB can be added before paging maps it, and
 *                   a write after free cannot corrupt the lists.
 *   struct pmm_cpu  per CPU, a LIFO stack of up to PMM_CACHE_HIGH order-0
 *                   pages, so most single-page traffic takes no lock.
 *
 * Allocate (pmm_alloc):
 *   1. Order 0 without PAGE_NOCACHE: with interrupts off, pop this CPU's
 *      cache, first refilling PMM_CACHE_BATCH pages from the buddy lists
 *      under the lock if it is empty.
 *   2. Otherwise, under the lock, take the first block on the smallest
 *      non-empty list of order >= the request and halve it, putting each
 *      upper half on the list below, until it has the size asked for.
 *   3. If no list can serve it, return this CPU's cached pages to the buddy
 *      lists (they may complete a larger block), let the heap give back
 *      what it holds in reserve (pm->reclaim: kmem_reclaim), and try once
 *      more. Never called with the pmm lock held.
 *   4. Check the poison (when on), zero if asked, return the direct-map
 *      address.
 *
 * Free (pmm_free):
 *   1. Check that p is the head of an allocated block of that order and of
 *      the owner the free names (enum page_owner, in pmm.h: a page_alloc
 *      caller, a slab, a large kmalloc block); if not, report it
 *      (pmm_report), naming the block's real owner, and return with
 *      nothing changed.
 *   2. Poison the block (when on).
 *   3. Order 0 through the cache: push it on this CPU's cache; above
 *      PMM_CACHE_HIGH, return the PMM_CACHE_BATCH coldest (bottom) pages to
 *      the buddy lists.
 *   4. Otherwise, under the lock: while the block's buddy (pfn ^ 2^order) is
 *      a free block of the same order, take it off its list and merge; put
 *      the result on its list.
 *
 * Invariants (pmm_check asserts each):
 *   - Every frame belongs to exactly one reserved frame, free block, cached
 *     page or allocated block. Blocks are aligned to their size; the head
 *     carries state and order, the other pages have flags == 0. An
 *     allocated head, and only one, names an owner.
 *   - A block is on free[k] iff its head is PG_FREE with order k; nr_free[]
 *     and free_pages count the lists exactly.
 *   - No free block has a free buddy of the same order: merging is eager, so
 *     the lists are the unique buddy decomposition of the free frames.
 *   - With poisoning on, every byte of a free or cached page holds
 *     PAGE_POISON_FREE (checked when the page is next allocated).
 *
 * Locking: pm->lock (LOCK_RANK_PMM; interrupts off while held) protects the
 * free lists, their counts, and the entries of free and reserved frames. A
 * CPU's cache and its pages' entries belong to that CPU and are touched only
 * with interrupts off. An allocated block's head entry belongs to its owner
 * until freed; buddy merging only reads it (and sees "not free"). So the
 * cache fast path takes no lock. Two CPUs freeing the same block at the
 * same instant are not told apart from one free. Reports print without the
 * lock held.
 *
 * Misuse (double free, foreign pointer, wrong order, write after free) goes
 * to pmm_report: "BUG pmm: ..." and a backtrace, pm->reports counted, state
 * untouched. A corrupt database is a broken invariant and panics.
 *
 * Callers: boot (pmm_init, pmm_add_range on kernel_pmm), page_alloc users
 * (vmm page tables, slab, stacks), tests with private instances.
 */
#include "mm/pmm.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "kernel/string.h"
#include "kernel/percpu.h"
#include "mm/layout.h"

#include <stdarg.h>

#include "kernel/x86.h"
#ifndef HOST_TEST
#include "kernel/cmdline.h"
#endif

#define POISON_WORD		(0x0101010101010101ull * PAGE_POISON_FREE)

/*
 * In every database entry. Its two bytes differ and are neither 0x00, 0xff
 * nor the poison byte, so a memset or fill running over the database never
 * reproduces it.
 */
#define PAGE_CANARY		0xc3a5

#define BLOCK_PAGES(order)	(1ull << (order))

/* What a report calls each owner's blocks. */
static const char *const owner_names[NR_PAGE_OWNERS] = {
	[PAGE_OWNER_NONE] = "no owner",
	[PAGE_OWNER_PAGES] = "a page_alloc caller",
	[PAGE_OWNER_SLAB] = "a slab of the heap",
	[PAGE_OWNER_KMALLOC] = "a large kmalloc block",
	[PAGE_OWNER_STACK] = "a kernel stack page",
	[PAGE_OWNER_GC] = "a page of the collector's heap",
};
_Static_assert(sizeof(owner_names) / sizeof(owner_names[0]) == NR_PAGE_OWNERS, "a name per owner");
static page_owner_describe_fn owner_describe[NR_PAGE_OWNERS];	/* set-up only */

void pmm_owner_describe(enum page_owner owner, page_owner_describe_fn fn)
{
	ASSERT(owner > PAGE_OWNER_NONE && owner < NR_PAGE_OWNERS);
	owner_describe[owner] = fn;
}


/*
 * pm->vmemmap is where entry 0 would be if the database started at pfn 0
 * (Linux's name for the same trick): pfn <-> entry is then one shift and one
 * add, with no base_pfn to subtract on the allocation fast paths. Kept as an
 * integer because it usually points before the array.
 */
static inline struct page *pfn_page(struct pmm *pm, uint64_t pfn)
{
	return (struct page *)(pm->vmemmap + pfn * sizeof(struct page));
}

static inline uint64_t page_pfn(const struct pmm *pm, const struct page *pg)
{
	return ((uintptr_t)pg - pm->vmemmap) / sizeof(struct page);
}

static inline bool pfn_in_db(const struct pmm *pm, uint64_t pfn)
{
	return pfn >= pm->base_pfn && pfn < pm->end_pfn;
}

static inline void *page_addr(const struct pmm *pm, const struct page *pg)
{
	return phys_to_virt(page_pfn(pm, pg) << PAGE_SHIFT);
}

/* The database is the allocator's memory of who owns what: if it was
 * overwritten, nothing it says can be trusted any more. */
static void check_canary(struct pmm *pm, const struct page *pg)
{
	if (__builtin_expect(pg->canary != PAGE_CANARY, 0))
		panic("pmm: database entry of page 0x%llx overwritten (canary 0x%x, flags 0x%x)",
		      (unsigned long long)page_pfn(pm, pg) << PAGE_SHIFT, pg->canary, pg->flags);
}

/*
 * The one way misuse is reported: a "BUG pmm:" line, then a backtrace from
 * the caller (as panic_at does). It counts the report so tests can check for
 * it, and changes nothing else.
 */
__attribute__((noinline, format(printf, 2, 3)))
static void pmm_report(struct pmm *pm, const char *fmt, ...)
{
	const uint64_t *fp = __builtin_frame_address(0);
	va_list ap;

	kprintf("BUG pmm: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	backtrace_print(fp[1] - 1, fp[0]);
	__atomic_add_fetch(&pm->reports, 1, __ATOMIC_RELAXED);
}

/* ---- free lists ----------------------------------------------------------- */

/* Must be called with pm->lock held. */
static void list_add_locked(struct pmm *pm, struct page *pg, unsigned order)
{
	pg->flags = PG_FREE;
	pg->order = (uint8_t)order;
	pg->prev = NULL;
	pg->next = pm->free[order];
	if (pg->next)
		pg->next->prev = pg;
	pm->free[order] = pg;
	pm->nr_free[order]++;
	pm->free_pages += BLOCK_PAGES(order);
}

/* Must be called with pm->lock held. Leaves pg's flags to the caller. */
static void list_del_locked(struct pmm *pm, struct page *pg, unsigned order)
{
	check_canary(pm, pg);
	ASSERT(pg->flags == PG_FREE && pg->order == order);
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		pm->free[order] = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	pg->next = pg->prev = NULL;
	pm->nr_free[order]--;
	pm->free_pages -= BLOCK_PAGES(order);
}

/*
 * Take a block of 2^order pages off the lists, splitting a larger one if
 * need be. Must be called with pm->lock held.
 * Return: its head, marked PG_HEAD, or NULL when no list can serve it.
 */
static struct page *alloc_block_locked(struct pmm *pm, unsigned order)
{
	unsigned o = order;

	while (o <= PMM_MAX_ORDER && !pm->free[o])
		o++;
	if (o > PMM_MAX_ORDER)
		return NULL;

	struct page *pg = pm->free[o];
	list_del_locked(pm, pg, o);
	/* Keep the lower half: the upper one is free, and its own buddy is
	 * the half we keep, so it is a correctly coalesced free block. */
	while (o > order) {
		o--;
		list_add_locked(pm, pg + BLOCK_PAGES(o), o);
	}
	pg->flags = PG_HEAD;	/* the caller names the owner */
	pg->order = (uint8_t)order;
	return pg;
}

/*
 * Put the block headed by pg on the lists, merging with free buddies.
 * Must be called with pm->lock held; the caller owns the block.
 */
static void free_block_locked(struct pmm *pm, struct page *pg, unsigned order)
{
	uint64_t pfn = page_pfn(pm, pg);

	pg->flags = 0;
	pg->order = 0;
	while (order < PMM_MAX_ORDER) {
		uint64_t buddy_pfn = pfn ^ BLOCK_PAGES(order);
		if (!pfn_in_db(pm, buddy_pfn))
			break;
		struct page *buddy = pfn_page(pm, buddy_pfn);
		if (buddy->flags != PG_FREE || buddy->order != order)
			break;
		list_del_locked(pm, buddy, order);
		buddy->flags = 0;	/* a tail of the merged block now */
		buddy->order = 0;
		pfn &= ~BLOCK_PAGES(order);
		order++;
	}
	list_add_locked(pm, pfn_page(pm, pfn), order);
}

/* ---- per-CPU caches --------------------------------------------------------- */

/* Must be called with interrupts off, on c's CPU. */
static void cache_refill(struct pmm *pm, struct pmm_cpu *c)
{
	uint64_t flags = spin_lock_irqsave(&pm->lock);
	for (unsigned i = 0; i < PMM_CACHE_BATCH; i++) {
		struct page *pg = alloc_block_locked(pm, 0);
		if (!pg)
			break;
		pg->flags = PG_CACHED;
		pg->next = c->pages;
		c->pages = pg;
		c->count++;
	}
	spin_unlock_irqrestore(&pm->lock, flags);
}

/*
 * Return the bottom n pages of c, the ones freed longest ago and so least
 * likely to be in the CPU's caches, to the buddy lists.
 * Must be called with interrupts off, on c's CPU.
 */
static void cache_drain(struct pmm *pm, struct pmm_cpu *c, unsigned n)
{
	struct page **link = &c->pages;

	for (unsigned keep = c->count - n; keep; keep--)
		link = &(*link)->next;
	struct page *pg = *link;
	*link = NULL;
	c->count -= n;

	uint64_t flags = spin_lock_irqsave(&pm->lock);
	while (pg) {
		struct page *next = pg->next;
		check_canary(pm, pg);
		ASSERT(pg->flags == PG_CACHED);
		pg->next = NULL;
		free_block_locked(pm, pg, 0);
		pg = next;
	}
	spin_unlock_irqrestore(&pm->lock, flags);
}

/* Return: how many pages went back. */
static unsigned drain_this_cpu(struct pmm *pm)
{
	uint64_t irq = irq_save();
	struct pmm_cpu *c = &pm->cpu[cpu_id()];
	unsigned n = c->count;

	if (n)
		cache_drain(pm, c, n);
	irq_restore(irq);
	return n;
}

void pmm_drain(struct pmm *pm)
{
	drain_this_cpu(pm);
}

/* ---- poison ----------------------------------------------------------------- */

static void poison_block(void *p, unsigned order)
{
	memset(p, PAGE_POISON_FREE, PAGE_SIZE << order);
}

/*
 * A block leaving the allocator must still hold the poison it got when it
 * was freed. A difference means someone wrote to it while it was free; the
 * writer is long gone, so the report says where and what, and the block is
 * handed out anyway: the allocator's own state lives in the database and is
 * intact.
 */
static void check_poison(struct pmm *pm, const void *p, unsigned order)
{
	const uint64_t *w = p;
	size_t words = (PAGE_SIZE << order) / sizeof(*w);
	size_t i = 0;

	while (i < words && w[i] == POISON_WORD)
		i++;
	if (__builtin_expect(i == words, 1))
		return;

	const uint8_t *b = p;
	size_t first = i * sizeof(*w);
	while (b[first] == PAGE_POISON_FREE)
		first++;
	size_t bad = 0;
	for (size_t j = first; j < PAGE_SIZE << order; j++)
		bad += b[j] != PAGE_POISON_FREE;
	pmm_report(pm, "write after free in page %p (phys 0x%llx, order %u): byte 0x%zx is 0x%02x, "
		   "expected 0x%02x; changed bytes: %zu (found at allocation)",
		   p, (unsigned long long)virt_to_phys(p), order, first, b[first],
		   PAGE_POISON_FREE, bad);
}

/* ---- checking frees --------------------------------------------------------- */

/*
 * The cheap test every free passes: p is the direct-map address of the head
 * of an allocated block of this order that `owner` holds. Reads only that
 * head's entry, which belongs to the caller if the answer is yes.
 * Return: the head, or NULL.
 */
static inline struct page *allocated_head(struct pmm *pm, const void *p, unsigned order,
					  enum page_owner owner)
{
	/* Offset from the direct map's start: any other pointer (the kernel
	 * image, a vmalloc-style mapping) lands outside the database's range. */
	uint64_t pa = (uint64_t)((const uint8_t *)p - (const uint8_t *)phys_to_virt(0));
	uint64_t pfn = pa >> PAGE_SHIFT;

	if (order > PMM_MAX_ORDER || (pa & (PAGE_SIZE - 1)) || !pfn_in_db(pm, pfn))
		return NULL;
	struct page *pg = pfn_page(pm, pfn);
	check_canary(pm, pg);
	if (pg->flags != page_head_flags(owner) || pg->order != order)
		return NULL;
	return pg;
}

/*
 * Say why freeing p with this order is wrong, in why[n]. Must be called
 * with pm->lock held (it reads other blocks' entries to name the block p
 * falls in).
 */
static void explain_bad_free_locked(struct pmm *pm, const void *p, unsigned order,
				    enum page_owner owner, char *why, size_t n)
{
	unsigned long long pa = virt_to_phys(p);
	uint64_t pfn = pa >> PAGE_SHIFT;

	if (order > PMM_MAX_ORDER) {
		ksnprintf(why, n, "free of %p with order %u (the largest is %u)", p, order,
			  PMM_MAX_ORDER);
		return;
	}
	if ((pa & (PAGE_SIZE - 1)) || phys_to_virt(pa) != p || !pfn_in_db(pm, pfn)) {
		ksnprintf(why, n, "free of %p (order %u): not a page this allocator owns", p, order);
		return;
	}
	const struct page *pg = pfn_page(pm, pfn);
	if (pg->flags & PG_RESERVED) {
		ksnprintf(why, n, "free of reserved page %p (phys 0x%llx, order %u)", p, pa, order);
		return;
	}
	if (pg->flags & (PG_FREE | PG_CACHED)) {
		ksnprintf(why, n, "double free of page %p (phys 0x%llx, order %u)", p, pa, order);
		return;
	}
	if ((pg->flags & PG_HEAD) && page_owner(pg) != owner) {
		char what[64] = "";
		if (owner_describe[page_owner(pg)])
			owner_describe[page_owner(pg)](pg, what, sizeof(what));
		ksnprintf(why, n, "free of page %p (phys 0x%llx, order %u) as %s's block, but it belongs "
			  "to %s%s%s%s (order %u)", p, pa, order, owner_names[owner],
			  owner_names[page_owner(pg)], what[0] ? " (" : "", what, what[0] ? ")" : "",
			  pg->order);
		return;
	}
	if (pg->flags & PG_HEAD) {
		ksnprintf(why, n, "free of page %p (phys 0x%llx) with order %u, allocated with order %u",
			  p, pa, order, pg->order);
		return;
	}
	/* A tail page: the block around it has its head at the first multiple
	 * of a larger power of two below it whose entry claims it. */
	for (unsigned o = 1; o <= PMM_MAX_ORDER; o++) {
		uint64_t head_pfn = pfn & ~(BLOCK_PAGES(o) - 1);
		if (!pfn_in_db(pm, head_pfn))
			break;
		const struct page *head = pfn_page(pm, head_pfn);
		if (!(head->flags & (PG_FREE | PG_HEAD)) || head->order < o)
			continue;
		ksnprintf(why, n, "%s of page %p (phys 0x%llx, order %u): inside %s block at phys 0x%llx (order %u)",
			  head->flags & PG_FREE ? "double free" : "free", p, pa, order,
			  head->flags & PG_FREE ? "free" : "an allocated", (unsigned long long)head_pfn << PAGE_SHIFT,
			  head->order);
		return;
	}
	ksnprintf(why, n, "free of page %p (phys 0x%llx, order %u): not the start of a block", p, pa, order);
}

static void report_bad_free(struct pmm *pm, const void *p, unsigned order, enum page_owner owner)
{
	char why[256];

	uint64_t flags = spin_lock_irqsave(&pm->lock);
	explain_bad_free_locked(pm, p, order, owner, why, sizeof(why));
	spin_unlock_irqrestore(&pm->lock, flags);
	pmm_report(pm, "%s", why);
}

/* ---- setup ------------------------------------------------------------------ */

static uint64_t first_pfn(uint64_t lowest_pa) { return lowest_pa >> PAGE_SHIFT; }
static uint64_t last_pfn(uint64_t highest_pa) { return (highest_pa + PAGE_SIZE - 1) >> PAGE_SHIFT; }

size_t pmm_db_bytes(uint64_t lowest_pa, uint64_t highest_pa)
{
	return (size_t)(last_pfn(highest_pa) - first_pfn(lowest_pa)) * sizeof(struct page);
}

#ifndef HOST_TEST
static bool page_poison;
CMDLINE_OPTION(page_poison, "page_poison", CMDLINE_BOOL, NULL,
	       "fill free pages with 0x6b and check them when allocated");
#endif

void pmm_init(struct pmm *pm, void *db, uint64_t lowest_pa, uint64_t highest_pa)
{
	ASSERT(lowest_pa < highest_pa);
	ASSERT(((uintptr_t)db & (_Alignof(struct page) - 1)) == 0);

	*pm = (struct pmm){ .lock = SPINLOCK_INIT("pmm", LOCK_RANK_PMM) };
	pm->db = db;
	pm->base_pfn = first_pfn(lowest_pa);
	pm->vmemmap = (uintptr_t)db - pm->base_pfn * sizeof(struct page);
	pm->va_start = (uintptr_t)phys_to_virt(pm->base_pfn << PAGE_SHIFT);
	pm->end_pfn = last_pfn(highest_pa);
	pm->npages = pm->end_pfn - pm->base_pfn;
	for (uint64_t i = 0; i < pm->end_pfn - pm->base_pfn; i++)
		pm->db[i] = (struct page){ .flags = PG_RESERVED, .canary = PAGE_CANARY };
#ifndef HOST_TEST
	/* Every instance the kernel builds follows the option, like slab_debug= for caches. */
	pm->poison = page_poison;
#endif
}

void pmm_add_range(struct pmm *pm, uint64_t start_pa, uint64_t end_pa)
{
	uint64_t start = (start_pa + PAGE_SIZE - 1) >> PAGE_SHIFT;
	uint64_t end = end_pa >> PAGE_SHIFT;

	if (start >= end)
		return;
	ASSERT(start >= pm->base_pfn && end <= pm->end_pfn);

	uint64_t flags = spin_lock_irqsave(&pm->lock);
	for (uint64_t pfn = start; pfn < end; pfn++) {
		struct page *pg = pfn_page(pm, pfn);
		check_canary(pm, pg);
		ASSERT(pg->flags == PG_RESERVED);	/* each frame is added once */
		pg->flags = 0;
	}
	pm->total_pages += end - start;

	/* The largest aligned block that fits at each step: O(log) blocks per
	 * aligned stretch, and a merge with a neighbour added earlier. */
	for (uint64_t pfn = start; pfn < end;) {
		unsigned order = pfn ? (unsigned)__builtin_ctzll(pfn) : PMM_MAX_ORDER;
		if (order > PMM_MAX_ORDER)
			order = PMM_MAX_ORDER;
		while (pfn + BLOCK_PAGES(order) > end)
			order--;
		if (pm->poison)
			poison_block(phys_to_virt(pfn << PAGE_SHIFT), order);
		free_block_locked(pm, pfn_page(pm, pfn), order);
		pfn += BLOCK_PAGES(order);
	}
	spin_unlock_irqrestore(&pm->lock, flags);
}

/* ---- allocate and free ---------------------------------------------------- */

/* Step 1 when the cache is empty: refill it, then pop. Interrupts are off. */
static __attribute__((noinline)) struct page *cache_alloc_refill(struct pmm *pm, struct pmm_cpu *c)
{
	cache_refill(pm, c);
	if (!c->pages && pm->reclaim) {
		/* Step 3 for order 0: the heap gives back what it keeps in
		 * reserve; its pages may land in this very cache. */
		pm->reclaim();
		if (!c->pages)
			cache_refill(pm, c);
	}
	return c->pages;
}

static inline __attribute__((always_inline)) struct page *cache_alloc(struct pmm *pm,
								      enum page_owner owner)
{
	uint64_t irq = irq_save();
	struct pmm_cpu *c = &pm->cpu[cpu_id()];
	struct page *pg = c->pages;

	if (__builtin_expect(!pg, 0))
		pg = cache_alloc_refill(pm, c);
	if (pg) {
		check_canary(pm, pg);
		ASSERT(pg->flags == PG_CACHED);
		c->pages = pg->next;
		c->count--;
		pg->flags = page_head_flags(owner);
	}
	irq_restore(irq);
	return pg;
}

static struct page *buddy_alloc(struct pmm *pm, unsigned order)
{
	uint64_t flags = spin_lock_irqsave(&pm->lock);
	struct page *pg = alloc_block_locked(pm, order);
	spin_unlock_irqrestore(&pm->lock, flags);
	if (pg)
		return pg;

	/* Step 3: the heap gives back what it keeps in reserve (pm->reclaim);
	 * then this CPU's cached pages, which may be the missing halves of a
	 * larger block (reclaimed pages land there too, hence this order). */
	if (pm->reclaim)
		pm->reclaim();
	if (!drain_this_cpu(pm) && !pm->reclaim)
		return NULL;
	flags = spin_lock_irqsave(&pm->lock);
	pg = alloc_block_locked(pm, order);
	spin_unlock_irqrestore(&pm->lock, flags);
	return pg;
}

/* Everything but the order-0 cache hit: buddy orders, poison, zeroing. */
static __attribute__((noinline)) void *alloc_slow(struct pmm *pm, unsigned order, unsigned flags,
						 enum page_owner owner)
{
	if (order > PMM_MAX_ORDER)
		return NULL;

	struct page *pg = order == 0 && !(flags & PAGE_NOCACHE) ? cache_alloc(pm, owner)
								: buddy_alloc(pm, order);
	if (!pg)
		return NULL;
	pg->flags = page_head_flags(owner);
	void *p = page_addr(pm, pg);
	if (pm->poison)
		check_poison(pm, p, order);
	if (flags & PAGE_ZERO)
		memset(p, 0, PAGE_SIZE << order);
	return p;
}

/* The hot path of pmm_alloc, inlined into page_alloc too: a page from this
 * CPU's cache, with no lock, no poison to check and nothing to zero. */
static inline __attribute__((always_inline)) void *alloc_fast(struct pmm *pm, unsigned order,
							       unsigned flags, enum page_owner owner)
{
	if (order == 0 && flags == 0 && !pm->poison) {
		struct page *pg = cache_alloc(pm, owner);
		return pg ? page_addr(pm, pg) : NULL;
	}
	return alloc_slow(pm, order, flags, owner);
}

void *pmm_alloc(struct pmm *pm, unsigned order, unsigned flags)
{
	return alloc_fast(pm, order, flags, PAGE_OWNER_PAGES);
}

void *pmm_alloc_as(struct pmm *pm, unsigned order, unsigned flags, enum page_owner owner)
{
	ASSERT(owner > PAGE_OWNER_NONE && owner < NR_PAGE_OWNERS);
	return alloc_fast(pm, order, flags, owner);
}

/* Free step 3: push an order-0 page on this CPU's cache. */
static inline __attribute__((always_inline)) void cache_push(struct pmm *pm, struct page *pg)
{
	uint64_t irq = irq_save();
	struct pmm_cpu *c = &pm->cpu[cpu_id()];
	pg->flags = PG_CACHED;
	pg->next = c->pages;
	c->pages = pg;
	if (__builtin_expect(++c->count > PMM_CACHE_HIGH, 0))
		cache_drain(pm, c, PMM_CACHE_BATCH);
	irq_restore(irq);
}

static __attribute__((noinline)) void free_slow(struct pmm *pm, void *p, unsigned order,
						enum page_owner owner, bool use_cache)
{
	if (!p)
		return;
	struct page *pg = allocated_head(pm, p, order, owner);
	if (!pg) {
		report_bad_free(pm, p, order, owner);
		return;
	}
	if (pm->poison)
		poison_block(p, order);

	if (order == 0 && use_cache) {
		cache_push(pm, pg);
		return;
	}
	uint64_t flags = spin_lock_irqsave(&pm->lock);
	free_block_locked(pm, pg, order);
	spin_unlock_irqrestore(&pm->lock, flags);
}

/* The hot path of pmm_free, inlined into page_free too: a valid order-0
 * page onto this CPU's cache. Anything else, misuse included, goes slow. */
static inline __attribute__((always_inline)) void free_fast(struct pmm *pm, void *p, unsigned order,
							     enum page_owner owner)
{
	if (order == 0 && !pm->poison) {
		struct page *pg = allocated_head(pm, p, 0, owner);
		if (__builtin_expect(pg != NULL, 1)) {
			cache_push(pm, pg);
			return;
		}
	}
	free_slow(pm, p, order, owner, true);
}

void pmm_free(struct pmm *pm, void *p, unsigned order)
{
	free_fast(pm, p, order, PAGE_OWNER_PAGES);
}

void pmm_free_as(struct pmm *pm, void *p, unsigned order, enum page_owner owner)
{
	free_fast(pm, p, order, owner);
}

void pmm_free_nocache(struct pmm *pm, void *p, unsigned order)
{
	free_slow(pm, p, order, PAGE_OWNER_PAGES, false);
}

/* ---- introspection ---------------------------------------------------------- */

void pmm_stats(struct pmm *pm, struct pmm_stats *out)
{
	uint64_t flags = spin_lock_irqsave(&pm->lock);

	out->total_pages = pm->total_pages;
	out->cached_pages = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++)
		out->cached_pages += pm->cpu[i].count;
	out->free_pages = pm->free_pages + out->cached_pages;
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		out->free_blocks[o] = pm->nr_free[o];
	spin_unlock_irqrestore(&pm->lock, flags);
}

static bool entry_in_db(const struct pmm *pm, const struct page *pg)
{
	return pg >= pm->db && pg < pm->db + (pm->end_pfn - pm->base_pfn);
}

void pmm_check(struct pmm *pm)
{
	uint64_t db_free[PMM_MAX_ORDER + 1] = { 0 };
	uint64_t db_cached = 0, db_pages = 0, list_pages = 0, cached = 0;
	uint64_t n = pm->end_pfn - pm->base_pfn;
	uint64_t flags = spin_lock_irqsave(&pm->lock);

	/* 1. The database, block by block: each frame in exactly one block. */
	for (uint64_t i = 0; i < n;) {
		struct page *pg = &pm->db[i];
		uint64_t pfn = pm->base_pfn + i, span = 1;

		check_canary(pm, pg);
		unsigned state = pg->flags & PG_STATE_MASK;
		/* An owner on allocated heads, and only there. */
		if (state == PG_HEAD)
			ASSERT(page_owner(pg) > PAGE_OWNER_NONE && page_owner(pg) < NR_PAGE_OWNERS);
		else
			ASSERT(page_owner(pg) == PAGE_OWNER_NONE);
		switch (state) {
		case PG_RESERVED:
			i++;
			continue;
		case PG_CACHED:
			ASSERT(pg->order == 0);
			db_cached++;
			break;
		case PG_FREE:
		case PG_HEAD:
			ASSERT(pg->order <= PMM_MAX_ORDER);
			span = BLOCK_PAGES(pg->order);
			ASSERT((pfn & (span - 1)) == 0);
			ASSERT(i + span <= n);
			break;
		default:
			panic("pmm_check: page 0x%llx is in no block (flags 0x%x)",
			      (unsigned long long)pfn << PAGE_SHIFT, pg->flags);
		}
		for (uint64_t j = 1; j < span; j++) {
			check_canary(pm, &pg[j]);
			if (pg[j].flags != 0)
				panic("pmm_check: page 0x%llx (flags 0x%x) overlaps block 0x%llx (order %u)",
				      (unsigned long long)(pfn + j) << PAGE_SHIFT, pg[j].flags,
				      (unsigned long long)pfn << PAGE_SHIFT, pg->order);
		}
		if (state != PG_HEAD)	/* free: no slab may claim it (kfree reads these) */
			for (uint64_t j = 0; j < span; j++)
				ASSERT(!pg[j].slab_cache && !pg[j].slab_objs_end);
		if (pg->flags == PG_FREE) {
			db_free[pg->order]++;
			uint64_t buddy = pfn ^ span;
			if (pg->order < PMM_MAX_ORDER && pfn_in_db(pm, buddy)) {
				const struct page *b = pfn_page(pm, buddy);
				if (b->flags == PG_FREE && b->order == pg->order)
					panic("pmm_check: free block 0x%llx and its buddy (order %u) not merged",
					      (unsigned long long)pfn << PAGE_SHIFT, pg->order);
			}
		}
		db_pages += span;
		i += span;
	}
	ASSERT(db_pages == pm->total_pages);

	/* 2. The free lists: well linked, each entry a free head of that order,
	 * as many as the database holds (so none is missing or listed twice). */
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++) {
		uint64_t count = 0;
		const struct page *prev = NULL;
		for (const struct page *pg = pm->free[o]; pg; prev = pg, pg = pg->next) {
			ASSERT(entry_in_db(pm, pg));
			ASSERT(pg->flags == PG_FREE && pg->order == o);
			ASSERT(pg->prev == prev);
			count++;
			ASSERT(count <= db_free[o]);	/* so a cycle ends the walk */
		}
		ASSERT(count == db_free[o]);
		ASSERT(count == pm->nr_free[o]);
		list_pages += count << o;
	}
	ASSERT(list_pages == pm->free_pages);

	/* 3. The CPU caches hold exactly the cached pages. */
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		uint64_t count = 0;
		for (const struct page *pg = pm->cpu[c].pages; pg; pg = pg->next) {
			ASSERT(entry_in_db(pm, pg));
			ASSERT(pg->flags == PG_CACHED);
			count++;
			ASSERT(count <= pm->cpu[c].count);
		}
		ASSERT(count == pm->cpu[c].count);
		cached += count;
	}
	ASSERT(cached == db_cached);
	spin_unlock_irqrestore(&pm->lock, flags);
}

/* ---- the kernel's instance -------------------------------------------------- */

/* Host builds have one too: host tests of the slab set it up over an arena. */
struct pmm kernel_pmm = { .lock = SPINLOCK_INIT("pmm", LOCK_RANK_PMM) };

void *page_alloc(unsigned order, unsigned flags)
{
	return alloc_fast(&kernel_pmm, order, flags, PAGE_OWNER_PAGES);
}

void page_free(void *p, unsigned order)
{
	free_fast(&kernel_pmm, p, order, PAGE_OWNER_PAGES);
}

void *page_alloc_as(unsigned order, unsigned flags, enum page_owner owner)
{
	return pmm_alloc_as(&kernel_pmm, order, flags, owner);
}

void page_free_as(void *p, unsigned order, enum page_owner owner)
{
	free_fast(&kernel_pmm, p, order, owner);
}
