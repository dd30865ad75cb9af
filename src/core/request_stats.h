/*
 * request_stats.h — the live rates of enterprise requests: 响应率 (response),
 * 解决率 (resolution), 满意率 (satisfaction), 按期结案率 (on-time closure) and
 * a weighted composite, by department, category, grid, type, channel and
 * period, read from counters instead of the requests table.
 *
 * Counters (sql/012_request_stats.sql, which says what each one counts) are
 * kept in the same transaction as every change of a request: a request's
 * "contribution" is a pure function of its row (request_stats_contrib), and
 * request_stats_apply() adds contribution(after) - contribution(before) to
 * the tables. The counters therefore always equal a full recount, which
 * request_stats_check() compares and request_stats_rebuild() redoes. They
 * live in five two-dimensional cubes (receipt day × department × one of
 * none / category / grid / type / channel), by day and by month: a cube of
 * every dimension at once would hold about one row per request.
 *
 * Every figure is about the requests RECEIVED in the period (a cohort, by
 * Shanghai receipt day), counted under their current department, category
 * and grid. The rates (null when the denominator is 0):
 *   响应率  response        = responded ÷ dispatched
 *   解决率  resolution      = solved ÷ closed            (an unrated closure is not "solved")
 *   满意率  satisfaction    = (satisfied + b·basic) ÷ rated, b = rates.basic_satisfied_percent / 100
 *   按期结案率 on_time_closure = closed_on_time ÷ due,  due = closed + overdue
 *   composite = (w_r·响应 + w_s·解决 + w_m·满意) / 100 with the weights (percent, summing to
 *               100) rates.weight_response / _resolution / _satisfaction; null unless all
 *               three rates are defined.
 * Also reported: response_on_time = responded_on_time ÷ dispatched and
 * reply_on_time = replied_on_time ÷ replied.
 */
#ifndef YQ_REQUEST_STATS_H
#define YQ_REQUEST_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;
struct request;

/* The counters, in the column order of table request_stats. */
enum stats_counter {
	SC_RECEIVED,
	SC_VALID,
	SC_DISPATCHED,
	SC_RESPONDED,
	SC_RESPONDED_ON_TIME,
	SC_REPLIED,
	SC_REPLIED_ON_TIME,
	SC_CLOSED,
	SC_CLOSED_ON_TIME,
	SC_RATED,
	SC_SOLVED,
	SC_SATISFIED,
	SC_BASIC,
	SC_UNSATISFIED,
	SC_UNRATED,
	SC_REOPENED,
	SC__COUNT
};

/* Column / JSON name of a counter ("responded_on_time"). */
const char *stats_counter_name(enum stats_counter c);

enum stats_dim { SD_NONE, SD_DEPARTMENT, SD_CATEGORY, SD_GRID, SD_TYPE, SD_CHANNEL, SD__COUNT };
const char *stats_dim_name(enum stats_dim d); /* "none", "department", ... */
int stats_dim_parse(const char *s);           /* -1 if unknown */

/*
 * The cubes a request is counted in (column `dim`): every one is keyed by the
 * receipt day and the department, plus one more dimension; SD_DEPARTMENT has
 * no cube of its own (it is the 'none' cube grouped by department).
 */
#define STATS_CUBES 5
extern const enum stats_dim stats_cubes[STATS_CUBES]; /* none, category, grid, type, channel */

/* One row of a cube (or one request's contribution to it: counters 0 or 1). */
struct stats_row {
	enum stats_dim dim;     /* one of stats_cubes */
	int64_t day;            /* Shanghai day number of received_at */
	int64_t department_id;  /* 0 = none */
	int64_t key_id;         /* category or grid id (0 = none); 0 in other cubes */
	char key_code[16];      /* type or channel; "" in other cubes */
	int64_t c[SC__COUNT];
	int64_t due_day;        /* being handled: Shanghai day of handle_due_at; else -1 */
	int64_t open_count;     /* rows of request_stats_open: requests with this due_day */
};

/* The contribution of one request to each cube, in the order of stats_cubes
 * (a pure function of its row). */
void request_stats_contrib(const struct request *r, struct stats_row out[STATS_CUBES]);

/*
 * Inside a write job: move the counters from before's contribution to
 * after's. before is NULL for a new request; after must not be NULL.
 * Returns 0 or a database error.
 */
int request_stats_apply(struct db *db, const struct request *before, const struct request *after,
			struct err *e);

/* Write-job argument of request_stats_rebuild. */
struct stats_rebuild {
	const struct actor *who;
	int64_t tenant_id;
	int64_t rows;      /* out: rows of request_stats written */
	int64_t month_rows; /* out: rows of request_stats_month written */
	int64_t open_rows; /* out: rows of request_stats_open written */
	int64_t grid_rows; /* out: request rows of grid_stats (the analysis) written */
};
/* Write job: recount the tenant's counters from the requests table (upgrades,
 * repairs). Audited ("request_stats", "rebuild"). */
int request_stats_rebuild(struct db *db, void *arg, struct err *e);

/* A row on which the stored counters and a recount disagree. */
struct stats_diff {
	const char *table;     /* "request_stats", "request_stats_month" or "request_stats_open" */
	bool stored;           /* true: a stored row the recount does not have (as stored);
				* false: a recount row that is not stored (as it should be;
				* month rows are checked against the sums of the day rows) */
	struct stats_row row;  /* counters in c[] (request_stats) or due_day + open_count */
};
/*
 * Compare the tenant's counters with a recount; each() (may be NULL) is
 * called for every differing row; *ndiff gets their number (0 = exact).
 */
int request_stats_check(struct db *db, int64_t tenant_id,
			int (*each)(const struct stats_diff *d, void *ctx), void *ctx, int64_t *ndiff,
			struct err *e);

/* ---- settings and rates ---- */

struct stats_settings {
	int64_t weight_response;     /* percent; the three weights sum to 100 */
	int64_t weight_resolution;
	int64_t weight_satisfaction;
	int64_t basic_percent;       /* a 'basic' rating counts this percent of a 'satisfied' */
	int64_t target_resolution;   /* percent: the seed's ≥ 98 % */
};
/* The tenant's settings (defaults: 10, 50, 40, 90, 98). */
int stats_settings_get(struct db *db, int64_t tenant_id, struct stats_settings *out,
		       struct err *e);

/* Sums over a set of rows, with the overdue count as of a day. */
struct stats_counts {
	int64_t c[SC__COUNT];
	int64_t overdue;  /* being handled, handling deadline day before "today" */
};

struct stats_rate {
	bool defined;        /* denominator > 0 */
	double numerator;    /* a count, except satisfaction: satisfied + b·basic */
	int64_t denominator;
	double percent;      /* 100 · numerator ÷ denominator */
};

struct stats_rates {
	struct stats_rate response, response_on_time, reply_on_time, resolution, satisfaction,
		on_time_closure;
	int64_t due;              /* closed + overdue */
	bool composite_defined;
	double composite;         /* percent */
	bool meets_target;        /* resolution defined and >= target_resolution */
};

void stats_rates_compute(const struct stats_counts *n, const struct stats_settings *s,
			 struct stats_rates *out);

/* ---- queries ---- */

struct stats_query {
	enum stats_dim by;
	int64_t from_day, to_day;     /* receipt days, inclusive */
	int64_t today;                /* Shanghai day number of "now", for overdue */
	int64_t department_id;        /* filters; 0 / NULL / "" = any */
	int64_t category_id;          /* besides department_id, at most one filter, and only */
	int64_t grid_id;              /* on the `by` dimension when `by` is not none or */
	const char *req_type;         /* department (the cubes have two dimensions): else */
	const char *channel;          /* ERR_UNPROCESSABLE naming the filter */
};

struct stats_group {
	int64_t id;          /* department, category or grid id (0 = none); 0 for other dims */
	char code[16];       /* type or channel code; "" for other dims */
	char name[128];      /* department or category name, type or channel in Chinese */
	struct stats_counts n;
};

/*
 * The groups of q.by (one group for SD_NONE), ordered by id or code, over the
 * rows the actor's scope reaches (scope filters by department: a department
 * head sees the rows of the departments under theirs). Groups with no
 * request are not listed (SD_NONE always gives one). total (may be NULL)
 * gets the sum over all groups. each() returning non-zero stops.
 * ERR_UNPROCESSABLE for filters the cubes cannot answer (see stats_query).
 */
int request_stats_query(struct db *db, const struct actor *who, enum scope scope,
			const struct stats_query *q,
			int (*each)(const struct stats_group *g, void *ctx), void *ctx,
			struct stats_counts *total, struct err *e);

enum stats_bucket { SB_DAY, SB_WEEK, SB_MONTH };
int stats_bucket_parse(const char *s); /* "day", "week", "month"; -1 if unknown */

struct stats_period {
	int64_t first_day, last_day; /* the bucket, clipped to the query's period */
	char label[16];              /* "2026-03-05", "2026-W10" (ISO week), "2026-03" */
	struct stats_counts n;
};
/*
 * Every bucket of the period in order (empty ones included), as
 * request_stats_query would count them with SD_NONE. Fails with
 * ERR_UNPROCESSABLE (field "bucket") above max_buckets buckets.
 */
int request_stats_trend(struct db *db, const struct actor *who, enum scope scope,
			const struct stats_query *q, enum stats_bucket bucket, int max_buckets,
			int (*each)(const struct stats_period *p, void *ctx), void *ctx,
			struct err *e);

/* A department in the ranking. */
struct stats_ranked {
	struct stats_group g;
	struct stats_rates r;
	int rank;            /* 1.. by composite (ties share a rank); 0 = no composite */
};
/*
 * Sort by composite (highest first; undefined last), then resolution, then
 * the number dispatched, then id, and number the ranks.
 */
void stats_rank(struct stats_ranked *items, size_t n);

#endif
