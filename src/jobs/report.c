/* report.c — the daily summary of requests; see report.h. */
#include "jobs/report.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/xalloc.h"
#include "core/request.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

static int count(struct db *db, int64_t tenant_id, const char *col, int64_t from, int64_t to,
		 int64_t *out, struct err *e)
{
	char sql[200];
	snprintf(sql, sizeof sql,
		 "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND %s >= $2 AND %s < $3", col,
		 col);
	return db_query_i64(db, out, e, sql, "iii", tenant_id, from, to);
}

int report_daily_build(struct db *db, int64_t tenant_id, int64_t day, int64_t now, json_t **out,
		       struct err *e)
{
	static const char *const cols[] = {"received_at", "dispatched_at", "replied_at",
					   "closed_at"};
	static const char *const names[] = {"received", "dispatched", "replied", "closed"};
	int64_t from = workcal_utc_ms(day, 0), to = workcal_utc_ms(day + 1, 0), v;
	struct db_stmt *st = NULL;
	char date[16];
	json_t *j = NULL, *totals = json_object(), *depts = json_array();
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; i < 4 && !rc; i++)
		if (!(rc = count(db, tenant_id, cols[i], from, to, &v, e)))
			json_object_set_new(totals, names[i], json_integer(v));
	if (!rc)
		rc = db_query_i64(db, &v, e,
				  "SELECT COUNT(*) FROM requests WHERE tenant_id = $1 AND "
				  REQ_HANDLING_SQL " AND handle_due_at > 0 AND handle_due_at < $2",
				  "ii", tenant_id, to);
	if (rc)
		goto out;
	json_object_set_new(totals, "overdue", json_integer(v));

	rc = db_queryf(db, &st, e,
		       "SELECT r.department_id, d.name, d.path, "
		       "SUM(CASE WHEN r.dispatched_at >= $2 AND r.dispatched_at < $3 THEN 1 ELSE 0 END), "
		       "SUM(CASE WHEN r.replied_at >= $2 AND r.replied_at < $3 THEN 1 ELSE 0 END), "
		       "SUM(CASE WHEN r.closed_at >= $2 AND r.closed_at < $3 THEN 1 ELSE 0 END), "
		       "SUM(CASE WHEN r.state IN ('dispatched', 'signed', 'in_progress') AND "
		       "r.handle_due_at > 0 AND r.handle_due_at < $3 THEN 1 ELSE 0 END) "
		       "FROM requests r JOIN departments d ON d.id = r.department_id "
		       "WHERE r.tenant_id = $1 AND r.department_id IS NOT NULL AND "
		       "((r.dispatched_at >= $2 AND r.dispatched_at < $3) OR (r.replied_at >= $2 AND "
		       "r.replied_at < $3) OR (r.closed_at >= $2 AND r.closed_at < $3) OR "
		       "(r.state IN ('dispatched', 'signed', 'in_progress') AND r.handle_due_at > 0 "
		       "AND r.handle_due_at < $3)) "
		       "GROUP BY r.department_id, d.name, d.path ORDER BY r.department_id",
		       "iii", tenant_id, from, to);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW)
		json_array_append_new(
			depts, json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I}", "department_id",
					 (json_int_t)db_column_int64(st, 0), "department_name",
					 db_column_text(st, 1), "department_path", db_column_text(st, 2),
					 "dispatched", (json_int_t)db_column_int64(st, 3), "replied",
					 (json_int_t)db_column_int64(st, 4), "closed",
					 (json_int_t)db_column_int64(st, 5), "overdue",
					 (json_int_t)db_column_int64(st, 6)));
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;

	json_t *head = json_null();
	rc = db_queryf(db, &st, e,
		       "SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1",
		       "i", tenant_id);
	if (rc)
		goto out;
	if ((rc = db_step(st, e)) == DB_ROW)
		head = json_pack("{s:I,s:s}", "seq", (json_int_t)db_column_int64(st, 0), "hash",
				 db_column_text(st, 1));
	db_finalize(st);
	st = NULL;
	if (rc < 0) {
		json_decref(head);
		goto out;
	}
	rc = 0;
	workcal_format_date(day, date, sizeof date);
	j = json_pack("{s:s,s:I,s:I,s:I,s:o,s:o,s:o}", "day", date, "from", (json_int_t)from, "to",
		      (json_int_t)to, "generated_at", (json_int_t)now, "totals", totals,
		      "by_department", depts, "audit_head", head);
	totals = depts = NULL;
	*out = j;
out:
	db_finalize(st);
	json_decref(totals);
	json_decref(depts);
	return rc;
}

int report_daily_exists(struct db *db, int64_t tenant_id, const char *day, bool *out,
			struct err *e)
{
	int64_t n = 0;
	int rc = db_query_i64(db, &n, e,
			      "SELECT COUNT(*) FROM daily_reports WHERE tenant_id = $1 AND day = $2",
			      "it", tenant_id, day);
	*out = n > 0;
	return rc;
}

int report_daily_get(struct db *db, int64_t tenant_id, const char *day, json_t **out,
		     struct err *e)
{
	struct db_stmt *st = NULL;
	json_error_t je;
	*out = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT body FROM daily_reports WHERE tenant_id = $1 AND day = $2", "it",
			   tenant_id, day);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		*out = json_loads(db_column_text(st, 0), 0, &je);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "day", "%s 没有日报", "there is no report for %s", day);
	if (rc < 0)
		return rc;
	if (!*out)
		return err_set(e, ERR_INTERNAL, "day", "日报内容已损坏", "the stored report is damaged");
	return 0;
}

int report_daily_latest(struct db *db, int64_t tenant_id, char **out, struct err *e)
{
	struct db_stmt *st = NULL;
	*out = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT day FROM daily_reports WHERE tenant_id = $1 ORDER BY day DESC LIMIT 1",
			   "i", tenant_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		*out = xstrdup(db_column_text(st, 0));
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "day", "还没有日报", "there is no daily report yet");
	return rc < 0 ? rc : 0;
}
