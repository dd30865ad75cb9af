/*
 * request_stats.c — live counters of requests and the rates computed from
 * them (see request_stats.h and sql/012_request_stats.sql).
 *
 * One definition, two forms: request_stats_contrib() says in C what a
 * request contributes, and `recount[]` says the same in SQL for the full
 * recount (rebuild, check). They are written side by side, counter by
 * counter, and the unit tests hold them equal after random sequences of
 * actions. Counters are applied as deltas with upserts: a step of a request
 * touches its row in each of the five cubes, by day and by month, and its
 * open-deadline rows when the deadline moves — about ten small rows.
 *
 * Queries read whole months from request_stats_month and the days of the
 * months a period cuts from request_stats, so a year is twelve rows per
 * group whatever the volume; overdue counts come from request_stats_open.
 * The SQL is the common subset of SQLite and PostgreSQL (upserts with
 * ON CONFLICT, a WITH before INSERT, integer division for Shanghai days).
 */
#include "core/request_stats.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/analysis.h"
#include "core/request.h"
#include "core/settings.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

static const char *const counter_names[SC__COUNT] = {
	[SC_RECEIVED] = "received",
	[SC_VALID] = "valid",
	[SC_DISPATCHED] = "dispatched",
	[SC_RESPONDED] = "responded",
	[SC_RESPONDED_ON_TIME] = "responded_on_time",
	[SC_REPLIED] = "replied",
	[SC_REPLIED_ON_TIME] = "replied_on_time",
	[SC_CLOSED] = "closed",
	[SC_CLOSED_ON_TIME] = "closed_on_time",
	[SC_RATED] = "rated",
	[SC_SOLVED] = "solved",
	[SC_SATISFIED] = "satisfied",
	[SC_BASIC] = "basic",
	[SC_UNSATISFIED] = "unsatisfied",
	[SC_UNRATED] = "unrated",
	[SC_REOPENED] = "reopened",
};

const char *stats_counter_name(enum stats_counter c)
{
	return (unsigned)c < SC__COUNT ? counter_names[c] : "?";
}

static const char *const dim_names[SD__COUNT] = {
	[SD_NONE] = "none",         [SD_DEPARTMENT] = "department", [SD_CATEGORY] = "category",
	[SD_GRID] = "grid",         [SD_TYPE] = "type",             [SD_CHANNEL] = "channel",
};

const char *stats_dim_name(enum stats_dim d)
{
	return (unsigned)d < SD__COUNT ? dim_names[d] : "?";
}

int stats_dim_parse(const char *s)
{
	for (int i = 0; s && i < SD__COUNT; i++)
		if (!strcmp(dim_names[i], s))
			return i;
	return -1;
}

/* ---- the definition, in C ---- */

static bool is_rating(const char *r)
{
	return !strcmp(r, "satisfied") || !strcmp(r, "basic") || !strcmp(r, "unsatisfied");
}

const enum stats_dim stats_cubes[STATS_CUBES] = {SD_NONE, SD_CATEGORY, SD_GRID, SD_TYPE,
						   SD_CHANNEL};

void request_stats_contrib(const struct request *r, struct stats_row out[STATS_CUBES])
{
	struct stats_row o;
	memset(&o, 0, sizeof o);
	o.day = workcal_local_day(r->received_at);
	o.department_id = r->department_id;

	bool valid = r->state != RS_MERGED && r->state != RS_VOIDED;
	bool dispatched = valid && r->department_id != 0;
	bool responded = dispatched && r->signed_at > 0;
	bool replied = dispatched && r->replied_at > 0;
	bool closed = valid && r->state == RS_CLOSED;
	bool rated = closed && is_rating(r->rating);

	o.c[SC_RECEIVED] = 1;
	o.c[SC_VALID] = valid;
	o.c[SC_DISPATCHED] = dispatched;
	o.c[SC_RESPONDED] = responded;
	o.c[SC_RESPONDED_ON_TIME] = responded && (!r->sign_due_at || r->signed_at <= r->sign_due_at);
	o.c[SC_REPLIED] = replied;
	o.c[SC_REPLIED_ON_TIME] = replied && (!r->handle_due_at || r->replied_at <= r->handle_due_at);
	o.c[SC_CLOSED] = closed;
	o.c[SC_CLOSED_ON_TIME] = closed && r->closed_on_time == 1;
	o.c[SC_RATED] = rated;
	o.c[SC_SOLVED] = rated && r->rating_solved == 1;
	o.c[SC_SATISFIED] = closed && !strcmp(r->rating, "satisfied");
	o.c[SC_BASIC] = closed && !strcmp(r->rating, "basic");
	o.c[SC_UNSATISFIED] = closed && !strcmp(r->rating, "unsatisfied");
	o.c[SC_UNRATED] = closed && !strcmp(r->rating, "unrated");
	o.c[SC_REOPENED] = valid && r->reopen_count > 0;

	bool handling = (r->state == RS_DISPATCHED || r->state == RS_SIGNED ||
			 r->state == RS_IN_PROGRESS) && r->handle_due_at > 0;
	o.due_day = handling ? workcal_local_day(r->handle_due_at) : -1;
	o.open_count = handling;

	for (int i = 0; i < STATS_CUBES; i++) {
		out[i] = o;
		out[i].dim = stats_cubes[i];
	}
	out[1].key_id = r->category_id;
	out[2].key_id = r->grid_id;
	snprintf(out[3].key_code, sizeof out[3].key_code, "%s", r->req_type);
	snprintf(out[4].key_code, sizeof out[4].key_code, "%s", r->channel);
}

/* ---- the same definition, in SQL (table requests r) ---- */

#define V "r.state NOT IN ('merged', 'voided')"
#define DISP V " AND r.department_id IS NOT NULL"
#define CLOSED V " AND r.state = 'closed'"
#define RATED CLOSED " AND r.rating IN ('satisfied', 'basic', 'unsatisfied')"

static const char *const recount[SC__COUNT] = {
	[SC_RECEIVED] = "1 = 1",
	[SC_VALID] = V,
	[SC_DISPATCHED] = DISP,
	[SC_RESPONDED] = DISP " AND r.signed_at > 0",
	[SC_RESPONDED_ON_TIME] =
		DISP " AND r.signed_at > 0 AND (r.sign_due_at = 0 OR r.signed_at <= r.sign_due_at)",
	[SC_REPLIED] = DISP " AND r.replied_at > 0",
	[SC_REPLIED_ON_TIME] =
		DISP " AND r.replied_at > 0 AND (r.handle_due_at = 0 OR r.replied_at <= r.handle_due_at)",
	[SC_CLOSED] = CLOSED,
	[SC_CLOSED_ON_TIME] = CLOSED " AND r.closed_on_time = 1",
	[SC_RATED] = RATED,
	[SC_SOLVED] = RATED " AND r.rating_solved = 1",
	[SC_SATISFIED] = CLOSED " AND r.rating = 'satisfied'",
	[SC_BASIC] = CLOSED " AND r.rating = 'basic'",
	[SC_UNSATISFIED] = CLOSED " AND r.rating = 'unsatisfied'",
	[SC_UNRATED] = CLOSED " AND r.rating = 'unrated'",
	[SC_REOPENED] = V " AND r.reopen_count > 0",
};

#define LOCAL_DAY(col) "((" col " + 28800000) / 86400000)" /* UTC+8, whole days */
#define KEY_COLS "tenant_id, dim, day, department_id, key_id, key_code"
#define HANDLING "r.state IN ('dispatched', 'signed', 'in_progress') AND r.handle_due_at > 0"

/* The counter tables: by day, and by month (day = the month's first day). */
enum { T_DAY, T_MONTH };
static const char *const tables[2] = {"request_stats", "request_stats_month"};

static int64_t month_start(int64_t day)
{
	int y, m, d;
	workcal_civil_from_days(day, &y, &m, &d);
	return workcal_days_from_civil(y, m, 1);
}

/* The key columns of each cube from the base rows b (below), in the order of
 * stats_cubes: dim, key_id, key_code. */
static const char *const cube_key[STATS_CUBES][3] = {
	{"'none'", "0", "''"},
	{"'category'", "b.cat", "''"},
	{"'grid'", "b.grid", "''"},
	{"'type'", "0", "b.typ"},
	{"'channel'", "0", "b.ch"},
};

/* Statement texts built once from the tables above. */
static struct {
	char *cols;        /* "received, valid, ..." */
	char *upsert[2];   /* add a delta to a row of request_stats / request_stats_month */
	char *base;        /* WITH b AS (one row per request of tenant $1: keys and 0/1 flags) */
	char *cubes;       /* SELECT key, counters of every cube, from b */
	char *open_cubes;  /* SELECT key, due_day, open_count of every cube, from b */
	char *stored;      /* SELECT key, counters FROM request_stats ($1 = tenant) */
	char *open_stored;
} sql;
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

/* The recount reads requests once: the base rows carry every counter's 0/1
 * flag, and each cube groups them by its key. */
static char *base_sql(void)
{
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "WITH b AS (SELECT r.tenant_id AS t, " LOCAL_DAY("r.received_at") " AS day, "
		     "COALESCE(r.department_id, 0) AS dep, COALESCE(r.category_id, 0) AS cat, "
		     "COALESCE(r.grid_id, 0) AS grid, r.req_type AS typ, r.channel AS ch");
	for (int i = 0; i < SC__COUNT; i++)
		buf_addf(&b, ", CASE WHEN %s THEN 1 ELSE 0 END AS c%d", recount[i], i);
	buf_adds(&b, ", CASE WHEN " HANDLING " THEN 1 ELSE 0 END AS h, "
		     LOCAL_DAY("r.handle_due_at") " AS due FROM requests r WHERE r.tenant_id = $1)");
	return buf_detach(&b, NULL);
}

static char *cubes_sql(bool open)
{
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, "SELECT * FROM (");
	for (int k = 0; k < STATS_CUBES; k++) {
		const char *id = cube_key[k][1], *code = cube_key[k][2];
		buf_addf(&b, "%sSELECT b.t, %s, b.day, b.dep, %s, %s", k ? " UNION ALL " : "",
			 cube_key[k][0], id, code);
		if (open)
			buf_adds(&b, ", b.due, COUNT(*)");
		else
			for (int i = 0; i < SC__COUNT; i++)
				buf_addf(&b, ", SUM(b.c%d)", i);
		buf_addf(&b, " FROM b%s GROUP BY b.t, b.day, b.dep", open ? " WHERE b.h = 1" : "");
		if (strcmp(id, "0"))
			buf_addf(&b, ", %s", id);
		if (strcmp(code, "''"))
			buf_addf(&b, ", %s", code);
		if (open)
			buf_adds(&b, ", b.due");
	}
	buf_adds(&b, ") rc");
	return buf_detach(&b, NULL);
}

static void build_sql(void)
{
	struct buf b;

	buf_init(&b, 0);
	for (int i = 0; i < SC__COUNT; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", counter_names[i]);
	sql.cols = buf_detach(&b, NULL);

	for (int t = 0; t < 2; t++) {
		buf_init(&b, 0);
		buf_addf(&b, "INSERT INTO %s (" KEY_COLS ", %s) VALUES ($1, $2, $3, $4, $5, $6",
			 tables[t], sql.cols);
		for (int i = 0; i < SC__COUNT; i++)
			buf_addf(&b, ", $%d", 7 + i);
		buf_adds(&b, ") ON CONFLICT (" KEY_COLS ") DO UPDATE SET ");
		for (int i = 0; i < SC__COUNT; i++)
			buf_addf(&b, "%s%s = %s.%s + excluded.%s", i ? ", " : "", counter_names[i],
				 tables[t], counter_names[i], counter_names[i]);
		sql.upsert[t] = buf_detach(&b, NULL);
	}

	sql.base = base_sql();
	sql.cubes = cubes_sql(false);
	sql.open_cubes = cubes_sql(true);

	buf_init(&b, 0);
	buf_addf(&b, "SELECT " KEY_COLS ", %s FROM request_stats WHERE tenant_id = $1", sql.cols);
	sql.stored = buf_detach(&b, NULL);
	sql.open_stored = xstrdup("SELECT " KEY_COLS ", due_day, open_count FROM request_stats_open "
				  "WHERE tenant_id = $1");
}

/* ---- applying deltas ---- */

static bool same_key(const struct stats_row *a, const struct stats_row *b)
{
	return a->day == b->day && a->department_id == b->department_id && a->key_id == b->key_id &&
	       !strcmp(a->key_code, b->key_code);
}

static void key_args(struct db_args *a, int64_t tenant, const struct stats_row *k)
{
	db_args_int(a, tenant);
	db_args_text(a, dim_names[k->dim]);
	db_args_int(a, k->day);
	db_args_int(a, k->department_id);
	db_args_int(a, k->key_id);
	db_args_text(a, k->key_code);
}

static int run_args(struct db *db, const char *q, const struct db_args *a, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_query_args(db, &st, e, q, a);
	if (!rc) {
		rc = db_step(st, e);
		rc = rc < 0 ? rc : 0;
	}
	db_finalize(st);
	return rc;
}

#define KEY_WHERE                                                                             \
	"tenant_id = $1 AND dim = $2 AND day = $3 AND department_id = $4 AND key_id = $5 AND " \
	"key_code = $6"

/* Add sign × the counters d to the row of k in table t; with may_empty, delete the row if
 * it has become empty. */
static int add_counts(struct db *db, int t, int64_t tenant, const struct stats_row *k,
		      const int64_t *d, int sign, bool may_empty, struct err *e)
{
	struct db_args a = {0};
	bool any = false;
	key_args(&a, tenant, k);
	for (int i = 0; i < SC__COUNT; i++) {
		db_args_int(&a, sign * d[i]);
		any = any || d[i];
	}
	if (!any)
		return 0;
	int rc = run_args(db, sql.upsert[t], &a, e);
	if (!rc && may_empty) {
		/* the request left this row: drop the row if it is now empty */
		struct db_args ka = {0};
		key_args(&ka, tenant, k);
		rc = run_args(db,
			      t == T_DAY ? "DELETE FROM request_stats WHERE " KEY_WHERE " AND received = 0"
					 : "DELETE FROM request_stats_month WHERE " KEY_WHERE
					   " AND received = 0",
			      &ka, e);
	}
	return rc;
}

/* Add n to the open count of row's key and due day (deleting the row when it reaches 0). */
static int add_open(struct db *db, int64_t tenant, const struct stats_row *row, int64_t n,
		    struct err *e)
{
	struct db_args a = {0};
	key_args(&a, tenant, row);
	db_args_int(&a, row->due_day);
	db_args_int(&a, n);
	int rc = run_args(db,
			  "INSERT INTO request_stats_open (" KEY_COLS ", due_day, open_count) VALUES "
			  "($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (" KEY_COLS ", due_day) "
			  "DO UPDATE SET open_count = request_stats_open.open_count + excluded.open_count",
			  &a, e);
	if (!rc && n < 0) {
		struct db_args k = {0};
		key_args(&k, tenant, row);
		db_args_int(&k, row->due_day);
		rc = run_args(db,
			      "DELETE FROM request_stats_open WHERE " KEY_WHERE
			      " AND due_day = $7 AND open_count = 0",
			      &k, e);
	}
	return rc;
}

/*
 * ---- deferring to the end of the batch ----
 *
 * On the pool's writer (db_deferred), a step does not touch the counter
 * tables: it appends its deltas to a log, and the log is summed by key and
 * written once per transaction, just before the COMMIT — a batch of new
 * requests of one day adds to the same few rows, so ten upserts per request
 * become ten per batch. The log follows the transaction's savepoints: a job
 * rolled back to its savepoint drops what it appended, and entries flushed
 * inside a savepoint that is rolled back are pending again (the database has
 * undone their upserts). Elsewhere (tests, one-off tools) deltas are written
 * at once.
 */

enum { T_OPEN = 2 }; /* a delta of request_stats_open (T_DAY, T_MONTH: the counter tables) */

struct delta {
	int t;                 /* T_DAY, T_MONTH or T_OPEN */
	int64_t tenant;
	struct stats_row k;    /* key; counters in k.c (T_DAY, T_MONTH), due_day + open_count (T_OPEN) */
};

struct delta_mark {
	size_t n, flushed;
};

struct delta_log {
	struct delta *v;
	size_t n, cap;
	size_t flushed;        /* v[0..flushed) are in the tables */
	struct delta_mark *marks; /* one per open savepoint */
	size_t nmarks, capmarks;
	/* outside savepoints: v[] by key, so a delta adds to the pending one of its key
	 * (open addressing; entry index + 1, 0 = empty) */
	uint32_t *slots;
	size_t nslots, nindexed;
};

static void *log_create(void)
{
	return xcalloc(1, sizeof(struct delta_log));
}

static void log_free(void *p)
{
	struct delta_log *l = p;
	if (!l)
		return;
	free(l->v);
	free(l->marks);
	free(l->slots);
	free(l);
}

static void index_clear(struct delta_log *l)
{
	if (l->nindexed)
		memset(l->slots, 0, l->nslots * sizeof *l->slots);
	l->nindexed = 0;
}

static void log_savepoint(void *p)
{
	struct delta_log *l = p;
	if (l->nmarks == l->capmarks) {
		l->capmarks = l->capmarks ? 2 * l->capmarks : 8;
		l->marks = xrealloc(l->marks, l->capmarks * sizeof *l->marks);
	}
	l->marks[l->nmarks++] = (struct delta_mark){l->n, l->flushed};
}

static void log_release(void *p)
{
	struct delta_log *l = p;
	if (l->nmarks)
		l->nmarks--;
}

static void log_rollback_to(void *p)
{
	struct delta_log *l = p;
	if (!l->nmarks)
		return;
	l->n = l->marks[l->nmarks - 1].n;
	l->flushed = l->marks[l->nmarks - 1].flushed;
}

static void log_reset(void *p)
{
	struct delta_log *l = p;
	l->n = l->flushed = l->nmarks = 0;
	index_clear(l);
}

static int cmp_delta(const void *pa, const void *pb)
{
	const struct delta *a = pa, *b = pb;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->tenant != b->tenant)
		return a->tenant < b->tenant ? -1 : 1;
	if (a->k.dim != b->k.dim)
		return a->k.dim < b->k.dim ? -1 : 1;
	if (a->k.day != b->k.day)
		return a->k.day < b->k.day ? -1 : 1;
	if (a->k.department_id != b->k.department_id)
		return a->k.department_id < b->k.department_id ? -1 : 1;
	if (a->k.key_id != b->k.key_id)
		return a->k.key_id < b->k.key_id ? -1 : 1;
	if (a->t == T_OPEN && a->k.due_day != b->k.due_day)
		return a->k.due_day < b->k.due_day ? -1 : 1;
	return strcmp(a->k.key_code, b->k.key_code);
}

static int write_delta(struct db *db, const struct delta *d, struct err *e);

/* Sum the pending deltas by key and write each sum. */
static int log_flush(struct db *db, void *p, struct err *e)
{
	struct delta_log *l = p;
	size_t n = l->n - l->flushed, i, j;
	int rc = 0;

	if (!n)
		return 0;
	/* sorted in a copy: the log keeps its order, which the savepoint marks index */
	struct delta *v = xmalloc(n * sizeof *v);
	memcpy(v, l->v + l->flushed, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_delta);
	for (i = 0; i < n && !rc; i = j) {
		struct delta sum = v[i];
		for (j = i + 1; j < n && cmp_delta(&v[i], &v[j]) == 0; j++) {
			for (int c = 0; c < SC__COUNT; c++)
				sum.k.c[c] += v[j].k.c[c];
			sum.k.open_count += v[j].k.open_count;
		}
		rc = write_delta(db, &sum, e);
	}
	free(v);
	if (!rc) {
		l->flushed = l->n;
		index_clear(l); /* what is flushed takes no more deltas */
		if (!l->nmarks) /* and no savepoint will ask for it back */
			l->n = l->flushed = 0;
	}
	return rc;
}

static const struct db_deferred_ops log_ops = {
	.create = log_create,
	.free = log_free,
	.savepoint = log_savepoint,
	.release = log_release,
	.rollback_to = log_rollback_to,
	.flush = log_flush,
	.reset = log_reset,
};

/* Write one delta to its table now. */
static int write_delta(struct db *db, const struct delta *d, struct err *e)
{
	if (d->t == T_OPEN) {
		if (d->k.open_count == 0)
			return 0;
		return add_open(db, d->tenant, &d->k, d->k.open_count, e);
	}
	/* a negative number of requests received: some left the row, which may now be empty */
	return add_counts(db, d->t, d->tenant, &d->k, d->k.c, 1, d->k.c[SC_RECEIVED] < 0, e);
}

/*
 * Append a delta to the log. Outside savepoints (a loader's long transaction)
 * a delta adds to the pending one of its key, and the log is flushed and
 * emptied when it holds LOG_FLUSH_AT keys; inside them it keeps every delta
 * until the transaction ends, as the savepoint marks index it.
 */
#define LOG_FLUSH_AT 32768

static uint64_t delta_hash(const struct delta *d)
{
	uint64_t h = (uint64_t)d->t * 0x9E3779B97F4A7C15ULL;
	int64_t parts[] = {d->tenant, d->k.dim, d->k.day, d->k.department_id, d->k.key_id,
			   d->t == T_OPEN ? d->k.due_day : 0};
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		h = (h ^ (uint64_t)parts[i]) * 0x100000001B3ULL;
	for (const char *c = d->k.key_code; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001B3ULL;
	return h ^ (h >> 29);
}

/* The slot of x's key: holding its entry, or empty. */
static uint32_t *index_slot(struct delta_log *l, const struct delta *x)
{
	size_t mask = l->nslots - 1;
	for (size_t i = delta_hash(x) & mask;; i = (i + 1) & mask) {
		uint32_t *s = &l->slots[i];
		if (!*s || cmp_delta(&l->v[*s - 1], x) == 0)
			return s;
	}
}

static void index_grow(struct delta_log *l)
{
	size_t old = l->nslots;
	l->nslots = old ? 2 * old : 4096;
	free(l->slots);
	l->slots = xcalloc(l->nslots, sizeof *l->slots);
	l->nindexed = 0;
	for (size_t i = l->flushed; i < l->n; i++) { /* entries are unique by key here */
		*index_slot(l, &l->v[i]) = (uint32_t)(i + 1);
		l->nindexed++;
	}
}

static int log_append(struct db *db, struct delta_log *l, const struct delta *x, struct err *e)
{
	if (!l->nmarks) {
		/* no savepoint can take it back: add to the pending delta of the same key */
		if (2 * (l->nindexed + 1) > l->nslots)
			index_grow(l);
		uint32_t *s = index_slot(l, x);
		if (*s) {
			struct delta *d = &l->v[*s - 1];
			for (int c = 0; c < SC__COUNT; c++)
				d->k.c[c] += x->k.c[c];
			d->k.open_count += x->k.open_count;
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
	if (l->nmarks || l->n - l->flushed < LOG_FLUSH_AT)
		return 0;
	return log_flush(db, l, e);
}

/* Add sign × the counters d to the row of k in table t: now, or at the end of the batch. */
static int put_counts(struct db *db, struct delta_log *l, int t, int64_t tenant,
		      const struct stats_row *k, const int64_t *d, int sign, struct err *e)
{
	struct delta x;
	bool any = false;
	memset(&x, 0, sizeof x);
	x.t = t;
	x.tenant = tenant;
	x.k.dim = k->dim;
	x.k.day = k->day;
	x.k.department_id = k->department_id;
	x.k.key_id = k->key_id;
	memcpy(x.k.key_code, k->key_code, sizeof x.k.key_code);
	for (int i = 0; i < SC__COUNT; i++) {
		x.k.c[i] = sign * d[i];
		any = any || d[i];
	}
	if (!any)
		return 0;
	return l ? log_append(db, l, &x, e) : write_delta(db, &x, e);
}

/* Add sign to the open count of row's key and due day: now, or at the end of the batch. */
static int put_open(struct db *db, struct delta_log *l, int64_t tenant, const struct stats_row *row,
		    int sign, struct err *e)
{
	static const int64_t zero[SC__COUNT];
	struct delta x;
	memset(&x, 0, sizeof x);
	x.t = T_OPEN;
	x.tenant = tenant;
	x.k = *row;
	memcpy(x.k.c, zero, sizeof x.k.c);
	x.k.open_count = sign;
	return l ? log_append(db, l, &x, e) : write_delta(db, &x, e);
}

/* The counters of one cube in table t: from row a (NULL: none) to row b. */
static int move_counts(struct db *db, struct delta_log *l, int t, int64_t tenant,
		       const struct stats_row *a, const struct stats_row *b, struct err *e)
{
	if (a && same_key(a, b)) {
		int64_t d[SC__COUNT];
		for (int i = 0; i < SC__COUNT; i++)
			d[i] = b->c[i] - a->c[i];
		return put_counts(db, l, t, tenant, b, d, 1, e);
	}
	int rc = a ? put_counts(db, l, t, tenant, a, a->c, -1, e) : 0;
	return rc ? rc : put_counts(db, l, t, tenant, b, b->c, 1, e);
}

/* One cube: from row a (NULL: none) to row b, by day, by month, and open. */
static int apply_row(struct db *db, struct delta_log *l, int64_t tenant, const struct stats_row *a,
		     const struct stats_row *b, struct err *e)
{
	struct stats_row am, bm;
	int rc = move_counts(db, l, T_DAY, tenant, a, b, e);
	if (rc)
		return rc;
	if (a) {
		am = *a;
		am.day = month_start(a->day);
	}
	bm = *b;
	bm.day = month_start(b->day);
	if ((rc = move_counts(db, l, T_MONTH, tenant, a ? &am : NULL, &bm, e)))
		return rc;
	if (a && same_key(a, b) && a->due_day == b->due_day)
		return 0;
	if (a && a->due_day >= 0 && (rc = put_open(db, l, tenant, a, -1, e)))
		return rc;
	return b->due_day >= 0 ? put_open(db, l, tenant, b, 1, e) : 0;
}

int request_stats_apply(struct db *db, const struct request *before, const struct request *after,
			struct err *e)
{
	struct stats_row a[STATS_CUBES], b[STATS_CUBES];
	struct delta_log *l = db_deferred(db, &log_ops);
	int rc = 0;

	pthread_once(&sql_once, build_sql);
	request_stats_contrib(after, b);
	if (before)
		request_stats_contrib(before, a);
	for (int k = 0; !rc && k < STATS_CUBES; k++)
		rc = apply_row(db, l, after->tenant_id, before ? &a[k] : NULL, &b[k], e);
	if (!rc) /* and the grid x category counts of the analysis (研判) */
		rc = analysis_request_apply(db, before, after, e);
	return rc;
}

/* ---- rebuild and check ---- */

static void read_key_at(struct db_stmt *st, int off, struct stats_row *o);

/*
 * The month rows that the tenant's day rows add up to, in no particular
 * order: day rows come sorted by cube and key, then day, so one month of one
 * key is a run of consecutive rows.
 */
static int month_sums(struct db *db, int64_t tenant,
		      int (*each)(const struct stats_row *m, void *ctx), void *ctx, struct err *e)
{
	struct buf q;
	struct db_stmt *st = NULL;
	struct stats_row cur, row;
	bool have = false;
	int rc;

	buf_init(&q, 0);
	buf_addf(&q, "SELECT " KEY_COLS ", %s FROM request_stats WHERE tenant_id = $1 "
		     "ORDER BY dim, department_id, key_id, key_code, day", sql.cols);
	rc = db_queryf(db, &st, e, q.p, "i", tenant);
	buf_release(&q);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		read_key_at(st, 0, &row);
		for (int i = 0; i < SC__COUNT; i++)
			row.c[i] = db_column_int64(st, 6 + i);
		row.day = month_start(row.day);
		if (have && row.dim == cur.dim && same_key(&row, &cur)) {
			for (int i = 0; i < SC__COUNT; i++)
				cur.c[i] += row.c[i];
			continue;
		}
		if (have && (rc = each(&cur, ctx)))
			break;
		cur = row;
		have = true;
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	return have && rc == DB_DONE ? each(&cur, ctx) : rc;
}

struct month_insert {
	struct db *db;
	int64_t tenant;
	int64_t rows;
	struct err *e;
};

static int insert_month(const struct stats_row *m, void *ctx)
{
	struct month_insert *x = ctx;
	x->rows++;
	return add_counts(x->db, T_MONTH, x->tenant, m, m->c, 1, false, x->e);
}

int request_stats_rebuild(struct db *db, void *arg, struct err *e)
{
	struct stats_rebuild *r = arg;
	struct buf q;
	int rc;

	pthread_once(&sql_once, build_sql);
	buf_init(&q, 0);
	/* earlier jobs' pending deltas first: the recount below includes their requests */
	if ((rc = db_flush_deferred(db, e)) ||
	    (rc = db_execf(db, e, "DELETE FROM request_stats WHERE tenant_id = $1", "i",
			   r->tenant_id)) ||
	    (rc = db_execf(db, e, "DELETE FROM request_stats_month WHERE tenant_id = $1", "i",
			   r->tenant_id)) ||
	    (rc = db_execf(db, e, "DELETE FROM request_stats_open WHERE tenant_id = $1", "i",
			   r->tenant_id)))
		goto out;
	buf_addf(&q, "%s INSERT INTO request_stats (" KEY_COLS ", %s) %s", sql.base, sql.cols,
		 sql.cubes);
	if ((rc = db_execf(db, e, q.p, "i", r->tenant_id)))
		goto out;
	r->rows = db_changes(db);
	struct month_insert mi = {db, r->tenant_id, 0, e};
	if ((rc = month_sums(db, r->tenant_id, insert_month, &mi, e)))
		goto out;
	r->month_rows = mi.rows;
	buf_reset(&q);
	buf_addf(&q, "%s INSERT INTO request_stats_open (" KEY_COLS ", due_day, open_count) %s",
		 sql.base, sql.open_cubes);
	if ((rc = db_execf(db, e, q.p, "i", r->tenant_id)))
		goto out;
	r->open_rows = db_changes(db);
	if ((rc = analysis_rebuild_requests(db, r->tenant_id, &r->grid_rows, e)))
		goto out;
	json_t *sum = json_pack("{s:I,s:I,s:I}", "rows", (json_int_t)r->rows, "month_rows",
				(json_int_t)r->month_rows, "open_rows", (json_int_t)r->open_rows);
	rc = audit_append(db, r->who, r->tenant_id, "request_stats", 0, "rebuild", sum, e);
	json_decref(sum);
out:
	buf_release(&q);
	return rc;
}

/* The key of a row whose columns start at off: tenant, dim, day, department, key_id, key_code. */
static void read_key_at(struct db_stmt *st, int off, struct stats_row *o)
{
	memset(o, 0, sizeof *o);
	int d = stats_dim_parse(db_column_text(st, off + 1));
	o->dim = d < 0 ? SD_NONE : (enum stats_dim)d;
	o->day = db_column_int64(st, off + 2);
	o->department_id = db_column_int64(st, off + 3);
	o->key_id = db_column_int64(st, off + 4);
	snprintf(o->key_code, sizeof o->key_code, "%s", db_column_text(st, off + 5));
	o->due_day = -1;
}

/* The rows of a stored table and of its recount that differ, both ways, in one
 * statement (one pass over requests). */
static int differ(struct db *db, int64_t tenant, const char *table, bool open, const char *stored,
		  const char *recounted, int (*each)(const struct stats_diff *d, void *ctx),
		  void *ctx, int64_t *ndiff, struct err *e)
{
	struct buf q;
	struct db_stmt *st = NULL;
	buf_init(&q, 0);
	buf_addf(&q, "%s SELECT 1, x.* FROM (%s EXCEPT %s) x UNION ALL SELECT 0, y.* FROM (%s EXCEPT %s) y",
		 sql.base, stored, recounted, recounted, stored);
	int rc = db_queryf(db, &st, e, q.p, "i", tenant);
	buf_release(&q);
	if (rc)
		return rc;
	bool stop = !each;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct stats_diff d = {.table = table, .stored = db_column_int64(st, 0) == 1};
		read_key_at(st, 1, &d.row);
		if (open) {
			d.row.due_day = db_column_int64(st, 7);
			d.row.open_count = db_column_int64(st, 8);
		} else {
			for (int i = 0; i < SC__COUNT; i++)
				d.row.c[i] = db_column_int64(st, 7 + i);
		}
		(*ndiff)++;
		if (!stop)
			stop = each(&d, ctx) != 0;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static int cmp_row(const void *pa, const void *pb)
{
	const struct stats_row *a = pa, *b = pb;
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if (a->department_id != b->department_id)
		return a->department_id < b->department_id ? -1 : 1;
	if (a->key_id != b->key_id)
		return a->key_id < b->key_id ? -1 : 1;
	return strcmp(a->key_code, b->key_code);
}

struct rows {
	struct stats_row *v;
	size_t n, cap;
};

static int push_row(const struct stats_row *m, void *ctx)
{
	struct rows *r = ctx;
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->v = xrealloc(r->v, r->cap * sizeof *r->v);
	}
	r->v[r->n++] = *m;
	return 0;
}

/* request_stats_month against the sums of request_stats. */
static int check_months(struct db *db, int64_t tenant,
			int (*each)(const struct stats_diff *d, void *ctx), void *ctx, int64_t *ndiff,
			struct err *e)
{
	struct rows want = {0}, have = {0};
	struct buf q;
	struct db_stmt *st = NULL;
	int rc = month_sums(db, tenant, push_row, &want, e);
	if (rc)
		goto out;
	buf_init(&q, 0);
	buf_addf(&q, "SELECT " KEY_COLS ", %s FROM request_stats_month WHERE tenant_id = $1",
		 sql.cols);
	rc = db_queryf(db, &st, e, q.p, "i", tenant);
	buf_release(&q);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct stats_row m;
		read_key_at(st, 0, &m);
		for (int i = 0; i < SC__COUNT; i++)
			m.c[i] = db_column_int64(st, 6 + i);
		push_row(&m, &have);
	}
	db_finalize(st);
	if (rc < 0)
		goto out;
	rc = 0;
	if (want.n > 1)
		qsort(want.v, want.n, sizeof *want.v, cmp_row);
	if (have.n > 1)
		qsort(have.v, have.n, sizeof *have.v, cmp_row);
	bool stop = !each;
	for (size_t i = 0, j = 0; i < want.n || j < have.n;) {
		int c = i == want.n ? 1 : j == have.n ? -1 : cmp_row(&want.v[i], &have.v[j]);
		if (c == 0 && !memcmp(want.v[i].c, have.v[j].c, sizeof want.v[i].c)) {
			i++, j++;
			continue;
		}
		/* a row missing on one side, or the same key with other counters (both shown) */
		for (int side = 0; side < 2; side++) {
			if ((side == 0 && c > 0) || (side == 1 && c < 0))
				continue;
			struct stats_diff d = {.table = "request_stats_month", .stored = side == 1,
					       .row = side ? have.v[j] : want.v[i]};
			(*ndiff)++;
			if (!stop)
				stop = each(&d, ctx) != 0;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
out:
	free(want.v);
	free(have.v);
	return rc;
}

int request_stats_check(struct db *db, int64_t tenant_id,
			int (*each)(const struct stats_diff *d, void *ctx), void *ctx, int64_t *ndiff,
			struct err *e)
{
	int rc;
	pthread_once(&sql_once, build_sql);
	*ndiff = 0;
	if ((rc = db_flush_deferred(db, e)) ||
	    (rc = differ(db, tenant_id, "request_stats", false, sql.stored, sql.cubes, each, ctx,
			 ndiff, e)) ||
	    (rc = differ(db, tenant_id, "request_stats_open", true, sql.open_stored, sql.open_cubes,
			 each, ctx, ndiff, e)) ||
	    (rc = check_months(db, tenant_id, each, ctx, ndiff, e)))
		return rc;
	return 0;
}

/* ---- settings and rates ---- */

int stats_settings_get(struct db *db, int64_t tenant_id, struct stats_settings *o, struct err *e)
{
	int rc;
	if ((rc = settings_get_int(db, tenant_id, "rates.weight_response", &o->weight_response, e)) ||
	    (rc = settings_get_int(db, tenant_id, "rates.weight_resolution", &o->weight_resolution,
				   e)) ||
	    (rc = settings_get_int(db, tenant_id, "rates.weight_satisfaction",
				   &o->weight_satisfaction, e)) ||
	    (rc = settings_get_int(db, tenant_id, "rates.basic_satisfied_percent", &o->basic_percent,
				   e)) ||
	    (rc = settings_get_int(db, tenant_id, "rates.target_resolution_percent",
				   &o->target_resolution, e)))
		return rc;
	if (o->weight_response + o->weight_resolution + o->weight_satisfaction != 100) {
		/* cannot be stored so (settings_validate); defaults rather than a skewed score */
		o->weight_response = settings_def("rates.weight_response")->def;
		o->weight_resolution = settings_def("rates.weight_resolution")->def;
		o->weight_satisfaction = settings_def("rates.weight_satisfaction")->def;
	}
	return 0;
}

/* numerator100 = 100 × the numerator, an integer, so percent is one exact division. */
static void set_rate(struct stats_rate *r, int64_t numerator100, int64_t den)
{
	r->numerator = (double)numerator100 / 100.0;
	r->denominator = den;
	r->defined = den > 0;
	r->percent = den > 0 ? (double)numerator100 / (double)den : 0;
}

void stats_rates_compute(const struct stats_counts *n, const struct stats_settings *s,
			 struct stats_rates *o)
{
	const int64_t *c = n->c;
	memset(o, 0, sizeof *o);
	o->due = c[SC_CLOSED] + n->overdue;
	set_rate(&o->response, 100 * c[SC_RESPONDED], c[SC_DISPATCHED]);
	set_rate(&o->response_on_time, 100 * c[SC_RESPONDED_ON_TIME], c[SC_DISPATCHED]);
	set_rate(&o->reply_on_time, 100 * c[SC_REPLIED_ON_TIME], c[SC_REPLIED]);
	set_rate(&o->resolution, 100 * c[SC_SOLVED], c[SC_CLOSED]);
	set_rate(&o->satisfaction, 100 * c[SC_SATISFIED] + s->basic_percent * c[SC_BASIC],
		 c[SC_RATED]);
	set_rate(&o->on_time_closure, 100 * c[SC_CLOSED_ON_TIME], o->due);
	o->composite_defined = o->response.defined && o->resolution.defined &&
			       o->satisfaction.defined;
	if (o->composite_defined)
		o->composite = ((double)s->weight_response * o->response.percent +
				(double)s->weight_resolution * o->resolution.percent +
				(double)s->weight_satisfaction * o->satisfaction.percent) /
			       100.0;
	o->meets_target = o->resolution.defined &&
			  o->resolution.percent >= (double)s->target_resolution;
}

/* ---- queries ---- */

int stats_bucket_parse(const char *s)
{
	if (!s)
		return -1;
	return !strcmp(s, "day") ? SB_DAY : !strcmp(s, "week") ? SB_WEEK
					 : !strcmp(s, "month") ? SB_MONTH : -1;
}

static const char *channel_zh(const char *c)
{
	static const char *const names[][2] = {
		{"online", "网上"},     {"hall", "大厅"},     {"hotline", "热线"}, {"grid", "网格"},
		{"observer", "监督员、体验官"}, {"qrcode", "扫码"}, {"open311", "Open311"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(names[i][0], c))
			return names[i][1];
	return c;
}

/* The grouping column of a dimension in a cube s (NULL for none). */
static const char *dim_col(enum stats_dim d)
{
	switch (d) {
	case SD_DEPARTMENT:
		return "s.department_id";
	case SD_CATEGORY:
	case SD_GRID:
		return "s.key_id";
	case SD_TYPE:
	case SD_CHANNEL:
		return "s.key_code";
	case SD_NONE:
	case SD__COUNT:
		break;
	}
	return NULL;
}

/*
 * The cube that answers a query: the one of `by`, or of the one filter
 * besides the department; ERR_UNPROCESSABLE naming a filter it cannot apply.
 */
static int pick_cube(const struct stats_query *f, enum stats_dim *cube, struct err *e)
{
	static const struct {
		enum stats_dim dim;
		const char *field;
	} filters[] = {{SD_CATEGORY, "category_id"}, {SD_GRID, "grid_id"}, {SD_TYPE, "type"},
		       {SD_CHANNEL, "channel"}};
	bool set[] = {f->category_id != 0, f->grid_id != 0, f->req_type && *f->req_type,
		      f->channel && *f->channel};
	*cube = f->by == SD_DEPARTMENT ? SD_NONE : f->by;
	for (size_t i = 0; i < ARRAY_SIZE(filters); i++) {
		if (!set[i] || *cube == filters[i].dim)
			continue;
		if (*cube != SD_NONE)
			return err_set(e, ERR_UNPROCESSABLE, filters[i].field,
				       "筛选条件“%s”只能与按部门、按%s或不分组的统计同时使用，"
				       "且除部门外只能有一个筛选条件",
				       "the filter '%s' combines only with by=none, by=department or "
				       "by=%s, and with no other filter but department_id",
				       filters[i].field, dim_names[filters[i].dim]);
		*cube = filters[i].dim;
	}
	return 0;
}

/* The parts of a period: whole months from request_stats_month, the days of
 * the months it cuts from request_stats. Returns the number of parts. */
struct part {
	int t;               /* T_DAY or T_MONTH */
	int64_t from, to;    /* values of column day, inclusive */
};

static int split_period(int64_t from, int64_t to, struct part p[3])
{
	int n = 0;
	int64_t first = month_start(from) == from ? from : month_start(month_start(from) + 31);
	int64_t end = month_start(to + 1) == to + 1 ? to + 1 : month_start(to); /* exclusive */
	if (first >= end)
		return (p[0] = (struct part){T_DAY, from, to}), 1;
	if (from < first)
		p[n++] = (struct part){T_DAY, from, first - 1};
	p[n++] = (struct part){T_MONTH, first, end - 1};
	if (end <= to)
		p[n++] = (struct part){T_DAY, end, to};
	return n;
}

/* " WHERE ..." over cube s: tenant, cube, days, filters and the actor's scope. */
static int where(struct buf *q, struct db_args *a, const struct actor *who, enum scope scope,
		 const struct stats_query *f, enum stats_dim cube, int64_t from, int64_t to,
		 struct err *e)
{
	static const struct scope_cols cols = {.dept = "s.department_id"};
	buf_addf(q, " WHERE s.tenant_id = $%d AND s.dim = $%d AND s.day >= $%d AND s.day <= $%d",
		 db_args_int(a, who->tenant_id), db_args_text(a, dim_names[cube]),
		 db_args_int(a, from), db_args_int(a, to));
	if (f->department_id)
		buf_addf(q, " AND s.department_id = $%d", db_args_int(a, f->department_id));
	if (cube == SD_CATEGORY && f->category_id)
		buf_addf(q, " AND s.key_id = $%d", db_args_int(a, f->category_id));
	if (cube == SD_GRID && f->grid_id)
		buf_addf(q, " AND s.key_id = $%d", db_args_int(a, f->grid_id));
	if (cube == SD_TYPE && f->req_type && *f->req_type)
		buf_addf(q, " AND s.key_code = $%d", db_args_text(a, f->req_type));
	if (cube == SD_CHANNEL && f->channel && *f->channel)
		buf_addf(q, " AND s.key_code = $%d", db_args_text(a, f->channel));
	if (scope_sql(who, scope, &cols, q))
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	return 0;
}

struct groups {
	struct stats_group *v;
	size_t n, cap;
};

static struct stats_group *group_for(struct groups *g, int64_t id, const char *code)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].id == id && !strcmp(g->v[i].code, code))
			return &g->v[i];
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 32;
		g->v = xrealloc(g->v, g->cap * sizeof *g->v);
	}
	struct stats_group *n = &g->v[g->n++];
	memset(n, 0, sizeof *n);
	n->id = id;
	snprintf(n->code, sizeof n->code, "%s", code);
	return n;
}

static int cmp_group(const void *pa, const void *pb)
{
	const struct stats_group *a = pa, *b = pb;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return strcmp(a->code, b->code);
}

int request_stats_query(struct db *db, const struct actor *who, enum scope scope,
			const struct stats_query *f,
			int (*each)(const struct stats_group *g, void *ctx), void *ctx,
			struct stats_counts *total, struct err *e)
{
	const char *col = dim_col(f->by);
	bool text_key = f->by == SD_TYPE || f->by == SD_CHANNEL;
	struct groups g = {0};
	struct db_args a = {0};
	struct buf q;
	struct db_stmt *st = NULL;
	enum stats_dim cube;
	int rc = pick_cube(f, &cube, e);
	if (rc)
		return rc;

	struct part parts[3];
	int nparts = split_period(f->from_day, f->to_day, parts);
	buf_init(&q, 0);
	for (int p = 0; p < nparts; p++) {
		buf_reset(&q);
		memset(&a, 0, sizeof a);
		buf_addf(&q, "SELECT %s, %s", col ? col : "0",
			 f->by == SD_DEPARTMENT ? "MIN(d.name)"
			 : f->by == SD_CATEGORY ? "MIN(c.name)"
						: "''");
		for (int i = 0; i < SC__COUNT; i++)
			buf_addf(&q, ", SUM(s.%s)", counter_names[i]);
		buf_addf(&q, " FROM %s s", tables[parts[p].t]);
		if (f->by == SD_DEPARTMENT)
			buf_adds(&q, " LEFT JOIN departments d ON d.id = s.department_id");
		else if (f->by == SD_CATEGORY)
			buf_adds(&q, " LEFT JOIN request_categories c ON c.id = s.key_id");
		if ((rc = where(&q, &a, who, scope, f, cube, parts[p].from, parts[p].to, e)))
			goto out;
		if (col)
			buf_addf(&q, " GROUP BY %s", col);
		if ((rc = db_query_args(db, &st, e, q.p, &a)))
			goto out;
		while ((rc = db_step(st, e)) == DB_ROW) {
			if (col && db_column_is_null(st, 0))
				continue;
			if (!col && db_column_is_null(st, 2))
				continue; /* no rows at all */
			struct stats_group *x = group_for(&g, text_key ? 0 : db_column_int64(st, 0),
							  text_key ? db_column_text(st, 0) : "");
			snprintf(x->name, sizeof x->name, "%s", db_column_text(st, 1));
			for (int i = 0; i < SC__COUNT; i++)
				x->n.c[i] += db_column_int64(st, 2 + i);
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			goto out;
	}

	/* overdue: being handled with a deadline day before today */
	buf_reset(&q);
	memset(&a, 0, sizeof a);
	buf_addf(&q, "SELECT %s, SUM(s.open_count) FROM request_stats_open s", col ? col : "0");
	if ((rc = where(&q, &a, who, scope, f, cube, f->from_day, f->to_day, e)))
		goto out;
	buf_addf(&q, " AND s.due_day < $%d", db_args_int(&a, f->today));
	if (col)
		buf_addf(&q, " GROUP BY %s", col);
	if ((rc = db_query_args(db, &st, e, q.p, &a)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (col && db_column_is_null(st, 0))
			continue;
		int64_t n = db_column_int64(st, 1);
		if (n || !col)
			group_for(&g, text_key ? 0 : db_column_int64(st, 0),
				  text_key ? db_column_text(st, 0) : "")
				->n.overdue = n;
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = 0;
	if (!col && g.n == 0)
		group_for(&g, 0, "");

	if (g.n > 1)
		qsort(g.v, g.n, sizeof *g.v, cmp_group);
	if (total)
		memset(total, 0, sizeof *total);
	for (size_t i = 0; i < g.n; i++) {
		struct stats_group *x = &g.v[i];
		switch (f->by) {
		case SD_NONE:
			snprintf(x->name, sizeof x->name, "全部");
			break;
		case SD_DEPARTMENT:
			if (!x->id)
				snprintf(x->name, sizeof x->name, "未派单");
			break;
		case SD_CATEGORY:
			if (!x->id)
				snprintf(x->name, sizeof x->name, "未分类");
			break;
		case SD_GRID:
			if (!x->id)
				snprintf(x->name, sizeof x->name, "未划入网格");
			break;
		case SD_TYPE:
			snprintf(x->name, sizeof x->name, "%s",
				 req_type_zh(x->code) ? req_type_zh(x->code) : x->code);
			break;
		case SD_CHANNEL:
			snprintf(x->name, sizeof x->name, "%s", channel_zh(x->code));
			break;
		case SD__COUNT:
			break;
		}
		if (total) {
			for (int k = 0; k < SC__COUNT; k++)
				total->c[k] += x->n.c[k];
			total->overdue += x->n.overdue;
		}
	}
	for (size_t i = 0; each && i < g.n; i++)
		if (each(&g.v[i], ctx))
			break;
out:
	db_finalize(st);
	buf_release(&q);
	free(g.v);
	return rc;
}

/* ---- trends ---- */

static int64_t bucket_start(int64_t day, enum stats_bucket b)
{
	int y, m, d;
	switch (b) {
	case SB_WEEK:
		return day - (workcal_weekday(day) - 1);
	case SB_MONTH:
		workcal_civil_from_days(day, &y, &m, &d);
		return workcal_days_from_civil(y, m, 1);
	case SB_DAY:
		break;
	}
	return day;
}

static int64_t bucket_next(int64_t start, enum stats_bucket b)
{
	int y, m, d;
	switch (b) {
	case SB_WEEK:
		return start + 7;
	case SB_MONTH:
		workcal_civil_from_days(start, &y, &m, &d);
		return m == 12 ? workcal_days_from_civil(y + 1, 1, 1)
			       : workcal_days_from_civil(y, m + 1, 1);
	case SB_DAY:
		break;
	}
	return start + 1;
}

static void bucket_label(int64_t start, enum stats_bucket b, char *out, size_t n)
{
	int y, m, d;
	if (b == SB_WEEK) {
		/* ISO 8601: the week belongs to the year of its Thursday */
		int64_t thu = start + 3;
		workcal_civil_from_days(thu, &y, &m, &d);
		int64_t week = (thu - workcal_days_from_civil(y, 1, 1)) / 7 + 1;
		snprintf(out, n, "%04d-W%02d", y, (int)week);
	} else if (b == SB_MONTH) {
		workcal_civil_from_days(start, &y, &m, &d);
		snprintf(out, n, "%04d-%02d", y, m);
	} else {
		workcal_format_date(start, out, n);
	}
}

int request_stats_trend(struct db *db, const struct actor *who, enum scope scope,
			const struct stats_query *f, enum stats_bucket bucket, int max_buckets,
			int (*each)(const struct stats_period *p, void *ctx), void *ctx,
			struct err *e)
{
	struct stats_period *v = NULL;
	struct db_args a = {0};
	struct buf q;
	struct db_stmt *st = NULL;
	struct stats_query f1 = *f;
	enum stats_dim cube;
	int64_t nb = 0;
	int rc;

	f1.by = SD_NONE;
	if ((rc = pick_cube(&f1, &cube, e)))
		return rc;
	for (int64_t s = bucket_start(f->from_day, bucket); s <= f->to_day; s = bucket_next(s, bucket))
		if (++nb > max_buckets)
			return err_set(e, ERR_UNPROCESSABLE, "bucket",
				       "时段过长：按该粒度最多 %d 个区间，请缩短时段或改用更粗的粒度",
				       "the period has more than %d buckets of this size: shorten it or "
				       "use a larger bucket",
				       max_buckets);
	v = xcalloc((size_t)nb, sizeof *v);
	int64_t k = 0;
	for (int64_t s = bucket_start(f->from_day, bucket); s <= f->to_day;
	     s = bucket_next(s, bucket), k++) {
		v[k].first_day = s < f->from_day ? f->from_day : s;
		int64_t last = bucket_next(s, bucket) - 1;
		v[k].last_day = last > f->to_day ? f->to_day : last;
		bucket_label(s, bucket, v[k].label, sizeof v[k].label);
	}

	/* month buckets read whole months from the month table; the open rows come last */
	struct part parts[4];
	int nparts = bucket == SB_MONTH ? split_period(f->from_day, f->to_day, parts) : 1;
	if (bucket != SB_MONTH)
		parts[0] = (struct part){T_DAY, f->from_day, f->to_day};
	parts[nparts++] = (struct part){-1, f->from_day, f->to_day};
	buf_init(&q, 0);
	for (int p = 0; p < nparts; p++) {
		bool open = parts[p].t < 0;
		buf_reset(&q);
		memset(&a, 0, sizeof a);
		if (!open) {
			buf_adds(&q, "SELECT s.day");
			for (int i = 0; i < SC__COUNT; i++)
				buf_addf(&q, ", SUM(s.%s)", counter_names[i]);
			buf_addf(&q, " FROM %s s", tables[parts[p].t]);
		} else {
			buf_adds(&q, "SELECT s.day, SUM(s.open_count) FROM request_stats_open s");
		}
		if ((rc = where(&q, &a, who, scope, f, cube, parts[p].from, parts[p].to, e)))
			goto out;
		if (open)
			buf_addf(&q, " AND s.due_day < $%d", db_args_int(&a, f->today));
		buf_adds(&q, " GROUP BY s.day");
		if ((rc = db_query_args(db, &st, e, q.p, &a)))
			goto out;
		while ((rc = db_step(st, e)) == DB_ROW) {
			int64_t day = db_column_int64(st, 0);
			/* buckets are ordered and contiguous: binary search by first day */
			int64_t lo = 0, hi = nb - 1;
			while (lo < hi) {
				int64_t mid = (lo + hi + 1) / 2;
				if (v[mid].first_day <= day)
					lo = mid;
				else
					hi = mid - 1;
			}
			struct stats_counts *c = &v[lo].n;
			if (!open)
				for (int i = 0; i < SC__COUNT; i++)
					c->c[i] += db_column_int64(st, 1 + i);
			else
				c->overdue += db_column_int64(st, 1);
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			goto out;
		rc = 0;
	}
	for (k = 0; each && k < nb; k++)
		if (each(&v[k], ctx))
			break;
out:
	db_finalize(st);
	buf_release(&q);
	free(v);
	return rc;
}

/* ---- ranking ---- */

static int cmp_ranked(const void *pa, const void *pb)
{
	const struct stats_ranked *a = pa, *b = pb;
	if (a->r.composite_defined != b->r.composite_defined)
		return a->r.composite_defined ? -1 : 1;
	if (a->r.composite_defined && a->r.composite != b->r.composite)
		return a->r.composite > b->r.composite ? -1 : 1;
	if (a->r.resolution.defined != b->r.resolution.defined)
		return a->r.resolution.defined ? -1 : 1;
	if (a->r.resolution.percent != b->r.resolution.percent)
		return a->r.resolution.percent > b->r.resolution.percent ? -1 : 1;
	if (a->g.n.c[SC_DISPATCHED] != b->g.n.c[SC_DISPATCHED])
		return a->g.n.c[SC_DISPATCHED] > b->g.n.c[SC_DISPATCHED] ? -1 : 1;
	return a->g.id < b->g.id ? -1 : a->g.id > b->g.id;
}

void stats_rank(struct stats_ranked *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_ranked);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].r.composite_defined)
			v[i].rank = 0;
		else if (i > 0 && v[i - 1].r.composite_defined &&
			 v[i - 1].r.composite == v[i].r.composite)
			v[i].rank = v[i - 1].rank;
		else
			v[i].rank = (int)i + 1;
	}
}
