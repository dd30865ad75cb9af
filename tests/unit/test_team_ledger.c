/*
 * test_team_ledger.c — service teams, the blind-spot report, the key-enterprise
 * ledger and the .xlsx writer (src/core/team.c, ledger.c, xlsx.c) against a
 * real SQLite file in a temporary directory.
 *
 * The fixture inserts departments, users and enterprises with plain SQL (the
 * modules under test only read them); write jobs run inside a write
 * transaction, committed on success and rolled back on failure, as the
 * pool's savepoints do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>

#include "base/util.h"
#include "core/ledger.h"
#include "core/settings.h"
#include "core/team.h"
#include "core/xlsx.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
	int64_t tenant, other_tenant;
	int64_t d_gov, d_amr, d_reg, d_tax; /* gov > amr > amr-reg; gov > tax */
	struct actor admin;                  /* SCOPE_ALL writer */
	int nent;
};

/* ---- fixture ---- */

static int64_t q1(struct fixture *f, const char *sql, int64_t a, int64_t b)
{
	struct err e;
	int64_t v = -1;
	if (db_query_i64(f->db, &v, &e, sql, "ii", a, b) != 0)
		fail_msg("query %s: %s", sql, e.message);
	return v;
}

static void begin(struct fixture *f)
{
	struct err e;
	assert_int_equal(db_begin(f->db, true, &e), 0);
}

static void commit(struct fixture *f)
{
	struct err e;
	assert_int_equal(db_commit(f->db, &e), 0);
}

static int64_t add_tenant(struct fixture *f, const char *code)
{
	struct err e;
	int64_t id = 0;
	begin(f);
	assert_int_equal(db_query_i64(f->db, &id, &e,
				      "INSERT INTO tenants (code, name, created_at) "
				      "VALUES ($1, $1, 0) RETURNING id",
				      "t", code),
			 0);
	commit(f);
	return id;
}

static int64_t add_dept(struct fixture *f, const char *code, int64_t parent)
{
	struct err e;
	int64_t id = 0;
	begin(f);
	assert_int_equal(db_query_i64(f->db, &id, &e,
				      "INSERT INTO departments (tenant_id, parent_id, code, name, "
				      "created_at, updated_at) VALUES ($1, $2, $3, $3, 0, 0) RETURNING id",
				      "iIt", f->tenant, parent, code),
			 0);
	assert_int_equal(db_execf(f->db, &e,
				  "UPDATE departments SET path = COALESCE((SELECT p.path FROM departments p "
				  "WHERE p.id = $1), '/') || id || '/' WHERE id = $2",
				  "Ii", parent, id),
			 0);
	commit(f);
	return id;
}

/* A user with one role (code), in dept (0 = none), bound to an enterprise (0 = none). */
static int64_t add_user_t(struct fixture *f, int64_t tenant, const char *login, const char *role,
			  int64_t dept, const char *status, int64_t enterprise)
{
	struct err e;
	int64_t id = 0;
	begin(f);
	assert_int_equal(db_query_i64(f->db, &id, &e,
				      "INSERT INTO users (tenant_id, login, display_name, department_id, "
				      "password_hash, status, password_changed_at, created_at, updated_at, "
				      "enterprise_id) VALUES ($1, $2, $2, $3, 'x', $4, 0, 0, 0, $5) "
				      "RETURNING id",
				      "itItI", tenant, login, dept, status, enterprise),
			 0);
	if (role)
		assert_int_equal(db_execf(f->db, &e,
					  "INSERT INTO user_roles (tenant_id, user_id, role) "
					  "VALUES ($1, $2, $3)",
					  "iit", tenant, id, role),
				 0);
	commit(f);
	return id;
}

static int64_t add_user(struct fixture *f, const char *login, const char *role, int64_t dept)
{
	return add_user_t(f, f->tenant, login, role, dept, "active", 0);
}

static int64_t add_ent_t(struct fixture *f, int64_t tenant, const char *name, bool is_key,
			 const char *status, int64_t grid)
{
	struct err e;
	char code[32];
	int64_t id = 0;
	snprintf(code, sizeof code, "91410103TEST%05d", ++f->nent);
	begin(f);
	assert_int_equal(db_query_i64(f->db, &id, &e,
				      "INSERT INTO enterprises (tenant_id, credit_code, name, status, "
				      "is_key, grid_id, checkin_secret, created_at, updated_at) "
				      "VALUES ($1, $2, $3, $4, $5, $6, 's', 0, 0) RETURNING id",
				      "itttiI", tenant, code, name, status, (int64_t)is_key, grid),
			 0);
	commit(f);
	return id;
}

/* A unit grid with a given id (its path '/id/'), for grid scopes. */
static void add_grid(struct fixture *f, int64_t id)
{
	struct err e;
	char code[16];
	snprintf(code, sizeof code, "410103001001%03d", (int)id);
	begin(f);
	assert_int_equal(db_execf(f->db, &e,
				  "INSERT INTO grids (id, tenant_id, level, code, name, path, geometry, "
				  "min_lon, min_lat, max_lon, max_lat, label_lon, label_lat, created_at, "
				  "updated_at) VALUES ($1, $2, 'unit', $3, $3, '/' || $1 || '/', '{}', "
				  "0, 0, 0, 0, 0, 0, 0, 0)",
				  "iit", id, f->tenant, code),
			 0);
	commit(f);
}

static int64_t add_ent(struct fixture *f, const char *name, bool is_key, const char *status)
{
	return add_ent_t(f, f->tenant, name, is_key, status, 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-team-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	f->tenant = add_tenant(f, "erqi");
	f->other_tenant = add_tenant(f, "other");
	f->d_gov = add_dept(f, "gov", 0);
	f->d_amr = add_dept(f, "amr", f->d_gov);
	f->d_reg = add_dept(f, "amr-reg", f->d_amr);
	f->d_tax = add_dept(f, "tax", f->d_gov);
	f->admin.tenant_id = f->tenant;
	f->admin.user_id = add_user(f, "admin", "admin", f->d_gov);
	f->admin.roles = 1u << ROLE_ADMIN;
	snprintf(f->admin.login, sizeof f->admin.login, "admin");
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

/* Run a write job in its own transaction: commit on success, roll back on failure. */
static int run(struct fixture *f, db_write_fn fn, void *arg, struct err *e)
{
	int rc;

	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	rc = fn(f->db, arg, e);
	if (rc == 0)
		assert_int_equal(db_commit(f->db, e), 0);
	else
		db_rollback(f->db);
	return rc;
}

static int64_t audit_rows(struct fixture *f)
{
	return q1(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND $2 = $2", f->tenant, 0);
}

/* An actor of the tenant with one role in a department. */
static struct actor actor_for(struct fixture *f, int64_t user_id, enum role role, int64_t dept)
{
	struct actor a = {.tenant_id = f->tenant, .user_id = user_id, .department_id = dept,
			  .roles = 1u << role};
	struct err e;
	struct db_stmt *st = NULL;
	snprintf(a.login, sizeof a.login, "u%lld", (long long)user_id);
	if (dept) {
		assert_int_equal(db_queryf(f->db, &st, &e, "SELECT path FROM departments WHERE id = $1",
					   "i", dept),
				 0);
		assert_int_equal(db_step(st, &e), DB_ROW);
		snprintf(a.dept_path, sizeof a.dept_path, "%s", db_column_text(st, 0));
		db_finalize(st);
	}
	return a;
}

/* ---- teams ---- */

static int assign(struct fixture *f, int64_t ent, int64_t user, const char *role,
		  struct team_write *out, struct err *e)
{
	struct team_write w = {.who = &f->admin, .scope = SCOPE_ALL, .tenant_id = f->tenant,
			       .enterprise_id = ent, .user_id = user, .role = role, .now = 1000};
	int rc = run(f, team_assign, &w, e);
	if (out)
		*out = w;
	return rc;
}

static void must_assign(struct fixture *f, int64_t ent, int64_t user, const char *role)
{
	struct err e;
	if (assign(f, ent, user, role, NULL, &e) != 0)
		fail_msg("assign %lld to %lld: %s (%s)", (long long)user, (long long)ent, e.message,
			 e.field);
}

static int64_t leads(struct fixture *f, int64_t ent)
{
	return q1(f,
		  "SELECT COUNT(*) FROM service_team_members WHERE tenant_id = $1 "
		  "AND enterprise_id = $2 AND role = 'lead'",
		  f->tenant, ent);
}

static int64_t lead_of(struct fixture *f, int64_t ent)
{
	return q1(f,
		  "SELECT COALESCE(MAX(user_id), 0) FROM service_team_members WHERE tenant_id = $1 "
		  "AND enterprise_id = $2 AND role = 'lead'",
		  f->tenant, ent);
}

static void test_lead_uniqueness(void **state)
{
	struct fixture *f = *state;
	int64_t ent = add_ent(f, "甲公司", true, "active");
	int64_t a = add_user(f, "a", "handler", f->d_reg), b = add_user(f, "b", "handler", f->d_reg);
	int64_t c = add_user(f, "c", "dept_head", f->d_amr);
	struct team_write w;
	struct err e;
	int64_t before;

	assert_int_equal(assign(f, ent, a, "lead", &w, &e), 0);
	assert_true(w.created && w.changed);
	assert_int_equal(w.demoted_user_id, 0);
	assert_int_equal(assign(f, ent, b, "member", &w, &e), 0);
	assert_true(w.created);
	assert_int_equal(lead_of(f, ent), a);

	/* b becomes lead: a is demoted, in the same job, and the audit row says so */
	before = audit_rows(f);
	assert_int_equal(assign(f, ent, b, "lead", &w, &e), 0);
	assert_false(w.created);
	assert_true(w.changed);
	assert_string_equal(w.old_role, "member");
	assert_int_equal(w.demoted_user_id, a);
	assert_int_equal(leads(f, ent), 1);
	assert_int_equal(lead_of(f, ent), b);
	assert_int_equal(audit_rows(f), before + 1);
	char sum[512];
	{
		struct db_stmt *st = NULL;
		assert_int_equal(db_queryf(f->db, &st, &e,
					   "SELECT entity, entity_id, action, summary FROM audit_log "
					   "WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
					   "i", f->tenant),
				 0);
		assert_int_equal(db_step(st, &e), DB_ROW);
		assert_string_equal(db_column_text(st, 0), "service_team");
		assert_int_equal(db_column_int64(st, 1), ent);
		assert_string_equal(db_column_text(st, 2), "assign");
		snprintf(sum, sizeof sum, "%s", db_column_text(st, 3));
		db_finalize(st);
	}
	char want[128];
	snprintf(want, sizeof want, "\"demoted_lead\":%lld", (long long)a);
	assert_non_null(strstr(sum, want));
	assert_non_null(strstr(sum, "\"role\":[\"member\",\"lead\"]"));

	/* a new official straight in as lead demotes b */
	assert_int_equal(assign(f, ent, c, "lead", &w, &e), 0);
	assert_true(w.created);
	assert_int_equal(w.demoted_user_id, b);
	assert_int_equal(leads(f, ent), 1);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM service_team_members WHERE tenant_id = $1 "
			       "AND enterprise_id = $2", f->tenant, ent), 3);

	/* the same role again writes nothing */
	before = audit_rows(f);
	assert_int_equal(assign(f, ent, c, "lead", &w, &e), 0);
	assert_false(w.changed);
	assert_int_equal(w.demoted_user_id, 0);
	assert_int_equal(audit_rows(f), before);

	/* the schema itself refuses a second lead */
	begin(f);
	assert_int_not_equal(db_execf(f->db, &e,
				      "UPDATE service_team_members SET role = 'lead' WHERE tenant_id = $1 "
				      "AND enterprise_id = $2 AND user_id = $3",
				      "iii", f->tenant, ent, a),
			     0);
	db_rollback(f->db);
	assert_int_equal(leads(f, ent), 1);

	/* demoting the lead to member leaves the team without a lead */
	assert_int_equal(assign(f, ent, c, "member", &w, &e), 0);
	assert_int_equal(leads(f, ent), 0);
}

static void test_assign_refusals(void **state)
{
	struct fixture *f = *state;
	int64_t ent = add_ent(f, "乙公司", false, "active");
	int64_t gone = add_ent(f, "已注销公司", false, "deregistered");
	int64_t ok = add_user(f, "ok", "handler", f->d_reg);
	int64_t off = add_user_t(f, f->tenant, "off", "handler", f->d_reg, "disabled", 0);
	int64_t bound = add_user_t(f, f->tenant, "bound", NULL, 0, "active", ent);
	int64_t entrole = add_user(f, "entrole", "enterprise", 0);
	int64_t stranger = add_user_t(f, f->other_tenant, "stranger", "handler", 0, "active", 0);
	int64_t theirs = add_ent_t(f, f->other_tenant, "别区公司", false, "active", 0);
	struct err e;
	int64_t before = audit_rows(f);
	static const struct {
		const char *name;
		int user; /* index into users[] */
		const char *role;
		int ent;  /* 0 ent, 1 gone, 2 missing, 3 theirs */
		int code;
		const char *field;
	} cases[] = {
		{"no such user", 0, "member", 0, ERR_UNPROCESSABLE, "user_id"},
		{"disabled user", 1, "member", 0, ERR_UNPROCESSABLE, "user_id"},
		{"bound to an enterprise", 2, "member", 0, ERR_UNPROCESSABLE, "user_id"},
		{"enterprise role", 3, "member", 0, ERR_UNPROCESSABLE, "user_id"},
		{"another tenant's user", 4, "member", 0, ERR_UNPROCESSABLE, "user_id"},
		{"bad role", 5, "boss", 0, ERR_UNPROCESSABLE, "role"},
		{"null role", 5, NULL, 0, ERR_UNPROCESSABLE, "role"},
		{"inactive enterprise", 5, "member", 1, ERR_UNPROCESSABLE, "enterprise_id"},
		{"missing enterprise", 5, "member", 2, ERR_NOT_FOUND, "id"},
		{"another tenant's enterprise", 5, "member", 3, ERR_NOT_FOUND, "id"},
	};
	int64_t users[] = {999999, off, bound, entrole, stranger, ok};
	int64_t ents[] = {ent, gone, 999999, theirs};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc = assign(f, ents[cases[i].ent], users[cases[i].user], cases[i].role, NULL, &e);
		if (rc != cases[i].code || strcmp(e.field, cases[i].field) != 0)
			fail_msg("%s: got %d (%s: %s)", cases[i].name, rc, e.field, e.message);
		assert_true(e.message[0] && e.message_zh[0]);
	}
	assert_int_equal(audit_rows(f), before);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM service_team_members WHERE tenant_id = $1 "
			       "AND $2 = $2", f->tenant, 0), 0);

	/* out of the writer's scope looks like a missing enterprise */
	struct actor grid = {.tenant_id = f->tenant, .user_id = ok, .grid_id = 77,
			     .roles = 1u << ROLE_GRID_WORKER};
	struct team_write w = {.who = &grid, .scope = SCOPE_GRID, .tenant_id = f->tenant,
			       .enterprise_id = ent, .user_id = ok, .role = "member", .now = 1};
	assert_int_equal(run(f, team_assign, &w, &e), ERR_NOT_FOUND);
	assert_string_equal(e.field, "id");

	/* remove: not on the team */
	struct team_write rm = {.who = &f->admin, .scope = SCOPE_ALL, .tenant_id = f->tenant,
				.enterprise_id = ent, .user_id = ok};
	assert_int_equal(run(f, team_remove, &rm, &e), ERR_NOT_FOUND);
	assert_string_equal(e.field, "user_id");
	must_assign(f, ent, ok, "lead");
	before = audit_rows(f);
	assert_int_equal(run(f, team_remove, &rm, &e), 0);
	assert_string_equal(rm.old_role, "lead");
	assert_int_equal(audit_rows(f), before + 1);
	assert_int_equal(leads(f, ent), 0);
	/* removal works on an enterprise that is no longer active */
	begin(f);
	assert_int_equal(db_execf(f->db, &e,
				  "INSERT INTO service_team_members (tenant_id, enterprise_id, user_id, "
				  "role, assigned_at) VALUES ($1, $2, $3, 'member', 0)",
				  "iii", f->tenant, gone, ok),
			 0);
	commit(f);
	rm.enterprise_id = gone;
	assert_int_equal(run(f, team_remove, &rm, &e), 0);
}

struct names {
	int n;
	int64_t ids[32];
	char roles[32][8];
	struct team_portfolio counts;
};

static int collect_member(const struct team_member *m, void *ctx)
{
	struct names *c = ctx;
	c->ids[c->n] = m->user_id;
	snprintf(c->roles[c->n], sizeof c->roles[0], "%s", m->role);
	c->n++;
	return 0;
}

static int collect_assignment(const struct team_assignment *a, void *ctx)
{
	struct names *c = ctx;
	c->ids[c->n] = a->enterprise_id;
	snprintf(c->roles[c->n], sizeof c->roles[0], "%s", a->role);
	c->n++;
	return 0;
}

static void test_team_lists(void **state)
{
	struct fixture *f = *state;
	int64_t e1 = add_ent(f, "一", true, "active"), e2 = add_ent(f, "二", false, "active");
	int64_t e3 = add_ent_t(f, f->tenant, "三", false, "active", 5);
	int64_t a = add_user(f, "a", "handler", f->d_reg), b = add_user(f, "b", "handler", f->d_tax);
	struct names got = {0};
	struct err e;

	must_assign(f, e1, a, "member");
	must_assign(f, e1, b, "lead");
	must_assign(f, e2, a, "lead");
	must_assign(f, e3, a, "member");

	/* lead first, then by user id */
	assert_int_equal(team_list_for_enterprise(f->db, &f->admin, SCOPE_ALL, e1, collect_member,
						  &got, &e),
			 0);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.ids[0], b);
	assert_string_equal(got.roles[0], "lead");
	assert_int_equal(got.ids[1], a);
	assert_int_equal(team_list_for_enterprise(f->db, &f->admin, SCOPE_ALL, 999999,
						  collect_member, &got, &e),
			 ERR_NOT_FOUND);

	/* an enterprise user sees its own enterprise's team only */
	struct actor ent_user = {.tenant_id = f->tenant, .user_id = 4242, .enterprise_id = e2,
				 .roles = 1u << ROLE_ENTERPRISE};
	memset(&got, 0, sizeof got);
	assert_int_equal(team_list_for_enterprise(f->db, &ent_user, SCOPE_SELF, e2, collect_member,
						  &got, &e),
			 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(team_list_for_enterprise(f->db, &ent_user, SCOPE_SELF, e1, collect_member,
						  &got, &e),
			 ERR_NOT_FOUND);

	/* a's portfolio: three enterprises, paged by enterprise id, counts over all */
	memset(&got, 0, sizeof got);
	assert_int_equal(team_list_for_user(f->db, &f->admin, SCOPE_ALL, a, 0, 2, collect_assignment,
					    &got, &got.counts, &e),
			 0);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.ids[0], e1);
	assert_int_equal(got.ids[1], e2);
	assert_string_equal(got.roles[1], "lead");
	assert_int_equal(got.counts.total, 3);
	assert_int_equal(got.counts.active, 3);
	assert_int_equal(got.counts.as_lead, 1);
	assert_int_equal(got.counts.key, 1);
	assert_int_equal(team_list_for_user(f->db, &f->admin, SCOPE_ALL, a, e2, 2,
					    collect_assignment, &got, NULL, &e),
			 0);
	assert_int_equal(got.n, 3);
	assert_int_equal(got.ids[2], e3);

	/* a grid-scoped reader sees the part of the portfolio in the grid */
	struct actor grid = {.tenant_id = f->tenant, .user_id = 4343, .grid_id = 5,
			     .roles = 1u << ROLE_GRID_WORKER, .grid_path = "/5/"};
	add_grid(f, 5);
	memset(&got, 0, sizeof got);
	assert_int_equal(team_list_for_user(f->db, &grid, SCOPE_GRID, a, 0, 10, collect_assignment,
					    &got, &got.counts, &e),
			 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.ids[0], e3);
	assert_int_equal(got.counts.total, 1);
}

/* ---- blind spots ---- */

struct report {
	int nsections;
	char codes[8][16];
	int64_t totals[8];
	int64_t params[8];
	int nrows[8];
	int64_t rows[8][32];
	int64_t values[8][32];
};

static int on_section(const struct blindspot_section *s, int64_t total, int64_t param, void *ctx)
{
	struct report *r = ctx;
	snprintf(r->codes[r->nsections], sizeof r->codes[0], "%s", s->code);
	r->totals[r->nsections] = total;
	r->params[r->nsections] = param;
	r->nsections++;
	return 0;
}

static int on_row(const struct blindspot_section *s, const struct blindspot_row *row, void *ctx)
{
	struct report *r = ctx;
	int k = r->nsections - 1;
	(void)s;
	r->values[k][r->nrows[k]] = row->value;
	r->rows[k][r->nrows[k]++] = row->id;
	return 0;
}

static void report(struct fixture *f, const struct actor *who, enum scope scope,
		   const char *section, int64_t after, int64_t limit, struct report *out)
{
	struct blindspot_params p = {.limit = limit, .section = section, .after = after, .now = 1};
	struct blindspot_sink sink = {on_section, on_row};
	struct err e;
	memset(out, 0, sizeof *out);
	if (blindspot_report(f->db, who, scope, &p, &sink, out, &e) != 0)
		fail_msg("report: %s", e.message);
}

static void assert_ids(const struct report *r, int k, const int64_t *want, int n)
{
	assert_int_equal(r->nrows[k], n);
	for (int i = 0; i < n; i++)
		assert_int_equal(r->rows[k][i], want[i]);
}

static void test_blind_spots(void **state)
{
	struct fixture *f = *state;
	struct report r;
	struct err e;
	int64_t a = add_user(f, "a", "handler", f->d_reg);  /* active, busy */
	int64_t b = add_user(f, "b", "handler", f->d_tax);  /* active */
	int64_t d = add_user(f, "d", "handler", f->d_reg);  /* disabled below */
	int64_t e1 = add_ent_t(f, f->tenant, "无团队", false, "active", 9);
	int64_t e2 = add_ent(f, "有成员", false, "active");
	int64_t e3 = add_ent(f, "重点无组长", true, "active");
	int64_t e4 = add_ent(f, "重点有组长", true, "active");
	int64_t e5 = add_ent(f, "已注销无团队", true, "deregistered");
	int64_t e6 = add_ent(f, "只有停用成员", false, "active");
	int64_t e7 = add_ent(f, "组长已停用", true, "active");
	int64_t e8 = add_ent(f, "重点无团队", true, "active");
	int64_t e9 = add_ent(f, "迁出", false, "moved_out");
	add_ent_t(f, f->other_tenant, "别区无团队", true, "active", 0);

	must_assign(f, e2, a, "member");
	must_assign(f, e3, a, "member");
	must_assign(f, e4, a, "member");
	must_assign(f, e4, b, "lead");
	must_assign(f, e6, d, "member");
	must_assign(f, e7, d, "lead");
	must_assign(f, e7, a, "member");
	/* d leaves: its accounts is disabled, its assignments stay */
	begin(f);
	assert_int_equal(db_execf(f->db, &e, "UPDATE users SET status = 'disabled' WHERE id = $1", "i",
				  d),
			 0);
	commit(f);

	/* default maximum (30): nobody is overloaded */
	add_grid(f, 9);
	report(f, &f->admin, SCOPE_ALL, NULL, 0, 100, &r);
	assert_int_equal(r.nsections, 6);
	assert_string_equal(r.codes[0], "no_team");
	assert_string_equal(r.codes[1], "key_no_lead");
	assert_string_equal(r.codes[2], "overloaded");
	assert_string_equal(r.codes[3], "overdue_visit");
	assert_string_equal(r.codes[4], "grid_no_worker");
	assert_string_equal(r.codes[5], "unanswered");
	/* grid 9 has no worker and one active enterprise (e1) */
	assert_int_equal(r.totals[4], 1);
	assert_int_equal(r.rows[4][0], 9);
	assert_int_equal(r.values[4][0], 1);
	assert_int_equal(r.totals[3], 0);
	assert_int_equal(r.totals[5], 0);
	const int64_t no_team[] = {e1, e6, e8}, key_no_lead[] = {e3, e7, e8};
	assert_int_equal(r.totals[0], 3);
	assert_ids(&r, 0, no_team, 3);
	assert_int_equal(r.totals[1], 3);
	assert_ids(&r, 1, key_no_lead, 3);
	assert_int_equal(r.totals[2], 0);
	assert_int_equal(r.params[2], 30);
	assert_int_equal(r.nrows[2], 0);
	(void)e5;
	(void)e9;

	/* a serves e2, e3, e4, e7 (4 active); d serves 2 but is disabled; b serves 1 */
	begin(f);
	assert_int_equal(settings_set_int(f->db, &f->admin, TEAM_SETTING_MAX, 3, &e), 0);
	commit(f);
	report(f, &f->admin, SCOPE_ALL, NULL, 0, 100, &r);
	assert_int_equal(r.params[2], 3);
	assert_int_equal(r.totals[2], 1);
	assert_int_equal(r.rows[2][0], a);
	assert_int_equal(r.values[2][0], 4);
	begin(f);
	assert_int_equal(settings_set_int(f->db, &f->admin, TEAM_SETTING_MAX, 4, &e), 0);
	commit(f);
	report(f, &f->admin, SCOPE_ALL, NULL, 0, 100, &r);
	assert_int_equal(r.totals[2], 0);
	begin(f);
	assert_int_equal(settings_set_int(f->db, &f->admin, TEAM_SETTING_MAX, 0, &e),
			 ERR_UNPROCESSABLE);
	db_rollback(f->db);

	/* paging one section: the total stays, rows come after the keyset */
	int64_t after = 0, seen[8];
	int n = 0;
	for (;;) {
		report(f, &f->admin, SCOPE_ALL, "no_team", after, 1, &r);
		assert_int_equal(r.nsections, 1);
		assert_int_equal(r.totals[0], 3);
		if (!r.nrows[0])
			break;
		assert_int_equal(r.nrows[0], 1);
		seen[n++] = after = r.rows[0][0];
		assert_true(n <= 3);
	}
	assert_int_equal(n, 3);
	assert_memory_equal(seen, no_team, sizeof no_team);

	/* assigning an active official closes the gap */
	must_assign(f, e6, b, "member");
	must_assign(f, e8, b, "lead");
	report(f, &f->admin, SCOPE_ALL, NULL, 0, 100, &r);
	const int64_t no_team2[] = {e1}, key_no_lead2[] = {e3, e7};
	assert_ids(&r, 0, no_team2, 1);
	assert_ids(&r, 1, key_no_lead2, 2);

	/* scope: a grid-scoped reader sees grid 9's enterprises and no officials */
	struct actor grid = {.tenant_id = f->tenant, .user_id = b, .grid_id = 9, .grid_path = "/9/",
			     .roles = 1u << ROLE_GRID_WORKER};
	report(f, &grid, SCOPE_GRID, NULL, 0, 100, &r);
	assert_int_equal(r.totals[0], 1);
	assert_int_equal(r.rows[0][0], e1);
	assert_int_equal(r.totals[1], 0);
	assert_int_equal(r.totals[2], 0);

	/* the other tenant has its own report */
	struct actor other = {.tenant_id = f->other_tenant, .user_id = 1,
			      .roles = 1u << ROLE_ADMIN};
	report(f, &other, SCOPE_ALL, NULL, 0, 100, &r);
	assert_int_equal(r.totals[0], 1);
	assert_int_equal(r.totals[1], 1);

	/* refusals */
	struct blindspot_params p = {.limit = 10, .section = "no_visit"};
	struct blindspot_sink sink = {on_section, on_row};
	assert_int_equal(blindspot_report(f->db, &f->admin, SCOPE_ALL, &p, &sink, &r, &e),
			 ERR_BAD_REQUEST);
	assert_string_equal(e.field, "section");
	p.section = NULL;
	p.limit = 0;
	assert_int_equal(blindspot_report(f->db, &f->admin, SCOPE_ALL, &p, &sink, &r, &e),
			 ERR_BAD_REQUEST);
	assert_string_equal(e.field, "limit");

	size_t ns;
	const struct blindspot_section *s = blindspot_sections(&ns);
	assert_int_equal(ns, 6);
	assert_ptr_equal(blindspot_section("overloaded"), &s[2]);
	assert_ptr_equal(blindspot_section("unanswered"), &s[5]);
	assert_string_equal(s[5].setting, BLINDSPOT_SETTING_DISPATCH);
	assert_string_equal(s[2].setting, TEAM_SETTING_MAX);
	assert_null(blindspot_section("nope"));
}

/* ---- ledger: pure functions ---- */

static void test_transition_table(void **state)
{
	/* expected[from][to], written out independently of ledger.c's table */
	static const char *const rows[] = {
		/*            open in_progress resolved closed */
		/* open */        "0100",
		/* in_progress */ "0010",
		/* resolved */    "0101",
		/* closed */      "0000",
	};
	(void)state;
	for (int from = 0; from < LEDGER__COUNT; from++)
		for (int to = 0; to < LEDGER__COUNT; to++)
			if (ledger_transition_allowed((enum ledger_status)from, (enum ledger_status)to) !=
			    (rows[from][to] == '1'))
				fail_msg("%s -> %s", ledger_status_name((enum ledger_status)from),
					 ledger_status_name((enum ledger_status)to));
	assert_false(ledger_transition_allowed(LEDGER__COUNT, LEDGER_OPEN));
	assert_false(ledger_transition_allowed(LEDGER_OPEN, (enum ledger_status)-1));
	for (int s = 0; s < LEDGER__COUNT; s++)
		assert_int_equal(ledger_status_from_name(ledger_status_name((enum ledger_status)s)), s);
	assert_int_equal(ledger_status_from_name("OPEN"), -1);
	assert_int_equal(ledger_status_from_name(""), -1);
	assert_int_equal(ledger_status_from_name(NULL), -1);
	assert_null(ledger_status_name(LEDGER__COUNT));
	assert_string_equal(ledger_status_zh(LEDGER_IN_PROGRESS), "办理中");
}

static void test_deadline_dates(void **state)
{
	/* expected values computed independently: (days since 1970-01-01 + 1) * 86400000
	 * - 8 h - 1 ms, i.e. 23:59:59.999 in UTC+8 */
	static const struct {
		const char *date;
		int64_t at;
	} good[] = {
		{"1970-01-01", INT64_C(57599999)},
		{"2000-02-29", INT64_C(951839999999)},     /* divisible by 400: leap */
		{"2023-02-28", INT64_C(1677599999999)},
		{"2024-02-29", INT64_C(1709222399999)},
		{"2024-12-31", INT64_C(1735660799999)},
		{"2025-01-31", INT64_C(1738339199999)},
		{"2025-03-01", INT64_C(1740844799999)},
		{"2026-06-30", INT64_C(1782835199999)},
		{"9999-12-31", INT64_C(253402271999999)},
	};
	static const char *const bad[] = {
		"2023-02-29", "2100-02-29", "1900-02-29", "2024-04-31", "2025-06-31", "2024-09-31",
		"2024-11-31", "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32", "1969-12-31",
		"2024-1-01", "2024-01-1", "20240101", "2024/01/01", "2024-01-01 ", " 2024-01-01",
		"2024-01-01T00:00", "", "abcd-ef-gh", "２０２４-01-01", "2024-01-0a", "10000-01-01",
	};
	struct err e;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		int64_t at = 0;
		if (ledger_deadline_parse(good[i].date, "deadline", &at, &e) != 0)
			fail_msg("%s refused: %s", good[i].date, e.message);
		if (at != good[i].at)
			fail_msg("%s: %lld, want %lld", good[i].date, (long long)at,
				 (long long)good[i].at);
	}
	/* consecutive days are exactly one day apart, also across month and year ends */
	int64_t x, y;
	assert_int_equal(ledger_deadline_parse("2024-02-28", "d", &x, &e), 0);
	assert_int_equal(ledger_deadline_parse("2024-02-29", "d", &y, &e), 0);
	assert_int_equal(y - x, INT64_C(86400000));
	assert_int_equal(ledger_deadline_parse("2024-03-01", "d", &x, &e), 0);
	assert_int_equal(x - y, INT64_C(86400000));
	assert_int_equal(ledger_deadline_parse("2024-12-31", "d", &x, &e), 0);
	assert_int_equal(ledger_deadline_parse("2025-01-01", "d", &y, &e), 0);
	assert_int_equal(y - x, INT64_C(86400000));

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int64_t at = 42;
		if (ledger_deadline_parse(bad[i], "deadline", &at, &e) != ERR_UNPROCESSABLE)
			fail_msg("'%s' accepted", bad[i]);
		assert_string_equal(e.field, "deadline");
		assert_int_equal(at, 42);
	}
	assert_int_equal(ledger_deadline_parse(NULL, "deadline", &x, &e), ERR_UNPROCESSABLE);

	assert_true(ledger_date_valid(2024, 2, 29));
	assert_false(ledger_date_valid(2100, 2, 29));
	assert_true(ledger_date_valid(2000, 2, 29));
	assert_false(ledger_date_valid(2024, 4, 31));

	char buf[32];
	ledger_format_local(INT64_C(1709222399999), buf, sizeof buf);
	assert_string_equal(buf, "2024-02-29 23:59");
	ledger_format_local(INT64_C(1709222400000), buf, sizeof buf);
	assert_string_equal(buf, "2024-03-01 00:00");
	ledger_format_local(0, buf, sizeof buf);
	assert_string_equal(buf, "");
}

static void test_overdue_predicate(void **state)
{
	const int64_t due = INT64_C(1740844799999);
	(void)state;
	assert_false(ledger_overdue(LEDGER_OPEN, due, due));
	assert_true(ledger_overdue(LEDGER_OPEN, due, due + 1));
	assert_true(ledger_overdue(LEDGER_IN_PROGRESS, due, due + 1));
	assert_false(ledger_overdue(LEDGER_RESOLVED, due, due + 1));
	assert_false(ledger_overdue(LEDGER_CLOSED, due, due + 1));
	assert_false(ledger_overdue(LEDGER_OPEN, due, due - 1000));
}

/* ---- ledger: writes ---- */

struct ledger_env {
	int64_t key, plain, key2;
	int64_t handler, handler2, taxman, depthead, ent_user;
	struct actor a_handler, a_depthead;
};

static void ledger_env(struct fixture *f, struct ledger_env *v)
{
	v->key = add_ent(f, "重点企业甲", true, "active");
	v->key2 = add_ent(f, "重点企业乙", true, "active");
	v->plain = add_ent(f, "一般企业", false, "active");
	v->handler = add_user(f, "handler", "handler", f->d_reg);
	v->handler2 = add_user(f, "handler2", "handler", f->d_reg);
	v->taxman = add_user(f, "taxman", "handler", f->d_tax);
	v->depthead = add_user(f, "depthead", "dept_head", f->d_amr);
	v->ent_user = add_user_t(f, f->tenant, "ent", "enterprise", 0, "active", v->key);
	v->a_handler = actor_for(f, v->handler, ROLE_HANDLER, f->d_reg);
	v->a_depthead = actor_for(f, v->depthead, ROLE_DEPT_HEAD, f->d_amr);
}

static struct ledger_write lw(struct fixture *f, const struct actor *who, enum scope scope)
{
	return (struct ledger_write){.who = who, .read_scope = scope, .scope = scope,
				     .tenant_id = f->tenant, .now = 5000};
}

static int64_t create_item(struct fixture *f, const struct actor *who, enum scope scope,
			   int64_t ent, int64_t responsible, const char *deadline)
{
	struct ledger_write w = lw(f, who, scope);
	struct err e;
	w.enterprise_id = ent;
	w.title = "用电增容审批慢";
	w.description = "需协调供电公司";
	w.responsible_user_id = responsible;
	w.deadline = deadline;
	if (run(f, ledger_create, &w, &e) != 0)
		fail_msg("create: %s (%s)", e.message, e.field);
	assert_true(w.id > 0);
	return w.id;
}

static int progress(struct fixture *f, const struct actor *who, enum scope scope, int64_t id,
		    const char *status, int64_t now, struct err *e)
{
	struct ledger_write w = lw(f, who, scope);
	w.id = id;
	w.note = "已电话沟通";
	w.status = status;
	w.now = now;
	return run(f, ledger_add_progress, &w, e);
}

static struct ledger_item get_item(struct fixture *f, int64_t id, int64_t now)
{
	struct ledger_item it;
	struct err e;
	if (ledger_get(f->db, &f->admin, SCOPE_ALL, id, now, &it, &e) != 0)
		fail_msg("get %lld: %s", (long long)id, e.message);
	return it;
}

static void test_ledger_create_refusals(void **state)
{
	struct fixture *f = *state;
	struct ledger_env v;
	struct err e;
	char long_title[512], long_text[4200];
	ledger_env(f, &v);

	memset(long_title, 0, sizeof long_title);
	for (int i = 0; i < 101; i++)
		memcpy(long_title + 3 * i, "题", 3); /* 101 characters */
	memset(long_text, 'x', 2001);
	long_text[2001] = '\0';

	static const struct {
		const char *name;
		int ent;            /* 0 key, 1 plain, 2 missing */
		const char *title, *description, *deadline;
		int resp;           /* 0 handler, 1 ent_user, 2 missing, 3 taxman */
		int code;
		const char *field;
	} cases[] = {
		{"not a key enterprise", 1, "t", "", "2026-01-01", 0, ERR_UNPROCESSABLE, "enterprise_id"},
		{"no such enterprise", 2, "t", "", "2026-01-01", 0, ERR_UNPROCESSABLE, "enterprise_id"},
		{"no title", 0, NULL, "", "2026-01-01", 0, ERR_BAD_REQUEST, "title"},
		{"blank title", 0, " \t　", "", "2026-01-01", 0, ERR_UNPROCESSABLE, "title"},
		{"long title", 0, "LONG", "", "2026-01-01", 0, ERR_UNPROCESSABLE, "title"},
		{"long description", 0, "t", "LONG", "2026-01-01", 0, ERR_UNPROCESSABLE, "description"},
		{"no deadline", 0, "t", "", NULL, 0, ERR_BAD_REQUEST, "deadline"},
		{"bad deadline", 0, "t", "", "2026-02-30", 0, ERR_UNPROCESSABLE, "deadline"},
		{"enterprise user responsible", 0, "t", "", "2026-01-01", 1, ERR_UNPROCESSABLE,
		 "responsible_user_id"},
		{"no such official", 0, "t", "", "2026-01-01", 2, ERR_UNPROCESSABLE,
		 "responsible_user_id"},
	};
	int64_t ents[] = {v.key, v.plain, 999999};
	int64_t resp[] = {v.handler, v.ent_user, 999999, v.taxman};
	int64_t before = audit_rows(f);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ledger_write w = lw(f, &f->admin, SCOPE_ALL);
		w.enterprise_id = ents[cases[i].ent];
		w.title = cases[i].title && strcmp(cases[i].title, "LONG") == 0 ? long_title
										: cases[i].title;
		w.description = cases[i].description && strcmp(cases[i].description, "LONG") == 0
					? long_text
					: cases[i].description;
		w.deadline = cases[i].deadline;
		w.responsible_user_id = resp[cases[i].resp];
		int rc = run(f, ledger_create, &w, &e);
		if (rc != cases[i].code || strcmp(e.field, cases[i].field) != 0)
			fail_msg("%s: got %d (%s: %s)", cases[i].name, rc, e.field, e.message);
	}
	/* a handler (SELF) may create items for themselves, not for others */
	struct ledger_write w = lw(f, &v.a_handler, SCOPE_SELF);
	w.enterprise_id = v.key;
	w.title = "t";
	w.deadline = "2026-01-01";
	w.responsible_user_id = v.handler2;
	assert_int_equal(run(f, ledger_create, &w, &e), ERR_FORBIDDEN);
	assert_string_equal(e.field, "responsible_user_id");
	/* a department head (DEPT_TREE of amr) not for the tax office */
	w = lw(f, &v.a_depthead, SCOPE_DEPT_TREE);
	w.enterprise_id = v.key;
	w.title = "t";
	w.deadline = "2026-01-01";
	w.responsible_user_id = v.taxman;
	assert_int_equal(run(f, ledger_create, &w, &e), ERR_FORBIDDEN);
	assert_string_equal(e.field, "responsible_user_id");
	assert_int_equal(audit_rows(f), before);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM ledger_items WHERE tenant_id = $1 AND $2 = $2",
			    f->tenant, 0),
			 0);

	/* exactly 100 characters and 2000 are fine */
	long_title[300] = '\0';
	long_text[2000] = '\0';
	w = lw(f, &v.a_handler, SCOPE_SELF);
	w.enterprise_id = v.key;
	w.title = long_title;
	w.description = long_text;
	w.deadline = "2024-02-29";
	w.responsible_user_id = v.handler;
	assert_int_equal(run(f, ledger_create, &w, &e), 0);
	assert_int_equal(audit_rows(f), before + 1);
	struct ledger_item it = get_item(f, w.id, 0);
	assert_string_equal(it.deadline_on, "2024-02-29");
	assert_int_equal(it.deadline_at, INT64_C(1709222399999));
	assert_int_equal(it.status, LEDGER_OPEN);
	assert_int_equal(it.created_by, v.handler);
	assert_int_equal(it.responsible_dept_id, f->d_reg);
	assert_int_equal(strlen(it.title), 300);
	assert_int_equal(strlen(it.description), 2000);
}

static void test_ledger_state_machine(void **state)
{
	struct fixture *f = *state;
	struct ledger_env v;
	struct err e;
	ledger_env(f, &v);
	int64_t id = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler, "2026-03-31");
	int64_t before = audit_rows(f);

	/* skipping a step is a conflict; an unknown status is refused */
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, "resolved", 6000, &e), ERR_CONFLICT);
	assert_string_equal(e.field, "status");
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, "closed", 6000, &e), ERR_CONFLICT);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, "done", 6000, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "status");
	assert_int_equal(audit_rows(f), before);

	/* a note alone, and naming the current status, change nothing */
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, NULL, 6000, &e), 0);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, "open", 6100, &e), 0);
	assert_int_equal(get_item(f, id, 0).status, LEDGER_OPEN);

	/* the handler moves their own item along */
	assert_int_equal(progress(f, &v.a_handler, SCOPE_SELF, id, "in_progress", 7000, &e), 0);
	assert_int_equal(progress(f, &v.a_handler, SCOPE_SELF, id, "resolved", 8000, &e), 0);
	struct ledger_item it = get_item(f, id, 0);
	assert_int_equal(it.status, LEDGER_RESOLVED);
	assert_int_equal(it.resolved_at, 8000);
	assert_int_equal(it.updated_at, 8000);
	/* reopen clears resolved_at; resolve again; close */
	assert_int_equal(progress(f, &v.a_handler, SCOPE_SELF, id, "in_progress", 9000, &e), 0);
	assert_int_equal(get_item(f, id, 0).resolved_at, 0);
	assert_int_equal(progress(f, &v.a_handler, SCOPE_SELF, id, "resolved", 10000, &e), 0);
	assert_int_equal(progress(f, &v.a_handler, SCOPE_SELF, id, "closed", 11000, &e), 0);
	it = get_item(f, id, 0);
	assert_int_equal(it.status, LEDGER_CLOSED);
	assert_int_equal(it.resolved_at, 10000);
	assert_int_equal(audit_rows(f), before + 7);

	/* closed is final: no status, no notes, no edits */
	before = audit_rows(f);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, "in_progress", 12000, &e),
			 ERR_CONFLICT);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, id, NULL, 12000, &e), ERR_CONFLICT);
	assert_string_equal(e.field, "status");
	struct ledger_write w = lw(f, &f->admin, SCOPE_ALL);
	w.id = id;
	w.title = "新标题";
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_CONFLICT);
	assert_int_equal(audit_rows(f), before);

	/* the progress trail: every entry with its status after */
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM ledger_progress WHERE tenant_id = $1 "
			       "AND item_id = $2", f->tenant, id), 7);
	assert_int_equal(q1(f, "SELECT COUNT(*) FROM ledger_progress WHERE tenant_id = $1 "
			       "AND item_id = $2 AND status_after = 'resolved'", f->tenant, id), 2);

	/* a blank note is refused */
	int64_t id2 = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler, "2026-03-31");
	w = lw(f, &f->admin, SCOPE_ALL);
	w.id = id2;
	w.note = "  ";
	assert_int_equal(run(f, ledger_add_progress, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "note");
	w.note = NULL;
	assert_int_equal(run(f, ledger_add_progress, &w, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "note");
}

static void test_ledger_scope_and_update(void **state)
{
	struct fixture *f = *state;
	struct ledger_env v;
	struct err e;
	ledger_env(f, &v);
	int64_t mine = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler, "2026-03-31");
	int64_t colleague = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler2, "2026-03-31");
	int64_t tax = create_item(f, &f->admin, SCOPE_ALL, v.key2, v.taxman, "2026-03-31");
	struct ledger_item it;

	/* reads */
	assert_int_equal(ledger_get(f->db, &v.a_handler, SCOPE_SELF, mine, 0, &it, &e), 0);
	assert_int_equal(ledger_get(f->db, &v.a_handler, SCOPE_SELF, colleague, 0, &it, &e),
			 ERR_NOT_FOUND);
	assert_int_equal(ledger_get(f->db, &v.a_depthead, SCOPE_DEPT_TREE, colleague, 0, &it, &e), 0);
	assert_int_equal(ledger_get(f->db, &v.a_depthead, SCOPE_DEPT_TREE, tax, 0, &it, &e),
			 ERR_NOT_FOUND);
	struct actor a_reg_dept = actor_for(f, v.handler, ROLE_HANDLER, f->d_reg);
	assert_int_equal(ledger_get(f->db, &a_reg_dept, SCOPE_DEPT, colleague, 0, &it, &e), 0);
	assert_int_equal(ledger_get(f->db, &a_reg_dept, SCOPE_DEPT, tax, 0, &it, &e), ERR_NOT_FOUND);

	/* progress on someone else's item: not even visible to a SELF handler */
	assert_int_equal(progress(f, &v.a_handler, SCOPE_SELF, colleague, "in_progress", 1, &e),
			 ERR_NOT_FOUND);
	/* readable but not writable: 403 */
	struct ledger_write w = lw(f, &v.a_handler, SCOPE_SELF);
	w.read_scope = SCOPE_DEPT;
	w.id = colleague;
	w.note = "n";
	assert_int_equal(run(f, ledger_add_progress, &w, &e), ERR_FORBIDDEN);

	/* SELF may edit the text of their own item, not its deadline or owner */
	w = lw(f, &v.a_handler, SCOPE_SELF);
	w.id = mine;
	w.title = "用电增容（已约谈）";
	w.description = "";
	assert_int_equal(run(f, ledger_update, &w, &e), 0);
	assert_true(w.changed);
	it = get_item(f, mine, 0);
	assert_string_equal(it.title, "用电增容（已约谈）");
	assert_string_equal(it.description, "");
	w = lw(f, &v.a_handler, SCOPE_SELF);
	w.id = mine;
	w.deadline = "2026-12-31";
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_FORBIDDEN);
	assert_string_equal(e.field, "deadline");
	w.deadline = "2026-03-31"; /* the same date is no change */
	assert_int_equal(run(f, ledger_update, &w, &e), 0);
	assert_false(w.changed);
	w.deadline = NULL;
	w.responsible_user_id = v.handler2;
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_FORBIDDEN);
	assert_string_equal(e.field, "responsible_user_id");

	/* the department head moves the deadline and hands it over within the tree */
	int64_t before = audit_rows(f);
	w = lw(f, &v.a_depthead, SCOPE_DEPT_TREE);
	w.id = mine;
	w.deadline = "2026-04-30";
	w.responsible_user_id = v.handler2;
	assert_int_equal(run(f, ledger_update, &w, &e), 0);
	assert_int_equal(audit_rows(f), before + 1);
	it = get_item(f, mine, 0);
	assert_string_equal(it.deadline_on, "2026-04-30");
	assert_int_equal(it.responsible_user_id, v.handler2);
	assert_int_equal(it.deadline_at - INT64_C(1782835199999), -61 * INT64_C(86400000));
	/* ... but not out of it, and not to an enterprise user */
	w.deadline = NULL;
	w.responsible_user_id = v.taxman;
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_FORBIDDEN);
	w.responsible_user_id = v.ent_user;
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "responsible_user_id");
	w.responsible_user_id = 0;
	w.title = "";
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "title");
	w.title = NULL;
	w.deadline = "2026-04-31";
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "deadline");
	/* the tax item is out of the head's read scope: 404 */
	w = lw(f, &v.a_depthead, SCOPE_DEPT_TREE);
	w.id = tax;
	w.title = "x";
	assert_int_equal(run(f, ledger_update, &w, &e), ERR_NOT_FOUND);
	assert_int_equal(audit_rows(f), before + 1);
}

struct ids {
	int n;
	int64_t v[64];
	bool overdue[64];
};

static int collect_item(const struct ledger_item *it, void *ctx)
{
	struct ids *c = ctx;
	c->overdue[c->n] = it->overdue;
	c->v[c->n++] = it->id;
	return 0;
}

static struct ids list(struct fixture *f, const struct actor *who, enum scope scope,
		       struct ledger_filter flt)
{
	struct ids got = {0};
	struct err e;
	if (!flt.limit)
		flt.limit = 50;
	if (ledger_list(f->db, who, scope, &flt, collect_item, &got, &e) != 0)
		fail_msg("list: %s", e.message);
	return got;
}

struct counts {
	int n;
	int64_t id[16], open[16], overdue[16];
};

static int collect_count(const struct ledger_count *c, void *ctx)
{
	struct counts *s = ctx;
	s->id[s->n] = c->id;
	s->open[s->n] = c->open;
	s->overdue[s->n++] = c->overdue;
	return 0;
}

struct summary {
	struct counts ent, off;
};

static int sum_ent(const struct ledger_count *c, void *ctx)
{
	return collect_count(c, &((struct summary *)ctx)->ent);
}

static int sum_off(const struct ledger_count *c, void *ctx)
{
	return collect_count(c, &((struct summary *)ctx)->off);
}

static void test_ledger_overdue_lists(void **state)
{
	struct fixture *f = *state;
	struct ledger_env v;
	struct err e;
	ledger_env(f, &v);
	int64_t due;
	assert_int_equal(ledger_deadline_parse("2025-03-01", "d", &due, &e), 0);

	/* i1 open, i2 in progress, i3 resolved, i4 closed: all due 2025-03-01;
	 * i5 open due a day later; i6 the tax office's, open, due 2025-03-01 */
	int64_t i1 = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler, "2025-03-01");
	int64_t i2 = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler2, "2025-03-01");
	int64_t i3 = create_item(f, &f->admin, SCOPE_ALL, v.key2, v.handler, "2025-03-01");
	int64_t i4 = create_item(f, &f->admin, SCOPE_ALL, v.key2, v.handler, "2025-03-01");
	int64_t i5 = create_item(f, &f->admin, SCOPE_ALL, v.key, v.handler, "2025-03-02");
	int64_t i6 = create_item(f, &f->admin, SCOPE_ALL, v.key2, v.taxman, "2025-03-01");
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, i2, "in_progress", 1, &e), 0);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, i3, "in_progress", 1, &e), 0);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, i3, "resolved", 1, &e), 0);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, i4, "in_progress", 1, &e), 0);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, i4, "resolved", 1, &e), 0);
	assert_int_equal(progress(f, &f->admin, SCOPE_ALL, i4, "closed", 1, &e), 0);

	/* at the last millisecond of the day nothing is overdue yet */
	struct ids got = list(f, &f->admin, SCOPE_ALL,
			      (struct ledger_filter){.status = -1, .overdue = true, .now = due});
	assert_int_equal(got.n, 0);
	got = list(f, &f->admin, SCOPE_ALL,
		   (struct ledger_filter){.status = -1, .overdue = true, .now = due + 1});
	assert_int_equal(got.n, 3);
	assert_int_equal(got.v[0], i1);
	assert_int_equal(got.v[1], i2);
	assert_int_equal(got.v[2], i6);
	assert_true(got.overdue[0] && got.overdue[1] && got.overdue[2]);
	got = list(f, &f->admin, SCOPE_ALL,
		   (struct ledger_filter){.status = -1, .overdue = true,
					  .now = due + INT64_C(86400000) + 1});
	assert_int_equal(got.n, 4); /* i5 too */

	/* all, flagged at now */
	got = list(f, &f->admin, SCOPE_ALL, (struct ledger_filter){.status = -1, .now = due + 1});
	assert_int_equal(got.n, 6);
	assert_true(got.overdue[0]);
	assert_false(got.overdue[2]); /* resolved */
	assert_false(got.overdue[4]); /* due tomorrow */

	/* filters combine; keyset paging */
	got = list(f, &f->admin, SCOPE_ALL,
		   (struct ledger_filter){.status = LEDGER_OPEN, .enterprise_id = v.key,
					  .now = due + 1});
	assert_int_equal(got.n, 2);
	assert_int_equal(got.v[0], i1);
	assert_int_equal(got.v[1], i5);
	got = list(f, &f->admin, SCOPE_ALL,
		   (struct ledger_filter){.status = -1, .responsible_user_id = v.handler,
					  .after = i1, .limit = 2});
	assert_int_equal(got.n, 2);
	assert_int_equal(got.v[0], i3);
	assert_int_equal(got.v[1], i4);

	/* scopes */
	got = list(f, &v.a_handler, SCOPE_SELF, (struct ledger_filter){.status = -1});
	assert_int_equal(got.n, 4); /* i1, i3, i4, i5 */
	got = list(f, &v.a_depthead, SCOPE_DEPT_TREE, (struct ledger_filter){.status = -1});
	assert_int_equal(got.n, 5); /* all but the tax office's */
	got = list(f, &v.a_depthead, SCOPE_GRID, (struct ledger_filter){.status = -1});
	assert_int_equal(got.n, 0); /* a scope the ledger cannot express denies */

	/* summary at due + 1: per enterprise and per official, most overdue first */
	struct summary s;
	struct ledger_totals t;
	memset(&s, 0, sizeof s);
	assert_int_equal(ledger_summary(f->db, &f->admin, SCOPE_ALL, due + 1, 10, sum_ent, sum_off,
					&s, &t, &e),
			 0);
	assert_int_equal(t.open, 4);    /* i1 i2 i5 i6 */
	assert_int_equal(t.overdue, 3); /* i1 i2 i6 */
	assert_int_equal(t.enterprises, 2);
	assert_int_equal(t.officials, 3);
	assert_int_equal(s.ent.n, 2);
	assert_int_equal(s.ent.id[0], v.key);
	assert_int_equal(s.ent.open[0], 3);
	assert_int_equal(s.ent.overdue[0], 2);
	assert_int_equal(s.ent.id[1], v.key2);
	assert_int_equal(s.ent.open[1], 1);
	assert_int_equal(s.ent.overdue[1], 1);
	assert_int_equal(s.off.n, 3);
	assert_int_equal(s.off.id[0], v.handler);   /* 2 open, 1 overdue */
	assert_int_equal(s.off.open[0], 2);
	assert_int_equal(s.off.overdue[0], 1);
	/* handler2 and taxman tie on (1 overdue, 1 open): by id */
	assert_int_equal(s.off.id[1], v.handler2 < v.taxman ? v.handler2 : v.taxman);

	/* the department head's summary leaves out the tax office */
	memset(&s, 0, sizeof s);
	assert_int_equal(ledger_summary(f->db, &v.a_depthead, SCOPE_DEPT_TREE, due + 1, 1, sum_ent,
					sum_off, &s, &t, &e),
			 0);
	assert_int_equal(t.open, 3);
	assert_int_equal(t.overdue, 2);
	assert_int_equal(s.ent.n, 1); /* limit 1 */
	assert_int_equal(s.off.n, 1);
	(void)i4;
}

/* ---- xlsx ---- */

static char *zip_entry(const char *data, size_t len, const char *name, size_t *out_len)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
	assert_non_null(src);
	zip_t *z = zip_open_from_source(src, ZIP_RDONLY, &ze);
	assert_non_null(z);
	zip_stat_t zs;
	assert_int_equal(zip_stat(z, name, 0, &zs), 0);
	char *buf = calloc(1, (size_t)zs.size + 1);
	zip_file_t *zf = zip_fopen(z, name, 0);
	assert_non_null(zf);
	assert_int_equal(zip_fread(zf, buf, zs.size), (zip_int64_t)zs.size);
	zip_fclose(zf);
	zip_close(z);
	*out_len = (size_t)zs.size;
	return buf;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_xlsx(void **state)
{
	struct fixture *f = *state;
	static const struct xlsx_column cols[] = {{"编号", 8}, {"企业名称", 30}, {"金额", 0}};
	struct xlsx_sheet *x = NULL;
	struct err e;
	char *data = NULL, tmp[96];
	size_t len = 0, xl;
	const char *old_tmp = getenv("TMPDIR");
	char saved[256] = "";

	/* a private TMPDIR shows that temporary files are cleaned up */
	if (old_tmp)
		snprintf(saved, sizeof saved, "%s", old_tmp);
	snprintf(tmp, sizeof tmp, "%s/tmp", f->dir);
	assert_int_equal(mkdir(tmp, 0700), 0);
	setenv("TMPDIR", tmp, 1);

	assert_int_equal(xlsx_sheet_new("台账", cols, 3, NULL, &x, &e), 0);
	struct xlsx_cell r1[] = {xlsx_num(1), xlsx_str("郑州二七示范商贸有限公司"), xlsx_num(12.5)};
	struct xlsx_cell r2[] = {xlsx_num(2), xlsx_str("=1+1 <&> \x01 控制符")};
	struct xlsx_cell r3[] = {xlsx_num(3), xlsx_str(NULL), {.kind = XLSX_EMPTY}};
	assert_int_equal(xlsx_add_row(x, r1, 3, &e), 0);
	assert_int_equal(xlsx_add_row(x, r2, 2, &e), 0);
	assert_int_equal(xlsx_add_row(x, r3, 3, &e), 0);
	struct xlsx_cell bad[] = {xlsx_str("\xff\xfe")};
	assert_int_equal(xlsx_add_row(x, bad, 1, &e), ERR_UNPROCESSABLE);
	struct xlsx_cell four[4] = {xlsx_num(1), xlsx_num(2), xlsx_num(3), xlsx_num(4)};
	assert_int_equal(xlsx_add_row(x, four, 4, &e), ERR_UNPROCESSABLE);
	assert_int_equal(xlsx_rows(x), 3);
	assert_int_equal(dir_entries(tmp), 1); /* our temporary file, until the end */
	assert_int_equal(xlsx_finish(x, &data, &len, &e), 0);
	assert_int_equal(xlsx_finish(x, &data, &len, &e), ERR_INTERNAL); /* only once */
	xlsx_sheet_free(x);
	assert_int_equal(dir_entries(tmp), 0);
	assert_true(len > 100);
	assert_memory_equal(data, "PK\x03\x04", 4);

	char *sheet = zip_entry(data, len, "xl/worksheets/sheet1.xml", &xl);
	assert_int_equal(count_of(sheet, "<row "), 4); /* header + 3 */
	assert_non_null(strstr(sheet, "郑州二七示范商贸有限公司"));
	assert_non_null(strstr(sheet, "编号"));
	assert_non_null(strstr(sheet, "&lt;&amp;&gt;"));
	assert_null(strstr(sheet, "\x01"));
	assert_null(strstr(sheet, "<f>")); /* "=1+1" is text, not a formula */
	assert_non_null(strstr(sheet, "<pane ")); /* the header row is frozen */
	free(sheet);
	char *wbx = zip_entry(data, len, "xl/workbook.xml", &xl);
	assert_non_null(strstr(wbx, "台账"));
	free(wbx);
	free(data);

	/* abandoned: nothing left behind */
	assert_int_equal(xlsx_sheet_new("s", cols, 3, NULL, &x, &e), 0);
	assert_int_equal(xlsx_add_row(x, r1, 3, &e), 0);
	xlsx_sheet_free(x);
	xlsx_sheet_free(NULL);
	assert_int_equal(dir_entries(tmp), 0);

	/* to a file */
	char path[160];
	snprintf(path, sizeof path, "%s/out.xlsx", f->dir);
	assert_int_equal(xlsx_sheet_new("s", cols, 3, path, &x, &e), 0);
	assert_int_equal(xlsx_add_row(x, r1, 3, &e), 0);
	assert_int_equal(xlsx_finish(x, NULL, NULL, &e), 0);
	xlsx_sheet_free(x);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 100);
	unlink(path);

	/* a bad sheet name is an error, not a crash */
	assert_int_equal(xlsx_sheet_new("a/b", cols, 3, NULL, &x, &e), ERR_INTERNAL);
	assert_null(x);
	assert_int_equal(dir_entries(tmp), 0);

	rmdir(tmp);
	if (saved[0])
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lead_uniqueness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assign_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_team_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blind_spots, setup, teardown),
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_deadline_dates),
		cmocka_unit_test(test_overdue_predicate),
		cmocka_unit_test_setup_teardown(test_ledger_create_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_state_machine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_scope_and_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_overdue_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xlsx, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
