/*
 * kernel/cmdline.c - parse "key=value key2="quoted value" ..." into options.
 *
 * cmdline_parse(line):
 *  1. Split on blanks; a double-quoted value may contain blanks.
 *  2. Find the key among the options; unknown keys warn and are ignored.
 *  3. Convert the value by the option's type; a malformed value warns,
 *     naming the option and the default, and leaves the variable untouched.
 *  4. A later occurrence of a key overrides an earlier one.
 * The parser is pure (no console, no globals), so tests/host runs it on
 * crafted lines. cmdline_init() is the kernel's glue: options come from the
 * "cmdline_opts" section, warnings go to the console.
 */
#include "kernel/cmdline.h"
#include "kernel/printf.h"
#include "kernel/string.h"

#include <stdbool.h>

#define WARN_MAX	192

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Next token from *p: returns its start (quotes stripped) or NULL at the end. */
static char *next_token(char **p)
{
	char *s = *p;
	while (is_blank(*s))
		s++;
	if (!*s)
		return NULL;

	char *start = s, *out = s;
	bool quoted = false;
	for (; *s && (quoted || !is_blank(*s)); s++) {
		if (*s == '"')
			quoted = !quoted;
		else
			*out++ = *s;
	}
	if (*s)
		s++;
	*out = '\0';	/* out never passes the blank that ended the token */
	*p = s;
	return start;
}

/* Return: the end of the number at s (decimal or 0x hex), or NULL when there
 * are no digits or the value passes 2^64-1. */
static const char *parse_number(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	const char *digits;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (digits = s; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return NULL;	/* overflow */
		v = v * base + d;
	}
	if (s == digits)
		return NULL;
	*out = v;
	return s;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;
	const char *end = parse_number(s, &v);

	if (!end || *end)
		return false;
	*out = v;
	return true;
}

static char to_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Binary units, as Linux's memparse: "512M" is 512 << 20. */
static bool parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	uint64_t v;
	unsigned shift = 0;
	const char *end = parse_number(s, &v);

	if (!end)
		return false;
	if (*end) {
		const char *unit = strchr(units, to_lower(*end));
		if (!unit || end[1])
			return false;
		shift = 10 * (unsigned)(unit - units + 1);
		if (v > UINT64_MAX >> shift)
			return false;	/* overflow */
	}
	*out = v << shift;
	return true;
}

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *c = choices; *c; ) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);
		if (len == n && strncmp(c, v, n) == 0)
			return true;
		if (!bar)
			break;
		c = bar + 1;
	}
	return false;
}

static bool parse_bool(const char *s, bool *out)
{
	char lower[8];
	size_t n = strlen(s);

	if (n >= sizeof(lower))
		return false;
	for (size_t i = 0; i <= n; i++)
		lower[i] = to_lower(s[i]);
	if (choice_ok("1|y|yes|on|true", lower))
		*out = true;
	else if (choice_ok("0|n|no|off|false", lower))
		*out = false;
	else
		return false;
	return true;
}

static void describe_default(const struct cmdline_opt *o, char *buf, size_t n)
{
	switch (o->type) {
	case CMDLINE_U64:
		ksnprintf(buf, n, "%llu", (unsigned long long)*(uint64_t *)o->value);
		break;
	case CMDLINE_BOOL:
		ksnprintf(buf, n, "%d", *(bool *)o->value);
		break;
	case CMDLINE_SIZE: {
		/* In the largest unit that states it exactly, as a user would write it. */
		static const char *const units[] = { "", "K", "M", "G", "T" };
		uint64_t v = *(uint64_t *)o->value;
		unsigned u = 0;
		for (; u < 4 && v && !(v & 1023); u++)
			v >>= 10;
		ksnprintf(buf, n, "%llu%s", (unsigned long long)v, units[u]);
		break;
	}
	default:
		ksnprintf(buf, n, "\"%s\"", *(const char **)o->value);
		break;
	}
}

/* Return: NULL when stored, else why the value was refused. */
static const char *apply(const struct cmdline_opt *o, const char *v)
{
	if (!*v)
		return "empty value";
	switch (o->type) {
	case CMDLINE_STR:
		*(const char **)o->value = v;
		return NULL;
	case CMDLINE_CHOICE:
		if (!choice_ok(o->choices, v))
			return "not one of the choices";
		*(const char **)o->value = v;
		return NULL;
	case CMDLINE_U64:
		if (!parse_u64(v, (uint64_t *)o->value))
			return "not a number (decimal or 0x hex, at most 2^64-1)";
		return NULL;
	case CMDLINE_BOOL:
		if (!parse_bool(v, (bool *)o->value))
			return "not a boolean (1/0, y/n, yes/no, on/off, true/false)";
		return NULL;
	case CMDLINE_SIZE:
		if (!parse_size(v, (uint64_t *)o->value))
			return "not a size (a number with an optional K, M, G or T suffix, at most 2^64-1)";
		return NULL;
	}
	return "option has an unknown type";
}

size_t cmdline_last_token(const char *line)
{
	size_t i = strlen(line);
	while (i > 0 && !is_blank(line[i - 1]))
		i--;
	return i;
}

int cmdline_parse(char *line, const struct cmdline_opt *const *opts, size_t n,
		  cmdline_warn_fn warn, void *ctx)
{
	char msg[WARN_MAX], def[64];
	int warnings = 0;
	char *tok;
	/* Options (by index, the first 64) an earlier token of this line set:
	 * a malformed repeat keeps that value, and must not call it the
	 * default. */
	uint64_t set_here = 0;

	while ((tok = next_token(&line)) != NULL) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		const char *value = eq ? eq + 1 : NULL;

		const struct cmdline_opt *o = NULL;
		size_t idx = 0;
		for (size_t i = 0; i < n && !o; i++)
			if (strcmp(opts[i]->name, tok) == 0)
				o = opts[idx = i];
		if (!o) {
			ksnprintf(msg, sizeof(msg), "unknown option '%s' ignored", tok);
			warn(ctx, msg);
			warnings++;
			continue;
		}

		const char *why = value ? apply(o, value) : "missing '=value'";
		uint64_t bit = idx < 64 ? 1ull << idx : 0;
		if (!why) {
			set_here |= bit;
			continue;
		}
		describe_default(o, def, sizeof(def));
		bool kept = set_here & bit;
		char tail[WARN_MAX];
		ksnprintf(tail, sizeof(tail), "%s %s%s", kept ? "keeping" : "using default", def,
			  kept ? ", set earlier on the line" : "");
		if (o->type == CMDLINE_CHOICE && value && *value)
			ksnprintf(msg, sizeof(msg), "%s=%s: %s (%s); %s", o->name, value, why, o->choices, tail);
		else
			ksnprintf(msg, sizeof(msg), "%s%s%s: %s; %s", o->name, value ? "=" : "",
				  value ? value : "", why, tail);
		warn(ctx, msg);
		warnings++;
	}
	return warnings;
}

#ifndef HOST_TEST
#include "kernel/console.h"

#define CMDLINE_MAX	1024

extern const struct cmdline_opt *const __start_cmdline_opts[], *const __stop_cmdline_opts[];

static char line[CMDLINE_MAX];	/* cut into tokens; string options point here */

static void console_warn(void *ctx, const char *msg)
{
	(void)ctx;
	kprintf("cmdline: warning: %s\n", msg);
}

void cmdline_cut(char *line, size_t max, const char *what)
{
	size_t at = cmdline_last_token(line);
	if (line[at])
		kprintf("cmdline: warning: %s longer than %zu bytes; ignoring it from \"%.24s\" on\n",
			what, max, line + at);
	else
		kprintf("cmdline: warning: %s longer than %zu bytes; the rest is ignored\n", what, max);
	line[at] = '\0';
}

void cmdline_init(const char *loader_line, const char *extra_line)
{
	size_t n = (size_t)(__stop_cmdline_opts - __start_cmdline_opts);
	int len = ksnprintf(line, sizeof(line), "%s%s%s", loader_line,
			    *loader_line && *extra_line ? " " : "", extra_line);
	if (len >= (int)sizeof(line))
		cmdline_cut(line, CMDLINE_MAX - 1, "command line");
	cmdline_parse(line, __start_cmdline_opts, n, console_warn, NULL);
}
#endif
