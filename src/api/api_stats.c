/*
 * api_stats.c — the live rates over HTTP: rates by a dimension, trends by
 * day / week / month, and the department ranking against the target
 * (core/request_stats.h has the definitions). Every figure comes with its
 * numerator and denominator, so a dashboard can show "49 / 50" beside 98 %.
 *
 * Permission report.read; a department head's scope (dept_tree) limits the
 * rows to the departments under theirs.
 */
#include "api/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/request.h"
#include "core/request_stats.h"
#include "core/workcal.h"
#include "base/banned.h"

#define MAX_SPAN_DAYS 3700 /* ten years and a little */
#define MAX_BUCKETS 1000

/* The common query: period (default: the current year), filters. */
static int parse_query(struct req *r, struct stats_query *q)
{
	const char *from = req_query(r, "from"), *to = req_query(r, "to");
	int y, m, d;
	int rc;

	memset(q, 0, sizeof *q);
	q->today = workcal_local_day(now_ms());
	workcal_civil_from_days(q->today, &y, &m, &d);
	q->from_day = workcal_days_from_civil(y, 1, 1);
	q->to_day = workcal_days_from_civil(y, 12, 31);
	if (from && *from && !workcal_parse_date(from, &q->from_day))
		return req_fail(r, ERR_BAD_REQUEST, "from", "起始日期应为 YYYY-MM-DD",
				"from must be a date YYYY-MM-DD");
	if (to && *to && !workcal_parse_date(to, &q->to_day))
		return req_fail(r, ERR_BAD_REQUEST, "to", "截止日期应为 YYYY-MM-DD",
				"to must be a date YYYY-MM-DD");
	if (q->to_day < q->from_day)
		return req_fail(r, ERR_UNPROCESSABLE, "to", "截止日期不能早于起始日期",
				"to must not be before from");
	if (q->to_day - q->from_day >= MAX_SPAN_DAYS)
		return req_fail(r, ERR_UNPROCESSABLE, "from", "统计时段不能超过 %d 天",
				"the period must not exceed %d days", MAX_SPAN_DAYS);
	if ((rc = req_query_int(r, "department_id", 0, 0, INT64_MAX, &q->department_id)) ||
	    (rc = req_query_int(r, "category_id", 0, 0, INT64_MAX, &q->category_id)) ||
	    (rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &q->grid_id)))
		return rc;
	q->req_type = req_query(r, "type");
	if (q->req_type && *q->req_type && !req_type_valid(q->req_type))
		return req_fail(r, ERR_BAD_REQUEST, "type",
				"类型应为 consultation、help、complaint、suggestion 或 report",
				"type must be consultation, help, complaint, suggestion or report");
	q->channel = req_query(r, "channel");
	if (q->channel && *q->channel && !req_channel_valid(q->channel))
		return req_fail(r, ERR_BAD_REQUEST, "channel",
				"渠道应为 online、hall、hotline、grid、observer、qrcode 或 open311",
				"channel must be online, hall, hotline, grid, observer, qrcode or open311");
	return 0;
}

static json_t *date_json(int64_t day)
{
	char s[16];
	workcal_format_date(day, s, sizeof s);
	return json_string(s);
}

/* Percentages to 4 decimals (0.0001 %), rounded half up: the same steps in any
 * client give the same value, and it prints exactly within the server's 12
 * significant digits. */
static json_t *pct_json(double x)
{
	return json_real(floor(x * 10000.0 + 0.5) / 10000.0);
}

static json_t *rate_json(const struct stats_rate *x, bool integral)
{
	return json_pack("{s:o,s:I,s:o}", "numerator",
			 integral ? json_integer((json_int_t)x->numerator) : json_real(x->numerator),
			 "denominator", (json_int_t)x->denominator, "percent",
			 x->defined ? pct_json(x->percent) : json_null());
}

/* {"counts":{...},"rates":{...},"meets_target":b} of one set of counters. */
static void figures(json_t *j, const struct stats_counts *n, const struct stats_settings *s)
{
	struct stats_rates x;
	stats_rates_compute(n, s, &x);
	json_t *c = json_object();
	for (int i = 0; i < SC__COUNT; i++)
		json_object_set_new(c, stats_counter_name((enum stats_counter)i),
				    json_integer(n->c[i]));
	json_object_set_new(c, "overdue", json_integer(n->overdue));
	json_object_set_new(c, "due", json_integer(x.due));
	json_object_set_new(j, "counts", c);
	json_object_set_new(
		j, "rates",
		json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "response", rate_json(&x.response, true),
			  "response_on_time", rate_json(&x.response_on_time, true), "reply_on_time",
			  rate_json(&x.reply_on_time, true), "resolution",
			  rate_json(&x.resolution, true), "satisfaction",
			  rate_json(&x.satisfaction, false), "on_time_closure",
			  rate_json(&x.on_time_closure, true), "composite",
			  x.composite_defined ? pct_json(x.composite) : json_null()));
	json_object_set_new(j, "meets_target", json_boolean(x.meets_target));
}

static json_t *settings_json(const struct stats_settings *s)
{
	return json_pack("{s:{s:I,s:I,s:I},s:I,s:I}", "weights", "response",
			 (json_int_t)s->weight_response, "resolution",
			 (json_int_t)s->weight_resolution, "satisfaction",
			 (json_int_t)s->weight_satisfaction, "basic_satisfied_percent",
			 (json_int_t)s->basic_percent, "target_resolution_percent",
			 (json_int_t)s->target_resolution);
}

static json_t *period_json(const struct stats_query *q)
{
	return json_pack("{s:o,s:o,s:o}", "from", date_json(q->from_day), "to", date_json(q->to_day),
			 "as_of", date_json(q->today));
}

static json_t *group_json(enum stats_dim by, const struct stats_group *g,
			  const struct stats_settings *s)
{
	bool coded = by == SD_TYPE || by == SD_CHANNEL;
	json_t *j = json_pack("{s:o,s:o,s:s}", "id",
			      !coded && g->id ? json_integer(g->id) : json_null(), "code",
			      coded ? json_string(g->code) : json_null(), "name", g->name);
	figures(j, &g->n, s);
	return j;
}

struct rates_ctx {
	enum stats_dim by;
	const struct stats_settings *s;
	json_t *items;
};

static int each_group(const struct stats_group *g, void *p)
{
	struct rates_ctx *c = p;
	json_array_append_new(c->items, group_json(c->by, g, c->s));
	return 0;
}

static int h_rates(struct req *r)
{
	struct stats_query q;
	struct stats_settings s;
	struct stats_counts total;
	struct db *db;
	const char *by = req_query(r, "by");
	int rc = parse_query(r, &q);
	if (rc)
		return rc;
	if (by && *by) {
		int d = stats_dim_parse(by);
		if (d < 0)
			return req_fail(r, ERR_BAD_REQUEST, "by",
					"分组应为 department、category、grid、type、channel 或 none",
					"by must be department, category, grid, type, channel or none");
		q.by = (enum stats_dim)d;
	}
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = stats_settings_get(db, r->actor.tenant_id, &s, &r->err)))
		return rc;
	struct rates_ctx c = {q.by, &s, json_array()};
	rc = request_stats_query(db, &r->actor, r->scope, &q, each_group, &c, &total, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	json_t *out = period_json(&q);
	json_object_set_new(out, "by", json_string(stats_dim_name(q.by)));
	json_object_set_new(out, "settings", settings_json(&s));
	json_t *t = json_object();
	figures(t, &total, &s);
	json_object_set_new(out, "total", t);
	json_object_set_new(out, "items", c.items);
	return reply_json(r, 200, out);
}

struct trend_ctx {
	const struct stats_settings *s;
	json_t *items;
};

static int each_period(const struct stats_period *p, void *ctx)
{
	struct trend_ctx *c = ctx;
	json_t *j = json_pack("{s:s,s:o,s:o}", "label", p->label, "from", date_json(p->first_day),
			      "to", date_json(p->last_day));
	figures(j, &p->n, c->s);
	json_array_append_new(c->items, j);
	return 0;
}

static int h_trend(struct req *r)
{
	struct stats_query q;
	struct stats_settings s;
	struct db *db;
	const char *b = req_query(r, "bucket");
	int bucket = SB_MONTH;
	int rc = parse_query(r, &q);
	if (rc)
		return rc;
	if (b && *b && (bucket = stats_bucket_parse(b)) < 0)
		return req_fail(r, ERR_BAD_REQUEST, "bucket", "粒度应为 day、week 或 month",
				"bucket must be day, week or month");
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = stats_settings_get(db, r->actor.tenant_id, &s, &r->err)))
		return rc;
	struct trend_ctx c = {&s, json_array()};
	rc = request_stats_trend(db, &r->actor, r->scope, &q, (enum stats_bucket)bucket,
				 MAX_BUCKETS, each_period, &c, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	json_t *out = period_json(&q);
	json_object_set_new(out, "bucket", json_string(bucket == SB_DAY    ? "day"
						       : bucket == SB_WEEK ? "week"
									   : "month"));
	json_object_set_new(out, "settings", settings_json(&s));
	json_object_set_new(out, "items", c.items);
	return reply_json(r, 200, out);
}

struct rank_ctx {
	const struct stats_settings *s;
	struct stats_ranked *v;
	size_t n, cap;
};

static int each_dept(const struct stats_group *g, void *p)
{
	struct rank_ctx *c = p;
	if (!g->id)
		return 0; /* not dispatched: no department to rank */
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 32;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	struct stats_ranked *x = &c->v[c->n++];
	memset(x, 0, sizeof *x);
	x->g = *g;
	stats_rates_compute(&g->n, c->s, &x->r);
	return 0;
}

static int h_ranking(struct req *r)
{
	struct stats_query q;
	struct stats_settings s;
	struct db *db;
	int rc = parse_query(r, &q);
	if (rc)
		return rc;
	q.by = SD_DEPARTMENT;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = stats_settings_get(db, r->actor.tenant_id, &s, &r->err)))
		return rc;
	struct rank_ctx c = {.s = &s};
	rc = request_stats_query(db, &r->actor, r->scope, &q, each_dept, &c, NULL, &r->err);
	if (rc) {
		free(c.v);
		return rc;
	}
	stats_rank(c.v, c.n);
	json_t *items = json_array();
	int64_t below = 0;
	for (size_t i = 0; i < c.n; i++) {
		json_t *j = json_pack("{s:o,s:I,s:s}", "rank",
				      c.v[i].rank ? json_integer(c.v[i].rank) : json_null(),
				      "department_id", (json_int_t)c.v[i].g.id, "name", c.v[i].g.name);
		figures(j, &c.v[i].g.n, &s);
		if (c.v[i].r.resolution.defined && !c.v[i].r.meets_target)
			below++;
		json_array_append_new(items, j);
	}
	free(c.v);
	json_t *out = period_json(&q);
	json_object_set_new(out, "settings", settings_json(&s));
	json_object_set_new(out, "target",
			    json_pack("{s:s,s:I,s:I}", "rate", "resolution", "percent",
				      (json_int_t)s.target_resolution, "below",
				      (json_int_t)below));
	json_object_set_new(out, "items", items);
	return reply_json(r, 200, out);
}

const struct route api_stats_routes[] = {
	{"GET", "/api/v1/stats/rates", h_rates, PERM_REPORT_READ, 0, 0,
	 "三率与综合评分（按部门、分类、网格、类型、渠道）/ rates by dimension"},
	{"GET", "/api/v1/stats/trend", h_trend, PERM_REPORT_READ, 0, 0,
	 "三率走势（按日、周、月）/ rates per day, week or month"},
	{"GET", "/api/v1/stats/ranking", h_ranking, PERM_REPORT_READ, 0, 0,
	 "部门综合排名与目标线 / departments ranked by composite, with the target"},
	{0},
};
