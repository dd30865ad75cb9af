/*
 * db_sqlite.c — the SQLite backend of db.h (the embedded default).
 *
 * Every connection runs in WAL mode with synchronous=FULL, so a COMMIT that
 * returned is durable, and readers (opened read-only) never block the writer;
 * except the pool's writer, whose commits the pool makes durable itself
 * (sq_commit_log).
 * Connections are opened NOMUTEX: one thread uses a connection at a time.
 *
 * SQL is written with PostgreSQL-style parameters $1, $2, ...; they are
 * rewritten to SQLite's ?1, ?2 (same length, same numbers) when a statement
 * is compiled, skipping string literals, quoted identifiers and comments.
 *
 * Each connection keeps up to CACHE_MAX compiled statements keyed by the SQL
 * text as the caller wrote it (a hash table plus an LRU list for eviction).
 * Most SQL is a string constant, asked for again and again from the same
 * address: a small table by address finds it without hashing the text (a
 * hit is still confirmed by comparing the text, as the address may since
 * hold other SQL).
 * db_finalize() resets a cached statement and hands it back; asking for the
 * same SQL while the cached copy is in use (nested loops) compiles a private
 * copy that is really finalized afterwards.
 *
 * SQLite errors become struct err values: unique violations ERR_CONFLICT
 * with the offending column in e->field, other constraint failures
 * ERR_UNPROCESSABLE, a busy database ERR_UNAVAILABLE, the rest ERR_INTERNAL.
 */
#include "db/db.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <unistd.h>

#include "base/xalloc.h"

#include "base/banned.h"

#define CACHE_MAX 128      /* cached statements per connection */
#define CACHE_BUCKETS 256  /* hash buckets, a power of two */
#define ADDR_SLOTS 256     /* statements by the address of their SQL, a power of two */
#define BACKUP_PAGES 128   /* pages copied per sqlite3_backup_step */
#define BUSY_TIMEOUT_MS 5000

struct sq_db;

struct sq_stmt {
	struct db_stmt base;
	struct sq_db *db;           /* owning connection */
	sqlite3_stmt *s;
	char *sql;                  /* cache key as given by the caller; NULL if not cached */
	uint64_t hash;              /* of sql */
	const char *addr;           /* where the caller's SQL was when last asked for (may be stale) */
	bool in_use;                /* handed out by prepare, not yet finalized */
	bool ret_rowid;             /* "... RETURNING id" run without the clause (returning_cut) */
	int ret_state;              /* with ret_rowid: 0 not run, 1 on the row, 2 done */
	int64_t ret_id;
	char ret_text[24];
	struct sq_stmt *chain;      /* next in the same hash bucket */
	TAILQ_ENTRY(sq_stmt) lru;   /* cached statements, most recently used first */
};

TAILQ_HEAD(sq_lru, sq_stmt);

struct sq_db {
	struct db base;
	sqlite3 *h;
	char *path;                 /* file name given to sqlite3_open_v2 */
	int ncached;                /* statements in the cache */
	struct sq_lru lru;
	struct sq_stmt *buckets[CACHE_BUCKETS];
	struct sq_stmt *by_addr[ADDR_SLOTS]; /* cached statements by st->addr */
};

static struct sq_db *to_sq(struct db *db)
{
	assert(db && db->ops == &db_sqlite_ops);
	return (struct sq_db *)db;
}

static struct sq_stmt *to_st(struct db_stmt *st)
{
	assert(st && st->ops == &db_sqlite_ops);
	return (struct sq_stmt *)st;
}

/* ---- errors ---- */

/*
 * The last column named in a constraint message, into out:
 * "UNIQUE constraint failed: users.tenant_id, users.login" -> "login".
 * Empty if the message names no plain column (an expression index).
 */
static void last_column(const char *msg, char *out, size_t n)
{
	const char *p = strstr(msg, "failed: ");
	const char *q;
	size_t len;

	out[0] = '\0';
	if (!p)
		return;
	p += 8;
	if ((q = strrchr(p, ',')))
		p = q + 1;
	while (*p == ' ')
		p++;
	if ((q = strrchr(p, '.')))
		p = q + 1;
	len = strlen(p);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '_' && (unsigned char)p[i] < 0x80)
			return;
	if (len == 0 || len >= n)
		return;
	memcpy(out, p, len + 1);
}

/* Turn SQLite result code rc (extended) with message msg into e; returns the code. */
static int map_error(int rc, const char *msg, struct err *e)
{
	char field[64];

	if (!msg)
		msg = sqlite3_errstr(rc);
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		last_column(msg, field, sizeof field);
		if (field[0])
			return err_set(e, ERR_CONFLICT, field, "'%s' 的值已存在",
				       "duplicate value for '%s'", field);
		return err_set(e, ERR_CONFLICT, NULL, "值已存在：%s", "duplicate value: %s", msg);
	case SQLITE_CONSTRAINT_NOTNULL:
		last_column(msg, field, sizeof field);
		if (field[0])
			return err_set(e, ERR_UNPROCESSABLE, field, "'%s' 不能为空",
				       "'%s' must not be empty", field);
		return err_set(e, ERR_UNPROCESSABLE, NULL, "缺少必填值：%s",
			       "missing required value: %s", msg);
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return err_set(e, ERR_UNPROCESSABLE, NULL, "引用的记录不存在或仍被引用",
			       "referenced record does not exist or is still referenced");
	case SQLITE_CONSTRAINT_CHECK:
		return err_set(e, ERR_UNPROCESSABLE, NULL, "值不符合约束：%s",
			       "value violates a rule: %s", msg);
	}
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return err_set(e, ERR_UNPROCESSABLE, NULL, "值不符合约束：%s",
			       "value violates a rule: %s", msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return err_set(e, ERR_UNAVAILABLE, NULL, "数据库繁忙：%s", "database is busy: %s",
			       msg);
	}
	return err_set(e, ERR_INTERNAL, NULL, "数据库错误：%s", "database error: %s", msg);
}

static int db_error(struct sq_db *d, int rc, struct err *e)
{
	return map_error(rc, sqlite3_errmsg(d->h), e);
}

/* ---- SQL text ---- */

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* Past one literal, quoted identifier or comment starting at p; p itself if none. */
static const char *skip_quoted(const char *p)
{
	const char *end;
	char close;

	switch (*p) {
	case '\'':
	case '"':
	case '`':
		close = *p;
		break;
	case '[':
		close = ']';
		break;
	case '-':
		if (p[1] != '-')
			return p;
		end = strchr(p, '\n');
		return end ? end + 1 : p + strlen(p);
	case '/':
		if (p[1] != '*')
			return p;
		end = strstr(p + 2, "*/");
		return end ? end + 2 : p + strlen(p);
	default:
		return p;
	}
	/* a doubled quote inside a literal reads as two adjacent literals: same result */
	end = strchr(p + 1, close);
	return end ? end + 1 : p + strlen(p);
}

/* Rewrite $N parameters to ?N in place (same length), outside literals and comments. */
static void rewrite_params(char *q)
{
	char *p = q;

	while (*p) {
		const char *next = skip_quoted(p);
		if (next != p) {
			p = (char *)next;
			continue;
		}
		if (*p == '$' && isdigit((unsigned char)p[1]) && (p == q || !ident_char(p[-1])))
			*p = '?';
		p++;
	}
}

/* True if only whitespace, semicolons and comments remain. */
static bool only_trailer(const char *p)
{
	for (;;) {
		const char *next;
		while (*p == ';' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			return true;
		next = skip_quoted(p);
		if (next == p || (*p != '-' && *p != '/'))
			return false;
		p = next;
	}
}

/* Case-insensitive keyword at p followed by a non-identifier character; past it, or NULL. */
static const char *keyword(const char *p, const char *kw)
{
	size_t n = strlen(kw);
	if (strncasecmp(p, kw, n) != 0 || ident_char(p[n]))
		return NULL;
	return p + n;
}

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/*
 * SQLite runs a RETURNING clause through an ephemeral table, opened, filled,
 * read back and closed on every execution: a fifth of the cost of a small
 * INSERT. For the one form the code uses to learn a new row's id,
 *   INSERT INTO table (...) VALUES (...) RETURNING id
 * with one row of values, the clause is dropped and the id taken from
 * sqlite3_last_insert_rowid — the same value, provided id is the table's
 * INTEGER PRIMARY KEY (the caller checks). Returns the length of q without
 * the clause, with the table's name in table; 0 if q is not of that form.
 */
static size_t returning_cut(const char *q, char *table, size_t tsize)
{
	const char *p = skip_space(q), *t;
	size_t n;

	if (!(p = keyword(p, "INSERT")) || !(p = keyword(skip_space(p), "INTO")))
		return 0;
	p = t = skip_space(p);
	while (ident_char(*p) && *p != '$')
		p++;
	n = (size_t)(p - t);
	if (n == 0 || n >= tsize)
		return 0;
	memcpy(table, t, n);
	table[n] = '\0';
	/* (columns) VALUES (one row) */
	for (int group = 0; group < 2; group++) {
		p = skip_space(p);
		if (group == 1 && !(p = keyword(p, "VALUES")))
			return 0;
		p = skip_space(p);
		if (*p != '(')
			return 0;
		int depth = 0;
		do {
			const char *next = skip_quoted(p);
			if (next != p) {
				p = next;
				continue;
			}
			if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			else if (!*p)
				return 0;
			p++;
		} while (depth > 0);
	}
	const char *cut = p;
	p = skip_space(p);
	if (!(p = keyword(p, "RETURNING")) || !(p = keyword(skip_space(p), "id")))
		return 0;
	return only_trailer(p) ? (size_t)(cut - q) : 0;
}

/* True if table.id is the table's INTEGER PRIMARY KEY (its rowid). */
static bool id_is_rowid(struct sq_db *d, const char *table)
{
	const char *type = NULL;
	int pk = 0;
	if (sqlite3_table_column_metadata(d->h, NULL, table, "id", &type, NULL, NULL, &pk, NULL) !=
	    SQLITE_OK)
		return false;
	return pk && type && strcasecmp(type, "INTEGER") == 0;
}

static uint64_t hash_sql(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* ---- connection ---- */

/* Run one statement and return its first column as text into out (may be NULL). */
static int query_text(struct sq_db *d, const char *sql, char *out, size_t n, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_prepare_v2(d->h, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	if (out && n) {
		const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
		snprintf(out, n, "%s", t ? (const char *)t : "");
	}
	sqlite3_finalize(s);
	return 0;

fail:
	rc = db_error(d, rc, e);
	sqlite3_finalize(s);
	return rc;
}

static int configure(struct sq_db *d, bool readonly, struct err *e)
{
	char mode[32];
	int rc;

	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_busy_timeout(d->h, BUSY_TIMEOUT_MS);
	rc = query_text(d, readonly ? "PRAGMA journal_mode" : "PRAGMA journal_mode=WAL", mode,
			sizeof mode, e);
	if (rc < 0)
		return rc;
	if (!readonly && strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
		return err_set(e, ERR_UNAVAILABLE, NULL, "无法为 '%s' 启用 WAL（日志模式为 '%s'）",
			       "cannot enable wal on '%s' (journal mode is '%s')", d->path, mode);
	rc = sqlite3_exec(d->h,
			  "PRAGMA synchronous=FULL;"
			  "PRAGMA foreign_keys=ON;"
			  "PRAGMA cache_size=-8192;" /* KiB */
			  "PRAGMA temp_store=MEMORY;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_error(d, rc, e);
	return 0;
}

static void sq_close(struct db *db);

/*
 * Process-wide SQLite settings, before the library initialises. Memory
 * statistics off: with them on, every sqlite3_malloc() and free takes one
 * global mutex, which the writer and all the reader threads then contend for.
 */
static void global_config(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static int sq_open(const char *url, int flags, struct db **out, struct err *e)
{
	struct sq_db *d;
	const char *path = url;
	bool readonly = flags & DB_OPEN_READONLY;
	int oflags = SQLITE_OPEN_NOMUTEX;
	int rc;

	*out = NULL;
	pthread_once(&global_once, global_config);
	if (strncmp(path, "sqlite:", 7) == 0) {
		path += 7;
		if (strncmp(path, "//", 2) == 0)
			path += 2;
	}
	if (!*path)
		return err_set(e, ERR_INTERNAL, NULL, "数据库地址 '%s' 中没有文件名",
			       "no file name in database url '%s'", url);
	if (readonly)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | (flags & DB_OPEN_CREATE ? SQLITE_OPEN_CREATE : 0);

	d = xcalloc(1, sizeof *d);
	d->base.ops = &db_sqlite_ops;
	d->path = xstrdup(path);
	TAILQ_INIT(&d->lru);
	rc = sqlite3_open_v2(path, &d->h, oflags, NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(e, ERR_UNAVAILABLE, NULL, "无法打开数据库 '%s'：%s",
			     "cannot open database '%s': %s", path,
			     d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
		goto out_close;
	}
	rc = configure(d, readonly, e);
	if (rc < 0)
		goto out_close;
	*out = &d->base;
	return 0;

out_close:
	sq_close(&d->base);
	return rc;
}

static void free_stmt(struct sq_stmt *st)
{
	sqlite3_finalize(st->s);
	free(st->sql);
	free(st);
}

static void sq_close(struct db *db)
{
	struct sq_db *d = to_sq(db);
	struct sq_stmt *st;

	while ((st = TAILQ_FIRST(&d->lru))) {
		TAILQ_REMOVE(&d->lru, st, lru);
		free_stmt(st);
	}
	/* _v2: a statement the caller failed to finalize keeps the handle alive */
	sqlite3_close_v2(d->h);
	free(d->path);
	free(d);
}

static int sq_exec(struct db *db, const char *sql, struct err *e)
{
	struct sq_db *d = to_sq(db);
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		rc = map_error(rc, msg, e);
	sqlite3_free(msg);
	return rc;
}

/* ---- statements and the cache ---- */

static struct sq_stmt **bucket(struct sq_db *d, uint64_t h)
{
	return &d->buckets[h & (CACHE_BUCKETS - 1)];
}

static struct sq_stmt **addr_slot(struct sq_db *d, const char *sql)
{
	uintptr_t a = (uintptr_t)sql;
	return &d->by_addr[(a >> 3 ^ a >> 11) & (ADDR_SLOTS - 1)];
}

static void cache_unlink(struct sq_db *d, struct sq_stmt *st)
{
	struct sq_stmt **pp = bucket(d, st->hash);
	struct sq_stmt **slot = addr_slot(d, st->addr);

	if (*slot == st)
		*slot = NULL;
	while (*pp != st)
		pp = &(*pp)->chain;
	*pp = st->chain;
	TAILQ_REMOVE(&d->lru, st, lru);
	d->ncached--;
}

/* Make room for one more cached statement; false if every cached one is in use. */
static bool cache_make_room(struct sq_db *d)
{
	struct sq_stmt *st;

	if (d->ncached < CACHE_MAX)
		return true;
	TAILQ_FOREACH_REVERSE(st, &d->lru, sq_lru, lru) {
		if (!st->in_use) {
			cache_unlink(d, st);
			free_stmt(st);
			return true;
		}
	}
	return false;
}

static int compile(struct sq_db *d, const char *sql, bool persistent, sqlite3_stmt **out,
		   bool *ret_rowid, struct err *e)
{
	char *q = xstrdup(sql);
	const char *tail = NULL;
	char table[64];
	size_t cut;
	int rc;

	*out = NULL;
	rewrite_params(q);
	*ret_rowid = false;
	if ((cut = returning_cut(q, table, sizeof table)) && id_is_rowid(d, table)) {
		q[cut] = '\0';
		*ret_rowid = true;
	}
	rc = sqlite3_prepare_v3(d->h, q, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, out,
				&tail);
	if (rc != SQLITE_OK) {
		rc = db_error(d, rc, e);
		goto out;
	}
	if (!*out) {
		rc = err_set(e, ERR_INTERNAL, NULL, "SQL 中没有语句", "no statement in sql");
		goto out;
	}
	if (tail && !only_trailer(tail)) {
		sqlite3_finalize(*out);
		*out = NULL;
		rc = err_set(e, ERR_INTERNAL, NULL, "只能预编译一条语句：'%.60s'",
			     "only one statement can be prepared: '%.60s'", sql);
		goto out;
	}
	rc = 0;
out:
	free(q);
	return rc;
}

static int sq_prepare(struct db *db, const char *sql, struct db_stmt **out, struct err *e)
{
	struct sq_db *d = to_sq(db);
	uint64_t h = 0;
	struct sq_stmt *st;
	sqlite3_stmt *s = NULL;
	bool cache, ret_rowid;
	int rc;

	*out = NULL;
	st = *addr_slot(d, sql);
	if (!st || st->addr != sql || strcmp(st->sql, sql) != 0) {
		for (st = *bucket(d, h = hash_sql(sql)); st; st = st->chain)
			if (st->hash == h && strcmp(st->sql, sql) == 0)
				break;
		if (st) {
			struct sq_stmt **slot = addr_slot(d, st->addr);
			if (*slot == st)
				*slot = NULL;
			st->addr = sql;
			*addr_slot(d, sql) = st;
		}
	}
	if (st && !st->in_use) {
		st->in_use = true;
		TAILQ_REMOVE(&d->lru, st, lru);
		TAILQ_INSERT_HEAD(&d->lru, st, lru);
		*out = &st->base;
		return 0;
	}
	/* cached but busy (nested use): a private copy; otherwise try to cache it */
	cache = !st;
	if (cache && !h)
		h = hash_sql(sql);
	rc = compile(d, sql, cache, &s, &ret_rowid, e);
	if (rc < 0)
		return rc;
	if (cache)
		cache = cache_make_room(d);
	st = xcalloc(1, sizeof *st);
	st->base.ops = &db_sqlite_ops;
	st->db = d;
	st->s = s;
	st->hash = h;
	st->in_use = true;
	st->ret_rowid = ret_rowid;
	if (cache) {
		struct sq_stmt **b = bucket(d, h);
		st->sql = xstrdup(sql);
		st->addr = sql;
		*addr_slot(d, sql) = st;
		st->chain = *b;
		*b = st;
		TAILQ_INSERT_HEAD(&d->lru, st, lru);
		d->ncached++;
	}
	*out = &st->base;
	return 0;
}

static int bind_rc(int rc)
{
	return rc == SQLITE_OK ? 0 : ERR_INTERNAL;
}

static int sq_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
	return bind_rc(sqlite3_bind_int64(to_st(st)->s, idx, v));
}

static int sq_bind_double(struct db_stmt *st, int idx, double v)
{
	return bind_rc(sqlite3_bind_double(to_st(st)->s, idx, v));
}

static int sq_bind_text(struct db_stmt *st, int idx, const char *s, size_t len)
{
	return bind_rc(sqlite3_bind_text64(to_st(st)->s, idx, s, len, SQLITE_TRANSIENT,
					   SQLITE_UTF8));
}

static int sq_bind_text_ref(struct db_stmt *st, int idx, const char *s, size_t len)
{
	return bind_rc(sqlite3_bind_text64(to_st(st)->s, idx, s, len, SQLITE_STATIC, SQLITE_UTF8));
}

static int sq_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len)
{
	/* a NULL pointer would bind SQL NULL; an empty blob stays a blob */
	return bind_rc(sqlite3_bind_blob64(to_st(st)->s, idx, p ? p : "", len, SQLITE_TRANSIENT));
}

static int sq_bind_null(struct db_stmt *st, int idx)
{
	return bind_rc(sqlite3_bind_null(to_st(st)->s, idx));
}

/* sq_step of an INSERT whose RETURNING id was cut (returning_cut). */
static int step_rowid(struct sq_stmt *st, struct err *e)
{
	if (st->ret_state) {
		st->ret_state = 2;
		return DB_DONE;
	}
	int rc = sqlite3_step(st->s);
	if (rc != SQLITE_DONE)
		return db_error(st->db, rc, e);
	st->ret_state = 2;
	if (sqlite3_changes64(st->db->h) == 0)
		return DB_DONE; /* a trigger's RAISE(IGNORE): no row, as RETURNING would say */
	st->ret_id = sqlite3_last_insert_rowid(st->db->h);
	st->ret_state = 1;
	return DB_ROW;
}

static int sq_step(struct db_stmt *bst, struct err *e)
{
	struct sq_stmt *st = to_st(bst);
	if (st->ret_rowid)
		return step_rowid(st, e);
	int rc = sqlite3_step(st->s);

	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE)
		return DB_DONE;
	return db_error(st->db, rc, e);
}

/* On the row of a cut RETURNING id, column 0 is the id. */
static bool on_rowid(const struct sq_stmt *st, int col)
{
	return st->ret_rowid && st->ret_state == 1 && col == 0;
}

static int sq_column_count(struct db_stmt *st)
{
	return to_st(st)->ret_rowid ? 1 : sqlite3_column_count(to_st(st)->s);
}

static bool sq_column_is_null(struct db_stmt *st, int col)
{
	if (to_st(st)->ret_rowid)
		return !on_rowid(to_st(st), col);
	return sqlite3_column_type(to_st(st)->s, col) == SQLITE_NULL;
}

static int64_t sq_column_int64(struct db_stmt *st, int col)
{
	if (to_st(st)->ret_rowid)
		return on_rowid(to_st(st), col) ? to_st(st)->ret_id : 0;
	return sqlite3_column_int64(to_st(st)->s, col);
}

static double sq_column_double(struct db_stmt *st, int col)
{
	if (to_st(st)->ret_rowid)
		return on_rowid(to_st(st), col) ? (double)to_st(st)->ret_id : 0;
	return sqlite3_column_double(to_st(st)->s, col);
}

static const char *sq_column_text(struct db_stmt *bst, int col, size_t *len)
{
	struct sq_stmt *rst = to_st(bst);
	if (rst->ret_rowid) {
		rst->ret_text[0] = '\0';
		if (on_rowid(rst, col))
			snprintf(rst->ret_text, sizeof rst->ret_text, "%lld", (long long)rst->ret_id);
		if (len)
			*len = strlen(rst->ret_text);
		return rst->ret_text;
	}
	sqlite3_stmt *s = rst->s;
	const unsigned char *t = sqlite3_column_text(s, col);

	if (len)
		*len = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
	return t ? (const char *)t : "";
}

static const void *sq_column_blob(struct db_stmt *bst, int col, size_t *len)
{
	sqlite3_stmt *s = to_st(bst)->s;
	const void *p = sqlite3_column_blob(s, col);

	if (len)
		*len = p ? (size_t)sqlite3_column_bytes(s, col) : 0;
	return p ? p : "";
}

static const char *sq_column_name(struct db_stmt *st, int col)
{
	if (to_st(st)->ret_rowid)
		return col == 0 ? "id" : "";
	const char *n = sqlite3_column_name(to_st(st)->s, col);
	return n ? n : "";
}

static void sq_reset(struct db_stmt *bst)
{
	struct sq_stmt *st = to_st(bst);

	sqlite3_reset(st->s);
	sqlite3_clear_bindings(st->s);
	st->ret_state = 0;
}

static void sq_finalize(struct db_stmt *bst)
{
	struct sq_stmt *st = to_st(bst);

	if (!st->sql) {
		free_stmt(st);
		return;
	}
	sqlite3_reset(st->s);
	sqlite3_clear_bindings(st->s);
	st->ret_state = 0;
	st->in_use = false;
}

static int64_t sq_changes(struct db *db)
{
	return sqlite3_changes64(to_sq(db)->h);
}

/* ---- transactions ---- */

/* Run a statement without parameters through the cache. */
static int run(struct sq_db *d, const char *sql, struct err *e)
{
	struct db_stmt *st;
	int rc;

	rc = sq_prepare(&d->base, sql, &st, e);
	if (rc < 0)
		return rc;
	rc = sq_step(st, e);
	sq_finalize(st);
	return rc < 0 ? rc : 0;
}

static int sq_begin(struct db *db, bool write, struct err *e)
{
	return run(to_sq(db), write ? "BEGIN IMMEDIATE" : "BEGIN", e);
}

static int sq_commit(struct db *db, struct err *e)
{
	return run(to_sq(db), "COMMIT", e);
}

static int sq_rollback(struct db *db)
{
	struct sq_db *d = to_sq(db);

	if (sqlite3_get_autocommit(d->h))
		return 0; /* no transaction (or SQLite already rolled it back) */
	return run(d, "ROLLBACK", NULL);
}

static bool sq_data_version(struct db *db, uint64_t *out)
{
	struct sq_db *d = to_sq(db);
	unsigned int v = 0;

	*out = 0;
	if (sqlite3_txn_state(d->h, "main") < SQLITE_TXN_READ)
		return false; /* updated when a read transaction begins */
	if (sqlite3_file_control(d->h, "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK)
		return false;
	*out = v;
	return true;
}

/* ---- backup and check ---- */

static int sq_backup(struct db *db, const char *dest, struct err *e)
{
	struct sq_db *d = to_sq(db);
	sqlite3 *dh = NULL;
	sqlite3_backup *b = NULL;
	bool created = false, snapshot = false;
	int busy = 0;
	int fd, rc;

	if (!sqlite3_get_autocommit(d->h))
		return err_set(e, ERR_INTERNAL, NULL, "不能在事务中备份",
			       "cannot back up inside a transaction");
	/* O_EXCL: never overwrite, even when two backups race for the same name */
	fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		char buf[128];
		int saved = errno;
		if (saved == EEXIST)
			return err_set(e, ERR_CONFLICT, NULL, "备份文件 '%s' 已存在",
				       "backup file '%s' already exists", dest);
		return err_set(e, ERR_INTERNAL, NULL, "无法创建备份文件 '%s'：%s",
			       "cannot create backup file '%s': %s", dest,
			       strerror_r(saved, buf, sizeof buf));
	}
	close(fd);
	created = true;

	rc = sqlite3_open_v2(dest, &dh, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法打开备份文件 '%s'：%s",
			     "cannot open backup file '%s': %s", dest,
			     dh ? sqlite3_errmsg(dh) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(dh, 1);

	/*
	 * Hold one read transaction on the source for the whole copy: every
	 * chunk then reads the same snapshot, and commits made meanwhile by other
	 * connections neither restart the backup nor leak into it.
	 */
	rc = run(d, "BEGIN", e);
	if (rc < 0)
		goto out;
	snapshot = true;
	rc = run(d, "SELECT count(*) FROM sqlite_master", e);
	if (rc < 0)
		goto out;

	b = sqlite3_backup_init(dh, "main", d->h, "main");
	if (!b) {
		rc = map_error(sqlite3_extended_errcode(dh), sqlite3_errmsg(dh), e);
		goto out;
	}
	for (;;) {
		rc = sqlite3_backup_step(b, BACKUP_PAGES);
		if (rc == SQLITE_DONE)
			break;
		if (rc == SQLITE_OK)
			continue;
		if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy++ < 1000) {
			sqlite3_sleep(5);
			continue;
		}
		break;
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		rc = map_error(rc, sqlite3_errmsg(dh), e);
		goto out;
	}
	/* The copy is one self-contained file: no -wal or -shm beside it. */
	rc = sqlite3_exec(dh, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = map_error(sqlite3_extended_errcode(dh), sqlite3_errmsg(dh), e);
		goto out;
	}
	rc = 0;

out:
	if (snapshot)
		run(d, "ROLLBACK", NULL);
	if (dh)
		sqlite3_close_v2(dh);
	if (rc < 0 && created)
		unlink(dest);
	return rc;
}

static int sq_check(struct db *db, bool *ok, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc;

	*ok = false;
	rc = sq_prepare(db, "PRAGMA integrity_check", &st, e);
	if (rc < 0)
		goto out;
	rc = sq_step(st, e);
	if (rc < 0)
		goto out;
	if (rc != DB_ROW || strcmp(sq_column_text(st, 0, NULL), "ok") != 0) {
		err_set(e, ERR_INTERNAL, NULL, "数据库完整性检查失败：%s",
			"integrity check failed: %s",
			rc == DB_ROW ? sq_column_text(st, 0, NULL) : "no result");
		rc = 0;
		goto out;
	}
	sq_finalize(st);
	st = NULL;

	rc = sq_prepare(db, "PRAGMA foreign_key_check", &st, e);
	if (rc < 0)
		goto out;
	rc = sq_step(st, e);
	if (rc < 0)
		goto out;
	if (rc == DB_ROW) {
		err_set(e, ERR_INTERNAL, NULL, "外键检查失败：表 '%s' 的第 %lld 行引用了 '%s' 中不存在的记录",
			"foreign key check failed: table '%s' row %lld refers to a missing row in '%s'",
			sq_column_text(st, 0, NULL), (long long)sq_column_int64(st, 1),
			sq_column_text(st, 2, NULL));
		rc = 0;
		goto out;
	}
	*ok = true;
	rc = 0;
out:
	if (st)
		sq_finalize(st);
	return rc;
}

/*
 * WAL with synchronous=NORMAL: a COMMIT appends its frames to the WAL and
 * returns; the WAL is still synced when it is reset and around checkpoints,
 * so the database stays consistent after a power loss (SQLite's
 * documentation: a transaction may roll back, never corrupt). The pool makes
 * commits durable by syncing the WAL file itself before it acknowledges them.
 */
static int sq_commit_log(struct db *db, char *path, size_t n)
{
	struct sq_db *d = to_sq(db);
	char mode[32];
	struct err e;
	/* a read opens (creates) the WAL file if it is not there yet */
	if (query_text(d, "PRAGMA journal_mode", mode, sizeof mode, &e) < 0 ||
	    strcmp(mode, "wal") != 0 ||
	    query_text(d, "SELECT count(*) FROM sqlite_master", NULL, 0, &e) < 0)
		return -1;
	const char *main = sqlite3_db_filename(d->h, "main");
	const char *wal = main && *main ? sqlite3_filename_wal(main) : NULL;
	if (!wal || !*wal || strlen(wal) >= n)
		return -1;
	/* A checkpoint now syncs the WAL and the database (and the next write the WAL's new
	 * header): ten times fewer of them than the default 1,000 pages, and each copies a
	 * hot page (an index's last leaf, a counter row) once for ten times as many commits. */
	if (sqlite3_exec(d->h, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000", NULL,
			 NULL, NULL) != SQLITE_OK)
		return -1;
	memcpy(path, wal, strlen(wal) + 1);
	return 0;
}

static const char *sq_dialect(const char *word)
{
	static const struct {
		const char *word;
		const char *text;
	} words[] = {
		{"ID_PK", "INTEGER PRIMARY KEY"},
		{"BLOB", "BLOB"},
		{"SQL_HAS_TABLE", "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1"},
		{"SQL_INDEXES", "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
				"tbl_name = $1 AND sql IS NOT NULL ORDER BY name"},
		/* numbered parameters cost SQLite a lookup each when compiling (quadratic in a
		 * statement of thousands); anonymous ones are numbered in order for free */
		{"PARAM_IN_ORDER", "?"},
	};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(word, words[i].word) == 0)
			return words[i].text;
	return NULL;
}

const struct db_ops db_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.bind_int64 = sq_bind_int64,
	.bind_double = sq_bind_double,
	.bind_text = sq_bind_text,
	.bind_text_ref = sq_bind_text_ref,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.column_count = sq_column_count,
	.column_is_null = sq_column_is_null,
	.column_int64 = sq_column_int64,
	.column_double = sq_column_double,
	.column_text = sq_column_text,
	.column_blob = sq_column_blob,
	.column_name = sq_column_name,
	.reset = sq_reset,
	.finalize = sq_finalize,
	.changes = sq_changes,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.backup = sq_backup,
	.check = sq_check,
	.dialect = sq_dialect,
	.commit_log = sq_commit_log,
	.data_version = sq_data_version,
};
