/* buf.c — see buf.h. */
#include "base/buf.h"
#include "base/util.h"
#include "base/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static char empty[1];

void buf_init(struct buf *b, size_t max)
{
	b->p = empty;
	b->len = b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (b->cap)
		free(b->p);
	buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->cap)
		b->p[0] = '\0';
}

static int grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (b->max && b->len + extra > b->max)
		return -1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->cap)
		b->p = xrealloc(b->p, cap);
	else {
		b->p = xmalloc(cap);
		b->p[0] = '\0';
	}
	b->cap = cap;
	return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
	return grow(b, n);
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	if (grow(b, n))
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof small)
		return buf_add(b, small, (size_t)n);
	if (grow(b, (size_t)n))
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int buf_add_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (buf_addc(b, '"'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		switch (c) {
		case '"': if (buf_add(b, "\\\"", 2)) return -1; break;
		case '\\': if (buf_add(b, "\\\\", 2)) return -1; break;
		case '\n': if (buf_add(b, "\\n", 2)) return -1; break;
		case '\r': if (buf_add(b, "\\r", 2)) return -1; break;
		case '\t': if (buf_add(b, "\\t", 2)) return -1; break;
		default:
			if (c >= 0x80) {
				/* copy a valid UTF-8 sequence whole; anything else (the
				 * path or a query echoed back) becomes U+FFFD, so the
				 * output is always valid JSON text */
				size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
				if (i + k <= n && utf8_valid(s + i, k)) {
					if (buf_add(b, s + i, k))
						return -1;
					i += k - 1;
				} else if (buf_add(b, "\\ufffd", 6))
					return -1;
			} else if (c < 0x20) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				if (buf_add(b, esc, 6))
					return -1;
			} else if (buf_addc(b, (char)c))
				return -1;
		}
	}
	return buf_addc(b, '"');
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->cap ? b->p : xstrdup("");
	if (len)
		*len = b->len;
	buf_init(b, b->max);
	return p;
}
