/*
 * ledger.h — the key-enterprise ledger (重点企业实名制、台账化帮扶).
 *
 * A ledger item is one problem of a key enterprise (is_key = 1) with a named
 * responsible official and a deadline. The deadline is a date in Asia/Shanghai
 * (UTC+8, no daylight saving): the item is due at 23:59:59.999 that day, kept
 * both as the date (deadline_on) and as that instant in UTC ms (deadline_at).
 * An item is overdue when deadline_at < now and it is still open or in
 * progress.
 *
 * Status moves only along the edges of one table (ledger.c, `transitions`):
 *   open -> in_progress -> resolved -> closed, and resolved -> in_progress
 *   (reopen). Status changes are progress entries: a note, and optionally the
 *   new status, so every change has its reason on record.
 *
 * Scopes (ledger.read / ledger.write) reach an item through its responsible
 * official: SELF = the actor is responsible, DEPT / DEPT_TREE = the
 * responsible official's department (and below). Out of read scope is
 * ERR_NOT_FOUND; readable but not writable is ERR_FORBIDDEN.
 */
#ifndef YQ_LEDGER_H
#define YQ_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

enum ledger_status {
	LEDGER_OPEN,
	LEDGER_IN_PROGRESS,
	LEDGER_RESOLVED,
	LEDGER_CLOSED,
	LEDGER__COUNT
};

#define LEDGER_TITLE_MAX 100   /* characters */
#define LEDGER_TEXT_MAX 2000   /* characters: description, progress note */
#define LEDGER_UTC_OFFSET_MS (8 * 3600 * INT64_C(1000)) /* Asia/Shanghai */

/* "open", "in_progress", "resolved", "closed"; NULL for a bad value. */
const char *ledger_status_name(enum ledger_status s);
/* "待办", "办理中", "已解决", "已关闭". */
const char *ledger_status_zh(enum ledger_status s);
/* The status named s; -1 if unknown. */
int ledger_status_from_name(const char *s);
/* May an item move from `from` to `to`? (Staying put is not a move: false.) */
bool ledger_transition_allowed(enum ledger_status from, enum ledger_status to);
/* Open or in progress: counts as open, and as overdue once past its deadline. */
bool ledger_status_pending(enum ledger_status s);
/* Overdue at `now`? */
bool ledger_overdue(enum ledger_status s, int64_t deadline_at, int64_t now);

/* Is y-m-d a real calendar date (Gregorian, years 1970..9999)? */
bool ledger_date_valid(int y, int m, int d);
/*
 * Parse "YYYY-MM-DD" (exactly that shape, a real date) into the UTC ms of
 * 23:59:59.999 that day in Asia/Shanghai. ERR_UNPROCESSABLE naming field.
 */
int ledger_deadline_parse(const char *date, const char *field, int64_t *deadline_at,
			  struct err *e);
/* "YYYY-MM-DD HH:MM" of a UTC ms instant in Asia/Shanghai, into out[17+]. "" for 0. */
void ledger_format_local(int64_t ms, char *out, size_t n);

struct ledger_item {
	int64_t id;
	int64_t tenant_id;
	int64_t enterprise_id;
	char enterprise_name[256];
	char credit_code[19];
	char title[404];            /* up to 100 characters */
	char description[8004];     /* up to 2000 characters */
	int64_t responsible_user_id;
	char responsible_name[256];
	int64_t responsible_dept_id; /* 0 = none */
	char responsible_dept_name[256];
	char responsible_dept_path[256];
	char deadline_on[11];       /* YYYY-MM-DD */
	int64_t deadline_at;        /* UTC ms, end of deadline_on in Asia/Shanghai */
	enum ledger_status status;
	bool overdue;               /* at the `now` the item was read with */
	int64_t created_by;
	int64_t created_at, updated_at;
	int64_t resolved_at;        /* last move to resolved, 0 = not resolved */
};

/* Write-job argument of ledger_create / ledger_update / ledger_add_progress. */
struct ledger_write {
	const struct actor *who;
	enum scope read_scope;        /* the actor's ledger.read scope */
	enum scope scope;             /* the actor's ledger.write scope */
	int64_t tenant_id;
	int64_t id;                   /* update, progress: the item; create: out */
	int64_t enterprise_id;        /* create */
	const char *title;            /* create: required; update: NULL = unchanged */
	const char *description;      /* NULL = unchanged ("" on create) */
	const char *deadline;         /* "YYYY-MM-DD"; create: required; update: NULL = unchanged */
	int64_t responsible_user_id;  /* create: required; update: 0 = unchanged */
	const char *note;             /* progress: required */
	const char *status;           /* progress: new status, NULL = unchanged */
	int64_t now;
	/* out */
	int64_t progress_id;          /* progress: the new entry */
	bool changed;                 /* update: something changed (else nothing written) */
};

/*
 * Create an item (arg = struct ledger_write *). The enterprise must exist and
 * be a key enterprise (ERR_UNPROCESSABLE "enterprise_id"); the responsible
 * official must be an active staff user (ERR_UNPROCESSABLE
 * "responsible_user_id") within the actor's write scope (ERR_FORBIDDEN
 * "responsible_user_id": a SELF-scoped handler may create items only for
 * themselves). Audited (entity "ledger_item", action "create").
 */
int ledger_create(struct db *db, void *arg, struct err *e);
/*
 * Change title, description, deadline, responsible official. A closed item
 * is ERR_CONFLICT "status". With a SELF write scope the deadline and the
 * responsible official stay as they are (ERR_FORBIDDEN naming the field):
 * the person answerable does not move their own deadline or hand the item
 * off. Writes (and audits) only when something changes.
 */
int ledger_update(struct db *db, void *arg, struct err *e);
/*
 * Add a progress entry: a note (1..2000 characters) and optionally a new
 * status along the transition table (else ERR_CONFLICT "status"; an unknown
 * status is ERR_UNPROCESSABLE "status"). A closed item takes no more entries
 * (ERR_CONFLICT "status"). Moving to resolved stamps resolved_at; reopening
 * clears it. Audited (action "progress").
 */
int ledger_add_progress(struct db *db, void *arg, struct err *e);

/* One item within the actor's scope (ERR_NOT_FOUND "id" otherwise); overdue at now. */
int ledger_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
	       int64_t now, struct ledger_item *out, struct err *e);

struct ledger_filter {
	int64_t enterprise_id;        /* 0 = any */
	int64_t responsible_user_id;  /* 0 = any */
	int status;                   /* enum ledger_status, -1 = any */
	bool overdue;                 /* only overdue items */
	int64_t now;                  /* for overdue */
	int64_t after;                /* keyset: id greater than */
	int64_t limit;                /* rows, >= 1 */
};

/* Items within scope matching f, by id; each() returning non-zero stops. */
int ledger_list(struct db *db, const struct actor *who, enum scope scope,
		const struct ledger_filter *f,
		int (*each)(const struct ledger_item *it, void *ctx), void *ctx, struct err *e);

struct ledger_progress {
	int64_t id;
	int64_t item_id;
	int64_t at;
	int64_t user_id;
	const char *user_name;        /* borrowed until each() returns */
	const char *note;
	const char *status_after;
};

/* The progress entries of an item within scope (ERR_NOT_FOUND "id" otherwise), oldest
 * first, ids after `after`, at most limit. */
int ledger_progress_list(struct db *db, const struct actor *who, enum scope scope,
			 int64_t item_id, int64_t after, int64_t limit,
			 int (*each)(const struct ledger_progress *p, void *ctx), void *ctx,
			 struct err *e);

/* One group of the summary: an enterprise or an official. */
struct ledger_count {
	int64_t id;
	const char *name;             /* enterprise name / official's display name (borrowed) */
	const char *detail;           /* credit code / department name */
	int64_t open;                 /* open or in progress */
	int64_t overdue;              /* of which overdue */
};

struct ledger_totals {
	int64_t open, overdue;
	int64_t enterprises, officials; /* groups with open items (not only those listed) */
};

/*
 * Open and overdue counts per enterprise and per official over the items in
 * scope, groups with open items only, most overdue first (then most open,
 * then id), at most limit groups each. by_enterprise / by_official may be NULL.
 */
int ledger_summary(struct db *db, const struct actor *who, enum scope scope, int64_t now,
		   int64_t limit, int (*by_enterprise)(const struct ledger_count *c, void *ctx),
		   int (*by_official)(const struct ledger_count *c, void *ctx), void *ctx,
		   struct ledger_totals *totals, struct err *e);

#endif
