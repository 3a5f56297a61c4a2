/*
 * tests/fuzz/memmap_fuzz.c - libFuzzer target for mm/memmap.c.
 *
 * Input: [flags][limit?] then records [kind][shapes][start][length], each
 * value drawn at a scale the shape byte picks (16-byte steps below 1 MiB,
 * pages below 256 MiB, just under 4 GiB / 2^52 / 2^64, or raw), so that
 * random bytes make overlapping, unaligned and absurd entries often. Kind's
 * top bit makes a reservation [start, start + length), which may wrap; its
 * 0x40 bit repeats the record [count][stride] times, so that a short input
 * can overflow MEMMAP_MAX_RANGES.
 *
 * Each input is built twice, with the decoded mem= limit and without, and
 * checked against the inputs rather than against a second implementation:
 *  1. Soundness: ranges sorted, apart, page-aligned, inside usable entries,
 *     clear of every other entry and reservation; sums and return value agree.
 *  2. Completeness, unlimited and under MEMMAP_MAX_RANGES: every page that is
 *     usable, unclaimed and first of its run (so it sits at a rounded input
 *     boundary) is in a range, and each range is a whole run: the pages on
 *     either side of it are not eligible.
 *  3. The limit keeps a prefix: the limited build is the unlimited one cut
 *     at min(limit, total), and the difference is limited_bytes.
 *  4. Accounting, measured by sort-and-merge instead of a sweep: reserved
 *     bytes are the union of the reserved-like entries, and ACPI bytes the
 *     rest of the union of all non-usable ones.
 *  5. memmap_take on the good map (check_take): a size that uses the first
 *     range up, and the limit's value as a size, below 4 GiB and anywhere.
 */
#include "mm/memmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES	256
#define MAX_RESERVE	32
#define PAGE		4096ull
#define LIMIT		MEMMAP_PHYS_LIMIT

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "memmap_fuzz: %s:%d: check failed: %s\n",	\
				__FILE__, __LINE__, #cond);			\
			abort();						\
		}								\
	} while (0)

struct reader {
	const uint8_t *p;
	size_t n;
};

/* Little-endian, zero once the input runs out. */
static uint64_t take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && r->n; i++, r->p++, r->n--)
		v |= (uint64_t)*r->p << (8 * i);
	return v;
}

static uint64_t value(struct reader *r, unsigned shape)
{
	static const uint64_t tops[] = { 1ull << 32, LIMIT, 0 /* 2^64 */ };

	switch (shape & 3) {
	case 0:
		return take(r, 2) << 4;
	case 1:
		return take(r, 2) << 12;
	case 2: {
		uint64_t top = tops[take(r, 1) % 3];
		return top - (take(r, 2) << 8);
	}
	default:
		return take(r, 8);
	}
}

struct map {
	struct memmap_entry e[MAX_ENTRIES];
	unsigned n;
	struct mem_range res[MAX_RESERVE];
	unsigned nres;
	uint64_t limit;
};

static void decode(struct reader *r, struct map *m)
{
	static const uint32_t types[] = { 1, 1, 1, 2, 3, 4, 5, 0xdeadbeef };
	unsigned flags = (unsigned)take(r, 1);

	memset(m, 0, sizeof(*m));
	if (flags & 1)
		m->limit = value(r, flags >> 1);
	while (r->n) {
		unsigned kind = (unsigned)take(r, 1), shapes = (unsigned)take(r, 1);
		uint64_t start = value(r, shapes), length = value(r, shapes >> 2);
		unsigned count = 1;
		uint64_t stride = 0;
		if (kind & 0x40) {
			count = (unsigned)take(r, 1) + 1;
			stride = value(r, shapes >> 4);
		}
		for (unsigned i = 0; i < count; i++, start += stride) {
			if (kind & 0x80) {
				if (m->nres < MAX_RESERVE)
					m->res[m->nres++] = (struct mem_range){ start, start + length };
			} else if (m->n < MAX_ENTRIES) {
				m->e[m->n++] = (struct memmap_entry){ start, length, types[kind & 7] };
			}
		}
	}
}

/* The entry as memmap.h promises to read it: clipped at the 52-bit limit,
 * and a usable one that ends past 2^64 not at all. */
static bool clipped(const struct memmap_entry *e, uint64_t *start, uint64_t *end)
{
	if (e->base >= LIMIT || e->length == 0)
		return false;
	if (e->type == MEMMAP_USABLE && e->length > UINT64_MAX - e->base)
		return false;
	*start = e->base;
	*end = e->length > LIMIT - e->base ? LIMIT : e->base + e->length;
	return true;
}

static bool overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d) { return a < d && c < b; }

/* [a, b) lies within the union of the usable entries. */
static bool covered_by_usable(const struct map *m, uint64_t a, uint64_t b)
{
	while (a < b) {
		uint64_t reach = a;
		for (unsigned i = 0; i < m->n; i++) {
			uint64_t s, e;
			if (m->e[i].type == MEMMAP_USABLE && clipped(&m->e[i], &s, &e) && s <= a && e > reach)
				reach = e;
		}
		if (reach == a)
			return false;
		a = reach;
	}
	return true;
}

/* [a, b) touches a non-usable entry or a reservation. */
static bool claimed(const struct map *m, uint64_t a, uint64_t b)
{
	for (unsigned i = 0; i < m->n; i++) {
		uint64_t s, e;
		if (m->e[i].type != MEMMAP_USABLE && clipped(&m->e[i], &s, &e) && overlaps(a, b, s, e))
			return true;
	}
	for (unsigned i = 0; i < m->nres; i++)
		if (m->res[i].start < m->res[i].end && overlaps(a, b, m->res[i].start, m->res[i].end))
			return true;
	return false;
}

static int by_start(const void *a, const void *b)
{
	const struct mem_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Bytes in the union of the non-usable entries, ACPI reclaimable ones too or not. */
static uint64_t union_bytes(const struct map *m, bool with_acpi)
{
	static struct mem_range r[MAX_ENTRIES];
	unsigned n = 0;
	uint64_t total = 0, end = 0;

	for (unsigned i = 0; i < m->n; i++) {
		uint32_t t = m->e[i].type;
		if (t != MEMMAP_USABLE && (with_acpi || t != MEMMAP_ACPI_RECLAIMABLE) &&
		    clipped(&m->e[i], &r[n].start, &r[n].end))
			n++;
	}
	qsort(r, n, sizeof(r[0]), by_start);
	for (unsigned i = 0; i < n; i++) {
		uint64_t s = r[i].start > end ? r[i].start : end;
		if (r[i].end > s)
			total += r[i].end - s;
		if (r[i].end > end)
			end = r[i].end;
	}
	return total;
}

static bool eligible(const struct map *m, uint64_t page)
{
	return page < LIMIT && covered_by_usable(m, page, page + PAGE) && !claimed(m, page, page + PAGE);
}

static bool in_output(const struct memmap *out, uint64_t page)
{
	for (unsigned i = 0; i < out->nusable; i++)
		if (out->usable[i].start <= page && page < out->usable[i].end)
			return true;
	return false;
}

static unsigned warnings;

static void count_warning(void *ctx, const char *msg)
{
	(void)ctx;
	CHECK(msg && *msg && strlen(msg) < 256);
	warnings++;
}

static void check_sound(const struct map *m, const struct memmap *out, int rc)
{
	uint64_t sum = 0;

	CHECK(rc == (out->nusable ? 0 : -1));
	CHECK(out->nusable <= MEMMAP_MAX_RANGES);
	for (unsigned i = 0; i < out->nusable; i++) {
		const struct mem_range *r = &out->usable[i];
		CHECK(r->start < r->end && r->end <= LIMIT);
		CHECK(r->start % PAGE == 0 && r->end % PAGE == 0);
		CHECK(i == 0 || out->usable[i - 1].end < r->start);
		CHECK(covered_by_usable(m, r->start, r->end));
		CHECK(!claimed(m, r->start, r->end));
		sum += r->end - r->start;
	}
	CHECK(sum == out->usable_bytes);
	CHECK(out->reserved_bytes == union_bytes(m, false));
	CHECK(out->reserved_bytes + out->acpi_reclaimable_bytes == union_bytes(m, true));
	CHECK(out->usable_bytes + out->reserved_bytes + out->acpi_reclaimable_bytes <= LIMIT);
}

static void check_complete(const struct map *m, const struct memmap *out)
{
	for (unsigned i = 0; i < out->nusable; i++) {
		const struct mem_range *r = &out->usable[i];
		CHECK(r->start == 0 || !eligible(m, r->start - PAGE));
		CHECK(!eligible(m, r->end));
	}
	/* A run of eligible pages starts where some input boundary, rounded up, lies. */
	for (unsigned i = 0; i < m->n + m->nres; i++) {
		uint64_t b[2];
		if (i < m->n) {
			if (!clipped(&m->e[i], &b[0], &b[1]))
				continue;
		} else {
			b[0] = m->res[i - m->n].start;
			b[1] = m->res[i - m->n].end;
		}
		for (int j = 0; j < 2; j++) {
			if (b[j] > LIMIT - PAGE)
				continue;
			uint64_t page = (b[j] + PAGE - 1) & ~(PAGE - 1);
			CHECK(!eligible(m, page) || in_output(out, page));
		}
	}
}

static void check_limited(const struct map *m, const struct memmap *all, const struct memmap *lim)
{
	uint64_t want = m->limit & ~(PAGE - 1);

	if (want > all->usable_bytes)
		want = all->usable_bytes;
	CHECK(lim->usable_bytes == want);
	CHECK(lim->usable_bytes + lim->limited_bytes == all->usable_bytes);
	CHECK(lim->reserved_bytes == all->reserved_bytes);
	CHECK(lim->acpi_reclaimable_bytes == all->acpi_reclaimable_bytes);
	CHECK(lim->nusable <= all->nusable);
	for (unsigned i = 0; i < lim->nusable; i++) {
		CHECK(lim->usable[i].start == all->usable[i].start);
		CHECK(i + 1 == lim->nusable ? lim->usable[i].end <= all->usable[i].end
					    : lim->usable[i].end == all->usable[i].end);
	}
}

/* 5. memmap_take of `bytes` below `below` from a copy of a good map: either
 * the first range that holds the rounded bytes and ends at or below
 * `below` lost exactly them off its front (and left the map if used up),
 * or no range qualified and the map is unchanged. */
static void check_take(const struct memmap *good, uint64_t bytes, uint64_t below)
{
	static struct memmap t;
	uint64_t at = 1;
	t = *good;
	bool ok = memmap_take(&t, bytes, below, &at);
	uint64_t want = bytes && bytes <= UINT64_MAX - (PAGE - 1) ? (bytes + PAGE - 1) & ~(PAGE - 1) : 0;
	unsigned first = good->nusable;
	for (unsigned i = 0; want && i < good->nusable && first == good->nusable; i++)
		if (good->usable[i].start <= below && want <= below - good->usable[i].start &&
		    good->usable[i].end - good->usable[i].start >= want)
			first = i;
	if (first == good->nusable) {
		CHECK(!ok && at == 1 && memcmp(&t, good, sizeof(t)) == 0);
		return;
	}
	const struct mem_range *r = &good->usable[first];
	bool gone = r->end - r->start == want;
	CHECK(ok && at == r->start);
	CHECK(t.nusable == good->nusable - gone && t.usable_bytes == good->usable_bytes);
	for (unsigned i = 0, j = 0; i < good->nusable; i++) {
		if (i == first && gone)
			continue;
		struct mem_range g = good->usable[i];
		if (i == first)
			g.start += want;
		CHECK(t.usable[j].start == g.start && t.usable[j].end == g.end);
		CHECK(t.usable[j].start < t.usable[j].end);
		j++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct map m;
	static struct memmap all, lim;
	struct reader r = { data, size };

	decode(&r, &m);
	warnings = 0;
	int rc = memmap_build(&all, m.e, m.n, m.res, m.nres, 0, count_warning, NULL);
	check_sound(&m, &all, rc);
	CHECK(all.limited_bytes == 0);
	CHECK(rc == 0 || warnings > 0);		/* a failure always says why */
	if (all.nusable < MEMMAP_MAX_RANGES)
		check_complete(&m, &all);
	if (rc == 0) {
		/* The limit's value doubles as a size to take (0 among them). */
		check_take(&all, m.limit, 1ull << 32);
		check_take(&all, m.limit, UINT64_MAX);
		if (all.nusable)
			check_take(&all, all.usable[0].end - all.usable[0].start, UINT64_MAX);
	}

	if (!m.limit)
		return 0;
	rc = memmap_build(&lim, m.e, m.n, m.res, m.nres, m.limit, count_warning, NULL);
	check_sound(&m, &lim, rc);
	CHECK(lim.usable_bytes <= m.limit);
	if (all.nusable < MEMMAP_MAX_RANGES)
		check_limited(&m, &all, &lim);
	return 0;
}
