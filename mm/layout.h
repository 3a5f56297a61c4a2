/*
 * mm/layout.h - the kernel's virtual memory map, drawn once.
 *
 *   0xffffffffc0000000  the top GiB: never mapped (the heap's free mark,
 *                       FREE_MARK in mm/slab_internal.h, points here)
 *   0xffffffff80000000  kernel image (linker.ld; loaded at physical 2 MiB), W^X
 *   0xfffff00000000000  device registers (vmm_map_mmio: uncached, 4 KiB pages)
 *   0xffffe00000000000  scratch ranges (tests, temporary mappings), 4 KiB pages
 *   0xffffd00000000000  collector heap (4 KiB pages: dirty bits are its barrier)
 *   0xffffc00000000000  kernel-thread stacks, with guard gaps
 *   0xffff800000000000  direct map of RAM (boot: the first 4 GiB; then all
 *                       RAM the firmware reports, 2 MiB / 1 GiB pages)
 *   0x0000000000000000  unmapped after boot: null pointers fault
 *
 * Included from assembly too, so only #defines outside the C section.
 */
#ifndef MM_LAYOUT_H
#define MM_LAYOUT_H

#define KERNEL_VMA		0xffffffff80000000
#define KERNEL_PHYS		0x200000
#define DIRECT_MAP_BASE		0xffff800000000000
#define BOOT_DIRECT_MAP_SIZE	0x100000000	/* what boot/entry.S maps */

#define KSTACK_REGION_BASE	0xffffc00000000000
#define GC_HEAP_REGION_BASE	0xffffd00000000000
#define SCRATCH_REGION_BASE	0xffffe00000000000
#define KERNEL_REGION_SIZE	0x0000100000000000	/* 16 TiB each */
#define MMIO_REGION_BASE	0xfffff00000000000
#define MMIO_REGION_SIZE	0x0000000040000000	/* 1 GiB */

#define PAGE_SHIFT		12
#define PAGE_SIZE		(1ull << PAGE_SHIFT)

#define BOOT_STACK_SIZE		(16 * 1024)
#define IST_STACK_SIZE		(16 * 1024)

#ifndef __ASSEMBLER__
#include <stdint.h>

#ifdef HOST_TEST
/* Host tests back "physical memory" with an ordinary buffer (tests/host/kshim.c). */
extern uint8_t *host_phys_base;
static inline void *phys_to_virt(uint64_t pa) { return host_phys_base + pa; }
static inline uint64_t virt_to_phys(const void *va) { return (uint64_t)((const uint8_t *)va - host_phys_base); }
#else
/* Physical address to its direct-map alias, and back. */
static inline void *phys_to_virt(uint64_t pa) { return (void *)(pa + DIRECT_MAP_BASE); }
static inline uint64_t virt_to_phys(const void *va)
{
	uint64_t v = (uint64_t)va;
	return v >= KERNEL_VMA ? v - KERNEL_VMA : v - DIRECT_MAP_BASE;
}
#endif

/* Boundaries exported by linker.ld. */
extern char __kernel_phys_start[], __kernel_phys_end[], __kernel_end[];
extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __data_end[], __bss_start[], __bss_end[];
#endif

#endif
