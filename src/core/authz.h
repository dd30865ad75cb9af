/*
 * authz.h — roles, permissions and data scopes, enforced in one place.
 *
 * A user holds one or more roles (MISSION.md). Each role grants a set of
 * permissions, each with a data scope: which rows the permission reaches
 * (all / department and below / own department / own grid / self). A user
 * with several roles gets, per permission, the widest scope any role gives.
 * The HTTP dispatcher checks the route's permission before the handler runs
 * and hands the handler the scope; list queries add scope_sql() to their
 * WHERE clause and single-row reads call scope_allows(), so no handler
 * writes its own filter.
 */
#ifndef YQ_AUTHZ_H
#define YQ_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

enum role {
	ROLE_ENTERPRISE,
	ROLE_GRID_WORKER,
	ROLE_DISPATCHER,
	ROLE_HANDLER,
	ROLE_DEPT_HEAD,
	ROLE_INSPECTOR,
	ROLE_BANK_OFFICER,
	ROLE_MEDIATOR,
	ROLE_SUPERVISOR,
	ROLE_EXPERIENCE_OFFICER,
	ROLE_ADVISOR,
	ROLE_LEADER,
	ROLE_ADMIN,
	ROLE__COUNT
};

/* Scopes, narrow to wide. SCOPE_NONE means the permission is not held. */
enum scope {
	SCOPE_NONE = 0,
	SCOPE_SELF,
	SCOPE_GRID,
	SCOPE_DEPT,
	SCOPE_DEPT_TREE,
	SCOPE_ALL,
};

enum perm {
	PERM_PUBLIC = 0, /* no login needed (routes only) */
	PERM_LOGIN,      /* any logged-in user (routes only) */
	PERM_USER_READ,  /* list and read user accounts */
	PERM_USER_WRITE, /* create users, change roles, disable, reset passwords */
	PERM_DEPT_READ,
	PERM_DEPT_WRITE,
	PERM_AUDIT_READ,      /* read the audit log and login attempts */
	PERM_SETTINGS_WRITE,  /* tenant settings: lockout, session timeouts */
	PERM_TOKEN_OWN,       /* create and revoke one's own API tokens */
	PERM_ENTERPRISE_READ,  /* the enterprise registry: lists, records, history, codes */
	PERM_ENTERPRISE_WRITE, /* create and change registration data, import, override code checks */
	PERM_ENTERPRISE_PII,   /* see contact phone and legal representative unmasked */
	PERM_ENTERPRISE_SELF,  /* an enterprise edits its own contact data */
	PERM_TEAM_WRITE,       /* assign officials to enterprises' service teams */
	PERM_BLINDSPOT_READ,   /* the blind-spot report (服务盲区) */
	PERM_LEDGER_READ,      /* the key-enterprise ledger */
	PERM_LEDGER_WRITE,     /* add ledger items, record progress, change status */
	PERM_CHECKIN_VERIFY,   /* verify an enterprise's rotating check-in code on site */
	PERM_CALENDAR_WRITE,   /* the working-day calendar: holiday years, working hours */
	PERM_REQUEST_READ,     /* requests: lists, records, timelines */
	PERM_REQUEST_SUBMIT,   /* raise a request (for oneself, or on an enterprise's behalf) */
	PERM_REQUEST_DISPATCH, /* classify, dispatch, merge, void, close after a visit */
	PERM_REQUEST_HANDLE,   /* sign, handle, reply, pause, ask for extension or return */
	PERM_REQUEST_APPROVE,  /* decide extensions and returns */
	PERM_REQUEST_SUPERVISE,/* supervision (督办) */
	PERM_REQUEST_RATE,     /* rate a reply, reopen after an unsatisfied rating */
	PERM_CATEGORY_WRITE,   /* request categories and time-limit policies */
	PERM_REPORT_READ,      /* dashboards and rates (响应率、解决率、满意率), by the scope's departments */
	PERM_WEBHOOK_WRITE,    /* register and manage outgoing webhooks, see their deliveries */
	PERM_GRID_READ,        /* grids, their maps and metrics, their workers */
	PERM_GRID_WRITE,       /* import and delete grids, assign grid workers */
	PERM_VISIT_READ,       /* visit records, visit state and tasks, campaigns and their progress */
	PERM_VISIT_WRITE,      /* record visits (走访) with findings and photos; one's own visit tasks */
	PERM_VISIT_PLAN,       /* visit policies and campaigns (走访活动) */
	PERM_ANALYSIS_READ,    /* 研判: problems by grid x category x period, trends, heat maps */
	PERM__COUNT
};

/* Who is making a request: filled from the session by the HTTP layer. */
struct actor {
	int64_t tenant_id;
	int64_t user_id;       /* 0 = the system (scheduler, CLI) */
	int64_t session_id;
	int64_t department_id; /* 0 = none */
	int64_t grid_id;       /* the grid worker's grid, 0 = none */
	int64_t enterprise_id; /* 0 = none (enterprise users) */
	unsigned roles;        /* bit (1u << enum role) */
	char login[64];
	char display_name[256];
	char dept_path[256];   /* '/1/5/' of the user's department, "" if none */
	char grid_path[128];   /* '/1/4/9/' of the user's grid, "" if none */
	char request_id[24];   /* the HTTP request acting, for the audit log; "" from the CLI */
};

struct role_info {
	const char *code;   /* "dispatcher": stored in user_roles.role and used by the API */
	const char *name_zh;
	const char *name_en;
};

const struct role_info *role_info(enum role r);
/* Role from its code; -1 if unknown. */
int role_from_code(const char *code);
const char *perm_name(enum perm p);
const char *scope_name(enum scope s);

/* Widest scope the actor's roles give for p (SCOPE_NONE if not held). PERM_LOGIN
 * gives SCOPE_SELF to anyone logged in. */
enum scope authz_scope(const struct actor *a, enum perm p);
/* The scope one role gives for p. */
enum scope role_scope(enum role r, enum perm p);

static inline bool actor_has_role(const struct actor *a, enum role r)
{
	return (a->roles >> r) & 1u;
}

/* Column names (or SQL expressions) of a table for scope filtering; NULL where
 * the table has none. */
struct scope_cols {
	const char *dept;       /* department id column, e.g. "u.department_id" */
	const char *grid;       /* grid id column */
	const char *owner;      /* user id column meaning "this row is the actor's own" */
	const char *enterprise; /* enterprise id column: for SCOPE_SELF, an enterprise
				 * user's own enterprise counts as theirs */
};

/* The attributes of one row, for scope_allows(); 0 / NULL where not applicable. */
struct scope_row {
	int64_t dept_id;
	const char *dept_path; /* '/1/5/12/' of dept_id */
	int64_t grid_id;
	const char *grid_path; /* '/1/4/9/' of grid_id; needed for a grid leader's reach below */
	int64_t owner_id;
	int64_t enterprise_id;
};

/*
 * Append " AND (...)" restricting rows to the actor's scope. SCOPE_SELF means
 * the actor's own rows (owner) or, for an enterprise user, its enterprise's. The fragment
 * contains only integers taken from the actor, never caller text. A scope the
 * table cannot express (no column for it) yields " AND 0=1": deny by default.
 * SCOPE_ALL appends nothing. Returns 0, or -1 if the buffer is full.
 */
int scope_sql(const struct actor *a, enum scope s, const struct scope_cols *cols,
	      struct buf *where);

/* May the actor reach a row with these attributes under scope s? */
bool scope_allows(const struct actor *a, enum scope s, const struct scope_row *row);

#endif
