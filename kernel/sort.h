/*
 * kernel/sort.h - sorting a few uint64_t samples in place, for medians
 * (kernel/calibrate.c's windows, kernel/kbench.c's timings). Insertion
 * sort: the arrays are small, or nearly sorted already.
 */
#ifndef KERNEL_SORT_H
#define KERNEL_SORT_H

#include <stdint.h>

static inline void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uint64_t x = v[i];
		unsigned j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

#endif
