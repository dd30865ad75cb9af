/* err.c — see err.h. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = ERR_OK;
	e->field[0] = e->message[0] = e->message_zh[0] = '\0';
}

/* snprintf may cut a multi-byte UTF-8 character at the end of the buffer:
 * drop an incomplete tail so the text stays valid UTF-8 (it goes into JSON). */
static void trim_utf8_tail(char *s)
{
	size_t n = strlen(s), i = n, need;
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	unsigned char c = (unsigned char)s[i - 1];
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

int err_set(struct err *e, int code, const char *field, const char *zh_fmt,
	    const char *en_fmt, ...)
{
	va_list ap, ap2;

	if (!e)
		return code;
	e->code = code;
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	va_start(ap, en_fmt);
	va_copy(ap2, ap);
	vsnprintf(e->message, sizeof e->message, en_fmt, ap);
	vsnprintf(e->message_zh, sizeof e->message_zh, zh_fmt, ap2);
	va_end(ap2);
	va_end(ap);
	trim_utf8_tail(e->field);
	trim_utf8_tail(e->message);
	trim_utf8_tail(e->message_zh);
	return code;
}

int err_set_msg(struct err *e, int code, const char *field, const char *zh, const char *en)
{
	if (!e)
		return code;
	err_set(e, code, field, "%s", "%s", zh);
	snprintf(e->message, sizeof e->message, "%s", en);
	trim_utf8_tail(e->message);
	return code;
}

static const struct {
	int code;
	int status;
	const char *name;
} table[] = {
	{ERR_OK, 200, "ok"},
	{ERR_BAD_REQUEST, 400, "bad_request"},
	{ERR_UNAUTHENTICATED, 401, "unauthenticated"},
	{ERR_FORBIDDEN, 403, "forbidden"},
	{ERR_NOT_FOUND, 404, "not_found"},
	{ERR_METHOD, 405, "method_not_allowed"},
	{ERR_CONFLICT, 409, "conflict"},
	{ERR_TOO_LARGE, 413, "payload_too_large"},
	{ERR_UNPROCESSABLE, 422, "unprocessable"},
	{ERR_RATE_LIMITED, 429, "rate_limited"},
	{ERR_INTERNAL, 500, "internal"},
	{ERR_UNAVAILABLE, 503, "unavailable"},
};

const char *err_code_name(int code)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].code == code)
			return table[i].name;
	return "internal";
}

int err_http_status(int code)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].code == code)
			return table[i].status;
	return 500;
}
