/*
 * kernel/qemu.h - what Tidemark uses of QEMU when it runs there: the fw_cfg
 * device (detection, extra command line) and isa-debug-exit (test results).
 * On real hardware qemu_present() is false and the rest does nothing.
 */
#ifndef KERNEL_QEMU_H
#define KERNEL_QEMU_H

#include <stdbool.h>
#include <stddef.h>

enum qemu_exit_code {
	QEMU_EXIT_PASS = 0x10,	/* QEMU exits with (0x10 << 1) | 1 = 33 */
	QEMU_EXIT_FAIL = 0x11,	/* 35 */
};

bool qemu_present(void);
void qemu_exit(enum qemu_exit_code code);

/* Copy the fw_cfg file "opt/tidemark/cmdline" into buf (NUL-terminated; at
 * most size - 1 bytes of it). Return: its whole length (more than size - 1:
 * it was cut), or 0 when absent. */
size_t qemu_cmdline(char *buf, size_t size);

#endif
