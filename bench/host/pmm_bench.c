/*
 * bench/host/pmm_bench.c - mm/pmm.c compiled for the host on the test shim,
 * timed with clock_gettime: median ns per operation over repeated batches.
 * Same cases as bench/kernel/pmm_bench.c. Prints "bench: <case> ns=<median>".
 */
#include "mm/layout.h"
#include "mm/pmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ARENA_PAGES	(64 * 1024)	/* 256 MiB of fake physical memory */
#define BATCH		100000
#define REPEATS		15

static struct pmm pm;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median over REPEATS of (batch time / ops) for one alloc+free pair loop. */
static double pair_ns(unsigned order, unsigned flags, int nocache)
{
	double per[REPEATS];
	for (int r = 0; r < REPEATS; r++) {
		double t0 = now_ns();
		for (int i = 0; i < BATCH; i++) {
			void *p = pmm_alloc(&pm, order, flags);
			if (nocache)
				pmm_free_nocache(&pm, p, order);
			else
				pmm_free(&pm, p, order);
		}
		per[r] = (now_ns() - t0) / BATCH;
	}
	qsort(per, REPEATS, sizeof(per[0]), cmp);
	return per[REPEATS / 2];
}

int main(void)
{
	uint64_t bytes = (uint64_t)ARENA_PAGES * 4096;
	host_phys_base = aligned_alloc(1 << 22, bytes);
	void *db = aligned_alloc(_Alignof(struct page), pmm_db_bytes(0, bytes));
	if (!host_phys_base || !db)
		return 1;
	pmm_init(&pm, db, 0, bytes);
	pmm_add_range(&pm, 4096, bytes);	/* page 0 stays reserved, as in the kernel */

	printf("bench: order0_cached.pair ns=%.1f\n", pair_ns(0, 0, 0));
	printf("bench: order0_nocache.pair ns=%.1f\n", pair_ns(0, PAGE_NOCACHE, 1));
	printf("bench: order9.pair ns=%.1f\n", pair_ns(9, 0, 0));
	return 0;
}
