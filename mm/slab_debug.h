/*
 * mm/slab_debug.h - the heap's misuse reports and slab_debug= detectors
 * (mm/slab_debug.c), for the other heap files: mm/slab.c calls the
 * detectors on its debug caches' paths, mm/slab_check.c the checks, and
 * every file reports misuse through slab_report. Private to the heap.
 * None of these takes a lock; the *_locked ones need c->lock held.
 */
#ifndef MM_SLAB_DEBUG_H
#define MM_SLAB_DEBUG_H

#include "mm/slab_internal.h"

/* The one way misuse is reported: "BUG <cache>: <what>" (c may be NULL:
 * "kmalloc"), the object if obj is not NULL, a backtrace and, with U, the
 * object's last allocation and free. Counted; changes nothing. */
void slab_report(const struct kmem_cache *c, void *obj, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Z: are obj's REDZONE_BYTES after it all REDZONE_BYTE? */
bool slab_redzone_intact(const struct kmem_cache *c, void *obj);
/* P: the offset of obj's first byte that is not POISON_FREE, or -1. */
long slab_first_unpoisoned(const struct kmem_cache *c, void *obj);
/* U: record the caller's backtrace as obj's last allocation or free. */
void slab_record(const struct kmem_cache *c, void *obj, enum track_kind kind);
/* A debug cache's checks of an object it hands out (P, Z, F, U). */
void slab_debug_on_alloc(struct kmem_cache *c, void *obj);

/* F: fill every object's padding and the tail of the new slab at base
 * with PAD_BYTE; find (or -1), check and refill them. */
void slab_pad_fill(const struct kmem_cache *c, uint8_t *base);
long slab_first_unpadded(const uint8_t *p, size_t n);
void slab_pad_check(const struct kmem_cache *c, void *obj);
void slab_tail_check(const struct kmem_cache *c, uint8_t *base);
/* F: check debug slab head's free list (up to `steps` entries), rebuilding
 * it if broken. Return: whether it was sound. */
bool slab_freelist_check_locked(struct kmem_cache *c, struct page *head, unsigned steps);

/* slab_debug= as SLAB_* flags, for every cache. */
unsigned slab_debug_parse(void);

#endif
