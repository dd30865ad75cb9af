/*
 * suggest.c — see suggest.h: the per-tenant routing models (built from the
 * requests table, cached as immutable snapshots) and the duplicate finder.
 */
#include "core/suggest.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/request.h"
#include "db/db.h"
#include "base/banned.h"

#define DAY_MS (86400 * 1000LL)

struct suggest_model {
	atomic_int refs;
	struct suggest_info info;
	struct textmodel *dept, *cat;
};

char *suggest_text(const char *title, const char *content)
{
	size_t a = title ? strlen(title) : 0, b = content ? strlen(content) : 0;
	char *s = xmalloc(a + b + 2);
	memcpy(s, title ? title : "", a);
	s[a] = '\n';
	memcpy(s + a + 1, content ? content : "", b);
	s[a + b + 1] = '\0';
	return s;
}

/* ---- building a model ---- */

static struct suggest_model *model_ref(struct suggest_model *m)
{
	if (m)
		atomic_fetch_add(&m->refs, 1);
	return m;
}

void suggest_model_unref(struct suggest_model *m)
{
	if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	textmodel_free(m->dept);
	textmodel_free(m->cat);
	free(m);
}

const struct suggest_info *suggest_model_info(const struct suggest_model *m)
{
	return &m->info;
}

/* Read the examples (newest first, at most SUGGEST_MAX_EXAMPLES) and build both models. */
static int build(struct db *db, int64_t tenant, int64_t now, struct suggest_model **out,
		 struct err *e)
{
	struct db_stmt *st = NULL;
	struct textmodel_example *dex = NULL, *cex = NULL;
	char **texts = NULL;
	size_t n = 0, cap = 0, nc = 0;
	int64_t t0 = mono_ns();
	*out = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT title, content, department_id, category_id FROM requests "
			   "WHERE tenant_id = $1 AND department_id IS NOT NULL "
			   "AND state NOT IN ('merged', 'voided') "
			   "ORDER BY received_at DESC, id DESC LIMIT $2",
			   "ii", tenant, (int64_t)SUGGEST_MAX_EXAMPLES);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			texts = xrealloc(texts, cap * sizeof *texts);
			dex = xrealloc(dex, cap * sizeof *dex);
			cex = xrealloc(cex, cap * sizeof *cex);
		}
		texts[n] = suggest_text(db_column_text(st, 0), db_column_text(st, 1));
		dex[n] = (struct textmodel_example){texts[n], db_column_int64(st, 2)};
		if (!db_column_is_null(st, 3))
			cex[nc++] = (struct textmodel_example){texts[n], db_column_int64(st, 3)};
		n++;
	}
	db_finalize(st);
	if (rc < 0)
		goto out;
	rc = 0;
	/* oldest first: the evaluation holds out the most recent */
	for (size_t i = 0; i < n / 2; i++) {
		struct textmodel_example t = dex[i];
		dex[i] = dex[n - 1 - i];
		dex[n - 1 - i] = t;
	}
	for (size_t i = 0; i < nc / 2; i++) {
		struct textmodel_example t = cex[i];
		cex[i] = cex[nc - 1 - i];
		cex[nc - 1 - i] = t;
	}
	struct suggest_model *m = xcalloc(1, sizeof *m);
	atomic_init(&m->refs, 1);
	m->info.tenant_id = tenant;
	m->info.trained_at = now;
	m->info.requests = (int64_t)n;
	m->dept = textmodel_build(dex, n, TEXTMODEL_ALPHA, SUGGEST_HOLDOUT, &m->info.dept.eval);
	m->cat = textmodel_build(cex, nc, TEXTMODEL_ALPHA, SUGGEST_HOLDOUT, &m->info.cat.eval);
	m->info.dept.examples = textmodel_examples(m->dept);
	m->info.dept.classes = textmodel_classes(m->dept);
	m->info.dept.vocabulary = textmodel_vocabulary(m->dept);
	m->info.dept.bytes = textmodel_bytes(m->dept);
	m->info.dept.temperature = textmodel_temperature(m->dept);
	m->info.cat.examples = textmodel_examples(m->cat);
	m->info.cat.classes = textmodel_classes(m->cat);
	m->info.cat.vocabulary = textmodel_vocabulary(m->cat);
	m->info.cat.bytes = textmodel_bytes(m->cat);
	m->info.cat.temperature = textmodel_temperature(m->cat);
	m->info.train_ms = (mono_ns() - t0) / 1000000;
	*out = m;
out:
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(dex);
	free(cex);
	return rc;
}

/* ---- the cache: one current snapshot per tenant (few tenants: a linear scan) ---- */

struct cache_slot {
	int64_t tenant_id;
	struct suggest_model *m; /* holds one reference; NULL until the first build */
	bool building;           /* a caller is building a newer one */
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cache_slot *cache;
static size_t ncache, capcache;

static struct cache_slot *cache_slot(int64_t tenant, bool add)
{
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].tenant_id == tenant)
			return &cache[i];
	if (!add)
		return NULL;
	if (ncache == capcache) {
		capcache = capcache ? 2 * capcache : 8;
		cache = xrealloc(cache, capcache * sizeof *cache);
	}
	cache[ncache] = (struct cache_slot){tenant, NULL, false};
	return &cache[ncache++];
}

int suggest_model_acquire(struct db *db, int64_t tenant_id, int64_t now, int64_t max_age_ms,
			  bool force, struct suggest_model **out, struct err *e)
{
	struct suggest_model *m = NULL;
	*out = NULL;
	pthread_mutex_lock(&cache_mu);
	struct cache_slot *s = cache_slot(tenant_id, true);
	bool fresh = s->m && (max_age_ms <= 0 || now - s->m->info.trained_at < max_age_ms);
	if (s->m && !force && (fresh || s->building)) {
		/* current, or being rebuilt by another caller: use what there is */
		*out = model_ref(s->m);
		pthread_mutex_unlock(&cache_mu);
		return 0;
	}
	s->building = true;
	pthread_mutex_unlock(&cache_mu);

	int rc = build(db, tenant_id, now, &m, e); /* no lock held: readers go on */

	pthread_mutex_lock(&cache_mu);
	s = cache_slot(tenant_id, true); /* the array may have moved */
	s->building = false;
	if (!rc && (!s->m || s->m->info.trained_at <= m->info.trained_at)) {
		suggest_model_unref(s->m);
		s->m = model_ref(m);
	}
	pthread_mutex_unlock(&cache_mu);
	*out = m;
	return rc;
}

void suggest_cache_clear(void)
{
	pthread_mutex_lock(&cache_mu);
	for (size_t i = 0; i < ncache; i++)
		suggest_model_unref(cache[i].m);
	free(cache);
	cache = NULL;
	ncache = capcache = 0;
	pthread_mutex_unlock(&cache_mu);
}

/* ---- suggestions ---- */

static int labels(struct db *db, const struct textmodel *tm, const char *table, int64_t tenant,
		  const char *text, struct suggest_label *out, size_t k, size_t *n, struct err *e)
{
	/* more guesses than asked: some may name inactive departments or categories */
	struct textmodel_guess g[24];
	size_t ng = textmodel_predict(tm, text, g, k + 8 < 24 ? k + 8 : 24);
	char sql[128];
	*n = 0;
	snprintf(sql, sizeof sql, "SELECT name, active FROM %s WHERE tenant_id = $1 AND id = $2",
		 table);
	for (size_t i = 0; i < ng && *n < k; i++) {
		struct db_stmt *st = NULL;
		int rc = db_queryf(db, &st, e, sql, "ii", tenant, g[i].label);
		if (rc)
			return rc;
		rc = db_step(st, e);
		if (rc == DB_ROW && db_column_int64(st, 1)) {
			struct suggest_label *l = &out[(*n)++];
			l->id = g[i].label;
			l->p = g[i].p;
			snprintf(l->name, sizeof l->name, "%s", db_column_text(st, 0));
		}
		db_finalize(st);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int suggest_departments(struct db *db, const struct suggest_model *m, int64_t tenant_id,
			const char *text, struct suggest_label *out, size_t k, size_t *n,
			struct err *e)
{
	return labels(db, m->dept, "departments", tenant_id, text, out, k, n, e);
}

int suggest_categories(struct db *db, const struct suggest_model *m, int64_t tenant_id,
		       const char *text, struct suggest_label *out, size_t k, size_t *n,
		       struct err *e)
{
	return labels(db, m->cat, "request_categories", tenant_id, text, out, k, n, e);
}

/* ---- duplicates ---- */

struct dup_ctx {
	const struct request *r;
	struct textmodel_feats bi, uni; /* of r */
	struct suggest_dup *out;
	size_t k, n;
};

/* Score one candidate row (id, number, title, content, state, enterprise_id,
 * lat, lon, received_at) and keep it among the best k. */
static void consider(struct dup_ctx *c, struct db_stmt *st)
{
	const struct request *r = c->r;
	struct suggest_dup d = {.id = db_column_int64(st, 0), .distance_m = -1};
	int64_t ent = db_column_is_null(st, 5) ? 0 : db_column_int64(st, 5);
	for (size_t i = 0; i < c->n; i++)
		if (c->out[i].id == d.id)
			return; /* found by the other criterion already */
	d.same_enterprise = r->enterprise_id && ent == r->enterprise_id;
	if (r->has_location && !db_column_is_null(st, 6) && !db_column_is_null(st, 7)) {
		d.distance_m = textmodel_haversine_m(r->lat, r->lon, db_column_double(st, 6),
						     db_column_double(st, 7));
		d.nearby = d.distance_m <= SUGGEST_DUP_RADIUS_M;
	}
	if (!d.same_enterprise && !d.nearby)
		return;
	char *text = suggest_text(db_column_text(st, 2), db_column_text(st, 3));
	struct textmodel_feats f = {0};
	textmodel_features(text, TEXTMODEL_BIGRAMS, &f);
	if (f.n && c->bi.n)
		d.score = textmodel_jaccard_sets(&c->bi, &f);
	else { /* a text too short for bigrams */
		textmodel_features(text, TEXTMODEL_UNIGRAMS, &f);
		d.score = textmodel_jaccard_sets(&c->uni, &f);
	}
	textmodel_feats_release(&f);
	free(text);
	if (d.score < SUGGEST_DUP_MIN_SCORE)
		return;
	snprintf(d.number, sizeof d.number, "%s", db_column_text(st, 1));
	snprintf(d.title, sizeof d.title, "%s", db_column_text(st, 2));
	snprintf(d.state, sizeof d.state, "%s", db_column_text(st, 4));
	d.received_at = db_column_int64(st, 8);
	/* insert into the best k: score desc, then newer (larger id) first */
	size_t i = c->n < c->k ? c->n++ : c->k;
	if (i == c->k) {
		const struct suggest_dup *last = &c->out[c->k - 1];
		if (d.score < last->score || (d.score == last->score && d.id < last->id))
			return;
		i = c->k - 1;
	}
	while (i > 0 && (d.score > c->out[i - 1].score ||
			 (d.score == c->out[i - 1].score && d.id > c->out[i - 1].id))) {
		c->out[i] = c->out[i - 1];
		i--;
	}
	c->out[i] = d;
}

#define DUP_COLS                                                                                   \
	"SELECT id, number, title, content, state, enterprise_id, lat, lon, received_at "          \
	"FROM requests WHERE tenant_id = $1 AND id <> $2 "                                         \
	"AND state NOT IN ('merged', 'voided') "                                                   \
	"AND (state <> 'closed' OR (received_at >= $3 AND received_at <= $4)) "

int suggest_duplicates(struct db *db, const struct request *r, struct suggest_dup *out, size_t k,
		       size_t *n, struct err *e)
{
	struct dup_ctx c = {.r = r, .out = out, .k = k};
	struct db_stmt *st = NULL;
	int64_t from = r->received_at - SUGGEST_DUP_DAYS * DAY_MS;
	int64_t to = r->received_at + SUGGEST_DUP_DAYS * DAY_MS;
	int rc = 0;
	*n = 0;
	if (!k)
		return 0;
	char *text = suggest_text(r->title, r->content);
	textmodel_features(text, TEXTMODEL_BIGRAMS, &c.bi);
	textmodel_features(text, TEXTMODEL_UNIGRAMS, &c.uni);
	free(text);
	if (r->enterprise_id) {
		rc = db_queryf(db, &st, e,
			       DUP_COLS "AND enterprise_id = $5 ORDER BY id DESC LIMIT $6",
			       "iiiiii", r->tenant_id, r->id, from, to, r->enterprise_id,
			       (int64_t)SUGGEST_DUP_CANDIDATES);
		while (!rc && (rc = db_step(st, e)) == DB_ROW) {
			consider(&c, st);
			rc = 0;
		}
		db_finalize(st);
		st = NULL;
		rc = rc < 0 ? rc : 0;
	}
	if (!rc && r->has_location) {
		/* a box around the point, then the exact distance */
		double dlat = SUGGEST_DUP_RADIUS_M / 111195.0 * 1.01;
		double cl = cos(r->lat * M_PI / 180.0);
		double dlon = cl > 0.01 ? dlat / cl : 180.0;
		rc = db_queryf(db, &st, e,
			       DUP_COLS "AND lat BETWEEN $5 AND $6 AND lon BETWEEN $7 AND $8 "
					"ORDER BY id DESC LIMIT $9",
			       "iiiiddddi", r->tenant_id, r->id, from, to, r->lat - dlat,
			       r->lat + dlat, r->lon - dlon, r->lon + dlon,
			       (int64_t)SUGGEST_DUP_CANDIDATES);
		while (!rc && (rc = db_step(st, e)) == DB_ROW) {
			consider(&c, st);
			rc = 0;
		}
		db_finalize(st);
		rc = rc < 0 ? rc : 0;
	}
	textmodel_feats_release(&c.bi);
	textmodel_feats_release(&c.uni);
	*n = c.n;
	return rc;
}
