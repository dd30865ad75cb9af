/*
 * demo_visits.h — the demo district's visit system (see demo_visits.c).
 */
#ifndef YQ_DEMO_VISITS_H
#define YQ_DEMO_VISITS_H

#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;
struct db_pool;

struct demo_visit_result {
	int policies;
	int64_t visits, findings, requests, far;
	int64_t overdue;            /* enterprises overdue at the end */
	int64_t campaign_targets, campaign_visited;
};

/* Visit policies, a campaign 千企万户大走访 started some weeks ago, and about
 * five months of visits by the grid workers up to the start of today, with
 * findings (some raised as requests, which then run their course). Through
 * the core functions, so every counter stays right. Needs the grids, the grid
 * workers and the request catalogue. */
int demo_visits(struct db_pool *pool, struct db *rdb, const struct actor *sys, int64_t tenant,
		struct demo_visit_result *res, struct err *e);

#endif
