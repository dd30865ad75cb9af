/* api.c — helpers shared by the API files (paging, list envelopes, times, downloads). */
#include "api/api.h"

#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/jsonw.h"
#include "base/banned.h"

int api_page(struct req *r, struct page *p)
{
	int rc = req_query_int(r, "limit", 50, 1, 200, &p->limit);
	if (!rc)
		rc = req_query_int(r, "after", 0, 0, INT64_MAX, &p->after);
	return rc;
}

json_t *api_list(json_t *items, int64_t next_after)
{
	return json_pack("{s:o,s:o}", "items", items, "next",
			 next_after ? json_integer(next_after) : json_null());
}

void api_reply_begin(struct req *r, int status, struct jsonw *w)
{
	r->status = status;
	r->content_type = "application/json; charset=utf-8";
	buf_reset(&r->out);
	jsonw_init(w, &r->out, 12); /* the precision of reply_json */
}

int api_reply_end(struct req *r, const struct jsonw *w)
{
	if (jsonw_finish(w))
		return req_fail(r, ERR_INTERNAL, NULL, "无法生成应答", "cannot write the answer");
	return 0;
}

json_t *api_id(int64_t id)
{
	return id ? json_integer(id) : json_null();
}

json_t *api_time(int64_t ms)
{
	return ms ? json_integer(ms) : json_null();
}

/*
 * Content-Disposition for a UTF-8 name (RFC 6266 with RFC 5987):
 *   attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded
 * The fallback replaces every non-ASCII character (and '%', which some
 * browsers would decode) with '_'; names hold no quotes or backslashes.
 */
const char *api_disposition(struct arena *ar, const char *name)
{
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "attachment; filename=\"");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= 0x80) {
			while ((p[1] & 0xC0) == 0x80)
				p++;
			buf_addc(&b, '_');
		} else
			buf_addc(&b, *p < 0x20 || *p == '"' || *p == '\\' || *p == '%' ? '_'
										       : (char)*p);
	}
	buf_adds(&b, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p))
			buf_addc(&b, (char)*p);
		else
			buf_addf(&b, "%%%02X", *p);
	}
	const char *s = arena_strdup(ar, b.p);
	buf_release(&b);
	return s;
}
