/* notify.c — the in-app inbox; see notify.h. */
#include "jobs/notify.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/audit.h"
#include "db/db.h"
#include "base/banned.h"

int notify_add(struct db *db, int64_t tenant_id, int64_t user_id, const char *kind,
	       const char *title, const char *body, int64_t request_id, int64_t now, int64_t *id,
	       struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "INSERT INTO notifications (tenant_id, user_id, kind, title, body, "
			   "request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
			   "iitttIi", tenant_id, user_id, kind, title, body ? body : "", request_id,
			   now);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW && id)
		*id = db_column_int64(st, 0);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

#define COLS "id, user_id, kind, title, body, request_id, created_at, read_at"

static void read_row(struct db_stmt *st, struct notification *n)
{
	memset(n, 0, sizeof *n);
	n->id = db_column_int64(st, 0);
	n->user_id = db_column_int64(st, 1);
	snprintf(n->kind, sizeof n->kind, "%s", db_column_text(st, 2));
	snprintf(n->title, sizeof n->title, "%s", db_column_text(st, 3));
	snprintf(n->body, sizeof n->body, "%s", db_column_text(st, 4));
	n->request_id = db_column_is_null(st, 5) ? 0 : db_column_int64(st, 5);
	n->created_at = db_column_int64(st, 6);
	n->read_at = db_column_int64(st, 7);
}

int notify_list(struct db *db, int64_t tenant_id, int64_t user_id, const struct notify_filter *f,
		int (*each)(const struct notification *n, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int64_t after = f->after > 0 ? f->after : INT64_MAX;
	int64_t limit = f->limit > 0 && f->limit <= 200 ? f->limit : 50;
	int rc = db_queryf(db, &st, e,
			   f->unread ? "SELECT " COLS " FROM notifications WHERE tenant_id = $1 AND "
				       "user_id = $2 AND read_at = 0 AND id < $3 ORDER BY id DESC LIMIT $4"
				     : "SELECT " COLS " FROM notifications WHERE tenant_id = $1 AND "
				       "user_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
			   "iiii", tenant_id, user_id, after, limit);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct notification n;
		read_row(st, &n);
		if (each(&n, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int notify_unread_count(struct db *db, int64_t tenant_id, int64_t user_id, int64_t *out,
			struct err *e)
{
	return db_query_i64(db, out, e,
			    "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 "
			    "AND read_at = 0",
			    "ii", tenant_id, user_id);
}

int notify_get(struct db *db, int64_t tenant_id, int64_t user_id, int64_t id,
	       struct notification *out, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " COLS " FROM notifications WHERE tenant_id = $1 AND user_id = $2 "
			   "AND id = $3",
			   "iii", tenant_id, user_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_row(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "通知 %lld 不存在", "notification %lld does not exist",
			       (long long)id);
	return rc < 0 ? rc : 0;
}

int notify_mark_read(struct db *db, void *arg, struct err *e)
{
	struct notify_read *m = arg;
	const struct actor *who = m->who;
	int rc;

	m->changed = 0;
	if (m->id) {
		struct notification n;
		if ((rc = notify_get(db, who->tenant_id, who->user_id, m->id, &n, e)))
			return rc;
		if (n.read_at)
			return 0;
		rc = db_execf(db, e,
			      "UPDATE notifications SET read_at = $1 WHERE tenant_id = $2 AND id = $3 "
			      "AND read_at = 0",
			      "iii", m->now, who->tenant_id, m->id);
	} else {
		rc = db_execf(db, e,
			      "UPDATE notifications SET read_at = $1 WHERE tenant_id = $2 AND "
			      "user_id = $3 AND read_at = 0 AND id <= $4",
			      "iiii", m->now, who->tenant_id, who->user_id,
			      m->up_to > 0 ? m->up_to : INT64_MAX);
	}
	if (rc)
		return rc;
	m->changed = db_changes(db);
	if (!m->changed)
		return 0;
	json_t *sum = json_pack("{s:I}", "count", (json_int_t)m->changed);
	rc = audit_append(db, who, who->tenant_id, "notification", m->id, m->id ? "read" : "read_all",
			  sum, e);
	json_decref(sum);
	return rc;
}
