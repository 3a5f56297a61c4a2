/*
 * mm/early.h - the boot-time bump allocator in a fixed .bss arena: memory in
 * the data segment, sized at compile time, never freed.
 */
#ifndef MM_EARLY_H
#define MM_EARLY_H

#include <stddef.h>

#define EARLY_ARENA_SIZE	(64 * 1024)

/* Return: zeroed memory aligned to align (a power of two). Panics, naming
 * the arena's size, when it is exhausted: boot cannot go on without it. */
void *early_alloc(size_t size, size_t align);

/* Bytes handed out so far (for the boot report). */
size_t early_used(void);

#endif
