/*
 * mm/gc_roots.h - the collector's roots outside the threads: the data
 * segment and the ranges registered with gc_root_add (mm/gc_roots.c).
 * The threads' stacks and registers are mm/gc.c's, which knows their state.
 */
#ifndef MM_GC_ROOTS_H
#define MM_GC_ROOTS_H

#include <stddef.h>
#include <stdint.h>

struct gc_heap;

/* Exclude [state_lo, state_hi), the collector's own state, from the data
 * segment's roots, with the trap and boot stacks. Context: once, at boot. */
void gc_roots_init(uintptr_t state_lo, uintptr_t state_hi);
/* Scan [lo, hi) of the data segment, but the exclusions. Return: bytes scanned. */
size_t gc_roots_mark_data(struct gc_heap *h, uintptr_t lo, uintptr_t hi);
/* Rescan the dirty pages of [lo, hi) of the data segment, each page's dirty
 * bit cleared first. Return: bytes scanned. */
size_t gc_roots_rescan_data(struct gc_heap *h, uintptr_t lo, uintptr_t hi);
/* Scan every registered root whole. Return: bytes scanned. */
size_t gc_roots_mark_registered(struct gc_heap *h);

#endif
