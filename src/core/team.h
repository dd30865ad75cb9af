/*
 * team.h — service teams (组团式服务 / 包联) and the blind-spot report (服务盲区).
 *
 * Every enterprise should have a team of officials who serve it, at most one
 * of them its lead (组长). A team member is an active staff account of the
 * same tenant (not an enterprise user). Assigning a new lead demotes the
 * previous one to member in the same write, and the audit row says so.
 *
 * The blind-spot report lists what the district is not covering. It is a
 * table of sections (team.c, `sections[]`); each section is one query over
 * enterprises, officials or grids, counted in full and paged by id.
 */
#ifndef YQ_TEAM_H
#define YQ_TEAM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

#define TEAM_SETTING_MAX "team.max_enterprises_per_official"
#define BLINDSPOT_SETTING_DISPATCH "blindspots.dispatch_hours"

/* One official on one enterprise's team. */
struct team_member {
	int64_t enterprise_id;
	int64_t user_id;
	char role[8];            /* "lead", "member" */
	char login[64];
	char display_name[256];
	char user_status[16];    /* active, disabled: a disabled member no longer serves */
	int64_t department_id;   /* 0 = none */
	char dept_name[256];
	int64_t assigned_at;
	int64_t assigned_by;     /* user id, 0 = the system */
};

/* Write-job argument of team_assign / team_remove. */
struct team_write {
	const struct actor *who;
	enum scope scope;        /* the caller's team.write scope, checked against the enterprise */
	int64_t tenant_id;
	int64_t enterprise_id;
	int64_t user_id;
	const char *role;        /* assign: "lead" or "member" */
	int64_t now;
	/* out */
	bool created;            /* assign: the official was not on the team before */
	bool changed;            /* assign: a new member or a new role (false: nothing written) */
	int64_t demoted_user_id; /* assign: the previous lead, now a member; 0 = none */
	char old_role[8];        /* assign: role before ("" if new); remove: the role removed */
};

/* Is role "lead" or "member"? */
bool team_role_valid(const char *role);

/* An official who may serve an enterprise or answer for a ledger item. */
struct team_official {
	int64_t id;
	char display_name[256];
	int64_t department_id;   /* 0 = none */
	char dept_path[256];     /* '/1/5/' of the department, "" if none */
};

/*
 * Is user_id an active staff account of the tenant (not an enterprise user:
 * no bound enterprise, no enterprise role)? ERR_UNPROCESSABLE naming field
 * otherwise. out (may be NULL) gets the official's name and department.
 */
int team_official_check(struct db *db, int64_t tenant_id, int64_t user_id, const char *field,
			struct team_official *out, struct err *e);

/*
 * Write job (arg = struct team_write *): put user_id on the enterprise's team
 * with role, or change their role. The enterprise must exist in scope
 * (ERR_NOT_FOUND "id") and be active (ERR_UNPROCESSABLE "enterprise_id");
 * the user must exist in the tenant, be active and be staff, not an
 * enterprise user (ERR_UNPROCESSABLE "user_id"); role as team_role_valid
 * (ERR_UNPROCESSABLE "role"). A new lead demotes the previous lead.
 * Assigning the role a member already has writes nothing. Audited as
 * entity "service_team", id = enterprise, action "assign".
 */
int team_assign(struct db *db, void *arg, struct err *e);

/* Write job (arg = struct team_write *): take user_id off the team
 * (ERR_NOT_FOUND "user_id" if not on it). Audited, action "remove". */
int team_remove(struct db *db, void *arg, struct err *e);

/*
 * The team of one enterprise, lead first, then by user id. The enterprise must
 * exist and be within scope (the caller's enterprise.read scope), else
 * ERR_NOT_FOUND "id". each() returning non-zero stops.
 */
int team_list_for_enterprise(struct db *db, const struct actor *who, enum scope scope,
			     int64_t enterprise_id,
			     int (*each)(const struct team_member *m, void *ctx), void *ctx,
			     struct err *e);

/* One enterprise an official serves. */
struct team_assignment {
	int64_t enterprise_id;
	char name[256];
	char credit_code[19];
	char status[16];         /* the enterprise's status */
	bool is_key;
	char role[8];
	int64_t assigned_at;
	int64_t team_size;       /* members of that enterprise's team, this official included */
};

/* Totals of an official's portfolio (over every enterprise in scope, not one page). */
struct team_portfolio {
	int64_t total;           /* enterprises served */
	int64_t active;          /* of which active */
	int64_t as_lead;         /* of which this official leads */
	int64_t key;             /* of which key enterprises */
};

/*
 * The enterprises user_id serves, by enterprise id after `after`, at most
 * limit rows, restricted to the enterprises the caller may see under scope
 * (enterprise.read). counts (may be NULL) gets the totals.
 */
int team_list_for_user(struct db *db, const struct actor *who, enum scope scope, int64_t user_id,
		       int64_t after, int64_t limit,
		       int (*each)(const struct team_assignment *a, void *ctx), void *ctx,
		       struct team_portfolio *counts, struct err *e);

/* ---- blind spots ---- */

enum blindspot_subject {
	BLINDSPOT_ENTERPRISE, /* rows are enterprises */
	BLINDSPOT_OFFICIAL,   /* rows are officials */
	BLINDSPOT_GRID,       /* rows are grids */
};

struct blindspot_impl; /* how a section is computed (team.c) */

struct blindspot_section {
	const char *code;      /* "no_team": stable, used in ?section= */
	const char *title_zh;
	const char *title_en;
	enum blindspot_subject subject;
	const char *setting;   /* tenant setting that parameterises it, NULL = none */
	const char *value_key; /* what the row's figure is ("enterprises", "days_overdue"), NULL = none */
	const struct blindspot_impl *impl;
};

/* The sections, in report order; *n gets the count. */
const struct blindspot_section *blindspot_sections(size_t *n);
const struct blindspot_section *blindspot_section(const char *code);

/* One row of a section. Strings are borrowed until each() returns. */
struct blindspot_row {
	int64_t id;              /* enterprise id or user id (the keyset) */
	const char *name;        /* enterprise name or the official's display name */
	/* BLINDSPOT_ENTERPRISE */
	const char *credit_code;
	bool is_key;
	int64_t grid_id;         /* 0 = not placed */
	/* BLINDSPOT_OFFICIAL */
	const char *login;
	int64_t department_id;   /* 0 = none */
	const char *dept_name;
	/* BLINDSPOT_GRID (name is the grid's name) */
	const char *code;
	const char *level;       /* district, street, community, unit */
	/* the section's figure (its value_key): enterprises served (overloaded),
	 * days overdue, requests unanswered ...; 0 where none */
	int64_t value;
};

struct blindspot_params {
	int64_t limit;           /* rows per section, 1..1000 */
	const char *section;     /* NULL = every section; else only this one (paging) */
	int64_t after;           /* keyset: ids greater than this (with section) */
	int64_t now;             /* for time-based sections (overdue visits, unanswered requests) */
};

struct blindspot_sink {
	/* Called once per section before its rows, with the total it would list
	 * without paging and the section's parameter (e.g. the maximum; 0 = none). */
	int (*section)(const struct blindspot_section *s, int64_t total, int64_t param, void *ctx);
	int (*row)(const struct blindspot_section *s, const struct blindspot_row *row, void *ctx);
};

/*
 * The blind-spot report under the caller's blindspot.read scope (enterprise
 * sections: the enterprise's grid / own enterprise; official sections: the
 * official's department / self; grid sections: the grid and those below).
 * Only active enterprises count, and only active officials count as
 * serving: a team whose members are all disabled is no team. A callback
 * returning non-zero stops the report (0 returned).
 * Unknown section: ERR_BAD_REQUEST "section".
 *
 * The sections: no_team, key_no_lead, overloaded (service teams);
 * overdue_visit (active enterprises whose visit under their policy is
 * overdue at p->now: core/visit.h), grid_no_worker (unit grids without an
 * active grid worker of their own), unanswered (unit grids with requests
 * received or returned and not dispatched for blindspots.dispatch_hours, or
 * dispatched and not signed past their signing deadline; the figure is how
 * many).
 */
int blindspot_report(struct db *db, const struct actor *who, enum scope scope,
		     const struct blindspot_params *p, const struct blindspot_sink *sink,
		     void *ctx, struct err *e);

#endif
