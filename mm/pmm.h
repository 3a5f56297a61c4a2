/*
 * mm/pmm.h - the physical page allocator: buddy free lists over a page frame
 * database, with per-CPU caches of single pages (design: mm/pmm.c).
 *
 * Blocks are 2^order pages, order 0..PMM_MAX_ORDER (4 KiB..4 MiB), aligned
 * to their size in physical memory, and handed out as direct-map pointers.
 * The kernel uses page_alloc/page_free on kernel_pmm; tests build private
 * instances with pmm_init over memory of their own.
 */
#ifndef MM_PMM_H
#define MM_PMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "mm/layout.h"

#define PMM_MAX_ORDER	10

/* Per-CPU cache: refill this many order-0 pages at a time when empty, and
 * give this many back when a free takes it above PMM_CACHE_HIGH. */
#define PMM_CACHE_BATCH	31
#define PMM_CACHE_HIGH	(2 * PMM_CACHE_BATCH)

/* pmm_alloc / page_alloc flags. */
#define PAGE_ZERO	(1u << 0)	/* zero the block before returning it */
#define PAGE_NOCACHE	(1u << 1)	/* order 0: go to the buddy lists, not the CPU's cache */

/*
 * Free pages are filled with this when poisoning is on (page_poison=1). It is
 * the byte Linux uses for freed memory (POISON_FREE), so it is familiar in a
 * dump, and 0x6b6b6b6b6b6b6b6b is a non-canonical address: a stale pointer
 * loaded from a freed page faults instead of pointing somewhere plausible.
 */
#define PAGE_POISON_FREE	0x6b

/*
 * One per page frame: the database is an array of these indexed by
 * pfn - base_pfn. Only the first page of a block ("head") carries its state;
 * every other page of a block has flags == 0. Fields are protected by the
 * pmm lock, except that a PG_CACHED page's belong to that CPU's cache and an
 * allocated head's to the block's owner until it frees the block.
 */
struct kmem_cache;

struct page {
	struct page *next, *prev;	/* free list (prev unused in a CPU cache);
					   slab head: its cache's slab list */
	uint8_t order;			/* heads: size of the block */
	uint8_t flags;			/* PG_* below; an allocated head's owner too */
	uint16_t canary;		/* PAGE_CANARY (mm/pmm.c): catches stray writes */
	int32_t slab_inuse;		/* slab head: objects not on its free list, less
					   FULL_BIAS while full (mm/slab_internal.h) */
	struct kmem_cache *slab_cache;	/* every page of a slab: its cache, else NULL */
	void *slab_base;		/* every page of a slab: the block's first byte */
	void *slab_freelist;		/* slab head: first free object (its owner's) */
	uint8_t slab_list;		/* slab head: which of its owner's lists it is on */
	uint8_t slab_owner;		/* slab head: the CPU whose fast path frees into it,
					   with flags (mm/slab_internal.h: OWNER_*) */
	uint16_t slab_head_off;		/* every page of a slab: bytes back to its head's entry */
	/* Every page of a slab: copies of its cache's objs_end and div_magic,
	 * so that kfree checks a pointer without first loading the cache (0
	 * on every other page, which then fails the check). */
	uint32_t slab_objs_end;
	uint64_t slab_div_magic;
} __attribute__((aligned(64)));	/* one cache line each: kfree reads one */
/* One per 4 KiB of RAM (1.6%, as Linux's), and a power of two so that finding
 * a page's entry from its address is a shift, not a division, on the
 * allocation fast paths of both this allocator and the slab. */
_Static_assert(sizeof(struct page) == 64, "struct page must be 64 bytes");

enum page_flags {
	PG_RESERVED = 1 << 0,	/* not RAM, or not given to the allocator: never freed */
	PG_FREE = 1 << 1,	/* head of a block on free list [order] */
	PG_CACHED = 1 << 2,	/* an order-0 page in a CPU's cache */
	PG_HEAD = 1 << 3,	/* head of an allocated block of [order]; its owner
				   is in the flags' top bits (enum page_owner) */
};
#define PG_STATE_MASK	0x0fu
#define PG_OWNER_SHIFT	4

/*
 * Who owns an allocated block. The head's flags carry the owner beside
 * PG_HEAD, and every free names the owner it expects: a block freed
 * through an allocator other than its own is reported, naming the real
 * owner, and nothing changes. The check is the compare every free makes
 * anyway (flags == PG_HEAD with the owner), so it costs nothing. A new kind
 * of user is an entry here and a name in owner_names (mm/pmm.c); it
 * allocates with pmm_alloc_as and frees with pmm_free_as.
 */
enum page_owner {
	PAGE_OWNER_NONE,	/* not allocated: free, cached or reserved */
	PAGE_OWNER_PAGES,	/* a page_alloc caller */
	PAGE_OWNER_SLAB,	/* a slab of the heap (mm/slab.c) */
	PAGE_OWNER_KMALLOC,	/* a large kmalloc block (mm/kmalloc.c) */
	PAGE_OWNER_STACK,	/* a kernel stack's page, mapped, cached or in reserve (mm/kstack.c) */
	PAGE_OWNER_GC,		/* a page of the collector's heap, mapped there (mm/gc.c) */
	NR_PAGE_OWNERS,
};
_Static_assert(NR_PAGE_OWNERS <= 1u << (8 - PG_OWNER_SHIFT), "an owner fits above the PG_* bits");

/* The flags of the head of an allocated block that `owner` owns. */
static inline uint8_t page_head_flags(enum page_owner owner)
{
	return (uint8_t)(PG_HEAD | (unsigned)owner << PG_OWNER_SHIFT);
}

/* The owner of the block whose head is pg (PAGE_OWNER_NONE unless allocated). */
static inline enum page_owner page_owner(const struct page *pg)
{
	return (enum page_owner)(pg->flags >> PG_OWNER_SHIFT);
}

/* Order-0 pages kept by one CPU, LIFO so the next allocation gets a cache-hot page. */
struct pmm_cpu {
	struct page *pages;	/* singly linked through page->next */
	unsigned count;
} __attribute__((aligned(64)));	/* one cache line each: no false sharing */

struct pmm {
	struct spinlock lock;			/* rank LOCK_RANK_PMM */
	struct page *db;			/* fixed by pmm_init */
	uint64_t base_pfn, end_pfn;		/* fixed by pmm_init: db covers [base, end) */
	uintptr_t vmemmap;			/* fixed by pmm_init: db - base_pfn entries */
	uintptr_t va_start;			/* fixed by pmm_init: direct-map address of base_pfn */
	uint64_t npages;			/* fixed by pmm_init: end_pfn - base_pfn */
	struct page *free[PMM_MAX_ORDER + 1];	/* lock: doubly linked free blocks */
	uint64_t nr_free[PMM_MAX_ORDER + 1];	/* lock: blocks on each list */
	uint64_t free_pages;			/* lock: pages on the free lists */
	uint64_t total_pages;			/* lock: pages given by pmm_add_range */
	struct pmm_cpu cpu[MAX_CPUS];	/* each: its CPU only, interrupts off */
	bool poison;		/* fill free pages with PAGE_POISON_FREE and check them;
				 * change only while no page is free (before pmm_add_range) */
	uint64_t reports;	/* misuse reports so far (atomic); tests count them */
	void (*reclaim)(void);	/* called before an allocation fails (kmem_reclaim) */
};

struct pmm_stats {
	uint64_t total_pages;
	uint64_t free_pages;	/* available: on the free lists or in CPU caches */
	uint64_t cached_pages;	/* of those, in CPU caches */
	uint64_t free_blocks[PMM_MAX_ORDER + 1];	/* on the free lists */
};

/* Return: bytes of database pmm_init needs for physical range [lowest_pa, highest_pa). */
size_t pmm_db_bytes(uint64_t lowest_pa, uint64_t highest_pa);

/*
 * Set pm up with every frame in [lowest_pa, highest_pa) reserved; db is
 * pmm_db_bytes() of writable memory, aligned as struct page (each entry is
 * one cache line, of which kfree reads the slab fields), that pm keeps
 * using.
 * Kernel: poisoning starts as page_poison= says, so call after cmdline_init.
 * Context: before any other use of pm.
 */
void pmm_init(struct pmm *pm, void *db, uint64_t lowest_pa, uint64_t highest_pa);

/*
 * Give the whole pages inside [start_pa, end_pa) to the allocator. They must
 * lie in the database's range and be reserved (not given before). Touches
 * only the database unless poisoning is on, so ranges not yet mapped may be
 * added before paging maps them, as long as nothing allocates them.
 * Context: any; takes the pmm lock.
 */
void pmm_add_range(struct pmm *pm, uint64_t start_pa, uint64_t end_pa);

/*
 * Return: a direct-map pointer to 2^order pages aligned to their size, or
 * NULL when no such block is free (or order > PMM_MAX_ORDER). Pages in
 * other CPUs' caches do not count: a failing call drains only this CPU's
 * (the caches take no lock), so with several CPUs SMP bring-up must add a
 * drain run on each.
 * Context: any, including interrupts; takes the pmm lock.
 */
void *pmm_alloc(struct pmm *pm, unsigned order, unsigned flags);

/*
 * Return a block from pmm_alloc with the order it was allocated with. NULL
 * is ignored. Anything else (a double free, a foreign pointer, a wrong
 * order, a block another owner holds) is reported with a backtrace and
 * changes nothing.
 * Context: any; takes the pmm lock.
 */
void pmm_free(struct pmm *pm, void *p, unsigned order);

/* pmm_alloc and pmm_free for a block that `owner` holds: pmm_alloc is
 * pmm_alloc_as(.., PAGE_OWNER_PAGES), and a free must name the owner the
 * block was allocated for. */
void *pmm_alloc_as(struct pmm *pm, unsigned order, unsigned flags, enum page_owner owner);
void pmm_free_as(struct pmm *pm, void *p, unsigned order, enum page_owner owner);

/* What a misuse report says about a block of `owner`'s beyond its kind
 * (the slab heap names the cache): writes at most n bytes to buf. */
typedef void (*page_owner_describe_fn)(const struct page *head, char *buf, size_t n);
/* Context: set-up, before the owner's first block. */
void pmm_owner_describe(enum page_owner owner, page_owner_describe_fn fn);

/* pmm_free, but straight to the buddy lists even for order 0.
 * Context: any; takes the pmm lock. */
void pmm_free_nocache(struct pmm *pm, void *p, unsigned order);

/* Give this CPU's cached pages back to the buddy lists (pmm_alloc does
 * this itself before failing). Context: any; takes the pmm lock. */
void pmm_drain(struct pmm *pm);

/* Context: any; a snapshot taken under the lock. */
void pmm_stats(struct pmm *pm, struct pmm_stats *out);

/*
 * Walk every free list, CPU cache and database entry and ASSERT the
 * invariants listed in mm/pmm.c. Linear in the size of the database.
 * Context: no other CPU is using pm.
 */
void pmm_check(struct pmm *pm);

/* The database entry of the frame holding p, a direct-map address; NULL when
 * p is not in the direct map of the memory pm manages. */
static inline struct page *pmm_virt_to_page(const struct pmm *pm, const void *p)
{
	uint64_t i = ((uintptr_t)p - pm->va_start) >> PAGE_SHIFT;	/* wraps below */
	return i < pm->npages ? &pm->db[i] : NULL;
}

/* The kernel's allocator, over all RAM (set up by mm/boot.c); page_alloc and
 * page_free are pmm_alloc and pmm_free on it, with the same contract. */
extern struct pmm kernel_pmm;
void *page_alloc(unsigned order, unsigned flags);
void page_free(void *p, unsigned order);
void *page_alloc_as(unsigned order, unsigned flags, enum page_owner owner);
void page_free_as(void *p, unsigned order, enum page_owner owner);

#endif
