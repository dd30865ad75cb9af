/* jsonw.c — see jsonw.h. */
#include "base/jsonw.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/banned.h"

/* Bytes that need no escaping in a JSON string: not ", \ or a control character. */
static bool plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

static int string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0;

	if (buf_addc(b, '"'))
		return -1;
	while (i < n) {
		size_t run = i;
		while (run < n && plain((unsigned char)s[run]))
			run++;
		if (run > i && buf_add(b, s + i, run - i))
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
		if (buf_add(b, esc, el))
			return -1;
		i = run + 1;
	}
	return buf_addc(b, '"');
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
	return buf_add(b, p, (size_t)(t + sizeof t - p));
}

static int real(struct buf *b, double v, int precision)
{
	char t[40];
	int n = snprintf(t, sizeof t, "%.*g", precision, v);
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
	return buf_add(b, t, (size_t)n);
}

int jsonw_value(struct buf *b, const json_t *j, int precision)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *v;
		bool first = true;
		if (buf_addc(b, '{'))
			return -1;
		json_object_foreach((json_t *)j, key, v) {
			if ((!first && buf_addc(b, ',')) || string(b, key, strlen(key)) ||
			    buf_addc(b, ':') || jsonw_value(b, v, precision))
				return -1;
			first = false;
		}
		return buf_addc(b, '}');
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *v;
		if (buf_addc(b, '['))
			return -1;
		json_array_foreach(j, i, v) {
			if ((i && buf_addc(b, ',')) || jsonw_value(b, v, precision))
				return -1;
		}
		return buf_addc(b, ']');
	}
	case JSON_STRING:
		return string(b, json_string_value(j), json_string_length(j));
	case JSON_INTEGER:
		return integer(b, json_integer_value(j));
	case JSON_REAL:
		return real(b, json_real_value(j), precision);
	case JSON_TRUE:
		return buf_adds(b, "true");
	case JSON_FALSE:
		return buf_adds(b, "false");
	case JSON_NULL:
		return buf_adds(b, "null");
	}
	return -1;
}
