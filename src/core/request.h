/*
 * request.h — enterprise requests (诉求): the closed loop with time limits.
 *
 * A request moves through an explicit state machine (request.c, table
 * `steps`): received → dispatched → signed → in_progress → replied →
 * closed, with side paths: return to the dispatcher (退单, a department
 * head decides a handler's application), extension (延期, asked before the
 * deadline, decided by a department head), pause while waiting for the
 * enterprise (挂起: the clock stops and the deadline moves by the paused
 * working time), supervision (督办, levels), reopening after an unsatisfied
 * rating (重办), merging a duplicate into a master (合并) and voiding (作废).
 * Every step is an event of the timeline with a public note (the enterprise
 * sees it) and an internal note (staff only).
 *
 * Deadlines run from dispatch (the clock starts when the task is sent, as in
 * GB/T 30428): signing within the policy's working minutes, a reply within
 * its working days; after the reply, the return visit / rating within its
 * working days. They are computed on the tenant's working-day calendar
 * (workcal.h). The matching policy is the most specific of (category, type),
 * (category, any), (any, type), then the built-in defaults per type.
 */
#ifndef YQ_REQUEST_H
#define YQ_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

/*
 * SQL: a request is being handled (its handling deadline runs). Written as
 * the partial index requests_due_handle's own WHERE (sql/022) so that a query
 * holding it can use that index; as an OR chain, not an IN list, because
 * SQLite builds an ephemeral table for an IN list of three values on every
 * INSERT that evaluates the index's WHERE.
 */
#define REQ_HANDLING_SQL "(state = 'dispatched' OR state = 'signed' OR state = 'in_progress')"

struct db;
struct workcal;

enum req_state {
	RS_RECEIVED,    /* 已受理: waiting for dispatch */
	RS_DISPATCHED,  /* 已派单: sent to a department, waiting for signing */
	RS_SIGNED,      /* 已签收 */
	RS_IN_PROGRESS, /* 办理中 */
	RS_PAUSED,      /* 挂起: waiting for the enterprise, clock stopped */
	RS_REPLIED,     /* 已答复: waiting for the return visit / rating */
	RS_RETURNED,    /* 已退单: back with the dispatcher */
	RS_CLOSED,      /* 已办结 */
	RS_MERGED,      /* 已合并 into a master request */
	RS_VOIDED,      /* 已作废 */
	RS__COUNT
};

enum req_action {
	RA_DISPATCH,          /* dispatcher: to a department (received, returned) */
	RA_SIGN,              /* handler: sign for it (dispatched) */
	RA_START,             /* handler: start handling (signed) */
	RA_REPLY,             /* handler: reply with a public note (signed, in_progress) */
	RA_RETURN_APPLY,      /* handler: ask to return it as misrouted (dispatched, signed, in_progress) */
	RA_RETURN_DECIDE,     /* dept head: approve (→ returned) or refuse */
	RA_RETURN,            /* dept head or leader (request.approve): return directly */
	RA_EXTEND_APPLY,      /* handler: ask for n more working days, before the deadline */
	RA_EXTEND_DECIDE,     /* dept head: approve (the deadline moves) or refuse */
	RA_PAUSE,             /* handler: wait for the enterprise (signed, in_progress) */
	RA_RESUME,            /* handler: resume (paused) */
	RA_SUPERVISE,         /* leader / supervisor / dispatcher: raise the supervision level */
	RA_RATE,              /* the enterprise (or a dispatcher on a return visit): rate (replied) */
	RA_CLOSE,             /* dispatcher: close after a return visit (replied) */
	RA_REOPEN,            /* dispatcher / enterprise after an unsatisfied rating (replied, closed) */
	RA_MERGE,             /* dispatcher: merge into a master (received, returned, dispatched) */
	RA_VOID,              /* dispatcher: void with a reason (received, returned) */
	RA_NOTE,              /* anyone who handles it: add a note without changing the state */
	RA_AUTO_CLOSE,        /* the digital employee: close unrated after the visit limit */
	RA__COUNT
};

const char *req_state_name(enum req_state s);
const char *req_state_zh(enum req_state s);
int req_state_parse(const char *s); /* -1 if unknown */
const char *req_action_name(enum req_action a);
int req_action_parse(const char *s);

/* Channels and types (stored as their names). */
bool req_channel_valid(const char *c); /* online hall hotline grid observer qrcode open311 */
bool req_type_valid(const char *t);    /* consultation help complaint suggestion report */
const char *req_type_zh(const char *t);

struct request {
	int64_t id, tenant_id;
	char number[24];
	char channel[12];
	char req_type[16];
	int64_t category_id;
	char category_name[204];      /* buffers hold their field's limit in 4-byte characters */
	int64_t enterprise_id;
	char enterprise_name[404];
	char contact_name[132];
	char contact_phone[32];
	char title[404];
	char *content;             /* heap, <= 4000 characters; request_release() frees */
	char address[516];
	bool has_location;
	double lat, lon;
	int64_t grid_id;
	char urgency[12];
	enum req_state state;
	enum req_state paused_from;
	int64_t department_id;
	char department_name[260];
	char dept_path[256];
	char grid_path[128];   /* '/1/4/9/' of grid_id, "" if not placed */
	int64_t handler_id;
	char handler_name[260];
	int64_t created_by;
	int64_t master_id;
	int reopen_count;
	int supervision_level;
	int64_t received_at, dispatched_at, signed_at, replied_at, closed_at;
	int64_t sign_due_at, handle_due_at, visit_due_at; /* 0 = not running */
	int64_t paused_at, paused_ms;
	int extended_days;
	int rating_solved;         /* -1 unrated, 0 not solved, 1 solved */
	char rating[16];           /* satisfied, basic, unsatisfied, unrated, "" */
	char rating_comment[1204];
	int closed_on_time;        /* -1 not closed, 0, 1 */
	int64_t version;
	int64_t created_at, updated_at;
	int64_t clock_from;        /* the handling clock started: the dispatch, or the last reopening */
};

void request_release(struct request *r);

/* Input of request_create. */
struct request_input {
	const char *channel;
	const char *req_type;
	int64_t category_id;       /* 0 = none yet (the dispatcher classifies) */
	int64_t enterprise_id;     /* 0 = anonymous / a person */
	const char *contact_name;
	const char *contact_phone;
	const char *title;         /* 1..100 characters; default: the start of the content */
	const char *content;       /* 1..4000 characters */
	const char *address;
	bool set_location;
	double lat, lon;
	const char *urgency;       /* normal, urgent, critical */
};

int request_validate(const struct request_input *in, struct err *e);

/* Write-job argument of request_create. */
struct request_create {
	const struct actor *who;   /* who entered it (the enterprise, a dispatcher, a grid worker) */
	int64_t tenant_id;
	struct request_input in;
	int64_t now;
	int64_t id;                /* out */
	char number[24];           /* out */
	struct request *row;       /* optional out: the request as stored (caller releases) */
};
int request_create(struct db *db, void *arg, struct err *e);

/* Write-job argument of request_act: one step of the state machine. */
struct request_step {
	const struct actor *who;
	enum scope scope;          /* the caller's scope for the action's permission */
	int64_t tenant_id;
	int64_t id;
	enum req_action action;
	int64_t expect_version;    /* 0 = any; else ERR_CONFLICT if the request changed meanwhile */
	/* parameters (by action) */
	int64_t department_id;     /* dispatch */
	int64_t category_id;       /* dispatch: classify (0 = keep) */
	int64_t master_id;         /* merge */
	int days;                  /* extend_apply: working days */
	bool approve;              /* *_decide */
	int level;                 /* supervise: 1..3 */
	bool solved;               /* rate */
	const char *rating;        /* rate: satisfied, basic, unsatisfied */
	const char *public_note;   /* for the enterprise (reply: required) */
	const char *internal_note; /* staff only */
	int64_t now;
	struct workcal *cal;       /* borrowed calendar snapshot of the tenant */
	/* out */
	enum req_state from, to;
	int64_t event_id;
};
int request_act(struct db *db, void *arg, struct err *e);

/* Is the action possible now in state s (ignoring who)? */
bool request_action_allowed(enum req_action a, enum req_state s);
/* The permission an action needs. */
enum perm request_action_perm(enum req_action a);
/*
 * The actions `who` may take on r at `now`, as a bit set (1u << action): the
 * state allows them, a role of who gives the action's permission with r in
 * its scope, and their other conditions hold — a pending application to
 * decide and none pending to apply again, an extension only before the
 * (pause-adjusted) deadline, reopening a closed request only after an
 * unsatisfied rating. `apps` are r's applications (all of them, as
 * request_applications or request_get_detail read them): the pending ones
 * decide the conditions, so no database is needed. RA_AUTO_CLOSE (the
 * system's) is never in the set. The same checks refuse the action in
 * request_act.
 */
struct request_application;
unsigned request_actions(const struct actor *who, const struct request *r,
			 const struct request_application *apps, size_t napps, int64_t now,
			 const struct workcal *cal);
/* The same; *until (if given) is lowered to the first instant at which the set may differ
 * by time passing alone. */
unsigned request_actions_until(const struct actor *who, const struct request *r,
			       const struct request_application *apps, size_t napps, int64_t now,
			       const struct workcal *cal, int64_t *until);

int request_get(struct db *db, int64_t tenant_id, int64_t id, struct request *out,
		struct err *e);
/* Move a request to another unit grid (0: none), keeping the rate counters:
 * placement after grids change (core/grid.c). Inside a write job. */
int request_set_grid(struct db *db, int64_t tenant_id, int64_t id, int64_t grid_id,
		     struct err *e);
/* May the actor see this request under scope (department, grid, enterprise, author)? */
bool request_visible(const struct actor *a, enum scope s, const struct request *r);

enum request_view {
	RV_ALL,        /* any */
	RV_TO_DISPATCH,/* received or returned */
	RV_TO_SIGN,    /* dispatched */
	RV_OPEN,       /* dispatched, signed, in_progress, paused */
	RV_DUE_SOON,   /* open, and the reply deadline is near (elapsed >= 80 %) */
	RV_OVERDUE,    /* open, and a deadline has passed */
	RV_TO_RATE,    /* replied */
	RV_CLOSED,     /* closed */
	RV_PENDING_DECISION, /* with a pending extension or return application */
};

struct request_filter {
	enum request_view view;
	const char *state;         /* exact state name, NULL = any */
	int64_t department_id, category_id, enterprise_id, grid_id;
	const char *req_type, *channel, *q; /* q: number prefix or title substring */
	int64_t received_from, received_to; /* ms, 0 = open */
	/* Keyset: newest first, id < after (0 = from the start). The deadline queues go by
	 * deadline: RV_OVERDUE by (request_overdue_key, id) after (after_key, after),
	 * RV_DUE_SOON by (handle_due_at, clock_from, id) after (after_key, after_start,
	 * after). */
	int64_t after, after_key, after_start;
	int64_t limit;
};
/*
 * The requests of a list or work queue that the actor may see under scope,
 * one by one to each() (non-zero stops), at most f->limit (default 50).
 * Every view reads about as many rows as it returns: the states of a view
 * are each walked newest first through the state index and merged; the
 * overdue queue walks the deadline indexes of its three kinds of lateness
 * (sql/021) from the longest overdue and merges them; due soon walks the
 * running requests by reply deadline, soonest first (sql/023).
 */
int request_list(struct db *db, const struct actor *who, enum scope scope,
		 const struct request_filter *f, int64_t now, const struct workcal *cal,
		 int (*each)(const struct request *r, void *ctx), void *ctx, struct err *e);
/*
 * The order of the overdue queue: the earliest deadline of r that has run
 * out — a dispatched request's signing or reply deadline, whichever is
 * earlier, a signed or handled one's reply deadline, a replied one's return
 * visit. 0 if r is in none of those states.
 */
int64_t request_overdue_key(const struct request *r);

struct request_event {
	int64_t id, at, actor_id;
	const char *actor_name, *action, *from_state, *to_state, *public_note, *internal_note,
		*data; /* borrowed */
};
/* The timeline, oldest first. */
int request_events(struct db *db, int64_t tenant_id, int64_t id,
		   int (*each)(const struct request_event *ev, void *ctx), void *ctx,
		   struct err *e);

/* An extension or return application (request_applications). */
struct request_application {
	int64_t id, applicant_id, applied_at, decided_by, decided_at;
	int days;                  /* extension: working days asked */
	const char *kind;          /* "extension", "return" (borrowed, as the texts below) */
	const char *status;        /* "pending", "approved", "refused" */
	const char *reason, *decision_note, *applicant_name;
};
/* The applications of a request, oldest first; each() returning non-zero stops. */
int request_applications(struct db *db, int64_t tenant_id, int64_t id,
			 int (*each)(const struct request_application *a, void *ctx), void *ctx,
			 struct err *e);

/* A request with its applications, as its page shows it. */
struct request_detail {
	struct request r;
	struct request_application *apps; /* oldest first; texts owned (request_detail_release) */
	size_t napps;
};
/* The request and its applications in one statement (one snapshot); ERR_NOT_FOUND. */
int request_get_detail(struct db *db, int64_t tenant_id, int64_t id, struct request_detail *out,
		       struct err *e);
void request_detail_release(struct request_detail *d);

/*
 * The JSON members of a request with its deadline states at `now` (cal may
 * be NULL: no states), written into the object open in w (the caller adds
 * its own members and closes it). Staff also get contact data and ids;
 * REQUEST_JSON_CONTENT adds the text (lists carry the title only).
 */
struct jsonw;
enum request_json_flags {
	REQUEST_JSON_STAFF = 1 << 0,
	REQUEST_JSON_CONTENT = 1 << 1,
};
void request_json(struct jsonw *w, const struct request *r, int64_t now,
		  const struct workcal *cal, unsigned flags);
/* The same, and *until lowered to the first instant after now at which a deadline
 * state written may be another (workcal_state_until); untouched if none may. */
void request_json_until(struct jsonw *w, const struct request *r, int64_t now,
			const struct workcal *cal, unsigned flags, int64_t *until);
/*
 * When the overdue queue of the tenant may next grow by time passing alone:
 * the first instant after now at which a deadline of a request that could be
 * overdue by it runs out (a lower bound: scopes and filters aside), or
 * INT64_MAX if none will. A page read at now stays the same until then, but
 * for changes to the data.
 */
int request_overdue_until(struct db *db, int64_t tenant_id, int64_t now, int64_t *until,
			  struct err *e);

/* ---- categories and time-limit policies (request_catalog.c) ---- */

struct time_limits {
	int sign_minutes;
	int handle_days;
	int visit_days;
	const char *source; /* "category+type", "category", "type", "default" */
};
int request_limits(struct db *db, int64_t tenant_id, int64_t category_id, const char *req_type,
		   struct time_limits *out, struct err *e);
/* The built-in limits of a type (used when no policy matches). */
void request_default_limits(const char *req_type, struct time_limits *out);

#endif
