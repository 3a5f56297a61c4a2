/*
 * kernel/error.h - the kernel-wide error values for "ran out" and "no such
 * thing". Broken invariants never come back as one of these: they panic.
 */
#ifndef KERNEL_ERROR_H
#define KERNEL_ERROR_H

enum kerror {
	KERR_OK = 0,
	KERR_NOMEM = -1,	/* no memory (pages, table space, arena) */
	KERR_NOSPACE = -2,	/* no room in a fixed-size table or address range */
	KERR_NOENT = -3,	/* nothing mapped or registered there */
	KERR_KILLED = -4,	/* a thread was killed (kthread_join) */
};

#endif
