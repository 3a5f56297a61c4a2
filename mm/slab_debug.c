/*
 * mm/slab_debug.c - the heap's misuse detectors and their one way of
 * reporting (the allocator itself is mm/slab.c).
 *
 *   slab_report        "BUG <cache>: <what>", the object, the offending
 *                      backtrace and, with U, the object's last allocation
 *                      and free; counted (slab_report_count), never fatal,
 *                      and it changes nothing, so the heap stays as it was.
 *   red zones (Z)      REDZONE_BYTES of REDZONE_BYTE after each object,
 *                      checked on free, on allocation and by slab_check.
 *   poisoning (P)      a free object is filled with POISON_FREE; a byte that
 *                      changed by its next allocation is a write after free.
 *   owner tracking (U) the backtraces of each object's last allocation and
 *                      free, kept after its metadata (struct track).
 *   consistency (F)    on every free, a walk of the slab's free list (each
 *                      entry a free object of the slab, no loop, the counts
 *                      adding up), and on every allocation a look at the
 *                      two entries its pop reads and leaves behind; a broken
 *                      list is rebuilt from the free marks. The bytes no
 *                      object owns, filled with PAD_BYTE when the slab is
 *                      made, are checked: the object's padding on both, its
 *                      slab's tail on frees.
 *   slab_debug=        the letters above, for every cache.
 * The always-on checks (double free, foreign and interior pointers, wrong
 * cache) are in the allocator's paths; they report through slab_report.
 * What a detector finds it reports and repairs (red zone and padding bytes
 * refilled, a free list rebuilt), so that one overwrite is one report and
 * slab_check still passes. Called by the heap's files (mm/slab_debug.h),
 * with the cache lock held or without; these functions take no lock of
 * their own.
 */
#include "mm/slab_debug.h"
#include "mm/kmalloc.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

#include <stdarg.h>

#ifndef HOST_TEST
#include "kernel/cmdline.h"
#endif

static uint64_t reports;			/* atomic */

/* ---- reports ------------------------------------------------------------ */

static void print_track(const char *what, const struct track *t)
{
	if (!t->n) {
		kprintf("  %s: (not recorded)\n", what);
		return;
	}
	kprintf("  %s:\n", what);
	backtrace_print_addrs(t->pcs, t->n < TRACK_DEPTH ? t->n : TRACK_DEPTH);
}

/*
 * The one way misuse is reported: "BUG <cache>: <what>", the object, the
 * backtrace of the offending call and, with U, where the object was last
 * allocated and freed. Counts the report; changes nothing.
 */
void slab_report(const struct kmem_cache *c, void *obj, const char *fmt, ...)
{
	const uint64_t *fp = __builtin_frame_address(0);
	va_list ap;

	kprintf("BUG %s: ", c ? c->name : "kmalloc");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	if (obj && c && c != &kmalloc_large)
		kprintf("  object 0x%llx, size %zu (stride %zu)\n", (unsigned long long)obj,
			c->size, c->stride);
	backtrace_print(fp[1] - 1, fp[0]);
	if (obj && c && (c->flags & SLAB_STORE_USER)) {
		print_track("last allocated at", &tracks_of(c, obj)[TRACK_ALLOC]);
		print_track("last freed at", &tracks_of(c, obj)[TRACK_FREE]);
	}
	__atomic_add_fetch(&reports, 1, __ATOMIC_RELAXED);
}

uint64_t slab_report_count(void)
{
	return __atomic_load_n(&reports, __ATOMIC_RELAXED);
}

/* ---- the detectors (caches with slab_debug letters) ------------------------- */

bool slab_redzone_intact(const struct kmem_cache *c, void *obj)
{
	const uint8_t *rz = (const uint8_t *)obj + c->obj_size;
	for (unsigned i = 0; i < REDZONE_BYTES; i++)
		if (rz[i] != REDZONE_BYTE)
			return false;
	return true;
}

long slab_first_unpoisoned(const struct kmem_cache *c, void *obj)
{
	const uint8_t *b = obj;
	for (size_t i = 0; i < c->obj_size; i++)
		if (b[i] != POISON_FREE)
			return (long)i;
	return -1;
}

void slab_record(const struct kmem_cache *c, void *obj, enum track_kind kind)
{
	struct track *t = &tracks_of(c, obj)[kind];
	t->n = backtrace_save(t->pcs, TRACK_DEPTH);
}

/* Allocation checks for a debug cache; reports, never refuses the object. */
void slab_debug_on_alloc(struct kmem_cache *c, void *obj)
{
	if (c->flags & SLAB_POISON) {
		long at = slab_first_unpoisoned(c, obj);
		if (at >= 0)
			slab_report(c, obj, "Poison overwritten: written after free at offset %ld (0x%02x)",
				    at, ((uint8_t *)obj)[at]);
	}
	if ((c->flags & SLAB_RED_ZONE) && !slab_redzone_intact(c, obj)) {
		slab_report(c, obj, "Right Redzone overwritten (while free)");
		memset((uint8_t *)obj + c->obj_size, REDZONE_BYTE, REDZONE_BYTES);
	}
	if (c->flags & SLAB_CONSISTENCY)
		slab_pad_check(c, obj);
	if (c->flags & SLAB_STORE_USER)
		slab_record(c, obj, TRACK_ALLOC);
}

/* ---- consistency (F) ------------------------------------------------------------ */

/* Fill the padding of every object of the new slab at base, and its tail. */
void slab_pad_fill(const struct kmem_cache *c, uint8_t *base)
{
	size_t pad = pad_of(c);
	for (unsigned i = 0; i < c->per_slab; i++)
		memset(base + (uint64_t)i * c->stride + pad, PAD_BYTE, c->stride - pad);
	memset(base + c->objs_end, PAD_BYTE, slab_bytes(c) - c->objs_end);
}

/* A word at a time: a slab's tail can be kilobytes, checked on every
 * allocation and free. */
long slab_first_unpadded(const uint8_t *p, size_t n)
{
	const uint64_t pad = 0x0101010101010101ull * PAD_BYTE;
	size_t i = 0;
	for (uint64_t w; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		if (w != pad)
			break;
	}
	for (; i < n; i++)
		if (p[i] != PAD_BYTE)
			return (long)i;
	return -1;
}

/* obj's padding: report a byte that is not PAD_BYTE, and refill. */
void slab_pad_check(const struct kmem_cache *c, void *obj)
{
	uint8_t *pad = (uint8_t *)obj + pad_of(c);
	size_t npad = c->stride - pad_of(c);
	long at = slab_first_unpadded(pad, npad);
	if (at >= 0) {
		slab_report(c, obj, "Object padding overwritten at offset %zu (0x%02x); refilled",
			    pad_of(c) + (size_t)at, pad[at]);
		memset(pad, PAD_BYTE, npad);
	}
}

/* The tail of the slab at base, as slab_pad_check. On frees only: a tail
 * can be kilobytes (3 KiB in a 4 KiB object's slab under FZPU), too much
 * to check on every allocation as well. */
void slab_tail_check(const struct kmem_cache *c, uint8_t *base)
{
	uint8_t *tail = base + c->objs_end;
	size_t ntail = slab_bytes(c) - c->objs_end;
	long at = slab_first_unpadded(tail, ntail);
	if (at >= 0) {
		slab_report(c, NULL, "Slab padding overwritten at 0x%llx, byte %ld of the tail of "
			    "slab 0x%llx (0x%02x); refilled", (unsigned long long)(tail + at), at,
			    (unsigned long long)base, tail[at]);
		memset(tail, PAD_BYTE, ntail);
	}
}

/* Is f a free object of the slab `head`: an object start in it (integers:
 * f may be any value), marked free? */
static bool free_object_of(const struct kmem_cache *c, const struct page *head, void *f)
{
	return obj_start(c, (uintptr_t)f - (uintptr_t)head->slab_base) && is_free_marked(c, f);
}

/*
 * Check the free list of debug slab `head`, up to `steps` entries (~0u: all):
 * each entry a free object of the slab, no more entries than it has
 * objects (more is a loop), and, if the walk reached the end, the list's
 * length plus the count in use its object count. On a fault, report it and
 * rebuild the list from the free marks, in address order: a debug cache
 * sets and clears them under its lock and keeps no CPU lists, so the
 * marked objects are the free ones. (Linux cuts the list at the fault
 * instead; every free object past it would be lost to the cache, which
 * then could never be destroyed.) Must hold c->lock.
 * Return: whether the list was sound; if not, the caller relists the slab.
 */
bool slab_freelist_check_locked(struct kmem_cache *c, struct page *head, unsigned steps)
{
	uint8_t *base = head->slab_base;
	char what[160];
	unsigned n = 0;
	void *prev = NULL;

	for (void *f = head->slab_freelist; f; prev = f, f = (void *)meta_of(c, f)[0]) {
		if (n == steps)
			return true;
		if (!free_object_of(c, head, f)) {
			if (prev)
				ksnprintf(what, sizeof(what), "Freelist corrupt: 0x%llx links to 0x%llx, "
					  "not a free object of slab 0x%llx", (unsigned long long)prev,
					  (unsigned long long)f, (unsigned long long)base);
			else
				ksnprintf(what, sizeof(what), "Freelist corrupt: slab 0x%llx's first entry "
					  "0x%llx is not a free object of it", (unsigned long long)base,
					  (unsigned long long)f);
			goto rebuild;
		}
		if (++n > c->per_slab) {
			ksnprintf(what, sizeof(what), "Freelist corrupt: the list of slab 0x%llx loops "
				  "(more entries than its %u objects)", (unsigned long long)base, c->per_slab);
			goto rebuild;
		}
	}
	if (n + (unsigned)head->slab_inuse == c->per_slab)
		return true;
	ksnprintf(what, sizeof(what), "Wrong object count: slab 0x%llx has %u free and %d in use "
		  "of %u objects", (unsigned long long)base, n, head->slab_inuse, c->per_slab);
rebuild:;
	void *list = NULL;
	unsigned nfree = 0;
	for (unsigned i = c->per_slab; i-- > 0; ) {
		uint8_t *obj = base + (uint64_t)i * c->stride;
		if (is_free_marked(c, obj)) {
			meta_of(c, obj)[0] = (uint64_t)list;
			list = obj;
			nfree++;
		}
	}
	head->slab_freelist = list;
	head->slab_inuse = (int32_t)(c->per_slab - nfree);
	slab_report(c, NULL, "%s; rebuilt from the free marks: %u free, %u in use", what, nfree,
		    c->per_slab - nfree);
	return false;
}

/* ---- slab_debug= ----------------------------------------------------------------- */

#ifndef HOST_TEST
static const char *slab_debug = "";
CMDLINE_OPTION(slab_debug, "slab_debug", CMDLINE_STR, NULL,
	       "debug every cache: F checks, Z red zones, P poisoning, U owner tracking");
#else
static const char *slab_debug = "";
#endif

/* slab_debug= as SLAB_* flags: Linux's letters. A value with anything else
 * in it (Linux's per-cache form "Z,cache" among them) is malformed as a
 * whole: named once, and its default, no debugging, used (applying the
 * letters around the bad one turned "Z,,task_struct" into Z and U). */
unsigned slab_debug_parse(void)
{
	unsigned flags = 0;
	for (const char *s = slab_debug; *s; s++) {
		switch (*s) {
		case 'F': case 'f': flags |= SLAB_CONSISTENCY; break;
		case 'Z': case 'z': flags |= SLAB_RED_ZONE; break;
		case 'P': case 'p': flags |= SLAB_POISON; break;
		case 'U': case 'u': flags |= SLAB_STORE_USER; break;
		default:
			kprintf("slab: warning: slab_debug=%s: unknown letter '%c' (F, Z, P, U are "
				"known); using default (no debugging)\n", slab_debug, *s);
			return 0;
		}
	}
	return flags;
}
