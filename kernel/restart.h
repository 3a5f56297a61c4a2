/*
 * kernel/restart.h - restartable sequences: short runs of instructions that
 * an interrupt restarts rather than splits.
 *
 * A CPU's private structure (its heap free list, a slab it owns) can be
 * updated without masking interrupts when the update is written as one
 * sequence that only reads and prepares, and ends with the one store that
 * commits it. Each
 * such sequence records [start, end) in the restart_seqs table, end being
 * the address just after its commit. When an interrupt (vector 32 and up)
 * has been handled and the saved RIP is strictly inside (start, end),
 * trap_dispatch moves it back to start: the interrupted sequence then runs
 * again from the top, on whatever state the handler left. So an interrupt
 * handler may use the same structure freely, and the fast path pays
 * nothing for it (pushf/cli/popf cost five instructions per operation).
 *
 * Rules for a sequence (in inline asm, so the compiler cannot move code in
 * or out of it):
 *  1. Its inputs are registers it never writes; it recomputes everything
 *     else from them each time it starts.
 *  2. Every store before the commit goes to memory that nobody reads until
 *     the commit publishes it, or is idempotent; the commit, the last
 *     instruction, is the only store others can see.
 *  3. No calls, no stack use. A branch out of it abandons it, harmlessly.
 *  4. Under SMP, the CPU number must be read inside it (a %gs-relative
 *     address), so that a thread moved to another CPU starts over there.
 *  5. Exceptions and NMIs are not rewound: their handlers must not use
 *     the structures sequences guard (none of them allocates).
 *
 * This is the idea of Linux's rseq (for user space) and of the
 * interrupt-restartable atomic sequences of Bershad et al. (1992).
 * Host builds have no interrupts and record nothing.
 */
#ifndef KERNEL_RESTART_H
#define KERNEL_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct restart_seq {
	uint64_t start;		/* first instruction */
	uint64_t end;		/* just after the commit */
};

/* Inside an asm statement: record the sequence between local labels start
 * and end, e.g. RESTART_SEQ("1b", "2b"). */
#ifdef HOST_TEST
#define RESTART_SEQ(start, end)	""
#else
#define RESTART_SEQ(start, end)						\
	".pushsection restart_seqs, \"a\"\n\t"				\
	".balign 8\n\t"							\
	".quad " start ", " end "\n\t"					\
	".popsection\n\t"
#endif

/* The recorded sequences (n of them), for tests. */
const struct restart_seq *restart_seqs(size_t *n);

/* The sequence rip is inside (past its start, before its end), or NULL. */
const struct restart_seq *restart_seq_find(uint64_t rip);

/* If *rip is inside a sequence (past its start, before its end), move it
 * to the start. Called by trap_dispatch when an interrupt was handled (and
 * by tests playing an interrupt handler). Return: whether it moved. */
bool restart_seq_fixup(uint64_t *rip);

/* Sequences restarted since boot. */
uint64_t restart_seq_count(void);

#endif
