/*
 * api_open311.c — Open311 GeoReport v2 at /open311/v2/, and the attribute
 * definitions of its services for administrators.
 *
 * Every resource exists as .json and .xml: the format is a literal suffix of
 * the route ("{code}.json", see http/routes.c), and the handler renders the
 * same document in the route's format (core/open311.c's writer). The routes
 * are public: GETs show public data only, and POST requests carries its
 * credential as the spec says, an api_key parameter holding one of our API
 * tokens (POST /api/v1/me/tokens) whose user may submit requests. Errors use
 * the spec's shape and codes: 403 for a missing or bad api_key, 404 for
 * unknown services, requests, tokens and jurisdictions, 400 for the rest.
 * jurisdiction_id names the tenant (its code) and may be left out when the
 * server has only one.
 */
#include "api/api.h"

#include <string.h>
#include <strings.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/log.h"
#include "base/util.h"
#include "core/open311.h"
#include "core/request_catalog.h"
#include "core/session.h"
#include "core/tenant.h"
#include "core/workcal.h"
#include "base/banned.h"

#define SPEC_URL "http://wiki.open311.org/GeoReport_v2"

static enum open311_fmt fmt_of(struct req *r)
{
	size_t n = strlen(r->route->pattern);
	return n > 4 && strcmp(r->route->pattern + n - 4, ".xml") == 0 ? OPEN311_XML : OPEN311_JSON;
}

static int send_doc(struct req *r, int status, enum open311_fmt fmt, struct buf *b)
{
	reply_raw(r, status,
		  fmt == OPEN311_XML ? "text/xml; charset=utf-8" : "application/json; charset=utf-8",
		  b->p, b->len);
	buf_release(b);
	return 0;
}

/* The spec: 404 for what does not exist, 403 for the api_key, 400 for the rest. */
static int status_of(int code)
{
	switch (code) {
	case ERR_NOT_FOUND:
		return 404;
	case ERR_FORBIDDEN:
	case ERR_UNAUTHENTICATED:
		return 403;
	case ERR_TOO_LARGE:
		return 413;
	case ERR_INTERNAL:
		return 500;
	case ERR_UNAVAILABLE:
		return 503;
	default:
		return 400;
	}
}

/* Answer r->err in the spec's error shape; the description carries both languages. */
static int fail(struct req *r, enum open311_fmt fmt)
{
	struct err *e = &r->err;
	char desc[600];
	if (e->code == ERR_OK)
		err_set(e, ERR_INTERNAL, NULL, "内部错误", "internal error");
	int status = status_of(e->code);
	if (e->message_zh[0] && strcmp(e->message_zh, e->message) != 0)
		snprintf(desc, sizeof desc, "%s / %s", e->message_zh, e->message);
	else
		snprintf(desc, sizeof desc, "%s", e->message);
	if (status >= 500)
		log_error("request %s %s %s: %s", r->id, r->method, r->path, e->message);
	struct buf b;
	buf_init(&b, 0);
	open311_render_error(fmt, status, desc, &b);
	return send_doc(r, status, fmt, &b);
}

/* The tenant named by jurisdiction_id (its code), or the only one. */
static int jurisdiction(struct req *r, struct db *db, const char *code, int64_t *tenant)
{
	if (code && *code && (strlen(code) > 64 || !utf8_valid(code, strlen(code))))
		return req_fail(r, ERR_NOT_FOUND, "jurisdiction_id", "找不到该辖区",
				"jurisdiction_id not found");
	int rc = tenant_resolve(db, code, tenant, &r->err);
	if (rc == ERR_NOT_FOUND)
		return req_fail(r, ERR_NOT_FOUND, "jurisdiction_id", "找不到辖区“%s”",
				"jurisdiction_id '%s' not found", code ? code : "");
	if (rc == ERR_BAD_REQUEST)
		return req_fail(r, ERR_BAD_REQUEST, "jurisdiction_id",
				"本服务有多个辖区，请提供 jurisdiction_id",
				"jurisdiction_id was not provided (this endpoint serves several)");
	return rc;
}

/* Reader connection and tenant of a GET; fills r->err on failure. */
static int open_read(struct req *r, struct db **db, int64_t *tenant)
{
	if (!(*db = req_db(r)))
		return r->err.code ? r->err.code : ERR_UNAVAILABLE;
	return jurisdiction(r, *db, req_query(r, "jurisdiction_id"), tenant);
}

/* ---- discovery ---- */

/* Where this endpoint lives: the configured public URL, else the Host asked for. */
static const char *base_url(struct req *r)
{
	const char *pub = r->app->cfg.public_url;
	if (pub && *pub) {
		size_t n = strlen(pub);
		while (n && pub[n - 1] == '/')
			n--;
		return arena_printf(r->arena, "%.*s/open311/v2", (int)n, pub);
	}
	const char *host = req_header(r, "Host");
	if (!host || !*host || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
		    strlen(host))
		host = "localhost";
	return arena_printf(r->arena, "http://%s/open311/v2", host);
}

static int h_discovery(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	struct db *db = req_db(r);
	const char *code = req_query(r, "jurisdiction_id");
	int64_t tenant = 0, changed = 0;
	char cs[40];
	if (!db)
		return fail(r, fmt);
	/* one server may serve several districts: without a jurisdiction, the server's start */
	if (code && *code) {
		if (jurisdiction(r, db, code, &tenant))
			return fail(r, fmt);
	} else {
		struct err e2;
		err_clear(&e2);
		if (tenant_resolve(db, NULL, &tenant, &e2))
			tenant = 0;
	}
	if (tenant && open311_changeset(db, tenant, &changed, &r->err))
		return fail(r, fmt);
	open311_format_time(changed ? changed : r->app->started_ms, cs, sizeof cs);

	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_obj_begin(&w, "discovery");
	open311_str(&w, "changeset", cs);
	open311_str(&w, "contact", "12345 政务服务便民热线 / the 12345 government service hotline");
	open311_str(&w, "key_service",
		    "API 密钥（api_key）由区政务服务管理部门为接入单位开通 / ask the district's "
		    "service administration for an api_key");
	open311_list_begin(&w, "endpoints");
	open311_obj_begin(&w, "endpoint");
	open311_str(&w, "specification", SPEC_URL);
	open311_str(&w, "url", base_url(r));
	open311_str(&w, "changeset", cs);
	open311_str(&w, "type", "production");
	open311_list_begin(&w, "formats");
	open311_str(&w, "format", "text/xml");
	open311_str(&w, "format", "application/json");
	open311_end(&w);
	open311_end(&w);
	open311_end(&w);
	open311_end(&w);
	return send_doc(r, 200, fmt, &b);
}

/* ---- services ---- */

static int each_service(const struct open311_service *s, void *ctx)
{
	struct open311_writer *w = ctx;
	char desc[1024], keywords[512];
	open311_service_description(s, desc, sizeof desc);
	snprintf(keywords, sizeof keywords, "%s%s%s", s->category_code, s->group[0] ? "," : "",
		 s->group);
	open311_obj_begin(w, "service");
	open311_str(w, "service_code", s->code);
	open311_str(w, "service_name", s->name);
	open311_str(w, "description", desc);
	open311_bool(w, "metadata", s->metadata);
	open311_str(w, "type", "realtime");
	open311_str(w, "keywords", keywords);
	open311_str(w, "group", s->group[0] ? s->group : NULL);
	open311_end(w);
	return 0;
}

static int h_services(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	struct db *db;
	int64_t tenant;
	if (open_read(r, &db, &tenant))
		return fail(r, fmt);
	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_list_begin(&w, "services");
	if (open311_services(db, tenant, each_service, &w, &r->err)) {
		buf_release(&b);
		return fail(r, fmt);
	}
	open311_end(&w);
	return send_doc(r, 200, fmt, &b);
}

static int h_service(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	const char *code = req_param(r, "code");
	struct db *db;
	int64_t tenant;
	struct open311_service s;
	struct open311_attrs attrs = {0};
	if (open_read(r, &db, &tenant))
		return fail(r, fmt);
	if (!code || strlen(code) >= sizeof s.code) {
		req_fail(r, ERR_NOT_FOUND, "service_code", "找不到该服务", "service_code not found");
		return fail(r, fmt);
	}
	if (open311_service_get(db, tenant, code, &s, &r->err) ||
	    open311_attrs_load(db, tenant, s.category_id, &attrs, &r->err))
		return fail(r, fmt);
	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_obj_begin(&w, "service_definition");
	open311_str(&w, "service_code", s.code);
	open311_list_begin(&w, "attributes");
	for (size_t i = 0; i < attrs.n; i++) {
		const struct open311_attribute *a = &attrs.v[i];
		open311_obj_begin(&w, "attribute");
		open311_bool(&w, "variable", a->variable);
		open311_str(&w, "code", a->code);
		open311_str(&w, "datatype", open311_datatype_name(a->datatype));
		open311_bool(&w, "required", a->required);
		open311_str(&w, "datatype_description",
			    a->datatype_description[0] ? a->datatype_description : NULL);
		open311_int(&w, "order", a->order);
		open311_str(&w, "description", a->description);
		open311_list_begin(&w, "values");
		size_t k;
		json_t *v;
		json_array_foreach(a->values, k, v) {
			open311_obj_begin(&w, "value");
			open311_str(&w, "key", json_string_value(json_object_get(v, "key")));
			open311_str(&w, "name", json_string_value(json_object_get(v, "name")));
			open311_end(&w);
		}
		open311_end(&w);
		open311_end(&w);
	}
	open311_end(&w);
	open311_end(&w);
	open311_attrs_release(&attrs);
	return send_doc(r, 200, fmt, &b);
}

/* ---- requests ---- */

static void request_doc(struct open311_writer *w, const struct open311_request *q)
{
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)q->id);
	open311_obj_begin(w, "request");
	open311_str(w, "service_request_id", id);
	open311_str(w, "status", q->closed ? "closed" : "open");
	open311_str(w, "status_notes", q->status_notes);
	open311_str(w, "service_name", q->service_name);
	open311_str(w, "service_code", q->service_code);
	open311_str(w, "description", q->description);
	open311_str(w, "agency_responsible", q->agency[0] ? q->agency : NULL);
	open311_str(w, "service_notice", q->service_notice[0] ? q->service_notice : NULL);
	open311_time(w, "requested_datetime", q->requested_at);
	open311_time(w, "updated_datetime", q->updated_at);
	open311_time(w, "expected_datetime", q->expected_at);
	open311_str(w, "address", q->address[0] ? q->address : NULL);
	open311_str(w, "address_id", q->address_id[0] ? q->address_id : NULL);
	if (q->has_location) {
		open311_num(w, "lat", q->lat);
		open311_num(w, "long", q->lon);
	} else {
		open311_str(w, "lat", NULL);
		open311_str(w, "long", NULL);
	}
	open311_str(w, "media_url", q->media_url[0] ? q->media_url : NULL);
	open311_end(w);
}

static int each_request(const struct open311_request *q, void *ctx)
{
	request_doc(ctx, q);
	return 0;
}

/*
 * The comma-separated items of a query parameter into the arena, spaces
 * around them trimmed; ERR_BAD_REQUEST for more than max or an empty item.
 */
static int query_list(struct req *r, const char *name, const char **items, size_t max,
		      size_t *n)
{
	const char *v = req_query(r, name);
	*n = 0;
	if (!v || !*v)
		return 0;
	if (!utf8_valid(v, strlen(v)))
		return req_fail(r, ERR_BAD_REQUEST, name, "参数“%s”不是有效的 UTF-8",
				"'%s' is not valid UTF-8", name);
	for (const char *p = v;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len && *p == ' ') {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (!len)
			return req_fail(r, ERR_BAD_REQUEST, name, "参数“%s”含空项",
					"'%s' has an empty item", name);
		if (*n == max)
			return req_fail(r, ERR_BAD_REQUEST, name, "参数“%s”最多 %zu 项",
					"'%s' takes at most %zu items", name, max);
		items[(*n)++] = arena_strndup(r->arena, p, len);
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static int query_time(struct req *r, const char *name, bool *has, int64_t *out)
{
	const char *v = req_query(r, name);
	if (!v || !*v)
		return 0;
	if (!workcal_parse_instant(v, out))
		return req_fail(r, ERR_BAD_REQUEST, name,
				"参数“%s”应为带时区的 ISO 8601 时间，如 2026-01-01T00:00:00+08:00",
				"'%s' must be an ISO 8601 time with a time zone, e.g. "
				"2026-01-01T00:00:00Z",
				name);
	*has = true;
	return 0;
}

static int parse_query(struct req *r, struct open311_query *q)
{
	const char *items[OPEN311_MAX_IDS];
	size_t n;
	int rc = query_list(r, "service_request_id", items, OPEN311_MAX_IDS, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!parse_i64(items[i], &q->ids[i]) || q->ids[i] <= 0)
			return req_fail(r, ERR_BAD_REQUEST, "service_request_id",
					"service_request_id 应为逗号分隔的编号",
					"service_request_id must be a comma-separated list of ids");
		q->nids = i + 1;
	}
	if (!rc)
		rc = query_list(r, "service_code", q->codes, OPEN311_MAX_CODES, &q->ncodes);
	if (!rc)
		rc = query_list(r, "status", items, 2, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		if (strcmp(items[i], "open") == 0)
			q->open = true;
		else if (strcmp(items[i], "closed") == 0)
			q->closed = true;
		else
			return req_fail(r, ERR_BAD_REQUEST, "status", "status 应为 open 或 closed",
					"status must be open or closed");
	}
	if (!rc)
		rc = query_time(r, "start_date", &q->has_start, &q->start);
	if (!rc)
		rc = query_time(r, "end_date", &q->has_end, &q->end);
	if (!rc)
		rc = query_time(r, "updated_after", &q->has_updated_after, &q->updated_after);
	if (!rc)
		rc = query_time(r, "updated_before", &q->has_updated_before, &q->updated_before);
	if (!rc)
		rc = req_query_int(r, "page", 1, 1, 1000000, &q->page);
	if (!rc)
		rc = req_query_int(r, "page_size", 1000, 1, 1000, &q->page_size);
	if (!rc)
		rc = open311_query_finish(q, now_ms(), &r->err);
	return rc;
}

static int h_requests(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	struct db *db;
	int64_t tenant;
	struct open311_query *q = arena_zalloc(r->arena, sizeof *q);
	if (open_read(r, &db, &tenant) || parse_query(r, q))
		return fail(r, fmt);
	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_list_begin(&w, "service_requests");
	if (open311_request_list(db, tenant, q, each_request, &w, &r->err)) {
		buf_release(&b);
		return fail(r, fmt);
	}
	open311_end(&w);
	return send_doc(r, 200, fmt, &b);
}

static int h_request(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	const char *v = req_param(r, "id");
	struct db *db;
	int64_t tenant, id;
	struct open311_request q;
	if (open_read(r, &db, &tenant))
		return fail(r, fmt);
	if (!v || !parse_i64(v, &id) || id <= 0) {
		req_fail(r, ERR_NOT_FOUND, "service_request_id", "找不到该诉求",
			 "service_request_id not found");
		return fail(r, fmt);
	}
	if (open311_request_get(db, tenant, id, &q, &r->err))
		return fail(r, fmt);
	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_list_begin(&w, "service_requests");
	request_doc(&w, &q);
	open311_end(&w);
	open311_request_release(&q);
	return send_doc(r, 200, fmt, &b);
}

static int h_token(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	const char *token = req_param(r, "token");
	struct db *db;
	int64_t tenant, id = 0;
	char ids[24];
	if (open_read(r, &db, &tenant))
		return fail(r, fmt);
	if (!token || strlen(token) > 32 || !utf8_valid(token, strlen(token))) {
		req_fail(r, ERR_NOT_FOUND, "token", "找不到该令牌", "token not found");
		return fail(r, fmt);
	}
	if (open311_token_get(db, tenant, token, &id, &r->err))
		return fail(r, fmt);
	snprintf(ids, sizeof ids, "%lld", (long long)id);
	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_list_begin(&w, "service_requests");
	open311_obj_begin(&w, "request");
	open311_str(&w, "service_request_id", ids);
	open311_str(&w, "token", token);
	open311_end(&w);
	open311_end(&w);
	return send_doc(r, 200, fmt, &b);
}

/* ---- filing a request ---- */

/* The body as a form: urlencoded as the spec says, or a JSON object. */
static int read_form(struct req *r, struct open311_form *f)
{
	const char *ct = req_header(r, "Content-Type");
	const char *cs = ct ? strcasestr(ct, "charset=") : NULL;
	if (cs) {
		cs += 8;
		cs += *cs == '"';
		if (strncasecmp(cs, "utf-8", 5) != 0 && strncasecmp(cs, "utf8", 4) != 0)
			return req_fail(r, ERR_BAD_REQUEST, "Content-Type", "Content-Type 只接受 UTF-8 编码",
					"Content-Type: only the UTF-8 charset is accepted");
	}
	if (ct && strncasecmp(ct, "application/json", 16) == 0) {
		json_t *j = jsonv_parse_object(r->body.p, r->body.len, &r->err);
		if (!j)
			return r->err.code;
		int rc = open311_form_from_json(f, j, &r->err);
		json_decref(j);
		return rc;
	}
	if (ct && *ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		return req_fail(r, ERR_BAD_REQUEST, "Content-Type",
				"Content-Type 应为 application/x-www-form-urlencoded",
				"Content-Type must be application/x-www-form-urlencoded (or "
				"application/json)");
	return open311_form_parse(f, r->body.p, r->body.len, &r->err);
}

/* The user behind an api_key: an API token (not a browser session) allowed to submit. */
static int api_key_actor(struct req *r, struct db *db, const char *key, struct session_info *si)
{
	struct session_policy pol = {r->app->cfg.session_idle_ms, r->app->cfg.session_max_ms};
	struct err e2;
	err_clear(&e2);
	if (!key || !*key)
		return req_fail(r, ERR_FORBIDDEN, "api_key", "缺少 api_key",
				"api_key was not provided -- can't proceed with create_request");
	if (strncmp(key, "yq_", 3) != 0 || session_lookup(db, key, now_ms(), &pol, si, &e2) ||
	    strcmp(si->kind, "api") != 0) {
		if (e2.code && e2.code != ERR_UNAUTHENTICATED) {
			r->err = e2;
			return e2.code;
		}
		return req_fail(r, ERR_FORBIDDEN, "api_key", "api_key 无效或已吊销",
				"invalid api_key received -- can't proceed with create_request");
	}
	if (si->must_change_password)
		return req_fail(r, ERR_FORBIDDEN, "api_key", "api_key 的用户须先修改一次性密码",
				"the api_key's user must first change a one-time password");
	if (authz_scope(&si->actor, PERM_REQUEST_SUBMIT) == SCOPE_NONE)
		return req_fail(r, ERR_FORBIDDEN, "api_key", "api_key 的用户无权提出诉求",
				"the api_key's user may not submit requests (needs %s)",
				perm_name(PERM_REQUEST_SUBMIT));
	snprintf(si->actor.request_id, sizeof si->actor.request_id, "%s", r->id);
	return 0;
}

static int h_submit(struct req *r)
{
	enum open311_fmt fmt = fmt_of(r);
	struct open311_form f = {0};
	struct session_info si;
	struct db *db = req_db(r);
	struct open311_submission *s = arena_zalloc(r->arena, sizeof *s);
	int64_t tenant;
	int rc = db ? 0 : (r->err.code ? r->err.code : ERR_UNAVAILABLE);
	if (!rc)
		rc = read_form(r, &f);
	if (!rc)
		rc = api_key_actor(r, db, open311_form_get(&f, "api_key"), &si);
	if (!rc) {
		const char *j = open311_form_get(&f, "jurisdiction_id");
		if (j && *j && !(rc = jurisdiction(r, db, j, &tenant)) && tenant != si.actor.tenant_id)
			rc = req_fail(r, ERR_FORBIDDEN, "api_key", "api_key 不属于该辖区",
				      "the api_key is not valid for this jurisdiction_id");
	}
	if (!rc) {
		s->who = &si.actor;
		s->tenant_id = si.actor.tenant_id;
		s->session_id = si.actor.session_id;
		s->now = now_ms();
		rc = open311_submission_prepare(db, &f, s, &r->err);
	}
	if (!rc)
		rc = req_write(r, open311_submit, s);
	if (rc) {
		open311_form_release(&f);
		return fail(r, fmt);
	}
	char id[24], notice[128];
	snprintf(id, sizeof id, "%lld", (long long)s->id);
	open311_notice(s->service.handle_days, notice, sizeof notice);
	struct buf b;
	struct open311_writer w;
	buf_init(&b, 0);
	open311_writer_init(&w, fmt, &b);
	open311_list_begin(&w, "service_requests");
	open311_obj_begin(&w, "request");
	open311_str(&w, "service_request_id", id);
	open311_str(&w, "service_notice", notice[0] ? notice : NULL);
	open311_str(&w, "account_id", s->account_id);
	open311_end(&w);
	open311_end(&w);
	open311_form_release(&f);
	return send_doc(r, 200, fmt, &b);
}

/* ---- attribute definitions (administration) ---- */

static int attrs_reply(struct req *r, int64_t category_id)
{
	struct open311_attrs a = {0};
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = open311_attrs_load(db, r->actor.tenant_id, category_id, &a, &r->err);
	if (rc)
		return rc;
	json_t *items = json_array();
	for (size_t i = 0; i < a.n; i++) {
		const struct open311_attribute *x = &a.v[i];
		json_array_append_new(items, json_pack("{s:s,s:s,s:b,s:b,s:s,s:s,s:I,s:O}", "code", x->code,
						   "datatype", open311_datatype_name(x->datatype),
						   "required", x->required, "variable", x->variable,
						   "description", x->description,
						   "datatype_description", x->datatype_description,
						   "order", (json_int_t)x->order, "values", x->values));
	}
	open311_attrs_release(&a);
	return reply_json(r, 200, json_pack("{s:o}", "items", items));
}

static int h_attrs_get(struct req *r)
{
	int64_t id;
	struct category c;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	if ((rc = category_get(db, r->actor.tenant_id, id, &c, &r->err)))
		return rc;
	return attrs_reply(r, id);
}

static int h_attrs_put(struct req *r)
{
	static const char *const allowed[] = {"attributes", NULL};
	struct open311_attrs_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
					.now = now_ms()};
	int rc = req_param_id(r, "id", &w.category_id);
	if (rc)
		return rc;
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	if ((rc = jsonv_only(b, allowed, &r->err)))
		return rc;
	w.attributes = json_object_get(b, "attributes");
	if (!json_is_array(w.attributes))
		return req_fail(r, ERR_BAD_REQUEST, "attributes", "attributes 应为数组",
				"attributes must be an array");
	if ((rc = req_write(r, open311_attrs_put, &w)))
		return rc;
	return attrs_reply(r, w.category_id);
}

#define O311(method, path, fn, body, what)                                                   \
	{method, "/open311/v2/" path ".json", fn, PERM_PUBLIC, body, 0, what " (JSON)"},       \
	{method, "/open311/v2/" path ".xml", fn, PERM_PUBLIC, body, 0, what " (XML)"}

const struct route api_open311_routes[] = {
	O311("GET", "discovery", h_discovery, 0, "Open311 服务发现 / Open311 service discovery"),
	O311("GET", "services", h_services, 0, "Open311 服务列表 / Open311 service list"),
	O311("GET", "services/{code}", h_service, 0,
	     "Open311 服务定义（属性）/ Open311 service definition"),
	O311("GET", "requests", h_requests, 0,
	     "Open311 诉求查询（筛选、分页）/ Open311 service requests"),
	O311("POST", "requests", h_submit, 65536,
	     "Open311 提交诉求（api_key）/ file an Open311 service request"),
	O311("GET", "requests/{id}", h_request, 0, "Open311 单个诉求 / one Open311 service request"),
	O311("GET", "tokens/{token}", h_token, 0,
	     "Open311 令牌换取诉求编号 / Open311 service_request_id from a token"),
	{"GET", "/api/v1/request-categories/{id}/open311-attributes", h_attrs_get, PERM_LOGIN, 0, 0,
	 "分类的 Open311 属性定义 / a category's Open311 attributes"},
	{"PUT", "/api/v1/request-categories/{id}/open311-attributes", h_attrs_put,
	 PERM_CATEGORY_WRITE, 65536, 0, "设置分类的 Open311 属性 / set a category's Open311 attributes"},
	{0},
};
