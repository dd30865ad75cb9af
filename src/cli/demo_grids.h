/*
 * demo_grids.h — the demo district's grids (see demo_grids.c).
 */
#ifndef YQ_DEMO_GRIDS_H
#define YQ_DEMO_GRIDS_H

#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"
#include "core/geo.h"

struct db;
struct db_pool;

struct demo_grid_result {
	struct geo_shape outline; /* the district, for placing the market (caller frees) */
	const char *source;       /* where the outline came from */
	int streets, units, workers, leaders;
};

/* Cut the outline (outline_path, or the npm package's file, or a plain
 * outline) into grids, import them and put grid workers (gw001 ...) on them. */
int demo_grids(struct db_pool *pool, const struct actor *sys, int64_t tenant,
	       const char *outline_path, const char *password_hash, struct demo_grid_result *res,
	       struct err *e);

/* Assign the demo login 'gridworker' to the unit grid of enterprise_id. */
int demo_grids_bind_worker(struct db_pool *pool, struct db *rdb, const struct actor *sys,
			   int64_t tenant, int64_t enterprise_id, struct err *e);

#endif
