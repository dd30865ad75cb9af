/*
 * enterprise.c — the registry of market entities (see enterprise.h).
 *
 * Writes normalise the input into a whole struct enterprise (defaults on
 * create, the stored record plus the changes on update), compare it field
 * by field with what is stored, and write only when something changed: the
 * row (version + 1), its tags, a version row with the changes and a
 * snapshot, and an audit row — all in the caller's write job.
 */
#include "core/enterprise.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/creditcode.h"
#include "core/grid.h"
#include "core/visit.h"
#include "db/db.h"
#include "base/banned.h"

/* ---- catalogues ---- */

static const struct {
	const char *code, *zh;
	int first, last; /* divisions */
} sections[] = {
	{"A", "农、林、牧、渔业", 1, 5},
	{"B", "采矿业", 6, 12},
	{"C", "制造业", 13, 43},
	{"D", "电力、热力、燃气及水生产和供应业", 44, 46},
	{"E", "建筑业", 47, 50},
	{"F", "批发和零售业", 51, 52},
	{"G", "交通运输、仓储和邮政业", 53, 60},
	{"H", "住宿和餐饮业", 61, 62},
	{"I", "信息传输、软件和信息技术服务业", 63, 65},
	{"J", "金融业", 66, 69},
	{"K", "房地产业", 70, 70},
	{"L", "租赁和商务服务业", 71, 72},
	{"M", "科学研究和技术服务业", 73, 75},
	{"N", "水利、环境和公共设施管理业", 76, 79},
	{"O", "居民服务、修理和其他服务业", 80, 82},
	{"P", "教育", 83, 83},
	{"Q", "卫生和社会工作", 84, 85},
	{"R", "文化、体育和娱乐业", 86, 90},
	{"S", "公共管理、社会保障和社会组织", 91, 96},
	{"T", "国际组织", 97, 97},
};

static const char *const kinds[][2] = {
	{"enterprise", "企业"}, {"individual", "个体工商户"}, {"cooperative", "农民专业合作社"}};
static const char *const sizes[][2] = {
	{"large", "大型"}, {"medium", "中型"}, {"small", "小型"}, {"micro", "微型"}};
static const char *const statuses[][2] = {
	{"active", "存续"}, {"moved_out", "迁出"}, {"deregistered", "注销"}, {"revoked", "吊销"}};

static const char *label(const char *const (*t)[2], size_t n, const char *code)
{
	for (size_t i = 0; code && i < n; i++)
		if (strcmp(t[i][0], code) == 0)
			return t[i][1];
	return NULL;
}

const char *enterprise_kind_zh(const char *k)
{
	return label(kinds, ARRAY_SIZE(kinds), k);
}

const char *enterprise_size_zh(const char *s)
{
	return label(sizes, ARRAY_SIZE(sizes), s);
}

const char *enterprise_status_zh(const char *s)
{
	return label(statuses, ARRAY_SIZE(statuses), s);
}

const char *industry_section_zh(const char *s)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(sections); i++)
		if (strcmp(sections[i].code, s) == 0)
			return sections[i].zh;
	return NULL;
}

static int division_number(const char *d)
{
	if (!d || strlen(d) != 2 || !isdigit((unsigned char)d[0]) || !isdigit((unsigned char)d[1]))
		return -1;
	return (d[0] - '0') * 10 + (d[1] - '0');
}

/* The section a division belongs to, NULL if none. */
static const char *section_of(const char *division)
{
	int n = division_number(division);
	for (size_t i = 0; n > 0 && i < ARRAY_SIZE(sections); i++)
		if (n >= sections[i].first && n <= sections[i].last)
			return sections[i].code;
	return NULL;
}

bool industry_division_valid(const char *section, const char *division)
{
	const char *s = section_of(division);
	return s && (!section || !*section || strcmp(s, section) == 0);
}

/* ---- validation ---- */

static int check_text(const char *v, const char *field, size_t max_chars, bool required,
		      const char *zh, struct err *e)
{
	char mzh[160], men[160];
	if (!v) {
		if (!required)
			return 0;
		snprintf(mzh, sizeof mzh, "缺少必填字段“%s”（%s）", field, zh);
		snprintf(men, sizeof men, "missing required field '%s'", field);
		return err_set_msg(e, ERR_BAD_REQUEST, field, mzh, men);
	}
	size_t n = strlen(v);
	if (!utf8_valid(v, n)) {
		snprintf(mzh, sizeof mzh, "%s不是有效的 UTF-8 文本", zh);
		snprintf(men, sizeof men, "'%s' is not valid UTF-8", field);
		return err_set_msg(e, ERR_UNPROCESSABLE, field, mzh, men);
	}
	if (required && v[strspn(v, " \t\r\n")] == '\0') {
		snprintf(mzh, sizeof mzh, "%s不能为空", zh);
		snprintf(men, sizeof men, "'%s' must not be empty", field);
		return err_set_msg(e, ERR_UNPROCESSABLE, field, mzh, men);
	}
	if (utf8_len(v, n) > max_chars) {
		snprintf(mzh, sizeof mzh, "%s不能超过 %zu 个字符", zh, max_chars);
		snprintf(men, sizeof men, "'%s' must not exceed %zu characters", field, max_chars);
		return err_set_msg(e, ERR_UNPROCESSABLE, field, mzh, men);
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 && v[i] != '\t') {
			snprintf(mzh, sizeof mzh, "%s含有控制字符", zh);
			snprintf(men, sizeof men, "'%s' contains control characters", field);
			return err_set_msg(e, ERR_UNPROCESSABLE, field, mzh, men);
		}
	return 0;
}

static bool in_set(const char *const (*t)[2], size_t n, const char *v)
{
	return label(t, n, v) != NULL;
}

static bool valid_date(const char *s)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return false;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1)
		return false;
	int max = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	return d <= max;
}

static int check_phone(const char *p, struct err *e)
{
	size_t n = strlen(p), digits = 0;
	if (!n)
		return 0;
	bool ok = n <= 20;
	for (size_t i = 0; ok && i < n; i++) {
		if (isdigit((unsigned char)p[i]))
			digits++;
		else
			ok = (i == 0 && p[i] == '+') || p[i] == '-' || p[i] == ' ';
	}
	if (!ok || digits < 5)
		return err_set(e, ERR_UNPROCESSABLE, "phone", "联系电话格式不正确",
			       "phone must be 5 to 20 digits (may start with + and contain - or spaces)");
	return 0;
}

/* Split tags on , ， ; ； and normalise into out ("a,b"); validate. */
static int normalise_tags(const char *in, char *out, size_t outsz, struct err *e)
{
	char tags[10][64];
	int n = 0;
	const char *p = in;
	out[0] = '\0';
	while (*p) {
		size_t len = 0;
		const char *q = p;
		while (*q && *q != ',' && *q != ';' && strncmp(q, "，", 3) && strncmp(q, "；", 3))
			q++;
		const char *s = p, *t = q;
		while (s < t && isspace((unsigned char)*s))
			s++;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		len = (size_t)(t - s);
		if (len) {
			if (utf8_len(s, len) > 16 || len >= sizeof tags[0])
				return err_set(e, ERR_UNPROCESSABLE, "tags", "每个标签不能超过 16 个字符",
					       "each tag must have at most 16 characters");
			char tag[64];
			memcpy(tag, s, len);
			tag[len] = '\0';
			bool dup = false;
			for (int k = 0; k < n; k++)
				dup |= strcmp(tags[k], tag) == 0;
			if (!dup) {
				if (n == 10)
					return err_set(e, ERR_UNPROCESSABLE, "tags", "标签不能超过 10 个",
						       "at most 10 tags");
				memcpy(tags[n++], tag, len + 1);
			}
		}
		if (!*q)
			break;
		p = q + ((*q == ',' || *q == ';') ? 1 : 3);
	}
	struct buf b;
	buf_init(&b, outsz - 1);
	for (int k = 0; k < n; k++) {
		if (k)
			buf_addc(&b, ',');
		buf_adds(&b, tags[k]);
	}
	snprintf(out, outsz, "%s", b.p);
	buf_release(&b);
	return 0;
}

int enterprise_validate(const struct enterprise_input *in, bool create, struct err *e)
{
	int rc;
	char tags[512];

	if (create || in->credit_code) {
		struct credit_result cr;
		bool warn;
		if (!in->credit_code)
			return err_set(e, ERR_BAD_REQUEST, "credit_code", "缺少必填字段“credit_code”",
				       "missing required field 'credit_code'");
		rc = credit_code_validate(in->credit_code, in->override_check, "credit_code", &cr,
					  &warn, e);
		if (rc)
			return rc;
	}
	if ((rc = check_text(in->name, "name", 100, create || in->name, "企业名称", e)) ||
	    (rc = check_text(in->legal_rep, "legal_rep", 32, false, "法定代表人", e)) ||
	    (rc = check_text(in->address, "address", 128, false, "地址", e)))
		return rc;
	if (in->kind && !in_set(kinds, ARRAY_SIZE(kinds), in->kind))
		return err_set(e, ERR_UNPROCESSABLE, "kind",
			       "类型应为 enterprise（企业）、individual（个体工商户）或 cooperative（农民专业合作社）",
			       "kind must be enterprise, individual or cooperative");
	if (in->phone && (rc = check_phone(in->phone, e)))
		return rc;
	if (in->set_location) {
		if (!isfinite(in->lat) || in->lat < -90 || in->lat > 90)
			return err_set(e, ERR_UNPROCESSABLE, "lat", "纬度应在 -90 到 90 之间",
				       "lat must be between -90 and 90");
		if (!isfinite(in->lon) || in->lon < -180 || in->lon > 180)
			return err_set(e, ERR_UNPROCESSABLE, "lon", "经度应在 -180 到 180 之间",
				       "lon must be between -180 and 180");
	}
	if (in->industry_section && *in->industry_section &&
	    !industry_section_zh(in->industry_section))
		return err_set(e, ERR_UNPROCESSABLE, "industry_section",
			       "行业门类应为 GB/T 4754 的 A 到 T", "industry_section must be a GB/T 4754 section A to T");
	if (in->industry_division && *in->industry_division &&
	    !industry_division_valid(in->industry_section, in->industry_division))
		return err_set(e, ERR_UNPROCESSABLE, "industry_division",
			       "行业大类“%s”无效或不属于所选门类",
			       "industry_division '%s' is not a GB/T 4754 division of the section",
			       in->industry_division);
	if (in->size_class && *in->size_class && !in_set(sizes, ARRAY_SIZE(sizes), in->size_class))
		return err_set(e, ERR_UNPROCESSABLE, "size_class", "规模应为 large、medium、small 或 micro",
			       "size_class must be large, medium, small or micro");
	if (in->registered_on && *in->registered_on && !valid_date(in->registered_on))
		return err_set(e, ERR_UNPROCESSABLE, "registered_on", "成立日期应为有效日期 YYYY-MM-DD",
			       "registered_on must be a valid date YYYY-MM-DD");
	if (in->status && !in_set(statuses, ARRAY_SIZE(statuses), in->status))
		return err_set(e, ERR_UNPROCESSABLE, "status",
			       "状态应为 active（存续）、moved_out（迁出）、deregistered（注销）或 revoked（吊销）",
			       "status must be active, moved_out, deregistered or revoked");
	if (in->tags && (rc = normalise_tags(in->tags, tags, sizeof tags, e)))
		return rc;
	return 0;
}

/* ---- reading ---- */

#define ENT_COLS                                                                              \
	"e.id, e.tenant_id, e.credit_code, e.credit_code_ok, e.name, e.kind, e.legal_rep, "   \
	"e.phone, e.address, e.lat, e.lon, e.industry_section, e.industry_division, "         \
	"e.size_class, e.registered_on, e.status, e.is_key, e.tags, e.grid_id, e.version, "   \
	"e.created_at, e.updated_at, COALESCE((SELECT path FROM grids WHERE id = e.grid_id), '')"

#define COPY(dst, col) snprintf((dst), sizeof(dst), "%s", db_column_text(st, (col)))

static void read_row(struct db_stmt *st, struct enterprise *en)
{
	memset(en, 0, sizeof *en);
	en->id = db_column_int64(st, 0);
	en->tenant_id = db_column_int64(st, 1);
	COPY(en->credit_code, 2);
	en->credit_code_ok = db_column_int64(st, 3) != 0;
	COPY(en->name, 4);
	COPY(en->kind, 5);
	COPY(en->legal_rep, 6);
	COPY(en->phone, 7);
	COPY(en->address, 8);
	en->has_location = !db_column_is_null(st, 9) && !db_column_is_null(st, 10);
	en->lat = en->has_location ? db_column_double(st, 9) : 0;
	en->lon = en->has_location ? db_column_double(st, 10) : 0;
	COPY(en->industry_section, 11);
	COPY(en->industry_division, 12);
	COPY(en->size_class, 13);
	COPY(en->registered_on, 14);
	COPY(en->status, 15);
	en->is_key = db_column_int64(st, 16) != 0;
	COPY(en->tags, 17);
	en->grid_id = db_column_is_null(st, 18) ? 0 : db_column_int64(st, 18);
	en->version = db_column_int64(st, 19);
	en->created_at = db_column_int64(st, 20);
	en->updated_at = db_column_int64(st, 21);
	COPY(en->grid_path, 22);
}

static int get_where(struct db *db, struct enterprise *out, struct err *e, const char *where,
		     const char *types, int64_t tenant, int64_t id, const char *code)
{
	struct db_stmt *st = NULL;
	char sql[768];
	snprintf(sql, sizeof sql, "SELECT " ENT_COLS " FROM enterprises e WHERE %s", where);
	int rc = code ? db_queryf(db, &st, e, sql, types, tenant, code)
		      : db_queryf(db, &st, e, sql, types, tenant, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_row(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, code ? "credit_code" : "id", "找不到该企业",
			       "no such enterprise");
	return rc < 0 ? rc : 0;
}

int enterprise_get(struct db *db, int64_t tenant_id, int64_t id, struct enterprise *out,
		   struct err *e)
{
	return get_where(db, out, e, "e.tenant_id = $1 AND e.id = $2", "ii", tenant_id, id, NULL);
}

int enterprise_get_by_code(struct db *db, int64_t tenant_id, const char *credit_code,
			   struct enterprise *out, struct err *e)
{
	struct credit_result cr;
	credit_code_check(credit_code, &cr);
	return get_where(db, out, e, "e.tenant_id = $1 AND e.credit_code = $2", "it", tenant_id, 0,
			 cr.normalized[0] ? cr.normalized : credit_code);
}

/* ---- JSON ---- */

static json_t *mask_phone(const char *p)
{
	size_t n = strlen(p);
	char m[40];
	if (!n)
		return json_string("");
	if (n < 7)
		return json_string("****");
	snprintf(m, sizeof m, "%.3s****%s", p, p + n - 4);
	return json_string(m);
}

static json_t *mask_name(const char *name)
{
	size_t n = strlen(name), first = 1;
	char m[64];
	if (!n)
		return json_string("");
	while (first < n && ((unsigned char)name[first] & 0xC0) == 0x80)
		first++;
	snprintf(m, sizeof m, "%.*s**", (int)first, name);
	return json_string(m);
}

static json_t *opt_str(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *enterprise_json(const struct enterprise *en, bool masked)
{
	json_t *tags = json_array();
	char buf[512];
	snprintf(buf, sizeof buf, "%s", en->tags);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(tags, json_string(t));
	const char *sec = industry_section_zh(en->industry_section);
	json_t *j = json_pack(
		"{s:I,s:s,s:b,s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:b,s:o,"
		"s:o,s:I,s:I,s:I}",
		"id", (json_int_t)en->id, "credit_code", en->credit_code, "credit_code_ok",
		en->credit_code_ok, "name", en->name, "kind", en->kind, "kind_zh",
		enterprise_kind_zh(en->kind) ? enterprise_kind_zh(en->kind) : "", "legal_rep",
		masked ? mask_name(en->legal_rep) : json_string(en->legal_rep), "phone",
		masked ? mask_phone(en->phone) : json_string(en->phone), "address", en->address,
		"lat", en->has_location ? json_real(en->lat) : json_null(), "lon",
		en->has_location ? json_real(en->lon) : json_null(), "industry_section",
		opt_str(en->industry_section), "industry_section_zh",
		sec ? json_string(sec) : json_null(), "industry_division",
		opt_str(en->industry_division), "size_class", opt_str(en->size_class),
		"registered_on", opt_str(en->registered_on), "status", en->status, "status_zh",
		enterprise_status_zh(en->status) ? enterprise_status_zh(en->status) : "", "is_key",
		en->is_key, "tags", tags, "grid_id",
		en->grid_id ? json_integer(en->grid_id) : json_null(), "version",
		(json_int_t)en->version, "created_at", (json_int_t)en->created_at, "updated_at",
		(json_int_t)en->updated_at);
	return j;
}

/* ---- writing ---- */

/* Apply the input to rec (the stored record, or defaults on create). */
static int apply(struct enterprise *rec, const struct enterprise_input *in, bool contact_only,
		 bool *code_warning, struct err *e)
{
	struct credit_result cr;
#define SET(field, v)                                                                        \
	do {                                                                                 \
		if (v)                                                                       \
			snprintf(rec->field, sizeof rec->field, "%s", (v));                  \
	} while (0)

	if (contact_only && (in->credit_code || in->name || in->kind || in->industry_section ||
			     in->industry_division || in->size_class || in->registered_on ||
			     in->status || in->tags || in->set_location || in->clear_location ||
			     in->set_key || in->legal_rep))
		return err_set(e, ERR_FORBIDDEN, NULL, "企业只能修改联系电话和地址",
			       "an enterprise may change only its phone and address");
	if (in->credit_code) {
		bool warn = false;
		int rc = credit_code_validate(in->credit_code, in->override_check, "credit_code", &cr,
					      &warn, e);
		if (rc)
			return rc;
		snprintf(rec->credit_code, sizeof rec->credit_code, "%s", cr.normalized);
		rec->credit_code_ok = !warn;
		*code_warning = warn;
		if (!in->kind && !rec->kind[0] && cr.entity_type[0])
			snprintf(rec->kind, sizeof rec->kind, "%s", cr.entity_type);
	}
	SET(name, in->name);
	SET(kind, in->kind);
	SET(legal_rep, in->legal_rep);
	SET(phone, in->phone);
	SET(address, in->address);
	SET(industry_section, in->industry_section);
	SET(industry_division, in->industry_division);
	if (in->industry_division && *in->industry_division && !rec->industry_section[0])
		snprintf(rec->industry_section, sizeof rec->industry_section, "%s",
			 section_of(in->industry_division));
	SET(size_class, in->size_class);
	SET(registered_on, in->registered_on);
	SET(status, in->status);
	if (in->tags && normalise_tags(in->tags, rec->tags, sizeof rec->tags, e))
		return e->code;
	if (in->set_location) {
		rec->has_location = true;
		rec->lat = in->lat;
		rec->lon = in->lon;
	} else if (in->clear_location)
		rec->has_location = false;
	if (in->set_key)
		rec->is_key = in->is_key;
	if (!rec->kind[0])
		snprintf(rec->kind, sizeof rec->kind, "enterprise");
	if (!rec->status[0])
		snprintf(rec->status, sizeof rec->status, "active");
	/* the section must still agree with the division after a partial update */
	if (rec->industry_division[0] &&
	    !industry_division_valid(rec->industry_section, rec->industry_division))
		return err_set(e, ERR_UNPROCESSABLE, "industry_division",
			       "行业大类“%s”不属于门类“%s”",
			       "industry_division '%s' is not in section '%s'", rec->industry_division,
			       rec->industry_section);
#undef SET
	return 0;
}

static void diff_str(json_t *d, const char *field, const char *a, const char *b)
{
	if (strcmp(a, b) != 0)
		json_object_set_new(d, field, json_pack("[s,s]", a, b));
}

/* The changed fields {field:[old,new]} between two records. */
static json_t *diff(const struct enterprise *o, const struct enterprise *n)
{
	json_t *d = json_object();
	diff_str(d, "credit_code", o->credit_code, n->credit_code);
	diff_str(d, "name", o->name, n->name);
	diff_str(d, "kind", o->kind, n->kind);
	diff_str(d, "legal_rep", o->legal_rep, n->legal_rep);
	diff_str(d, "phone", o->phone, n->phone);
	diff_str(d, "address", o->address, n->address);
	diff_str(d, "industry_section", o->industry_section, n->industry_section);
	diff_str(d, "industry_division", o->industry_division, n->industry_division);
	diff_str(d, "size_class", o->size_class, n->size_class);
	diff_str(d, "registered_on", o->registered_on, n->registered_on);
	diff_str(d, "status", o->status, n->status);
	diff_str(d, "tags", o->tags, n->tags);
	if (o->credit_code_ok != n->credit_code_ok)
		json_object_set_new(d, "credit_code_ok",
				    json_pack("[b,b]", o->credit_code_ok, n->credit_code_ok));
	if (o->is_key != n->is_key)
		json_object_set_new(d, "is_key", json_pack("[b,b]", o->is_key, n->is_key));
	if (o->has_location != n->has_location ||
	    (n->has_location && (o->lat != n->lat || o->lon != n->lon)))
		json_object_set_new(
			d, "location",
			json_pack("[o,o]",
				  o->has_location ? json_pack("[f,f]", o->lat, o->lon) : json_null(),
				  n->has_location ? json_pack("[f,f]", n->lat, n->lon) : json_null()));
	return d;
}

static int write_tags(struct db *db, const struct enterprise *en, struct err *e)
{
	char buf[512];
	int rc = db_execf(db, e, "DELETE FROM enterprise_tags WHERE tenant_id = $1 AND enterprise_id = $2",
			  "ii", en->tenant_id, en->id);
	snprintf(buf, sizeof buf, "%s", en->tags);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); !rc && t;
	     t = strtok_r(NULL, ",", &save))
		rc = db_execf(db, e,
			      "INSERT INTO enterprise_tags (tenant_id, enterprise_id, tag) VALUES ($1, $2, $3)",
			      "iit", en->tenant_id, en->id, t);
	return rc;
}

static int write_version(struct db *db, const struct enterprise_write *w,
			 const struct enterprise *en, json_t *changes, struct err *e)
{
	json_t *snap = enterprise_json(en, false);
	json_object_del(snap, "created_at");
	json_object_del(snap, "updated_at");
	char *c = json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS);
	char *s = json_dumps(snap, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = db_execf(db, e,
			  "INSERT INTO enterprise_versions (tenant_id, enterprise_id, version, "
			  "changed_at, actor_id, actor_login, source, changes, snapshot) "
			  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			  "iiiiittt" "t", en->tenant_id, en->id, en->version, w->now,
			  w->who ? w->who->user_id : (int64_t)0, w->who ? w->who->login : "",
			  w->source ? w->source : "api", c ? c : "{}", s ? s : "{}");
	if (!rc) {
		json_t *sum = json_pack("{s:I,s:O,s:s}", "version", (json_int_t)en->version,
					"changes", changes, "source", w->source ? w->source : "api");
		rc = audit_append(db, w->who, en->tenant_id, "enterprise", en->id,
				  en->version == 1 ? "create" : "update", sum, e);
		json_decref(sum);
	}
	free(c);
	free(s);
	json_decref(snap);
	return rc;
}

static int insert(struct db *db, struct enterprise_write *w, struct enterprise *rec,
		  struct err *e)
{
	struct db_stmt *st = NULL;
	char secret[64];
	random_token(secret, sizeof secret, 32);
	rec->tenant_id = w->tenant_id;
	rec->version = 1;
	rec->created_at = rec->updated_at = w->now;
	struct db_args a = {0};
	struct buf sql;
	buf_init(&sql, 0);
	buf_addf(&sql,
		 "INSERT INTO enterprises (tenant_id, credit_code, credit_code_ok, name, kind, "
		 "legal_rep, phone, address, lat, lon, industry_section, industry_division, "
		 "size_class, registered_on, status, is_key, tags, checkin_secret, version, "
		 "created_at, updated_at) VALUES ($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, ",
		 db_args_int(&a, rec->tenant_id), db_args_text(&a, rec->credit_code),
		 db_args_int(&a, rec->credit_code_ok), db_args_text(&a, rec->name),
		 db_args_text(&a, rec->kind), db_args_text(&a, rec->legal_rep),
		 db_args_text(&a, rec->phone), db_args_text(&a, rec->address));
	if (rec->has_location)
		buf_addf(&sql, "$%d, $%d, ", db_args_double(&a, rec->lat),
			 db_args_double(&a, rec->lon));
	else
		buf_adds(&sql, "NULL, NULL, ");
	buf_addf(&sql, "$%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, 1, $%d, $%d) RETURNING id",
		 db_args_text(&a, rec->industry_section), db_args_text(&a, rec->industry_division),
		 db_args_text(&a, rec->size_class), db_args_text(&a, rec->registered_on),
		 db_args_text(&a, rec->status), db_args_int(&a, rec->is_key),
		 db_args_text(&a, rec->tags), db_args_text(&a, secret),
		 db_args_int(&a, rec->created_at), db_args_int(&a, rec->updated_at));
	int rc = db_query_args(db, &st, e, sql.p, &a);
	buf_release(&sql);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		rec->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	w->id = rec->id;
	if (rec->has_location &&
	    (rc = grid_place_enterprise(db, rec->tenant_id, rec->id, true, rec->lon, rec->lat, e)))
		return rc;
	rc = write_tags(db, rec, e);
	if (!rc) /* its visit duty (走访), from the policies */
		rc = visit_state_refresh(db, rec->tenant_id, rec->id, e);
	if (rc)
		return rc;
	json_t *changes = json_object();
	rc = write_version(db, w, rec, changes, e);
	json_decref(changes);
	return rc;
}

static int update_row(struct db *db, struct enterprise_write *w, const struct enterprise *old,
		      struct enterprise *rec, struct err *e)
{
	json_t *changes = diff(old, rec);
	int rc = 0;
	if (json_object_size(changes) == 0) {
		w->outcome = ENTERPRISE_UNCHANGED;
		goto out;
	}
	rec->version = old->version + 1;
	rec->updated_at = w->now;
	struct db_args a = {0};
	struct buf sql;
	buf_init(&sql, 0);
	buf_addf(&sql,
		 "UPDATE enterprises SET credit_code = $%d, credit_code_ok = $%d, name = $%d, "
		 "kind = $%d, legal_rep = $%d, phone = $%d, address = $%d, ",
		 db_args_text(&a, rec->credit_code), db_args_int(&a, rec->credit_code_ok),
		 db_args_text(&a, rec->name), db_args_text(&a, rec->kind),
		 db_args_text(&a, rec->legal_rep), db_args_text(&a, rec->phone),
		 db_args_text(&a, rec->address));
	if (rec->has_location)
		buf_addf(&sql, "lat = $%d, lon = $%d, ", db_args_double(&a, rec->lat),
			 db_args_double(&a, rec->lon));
	else
		buf_adds(&sql, "lat = NULL, lon = NULL, ");
	buf_addf(&sql,
		 "industry_section = $%d, industry_division = $%d, size_class = $%d, "
		 "registered_on = $%d, status = $%d, is_key = $%d, tags = $%d, version = $%d, "
		 "updated_at = $%d WHERE tenant_id = $%d AND id = $%d AND version = $%d",
		 db_args_text(&a, rec->industry_section), db_args_text(&a, rec->industry_division),
		 db_args_text(&a, rec->size_class), db_args_text(&a, rec->registered_on),
		 db_args_text(&a, rec->status), db_args_int(&a, rec->is_key),
		 db_args_text(&a, rec->tags), db_args_int(&a, rec->version),
		 db_args_int(&a, rec->updated_at), db_args_int(&a, rec->tenant_id),
		 db_args_int(&a, rec->id), db_args_int(&a, old->version));
	struct db_stmt *st = NULL;
	rc = db_query_args(db, &st, e, sql.p, &a);
	buf_release(&sql);
	if (!rc) {
		rc = db_step(st, e);
		db_finalize(st);
		rc = rc < 0 ? rc : 0;
	}
	if (!rc && (old->has_location != rec->has_location || old->lat != rec->lat ||
		    old->lon != rec->lon)) /* moved: placed again in its unit grid */
		rc = grid_place_enterprise(db, rec->tenant_id, rec->id, rec->has_location, rec->lon,
					   rec->lat, e);
	if (!rc && strcmp(old->tags, rec->tags) != 0)
		rc = write_tags(db, rec, e);
	if (!rc) /* status, key, tags, size, industry, registration: the visit duty may change */
		rc = visit_state_refresh(db, rec->tenant_id, rec->id, e);
	if (!rc)
		rc = write_version(db, w, rec, changes, e);
	w->outcome = ENTERPRISE_UPDATED;
out:
	json_decref(changes);
	return rc;
}

int enterprise_create(struct db *db, void *arg, struct err *e)
{
	struct enterprise_write *w = arg;
	struct enterprise rec;
	int rc = enterprise_validate(&w->in, true, e);
	if (rc)
		return rc;
	memset(&rec, 0, sizeof rec);
	rc = apply(&rec, &w->in, false, &w->credit_warning, e);
	if (rc)
		return rc;
	struct enterprise dup;
	struct err e2;
	if (enterprise_get_by_code(db, w->tenant_id, rec.credit_code, &dup, &e2) == 0)
		return err_set(e, ERR_CONFLICT, "credit_code", "统一社会信用代码 %s 已登记（企业 %" PRId64 "）",
			       "credit code %s is already registered (enterprise %" PRId64 ")",
			       rec.credit_code, dup.id);
	w->outcome = ENTERPRISE_CREATED;
	return insert(db, w, &rec, e);
}

/* ---- bulk loading ---- */

struct enterprise_loader {
	struct db *db;
	int64_t next_id;
	struct db_bulk rows, tags;
	uint64_t *codes;       /* hashes of the credit codes loaded (open addressing, 0 empty) */
	size_t ncodes, capcodes;
	struct db_index_set indexes; /* set aside while loading */
	char *fts_trigger;     /* the name index's insert trigger, set aside (SQLite) */
};

/*
 * The name search index (SQLite's FTS5, kept by triggers) is built once at the
 * end rather than row by row: its insert trigger is set aside while loading,
 * and the index rebuilt from the table when the loader closes.
 */
static int fts_aside(struct db *db, char **saved, struct err *e)
{
	struct db_stmt *st = NULL;
	*saved = NULL;
	if (strcmp(db_backend_name(db), "sqlite") != 0)
		return 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND "
			   "name = 'enterprise_fts_ai'",
			   NULL);
	if (!rc && (rc = db_step(st, e)) == DB_ROW)
		*saved = xstrdup(db_column_text(st, 0));
	db_finalize(st);
	if (rc < 0)
		return rc;
	return *saved ? db_exec(db, "DROP TRIGGER enterprise_fts_ai", e) : 0;
}

static int fts_restore(struct db *db, char **saved, struct err *e)
{
	int rc = 0;
	if (*saved && !(rc = db_exec(db, *saved, e)))
		rc = db_exec(db, "INSERT INTO enterprise_fts (enterprise_fts) VALUES ('rebuild')", e);
	free(*saved);
	*saved = NULL;
	return rc;
}

static uint64_t code_hash(const char *code)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *code; code++)
		h = (h ^ (unsigned char)*code) * 1099511628211ULL;
	return h ? h : 1;
}

/* Add the code's hash; false if it was there. */
static bool codes_add(struct enterprise_loader *l, uint64_t h)
{
	if (2 * (l->ncodes + 1) > l->capcodes) {
		size_t old = l->capcodes;
		uint64_t *o = l->codes;
		l->capcodes = old ? 2 * old : 1 << 16;
		l->codes = xcalloc(l->capcodes, sizeof *l->codes);
		for (size_t i = 0; i < old; i++)
			if (o[i])
				for (size_t k = o[i] & (l->capcodes - 1);; k = (k + 1) & (l->capcodes - 1))
					if (!l->codes[k]) {
						l->codes[k] = o[i];
						break;
					}
		free(o);
	}
	for (size_t k = h & (l->capcodes - 1);; k = (k + 1) & (l->capcodes - 1)) {
		if (l->codes[k] == h)
			return false;
		if (!l->codes[k]) {
			l->codes[k] = h;
			l->ncodes++;
			return true;
		}
	}
}

int enterprise_loader_open(struct db *db, struct enterprise_loader **out, struct err *e)
{
	struct db_index_set aside = {0};
	int64_t max = 0;
	int rc = db_query_i64(db, &max, e, "SELECT COALESCE(MAX(id), 0) FROM enterprises", NULL);
	*out = NULL;
	if (!rc)
		rc = db_indexes_drop(db, "enterprises", &aside, e);
	if (!rc)
		rc = db_indexes_drop(db, "enterprise_tags", &aside, e);
	if (rc) {
		db_indexes_restore(db, &aside, e); /* frees; the caller rolls back */
		return rc;
	}
	struct enterprise_loader *l = xcalloc(1, sizeof *l);
	l->indexes = aside;
	l->db = db;
	if ((rc = fts_aside(db, &l->fts_trigger, e))) {
		enterprise_loader_free(l); /* the caller rolls back */
		return rc;
	}
	l->next_id = max + 1;
	db_bulk_init(&l->rows, db,
		     "enterprises (id, tenant_id, credit_code, credit_code_ok, name, kind, legal_rep, "
		     "phone, address, lat, lon, industry_section, industry_division, size_class, "
		     "registered_on, status, is_key, tags, checkin_secret, version, created_at, "
		     "updated_at, grid_id)",
		     23, 1000);
	db_bulk_init(&l->tags, db, "enterprise_tags (tenant_id, enterprise_id, tag)", 3, 300);
	*out = l;
	return 0;
}

/* Validate and normalise w->in into *rec as enterprise_create does, refuse a repeated
 * credit code, and give w its id. */
static int admit(struct enterprise_loader *l, struct enterprise_write *w, struct enterprise *rec,
		 struct err *e)
{
	int rc = enterprise_validate(&w->in, true, e);
	if (rc)
		return rc;
	memset(rec, 0, sizeof *rec);
	if ((rc = apply(rec, &w->in, false, &w->credit_warning, e)))
		return rc;
	if (!codes_add(l, code_hash(rec->credit_code)))
		return err_set(e, ERR_CONFLICT, "credit_code", "统一社会信用代码 %s 重复",
			       "credit code %s repeated", rec->credit_code);
	w->id = l->next_id++;
	return 0;
}

struct enterprise_loader *enterprise_loader_plan(int64_t first_id)
{
	struct enterprise_loader *l = xcalloc(1, sizeof *l);
	l->next_id = first_id;
	return l;
}

int enterprise_loader_check(struct enterprise_loader *l, struct enterprise_write *w,
			    struct err *e)
{
	struct enterprise rec;
	return admit(l, w, &rec, e);
}

int enterprise_loader_add(struct enterprise_loader *l, struct enterprise_write *w,
			  const char *checkin_secret, int64_t grid_id, struct err *e)
{
	struct enterprise rec;
	int rc = admit(l, w, &rec, e);
	if (rc)
		return rc;
	struct db_bulk *b = &l->rows;
	db_bulk_int(b, w->id);
	db_bulk_int(b, w->tenant_id);
	db_bulk_text(b, rec.credit_code);
	db_bulk_int(b, rec.credit_code_ok);
	db_bulk_text(b, rec.name);
	db_bulk_text(b, rec.kind);
	db_bulk_text(b, rec.legal_rep);
	db_bulk_text(b, rec.phone);
	db_bulk_text(b, rec.address);
	if (rec.has_location) {
		db_bulk_double(b, rec.lat);
		db_bulk_double(b, rec.lon);
	} else {
		db_bulk_null(b);
		db_bulk_null(b);
	}
	db_bulk_text(b, rec.industry_section);
	db_bulk_text(b, rec.industry_division);
	db_bulk_text(b, rec.size_class);
	db_bulk_text(b, rec.registered_on);
	db_bulk_text(b, rec.status);
	db_bulk_int(b, rec.is_key);
	db_bulk_text(b, rec.tags);
	db_bulk_text(b, checkin_secret);
	db_bulk_int(b, 1);
	db_bulk_int(b, w->now);
	db_bulk_int(b, w->now);
	if (grid_id)
		db_bulk_int(b, grid_id);
	else
		db_bulk_null(b);
	if ((rc = db_bulk_row(b, e)))
		return rc;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", rec.tags);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); !rc && t;
	     t = strtok_r(NULL, ",", &save)) {
		db_bulk_int(&l->tags, w->tenant_id);
		db_bulk_int(&l->tags, w->id);
		db_bulk_text(&l->tags, t);
		rc = db_bulk_row(&l->tags, e);
	}
	/* full statements as they fill: the enterprises, then the tags of those written */
	if (!rc && db_bulk_pending(b) >= (size_t)b->per_stmt &&
	    !(rc = db_bulk_write(b, false, e)))
		rc = db_bulk_write(&l->tags, false, e);
	return rc;
}

int enterprise_loader_flush(struct enterprise_loader *l, struct err *e)
{
	int rc = db_bulk_write(&l->rows, true, e);
	return rc ? rc : db_bulk_write(&l->tags, true, e);
}

int enterprise_loader_close(struct enterprise_loader *l, struct err *e)
{
	int rc = enterprise_loader_flush(l, e);
	if (!rc)
		rc = db_indexes_restore(l->db, &l->indexes, e);
	if (!rc)
		rc = fts_restore(l->db, &l->fts_trigger, e);
	enterprise_loader_free(l);
	return rc;
}

void enterprise_loader_free(struct enterprise_loader *l)
{
	if (!l)
		return;
	db_bulk_release(&l->rows);
	db_bulk_release(&l->tags);
	free(l->codes);
	free(l->fts_trigger);
	for (size_t i = 0; i < l->indexes.n; i++)
		free(l->indexes.sql[i]);
	free(l->indexes.sql);
	free(l);
}

int enterprise_update(struct db *db, void *arg, struct err *e)
{
	struct enterprise_write *w = arg;
	struct enterprise old, rec;
	int rc = enterprise_validate(&w->in, false, e);
	if (rc)
		return rc;
	rc = enterprise_get(db, w->tenant_id, w->id, &old, e);
	if (rc)
		return rc;
	rec = old;
	rc = apply(&rec, &w->in, w->contact_only, &w->credit_warning, e);
	if (rc)
		return rc;
	if (strcmp(rec.credit_code, old.credit_code) != 0) {
		struct enterprise dup;
		struct err e2;
		if (enterprise_get_by_code(db, w->tenant_id, rec.credit_code, &dup, &e2) == 0)
			return err_set(e, ERR_CONFLICT, "credit_code",
				       "统一社会信用代码 %s 已登记（企业 %" PRId64 "）",
				       "credit code %s is already registered (enterprise %" PRId64 ")",
				       rec.credit_code, dup.id);
	}
	return update_row(db, w, &old, &rec, e);
}

int enterprise_upsert(struct db *db, void *arg, struct err *e)
{
	struct enterprise_write *w = arg;
	struct enterprise old, rec;
	struct credit_result cr;
	struct err e2;
	int rc = enterprise_validate(&w->in, true, e);
	if (rc)
		return rc;
	credit_code_check(w->in.credit_code, &cr);
	if (enterprise_get_by_code(db, w->tenant_id, cr.normalized, &old, &e2) != 0) {
		if (e2.code != ERR_NOT_FOUND) {
			*e = e2;
			return e2.code;
		}
		memset(&rec, 0, sizeof rec);
		rc = apply(&rec, &w->in, false, &w->credit_warning, e);
		if (rc)
			return rc;
		w->outcome = ENTERPRISE_CREATED;
		return insert(db, w, &rec, e);
	}
	w->id = old.id;
	rec = old;
	rc = apply(&rec, &w->in, false, &w->credit_warning, e);
	if (rc)
		return rc;
	return update_row(db, w, &old, &rec, e);
}

/* ---- lists ---- */

/* Append the WHERE conditions of f (after "WHERE e.tenant_id = ..."). */
static int where(struct db *db, const struct actor *who, enum scope scope,
		 const struct enterprise_filter *f, struct buf *sql, struct db_args *a,
		 char *qbuf, size_t qsz, struct err *e)
{
	static const struct scope_cols cols = {.grid = "e.grid_id", .enterprise = "e.id"};
	buf_addf(sql, " WHERE e.tenant_id = $%d", db_args_int(a, who->tenant_id));
	if (scope_sql(who, scope, &cols, sql))
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	if (f->q && *f->q) {
		size_t n = strlen(f->q);
		if (!utf8_valid(f->q, n) || utf8_len(f->q, n) > 50)
			return err_set(e, ERR_BAD_REQUEST, "q", "搜索词应为不超过 50 个字符的文本",
				       "q must be text of at most 50 characters");
		bool fts = strcmp(db_backend_name(db), "sqlite") == 0 && utf8_len(f->q, n) >= 3;
		size_t k = 0;
		if (fts) {
			/* one FTS5 phrase: the trigram index finds the substring */
			qbuf[k++] = '"';
			for (const char *p = f->q; *p && k + 3 < qsz; p++) {
				if (*p == '"')
					qbuf[k++] = '"';
				qbuf[k++] = *p;
			}
			qbuf[k++] = '"';
			qbuf[k] = '\0';
			buf_addf(sql, " AND e.id IN (SELECT rowid FROM enterprise_fts WHERE "
				      "enterprise_fts MATCH $%d)",
				 db_args_text(a, qbuf));
		} else {
			db_like_contains(f->q, qbuf, qsz);
			buf_addf(sql, " AND e.name LIKE $%d ESCAPE '\\'", db_args_text(a, qbuf));
		}
	}
	if (f->credit_code && *f->credit_code) {
		char up[19];
		size_t n = strlen(f->credit_code);
		if (n < 2 || n > 18)
			return err_set(e, ERR_BAD_REQUEST, "credit_code",
				       "按信用代码查找需 2 到 18 个字符",
				       "credit_code filter needs 2 to 18 characters");
		for (size_t i = 0; i <= n; i++)
			up[i] = (char)toupper((unsigned char)f->credit_code[i]);
		/* codes are stored upper-case; the texts must outlive the query */
		static _Thread_local char code[20], hi[20];
		snprintf(code, sizeof code, "%s", up);
		if (n == 18)
			buf_addf(sql, " AND e.credit_code = $%d", db_args_text(a, code));
		else {
			/* prefix: a range scan on the unique index */
			snprintf(hi, sizeof hi, "%s\x7f", up);
			buf_addf(sql, " AND e.credit_code >= $%d AND e.credit_code < $%d",
				 db_args_text(a, code), db_args_text(a, hi));
		}
	}
#define EQ(field, col)                                                                        \
	if (f->field && *f->field)                                                            \
		buf_addf(sql, " AND " col " = $%d", db_args_text(a, f->field));
	EQ(status, "e.status")
	EQ(industry_section, "e.industry_section")
	EQ(industry_division, "e.industry_division")
	EQ(size_class, "e.size_class")
#undef EQ
	if (f->tag && *f->tag)
		buf_addf(sql,
			 " AND e.id IN (SELECT enterprise_id FROM enterprise_tags WHERE tenant_id = $1 "
			 "AND tag = $%d)",
			 db_args_text(a, f->tag));
	if (f->is_key >= 0)
		buf_addf(sql, " AND e.is_key = $%d", db_args_int(a, f->is_key ? 1 : 0));
	if (f->grid_id) /* that grid and every grid below it */
		buf_addf(sql,
			 " AND e.grid_id IN (SELECT g.id FROM grids g WHERE g.tenant_id = $1 AND "
			 "g.path LIKE (SELECT p.path FROM grids p WHERE p.tenant_id = $1 AND p.id = $%d) "
			 "|| '%%')",
			 db_args_int(a, f->grid_id));
	if (f->served_by)
		buf_addf(sql,
			 " AND e.id IN (SELECT enterprise_id FROM service_team_members WHERE "
			 "tenant_id = $1 AND user_id = $%d)",
			 db_args_int(a, f->served_by));
	return 0;
}

void enterprise_cursor(const struct enterprise *en, enum enterprise_sort sort,
		       char out[ENTERPRISE_CURSOR_MAX])
{
	char b64[400];
	switch (sort) {
	case ENTERPRISE_SORT_NAME:
		base64url_encode(en->name, strlen(en->name), b64, sizeof b64);
		snprintf(out, ENTERPRISE_CURSOR_MAX, "n.%s.%" PRId64, b64, en->id);
		break;
	case ENTERPRISE_SORT_REGISTERED:
		snprintf(out, ENTERPRISE_CURSOR_MAX, "r.%s.%" PRId64, en->registered_on, en->id);
		break;
	default:
		snprintf(out, ENTERPRISE_CURSOR_MAX, "i.%" PRId64, en->id);
	}
}

/* Parse a cursor of sort order `sort` into key (text part) and id. */
static bool parse_cursor(const char *c, enum enterprise_sort sort, char *key, size_t keysz,
			 int64_t *id)
{
	const char *dot = strrchr(c, '.');
	char kind = sort == ENTERPRISE_SORT_NAME ? 'n' : sort == ENTERPRISE_SORT_REGISTERED ? 'r' : 'i';
	if (!dot || c[0] != kind || c[1] != '.' || !parse_i64(dot + 1, id) || *id < 0)
		return false;
	key[0] = '\0';
	if (kind == 'i')
		return dot == c + 1;
	char part[ENTERPRISE_CURSOR_MAX];
	size_t n = (size_t)(dot - (c + 2)), len = 0;
	if (n >= sizeof part)
		return false;
	memcpy(part, c + 2, n);
	part[n] = '\0';
	if (kind == 'r') {
		if (n >= keysz || (n && !valid_date(part)))
			return false;
		memcpy(key, part, n + 1);
		return true;
	}
	if (!base64url_decode(part, key, keysz - 1, &len))
		return false;
	key[len] = '\0';
	return utf8_valid(key, len) && strlen(key) == len;
}

int enterprise_list(struct db *db, const struct actor *who, enum scope scope,
		    const struct enterprise_filter *f,
		    int (*each)(const struct enterprise *en, void *ctx), void *ctx, struct err *e)
{
	struct db_args a = {0};
	struct buf sql;
	struct db_stmt *st = NULL;
	char qbuf[256], key[400];
	int64_t after_id = 0;
	int rc;

	if (f->after && *f->after && !parse_cursor(f->after, f->sort, key, sizeof key, &after_id))
		return err_set(e, ERR_BAD_REQUEST, "after", "分页游标无效", "malformed page cursor");
	buf_init(&sql, 0);
	buf_adds(&sql, "SELECT " ENT_COLS " FROM enterprises e");
	rc = where(db, who, scope, f, &sql, &a, qbuf, sizeof qbuf, e);
	if (rc)
		goto out;
	bool has_after = f->after && *f->after;
	switch (f->sort) {
	case ENTERPRISE_SORT_NAME:
		if (has_after) {
			int k = db_args_text(&a, key);
			buf_addf(&sql, " AND (e.name > $%d OR (e.name = $%d AND e.id > $%d))", k, k,
				 db_args_int(&a, after_id));
		}
		buf_adds(&sql, " ORDER BY e.name, e.id");
		break;
	case ENTERPRISE_SORT_REGISTERED:
		if (has_after) {
			int k = db_args_text(&a, key);
			buf_addf(&sql, " AND (e.registered_on < $%d OR (e.registered_on = $%d AND e.id < $%d))",
				 k, k, db_args_int(&a, after_id));
		}
		buf_adds(&sql, " ORDER BY e.registered_on DESC, e.id DESC");
		break;
	default:
		if (has_after)
			buf_addf(&sql, " AND e.id > $%d", db_args_int(&a, after_id));
		buf_adds(&sql, " ORDER BY e.id");
	}
	buf_addf(&sql, " LIMIT $%d", db_args_int(&a, f->limit > 0 ? f->limit : 50));
	rc = db_query_args(db, &st, e, sql.p, &a);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct enterprise en;
		read_row(st, &en);
		if (each(&en, ctx))
			break;
	}
	rc = rc < 0 ? rc : 0;
out:
	db_finalize(st);
	buf_release(&sql);
	return rc;
}

int enterprise_count(struct db *db, const struct actor *who, enum scope scope,
		     const struct enterprise_filter *f, int64_t *n, struct err *e)
{
	struct db_args a = {0};
	struct buf sql;
	struct db_stmt *st = NULL;
	char qbuf[256];
	buf_init(&sql, 0);
	buf_adds(&sql, "SELECT COUNT(*) FROM enterprises e");
	int rc = where(db, who, scope, f, &sql, &a, qbuf, sizeof qbuf, e);
	if (!rc)
		rc = db_query_args(db, &st, e, sql.p, &a);
	if (!rc) {
		rc = db_step(st, e);
		*n = rc == DB_ROW ? db_column_int64(st, 0) : 0;
		rc = rc < 0 ? rc : 0;
	}
	db_finalize(st);
	buf_release(&sql);
	return rc;
}

int enterprise_history(struct db *db, int64_t tenant_id, int64_t id,
		       int (*each)(const struct enterprise_version *v, void *ctx), void *ctx,
		       struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT version, changed_at, actor_id, actor_login, source, changes, snapshot "
			   "FROM enterprise_versions WHERE tenant_id = $1 AND enterprise_id = $2 "
			   "ORDER BY version DESC",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct enterprise_version v = {
			.version = db_column_int64(st, 0), .changed_at = db_column_int64(st, 1),
			.actor_id = db_column_int64(st, 2), .actor_login = db_column_text(st, 3),
			.source = db_column_text(st, 4), .changes = db_column_text(st, 5),
			.snapshot = db_column_text(st, 6),
		};
		if (each(&v, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
