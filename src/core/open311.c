/*
 * open311.c — Open311 GeoReport v2 over the requests (see open311.h): form
 * parsing, the XML/JSON writer, services and their definitions, filing a
 * request through Open311 and the public view of requests.
 */
#include "core/open311.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/request.h"
#include "core/session.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

/* ---- forms ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum decode_fault { DEC_OK, DEC_PERCENT, DEC_NUL, DEC_UTF8, DEC_CONTROL };

/* Percent-decode s[0..n) into a new string; '+' is a space. */
static enum decode_fault decode(const char *s, size_t n, bool is_key, char **out, size_t *outlen)
{
	char *d = xmalloc(n + 1);
	size_t k = 0;
	enum decode_fault f = DEC_OK;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0) {
				f = DEC_PERCENT;
				break;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0) {
			f = DEC_NUL;
			break;
		}
		if ((c < 0x20 && (is_key || (c != '\t' && c != '\n' && c != '\r'))) || c == 0x7f) {
			f = DEC_CONTROL;
			break;
		}
		d[k++] = (char)c;
	}
	d[k] = '\0';
	if (!f && !utf8_valid(d, k))
		f = DEC_UTF8;
	if (f) {
		free(d);
		return f;
	}
	*out = d;
	*outlen = k;
	return DEC_OK;
}

static void form_add(struct open311_form *f, char *key, char *val)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = xrealloc(f->v, f->cap * sizeof *f->v);
	}
	f->v[f->n].key = key;
	f->v[f->n].val = val;
	f->n++;
}

static int fault(struct err *e, enum decode_fault f, const char *field)
{
	switch (f) {
	case DEC_PERCENT:
		return err_set(e, ERR_BAD_REQUEST, field, "“%s”含有不完整的 %% 转义",
			       "'%s' has a '%%' not followed by two hex digits", field);
	case DEC_NUL:
		return err_set(e, ERR_BAD_REQUEST, field, "“%s”含有空字符（%%00）",
			       "'%s' contains a NUL byte (%%00)", field);
	case DEC_UTF8:
		return err_set(e, ERR_BAD_REQUEST, field, "“%s”不是有效的 UTF-8",
			       "'%s' is not valid UTF-8", field);
	case DEC_CONTROL:
		return err_set(e, ERR_BAD_REQUEST, field, "“%s”含有控制字符",
			       "'%s' contains a control character", field);
	case DEC_OK:
		break;
	}
	return 0;
}

int open311_form_parse(struct open311_form *f, const char *body, size_t len, struct err *e)
{
	size_t i = 0;
	while (i < len) {
		const char *seg = body + i;
		const char *amp = memchr(seg, '&', len - i);
		size_t sl = amp ? (size_t)(amp - seg) : len - i;
		i += sl + 1;
		if (sl == 0)
			continue;
		if (f->n >= OPEN311_FORM_MAX_PAIRS)
			return err_set(e, ERR_BAD_REQUEST, "body", "表单字段超过 %d 个",
				       "the form has more than %d fields", OPEN311_FORM_MAX_PAIRS);
		const char *eq = memchr(seg, '=', sl);
		size_t kl = eq ? (size_t)(eq - seg) : sl;
		char *key = NULL, *val = NULL;
		size_t klen = 0, vlen = 0;
		if (kl > 3 * OPEN311_FORM_MAX_KEY)
			return err_set(e, ERR_BAD_REQUEST, "body", "表单字段名超过 %d 字节",
				       "a form field name is longer than %d bytes",
				       OPEN311_FORM_MAX_KEY);
		enum decode_fault df = decode(seg, kl, true, &key, &klen);
		if (df)
			return fault(e, df, "body");
		if (klen == 0 || klen > OPEN311_FORM_MAX_KEY) {
			free(key);
			if (klen == 0)
				return err_set(e, ERR_BAD_REQUEST, "body", "表单字段缺少名称",
					       "a form field has no name");
			return err_set(e, ERR_BAD_REQUEST, "body", "表单字段名超过 %d 字节",
				       "a form field name is longer than %d bytes",
				       OPEN311_FORM_MAX_KEY);
		}
		df = eq ? decode(eq + 1, sl - kl - 1, false, &val, &vlen) : decode("", 0, false, &val, &vlen);
		if (df) {
			int rc = fault(e, df, key);
			free(key);
			return rc;
		}
		form_add(f, key, val);
	}
	return 0;
}

void open311_form_release(struct open311_form *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].key);
		free(f->v[i].val);
	}
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}

const char *open311_form_get(const struct open311_form *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].key, key) == 0)
			return f->v[i].val;
	return NULL;
}

/* A JSON scalar as form text; false for other types. */
static bool scalar_text(json_t *v, char **out)
{
	char num[40];
	if (json_is_string(v)) {
		*out = xstrndup(json_string_value(v), json_string_length(v));
		return true;
	}
	if (json_is_integer(v)) {
		snprintf(num, sizeof num, "%" PRId64, (int64_t)json_integer_value(v));
		*out = xstrdup(num);
		return true;
	}
	if (json_is_real(v)) {
		/* the shortest text that reads back as the same double */
		double d = json_real_value(v);
		for (int prec = 6; prec <= 17; prec++) {
			snprintf(num, sizeof num, "%.*g", prec, d);
			if (strtod(num, NULL) == d)
				break;
		}
		*out = xstrdup(num);
		return true;
	}
	return false;
}

/* Check a value taken from JSON as a decoded form value would be checked. */
static int check_value(const char *key, const char *v, size_t n, struct err *e)
{
	if (strlen(v) != n)
		return fault(e, DEC_NUL, key);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			return fault(e, DEC_CONTROL, key);
	}
	return utf8_valid(v, n) ? 0 : fault(e, DEC_UTF8, key);
}

static int json_pair(struct open311_form *f, const char *key, json_t *v, struct err *e)
{
	char *val = NULL;
	if (f->n >= OPEN311_FORM_MAX_PAIRS)
		return err_set(e, ERR_BAD_REQUEST, "body", "字段超过 %d 个",
			       "the body has more than %d fields", OPEN311_FORM_MAX_PAIRS);
	if (!scalar_text(v, &val))
		return err_set(e, ERR_BAD_REQUEST, key, "“%s”应为字符串或数字",
			       "'%s' must be a string or a number", key);
	int rc = check_value(key, val, json_is_string(v) ? json_string_length(v) : strlen(val), e);
	if (rc) {
		free(val);
		return rc;
	}
	form_add(f, xstrdup(key), val);
	return 0;
}

int open311_form_from_json(struct open311_form *f, json_t *obj, struct err *e)
{
	const char *key;
	json_t *v;
	int rc;
	json_object_foreach(obj, key, v) {
		size_t kl = strlen(key);
		if (kl == 0 || kl > OPEN311_FORM_MAX_KEY)
			return err_set(e, ERR_BAD_REQUEST, "body", "字段名应为 1 到 %d 字节",
				       "field names must have 1 to %d bytes", OPEN311_FORM_MAX_KEY);
		for (size_t i = 0; i < kl; i++)
			if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
				return fault(e, DEC_CONTROL, "body");
		if (json_is_null(v))
			continue;
		if (strcmp(key, "attribute") == 0 && json_is_object(v)) {
			const char *code;
			json_t *av;
			json_object_foreach(v, code, av) {
				char name[OPEN311_FORM_MAX_KEY + 1];
				bool many = json_is_array(av);
				int w = snprintf(name, sizeof name, "attribute[%s]%s", code, many ? "[]" : "");
				if (w < 0 || (size_t)w >= sizeof name || !*code)
					return err_set(e, ERR_BAD_REQUEST, "attribute",
						       "属性代码应为 1 到 32 个字符",
						       "attribute codes must have 1 to 32 characters");
				if (json_is_null(av))
					continue;
				if (!many) {
					if ((rc = json_pair(f, name, av, e)))
						return rc;
					continue;
				}
				size_t i;
				json_t *item;
				json_array_foreach(av, i, item)
					if ((rc = json_pair(f, name, item, e)))
						return rc;
			}
			continue;
		}
		if ((rc = json_pair(f, key, v, e)))
			return rc;
	}
	return 0;
}

/* ---- rendering ---- */

void open311_format_time(int64_t utc_ms, char *out, size_t n)
{
	int y, m, d;
	int64_t t = workcal_local_ms(utc_ms);
	workcal_civil_from_days(workcal_local_day(utc_ms), &y, &m, &d);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d+08:00", y, m, d, (int)(t / 3600000),
		 (int)(t / 60000 % 60), (int)(t / 1000 % 60));
}

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point; 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
	size_t k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
	if (s[0] < 0xC2 || s[0] > 0xF4 || k > n || !utf8_valid((const char *)s, k))
		return 0;
	unsigned v = s[0] & (k == 2 ? 0x1F : k == 3 ? 0x0F : 0x07);
	for (size_t j = 1; j < k; j++)
		v = (v << 6) | (s[j] & 0x3F);
	*cp = v;
	return k;
}

void open311_xml_escape(struct buf *out, const char *str, size_t n)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	const unsigned char *s = (const unsigned char *)str;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		switch (c) {
		case '&': buf_adds(out, "&amp;"); continue;
		case '<': buf_adds(out, "&lt;"); continue;
		case '>': buf_adds(out, "&gt;"); continue;
		case '"': buf_adds(out, "&quot;"); continue;
		case '\'': buf_adds(out, "&apos;"); continue;
		case '\r': buf_adds(out, "&#13;"); continue;
		case '\t':
		case '\n': buf_addc(out, (char)c); continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			/* DEL is allowed by XML 1.0 but we keep output free of controls */
			buf_adds(out, fffd);
			continue;
		}
		if (c < 0x80) {
			buf_addc(out, (char)c);
			continue;
		}
		unsigned cp = 0;
		size_t k = utf8_seq(s + i, n - i, &cp);
		if (!k) {
			buf_adds(out, fffd);
			continue;
		}
		if (cp == 0xFFFE || cp == 0xFFFF)
			buf_adds(out, fffd);
		else
			buf_add(out, s + i, k);
		i += k - 1;
	}
}

void open311_writer_init(struct open311_writer *w, enum open311_fmt fmt, struct buf *out)
{
	memset(w, 0, sizeof *w);
	w->fmt = fmt;
	w->out = out;
	if (fmt == OPEN311_XML)
		buf_adds(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
}

/* JSON: the comma and key before a value in the current container. */
static void json_prefix(struct open311_writer *w, const char *name)
{
	if (w->depth == 0)
		return;
	if (w->stack[w->depth - 1].any)
		buf_addc(w->out, ',');
	w->stack[w->depth - 1].any = true;
	if (!w->stack[w->depth - 1].list) {
		buf_add_json_str(w->out, name, strlen(name));
		buf_addc(w->out, ':');
	}
}

static void begin(struct open311_writer *w, const char *name, bool list)
{
	if (w->fmt == OPEN311_JSON) {
		json_prefix(w, name);
		buf_addc(w->out, list ? '[' : '{');
	} else
		buf_addf(w->out, "<%s>", name);
	if (w->depth < OPEN311_WRITER_DEPTH) {
		w->stack[w->depth].name = name;
		w->stack[w->depth].list = list;
		w->stack[w->depth].any = false;
	}
	w->depth++;
}

void open311_list_begin(struct open311_writer *w, const char *name)
{
	begin(w, name, true);
}

void open311_obj_begin(struct open311_writer *w, const char *name)
{
	begin(w, name, false);
}

void open311_end(struct open311_writer *w)
{
	if (w->depth == 0)
		return;
	w->depth--;
	if (w->depth >= OPEN311_WRITER_DEPTH)
		return;
	if (w->fmt == OPEN311_JSON)
		buf_addc(w->out, w->stack[w->depth].list ? ']' : '}');
	else
		buf_addf(w->out, "</%s>", w->stack[w->depth].name);
}

/* A scalar already rendered as JSON text (json) and as XML text (xml, escaped here). */
static void scalar(struct open311_writer *w, const char *name, const char *json, const char *xml,
		   size_t xml_len)
{
	if (w->fmt == OPEN311_JSON) {
		json_prefix(w, name);
		buf_adds(w->out, json);
	} else if (!xml)
		buf_addf(w->out, "<%s/>", name);
	else {
		buf_addf(w->out, "<%s>", name);
		open311_xml_escape(w->out, xml, xml_len);
		buf_addf(w->out, "</%s>", name);
	}
}

void open311_str(struct open311_writer *w, const char *name, const char *v)
{
	if (!v) {
		scalar(w, name, "null", NULL, 0);
		return;
	}
	if (w->fmt == OPEN311_JSON) {
		json_prefix(w, name);
		buf_add_json_str(w->out, v, strlen(v));
	} else
		scalar(w, name, NULL, v, strlen(v));
}

void open311_int(struct open311_writer *w, const char *name, int64_t v)
{
	char t[24];
	snprintf(t, sizeof t, "%" PRId64, v);
	scalar(w, name, t, t, strlen(t));
}

void open311_num(struct open311_writer *w, const char *name, double v)
{
	char t[40];
	if (!isfinite(v)) {
		scalar(w, name, "null", NULL, 0);
		return;
	}
	snprintf(t, sizeof t, "%.15g", v);
	scalar(w, name, t, t, strlen(t));
}

void open311_bool(struct open311_writer *w, const char *name, bool v)
{
	scalar(w, name, v ? "true" : "false", v ? "true" : "false", v ? 4 : 5);
}

void open311_time(struct open311_writer *w, const char *name, int64_t utc_ms)
{
	char t[40];
	if (!utc_ms) {
		scalar(w, name, "null", NULL, 0);
		return;
	}
	open311_format_time(utc_ms, t, sizeof t);
	open311_str(w, name, t);
}

void open311_render_error(enum open311_fmt fmt, int code, const char *description,
			  struct buf *out)
{
	struct open311_writer w;
	open311_writer_init(&w, fmt, out);
	open311_list_begin(&w, "errors");
	open311_obj_begin(&w, "error");
	open311_int(&w, "code", code);
	open311_str(&w, "description", description);
	open311_end(&w);
	open311_end(&w);
}

/* ---- services ---- */

#define SVC_COLS                                                                              \
	"c.id, c.open311_code, c.name, p.name, c.code, d.name, "                             \
	"(SELECT COUNT(*) FROM open311_attributes a WHERE a.tenant_id = c.tenant_id AND "      \
	"a.category_id = c.id) "
#define SVC_FROM                                                                              \
	"FROM request_categories c LEFT JOIN request_categories p ON p.id = c.parent_id "     \
	"LEFT JOIN departments d ON d.id = c.department_id "                                  \
	"WHERE c.tenant_id = $1 AND c.active = 1 AND c.open311_code <> '' "

static void read_service(struct db_stmt *st, struct open311_service *s)
{
	memset(s, 0, sizeof *s);
	s->category_id = db_column_int64(st, 0);
	snprintf(s->code, sizeof s->code, "%s", db_column_text(st, 1));
	snprintf(s->name, sizeof s->name, "%s", db_column_text(st, 2));
	snprintf(s->group, sizeof s->group, "%s", db_column_text(st, 3));
	snprintf(s->category_code, sizeof s->category_code, "%s", db_column_text(st, 4));
	snprintf(s->department, sizeof s->department, "%s", db_column_text(st, 5));
	s->metadata = db_column_int64(st, 6) > 0;
}

static int service_limits(struct db *db, int64_t tenant_id, struct open311_service *s,
			  struct err *e)
{
	struct time_limits lim;
	int rc = request_limits(db, tenant_id, s->category_id, "help", &lim, e);
	if (!rc)
		s->handle_days = lim.handle_days;
	return rc;
}

int open311_services(struct db *db, int64_t tenant_id,
		     int (*each)(const struct open311_service *s, void *ctx), void *ctx,
		     struct err *e)
{
	struct db_stmt *st = NULL;
	struct open311_service *v = NULL;
	size_t n = 0, cap = 0;
	int rc = db_queryf(db, &st, e, "SELECT " SVC_COLS SVC_FROM "ORDER BY c.path, c.sort", "i",
			   tenant_id);
	if (rc)
		return rc;
	/* collected first: the limits are another query on the same connection */
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		read_service(st, &v[n++]);
	}
	db_finalize(st);
	for (size_t i = 0; rc == DB_DONE && i < n; i++) {
		if ((rc = service_limits(db, tenant_id, &v[i], e)))
			break;
		if (each(&v[i], ctx))
			break;
	}
	free(v);
	return rc < 0 ? rc : 0;
}

int open311_service_get(struct db *db, int64_t tenant_id, const char *code,
			struct open311_service *out, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, "SELECT " SVC_COLS SVC_FROM "AND c.open311_code = $2", "it",
			   tenant_id, code);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_service(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "service_code", "找不到服务“%s”",
			       "service_code '%s' not found", code);
	if (rc < 0)
		return rc;
	return service_limits(db, tenant_id, out, e);
}

void open311_notice(int days, char *out, size_t n)
{
	if (days <= 0)
		snprintf(out, n, "%s", "");
	else
		snprintf(out, n, "自派单起 %d 个工作日内答复", days);
}

void open311_service_description(const struct open311_service *s, char *out, size_t n)
{
	char notice[128];
	open311_notice(s->handle_days, notice, sizeof notice);
	if (s->department[0])
		snprintf(out, n, "%s：由%s办理，%s。", s->name, s->department, notice);
	else
		snprintf(out, n, "%s：%s。", s->name, notice);
}

int open311_changeset(struct db *db, int64_t tenant_id, int64_t *at, struct err *e)
{
	*at = 0;
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, "SELECT MAX(updated_at) FROM request_categories WHERE tenant_id = $1",
			   "i", tenant_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW && !db_column_is_null(st, 0))
		*at = db_column_int64(st, 0);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- attributes ---- */

static const char *const datatype_names[O311__COUNT] = {
	[O311_STRING] = "string",   [O311_NUMBER] = "number",          [O311_DATETIME] = "datetime",
	[O311_TEXT] = "text",       [O311_SINGLE] = "singlevaluelist", [O311_MULTI] = "multivaluelist",
};

const char *open311_datatype_name(enum open311_datatype t)
{
	return (unsigned)t < O311__COUNT ? datatype_names[t] : "?";
}

int open311_datatype_parse(const char *s)
{
	for (int i = 0; s && i < O311__COUNT; i++)
		if (strcmp(datatype_names[i], s) == 0)
			return i;
	return -1;
}

static bool is_list(enum open311_datatype t)
{
	return t == O311_SINGLE || t == O311_MULTI;
}

int open311_attrs_load(struct db *db, int64_t tenant_id, int64_t category_id,
		       struct open311_attrs *out, struct err *e)
{
	struct db_stmt *st = NULL;
	size_t cap = 0;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e,
			   "SELECT code, datatype, required, variable, description, "
			   "datatype_description, sort_order, value_list FROM open311_attributes "
			   "WHERE tenant_id = $1 AND category_id = $2 ORDER BY sort_order, code",
			   "ii", tenant_id, category_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 8;
			out->v = xrealloc(out->v, cap * sizeof *out->v);
		}
		struct open311_attribute *a = &out->v[out->n++];
		memset(a, 0, sizeof *a);
		snprintf(a->code, sizeof a->code, "%s", db_column_text(st, 0));
		int t = open311_datatype_parse(db_column_text(st, 1));
		a->datatype = t < 0 ? O311_STRING : (enum open311_datatype)t;
		a->required = db_column_int64(st, 2) != 0;
		a->variable = db_column_int64(st, 3) != 0;
		snprintf(a->description, sizeof a->description, "%s", db_column_text(st, 4));
		snprintf(a->datatype_description, sizeof a->datatype_description, "%s",
			 db_column_text(st, 5));
		a->order = db_column_int64(st, 6);
		json_error_t je;
		a->values = json_loads(db_column_text(st, 7), 0, &je);
		if (!json_is_array(a->values)) {
			json_decref(a->values);
			a->values = json_array();
		}
	}
	db_finalize(st);
	if (rc < 0) {
		open311_attrs_release(out);
		return rc;
	}
	return 0;
}

void open311_attrs_release(struct open311_attrs *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		json_decref(a->v[i].values);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* Attribute codes and value keys: they travel in form keys ("attribute[code]"). */
static bool code_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Prefix the field of a failed item check with "attributes[i]." */
static int item_fail(struct err *e, size_t i, const char *sub)
{
	char f[192];
	snprintf(f, sizeof f, "attributes[%zu]%s%.120s", i, *sub ? "." : "", sub);
	snprintf(e->field, sizeof e->field, "%.63s", f);
	return e->code;
}


/* Is there a control character (line breaks too unless allowed)? */
static bool has_control(const char *s, bool breaks_ok)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && !(breaks_ok && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7f)
			return true;
	}
	return false;
}

static int check_values(json_t *values, size_t i, struct err *e)
{
	size_t j;
	json_t *v;
	if (!json_is_array(values) || json_array_size(values) < 1 || json_array_size(values) > 100)
		return err_set(e, ERR_UNPROCESSABLE, "values", "列表类型需要 1 到 100 个选项",
			       "a list type needs 1 to 100 values");
	json_array_foreach(values, j, v) {
		static const char *const allowed[] = {"key", "name", NULL};
		const char *key = NULL, *name = NULL;
		char sub[48];
		snprintf(sub, sizeof sub, "values[%zu]", j);
		if (!json_is_object(v)) {
			err_set(e, ERR_BAD_REQUEST, NULL, "选项应为 {key, name} 对象",
				"a value must be an object {key, name}");
			return item_fail(e, i, sub);
		}
		int rc = jsonv_only(v, allowed, e);
		if (!rc)
			rc = jsonv_str(v, "key", true, 64, &key, e);
		if (!rc)
			rc = jsonv_text(v, "name", true, 100, &name, e);
		if (!rc && (!*key || has_control(key, false) || has_control(name, false)))
			rc = err_set(e, ERR_UNPROCESSABLE, NULL, "选项的 key 和 name 不能为空或含控制字符",
				     "key and name must not be empty or contain control characters");
		for (size_t k = 0; !rc && k < j; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(values, k), "key")),
				   key) == 0)
				rc = err_set(e, ERR_UNPROCESSABLE, NULL, "选项 key“%s”重复",
					     "value key '%s' is given twice", key);
		if (rc) {
			char f[128];
			snprintf(f, sizeof f, "%s%s%.63s", sub, e->field[0] ? "." : "", e->field);
			return item_fail(e, i, f);
		}
	}
	return 0;
}

/* Validate one item of a PUT into a (values borrowed from the item). */
static int check_item(json_t *it, size_t i, struct open311_attribute *a, struct err *e)
{
	static const char *const allowed[] = {"code", "datatype", "required", "variable",
					      "description", "datatype_description", "order",
					      "values", NULL};
	const char *code = NULL, *type = NULL, *desc = NULL, *tdesc = "";
	int64_t order = (int64_t)i + 1;
	int t;
	memset(a, 0, sizeof *a);
	a->variable = true;
	if (!json_is_object(it)) {
		err_set(e, ERR_BAD_REQUEST, NULL, "每个属性应为对象", "each attribute must be an object");
		return item_fail(e, i, "");
	}
	int rc = jsonv_only(it, allowed, e);
	if (!rc)
		rc = jsonv_str(it, "code", true, 32, &code, e);
	if (!rc && !code_ok(code, 32))
		rc = err_set(e, ERR_UNPROCESSABLE, "code", "属性代码应为 1 到 32 个字母、数字或 _ - .",
			     "code must be 1 to 32 of A-Z a-z 0-9 _ - .");
	if (!rc)
		rc = jsonv_str(it, "datatype", true, 20, &type, e);
	if (!rc && (t = open311_datatype_parse(type)) < 0)
		rc = err_set(e, ERR_UNPROCESSABLE, "datatype",
			     "datatype 应为 string、number、datetime、text、singlevaluelist 或 "
			     "multivaluelist",
			     "datatype must be string, number, datetime, text, singlevaluelist or "
			     "multivaluelist");
	if (!rc)
		rc = jsonv_bool(it, "required", false, &a->required, e);
	if (!rc)
		rc = jsonv_bool(it, "variable", false, &a->variable, e);
	if (!rc)
		rc = jsonv_text(it, "description", true, 200, &desc, e);
	if (!rc)
		rc = jsonv_str(it, "datatype_description", false, 200, &tdesc, e);
	if (!rc)
		rc = jsonv_int(it, "order", false, 1, 10000, &order, e);
	if (!rc && (has_control(desc, false) || has_control(tdesc, false)))
		rc = err_set(e, ERR_UNPROCESSABLE, "description", "说明不能含控制字符",
			     "descriptions must not contain control characters");
	if (!rc && a->required && !a->variable)
		rc = err_set(e, ERR_UNPROCESSABLE, "required",
			     "仅供说明的属性（variable=false）不能是必填项",
			     "an attribute that is not a variable cannot be required");
	if (rc)
		return item_fail(e, i, e->field);
	a->datatype = (enum open311_datatype)t;
	json_t *values = json_object_get(it, "values");
	if (is_list(a->datatype)) {
		if ((rc = check_values(values, i, e))) {
			if (!strchr(e->field, '['))
				item_fail(e, i, "values");
			return rc;
		}
	} else if (values && !json_is_null(values) &&
		   (!json_is_array(values) || json_array_size(values) > 0)) {
		err_set(e, ERR_UNPROCESSABLE, NULL, "只有列表类型可以有选项",
			"only singlevaluelist and multivaluelist take values");
		return item_fail(e, i, "values");
	}
	snprintf(a->code, sizeof a->code, "%s", code);
	snprintf(a->description, sizeof a->description, "%s", desc);
	snprintf(a->datatype_description, sizeof a->datatype_description, "%s", tdesc);
	a->order = order;
	a->values = is_list(a->datatype) ? values : NULL;
	return 0;
}

int open311_attrs_put(struct db *db, void *arg, struct err *e)
{
	struct open311_attrs_write *w = arg;
	size_t n = json_array_size(w->attributes);
	struct open311_attribute *v = NULL;
	int64_t ok = 0;
	int rc;
	if (!json_is_array(w->attributes))
		return err_set(e, ERR_BAD_REQUEST, "attributes", "attributes 应为数组",
			       "attributes must be an array");
	if (n > 50)
		return err_set(e, ERR_UNPROCESSABLE, "attributes", "一个服务最多 50 个属性",
			       "a service has at most 50 attributes");
	rc = db_query_i64(db, &ok, e,
			  "SELECT COUNT(*) FROM request_categories WHERE tenant_id = $1 AND id = $2",
			  "ii", w->tenant_id, w->category_id);
	if (rc)
		return rc;
	if (!ok)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该分类", "no such category");
	v = xcalloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		if ((rc = check_item(json_array_get(w->attributes, i), i, &v[i], e)))
			goto out;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(v[k].code, v[i].code) == 0) {
				err_set(e, ERR_UNPROCESSABLE, NULL, "属性代码“%s”重复",
					"attribute code '%s' is given twice", v[i].code);
				rc = item_fail(e, i, "code");
				goto out;
			}
			if (v[k].order == v[i].order) {
				err_set(e, ERR_UNPROCESSABLE, NULL, "顺序 %" PRId64 " 重复",
					"order %" PRId64 " is given twice", v[i].order);
				rc = item_fail(e, i, "order");
				goto out;
			}
		}
	}
	if ((rc = db_execf(db, e,
			   "DELETE FROM open311_attributes WHERE tenant_id = $1 AND category_id = $2",
			   "ii", w->tenant_id, w->category_id)))
		goto out;
	json_t *codes = json_array();
	for (size_t i = 0; i < n && !rc; i++) {
		char *vals = v[i].values ? json_dumps(v[i].values, JSON_COMPACT) : NULL;
		rc = db_execf(db, e,
			      "INSERT INTO open311_attributes (tenant_id, category_id, code, datatype, "
			      "required, variable, description, datatype_description, sort_order, "
			      "value_list) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			      "iittiittit", w->tenant_id, w->category_id, v[i].code,
			      open311_datatype_name(v[i].datatype), (int64_t)v[i].required,
			      (int64_t)v[i].variable, v[i].description, v[i].datatype_description,
			      v[i].order, vals ? vals : "[]");
		free(vals);
		json_array_append_new(codes, json_string(v[i].code));
	}
	/* the definitions changed: discovery's changeset follows the category */
	if (!rc)
		rc = db_execf(db, e, "UPDATE request_categories SET updated_at = $1 WHERE id = $2",
			      "ii", w->now, w->category_id);
	if (!rc) {
		json_t *sum = json_pack("{s:o}", "attributes", codes);
		codes = NULL;
		rc = audit_append(db, w->who, w->tenant_id, "request_category", w->category_id,
				  "open311_attributes", sum, e);
		json_decref(sum);
	}
	json_decref(codes);
out:
	free(v);
	return rc;
}

/* ---- filing a request ---- */

static const char *const scalar_keys[] = {
	"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
	"address_id", "email", "device_id", "account_id", "first_name", "last_name", "phone",
	"description", "media_url", NULL};

/* A non-empty value, or NULL: the spec treats an empty parameter as absent. */
static const char *field(const struct open311_form *f, const char *key)
{
	const char *v = open311_form_get(f, key);
	return v && *v ? v : NULL;
}

/* A strict decimal number: [+-]digits[.digits][(e|E)[+-]digits]. */
static bool parse_number(const char *s, double *out)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	size_t digits = strspn(p, "0123456789");
	p += digits;
	if (*p == '.') {
		size_t frac = strspn(p + 1, "0123456789");
		digits += frac;
		p += 1 + frac;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		size_t ex = strspn(p, "0123456789");
		if (!ex)
			return false;
		p += ex;
	}
	if (*p || p - s > 40)
		return false;
	*out = strtod(s, NULL);
	return isfinite(*out);
}

static int text_max(const char *v, const char *key, size_t max, bool breaks_ok, struct err *e)
{
	if (utf8_len(v, strlen(v)) > max)
		return err_set(e, ERR_BAD_REQUEST, key, "“%s”不能超过 %zu 个字符",
			       "'%s' must not exceed %zu characters", key, max);
	if (has_control(v, breaks_ok))
		return err_set(e, ERR_BAD_REQUEST, key, "“%s”不能含换行或控制字符",
			       "'%s' must not contain line breaks or control characters", key);
	return 0;
}

static bool email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = strlen(s);
	if (!at || at == s || strchr(at + 1, '@') || n > 254 || (size_t)(at - s) > 64)
		return false;
	const char *dom = at + 1;
	if (!*dom || *dom == '.' || s[n - 1] == '.' || !strchr(dom, '.') || strstr(dom, ".."))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("<>()[]\\,;:\"", *p))
			return false;
	return true;
}

static bool url_ok(const char *s)
{
	size_t skip = strncasecmp(s, "https://", 8) == 0 ? 8 : strncasecmp(s, "http://", 7) == 0 ? 7 : 0;
	if (!skip || strlen(s) > 1000 || !s[skip] || s[skip] == '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f || strchr("<>\"'`\\{}|^", *p))
			return false;
	return true;
}

/* Is key "attribute[code]" or "attribute[code][]"? code into out. */
static bool attribute_key(const char *key, char *out, size_t n, bool *many)
{
	if (strncmp(key, "attribute[", 10) != 0)
		return false;
	const char *c = key + 10, *close = strchr(c, ']');
	if (!close || close == c || (size_t)(close - c) >= n)
		return false;
	*many = strcmp(close, "][]") == 0;
	if (!*many && strcmp(close, "]") != 0)
		return false;
	memcpy(out, c, (size_t)(close - c));
	out[close - c] = '\0';
	return true;
}

static bool in_values(json_t *values, const char *key)
{
	size_t i;
	json_t *v;
	json_array_foreach(values, i, v) {
		const char *k = json_string_value(json_object_get(v, "key"));
		if (k && strcmp(k, key) == 0)
			return true;
	}
	return false;
}

static int check_attr_value(const struct open311_attribute *a, const char *key, const char *v,
			    struct err *e)
{
	double d;
	int64_t t;
	switch (a->datatype) {
	case O311_STRING:
		return text_max(v, key, 200, false, e);
	case O311_TEXT:
		return text_max(v, key, 2000, true, e);
	case O311_NUMBER:
		if (!parse_number(v, &d))
			return err_set(e, ERR_BAD_REQUEST, key, "“%s”应为数字", "'%s' must be a number",
				       key);
		return 0;
	case O311_DATETIME:
		if (!workcal_parse_instant(v, &t))
			return err_set(e, ERR_BAD_REQUEST, key,
				       "“%s”应为带时区的 ISO 8601 时间，如 2026-01-15T09:30:00+08:00",
				       "'%s' must be an ISO 8601 time with an offset, e.g. "
				       "2026-01-15T09:30:00+08:00",
				       key);
		return 0;
	case O311_SINGLE:
	case O311_MULTI:
		if (!in_values(a->values, v))
			return err_set(e, ERR_BAD_REQUEST, key, "“%s”的值“%.64s”不在可选项中",
				       "'%s': '%.64s' is not one of the listed values", key, v);
		return 0;
	case O311__COUNT:
		break;
	}
	return 0;
}

/* Collect and check the attribute answers against the service's definition. */
static int check_attributes(const struct open311_form *f, const struct open311_attrs *defs,
			    struct open311_submission *s, struct err *e)
{
	char code[OPEN311_FORM_MAX_KEY + 1];
	bool many;
	/* every attribute key must name an input of this service */
	for (size_t i = 0; i < f->n; i++) {
		if (strncmp(f->v[i].key, "attribute", 9) != 0)
			continue;
		if (!attribute_key(f->v[i].key, code, sizeof code, &many))
			return err_set(e, ERR_BAD_REQUEST, f->v[i].key,
				       "“%s”格式不对，应为 attribute[代码] 或 attribute[代码][]",
				       "'%s' is malformed: expected attribute[code] or attribute[code][]",
				       f->v[i].key);
		size_t k;
		for (k = 0; k < defs->n && strcmp(defs->v[k].code, code); k++)
			;
		if (k == defs->n)
			return err_set(e, ERR_BAD_REQUEST, f->v[i].key, "“%s”：服务“%s”没有这个属性",
				       "'%s': service '%s' has no such attribute", f->v[i].key,
				       s->service.code);
		if (!defs->v[k].variable)
			return err_set(e, ERR_BAD_REQUEST, f->v[i].key, "“%s”仅供说明，不接受填写",
				       "'%s' is information only and takes no value", f->v[i].key);
	}
	for (size_t k = 0; k < defs->n; k++) {
		const struct open311_attribute *a = &defs->v[k];
		char key[OPEN311_FORM_MAX_KEY + 16];
		size_t given = 0;
		snprintf(key, sizeof key, "attribute[%s]", a->code);
		if (!a->variable)
			continue;
		for (size_t i = 0; i < f->n; i++) {
			if (!*f->v[i].val || !attribute_key(f->v[i].key, code, sizeof code, &many) ||
			    strcmp(code, a->code) != 0)
				continue;
			int rc = check_attr_value(a, key, f->v[i].val, e);
			if (rc)
				return rc;
			/* a multivaluelist may repeat a key; keep each value once */
			bool dup = false;
			for (size_t j = 0; j < s->nattr && !dup; j++)
				dup = strcmp(s->attr[j].code, a->code) == 0 &&
				      strcmp(s->attr[j].value, f->v[i].val) == 0;
			if (dup)
				continue;
			if (given && a->datatype != O311_MULTI)
				return err_set(e, ERR_BAD_REQUEST, key, "“%s”只能有一个值",
					       "'%s' takes one value", key);
			if (s->nattr == OPEN311_MAX_ATTR_VALUES)
				return err_set(e, ERR_BAD_REQUEST, key, "属性值超过 %d 个",
					       "more than %d attribute values",
					       OPEN311_MAX_ATTR_VALUES);
			snprintf(s->attr[s->nattr].code, sizeof s->attr[s->nattr].code, "%s", a->code);
			s->attr[s->nattr].value = f->v[i].val;
			s->nattr++;
			given++;
		}
		if (!given && a->required)
			return err_set(e, ERR_BAD_REQUEST, key, "缺少必填项“%s”（%.120s）",
				       "required attribute '%s' is missing (%.120s)", key,
				       a->description);
	}
	return 0;
}

/* The request_create input of a submission. */
static void fill_input(const struct open311_submission *s, struct request_input *in)
{
	memset(in, 0, sizeof *in);
	in->channel = "open311";
	in->req_type = "help";
	in->category_id = s->service.category_id;
	in->enterprise_id = s->enterprise_id;
	in->contact_name = s->contact_name;
	in->contact_phone = s->phone;
	in->content = s->content;
	in->address = s->address;
	in->set_location = s->has_location;
	in->lat = s->lat;
	in->lon = s->lon;
	in->urgency = "normal";
}

/* Name the Open311 parameter of a field request.c complained about. */
static int open311_field(struct err *e)
{
	static const char *const map[][2] = {
		{"content", "description"}, {"title", "description"},  {"contact_name", "first_name"},
		{"contact_phone", "phone"}, {"address", "address_string"}, {"lon", "long"},
		{"category_id", "service_code"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(e->field, map[i][0]) == 0) {
			char zh[320], en[320];
			snprintf(zh, sizeof zh, "%s：%s", map[i][1], e->message_zh);
			snprintf(en, sizeof en, "%s: %s", map[i][1], e->message);
			return err_set_msg(e, e->code, map[i][1], zh, en);
		}
	return e->code;
}

int open311_submission_prepare(struct db *db, const struct open311_form *f,
			       struct open311_submission *s, struct err *e)
{
	struct open311_attrs defs = {0};
	const char *code, *lat, *lon, *first, *last, *desc;
	int rc;
	char tmp[OPEN311_FORM_MAX_KEY + 1];
	bool many;

	/* only the spec's parameters, each once */
	for (size_t i = 0; i < f->n; i++) {
		const char *k = f->v[i].key;
		size_t j;
		for (j = 0; scalar_keys[j] && strcmp(scalar_keys[j], k); j++)
			;
		if (!scalar_keys[j]) {
			if (attribute_key(k, tmp, sizeof tmp, &many) || strncmp(k, "attribute", 9) == 0)
				continue;
			return err_set(e, ERR_BAD_REQUEST, k, "未知参数“%s”", "unknown parameter '%s'", k);
		}
		for (size_t m = 0; m < i; m++)
			if (strcmp(f->v[m].key, k) == 0)
				return err_set(e, ERR_BAD_REQUEST, k, "参数“%s”重复",
					       "parameter '%s' is given twice", k);
	}
	if (!(code = field(f, "service_code")))
		return err_set(e, ERR_BAD_REQUEST, "service_code", "缺少 service_code",
			       "service_code was not provided");
	if (strlen(code) >= sizeof s->service.code)
		return err_set(e, ERR_NOT_FOUND, "service_code", "找不到该服务",
			       "service_code not found");
	if ((rc = open311_service_get(db, s->tenant_id, code, &s->service, e)))
		return rc;

	/* the location: lat & long, address_string or address_id */
	lat = field(f, "lat");
	lon = field(f, "long");
	s->address = field(f, "address_string");
	s->address_id = field(f, "address_id");
	if (lat || lon) {
		if (!lat || !lon)
			return err_set(e, ERR_BAD_REQUEST, lat ? "long" : "lat",
				       "lat 和 long 须同时提供", "lat and long must be given together");
		if (!parse_number(lat, &s->lat) || s->lat < -90 || s->lat > 90)
			return err_set(e, ERR_BAD_REQUEST, "lat", "lat 应为 -90 到 90 之间的数字",
				       "lat must be a number from -90 to 90");
		if (!parse_number(lon, &s->lon) || s->lon < -180 || s->lon > 180)
			return err_set(e, ERR_BAD_REQUEST, "long", "long 应为 -180 到 180 之间的数字",
				       "long must be a number from -180 to 180");
		s->has_location = true;
	}
	if (!s->has_location && !s->address && !s->address_id)
		return err_set(e, ERR_BAD_REQUEST, "lat",
			       "缺少位置：请提供 lat 和 long、address_string 或 address_id",
			       "a location is required: lat and long, address_string or address_id");
	if ((s->address && (rc = text_max(s->address, "address_string", 128, false, e))) ||
	    (s->address_id && (rc = text_max(s->address_id, "address_id", 64, false, e))))
		return rc;

	/* who asks */
	first = field(f, "first_name");
	last = field(f, "last_name");
	if ((first && (rc = text_max(first, "first_name", 16, false, e))) ||
	    (last && (rc = text_max(last, "last_name", 16, false, e))))
		return rc;
	if (first && last) {
		/* Chinese names put the family name first, without a space */
		bool ascii = true;
		for (const char *p = last; *p && ascii; p++)
			ascii = (unsigned char)*p < 0x80;
		if (ascii)
			snprintf(s->contact_name, sizeof s->contact_name, "%s %s", first, last);
		else
			snprintf(s->contact_name, sizeof s->contact_name, "%s%s", last, first);
	} else
		snprintf(s->contact_name, sizeof s->contact_name, "%s", first ? first : last ? last : "");
	s->phone = field(f, "phone");
	s->email = field(f, "email");
	if (s->email && !email_ok(s->email))
		return err_set(e, ERR_BAD_REQUEST, "email", "email 格式不正确",
			       "email is not a valid address");
	s->device_id = field(f, "device_id");
	s->account_id = field(f, "account_id");
	if ((s->device_id && (rc = text_max(s->device_id, "device_id", 64, false, e))) ||
	    (s->account_id && (rc = text_max(s->account_id, "account_id", 64, false, e))))
		return rc;
	s->media_url = field(f, "media_url");
	if (s->media_url && !url_ok(s->media_url))
		return err_set(e, ERR_BAD_REQUEST, "media_url",
			       "media_url 应为 http:// 或 https:// 开头的网址（不超过 1000 字节）",
			       "media_url must be an http:// or https:// URL of at most 1000 bytes");

	/* what: the description, or the service and the place */
	desc = field(f, "description");
	if (desc && desc[strspn(desc, " \t\r\n")] == '\0')
		desc = NULL;
	if (desc && (rc = text_max(desc, "description", 4000, true, e)))
		return rc;
	if (desc)
		s->content = desc;
	else {
		snprintf(s->content_buf, sizeof s->content_buf, "%s%s%s", s->service.name,
			 s->address ? "：" : "", s->address ? s->address : "");
		s->content = s->content_buf;
	}
	if (actor_has_role(s->who, ROLE_ENTERPRISE) && s->who->enterprise_id)
		s->enterprise_id = s->who->enterprise_id;

	if ((rc = open311_attrs_load(db, s->tenant_id, s->service.category_id, &defs, e)))
		return rc;
	rc = check_attributes(f, &defs, s, e);
	if (!rc) {
		struct request_input in;
		fill_input(s, &in);
		if ((rc = request_validate(&in, e)))
			rc = open311_field(e);
	}
	open311_attrs_release(&defs);
	return rc;
}

int open311_submit(struct db *db, void *arg, struct err *e)
{
	struct open311_submission *s = arg;
	struct request_create c = {.who = s->who, .tenant_id = s->tenant_id, .now = s->now};
	fill_input(s, &c.in);
	int rc = request_create(db, &c, e);
	if (rc)
		return open311_field(e);
	s->id = c.id;
	snprintf(s->number, sizeof s->number, "%s", c.number);
	rc = db_execf(db, e,
		      "INSERT INTO open311_requests (tenant_id, request_id, service_code, session_id, "
		      "address_id, media_url, email, device_id, account_id, created_at) "
		      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		      "iitittttti", s->tenant_id, s->id, s->service.code, s->session_id,
		      s->address_id ? s->address_id : "", s->media_url ? s->media_url : "",
		      s->email ? s->email : "", s->device_id ? s->device_id : "",
		      s->account_id ? s->account_id : "", s->now);
	int64_t seq = 0;
	for (size_t i = 0; !rc && i < s->nattr; i++) {
		seq = i > 0 && strcmp(s->attr[i].code, s->attr[i - 1].code) == 0 ? seq + 1 : 0;
		rc = db_execf(db, e,
			      "INSERT INTO open311_request_attributes (tenant_id, request_id, code, seq, "
			      "value) VALUES ($1, $2, $3, $4, $5)",
			      "iitit", s->tenant_id, s->id, s->attr[i].code, seq, s->attr[i].value);
	}
	/* the key was used: its last_used_at, as a Bearer request would */
	if (!rc && s->session_id)
		rc = session_touch(db, s->session_id, s->now, e);
	if (!rc) {
		json_t *sum = json_pack("{s:s,s:i,s:b}", "service_code", s->service.code,
					"attributes", (int)s->nattr, "media_url", s->media_url != NULL);
		rc = audit_append(db, s->who, s->tenant_id, "request", s->id, "open311", sum, e);
		json_decref(sum);
	}
	return rc;
}

/* ---- reading requests ---- */

#define PUB_COLS                                                                              \
	"r.id, r.number, r.state, r.channel, "                                                \
	"CASE WHEN r.channel = 'open311' THEN r.content END, "                                \
	"COALESCE(NULLIF(c.open311_code, ''), o.service_code), "                              \
	"COALESCE(CASE WHEN c.open311_code <> '' THEN c.name END, (SELECT s.name FROM "        \
	"request_categories s WHERE s.tenant_id = r.tenant_id AND s.open311_code = "           \
	"o.service_code)), d.name, r.received_at, "                                           \
	"r.updated_at, r.handle_due_at, r.address, r.lat, r.lon, o.address_id, o.media_url, "  \
	"r.master_id, r.category_id, r.req_type, "                                            \
	"(SELECT e.public_note FROM request_events e WHERE e.tenant_id = r.tenant_id AND "     \
	"e.request_id = r.id AND e.public_note <> '' ORDER BY e.id DESC LIMIT 1) "
#define PUB_JOINS                                                                             \
	"LEFT JOIN request_categories c ON c.id = r.category_id "                             \
	"LEFT JOIN departments d ON d.id = r.department_id "                                  \
	"LEFT JOIN open311_requests o ON o.tenant_id = r.tenant_id AND o.request_id = r.id "
/* public: a request of a published service, or filed through Open311 */
#define PUB_FROM                                                                              \
	"FROM requests r " PUB_JOINS                                                          \
	"WHERE r.tenant_id = $1 AND (c.open311_code <> '' OR o.request_id IS NOT NULL) "

/* Limits of (category, type) looked up once per list. */
struct notice_cache {
	size_t n;
	struct {
		int64_t category_id;
		char type[16];
		int days;
	} v[16];
};

static int notice_days(struct db *db, int64_t tenant, int64_t category, const char *type,
		       struct notice_cache *nc, int *days, struct err *e)
{
	for (size_t i = 0; i < nc->n; i++)
		if (nc->v[i].category_id == category && strcmp(nc->v[i].type, type) == 0) {
			*days = nc->v[i].days;
			return 0;
		}
	struct time_limits lim;
	int rc = request_limits(db, tenant, category, type, &lim, e);
	if (rc)
		return rc;
	*days = lim.handle_days;
	if (nc->n < ARRAY_SIZE(nc->v)) {
		nc->v[nc->n].category_id = category;
		snprintf(nc->v[nc->n].type, sizeof nc->v[nc->n].type, "%s", type);
		nc->v[nc->n].days = lim.handle_days;
		nc->n++;
	}
	return 0;
}

static bool state_closed(const char *state)
{
	return !strcmp(state, "closed") || !strcmp(state, "merged") || !strcmp(state, "voided");
}

static int read_pub(struct db *db, int64_t tenant, struct db_stmt *st, struct notice_cache *nc,
		    struct open311_request *r, struct err *e)
{
	memset(r, 0, sizeof *r);
	r->id = db_column_int64(st, 0);
	snprintf(r->number, sizeof r->number, "%s", db_column_text(st, 1));
	const char *state = db_column_text(st, 2);
	r->closed = state_closed(state);
	bool merged = strcmp(state, "merged") == 0;
	/* the text only of requests filed through Open311: others may hold an enterprise's business */
	if (!db_column_is_null(st, 4))
		r->description = xstrdup(db_column_text(st, 4));
	snprintf(r->service_code, sizeof r->service_code, "%s", db_column_text(st, 5));
	snprintf(r->service_name, sizeof r->service_name, "%s", db_column_text(st, 6));
	snprintf(r->agency, sizeof r->agency, "%s", db_column_text(st, 7));
	r->requested_at = db_column_int64(st, 8);
	r->updated_at = db_column_int64(st, 9);
	r->expected_at = db_column_int64(st, 10);
	snprintf(r->address, sizeof r->address, "%s", db_column_text(st, 11));
	r->has_location = !db_column_is_null(st, 12) && !db_column_is_null(st, 13);
	r->lat = r->has_location ? db_column_double(st, 12) : 0;
	r->lon = r->has_location ? db_column_double(st, 13) : 0;
	snprintf(r->address_id, sizeof r->address_id, "%s", db_column_text(st, 14));
	snprintf(r->media_url, sizeof r->media_url, "%s", db_column_text(st, 15));
	int64_t master = db_column_is_null(st, 16) ? 0 : db_column_int64(st, 16);
	int64_t category = db_column_is_null(st, 17) ? 0 : db_column_int64(st, 17);
	char type[16];
	snprintf(type, sizeof type, "%s", db_column_text(st, 18));
	if (merged && master) {
		char note[96];
		snprintf(note, sizeof note, "重复诉求，已并入 %" PRId64 " 号诉求一并办理", master);
		r->status_notes = xstrdup(note);
	} else if (!db_column_is_null(st, 19))
		r->status_notes = xstrdup(db_column_text(st, 19));
	int days = 0;
	int rc = notice_days(db, tenant, category, type, nc, &days, e);
	if (rc) {
		open311_request_release(r);
		return rc;
	}
	if (!r->closed)
		open311_notice(days, r->service_notice, sizeof r->service_notice);
	return 0;
}

void open311_request_release(struct open311_request *r)
{
	if (!r)
		return;
	free(r->description);
	free(r->status_notes);
	r->description = r->status_notes = NULL;
}

static int get_one(struct db *db, int64_t tenant_id, int64_t id, struct notice_cache *nc,
		   struct open311_request *out, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, "SELECT " PUB_COLS PUB_FROM "AND r.id = $2", "ii", tenant_id,
			   id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		rc = read_pub(db, tenant_id, st, nc, out, e);
	else if (rc == DB_DONE)
		rc = err_set(e, ERR_NOT_FOUND, "service_request_id", "找不到诉求 %" PRId64,
			     "service_request_id %" PRId64 " not found", id);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int open311_request_get(struct db *db, int64_t tenant_id, int64_t id,
			struct open311_request *out, struct err *e)
{
	struct notice_cache nc = {0};
	return get_one(db, tenant_id, id, &nc, out, e);
}

int open311_token_get(struct db *db, int64_t tenant_id, const char *token, int64_t *id,
		      struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, "SELECT r.id " PUB_FROM "AND r.number = $2", "it", tenant_id,
			   token);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		*id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "token", "找不到令牌“%.40s”", "token '%.40s' not found",
			       token);
	return rc < 0 ? rc : 0;
}

int open311_query_finish(struct open311_query *q, int64_t now, struct err *e)
{
	if (q->page < 1)
		q->page = 1;
	if (q->page_size < 1 || q->page_size > 1000)
		q->page_size = 1000;
	if (q->nids)
		return 0; /* the ids override every other argument */
	if (q->has_start && q->has_end) {
		if (q->end < q->start)
			return err_set(e, ERR_BAD_REQUEST, "end_date", "end_date 早于 start_date",
				       "end_date is before start_date");
		if (q->end - q->start > OPEN311_MAX_SPAN_MS)
			return err_set(e, ERR_BAD_REQUEST, "end_date",
				       "start_date 到 end_date 不能超过 90 天",
				       "start_date to end_date may not span more than 90 days");
	} else if (q->has_start) {
		q->end = q->start + OPEN311_MAX_SPAN_MS;
		q->has_end = true;
	} else if (q->has_end) {
		q->start = q->end - OPEN311_MAX_SPAN_MS;
		q->has_start = true;
	} else if (!q->has_updated_after && !q->has_updated_before) {
		q->start = now - OPEN311_MAX_SPAN_MS;
		q->has_start = true;
	}
	if (q->has_updated_after && q->has_updated_before && q->updated_before <= q->updated_after)
		return err_set(e, ERR_BAD_REQUEST, "updated_before",
			       "updated_before 应晚于 updated_after",
			       "updated_before must be after updated_after");
	return 0;
}

/*
 * Two statements, absent filters as neutral values. Without updated_* the
 * newest requests come first (the received_at index); with them, the oldest
 * change first (the updated_at index): a client syncing changes pages
 * through a list that only grows at its end. The page is chosen on the
 * index alone, then only its rows are read in full (the notes' subquery runs
 * for them only).
 */
#define LIST_FILTER                                                                           \
	"AND ($2 = 0 OR COALESCE(NULLIF(c.open311_code, ''), o.service_code) IN "             \
	"($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)) "          \
	"AND r.received_at >= $19 AND r.received_at <= $20 "                                  \
	"AND ($21 = 0 OR ($21 = 1 AND r.state NOT IN ('closed', 'merged', 'voided')) "        \
	"OR ($21 = 2 AND r.state IN ('closed', 'merged', 'voided'))) "
#define LIST_SQL(key, dir, extra)                                                             \
	"SELECT " PUB_COLS "FROM (SELECT r.id, r." key " AS k " PUB_FROM LIST_FILTER extra      \
	"ORDER BY r." key " " dir ", r.id " dir " LIMIT $22 OFFSET $23) p "                    \
	"JOIN requests r ON r.id = p.id " PUB_JOINS "ORDER BY p.k " dir ", p.id " dir

int open311_request_list(struct db *db, int64_t tenant_id, const struct open311_query *q,
			 int (*each)(const struct open311_request *r, void *ctx), void *ctx,
			 struct err *e)
{
	struct notice_cache nc = {0};
	struct open311_request r;
	int rc = 0;
	if (q->nids) {
		for (size_t i = 0; i < q->nids; i++) {
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = q->ids[j] == q->ids[i];
			if (seen)
				continue;
			rc = get_one(db, tenant_id, q->ids[i], &nc, &r, e);
			if (rc == ERR_NOT_FOUND) {
				err_clear(e);
				continue;
			}
			if (rc)
				return rc;
			int stop = each(&r, ctx);
			open311_request_release(&r);
			if (stop)
				break;
		}
		return 0;
	}
	struct db_args a = {0};
	db_args_int(&a, tenant_id);
	db_args_int(&a, (int64_t)q->ncodes);
	for (size_t i = 0; i < OPEN311_MAX_CODES; i++)
		db_args_text(&a, i < q->ncodes ? q->codes[i] : "");
	db_args_int(&a, q->has_start ? q->start : INT64_MIN);
	db_args_int(&a, q->has_end ? q->end : INT64_MAX);
	db_args_int(&a, q->open == q->closed ? 0 : q->open ? 1 : 2);
	int64_t page = q->page < 1 ? 1 : q->page > 1000000 ? 1000000 : q->page;
	int64_t size = q->page_size < 1 || q->page_size > 1000 ? 1000 : q->page_size;
	db_args_int(&a, size);
	db_args_int(&a, (page - 1) * size);
	bool updated = q->has_updated_after || q->has_updated_before;
	if (updated) {
		db_args_int(&a, q->has_updated_after ? q->updated_after : INT64_MIN);
		db_args_int(&a, q->has_updated_before ? q->updated_before : INT64_MAX);
	}
	struct db_stmt *st = NULL;
	if ((rc = db_query_args(db, &st, e,
				updated ? LIST_SQL("updated_at", "ASC",
						   "AND r.updated_at > $24 AND r.updated_at < $25 ")
					: LIST_SQL("received_at", "DESC", ""),
				&a)))
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if ((rc = read_pub(db, tenant_id, st, &nc, &r, e)))
			break;
		int stop = each(&r, ctx);
		open311_request_release(&r);
		if (stop)
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
