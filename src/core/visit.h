/*
 * visit.h — the visit system (走访服务制度): visit policies, each
 * enterprise's visit state and the grid workers' visit tasks, visit records
 * with findings (raised as requests on the enterprise's behalf) and photos.
 * Campaigns (走访活动) are in core/campaign.h.
 *
 * Rules kept in visit_policy.c (policies and the state they give) and
 * visit.c (reading the state, tasks, visit records) and nowhere else:
 *  - a policy matches an enterprise when every criterion it sets holds
 *    (key or not, a tag, a size class, an industry section); of the policies
 *    matching an active enterprise the strictest applies (fewest days, then
 *    the smallest id); an enterprise that is not active has no duty;
 *  - the duty counts from the anchor day: the local day of the latest visit,
 *    else the registration date (registered_on), else the day the enterprise
 *    was entered; it is due at the end (23:59:59.999 Asia/Shanghai) of the
 *    day anchor + interval_days, and overdue after that;
 *  - visit_state holds that for every enterprise and is changed in the
 *    transaction of each visit, each policy change and each registry change
 *    (enterprise.c calls visit_state_refresh), never recomputed on reading;
 *  - a visit is recorded by a grid worker for an active enterprise in their
 *    grid, at a time not in the future (VISIT_CLOCK_SKEW_MS of clock skew
 *    allowed) and not before the registration date; the position is checked
 *    against the enterprise's location and a visit farther than the setting
 *    visits.max_distance_m is flagged (a warning, not a refusal);
 *  - everything a visit writes (the record, its findings, the requests they
 *    raise, the visit state, the campaign targets it fulfils, the audit row)
 *    is written by one job, after every check: a refused visit writes nothing.
 */
#ifndef YQ_VISIT_H
#define YQ_VISIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;
struct attachment_file;

#define VISIT_SETTING_DISTANCE "visits.max_distance_m"
#define VISIT_SETTING_PHOTOS "visits.max_photos"
#define VISIT_CLOCK_SKEW_MS (5 * 60000)  /* a phone's clock may run this far ahead */
#define VISIT_POLICY_NAME_MAX 64         /* characters */
#define VISIT_POLICIES_MAX 100           /* per tenant */
#define VISIT_TEXT_MAX 2000              /* summary, characters */
#define VISIT_FINDINGS_MAX 20
#define VISIT_FINDING_MAX 4000           /* description, characters (a request's content) */
#define VISIT_PERSON_MAX 32              /* met_name, met_role, characters */
#define VISIT_DAY_MS 86400000LL
#define VISIT_LOCAL_OFFSET_MS 28800000LL /* UTC+8 */

/* ---- pure rules (no database) ---- */

/* What a policy looks at in an enterprise. */
struct visit_subject {
	bool active;             /* status 'active' */
	bool is_key;
	const char *tags;        /* "a,b" as stored in enterprises.tags */
	const char *size_class;  /* "" unknown */
	const char *industry_section;
};

struct visit_policy {
	int64_t id;
	char name[VISIT_POLICY_NAME_MAX * 4 + 1];
	int interval_days;       /* 1..3650 */
	int match_key;           /* -1 any, 0 non-key only, 1 key only */
	char match_tag[68];      /* "" any (a tag: at most 16 characters) */
	char match_size[8];      /* "" any; large, medium, small, micro */
	char match_section[4];   /* "" any; A..T */
	int64_t version;
	int64_t created_by, created_at, updated_at;
	int64_t enterprises;     /* enterprises it applies to now (visit_policy_get/list) */
};

/* Does p match s (ignoring whether s is active)? */
bool visit_policy_matches(const struct visit_policy *p, const struct visit_subject *s);
/* The policy that applies to s among ps[0..n): the strictest matching one,
 * NULL when none matches or s is not active. */
const struct visit_policy *visit_policy_pick(const struct visit_policy *ps, size_t n,
					     const struct visit_subject *s);
/* The end (UTC ms) of local day anchor_day + interval_days. */
int64_t visit_due_at(int64_t anchor_day, int interval_days);
/* The anchor day: the local day of last_visit_at if > 0, else of
 * registered_on ("YYYY-MM-DD", "" unknown), else of created_at. */
int64_t visit_anchor_day(int64_t last_visit_at, const char *registered_on, int64_t created_at);

/* ---- policies ---- */

/* Input of create and update; on update, unset fields keep their value. */
struct visit_policy_input {
	const char *name;
	bool set_interval;
	int64_t interval_days;
	bool set_match;          /* create: optional (no criteria = every active enterprise) */
	int match_key;           /* -1 any, 0, 1 */
	const char *match_tag;   /* NULL or "" any */
	const char *match_size;
	const char *match_section;
};

/* Field-level checks (name, interval_days, match.*), without the database. */
int visit_policy_validate(const struct visit_policy_input *in, bool create, struct err *e);

/*
 * The recomputation of a tenant's visit state after its policies changed: a
 * pass over every enterprise in id order, in chunks (visit_backlog_step).
 * Each policy change starts a new pass from the first enterprise (an
 * enterprise a pass in progress already did was computed with the policies
 * before the change); the pass ends when a chunk runs out of enterprises.
 */
struct visit_recompute {
	int64_t generation;      /* policy changes so far (0: none, never recomputed) */
	bool running;            /* a pass is in progress */
	int64_t next_id;         /* every enterprise below this id is done in this pass */
	int64_t last_id;         /* the highest enterprise id when the pass started */
	int64_t done;            /* enterprises done in this pass */
	int64_t changed;         /* of which whose policy or due date changed */
	int64_t chunks;          /* write jobs of this pass */
	int64_t started_at, updated_at, finished_at; /* finished_at 0 while running */
};
/* The pass in progress or the last one (all zero when policies never changed). */
int visit_recompute_get(struct db *db, int64_t tenant_id, struct visit_recompute *out,
			struct err *e);
/* How far a pass is, 0..1 (by enterprise id; 1 when finished). */
double visit_recompute_progress(const struct visit_recompute *r);

/* Write-job argument of visit_policy_create / _update / _delete. */
struct visit_policy_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t id;              /* update, delete; out: create */
	struct visit_policy_input in;
	int64_t now;
	/* out */
	int64_t recomputed;      /* enterprises whose policy or due date this write changed
				  * (its first chunk; the rest in the background) */
	struct visit_recompute recompute; /* the pass the change started, after that chunk */
};
/*
 * Create a policy (at most VISIT_POLICIES_MAX; a name used by another policy
 * is ERR_CONFLICT "name") and start a new recomputation of every enterprise's
 * state: the write does its first chunk (a district with fewer enterprises
 * than a chunk is done when it commits) and leaves the rest to the backlog
 * (visit_backlog_step; visit_backlog_notify is called). Audited as entity
 * "visit_policy" with the generation of the pass.
 */
int visit_policy_create(struct db *db, void *arg, struct err *e);
/* Change a policy (ERR_NOT_FOUND "id"); the same recomputation. */
int visit_policy_update(struct db *db, void *arg, struct err *e);
/* Delete a policy (ERR_NOT_FOUND "id"); the same recomputation. */
int visit_policy_delete(struct db *db, void *arg, struct err *e);

int visit_policy_get(struct db *db, int64_t tenant_id, int64_t id, struct visit_policy *out,
		     struct err *e);
/* Every policy of the tenant, strictest first; each() returning non-zero stops. */
int visit_policy_list(struct db *db, int64_t tenant_id,
		      int (*each)(const struct visit_policy *p, void *ctx), void *ctx,
		      struct err *e);

/* ---- visit state ---- */

/*
 * Bring one enterprise's visit state up to date after its registration data
 * changed (status, key, tags, size class, industry, registration date), it
 * was created or visited (inside a write job; enterprise.c calls it). It
 * uses the policies as they are, so it is right also while a recomputation
 * has not reached the enterprise yet.
 */
int visit_state_refresh(struct db *db, int64_t tenant_id, int64_t enterprise_id,
			struct err *e);
/*
 * Recompute the policy and due date of every enterprise of the tenant now,
 * in the caller's transaction (a new pass, run to its end: for the command
 * line and tests; the server leaves it to the backlog). Only rows that
 * change are written (an enterprise without a row gets one); *changed (may
 * be NULL) gets their number.
 */
int visit_state_recompute(struct db *db, int64_t tenant_id, int64_t now, int64_t *changed,
			  struct err *e);

/* ---- the backlog: long work done in chunks ---- */

#define VISIT_SETTING_CHUNK "visits.recompute_chunk"     /* enterprises per chunk, at most */
#define VISIT_CHUNK_BUDGET_MS 20  /* a chunk ends after this long (a loaded machine: fewer) */
#define VISIT_SETTING_PAUSE "visits.recompute_pause_ms"  /* the runner's rest between chunks */

/*
 * A policy change and a campaign over many enterprises leave work that
 * would hold the only writer for seconds on a large district: recomputing
 * every enterprise's state (above) and resolving the campaign's targets
 * (campaign.h). Both are done in chunks of at most visits.recompute_chunk
 * enterprises and about VISIT_CHUNK_BUDGET_MS (whichever ends first), each
 * chunk one write job that moves its cursor on in the same
 * transaction, so other writes go between chunks, and a restart (or a kill)
 * resumes after the last committed chunk; a chunk computes from the data as
 * it is then, so none is ever applied twice or on stale input.
 */
struct visit_backlog_step {
	const struct actor *who; /* audits the end of a pass or a resolution (NULL: nobody) */
	int64_t tenant_id;
	int64_t now;
	int64_t limit;           /* enterprises in the chunk, at most; 0: the setting */
	int64_t budget_ms;       /* it ends after this long; 0: VISIT_CHUNK_BUDGET_MS, < 0: never */
	/* out */
	bool did;                /* a chunk was done */
	bool more;               /* work is left for another step */
	int64_t processed;       /* enterprises the chunk went through */
	int64_t ns;              /* how long the chunk took (monotonic ns, before the commit) */
};
/*
 * One chunk of the tenant's backlog (a write job): the recomputation in
 * progress first, else the oldest campaign being resolved. Nothing to do:
 * did and more false, nothing written.
 */
int visit_backlog_step(struct db *db, void *arg, struct err *e);
/* The tenant's whole backlog now, in the caller's transaction (demo, command line, tests). */
int visit_backlog_run(struct db *db, const struct actor *who, int64_t tenant_id, int64_t now,
		      struct err *e);
/* Is any of the tenant's backlog left? */
int visit_backlog_pending(struct db *db, int64_t tenant_id, bool *pending, struct err *e);
/* The tenants with backlog left, by id, into a new array (caller frees; NULL when none). */
int visit_backlog_tenants(struct db *db, int64_t **out, size_t *n, struct err *e);
/*
 * The server's runner asks to be told when a write leaves backlog: fn is
 * called with the tenant from inside that write job, before it commits: the
 * runner must look through a step job (queued after the write), not through
 * a reader, which may not see the work yet. NULL stops the calls. One runner
 * per process.
 */
void visit_backlog_set_notify(void (*fn)(void *ctx, int64_t tenant_id), void *ctx);
/* Tell the runner (if any) that the tenant has backlog; for the writes that leave some. */
void visit_backlog_notify(int64_t tenant_id);

struct visit_state {
	int64_t enterprise_id;
	int64_t policy_id;       /* 0 = no duty */
	char policy_name[VISIT_POLICY_NAME_MAX * 4 + 1];
	int interval_days;
	int64_t anchor_day;
	int64_t next_due_at;     /* 0 = no duty */
	int64_t last_visit_id, last_visit_at; /* 0 = never */
	int64_t visits;
	bool pending;            /* a recomputation in progress has not reached it yet: policy
				  * and due date may be those of the policies before the change */
};

/* The state of an enterprise the actor may see under scope (visit.read);
 * ERR_NOT_FOUND "id" otherwise. */
int visit_state_get(struct db *db, const struct actor *who, enum scope scope,
		    int64_t enterprise_id, struct visit_state *out, struct err *e);

/* ---- tasks ---- */

/* One task: an enterprise whose visit is due. Strings borrowed during each(). */
struct visit_task {
	int64_t enterprise_id;
	const char *name, *address, *credit_code;
	bool is_key;
	bool has_location;
	double lat, lon;
	int64_t grid_id;
	int64_t policy_id;
	int interval_days;
	int64_t last_visit_at;   /* 0 = never */
	int64_t next_due_at;
};

#define VISIT_CURSOR_MAX 48

struct visit_task_filter {
	int64_t due_before;      /* tasks with next_due_at < this (UTC ms) */
	int64_t grid_id;         /* 0 any; else this grid and below */
	const char *after;       /* cursor "d.<due>.<enterprise id>" from the previous page */
	int64_t limit;
};
/*
 * The visit tasks the actor may see under scope (enterprises in the grids it
 * reaches), due soonest first. counts (may be NULL) gets the totals over
 * every page: overdue (due before now) and due (before due_before).
 * A malformed cursor is ERR_BAD_REQUEST "after".
 */
struct visit_task_counts {
	int64_t overdue, due;
};
int visit_tasks(struct db *db, const struct actor *who, enum scope scope,
		const struct visit_task_filter *f, int64_t now,
		int (*each)(const struct visit_task *t, void *ctx), void *ctx,
		struct visit_task_counts *counts, struct err *e);
void visit_task_cursor(const struct visit_task *t, char out[VISIT_CURSOR_MAX]);

/* An active grid worker with a grid (visit_grid_workers). */
struct grid_worker_ref {
	int64_t id, grid_id;
	char login[64], name[256];
	char grid_code[16], grid_name[260];
	char grid_like[132];     /* the grid's path followed by '%': "this grid and below" */
};
/*
 * The active grid workers with a grid that the actor reaches under scope
 * (their grid in the actor's grids; grid_id: only within this grid and
 * below), by user id after `after`, at most limit, into a new array (caller
 * frees). ERR_UNPROCESSABLE "grid_id" when grid_id names no grid.
 */
int visit_grid_workers(struct db *db, const struct actor *who, enum scope scope, int64_t grid_id,
		       int64_t after, int64_t limit, struct grid_worker_ref **out, size_t *n,
		       struct err *e);

/* The grid of a grid worker: ERR_UNPROCESSABLE field when user_id is no
 * active user of the tenant with a grid. */
int visit_worker_grid(struct db *db, int64_t tenant_id, int64_t user_id, const char *field,
		      int64_t *grid_id, struct err *e);

/* A grid worker's figures (visit_worker_counts). */
struct visit_worker {
	int64_t user_id;
	const char *login, *display_name;  /* borrowed during each() */
	int64_t grid_id;
	const char *grid_code, *grid_name;
	int64_t enterprises;     /* active enterprises in the worker's grid (and below) */
	int64_t with_duty;       /* of which a policy applies to */
	int64_t overdue;         /* of which due before now */
	int64_t due;             /* of which due before due_before */
	int64_t visits_recent;   /* visits the worker recorded since `since` */
};
/*
 * The active grid workers with a grid whose grid the actor reaches under
 * scope (grid_id: only this grid and below), by user id after `after`, at
 * most limit, with their figures.
 */
int visit_worker_counts(struct db *db, const struct actor *who, enum scope scope,
			int64_t grid_id, int64_t now, int64_t due_before, int64_t since,
			int64_t after, int64_t limit,
			int (*each)(const struct visit_worker *w, void *ctx), void *ctx,
			struct err *e);

/* ---- visit records ---- */

struct visit_finding_input {
	int64_t category_id;     /* an active category of the request catalogue */
	const char *description; /* 1..VISIT_FINDING_MAX characters */
	bool raise_request;      /* raise it as a request (channel grid) */
	const char *req_type;    /* of that request; NULL = "help" */
};

struct visit_input {
	int64_t enterprise_id;
	int64_t visited_at;      /* UTC ms */
	bool has_position;
	double lat, lon;
	const char *met_name;    /* whom they met, 0..VISIT_PERSON_MAX characters */
	const char *met_role;
	const char *summary;     /* 1..VISIT_TEXT_MAX characters */
	const struct visit_finding_input *findings;
	size_t nfindings;        /* 0..VISIT_FINDINGS_MAX */
};

/* Field-level checks without the database (names the field, findings as
 * "findings[2].description"). now: the time of recording. */
int visit_validate(const struct visit_input *in, int64_t now, struct err *e);

/* Write-job argument of visit_record. */
struct visit_write {
	const struct actor *who;  /* the grid worker */
	enum scope scope;         /* the worker's visit.write scope */
	int64_t tenant_id;
	struct visit_input in;
	int64_t now;
	/* out */
	int64_t id;
	bool has_distance;
	double distance_m;
	bool far;
	int64_t threshold_m;
	bool enterprise_located;  /* the enterprise has a location to compare with */
	int64_t request_ids[VISIT_FINDINGS_MAX]; /* by finding; 0 = not raised */
	int64_t campaigns;        /* campaigns the visit counted for */
};
/*
 * Record a visit. Refusals (nothing written): ERR_UNPROCESSABLE
 * "enterprise_id" (no such enterprise, or not active), ERR_FORBIDDEN
 * "enterprise_id" (outside the worker's grid), ERR_UNPROCESSABLE
 * "visited_at" (in the future, before the registration date),
 * "findings[i].category_id" (no such active category), and the checks of
 * visit_validate. Audited as entity "visit", action "create".
 */
int visit_record(struct db *db, void *arg, struct err *e);

struct visit_finding {
	int64_t id;
	int seq;
	int64_t category_id;
	const char *category_name, *description, *request_number; /* borrowed */
	bool raise_request;
	int64_t request_id;      /* 0 = none */
};

struct visit_photo {
	int64_t id, visit_id, tenant_id;
	char filename[404];
	char content_type[32];
	int64_t size;
	char sha256[65];
	int64_t uploaded_by, uploaded_at;
};

struct visit {
	int64_t id;
	int64_t enterprise_id;
	char enterprise_name[404];
	int64_t grid_id;          /* the enterprise's unit grid now (the scope) */
	char grid_path[128];
	int64_t worker_id;
	char worker_name[260];
	int64_t visited_at;
	bool has_position;
	double lat, lon;
	bool has_distance;
	double distance_m;
	bool far;
	char met_name[132], met_role[132];
	char *summary;            /* heap; visit_release() frees */
	int findings, requests, photos;
	int64_t created_at;
};
void visit_release(struct visit *v);

/* One visit the actor may see under scope (visit.read; the enterprise's grid
 * now); ERR_NOT_FOUND "id" otherwise. */
int visit_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
	      struct visit *out, struct err *e);
/* Its findings in order, and its photos. */
int visit_findings(struct db *db, int64_t tenant_id, int64_t visit_id,
		   int (*each)(const struct visit_finding *f, void *ctx), void *ctx,
		   struct err *e);
int visit_photos(struct db *db, int64_t tenant_id, int64_t visit_id,
		 int (*each)(const struct visit_photo *p, void *ctx), void *ctx, struct err *e);

struct visit_filter {
	int64_t enterprise_id, worker_id, grid_id; /* 0 any; grid: this grid and below */
	int64_t from, to;        /* visited_at in [from, to), 0 = open */
	bool far_only;
	const char *after;       /* cursor "t.<visited_at>.<id>" (newest first) */
	int64_t limit;
};
/* Visits the actor may see under scope, newest first. Strings of the visit
 * are valid during each() (summary too). ERR_BAD_REQUEST "after" for a
 * malformed cursor. */
int visit_list(struct db *db, const struct actor *who, enum scope scope,
	       const struct visit_filter *f, int (*each)(const struct visit *v, void *ctx),
	       void *ctx, struct err *e);
void visit_cursor(const struct visit *v, char out[VISIT_CURSOR_MAX]);

/* Write-job argument of visit_photo_add. */
struct visit_photo_add {
	const struct actor *who;
	enum scope scope;         /* visit.write */
	int64_t tenant_id;
	int64_t visit_id;
	const struct attachment_file *file; /* attachment_prepare()d */
	int64_t now;
	/* out */
	int64_t id;
	bool existed;             /* the same bytes were already on this visit */
};
/*
 * Add a photo to a visit: only images (PNG, JPEG, GIF, WebP; 422 "file"
 * otherwise), only by the worker who recorded it (ERR_FORBIDDEN "id"), at
 * most visits.max_photos (422 "file"). The same bytes again answer the photo
 * there. Audited as entity "visit_photo".
 */
int visit_photo_add(struct db *db, void *arg, struct err *e);
/* One photo, if the actor may see its visit (ERR_NOT_FOUND "id"). */
int visit_photo_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
		    struct visit_photo *out, struct err *e);

#endif
