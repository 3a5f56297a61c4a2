/*
 * kernel/printf.c - freestanding formatted output for the kernel and host tests.
 *
 * A C99 printf subset whose output matches glibc's snprintf byte for byte,
 * so host tests can compare the two directly. Supported: conversions
 * d i u x X o c s p %, flags "-0+ #", width and precision (including '*'),
 * length modifiers hh h l ll z t j. No floating point: the kernel is built
 * with -mgeneral-regs-only. Depends only on compiler-provided headers.
 *
 * Data structures:
 *   struct sink  the caller's per-character callback plus a running count.
 *   struct spec  one parsed conversion: flags, width, precision, length.
 *
 * Main paths:
 *   1. kvformat copies literal text to the sink until it meets '%'.
 *   2. parse_spec reads flags, width, precision and length modifier,
 *      taking '*' values from the argument list.
 *   3. The conversion character picks the output path:
 *      - integers: fetch_int widens the argument to 64 bits as the length
 *        modifier says, emit_int lays out padding, sign or 0x prefix,
 *        precision zeros and digits;
 *      - c, s and a NULL p: emit_str pads a run of characters;
 *      - anything else is echoed verbatim from '%' to the bad character.
 *   4. kvsnprintf points the sink at a bounded buffer and NUL-terminates;
 *      ksnprintf is its varargs form.
 *
 * Where glibc differs from C99 we follow glibc: "(nil)" for a NULL %p,
 * "(null)" for a NULL %s unless the precision is too short to hold it,
 * '+' and ' ' honoured on %p, width ignored on %%.
 *
 * Callers: kprintf (console output), ksnprintf users across the kernel,
 * tests/host/printf_test.c. Reentrant: no locks, no state beyond the call.
 */
#include "kernel/printf.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sink {
	kputc_fn out;
	void *arg;
	int64_t count;		/* returned saturated at INT_MAX */
};

enum length { LEN_INT, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J };

struct spec {
	bool left, plus, space, alt, zero;
	int width;
	int prec;		/* -1 when no precision was given */
	enum length len;
};

static void put(struct sink *s, char c)
{
	s->out(c, s->arg);
	s->count++;
}

static void put_n(struct sink *s, char c, int n)
{
	while (n-- > 0)
		put(s, c);
}

static void put_str(struct sink *s, const char *str, int n)
{
	while (n-- > 0)
		put(s, *str++);
}

/* Called with fmt just past '%'; returns the conversion character's address. */
/* Digits at fmt as a width or precision, saturating at INT_MAX (a longer
 * run of digits wrapped the int). Return: past them. */
static const char *parse_count(const char *fmt, int *v)
{
	for (; *fmt >= '0' && *fmt <= '9'; fmt++) {
		int d = *fmt - '0';
		*v = *v > (INT_MAX - d) / 10 ? INT_MAX : *v * 10 + d;
	}
	return fmt;
}

static const char *parse_spec(const char *fmt, struct spec *sp, va_list *ap)
{
	*sp = (struct spec){ .prec = -1 };
	for (;; fmt++) {
		if (*fmt == '-')
			sp->left = true;
		else if (*fmt == '+')
			sp->plus = true;
		else if (*fmt == ' ')
			sp->space = true;
		else if (*fmt == '#')
			sp->alt = true;
		else if (*fmt == '0')
			sp->zero = true;
		else
			break;
	}

	if (*fmt == '*') {
		int w = va_arg(*ap, int);
		fmt++;
		/*
		 * A negative '*' width is the '-' flag plus a positive width;
		 * INT_MIN, which has no positive, pads nothing.
		 */
		if (w < 0) {
			sp->left = true;
			w = w == INT_MIN ? 0 : -w;
		}
		sp->width = w;
	} else {
		fmt = parse_count(fmt, &sp->width);
	}

	if (*fmt == '.') {
		fmt++;
		sp->prec = 0;
		if (*fmt == '*') {
			int p = va_arg(*ap, int);
			fmt++;
			/* A negative '*' precision means none was given. */
			sp->prec = p < 0 ? -1 : p;
		} else {
			fmt = parse_count(fmt, &sp->prec);
		}
	}

	switch (*fmt) {
	case 'h':
		sp->len = fmt[1] == 'h' ? LEN_HH : LEN_H;
		fmt += sp->len == LEN_HH ? 2 : 1;
		break;
	case 'l':
		sp->len = fmt[1] == 'l' ? LEN_LL : LEN_L;
		fmt += sp->len == LEN_LL ? 2 : 1;
		break;
	case 'z': sp->len = LEN_Z; fmt++; break;
	case 't': sp->len = LEN_T; fmt++; break;
	case 'j': sp->len = LEN_J; fmt++; break;
	}
	return fmt;
}

/*
 * Reads an integer argument of the type the length modifier names and
 * narrows it back to that type, so "%hhd" of 300 prints 44 as in C.
 * Signed values come back sign-extended in the uint64_t.
 */
static uint64_t fetch_int(enum length len, bool is_signed, va_list *ap)
{
	switch (len) {
	case LEN_HH: {
		int v = va_arg(*ap, int);
		return is_signed ? (uint64_t)(signed char)v : (unsigned char)v;
	}
	case LEN_H: {
		int v = va_arg(*ap, int);
		return is_signed ? (uint64_t)(short)v : (unsigned short)v;
	}
	case LEN_INT:
		return is_signed ? (uint64_t)va_arg(*ap, int) : va_arg(*ap, unsigned);
	case LEN_L:
		return is_signed ? (uint64_t)va_arg(*ap, long)
				 : va_arg(*ap, unsigned long);
	case LEN_LL:
		return is_signed ? (uint64_t)va_arg(*ap, long long)
				 : va_arg(*ap, unsigned long long);
	/* size_t's signed twin has ptrdiff_t's width; glibc reads it so. */
	case LEN_Z:
	case LEN_T:
		return is_signed ? (uint64_t)va_arg(*ap, ptrdiff_t)
				 : (uint64_t)va_arg(*ap, size_t);
	case LEN_J:
		return is_signed ? (uint64_t)va_arg(*ap, intmax_t)
				 : (uint64_t)va_arg(*ap, uintmax_t);
	}
	return 0;
}

/*
 * Prints v (a magnitude; negative says whether a '-' goes in front) for
 * conversion d, i, u, o, x, X or p. Layout:
 *     [spaces][sign or 0x][zeros][digits][spaces]
 * Zeros come from the precision, or from the '0' flag when no precision was
 * given. Digits come from shifts for bases 8 and 16 and a plain 64-bit
 * divide for 10, so no libgcc helper is ever needed.
 */
static void emit_int(struct sink *s, const struct spec *sp, uint64_t v,
		     bool negative, char conv)
{
	unsigned base = conv == 'o' ? 8 : conv == 'x' || conv == 'X' || conv == 'p' ? 16 : 10;
	bool has_sign = conv == 'd' || conv == 'i' || conv == 'p';
	const char *xdigits = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	bool is_zero = v == 0;
	char digits[24];	/* reversed; 2^64-1 in octal is 22 digits */
	int nd = 0;
	char prefix[3];	/* sign, then 0x: "%+p" has both */
	int np = 0;

	/* An explicit precision of zero prints nothing for the value 0. */
	if (!is_zero || sp->prec != 0) {
		do {
			if (base == 10) {
				digits[nd++] = xdigits[v % 10];
				v /= 10;
			} else {
				digits[nd++] = xdigits[v & (base - 1)];
				v >>= base == 16 ? 4 : 3;
			}
		} while (v != 0);
	}

	if (negative)
		prefix[np++] = '-';
	else if (has_sign && sp->plus)
		prefix[np++] = '+';
	else if (has_sign && sp->space)
		prefix[np++] = ' ';
	if (base == 16 && sp->alt && !is_zero) {
		prefix[np++] = '0';
		prefix[np++] = conv == 'X' ? 'X' : 'x';
	}

	int zeros = sp->prec > nd ? sp->prec - nd : 0;
	/* %#o guarantees a leading 0, added only if none is there already. */
	if (base == 8 && sp->alt && zeros == 0 && (nd == 0 || digits[nd - 1] != '0'))
		zeros = 1;
	if (sp->zero && !sp->left && sp->prec < 0 && sp->width > np + nd)
		zeros = sp->width - np - nd;
	int pad = sp->width - np - zeros - nd;

	if (!sp->left)
		put_n(s, ' ', pad);
	put_str(s, prefix, np);
	put_n(s, '0', zeros);
	while (nd > 0)
		put(s, digits[--nd]);
	if (sp->left)
		put_n(s, ' ', pad);
}

/* Strings and characters pad with spaces only: glibc ignores '0' here. */
static void emit_str(struct sink *s, const struct spec *sp, const char *str, int n)
{
	if (!sp->left)
		put_n(s, ' ', sp->width - n);
	put_str(s, str, n);
	if (sp->left)
		put_n(s, ' ', sp->width - n);
}

int kvformat(kputc_fn out, void *arg, const char *fmt, va_list ap)
{
	struct sink s = { .out = out, .arg = arg, .count = 0 };
	va_list aq;

	/*
	 * Helpers need a va_list *, and on x86-64 &ap of a va_list parameter
	 * is not one (the array type decays); a local copy's address is.
	 */
	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%') {
			put(&s, *fmt++);
			continue;
		}
		const char *start = fmt;
		struct spec sp;
		fmt = parse_spec(fmt + 1, &sp, &aq);

		switch (*fmt) {
		case 'd':
		case 'i': {
			uint64_t v = fetch_int(sp.len, true, &aq);
			bool neg = (int64_t)v < 0;
			emit_int(&s, &sp, neg ? 0 - v : v, neg, *fmt);
			break;
		}
		case 'u':
		case 'o':
		case 'x':
		case 'X':
			emit_int(&s, &sp, fetch_int(sp.len, false, &aq), false, *fmt);
			break;
		case 'p': {
			void *p = va_arg(aq, void *);
			if (p) {
				/* glibc prints a pointer as %#lx but keeps '+' and ' '. */
				sp.alt = true;
				emit_int(&s, &sp, (uintptr_t)p, false, 'p');
			} else {
				emit_str(&s, &sp, "(nil)", 5);
			}
			break;
		}
		case 'c': {
			char c = (char)va_arg(aq, int);
			emit_str(&s, &sp, &c, 1);
			break;
		}
		case 's': {
			const char *str = va_arg(aq, const char *);
			int n = 0;
			/* Too short a precision for "(null)" prints nothing, as glibc does. */
			if (!str)
				str = sp.prec < 0 || sp.prec >= 6 ? "(null)" : "";
			/* Bounded scan: with a precision the string need not be terminated. */
			while ((sp.prec < 0 || n < sp.prec) && str[n])
				n++;
			emit_str(&s, &sp, str, n);
			break;
		}
		case '%':
			put(&s, '%');
			break;
		default:
			/* Unknown or truncated conversion: show exactly what was written. */
			if (*fmt)
				fmt++;
			put_str(&s, start, (int)(fmt - start));
			continue;
		}
		fmt++;
	}
	va_end(aq);
	return s.count > INT_MAX ? INT_MAX : (int)s.count;
}

struct bounded_buf {
	char *buf;
	size_t size;
	size_t pos;	/* characters produced so far, written or not */
};

static void bounded_putc(char c, void *arg)
{
	struct bounded_buf *b = arg;

	/* Keep the last byte free for the NUL. */
	if (b->pos + 1 < b->size)
		b->buf[b->pos] = c;
	b->pos++;
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct bounded_buf b = { .buf = buf, .size = size, .pos = 0 };
	int n = kvformat(bounded_putc, &b, fmt, ap);

	if (size > 0)
		buf[b.pos < size ? b.pos : size - 1] = '\0';
	return n;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
