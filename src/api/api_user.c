/*
 * api_user.c — user administration: list, read, create, update, reset password.
 * Reading is filtered by the caller's scope of user.read; writing needs user.write.
 */
#include "api/api.h"

#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "core/user.h"
#include "base/banned.h"

static json_t *mask(const char *phone)
{
	size_t n = strlen(phone);
	if (n < 7)
		return json_string(n ? "****" : "");
	char m[32];
	snprintf(m, sizeof m, "%.3s****%s", phone, phone + n - 4);
	return json_string(m);
}

static json_t *mask_email(const char *email)
{
	const char *at = strchr(email, '@');
	if (!at)
		return json_string(*email ? "***" : "");
	char m[160];
	snprintf(m, sizeof m, "%.1s***%s", email, at);
	return json_string(m);
}

/* mask_personal hides phone and e-mail from callers who may not see them. */
json_t *api_user_json(const struct user *u, bool mask_personal)
{
	json_t *roles = json_array();
	const char *codes[ROLE__COUNT];
	int n = roles_to_codes(u->roles, codes, ROLE__COUNT);
	for (int i = 0; i < n; i++)
		json_array_append_new(roles, json_string(codes[i]));
	return json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:s,s:o,s:s,s:o,s:b,s:o,s:o,s:I,s:I}", "id",
			 (json_int_t)u->id, "login", u->login, "display_name", u->display_name,
			 "phone", mask_personal ? mask(u->phone) : json_string(u->phone), "email",
			 mask_personal ? mask_email(u->email) : json_string(u->email), "department_id",
			 u->department_id ? json_integer(u->department_id) : json_null(),
			 "department_name", u->dept_name, "enterprise_id",
			 u->enterprise_id ? json_integer(u->enterprise_id) : json_null(), "status",
			 u->status, "roles", roles,
			 "must_change_password", u->must_change_password, "locked_until",
			 api_time(u->locked_until), "last_login_at", api_time(u->last_login_at),
			 "created_at", (json_int_t)u->created_at, "updated_at",
			 (json_int_t)u->updated_at);
}

/* Administrators (user.write) see everyone's phone and e-mail; others only their own. */
static bool can_see_personal(struct req *r, int64_t user_id)
{
	return user_id == r->actor.user_id || authz_scope(&r->actor, PERM_USER_WRITE) != SCOPE_NONE;
}

struct list_ctx {
	struct req *r;
	json_t *items;
	int64_t last;
};

static int each_user(const struct user *u, void *ctx)
{
	struct list_ctx *c = ctx;
	json_array_append_new(c->items, api_user_json(u, !can_see_personal(c->r, u->id)));
	c->last = u->id;
	return 0;
}

static int h_list(struct req *r)
{
	struct page pg;
	int64_t dept = 0;
	int rc = api_page(r, &pg);
	if (!rc)
		rc = req_query_int(r, "department_id", 0, 0, INT64_MAX, &dept);
	if (rc)
		return rc;
	const char *q = req_query(r, "q");
	if (q && utf8_len(q, strlen(q)) > 64)
		return req_fail(r, ERR_BAD_REQUEST, "q", "搜索词不能超过 64 个字符",
				"query parameter 'q' is longer than 64 characters");
	struct user_filter f = {.q = q, .department_id = dept, .role = -1,
				.status = req_query(r, "status"), .after = pg.after,
				.limit = pg.limit};
	const char *role = req_query(r, "role");
	if (role && *role && (f.role = role_from_code(role)) < 0)
		return req_fail(r, ERR_BAD_REQUEST, "role", "未知角色“%s”", "unknown role '%s'",
				role);
	if (f.status && *f.status && strcmp(f.status, "active") && strcmp(f.status, "disabled"))
		return req_fail(r, ERR_BAD_REQUEST, "status", "状态应为 active 或 disabled",
				"status must be 'active' or 'disabled'");
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct list_ctx c = {r, json_array(), 0};
	rc = user_list(db, &r->actor, r->scope, &f, each_user, &c, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == pg.limit ? c.last : 0;
	return reply_json(r, 200, api_list(c.items, next));
}

/* Read a user the caller may see; ERR_NOT_FOUND (not 403) when out of scope,
 * so the existence of other departments' users is not revealed. */
static int load_visible(struct req *r, int64_t id, struct user *u)
{
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = user_get(db, r->actor.tenant_id, id, u, &r->err);
	if (rc)
		return rc;
	struct scope_row row = {.dept_id = u->department_id, .dept_path = u->dept_path, .owner_id = u->id};
	if (!scope_allows(&r->actor, r->scope, &row))
		return req_fail(r, ERR_NOT_FOUND, "id", "找不到该用户", "no such user");
	return 0;
}

static int h_get(struct req *r)
{
	int64_t id;
	struct user u;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = load_visible(r, id, &u);
	if (rc)
		return rc;
	return reply_json(r, 200, api_user_json(&u, !can_see_personal(r, u.id)));
}

static int parse_roles(struct req *r, json_t *b, bool *set, unsigned *roles)
{
	json_t *arr = NULL, *it;
	size_t i;
	int rc = jsonv_str_array(b, "roles", false, ROLE__COUNT, &arr, &r->err);
	if (rc || !arr)
		return rc;
	*set = true;
	*roles = 0;
	json_array_foreach(arr, i, it) {
		int role = role_from_code(json_string_value(it));
		if (role < 0)
			return req_fail(r, ERR_UNPROCESSABLE, "roles", "未知角色“%s”",
					"unknown role '%s'", json_string_value(it));
		*roles |= 1u << role;
	}
	return 0;
}

/* An optional reference: absent = unchanged, null = none, else a positive id. */
static int parse_ref(struct req *r, json_t *b, const char *key, bool *set, int64_t *id)
{
	json_t *v = json_object_get(b, key);
	if (!v)
		return 0;
	*set = true;
	if (json_is_null(v)) {
		*id = 0;
		return 0;
	}
	return jsonv_int(b, key, true, 1, INT64_MAX, id, &r->err);
}

static int h_create(struct req *r)
{
	static const char *const allowed[] = {"login", "display_name", "password", "phone", "email",
					      "department_id", "enterprise_id", "roles", NULL};
	struct user_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now_ms()};
	const char *pw = NULL;
	char otp[24] = "", hash[PASSWORD_HASH_MAX];
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_text(b, "login", true, 32, &w.login, &r->err);
	if (!rc)
		rc = user_check_login(w.login, &r->err);
	if (!rc)
		rc = jsonv_text(b, "display_name", true, 64, &w.display_name, &r->err);
	if (!rc)
		rc = jsonv_str(b, "password", false, 128, &pw, &r->err);
	if (!rc)
		rc = jsonv_str(b, "phone", false, 20, &w.phone, &r->err);
	if (!rc)
		rc = jsonv_str(b, "email", false, 100, &w.email, &r->err);
	if (!rc)
		rc = parse_ref(r, b, "department_id", &w.set_department, &w.department_id);
	if (!rc)
		rc = parse_ref(r, b, "enterprise_id", &w.set_enterprise, &w.enterprise_id);
	if (!rc)
		rc = parse_roles(r, b, &w.set_roles, &w.roles);
	if (!rc && pw)
		rc = password_check_policy(pw, w.login, &r->err);
	if (rc)
		return rc;
	if (!pw) {
		password_generate(otp);
		pw = otp;
		w.must_change_password = true;
	}
	rc = password_hash(pw, hash, &r->err);
	if (rc)
		return rc;
	w.password_hash = hash;
	rc = req_write(r, user_create, &w);
	if (rc)
		return rc;
	struct user u;
	rc = user_get(req_db(r), r->actor.tenant_id, w.id, &u, &r->err);
	if (rc)
		return rc;
	json_t *out = api_user_json(&u, false);
	if (otp[0])
		json_object_set_new(out, "one_time_password", json_string(otp));
	return reply_json(r, 201, out);
}

static int h_update(struct req *r)
{
	static const char *const allowed[] = {"display_name", "phone", "email", "department_id",
					      "enterprise_id", "roles", "status", "unlock", NULL};
	struct user_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now_ms()};
	struct user u;
	int rc = req_param_id(r, "id", &w.id);
	if (!rc)
		rc = load_visible(r, w.id, &u);
	if (rc)
		return rc;
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_text(b, "display_name", false, 64, &w.display_name, &r->err);
	if (!rc)
		rc = jsonv_str(b, "phone", false, 20, &w.phone, &r->err);
	if (!rc)
		rc = jsonv_str(b, "email", false, 100, &w.email, &r->err);
	if (!rc)
		rc = parse_ref(r, b, "department_id", &w.set_department, &w.department_id);
	if (!rc)
		rc = parse_ref(r, b, "enterprise_id", &w.set_enterprise, &w.enterprise_id);
	if (!rc)
		rc = parse_roles(r, b, &w.set_roles, &w.roles);
	if (!rc)
		rc = jsonv_str(b, "status", false, 16, &w.status, &r->err);
	if (!rc)
		rc = jsonv_bool(b, "unlock", false, &w.unlock, &r->err);
	if (!rc)
		rc = req_write(r, user_update, &w);
	if (!rc)
		rc = user_get(req_db(r), r->actor.tenant_id, w.id, &u, &r->err);
	if (rc)
		return rc;
	return reply_json(r, 200, api_user_json(&u, false));
}

static int h_reset_password(struct req *r)
{
	static const char *const allowed[] = {"password", NULL};
	struct user_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now_ms()};
	struct user u;
	const char *pw = NULL;
	char otp[24] = "", hash[PASSWORD_HASH_MAX];
	int rc = req_param_id(r, "id", &w.id);
	if (!rc)
		rc = load_visible(r, w.id, &u);
	if (rc)
		return rc;
	json_t *b = r->body.len ? req_body_json(r) : NULL;
	if (r->body.len && !b)
		return r->err.code;
	if (b) {
		rc = jsonv_only(b, allowed, &r->err);
		if (!rc)
			rc = jsonv_str(b, "password", false, 128, &pw, &r->err);
		if (!rc && pw)
			rc = password_check_policy(pw, u.login, &r->err);
		if (rc)
			return rc;
	}
	if (!pw) {
		password_generate(otp);
		pw = otp;
	}
	w.must_change_password = true;
	rc = password_hash(pw, hash, &r->err);
	if (rc)
		return rc;
	w.password_hash = hash;
	rc = req_write(r, user_set_password, &w);
	if (rc)
		return rc;
	json_t *out = json_pack("{s:b}", "must_change_password", 1);
	if (otp[0])
		json_object_set_new(out, "one_time_password", json_string(otp));
	return reply_json(r, 200, out);
}

const struct route api_user_routes[] = {
	{"GET", "/api/v1/users", h_list, PERM_USER_READ, 0, 0,
	 "列出用户（按数据范围过滤）/ list users (filtered by scope)"},
	{"GET", "/api/v1/users/{id}", h_get, PERM_USER_READ, 0, 0, "查看用户 / read a user"},
	{"POST", "/api/v1/users", h_create, PERM_USER_WRITE, 8192, ROUTE_SLOW,
	 "创建用户 / create a user"},
	{"PATCH", "/api/v1/users/{id}", h_update, PERM_USER_WRITE, 8192, 0,
	 "修改用户、角色、状态、解锁 / update a user, roles, status, unlock"},
	{"POST", "/api/v1/users/{id}/password", h_reset_password, PERM_USER_WRITE, 4096, ROUTE_SLOW,
	 "重置用户密码 / reset a user's password"},
	{0},
};
