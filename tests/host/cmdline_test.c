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
static uint64_t size;
static const struct cmdline_opt opt_mode = { "t.mode", CMDLINE_CHOICE, &mode, "fast|slow|off", "" };
static const struct cmdline_opt opt_name = { "t.name", CMDLINE_STR, &name, NULL, "" };
static const struct cmdline_opt opt_size = { "t.size", CMDLINE_U64, &size, NULL, "" };
static const struct cmdline_opt *const opts[] = { &opt_mode, &opt_name, &opt_size };

static struct warnings w;
static char *line;

/* Parse a heap copy of text sized exactly, so ASan sees any overrun. */
static int parse(const char *text)
{
	mode = "fast";
	name = "default";
	size = 64;
	memset(&w, 0, sizeof(w));
	free(line);
	line = strdup(text);
	return cmdline_parse(line, opts, 3, collect, &w);
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
	HEXPECT_EQ(parse("t.mode=off t.name=abc t.size=4096"), 0);
	HEXPECT_STREQ(mode, "off");
	HEXPECT_STREQ(name, "abc");
	HEXPECT_EQ(size, 4096);
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

int main(void)
{
	int rc = htest_main("cmdline");
	free(line);
	return rc;
}
