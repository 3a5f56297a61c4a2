/*
 * mm/gc_quota.c - the record of the collector's pauses, and what the quota
 * and MMU make of it.
 *
 * A pause is an interval in which a runnable mutator has lost the CPU to
 * the collector (mm/gc.c says when one begins and ends). The record keeps
 * the last GC_PAUSE_LOG_MAX of them, disjoint and in time order, so two
 * questions can be answered from it alone:
 *  - the quota: how much GC time a window of gc.window already holds, and
 *    so when the next quantum may start (gc_quota_slot);
 *  - MMU: the least share of a window of 1, 10, 50 or 100 ms left to the
 *    mutators, over every window (Go's definition in internal/trace). A
 *    window's GC time is largest when it ends at a pause's end or starts
 *    at a pause's start, so those windows are the ones measured, with two
 *    pointers over the pauses. The lifetime minimum is folded in before
 *    the ring wraps over pauses not yet counted.
 */
#include "mm/gc_quota.h"
#include "kernel/sort.h"
#include "mm/slab.h"

static const uint64_t mmu_windows_ns[GC_MMU_WINDOWS] = { 1000000, 10000000, 50000000, 100000000 };

void gc_record_init(struct gc_pause_record *r)
{
	for (int i = 0; i < GC_MMU_WINDOWS; i++)
		r->mmu_ppm[i] = 1000000;
}

static unsigned hist_bucket(uint64_t ns)
{
	unsigned b = 0;
	for (uint64_t lim = 1000; b < GC_HIST - 1 && ns >= lim; lim <<= 1)
		b++;
	return b;
}

void gc_record_pause(struct gc_pause_record *r, uint64_t start_ns, uint64_t end_ns)
{
	uint64_t d = end_ns - start_ns;
	r->log[r->nlog % GC_PAUSE_LOG_MAX] = (struct gc_pause){ start_ns, end_ns };
	r->nlog++;
	r->total_ns += d;
	if (d > r->max_ns)
		r->max_ns = d;
	r->hist[hist_bucket(d)]++;
}

/* A pause's share of [a, b). */
static uint64_t overlap(const struct gc_pause *q, uint64_t a, uint64_t b)
{
	uint64_t lo = q->start_ns > a ? q->start_ns : a, hi = q->end_ns < b ? q->end_ns : b;
	return hi > lo ? hi - lo : 0;
}

/* GC time logged in [a, b). */
static uint64_t time_in(const struct gc_pause_record *r, uint64_t a, uint64_t b)
{
	uint64_t sum = 0;
	for (uint64_t k = r->nlog; k > 0 && r->nlog - k < GC_PAUSE_LOG_MAX; k--) {
		const struct gc_pause *q = &r->log[(k - 1) % GC_PAUSE_LOG_MAX];
		if (q->end_ns <= a)
			break;
		sum += overlap(q, a, b);
	}
	return sum;
}

uint64_t gc_quota_slot(const struct gc_pause_record *r, uint64_t s, uint64_t q, uint64_t window,
		       uint64_t quota)
{
	for (int i = 0; i < 64; i++) {
		uint64_t end = s + q;
		uint64_t used = time_in(r, end > window ? end - window : 0, end);
		if (used + q <= quota)
			break;
		s += used + q - quota;	/* the window must shed that much */
	}
	return s;
}

/* The most GC time in a window of win ns, over n pauses ring[(first + i) %
 * cap]. */
static uint64_t worst_window(const struct gc_pause *ring, uint64_t cap, uint64_t first, uint64_t n,
			     uint64_t win)
{
#define P(i) (&ring[(first + (i)) % cap])
#define D(i) (P(i)->end_ns - P(i)->start_ns)
	uint64_t worst = 0, j = 0, k = 0, sum = 0;
	/* Windows ending at pause i's end: pauses j..i, the first clipped. */
	for (uint64_t i = 0; i < n; i++) {
		sum += D(i);
		uint64_t a = P(i)->end_ns > win ? P(i)->end_ns - win : 0;
		for (; P(j)->end_ns <= a; j++)
			sum -= D(j);
		uint64_t clip = P(j)->start_ns < a ? a - P(j)->start_ns : 0;
		if (sum - clip > worst)
			worst = sum - clip;
	}
	/* Windows starting at pause i's start: pauses i..k-1, the last clipped. */
	sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (k <= i) {
			k = i;
			sum = 0;
		}
		uint64_t b = P(i)->start_ns + win;
		for (; k < n && P(k)->start_ns < b; k++)
			sum += D(k);
		uint64_t clip = P(k - 1)->end_ns > b ? P(k - 1)->end_ns - b : 0;
		if (sum - clip > worst)
			worst = sum - clip;
		sum -= D(i);
	}
	return worst;
#undef D
#undef P
}

bool gc_record_fold_due(const struct gc_pause_record *r)
{
	return r->nlog - r->folded >= GC_PAUSE_LOG_MAX / 2;
}

void gc_record_fold_mmu(struct gc_pause_record *r)
{
	uint64_t first = r->nlog > GC_PAUSE_LOG_MAX ? r->nlog - GC_PAUSE_LOG_MAX : 0;
	for (int w = 0; w < GC_MMU_WINDOWS; w++) {
		uint64_t win = mmu_windows_ns[w];
		uint64_t worst = worst_window(r->log, GC_PAUSE_LOG_MAX, first, r->nlog - first, win);
		uint64_t ppm = worst >= win ? 0 : 1000000 - worst * 1000000 / win;
		if (ppm < r->mmu_ppm[w])
			r->mmu_ppm[w] = ppm;
	}
	r->folded = r->nlog;
}

void gc_record_copy(const struct gc_pause_record *r, struct gc_pause_log *out)
{
	uint64_t n = r->nlog < GC_PAUSE_LOG_MAX ? r->nlog : GC_PAUSE_LOG_MAX;
	out->n = (unsigned)n;
	out->total = r->nlog;
	for (uint64_t i = 0; i < n; i++)
		out->p[i] = r->log[(r->nlog - n + i) % GC_PAUSE_LOG_MAX];
}

void gc_pause_figures(const struct gc_pause_log *log, uint64_t since, struct gc_pause_figures *out)
{
	*out = (struct gc_pause_figures){ 0 };
	unsigned first = 0;
	while (first < log->n && log->p[first].start_ns < since)
		first++;
	unsigned n = log->n - first;
	out->pauses = n;
	if (!n)
		return;
	for (int w = 0; w < GC_MMU_WINDOWS; w++)
		out->worst_ns[w] = worst_window(log->p, GC_PAUSE_LOG_MAX, first, n, mmu_windows_ns[w]);
	/* Percentiles: a counting pass a bound at a time would be slower; the
	 * durations sorted in a scratch copy. */
	uint64_t *d = kmalloc(n * sizeof(*d), 0);
	if (!d)
		return;
	for (unsigned i = 0; i < n; i++)
		d[i] = log->p[first + i].end_ns - log->p[first + i].start_ns;
	sort_u64(d, n);
	out->p50_ns = d[n / 2];
	out->p99_ns = d[(uint64_t)n * 99 / 100];
	out->max_ns = d[n - 1];
	kfree(d);
}
