/*
 * mm/vmm.h - kernel paging: the kernel's own page tables, the direct map,
 * 4 KiB map/unmap/protect/translate, accessed/dirty bits, virtual ranges with
 * guard gaps, and page-fault dispatch to range owners.
 */
#ifndef MM_VMM_H
#define MM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/spinlock.h"

/* Protection for vmm_map/vmm_protect: readable always; write and exec opt-in. */
enum vmm_prot {
	VMM_READ = 0,
	VMM_WRITE = 1 << 0,
	VMM_EXEC = 1 << 1,
};

/* Build the kernel's tables (direct map of all RAM, W^X image, nothing at 0)
 * and switch to them. Page-table pages come from page_alloc, which must be
 * able to serve from memory below 4 GiB at this point. */
void vmm_init(void);

/* Return: KERR_OK, or KERR_NOMEM when a page-table page cannot be had.
 * Mapping over an existing mapping is a bug and panics. */
int vmm_map(uint64_t va, uint64_t pa, unsigned prot);
/*
 * Map the device registers at [pa, pa + size) uncached, RW+NX, in the MMIO
 * region (mm/layout.h), for good: there is no unmap. pa need not be page
 * aligned. Return: the virtual address of pa, or 0 when the region or the
 * page-table pages ran out. Context: any (takes vmm_lock).
 */
uint64_t vmm_map_mmio(uint64_t pa, uint64_t size);

/* Return: KERR_OK, or KERR_NOENT if nothing was mapped at va. */
int vmm_unmap(uint64_t va, uint64_t *pa_out);
int vmm_protect(uint64_t va, unsigned prot);

struct vmm_translation {
	uint64_t pa;
	uint64_t page_size;	/* 4 KiB, 2 MiB or 1 GiB */
	unsigned prot;
	bool accessed, dirty;
	bool uncached;		/* PCD|PWT: device memory (vmm_map_mmio) */
};
/* Return: true and *out filled when va is mapped. */
bool vmm_translate(uint64_t va, struct vmm_translation *out);

/* Test-and-clear the accessed/dirty bit of a 4 KiB mapping, invalidating the
 * TLB entry when the bit was set: a cached entry with D=1 would let later
 * writes through without setting the bit again (hazard 5). */
bool vmm_test_and_clear_dirty(uint64_t va);
bool vmm_test_and_clear_accessed(uint64_t va);
/* Clear the dirty bit of every dirty 4 KiB page in [lo, hi), as
 * vmm_test_and_clear_dirty does, and call fn(ctx, page) for each, in
 * address order, without vmm_lock held. Stretches without a page table are
 * skipped. Return: the dirty pages found. Cost: a table walk per 2 MiB and
 * a test per eight clean pages. */
size_t vmm_dirty_scan(uint64_t lo, uint64_t hi, void (*fn)(void *ctx, uint64_t va), void *ctx);

/* Whether 1 GiB pages back the direct map (CPUID), and whether NX is enforced. */
bool vmm_has_1g_pages(void);
bool vmm_has_nx(void);

/*
 * Virtual ranges in a region, each with at least `guard` unmapped bytes on
 * both sides, so running off a range faults instead of reaching its
 * neighbour. First fit over a sorted table (from the early arena).
 */
struct vm_arena {
	const char *name;
	uint64_t base, end, guard;
	struct vm_range { uint64_t start, size; } *ranges;	/* sorted by start; lock */
	unsigned count, capacity;				/* lock */
	struct spinlock lock;
};

void vm_arena_init(struct vm_arena *a, const char *name, uint64_t base, uint64_t size,
		   uint64_t guard, unsigned capacity);
/* Return: the start of a fresh page-aligned range, or 0 when none fits. */
uint64_t vm_arena_alloc(struct vm_arena *a, uint64_t size);
void vm_arena_free(struct vm_arena *a, uint64_t start);

/*
 * Page-fault owners. A fault inside [start, end) calls handler(ctx, addr,
 * frame); when it returns true the trapped context resumes from the frame
 * (the faulting instruction is retried unless the handler changed it). The
 * frame carries the error code, and RFLAGS and RSP as they were at the
 * fault: whether the faulting context had interrupts on decides what a
 * handler may call (mm/kstack.c). Called on the #PF IST stack with
 * interrupts off: a handler may not sleep.
 */
struct trap_frame;
typedef bool (*vmm_fault_fn)(void *ctx, uint64_t addr, struct trap_frame *f);
int vmm_fault_register(uint64_t start, uint64_t end, const char *name, vmm_fault_fn fn, void *ctx);
void vmm_fault_unregister(uint64_t start);
/* From the trap path. Return: true when an owner handled the fault. */
bool vmm_handle_fault(uint64_t addr, struct trap_frame *f);

/*
 * Page-table entries written without vmm_lock, for a range whose owner is
 * the only writer of its PTEs (kernel stacks: mm/kstack.c). vmm_prebuild
 * creates every table above the 4 KiB PTEs of [start, end) once; tables are
 * never freed, so vmm_pte's pointer stays valid for good, and a fault
 * handler can map a page without a lock it might be interrupting.
 */
/* Return: KERR_OK, or KERR_NOMEM when a page-table page cannot be had (the
 * tables built so far stay). A large page in the range panics.
 * Context: takes vmm_lock; allocates page-table pages. */
int vmm_prebuild(uint64_t start, uint64_t end);
/* The 4 KiB PTE of va, in tables vmm_prebuild built; NULL when there is no
 * page table for va (or a large page maps it). Context: any, no lock. */
uint64_t *vmm_pte(uint64_t va);
bool vmm_pte_present(const uint64_t *pte);
/* Not present -> present. No TLB flush: the TLB never holds a not-present
 * translation. A present entry is a bug and panics. Context: the range's
 * owner. */
void vmm_pte_map(uint64_t *pte, uint64_t pa, unsigned prot);
/* Present -> not present, with invlpg(va), which is required: the TLB may
 * still hold the old translation. Return: the physical address that was
 * mapped; a not-present entry is a bug and panics. Context: the range's owner. */
uint64_t vmm_pte_unmap(uint64_t *pte, uint64_t va);

#endif
