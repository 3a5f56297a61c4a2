/*
 * kernel/init.c - the init thread: runs the registered init tasks
 * (kernel/init.h), then says the kernel is done and leaves QEMU with the
 * pass code (on a real PC it halts). A task that decides the outcome
 * itself (the test harness, on a failure) leaves QEMU on its own.
 */
#include "kernel/init.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/qemu.h"
#include "kernel/thread.h"
#include "kernel/x86.h"
#include "mm/gc.h"

extern const struct init_task *const __start_init_tasks[], *const __stop_init_tasks[];

static void init_main(void *unused)
{
	(void)unused;
	gc_start();	/* the collector's thread, before any task allocates */
	for (const struct init_task *const *t = __start_init_tasks; t < __stop_init_tasks; t++)
		(*t)->fn();
	kprintf("Tidemark: done.\n");
	qemu_exit(QEMU_EXIT_PASS);
	halt_forever();
}

void init_start(void)
{
	if (!kthread_create(init_main, NULL, "init"))
		panic("init: no memory for the init thread");
}
