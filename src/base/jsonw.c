/* jsonw.c — see jsonw.h. */
#include "base/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/banned.h"

/* Bytes that need no escaping in a JSON string: not ", \ or a control character. */
static bool plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

/* Does any of the 8 bytes at p need escaping? (Exact: the classic tests for a byte
 * below 0x20 and for a byte equal to '"' or '\\' in a 64-bit word.) */
static inline bool escapes8(const char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t x, q, b;
	memcpy(&x, p, 8);
	q = x ^ (ones * '"');
	b = x ^ (ones * '\\');
	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
}

/* buf_add, without the call when the bytes fit (a reply is thousands of small appends). */
static inline int put(struct buf *b, const void *p, size_t n)
{
	if (n < b->cap - b->len && (!b->max || b->len + n <= b->max)) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
		b->p[b->len] = '\0';
		return 0;
	}
	return buf_add(b, p, n);
}

static inline int putc_(struct buf *b, char c)
{
	return put(b, &c, 1);
}

static int string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0;

	if (putc_(b, '"'))
		return -1;
	while (i < n) {
		size_t run = i;
		while (run + 8 <= n && !escapes8(s + run)) /* eight bytes at a time */
			run += 8;
		while (run < n && plain((unsigned char)s[run]))
			run++;
		if (run > i && put(b, s + i, run - i))
			return -1;
		if (run == n)
			break;
		unsigned char c = (unsigned char)s[run];
		char esc[6] = {'\\', 0};
		size_t el = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		if (put(b, esc, el))
			return -1;
		i = run + 1;
	}
	return putc_(b, '"');
}

static int integer(struct buf *b, json_int_t v)
{
	char t[24];
	char *p = t + sizeof t;
	/* negate as unsigned: INT64_MIN has no positive counterpart */
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return put(b, p, (size_t)(t + sizeof t - p));
}

/*
 * "%.<precision>g" of v without printf, for the common case (precision <= 12,
 * no exponent): the digits are v * 10^k rounded to an integer. The product is
 * rounded once (below 2^40, so off by at most 2^-13), hence the rounding is
 * printf's unless the fraction is within 1e-3 of a half — then, or for
 * anything unusual, 0 and printf does it. Returns the length written to t.
 */
static int real_fast(char *t, double v, int precision)
{
	static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
				       1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16};
	double a = v < 0 ? -v : v;
	if (precision < 1 || precision > 12 || !(a >= 1e-4 && a < pow10[precision]))
		return 0; /* zero, NaN, infinities, exponents: printf's */
	int e = 0; /* the decimal exponent: 10^e <= a < 10^(e+1) */
	while (e < precision && a >= pow10[e + 1])
		e++;
	while (e > -5 && a < (e >= 0 ? pow10[e] : 1 / pow10[-e]))
		e--;
	int k = precision - 1 - e; /* digits after the point before trimming */
	if (e < -4 || k < 0 || k > 16)
		return 0;
	double scaled = a * pow10[k], m = floor(scaled), frac = scaled - m;
	if (frac > 0.499 && frac < 0.501)
		return 0; /* too near a tie to trust */
	uint64_t digits = (uint64_t)m + (frac > 0.5);
	if (digits < (uint64_t)pow10[precision - 1] || digits >= (uint64_t)pow10[precision])
		return 0; /* rounded up to another power of ten */
	char d[20];
	for (int i = precision - 1; i >= 0; i--, digits /= 10)
		d[i] = (char)('0' + digits % 10);
	int last = precision - 1; /* trailing zeros of the fraction go */
	while (last > (e >= 0 ? e : -1) && d[last] == '0')
		last--;
	int n = 0;
	if (v < 0)
		t[n++] = '-';
	if (e >= 0) {
		memcpy(t + n, d, (size_t)e + 1);
		n += e + 1;
		if (last > e) {
			t[n++] = '.';
			memcpy(t + n, d + e + 1, (size_t)(last - e));
			n += last - e;
		}
	} else {
		t[n++] = '0';
		t[n++] = '.';
		for (int z = 0; z < -e - 1; z++)
			t[n++] = '0';
		memcpy(t + n, d, (size_t)last + 1);
		n += last + 1;
	}
	t[n] = '\0';
	return n;
}

static int real(struct buf *b, double v, int precision)
{
	char t[40];
	int n = real_fast(t, v, precision);
	if (!n)
		n = snprintf(t, sizeof t, "%.*g", precision, v);
	if (n < 0 || (size_t)n >= sizeof t - 2)
		return -1;
	if (!strchr(t, '.') && !strchr(t, 'e')) { /* jansson's rules: a real stays a real */
		t[n++] = '.';
		t[n++] = '0';
		t[n] = '\0';
	}
	char *x = strchr(t, 'e');
	if (x) { /* "1e+07" -> "1e7", "1e-07" -> "1e-7" */
		char *from = x + 1, *to = x + 1;
		if (*from == '-')
			from++, to++;
		else if (*from == '+')
			from++;
		while (*from == '0' && from[1])
			from++;
		memmove(to, from, strlen(from) + 1);
		n = (int)strlen(t);
	}
	return put(b, t, (size_t)n);
}

int jsonw_value(struct buf *b, const json_t *j, int precision)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *v;
		bool first = true;
		if (putc_(b, '{'))
			return -1;
		json_object_foreach((json_t *)j, key, v) {
			if ((!first && putc_(b, ',')) || string(b, key, strlen(key)) ||
			    putc_(b, ':') || jsonw_value(b, v, precision))
				return -1;
			first = false;
		}
		return putc_(b, '}');
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *v;
		if (putc_(b, '['))
			return -1;
		json_array_foreach(j, i, v) {
			if ((i && putc_(b, ',')) || jsonw_value(b, v, precision))
				return -1;
		}
		return putc_(b, ']');
	}
	case JSON_STRING:
		return string(b, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		return integer(b, json_integer_value(j));
	case JSON_REAL:
		return real(b, json_real_value(j), precision);
	case JSON_TRUE:
		return put(b, "true", 4);
	case JSON_FALSE:
		return put(b, "false", 5);
	case JSON_NULL:
		return put(b, "null", 4);
	}
	return -1;
}

/* ---- the streaming writer ---- */

void jsonw_init(struct jsonw *w, struct buf *b, int precision)
{
	memset(w, 0, sizeof *w);
	w->b = b;
	w->precision = precision;
}

static void check(struct jsonw *w, int rc)
{
	if (rc)
		w->failed = true;
}

/* Before a value: the comma between array elements; after a key, nothing. */
static void before_value(struct jsonw *w)
{
	if (w->key) {
		w->key = false;
		return;
	}
	if (!w->depth)
		return;
	uint32_t bit = 1u << (w->depth - 1);
	if (!(w->arrays & bit)) { /* a value in an object without its key */
		w->failed = true;
		return;
	}
	if (w->members & bit)
		check(w, putc_(w->b, ','));
	w->members |= bit;
}

static void open_container(struct jsonw *w, char c, bool array)
{
	before_value(w);
	if (w->depth == JSONW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	uint32_t bit = 1u << w->depth;
	w->members &= ~bit;
	w->arrays = array ? w->arrays | bit : w->arrays & ~bit;
	w->depth++;
	check(w, putc_(w->b, c));
}

void jsonw_object(struct jsonw *w)
{
	open_container(w, '{', false);
}

void jsonw_array(struct jsonw *w)
{
	open_container(w, '[', true);
}

void jsonw_end(struct jsonw *w)
{
	if (!w->depth || w->key) {
		w->failed = true;
		return;
	}
	w->depth--;
	check(w, putc_(w->b, (w->arrays & (1u << w->depth)) ? ']' : '}'));
}

void jsonw_keyn(struct jsonw *w, const char *k, size_t n)
{
	uint32_t bit = w->depth ? 1u << (w->depth - 1) : 0;
	if (!bit || (w->arrays & bit) || w->key || buf_reserve(w->b, n + 4)) {
		w->failed = true;
		return;
	}
	char *p = w->b->p + w->b->len;
	if (w->members & bit)
		*p++ = ',';
	w->members |= bit;
	*p++ = '"';
	memcpy(p, k, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	*p = '\0';
	w->b->len = (size_t)(p - w->b->p);
	w->key = true;
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	before_value(w);
	check(w, string(w->b, s, n));
}

void jsonw_str(struct jsonw *w, const char *s)
{
	jsonw_strn(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	before_value(w);
	check(w, integer(w->b, (json_int_t)v));
}

void jsonw_real(struct jsonw *w, double v)
{
	before_value(w);
	check(w, real(w->b, v, w->precision));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	before_value(w);
	check(w, v ? put(w->b, "true", 4) : put(w->b, "false", 5));
}

void jsonw_null(struct jsonw *w)
{
	before_value(w);
	check(w, put(w->b, "null", 4));
}

void jsonw_json(struct jsonw *w, const json_t *j)
{
	before_value(w);
	check(w, j ? jsonw_value(w->b, j, w->precision) : -1);
}

void jsonw_raw(struct jsonw *w, const char *text, size_t n)
{
	before_value(w);
	check(w, n ? put(w->b, text, n) : -1);
}

int jsonw_finish(const struct jsonw *w)
{
	return w->failed || w->depth || w->key ? -1 : 0;
}
