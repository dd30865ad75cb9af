/*
 * api_calendar.c — /api/v1/calendar: the working-day calendar and the
 * deadline calculator over HTTP (src/core/workcal.c does the work).
 *
 * Dates are "YYYY-MM-DD" (Asia/Shanghai civil dates); instants are UTC
 * milliseconds, or ISO 8601 with an offset on input, and are answered in
 * both forms ("deadline_ms" and "deadline_local": "...+08:00"). Reading is
 * open to every logged-in user; changing years and working hours needs
 * calendar.write. A tenant that never had the built-in years gets them on
 * its first request (workcal_acquire).
 */
#include "api/api.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/workcal.h"
#include "base/banned.h"

static void unref(void *cal)
{
	workcal_unref(cal);
}

/* Snapshot for this request; released when the request ends. */
static int calendar(struct req *r, struct workcal **out)
{
	int rc = workcal_acquire(r->app->pool, &r->actor, out, &r->err);
	if (rc)
		return rc;
	arena_defer(r->arena, unref, *out);
	return 0;
}

static int today_year(void)
{
	int y, m, d;
	workcal_civil_from_days(workcal_local_day(now_ms()), &y, &m, &d);
	return y;
}

static json_t *local_json(int64_t ms)
{
	char s[40];
	workcal_format_local(ms, s, sizeof s);
	return json_string(s);
}

static json_t *year_json(const struct workcal *cal, int year)
{
	struct workcal_year_info info;
	bool known = workcal_year_known(cal, year, &info), uncertain = false;
	size_t n, ny;
	const struct workcal_entry *days = workcal_year_entries(cal, year, &n);
	const int *years = workcal_years(cal, &ny);
	json_t *items = json_array(), *all = json_array();
	char date[16];

	for (size_t i = 0; i < n; i++) {
		workcal_format_date(days[i].day, date, sizeof date);
		json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "day", date, "kind",
						       workcal_kind_name(days[i].kind), "name",
						       days[i].name));
	}
	for (size_t i = 0; i < ny; i++)
		json_array_append_new(all, json_integer(years[i]));
	return json_pack("{s:i,s:b,s:o,s:o,s:o,s:i,s:o}", "year", year, "known", known, "source",
			 known ? json_string(info.source) : json_null(), "loaded_at",
			 known ? api_time(info.loaded_at) : json_null(), "days", items, "workdays",
			 workcal_year_workdays(cal, year, &uncertain), "known_years", all);
}

static int get_year(struct req *r)
{
	struct workcal *cal;
	int64_t year;
	int rc;

	if ((rc = req_query_int(r, "year", today_year(), WORKCAL_MIN_YEAR, WORKCAL_MAX_YEAR,
				&year)) ||
	    (rc = calendar(r, &cal)))
		return rc;
	return reply_json(r, 200, year_json(cal, (int)year));
}

static int check_day(struct req *r)
{
	const char *q = req_query(r, "date"), *name;
	struct workcal *cal;
	int64_t day;
	bool uncertain = false;
	char date[16];
	int rc;

	if (!q || !*q)
		day = workcal_local_day(now_ms());
	else if (!workcal_parse_date(q, &day))
		return req_fail(r, ERR_BAD_REQUEST, "date", "日期“%.20s”应为 YYYY-MM-DD（%d–%d 年）",
				"date '%.20s' must be YYYY-MM-DD in %d-%d", q, WORKCAL_MIN_YEAR,
				WORKCAL_MAX_YEAR);
	if ((rc = calendar(r, &cal)))
		return rc;
	enum workcal_kind kind = workcal_day_kind(cal, day, &name, &uncertain);
	bool work = workcal_is_workday(cal, day, &uncertain);
	workcal_format_date(day, date, sizeof date);
	return reply_json(r, 200,
			  json_pack("{s:s,s:b,s:s,s:o,s:i,s:b}", "date", date, "workday", work,
				    "kind", workcal_kind_name(kind), "name",
				    name ? json_string(name) : json_null(), "weekday",
				    workcal_weekday(day), "uncertain", uncertain));
}

/* "start": UTC milliseconds or an ISO 8601 instant with offset. */
static int start_instant(struct req *r, json_t *body, int64_t *out)
{
	json_t *v = json_object_get(body, "start");
	if (!v || json_is_null(v))
		return req_fail(r, ERR_BAD_REQUEST, "start", "缺少必填字段“%s”",
				"missing required field '%s'", "start");
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		if (!workcal_instant_ok(*out))
			return req_fail(r, ERR_UNPROCESSABLE, "start",
					"开始时间应在 %d 到 %d 年之间",
					"start must be in the years %d to %d", WORKCAL_MIN_YEAR,
					WORKCAL_MAX_YEAR);
		return 0;
	}
	if (!json_is_string(v))
		return req_fail(r, ERR_BAD_REQUEST, "start", "字段“start”应为毫秒数或带时区的 ISO 8601 时间",
				"field 'start' must be milliseconds or an ISO 8601 time with offset");
	if (!workcal_parse_instant(json_string_value(v), out))
		return req_fail(r, ERR_UNPROCESSABLE, "start",
				"时间“%.40s”应为带时区的 ISO 8601 时间，如 2025-09-26T10:00:00+08:00",
				"time '%.40s' must be ISO 8601 with an offset, like "
				"2025-09-26T10:00:00+08:00",
				json_string_value(v));
	return 0;
}

static int deadline(struct req *r)
{
	static const char *const allowed[] = {"start", "workdays", "workhours_minutes", NULL};
	struct workcal *cal;
	json_t *body;
	int64_t start, days = 0, minutes = 0, due;
	bool uncertain = false;
	int rc;

	if (!(body = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(body, allowed, &r->err)) || (rc = start_instant(r, body, &start)) ||
	    (rc = jsonv_int(body, "workdays", false, 1, WORKCAL_MAX_WORKDAYS, &days, &r->err)) ||
	    (rc = jsonv_int(body, "workhours_minutes", false, 1, WORKCAL_MAX_MINUTES, &minutes,
			    &r->err)))
		return rc;
	if (!days && !minutes)
		return req_fail(r, ERR_BAD_REQUEST, "workdays",
				"应给出 workdays 或 workhours_minutes",
				"give 'workdays' or 'workhours_minutes'");
	if (days && minutes)
		return req_fail(r, ERR_UNPROCESSABLE, "workhours_minutes",
				"workdays 与 workhours_minutes 只能给出一个",
				"give either 'workdays' or 'workhours_minutes', not both");
	if ((rc = calendar(r, &cal)))
		return rc;
	rc = days ? workcal_add_workdays(cal, start, days, &due, &uncertain)
		  : workcal_add_workhours(cal, start, minutes, &due, &uncertain);
	if (rc)
		return req_fail(r, ERR_UNPROCESSABLE, days ? "workdays" : "workhours_minutes",
				"期限超出 %d 年", "the deadline falls after %d", WORKCAL_MAX_YEAR);
	return reply_json(r, 200,
			  json_pack("{s:I,s:o,s:I,s:o,s:b}", "start_ms", (json_int_t)start,
				    "start_local", local_json(start), "deadline_ms", (json_int_t)due,
				    "deadline_local", local_json(due), "uncertain", uncertain));
}

/* The {year} path parameter: not a number -> 404 (the path names nothing). */
static int path_year(struct req *r, int *out)
{
	const char *s = req_param(r, "year");
	int64_t y;
	if (!s || !parse_i64(s, &y))
		return req_fail(r, ERR_NOT_FOUND, "year", "日历年份“%.20s”不存在",
				"calendar year '%.20s' does not exist", s ? s : "");
	if (y < WORKCAL_MIN_YEAR || y > WORKCAL_MAX_YEAR)
		return req_fail(r, ERR_UNPROCESSABLE, "year", "年份应在 %d 到 %d 之间",
				"year must be between %d and %d", WORKCAL_MIN_YEAR,
				WORKCAL_MAX_YEAR);
	*out = (int)y;
	return 0;
}

/* Prefix the field of an error about item i with "days[i]." */
static int item_fail(struct req *r, size_t i, int rc)
{
	char f[sizeof r->err.field];
	snprintf(f, sizeof f, "days[%u]%s%.40s", (unsigned)i, r->err.field[0] ? "." : "",
		 r->err.field);
	snprintf(r->err.field, sizeof r->err.field, "%s", f);
	return rc;
}

static int decode_days(struct req *r, json_t *arr, int year, struct workcal_entry **out,
		       size_t *n)
{
	static const char *const allowed[] = {"day", "kind", "name", NULL};
	size_t count = json_array_size(arr);
	struct workcal_entry *days;
	json_t *it;
	size_t i;
	int rc;

	if (count > WORKCAL_MAX_ENTRIES)
		return req_fail(r, ERR_UNPROCESSABLE, "days", "一年最多列出 %d 天",
				"a year lists at most %d days", WORKCAL_MAX_ENTRIES);
	days = arena_zalloc(r->arena, (count ? count : 1) * sizeof *days);
	json_array_foreach(arr, i, it) {
		const char *day, *kind, *name = "";
		if (!json_is_object(it)) {
			err_set(&r->err, ERR_BAD_REQUEST, NULL, "应为对象", "must be an object");
			return item_fail(r, i, ERR_BAD_REQUEST);
		}
		if ((rc = jsonv_only(it, allowed, &r->err)) ||
		    (rc = jsonv_str(it, "day", true, 10, &day, &r->err)) ||
		    (rc = jsonv_str(it, "kind", true, 16, &kind, &r->err)) ||
		    (rc = jsonv_str(it, "name", false, WORKCAL_NAME_MAX_CHARS, &name, &r->err)))
			return item_fail(r, i, rc);
		if (!workcal_parse_date(day, &days[i].day)) {
			err_set(&r->err, ERR_UNPROCESSABLE, "day", "日期“%s”应为 YYYY-MM-DD",
				"day '%s' must be a date YYYY-MM-DD", day);
			return item_fail(r, i, ERR_UNPROCESSABLE);
		}
		int k = workcal_kind_parse(kind);
		if (k < 0) {
			err_set(&r->err, ERR_UNPROCESSABLE, "kind", "类型“%s”应为 holiday 或 workday",
				"kind '%s' must be 'holiday' or 'workday'", kind);
			return item_fail(r, i, ERR_UNPROCESSABLE);
		}
		days[i].kind = (enum workcal_kind)k;
		snprintf(days[i].name, sizeof days[i].name, "%s", name);
	}
	*out = days;
	*n = count;
	return workcal_check_year(year, days, count, &r->err);
}

static int put_year(struct req *r)
{
	static const char *const allowed[] = {"days", "source", NULL};
	struct workcal_year_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				       .source = "", .now = now_ms()};
	struct workcal_entry *days = NULL;
	struct workcal *cal;
	json_t *body, *arr;
	int rc;

	if ((rc = path_year(r, &w.year)))
		return rc;
	if (!(body = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(body, allowed, &r->err)) ||
	    (rc = jsonv_str(body, "source", false, WORKCAL_SOURCE_MAX_CHARS, &w.source, &r->err)))
		return rc;
	arr = json_object_get(body, "days");
	if (!arr || json_is_null(arr))
		return req_fail(r, ERR_BAD_REQUEST, "days", "缺少必填字段“%s”",
				"missing required field '%s'", "days");
	if (!json_is_array(arr))
		return req_fail(r, ERR_BAD_REQUEST, "days", "字段“%s”应为数组",
				"field '%s' must be an array", "days");
	if ((rc = decode_days(r, arr, w.year, &days, &w.n)))
		return rc;
	w.days = days;
	/* seed first, so the built-in years never overwrite this one later */
	if ((rc = calendar(r, &cal)) || (rc = req_write(r, workcal_put_year, &w)) ||
	    (rc = calendar(r, &cal)))
		return rc;
	return reply_json(r, 200, year_json(cal, w.year));
}

static int delete_year(struct req *r)
{
	struct workcal_year_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				       .now = now_ms()};
	struct workcal *cal;
	int rc;

	if ((rc = path_year(r, &w.year)) || (rc = calendar(r, &cal)) ||
	    (rc = req_write(r, workcal_delete_year, &w)))
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

static json_t *hours_json(const struct workcal_hours *h)
{
	char text[128], a[16], b[16];
	json_t *periods = json_array();
	workcal_hours_format(h, text, sizeof text);
	for (int i = 0; i < h->n; i++) {
		snprintf(a, sizeof a, "%02d:%02d", h->p[i].start / 60, h->p[i].start % 60);
		snprintf(b, sizeof b, "%02d:%02d", h->p[i].end / 60, h->p[i].end % 60);
		json_array_append_new(periods, json_pack("{s:s,s:s}", "start", a, "end", b));
	}
	return json_pack("{s:s,s:o,s:i,s:s}", "workhours", text, "periods", periods,
			 "minutes_per_day", workcal_hours_minutes(h), "timezone", "Asia/Shanghai");
}

static int get_hours(struct req *r)
{
	struct workcal *cal;
	int rc = calendar(r, &cal);
	if (rc)
		return rc;
	return reply_json(r, 200, hours_json(workcal_hours(cal)));
}

static int put_hours(struct req *r)
{
	static const char *const allowed[] = {"workhours", NULL};
	struct workcal_hours_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
					.now = now_ms()};
	struct workcal *cal;
	const char *text;
	json_t *body;
	int rc;

	if (!(body = req_body_json(r)))
		return r->err.code;
	if ((rc = jsonv_only(body, allowed, &r->err)) ||
	    (rc = jsonv_str(body, "workhours", true, 100, &text, &r->err)) ||
	    (rc = workcal_hours_parse(text, &w.hours, &r->err)) || (rc = calendar(r, &cal)) ||
	    (rc = req_write(r, workcal_put_hours, &w)))
		return rc;
	return reply_json(r, 200, hours_json(&w.hours));
}

const struct route api_calendar_routes[] = {
	{"GET", "/api/v1/calendar", get_year, PERM_LOGIN, 0, 0,
	 "工作日历（某年的节假日与调休） / the working-day calendar of a year"},
	{"GET", "/api/v1/calendar/check", check_day, PERM_LOGIN, 0, 0,
	 "某日是否工作日 / is a date a working day"},
	{"POST", "/api/v1/calendar/deadline", deadline, PERM_LOGIN, 0, 0,
	 "按工作日或工作时间计算期限 / compute a deadline in working days or hours"},
	{"PUT", "/api/v1/calendar/years/{year}", put_year, PERM_CALENDAR_WRITE, 32768, 0,
	 "设置某年的节假日与调休 / replace a year of the calendar"},
	{"DELETE", "/api/v1/calendar/years/{year}", delete_year, PERM_CALENDAR_WRITE, 0, 0,
	 "删除某年的日历 / forget a year of the calendar"},
	{"GET", "/api/v1/calendar/workhours", get_hours, PERM_LOGIN, 0, 0,
	 "工作时间 / working hours"},
	{"PUT", "/api/v1/calendar/workhours", put_hours, PERM_CALENDAR_WRITE, 0, 0,
	 "修改工作时间 / change working hours"},
	{0},
};
