/*
 * grid.c — grids, their import, placement and workers (see grid.h).
 *
 * Geometry (parsing, checks, point-in-polygon, the packed R-tree, coverage)
 * is core/geo.c; this file is the store around it. Write jobs run on the
 * writer thread one at a time, so what a job checks still holds when it
 * writes. Every statement filters by tenant_id.
 */
#include "core/grid.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/analysis.h"
#include "core/audit.h"
#include "core/request.h"
#include "core/session.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

#define MAX_ERRORS 200
#define OUTSIDE_LISTED 100

static const char *const level_names[GRID__LEVELS] = {"district", "street", "community", "unit"};
static const char *const level_zh[GRID__LEVELS] = {"区", "街道", "社区", "单元网格"};

const char *grid_level_name(enum grid_level l)
{
	return (unsigned)l < GRID__LEVELS ? level_names[l] : "";
}

const char *grid_level_zh(enum grid_level l)
{
	return (unsigned)l < GRID__LEVELS ? level_zh[l] : "";
}

int grid_level_parse(const char *s)
{
	for (int i = 0; s && i < GRID__LEVELS; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int grid_code_level(const char *code)
{
	size_t n = code ? strlen(code) : 0;
	for (size_t i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return -1;
	switch (n) {
	case 6:
		return GRID_DISTRICT;
	case 9:
		return GRID_STREET;
	case 12:
		return GRID_COMMUNITY;
	case 15:
		return GRID_UNIT;
	}
	return -1;
}

/* ---- rows ---- */

#define GRID_COLS                                                                          \
	"g.id, g.parent_id, g.level, g.code, g.name, g.path, COALESCE(p.code, ''), "       \
	"g.area_m2, g.min_lon, g.min_lat, g.max_lon, g.max_lat, g.label_lon, g.label_lat, " \
	"g.version, g.created_at, g.updated_at"
#define GRID_FROM " FROM grids g LEFT JOIN grids p ON p.id = g.parent_id "

static void copy_text(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

static void read_row(struct db_stmt *st, struct grid *g)
{
	memset(g, 0, sizeof *g);
	g->id = db_column_int64(st, 0);
	g->parent_id = db_column_is_null(st, 1) ? 0 : db_column_int64(st, 1);
	int l = grid_level_parse(db_column_text(st, 2));
	g->level = l < 0 ? GRID_UNIT : (enum grid_level)l;
	copy_text(g->code, sizeof g->code, db_column_text(st, 3));
	copy_text(g->name, sizeof g->name, db_column_text(st, 4));
	copy_text(g->path, sizeof g->path, db_column_text(st, 5));
	copy_text(g->parent_code, sizeof g->parent_code, db_column_text(st, 6));
	g->area_m2 = db_column_double(st, 7);
	g->bbox = (struct geo_bbox){db_column_double(st, 8), db_column_double(st, 9),
				    db_column_double(st, 10), db_column_double(st, 11)};
	g->label_lon = db_column_double(st, 12);
	g->label_lat = db_column_double(st, 13);
	g->version = (int)db_column_int64(st, 14);
	g->created_at = db_column_int64(st, 15);
	g->updated_at = db_column_int64(st, 16);
}

/* Metrics of one grid and everything below it. */
static int fill_metrics(struct db *db, int64_t tenant, struct grid *g, struct err *e)
{
	char like[sizeof g->path + 2];
	snprintf(like, sizeof like, "%s%%", g->path);
	int rc = db_query_i64(db, &g->enterprises, e,
			      "SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1 AND "
			      "status = 'active' AND grid_id IN (SELECT id FROM grids WHERE "
			      "tenant_id = $1 AND path LIKE $2)",
			      "it", tenant, like);
	if (!rc)
		rc = db_query_i64(db, &g->workers, e,
				  "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND grid_id = $2 "
				  "AND status = 'active'",
				  "ii", tenant, g->id);
	if (!rc)
		rc = db_query_i64(db, &g->open_requests, e,
				  "SELECT COALESCE(SUM(open_count), 0) FROM request_stats_open "
				  "WHERE tenant_id = $1 AND dim = 'grid' AND key_id IN (SELECT id FROM "
				  "grids WHERE tenant_id = $1 AND path LIKE $2)",
				  "it", tenant, like);
	return rc;
}

static const struct scope_cols grid_cols = {.grid = "g.id"};

int grid_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
	     struct grid *out, char **geometry, struct err *e)
{
	struct db_stmt *st = NULL;
	struct buf sql;
	buf_init(&sql, 0);
	buf_addf(&sql, "SELECT " GRID_COLS ", g.geometry" GRID_FROM
		       "WHERE g.tenant_id = $1 AND g.id = $2");
	scope_sql(who, scope, &grid_cols, &sql);
	int rc = db_queryf(db, &st, e, sql.p, "ii", who->tenant_id, id);
	buf_release(&sql);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		read_row(st, out);
		if (geometry)
			*geometry = xstrdup(db_column_text(st, 17));
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	if (rc != DB_ROW)
		return err_set(e, ERR_NOT_FOUND, "id", "网格不存在", "no such grid");
	rc = fill_metrics(db, who->tenant_id, out, e);
	if (rc && geometry) {
		free(*geometry);
		*geometry = NULL;
	}
	return rc;
}

int grid_list(struct db *db, const struct actor *who, enum scope scope,
	      const struct grid_filter *f, grid_cb cb, void *ctx, struct err *e)
{
	struct db_args a = {0};
	struct db_stmt *st = NULL;
	struct buf sql;
	char like[256];
	buf_init(&sql, 0);
	buf_addf(&sql, "SELECT " GRID_COLS GRID_FROM "WHERE g.tenant_id = $%d AND g.id > $%d",
		 db_args_int(&a, who->tenant_id), db_args_int(&a, f->after));
	if (f->level >= 0)
		buf_addf(&sql, " AND g.level = $%d",
			 db_args_text(&a, grid_level_name((enum grid_level)f->level)));
	if (f->parent_id)
		buf_addf(&sql, " AND g.parent_id = $%d", db_args_int(&a, f->parent_id));
	if (f->q && *f->q) {
		db_like_contains(f->q, like, sizeof like);
		int k = db_args_text(&a, like);
		buf_addf(&sql, " AND (g.name LIKE $%d ESCAPE '\\' OR g.code LIKE $%d ESCAPE '\\')",
			 k, k);
	}
	scope_sql(who, scope, &grid_cols, &sql);
	buf_addf(&sql, " ORDER BY g.id LIMIT $%d", db_args_int(&a, f->limit > 0 ? f->limit : 50));
	int rc = db_query_args(db, &st, e, sql.p, &a);
	buf_release(&sql);
	if (rc)
		return rc;
	/* collect first: metrics are further queries on the same connection */
	size_t n = 0, cap = 0;
	struct grid *rows = NULL;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof *rows);
		}
		read_row(st, &rows[n++]);
	}
	db_finalize(st);
	rc = rc < 0 ? rc : 0;
	for (size_t i = 0; !rc && i < n; i++) {
		rc = fill_metrics(db, who->tenant_id, &rows[i], e);
		if (!rc)
			rc = cb(&rows[i], ctx);
	}
	free(rows);
	return rc;
}

/* ---- the in-memory index ---- */

struct gset {
	size_t n;
	struct geo_shape *shapes;
	const struct geo_shape **ptrs;
	int64_t *ids;
	struct geo_index *ix;
};

static void gset_free(struct gset *s)
{
	if (!s)
		return;
	geo_index_free(s->ix);
	for (size_t i = 0; i < s->n; i++)
		geo_shape_free(&s->shapes[i]);
	free(s->shapes);
	free(s->ptrs);
	free(s->ids);
	memset(s, 0, sizeof *s);
}

static int parse_geometry(const char *text, const char *what, struct geo_shape *out,
			  struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		return err_set(e, ERR_INTERNAL, NULL, "网格 %s 的边界数据损坏",
			       "grid %s has a damaged geometry", what);
	int rc = geo_from_geojson(j, "geometry", out, e);
	json_decref(j);
	return rc;
}

/* The unit grids of a tenant as stored (inside a write job: as this
 * transaction sees them). */
static int gset_load(struct db *db, int64_t tenant, struct gset *out, struct err *e)
{
	struct db_stmt *st = NULL;
	size_t cap = 0;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e,
			   "SELECT id, code, geometry FROM grids WHERE tenant_id = $1 AND "
			   "level = 'unit' ORDER BY id",
			   "i", tenant);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			out->shapes = xrealloc(out->shapes, cap * sizeof *out->shapes);
			out->ids = xrealloc(out->ids, cap * sizeof *out->ids);
		}
		memset(&out->shapes[out->n], 0, sizeof out->shapes[out->n]);
		int prc = parse_geometry(db_column_text(st, 2), db_column_text(st, 1),
					 &out->shapes[out->n], e);
		if (prc) {
			rc = prc;
			break;
		}
		out->ids[out->n++] = db_column_int64(st, 0);
	}
	db_finalize(st);
	if (rc != DB_DONE) {
		gset_free(out);
		return rc < 0 ? rc : (rc == DB_ROW ? ERR_INTERNAL : rc);
	}
	out->ptrs = xmalloc((out->n ? out->n : 1) * sizeof *out->ptrs);
	for (size_t i = 0; i < out->n; i++)
		out->ptrs[i] = &out->shapes[i];
	out->ix = geo_index_build(out->ptrs, out->ids, out->n);
	return 0;
}

static int64_t gset_find(const struct gset *s, double lon, double lat)
{
	return s->n ? geo_index_find(s->ix, lon, lat) : 0;
}

struct gcache {
	int64_t tenant_id, version;
	struct gset set;
};

#define CACHE_TENANTS 16
static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct gcache *caches[CACHE_TENANTS];

static int meta_version(struct db *db, int64_t tenant, int64_t *v, struct err *e)
{
	*v = 0;
	return db_query_i64(db, v, e,
			    "SELECT COALESCE(MAX(version), 0) FROM grid_meta WHERE tenant_id = $1",
			    "i", tenant);
}

/* Any change of grids moves the version to a fresh random value: a version
 * seen inside a transaction that later rolled back is never reused. */
static int meta_bump(struct db *db, int64_t tenant, struct err *e)
{
	uint64_t r;
	randombytes_buf(&r, sizeof r);
	int64_t v = (int64_t)(r >> 1) | 1;
	return db_execf(db, e,
			"INSERT INTO grid_meta (tenant_id, version) VALUES ($1, $2) "
			"ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version",
			"ii", tenant, v);
}

void grid_cache_clear(void)
{
	pthread_rwlock_wrlock(&cache_lock);
	for (int i = 0; i < CACHE_TENANTS; i++)
		if (caches[i]) {
			gset_free(&caches[i]->set);
			free(caches[i]);
			caches[i] = NULL;
		}
	pthread_rwlock_unlock(&cache_lock);
}

/* Look up in the cache; 1 if the tenant's index is current (and *id set). */
static int cache_find(int64_t tenant, int64_t version, double lon, double lat, int64_t *id)
{
	int hit = 0;
	pthread_rwlock_rdlock(&cache_lock);
	for (int i = 0; i < CACHE_TENANTS; i++)
		if (caches[i] && caches[i]->tenant_id == tenant && caches[i]->version == version) {
			*id = gset_find(&caches[i]->set, lon, lat);
			hit = 1;
			break;
		}
	pthread_rwlock_unlock(&cache_lock);
	return hit;
}

int grid_locate(struct db *db, int64_t tenant_id, double lon, double lat, int64_t *grid_id,
		struct err *e)
{
	int64_t v;
	*grid_id = 0;
	int rc = meta_version(db, tenant_id, &v, e);
	if (rc)
		return rc;
	if (v == 0) /* no grids were ever imported */
		return 0;
	if (cache_find(tenant_id, v, lon, lat, grid_id))
		return 0;
	struct gcache *c = xcalloc(1, sizeof *c);
	c->tenant_id = tenant_id;
	c->version = v;
	if ((rc = gset_load(db, tenant_id, &c->set, e))) {
		free(c);
		return rc;
	}
	*grid_id = gset_find(&c->set, lon, lat);
	pthread_rwlock_wrlock(&cache_lock);
	int slot = -1;
	for (int i = 0; i < CACHE_TENANTS && slot < 0; i++)
		if (caches[i] && caches[i]->tenant_id == tenant_id)
			slot = i;
	for (int i = 0; i < CACHE_TENANTS && slot < 0; i++)
		if (!caches[i])
			slot = i;
	if (slot < 0)
		slot = (int)(tenant_id % CACHE_TENANTS);
	if (caches[slot]) {
		gset_free(&caches[slot]->set);
		free(caches[slot]);
	}
	caches[slot] = c;
	pthread_rwlock_unlock(&cache_lock);
	return 0;
}

/* ---- placement ---- */

struct move {
	int64_t id, grid;
};

static void push_move(struct move **v, size_t *n, size_t *cap, int64_t id, int64_t grid)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = (struct move){id, grid};
}

int grid_place_enterprise(struct db *db, int64_t tenant_id, int64_t enterprise_id,
			  bool has_location, double lon, double lat, struct err *e)
{
	int64_t g = 0, old = 0;
	struct db_stmt *st = NULL;
	int rc = 0;
	if (has_location && (rc = grid_locate(db, tenant_id, lon, lat, &g, e)))
		return rc;
	if ((rc = db_query_i64(db, &old, e,
			       "SELECT COALESCE(grid_id, 0) FROM enterprises WHERE tenant_id = $1 AND "
			       "id = $2",
			       "ii", tenant_id, enterprise_id)))
		return rc;
	if (old == g)
		return 0;
	if ((rc = db_execf(db, e,
			   "UPDATE enterprises SET grid_id = $1 WHERE tenant_id = $2 AND id = $3",
			   "Iii", g, tenant_id, enterprise_id)) ||
	    (rc = db_execf(db, e,
			   "UPDATE visits SET grid_id = $1 WHERE tenant_id = $2 AND enterprise_id = $3",
			   "Iii", g, tenant_id, enterprise_id)))
		return rc;
	/* its visits' findings move to the new grid in the analysis */
	rc = db_queryf(db, &st, e,
		       "SELECT v.visited_at, f.category_id FROM visit_findings f JOIN visits v ON "
		       "v.id = f.visit_id WHERE v.tenant_id = $1 AND v.enterprise_id = $2",
		       "ii", tenant_id, enterprise_id);
	if (rc)
		return rc;
	struct finding {
		int64_t day, category;
	} *fv = NULL;
	size_t n = 0, cap = 0;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			fv = xrealloc(fv, cap * sizeof *fv);
		}
		fv[n++] = (struct finding){workcal_local_day(db_column_int64(st, 0)),
					   db_column_int64(st, 1)};
	}
	db_finalize(st);
	rc = rc < 0 ? rc : 0;
	for (size_t i = 0; !rc && i < n; i++)
		if (!(rc = analysis_finding_add(db, tenant_id, fv[i].day, old, fv[i].category, -1, e)))
			rc = analysis_finding_add(db, tenant_id, fv[i].day, g, fv[i].category, +1, e);
	free(fv);
	return rc;
}

static int place_with(struct db *db, int64_t tenant, const struct gset *set, json_t *report,
		      struct err *e)
{
	struct db_stmt *st = NULL;
	struct move *mv = NULL;
	size_t n = 0, cap = 0;
	int64_t placed = 0, outside = 0;
	json_t *listed = json_array();
	int rc = db_queryf(db, &st, e,
			   "SELECT id, lon, lat, COALESCE(grid_id, 0), name FROM enterprises "
			   "WHERE tenant_id = $1 AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY id",
			   "i", tenant);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int64_t id = db_column_int64(st, 0), cur = db_column_int64(st, 3);
		double lon = db_column_double(st, 1), lat = db_column_double(st, 2);
		int64_t g = gset_find(set, lon, lat);
		if (g)
			placed++;
		else {
			outside++;
			if (json_array_size(listed) < OUTSIDE_LISTED)
				json_array_append_new(listed,
						      json_pack("{s:I,s:s,s:f,s:f}", "id", (json_int_t)id,
								"name", db_column_text(st, 4), "lat",
								lat, "lon", lon));
		}
		if (g != cur)
			push_move(&mv, &n, &cap, id, g);
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = 0;
	/* an enterprise moves with its visits: their findings count in its new grid */
	for (size_t i = 0; !rc && i < n; i++)
		if (!(rc = db_execf(db, e,
				    "UPDATE enterprises SET grid_id = $1 WHERE tenant_id = $2 AND id = $3",
				    "Iii", mv[i].grid, tenant, mv[i].id)))
			rc = db_execf(db, e,
				      "UPDATE visits SET grid_id = $1 WHERE tenant_id = $2 AND "
				      "enterprise_id = $3",
				      "Iii", mv[i].grid, tenant, mv[i].id);
	if (!rc && n)
		rc = analysis_rebuild_findings(db, tenant, e);
	if (rc)
		goto out;
	json_object_set_new(report, "enterprises_placed", json_integer(placed));
	json_object_set_new(report, "enterprises_moved", json_integer((json_int_t)n));
	json_object_set_new(report, "enterprises_outside", json_integer(outside));
	json_object_set_new(report, "outside", json_incref(listed));

	/* requests: by their own location, else (or outside every grid) by their
	 * enterprise's grid, as request_create places them */
	n = 0;
	rc = db_queryf(db, &st, e,
		       "SELECT r.id, r.lat IS NOT NULL AND r.lon IS NOT NULL, r.lon, r.lat, "
		       "COALESCE(r.grid_id, 0), COALESCE(en.grid_id, 0) FROM requests r "
		       "LEFT JOIN enterprises en ON en.id = r.enterprise_id "
		       "WHERE r.tenant_id = $1 AND (r.lat IS NOT NULL OR r.enterprise_id IS NOT NULL "
		       "OR r.grid_id IS NOT NULL) ORDER BY r.id",
		       "i", tenant);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int64_t g = 0, cur = db_column_int64(st, 4);
		if (db_column_int64(st, 1))
			g = gset_find(set, db_column_double(st, 2), db_column_double(st, 3));
		if (!g)
			g = db_column_int64(st, 5);
		if (g != cur)
			push_move(&mv, &n, &cap, db_column_int64(st, 0), g);
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		rc = request_set_grid(db, tenant, mv[i].id, mv[i].grid, e);
	if (!rc)
		json_object_set_new(report, "requests_moved", json_integer((json_int_t)n));
out:
	db_finalize(st);
	json_decref(listed);
	free(mv);
	return rc;
}

int grid_place_all(struct db *db, int64_t tenant_id, json_t *report, struct err *e)
{
	struct gset set;
	int rc = gset_load(db, tenant_id, &set, e);
	if (rc)
		return rc;
	rc = place_with(db, tenant_id, &set, report, e);
	gset_free(&set);
	return rc;
}

/* ---- import ---- */

struct feat {
	const char *code, *name;
	int level;
	struct geo_shape shape;
	char *geom;       /* canonical GeoJSON text */
	int64_t id;       /* after writing */
	char path[128];
	int parent;       /* index in the file, -1 if in the database or none */
	int64_t parent_id;
	char parent_path[128];
};

static void add_error(json_t *errors, size_t idx, const char *field, const char *zh,
		      const char *en)
{
	if (json_array_size(errors) >= MAX_ERRORS)
		return;
	json_array_append_new(errors, json_pack("{s:I,s:s,s:s,s:s}", "feature", (json_int_t)idx,
						"field", field, "message_zh", zh, "message", en));
}

static int cmp_code(const void *a, const void *b, void *ctx)
{
	const struct feat *f = ctx;
	return strcmp(f[*(const int *)a].code, f[*(const int *)b].code);
}

static int find_code(const struct feat *f, const int *order, size_t n, const char *code)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(f[order[mid]].code, code);
		if (c == 0)
			return order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static bool name_ok(const char *s)
{
	size_t len = strlen(s);
	if (!utf8_valid(s, len) || utf8_len(s, len) > GRID_NAME_MAX)
		return false;
	bool any = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p != ' ')
			any = true;
	}
	return any;
}

/* Check one feature; errors go to errors. */
static void check_feature(json_t *ft, size_t i, struct feat *f, json_t *errors)
{
	char field[96];
	f->level = -1;
	f->parent = -1;
	if (!json_is_object(ft) || !json_is_string(json_object_get(ft, "type")) ||
	    strcmp(json_string_value(json_object_get(ft, "type")), "Feature") != 0) {
		snprintf(field, sizeof field, "features[%zu].type", i);
		add_error(errors, i, field, "应为 GeoJSON Feature 对象", "must be a GeoJSON Feature");
		return;
	}
	json_t *props = json_object_get(ft, "properties");
	snprintf(field, sizeof field, "features[%zu].properties", i);
	if (!json_is_object(props)) {
		add_error(errors, i, field, "缺少属性（code、name）",
			  "properties (code, name) are missing");
		return;
	}
	json_t *code = json_object_get(props, "code"), *name = json_object_get(props, "name"),
	       *level = json_object_get(props, "level");
	snprintf(field, sizeof field, "features[%zu].properties.code", i);
	if (!json_is_string(code) || grid_code_level(json_string_value(code)) < 0)
		add_error(errors, i, field,
			  "网格编码应为 6（区）、9（街道）、12（社区）或 15（单元网格）位数字",
			  "code must be 6 (district), 9 (street), 12 (community) or 15 (unit grid) digits");
	else {
		f->code = json_string_value(code);
		f->level = grid_code_level(f->code);
	}
	snprintf(field, sizeof field, "features[%zu].properties.name", i);
	if (!json_is_string(name) || !name_ok(json_string_value(name)))
		add_error(errors, i, field, "名称应为 1 到 64 个字符，不含控制字符",
			  "name must be 1 to 64 characters without control characters");
	else
		f->name = json_string_value(name);
	if (level && f->level >= 0) {
		snprintf(field, sizeof field, "features[%zu].properties.level", i);
		int l = json_is_string(level) ? grid_level_parse(json_string_value(level)) : -1;
		if (l < 0)
			add_error(errors, i, field,
				  "层级应为 district、street、community 或 unit",
				  "level must be district, street, community or unit");
		else if (l != f->level)
			add_error(errors, i, field, "层级与编码位数不符",
				  "level does not agree with the length of the code");
	}
	snprintf(field, sizeof field, "features[%zu].geometry", i);
	struct err ge;
	err_clear(&ge);
	if (geo_from_geojson(json_object_get(ft, "geometry"), field, &f->shape, &ge))
		add_error(errors, i, ge.field[0] ? ge.field : field, ge.message_zh, ge.message);
	else {
		json_t *g = geo_to_geojson(&f->shape);
		f->geom = json_dumps(g, JSON_COMPACT);
		json_decref(g);
	}
}

static int lookup_code(struct db *db, int64_t tenant, const char *code, int64_t *id, char *path,
		       size_t pathsz, struct err *e)
{
	struct db_stmt *st = NULL;
	*id = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, path FROM grids WHERE tenant_id = $1 AND code = $2", "it",
			   tenant, code);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		*id = db_column_int64(st, 0);
		copy_text(path, pathsz, db_column_text(st, 1));
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* Insert or update one feature (its parent already written). */
static int write_feature(struct db *db, const struct grid_import *w, struct feat *f,
			 int64_t *created, int64_t *updated, int64_t *unchanged, struct err *e)
{
	struct db_stmt *st = NULL;
	double area = geo_area_m2(&f->shape);
	struct geo_pt lp = geo_label_point(&f->shape);
	const struct geo_bbox *b = &f->shape.bbox;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, path, name, geometry FROM grids WHERE tenant_id = $1 AND "
			   "code = $2",
			   "it", w->tenant_id, f->code);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		f->id = db_column_int64(st, 0);
		copy_text(f->path, sizeof f->path, db_column_text(st, 1));
		bool same = strcmp(db_column_text(st, 2), f->name) == 0 &&
			    strcmp(db_column_text(st, 3), f->geom) == 0;
		db_finalize(st);
		if (same) {
			(*unchanged)++;
			return 0;
		}
		(*updated)++;
		return db_execf(db, e,
				"UPDATE grids SET name = $1, geometry = $2, area_m2 = $3, "
				"min_lon = $4, min_lat = $5, max_lon = $6, max_lat = $7, "
				"label_lon = $8, label_lat = $9, version = version + 1, "
				"updated_at = $10 WHERE tenant_id = $11 AND id = $12",
				"ttdddddddiii", f->name, f->geom, area, b->minx, b->miny, b->maxx,
				b->maxy, lp.x, lp.y, w->now, w->tenant_id, f->id);
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		return rc;
	rc = db_queryf(db, &st, e,
		       "INSERT INTO grids (tenant_id, parent_id, level, code, name, geometry, "
		       "area_m2, min_lon, min_lat, max_lon, max_lat, label_lon, label_lat, "
		       "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
		       "$11, $12, $13, $14, $14) RETURNING id",
		       "iItttt" "dddddddi", w->tenant_id, f->parent_id,
		       grid_level_name((enum grid_level)f->level), f->code, f->name, f->geom, area,
		       b->minx, b->miny, b->maxx, b->maxy, lp.x, lp.y, w->now);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		f->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	int k = snprintf(f->path, sizeof f->path, "%s%" PRId64 "/",
			 f->parent_id ? f->parent_path : "/", f->id);
	if (k < 0 || (size_t)k >= sizeof f->path)
		return err_set(e, ERR_UNPROCESSABLE, "features", "网格层级过深", "grids nest too deep");
	(*created)++;
	return db_execf(db, e, "UPDATE grids SET path = $1 WHERE tenant_id = $2 AND id = $3", "tii",
			f->path, w->tenant_id, f->id);
}

/* Gaps and overlaps among the children of one parent. */
static int cover_parent(struct db *db, int64_t tenant, int64_t parent_id, json_t *coverage,
			struct err *e)
{
	struct db_stmt *st = NULL;
	struct geo_shape parent = {0};
	char pcode[16] = "", pname[GRID_NAME_MAX * 4 + 1] = "";
	size_t n = 0, cap = 0;
	struct geo_shape *kids = NULL;
	int64_t *ids = NULL;
	char (*codes)[16] = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT code, name, geometry FROM grids WHERE tenant_id = $1 AND id = $2",
			   "ii", tenant, parent_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		copy_text(pcode, sizeof pcode, db_column_text(st, 0));
		copy_text(pname, sizeof pname, db_column_text(st, 1));
		rc = parse_geometry(db_column_text(st, 2), pcode, &parent, e);
	}
	db_finalize(st);
	st = NULL;
	if (rc) /* a database or geometry error */
		return rc;
	if (!pcode[0]) /* no such parent: nothing to cover */
		return 0;
	rc = db_queryf(db, &st, e,
		       "SELECT id, code, geometry FROM grids WHERE tenant_id = $1 AND parent_id = $2 "
		       "ORDER BY id",
		       "ii", tenant, parent_id);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			kids = xrealloc(kids, cap * sizeof *kids);
			ids = xrealloc(ids, cap * sizeof *ids);
			codes = xrealloc(codes, cap * sizeof *codes);
		}
		memset(&kids[n], 0, sizeof kids[n]);
		copy_text(codes[n], sizeof codes[n], db_column_text(st, 1));
		int prc = parse_geometry(db_column_text(st, 2), codes[n], &kids[n], e);
		if (prc) {
			rc = prc;
			break;
		}
		ids[n++] = db_column_int64(st, 0);
	}
	db_finalize(st);
	st = NULL;
	if (rc != DB_DONE)
		goto out;
	rc = 0;
	if (n) {
		const struct geo_shape **ptrs = xmalloc(n * sizeof *ptrs);
		for (size_t i = 0; i < n; i++)
			ptrs[i] = &kids[i];
		double area = geo_area_m2(&parent);
		double step = sqrt(area > 0 ? area : 1) / 300;
		if (step < 5)
			step = 5;
		struct geo_cover_report cr;
		memset(&cr, 0, sizeof cr);
		geo_cover(&parent, ptrs, ids, n, step, &cr);
		free(ptrs);
		json_t *j = json_pack("{s:s,s:s,s:I,s:f,s:f,s:f,s:f,s:I}", "code", pcode, "name",
				      pname, "children", (json_int_t)n, "area_m2", area, "gap_m2",
				      cr.gap_m2, "overlap_m2", cr.overlap_m2, "outside_m2",
				      cr.outside_m2, "samples", (json_int_t)cr.samples);
		if (cr.gap_m2 > 0)
			json_object_set_new(j, "gap_example",
					    json_pack("[f,f]", cr.gap_example.x, cr.gap_example.y));
		if (cr.overlap_m2 > 0) {
			json_object_set_new(j, "overlap_example",
					    json_pack("[f,f]", cr.overlap_example.x,
						      cr.overlap_example.y));
			json_t *pair = json_array();
			for (size_t i = 0; i < n; i++)
				if (ids[i] == cr.overlap_a || ids[i] == cr.overlap_b)
					json_array_append_new(pair, json_string(codes[i]));
			json_object_set_new(j, "overlap_between", pair);
		}
		json_array_append_new(coverage, j);
	}
out:
	db_finalize(st);
	for (size_t i = 0; i < n; i++)
		geo_shape_free(&kids[i]);
	free(kids);
	free(ids);
	free(codes);
	geo_shape_free(&parent);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int grid_import(struct db *db, void *arg, struct err *e)
{
	struct grid_import *w = arg;
	json_t *features = json_object_get(w->fc, "features");
	json_t *type = json_object_get(w->fc, "type");
	size_t n = json_array_size(features);
	int rc = 0;

	w->report = json_object();
	json_t *errors = json_array();
	json_object_set_new(w->report, "errors", errors);
	if (!json_is_string(type) || strcmp(json_string_value(type), "FeatureCollection") != 0)
		return err_set(e, ERR_UNPROCESSABLE, "type", "应为 GeoJSON FeatureCollection",
			       "must be a GeoJSON FeatureCollection");
	if (!json_is_array(features) || n == 0)
		return err_set(e, ERR_UNPROCESSABLE, "features", "features 应为非空数组",
			       "features must be a non-empty array");
	if (n > GRID_IMPORT_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "features", "一次最多导入 %d 个网格",
			       "at most %d grids per import", GRID_IMPORT_MAX);

	struct feat *f = xcalloc(n, sizeof *f);
	int *order = xmalloc(n * sizeof *order);
	size_t nord = 0;
	for (size_t i = 0; i < n; i++) {
		check_feature(json_array_get(features, i), i, &f[i], errors);
		if (f[i].code)
			order[nord++] = (int)i;
	}
	qsort_r(order, nord, sizeof *order, cmp_code, f);
	for (size_t k = 1; k < nord; k++)
		if (strcmp(f[order[k]].code, f[order[k - 1]].code) == 0) {
			char field[96];
			snprintf(field, sizeof field, "features[%d].properties.code", order[k]);
			add_error(errors, (size_t)order[k], field, "网格编码在文件中重复",
				  "code appears twice in the file");
		}
	/* parents: from the file, else from the database */
	for (size_t i = 0; !rc && i < n; i++) {
		if (!f[i].code || f[i].level <= GRID_DISTRICT)
			continue;
		char pc[16];
		snprintf(pc, sizeof pc, "%.*s", (int)strlen(f[i].code) - 3, f[i].code);
		f[i].parent = find_code(f, order, nord, pc);
		if (f[i].parent >= 0)
			continue;
		rc = lookup_code(db, w->tenant_id, pc, &f[i].parent_id, f[i].parent_path,
				 sizeof f[i].parent_path, e);
		if (!rc && !f[i].parent_id) {
			char field[96], zh[160], en[160];
			snprintf(field, sizeof field, "features[%zu].properties.code", i);
			snprintf(zh, sizeof zh, "上级网格 %s 不存在（既不在文件中也未导入）", pc);
			snprintf(en, sizeof en, "parent grid %s exists neither in the file nor in the registry", pc);
			add_error(errors, i, field, zh, en);
		}
	}
	if (rc)
		goto out;
	if (json_array_size(errors)) {
		json_t *first = json_array_get(errors, 0);
		char zh[400], en[400];
		snprintf(zh, sizeof zh, "%s（共 %zu 处错误，未导入任何网格）",
			 json_string_value(json_object_get(first, "message_zh")),
			 json_array_size(errors));
		snprintf(en, sizeof en, "%s (%zu errors; nothing imported)",
			 json_string_value(json_object_get(first, "message")),
			 json_array_size(errors));
		rc = err_set_msg(e, ERR_UNPROCESSABLE,
				 json_string_value(json_object_get(first, "field")), zh, en);
		goto out;
	}

	int64_t created = 0, updated = 0, unchanged = 0;
	for (int lvl = GRID_DISTRICT; !rc && lvl <= GRID_UNIT; lvl++)
		for (size_t i = 0; !rc && i < n; i++) {
			if (f[i].level != lvl)
				continue;
			if (f[i].parent >= 0) {
				f[i].parent_id = f[f[i].parent].id;
				copy_text(f[i].parent_path, sizeof f[i].parent_path,
					  f[f[i].parent].path);
			}
			rc = write_feature(db, w, &f[i], &created, &updated, &unchanged, e);
		}
	if (rc)
		goto out;
	json_object_set_new(w->report, "features", json_integer((json_int_t)n));
	json_object_set_new(w->report, "created", json_integer(created));
	json_object_set_new(w->report, "updated", json_integer(updated));
	json_object_set_new(w->report, "unchanged", json_integer(unchanged));

	/* coverage of every parent the file touches: its own features' parents,
	 * and the features themselves when they have children */
	int64_t *parents = xmalloc(2 * n * sizeof *parents);
	size_t np = 0;
	for (size_t i = 0; i < n; i++) {
		if (f[i].parent_id)
			parents[np++] = f[i].parent_id;
		if (f[i].level < GRID_UNIT)
			parents[np++] = f[i].id;
	}
	qsort(parents, np, sizeof *parents, cmp_i64);
	json_t *coverage = json_array();
	json_object_set_new(w->report, "coverage", coverage);
	for (size_t k = 0; !rc && k < np; k++)
		if (k == 0 || parents[k] != parents[k - 1])
			rc = cover_parent(db, w->tenant_id, parents[k], coverage, e);
	free(parents);
	if (rc)
		goto out;

	json_t *placement = json_object();
	json_object_set_new(w->report, "placement", placement);
	if ((rc = meta_bump(db, w->tenant_id, e)) || (rc = grid_place_all(db, w->tenant_id, placement, e)))
		goto out;
	json_t *sum = json_pack("{s:I,s:I,s:I,s:I}", "features", (json_int_t)n, "created",
				(json_int_t)created, "updated", (json_int_t)updated, "unchanged",
				(json_int_t)unchanged);
	rc = audit_append(db, w->who, w->tenant_id, "grid", 0, "import", sum, e);
	json_decref(sum);
	if (!rc && w->dry_run) {
		w->dry_run_done = true;
		rc = err_set(e, ERR_CONFLICT, NULL, "试运行：未保存任何更改", "dry run: nothing saved");
	}
out:
	for (size_t i = 0; i < n; i++) {
		geo_shape_free(&f[i].shape);
		free(f[i].geom);
	}
	free(f);
	free(order);
	return rc;
}

/* ---- delete, workers ---- */

int grid_delete(struct db *db, void *arg, struct err *e)
{
	struct grid_delete *w = arg;
	int64_t exists = 0, kids = 0;
	int rc = db_query_i64(db, &exists, e,
			      "SELECT COUNT(*) FROM grids WHERE tenant_id = $1 AND id = $2", "ii",
			      w->tenant_id, w->id);
	if (rc)
		return rc;
	if (!exists)
		return err_set(e, ERR_NOT_FOUND, "id", "网格不存在", "no such grid");
	if ((rc = db_query_i64(db, &kids, e,
			       "SELECT COUNT(*) FROM grids WHERE tenant_id = $1 AND parent_id = $2",
			       "ii", w->tenant_id, w->id)))
		return rc;
	if (kids)
		return err_set(e, ERR_CONFLICT, "id", "该网格下还有 %" PRId64 " 个下级网格，请先删除下级网格",
			       "the grid still has %" PRId64 " child grids; delete them first", kids);
	if ((rc = session_changed(db, e)) || /* sessions carry their user's grid */
	    (rc = db_execf(db, e, "UPDATE users SET grid_id = NULL WHERE tenant_id = $1 AND grid_id = $2",
			   "ii", w->tenant_id, w->id)) ||
	    (rc = db_execf(db, e, "UPDATE enterprises SET grid_id = NULL WHERE tenant_id = $1 AND grid_id = $2",
			   "ii", w->tenant_id, w->id)) ||
	    (rc = db_execf(db, e, "UPDATE visits SET grid_id = NULL WHERE tenant_id = $1 AND grid_id = $2",
			   "ii", w->tenant_id, w->id)) ||
	    (rc = db_execf(db, e, "DELETE FROM grids WHERE tenant_id = $1 AND id = $2", "ii",
			   w->tenant_id, w->id)) ||
	    (rc = meta_bump(db, w->tenant_id, e)))
		return rc;
	w->report = json_object();
	if ((rc = grid_place_all(db, w->tenant_id, w->report, e)) ||
	    (rc = analysis_rebuild_findings(db, w->tenant_id, e)))
		return rc;
	return audit_append(db, w->who, w->tenant_id, "grid", w->id, "delete", NULL, e);
}

int grid_assign(struct db *db, void *arg, struct err *e)
{
	struct grid_assign *w = arg;
	int64_t n = 0;
	int rc;
	if (w->grid_id) {
		if ((rc = db_query_i64(db, &n, e,
				       "SELECT COUNT(*) FROM grids WHERE tenant_id = $1 AND id = $2",
				       "ii", w->tenant_id, w->grid_id)))
			return rc;
		if (!n)
			return err_set(e, ERR_NOT_FOUND, "grid_id", "网格不存在", "no such grid");
	}
	if ((rc = db_query_i64(db, &n, e,
			       "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND id = $2", "ii",
			       w->tenant_id, w->user_id)))
		return rc;
	if (!n)
		return err_set(e, ERR_UNPROCESSABLE, "user_id", "用户不存在", "no such user");
	if ((rc = db_query_i64(db, &n, e,
			       "SELECT COUNT(*) FROM user_roles WHERE tenant_id = $1 AND user_id = $2 "
			       "AND role = 'grid_worker'",
			       "ii", w->tenant_id, w->user_id)))
		return rc;
	if (!n)
		return err_set(e, ERR_UNPROCESSABLE, "user_id", "只有网格员可以分配到网格",
			       "only grid workers can be assigned to grids");
	if ((rc = session_changed(db, e)) || /* sessions carry their user's grid */
	    (rc = db_execf(db, e, "UPDATE users SET grid_id = $1 WHERE tenant_id = $2 AND id = $3",
			   "Iii", w->grid_id, w->tenant_id, w->user_id)))
		return rc;
	json_t *sum = json_pack("{s:I,s:o}", "user_id", (json_int_t)w->user_id, "grid_id",
				w->grid_id ? json_integer(w->grid_id) : json_null());
	rc = audit_append(db, w->who, w->tenant_id, "user", w->user_id, "grid", sum, e);
	json_decref(sum);
	return rc;
}

int grid_workers(struct db *db, int64_t tenant_id, int64_t grid_id, json_t **out,
		 struct err *e)
{
	struct db_stmt *st = NULL;
	*out = json_array();
	int rc = db_queryf(db, &st, e,
			   "SELECT id, login, display_name, phone, status FROM users WHERE "
			   "tenant_id = $1 AND grid_id = $2 ORDER BY id",
			   "ii", tenant_id, grid_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW)
		json_array_append_new(*out,
				      json_pack("{s:I,s:s,s:s,s:s,s:s}", "id",
						(json_int_t)db_column_int64(st, 0), "login",
						db_column_text(st, 1), "display_name",
						db_column_text(st, 2), "phone", db_column_text(st, 3),
						"status", db_column_text(st, 4)));
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int grid_ancestry(struct db *db, int64_t tenant_id, int64_t grid_id, json_t **out,
		  struct err *e)
{
	*out = json_array();
	for (int depth = 0; grid_id && depth < 8; depth++) {
		struct db_stmt *st = NULL;
		int rc = db_queryf(db, &st, e,
				   "SELECT id, code, name, level, COALESCE(parent_id, 0) FROM grids "
				   "WHERE tenant_id = $1 AND id = $2",
				   "ii", tenant_id, grid_id);
		if (rc)
			return rc;
		rc = db_step(st, e);
		grid_id = 0;
		if (rc == DB_ROW) {
			json_array_append_new(*out, json_pack("{s:I,s:s,s:s,s:s}", "id",
							      (json_int_t)db_column_int64(st, 0),
							      "code", db_column_text(st, 1), "name",
							      db_column_text(st, 2), "level",
							      db_column_text(st, 3)));
			grid_id = db_column_int64(st, 4);
		}
		db_finalize(st);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int grid_unplaced(struct db *db, int64_t tenant_id, int64_t after, int limit, json_t **items,
		  int64_t *total, struct err *e)
{
	struct db_stmt *st = NULL;
	*items = json_array();
	int rc = db_query_i64(db, total, e,
			      "SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1 AND grid_id IS NULL "
			      "AND lat IS NOT NULL AND lon IS NOT NULL",
			      "i", tenant_id);
	if (rc)
		return rc;
	rc = db_queryf(db, &st, e,
		       "SELECT id, name, credit_code, address, lat, lon FROM enterprises WHERE "
		       "tenant_id = $1 AND grid_id IS NULL AND lat IS NOT NULL AND lon IS NOT NULL "
		       "AND id > $2 ORDER BY id LIMIT $3",
		       "iii", tenant_id, after, (int64_t)limit);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW)
		json_array_append_new(*items,
				      json_pack("{s:I,s:s,s:s,s:s,s:f,s:f}", "id",
						(json_int_t)db_column_int64(st, 0), "name",
						db_column_text(st, 1), "credit_code",
						db_column_text(st, 2), "address", db_column_text(st, 3),
						"lat", db_column_double(st, 4), "lon",
						db_column_double(st, 5)));
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- GeoJSON with metrics ---- */

struct node {
	int64_t id, parent_id;
	int64_t m[6]; /* enterprises workers open overdue received closed */
};

static int cmp_node(const void *a, const void *b)
{
	return cmp_i64(&((const struct node *)a)->id, &((const struct node *)b)->id);
}

static struct node *node_of(struct node *v, size_t n, int64_t id)
{
	struct node key = {.id = id};
	return id ? bsearch(&key, v, n, sizeof *v, cmp_node) : NULL;
}

/* Add the rows (id, value...) of a query to metric columns m0.., rolled up
 * to every ancestor. */
static int roll_up(struct db *db, struct node *v, size_t n, int m0, int ncols, struct err *e,
		   const char *sql, const char *types, int64_t a1, int64_t a2, int64_t a3)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, sql, types, a1, a2, a3);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct node *nd = node_of(v, n, db_column_int64(st, 0));
		for (int depth = 0; nd && depth < 8; depth++) {
			for (int c = 0; c < ncols; c++)
				nd->m[m0 + c] += db_column_int64(st, 1 + c);
			nd = node_of(v, n, nd->parent_id);
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int grid_geojson(struct db *db, const struct actor *who, enum scope scope, int level,
		 int64_t from_day, int64_t to_day, json_t **out, struct err *e)
{
	struct db_stmt *st = NULL;
	struct node *v = NULL;
	size_t n = 0, cap = 0;
	int64_t t = who->tenant_id;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, COALESCE(parent_id, 0) FROM grids WHERE tenant_id = $1 "
			   "ORDER BY id",
			   "i", t);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = (struct node){.id = db_column_int64(st, 0),
				       .parent_id = db_column_int64(st, 1)};
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	int64_t today = workcal_local_day(now_ms());
	rc = roll_up(db, v, n, 0, 1, e,
		     "SELECT grid_id, COUNT(*) FROM enterprises WHERE tenant_id = $1 AND "
		     "status = 'active' AND grid_id IS NOT NULL GROUP BY grid_id",
		     "i", t, 0, 0);
	if (!rc)
		rc = roll_up(db, v, n, 1, 1, e,
			     "SELECT grid_id, COUNT(*) FROM users WHERE tenant_id = $1 AND "
			     "status = 'active' AND grid_id IS NOT NULL GROUP BY grid_id",
			     "i", t, 0, 0);
	if (!rc)
		rc = roll_up(db, v, n, 2, 2, e,
			     "SELECT key_id, SUM(open_count), SUM(CASE WHEN due_day < $2 THEN "
			     "open_count ELSE 0 END) FROM request_stats_open WHERE tenant_id = $1 "
			     "AND dim = 'grid' AND key_id <> 0 GROUP BY key_id",
			     "ii", t, today, 0);
	if (!rc && to_day > 0)
		rc = roll_up(db, v, n, 4, 2, e,
			     "SELECT key_id, SUM(received), SUM(closed) FROM request_stats WHERE "
			     "tenant_id = $1 AND dim = 'grid' AND key_id <> 0 AND day BETWEEN $2 AND "
			     "$3 GROUP BY key_id",
			     "iii", t, from_day, to_day);
	if (rc)
		goto out;

	struct buf sql;
	buf_init(&sql, 0);
	buf_adds(&sql, "SELECT " GRID_COLS ", g.geometry" GRID_FROM "WHERE g.tenant_id = $1");
	if (level >= 0)
		buf_addf(&sql, " AND g.level = '%s'", grid_level_name((enum grid_level)level));
	scope_sql(who, scope, &grid_cols, &sql);
	buf_adds(&sql, " ORDER BY g.id");
	rc = db_queryf(db, &st, e, sql.p, "i", t);
	buf_release(&sql);
	if (rc)
		goto out;
	json_t *feats = json_array();
	static const char *const mname[6] = {"enterprises", "workers",  "open_requests",
					     "overdue",     "received", "closed"};
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct grid g;
		read_row(st, &g);
		json_error_t je;
		json_t *geom = json_loads(db_column_text(st, 17), 0, &je);
		json_t *props = json_pack("{s:I,s:s,s:s,s:s,s:s,s:f,s:[f,f]}", "id",
					  (json_int_t)g.id, "code", g.code, "name", g.name, "level",
					  grid_level_name(g.level), "parent_code", g.parent_code,
					  "area_m2", g.area_m2, "label", g.label_lon, g.label_lat);
		struct node *nd = node_of(v, n, g.id);
		for (int c = 0; c < 6; c++)
			if (c < 4 || to_day > 0)
				json_object_set_new(props, mname[c], json_integer(nd ? nd->m[c] : 0));
		json_array_append_new(feats, json_pack("{s:s,s:I,s:o,s:o}", "type", "Feature", "id",
						       (json_int_t)g.id, "geometry",
						       geom ? geom : json_null(), "properties", props));
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0) {
		json_decref(feats);
		goto out;
	}
	rc = 0;
	*out = json_pack("{s:s,s:o}", "type", "FeatureCollection", "features", feats);
out:
	db_finalize(st);
	free(v);
	return rc;
}
