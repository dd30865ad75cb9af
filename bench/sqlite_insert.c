/* bench/sqlite_insert.c — the raw rate of single-row durable inserts: WAL, synchronous=FULL,
 * one small row per commit (autocommit INSERTs through one prepared statement).
 * Usage: sqlite_insert DBPATH SECONDS     prints "rows/s N" (and rows, seconds)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ok(int rc, sqlite3 *db, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "sqlite_insert: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: sqlite_insert DBPATH SECONDS\n");
		return 2;
	}
	double secs = atof(argv[2]);
	sqlite3 *db;
	remove(argv[1]);
	ok(sqlite3_open(argv[1], &db), db, "open");
	ok(sqlite3_exec(db,
			"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			"CREATE TABLE t(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL)",
			NULL, NULL, NULL),
	   db, "setup");
	sqlite3_stmt *st;
	ok(sqlite3_prepare_v2(db, "INSERT INTO t(at, body) VALUES (?, ?)", -1, &st, NULL), db,
	   "prepare");
	long rows = 0;
	double t0 = now_s(), t = t0;
	char body[64];
	while (t - t0 < secs) {
		snprintf(body, sizeof body, "row %ld of the raw insert benchmark", rows);
		sqlite3_bind_int64(st, 1, rows);
		sqlite3_bind_text(st, 2, body, -1, SQLITE_TRANSIENT);
		ok(sqlite3_step(st), db, "insert");
		sqlite3_reset(st);
		rows++;
		if ((rows & 15) == 0)
			t = now_s();
	}
	t = now_s();
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("rows/s %.0f rows %ld seconds %.2f\n", (double)rows / (t - t0), rows, t - t0);
	return 0;
}
