/*
 * api_enterprise.c — the enterprise registry over HTTP: search and lists,
 * records, registration history, the credit-code checker, and the
 * enterprise's own self-service record.
 */
#include "api/api.h"

#include <stddef.h>
#include <string.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/creditcode.h"
#include "core/enterprise.h"
#include "base/banned.h"

/* PII is visible under the PII scope: e.g. a grid worker sees its grid's contacts. */
static bool masked(struct req *r, const struct enterprise *en)
{
	enum scope s = authz_scope(&r->actor, PERM_ENTERPRISE_PII);
	struct scope_row row = {.grid_id = en->grid_id, .grid_path = en->grid_path,
				.enterprise_id = en->id};
	return s == SCOPE_NONE || !scope_allows(&r->actor, s, &row);
}

/* ---- query parameters → filter ---- */

int api_enterprise_filter(struct req *r, struct enterprise_filter *f)
{
	int64_t v;
	int rc;
	memset(f, 0, sizeof *f);
	f->q = req_query(r, "q");
	f->credit_code = req_query(r, "credit_code");
	f->status = req_query(r, "status");
	f->industry_section = req_query(r, "industry_section");
	f->industry_division = req_query(r, "industry_division");
	f->size_class = req_query(r, "size_class");
	f->tag = req_query(r, "tag");
	f->after = req_query(r, "after");
	if ((rc = req_query_int(r, "is_key", -1, -1, 1, &v)))
		return rc;
	f->is_key = (int)v;
	if ((rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &f->grid_id)) ||
	    (rc = req_query_int(r, "served_by", 0, 0, INT64_MAX, &f->served_by)) ||
	    (rc = req_query_int(r, "limit", 50, 1, 200, &f->limit)))
		return rc;
	const char *sort = req_query(r, "sort");
	if (!sort || !*sort || strcmp(sort, "id") == 0)
		f->sort = ENTERPRISE_SORT_ID;
	else if (strcmp(sort, "name") == 0)
		f->sort = ENTERPRISE_SORT_NAME;
	else if (strcmp(sort, "registered_on") == 0)
		f->sort = ENTERPRISE_SORT_REGISTERED;
	else
		return req_fail(r, ERR_BAD_REQUEST, "sort", "排序应为 id、name 或 registered_on",
				"sort must be id, name or registered_on");
	return 0;
}

struct list_ctx {
	struct req *r;
	json_t *items;
	struct enterprise last;
	int64_t n;
};

static int each(const struct enterprise *en, void *p)
{
	struct list_ctx *c = p;
	json_array_append_new(c->items, enterprise_json(en, masked(c->r, en)));
	c->last = *en;
	c->n++;
	return 0;
}

static int h_list(struct req *r)
{
	struct enterprise_filter f;
	int rc = api_enterprise_filter(r, &f);
	if (rc)
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct list_ctx c = {.r = r, .items = json_array()};
	rc = enterprise_list(db, &r->actor, r->scope, &f, each, &c, &r->err);
	json_t *out = NULL;
	if (!rc) {
		char cursor[ENTERPRISE_CURSOR_MAX];
		enterprise_cursor(&c.last, f.sort, cursor);
		out = json_pack("{s:o,s:o}", "items", c.items, "next",
				c.n == f.limit ? json_string(cursor) : json_null());
		c.items = NULL;
		const char *cnt = req_query(r, "count");
		if (cnt && strcmp(cnt, "1") == 0) {
			int64_t total = 0;
			rc = enterprise_count(db, &r->actor, r->scope, &f, &total, &r->err);
			json_object_set_new(out, "total", json_integer(total));
		}
	}
	json_decref(c.items);
	if (rc) {
		json_decref(out);
		return rc;
	}
	return reply_json(r, 200, out);
}

/* Load an enterprise the caller may see; 404 (not 403) outside the scope. */
static int load(struct req *r, int64_t id, struct enterprise *en)
{
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = enterprise_get(db, r->actor.tenant_id, id, en, &r->err);
	if (rc)
		return rc;
	struct scope_row row = {.grid_id = en->grid_id, .grid_path = en->grid_path,
				.enterprise_id = en->id};
	enum scope s = authz_scope(&r->actor, PERM_ENTERPRISE_READ);
	if (!scope_allows(&r->actor, s, &row))
		return req_fail(r, ERR_NOT_FOUND, "id", "找不到该企业", "no such enterprise");
	return 0;
}

static int h_get(struct req *r)
{
	int64_t id;
	struct enterprise en;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = load(r, id, &en);
	if (rc)
		return rc;
	return reply_json(r, 200, enterprise_json(&en, masked(r, &en)));
}

/* Decode the body into an enterprise_input; fields borrowed from the JSON. */
static int decode(struct req *r, json_t *b, struct enterprise_input *in, bool self)
{
	static const char *const all[] = {"credit_code", "name", "kind", "legal_rep", "phone",
					  "address", "lat", "lon", "industry_section",
					  "industry_division", "size_class", "registered_on", "status",
					  "is_key", "tags", "override_check", NULL};
	static const char *const contact[] = {"phone", "address", NULL};
	static const struct {
		const char *key;
		size_t off;
		size_t max;
	} strs[] = {
		{"credit_code", offsetof(struct enterprise_input, credit_code), 32},
		{"name", offsetof(struct enterprise_input, name), 0},
		{"kind", offsetof(struct enterprise_input, kind), 16},
		{"legal_rep", offsetof(struct enterprise_input, legal_rep), 0},
		{"phone", offsetof(struct enterprise_input, phone), 20},
		{"address", offsetof(struct enterprise_input, address), 0},
		{"industry_section", offsetof(struct enterprise_input, industry_section), 1},
		{"industry_division", offsetof(struct enterprise_input, industry_division), 2},
		{"size_class", offsetof(struct enterprise_input, size_class), 8},
		{"registered_on", offsetof(struct enterprise_input, registered_on), 10},
		{"status", offsetof(struct enterprise_input, status), 16},
	};
	int rc = jsonv_only(b, self ? contact : all, &r->err);
	if (rc)
		return rc;
	memset(in, 0, sizeof *in);
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		const char **dst = (const char **)(void *)((char *)in + strs[i].off);
		if ((rc = jsonv_str(b, strs[i].key, false, strs[i].max, dst, &r->err)))
			return rc;
	}
	json_t *tags = json_object_get(b, "tags");
	if (tags && json_is_array(tags)) {
		/* an array of tags: join with commas for the core */
		json_t *arr;
		struct buf jb;
		size_t i;
		json_t *t;
		if ((rc = jsonv_str_array(b, "tags", false, 10, &arr, &r->err)))
			return rc;
		buf_init(&jb, 1024);
		json_array_foreach(arr, i, t) {
			if (i)
				buf_addc(&jb, ',');
			if (strchr(json_string_value(t), ',')) {
				buf_release(&jb);
				return req_fail(r, ERR_UNPROCESSABLE, "tags", "标签中不能含有逗号",
						"a tag must not contain a comma");
			}
			buf_adds(&jb, json_string_value(t));
		}
		in->tags = arena_strdup(r->arena, jb.p);
		buf_release(&jb);
	} else if ((rc = jsonv_str(b, "tags", false, 0, &in->tags, &r->err)))
		return rc;
	bool has_lat = json_object_get(b, "lat") != NULL, has_lon = json_object_get(b, "lon") != NULL;
	if (has_lat != has_lon)
		return req_fail(r, ERR_BAD_REQUEST, has_lat ? "lon" : "lat", "经纬度需同时提供",
				"lat and lon go together");
	if (has_lat) {
		json_t *la = json_object_get(b, "lat"), *lo = json_object_get(b, "lon");
		if (json_is_null(la) && json_is_null(lo))
			in->clear_location = true;
		else if (!json_is_number(la))
			return req_fail(r, ERR_BAD_REQUEST, "lat", "纬度应为数字", "lat must be a number");
		else if (!json_is_number(lo))
			return req_fail(r, ERR_BAD_REQUEST, "lon", "经度应为数字", "lon must be a number");
		else {
			in->set_location = true;
			in->lat = json_number_value(la);
			in->lon = json_number_value(lo);
		}
	}
	if (jsonv_has(b, "is_key")) {
		in->set_key = true;
		if ((rc = jsonv_bool(b, "is_key", true, &in->is_key, &r->err)))
			return rc;
	}
	return jsonv_bool(b, "override_check", false, &in->override_check, &r->err);
}

static json_t *with_warning(json_t *j, bool warn)
{
	json_t *w = json_array();
	if (warn)
		json_array_append_new(
			w, json_pack("{s:s,s:s,s:s}", "field", "credit_code", "message",
				     "credit code fails its check; admitted by override", "message_zh",
				     "统一社会信用代码校验未通过，已按管理员确认录入"));
	json_object_set_new(j, "warnings", w);
	return j;
}

static int h_create(struct req *r)
{
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct enterprise_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				     .source = "api", .now = now_ms()};
	int rc = decode(r, b, &w.in, false);
	if (!rc)
		rc = req_write(r, enterprise_create, &w);
	if (rc)
		return rc;
	struct enterprise en;
	rc = enterprise_get(req_db(r), r->actor.tenant_id, w.id, &en, &r->err);
	if (rc)
		return rc;
	return reply_json(r, 201, with_warning(enterprise_json(&en, false), w.credit_warning));
}

static int update(struct req *r, int64_t id, bool self)
{
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct enterprise_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .id = id,
				     .source = self ? "self" : "api", .contact_only = self,
				     .now = now_ms()};
	int rc = decode(r, b, &w.in, self);
	if (!rc)
		rc = req_write(r, enterprise_update, &w);
	if (rc)
		return rc;
	struct enterprise en;
	rc = enterprise_get(req_db(r), r->actor.tenant_id, id, &en, &r->err);
	if (rc)
		return rc;
	return reply_json(r, 200, with_warning(enterprise_json(&en, false), w.credit_warning));
}

static int h_update(struct req *r)
{
	int64_t id;
	struct enterprise en;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = load(r, id, &en);
	if (rc)
		return rc;
	return update(r, id, false);
}

static int each_version(const struct enterprise_version *v, void *p)
{
	json_error_t je;
	json_t *changes = json_loads(v->changes, 0, &je);
	json_t *snap = json_loads(v->snapshot, 0, &je);
	json_array_append_new(
		p, json_pack("{s:I,s:I,s:I,s:s,s:s,s:o,s:o}", "version", (json_int_t)v->version,
			     "changed_at", (json_int_t)v->changed_at, "actor_id",
			     (json_int_t)v->actor_id, "actor_login", v->actor_login, "source",
			     v->source, "changes", changes ? changes : json_object(), "snapshot",
			     snap ? snap : json_object()));
	return 0;
}

static int h_history(struct req *r)
{
	int64_t id;
	struct enterprise en;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = load(r, id, &en);
	if (rc)
		return rc;
	json_t *items = json_array();
	rc = enterprise_history(req_db(r), r->actor.tenant_id, id, each_version, items, &r->err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	/* people without the right to personal data see history without contact changes */
	if (masked(r, &en)) {
		size_t i;
		json_t *v;
		json_array_foreach(items, i, v) {
			json_object_del(json_object_get(v, "changes"), "phone");
			json_object_del(json_object_get(v, "changes"), "legal_rep");
			json_object_del(json_object_get(v, "snapshot"), "phone");
			json_object_del(json_object_get(v, "snapshot"), "legal_rep");
		}
	}
	return reply_json(r, 200, api_list(items, 0));
}

static int h_credit_code(struct req *r)
{
	struct credit_result cr;
	struct err e;
	const char *code = req_param(r, "code");
	err_clear(&e);
	credit_code_validate(code, false, "code", &cr, NULL, &e);
	static const char *const names[] = {"ok", "bad_length", "bad_character",
					    "bad_organisation_check", "bad_check_character"};
	json_t *out = json_pack("{s:b,s:s,s:s,s:o,s:o,s:o}", "valid", cr.status == CREDIT_OK,
				"status", names[cr.status], "normalized", cr.normalized,
				"position", cr.position ? json_integer(cr.position) : json_null(),
				"expected",
				cr.expected ? json_stringn(&cr.expected, 1) : json_null(),
				"entity_type", *cr.entity_type ? json_string(cr.entity_type) : json_null());
	if (cr.status != CREDIT_OK) {
		json_object_set_new(out, "message", json_string(e.message));
		json_object_set_new(out, "message_zh", json_string(e.message_zh));
		json_object_set_new(out, "overridable",
				    json_boolean(cr.status == CREDIT_BAD_CHECK_CHAR ||
						 cr.status == CREDIT_BAD_ORG_CHECK));
	}
	return reply_json(r, 200, out);
}

static int my_enterprise(struct req *r, struct enterprise *en)
{
	if (!r->actor.enterprise_id)
		return req_fail(r, ERR_NOT_FOUND, NULL, "当前账号未绑定企业",
				"this account is not bound to an enterprise");
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	return enterprise_get(db, r->actor.tenant_id, r->actor.enterprise_id, en, &r->err);
}

static int h_my_get(struct req *r)
{
	struct enterprise en;
	int rc = my_enterprise(r, &en);
	if (rc)
		return rc;
	return reply_json(r, 200, enterprise_json(&en, false));
}

static int h_my_update(struct req *r)
{
	struct enterprise en;
	int rc = my_enterprise(r, &en);
	if (rc)
		return rc;
	return update(r, en.id, true);
}

const struct route api_enterprise_routes[] = {
	{"GET", "/api/v1/enterprises", h_list, PERM_ENTERPRISE_READ, 0, 0,
	 "查询企业（名称、代码、状态、行业、规模、标签、重点）/ search enterprises"},
	{"POST", "/api/v1/enterprises", h_create, PERM_ENTERPRISE_WRITE, 16384, 0,
	 "登记企业 / register an enterprise"},
	{"GET", "/api/v1/enterprises/{id}", h_get, PERM_ENTERPRISE_READ, 0, 0,
	 "企业详情 / an enterprise"},
	{"PATCH", "/api/v1/enterprises/{id}", h_update, PERM_ENTERPRISE_WRITE, 16384, 0,
	 "变更登记信息 / change registration data"},
	{"GET", "/api/v1/enterprises/{id}/history", h_history, PERM_ENTERPRISE_READ, 0, 0,
	 "变更记录 / registration history"},
	{"GET", "/api/v1/credit-codes/{code}", h_credit_code, PERM_LOGIN, 0, 0,
	 "校验统一社会信用代码 / check a unified social credit code"},
	{"GET", "/api/v1/my/enterprise", h_my_get, PERM_ENTERPRISE_SELF, 0, 0,
	 "本企业信息 / my enterprise"},
	{"PATCH", "/api/v1/my/enterprise", h_my_update, PERM_ENTERPRISE_SELF, 4096, 0,
	 "修改本企业联系方式 / change my enterprise's contact data"},
	{0},
};
