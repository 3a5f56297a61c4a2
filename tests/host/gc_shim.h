/* tests/host/gc_shim.h - the host's stand-in for the collector's machine
 * interface (mm/gc_internal.h): pages with emulated dirty bits. */
#ifndef TESTS_HOST_GC_SHIM_H
#define TESTS_HOST_GC_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reserve a range for one heap (one per process). Return: its base. */
uintptr_t gc_shim_reserve(size_t size);
/* (Re)install the fault handler that sets the dirty bits, over one a
 * harness installed since (libFuzzer's). */
void gc_shim_catch_faults(void);
/* Whether the page at va is dirty, without clearing it. */
bool gc_shim_dirty(uintptr_t va);
/* Pages mapped now. */
extern size_t gc_shim_mapped;
/* When > 0, the map call that brings it to 0 fails. */
extern int gc_shim_fail_maps;

#endif
