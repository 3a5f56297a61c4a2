/*
 * tests/kernel/cmdline_test.c - the command-line parser in the kernel build,
 * on a private option table (the boot's own options stay untouched), plus a
 * check that the options the image declares are registered.
 */
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/string.h"

struct warnings {
	int count;
	char last[192];
};

static void collect(void *ctx, const char *msg)
{
	struct warnings *w = ctx;
	w->count++;
	memcpy(w->last, msg, strlen(msg) + 1);
}

static const char *mode;
static const char *name;
static uint64_t size, mem;
static bool flag;
static const struct cmdline_opt opt_mode = { "t.mode", CMDLINE_CHOICE, &mode, "fast|slow", "" };
static const struct cmdline_opt opt_name = { "t.name", CMDLINE_STR, &name, NULL, "" };
static const struct cmdline_opt opt_size = { "t.size", CMDLINE_U64, &size, NULL, "" };
static const struct cmdline_opt opt_flag = { "t.flag", CMDLINE_BOOL, &flag, NULL, "" };
static const struct cmdline_opt opt_mem = { "t.mem", CMDLINE_SIZE, &mem, NULL, "" };
static const struct cmdline_opt *const opts[] = { &opt_mode, &opt_name, &opt_size, &opt_flag, &opt_mem };

static int parse(const char *text, struct warnings *w)
{
	static char line[256];
	mode = "fast";
	name = "default";
	size = 64;
	flag = false;
	mem = 0;
	*w = (struct warnings){ 0, "" };
	memcpy(line, text, strlen(text) + 1);
	return cmdline_parse(line, opts, sizeof(opts) / sizeof(opts[0]), collect, w);
}

KTEST(cmdline, values_of_each_type)
{
	struct warnings w;
	KEXPECT_EQ(parse("t.mode=slow  t.name=\"two words\" t.size=0x1000 t.flag=yes t.mem=512M", &w), 0);
	KEXPECT_STREQ(mode, "slow");
	KEXPECT_STREQ(name, "two words");
	KEXPECT_EQ(size, 0x1000);
	KEXPECT_TRUE(flag);
	KEXPECT_EQ(mem, 512ull << 20);
	KEXPECT_EQ(parse("t.flag=On t.mem=6g", &w), 0);
	KEXPECT_TRUE(flag);
	KEXPECT_EQ(mem, 6ull << 30);
}

KTEST(cmdline, malformed_value_keeps_default_and_names_option)
{
	struct warnings w;
	KEXPECT_EQ(parse("t.size=12abc t.mode=medium", &w), 2);
	KEXPECT_EQ(size, 64);
	KEXPECT_STREQ(mode, "fast");
	KEXPECT_CONTAINS(w.last, "t.mode=medium");
	KEXPECT_CONTAINS(w.last, "using default \"fast\"");
}

KTEST(cmdline, malformed_bool_and_size_keep_defaults)
{
	struct warnings w;
	KEXPECT_EQ(parse("t.flag=maybe", &w), 1);
	KEXPECT_FALSE(flag);
	KEXPECT_CONTAINS(w.last, "t.flag=maybe: not a boolean");
	KEXPECT_CONTAINS(w.last, "using default 0");
	KEXPECT_EQ(parse("t.mem=16777216T", &w), 1);	/* 2^64 bytes overflows */
	KEXPECT_EQ(mem, 0);
	KEXPECT_EQ(parse("t.mem=12MB", &w), 1);
	KEXPECT_EQ(mem, 0);
	KEXPECT_CONTAINS(w.last, "t.mem=12MB: not a size");
	KEXPECT_CONTAINS(w.last, "using default 0");
}

KTEST(cmdline, unknown_option_warns)
{
	struct warnings w;
	KEXPECT_EQ(parse("bogus=1 t.name=x", &w), 1);
	KEXPECT_CONTAINS(w.last, "unknown option 'bogus'");
	KEXPECT_STREQ(name, "x");
}

extern const struct cmdline_opt *const __start_cmdline_opts[], *const __stop_cmdline_opts[];

KTEST(cmdline, image_registers_ktest_options)
{
	bool filter = false, action = false;
	for (const struct cmdline_opt *const *o = __start_cmdline_opts; o < __stop_cmdline_opts; o++) {
		filter |= strcmp((*o)->name, "ktest.filter") == 0;
		action |= strcmp((*o)->name, "ktest.action") == 0;
	}
	KEXPECT_TRUE(filter);
	KEXPECT_TRUE(action);
}
