/*
 * test_dept.c — the department tree (src/core/dept.c) against a real SQLite
 * database in a temporary directory: paths, moves, the refusals, tree-order
 * listing, tenant isolation, and one audit row per successful write.
 *
 * Write jobs are called directly inside a write transaction, committed when
 * they succeed and rolled back when they fail, as the pool's savepoints do.
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

#include "core/dept.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
	int64_t tenant, other_tenant;
	struct actor who;
};

static int64_t add_tenant(struct db *db, const char *code)
{
	struct err e = {0};
	int64_t id = 0;
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_query_i64(db, &id, &e,
				      "INSERT INTO tenants (code, name, created_at) "
				      "VALUES ($1, $1, 0) RETURNING id",
				      "t", code),
			 0);
	assert_int_equal(db_commit(db, &e), 0);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-dept-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	f->tenant = add_tenant(f->db, "erqi");
	f->other_tenant = add_tenant(f->db, "other");
	f->who.tenant_id = f->tenant;
	f->who.user_id = 0;
	snprintf(f->who.login, sizeof f->who.login, "tester");
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
static int run(struct fixture *f, db_write_fn fn, struct dept_write *w, struct err *e)
{
	int rc;

	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	rc = fn(f->db, w, e);
	if (rc == 0)
		assert_int_equal(db_commit(f->db, e), 0);
	else
		db_rollback(f->db);
	return rc;
}

static struct dept_write wr(struct fixture *f, int64_t tenant)
{
	return (struct dept_write){.who = &f->who, .tenant_id = tenant, .now = 1000};
}

/* Create code/name under parent in the fixture's tenant; returns the id. */
static int64_t mk(struct fixture *f, const char *code, int64_t parent, int64_t sort)
{
	struct dept_write w = wr(f, f->tenant);
	struct err e;

	w.code = code;
	w.name = code;
	w.parent_id = parent;
	w.sort = sort;
	if (run(f, dept_create, &w, &e) != 0)
		fail_msg("create %s: %s (%s)", code, e.message, e.field);
	assert_true(w.id > 0);
	return w.id;
}

static struct dept get(struct fixture *f, int64_t id)
{
	struct dept d;
	struct err e;

	if (dept_get(f->db, f->tenant, id, &d, &e) != 0)
		fail_msg("get %lld: %s", (long long)id, e.message);
	return d;
}

static void assert_path(struct fixture *f, int64_t id, const char *fmt, ...)
{
	char want[256];
	va_list ap;
	struct dept d = get(f, id);

	va_start(ap, fmt);
	vsnprintf(want, sizeof want, fmt, ap);
	va_end(ap);
	assert_string_equal(d.path, want);
}

static int64_t count_sql(struct fixture *f, const char *sql)
{
	struct err e;
	int64_t n = -1;
	assert_int_equal(db_query_i64(f->db, &n, &e, sql, "i", f->tenant), 0);
	return n;
}

static int64_t audit_rows(struct fixture *f)
{
	return count_sql(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1");
}

static int move(struct fixture *f, int64_t id, int64_t parent, struct err *e)
{
	struct dept_write w = wr(f, f->tenant);
	w.id = id;
	w.set_parent = true;
	w.parent_id = parent;
	return run(f, dept_update, &w, e);
}

static void test_create_tree(void **state)
{
	struct fixture *f = *state;
	int64_t a = mk(f, "A", 0, 0);
	int64_t b = mk(f, "B", a, 0);
	int64_t c = mk(f, "C-1_x", b, 0);
	struct dept d;

	assert_path(f, a, "/%lld/", (long long)a);
	assert_path(f, b, "/%lld/%lld/", (long long)a, (long long)b);
	assert_path(f, c, "/%lld/%lld/%lld/", (long long)a, (long long)b, (long long)c);
	d = get(f, c);
	assert_int_equal(d.parent_id, b);
	assert_string_equal(d.code, "C-1_x");
	assert_true(d.active);
	assert_int_equal(d.created_at, 1000);
	assert_int_equal(d.user_count, 0);
	assert_int_equal(get(f, a).parent_id, 0);
	assert_int_equal(audit_rows(f), 3);
	assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 "
				      "AND entity = 'department' AND action = 'create'"),
			 3);
}

static void test_create_refusals(void **state)
{
	struct fixture *f = *state;
	int64_t a = mk(f, "A", 0, 0);
	struct dept_write w;
	struct err e;
	char longname[200];
	static const struct {
		const char *code, *name;
		int rc;
		const char *field;
	} bad[] = {
		{"", "x", ERR_UNPROCESSABLE, "code"},
		{"has space", "x", ERR_UNPROCESSABLE, "code"},
		{"a/b", "x", ERR_UNPROCESSABLE, "code"},
		{"abcdefghijklmnopqrstuvwxyz0123456", "x", ERR_UNPROCESSABLE, "code"}, /* 33 */
		{NULL, "x", ERR_BAD_REQUEST, "code"},
		{"ok", "", ERR_UNPROCESSABLE, "name"},
		{"ok", " \t ", ERR_UNPROCESSABLE, "name"},
		{"ok", NULL, ERR_BAD_REQUEST, "name"},
		{"ok", "\xff\xfe", ERR_UNPROCESSABLE, "name"},
		{"A", "dup", ERR_CONFLICT, "code"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		w = wr(f, f->tenant);
		w.code = bad[i].code;
		w.name = bad[i].name;
		assert_int_equal(run(f, dept_create, &w, &e), bad[i].rc);
		assert_string_equal(e.field, bad[i].field);
	}

	/* 65 characters are too many, in ASCII and in Chinese; 64 Chinese (192 bytes) fit */
	memset(longname, 'n', 65);
	longname[65] = '\0';
	w = wr(f, f->tenant);
	w.code = "long";
	w.name = longname;
	assert_int_equal(run(f, dept_create, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "name");
	longname[0] = '\0';
	for (int i = 0; i < 65; i++)
		strncat(longname, "部", sizeof longname - strlen(longname) - 1);
	w.name = longname;
	assert_int_equal(run(f, dept_create, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "name");
	longname[3 * 64] = '\0'; /* 192 bytes fit */
	w.name = longname;
	assert_int_equal(run(f, dept_create, &w, &e), 0);
	assert_string_equal(get(f, w.id).name, longname);

	/* parents: missing, in another tenant, inactive */
	w = wr(f, f->tenant);
	w.code = "child";
	w.name = "child";
	w.parent_id = 999999;
	assert_int_equal(run(f, dept_create, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");

	struct dept_write o = wr(f, f->other_tenant);
	o.code = "theirs";
	o.name = "theirs";
	assert_int_equal(run(f, dept_create, &o, &e), 0);
	w.parent_id = o.id;
	assert_int_equal(run(f, dept_create, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");

	struct dept_write off = wr(f, f->tenant);
	off.id = a;
	off.set_active = true;
	off.active = false;
	assert_int_equal(run(f, dept_update, &off, &e), 0);
	w.parent_id = a;
	assert_int_equal(run(f, dept_create, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");

	/* the same code in another tenant is fine */
	o = wr(f, f->other_tenant);
	o.code = "A";
	o.name = "A";
	assert_int_equal(run(f, dept_create, &o, &e), 0);

	/* successful writes of this tenant: A, the 42-character name, deactivating A */
	assert_int_equal(audit_rows(f), 3);
	assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM departments WHERE tenant_id = $1"), 2);
}

static void test_move_subtree(void **state)
{
	struct fixture *f = *state;
	int64_t a = mk(f, "A", 0, 0), b = mk(f, "B", a, 0), c = mk(f, "C", b, 0);
	int64_t c2 = mk(f, "C2", b, 0), d = mk(f, "D", c, 0);
	int64_t x = mk(f, "X", 0, 0), y = mk(f, "Y", x, 0);
	struct err e;
	int64_t before = audit_rows(f);
	char theirs[sizeof((struct dept *)0)->path + 8];

	/* a row of another tenant whose path shares B's prefix must not be rewritten */
	snprintf(theirs, sizeof theirs, "%s999/", get(f, b).path);
	assert_int_equal(db_execf(f->db, &e,
				  "INSERT INTO departments (tenant_id, code, name, path, created_at, "
				  "updated_at) VALUES ($1, 'T', 'T', $2, 0, 0)",
				  "it", f->other_tenant, theirs),
			 0);

	/* B (with C, C2, D below) from A to Y */
	assert_int_equal(move(f, b, y, &e), 0);
	assert_path(f, b, "/%lld/%lld/%lld/", (long long)x, (long long)y, (long long)b);
	assert_path(f, c, "/%lld/%lld/%lld/%lld/", (long long)x, (long long)y, (long long)b,
		    (long long)c);
	assert_path(f, c2, "/%lld/%lld/%lld/%lld/", (long long)x, (long long)y, (long long)b,
		    (long long)c2);
	assert_path(f, d, "/%lld/%lld/%lld/%lld/%lld/", (long long)x, (long long)y, (long long)b,
		    (long long)c, (long long)d);
	assert_int_equal(get(f, b).parent_id, y);
	assert_int_equal(get(f, c).parent_id, b); /* parents below the moved root stay */
	assert_path(f, a, "/%lld/", (long long)a);
	assert_path(f, y, "/%lld/%lld/", (long long)x, (long long)y);

	/* C to the top level */
	assert_int_equal(move(f, c, 0, &e), 0);
	assert_int_equal(get(f, c).parent_id, 0);
	assert_path(f, c, "/%lld/", (long long)c);
	assert_path(f, d, "/%lld/%lld/", (long long)c, (long long)d);
	assert_path(f, c2, "/%lld/%lld/%lld/%lld/", (long long)x, (long long)y, (long long)b,
		    (long long)c2);

	/* a "move" to the same parent changes nothing and is not audited */
	assert_int_equal(move(f, c, 0, &e), 0);
	assert_int_equal(audit_rows(f), before + 2);

	/* the audit summary names the old and new parent */
	assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 "
				      "AND action = 'update' AND summary LIKE '%\"parent_id\":[%'"),
			 2);

	/* the other tenant's row kept its path */
	struct db_stmt *st = NULL;
	assert_int_equal(db_queryf(f->db, &st, &e,
				   "SELECT path FROM departments WHERE tenant_id = $1", "i",
				   f->other_tenant),
			 0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_string_equal(db_column_text(st, 0), theirs);
	db_finalize(st);
}

static void test_move_refusals(void **state)
{
	struct fixture *f = *state;
	int64_t a = mk(f, "A", 0, 0), b = mk(f, "B", a, 0), c = mk(f, "C", b, 0);
	int64_t z = mk(f, "Z", 0, 0);
	struct err e;
	int64_t before = audit_rows(f);

	assert_int_equal(move(f, a, a, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");
	assert_int_equal(move(f, a, b, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");
	assert_int_equal(move(f, a, c, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");
	assert_int_equal(move(f, b, c, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");
	assert_int_equal(move(f, a, 424242, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");
	assert_int_equal(move(f, 424242, a, &e), ERR_NOT_FOUND);
	assert_string_equal(e.field, "id");

	/* an active department cannot go under an inactive one */
	struct dept_write off = wr(f, f->tenant);
	off.id = z;
	off.set_active = true;
	off.active = false;
	assert_int_equal(run(f, dept_update, &off, &e), 0);
	assert_int_equal(move(f, b, z, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "parent_id");

	/* nothing moved */
	assert_path(f, a, "/%lld/", (long long)a);
	assert_path(f, c, "/%lld/%lld/%lld/", (long long)a, (long long)b, (long long)c);
	assert_int_equal(audit_rows(f), before + 1);
}

static void test_update_fields_and_active(void **state)
{
	struct fixture *f = *state;
	int64_t a = mk(f, "A", 0, 0), b = mk(f, "B", a, 0), other = mk(f, "O", 0, 0);
	struct dept_write w;
	struct err e;
	struct dept d;

	w = wr(f, f->tenant);
	w.id = b;
	w.code = "B2";
	w.name = "新名称";
	w.set_sort = true;
	w.sort = 7;
	w.now = 2000;
	assert_int_equal(run(f, dept_update, &w, &e), 0);
	d = get(f, b);
	assert_string_equal(d.code, "B2");
	assert_string_equal(d.name, "新名称");
	assert_int_equal(d.sort, 7);
	assert_int_equal(d.updated_at, 2000);
	assert_int_equal(d.created_at, 1000);

	w = wr(f, f->tenant);
	w.id = b;
	w.code = "O"; /* taken */
	assert_int_equal(run(f, dept_update, &w, &e), ERR_CONFLICT);
	assert_string_equal(e.field, "code");
	w.code = "bad code";
	assert_int_equal(run(f, dept_update, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "code");
	w.code = NULL;
	w.name = "   ";
	assert_int_equal(run(f, dept_update, &w, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "name");

	/* A has an active child: cannot be deactivated */
	w = wr(f, f->tenant);
	w.id = a;
	w.set_active = true;
	w.active = false;
	assert_int_equal(run(f, dept_update, &w, &e), ERR_CONFLICT);
	assert_string_equal(e.field, "active");

	/* users do not block deactivation */
	assert_int_equal(db_execf(f->db, &e,
				  "INSERT INTO users (tenant_id, login, display_name, department_id, "
				  "password_hash, password_changed_at, created_at, updated_at) "
				  "VALUES ($1, 'u1', 'U', $2, 'x', 0, 0, 0)",
				  "ii", f->tenant, b),
			 0);
	assert_int_equal(get(f, b).user_count, 1);
	w.id = b;
	assert_int_equal(run(f, dept_update, &w, &e), 0);
	assert_false(get(f, b).active);
	w.id = a;
	assert_int_equal(run(f, dept_update, &w, &e), 0);
	assert_false(get(f, a).active);

	/* B cannot come back while A is inactive, unless it moves to an active parent */
	w = wr(f, f->tenant);
	w.id = b;
	w.set_active = true;
	w.active = true;
	assert_int_equal(run(f, dept_update, &w, &e), ERR_CONFLICT);
	assert_string_equal(e.field, "active");
	w.set_parent = true;
	w.parent_id = other;
	assert_int_equal(run(f, dept_update, &w, &e), 0);
	d = get(f, b);
	assert_true(d.active);
	assert_int_equal(d.parent_id, other);

	/* create 2 + O 1, then update, deactivate B, deactivate A, reactivate+move B */
	assert_int_equal(audit_rows(f), 7);
	assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 "
				      "AND summary LIKE '%\"code\":[\"B\",\"B2\"]%'"),
			 1);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	int64_t a = mk(f, "A", 0, 0), b = mk(f, "B", a, 0), c = mk(f, "C", 0, 0);
	struct dept_write w;
	struct err e;
	struct dept d;

	w = wr(f, f->tenant);
	w.id = a;
	assert_int_equal(run(f, dept_delete, &w, &e), ERR_CONFLICT);

	assert_int_equal(db_execf(f->db, &e,
				  "INSERT INTO users (tenant_id, login, display_name, department_id, "
				  "password_hash, password_changed_at, created_at, updated_at) "
				  "VALUES ($1, 'u1', 'U', $2, 'x', 0, 0, 0)",
				  "ii", f->tenant, c),
			 0);
	w.id = c;
	assert_int_equal(run(f, dept_delete, &w, &e), ERR_CONFLICT);

	/* another tenant cannot delete ours */
	w = wr(f, f->other_tenant);
	w.id = b;
	assert_int_equal(run(f, dept_delete, &w, &e), ERR_NOT_FOUND);

	w = wr(f, f->tenant);
	w.id = b;
	assert_int_equal(run(f, dept_delete, &w, &e), 0);
	assert_int_equal(dept_get(f->db, f->tenant, b, &d, &e), ERR_NOT_FOUND);
	assert_string_equal(e.field, "id");
	w.id = a;
	assert_int_equal(run(f, dept_delete, &w, &e), 0);
	assert_int_equal(run(f, dept_delete, &w, &e), ERR_NOT_FOUND);

	assert_int_equal(audit_rows(f), 5);
	assert_int_equal(count_sql(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 "
				      "AND action = 'delete'"),
			 2);
}

struct collected {
	int64_t ids[64];
	int n;
	int stop_after;
};

static int collect(const struct dept *d, void *arg)
{
	struct collected *c = arg;
	c->ids[c->n++] = d->id;
	return c->n == c->stop_after ? 42 : 0;
}

static void test_list_tree_order(void **state)
{
	struct fixture *f = *state;
	int64_t pad[12];
	struct collected got = {0};
	struct err e;
	struct dept d;

	/* ids 1..12 at the top, so '/10/' sorts before '/2/' as text */
	for (int i = 0; i < 12; i++) {
		char code[16];
		snprintf(code, sizeof code, "p%d", i);
		pad[i] = mk(f, code, 0, 100 + i);
	}
	int64_t r = mk(f, "R", 0, 1);                   /* top, first by sort */
	int64_t r_b = mk(f, "R-b", r, 2);
	int64_t r_a = mk(f, "R-a", r, 1);
	int64_t r_b_x = mk(f, "R-b-x", r_b, 0);
	int64_t p2_k = mk(f, "p2-k", pad[2], 0);
	int64_t p10_k = mk(f, "p10-k", pad[10], 0);
	int64_t elsewhere = mk(f, "elsewhere", 0, 0);
	struct dept_write o = wr(f, f->other_tenant);
	o.code = "x";
	o.name = "x";
	assert_int_equal(run(f, dept_create, &o, &e), 0);

	assert_int_equal(dept_list(f->db, f->tenant, collect, &got, &e), 0);
	assert_int_equal(got.n, 12 + 7);
	/* first "elsewhere" (sort 0), then R (sort 1) and its subtree, siblings by sort */
	int64_t want_head[] = {elsewhere, r, r_a, r_b, r_b_x};
	for (int i = 0; i < 5; i++)
		assert_int_equal(got.ids[i], want_head[i]);
	/* then p0..p11 by sort, each followed by its child */
	int k = 5;
	for (int i = 0; i < 12; i++) {
		assert_int_equal(got.ids[k++], pad[i]);
		if (i == 2)
			assert_int_equal(got.ids[k++], p2_k);
		if (i == 10)
			assert_int_equal(got.ids[k++], p10_k);
	}
	assert_int_equal(k, got.n);
	d = get(f, r);
	assert_int_equal(d.sort, 1);
	assert_int_equal(get(f, r_b).user_count, 0);

	/* each() returning non-zero stops the walk and is returned */
	struct collected some = {.stop_after = 3};
	assert_int_equal(dept_list(f->db, f->tenant, collect, &some, &e), 42);
	assert_int_equal(some.n, 3);

	/* the other tenant sees only its own */
	struct collected theirs = {0};
	assert_int_equal(dept_list(f->db, f->other_tenant, collect, &theirs, &e), 0);
	assert_int_equal(theirs.n, 1);
	assert_int_equal(theirs.ids[0], o.id);
	assert_int_equal(dept_get(f->db, f->other_tenant, r, &d, &e), ERR_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_fields_and_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_tree_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
