/*
 * tests/fuzz/pmm_fuzz.c - libFuzzer drives a private pmm (mm/pmm.c) through
 * allocation and free sequences, misuse included.
 *
 * Input layout:
 *   byte 0        bit 0: poisoning on
 *   bytes 1..8    four 1 MiB segments of fake physical memory; each gets the
 *                 RAM range [first, last) pages chosen by two bytes (maybe
 *                 empty, maybe whole: whole neighbours merge up to order 10)
 *   then pairs    (cmd, arg): cmd % 8 picks the operation below, its high
 *                 bits are flags, arg picks a slot, an order or a variant.
 *
 * Every live block carries a tag at the start of each of its pages, checked
 * when it is freed, so two owners of one page are caught. Each misuse must
 * give exactly one report and leave the stats as they were; a write after
 * free (poisoning on, at most one per input) must be reported by the time
 * a final sweep has allocated every page. pmm_check runs on request and at
 * the end; the run ends with everything freed and the stats, free blocks of
 * each order included, as they began.
 */
#include "kernel/console.h"
#include "mm/layout.h"
#include "mm/pmm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SEGMENT		(1ull << 20)
#define SEGMENTS	4
#define ARENA		(SEGMENTS * SEGMENT)
#define SLOTS		64
#define SWEEP_MAX	(ARENA / PAGE_SIZE)

struct slot {
	uint8_t *p;
	unsigned order;
	uint64_t tag;
};

static struct pmm pm;
static uint8_t *arena;
static struct page db[ARENA / PAGE_SIZE];
static struct slot slots[SLOTS];
static void *sweep[SWEEP_MAX + 1];
static uint64_t ram[SEGMENTS][2];

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

static bool same_stats(const struct pmm_stats *a, const struct pmm_stats *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Page by page: whole neighbouring segments merge into blocks across them. */
static bool in_ram(uint64_t pa, uint64_t len)
{
	for (uint64_t page = pa; page < pa + len; page += PAGE_SIZE) {
		bool found = false;
		for (int i = 0; i < SEGMENTS; i++)
			found |= page >= ram[i][0] && page < ram[i][1];
		if (!found)
			return false;
	}
	return true;
}

static void tag(const struct slot *s)
{
	for (uint64_t i = 0; i < (1ull << s->order); i++)
		*(uint64_t *)(s->p + i * PAGE_SIZE) = s->tag ^ i;
}

static void check_tag(const struct slot *s)
{
	for (uint64_t i = 0; i < (1ull << s->order); i++)
		CHECK(*(uint64_t *)(s->p + i * PAGE_SIZE) == (s->tag ^ i));
}

/* A free that must be refused: one more report, nothing else changed. */
static void misuse(void *p, unsigned order, bool nocache)
{
	struct pmm_stats before, after;
	uint64_t reports = pm.reports;

	pmm_stats(&pm, &before);
	if (nocache)
		pmm_free_nocache(&pm, p, order);
	else
		pmm_free(&pm, p, order);
	pmm_stats(&pm, &after);
	CHECK(pm.reports == reports + 1);
	CHECK(same_stats(&before, &after));
}

static struct slot *live_slot(uint8_t arg)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[(arg + i) % SLOTS];
		if (s->p)
			return s;
	}
	return NULL;
}

/* Return: 1 if a misuse was done (arg may ask for one that needs a live block). */
static int foreign_free(uint8_t cmd, uint8_t arg)
{
	struct slot *s = live_slot(arg);
	bool nocache = cmd & 0x20;

	switch (arg % 4) {
	case 0:		/* past the end of the database */
		misuse(arena + ARENA + ((uint64_t)arg << PAGE_SHIFT), 0, nocache);
		return 1;
	case 1:		/* misaligned */
		if (!s)
			return 0;
		misuse(s->p + 8 + arg, s->order, nocache);
		return 1;
	case 2:		/* wrong order, possibly beyond PMM_MAX_ORDER */
		if (!s)
			return 0;
		misuse(s->p, (s->order + 1 + (arg / 4) % (PMM_MAX_ORDER + 1)) % (PMM_MAX_ORDER + 2),
		       nocache);
		return 1;
	default:	/* a tail page */
		if (!s || s->order == 0)
			return 0;
		misuse(s->p + PAGE_SIZE * (1 + arg % ((1u << s->order) - 1)), 0, nocache);
		return 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 + 2 * SEGMENTS)
		return 0;
	if (!arena) {
		arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(arena != MAP_FAILED);
		host_phys_base = arena;
		/* Reports are expected by the thousand: keep them off stdout. */
		static char reports_text[256];
		console_capture(reports_text, sizeof(reports_text));
	}

	pmm_init(&pm, db, 0, ARENA);
	pm.poison = data[0] & 1;
	for (int i = 0; i < SEGMENTS; i++) {
		/* Odd bytes ask for the segment's edge, even ones for that page. */
		uint64_t first = data[1 + 2 * i] % 2 ? 0 : data[1 + 2 * i];
		uint64_t last = data[2 + 2 * i] % 2 ? SEGMENT / PAGE_SIZE : data[2 + 2 * i];
		ram[i][0] = i * SEGMENT + first * PAGE_SIZE;
		ram[i][1] = i * SEGMENT + (last > first ? last : first) * PAGE_SIZE;
		pmm_add_range(&pm, ram[i][0], ram[i][1]);
	}
	pmm_check(&pm);
	struct pmm_stats initial;
	pmm_stats(&pm, &initial);

	uint64_t expected_reports = 0;
	struct slot freed = { 0 };	/* the last block freed, while nothing was allocated since */
	bool wrote_after_free = false;
	memset(slots, 0, sizeof(slots));

	for (size_t i = 1 + 2 * SEGMENTS; i + 1 < size; i += 2) {
		uint8_t cmd = data[i], arg = data[i + 1];
		bool nocache = cmd & 0x20;
		struct slot *s;

		switch (cmd % 8) {
		case 0: case 1: case 2: {	/* allocate, mostly order 0 */
			s = &slots[arg % SLOTS];
			if (s->p)
				break;
			unsigned flags = (cmd & 0x10 ? PAGE_ZERO : 0) | (nocache ? PAGE_NOCACHE : 0);
			s->order = arg & 0x80 ? (arg >> 2) % (PMM_MAX_ORDER + 1) : 0;
			s->tag = ((uint64_t)cmd << 56) ^ i ^ 0x5bd1e995;
			s->p = pmm_alloc(&pm, s->order, flags);
			freed.p = NULL;
			if (!s->p)
				break;
			uint64_t pa = virt_to_phys(s->p);
			CHECK((pa & ((PAGE_SIZE << s->order) - 1)) == 0);
			CHECK(in_ram(pa, PAGE_SIZE << s->order));
			if (flags & PAGE_ZERO)
				for (uint64_t k = 0; k < PAGE_SIZE << s->order; k += 512)
					CHECK(s->p[k] == 0);
			tag(s);
			break;
		}
		case 3: case 4:			/* free */
			s = live_slot(arg);
			if (!s)
				break;
			check_tag(s);
			if (nocache)
				pmm_free_nocache(&pm, s->p, s->order);
			else
				pmm_free(&pm, s->p, s->order);
			freed = *s;
			s->p = NULL;
			break;
		case 5:				/* double free, or a write after free */
			if (!freed.p)
				break;
			if (pm.poison && (cmd & 0x10) && !wrote_after_free) {
				freed.p[(arg * 61ull) % (PAGE_SIZE << freed.order)] = (uint8_t)~PAGE_POISON_FREE;
				wrote_after_free = true;
				expected_reports++;
			} else {
				misuse(freed.p, freed.order, nocache);
				expected_reports++;
			}
			break;
		case 6:				/* foreign frees */
			expected_reports += foreign_free(cmd, arg);
			break;
		case 7:
			if (arg & 1)
				pmm_drain(&pm);
			pmm_check(&pm);
			break;
		}
	}

	for (int k = 0; k < SLOTS; k++) {
		if (slots[k].p) {
			check_tag(&slots[k]);
			pmm_free(&pm, slots[k].p, slots[k].order);
		}
	}
	pmm_check(&pm);

	/* Allocate every page once, so a write after free must have shown. */
	if (wrote_after_free) {
		size_t n = 0;
		while ((sweep[n] = pmm_alloc(&pm, 0, 0)) != NULL)
			CHECK(++n <= SWEEP_MAX);
		CHECK(n == initial.total_pages);
		while (n)
			pmm_free(&pm, sweep[--n], 0);
	}
	CHECK(pm.reports == expected_reports);
	/* With every page back, the buddy decomposition is unique: same stats. */
	pmm_drain(&pm);
	pmm_check(&pm);
	struct pmm_stats final;
	pmm_stats(&pm, &final);
	CHECK(same_stats(&initial, &final));
	return 0;
}
