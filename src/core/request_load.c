/*
 * request_load.c — requests written fast (request_load.h).
 *
 * One stream per table: the items queued (pointers into the caller's
 * structs), and a multi-row INSERT of `per` rows prepared once and kept. When
 * `per` items are queued they are bound straight from the structs and the
 * statement is stepped and reset; a flush writes the rest with a statement
 * in statements of 2^k rows, also prepared once and kept (a statement of
 * many parameters costs milliseconds to prepare).
 */
#include "core/request_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "core/request_stats.h"
#include "db/db.h"
#include "base/banned.h"

struct item {
	const struct request *r;
	const void *x; /* the event or application; NULL for the request row */
};

struct stream {
	struct db *db;
	const char *into;
	int ncols, per;
	int (*bind)(struct db_stmt *st, int p, const struct item *it);
	struct db_stmt *full; /* per rows, held */
	struct db_stmt *part[16]; /* 2^k rows (< per), prepared when first needed and held */
	struct item *items;
	int n;
	int64_t written;
};

struct request_load {
	struct db *db;
	int parts;
	struct stream rows, events, apps;
};

static int bind_text(struct db_stmt *st, int p, const char *s)
{
	return s ? db_bind_text_ref(st, p, s, strlen(s)) : db_bind_text_ref(st, p, "", 0);
}

static int bind_opt_id(struct db_stmt *st, int p, int64_t v)
{
	return v ? db_bind_int64(st, p, v) : db_bind_null(st, p);
}

/* The 43 columns of a request row, in the order of ROW_COLS. */
#define ROW_COLS                                                                              \
	"requests (id, tenant_id, number, channel, req_type, category_id, enterprise_id, "      \
	"contact_name, contact_phone, title, content, address, lat, lon, grid_id, urgency, "    \
	"state, paused_from, department_id, handler_id, created_by, master_id, reopen_count, " \
	"supervision_level, received_at, dispatched_at, signed_at, replied_at, closed_at, "    \
	"sign_due_at, handle_due_at, visit_due_at, paused_at, paused_ms, extended_days, "      \
	"rating_solved, rating, rating_comment, closed_on_time, version, created_at, "         \
	"updated_at, clock_from)"

static int bind_row(struct db_stmt *st, int p, const struct item *it)
{
	const struct request *r = it->r;
	int rc = 0;
	rc |= db_bind_int64(st, p++, r->id);
	rc |= db_bind_int64(st, p++, r->tenant_id);
	rc |= bind_text(st, p++, r->number);
	rc |= bind_text(st, p++, r->channel);
	rc |= bind_text(st, p++, r->req_type);
	rc |= bind_opt_id(st, p++, r->category_id);
	rc |= bind_opt_id(st, p++, r->enterprise_id);
	rc |= bind_text(st, p++, r->contact_name);
	rc |= bind_text(st, p++, r->contact_phone);
	rc |= bind_text(st, p++, r->title);
	rc |= bind_text(st, p++, r->content);
	rc |= bind_text(st, p++, r->address);
	if (r->has_location) {
		rc |= db_bind_double(st, p++, r->lat);
		rc |= db_bind_double(st, p++, r->lon);
	} else {
		rc |= db_bind_null(st, p++);
		rc |= db_bind_null(st, p++);
	}
	rc |= bind_opt_id(st, p++, r->grid_id);
	rc |= bind_text(st, p++, r->urgency);
	rc |= bind_text(st, p++, req_state_name(r->state));
	rc |= bind_text(st, p++, r->state == RS_PAUSED ? req_state_name(r->paused_from) : "");
	rc |= bind_opt_id(st, p++, r->department_id);
	rc |= bind_opt_id(st, p++, r->handler_id);
	rc |= db_bind_int64(st, p++, r->created_by);
	rc |= bind_opt_id(st, p++, r->master_id);
	rc |= db_bind_int64(st, p++, r->reopen_count);
	rc |= db_bind_int64(st, p++, r->supervision_level);
	const int64_t times[] = {r->received_at, r->dispatched_at, r->signed_at, r->replied_at,
				 r->closed_at,   r->sign_due_at,   r->handle_due_at, r->visit_due_at,
				 r->paused_at,   r->paused_ms,     r->extended_days};
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
		rc |= db_bind_int64(st, p++, times[i]);
	rc |= r->rating_solved >= 0 ? db_bind_int64(st, p++, r->rating_solved) : db_bind_null(st, p++);
	rc |= bind_text(st, p++, r->rating);
	rc |= bind_text(st, p++, r->rating_comment);
	rc |= r->closed_on_time >= 0 ? db_bind_int64(st, p++, r->closed_on_time)
				     : db_bind_null(st, p++);
	rc |= db_bind_int64(st, p++, r->version);
	rc |= db_bind_int64(st, p++, r->created_at);
	rc |= db_bind_int64(st, p++, r->updated_at);
	rc |= db_bind_int64(st, p++, r->clock_from);
	return rc;
}

static int bind_event(struct db_stmt *st, int p, const struct item *it)
{
	const struct request_event *v = it->x;
	int rc = 0;
	rc |= db_bind_int64(st, p++, it->r->tenant_id);
	rc |= db_bind_int64(st, p++, it->r->id);
	rc |= db_bind_int64(st, p++, v->at);
	rc |= db_bind_int64(st, p++, v->actor_id);
	rc |= bind_text(st, p++, v->actor_name);
	rc |= bind_text(st, p++, v->action);
	rc |= bind_text(st, p++, v->from_state);
	rc |= bind_text(st, p++, v->to_state);
	rc |= bind_text(st, p++, v->public_note);
	rc |= bind_text(st, p++, v->internal_note);
	rc |= bind_text(st, p++, v->data ? v->data : "{}");
	return rc;
}

static int bind_app(struct db_stmt *st, int p, const struct item *it)
{
	const struct request_application *a = it->x;
	int rc = 0;
	rc |= db_bind_int64(st, p++, it->r->tenant_id);
	rc |= db_bind_int64(st, p++, it->r->id);
	rc |= bind_text(st, p++, a->kind);
	rc |= db_bind_int64(st, p++, a->days);
	rc |= bind_text(st, p++, a->reason);
	rc |= db_bind_int64(st, p++, a->applicant_id);
	rc |= db_bind_int64(st, p++, a->applied_at);
	rc |= bind_text(st, p++, a->status ? a->status : "pending");
	rc |= db_bind_int64(st, p++, a->decided_by);
	rc |= db_bind_int64(st, p++, a->decided_at);
	rc |= bind_text(st, p++, a->decision_note);
	return rc;
}

/* INSERT INTO <into> VALUES ($1, ...), ... for n rows. Caller frees. */
static char *insert_sql(const struct stream *s, int n)
{
	struct buf q;
	int k = 1;
	buf_init(&q, 0);
	buf_addf(&q, "INSERT INTO %s VALUES ", s->into);
	for (int r = 0; r < n; r++) {
		buf_adds(&q, r ? ", (" : "(");
		for (int c = 0; c < s->ncols; c++, k++)
			buf_addf(&q, c ? ", $%d" : "$%d", k);
		buf_addc(&q, ')');
	}
	return buf_detach(&q, NULL);
}

static int stream_open(struct stream *s, struct db *db, const char *into, int ncols, int per,
		       int (*bind)(struct db_stmt *, int, const struct item *), struct err *e)
{
	s->db = db;
	s->into = into;
	s->ncols = ncols;
	s->per = per;
	s->bind = bind;
	s->items = xcalloc((size_t)per, sizeof *s->items);
	char *sql = insert_sql(s, per);
	int rc = db_prepare(db, sql, &s->full, e);
	free(sql);
	return rc;
}

static void stream_free(struct stream *s)
{
	db_finalize(s->full);
	for (size_t k = 0; k < sizeof s->part / sizeof s->part[0]; k++)
		db_finalize(s->part[k]);
	free(s->items);
	memset(s, 0, sizeof *s);
}

/* Write n items from the queue's first with st, a statement of n rows. */
static int write_with(struct stream *s, struct db_stmt *st, int first, int n, struct err *e)
{
	int rc = 0;
	for (int i = first, p = 1; i < first + n && !rc; i++, p += s->ncols)
		rc = s->bind(st, p, &s->items[i]);
	if (rc)
		rc = err_set(e, ERR_INTERNAL, NULL, "无法绑定批量插入的值",
			     "cannot bind the values of a multi-row insert");
	else if ((rc = db_step(st, e)) > 0)
		rc = 0;
	db_reset(st);
	if (!rc)
		s->written += n;
	return rc;
}

/* Write the items queued: all at once when they fill the held statement, else by
 * statements of 2^k rows. */
static int stream_write(struct stream *s, struct err *e)
{
	int rc = 0, done = 0;
	if (!s->n)
		return 0;
	if (s->n == s->per)
		rc = write_with(s, s->full, 0, s->n, e);
	else
		for (int k = (int)(sizeof s->part / sizeof s->part[0]) - 1; k >= 0 && !rc; k--) {
			int n = 1 << k;
			if (s->n - done < n)
				continue;
			if (!s->part[k]) {
				char *sql = insert_sql(s, n);
				rc = db_prepare(s->db, sql, &s->part[k], e);
				free(sql);
			}
			if (!rc)
				rc = write_with(s, s->part[k], done, n, e);
			done += n;
		}
	s->n = 0;
	return rc;
}

static int stream_add(struct stream *s, const struct request *r, const void *x, struct err *e)
{
	s->items[s->n].r = r;
	s->items[s->n].x = x;
	return ++s->n == s->per ? stream_write(s, e) : 0;
}

int request_load_open(struct db *db, int parts, struct request_load **out, struct err *e)
{
	struct request_load *l = xcalloc(1, sizeof *l);
	int rc = 0;
	l->db = db;
	l->parts = parts;
	*out = NULL;
	if (parts & RL_ROWS)
		rc = stream_open(&l->rows, db, ROW_COLS, 43, 100, bind_row, e);
	if (!rc && (parts & RL_TIMELINE))
		rc = stream_open(&l->events, db,
				 "request_events (tenant_id, request_id, at, actor_id, actor_name, "
				 "action, from_state, to_state, public_note, internal_note, data)",
				 11, 200, bind_event, e);
	if (!rc && (parts & RL_TIMELINE))
		rc = stream_open(&l->apps, db,
				 "request_applications (tenant_id, request_id, kind, days, reason, "
				 "applicant_id, applied_at, status, decided_by, decided_at, "
				 "decision_note)",
				 11, 50, bind_app, e);
	if (rc) {
		request_load_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int request_load_add(struct request_load *l, const struct request *r,
		     const struct request_event *ev, size_t nev,
		     const struct request_application *apps, size_t napps, struct err *e)
{
	int rc = 0;
	if (l->parts & RL_ROWS)
		rc = stream_add(&l->rows, r, NULL, e);
	if (!rc && (l->parts & RL_TIMELINE)) {
		for (size_t i = 0; i < nev && !rc; i++)
			rc = stream_add(&l->events, r, &ev[i], e);
		for (size_t i = 0; i < napps && !rc; i++)
			rc = stream_add(&l->apps, r, &apps[i], e);
	}
	if (!rc && (l->parts & RL_COUNTERS))
		rc = request_stats_apply(l->db, NULL, r, e);
	return rc;
}

int request_load_flush(struct request_load *l, struct err *e)
{
	int rc = stream_write(&l->rows, e);
	if (!rc)
		rc = stream_write(&l->events, e);
	return rc ? rc : stream_write(&l->apps, e);
}

void request_load_counts(const struct request_load *l, int64_t *requests, int64_t *events,
			 int64_t *apps)
{
	*requests = l->rows.written;
	*events = l->events.written;
	*apps = l->apps.written;
}

void request_load_free(struct request_load *l)
{
	if (!l)
		return;
	stream_free(&l->rows);
	stream_free(&l->events);
	stream_free(&l->apps);
	free(l);
}
