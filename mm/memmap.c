/*
 * mm/memmap.c - turn the loader's memory map into clean usable ranges.
 *
 * Firmware maps are unsorted, overlapping, duplicated, unaligned, and may
 * claim addresses no CPU can reach. memmap_build() trusts none of it:
 *  1. Clip: an entry that runs past MEMMAP_PHYS_LIMIT (or wraps past 2^64)
 *     is cut there, one starting beyond it dropped, each with a warning.
 *  2. Sweep: the input intervals' start and end points split the address
 *     space into segments that no boundary crosses, so each segment is
 *     wholly covered or wholly uncovered by every interval. Visiting them in
 *     address order, a segment is usable when a type-1 entry covers it and
 *     no other entry (conservative: any non-usable type wins) and no
 *     reservation does. Adjacent usable segments merge into runs.
 *  3. Shrink each run inward to whole pages; this also rounds reservations
 *     and non-usable entries outward. Runs of less than a page vanish.
 *  4. mem= keeps the lowest usable bytes ("use only this much"), counting
 *     the rest in limited_bytes.
 *  5. More than MEMMAP_MAX_RANGES runs: the smallest are dropped with a
 *     warning, so the pages lost are as few as the table allows.
 * Finding each next boundary scans all intervals, so the sweep costs
 * O(intervals^2) and needs no memory of its own: maps hold at most a few
 * hundred entries, and this runs once, before any allocator exists.
 *
 * Output invariant: usable[] is sorted, non-adjacent, page-aligned, inside
 * type-1 entries and outside every other entry and every reservation;
 * usable_bytes is its sum and, under a limit, at most that limit.
 *
 * The core is pure (no console, no globals) so tests/host and tests/fuzz run
 * it on crafted maps. memmap_init() is the kernel glue, called once from
 * mm_init() during single-threaded boot.
 */
#include "mm/memmap.h"
#include "kernel/printf.h"
#include "mm/layout.h"

#include <stdbool.h>
#include <stddef.h>

#define WARN_MAX	192

static uint64_t page_down(uint64_t a) { return a & ~(PAGE_SIZE - 1); }
static uint64_t page_up(uint64_t a) { return page_down(a + PAGE_SIZE - 1); }

struct input {
	const struct memmap_entry *e;
	unsigned n;
	const struct mem_range *reserve;
	unsigned nreserve;
};

enum span_kind { SPAN_USABLE, SPAN_ACPI, SPAN_RESERVED, SPAN_CUT };

struct span {
	uint64_t start, end;	/* clipped; empty when start >= end */
	enum span_kind kind;
};

/* A usable entry whose end lies past 2^64: its length is corrupt, and it is
 * ignored (clipped, it would claim petabytes). An entry of any other type
 * that wraps still reserves what it covers below the limit, as reserved
 * memory must win. */
static bool corrupt_usable(const struct memmap_entry *e)
{
	return e->type == MEMMAP_USABLE && e->length > UINT64_MAX - e->base;
}

/* Entries clipped to MEMMAP_PHYS_LIMIT; reservations rounded out to pages.
 * Both stay below the limit, so an end never wraps. */
static struct span span_at(const struct input *in, unsigned i)
{
	const struct span empty = { 0, 0, SPAN_CUT };

	if (i < in->n) {
		const struct memmap_entry *e = &in->e[i];
		if (e->base >= MEMMAP_PHYS_LIMIT || corrupt_usable(e))
			return empty;
		uint64_t room = MEMMAP_PHYS_LIMIT - e->base;
		struct span s = { e->base, e->base + (e->length < room ? e->length : room), SPAN_RESERVED };
		if (e->type == MEMMAP_USABLE)
			s.kind = SPAN_USABLE;
		else if (e->type == MEMMAP_ACPI_RECLAIMABLE)
			s.kind = SPAN_ACPI;
		return s;
	}
	const struct mem_range *r = &in->reserve[i - in->n];
	if (r->start >= r->end)
		return empty;	/* rounding out must not turn nothing into a page */
	uint64_t end = r->end < MEMMAP_PHYS_LIMIT ? r->end : MEMMAP_PHYS_LIMIT;
	return (struct span){ page_down(r->start), page_up(end), SPAN_CUT };
}

/* Step 1's reports; span_at() clips silently, as it is called many times. */
static void warn_clipped(const struct input *in, memmap_warn_fn warn, void *ctx)
{
	char msg[WARN_MAX];

	for (unsigned i = 0; i < in->n; i++) {
		const struct memmap_entry *e = &in->e[i];
		if (e->length == 0 || (e->base < MEMMAP_PHYS_LIMIT && e->length <= MEMMAP_PHYS_LIMIT - e->base))
			continue;	/* empty, or ends within the limit */
		if (e->base >= MEMMAP_PHYS_LIMIT)
			ksnprintf(msg, sizeof(msg), "entry %u (base 0x%llx, length 0x%llx, type %u) lies "
				  "beyond the 52-bit physical address limit; ignored", i,
				  (unsigned long long)e->base, (unsigned long long)e->length, e->type);
		else if (corrupt_usable(e))
			ksnprintf(msg, sizeof(msg), "entry %u (base 0x%llx, length 0x%llx, type %u) ends "
				  "past 2^64, so its length is corrupt; ignored", i,
				  (unsigned long long)e->base, (unsigned long long)e->length, e->type);
		else
			ksnprintf(msg, sizeof(msg), "entry %u (base 0x%llx, length 0x%llx, type %u) runs "
				  "past the 52-bit physical address limit; clipped to end at 0x%llx", i,
				  (unsigned long long)e->base, (unsigned long long)e->length, e->type,
				  MEMMAP_PHYS_LIMIT);
		warn(ctx, msg);
	}
	for (unsigned i = 0; i < in->nreserve; i++) {
		if (in->reserve[i].end >= in->reserve[i].start)
			continue;
		ksnprintf(msg, sizeof(msg), "reservation [0x%llx, 0x%llx) ends before it starts; ignored",
			  (unsigned long long)in->reserve[i].start, (unsigned long long)in->reserve[i].end);
		warn(ctx, msg);
	}
}

struct builder {
	struct memmap *out;
	bool has_limit;
	uint64_t limit;		/* whole pages */
	uint64_t taken;		/* usable bytes counted against the limit */
	unsigned dropped;	/* ranges that did not fit in usable[] */
	uint64_t dropped_bytes;
};

/* The capacity rule: a full table gives up its smallest range, or refuses r
 * when r is no larger; ties keep the lower addresses. */
static void add_range(struct builder *b, struct mem_range r)
{
	struct memmap *out = b->out;
	uint64_t len = r.end - r.start;

	if (out->nusable == MEMMAP_MAX_RANGES) {
		unsigned smallest = 0;
		for (unsigned i = 1; i < out->nusable; i++) {
			const struct mem_range *u = &out->usable[i];
			if (u->end - u->start <= out->usable[smallest].end - out->usable[smallest].start)
				smallest = i;
		}
		const struct mem_range *s = &out->usable[smallest];
		b->dropped++;
		if (len <= s->end - s->start) {
			b->dropped_bytes += len;
			return;
		}
		b->dropped_bytes += s->end - s->start;
		for (unsigned i = smallest; i + 1 < out->nusable; i++)
			out->usable[i] = out->usable[i + 1];
		out->nusable--;
	}
	out->usable[out->nusable++] = r;	/* runs arrive in address order: stays sorted */
}

/* Steps 3 and 4 for one run of usable segments. */
static void take_run(struct builder *b, uint64_t start, uint64_t end)
{
	start = page_up(start);
	end = page_down(end);
	if (start >= end)
		return;
	if (b->has_limit) {
		uint64_t room = b->limit - b->taken;
		if (end - start > room) {
			b->out->limited_bytes += end - start - room;
			end = start + room;
		}
		b->taken += end - start;
		if (start == end)
			return;
	}
	add_range(b, (struct mem_range){ start, end });
}

int memmap_build(struct memmap *out, const struct memmap_entry *e, unsigned n,
		 const struct mem_range *reserve, unsigned nreserve, uint64_t limit_bytes,
		 memmap_warn_fn warn, void *ctx)
{
	const struct input in = { e, n, reserve, nreserve };
	struct builder b = { out, limit_bytes != 0, page_down(limit_bytes), 0, 0, 0 };
	uint64_t run_start = 0, run_end = 0;	/* the run being merged; empty at first */
	uint64_t marked_usable = 0;		/* bytes under a type-1 entry, for the error */
	char msg[WARN_MAX];

	*out = (struct memmap){ .nusable = 0 };
	warn_clipped(&in, warn, ctx);

	/* Step 2. Spans end by MEMMAP_PHYS_LIMIT, so UINT64_MAX means "no more". */
	for (uint64_t at = 0;;) {
		uint64_t next = UINT64_MAX;
		bool usable = false, acpi = false, reserved = false, cut = false;

		for (unsigned i = 0; i < n + nreserve; i++) {
			struct span s = span_at(&in, i);
			if (s.start >= s.end)
				continue;
			if (s.start > at && s.start < next)
				next = s.start;
			if (s.end > at && s.end < next)
				next = s.end;
			if (s.start <= at && at < s.end) {
				usable |= s.kind == SPAN_USABLE;
				acpi |= s.kind == SPAN_ACPI;
				reserved |= s.kind == SPAN_RESERVED;
				cut |= s.kind == SPAN_CUT;
			}
		}
		if (next == UINT64_MAX)
			break;

		uint64_t len = next - at;
		if (reserved)
			out->reserved_bytes += len;
		else if (acpi)
			out->acpi_reclaimable_bytes += len;
		if (usable)
			marked_usable += len;
		if (usable && !reserved && !acpi && !cut) {
			if (run_end != at) {
				take_run(&b, run_start, run_end);
				run_start = at;
			}
			run_end = next;
		}
		at = next;
	}
	take_run(&b, run_start, run_end);

	for (unsigned i = 0; i < out->nusable; i++)
		out->usable_bytes += out->usable[i].end - out->usable[i].start;
	if (b.dropped) {
		ksnprintf(msg, sizeof(msg), "more than %d usable ranges: dropped the %u smallest "
			  "(%llu KiB) to keep the largest", MEMMAP_MAX_RANGES, b.dropped,
			  (unsigned long long)(b.dropped_bytes >> 10));
		warn(ctx, msg);
	}
	if (out->nusable)
		return 0;

	if (n == 0)
		ksnprintf(msg, sizeof(msg), "the loader gave no memory map");
	else if (out->limited_bytes)
		ksnprintf(msg, sizeof(msg), "mem=%llu leaves no usable memory (less than one page)",
			  (unsigned long long)limit_bytes);
	else
		ksnprintf(msg, sizeof(msg), "no usable memory: %llu KiB marked usable in %u entries, none "
			  "of it whole pages clear of other entries and of the %u reservations",
			  (unsigned long long)(marked_usable >> 10), n, nreserve);
	warn(ctx, msg);
	return -1;
}

bool memmap_take(struct memmap *m, uint64_t bytes, uint64_t below, uint64_t *at)
{
	if (bytes == 0 || bytes > UINT64_MAX - (PAGE_SIZE - 1))
		return false;
	bytes = page_up(bytes);
	for (unsigned i = 0; i < m->nusable; i++) {
		struct mem_range *r = &m->usable[i];
		/* The bytes taken must lie below the limit; the rest of the
		 * range need not (one range may run across 4 GiB). */
		if (r->end - r->start < bytes || r->start > below || bytes > below - r->start)
			continue;
		*at = r->start;
		r->start += bytes;
		if (r->start == r->end) {
			for (unsigned j = i + 1; j < m->nusable; j++)
				m->usable[j - 1] = m->usable[j];
			m->nusable--;
		}
		return true;
	}
	return false;
}

#ifndef HOST_TEST
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/panic.h"

#define RAW_MAX		512	/* UEFI maps run to a few hundred entries */
#define MIB		(1ull << 20)

struct memmap memmap;

uint64_t memmap_mem_limit;
CMDLINE_OPTION(memmap_mem_limit, "mem", CMDLINE_SIZE, NULL,
	       "use only the lowest this much usable RAM, e.g. 512M (0: all of it)");

static char last_warning[WARN_MAX];	/* memmap_build's reason, for the panic */

static void console_warn(void *ctx, const char *msg)
{
	(void)ctx;
	kprintf("memmap: warning: %s\n", msg);
	ksnprintf(last_warning, sizeof(last_warning), "%s", msg);
}

/* The report's two scales: MiB from one MiB up, KiB below. */
static unsigned long long scaled(uint64_t bytes, const char **unit)
{
	*unit = bytes >= MIB ? "MiB" : "KiB";
	return (unsigned long long)(bytes >= MIB ? bytes >> 20 : bytes >> 10);
}

/* Copy the loader's entries out, non-usable first: when the map overflows
 * raw[], dropping a usable entry only loses memory, while dropping a
 * reserved one could hand out memory the firmware owns. */
static unsigned read_entries(struct memmap_entry *raw)
{
	unsigned n = 0, lost = 0;

	for (int usable = 0; usable <= 1; usable++) {
		for (uint32_t i = 0; i < bootinfo.mmap_count; i++) {
			struct mb2_mmap_entry e = bootinfo_mmap_entry(i);
			if ((e.type == MEMMAP_USABLE) != usable)
				continue;
			if (n == RAW_MAX && !usable)
				panic("memmap: more than %d non-usable entries in the loader's map; "
				      "raise RAW_MAX", RAW_MAX);
			if (n == RAW_MAX) {
				lost++;
				continue;
			}
			raw[n++] = (struct memmap_entry){ e.base, e.length, e.type };
		}
	}
	if (lost)
		kprintf("memmap: warning: %u usable entries beyond the first %d ignored\n", lost, RAW_MAX);
	return n;
}

void memmap_init(void)
{
	static struct memmap_entry raw[RAW_MAX];
	struct mem_range res[3 + BOOTINFO_MAX_MODULES];
	const char *what[3 + BOOTINFO_MAX_MODULES];
	unsigned nres = 0;
	const char *unit, *u[4];

	/* Real-mode IVT, BDA, EBDA and option ROMs live here, and the
	 * firmware's map does not always say so. */
	res[nres] = (struct mem_range){ 0, MIB };
	what[nres++] = "first 1 MiB";
	/* The image holds .bss, hence the boot page tables and stacks. */
	res[nres] = (struct mem_range){ (uint64_t)__kernel_phys_start, (uint64_t)__kernel_phys_end };
	what[nres++] = "kernel image";
	if (bootinfo.info_size) {
		res[nres] = (struct mem_range){ bootinfo.info_phys, bootinfo.info_phys + bootinfo.info_size };
		what[nres++] = "boot information";
	}
	for (unsigned i = 0; i < bootinfo.nmodules; i++) {
		if (bootinfo.modules[i].end == bootinfo.modules[i].start)
			continue;
		res[nres] = (struct mem_range){ bootinfo.modules[i].start, bootinfo.modules[i].end };
		what[nres++] = "module";
	}

	unsigned n = read_entries(raw);
	if (memmap_build(&memmap, raw, n, res, nres, memmap_mem_limit, console_warn, NULL) < 0)
		panic("memmap: %s", last_warning);

	for (unsigned i = 0; i < nres; i++)
		kprintf("memmap: reserve [mem 0x%016llx-0x%016llx] %s\n", (unsigned long long)res[i].start,
			(unsigned long long)res[i].end - 1, what[i]);
	for (unsigned i = 0; i < memmap.nusable; i++) {
		const struct mem_range *r = &memmap.usable[i];
		unsigned long long size = scaled(r->end - r->start, &unit);
		kprintf("memmap: usable [mem 0x%016llx-0x%016llx] (%llu %s)\n",
			(unsigned long long)r->start, (unsigned long long)r->end - 1, size, unit);
	}
	unsigned long long usable = scaled(memmap.usable_bytes, &u[0]);
	unsigned long long acpi = scaled(memmap.acpi_reclaimable_bytes, &u[1]);
	unsigned long long reserved = scaled(memmap.reserved_bytes, &u[2]);
	unsigned long long limited = scaled(memmap.limited_bytes, &u[3]);
	kprintf("memmap: %llu %s usable in %u ranges, %llu %s ACPI reclaimable, %llu %s reserved, "
		"%llu %s removed by mem=\n", usable, u[0], memmap.nusable, acpi, u[1], reserved, u[2],
		limited, u[3]);
}
#endif
