/*
 * api_analysis.c — 研判 over HTTP: problems (requests, visit findings) by grid
 * x category x period, trends, what rises fastest, the top recurring
 * problems, an Excel export and a heat map. All read from counters
 * (core/analysis.c).
 *
 *   GET /api/v1/analysis/matrix          analysis.read  grid x category counts
 *   GET /api/v1/analysis/matrix.xlsx     analysis.read  the same as an Excel sheet
 *   GET /api/v1/analysis/trend           analysis.read  counts per day / week / month
 *   GET /api/v1/analysis/rising          analysis.read  grids and categories rising fastest
 *   GET /api/v1/analysis/top             analysis.read  most frequent grid x category pairs
 *   GET /api/v1/analysis/heatmap.geojson analysis.read  grids with their counts, for a map
 *
 * Common parameters: from, to (YYYY-MM-DD; default the last 90 days up to
 * today, at most two years), level (unit | community | street | district,
 * default street), source (requests | findings | all, default all),
 * grid_id (that grid and below), category_id.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/analysis.h"
#include "core/grid.h"
#include "core/workcal.h"
#include "core/xlsx.h"
#include "base/banned.h"

#define MAX_SPAN_DAYS 731

static int parse_query(struct req *r, struct analysis_query *q)
{
	const char *from = req_query(r, "from"), *to = req_query(r, "to");
	const char *level = req_query(r, "level"), *source = req_query(r, "source");
	int rc;
	memset(q, 0, sizeof *q);
	q->to_day = workcal_local_day(now_ms());
	if (to && *to && !workcal_parse_date(to, &q->to_day))
		return req_fail(r, ERR_BAD_REQUEST, "to", "截止日期应为 YYYY-MM-DD",
				"to must be a date YYYY-MM-DD");
	q->from_day = q->to_day - 89;
	if (from && *from && !workcal_parse_date(from, &q->from_day))
		return req_fail(r, ERR_BAD_REQUEST, "from", "起始日期应为 YYYY-MM-DD",
				"from must be a date YYYY-MM-DD");
	if (q->to_day < q->from_day)
		return req_fail(r, ERR_UNPROCESSABLE, "to", "截止日期不能早于起始日期",
				"to must not be before from");
	if (q->to_day - q->from_day >= MAX_SPAN_DAYS)
		return req_fail(r, ERR_UNPROCESSABLE, "from", "统计时段不能超过两年",
				"the period must not exceed two years");
	q->level = GRID_STREET;
	if (level && *level && (q->level = grid_level_parse(level)) < 0)
		return req_fail(r, ERR_BAD_REQUEST, "level",
				"层级应为 district、street、community 或 unit",
				"level must be district, street, community or unit");
	q->sources = ANALYSIS_REQUESTS | ANALYSIS_FINDINGS;
	if (source && *source) {
		if (!strcmp(source, "requests"))
			q->sources = ANALYSIS_REQUESTS;
		else if (!strcmp(source, "findings"))
			q->sources = ANALYSIS_FINDINGS;
		else if (strcmp(source, "all") != 0)
			return req_fail(r, ERR_BAD_REQUEST, "source",
					"来源应为 requests、findings 或 all",
					"source must be requests, findings or all");
	}
	if ((rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &q->grid_id)) ||
	    (rc = req_query_int(r, "category_id", 0, 0, INT64_MAX, &q->category_id)))
		return rc;
	return 0;
}

static int h_matrix(struct req *r)
{
	struct analysis_query q;
	json_t *out = NULL;
	struct db *db;
	int rc = parse_query(r, &q);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = analysis_matrix(db, &r->actor, r->scope, &q, &out, &r->err)))
		return rc;
	return reply_json(r, 200, out);
}

static int h_matrix_xlsx(struct req *r)
{
	struct analysis_query q;
	json_t *m = NULL;
	struct db *db;
	struct xlsx_sheet *x = NULL;
	char *data = NULL;
	size_t len = 0, i, j;
	json_t *g, *c;
	int rc = parse_query(r, &q);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = analysis_matrix(db, &r->actor, r->scope, &q, &m, &r->err)))
		return rc;
	json_t *grids = json_object_get(m, "grids"), *cats = json_object_get(m, "categories");
	size_t nc = json_array_size(cats), ncols = nc + 3;
	struct xlsx_column *cols = xcalloc(ncols, sizeof *cols);
	struct xlsx_cell *row = xcalloc(ncols, sizeof *row);
	cols[0] = (struct xlsx_column){"网格编码", 18};
	cols[1] = (struct xlsx_column){"网格", 20};
	json_array_foreach(cats, j, c)
		cols[2 + j] = (struct xlsx_column){json_string_value(json_object_get(c, "name")), 12};
	cols[ncols - 1] = (struct xlsx_column){"合计", 10};
	/* the cells, by (grid, category) */
	json_t *cell_of = json_object();
	json_array_foreach(json_object_get(m, "cells"), i, c)
	{
		char k[48];
		snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(c, "grid_id")),
			 json_integer_value(json_object_get(c, "category_id")));
		json_object_set(cell_of, k, json_object_get(c, "count"));
	}
	rc = xlsx_sheet_new("问题研判", cols, ncols, NULL, &x, &r->err);
	json_array_foreach(grids, i, g)
	{
		if (rc)
			break;
		row[0] = xlsx_str(json_string_value(json_object_get(g, "code")));
		row[1] = xlsx_str(json_string_value(json_object_get(g, "name")));
		json_array_foreach(cats, j, c)
		{
			char k[48];
			snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(g, "id")),
				 json_integer_value(json_object_get(c, "id")));
			row[2 + j] = xlsx_num((double)json_integer_value(json_object_get(cell_of, k)));
		}
		row[ncols - 1] = xlsx_num((double)json_integer_value(json_object_get(g, "total")));
		rc = xlsx_add_row(x, row, ncols, &r->err);
	}
	if (!rc) { /* the totals row */
		row[0] = xlsx_str("");
		row[1] = xlsx_str("合计");
		json_array_foreach(cats, j, c)
			row[2 + j] = xlsx_num((double)json_integer_value(json_object_get(c, "total")));
		row[ncols - 1] = xlsx_num((double)json_integer_value(json_object_get(m, "total")));
		rc = xlsx_add_row(x, row, ncols, &r->err);
	}
	if (!rc)
		rc = xlsx_finish(x, &data, &len, &r->err);
	xlsx_sheet_free(x);
	json_decref(cell_of);
	json_decref(m); /* after the sheet: the column headers point into it */
	free(cols);
	free(row);
	if (rc)
		return rc;
	reply_raw(r, 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data,
		  len);
	free(data);
	req_header_add(r, "Content-Disposition", "attachment; filename=\"analysis.xlsx\"");
	return 0;
}

static int h_trend(struct req *r)
{
	struct analysis_query q;
	json_t *out = NULL;
	struct db *db;
	const char *b = req_query(r, "bucket");
	int rc = parse_query(r, &q);
	if (rc)
		return rc;
	if (!b || !*b)
		b = q.to_day - q.from_day > 92 ? "month" : q.to_day - q.from_day > 31 ? "week" : "day";
	if (strcmp(b, "day") && strcmp(b, "week") && strcmp(b, "month"))
		return req_fail(r, ERR_BAD_REQUEST, "bucket", "时间粒度应为 day、week 或 month",
				"bucket must be day, week or month");
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = analysis_trend(db, &r->actor, r->scope, &q, b, &out, &r->err)))
		return rc;
	return reply_json(r, 200, out);
}

static int h_rising(struct req *r)
{
	struct analysis_query q;
	json_t *out = NULL;
	struct db *db;
	int64_t days, limit, min;
	int rc = parse_query(r, &q);
	if (!rc)
		rc = req_query_int(r, "days", 30, 1, 366, &days);
	if (!rc)
		rc = req_query_int(r, "limit", 10, 1, 100, &limit);
	if (!rc)
		rc = req_query_int(r, "min", 3, 1, 1000000, &min);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = analysis_rising(db, &r->actor, r->scope, &q, (int)days, (int)limit, min, &out,
				  &r->err)))
		return rc;
	return reply_json(r, 200, out);
}

static int h_top(struct req *r)
{
	struct analysis_query q;
	json_t *out = NULL;
	struct db *db;
	int64_t limit;
	int rc = parse_query(r, &q);
	if (!rc)
		rc = req_query_int(r, "limit", 20, 1, 200, &limit);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = analysis_top(db, &r->actor, r->scope, &q, (int)limit, &out, &r->err)))
		return rc;
	return reply_json(r, 200, out);
}

static void put_count(int64_t grid_id, int64_t count, void *ctx)
{
	char k[24];
	snprintf(k, sizeof k, "%" PRId64, grid_id);
	json_object_set_new(ctx, k, json_integer(count));
}

static int h_heatmap(struct req *r)
{
	struct analysis_query q;
	json_t *fc = NULL, *counts = json_object(), *f;
	struct db *db;
	size_t i;
	int rc = parse_query(r, &q);
	if (!rc && !(db = req_db(r)))
		rc = r->err.code;
	if (!rc)
		rc = analysis_by_grid(db, &r->actor, r->scope, &q, put_count, counts, &r->err);
	if (!rc)
		rc = grid_geojson(db, &r->actor, r->scope, q.level, 0, 0, &fc, &r->err);
	if (rc) {
		json_decref(counts);
		return rc;
	}
	int64_t max = 0;
	json_array_foreach(json_object_get(fc, "features"), i, f)
	{
		json_t *p = json_object_get(f, "properties");
		char k[24];
		snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(p, "id")));
		int64_t n = json_integer_value(json_object_get(counts, k));
		if (n > max)
			max = n;
		json_object_set_new(p, "count", json_integer(n));
	}
	json_array_foreach(json_object_get(fc, "features"), i, f)
	{
		json_t *p = json_object_get(f, "properties");
		int64_t n = json_integer_value(json_object_get(p, "count"));
		json_object_set_new(p, "intensity", json_real(max ? (double)n / (double)max : 0));
	}
	json_decref(counts);
	json_object_set_new(fc, "max", json_integer(max));
	rc = reply_json(r, 200, fc);
	r->content_type = "application/geo+json; charset=utf-8";
	return rc;
}

const struct route api_analysis_routes[] = {
	{"GET", "/api/v1/analysis/matrix", h_matrix, PERM_ANALYSIS_READ, 0, 0,
	 "研判：网格×分类 / problems by grid and category"},
	{"GET", "/api/v1/analysis/matrix.xlsx", h_matrix_xlsx, PERM_ANALYSIS_READ, 0, 0,
	 "研判导出 Excel / the grid x category table as .xlsx"},
	{"GET", "/api/v1/analysis/trend", h_trend, PERM_ANALYSIS_READ, 0, 0,
	 "研判：趋势 / counts per day, week or month"},
	{"GET", "/api/v1/analysis/rising", h_rising, PERM_ANALYSIS_READ, 0, 0,
	 "研判：上升最快的网格与分类 / grids and categories rising fastest"},
	{"GET", "/api/v1/analysis/top", h_top, PERM_ANALYSIS_READ, 0, 0,
	 "研判：高发问题 / the most frequent problems by grid and category"},
	{"GET", "/api/v1/analysis/heatmap.geojson", h_heatmap, PERM_ANALYSIS_READ, 0, 0,
	 "研判热力图 / grids with their counts as GeoJSON"},
	{0},
};
