/*
 * log.c: see log.h.  Formatting here is self-contained on purpose: stdio
 * may allocate and may hold locks a forked child or a signal handler cannot
 * take.
 */
#include "log.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <hmalloc.h>

struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void
out_char(struct out *o, char c) {
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void
out_str(struct out *o, const char *s, size_t n, int width, bool left) {
	int pad = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (pad-- > 0)
			out_char(o, ' ');
	for (size_t i = 0; i < n; i++)
		out_char(o, s[i]);
	if (left)
		while (pad-- > 0)
			out_char(o, ' ');
}

static void
out_num(struct out *o, unsigned long long v, bool neg, unsigned base,
    int width, bool zero, bool left, const char *prefix) {
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	int plen = (int)strlen(prefix) + (neg ? 1 : 0);
	int pad = width > n + plen ? width - n - plen : 0;
	if (!left && !zero)
		while (pad-- > 0)
			out_char(o, ' ');
	if (neg)
		out_char(o, '-');
	for (const char *p = prefix; *p; p++)
		out_char(o, *p);
	if (!left && zero)
		while (pad-- > 0)
			out_char(o, '0');
	while (n > 0)
		out_char(o, tmp[--n]);
	if (left)
		while (pad-- > 0)
			out_char(o, ' ');
}

size_t
hm_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
	struct out o = {buf, size, 0};
	for (const char *f = fmt; *f != '\0'; f++) {
		if (*f != '%') {
			out_char(&o, *f);
			continue;
		}
		f++;
		bool left = false, zero = false;
		for (;; f++) {
			if (*f == '-')
				left = true;
			else if (*f == '0')
				zero = true;
			else
				break;
		}
		int width = 0, prec = -1;
		if (*f == '*') {
			width = va_arg(ap, int);
			f++;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		if (*f == '.') {
			f++;
			prec = 0;
			if (*f == '*') {
				prec = va_arg(ap, int);
				f++;
			}
			while (*f >= '0' && *f <= '9')
				prec = prec * 10 + (*f++ - '0');
		}
		int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
		if (*f == 'l') {
			lng = 1;
			if (*++f == 'l') {
				lng = 2;
				f++;
			}
		} else if (*f == 'z') {
			lng = 3;
			f++;
		}
		switch (*f) {
		case 'd':
		case 'i': {
			long long v = lng == 0 ? va_arg(ap, int)
			    : lng == 1	       ? va_arg(ap, long)
			    : lng == 2	       ? va_arg(ap, long long)
					       : (long long)va_arg(ap, ptrdiff_t);
			bool neg = v < 0;
			unsigned long long u = neg ? 0ULL - (unsigned long long)v
						   : (unsigned long long)v;
			out_num(&o, u, neg, 10, width, zero, left, "");
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = lng == 0 ? va_arg(ap, unsigned)
			    : lng == 1 ? va_arg(ap, unsigned long)
			    : lng == 2 ? va_arg(ap, unsigned long long)
				       : va_arg(ap, size_t);
			out_num(&o, v, false, *f == 'x' ? 16 : 10, width, zero,
			    left, "");
			break;
		}
		case 'p':
			out_num(&o, (uintptr_t)va_arg(ap, void *), false, 16,
			    width, zero, left, "0x");
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			size_t n = strlen(s);
			if (prec >= 0 && (size_t)prec < n)
				n = (size_t)prec;
			out_str(&o, s, n, width, left);
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			out_str(&o, &c, 1, width, left);
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			f--;
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *f);
			break;
		}
	}
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len;
}

size_t
hm_snprintf(char *buf, size_t size, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	size_t n = hm_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* The program's output hook; NULL means stderr. */
HM_EXPORT void (*HM_PUBLIC(malloc_message))(void *, const char *);

void
hm_write(const char *s) {
	void (*hook)(void *, const char *) = HM_PUBLIC(malloc_message);
	if (hook != NULL) {
		hook(NULL, s);
		return;
	}
	size_t len = strlen(s);
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, s, len);
		if (n <= 0)
			break;
		s += n;
		len -= (size_t)n;
	}
}

void
hm_printf(const char *fmt, ...) {
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	hm_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	hm_write(buf);
}
