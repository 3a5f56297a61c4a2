/*
 * mm/gc_quota.h - the collector's record of its pauses, and the arithmetic
 * of the quota and of MMU over it (mm/gc_quota.c). mm/gc.c owns the record
 * and its lock; every function here is called with that lock held.
 */
#ifndef MM_GC_QUOTA_H
#define MM_GC_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/gc.h"

/* The last GC_PAUSE_LOG_MAX pauses in a ring, in time order and disjoint,
 * and lifetime figures over all of them. */
struct gc_pause_record {
	struct gc_pause log[GC_PAUSE_LOG_MAX];
	uint64_t nlog;			/* pauses ever logged */
	uint64_t folded;		/* of them, folded into mmu_ppm */
	uint64_t max_ns, total_ns;
	uint64_t hist[GC_HIST];
	uint64_t mmu_ppm[GC_MMU_WINDOWS];	/* lifetime minimum, parts per million */
};

void gc_record_init(struct gc_pause_record *r);
void gc_record_pause(struct gc_pause_record *r, uint64_t start_ns, uint64_t end_ns);
/* Whether enough pauses are unfolded that the ring would soon wrap over
 * them: fold before logging more. */
bool gc_record_fold_due(const struct gc_pause_record *r);
/* Fold the logged pauses' windows into the lifetime MMU minima. */
void gc_record_fold_mmu(struct gc_pause_record *r);
/* The earliest start at or after s of a quantum of q ns that keeps every
 * window of window ns within quota ns of GC time, given what is logged. */
uint64_t gc_quota_slot(const struct gc_pause_record *r, uint64_t s, uint64_t q, uint64_t window,
		       uint64_t quota);
/* Copy the logged pauses out, oldest first. */
void gc_record_copy(const struct gc_pause_record *r, struct gc_pause_log *out);

#endif
