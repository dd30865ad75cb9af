/*
 * test_scheduler.c — the digital employee (src/jobs): reminders, escalation,
 * return-visit notices, auto-close and daily reports at injected times on the
 * 2025 calendar; nothing done twice, also after a "restart" (a new pool on
 * the same file); webhooks: URL checks, filters, signatures (checked against
 * an HMAC computed here from SHA-256), delivery to a receiver thread and to
 * a closed port, and the back-off schedule.
 *
 * The fixture builds a SQLite file with the real migrations, a district
 * gov > amr > amr-reg, a handler in amr-reg, a department head in amr (none
 * in amr-reg: escalation goes up the tree), a leader, a disabled leader and a
 * dispatcher, and opens the real pool (group-committing writer thread).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "core/audit.h"
#include "core/request.h"
#include "core/settings.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "jobs/jobs.h"
#include "jobs/notify.h"
#include "jobs/report.h"
#include "jobs/scheduler.h"
#include "jobs/webhook.h"
#include "base/banned.h"

struct fixture {
	char dir[64];
	char path[128];
	struct db_pool *pool;
	int64_t tenant;
	int64_t d_gov, d_amr, d_reg;
	int64_t u_handler, u_head, u_leader, u_leader_off, u_dispatcher;
	struct actor dispatcher, handler;
	struct workcal *cal;
};

/* 2025-MM-DD HH:MM in Shanghai as UTC ms. */
static int64_t at(int m, int d, int hh, int mm)
{
	return workcal_utc_ms(workcal_days_from_civil(2025, m, d), ((int64_t)hh * 60 + mm) * 60000);
}

/* ---- fixture ---- */

static int64_t insert(struct db *db, const char *sql, const char *types, int64_t a, int64_t b,
		      const char *t1, const char *t2)
{
	struct err e;
	int64_t id = 0;
	int rc;
	if (!strcmp(types, "tt"))
		rc = db_query_i64(db, &id, &e, sql, types, t1, t2);
	else if (!strcmp(types, "iIt"))
		rc = db_query_i64(db, &id, &e, sql, types, a, b, t1);
	else if (!strcmp(types, "itIt"))
		rc = db_query_i64(db, &id, &e, sql, types, a, t1, b, t2);
	else
		rc = -1;
	if (rc)
		fail_msg("%s: %s", sql, e.message);
	return id;
}

static int64_t add_dept(struct db *db, int64_t tenant, const char *code, int64_t parent)
{
	struct err e;
	int64_t id = insert(db,
			    "INSERT INTO departments (tenant_id, parent_id, code, name, created_at, "
			    "updated_at) VALUES ($1, $2, $3, $3, 0, 0) RETURNING id",
			    "iIt", tenant, parent, code, NULL);
	assert_int_equal(db_execf(db, &e,
				  "UPDATE departments SET path = COALESCE((SELECT p.path FROM departments p "
				  "WHERE p.id = $1), '/') || id || '/' WHERE id = $2",
				  "Ii", parent, id),
			 0);
	return id;
}

static int64_t add_user(struct db *db, int64_t tenant, const char *login, const char *role,
			int64_t dept, const char *status)
{
	struct err e;
	int64_t id = insert(db,
			    "INSERT INTO users (tenant_id, login, display_name, department_id, "
			    "password_hash, status, password_changed_at, created_at, updated_at) "
			    "VALUES ($1, $2, $2, $3, 'x', $4, 0, 0, 0) RETURNING id",
			    "itIt", tenant, dept, login, status);
	assert_int_equal(db_execf(db, &e,
				  "INSERT INTO user_roles (tenant_id, user_id, role) VALUES ($1, $2, $3)",
				  "iit", tenant, id, role),
			 0);
	return id;
}

static struct actor person(struct fixture *f, int64_t id, enum role role, int64_t dept)
{
	struct actor a = {.tenant_id = f->tenant, .user_id = id, .department_id = dept,
			  .roles = 1u << role};
	snprintf(a.login, sizeof a.login, "u%lld", (long long)id);
	snprintf(a.display_name, sizeof a.display_name, "用户%lld", (long long)id);
	return a;
}

static void open_pool(struct fixture *f)
{
	struct err e;
	if (db_pool_open(f->path, NULL, &f->pool, &e))
		fail_msg("pool: %s", e.message);
	if (workcal_acquire(f->pool, &f->dispatcher, &f->cal, &e))
		fail_msg("calendar: %s", e.message);
}

static void close_pool(struct fixture *f)
{
	workcal_unref(f->cal);
	f->cal = NULL;
	db_pool_free(f->pool);
	f->pool = NULL;
	workcal_cache_clear();
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct db *db = NULL;
	struct err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-sched-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &db, &e), 0);
	assert_int_equal(migrate_up(db, NULL, &e), 0);
	f->tenant = insert(db, "INSERT INTO tenants (code, name, created_at) VALUES ($1, $2, 0) "
			       "RETURNING id",
			   "tt", 0, 0, "erqi", "二七区");
	f->d_gov = add_dept(db, f->tenant, "gov", 0);
	f->d_amr = add_dept(db, f->tenant, "amr", f->d_gov);
	f->d_reg = add_dept(db, f->tenant, "amr-reg", f->d_amr);
	f->u_handler = add_user(db, f->tenant, "handler", "handler", f->d_reg, "active");
	f->u_head = add_user(db, f->tenant, "head", "dept_head", f->d_amr, "active");
	f->u_leader = add_user(db, f->tenant, "leader", "leader", f->d_gov, "active");
	f->u_leader_off = add_user(db, f->tenant, "leader2", "leader", f->d_gov, "disabled");
	f->u_dispatcher = add_user(db, f->tenant, "dispatcher", "dispatcher", f->d_gov, "active");
	db_close(db);
	f->dispatcher = person(f, f->u_dispatcher, ROLE_DISPATCHER, f->d_gov);
	f->handler = person(f, f->u_handler, ROLE_HANDLER, f->d_reg);
	webhook_set_allow_private(false);
	open_pool(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	close_pool(f);
	unlink(f->path);
	snprintf(p, sizeof p, "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	webhook_set_allow_private(false);
	return 0;
}

/* ---- helpers ---- */

static int64_t q(struct fixture *f, const char *sql, int64_t a, int64_t b)
{
	struct err e;
	int64_t v = -1;
	struct db *db = db_pool_reader(f->pool, &e);
	assert_non_null(db);
	if (db_query_i64(db, &v, &e, sql, "ii", a, b))
		fail_msg("%s: %s", sql, e.message);
	return v;
}

static int64_t notes(struct fixture *f, int64_t user, const char *kind)
{
	struct err e;
	int64_t v = -1;
	struct db *db = db_pool_reader(f->pool, &e);
	if (db_query_i64(db, &v, &e,
			 "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 "
			 "AND kind = $3",
			 "iit", f->tenant, user, kind))
		fail_msg("notes: %s", e.message);
	return v;
}

static int64_t submit(struct fixture *f, int64_t now)
{
	struct err e;
	struct request_create c = {.who = &f->dispatcher, .tenant_id = f->tenant, .now = now,
				   .in = {.channel = "hall", .req_type = "help",
					  .title = "营业执照变更咨询", .content = "请帮忙办理变更登记"}};
	if (db_pool_write(f->pool, request_create, &c, &e))
		fail_msg("submit: %s", e.message);
	return c.id;
}

static int act(struct fixture *f, const struct actor *who, int64_t id, enum req_action a,
	       int64_t now, struct err *e)
{
	struct request_step s = {.who = who, .scope = SCOPE_ALL, .tenant_id = f->tenant, .id = id,
				 .action = a, .department_id = f->d_reg, .now = now, .cal = f->cal,
				 .public_note = "已办理完毕", .level = 3};
	return db_pool_write(f->pool, request_act, &s, e);
}

static void must(struct fixture *f, const struct actor *who, int64_t id, enum req_action a,
		 int64_t now)
{
	struct err e;
	if (act(f, who, id, a, now, &e))
		fail_msg("%s: %s", req_action_name(a), e.message);
}

/* A tick at now; returns the acts of the kind, and checks nothing failed. */
static struct scheduler_counts tick(struct fixture *f, int64_t now)
{
	struct scheduler_counts c = {0};
	struct err e;
	if (scheduler_tick(f->pool, now, &c, &e))
		fail_msg("tick: %s", e.message);
	assert_int_equal(c.failed, 0);
	assert_int_equal(c.ticks, 1);
	return c;
}

static uint64_t total(const struct scheduler_counts *c)
{
	uint64_t n = 0;
	for (int i = 0; i < SCHED__COUNT; i++)
		n += c->acts[i];
	return n;
}

static struct request get_req(struct fixture *f, int64_t id)
{
	struct request r;
	struct err e;
	if (request_get(db_pool_reader(f->pool, &e), f->tenant, id, &r, &e))
		fail_msg("get: %s", e.message);
	return r;
}

/* ---- the loop ---- */

static void test_limits_of_the_fixture(void **state)
{
	struct fixture *f = *state;
	int64_t id = submit(f, at(9, 22, 10, 0));
	must(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 10, 0));
	struct request r = get_req(f, id);
	/* help: 5 working days; Sun 09-28 is a make-up working day */
	assert_int_equal(r.handle_due_at, at(9, 28, 23, 59) + 59999);
	request_release(&r);
}

static void test_reminder_escalation_visit_close(void **state)
{
	struct fixture *f = *state;
	struct scheduler_counts c;
	struct request r;
	struct err e;

	int64_t id = submit(f, at(9, 22, 10, 0));
	must(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 10, 0));
	must(f, &f->handler, id, RA_SIGN, at(9, 22, 10, 30));
	/* a second request, paused: its clock stands still, nothing is done to it */
	int64_t paused = submit(f, at(9, 22, 10, 0));
	must(f, &f->dispatcher, paused, RA_DISPATCH, at(9, 22, 10, 0));
	must(f, &f->handler, paused, RA_SIGN, at(9, 22, 10, 30));
	must(f, &f->handler, paused, RA_PAUSE, at(9, 23, 10, 0));

	/* the daily report of 09-22, once */
	c = tick(f, at(9, 23, 1, 0));
	assert_int_equal(c.acts[SCHED_DAILY_REPORT], 1);
	assert_int_equal(total(&c), 1);
	assert_int_equal(notes(f, f->u_leader, "daily_report"), 1);
	assert_int_equal(notes(f, f->u_leader_off, "daily_report"), 0); /* disabled */
	c = tick(f, at(9, 23, 5, 0));
	assert_int_equal(total(&c), 0);
	json_t *rep = NULL;
	assert_int_equal(report_daily_get(db_pool_reader(f->pool, &e), f->tenant, "2025-09-22", &rep,
					  &e),
			 0);
	json_t *tot = json_object_get(rep, "totals");
	assert_int_equal(json_integer_value(json_object_get(tot, "received")), 2);
	assert_int_equal(json_integer_value(json_object_get(tot, "dispatched")), 2);
	assert_int_equal(json_integer_value(json_object_get(tot, "overdue")), 0);
	json_t *d0 = json_array_get(json_object_get(rep, "by_department"), 0);
	assert_int_equal(json_integer_value(json_object_get(d0, "department_id")), f->d_reg);
	assert_int_equal(json_integer_value(json_object_get(d0, "dispatched")), 2);
	assert_non_null(json_object_get(rep, "audit_head"));
	json_decref(rep);

	/* 32.5 of 41 working hours used (79 %): no reminder; at 33.5 (81 %) one */
	c = tick(f, at(9, 26, 16, 0));
	assert_int_equal(c.acts[SCHED_REMIND], 0);
	c = tick(f, at(9, 26, 17, 0));
	assert_int_equal(c.acts[SCHED_REMIND], 1);
	assert_int_equal(notes(f, f->u_handler, "remind_handle"), 1);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND "
			      "kind = 'remind_handle' AND body LIKE '%81%%' AND request_id = $2",
			   f->tenant, id),
			 1);
	c = tick(f, at(9, 26, 17, 20));
	assert_int_equal(c.acts[SCHED_REMIND], 0);
	assert_int_equal(notes(f, f->u_handler, "remind_handle"), 1);

	/* past the deadline (end of Sun 09-28): level 1 to the head of amr, once */
	c = tick(f, at(9, 29, 10, 0));
	assert_int_equal(c.acts[SCHED_ESCALATE_1], 1);
	assert_int_equal(c.acts[SCHED_ESCALATE_2], 0);
	assert_int_equal(notes(f, f->u_head, "escalate_1"), 1);
	assert_int_equal(notes(f, f->u_leader, "escalate_1"), 0);
	r = get_req(f, id);
	assert_int_equal(r.supervision_level, 1);
	request_release(&r);
	r = get_req(f, paused);
	assert_int_equal(r.supervision_level, 0);
	request_release(&r);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM request_events WHERE tenant_id = $1 AND "
			      "request_id = $2 AND action = 'supervise' AND actor_id = 0 AND "
			      "actor_name = '数字员工'",
			   f->tenant, id),
			 1);
	c = tick(f, at(9, 29, 15, 0));
	assert_int_equal(total(&c), 0);
	/* level 2 only after the heads' working day (Tue 09-30) has passed */
	c = tick(f, at(9, 30, 23, 0));
	assert_int_equal(c.acts[SCHED_ESCALATE_2], 0);

	/* a restart: a new pool and calendar on the same file repeats nothing */
	close_pool(f);
	open_pool(f);
	c = tick(f, at(9, 30, 23, 30));
	assert_int_equal(total(&c), 0);

	/* 10-01..10-08 are holidays: the report of 10-08 and level 2 to the leaders */
	c = tick(f, at(10, 9, 10, 0));
	assert_int_equal(c.acts[SCHED_ESCALATE_2], 1);
	assert_int_equal(c.acts[SCHED_DAILY_REPORT], 1);
	assert_int_equal(notes(f, f->u_leader, "escalate_2"), 1);
	assert_int_equal(notes(f, f->u_leader_off, "escalate_2"), 0);
	r = get_req(f, id);
	assert_int_equal(r.supervision_level, 2);
	request_release(&r);
	c = tick(f, at(10, 9, 10, 30));
	assert_int_equal(total(&c), 0);

	/* the reply: the dispatchers are told the visit is due, once */
	must(f, &f->handler, id, RA_REPLY, at(10, 9, 11, 0));
	c = tick(f, at(10, 9, 11, 5));
	assert_int_equal(c.acts[SCHED_VISIT_DUE], 1);
	assert_int_equal(notes(f, f->u_dispatcher, "visit_due"), 1);
	c = tick(f, at(10, 9, 11, 10));
	assert_int_equal(total(&c), 0);

	/* visit deadline: 3 working days after 10-09 = Mon 10-13 (Sat 10-11 is worked) */
	r = get_req(f, id);
	assert_int_equal(r.visit_due_at, at(10, 13, 23, 59) + 59999);
	request_release(&r);
	c = tick(f, at(10, 13, 12, 0));
	assert_int_equal(c.acts[SCHED_AUTO_CLOSE], 0);
	c = tick(f, at(10, 14, 9, 0));
	assert_int_equal(c.acts[SCHED_AUTO_CLOSE], 1);
	r = get_req(f, id);
	assert_int_equal(r.state, RS_CLOSED);
	assert_string_equal(r.rating, "unrated");
	request_release(&r);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM request_events WHERE tenant_id = $1 AND "
			      "request_id = $2 AND action = 'auto_close' AND actor_id = 0",
			   f->tenant, id),
			 1);
	c = tick(f, at(10, 14, 9, 30));
	assert_int_equal(total(&c), 0);

	/* every act is audited as the digital employee, and the chain holds */
	assert_int_equal(q(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND actor_id = 0 "
			      "AND actor_login = 'digital-employee' AND request_id = 'scheduler' AND "
			      "entity = 'request' AND entity_id = $2 AND action IN ('remind_handle', "
			      "'escalate_1', 'escalate_2', 'visit_due', 'supervise', 'auto_close')",
			   f->tenant, id),
			 7);
	int64_t rows = 0;
	int bad = 1;
	struct audit_problem p;
	assert_int_equal(audit_verify(db_pool_reader(f->pool, &e), f->tenant, &rows, &bad, &p, &e), 0);
	assert_int_equal(bad, 0);
	/* marks: one per act and clock */
	assert_int_equal(q(f, "SELECT COUNT(*) FROM job_marks WHERE tenant_id = $1 AND request_id = $2",
			   f->tenant, id),
			 5);
}

static void test_settings_and_fallbacks(void **state)
{
	struct fixture *f = *state;
	struct scheduler_counts c;
	struct err e;
	struct db *wdb = NULL;

	/* remind at 50 %; close 1 working day after the reply */
	assert_int_equal(db_open(f->path, 0, &wdb, &e), 0);
	assert_int_equal(db_execf(wdb, &e,
				  "INSERT INTO settings (tenant_id, key, value, updated_at) VALUES "
				  "($1, 'reminder.fraction_percent', '50', 0), "
				  "($1, 'visit.auto_close_days', '1', 0)",
				  "i", f->tenant),
			 0);
	/* nobody heads amr any more: escalation falls back to the leaders */
	assert_int_equal(db_execf(wdb, &e, "UPDATE users SET status = 'disabled' WHERE id = $1", "i",
				  f->u_head),
			 0);
	db_close(wdb);

	int64_t id = submit(f, at(9, 22, 10, 0));
	must(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 10, 0));
	/* not signed: the handlers of the department get the reminder at 50 % (20.5 h of 41) */
	c = tick(f, at(9, 25, 9, 15));
	assert_int_equal(c.acts[SCHED_REMIND], 0);
	c = tick(f, at(9, 25, 9, 45));
	assert_int_equal(c.acts[SCHED_REMIND], 1);
	assert_int_equal(notes(f, f->u_handler, "remind_handle"), 1);
	c = tick(f, at(9, 29, 9, 0));
	assert_int_equal(c.acts[SCHED_ESCALATE_1], 1);
	assert_int_equal(notes(f, f->u_head, "escalate_1"), 0);
	assert_int_equal(notes(f, f->u_leader, "escalate_1"), 1);

	must(f, &f->handler, id, RA_SIGN, at(9, 29, 9, 30));
	must(f, &f->handler, id, RA_REPLY, at(9, 29, 10, 0));
	c = tick(f, at(9, 30, 12, 0));
	assert_int_equal(c.acts[SCHED_VISIT_DUE], 1);
	c = tick(f, at(9, 30, 23, 59));
	assert_int_equal(c.acts[SCHED_AUTO_CLOSE], 0);
	c = tick(f, at(10, 1, 0, 1));
	assert_int_equal(c.acts[SCHED_AUTO_CLOSE], 1);
}

static void test_reopen_is_watched_again(void **state)
{
	struct fixture *f = *state;
	struct scheduler_counts c;
	struct err e;
	struct actor ent = person(f, f->u_dispatcher, ROLE_DISPATCHER, f->d_gov);

	int64_t id = submit(f, at(9, 22, 10, 0));
	must(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 10, 0));
	must(f, &f->handler, id, RA_SIGN, at(9, 22, 10, 30));
	c = tick(f, at(9, 26, 17, 0));
	assert_int_equal(c.acts[SCHED_REMIND], 1);
	must(f, &f->handler, id, RA_REPLY, at(9, 26, 17, 30));
	struct request_step rate = {.who = &ent, .scope = SCOPE_ALL, .tenant_id = f->tenant,
				    .id = id, .action = RA_RATE, .rating = "unsatisfied",
				    .now = at(9, 28, 9, 0), .cal = f->cal};
	if (db_pool_write(f->pool, request_act, &rate, &e))
		fail_msg("rate: %s", e.message);
	must(f, &ent, id, RA_REOPEN, at(9, 29, 9, 0));
	/* a new clock from the reopening: reminded again near its new deadline */
	struct request r = get_req(f, id);
	int64_t due = r.handle_due_at;
	request_release(&r);
	assert_true(due > at(10, 9, 0, 0));
	c = tick(f, due - 3600 * 1000);
	assert_int_equal(c.acts[SCHED_REMIND], 1);
	assert_int_equal(notes(f, f->u_handler, "remind_handle"), 2);
	c = tick(f, due + 3600 * 1000);
	assert_int_equal(c.acts[SCHED_ESCALATE_1], 1);
}

/* ---- webhooks ---- */

static void test_url_checks(void **state)
{
	(void)state;
	struct err e;
	static const char *const bad[] = {
		"ftp://example.com/hook", "example.com/hook", "http://user:pw@example.com/",
		"https://user@example.com/", "http://exa mple.com/", "http://127.0.0.1:8080/h",
		"http://localhost/h", "http://foo.localhost/h", "http://10.1.2.3/h",
		"http://192.168.1.1/h", "http://172.20.0.1/h", "http://169.254.169.254/latest",
		"http://[::1]:80/h", "http://[fe80::1]/h", "http://2130706433/h", "http://127.1/h",
		"http://", "javascript:alert(1)", "https://例子.中国/hook", "",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err_clear(&e);
		if (webhook_url_check(bad[i], &e) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_string_equal(e.field, "url");
		assert_int_equal(e.code, ERR_UNPROCESSABLE);
	}
	static const char *const good[] = {"https://hooks.example.com/yiqiban",
					   "http://8.8.8.8:8080/x?y=1", "https://[2001:db8::1]/h"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (webhook_url_check(good[i], &e))
			fail_msg("refused %s: %s", good[i], e.message);
	webhook_set_allow_private(true);
	assert_int_equal(webhook_url_check("http://127.0.0.1:8080/h", &e), 0);
	assert_int_equal(webhook_url_check("http://[::1]/h", &e), 0);
	/* credentials and schemes stay refused */
	assert_int_not_equal(webhook_url_check("http://a:b@127.0.0.1/h", &e), 0);
	assert_int_not_equal(webhook_url_check("file:///etc/passwd", &e), 0);
	webhook_set_allow_private(false);
}

static void test_filters(void **state)
{
	(void)state;
	assert_true(webhook_filter_matches("*", "request.dispatch"));
	assert_true(webhook_filter_matches("request.*", "request.dispatch"));
	assert_false(webhook_filter_matches("request.*", "notice.escalate_1"));
	assert_true(webhook_filter_matches("request.reply,notice.*", "notice.escalate_1"));
	assert_true(webhook_filter_matches("request.reply,notice.*", "request.reply"));
	assert_false(webhook_filter_matches("request.reply,notice.*", "request.replyx"));
	assert_false(webhook_filter_matches("request.reply", "request.rep"));
	assert_true(webhook_filter_matches("notice.daily_report", "ping"));
	assert_true(webhook_event_known("request.dispatch"));
	assert_true(webhook_event_known("request.submit"));
	assert_true(webhook_event_known("notice.visit_due"));
	assert_false(webhook_event_known("request.nothing"));
	assert_false(webhook_event_known("ping"));
	assert_false(webhook_event_known("notice.*x"));
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(webhook_backoff_ms(1), 30 * 1000);
	assert_int_equal(webhook_backoff_ms(2), 2 * 60 * 1000);
	assert_int_equal(webhook_backoff_ms(3), 10 * 60 * 1000);
	assert_int_equal(webhook_backoff_ms(4), 3600 * 1000);
	assert_int_equal(webhook_backoff_ms(5), 6 * 3600 * 1000);
	assert_int_equal(webhook_backoff_ms(6), -1);
	assert_int_equal(webhook_backoff_ms(7), -1);
}

/* HMAC-SHA256 (RFC 2104) written out from SHA-256, as a receiver would check it. */
static void hmac_ref(const char *key, const void *msg, size_t n, char hex[65])
{
	unsigned char k[64] = {0}, ipad[64], opad[64], inner[32], mac[32];
	size_t kl = strlen(key);
	if (kl > 64)
		crypto_hash_sha256(k, (const unsigned char *)key, kl);
	else
		memcpy(k, key, kl);
	for (int i = 0; i < 64; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, ipad, 64);
	crypto_hash_sha256_update(&st, msg, n);
	crypto_hash_sha256_final(&st, inner);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, opad, 64);
	crypto_hash_sha256_update(&st, inner, 32);
	crypto_hash_sha256_final(&st, mac);
	hex_encode(mac, 32, hex);
}

static void test_signature(void **state)
{
	(void)state;
	char sig[80], ref[65], want[80];
	/* RFC 4231 test case 2 */
	webhook_sign("Jefe", "what do ya want for nothing?", 28, sig, sizeof sig);
	assert_string_equal(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	const char *body = "{\"event\":\"request.dispatch\",\"data\":{\"title\":\"营业执照\"}}";
	const char *keys[] = {"0123456789abcdef", "a-much-longer-secret-that-is-longer-than-one-"
						  "sha256-block-of-sixty-four-bytes-for-sure-yes"};
	for (size_t i = 0; i < 2; i++) {
		webhook_sign(keys[i], body, strlen(body), sig, sizeof sig);
		hmac_ref(keys[i], body, strlen(body), ref);
		snprintf(want, sizeof want, "sha256=%s", ref);
		assert_string_equal(sig, want);
	}
}

/* A one-shot HTTP receiver on 127.0.0.1: records the request, answers `status`. */
struct receiver {
	int fd, port, status;
	pthread_t thr;
	char req[16384];
	size_t len;
};

static void *receive(void *arg)
{
	struct receiver *rv = arg;
	int c = accept(rv->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	for (;;) {
		ssize_t n = read(c, rv->req + rv->len, sizeof rv->req - 1 - rv->len);
		if (n <= 0)
			break;
		rv->len += (size_t)n;
		rv->req[rv->len] = '\0';
		char *end = strstr(rv->req, "\r\n\r\n");
		const char *cl = strcasestr(rv->req, "Content-Length:");
		if (end && cl && rv->len - (size_t)(end + 4 - rv->req) >= (size_t)atol(cl + 15))
			break;
	}
	char out[128];
	int k = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
			 rv->status);
	if (write(c, out, (size_t)k) < 0)
		rv->status = -1;
	close(c);
	return NULL;
}

static void receiver_start(struct receiver *rv, int status)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	memset(rv, 0, sizeof *rv);
	rv->status = status;
	rv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(rv->fd >= 0);
	assert_int_equal(bind(rv->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(rv->fd, 4), 0);
	assert_int_equal(getsockname(rv->fd, (struct sockaddr *)&a, &al), 0);
	rv->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&rv->thr, NULL, receive, rv), 0);
}

static void receiver_stop(struct receiver *rv)
{
	pthread_join(rv->thr, NULL);
	close(rv->fd);
}

static const char *header(const char *req, const char *name, char *out, size_t n)
{
	const char *p = strcasestr(req, name);
	if (!p)
		return NULL;
	p += strlen(name);
	while (*p == ' ')
		p++;
	size_t k = strcspn(p, "\r\n");
	snprintf(out, n, "%.*s", (int)k, p);
	return out;
}

static int64_t add_hook(struct fixture *f, const char *url, const char *events, char *secret)
{
	struct err e;
	struct actor admin = person(f, f->u_leader, ROLE_ADMIN, f->d_gov);
	struct webhook_write w = {.who = &admin, .url = url, .events = events, .active = -1,
				  .now = at(9, 1, 9, 0), .secret = "test-secret-0123456789"};
	w.active = 1;
	if (db_pool_write(f->pool, webhook_create, &w, &e))
		fail_msg("webhook: %s", e.message);
	if (secret)
		snprintf(secret, WEBHOOK_SECRET_MAX + 1, "%s", w.secret_out);
	return w.id;
}

static void test_delivery(void **state)
{
	struct fixture *f = *state;
	struct receiver rv;
	struct webhook_send_stats st;
	struct err e;
	char secret[WEBHOOK_SECRET_MAX + 1], got[128], ref[65], url[64];

	webhook_set_allow_private(true);
	receiver_start(&rv, 200);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rv.port);
	int64_t hook = add_hook(f, url, "request.dispatch", secret);
	int64_t id = submit(f, at(9, 22, 10, 0)); /* request.submit: not subscribed */
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "webhook_id = $2",
			   f->tenant, hook),
			 0);
	must(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 10, 0));
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "webhook_id = $2 AND status = 'pending'",
			   f->tenant, hook),
			 1);
	/* a step that fails queues nothing (the delivery rolls back with it) */
	assert_int_not_equal(act(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 11, 0), &e), 0);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "webhook_id = $2",
			   f->tenant, hook),
			 1);

	assert_int_equal(webhook_send_due(f->pool, now_ms(), 16, &st, &e), 0);
	receiver_stop(&rv);
	assert_int_equal(st.attempted, 1);
	assert_int_equal(st.delivered, 1);
	assert_non_null(strstr(rv.req, "POST /hook HTTP/1.1"));
	assert_non_null(header(rv.req, "X-Yiqiban-Event:", got, sizeof got));
	assert_string_equal(got, "request.dispatch");
	assert_non_null(header(rv.req, "Content-Type:", got, sizeof got));
	assert_string_equal(got, "application/json");
	const char *body = strstr(rv.req, "\r\n\r\n") + 4;
	hmac_ref(secret, body, strlen(body), ref);
	assert_non_null(header(rv.req, "X-Yiqiban-Signature:", got, sizeof got));
	assert_string_equal(got + 7, ref);
	assert_memory_equal(got, "sha256=", 7);
	json_error_t je;
	json_t *j = json_loads(body, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "request.dispatch");
	json_t *rq = json_object_get(json_object_get(j, "data"), "request");
	assert_int_equal(json_integer_value(json_object_get(rq, "id")), id);
	assert_string_equal(json_string_value(json_object_get(rq, "state")), "dispatched");
	assert_null(json_object_get(rq, "contact_phone")); /* no personal data */
	json_decref(j);
	int64_t did = q(f, "SELECT MAX(id) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			   "webhook_id = $2",
			f->tenant, hook);
	assert_non_null(header(rv.req, "X-Yiqiban-Delivery:", got, sizeof got));
	assert_int_equal(atoll(got), did);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1 AND "
			      "status = 'delivered' AND attempts = 1 AND last_status = 200 AND $2 = $2",
			   did, 0),
			 1);
	/* nothing left to send */
	assert_int_equal(webhook_send_due(f->pool, now_ms(), 16, &st, &e), 0);
	assert_int_equal(st.attempted, 0);
}

static void test_failures_and_backoff(void **state)
{
	struct fixture *f = *state;
	struct webhook_send_stats st;
	struct err e;
	char url[64];

	/* a port nobody listens on */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(a.sin_port));
	webhook_set_allow_private(true);
	int64_t hook = add_hook(f, url, "*", NULL);
	struct actor admin = person(f, f->u_leader, ROLE_ADMIN, f->d_gov);
	struct webhook_ping p = {.who = &admin, .id = hook, .now = 1000};
	assert_int_equal(db_pool_write(f->pool, webhook_ping, &p, &e), 0);

	int64_t t = 1000;
	static const int64_t waits[] = {30000, 120000, 600000, 3600000, 21600000};
	for (int i = 0; i < WEBHOOK_MAX_ATTEMPTS; i++) {
		/* not yet due a millisecond before the back-off has passed */
		if (i > 0) {
			assert_int_equal(webhook_send_due(f->pool, t - 1, 16, &st, &e), 0);
			assert_int_equal(st.attempted, 0);
		}
		assert_int_equal(webhook_send_due(f->pool, t, 16, &st, &e), 0);
		assert_int_equal(st.attempted, 1);
		assert_int_equal(q(f, "SELECT attempts FROM webhook_deliveries WHERE id = $1 AND $2 = $2",
				   p.delivery_id, 0),
				 i + 1);
		if (i < WEBHOOK_MAX_ATTEMPTS - 1) {
			assert_int_equal(st.retrying, 1);
			assert_int_equal(q(f, "SELECT next_attempt_at FROM webhook_deliveries WHERE "
					      "id = $1 AND status = 'pending' AND $2 = $2",
					   p.delivery_id, 0),
					 t + waits[i]);
			t += waits[i];
		} else {
			assert_int_equal(st.failed, 1);
		}
	}
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1 AND "
			      "status = 'failed' AND last_error <> '' AND last_status = 0 AND $2 = $2",
			   p.delivery_id, 0),
			 1);
	/* failed for good: never sent again */
	assert_int_equal(webhook_send_due(f->pool, t + 1000000000LL, 16, &st, &e), 0);
	assert_int_equal(st.attempted, 0);

	/* a private address is refused when connecting, with a clear error */
	webhook_set_allow_private(false);
	p.now = 2000;
	assert_int_equal(db_pool_write(f->pool, webhook_ping, &p, &e), 0);
	assert_int_equal(webhook_send_due(f->pool, 2000, 16, &st, &e), 0);
	assert_int_equal(st.retrying, 1);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1 AND "
			      "last_error LIKE '%private address 127.0.0.1%' AND $2 = $2",
			   p.delivery_id, 0),
			 1);
	/* every attempt is audited */
	assert_int_equal(q(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND entity = "
			      "'webhook_delivery' AND actor_login = 'digital-employee' AND $2 = $2",
			   f->tenant, 0),
			 WEBHOOK_MAX_ATTEMPTS + 1);

	/* retention: the failed delivery goes after 30 days, the pending one stays */
	struct webhook_purge pg = {.who = &admin, .now = 1000 + 30 * 86400000LL};
	assert_int_equal(db_pool_write(f->pool, webhook_purge, &pg, &e), 0);
	assert_int_equal(pg.removed, 0);
	pg.now += 2000;
	assert_int_equal(db_pool_write(f->pool, webhook_purge, &pg, &e), 0);
	assert_int_equal(pg.removed, 1);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "status = 'pending' AND webhook_id = $2",
			   f->tenant, hook),
			 1);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "status <> 'pending' AND webhook_id = $2",
			   f->tenant, hook),
			 0);
}

static void test_notices_reach_webhooks(void **state)
{
	struct fixture *f = *state;
	webhook_set_allow_private(true);
	int64_t hook = add_hook(f, "http://127.0.0.1:9/x", "notice.*", NULL);
	int64_t id = submit(f, at(9, 22, 10, 0));
	must(f, &f->dispatcher, id, RA_DISPATCH, at(9, 22, 10, 0));
	tick(f, at(9, 29, 10, 0)); /* report of 09-28 and escalation 1 */
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "webhook_id = $2 AND event = 'notice.escalate_1' AND payload LIKE "
			      "'%\"level\":1%'",
			   f->tenant, hook),
			 1);
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "webhook_id = $2 AND event = 'notice.daily_report'",
			   f->tenant, hook),
			 1);
	/* the supervise step itself is a request event: not subscribed here */
	assert_int_equal(q(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE tenant_id = $1 AND "
			      "webhook_id = $2 AND event LIKE 'request.%'",
			   f->tenant, hook),
			 0);
}

struct seen {
	int64_t id[16];
	int n;
};

static int collect(const struct notification *n, void *p)
{
	struct seen *s = p;
	if (s->n < 16)
		s->id[s->n++] = n->id;
	return 0;
}

static void test_inbox(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t first, unread = -1;
	struct db *db;

	tick(f, at(9, 23, 1, 0)); /* one daily_report notice to the leader a day */
	tick(f, at(9, 24, 1, 0));
	tick(f, at(9, 25, 1, 0));
	db = db_pool_reader(f->pool, &e);
	assert_int_equal(notify_unread_count(db, f->tenant, f->u_leader, &unread, &e), 0);
	assert_int_equal(unread, 3);
	first = q(f, "SELECT MIN(id) FROM notifications WHERE tenant_id = $1 AND user_id = $2",
		   f->tenant, f->u_leader);
	struct actor leader = person(f, f->u_leader, ROLE_LEADER, f->d_gov);
	struct actor other = person(f, f->u_dispatcher, ROLE_DISPATCHER, f->d_gov);
	/* someone else's notification: not found, nothing changes */
	struct notify_read m = {.who = &other, .id = first, .now = 5};
	assert_int_equal(db_pool_write(f->pool, notify_mark_read, &m, &e), ERR_NOT_FOUND);
	m.who = &leader;
	assert_int_equal(db_pool_write(f->pool, notify_mark_read, &m, &e), 0);
	assert_int_equal(m.changed, 1);
	assert_int_equal(db_pool_write(f->pool, notify_mark_read, &m, &e), 0);
	assert_int_equal(m.changed, 0); /* already read: kept */
	assert_int_equal(notify_unread_count(db, f->tenant, f->u_leader, &unread, &e), 0);
	assert_int_equal(unread, 2);
	/* read-all up to the second one leaves the newest unread */
	struct notify_read all = {.who = &leader, .up_to = first + 1, .now = 6};
	assert_int_equal(db_pool_write(f->pool, notify_mark_read, &all, &e), 0);
	assert_int_equal(all.changed, 1);
	assert_int_equal(notify_unread_count(db, f->tenant, f->u_leader, &unread, &e), 0);
	assert_int_equal(unread, 1);
	all.up_to = 0;
	assert_int_equal(db_pool_write(f->pool, notify_mark_read, &all, &e), 0);
	assert_int_equal(all.changed, 1);
	assert_int_equal(notify_unread_count(db, f->tenant, f->u_leader, &unread, &e), 0);
	assert_int_equal(unread, 0);
	/* listing: newest first, keyset, unread filter */
	tick(f, at(9, 26, 1, 0));
	struct seen sn = {0};
	struct notify_filter nf = {.limit = 2};
	assert_int_equal(notify_list(db, f->tenant, f->u_leader, &nf, collect, &sn, &e), 0);
	assert_int_equal(sn.n, 2);
	assert_true(sn.id[0] > sn.id[1]);
	nf.after = sn.id[1];
	assert_int_equal(notify_list(db, f->tenant, f->u_leader, &nf, collect, &sn, &e), 0);
	assert_int_equal(sn.n, 4);
	assert_int_equal(sn.id[3], first);
	nf = (struct notify_filter){.unread = true, .limit = 50};
	sn.n = 0;
	assert_int_equal(notify_list(db, f->tenant, f->u_leader, &nf, collect, &sn, &e), 0);
	assert_int_equal(sn.n, 1);
	assert_true(sn.id[0] > first + 2);
	/* nobody else's inbox shows them */
	sn.n = 0;
	assert_int_equal(notify_list(db, f->tenant, f->u_dispatcher, &nf, collect, &sn, &e), 0);
	assert_int_equal(sn.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_limits_of_the_fixture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reminder_escalation_visit_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_and_fallbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_is_watched_again, setup, teardown),
		cmocka_unit_test(test_url_checks),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_signature),
		cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures_and_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notices_reach_webhooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbox, setup, teardown),
	};
	if (crypto_init() || webhook_global_init())
		return 1;
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	webhook_global_cleanup();
	return rc;
}
