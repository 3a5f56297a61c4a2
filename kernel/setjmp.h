/* kernel/setjmp.h - non-local exit for the test harness (KASSERT_* ends a test). */
#ifndef KERNEL_SETJMP_H
#define KERNEL_SETJMP_H

#include <stdint.h>

/* rbx, rbp, r12-r15, rsp, rip: the callee-saved state of the System V ABI. */
typedef uint64_t kjmp_buf[8];

int ksetjmp(kjmp_buf env) __attribute__((returns_twice));
_Noreturn void klongjmp(kjmp_buf env, int val);

#endif
