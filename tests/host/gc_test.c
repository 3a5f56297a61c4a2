/*
 * tests/host/gc_test.c - the collector's core (mm/gc_heap.c, mm/gc_mark.c)
 * on the host, under ASan and UBSan, with dirty bits from
 * tests/host/gc_shim.c. Each test builds its own heap in the one reserved
 * range and destroys it.
 */
#include "htest.h"
#include "tests/host/gc_shim.h"
#include "mm/gc_internal.h"
#include "mm/layout.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#define HEAP_SIZE (64ul << 20)

static uintptr_t region;

static struct gc_heap *heap_new(size_t page_limit)
{
	static struct gc_heap h;
	if (!region)
		region = gc_shim_reserve(HEAP_SIZE);
	if (gc_heap_init(&h, region, HEAP_SIZE, page_limit) != 0)
		abort();
	h.poison = true;
	return &h;
}

static void heap_end(struct gc_heap *h)
{
	gc_heap_check(h);
	gc_heap_destroy(h);
}

/* A whole cycle with the world stopped: roots, drain, a dirty round, sweep. */
static void collect(struct gc_heap *h, const void *roots, size_t len, unsigned stack_cap)
{
	HASSERT_EQ(gc_mark_begin(h, stack_cap), 0);
	gc_mark_range(h, roots, (const char *)roots + len);
	while (!gc_mark_drain(h, 1 << 20))
		;
	gc_mark_dirty_pages(h);
	while (!gc_mark_drain(h, 1 << 20))
		;
	gc_sweep_begin(h);
	while (!gc_sweep_step(h, 16))
		;
}

static bool poisoned(const void *p, size_t n);

/* Whether the object at p of n bytes was freed: not allocated, and either
 * poisoned or gone with its span's pages. */
static bool freed(struct gc_heap *h, const void *p, size_t n)
{
	if (gc_object_of(h, (uintptr_t)p))
		return false;
	return !gc_span_of(h, (uintptr_t)p) || poisoned(p, n);
}

static bool poisoned(const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != GC_FREE_POISON)
			return false;
	return true;
}

HTEST(size_classes_round_up_by_at_most_an_eighth)
{
	for (size_t n = 1; n <= GC_MAX_SMALL; n++) {
		size_t c = gc_size_class_bytes(n);
		HASSERT_TRUE(c >= n && c % GC_GRANULE == 0);
		if (n > 256)
			HASSERT_TRUE(c - n <= n / 8);
		else
			HASSERT_TRUE(c - n < GC_GRANULE);
	}
	HEXPECT_EQ(gc_size_class_bytes(GC_MAX_SMALL + 1), GC_MAX_SMALL + PAGE_SIZE);
}

HTEST(objects_are_zeroed_distinct_and_found_from_any_interior_address)
{
	struct gc_heap *h = heap_new(4096);
	static uint8_t *objs[3000];
	for (unsigned i = 0; i < 3000; i++) {
		size_t n = 1 + (i * 37) % 9000;
		uint8_t *p = gc_heap_alloc(h, n, i % 3 == 0);
		HASSERT_TRUE(p != NULL);
		HASSERT_TRUE((uintptr_t)p >= h->base && (uintptr_t)p < h->base + h->size);
		HASSERT_EQ((uintptr_t)p % GC_GRANULE, 0);
		for (size_t b = 0; b < n; b++)
			HASSERT_EQ(p[b], 0);
		memset(p, 0xa5, n);
		objs[i] = p;
		HEXPECT_EQ(gc_object_of(h, (uintptr_t)p), (uintptr_t)p);
		HEXPECT_EQ(gc_object_of(h, (uintptr_t)p + n - 1), (uintptr_t)p);
		size_t size = gc_size_class_bytes(n);
		uintptr_t past = gc_object_of(h, (uintptr_t)p + size);
		HEXPECT_TRUE(past != (uintptr_t)p);
	}
	for (unsigned i = 1; i < 3000; i++)
		HEXPECT_TRUE(objs[i] != objs[i - 1]);
	HEXPECT_EQ(gc_object_of(h, h->base - 8), 0);
	HEXPECT_EQ(gc_object_of(h, h->base + h->size), 0);
	heap_end(h);
	HEXPECT_EQ(gc_shim_mapped, 0);
}

struct node {
	struct node *next;
	uint64_t value;
};

HTEST(unreachable_objects_are_freed_and_reachable_ones_kept)
{
	struct gc_heap *h = heap_new(8192);
	static struct node *roots[500];
	static struct node *all[5000];
	for (unsigned i = 0; i < 5000; i++) {
		all[i] = gc_heap_alloc(h, sizeof(struct node), false);
		HASSERT_TRUE(all[i] != NULL);
		all[i]->value = i;
	}
	/* every tenth object is a root; every root points at the next object */
	for (unsigned i = 0; i < 500; i++) {
		roots[i] = all[i * 10];
		roots[i]->next = all[i * 10 + 1];
	}
	collect(h, roots, sizeof(roots), 1024);
	unsigned nfreed = 0, unreachable = 0;
	for (unsigned i = 0; i < 5000; i++) {
		bool reachable = i % 10 <= 1;
		if (reachable) {
			HEXPECT_EQ(all[i]->value, i);
			HEXPECT_TRUE(gc_object_of(h, (uintptr_t)all[i]) != 0);
		} else {
			unreachable++;
			nfreed += poisoned(all[i], sizeof(struct node));
		}
	}
	HEXPECT_TRUE(nfreed * 100 >= unreachable * 99);
	HEXPECT_EQ(h->freed_objects, nfreed);
	HEXPECT_EQ(h->marked_bytes, 1000 * 16);
	heap_end(h);
}

HTEST(an_interior_pointer_keeps_its_object_one_past_the_end_does_not)
{
	struct gc_heap *h = heap_new(4096);
	static uintptr_t roots[2];
	uint8_t *a = gc_heap_alloc(h, 64, true);
	uint8_t *b = gc_heap_alloc(h, 20000, true);
	uint8_t *c = gc_heap_alloc(h, 64, true);
	HASSERT_TRUE(a && b && c);
	roots[0] = (uintptr_t)(a + 63);
	roots[1] = (uintptr_t)(b + 12345);
	uintptr_t c_end = (uintptr_t)c + 64;	/* c's end, which no root names */
	(void)c_end;
	collect(h, roots, sizeof(roots), 64);
	HEXPECT_TRUE(gc_object_of(h, (uintptr_t)a) == (uintptr_t)a);
	HEXPECT_TRUE(gc_object_of(h, (uintptr_t)b) == (uintptr_t)b);
	HEXPECT_TRUE(freed(h, c, 64));

	/* a root one past a's end names the object after it, not a */
	roots[0] = (uintptr_t)(a + 64);
	roots[1] = 0;
	collect(h, roots, sizeof(roots), 64);
	HEXPECT_TRUE(freed(h, a, 64));
	heap_end(h);
}

HTEST(a_chain_far_longer_than_the_mark_stack_is_kept)
{
	struct gc_heap *h = heap_new(16384);
	static struct node *root;
	struct node *prev = NULL;
	/* built backwards, so that each node is found only after the one before */
	for (unsigned i = 0; i < 20000; i++) {
		struct node *n = gc_heap_alloc(h, i % 2 ? 48 : 16, false);
		HASSERT_TRUE(n != NULL);
		n->next = prev;
		n->value = i;
		prev = n;
	}
	root = prev;
	/* a tree too: every node of a wide fan-out level overflows a small stack */
	static struct node *fan[1000];
	struct node *wide = gc_heap_alloc(h, sizeof(fan), false);
	HASSERT_TRUE(wide != NULL);
	for (unsigned i = 0; i < 1000; i++) {
		fan[i] = gc_heap_alloc(h, sizeof(struct node), false);
		fan[i]->value = 7 * i;
	}
	memcpy(wide, fan, sizeof(fan));
	static struct node *roots[2];
	roots[0] = root;
	roots[1] = wide;
	prev = NULL;
	root = NULL;
	memset(fan, 0, sizeof(fan));
	h->overflows = 0;
	collect(h, roots, sizeof(roots), 8);
	HEXPECT_TRUE(h->overflows > 0);
	unsigned n = 0;
	for (struct node *p = roots[0]; p; p = p->next, n++)
		HASSERT_EQ(p->value, 19999 - n);
	HEXPECT_EQ(n, 20000);
	struct node **w = (struct node **)roots[1];
	for (unsigned i = 0; i < 1000; i++)
		HEXPECT_EQ(w[i]->value, 7 * i);
	HEXPECT_EQ(h->freed_objects, 0);
	heap_end(h);
}

HTEST(noscan_objects_are_never_scanned)
{
	struct gc_heap *h = heap_new(4096);
	static void *roots[1];
	void **holder = gc_heap_alloc(h, 64, true);
	struct node *target = gc_heap_alloc(h, sizeof(struct node), false);
	HASSERT_TRUE(holder && target);
	holder[0] = target;
	roots[0] = holder;
	collect(h, roots, sizeof(roots), 64);
	HEXPECT_TRUE(gc_object_of(h, (uintptr_t)holder) != 0);
	HEXPECT_TRUE(freed(h, target, sizeof(*target)));
	heap_end(h);
}

HTEST(empty_spans_and_large_objects_give_their_pages_back)
{
	struct gc_heap *h = heap_new(4096);
	static void *roots[1];
	for (unsigned i = 0; i < 200; i++)
		HASSERT_TRUE(gc_heap_alloc(h, i % 2 ? 100 : 30000, false) != NULL);
	roots[0] = gc_heap_alloc(h, 100, false);
	size_t before = h->pages;
	HEXPECT_TRUE(before > 100 * 8);
	collect(h, roots, sizeof(roots), 64);
	HEXPECT_EQ(h->pages, 2);	/* the one class span left, of 100 B objects */
	HEXPECT_EQ(gc_shim_mapped, 2);
	HEXPECT_EQ(h->alloc_bytes, gc_size_class_bytes(100));
	heap_end(h);
}

HTEST(exhaustion_returns_null_and_a_collection_makes_room)
{
	struct gc_heap *h = heap_new(64);
	static void *roots[1];
	unsigned n = 0;
	while (gc_heap_alloc(h, 1000, false))
		n++;
	HEXPECT_TRUE(n > 200);
	HEXPECT_TRUE(gc_heap_alloc(h, 40000, false) == NULL);
	HEXPECT_EQ(h->pages <= 64, 1);
	gc_heap_check(h);
	collect(h, roots, sizeof(roots), 64);
	HEXPECT_EQ(h->pages, 0);
	HEXPECT_TRUE(gc_heap_alloc(h, 40000, false) != NULL);
	/* a page that cannot be mapped leaves nothing behind */
	gc_shim_fail_maps = 3;
	HEXPECT_TRUE(gc_heap_alloc(h, 5 * PAGE_SIZE, false) == NULL);
	gc_shim_fail_maps = 0;
	gc_heap_check(h);
	heap_end(h);
	HEXPECT_EQ(gc_shim_mapped, 0);
}

HTEST(a_store_into_a_black_object_is_seen_through_the_dirty_bit)
{
	for (int barrier = 0; barrier <= 1; barrier++) {
		struct gc_heap *h = heap_new(4096);
		static struct node *roots[1];
		struct node *a = gc_heap_alloc(h, sizeof(struct node), false);
		/* w is far away from a, on a page of its own class */
		struct node *w = gc_heap_alloc(h, 1000, false);
		HASSERT_TRUE(a && w);
		w->value = 42;
		roots[0] = a;
		HASSERT_EQ(gc_mark_begin(h, 64), 0);
		gc_mark_range(h, roots, roots + 1);
		HASSERT_TRUE(gc_mark_drain(h, 1 << 20));
		HEXPECT_TRUE(gc_is_marked(h, (uintptr_t)a));
		HEXPECT_TRUE(!gc_is_marked(h, (uintptr_t)w));
		HEXPECT_TRUE(!gc_shim_dirty((uintptr_t)a & ~(PAGE_SIZE - 1)));
		/* the mutator, between quanta: the only pointer to w moves into black a */
		a->next = w;
		w = NULL;
		HEXPECT_TRUE(gc_shim_dirty((uintptr_t)a & ~(PAGE_SIZE - 1)));
		if (barrier)
			HEXPECT_TRUE(gc_mark_dirty_pages(h) >= 1);
		HASSERT_TRUE(gc_mark_drain(h, 1 << 20));
		gc_sweep_begin(h);
		while (!gc_sweep_step(h, 16))
			;
		if (barrier)
			HEXPECT_EQ(a->next->value, 42);
		else
			HEXPECT_TRUE(freed(h, a->next, sizeof(struct node)));	/* the control */
		heap_end(h);
	}
}

HTEST(allocation_while_marking_is_white_and_survives_when_the_roots_reach_it)
{
	struct gc_heap *h = heap_new(4096);
	static struct node *roots[1];
	HASSERT_EQ(gc_mark_begin(h, 64), 0);
	struct node *n = gc_heap_alloc(h, sizeof(*n), false);
	struct node *lost = gc_heap_alloc(h, sizeof(*lost), false);
	HASSERT_TRUE(n != NULL && lost != NULL);
	n->value = 5;
	HEXPECT_TRUE(!gc_is_marked(h, (uintptr_t)n));
	/* the final round: the roots rescanned reach n, not lost */
	roots[0] = n;
	gc_mark_range(h, roots, roots + 1);
	HASSERT_TRUE(gc_mark_drain(h, 1 << 20));
	HEXPECT_TRUE(gc_is_marked(h, (uintptr_t)n));
	HEXPECT_TRUE(!gc_is_marked(h, (uintptr_t)lost));
	roots[0] = NULL;
	gc_sweep_begin(h);
	/* allocated during the sweep, in a span not yet swept: kept too */
	struct node *m = gc_heap_alloc(h, sizeof(*m), false);
	m->value = 6;
	while (!gc_sweep_step(h, 16))
		;
	HEXPECT_EQ(n->value, 5);
	HEXPECT_EQ(m->value, 6);
	HEXPECT_TRUE(freed(h, lost, sizeof(*lost)));
	/* the next cycle, unreachable, both go */
	collect(h, roots, sizeof(roots), 64);
	HEXPECT_TRUE(freed(h, n, sizeof(*n)) && freed(h, m, sizeof(*m)));
	heap_end(h);
}

/*
 * A mutator thread and a collector thread at once. The mutator keeps
 * NLISTS lists hanging from a root array, each node holding a checksum of
 * its list position, and keeps moving nodes between lists and replacing
 * them with new ones while the collector marks incrementally. The world
 * stops only for the final phase (roots, a dirty round, a drain), at the
 * mutator's safepoint between operations, when its only pointers are in
 * the root array. Nothing reachable may ever be freed: every node is
 * checked against its checksum, and a freed node reads as poison.
 */
#define NLISTS 64
#define LIST_LEN 32
static struct cnode {
	struct cnode *next;
	uint64_t check;
	uint64_t pad[4];
} *lists[NLISTS];
static volatile int stop_request, stopped, done;
static unsigned long mutator_ops;

static uint64_t check_of(const struct cnode *n) { return (uint64_t)(uintptr_t)n * 0x9e3779b97f4a7c15ull; }

static struct cnode *cnode_new(struct gc_heap *h)
{
	struct cnode *n = gc_heap_alloc(h, sizeof(*n), false);
	if (n)
		n->check = check_of(n);
	return n;
}

static void safepoint(void)
{
	if (!__atomic_load_n(&stop_request, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&stopped, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&stop_request, __ATOMIC_ACQUIRE))
		sched_yield();
	__atomic_store_n(&stopped, 0, __ATOMIC_RELEASE);
}

static unsigned verify_lists(void)
{
	unsigned bad = 0;
	for (unsigned l = 0; l < NLISTS; l++)
		for (struct cnode *n = lists[l]; n; n = n->next)
			bad += n->check != check_of(n);
	return bad;
}

static void *mutator(void *arg)
{
	struct gc_heap *h = arg;
	uint64_t rnd = 88172645463325252ull;
	unsigned long ops = 0;
	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		unsigned from = rnd % NLISTS, to = (rnd >> 8) % NLISTS;
		if (rnd >> 20 & 1) {
			/* move the head of one list behind the head of another */
			struct cnode *n = lists[from];
			if (n && lists[to] && n != lists[to]) {
				lists[from] = n->next;
				n->next = lists[to]->next;
				lists[to]->next = n;
			}
		} else {
			/* replace a list's head by a new node */
			struct cnode *n = cnode_new(h);
			if (n && lists[to]) {
				n->next = lists[to]->next;
				lists[to] = n;
			}
		}
		__atomic_store_n(&mutator_ops, ++ops, __ATOMIC_RELAXED);
		if (ops % 64 == 0)
			safepoint();
	}
	return NULL;
}

HTEST(a_mutator_and_a_collector_at_once_never_lose_a_live_node)
{
	struct gc_heap *h = heap_new(8192);
	for (unsigned l = 0; l < NLISTS; l++)
		for (unsigned i = 0; i < LIST_LEN; i++) {
			struct cnode *n = cnode_new(h);
			HASSERT_TRUE(n != NULL);
			n->next = lists[l];
			lists[l] = n;
		}
	pthread_t t;
	HASSERT_EQ(pthread_create(&t, NULL, mutator, h), 0);
	unsigned cycles = 0, dirty = 0;
	uint64_t freed = 0;
	/* at least 20 cycles, and until the mutator has done 100,000 operations */
	for (; cycles < 20 || __atomic_load_n(&mutator_ops, __ATOMIC_RELAXED) < 100000; cycles++) {
		HASSERT_EQ(gc_mark_begin(h, 256), 0);
		gc_mark_range(h, lists, lists + NLISTS);
		while (!gc_mark_drain(h, 2048))
			dirty += (unsigned)gc_mark_dirty_pages(h);
		/* the final phase, with the mutator at its safepoint */
		__atomic_store_n(&stop_request, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&stopped, __ATOMIC_ACQUIRE))
			sched_yield();
		gc_mark_range(h, lists, lists + NLISTS);
		dirty += (unsigned)gc_mark_dirty_pages(h);
		while (!gc_mark_drain(h, 1 << 20))
			;
		gc_sweep_begin(h);
		__atomic_store_n(&stop_request, 0, __ATOMIC_RELEASE);
		while (!gc_sweep_step(h, 4))
			;
	}
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	collect(h, lists, sizeof(lists), 256);	/* the garbage of the last cycles too */
	freed = h->freed_objects;
	printf("    # %u cycles, %lu mutator operations, %u dirty pages found, %llu nodes freed\n", cycles,
	       mutator_ops, dirty, (unsigned long long)freed);
	HEXPECT_EQ(verify_lists(), 0);
	unsigned live = 0;
	for (unsigned l = 0; l < NLISTS; l++)
		for (struct cnode *n = lists[l]; n; n = n->next)
			live++;
	/* nothing but the lists is a root: every other node made was freed */
	HEXPECT_EQ(freed + live, h->total_allocs);
	HEXPECT_TRUE(freed > 1000);
	HEXPECT_TRUE(dirty > 0);
	memset(lists, 0, sizeof(lists));
	heap_end(h);
}

int main(void)
{
	return htest_main("gc");
}
