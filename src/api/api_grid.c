/*
 * api_grid.c — grids (网格) over HTTP.
 *
 *   GET    /api/v1/grids                          grid.read   list (level, parent_id, q; keyset)
 *   POST   /api/v1/grids/import                   grid.write  a GeoJSON FeatureCollection (?dry_run=1)
 *   GET    /api/v1/grids/map.geojson              grid.read   grids with metrics, for maps
 *   GET    /api/v1/grids/locate                   grid.read   the unit grid of ?lat=&lon=
 *   GET    /api/v1/grids/unplaced                 grid.write  located enterprises in no grid
 *   GET    /api/v1/grids/{id}                     grid.read   one grid, geometry, workers, ancestry
 *   DELETE /api/v1/grids/{id}                     grid.write  a grid without children
 *   GET    /api/v1/grids/{id}/workers             grid.read
 *   PUT    /api/v1/grids/{id}/workers/{user_id}   grid.write  assign a grid worker here
 *   DELETE /api/v1/grids/{id}/workers/{user_id}   grid.write  unassign
 *
 * The rules (codes, geometry checks, placement) live in core/grid.c.
 */
#include "api/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "core/grid.h"
#include "core/workcal.h"
#include "base/banned.h"

#define IMPORT_MAX_BODY (64u << 20)

static json_t *grid_json(const struct grid *g)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(g->id));
	json_object_set_new(j, "parent_id", api_id(g->parent_id));
	json_object_set_new(j, "parent_code", json_string(g->parent_code));
	json_object_set_new(j, "level", json_string(grid_level_name(g->level)));
	json_object_set_new(j, "level_name", json_string(grid_level_zh(g->level)));
	json_object_set_new(j, "code", json_string(g->code));
	json_object_set_new(j, "name", json_string(g->name));
	json_object_set_new(j, "area_m2", json_real(round(g->area_m2)));
	json_object_set_new(j, "bbox", json_pack("[f,f,f,f]", g->bbox.minx, g->bbox.miny,
						 g->bbox.maxx, g->bbox.maxy));
	json_object_set_new(j, "label", json_pack("[f,f]", g->label_lon, g->label_lat));
	json_object_set_new(j, "enterprises", json_integer(g->enterprises));
	json_object_set_new(j, "workers", json_integer(g->workers));
	json_object_set_new(j, "open_requests", json_integer(g->open_requests));
	json_object_set_new(j, "version", json_integer(g->version));
	json_object_set_new(j, "created_at", api_time(g->created_at));
	json_object_set_new(j, "updated_at", api_time(g->updated_at));
	return j;
}

struct list_ctx {
	json_t *items;
	int64_t last;
};

static int add_grid(const struct grid *g, void *ctx)
{
	struct list_ctx *c = ctx;
	json_array_append_new(c->items, grid_json(g));
	c->last = g->id;
	return 0;
}

static int parse_level(struct req *r, int *level)
{
	const char *s = req_query(r, "level");
	*level = -1;
	if (s && *s && (*level = grid_level_parse(s)) < 0)
		return req_fail(r, ERR_BAD_REQUEST, "level",
				"层级应为 district、street、community 或 unit",
				"level must be district, street, community or unit");
	return 0;
}

static int h_list(struct req *r)
{
	struct grid_filter f = {.level = -1};
	struct page pg;
	struct list_ctx c = {NULL, 0};
	struct db *db;
	int rc;
	if ((rc = parse_level(r, &f.level)) ||
	    (rc = req_query_int(r, "parent_id", 0, 0, INT64_MAX, &f.parent_id)) ||
	    (rc = api_page(r, &pg)))
		return rc;
	f.q = req_query(r, "q");
	if (f.q && strlen(f.q) > 200)
		return req_fail(r, ERR_BAD_REQUEST, "q", "搜索词过长", "q is too long");
	if (!(db = req_db(r)))
		return r->err.code;
	f.after = pg.after;
	f.limit = (int)pg.limit;
	c.items = json_array();
	if ((rc = grid_list(db, &r->actor, r->scope, &f, add_grid, &c, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == pg.limit ? c.last : 0;
	return reply_json(r, 200, api_list(c.items, next));
}

static int h_get(struct req *r)
{
	int64_t id;
	struct grid g;
	char *geometry = NULL;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = grid_get(db, &r->actor, r->scope, id, &g, &geometry, &r->err)))
		return rc;
	json_t *j = grid_json(&g), *workers = NULL, *anc = NULL;
	json_error_t je;
	json_object_set_new(j, "geometry", json_loads(geometry, 0, &je));
	free(geometry);
	if ((rc = grid_workers(db, r->actor.tenant_id, id, &workers, &r->err)) ||
	    (rc = grid_ancestry(db, r->actor.tenant_id, g.parent_id, &anc, &r->err))) {
		json_decref(workers);
		json_decref(anc);
		json_decref(j);
		return rc;
	}
	json_object_set_new(j, "workers", workers);
	json_object_set_new(j, "ancestors", anc);
	return reply_json(r, 200, j);
}

static int h_import(struct req *r)
{
	int64_t dry = 0;
	int rc = req_query_int(r, "dry_run", 0, 0, 1, &dry);
	if (rc)
		return rc;
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct grid_import w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				.now = now_ms(), .fc = b, .dry_run = dry != 0};
	rc = req_write(r, grid_import, &w);
	if (rc && w.dry_run_done) { /* everything ran, then rolled back */
		json_object_set_new(w.report, "dry_run", json_true());
		return reply_json(r, 200, w.report);
	}
	if (rc && w.report && json_array_size(json_object_get(w.report, "errors"))) {
		/* the error shape, plus every error found (nothing was written) */
		json_t *body = json_pack("{s:{s:s,s:s,s:s,s:s},s:O}", "error", "code",
					 err_code_name(r->err.code), "message", r->err.message,
					 "message_zh", r->err.message_zh, "field", r->err.field,
					 "errors", json_object_get(w.report, "errors"));
		json_decref(w.report);
		return reply_json(r, err_http_status(r->err.code), body);
	}
	if (rc) {
		json_decref(w.report);
		return rc;
	}
	json_object_set_new(w.report, "dry_run", json_false());
	return reply_json(r, 200, w.report);
}

static int parse_period(struct req *r, int64_t *from_day, int64_t *to_day)
{
	const char *from = req_query(r, "from"), *to = req_query(r, "to");
	*from_day = *to_day = 0;
	if (!(from && *from) && !(to && *to))
		return 0;
	if (!from || !*from || !workcal_parse_date(from, from_day))
		return req_fail(r, ERR_BAD_REQUEST, "from", "起始日期应为 YYYY-MM-DD",
				"from must be a date YYYY-MM-DD");
	if (!to || !*to || !workcal_parse_date(to, to_day))
		return req_fail(r, ERR_BAD_REQUEST, "to", "截止日期应为 YYYY-MM-DD",
				"to must be a date YYYY-MM-DD");
	if (*to_day < *from_day)
		return req_fail(r, ERR_UNPROCESSABLE, "to", "截止日期不能早于起始日期",
				"to must not be before from");
	if (*to_day - *from_day > 731)
		return req_fail(r, ERR_UNPROCESSABLE, "from", "统计时段不能超过两年",
				"the period must not exceed two years");
	return 0;
}

static int h_geojson(struct req *r)
{
	int level;
	int64_t from_day, to_day;
	json_t *fc = NULL;
	struct db *db;
	int rc;
	if ((rc = parse_level(r, &level)) || (rc = parse_period(r, &from_day, &to_day)))
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = grid_geojson(db, &r->actor, r->scope, level, from_day, to_day, &fc, &r->err)))
		return rc;
	rc = reply_json(r, 200, fc);
	r->content_type = "application/geo+json; charset=utf-8";
	return rc;
}

static int query_coord(struct req *r, const char *name, double lim, double *out)
{
	const char *s = req_query(r, name);
	char *end = NULL;
	if (!s || !*s)
		return req_fail(r, ERR_BAD_REQUEST, name, "缺少坐标参数 %s", "%s is required", name);
	*out = strtod(s, &end);
	if (*end || !isfinite(*out) || fabs(*out) > lim)
		return req_fail(r, ERR_BAD_REQUEST, name, "坐标 %s 应为 -%.0f 到 %.0f 之间的数",
				"%s must be a number between -%.0f and %.0f", name, lim, lim);
	return 0;
}

static int h_locate(struct req *r)
{
	double lat, lon;
	int64_t id = 0;
	json_t *anc = NULL;
	struct db *db;
	int rc;
	if ((rc = query_coord(r, "lat", 90, &lat)) || (rc = query_coord(r, "lon", 180, &lon)))
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = grid_locate(db, r->actor.tenant_id, lon, lat, &id, &r->err)) ||
	    (rc = grid_ancestry(db, r->actor.tenant_id, id, &anc, &r->err)))
		return rc;
	return reply_json(r, 200,
			  json_pack("{s:o,s:o}", "grid_id", api_id(id), "grids", anc));
}

static int h_unplaced(struct req *r)
{
	struct page pg;
	json_t *items = NULL;
	int64_t total = 0;
	struct db *db;
	int rc = api_page(r, &pg);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = grid_unplaced(db, r->actor.tenant_id, pg.after, (int)pg.limit, &items, &total,
				&r->err)))
		return rc;
	size_t n = json_array_size(items);
	int64_t next = (int64_t)n == pg.limit
			       ? json_integer_value(json_object_get(json_array_get(items, n - 1), "id"))
			       : 0;
	json_t *j = api_list(items, next);
	json_object_set_new(j, "total", json_integer(total));
	return reply_json(r, 200, j);
}

static int h_delete(struct req *r)
{
	struct grid_delete w = {.who = &r->actor, .tenant_id = r->actor.tenant_id};
	int rc = req_param_id(r, "id", &w.id);
	if (!rc)
		rc = req_write(r, grid_delete, &w);
	if (rc) {
		json_decref(w.report);
		return rc;
	}
	return reply_json(r, 200, json_pack("{s:o}", "placement", w.report));
}

/* The grid must be visible to the caller (404 otherwise). */
static int visible(struct req *r, struct db *db, int64_t id)
{
	struct grid g;
	return grid_get(db, &r->actor, authz_scope(&r->actor, PERM_GRID_READ), id, &g, NULL,
			&r->err);
}

static int h_workers(struct req *r)
{
	int64_t id;
	json_t *workers = NULL;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = visible(r, db, id)) ||
	    (rc = grid_workers(db, r->actor.tenant_id, id, &workers, &r->err)))
		return rc;
	return reply_json(r, 200, json_pack("{s:o}", "items", workers));
}

static int assign(struct req *r, bool on)
{
	struct grid_assign w = {.who = &r->actor, .tenant_id = r->actor.tenant_id};
	int64_t gid;
	struct db *db;
	int rc;
	if ((rc = req_param_id(r, "id", &gid)) || (rc = req_param_id(r, "user_id", &w.user_id)))
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = visible(r, db, gid)))
		return rc;
	w.grid_id = on ? gid : 0;
	if (!on) { /* only from this grid */
		json_t *workers = NULL;
		bool here = false;
		size_t i;
		json_t *it;
		if ((rc = grid_workers(db, r->actor.tenant_id, gid, &workers, &r->err)))
			return rc;
		json_array_foreach(workers, i, it)
		{
			if (json_integer_value(json_object_get(it, "id")) == w.user_id)
				here = true;
		}
		json_decref(workers);
		if (!here)
			return req_fail(r, ERR_NOT_FOUND, "user_id", "该用户不是本网格的网格员",
					"the user is not a worker of this grid");
	}
	if ((rc = req_write(r, grid_assign, &w)))
		return rc;
	return h_workers(r);
}

static int h_assign(struct req *r)
{
	return assign(r, true);
}

static int h_unassign(struct req *r)
{
	return assign(r, false);
}

const struct route api_grid_routes[] = {
	{"GET", "/api/v1/grids", h_list, PERM_GRID_READ, 0, 0, "网格列表 / list grids"},
	{"POST", "/api/v1/grids/import", h_import, PERM_GRID_WRITE, IMPORT_MAX_BODY, ROUTE_SLOW,
	 "导入网格（GeoJSON） / import grids from GeoJSON"},
	{"GET", "/api/v1/grids/map.geojson", h_geojson, PERM_GRID_READ, 0, 0,
	 "网格地图与指标 / grids with metrics as GeoJSON"},
	{"GET", "/api/v1/grids/locate", h_locate, PERM_GRID_READ, 0, 0,
	 "按坐标定位网格 / the unit grid of a point"},
	{"GET", "/api/v1/grids/unplaced", h_unplaced, PERM_GRID_WRITE, 0, 0,
	 "未落入网格的企业 / located enterprises in no grid"},
	{"GET", "/api/v1/grids/{id}", h_get, PERM_GRID_READ, 0, 0, "网格详情 / one grid"},
	{"DELETE", "/api/v1/grids/{id}", h_delete, PERM_GRID_WRITE, 0, 0,
	 "删除网格 / delete a grid"},
	{"GET", "/api/v1/grids/{id}/workers", h_workers, PERM_GRID_READ, 0, 0,
	 "网格员 / a grid's workers"},
	{"PUT", "/api/v1/grids/{id}/workers/{user_id}", h_assign, PERM_GRID_WRITE, 0, 0,
	 "分配网格员 / assign a grid worker"},
	{"DELETE", "/api/v1/grids/{id}/workers/{user_id}", h_unassign, PERM_GRID_WRITE, 0, 0,
	 "取消网格员分配 / unassign a grid worker"},
	{0},
};
