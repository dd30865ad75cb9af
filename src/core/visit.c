/*
 * visit.c — the visit system's reading side and its records (see visit.h):
 * the visit state of an enterprise, the grid workers' tasks and figures,
 * visit records with their findings and photos. Policies and the computation
 * of visit_state are in visit_policy.c; a visit brings its enterprise's state
 * up to date through visit_state_refresh.
 *
 * Readers never recompute the state: the overdue are a range of the index
 * visit_state_due. Every statement filters by tenant_id.
 */
#include "core/visit.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/attachment.h"
#include "core/analysis.h"
#include "core/audit.h"
#include "core/campaign.h"
#include "core/geo.h"
#include "core/request.h"
#include "core/settings.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

/* Scope columns of enterprises (alias e): the grid; an enterprise user's own. */
static const struct scope_cols enterprise_cols = {.grid = "e.grid_id", .enterprise = "e.id"};
/* Scope columns of grid workers (alias u): their grid. */
static const struct scope_cols worker_cols = {.grid = "u.grid_id", .owner = "u.id"};

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int64_t column_id(struct db_stmt *st, int col)
{
	return db_column_is_null(st, col) ? 0 : db_column_int64(st, col);
}

static int too_long(struct err *e)
{
	return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
}

/* ---- reading the state ---- */

/* The grid path of a grid, "" if it has none; ERR_UNPROCESSABLE field if no such grid. */
static int grid_path_of(struct db *db, int64_t tenant_id, int64_t grid_id, const char *field,
			char *out, size_t n, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, "SELECT path FROM grids WHERE tenant_id = $1 AND id = $2",
			   "ii", tenant_id, grid_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		snprintf(out, n, "%s%%", db_column_text(st, 0));
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_UNPROCESSABLE, field, "网格 %" PRId64 " 不存在",
			       "grid %" PRId64 " does not exist", grid_id);
	return rc < 0 ? rc : 0;
}

struct ent_brief {
	int64_t id, grid_id, created_at;
	bool active, has_location;
	double lat, lon;
	char registered_on[11];
	char grid_path[128];
	char name[404];
};

/* The enterprise, if it exists (ERR_NOT_FOUND field otherwise). */
static int load_enterprise(struct db *db, int64_t tenant_id, int64_t id, const char *field,
			   struct ent_brief *out, struct err *e)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e,
			   "SELECT e.id, e.grid_id, e.status, e.lat, e.lon, e.registered_on, "
			   "COALESCE(g.path, ''), e.name, e.created_at FROM enterprises e "
			   "LEFT JOIN grids g ON g.id = e.grid_id WHERE e.tenant_id = $1 AND e.id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		out->id = db_column_int64(st, 0);
		out->grid_id = column_id(st, 1);
		out->active = strcmp(db_column_text(st, 2), "active") == 0;
		out->has_location = !db_column_is_null(st, 3) && !db_column_is_null(st, 4);
		out->lat = db_column_double(st, 3);
		out->lon = db_column_double(st, 4);
		copy_text(out->registered_on, sizeof out->registered_on, db_column_text(st, 5));
		copy_text(out->grid_path, sizeof out->grid_path, db_column_text(st, 6));
		copy_text(out->name, sizeof out->name, db_column_text(st, 7));
		out->created_at = db_column_int64(st, 8);
	}
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, field, "企业 %" PRId64 " 不存在",
			       "enterprise %" PRId64 " does not exist", id);
	return rc < 0 ? rc : 0;
}

static bool reaches(const struct actor *who, enum scope scope, const struct ent_brief *en)
{
	struct scope_row row = {.grid_id = en->grid_id, .grid_path = en->grid_path,
				.enterprise_id = en->id};
	return scope_allows(who, scope, &row);
}

int visit_state_get(struct db *db, const struct actor *who, enum scope scope,
		    int64_t enterprise_id, struct visit_state *out, struct err *e)
{
	struct ent_brief en;
	struct db_stmt *st = NULL;
	int rc = load_enterprise(db, who->tenant_id, enterprise_id, "id", &en, e);
	if (rc)
		return rc;
	if (!reaches(who, scope, &en))
		return err_set(e, ERR_NOT_FOUND, "id", "企业 %" PRId64 " 不存在",
			       "enterprise %" PRId64 " does not exist", enterprise_id);
	memset(out, 0, sizeof *out);
	out->enterprise_id = enterprise_id;
	rc = db_queryf(db, &st, e,
		       "SELECT s.policy_id, COALESCE(p.name, ''), s.interval_days, s.anchor_day, "
		       "s.next_due_at, s.last_visit_id, s.last_visit_at, s.visits FROM visit_state s "
		       "LEFT JOIN visit_policies p ON p.id = s.policy_id "
		       "WHERE s.tenant_id = $1 AND s.enterprise_id = $2",
		       "ii", who->tenant_id, enterprise_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		out->policy_id = column_id(st, 0);
		copy_text(out->policy_name, sizeof out->policy_name, db_column_text(st, 1));
		out->interval_days = (int)column_id(st, 2);
		out->anchor_day = db_column_int64(st, 3);
		out->next_due_at = column_id(st, 4);
		out->last_visit_id = column_id(st, 5);
		out->last_visit_at = column_id(st, 6);
		out->visits = db_column_int64(st, 7);
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	struct visit_recompute r;
	if ((rc = visit_recompute_get(db, who->tenant_id, &r, e)))
		return rc;
	out->pending = r.running && enterprise_id >= r.next_id;
	return 0;
}

/* ---- tasks ---- */

void visit_task_cursor(const struct visit_task *t, char out[VISIT_CURSOR_MAX])
{
	snprintf(out, VISIT_CURSOR_MAX, "d.%" PRId64 ".%" PRId64, t->next_due_at, t->enterprise_id);
}

/* "<p>.<a>.<b>" with two non-negative integers. */
static bool parse_cursor(const char *c, char prefix, int64_t *a, int64_t *b)
{
	char part[VISIT_CURSOR_MAX];
	const char *dot;
	if (!c || c[0] != prefix || c[1] != '.' || strlen(c) >= sizeof part)
		return false;
	dot = strchr(c + 2, '.');
	if (!dot)
		return false;
	size_t n = (size_t)(dot - (c + 2));
	memcpy(part, c + 2, n);
	part[n] = '\0';
	return parse_i64(part, a) && *a >= 0 && parse_i64(dot + 1, b) && *b >= 0;
}

/* " FROM ... WHERE ..." of the tasks: the enterprises first when a grid
 * narrows them (a worker's grid holds a few hundred), else the due index. */
static int task_from(struct buf *sql, struct db_args *a, const struct actor *who,
		     enum scope scope, const char *grid_like)
{
	int rc;
	if (scope == SCOPE_ALL && !grid_like)
		rc = buf_addf(sql,
			      " FROM visit_state s CROSS JOIN enterprises e WHERE s.tenant_id = $%d "
			      "AND e.tenant_id = s.tenant_id AND e.id = s.enterprise_id",
			      db_args_int(a, who->tenant_id));
	else
		rc = buf_addf(sql,
			      " FROM enterprises e CROSS JOIN visit_state s WHERE e.tenant_id = $%d "
			      "AND s.tenant_id = e.tenant_id AND s.enterprise_id = e.id",
			      db_args_int(a, who->tenant_id));
	if (!rc && grid_like)
		rc = buf_addf(sql,
			      " AND e.grid_id IN (SELECT id FROM grids WHERE tenant_id = e.tenant_id "
			      "AND path LIKE $%d)",
			      db_args_text(a, grid_like));
	if (!rc)
		rc = scope_sql(who, scope, &enterprise_cols, sql);
	return rc;
}

int visit_tasks(struct db *db, const struct actor *who, enum scope scope,
		const struct visit_task_filter *f, int64_t now,
		int (*each)(const struct visit_task *t, void *ctx), void *ctx,
		struct visit_task_counts *counts, struct err *e)
{
	char like[132];
	int64_t after_due = 0, after_id = 0;
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;
	if (f->after && *f->after && !parse_cursor(f->after, 'd', &after_due, &after_id))
		return err_set(e, ERR_BAD_REQUEST, "after", "分页游标无效", "malformed page cursor");
	if (f->grid_id &&
	    (rc = grid_path_of(db, who->tenant_id, f->grid_id, "grid_id", like, sizeof like, e)))
		return rc;
	const char *grid_like = f->grid_id ? like : NULL;
	buf_init(&sql, 8192);
	if (counts) {
		struct db_args a = {0};
		struct buf from;
		memset(counts, 0, sizeof *counts);
		buf_init(&from, 4096);
		/* the FROM first: it numbers the tenant $1. The whole district's
		 * count is a range of the due index alone. */
		if (scope == SCOPE_ALL && !grid_like)
			rc = buf_addf(&from, " FROM visit_state s WHERE s.tenant_id = $%d",
				      db_args_int(&a, who->tenant_id));
		else
			rc = task_from(&from, &a, who, scope, grid_like);
		if (!rc)
			rc = buf_addf(&from, " AND s.next_due_at < $%d", db_args_int(&a, f->due_before));
		if (!rc)
			rc = buf_addf(&sql,
				      "SELECT COUNT(*), COALESCE(SUM(CASE WHEN s.next_due_at < $%d "
				      "THEN 1 ELSE 0 END), 0)%s",
				      db_args_int(&a, now), from.p);
		buf_release(&from);
		if (rc) {
			rc = too_long(e);
			goto out;
		}
		rc = db_query_args(db, &st, e, sql.p, &a);
		if (rc)
			goto out;
		rc = db_step(st, e);
		if (rc == DB_ROW) {
			counts->due = db_column_int64(st, 0);
			counts->overdue = db_column_int64(st, 1);
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			goto out;
		buf_reset(&sql);
	}
	struct db_args a = {0};
	buf_adds(&sql, "SELECT e.id, e.name, e.address, e.credit_code, e.is_key, e.lat, e.lon, "
		       "e.grid_id, s.policy_id, s.interval_days, s.last_visit_at, s.next_due_at");
	rc = task_from(&sql, &a, who, scope, grid_like);
	if (!rc)
		rc = buf_addf(&sql, " AND s.next_due_at < $%d", db_args_int(&a, f->due_before));
	if (!rc && f->after && *f->after) {
		int d = db_args_int(&a, after_due);
		rc = buf_addf(&sql,
			      " AND (s.next_due_at > $%d OR (s.next_due_at = $%d AND "
			      "s.enterprise_id > $%d))",
			      d, d, db_args_int(&a, after_id));
	}
	if (!rc)
		rc = buf_addf(&sql, " ORDER BY s.next_due_at, s.enterprise_id LIMIT $%d",
			      db_args_int(&a, f->limit));
	if (rc) {
		rc = too_long(e);
		goto out;
	}
	if ((rc = db_query_args(db, &st, e, sql.p, &a)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct visit_task t = {
			.enterprise_id = db_column_int64(st, 0),
			.name = db_column_text(st, 1),
			.address = db_column_text(st, 2),
			.credit_code = db_column_text(st, 3),
			.is_key = db_column_int64(st, 4) != 0,
			.has_location = !db_column_is_null(st, 5) && !db_column_is_null(st, 6),
			.lat = db_column_double(st, 5),
			.lon = db_column_double(st, 6),
			.grid_id = column_id(st, 7),
			.policy_id = column_id(st, 8),
			.interval_days = (int)column_id(st, 9),
			.last_visit_at = column_id(st, 10),
			.next_due_at = db_column_int64(st, 11),
		};
		if (each(&t, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	rc = rc < 0 ? rc : 0;
out:
	db_finalize(st);
	buf_release(&sql);
	return rc;
}

int visit_grid_workers(struct db *db, const struct actor *who, enum scope scope, int64_t grid_id,
		       int64_t after, int64_t limit, struct grid_worker_ref **out, size_t *n,
		       struct err *e)
{
	char like[132];
	struct buf sql;
	struct db_args a = {0};
	struct db_stmt *st = NULL;
	int rc;
	*out = NULL;
	*n = 0;
	if (grid_id && (rc = grid_path_of(db, who->tenant_id, grid_id, "grid_id", like, sizeof like, e)))
		return rc;
	buf_init(&sql, 8192);
	buf_addf(&sql,
		 "SELECT u.id, u.login, u.display_name, u.grid_id, g.code, g.name, g.path "
		 "FROM users u JOIN grids g ON g.id = u.grid_id WHERE u.tenant_id = $%d "
		 "AND u.status = 'active' AND EXISTS (SELECT 1 FROM user_roles r WHERE "
		 "r.tenant_id = u.tenant_id AND r.user_id = u.id AND r.role = 'grid_worker') "
		 "AND u.id > $%d",
		 db_args_int(&a, who->tenant_id), db_args_int(&a, after));
	if (grid_id)
		buf_addf(&sql, " AND g.path LIKE $%d", db_args_text(&a, like));
	rc = scope_sql(who, scope, &worker_cols, &sql);
	if (!rc)
		rc = buf_addf(&sql, " ORDER BY u.id LIMIT $%d", db_args_int(&a, limit));
	if (rc) {
		rc = too_long(e);
		goto out;
	}
	if ((rc = db_query_args(db, &st, e, sql.p, &a)))
		goto out;
	*out = xcalloc((size_t)limit + 1, sizeof **out);
	while ((rc = db_step(st, e)) == DB_ROW && *n < (size_t)limit) {
		struct grid_worker_ref *w = &(*out)[(*n)++];
		w->id = db_column_int64(st, 0);
		copy_text(w->login, sizeof w->login, db_column_text(st, 1));
		copy_text(w->name, sizeof w->name, db_column_text(st, 2));
		w->grid_id = db_column_int64(st, 3);
		copy_text(w->grid_code, sizeof w->grid_code, db_column_text(st, 4));
		copy_text(w->grid_name, sizeof w->grid_name, db_column_text(st, 5));
		snprintf(w->grid_like, sizeof w->grid_like, "%s%%", db_column_text(st, 6));
	}
	rc = rc < 0 ? rc : 0;
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
out:
	db_finalize(st);
	buf_release(&sql);
	return rc;
}

int visit_worker_grid(struct db *db, int64_t tenant_id, int64_t user_id, const char *field,
		      int64_t *grid_id, struct err *e)
{
	int rc = db_query_i64(db, grid_id, e,
			      "SELECT COALESCE(grid_id, 0) FROM users WHERE tenant_id = $1 AND id = $2 "
			      "AND status = 'active'",
			      "ii", tenant_id, user_id);
	if (rc == ERR_NOT_FOUND || (!rc && !*grid_id))
		return err_set(e, ERR_UNPROCESSABLE, field, "用户 %" PRId64 " 不是分配了网格的网格员",
			       "user %" PRId64 " is no grid worker with a grid", user_id);
	return rc;
}

int visit_worker_counts(struct db *db, const struct actor *who, enum scope scope,
			int64_t grid_id, int64_t now, int64_t due_before, int64_t since,
			int64_t after, int64_t limit,
			int (*each)(const struct visit_worker *w, void *ctx), void *ctx,
			struct err *e)
{
	struct db_stmt *st = NULL;
	struct grid_worker_ref *rows = NULL;
	size_t n = 0;
	int rc = visit_grid_workers(db, who, scope, grid_id, after, limit, &rows, &n, e);
	for (size_t i = 0; !rc && i < n; i++) {
		struct grid_worker_ref *w = &rows[i];
		struct visit_worker out = {.user_id = w->id, .login = w->login,
					   .display_name = w->name, .grid_id = w->grid_id,
					   .grid_code = w->grid_code, .grid_name = w->grid_name};
		rc = db_queryf(db, &st, e,
			       "SELECT COUNT(*), COUNT(s.next_due_at), "
			       "COALESCE(SUM(CASE WHEN s.next_due_at < $3 THEN 1 ELSE 0 END), 0), "
			       "COALESCE(SUM(CASE WHEN s.next_due_at < $4 THEN 1 ELSE 0 END), 0) "
			       "FROM enterprises e CROSS JOIN visit_state s WHERE e.tenant_id = $1 "
			       "AND e.status = 'active' AND e.grid_id IN (SELECT id FROM grids WHERE "
			       "tenant_id = $1 AND path LIKE $2) AND s.tenant_id = e.tenant_id "
			       "AND s.enterprise_id = e.id",
			       "itii", who->tenant_id, w->grid_like, now, due_before);
		if (rc)
			break;
		rc = db_step(st, e);
		if (rc == DB_ROW) {
			out.enterprises = db_column_int64(st, 0);
			out.with_duty = db_column_int64(st, 1);
			out.overdue = db_column_int64(st, 2);
			out.due = db_column_int64(st, 3);
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			break;
		rc = db_query_i64(db, &out.visits_recent, e,
				  "SELECT COUNT(*) FROM visits WHERE tenant_id = $1 AND worker_id = $2 "
				  "AND visited_at >= $3",
				  "iii", who->tenant_id, w->id, since);
		if (!rc && each(&out, ctx))
			break;
	}
	db_finalize(st);
	free(rows);
	return rc;
}

/* ---- visit records ---- */

int visit_validate(const struct visit_input *in, int64_t now, struct err *e)
{
	char field[64];
	int rc;
	if (in->enterprise_id <= 0)
		return err_set(e, ERR_BAD_REQUEST, "enterprise_id", "缺少企业 enterprise_id",
			       "'enterprise_id' is required");
	if (in->visited_at <= 0 || !workcal_instant_ok(in->visited_at))
		return err_set(e, ERR_UNPROCESSABLE, "visited_at", "走访时间无效",
			       "visited_at is not a valid time");
	if (in->visited_at > now + VISIT_CLOCK_SKEW_MS)
		return err_set(e, ERR_UNPROCESSABLE, "visited_at", "走访时间不能晚于当前时间",
			       "visited_at must not be in the future");
	if (in->has_position) {
		if (!isfinite(in->lat) || in->lat < -90 || in->lat > 90)
			return err_set(e, ERR_UNPROCESSABLE, "lat", "纬度应在 -90 到 90 之间",
				       "lat must be between -90 and 90");
		if (!isfinite(in->lon) || in->lon < -180 || in->lon > 180)
			return err_set(e, ERR_UNPROCESSABLE, "lon", "经度应在 -180 到 180 之间",
				       "lon must be between -180 and 180");
	}
	if ((rc = text_check(in->summary, "summary", "走访情况", VISIT_TEXT_MAX, true, e)) ||
	    (rc = text_check(in->met_name, "met_name", "走访对象姓名", VISIT_PERSON_MAX, false, e)) ||
	    (rc = text_check(in->met_role, "met_role", "走访对象职务", VISIT_PERSON_MAX, false, e)))
		return rc;
	if (in->nfindings > VISIT_FINDINGS_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "findings", "一次走访最多记录 %d 条发现",
			       "at most %d findings per visit", VISIT_FINDINGS_MAX);
	for (size_t i = 0; i < in->nfindings; i++) {
		const struct visit_finding_input *f = &in->findings[i];
		if (f->category_id <= 0) {
			snprintf(field, sizeof field, "findings[%zu].category_id", i);
			return err_set(e, ERR_BAD_REQUEST, field, "缺少问题分类 %s",
				       "'%s' is required", field);
		}
		snprintf(field, sizeof field, "findings[%zu].description", i);
		if ((rc = text_check(f->description, field, "问题描述", VISIT_FINDING_MAX, true, e)))
			return rc;
		if (f->req_type && !req_type_valid(f->req_type)) {
			snprintf(field, sizeof field, "findings[%zu].type", i);
			return err_set(e, ERR_UNPROCESSABLE, field,
				       "%s：诉求类型应为 consultation、help、complaint、suggestion 或 report",
				       "'%s' must be consultation, help, complaint, suggestion or report",
				       field);
		}
	}
	return 0;
}

static int category_active(struct db *db, int64_t tenant_id, int64_t id, bool *ok, struct err *e)
{
	int64_t n = 0;
	int rc = db_query_i64(db, &n, e,
			      "SELECT COUNT(*) FROM request_categories WHERE tenant_id = $1 AND id = $2 "
			      "AND active = 1",
			      "ii", tenant_id, id);
	*ok = n > 0;
	return rc;
}

/* The visit state after a visit: the latest visit moves the anchor. */
static int state_on_visit(struct db *db, int64_t tenant_id, int64_t enterprise_id,
			  int64_t visit_id, int64_t at, struct err *e)
{
	int64_t have = 0;
	int rc = db_query_i64(db, &have, e,
			      "SELECT COUNT(*) FROM visit_state WHERE tenant_id = $1 AND "
			      "enterprise_id = $2",
			      "ii", tenant_id, enterprise_id);
	if (!rc && !have) /* an enterprise from before the visit system, missed: add it */
		rc = visit_state_refresh(db, tenant_id, enterprise_id, e);
	if (!rc)
		rc = db_execf(db, e,
			      "UPDATE visit_state SET visits = visits + 1, "
			      "last_visit_id = CASE WHEN last_visit_at IS NULL OR last_visit_at <= $1 "
			      "THEN $2 ELSE last_visit_id END, "
			      "last_visit_at = CASE WHEN last_visit_at IS NULL OR last_visit_at <= $1 "
			      "THEN $1 ELSE last_visit_at END "
			      "WHERE tenant_id = $3 AND enterprise_id = $4",
			      "iiii", at, visit_id, tenant_id, enterprise_id);
	if (!rc)
		rc = visit_state_refresh(db, tenant_id, enterprise_id, e);
	return rc;
}

/* Rename a request_create error's field into the finding's. */
static int finding_error(struct err *e, size_t i)
{
	/* request_create names its own fields: content is the description */
	char sub[24] = "description";
	if (strcmp(e->field, "type") == 0 || strcmp(e->field, "category_id") == 0)
		memcpy(sub, e->field, strlen(e->field) + 1);
	snprintf(e->field, sizeof e->field, "findings[%zu].%s", i % 1000, sub);
	return e->code;
}

int visit_record(struct db *db, void *arg, struct err *e)
{
	struct visit_write *w = arg;
	const struct visit_input *in = &w->in;
	struct ent_brief en;
	struct db_stmt *st = NULL;
	char field[64];
	int64_t reg_day;
	int rc = visit_validate(in, w->now, e);
	if (rc)
		return rc;
	rc = load_enterprise(db, w->tenant_id, in->enterprise_id, "enterprise_id", &en, e);
	if (rc == ERR_NOT_FOUND)
		e->code = rc = ERR_UNPROCESSABLE;
	if (rc)
		return rc;
	if (!reaches(w->who, w->scope, &en))
		return err_set(e, ERR_FORBIDDEN, "enterprise_id", "企业 %" PRId64 " 不在您的网格内",
			       "enterprise %" PRId64 " is not in your grid", in->enterprise_id);
	if (!en.active)
		return err_set(e, ERR_UNPROCESSABLE, "enterprise_id",
			       "企业 %" PRId64 " 不是存续状态，无需走访",
			       "enterprise %" PRId64 " is not active", in->enterprise_id);
	if (en.registered_on[0] && workcal_parse_date(en.registered_on, &reg_day) &&
	    workcal_local_day(in->visited_at) < reg_day)
		return err_set(e, ERR_UNPROCESSABLE, "visited_at",
			       "走访时间不能早于企业成立日期 %s",
			       "visited_at must not be before the registration date %s",
			       en.registered_on);
	for (size_t i = 0; i < in->nfindings; i++) {
		bool ok = false;
		if ((rc = category_active(db, w->tenant_id, in->findings[i].category_id, &ok, e)))
			return rc;
		if (!ok) {
			snprintf(field, sizeof field, "findings[%zu].category_id", i);
			return err_set(e, ERR_UNPROCESSABLE, field, "诉求分类 %" PRId64 " 不存在或已停用",
				       "no active category %" PRId64, in->findings[i].category_id);
		}
	}
	if ((rc = settings_get_int(db, w->tenant_id, VISIT_SETTING_DISTANCE, &w->threshold_m, e)))
		return rc;
	w->enterprise_located = en.has_location;
	w->has_distance = en.has_location && in->has_position;
	w->distance_m = w->has_distance ? geo_distance_m(in->lat, in->lon, en.lat, en.lon) : 0;
	w->far = w->has_distance && w->distance_m > (double)w->threshold_m;

	/* every check passed: write */
	int nreq = 0;
	for (size_t i = 0; i < in->nfindings; i++)
		nreq += in->findings[i].raise_request;
	struct db_args a = {0};
	struct buf sql;
	buf_init(&sql, 0);
	buf_addf(&sql,
		 "INSERT INTO visits (tenant_id, enterprise_id, worker_id, visited_at, lat, lon, "
		 "distance_m, far, met_name, met_role, summary, findings, requests, created_at, "
		 "grid_id) VALUES ($%d, $%d, $%d, $%d, ",
		 db_args_int(&a, w->tenant_id), db_args_int(&a, in->enterprise_id),
		 db_args_int(&a, w->who->user_id), db_args_int(&a, in->visited_at));
	if (in->has_position)
		buf_addf(&sql, "$%d, $%d, ", db_args_double(&a, in->lat), db_args_double(&a, in->lon));
	else
		buf_adds(&sql, "NULL, NULL, ");
	if (w->has_distance)
		buf_addf(&sql, "$%d, ", db_args_double(&a, w->distance_m));
	else
		buf_adds(&sql, "NULL, ");
	buf_addf(&sql, "$%d, $%d, $%d, $%d, $%d, $%d, $%d, ", db_args_int(&a, w->far),
		 db_args_text(&a, in->met_name ? in->met_name : ""),
		 db_args_text(&a, in->met_role ? in->met_role : ""), db_args_text(&a, in->summary),
		 db_args_int(&a, (int64_t)in->nfindings), db_args_int(&a, nreq),
		 db_args_int(&a, w->now));
	if (en.grid_id) /* the grid it was in: the analysis recounts findings from here */
		buf_addf(&sql, "$%d) RETURNING id", db_args_int(&a, en.grid_id));
	else
		buf_adds(&sql, "NULL) RETURNING id");
	rc = db_query_args(db, &st, e, sql.p, &a);
	buf_release(&sql);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		w->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	rc = 0;

	json_t *reqs = json_array();
	for (size_t i = 0; i < in->nfindings; i++) {
		const struct visit_finding_input *f = &in->findings[i];
		w->request_ids[i] = 0;
		if (f->raise_request) {
			struct request_create c = {
				.who = w->who, .tenant_id = w->tenant_id, .now = w->now,
				.in = {.channel = "grid", .req_type = f->req_type ? f->req_type : "help",
				       .category_id = f->category_id, .enterprise_id = in->enterprise_id,
				       .contact_name = in->met_name, .content = f->description}};
			if ((rc = request_create(db, &c, e))) {
				rc = finding_error(e, i);
				break;
			}
			w->request_ids[i] = c.id;
			json_array_append_new(reqs, json_integer(c.id));
		}
		rc = db_execf(db, e,
			      "INSERT INTO visit_findings (tenant_id, visit_id, seq, category_id, "
			      "description, raise_request, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			      "iiiitiI", w->tenant_id, w->id, (int64_t)(i + 1), f->category_id,
			      f->description, (int64_t)f->raise_request, w->request_ids[i]);
		if (!rc) /* 研判: the finding counts under the enterprise's grid, on the visit's day */
			rc = analysis_finding_add(db, w->tenant_id, workcal_local_day(in->visited_at),
						  en.grid_id, f->category_id, 1, e);
		if (rc)
			break;
	}
	if (!rc)
		rc = state_on_visit(db, w->tenant_id, in->enterprise_id, w->id, in->visited_at, e);
	if (!rc)
		rc = campaign_on_visit(db, w->tenant_id, in->enterprise_id, w->id, w->who->user_id,
				       in->visited_at, &w->campaigns, e);
	if (!rc) {
		json_t *sum = json_pack("{s:I,s:I,s:b,s:I,s:o,s:I}", "enterprise_id",
					(json_int_t)in->enterprise_id, "visited_at",
					(json_int_t)in->visited_at, "far", w->far, "findings",
					(json_int_t)in->nfindings, "requests", json_incref(reqs),
					"campaigns", (json_int_t)w->campaigns);
		if (w->has_distance)
			json_object_set_new(sum, "distance_m", json_integer((json_int_t)lround(w->distance_m)));
		rc = audit_append(db, w->who, w->tenant_id, "visit", w->id, "create", sum, e);
		json_decref(sum);
	}
	json_decref(reqs);
	return rc;
}

/* ---- reading visits ---- */

void visit_release(struct visit *v)
{
	if (v) {
		free(v->summary);
		v->summary = NULL;
	}
}

#define VISIT_COLS                                                                              \
	"v.id, v.enterprise_id, e.name, e.grid_id, COALESCE(g.path, ''), v.worker_id, "         \
	"COALESCE(u.display_name, ''), v.visited_at, v.lat, v.lon, v.distance_m, v.far, "       \
	"v.met_name, v.met_role, v.summary, v.findings, v.requests, v.photos, v.created_at"
#define VISIT_JOINS                                                                             \
	" LEFT JOIN grids g ON g.id = e.grid_id LEFT JOIN users u ON u.id = v.worker_id"

static void read_visit(struct db_stmt *st, struct visit *v)
{
	memset(v, 0, sizeof *v);
	v->id = db_column_int64(st, 0);
	v->enterprise_id = db_column_int64(st, 1);
	copy_text(v->enterprise_name, sizeof v->enterprise_name, db_column_text(st, 2));
	v->grid_id = column_id(st, 3);
	copy_text(v->grid_path, sizeof v->grid_path, db_column_text(st, 4));
	v->worker_id = db_column_int64(st, 5);
	copy_text(v->worker_name, sizeof v->worker_name, db_column_text(st, 6));
	v->visited_at = db_column_int64(st, 7);
	v->has_position = !db_column_is_null(st, 8) && !db_column_is_null(st, 9);
	v->lat = db_column_double(st, 8);
	v->lon = db_column_double(st, 9);
	v->has_distance = !db_column_is_null(st, 10);
	v->distance_m = db_column_double(st, 10);
	v->far = db_column_int64(st, 11) != 0;
	copy_text(v->met_name, sizeof v->met_name, db_column_text(st, 12));
	copy_text(v->met_role, sizeof v->met_role, db_column_text(st, 13));
	v->summary = xstrdup(db_column_text(st, 14));
	v->findings = (int)db_column_int64(st, 15);
	v->requests = (int)db_column_int64(st, 16);
	v->photos = (int)db_column_int64(st, 17);
	v->created_at = db_column_int64(st, 18);
}

static bool visit_reached(const struct actor *who, enum scope scope, const struct visit *v)
{
	struct scope_row row = {.grid_id = v->grid_id, .grid_path = v->grid_path,
				.enterprise_id = v->enterprise_id, .owner_id = v->worker_id};
	return scope_allows(who, scope, &row);
}

int visit_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
	      struct visit *out, struct err *e)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e,
			   "SELECT " VISIT_COLS " FROM visits v JOIN enterprises e ON e.id = "
			   "v.enterprise_id" VISIT_JOINS " WHERE v.tenant_id = $1 AND v.id = $2",
			   "ii", who->tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_visit(st, out);
	db_finalize(st);
	if (rc < 0)
		return rc;
	if (rc == DB_DONE || !visit_reached(who, scope, out)) {
		visit_release(out);
		return err_set(e, ERR_NOT_FOUND, "id", "走访记录不存在", "no such visit");
	}
	return 0;
}

int visit_findings(struct db *db, int64_t tenant_id, int64_t visit_id,
		   int (*each)(const struct visit_finding *f, void *ctx), void *ctx,
		   struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT f.id, f.seq, f.category_id, COALESCE(c.name, ''), f.description, "
			   "f.raise_request, f.request_id, COALESCE(r.number, '') FROM visit_findings f "
			   "LEFT JOIN request_categories c ON c.id = f.category_id "
			   "LEFT JOIN requests r ON r.id = f.request_id "
			   "WHERE f.tenant_id = $1 AND f.visit_id = $2 ORDER BY f.seq",
			   "ii", tenant_id, visit_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct visit_finding f = {
			.id = db_column_int64(st, 0),
			.seq = (int)db_column_int64(st, 1),
			.category_id = db_column_int64(st, 2),
			.category_name = db_column_text(st, 3),
			.description = db_column_text(st, 4),
			.raise_request = db_column_int64(st, 5) != 0,
			.request_id = column_id(st, 6),
			.request_number = db_column_text(st, 7),
		};
		if (each(&f, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

#define PHOTO_COLS                                                                          \
	"SELECT id, tenant_id, visit_id, filename, content_type, size, sha256, uploaded_by, " \
	"uploaded_at FROM visit_photos "

static void read_photo(struct db_stmt *st, struct visit_photo *p)
{
	memset(p, 0, sizeof *p);
	p->id = db_column_int64(st, 0);
	p->tenant_id = db_column_int64(st, 1);
	p->visit_id = db_column_int64(st, 2);
	copy_text(p->filename, sizeof p->filename, db_column_text(st, 3));
	copy_text(p->content_type, sizeof p->content_type, db_column_text(st, 4));
	p->size = db_column_int64(st, 5);
	copy_text(p->sha256, sizeof p->sha256, db_column_text(st, 6));
	p->uploaded_by = db_column_int64(st, 7);
	p->uploaded_at = db_column_int64(st, 8);
}

int visit_photos(struct db *db, int64_t tenant_id, int64_t visit_id,
		 int (*each)(const struct visit_photo *p, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   PHOTO_COLS "WHERE tenant_id = $1 AND visit_id = $2 ORDER BY id", "ii",
			   tenant_id, visit_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct visit_photo p;
		read_photo(st, &p);
		if (each(&p, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

void visit_cursor(const struct visit *v, char out[VISIT_CURSOR_MAX])
{
	snprintf(out, VISIT_CURSOR_MAX, "t.%" PRId64 ".%" PRId64, v->visited_at, v->id);
}

int visit_list(struct db *db, const struct actor *who, enum scope scope,
	       const struct visit_filter *f, int (*each)(const struct visit *v, void *ctx),
	       void *ctx, struct err *e)
{
	char like[132];
	int64_t after_t = 0, after_id = 0;
	struct db_args a = {0};
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;
	if (f->after && *f->after && !parse_cursor(f->after, 't', &after_t, &after_id))
		return err_set(e, ERR_BAD_REQUEST, "after", "分页游标无效", "malformed page cursor");
	if (f->grid_id &&
	    (rc = grid_path_of(db, who->tenant_id, f->grid_id, "grid_id", like, sizeof like, e)))
		return rc;
	buf_init(&sql, 8192);
	/* the enterprises first when a grid or an enterprise narrows them (a
	 * worker's grid: a few hundred), else the visits' time index */
	bool by_enterprise = (scope != SCOPE_ALL || f->grid_id || f->enterprise_id) && !f->worker_id;
	buf_addf(&sql, "SELECT " VISIT_COLS " FROM %s" VISIT_JOINS " WHERE %s.tenant_id = $%d "
		 "AND v.tenant_id = e.tenant_id AND e.id = v.enterprise_id",
		 by_enterprise ? "enterprises e CROSS JOIN visits v" : "visits v CROSS JOIN enterprises e",
		 by_enterprise ? "e" : "v", db_args_int(&a, who->tenant_id));
	if (f->enterprise_id)
		buf_addf(&sql, " AND e.id = $%d", db_args_int(&a, f->enterprise_id));
	if (f->worker_id)
		buf_addf(&sql, " AND v.worker_id = $%d", db_args_int(&a, f->worker_id));
	if (f->grid_id)
		buf_addf(&sql, " AND e.grid_id IN (SELECT id FROM grids WHERE tenant_id = $1 AND "
			       "path LIKE $%d)", db_args_text(&a, like));
	if (f->from)
		buf_addf(&sql, " AND v.visited_at >= $%d", db_args_int(&a, f->from));
	if (f->to)
		buf_addf(&sql, " AND v.visited_at < $%d", db_args_int(&a, f->to));
	if (f->far_only)
		buf_adds(&sql, " AND v.far = 1");
	if (f->after && *f->after) {
		int t = db_args_int(&a, after_t);
		buf_addf(&sql, " AND (v.visited_at < $%d OR (v.visited_at = $%d AND v.id < $%d))", t,
			 t, db_args_int(&a, after_id));
	}
	rc = scope_sql(who, scope, &enterprise_cols, &sql);
	if (!rc)
		rc = buf_addf(&sql, " ORDER BY v.visited_at DESC, v.id DESC LIMIT $%d",
			      db_args_int(&a, f->limit));
	if (rc) {
		rc = too_long(e);
		goto out;
	}
	if ((rc = db_query_args(db, &st, e, sql.p, &a)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct visit v;
		read_visit(st, &v);
		int stop = each(&v, ctx);
		visit_release(&v);
		if (stop) {
			rc = DB_DONE;
			break;
		}
	}
	rc = rc < 0 ? rc : 0;
out:
	db_finalize(st);
	buf_release(&sql);
	return rc;
}

/* ---- photos ---- */

int visit_photo_add(struct db *db, void *arg, struct err *e)
{
	struct visit_photo_add *p = arg;
	const struct attachment_file *f = p->file;
	struct visit v;
	struct db_stmt *st = NULL;
	int64_t max = 0, count = 0;
	int rc = visit_get(db, p->who, p->scope, p->visit_id, &v, e);
	if (rc)
		return rc;
	int64_t worker = v.worker_id;
	visit_release(&v);
	if (worker != p->who->user_id)
		return err_set(e, ERR_FORBIDDEN, "id", "只有走访人可以添加走访照片",
			       "only the worker who recorded the visit adds its photos");
	if (strncmp(f->content_type, "image/", 6) != 0)
		return err_set(e, ERR_UNPROCESSABLE, "file",
			       "走访照片只能是 PNG、JPEG、GIF 或 WebP 图片（按文件内容识别）",
			       "a visit photo must be a PNG, JPEG, GIF or WebP image (the type is "
			       "read from the content)");
	rc = db_queryf(db, &st, e,
		       "SELECT id FROM visit_photos WHERE tenant_id = $1 AND visit_id = $2 AND "
		       "sha256 = $3 ORDER BY id LIMIT 1",
		       "iit", p->tenant_id, p->visit_id, f->sha256);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		p->id = db_column_int64(st, 0);
		p->existed = true;
	}
	db_finalize(st);
	if (rc < 0 || p->existed)
		return rc < 0 ? rc : 0;
	if ((rc = settings_get_int(db, p->tenant_id, VISIT_SETTING_PHOTOS, &max, e)) ||
	    (rc = db_query_i64(db, &count, e,
			       "SELECT COUNT(*) FROM visit_photos WHERE tenant_id = $1 AND visit_id = $2",
			       "ii", p->tenant_id, p->visit_id)))
		return rc;
	if (count >= max)
		return err_set(e, ERR_UNPROCESSABLE, "file", "每次走访最多 %lld 张照片",
			       "a visit has at most %lld photos", (long long)max);
	if ((rc = attachment_blob_put(db, p->tenant_id, f, e)))
		return rc;
	rc = db_queryf(db, &st, e,
		       "INSERT INTO visit_photos (tenant_id, visit_id, filename, content_type, size, "
		       "sha256, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
		       "RETURNING id",
		       "iittitii", p->tenant_id, p->visit_id, f->filename, f->content_type,
		       (int64_t)f->len, f->sha256, p->who->user_id, p->now);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		p->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	if ((rc = db_execf(db, e,
			   "UPDATE visits SET photos = photos + 1 WHERE tenant_id = $1 AND id = $2",
			   "ii", p->tenant_id, p->visit_id)))
		return rc;
	json_t *sum = json_pack("{s:I,s:s,s:s,s:I,s:s}", "visit_id", (json_int_t)p->visit_id,
				"filename", f->filename, "content_type", f->content_type, "size",
				(json_int_t)f->len, "sha256", f->sha256);
	rc = audit_append(db, p->who, p->tenant_id, "visit_photo", p->id, "upload", sum, e);
	json_decref(sum);
	return rc;
}

int visit_photo_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
		    struct visit_photo *out, struct err *e)
{
	struct db_stmt *st = NULL;
	struct visit v;
	int rc = db_queryf(db, &st, e, PHOTO_COLS "WHERE tenant_id = $1 AND id = $2", "ii",
			   who->tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_photo(st, out);
	db_finalize(st);
	if (rc < 0)
		return rc;
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "照片不存在", "no such photo");
	if ((rc = visit_get(db, who, scope, out->visit_id, &v, e)))
		return err_set(e, ERR_NOT_FOUND, "id", "照片不存在", "no such photo");
	visit_release(&v);
	return 0;
}
