/*
 * api_campaign.c — visit campaigns (走访活动, e.g. 千企万户大走访) over HTTP
 * (core/campaign.h).
 *
 *   GET  /api/v1/visit-campaigns                  visit.read  campaigns, newest first
 *   POST /api/v1/visit-campaigns                  visit.plan  create; the targets are resolved now
 *   GET  /api/v1/visit-campaigns/{id}             visit.read  one campaign with its progress
 *   GET  /api/v1/visit-campaigns/{id}/progress    visit.read  ?by=grid|worker
 *   GET  /api/v1/visit-campaigns/{id}/targets     visit.read  ?status=remaining|visited|all
 *
 * Progress is in the caller's scope: a grid worker sees its grid's part.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/campaign.h"
#include "core/grid.h"
#include "core/workcal.h"
#include "base/banned.h"

static json_t *progress_json(int64_t targets, int64_t visited)
{
	double pct = targets ? (double)(visited * 1000 / targets) / 10.0 : 0.0;
	return json_pack("{s:I,s:I,s:I,s:f}", "targets", (json_int_t)targets, "visited",
			 (json_int_t)visited, "remaining", (json_int_t)(targets - visited), "percent",
			 pct);
}

static json_t *campaign_json(const struct campaign *c, const struct campaign_progress *p,
			     int64_t now)
{
	json_error_t je;
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(c->id));
	json_object_set_new(j, "name", json_string(c->name));
	json_object_set_new(j, "description", json_string(c->description));
	json_object_set_new(j, "target", json_loads(c->target, 0, &je));
	json_object_set_new(j, "starts_on", json_string(c->starts_on));
	json_object_set_new(j, "deadline_on", json_string(c->deadline_on));
	json_object_set_new(j, "starts_at", json_integer(c->starts_at));
	json_object_set_new(j, "deadline_at", json_integer(c->deadline_at));
	json_object_set_new(j, "status", json_string(now < c->starts_at      ? "upcoming"
						     : now > c->deadline_at ? "ended"
									    : "running"));
	json_object_set_new(j, "progress", progress_json(p->targets, p->visited));
	/* while its targets are resolved in the background: how far (the progress
	 * counts the targets resolved so far) */
	json_object_set_new(j, "resolving",
			    c->resolving ? json_pack("{s:f,s:I,s:I}", "progress",
						     campaign_resolve_progress(c),
						     "next_enterprise_id", (json_int_t)c->resolve_next,
						     "last_enterprise_id", (json_int_t)c->resolve_last)
					 : json_null());
	json_object_set_new(j, "created_by", api_id(c->created_by));
	json_object_set_new(j, "created_at", json_integer(c->created_at));
	return j;
}

struct list_ctx {
	struct req *r;
	struct db *db;
	json_t *items;
	int64_t last, now;
	int rc;
};

static int add_campaign(const struct campaign *c, void *p)
{
	struct list_ctx *x = p;
	struct campaign_progress pr;
	if ((x->rc = campaign_progress(x->db, &x->r->actor, x->r->scope, c, &pr, &x->r->err)))
		return 1;
	json_array_append_new(x->items, campaign_json(c, &pr, x->now));
	x->last = c->id;
	return 0;
}

static int h_list(struct req *r)
{
	struct page pg;
	struct list_ctx x = {.r = r, .now = now_ms()};
	int rc = api_page(r, &pg);
	if (rc)
		return rc;
	if (!(x.db = req_db(r)))
		return r->err.code;
	x.items = json_array();
	rc = campaign_list(x.db, r->actor.tenant_id, pg.after, pg.limit, add_campaign, &x, &r->err);
	if (rc || x.rc) {
		json_decref(x.items);
		return rc ? rc : x.rc;
	}
	int64_t next = (int64_t)json_array_size(x.items) == pg.limit ? x.last : 0;
	return reply_json(r, 200, api_list(x.items, next));
}

/* The campaign of the path with its progress in the caller's scope. */
static int reply_campaign(struct req *r, int status, int64_t id)
{
	struct campaign c;
	struct campaign_progress p;
	struct db *db = req_db(r);
	int rc;
	if (!db)
		return r->err.code;
	if ((rc = campaign_get(db, r->actor.tenant_id, id, &c, &r->err)))
		return rc;
	rc = campaign_progress(db, &r->actor, authz_scope(&r->actor, PERM_VISIT_READ), &c, &p,
			       &r->err);
	if (!rc)
		rc = reply_json(r, status, campaign_json(&c, &p, now_ms()));
	campaign_release(&c);
	return rc;
}

static int h_get(struct req *r)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	return rc ? rc : reply_campaign(r, 200, id);
}

/* An array of positive ids at target.<key>. */
static int parse_ids(struct req *r, json_t *arr, const char *key, struct campaign_input *in)
{
	char field[64];
	snprintf(field, sizeof field, "target.%s", key);
	if (!json_is_array(arr))
		return req_fail(r, ERR_BAD_REQUEST, field, "%s 应为编号数组",
				"'%s' must be an array of ids", field);
	size_t n = json_array_size(arr);
	if (n > CAMPAIGN_IDS_MAX)
		return req_fail(r, ERR_UNPROCESSABLE, field, "%s 最多 %d 个编号",
				"'%s' lists at most %d ids", field, CAMPAIGN_IDS_MAX);
	int64_t *ids = arena_zalloc(r->arena, (n ? n : 1) * sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v)) {
			snprintf(field, sizeof field, "target.%s[%zu]", key, i);
			return req_fail(r, ERR_BAD_REQUEST, field, "%s 应为整数编号",
					"'%s' must be an integer id", field);
		}
		ids[i] = json_integer_value(v);
	}
	in->ids = ids;
	in->nids = n;
	return 0;
}

static int parse_target(struct req *r, json_t *t, struct campaign_input *in)
{
	static const char *const allowed[] = {"kind", "tag", "grid_ids", "enterprise_ids", NULL};
	const char *kind = NULL;
	int rc;
	if (!t)
		return req_fail(r, ERR_BAD_REQUEST, "target", "缺少目标范围 target",
				"'target' is required");
	if (!json_is_object(t))
		return req_fail(r, ERR_BAD_REQUEST, "target", "target 应为对象",
				"'target' must be an object");
	if ((rc = jsonv_only(t, allowed, &r->err)) ||
	    (rc = jsonv_str(t, "kind", true, 16, &kind, &r->err)) ||
	    (rc = jsonv_str(t, "tag", false, 0, &in->tag, &r->err))) {
		char field[64];
		snprintf(field, sizeof field, "target.%.32s", r->err.field);
		snprintf(r->err.field, sizeof r->err.field, "%s", field);
		return rc;
	}
	in->kind = campaign_kind_parse(kind);
	if (in->kind < 0)
		return req_fail(r, ERR_UNPROCESSABLE, "target.kind",
				"目标范围应为 all、key、tag、grids 或 enterprises",
				"target.kind must be all, key, tag, grids or enterprises");
	json_t *grids = json_object_get(t, "grid_ids"), *ents = json_object_get(t, "enterprise_ids");
	if (in->kind == CT_GRIDS) {
		if (!grids)
			return req_fail(r, ERR_BAD_REQUEST, "target.grid_ids", "缺少 target.grid_ids",
					"'target.grid_ids' is required");
		return parse_ids(r, grids, "grid_ids", in);
	}
	if (in->kind == CT_ENTERPRISES) {
		if (!ents)
			return req_fail(r, ERR_BAD_REQUEST, "target.enterprise_ids",
					"缺少 target.enterprise_ids",
					"'target.enterprise_ids' is required");
		return parse_ids(r, ents, "enterprise_ids", in);
	}
	if (grids || ents)
		return req_fail(r, ERR_BAD_REQUEST, grids ? "target.grid_ids" : "target.enterprise_ids",
				"该目标范围不接受编号列表", "this target kind takes no list of ids");
	return 0;
}

static int h_create(struct req *r)
{
	static const char *const allowed[] = {"name", "description", "starts_on", "deadline_on",
					      "target", NULL};
	struct campaign_create c = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				    .now = now_ms()};
	json_t *b = req_body_json(r);
	int rc;
	if (!b)
		return r->err.code;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_str(b, "name", true, 0, &c.in.name, &r->err)) ||
	    (rc = jsonv_str(b, "description", false, 0, &c.in.description, &r->err)) ||
	    (rc = jsonv_str(b, "starts_on", false, 16, &c.in.starts_on, &r->err)) ||
	    (rc = jsonv_str(b, "deadline_on", true, 16, &c.in.deadline_on, &r->err)) ||
	    (rc = parse_target(r, json_object_get(b, "target"), &c.in)) ||
	    (rc = campaign_validate(&c.in, workcal_local_day(c.now), &r->err)) ||
	    (rc = req_write(r, campaign_create, &c)))
		return rc;
	return reply_campaign(r, 201, c.id);
}

/* ---- progress ---- */

struct group_ctx {
	json_t *items;
	int64_t last;
	bool workers;
};

static int add_group(const struct campaign_group *g, void *p)
{
	struct group_ctx *c = p;
	json_t *j = progress_json(g->targets, g->visited);
	if (c->workers) {
		json_object_set_new(j, "user_id", json_integer(g->id));
		json_object_set_new(j, "login", json_string(g->code));
		json_object_set_new(j, "display_name", json_string(g->name));
		json_object_set_new(j, "grid_id", json_integer(g->grid_id));
		json_object_set_new(j, "visited_by_worker", json_integer(g->visited_by));
	} else {
		json_object_set_new(j, "grid_id", json_integer(g->id));
		json_object_set_new(j, "code", json_string(g->code));
		json_object_set_new(j, "name", json_string(g->name));
		json_object_set_new(j, "level", json_string(g->level));
	}
	json_array_append_new(c->items, j);
	c->last = g->id;
	return 0;
}

static int h_progress(struct req *r)
{
	struct page pg;
	struct campaign c;
	struct campaign_progress overall, unplaced;
	struct group_ctx g = {0};
	const char *by = req_query(r, "by"), *lv = req_query(r, "level");
	int level = GRID_UNIT;
	int64_t id;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = api_page(r, &pg);
	if (rc)
		return rc;
	if (!by || !*by)
		by = "grid";
	if (strcmp(by, "grid") && strcmp(by, "worker"))
		return req_fail(r, ERR_BAD_REQUEST, "by", "by 应为 grid 或 worker",
				"by must be grid or worker");
	g.workers = strcmp(by, "worker") == 0;
	if (lv && *lv && (g.workers || (level = grid_level_parse(lv)) < 0))
		return req_fail(r, ERR_BAD_REQUEST, "level",
				"level 应为 district、street、community 或 unit（仅按网格统计）",
				"level must be district, street, community or unit (by=grid only)");
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = campaign_get(db, r->actor.tenant_id, id, &c, &r->err)))
		return rc;
	g.items = json_array();
	rc = campaign_progress(db, &r->actor, r->scope, &c, &overall, &r->err);
	if (!rc)
		rc = g.workers ? campaign_by_worker(db, &r->actor, r->scope, &c, pg.after, pg.limit,
						    add_group, &g, &r->err)
			       : campaign_by_grid(db, &r->actor, r->scope, &c, level, pg.after,
						  pg.limit, add_group, &g, &unplaced, &r->err);
	campaign_release(&c);
	if (rc) {
		json_decref(g.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(g.items) == pg.limit ? g.last : 0;
	json_t *j = api_list(g.items, next);
	json_object_set_new(j, "campaign_id", json_integer(id));
	json_object_set_new(j, "by", json_string(by));
	json_object_set_new(j, "overall", progress_json(overall.targets, overall.visited));
	if (!g.workers) {
		json_object_set_new(j, "level", json_string(grid_level_name((enum grid_level)level)));
		json_object_set_new(j, "unplaced", progress_json(unplaced.targets, unplaced.visited));
	}
	return reply_json(r, 200, j);
}

struct target_ctx {
	json_t *items;
	int64_t last;
};

static int add_target(const struct campaign_target *t, void *p)
{
	struct target_ctx *c = p;
	json_t *j = json_object();
	json_object_set_new(j, "enterprise_id", json_integer(t->enterprise_id));
	json_object_set_new(j, "name", json_string(t->name));
	json_object_set_new(j, "credit_code", json_string(t->credit_code));
	json_object_set_new(j, "address", json_string(t->address));
	json_object_set_new(j, "is_key", json_boolean(t->is_key));
	json_object_set_new(j, "grid_id", api_id(t->grid_id));
	json_object_set_new(j, "visited", json_boolean(t->visit_id != 0));
	json_object_set_new(j, "visit_id", api_id(t->visit_id));
	json_object_set_new(j, "visited_at", api_time(t->visited_at));
	json_object_set_new(j, "worker_id", api_id(t->worker_id));
	json_object_set_new(j, "worker_name", t->worker_id ? json_string(t->worker_name)
							   : json_null());
	json_array_append_new(c->items, j);
	c->last = t->enterprise_id;
	return 0;
}

static int h_targets(struct req *r)
{
	struct page pg;
	struct campaign c;
	struct target_ctx t = {0};
	const char *status = req_query(r, "status");
	enum campaign_target_status st = CTS_REMAINING;
	int64_t id, grid = 0;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = api_page(r, &pg);
	if (!rc)
		rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &grid);
	if (rc)
		return rc;
	if (status && *status) {
		if (!strcmp(status, "all"))
			st = CTS_ALL;
		else if (!strcmp(status, "visited"))
			st = CTS_VISITED;
		else if (strcmp(status, "remaining"))
			return req_fail(r, ERR_BAD_REQUEST, "status",
					"status 应为 remaining、visited 或 all",
					"status must be remaining, visited or all");
	}
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = campaign_get(db, r->actor.tenant_id, id, &c, &r->err)))
		return rc;
	t.items = json_array();
	rc = campaign_targets(db, &r->actor, r->scope, &c, st, grid, pg.after, pg.limit, add_target,
			      &t, &r->err);
	campaign_release(&c);
	if (rc) {
		json_decref(t.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(t.items) == pg.limit ? t.last : 0;
	json_t *j = api_list(t.items, next);
	json_object_set_new(j, "campaign_id", json_integer(id));
	return reply_json(r, 200, j);
}

const struct route api_campaign_routes[] = {
	{"GET", "/api/v1/visit-campaigns", h_list, PERM_VISIT_READ, 0, 0,
	 "走访活动 / visit campaigns"},
	{"POST", "/api/v1/visit-campaigns", h_create, PERM_VISIT_PLAN, 256u << 10, 0,
	 "发起走访活动 / create a visit campaign"},
	{"GET", "/api/v1/visit-campaigns/{id}", h_get, PERM_VISIT_READ, 0, 0,
	 "走访活动详情与进度 / one campaign and its progress"},
	{"GET", "/api/v1/visit-campaigns/{id}/progress", h_progress, PERM_VISIT_READ, 0, 0,
	 "走访活动进度（按网格、按网格员）/ progress by grid or by worker"},
	{"GET", "/api/v1/visit-campaigns/{id}/targets", h_targets, PERM_VISIT_READ, 0, 0,
	 "走访活动目标企业 / the target enterprises (remaining, visited)"},
	{0},
};
