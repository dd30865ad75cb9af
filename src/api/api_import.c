/*
 * api_import.c — importing enterprises from uploaded CSV/XLSX files, the
 * runs and their error reports, and exporting the registry (core/import.h).
 *
 * The upload is the raw file as the request body (up to 64 MiB, buffered
 * by the server before the handler runs) and is imported synchronously:
 * the reply is the run's summary. Exports take the filters of
 * GET /api/v1/enterprises and are built in memory before they are sent.
 */
#include "api/api.h"

#include <strings.h>
#include <string.h>
#include <time.h>

#include "base/arena.h"
#include "base/util.h"
#include "core/enterprise.h"
#include "core/import.h"
#include "base/banned.h"

#define UPLOAD_MAX (64u << 20)
#define PREVIEW 20

static const char *const XLSX_TYPE =
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

static bool type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	return ct && strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int each_preview(const struct import_error *er, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:I,s:s,s:s,s:s}", "row", (json_int_t)er->row_no,
					     "field", er->field, "message", er->message,
					     "message_zh", er->message_zh));
	return 0;
}

/* The run as JSON with the first PREVIEW errors; NULL with r->err set on failure. */
static json_t *run_json(struct req *r, int64_t id)
{
	struct import_run run;
	struct db *db = req_db(r);
	if (!db || import_run_get(db, r->actor.tenant_id, id, &run, &r->err))
		return NULL;
	json_t *preview = json_array();
	if (import_errors_each(db, r->actor.tenant_id, id, PREVIEW, each_preview, preview,
			       &r->err)) {
		json_decref(preview);
		return NULL;
	}
	return json_pack("{s:I,s:s,s:s,s:s,s:I,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:o}", "id",
			 (json_int_t)run.id, "kind", run.kind, "filename", run.filename, "status",
			 run.status, "actor_id", (json_int_t)run.actor_id, "started_at",
			 api_time(run.started_at), "finished_at", api_time(run.finished_at),
			 "rows_total", (json_int_t)run.rows_total, "created",
			 (json_int_t)run.created, "updated", (json_int_t)run.updated, "unchanged",
			 (json_int_t)run.unchanged, "failed", (json_int_t)run.failed,
			 "errors_preview", preview);
}

static int h_import(struct req *r)
{
	const char *ct = req_header(r, "Content-Type");
	const char *filename = req_query(r, "filename");
	const char *accept = req_query(r, "accept_check_failures");
	enum tabular_format fmt = TABULAR_AUTO;

	if (r->body.len == 0)
		return req_fail(r, ERR_BAD_REQUEST, "body",
				"请把 CSV 或 .xlsx 文件本身作为请求体上传",
				"send the CSV or .xlsx file itself as the request body");
	if (type_is(ct, "application/json") || type_is(ct, "multipart/form-data") ||
	    type_is(ct, "application/x-www-form-urlencoded"))
		return req_fail(r, ERR_BAD_REQUEST, "Content-Type",
				"请直接上传文件（Content-Type: text/csv 或 .xlsx 类型），不要用表单或 JSON",
				"send the file itself (Content-Type text/csv or %s), not a form or JSON",
				XLSX_TYPE);
	if (type_is(ct, XLSX_TYPE))
		fmt = TABULAR_XLSX;
	else if (type_is(ct, "text/csv") &&
		 tabular_sniff(r->body.p, r->body.len) != TABULAR_XLSX)
		fmt = TABULAR_CSV;
	if (filename && (strlen(filename) > 200 || !utf8_valid(filename, strlen(filename))))
		return req_fail(r, ERR_BAD_REQUEST, "filename", "文件名应为不超过 200 字节的文本",
				"filename must be text of at most 200 bytes");

	struct import_opts o = {.who = &r->actor,
				.tenant_id = r->actor.tenant_id,
				.filename = filename ? filename : "",
				.format = fmt,
				.override_check = accept && strcmp(accept, "1") == 0};
	struct import_result res;
	struct err fatal;
	err_clear(&fatal);
	int rc = import_enterprises_mem(r->app->pool, r->body.p, r->body.len, &o, &res, &fatal);
	if (rc && !res.run_id) {
		r->err = fatal;
		return rc;
	}
	json_t *out = run_json(r, res.run_id);
	if (!out)
		return r->err.code;
	json_object_set_new(out, "header_row", json_integer(res.header_row));
	json_object_set_new(out, "warning", json_string(res.warning));
	json_object_set_new(out, "warning_zh", json_string(res.warning_zh));
	if (rc) /* stopped half-way: the error, and what was committed before it */
		json_object_set_new(out, "error",
				    json_pack("{s:s,s:s,s:s,s:s}", "code", err_code_name(rc),
					      "message", fatal.message, "message_zh",
					      fatal.message_zh, "field", fatal.field));
	return reply_json(r, rc ? err_http_status(rc) : 200, out);
}

static int h_run(struct req *r)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	json_t *out = run_json(r, id);
	return out ? reply_json(r, 200, out) : r->err.code;
}

static void attachment(struct req *r, const char *name)
{
	req_header_add(r, "Content-Disposition", arena_printf(r->arena, "attachment; filename=\"%s\"", name));
}

static int report(struct req *r, enum tabular_format fmt)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	struct db *db = rc ? NULL : req_db(r);
	if (rc || !db)
		return rc ? rc : r->err.code;
	struct buf b;
	buf_init(&b, 0);
	rc = import_report(db, r->actor.tenant_id, id, fmt, &b, &r->err);
	if (!rc) {
		reply_raw(r, 200, fmt == TABULAR_XLSX ? XLSX_TYPE : "text/csv; charset=utf-8", b.p,
			  b.len);
		attachment(r, arena_printf(r->arena, "import-%lld-errors.%s", (long long)id,
					   fmt == TABULAR_XLSX ? "xlsx" : "csv"));
	}
	buf_release(&b);
	return rc;
}

static int h_errors_csv(struct req *r)
{
	return report(r, TABULAR_CSV);
}

static int h_errors_xlsx(struct req *r)
{
	return report(r, TABULAR_XLSX);
}

static int export(struct req *r, enum tabular_format fmt)
{
	struct enterprise_filter f;
	int rc = api_enterprise_filter(r, &f);
	struct db *db = rc ? NULL : req_db(r);
	if (rc || !db)
		return rc ? rc : r->err.code;
	struct buf b;
	int64_t rows = 0;
	buf_init(&b, 0);
	rc = import_export_enterprises(db, &r->actor, r->scope, &f, fmt, &b, &rows, &r->err);
	if (!rc) {
		char day[16];
		time_t t = (time_t)(now_ms() / 1000) + 8 * 3600; /* Asia/Shanghai */
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(day, sizeof day, "%Y%m%d", &tm);
		reply_raw(r, 200, fmt == TABULAR_XLSX ? XLSX_TYPE : "text/csv; charset=utf-8", b.p,
			  b.len);
		attachment(r, arena_printf(r->arena, "enterprises-%s.%s", day,
					   fmt == TABULAR_XLSX ? "xlsx" : "csv"));
	}
	buf_release(&b);
	return rc;
}

static int h_export_csv(struct req *r)
{
	return export(r, TABULAR_CSV);
}

static int h_export_xlsx(struct req *r)
{
	return export(r, TABULAR_XLSX);
}

const struct route api_import_routes[] = {
	{"POST", "/api/v1/imports/enterprises", h_import, PERM_ENTERPRISE_WRITE, UPLOAD_MAX, ROUTE_SLOW,
	 "导入企业（CSV 或 .xlsx 文件作为请求体）/ import enterprises from a CSV or .xlsx body"},
	{"GET", "/api/v1/imports/{id}", h_run, PERM_ENTERPRISE_WRITE, 0, 0,
	 "导入记录 / an import run"},
	{"GET", "/api/v1/imports/{id}/errors.csv", h_errors_csv, PERM_ENTERPRISE_WRITE, 0, 0,
	 "导入错误报告（CSV）/ the rows an import refused, as CSV"},
	{"GET", "/api/v1/imports/{id}/errors.xlsx", h_errors_xlsx, PERM_ENTERPRISE_WRITE, 0, 0,
	 "导入错误报告（Excel）/ the rows an import refused, as .xlsx"},
	{"GET", "/api/v1/enterprises/export.csv", h_export_csv, PERM_ENTERPRISE_READ, 0, 0,
	 "导出企业（CSV）/ export enterprises as CSV"},
	{"GET", "/api/v1/enterprises/export.xlsx", h_export_xlsx, PERM_ENTERPRISE_READ, 0, 0,
	 "导出企业（Excel）/ export enterprises as .xlsx"},
	{0},
};
