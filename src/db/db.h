/*
 * db.h — the storage interface: one table of function pointers per backend.
 *
 * Backends: SQLite (db_sqlite.c, the embedded default) and later PostgreSQL
 * (db_pg.c). Callers use the db_*() wrappers below, never the pointers.
 * SQL is written in the common subset of SQLite and PostgreSQL, with
 * parameters as $1, $2, ... (the SQLite backend maps them to ?1, ?2).
 * Inserts that need the new id use "INSERT ... RETURNING id".
 *
 * Statements belong to the connection that prepared them and are cached by
 * SQL text: db_prepare() of the same string on the same connection returns
 * the cached, reset statement; db_finalize() returns it to the cache.
 *
 * Threading: a struct db is used by one thread at a time. The pool
 * (db_pool_*) gives each thread its own reader connection and owns the
 * single writer thread that group-commits the write jobs of all threads.
 */
#ifndef YQ_DB_H
#define YQ_DB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct db;
struct db_stmt;

enum db_step {
	DB_DONE = 0, /* no (more) rows */
	DB_ROW = 1,  /* a row is available through the column functions */
	/* negative: an enum err_code, details in the struct err */
};

enum db_open_flags {
	DB_OPEN_READONLY = 1 << 0, /* reader connection */
	DB_OPEN_CREATE = 1 << 1,   /* create the database file if missing */
};

struct db_ops {
	const char *name; /* "sqlite", "postgres" */
	/* url: for sqlite a file path (or "sqlite:PATH"); for postgres a conninfo */
	int (*open)(const char *url, int flags, struct db **out, struct err *e);
	void (*close)(struct db *db);
	/* Run one or more statements without parameters or results (DDL, PRAGMA). */
	int (*exec)(struct db *db, const char *sql, struct err *e);
	int (*prepare)(struct db *db, const char *sql, struct db_stmt **out, struct err *e);
	int (*bind_int64)(struct db_stmt *st, int idx, int64_t v);
	int (*bind_double)(struct db_stmt *st, int idx, double v);
	int (*bind_text)(struct db_stmt *st, int idx, const char *s, size_t len); /* copied */
	/* not copied: s must stay unchanged until the statement is reset or finalized */
	int (*bind_text_ref)(struct db_stmt *st, int idx, const char *s, size_t len);
	int (*bind_blob)(struct db_stmt *st, int idx, const void *p, size_t len);  /* copied */
	int (*bind_null)(struct db_stmt *st, int idx);
	int (*step)(struct db_stmt *st, struct err *e);
	int (*column_count)(struct db_stmt *st);
	bool (*column_is_null)(struct db_stmt *st, int col);
	int64_t (*column_int64)(struct db_stmt *st, int col);
	double (*column_double)(struct db_stmt *st, int col);
	/* Valid until the next step/reset/finalize; never NULL ("" for NULL). */
	const char *(*column_text)(struct db_stmt *st, int col, size_t *len);
	const void *(*column_blob)(struct db_stmt *st, int col, size_t *len);
	const char *(*column_name)(struct db_stmt *st, int col);
	void (*reset)(struct db_stmt *st);     /* clear bindings, ready to bind and step again */
	void (*finalize)(struct db_stmt *st);  /* give back (to the cache) */
	int64_t (*changes)(struct db *db);     /* rows changed by the last statement */
	/* Transactions. begin_write takes the write lock at once (BEGIN IMMEDIATE). */
	int (*begin)(struct db *db, bool write, struct err *e);
	int (*commit)(struct db *db, struct err *e);
	int (*rollback)(struct db *db);
	/* Online, consistent copy of the whole database to dest (a new file). */
	int (*backup)(struct db *db, const char *dest, struct err *e);
	/* Full integrity check; ok=false with the first problem in e. */
	int (*check)(struct db *db, bool *ok, struct err *e);
	/* Dialect word for migrations: see migrate.h (e.g. "ID_PK"); NULL if unknown.
	 * Also "SQL_HAS_TABLE": a query with one row, one column, non-zero if the
	 * table named by $1 exists (used by migrate_version on an unmigrated db);
	 * "SQL_INDEXES": name and CREATE statement of each index of table $1 that
	 * is no constraint (used by db_indexes_drop); "PARAM_IN_ORDER": a
	 * parameter marker numbered by its position, if the backend has one
	 * cheaper than $N (used by db_bulk). */
	const char *(*dialect)(const char *word);
	/* The pool's writer (see db_pool_open): let COMMIT return once its log is
	 * written, before it is on disk, keeping the database consistent after a
	 * power loss; path gets the log file whose fdatasync() makes every commit
	 * returned so far durable. -1 (and nothing changed) if the backend cannot:
	 * its commits stay durable when they return. NULL: cannot. */
	int (*commit_log)(struct db *db, char *path, size_t n);
	/* (optional) Inside a read transaction: true with a number that differs from the
	 * one of an earlier transaction of this connection if, and only if, the database
	 * changed in between (SQLite's data version); false outside one. */
	bool (*data_version)(struct db *db, uint64_t *out);
};

struct db_deferred_slot;

/* Every backend's connection struct embeds this first (zeroed at open). */
struct db {
	const struct db_ops *ops;
	/* deferred work (db.c), see db_deferred() */
	bool defer_enabled;
	bool in_tx;                      /* between db_begin and db_commit/db_rollback */
	int savepoints;                  /* open savepoints (db_savepoint) */
	uint64_t serial;                 /* unique to this connection in the process (db_open) */
	bool in_read;                    /* in a read transaction of db_read_begin */
	uint64_t read_bumps;             /* generations bumped before it began (db_generation) */
	struct db_deferred_slot *deferred;
};

/* Every backend's statement struct embeds this first (the wrappers dispatch on it). */
struct db_stmt {
	const struct db_ops *ops;
};

extern const struct db_ops db_sqlite_ops;

/*
 * Work deferred to the end of the transaction.
 *
 * A write job may leave work that the jobs of a batch share, to be done once
 * just before the COMMIT: the rate counters, where a batch of new requests
 * adds to the same few counter rows. A module keeps what is pending in a
 * state object of its own, attached to the connection and found again by
 * its ops table (db_deferred). The wrappers below tell it about savepoints,
 * so that what is pending follows the transaction exactly:
 *   savepoint    a savepoint was opened: remember where you are
 *   release      the newest savepoint was released: forget that memory
 *   rollback_to  rolled back to the newest savepoint, which stays open: go
 *                back to where you were (the database has undone anything
 *                flushed since, too)
 *   flush        do the pending work now, inside the transaction (from
 *                db_commit, or db_flush_deferred before reading its tables)
 *   committed    (optional) the transaction has committed (then reset follows)
 *   reset        the transaction ended (committed or rolled back): forget all
 * Only a connection whose transactions and savepoints all go through the
 * wrappers defers (the pool's writer calls db_defer_enable); elsewhere
 * db_deferred() returns NULL and the module does its work at once.
 */
struct db_deferred_ops {
	void *(*create)(void);
	void (*free)(void *state);
	void (*savepoint)(void *state);
	void (*release)(void *state);
	void (*rollback_to)(void *state);
	int (*flush)(struct db *db, void *state, struct err *e);
	void (*committed)(void *state);
	void (*reset)(void *state);
};
void db_defer_enable(struct db *db);
/* True on a connection that defers (the pool's writer): its reads may see uncommitted work. */
bool db_defers(struct db *db);
/* The module's state on this connection (created on first use), or NULL if the connection
 * does not defer. Owned by the connection. */
void *db_deferred(struct db *db, const struct db_deferred_ops *ops);
/* Do every module's pending work now (a no-op on connections that do not defer). */
int db_flush_deferred(struct db *db, struct err *e);
/*
 * For in-process caches of what a transaction changes: increment *generation
 * once the transaction open on db (db_begin) has committed — at once if none
 * is open, so call it after the statement that made the change. Not before:
 * a reader would still read the old data and keep it as current. A job
 * rolled back to its savepoint takes its request back.
 */
void db_bump_on_commit(struct db *db, atomic_uint_fast64_t *generation);

/*
 * One read transaction for several statements (an HTTP request's session
 * check and its handler's reads): every statement reads the same snapshot,
 * and the snapshot's locks are taken once instead of per statement.
 * db_read_begin is a no-op inside a transaction; db_read_end ends what
 * db_read_begin began (NULL and no transaction: no-op). The pool ends this
 * thread's read transaction before it waits for a write (db_pool_write), so
 * reads after a write see it.
 */
int db_read_begin(struct db *db, struct err *e);
void db_read_end(struct db *db);
bool db_reading(struct db *db);
/*
 * For in-process caches filled from a read: *out = the generation (see
 * db_bump_on_commit), read before the database is. True if what db reads is
 * at least as new as that generation says; false when db is in a read
 * transaction that began before some generation was bumped — its snapshot
 * may predate the change, so what it reads must not be cached as current.
 */
bool db_generation(struct db *db, atomic_uint_fast64_t *generation, uint64_t *out);
/*
 * Inside a read transaction: true with the connection's data version in
 * *out, equal to the one of an earlier read transaction on this connection if
 * and only if the database has not changed since (commits by any connection
 * or process); false outside one or if the backend cannot tell.
 */
bool db_data_version(struct db *db, uint64_t *out);

/* Pick the backend by URL ("postgres://", "postgresql://", "host=" -> postgres; else sqlite). */
int db_open(const char *url, int flags, struct db **out, struct err *e);
void db_close(struct db *db);

/* Wrappers: see struct db_ops. */
int db_exec(struct db *db, const char *sql, struct err *e);
int db_prepare(struct db *db, const char *sql, struct db_stmt **out, struct err *e);
int db_bind_int64(struct db_stmt *st, int idx, int64_t v);
int db_bind_double(struct db_stmt *st, int idx, double v);
int db_bind_text(struct db_stmt *st, int idx, const char *s); /* NULL binds NULL */
int db_bind_textn(struct db_stmt *st, int idx, const char *s, size_t len);
/* Borrowed until the statement is reset or finalized (see bind_text_ref). */
int db_bind_text_ref(struct db_stmt *st, int idx, const char *s, size_t len);
int db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len);
int db_bind_null(struct db_stmt *st, int idx);
int db_step(struct db_stmt *st, struct err *e);
int db_column_count(struct db_stmt *st);
bool db_column_is_null(struct db_stmt *st, int col);
int64_t db_column_int64(struct db_stmt *st, int col);
double db_column_double(struct db_stmt *st, int col);
const char *db_column_text(struct db_stmt *st, int col);
const char *db_column_textn(struct db_stmt *st, int col, size_t *len);
const void *db_column_blob(struct db_stmt *st, int col, size_t *len);
const char *db_column_name(struct db_stmt *st, int col);
void db_reset(struct db_stmt *st);
void db_finalize(struct db_stmt *st); /* NULL is a no-op */
int64_t db_changes(struct db *db);
int db_begin(struct db *db, bool write, struct err *e);
/* Does the deferred work (db_flush_deferred) first; if that fails, nothing is committed. */
int db_commit(struct db *db, struct err *e);
int db_rollback(struct db *db);
/* SAVEPOINT / RELEASE / ROLLBACK TO (and keep open) the newest savepoint. */
int db_savepoint(struct db *db, struct err *e);
int db_release(struct db *db, struct err *e);
int db_rollback_to(struct db *db, struct err *e);
int db_backup(struct db *db, const char *dest, struct err *e);
int db_check(struct db *db, bool *ok, struct err *e);
const char *db_backend_name(struct db *db);

/*
 * Prepare, bind and run in one call. `types` has one letter per parameter:
 *   i int64_t   I int64_t, 0 binds NULL (optional references)
 *   d double   t const char * (NULL binds NULL)   n NULL (no argument)
 * db_execf: runs to completion; returns 0 or an error code.
 * db_queryf: prepares and binds, leaves *out ready to step; caller finalizes.
 * db_query_i64: first column of the first row into *out; ERR_NOT_FOUND if no row.
 */
int db_execf(struct db *db, struct err *e, const char *sql, const char *types, ...);
int db_queryf(struct db *db, struct db_stmt **out, struct err *e, const char *sql,
	      const char *types, ...);
int db_query_i64(struct db *db, int64_t *out, struct err *e, const char *sql,
		 const char *types, ...);

/*
 * Parameters collected while building a query with optional parts:
 *     struct db_args a = {0};
 *     buf_addf(&sql, " AND e.status = $%d", db_args_text(&a, status));
 *     db_query_args(db, &st, e, sql.p, &a);
 * Each db_args_*() returns the parameter's number ($n). Texts are borrowed
 * and must outlive the query. At most DB_ARGS_MAX parameters.
 */
#define DB_ARGS_MAX 32
struct db_args {
	int n;
	char type[DB_ARGS_MAX];        /* 'i', 'd', 't' */
	int64_t i[DB_ARGS_MAX];
	double d[DB_ARGS_MAX];
	const char *t[DB_ARGS_MAX];
	bool overflow;
};
int db_args_int(struct db_args *a, int64_t v);
int db_args_double(struct db_args *a, double v);
int db_args_text(struct db_args *a, const char *s);
/* Prepare sql and bind a; ERR_INTERNAL if a overflowed. Caller finalizes *out. */
int db_query_args(struct db *db, struct db_stmt **out, struct err *e, const char *sql,
		  const struct db_args *a);

/*
 * A LIKE pattern matching q as a plain substring: "%q%" with LIKE's own
 * wildcards (% and _) and the escape character escaped; use it with
 * "LIKE $n ESCAPE '\\'". Cut short, never inside a UTF-8 sequence, if it does
 * not fit in n bytes.
 */
void db_like_contains(const char *q, char *out, size_t n);

/*
 * Multi-row INSERT for loaders: rows are buffered and written by statements
 * of `per_stmt` rows, INSERT INTO <into> VALUES (...), (...), ..., so the
 * per-statement work (cursors on the table and each of its indexes,
 * triggers' and virtual tables' savepoints) is paid once per per_stmt rows.
 *     struct db_bulk b;
 *     db_bulk_init(&b, db, "request_events (tenant_id, request_id, at)", 3, 100);
 *     db_bulk_int(&b, t); db_bulk_int(&b, id); db_bulk_int(&b, at); db_bulk_row(&b, e);
 *     ... db_bulk_write(&b, false, e) now and then (full statements only),
 *     db_bulk_write(&b, true, e) before the COMMIT; db_bulk_release(&b);
 * The caller decides when rows are written (a child table's rows after
 * their parents'). Values are copied. A failing row fails its whole
 * statement: loaders make rows that cannot fail (ids they assign).
 */
struct db_bulk_val;
struct db_bulk {
	struct db *db;
	char *head;            /* "INSERT INTO <into> VALUES " */
	int ncols, per_stmt;
	size_t rows, cap;      /* rows buffered, and room for */
	int col;               /* next column of the row being added */
	struct db_bulk_val *v; /* cap * ncols, and a spare */
	char *text;            /* the text values, back to back */
	size_t text_len, text_cap;
	char *sql_full;        /* the statement for per_stmt rows */
	int64_t written;       /* rows written so far */
};
void db_bulk_init(struct db_bulk *b, struct db *db, const char *into, int ncols, int per_stmt);
void db_bulk_int(struct db_bulk *b, int64_t v);
void db_bulk_double(struct db_bulk *b, double v);
void db_bulk_text(struct db_bulk *b, const char *s); /* NULL is NULL */
void db_bulk_null(struct db_bulk *b);
/* End the row being added; ERR_INTERNAL unless it has ncols values. */
int db_bulk_row(struct db_bulk *b, struct err *e);
/* Rows buffered, ready to write. */
size_t db_bulk_pending(const struct db_bulk *b);
/* Write the buffered rows in full statements, and with all the rest too. */
int db_bulk_write(struct db_bulk *b, bool all, struct err *e);
/* Free the buffers; rows not written are dropped. */
void db_bulk_release(struct db_bulk *b);

/*
 * For loaders: drop the indexes of a table that are no constraint, and
 * create them again after a large load — built in one pass over the rows,
 * which is faster than keeping them up to date row by row. Their
 * definitions are kept in *saved until restored (or released).
 */
struct db_index_set {
	char **sql;
	size_t n;
};
int db_indexes_drop(struct db *db, const char *table, struct db_index_set *saved, struct err *e);
/* Create the saved indexes again; the set is empty afterwards (also on failure). */
int db_indexes_restore(struct db *db, struct db_index_set *saved, struct err *e);

/* ---- pool: per-thread readers and one group-committing writer ---- */

struct db_pool;

struct db_pool_opts {
	int max_batch;        /* most jobs in one commit (default 512) */
	int max_wait_us;      /* how long the writer waits to fill a batch after the first job; default 0 */
	bool sync_in_commit;  /* each COMMIT waits for the disk itself (no syncer thread); default off */
	/* tests: called by the syncer thread before each flush of the log */
	void (*before_sync)(void *ctx);
	void *before_sync_ctx;
};

/* The body of a write job. Runs on the writer thread inside its own SAVEPOINT;
 * returning non-zero rolls back to the savepoint (the rest of the batch commits). */
typedef int (*db_write_fn)(struct db *db, void *arg, struct err *e);

struct db_pool_stats {
	uint64_t commits;     /* COMMITs done */
	uint64_t syncs;       /* fdatasync()s of the log by the syncer (0: commits sync themselves) */
	uint64_t sync_ns_total;
	uint64_t jobs;        /* jobs run */
	uint64_t jobs_failed; /* jobs rolled back to their savepoint */
	uint64_t batch_hist[8]; /* batch sizes: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+ */
	uint64_t commit_ns_total;
};

/*
 * Open the writer connection (creating the database file if missing) and
 * start the writer thread; readers are opened read-only on first use. opts
 * may be NULL for the defaults. The pool does not migrate: run migrate_up on
 * a plain db_open() connection before opening the pool. *out is freed with
 * db_pool_free(). Returns 0 or an error code with e filled.
 */
int db_pool_open(const char *url, const struct db_pool_opts *opts, struct db_pool **out,
		 struct err *e);
/* Stops the writer after finishing queued jobs, closes every connection. */
void db_pool_free(struct db_pool *p);
/* This thread's reader connection, opened on first use; borrowed, owned by the pool
 * (closed when the thread exits or by db_pool_free). NULL with e filled on failure. */
struct db *db_pool_reader(struct db_pool *p, struct err *e);
/*
 * Run fn(db, arg, e) on the writer thread and wait until its batch is
 * committed and durable. Returns fn's status (0 = committed), or an error if
 * the commit itself failed (then nothing of the job is stored).
 * Called from inside a job (on the writer thread) it runs fn at once in a
 * nested SAVEPOINT; that work becomes durable with the enclosing job.
 */
int db_pool_write(struct db_pool *p, db_write_fn fn, void *arg, struct err *e);
/*
 * How db_pool_write() waits on this thread. By default it blocks the thread
 * until the write is durable. A thread that runs request handlers as
 * coroutines sets a waiter while one of them runs: db_pool_write() then
 * calls suspend(ctx) before it queues the job, and wait(ctx) to give the
 * thread away (the coroutine yields); the writer thread calls wake(ctx) once
 * the job is durable or has failed, and wait(ctx) returns some time after
 * that. NULL restores blocking.
 */
struct db_waiter {
	void (*suspend)(void *ctx);
	void (*wait)(void *ctx);
	void (*wake)(void *ctx);
	void *ctx;
};
void db_pool_set_waiter(const struct db_waiter *w);
/*
 * Queue fn on the writer without waiting: for bookkeeping nobody is answered
 * about (it is durable with its batch, but no one learns when). The pool
 * copies size bytes of arg (which must hold no pointers into the caller's
 * stack) and frees the copy after the job; a failure is logged. Dropped if
 * the pool is stopping.
 */
void db_pool_write_async(struct db_pool *p, db_write_fn fn, const void *arg, size_t size);
void db_pool_stats(struct db_pool *p, struct db_pool_stats *out);
const char *db_pool_url(struct db_pool *p);

#endif
