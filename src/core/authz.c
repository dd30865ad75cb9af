/*
 * authz.c — the role × permission → scope table and the scope filters.
 * Changing who may do what is an edit of `grants` below and nothing else.
 */
#include "core/authz.h"

#include <inttypes.h>
#include <string.h>

#include "base/util.h"
#include "base/banned.h"

static const struct role_info roles[ROLE__COUNT] = {
	[ROLE_ENTERPRISE] = {"enterprise", "企业用户", "enterprise user"},
	[ROLE_GRID_WORKER] = {"grid_worker", "网格员", "grid worker"},
	[ROLE_DISPATCHER] = {"dispatcher", "受理派单员", "dispatcher"},
	[ROLE_HANDLER] = {"handler", "承办人", "department handler"},
	[ROLE_DEPT_HEAD] = {"dept_head", "部门负责人", "department head"},
	[ROLE_INSPECTOR] = {"inspector", "执法人员", "inspector"},
	[ROLE_BANK_OFFICER] = {"bank_officer", "银行客户经理", "bank officer"},
	[ROLE_MEDIATOR] = {"mediator", "调解员", "mediator"},
	[ROLE_SUPERVISOR] = {"supervisor", "监督员", "supervisor"},
	[ROLE_EXPERIENCE_OFFICER] = {"experience_officer", "体验官", "experience officer"},
	[ROLE_ADVISOR] = {"advisor", "顾问", "advisor"},
	[ROLE_LEADER] = {"leader", "领导", "leader"},
	[ROLE_ADMIN] = {"admin", "管理员", "administrator"},
};

static const char *const perm_names[PERM__COUNT] = {
	[PERM_PUBLIC] = "public",
	[PERM_LOGIN] = "login",
	[PERM_USER_READ] = "user.read",
	[PERM_USER_WRITE] = "user.write",
	[PERM_DEPT_READ] = "dept.read",
	[PERM_DEPT_WRITE] = "dept.write",
	[PERM_AUDIT_READ] = "audit.read",
	[PERM_SETTINGS_WRITE] = "settings.write",
	[PERM_TOKEN_OWN] = "token.own",
	[PERM_ENTERPRISE_READ] = "enterprise.read",
	[PERM_ENTERPRISE_WRITE] = "enterprise.write",
	[PERM_ENTERPRISE_PII] = "enterprise.pii",
	[PERM_ENTERPRISE_SELF] = "enterprise.self",
	[PERM_TEAM_WRITE] = "team.write",
	[PERM_BLINDSPOT_READ] = "blindspot.read",
	[PERM_LEDGER_READ] = "ledger.read",
	[PERM_LEDGER_WRITE] = "ledger.write",
	[PERM_CHECKIN_VERIFY] = "checkin.verify",
	[PERM_CALENDAR_WRITE] = "calendar.write",
	[PERM_REQUEST_READ] = "request.read",
	[PERM_REQUEST_SUBMIT] = "request.submit",
	[PERM_REQUEST_DISPATCH] = "request.dispatch",
	[PERM_REQUEST_HANDLE] = "request.handle",
	[PERM_REQUEST_APPROVE] = "request.approve",
	[PERM_REQUEST_SUPERVISE] = "request.supervise",
	[PERM_REQUEST_RATE] = "request.rate",
	[PERM_CATEGORY_WRITE] = "category.write",
	[PERM_REPORT_READ] = "report.read",
	[PERM_WEBHOOK_WRITE] = "webhook.write",
	[PERM_GRID_READ] = "grid.read", [PERM_GRID_WRITE] = "grid.write",
	[PERM_ANALYSIS_READ] = "analysis.read",
	[PERM_VISIT_READ] = "visit.read", [PERM_VISIT_WRITE] = "visit.write",
	[PERM_VISIT_PLAN] = "visit.plan",
};

static const char *const scope_names[] = {
	[SCOPE_NONE] = "none", [SCOPE_SELF] = "self", [SCOPE_GRID] = "grid",
	[SCOPE_DEPT] = "dept", [SCOPE_DEPT_TREE] = "dept_tree", [SCOPE_ALL] = "all",
};

/* grants[role][perm] = scope. Unlisted pairs are SCOPE_NONE. */
static const unsigned char grants[ROLE__COUNT][PERM__COUNT] = {
	[ROLE_ADMIN] = {
		[PERM_USER_READ] = SCOPE_ALL, [PERM_USER_WRITE] = SCOPE_ALL,
		[PERM_DEPT_READ] = SCOPE_ALL, [PERM_DEPT_WRITE] = SCOPE_ALL,
		[PERM_AUDIT_READ] = SCOPE_ALL, [PERM_SETTINGS_WRITE] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL, [PERM_ENTERPRISE_WRITE] = SCOPE_ALL,
		[PERM_ENTERPRISE_PII] = SCOPE_ALL, [PERM_TEAM_WRITE] = SCOPE_ALL,
		[PERM_BLINDSPOT_READ] = SCOPE_ALL, [PERM_LEDGER_READ] = SCOPE_ALL,
		[PERM_LEDGER_WRITE] = SCOPE_ALL, [PERM_CHECKIN_VERIFY] = SCOPE_ALL,
		[PERM_CALENDAR_WRITE] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_ALL, [PERM_REQUEST_DISPATCH] = SCOPE_ALL,
		[PERM_REQUEST_SUPERVISE] = SCOPE_ALL, [PERM_CATEGORY_WRITE] = SCOPE_ALL,
		[PERM_REPORT_READ] = SCOPE_ALL,
		[PERM_WEBHOOK_WRITE] = SCOPE_ALL,
		[PERM_GRID_READ] = SCOPE_ALL, [PERM_GRID_WRITE] = SCOPE_ALL,
		[PERM_ANALYSIS_READ] = SCOPE_ALL,
		[PERM_VISIT_READ] = SCOPE_ALL, [PERM_VISIT_PLAN] = SCOPE_ALL,
	},
	[ROLE_LEADER] = {
		[PERM_USER_READ] = SCOPE_ALL, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL, [PERM_ENTERPRISE_PII] = SCOPE_ALL,
		[PERM_BLINDSPOT_READ] = SCOPE_ALL, [PERM_LEDGER_READ] = SCOPE_ALL,
		[PERM_LEDGER_WRITE] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_ALL, [PERM_REQUEST_SUPERVISE] = SCOPE_ALL,
		[PERM_REQUEST_APPROVE] = SCOPE_ALL,
		[PERM_REPORT_READ] = SCOPE_ALL,
		[PERM_GRID_READ] = SCOPE_ALL, [PERM_ANALYSIS_READ] = SCOPE_ALL,
		[PERM_VISIT_READ] = SCOPE_ALL, [PERM_VISIT_PLAN] = SCOPE_ALL,
	},
	[ROLE_DEPT_HEAD] = {
		[PERM_USER_READ] = SCOPE_DEPT_TREE, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL, [PERM_ENTERPRISE_PII] = SCOPE_ALL,
		[PERM_LEDGER_READ] = SCOPE_DEPT_TREE, [PERM_LEDGER_WRITE] = SCOPE_DEPT_TREE,
		[PERM_REQUEST_READ] = SCOPE_DEPT_TREE, [PERM_REQUEST_HANDLE] = SCOPE_DEPT_TREE,
		[PERM_REQUEST_APPROVE] = SCOPE_DEPT_TREE,
		[PERM_REPORT_READ] = SCOPE_DEPT_TREE,
		[PERM_GRID_READ] = SCOPE_ALL, [PERM_ANALYSIS_READ] = SCOPE_ALL,
	},
	[ROLE_DISPATCHER] = {
		[PERM_USER_READ] = SCOPE_ALL, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL, [PERM_ENTERPRISE_PII] = SCOPE_ALL,
		[PERM_BLINDSPOT_READ] = SCOPE_ALL, [PERM_LEDGER_READ] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_ALL, [PERM_REQUEST_SUBMIT] = SCOPE_ALL,
		[PERM_REQUEST_DISPATCH] = SCOPE_ALL, [PERM_REQUEST_SUPERVISE] = SCOPE_ALL,
		[PERM_REQUEST_RATE] = SCOPE_ALL,
		[PERM_REPORT_READ] = SCOPE_ALL,
		[PERM_GRID_READ] = SCOPE_ALL, [PERM_ANALYSIS_READ] = SCOPE_ALL,
		[PERM_VISIT_READ] = SCOPE_ALL,
	},
	[ROLE_HANDLER] = {
		[PERM_USER_READ] = SCOPE_DEPT, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL, [PERM_ENTERPRISE_PII] = SCOPE_ALL,
		[PERM_LEDGER_READ] = SCOPE_SELF, [PERM_LEDGER_WRITE] = SCOPE_SELF,
		[PERM_REQUEST_READ] = SCOPE_DEPT, [PERM_REQUEST_HANDLE] = SCOPE_DEPT,
	},
	[ROLE_INSPECTOR] = {
		[PERM_USER_READ] = SCOPE_DEPT, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL, [PERM_ENTERPRISE_PII] = SCOPE_ALL,
		[PERM_CHECKIN_VERIFY] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_DEPT,
	},
	[ROLE_GRID_WORKER] = {
		[PERM_USER_READ] = SCOPE_SELF, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_GRID, [PERM_ENTERPRISE_PII] = SCOPE_GRID,
		[PERM_REQUEST_READ] = SCOPE_GRID, [PERM_REQUEST_SUBMIT] = SCOPE_GRID,
		[PERM_GRID_READ] = SCOPE_GRID, [PERM_ANALYSIS_READ] = SCOPE_GRID,
		[PERM_BLINDSPOT_READ] = SCOPE_GRID,
		[PERM_VISIT_READ] = SCOPE_GRID, [PERM_VISIT_WRITE] = SCOPE_GRID,
	},
	[ROLE_MEDIATOR] = {
		[PERM_USER_READ] = SCOPE_SELF, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL,
	},
	[ROLE_BANK_OFFICER] = {
		[PERM_USER_READ] = SCOPE_SELF, [PERM_DEPT_READ] = SCOPE_ALL,
		[PERM_TOKEN_OWN] = SCOPE_SELF,
	},
	[ROLE_SUPERVISOR] = {
		[PERM_DEPT_READ] = SCOPE_ALL, [PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_ALL, [PERM_REQUEST_SUBMIT] = SCOPE_ALL,
		[PERM_REQUEST_SUPERVISE] = SCOPE_ALL,
		[PERM_GRID_READ] = SCOPE_ALL, [PERM_ANALYSIS_READ] = SCOPE_ALL,
		[PERM_VISIT_READ] = SCOPE_ALL,
	},
	[ROLE_EXPERIENCE_OFFICER] = {
		[PERM_DEPT_READ] = SCOPE_ALL, [PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_SELF, [PERM_REQUEST_SUBMIT] = SCOPE_ALL,
	},
	[ROLE_ADVISOR] = {
		[PERM_DEPT_READ] = SCOPE_ALL, [PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_ALL,
		[PERM_REQUEST_READ] = SCOPE_SELF, [PERM_REQUEST_SUBMIT] = SCOPE_ALL,
	},
	[ROLE_ENTERPRISE] = {
		[PERM_DEPT_READ] = SCOPE_ALL, [PERM_TOKEN_OWN] = SCOPE_SELF,
		[PERM_ENTERPRISE_READ] = SCOPE_SELF, [PERM_ENTERPRISE_PII] = SCOPE_SELF,
		[PERM_ENTERPRISE_SELF] = SCOPE_SELF,
		[PERM_REQUEST_READ] = SCOPE_SELF, [PERM_REQUEST_SUBMIT] = SCOPE_SELF,
		[PERM_REQUEST_RATE] = SCOPE_SELF,
	},
};

const struct role_info *role_info(enum role r)
{
	return (unsigned)r < ROLE__COUNT ? &roles[r] : NULL;
}

int role_from_code(const char *code)
{
	for (int i = 0; i < ROLE__COUNT; i++)
		if (code && strcmp(roles[i].code, code) == 0)
			return i;
	return -1;
}

const char *perm_name(enum perm p)
{
	return (unsigned)p < PERM__COUNT ? perm_names[p] : "?";
}

const char *scope_name(enum scope s)
{
	return (unsigned)s < ARRAY_SIZE(scope_names) ? scope_names[s] : "?";
}

enum scope role_scope(enum role r, enum perm p)
{
	if ((unsigned)r >= ROLE__COUNT || (unsigned)p >= PERM__COUNT)
		return SCOPE_NONE;
	return (enum scope)grants[r][p];
}

enum scope authz_scope(const struct actor *a, enum perm p)
{
	if (p == PERM_PUBLIC)
		return SCOPE_ALL;
	if (!a || !a->user_id)
		return SCOPE_NONE;
	if (p == PERM_LOGIN)
		return SCOPE_SELF;
	enum scope best = SCOPE_NONE;
	for (int r = 0; r < ROLE__COUNT; r++)
		if (actor_has_role(a, (enum role)r) && role_scope((enum role)r, p) > best)
			best = role_scope((enum role)r, p);
	return best;
}

int scope_sql(const struct actor *a, enum scope s, const struct scope_cols *c, struct buf *w)
{
	switch (s) {
	case SCOPE_ALL:
		return 0;
	case SCOPE_DEPT_TREE:
		if (c->dept && a->dept_path[0])
			return buf_addf(w,
					" AND %s IN (SELECT id FROM departments WHERE tenant_id = %" PRId64
					" AND path LIKE '%s%%')",
					c->dept, a->tenant_id, a->dept_path);
		break;
	case SCOPE_DEPT:
		if (c->dept && a->department_id)
			return buf_addf(w, " AND %s = %" PRId64, c->dept, a->department_id);
		break;
	case SCOPE_GRID: /* the actor's grid and every grid below it */
		if (c->grid && a->grid_id && a->grid_path[0])
			return buf_addf(w,
					" AND %s IN (SELECT id FROM grids WHERE tenant_id = %" PRId64
					" AND path LIKE '%s%%')",
					c->grid, a->tenant_id, a->grid_path);
		if (c->grid && a->grid_id) /* its path unknown: that grid alone */
			return buf_addf(w, " AND %s = %" PRId64, c->grid, a->grid_id);
		break;
	case SCOPE_SELF:
		if (c->owner && c->enterprise && a->enterprise_id)
			return buf_addf(w, " AND (%s = %" PRId64 " OR %s = %" PRId64 ")", c->owner,
					a->user_id, c->enterprise, a->enterprise_id);
		if (c->owner)
			return buf_addf(w, " AND %s = %" PRId64, c->owner, a->user_id);
		if (c->enterprise && a->enterprise_id)
			return buf_addf(w, " AND %s = %" PRId64, c->enterprise, a->enterprise_id);
		break;
	case SCOPE_NONE:
		break;
	}
	return buf_adds(w, " AND 0=1");
}

bool scope_allows(const struct actor *a, enum scope s, const struct scope_row *row)
{
	switch (s) {
	case SCOPE_ALL:
		return true;
	case SCOPE_DEPT_TREE:
		return a->dept_path[0] && row->dept_path &&
		       strncmp(row->dept_path, a->dept_path, strlen(a->dept_path)) == 0;
	case SCOPE_DEPT:
		return a->department_id && row->dept_id == a->department_id;
	case SCOPE_GRID:
		return a->grid_id && row->grid_id &&
		       (row->grid_id == a->grid_id ||
			(a->grid_path[0] && row->grid_path &&
			 strncmp(row->grid_path, a->grid_path, strlen(a->grid_path)) == 0));
	case SCOPE_SELF:
		return (row->owner_id && row->owner_id == a->user_id) ||
		       (row->enterprise_id && row->enterprise_id == a->enterprise_id);
	case SCOPE_NONE:
		break;
	}
	return false;
}
