/*
 * grid.h — grids (网格): the district cut into streets, communities and unit
 * grids, their import from GeoJSON, the placement of enterprises and requests
 * in their unit grid, and the grid workers assigned to them.
 *
 * Rules kept in grid.c and nowhere else:
 *  - a code is 6 (district), 9 (street), 12 (community) or 15 (unit grid)
 *    digits and starts with its parent's code: the hierarchy comes from the
 *    codes, and a level in an import must agree with its code;
 *  - an import is all or nothing: every feature is checked (code, name,
 *    geometry: closed rings, valid coordinates, no self-intersection, holes
 *    inside) before anything is written, and a failed import writes nothing;
 *  - after an import or a deletion every located enterprise and request is
 *    placed again; points in no unit grid are reported, never dropped;
 *  - a point on a shared edge belongs to the grid with the smaller id, the
 *    same answer by the index as by brute force (core/geo.c);
 *  - only grid workers are assigned to grids; a worker on a community or
 *    street grid (网格长) reaches every grid below it.
 * The servers keep an in-memory index of the unit grids per tenant and
 * rebuild it when grid_meta.version moves (any process may change grids).
 */
#ifndef YQ_GRID_H
#define YQ_GRID_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"
#include "core/geo.h"

struct db;

enum grid_level { GRID_DISTRICT, GRID_STREET, GRID_COMMUNITY, GRID_UNIT, GRID__LEVELS };

#define GRID_NAME_MAX 64        /* characters */
#define GRID_IMPORT_MAX 20000   /* features per import */

const char *grid_level_name(enum grid_level l); /* "district" ... "unit" */
const char *grid_level_zh(enum grid_level l);   /* 区 街道 社区 单元网格 */
int grid_level_parse(const char *s);            /* -1 if unknown */
/* The level a code's length gives, or -1 if it is not 6/9/12/15 digits. */
int grid_code_level(const char *code);

struct grid {
	int64_t id, parent_id;
	enum grid_level level;
	char code[16];
	char name[GRID_NAME_MAX * 4 + 1];
	char path[128];
	char parent_code[16];
	double area_m2;
	struct geo_bbox bbox;
	double label_lon, label_lat;
	int version;
	int64_t created_at, updated_at;
	/* metrics (grid_list, grid_get) */
	int64_t enterprises;   /* active enterprises placed in this grid and below */
	int64_t workers;       /* grid workers assigned to this grid exactly */
	int64_t open_requests; /* requests being handled, placed here and below */
};

/* One grid; *geometry (may be NULL) gets its GeoJSON text (malloc'd). */
int grid_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
	     struct grid *out, char **geometry, struct err *e);

struct grid_filter {
	int level;           /* -1 any */
	int64_t parent_id;   /* 0 any */
	const char *q;       /* name or code contains */
	int64_t after;       /* keyset on id */
	int limit;
};
typedef int (*grid_cb)(const struct grid *g, void *ctx);
int grid_list(struct db *db, const struct actor *who, enum scope scope,
	      const struct grid_filter *f, grid_cb cb, void *ctx, struct err *e);

/* Write job: import a GeoJSON FeatureCollection of grids (properties: code,
 * name, optional level). On success and on validation failure alike, report
 * gets {"created","updated","unchanged","errors":[...],"coverage":[...],
 * "placement":{...}}; a dry run does everything and then rolls back (the job
 * returns ERR_CONFLICT with dry_run_done set). */
struct grid_import {
	const struct actor *who;
	int64_t tenant_id;
	int64_t now;
	json_t *fc;          /* borrowed */
	bool dry_run;
	bool dry_run_done;   /* out */
	json_t *report;      /* out, new reference */
};
int grid_import(struct db *db, void *arg, struct err *e);

/* Write job: delete a grid without children; its workers are unassigned and
 * its enterprises and requests placed again. */
struct grid_delete {
	const struct actor *who;
	int64_t tenant_id, id;
	json_t *report; /* out: placement */
};
int grid_delete(struct db *db, void *arg, struct err *e);

/* Write job: assign a grid worker to a grid (grid_id 0: unassign). */
struct grid_assign {
	const struct actor *who;
	int64_t tenant_id, grid_id, user_id;
};
int grid_assign(struct db *db, void *arg, struct err *e);

/* The workers of a grid (id, login, display_name, phone) as a JSON array. */
int grid_workers(struct db *db, int64_t tenant_id, int64_t grid_id, json_t **out,
		 struct err *e);

/* The unit grid containing (lon, lat), 0 if none, through the cached index. */
int grid_locate(struct db *db, int64_t tenant_id, double lon, double lat, int64_t *grid_id,
		struct err *e);
/* The grid and its ancestors (unit first) as JSON objects {id, code, name, level}. */
int grid_ancestry(struct db *db, int64_t tenant_id, int64_t grid_id, json_t **out,
		  struct err *e);

/* Place one enterprise after its location changed (inside a write job). */
int grid_place_enterprise(struct db *db, int64_t tenant_id, int64_t enterprise_id,
			  bool has_location, double lon, double lat, struct err *e);

/* Place every located enterprise and request again (inside a write job);
 * report gets {"enterprises_placed","enterprises_moved","enterprises_outside",
 * "outside":[first 100 {id,name,lat,lon}],"requests_moved"}. */
int grid_place_all(struct db *db, int64_t tenant_id, json_t *report, struct err *e);

/* Enterprises with a location in no grid, keyset paging on id. */
int grid_unplaced(struct db *db, int64_t tenant_id, int64_t after, int limit, json_t **items,
		  int64_t *total, struct err *e);

/* A FeatureCollection of the grids of a level (-1: all) visible in scope, with
 * their metrics as properties (enterprises, workers, open_requests, and the
 * request counters of the period [from_day, to_day] local days when to_day > 0:
 * received, closed, overdue). */
int grid_geojson(struct db *db, const struct actor *who, enum scope scope, int level,
		 int64_t from_day, int64_t to_day, json_t **out, struct err *e);

/* Drop the cached indexes (tests, after a restore). */
void grid_cache_clear(void);

#endif
