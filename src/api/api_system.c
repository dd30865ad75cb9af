/*
 * api_system.c — health, metrics, the OpenAPI document built from the route
 * table, the role catalogue, and tenant settings.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "core/session.h"
#include "core/settings.h"
#include "base/banned.h"

static int h_healthz(struct req *r)
{
	struct db *db = req_db(r);
	int64_t one = 0;
	if (!db || db_query_i64(db, &one, &r->err, "SELECT 1", "") || one != 1)
		return req_fail(r, ERR_UNAVAILABLE, NULL, "数据库不可用", "database unavailable");
	return reply_json(r, 200,
			  json_pack("{s:s,s:s,s:s,s:I}", "status", "ok", "version", r->app->version,
				    "database", db_backend_name(db), "uptime_ms",
				    (json_int_t)(now_ms() - r->app->started_ms)));
}

/* The web UI when the server has one (serve --web-root); otherwise a small
 * JSON index of what the server offers. The page gets a Content-Security-Policy:
 * scripts, styles, fonts and data only from this server (Element Plus and
 * Leaflet set style attributes, hence 'unsafe-inline' for styles only). */
static int h_index(struct req *r)
{
	if (static_has_index(r->app)) {
		req_header_add(r, "Content-Security-Policy",
			       "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
			       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
			       "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
			       "form-action 'self'");
		req_header_add(r, "Referrer-Policy", "same-origin");
		return static_reply(r, NULL, "index.html", false);
	}
	return reply_json(r, 200,
			  json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", "yiqiban 易企办", "version",
				    r->app->version, "api", "/api/v1/", "openapi",
				    "/api/v1/openapi.json", "health", "/healthz", "login",
				    "POST /api/v1/auth/login {\"login\",\"password\"}"));
}

/* The web UI's bundles: content-hashed names, cached for a year. */
static int h_asset(struct req *r)
{
	return static_reply(r, "assets", req_param(r, "file"), true);
}

static int h_metrics(struct req *r)
{
	struct buf b;
	buf_init(&b, 0);
	metrics_render(r->app->metrics, r->app, &b);
	reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	buf_release(&b);
	return 0;
}

/* OpenAPI 3.0 from the route table: paths, methods, summaries, path
 * parameters, the permission each needs, and the shared error shape. */
static int h_openapi(struct req *r)
{
	size_t n;
	const struct route *rt = routes_all(&n);
	json_t *paths = json_object();
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_object_get(paths, rt[i].pattern);
		if (!p) {
			p = json_object();
			json_object_set_new(paths, rt[i].pattern, p);
		}
		json_t *params = json_array();
		for (const char *s = strchr(rt[i].pattern, '{'); s; s = strchr(s + 1, '{')) {
			const char *end = strchr(s, '}');
			char name[32];
			snprintf(name, sizeof name, "%.*s", (int)(end - s - 1), s + 1);
			json_array_append_new(params,
					      json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", name, "in",
							"path", "required", 1, "schema", "type",
							"string"));
		}
		char method[8];
		size_t k;
		for (k = 0; rt[i].method[k] && k < sizeof method - 1; k++)
			method[k] = (char)(rt[i].method[k] | 0x20);
		method[k] = '\0';
		json_t *op = json_pack(
			"{s:s,s:o,s:s,s:{s:{s:s},s:{s:{s:{s:{s:s}}}}}}", "summary", rt[i].summary,
			"parameters", params, "x-permission", perm_name(rt[i].perm), "responses",
			"200", "description", "ok", "default", "content", "application/json",
			"schema", "$ref", "#/components/schemas/Error");
		if (rt[i].perm != PERM_PUBLIC)
			json_object_set_new(op, "security",
					    json_pack("[{s:[]},{s:[]}]", "cookie", "bearer"));
		json_object_set_new(p, method, op);
	}
	json_t *doc = json_pack(
		"{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}}}},"
		"s:{s:{s:s,s:s,s:s},s:{s:s,s:s}}}}",
		"openapi", "3.0.3", "info", "title", "yiqiban 易企办 API", "version", r->app->version,
		"description", "All times are UTC milliseconds. Errors share one shape.", "paths",
		paths, "components", "schemas", "Error", "type", "object", "properties", "error",
		"type", "object", "properties", "code", "type", "string", "message", "type",
		"string", "message_zh", "type", "string", "field", "type", "string",
		"securitySchemes", "cookie", "type", "apiKey", "in", "cookie", "name",
		SESSION_COOKIE, "bearer", "type", "http", "scheme", "bearer");
	return reply_json(r, 200, doc);
}

static int h_roles(struct req *r)
{
	json_t *items = json_array();
	for (int i = 0; i < ROLE__COUNT; i++) {
		const struct role_info *ri = role_info((enum role)i);
		json_t *perms = json_object();
		for (int p = PERM_USER_READ; p < PERM__COUNT; p++) {
			enum scope s = role_scope((enum role)i, (enum perm)p);
			if (s != SCOPE_NONE)
				json_object_set_new(perms, perm_name((enum perm)p),
						    json_string(scope_name(s)));
		}
		json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:o}", "code", ri->code,
						       "name_zh", ri->name_zh, "name_en",
						       ri->name_en, "permissions", perms));
	}
	return reply_json(r, 200, api_list(items, 0));
}

static int h_settings_get(struct req *r)
{
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	json_t *out = json_object();
	for (const struct setting_def *d = settings_defs(); d->key; d++) {
		int64_t v;
		int rc = settings_get_int(db, r->actor.tenant_id, d->key, &v, &r->err);
		if (rc) {
			json_decref(out);
			return rc;
		}
		json_object_set_new(out, d->key, json_integer(v));
	}
	return reply_json(r, 200, out);
}

struct put_job {
	const struct actor *who;
	json_t *body;
};

static int put_fn(struct db *db, void *arg, struct err *e)
{
	struct put_job *j = arg;
	const char *key;
	json_t *v;
	json_object_foreach(j->body, key, v) {
		int rc = settings_set_int(db, j->who, key, json_integer_value(v), e);
		if (rc)
			return rc;
	}
	return settings_validate(db, j->who->tenant_id, e);
}

static int h_settings_put(struct req *r)
{
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	const char *key;
	json_t *v;
	json_object_foreach(b, key, v) {
		const struct setting_def *d = settings_def(key);
		int64_t n;
		if (!d)
			return req_fail(r, ERR_BAD_REQUEST, key, "未知设置项“%s”",
					"unknown setting '%s'", key);
		int rc = jsonv_int(b, key, true, d->min, d->max, &n, &r->err);
		if (rc)
			return rc;
	}
	struct put_job j = {&r->actor, b};
	int rc = req_write(r, put_fn, &j);
	if (rc)
		return rc;
	return h_settings_get(r);
}

const struct route api_system_routes[] = {
	{"GET", "/", h_index, PERM_PUBLIC, 0, 0, "网页界面或服务入口 / the web UI, or what this server offers"},
	{"GET", "/assets/{file}", h_asset, PERM_PUBLIC, 0, 0,
	 "网页界面的静态文件 / static files of the web UI"},
	{"GET", "/healthz", h_healthz, PERM_PUBLIC, 0, 0, "健康检查 / health check"},
	{"GET", "/metrics", h_metrics, PERM_PUBLIC, 0, 0,
	 "Prometheus 指标 / Prometheus metrics"},
	{"GET", "/api/v1/openapi.json", h_openapi, PERM_PUBLIC, 0, 0,
	 "OpenAPI 接口文档 / OpenAPI document of this API"},
	{"GET", "/api/v1/roles", h_roles, PERM_LOGIN, 0, ROUTE_BEFORE_PW_CHANGE,
	 "角色、权限与数据范围 / roles, permissions and data scopes"},
	{"GET", "/api/v1/settings", h_settings_get, PERM_SETTINGS_WRITE, 0, 0,
	 "辖区设置 / tenant settings"},
	{"PUT", "/api/v1/settings", h_settings_put, PERM_SETTINGS_WRITE, 4096, 0,
	 "修改辖区设置 / change tenant settings"},
	{0},
};
