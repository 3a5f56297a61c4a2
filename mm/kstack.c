/*
 * mm/kstack.c - kernel-thread stacks: a reservation each, grown page by
 * page on faults, trimmed on request, fed through a stack-page cache.
 *
 * Structures (geometry in mm/kstack.h):
 *   slot bitmaps   one per slot size, one bit a slot (kstack lock), from the
 *                  heap at boot. A bitmap holds min(the sub-region's slots,
 *                  pages of RAM) bits: every live stack holds a page, so
 *                  slots cannot run out before memory does (at 128 MiB the
 *                  eight take 32 KiB, 3 bytes a stack of 10,000). Not
 *                  vm_arena: it searches and shifts a sorted table of
 *                  ranges, linear in the stacks alive, in a fixed array
 *                  from the early arena; here taking a slot is one bit
 *                  found from a lowest-free hint (taking the lowest keeps
 *                  stacks packed onto few page-table pages), and an address
 *                  finds its slot by a shift.
 *   struct kstack  in the top KSTACK_META_SIZE bytes of the slot, above the
 *                  stack top, in the stack's own top page (which is never
 *                  trimmed): no heap memory per stack, and the fault
 *                  handler finds it by arithmetic from the address alone.
 *                  A canary tells live from dead and from overwritten.
 *   page tables    built for the whole reservation when it is created
 *                  (vmm_prebuild), never freed; slots of 128 KiB share one
 *                  page-table page 16 at a time (256 bytes a stack).
 *   cache          pages of trimmed and destroyed stacks, LIFO through
 *                  their first word, at most cache_max (kstack lock).
 *   reserves       per CPU, up to KSTACK_RESERVE_PAGES zeroed pages for
 *                  growth in contexts that may not allocate.
 * Every page a stack, the cache or a reserve holds is allocated from the
 * page allocator as PAGE_OWNER_STACK.
 *
 * Create (kstack_create):
 *  1. Round the limit, pick the slot size, take the lowest free slot.
 *  2. Build the reservation's page tables.
 *  3. Take a page (cache first, counted as a reuse, else page_alloc),
 *     zero it, write the struct kstack at its top through the direct map,
 *     then map it as the slot's top page: a mapped top page means a valid
 *     struct kstack. Refill this CPU's reserve.
 *
 * Grow (kstack_fault, the #PF handler for the stack region):
 *  1. Find the stack from the fault address, never from a current thread
 *     (a fault can land inside a context switch): bitmap bit, top PTE
 *     present, canary. Not a live stack's, or a protection fault: not
 *     ours (trap.c reports it).
 *  2. Below the reservation, in the guard: an overflow. The trapped RSP
 *     outside the slot: a stray access. Both are reported (below).
 *  3. Map zeroed pages from the current bottom down to the fault's page,
 *     one PTE at a time, lowering `low` after each: no holes, ever. Each
 *     page comes from, in order:
 *       - the cache, only when the faulting code holds no spinlock (it
 *         cannot then hold the kstack lock);
 *       - page_alloc, only when it also had interrupts on: then it was
 *         where an interrupt handler could have allocated. It was not
 *         inside a restartable sequence either: sequences use no stack
 *         (kernel/restart.h, rule 3), so no growth fault lands in one;
 *       - this CPU's reserve, which takes no lock and serves anyone.
 *     No page at all: real exhaustion when page_alloc was allowed, else
 *     an empty reserve; either is reported, naming the shortage.
 *  4. Return: the instruction is retried. A new PTE needs no invlpg: the
 *     TLB never holds a not-present entry.
 *
 * Report: "BUG: stack guard page was hit at ADDR in thread NAME (stack
 * LO..HI, limit N KiB)" (or the stray and exhaustion lines), a backtrace of
 * the trapped context, then the thread layer's hook decides. It is asked
 * only when the faulting code had interrupts on and held no spinlock, since
 * a thread is killed only when it holds nothing; otherwise, with no hook,
 * or when the hook declines, the kernel panics.
 *
 * Trim (kstack_trim, owner stopped) and destroy: per page, with interrupts
 * off, raise `low` above it, then clear its PTE with invlpg (the TLB may
 * hold it); the page goes to the cache, or back to the page allocator when
 * the cache is full. Raising `low` first keeps [low, top) mapped for a
 * reader (the collector) at every instant.
 *
 * Refill (kstack_refill) against a nested growth fault: a #PF is not masked
 * by cli nor rewound, so refill's own stack may fault anywhere in it and
 * the handler pops the very reserve being filled. That is safe because
 * refill holds no reserve state across anything that may fault: it takes a
 * page first (which may fault and pop), then pushes it in one asm
 * statement with interrupts off that reads the count, stores the page and
 * commits the count, touching no stack: nothing can fault in between, and
 * interrupts off keeps another thread of this CPU out. The pop runs in the
 * fault handler, which no growth fault can interrupt (it runs on its IST
 * stack). Refill re-reads the count at each push, so pops in between are
 * simply more room.
 *
 * Invariants (kstack_check asserts each):
 *   - A slot's bit is set iff a stack holds it; a live stack's struct
 *     kstack has KSTACK_LIVE and describes its slot.
 *   - [low, hi) is mapped page by page, [lo, low) and the guard are not;
 *     lo <= low <= hi - PAGE_SIZE; every mapped page is PAGE_OWNER_STACK.
 *   - The totals (stacks, reserved, mapped) are the sums over live stacks;
 *     the cache holds cache_count STACK pages, a reserve `count` zeroed
 *     STACK pages, all distinct.
 *
 * Locking: kstack_lock (LOCK_RANK_KSTACK, the highest rank: nothing is taken
 * under it) guards the bitmaps, the cache and the stack and byte counts. A
 * stack's PTEs and its struct kstack are written by its own growth faults
 * and, while it is stopped, by trim and destroy, all with interrupts off on
 * one CPU; growth never takes vmm's lock. A reserve belongs to its CPU.
 * Counters the fault handler updates are atomic.
 */
#include "mm/kstack.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/spinlock.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/pmm.h"
#include "mm/slab.h"
#include "mm/vmm.h"

#define KSTACK_LIVE	0x6b737461636b4c56ull	/* "VLkcatsk": a live stack */
#define KSTACK_DEAD	0x6b737461636b4444ull	/* set by destroy before unmapping */
#define PF_PRESENT	1ull			/* #PF error code: a protection fault */
#define NAME_MAX	32

struct kstack {
	uint64_t canary;	/* KSTACK_LIVE while live */
	uint64_t index;		/* slot in its sub-region */
	uint64_t limit;		/* bytes of reservation, below the slot's end */
	uint64_t low;		/* lowest mapped address: growth and trim, irqs off */
	uint64_t high_water;	/* most bytes mapped */
	uint64_t growth_faults;
	uint64_t trims;
	uint32_t cls;		/* slot size: kstack_class_of_shift */
	char name[NAME_MAX];
};
_Static_assert(sizeof(struct kstack) <= KSTACK_META_SIZE, "struct kstack fits above the stack top");
_Static_assert(KSTACK_META_SIZE % 16 == 0, "the stack top stays 16-byte aligned");

static struct slot_class {
	uint64_t *bits;		/* lock (written); bit i: slot i is taken */
	uint64_t capacity;	/* fixed by kstack_init */
	uint64_t hint;		/* lock: no free slot in words below this one */
} classes[KSTACK_CLASSES];

static struct spinlock kstack_lock = SPINLOCK_INIT("kstack", LOCK_RANK_KSTACK);
static void *cache;		/* lock: pages linked through their first word */
static uint64_t cache_count;	/* lock */
static uint64_t cache_max;	/* fixed by kstack_init */
static uint64_t nr_stacks;	/* lock */
static uint64_t reserved_bytes;	/* lock */

/* Updated by the fault handler too: atomic. */
static struct {
	uint64_t mapped, reuses, growth_faults, from_allocator, from_reserve, reserve_locked;
} counts;

static struct reserve {
	void *page[KSTACK_RESERVE_PAGES];	/* [0, count): zeroed STACK pages */
	uint64_t count;				/* its CPU; see the design comment */
} __attribute__((aligned(64))) reserves[MAX_CPUS];

static kstack_fault_fn fault_hook;

static uint64_t kstack_max = KSTACK_LIMIT_DEFAULT;
CMDLINE_OPTION(kstack_max, "kstack.max", CMDLINE_SIZE, NULL,
	       "default kernel-thread stack limit, 8K..16380K in 4 KiB steps");

static void count_add(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

/* ---- geometry of one stack ------------------------------------------------ */

static unsigned shift_of(const struct kstack *ks) { return KSTACK_SLOT_SHIFT_MIN + ks->cls; }
static uint64_t stack_hi(const struct kstack *ks) { return (uint64_t)ks + KSTACK_META_SIZE; }
static uint64_t stack_lo(const struct kstack *ks) { return stack_hi(ks) - ks->limit; }
static uint64_t slot_start(const struct kstack *ks) { return stack_hi(ks) - (1ull << shift_of(ks)); }

/* ---- pages ------------------------------------------------------------------ */

/* 512 stores: rep stosb would count one instruction a byte under -icount. */
static void zero_page(void *p)
{
	uint64_t n = PAGE_SIZE / 8;
	__asm__ volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(0ull) : "memory");
}

/*
 * A zeroed page from the cache, else (when may_alloc) the page allocator;
 * *allocated says which. Context: the caller, or the code a fault
 * interrupted, holds no spinlock.
 */
static void *page_get(bool may_alloc, bool *allocated)
{
	uint64_t flags = spin_lock_irqsave(&kstack_lock);
	void *p = cache;
	if (p) {
		cache = *(void **)p;
		cache_count--;
	}
	spin_unlock_irqrestore(&kstack_lock, flags);
	*allocated = !p && may_alloc;
	if (p)
		count_add(&counts.reuses, 1);
	else if (may_alloc)
		p = page_alloc_as(0, 0, PAGE_OWNER_STACK);
	if (p)
		zero_page(p);
	return p;
}

/* A stack page back to the cache, or to the allocator when it is full.
 * Context: thread; no lock of rank KSTACK or above held. */
static void page_put(void *p)
{
	uint64_t flags = spin_lock_irqsave(&kstack_lock);
	if (cache_count < cache_max) {
		*(void **)p = cache;
		cache = p;
		cache_count++;
		p = NULL;
	}
	spin_unlock_irqrestore(&kstack_lock, flags);
	if (p)
		page_free_as(p, 0, PAGE_OWNER_STACK);
}

/* Push p on r unless full; one asm statement with no stack access, so no
 * growth fault can fall between reading the count and committing it (the
 * design comment). Return: whether p was pushed. Interrupts off. */
static bool reserve_push(struct reserve *r, void *p)
{
	uint64_t pushed;
	__asm__ volatile("xorl %k[ok], %k[ok]\n\t"
			 "movq %[count], %%rax\n\t"
			 "cmpq %[max], %%rax\n\t"
			 "jae 1f\n\t"
			 "movq %[p], (%[slots], %%rax, 8)\n\t"
			 "incq %%rax\n\t"
			 "movq %%rax, %[count]\n\t"	/* the commit */
			 "movl $1, %k[ok]\n"
			 "1:"
			 : [count] "+m"(r->count), [ok] "=&r"(pushed)
			 : [max] "i"(KSTACK_RESERVE_PAGES), [p] "r"(p), [slots] "r"(r->page)
			 : "rax", "memory", "cc");
	return pushed;
}

/* Context: the fault handler (interrupts off, nothing can nest). */
static void *reserve_pop(void)
{
	struct reserve *r = &reserves[cpu_id()];
	if (!r->count)
		return NULL;
	return r->page[--r->count];
}

bool kstack_refill(void)
{
	for (;;) {
		if (__atomic_load_n(&reserves[cpu_id()].count, __ATOMIC_RELAXED) >= KSTACK_RESERVE_PAGES)
			return true;
		bool allocated;
		void *p = page_get(true, &allocated);	/* may take growth faults that pop the reserve */
		if (!p)
			return false;
		uint64_t flags = irq_save();
		bool pushed = reserve_push(&reserves[cpu_id()], p);
		irq_restore(flags);
		if (!pushed) {
			page_put(p);
			return true;
		}
	}
}

/* ---- slots ------------------------------------------------------------------ */

static bool slot_alloc_locked(struct slot_class *c, uint64_t *index)
{
	uint64_t words = (c->capacity + 63) / 64;
	for (uint64_t w = c->hint; w < words; w++) {
		if (c->bits[w] == ~0ull)
			continue;
		uint64_t i = w * 64 + (uint64_t)__builtin_ctzll(~c->bits[w]);
		c->hint = w;
		if (i >= c->capacity)
			return false;
		__atomic_fetch_or(&c->bits[w], 1ull << (i % 64), __ATOMIC_RELEASE);
		*index = i;
		return true;
	}
	c->hint = words;
	return false;
}

static void slot_free_locked(struct slot_class *c, uint64_t i)
{
	__atomic_fetch_and(&c->bits[i / 64], ~(1ull << (i % 64)), __ATOMIC_RELEASE);
	if (i / 64 < c->hint)
		c->hint = i / 64;
}

static bool slot_taken(unsigned cls, uint64_t i)
{
	return i < classes[cls].capacity &&
	       (__atomic_load_n(&classes[cls].bits[i / 64], __ATOMIC_ACQUIRE) >> (i % 64) & 1);
}

/* The live stack of addr's slot, or NULL: bit taken, top page mapped (then
 * its struct kstack was written), canary live. A struct kstack that is
 * neither live nor dead was overwritten: a broken invariant. */
static struct kstack *live_stack(uint64_t addr)
{
	unsigned cls;
	uint64_t index;
	if (!kstack_slot_of(addr, &cls, &index) || !slot_taken(cls, index))
		return NULL;
	uint64_t hi = kstack_slot_base(cls, index) + (1ull << (KSTACK_SLOT_SHIFT_MIN + cls));
	const uint64_t *top = vmm_pte(hi - PAGE_SIZE);
	if (!top || !vmm_pte_present(top))
		return NULL;
	struct kstack *ks = (struct kstack *)(hi - KSTACK_META_SIZE);
	if (ks->canary == KSTACK_DEAD)
		return NULL;
	if (ks->canary != KSTACK_LIVE || ks->cls != cls || ks->index != index)
		panic("kstack: the struct kstack at %p is overwritten (canary 0x%llx)", (void *)ks,
		      (unsigned long long)ks->canary);
	return ks;
}

struct kstack *kstack_find(uint64_t addr)
{
	return live_stack(addr);
}

/* ks must be a live stack's struct kstack, else the caller misused it. */
static void check_live(const struct kstack *ks, const char *what)
{
	if (live_stack((uint64_t)ks) != ks)
		panic("%s: %p is not a live stack (destroyed already, or never one)", what, (void *)ks);
	uint64_t sp = (uint64_t)__builtin_frame_address(0);
	if (sp >= slot_start(ks) && sp < stack_hi(ks))
		panic("%s: thread %s's stack is the one running", what, ks->name);
}

/* ---- create, destroy, trim ------------------------------------------------ */

uint64_t kstack_max_from_option(uint64_t v)
{
	const char *why = NULL;
	if (v % PAGE_SIZE)
		why = "not a multiple of 4K";
	else if (v < KSTACK_LIMIT_MIN || v > KSTACK_LIMIT_MAX)
		why = "out of range (8K..16380K)";
	if (!why)
		return v;
	kprintf("kstack: warning: kstack.max=%llu: %s; using default %lluK\n",
		(unsigned long long)v, why, (unsigned long long)(KSTACK_LIMIT_DEFAULT >> 10));
	return KSTACK_LIMIT_DEFAULT;
}

struct kstack *kstack_create(size_t limit, const char *name)
{
	if (!limit)
		limit = kstack_max;
	if (limit > KSTACK_LIMIT_MAX)
		panic("kstack_create(%s): limit %llu bytes is above the most, %llu KiB", name,
		      (unsigned long long)limit, (unsigned long long)(KSTACK_LIMIT_MAX >> 10));
	limit = (limit + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	if (limit < KSTACK_LIMIT_MIN)
		limit = KSTACK_LIMIT_MIN;
	unsigned shift = kstack_slot_shift(limit), cls = kstack_class_of_shift(shift);

	uint64_t index;
	uint64_t flags = spin_lock_irqsave(&kstack_lock);
	bool got = slot_alloc_locked(&classes[cls], &index);
	if (got) {
		nr_stacks++;
		reserved_bytes += limit;
	}
	spin_unlock_irqrestore(&kstack_lock, flags);
	if (!got)
		return NULL;

	uint64_t hi = kstack_slot_base(cls, index) + (1ull << shift);
	void *page = NULL;
	bool allocated;
	if (vmm_prebuild(hi - limit, hi) == KERR_OK)
		page = page_get(true, &allocated);
	if (!page) {
		flags = spin_lock_irqsave(&kstack_lock);
		slot_free_locked(&classes[cls], index);
		nr_stacks--;
		reserved_bytes -= limit;
		spin_unlock_irqrestore(&kstack_lock, flags);
		return NULL;
	}
	struct kstack *meta = (struct kstack *)((char *)page + PAGE_SIZE - KSTACK_META_SIZE);
	*meta = (struct kstack){
		.canary = KSTACK_LIVE, .index = index, .limit = limit, .low = hi - PAGE_SIZE,
		.high_water = PAGE_SIZE, .cls = cls,
	};
	for (unsigned i = 0; name && name[i] && i < NAME_MAX - 1; i++)
		meta->name[i] = name[i];
	vmm_pte_map(vmm_pte(hi - PAGE_SIZE), virt_to_phys(page), VMM_WRITE);
	count_add(&counts.mapped, PAGE_SIZE);
	kstack_refill();
	return (struct kstack *)(hi - KSTACK_META_SIZE);
}

/* Unmap [from, to) bottom up, raising ks->low first each time; the pages go
 * to the cache. from is ks->low. Context: the owner is stopped. */
static void unmap_bottom(struct kstack *ks, uint64_t from, uint64_t to)
{
	for (uint64_t va = from; va < to; va += PAGE_SIZE) {
		uint64_t flags = irq_save();
		if (va + PAGE_SIZE < stack_hi(ks))	/* the top page holds ks: not after it goes */
			__atomic_store_n(&ks->low, va + PAGE_SIZE, __ATOMIC_RELEASE);
		uint64_t pa = vmm_pte_unmap(vmm_pte(va), va);
		irq_restore(flags);
		page_put(phys_to_virt(pa));
	}
	__atomic_fetch_sub(&counts.mapped, to - from, __ATOMIC_RELAXED);
}

void kstack_destroy(struct kstack *ks)
{
	check_live(ks, "kstack_destroy");
	unsigned cls = ks->cls;
	uint64_t index = ks->index, limit = ks->limit, low = ks->low, hi = stack_hi(ks);
	ks->canary = KSTACK_DEAD;
	unmap_bottom(ks, low, hi);	/* ks itself goes with the last page */

	uint64_t flags = spin_lock_irqsave(&kstack_lock);
	slot_free_locked(&classes[cls], index);
	nr_stacks--;
	reserved_bytes -= limit;
	spin_unlock_irqrestore(&kstack_lock, flags);
}

void kstack_trim(struct kstack *ks, uint64_t saved_sp)
{
	check_live(ks, "kstack_trim");
	uint64_t low = ks->low;
	if (saved_sp < low || saved_sp > kstack_top(ks))
		panic("kstack_trim: saved SP 0x%llx of thread %s lies outside its mapped stack "
		      "0x%llx..0x%llx", (unsigned long long)saved_sp, ks->name,
		      (unsigned long long)low, (unsigned long long)kstack_top(ks));
	/* Keep the page holding saved_sp and one below it: a cushion, so a
	 * thread that resumes and calls a little deeper does not fault. */
	uint64_t keep = (saved_sp & ~(PAGE_SIZE - 1)) - PAGE_SIZE;
	if (keep <= low)
		return;
	unmap_bottom(ks, low, keep);
	ks->trims++;
}

uint64_t kstack_top(const struct kstack *ks)
{
	return (uint64_t)ks;
}

uint64_t kstack_mapped_bottom(const struct kstack *ks)
{
	return __atomic_load_n(&ks->low, __ATOMIC_ACQUIRE);
}

void kstack_stats(const struct kstack *ks, struct kstack_stats *out)
{
	*out = (struct kstack_stats){
		.lo = stack_lo(ks), .hi = stack_hi(ks), .limit = ks->limit,
		.mapped = stack_hi(ks) - kstack_mapped_bottom(ks), .high_water = ks->high_water,
		.growth_faults = ks->growth_faults, .trims = ks->trims, .name = ks->name,
	};
}

void kstack_totals(struct kstack_totals *out)
{
	uint64_t flags = spin_lock_irqsave(&kstack_lock);
	*out = (struct kstack_totals){
		.stacks = nr_stacks, .reserved = reserved_bytes, .cache_pages = cache_count,
		.cache_max = cache_max,
	};
	spin_unlock_irqrestore(&kstack_lock, flags);
	for (unsigned c = 0; c < cpus_online(); c++)
		out->reserve_pages += __atomic_load_n(&reserves[c].count, __ATOMIC_RELAXED);
	out->mapped = __atomic_load_n(&counts.mapped, __ATOMIC_RELAXED);
	out->reuses = __atomic_load_n(&counts.reuses, __ATOMIC_RELAXED);
	out->growth_faults = __atomic_load_n(&counts.growth_faults, __ATOMIC_RELAXED);
	out->from_allocator = __atomic_load_n(&counts.from_allocator, __ATOMIC_RELAXED);
	out->from_reserve = __atomic_load_n(&counts.from_reserve, __ATOMIC_RELAXED);
	out->reserve_locked = __atomic_load_n(&counts.reserve_locked, __ATOMIC_RELAXED);
}

/* ---- faults ----------------------------------------------------------------- */

kstack_fault_fn kstack_set_fault_hook(kstack_fault_fn fn)
{
	return __atomic_exchange_n(&fault_hook, fn, __ATOMIC_ACQ_REL);
}

/* A stack pointer or frame pointer the report may read through: anything
 * outside the stack region, or inside the mapped part of ks; else 0, which
 * the backtrace treats as the end of the chain. */
static uint64_t readable(const struct kstack *ks, uint64_t p)
{
	unsigned cls;
	uint64_t index;
	if (!kstack_slot_of(p, &cls, &index))
		return p;
	return p >= ks->low && p + 16 <= stack_hi(ks) ? p : 0;
}

/* Steps 2 and 3's failures: report, then kill through the hook or panic. */
static bool stack_fault(enum kstack_fault_kind kind, struct kstack *ks, uint64_t addr,
			struct trap_frame *f, unsigned locks, const char *shortage)
{
	static const char *const what[] = {
		[KSTACK_OVERFLOW] = "stack overflow", [KSTACK_STRAY] = "stray stack access",
		[KSTACK_NOMEM] = "stack growth out of memory",
	};
	unsigned long long lo = stack_lo(ks), hi = stack_hi(ks), kib = ks->limit >> 10;
	switch (kind) {
	case KSTACK_OVERFLOW:
		kprintf("BUG: stack guard page was hit at 0x%llx in thread %s (stack 0x%llx..0x%llx, "
			"limit %llu KiB)\n", (unsigned long long)addr, ks->name, lo, hi, kib);
		break;
	case KSTACK_STRAY:
		kprintf("BUG: stray access at 0x%llx below the mapped part of thread %s's stack, from "
			"outside it (rsp 0x%llx; stack 0x%llx..0x%llx, limit %llu KiB)\n",
			(unsigned long long)addr, ks->name, (unsigned long long)f->rsp, lo, hi, kib);
		break;
	case KSTACK_NOMEM:
		kprintf("kstack: thread %s cannot grow its stack to 0x%llx: no page left in %s "
			"(stack 0x%llx..0x%llx, limit %llu KiB)\n", ks->name,
			(unsigned long long)addr, shortage, lo, hi, kib);
		break;
	}
	uint64_t rsp = readable(ks, f->rsp), rbp = readable(ks, f->rbp);
	backtrace_print_trap(f->rip, rsp, rbp);

	bool irqs_on = f->rflags & RFLAGS_IF;
	kstack_fault_fn hook = __atomic_load_n(&fault_hook, __ATOMIC_ACQUIRE);
	const char *why = "no thread layer registered a fault hook";
	if (locks)
		why = "it holds a spinlock";
	else if (!irqs_on)
		why = "it runs with interrupts off";
	else if (hook) {
		struct kstack_fault kf = { kind, ks, addr, shortage };
		if (hook(&kf, f))
			return true;
		why = "the fault hook would not kill it";
	}
	panic_trace_from(f->rip, rsp, rbp, "kstack: %s in thread %s, not killed: %s", what[kind],
			 ks->name, why);
}

/* Step 3: map pages from ks->low down to page. Return: NULL, or what ran out. */
static const char *grow(struct kstack *ks, uint64_t page, unsigned locks, bool irqs_on)
{
	uint64_t pages = 0;
	const char *shortage = NULL;
	while (ks->low > page) {
		void *p = NULL;
		bool allocated = false;
		if (!locks)
			p = page_get(irqs_on, &allocated);
		if (p && allocated)
			count_add(&counts.from_allocator, 1);
		if (!p && (p = reserve_pop())) {
			count_add(&counts.from_reserve, 1);
			if (locks)
				count_add(&counts.reserve_locked, 1);
		}
		if (!p) {
			shortage = !locks && irqs_on
				? "memory (the page allocator, the stack-page cache and this CPU's reserve)"
				: "this CPU's reserve of zeroed stack pages (kstack_refill fills it)";
			break;
		}
		uint64_t va = ks->low - PAGE_SIZE;
		vmm_pte_map(vmm_pte(va), virt_to_phys(p), VMM_WRITE);
		__atomic_store_n(&ks->low, va, __ATOMIC_RELEASE);
		pages++;
	}
	count_add(&counts.mapped, pages * PAGE_SIZE);
	uint64_t mapped = stack_hi(ks) - ks->low;
	if (mapped > ks->high_water)
		ks->high_water = mapped;
	return shortage;
}

static bool kstack_fault(void *ctx, uint64_t addr, struct trap_frame *f)
{
	(void)ctx;
	struct kstack *ks = live_stack(addr);
	if (!ks || (f->error & PF_PRESENT) || addr >= ks->low)
		return false;	/* not a stack's to grow: trap.c reports it */
	unsigned locks = spin_held_count();
	if (addr < stack_lo(ks))
		return stack_fault(KSTACK_OVERFLOW, ks, addr, f, locks, NULL);
	if (f->rsp < slot_start(ks) || f->rsp >= stack_hi(ks))
		return stack_fault(KSTACK_STRAY, ks, addr, f, locks, NULL);

	ks->growth_faults++;
	count_add(&counts.growth_faults, 1);
	const char *shortage = grow(ks, addr & ~(PAGE_SIZE - 1), locks, f->rflags & RFLAGS_IF);
	if (shortage)
		return stack_fault(KSTACK_NOMEM, ks, addr, f, locks, shortage);
	return true;
}

/* ---- set-up and checks ------------------------------------------------------ */

void kstack_init(void)
{
	kstack_max = kstack_max_from_option(kstack_max);
	uint64_t pages = kernel_pmm.total_pages;
	for (unsigned c = 0; c < KSTACK_CLASSES; c++) {
		uint64_t cap = kstack_class_slots(c) < pages ? kstack_class_slots(c) : pages;
		classes[c].capacity = cap;
		classes[c].bits = kzalloc((cap + 63) / 64 * 8, 0);
		if (!classes[c].bits)
			panic("kstack_init: no memory for the slot bitmaps");
	}
	/* Dead stacks' pages wait for reuse up to RAM/512 (256 KiB at 128 MiB). */
	cache_max = pages / 512 < 16 ? 16 : pages / 512 > 1024 ? 1024 : pages / 512;
	if (vmm_fault_register(KSTACK_REGION_BASE, KSTACK_REGION_BASE + KERNEL_REGION_SIZE,
			       "kstack", kstack_fault, NULL) != KERR_OK)
		panic("kstack_init: no room in the fault-owner table");
	if (!kstack_refill())
		panic("kstack_init: no memory for the reserve of stack pages");
	kprintf("kstack: default limit %llu KiB, slots of 128 KiB..16 MiB, reserve %u pages a CPU, "
		"cache up to %llu pages\n", (unsigned long long)(kstack_max >> 10),
		KSTACK_RESERVE_PAGES, (unsigned long long)cache_max);
}

static void check_stack_page(uint64_t va)
{
	struct vmm_translation t;
	ASSERT(vmm_translate(va, &t) && t.page_size == PAGE_SIZE && (t.prot & VMM_WRITE));
	const struct page *pg = pmm_virt_to_page(&kernel_pmm, phys_to_virt(t.pa));
	ASSERT(pg && (pg->flags & PG_HEAD) && page_owner(pg) == PAGE_OWNER_STACK);
}

static void check_page_owned(const void *p)
{
	const struct page *pg = pmm_virt_to_page(&kernel_pmm, p);
	ASSERT(pg && (pg->flags & PG_HEAD) && page_owner(pg) == PAGE_OWNER_STACK);
}

void kstack_check(void)
{
	uint64_t stacks = 0, mapped = 0, reserved = 0;
	for (unsigned c = 0; c < KSTACK_CLASSES; c++) {
		for (uint64_t i = 0; i < classes[c].capacity; i++) {
			if (!classes[c].bits[i / 64]) {
				i |= 63;	/* a word of free slots */
				continue;
			}
			if (!slot_taken(c, i))
				continue;
			uint64_t hi = kstack_slot_base(c, i) + (1ull << (KSTACK_SLOT_SHIFT_MIN + c));
			struct kstack *ks = live_stack(hi - 1);
			ASSERT(ks && stack_hi(ks) == hi);
			ASSERT(ks->low >= stack_lo(ks) && ks->low <= hi - PAGE_SIZE && !(ks->low % PAGE_SIZE));
			for (uint64_t va = slot_start(ks); va < ks->low; va += PAGE_SIZE) {
				const uint64_t *pte = vmm_pte(va);
				ASSERT(!pte || !vmm_pte_present(pte));
			}
			for (uint64_t va = ks->low; va < hi; va += PAGE_SIZE)
				check_stack_page(va);
			ASSERT(ks->high_water >= hi - ks->low);
			stacks++;
			mapped += hi - ks->low;
			reserved += ks->limit;
		}
	}
	struct kstack_totals t;
	kstack_totals(&t);
	ASSERT(t.stacks == stacks && t.mapped == mapped && t.reserved == reserved);

	uint64_t n = 0;
	for (void *p = cache; p; p = *(void **)p, n++)
		check_page_owned(p);
	ASSERT(n == cache_count && n <= cache_max);

	for (unsigned c = 0; c < cpus_online(); c++) {
		const struct reserve *r = &reserves[c];
		ASSERT(r->count <= KSTACK_RESERVE_PAGES);
		for (uint64_t i = 0; i < r->count; i++) {
			check_page_owned(r->page[i]);
			const uint64_t *w = r->page[i];
			for (unsigned k = 0; k < PAGE_SIZE / 8; k++)
				ASSERT(w[k] == 0);
			for (unsigned d = 0; d < cpus_online(); d++)
				for (uint64_t j = 0; j < reserves[d].count; j++)
					ASSERT((d == c && j == i) || reserves[d].page[j] != r->page[i]);
		}
	}
}
