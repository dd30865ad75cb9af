/* request_catalog.c — request categories and time-limit policies (see request_catalog.h). */
#include "core/request_catalog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/audit.h"
#include "core/request.h"
#include "db/db.h"
#include "base/banned.h"

static int check_code(const char *code, struct err *e)
{
	size_t n = strlen(code);
	bool ok = n >= 1 && n <= 32;
	for (size_t i = 0; ok && i < n; i++) {
		char c = code[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-' || c == '.';
	}
	return ok ? 0 : err_set(e, ERR_UNPROCESSABLE, "code", "分类编码应为 1 到 32 个字母、数字或 _ - .",
				"code must be 1 to 32 of A-Z a-z 0-9 _ - .");
}

static int check_name(const char *name, struct err *e)
{
	size_t n = strlen(name);
	if (!utf8_valid(name, n) || !n || name[strspn(name, " \t\r\n")] == '\0' ||
	    utf8_len(name, n) > 50 || n > 200)
		return err_set(e, ERR_UNPROCESSABLE, "name", "分类名称应为 1 到 50 个字符",
			       "name must have 1 to 50 characters");
	return 0;
}

static int check_ref(struct db *db, const char *table, const char *field, int64_t tenant,
		     int64_t id, struct err *e)
{
	char sql[160];
	int64_t ok = 0;
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE tenant_id = $1 AND id = $2", table);
	int rc = db_query_i64(db, &ok, e, sql, "ii", tenant, id);
	if (rc)
		return rc;
	return ok ? 0 : err_set(e, ERR_UNPROCESSABLE, field, "“%s”指向的记录不存在",
				"'%s' does not exist", field);
}

#define CAT_COLS                                                                              \
	"c.id, c.parent_id, c.department_id, c.code, c.name, c.path, d.name, c.open311_code, "\
	"c.active, c.sort"
#define CAT_FROM " FROM request_categories c LEFT JOIN departments d ON d.id = c.department_id "

static void read_cat(struct db_stmt *st, struct category *c)
{
	memset(c, 0, sizeof *c);
	c->id = db_column_int64(st, 0);
	c->parent_id = db_column_is_null(st, 1) ? 0 : db_column_int64(st, 1);
	c->department_id = db_column_is_null(st, 2) ? 0 : db_column_int64(st, 2);
	snprintf(c->code, sizeof c->code, "%s", db_column_text(st, 3));
	snprintf(c->name, sizeof c->name, "%s", db_column_text(st, 4));
	snprintf(c->path, sizeof c->path, "%s", db_column_text(st, 5));
	snprintf(c->department_name, sizeof c->department_name, "%s", db_column_text(st, 6));
	snprintf(c->open311_code, sizeof c->open311_code, "%s", db_column_text(st, 7));
	c->active = db_column_int64(st, 8) != 0;
	c->sort = db_column_int64(st, 9);
}

int category_get(struct db *db, int64_t tenant_id, int64_t id, struct category *out,
		 struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e, "SELECT " CAT_COLS CAT_FROM "WHERE c.tenant_id = $1 AND c.id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_cat(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该分类", "no such category");
	return rc < 0 ? rc : 0;
}

int category_list(struct db *db, int64_t tenant_id,
		  int (*each)(const struct category *c, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " CAT_COLS CAT_FROM "WHERE c.tenant_id = $1 ORDER BY c.path, c.sort",
			   "i", tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct category c;
		read_cat(st, &c);
		if (each(&c, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static int audit(struct db *db, const struct category_write *w, const char *action,
		 struct err *e)
{
	json_t *sum = json_pack("{s:s,s:s,s:I,s:I}", "code", w->code ? w->code : "", "name",
				w->name ? w->name : "", "parent_id", (json_int_t)w->parent_id,
				"department_id", (json_int_t)w->department_id);
	int rc = audit_append(db, w->who, w->tenant_id, "request_category", w->id, action, sum, e);
	json_decref(sum);
	return rc;
}

int category_create(struct db *db, void *arg, struct err *e)
{
	struct category_write *w = arg;
	struct db_stmt *st = NULL;
	char parent_path[256] = "";
	int rc;
	if (!w->code || !w->name)
		return err_set(e, ERR_BAD_REQUEST, !w->code ? "code" : "name", "缺少必填字段",
			       "missing required field");
	if ((rc = check_code(w->code, e)) || (rc = check_name(w->name, e)))
		return rc;
	if (w->parent_id) {
		struct category p;
		if (category_get(db, w->tenant_id, w->parent_id, &p, e))
			return err_set(e, ERR_UNPROCESSABLE, "parent_id", "上级分类不存在",
				       "no such parent category");
		snprintf(parent_path, sizeof parent_path, "%s", p.path);
	}
	if (w->department_id &&
	    (rc = check_ref(db, "departments", "department_id", w->tenant_id, w->department_id, e)))
		return rc;
	rc = db_queryf(db, &st, e,
		       "INSERT INTO request_categories (tenant_id, parent_id, code, name, department_id, "
		       "open311_code, active, sort, created_at, updated_at) "
		       "VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $8) RETURNING id",
		       "iIttItii", w->tenant_id, w->parent_id, w->code, w->name, w->department_id,
		       w->open311_code ? w->open311_code : "", w->sort, w->now);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		w->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	char path[300];
	snprintf(path, sizeof path, "%s%s%" PRId64 "/", parent_path, parent_path[0] ? "" : "/", w->id);
	if ((rc = db_execf(db, e, "UPDATE request_categories SET path = $1 WHERE id = $2", "ti", path,
			   w->id)))
		return rc;
	return audit(db, w, "create", e);
}

int category_update(struct db *db, void *arg, struct err *e)
{
	struct category_write *w = arg;
	struct category c;
	int rc = category_get(db, w->tenant_id, w->id, &c, e);
	if (rc)
		return rc;
	if ((w->code && (rc = check_code(w->code, e))) || (w->name && (rc = check_name(w->name, e))))
		return rc;
	if (w->set_department && w->department_id &&
	    (rc = check_ref(db, "departments", "department_id", w->tenant_id, w->department_id, e)))
		return rc;
	if (w->set_parent && w->parent_id != c.parent_id)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "分类不能移动到其他上级",
			       "a category cannot move to another parent; create a new one");
	rc = db_execf(db, e,
		      "UPDATE request_categories SET code = $1, name = $2, department_id = $3, "
		      "open311_code = $4, active = $5, sort = $6, updated_at = $7 "
		      "WHERE tenant_id = $8 AND id = $9",
		      "ttItiiiii", w->code ? w->code : c.code, w->name ? w->name : c.name,
		      w->set_department ? w->department_id : c.department_id,
		      w->open311_code ? w->open311_code : c.open311_code,
		      (int64_t)(w->set_active ? w->active : c.active), w->set_sort ? w->sort : c.sort,
		      w->now, w->tenant_id, w->id);
	if (rc)
		return rc;
	if (!w->code)
		w->code = c.code;
	if (!w->name)
		w->name = c.name;
	return audit(db, w, "update", e);
}

int policy_put(struct db *db, void *arg, struct err *e)
{
	struct policy_write *w = arg;
	const char *type = w->req_type ? w->req_type : "";
	int rc;
	if (*type && !req_type_valid(type))
		return err_set(e, ERR_UNPROCESSABLE, "type", "诉求类型无效", "unknown request type");
	if (w->category_id &&
	    (rc = check_ref(db, "request_categories", "category_id", w->tenant_id, w->category_id, e)))
		return rc;
	if (!w->remove) {
		if (w->sign_minutes < 30 || w->sign_minutes > 7200)
			return err_set(e, ERR_UNPROCESSABLE, "sign_minutes",
				       "签收时限应为 30 到 7200 个工作分钟",
				       "sign_minutes must be 30 to 7200 working minutes");
		if (w->handle_days < 1 || w->handle_days > 120)
			return err_set(e, ERR_UNPROCESSABLE, "handle_days", "办理时限应为 1 到 120 个工作日",
				       "handle_days must be 1 to 120 working days");
		if (w->visit_days < 1 || w->visit_days > 30)
			return err_set(e, ERR_UNPROCESSABLE, "visit_days", "回访时限应为 1 到 30 个工作日",
				       "visit_days must be 1 to 30 working days");
	}
	rc = db_execf(db, e,
		      "DELETE FROM time_limit_policies WHERE tenant_id = $1 AND category_id = $2 AND "
		      "req_type = $3",
		      "iit", w->tenant_id, w->category_id, type);
	if (!rc && !w->remove)
		rc = db_execf(db, e,
			      "INSERT INTO time_limit_policies (tenant_id, category_id, req_type, "
			      "sign_minutes, handle_days, visit_days, updated_at) "
			      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
			      "iitiiii", w->tenant_id, w->category_id, type, (int64_t)w->sign_minutes,
			      (int64_t)w->handle_days, (int64_t)w->visit_days, w->now);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:I,s:s,s:i,s:i,s:i,s:b}", "category_id", (json_int_t)w->category_id,
				"type", type, "sign_minutes", w->sign_minutes, "handle_days",
				w->handle_days, "visit_days", w->visit_days, "remove", w->remove);
	rc = audit_append(db, w->who, w->tenant_id, "time_limit_policy", w->category_id,
			  w->remove ? "delete" : "set", sum, e);
	json_decref(sum);
	return rc;
}

int policy_list(struct db *db, int64_t tenant_id, int (*each)(const struct policy *p, void *ctx),
		void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, category_id, req_type, sign_minutes, handle_days, visit_days, "
			   "updated_at FROM time_limit_policies WHERE tenant_id = $1 "
			   "ORDER BY category_id, req_type",
			   "i", tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct policy p = {.id = db_column_int64(st, 0), .category_id = db_column_int64(st, 1),
				   .sign_minutes = (int)db_column_int64(st, 3),
				   .handle_days = (int)db_column_int64(st, 4),
				   .visit_days = (int)db_column_int64(st, 5),
				   .updated_at = db_column_int64(st, 6)};
		snprintf(p.req_type, sizeof p.req_type, "%s", db_column_text(st, 2));
		if (each(&p, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
