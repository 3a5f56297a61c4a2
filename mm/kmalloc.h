/*
 * mm/kmalloc.h - the size classes' parts (mm/kmalloc.c) that the other
 * heap files use: the table kmalloc's fast path looks up (mm/slab_fast.c),
 * the large-block marker and the large and misuse paths kfree ends in, and
 * the classes' set-up (slab_init; tests build private classes). Private to
 * the heap: users include mm/slab.h, where kmalloc and kfree are.
 */
#ifndef MM_KMALLOC_H
#define MM_KMALLOC_H

#include "mm/slab_internal.h"

/* Size -> cache, by 16 B steps up to KMALLOC_MAX_CACHE. */
extern struct kmem_cache *kmalloc_class[KMALLOC_MAX_CACHE / 16 + 1];

/* Marks the pages of a kmalloc too large for the classes: their struct
 * pages name this cache. Its flags are non-zero so that slab_settle,
 * which may find a slab's block reused for one, leaves it alone. */
#define SLAB_LARGE	(1u << 31)
extern struct kmem_cache kmalloc_large;

void kmalloc_init(unsigned debug_flags);
/* Set c up as the kmalloc class of `size` bytes (tests build private ones). */
void kmalloc_class_setup(struct kmem_cache *c, const char *name, size_t size, unsigned debug_flags);

/* kmalloc above the classes: a page block. */
__attribute__((noinline)) void *kmalloc_large_alloc(size_t n, unsigned flags);
/* kfree of large block pg (p reported unless its start). */
void kfree_large(struct page *pg, void *p);
/* kfree of a pointer the heap does not own (reported), or NULL. */
__attribute__((noinline)) void kfree_unowned(void *p);
/* kfree's slow path: any pointer in the page database. */
__attribute__((noinline)) void kfree_slow(void *p);

#endif
