/*
 * api_audit.c — reading the audit log, verifying its chain, and the log of
 * login attempts. Administrators only (audit.read).
 */
#include "api/api.h"

#include <inttypes.h>
#include <string.h>

#include "core/audit.h"
#include "core/session.h"
#include "base/banned.h"

struct ctx {
	json_t *items;
	int64_t last;
};

static int each_row(const struct audit_row *a, void *p)
{
	struct ctx *c = p;
	json_error_t je;
	json_t *sum = json_loads(a->summary, 0, &je);
	json_array_append_new(
		c->items,
		json_pack("{s:I,s:I,s:I,s:s,s:s,s:I,s:s,s:o,s:s,s:s}", "seq", (json_int_t)a->seq,
			  "at", (json_int_t)a->at, "actor_id", (json_int_t)a->actor_id,
			  "actor_login", a->actor_login, "entity", a->entity, "entity_id",
			  (json_int_t)a->entity_id, "action", a->action, "summary",
			  sum ? sum : json_string(a->summary), "request_id", a->request_id, "hash",
			  a->hash));
	c->last = a->seq;
	return 0;
}

static int h_list(struct req *r)
{
	int64_t limit, before, entity_id, actor;
	int rc = req_query_int(r, "limit", 50, 1, 500, &limit);
	if (!rc)
		rc = req_query_int(r, "before", 0, 0, INT64_MAX, &before);
	if (!rc)
		rc = req_query_int(r, "entity_id", 0, 0, INT64_MAX, &entity_id);
	if (!rc)
		rc = req_query_int(r, "actor_id", 0, 0, INT64_MAX, &actor);
	if (rc)
		return rc;
	struct audit_filter f = {req_query(r, "entity"), entity_id, actor, before, limit};
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct ctx c = {json_array(), 0};
	rc = audit_list(db, r->actor.tenant_id, &f, each_row, &c, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == limit ? c.last : 0;
	return reply_json(r, 200,
			  json_pack("{s:o,s:o}", "items", c.items, "next_before",
				    next ? json_integer(next) : json_null()));
}

static int h_verify(struct req *r)
{
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int64_t rows;
	int bad;
	struct audit_problem p;
	int rc = audit_verify(db, r->actor.tenant_id, &rows, &bad, &p, &r->err);
	if (rc)
		return rc;
	json_t *out = json_pack("{s:b,s:I}", "ok", !bad, "rows", (json_int_t)rows);
	if (bad)
		json_object_set_new(out, "problem",
				    json_pack("{s:I,s:I,s:s}", "tenant_id", (json_int_t)p.tenant_id,
					      "seq", (json_int_t)p.seq, "what", p.what));
	return reply_json(r, 200, out);
}

static int each_login(const struct login_row *l, void *p)
{
	struct ctx *c = p;
	json_array_append_new(
		c->items,
		json_pack("{s:I,s:s,s:o,s:b,s:s,s:s,s:s,s:I}", "id", (json_int_t)l->id, "login",
			  l->login, "user_id", l->user_id ? json_integer(l->user_id) : json_null(),
			  "ok", l->ok, "reason", l->reason, "ip", l->ip, "user_agent", l->user_agent,
			  "at", (json_int_t)l->at));
	c->last = l->id;
	return 0;
}

static int h_logins(struct req *r)
{
	int64_t limit, before;
	int rc = req_query_int(r, "limit", 50, 1, 500, &limit);
	if (!rc)
		rc = req_query_int(r, "before", 0, 0, INT64_MAX, &before);
	if (rc)
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct ctx c = {json_array(), 0};
	rc = login_attempt_list(db, r->actor.tenant_id, req_query(r, "login"), before, limit,
				each_login, &c, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == limit ? c.last : 0;
	return reply_json(r, 200,
			  json_pack("{s:o,s:o}", "items", c.items, "next_before",
				    next ? json_integer(next) : json_null()));
}

const struct route api_audit_routes[] = {
	{"GET", "/api/v1/audit", h_list, PERM_AUDIT_READ, 0, 0,
	 "审计日志（新的在前）/ audit log, newest first"},
	{"GET", "/api/v1/audit/verify", h_verify, PERM_AUDIT_READ, 0, 0,
	 "校验审计日志哈希链 / verify the audit hash chain"},
	{"GET", "/api/v1/login-attempts", h_logins, PERM_AUDIT_READ, 0, 0,
	 "登录尝试记录 / log of login attempts"},
	{0},
};
