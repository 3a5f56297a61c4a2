/*
 * kernel/restart.c - restarting an interrupted restartable sequence
 * (design: kernel/restart.h).
 *
 * The table is what the RESTART_SEQ entries of every inlined fast path
 * put in the restart_seqs section, gathered by linker.ld. It holds a
 * handful of entries (one per inlined heap push or pop), so an
 * interrupt scans it; interrupts are rare next to the allocations they
 * would otherwise have to be masked for. Called with interrupts off, by
 * the trap path (and by tests that play an interrupt handler).
 */
#include "kernel/restart.h"

#include <stddef.h>

extern const struct restart_seq __start_restart_seqs[], __stop_restart_seqs[];

static uint64_t restarts;	/* written with interrupts off, by the trap path */

const struct restart_seq *restart_seqs(size_t *n)
{
	*n = (size_t)(__stop_restart_seqs - __start_restart_seqs);
	return __start_restart_seqs;
}

const struct restart_seq *restart_seq_find(uint64_t rip)
{
	for (const struct restart_seq *s = __start_restart_seqs; s < __stop_restart_seqs; s++)
		if (rip > s->start && rip < s->end)
			return s;
	return NULL;
}

bool restart_seq_fixup(uint64_t *rip)
{
	const struct restart_seq *s = restart_seq_find(*rip);
	if (!s)
		return false;
	*rip = s->start;
	restarts++;
	return true;
}

uint64_t restart_seq_count(void)
{
	return __atomic_load_n(&restarts, __ATOMIC_RELAXED);
}
