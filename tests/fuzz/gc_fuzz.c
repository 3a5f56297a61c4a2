/*
 * tests/fuzz/gc_fuzz.c - libFuzzer drives the collector's core (mm/gc_heap.c,
 * mm/gc_mark.c) against a reference model of reachability.
 *
 * The mutator holds ROOTS root slots (the only roots) and objects with
 * FIELDS pointer fields each. Input: groups of three bytes (cmd, a, b); cmd
 * % 8 picks an operation: allocate into root a, store root b into a field
 * of root a, load a field of root a into root b, clear a field, clear a
 * root, run a whole collection, begin an incremental cycle, or advance it
 * (drain a little; a second advance finishes it). Operations go on while a
 * cycle marks, their stores caught by the shim's dirty bits, as the
 * kernel's mutators' are.
 *
 * The model knows every object's fields. After each cycle, every object it
 * finds reachable must still be allocated, its id and fields intact. A
 * whole collection begun with no cycle open is exact (roots are precise
 * here, and ids are no addresses): every unreachable object must be freed.
 * An incremental cycle may keep what was unlinked while it marked
 * (floating garbage), which the next whole collection frees.
 */
#include "mm/gc_internal.h"
#include "tests/host/gc_shim.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEAP_SIZE	(8ul << 20)
#define PAGE_LIMIT	512		/* 2 MiB: inputs run it out */
#define ROOTS		16
#define FIELDS		4
#define MAX_OBJS	4096

#define CHECK(c)	do { if (!(c)) __builtin_trap(); } while (0)

struct obj {
	uint64_t id;
	struct obj *f[FIELDS];
};

struct model {
	struct obj *addr;		/* NULL: freed */
	int f[FIELDS];			/* ids, -1 for NULL */
};

static uintptr_t region;
static struct gc_heap heap;
static struct obj *roots[ROOTS];	/* the mutator's roots: scanned by every cycle */
static int root_id[ROOTS];
static struct model objs[MAX_OBJS];
static int nobjs;
static bool reach[MAX_OBJS];

static void mark_reachable(void)
{
	memset(reach, 0, sizeof(reach));
	int stack[MAX_OBJS], top = 0;
	for (int r = 0; r < ROOTS; r++)
		if (root_id[r] >= 0 && !reach[root_id[r]]) {
			reach[root_id[r]] = true;
			stack[top++] = root_id[r];
		}
	while (top) {
		int id = stack[--top];
		for (int k = 0; k < FIELDS; k++) {
			int c = objs[id].f[k];
			if (c >= 0 && !reach[c]) {
				reach[c] = true;
				stack[top++] = c;
			}
		}
	}
}

/* After a sweep: the reachable are intact; with exact, the rest are gone. */
static void check_after_cycle(bool exact)
{
	mark_reachable();
	for (int id = 0; id < nobjs; id++) {
		struct model *m = &objs[id];
		if (!m->addr)
			continue;
		bool kept = gc_object_of(&heap, (uintptr_t)m->addr) == (uintptr_t)m->addr;
		if (reach[id]) {
			CHECK(kept);
			CHECK(m->addr->id == (uint64_t)id);
			for (int k = 0; k < FIELDS; k++)
				CHECK(m->addr->f[k] == (m->f[k] < 0 ? NULL : objs[m->f[k]].addr));
		} else {
			CHECK(!exact || !kept);
			if (!kept)
				m->addr = NULL;
		}
	}
	gc_heap_check(&heap);
}

static bool marking;
static unsigned advances;

static void mark_roots(void)
{
	gc_mark_range(&heap, roots, roots + ROOTS);
}

static void finish_cycle(bool exact)
{
	/* The final phase: roots again, a dirty round, drained. */
	mark_roots();
	while (!gc_mark_drain(&heap, SIZE_MAX))
		;
	gc_mark_dirty_pages(&heap);
	while (!gc_mark_drain(&heap, SIZE_MAX))
		;
	gc_sweep_begin(&heap);
	while (!gc_sweep_step(&heap, 4))
		;
	marking = false;
	check_after_cycle(exact);
}

static void begin_cycle(void)
{
	CHECK(gc_mark_begin(&heap, 8) == 0);	/* a small stack: overflows are common */
	mark_roots();
	marking = true;
	advances = 0;
}

static struct obj *root_obj(unsigned r, int *id)
{
	*id = root_id[r % ROOTS];
	return *id < 0 ? NULL : roots[r % ROOTS];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	region = gc_shim_reserve(HEAP_SIZE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gc_shim_catch_faults();		/* libFuzzer set its own after LLVMFuzzerInitialize */
	CHECK(gc_heap_init(&heap, region, HEAP_SIZE, PAGE_LIMIT) == 0);
	memset(roots, 0, sizeof(roots));
	for (int r = 0; r < ROOTS; r++)
		root_id[r] = -1;
	nobjs = 0;
	marking = false;
	for (size_t i = 0; i + 3 <= size; i += 3) {
		unsigned cmd = data[i] % 8, a = data[i + 1], b = data[i + 2];
		int ida, idb;
		struct obj *oa = root_obj(a, &ida), *ob = root_obj(b, &idb);
		switch (cmd) {
		case 0: {	/* allocate into root a: 40 .. 40 + 8 * 255 bytes */
			if (nobjs == MAX_OBJS)
				break;
			struct obj *o = gc_heap_alloc(&heap, sizeof(struct obj) + 8u * b, false);
			if (!o)
				break;
			CHECK(gc_object_of(&heap, (uintptr_t)o) == (uintptr_t)o);
			for (size_t k = 0; k < sizeof(struct obj) + 8u * b; k++)
				CHECK(((uint8_t *)o)[k] == 0);
			o->id = (uint64_t)nobjs;
			objs[nobjs].addr = o;
			for (int k = 0; k < FIELDS; k++)
				objs[nobjs].f[k] = -1;
			roots[a % ROOTS] = o;
			root_id[a % ROOTS] = nobjs++;
			break;
		}
		case 1:		/* root a's field (b / ROOTS) := root b */
			if (oa) {
				oa->f[b / ROOTS % FIELDS] = ob;
				objs[ida].f[b / ROOTS % FIELDS] = ob ? idb : -1;
			}
			break;
		case 2: {	/* root b := root a's field */
			if (!oa)
				break;
			int k = a / ROOTS % FIELDS;
			roots[b % ROOTS] = oa->f[k];
			root_id[b % ROOTS] = objs[ida].f[k];
			break;
		}
		case 3:		/* clear a field */
			if (oa) {
				oa->f[b % FIELDS] = NULL;
				objs[ida].f[b % FIELDS] = -1;
			}
			break;
		case 4:		/* clear a root */
			roots[a % ROOTS] = NULL;
			root_id[a % ROOTS] = -1;
			break;
		case 5:		/* a whole collection */
			if (marking) {
				finish_cycle(false);
				break;
			}
			begin_cycle();
			finish_cycle(true);
			break;
		case 6:		/* begin an incremental cycle */
			if (!marking)
				begin_cycle();
			break;
		case 7:		/* advance it; the second advance finishes it */
			if (!marking)
				break;
			if (advances++ == 0)
				gc_mark_drain(&heap, 64u * (b + 1));
			else
				finish_cycle(false);
			break;
		}
	}
	if (marking)
		finish_cycle(false);
	/* Everything dropped: a whole collection frees every object. */
	memset(roots, 0, sizeof(roots));
	for (int r = 0; r < ROOTS; r++)
		root_id[r] = -1;
	begin_cycle();
	finish_cycle(true);
	CHECK(heap.alloc_bytes == 0);
	gc_heap_destroy(&heap);
	return 0;
}
