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

static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;	/* overflow */
		v = v * base + d;
	}
	*out = v;
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

static void describe_default(const struct cmdline_opt *o, char *buf, size_t n)
{
	if (o->type == CMDLINE_U64)
		ksnprintf(buf, n, "%llu", (unsigned long long)*(uint64_t *)o->value);
	else
		ksnprintf(buf, n, "\"%s\"", *(const char **)o->value);
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
	}
	return "option has an unknown type";
}

int cmdline_parse(char *line, const struct cmdline_opt *const *opts, size_t n,
		  cmdline_warn_fn warn, void *ctx)
{
	char msg[WARN_MAX], def[64];
	int warnings = 0;
	char *tok;

	while ((tok = next_token(&line)) != NULL) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		const char *value = eq ? eq + 1 : NULL;

		const struct cmdline_opt *o = NULL;
		for (size_t i = 0; i < n && !o; i++)
			if (strcmp(opts[i]->name, tok) == 0)
				o = opts[i];
		if (!o) {
			ksnprintf(msg, sizeof(msg), "unknown option '%s' ignored", tok);
			warn(ctx, msg);
			warnings++;
			continue;
		}

		const char *why = value ? apply(o, value) : "missing '=value'";
		if (why) {
			describe_default(o, def, sizeof(def));
			if (o->type == CMDLINE_CHOICE && value && *value)
				ksnprintf(msg, sizeof(msg), "%s=%s: %s (%s); using default %s",
					  o->name, value, why, o->choices, def);
			else
				ksnprintf(msg, sizeof(msg), "%s%s%s: %s; using default %s", o->name,
					  value ? "=" : "", value ? value : "", why, def);
			warn(ctx, msg);
			warnings++;
		}
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

void cmdline_init(const char *loader_line, const char *extra_line)
{
	size_t n = (size_t)(__stop_cmdline_opts - __start_cmdline_opts);
	int len = ksnprintf(line, sizeof(line), "%s%s%s", loader_line,
			    *loader_line && *extra_line ? " " : "", extra_line);
	if (len >= (int)sizeof(line))
		kprintf("cmdline: warning: command line longer than %d bytes; the rest is ignored\n",
			CMDLINE_MAX - 1);
	cmdline_parse(line, __start_cmdline_opts, n, console_warn, NULL);
}
#endif
