/*
 * scheduler.c — the digital employee's ticks and threads; see scheduler.h.
 *
 * A tick reads candidates on the calling thread's reader connection (a light
 * query over the open and replied requests, paged by id), decides at most
 * one act per request with plan(), and runs the acts in batches: one write
 * job per batch, each act nested in its own savepoint, where plan() is run
 * again on the writer's view before anything is written. So a request that
 * a person changed between the read and the write is judged on what it is
 * now, and an act that is no longer due is simply not done.
 */
#include "jobs/scheduler.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/request.h"
#include "core/settings.h"
#include "core/workcal.h"
#include "db/db.h"
#include "jobs/jobs.h"
#include "jobs/notify.h"
#include "jobs/report.h"
#include "jobs/webhook.h"
#include "base/banned.h"

#define PAGE 256        /* candidate rows read at a time */
#define BATCH 32        /* acts per write job */
#define SEND_MAX 16     /* webhook deliveries sent concurrently per pass */
#define SEND_IDLE_MS 1000

static const char *const act_names[SCHED__COUNT] = {
	[SCHED_REMIND] = "remind_handle",   [SCHED_ESCALATE_1] = "escalate_1",
	[SCHED_ESCALATE_2] = "escalate_2",  [SCHED_VISIT_DUE] = "visit_due",
	[SCHED_AUTO_CLOSE] = "auto_close",  [SCHED_DAILY_REPORT] = "daily_report",
};

const char *scheduler_act_name(enum scheduler_act a)
{
	return (unsigned)a < SCHED__COUNT ? act_names[a] : "?";
}

/* ---- process totals (for /metrics) ---- */

static struct {
	atomic_uint_fast64_t acts[SCHED__COUNT];
	atomic_uint_fast64_t failed, ticks, sent, delivered, retrying, gave_up;
} totals;

static void add(atomic_uint_fast64_t *c, uint64_t v)
{
	if (v)
		atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void scheduler_totals(struct scheduler_counts *out)
{
	memset(out, 0, sizeof *out);
	for (int i = 0; i < SCHED__COUNT; i++)
		out->acts[i] = get(&totals.acts[i]);
	out->failed = get(&totals.failed);
	out->ticks = get(&totals.ticks);
	out->sent = get(&totals.sent);
	out->delivered = get(&totals.delivered);
	out->retrying = get(&totals.retrying);
	out->gave_up = get(&totals.gave_up);
}

void scheduler_metrics_render(struct buf *o)
{
	struct scheduler_counts c;
	scheduler_totals(&c);
	buf_adds(o, "# HELP yiqiban_scheduler_acts_total Acts of the digital employee (committed).\n"
		    "# TYPE yiqiban_scheduler_acts_total counter\n");
	for (int i = 0; i < SCHED__COUNT; i++)
		buf_addf(o, "yiqiban_scheduler_acts_total{act=\"%s\"} %" PRIu64 "\n", act_names[i],
			 c.acts[i]);
	buf_addf(o,
		 "# HELP yiqiban_scheduler_act_failures_total Acts rolled back (retried next tick).\n"
		 "# TYPE yiqiban_scheduler_act_failures_total counter\n"
		 "yiqiban_scheduler_act_failures_total %" PRIu64 "\n"
		 "# HELP yiqiban_scheduler_ticks_total Ticks of the digital employee.\n"
		 "# TYPE yiqiban_scheduler_ticks_total counter\n"
		 "yiqiban_scheduler_ticks_total %" PRIu64 "\n"
		 "# HELP yiqiban_webhook_attempts_total Webhook delivery attempts by outcome.\n"
		 "# TYPE yiqiban_webhook_attempts_total counter\n"
		 "yiqiban_webhook_attempts_total{outcome=\"delivered\"} %" PRIu64 "\n"
		 "yiqiban_webhook_attempts_total{outcome=\"retrying\"} %" PRIu64 "\n"
		 "yiqiban_webhook_attempts_total{outcome=\"failed\"} %" PRIu64 "\n",
		 c.failed, c.ticks, c.delivered, c.retrying, c.gave_up);
}

/* ---- one tenant's tick ---- */

struct tenant {
	struct db_pool *pool;
	struct actor who;        /* the digital employee of this tenant */
	struct workcal *cal;
	int64_t now;
	int fraction;            /* reminder.fraction_percent */
	int leader_days;         /* escalation.leader_after_days */
	int close_days;          /* visit.auto_close_days, 0 = the visit deadline */
};

/* What plan() needs of a request. */
struct clock {
	int64_t id;
	enum req_state state;
	int64_t dispatched_at, handle_due_at, replied_at, visit_due_at;
	int reopen_count;
};

struct act {
	enum scheduler_act kind; /* SCHED__COUNT = nothing due */
	int64_t request_id;
	int64_t round;           /* start of the watched clock */
};

static void clock_of(const struct request *r, struct clock *c)
{
	*c = (struct clock){.id = r->id, .state = r->state, .dispatched_at = r->dispatched_at,
			    .handle_due_at = r->handle_due_at, .replied_at = r->replied_at,
			    .visit_due_at = r->visit_due_at, .reopen_count = r->reopen_count};
}

/* The start of the handling clock: the dispatch, or a later reopening. */
static int clock_start(struct tenant *t, struct db *db, const struct clock *c, int64_t *out,
		       struct err *e)
{
	int64_t at = 0;
	*out = c->dispatched_at;
	if (c->reopen_count <= 0)
		return 0;
	int rc = db_query_i64(db, &at, e,
			      "SELECT COALESCE(MAX(at), 0) FROM request_events WHERE tenant_id = $1 "
			      "AND request_id = $2 AND action = 'reopen'",
			      "ii", t->who.tenant_id, c->id);
	if (!rc && at > *out)
		*out = at;
	return rc;
}

/* When the act was done on this clock, 0 if not yet. */
static int mark_at(struct tenant *t, struct db *db, int64_t request_id, enum scheduler_act k,
		   int64_t round, int64_t *done_at, struct err *e)
{
	struct db_stmt *st = NULL;
	*done_at = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT done_at FROM job_marks WHERE tenant_id = $1 AND request_id = $2 "
			   "AND kind = $3 AND round = $4",
			   "iiti", t->who.tenant_id, request_id, act_names[k], round);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		*done_at = db_column_int64(st, 0);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* The one act due for a request at t->now, if any (a->kind = SCHED__COUNT if none). */
static int plan(struct tenant *t, struct db *db, const struct clock *c, struct act *a,
		struct err *e)
{
	int64_t start, done, at;
	int rc;

	*a = (struct act){.kind = SCHED__COUNT, .request_id = c->id};
	bool open = c->state == RS_DISPATCHED || c->state == RS_SIGNED || c->state == RS_IN_PROGRESS;
	if (open && c->handle_due_at > 0 && c->dispatched_at > 0) {
		if ((rc = clock_start(t, db, c, &start, e)))
			return rc;
		a->round = start;
		if (t->now > c->handle_due_at) {
			if ((rc = mark_at(t, db, c->id, SCHED_ESCALATE_1, start, &done, e)))
				return rc;
			if (!done) {
				a->kind = SCHED_ESCALATE_1;
				return 0;
			}
			/* the leaders once the department heads had their working days */
			if (workcal_add_workdays(t->cal, done, t->leader_days, &at, NULL) || t->now <= at)
				return 0;
			if ((rc = mark_at(t, db, c->id, SCHED_ESCALATE_2, start, &done, e)))
				return rc;
			if (!done)
				a->kind = SCHED_ESCALATE_2;
			return 0;
		}
		if (workcal_state(t->cal, t->now, start, c->handle_due_at, t->fraction / 100.0, NULL) ==
		    WORKCAL_DUE_SOON) {
			if ((rc = mark_at(t, db, c->id, SCHED_REMIND, start, &done, e)))
				return rc;
			if (!done)
				a->kind = SCHED_REMIND;
		}
		return 0;
	}
	if (c->state == RS_REPLIED && c->replied_at > 0) {
		a->round = c->replied_at;
		at = c->visit_due_at;
		if (t->close_days > 0 &&
		    workcal_add_workdays(t->cal, c->replied_at, t->close_days, &at, NULL))
			at = 0;
		enum scheduler_act k = at > 0 && t->now > at ? SCHED_AUTO_CLOSE : SCHED_VISIT_DUE;
		if ((rc = mark_at(t, db, c->id, k, c->replied_at, &done, e)))
			return rc;
		if (!done)
			a->kind = k;
	}
	return 0;
}

/* ---- recipients ---- */

struct ids {
	int64_t *v;
	size_t n, cap;
};

static void ids_add(struct ids *s, int64_t v)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == v)
			return;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = v;
}

static json_t *ids_json(const struct ids *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(a, json_integer(s->v[i]));
	return a;
}

/* Active users holding role, in dept (0 = anywhere). */
static int with_role(struct tenant *t, struct db *db, const char *role, int64_t dept,
		     struct ids *out, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT u.id FROM users u JOIN user_roles ur ON ur.tenant_id = u.tenant_id "
			   "AND ur.user_id = u.id WHERE u.tenant_id = $1 AND ur.role = $2 AND "
			   "u.status = 'active' AND ($3 = 0 OR u.department_id = $3) ORDER BY u.id",
			   "iti", t->who.tenant_id, role, dept);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW)
		ids_add(out, db_column_int64(st, 0));
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* The department heads of the nearest department at or above dept_path that has any. */
static int dept_heads(struct tenant *t, struct db *db, const char *dept_path, struct ids *out,
		      struct err *e)
{
	struct db_stmt *st = NULL;
	if (!dept_path || !*dept_path)
		return 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT u.id, LENGTH(d.path) FROM users u JOIN user_roles ur ON "
			   "ur.tenant_id = u.tenant_id AND ur.user_id = u.id AND ur.role = 'dept_head' "
			   "JOIN departments d ON d.id = u.department_id WHERE u.tenant_id = $1 AND "
			   "u.status = 'active' AND d.path <> '' AND $2 LIKE d.path || '%' "
			   "ORDER BY LENGTH(d.path) DESC, u.id",
			   "it", t->who.tenant_id, dept_path);
	if (rc)
		return rc;
	int64_t depth = -1;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (depth >= 0 && db_column_int64(st, 1) != depth)
			break;
		depth = db_column_int64(st, 1);
		ids_add(out, db_column_int64(st, 0));
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static int notify_each(struct tenant *t, struct db *db, const struct ids *to,
		       enum scheduler_act k, const char *title, const char *body, int64_t request_id,
		       struct err *e)
{
	int rc = 0;
	for (size_t i = 0; i < to->n && !rc; i++)
		rc = notify_add(db, t->who.tenant_id, to->v[i], act_names[k], title, body, request_id,
				t->now, NULL, e);
	return rc;
}

/* "2025-09-30 23:59" (Shanghai) */
static void local_text(int64_t ms, char *out, size_t n)
{
	int y, m, d;
	int64_t in_day = workcal_local_ms(ms) / 60000;
	workcal_civil_from_days(workcal_local_day(ms), &y, &m, &d);
	snprintf(out, n, "%04d-%02d-%02d %02d:%02d", y, m, d, (int)(in_day / 60), (int)(in_day % 60));
}

/* Audit the act and tell the webhooks ("notice.<kind>"). */
static int record(struct tenant *t, struct db *db, const struct request *r, enum scheduler_act k,
		  int64_t round, const struct ids *to, json_t *extra, struct err *e)
{
	json_t *sum = json_pack("{s:s,s:I,s:o}", "kind", act_names[k], "round", (json_int_t)round,
				"recipients", ids_json(to));
	if (extra)
		json_object_update(sum, extra);
	int rc = audit_append(db, &t->who, t->who.tenant_id, "request", r->id, act_names[k], sum, e);
	if (!rc) {
		char event[48];
		json_t *data = json_pack(
			"{s:s,s:o,s:{s:I,s:s,s:s,s:I,s:I,s:I,s:i}}", "kind", act_names[k], "recipients",
			ids_json(to), "request", "id", (json_int_t)r->id, "number", r->number, "title",
			r->title, "department_id", (json_int_t)r->department_id, "handle_due_at",
			(json_int_t)r->handle_due_at, "visit_due_at", (json_int_t)r->visit_due_at,
			"supervision_level", r->supervision_level);
		if (extra)
			json_object_update(data, extra);
		snprintf(event, sizeof event, "notice.%s", act_names[k]);
		rc = webhook_emit(db, t->who.tenant_id, event, data, t->now, NULL, e);
		json_decref(data);
	}
	json_decref(sum);
	return rc;
}

static int supervise(struct tenant *t, struct db *db, const struct request *r, int level,
		     const char *note, struct err *e)
{
	struct request_step s = {.who = &t->who, .scope = SCOPE_ALL, .tenant_id = t->who.tenant_id,
				 .id = r->id, .action = RA_SUPERVISE, .level = level,
				 .internal_note = note, .now = t->now, .cal = t->cal};
	return request_act(db, &s, e);
}

struct act_job {
	struct tenant *t;
	const struct act *a;
	bool done; /* out: the act was done (false: no longer due) */
};

/* Write job: one act, re-planned on the writer's view, with its mark. */
static int do_act(struct db *db, void *arg, struct err *e)
{
	struct act_job *j = arg;
	struct tenant *t = j->t;
	const struct act *a = j->a;
	struct ids to = {0};
	struct request r;
	struct clock c;
	struct act due;
	char title[NOTIFY_TITLE_MAX], body[NOTIFY_BODY_MAX], when[32], when2[32], note[256];
	json_t *extra = NULL;
	int rc;

	j->done = false;
	rc = request_get(db, t->who.tenant_id, a->request_id, &r, e);
	if (rc == ERR_NOT_FOUND) {
		err_clear(e);
		return 0;
	}
	if (rc)
		return rc;
	clock_of(&r, &c);
	if ((rc = plan(t, db, &c, &due, e)))
		goto out;
	if (due.kind != a->kind || due.round != a->round)
		goto out; /* changed meanwhile */
	if ((rc = db_execf(db, e,
			   "INSERT INTO job_marks (tenant_id, request_id, kind, round, done_at) "
			   "VALUES ($1, $2, $3, $4, $5)",
			   "iitii", t->who.tenant_id, r.id, act_names[a->kind], a->round, t->now)))
		goto out;

	switch (a->kind) {
	case SCHED_REMIND: {
		int64_t used = workcal_workms_between(t->cal, a->round, t->now, NULL);
		int64_t all = workcal_workms_between(t->cal, a->round, r.handle_due_at, NULL);
		int pct = all > 0 ? (int)(used * 100 / all) : 100;
		if (r.handler_id)
			ids_add(&to, r.handler_id);
		else if ((rc = with_role(t, db, "handler", r.department_id, &to, e)))
			break;
		local_text(r.handle_due_at, when, sizeof when);
		snprintf(title, sizeof title, "诉求即将到期：%s", r.number);
		snprintf(body, sizeof body, "“%s”已用去办理时限的 %d%%，请在 %s 前答复。", r.title, pct,
			 when);
		extra = json_pack("{s:i}", "percent", pct);
		if (!(rc = notify_each(t, db, &to, a->kind, title, body, r.id, e)))
			rc = record(t, db, &r, a->kind, a->round, &to, extra, e);
		break;
	}
	case SCHED_ESCALATE_1:
		if ((rc = dept_heads(t, db, r.dept_path, &to, e)) ||
		    (!to.n && (rc = with_role(t, db, "leader", 0, &to, e))))
			break;
		local_text(r.handle_due_at, when, sizeof when);
		if ((rc = supervise(t, db, &r, 1,
				    "超过办理期限仍未答复，数字员工自动督办（一级），已通知部门负责人", e)))
			break;
		snprintf(title, sizeof title, "诉求超期，已自动督办：%s", r.number);
		snprintf(body, sizeof body,
			 "“%s”（%s）的办理期限 %s 已过，仍未答复。数字员工已发起一级督办，请督促办理。",
			 r.title, r.department_name, when);
		extra = json_pack("{s:i}", "level", 1);
		if (!(rc = notify_each(t, db, &to, a->kind, title, body, r.id, e)))
			rc = record(t, db, &r, a->kind, a->round, &to, extra, e);
		break;
	case SCHED_ESCALATE_2:
		if ((rc = with_role(t, db, "leader", 0, &to, e)))
			break;
		local_text(r.handle_due_at, when, sizeof when);
		snprintf(note, sizeof note,
			 "一级督办后 %d 个工作日仍未答复，数字员工升级为二级督办，已通知领导",
			 t->leader_days);
		if ((rc = supervise(t, db, &r, 2, note, e)))
			break;
		snprintf(title, sizeof title, "诉求超期未办结，已升级督办：%s", r.number);
		snprintf(body, sizeof body,
			 "“%s”（%s）的办理期限 %s 已过，一级督办后 %d 个工作日仍未答复，已升级为二级督办。",
			 r.title, r.department_name, when, t->leader_days);
		extra = json_pack("{s:i}", "level", 2);
		if (!(rc = notify_each(t, db, &to, a->kind, title, body, r.id, e)))
			rc = record(t, db, &r, a->kind, a->round, &to, extra, e);
		break;
	case SCHED_VISIT_DUE:
		if ((rc = with_role(t, db, "dispatcher", 0, &to, e)))
			break;
		local_text(r.replied_at, when, sizeof when);
		if (r.visit_due_at)
			local_text(r.visit_due_at, when2, sizeof when2);
		else
			snprintf(when2, sizeof when2, "回访期限");
		snprintf(title, sizeof title, "待回访：%s", r.number);
		snprintf(body, sizeof body,
			 "“%s”已于 %s 答复，请在 %s 前完成回访评价；逾期未评价的将自动以“未评价”办结。",
			 r.title, when, when2);
		if (!(rc = notify_each(t, db, &to, a->kind, title, body, r.id, e)))
			rc = record(t, db, &r, a->kind, a->round, &to, NULL, e);
		break;
	case SCHED_AUTO_CLOSE: {
		struct request_step s = {.who = &t->who, .scope = SCOPE_ALL,
					 .tenant_id = t->who.tenant_id, .id = r.id,
					 .action = RA_AUTO_CLOSE,
					 .public_note = "回访期限内未评价，系统自动办结（未评价）",
					 .now = t->now, .cal = t->cal};
		rc = request_act(db, &s, e); /* audited and told to webhooks there */
		break;
	}
	case SCHED_DAILY_REPORT:
	case SCHED__COUNT:
		break;
	}
	j->done = rc == 0;
out:
	json_decref(extra);
	free(to.v);
	request_release(&r);
	return rc;
}

struct batch {
	struct tenant *t;
	const struct act *acts;
	size_t n;
	bool done[BATCH];
	struct err errs[BATCH]; /* of the acts that failed */
	int rcs[BATCH];
};

/* Write job: up to BATCH acts, each in its own nested savepoint. */
static int run_batch(struct db *db, void *arg, struct err *e)
{
	struct batch *b = arg;
	(void)db;
	(void)e;
	for (size_t i = 0; i < b->n; i++) {
		struct act_job j = {b->t, &b->acts[i], false};
		b->rcs[i] = db_pool_write(b->t->pool, do_act, &j, &b->errs[i]);
		b->done[i] = b->rcs[i] == 0 && j.done;
	}
	return 0;
}

/* Candidates after id `after`: the open and replied requests. */
static int load_page(struct tenant *t, struct db *db, int64_t after, struct clock *page,
		     size_t *n, struct err *e)
{
	struct db_stmt *st = NULL;
	*n = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, state, dispatched_at, handle_due_at, replied_at, visit_due_at, "
			   "reopen_count FROM requests WHERE tenant_id = $1 AND state IN ('dispatched', "
			   "'signed', 'in_progress', 'replied') AND id > $2 ORDER BY id LIMIT $3",
			   "iii", t->who.tenant_id, after, (int64_t)PAGE);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW && *n < PAGE) {
		int s = req_state_parse(db_column_text(st, 1));
		page[(*n)++] = (struct clock){
			.id = db_column_int64(st, 0),
			.state = s < 0 ? RS_RECEIVED : (enum req_state)s,
			.dispatched_at = db_column_int64(st, 2),
			.handle_due_at = db_column_int64(st, 3),
			.replied_at = db_column_int64(st, 4),
			.visit_due_at = db_column_int64(st, 5),
			.reopen_count = (int)db_column_int64(st, 6),
		};
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

struct report_job {
	struct tenant *t;
	const char *day;
	json_t *body;
	bool created; /* out */
};

/* Write job: store the day's report once and tell the leaders. */
static int store_report(struct db *db, void *arg, struct err *e)
{
	struct report_job *j = arg;
	struct tenant *t = j->t;
	struct ids to = {0};
	char title[NOTIFY_TITLE_MAX], body[NOTIFY_BODY_MAX];
	bool exists = false;
	char *s = NULL;
	int rc;

	j->created = false;
	if ((rc = report_daily_exists(db, t->who.tenant_id, j->day, &exists, e)) || exists)
		return rc;
	s = json_dumps(j->body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return err_set(e, ERR_INTERNAL, NULL, "无法生成日报", "cannot encode the daily report");
	if ((rc = db_execf(db, e,
			   "INSERT INTO daily_reports (tenant_id, day, body, created_at) "
			   "VALUES ($1, $2, $3, $4)",
			   "itti", t->who.tenant_id, j->day, s, t->now)) ||
	    (rc = with_role(t, db, "leader", 0, &to, e)))
		goto out;
	json_t *tot = json_object_get(j->body, "totals");
#define N(k) (long long)json_integer_value(json_object_get(tot, k))
	snprintf(title, sizeof title, "诉求日报 %s", j->day);
	snprintf(body, sizeof body,
		 "%s：受理 %lld 件，派单 %lld 件，答复 %lld 件，办结 %lld 件；截至日终超期未办结 %lld 件。",
		 j->day, N("received"), N("dispatched"), N("replied"), N("closed"), N("overdue"));
#undef N
	if ((rc = notify_each(t, db, &to, SCHED_DAILY_REPORT, title, body, 0, e)))
		goto out;
	json_t *sum = json_pack("{s:s,s:O,s:o}", "day", j->day, "totals", tot, "recipients",
				ids_json(&to));
	rc = audit_append(db, &t->who, t->who.tenant_id, "daily_report", 0, "create", sum, e);
	json_decref(sum);
	if (!rc)
		rc = webhook_emit(db, t->who.tenant_id, "notice.daily_report", j->body, t->now, NULL, e);
	j->created = rc == 0;
out:
	free(s);
	free(to.v);
	return rc;
}

static int daily(struct tenant *t, struct db *db, struct scheduler_counts *done, struct err *e)
{
	char day[16];
	bool exists = false;
	json_t *body = NULL;
	int64_t d = workcal_local_day(t->now) - 1; /* the day that just ended */
	workcal_format_date(d, day, sizeof day);
	int rc = report_daily_exists(db, t->who.tenant_id, day, &exists, e);
	if (rc || exists)
		return rc;
	if ((rc = report_daily_build(db, t->who.tenant_id, d, t->now, &body, e)))
		return rc;
	struct report_job j = {t, day, body, false};
	rc = db_pool_write(t->pool, store_report, &j, e);
	json_decref(body);
	if (!rc && j.created) {
		done->acts[SCHED_DAILY_REPORT]++;
		add(&totals.acts[SCHED_DAILY_REPORT], 1);
		/* once a day too: old webhook deliveries go */
		struct webhook_purge p = {.who = &t->who, .now = t->now};
		rc = db_pool_write(t->pool, webhook_purge, &p, e);
	}
	return rc;
}

static int setting(struct db *db, int64_t tenant_id, const char *key, int *out, struct err *e)
{
	int64_t v = 0;
	int rc = settings_get_int(db, tenant_id, key, &v, e);
	*out = (int)v;
	return rc;
}

static int tick_tenant(struct db_pool *pool, int64_t tenant_id, int64_t now,
		       struct scheduler_counts *done, struct err *e)
{
	struct tenant t = {.pool = pool, .now = now};
	struct act *acts = NULL;
	struct clock *page = xcalloc(PAGE, sizeof *page);
	size_t nacts = 0, cap = 0, n;
	int64_t after = 0;
	int rc;

	jobs_actor(&t.who, tenant_id);
	struct db *db = db_pool_reader(pool, e);
	if (!db) {
		rc = e->code ? e->code : ERR_UNAVAILABLE;
		goto out;
	}
	if ((rc = setting(db, tenant_id, "reminder.fraction_percent", &t.fraction, e)) ||
	    (rc = setting(db, tenant_id, "escalation.leader_after_days", &t.leader_days, e)) ||
	    (rc = setting(db, tenant_id, "visit.auto_close_days", &t.close_days, e)) ||
	    (rc = workcal_acquire(pool, &t.who, &t.cal, e)))
		goto out;
	do {
		if ((rc = load_page(&t, db, after, page, &n, e)))
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct act a;
			if ((rc = plan(&t, db, &page[i], &a, e)))
				goto out;
			if (a.kind == SCHED__COUNT)
				continue;
			if (nacts == cap) {
				cap = cap ? 2 * cap : 64;
				acts = xrealloc(acts, cap * sizeof *acts);
			}
			acts[nacts++] = a;
		}
		if (n)
			after = page[n - 1].id;
	} while (n == PAGE);

	for (size_t i = 0; i < nacts; i += BATCH) {
		struct batch *b = xcalloc(1, sizeof *b);
		b->t = &t;
		b->acts = acts + i;
		b->n = nacts - i < BATCH ? nacts - i : BATCH;
		struct err be;
		err_clear(&be);
		int brc = db_pool_write(pool, run_batch, b, &be);
		for (size_t k = 0; k < b->n; k++) {
			if (!brc && b->done[k]) {
				done->acts[b->acts[k].kind]++;
				add(&totals.acts[b->acts[k].kind], 1);
			} else if (brc || b->rcs[k]) {
				done->failed++;
				add(&totals.failed, 1);
				const struct err *ke = brc ? &be : &b->errs[k];
				log_warn("digital employee: %s of request %" PRId64 " (tenant %" PRId64
					 ") failed: %s",
					 act_names[b->acts[k].kind], b->acts[k].request_id, tenant_id,
					 ke->message);
			}
		}
		free(b);
	}
	rc = daily(&t, db, done, e);
out:
	workcal_unref(t.cal);
	free(page);
	free(acts);
	return rc;
}

int scheduler_tick(struct db_pool *pool, int64_t now, struct scheduler_counts *done,
		   struct err *e)
{
	struct scheduler_counts local = {0};
	struct db_stmt *st = NULL;
	int64_t *tenants = NULL;
	size_t n = 0, cap = 0;
	int rc, first = 0;

	if (!done)
		done = &local;
	struct db *db = db_pool_reader(pool, e);
	if (!db)
		return e->code ? e->code : ERR_UNAVAILABLE;
	if ((rc = db_queryf(db, &st, e, "SELECT id FROM tenants ORDER BY id", NULL)))
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			tenants = xrealloc(tenants, cap * sizeof *tenants);
		}
		tenants[n++] = db_column_int64(st, 0);
	}
	db_finalize(st);
	if (rc < 0) {
		free(tenants);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct err te;
		err_clear(&te);
		if ((rc = tick_tenant(pool, tenants[i], now, done, &te)) && !first) {
			first = rc;
			*e = te;
		}
	}
	free(tenants);
	done->ticks++;
	add(&totals.ticks, 1);
	return first;
}

/* ---- the threads ---- */

struct scheduler {
	struct db_pool *pool;
	int interval_s;
	pthread_t ticker, sender;
	bool ticker_started, sender_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* CLOCK_MONOTONIC: stop, first tick done */
	bool stopping;
	bool first_done;
};

/* Wait up to ms unless stopping; called with mu held. */
static void nap(struct scheduler *s, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!s->stopping)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
			break;
}

static void *ticker_main(void *arg)
{
	struct scheduler *s = arg;
	for (;;) {
		struct scheduler_counts c = {0};
		struct err e;
		err_clear(&e);
		if (scheduler_tick(s->pool, now_ms(), &c, &e))
			log_warn("digital employee: tick failed: %s", e.message);
		uint64_t total = c.failed;
		for (int i = 0; i < SCHED__COUNT; i++)
			total += c.acts[i];
		if (total)
			log_info("digital employee: %" PRIu64 " reminders, %" PRIu64 "+%" PRIu64
				 " escalations, %" PRIu64 " visit notices, %" PRIu64
				 " auto-closed, %" PRIu64 " reports, %" PRIu64 " failed",
				 c.acts[SCHED_REMIND], c.acts[SCHED_ESCALATE_1], c.acts[SCHED_ESCALATE_2],
				 c.acts[SCHED_VISIT_DUE], c.acts[SCHED_AUTO_CLOSE],
				 c.acts[SCHED_DAILY_REPORT], c.failed);
		pthread_mutex_lock(&s->mu);
		s->first_done = true;
		pthread_cond_broadcast(&s->cv);
		nap(s, (int64_t)s->interval_s * 1000);
		bool stop = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
	}
	return NULL;
}

static void *sender_main(void *arg)
{
	struct scheduler *s = arg;
	int64_t last_warn = 0;
	for (;;) {
		struct webhook_send_stats st = {0};
		struct err e;
		err_clear(&e);
		if (webhook_send_due(s->pool, now_ms(), SEND_MAX, &st, &e) &&
		    now_ms() - last_warn > 60000) {
			log_warn("webhooks: sending failed: %s", e.message);
			last_warn = now_ms();
		}
		add(&totals.sent, (uint64_t)st.attempted);
		add(&totals.delivered, (uint64_t)st.delivered);
		add(&totals.retrying, (uint64_t)st.retrying);
		add(&totals.gave_up, (uint64_t)st.failed);
		pthread_mutex_lock(&s->mu);
		if (st.attempted < SEND_MAX)
			nap(s, SEND_IDLE_MS);
		bool stop = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
	}
	return NULL;
}

int scheduler_start(struct db_pool *pool, int interval_s, struct scheduler **out, struct err *e)
{
	struct scheduler *s = xcalloc(1, sizeof *s);

	*out = NULL;
	s->pool = pool;
	s->interval_s = interval_s >= 1 ? interval_s : 1;
	pthread_mutex_init(&s->mu, NULL);
	cond_init_monotonic(&s->cv);
	if (!thread_start(&s->ticker, ticker_main, s, "yq-scheduler")) {
		scheduler_stop(s);
		return err_set(e, ERR_INTERNAL, NULL, "无法启动数字员工线程",
			       "cannot start the scheduler thread");
	}
	s->ticker_started = true;
	/* the first tick is done before the server is announced: tests and
	 * operators see a settled state */
	pthread_mutex_lock(&s->mu);
	while (!s->first_done)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (!thread_start(&s->sender, sender_main, s, "yq-webhooks")) {
		scheduler_stop(s);
		return err_set(e, ERR_INTERNAL, NULL, "无法启动回调发送线程",
			       "cannot start the webhook sender thread");
	}
	s->sender_started = true;
	*out = s;
	return 0;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->ticker_started)
		pthread_join(s->ticker, NULL);
	if (s->sender_started)
		pthread_join(s->sender, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
