/*
 * kernel/cmdline.h - Linux-style "key=value" kernel command line.
 *
 * A subsystem declares an option next to the variable it sets:
 *
 *     static const char *ktest_filter = "*";
 *     CMDLINE_OPTION(ktest_filter, "ktest.filter", CMDLINE_STR, NULL, "tests to run");
 *
 * The variable's initial value is the default. A malformed value or an
 * unknown option produces a warning naming it and the default kept; boot
 * continues.
 */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

enum cmdline_type {
	CMDLINE_STR,		/* value: const char *; any non-empty string */
	CMDLINE_CHOICE,		/* value: const char *; one of choices ("a|b|c") */
	CMDLINE_U64,		/* value: uint64_t; decimal or 0x-prefixed hex */
	CMDLINE_BOOL,		/* value: bool; 1/0, y/n, yes/no, on/off, true/false */
	CMDLINE_SIZE,		/* value: uint64_t bytes; a CMDLINE_U64 number with an
				   optional K, M, G or T suffix (binary: 1K = 1024) */
};

struct cmdline_opt {
	const char *name;
	enum cmdline_type type;
	void *value;
	const char *choices;	/* CMDLINE_CHOICE only */
	const char *help;	/* one line, for the README's table and listings */
};

#define CMDLINE_OPTION(var, name_, type_, choices_, help_)			\
	static const struct cmdline_opt cmdline_opt_##var =			\
		{ name_, type_, &var, choices_, help_ };				\
	static const struct cmdline_opt *const cmdline_optp_##var		\
	__attribute__((used, section("cmdline_opts"))) = &cmdline_opt_##var

typedef void (*cmdline_warn_fn)(void *ctx, const char *msg);

/*
 * Parse line in place (tokens are NUL-terminated where they stand, and string
 * options point into line, so it must outlive them). Options are looked up in
 * opts[0..n). Return: the number of warnings issued through warn.
 */
int cmdline_parse(char *line, const struct cmdline_opt *const *opts, size_t n,
		  cmdline_warn_fn warn, void *ctx);

/* Where line's last token starts: the one a cut at line's end may have gone
 * through (a "mem=512M" cut to "mem=5" must not be applied). */
size_t cmdline_last_token(const char *line);

/* Kernel: join the loader's and QEMU's command lines, parse them against every
 * CMDLINE_OPTION in the image, and print warnings to the console. */
void cmdline_init(const char *loader_line, const char *extra_line);

/* Kernel: line was cut to max bytes (what: which line, for the warning):
 * warn, and end it before its last token. */
void cmdline_cut(char *line, size_t max, const char *what);

#endif
