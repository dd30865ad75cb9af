/*
 * test_visit.c — the visit system's rules (src/core/visit.c, campaign.c):
 * table-driven tests of policy matching and the strictest pick, due dates and
 * anchor days, input validation naming the field; and, against a real SQLite
 * file, the visit state kept by registry writes, policy changes and visits,
 * the overdue blind-spot section, and campaign counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "core/campaign.h"
#include "core/enterprise.h"
#include "core/settings.h"
#include "core/team.h"
#include "core/visit.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define DAY VISIT_DAY_MS

/* ---- pure rules ---- */

static struct visit_policy pol(int64_t id, int days, int key, const char *tag, const char *size,
			       const char *sec)
{
	struct visit_policy p;
	memset(&p, 0, sizeof p);
	p.id = id;
	p.interval_days = days;
	p.match_key = key;
	snprintf(p.match_tag, sizeof p.match_tag, "%s", tag ? tag : "");
	snprintf(p.match_size, sizeof p.match_size, "%s", size ? size : "");
	snprintf(p.match_section, sizeof p.match_section, "%s", sec ? sec : "");
	return p;
}

static void test_policy_pick(void **state)
{
	(void)state;
	const struct visit_policy ps[] = {
		pol(1, 90, -1, NULL, NULL, NULL),       /* everyone */
		pol(2, 30, 1, NULL, NULL, NULL),        /* key */
		pol(3, 60, -1, "专精特新", NULL, NULL), /* a tag */
		pol(4, 45, -1, NULL, "large", NULL),    /* a size */
		pol(5, 45, -1, NULL, NULL, "C"),        /* an industry; ties with 4: smaller id wins */
		pol(6, 20, 0, "夜市", NULL, "H"),       /* non-key night-market caterers */
	};
	static const struct {
		struct visit_subject s;
		int64_t want;
	} t[] = {
		{{true, false, "", "", ""}, 1},
		{{false, true, "", "", ""}, 0},                      /* not active: no duty */
		{{true, true, "", "", ""}, 2},
		{{true, false, "专精特新", "", ""}, 3},
		{{true, false, "a,专精特新,b", "", ""}, 3},
		{{true, false, "专精特新x", "", ""}, 1},             /* a tag matches whole */
		{{true, true, "专精特新", "", ""}, 2},
		{{true, false, "", "large", ""}, 4},
		{{true, false, "", "large", "C"}, 4},
		{{true, false, "", "small", "C"}, 5},
		{{true, false, "夜市", "", "H"}, 6},
		{{true, true, "夜市", "", "H"}, 2},                  /* key: 6 does not match */
		{{true, false, "夜市", "", "G"}, 1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		const struct visit_policy *p = visit_policy_pick(ps, ARRAY_SIZE(ps), &t[i].s);
		assert_int_equal(p ? p->id : 0, t[i].want);
	}
	struct visit_subject any = {true, false, NULL, NULL, NULL};
	assert_int_equal(visit_policy_pick(ps, ARRAY_SIZE(ps), &any)->id, 1);
	assert_null(visit_policy_pick(ps, 0, &any));
}

static void test_due_dates(void **state)
{
	(void)state;
	int64_t d;
	assert_true(workcal_parse_date("2026-01-01", &d));
	/* 90 days after 2026-01-01 is 2026-04-01; due at 23:59:59.999 Shanghai = 15:59:59.999 UTC */
	int64_t due = visit_due_at(d, 90), want;
	assert_true(workcal_parse_date("2026-04-01", &want));
	assert_int_equal(due, want * DAY + 16 * 3600000LL - 1);
	assert_int_equal(workcal_local_day(due), want);
	assert_int_equal(workcal_local_day(due + 1), want + 1);
	/* the anchor: the last visit's local day (a visit at 23:30 Shanghai is that day) */
	int64_t visit = d * DAY + 15 * 3600000LL + 30 * 60000; /* 23:30 local */
	assert_int_equal(visit_anchor_day(visit, "2020-01-01", 0), d);
	assert_int_equal(visit_anchor_day(visit + 3600000, "2020-01-01", 0), d + 1);
	assert_true(workcal_parse_date("2020-01-01", &want));
	assert_int_equal(visit_anchor_day(0, "2020-01-01", visit), want);
	assert_int_equal(visit_anchor_day(0, "", visit), d);
	assert_int_equal(visit_anchor_day(0, "garbage", visit), d);
}

static void expect_field(int rc, const struct err *e, int code, const char *field)
{
	assert_int_equal(rc, code);
	assert_string_equal(e->field, field);
	assert_true(e->message[0] && e->message_zh[0]);
}

static void test_visit_validate(void **state)
{
	(void)state;
	struct err e;
	int64_t now = 1767225600000; /* 2026-01-01 */
	struct visit_finding_input f[2] = {{1, "问题", true, NULL}, {2, "另一个", false, "report"}};
	struct visit_input ok = {.enterprise_id = 7, .visited_at = now - DAY, .summary = "走访",
				 .findings = f, .nfindings = 2};
	assert_int_equal(visit_validate(&ok, now, &e), 0);
	struct visit_input in = ok;
	in.visited_at = now + VISIT_CLOCK_SKEW_MS; /* the skew allowed */
	assert_int_equal(visit_validate(&in, now, &e), 0);
	in.visited_at = now + VISIT_CLOCK_SKEW_MS + 1;
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "visited_at");
	in = ok;
	in.enterprise_id = 0;
	expect_field(visit_validate(&in, now, &e), &e, ERR_BAD_REQUEST, "enterprise_id");
	in = ok;
	in.summary = NULL;
	expect_field(visit_validate(&in, now, &e), &e, ERR_BAD_REQUEST, "summary");
	in.summary = " \t";
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "summary");
	in = ok;
	in.has_position = true;
	in.lat = 91;
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "lat");
	in.lat = 34;
	in.lon = 180.5;
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "lon");
	in = ok;
	in.met_role = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三";
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "met_role");
	struct visit_finding_input bad[2] = {{1, "x", false, NULL}, {0, "y", false, NULL}};
	in = ok;
	in.findings = bad;
	expect_field(visit_validate(&in, now, &e), &e, ERR_BAD_REQUEST, "findings[1].category_id");
	bad[1].category_id = 3;
	bad[1].description = "";
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "findings[1].description");
	bad[1].description = "y";
	bad[1].req_type = "praise";
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "findings[1].type");
	in.nfindings = VISIT_FINDINGS_MAX + 1;
	expect_field(visit_validate(&in, now, &e), &e, ERR_UNPROCESSABLE, "findings");
}

static void test_policy_and_campaign_validate(void **state)
{
	(void)state;
	struct err e;
	struct visit_policy_input p = {.name = "每月", .set_interval = true, .interval_days = 30,
				       .set_match = true, .match_key = 1, .match_tag = "专精特新",
				       .match_size = "small", .match_section = "C"};
	assert_int_equal(visit_policy_validate(&p, true, &e), 0);
	struct visit_policy_input q = p;
	q.interval_days = 0;
	expect_field(visit_policy_validate(&q, true, &e), &e, ERR_UNPROCESSABLE, "interval_days");
	q = p;
	q.set_interval = false;
	expect_field(visit_policy_validate(&q, true, &e), &e, ERR_BAD_REQUEST, "interval_days");
	assert_int_equal(visit_policy_validate(&q, false, &e), 0); /* an update may leave it */
	q = p;
	q.match_tag = "a，b";
	expect_field(visit_policy_validate(&q, true, &e), &e, ERR_UNPROCESSABLE, "match.tag");
	q = p;
	q.match_size = "giant";
	expect_field(visit_policy_validate(&q, true, &e), &e, ERR_UNPROCESSABLE, "match.size_class");
	q = p;
	q.match_section = "c";
	expect_field(visit_policy_validate(&q, true, &e), &e, ERR_UNPROCESSABLE,
		     "match.industry_section");

	int64_t today;
	assert_true(workcal_parse_date("2026-03-01", &today));
	int64_t ids[] = {4, -1};
	struct campaign_input c = {.name = "千企万户大走访", .deadline_on = "2026-06-30",
				   .kind = CT_ALL};
	assert_int_equal(campaign_validate(&c, today, &e), 0);
	struct campaign_input d = c;
	d.deadline_on = "2026-02-28";
	expect_field(campaign_validate(&d, today, &e), &e, ERR_UNPROCESSABLE, "deadline_on");
	d = c;
	d.starts_on = "2026-07-01";
	expect_field(campaign_validate(&d, today, &e), &e, ERR_UNPROCESSABLE, "deadline_on");
	d = c;
	d.starts_on = "2025-01-01"; /* a start in the past is fine, within two years */
	assert_int_equal(campaign_validate(&d, today, &e), 0);
	d = c;
	d.kind = CT_TAG;
	expect_field(campaign_validate(&d, today, &e), &e, ERR_UNPROCESSABLE, "target.tag");
	d = c;
	d.kind = CT_GRIDS;
	d.ids = ids;
	d.nids = 2;
	expect_field(campaign_validate(&d, today, &e), &e, ERR_UNPROCESSABLE, "target.grid_ids[1]");
	d.nids = 0;
	expect_field(campaign_validate(&d, today, &e), &e, ERR_UNPROCESSABLE, "target.grid_ids");
	d = c;
	d.name = "";
	expect_field(campaign_validate(&d, today, &e), &e, ERR_UNPROCESSABLE, "name");
	assert_int_equal(campaign_kind_parse("enterprises"), CT_ENTERPRISES);
	assert_int_equal(campaign_kind_parse("nope"), -1);
}

/* ---- against the database ---- */

struct fixture {
	char dir[64], path[128];
	struct db *db;
	int64_t tenant;
	struct actor admin, worker;
};

static int run(struct fixture *f, db_write_fn fn, void *arg, struct err *e)
{
	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	int rc = fn(f->db, arg, e);
	if (rc)
		db_rollback(f->db);
	else
		assert_int_equal(db_commit(f->db, e), 0);
	return rc;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e;
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-visit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	assert_int_equal(db_begin(f->db, true, &e), 0);
	assert_int_equal(db_query_i64(f->db, &f->tenant, &e,
				      "INSERT INTO tenants (code, name, created_at) VALUES ('t', 't', 0) "
				      "RETURNING id",
				      ""),
			 0);
	int64_t uid = 0;
	assert_int_equal(db_query_i64(f->db, &uid, &e,
				      "INSERT INTO users (tenant_id, login, display_name, password_hash, "
				      "status, password_changed_at, created_at, updated_at) VALUES "
				      "($1, 'w', 'w', 'x', 'active', 0, 0, 0) RETURNING id",
				      "i", f->tenant),
			 0);
	assert_int_equal(db_commit(f->db, &e), 0);
	f->admin = (struct actor){.tenant_id = f->tenant, .roles = 1u << ROLE_ADMIN};
	f->worker = (struct actor){.tenant_id = f->tenant, .user_id = uid,
				   .roles = 1u << ROLE_GRID_WORKER};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];
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

static int64_t add_ent(struct fixture *f, int n, bool is_key, const char *tags,
		       const char *registered_on)
{
	static const char *const codes[] = {"91410103MA44ANXU5A", "91410103MA44AP0G4L",
					    "91410103MA44AP3C5F", "91410103MA44AP6X8U"};
	struct err e;
	char name[32];
	snprintf(name, sizeof name, "企业%d", n);
	struct enterprise_write w = {.who = &f->admin, .tenant_id = f->tenant, .now = 1,
				     .in = {.credit_code = codes[n], .name = name, .set_key = true,
					    .is_key = is_key, .tags = tags, .override_check = true,
					    .registered_on = registered_on}};
	if (run(f, enterprise_create, &w, &e))
		fail_msg("enterprise_create: %s (%s)", e.message, e.field);
	return w.id;
}

static void state_of(struct fixture *f, int64_t ent, struct visit_state *s)
{
	struct err e;
	assert_int_equal(visit_state_get(f->db, &f->admin, SCOPE_ALL, ent, s, &e), 0);
}

static int count_overdue(const struct blindspot_section *s, int64_t total, int64_t param,
			 void *ctx)
{
	(void)param;
	if (strcmp(s->code, "overdue_visit") == 0)
		*(int64_t *)ctx = total;
	return 0;
}

static void test_state_kept_by_every_write(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct visit_state s;
	int64_t reg;
	assert_true(workcal_parse_date("2024-01-10", &reg));
	int64_t plain = add_ent(f, 0, false, "", "2024-01-10");
	int64_t key = add_ent(f, 1, true, "", "2024-01-10");
	int64_t tagged = add_ent(f, 2, false, "夜市", "");
	/* no policy yet: no duty */
	state_of(f, plain, &s);
	assert_int_equal(s.policy_id, 0);
	assert_int_equal(s.next_due_at, 0);
	assert_int_equal(s.anchor_day, reg);

	struct visit_policy_write all = {.who = &f->admin, .tenant_id = f->tenant, .now = 2,
					 .in = {.name = "全部", .set_interval = true,
						.interval_days = 90}};
	assert_int_equal(run(f, visit_policy_create, &all, &e), 0);
	assert_int_equal(all.recomputed, 3);
	struct visit_policy_write k = {.who = &f->admin, .tenant_id = f->tenant, .now = 2,
				       .in = {.name = "重点", .set_interval = true, .interval_days = 30,
					      .set_match = true, .match_key = 1}};
	assert_int_equal(run(f, visit_policy_create, &k, &e), 0);
	assert_int_equal(k.recomputed, 1);
	state_of(f, plain, &s);
	assert_int_equal(s.policy_id, all.id);
	assert_int_equal(s.next_due_at, visit_due_at(reg, 90));
	state_of(f, key, &s);
	assert_int_equal(s.policy_id, k.id);
	assert_int_equal(s.next_due_at, visit_due_at(reg, 30));
	state_of(f, tagged, &s); /* no registration date: from the day it was entered */
	assert_int_equal(s.anchor_day, workcal_local_day(1));

	/* a registry change moves the duty in the same write */
	struct enterprise_write u = {.who = &f->admin, .tenant_id = f->tenant, .id = plain, .now = 3,
				     .in = {.set_key = true, .is_key = true}};
	assert_int_equal(run(f, enterprise_update, &u, &e), 0);
	state_of(f, plain, &s);
	assert_int_equal(s.policy_id, k.id);

	/* a visit moves the anchor */
	int64_t now = 1767225600000, at = now - 3 * DAY;
	struct visit_write v = {.who = &f->worker, .scope = SCOPE_ALL, .tenant_id = f->tenant,
				.now = now, .in = {.enterprise_id = key, .visited_at = at,
						   .summary = "走访"}};
	assert_int_equal(run(f, visit_record, &v, &e), 0);
	state_of(f, key, &s);
	assert_int_equal(s.last_visit_id, v.id);
	assert_int_equal(s.visits, 1);
	assert_int_equal(s.next_due_at, visit_due_at(workcal_local_day(at), 30));
	/* refused: before the registration date, nothing written */
	int64_t visits = 0;
	struct visit_write old = v;
	old.in.visited_at = reg * DAY - 8 * 3600000LL - 1; /* 23:59:59.999 local, the day before */
	assert_int_equal(run(f, visit_record, &old, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "visited_at");
	assert_int_equal(db_query_i64(f->db, &visits, &e, "SELECT COUNT(*) FROM visits", ""), 0);
	assert_int_equal(visits, 1);

	/* the overdue section counts the enterprises due before now */
	int64_t total = -1;
	struct blindspot_params bp = {.limit = 10, .section = "overdue_visit", .now = now};
	struct blindspot_sink sink = {count_overdue, NULL};
	assert_int_equal(blindspot_report(f->db, &f->admin, SCOPE_ALL, &bp, &sink, &total, &e), 0);
	assert_int_equal(total, 2); /* plain (key since 2024) and tagged; key was visited */

	/* deleting the key policy: back to 90 days from the anchor */
	struct visit_policy_write del = {.who = &f->admin, .tenant_id = f->tenant, .id = k.id,
					 .now = 4};
	assert_int_equal(run(f, visit_policy_delete, &del, &e), 0);
	assert_int_equal(del.recomputed, 2);
	state_of(f, key, &s);
	assert_int_equal(s.next_due_at, visit_due_at(workcal_local_day(at), 90));
	/* a recomputation with nothing changed writes nothing */
	int64_t changed = -1;
	assert_int_equal(db_begin(f->db, true, &e), 0);
	assert_int_equal(visit_state_recompute(f->db, f->tenant, 5, &changed, &e), 0);
	assert_int_equal(db_commit(f->db, &e), 0);
	assert_int_equal(changed, 0);

	/* a campaign over the key enterprises counts the visit in its window */
	struct campaign_create c = {.who = &f->admin, .tenant_id = f->tenant, .now = now,
				    .in = {.name = "重点走访", .starts_on = "2025-12-01",
					   .deadline_on = "2026-01-31", .kind = CT_KEY}};
	assert_int_equal(run(f, campaign_create, &c, &e), 0);
	assert_int_equal(c.targets, 2); /* key and plain */
	assert_int_equal(c.visited, 1);
	struct visit_write v2 = v;
	v2.in.enterprise_id = plain;
	assert_int_equal(run(f, visit_record, &v2, &e), 0);
	assert_int_equal(v2.campaigns, 1);
	struct campaign cg;
	assert_int_equal(campaign_get(f->db, f->tenant, c.id, &cg, &e), 0);
	assert_int_equal(cg.visited, 2);
	campaign_release(&cg);
	/* a second visit does not count twice */
	assert_int_equal(run(f, visit_record, &v2, &e), 0);
	assert_int_equal(v2.campaigns, 0);
}

/* ---- the recomputation in chunks, and campaigns resolved in chunks ---- */

#define NENT 37
#define NOW 1767225600000LL /* 2026-01-01 */

static const char *const tagset[] = {"", "夜市", "专精特新", "夜市,专精特新"};
static const char *const sizeset[] = {"", "large", "medium", "small", "micro"};
static const char *const secset[] = {"", "C", "H", "F"};
static const char *const statusset[] = {"active", "active", "moved_out", "active", "deregistered",
					"active", "revoked"};

/* NENT enterprises of every kind the policies look at; ids into ids[]. */
static void add_market(struct fixture *f, int64_t *ids)
{
	for (int i = 0; i < NENT; i++) {
		struct err e;
		char code[24], name[32], reg[16];
		snprintf(code, sizeof code, "91410103MA%07d1", 1000 + i);
		snprintf(name, sizeof name, "市场主体%d", i);
		snprintf(reg, sizeof reg, "202%d-0%d-1%d", 3 + i % 3, 1 + i % 9, i % 10);
		struct enterprise_write w = {
			.who = &f->admin, .tenant_id = f->tenant, .now = 1 + i,
			.in = {.credit_code = code, .name = name, .set_key = true, .is_key = i % 4 == 0,
			       .tags = tagset[i % 4], .size_class = sizeset[i % 5],
			       .industry_section = secset[i % 4], .status = statusset[i % 7],
			       .registered_on = i % 6 == 5 ? "" : reg, .override_check = true}};
		if (run(f, enterprise_create, &w, &e))
			fail_msg("enterprise_create %d: %s (%s)", i, e.message, e.field);
		ids[i] = w.id;
	}
}

struct setting_job {
	const struct actor *who;
	const char *key;
	int64_t v;
};

static int set_fn(struct db *db, void *arg, struct err *e)
{
	struct setting_job *j = arg;
	return settings_set_int(db, j->who, j->key, j->v, e);
}

static void set_chunk(struct fixture *f, int64_t n)
{
	struct err e;
	struct setting_job j = {&f->admin, VISIT_SETTING_CHUNK, n};
	assert_int_equal(run(f, set_fn, &j, &e), 0);
}

/* Every enterprise's stored state against the rules applied directly to the
 * policies and enterprises as stored (what a full recomputation gives). */
static void check_states(struct fixture *f)
{
	struct visit_policy ps[VISIT_POLICIES_MAX];
	size_t n = 0, rows = 0;
	struct db_stmt *st = NULL;
	struct err e;
	assert_int_equal(db_queryf(f->db, &st, &e,
				   "SELECT id, interval_days, COALESCE(match_key, -1), match_tag, "
				   "match_size, match_section FROM visit_policies WHERE tenant_id = $1",
				   "i", f->tenant),
			 0);
	while (db_step(st, &e) == DB_ROW)
		ps[n++] = pol(db_column_int64(st, 0), (int)db_column_int64(st, 1),
			      (int)db_column_int64(st, 2), db_column_text(st, 3),
			      db_column_text(st, 4), db_column_text(st, 5));
	db_finalize(st);
	assert_int_equal(db_queryf(f->db, &st, &e,
				   "SELECT e.id, e.status, e.is_key, e.tags, e.size_class, "
				   "e.industry_section, e.registered_on, e.created_at, "
				   "COALESCE(s.last_visit_at, 0), s.anchor_day, COALESCE(s.policy_id, 0), "
				   "COALESCE(s.interval_days, 0), COALESCE(s.next_due_at, 0), "
				   "s.enterprise_id FROM enterprises e LEFT JOIN visit_state s ON "
				   "s.tenant_id = e.tenant_id AND s.enterprise_id = e.id "
				   "WHERE e.tenant_id = $1 ORDER BY e.id",
				   "i", f->tenant),
			 0);
	while (db_step(st, &e) == DB_ROW) {
		rows++;
		struct visit_subject sub = {strcmp(db_column_text(st, 1), "active") == 0,
					    db_column_int64(st, 2) != 0, db_column_text(st, 3),
					    db_column_text(st, 4), db_column_text(st, 5)};
		int64_t anchor = visit_anchor_day(db_column_int64(st, 8), db_column_text(st, 6),
						  db_column_int64(st, 7));
		const struct visit_policy *p = visit_policy_pick(ps, n, &sub);
		if (db_column_is_null(st, 13))
			fail_msg("enterprise %lld has no visit state", (long long)db_column_int64(st, 0));
		if (db_column_int64(st, 9) != anchor || db_column_int64(st, 10) != (p ? p->id : 0) ||
		    db_column_int64(st, 11) != (p ? p->interval_days : 0) ||
		    db_column_int64(st, 12) != (p ? visit_due_at(anchor, p->interval_days) : 0))
			fail_msg("enterprise %lld: policy %lld due %lld, want %lld due %lld",
				 (long long)db_column_int64(st, 0), (long long)db_column_int64(st, 10),
				 (long long)db_column_int64(st, 12), (long long)(p ? p->id : 0),
				 (long long)(p ? visit_due_at(anchor, p->interval_days) : 0));
	}
	db_finalize(st);
	assert_int_equal(rows, NENT);
}

/* Background steps (each in its own transaction, whole chunks) until nothing
 * is left or max were done; returns how many did something. */
static int steps(struct fixture *f, int64_t limit, int max)
{
	int n = 0;
	while (n < max) {
		struct err e;
		struct visit_backlog_step s = {.who = NULL, .tenant_id = f->tenant, .now = NOW,
					       .limit = limit, .budget_ms = -1};
		assert_int_equal(run(f, visit_backlog_step, &s, &e), 0);
		if (!s.did)
			break;
		n++;
		if (!s.more)
			break;
	}
	return n;
}

static void pass_of(struct fixture *f, struct visit_recompute *r)
{
	struct err e;
	assert_int_equal(visit_recompute_get(f->db, f->tenant, r, &e), 0);
}

static void test_recompute_in_chunks_equals_full(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct visit_recompute r;
	int64_t ids[NENT];
	add_market(f, ids);
	pass_of(f, &r);
	assert_int_equal(r.generation, 0); /* never */
	assert_false(r.running);

	struct visit_policy_write all = {.who = &f->admin, .tenant_id = f->tenant, .now = 2,
					 .in = {.name = "全部", .set_interval = true,
						.interval_days = 90}};
	struct visit_policy_write tag = {.who = &f->admin, .tenant_id = f->tenant, .now = 2,
					 .in = {.name = "夜市", .set_interval = true,
						.interval_days = 20, .set_match = true,
						.match_key = 0, .match_tag = "夜市"}};
	static const int64_t sizes[] = {1, 2, 7, 1000};
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		set_chunk(f, sizes[k]);
		/* each round changes the policies so that states do change */
		if (k == 0) {
			assert_int_equal(run(f, visit_policy_create, &all, &e), 0);
		} else if (k == 1) {
			assert_int_equal(run(f, visit_policy_create, &tag, &e), 0);
		} else {
			struct visit_policy_write u = {.who = &f->admin, .tenant_id = f->tenant,
						       .id = k == 2 ? all.id : tag.id, .now = 3,
						       .in = {.set_interval = true,
							      .interval_days = 10 + (int64_t)k}};
			assert_int_equal(run(f, visit_policy_update, &u, &e), 0);
		}
		pass_of(f, &r);
		assert_int_equal(r.generation, (int64_t)k + 1);
		assert_int_equal(r.running, sizes[k] < NENT);
		int n = steps(f, 0, 1000); /* the chunks of the setting */
		pass_of(f, &r);
		assert_false(r.running);
		assert_int_equal(r.done, NENT);
		assert_int_equal(r.next_id, ids[NENT - 1] + 1);
		assert_int_equal(visit_recompute_progress(&r), 1.0);
		if (sizes[k] < 16) { /* the write's own chunk is never cut by the clock */
			assert_int_equal(r.chunks, NENT / sizes[k] + 1);
			assert_int_equal(n, r.chunks - 1);
		}
		check_states(f);
	}
	/* a finished pass done in the background is audited once; within the write: not */
	int64_t audited = 0;
	assert_int_equal(db_query_i64(f->db, &audited, &e,
				      "SELECT COUNT(*) FROM audit_log WHERE entity = 'visit_recompute'",
				      ""),
			 0);
	assert_int_equal(audited, 3);
	/* a new name alone starts no pass */
	struct visit_policy_write rename = {.who = &f->admin, .tenant_id = f->tenant, .id = tag.id,
					    .now = 4, .in = {.name = "夜市经营"}};
	assert_int_equal(run(f, visit_policy_update, &rename, &e), 0);
	assert_int_equal(rename.recompute.generation, 4);
	assert_false(rename.recompute.running);
	/* visit_state_recompute: the whole pass at once, nothing to change */
	int64_t changed = -1;
	assert_int_equal(db_begin(f->db, true, &e), 0);
	assert_int_equal(visit_state_recompute(f->db, f->tenant, 5, &changed, &e), 0);
	assert_int_equal(db_commit(f->db, &e), 0);
	assert_int_equal(changed, 0);
	check_states(f);
}

static void reopen(struct fixture *f)
{
	struct err e;
	db_close(f->db);
	assert_int_equal(db_open(f->path, 0, &f->db, &e), 0);
}

static void test_recompute_interrupted_resumed_and_restarted(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct visit_recompute r;
	struct visit_state vs;
	int64_t ids[NENT];
	add_market(f, ids);
	set_chunk(f, 5);
	struct visit_policy_write all = {.who = &f->admin, .tenant_id = f->tenant, .now = 2,
					 .in = {.name = "全部", .set_interval = true,
						.interval_days = 90}};
	assert_int_equal(run(f, visit_policy_create, &all, &e), 0);
	assert_true(all.recompute.running);
	assert_int_equal(all.recompute.done, 5);
	assert_int_equal(all.recompute.last_id, ids[NENT - 1]);
	assert_int_equal(steps(f, 0, 2), 2);
	pass_of(f, &r);
	assert_int_equal(r.done, 15);
	assert_int_equal(r.next_id, ids[15]);
	assert_true(visit_recompute_progress(&r) > 0 && visit_recompute_progress(&r) < 1);

	/* meanwhile: the enterprises done have the new policy, the others the old
	 * state, flagged as pending */
	state_of(f, ids[0], &vs);
	assert_int_equal(vs.policy_id, all.id);
	assert_false(vs.pending);
	state_of(f, ids[15], &vs);
	assert_int_equal(vs.policy_id, 0);
	assert_true(vs.pending);

	/* a chunk whose transaction never commits (a kill) moves nothing */
	struct visit_backlog_step lost = {.tenant_id = f->tenant, .now = NOW, .budget_ms = -1};
	assert_int_equal(db_begin(f->db, true, &e), 0);
	assert_int_equal(visit_backlog_step(f->db, &lost, &e), 0);
	assert_true(lost.did && lost.more);
	db_rollback(f->db);
	reopen(f); /* a restart: the pass is where the last commit left it */
	pass_of(f, &r);
	assert_int_equal(r.next_id, ids[15]);
	assert_int_equal(r.done, 15);

	/* a registry change and a visit ahead of the pass apply the policies as
	 * they are at once */
	struct enterprise_write u = {.who = &f->admin, .tenant_id = f->tenant, .id = ids[30],
				     .now = 3, .in = {.status = "active"}};
	assert_int_equal(run(f, enterprise_update, &u, &e), 0);
	state_of(f, ids[30], &vs);
	assert_int_equal(vs.policy_id, all.id);
	struct visit_write v = {.who = &f->worker, .scope = SCOPE_ALL, .tenant_id = f->tenant,
				.now = NOW, .in = {.enterprise_id = ids[33], .visited_at = NOW - DAY,
						   .summary = "走访"}};
	assert_int_equal(run(f, visit_record, &v, &e), 0);
	state_of(f, ids[33], &vs);
	assert_int_equal(vs.next_due_at, visit_due_at(workcal_local_day(NOW - DAY), 90));

	/* a second change midway: the pass starts again from the first enterprise */
	assert_int_equal(steps(f, 0, 1), 1);
	struct visit_policy_write key = {.who = &f->admin, .tenant_id = f->tenant, .now = 4,
					 .in = {.name = "重点", .set_interval = true,
						.interval_days = 30, .set_match = true,
						.match_key = 1}};
	assert_int_equal(run(f, visit_policy_create, &key, &e), 0);
	assert_int_equal(key.recompute.generation, 2);
	assert_int_equal(key.recompute.done, 5);
	assert_int_equal(key.recompute.next_id, ids[5]);
	struct visit_policy_write upd = {.who = &f->admin, .tenant_id = f->tenant, .id = all.id,
					 .now = 5, .in = {.set_interval = true, .interval_days = 60}};
	assert_int_equal(steps(f, 0, 3), 3);
	assert_int_equal(run(f, visit_policy_update, &upd, &e), 0);
	assert_int_equal(upd.recompute.generation, 3);
	reopen(f);
	assert_int_equal(steps(f, 3, 1000), 32 / 3 + 1); /* 32 left (the change did 5), in threes */
	check_states(f);
	struct visit_policy_write del = {.who = &f->admin, .tenant_id = f->tenant, .id = key.id,
					 .now = 6};
	assert_int_equal(run(f, visit_policy_delete, &del, &e), 0);
	steps(f, 0, 1000);
	check_states(f);
}

/* The campaign's targets against a direct count: the active enterprises the
 * definition selects, visited by their earliest visit in the window. */
static void check_campaign(struct fixture *f, int64_t id, const char *where)
{
	struct err e;
	struct campaign c;
	char sql[512];
	int64_t want = 0, targets = 0, visited = 0, wrong = 0;
	assert_int_equal(campaign_get(f->db, f->tenant, id, &c, &e), 0);
	assert_false(c.resolving);
	snprintf(sql, sizeof sql,
		 "SELECT COUNT(*) FROM enterprises e WHERE e.tenant_id = $1 AND "
		 "e.status = 'active' AND %s",
		 where);
	assert_int_equal(db_query_i64(f->db, &want, &e, sql, "i", f->tenant), 0);
	assert_int_equal(db_query_i64(f->db, &targets, &e,
				      "SELECT COUNT(*) FROM visit_campaign_targets WHERE tenant_id = $1 "
				      "AND campaign_id = $2",
				      "ii", f->tenant, id),
			 0);
	assert_int_equal(db_query_i64(f->db, &visited, &e,
				      "SELECT COUNT(*) FROM visit_campaign_targets WHERE tenant_id = $1 "
				      "AND campaign_id = $2 AND visit_id IS NOT NULL",
				      "ii", f->tenant, id),
			 0);
	/* each visited target names the earliest visit in the window; the others have none */
	assert_int_equal(db_query_i64(f->db, &wrong, &e,
				      "SELECT COUNT(*) FROM visit_campaign_targets t JOIN "
				      "visit_campaigns c ON c.id = t.campaign_id WHERE t.tenant_id = $1 "
				      "AND t.campaign_id = $2 AND COALESCE(t.visit_id, 0) <> COALESCE(("
				      "SELECT v.id FROM visits v WHERE v.tenant_id = t.tenant_id AND "
				      "v.enterprise_id = t.enterprise_id AND v.visited_at >= c.starts_at "
				      "AND v.visited_at <= c.deadline_at ORDER BY v.visited_at, v.id "
				      "LIMIT 1), 0)",
				      "ii", f->tenant, id),
			 0);
	assert_int_equal(wrong, 0);
	assert_int_equal(targets, want);
	assert_int_equal(c.targets, targets);
	assert_int_equal(c.visited, visited);
	campaign_release(&c);
}

static void test_campaign_resolved_in_chunks(void **state)
{
	struct fixture *f = *state;
	struct err e;
	int64_t ids[NENT];
	add_market(f, ids);
	set_chunk(f, 4);
	/* a visit before the campaign, in its window */
	struct visit_write v = {.who = &f->worker, .scope = SCOPE_ALL, .tenant_id = f->tenant,
				.now = NOW, .in = {.enterprise_id = ids[1], .visited_at = NOW - 3 * DAY,
						   .summary = "走访"}};
	assert_int_equal(run(f, visit_record, &v, &e), 0);
	struct campaign_create c = {.who = &f->admin, .tenant_id = f->tenant, .now = NOW - 5 * DAY,
				    .in = {.name = "大走访", .starts_on = "2025-12-01",
					   .deadline_on = "2026-02-28", .kind = CT_ALL}};
	assert_int_equal(run(f, campaign_create, &c, &e), 0);
	assert_true(c.resolving);
	assert_int_equal(c.targets, 3); /* the first four: 0, 1, 3 are active */
	assert_int_equal(c.visited, 1);
	struct campaign got;
	assert_int_equal(campaign_get(f->db, f->tenant, c.id, &got, &e), 0);
	assert_true(got.resolving);
	assert_int_equal(got.resolve_next, ids[4]);
	assert_true(campaign_resolve_progress(&got) > 0 && campaign_resolve_progress(&got) < 1);
	campaign_release(&got);
	/* the other kinds wait for it (the oldest first) */
	struct campaign_create k = {.who = &f->admin, .tenant_id = f->tenant, .now = NOW - 5 * DAY,
				    .in = {.name = "重点走访", .starts_on = "2025-12-01",
					   .deadline_on = "2026-02-28", .kind = CT_KEY}};
	struct campaign_create t = {.who = &f->admin, .tenant_id = f->tenant, .now = NOW - 5 * DAY,
				    .in = {.name = "夜市走访", .starts_on = "2025-12-01",
					   .deadline_on = "2026-02-28", .kind = CT_TAG,
					   .tag = "夜市"}};
	assert_int_equal(run(f, campaign_create, &k, &e), 0);
	assert_int_equal(run(f, campaign_create, &t, &e), 0);
	/* visits while it resolves: behind the cursor (counted by the visit) and
	 * ahead of it (counted when its chunk comes), each once */
	assert_int_equal(steps(f, 0, 2), 2);
	v.in.enterprise_id = ids[3];
	v.in.visited_at = NOW - 2 * DAY;
	assert_int_equal(run(f, visit_record, &v, &e), 0);
	assert_int_equal(v.campaigns, 2); /* all and 夜市: both did ids[0..3] when created */
	v.in.enterprise_id = ids[35];
	assert_int_equal(run(f, visit_record, &v, &e), 0);
	assert_int_equal(v.campaigns, 0);
	v.in.enterprise_id = ids[1]; /* a later visit does not replace the first */
	v.in.visited_at = NOW - DAY;
	assert_int_equal(run(f, visit_record, &v, &e), 0);
	reopen(f); /* a restart midway */
	steps(f, 0, 1000);
	check_campaign(f, c.id, "1 = 1");
	check_campaign(f, k.id, "e.is_key = 1");
	check_campaign(f, t.id, "e.id IN (SELECT enterprise_id FROM enterprise_tags WHERE "
				"tag = '夜市')");
	int64_t audited = 0;
	assert_int_equal(db_query_i64(f->db, &audited, &e,
				      "SELECT COUNT(*) FROM audit_log WHERE entity = 'visit_campaign' "
				      "AND action = 'resolve'",
				      ""),
			 0);
	assert_int_equal(audited, 3);
	/* a list of enterprises is resolved at once; a definition matching no
	 * active enterprise is refused before anything is written */
	int64_t list[] = {ids[0], ids[3], ids[0]};
	struct campaign_create l = {.who = &f->admin, .tenant_id = f->tenant, .now = NOW,
				    .in = {.name = "名单走访", .starts_on = "2025-12-01",
					   .deadline_on = "2026-02-28",
					   .kind = CT_ENTERPRISES, .ids = list, .nids = 3}};
	assert_int_equal(run(f, campaign_create, &l, &e), 0);
	assert_false(l.resolving);
	assert_int_equal(l.targets, 2);
	assert_int_equal(l.visited, 1);
	struct campaign_create none = {.who = &f->admin, .tenant_id = f->tenant, .now = NOW,
				       .in = {.name = "无", .deadline_on = "2026-02-28",
					      .kind = CT_TAG, .tag = "没有这个标签"}};
	assert_int_equal(run(f, campaign_create, &none, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "target");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_pick),
		cmocka_unit_test(test_due_dates),
		cmocka_unit_test(test_visit_validate),
		cmocka_unit_test(test_policy_and_campaign_validate),
		cmocka_unit_test_setup_teardown(test_state_kept_by_every_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recompute_in_chunks_equals_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recompute_interrupted_resumed_and_restarted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_campaign_resolved_in_chunks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
