/*
 * kernel/kmain.c - the first C code; boot/entry.S calls kmain() in the higher
 * half on the boot stack with interrupts off.
 *
 *  1. Console first, so every later step can report.
 *  2. GDT/TSS/IST and IDT: from here on any fault gives a report and a
 *     symbolised backtrace instead of a triple fault.
 *  3. Boot information, then the command line (the loader's, plus QEMU's
 *     fw_cfg extra line that the test runner uses), then the boot report.
 *  4. Memory management: memory map, page allocator, the kernel's own page
 *     tables (mm/boot.c), then the heap (mm/slab.c), then kernel stacks
 *     (mm/kstack.c, whose slot bitmaps come from the heap).
 *  5. Time: the local APIC timer and the TSC, calibrated against the PIT;
 *     clock_ns starts, and the tick (timer.hz=) is programmed, with
 *     interrupts still off.
 *  6. The scheduler: the boot context becomes this CPU's idle thread, and
 *     the init thread runs what the command line asks (kernel/init.c: the
 *     tests, the benchmarks), with interrupts on, as every thread runs.
 */
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/gdt.h"
#include "kernel/x86.h"
#include "kernel/irq.h"
#include "kernel/init.h"
#include "kernel/qemu.h"
#include "kernel/serial.h"
#include "kernel/timer.h"
#include "kernel/thread.h"
#include "kernel/trap.h"
#include "mm/boot.h"
#include "mm/kstack.h"
#include "mm/slab.h"

#include <stdint.h>

#define MB2_BOOT_MAGIC	0x36d76289

_Noreturn void kmain(uint32_t magic, uint32_t info_phys);

/*
 * The kernel is built -mgeneral-regs-only and switches no FPU or SSE
 * state, so an FPU or SSE instruction is a bug: CR0.EM and CR0.TS make an
 * x87 instruction raise #NM, and with CR4's OSFXSR, OSXMMEXCPT and
 * OSXSAVE clear an SSE or AVX one raises #UD; either is reported as any
 * exception is.
 */
static void fpu_forbid(void)
{
	write_cr0((read_cr0() | CR0_EM | CR0_TS) & ~CR0_MP);
	write_cr4(read_cr4() & ~(CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE));
}

_Noreturn void kmain(uint32_t magic, uint32_t info_phys)
{
	static char qemu_line[512];

	serial_init();
	kprintf("\nTidemark, an x86-64 kernel memory subsystem (built with %s %s)\n",
#ifdef __clang__
		"clang",
#else
		"gcc",
#endif
		__VERSION__);

	gdt_init();
	idt_init();
	fpu_forbid();
	irq_init();

	/* entry.S checked the magic; a mismatch here means the handoff broke. */
	if (magic != MB2_BOOT_MAGIC)
		kprintf("boot: warning: multiboot2 magic 0x%x lost on the way to kmain\n", magic);
	bootinfo_parse(info_phys);
	bootinfo_report();
	if (qemu_cmdline(qemu_line, sizeof(qemu_line)) >= sizeof(qemu_line))
		cmdline_cut(qemu_line, sizeof(qemu_line) - 1, "QEMU fw_cfg command line");
	kprintf("cmdline: \"%s\"", bootinfo.cmdline);
	if (qemu_line[0])
		kprintf(" + from QEMU fw_cfg: \"%s\"", qemu_line);
	kprintf("\n");
	cmdline_init(bootinfo.cmdline, qemu_line);
	mm_init();
	gdt_guard_stacks();
	slab_init();
	kstack_init();
	timer_init();

	thread_init();
	sched_init();
	init_start();
	sched_idle();
}
