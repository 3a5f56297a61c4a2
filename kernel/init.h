/*
 * kernel/init.h - what the init thread runs (kernel/init.c).
 *
 * kmain starts the scheduler and one init thread, which runs every task
 * registered with INIT_TASK, in link order. The kernel names none of them:
 * the test harness, the benchmarks and the demo register their own, and
 * each looks at its own command-line options to decide whether to act.
 */
#ifndef KERNEL_INIT_H
#define KERNEL_INIT_H

struct init_task {
	const char *name;
	void (*fn)(void);
};

#define INIT_TASK(name_, fn_)							\
	static const struct init_task init_task_##fn_ = { name_, fn_ };	\
	static const struct init_task *const init_task_ptr_##fn_		\
	__attribute__((used, section("init_tasks"))) = &init_task_##fn_

/* Start the init thread. Context: kmain, after sched_init. */
void init_start(void);

#endif
