/*
 * tests/kernel/gc_test.c - the collector in the kernel (mm/gc.c): where its
 * objects live, what frees them, and every kind of root that keeps them.
 *
 * The heap poisons swept objects for these tests, so a freed object is
 * seen either poisoned or gone with its span's pages. Conservative
 * scanning may keep a few dead objects (a stale stack slot, a register),
 * so "freed" is asserted for at least 99% of them.
 */
#include "kernel/ktest.h"
#include "kernel/error.h"
#include "kernel/printf.h"
#include "kernel/string.h"
#include "kernel/thread.h"
#include "kernel/timer.h"
#include "mm/gc.h"
#include "mm/gc_internal.h"
#include "mm/layout.h"
#include "mm/slab.h"
#include "mm/vmm.h"
#include "mm/kstack.h"
#include "kernel/console.h"

struct node {
	struct node *next;
	uint64_t value;
};

static struct gc_heap *heap(void)
{
	struct gc_heap *h = gc_kernel_heap();
	h->poison = true;
	return h;
}

static bool is_freed(struct gc_heap *h, const void *p, size_t n)
{
	if (gc_object_of(h, (uintptr_t)p))
		return false;
	if (!gc_span_of(h, (uintptr_t)p))
		return true;
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != GC_FREE_POISON)
			return false;
	return true;
}

static bool is_live(struct gc_heap *h, const void *p)
{
	return gc_object_of(h, (uintptr_t)p) == (uintptr_t)p;
}

/* Objects made in a frame that has returned: no live slot of the caller's
 * holds them; the addresses go out XOR-ed so they are not pointers. */
#define HIDE 0x5a5a5a5a5a5a5a5aull
__attribute__((noinline)) static void alloc_hidden(uintptr_t *out, unsigned n, size_t size)
{
	for (unsigned i = 0; i < n; i++) {
		struct node *p = gc_alloc(size);
		if (p)
			p->value = i;
		out[i] = (uintptr_t)p ^ HIDE;
	}
}

/* Whether the object hidden as h_ is live, or freed: computed in a frame of
 * their own, so the caller keeps no copy of the pointer in a register. */
__attribute__((noinline)) static bool hidden_live(uintptr_t h_)
{
	return is_live(gc_kernel_heap(), (void *)(h_ ^ HIDE));
}
__attribute__((noinline)) static void hidden_set(uintptr_t h_, uint64_t value)
{
	((struct node *)(h_ ^ HIDE))->value = value;
}
__attribute__((noinline)) static bool hidden_freed(uintptr_t h_, size_t n)
{
	return is_freed(gc_kernel_heap(), (void *)(h_ ^ HIDE), n);
}

/* Zero the stack below the caller's frame, where the dead frames of earlier
 * calls left copies of pointers, then collect: the collection's own frames
 * land on the zeroed bytes. */
__attribute__((noinline)) static void scrub_stack(void)
{
	volatile uint8_t junk[960];	/* a frame below the 1 KiB warning */
	for (unsigned i = 0; i < sizeof(junk); i++)
		junk[i] = 0;
}
__attribute__((noinline)) static void collect_clean(void)
{
	scrub_stack();
	gc_collect();
}

/* n hidden objects of `size` bytes, their table in kmalloc memory (unscanned). */
static uintptr_t *alloc_hidden_table(unsigned n, size_t size)
{
	uintptr_t *table = kzalloc(n * sizeof(uintptr_t), 0);
	if (table)
		alloc_hidden(table, n, size);
	return table;
}

KTEST(gc, objects_are_zeroed_in_4k_mappings_of_the_collector_region)
{
	struct gc_heap *h = heap();
	for (size_t n = 1; n <= 40000; n = n * 3 + 1) {
		uint8_t *p = gc_alloc(n);
		KASSERT_NOT_NULL(p);
		KEXPECT_GE((uintptr_t)p, GC_HEAP_REGION_BASE);
		KEXPECT_LT((uintptr_t)p, GC_HEAP_REGION_BASE + KERNEL_REGION_SIZE);
		KEXPECT_EQ((uintptr_t)p % 16, 0);
		bool zero = true;
		for (size_t i = 0; i < n; i++)
			zero &= p[i] == 0;
		KEXPECT_TRUE(zero);
		memset(p, 0xee, n);
		struct vmm_translation tr;
		KASSERT_TRUE(vmm_translate((uintptr_t)p, &tr));
		KEXPECT_EQ(tr.page_size, PAGE_SIZE);
		KEXPECT_TRUE(tr.dirty);
		KEXPECT_TRUE(is_live(h, p));
	}
	gc_heap_check(h);
}

KTEST(gc, unreachable_objects_are_freed)
{
	struct gc_heap *h = heap();
	enum { N = 2000 };
	uintptr_t *hidden = alloc_hidden_table(N, 48);
	KASSERT_NOT_NULL(hidden);
	struct gc_stats before;
	gc_stats(&before);
	gc_collect();
	unsigned freed = 0;
	for (unsigned i = 0; i < N; i++)
		freed += is_freed(h, (void *)(hidden[i] ^ HIDE), 48);
	kfree(hidden);
	struct gc_stats after;
	gc_stats(&after);
	kprintf("    # %u of %u unreachable objects freed; %llu bytes of roots scanned (%llu of stacks, %llu of data)\n",
		   freed, N, (unsigned long long)after.root_bytes, (unsigned long long)after.stack_bytes,
		   (unsigned long long)after.data_bytes);
	KEXPECT_GE(freed * 100, N * 99);
	KEXPECT_EQ(after.cycles, before.cycles + 1);
	KEXPECT_GE(after.freed_objects - before.freed_objects, freed);
	KEXPECT_GT(after.data_bytes, 0);
	KEXPECT_GT(after.stack_bytes, 0);
	gc_heap_check(h);
}

static struct node *data_root;

__attribute__((noinline)) static void link_from_data(const uintptr_t *hidden)
{
	data_root = (struct node *)(hidden[0] ^ HIDE);
	data_root->next = (struct node *)(hidden[1] ^ HIDE);
}

__attribute__((noinline)) static bool data_chain_intact(void)
{
	struct gc_heap *h = gc_kernel_heap();
	return is_live(h, data_root) && is_live(h, data_root->next) && data_root->next->value == 1;
}

KTEST(gc, an_object_reachable_from_the_data_segment_is_kept)
{
	heap();
	uintptr_t hidden[2];
	alloc_hidden(hidden, 2, sizeof(struct node));
	link_from_data(hidden);
	collect_clean();
	KEXPECT_TRUE(data_chain_intact());
	data_root = NULL;
}

struct parked {
	uintptr_t hidden;	/* the object, XOR-ed: not a pointer */
	volatile int go, done;
	uint64_t seen;
};

enum { HELD = 100 };
struct held {
	uintptr_t hidden[HELD];	/* XOR-ed */
	volatile int go, done;
	unsigned intact;
};

/* The only pointers to the objects are in this thread's stack while it sleeps. */
static void hold_on_stack(void *arg)
{
	struct held *hd = arg;
	struct node *volatile mine[HELD];
	for (unsigned i = 0; i < HELD; i++) {
		mine[i] = (struct node *)(hd->hidden[i] ^ HIDE);
		hd->hidden[i] ^= 0x1;	/* still hidden, but no longer the key to them */
	}
	hd->done = 1;
	while (!hd->go)
		thread_sleep_ns(1000000);
	for (unsigned i = 0; i < HELD; i++)
		hd->intact += mine[i]->value == i;
}

KTEST(gc, objects_reachable_only_from_another_threads_stack_are_kept_until_it_exits)
{
	heap();
	struct held *hd = kzalloc(sizeof(*hd), 0);
	KASSERT_NOT_NULL(hd);
	alloc_hidden(hd->hidden, HELD, 200);
	struct thread *t = kthread_create(hold_on_stack, hd, "gc-stack");
	KASSERT_NOT_NULL(t);
	while (!hd->done)
		thread_yield();
	collect_clean();
	collect_clean();
	unsigned live = 0;
	for (unsigned i = 0; i < HELD; i++)
		live += hidden_live(hd->hidden[i] ^ 0x1);
	KEXPECT_EQ(live, HELD);
	hd->go = 1;
	KEXPECT_EQ(kthread_join(t), 0);
	KEXPECT_EQ(hd->intact, HELD);
	/* its roots went with it */
	collect_clean();
	unsigned freed = 0;
	for (unsigned i = 0; i < HELD; i++)
		freed += hidden_freed(hd->hidden[i] ^ 0x1, 200);
	KEXPECT_GE(freed, HELD * 99 / 100);
	kfree(hd);
}

/* The only pointer is in r12 while the thread spins, until it is preempted
 * and the collector runs: its saved frame is the root. */
static void hold_in_register(void *arg)
{
	struct parked *pk = arg;
	uint64_t value;
	__asm__ volatile(
		"mov %[hidden], %%r12\n\t"
		"xor %[key], %%r12\n\t"
		"movq $0, %[hidden]\n\t"
		"movl $1, %[done]\n\t"
		"1: pause\n\t"
		"cmpl $0, %[go]\n\t"
		"je 1b\n\t"
		"mov 8(%%r12), %[value]\n\t"
		"xor %%r12, %%r12"
		: [hidden] "+m"(pk->hidden), [done] "=m"(pk->done), [value] "=r"(value)
		: [go] "m"(pk->go), [key] "r"(HIDE)
		: "r12", "memory");
	pk->seen = value;
}

KTEST(gc, an_object_reachable_only_from_a_preempted_register_is_kept)
{
	heap();
	struct parked pk = { 0 };
	alloc_hidden(&pk.hidden, 1, sizeof(struct node));
	volatile uintptr_t keep = pk.hidden;
	hidden_set(keep, 99);
	struct thread *t = kthread_create(hold_in_register, &pk, "gc-reg");
	KASSERT_NOT_NULL(t);
	while (!pk.done)
		thread_yield();
	/* it spins now; the timer preempts it for this thread */
	collect_clean();
	KEXPECT_TRUE(t->preempted);
	KEXPECT_TRUE(hidden_live(keep));
	pk.go = 1;
	KEXPECT_EQ(kthread_join(t), 0);
	KEXPECT_EQ(pk.seen, 99);
}

KTEST(gc, a_registered_root_in_kmalloc_memory_keeps_its_objects)
{
	struct gc_heap *h = heap();
	enum { N = 100 };
	uintptr_t *table = alloc_hidden_table(N, 64);
	KASSERT_NOT_NULL(table);
	for (unsigned i = 0; i < N; i++)
		table[i] ^= HIDE;
	KASSERT_EQ(gc_root_add(table, N * sizeof(uintptr_t)), KERR_OK);
	gc_collect();
	unsigned live = 0;
	for (unsigned i = 0; i < N; i++)
		live += is_live(h, (void *)table[i]) && ((struct node *)table[i])->value == i;
	KEXPECT_EQ(live, N);
	KEXPECT_EQ(gc_root_remove(table), KERR_OK);
	KEXPECT_EQ(gc_root_remove(table), KERR_NOENT);
	gc_collect();
	unsigned freed = 0;
	for (unsigned i = 0; i < N; i++)
		freed += is_freed(h, (void *)table[i], 64);
	KEXPECT_GE(freed * 100, N * 99);
	kfree(table);
}

/* volatile: a root only the collector reads, which the compiler would drop */
static volatile uintptr_t interior_root;

KTEST(gc, an_interior_pointer_keeps_its_object)
{
	heap();
	uintptr_t hidden;
	alloc_hidden(&hidden, 1, 20000);
	interior_root = (hidden ^ HIDE) + 12345;
	collect_clean();
	KEXPECT_TRUE(hidden_live(hidden));
	interior_root = 0;
}

static struct node *chain_root;

/* A chain of objects above the scan chunk, longer than the mark stack:
 * each node's first part, its remainder and the next node go through the
 * stack and the drain's prefetch ring in turn. */
KTEST(gc, a_chain_deeper_than_the_mark_stack_is_kept_whole)
{
	struct gc_heap *h = heap();
	enum { N = 1500, SIZE = 4200 };
	struct node *prev = NULL;
	for (unsigned i = 0; i < N; i++) {
		struct node *n = gc_alloc(SIZE);
		KASSERT_NOT_NULL(n);
		n->value = N - 1 - i;
		n->next = prev;
		prev = n;
	}
	chain_root = prev;
	prev = NULL;
	struct gc_stats before, after;
	gc_stats(&before);
	unsigned cap = gc_mark_stack_set(1024);	/* fewer entries than the chain's depth */
	gc_collect();
	gc_mark_stack_set(cap);
	gc_stats(&after);
	unsigned n = 0;
	for (struct node *p = chain_root; p && is_live(h, p) && p->value == n; p = p->next)
		n++;
	KEXPECT_EQ(n, N);
	chain_root = NULL;
	gc_collect();
	gc_heap_check(h);
}

static struct node **fan_root;

/* One object holding more pointers than the mark stack has entries: a
 * scan chunk of it pushes 512 of them into a stack of 64, which overflows
 * (the rest left marked, their spans rescanned), and every node is kept
 * with its value. */
KTEST(gc, a_fan_out_wider_than_the_mark_stack_overflows_and_is_kept_whole)
{
	struct gc_heap *h = heap();
	enum { N = 3000 };
	fan_root = gc_alloc(N * sizeof(*fan_root));
	KASSERT_NOT_NULL(fan_root);
	for (unsigned i = 0; i < N; i++) {
		fan_root[i] = gc_alloc(sizeof(struct node));
		KASSERT_NOT_NULL(fan_root[i]);
		fan_root[i]->value = i;
	}
	struct gc_stats before, after;
	gc_stats(&before);
	unsigned cap = gc_mark_stack_set(64);
	gc_collect();
	gc_mark_stack_set(cap);
	gc_stats(&after);
	unsigned n = 0;
	for (unsigned i = 0; i < N; i++)
		n += is_live(h, fan_root[i]) && fan_root[i]->value == i;
	KEXPECT_EQ(n, N);
	KEXPECT_GT(after.mark_overflows, before.mark_overflows);
	fan_root = NULL;
	gc_collect();
	gc_heap_check(h);
}

KTEST(gc, noscan_memory_is_never_scanned)
{
	struct gc_heap *h = heap();
	enum { N = 100 };
	uintptr_t hidden[N];
	alloc_hidden(hidden, N, sizeof(struct node));
	void **holder = gc_alloc_noscan(N * sizeof(void *));
	KASSERT_NOT_NULL(holder);
	for (unsigned i = 0; i < N; i++)
		holder[i] = (void *)(hidden[i] ^ HIDE);
	data_root = (struct node *)holder;
	collect_clean();
	KEXPECT_TRUE(is_live(h, holder));
	unsigned freed = 0;
	for (unsigned i = 0; i < N; i++)
		freed += hidden_freed(hidden[i], sizeof(struct node));
	KEXPECT_GE(freed, N * 99 / 100);
	data_root = NULL;
}

KTEST(gc, churn_runs_cycles_and_keeps_the_live_list_whole)
{
	/* Without poisoning, as in production: allocation then writes nothing,
	 * and the write barrier sees only the list's updates. */
	struct gc_heap *h = gc_kernel_heap();
	h->poison = false;
	/* a list of 1000 live nodes, rebuilt piecewise while garbage is made */
	static struct node *list[1000];
	for (unsigned i = 0; i < 1000; i++) {
		list[i] = gc_alloc(sizeof(struct node));
		KASSERT_NOT_NULL(list[i]);
		list[i]->value = i;
	}
	struct gc_stats before, after;
	gc_stats(&before);
	for (unsigned round = 0; round < 200000; round++) {
		struct node *garbage = gc_alloc(16 + round % 500);
		KASSERT_NOT_NULL(garbage);
		if (round % 50 == 0) {
			unsigned i = round / 50 % 1000;
			struct node *n = gc_alloc(sizeof(struct node));
			KASSERT_NOT_NULL(n);
			n->value = i;
			list[i] = n;
		}
	}
	gc_stats(&after);
	unsigned ok = 0;
	for (unsigned i = 0; i < 1000; i++)
		ok += is_live(h, list[i]) && list[i]->value == i;
	KEXPECT_EQ(ok, 1000);
	kprintf("    # %llu cycles, heap %llu KiB, goal %llu KiB, largest pause %llu us\n",
		   (unsigned long long)(after.cycles - before.cycles),
		   (unsigned long long)after.heap_bytes >> 10, (unsigned long long)after.goal_bytes >> 10,
		   (unsigned long long)after.pause_max_ns / 1000);
	/* How far the heap passes its (soft) goal depends on how fast the
	 * collector runs against the mutator: wall time under plain TCG. The
	 * icount row measures it (tests/kernel/gc_quota_test.c). */
	KEXPECT_GE(after.cycles - before.cycles, 1);
	memset(list, 0, sizeof(list));
	gc_collect();
	gc_heap_check(h);
}

struct deep {
	volatile int phase;	/* 1: recursed and parked; 2: go on */
	uint64_t sum1, sum2;
};

__attribute__((noinline)) static uint64_t recurse(unsigned depth)
{
	volatile uint8_t frame[480];
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(depth + i);
	uint64_t sum = depth ? recurse(depth - 1) : 0;
	for (unsigned i = 0; i < sizeof(frame); i += 64)
		sum += frame[i];
	return sum;
}

static void deep_then_park(void *arg)
{
	struct deep *d = arg;
	d->sum1 = recurse(80);
	d->phase = 1;
	while (d->phase != 2)
		thread_sleep_ns(1000000);
	d->sum2 = recurse(80);
}

KTEST(gc, a_collection_trims_stacks_and_the_trimmed_thread_runs_on)
{
	struct deep d = { 0 };
	struct thread *t = kthread_create(deep_then_park, &d, "gc-deep");
	KASSERT_NOT_NULL(t);
	while (d.phase != 1)
		thread_yield();
	struct kstack_stats before, after;
	kstack_stats(t->stack, &before);
	struct gc_stats s0, s1;
	gc_stats(&s0);
	gc_collect();
	gc_stats(&s1);
	kstack_stats(t->stack, &after);
	kprintf("    # stack mapped %llu KiB before the collection, %llu KiB after; %llu KiB trimmed in all\n",
		(unsigned long long)before.mapped >> 10, (unsigned long long)after.mapped >> 10,
		(unsigned long long)(s1.stack_trimmed_bytes - s0.stack_trimmed_bytes) >> 10);
	KEXPECT_GE(before.mapped, 40 * 1024);
	KEXPECT_LE(after.mapped, 3 * PAGE_SIZE);
	KEXPECT_GE(s1.stack_trimmed_bytes - s0.stack_trimmed_bytes, before.mapped - after.mapped);
	d.phase = 2;
	KEXPECT_EQ(kthread_join(t), 0);
	KEXPECT_EQ(d.sum2, d.sum1);
}

KTEST(gc, gctrace_prints_a_line_a_cycle_in_gos_layout)
{
	static char buf[512];
	bool was = gc_trace_set(true);
	console_capture(buf, sizeof(buf));
	gc_collect();
	console_capture(NULL, 0);
	gc_trace_set(was);
	KEXPECT_TRUE(strncmp(buf, "gc ", 3) == 0);
	KEXPECT_CONTAINS(buf, " ms clock, ");
	KEXPECT_CONTAINS(buf, " KB goal, ");
	KEXPECT_CONTAINS(buf, " KB stacks, ");
	KEXPECT_CONTAINS(buf, " KB globals, max pause ");
	KEXPECT_CONTAINS(buf, " KB trimmed\n");
	kprintf("    # %s", buf);
}

/* gc_alloc may run a collection, which waits on a mutex and stops the
 * world: in a handler, or under a spinlock, it is a reported bug. */
static void alloc_in_handler(void *ctx)
{
	(void)ctx;
	gc_alloc(16);
}

/* Rings of nodes whose links the mutator keeps rewriting while cycles run
 * incrementally: the only path to most nodes moves from one object to
 * another between quanta, so a lost dirty bit would free a live node. The
 * sum of the values over the rings never changes; a freed node reads as
 * poison, or is gone. */
static struct node *volatile barrier_table;

KTEST(gc, pointers_rewritten_while_marking_never_lose_a_live_node)
{
	enum { NODES = 512, SLOTS = 16, ROUNDS = 600000 };
	struct gc_heap *h = heap();
	/* SLOTS heads in a gc object (its page has dirty bits), each the
	 * start of a list; every node is on exactly one list. */
	struct node **heads = gc_alloc(SLOTS * sizeof(*heads));
	KASSERT_NOT_NULL(heads);
	barrier_table = (struct node *)heads;
	uint64_t want = 0;
	for (unsigned i = 0; i < NODES; i++) {
		struct node *n = gc_alloc(sizeof(*n));
		KASSERT_NOT_NULL(n);
		n->value = i * 2654435761u % 100003;
		want += n->value;
		n->next = heads[i % SLOTS];
		heads[i % SLOTS] = n;
	}
	struct gc_stats s0, s1;
	gc_stats(&s0);
	for (unsigned r = 0; r < ROUNDS; r++) {
		/* Move the first node of one list to the front of another. */
		unsigned a = (unsigned)ktest_random() % SLOTS, b = (unsigned)ktest_random() % SLOTS;
		struct node *n = heads[a];
		if (n && a != b) {
			heads[a] = n->next;
			n->next = heads[b];
			heads[b] = n;
		}
		KASSERT_NOT_NULL(gc_alloc(48));		/* garbage, so that cycles run */
	}
	gc_stats(&s1);
	uint64_t sum = 0;
	unsigned count = 0, live = 0;
	for (unsigned l = 0; l < SLOTS; l++)
		for (struct node *n = heads[l]; n && count <= NODES; n = n->next) {
			count++;
			live += is_live(h, n);
			sum += n->value;
		}
	kprintf("    # %llu cycles while %u rewrites ran; %u nodes on the lists\n",
		(unsigned long long)(s1.cycles - s0.cycles), (unsigned)ROUNDS, count);
	KEXPECT_GE(s1.cycles - s0.cycles, 3);
	KEXPECT_EQ(count, NODES);
	KEXPECT_EQ(live, NODES);
	KEXPECT_EQ(sum, want);
	barrier_table = NULL;
	gc_collect();
	gc_heap_check(h);
}

/* Memory runs short: the heap's page limit is lowered to a little above
 * what it holds, and a list grows until gc_alloc gives up. It must wait for
 * a complete cycle first (counted, with its waiting time), return NULL only
 * then, and lose nothing of the list. */
static struct node *volatile short_list;

KTEST(gc, under_shortage_gc_alloc_waits_for_a_cycle_and_only_then_fails)
{
	struct gc_heap *h = heap();
	gc_collect();
	uint64_t f = spin_lock_irqsave(&h->lock);
	size_t saved = h->page_limit;
	h->page_limit = h->pages + 64;
	spin_unlock_irqrestore(&h->lock, f);
	struct gc_stats s0, s1;
	gc_stats(&s0);
	unsigned n = 0;
	for (;;) {
		struct node *p = gc_alloc(1024);
		if (!p)
			break;
		p->value = n++;
		p->next = short_list;
		short_list = p;
		KASSERT_LT(n, 100000);
	}
	gc_stats(&s1);
	unsigned count = 0;
	bool in_order = true;
	for (struct node *p = short_list; p; p = p->next, count++)
		in_order &= p->value == n - 1 - count;
	f = spin_lock_irqsave(&h->lock);
	h->page_limit = saved;
	spin_unlock_irqrestore(&h->lock, f);
	kprintf("    # %u objects of 1 KiB held at the limit; %llu waits, %llu us waiting, "
		"%llu cycles, %llu overruns\n", n, (unsigned long long)(s1.alloc_waits - s0.alloc_waits),
		(unsigned long long)(s1.alloc_wait_ns - s0.alloc_wait_ns) / 1000,
		(unsigned long long)(s1.cycles - s0.cycles),
		(unsigned long long)(s1.overruns - s0.overruns));
	KEXPECT_GE(n, 200);
	KEXPECT_EQ(count, n);
	KEXPECT_TRUE(in_order);
	KEXPECT_GE(s1.alloc_waits - s0.alloc_waits, 1);
	KEXPECT_GT(s1.alloc_wait_ns, s0.alloc_wait_ns);
	KEXPECT_GE(s1.cycles - s0.cycles, 1);
	short_list = NULL;
	gc_collect();
	KEXPECT_NOT_NULL(gc_alloc(1024));
	gc_heap_check(h);
}

KTEST_DEATH(gc, gc_alloc_in_an_interrupt_handler_panics, "gc: gc_alloc called in an interrupt handler")
{
	uint64_t start = timer_ticks();
	timer_set_handler(alloc_in_handler, NULL);
	while (timer_ticks() < start + 100)
		__asm__ volatile("pause");
	timer_set_handler(NULL, NULL);
	KEXPECT_TRUE(false);	/* not reached: the tick panics */
}

KTEST_DEATH(gc, gc_alloc_with_a_spinlock_held_panics, "gc: gc_alloc called with a spinlock held")
{
	static struct spinlock l = SPINLOCK_INIT("test", LOCK_RANK_NONE);
	uint64_t f = spin_lock_irqsave(&l);
	gc_alloc(16);
	spin_unlock_irqrestore(&l, f);
	KEXPECT_TRUE(false);	/* not reached */
}
