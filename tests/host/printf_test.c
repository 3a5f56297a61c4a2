/*
 * tests/host/printf_test.c - kernel/printf.c checked against the host libc.
 *
 * glibc's snprintf is the oracle. The sweep tests build every combination of
 * flags, width and precision for each conversion and length modifier, run
 * each over edge values through both printfs and compare text and return
 * value. The rest pin down what glibc cannot judge or where we differ on
 * purpose: truncation by ksnprintf, the kvformat callback, unknown
 * conversions echoed verbatim.
 *
 * Formats reach both printfs through va_list helpers with no format
 * attribute, so -Wformat does not object to deliberately odd formats
 * ("%+p", "%#d") or to non-literal ones.
 */
#include "kernel/printf.h"
#include "tests/host/htest.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Stop a sweep after this many mismatches: one broken rule fails thousands. */
#define MAX_REPORTS 8

/*
 * Formats with both printfs and compares text and return value. On a
 * mismatch the compared strings carry the format and ctx (the arguments,
 * as text) so the diagnostic names the failing case.
 */
static bool agree(const char *ctx, const char *fmt, ...)
{
	char want[512], got[512];
	va_list a, b;

	va_start(a, fmt);
	va_copy(b, a);
	int wn = vsnprintf(want, sizeof want, fmt, a);
	int gn = kvsnprintf(got, sizeof got, fmt, b);
	va_end(b);
	va_end(a);
	if (wn == gn && strcmp(want, got) == 0)
		return true;

	char want_desc[700], got_desc[700];
	snprintf(want_desc, sizeof want_desc, "%s (%s) -> [%s] %d", fmt, ctx, want, wn);
	snprintf(got_desc, sizeof got_desc, "%s (%s) -> [%s] %d", fmt, ctx, got, gn);
	HEXPECT_STREQ(got_desc, want_desc);
	return false;
}

#define SAME(...) agree(#__VA_ARGS__, __VA_ARGS__)

/* ksnprintf without the format attribute, for formats gcc would reject. */
static int kfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* The host's snprintf, likewise unchecked: gcc objects to deliberate truncation. */
static int libc_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * Spec prefixes for the sweeps: every subset of the five flags, times a few
 * widths, times a few precisions (including a bare '.'), 768 in all.
 */
static const char *const widths[] = { "", "1", "6", "23" };
static const char *const precs[] = { "", ".", ".0", ".1", ".5", ".23" };
#define NFLAGSETS 32
#define NSPECS (int)(NFLAGSETS * ARRAY_LEN(widths) * ARRAY_LEN(precs))

static void make_fmt(char *out, size_t size, int spec, const char *len, char conv)
{
	static const char flags[] = "-0+ #";
	char f[6];
	int nf = 0;
	int set = spec % NFLAGSETS;

	for (int i = 0; i < 5; i++)
		if (set & (1 << i))
			f[nf++] = flags[i];
	f[nf] = '\0';
	snprintf(out, size, "%%%s%s%s%s%c", f, widths[spec / NFLAGSETS % ARRAY_LEN(widths)],
		 precs[spec / NFLAGSETS / ARRAY_LEN(widths)], len, conv);
}

static const uint64_t int_values[] = {
	0, 1, UINT64_MAX /* -1 */, 7, (uint64_t)-8, 42, 127, (uint64_t)-128, 255,
	32767, (uint64_t)-32768, 65535, INT32_MAX, (uint64_t)INT32_MIN, UINT32_MAX,
	0x123456789abcdefULL, INT64_MAX, (uint64_t)INT64_MIN,
};

/* Passes v as the type the length modifier names, as a caller would. */
static bool agree_int(const char *fmt, const char *len, bool is_signed, uint64_t v)
{
	char ctx[32];

	snprintf(ctx, sizeof ctx, "%#llx", (unsigned long long)v);
	if (!strcmp(len, "l"))
		return is_signed ? agree(ctx, fmt, (long)v) : agree(ctx, fmt, (unsigned long)v);
	if (!strcmp(len, "ll"))
		return is_signed ? agree(ctx, fmt, (long long)v)
				 : agree(ctx, fmt, (unsigned long long)v);
	if (!strcmp(len, "z") || !strcmp(len, "t"))
		return is_signed ? agree(ctx, fmt, (ptrdiff_t)v) : agree(ctx, fmt, (size_t)v);
	if (!strcmp(len, "j"))
		return is_signed ? agree(ctx, fmt, (intmax_t)v) : agree(ctx, fmt, (uintmax_t)v);
	/* "", "h" and "hh" all travel as int after default promotion. */
	return is_signed || *len ? agree(ctx, fmt, (int)v) : agree(ctx, fmt, (unsigned)v);
}

/* Every spec prefix x every length modifier x every value, for one conversion. */
static void sweep_int(char conv, bool is_signed)
{
	static const char *const lens[] = { "hh", "h", "", "l", "ll", "z", "t", "j" };
	int reports = 0;
	char fmt[32];

	for (int spec = 0; spec < NSPECS; spec++) {
		for (size_t l = 0; l < ARRAY_LEN(lens); l++) {
			make_fmt(fmt, sizeof fmt, spec, lens[l], conv);
			for (size_t v = 0; v < ARRAY_LEN(int_values); v++)
				if (!agree_int(fmt, lens[l], is_signed, int_values[v]) &&
				    ++reports == MAX_REPORTS)
					return;
		}
	}
}

HTEST(sweep_d) { sweep_int('d', true); }
HTEST(sweep_i) { sweep_int('i', true); }
HTEST(sweep_u) { sweep_int('u', false); }
HTEST(sweep_o) { sweep_int('o', false); }
HTEST(sweep_x) { sweep_int('x', false); }
HTEST(sweep_X) { sweep_int('X', false); }

HTEST(sweep_p)
{
	static const uintptr_t ptrs[] = { 0, 1, 0xdeadbeef, 0xffffffff80000000, UINTPTR_MAX };
	int reports = 0;
	char fmt[32];

	for (int spec = 0; spec < NSPECS; spec++) {
		make_fmt(fmt, sizeof fmt, spec, "", 'p');
		for (size_t i = 0; i < ARRAY_LEN(ptrs); i++) {
			char ctx[32];
			snprintf(ctx, sizeof ctx, "%#llx", (unsigned long long)ptrs[i]);
			if (!agree(ctx, fmt, (void *)ptrs[i]) && ++reports == MAX_REPORTS)
				return;
		}
	}
}

HTEST(sweep_s)
{
	static const char *const strs[] = { "", "a", "hello", "exactly23characterslong", NULL };
	int reports = 0;
	char fmt[32];

	for (int spec = 0; spec < NSPECS; spec++) {
		make_fmt(fmt, sizeof fmt, spec, "", 's');
		for (size_t i = 0; i < ARRAY_LEN(strs); i++)
			if (!agree(strs[i] ? strs[i] : "NULL", fmt, strs[i]) &&
			    ++reports == MAX_REPORTS)
				return;
	}
}

HTEST(sweep_c)
{
	static const int chars[] = { 'A', ' ', '%', '~', 0x7f, 0x80, 0xff };
	int reports = 0;
	char fmt[32];

	for (int spec = 0; spec < NSPECS; spec++) {
		make_fmt(fmt, sizeof fmt, spec, "", 'c');
		for (size_t i = 0; i < ARRAY_LEN(chars); i++) {
			char ctx[8];
			snprintf(ctx, sizeof ctx, "%#x", chars[i]);
			if (!agree(ctx, fmt, chars[i]) && ++reports == MAX_REPORTS)
				return;
		}
	}
}

/* The classic traps, spelled out so a failure reads without a libc at hand. */
HTEST(integer_corner_cases)
{
	char buf[64];

	kfmt(buf, sizeof buf, "%#x|%#o|%#X", 0, 0, 0);
	HEXPECT_STREQ(buf, "0|0|0");
	kfmt(buf, sizeof buf, "[%.0d][%.0u][%#.0x][%#.0o]", 0, 0, 0, 0);
	HEXPECT_STREQ(buf, "[][][][0]");
	kfmt(buf, sizeof buf, "%#.5o|%#o|%#x", 8, 8, 255);
	HEXPECT_STREQ(buf, "00010|010|0xff");
	kfmt(buf, sizeof buf, "%08.3d|%-08d|%+ d|% d", 5, 5, 5, 5);
	HEXPECT_STREQ(buf, "     005|5       |+5| 5");
	kfmt(buf, sizeof buf, "%+u|% x|%+.0d|%5.0d|", 5, 5, 0, 0);
	HEXPECT_STREQ(buf, "5|5|+|     |");
	kfmt(buf, sizeof buf, "%hhd|%hhu|%hd|%hu", 300, -1, 70000, -1);
	HEXPECT_STREQ(buf, "44|255|4464|65535");
}

HTEST(extreme_values)
{
	char buf[64];

	kfmt(buf, sizeof buf, "%lld", (long long)INT64_MIN);
	HEXPECT_STREQ(buf, "-9223372036854775808");
	kfmt(buf, sizeof buf, "%llu", (unsigned long long)UINT64_MAX);
	HEXPECT_STREQ(buf, "18446744073709551615");
	kfmt(buf, sizeof buf, "%#llo", (unsigned long long)UINT64_MAX);
	HEXPECT_STREQ(buf, "01777777777777777777777");
	kfmt(buf, sizeof buf, "%#llX", (unsigned long long)UINT64_MAX);
	HEXPECT_STREQ(buf, "0XFFFFFFFFFFFFFFFF");
	kfmt(buf, sizeof buf, "%d|%d", INT32_MIN, -1);
	HEXPECT_STREQ(buf, "-2147483648|-1");
	HEXPECT_TRUE(SAME("%jd %zu %td %ji", INTMAX_MIN, SIZE_MAX, PTRDIFF_MIN, INTMAX_MAX));
}

HTEST(star_width)
{
	static const int stars[] = { -30, -5, -1, 0, 1, 5, 30 };

	for (size_t i = 0; i < ARRAY_LEN(stars); i++) {
		int w = stars[i];
		HEXPECT_TRUE(SAME("[%*d]", w, -42));
		HEXPECT_TRUE(SAME("[%0*x]", w, 0xabc));
		HEXPECT_TRUE(SAME("[%-*u]", w, 7u));
		HEXPECT_TRUE(SAME("[%*s]", w, "str"));
		HEXPECT_TRUE(SAME("[%*c]", w, 'c'));
		HEXPECT_TRUE(SAME("[%*p]", w, (void *)0x1234));
	}
}

HTEST(star_precision)
{
	static const int stars[] = { -30, -1, 0, 1, 2, 6, 30 };

	for (size_t i = 0; i < ARRAY_LEN(stars); i++) {
		int p = stars[i];
		HEXPECT_TRUE(SAME("[%.*d]", p, 0));
		HEXPECT_TRUE(SAME("[%08.*d]", p, -42));
		HEXPECT_TRUE(SAME("[%#.*o]", p, 0));
		HEXPECT_TRUE(SAME("[%#.*x]", p, 0x1f));
		HEXPECT_TRUE(SAME("[%.*s]", p, "abcdef"));
		HEXPECT_TRUE(SAME("[%.*s]", p, (char *)NULL));
		HEXPECT_TRUE(SAME("[%.*p]", p, (void *)NULL));
	}
}

HTEST(star_width_and_precision)
{
	HEXPECT_TRUE(SAME("[%*.*d]", 10, 4, -7));
	HEXPECT_TRUE(SAME("[%-*.*x]", 10, 4, 0xab));
	HEXPECT_TRUE(SAME("[%*.*s]", -10, 2, "xyz"));
	HEXPECT_TRUE(SAME("[%0*.*lld]", 12, -1, (long long)INT64_MIN));
	HEXPECT_TRUE(SAME("[%*d|%*d]", 3, 1, -3, 2));
}

HTEST(null_pointer_and_string)
{
	char buf[64];

	kfmt(buf, sizeof buf, "%p|%-8p|%.2p|%+p", (void *)0, (void *)0, (void *)0, (void *)0);
	HEXPECT_STREQ(buf, "(nil)|(nil)   |(nil)|(nil)");
	kfmt(buf, sizeof buf, "%s|%8s|[%.5s]|%.6s", (char *)0, (char *)0, (char *)0, (char *)0);
	HEXPECT_STREQ(buf, "(null)|  (null)|[]|(null)");
	kfmt(buf, sizeof buf, "%p|%+p|%010p", (void *)0x12, (void *)0x12, (void *)0x12);
	HEXPECT_STREQ(buf, "0x12|+0x12|0x00000012");
}

/* A precision bounds the read: ASan flags any byte past the allocation. */
HTEST(string_precision_reads_no_further)
{
	char *s = malloc(3);
	char buf[16];

	HASSERT_TRUE(s != NULL);
	memcpy(s, "abc", 3);
	HEXPECT_EQ(kfmt(buf, sizeof buf, "[%.3s]", s), 5);
	HEXPECT_STREQ(buf, "[abc]");
	HEXPECT_EQ(kfmt(buf, sizeof buf, "[%5.2s]", s), 7);
	HEXPECT_STREQ(buf, "[   ab]");
	free(s);
}

/*
 * Width on %% is ignored, as glibc does; checked without libc because ASan's
 * printf interceptor complains about "%5%" on stderr.
 */
HTEST(percent_and_literal_text)
{
	char buf[32];

	HEXPECT_TRUE(SAME(""));
	HEXPECT_TRUE(SAME("plain text, no conversions"));
	HEXPECT_TRUE(SAME("%%"));
	HEXPECT_TRUE(SAME("a%%b%dc%%", 1));
	HEXPECT_EQ(kfmt(buf, sizeof buf, "[%5%] [%-5%] [%05%]"), 11);
	HEXPECT_STREQ(buf, "[%] [%] [%]");
}

/* Deliberate divergence: glibc rewrites the spec, we echo the source text. */
HTEST(unknown_conversion_verbatim)
{
	char buf[64];

	HEXPECT_EQ(kfmt(buf, sizeof buf, "%k"), 2);
	HEXPECT_STREQ(buf, "%k");
	kfmt(buf, sizeof buf, "[%-+05y] [%5.2f] [%lq] %d", 9);
	HEXPECT_STREQ(buf, "[%-+05y] [%5.2f] [%lq] 9");
	kfmt(buf, sizeof buf, "[%.*k] %d", 3, 4);
	HEXPECT_STREQ(buf, "[%.*k] 4");
}

/* glibc returns -1 here; we print what we were given. */
HTEST(truncated_spec_at_end)
{
	char buf[16];

	HEXPECT_EQ(kfmt(buf, sizeof buf, "abc%"), 4);
	HEXPECT_STREQ(buf, "abc%");
	HEXPECT_EQ(kfmt(buf, sizeof buf, "x%-5ll"), 6);
	HEXPECT_STREQ(buf, "x%-5ll");
}

HTEST(many_conversions_in_one_format)
{
	HEXPECT_TRUE(SAME("%s=%d (%#x) at %p, %c%c %5.1s|%-6lu|%+hhd|%zu%%",
			  "irq", 14, 14, (void *)0xffffffff80100000, 'o', 'k',
			  "xyz", 123456789UL, (signed char)-5, (size_t)4096));
}

HTEST(ksnprintf_size_zero)
{
	char buf[4] = "xyz";

	HEXPECT_EQ(ksnprintf(buf, 0, "%d", 12345), 5);
	HEXPECT_STREQ(buf, "xyz");
	HEXPECT_EQ(ksnprintf(NULL, 0, "%s-%s", "ab", "cd"), 5);
}

HTEST(ksnprintf_size_one)
{
	char buf[4] = "xyz";

	HEXPECT_EQ(ksnprintf(buf, 1, "%d", 12345), 5);
	HEXPECT_EQ(buf[0], '\0');
	HEXPECT_EQ(buf[1], 'y');
}

HTEST(ksnprintf_exact_fit)
{
	char buf[8];

	memset(buf, '#', sizeof buf);
	HEXPECT_EQ(ksnprintf(buf, 6, "%s", "hello"), 5);
	HEXPECT_STREQ(buf, "hello");
	HEXPECT_EQ(buf[6], '#');

	memset(buf, '#', sizeof buf);
	HEXPECT_EQ(ksnprintf(buf, 5, "%s", "hello"), 5);
	HEXPECT_STREQ(buf, "hell");
	HEXPECT_EQ(buf[5], '#');
}

/* Every size from 0 to past the end, byte for byte against libc, guard bytes included. */
HTEST(ksnprintf_truncation_matches_libc)
{
	const char *fmt = "%-6s|%08.3x|%lld";

	for (size_t size = 0; size <= 32; size++) {
		char want[40], got[40];
		memset(want, '#', sizeof want);
		memset(got, '#', sizeof got);
		int wn = libc_fmt(want, size, fmt, "ab", 0x1f, (long long)INT64_MIN);
		int gn = ksnprintf(got, size, fmt, "ab", 0x1f, (long long)INT64_MIN);
		HEXPECT_EQ(gn, wn);
		HEXPECT_TRUE(memcmp(got, want, sizeof got) == 0);
	}
}

HTEST(return_value_counts_past_buffer)
{
	char buf[8];

	HEXPECT_EQ(ksnprintf(buf, sizeof buf, "%300d", 1), 300);
	HEXPECT_STREQ(buf, "       ");
	HEXPECT_EQ(ksnprintf(buf, sizeof buf, "%-*s|", 100, "x"), 101);
	HEXPECT_STREQ(buf, "x      ");
}

struct capture {
	char text[64];
	int calls;
};

static void capture_putc(char c, void *arg)
{
	struct capture *cap = arg;

	if (cap->calls < (int)sizeof cap->text - 1)
		cap->text[cap->calls] = c;
	cap->calls++;
}

static int capture_format(struct capture *cap, const char *fmt, ...)
{
	va_list ap;

	memset(cap, 0, sizeof *cap);
	va_start(ap, fmt);
	int n = kvformat(capture_putc, cap, fmt, ap);
	va_end(ap);
	return n;
}

HTEST(kvformat_callback_count)
{
	struct capture cap;

	HEXPECT_EQ(capture_format(&cap, "%s %5d|%-3c|", "id", -12, 'z'), 13);
	HEXPECT_EQ(cap.calls, 13);
	HEXPECT_STREQ(cap.text, "id   -12|z  |");
	HEXPECT_EQ(capture_format(&cap, ""), 0);
	HEXPECT_EQ(cap.calls, 0);
}

/* A NUL from %c is output like any other character, not an end marker. */
HTEST(kvformat_emits_nul_char)
{
	struct capture cap;

	HEXPECT_EQ(capture_format(&cap, "a%cb%3c", '\0', '\0'), 6);
	HEXPECT_EQ(cap.calls, 6);
	HEXPECT_TRUE(memcmp(cap.text, "a\0b  \0", 6) == 0);
}

/* Widths and precisions past int: a '*' width of INT_MIN pads nothing (it
 * stayed negative, then overflowed the padding sum and padded 2^31 blanks),
 * and a run of digits saturates at INT_MAX rather than wrap to a small
 * number (a precision of 2^32 + 1 printed one character of a string). */
HTEST(width_and_precision_past_int)
{
	char buf[32];
	HEXPECT_EQ(kfmt(buf, sizeof(buf), "%*d|", INT_MIN, 5), 2);
	HEXPECT_STREQ(buf, "5|");
	HEXPECT_EQ(kfmt(buf, sizeof(buf), "%.4294967297s|", "abc"), 4);
	HEXPECT_STREQ(buf, "abc|");
	HEXPECT_EQ(kfmt(buf, sizeof(buf), "%.99999999999999999999s|", "abc"), 4);
	HEXPECT_STREQ(buf, "abc|");
}

int main(void)
{
	return htest_main("printf");
}
