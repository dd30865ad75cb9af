/*
 * api_auth.c — login, logout, the current user, own password, own API tokens.
 */
#include "api/api.h"

#include <string.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/session.h"
#include "core/tenant.h"
#include "core/user.h"
#include "base/banned.h"

static const char *cookie(struct req *r, const char *token, int64_t max_age_s)
{
	return arena_printf(r->arena, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s",
			    SESSION_COOKIE, token, (long long)max_age_s,
			    r->app->cfg.cookie_secure ? "; Secure" : "");
}

static json_t *perms_json(const struct actor *a)
{
	json_t *o = json_object();
	for (int p = PERM_USER_READ; p < PERM__COUNT; p++) {
		enum scope s = authz_scope(a, (enum perm)p);
		if (s != SCOPE_NONE)
			json_object_set_new(o, perm_name((enum perm)p), json_string(scope_name(s)));
	}
	return o;
}

static int h_login(struct req *r)
{
	static const char *const allowed[] = {"tenant", "login", "password", "bearer", NULL};
	const char *tenant = NULL, *login = NULL, *password = NULL;
	bool bearer = false;
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_str(b, "tenant", false, 32, &tenant, &r->err);
	if (!rc)
		rc = jsonv_text(b, "login", true, 64, &login, &r->err);
	if (!rc)
		rc = jsonv_str(b, "password", true, 128, &password, &r->err);
	if (!rc)
		rc = jsonv_bool(b, "bearer", false, &bearer, &r->err);
	if (rc)
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;

	struct login_attempt a;
	memset(&a, 0, sizeof a);
	rc = tenant_resolve(db, tenant, &a.tenant_id, &r->err);
	if (rc)
		return rc;
	a.login = login;
	a.password = password;
	a.ip = req_client_ip(r);
	a.user_agent = req_header(r, "User-Agent");
	a.request_id = r->id;
	a.now = now_ms();
	a.session_max_ms = r->app->cfg.session_max_ms;
	rc = auth_login_prepare(db, &a, &r->err);
	if (rc)
		return rc;
	auth_login_verify(&a);
	rc = req_write(r, auth_login_record, &a);
	if (rc)
		return rc;

	if (strcmp(a.outcome, "locked") == 0 || a.locked_until_after) {
		int64_t until = a.locked_until_after ? a.locked_until_after : a.locked_until;
		int64_t secs = (until - a.now + 999) / 1000;
		req_header_add(r, "Retry-After", arena_printf(r->arena, "%lld", (long long)secs));
		return req_fail(r, ERR_RATE_LIMITED, "login",
				"登录失败次数过多，账号已锁定，请 %lld 分钟后再试",
				"too many failed logins: the account is locked for %lld more minutes",
				(long long)((secs + 59) / 60));
	}
	if (strcmp(a.outcome, "ok") != 0)
		return req_fail(r, ERR_UNAUTHENTICATED, "password", "登录名或密码错误",
				"wrong login or password");

	struct user u;
	rc = user_get(db, a.tenant_id, a.user_id, &u, &r->err);
	if (rc)
		return rc;
	r->set_cookie = cookie(r, a.token, a.session_max_ms / 1000);
	json_t *out = json_pack("{s:o,s:s,s:I}", "user", api_user_json(&u, false), "csrf_token",
				a.csrf, "expires_at", (json_int_t)a.expires_at);
	if (bearer)
		json_object_set_new(out, "token", json_string(a.token));
	return reply_json(r, 200, out);
}

struct revoke_job {
	const struct actor *who;
	int64_t id;
};

static int revoke_fn(struct db *db, void *arg, struct err *e)
{
	struct revoke_job *j = arg;
	return session_revoke(db, j->who, j->id, e);
}

static int h_logout(struct req *r)
{
	struct revoke_job j = {&r->actor, r->actor.session_id};
	int rc = req_write(r, revoke_fn, &j);
	if (rc)
		return rc;
	r->set_cookie = cookie(r, "", 0);
	return reply_raw(r, 204, "application/json", "", 0);
}

static int h_me(struct req *r)
{
	struct user u;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = user_get(db, r->actor.tenant_id, r->actor.user_id, &u, &r->err);
	if (rc)
		return rc;
	json_t *out = api_user_json(&u, false);
	json_object_set_new(out, "permissions", perms_json(&r->actor));
	json_object_set_new(out, "session_kind", json_string(r->via_cookie ? "cookie" : "bearer"));
	if (r->via_cookie)
		json_object_set_new(out, "csrf_token", json_string(r->csrf));
	return reply_json(r, 200, out);
}

static int h_my_password(struct req *r)
{
	static const char *const allowed[] = {"old_password", "new_password", NULL};
	const char *old = NULL, *pw = NULL;
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_str(b, "old_password", true, 128, &old, &r->err);
	if (!rc)
		rc = jsonv_str(b, "new_password", true, 128, &pw, &r->err);
	if (rc)
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct user u;
	rc = user_get(db, r->actor.tenant_id, r->actor.user_id, &u, &r->err);
	if (rc)
		return rc;
	struct login_attempt a = {.tenant_id = r->actor.tenant_id, .login = u.login};
	rc = auth_login_prepare(db, &a, &r->err);
	if (rc)
		return rc;
	if (!password_verify(a.password_hash, old))
		return req_fail(r, ERR_UNPROCESSABLE, "old_password", "原密码错误",
				"old password is wrong");
	rc = password_check_policy(pw, u.login, &r->err);
	if (rc) {
		snprintf(r->err.field, sizeof r->err.field, "new_password");
		return rc;
	}
	if (strcmp(old, pw) == 0)
		return req_fail(r, ERR_UNPROCESSABLE, "new_password", "新密码不能与原密码相同",
				"new password must differ from the old one");
	char hash[PASSWORD_HASH_MAX];
	rc = password_hash(pw, hash, &r->err);
	if (rc)
		return rc;
	struct user_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
			       .id = r->actor.user_id, .password_hash = hash,
			       .keep_session = r->actor.session_id, .now = now_ms()};
	rc = req_write(r, user_set_password, &w);
	if (rc)
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

static int h_token_create(struct req *r)
{
	static const char *const allowed[] = {"name", "expires_days", NULL};
	const char *name = NULL;
	int64_t days = 0;
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_text(b, "name", true, 64, &name, &r->err);
	if (!rc)
		rc = jsonv_int(b, "expires_days", false, 1, 3650, &days, &r->err);
	if (rc)
		return rc;
	struct token_new t = {.who = &r->actor, .name = name, .now = now_ms()};
	t.expires_at = days ? t.now + days * 86400000LL : 0;
	rc = req_write(r, token_create, &t);
	if (rc)
		return rc;
	return reply_json(r, 201,
			  json_pack("{s:I,s:s,s:s,s:o,s:I}", "id", (json_int_t)t.id, "name", name,
				    "token", t.token, "expires_at", api_time(t.expires_at),
				    "created_at", (json_int_t)t.now));
}

static int each_token(const struct token_row *t, void *ctx)
{
	json_array_append_new(
		ctx, json_pack("{s:I,s:s,s:I,s:I,s:o,s:o}", "id", (json_int_t)t->id, "name", t->name,
			       "created_at", (json_int_t)t->created_at, "last_used_at",
			       (json_int_t)t->last_used_at, "expires_at", api_time(t->expires_at),
			       "revoked_at", api_time(t->revoked_at)));
	return 0;
}

static int h_token_list(struct req *r)
{
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	json_t *items = json_array();
	int rc = token_list(db, &r->actor, each_token, items, &r->err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	return reply_json(r, 200, api_list(items, 0));
}

static int h_token_revoke(struct req *r)
{
	struct revoke_job j = {&r->actor, 0};
	int rc = req_param_id(r, "id", &j.id);
	if (!rc)
		rc = req_write(r, revoke_fn, &j);
	if (rc)
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

const struct route api_auth_routes[] = {
	{"POST", "/api/v1/auth/login", h_login, PERM_PUBLIC, 4096, ROUTE_NO_CSRF | ROUTE_SLOW,
	 "登录，设置会话 Cookie / log in, sets the session cookie"},
	{"POST", "/api/v1/auth/logout", h_logout, PERM_LOGIN, 0, ROUTE_BEFORE_PW_CHANGE,
	 "退出登录 / log out (revokes this session)"},
	{"GET", "/api/v1/me", h_me, PERM_LOGIN, 0, ROUTE_BEFORE_PW_CHANGE,
	 "当前用户、角色与权限 / current user, roles, permissions"},
	{"POST", "/api/v1/me/password", h_my_password, PERM_LOGIN, 4096,
	 ROUTE_BEFORE_PW_CHANGE | ROUTE_SLOW,
	 "修改本人密码 / change own password"},
	{"GET", "/api/v1/me/tokens", h_token_list, PERM_TOKEN_OWN, 0, 0,
	 "本人的 API 令牌 / own API tokens"},
	{"POST", "/api/v1/me/tokens", h_token_create, PERM_TOKEN_OWN, 4096, 0,
	 "创建 API 令牌（仅显示一次）/ create an API token (shown once)"},
	{"DELETE", "/api/v1/me/tokens/{id}", h_token_revoke, PERM_TOKEN_OWN, 0, 0,
	 "吊销 API 令牌 / revoke an API token"},
	{0},
};
