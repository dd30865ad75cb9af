/*
 * test_request.c — the request workflow core (src/core/request.c,
 * request_catalog.c) against a real SQLite file in a temporary directory.
 *
 * The tenant, departments, users, enterprises and categories are created
 * through the core (tenant_create, dept_create, user_create,
 * enterprise_create, category_create); the calendar is the built-in one
 * (workcal_new_builtin). Every step runs request_act inside its own write
 * transaction with an injected `now`, as the pool's savepoints do; act()
 * checks that a step writes exactly one event and one audit row, and that a
 * refused step writes nothing.
 *
 * Expectations are written out here, independently of the module's `steps`
 * table: which actions each state allows and where they lead, and deadlines
 * worked by hand on the published holiday calendars (standards.md).
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

#include "base/jsonw.h"
#include "base/util.h"
#include "core/audit.h"
#include "core/dept.h"
#include "core/enterprise.h"
#include "core/grid.h"
#include "core/request.h"
#include "core/request_catalog.h"
#include "core/tenant.h"
#include "core/user.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

struct fx {
	char dir[64];
	char path[128];
	struct db *db;
	struct workcal *cal;
	int64_t tenant;
	int64_t d_gov, d_amr, d_reg, d_food, d_tax, d_gsb;
	int64_t ent_a, ent_b;
	int64_t cat_lic, cat_biz, cat_util; /* 证照办理 > 营业执照; 水电气暖 */
	struct actor sys;                   /* the system: setup writes, auto_close */
	struct actor disp, handler, handler2, handler_tax, head, leader, super, ent_user,
		ent_user_b, observer;
	int64_t clock; /* a default `now` that advances a minute per step */
};

/* ---- time ---- */

/* Shanghai civil time "YYYY-MM-DD HH:MM" as UTC milliseconds. */
static int64_t L(const char *s)
{
	int y, mo, d, h, mi;
	if (sscanf(s, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5)
		fail_msg("bad test time %s", s);
	return workcal_utc_ms(workcal_days_from_civil(y, mo, d), (h * 60 + mi) * 60000LL);
}

/* The end (23:59:59.999 Shanghai) of a civil day "YYYY-MM-DD". */
static int64_t EOD(const char *s)
{
	int y, mo, d;
	if (sscanf(s, "%d-%d-%d", &y, &mo, &d) != 3)
		fail_msg("bad test date %s", s);
	return workcal_utc_ms(workcal_days_from_civil(y, mo, d), WORKCAL_DAY_MS - 1);
}

static void assert_local(int64_t ms, const char *want)
{
	char got[40];
	workcal_format_local(ms, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("got %s, want %s", got, want);
}

/* ---- fixture ---- */

static int run(struct fx *f, db_write_fn fn, void *arg, struct err *e)
{
	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	int rc = fn(f->db, arg, e);
	if (rc == 0)
		assert_int_equal(db_commit(f->db, e), 0);
	else
		db_rollback(f->db);
	return rc;
}

/* The job in a transaction that is always rolled back: would it succeed? */
static int attempt(struct fx *f, db_write_fn fn, void *arg, struct err *e)
{
	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	int rc = fn(f->db, arg, e);
	db_rollback(f->db);
	return rc;
}

static void must_run(struct fx *f, db_write_fn fn, void *arg, const char *what)
{
	struct err e;
	if (run(f, fn, arg, &e) != 0)
		fail_msg("%s: %s (%s)", what, e.message, e.field);
}

static int64_t q1(struct fx *f, const char *sql, int64_t a, int64_t b)
{
	struct err e;
	int64_t v = -1;
	if (db_query_i64(f->db, &v, &e, sql, "ii", a, b) != 0)
		fail_msg("query %s: %s", sql, e.message);
	return v;
}

static int64_t add_dept(struct fx *f, const char *code, const char *name, int64_t parent)
{
	struct dept_write w = {.who = &f->sys, .tenant_id = f->tenant, .code = code, .name = name,
			       .parent_id = parent, .now = 1};
	must_run(f, dept_create, &w, "dept_create");
	return w.id;
}

static int64_t add_ent(struct fx *f, const char *code, const char *name)
{
	struct enterprise_write w = {.who = &f->sys, .tenant_id = f->tenant, .source = "test",
				     .now = 1,
				     .in = {.credit_code = code, .name = name, .kind = "enterprise",
					    .status = "active"}};
	must_run(f, enterprise_create, &w, "enterprise_create");
	return w.id;
}

/* A user with roles in dept (0 = none), bound to ent (0 = none), as an actor. */
static struct actor add_user(struct fx *f, const char *login, const char *name, unsigned roles,
			     int64_t dept, int64_t ent)
{
	struct user_write w = {.who = &f->sys, .tenant_id = f->tenant, .login = login,
			       .display_name = name, .set_roles = true, .roles = roles,
			       .password_hash = "x", .set_department = dept != 0,
			       .department_id = dept, .set_enterprise = ent != 0,
			       .enterprise_id = ent, .now = 1};
	must_run(f, user_create, &w, "user_create");
	struct user u;
	struct err e;
	assert_int_equal(user_get(f->db, f->tenant, w.id, &u, &e), 0);
	struct actor a = {.tenant_id = f->tenant, .user_id = u.id, .department_id = u.department_id,
			  .enterprise_id = u.enterprise_id, .roles = u.roles};
	snprintf(a.login, sizeof a.login, "%s", u.login);
	snprintf(a.display_name, sizeof a.display_name, "%s", u.display_name);
	snprintf(a.dept_path, sizeof a.dept_path, "%s", u.dept_path);
	return a;
}

static int64_t add_category(struct fx *f, const char *code, const char *name, int64_t parent,
			    int64_t dept)
{
	struct category_write w = {.who = &f->sys, .tenant_id = f->tenant, .code = code,
				   .name = name, .parent_id = parent, .department_id = dept,
				   .now = 1};
	must_run(f, category_create, &w, "category_create");
	return w.id;
}

static void set_policy(struct fx *f, int64_t cat, const char *type, int sign, int handle,
		       int visit)
{
	struct policy_write w = {.who = &f->sys, .tenant_id = f->tenant, .category_id = cat,
				 .req_type = type, .sign_minutes = sign, .handle_days = handle,
				 .visit_days = visit, .now = 1};
	must_run(f, policy_put, &w, "policy_put");
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct err e = {0};
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-request-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	/* hundreds of small transactions: durability is not under test here */
	assert_int_equal(db_exec(f->db, "PRAGMA synchronous=OFF", &e), 0);
	struct tenant_new t = {"erqi", "二七区", "410103", 0};
	must_run(f, tenant_create, &t, "tenant_create");
	f->tenant = t.id;
	f->sys.tenant_id = f->tenant;
	f->sys.roles = 1u << ROLE_ADMIN;
	snprintf(f->sys.login, sizeof f->sys.login, "test");

	f->d_gov = add_dept(f, "gov", "二七区人民政府", 0);
	f->d_amr = add_dept(f, "amr", "市场监督管理局", f->d_gov);
	f->d_reg = add_dept(f, "amr-reg", "登记注册科", f->d_amr);
	f->d_food = add_dept(f, "amr-food", "食品安全科", f->d_amr);
	f->d_tax = add_dept(f, "tax", "税务局", f->d_gov);
	f->d_gsb = add_dept(f, "gsb", "政务服务和大数据管理局", f->d_gov);
	f->ent_a = add_ent(f, "91350200776049653A", "郑州甲商贸有限公司");
	f->ent_b = add_ent(f, "91440101MA5CJQ4N59", "郑州乙科技有限公司");

	f->disp = add_user(f, "disp", "李受理", 1u << ROLE_DISPATCHER, f->d_gsb, 0);
	f->handler = add_user(f, "handler", "张承办", 1u << ROLE_HANDLER, f->d_reg, 0);
	f->handler2 = add_user(f, "handler2", "王承办", 1u << ROLE_HANDLER, f->d_reg, 0);
	f->handler_tax = add_user(f, "taxman", "钱税务", 1u << ROLE_HANDLER, f->d_tax, 0);
	f->head = add_user(f, "head", "赵科长", 1u << ROLE_DEPT_HEAD, f->d_amr, 0);
	f->leader = add_user(f, "leader", "王区长", 1u << ROLE_LEADER, f->d_gov, 0);
	f->super = add_user(f, "super", "吴监督", 1u << ROLE_SUPERVISOR, 0, 0);
	f->observer = add_user(f, "observer", "郑体验", 1u << ROLE_EXPERIENCE_OFFICER, 0, 0);
	f->ent_user = add_user(f, "firm-a", "甲公司", 1u << ROLE_ENTERPRISE, 0, f->ent_a);
	f->ent_user_b = add_user(f, "firm-b", "乙公司", 1u << ROLE_ENTERPRISE, 0, f->ent_b);

	f->cat_lic = add_category(f, "lic", "证照办理", 0, f->d_reg);
	f->cat_biz = add_category(f, "lic.biz", "营业执照", f->cat_lic, f->d_reg);
	f->cat_util = add_category(f, "util", "水电气暖", 0, f->d_gov);

	f->cal = workcal_new_builtin(NULL);
	assert_non_null(f->cal);
	f->clock = L("2025-10-20 09:00");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[160];
	struct err e;
	int64_t rows = 0;
	int bad = -1;
	struct audit_problem prob;
	/* whatever a test did, the audit chain still verifies */
	assert_int_equal(audit_verify(f->db, f->tenant, &rows, &bad, &prob, &e), 0);
	if (bad)
		fail_msg("audit chain broken at seq %lld: %s", (long long)prob.seq, prob.what);
	assert_true(rows > 0);
	/* and every summary is in the one form audit_append writes (compact, keys sorted at
	 * every level): the requests' steps write theirs as text */
	struct db_stmt *st = NULL;
	assert_int_equal(db_queryf(f->db, &st, &e,
				   "SELECT seq, summary FROM audit_log WHERE tenant_id = $1", "i",
				   f->tenant),
			 0);
	int rc;
	while ((rc = db_step(st, &e)) == DB_ROW) {
		const char *text = db_column_text(st, 1);
		json_t *j = json_loads(text, 0, NULL);
		if (!j)
			fail_msg("audit row %lld: summary is not JSON: %s",
				 (long long)db_column_int64(st, 0), text);
		char *canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		if (strcmp(canon, text))
			fail_msg("audit row %lld: summary %s, audit_append writes %s",
				 (long long)db_column_int64(st, 0), text, canon);
		free(canon);
		json_decref(j);
	}
	assert_int_equal(rc, DB_DONE);
	db_finalize(st);
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

/* ---- requests ---- */

static int64_t events_of(struct fx *f, int64_t id)
{
	return q1(f, "SELECT COUNT(*) FROM request_events WHERE tenant_id = $1 AND request_id = $2",
		  f->tenant, id);
}

static int64_t audit_rows(struct fx *f)
{
	return q1(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND $2 = $2", f->tenant, 0);
}

static int64_t submit_full(struct fx *f, const struct actor *who, const char *type, int64_t cat,
			   int64_t ent, int64_t now)
{
	struct request_create c = {.who = who, .tenant_id = f->tenant, .now = now,
				   .in = {.channel = "online", .req_type = type, .category_id = cat,
					  .enterprise_id = ent,
					  .content = "营业执照变更登记需要哪些材料？线上提交后一直没有回音。"}};
	int64_t before = audit_rows(f);
	must_run(f, request_create, &c, "request_create");
	assert_true(c.id > 0);
	assert_int_equal(events_of(f, c.id), 1);
	assert_int_equal(audit_rows(f), before + 1);
	return c.id;
}

static int64_t submit(struct fx *f, int64_t now)
{
	return submit_full(f, &f->ent_user, "help", 0, f->ent_a, now);
}

static struct request get(struct fx *f, int64_t id)
{
	struct request r;
	struct err e;
	if (request_get(f->db, f->tenant, id, &r, &e))
		fail_msg("request_get %lld: %s", (long long)id, e.message);
	request_release(&r);
	return r;
}

/*
 * One step by who (NULL = the system) at now (0 = the fixture's clock, which
 * then advances a minute), with the parameters of p (may be NULL). Checks
 * that a success wrote one event, one audit row naming the step and a new
 * version, and that a refusal wrote nothing.
 */
static int act(struct fx *f, const struct actor *who, int64_t id, enum req_action a,
	       const struct request_step *p, int64_t now, struct err *e)
{
	struct request_step s = {0};
	if (p)
		s = *p;
	if (!now) {
		now = f->clock;
		f->clock += 60000;
	}
	s.who = who;
	s.scope = who ? authz_scope(who, request_action_perm(a)) : SCOPE_NONE;
	s.tenant_id = f->tenant;
	s.id = id;
	s.action = a;
	s.now = now;
	s.cal = f->cal;
	int64_t ev = events_of(f, id), au = audit_rows(f), apps = q1(
		f, "SELECT COUNT(*) FROM request_applications WHERE tenant_id = $1 AND request_id = $2",
		f->tenant, id);
	if (!q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND id = $2", f->tenant, id))
		return run(f, request_act, &s, e); /* no such request: nothing to compare */
	struct request before = get(f, id);
	int rc = run(f, request_act, &s, e);
	struct request after = get(f, id);
	if (rc) {
		assert_int_equal(events_of(f, id), ev);
		assert_int_equal(audit_rows(f), au);
		assert_int_equal(after.version, before.version);
		assert_int_equal(after.state, before.state);
		assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_applications WHERE tenant_id = $1 "
				       "AND request_id = $2", f->tenant, id), apps);
		return rc;
	}
	assert_int_equal(events_of(f, id), ev + 1);
	assert_int_equal(audit_rows(f), au + 1);
	assert_int_equal(after.version, before.version + 1);
	assert_int_equal(after.state, s.to);
	assert_int_equal(before.state, s.from);
	assert_true(s.event_id > 0);
	/* the audit row and the event name the step */
	struct db_stmt *st = NULL;
	assert_int_equal(db_queryf(f->db, &st, e,
				   "SELECT entity, entity_id, action FROM audit_log WHERE tenant_id = $1 "
				   "ORDER BY seq DESC LIMIT 1",
				   "i", f->tenant),
			 0);
	assert_int_equal(db_step(st, e), DB_ROW);
	assert_string_equal(db_column_text(st, 0), "request");
	assert_int_equal(db_column_int64(st, 1), id);
	assert_string_equal(db_column_text(st, 2), req_action_name(a));
	db_finalize(st);
	assert_int_equal(db_queryf(f->db, &st, e,
				   "SELECT action, from_state, to_state, at, actor_id FROM request_events "
				   "WHERE id = $1",
				   "i", s.event_id),
			 0);
	assert_int_equal(db_step(st, e), DB_ROW);
	assert_string_equal(db_column_text(st, 0), req_action_name(a));
	assert_string_equal(db_column_text(st, 1), req_state_name(s.from));
	assert_string_equal(db_column_text(st, 2), req_state_name(s.to));
	assert_int_equal(db_column_int64(st, 3), now);
	assert_int_equal(db_column_int64(st, 4), who ? who->user_id : 0);
	db_finalize(st);
	return 0;
}

static void must(struct fx *f, const struct actor *who, int64_t id, enum req_action a,
		 const struct request_step *p, int64_t now)
{
	struct err e;
	if (act(f, who, id, a, p, now, &e))
		fail_msg("%s on request %lld: %s (field %s)", req_action_name(a), (long long)id,
			 e.message, e.field);
}

static void refused(struct fx *f, const struct actor *who, int64_t id, enum req_action a,
		    const struct request_step *p, int64_t now, int code, const char *field)
{
	struct err e;
	int rc = act(f, who, id, a, p, now, &e);
	if (rc != code || strcmp(e.field, field) != 0)
		fail_msg("%s on request %lld: got %d (%s: %s), want %d (%s)", req_action_name(a),
			 (long long)id, rc, e.field, e.message, code, field);
	assert_true(e.message[0] && e.message_zh[0]);
}

#define P(...) (&(struct request_step){__VA_ARGS__})

/* Parameters that make each action valid (the master for merges given). */
static struct request_step defaults(struct fx *f, enum req_action a, int64_t master)
{
	struct request_step s = {0};
	switch (a) {
	case RA_DISPATCH:
		s.department_id = f->d_reg;
		break;
	case RA_REPLY:
		s.public_note = "已为您办理变更登记，请查收。";
		break;
	case RA_RETURN_APPLY:
		s.internal_note = "不属于本科室职责，应由税务局办理";
		break;
	case RA_EXTEND_APPLY:
		s.internal_note = "需现场核查，申请延期";
		s.days = 2;
		break;
	case RA_RETURN_DECIDE:
	case RA_EXTEND_DECIDE:
		s.approve = true;
		s.internal_note = "同意";
		break;
	case RA_RETURN:
		s.internal_note = "派错部门，退回重派";
		break;
	case RA_PAUSE:
		s.public_note = "请补充提供股东会决议";
		break;
	case RA_SUPERVISE:
		s.level = 1;
		break;
	case RA_RATE:
		s.rating = "satisfied";
		s.solved = true;
		break;
	case RA_REOPEN:
		s.public_note = "问题没有解决，重新办理";
		break;
	case RA_MERGE:
		s.master_id = master;
		break;
	case RA_VOID:
		s.internal_note = "重复提交的测试数据";
		break;
	case RA_NOTE:
		s.public_note = "已电话联系企业";
		break;
	default:
		break;
	}
	return s;
}

/* The natural actor of each action in the demo's division of work. */
static const struct actor *actor_of(struct fx *f, enum req_action a)
{
	switch (a) {
	case RA_DISPATCH:
	case RA_CLOSE:
	case RA_MERGE:
	case RA_VOID:
	case RA_NOTE:
		return &f->disp;
	case RA_SIGN:
	case RA_START:
	case RA_REPLY:
	case RA_RETURN_APPLY:
	case RA_EXTEND_APPLY:
	case RA_PAUSE:
	case RA_RESUME:
		return &f->handler;
	case RA_RETURN_DECIDE:
	case RA_EXTEND_DECIDE:
	case RA_RETURN:
		return &f->head;
	case RA_SUPERVISE:
		return &f->leader;
	case RA_RATE:
	case RA_REOPEN:
		return &f->ent_user;
	case RA_AUTO_CLOSE:
	case RA__COUNT:
		break;
	}
	return NULL;
}

static void step_default(struct fx *f, int64_t id, enum req_action a, int64_t master)
{
	struct request_step p = defaults(f, a, master);
	must(f, actor_of(f, a), id, a, &p, 0);
}

/* A new request (of enterprise A) brought into state s along the usual path;
 * a paused one was paused from 'signed'; a closed one was rated unsatisfied. */
static int64_t in_state(struct fx *f, enum req_state s, int64_t master)
{
	int64_t id = submit(f, f->clock);
	f->clock += 60000;
	if (s == RS_RECEIVED)
		return id;
	if (s == RS_MERGED || s == RS_VOIDED) {
		step_default(f, id, s == RS_MERGED ? RA_MERGE : RA_VOID, master);
		return id;
	}
	step_default(f, id, RA_DISPATCH, 0);
	if (s == RS_DISPATCHED)
		return id;
	if (s == RS_RETURNED) {
		step_default(f, id, RA_RETURN, 0);
		return id;
	}
	step_default(f, id, RA_SIGN, 0);
	if (s == RS_SIGNED)
		return id;
	if (s == RS_PAUSED) {
		step_default(f, id, RA_PAUSE, 0);
		return id;
	}
	step_default(f, id, RA_START, 0);
	if (s == RS_IN_PROGRESS)
		return id;
	step_default(f, id, RA_REPLY, 0);
	if (s == RS_REPLIED)
		return id;
	must(f, &f->ent_user, id, RA_RATE, P(.rating = "unsatisfied", .solved = false), 0);
	assert_int_equal(get(f, id).state, RS_CLOSED);
	return id;
}

/* ---- the state machine, exhaustively ---- */

/* Written out from the design (request.h), not copied from the module. */
static const struct {
	enum req_action a;
	const char *from; /* states, space separated */
	const char *to;   /* resulting state; "=" unchanged */
} expected[RA__COUNT] = {
	{RA_DISPATCH, "received returned", "dispatched"},
	{RA_SIGN, "dispatched", "signed"},
	{RA_START, "signed", "in_progress"},
	{RA_REPLY, "signed in_progress", "replied"},
	{RA_RETURN_APPLY, "dispatched signed in_progress", "="},
	{RA_RETURN_DECIDE, "dispatched signed in_progress", "returned"}, /* approved */
	{RA_RETURN, "dispatched signed in_progress", "returned"},
	{RA_EXTEND_APPLY, "signed in_progress paused", "="},
	{RA_EXTEND_DECIDE, "signed in_progress paused", "="},
	{RA_PAUSE, "signed in_progress", "paused"},
	{RA_RESUME, "paused", "signed"}, /* back to where it was paused from */
	{RA_SUPERVISE, "received dispatched signed in_progress paused replied returned", "="},
	{RA_RATE, "replied", "closed"},
	{RA_CLOSE, "replied", "closed"},
	{RA_REOPEN, "replied closed", "in_progress"},
	{RA_MERGE, "received returned dispatched", "merged"},
	{RA_VOID, "received returned", "voided"},
	{RA_NOTE, "received dispatched signed in_progress paused replied returned closed merged voided",
	 "="},
	{RA_AUTO_CLOSE, "replied", "closed"},
};

static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < RS__COUNT; s++) {
		assert_int_equal(req_state_parse(req_state_name((enum req_state)s)), s);
		assert_true(strlen(req_state_zh((enum req_state)s)) > 0);
	}
	for (int a = 0; a < RA__COUNT; a++)
		assert_int_equal(req_action_parse(req_action_name((enum req_action)a)), a);
	assert_int_equal(req_state_parse("nope"), -1);
	assert_int_equal(req_action_parse("nope"), -1);
	assert_int_equal(req_action_parse(NULL), -1);
	assert_true(req_channel_valid("online") && req_channel_valid("open311"));
	assert_false(req_channel_valid("fax") || req_channel_valid(NULL));
	assert_string_equal(req_type_zh("complaint"), "投诉");
	assert_false(req_type_valid("praise"));
	/* the table of the module agrees with the one written here */
	for (int a = 0; a < RA__COUNT; a++) {
		assert_int_equal(expected[a].a, a);
		for (int s = 0; s < RS__COUNT; s++)
			if (request_action_allowed((enum req_action)a, (enum req_state)s) !=
			    listed(expected[a].from, req_state_name((enum req_state)s)))
				fail_msg("%s from %s", req_action_name((enum req_action)a),
					 req_state_name((enum req_state)s));
	}
	assert_false(request_action_allowed(RA__COUNT, RS_RECEIVED));
	assert_false(request_action_allowed(RA_NOTE, RS__COUNT));
	/* who may take what */
	assert_int_equal(request_action_perm(RA_DISPATCH), PERM_REQUEST_DISPATCH);
	assert_int_equal(request_action_perm(RA_SIGN), PERM_REQUEST_HANDLE);
	assert_int_equal(request_action_perm(RA_EXTEND_DECIDE), PERM_REQUEST_APPROVE);
	assert_int_equal(request_action_perm(RA_RETURN_DECIDE), PERM_REQUEST_APPROVE);
	assert_int_equal(request_action_perm(RA_SUPERVISE), PERM_REQUEST_SUPERVISE);
	assert_int_equal(request_action_perm(RA_RATE), PERM_REQUEST_RATE);
	assert_int_equal(request_action_perm(RA_REOPEN), PERM_REQUEST_RATE);
	assert_int_equal(request_action_perm(RA_NOTE), PERM_REQUEST_READ);
}

/* Every action from every state: allowed ones succeed and lead where the
 * design says; the others are ERR_CONFLICT naming "state" and change nothing
 * — unless the actor cannot see the request at all (a department's handler
 * before dispatch or after a return), which is ERR_NOT_FOUND, so that a
 * refusal never tells an outsider the request's state. */
static void test_every_action_from_every_state(void **state)
{
	struct fx *f = *state;
	int64_t master = submit(f, f->clock);
	int ok = 0, no = 0, hidden = 0;
	for (int s = 0; s < RS__COUNT; s++) {
		for (int a = 0; a < RA__COUNT; a++) {
			enum req_state st = (enum req_state)s;
			enum req_action ac = (enum req_action)a;
			int64_t id = in_state(f, st, master);
			assert_int_equal(get(f, id).state, st);
			bool allow = listed(expected[a].from, req_state_name(st));
			if (allow && ac == RA_RETURN_DECIDE)
				step_default(f, id, RA_RETURN_APPLY, 0);
			if (allow && ac == RA_EXTEND_DECIDE)
				step_default(f, id, RA_EXTEND_APPLY, 0);
			struct request_step p = defaults(f, ac, master);
			struct err e;
			int rc = act(f, actor_of(f, ac), id, ac, &p, 0, &e);
			if (allow) {
				if (rc)
					fail_msg("%s from %s refused: %s (%s)", req_action_name(ac),
						 req_state_name(st), e.message, e.field);
				const char *to = expected[a].to;
				assert_string_equal(req_state_name(get(f, id).state),
						    strcmp(to, "=") == 0 ? req_state_name(st) : to);
				ok++;
			} else {
				/* the department's people see it only while it is with amr-reg */
				const struct actor *who = actor_of(f, ac);
				bool dept_bound = who == &f->handler || who == &f->head;
				bool sees = !dept_bound || get(f, id).department_id == f->d_reg;
				int want = sees ? ERR_CONFLICT : ERR_NOT_FOUND;
				if (rc != want || strcmp(e.field, sees ? "state" : "id") != 0)
					fail_msg("%s from %s: got %d (%s: %s), want %d", req_action_name(ac),
						 req_state_name(st), rc, e.field, e.message, want);
				if (sees)
					no++;
				else
					hidden++;
			}
		}
	}
	assert_int_equal(ok + no + hidden, RS__COUNT * RA__COUNT);
	assert_int_equal(ok, 51);
	/* 10 department actions (7 of the handler, 3 of the head) x 4 states
	 * without a department (received, returned, merged, voided); none of
	 * them is allowed there */
	assert_int_equal(hidden, 40);
	assert_int_equal(no, 190 - 51 - 40);
}

/* The system may only auto-close; users may never auto-close. */
static void test_system_actor(void **state)
{
	struct fx *f = *state;
	int64_t id = in_state(f, RS_REPLIED, 0);
	refused(f, &f->disp, id, RA_AUTO_CLOSE, NULL, 0, ERR_NOT_FOUND, "id");
	refused(f, NULL, id, RA_CLOSE, NULL, 0, ERR_NOT_FOUND, "id");
	refused(f, NULL, id, RA_NOTE, P(.public_note = "x"), 0, ERR_NOT_FOUND, "id");
	must(f, NULL, id, RA_AUTO_CLOSE, NULL, 0);
	struct request r = get(f, id);
	assert_string_equal(r.rating, "unrated");
	assert_int_equal(r.rating_solved, -1);
	assert_true(r.closed_at > 0);
	assert_int_equal(r.visit_due_at, 0);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND "
			       "actor_id = 0 AND actor_name = '数字员工' AND $2 = $2", id, 0), 1);
}

/* ---- the whole loop ---- */

struct names {
	char buf[512];
};

static int each_event(const struct request_event *ev, void *ctx)
{
	struct names *n = ctx;
	size_t k = strlen(n->buf);
	snprintf(n->buf + k, sizeof n->buf - k, "%s%s", k ? " " : "", ev->action);
	return 0;
}

/* ---- the row request_create hands back ---- */

static json_t *grid_feature(const char *code, const char *name, double x0, double y0, double x1,
			    double y1)
{
	return json_pack("{s:s,s:{s:s,s:s},s:{s:s,s:[[[f,f],[f,f],[f,f],[f,f],[f,f]]]}}", "type",
			 "Feature", "properties", "code", code, "name", name, "geometry", "type",
			 "Polygon", "coordinates", x0, y0, x1, y0, x1, y1, x0, y1, x0, y0);
}

#define SAME_INT(field)                                                                       \
	do {                                                                                  \
		if (got->field != want->field)                                                \
			fail_msg("%s: %s is %lld, stored %lld", what, #field,                 \
				 (long long)got->field, (long long)want->field);              \
	} while (0)
#define SAME_STR(field)                                                                       \
	do {                                                                                  \
		if (strcmp(got->field, want->field))                                          \
			fail_msg("%s: %s is \"%s\", stored \"%s\"", what, #field, got->field, \
				 want->field);                                                \
	} while (0)

static void same_request(const char *what, const struct request *got, const struct request *want)
{
	SAME_INT(id);
	SAME_INT(tenant_id);
	SAME_STR(number);
	SAME_STR(channel);
	SAME_STR(req_type);
	SAME_INT(category_id);
	SAME_STR(category_name);
	SAME_INT(enterprise_id);
	SAME_STR(enterprise_name);
	SAME_STR(contact_name);
	SAME_STR(contact_phone);
	SAME_STR(title);
	SAME_STR(content);
	SAME_STR(address);
	SAME_INT(has_location);
	if (got->lat != want->lat || got->lon != want->lon)
		fail_msg("%s: location differs", what);
	SAME_INT(grid_id);
	SAME_STR(urgency);
	SAME_INT(state);
	SAME_INT(paused_from);
	SAME_INT(department_id);
	SAME_STR(department_name);
	SAME_STR(dept_path);
	SAME_STR(grid_path);
	SAME_INT(handler_id);
	SAME_STR(handler_name);
	SAME_INT(created_by);
	SAME_INT(master_id);
	SAME_INT(reopen_count);
	SAME_INT(supervision_level);
	SAME_INT(received_at);
	SAME_INT(dispatched_at);
	SAME_INT(signed_at);
	SAME_INT(replied_at);
	SAME_INT(closed_at);
	SAME_INT(sign_due_at);
	SAME_INT(handle_due_at);
	SAME_INT(visit_due_at);
	SAME_INT(paused_at);
	SAME_INT(paused_ms);
	SAME_INT(extended_days);
	SAME_INT(rating_solved);
	SAME_STR(rating);
	SAME_STR(rating_comment);
	SAME_INT(closed_on_time);
	SAME_INT(version);
	SAME_INT(created_at);
	SAME_INT(updated_at);
	SAME_INT(clock_from);
}

/* request_create makes the new row in memory instead of reading it back:
 * it must be the row as stored, field by field, however the request is
 * placed (by its enterprise's grid, by its own location, by both, by
 * neither) and whatever it leaves to the table's defaults. */
static void test_created_row_is_stored_row(void **state)
{
	struct fx *f = *state;
	struct err e;
	json_t *fc = json_pack("{s:s,s:[o,o,o,o,o]}", "type", "FeatureCollection", "features",
			       grid_feature("410199", "测试区", 113.0, 34.0, 114.0, 35.0),
			       grid_feature("410199001", "街道一", 113.0, 34.0, 114.0, 35.0),
			       grid_feature("410199001001", "社区一", 113.0, 34.0, 114.0, 35.0),
			       grid_feature("410199001001001", "西网格", 113.0, 34.0, 113.5, 35.0),
			       grid_feature("410199001001002", "东网格", 113.5, 34.0, 114.0, 35.0));
	struct grid_import gi = {.who = &f->sys, .tenant_id = f->tenant, .now = f->clock, .fc = fc};
	must_run(f, grid_import, &gi, "grid_import");
	json_decref(gi.report);
	json_decref(fc);
	int64_t west = q1(f, "SELECT id FROM grids WHERE tenant_id = $1 AND code = '410199001001001' "
			     "AND $2 = $2", f->tenant, 0);
	int64_t east = q1(f, "SELECT id FROM grids WHERE tenant_id = $1 AND code = '410199001001002' "
			     "AND $2 = $2", f->tenant, 0);
	assert_true(west > 0 && east > 0);
	assert_int_equal(db_execf(f->db, &e, "UPDATE enterprises SET grid_id = $1 WHERE id = $2",
				  "ii", west, f->ent_a), 0);

	struct {
		const char *what;
		const struct actor *who;
		struct request_input in;
		int64_t grid;
	} cases[] = {
		{"by its enterprise's grid", &f->ent_user,
		 {.channel = "online", .req_type = "help", .enterprise_id = f->ent_a,
		  .content = "开办餐饮店需要办理哪些许可证？\n第二行不进标题。"},
		 west},
		{"by its own location over its enterprise's", &f->ent_user,
		 {.channel = "qrcode", .req_type = "complaint", .enterprise_id = f->ent_a,
		  .content = "门前道路施工围挡影响经营。", .set_location = true, .lat = 34.5,
		  .lon = 113.75},
		 east},
		{"its enterprise's grid when the location is in none", &f->ent_user,
		 {.channel = "online", .req_type = "report", .enterprise_id = f->ent_a,
		  .content = "反映一处安全隐患。", .set_location = true, .lat = 30.1, .lon = 120.2},
		 west},
		{"by its location, with everything given", &f->disp,
		 {.channel = "hall", .req_type = "consultation", .category_id = f->cat_biz,
		  .contact_name = "周先生", .contact_phone = "13800138000", .title = "  执照变更",
		  .content = "营业执照经营范围变更需要什么材料？", .address = "大学路88号",
		  .set_location = true, .lat = 34.25, .lon = 113.25, .urgency = "urgent"},
		 west},
		{"placed nowhere", &f->disp,
		 {.channel = "hotline", .req_type = "suggestion", .content = "建议延长窗口办理时间。",
		  .urgency = "critical"},
		 0},
		{"an enterprise without a grid", &f->disp,
		 {.channel = "hall", .req_type = "help", .enterprise_id = f->ent_b,
		  .content = "用工招聘求助。"},
		 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct request got, want;
		memset(&got, 0, sizeof got);
		struct request_create c = {.who = cases[i].who, .tenant_id = f->tenant,
					   .now = f->clock + (int64_t)i * 1000, .in = cases[i].in,
					   .row = &got};
		must_run(f, request_create, &c, cases[i].what);
		if (request_get(f->db, f->tenant, c.id, &want, &e))
			fail_msg("request_get: %s", e.message);
		assert_int_equal(want.grid_id, cases[i].grid);
		same_request(cases[i].what, &got, &want);
		request_release(&got);
		request_release(&want);
	}
}

static void test_full_loop(void **state)
{
	struct fx *f = *state;
	struct err e;
	int64_t t0 = L("2025-10-20 09:10"); /* Monday */
	struct request_create c = {.who = &f->ent_user, .tenant_id = f->tenant, .now = t0,
				   .in = {.channel = "online", .req_type = "help",
					  .enterprise_id = f->ent_a, .contact_name = "周先生",
					  .contact_phone = "13800138000", .address = "大学路88号",
					  .content = "申请变更经营范围，系统提示“经营范围不规范”，"
						     "请帮忙看看应该怎么填写。"}};
	must_run(f, request_create, &c, "create");
	assert_string_equal(c.number, "20251020-000001");
	struct request r = get(f, c.id);
	assert_int_equal(r.state, RS_RECEIVED);
	/* a title from the first 30 characters of the content */
	assert_string_equal(r.title, "申请变更经营范围，系统提示“经营范围不规范”，请帮忙看看应该");
	assert_int_equal(r.created_by, f->ent_user.user_id);
	assert_int_equal(r.received_at, t0);
	assert_string_equal(r.enterprise_name, "郑州甲商贸有限公司");
	assert_int_equal(r.sign_due_at, 0);
	assert_int_equal(r.handle_due_at, 0);
	/* the next of the day numbers on */
	assert_string_equal(get(f, submit(f, t0 + 1000)).number, "20251020-000002");
	assert_string_equal(get(f, submit(f, L("2025-10-21 00:01"))).number, "20251021-000001");

	must(f, &f->disp, c.id, RA_DISPATCH, P(.department_id = f->d_reg, .category_id = f->cat_biz),
	     L("2025-10-20 10:00"));
	r = get(f, c.id);
	assert_int_equal(r.department_id, f->d_reg);
	assert_int_equal(r.category_id, f->cat_biz);
	assert_string_equal(r.category_name, "营业执照");
	assert_string_equal(r.department_name, "登记注册科");
	assert_int_equal(r.dispatched_at, L("2025-10-20 10:00"));
	/* defaults for help: sign within 450 working minutes, reply within 5 working days */
	assert_local(r.sign_due_at, "2025-10-21T10:30:00.000+08:00");
	assert_local(r.handle_due_at, "2025-10-27T23:59:59.999+08:00");

	must(f, &f->handler, c.id, RA_SIGN, NULL, L("2025-10-20 14:00"));
	r = get(f, c.id);
	assert_int_equal(r.handler_id, f->handler.user_id);
	assert_string_equal(r.handler_name, "张承办");
	assert_int_equal(r.signed_at, L("2025-10-20 14:00"));
	must(f, &f->handler, c.id, RA_START, NULL, L("2025-10-20 14:05"));
	refused(f, &f->handler, c.id, RA_REPLY, NULL, L("2025-10-22 10:00"), ERR_BAD_REQUEST,
		"public_note");
	refused(f, &f->handler, c.id, RA_REPLY, P(.public_note = "  \n"), L("2025-10-22 10:00"),
		ERR_UNPROCESSABLE, "public_note");
	must(f, &f->handler, c.id, RA_REPLY,
	     P(.public_note = "经营范围请按《经营范围登记规范表述目录》选择。",
	       .internal_note = "已电话指导"),
	     L("2025-10-22 10:00"));
	r = get(f, c.id);
	assert_int_equal(r.replied_at, L("2025-10-22 10:00"));
	/* return visit within 3 working days of the reply */
	assert_local(r.visit_due_at, "2025-10-27T23:59:59.999+08:00"); /* 23, 24, 27 */
	refused(f, &f->ent_user, c.id, RA_RATE, P(.rating = "great", .solved = true), 0,
		ERR_UNPROCESSABLE, "rating");
	refused(f, &f->ent_user, c.id, RA_RATE, P(.solved = true), 0, ERR_BAD_REQUEST, "rating");
	must(f, &f->ent_user, c.id, RA_RATE,
	     P(.rating = "satisfied", .solved = true, .public_note = "很及时，谢谢"),
	     L("2025-10-23 09:00"));
	r = get(f, c.id);
	assert_int_equal(r.state, RS_CLOSED);
	assert_string_equal(r.rating, "satisfied");
	assert_string_equal(r.rating_comment, "很及时，谢谢");
	assert_int_equal(r.rating_solved, 1);
	assert_int_equal(r.closed_on_time, 1);
	assert_int_equal(r.closed_at, L("2025-10-23 09:00"));
	assert_int_equal(r.visit_due_at, 0);
	assert_int_equal(r.version, 6); /* refused steps do not count */

	struct names n = {""};
	assert_int_equal(request_events(f->db, f->tenant, c.id, each_event, &n, &e), 0);
	assert_string_equal(n.buf, "submit dispatch sign start reply rate");
	/* the internal note is stored apart from the public one */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND "
			       "action = 'reply' AND internal_note = '已电话指导' AND public_note LIKE "
			       "'经营范围%' AND $2 = $2", c.id, 0), 1);

	/* a reply after the deadline closes late */
	int64_t late = submit(f, L("2025-10-20 09:00"));
	must(f, &f->disp, late, RA_DISPATCH, P(.department_id = f->d_reg), L("2025-10-20 10:00"));
	must(f, &f->handler, late, RA_SIGN, NULL, L("2025-10-21 11:00")); /* sign late too */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND "
			       "action = 'sign' AND data LIKE '%\"on_time\":false%' AND $2 = $2",
			    late, 0), 1);
	must(f, &f->handler, late, RA_REPLY, P(.public_note = "已办结"), L("2025-10-28 09:00"));
	must(f, &f->disp, late, RA_CLOSE, NULL, L("2025-10-29 09:00"));
	r = get(f, late);
	assert_int_equal(r.closed_on_time, 0);
	assert_string_equal(r.rating, "unrated");
}

/* ---- deadlines on the calendar ---- */

/* Dispatch a new request of the type at `when`; returns it. */
static struct request dispatched(struct fx *f, const char *type, int64_t cat, int64_t when)
{
	int64_t id = submit_full(f, &f->ent_user, type, cat, f->ent_a, when - 60000);
	must(f, &f->disp, id, RA_DISPATCH, P(.department_id = f->d_reg), when);
	return get(f, id);
}

static void test_deadlines_national_day_2025(void **state)
{
	struct fx *f = *state;
	set_policy(f, 0, "help", 450, 3, 3);
	/* the reference's worked example: Friday 09-26, 3 working days; Sat 09-27 is off,
	 * Sun 09-28 is a make-up working day -> end of Tuesday 09-30 */
	struct request r = dispatched(f, "help", 0, L("2025-09-26 10:00"));
	assert_local(r.handle_due_at, "2025-09-30T23:59:59.999+08:00");
	/* sign: 360 minutes left on Friday, the other 90 on the make-up Sunday */
	assert_local(r.sign_due_at, "2025-09-28T10:30:00.000+08:00");
	/* the hour of acceptance does not matter: late Friday evening, same deadline */
	r = dispatched(f, "help", 0, L("2025-09-26 23:30"));
	assert_local(r.handle_due_at, "2025-09-30T23:59:59.999+08:00");
	assert_local(r.sign_due_at, "2025-09-29T09:30:00.000+08:00"); /* 420 on Sunday, 30 more */
	/* accepted on the make-up Sunday itself: it does not count */
	r = dispatched(f, "help", 0, L("2025-09-28 09:00"));
	assert_local(r.handle_due_at, "2025-10-09T23:59:59.999+08:00"); /* 29, 30, 10-09 */

	/* 5 working days from Tuesday 09-30: 10-01..10-08 off; 10-09, 10-10,
	 * the make-up Saturday 10-11, 10-13, 10-14 */
	set_policy(f, f->cat_util, "", 450, 5, 3);
	r = dispatched(f, "complaint", f->cat_util, L("2025-09-30 15:00"));
	assert_int_equal(r.handle_due_at, EOD("2025-10-14"));
	assert_true(r.handle_due_at > EOD("2025-10-08"));
	/* sign: 150 minutes on 09-30, then 300 from 09:00 on 10-09 (lunch skipped) */
	assert_local(r.sign_due_at, "2025-10-09T15:30:00.000+08:00");
	r = dispatched(f, "help", f->cat_util, L("2025-10-01 10:00")); /* a holiday */
	assert_int_equal(r.handle_due_at, EOD("2025-10-14"));
	assert_local(r.sign_due_at, "2025-10-10T09:30:00.000+08:00");
	r = dispatched(f, "help", f->cat_util, L("2025-10-10 16:00"));
	assert_int_equal(r.handle_due_at, EOD("2025-10-16")); /* 11 (make-up), 13, 14, 15, 16 */
}

static void test_deadlines_spring_festival_2025(void **state)
{
	struct fx *f = *state;
	set_policy(f, 0, "consultation", 450, 3, 3);
	set_policy(f, 0, "suggestion", 450, 2, 3);
	/* Friday 01-24: Sat 01-25 off, Sun 01-26 make-up (1), Mon 01-27 (2),
	 * 01-28..02-04 off, Wed 02-05 (3) */
	struct request r = dispatched(f, "consultation", 0, L("2025-01-24 16:00"));
	assert_local(r.handle_due_at, "2025-02-05T23:59:59.999+08:00");
	/* sign: 90 minutes on Friday, then 360 on the make-up Sunday */
	assert_local(r.sign_due_at, "2025-01-26T16:30:00.000+08:00");
	/* Thursday 02-06: Fri 02-07 (1), the make-up Saturday 02-08 (2) */
	r = dispatched(f, "suggestion", 0, L("2025-02-06 09:30"));
	assert_local(r.handle_due_at, "2025-02-08T23:59:59.999+08:00");
	/* in the middle of the holiday: 02-05 (1), 02-06 (2) */
	r = dispatched(f, "suggestion", 0, L("2025-01-30 10:00"));
	assert_local(r.handle_due_at, "2025-02-06T23:59:59.999+08:00");
	assert_local(r.sign_due_at, "2025-02-06T09:30:00.000+08:00");
}

static void test_deadlines_new_year_2026(void **state)
{
	struct fx *f = *state;
	set_policy(f, 0, "report", 120, 1, 3);
	/* Wednesday 2025-12-31: 01-01..01-03 off, Sunday 01-04 is a make-up working day */
	struct request r = dispatched(f, "report", 0, L("2025-12-31 11:00"));
	assert_local(r.handle_due_at, "2026-01-04T23:59:59.999+08:00");
	/* sign within 120 working minutes: 60 before lunch, 60 after */
	assert_local(r.sign_due_at, "2025-12-31T14:30:00.000+08:00");
	r = dispatched(f, "report", 0, L("2025-12-31 17:00"));
	assert_local(r.sign_due_at, "2026-01-04T10:30:00.000+08:00");
	assert_local(r.handle_due_at, "2026-01-04T23:59:59.999+08:00");
	r = dispatched(f, "report", 0, L("2026-01-04 10:00"));
	assert_local(r.handle_due_at, "2026-01-05T23:59:59.999+08:00");
}

static void test_sign_deadlines_in_working_minutes(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *at, *due;
	} cases[] = {
		{"2025-10-20 11:00", "2025-10-20T14:30:00.000+08:00"}, /* over lunch */
		{"2025-10-20 12:30", "2025-10-20T15:30:00.000+08:00"}, /* starts after lunch */
		{"2025-10-20 07:00", "2025-10-20T11:00:00.000+08:00"}, /* before work */
		{"2025-10-20 17:00", "2025-10-21T10:30:00.000+08:00"}, /* over the evening */
		{"2025-10-20 20:00", "2025-10-21T11:00:00.000+08:00"}, /* after work */
		{"2025-10-24 16:30", "2025-10-27T10:00:00.000+08:00"}, /* over the weekend */
		{"2025-10-25 10:00", "2025-10-27T11:00:00.000+08:00"}, /* on a Saturday */
		{"2025-09-26 17:00", "2025-09-28T10:30:00.000+08:00"}, /* to the make-up Sunday */
		{"2025-09-30 17:15", "2025-10-09T10:45:00.000+08:00"}, /* over National Day */
		{"2025-10-20 10:00", "2025-10-20T12:00:00.000+08:00"}, /* runs out at lunch */
	};
	set_policy(f, 0, "complaint", 120, 15, 5);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct request r = dispatched(f, "complaint", 0, L(cases[i].at));
		char got[40];
		workcal_format_local(r.sign_due_at, got, sizeof got);
		if (strcmp(got, cases[i].due))
			fail_msg("dispatched %s: sign due %s, want %s", cases[i].at, got, cases[i].due);
	}
	/* signing in time and late, as the event records it */
	struct request r = dispatched(f, "complaint", 0, L("2025-10-20 11:00"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-10-20 14:30"));
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND "
			       "action = 'sign' AND data LIKE '%\"on_time\":true%' AND $2 = $2", r.id, 0),
			 1);
	r = dispatched(f, "complaint", 0, L("2025-10-20 11:00"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-10-20 14:31"));
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND "
			       "action = 'sign' AND data LIKE '%\"on_time\":false%' AND $2 = $2", r.id, 0),
			 1);
}

/* The most specific policy wins; a category's policy covers its subcategories. */
static void test_policy_precedence(void **state)
{
	struct fx *f = *state;
	struct time_limits l;
	struct err e;
#define LIMITS(cat, type, days, src)                                                          \
	do {                                                                                  \
		assert_int_equal(request_limits(f->db, f->tenant, (cat), (type), &l, &e), 0);     \
		assert_int_equal(l.handle_days, (days));                                      \
		assert_string_equal(l.source, (src));                                         \
	} while (0)
	LIMITS(0, "consultation", 3, "default");
	LIMITS(0, "help", 5, "default");
	LIMITS(f->cat_biz, "complaint", 15, "default");
	LIMITS(0, "report", 15, "default");
	set_policy(f, 0, "", 450, 4, 3);
	LIMITS(f->cat_biz, "complaint", 4, "tenant");
	set_policy(f, 0, "complaint", 450, 13, 3);
	LIMITS(f->cat_biz, "complaint", 13, "type");
	LIMITS(f->cat_util, "help", 4, "tenant");
	set_policy(f, f->cat_lic, "", 450, 7, 3);
	LIMITS(f->cat_lic, "help", 7, "category");
	LIMITS(f->cat_biz, "complaint", 7, "category"); /* inherited from 证照办理 */
	LIMITS(f->cat_util, "complaint", 13, "type");
	set_policy(f, f->cat_lic, "complaint", 450, 9, 3);
	LIMITS(f->cat_biz, "complaint", 9, "category+type");
	set_policy(f, f->cat_biz, "", 450, 2, 3);
	LIMITS(f->cat_biz, "complaint", 2, "category"); /* its own beats the parent's */
	LIMITS(f->cat_lic, "complaint", 9, "category+type");
	set_policy(f, f->cat_biz, "help", 240, 1, 2);
	assert_int_equal(request_limits(f->db, f->tenant, f->cat_biz, "help", &l, &e), 0);
	assert_int_equal(l.sign_minutes, 240);
	assert_int_equal(l.handle_days, 1);
	assert_int_equal(l.visit_days, 2);
	assert_string_equal(l.source, "category+type");
	/* removing a policy falls back to the next */
	struct policy_write w = {.who = &f->sys, .tenant_id = f->tenant, .category_id = f->cat_biz,
				 .req_type = "", .remove = true, .now = 2};
	must_run(f, policy_put, &w, "remove");
	LIMITS(f->cat_biz, "complaint", 9, "category+type");
	LIMITS(f->cat_biz, "consultation", 7, "category");
	/* refusals name the field */
	struct policy_write bad[] = {
		{.req_type = "praise", .sign_minutes = 60, .handle_days = 1, .visit_days = 1},
		{.sign_minutes = 29, .handle_days = 1, .visit_days = 1},
		{.sign_minutes = 60, .handle_days = 0, .visit_days = 1},
		{.sign_minutes = 60, .handle_days = 121, .visit_days = 1},
		{.sign_minutes = 60, .handle_days = 1, .visit_days = 31},
		{.category_id = 999999, .sign_minutes = 60, .handle_days = 1, .visit_days = 1},
	};
	static const char *const fields[] = {"type", "sign_minutes", "handle_days", "handle_days",
					     "visit_days", "category_id"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		bad[i].who = &f->sys;
		bad[i].tenant_id = f->tenant;
		assert_int_equal(run(f, policy_put, &bad[i], &e), ERR_UNPROCESSABLE);
		assert_string_equal(e.field, fields[i]);
	}
	/* the dispatch records which policy applied */
	struct request r = dispatched(f, "complaint", f->cat_biz, L("2025-10-20 10:00"));
	assert_int_equal(r.handle_due_at, EOD("2025-10-31")); /* 9 working days */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM request_events WHERE request_id = $1 AND "
			       "action = 'dispatch' AND data LIKE '%\"source\":\"category+type\"%' "
			       "AND $2 = $2", r.id, 0), 1);
#undef LIMITS
}

/* ---- extensions, pauses, reopening ---- */

static int64_t app_count(struct fx *f, int64_t id, const char *status)
{
	struct err e;
	int64_t v = -1;
	if (db_query_i64(f->db, &v, &e,
			 "SELECT COUNT(*) FROM request_applications WHERE tenant_id = $1 AND "
			 "request_id = $2 AND status = $3",
			 "iit", f->tenant, id, status))
		fail_msg("%s", e.message);
	return v;
}

static void test_extension(void **state)
{
	struct fx *f = *state;
	/* help, 5 working days from Monday 10-20 10:00: end of Monday 10-27 */
	struct request r = dispatched(f, "help", 0, L("2025-10-20 10:00"));
	assert_int_equal(r.handle_due_at, EOD("2025-10-27"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-10-20 11:00"));
	must(f, &f->handler, r.id, RA_START, NULL, L("2025-10-20 11:05"));

	/* after the deadline: refused, naming days */
	refused(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 3, .internal_note = "需要现场核查"),
		L("2025-10-28 00:00"), ERR_UNPROCESSABLE, "days");
	assert_int_equal(app_count(f, r.id, "pending"), 0);
	/* bad days, no reason */
	refused(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 0, .internal_note = "x"),
		L("2025-10-22 10:00"), ERR_UNPROCESSABLE, "days");
	refused(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 31, .internal_note = "x"),
		L("2025-10-22 10:00"), ERR_UNPROCESSABLE, "days");
	refused(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 3), L("2025-10-22 10:00"),
		ERR_BAD_REQUEST, "internal_note");
	/* nothing to decide yet */
	refused(f, &f->head, r.id, RA_EXTEND_DECIDE, P(.approve = true), L("2025-10-22 10:00"),
		ERR_CONFLICT, "action");
	/* at the deadline's last instant it is still in time */
	must(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 3, .internal_note = "需要现场核查"),
	     EOD("2025-10-27"));
	assert_int_equal(app_count(f, r.id, "pending"), 1);
	refused(f, &f->handler2, r.id, RA_EXTEND_APPLY, P(.days = 1, .internal_note = "再延"),
		EOD("2025-10-27"), ERR_CONFLICT, "action");
	/* a handler cannot decide; the department head of amr (above amr-reg) can */
	refused(f, &f->handler, r.id, RA_EXTEND_DECIDE, P(.approve = true), L("2025-10-28 09:00"),
		ERR_NOT_FOUND, "id");
	must(f, &f->head, r.id, RA_EXTEND_DECIDE, P(.approve = true, .internal_note = "同意延期"),
	     L("2025-10-28 09:00"));
	r = get(f, r.id);
	/* exactly 3 working days more: 10-28, 10-29, 10-30 */
	assert_int_equal(r.handle_due_at, EOD("2025-10-30"));
	assert_int_equal(r.extended_days, 3);
	assert_int_equal(app_count(f, r.id, "approved"), 1);
	assert_int_equal(app_count(f, r.id, "pending"), 0);

	/* refused: the deadline stays */
	must(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 2, .internal_note = "再申请两天"),
	     L("2025-10-29 09:00"));
	must(f, &f->head, r.id, RA_EXTEND_DECIDE, P(.approve = false, .internal_note = "不同意"),
	     L("2025-10-29 10:00"));
	r = get(f, r.id);
	assert_int_equal(r.handle_due_at, EOD("2025-10-30"));
	assert_int_equal(r.extended_days, 3);
	assert_int_equal(app_count(f, r.id, "refused"), 1);

	/* across the holiday: due on the make-up Sunday 09-28; two more days are
	 * 09-29 and 09-30, two after that 10-09 and 10-10 */
	set_policy(f, 0, "consultation", 450, 3, 3);
	r = dispatched(f, "consultation", 0, L("2025-09-24 10:00"));
	assert_int_equal(r.handle_due_at, EOD("2025-09-28"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-09-24 11:00"));
	must(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 2, .internal_note = "节前"),
	     L("2025-09-28 15:00"));
	must(f, &f->leader, r.id, RA_EXTEND_DECIDE, P(.approve = true), L("2025-09-29 09:00"));
	assert_int_equal(get(f, r.id).handle_due_at, EOD("2025-09-30"));
	must(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 2, .internal_note = "节后"),
	     L("2025-09-30 16:00"));
	must(f, &f->head, r.id, RA_EXTEND_DECIDE, P(.approve = true), L("2025-10-09 09:00"));
	r = get(f, r.id);
	assert_int_equal(r.handle_due_at, EOD("2025-10-10"));
	assert_int_equal(r.extended_days, 4);
	/* replying in the extended time closes on time */
	must(f, &f->handler, r.id, RA_REPLY, P(.public_note = "已答复"), L("2025-10-10 17:00"));
	must(f, &f->ent_user, r.id, RA_RATE, P(.rating = "basic", .solved = true), 0);
	assert_int_equal(get(f, r.id).closed_on_time, 1);
}

static void test_pause(void **state)
{
	struct fx *f = *state;
	struct request r = dispatched(f, "help", 0, L("2025-10-20 10:00"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-10-20 10:30"));
	must(f, &f->handler, r.id, RA_START, NULL, L("2025-10-20 10:40"));
	refused(f, &f->handler, r.id, RA_PAUSE, NULL, L("2025-10-21 10:00"), ERR_BAD_REQUEST,
		"public_note");
	must(f, &f->handler, r.id, RA_PAUSE, P(.public_note = "请补充提供租赁合同"),
	     L("2025-10-21 10:00"));
	r = get(f, r.id);
	assert_int_equal(r.state, RS_PAUSED);
	assert_int_equal(r.paused_from, RS_IN_PROGRESS);
	assert_int_equal(r.paused_at, L("2025-10-21 10:00"));
	/* while paused the reply cannot be sent */
	refused(f, &f->handler, r.id, RA_REPLY, P(.public_note = "x"), L("2025-10-22 10:00"),
		ERR_CONFLICT, "state");
	/* the working days 10-21, 10-22, 10-23 were touched: the deadline moves by three */
	must(f, &f->handler, r.id, RA_RESUME, NULL, L("2025-10-23 15:00"));
	r = get(f, r.id);
	assert_int_equal(r.state, RS_IN_PROGRESS);
	assert_int_equal(r.handle_due_at, EOD("2025-10-30"));
	assert_int_equal(r.paused_ms, L("2025-10-23 15:00") - L("2025-10-21 10:00"));
	assert_int_equal(r.paused_at, 0);
	/* a pause outside working hours gives nothing back, but is recorded */
	must(f, &f->handler, r.id, RA_PAUSE, P(.public_note = "等待企业周末补材料"),
	     L("2025-10-24 18:00"));
	must(f, &f->handler, r.id, RA_RESUME, NULL, L("2025-10-27 08:30"));
	r = get(f, r.id);
	assert_int_equal(r.handle_due_at, EOD("2025-10-30"));
	assert_int_equal(r.paused_ms, L("2025-10-23 15:00") - L("2025-10-21 10:00") +
					      L("2025-10-27 08:30") - L("2025-10-24 18:00"));

	/* over National Day: 09-30 (from 16:00) and 10-09 (to 09:30) are the two
	 * working days touched; 5 days from Monday 09-29 end on 10-13, plus two */
	r = dispatched(f, "help", 0, L("2025-09-29 10:00"));
	assert_int_equal(r.handle_due_at, EOD("2025-10-13"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-09-29 10:10"));
	must(f, &f->handler, r.id, RA_PAUSE, P(.public_note = "等待企业补正"), L("2025-09-30 16:00"));
	assert_int_equal(get(f, r.id).paused_from, RS_SIGNED);
	must(f, &f->handler, r.id, RA_RESUME, NULL, L("2025-10-09 09:30"));
	r = get(f, r.id);
	assert_int_equal(r.state, RS_SIGNED);
	assert_int_equal(r.handle_due_at, EOD("2025-10-15"));

	/* an extension asked while paused counts the pause: the stored deadline
	 * (10-27) has passed on 10-29, but the clock stood still since 10-21 */
	r = dispatched(f, "help", 0, L("2025-10-20 10:00"));
	must(f, &f->handler, r.id, RA_SIGN, NULL, L("2025-10-20 10:30"));
	must(f, &f->handler, r.id, RA_PAUSE, P(.public_note = "等待"), L("2025-10-21 09:30"));
	must(f, &f->handler, r.id, RA_EXTEND_APPLY, P(.days = 2, .internal_note = "暂停期间申请"),
	     L("2025-10-29 10:00"));
	/* resumed: 7 working days touched (10-21..10-29), 10-27 + 7 = 11-05 */
	must(f, &f->handler, r.id, RA_RESUME, NULL, L("2025-10-29 11:00"));
	assert_int_equal(get(f, r.id).handle_due_at, EOD("2025-11-05"));
	must(f, &f->head, r.id, RA_EXTEND_DECIDE, P(.approve = true), L("2025-10-30 09:00"));
	assert_int_equal(get(f, r.id).handle_due_at, EOD("2025-11-07"));
}

static void test_reopen(void **state)
{
	struct fx *f = *state;
	int64_t id = in_state(f, RS_REPLIED, 0);
	must(f, &f->ent_user, id, RA_RATE,
	     P(.rating = "unsatisfied", .solved = false, .public_note = "没有解决"),
	     L("2025-10-31 10:00"));
	struct request r = get(f, id);
	assert_int_equal(r.state, RS_CLOSED);
	assert_int_equal(r.rating_solved, 0);
	/* another enterprise cannot reopen it; a reason is needed */
	refused(f, &f->ent_user_b, id, RA_REOPEN, P(.public_note = "x"), L("2025-11-03 10:00"),
		ERR_NOT_FOUND, "id");
	refused(f, &f->ent_user, id, RA_REOPEN, NULL, L("2025-11-03 10:00"), ERR_BAD_REQUEST,
		"public_note");
	must(f, &f->ent_user, id, RA_REOPEN, P(.public_note = "问题依旧"), L("2025-11-03 10:00"));
	r = get(f, id);
	assert_int_equal(r.state, RS_IN_PROGRESS);
	assert_int_equal(r.reopen_count, 1);
	/* a new deadline from the reopening: 5 working days after Monday 11-03 */
	assert_int_equal(r.handle_due_at, EOD("2025-11-10"));
	/* and the handling clock starts again there: "due soon" is measured from it */
	assert_int_equal(r.clock_from, L("2025-11-03 10:00"));
	assert_true(r.clock_from > r.dispatched_at);
	assert_string_equal(r.rating, "");
	assert_int_equal(r.rating_solved, -1);
	assert_int_equal(r.closed_at, 0);
	assert_int_equal(r.replied_at, 0);
	assert_int_equal(r.closed_on_time, -1);
	assert_int_equal(r.handler_id, f->handler.user_id);
	/* the handler carries on; a second round */
	must(f, &f->handler, id, RA_REPLY, P(.public_note = "已重新办理"), L("2025-11-05 10:00"));
	must(f, &f->disp, id, RA_REOPEN, P(.public_note = "回访未解决"), L("2025-11-06 10:00"));
	r = get(f, id);
	assert_int_equal(r.reopen_count, 2);
	assert_int_equal(r.handle_due_at, EOD("2025-11-13"));
	must(f, &f->handler, id, RA_REPLY, P(.public_note = "第三次答复"), L("2025-11-07 10:00"));
	must(f, &f->ent_user, id, RA_RATE, P(.rating = "satisfied", .solved = true),
	     L("2025-11-07 11:00"));
	/* satisfied: no reopening */
	refused(f, &f->ent_user, id, RA_REOPEN, P(.public_note = "再来"), L("2025-11-08 10:00"),
		ERR_CONFLICT, "state");
	refused(f, &f->disp, id, RA_REOPEN, P(.public_note = "再来"), L("2025-11-08 10:00"),
		ERR_CONFLICT, "state");
	/* closed unrated: no reopening either */
	int64_t id2 = in_state(f, RS_REPLIED, 0);
	must(f, &f->disp, id2, RA_CLOSE, NULL, 0);
	refused(f, &f->ent_user, id2, RA_REOPEN, P(.public_note = "x"), 0, ERR_CONFLICT, "state");
}

static void test_merge(void **state)
{
	struct fx *f = *state;
	int64_t master = submit(f, L("2025-10-20 09:00"));
	int64_t dup = submit(f, L("2025-10-20 09:05"));
	int64_t voided = in_state(f, RS_VOIDED, 0);
	refused(f, &f->disp, dup, RA_MERGE, P(.master_id = dup), 0, ERR_UNPROCESSABLE, "master_id");
	refused(f, &f->disp, dup, RA_MERGE, NULL, 0, ERR_UNPROCESSABLE, "master_id");
	refused(f, &f->disp, dup, RA_MERGE, P(.master_id = 999999), 0, ERR_UNPROCESSABLE,
		"master_id");
	refused(f, &f->disp, dup, RA_MERGE, P(.master_id = voided), 0, ERR_UNPROCESSABLE,
		"master_id");
	must(f, &f->disp, dup, RA_MERGE, P(.master_id = master), 0);
	struct request r = get(f, dup);
	assert_int_equal(r.state, RS_MERGED);
	assert_int_equal(r.master_id, master);
	/* nothing merges into a merged request (no chains, no cycles) */
	int64_t third = in_state(f, RS_DISPATCHED, 0);
	refused(f, &f->disp, third, RA_MERGE, P(.master_id = dup), 0, ERR_UNPROCESSABLE, "master_id");
	refused(f, &f->disp, master, RA_MERGE, P(.master_id = dup), 0, ERR_UNPROCESSABLE,
		"master_id");
	/* a dispatched duplicate merges, and its clocks stop */
	must(f, &f->disp, third, RA_MERGE, P(.master_id = master), 0);
	r = get(f, third);
	assert_int_equal(r.state, RS_MERGED);
	assert_int_equal(r.handle_due_at, 0);
	assert_int_equal(r.sign_due_at, 0);
	/* a handler may not merge */
	int64_t fourth = in_state(f, RS_DISPATCHED, 0);
	refused(f, &f->handler, fourth, RA_MERGE, P(.master_id = master), 0, ERR_NOT_FOUND, "id");
}

static void test_return(void **state)
{
	struct fx *f = *state;
	int64_t id = in_state(f, RS_SIGNED, 0);
	refused(f, &f->handler, id, RA_RETURN_APPLY, NULL, 0, ERR_BAD_REQUEST, "internal_note");
	must(f, &f->handler, id, RA_RETURN_APPLY, P(.internal_note = "属税务局职责"), 0);
	assert_int_equal(get(f, id).state, RS_SIGNED);
	refused(f, &f->handler, id, RA_RETURN_APPLY, P(.internal_note = "再申请"), 0, ERR_CONFLICT,
		"action");
	/* refused: it stays with the department */
	must(f, &f->head, id, RA_RETURN_DECIDE, P(.approve = false, .internal_note = "属本科"), 0);
	struct request r = get(f, id);
	assert_int_equal(r.state, RS_SIGNED);
	assert_int_equal(r.department_id, f->d_reg);
	/* approved: back to the dispatcher, out of the department's sight */
	must(f, &f->handler, id, RA_RETURN_APPLY, P(.internal_note = "确属税务局职责"), 0);
	must(f, &f->head, id, RA_RETURN_DECIDE, P(.approve = true), 0);
	r = get(f, id);
	assert_int_equal(r.state, RS_RETURNED);
	assert_int_equal(r.department_id, 0);
	assert_int_equal(r.handler_id, 0);
	assert_int_equal(r.handle_due_at, 0);
	refused(f, &f->handler, id, RA_NOTE, P(.public_note = "x"), 0, ERR_NOT_FOUND, "id");
	/* redispatched to tax: new clocks, the tax handler sees it */
	must(f, &f->disp, id, RA_DISPATCH, P(.department_id = f->d_tax), L("2025-11-03 10:00"));
	r = get(f, id);
	assert_int_equal(r.department_id, f->d_tax);
	assert_int_equal(r.handle_due_at, EOD("2025-11-10"));
	must(f, &f->handler_tax, id, RA_SIGN, NULL, L("2025-11-03 11:00"));

	/* a pending application lapses when the request moves on without a decision */
	id = in_state(f, RS_IN_PROGRESS, 0);
	must(f, &f->handler, id, RA_EXTEND_APPLY, P(.days = 2, .internal_note = "延期"), 0);
	must(f, &f->handler, id, RA_RETURN_APPLY, P(.internal_note = "退单"), 0);
	must(f, &f->handler, id, RA_REPLY, P(.public_note = "已答复"), 0);
	assert_int_equal(app_count(f, id, "pending"), 0);
	assert_int_equal(app_count(f, id, "refused"), 2);
	/* reopened, there is nothing left to decide */
	must(f, &f->ent_user, id, RA_REOPEN, P(.public_note = "未解决"), 0);
	refused(f, &f->head, id, RA_EXTEND_DECIDE, P(.approve = true), 0, ERR_CONFLICT, "action");
	/* a direct return by the head takes a pending extension with it */
	must(f, &f->handler, id, RA_EXTEND_APPLY, P(.days = 1, .internal_note = "延期"), 0);
	must(f, &f->head, id, RA_RETURN, P(.internal_note = "派错"), 0);
	assert_int_equal(app_count(f, id, "pending"), 0);
	/* missing or unknown department */
	refused(f, &f->disp, id, RA_DISPATCH, NULL, 0, ERR_BAD_REQUEST, "department_id");
	refused(f, &f->disp, id, RA_DISPATCH, P(.department_id = 999999), 0, ERR_UNPROCESSABLE,
		"department_id");
	refused(f, &f->disp, id, RA_DISPATCH, P(.department_id = f->d_tax, .category_id = 999999), 0,
		ERR_UNPROCESSABLE, "category_id");
}

static void test_supervise_and_notes(void **state)
{
	struct fx *f = *state;
	int64_t id = in_state(f, RS_IN_PROGRESS, 0);
	refused(f, &f->super, id, RA_SUPERVISE, P(.level = 0), 0, ERR_UNPROCESSABLE, "level");
	refused(f, &f->super, id, RA_SUPERVISE, P(.level = 4), 0, ERR_UNPROCESSABLE, "level");
	must(f, &f->super, id, RA_SUPERVISE, P(.level = 2), 0);
	assert_int_equal(get(f, id).supervision_level, 2);
	must(f, &f->leader, id, RA_SUPERVISE, P(.level = 1), 0); /* never lowered */
	assert_int_equal(get(f, id).supervision_level, 2);
	must(f, &f->disp, id, RA_SUPERVISE, P(.level = 3), 0);
	assert_int_equal(get(f, id).supervision_level, 3);
	/* the handler and the enterprise do not supervise */
	refused(f, &f->handler, id, RA_SUPERVISE, P(.level = 1), 0, ERR_NOT_FOUND, "id");
	refused(f, &f->ent_user, id, RA_SUPERVISE, P(.level = 1), 0, ERR_NOT_FOUND, "id");
	/* notes: one of the two is needed; a long one is refused */
	refused(f, &f->handler, id, RA_NOTE, NULL, 0, ERR_BAD_REQUEST, "public_note");
	must(f, &f->handler, id, RA_NOTE, P(.internal_note = "已约企业周四面谈"), 0);
	must(f, &f->ent_user, id, RA_NOTE, P(.public_note = "补充：联系电话已变更"), 0);
	char big[2100 * 3 + 1];
	size_t k = 0;
	for (int i = 0; i < 2001; i++) {
		memcpy(big + k, "字", 3);
		k += 3;
	}
	big[k] = '\0';
	refused(f, &f->handler, id, RA_NOTE, P(.public_note = big), 0, ERR_UNPROCESSABLE,
		"public_note");
	refused(f, &f->handler, id, RA_NOTE, P(.internal_note = big), 0, ERR_UNPROCESSABLE,
		"internal_note");
	/* an observer reads its own only; the enterprise B not A's */
	refused(f, &f->observer, id, RA_NOTE, P(.public_note = "x"), 0, ERR_NOT_FOUND, "id");
	refused(f, &f->ent_user_b, id, RA_NOTE, P(.public_note = "x"), 0, ERR_NOT_FOUND, "id");
	/* a rating comment of more than 300 characters */
	int64_t rep = in_state(f, RS_REPLIED, 0);
	big[301 * 3] = '\0';
	refused(f, &f->ent_user, rep, RA_RATE, P(.rating = "basic", .solved = true, .public_note = big),
		0, ERR_UNPROCESSABLE, "public_note");
}

/* ---- versions and scopes ---- */

static void test_version_conflict(void **state)
{
	struct fx *f = *state;
	int64_t id = in_state(f, RS_DISPATCHED, 0);
	int64_t v = get(f, id).version;
	assert_int_equal(v, 2);
	refused(f, &f->handler, id, RA_SIGN, P(.expect_version = v - 1), 0, ERR_CONFLICT, "version");
	refused(f, &f->handler, id, RA_SIGN, P(.expect_version = v + 1), 0, ERR_CONFLICT, "version");
	must(f, &f->handler, id, RA_SIGN, P(.expect_version = v), 0);
	/* the same page acting twice: the second is stale */
	refused(f, &f->handler2, id, RA_START, P(.expect_version = v), 0, ERR_CONFLICT, "version");
	must(f, &f->handler2, id, RA_START, P(.expect_version = v + 1), 0);
	assert_int_equal(get(f, id).version, v + 2);
}

static void test_scopes(void **state)
{
	struct fx *f = *state;
	int64_t id = in_state(f, RS_DISPATCHED, 0);
	/* a handler of another department: as if it did not exist */
	refused(f, &f->handler_tax, id, RA_SIGN, NULL, 0, ERR_NOT_FOUND, "id");
	refused(f, &f->handler_tax, id, RA_NOTE, P(.internal_note = "x"), 0, ERR_NOT_FOUND, "id");
	/* a missing request looks the same */
	refused(f, &f->handler_tax, 999999, RA_SIGN, NULL, 0, ERR_NOT_FOUND, "id");
	/* the enterprise is not staff */
	refused(f, &f->ent_user, id, RA_SIGN, NULL, 0, ERR_NOT_FOUND, "id");
	refused(f, &f->ent_user, id, RA_RETURN, P(.internal_note = "x"), 0, ERR_NOT_FOUND, "id");
	/* the head of amr reaches amr-reg (below it) */
	must(f, &f->head, id, RA_SIGN, NULL, 0);
	assert_int_equal(get(f, id).handler_id, f->head.user_id);
	/* before dispatch no department can touch it */
	int64_t rec = in_state(f, RS_RECEIVED, 0);
	refused(f, &f->handler, rec, RA_NOTE, P(.internal_note = "x"), 0, ERR_NOT_FOUND, "id");
	refused(f, &f->head, rec, RA_NOTE, P(.internal_note = "x"), 0, ERR_NOT_FOUND, "id");

	/* request_visible under each scope */
	struct request r = get(f, id);
	assert_true(request_visible(&f->handler, SCOPE_DEPT, &r));
	assert_false(request_visible(&f->handler_tax, SCOPE_DEPT, &r));
	assert_true(request_visible(&f->head, SCOPE_DEPT_TREE, &r));
	assert_false(request_visible(&f->head, SCOPE_DEPT, &r));
	assert_true(request_visible(&f->ent_user, SCOPE_SELF, &r));
	assert_false(request_visible(&f->ent_user_b, SCOPE_SELF, &r));
	assert_false(request_visible(&f->observer, SCOPE_SELF, &r));
	assert_true(request_visible(&f->observer, SCOPE_ALL, &r));
	assert_false(request_visible(&f->handler, SCOPE_NONE, &r));
	/* an observer's own submission is theirs */
	int64_t mine = submit_full(f, &f->observer, "suggestion", 0, 0, f->clock);
	r = get(f, mine);
	assert_true(request_visible(&f->observer, SCOPE_SELF, &r));
	must(f, &f->observer, mine, RA_NOTE, P(.public_note = "补充一点"), 0);
}

/* ---- what is offered is what succeeds ---- */

/* The applications of a request read one by one (request_applications), texts copied. */
struct apps_read {
	struct request_application v[16];
	size_t n;
};

static int keep_app(const struct request_application *a, void *ctx)
{
	struct apps_read *r = ctx;
	assert_true(r->n < sizeof r->v / sizeof r->v[0]);
	struct request_application *c = &r->v[r->n++];
	*c = *a;
	c->kind = strdup(a->kind);
	c->status = strdup(a->status);
	c->reason = strdup(a->reason);
	c->decision_note = strdup(a->decision_note);
	c->applicant_name = strdup(a->applicant_name);
	return 0;
}

static void apps_release(struct apps_read *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free((char *)r->v[i].kind);
		free((char *)r->v[i].status);
		free((char *)r->v[i].reason);
		free((char *)r->v[i].decision_note);
		free((char *)r->v[i].applicant_name);
	}
}

/* The actions request_actions offers who, with r's applications read one by one. */
static unsigned actions(struct fx *f, const struct actor *who, const struct request *r, int64_t now)
{
	struct apps_read d = {.n = 0};
	struct err e;
	if (request_applications(f->db, r->tenant_id, r->id, keep_app, &d, &e))
		fail_msg("request_applications: %s", e.message);
	unsigned set = request_actions(who, r, d.v, d.n, now, f->cal);
	/* the detail's one statement reads the same */
	struct request_detail g;
	if (request_get_detail(f->db, r->tenant_id, r->id, &g, &e))
		fail_msg("request_get_detail: %s", e.message);
	assert_int_equal(g.r.id, r->id);
	assert_int_equal(g.r.version, r->version);
	if (r->content)
		assert_string_equal(g.r.content, r->content);
	assert_int_equal(g.napps, d.n);
	for (size_t i = 0; i < d.n; i++) {
		assert_int_equal(g.apps[i].id, d.v[i].id);
		assert_string_equal(g.apps[i].kind, d.v[i].kind);
		assert_string_equal(g.apps[i].status, d.v[i].status);
		assert_string_equal(g.apps[i].reason, d.v[i].reason);
		assert_string_equal(g.apps[i].applicant_name, d.v[i].applicant_name);
	}
	assert_int_equal(request_actions(who, &g.r, g.apps, g.napps, now, f->cal), set);
	request_detail_release(&g);
	apps_release(&d);
	return set;
}

static void test_actions_offered_match_outcomes(void **state)
{
	struct fx *f = *state;
	int64_t master = submit(f, f->clock);
	struct {
		const char *what;
		int64_t id;
	} cases[20];
	int n = 0;
	for (int s = 0; s < RS__COUNT; s++) {
		cases[n].what = req_state_name((enum req_state)s);
		cases[n++].id = in_state(f, (enum req_state)s, master);
	}
	cases[n].what = "in_progress, extension pending";
	cases[n].id = in_state(f, RS_IN_PROGRESS, master);
	step_default(f, cases[n++].id, RA_EXTEND_APPLY, 0);
	cases[n].what = "dispatched, return pending";
	cases[n].id = in_state(f, RS_DISPATCHED, master);
	step_default(f, cases[n++].id, RA_RETURN_APPLY, 0);
	cases[n].what = "closed, satisfied";
	cases[n].id = in_state(f, RS_REPLIED, master);
	must(f, &f->ent_user, cases[n++].id, RA_RATE, P(.rating = "satisfied", .solved = true), 0);
	cases[n].what = "paused, extension pending";
	cases[n].id = in_state(f, RS_PAUSED, master);
	step_default(f, cases[n++].id, RA_EXTEND_APPLY, 0);

	const struct actor *actors[] = {&f->disp, &f->handler, &f->handler_tax, &f->head,
					&f->leader, &f->super, &f->observer, &f->ent_user,
					&f->ent_user_b};
	int offered = 0;
	for (int i = 0; i < n; i++) {
		for (int at = 0; at < 2; at++) {
			/* now, and long after every deadline (no extension then, except paused) */
			int64_t now = at ? L("2026-06-01 10:00") : f->clock;
			struct request r = get(f, cases[i].id);
			for (size_t k = 0; k < ARRAY_SIZE(actors); k++) {
				unsigned set = actions(f, actors[k], &r, now);
				struct err e;
				assert_false(set & (1u << RA_AUTO_CLOSE));
				for (int a = 0; a < RA__COUNT; a++) {
					if (a == RA_AUTO_CLOSE)
						continue;
					struct request_step s = defaults(f, (enum req_action)a, master);
					s.who = actors[k];
					s.scope = authz_scope(actors[k], request_action_perm((enum req_action)a));
					s.tenant_id = f->tenant;
					s.id = cases[i].id;
					s.action = (enum req_action)a;
					s.now = now;
					s.cal = f->cal;
					int rc = attempt(f, request_act, &s, &e);
					bool offer = set & (1u << a);
					if (offer != (rc == 0))
						fail_msg("%s: %s by %s: offered %d, outcome %d (%s)",
							 cases[i].what, req_action_name((enum req_action)a),
							 actors[k]->login, offer, rc, e.message);
					offered += offer;
				}
			}
		}
	}
	assert_true(offered > 100);
	/* a few written out */
	struct request r = get(f, cases[RS_REPLIED].id);
	unsigned set = actions(f, &f->ent_user, &r, f->clock);
	assert_int_equal(set, (1u << RA_RATE) | (1u << RA_REOPEN) | (1u << RA_NOTE));
	set = actions(f, &f->ent_user_b, &r, f->clock);
	assert_int_equal(set, 0);
	r = get(f, cases[RS_DISPATCHED].id);
	set = actions(f, &f->handler, &r, f->clock);
	assert_int_equal(set, (1u << RA_SIGN) | (1u << RA_RETURN_APPLY) | (1u << RA_NOTE));
	set = actions(f, &f->head, &r, f->clock);
	assert_int_equal(set, (1u << RA_SIGN) | (1u << RA_RETURN_APPLY) | (1u << RA_RETURN) |
				      (1u << RA_NOTE));
	set = actions(f, &f->disp, &r, f->clock);
	assert_int_equal(set, (1u << RA_SUPERVISE) | (1u << RA_MERGE) | (1u << RA_NOTE));
	r = get(f, cases[RS__COUNT + 1].id); /* return pending */
	set = actions(f, &f->head, &r, f->clock);
	assert_int_equal(set, (1u << RA_SIGN) | (1u << RA_RETURN_DECIDE) | (1u << RA_RETURN) |
				      (1u << RA_NOTE));
}

/* ---- lists ---- */

struct ids {
	int64_t v[64];
	int n;
};

static int collect(const struct request *r, void *ctx)
{
	struct ids *x = ctx;
	if (x->n < 64)
		x->v[x->n++] = r->id;
	return 0;
}

static struct ids list(struct fx *f, const struct actor *who, enum request_view view, int64_t now)
{
	struct request_filter flt = {.view = view, .limit = 50};
	struct ids x = {{0}, 0};
	struct err e;
	enum scope sc = authz_scope(who, PERM_REQUEST_READ);
	if (request_list(f->db, who, sc, &flt, now, f->cal, collect, &x, &e))
		fail_msg("request_list: %s", e.message);
	return x;
}

/* The ids, newest first, must be exactly these (given oldest first, 0-terminated). */
static void assert_ids(struct ids got, const int64_t *want, const char *what)
{
	int n = 0;
	while (want[n])
		n++;
	bool ok = got.n == n;
	for (int i = 0; ok && i < n; i++)
		ok = got.v[i] == want[n - 1 - i];
	if (!ok) {
		char g[256] = "", w[256] = "";
		for (int i = 0; i < got.n; i++)
			snprintf(g + strlen(g), sizeof g - strlen(g), " %lld", (long long)got.v[i]);
		for (int i = n - 1; i >= 0; i--)
			snprintf(w + strlen(w), sizeof w - strlen(w), " %lld", (long long)want[i]);
		fail_msg("%s: got%s, want%s", what, g, w);
	}
}

static void test_views(void **state)
{
	struct fx *f = *state;
	int64_t now = L("2025-10-27 10:00"); /* Monday */
	/* received, returned */
	int64_t received = submit(f, L("2025-10-20 09:00"));
	int64_t returned = submit(f, L("2025-10-20 09:01"));
	must(f, &f->disp, returned, RA_DISPATCH, P(.department_id = f->d_reg), L("2025-10-20 10:00"));
	must(f, &f->head, returned, RA_RETURN, P(.internal_note = "派错"), L("2025-10-20 11:00"));
	/* dispatched, never signed: the sign deadline passed */
	int64_t unsigned_ = dispatched(f, "help", 0, L("2025-10-23 10:00")).id;
	/* in progress, reply overdue (5 days from 10-10: 10-11, 13, 14, 15, 16) */
	int64_t overdue = dispatched(f, "help", 0, L("2025-10-10 10:00")).id;
	must(f, &f->handler, overdue, RA_SIGN, NULL, L("2025-10-10 11:00"));
	must(f, &f->handler, overdue, RA_START, NULL, L("2025-10-10 11:01"));
	/* in progress, due at the end of today: due soon, not overdue */
	int64_t soon = dispatched(f, "help", 0, L("2025-10-20 10:00")).id;
	must(f, &f->handler, soon, RA_SIGN, NULL, L("2025-10-20 11:00"));
	/* signed on 10-24, due 10-31: on time */
	int64_t fresh = dispatched(f, "help", 0, L("2025-10-24 09:00")).id;
	must(f, &f->handler, fresh, RA_SIGN, NULL, L("2025-10-24 09:30"));
	/* paused since before its stored deadline passed: the clock stands */
	int64_t paused = dispatched(f, "help", 0, L("2025-10-10 10:00")).id;
	must(f, &f->handler, paused, RA_SIGN, NULL, L("2025-10-10 10:30"));
	must(f, &f->handler, paused, RA_PAUSE, P(.public_note = "等待企业"), L("2025-10-13 10:00"));
	/* replied, its visit overdue (3 days from 10-21: 22, 23, 24) */
	int64_t visit = dispatched(f, "help", 0, L("2025-10-20 10:00")).id;
	must(f, &f->handler, visit, RA_SIGN, NULL, L("2025-10-20 10:30"));
	must(f, &f->handler, visit, RA_REPLY, P(.public_note = "已答复"), L("2025-10-21 10:00"));
	/* closed */
	int64_t closed = in_state(f, RS_CLOSED, 0);
	/* an extension pending */
	int64_t pending = dispatched(f, "help", 0, L("2025-10-24 10:00")).id;
	must(f, &f->handler, pending, RA_SIGN, NULL, L("2025-10-24 10:30"));
	must(f, &f->handler, pending, RA_EXTEND_APPLY, P(.days = 2, .internal_note = "延期"),
	     L("2025-10-24 11:00"));
	/* dispatched to tax */
	int64_t tax = submit_full(f, &f->ent_user_b, "consultation", 0, f->ent_b, L("2025-10-24 09:00"));
	must(f, &f->disp, tax, RA_DISPATCH, P(.department_id = f->d_tax), L("2025-10-27 09:00"));

	assert_ids(list(f, &f->disp, RV_TO_DISPATCH, now), (int64_t[]){received, returned, 0},
		   "to_dispatch");
	assert_ids(list(f, &f->disp, RV_TO_SIGN, now), (int64_t[]){unsigned_, tax, 0}, "to_sign");
	assert_ids(list(f, &f->disp, RV_OPEN, now),
		   (int64_t[]){unsigned_, overdue, soon, fresh, paused, pending, tax, 0}, "open");
	/* the overdue queue: longest overdue first (the reply of 10-16, the signing of 10-23's
	 * dispatch, the visit of 10-24) */
	assert_ids(list(f, &f->disp, RV_OVERDUE, now), (int64_t[]){visit, unsigned_, overdue, 0},
		   "overdue");
	assert_ids(list(f, &f->disp, RV_DUE_SOON, now), (int64_t[]){soon, 0}, "due_soon");
	assert_ids(list(f, &f->disp, RV_TO_RATE, now), (int64_t[]){visit, 0}, "to_rate");
	assert_ids(list(f, &f->disp, RV_CLOSED, now), (int64_t[]){closed, 0}, "closed");
	assert_ids(list(f, &f->disp, RV_PENDING_DECISION, now), (int64_t[]){pending, 0},
		   "pending_decision");
	assert_int_equal(list(f, &f->disp, RV_ALL, now).n, 11);
	/* the tax handler sees tax's only; the amr head every amr-reg one; B its own */
	assert_ids(list(f, &f->handler_tax, RV_ALL, now), (int64_t[]){tax, 0}, "tax handler");
	assert_ids(list(f, &f->handler_tax, RV_OVERDUE, now), (int64_t[]){0}, "tax overdue");
	assert_ids(list(f, &f->head, RV_OPEN, now),
		   (int64_t[]){unsigned_, overdue, soon, fresh, paused, pending, 0}, "head open");
	assert_ids(list(f, &f->ent_user_b, RV_ALL, now), (int64_t[]){tax, 0}, "enterprise b");
	assert_int_equal(list(f, &f->ent_user, RV_ALL, now).n, 10);
	assert_int_equal(list(f, &f->observer, RV_ALL, now).n, 0);
	/* a day later the soon one is overdue too */
	assert_ids(list(f, &f->disp, RV_OVERDUE, L("2025-10-28 09:00")),
		   (int64_t[]){soon, visit, unsigned_, overdue, 0}, "overdue tomorrow");
	/* its pages: after the (deadline, id) of the last one, no repeats, none missed */
	struct request_filter late = {.view = RV_OVERDUE, .limit = 1};
	int64_t order[] = {overdue, unsigned_, visit, soon};
	for (size_t i = 0; i <= ARRAY_SIZE(order); i++) {
		struct ids x = {{0}, 0};
		struct err e;
		assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &late, L("2025-10-28 09:00"),
					      f->cal, collect, &x, &e),
				 0);
		assert_int_equal(x.n, i < ARRAY_SIZE(order));
		if (!x.n)
			break;
		assert_int_equal(x.v[0], order[i]);
		struct request r = get(f, x.v[0]);
		late.after_key = request_overdue_key(&r);
		late.after = r.id;
		assert_true(late.after_key > 0);
		request_release(&r);
	}

	/* keyset paging: pages of 3, newest first, no repeats */
	struct request_filter flt = {.view = RV_ALL, .limit = 3};
	struct ids all = {{0}, 0};
	for (int page = 0; page < 10; page++) {
		struct ids x = {{0}, 0};
		struct err e;
		assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &flt, now, f->cal, collect, &x,
					      &e),
				 0);
		for (int i = 0; i < x.n; i++)
			all.v[all.n++] = x.v[i];
		if (x.n < 3)
			break;
		flt.after = x.v[x.n - 1];
	}
	assert_int_equal(all.n, 11);
	for (int i = 1; i < all.n; i++)
		assert_true(all.v[i] < all.v[i - 1]);
	/* filters: state, department, enterprise, type, number prefix */
	struct request_filter byst = {.view = RV_ALL, .state = "paused", .limit = 50};
	struct ids x = {{0}, 0};
	struct err e;
	assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &byst, now, f->cal, collect, &x, &e), 0);
	assert_ids(x, (int64_t[]){paused, 0}, "state=paused");
	struct request_filter bydept = {.view = RV_ALL, .department_id = f->d_tax, .limit = 50};
	x.n = 0;
	assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &bydept, now, f->cal, collect, &x, &e), 0);
	assert_ids(x, (int64_t[]){tax, 0}, "department");
	struct request_filter bytype = {.view = RV_ALL, .req_type = "consultation",
					.enterprise_id = f->ent_b, .limit = 50};
	x.n = 0;
	assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &bytype, now, f->cal, collect, &x, &e), 0);
	assert_ids(x, (int64_t[]){tax, 0}, "type");
	struct request_filter byq = {.view = RV_ALL, .q = "20251024-", .limit = 50};
	x.n = 0;
	assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &byq, now, f->cal, collect, &x, &e), 0);
	assert_ids(x, (int64_t[]){fresh, pending, tax, 0}, "number prefix");
	struct request_filter wild = {.view = RV_ALL, .q = "%", .limit = 50};
	x.n = 0;
	assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &wild, now, f->cal, collect, &x, &e), 0);
	assert_int_equal(x.n, 0); /* % is a character, not a wildcard */
}

/* Due soon: exactly the running requests the calendar calls due soon, soonest deadline
 * first (then the clock's start, then id), the same in pages of one. */
static void test_due_soon_queue(void **state)
{
	struct fx *f = *state;
	int64_t now = L("2025-10-28 15:00"); /* Tuesday */
	static const struct {
		const char *type, *at;
		bool sign;
	} reqs[] = {
		{"complaint", "2025-10-09 10:00", true}, /* 15 working days: due 10-29, due soon */
		{"help", "2025-10-17 09:00", false},     /* overdue */
		{"help", "2025-10-21 09:00", true},      /* due 10-28, due soon */
		{"help", "2025-10-21 09:00", false},     /* the same */
		{"help", "2025-10-22 09:00", true},      /* due 10-29, not yet */
		{"consultation", "2025-10-23 09:00", false}, /* due 10-28, due soon */
		{"help", "2025-10-23 09:00", true},      /* due 10-30, not yet */
		{"help", "2025-10-24 16:00", false},     /* due 10-31, not yet */
	};
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		int64_t id = dispatched(f, reqs[i].type, 0, L(reqs[i].at)).id;
		if (reqs[i].sign)
			must(f, &f->handler, id, RA_SIGN, NULL, L(reqs[i].at) + 600000);
	}
	/* the expected order, from every open request */
	struct ids open = list(f, &f->disp, RV_OPEN, now);
	struct {
		int64_t due, start, id;
	} want[64];
	int nwant = 0, running = 0;
	for (int i = 0; i < open.n; i++) {
		struct request r = get(f, open.v[i]);
		if (r.state == RS_PAUSED || !r.handle_due_at)
			continue;
		running++;
		if (workcal_state(f->cal, now, r.clock_from, r.handle_due_at, WORKCAL_SOON_DEFAULT,
				  NULL) != WORKCAL_DUE_SOON)
			continue;
		int k = nwant++;
		while (k > 0 && (want[k - 1].due > r.handle_due_at ||
				 (want[k - 1].due == r.handle_due_at &&
				  (want[k - 1].start > r.clock_from ||
				   (want[k - 1].start == r.clock_from && want[k - 1].id > r.id))))) {
			want[k] = want[k - 1];
			k--;
		}
		want[k].due = r.handle_due_at;
		want[k].start = r.clock_from;
		want[k].id = r.id;
	}
	assert_int_equal(nwant, 4);           /* 10-28: two of 10-21, one of 10-23; 10-29: 10-09's */
	assert_int_equal(running - nwant, 4); /* overdue, 10-29's other, 10-30, 10-31 */
	struct ids all = list(f, &f->disp, RV_DUE_SOON, now);
	assert_int_equal(all.n, nwant);
	for (int i = 0; i < nwant; i++)
		assert_int_equal(all.v[i], want[i].id);
	struct request_filter flt = {.view = RV_DUE_SOON, .limit = 1};
	for (int i = 0; i <= nwant; i++) {
		struct ids x = {{0}, 0};
		struct err e;
		assert_int_equal(request_list(f->db, &f->disp, SCOPE_ALL, &flt, now, f->cal, collect, &x,
					      &e),
				 0);
		assert_int_equal(x.n, i < nwant);
		if (!x.n)
			break;
		assert_int_equal(x.v[0], want[i].id);
		flt.after_key = want[i].due;
		flt.after_start = want[i].start;
		flt.after = want[i].id;
	}
}

/* ---- validation and storage ---- */

/* request_json's members as a parsed object (the test reads it back with jansson). */
static json_t *rjson(const struct request *r, int64_t now, const struct workcal *cal, bool staff)
{
	struct buf b;
	struct jsonw w;
	json_error_t je;
	buf_init(&b, 0);
	jsonw_init(&w, &b, 12);
	jsonw_object(&w);
	request_json(&w, r, now, cal, REQUEST_JSON_CONTENT | (staff ? REQUEST_JSON_STAFF : 0));
	jsonw_end(&w);
	assert_int_equal(jsonw_finish(&w), 0);
	json_t *j = json_loads(b.p, 0, &je);
	if (!j)
		fail_msg("request_json wrote invalid JSON: %s", je.text);
	buf_release(&b);
	return j;
}

static void test_create_validation(void **state)
{
	struct fx *f = *state;
	struct err e;
	char big[4001 * 3 + 1];
	size_t k = 0;
	for (int i = 0; i < 4001; i++) {
		memcpy(big + k, "诉", 3);
		k += 3;
	}
	big[k] = '\0';
	static const struct {
		struct request_input in;
		int code;
		const char *field;
	} cases[] = {
		{{.channel = "online", .req_type = "help"}, ERR_BAD_REQUEST, "content"},
		{{.channel = "online", .req_type = "help", .content = " \n "}, ERR_UNPROCESSABLE, "content"},
		{{.channel = "fax", .req_type = "help", .content = "x"}, ERR_UNPROCESSABLE, "channel"},
		{{.req_type = "help", .content = "x"}, ERR_BAD_REQUEST, "channel"},
		{{.channel = "online", .req_type = "praise", .content = "x"}, ERR_UNPROCESSABLE, "type"},
		{{.channel = "online", .content = "x"}, ERR_BAD_REQUEST, "type"},
		{{.channel = "online", .req_type = "help", .content = "x", .urgency = "asap"},
		 ERR_UNPROCESSABLE, "urgency"},
		{{.channel = "online", .req_type = "help", .content = "x", .contact_phone = "12ab"},
		 ERR_UNPROCESSABLE, "contact_phone"},
		{{.channel = "online", .req_type = "help", .content = "x", .set_location = true,
		  .lat = 91, .lon = 113}, ERR_UNPROCESSABLE, "lat"},
		{{.channel = "online", .req_type = "help", .content = "x", .set_location = true,
		  .lat = 34.7, .lon = 181}, ERR_UNPROCESSABLE, "lon"},
		{{.channel = "online", .req_type = "help", .content = "x", .category_id = 999999},
		 ERR_UNPROCESSABLE, "category_id"},
		{{.channel = "online", .req_type = "help", .content = "x", .enterprise_id = 999999},
		 ERR_UNPROCESSABLE, "enterprise_id"},
		{{.channel = "online", .req_type = "help", .content = "\xff\xfe"}, ERR_BAD_REQUEST,
		 "content"},
	};
	int64_t before = q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND $2 = $2",
			    f->tenant, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct request_create c = {.who = &f->disp, .tenant_id = f->tenant, .now = f->clock,
					   .in = cases[i].in};
		int rc = run(f, request_create, &c, &e);
		if (rc != cases[i].code || strcmp(e.field, cases[i].field))
			fail_msg("case %zu: got %d %s, want %d %s", i, rc, e.field, cases[i].code,
				 cases[i].field);
	}
	struct request_create c = {.who = &f->disp, .tenant_id = f->tenant, .now = f->clock,
				   .in = {.channel = "hall", .req_type = "help", .content = big}};
	assert_int_equal(run(f, request_create, &c, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "content");
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND $2 = $2",
			    f->tenant, 0), before);
	/* exactly 4000 characters is fine; a title of 100 wide characters survives whole */
	big[4000 * 3] = '\0';
	char title[100 * 3 + 1];
	for (int i = 0; i < 100; i++)
		memcpy(title + 3 * i, "题", 3);
	title[300] = '\0';
	c.in.content = big;
	c.in.title = title;
	c.in.contact_name = "欧阳长名字的联系人这是一个三十二个字符以内的名字没错就是这样的吧";
	must_run(f, request_create, &c, "4000 characters");
	struct request r;
	assert_int_equal(request_get(f->db, f->tenant, c.id, &r, &e), 0);
	assert_int_equal(strlen(r.content), 4000 * 3);
	assert_string_equal(r.title, title);
	assert_string_equal(r.contact_name, c.in.contact_name);
	json_t *j = rjson(&r, f->clock, f->cal, true);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "title")), title);
	json_decref(j);
	request_release(&r);
	/* an inactive category is refused */
	struct category_write w = {.who = &f->sys, .tenant_id = f->tenant, .id = f->cat_util,
				   .set_active = true, .active = false, .now = 2};
	must_run(f, category_update, &w, "deactivate");
	c.in.content = "停水了";
	c.in.title = NULL;
	c.in.category_id = f->cat_util;
	assert_int_equal(run(f, request_create, &c, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "category_id");
}

static void test_json(void **state)
{
	struct fx *f = *state;
	struct request r = dispatched(f, "help", f->cat_biz, L("2025-10-20 10:00"));
	struct request full;
	struct err e;
	assert_int_equal(request_get(f->db, f->tenant, r.id, &full, &e), 0);
	/* staff see contact data; the enterprise does not */
	json_t *staff = rjson(&full, L("2025-10-20 11:00"), f->cal, true);
	json_t *pub = rjson(&full, L("2025-10-20 11:00"), f->cal, false);
	assert_non_null(json_object_get(staff, "contact_phone"));
	assert_null(json_object_get(pub, "contact_phone"));
	assert_null(json_object_get(pub, "handler_id"));
	assert_string_equal(json_string_value(json_object_get(pub, "state")), "dispatched");
	json_t *dl = json_object_get(pub, "deadlines");
	assert_string_equal(json_string_value(json_object_get(json_object_get(dl, "handle"), "local")),
			    "2025-10-27T23:59:59.999+08:00");
	assert_string_equal(json_string_value(json_object_get(json_object_get(dl, "sign"), "state")),
			    "on_time");
	assert_true(json_is_null(json_object_get(dl, "visit")));
	json_decref(staff);
	json_decref(pub);
	/* late: the sign deadline is overdue */
	pub = rjson(&full, L("2025-10-21 10:31"), f->cal, false);
	dl = json_object_get(pub, "deadlines");
	assert_string_equal(json_string_value(json_object_get(json_object_get(dl, "sign"), "state")),
			    "overdue");
	assert_string_equal(json_string_value(json_object_get(json_object_get(dl, "handle"), "state")),
			    "on_time");
	json_decref(pub);
	request_release(&full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_every_action_from_every_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_system_actor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_row_is_stored_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlines_national_day_2025, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlines_spring_festival_2025, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadlines_new_year_2026, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_deadlines_in_working_minutes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extension, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supervise_and_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actions_offered_match_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_soon_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
