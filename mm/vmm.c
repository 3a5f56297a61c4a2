/*
 * mm/vmm.c - the kernel's page tables.
 *
 * Structures: one 4-level hierarchy (pml4) shared by every kernel thread.
 * Entries: P W | NX on leaves; PS marks a 2 MiB (PD) or 1 GiB (PDPT) page.
 *
 * vmm_init():
 *  1. Take a zeroed PML4 from the page allocator.
 *  2. Direct-map every RAM entry of the loader's map (types 1 and 3, merged)
 *     at DIRECT_MAP_BASE, RW+NX, with the largest pages that fit: 1 GiB when
 *     CPUID has them, else 2 MiB, 4 KiB at unaligned edges.
 *  3. Map the kernel image W^X with 4 KiB pages: .text RX, .rodata R+NX,
 *     .data/.bss RW+NX. Nothing is mapped below the direct map: no identity
 *     map, so page 0 and the 32-bit boot code are gone.
 *  4. Load CR3. Page-table pages are reached through the direct map.
 *
 * vmm_map/unmap/protect work on 4 KiB pages outside the direct map and
 * invalidate the TLB entry they change (invlpg; one CPU so far, so no
 * shootdown). vmm_map_mmio maps device registers for good: uncached
 * (PCD|PWT, which select PAT entry 3, UC unless the firmware reprogrammed
 * the PAT: checked), at addresses taken in order from MMIO_REGION_BASE. Locking: `vmm_lock` guards every page-table write; it ranks
 * below the page allocator's lock because mapping allocates table pages.
 * Faults: vmm_handle_fault() looks the address up in the owner table; the
 * table is written with interrupts off, and read from the #PF handler.
 * Lock-free PTEs: vmm_prebuild builds the tables of a range under the lock;
 * from then on its owner writes the leaves through vmm_pte alone (a stack's
 * growth fault may land while vmm_lock is held by the code it interrupted).
 * Walking without the lock is safe because a table, once linked, is never
 * unlinked or freed; the leaves are each written by their owner only.
 */
#include "mm/vmm.h"
#include "kernel/bootinfo.h"
#include "kernel/console.h"
#include "kernel/error.h"
#include "kernel/panic.h"
#include "kernel/string.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/early.h"
#include "mm/layout.h"
#include "mm/pmm.h"

#define PTE_P		(1ull << 0)
#define PTE_W		(1ull << 1)
#define PTE_PWT		(1ull << 3)
#define PTE_PCD		(1ull << 4)
#define PTE_A		(1ull << 5)
#define PTE_D		(1ull << 6)
#define PTE_PS		(1ull << 7)
#define PTE_NX		(1ull << 63)
#define PTE_ADDR	0x000ffffffffff000ull

#define SIZE_4K		(1ull << 12)
#define SIZE_2M		(1ull << 21)
#define SIZE_1G		(1ull << 30)
#define MAX_RAM_RANGES	128
#define MAX_FAULT_OWNERS 32
#define PAT_UC		0	/* memory type encoding in an IA32_PAT entry */

static uint64_t *pml4;				/* vmm_lock */
static struct spinlock vmm_lock = SPINLOCK_INIT("vmm", LOCK_RANK_VMM);
static bool has_nx, has_1g;
static uint64_t mmio_next = MMIO_REGION_BASE;	/* vmm_lock */

static struct fault_owner {
	uint64_t start, end;
	const char *name;
	vmm_fault_fn fn;
	void *ctx;
} owners[MAX_FAULT_OWNERS];			/* written with interrupts off */

bool vmm_has_1g_pages(void) { return has_1g; }
bool vmm_has_nx(void) { return has_nx; }

static unsigned index_at(uint64_t va, int level)	/* level 4 = PML4 ... 1 = PT */
{
	return (va >> (12 + 9 * (level - 1))) & 511;
}

static uint64_t leaf_flags(unsigned prot)
{
	uint64_t f = PTE_P;
	if (prot & VMM_WRITE)
		f |= PTE_W;
	if (!(prot & VMM_EXEC) && has_nx)
		f |= PTE_NX;
	return f;
}

static unsigned prot_of(uint64_t pte)
{
	return (pte & PTE_W ? VMM_WRITE : 0) | (pte & PTE_NX && has_nx ? 0 : VMM_EXEC);
}

static void invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" :: "r"(va) : "memory");
}

/*
 * The entry for va at `level` (1: 4 KiB PTE, 2: 2 MiB PDE, 3: 1 GiB PDPTE),
 * creating missing tables when `create`. Returns NULL when a table is missing
 * (and not created), when page_alloc fails, or when a larger page already
 * covers va (*large then says so). Must be called with vmm_lock held, or
 * before other CPUs or threads exist.
 */
static uint64_t *walk_locked(uint64_t va, int level, bool create, bool *large)
{
	uint64_t *table = pml4;
	*large = false;
	for (int l = 4; l > level; l--) {
		uint64_t *e = &table[index_at(va, l)];
		if (*e & PTE_P && *e & PTE_PS) {
			*large = true;
			return NULL;
		}
		if (!(*e & PTE_P)) {
			if (!create)
				return NULL;
			void *page = page_alloc(0, PAGE_ZERO);
			if (!page)
				return NULL;
			*e = virt_to_phys(page) | PTE_P | PTE_W;
		}
		table = phys_to_virt(*e & PTE_ADDR);
	}
	return &table[index_at(va, level)];
}

static void map_boot_locked(uint64_t va, uint64_t pa, uint64_t size, uint64_t flags)
{
	int level = size == SIZE_1G ? 3 : size == SIZE_2M ? 2 : 1;
	bool large;
	uint64_t *e = walk_locked(va, level, true, &large);
	if (!e)
		panic("vmm_init: cannot map 0x%llx (%s)", (unsigned long long)va,
		      large ? "overlaps a large page" : "out of page-table pages");
	if (*e & PTE_P)
		panic("vmm_init: 0x%llx mapped twice", (unsigned long long)va);
	*e = pa | flags | (level > 1 ? PTE_PS : 0);
}

static void insert_range(uint64_t (*out)[2], unsigned *n, uint64_t start, uint64_t end)
{
	if (*n == MAX_RAM_RANGES)
		panic("vmm_init: more than %d RAM ranges in the memory map", MAX_RAM_RANGES);
	unsigned j = (*n)++;
	for (; j > 0 && out[j - 1][0] > start; j--) {
		out[j][0] = out[j - 1][0];
		out[j][1] = out[j - 1][1];
	}
	out[j][0] = start;
	out[j][1] = end;
}

/* The loader's RAM entries (usable and ACPI reclaimable), sorted and merged. */
static unsigned ram_ranges(uint64_t (*out)[2])
{
	unsigned n = 0;
	for (uint32_t i = 0; i < bootinfo.mmap_count; i++) {
		struct mb2_mmap_entry e = bootinfo_mmap_entry(i);
		if ((e.type != 1 && e.type != 3) || e.length == 0)
			continue;
		uint64_t s = e.base & ~(SIZE_4K - 1);
		uint64_t end = e.base + e.length < e.base ? ~0ull : e.base + e.length;
		end = (end + SIZE_4K - 1) & ~(SIZE_4K - 1);
		if (end > (1ull << 46))
			end = 1ull << 46;	/* the direct map's 64 TiB window */
		if (s >= end)
			continue;
		insert_range(out, &n, s, end);
	}
	/* The boot information must stay reachable even if the loader put it
	 * outside the RAM it reported (strings in bootinfo point into it). */
	if (bootinfo.info_size) {
		uint64_t s = bootinfo.info_phys & ~(SIZE_4K - 1);
		uint64_t end = (bootinfo.info_phys + bootinfo.info_size + SIZE_4K - 1) & ~(SIZE_4K - 1);
		insert_range(out, &n, s, end);
	}
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m && out[i][0] <= out[m - 1][1]) {
			if (out[i][1] > out[m - 1][1])
				out[m - 1][1] = out[i][1];
		} else {
			out[m][0] = out[i][0];
			out[m][1] = out[i][1];
			m++;
		}
	}
	return m;
}

static void direct_map_range(uint64_t start, uint64_t end)
{
	const uint64_t flags = PTE_P | PTE_W | (has_nx ? PTE_NX : 0);
	for (uint64_t pa = start; pa < end; ) {
		uint64_t size = SIZE_4K;
		if (has_1g && !(pa & (SIZE_1G - 1)) && end - pa >= SIZE_1G)
			size = SIZE_1G;
		else if (!(pa & (SIZE_2M - 1)) && end - pa >= SIZE_2M)
			size = SIZE_2M;
		map_boot_locked(DIRECT_MAP_BASE + pa, pa, size, flags);
		pa += size;
	}
}

static void map_image(const char *start, const char *end, unsigned prot)
{
	for (uint64_t va = (uint64_t)start; va < (uint64_t)end; va += SIZE_4K)
		map_boot_locked(va, va - KERNEL_VMA, SIZE_4K, leaf_flags(prot));
}

void vmm_init(void)
{
	static uint64_t ram[MAX_RAM_RANGES][2];
	uint32_t r[4];

	cpuid(0x80000001, 0, r);
	has_1g = r[3] & (1u << 26);
	has_nx = rdmsr(MSR_EFER) & EFER_NXE;

	void *root = page_alloc(0, PAGE_ZERO);
	if (!root)
		panic("vmm_init: no page for the PML4");
	pml4 = root;

	unsigned n = ram_ranges(ram);
	uint64_t mapped = 0;
	for (unsigned i = 0; i < n; i++) {
		direct_map_range(ram[i][0], ram[i][1]);
		mapped += ram[i][1] - ram[i][0];
	}
	map_image(__text_start, __text_end, VMM_EXEC);
	map_image(__rodata_start, __rodata_end, VMM_READ);
	map_image(__data_start, __kernel_end, VMM_WRITE);

	__asm__ volatile("mov %0, %%cr3" :: "r"(virt_to_phys(pml4)) : "memory");
	kprintf("vmm: direct map of %llu MiB in %u ranges with %s pages; image W^X%s; page 0 unmapped\n",
		(unsigned long long)(mapped >> 20), n, has_1g ? "1 GiB/2 MiB" : "2 MiB",
		has_nx ? "" : " (no NX on this CPU: data stays executable)");
}

int vmm_map(uint64_t va, uint64_t pa, unsigned prot)
{
	bool large;
	ASSERT(!(va & (SIZE_4K - 1)) && !(pa & (SIZE_4K - 1)));
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t *e = walk_locked(va, 1, true, &large);
	if (large)
		panic("vmm_map: 0x%llx lies inside a large page", (unsigned long long)va);
	if (!e) {
		spin_unlock_irqrestore(&vmm_lock, flags);
		return KERR_NOMEM;
	}
	if (*e & PTE_P)
		panic("vmm_map: remap of 0x%llx", (unsigned long long)va);
	*e = pa | leaf_flags(prot);
	spin_unlock_irqrestore(&vmm_lock, flags);
	return KERR_OK;
}

uint64_t vmm_map_mmio(uint64_t pa, uint64_t size)
{
	uint64_t start = pa & ~(SIZE_4K - 1);
	uint64_t end = (pa + size + SIZE_4K - 1) & ~(SIZE_4K - 1);
	uint64_t pat = rdmsr(MSR_PAT);

	ASSERT(size && end > start);
	if (((pat >> 24) & 7) != PAT_UC)
		panic("vmm_map_mmio: PAT entry 3 is memory type %llu, not UC (the firmware "
		      "reprogrammed the PAT: IA32_PAT 0x%llx)", (unsigned long long)((pat >> 24) & 7),
		      (unsigned long long)pat);

	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t va = mmio_next;
	if (end - start > MMIO_REGION_BASE + MMIO_REGION_SIZE - va) {
		spin_unlock_irqrestore(&vmm_lock, flags);
		return 0;
	}
	for (uint64_t off = 0; off < end - start; off += SIZE_4K) {
		bool large;
		uint64_t *e = walk_locked(va + off, 1, true, &large);
		if (!e) {
			/* Out of page-table pages: undo the pages mapped so far. */
			for (uint64_t undo = 0; undo < off; undo += SIZE_4K) {
				*walk_locked(va + undo, 1, false, &large) = 0;
				invlpg(va + undo);
			}
			spin_unlock_irqrestore(&vmm_lock, flags);
			return 0;
		}
		if (*e & PTE_P)
			panic("vmm_map_mmio: remap of 0x%llx", (unsigned long long)(va + off));
		*e = (start + off) | PTE_P | PTE_W | PTE_PCD | PTE_PWT | (has_nx ? PTE_NX : 0);
	}
	mmio_next = va + (end - start);
	spin_unlock_irqrestore(&vmm_lock, flags);
	return va + (pa - start);
}

/* The present 4 KiB PTE for va, or NULL. Must hold vmm_lock. */
static uint64_t *pte_locked(uint64_t va)
{
	bool large;
	uint64_t *e = walk_locked(va, 1, false, &large);
	return e && (*e & PTE_P) ? e : NULL;
}

int vmm_unmap(uint64_t va, uint64_t *pa_out)
{
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t *e = pte_locked(va);
	if (!e) {
		spin_unlock_irqrestore(&vmm_lock, flags);
		return KERR_NOENT;
	}
	if (pa_out)
		*pa_out = *e & PTE_ADDR;
	*e = 0;
	invlpg(va);
	spin_unlock_irqrestore(&vmm_lock, flags);
	return KERR_OK;
}

int vmm_protect(uint64_t va, unsigned prot)
{
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t *e = pte_locked(va);
	if (!e) {
		spin_unlock_irqrestore(&vmm_lock, flags);
		return KERR_NOENT;
	}
	*e = (*e & (PTE_ADDR | PTE_A | PTE_D)) | leaf_flags(prot);
	invlpg(va);
	spin_unlock_irqrestore(&vmm_lock, flags);
	return KERR_OK;
}

bool vmm_translate(uint64_t va, struct vmm_translation *out)
{
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t *table = pml4, e = 0, size = 0;
	for (int l = 4; l >= 1; l--) {
		e = table[index_at(va, l)];
		if (!(e & PTE_P))
			break;
		if (l == 1 || (l <= 3 && (e & PTE_PS))) {
			size = 1ull << (12 + 9 * (l - 1));
			break;
		}
		table = phys_to_virt(e & PTE_ADDR);
	}
	spin_unlock_irqrestore(&vmm_lock, flags);
	if (!size)
		return false;
	uint64_t base = e & PTE_ADDR & ~(size - 1);
	*out = (struct vmm_translation){
		.pa = base + (va & (size - 1)),
		.page_size = size,
		.prot = prot_of(e),
		.accessed = e & PTE_A,
		.dirty = e & PTE_D,
		.uncached = (e & (PTE_PCD | PTE_PWT)) == (PTE_PCD | PTE_PWT),
	};
	return true;
}

static bool test_and_clear(uint64_t va, uint64_t bit)
{
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	uint64_t *e = pte_locked(va);
	bool was = false;
	if (e) {
		/* Atomic: the CPU sets A/D bits in the same word without our lock. */
		was = __atomic_fetch_and(e, ~bit, __ATOMIC_SEQ_CST) & bit;
		if (was)
			invlpg(va);
	}
	spin_unlock_irqrestore(&vmm_lock, flags);
	return was;
}

bool vmm_test_and_clear_dirty(uint64_t va) { return test_and_clear(va, PTE_D); }

size_t vmm_dirty_scan(uint64_t lo, uint64_t hi, void (*fn)(void *ctx, uint64_t va), void *ctx)
{
	size_t found = 0;
	lo &= ~(SIZE_4K - 1);
	while (lo < hi) {
		/* One page table at a time: its entries are consecutive, so a 2 MiB
		 * stretch costs one walk and a load per page. */
		uint64_t stop = (lo | (SIZE_2M - 1)) + 1;
		if (stop > hi || stop == 0)
			stop = hi;
		uint64_t dirty[8];
		unsigned n = 0;
		uint64_t flags = spin_lock_irqsave(&vmm_lock);
		bool large;
		uint64_t *e = walk_locked(lo, 1, false, &large);
		uint64_t va = lo;
		for (; e && va < stop && n < 8; va += SIZE_4K, e++) {
			/* Most entries are clean: a cache line of them (eight) is
			 * looked at in one test, and skipped when no dirty bit is
			 * among them. */
			if (!(va & (8 * SIZE_4K - 1)) && stop - va >= 8 * SIZE_4K) {
				uint64_t any = 0;
				for (int i = 0; i < 8; i++)
					any |= __atomic_load_n(&e[i], __ATOMIC_RELAXED);
				if (!(any & PTE_D)) {
					va += 7 * SIZE_4K;
					e += 7;
					continue;
				}
			}
			uint64_t v = __atomic_load_n(e, __ATOMIC_RELAXED);
			if ((v & (PTE_P | PTE_D)) != (PTE_P | PTE_D))
				continue;
			__atomic_fetch_and(e, ~PTE_D, __ATOMIC_SEQ_CST);
			invlpg(va);
			dirty[n++] = va;
		}
		spin_unlock_irqrestore(&vmm_lock, flags);
		/* fn runs without the lock (it may map pages); at most 8 a batch. */
		for (unsigned i = 0; i < n; i++)
			fn(ctx, dirty[i]);
		found += n;
		lo = e ? va : stop;
	}
	return found;
}
bool vmm_test_and_clear_accessed(uint64_t va) { return test_and_clear(va, PTE_A); }

void vm_arena_init(struct vm_arena *a, const char *name, uint64_t base, uint64_t size,
		   uint64_t guard, unsigned capacity)
{
	ASSERT(!(base & (SIZE_4K - 1)) && !(size & (SIZE_4K - 1)) && !(guard & (SIZE_4K - 1)));
	*a = (struct vm_arena){
		.name = name, .base = base, .end = base + size, .guard = guard,
		.ranges = early_alloc(capacity * sizeof(*a->ranges), 8),
		.capacity = capacity,
		.lock = SPINLOCK_INIT("vm_arena", LOCK_RANK_VMM),
	};
}

uint64_t vm_arena_alloc(struct vm_arena *a, uint64_t size)
{
	size = (size + SIZE_4K - 1) & ~(SIZE_4K - 1);
	if (!size || size > a->end - a->base)	/* 0 also when the rounding wrapped */
		return 0;
	uint64_t flags = spin_lock_irqsave(&a->lock);
	uint64_t start = 0;
	if (a->count < a->capacity) {
		/* Gap i lies before range i (gap count is the end of the region). */
		for (unsigned i = 0; i <= a->count && !start; i++) {
			uint64_t lo = i ? a->ranges[i - 1].start + a->ranges[i - 1].size : a->base;
			uint64_t hi = i < a->count ? a->ranges[i].start : a->end;
			/* Not size + 2 * guard: near 2^64 that sum wraps. */
			if (hi - lo >= 2 * a->guard && hi - lo - 2 * a->guard >= size) {
				start = lo + a->guard;
				memmove(&a->ranges[i + 1], &a->ranges[i], (a->count - i) * sizeof(a->ranges[0]));
				a->ranges[i] = (struct vm_range){ start, size };
				a->count++;
			}
		}
	}
	spin_unlock_irqrestore(&a->lock, flags);
	return start;
}

void vm_arena_free(struct vm_arena *a, uint64_t start)
{
	uint64_t flags = spin_lock_irqsave(&a->lock);
	for (unsigned i = 0; i < a->count; i++) {
		if (a->ranges[i].start == start) {
			memmove(&a->ranges[i], &a->ranges[i + 1], (a->count - i - 1) * sizeof(a->ranges[0]));
			a->count--;
			spin_unlock_irqrestore(&a->lock, flags);
			return;
		}
	}
	panic("vm_arena %s: free of 0x%llx, which it never handed out", a->name,
	      (unsigned long long)start);
}

int vmm_fault_register(uint64_t start, uint64_t end, const char *name, vmm_fault_fn fn, void *ctx)
{
	uint64_t flags = irq_save();
	int rc = KERR_NOSPACE;
	for (unsigned i = 0; i < MAX_FAULT_OWNERS; i++) {
		if (owners[i].fn && start < owners[i].end && owners[i].start < end)
			panic("vmm_fault_register: %s overlaps %s", name, owners[i].name);
	}
	for (unsigned i = 0; i < MAX_FAULT_OWNERS && rc != KERR_OK; i++) {
		if (!owners[i].fn) {
			owners[i] = (struct fault_owner){ start, end, name, fn, ctx };
			rc = KERR_OK;
		}
	}
	irq_restore(flags);
	return rc;
}

void vmm_fault_unregister(uint64_t start)
{
	uint64_t flags = irq_save();
	for (unsigned i = 0; i < MAX_FAULT_OWNERS; i++)
		if (owners[i].fn && owners[i].start == start)
			owners[i] = (struct fault_owner){ 0 };
	irq_restore(flags);
}

bool vmm_handle_fault(uint64_t addr, struct trap_frame *f)
{
	for (unsigned i = 0; i < MAX_FAULT_OWNERS; i++)
		if (owners[i].fn && addr >= owners[i].start && addr < owners[i].end)
			return owners[i].fn(owners[i].ctx, addr, f);
	return false;
}

int vmm_prebuild(uint64_t start, uint64_t end)
{
	ASSERT(!(start & (SIZE_4K - 1)) && start < end);
	uint64_t flags = spin_lock_irqsave(&vmm_lock);
	int rc = KERR_OK;
	/* One walk per page-table page: each holds the PTEs of 2 MiB. */
	for (uint64_t va = start; va < end; va = (va | (SIZE_2M - 1)) + 1) {
		bool large;
		if (!walk_locked(va, 1, true, &large)) {
			if (large)
				panic("vmm_prebuild: 0x%llx lies inside a large page",
				      (unsigned long long)va);
			rc = KERR_NOMEM;
			break;
		}
	}
	spin_unlock_irqrestore(&vmm_lock, flags);
	return rc;
}

uint64_t *vmm_pte(uint64_t va)
{
	const uint64_t *table = pml4;
	for (int l = 4; l > 1; l--) {
		uint64_t e = __atomic_load_n(&table[index_at(va, l)], __ATOMIC_ACQUIRE);
		if (!(e & PTE_P) || (e & PTE_PS))
			return NULL;
		table = phys_to_virt(e & PTE_ADDR);
	}
	return (uint64_t *)&table[index_at(va, 1)];
}

bool vmm_pte_present(const uint64_t *pte)
{
	return __atomic_load_n(pte, __ATOMIC_RELAXED) & PTE_P;
}

void vmm_pte_map(uint64_t *pte, uint64_t pa, unsigned prot)
{
	ASSERT(!(pa & (SIZE_4K - 1)));
	if (vmm_pte_present(pte))
		panic("vmm_pte_map: PTE at %p is already present (0x%llx)", (void *)pte,
		      (unsigned long long)*pte);
	__atomic_store_n(pte, pa | leaf_flags(prot), __ATOMIC_RELEASE);
}

uint64_t vmm_pte_unmap(uint64_t *pte, uint64_t va)
{
	/* An exchange: the CPU may set A/D in the same word as we clear it. */
	uint64_t old = __atomic_exchange_n(pte, 0, __ATOMIC_SEQ_CST);
	if (!(old & PTE_P))
		panic("vmm_pte_unmap: 0x%llx is not mapped", (unsigned long long)va);
	invlpg(va);
	return old & PTE_ADDR;
}
