/*
 * analysis.h — 研判: problems by grid x category x period, for the district's
 * decisions ("强化平台营商环境事件分析研判").
 *
 * Two sources are counted in table grid_stats (sql/017_analysis.sql), in
 * the same transaction as each change: requests (one per valid request — not
 * merged, not voided — at its Shanghai receipt day, under its current unit
 * grid and category) and visit findings (one per finding, at the visit's day,
 * under the visited enterprise's grid and the finding's category). Every
 * figure below is read from those counters, grouped to the level asked for
 * (unit grid, community, street, district) through the grid tree, never by
 * scanning requests; analysis_check() compares them with a recount.
 */
#ifndef YQ_ANALYSIS_H
#define YQ_ANALYSIS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;
struct request;

enum { ANALYSIS_REQUESTS = 1, ANALYSIS_FINDINGS = 2 };

struct analysis_query {
	int64_t from_day, to_day; /* Shanghai day numbers, inclusive */
	unsigned sources;         /* ANALYSIS_REQUESTS | ANALYSIS_FINDINGS */
	int level;                /* enum grid_level to group by */
	int64_t grid_id;          /* only this grid and below; 0 = all */
	int64_t category_id;      /* only this category; 0 = all */
};

/* Inside a write job: move a request's count from before (NULL: new) to after. */
int analysis_request_apply(struct db *db, const struct request *before,
			   const struct request *after, struct err *e);
/* Inside a write job: count (delta +1 / -1) one visit finding. */
int analysis_finding_add(struct db *db, int64_t tenant_id, int64_t day, int64_t grid_id,
			 int64_t category_id, int delta, struct err *e);

/* Inside a write job: recount both sources (requests from the requests table,
 * findings from the visits, under the grid each visit recorded). */
int analysis_rebuild_requests(struct db *db, int64_t tenant_id, int64_t *rows, struct err *e);
/* Inside a write job: recount the findings only (after placement moved visits). */
int analysis_rebuild_findings(struct db *db, int64_t tenant_id, struct err *e);
/* Compare both sources with a recount; *ndiff = differing (source, day, grid,
 * category) keys, 0 when exact. */
int analysis_check(struct db *db, int64_t tenant_id, int64_t *ndiff, struct err *e);

/*
 * {"from","to","level","sources","total",
 *  "grids":[{"id","code","name","total"}],   (id 0 / code "" = not placed)
 *  "categories":[{"id","name","total"}],
 *  "cells":[{"grid_id","category_id","count"}]}
 * The grids and categories are sorted by total, largest first.
 */
int analysis_matrix(struct db *db, const struct actor *who, enum scope scope,
		    const struct analysis_query *q, json_t **out, struct err *e);
/* {"bucket":"day|week|month","series":[{"start":"YYYY-MM-DD","count"}]} over the period
 * (every bucket present, zeros included). */
int analysis_trend(struct db *db, const struct actor *who, enum scope scope,
		   const struct analysis_query *q, const char *bucket, json_t **out,
		   struct err *e);
/* The last `span` days up to q->to_day against the `span` days before:
 * {"current":{"from","to"},"previous":{...},"grids":[...],"categories":[...]}, each item
 * {"id","code"?,"name","current","previous","change","ratio"(null if previous is 0)},
 * largest rise first, at most `limit`, only items with current >= min_count. */
int analysis_rising(struct db *db, const struct actor *who, enum scope scope,
		    const struct analysis_query *q, int span, int limit, int64_t min_count,
		    json_t **out, struct err *e);
/* The most frequent (grid, category) pairs of the period: {"items":[{"grid_id","code",
 * "grid_name","category_id","category","count","share"}]} */
int analysis_top(struct db *db, const struct actor *who, enum scope scope,
		 const struct analysis_query *q, int limit, json_t **out, struct err *e);

/* Counts per grid of the level asked for (rolled up), for a heat map: calls
 * each(grid_id, count) for every grid with a count. */
int analysis_by_grid(struct db *db, const struct actor *who, enum scope scope,
		     const struct analysis_query *q,
		     void (*each)(int64_t grid_id, int64_t count, void *ctx), void *ctx,
		     struct err *e);

#endif
