/*
 * tests/kernel/restart_test.c - the restartable-sequence table and its one
 * user on the trap path: a handled interrupt that landed inside a sequence
 * sends it back to its start; an exception, or an address outside every
 * sequence, is left alone. (tests/kernel/slab_test.c interrupts the heap's
 * real sequences at every instruction.)
 */
#include "kernel/ktest.h"
#include "kernel/restart.h"
#include "kernel/trap.h"
#include "kernel/x86.h"

KTEST(restart, table_holds_short_well_formed_sequences)
{
	size_t n;
	const struct restart_seq *seqs = restart_seqs(&n);
	KEXPECT_GT(n, 0);
	for (size_t i = 0; i < n; i++) {
		KEXPECT_LT(seqs[i].start, seqs[i].end);
		KEXPECT_LE(seqs[i].end - seqs[i].start, 64);	/* a handful of instructions */
		KEXPECT_TRUE(restart_seq_find(seqs[i].start + 1) == &seqs[i]);
		KEXPECT_NULL(restart_seq_find(seqs[i].start));	/* nothing to undo yet */
		KEXPECT_NULL(restart_seq_find(seqs[i].end));	/* committed */
	}
}

/* Deliver a made-up trap of `vector` at rip through trap_dispatch, with a
 * catch armed so that it counts as handled; return the RIP it resumes at. */
static uint64_t dispatch_at(uint64_t vector, uint64_t rip)
{
	struct trap_catch c;
	struct trap_frame f = { .vector = vector, .rip = rip, .rflags = RFLAGS_IF };
	trap_catch_arm(&c, vector);
	trap_dispatch(&f);
	trap_catch_disarm();
	return f.rip;
}

KTEST(restart, a_handled_interrupt_rewinds_and_an_exception_does_not)
{
	size_t n;
	const struct restart_seq *seq = restart_seqs(&n);
	KASSERT_GT(n, 0);
	uint64_t before = restart_seq_count();

	KEXPECT_EQ(dispatch_at(VEC_IRQ_BASE + 7, seq->start + 1), seq->start);
	KEXPECT_EQ(dispatch_at(VEC_IRQ_BASE + 7, seq->end - 1), seq->start);
	KEXPECT_EQ(restart_seq_count() - before, 2);
	KEXPECT_EQ(dispatch_at(VEC_IRQ_BASE + 7, seq->end), seq->end);
	KEXPECT_EQ(dispatch_at(VEC_DB, seq->start + 1), seq->start + 1);
	KEXPECT_EQ(dispatch_at(VEC_BP, seq->start + 1), seq->start + 1);
	KEXPECT_EQ(restart_seq_count() - before, 2);
}
