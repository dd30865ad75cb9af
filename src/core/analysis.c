/*
 * analysis.c — 研判 from counters (see analysis.h).
 */
#include "core/analysis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/grid.h"
#include "core/request.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

/* ---- counting ---- */

struct key {
	bool valid;
	int64_t day, grid, category;
};

static struct key request_key(const struct request *r)
{
	struct key k = {0};
	if (!r || r->state == RS_MERGED || r->state == RS_VOIDED)
		return k;
	k.valid = true;
	k.day = workcal_local_day(r->received_at);
	k.grid = r->grid_id;
	k.category = r->category_id;
	return k;
}

static int write_count(struct db *db, int64_t tenant, const char *source, int64_t day,
		       int64_t grid, int64_t category, int64_t delta, struct err *e)
{
	return db_execf(db, e,
			"INSERT INTO grid_stats (tenant_id, source, day, grid_id, category_id, n) "
			"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, source, day, "
			"grid_id, category_id) DO UPDATE SET n = grid_stats.n + excluded.n",
			"itiiii", tenant, source, day, grid, category, delta);
}

/*
 * Deferred to the commit, as the rate counters are (request_stats.c): on a
 * connection that defers (the pool's writer, a loader) a change appends its
 * delta, and the deltas are summed by key and written just before COMMIT —
 * one upsert per key of a batch instead of one per request. The log follows
 * the savepoints (a job rolled back takes its deltas back; what was written
 * inside a savepoint rolled back is pending again); outside savepoints a
 * delta adds to the pending one of its key.
 */
struct gdelta {
	int64_t tenant, day, grid, category, n;
	const char *source; /* "request", "finding" (static) */
};

struct gmark {
	size_t n, flushed;
};

struct glog {
	struct gdelta *v;
	size_t n, cap, flushed;   /* v[0..flushed) are written */
	struct gmark *marks;      /* one per open savepoint */
	size_t nmarks, capmarks;
	uint32_t *slots;          /* outside savepoints: v by key (index + 1, 0 = empty) */
	size_t nslots, nindexed;
};

static bool same_key(const struct gdelta *a, const struct gdelta *b)
{
	return a->tenant == b->tenant && a->day == b->day && a->grid == b->grid &&
	       a->category == b->category && strcmp(a->source, b->source) == 0;
}

static void *glog_create(void)
{
	return xcalloc(1, sizeof(struct glog));
}

static void glog_free(void *p)
{
	struct glog *l = p;
	if (l) {
		free(l->v);
		free(l->marks);
		free(l->slots);
	}
	free(l);
}

static void glog_unindex(struct glog *l)
{
	if (l->nindexed)
		memset(l->slots, 0, l->nslots * sizeof *l->slots);
	l->nindexed = 0;
}

static void glog_savepoint(void *p)
{
	struct glog *l = p;
	if (l->nmarks == l->capmarks) {
		l->capmarks = l->capmarks ? 2 * l->capmarks : 8;
		l->marks = xrealloc(l->marks, l->capmarks * sizeof *l->marks);
	}
	l->marks[l->nmarks++] = (struct gmark){l->n, l->flushed};
}

static void glog_release(void *p)
{
	struct glog *l = p;
	if (l->nmarks)
		l->nmarks--;
}

static void glog_rollback_to(void *p)
{
	struct glog *l = p;
	if (l->nmarks) {
		l->n = l->marks[l->nmarks - 1].n;
		l->flushed = l->marks[l->nmarks - 1].flushed;
	}
}

static void glog_reset(void *p)
{
	struct glog *l = p;
	l->n = l->flushed = l->nmarks = 0;
	glog_unindex(l);
}

static int cmp_gdelta(const void *pa, const void *pb)
{
	const struct gdelta *a = pa, *b = pb;
	int64_t x[] = {a->tenant, a->day, a->grid, a->category};
	int64_t y[] = {b->tenant, b->day, b->grid, b->category};
	for (int i = 0; i < 4; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return strcmp(a->source, b->source);
}

/* Sum the pending deltas by key and write each sum (sorted in a copy: the marks index the log). */
static int glog_flush(struct db *db, void *p, struct err *e)
{
	struct glog *l = p;
	size_t n = l->n - l->flushed;
	int rc = 0;
	if (!n)
		return 0;
	struct gdelta *v = xmalloc(n * sizeof *v);
	memcpy(v, l->v + l->flushed, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_gdelta);
	for (size_t i = 0, j; i < n && !rc; i = j) {
		int64_t sum = v[i].n;
		for (j = i + 1; j < n && same_key(&v[i], &v[j]); j++)
			sum += v[j].n;
		if (sum)
			rc = write_count(db, v[i].tenant, v[i].source, v[i].day, v[i].grid,
					 v[i].category, sum, e);
	}
	free(v);
	if (!rc) {
		l->flushed = l->n;
		glog_unindex(l);
		if (!l->nmarks)
			l->n = l->flushed = 0;
	}
	return rc;
}

static const struct db_deferred_ops glog_ops = {
	.create = glog_create,
	.free = glog_free,
	.savepoint = glog_savepoint,
	.release = glog_release,
	.rollback_to = glog_rollback_to,
	.flush = glog_flush,
	.reset = glog_reset,
};

#define GLOG_FLUSH_AT 32768 /* keys pending outside savepoints */

static uint32_t *gslot(struct glog *l, const struct gdelta *x)
{
	uint64_t h = (uint64_t)x->tenant * 0x9E3779B97F4A7C15ULL;
	h = (h ^ (uint64_t)x->day) * 0x100000001B3ULL;
	h = (h ^ (uint64_t)x->grid) * 0x100000001B3ULL;
	h = (h ^ (uint64_t)x->category) * 0x100000001B3ULL;
	h = (h ^ (unsigned char)x->source[0]) * 0x100000001B3ULL;
	size_t mask = l->nslots - 1;
	for (size_t i = (h ^ h >> 29) & mask;; i = (i + 1) & mask)
		if (!l->slots[i] || same_key(&l->v[l->slots[i] - 1], x))
			return &l->slots[i];
}

static int glog_add(struct db *db, struct glog *l, const struct gdelta *x, struct err *e)
{
	if (!l->nmarks) {
		if (2 * (l->nindexed + 1) > l->nslots) {
			free(l->slots);
			l->nslots = l->nslots ? 2 * l->nslots : 4096;
			l->slots = xcalloc(l->nslots, sizeof *l->slots);
			l->nindexed = 0;
			for (size_t i = l->flushed; i < l->n; i++) {
				*gslot(l, &l->v[i]) = (uint32_t)(i + 1);
				l->nindexed++;
			}
		}
		uint32_t *s = gslot(l, x);
		if (*s) {
			l->v[*s - 1].n += x->n;
			return 0;
		}
		*s = (uint32_t)(l->n + 1);
		l->nindexed++;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = *x;
	if (l->nmarks || l->n - l->flushed < GLOG_FLUSH_AT)
		return 0;
	return glog_flush(db, l, e);
}

static int add(struct db *db, int64_t tenant, const char *source, const struct key *k,
	       int delta, struct err *e)
{
	struct glog *l = db_deferred(db, &glog_ops);
	if (!l)
		return write_count(db, tenant, source, k->day, k->grid, k->category, delta, e);
	struct gdelta x = {tenant, k->day, k->grid, k->category, delta, source};
	return glog_add(db, l, &x, e);
}

int analysis_request_apply(struct db *db, const struct request *before,
			   const struct request *after, struct err *e)
{
	struct key a = request_key(before), b = request_key(after);
	if (a.valid == b.valid && (!a.valid || (a.day == b.day && a.grid == b.grid &&
						 a.category == b.category)))
		return 0;
	int rc = 0;
	if (a.valid)
		rc = add(db, after->tenant_id, "request", &a, -1, e);
	if (!rc && b.valid)
		rc = add(db, after->tenant_id, "request", &b, +1, e);
	return rc;
}

int analysis_finding_add(struct db *db, int64_t tenant_id, int64_t day, int64_t grid_id,
			 int64_t category_id, int delta, struct err *e)
{
	struct key k = {true, day, grid_id, category_id};
	return add(db, tenant_id, "finding", &k, delta, e);
}

/* The recounts of each source: (instant, unit grid, category) per counted row. */
static const char *const recount_sql[] = {
	"SELECT received_at, COALESCE(grid_id, 0), COALESCE(category_id, 0) FROM requests "
	"WHERE tenant_id = $1 AND state NOT IN ('merged', 'voided')",
	"SELECT v.visited_at, COALESCE(v.grid_id, 0), f.category_id FROM visit_findings f "
	"JOIN visits v ON v.id = f.visit_id WHERE f.tenant_id = $1",
};
static const char *const source_names[] = {"request", "finding"};

struct krow {
	int64_t day, grid, category, n;
};

static int cmp_krow(const void *a, const void *b)
{
	const struct krow *x = a, *y = b;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->grid != y->grid)
		return x->grid < y->grid ? -1 : 1;
	if (x->category != y->category)
		return x->category < y->category ? -1 : 1;
	return 0;
}

/* Sort and merge equal keys (summing n); new count. */
static size_t merge_rows(struct krow *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_krow);
	size_t m = 0;
	for (size_t i = 1; i < n; i++) {
		if (cmp_krow(&v[m], &v[i]) == 0)
			v[m].n += v[i].n;
		else
			v[++m] = v[i];
	}
	return m + 1;
}

static void push(struct krow **v, size_t *n, size_t *cap, struct krow r)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = r;
}

static int recount(struct db *db, int64_t tenant, int src, struct krow **out, size_t *n,
		   struct err *e)
{
	struct db_stmt *st = NULL;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc = db_queryf(db, &st, e, recount_sql[src], "i", tenant);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW)
		push(out, n, &cap,
		     (struct krow){workcal_local_day(db_column_int64(st, 0)), db_column_int64(st, 1),
				   db_column_int64(st, 2), 1});
	db_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	*n = merge_rows(*out, *n);
	return 0;
}

static int rebuild(struct db *db, int64_t tenant_id, int src, int64_t *rows, struct err *e)
{
	struct krow *v;
	size_t n;
	/* pending deltas first: the recount includes their rows */
	int rc = db_flush_deferred(db, e);
	if (rc)
		return rc;
	rc = recount(db, tenant_id, src, &v, &n, e);
	if (rc)
		return rc;
	rc = db_execf(db, e, "DELETE FROM grid_stats WHERE tenant_id = $1 AND source = $2", "it",
		      tenant_id, source_names[src]);
	for (size_t i = 0; !rc && i < n; i++)
		rc = db_execf(db, e,
			      "INSERT INTO grid_stats (tenant_id, source, day, grid_id, category_id, n) "
			      "VALUES ($1, $2, $3, $4, $5, $6)",
			      "itiiii", tenant_id, source_names[src], v[i].day, v[i].grid,
			      v[i].category, v[i].n);
	free(v);
	if (rows)
		*rows = (int64_t)n;
	return rc;
}

int analysis_rebuild_requests(struct db *db, int64_t tenant_id, int64_t *rows, struct err *e)
{
	int64_t r1 = 0, r2 = 0;
	int rc = rebuild(db, tenant_id, 0, &r1, e);
	if (!rc)
		rc = rebuild(db, tenant_id, 1, &r2, e);
	if (rows)
		*rows = r1 + r2;
	return rc;
}

int analysis_rebuild_findings(struct db *db, int64_t tenant_id, struct err *e)
{
	return rebuild(db, tenant_id, 1, NULL, e);
}

static int check_source(struct db *db, int64_t tenant_id, int src, int64_t *ndiff, struct err *e)
{
	struct krow *want, *have = NULL;
	size_t nw, nh = 0, cap = 0;
	struct db_stmt *st = NULL;
	int rc = db_flush_deferred(db, e);
	if (!rc)
		rc = recount(db, tenant_id, src, &want, &nw, e);
	if (rc)
		return rc;
	rc = db_queryf(db, &st, e,
		       "SELECT day, grid_id, category_id, n FROM grid_stats WHERE tenant_id = $1 "
		       "AND source = $2 AND n <> 0",
		       "it", tenant_id, source_names[src]);
	if (!rc) {
		while ((rc = db_step(st, e)) == DB_ROW)
			push(&have, &nh, &cap,
			     (struct krow){db_column_int64(st, 0), db_column_int64(st, 1),
					   db_column_int64(st, 2), db_column_int64(st, 3)});
		db_finalize(st);
		rc = rc < 0 ? rc : 0;
	}
	if (!rc) {
		nh = merge_rows(have, nh);
		size_t i = 0, j = 0;
		while (i < nw || j < nh) {
			int c = i == nw ? 1 : j == nh ? -1 : cmp_krow(&want[i], &have[j]);
			if (c == 0) {
				if (want[i].n != have[j].n)
					(*ndiff)++;
				i++;
				j++;
			} else {
				(*ndiff)++;
				if (c < 0)
					i++;
				else
					j++;
			}
		}
	}
	free(want);
	free(have);
	return rc;
}

int analysis_check(struct db *db, int64_t tenant_id, int64_t *ndiff, struct err *e)
{
	*ndiff = 0;
	int rc = check_source(db, tenant_id, 0, ndiff, e);
	if (!rc)
		rc = check_source(db, tenant_id, 1, ndiff, e);
	return rc;
}

/* ---- the grid tree ---- */

struct gnode {
	int64_t id, parent_id;
	int level;
	char code[16];
	char name[GRID_NAME_MAX * 4 + 1];
	char path[128];
	bool visible;
};

struct tree {
	struct gnode *v;
	size_t n;
};

static int cmp_gnode(const void *a, const void *b)
{
	int64_t x = ((const struct gnode *)a)->id, y = ((const struct gnode *)b)->id;
	return (x > y) - (x < y);
}

static struct gnode *node(const struct tree *t, int64_t id)
{
	struct gnode k = {.id = id};
	return id ? bsearch(&k, t->v, t->n, sizeof *t->v, cmp_gnode) : NULL;
}

/* Load the tenant's grids; visible: within the scope and below q->grid_id. */
static int tree_load(struct db *db, const struct actor *who, enum scope scope,
		     const struct analysis_query *q, struct tree *t, struct err *e)
{
	struct db_stmt *st = NULL;
	size_t cap = 0;
	memset(t, 0, sizeof *t);
	int rc = db_queryf(db, &st, e,
			   "SELECT id, COALESCE(parent_id, 0), level, code, name, path FROM grids "
			   "WHERE tenant_id = $1 ORDER BY id",
			   "i", who->tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (t->n == cap) {
			cap = cap ? cap * 2 : 256;
			t->v = xrealloc(t->v, cap * sizeof *t->v);
		}
		struct gnode *g = &t->v[t->n++];
		memset(g, 0, sizeof *g);
		g->id = db_column_int64(st, 0);
		g->parent_id = db_column_int64(st, 1);
		g->level = grid_level_parse(db_column_text(st, 2));
		snprintf(g->code, sizeof g->code, "%s", db_column_text(st, 3));
		snprintf(g->name, sizeof g->name, "%s", db_column_text(st, 4));
		snprintf(g->path, sizeof g->path, "%s", db_column_text(st, 5));
	}
	db_finalize(st);
	if (rc < 0) {
		free(t->v);
		t->v = NULL;
		return rc;
	}
	const char *under = NULL;
	if (q->grid_id) {
		struct gnode *r = node(t, q->grid_id);
		if (!r) {
			free(t->v);
			t->v = NULL;
			return err_set(e, ERR_NOT_FOUND, "grid_id", "网格不存在", "no such grid");
		}
		under = r->path;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct gnode *g = &t->v[i];
		g->visible = true;
		if (scope == SCOPE_GRID)
			g->visible = who->grid_path[0] &&
				     strncmp(g->path, who->grid_path, strlen(who->grid_path)) == 0;
		else if (scope != SCOPE_ALL)
			g->visible = false;
		if (under && strncmp(g->path, under, strlen(under)) != 0)
			g->visible = false;
	}
	return 0;
}

/* The grid of `level` that unit grid id lies in; 0 if not placed (or above). -1: not visible. */
static int64_t target(const struct tree *t, int64_t id, int level, bool all_visible)
{
	struct gnode *g = node(t, id);
	if (!g)
		return all_visible ? 0 : -1; /* not placed: only for the whole district */
	if (!g->visible)
		return -1;
	while (g && g->level > level)
		g = node(t, g->parent_id);
	return g ? g->id : 0;
}

static bool everything(const struct actor *who, enum scope scope, const struct analysis_query *q)
{
	(void)who;
	return scope == SCOPE_ALL && !q->grid_id;
}

static void source_sql(struct buf *b, unsigned sources)
{
	if (sources == ANALYSIS_REQUESTS)
		buf_adds(b, " AND source = 'request'");
	else if (sources == ANALYSIS_FINDINGS)
		buf_adds(b, " AND source = 'finding'");
}

/* Rows (target grid, category, n) of the period, merged. */
static int collect(struct db *db, const struct actor *who, enum scope scope,
		   const struct analysis_query *q, const struct tree *t, int64_t from, int64_t to,
		   struct krow **out, size_t *n, struct err *e)
{
	struct db_stmt *st = NULL;
	struct buf sql;
	size_t cap = 0;
	bool all = everything(who, scope, q);
	*out = NULL;
	*n = 0;
	buf_init(&sql, 0);
	buf_adds(&sql, "SELECT grid_id, category_id, SUM(n) FROM grid_stats WHERE tenant_id = $1 "
		       "AND day BETWEEN $2 AND $3");
	source_sql(&sql, q->sources);
	if (q->category_id)
		buf_addf(&sql, " AND category_id = %" PRId64, q->category_id);
	buf_adds(&sql, " GROUP BY grid_id, category_id");
	int rc = db_queryf(db, &st, e, sql.p, "iii", who->tenant_id, from, to);
	buf_release(&sql);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int64_t g = target(t, db_column_int64(st, 0), q->level, all);
		int64_t c = db_column_int64(st, 2);
		if (g < 0 || c == 0)
			continue;
		push(out, n, &cap, (struct krow){0, g, db_column_int64(st, 1), c});
	}
	db_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	*n = merge_rows(*out, *n);
	return 0;
}

/* Category names (id -> name) as a JSON object keyed by the id's decimal text. */
static int category_names(struct db *db, int64_t tenant, json_t **out, struct err *e)
{
	struct db_stmt *st = NULL;
	*out = json_object();
	int rc = db_queryf(db, &st, e, "SELECT id, name FROM request_categories WHERE tenant_id = $1",
			   "i", tenant);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		char k[24];
		snprintf(k, sizeof k, "%" PRId64, db_column_int64(st, 0));
		json_object_set_new(*out, k, json_string(db_column_text(st, 1)));
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static const char *cat_name(json_t *names, int64_t id)
{
	char k[24];
	if (!id)
		return "未分类";
	snprintf(k, sizeof k, "%" PRId64, id);
	const char *s = json_string_value(json_object_get(names, k));
	return s ? s : "";
}

struct total {
	int64_t id, n;
};

static int cmp_total(const void *a, const void *b)
{
	const struct total *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int cmp_total_id(const void *a, const void *b)
{
	int64_t x = ((const struct total *)a)->id, y = ((const struct total *)b)->id;
	return (x > y) - (x < y);
}

/* Totals by grid (by = 0) or by category (by = 1), largest first. */
static size_t totals(const struct krow *v, size_t n, int by, struct total **out)
{
	struct total *t = xmalloc((n ? n : 1) * sizeof *t);
	for (size_t i = 0; i < n; i++)
		t[i] = (struct total){by ? v[i].category : v[i].grid, v[i].n};
	qsort(t, n, sizeof *t, cmp_total_id);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && t[m - 1].id == t[i].id)
			t[m - 1].n += t[i].n;
		else
			t[m++] = t[i];
	}
	qsort(t, m, sizeof *t, cmp_total);
	*out = t;
	return m;
}

static void day_text(int64_t day, char out[11])
{
	workcal_format_date(day, out, 11);
}

int analysis_matrix(struct db *db, const struct actor *who, enum scope scope,
		    const struct analysis_query *q, json_t **out, struct err *e)
{
	struct tree t;
	struct krow *v = NULL;
	size_t n = 0;
	json_t *names = NULL;
	int rc = tree_load(db, who, scope, q, &t, e);
	if (rc)
		return rc;
	if ((rc = collect(db, who, scope, q, &t, q->from_day, q->to_day, &v, &n, e)) ||
	    (rc = category_names(db, who->tenant_id, &names, e)))
		goto out;
	char from[11], to[11];
	day_text(q->from_day, from);
	day_text(q->to_day, to);
	int64_t total = 0;
	json_t *cells = json_array(), *grids = json_array(), *cats = json_array();
	for (size_t i = 0; i < n; i++) {
		total += v[i].n;
		json_array_append_new(cells, json_pack("{s:I,s:I,s:I}", "grid_id",
						       (json_int_t)v[i].grid, "category_id",
						       (json_int_t)v[i].category, "count",
						       (json_int_t)v[i].n));
	}
	struct total *tg, *tc;
	size_t ng = totals(v, n, 0, &tg), nc = totals(v, n, 1, &tc);
	for (size_t i = 0; i < ng; i++) {
		struct gnode *g = node(&t, tg[i].id);
		json_array_append_new(grids, json_pack("{s:I,s:s,s:s,s:I}", "id", (json_int_t)tg[i].id,
						       "code", g ? g->code : "", "name",
						       g ? g->name : "未落入网格", "total",
						       (json_int_t)tg[i].n));
	}
	for (size_t i = 0; i < nc; i++)
		json_array_append_new(cats, json_pack("{s:I,s:s,s:I}", "id", (json_int_t)tc[i].id,
						      "name", cat_name(names, tc[i].id), "total",
						      (json_int_t)tc[i].n));
	free(tg);
	free(tc);
	*out = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o}", "from", from, "to", to, "level",
			 grid_level_name((enum grid_level)q->level), "total", (json_int_t)total,
			 "grids", grids, "categories", cats, "cells", cells);
out:
	json_decref(names);
	free(v);
	free(t.v);
	return rc;
}

static int64_t bucket_start(int64_t day, char b)
{
	int y, m, d;
	if (b == 'w')
		return day - ((day + 3) % 7 + 7) % 7; /* Monday (day 0 was a Thursday) */
	if (b == 'm') {
		workcal_civil_from_days(day, &y, &m, &d);
		return workcal_days_from_civil(y, m, 1);
	}
	return day;
}

static int64_t bucket_next(int64_t start, char b)
{
	int y, m, d;
	if (b == 'w')
		return start + 7;
	if (b == 'm') {
		workcal_civil_from_days(start, &y, &m, &d);
		return m == 12 ? workcal_days_from_civil(y + 1, 1, 1)
			       : workcal_days_from_civil(y, m + 1, 1);
	}
	return start + 1;
}

int analysis_trend(struct db *db, const struct actor *who, enum scope scope,
		   const struct analysis_query *q, const char *bucket, json_t **out,
		   struct err *e)
{
	struct tree t;
	struct db_stmt *st = NULL;
	char b = bucket[0];
	bool all = everything(who, scope, q);
	int rc = tree_load(db, who, scope, q, &t, e);
	if (rc)
		return rc;
	int64_t first = bucket_start(q->from_day, b);
	size_t nb = 0;
	for (int64_t s = first; s <= q->to_day; s = bucket_next(s, b))
		nb++;
	int64_t *counts = xcalloc(nb ? nb : 1, sizeof *counts), *starts = xcalloc(nb ? nb : 1, sizeof *starts);
	size_t k = 0;
	for (int64_t s = first; s <= q->to_day; s = bucket_next(s, b))
		starts[k++] = s;
	struct buf sql;
	buf_init(&sql, 0);
	buf_adds(&sql, "SELECT day, grid_id, SUM(n) FROM grid_stats WHERE tenant_id = $1 AND day "
		       "BETWEEN $2 AND $3");
	source_sql(&sql, q->sources);
	if (q->category_id)
		buf_addf(&sql, " AND category_id = %" PRId64, q->category_id);
	buf_adds(&sql, " GROUP BY day, grid_id");
	rc = db_queryf(db, &st, e, sql.p, "iii", who->tenant_id, q->from_day, q->to_day);
	buf_release(&sql);
	if (!rc) {
		while ((rc = db_step(st, e)) == DB_ROW) {
			if (target(&t, db_column_int64(st, 1), GRID_UNIT, all) < 0)
				continue;
			int64_t s = bucket_start(db_column_int64(st, 0), b);
			size_t lo = 0, hi = nb; /* starts are sorted */
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (starts[mid] < s)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < nb && starts[lo] == s)
				counts[lo] += db_column_int64(st, 2);
		}
		db_finalize(st);
		rc = rc < 0 ? rc : 0;
	}
	if (!rc) {
		json_t *series = json_array();
		for (size_t i = 0; i < nb; i++) {
			char d[11];
			day_text(starts[i], d);
			json_array_append_new(series, json_pack("{s:s,s:I}", "start", d, "count",
								(json_int_t)counts[i]));
		}
		*out = json_pack("{s:s,s:o}", "bucket", b == 'w' ? "week" : b == 'm' ? "month" : "day",
				 "series", series);
	}
	free(counts);
	free(starts);
	free(t.v);
	return rc;
}

struct rise {
	int64_t id, cur, prev;
};

static int cmp_rise(const void *a, const void *b)
{
	const struct rise *x = a, *y = b;
	int64_t dx = x->cur - x->prev, dy = y->cur - y->prev;
	if (dx != dy)
		return dx > dy ? -1 : 1;
	if (x->cur != y->cur)
		return x->cur > y->cur ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static json_t *rises(struct rise *r, size_t n, int limit, int64_t min_count, const struct tree *t,
		     json_t *names, bool grids)
{
	json_t *a = json_array();
	qsort(r, n, sizeof *r, cmp_rise);
	for (size_t i = 0; i < n && (int)json_array_size(a) < limit; i++) {
		if (r[i].cur < min_count || r[i].cur <= r[i].prev)
			continue;
		json_t *j = json_pack("{s:I,s:I,s:I,s:I}", "id", (json_int_t)r[i].id, "current",
				      (json_int_t)r[i].cur, "previous", (json_int_t)r[i].prev, "change",
				      (json_int_t)(r[i].cur - r[i].prev));
		json_object_set_new(j, "ratio",
				    r[i].prev ? json_real((double)(r[i].cur - r[i].prev) / (double)r[i].prev)
					      : json_null());
		if (grids) {
			struct gnode *g = node(t, r[i].id);
			json_object_set_new(j, "code", json_string(g ? g->code : ""));
			json_object_set_new(j, "name", json_string(g ? g->name : "未落入网格"));
		} else
			json_object_set_new(j, "name", json_string(cat_name(names, r[i].id)));
		json_array_append_new(a, j);
	}
	return a;
}

static int cmp_rise_id(const void *a, const void *b)
{
	int64_t x = ((const struct rise *)a)->id, y = ((const struct rise *)b)->id;
	return (x > y) - (x < y);
}

/* The current and previous totals by grid (by = 0) or category (by = 1). */
static size_t tally(const struct krow *cur, size_t nc, const struct krow *prev, size_t np, int by,
		    struct rise **out)
{
	struct rise *r = xmalloc((nc + np + 1) * sizeof *r);
	size_t n = 0, m = 0;
	for (size_t i = 0; i < nc; i++)
		r[n++] = (struct rise){by ? cur[i].category : cur[i].grid, cur[i].n, 0};
	for (size_t i = 0; i < np; i++)
		r[n++] = (struct rise){by ? prev[i].category : prev[i].grid, 0, prev[i].n};
	qsort(r, n, sizeof *r, cmp_rise_id);
	for (size_t i = 0; i < n; i++) {
		if (m && r[m - 1].id == r[i].id) {
			r[m - 1].cur += r[i].cur;
			r[m - 1].prev += r[i].prev;
		} else
			r[m++] = r[i];
	}
	*out = r;
	return m;
}

int analysis_rising(struct db *db, const struct actor *who, enum scope scope,
		    const struct analysis_query *q, int span, int limit, int64_t min_count,
		    json_t **out, struct err *e)
{
	struct tree t;
	struct krow *cur = NULL, *prev = NULL;
	size_t nc = 0, np = 0, ng = 0, ncat = 0;
	struct rise *g = NULL, *c = NULL;
	json_t *names = NULL;
	int64_t to = q->to_day, from = to - span + 1, pto = from - 1, pfrom = pto - span + 1;
	int rc = tree_load(db, who, scope, q, &t, e);
	if (rc)
		return rc;
	if ((rc = collect(db, who, scope, q, &t, from, to, &cur, &nc, e)) ||
	    (rc = collect(db, who, scope, q, &t, pfrom, pto, &prev, &np, e)) ||
	    (rc = category_names(db, who->tenant_id, &names, e)))
		goto out;
	ng = tally(cur, nc, prev, np, 0, &g);
	ncat = tally(cur, nc, prev, np, 1, &c);
	char a[11], b[11], pa[11], pb[11];
	day_text(from, a);
	day_text(to, b);
	day_text(pfrom, pa);
	day_text(pto, pb);
	*out = json_pack("{s:{s:s,s:s},s:{s:s,s:s},s:o,s:o}", "current", "from", a, "to", b,
			 "previous", "from", pa, "to", pb, "grids",
			 rises(g, ng, limit, min_count, &t, names, true), "categories",
			 rises(c, ncat, limit, min_count, &t, names, false));
out:
	json_decref(names);
	free(cur);
	free(prev);
	free(g);
	free(c);
	free(t.v);
	return rc;
}

static int cmp_count(const void *a, const void *b)
{
	const struct krow *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return cmp_krow(a, b);
}

int analysis_top(struct db *db, const struct actor *who, enum scope scope,
		 const struct analysis_query *q, int limit, json_t **out, struct err *e)
{
	struct tree t;
	struct krow *v = NULL;
	size_t n = 0;
	json_t *names = NULL;
	int rc = tree_load(db, who, scope, q, &t, e);
	if (rc)
		return rc;
	if ((rc = collect(db, who, scope, q, &t, q->from_day, q->to_day, &v, &n, e)) ||
	    (rc = category_names(db, who->tenant_id, &names, e)))
		goto out;
	int64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += v[i].n;
	qsort(v, n, sizeof *v, cmp_count);
	json_t *items = json_array();
	for (size_t i = 0; i < n && (int)i < limit; i++) {
		struct gnode *g = node(&t, v[i].grid);
		json_array_append_new(
			items, json_pack("{s:I,s:s,s:s,s:I,s:s,s:I,s:f}", "grid_id", (json_int_t)v[i].grid,
					 "code", g ? g->code : "", "grid_name", g ? g->name : "未落入网格",
					 "category_id", (json_int_t)v[i].category, "category",
					 cat_name(names, v[i].category), "count", (json_int_t)v[i].n,
					 "share", total ? (double)v[i].n / (double)total : 0.0));
	}
	*out = json_pack("{s:I,s:o}", "total", (json_int_t)total, "items", items);
out:
	json_decref(names);
	free(v);
	free(t.v);
	return rc;
}

int analysis_by_grid(struct db *db, const struct actor *who, enum scope scope,
		     const struct analysis_query *q,
		     void (*each)(int64_t grid_id, int64_t count, void *ctx), void *ctx,
		     struct err *e)
{
	struct tree t;
	struct krow *v = NULL;
	size_t n = 0;
	int rc = tree_load(db, who, scope, q, &t, e);
	if (rc)
		return rc;
	if (!(rc = collect(db, who, scope, q, &t, q->from_day, q->to_day, &v, &n, e))) {
		struct total *tg;
		size_t ng = totals(v, n, 0, &tg);
		for (size_t i = 0; i < ng; i++)
			if (tg[i].id)
				each(tg[i].id, tg[i].n, ctx);
		free(tg);
	}
	free(v);
	free(t.v);
	return rc;
}
