/*
 * cmd_gen.c — `yiqiban gen`: a deterministic city-scale data set for
 * benchmarks (issue 7). From a seed and sizes: the demo district's
 * departments, users, catalogue and time limits (cli/demo.h), then a market
 * of --enterprises entities and --requests requests spread over --years
 * years up to --until, each with the timeline of events the state machine
 * would have written, its extension and return applications, and its share
 * of the live rate counters.
 *
 * Everything goes through the storage layer and the core modules: the
 * setup through write jobs, the bulk through the enterprise loader and
 * request_load (multi-row INSERTs prepared once), the counters deferred and
 * summed per key (db_defer_enable), so `yiqiban stats check` holds
 * afterwards. Requests are made in time order, so ids, numbers and most index
 * keys only grow.
 *
 * Three threads share the work (SQLite writes one connection at a time): one
 * makes the requests into a ring of batches; the main connection writes
 * their timelines (events, applications), then the enterprises (planned
 * first, so the requests know their ids); a second connection writes the
 * request rows and the counters into a side file, and builds the request
 * indexes that the rows do not reach in order. At the end the side file's
 * tables move into the database by INSERT … SELECT, which SQLite does as a
 * copy of records and index entries (the tables are alike, the targets
 * empty). This pays when a second core is free; when the machine is busy,
 * everything goes on the main connection (want_split).
 *
 * Both connections load without a journal or syncing (LOAD_PRAGMAS); the
 * database is made a WAL database and synced at the end. An interrupted gen
 * leaves an inconsistent file — delete it (gen refuses a database with data)
 * — and a side file, which the next gen replaces.
 *
 * What a request becomes follows the demo's mix of fates (usual loop,
 * extension, pause, return, reopening, late, unrated, merge, void, and a
 * backlog of recent ones nobody answers); the
 * steps are timed on the working-day calendar, and the request stops where
 * its next step would come after the end of the history: the recent ones
 * are open, waiting at every stage of the loop.
 *
 * Not written: audit rows (the history is loaded, not acted; a live server
 * adds one per step), webhooks, service teams. The same seed, sizes and
 * --until give the same rows.
 */
#include <getopt.h>
#include <malloc.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/demo.h"
#include "cli/demo_data.h"
#include "core/dept.h"
#include "core/enterprise.h"
#include "core/request.h"
#include "core/request_load.h"
#include "core/tenant.h"
#include "core/user.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define MAX_EVENTS 24
#define MAX_HANDLERS 128
#define NTYPES 5

static const char *const types[NTYPES] = {"consultation", "help", "complaint", "suggestion",
					  "report"};

/* Someone who acts in the loop. */
struct person {
	int64_t id;
	int64_t dept;
	char name[256];
};

/* What the requests need to know, loaded once after the setup. */
struct world {
	int64_t tenant;
	struct workcal *cal;
	const struct demo_cat *cats;
	size_t ncats;
	int cat_weight_sum;
	int64_t cat_ids[64], dept_ids[64];
	struct time_limits limits[64][NTYPES];
	int urgent_cap;              /* sign minutes at most, for urgent requests */
	int64_t gsb;                 /* department of last resort */
	char head_path[256];         /* the department head's department path */
	struct person disp, head, leader, super, grid, observer, ent;
	struct person handlers[MAX_HANDLERS];
	char handler_path[MAX_HANDLERS][256];
	int nh;
	int64_t *ents;               /* enterprise ids, in creation order */
	float *lat, *lon;            /* their locations (0: none) */
	int64_t nents;
	int64_t ent_firm;            /* the demo enterprise user's firm */
};

/* Options. */
struct gen {
	const char *db;
	int64_t n_ent, n_req, years, grids, batch;
	uint64_t seed;
	bool split;                  /* request rows on a second connection (a side file) */
	int64_t until;               /* Shanghai day number: the history ends at its start */
};

/*
 * Grids and visits (网格, 走访) belong to the grid module, which is not in
 * this build yet. This is the seam: with it, gen creates --grids grids over
 * the district, places every enterprise and request in its grid here (by
 * location, as the server does), and generates the grid workers' visits
 * after the requests. Until then --grids must be 0 and grid_id stays NULL.
 */
static int64_t grid_of(const struct world *w, double lat, double lon)
{
	(void)w;
	(void)lat;
	(void)lon;
	return 0;
}

static int64_t pick(struct demo_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)demo_rng_below(r, (uint64_t)(hi - lo + 1));
}

#define LOAD_CACHE "PRAGMA cache_size=-1048576"
/* While building indexes: a cache the size of a sorter's run, so that SQLite's sorter cuts
 * the keys into runs that its helper threads sort and merge (PRAGMA threads). */
#define SORT_CACHE "PRAGMA cache_size=-65536"

/*
 * While loading, a connection writes without a journal, without syncing and
 * without checking the CHECK constraints (every value is one of the lists
 * above) or the foreign keys (every reference is to a row made here); the
 * database is made a WAL database again and synced at the end. A crash in
 * between leaves a file to throw away (see cmd_gen).
 */
#define LOAD_PRAGMAS                                                                   \
	"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE; " \
	LOAD_CACHE "; PRAGMA foreign_keys=OFF; "                                           \
	"PRAGMA ignore_check_constraints=ON; PRAGMA threads=2"

#define SIDE_SUFFIX "-gen-requests"

static void unlink_side(const char *path)
{
	unlink(path);
}

/* ---- setup: the demo district, then what the requests need ---- */

static int load_person(struct db *db, int64_t tenant, const char *login, struct person *p,
		       struct err *e)
{
	struct user u;
	int rc = user_get_by_login(db, tenant, login, &u, e);
	if (rc)
		return rc;
	p->id = u.id;
	p->dept = u.department_id;
	snprintf(p->name, sizeof p->name, "%s", u.display_name);
	return 0;
}

static int setup(const struct gen *g, struct world *w, struct err *e)
{
	struct db_pool *pool = NULL;
	struct db *conn = NULL, *rdb;
	struct db_stmt *st = NULL;
	struct demo_base base;
	int applied = 0, rc;

	if ((rc = db_open(g->db, DB_OPEN_CREATE, &conn, e)) ||
	    (rc = migrate_up(conn, &applied, e)))
		goto out;
	db_close(conn);
	conn = NULL;
	if ((rc = db_pool_open(g->db, NULL, &pool, e)) || (rc = demo_setup(pool, &base, e)))
		goto out;
	w->tenant = base.tenant;
	if (!(rdb = db_pool_reader(pool, e))) {
		rc = e->code ? e->code : ERR_UNAVAILABLE;
		goto out;
	}
	int64_t have = 0;
	if ((rc = db_query_i64(rdb, &have, e,
			       "SELECT (SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1) + "
			       "(SELECT COUNT(*) FROM requests WHERE tenant_id = $1) + "
			       "(SELECT COUNT(*) FROM request_categories WHERE tenant_id = $1)",
			       "i", w->tenant)))
		goto out;
	if (have) {
		rc = err_set(e, ERR_CONFLICT, "db", "数据库“%s”中已有企业或诉求，请用新的数据库",
			     "database '%s' already has enterprises or requests: generate into a new "
			     "one",
			     g->db);
		goto out;
	}
	w->cats = demo_categories(&w->ncats);
	if ((rc = demo_catalog(pool, &base.sys, w->tenant, base.hash, w->cat_ids, w->dept_ids, e)))
		goto out;
	for (size_t i = 0; i < w->ncats; i++) {
		w->cat_weight_sum += w->cats[i].weight;
		for (int t = 0; t < NTYPES; t++)
			if ((rc = request_limits(rdb, w->tenant, w->cat_ids[i], types[t],
						 &w->limits[i][t], e)))
				goto out;
	}
	int64_t cap = 120;
	if ((rc = db_query_i64(rdb, &cap, e,
			       "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE "
			       "tenant_id = $1 AND key = 'urgency.urgent_sign_minutes'), 120)",
			       "i", w->tenant)))
		goto out;
	w->urgent_cap = (int)cap;
	if ((rc = dept_id_by_code(rdb, w->tenant, "gsb", &w->gsb, e)) ||
	    (rc = load_person(rdb, w->tenant, "dispatcher", &w->disp, e)) ||
	    (rc = load_person(rdb, w->tenant, "depthead", &w->head, e)) ||
	    (rc = load_person(rdb, w->tenant, "leader", &w->leader, e)) ||
	    (rc = load_person(rdb, w->tenant, "supervisor", &w->super, e)) ||
	    (rc = load_person(rdb, w->tenant, "gridworker", &w->grid, e)) ||
	    (rc = load_person(rdb, w->tenant, "observer", &w->observer, e)) ||
	    (rc = load_person(rdb, w->tenant, "enterprise", &w->ent, e)))
		goto out;
	struct user hu;
	if ((rc = user_get(rdb, w->tenant, w->head.id, &hu, e)))
		goto out;
	snprintf(w->head_path, sizeof w->head_path, "%s", hu.dept_path);
	/* every handler with a department, and the department's path */
	if ((rc = db_queryf(rdb, &st, e,
			    "SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id AND "
			    "r.role = 'handler' WHERE u.tenant_id = $1 AND u.department_id IS NOT NULL "
			    "ORDER BY u.id",
			    "i", w->tenant)))
		goto out;
	int64_t ids[MAX_HANDLERS];
	int n = 0;
	while (n < MAX_HANDLERS && (rc = db_step(st, e)) == DB_ROW)
		ids[n++] = db_column_int64(st, 0);
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		struct user u;
		if ((rc = user_get(rdb, w->tenant, ids[i], &u, e)))
			goto out;
		w->handlers[w->nh].id = u.id;
		w->handlers[w->nh].dept = u.department_id;
		snprintf(w->handlers[w->nh].name, sizeof w->handlers[w->nh].name, "%s",
			 u.display_name);
		snprintf(w->handler_path[w->nh], sizeof w->handler_path[w->nh], "%s", u.dept_path);
		w->nh++;
	}
	if ((rc = workcal_get(rdb, w->tenant, &w->cal, e)))
		goto out;
	rc = 0;
out:
	db_finalize(st);
	db_pool_free(pool);
	db_close(conn);
	return rc;
}

/* ---- the market ---- */

static void hex_secret(struct demo_rng *r, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i += 16) {
		uint64_t v = demo_rng_below(r, UINT64_MAX);
		for (int k = 0; k < 16; k++)
			out[i + k] = hex[(v >> (4 * k)) & 15];
	}
	out[32] = '\0';
}

struct progress {
	const char *what;
	int64_t total, done, next;
	int64_t t0;
};

static void progress(struct progress *p, int64_t done, int64_t rows)
{
	p->done = done;
	if (done < p->next && done < p->total)
		return;
	p->next = done + (p->total / 10 > 0 ? p->total / 10 : 1);
	double s = (double)(mono_ns() - p->t0) / 1e9;
	fprintf(stderr, "yiqiban gen: %s %" PRId64 " / %" PRId64 " (%.0f rows/s)\n", p->what, done,
		p->total, s > 0 ? (double)rows / s : 0.0);
}

/* The n-th entity of the market (the first is the demo enterprise user's own firm, as in the
 * demo) as a write; d holds its texts. */
static void entity_write(const struct world *w, struct demo_rng *rng, int64_t n, int64_t now,
			 struct demo_entity *d, struct enterprise_write *ew)
{
	demo_entity(rng, n, d);
	*ew = (struct enterprise_write){
		.tenant_id = w->tenant, .source = "gen", .now = now,
		.in = {.credit_code = d->credit_code, .name = d->name, .kind = d->kind,
		       .legal_rep = d->legal_rep, .phone = d->phone, .address = d->address,
		       .industry_division = d->industry_division, .size_class = d->size_class,
		       .registered_on = d->registered_on, .status = d->status, .tags = d->tags,
		       .set_location = true, .lat = d->lat, .lon = d->lon, .set_key = true,
		       .is_key = d->is_key},
	};
	if (n == 0) {
		ew->in.name = "郑州二七示范商贸有限公司";
		ew->in.kind = "enterprise";
		ew->in.industry_division = "52";
		ew->in.size_class = "small";
		ew->in.status = "active";
		ew->in.is_key = true;
		ew->in.tags = "重点帮扶,商贸";
		ew->in.address = "郑州市二七区大学路88号";
	}
}

static int64_t market_start(const struct gen *g)
{
	return workcal_utc_ms(g->until, 0) - (int64_t)g->years * 365 * 86400000LL;
}

/* The market planned: the ids the enterprises will get (a generated credit code that
 * repeats by chance is skipped) and their locations into w, for the requests to refer to
 * before the rows are written (gen_enterprises, later). */
static int plan_enterprises(const struct gen *g, struct db *db, struct world *w, struct err *e)
{
	struct demo_rng rng;
	int64_t first = 0, now = market_start(g);
	int rc = db_query_i64(db, &first, e, "SELECT COALESCE(MAX(id), 0) + 1 FROM enterprises",
			      NULL);
	if (rc)
		return rc;
	struct enterprise_loader *ld = enterprise_loader_plan(first);
	demo_rng_seed(&rng, g->seed);
	w->ents = xcalloc((size_t)g->n_ent + 1, sizeof *w->ents);
	w->lat = xcalloc((size_t)g->n_ent + 1, sizeof *w->lat);
	w->lon = xcalloc((size_t)g->n_ent + 1, sizeof *w->lon);
	for (int64_t n = 0; n < g->n_ent && !rc; n++) {
		struct demo_entity d;
		struct enterprise_write ew;
		entity_write(w, &rng, n, now, &d, &ew);
		rc = enterprise_loader_check(ld, &ew, e);
		if (rc == ERR_CONFLICT) { /* a generated code repeated by chance */
			rc = 0;
			continue;
		}
		if (rc)
			break;
		w->ents[w->nents] = ew.id;
		w->lat[w->nents] = (float)d.lat;
		w->lon[w->nents] = (float)d.lon;
		w->nents++;
	}
	enterprise_loader_free(ld);
	if (!rc && !w->nents)
		rc = err_set(e, ERR_UNPROCESSABLE, "enterprises", "没有生成任何企业",
			     "no enterprise was generated");
	w->ent_firm = w->nents ? w->ents[0] : 0;
	return rc;
}

/* The enterprises planned, written in transactions of g->batch (each one as planned). */
static int gen_enterprises(const struct gen *g, struct db *db, struct world *w, int64_t *rows,
			   struct err *e)
{
	struct demo_rng rng, srng;
	struct progress pr = {"enterprises", g->n_ent, 0, 0, mono_ns()};
	struct enterprise_loader *ld = NULL;
	int64_t now = market_start(g), k = 0;
	int rc;

	demo_rng_seed(&rng, g->seed);
	demo_rng_seed(&srng, g->seed ^ 0x5ec7e7);
	if ((rc = db_begin(db, true, e)))
		return rc;
	if ((rc = enterprise_loader_open(db, &ld, e)))
		goto fail;
	for (int64_t n = 0; n < g->n_ent; n++) {
		struct demo_entity d;
		struct enterprise_write ew;
		char secret[33];
		entity_write(w, &rng, n, now, &d, &ew);
		hex_secret(&srng, secret);
		rc = enterprise_loader_add(ld, &ew, secret, grid_of(w, d.lat, d.lon), e);
		if (rc == ERR_CONFLICT) {
			rc = 0;
			continue;
		}
		if (rc)
			goto fail;
		if (k >= w->nents || ew.id != w->ents[k++]) {
			rc = err_set(e, ERR_INTERNAL, NULL, "企业编号与计划不符",
				     "an enterprise's id is not the one planned");
			goto fail;
		}
		*rows += 1 + (d.tags[0] != '\0');
		if ((n + 1) % g->batch == 0) {
			if ((rc = enterprise_loader_flush(ld, e)) || (rc = db_commit(db, e)) ||
			    (rc = db_begin(db, true, e)))
				goto fail;
			progress(&pr, n + 1, *rows);
		}
	}
	rc = enterprise_loader_close(ld, e);
	ld = NULL;
	if (rc)
		goto fail;
	/* bind the demo enterprise user to its firm */
	struct user_write uw = {.tenant_id = w->tenant, .id = w->ent.id, .set_enterprise = true,
				.enterprise_id = w->ent_firm, .now = now};
	if ((rc = user_update(db, &uw, e)) || (rc = db_commit(db, e)))
		goto fail;
	progress(&pr, g->n_ent, *rows);
	return 0;
fail:
	db_rollback(db);
	enterprise_loader_free(ld);
	return rc;
}

/* ---- requests: when they arrive ---- */

/* Requests per day: working days carry the load, rest days a quarter of it (the hotline
 * never sleeps), and the volume grows by half over the period. Exactly n in all. */
static int64_t *day_counts(const struct gen *g, const struct world *w, int64_t first,
			   int64_t ndays)
{
	int64_t *c = xcalloc((size_t)ndays, sizeof *c);
	double *wt = xcalloc((size_t)ndays, sizeof *wt), sum = 0, acc = 0;
	for (int64_t d = 0; d < ndays; d++) {
		double base = workcal_is_workday(w->cal, first + d, NULL) ? 1.0 : 0.25;
		wt[d] = base * (1.0 + 0.5 * (double)d / (double)ndays);
		sum += wt[d];
	}
	int64_t given = 0;
	for (int64_t d = 0; d < ndays; d++) {
		acc += wt[d];
		int64_t upto = (int64_t)((double)g->n_req * acc / sum + 0.5);
		if (d == ndays - 1)
			upto = g->n_req;
		c[d] = upto - given;
		given = upto;
	}
	free(wt);
	return c;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Times of day (ms) of n requests of a day, sorted: mostly office hours on working days. */
static void day_times(struct demo_rng *r, bool workday, int64_t n, int64_t *out)
{
	for (int64_t i = 0; i < n; i++) {
		int64_t min;
		if (demo_rng_below(r, 100) < (workday ? 85 : 40)) {
			/* 08:30-11:30 and 14:00-17:30 mostly */
			min = demo_rng_below(r, 5) < 2 ? pick(r, 8 * 60 + 30, 11 * 60 + 30)
							 : pick(r, 14 * 60, 17 * 60 + 30);
		} else
			min = pick(r, 0, 24 * 60 - 1);
		out[i] = min * 60000 + pick(r, 0, 59999);
	}
	qsort(out, (size_t)n, sizeof *out, cmp_i64);
}

/* ---- requests: a life ---- */

/* F_STUCK: of the last STUCK_DAYS, never answered (the backlog the overdue queues show);
 * older ones went the usual way in the end. */
enum fate { F_USUAL, F_EXTEND, F_PAUSE, F_RETURN, F_REOPEN, F_LATE, F_UNRATED, F_MERGE, F_VOID,
	    F_STUCK };

#define STUCK_DAYS 60

static enum fate draw_fate(struct demo_rng *r)
{
	uint64_t f = demo_rng_below(r, 1000);
	return f < 60 ? F_EXTEND : f < 110 ? F_PAUSE : f < 150 ? F_RETURN : f < 175 ? F_REOPEN
	       : f < 215 ? F_LATE : f < 245 ? F_UNRATED : f < 260 ? F_MERGE : f < 270 ? F_VOID
	       : f < 275 ? F_STUCK : F_USUAL;
}

/* A request being made up: the row, its timeline and applications. */
struct life {
	struct request r;
	struct request_event ev[MAX_EVENTS];
	char data[MAX_EVENTS][256];
	size_t nev;
	struct request_application app[4];
	size_t napp;
	int64_t end;      /* the end of the history: no step after it */
	bool stopped;     /* the next step would come after the end */
	char content[1024];
};

static const char *const extra_sentences[] = {
	"此前已多次反映，一直没有得到解决。", "情况比较紧急，希望尽快安排人员处理。",
	"请相关部门尽快核实并给予答复。",     "企业负责人表示愿意配合提供相关材料。",
	"该问题已影响到企业的正常经营。",     "希望能有专人对接，及时告知办理进度。",
};

static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴",
				       "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"};

/* May the step at t happen? Stops the life at the first step after the end. */
static bool at(struct life *l, int64_t t)
{
	if (l->stopped || t > l->end)
		l->stopped = true;
	return !l->stopped;
}

/* Record a step at t by who (NULL: the digital employee), moving the row to state `to`. */
static struct request_event *event(struct life *l, int64_t t, const struct person *who,
				   const char *action, enum req_state to, const char *pub,
				   const char *internal)
{
	struct request_event *v = &l->ev[l->nev];
	v->at = t;
	v->actor_id = who ? who->id : 0;
	v->actor_name = who ? who->name : "数字员工";
	v->action = action;
	v->from_state = l->nev ? req_state_name(l->r.state) : "";
	v->to_state = req_state_name(to);
	v->public_note = pub;
	v->internal_note = internal;
	v->data = "{}";
	l->nev++;
	if (l->nev > 1)
		l->r.version++;
	l->r.state = to;
	l->r.updated_at = t;
	return v;
}

/*
 * The texts of a request are made by hand rather than by snprintf, which costs
 * more than the rest of making a request (a FILE set up per call): a copy of a
 * string, cut to fit as snprintf("%s") would, a decimal number, and set_data's
 * JSON by a format of only %s, %d and %ld / %lld (PRId64).
 */
static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

/* v in decimal, at least `width` digits (zeros before). */
static char *put_int(char *p, char *end, int64_t v, int width)
{
	char t[24];
	int n = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do
		t[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	while (n < width && n < (int)sizeof t)
		t[n++] = '0';
	if (v < 0 && p < end)
		*p++ = '-';
	while (n && p < end)
		*p++ = t[--n];
	return p;
}

/* src into dst of size bytes, cut to fit, as snprintf(dst, size, "%s", src). */
static void copy_str(char *dst, size_t size, const char *src)
{
	*put_str(dst, dst + size - 1, src) = '\0';
}

static void set_data(struct life *l, struct request_event *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_data(struct life *l, struct request_event *v, const char *fmt, ...)
{
	char *buf = l->data[v - l->ev], *p = buf, *end = buf + sizeof l->data[0] - 1;
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			if (p < end)
				*p++ = *f;
			continue;
		}
		int longs = 0;
		while (*++f == 'l')
			longs++;
		if (*f == 's')
			p = put_str(p, end, va_arg(ap, const char *));
		else if (*f == 'd')
			p = put_int(p, end, longs == 0   ? (int64_t)va_arg(ap, int)
					    : longs == 1 ? (int64_t)va_arg(ap, long)
							 : (int64_t)va_arg(ap, long long),
				    0);
		else
			abort(); /* a conversion the formats here do not use */
	}
	va_end(ap);
	*p = '\0';
	v->data = buf;
}

static int64_t work_after(const struct world *w, int64_t t, int64_t minutes)
{
	int64_t out = t;
	if (workcal_add_workhours(w->cal, t, minutes, &out, NULL))
		out = t + minutes * 60000;
	return out;
}

static int64_t work_fraction(const struct world *w, int64_t a, int64_t b, double q)
{
	int64_t out = a, ms = workcal_workms_between(w->cal, a, b, NULL);
	if (workcal_add_workms(w->cal, a, (int64_t)((double)ms * q), &out, NULL))
		out = a;
	return out;
}

static int64_t workdays_after(const struct world *w, int64_t t, int64_t n)
{
	int64_t out = t;
	if (workcal_add_workdays(w->cal, t, n, &out, NULL))
		out = t + n * 86400000LL;
	return out;
}

/* A handler of the department: one of its own, else the head above it, else anyone. */
static const struct person *handler_of(const struct world *w, struct demo_rng *r, int64_t dept,
				       const char *path)
{
	int n = 0, idx[MAX_HANDLERS];
	for (int i = 0; i < w->nh; i++)
		if (w->handlers[i].dept == dept)
			idx[n++] = i;
	if (n)
		return &w->handlers[idx[demo_rng_below(r, (uint64_t)n)]];
	if (path && strncmp(path, w->head_path, strlen(w->head_path)) == 0)
		return &w->head;
	return &w->handlers[demo_rng_below(r, (uint64_t)w->nh)];
}

static const char *dept_path_of(const struct world *w, int64_t dept)
{
	for (int i = 0; i < w->nh; i++)
		if (w->handlers[i].dept == dept)
			return w->handler_path[i];
	return NULL;
}

/* Who decides the extensions and returns of handler hi (-1: not a handler). */
static const struct person *approver_of(const struct world *w, int hi)
{
	if (hi >= 0 && strncmp(w->handler_path[hi], w->head_path, strlen(w->head_path)) == 0)
		return &w->head;
	return &w->leader;
}

static int handler_index(const struct world *w, const struct person *h)
{
	return h >= w->handlers && h < w->handlers + w->nh ? (int)(h - w->handlers) : -1;
}

/* Dispatch to dept at t: the deadlines start. */
static void dispatch(struct life *l, const struct world *w, int64_t t, int64_t dept, int ci,
		     int64_t cat_id)
{
	struct request *r = &l->r;
	int ti = 0;
	while (ti < NTYPES && strcmp(types[ti], r->req_type))
		ti++;
	struct time_limits lim = w->limits[ci][ti < NTYPES ? ti : 1];
	if (strcmp(r->urgency, "urgent") == 0 && w->urgent_cap < lim.sign_minutes)
		lim.sign_minutes = w->urgent_cap;
	struct request_event *v = event(l, t, &w->disp, "dispatch", RS_DISPATCHED, NULL, NULL);
	r->category_id = cat_id;
	r->department_id = dept;
	r->handler_id = 0;
	r->dispatched_at = r->clock_from = t;
	r->signed_at = 0;
	r->extended_days = 0;
	r->paused_ms = 0;
	r->sign_due_at = work_after(w, t, lim.sign_minutes);
	r->handle_due_at = workdays_after(w, t, lim.handle_days);
	set_data(l, v,
		 "{\"department_id\":%" PRId64 ",\"handle_due_at\":%" PRId64
		 ",\"limits\":{\"handle_days\":%d,\"sign_minutes\":%d,\"source\":\"%s\"},"
		 "\"sign_due_at\":%" PRId64 "}",
		 dept, r->handle_due_at, lim.handle_days, lim.sign_minutes, lim.source,
		 r->sign_due_at);
}

static void reply(struct life *l, const struct world *w, const struct person *h, int64_t t,
		  const char *text, int ci)
{
	struct request *r = &l->r;
	int ti = 0;
	while (ti < NTYPES && strcmp(types[ti], r->req_type))
		ti++;
	struct request_event *v = event(l, t, h, "reply", RS_REPLIED, text, "已电话回复企业");
	set_data(l, v, "{\"on_time\":%s}", !r->handle_due_at || t <= r->handle_due_at ? "true"
										    : "false");
	r->replied_at = t;
	r->visit_due_at = workdays_after(w, t, w->limits[ci][ti < NTYPES ? ti : 1].visit_days);
}

static void close_now(struct request *r, int64_t t)
{
	r->closed_at = t;
	r->visit_due_at = 0;
	r->closed_on_time = r->handle_due_at ? (r->replied_at && r->replied_at <= r->handle_due_at)
					     : 1;
}

static void rate(struct life *l, const struct person *who, int64_t t, const char *rating,
		 bool solved, const char *comment)
{
	struct request_event *v = event(l, t, who, "rate", RS_CLOSED, comment, NULL);
	set_data(l, v, "{\"rating\":\"%s\",\"solved\":%s}", rating, solved ? "true" : "false");
	copy_str(l->r.rating, sizeof l->r.rating, rating);
	copy_str(l->r.rating_comment, sizeof l->r.rating_comment, comment ? comment : "");
	l->r.rating_solved = solved;
	close_now(&l->r, t);
}

static struct request_application *application(struct life *l, const char *kind,
					       const struct person *h, int64_t t, int days,
					       const char *reason)
{
	struct request_application *a = &l->app[l->napp++];
	memset(a, 0, sizeof *a);
	a->kind = kind;
	a->status = "pending";
	a->applicant_id = h->id;
	a->applied_at = t;
	a->days = days;
	a->reason = reason;
	return a;
}

static void decide(struct request_application *a, const struct person *by, int64_t t, bool yes,
		   const char *note)
{
	a->status = yes ? "approved" : "refused";
	a->decided_by = by->id;
	a->decided_at = t;
	a->decision_note = note;
}

/* Everything after the creation: the steps up to the end of the history. */
static void live(struct life *l, const struct world *w, struct demo_rng *rr, enum fate fate,
		 int ci, int64_t master)
{
	struct request *r = &l->r;
	int64_t t = work_after(w, r->received_at, pick(rr, 10, 150));

	if (fate == F_VOID) {
		if (at(l, t))
			event(l, t, &w->disp, "void", RS_VOIDED, NULL, "重复来电，已与企业确认作废");
		return;
	}
	if (fate == F_MERGE && master) {
		if (at(l, t)) {
			struct request_event *v = event(l, t, &w->disp, "merge", RS_MERGED, NULL,
							"同一事项重复反映，合并办理");
			set_data(l, v, "{\"master_id\":%" PRId64 "}", master);
			r->master_id = master;
			r->sign_due_at = r->handle_due_at = 0;
		}
		return;
	}
	int64_t dept = w->dept_ids[ci] ? w->dept_ids[ci] : w->gsb;
	const struct person *h = handler_of(w, rr, dept, dept_path_of(w, dept));
	if (fate == F_RETURN) {
		/* first sent to the wrong department, which asks to return it */
		const struct person *wrong = &w->handlers[demo_rng_below(rr, (uint64_t)w->nh)];
		for (int tries = 0; tries < 50 && wrong->dept == dept; tries++)
			wrong = &w->handlers[demo_rng_below(rr, (uint64_t)w->nh)];
		if (!at(l, t))
			return;
		dispatch(l, w, t, wrong->dept, ci, w->cat_ids[ci]);
		t = work_after(w, t, pick(rr, 20, 240));
		if (!at(l, t))
			return;
		struct request_event *v = event(l, t, wrong, "sign", RS_SIGNED, NULL, NULL);
		set_data(l, v, "{\"on_time\":%s}", t <= r->sign_due_at ? "true" : "false");
		r->handler_id = wrong->id;
		r->signed_at = t;
		t = work_after(w, t, pick(rr, 10, 120));
		if (!at(l, t))
			return;
		const char *why = "不属于本单位职责范围，申请退回重新派单";
		event(l, t, wrong, "return_apply", RS_SIGNED, NULL, why);
		struct request_application *a = application(l, "return", wrong, t, 0, why);
		t = work_after(w, t, pick(rr, 30, 300));
		if (!at(l, t))
			return;
		const struct person *ap = approver_of(w, handler_index(w, wrong));
		v = event(l, t, ap, "return_decide", RS_RETURNED, NULL, "同意退回");
		set_data(l, v, "{\"approved\":true,\"department_id\":%" PRId64 "}", r->department_id);
		decide(a, ap, t, true, "同意退回");
		r->department_id = r->handler_id = 0;
		r->sign_due_at = r->handle_due_at = 0;
		t = work_after(w, t, pick(rr, 10, 120));
	}
	if (!at(l, t))
		return;
	dispatch(l, w, t, dept, ci, w->cat_ids[ci]);
	t = work_after(w, t, fate == F_LATE ? pick(rr, 480, 900) : pick(rr, 5, 360));
	if (!at(l, t))
		return;
	struct request_event *v = event(l, t, h, "sign", RS_SIGNED, NULL, NULL);
	set_data(l, v, "{\"on_time\":%s}", t <= r->sign_due_at ? "true" : "false");
	r->handler_id = h->id;
	r->signed_at = t;
	t = work_after(w, t, pick(rr, 1, 90));
	if (!at(l, t))
		return;
	event(l, t, h, "start", RS_IN_PROGRESS, NULL, NULL);
	if (fate == F_STUCK && r->received_at > l->end - STUCK_DAYS * 86400000LL)
		return; /* in progress, and overdue once its deadline passes */
	if (demo_rng_below(rr, 30) == 0) { /* 督办 */
		const struct person *sup = demo_rng_below(rr, 2) ? &w->super : &w->leader;
		int64_t ts = work_after(w, t, pick(rr, 30, 300));
		int level = (int)pick(rr, 1, 2);
		if (ts < r->handle_due_at && at(l, ts)) {
			v = event(l, ts, sup, "supervise", r->state, NULL, "请加快办理，按期答复企业");
			set_data(l, v, "{\"level\":%d}", level);
			r->supervision_level = level;
			t = ts;
		}
	}
	if (fate == F_PAUSE) {
		int64_t pa = work_fraction(w, t, r->handle_due_at, 0.3);
		if (!at(l, pa))
			return;
		event(l, pa, h, "pause", RS_PAUSED, "请企业补充提供相关证明材料，收到后继续办理", NULL);
		r->paused_from = RS_IN_PROGRESS;
		r->paused_at = pa;
		t = work_after(w, pa, pick(rr, 300, 1500));
		if (!at(l, t))
			return;
		int64_t due = r->handle_due_at;
		if (workcal_extend_for_pause(w->cal, r->handle_due_at, pa, t, WORKCAL_UNIT_DAYS, &due,
					     NULL))
			due = r->handle_due_at;
		v = event(l, t, h, "resume", RS_IN_PROGRESS, "已收到补充材料，继续办理", NULL);
		set_data(l, v, "{\"handle_due_at\":%" PRId64 ",\"paused_ms\":%" PRId64 "}", due,
			 t - pa);
		r->handle_due_at = due;
		r->paused_ms += t - pa;
		r->paused_at = 0;
	}
	if (fate == F_EXTEND) {
		int64_t xa = work_fraction(w, t, r->handle_due_at, 0.75);
		int days = (int)pick(rr, 2, 5);
		if (!at(l, xa))
			return;
		const char *why = "需协调多个单位现场核查，申请延期";
		v = event(l, xa, h, "extend_apply", r->state, NULL, why);
		set_data(l, v, "{\"days\":%d}", days);
		struct request_application *a = application(l, "extension", h, xa, days, why);
		t = work_after(w, xa, pick(rr, 30, 240));
		if (!at(l, t))
			return;
		bool yes = demo_rng_below(rr, 10) != 0;
		const struct person *ap = approver_of(w, handler_index(w, h));
		v = event(l, t, ap, "extend_decide", r->state, NULL,
			  yes ? "同意延期" : "不同意延期，请按期办结");
		decide(a, ap, t, yes, yes ? "同意延期" : "不同意延期，请按期办结");
		if (yes) {
			r->handle_due_at = workdays_after(w, r->handle_due_at, days);
			r->extended_days += days;
			set_data(l, v, "{\"approved\":true,\"days\":%d,\"handle_due_at\":%" PRId64 "}",
				 days, r->handle_due_at);
		} else
			set_data(l, v, "{\"approved\":false}");
	}
	/* the reply: in time mostly, late for the late ones */
	double q = demo_rng_unit(rr);
	t = fate == F_LATE ? work_after(w, r->handle_due_at, pick(rr, 30, 900))
			   : work_fraction(w, t, r->handle_due_at, 0.1 + 0.85 * q);
	if (!at(l, t))
		return;
	reply(l, w, h, t, demo_replies[demo_rng_below(rr, DEMO_REPLIES)], ci);
	const struct person *rater =
		r->enterprise_id && r->enterprise_id == w->ent_firm ? &w->ent : &w->disp;
	t = work_after(w, t, pick(rr, 30, 1200));
	if (fate == F_UNRATED) {
		if (demo_rng_below(rr, 2)) {
			if (!at(l, t))
				return;
			event(l, t, &w->disp, "close", RS_CLOSED, NULL, "多次回访未接通，按规定办结");
		} else {
			t = r->visit_due_at + 60000;
			if (!at(l, t))
				return;
			event(l, t, NULL, "auto_close", RS_CLOSED, "回访期满未评价，系统自动办结", NULL);
		}
		copy_str(r->rating, sizeof r->rating, "unrated");
		close_now(r, t);
		return;
	}
	if (fate == F_REOPEN) {
		if (!at(l, t))
			return;
		rate(l, rater, t, "unsatisfied", false, "问题没有实际解决");
		t = work_after(w, t, pick(rr, 30, 600));
		if (!at(l, t))
			return;
		v = event(l, t, rater, "reopen", RS_IN_PROGRESS, "企业反映问题仍未解决，重新办理", NULL);
		int ti = 0;
		while (ti < NTYPES && strcmp(types[ti], r->req_type))
			ti++;
		r->handle_due_at = workdays_after(w, t, w->limits[ci][ti < NTYPES ? ti : 1].handle_days);
		set_data(l, v, "{\"handle_due_at\":%" PRId64 "}", r->handle_due_at);
		r->reopen_count++;
		r->clock_from = t;
		r->rating[0] = r->rating_comment[0] = '\0';
		r->rating_solved = -1;
		r->closed_at = r->replied_at = r->visit_due_at = 0;
		r->closed_on_time = -1;
		t = work_fraction(w, t, r->handle_due_at, 0.2 + 0.6 * demo_rng_unit(rr));
		if (!at(l, t))
			return;
		reply(l, w, h, t, "已重新核实并协调解决，请企业确认。", ci);
		t = work_after(w, t, pick(rr, 30, 900));
		if (!at(l, t))
			return;
		rate(l, rater, t, demo_rng_below(rr, 2) ? "basic" : "satisfied", true, NULL);
		return;
	}
	if (!at(l, t))
		return;
	/* ratings: mostly satisfied, 98 % solved */
	uint64_t s = demo_rng_below(rr, 100);
	rate(l, rater, t, s < 86 ? "satisfied" : s < 98 ? "basic" : "unsatisfied",
	     s < 98 || demo_rng_below(rr, 3) == 0, s < 30 ? "办理及时，态度很好，感谢！" : NULL);
}

/* The day of the requests being made, as their numbers begin (YYYYMMDD). */
struct day_label {
	int64_t day;
	char ymd[9];
};

/* A new request at t0 (one of the day's, number seq), with everything until the end; dl: the
 * label of the day of the request before. */
static void make_request(struct life *l, const struct world *w, struct demo_rng *rr, int64_t t0,
			 int64_t seq, int64_t master, struct day_label *dl)
{
	struct request *r = &l->r;
	char *content = l->content;

	memset(r, 0, sizeof *r);
	l->nev = l->napp = 0;
	l->stopped = false;
	r->tenant_id = w->tenant;
	r->rating_solved = r->closed_on_time = -1;
	r->version = 1;
	r->received_at = r->created_at = r->updated_at = t0;
	int64_t today = workcal_local_day(t0);
	if (!dl->ymd[0] || dl->day != today) {
		char day[16];
		workcal_format_date(today, day, sizeof day);
		memcpy(dl->ymd, day, 4);
		memcpy(dl->ymd + 4, day + 5, 2);
		memcpy(dl->ymd + 6, day + 8, 2);
		dl->ymd[8] = '\0';
		dl->day = today;
	}
	char *np = put_str(r->number, r->number + sizeof r->number - 1, dl->ymd);
	np = put_str(np, r->number + sizeof r->number - 1, "-");
	*put_int(np, r->number + sizeof r->number - 1, seq % 100000000, 6) = '\0';

	/* what: a category by weight, the type it usually is */
	int ci = 0;
	for (int x = (int)demo_rng_below(rr, (uint64_t)w->cat_weight_sum); x >= w->cats[ci].weight;
	     ci++)
		x -= w->cats[ci].weight;
	const struct demo_cat *dc = &w->cats[ci];
	copy_str(r->req_type, sizeof r->req_type,
		 demo_rng_below(rr, 10) < 8 ? dc->type : types[demo_rng_below(rr, 3) == 0 ? 0 : 1]);
	if (strcmp(dc->code, "complaint") == 0)
		copy_str(r->req_type, sizeof r->req_type, "complaint");
	/* who: a firm (some ask much more often than others), through which channel */
	double u = demo_rng_unit(rr);
	uint64_t k = (uint64_t)((double)w->nents * u * u) * 2654435761u % (uint64_t)w->nents;
	int64_t ent = w->ents[k];
	uint64_t ch = demo_rng_below(rr, 100);
	const char *channel = ch < 40 ? "hotline" : ch < 60 ? "hall" : ch < 80 ? "online"
			      : ch < 90 ? "grid" : ch < 95 ? "observer" : "qrcode";
	copy_str(r->channel, sizeof r->channel, channel);
	r->enterprise_id = ent;
	r->created_by = ch < 60 ? w->disp.id : ch < 80 || ch >= 95 ? (ent == w->ent_firm ? w->ent.id : 0)
			: ch < 90 ? w->grid.id : w->observer.id;
	/* online and on a visit the category is chosen at once; else the dispatcher classifies */
	if (ch >= 60)
		r->category_id = w->cat_ids[ci];
	copy_str(r->urgency, sizeof r->urgency, demo_rng_below(rr, 25) == 0 ? "urgent" : "normal");
	/* the draws in the order the data sets made so far took them (the compiler's order of
	 * snprintf's arguments: the last first) */
	const char *title = demo_rng_below(rr, 2) ? "先生" : "女士";
	const char *surname = surnames[demo_rng_below(rr, ARRAY_SIZE(surnames))];
	char *cend = r->contact_name + sizeof r->contact_name - 1;
	*put_str(put_str(r->contact_name, cend, surname), cend, title) = '\0';
	int64_t line = (int64_t)demo_rng_below(rr, 1000000000);
	int64_t second = (int64_t)(3 + demo_rng_below(rr, 6));
	cend = r->contact_phone + sizeof r->contact_phone - 1;
	char *cp = put_int(put_str(r->contact_phone, cend, "1"), cend, second, 0);
	*put_int(cp, cend, line, 9) = '\0';
	/* (as far as they fit: they always do) */
	char *ce = content + sizeof l->content - 1;
	cp = put_str(content, ce, dc->ask[demo_rng_below(rr, 2)]);
	for (uint64_t x = demo_rng_below(rr, 3); x > 0; x--)
		cp = put_str(cp, ce, extra_sentences[demo_rng_below(rr, ARRAY_SIZE(extra_sentences))]);
	*cp = '\0';
	r->content = content;
	/* the title: the first 30 characters, as request_create makes it */
	size_t b = 0, chars = 0;
	while (content[b] && chars < 30) {
		b++;
		while (((unsigned char)content[b] & 0xC0) == 0x80)
			b++;
		chars++;
	}
	if (b > sizeof r->title - 1)
		b = sizeof r->title - 1;
	memcpy(r->title, content, b);
	r->title[b] = '\0';
	if (w->lat[k] != 0 && demo_rng_below(rr, 10) < 6) {
		r->has_location = true;
		r->lat = w->lat[k] + (demo_rng_unit(rr) - 0.5) * 0.0004;
		r->lon = w->lon[k] + (demo_rng_unit(rr) - 0.5) * 0.0004;
		r->grid_id = grid_of(w, r->lat, r->lon);
	}
	const struct person *by = r->created_by == w->disp.id       ? &w->disp
				  : r->created_by == w->grid.id     ? &w->grid
				  : r->created_by == w->observer.id ? &w->observer
				  : r->created_by == w->ent.id      ? &w->ent
								    : NULL;
	struct request_event *v = event(l, t0, by, "submit", RS_RECEIVED, "诉求已受理", NULL);
	if (!by)
		v->actor_name = "企业";
	set_data(l, v, "{\"channel\":\"%s\",\"number\":\"%s\",\"type\":\"%s\"}", r->channel,
		 r->number, r->req_type);
	live(l, w, rr, draw_fate(rr), ci, master);
}

/*
 * ---- requests: made by one thread, written by others ----
 *
 * The producer makes the requests in batches into a ring; each batch is
 * written by the consumers: the timeline (events, applications, counters) on
 * the main connection, the request rows on a second connection to a side
 * file (when `split`), so two cores insert at once — SQLite writes one
 * connection at a time — while a third thread makes the data. The side
 * file's rows move into the database at the end in one INSERT … SELECT,
 * which SQLite copies record by record with their indexes (the transfer
 * optimisation: the tables are alike and the target is empty).
 */
#define RING 4
#define BATCH 2048

struct batch {
	struct life *lives;
	size_t n;
	int pending;     /* consumers yet to write it */
	bool last;       /* the end: no more batches after this one */
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch slot[RING];
	int64_t published; /* batches made */
	int consumers;
	bool failed;
	/* the producer's */
	const struct gen *g;
	const struct world *w;
	int64_t first_id;
	int64_t cpu_ns;    /* the producer's CPU time */
};

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pipe_fail(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->failed = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* The batch of sequence number s for a consumer, NULL if the pipe failed. */
static struct batch *pipe_take(struct pipe *p, int64_t s)
{
	pthread_mutex_lock(&p->mu);
	while (!p->failed && p->published <= s)
		pthread_cond_wait(&p->cv, &p->mu);
	struct batch *b = p->failed ? NULL : &p->slot[s % RING];
	pthread_mutex_unlock(&p->mu);
	return b;
}

static void pipe_done(struct pipe *p, struct batch *b)
{
	pthread_mutex_lock(&p->mu);
	if (--b->pending == 0)
		pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *producer(void *arg)
{
	struct pipe *p = arg;
	const struct gen *g = p->g;
	const struct world *w = p->w;
	int64_t ndays = g->years * 365, first = g->until - ndays;
	int64_t *counts = day_counts(g, w, first, ndays), *times = NULL;
	int64_t master = 0, cap = 0, id = p->first_id, s = 0;
	int64_t end = workcal_utc_ms(g->until, 0);
	struct demo_rng rng;
	struct day_label dl = {0, ""};
	struct batch *b = NULL;

	demo_rng_seed(&rng, g->seed + 11);
	for (int64_t d = 0; d <= ndays; d++) {
		if (d < ndays) {
			if (counts[d] > cap) {
				cap = counts[d];
				times = xrealloc(times, (size_t)cap * sizeof *times);
			}
			day_times(&rng, workcal_is_workday(w->cal, first + d, NULL), counts[d], times);
		}
		for (int64_t i = 0; i < (d < ndays ? counts[d] : 1); i++) {
			if (!b) { /* the next slot, once every consumer is done with it */
				pthread_mutex_lock(&p->mu);
				b = &p->slot[s % RING];
				while (!p->failed && b->pending)
					pthread_cond_wait(&p->cv, &p->mu);
				pthread_mutex_unlock(&p->mu);
				if (p->failed)
					goto out;
				b->n = 0;
			}
			if (d < ndays) {
				struct life *l = &b->lives[b->n++];
				l->end = end;
				make_request(l, w, &rng, workcal_utc_ms(first + d, times[i]), i + 1,
					     master, &dl);
				l->r.id = id++;
				if (l->r.state != RS_MERGED && l->r.state != RS_VOIDED)
					master = l->r.id; /* duplicates merge into an earlier one */
			}
			if (b->n == BATCH || d == ndays) {
				b->last = d == ndays;
				pthread_mutex_lock(&p->mu);
				b->pending = p->consumers;
				p->published = ++s;
				pthread_cond_broadcast(&p->cv);
				pthread_mutex_unlock(&p->mu);
				b = NULL;
			}
		}
	}
out:
	free(times);
	free(counts);
	p->cpu_ns = thread_cpu_ns();
	return NULL;
}

/* A consumer: one connection writing its parts of every batch. */
struct consumer {
	struct pipe *p;
	struct db *db;
	int parts;
	int64_t batch;        /* commit every this many requests */
	struct progress *pr;  /* NULL: report nothing */
	int64_t requests, rows, events;
	int64_t cpu_ns;       /* this thread's CPU time */
	struct db_index_set aside; /* indexes to build once the rows are in */
	int rc;
	struct err e;
};

static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct request_load *ld = NULL;
	int64_t since = 0, cpu0 = thread_cpu_ns();
	int rc;

	err_clear(&c->e);
	if ((rc = db_begin(c->db, true, &c->e)) ||
	    (rc = request_load_open(c->db, c->parts, &ld, &c->e)))
		goto fail;
	for (int64_t s = 0;; s++) {
		struct batch *b = pipe_take(c->p, s);
		if (!b) {
			rc = err_set(&c->e, ERR_INTERNAL, NULL, "生成中止", "generation stopped");
			goto fail;
		}
		for (size_t i = 0; i < b->n && !rc; i++) {
			struct life *l = &b->lives[i];
			rc = request_load_add(ld, &l->r, l->ev, l->nev, l->app, l->napp, &c->e);
			c->rows += (c->parts & RL_ROWS ? 1 : 0) +
				   (c->parts & RL_TIMELINE ? (int64_t)(l->nev + l->napp) : 0);
			c->events += (int64_t)l->nev;
		}
		if (!rc) /* the texts are the batch's: written before it is given back */
			rc = request_load_flush(ld, &c->e);
		bool last = b->last;
		c->requests += (int64_t)b->n;
		since += (int64_t)b->n;
		pipe_done(c->p, b);
		if (rc)
			goto fail;
		if (since >= c->batch && !last) {
			since = 0;
			if ((rc = db_commit(c->db, &c->e)) || (rc = db_begin(c->db, true, &c->e)))
				goto fail;
		}
		if (c->pr)
			progress(c->pr, c->requests, c->rows);
		if (last)
			break;
	}
	request_load_free(ld);
	c->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
fail:
	request_load_free(ld);
	db_rollback(c->db);
	c->rc = rc ? rc : ERR_INTERNAL;
	pipe_fail(c->p);
	c->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

/*
 * The indexes of the requests set aside while loading, to be built in one pass
 * each afterwards — all but those whose entries come in the order the rows are
 * made (by id, by time received, by grid: no grids yet) and the partial ones
 * of the few open requests: these cost little to keep.
 */
static const char *const live_indexes[] = {"requests_tenant_id", "requests_received",
					   "requests_grid",      "requests_due_handle",
					   "requests_due_sign",  "requests_due_visit"};

static int requests_indexes_aside(struct db *db, struct db_index_set *aside, struct err *e)
{
	struct db_stmt *st = NULL;
	char **names = NULL;
	size_t n = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
			   "tbl_name = 'requests' AND sql IS NOT NULL ORDER BY name",
			   NULL);
	while (!rc && (rc = db_step(st, e)) == DB_ROW) {
		rc = 0;
		const char *name = db_column_text(st, 0);
		bool live = false;
		for (size_t i = 0; i < ARRAY_SIZE(live_indexes); i++)
			live = live || strcmp(name, live_indexes[i]) == 0;
		if (live)
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(name);
		aside->sql = xrealloc(aside->sql, (aside->n + 1) * sizeof *aside->sql);
		aside->sql[aside->n++] = xstrdup(db_column_text(st, 1));
	}
	db_finalize(st);
	rc = rc == DB_DONE ? 0 : rc;
	for (size_t i = 0; i < n; i++) {
		char q[300];
		snprintf(q, sizeof q, "DROP INDEX \"%s\"", names[i]);
		if (!rc)
			rc = db_exec(db, q, e);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The tables the side connection fills: the requests, and the counters when the
 * database has none yet (they move over as they are). */
static const char *const side_tables[] = {"requests", "request_stats", "request_stats_month",
					  "request_stats_open", "grid_stats"};

/* The side connection: a file with the tables it fills, as the migrations made them (the
 * same definitions, so that the final INSERT ... SELECT copies records and index entries as
 * they are); *counters: whether the counters go there too. */
static int open_side(struct db *db, const char *path, struct db **out,
		     struct db_index_set *aside, bool *counters, struct err *e)
{
	struct db_stmt *st = NULL;
	struct db *side = NULL;
	int64_t have = 0;
	int rc;

	*out = NULL;
	unlink_side(path);
	if ((rc = db_query_i64(db, &have, e,
			       "SELECT (SELECT COUNT(*) FROM request_stats) + (SELECT COUNT(*) FROM "
			       "request_stats_month) + (SELECT COUNT(*) FROM request_stats_open) + "
			       "(SELECT COUNT(*) FROM grid_stats)",
			       NULL)))
		return rc;
	*counters = have == 0;
	if ((rc = db_open(path, DB_OPEN_CREATE, &side, e)) ||
	    (rc = db_exec(side, LOAD_PRAGMAS, e)) || (rc = db_begin(side, true, e)))
		goto fail;
	for (size_t t = 0; t < (*counters ? ARRAY_SIZE(side_tables) : 1) && !rc; t++) {
		if ((rc = db_queryf(db, &st, e,
				    "SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND "
				    "sql IS NOT NULL ORDER BY type = 'table' DESC, name",
				    "t", side_tables[t])))
			goto fail;
		while ((rc = db_step(st, e)) == DB_ROW)
			if ((rc = db_exec(side, db_column_text(st, 0), e)))
				goto fail;
		db_finalize(st);
		st = NULL;
		rc = rc == DB_DONE ? 0 : rc;
	}
	if (rc || (rc = requests_indexes_aside(side, aside, e)) || (rc = db_commit(side, e)))
		goto fail;
	db_defer_enable(side);
	*out = side;
	return 0;
fail:
	db_finalize(st);
	if (side)
		db_rollback(side);
	db_close(side);
	unlink_side(path);
	return rc ? rc : ERR_INTERNAL;
}

static void *consume_side(void *arg)
{
	struct consumer *c = arg;
	consume(c);
	if (!c->rc) { /* the indexes, while the other connection still writes */
		/* a cache the size of a sorter's run: the sort is cut into runs that helper
		 * threads sort and merge (PRAGMA threads) once the other core is free */
		int rc = db_exec(c->db, SORT_CACHE, &c->e);
		if (!rc)
			rc = db_indexes_restore(c->db, &c->aside, &c->e);
		if (!rc)
			rc = db_commit(c->db, &c->e);
		if (rc) {
			c->rc = rc;
			db_rollback(c->db);
		}
	}
	c->cpu_ns = thread_cpu_ns();
	return NULL;
}

static int gen_requests(const struct gen *g, struct db *db, struct world *w, int64_t *rows,
			int64_t *nevents, int64_t *rows_e, struct err *e)
{
	struct pipe p;
	struct progress pr = {"requests", g->n_req, 0, 0, mono_ns()};
	struct consumer main_c, side_c;
	struct db *side = NULL;
	pthread_t prod, side_t;
	bool prod_on = false, side_on = false, side_counters = false;
	char side_path[4096];
	int rc;

	memset(&p, 0, sizeof p);
	memset(&main_c, 0, sizeof main_c);
	memset(&side_c, 0, sizeof side_c);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	for (int i = 0; i < RING; i++)
		p.slot[i].lives = xcalloc(BATCH, sizeof *p.slot[i].lives);
	p.g = g;
	p.w = w;
	p.consumers = g->split ? 2 : 1;
	snprintf(side_path, sizeof side_path, "%s%s", g->db, SIDE_SUFFIX);
	if ((rc = db_query_i64(db, &p.first_id, e, "SELECT COALESCE(MAX(id), 0) + 1 FROM requests",
			       NULL)))
		goto out;
	if (g->split) {
		if ((rc = open_side(db, side_path, &side, &side_c.aside, &side_counters, e)))
			goto out;
	} else if ((rc = db_begin(db, true, e)) ||
		   (rc = requests_indexes_aside(db, &main_c.aside, e)) ||
		   (rc = db_commit(db, e)))
		goto out;
	main_c.p = side_c.p = &p;
	main_c.db = db;
	main_c.parts = RL_TIMELINE | (g->split ? 0 : RL_ROWS) | (side_counters ? 0 : RL_COUNTERS);
	main_c.batch = g->batch;
	main_c.pr = &pr;
	side_c.db = side;
	side_c.parts = RL_ROWS | (side_counters ? RL_COUNTERS : 0);
	side_c.batch = INT64_MAX; /* one transaction */
	if (pthread_create(&prod, NULL, producer, &p)) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法启动线程", "cannot start a thread");
		goto out;
	}
	prod_on = true;
	if (g->split) {
		if (pthread_create(&side_t, NULL, consume_side, &side_c)) {
			pipe_fail(&p);
			rc = err_set(e, ERR_INTERNAL, NULL, "无法启动线程", "cannot start a thread");
			goto out;
		}
		side_on = true;
	}
	consume(&main_c);
	int64_t t_timeline = mono_ns(), cpu_ents = thread_cpu_ns();
	/* then the enterprises on this connection, while the side builds its indexes */
	if (!main_c.rc) {
		if (!g->split && ((rc = db_exec(db, SORT_CACHE, e)) ||
				  (rc = db_indexes_restore(db, &main_c.aside, e)) ||
				  (rc = db_exec(db, LOAD_CACHE, e))))
			db_rollback(db);
		else if ((rc = db_commit(db, e)))
			db_rollback(db);
		else
			rc = gen_enterprises(g, db, w, rows_e, e);
		if (rc) {
			main_c.rc = rc;
			main_c.e = *e;
			pipe_fail(&p);
		}
		cpu_ents = thread_cpu_ns() - cpu_ents;
	}
	int64_t t_ents = mono_ns();
	if (side_on)
		pthread_join(side_t, NULL);
	side_on = false;
	pthread_join(prod, NULL);
	prod_on = false;
	int64_t t_written = mono_ns();
	if (main_c.rc || side_c.rc) {
		*e = main_c.rc ? main_c.e : side_c.e;
		rc = main_c.rc ? main_c.rc : side_c.rc;
		goto out;
	}
	*rows = main_c.rows + side_c.rows;
	*nevents = main_c.events;
	if (g->split) {
		db_close(side);
		side = NULL;
		if ((rc = db_execf(db, e, "ATTACH $1 AS side", "t", side_path)))
			goto out;
		rc = db_begin(db, true, e);
		for (size_t t = 0; !rc && t < (side_counters ? ARRAY_SIZE(side_tables) : 1); t++) {
			char q[200];
			snprintf(q, sizeof q, "INSERT INTO main.\"%s\" SELECT * FROM side.\"%s\"",
				 side_tables[t], side_tables[t]);
			rc = db_exec(db, q, e);
		}
		if (!rc)
			rc = db_commit(db, e);
		else
			db_rollback(db);
		struct err e2;
		db_exec(db, "DETACH side", &e2);
		if (rc)
			goto out;
	}
	/* what each thread spent: making the data, writing on each connection */
	fprintf(stderr,
		"yiqiban gen: %s; CPU s: making %.1f; database: %s %.1f, enterprises %.1f (%.1f s); "
		"side: %.1f (%.1f s after the database); moving in %.1f s\n",
		g->split ? "two connections" : "one connection (no core free for a second)",
		(double)p.cpu_ns / 1e9, g->split ? "timeline" : "requests and indexes",
		(double)main_c.cpu_ns / 1e9, (double)cpu_ents / 1e9,
		(double)(t_ents - t_timeline) / 1e9, (double)side_c.cpu_ns / 1e9,
		(double)(t_written - t_ents) / 1e9, (double)(mono_ns() - t_written) / 1e9);
	progress(&pr, g->n_req, *rows);
out:
	if (prod_on || side_on)
		pipe_fail(&p);
	if (side_on)
		pthread_join(side_t, NULL);
	if (prod_on)
		pthread_join(prod, NULL);
	if (side)
		db_rollback(side);
	db_close(side);
	unlink_side(side_path);
	for (size_t i = 0; i < main_c.aside.n; i++)
		free(main_c.aside.sql[i]);
	free(main_c.aside.sql);
	for (size_t i = 0; i < side_c.aside.n; i++)
		free(side_c.aside.sql[i]);
	free(side_c.aside.sql);
	for (int i = 0; i < RING; i++)
		free(p.slot[i].lives);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}

/* ---- the command ---- */

/*
 * Two connections pay only when a second core is free: the side file's rows are
 * copied in at the end (a tenth more work in all), which two cores writing at
 * once repay, and one core shared with other work does not — then everything
 * goes on one connection (measured in docs/benchmarks.md). Free: the load
 * average of the last minute at least one below the CPUs this process may use.
 * YQ_GEN_SPLIT=0 or 1 in the environment decides instead.
 */
static bool want_split(void)
{
	const char *env = getenv("YQ_GEN_SPLIT");
	if (env && *env)
		return strcmp(env, "0") != 0;
	double load = 0;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &load) != 1)
			load = 0;
		fclose(f);
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus >= 2 && load <= (double)cpus - 1;
}

/* The loaded database made a WAL database again (as the server opens it), on disk. Closes db. */
static int finish(struct db *db, const char *path, struct err *e)
{
	char mode[16] = "";
	struct db_stmt *st = NULL;
	int rc = db_exec(db, "PRAGMA locking_mode=NORMAL; PRAGMA synchronous=FULL", e);
	if (!rc && !(rc = db_queryf(db, &st, e, "PRAGMA journal_mode=WAL", NULL)) &&
	    db_step(st, e) == DB_ROW)
		snprintf(mode, sizeof mode, "%s", db_column_text(st, 0));
	db_finalize(st);
	db_close(db);
	if (!rc && strcmp(mode, "wal") != 0)
		rc = err_set(e, ERR_INTERNAL, "db", "无法把“%s”改回 WAL 模式",
			     "cannot make '%s' a WAL database again", path);
	int fd = rc ? -1 : open(path, O_RDWR);
	if (!rc && (fd < 0 || fsync(fd) != 0))
		rc = err_set(e, ERR_UNAVAILABLE, "db", "无法同步“%s”到磁盘", "cannot sync '%s' to disk",
			     path);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int64_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int cmd_gen(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, 0, 'd'},       {"enterprises", required_argument, 0, 'e'},
		{"requests", required_argument, 0, 'r'}, {"years", required_argument, 0, 'y'},
		{"until", required_argument, 0, 'u'},    {"seed", required_argument, 0, 's'},
		{"grids", required_argument, 0, 'g'},    {"batch", required_argument, 0, 'b'},
		{0, 0, 0, 0},
	};
	struct gen g = {.db = "yiqiban.db", .n_ent = 10000, .n_req = 100000, .years = 2,
			.batch = 20000, .seed = 20250210};
	struct world w;
	struct db *db = NULL;
	struct err e;
	int64_t n, until = workcal_local_day(now_ms());
	int c, rc, status = 1;

	memset(&w, 0, sizeof w);
#ifdef __GLIBC__
	/* SQLite's page caches and sorters take and give back large blocks: keep them in the
	 * heap rather than mapping fresh zeroed pages each time (a tenth of the system time) */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_TOP_PAD, 64 << 20);
#endif
	g.split = want_split();
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			g.db = optarg;
			break;
		case 'u':
			if (!workcal_parse_date(optarg, &until)) {
				fprintf(stderr, "yiqiban gen: --until takes a date YYYY-MM-DD\n");
				return 2;
			}
			break;
		case 'e': case 'r': case 'y': case 's': case 'g': case 'b':
			if (!parse_i64(optarg, &n) || n < 0 ||
			    (c == 'e' && (n < 1 || n > 100000000)) ||
			    (c == 'r' && n > 1000000000) || (c == 'y' && (n < 1 || n > 10)) ||
			    (c == 'b' && (n < 1 || n > 10000000))) {
				fprintf(stderr, "yiqiban gen: bad value '%s' for --%s\n", optarg,
					opts[c == 'e' ? 1 : c == 'r' ? 2 : c == 'y' ? 3 : c == 's' ? 5
					     : c == 'g' ? 6 : 7].name);
				return 2;
			}
			if (c == 'e')
				g.n_ent = n;
			else if (c == 'r')
				g.n_req = n;
			else if (c == 'y')
				g.years = n;
			else if (c == 's')
				g.seed = (uint64_t)n;
			else if (c == 'g')
				g.grids = n;
			else
				g.batch = n;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "yiqiban gen: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (g.grids) {
		fprintf(stderr, "yiqiban gen: --grids needs the grid module, which is not in this "
				"build yet; use --grids 0\n");
		return 2;
	}
	g.until = until;

	err_clear(&e);
	int64_t t0 = mono_ns(), rows_e = 0, rows_r = 0, nev = 0;
	if (setup(&g, &w, &e))
		goto fail;
	int64_t t1 = mono_ns();
	if (db_open(g.db, 0, &db, &e))
		goto fail;
	/* large transactions without a journal (LOAD_PRAGMAS), the counters summed per key */
	if (db_exec(db, LOAD_PRAGMAS, &e))
		goto fail;
	db_defer_enable(db);
	if (plan_enterprises(&g, db, &w, &e))
		goto fail;
	int64_t t2 = mono_ns();
	if (gen_requests(&g, db, &w, &rows_r, &nev, &rows_e, &e))
		goto fail;
	int64_t t3 = mono_ns();
	rc = finish(db, g.db, &e);
	db = NULL;
	if (rc)
		goto fail;
	int64_t t4 = mono_ns();

	double se = (double)(t2 - t1) / 1e9, sr = (double)(t3 - t2) / 1e9;
	char d0[16], d1[16];
	workcal_format_date(g.until - g.years * 365, d0, sizeof d0);
	workcal_format_date(g.until - 1, d1, sizeof d1);
	printf("generated in %s (seed %" PRIu64 "), %s to %s:\n", g.db, g.seed, d0, d1);
	/* the enterprises are made first, written while the request rows' indexes are built */
	printf("  %" PRId64 " enterprises, %" PRId64 " rows in %.1f s (made; written with the "
	       "requests)\n",
	       w.nents, rows_e, se);
	printf("  %" PRId64 " requests with %" PRId64 " events, %" PRId64
	       " rows in %.1f s (and the enterprises' rows)\n",
	       g.n_req, nev, rows_r, sr);
	double sa = (double)(t4 - t1) / 1e9; /* from the first row made to the file on disk */
	printf("  in all %" PRId64 " rows in %.1f s: %.0f rows/s\n", rows_e + rows_r, sa,
	       sa > 0 ? (double)(rows_e + rows_r) / sa : 0.0);
	printf("  setup %.1f s, back to WAL and synced %.1f s, %.1f s in all; database %.1f MiB\n",
	       (double)(t1 - t0) / 1e9, (double)(t4 - t3) / 1e9, (double)(t4 - t0) / 1e9,
	       (double)file_size(g.db) / 1048576.0);
	demo_print_logins();
	status = 0;
	goto out;
fail:
	cli_error(&e);
out:
	db_close(db);
	workcal_unref(w.cal);
	free(w.ents);
	free(w.lat);
	free(w.lon);
	return status;
}
