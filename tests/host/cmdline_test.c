/*
 * tests/host/cmdline_test.c - kernel/cmdline.c's parser on crafted lines,
 * under ASan and UBSan: types, quoting, malformed values, unknown options,
 * and lines that try to run the tokenizer off the end of its buffer.
 */
#include "htest.h"
#include "kernel/cmdline.h"

#include <stdlib.h>

struct warnings {
	int count;
	char all[2048];
};

static void collect(void *ctx, const char *msg)
{
	struct warnings *w = ctx;
	size_t used = strlen(w->all), len = strlen(msg);
	w->count++;
	if (used + len + 2 <= sizeof(w->all)) {	/* keep what fits, whole lines only */
		memcpy(w->all + used, msg, len);
		memcpy(w->all + used + len, "\n", 2);
	}
}

static const char *mode, *name;
static uint64_t size, mem;
static bool flag;
static const struct cmdline_opt opt_mode = { "t.mode", CMDLINE_CHOICE, &mode, "fast|slow|off", "" };
static const struct cmdline_opt opt_name = { "t.name", CMDLINE_STR, &name, NULL, "" };
static const struct cmdline_opt opt_size = { "t.size", CMDLINE_U64, &size, NULL, "" };
static const struct cmdline_opt opt_flag = { "t.flag", CMDLINE_BOOL, &flag, NULL, "" };
static const struct cmdline_opt opt_mem = { "t.mem", CMDLINE_SIZE, &mem, NULL, "" };
static const struct cmdline_opt *const opts[] = { &opt_mode, &opt_name, &opt_size, &opt_flag, &opt_mem };

static struct warnings w;
static char *line;

/* Parse a heap copy of text sized exactly, so ASan sees any overrun. */
static int parse(const char *text)
{
	mode = "fast";
	name = "default";
	size = 64;
	flag = true;
	mem = 512ull << 20;
	memset(&w, 0, sizeof(w));
	free(line);
	line = strdup(text);
	return cmdline_parse(line, opts, sizeof(opts) / sizeof(opts[0]), collect, &w);
}

HTEST(empty_line_sets_nothing)
{
	HEXPECT_EQ(parse(""), 0);
	HEXPECT_EQ(parse("   \t  "), 0);
	HEXPECT_STREQ(mode, "fast");
	HEXPECT_EQ(size, 64);
}

HTEST(each_type_parses)
{
	HEXPECT_EQ(parse("t.mode=off t.name=abc t.size=4096 t.flag=off t.mem=3G"), 0);
	HEXPECT_STREQ(mode, "off");
	HEXPECT_STREQ(name, "abc");
	HEXPECT_EQ(size, 4096);
	HEXPECT_EQ(flag, false);
	HEXPECT_EQ(mem, 3ull << 30);
}

HTEST(hex_and_limits)
{
	HEXPECT_EQ(parse("t.size=0xFFFFffffFFFFffff"), 0);
	HEXPECT_EQ(size, UINT64_MAX);
	HEXPECT_EQ(parse("t.size=18446744073709551615"), 0);
	HEXPECT_EQ(size, UINT64_MAX);
	HEXPECT_EQ(parse("t.size=18446744073709551616"), 1);	/* 2^64 overflows */
	HEXPECT_EQ(size, 64);
	HEXPECT_EQ(parse("t.size=0x"), 1);
	HEXPECT_EQ(parse("t.size=-1"), 1);
	HEXPECT_EQ(parse("t.size=1k"), 1);
}

HTEST(bool_spellings)
{
	static const char *const yes[] = { "1", "y", "yes", "on", "true", "Y", "YES", "On", "TRUE" };
	static const char *const no[] = { "0", "n", "no", "off", "false", "N", "Off", "FALSE" };
	char text[64];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "t.flag=0 t.flag=%s", yes[i]);
		HEXPECT_EQ(parse(text), 0);
		HEXPECT_EQ(flag, true);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "t.flag=%s", no[i]);
		HEXPECT_EQ(parse(text), 0);
		HEXPECT_EQ(flag, false);
	}
}

HTEST(bool_malformed_warns_with_default)
{
	static const char *const bad[] = { "t.flag=2", "t.flag=yess", "t.flag=o", "t.flag=truefalse",
					   "t.flag=\" on\"", "t.flag=-1" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		HEXPECT_EQ(parse(bad[i]), 1);
		HEXPECT_EQ(flag, true);
	}
	parse("t.flag=maybe");
	HEXPECT_STREQ(w.all, "t.flag=maybe: not a boolean (1/0, y/n, yes/no, on/off, true/false); "
		      "using default 1\n");
}

HTEST(size_units_are_binary)
{
	HEXPECT_EQ(parse("t.mem=4096"), 0);
	HEXPECT_EQ(mem, 4096);
	HEXPECT_EQ(parse("t.mem=1k"), 0);
	HEXPECT_EQ(mem, 1024);
	HEXPECT_EQ(parse("t.mem=512M"), 0);
	HEXPECT_EQ(mem, 512ull << 20);
	HEXPECT_EQ(parse("t.mem=6g"), 0);
	HEXPECT_EQ(mem, 6ull << 30);
	HEXPECT_EQ(parse("t.mem=2T"), 0);
	HEXPECT_EQ(mem, 2ull << 40);
	HEXPECT_EQ(parse("t.mem=0x10M"), 0);
	HEXPECT_EQ(mem, 16ull << 20);
	HEXPECT_EQ(parse("t.mem=0"), 0);
	HEXPECT_EQ(mem, 0);
}

HTEST(size_limits)
{
	HEXPECT_EQ(parse("t.mem=16777215T"), 0);		/* 2^24 - 1 TiB fits */
	HEXPECT_EQ(mem, 16777215ull << 40);
	HEXPECT_EQ(parse("t.mem=16777216T"), 1);		/* 2^64 overflows */
	HEXPECT_EQ(parse("t.mem=17179869184G"), 1);
	HEXPECT_EQ(parse("t.mem=18446744073709551615"), 0);
	HEXPECT_EQ(mem, UINT64_MAX);
	HEXPECT_EQ(parse("t.mem=18446744073709551616"), 1);
	HEXPECT_EQ(mem, 512ull << 20);
}

HTEST(size_malformed_warns_with_default)
{
	static const char *const bad[] = { "t.mem=M", "t.mem=12MB", "t.mem=12P", "t.mem=1.5G",
					   "t.mem=-1M", "t.mem=0x", "t.mem=0xM", "t.mem=\"5 \"",
					   "t.mem=1K2", "t.mem=1KK" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		HEXPECT_EQ(parse(bad[i]), 1);
		HEXPECT_EQ(mem, 512ull << 20);
	}
	parse("t.mem=12MB");
	HEXPECT_STREQ(w.all, "t.mem=12MB: not a size (a number with an optional K, M, G or T suffix, "
		      "at most 2^64-1); using default 512M\n");
}

HTEST(size_default_named_in_its_largest_exact_unit)
{
	static const struct { uint64_t value; const char *text; } cases[] = {
		{ 0, "0" }, { 1000, "1000" }, { 1536, "1536" }, { 3ull << 30, "3G" },
		{ (1ull << 40) + (1ull << 20), "1048577M" }, { 1ull << 50, "1024T" },
	};
	const struct cmdline_opt o = { "t.m", CMDLINE_SIZE, &mem, NULL, "" };
	const struct cmdline_opt *const one[] = { &o };
	char text[16], want[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mem = cases[i].value;
		memset(&w, 0, sizeof(w));
		strcpy(text, "t.m=bad");
		cmdline_parse(text, one, 1, collect, &w);
		snprintf(want, sizeof(want), "using default %s\n", cases[i].text);
		HEXPECT_TRUE(strstr(w.all, want) != NULL);
	}
}

HTEST(quoted_values_keep_blanks)
{
	HEXPECT_EQ(parse("t.name=\"a b  c\" t.mode=slow"), 0);
	HEXPECT_STREQ(name, "a b  c");
	HEXPECT_STREQ(mode, "slow");
}

HTEST(unterminated_quote_runs_to_end)
{
	HEXPECT_EQ(parse("t.name=\"open quote t.mode=slow"), 0);
	HEXPECT_STREQ(name, "open quote t.mode=slow");
	HEXPECT_STREQ(mode, "fast");
}

HTEST(malformed_values_warn_with_default)
{
	HEXPECT_EQ(parse("t.mode=medium t.size=12abc t.name="), 3);
	HEXPECT_STREQ(mode, "fast");
	HEXPECT_EQ(size, 64);
	HEXPECT_STREQ(name, "default");
	HEXPECT_TRUE(strstr(w.all, "t.mode=medium: not one of the choices (fast|slow|off); using default \"fast\"") != NULL);
	HEXPECT_TRUE(strstr(w.all, "t.size=12abc: not a number") != NULL);
	HEXPECT_TRUE(strstr(w.all, "using default 64") != NULL);
	HEXPECT_TRUE(strstr(w.all, "t.name=: empty value; using default \"default\"") != NULL);
}

HTEST(missing_value_warns)
{
	HEXPECT_EQ(parse("t.size"), 1);
	HEXPECT_TRUE(strstr(w.all, "t.size: missing '=value'; using default 64") != NULL);
}

HTEST(unknown_options_warn_and_parsing_continues)
{
	HEXPECT_EQ(parse("quiet foo=bar t.mode=slow =x"), 3);
	HEXPECT_STREQ(mode, "slow");
	HEXPECT_TRUE(strstr(w.all, "unknown option 'quiet'") != NULL);
	HEXPECT_TRUE(strstr(w.all, "unknown option 'foo'") != NULL);
	HEXPECT_TRUE(strstr(w.all, "unknown option ''") != NULL);
}

HTEST(later_value_overrides_earlier)
{
	HEXPECT_EQ(parse("t.size=1 t.size=2"), 0);
	HEXPECT_EQ(size, 2);
}

HTEST(value_may_contain_equals)
{
	HEXPECT_EQ(parse("t.name=a=b"), 0);
	HEXPECT_STREQ(name, "a=b");
}

HTEST(choice_prefix_is_not_a_match)
{
	HEXPECT_EQ(parse("t.mode=fa"), 1);
	HEXPECT_EQ(parse("t.mode=slower"), 1);
	HEXPECT_STREQ(mode, "fast");
}

HTEST(long_garbage_does_not_overrun)
{
	char big[4096];
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = "ab=\" \t"[i % 6];
	big[sizeof(big) - 1] = '\0';
	parse(big);
	HEXPECT_TRUE(w.count > 0);
}

/* A malformed repeat keeps the value the earlier one set, and says so
 * rather than calling it the default. */
HTEST(malformed_repeat_keeps_the_earlier_value)
{
	HEXPECT_EQ(parse("t.mem=1G t.mem=12Q"), 1);
	HEXPECT_EQ(mem, 1ull << 30);
	HEXPECT_TRUE(strstr(w.all, "t.mem=12Q: ") != NULL);
	HEXPECT_TRUE(strstr(w.all, "; keeping 1G, set earlier on the line") != NULL);
	HEXPECT_EQ(parse("t.mode=slow t.mode=maybe"), 1);
	HEXPECT_STREQ(mode, "slow");
	HEXPECT_TRUE(strstr(w.all, "; keeping \"slow\", set earlier on the line") != NULL);
	HEXPECT_EQ(parse("t.mem=12Q t.mem=2G"), 1);	/* the other way round: the default */
	HEXPECT_EQ(mem, 2ull << 30);
	HEXPECT_TRUE(strstr(w.all, "t.mem=12Q: ") != NULL && strstr(w.all, "; using default 512M") != NULL);
}

/* A line cut by a buffer ends before the token the cut went through. */
HTEST(last_token_is_found_for_a_cut)
{
	HEXPECT_EQ(cmdline_last_token("a=1 b=2 mem=5"), 8);
	HEXPECT_EQ(cmdline_last_token("a=1 b=2 "), 8);	/* ends on a blank: nothing to drop */
	HEXPECT_EQ(cmdline_last_token("mem=5"), 0);
	HEXPECT_EQ(cmdline_last_token(""), 0);
	HEXPECT_EQ(cmdline_last_token("a=1\tb"), 4);
}

int main(void)
{
	int rc = htest_main("cmdline");
	free(line);
	return rc;
}
