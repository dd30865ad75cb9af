/*
 * api_dept.c — /api/v1/departments: the department tree over HTTP.
 *
 * Decodes and validates bodies, calls src/core/dept.c, shapes the replies.
 * A department as JSON:
 *   {"id","parent_id"|null,"code","name","path","sort","active","user_count",
 *    "created_at","updated_at"}   (times: UTC milliseconds)
 * Every role holding dept.read reaches the whole tenant today; a narrower
 * scope, should one be granted, is honoured through scope_allows().
 */
#include "api/api.h"

#include <stdint.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "core/dept.h"
#include "base/banned.h"

#define CODE_MAX_CHARS 32
#define NAME_MAX_CHARS 64

static json_t *dept_json(const struct dept *d)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", json_integer(d->id));
	json_object_set_new(j, "parent_id", d->parent_id ? json_integer(d->parent_id) : json_null());
	json_object_set_new(j, "code", json_string(d->code));
	json_object_set_new(j, "name", json_string(d->name));
	json_object_set_new(j, "path", json_string(d->path));
	json_object_set_new(j, "sort", json_integer(d->sort));
	json_object_set_new(j, "active", json_boolean(d->active));
	json_object_set_new(j, "user_count", json_integer(d->user_count));
	json_object_set_new(j, "created_at", api_time(d->created_at));
	json_object_set_new(j, "updated_at", api_time(d->updated_at));
	return j;
}

static bool visible(struct req *r, const struct dept *d)
{
	struct scope_row row = {.dept_id = d->id, .dept_path = d->path};
	return scope_allows(&r->actor, r->scope, &row);
}

/* Read department id into a reply with the given status. */
static int reply_dept(struct req *r, int status, int64_t id)
{
	struct db *db = req_db(r);
	struct dept d;
	int rc;

	if (!db)
		return r->err.code;
	if ((rc = dept_get(db, r->actor.tenant_id, id, &d, &r->err)))
		return rc;
	if (!visible(r, &d))
		return req_fail(r, ERR_NOT_FOUND, "id", "部门 %lld 不存在",
				"department %lld does not exist", (long long)id);
	return reply_json(r, status, dept_json(&d));
}

static void write_init(struct req *r, struct dept_write *w)
{
	*w = (struct dept_write){
		.who = &r->actor,
		.tenant_id = r->actor.tenant_id,
		.now = now_ms(),
	};
}

struct list_ctx {
	struct req *r;
	json_t *items;
};

static int add_item(const struct dept *d, void *arg)
{
	struct list_ctx *c = arg;

	if (visible(c->r, d))
		json_array_append_new(c->items, dept_json(d));
	return 0;
}

static int list_depts(struct req *r)
{
	struct db *db = req_db(r);
	struct list_ctx c = {r, NULL};
	int rc;

	if (!db)
		return r->err.code;
	c.items = json_array();
	if ((rc = dept_list(db, r->actor.tenant_id, add_item, &c, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	return reply_json(r, 200, api_list(c.items, 0));
}

static int get_dept(struct req *r)
{
	int64_t id;
	int rc;

	if ((rc = req_param_id(r, "id", &id)))
		return rc;
	return reply_dept(r, 200, id);
}

static int create_dept(struct req *r)
{
	static const char *const allowed[] = {"code", "name", "parent_id", "sort", NULL};
	struct dept_write w;
	json_t *body;
	int rc;

	if (!(body = req_body_json(r)))
		return r->err.code;
	write_init(r, &w);
	if ((rc = jsonv_only(body, allowed, &r->err)) ||
	    (rc = jsonv_str(body, "code", true, CODE_MAX_CHARS, &w.code, &r->err)) ||
	    (rc = jsonv_text(body, "name", true, NAME_MAX_CHARS, &w.name, &r->err)) ||
	    (rc = jsonv_int(body, "parent_id", false, 1, INT64_MAX, &w.parent_id, &r->err)) ||
	    (rc = jsonv_int(body, "sort", false, INT32_MIN, INT32_MAX, &w.sort, &r->err)))
		return rc;
	if ((rc = req_write(r, dept_create, &w)))
		return rc;
	return reply_dept(r, 201, w.id);
}

static int update_dept(struct req *r)
{
	static const char *const allowed[] = {"code", "name", "parent_id", "sort", "active", NULL};
	struct dept_write w;
	json_t *body;
	int rc;

	write_init(r, &w);
	if ((rc = req_param_id(r, "id", &w.id)))
		return rc;
	if (!(body = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(body, allowed, &r->err)) ||
	    (rc = jsonv_str(body, "code", false, CODE_MAX_CHARS, &w.code, &r->err)) ||
	    (rc = jsonv_text(body, "name", false, NAME_MAX_CHARS, &w.name, &r->err)) ||
	    (rc = jsonv_int(body, "parent_id", false, 1, INT64_MAX, &w.parent_id, &r->err)))
		return rc;
	/* parent_id: absent = unchanged, null = top level */
	w.set_parent = json_object_get(body, "parent_id") != NULL;
	if (jsonv_has(body, "sort")) {
		if ((rc = jsonv_int(body, "sort", true, INT32_MIN, INT32_MAX, &w.sort, &r->err)))
			return rc;
		w.set_sort = true;
	}
	if (jsonv_has(body, "active")) {
		if ((rc = jsonv_bool(body, "active", true, &w.active, &r->err)))
			return rc;
		w.set_active = true;
	}
	if ((rc = req_write(r, dept_update, &w)))
		return rc;
	return reply_dept(r, 200, w.id);
}

static int delete_dept(struct req *r)
{
	struct dept_write w;
	int rc;

	write_init(r, &w);
	if ((rc = req_param_id(r, "id", &w.id)))
		return rc;
	if ((rc = req_write(r, dept_delete, &w)))
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

const struct route api_dept_routes[] = {
	{"GET", "/api/v1/departments", list_depts, PERM_DEPT_READ, 0, 0,
	 "列出部门（树序） / list departments in tree order"},
	{"GET", "/api/v1/departments/{id}", get_dept, PERM_DEPT_READ, 0, 0,
	 "查看部门 / get a department"},
	{"POST", "/api/v1/departments", create_dept, PERM_DEPT_WRITE, 0, 0,
	 "新建部门 / create a department"},
	{"PATCH", "/api/v1/departments/{id}", update_dept, PERM_DEPT_WRITE, 0, 0,
	 "修改、移动或停用部门 / update, move or deactivate a department"},
	{"DELETE", "/api/v1/departments/{id}", delete_dept, PERM_DEPT_WRITE, 0, 0,
	 "删除空部门 / delete an empty department"},
	{0},
};
