/*
 * db.c — backend dispatch and the db_*() wrappers of db.h.
 *
 * db_open() picks the backend from the URL; every other wrapper calls through
 * the ops table of the connection or statement it is given. The convenience
 * calls db_execf/db_queryf/db_query_i64 bind their arguments from a string of
 * type letters so that core code can run a statement in one line.
 */
#include "db/db.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"

#include "base/banned.h"

static bool is_postgres_url(const char *url)
{
	return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0 ||
	       strncmp(url, "host=", 5) == 0;
}

static atomic_uint_fast64_t serials; /* connections opened */

int db_open(const char *url, int flags, struct db **out, struct err *e)
{
	*out = NULL;
	if (!url || !*url)
		return err_set(e, ERR_INTERNAL, NULL, "未指定数据库地址", "no database url given");
	if (is_postgres_url(url))
		return err_set(e, ERR_UNAVAILABLE, NULL, "尚未构建 PostgreSQL 后端",
			       "postgresql backend not built yet");
	int rc = db_sqlite_ops.open(url, flags, out, e);
	if (rc == 0)
		(*out)->serial = atomic_fetch_add(&serials, 1) + 1;
	return rc;
}

/* One module's deferred state on a connection. */
struct db_deferred_slot {
	const struct db_deferred_ops *ops;
	void *state;
	struct db_deferred_slot *next;
};

void db_close(struct db *db)
{
	struct db_deferred_slot *s, *next;

	if (!db)
		return;
	for (s = db->deferred; s; s = next) {
		next = s->next;
		s->ops->free(s->state);
		free(s);
	}
	db->deferred = NULL;
	db->ops->close(db);
}

void db_defer_enable(struct db *db)
{
	db->defer_enabled = true;
}

bool db_defers(struct db *db)
{
	return db->defer_enabled;
}

/* The module's state on db, created on first use. */
static void *state_of(struct db *db, const struct db_deferred_ops *ops)
{
	struct db_deferred_slot *s;

	for (s = db->deferred; s; s = s->next)
		if (s->ops == ops)
			return s->state;
	s = xcalloc(1, sizeof *s);
	s->ops = ops;
	s->state = ops->create();
	/* savepoints opened before it existed: remember the empty state for each */
	for (int i = 0; i < db->savepoints; i++)
		ops->savepoint(s->state);
	s->next = db->deferred;
	db->deferred = s;
	return s->state;
}

void *db_deferred(struct db *db, const struct db_deferred_ops *ops)
{
	return db->defer_enabled ? state_of(db, ops) : NULL;
}

int db_flush_deferred(struct db *db, struct err *e)
{
	for (struct db_deferred_slot *s = db->deferred; s; s = s->next) {
		int rc = s->ops->flush(db, s->state, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- generations bumped on commit: a deferred module of the db layer itself ---- */

/* Every generation bumped (db_bump_on_commit), in all: see db_generation. */
static atomic_uint_fast64_t all_bumps;

struct bumps {
	atomic_uint_fast64_t **v; /* requested, with repeats */
	size_t n, cap;
	size_t *marks;
	size_t nmarks, capmarks;
};

static void *bumps_create(void)
{
	return xcalloc(1, sizeof(struct bumps));
}

static void bumps_free(void *p)
{
	struct bumps *b = p;
	if (b) {
		free(b->v);
		free(b->marks);
	}
	free(b);
}

static void bumps_savepoint(void *p)
{
	struct bumps *b = p;
	if (b->nmarks == b->capmarks) {
		b->capmarks = b->capmarks ? 2 * b->capmarks : 8;
		b->marks = xrealloc(b->marks, b->capmarks * sizeof *b->marks);
	}
	b->marks[b->nmarks++] = b->n;
}

static void bumps_release(void *p)
{
	struct bumps *b = p;
	if (b->nmarks)
		b->nmarks--;
}

static void bumps_rollback_to(void *p)
{
	struct bumps *b = p;
	if (b->nmarks)
		b->n = b->marks[b->nmarks - 1];
}

static int bumps_flush(struct db *db, void *p, struct err *e)
{
	(void)db;
	(void)p;
	(void)e;
	return 0;
}

static void bumps_committed(void *p)
{
	struct bumps *b = p;
	for (size_t i = 0; i < b->n; i++) {
		size_t j;
		for (j = 0; j < i && b->v[j] != b->v[i]; j++)
			;
		if (j == i) { /* once per generation */
			atomic_fetch_add(b->v[i], 1);
			atomic_fetch_add(&all_bumps, 1);
		}
	}
}

static void bumps_reset(void *p)
{
	struct bumps *b = p;
	b->n = b->nmarks = 0;
}

static const struct db_deferred_ops bumps_ops = {
	.create = bumps_create,
	.free = bumps_free,
	.savepoint = bumps_savepoint,
	.release = bumps_release,
	.rollback_to = bumps_rollback_to,
	.flush = bumps_flush,
	.committed = bumps_committed,
	.reset = bumps_reset,
};

void db_bump_on_commit(struct db *db, atomic_uint_fast64_t *generation)
{
	if (!db->in_tx) { /* the statement before has committed already */
		atomic_fetch_add(generation, 1);
		atomic_fetch_add(&all_bumps, 1);
		return;
	}
	struct bumps *b = state_of(db, &bumps_ops); /* on any connection in a transaction */
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i] == generation)
			return;
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 8;
		b->v = xrealloc(b->v, b->cap * sizeof *b->v);
	}
	b->v[b->n++] = generation;
}

static void reset_deferred(struct db *db)
{
	for (struct db_deferred_slot *s = db->deferred; s; s = s->next)
		s->ops->reset(s->state);
	db->savepoints = 0;
}

int db_exec(struct db *db, const char *sql, struct err *e)
{
	return db->ops->exec(db, sql, e);
}

int db_prepare(struct db *db, const char *sql, struct db_stmt **out, struct err *e)
{
	return db->ops->prepare(db, sql, out, e);
}

int db_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
	return st->ops->bind_int64(st, idx, v);
}

int db_bind_double(struct db_stmt *st, int idx, double v)
{
	return st->ops->bind_double(st, idx, v);
}

int db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	if (!s)
		return st->ops->bind_null(st, idx);
	return st->ops->bind_text(st, idx, s, strlen(s));
}

int db_bind_textn(struct db_stmt *st, int idx, const char *s, size_t len)
{
	if (!s)
		return st->ops->bind_null(st, idx);
	return st->ops->bind_text(st, idx, s, len);
}

int db_bind_text_ref(struct db_stmt *st, int idx, const char *s, size_t len)
{
	if (!s)
		return st->ops->bind_null(st, idx);
	return st->ops->bind_text_ref(st, idx, s, len);
}

int db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len)
{
	return st->ops->bind_blob(st, idx, p, len);
}

int db_bind_null(struct db_stmt *st, int idx)
{
	return st->ops->bind_null(st, idx);
}

int db_step(struct db_stmt *st, struct err *e)
{
	return st->ops->step(st, e);
}

int db_column_count(struct db_stmt *st)
{
	return st->ops->column_count(st);
}

bool db_column_is_null(struct db_stmt *st, int col)
{
	return st->ops->column_is_null(st, col);
}

int64_t db_column_int64(struct db_stmt *st, int col)
{
	return st->ops->column_int64(st, col);
}

double db_column_double(struct db_stmt *st, int col)
{
	return st->ops->column_double(st, col);
}

const char *db_column_text(struct db_stmt *st, int col)
{
	return st->ops->column_text(st, col, NULL);
}

const char *db_column_textn(struct db_stmt *st, int col, size_t *len)
{
	return st->ops->column_text(st, col, len);
}

const void *db_column_blob(struct db_stmt *st, int col, size_t *len)
{
	return st->ops->column_blob(st, col, len);
}

const char *db_column_name(struct db_stmt *st, int col)
{
	return st->ops->column_name(st, col);
}

void db_reset(struct db_stmt *st)
{
	st->ops->reset(st);
}

void db_finalize(struct db_stmt *st)
{
	if (st)
		st->ops->finalize(st);
}

int64_t db_changes(struct db *db)
{
	return db->ops->changes(db);
}

int db_begin(struct db *db, bool write, struct err *e)
{
	int rc = db->ops->begin(db, write, e);
	if (rc == 0)
		db->in_tx = true;
	return rc;
}

int db_commit(struct db *db, struct err *e)
{
	int rc = db_flush_deferred(db, e);
	if (rc)
		return rc; /* the caller rolls back */
	rc = db->ops->commit(db, e);
	if (rc == 0) {
		db->in_tx = false;
		db->in_read = false;
		for (struct db_deferred_slot *s = db->deferred; s; s = s->next)
			if (s->ops->committed)
				s->ops->committed(s->state);
		reset_deferred(db);
	}
	return rc;
}

int db_rollback(struct db *db)
{
	db->in_tx = false;
	db->in_read = false;
	reset_deferred(db);
	return db->ops->rollback(db);
}

/* A statement without parameters through the statement cache (exec would parse it each time). */
static int run_cached(struct db *db, const char *sql, struct err *e)
{
	int rc = db_execf(db, e, sql, NULL);
	return rc < 0 ? rc : 0;
}

int db_savepoint(struct db *db, struct err *e)
{
	int rc = run_cached(db, "SAVEPOINT j", e);
	if (rc)
		return rc;
	db->savepoints++;
	for (struct db_deferred_slot *s = db->deferred; s; s = s->next)
		s->ops->savepoint(s->state);
	return 0;
}

int db_release(struct db *db, struct err *e)
{
	int rc = run_cached(db, "RELEASE j", e);
	if (rc)
		return rc;
	db->savepoints--;
	for (struct db_deferred_slot *s = db->deferred; s; s = s->next)
		s->ops->release(s->state);
	return 0;
}

int db_rollback_to(struct db *db, struct err *e)
{
	int rc = run_cached(db, "ROLLBACK TO j", e);
	if (rc)
		return rc;
	for (struct db_deferred_slot *s = db->deferred; s; s = s->next)
		s->ops->rollback_to(s->state);
	return 0;
}

int db_read_begin(struct db *db, struct err *e)
{
	if (db->in_tx)
		return 0;
	/* before the snapshot is taken: any bump after this may be missing from it */
	uint64_t bumps = atomic_load(&all_bumps);
	int rc = db_begin(db, false, e);
	if (rc == 0) {
		db->in_read = true;
		db->read_bumps = bumps;
	}
	return rc;
}

void db_read_end(struct db *db)
{
	struct err e;

	if (!db || !db->in_read)
		return;
	db->in_read = false;
	err_clear(&e);
	if (db_commit(db, &e) != 0) /* a read-only transaction: nothing to lose */
		db_rollback(db);
}

bool db_reading(struct db *db)
{
	return db->in_read;
}

bool db_generation(struct db *db, atomic_uint_fast64_t *generation, uint64_t *out)
{
	*out = atomic_load(generation);
	return !db->in_read || atomic_load(&all_bumps) == db->read_bumps;
}

bool db_data_version(struct db *db, uint64_t *out)
{
	*out = 0;
	return db->ops->data_version && db->ops->data_version(db, out);
}

int db_backup(struct db *db, const char *dest, struct err *e)
{
	return db->ops->backup(db, dest, e);
}

int db_check(struct db *db, bool *ok, struct err *e)
{
	return db->ops->check(db, ok, e);
}

const char *db_backend_name(struct db *db)
{
	return db->ops->name;
}

/* Bind the arguments described by types (see db.h) to st, parameter 1 first. */
static int bind_va(struct db_stmt *st, const char *types, va_list ap, struct err *e)
{
	int idx = 0;
	int rc = 0;

	for (const char *t = types ? types : ""; *t; t++) {
		idx++;
		switch (*t) {
		case 'i':
			rc = db_bind_int64(st, idx, va_arg(ap, int64_t));
			break;
		case 'I': {
			int64_t v = va_arg(ap, int64_t);
			rc = v ? db_bind_int64(st, idx, v) : db_bind_null(st, idx);
			break;
		}
		case 'd':
			rc = db_bind_double(st, idx, va_arg(ap, double));
			break;
		case 't':
			rc = db_bind_text(st, idx, va_arg(ap, const char *));
			break;
		case 'n':
			rc = db_bind_null(st, idx);
			break;
		default:
			return err_set(e, ERR_INTERNAL, NULL, "未知的参数类型字母 '%c'",
				       "unknown parameter type letter '%c'", *t);
		}
		if (rc < 0)
			return err_set(e, ERR_INTERNAL, NULL, "无法绑定第 %d 个参数",
				       "cannot bind parameter %d", idx);
	}
	return 0;
}

static int queryv(struct db *db, struct db_stmt **out, struct err *e, const char *sql,
		  const char *types, va_list ap)
{
	struct db_stmt *st = NULL;
	int rc;

	*out = NULL;
	rc = db_prepare(db, sql, &st, e);
	if (rc < 0)
		goto out;
	rc = bind_va(st, types, ap, e);
	if (rc < 0)
		goto out_finalize;
	*out = st;
	return 0;

out_finalize:
	db_finalize(st);
out:
	return rc;
}

int db_execf(struct db *db, struct err *e, const char *sql, const char *types, ...)
{
	struct db_stmt *st = NULL;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = queryv(db, &st, e, sql, types, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW)
		;
	db_finalize(st);
	return rc;
}

int db_queryf(struct db *db, struct db_stmt **out, struct err *e, const char *sql,
	      const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = queryv(db, out, e, sql, types, ap);
	va_end(ap);
	return rc;
}

int db_query_i64(struct db *db, int64_t *out, struct err *e, const char *sql,
		 const char *types, ...)
{
	struct db_stmt *st = NULL;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = queryv(db, &st, e, sql, types, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		*out = db_column_int64(st, 0);
		rc = 0;
	} else if (rc == DB_DONE) {
		rc = err_set(e, ERR_NOT_FOUND, NULL, "查询没有结果", "query returned no row");
	}
	db_finalize(st);
	return rc;
}

static int args_add(struct db_args *a, char type)
{
	if (a->n >= DB_ARGS_MAX) {
		a->overflow = true;
		return DB_ARGS_MAX;
	}
	a->type[a->n] = type;
	return ++a->n;
}

int db_args_int(struct db_args *a, int64_t v)
{
	int k = args_add(a, 'i');
	if (!a->overflow)
		a->i[k - 1] = v;
	return k;
}

int db_args_double(struct db_args *a, double v)
{
	int k = args_add(a, 'd');
	if (!a->overflow)
		a->d[k - 1] = v;
	return k;
}

int db_args_text(struct db_args *a, const char *s)
{
	int k = args_add(a, 't');
	if (!a->overflow)
		a->t[k - 1] = s;
	return k;
}

int db_query_args(struct db *db, struct db_stmt **out, struct err *e, const char *sql,
		  const struct db_args *a)
{
	struct db_stmt *st = NULL;
	int rc;

	*out = NULL;
	if (a->overflow)
		return err_set(e, ERR_INTERNAL, NULL, "查询参数过多", "too many query parameters");
	rc = db_prepare(db, sql, &st, e);
	if (rc)
		return rc;
	for (int k = 0; k < a->n && rc >= 0; k++) {
		if (a->type[k] == 'i')
			rc = db_bind_int64(st, k + 1, a->i[k]);
		else if (a->type[k] == 'd')
			rc = db_bind_double(st, k + 1, a->d[k]);
		else
			rc = db_bind_text(st, k + 1, a->t[k]);
	}
	if (rc < 0) {
		db_finalize(st);
		return err_set(e, ERR_INTERNAL, NULL, "无法绑定查询参数", "cannot bind query parameters");
	}
	*out = st;
	return 0;
}

void db_like_contains(const char *q, char *out, size_t n)
{
	size_t k = 0;
	if (n < 3) {
		if (n)
			out[0] = '\0';
		return;
	}
	out[k++] = '%';
	while (*q) {
		/* the whole next character, escaped if it is special */
		size_t len = 1;
		while (((unsigned char)q[len] & 0xC0) == 0x80)
			len++;
		bool special = *q == '%' || *q == '_' || *q == '\\';
		if (k + len + special + 2 > n)
			break;
		if (special)
			out[k++] = '\\';
		memcpy(out + k, q, len);
		k += len;
		q += len;
	}
	out[k++] = '%';
	out[k] = '\0';
}

/* ---- multi-row INSERT ---- */

struct db_bulk_val {
	char type;           /* 'i', 'd', 't' (text at off, len), 'n' */
	int64_t i;
	double d;
	size_t off, len;
};

/* "INSERT INTO <into> VALUES ($1, ..), (..)" for rows rows of ncols. Caller frees. */
static char *bulk_sql(const struct db_bulk *b, size_t rows)
{
	const char *anon = b->db->ops->dialect("PARAM_IN_ORDER");
	struct buf q;
	int k = 1;
	buf_init(&q, 0);
	buf_adds(&q, b->head);
	for (size_t r = 0; r < rows; r++) {
		buf_adds(&q, r ? ", (" : "(");
		for (int c = 0; c < b->ncols; c++, k++) {
			if (c)
				buf_adds(&q, ", ");
			if (anon)
				buf_adds(&q, anon);
			else
				buf_addf(&q, "$%d", k);
		}
		buf_addc(&q, ')');
	}
	return buf_detach(&q, NULL);
}

void db_bulk_init(struct db_bulk *b, struct db *db, const char *into, int ncols, int per_stmt)
{
	struct buf h;
	memset(b, 0, sizeof *b);
	b->db = db;
	b->ncols = ncols;
	b->per_stmt = per_stmt > 0 ? per_stmt : 1;
	buf_init(&h, 0);
	buf_addf(&h, "INSERT INTO %s VALUES ", into);
	b->head = buf_detach(&h, NULL);
	b->cap = (size_t)b->per_stmt;
	b->v = xcalloc(b->cap * (size_t)ncols + 1, sizeof *b->v); /* + a spare */
	b->sql_full = bulk_sql(b, (size_t)b->per_stmt);
}

static struct db_bulk_val *next_val(struct db_bulk *b)
{
	if (b->col >= b->ncols) { /* a row with too many values: db_bulk_row fails it */
		b->col++;
		return &b->v[b->cap * (size_t)b->ncols]; /* the spare slot */
	}
	if (b->col == 0 && b->rows == b->cap) {
		b->cap *= 2;
		b->v = xrealloc(b->v, (b->cap * (size_t)b->ncols + 1) * sizeof *b->v);
	}
	return &b->v[b->rows * (size_t)b->ncols + (size_t)b->col++];
}

void db_bulk_int(struct db_bulk *b, int64_t v)
{
	struct db_bulk_val *x = next_val(b);
	x->type = 'i';
	x->i = v;
}

void db_bulk_double(struct db_bulk *b, double v)
{
	struct db_bulk_val *x = next_val(b);
	x->type = 'd';
	x->d = v;
}

void db_bulk_null(struct db_bulk *b)
{
	next_val(b)->type = 'n';
}

static size_t add_text(struct db_bulk *b, const char *s, size_t n)
{
	if (b->text_len + n + 1 > b->text_cap) {
		b->text_cap = b->text_cap ? 2 * b->text_cap : 4096;
		while (b->text_cap < b->text_len + n + 1)
			b->text_cap *= 2;
		b->text = xrealloc(b->text, b->text_cap);
	}
	memcpy(b->text + b->text_len, s, n);
	b->text[b->text_len + n] = '\0';
	size_t off = b->text_len;
	b->text_len += n + 1;
	return off;
}

void db_bulk_text(struct db_bulk *b, const char *s)
{
	if (!s) {
		db_bulk_null(b);
		return;
	}
	size_t n = strlen(s), off = add_text(b, s, n);
	struct db_bulk_val *x = next_val(b);
	x->type = 't';
	x->off = off;
	x->len = n;
}

int db_bulk_row(struct db_bulk *b, struct err *e)
{
	if (b->col != b->ncols) {
		int n = b->col;
		b->col = 0;
		return err_set(e, ERR_INTERNAL, NULL, "批量插入的行有 %d 个值而不是 %d 个",
			       "a multi-row insert row with %d values instead of %d", n, b->ncols);
	}
	b->col = 0;
	b->rows++;
	return 0;
}

size_t db_bulk_pending(const struct db_bulk *b)
{
	return b->rows;
}

/* One statement for rows [first, first + n). */
static int write_rows(struct db_bulk *b, size_t first, size_t n, struct err *e)
{
	struct db_stmt *st = NULL;
	char *sql = n == (size_t)b->per_stmt ? NULL : bulk_sql(b, n);
	int rc = db_prepare(b->db, sql ? sql : b->sql_full, &st, e);
	if (rc)
		goto out;
	const struct db_bulk_val *x = &b->v[first * (size_t)b->ncols];
	for (int i = 0, k = (int)n * b->ncols; i < k && !rc; i++, x++) {
		switch (x->type) {
		case 'i': rc = db_bind_int64(st, i + 1, x->i); break;
		case 'd': rc = db_bind_double(st, i + 1, x->d); break;
		case 't': rc = db_bind_text_ref(st, i + 1, b->text + x->off, x->len); break;
		default: rc = db_bind_null(st, i + 1); break;
		}
	}
	if (rc)
		rc = err_set(e, ERR_INTERNAL, NULL, "无法绑定批量插入的值",
			     "cannot bind the values of a multi-row insert");
	else if ((rc = db_step(st, e)) > 0)
		rc = 0;
	db_finalize(st);
	if (!rc)
		b->written += (int64_t)n;
out:
	free(sql);
	return rc;
}

int db_bulk_write(struct db_bulk *b, bool all, struct err *e)
{
	size_t done = 0, per = (size_t)b->per_stmt;
	int rc = 0;

	while (!rc && b->rows - done >= per) {
		rc = write_rows(b, done, per, e);
		done += per;
	}
	if (!rc && all && b->rows > done) {
		rc = write_rows(b, done, b->rows - done, e);
		done = b->rows;
	}
	if (rc) {
		/* the statement failed: the transaction is to be rolled back; drop everything */
		b->rows = 0;
		b->text_len = 0;
		return rc;
	}
	/* keep the rest, at the front, with their texts */
	size_t rest = b->rows - done, nc = (size_t)b->ncols;
	if (done && rest) {
		struct db_bulk_val *v = b->v;
		memmove(v, v + done * nc, rest * nc * sizeof *v);
		char *old = b->text;
		b->text = NULL;
		b->text_len = b->text_cap = 0;
		for (size_t i = 0; i < rest * nc; i++)
			if (v[i].type == 't')
				v[i].off = add_text(b, old + v[i].off, v[i].len);
		free(old);
	} else if (!rest)
		b->text_len = 0;
	b->rows = rest;
	return 0;
}

void db_bulk_release(struct db_bulk *b)
{
	if (!b)
		return;
	free(b->head);
	free(b->v);
	free(b->text);
	free(b->sql_full);
	memset(b, 0, sizeof *b);
}

/* ---- indexes put aside during a load ---- */

static void index_set_release(struct db_index_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->sql[i]);
	free(s->sql);
	s->sql = NULL;
	s->n = 0;
}

int db_indexes_drop(struct db *db, const char *table, struct db_index_set *saved, struct err *e)
{
	const char *q = db->ops->dialect("SQL_INDEXES");
	struct db_stmt *st = NULL;
	size_t first = saved->n;
	char **names = NULL;
	size_t nnames = 0;
	int rc;

	if (!q)
		return err_set(e, ERR_INTERNAL, NULL, "后端不能列出索引",
			       "the backend cannot list indexes");
	if ((rc = db_queryf(db, &st, e, q, "t", table)))
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		saved->sql = xrealloc(saved->sql, (saved->n + 1) * sizeof *saved->sql);
		saved->sql[saved->n++] = xstrdup(db_column_text(st, 1));
		names = xrealloc(names, (nnames + 1) * sizeof *names);
		names[nnames++] = xstrdup(db_column_text(st, 0));
	}
	db_finalize(st);
	for (size_t i = 0; rc == DB_DONE && i < nnames; i++) {
		struct buf q2;
		buf_init(&q2, 0);
		buf_addf(&q2, "DROP INDEX %s", names[i]);
		if (db_exec(db, q2.p, e))
			rc = e->code;
		buf_release(&q2);
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (rc != DB_DONE && rc != 0) {
		/* nothing of this table was dropped for sure: forget its definitions */
		while (saved->n > first)
			free(saved->sql[--saved->n]);
		return rc;
	}
	return 0;
}

int db_indexes_restore(struct db *db, struct db_index_set *saved, struct err *e)
{
	int rc = 0;
	for (size_t i = 0; i < saved->n && !rc; i++)
		rc = db_exec(db, saved->sql[i], e);
	index_set_release(saved);
	return rc;
}
