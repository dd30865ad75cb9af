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
	assert_int_equal(visit_state_recompute(f->db, f->tenant, &changed, &e), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_pick),
		cmocka_unit_test(test_due_dates),
		cmocka_unit_test(test_visit_validate),
		cmocka_unit_test(test_policy_and_campaign_validate),
		cmocka_unit_test_setup_teardown(test_state_kept_by_every_write, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
