/*
 * campaign.h — visit campaigns (走访活动, e.g. 千企万户大走访): a set of
 * target enterprises resolved when the campaign is created, a start day and a
 * deadline, and their progress by grid and by grid worker.
 *
 * Rules kept in campaign.c and nowhere else:
 *  - the target set is resolved once from its definition (all active
 *    enterprises, the key ones, those with a tag, those in a list of grids
 *    and the grids below them, or a list of enterprise ids) into
 *    visit_campaign_targets; later changes of the registry do not move it. A
 *    list of ids is resolved at creation; the other kinds in chunks of
 *    enterprises by id (visits.recompute_chunk), the first at creation and
 *    the rest by the backlog (visit.h) within seconds, each enterprise as it
 *    is when its chunk runs. Until then the campaign is "resolving" and its
 *    counters count the targets resolved so far;
 *  - a target is visited when a visit to it was made between the start of the
 *    start day and the end of the deadline day (local days); the first such
 *    visit recorded is kept. Visits already recorded in that window when the
 *    target is resolved count at once (so does a visit recorded while the
 *    campaign is resolving, once its chunk comes);
 *  - the campaign's counters (targets, visited) change in the transaction of
 *    the visit that fulfils a target, so the overall progress is read, not
 *    counted; progress by grid and by worker is counted from the targets,
 *    in the reader's scope (a grid worker sees its grid's part).
 */
#ifndef YQ_CAMPAIGN_H
#define YQ_CAMPAIGN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

#define CAMPAIGN_NAME_MAX 64       /* characters */
#define CAMPAIGN_DESC_MAX 500      /* characters */
#define CAMPAIGN_GRIDS_MAX 1000    /* grids in a target definition */
#define CAMPAIGN_IDS_MAX 10000     /* enterprise ids in a target definition */

enum campaign_target_kind { CT_ALL, CT_KEY, CT_TAG, CT_GRIDS, CT_ENTERPRISES, CT__COUNT };
const char *campaign_kind_name(enum campaign_target_kind k);
int campaign_kind_parse(const char *s); /* -1 if unknown */

struct campaign_input {
	const char *name;
	const char *description;   /* may be NULL */
	const char *starts_on;     /* "YYYY-MM-DD"; NULL = today */
	const char *deadline_on;   /* "YYYY-MM-DD", not before starts_on nor today */
	int kind;                  /* enum campaign_target_kind */
	const char *tag;           /* CT_TAG */
	const int64_t *ids;        /* CT_GRIDS: grid ids; CT_ENTERPRISES: enterprise ids */
	size_t nids;
};

/* Field-level checks without the database: name, description, dates
 * (starts_on, deadline_on), the target definition ("target.kind",
 * "target.tag", "target.grid_ids", "target.enterprise_ids[3]"). today: the
 * local day of now. */
int campaign_validate(const struct campaign_input *in, int64_t today, struct err *e);

/* Write-job argument of campaign_create. */
struct campaign_create {
	const struct actor *who;
	int64_t tenant_id;
	struct campaign_input in;
	int64_t now;
	/* out */
	int64_t id;
	int64_t targets, visited; /* resolved so far */
	bool resolving;           /* targets are left to the backlog */
};
/*
 * Create a campaign and resolve its targets. Refusals (nothing written):
 * ERR_CONFLICT "name" (taken), ERR_UNPROCESSABLE "target.grid_ids[i]" (no
 * such grid), "target.enterprise_ids[i]" (no such enterprise, or not
 * active), "target" (the definition matches no active enterprise), and the
 * checks of campaign_validate. Resolves the targets of a list of ids, else
 * the first chunk of enterprises (visit_backlog_notify when more are left).
 * Audited as entity "visit_campaign" ("create"; "resolve" with the final
 * counts when the backlog finishes the targets).
 */
int campaign_create(struct db *db, void *arg, struct err *e);

/*
 * The next chunk of the oldest campaign of the tenant still resolving (inside
 * a write job; visit_backlog_step calls it): at most limit enterprises from
 * where the last chunk stopped, fewer if the monotonic clock passes
 * deadline_ns (0: never). *did false when no campaign is resolving. who
 * audits the end.
 */
int campaign_resolve_chunk(struct db *db, const struct actor *who, int64_t tenant_id,
			   int64_t limit, int64_t deadline_ns, bool *did, int64_t *processed,
			   struct err *e);

/*
 * A visit was recorded (inside its write job): mark the enterprise's
 * unvisited targets of the campaigns whose window contains visited_at, and
 * count them. *counted (may be NULL) gets the number of campaigns.
 */
int campaign_on_visit(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t visit_id,
		      int64_t worker_id, int64_t visited_at, int64_t *counted, struct err *e);

struct campaign {
	int64_t id;
	char name[CAMPAIGN_NAME_MAX * 4 + 1];
	char *description;         /* heap; campaign_release() frees */
	char *target;              /* heap: the definition (JSON text) */
	char starts_on[11], deadline_on[11];
	int64_t starts_at, deadline_at;
	int64_t targets, visited;  /* over every target (the live counters) */
	int64_t created_by, created_at;
	bool resolving;            /* targets are still being resolved */
	int64_t resolve_next;      /* resolving: every enterprise below this id is done */
	int64_t resolve_last;      /* the highest enterprise id when it was created */
};
void campaign_release(struct campaign *c);
/* How far the resolution is, 0..1 (by enterprise id; 1 when resolved). */
double campaign_resolve_progress(const struct campaign *c);

/* Progress: targets, of which visited (remaining = targets - visited). */
struct campaign_progress {
	int64_t targets, visited;
};

int campaign_get(struct db *db, int64_t tenant_id, int64_t id, struct campaign *out,
		 struct err *e);
/*
 * The progress the actor sees under scope (visit.read): the live counters for
 * SCOPE_ALL, else a count of the targets in the grids it reaches.
 */
int campaign_progress(struct db *db, const struct actor *who, enum scope scope,
		      const struct campaign *c, struct campaign_progress *out, struct err *e);

/* Campaigns of the tenant by id (newest first when after = 0: ids below
 * after); strings valid during each(). */
int campaign_list(struct db *db, int64_t tenant_id, int64_t after, int64_t limit,
		  int (*each)(const struct campaign *c, void *ctx), void *ctx, struct err *e);

/* One group of a progress report. Strings borrowed during each(). */
struct campaign_group {
	int64_t id;                /* grid id or user id; 0 = targets in no grid */
	const char *code, *name;   /* grid code and name, or the worker's login and name */
	const char *level;         /* grid level; NULL for workers */
	int64_t grid_id;           /* workers: their grid */
	int64_t targets, visited;
	int64_t visited_by;        /* workers: targets they visited themselves */
};

/*
 * Progress by grid at a level ("unit", "community", "street", "district";
 * targets counted in the grid and below), by grid id after `after`, at most
 * limit groups; targets in no grid are counted into *unplaced (may be NULL;
 * only on the first page). Restricted to the actor's scope.
 */
int campaign_by_grid(struct db *db, const struct actor *who, enum scope scope,
		     const struct campaign *c, int level, int64_t after, int64_t limit,
		     int (*each)(const struct campaign_group *g, void *ctx), void *ctx,
		     struct campaign_progress *unplaced, struct err *e);
/*
 * Progress by grid worker: the active grid workers whose grid the actor
 * reaches, by user id after `after`: targets in the worker's grid and below,
 * of which visited, and of which visited by the worker.
 */
int campaign_by_worker(struct db *db, const struct actor *who, enum scope scope,
		       const struct campaign *c, int64_t after, int64_t limit,
		       int (*each)(const struct campaign_group *g, void *ctx), void *ctx,
		       struct err *e);

enum campaign_target_status { CTS_ALL, CTS_REMAINING, CTS_VISITED };

struct campaign_target {
	int64_t enterprise_id;
	const char *name, *credit_code, *address; /* borrowed during each() */
	bool is_key;
	int64_t grid_id;
	int64_t visit_id, visited_at, worker_id; /* 0 = not visited */
	const char *worker_name;
};
/* The targets the actor may see, by enterprise id after `after`, filtered by
 * status and grid (0 any: this grid and below). */
int campaign_targets(struct db *db, const struct actor *who, enum scope scope,
		     const struct campaign *c, enum campaign_target_status status,
		     int64_t grid_id, int64_t after, int64_t limit,
		     int (*each)(const struct campaign_target *t, void *ctx), void *ctx,
		     struct err *e);

#endif
