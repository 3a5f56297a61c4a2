/*
 * kernel/percpu.h - which CPU is this, for per-CPU caches.
 *
 * One CPU for now: cpu_id() is 0, and SMP bring-up will read it from the
 * per-CPU area. Host builds give each thread its own id (host_cpu_id, set by
 * multi-threaded host tests and benchmarks), so per-CPU caches become
 * per-thread there and the same code runs safely on two host threads.
 * Call with interrupts off (or a lock held) so the answer stays true - or,
 * as the heap's fast paths do (mm/slab_fast.c), rely on it not changing
 * at all: one CPU and no preemption. SMP bring-up must move their read into
 * their restartable sequences (a %gs-relative address: kernel/restart.h).
 */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#define MAX_CPUS	8

/* CPUs that run kernel code: one until SMP bring-up, which must make this
 * the count it brought up (per-CPU shares of a bound divide by it:
 * mm/slab_footprint.c). Host builds count one too: their threads are CPUs only
 * to the tests that exercise the per-CPU paths. */
static inline unsigned cpus_online(void) { return 1; }

#ifdef HOST_TEST
extern _Thread_local unsigned host_cpu_id;
static inline unsigned cpu_id(void) { return host_cpu_id; }
#else
static inline unsigned cpu_id(void) { return 0; }
#endif

#endif
