/*
 * mm/slab_fast.c - the heap's entry points whose common case touches only
 * this CPU's free list or the slab of the object freed: kmalloc, kzalloc,
 * kfree, kmem_cache_alloc, kmem_cache_free. Everything else they need is a
 * slow path in mm/slab.c or mm/kmalloc.c.
 *
 * Each CPU allocates from its free list of a cache (struct kmem_cpu_objs),
 * made of whole free lists it took from its slabs, and frees every object
 * of a slab it owns straight onto that slab's own free list (no magazine
 * between CPU and slab, so a freed object makes no extra trip) - unless
 * the slab is full: then the object is kept on the CPU's free list, to be
 * handed out again first (cache_free_fast).
 *   1. Allocate (cache_alloc): pop this CPU's free list of the cache and
 *      clear the object's free mark.
 *   2. Free (cache_free_fast): find the object's slab from its struct page
 *      and check it is an object start; if this CPU owns the slab, push
 *      onto the slab's free list (or, the slab full, keep it on the CPU's
 *      list) and set the free mark; then lower the slab's count in use.
 * Each push and pop is a restartable sequence (kernel/restart.h): the store
 * of the list head commits, and an interrupt that lands before the commit
 * sends the sequence back to its start. So they need no lock, no atomic
 * instruction and no interrupt masking, and an interrupt handler may
 * allocate and free in the middle of one. The build has six: a pop, a push
 * onto a slab and a keep onto the CPU list, each with the metadata at 0
 * (kmalloc, kfree) and at c->meta (kmem_cache_alloc, kmem_cache_free).
 *
 * A free also lowers the slab's count in use, after the commit: a handler
 * that runs between the two sees the count one too high, which can only
 * keep a slab it would otherwise release. Every other change of the count
 * is an add, never a store, so the pending decrement always lands on the
 * count it was meant for. (A keep's count of kept objects goes up after
 * its commit too: see cache_free_fast.) The decrement takes the slow path
 * (slab_settle) when the count reaches 0 (the slab is empty) or is negative
 * (the slab was full, and its count carries FULL_BIAS), the two cases in
 * which the slab changes list.
 *
 * The slow paths: an empty CPU free list, objects of a slab another CPU
 * owns, debug caches (their slabs are owned by OWNER_NONE and their CPU
 * free lists stay empty), a set free mark, misuse and large blocks. A
 * failed fast path leaves through a tail call: this file alone is built
 * with sibling calls and frameless leaves (see the Makefile), so that
 * kmalloc and kfree stay leaves with no stack traffic of their own. The
 * price is that a report from a slow path shows the caller of kfree (say)
 * directly under slab_free_slow, without a kfree frame between; the caller
 * is what a report needs.
 *
 * Context: any, interrupt handlers included (kernel/restart.h), but not
 * exception or NMI handlers, which do not rewind the sequences.
 */
#include "mm/slab_internal.h"
#include "mm/kmalloc.h"
#include "kernel/restart.h"

/* The free pointer's load from an object, with the metadata offset as a
 * constant when the caller knows it (kmalloc: 0). */
#define CACHE_POP_ASM(load)						\
	"1:\n\t"							\
	"movq %[head], %[obj]\n\t"					\
	"testq %[obj], %[obj]\n\t"					\
	"jz %l[slow]\n\t"						\
	load "\n\t"							\
	"movq %[next], %[head]\n"	/* commit */			\
	"2:\n\t"							\
	RESTART_SEQ("1b", "2b")

/*
 * Pop an object off this CPU's free list of c and clear its free mark, or
 * take the slow path. meta: c->meta, passed as a constant by callers that
 * know it (kmalloc's caches keep metadata at 0 unless debugging, and debug
 * caches never get past the pop).
 */
static inline __attribute__((always_inline)) void *cache_alloc(struct kmem_cache *c,
							       unsigned flags, size_t meta)
{
	/* The CPU is read outside the sequence: right while it cannot change
	 * under it (one CPU, no preemption: kernel/percpu.h). */
	struct kmem_cpu_objs *k = &c->cpu[cpu_id()];
	void *obj, *next;

	if (__builtin_constant_p(meta) && meta == 0)
		__asm__ volatile goto(CACHE_POP_ASM("movq (%[obj]), %[next]")
				      : [obj] "=&r"(obj), [next] "=&r"(next), [head] "+m"(k->freelist)
				      :
				      : "cc", "memory"
				      : slow);
	else
		__asm__ volatile goto(CACHE_POP_ASM("movq (%[obj], %[meta]), %[next]")
				      : [obj] "=&r"(obj), [next] "=&r"(next), [head] "+m"(k->freelist)
				      : [meta] "r"(meta)
				      : "cc", "memory"
				      : slow);
	((uint64_t *)((uint8_t *)obj + meta))[1] = 0;
	if (flags & KM_ZERO)
		return memset(obj, 0, c->obj_size);
	return obj;
slow:
	return slab_alloc_slow(c, flags);
}

enum free_fast { FREED, FREE_SLOW, FREE_SETTLE };

/* Push obj onto the list whose head is %[fl] and set its free mark; the
 * store of the head commits. The mark is tested inside, so that a handler
 * freeing obj too, before the commit, sends this free to the slow path
 * (which reports the double free) rather than pushing obj twice. `prep`
 * runs with the old head in %[t]. */
#define CACHE_PUSH_SEQ(obj_next, obj_mark, prep)			\
	"1:\n\t"							\
	"cmpq %[markv], " obj_mark "\n\t"				\
	"je %l[slow]\n\t"						\
	"movq %[fl], %[t]\n\t"						\
	prep								\
	"movq %[t], " obj_next "\n\t"					\
	"movq %[markv], " obj_mark "\n\t"				\
	"movq %[obj], %[fl]\n"		/* commit */			\
	"2:\n\t"							\
	RESTART_SEQ("1b", "2b")
/* Onto a slab's list, then lower its count (see above). */
#define CACHE_PUSH_ASM(obj_next, obj_mark)				\
	CACHE_PUSH_SEQ(obj_next, obj_mark, "")				\
	"subl $1, %[inuse]\n\t"					\
	"jle %l[settle]"
/* Onto this CPU's list, kept (cache_free_fast): a push onto an empty list
 * starts the count of kept objects again, a store inside the sequence that
 * nobody reads while the list is empty (and storing 0 twice is harmless);
 * the count goes up after the commit. */
#define CACHE_KEEP_ASM(obj_next, obj_mark)				\
	CACHE_PUSH_SEQ(obj_next, obj_mark,				\
		       "testq %[t], %[t]\n\t"				\
		       "jnz 3f\n\t"					\
		       "movl $0, %[nkept]\n"				\
		       "3:\n\t")					\
	"addl $1, %[nkept]"

/*
 * Free obj, an object start (checked) in the slab whose head is `head`, if
 * this CPU (`cpu`) owns the slab (its owner byte is `tag`: owner_tag) and
 * obj is not marked free already: onto that slab's free list, setting its
 * free mark.
 *
 * But if the slab is full (the owner byte carries OWNER_FULL), the object
 * goes onto this CPU's free list instead and the slab stays full: making it
 * partial for one object, which the next refill would take straight back,
 * would cost two list moves. Kept while at most keep_below were kept
 * since the list was last empty; in a cache of small objects, only when
 * the list is empty or holds nothing but kept objects (not when it holds a
 * refill's objects: the CPU is then working through a slab, whose frees
 * should stay on it; a refill sets the count to 0 there, to 1 in a cache
 * of large objects, whose slabs hold few objects each). The count of kept
 * objects goes up after the push's commit: a handler that runs between the
 * two sees it one short, and may keep one object more; a look-up that must
 * see the whole list (a double free's) walks it to its end.
 *
 * Return: FREED; FREE_SETTLE when the slab's count says it must change list
 * (the caller then calls slab_settle); FREE_SLOW when nothing was done and
 * the slow path must (another CPU's slab, a debug cache, a likely double
 * free).
 */
static inline __attribute__((always_inline)) enum free_fast
cache_free_fast(void *obj, struct page *head, size_t meta, unsigned tag, unsigned cpu)
{
	uint64_t t;

	if (__builtin_expect(head->slab_owner != tag, 0)) {
		/* Read again, so that the fast path's test stays one compare
		 * with memory rather than a load into a register. */
		if (*(volatile uint8_t *)&head->slab_owner != (tag | OWNER_FULL))
			return FREE_SLOW;
		struct kmem_cache *c = head->slab_cache;
		struct kmem_cpu_objs *k = &c->cpu[cpu];
		/* Not a refill's objects (0 kept, small objects), nor
		 * keep_below + 1 kept. */
		if (!k->freelist || k->nkept - 1 < c->keep_below) {
			if (__builtin_constant_p(meta) && meta == 0)
				__asm__ volatile goto(CACHE_KEEP_ASM("(%[obj])", "8(%[obj])")
						      : [t] "=&r"(t), [fl] "+m"(k->freelist),
							[nkept] "+m"(k->nkept)
						      : [obj] "r"(obj), [markv] "e"(FREE_MARK)
						      : "cc", "memory"
						      : slow);
			else
				__asm__ volatile goto(CACHE_KEEP_ASM("(%[obj], %[meta])",
								     "8(%[obj], %[meta])")
						      : [t] "=&r"(t), [fl] "+m"(k->freelist),
							[nkept] "+m"(k->nkept)
						      : [obj] "r"(obj), [meta] "r"(meta),
							[markv] "e"(FREE_MARK)
						      : "cc", "memory"
						      : slow);
			return FREED;
		}
	}
	if (__builtin_constant_p(meta) && meta == 0)
		__asm__ volatile goto(CACHE_PUSH_ASM("(%[obj])", "8(%[obj])")
				      : [t] "=&r"(t), [fl] "+m"(head->slab_freelist),
					[inuse] "+m"(head->slab_inuse)
				      : [obj] "r"(obj), [markv] "e"(FREE_MARK)
				      : "cc", "memory"
				      : slow, settle);
	else
		__asm__ volatile goto(CACHE_PUSH_ASM("(%[obj], %[meta])", "8(%[obj], %[meta])")
				      : [t] "=&r"(t), [fl] "+m"(head->slab_freelist),
					[inuse] "+m"(head->slab_inuse)
				      : [obj] "r"(obj), [meta] "r"(meta), [markv] "e"(FREE_MARK)
				      : "cc", "memory"
				      : slow, settle);
	return FREED;
settle:
	return FREE_SETTLE;
slow:
	return FREE_SLOW;
}


void *kmalloc(size_t n, unsigned flags)
{
	/* kmalloc_cache's lookup, written out: going through its NULL result
	 * would add instructions to the fast path. Metadata is at 0 in every
	 * kmalloc cache that has fast paths. */
	if (__builtin_expect(n <= KMALLOC_MAX_CACHE, 1))
		return cache_alloc(kmalloc_class[(n + 15) >> 4], flags, 0);
	return kmalloc_large_alloc(n, flags);
}

void *kzalloc(size_t n, unsigned flags)
{
	return kmalloc(n, flags | KM_ZERO);
}

void kfree(void *p)
{
	/* pmm_virt_to_page, written out so that NULL and foreign pointers
	 * share one branch; then slab_obj_start and head_of, interleaved so
	 * that no register is copied. */
	uint64_t i = ((uintptr_t)p - kernel_pmm.va_start) >> PAGE_SHIFT;
	if (__builtin_expect(i < kernel_pmm.npages, 1)) {
		struct page *pg = &kernel_pmm.db[i];
		uint64_t off = (uintptr_t)p - (uintptr_t)pg->slab_base;
		if (__builtin_expect((uint32_t)off < pg->slab_objs_end, 1)) {
			uint64_t magic = pg->slab_div_magic;
			struct page *head = head_of(pg);
			if (__builtin_expect(off * magic < magic, 1)) {
				/* Metadata at 0: caches whose slabs carry
				 * OWNER_META fail the owner test. */
				unsigned cpu = cpu_id();
				enum free_fast r = cache_free_fast(p, head, 0, cpu, cpu);
				if (__builtin_expect(r == FREED, 1))
					return;
				if (r == FREE_SETTLE) {
					slab_settle(head);
					return;
				}
			}
		}
		kfree_slow(p);	/* large blocks too; it finds pg again, so that
				   pg need not live past head_of */
		return;
	}
	kfree_unowned(p);
}

void *kmem_cache_alloc(struct kmem_cache *c, unsigned flags)
{
	return cache_alloc(c, flags, c->meta);
}

void kmem_cache_free(struct kmem_cache *c, void *p)
{
	if (!p)
		return;
	struct page *pg = pmm_virt_to_page(&kernel_pmm, p);
	if (__builtin_expect(!pg || pg->slab_cache != c, 0)) {
		kmem_cache_free_foreign(c, p, pg);
		return;
	}
	if (__builtin_expect(slab_obj_start(pg, p), 1)) {
		struct page *head = head_of(pg);
		unsigned cpu = cpu_id();
		enum free_fast r = cache_free_fast(p, head, c->meta, owner_tag(c, cpu), cpu);
		if (__builtin_expect(r == FREED, 1))
			return;
		if (r == FREE_SETTLE) {
			slab_settle(head);
			return;
		}
	}
	slab_free_slow(c, p, pg);
}
