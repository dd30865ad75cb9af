/*
 * test_db.c — the storage layer: SQLite backend, statement cache, error
 * mapping, migrations, the group-committing pool and online backup.
 *
 * Every test works on its own files in a fresh directory under /tmp that the
 * group teardown removes. alarm() turns a deadlock into a failure, not a hang.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/migrate.h"

#include "base/banned.h"

static char tmpdir[64];

static void tpath(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/yq-test-db-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char p[sizeof tmpdir + sizeof de->d_name + 1];

	(void)state;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		tpath(p, sizeof p, de->d_name);
		unlink(p);
	}
	closedir(d);
	return rmdir(tmpdir);
}

/* Open (creating) a connection on tmpdir/name. */
static struct db *open_db(const char *name, int flags)
{
	char p[256];
	struct err e;
	struct db *db = NULL;

	tpath(p, sizeof p, name);
	err_clear(&e);
	if (db_open(p, flags, &db, &e) != 0)
		fail_msg("open '%s': %s", p, e.message);
	return db;
}

static void exec_ok(struct db *db, const char *sql)
{
	struct err e;

	err_clear(&e);
	if (db_exec(db, sql, &e) != 0)
		fail_msg("exec '%s': %s", sql, e.message);
}

static int64_t query_i64(struct db *db, const char *sql)
{
	struct err e;
	int64_t v = -1;

	err_clear(&e);
	if (db_query_i64(db, &v, &e, sql, NULL) != 0)
		fail_msg("query '%s': %s", sql, e.message);
	return v;
}

/* First column of the first row as text, copied into out. */
static void query_text(struct db *db, const char *sql, char *out, size_t n)
{
	struct db_stmt *st = NULL;
	struct err e;

	err_clear(&e);
	assert_int_equal(db_prepare(db, sql, &st, &e), 0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	snprintf(out, n, "%s", db_column_text(st, 0));
	db_finalize(st);
}

/* ---- backend basics ---- */

static void test_open_and_columns(void **state)
{
	struct db *db = NULL, *ro = NULL;
	struct db_stmt *st = NULL;
	struct err e;
	char p[256], url[300], txt[32];
	size_t len = 99;
	const unsigned char blob[4] = {0, 1, 0xfe, 0xff};
	const void *bp;

	(void)state;
	err_clear(&e);
	tpath(p, sizeof p, "basic.db");
	assert_int_equal(db_open(p, 0, &db, &e), ERR_UNAVAILABLE); /* no CREATE, no file */
	assert_null(db);
	assert_non_null(strstr(e.message, "basic.db"));
	assert_true(e.message_zh[0] != '\0');

	assert_int_equal(db_open("postgres://u@h/db", 0, &db, &e), ERR_UNAVAILABLE);
	assert_int_equal(db_open("host=localhost dbname=x", 0, &db, &e), ERR_UNAVAILABLE);
	assert_non_null(strstr(e.message, "postgresql"));
	assert_null(db);

	snprintf(url, sizeof url, "sqlite:%s", p);
	assert_int_equal(db_open(url, DB_OPEN_CREATE, &db, &e), 0);
	assert_string_equal(db_backend_name(db), "sqlite");
	query_text(db, "PRAGMA journal_mode", txt, sizeof txt);
	assert_string_equal(txt, "wal");
	assert_int_equal(query_i64(db, "PRAGMA synchronous"), 2);
	assert_int_equal(query_i64(db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_i64(db, "PRAGMA busy_timeout"), 5000);

	exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB,"
		    " n INTEGER)");
	assert_int_equal(db_prepare(db, "INSERT INTO t (name, score, data, n) VALUES ($1, $2, $3, $4)"
					" RETURNING id",
				    &st, &e),
			 0);
	assert_int_equal(db_bind_text(st, 1, "héllo"), 0);
	assert_int_equal(db_bind_double(st, 2, 2.5), 0);
	assert_int_equal(db_bind_blob(st, 3, blob, sizeof blob), 0);
	assert_int_equal(db_bind_int64(st, 4, INT64_C(9007199254740993)), 0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), 1);
	assert_int_equal(db_step(st, &e), DB_DONE);
	db_finalize(st);
	assert_int_equal(db_changes(db), 1);

	assert_int_equal(db_execf(db, &e, "INSERT INTO t (name, score, data, n) VALUES ($1, $2, $3, $4)",
				  "tdtn", (const char *)NULL, 0.0, "x"),
			 0);

	assert_int_equal(db_prepare(db, "SELECT id, name, score, data, n FROM t ORDER BY id", &st, &e), 0);
	assert_int_equal(db_column_count(st), 5);
	assert_string_equal(db_column_name(st, 1), "name");
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_string_equal(db_column_textn(st, 1, &len), "héllo");
	assert_int_equal(len, strlen("héllo"));
	assert_true(db_column_double(st, 2) == 2.5);
	bp = db_column_blob(st, 3, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(bp, blob, 4);
	assert_int_equal(db_column_int64(st, 4), INT64_C(9007199254740993));
	assert_false(db_column_is_null(st, 1));
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_true(db_column_is_null(st, 1));
	assert_string_equal(db_column_textn(st, 1, &len), "");
	assert_int_equal(len, 0);
	assert_true(db_column_is_null(st, 4));
	assert_string_equal(db_column_text(st, 3), "x");
	assert_int_equal(db_step(st, &e), DB_DONE);
	db_finalize(st);
	db_finalize(NULL);
	db_close(db);
	db_close(NULL);

	/* a cleanly closed WAL database opens read-only and refuses writes */
	assert_int_equal(db_open(p, DB_OPEN_READONLY, &ro, &e), 0);
	assert_int_equal(query_i64(ro, "SELECT count(*) FROM t"), 2);
	assert_int_equal(db_execf(ro, &e, "DELETE FROM t", NULL), ERR_INTERNAL);
	assert_true(e.message[0] != '\0');
	db_close(ro);
}

/* First column of every row of sql (with one int parameter) into out; the row count. */
static int ids_of(struct db *db, const char *sql, int64_t arg, int64_t *out, int max)
{
	struct db_stmt *st = NULL;
	struct err e;
	int n = 0, rc;

	err_clear(&e);
	if (db_prepare(db, sql, &st, &e) != 0)
		fail_msg("prepare '%s': %s", sql, e.message);
	assert_int_equal(db_bind_int64(st, 1, arg), 0);
	while ((rc = db_step(st, &e)) == DB_ROW) {
		assert_true(n < max);
		assert_int_equal(db_column_count(st), 1);
		assert_string_equal(db_column_name(st, 0), "id");
		assert_false(db_column_is_null(st, 0));
		out[n++] = db_column_int64(st, 0);
	}
	if (rc != DB_DONE)
		fail_msg("step '%s': %s", sql, e.message);
	db_finalize(st);
	return n;
}

/*
 * "INSERT ... VALUES (one row) RETURNING id" runs without the clause and
 * answers with the rowid; every other RETURNING keeps SQLite's meaning.
 */
static void test_returning_id(void **state)
{
	struct db *db = open_db("returning.db", DB_OPEN_CREATE);
	int64_t ids[8];
	char txt[32];

	(void)state;
	exec_ok(db, "CREATE TABLE r (id INTEGER PRIMARY KEY, k INTEGER UNIQUE, v TEXT)");
	exec_ok(db, "CREATE TABLE s (id TEXT PRIMARY KEY, k INTEGER)");
	exec_ok(db, "CREATE TABLE skip (id INTEGER PRIMARY KEY, k INTEGER)");
	exec_ok(db, "CREATE TRIGGER skip_neg BEFORE INSERT ON skip WHEN NEW.k < 0 "
		    "BEGIN SELECT RAISE(IGNORE); END");
	exec_ok(db, "INSERT INTO r (id, k, v) VALUES (41, 0, 'x')");

	/* the cut form: the same id as RETURNING, each time the statement runs */
	for (int64_t k = 1; k <= 3; k++) {
		assert_int_equal(ids_of(db, "insert into r (k, v) values ($1, 'a''b)(') returning id;",
					k, ids, 8),
				 1);
		assert_int_equal(ids[0], 41 + k);
	}
	/* its text reads as the number */
	{
		struct db_stmt *st = NULL;
		struct err e;
		err_clear(&e);
		assert_int_equal(db_prepare(db, "INSERT INTO r (k) VALUES ($1) RETURNING id", &st, &e), 0);
		assert_int_equal(db_bind_int64(st, 1, 9), 0);
		assert_int_equal(db_step(st, &e), DB_ROW);
		snprintf(txt, sizeof txt, "%s", db_column_text(st, 0));
		assert_string_equal(txt, "45");
		assert_true(db_column_double(st, 0) == 45.0);
		db_finalize(st);
	}
	/* an error is an error, and leaves no row */
	{
		struct err e;
		err_clear(&e);
		struct db_stmt *st = NULL;
		assert_int_equal(db_prepare(db, "INSERT INTO r (k) VALUES ($1) RETURNING id", &st, &e), 0);
		assert_int_equal(db_bind_int64(st, 1, 1), 0);
		assert_int_equal(db_step(st, &e), ERR_CONFLICT);
		db_finalize(st);
	}
	/* a trigger's RAISE(IGNORE) inserts nothing: no row, as with RETURNING */
	assert_int_equal(ids_of(db, "INSERT INTO skip (k) VALUES ($1) RETURNING id", -1, ids, 8), 0);
	assert_int_equal(ids_of(db, "INSERT INTO skip (k) VALUES ($1) RETURNING id", 1, ids, 8), 1);
	assert_int_equal(ids[0], 1);
	/* several rows, an upsert, a text key, other columns: SQLite's own RETURNING */
	assert_int_equal(ids_of(db, "INSERT INTO r (k) VALUES ($1 + 100), ($1 + 101) RETURNING id", 0,
				ids, 8),
			 2);
	assert_int_equal(ids[0], 46);
	assert_int_equal(ids[1], 47);
	assert_int_equal(ids_of(db, "INSERT INTO r (k, v) VALUES ($1, 'u') ON CONFLICT (k) DO UPDATE "
				    "SET v = 'u' RETURNING id",
				1, ids, 8),
			 1);
	assert_int_equal(ids[0], 42); /* the updated row: last_insert_rowid would be wrong */
	assert_int_equal(ids_of(db, "INSERT INTO s (id, k) VALUES ('t' || $1, 1) RETURNING id", 7, ids,
				8),
			 1);
	assert_int_equal(ids_of(db, "INSERT INTO r (k) SELECT $1 + 200 RETURNING id", 0, ids, 8), 1);
	assert_int_equal(ids[0], 48);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM r"), 8);
	db_close(db);
}

static void test_params(void **state)
{
	struct db *db = open_db("params.db", DB_OPEN_CREATE);
	struct db_stmt *st = NULL;
	struct err e;
	int64_t v = 0;

	(void)state;
	err_clear(&e);
	/* out of order, reused, inside a literal, a quoted name, comments */
	assert_int_equal(db_prepare(db,
				    "SELECT $2, $1, $2 || '$1' || 'it''s $2', \"$1x\", $1 /* $3 */ -- $4\n"
				    "FROM (SELECT 'q' AS \"$1x\")",
				    &st, &e),
			 0);
	assert_int_equal(db_bind_text(st, 1, "one"), 0);
	assert_int_equal(db_bind_text(st, 2, "two"), 0);
	assert_int_equal(db_bind_int64(st, 3, 3), ERR_INTERNAL); /* no ?3 in the statement */
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_int_equal(db_column_count(st), 5);
	assert_string_equal(db_column_text(st, 0), "two");
	assert_string_equal(db_column_text(st, 1), "one");
	assert_string_equal(db_column_text(st, 2), "two$1it's $2");
	assert_string_equal(db_column_text(st, 3), "q");
	assert_string_equal(db_column_text(st, 4), "one");
	db_finalize(st);

	/* $ inside an identifier is not a parameter; two-digit numbers are */
	assert_int_equal(db_prepare(db, "SELECT 7 AS a$1, $10 - $1", &st, &e), 0);
	assert_string_equal(db_column_name(st, 0), "a$1");
	assert_int_equal(db_bind_int64(st, 1, 1), 0);
	assert_int_equal(db_bind_int64(st, 10, 100), 0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_int_equal(db_column_int64(st, 1), 99);
	db_finalize(st);

	/* type letters */
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT $1 + $1 * $2", "ii", INT64_C(2), INT64_C(20)),
			 0);
	assert_int_equal(v, 42);
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT CAST($1 * 4 AS INTEGER)", "d", 2.5), 0);
	assert_int_equal(v, 10);
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT length($1)", "t", "abc"), 0);
	assert_int_equal(v, 3);
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT $1 IS NULL AND $2 IS NULL AND $3 = 5", "tni",
				      (const char *)NULL, INT64_C(5)),
			 0);
	assert_int_equal(v, 1);
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT $1 IS NULL AND $2 = 7", "II", INT64_C(0),
				      INT64_C(7)),
			 0);
	assert_int_equal(v, 1);
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT $1", "x", 1), ERR_INTERNAL);
	assert_non_null(strstr(e.message, "'x'"));
	assert_int_equal(db_query_i64(db, &v, &e, "SELECT 1 WHERE 0", NULL), ERR_NOT_FOUND);
	assert_int_equal(e.code, ERR_NOT_FOUND);
	assert_int_equal(db_queryf(db, &st, &e, "SELECT $1 || $2", "tt", "a", "b"), 0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	assert_string_equal(db_column_text(st, 0), "ab");
	db_finalize(st);

	/* one statement per prepare; trailing semicolons and comments are fine */
	assert_int_equal(db_prepare(db, "SELECT 1; SELECT 2", &st, &e), ERR_INTERNAL);
	assert_null(st);
	assert_int_equal(db_prepare(db, "SELECT 1 ; -- done\n /* c */", &st, &e), 0);
	db_finalize(st);
	assert_int_equal(db_prepare(db, "SELEKT 1", &st, &e), ERR_INTERNAL);
	assert_non_null(strstr(e.message, "syntax error"));
	assert_true(e.message_zh[0] != '\0');
	db_close(db);
}

static void test_stmt_cache(void **state)
{
	struct db *db = open_db("cache.db", DB_OPEN_CREATE);
	struct db_stmt *a = NULL, *b = NULL, *held = NULL;
	const char *loop = "SELECT v FROM nums WHERE v > $1 ORDER BY v";
	struct err e;
	char sql[64];
	int outer = 0, inner = 0;

	(void)state;
	err_clear(&e);
	exec_ok(db, "CREATE TABLE nums (v INTEGER); INSERT INTO nums VALUES (1), (2), (3), (4)");

	/* finalized mid-result: the cached statement comes back reset and unbound */
	assert_int_equal(db_prepare(db, "SELECT $1, v FROM nums ORDER BY v", &a, &e), 0);
	assert_int_equal(db_bind_int64(a, 1, 5), 0);
	assert_int_equal(db_step(a, &e), DB_ROW);
	assert_int_equal(db_column_int64(a, 0), 5);
	db_finalize(a);
	assert_int_equal(db_prepare(db, "SELECT $1, v FROM nums ORDER BY v", &b, &e), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(db_step(b, &e), DB_ROW);
	assert_true(db_column_is_null(b, 0));
	assert_int_equal(db_column_int64(b, 1), 1);
	db_reset(b);
	assert_int_equal(db_step(b, &e), DB_ROW);
	assert_int_equal(db_column_int64(b, 1), 1);
	db_finalize(b);

	/* nested use of the same SQL gets its own statement */
	assert_int_equal(db_prepare(db, loop, &a, &e), 0);
	assert_int_equal(db_bind_int64(a, 1, 0), 0);
	while (db_step(a, &e) == DB_ROW) {
		outer++;
		assert_int_equal(db_prepare(db, loop, &b, &e), 0);
		assert_ptr_not_equal(a, b);
		assert_int_equal(db_bind_int64(b, 1, db_column_int64(a, 0)), 0);
		while (db_step(b, &e) == DB_ROW)
			inner++;
		db_finalize(b);
	}
	db_finalize(a);
	assert_int_equal(outer, 4);
	assert_int_equal(inner, 3 + 2 + 1 + 0);
	assert_int_equal(db_prepare(db, loop, &b, &e), 0);
	assert_ptr_equal(a, b); /* the cached one is back */
	db_finalize(b);

	/* far more distinct statements than the cache holds; one held throughout */
	assert_int_equal(db_prepare(db, "SELECT count(*) FROM nums", &held, &e), 0);
	for (int i = 0; i < 400; i++) {
		snprintf(sql, sizeof sql, "SELECT %d + $1", i);
		assert_int_equal(db_prepare(db, sql, &a, &e), 0);
		assert_int_equal(db_bind_int64(a, 1, 1), 0);
		assert_int_equal(db_step(a, &e), DB_ROW);
		assert_int_equal(db_column_int64(a, 0), i + 1);
		db_finalize(a);
	}
	assert_int_equal(db_step(held, &e), DB_ROW);
	assert_int_equal(db_column_int64(held, 0), 4);
	db_finalize(held);
	assert_int_equal(db_prepare(db, "SELECT 0 + $1", &a, &e), 0);
	assert_int_equal(db_step(a, &e), DB_ROW);
	db_finalize(a);
	db_close(db);
}

/* The cache finds constant SQL by its address: a buffer whose text changed is not mistaken
 * for what it held before. */
static void test_stmt_cache_by_address(void **state)
{
	struct db *db = open_db("addr.db", DB_OPEN_CREATE);
	char sql[64];
	(void)state;
	for (int i = 0; i < 50; i++) {
		snprintf(sql, sizeof sql, "SELECT %d", i % 7);
		assert_int_equal(query_i64(db, sql), i % 7);
	}
	db_close(db);
}

/* Multi-row inserts: full statements, the rest kept (texts too) until written at last. */
static void test_bulk(void **state)
{
	struct db *db = open_db("bulk.db", DB_OPEN_CREATE);
	struct db_bulk b;
	struct err e;
	char t[32];
	(void)state;
	err_clear(&e);
	exec_ok(db, "CREATE TABLE r (id INTEGER PRIMARY KEY, n INTEGER, x REAL, s TEXT)");
	db_bulk_init(&b, db, "r (id, n, x, s)", 4, 10);
	for (int i = 1; i <= 95; i++) {
		db_bulk_int(&b, i);
		if (i % 5)
			db_bulk_int(&b, i * 2);
		else
			db_bulk_null(&b);
		db_bulk_double(&b, i / 4.0);
		snprintf(t, sizeof t, "row %d 行", i);
		db_bulk_text(&b, i % 9 ? t : NULL);
		assert_int_equal(db_bulk_row(&b, &e), 0);
		if (i % 23 == 0) /* now and then: full statements only */
			assert_int_equal(db_bulk_write(&b, false, &e), 0);
	}
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM r"), 90 - 90 % 10 - 10 * 0);
	assert_int_equal(db_bulk_pending(&b), 95 - query_i64(db, "SELECT COUNT(*) FROM r"));
	assert_int_equal(db_bulk_write(&b, true, &e), 0);
	assert_int_equal(db_bulk_pending(&b), 0);
	assert_int_equal(b.written, 95);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM r"), 95);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM r WHERE n IS NULL"), 19);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM r WHERE s IS NULL"), 10);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM r WHERE s = 'row ' || id || ' 行'"), 85);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM r WHERE x * 4 = id"), 95);
	/* a row with the wrong number of values is refused, and the next one is fine */
	db_bulk_int(&b, 500);
	assert_int_equal(db_bulk_row(&b, &e), ERR_INTERNAL);
	for (int k = 0; k < 5; k++)
		db_bulk_int(&b, 501);
	assert_int_equal(db_bulk_row(&b, &e), ERR_INTERNAL);
	db_bulk_int(&b, 502);
	db_bulk_int(&b, 1);
	db_bulk_double(&b, 1);
	db_bulk_text(&b, "x");
	assert_int_equal(db_bulk_row(&b, &e), 0);
	/* a failing statement fails the write and drops what was buffered */
	db_bulk_int(&b, 502);
	db_bulk_int(&b, 1);
	db_bulk_double(&b, 1);
	db_bulk_text(&b, "dup");
	assert_int_equal(db_bulk_row(&b, &e), 0);
	err_clear(&e);
	assert_int_equal(db_bulk_write(&b, true, &e), ERR_CONFLICT);
	assert_int_equal(db_bulk_pending(&b), 0);
	db_bulk_release(&b);
	db_close(db);
}

/* Indexes set aside and built again, constraints untouched. */
static void test_indexes_aside(void **state)
{
	struct db *db = open_db("idx.db", DB_OPEN_CREATE);
	struct db_index_set set = {0};
	struct err e;
	(void)state;
	err_clear(&e);
	exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, UNIQUE (b));"
		    "CREATE INDEX t_a ON t (a); CREATE INDEX t_ab ON t (a, b DESC);"
		    "CREATE TABLE u (x INTEGER); CREATE INDEX u_x ON u (x)");
	assert_int_equal(db_indexes_drop(db, "t", &set, &e), 0);
	assert_int_equal(set.n, 2);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
				       "AND tbl_name = 't'"),
			 1); /* the UNIQUE constraint's */
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'u_x'"), 1);
	exec_ok(db, "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')");
	assert_int_equal(db_indexes_restore(db, &set, &e), 0);
	assert_int_equal(set.n, 0);
	assert_int_equal(query_i64(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
				       "AND tbl_name = 't'"),
			 3);
	char sql[128];
	query_text(db, "SELECT sql FROM sqlite_master WHERE name = 't_ab'", sql, sizeof sql);
	assert_string_equal(sql, "CREATE INDEX t_ab ON t (a, b DESC)");
	db_close(db);
}

static void test_errors(void **state)
{
	struct db *db = open_db("errors.db", DB_OPEN_CREATE);
	struct db *other = open_db("errors.db", 0);
	const char *ins = "INSERT INTO users (id, tenant_id, login, age, dept) VALUES ($1, $2, $3, $4, $5)";
	struct err e;

	(void)state;
	err_clear(&e);
	exec_ok(db, "CREATE TABLE depts (id INTEGER PRIMARY KEY);"
		    "CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,"
		    " login TEXT NOT NULL, age INTEGER CHECK (age >= 0),"
		    " dept INTEGER REFERENCES depts(id), UNIQUE (tenant_id, login));"
		    "INSERT INTO depts VALUES (1)");
	assert_int_equal(db_execf(db, &e, ins, "iitii", INT64_C(1), INT64_C(1), "ann", INT64_C(30),
				  INT64_C(1)),
			 0);

	assert_int_equal(db_execf(db, &e, ins, "iitnn", INT64_C(2), INT64_C(1), "ann"), ERR_CONFLICT);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_string_equal(e.field, "login");
	assert_non_null(strstr(e.message, "login"));
	assert_non_null(strstr(e.message_zh, "login"));

	assert_int_equal(db_execf(db, &e, ins, "iitnn", INT64_C(1), INT64_C(2), "bob"), ERR_CONFLICT);
	assert_string_equal(e.field, "id");

	err_clear(&e);
	assert_int_equal(db_execf(db, &e, ins, "iinnn", INT64_C(3), INT64_C(1)), ERR_UNPROCESSABLE);
	assert_int_equal(e.code, ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "login");

	assert_int_equal(db_execf(db, &e, ins, "iitin", INT64_C(3), INT64_C(1), "cy", INT64_C(-1)),
			 ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "CHECK"));

	assert_int_equal(db_execf(db, &e, ins, "iitni", INT64_C(3), INT64_C(1), "cy", INT64_C(99)),
			 ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "referenced"));

	/* the statement that failed is cached and works again */
	assert_int_equal(db_execf(db, &e, ins, "iitnn", INT64_C(3), INT64_C(1), "cy"), 0);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM users"), 2);

	/* a write lock held elsewhere: busy, not internal */
	exec_ok(other, "PRAGMA busy_timeout = 0");
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_begin(other, true, &e), ERR_UNAVAILABLE);
	assert_int_equal(e.code, ERR_UNAVAILABLE);
	assert_int_equal(db_begin(other, false, &e), 0); /* deferred: reading is fine */
	assert_int_equal(query_i64(other, "SELECT count(*) FROM users"), 2);
	assert_int_equal(db_rollback(other), 0);
	assert_int_equal(db_execf(db, &e, "DELETE FROM users", NULL), 0);
	assert_int_equal(db_rollback(db), 0);
	assert_int_equal(db_rollback(db), 0); /* none open: no-op */
	assert_int_equal(query_i64(db, "SELECT count(*) FROM users"), 2);
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_execf(db, &e, "DELETE FROM users WHERE id = 3", NULL), 0);
	assert_int_equal(db_commit(db, &e), 0);
	assert_int_equal(query_i64(other, "SELECT count(*) FROM users"), 1);
	db_close(other);
	db_close(db);
}

static void test_check_and_backup_basics(void **state)
{
	struct db *db = open_db("check.db", DB_OPEN_CREATE);
	struct err e;
	char dest[256];
	bool ok = false;

	(void)state;
	err_clear(&e);
	exec_ok(db, "CREATE TABLE p (id INTEGER PRIMARY KEY);"
		    "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id));"
		    "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1)");
	assert_int_equal(db_check(db, &ok, &e), 0);
	assert_true(ok);

	tpath(dest, sizeof dest, "check-copy.db");
	assert_int_equal(db_backup(db, dest, &e), 0);
	assert_int_equal(db_backup(db, dest, &e), ERR_CONFLICT);
	assert_non_null(strstr(e.message, "exists"));
	assert_int_equal(db_begin(db, false, &e), 0);
	tpath(dest, sizeof dest, "check-copy2.db");
	assert_int_equal(db_backup(db, dest, &e), ERR_INTERNAL); /* inside a transaction */
	assert_int_equal(access(dest, F_OK), -1);
	assert_int_equal(db_rollback(db), 0);

	exec_ok(db, "PRAGMA foreign_keys = OFF; INSERT INTO c VALUES (2, 42)");
	err_clear(&e);
	assert_int_equal(db_check(db, &ok, &e), 0);
	assert_false(ok);
	assert_non_null(strstr(e.message, "foreign key"));
	assert_non_null(strstr(e.message, "'c'"));
	db_close(db);
}

/* ---- migrations ---- */

static void test_migrate_list(void **state)
{
	static const struct migration v2[] = {
		{1, "one",
		 "-- first: @NOT_A_WORD@ in a comment stays\n"
		 "CREATE TABLE a (id @ID_PK@, data @BLOB@, note TEXT DEFAULT '@NOT_A_WORD@');\n"
		 "CREATE INDEX a_note ON a (note);"},
		{2, "two", "CREATE TABLE b (id @ID_PK@, x TEXT);"},
		{0, NULL, NULL},
	};
	static const struct migration unknown[] = {
		{1, "one", "unused"},
		{2, "two", "unused"},
		{3, "three", "CREATE TABLE c (x @NOPE@);"},
		{0, NULL, NULL},
	};
	static const struct migration failing[] = {
		{1, "one", "unused"},
		{2, "two", "unused"},
		{3, "bad", "CREATE TABLE d (x INTEGER); INSERT INTO nosuch VALUES (1);"},
		{0, NULL, NULL},
	};
	/* the version row cannot be written: the migration's own work must vanish too */
	static const struct migration no_bump[] = {
		{1, "one", "unused"},
		{2, "two", "unused"},
		{3, "sneaky", "CREATE TABLE e (x INTEGER);"
			      "INSERT INTO schema_version (version, name, applied_at) VALUES (3, 'x', 0);"},
		{0, NULL, NULL},
	};
	static const struct migration unordered[] = {
		{2, "two", "SELECT 1"},
		{1, "one", "SELECT 1"},
		{0, NULL, NULL},
	};
	static const struct migration v3[] = {
		{1, "one", "unused"},
		{2, "two", "unused"},
		{3, "three", "ALTER TABLE b ADD COLUMN y @BLOB@;"},
		{0, NULL, NULL},
	};
	struct db *db = open_db("migrate.db", DB_OPEN_CREATE);
	struct err e;
	int applied = -1, version = -1;
	char txt[64];

	(void)state;
	err_clear(&e);
	assert_int_equal(migrate_version(db, &version, &e), 0);
	assert_int_equal(version, 0);

	assert_int_equal(migrate_apply(db, v2, &applied, &e), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(migrate_version(db, &version, &e), 0);
	assert_int_equal(version, 2);
	assert_int_equal(migrate_apply(db, v2, &applied, &e), 0);
	assert_int_equal(applied, 0);

	/* @ID_PK@ auto-assigns, the literal was left alone */
	assert_int_equal(db_execf(db, &e, "INSERT INTO a (data) VALUES ($1)", "t", "z"), 0);
	assert_int_equal(query_i64(db, "SELECT id FROM a"), 1);
	query_text(db, "SELECT note FROM a", txt, sizeof txt);
	assert_string_equal(txt, "@NOT_A_WORD@");
	query_text(db, "SELECT name FROM schema_version WHERE version = 2", txt, sizeof txt);
	assert_string_equal(txt, "two");
	assert_true(query_i64(db, "SELECT min(applied_at) FROM schema_version") > INT64_C(1600000000000));

	assert_int_equal(migrate_apply(db, unknown, &applied, &e), ERR_INTERNAL);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(e.message, "@NOPE@"));
	assert_non_null(strstr(e.message_zh, "@NOPE@"));

	err_clear(&e);
	assert_int_equal(migrate_apply(db, failing, &applied, &e), ERR_INTERNAL);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(e.message, "migration 3 (bad)"));
	assert_non_null(strstr(e.message, "nosuch"));
	assert_null(strstr(e.message_zh, "migration 3"));
	assert_int_equal(query_i64(db, "SELECT count(*) FROM sqlite_master WHERE name = 'd'"), 0);
	assert_int_equal(migrate_version(db, &version, &e), 0);
	assert_int_equal(version, 2);

	assert_int_equal(migrate_apply(db, no_bump, &applied, &e), ERR_CONFLICT);
	assert_int_equal(applied, 0);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM sqlite_master WHERE name = 'e'"), 0);
	assert_int_equal(query_i64(db, "SELECT max(version) FROM schema_version"), 2);

	assert_int_equal(migrate_apply(db, unordered, &applied, &e), ERR_INTERNAL);

	assert_int_equal(migrate_apply(db, v3, &applied, &e), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(migrate_version(db, &version, &e), 0);
	assert_int_equal(version, 3);
	db_close(db);
}

/*
 * An INSERT into any table builds no ephemeral table: SQLite evaluates a
 * CHECK (x IN (three or more values)) or a partial index's IN list through
 * one, on every row (migration 022).
 */
static void check_no_ephemeral_inserts(struct db *db)
{
	struct db_stmt *tables = NULL, *st = NULL;
	struct err e;
	int checked = 0;

	err_clear(&e);
	assert_int_equal(db_prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND "
					"sql LIKE 'CREATE TABLE %' ORDER BY name",
				    &tables, &e),
			 0);
	while (db_step(tables, &e) == DB_ROW) {
		char name[128], sql[200];
		snprintf(name, sizeof name, "%s", db_column_text(tables, 0));
		snprintf(sql, sizeof sql, "EXPLAIN INSERT INTO \"%s\" DEFAULT VALUES", name);
		if (db_prepare(db, sql, &st, &e) != 0)
			fail_msg("%s: %s", sql, e.message);
		int ephemeral = 0, rc;
		while ((rc = db_step(st, &e)) == DB_ROW)
			if (strcmp(db_column_text(st, 1), "OpenEphemeral") == 0)
				ephemeral++;
		assert_int_equal(rc, DB_DONE);
		db_finalize(st);
		int expect = 0;
		if (ephemeral != expect)
			fail_msg("INSERT INTO %s opens %d ephemeral table(s), expected %d", name,
				 ephemeral, expect);
		checked++;
	}
	db_finalize(tables);
	assert_true(checked > 30);
}

static void test_migrate_embedded(void **state)
{
	struct db *db = open_db("embedded.db", DB_OPEN_CREATE);
	struct err e;
	int applied = -1, version = -1, count = 0;
	bool ok = false;

	(void)state;
	err_clear(&e);
	for (const struct migration *m = migrations; m->version; m++)
		count++;
	if (migrate_up(db, &applied, &e) != 0)
		fail_msg("migrate_up: %s", e.message);
	assert_int_equal(applied, count);
	assert_int_equal(migrate_version(db, &version, &e), 0);
	assert_int_equal(version, migrate_latest());
	assert_int_equal(migrate_up(db, &applied, &e), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(db_check(db, &ok, &e), 0);
	assert_true(ok);
	db_close(db);
	/* a fresh connection reads the schema as migration 022 left it */
	db = open_db("embedded.db", 0);
	assert_int_equal(db_check(db, &ok, &e), 0);
	assert_true(ok);
	check_no_ephemeral_inserts(db);
	db_close(db);
}

/* ---- pool ---- */

static struct db_pool *open_pool(const char *name, const char *schema,
				 const struct db_pool_opts *opts)
{
	char p[256];
	struct db_pool *pool = NULL;
	struct db *db = open_db(name, DB_OPEN_CREATE);
	struct err e;

	exec_ok(db, schema);
	db_close(db);
	tpath(p, sizeof p, name);
	err_clear(&e);
	if (db_pool_open(p, opts, &pool, &e) != 0)
		fail_msg("pool open: %s", e.message);
	assert_string_equal(db_pool_url(pool), p);
	return pool;
}

struct row_job {
	int64_t t, i;
	bool fail; /* insert, then fail */
};

static int insert_row(struct db *db, void *arg, struct err *e)
{
	struct row_job *j = arg;
	int rc;

	rc = db_execf(db, e, "INSERT INTO w (t, i) VALUES ($1, $2)", "ii", j->t, j->i);
	if (rc != 0 || !j->fail)
		return rc;
	rc = db_execf(db, e, "INSERT INTO w (t, i) VALUES ($1, $2)", "ii", j->t, j->i + 100000);
	if (rc != 0)
		return rc;
	return err_set(e, ERR_UNPROCESSABLE, "amount", "金额无效", "invalid amount");
}

struct writer_arg {
	struct db_pool *pool;
	int t;
	int n;
	int fail_every;  /* job i fails if i % fail_every == 7; 0 never */
	int failures;    /* jobs that returned an unexpected result */
};

static void *writer_thread(void *v)
{
	struct writer_arg *a = v;

	for (int i = 0; i < a->n; i++) {
		struct row_job j = {a->t, i, a->fail_every && i % a->fail_every == 7};
		struct err e;
		int rc = db_pool_write(a->pool, insert_row, &j, &e);
		if (j.fail ? rc != ERR_UNPROCESSABLE || strcmp(e.field, "amount") != 0 ||
				     strcmp(e.message, "invalid amount") != 0
			   : rc != 0)
			a->failures++;
	}
	return NULL;
}

static void run_writers(struct db_pool *pool, int nthreads, int n, int fail_every)
{
	pthread_t th[8];
	struct writer_arg args[8];

	assert_true(nthreads <= 8);
	for (int t = 0; t < nthreads; t++) {
		args[t] = (struct writer_arg){pool, t, n, fail_every, 0};
		assert_int_equal(pthread_create(&th[t], NULL, writer_thread, &args[t]), 0);
	}
	for (int t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(args[t].failures, 0);
	}
}

static const char *w_schema = "CREATE TABLE w (t INTEGER NOT NULL, i INTEGER NOT NULL,"
			      " PRIMARY KEY (t, i))";

static void test_pool_group_commit(void **state)
{
	struct db_pool *pool = open_pool("pool.db", w_schema, NULL);
	struct db_pool_stats s;
	struct err e;
	struct db *r;
	uint64_t sum = 0, multi = 0;

	(void)state;
	err_clear(&e);
	run_writers(pool, 8, 300, 0);
	r = db_pool_reader(pool, &e);
	assert_non_null(r);
	/* (t, i) is the primary key: 2400 rows means every write exactly once */
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 2400);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM (SELECT t FROM w GROUP BY t"
				      " HAVING count(*) = 300 AND min(i) = 0 AND max(i) = 299)"),
			 8);
	db_pool_stats(pool, &s);
	assert_int_equal(s.jobs, 2400);
	assert_int_equal(s.jobs_failed, 0);
	for (int b = 0; b < 8; b++) {
		sum += s.batch_hist[b];
		if (b > 0)
			multi += s.batch_hist[b];
	}
	assert_int_equal(sum, s.commits);
	assert_true(s.commits < s.jobs);
	assert_true(multi > 0);
	assert_true(s.commit_ns_total > 0);
	db_pool_free(pool);
}

static void test_pool_failing_jobs(void **state)
{
	struct db_pool *pool = open_pool("poolfail.db", w_schema, NULL);
	struct db_pool_stats s;
	struct err e;
	struct db *r;

	(void)state;
	err_clear(&e);
	/* 4 threads x 200 jobs, every 20th fails after writing two rows */
	run_writers(pool, 4, 200, 20);
	r = db_pool_reader(pool, &e);
	assert_non_null(r);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w WHERE i >= 100000"), 0);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w WHERE i % 20 = 7"), 0);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 4 * (200 - 10));
	db_pool_stats(pool, &s);
	assert_int_equal(s.jobs, 800);
	assert_int_equal(s.jobs_failed, 40);
	assert_true(s.commits < s.jobs);
	db_pool_free(pool);
}

struct one_arg {
	struct db_pool *pool;
	struct row_job job;
	int rc;
	struct err e;
};

static void *one_write(void *v)
{
	struct one_arg *a = v;

	usleep((useconds_t)a->job.i * 10000); /* staggered: only max_wait_us batches them */
	a->rc = db_pool_write(a->pool, insert_row, &a->job, &a->e);
	return NULL;
}

/* With max_batch 3 and a long max_wait, three jobs 10 ms apart form one batch. */
static void test_pool_failure_in_batch(void **state)
{
	struct db_pool_opts opts = {.max_batch = 3, .max_wait_us = 5000000};
	struct db_pool *pool = open_pool("poolbatch.db", w_schema, &opts);
	struct one_arg a[3] = {
		{pool, {1, 1, false}, -1, {0}},
		{pool, {1, 2, true}, -1, {0}},
		{pool, {1, 3, false}, -1, {0}},
	};
	pthread_t th[3];
	struct db_pool_stats s;
	struct err e;
	struct db *r;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, one_write, &a[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(a[0].rc, 0);
	assert_int_equal(a[1].rc, ERR_UNPROCESSABLE);
	assert_string_equal(a[1].e.field, "amount");
	assert_int_equal(a[2].rc, 0);
	db_pool_stats(pool, &s);
	assert_int_equal(s.commits, 1);
	assert_int_equal(s.batch_hist[1], 1); /* one batch of 3 */
	assert_int_equal(s.jobs, 3);
	assert_int_equal(s.jobs_failed, 1);
	err_clear(&e);
	r = db_pool_reader(pool, &e);
	assert_int_equal(query_i64(r, "SELECT sum(i) FROM w"), 1 + 3);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 2);
	db_pool_free(pool);
}

struct nest_arg {
	struct db_pool *pool;
	int inner_ok_rc, inner_fail_rc;
	struct err inner_e;
	int64_t seen_by_reader;
	bool fail_outer;
};

static int nested_body(struct db *db, void *v, struct err *e)
{
	struct nest_arg *a = v;
	struct row_job ok = {9, 2, false}, bad = {9, 3, true};
	struct err re;
	struct db *r;
	int rc;

	rc = db_execf(db, e, "INSERT INTO w (t, i) VALUES (9, 1)", NULL);
	if (rc != 0)
		return rc;
	a->inner_ok_rc = db_pool_write(a->pool, insert_row, &ok, NULL);
	a->inner_fail_rc = db_pool_write(a->pool, insert_row, &bad, &a->inner_e);
	err_clear(&re);
	r = db_pool_reader(a->pool, &re); /* on the writer: sees the batch so far */
	if (!r || db_query_i64(r, &a->seen_by_reader, &re, "SELECT count(*) FROM w WHERE t = 9",
			       NULL) != 0)
		a->seen_by_reader = -1;
	rc = db_execf(db, e, "INSERT INTO w (t, i) VALUES (9, 4)", NULL);
	if (rc != 0)
		return rc;
	if (a->fail_outer)
		return err_set(e, ERR_CONFLICT, NULL, "冲突", "conflict");
	return 0;
}

static void test_pool_nested(void **state)
{
	struct db_pool *pool = open_pool("poolnest.db", w_schema, NULL);
	struct nest_arg a = {.pool = pool};
	struct err e;
	struct db *r;

	(void)state;
	err_clear(&e);
	assert_int_equal(db_pool_write(pool, nested_body, &a, &e), 0);
	assert_int_equal(a.inner_ok_rc, 0);
	assert_int_equal(a.inner_fail_rc, ERR_UNPROCESSABLE);
	assert_string_equal(a.inner_e.field, "amount");
	assert_int_equal(a.seen_by_reader, 2);
	r = db_pool_reader(pool, &e);
	assert_non_null(r);
	assert_int_equal(query_i64(r, "SELECT sum(i) FROM w WHERE t = 9"), 1 + 2 + 4);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w WHERE i >= 100000"), 0);
	db_pool_free(pool);
}

/* The outer job fails after its nested writes succeeded: all of it goes. */
static void test_pool_nested_rollback(void **state)
{
	struct db_pool *pool = open_pool("poolnest2.db", w_schema, NULL);
	struct nest_arg a = {.fail_outer = true};
	struct err e;
	struct db *r;

	(void)state;
	a.pool = pool;
	err_clear(&e);
	assert_int_equal(db_pool_write(pool, nested_body, &a, &e), ERR_CONFLICT);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_int_equal(a.inner_ok_rc, 0);
	r = db_pool_reader(pool, &e);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 0);
	db_pool_free(pool);
}

struct reader_arg {
	struct db_pool *pool;
	struct db *got;
	int64_t count;
};

static void *reader_thread(void *v)
{
	struct reader_arg *a = v;
	struct err e;

	err_clear(&e);
	a->got = db_pool_reader(a->pool, &e);
	if (a->got && db_query_i64(a->got, &a->count, &e, "SELECT count(*) FROM w", NULL) != 0)
		a->count = -1;
	return NULL;
}

static void test_pool_readers(void **state)
{
	struct db_pool *pool = open_pool("poolread.db", w_schema, NULL);
	struct row_job j = {1, 1, false};
	struct reader_arg a = {pool, NULL, -1};
	struct err e;
	struct db *r1, *r2;
	pthread_t th;

	(void)state;
	err_clear(&e);
	r1 = db_pool_reader(pool, &e);
	r2 = db_pool_reader(pool, &e);
	assert_non_null(r1);
	assert_ptr_equal(r1, r2);
	assert_int_equal(query_i64(r1, "SELECT count(*) FROM w"), 0);
	assert_int_equal(db_pool_write(pool, insert_row, &j, &e), 0);
	assert_int_equal(query_i64(r1, "SELECT count(*) FROM w"), 1); /* acknowledged = visible */
	assert_int_equal(db_execf(r1, &e, "DELETE FROM w", NULL), ERR_INTERNAL); /* read-only */

	assert_int_equal(pthread_create(&th, NULL, reader_thread, &a), 0);
	pthread_join(th, NULL);
	assert_non_null(a.got);
	assert_ptr_not_equal(a.got, r1);
	assert_int_equal(a.count, 1);
	db_pool_free(pool);
}

/* ---- pipelined durability ---- */

static int read_synchronous(struct db *db, void *arg, struct err *e)
{
	return db_query_i64(db, arg, e, "PRAGMA synchronous", NULL);
}

static int read_autocheckpoint(struct db *db, void *arg, struct err *e)
{
	return db_query_i64(db, arg, e, "PRAGMA wal_autocheckpoint", NULL);
}

struct held_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;   /* flushes that have begun */
	bool release;  /* let them go */
};

static void hold_sync(void *v)
{
	struct held_sync *h = v;
	pthread_mutex_lock(&h->mu);
	h->entered++;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

struct one_write {
	struct db_pool *pool;
	struct row_job j;
	atomic_int done;
	int rc;
};

static void *one_write_thread(void *v)
{
	struct one_write *w = v;
	struct err e;
	w->rc = db_pool_write(w->pool, insert_row, &w->j, &e);
	atomic_store(&w->done, 1);
	return NULL;
}

/*
 * The writer's COMMIT no longer waits for the disk (synchronous=NORMAL on its
 * connection); the syncer flushes the log, and only then is the write
 * acknowledged. Held before its flush, the syncer keeps the writer waiting
 * although the row is committed (readers see it), while the writer goes on
 * committing the next batch, which waits for a flush of its own. With
 * sync_in_commit the COMMIT syncs itself (synchronous=FULL) and nothing
 * goes through a syncer.
 */
static void test_pool_acknowledged_after_flush(void **state)
{
	struct held_sync h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct db_pool_opts o = {.before_sync = hold_sync, .before_sync_ctx = &h};
	struct db_pool *pool = open_pool("poolsync.db", w_schema, &o);
	struct db_pool_stats s;
	struct err e;
	int64_t sync = -1;

	(void)state;
	err_clear(&e);
	h.release = true; /* the first write goes straight through */
	assert_int_equal(db_pool_write(pool, read_synchronous, &sync, &e), 0);
	assert_int_equal(sync, 1); /* NORMAL */
	assert_int_equal(db_pool_write(pool, read_autocheckpoint, &sync, &e), 0);
	assert_int_equal(sync, 10000); /* pages: checkpoints (each syncing twice) are rarer */
	db_pool_stats(pool, &s);
	assert_int_equal(s.syncs, 2);
	pthread_mutex_lock(&h.mu);
	h.release = false;
	h.entered = 0;
	pthread_mutex_unlock(&h.mu);

	struct one_write a = {.pool = pool, .j = {1, 1, false}}, b = {.pool = pool, .j = {1, 2, false}};
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, one_write_thread, &a), 0);
	pthread_mutex_lock(&h.mu);
	while (h.entered == 0)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	/* committed and visible, not acknowledged */
	struct db *r = db_pool_reader(pool, &e);
	assert_non_null(r);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 1);
	/* the writer is not held: the next write commits while the flush is pending */
	assert_int_equal(pthread_create(&tb, NULL, one_write_thread, &b), 0);
	while (query_i64(r, "SELECT count(*) FROM w") < 2)
		usleep(1000);
	usleep(20000);
	assert_int_equal(atomic_load(&a.done), 0);
	assert_int_equal(atomic_load(&b.done), 0);
	pthread_mutex_lock(&h.mu);
	h.release = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	db_pool_stats(pool, &s);
	assert_int_equal(s.syncs, 4); /* a's, begun before b committed, then b's */
	assert_int_equal(s.commits, 4);
	assert_true(s.sync_ns_total > 0);
	db_pool_free(pool);

	/* the way it was: every COMMIT syncs itself */
	struct db_pool_opts old = {.sync_in_commit = true};
	pool = open_pool("poolsync2.db", w_schema, &old);
	assert_int_equal(db_pool_write(pool, read_synchronous, &sync, &e), 0);
	assert_int_equal(sync, 2); /* FULL */
	assert_int_equal(db_pool_write(pool, insert_row, &a.j, &e), 0);
	db_pool_stats(pool, &s);
	assert_int_equal(s.syncs, 0);
	assert_int_equal(s.commits, 2);
	db_pool_free(pool);
}

static int bump_job(struct db *db, void *arg, struct err *e)
{
	(void)e;
	db_bump_on_commit(db, arg);
	return 0;
}

/*
 * A read transaction over several statements: one snapshot; the data version
 * moves with commits (by the pool or another connection) and only with them;
 * a write from the thread ends its read transaction, so it reads the write;
 * db_generation does not vouch for a snapshot older than a bump.
 */
static void test_read_transaction(void **state)
{
	struct db_pool *pool = open_pool("readtx.db", w_schema, NULL);
	struct row_job j = {1, 1, false};
	static atomic_uint_fast64_t gen;
	uint64_t v1, v2, g;
	struct err e;
	char p[256];

	(void)state;
	err_clear(&e);
	struct db *r = db_pool_reader(pool, &e);
	assert_non_null(r);
	assert_false(db_data_version(r, &v1)); /* outside a read transaction */
	assert_int_equal(db_read_begin(r, &e), 0);
	assert_true(db_reading(r));
	assert_int_equal(db_read_begin(r, &e), 0); /* no-op inside one */
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 0);
	assert_true(db_data_version(r, &v1));
	assert_true(db_generation(r, &gen, &g));

	/* another connection commits: the snapshot and its version stay */
	tpath(p, sizeof p, "readtx.db");
	struct db *other = NULL;
	assert_int_equal(db_open(p, 0, &other, &e), 0);
	assert_int_not_equal(other->serial, r->serial);
	exec_ok(other, "INSERT INTO w (t, i) VALUES (9, 9)");
	db_bump_on_commit(other, &gen);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 0);
	assert_true(db_data_version(r, &v2));
	assert_true(v2 == v1);
	assert_false(db_generation(r, &gen, &g)); /* bumped after this snapshot began */
	db_read_end(r);
	assert_false(db_reading(r));

	/* the next one sees it, with another version; no commit: the same version */
	assert_int_equal(db_read_begin(r, &e), 0);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 1);
	assert_true(db_data_version(r, &v2));
	assert_true(v2 != v1);
	assert_true(db_generation(r, &gen, &g));
	db_read_end(r);
	assert_int_equal(db_read_begin(r, &e), 0);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 1);
	assert_true(db_data_version(r, &v1));
	assert_true(v1 == v2);

	/* a write through the pool ends the thread's read transaction: it reads the write */
	assert_int_equal(db_pool_write(pool, insert_row, &j, &e), 0);
	assert_false(db_reading(r));
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 2);
	assert_int_equal(db_read_begin(r, &e), 0);
	assert_int_equal(query_i64(r, "SELECT count(*) FROM w"), 2);
	assert_true(db_data_version(r, &v1));
	assert_true(v1 != v2);
	/* a job's bump counts once it has committed: a snapshot begun after it is trusted */
	db_read_end(r);
	assert_int_equal(db_pool_write(pool, bump_job, &gen, &e), 0);
	assert_int_equal(db_read_begin(r, &e), 0);
	assert_true(db_generation(r, &gen, &g));
	db_read_end(r);
	db_close(other);
	db_pool_free(pool);
}

struct bg_writer {
	struct db_pool *pool;
	atomic_int stop;
	atomic_int written;
	int failures;
};

static int insert_pad(struct db *db, void *v, struct err *e)
{
	int64_t *id = v;
	return db_execf(db, e, "INSERT INTO b (id, pad) VALUES ($1, randomblob(1000))", "i", *id);
}

static void *bg_write(void *v)
{
	struct bg_writer *w = v;

	for (int64_t id = 100000; !atomic_load(&w->stop); id++) {
		struct err e;
		if (db_pool_write(w->pool, insert_pad, &id, &e) != 0)
			w->failures++;
		atomic_fetch_add(&w->written, 1);
	}
	return NULL;
}

static int fill_b(struct db *db, void *v, struct err *e)
{
	int base = *(int *)v;
	for (int64_t id = base; id < base + 500; id++) {
		int rc = insert_pad(db, &id, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void test_backup_while_writing(void **state)
{
	struct db_pool *pool =
		open_pool("poolbak.db", "CREATE TABLE b (id INTEGER PRIMARY KEY, pad BLOB)", NULL);
	struct bg_writer w = {.pool = pool};
	struct err e;
	struct db *r, *copy;
	char dest[256];
	bool ok = false;
	pthread_t th;
	int before;

	(void)state;
	err_clear(&e);
	for (int base = 1; base <= 2000; base += 500)
		assert_int_equal(db_pool_write(pool, fill_b, &base, &e), 0);
	assert_int_equal(pthread_create(&th, NULL, bg_write, &w), 0);
	while (atomic_load(&w.written) < 20)
		usleep(1000);
	r = db_pool_reader(pool, &e);
	assert_non_null(r);
	before = atomic_load(&w.written);
	tpath(dest, sizeof dest, "poolbak-copy.db");
	if (db_backup(r, dest, &e) != 0)
		fail_msg("backup: %s", e.message);
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	assert_int_equal(w.failures, 0);

	copy = open_db("poolbak-copy.db", DB_OPEN_READONLY); /* as "yiqiban backup" verifies */
	assert_int_equal(db_check(copy, &ok, &e), 0);
	assert_true(ok);
	assert_int_equal(query_i64(copy, "SELECT count(*) FROM b WHERE id <= 2000"), 2000);
	assert_true(query_i64(copy, "SELECT count(*) FROM b WHERE id >= 100000") >= before);
	/* the copy is a snapshot: no later write leaks in, no gap in the sequence */
	assert_int_equal(query_i64(copy, "SELECT max(id) - 100000 + 1 - count(*) FROM b"
					 " WHERE id >= 100000"),
			 0);
	db_close(copy);
	db_pool_free(pool);
}

/* LIKE patterns for plain substrings: wildcards escaped, never cut mid-character. */
static void test_like_contains(void **state)
{
	static const struct {
		const char *q;
		size_t n;
		const char *want;
	} t[] = {
		{"abc", 64, "%abc%"},
		{"50%_off\\", 64, "%50\\%\\_off\\\\%"},
		{"二七区", 64, "%二七区%"},
		{"二七区", 9, "%二七%"},  /* 3 + 3 + 2 + NUL: the third character does not fit */
		{"二七区", 8, "%二%"},
		{"", 8, "%%"},
		{"x", 2, ""},
	};
	char out[64];
	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		db_like_contains(t[i].q, out, t[i].n);
		assert_string_equal(out, t[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_and_columns),
		cmocka_unit_test(test_returning_id),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_stmt_cache),
		cmocka_unit_test(test_stmt_cache_by_address),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_indexes_aside),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_check_and_backup_basics),
		cmocka_unit_test(test_migrate_list),
		cmocka_unit_test(test_migrate_embedded),
		cmocka_unit_test(test_pool_group_commit),
		cmocka_unit_test(test_pool_failing_jobs),
		cmocka_unit_test(test_pool_failure_in_batch),
		cmocka_unit_test(test_pool_nested),
		cmocka_unit_test(test_pool_nested_rollback),
		cmocka_unit_test(test_pool_readers),
		cmocka_unit_test(test_pool_acknowledged_after_flush),
		cmocka_unit_test(test_read_transaction),
		cmocka_unit_test(test_backup_while_writing),
		cmocka_unit_test(test_like_contains),
	};

	alarm(60);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
