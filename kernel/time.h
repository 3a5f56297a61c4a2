/*
 * kernel/time.h - the monotonic clock: nanoseconds since timer_init, read
 * from the TSC.
 */
#ifndef KERNEL_TIME_H
#define KERNEL_TIME_H

#include <stdbool.h>
#include <stdint.h>

#define NSEC_PER_SEC	1000000000ull

/* Start the clock at 0 ns, the TSC running at tsc_hz (calibrated), and
 * report whether the TSC is invariant. Context: once, from timer_init. */
void clock_init(uint64_t tsc_hz);

/*
 * Return: nanoseconds since clock_init (0 before it). Never goes back; its
 * rate is the calibration's (kernel/calibrate.c), good to about 0.1% under
 * TCG. A TSC read, a subtraction and a multiply: no division, no lock.
 * Context: any, interrupt handlers included.
 */
uint64_t clock_ns(void);

/* Return: the TSC rate clock_ns assumes, in Hz. */
uint64_t clock_tsc_hz(void);

/* Return: whether CPUID promises an invariant TSC (constant rate in every
 * P-, C- and T-state). Without one, clock_ns runs at the boot rate only as
 * long as the TSC does (see kernel/clock.c). */
bool clock_tsc_invariant(void);

#endif
