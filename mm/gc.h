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
 * A zeroed object of n bytes in the collector's heap. It may start a
 * collection, and when no page is left it waits for one to end, so it is
 * for thread context only: a call in an
 * interrupt handler, or with a spinlock held, is reported and panics.
 * Return: the object, or NULL only when memory is exhausted after a
 * complete collection.
 */
void *gc_alloc(size_t n);
/* The same for data that holds no pointers: the collector never scans it. */
void *gc_alloc_noscan(size_t n);

/* Run a complete collection, one that begins after this call, and wait
 * for it. Context: thread, no spinlock held. */
void gc_collect(void);

/*
 * Scan [start, start + len) as a root from now on, until gc_root_remove.
 * For memory the collector does not scan by itself: kmalloc memory, and
 * any range outside the data segment and the stacks. start must be
 * 8-byte aligned. Return: KERR_OK, or KERR_NOSPACE when the table of
 * roots (GC_MAX_ROOTS) is full or the total would pass GC_ROOT_BYTES_MAX. Context: thread.
 */
#define GC_MAX_ROOTS 64
int gc_root_add(void *start, size_t len);
/* Return: KERR_OK, or KERR_NOENT when no root starts at start. */
int gc_root_remove(void *start);

/* The total bytes gc_root_add accepts: every registered root is rescanned
 * whole in the final phase, the one phase that is never interrupted, and
 * 64 KiB scans in about 90 us under TCG's -icount, a fifth of the default
 * quantum. */
#define GC_ROOT_BYTES_MAX (64ul << 10)

/* Start the collector's thread (it runs above every mutator), after
 * reading the gc.* options, each reported and defaulted when bad.
 * Context: once, in the init thread, before anything calls gc_alloc. */
void gc_start(void);

#define GC_HIST		16	/* pause_hist[i]: [1 us << (i-1), 1 us << i); [0] below 1 us */
#define GC_MMU_WINDOWS	4	/* mmu_ppm[]: windows of 1, 10, 50 and 100 ms */

struct gc_stats {
	uint64_t cycles;		/* complete collections */
	uint64_t heap_bytes;		/* mapped pages of the collector's heap */
	uint64_t alloc_bytes;		/* bytes in allocated objects now */
	uint64_t peak_heap_bytes;	/* the most heap_bytes ever */
	uint64_t peak_alloc_bytes;	/* the most alloc_bytes ever */
	uint64_t live_bytes;		/* L: bytes live at the end of the last mark */
	uint64_t goal_bytes;		/* the heap goal: L(1 + gc.percent/100) */
	uint64_t trigger_bytes;		/* alloc_bytes at which the next cycle starts */
	uint64_t total_alloc_bytes, total_allocs;
	uint64_t freed_bytes, freed_objects;	/* by every sweep so far */
	uint64_t scanned_bytes;		/* heap bytes the last cycle scanned */
	uint64_t root_bytes;		/* root bytes the last cycle scanned */
	uint64_t stack_bytes;		/* of which stacks */
	uint64_t data_bytes;		/* of which the data segment */
	uint64_t mark_overflows;	/* mark-stack overflows, every cycle */
	/* GC time: a runnable mutator (or one waiting in gc_alloc) without the
	 * CPU because the collector has it. A pause is one such interval. */
	uint64_t pauses, pause_max_ns, pause_total_ns;
	uint64_t pause_hist[GC_HIST];
	uint64_t mmu_ppm[GC_MMU_WINDOWS];	/* minimum mutator utilisation, ppm */
	uint64_t gc_ns;			/* collector time, idle time included */
	uint64_t alloc_rate_milli;	/* a: bytes allocated per 1000 ns of mutator time */
	uint64_t mark_cost_pico;	/* m: ps of collector time per byte scanned */
	uint64_t stack_trimmed_bytes;	/* stack pages trimmed by every cycle */
	uint64_t alloc_waits, alloc_wait_ns;	/* gc_alloc waiting for memory */
	uint64_t overruns;		/* quanta run over the quota, and throttled finals */
	uint64_t rounds;		/* final phases given up (another round run) */
};
void gc_stats(struct gc_stats *out);
/* Start peak_heap_bytes and peak_alloc_bytes again from the heap as it is
 * now, so that a workload's own peak can be measured. */
void gc_peak_reset(void);

/* The last pauses, oldest first (clock_ns times). For tests and benches. */
#define GC_PAUSE_LOG_MAX 4096
struct gc_pause {
	uint64_t start_ns, end_ns;
};
struct gc_pause_log {
	unsigned n;
	uint64_t total;			/* pauses ever logged */
	struct gc_pause p[GC_PAUSE_LOG_MAX];
};
void gc_pauses(struct gc_pause_log *out);

/* Figures of the logged pauses that began at or after since: their number,
 * median, 99th percentile and largest, and the most GC time in any window
 * of 1, 10, 50 and 100 ms (MMU is 1 minus that over the width). */
struct gc_pause_figures {
	unsigned pauses;
	uint64_t p50_ns, p99_ns, max_ns;
	uint64_t worst_ns[GC_MMU_WINDOWS];
};
void gc_pause_figures(const struct gc_pause_log *log, uint64_t since, struct gc_pause_figures *out);

#endif
