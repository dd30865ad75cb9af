/*
 * dept.c — the department tree of a tenant (see dept.h).
 *
 * Rules kept here and nowhere else:
 *  - code is 1-32 of [A-Za-z0-9_-], unique in the tenant; name is 1-64
 *    characters, not blank, and fits struct dept (255 bytes of UTF-8);
 *  - a new department, or an active one being moved, needs an existing
 *    active parent in the same tenant;
 *  - path is the parent's path plus "<id>/" ('/<id>/' at the top), so a
 *    subtree is every row whose path starts with its root's path; a move
 *    rewrites the whole subtree in one UPDATE and may not go under itself;
 *  - no active department under an inactive one: deactivating a department
 *    with active children, or reactivating one under an inactive parent, is
 *    a conflict (active users do not block deactivation);
 *  - only a department without children and without users can be deleted.
 * The write jobs run on the writer thread, one at a time, so a check made
 * inside a job still holds when the job writes. Every statement filters by
 * tenant_id.
 */
#include "core/dept.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/session.h"
#include "db/db.h"
#include "base/banned.h"

#define CODE_MAX_CHARS 32
#define NAME_MAX_CHARS 64
#define SORT_MIN (-2147483647 - 1) /* the column is INTEGER: 32 bits on PostgreSQL */
#define SORT_MAX 2147483647

/* Columns read by read_row(), in its order; d is departments, tenant is $1. */
#define DEPT_COLS                                                                       \
	"d.id, d.parent_id, d.code, d.name, d.path, d.sort, d.active, d.created_at, " \
	"d.updated_at"

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* Fill d from the current row: DEPT_COLS, then the user count in column 9. */
static void read_row(struct db_stmt *st, struct dept *d)
{
	memset(d, 0, sizeof *d);
	d->id = db_column_int64(st, 0);
	d->parent_id = db_column_is_null(st, 1) ? 0 : db_column_int64(st, 1);
	copy_text(d->code, sizeof d->code, db_column_text(st, 2));
	copy_text(d->name, sizeof d->name, db_column_text(st, 3));
	copy_text(d->path, sizeof d->path, db_column_text(st, 4));
	d->sort = db_column_int64(st, 5);
	d->active = db_column_int64(st, 6) != 0;
	d->created_at = db_column_int64(st, 7);
	d->updated_at = db_column_int64(st, 8);
	d->user_count = db_column_int64(st, 9);
}

/* ---- validation ---- */

static int check_code(const char *code, struct err *e)
{
	size_t n;

	if (!code)
		return err_set(e, ERR_BAD_REQUEST, "code", "缺少必填字段“code”",
			       "missing required field 'code'");
	n = strlen(code);
	if (n == 0 || n > CODE_MAX_CHARS || strspn(code,
						    "abcdefghijklmnopqrstuvwxyz"
						    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						    "0123456789_-") != n)
		return err_set(e, ERR_UNPROCESSABLE, "code",
			       "部门编码应为 1 到 %d 个字母、数字、下划线或连字符",
			       "department code must be 1 to %d letters, digits, '_' or '-'",
			       CODE_MAX_CHARS);
	return 0;
}

static int check_name(const char *name, struct err *e)
{
	size_t n;

	if (!name)
		return err_set(e, ERR_BAD_REQUEST, "name", "缺少必填字段“name”",
			       "missing required field 'name'");
	n = strlen(name);
	if (!utf8_valid(name, n))
		return err_set(e, ERR_UNPROCESSABLE, "name", "部门名称不是有效的 UTF-8 文本",
			       "department name is not valid UTF-8");
	if (name[strspn(name, " \t\r\n")] == '\0')
		return err_set(e, ERR_UNPROCESSABLE, "name", "部门名称不能为空",
			       "department name must not be empty");
	if (utf8_len(name, n) > NAME_MAX_CHARS)
		return err_set(e, ERR_UNPROCESSABLE, "name", "部门名称超过 %d 个字符",
			       "department name is longer than %d characters", NAME_MAX_CHARS);
	if (n >= sizeof((struct dept *)0)->name)
		return err_set(e, ERR_UNPROCESSABLE, "name", "部门名称超过 %zu 字节",
			       "department name is longer than %zu bytes",
			       sizeof((struct dept *)0)->name - 1);
	return 0;
}

static int check_sort(int64_t sort, struct err *e)
{
	if (sort < SORT_MIN || sort > SORT_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "sort", "排序值应在 %d 到 %d 之间",
			       "sort must be between %d and %d", SORT_MIN, SORT_MAX);
	return 0;
}

/* ---- reads ---- */

/* The department id of the tenant into *out; ERR_NOT_FOUND naming "id" if missing. */
static int load(struct db *db, int64_t tenant_id, int64_t id, struct dept *out, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc;

	rc = db_queryf(db, &st, e,
		       "SELECT " DEPT_COLS ", (SELECT COUNT(*) FROM users u "
		       "WHERE u.tenant_id = $1 AND u.department_id = d.id) "
		       "FROM departments d WHERE d.tenant_id = $1 AND d.id = $2",
		       "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		read_row(st, out);
		rc = 0;
	} else if (rc == DB_DONE) {
		rc = err_set(e, ERR_NOT_FOUND, "id", "部门 %lld 不存在",
			     "department %lld does not exist", (long long)id);
	}
	db_finalize(st);
	return rc;
}

int dept_get(struct db *db, int64_t tenant_id, int64_t id, struct dept *out, struct err *e)
{
	return load(db, tenant_id, id, out, e);
}

/* The would-be parent: must exist in the tenant, and be active when need_active. */
static int load_parent(struct db *db, int64_t tenant_id, int64_t parent_id, bool need_active,
		       struct dept *out, struct err *e)
{
	int rc = load(db, tenant_id, parent_id, out, e);

	if (rc == ERR_NOT_FOUND)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "上级部门 %lld 不存在",
			       "parent department %lld does not exist", (long long)parent_id);
	if (rc)
		return rc;
	if (need_active && !out->active)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "上级部门“%s”已停用",
			       "parent department '%s' is inactive", out->name);
	return 0;
}

/* Fail with ERR_CONFLICT on "code" if another department (not except_id) has code. */
static int check_code_free(struct db *db, int64_t tenant_id, const char *code, int64_t except_id,
			   struct err *e)
{
	int64_t n = 0;
	int rc = db_query_i64(db, &n, e,
			      "SELECT COUNT(*) FROM departments "
			      "WHERE tenant_id = $1 AND code = $2 AND id <> $3",
			      "iti", tenant_id, code, except_id);
	if (rc)
		return rc;
	if (n > 0)
		return err_set(e, ERR_CONFLICT, "code", "部门编码“%s”已被使用",
			       "department code '%s' is already taken", code);
	return 0;
}

static int count(struct db *db, int64_t *n, struct err *e, const char *sql, int64_t tenant_id,
		 int64_t id)
{
	return db_query_i64(db, n, e, sql, "ii", tenant_id, id);
}

/* A UNIQUE violation on (tenant_id, code) can only be the code. */
static int conflict_on_code(int rc, const char *code, struct err *e)
{
	if (rc == ERR_CONFLICT)
		return err_set(e, ERR_CONFLICT, "code", "部门编码“%s”已被使用",
			       "department code '%s' is already taken", code);
	return rc;
}

static json_t *json_id(int64_t id)
{
	return id ? json_integer(id) : json_null();
}

/* ---- writes ---- */

int dept_create(struct db *db, void *arg, struct err *e)
{
	struct dept_write *w = arg;
	struct dept parent;
	char path[sizeof parent.path];
	json_t *sum = NULL;
	int64_t id = 0;
	int rc, n;

	if ((rc = check_code(w->code, e)) || (rc = check_name(w->name, e)) ||
	    (rc = check_sort(w->sort, e)))
		return rc;
	if (w->parent_id < 0)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "上级部门 %lld 不存在",
			       "parent department %lld does not exist", (long long)w->parent_id);
	if (w->parent_id && (rc = load_parent(db, w->tenant_id, w->parent_id, true, &parent, e)))
		return rc;
	if ((rc = check_code_free(db, w->tenant_id, w->code, 0, e)))
		return rc;

	rc = db_query_i64(db, &id, e,
			  "INSERT INTO departments (tenant_id, parent_id, code, name, path, sort, "
			  "active, created_at, updated_at) "
			  "VALUES ($1, NULLIF($2, 0), $3, $4, '', $5, 1, $6, $6) RETURNING id",
			  "iittii", w->tenant_id, w->parent_id, w->code, w->name, w->sort, w->now);
	if (rc)
		return conflict_on_code(rc, w->code, e);

	if (w->parent_id)
		n = snprintf(path, sizeof path, "%s%lld/", parent.path, (long long)id);
	else
		n = snprintf(path, sizeof path, "/%lld/", (long long)id);
	if (n < 0 || (size_t)n >= sizeof path)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "部门层级过深",
			       "the department tree is too deep");
	rc = db_execf(db, e, "UPDATE departments SET path = $1 WHERE tenant_id = $2 AND id = $3",
		      "tii", path, w->tenant_id, id);
	if (rc)
		return rc;

	sum = json_object();
	json_object_set_new(sum, "code", json_string(w->code));
	json_object_set_new(sum, "name", json_string(w->name));
	json_object_set_new(sum, "parent_id", json_id(w->parent_id));
	json_object_set_new(sum, "sort", json_integer(w->sort));
	rc = audit_append(db, w->who, w->tenant_id, "department", id, "create", sum, e);
	json_decref(sum);
	if (rc)
		return rc;
	w->id = id;
	return 0;
}

/* Record field: [old, new] in the change summary (references stolen). */
static void changed(json_t *sum, const char *field, json_t *old, json_t *new)
{
	json_t *pair = json_array();
	json_array_append_new(pair, old);
	json_array_append_new(pair, new);
	json_object_set_new(sum, field, pair);
}

/*
 * Validate a move of cur under parent_id (0 = top level) and compute its new
 * path into path[n]. active: whether cur is active after the update.
 */
static int plan_move(struct db *db, const struct dept *cur, int64_t tenant_id, int64_t parent_id,
		     bool active, char *path, size_t n, struct err *e)
{
	struct dept parent;
	size_t oldlen = strlen(cur->path);
	int64_t deepest = 0;
	int rc, k;

	if (parent_id == cur->id)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "部门不能成为自己的上级",
			       "a department cannot be its own parent");
	if (parent_id < 0)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "上级部门 %lld 不存在",
			       "parent department %lld does not exist", (long long)parent_id);
	if (parent_id) {
		if ((rc = load_parent(db, tenant_id, parent_id, active, &parent, e)))
			return rc;
		if (strncmp(parent.path, cur->path, oldlen) == 0)
			return err_set(e, ERR_UNPROCESSABLE, "parent_id",
				       "不能把部门“%s”移到它自己的下级部门“%s”之下",
				       "cannot move department '%s' under its own subdepartment '%s'",
				       cur->name, parent.name);
		k = snprintf(path, n, "%s%lld/", parent.path, (long long)cur->id);
	} else {
		k = snprintf(path, n, "/%lld/", (long long)cur->id);
	}
	if (k < 0 || (size_t)k >= n)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "部门层级过深",
			       "the department tree is too deep");

	/* The deepest path of the subtree must still fit after the move. */
	rc = db_query_i64(db, &deepest, e,
			  "SELECT MAX(length(path)) FROM departments "
			  "WHERE tenant_id = $1 AND path LIKE $2 || '%'",
			  "it", tenant_id, cur->path);
	if (rc)
		return rc;
	if (deepest - (int64_t)oldlen + k >= (int64_t)n)
		return err_set(e, ERR_UNPROCESSABLE, "parent_id", "部门层级过深",
			       "the department tree is too deep");
	return 0;
}

int dept_update(struct db *db, void *arg, struct err *e)
{
	struct dept_write *w = arg;
	struct dept cur, parent;
	char path[sizeof cur.path];
	json_t *sum = json_object();
	const char *code, *name;
	int64_t sort, parent_id, n = 0;
	bool active, move;
	int rc;

	if ((rc = load(db, w->tenant_id, w->id, &cur, e)))
		goto out;
	code = cur.code;
	name = cur.name;
	sort = cur.sort;
	active = cur.active;
	parent_id = cur.parent_id;

	if (w->code && strcmp(w->code, cur.code) != 0) {
		if ((rc = check_code(w->code, e)) ||
		    (rc = check_code_free(db, w->tenant_id, w->code, cur.id, e)))
			goto out;
		code = w->code;
		changed(sum, "code", json_string(cur.code), json_string(code));
	}
	if (w->name && strcmp(w->name, cur.name) != 0) {
		if ((rc = check_name(w->name, e)))
			goto out;
		name = w->name;
		changed(sum, "name", json_string(cur.name), json_string(name));
	}
	if (w->set_sort && w->sort != cur.sort) {
		if ((rc = check_sort(w->sort, e)))
			goto out;
		sort = w->sort;
		changed(sum, "sort", json_integer(cur.sort), json_integer(sort));
	}
	if (w->set_active && w->active != cur.active) {
		active = w->active;
		changed(sum, "active", json_boolean(cur.active), json_boolean(active));
	}
	move = w->set_parent && w->parent_id != cur.parent_id;
	if (move) {
		parent_id = w->parent_id;
		if ((rc = plan_move(db, &cur, w->tenant_id, parent_id, active, path, sizeof path, e)))
			goto out;
		changed(sum, "parent_id", json_id(cur.parent_id), json_id(parent_id));
		changed(sum, "path", json_string(cur.path), json_string(path));
	}

	if (cur.active && !active) {
		rc = count(db, &n, e,
			   "SELECT COUNT(*) FROM departments "
			   "WHERE tenant_id = $1 AND parent_id = $2 AND active = 1",
			   w->tenant_id, cur.id);
		if (rc)
			goto out;
		if (n > 0) {
			rc = err_set(e, ERR_CONFLICT, "active",
				     "部门“%s”下还有 %lld 个启用的下级部门，不能停用",
				     "department '%s' still has %lld active subdepartments",
				     cur.name, (long long)n);
			goto out;
		}
	}
	if (!cur.active && active && !move && parent_id) {
		if ((rc = load_parent(db, w->tenant_id, parent_id, false, &parent, e)))
			goto out;
		if (!parent.active) {
			rc = err_set(e, ERR_CONFLICT, "active",
				     "上级部门“%s”已停用，不能启用其下级部门",
				     "cannot activate a department under inactive parent '%s'",
				     parent.name);
			goto out;
		}
	}

	if (json_object_size(sum) == 0) /* nothing changes: no write, no audit row */
		goto out;

	/* sessions carry their user's department path */
	if ((rc = session_changed(db, e)))
		goto out;
	rc = db_execf(db, e,
		      "UPDATE departments SET code = $1, name = $2, sort = $3, active = $4, "
		      "parent_id = NULLIF($5, 0), updated_at = $6 WHERE tenant_id = $7 AND id = $8",
		      "ttiiiiii", code, name, sort, (int64_t)active, parent_id, w->now,
		      w->tenant_id, cur.id);
	if (rc) {
		rc = conflict_on_code(rc, code, e);
		goto out;
	}
	if (move) {
		rc = db_execf(db, e,
			      "UPDATE departments SET path = $1 || substr(path, length($2) + 1), "
			      "updated_at = $3 WHERE tenant_id = $4 AND path LIKE $2 || '%'",
			      "ttii", path, cur.path, w->now, w->tenant_id);
		if (rc)
			goto out;
	}
	rc = audit_append(db, w->who, w->tenant_id, "department", cur.id, "update", sum, e);
out:
	json_decref(sum);
	return rc;
}

int dept_delete(struct db *db, void *arg, struct err *e)
{
	struct dept_write *w = arg;
	struct dept cur;
	json_t *sum = NULL;
	int64_t n = 0;
	int rc;

	if ((rc = load(db, w->tenant_id, w->id, &cur, e)))
		return rc;
	rc = count(db, &n, e, "SELECT COUNT(*) FROM departments WHERE tenant_id = $1 AND parent_id = $2",
		   w->tenant_id, cur.id);
	if (rc)
		return rc;
	if (n > 0)
		return err_set(e, ERR_CONFLICT, "id", "部门“%s”下还有 %lld 个下级部门，不能删除",
			       "department '%s' still has %lld subdepartments", cur.name,
			       (long long)n);
	if (cur.user_count > 0)
		return err_set(e, ERR_CONFLICT, "id", "部门“%s”下还有 %lld 个用户，不能删除",
			       "department '%s' still has %lld users", cur.name,
			       (long long)cur.user_count);

	if ((rc = session_changed(db, e)))
		return rc;
	rc = db_execf(db, e, "DELETE FROM departments WHERE tenant_id = $1 AND id = $2", "ii",
		      w->tenant_id, cur.id);
	if (rc == ERR_UNPROCESSABLE) /* a foreign key: some other record still names it */
		return err_set(e, ERR_CONFLICT, "id", "部门“%s”仍被其他记录引用，不能删除",
			       "department '%s' is still referenced by other records", cur.name);
	if (rc)
		return rc;

	sum = json_object();
	json_object_set_new(sum, "code", json_string(cur.code));
	json_object_set_new(sum, "name", json_string(cur.name));
	json_object_set_new(sum, "parent_id", json_id(cur.parent_id));
	json_object_set_new(sum, "path", json_string(cur.path));
	rc = audit_append(db, w->who, w->tenant_id, "department", cur.id, "delete", sum, e);
	json_decref(sum);
	return rc;
}

/* ---- listing in tree order ---- */

/* Siblings together (by parent), then by sort, name, id. */
static int cmp_sibling(const void *a, const void *b)
{
	const struct dept *x = a, *y = b;
	int c;

	if (x->parent_id != y->parent_id)
		return x->parent_id < y->parent_id ? -1 : 1;
	if (x->sort != y->sort)
		return x->sort < y->sort ? -1 : 1;
	if ((c = strcmp(x->name, y->name)))
		return c;
	return (x->id > y->id) - (x->id < y->id);
}

/* Index of the first row with this parent in the sorted rows, or n if none. */
static size_t first_child(const struct dept *rows, size_t n, int64_t parent_id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rows[mid].parent_id < parent_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && rows[lo].parent_id == parent_id ? lo : n;
}

/*
 * Depth-first from the top-level rows: each department is followed by its
 * subtree, siblings in cmp_sibling order. Rows not reached from the top (an
 * inconsistent tree) come last, so every row is still listed once.
 */
static int walk(struct dept *rows, size_t n, int (*each)(const struct dept *d, void *ctx),
		void *ctx)
{
	bool *seen = xcalloc(n + 1, sizeof *seen);
	/* Holds the next sibling to visit at each level. A row is pushed at most
	 * twice (as a next sibling, as a first child), once in a sound tree. */
	size_t *stack = xmalloc((2 * n + 1) * sizeof *stack);
	size_t sp = 0;
	int rc = 0;

	if (n && rows[0].parent_id == 0)
		stack[sp++] = 0;
	while (sp > 0 && rc == 0) {
		size_t i = stack[--sp], c;
		if (seen[i])
			continue;
		seen[i] = true;
		if (i + 1 < n && rows[i + 1].parent_id == rows[i].parent_id)
			stack[sp++] = i + 1;
		rc = each(&rows[i], ctx);
		c = first_child(rows, n, rows[i].id);
		if (c < n)
			stack[sp++] = c;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!seen[i])
			rc = each(&rows[i], ctx);
	free(stack);
	free(seen);
	return rc;
}

int dept_list(struct db *db, int64_t tenant_id, int (*each)(const struct dept *d, void *ctx),
	      void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	struct dept *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;

	rc = db_queryf(db, &st, e,
		       "SELECT " DEPT_COLS ", COALESCE(u.n, 0) FROM departments d "
		       "LEFT JOIN (SELECT department_id, COUNT(*) AS n FROM users "
		       "WHERE tenant_id = $1 AND department_id IS NOT NULL "
		       "GROUP BY department_id) u ON u.department_id = d.id "
		       "WHERE d.tenant_id = $1 ORDER BY d.path",
		       "i", tenant_id);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			rows = xrealloc(rows, cap * sizeof *rows);
		}
		read_row(st, &rows[n++]);
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	if (n)
		qsort(rows, n, sizeof *rows, cmp_sibling);
	rc = walk(rows, n, each, ctx);
out:
	db_finalize(st);
	free(rows);
	return rc;
}

int dept_id_by_code(struct db *db, int64_t tenant_id, const char *code, int64_t *id,
		    struct err *e)
{
	int rc = db_query_i64(db, id, e,
			      "SELECT id FROM departments WHERE tenant_id = $1 AND code = $2", "it",
			      tenant_id, code);
	if (rc == ERR_NOT_FOUND)
		return err_set(e, ERR_NOT_FOUND, "dept", "找不到部门“%s”",
			       "no department with code '%s'", code);
	return rc;
}
