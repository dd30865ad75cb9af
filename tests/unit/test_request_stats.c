/*
 * test_request_stats.c — the live counters of the rates (core/request_stats.c)
 * against a real SQLite file: after every step of random sequences of
 * actions (request_create / request_act with injected clocks, on the
 * built-in calendar), the counters equal a full recount; a hand-made set of
 * 50 requests gives exactly the rates counted by hand; contributions move
 * with a re-dispatch; check finds a corrupted counter and rebuild repairs it.
 *
 * Write jobs run in their own transaction, committed on success and rolled
 * back on failure, as the pool's savepoints do — so a refused action must
 * leave the counters alone, which the invariant checks too. One test runs
 * them as the pool's writer does instead: batches of jobs in one
 * transaction, each in a savepoint, the counters deferred to the commit
 * (db_defer_enable), with jobs that fail after writing, recounts in the
 * middle of a job and whole batches rolled back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "core/analysis.h"
#include "core/request.h"
#include "core/request_stats.h"
#include "core/settings.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define HOUR (3600 * 1000LL)
#define DAY (24 * HOUR)

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
	struct workcal *cal;
	int64_t tenant;
	int64_t d_gov, d_amr, d_reg, d_food, d_tax;
	int64_t cat[2];
	int64_t ent[3];      /* enterprises: grid 7, grid 8, no grid */
	int64_t staff_id;
	struct actor staff;  /* acts with SCOPE_ALL */
	struct actor sys;    /* the digital employee (user 0) */
	uint64_t rng;
	bool batching;       /* jobs run in savepoints of an open transaction (the pool's way) */
	bool in_job;         /* batching: a job's savepoint is open */
};

/* ---- fixture ---- */

static int64_t q1(struct fixture *f, const char *sql, int64_t a)
{
	struct err e;
	int64_t v = -1;
	if (db_query_i64(f->db, &v, &e, sql, "i", a) != 0)
		fail_msg("query %s: %s", sql, e.message);
	return v;
}

static int64_t insert(struct fixture *f, const char *sql, const char *types, ...)
{
	struct err e;
	struct db_stmt *st = NULL;
	int64_t id = 0;
	va_list ap;
	va_start(ap, types);
	/* only the shapes used below: tenant + text + int */
	int64_t a = va_arg(ap, int64_t);
	const char *t = va_arg(ap, const char *);
	int64_t b = strlen(types) > 2 ? va_arg(ap, int64_t) : 0;
	va_end(ap);
	assert_int_equal(db_begin(f->db, true, &e), 0);
	if (strlen(types) > 2)
		assert_int_equal(db_queryf(f->db, &st, &e, sql, types, a, t, b), 0);
	else
		assert_int_equal(db_queryf(f->db, &st, &e, sql, types, a, t), 0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	id = db_column_int64(st, 0);
	db_finalize(st);
	assert_int_equal(db_commit(f->db, &e), 0);
	return id;
}

static int64_t add_dept(struct fixture *f, const char *code, int64_t parent)
{
	struct err e;
	int64_t id = insert(f,
			    "INSERT INTO departments (tenant_id, code, name, parent_id, created_at, "
			    "updated_at) VALUES ($1, $2, $2, $3, 0, 0) RETURNING id",
			    "itI", f->tenant, code, parent);
	assert_int_equal(db_execf(f->db, &e,
				  "UPDATE departments SET path = COALESCE((SELECT p.path FROM departments p "
				  "WHERE p.id = $1), '/') || id || '/' WHERE id = $2",
				  "Ii", parent, id),
			 0);
	return id;
}

static uint64_t rnd(struct fixture *f)
{
	/* xorshift64*: deterministic, seeded per test */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545F4914F6CDD1DULL;
}

static int64_t pick(struct fixture *f, int64_t n)
{
	return (int64_t)(rnd(f) % (uint64_t)n);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-stats-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	f->tenant = insert(f, "INSERT INTO tenants (code, name, created_at) VALUES ($2, $2, $1) "
			      "RETURNING id",
			   "it", (int64_t)0, "erqi");
	f->d_gov = add_dept(f, "gov", 0);
	f->d_amr = add_dept(f, "amr", f->d_gov);
	f->d_reg = add_dept(f, "amr-reg", f->d_amr);
	f->d_food = add_dept(f, "amr-food", f->d_amr);
	f->d_tax = add_dept(f, "tax", f->d_gov);
	for (int i = 0; i < 2; i++)
		f->cat[i] = insert(f,
				   "INSERT INTO request_categories (tenant_id, code, name, path, "
				   "created_at, updated_at) VALUES ($1, $2, $2, '', 0, 0) RETURNING id",
				   "it", f->tenant, i ? "tax" : "license");
	static const char *const codes[] = {"91410103TEST00001", "91410103TEST00002",
					    "91410103TEST00003"};
	for (int i = 0; i < 3; i++)
		f->ent[i] = insert(f,
				   "INSERT INTO enterprises (tenant_id, credit_code, name, grid_id, "
				   "checkin_secret, created_at, updated_at) VALUES ($1, $2, $2, $3, 's', "
				   "0, 0) RETURNING id",
				   "itI", f->tenant, codes[i], (int64_t)(i == 2 ? 0 : 7 + i));
	f->staff_id = insert(f,
			     "INSERT INTO users (tenant_id, login, display_name, password_hash, status, "
			     "password_changed_at, created_at, updated_at) VALUES ($1, $2, $2, 'x', "
			     "'active', 0, 0, 0) RETURNING id",
			     "it", f->tenant, "staff");
	f->staff.tenant_id = f->tenant;
	f->staff.user_id = f->staff_id;
	f->staff.roles = 1u << ROLE_ADMIN;
	snprintf(f->staff.login, sizeof f->staff.login, "staff");
	f->sys.tenant_id = f->tenant;
	snprintf(f->sys.login, sizeof f->sys.login, "system");
	f->cal = workcal_new_builtin(NULL);
	f->rng = 0x9E3779B97F4A7C15ULL;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	workcal_unref(f->cal);
	db_close(f->db);
	unlink(f->path);
	snprintf(p, sizeof p, "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t diffs(struct fixture *f, bool print);

/* A job in its savepoint, as the pool runs it; sometimes it fails after its work (the
 * savepoint takes everything back), sometimes a recount reads the counters first. */
static int run_in_batch(struct fixture *f, db_write_fn fn, void *arg, struct err *e)
{
	struct err txe;
	assert_int_equal(db_savepoint(f->db, &txe), 0);
	f->in_job = true;
	int rc = fn(f->db, arg, e);
	if (rc == 0 && fn == request_act && pick(f, 8) == 0) {
		if (pick(f, 2) && diffs(f, false) != 0) { /* flushed inside the savepoint ... */
			diffs(f, true);
			fail_msg("counters differ from a recount inside a job");
		}
		rc = err_set(e, ERR_CONFLICT, NULL, "失败", "failed after its work"); /* ... undone */
	}
	if (rc)
		assert_int_equal(db_rollback_to(f->db, &txe), 0);
	assert_int_equal(db_release(f->db, &txe), 0);
	f->in_job = false;
	return rc;
}

static int run(struct fixture *f, db_write_fn fn, void *arg, struct err *e)
{
	err_clear(e);
	if (f->batching)
		return run_in_batch(f, fn, arg, e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	int rc = fn(f->db, arg, e);
	if (rc == 0)
		assert_int_equal(db_commit(f->db, e), 0);
	else
		db_rollback(f->db);
	return rc;
}

/* Shanghai local time of a date. */
static int64_t at(int y, int m, int d, int hour, int minute)
{
	return workcal_utc_ms(workcal_days_from_civil(y, m, d),
			      (int64_t)hour * HOUR + (int64_t)minute * 60000);
}

static int64_t create(struct fixture *f, int64_t now, const char *type, const char *channel,
		      int64_t ent, int64_t cat)
{
	struct err e;
	struct request_create c = {.who = &f->staff, .tenant_id = f->tenant, .now = now,
				   .in = {.channel = channel, .req_type = type, .enterprise_id = ent,
					  .category_id = cat, .content = "营业执照变更办理咨询"}};
	if (run(f, request_create, &c, &e))
		fail_msg("create: %s (%s)", e.message, e.field);
	return c.id;
}

struct act_opts {
	int64_t department_id, category_id, master_id;
	int days, level;
	bool approve, solved;
	const char *rating;
};

static int act(struct fixture *f, int64_t id, enum req_action a, int64_t now,
	       const struct act_opts *o, struct err *e)
{
	static const struct act_opts none;
	if (!o)
		o = &none;
	struct request_step s = {
		.who = a == RA_AUTO_CLOSE ? &f->sys : &f->staff, .scope = SCOPE_ALL,
		.tenant_id = f->tenant, .id = id, .action = a, .department_id = o->department_id,
		.category_id = o->category_id, .master_id = o->master_id, .days = o->days,
		.approve = o->approve, .level = o->level, .solved = o->solved, .rating = o->rating,
		.public_note = "已处理", .internal_note = "内部说明", .now = now, .cal = f->cal};
	return run(f, request_act, &s, e);
}

static void must(struct fixture *f, int64_t id, enum req_action a, int64_t now,
		 const struct act_opts *o)
{
	struct err e;
	if (act(f, id, a, now, o, &e))
		fail_msg("%s on request %lld: %s (%s)", req_action_name(a), (long long)id, e.message,
			 e.field);
}

static int print_diff(const struct stats_diff *d, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "  %s %s %s day=%lld dept=%lld key=%lld/%s received=%lld due_day=%lld "
			"open=%lld\n",
		d->table, d->stored ? "stored" : "recount", stats_dim_name(d->row.dim),
		(long long)d->row.day, (long long)d->row.department_id, (long long)d->row.key_id,
		d->row.key_code, (long long)d->row.c[SC_RECEIVED], (long long)d->row.due_day,
		(long long)d->row.open_count);
	return 0;
}

static int64_t diffs(struct fixture *f, bool print)
{
	struct err e;
	int64_t n = -1;
	assert_int_equal(request_stats_check(f->db, f->tenant, print ? print_diff : NULL, NULL, &n, &e),
			 0);
	return n;
}

/* Counters of the whole tenant over a wide period, as of `today`. */
static struct stats_counts totals(struct fixture *f, int64_t today, enum stats_dim by,
				  int64_t dept)
{
	struct err e;
	struct stats_counts t;
	struct stats_query q = {.by = by, .from_day = workcal_days_from_civil(2020, 1, 1),
				.to_day = workcal_days_from_civil(2030, 12, 31), .today = today,
				.department_id = dept};
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL, &t, &e), 0);
	return t;
}

/* ---- the contribution function ---- */

static void test_contrib(void **state)
{
	(void)state;
	struct request r;
	struct stats_row cubes[STATS_CUBES], o;
	memset(&r, 0, sizeof r);
	r.tenant_id = 1;
	snprintf(r.req_type, sizeof r.req_type, "help");
	snprintf(r.channel, sizeof r.channel, "online");
	r.received_at = at(2026, 3, 2, 0, 30); /* 00:30 in Shanghai: still March 2 */
	r.state = RS_RECEIVED;
	r.rating_solved = r.closed_on_time = -1;
	r.category_id = 12;
	r.grid_id = 34;
	request_stats_contrib(&r, cubes);
	o = cubes[0];
	/* the same counters in every cube, under its own key */
	for (int k = 0; k < STATS_CUBES; k++) {
		assert_int_equal(cubes[k].dim, stats_cubes[k]);
		assert_memory_equal(cubes[k].c, o.c, sizeof o.c);
		assert_int_equal(cubes[k].day, o.day);
	}
	assert_int_equal(cubes[0].key_id, 0);
	assert_string_equal(cubes[0].key_code, "");
	assert_int_equal(cubes[1].key_id, 12);
	assert_int_equal(cubes[2].key_id, 34);
	assert_string_equal(cubes[3].key_code, "help");
	assert_string_equal(cubes[4].key_code, "online");
	assert_int_equal(o.day, workcal_days_from_civil(2026, 3, 2));
	assert_int_equal(o.c[SC_RECEIVED], 1);
	assert_int_equal(o.c[SC_VALID], 1);
	assert_int_equal(o.c[SC_DISPATCHED], 0);
	assert_int_equal(o.due_day, -1);

	r.state = RS_SIGNED;
	r.department_id = 5;
	r.dispatched_at = at(2026, 3, 2, 9, 0);
	r.sign_due_at = at(2026, 3, 3, 9, 30);
	r.signed_at = r.sign_due_at + 1; /* one millisecond late */
	r.handle_due_at = at(2026, 3, 9, 23, 59) + 59999;
	request_stats_contrib(&r, cubes);
	o = cubes[2];
	assert_int_equal(o.c[SC_DISPATCHED], 1);
	assert_int_equal(o.c[SC_RESPONDED], 1);
	assert_int_equal(o.c[SC_RESPONDED_ON_TIME], 0);
	assert_int_equal(o.due_day, workcal_days_from_civil(2026, 3, 9));
	r.signed_at = r.sign_due_at; /* the deadline instant itself is in time */
	request_stats_contrib(&r, cubes);
	o = cubes[2];
	assert_int_equal(o.c[SC_RESPONDED_ON_TIME], 1);

	r.state = RS_PAUSED; /* the clock stands still: not counted towards overdue */
	request_stats_contrib(&r, cubes);
	o = cubes[2];
	assert_int_equal(o.due_day, -1);

	r.state = RS_CLOSED;
	r.replied_at = r.handle_due_at;
	r.closed_on_time = 1;
	snprintf(r.rating, sizeof r.rating, "basic");
	r.rating_solved = 0;
	request_stats_contrib(&r, cubes);
	o = cubes[2];
	assert_int_equal(o.c[SC_REPLIED_ON_TIME], 1);
	assert_int_equal(o.c[SC_CLOSED], 1);
	assert_int_equal(o.c[SC_CLOSED_ON_TIME], 1);
	assert_int_equal(o.c[SC_RATED], 1);
	assert_int_equal(o.c[SC_BASIC], 1);
	assert_int_equal(o.c[SC_SOLVED], 0);
	assert_int_equal(o.c[SC_UNRATED], 0);

	r.state = RS_MERGED; /* merged or voided: received only */
	request_stats_contrib(&r, cubes);
	o = cubes[2];
	for (int i = 1; i < SC__COUNT; i++)
		assert_int_equal(o.c[i], 0);
	assert_int_equal(o.c[SC_RECEIVED], 1);
}

/* ---- random sequences: counters == recount after every step ---- */

/* How often each action is tried when possible: progress is likelier than
 * the absorbing side paths (merge, void), so requests live long enough to
 * reach every state. */
static const int weight[RA__COUNT] = {
	[RA_DISPATCH] = 10, [RA_SIGN] = 10,         [RA_START] = 5,         [RA_REPLY] = 10,
	[RA_RETURN_APPLY] = 2, [RA_RETURN_DECIDE] = 3, [RA_RETURN] = 2,     [RA_EXTEND_APPLY] = 3,
	[RA_EXTEND_DECIDE] = 3, [RA_PAUSE] = 2,     [RA_RESUME] = 6,        [RA_SUPERVISE] = 1,
	[RA_RATE] = 10,     [RA_CLOSE] = 3,         [RA_REOPEN] = 5,        [RA_MERGE] = 1,
	[RA_VOID] = 1,      [RA_NOTE] = 1,          [RA_AUTO_CLOSE] = 2,
};

static bool finished(enum req_state s)
{
	return s == RS_MERGED || s == RS_VOIDED || s == RS_CLOSED;
}

static void random_step(struct fixture *f, int64_t *ids, int *n, int max, int64_t now)
{
	static const char *const types[] = {"consultation", "help", "complaint", "suggestion",
					    "report"};
	static const char *const channels[] = {"online", "hall", "hotline", "grid", "observer"};
	static const char *const ratings[] = {"satisfied", "basic", "unsatisfied", "bogus"};
	struct err e;

	if (*n == 0 || (*n < max && pick(f, 6) == 0)) {
		int64_t cat = pick(f, 3);
		ids[(*n)++] = create(f, now, types[pick(f, 5)], channels[pick(f, 5)],
				     pick(f, 4) ? f->ent[pick(f, 3)] : 0, cat ? f->cat[cat - 1] : 0);
		return;
	}
	/* a request, preferably one still moving */
	int64_t id = 0;
	enum req_state st = RS_RECEIVED;
	for (int tries = 0; tries < 6; tries++) {
		struct request r;
		id = ids[pick(f, *n)];
		assert_int_equal(request_get(f->db, f->tenant, id, &r, &e), 0);
		st = r.state;
		bool reopenable = st == RS_CLOSED && !strcmp(r.rating, "unsatisfied");
		request_release(&r);
		if (!finished(st) || reopenable)
			break;
	}
	int total = 0;
	for (int a = 0; a < RA__COUNT; a++)
		if (request_action_allowed((enum req_action)a, st))
			total += weight[a];
	if (!total)
		return;
	int64_t w = pick(f, total);
	int a = 0;
	for (; a < RA__COUNT; a++)
		if (request_action_allowed((enum req_action)a, st) && (w -= weight[a]) < 0)
			break;
	int64_t depts[4] = {f->d_reg, f->d_food, f->d_tax, f->d_amr};
	struct act_opts o = {
		.department_id = depts[pick(f, 4)],
		.category_id = pick(f, 3) ? f->cat[pick(f, 2)] : 0,
		.master_id = ids[pick(f, *n)],
		.days = (int)pick(f, 4),
		.level = (int)pick(f, 4),
		.approve = pick(f, 3) != 0,
		.solved = pick(f, 2),
		.rating = ratings[pick(f, 4)],
	};
	(void)act(f, id, (enum req_action)a, now, &o, &e); /* refusals are part of the test */
}

struct periods_sum {
	struct stats_counts *sum;
};

static int sum_period(const struct stats_period *p, void *ctx)
{
	struct periods_sum *x = ctx;
	for (int i = 0; i < SC__COUNT; i++)
		x->sum->c[i] += p->n.c[i];
	x->sum->overdue += p->n.overdue;
	return 0;
}

static void test_random_sequences(void **state)
{
	struct fixture *f = *state;
	int64_t ids[100];
	int n = 0;
	int64_t now = at(2026, 1, 26, 9, 0); /* a make-up working Sunday before 春节 */
	int steps = 1200;

	for (int i = 0; i < steps; i++) {
		/* time moves by minutes to days, so deadlines are met and missed */
		now += pick(f, 5) == 0 ? pick(f, DAY) : pick(f, 2 * HOUR);
		random_step(f, ids, &n, (int)(sizeof ids / sizeof ids[0]), now);
		/* a full recount every other step (a wrong delta stays wrong until found) */
		if ((i % 2 || i == steps - 1) && diffs(f, false) != 0) {
			diffs(f, true);
			fail_msg("counters differ from a recount after step %d", i);
		}
	}
	/* the sequences reached the interesting states */
	assert_true(q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND state = 'closed'",
		       f->tenant) > 0);
	assert_true(q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND reopen_count > 0",
		       f->tenant) > 0);
	assert_true(q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND state IN "
			  "('merged', 'voided')",
		       f->tenant) > 0);
	assert_true(q1(f, "SELECT COUNT(*) FROM request_events WHERE tenant_id = $1 AND action = "
			  "'dispatch' AND from_state = 'returned'",
		       f->tenant) > 0);
	assert_true(q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND state = 'closed' "
			  "AND closed_on_time = 0",
		       f->tenant) > 0);

	/* the totals agree with plain counts over the requests table */
	int64_t today = workcal_local_day(now);
	struct stats_counts t = totals(f, today, SD_NONE, 0);
	assert_int_equal(t.c[SC_RECEIVED], q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1",
					       f->tenant));
	assert_int_equal(t.c[SC_CLOSED],
			 q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND state = 'closed'",
			    f->tenant));
	assert_int_equal(t.c[SC_DISPATCHED],
			 q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND department_id "
			       "IS NOT NULL AND state NOT IN ('merged', 'voided')",
			    f->tenant));
	int64_t overdue = 0;
	struct db_stmt *st = NULL;
	struct err e;
	assert_int_equal(db_queryf(f->db, &st, &e,
				   "SELECT handle_due_at FROM requests WHERE tenant_id = $1 AND state IN "
				   "('dispatched', 'signed', 'in_progress') AND handle_due_at > 0",
				   "i", f->tenant),
			 0);
	int64_t now2 = workcal_utc_ms(today, 0); /* midnight: overdue = deadline before today */
	while (db_step(st, &e) == DB_ROW)
		overdue += db_column_int64(st, 0) < now2;
	db_finalize(st);
	assert_int_equal(t.overdue, overdue);

	/* any period: whole months and cut days add up to the days one by one */
	for (int i = 0; i < 40; i++) {
		int64_t d0 = workcal_days_from_civil(2026, 1, 20), span = today - d0 + 40;
		int64_t a = d0 + pick(f, span), b = a + pick(f, 120);
		int y, m, d;
		if (i % 2) { /* from the first of a month */
			workcal_civil_from_days(a, &y, &m, &d);
			a = workcal_days_from_civil(y, m, 1);
		}
		if (i % 4 >= 2) { /* to the last of a month */
			workcal_civil_from_days(b, &y, &m, &d);
			b = workcal_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1;
		}
		struct stats_query q = {.by = SD_NONE, .from_day = a, .to_day = b, .today = today};
		struct stats_counts whole, days = {0}, months = {0};
		struct periods_sum ps = {&days}, pm = {&months};
		assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL,
						     &whole, &e),
				 0);
		assert_int_equal(request_stats_trend(f->db, &f->staff, SCOPE_ALL, &q, SB_DAY, 1000,
						     sum_period, &ps, &e),
				 0);
		assert_int_equal(request_stats_trend(f->db, &f->staff, SCOPE_ALL, &q, SB_MONTH, 1000,
						     sum_period, &pm, &e),
				 0);
		assert_memory_equal(&whole, &days, sizeof whole);
		assert_memory_equal(&whole, &months, sizeof whole);
	}

	/* groups by each dimension add up to the total */
	for (int d = SD_DEPARTMENT; d < SD__COUNT; d++) {
		struct stats_counts g = totals(f, today, (enum stats_dim)d, 0);
		assert_memory_equal(&g, &t, sizeof g);
	}
}

/* The pool's way: deferred counters, batches, savepoints. */
static void test_random_batches(void **state)
{
	struct fixture *f = *state;
	int64_t ids[100], kept[100];
	int n = 0, nkept = 0;
	int64_t now = at(2026, 1, 26, 9, 0);
	struct err e;

	db_defer_enable(f->db);
	f->batching = true;
	for (int batch = 0; batch < 120; batch++) {
		memcpy(kept, ids, sizeof ids);
		nkept = n;
		assert_int_equal(db_begin(f->db, true, &e), 0);
		int jobs = 1 + (int)pick(f, 12);
		for (int i = 0; i < jobs; i++) {
			now += pick(f, 5) == 0 ? pick(f, DAY) : pick(f, 2 * HOUR);
			random_step(f, ids, &n, (int)(sizeof ids / sizeof ids[0]), now);
		}
		if (pick(f, 10) == 0) { /* the commit failed: nothing of the batch stays */
			assert_int_equal(db_rollback(f->db), 0);
			memcpy(ids, kept, sizeof ids);
			n = nkept;
		} else
			assert_int_equal(db_commit(f->db, &e), 0);
		if (diffs(f, false) != 0) {
			diffs(f, true);
			fail_msg("counters differ from a recount after batch %d", batch);
		}
		int64_t gd = -1; /* and the analysis counts, deferred the same way */
		assert_int_equal(analysis_check(f->db, f->tenant, &gd, &e), 0);
		if (gd != 0)
			fail_msg("analysis counts differ from a recount after batch %d", batch);
	}
	assert_true(q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND state = 'closed'",
		       f->tenant) > 0);
	/* a rebuild in a batch after other jobs' pending counters counts them once */
	assert_int_equal(db_begin(f->db, true, &e), 0);
	create(f, now, "help", "hall", f->ent[0], f->cat[0]);
	struct stats_rebuild rb = {.who = &f->staff, .tenant_id = f->tenant};
	assert_int_equal(run(f, request_stats_rebuild, &rb, &e), 0);
	create(f, now, "complaint", "hotline", 0, 0);
	assert_int_equal(db_commit(f->db, &e), 0);
	assert_int_equal(diffs(f, true), 0);
}

static void test_check_and_rebuild(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t now = at(2026, 3, 2, 9, 0);
	int64_t a = create(f, now, "help", "online", f->ent[0], 0);
	int64_t b = create(f, now, "complaint", "hall", 0, f->cat[0]);
	must(f, a, RA_DISPATCH, now, &(struct act_opts){.department_id = f->d_reg});
	must(f, a, RA_SIGN, now + HOUR, NULL);
	must(f, b, RA_DISPATCH, now, &(struct act_opts){.department_id = f->d_tax});
	assert_int_equal(diffs(f, false), 0);

	/* a counter changed behind the program's back: one stored row, one recount row */
	assert_int_equal(db_execf(f->db, &e, "UPDATE request_stats SET solved = solved + 1 WHERE "
					     "department_id = $1 AND dim = 'none'",
				  "i", f->d_reg),
			 0);
	assert_int_equal(diffs(f, false), 4); /* the day row, and its month's sum */
	assert_int_equal(db_execf(f->db, &e, "UPDATE request_stats SET solved = solved - 1 WHERE "
					     "department_id = $1 AND dim = 'none'",
				  "i", f->d_reg),
			 0);
	assert_int_equal(diffs(f, false), 0);
	assert_int_equal(db_execf(f->db, &e, "UPDATE request_stats_month SET closed = 7 WHERE "
					     "department_id = $1 AND dim = 'type'",
				  "i", f->d_tax),
			 0);
	assert_int_equal(diffs(f, false), 2);
	/* a request changed behind its back: its deadline day row is off */
	assert_int_equal(db_execf(f->db, &e, "UPDATE requests SET handle_due_at = handle_due_at + $1 "
					     "WHERE id = $2",
				  "ii", 2 * DAY, b),
			 0);
	assert_int_equal(diffs(f, false), 2 + 2 * STATS_CUBES); /* in every cube */

	struct stats_rebuild rb = {.who = &f->sys, .tenant_id = f->tenant};
	assert_int_equal(run(f, request_stats_rebuild, &rb, &e), 0);
	assert_int_equal(rb.rows, 2 * STATS_CUBES);
	assert_int_equal(rb.month_rows, 2 * STATS_CUBES);
	assert_int_equal(rb.open_rows, 2 * STATS_CUBES);
	assert_int_equal(diffs(f, false), 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
			       "entity = 'request_stats' AND action = 'rebuild'",
			    f->tenant),
			 1);
	/* and incremental upkeep continues from the rebuilt rows */
	must(f, b, RA_SIGN, now + HOUR, NULL);
	must(f, b, RA_REPLY, now + 2 * HOUR, NULL);
	assert_int_equal(diffs(f, false), 0);
}

/* ---- moving with a re-dispatch; empty rows go away ---- */

static void test_redispatch_moves(void **state)
{
	struct fixture *f = *state;
	int64_t now = at(2026, 3, 2, 9, 0), today = workcal_days_from_civil(2026, 3, 20);
	int64_t id = create(f, now, "help", "online", f->ent[1], f->cat[0]);
	struct stats_counts t = totals(f, today, SD_NONE, f->d_reg);
	assert_int_equal(t.c[SC_RECEIVED], 0);

	must(f, id, RA_DISPATCH, now, &(struct act_opts){.department_id = f->d_reg});
	must(f, id, RA_SIGN, now + HOUR, NULL);
	t = totals(f, today, SD_NONE, f->d_reg);
	assert_int_equal(t.c[SC_RECEIVED], 1);
	assert_int_equal(t.c[SC_RESPONDED], 1);
	assert_int_equal(t.overdue, 1); /* due 03-09, today 03-20 */
	/* nothing left under "not dispatched": the row was deleted, not zeroed */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_stats WHERE tenant_id = $1 AND "
			       "department_id = 0",
			    f->tenant),
			 0);

	must(f, id, RA_RETURN, now + 2 * HOUR, NULL);
	t = totals(f, today, SD_NONE, f->d_reg);
	assert_int_equal(t.c[SC_RECEIVED], 0);
	assert_int_equal(t.overdue, 0);
	must(f, id, RA_DISPATCH, now + 3 * HOUR,
	     &(struct act_opts){.department_id = f->d_tax, .category_id = f->cat[1]});
	t = totals(f, today, SD_NONE, f->d_tax);
	assert_int_equal(t.c[SC_RECEIVED], 1);
	assert_int_equal(t.c[SC_DISPATCHED], 1);
	assert_int_equal(t.c[SC_RESPONDED], 0); /* signing starts over with the new department */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_stats WHERE tenant_id = $1", f->tenant),
			 STATS_CUBES);
	assert_int_equal(q1(f, "SELECT key_id FROM request_stats WHERE tenant_id = $1 AND "
			       "dim = 'category'",
			    f->tenant),
			 f->cat[1]);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_stats_open WHERE tenant_id = $1",
			    f->tenant),
			 STATS_CUBES);
	/* receipt day stays: the request counts where it was received */
	assert_int_equal(q1(f, "SELECT MIN(day) + MAX(day) FROM request_stats WHERE tenant_id = $1",
			    f->tenant),
			 2 * workcal_days_from_civil(2026, 3, 2));

	/* paused: not overdue; resumed: the deadline moved by the paused working days */
	must(f, id, RA_SIGN, now + 4 * HOUR, NULL);
	must(f, id, RA_PAUSE, at(2026, 3, 3, 10, 0), NULL);
	t = totals(f, today, SD_NONE, 0);
	assert_int_equal(t.overdue, 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_stats_open WHERE tenant_id = $1",
			    f->tenant),
			 0);
	must(f, id, RA_RESUME, at(2026, 3, 5, 10, 0), NULL);
	assert_int_equal(q1(f, "SELECT due_day FROM request_stats_open WHERE tenant_id = $1 AND "
			       "dim = 'none'",
			    f->tenant),
			 workcal_days_from_civil(2026, 3, 12)); /* 03-09 + 3 working days */
	assert_int_equal(diffs(f, false), 0);
}

/* ---- the rates on a hand-made set ---- */

static void close_enough(double got, double want)
{
	if (got != want)
		fail_msg("got %.17g, want %.17g", got, want);
}

static void test_rates_by_hand(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t ids[50];
	int64_t recv = at(2026, 3, 2, 8, 0), disp = at(2026, 3, 2, 9, 0);
	int64_t sign_ok = at(2026, 3, 2, 10, 0), sign_late = at(2026, 3, 4, 10, 0);
	int64_t reply_ok = at(2026, 3, 5, 10, 0), reply_late = at(2026, 3, 10, 10, 0);
	int64_t rate_at = at(2026, 3, 11, 10, 0);

	for (int i = 0; i < 50; i++)
		ids[i] = create(f, recv, "help", i % 2 ? "online" : "hall", f->ent[i % 3], 0);
	/* 0-1 voided; 2-9 stay received; 10-49 dispatched to 登记注册科 */
	for (int i = 0; i < 2; i++)
		must(f, ids[i], RA_VOID, disp, NULL);
	for (int i = 10; i < 46; i++)
		must(f, ids[i], RA_DISPATCH, disp, &(struct act_opts){.department_id = f->d_reg});
	for (int i = 46; i < 50; i++) /* later: their deadline has not come by "today" */
		must(f, ids[i], RA_DISPATCH, at(2026, 3, 20, 9, 0),
		     &(struct act_opts){.department_id = f->d_reg});
	/* 10-45 signed (36), four of them late (10-13); 46-49 not signed */
	for (int i = 10; i < 46; i++)
		must(f, ids[i], RA_SIGN, i < 14 ? sign_late : sign_ok, NULL);
	/* 10-39 replied (30), five late (35-39); 40-45 still being handled, overdue */
	for (int i = 10; i < 40; i++)
		must(f, ids[i], RA_REPLY, i >= 35 ? reply_late : reply_ok, NULL);
	/* ratings: 10-29 satisfied (19 solved), 30-33 basic (3 solved), 34 unsatisfied;
	 * 35-39 closed after a return visit without a rating */
	for (int i = 10; i < 35; i++) {
		const char *rating = i < 30 ? "satisfied" : i < 34 ? "basic" : "unsatisfied";
		bool solved = i < 30 ? i != 29 : i < 34 ? i != 33 : false;
		must(f, ids[i], RA_RATE, rate_at, &(struct act_opts){.rating = rating, .solved = solved});
	}
	for (int i = 35; i < 40; i++)
		must(f, ids[i], RA_CLOSE, rate_at, NULL);
	assert_int_equal(diffs(f, false), 0);

	int64_t today = workcal_days_from_civil(2026, 3, 15);
	struct stats_counts t = totals(f, today, SD_NONE, 0);
	static const int64_t want[SC__COUNT] = {
		[SC_RECEIVED] = 50, [SC_VALID] = 48,         [SC_DISPATCHED] = 40,
		[SC_RESPONDED] = 36, [SC_RESPONDED_ON_TIME] = 32, [SC_REPLIED] = 30,
		[SC_REPLIED_ON_TIME] = 25, [SC_CLOSED] = 30, [SC_CLOSED_ON_TIME] = 25,
		[SC_RATED] = 25,     [SC_SOLVED] = 22,        [SC_SATISFIED] = 20,
		[SC_BASIC] = 4,      [SC_UNSATISFIED] = 1,    [SC_UNRATED] = 5,
		[SC_REOPENED] = 0,
	};
	for (int i = 0; i < SC__COUNT; i++)
		if (t.c[i] != want[i])
			fail_msg("%s: got %lld, want %lld", stats_counter_name((enum stats_counter)i),
				 (long long)t.c[i], (long long)want[i]);
	assert_int_equal(t.overdue, 6);

	struct stats_settings s;
	struct stats_rates x;
	assert_int_equal(stats_settings_get(f->db, f->tenant, &s, &e), 0);
	assert_int_equal(s.weight_response, 10);
	assert_int_equal(s.weight_resolution, 50);
	assert_int_equal(s.weight_satisfaction, 40);
	assert_int_equal(s.basic_percent, 90);
	assert_int_equal(s.target_resolution, 98);
	stats_rates_compute(&t, &s, &x);
	close_enough(x.response.percent, 90.0);        /* 36 / 40 */
	close_enough(x.response_on_time.percent, 80.0); /* 32 / 40 */
	close_enough(x.reply_on_time.percent, 2500.0 / 30); /* 25 / 30 */
	close_enough(x.resolution.percent, 2200.0 / 30);    /* 22 / 30 */
	close_enough(x.satisfaction.numerator, 23.6);       /* 20 + 0.9 × 4 */
	assert_int_equal(x.satisfaction.denominator, 25);
	close_enough(x.satisfaction.percent, 94.4);
	assert_int_equal(x.due, 36);                        /* 30 closed + 6 overdue */
	close_enough(x.on_time_closure.percent, 2500.0 / 36);
	close_enough(x.composite, (10 * 90.0 + 50 * (2200.0 / 30) + 40 * 94.4) / 100);
	assert_true(x.composite_defined);
	assert_false(x.meets_target);

	/* the overdue count follows "today"; the rest does not */
	struct stats_counts t2 = totals(f, workcal_days_from_civil(2026, 3, 9), SD_NONE, 0);
	assert_int_equal(t2.overdue, 0); /* due at the end of 03-09: not yet overdue that day */
	t2 = totals(f, workcal_days_from_civil(2026, 3, 10), SD_NONE, 0);
	assert_int_equal(t2.overdue, 6);
	t2 = totals(f, workcal_days_from_civil(2026, 4, 30), SD_NONE, 0);
	assert_int_equal(t2.overdue, 10);

	/* by channel: odd ones online, even ones in the hall */
	struct stats_counts online;
	struct stats_query q = {.by = SD_NONE, .from_day = workcal_days_from_civil(2026, 3, 2),
				.to_day = workcal_days_from_civil(2026, 3, 2), .today = today,
				.channel = "online"};
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL, &online, &e),
			 0);
	assert_int_equal(online.c[SC_RECEIVED], 25);
	assert_int_equal(online.c[SC_SATISFIED], 10);
	/* another period: nothing */
	q.channel = NULL;
	q.from_day = q.to_day = workcal_days_from_civil(2026, 3, 3);
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL, &online, &e),
			 0);
	assert_int_equal(online.c[SC_RECEIVED], 0);
	stats_rates_compute(&online, &s, &x);
	assert_false(x.response.defined);
	assert_false(x.composite_defined);

	/* 49 of 50 solved is 98 %: meets the target exactly */
	memset(&t, 0, sizeof t);
	t.c[SC_DISPATCHED] = t.c[SC_RESPONDED] = t.c[SC_CLOSED] = t.c[SC_RATED] = 50;
	t.c[SC_SOLVED] = t.c[SC_SATISFIED] = 49;
	stats_rates_compute(&t, &s, &x);
	close_enough(x.resolution.percent, 98.0);
	assert_true(x.meets_target);

	/* the weights are settings; they must sum to 100 */
	assert_int_equal(db_begin(f->db, true, &e), 0);
	assert_int_equal(settings_set_int(f->db, &f->staff, "rates.weight_response", 20, &e), 0);
	assert_int_equal(settings_validate(f->db, f->tenant, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "rates.weight_response");
	assert_int_equal(settings_set_int(f->db, &f->staff, "rates.weight_resolution", 40, &e), 0);
	assert_int_equal(settings_validate(f->db, f->tenant, &e), 0);
	assert_int_equal(settings_set_int(f->db, &f->staff, "rates.basic_satisfied_percent", 50, &e),
			 0);
	assert_int_equal(db_commit(f->db, &e), 0);
	assert_int_equal(stats_settings_get(f->db, f->tenant, &s, &e), 0);
	t = totals(f, today, SD_NONE, 0);
	stats_rates_compute(&t, &s, &x);
	close_enough(x.satisfaction.percent, 2200.0 / 25); /* (20 + 0.5 × 4) / 25 */
	close_enough(x.composite, (20 * 90.0 + 40 * (2200.0 / 30) + 40 * (2200.0 / 25)) / 100);
}

/* ---- scope, trend buckets, ranking ---- */

struct collect {
	struct stats_group g[16];
	int n;
};

static int collect_group(const struct stats_group *g, void *ctx)
{
	struct collect *c = ctx;
	if (c->n < 16)
		c->g[c->n++] = *g;
	return 0;
}

struct periods {
	struct stats_period p[64];
	int n;
};

static int collect_period(const struct stats_period *p, void *ctx)
{
	struct periods *c = ctx;
	if (c->n < 64)
		c->p[c->n++] = *p;
	return 0;
}

static void test_scope_trend_ranking(void **state)
{
	struct fixture *f = *state;
	struct err e;
	/* one request per week from Monday 2026-03-02; alternately to amr-reg and tax */
	for (int w = 0; w < 6; w++) {
		int64_t t0 = at(2026, 3, 2 + 7 * w, 9, 0);
		int64_t id = create(f, t0, "help", "online", f->ent[0], 0);
		must(f, id, RA_DISPATCH, t0, &(struct act_opts){.department_id = w % 2 ? f->d_tax : f->d_reg});
		must(f, id, RA_SIGN, t0 + HOUR, NULL);
		must(f, id, RA_REPLY, t0 + 2 * HOUR, NULL);
		must(f, id, RA_RATE, t0 + 3 * HOUR,
		     &(struct act_opts){.rating = "satisfied", .solved = w != 2});
	}
	int64_t unsent = create(f, at(2026, 3, 3, 9, 0), "report", "hotline", 0, 0);
	(void)unsent;

	/* a department head of 市场监督管理局 sees amr and below only */
	struct actor head = {.tenant_id = f->tenant, .user_id = f->staff_id,
			     .department_id = f->d_amr, .roles = 1u << ROLE_DEPT_HEAD};
	snprintf(head.dept_path, sizeof head.dept_path, "/%lld/%lld/", (long long)f->d_gov,
		 (long long)f->d_amr);
	struct stats_query q = {.by = SD_DEPARTMENT, .from_day = workcal_days_from_civil(2026, 3, 1),
				.to_day = workcal_days_from_civil(2026, 4, 30),
				.today = workcal_days_from_civil(2026, 5, 1)};
	struct collect c = {0};
	struct stats_counts total;
	assert_int_equal(request_stats_query(f->db, &head, SCOPE_DEPT_TREE, &q, collect_group, &c,
					     &total, &e),
			 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.g[0].id, f->d_reg);
	assert_string_equal(c.g[0].name, "amr-reg");
	assert_int_equal(total.c[SC_RECEIVED], 3);
	memset(&c, 0, sizeof c);
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, collect_group, &c,
					     &total, &e),
			 0);
	assert_int_equal(c.n, 3); /* not dispatched, amr-reg, tax */
	assert_int_equal(c.g[0].id, 0);
	assert_string_equal(c.g[0].name, "未派单");
	assert_int_equal(total.c[SC_RECEIVED], 7);
	/* a scope the table cannot express reaches nothing */
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_SELF, &q, NULL, NULL, &total, &e),
			 0);
	assert_int_equal(total.c[SC_RECEIVED], 0);

	/* by type: names in Chinese */
	q.by = SD_TYPE;
	memset(&c, 0, sizeof c);
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, collect_group, &c, NULL,
					     &e),
			 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.g[0].code, "help");
	assert_string_equal(c.g[0].name, "求助");
	assert_int_equal(c.g[0].n.c[SC_RECEIVED], 6);
	assert_string_equal(c.g[1].code, "report");

	/* a filter on another dimension reads that dimension's cube ... */
	q.by = SD_DEPARTMENT;
	q.req_type = "report";
	memset(&c, 0, sizeof c);
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, collect_group, &c,
					     &total, &e),
			 0);
	assert_int_equal(c.n, 1); /* the report, not dispatched */
	assert_int_equal(c.g[0].id, 0);
	assert_int_equal(total.c[SC_RECEIVED], 1);
	/* ... and two dimensions besides the department are refused, naming the filter */
	q.by = SD_CATEGORY;
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL, NULL, &e),
			 ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "type");
	q.by = SD_NONE;
	q.grid_id = 7;
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL, NULL, &e),
			 ERR_UNPROCESSABLE);
	q.req_type = NULL;
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, NULL, NULL, &total, &e),
			 0);
	assert_int_equal(total.c[SC_RECEIVED], 6); /* ent[0] is in grid 7 */
	q.grid_id = 0;

	/* weekly buckets: ISO weeks 10..18 of 2026, one request in each of the first six */
	struct periods p = {0};
	q.by = SD_NONE;
	q.from_day = workcal_days_from_civil(2026, 3, 2);
	assert_int_equal(request_stats_trend(f->db, &f->staff, SCOPE_ALL, &q, SB_WEEK, 100,
					     collect_period, &p, &e),
			 0);
	assert_int_equal(p.n, 9);
	assert_string_equal(p.p[0].label, "2026-W10");
	assert_int_equal(p.p[0].first_day, workcal_days_from_civil(2026, 3, 2));
	assert_int_equal(p.p[0].n.c[SC_RECEIVED], 2); /* Monday's and Tuesday's */
	for (int i = 1; i < 6; i++)
		assert_int_equal(p.p[i].n.c[SC_RECEIVED], 1);
	assert_int_equal(p.p[8].last_day, workcal_days_from_civil(2026, 4, 30)); /* clipped */
	memset(&p, 0, sizeof p);
	assert_int_equal(request_stats_trend(f->db, &f->staff, SCOPE_ALL, &q, SB_MONTH, 100,
					     collect_period, &p, &e),
			 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.p[0].label, "2026-03");
	assert_int_equal(p.p[0].n.c[SC_RECEIVED], 6);
	assert_int_equal(p.p[1].n.c[SC_RECEIVED], 1);
	assert_int_equal(p.p[0].n.c[SC_SOLVED] + p.p[1].n.c[SC_SOLVED], 5);
	assert_int_equal(request_stats_trend(f->db, &f->staff, SCOPE_ALL, &q, SB_DAY, 30, NULL, NULL,
					     &e),
			 ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "bucket");
	/* ISO week of a year boundary: 2026-12-31 is in 2026-W53, 2027-01-04 starts 2027-W01 */
	q.from_day = workcal_days_from_civil(2026, 12, 28);
	q.to_day = workcal_days_from_civil(2027, 1, 10);
	memset(&p, 0, sizeof p);
	assert_int_equal(request_stats_trend(f->db, &f->staff, SCOPE_ALL, &q, SB_WEEK, 100,
					     collect_period, &p, &e),
			 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.p[0].label, "2026-W53");
	assert_string_equal(p.p[1].label, "2027-W01");

	/* ranking: tax (3 of 3 solved) above amr-reg (2 of 3) */
	struct stats_settings s;
	assert_int_equal(stats_settings_get(f->db, f->tenant, &s, &e), 0);
	struct stats_ranked v[3];
	memset(v, 0, sizeof v);
	q.by = SD_DEPARTMENT;
	q.from_day = workcal_days_from_civil(2026, 3, 1);
	q.to_day = workcal_days_from_civil(2026, 4, 30);
	memset(&c, 0, sizeof c);
	assert_int_equal(request_stats_query(f->db, &f->staff, SCOPE_ALL, &q, collect_group, &c, NULL,
					     &e),
			 0);
	int k = 0;
	for (int i = 0; i < c.n; i++) {
		v[k].g = c.g[i];
		stats_rates_compute(&c.g[i].n, &s, &v[k].r);
		k++;
	}
	stats_rank(v, (size_t)k);
	assert_int_equal(v[0].g.id, f->d_tax);
	assert_int_equal(v[0].rank, 1);
	assert_true(v[0].r.meets_target);
	assert_int_equal(v[1].g.id, f->d_reg);
	assert_int_equal(v[1].rank, 2);
	assert_false(v[1].r.meets_target);
	assert_int_equal(v[2].g.id, 0); /* not dispatched: no composite, last, unranked */
	assert_int_equal(v[2].rank, 0);
	/* equal composites share a rank */
	v[1].r = v[0].r;
	stats_rank(v, 2);
	assert_int_equal(v[0].rank, 1);
	assert_int_equal(v[1].rank, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contrib),
		cmocka_unit_test_setup_teardown(test_random_sequences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_and_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redispatch_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rates_by_hand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scope_trend_ranking, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
