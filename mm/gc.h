/*
 * mm/gc.h - the garbage collector: memory that is freed when nothing points
 * to it any more.
 *
 * gc_alloc memory is found reachable from the roots: the data segment
 * (.data and .bss), every thread's stack and saved registers, its start
 * argument, and the ranges registered with gc_root_add. Scanning is
 * conservative: any aligned word that holds an address inside an allocated
 * object keeps the object alive, a pointer to its middle as well as to its
 * start. A pointer one past the end does not: it is the next object's
 * start, as C's own rules allow it to be. Code that walks an object to its
 * end must keep a pointer to the object itself while it does.
 *
 * Objects never move. kmalloc memory is not scanned: an object referenced
 * only from kmalloc memory needs that memory registered with gc_root_add.
 */
#ifndef MM_GC_H
#define MM_GC_H

#include <stddef.h>
#include <stdint.h>

/*
 * A zeroed object of n bytes in the collector's heap. It may run a
 * collection first, so it is for thread context only: a call in an
 * interrupt handler, or with a spinlock held, is reported and panics.
 * Return: the object, or NULL only when memory is exhausted after a
 * complete collection.
 */
void *gc_alloc(size_t n);
/* The same for data that holds no pointers: the collector never scans it. */
void *gc_alloc_noscan(size_t n);

/* Run a complete collection now. Context: thread, no spinlock held. */
void gc_collect(void);

/*
 * Scan [start, start + len) as a root from now on, until gc_root_remove.
 * For memory the collector does not scan by itself: kmalloc memory, and
 * any range outside the data segment and the stacks. start must be
 * 8-byte aligned. Return: KERR_OK, or KERR_NOSPACE when the table of
 * roots (GC_MAX_ROOTS) is full. Context: thread.
 */
#define GC_MAX_ROOTS 64
int gc_root_add(void *start, size_t len);
/* Return: KERR_OK, or KERR_NOENT when no root starts at start. */
int gc_root_remove(void *start);

struct gc_stats {
	uint64_t cycles;		/* complete collections */
	uint64_t heap_bytes;		/* mapped pages of the collector's heap */
	uint64_t alloc_bytes;		/* bytes in allocated objects now */
	uint64_t live_bytes;		/* L: bytes marked in the last cycle */
	uint64_t goal_bytes;		/* alloc_bytes at which the next cycle starts */
	uint64_t total_alloc_bytes, total_allocs;
	uint64_t freed_bytes, freed_objects;	/* by every sweep so far */
	uint64_t scanned_bytes;		/* heap bytes the last cycle scanned */
	uint64_t root_bytes;		/* root bytes the last cycle scanned */
	uint64_t stack_bytes;		/* of which stacks */
	uint64_t data_bytes;		/* of which the data segment */
	uint64_t mark_overflows;	/* mark-stack overflows, every cycle */
	uint64_t pause_max_ns, pause_total_ns;	/* world stopped */
	uint64_t stack_trimmed_bytes;	/* stack pages trimmed by every cycle */
};
void gc_stats(struct gc_stats *out);

#endif
