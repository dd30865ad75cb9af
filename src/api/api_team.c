/*
 * api_team.c — service teams (组团式服务 / 包联) and the blind-spot report.
 *
 *   GET    /api/v1/enterprises/{id}/team            enterprise.read (enterprise in scope)
 *   POST   /api/v1/enterprises/{id}/team            team.write
 *   DELETE /api/v1/enterprises/{id}/team/{user_id}  team.write
 *   GET    /api/v1/users/{id}/enterprises           enterprise.read (user visible)
 *   GET    /api/v1/reports/blind-spots              blindspot.read
 *
 * A team member as JSON: {"user_id","login","display_name","user_status",
 * "department_id","department_name","role":"lead|member","assigned_at","assigned_by"}.
 */
#include "api/api.h"

#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "core/team.h"
#include "core/user.h"
#include "base/banned.h"

static json_t *member_json(const struct team_member *m)
{
	json_t *j = json_object();
	json_object_set_new(j, "user_id", json_integer(m->user_id));
	json_object_set_new(j, "login", json_string(m->login));
	json_object_set_new(j, "display_name", json_string(m->display_name));
	json_object_set_new(j, "user_status", json_string(m->user_status));
	json_object_set_new(j, "department_id", api_id(m->department_id));
	json_object_set_new(j, "department_name", json_string(m->dept_name));
	json_object_set_new(j, "role", json_string(m->role));
	json_object_set_new(j, "assigned_at", api_time(m->assigned_at));
	json_object_set_new(j, "assigned_by", api_id(m->assigned_by));
	return j;
}

static int add_member(const struct team_member *m, void *ctx)
{
	json_array_append_new(ctx, member_json(m));
	return 0;
}

/* {"enterprise_id","items":[members],"next":null}; scope: the caller's enterprise.read. */
static json_t *team_json(struct req *r, int64_t enterprise_id, enum scope scope)
{
	struct db *db = req_db(r);
	json_t *items;

	if (!db)
		return NULL;
	items = json_array();
	if (team_list_for_enterprise(db, &r->actor, scope, enterprise_id, add_member, items,
				     &r->err)) {
		json_decref(items);
		return NULL;
	}
	json_t *out = api_list(items, 0);
	json_object_set_new(out, "enterprise_id", json_integer(enterprise_id));
	return out;
}

static int h_team_get(struct req *r)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	json_t *out = team_json(r, id, r->scope);
	return out ? reply_json(r, 200, out) : r->err.code;
}

static int h_team_assign(struct req *r)
{
	static const char *const allowed[] = {"user_id", "role", NULL};
	struct team_write w = {.who = &r->actor, .scope = r->scope,
			       .tenant_id = r->actor.tenant_id, .role = "member", .now = now_ms()};
	json_t *b;
	int rc = req_param_id(r, "id", &w.enterprise_id);
	if (rc)
		return rc;
	if (!(b = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_int(b, "user_id", true, 1, INT64_MAX, &w.user_id, &r->err)) ||
	    (rc = jsonv_str(b, "role", false, 16, &w.role, &r->err)))
		return rc;
	if (!team_role_valid(w.role))
		return req_fail(r, ERR_UNPROCESSABLE, "role", "角色应为 lead（组长）或 member（成员）",
				"role must be 'lead' or 'member'");
	if ((rc = req_write(r, team_assign, &w)))
		return rc;
	json_t *out = team_json(r, w.enterprise_id, authz_scope(&r->actor, PERM_ENTERPRISE_READ));
	if (!out)
		return r->err.code;
	json_object_set_new(out, "changed", json_boolean(w.changed));
	json_object_set_new(out, "demoted_user_id", api_id(w.demoted_user_id));
	return reply_json(r, w.created ? 201 : 200, out);
}

static int h_team_remove(struct req *r)
{
	struct team_write w = {.who = &r->actor, .scope = r->scope,
			       .tenant_id = r->actor.tenant_id, .now = now_ms()};
	int rc = req_param_id(r, "id", &w.enterprise_id);
	if (!rc)
		rc = req_param_id(r, "user_id", &w.user_id);
	if (!rc)
		rc = req_write(r, team_remove, &w);
	if (rc)
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

/* ---- an official's portfolio ---- */

static json_t *assignment_json(const struct team_assignment *a)
{
	json_t *j = json_object();
	json_object_set_new(j, "enterprise_id", json_integer(a->enterprise_id));
	json_object_set_new(j, "name", json_string(a->name));
	json_object_set_new(j, "credit_code", json_string(a->credit_code));
	json_object_set_new(j, "status", json_string(a->status));
	json_object_set_new(j, "is_key", json_boolean(a->is_key));
	json_object_set_new(j, "role", json_string(a->role));
	json_object_set_new(j, "assigned_at", api_time(a->assigned_at));
	json_object_set_new(j, "team_size", json_integer(a->team_size));
	return j;
}

struct portfolio_ctx {
	json_t *items;
	int64_t last;
};

static int add_assignment(const struct team_assignment *a, void *ctx)
{
	struct portfolio_ctx *c = ctx;
	json_array_append_new(c->items, assignment_json(a));
	c->last = a->enterprise_id;
	return 0;
}

/* The user must be the caller or visible under the caller's user.read scope (else 404). */
static int check_user_visible(struct req *r, struct db *db, int64_t id)
{
	struct user u;
	int rc;

	if (id == r->actor.user_id)
		return 0;
	if ((rc = user_get(db, r->actor.tenant_id, id, &u, &r->err)))
		return rc;
	struct scope_row row = {.dept_id = u.department_id, .dept_path = u.dept_path,
				.owner_id = u.id};
	if (!scope_allows(&r->actor, authz_scope(&r->actor, PERM_USER_READ), &row))
		return req_fail(r, ERR_NOT_FOUND, "id", "找不到该用户", "no such user");
	return 0;
}

static int h_portfolio(struct req *r)
{
	struct page pg;
	struct team_portfolio counts;
	struct portfolio_ctx c = {NULL, 0};
	struct db *db;
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = api_page(r, &pg);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = check_user_visible(r, db, id)))
		return rc;
	c.items = json_array();
	rc = team_list_for_user(db, &r->actor, r->scope, id, pg.after, pg.limit, add_assignment, &c,
				&counts, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == pg.limit ? c.last : 0;
	json_t *out = api_list(c.items, next);
	json_object_set_new(out, "user_id", json_integer(id));
	json_object_set_new(out, "counts",
			    json_pack("{s:I,s:I,s:I,s:I}", "total", (json_int_t)counts.total,
				      "active", (json_int_t)counts.active, "as_lead",
				      (json_int_t)counts.as_lead, "key", (json_int_t)counts.key));
	return reply_json(r, 200, out);
}

/* ---- blind spots ---- */

struct report_ctx {
	json_t *sections;
	json_t *items;   /* of the current section (owned by it) */
	json_t *cur;     /* the current section */
	int64_t last;
	int64_t limit;
};

static void close_section(struct report_ctx *c)
{
	if (!c->cur)
		return;
	int64_t next = (int64_t)json_array_size(c->items) == c->limit ? c->last : 0;
	json_object_set_new(c->cur, "next", next ? json_integer(next) : json_null());
}

static int on_section(const struct blindspot_section *s, int64_t total, int64_t param, void *ctx)
{
	struct report_ctx *c = ctx;
	close_section(c);
	c->items = json_array();
	c->last = 0;
	c->cur = json_object();
	json_object_set_new(c->cur, "code", json_string(s->code));
	json_object_set_new(c->cur, "title", json_string(s->title_zh));
	json_object_set_new(c->cur, "title_en", json_string(s->title_en));
	json_object_set_new(c->cur, "subject",
			    json_string(s->subject == BLINDSPOT_ENTERPRISE ? "enterprise"
					: s->subject == BLINDSPOT_OFFICIAL     ? "official"
									       : "grid"));
	if (s->setting)
		json_object_set_new(c->cur, "setting",
				    json_pack("{s:s,s:I}", "key", s->setting, "value",
					      (json_int_t)param));
	json_object_set_new(c->cur, "total", json_integer(total));
	json_object_set_new(c->cur, "items", c->items);
	json_array_append_new(c->sections, c->cur);
	return 0;
}

static int on_row(const struct blindspot_section *s, const struct blindspot_row *row, void *ctx)
{
	struct report_ctx *c = ctx;
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(row->id));
	if (s->subject == BLINDSPOT_ENTERPRISE) {
		json_object_set_new(j, "name", json_string(row->name));
		json_object_set_new(j, "credit_code", json_string(row->credit_code));
		json_object_set_new(j, "is_key", json_boolean(row->is_key));
		json_object_set_new(j, "grid_id", api_id(row->grid_id));
	} else if (s->subject == BLINDSPOT_OFFICIAL) {
		json_object_set_new(j, "login", json_string(row->login));
		json_object_set_new(j, "display_name", json_string(row->name));
		json_object_set_new(j, "department_id", api_id(row->department_id));
		json_object_set_new(j, "department_name", json_string(row->dept_name));
	} else {
		json_object_set_new(j, "code", json_string(row->code));
		json_object_set_new(j, "name", json_string(row->name));
		json_object_set_new(j, "level", json_string(row->level));
	}
	if (s->value_key)
		json_object_set_new(j, s->value_key, json_integer(row->value));
	json_array_append_new(c->items, j);
	c->last = row->id;
	return 0;
}

static int h_blind_spots(struct req *r)
{
	struct blindspot_params p = {.section = req_query(r, "section"), .now = now_ms()};
	struct blindspot_sink sink = {on_section, on_row};
	struct report_ctx c = {NULL, NULL, NULL, 0, 0};
	struct db *db;
	int rc = req_query_int(r, "limit", 20, 1, 1000, &p.limit);
	if (!rc)
		rc = req_query_int(r, "after", 0, 0, INT64_MAX, &p.after);
	if (rc)
		return rc;
	if (p.after && !p.section)
		return req_fail(r, ERR_BAD_REQUEST, "after", "翻页需同时指定 section",
				"paging with 'after' needs 'section'");
	if (p.section && !blindspot_section(p.section))
		return req_fail(r, ERR_BAD_REQUEST, "section", "未知的盲区类别“%s”",
				"unknown blind-spot section '%s'", p.section);
	if (!(db = req_db(r)))
		return r->err.code;
	c.sections = json_array();
	c.limit = p.limit;
	rc = blindspot_report(db, &r->actor, r->scope, &p, &sink, &c, &r->err);
	if (rc) {
		json_decref(c.sections);
		return rc;
	}
	close_section(&c);
	return reply_json(r, 200, json_pack("{s:o}", "sections", c.sections));
}

const struct route api_team_routes[] = {
	{"GET", "/api/v1/enterprises/{id}/team", h_team_get, PERM_ENTERPRISE_READ, 0, 0,
	 "查看企业服务团队 / the service team of an enterprise"},
	{"POST", "/api/v1/enterprises/{id}/team", h_team_assign, PERM_TEAM_WRITE, 4096, 0,
	 "安排包联干部或调整组长 / assign an official to the team, or change their role"},
	{"DELETE", "/api/v1/enterprises/{id}/team/{user_id}", h_team_remove, PERM_TEAM_WRITE, 0, 0,
	 "移出服务团队 / remove an official from the team"},
	{"GET", "/api/v1/users/{id}/enterprises", h_portfolio, PERM_ENTERPRISE_READ, 0, 0,
	 "干部包联的企业 / the enterprises an official serves"},
	{"GET", "/api/v1/reports/blind-spots", h_blind_spots, PERM_BLINDSPOT_READ, 0, 0,
	 "服务盲区报告 / the blind-spot report"},
	{0},
};
