/*
 * tests/host/pmm_test.c - mm/pmm.c on the host, under ASan and UBSan.
 *
 * Each test builds a private allocator over fake physical memory: one
 * PROT_NONE reservation covering the whole fake physical address space,
 * with only the "RAM" ranges made read-write, and host_phys_base pointing at
 * it. A frame that is not RAM faults if the allocator ever touches it, so
 * holes are checked by the MMU as well as by the assertions. The database
 * is a separate malloc, so ASan also sees any write outside it.
 *
 * Misuse is counted through pm.reports and read through console_capture
 * (tests/host/kshim.c); pmm_check's own assertions are exercised in forked
 * children, where a panic is an abort.
 */
#include "kernel/console.h"
#include "mm/layout.h"
#include "mm/pmm.h"
#include "tests/host/htest.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB		(1ull << 20)
#define GiB		(1ull << 30)
#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

struct range {
	uint64_t start, end;
};

static struct pmm pm;
static uint8_t *reservation;
static size_t reservation_len;
static void *db;
static char out[1024];	/* captured console output */

/* Build pm over [lo, hi) with RAM where ranges say; poison before adding. */
static void setup_poisoned(uint64_t lo, uint64_t hi, const struct range *ranges, size_t n,
			   bool poison)
{
	reservation_len = hi;
	reservation = mmap(NULL, reservation_len, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reservation == MAP_FAILED)
		abort();
	host_phys_base = reservation;
	for (size_t i = 0; i < n; i++) {
		uint64_t s = ranges[i].start & ~(PAGE_SIZE - 1);
		uint64_t e = (ranges[i].end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		if (mprotect(reservation + s, e - s, PROT_READ | PROT_WRITE))
			abort();
	}
	db = aligned_alloc(_Alignof(struct page), pmm_db_bytes(lo, hi));
	pmm_init(&pm, db, lo, hi);
	pm.poison = poison;
	for (size_t i = 0; i < n; i++)
		pmm_add_range(&pm, ranges[i].start, ranges[i].end);
	pmm_check(&pm);
}

static void setup(uint64_t lo, uint64_t hi, const struct range *ranges, size_t n)
{
	setup_poisoned(lo, hi, ranges, n, false);
}

static void teardown(void)
{
	console_capture(NULL, 0);
	munmap(reservation, reservation_len);
	free(db);
	db = NULL;
}

/* 24 MiB of fake physical memory: 8 MiB from 1 MiB, a hole, then a range
 * with an unaligned start. */
static const struct range usual[] = {
	{ 1 * MiB, 9 * MiB },
	{ 10 * MiB + 0x3000, 20 * MiB },
};

static void setup_usual(bool poison)
{
	setup_poisoned(0, 24 * MiB, usual, ARRAY_LEN(usual), poison);
}

static uint64_t phys(const void *p)
{
	return virt_to_phys(p);
}

static struct pmm_stats stats(void)
{
	struct pmm_stats s;
	pmm_stats(&pm, &s);
	return s;
}

static bool same_stats(const struct pmm_stats *a, const struct pmm_stats *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- setup ------------------------------------------------------------- */

HTEST(init_leaves_everything_reserved)
{
	setup(0, 24 * MiB, NULL, 0);
	struct pmm_stats s = stats();
	HEXPECT_EQ(s.total_pages, 0);
	HEXPECT_EQ(s.free_pages, 0);
	HEXPECT_TRUE(pmm_alloc(&pm, 0, 0) == NULL);
	HEXPECT_TRUE(pmm_alloc(&pm, 5, 0) == NULL);
	pmm_check(&pm);
	teardown();
}

HTEST(add_range_makes_maximal_aligned_blocks)
{
	/* pfn 257..512: one block of each order 0..7 (257, 258, 260, ..., 384). */
	const struct range r[] = { { 1 * MiB + PAGE_SIZE, 2 * MiB } };
	setup(0, 4 * MiB, r, 1);
	struct pmm_stats s = stats();
	HEXPECT_EQ(s.total_pages, 255);
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		HEXPECT_EQ(s.free_blocks[o], o <= 7 ? 1 : 0);
	teardown();
}

HTEST(adjacent_ranges_merge)
{
	/* Added in two halves, in reverse order, out of unaligned pieces. */
	const struct range r[] = {
		{ 6 * MiB, 8 * MiB }, { 4 * MiB + 0x5000, 6 * MiB }, { 4 * MiB, 4 * MiB + 0x5000 },
	};
	setup(0, 8 * MiB, r, ARRAY_LEN(r));
	struct pmm_stats s = stats();
	HEXPECT_EQ(s.total_pages, 1024);
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		HEXPECT_EQ(s.free_blocks[o], o == PMM_MAX_ORDER ? 1 : 0);
	teardown();
}

HTEST(unaligned_range_ends_are_trimmed)
{
	const struct range r[] = { { 1 * MiB + 1, 1 * MiB + 3 * PAGE_SIZE - 1 } };
	setup(0, 2 * MiB, r, 1);
	HEXPECT_EQ(stats().total_pages, 1);	/* only the page at 1 MiB + 4 KiB is whole */
	teardown();
}

/* ---- split and coalesce ------------------------------------------------ */

HTEST(split_then_coalesce)
{
	const struct range r[] = { { 4 * MiB, 8 * MiB } };
	setup(0, 8 * MiB, r, 1);

	uint8_t *p = pmm_alloc(&pm, 0, PAGE_NOCACHE);
	HASSERT_TRUE(p != NULL);
	HEXPECT_EQ(phys(p), 4 * MiB);
	struct pmm_stats s = stats();
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		HEXPECT_EQ(s.free_blocks[o], o < PMM_MAX_ORDER ? 1 : 0);
	HEXPECT_EQ(s.free_pages, 1023);
	pmm_check(&pm);

	pmm_free_nocache(&pm, p, 0);
	s = stats();
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		HEXPECT_EQ(s.free_blocks[o], o == PMM_MAX_ORDER ? 1 : 0);
	pmm_check(&pm);

	uint8_t *a = pmm_alloc(&pm, 9, 0), *b = pmm_alloc(&pm, 9, 0);
	HASSERT_TRUE(a && b);
	HEXPECT_TRUE(pmm_alloc(&pm, 9, 0) == NULL);
	HEXPECT_EQ(phys(a) % (2 * MiB), 0);
	HEXPECT_EQ(phys(b) % (2 * MiB), 0);
	HEXPECT_NE(phys(a), phys(b));
	pmm_free(&pm, b, 9);
	HEXPECT_EQ(stats().free_blocks[9], 1);
	pmm_free(&pm, a, 9);
	HEXPECT_EQ(stats().free_blocks[PMM_MAX_ORDER], 1);
	pmm_check(&pm);
	teardown();
}

HTEST(blocks_are_aligned_to_their_size)
{
	setup_usual(false);
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++) {
		uint8_t *p = pmm_alloc(&pm, o, 0);
		HASSERT_TRUE(p != NULL);
		HEXPECT_EQ(phys(p) & ((PAGE_SIZE << o) - 1), 0);
		pmm_free(&pm, p, o);
	}
	pmm_check(&pm);
	teardown();
}

/* ---- exhaustion -------------------------------------------------------- */

/* Allocate blocks of one order until NULL, free them all: nothing lost. */
static void exhaust_and_restore(unsigned order, unsigned flags)
{
	static void *blocks[8192];
	size_t n = 0;

	pmm_drain(&pm);
	struct pmm_stats before = stats();
	while ((blocks[n] = pmm_alloc(&pm, order, flags)) != NULL) {
		HASSERT_TRUE(++n < ARRAY_LEN(blocks));
	}
	pmm_check(&pm);
	struct pmm_stats full = stats();
	HEXPECT_EQ(full.free_blocks[order], 0);
	HEXPECT_EQ(n << order, before.free_pages - full.free_pages);
	if (order == 0)
		HEXPECT_EQ(full.free_pages, 0);
	for (size_t i = 0; i < n; i++) {
		if (flags & PAGE_NOCACHE)
			pmm_free_nocache(&pm, blocks[i], order);
		else
			pmm_free(&pm, blocks[i], order);
	}
	pmm_check(&pm);
	pmm_drain(&pm);
	struct pmm_stats after = stats();
	HEXPECT_TRUE(same_stats(&before, &after));
	pmm_check(&pm);
}

HTEST(exhaust_every_order_and_restore)
{
	setup_usual(false);
	uint64_t total = stats().total_pages;
	HEXPECT_EQ(total, 8 * 256 + (10 * 256 - 3));
	exhaust_and_restore(0, 0);
	exhaust_and_restore(0, PAGE_NOCACHE);
	for (unsigned o = 1; o <= PMM_MAX_ORDER; o++)
		exhaust_and_restore(o, 0);
	teardown();
}

HTEST(high_order_failure_drains_the_cache)
{
	const struct range r[] = { { 4 * MiB, 8 * MiB } };
	setup(0, 8 * MiB, r, 1);
	pmm_free(&pm, pmm_alloc(&pm, 0, 0), 0);
	HEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH);
	/* The cached pages hold the only order-10 block hostage until drained. */
	uint8_t *p = pmm_alloc(&pm, PMM_MAX_ORDER, 0);
	HEXPECT_TRUE(p != NULL);
	HEXPECT_EQ(stats().cached_pages, 0);
	pmm_free(&pm, p, PMM_MAX_ORDER);
	pmm_check(&pm);
	teardown();
}

/* ---- per-CPU cache ----------------------------------------------------- */

HTEST(cache_refills_and_drains_in_batches)
{
	static void *held[256];
	size_t n = 0;

	setup_usual(false);
	uint64_t total = stats().total_pages;

	held[n++] = pmm_alloc(&pm, 0, 0);
	struct pmm_stats s = stats();
	HEXPECT_EQ(s.cached_pages, PMM_CACHE_BATCH - 1);
	HEXPECT_EQ(s.free_pages, total - 1);

	/* A page freed and taken again comes back hot: LIFO. */
	pmm_free(&pm, held[0], 0);
	HEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH);
	HEXPECT_TRUE(pmm_alloc(&pm, 0, 0) == held[0]);

	/* Empty the cache exactly: no refill until the next allocation. */
	while (stats().cached_pages)
		held[n++] = pmm_alloc(&pm, 0, 0);
	HEXPECT_EQ(n, PMM_CACHE_BATCH);
	held[n++] = pmm_alloc(&pm, 0, 0);
	HEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH - 1);

	/* NOCACHE traffic leaves the cache alone. */
	void *nc = pmm_alloc(&pm, 0, PAGE_NOCACHE);
	HEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH - 1);
	pmm_free_nocache(&pm, nc, 0);
	HEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH - 1);

	/* Free up to the high mark; one more free sends a batch back. */
	while (n < PMM_CACHE_HIGH + 1 - stats().cached_pages)
		held[n++] = pmm_alloc(&pm, 0, PAGE_NOCACHE);
	for (size_t i = 0; i < n; i++)
		HASSERT_TRUE(held[i] != NULL);
	uint64_t pending = n;
	while (stats().cached_pages < PMM_CACHE_HIGH)
		pmm_free(&pm, held[--pending], 0);
	void *last = held[--pending];
	pmm_free(&pm, last, 0);
	HEXPECT_EQ(stats().cached_pages, PMM_CACHE_HIGH + 1 - PMM_CACHE_BATCH);
	/* The batch went from the cold end: the page just freed is still on top. */
	HEXPECT_TRUE(pmm_alloc(&pm, 0, 0) == last);
	pmm_free(&pm, last, 0);
	while (pending)
		pmm_free(&pm, held[--pending], 0);
	pmm_check(&pm);
	pmm_drain(&pm);
	HEXPECT_EQ(stats().free_pages, total);
	HEXPECT_EQ(stats().cached_pages, 0);
	teardown();
}

/* The cache level follows a simple model over a random order-0 sequence. */
HTEST(cache_level_follows_model)
{
	static void *held[512];
	size_t n = 0;
	uint64_t model = 0, buddy;

	setup_usual(false);
	buddy = stats().total_pages;
	for (int i = 0; i < 20000; i++) {
		if (n < ARRAY_LEN(held) && (n == 0 || rnd() % 100 < 50)) {
			if (model == 0) {
				model = buddy < PMM_CACHE_BATCH ? buddy : PMM_CACHE_BATCH;
				buddy -= model;
			}
			held[n++] = pmm_alloc(&pm, 0, 0);
			model--;
		} else {
			size_t k = rnd() % n;
			pmm_free(&pm, held[k], 0);
			held[k] = held[--n];
			if (++model > PMM_CACHE_HIGH) {
				model -= PMM_CACHE_BATCH;
				buddy += PMM_CACHE_BATCH;
			}
		}
		if (stats().cached_pages != model) {
			HEXPECT_EQ(stats().cached_pages, model);
			break;
		}
	}
	pmm_check(&pm);
	teardown();
}

/* ---- flags ------------------------------------------------------------- */

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

HTEST(page_zero_zeroes_every_order)
{
	setup_usual(false);
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o += 2) {
		uint8_t *p = pmm_alloc(&pm, o, 0);
		HASSERT_TRUE(p != NULL);
		memset(p, 0xaa, PAGE_SIZE << o);
		pmm_free(&pm, p, o);
		uint8_t *q = pmm_alloc(&pm, o, PAGE_ZERO);
		HEXPECT_TRUE(q == p);	/* the dirty block again, to make this mean something */
		HEXPECT_TRUE(all_bytes(q, PAGE_SIZE << o, 0));
		pmm_free(&pm, q, o);
	}
	teardown();
}

/* ---- randomised stress ------------------------------------------------- */

struct slot {
	uint8_t *p;
	unsigned order;
	bool nocache;
	uint64_t tag;
};

/* Mostly small blocks, as a kernel asks for them, with some of every size. */
static unsigned random_order(void)
{
	unsigned r = (unsigned)(rnd() % 100);
	if (r < 50)
		return 0;
	if (r < 75)
		return 1 + (unsigned)(rnd() % 3);
	if (r < 95)
		return 4 + (unsigned)(rnd() % 4);
	return 8 + (unsigned)(rnd() % 3);
}

/* A tag at each end of each page: a block handed out twice, or overlapping
 * another, has its tags overwritten by the other owner. */
static void tag_block(const struct slot *s)
{
	for (uint64_t i = 0; i < (1ull << s->order); i++) {
		uint64_t *page = (uint64_t *)(s->p + i * PAGE_SIZE);
		page[0] = s->tag ^ i;
		page[PAGE_SIZE / 8 - 1] = ~(s->tag ^ i);
	}
}

static bool tags_intact(const struct slot *s)
{
	for (uint64_t i = 0; i < (1ull << s->order); i++) {
		const uint64_t *page = (const uint64_t *)(s->p + i * PAGE_SIZE);
		if (page[0] != (s->tag ^ i) || page[PAGE_SIZE / 8 - 1] != ~(s->tag ^ i))
			return false;
	}
	return true;
}

#define STRESS_OPS	100000
#define STRESS_BATCH	1000
#define STRESS_SLOTS	1024

static void stress(bool poison)
{
	static struct slot slots[STRESS_SLOTS];
	uint64_t allocs = 0, frees = 0, failed = 0, in_use = 0, peak = 0, checks = 0;

	setup_usual(poison);
	memset(slots, 0, sizeof(slots));
	struct pmm_stats before = stats();
	for (int op = 1; op <= STRESS_OPS; op++) {
		struct slot *s = &slots[rnd() % STRESS_SLOTS];
		if (s->p) {
			HASSERT_TRUE(tags_intact(s));
			if (s->nocache)
				pmm_free_nocache(&pm, s->p, s->order);
			else
				pmm_free(&pm, s->p, s->order);
			in_use -= 1ull << s->order;
			s->p = NULL;
			frees++;
		} else {
			unsigned flags = (rnd() & 1 ? PAGE_ZERO : 0) | (rnd() % 4 == 0 ? PAGE_NOCACHE : 0);
			s->order = random_order();
			s->nocache = flags & PAGE_NOCACHE;
			s->tag = rnd();
			s->p = pmm_alloc(&pm, s->order, flags);
			if (!s->p) {
				failed++;
			} else {
				HASSERT_EQ(phys(s->p) & ((PAGE_SIZE << s->order) - 1), 0);
				if (flags & PAGE_ZERO)
					HASSERT_TRUE(all_bytes(s->p, PAGE_SIZE << s->order, 0));
				else if (poison)
					HASSERT_TRUE(all_bytes(s->p, PAGE_SIZE << s->order, PAGE_POISON_FREE));
				tag_block(s);
				in_use += 1ull << s->order;
				peak = in_use > peak ? in_use : peak;
				allocs++;
			}
		}
		if (op % STRESS_BATCH == 0) {
			pmm_check(&pm);
			checks++;
			HASSERT_EQ(stats().free_pages + in_use, before.total_pages);
		}
	}
	for (size_t i = 0; i < STRESS_SLOTS; i++) {
		if (slots[i].p) {
			HASSERT_TRUE(tags_intact(&slots[i]));
			pmm_free(&pm, slots[i].p, slots[i].order);
		}
	}
	pmm_drain(&pm);
	pmm_check(&pm);
	struct pmm_stats after = stats();
	HEXPECT_TRUE(same_stats(&before, &after));
	HEXPECT_EQ(pm.reports, 0);
	HEXPECT_TRUE(allocs > STRESS_OPS / 3 && failed > 0);	/* both paths exercised */
	printf("    # stress%s: %d ops, %llu allocs, %llu frees, %llu failed (full), peak %llu of %llu pages, %llu checks\n",
	       poison ? " (poisoned)" : "", STRESS_OPS, (unsigned long long)allocs,
	       (unsigned long long)frees, (unsigned long long)failed, (unsigned long long)peak,
	       (unsigned long long)before.total_pages, (unsigned long long)checks);
	teardown();
}

HTEST(random_stress)
{
	stress(false);
}

HTEST(random_stress_poisoned)
{
	stress(true);
}

/* ---- misuse ------------------------------------------------------------ */

/* Free p with order: exactly one report mentioning what, and nothing else changes. */
static void expect_one_report(void *p, unsigned order, bool nocache, const char *what)
{
	uint64_t reports = pm.reports;
	struct pmm_stats before = stats();

	console_capture(out, sizeof(out));
	if (nocache)
		pmm_free_nocache(&pm, p, order);
	else
		pmm_free(&pm, p, order);
	console_capture(NULL, 0);

	HEXPECT_EQ(pm.reports, reports + 1);
	struct pmm_stats after = stats();
	HEXPECT_TRUE(same_stats(&before, &after));
	HEXPECT_TRUE(strncmp(out, "BUG pmm: ", 9) == 0);
	if (!strstr(out, what))
		HEXPECT_STREQ(out, what);
	HEXPECT_TRUE(strstr(out, "Call Trace:") != NULL);
	pmm_check(&pm);
}

HTEST(double_free_is_reported_and_ignored)
{
	const struct range r[] = { { 4 * MiB, 8 * MiB } };
	setup(0, 8 * MiB, r, 1);

	/* Buddies b and c: the first two order-3 blocks split off the one block. */
	uint8_t *b = pmm_alloc(&pm, 3, 0), *c = pmm_alloc(&pm, 3, 0);
	HASSERT_TRUE(b && c && phys(b) == 4 * MiB && phys(c) == 4 * MiB + 8 * PAGE_SIZE);

	/* A free block head on a list: its buddy is still allocated. */
	pmm_free(&pm, b, 3);
	expect_one_report(b, 3, false, "double free of page");

	/* Merged into a larger free block: no longer a head at all. */
	pmm_free(&pm, c, 3);
	HEXPECT_EQ(stats().free_blocks[PMM_MAX_ORDER], 1);
	expect_one_report(c, 3, false, "inside free block at phys 0x400000 (order 10)");
	expect_one_report(b + PAGE_SIZE, 0, true, "double free");
	HEXPECT_TRUE(strstr(out, "order 0") != NULL);

	/* In the CPU cache. */
	uint8_t *a = pmm_alloc(&pm, 0, 0);
	pmm_free(&pm, a, 0);
	expect_one_report(a, 0, false, "double free of page");
	expect_one_report(a, 0, true, "double free of page");
	teardown();
}

HTEST(foreign_free_is_reported_and_ignored)
{
	uint8_t local[64];
	setup_usual(false);

	uint8_t *p = pmm_alloc(&pm, 2, 0);
	HASSERT_TRUE(p != NULL);
	expect_one_report(local, 0, false, "not a page this allocator owns");
	expect_one_report(p + 16, 2, false, "not a page this allocator owns");
	expect_one_report(host_phys_base + 9 * MiB, 0, false, "free of reserved page");	/* the hole */
	expect_one_report(host_phys_base + 24 * MiB, 0, false, "not a page this allocator owns");
	expect_one_report(host_phys_base + 22 * MiB, 0, false, "free of reserved page");
	expect_one_report(p, 1, false, "with order 1, allocated with order 2");
	expect_one_report(p, 3, true, "with order 3, allocated with order 2");
	expect_one_report(p, PMM_MAX_ORDER + 1, false, "the largest is 10");
	expect_one_report(p + PAGE_SIZE, 0, false, "inside an allocated block");

	/* The block is still allocated, and can be freed properly. */
	uint64_t reports = pm.reports;
	pmm_free(&pm, p, 2);
	pmm_free(&pm, NULL, 0);
	HEXPECT_EQ(pm.reports, reports);
	pmm_check(&pm);
	teardown();
}

/* Every free names the owner it expects; a block of another owner's is
 * reported, naming that owner, and stays allocated. */
HTEST(free_as_the_wrong_owner_is_reported_and_ignored)
{
	setup_usual(false);
	uint8_t *s = pmm_alloc_as(&pm, 0, 0, PAGE_OWNER_SLAB);	/* through the CPU cache */
	uint8_t *k = pmm_alloc_as(&pm, 2, PAGE_ZERO, PAGE_OWNER_KMALLOC);
	HASSERT_TRUE(s && k);
	expect_one_report(s, 0, false, "as a page_alloc caller's block, but it belongs to a slab of the heap");
	expect_one_report(k, 2, true, "but it belongs to a large kmalloc block (order 2)");
	expect_one_report(k, 0, false, "but it belongs to a large kmalloc block (order 2)");

	uint64_t reports = pm.reports;
	pmm_free_as(&pm, s, 0, PAGE_OWNER_SLAB);
	pmm_free_as(&pm, k, 2, PAGE_OWNER_KMALLOC);
	HEXPECT_EQ(pm.reports, reports);
	/* Freed: now a second free of either is a double free, whoever names it. */
	expect_one_report(k, 2, false, "double free");
	pmm_check(&pm);
	teardown();
}

HTEST(poison_catches_write_after_free)
{
	setup_usual(true);
	uint8_t *p = pmm_alloc(&pm, 0, 0);
	HASSERT_TRUE(p != NULL && all_bytes(p, PAGE_SIZE, PAGE_POISON_FREE));
	pmm_free(&pm, p, 0);
	p[100] = 0x01;
	p[200] = 0x02;

	console_capture(out, sizeof(out));
	uint8_t *q = pmm_alloc(&pm, 0, 0);
	console_capture(NULL, 0);
	HEXPECT_TRUE(q == p);
	HEXPECT_EQ(pm.reports, 1);
	if (!strstr(out, "write after free in page") || !strstr(out, "byte 0x64 is 0x01, expected 0x6b; changed bytes: 2"))
		HEXPECT_STREQ(out, "write after free ... byte 0x64 is 0x01, expected 0x6b; changed bytes: 2");
	pmm_free(&pm, q, 0);
	pmm_check(&pm);
	teardown();
}

HTEST(poison_catches_write_into_a_merged_free_block)
{
	static void *held[8192];
	size_t n = 0;

	setup_usual(true);
	uint8_t *p = pmm_alloc(&pm, 3, 0);
	pmm_free(&pm, p, 3);
	p[5 * PAGE_SIZE + 7] = 0;	/* a tail page of a free block */

	console_capture(out, sizeof(out));
	while ((held[n] = pmm_alloc(&pm, 0, 0)) != NULL)
		n++;
	console_capture(NULL, 0);
	HEXPECT_EQ(pm.reports, 1);
	HEXPECT_TRUE(strstr(out, "byte 0x7 is 0x00") != NULL);
	while (n)
		pmm_free(&pm, held[--n], 0);
	pmm_check(&pm);
	teardown();
}

/* ---- memory map shapes ------------------------------------------------- */

HTEST(hole_and_range_above_4g)
{
	static const struct range r[] = {
		{ 1 * MiB, 3 * MiB },			/* two order-8 blocks */
		{ 4 * MiB, 6 * MiB },			/* one order 9 */
		{ 4 * GiB, 4 * GiB + 4 * MiB + 0x2000 },	/* order 10 and order 1 */
	};
	static void *held[4096];
	size_t n = 0;

	/* Poisoned, so every free page is written: a touch of the hole faults. */
	setup_poisoned(1 * MiB, r[2].end, r, ARRAY_LEN(r), true);
	struct pmm_stats s = stats();
	HEXPECT_EQ(s.total_pages, 512 + 512 + 1024 + 2);
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		HEXPECT_EQ(s.free_blocks[o], o == 8 ? 2 : o == 9 || o == 10 || o == 1 ? 1 : 0);

	uint8_t *big = pmm_alloc(&pm, PMM_MAX_ORDER, 0);
	HEXPECT_EQ(phys(big), 4 * GiB);
	HEXPECT_TRUE(pmm_alloc(&pm, PMM_MAX_ORDER, 0) == NULL);
	pmm_free(&pm, big, PMM_MAX_ORDER);

	while ((held[n] = pmm_alloc(&pm, 0, 0)) != NULL) {
		uint64_t pa = phys(held[n]);
		bool in_ram = false;
		for (size_t i = 0; i < ARRAY_LEN(r); i++)
			in_ram |= pa >= r[i].start && pa < r[i].end;
		HASSERT_TRUE(in_ram);
		HASSERT_TRUE(++n < ARRAY_LEN(held));
	}
	HEXPECT_EQ(n, s.total_pages);
	expect_one_report(host_phys_base + 3 * MiB + PAGE_SIZE, 0, false, "free of reserved page");
	while (n)
		pmm_free(&pm, held[--n], 0);
	pmm_drain(&pm);
	struct pmm_stats after = stats();
	HEXPECT_TRUE(same_stats(&s, &after));
	HEXPECT_EQ(pm.reports, 1);
	teardown();
}

/* ---- pmm_check catches corruption -------------------------------------- */

/* Run corrupt() then pmm_check in a child; the check must panic (abort). */
static bool check_panics(void (*corrupt)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(2);
		corrupt();
		pmm_check(&pm);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void *victim;

static void smash_canary(void) { memset(&pm.db[300], 0, sizeof(struct page)); }
static void skew_count(void) { pm.nr_free[2]++; }
static void overlap_blocks(void) { pm.db[(phys(victim) >> PAGE_SHIFT) - pm.base_pfn + 1].flags = PG_HEAD; }
static void unmerge_buddies(void)
{
	/* Relabel the order-10 block as a free pair of order 9 without merging. */
	struct page *a = &pm.db[(phys(victim) >> PAGE_SHIFT) - pm.base_pfn], *b = a + 512;
	a->order = 9;
	b->flags = PG_FREE;
	b->order = 9;
}
static void lose_a_cached_page(void) { pm.cpu[0].pages = pm.cpu[0].pages->next; }
static void intact(void) {}

HTEST(check_catches_corruption)
{
	setup_usual(false);
	victim = pmm_alloc(&pm, 3, 0);
	pmm_free(&pm, pmm_alloc(&pm, 0, 0), 0);
	HEXPECT_TRUE(!check_panics(intact));
	HEXPECT_TRUE(check_panics(smash_canary));
	HEXPECT_TRUE(check_panics(skew_count));
	HEXPECT_TRUE(check_panics(overlap_blocks));
	HEXPECT_TRUE(check_panics(lose_a_cached_page));
	pmm_free(&pm, victim, 3);
	pmm_drain(&pm);
	victim = host_phys_base + 4 * MiB;	/* the head of a free order-10 block */
	HEXPECT_EQ(pm.db[(4 * MiB >> PAGE_SHIFT) - pm.base_pfn].order, 10);
	HEXPECT_TRUE(check_panics(unmerge_buddies));
	teardown();
}

int main(void)
{
	return htest_main("pmm");
}
