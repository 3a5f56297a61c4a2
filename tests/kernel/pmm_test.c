/*
 * tests/kernel/pmm_test.c - the page allocator in the kernel.
 *
 * A few end-to-end checks go through page_alloc on kernel_pmm. The rest
 * build a private struct pmm over one order-10 block taken from kernel_pmm
 * (its database in another block), so splitting, exhaustion, the CPU cache
 * and misuse are tested on a known layout without disturbing the kernel's
 * allocator. Misuse reports are read through console_capture and counted
 * through pm->reports.
 */
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/ktest.h"
#include "kernel/string.h"
#include "mm/layout.h"
#include "mm/pmm.h"

#define REGION_BYTES	(PAGE_SIZE << PMM_MAX_ORDER)
#define REGION_PAGES	(1u << PMM_MAX_ORDER)

static bool same_stats(const struct pmm_stats *a, const struct pmm_stats *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- the kernel's allocator ---------------------------------------------- */

KTEST(pmm, page_alloc_gives_writable_direct_map_pages)
{
	uint8_t *p = page_alloc(0, 0);
	KASSERT_NOT_NULL(p);
	KEXPECT_GE((uint64_t)p, DIRECT_MAP_BASE);
	KEXPECT_LT((uint64_t)p, KERNEL_VMA);
	KEXPECT_EQ((uint64_t)p % PAGE_SIZE, 0);
	memset(p, 0x5a, PAGE_SIZE);
	KEXPECT_TRUE(all_bytes(p, PAGE_SIZE, 0x5a));
	page_free(p, 0);

	uint8_t *z = page_alloc(2, PAGE_ZERO);
	KASSERT_NOT_NULL(z);
	KEXPECT_TRUE(all_bytes(z, 4 * PAGE_SIZE, 0));
	page_free(z, 2);
}

KTEST(pmm, order_9_is_2mib_aligned)
{
	uint8_t *p = page_alloc(9, PAGE_ZERO);
	KASSERT_NOT_NULL(p);
	KEXPECT_EQ(virt_to_phys(p) % (2ull << 20), 0);
	KEXPECT_TRUE(all_bytes(p, PAGE_SIZE << 9, 0));
	p[(PAGE_SIZE << 9) - 1] = 1;	/* the last byte is mapped too */
	page_free(p, 9);
}

/* About 10 MiB of mixed orders, so the 32 MiB boot of the matrix copes. */
KTEST(pmm, kernel_stats_restore)
{
	static void *held[37];
	struct pmm_stats before, after;
	unsigned n = 0;

	pmm_drain(&kernel_pmm);
	pmm_stats(&kernel_pmm, &before);
	KEXPECT_GT(before.total_pages, 0);
	while (n < 36 && (held[n] = page_alloc(n % 9, 0)) != NULL)
		n++;
	KEXPECT_EQ(n, 36);
	held[n] = page_alloc(PMM_MAX_ORDER, 0);
	KEXPECT_NOT_NULL(held[n]);
	page_free(held[n], PMM_MAX_ORDER);
	while (n--)
		page_free(held[n], n % 9);
	pmm_check(&kernel_pmm);
	pmm_drain(&kernel_pmm);
	pmm_stats(&kernel_pmm, &after);
	KEXPECT_TRUE(same_stats(&before, &after));
	pmm_check(&kernel_pmm);
}

KTEST(pmm, kernel_pmm_reports_freeing_an_image_address)
{
	static uint8_t not_a_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
	static char out[512];
	uint64_t reports = kernel_pmm.reports;

	console_capture(out, sizeof(out));
	page_free(not_a_page, 0);
	console_capture(NULL, 0);
	KEXPECT_EQ(kernel_pmm.reports, reports + 1);
	KEXPECT_CONTAINS(out, "BUG pmm: free of");
	KEXPECT_CONTAINS(out, "not a page this allocator owns");
	KEXPECT_CONTAINS(out, "Call Trace:");
	KEXPECT_CONTAINS(out, "ktest_fn_pmm_kernel_pmm_reports_freeing_an_image_address");
	pmm_check(&kernel_pmm);
}

extern const struct cmdline_opt *const __start_cmdline_opts[], *const __stop_cmdline_opts[];

/* Boot with page_poison=1 to see the second half do something. */
KTEST(pmm, page_poison_option_reaches_kernel_pmm)
{
	bool registered = false;
	for (const struct cmdline_opt *const *o = __start_cmdline_opts; o < __stop_cmdline_opts; o++)
		registered |= strcmp((*o)->name, "page_poison") == 0 && (*o)->type == CMDLINE_BOOL;
	KEXPECT_TRUE(registered);

	if (kernel_pmm.poison) {
		uint8_t *p = page_alloc(1, PAGE_NOCACHE);
		KASSERT_NOT_NULL(p);
		KEXPECT_TRUE(all_bytes(p, 2 * PAGE_SIZE, PAGE_POISON_FREE));
		page_free(p, 1);
	}
}

/* ---- a private allocator over one 4 MiB block ------------------------------ */

static struct pmm pm;
static uint8_t *region;
static uint64_t region_pa;
static void *db;
static unsigned db_order;

static unsigned order_for(size_t bytes)
{
	unsigned o = 0;
	while ((PAGE_SIZE << o) < bytes)
		o++;
	return o;
}

/* pm over [region_pa, +4 MiB), RAM only where ranges (offsets) say. */
static bool private_setup_ranges(bool poison, const uint64_t (*ranges)[2], unsigned n)
{
	region = page_alloc(PMM_MAX_ORDER, 0);
	db_order = order_for(pmm_db_bytes(0, REGION_BYTES));
	db = page_alloc(db_order, 0);
	if (!region || !db) {
		page_free(region, PMM_MAX_ORDER);
		page_free(db, db_order);
		return false;
	}
	region_pa = virt_to_phys(region);
	pmm_init(&pm, db, region_pa, region_pa + REGION_BYTES);
	pm.poison = poison;
	for (unsigned i = 0; i < n; i++)
		pmm_add_range(&pm, region_pa + ranges[i][0], region_pa + ranges[i][1]);
	pmm_check(&pm);
	return true;
}

static bool private_setup(bool poison)
{
	static const uint64_t whole[][2] = { { 0, REGION_BYTES } };
	return private_setup_ranges(poison, whole, 1);
}

static void private_teardown(void)
{
	page_free(db, db_order);
	page_free(region, PMM_MAX_ORDER);
}

static struct pmm_stats stats(void)
{
	struct pmm_stats s;
	pmm_stats(&pm, &s);
	return s;
}

KTEST(pmm, split_then_coalesce)
{
	KASSERT_TRUE(private_setup(false));
	uint8_t *p = pmm_alloc(&pm, 0, PAGE_NOCACHE);
	KEXPECT_EQ(virt_to_phys(p), region_pa);
	struct pmm_stats s = stats();
	for (unsigned o = 0; o <= PMM_MAX_ORDER; o++)
		KEXPECT_EQ(s.free_blocks[o], o < PMM_MAX_ORDER ? 1 : 0);
	pmm_check(&pm);
	pmm_free_nocache(&pm, p, 0);
	s = stats();
	KEXPECT_EQ(s.free_blocks[PMM_MAX_ORDER], 1);
	KEXPECT_EQ(s.free_pages, REGION_PAGES);

	uint8_t *a = pmm_alloc(&pm, 9, 0), *b = pmm_alloc(&pm, 9, 0);
	KEXPECT_NOT_NULL(a);
	KEXPECT_NOT_NULL(b);
	KEXPECT_NULL(pmm_alloc(&pm, 9, 0));
	pmm_free(&pm, a, 9);
	pmm_free(&pm, b, 9);
	KEXPECT_EQ(stats().free_blocks[PMM_MAX_ORDER], 1);
	pmm_check(&pm);
	private_teardown();
}

KTEST(pmm, holes_are_never_handed_out)
{
	/* 1 MiB, a 1 MiB hole, 2 MiB: one order-8 and one order-9 block. */
	static const uint64_t ranges[][2] = { { 0, 1 << 20 }, { 2 << 20, 4 << 20 } };
	static void *held[REGION_PAGES];
	unsigned n = 0;

	KASSERT_TRUE(private_setup_ranges(false, ranges, 2));
	struct pmm_stats s = stats();
	KEXPECT_EQ(s.total_pages, 768);
	KEXPECT_EQ(s.free_blocks[8], 1);
	KEXPECT_EQ(s.free_blocks[9], 1);
	KEXPECT_NULL(pmm_alloc(&pm, PMM_MAX_ORDER, 0));
	while ((held[n] = pmm_alloc(&pm, 0, 0)) != NULL) {
		uint64_t off = virt_to_phys(held[n]) - region_pa;
		KASSERT_TRUE(off < (1 << 20) || off >= (2 << 20));
		n++;
	}
	KEXPECT_EQ(n, 768);
	while (n)
		pmm_free(&pm, held[--n], 0);
	pmm_drain(&pm);
	struct pmm_stats after = stats();
	KEXPECT_TRUE(same_stats(&s, &after));
	private_teardown();
}

KTEST(pmm, exhaust_and_restore)
{
	static void *held[REGION_PAGES];

	KASSERT_TRUE(private_setup(false));
	struct pmm_stats before = stats();
	for (unsigned order = 0; order <= PMM_MAX_ORDER; order++) {
		unsigned n = 0;
		while ((held[n] = pmm_alloc(&pm, order, 0)) != NULL)
			n++;
		KEXPECT_EQ(n, REGION_PAGES >> order);
		KEXPECT_EQ(stats().free_pages, 0);
		pmm_check(&pm);
		while (n)
			pmm_free(&pm, held[--n], order);
		pmm_drain(&pm);
		struct pmm_stats after = stats();
		KEXPECT_TRUE(same_stats(&before, &after));
	}
	pmm_check(&pm);
	private_teardown();
}

KTEST(pmm, cpu_cache_refills_and_drains_in_batches)
{
	static void *held[2 * PMM_CACHE_HIGH];
	unsigned n = 0;

	KASSERT_TRUE(private_setup(false));
	held[n++] = pmm_alloc(&pm, 0, 0);
	KEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH - 1);
	pmm_free(&pm, held[--n], 0);
	KEXPECT_EQ(stats().cached_pages, PMM_CACHE_BATCH);
	KEXPECT_TRUE(pmm_alloc(&pm, 0, 0) == held[0]);	/* LIFO: the hot page again */
	n++;

	/* Hold enough pages that freeing them all passes the high mark. */
	while (n < PMM_CACHE_HIGH + 1)
		held[n++] = pmm_alloc(&pm, 0, PAGE_NOCACHE);
	pmm_drain(&pm);
	while (stats().cached_pages < PMM_CACHE_HIGH)
		pmm_free(&pm, held[--n], 0);
	pmm_free(&pm, held[--n], 0);
	KEXPECT_EQ(stats().cached_pages, PMM_CACHE_HIGH + 1 - PMM_CACHE_BATCH);
	while (n)
		pmm_free(&pm, held[--n], 0);
	pmm_check(&pm);
	pmm_drain(&pm);
	KEXPECT_EQ(stats().free_blocks[PMM_MAX_ORDER], 1);
	private_teardown();
}

/* ---- randomised stress -------------------------------------------------------- */

struct slot {
	uint8_t *p;
	unsigned order;
	bool nocache;
	uint64_t tag;
};

/* Mostly single pages, some of every size up to 256 KiB, rarely larger. */
static unsigned random_order(void)
{
	unsigned r = (unsigned)(ktest_random() % 100);
	if (r < 55)
		return 0;
	if (r < 85)
		return 1 + (unsigned)(ktest_random() % 3);
	if (r < 98)
		return 4 + (unsigned)(ktest_random() % 3);
	return 7 + (unsigned)(ktest_random() % 4);
}

/* A tag in the first and last word of each page: a page handed to two
 * owners has one owner's tags overwritten by the other's. */
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
#define STRESS_SLOTS	256

KTEST(pmm, random_stress)
{
	static struct slot slots[STRESS_SLOTS];
	uint64_t in_use = 0, allocs = 0, failed = 0;

	KASSERT_TRUE(private_setup(false));
	memset(slots, 0, sizeof(slots));
	struct pmm_stats before = stats();
	for (unsigned op = 1; op <= STRESS_OPS; op++) {
		struct slot *s = &slots[ktest_random() % STRESS_SLOTS];
		if (s->p) {
			KASSERT_TRUE(tags_intact(s));
			if (s->nocache)
				pmm_free_nocache(&pm, s->p, s->order);
			else
				pmm_free(&pm, s->p, s->order);
			in_use -= 1ull << s->order;
			s->p = NULL;
		} else {
			unsigned flags = (ktest_random() % 4 == 0 ? PAGE_NOCACHE : 0) |
					 (ktest_random() % 8 == 0 ? PAGE_ZERO : 0);
			s->order = random_order();
			s->nocache = flags & PAGE_NOCACHE;
			s->tag = ktest_random();
			s->p = pmm_alloc(&pm, s->order, flags);
			if (!s->p) {
				failed++;
				continue;
			}
			KASSERT_EQ(virt_to_phys(s->p) % (PAGE_SIZE << s->order), 0);
			if (flags & PAGE_ZERO)
				KASSERT_TRUE(all_bytes(s->p, PAGE_SIZE << s->order, 0));
			tag_block(s);
			in_use += 1ull << s->order;
			allocs++;
		}
		if (op % STRESS_BATCH == 0) {
			pmm_check(&pm);
			KASSERT_EQ(stats().free_pages + in_use, REGION_PAGES);
		}
	}
	for (unsigned i = 0; i < STRESS_SLOTS; i++) {
		if (slots[i].p) {
			KASSERT_TRUE(tags_intact(&slots[i]));
			pmm_free(&pm, slots[i].p, slots[i].order);
		}
	}
	pmm_drain(&pm);
	pmm_check(&pm);
	struct pmm_stats after = stats();
	KEXPECT_TRUE(same_stats(&before, &after));
	KEXPECT_EQ(pm.reports, 0);
	KEXPECT_GT(allocs, STRESS_OPS / 4);
	KEXPECT_GT(failed, 0);	/* the region filled up at times: the NULL path ran */
	private_teardown();
}

/* ---- misuse ------------------------------------------------------------------- */

static char out[1024];

/* Free p: exactly one report containing what, and nothing else changes. */
static void expect_one_report(void *p, unsigned order, const char *what)
{
	uint64_t reports = pm.reports;
	struct pmm_stats before = stats();

	console_capture(out, sizeof(out));
	pmm_free(&pm, p, order);
	console_capture(NULL, 0);
	KEXPECT_EQ(pm.reports, reports + 1);
	struct pmm_stats after = stats();
	KEXPECT_TRUE(same_stats(&before, &after));
	KEXPECT_CONTAINS(out, "BUG pmm: ");
	KEXPECT_CONTAINS(out, what);
	KEXPECT_CONTAINS(out, "Call Trace:");
	pmm_check(&pm);
}

KTEST(pmm, double_free_is_reported_and_ignored)
{
	KASSERT_TRUE(private_setup(false));
	uint8_t *b = pmm_alloc(&pm, 3, 0), *c = pmm_alloc(&pm, 3, 0);
	KASSERT_EQ(virt_to_phys(c), virt_to_phys(b) + 8 * PAGE_SIZE);
	pmm_free(&pm, b, 3);
	expect_one_report(b, 3, "double free of page");
	pmm_free(&pm, c, 3);
	expect_one_report(c, 3, "inside free block");

	uint8_t *a = pmm_alloc(&pm, 0, 0);
	pmm_free(&pm, a, 0);
	expect_one_report(a, 0, "double free of page");
	KEXPECT_CONTAINS(out, "order 0");
	private_teardown();
}

KTEST(pmm, foreign_free_is_reported_and_ignored)
{
	static const uint64_t ranges[][2] = { { 0, 2 << 20 } };
	KASSERT_TRUE(private_setup_ranges(false, ranges, 1));
	uint8_t *p = pmm_alloc(&pm, 2, 0);
	KASSERT_NOT_NULL(p);

	expect_one_report(region + (3 << 20), 0, "free of reserved page");
	expect_one_report(region + REGION_BYTES, 0, "not a page this allocator owns");
	expect_one_report(&pm, 0, "not a page this allocator owns");	/* the image */
	expect_one_report(p + 8, 2, "not a page this allocator owns");
	expect_one_report(p, 1, "with order 1, allocated with order 2");
	expect_one_report(p + PAGE_SIZE, 0, "inside an allocated block");

	uint64_t reports = pm.reports;
	pmm_free(&pm, p, 2);
	KEXPECT_EQ(pm.reports, reports);
	pmm_check(&pm);
	private_teardown();
}

KTEST(pmm, poison_catches_write_after_free)
{
	KASSERT_TRUE(private_setup(true));
	uint8_t *p = pmm_alloc(&pm, 0, 0);
	KASSERT_NOT_NULL(p);
	KEXPECT_TRUE(all_bytes(p, PAGE_SIZE, PAGE_POISON_FREE));
	pmm_free(&pm, p, 0);
	p[100] = 0x01;

	console_capture(out, sizeof(out));
	uint8_t *q = pmm_alloc(&pm, 0, 0);
	console_capture(NULL, 0);
	KEXPECT_TRUE(q == p);
	KEXPECT_EQ(pm.reports, 1);
	KEXPECT_CONTAINS(out, "BUG pmm: write after free in page");
	KEXPECT_CONTAINS(out, "byte 0x64 is 0x01, expected 0x6b; changed bytes: 1");
	pmm_free(&pm, q, 0);
	pmm_check(&pm);
	private_teardown();
}
