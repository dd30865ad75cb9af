/*
 * api_ledger.c — the key-enterprise ledger (重点企业台账) over HTTP.
 *
 *   GET   /api/v1/ledger                 ledger.read   list (filters, keyset paging)
 *   POST  /api/v1/ledger                 ledger.write  create an item
 *   GET   /api/v1/ledger/summary         ledger.read   open / overdue per enterprise, official
 *   GET   /api/v1/ledger/export.xlsx     ledger.read   the list as an Excel file
 *   GET   /api/v1/ledger/{id}            ledger.read
 *   PATCH /api/v1/ledger/{id}            ledger.write
 *   POST  /api/v1/ledger/{id}/progress   ledger.write  a note, optionally a new status
 *   GET   /api/v1/ledger/{id}/progress   ledger.read
 *
 * The fixed paths come before /ledger/{id} in the table: the router takes the
 * first match. Scopes and rules live in core/ledger.c; this file decodes,
 * validates shapes and shapes replies.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/ledger.h"
#include "core/xlsx.h"
#include "base/banned.h"

#define EXPORT_MAX_ROWS 50000

static json_t *item_json(const struct ledger_item *it)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(it->id));
	json_object_set_new(j, "enterprise_id", json_integer(it->enterprise_id));
	json_object_set_new(j, "enterprise_name", json_string(it->enterprise_name));
	json_object_set_new(j, "credit_code", json_string(it->credit_code));
	json_object_set_new(j, "title", json_string(it->title));
	json_object_set_new(j, "description", json_string(it->description));
	json_object_set_new(j, "responsible_user_id", json_integer(it->responsible_user_id));
	json_object_set_new(j, "responsible_name", json_string(it->responsible_name));
	json_object_set_new(j, "responsible_department_id", api_id(it->responsible_dept_id));
	json_object_set_new(j, "responsible_department_name",
			    json_string(it->responsible_dept_name));
	json_object_set_new(j, "deadline_on", json_string(it->deadline_on));
	json_object_set_new(j, "deadline_at", json_integer(it->deadline_at));
	json_object_set_new(j, "status", json_string(ledger_status_name(it->status)));
	json_object_set_new(j, "overdue", json_boolean(it->overdue));
	json_object_set_new(j, "created_by", api_id(it->created_by));
	json_object_set_new(j, "created_at", api_time(it->created_at));
	json_object_set_new(j, "updated_at", api_time(it->updated_at));
	json_object_set_new(j, "resolved_at", api_time(it->resolved_at));
	return j;
}

/* Reply with item id as the caller's ledger.read scope shows it. */
static int reply_item(struct req *r, int status, int64_t id)
{
	struct db *db = req_db(r);
	struct ledger_item *it;
	int rc;

	if (!db)
		return r->err.code;
	it = xmalloc(sizeof *it);
	rc = ledger_get(db, &r->actor, authz_scope(&r->actor, PERM_LEDGER_READ), id, now_ms(), it,
			&r->err);
	if (!rc)
		rc = reply_json(r, status, item_json(it));
	free(it);
	return rc;
}

static void write_init(struct req *r, struct ledger_write *w)
{
	*w = (struct ledger_write){
		.who = &r->actor,
		.read_scope = authz_scope(&r->actor, PERM_LEDGER_READ),
		.scope = r->scope,
		.tenant_id = r->actor.tenant_id,
		.now = now_ms(),
	};
}

/* The list filters shared by the list and the export (not the paging). */
static int parse_filter(struct req *r, struct ledger_filter *f)
{
	int64_t overdue = 0;
	const char *status = req_query(r, "status");
	int rc;

	*f = (struct ledger_filter){.status = -1, .now = now_ms()};
	if ((rc = req_query_int(r, "enterprise_id", 0, 0, INT64_MAX, &f->enterprise_id)) ||
	    (rc = req_query_int(r, "responsible_user_id", 0, 0, INT64_MAX,
				&f->responsible_user_id)) ||
	    (rc = req_query_int(r, "overdue", 0, 0, 1, &overdue)))
		return rc;
	f->overdue = overdue != 0;
	if (status && *status && (f->status = ledger_status_from_name(status)) < 0)
		return req_fail(r, ERR_BAD_REQUEST, "status",
				"状态应为 open、in_progress、resolved 或 closed",
				"status must be open, in_progress, resolved or closed");
	return 0;
}

struct list_ctx {
	json_t *items;
	int64_t last;
};

static int add_item(const struct ledger_item *it, void *ctx)
{
	struct list_ctx *c = ctx;
	json_array_append_new(c->items, item_json(it));
	c->last = it->id;
	return 0;
}

static int h_list(struct req *r)
{
	struct ledger_filter f;
	struct page pg;
	struct list_ctx c = {NULL, 0};
	struct db *db;
	int rc = parse_filter(r, &f);
	if (!rc)
		rc = api_page(r, &pg);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	f.after = pg.after;
	f.limit = pg.limit;
	c.items = json_array();
	if ((rc = ledger_list(db, &r->actor, r->scope, &f, add_item, &c, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == pg.limit ? c.last : 0;
	return reply_json(r, 200, api_list(c.items, next));
}

static int h_create(struct req *r)
{
	static const char *const allowed[] = {"enterprise_id", "title", "description",
					      "responsible_user_id", "deadline", NULL};
	struct ledger_write w;
	json_t *b;
	int rc;

	write_init(r, &w);
	if (!(b = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_int(b, "enterprise_id", true, 1, INT64_MAX, &w.enterprise_id, &r->err)) ||
	    (rc = jsonv_text(b, "title", true, LEDGER_TITLE_MAX, &w.title, &r->err)) ||
	    (rc = jsonv_str(b, "description", false, LEDGER_TEXT_MAX, &w.description, &r->err)) ||
	    (rc = jsonv_int(b, "responsible_user_id", true, 1, INT64_MAX, &w.responsible_user_id,
			    &r->err)) ||
	    (rc = jsonv_str(b, "deadline", true, 10, &w.deadline, &r->err)))
		return rc;
	if ((rc = req_write(r, ledger_create, &w)))
		return rc;
	return reply_item(r, 201, w.id);
}

static int h_get(struct req *r)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	return reply_item(r, 200, id);
}

static int h_update(struct req *r)
{
	static const char *const allowed[] = {"title", "description", "responsible_user_id",
					      "deadline", NULL};
	struct ledger_write w;
	json_t *b;
	int rc;

	write_init(r, &w);
	if ((rc = req_param_id(r, "id", &w.id)))
		return rc;
	if (!(b = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_str(b, "title", false, LEDGER_TITLE_MAX, &w.title, &r->err)) ||
	    (rc = jsonv_str(b, "description", false, LEDGER_TEXT_MAX, &w.description, &r->err)) ||
	    (rc = jsonv_int(b, "responsible_user_id", false, 1, INT64_MAX, &w.responsible_user_id,
			    &r->err)) ||
	    (rc = jsonv_str(b, "deadline", false, 10, &w.deadline, &r->err)))
		return rc;
	if ((rc = req_write(r, ledger_update, &w)))
		return rc;
	return reply_item(r, 200, w.id);
}

/* ---- progress ---- */

static json_t *progress_json(const struct ledger_progress *p)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(p->id));
	json_object_set_new(j, "item_id", json_integer(p->item_id));
	json_object_set_new(j, "at", api_time(p->at));
	json_object_set_new(j, "user_id", api_id(p->user_id));
	json_object_set_new(j, "user_name", json_string(p->user_name));
	json_object_set_new(j, "note", json_string(p->note));
	json_object_set_new(j, "status_after", json_string(p->status_after));
	return j;
}

static int add_progress(const struct ledger_progress *p, void *ctx)
{
	struct list_ctx *c = ctx;
	json_array_append_new(c->items, progress_json(p));
	c->last = p->id;
	return 0;
}

static int h_progress_add(struct req *r)
{
	static const char *const allowed[] = {"note", "status", NULL};
	struct ledger_write w;
	json_t *b;
	int rc;

	write_init(r, &w);
	if ((rc = req_param_id(r, "id", &w.id)))
		return rc;
	if (!(b = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_text(b, "note", true, LEDGER_TEXT_MAX, &w.note, &r->err)) ||
	    (rc = jsonv_str(b, "status", false, 16, &w.status, &r->err)))
		return rc;
	if ((rc = req_write(r, ledger_add_progress, &w)))
		return rc;
	struct ledger_progress p = {.id = w.progress_id, .item_id = w.id, .at = w.now,
				    .user_id = r->actor.user_id,
				    .user_name = r->actor.display_name, .note = w.note};
	struct db *db = req_db(r);
	struct ledger_item *it = xmalloc(sizeof *it);
	if (!db)
		rc = r->err.code;
	else
		rc = ledger_get(db, &r->actor, w.read_scope, w.id, w.now, it, &r->err);
	if (!rc) {
		p.status_after = ledger_status_name(it->status);
		json_t *out = progress_json(&p);
		json_object_set_new(out, "item", item_json(it));
		rc = reply_json(r, 201, out);
	}
	free(it);
	return rc;
}

static int h_progress_list(struct req *r)
{
	struct page pg;
	struct list_ctx c = {NULL, 0};
	struct db *db;
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (!rc)
		rc = api_page(r, &pg);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	c.items = json_array();
	if ((rc = ledger_progress_list(db, &r->actor, r->scope, id, pg.after, pg.limit,
				       add_progress, &c, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	int64_t next = (int64_t)json_array_size(c.items) == pg.limit ? c.last : 0;
	return reply_json(r, 200, api_list(c.items, next));
}

/* ---- summary ---- */

static json_t *count_json(const struct ledger_count *c, const char *id_key,
			  const char *detail_key)
{
	json_t *j = json_object();
	json_object_set_new(j, id_key, json_integer(c->id));
	json_object_set_new(j, "name", json_string(c->name));
	json_object_set_new(j, detail_key, json_string(c->detail));
	json_object_set_new(j, "open", json_integer(c->open));
	json_object_set_new(j, "overdue", json_integer(c->overdue));
	return j;
}

struct summary_ctx {
	json_t *enterprises, *officials;
};

static int add_enterprise(const struct ledger_count *c, void *ctx)
{
	struct summary_ctx *s = ctx;
	json_array_append_new(s->enterprises, count_json(c, "enterprise_id", "credit_code"));
	return 0;
}

static int add_official(const struct ledger_count *c, void *ctx)
{
	struct summary_ctx *s = ctx;
	json_array_append_new(s->officials, count_json(c, "user_id", "department_name"));
	return 0;
}

static int h_summary(struct req *r)
{
	struct ledger_totals t;
	struct summary_ctx s;
	struct db *db;
	int64_t limit;
	int rc = req_query_int(r, "limit", 100, 1, 1000, &limit);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	s.enterprises = json_array();
	s.officials = json_array();
	rc = ledger_summary(db, &r->actor, r->scope, now_ms(), limit, add_enterprise, add_official,
			    &s, &t, &r->err);
	if (rc) {
		json_decref(s.enterprises);
		json_decref(s.officials);
		return rc;
	}
	return reply_json(r, 200,
			  json_pack("{s:{s:I,s:I,s:I,s:I},s:o,s:o}", "totals", "open",
				    (json_int_t)t.open, "overdue", (json_int_t)t.overdue,
				    "enterprises", (json_int_t)t.enterprises, "officials",
				    (json_int_t)t.officials, "by_enterprise", s.enterprises,
				    "by_official", s.officials));
}

/* ---- export ---- */

static const struct xlsx_column export_cols[] = {
	{"编号", 8},
	{"企业名称", 32},
	{"统一社会信用代码", 22},
	{"问题", 32},
	{"问题描述", 48},
	{"责任人", 12},
	{"责任部门", 20},
	{"办结时限", 12},
	{"状态", 10},
	{"是否逾期", 10},
	{"登记时间", 18},
	{"更新时间", 18},
	{"解决时间", 18},
};

struct export_ctx {
	struct xlsx_sheet *x;
	struct err *e;
	int rc;
	bool too_many;
};

static int export_row(const struct ledger_item *it, void *ctx)
{
	struct export_ctx *c = ctx;
	char created[24], updated[24], resolved[24];

	if (xlsx_rows(c->x) >= EXPORT_MAX_ROWS) {
		c->too_many = true;
		return 1;
	}
	ledger_format_local(it->created_at, created, sizeof created);
	ledger_format_local(it->updated_at, updated, sizeof updated);
	ledger_format_local(it->resolved_at, resolved, sizeof resolved);
	struct xlsx_cell row[] = {
		xlsx_num((double)it->id),
		xlsx_str(it->enterprise_name),
		xlsx_str(it->credit_code),
		xlsx_str(it->title),
		xlsx_str(it->description),
		xlsx_str(it->responsible_name),
		xlsx_str(it->responsible_dept_name),
		xlsx_str(it->deadline_on),
		xlsx_str(ledger_status_zh(it->status)),
		xlsx_str(it->overdue ? "是" : "否"),
		xlsx_str(created),
		xlsx_str(updated),
		xlsx_str(resolved),
	};
	_Static_assert(ARRAY_SIZE(row) == ARRAY_SIZE(export_cols), "one cell per column");
	c->rc = xlsx_add_row(c->x, row, ARRAY_SIZE(row), c->e);
	return c->rc;
}

static int h_export(struct req *r)
{
	struct ledger_filter f;
	struct export_ctx c = {NULL, &r->err, 0, false};
	struct db *db;
	char *data = NULL;
	size_t len = 0;
	int rc = parse_filter(r, &f);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	f.limit = EXPORT_MAX_ROWS + 1;
	if ((rc = xlsx_sheet_new("重点企业台账", export_cols, ARRAY_SIZE(export_cols), NULL, &c.x,
				 &r->err)))
		return rc;
	rc = ledger_list(db, &r->actor, r->scope, &f, export_row, &c, &r->err);
	if (!rc && c.rc)
		rc = c.rc;
	if (!rc && c.too_many)
		rc = req_fail(r, ERR_UNPROCESSABLE, NULL, "导出超过 %d 行，请缩小筛选范围",
			      "more than %d rows to export: narrow the filters", EXPORT_MAX_ROWS);
	if (!rc)
		rc = xlsx_finish(c.x, &data, &len, &r->err);
	xlsx_sheet_free(c.x);
	if (rc)
		return rc;
	reply_raw(r, 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data,
		  len);
	free(data);
	req_header_add(r, "Content-Disposition", "attachment; filename=\"ledger.xlsx\"");
	return 0;
}

const struct route api_ledger_routes[] = {
	{"GET", "/api/v1/ledger", h_list, PERM_LEDGER_READ, 0, 0,
	 "重点企业台账列表（按数据范围过滤）/ list ledger items (filtered by scope)"},
	{"POST", "/api/v1/ledger", h_create, PERM_LEDGER_WRITE, 16384, 0,
	 "新建台账事项 / add a ledger item"},
	{"GET", "/api/v1/ledger/summary", h_summary, PERM_LEDGER_READ, 0, 0,
	 "台账统计：按企业、责任人的未办结与逾期数 / open and overdue counts per enterprise and "
	 "official"},
	{"GET", "/api/v1/ledger/export.xlsx", h_export, PERM_LEDGER_READ, 0, 0,
	 "导出台账 Excel / export the ledger as .xlsx"},
	{"GET", "/api/v1/ledger/{id}", h_get, PERM_LEDGER_READ, 0, 0,
	 "查看台账事项 / read a ledger item"},
	{"PATCH", "/api/v1/ledger/{id}", h_update, PERM_LEDGER_WRITE, 16384, 0,
	 "修改台账事项 / change a ledger item"},
	{"POST", "/api/v1/ledger/{id}/progress", h_progress_add, PERM_LEDGER_WRITE, 16384, 0,
	 "登记办理进展、变更状态 / record progress, change status"},
	{"GET", "/api/v1/ledger/{id}/progress", h_progress_list, PERM_LEDGER_READ, 0, 0,
	 "查看办理进展 / the progress of a ledger item"},
	{0},
};
