/*
 * team.c — service teams and the blind-spot report (see team.h).
 *
 * Rules kept here and nowhere else:
 *  - a team member is an active staff account of the tenant; enterprise
 *    users (bound to an enterprise, or holding the enterprise role) serve no
 *    one;
 *  - only active enterprises get new assignments (removal always works);
 *  - one lead per enterprise: a new lead demotes the old one in the same
 *    job (and sql/003's partial unique index makes two leads impossible);
 *  - in the blind-spot report only active enterprises and active officials
 *    count.
 * The write jobs run on the writer thread one at a time, so what a job
 * checks still holds when it writes. Every statement filters by tenant_id.
 */
#include "core/team.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "core/audit.h"
#include "core/settings.h"
#include "db/db.h"
#include "base/banned.h"

/* Scope columns of enterprises (alias e): grid, and an enterprise user's own. */
static const struct scope_cols enterprise_cols = {.grid = "e.grid_id", .enterprise = "e.id"};
/* Scope columns of officials (alias u). */
static const struct scope_cols official_cols = {.dept = "u.department_id", .owner = "u.id"};

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int64_t column_id(struct db_stmt *st, int col)
{
	return db_column_is_null(st, col) ? 0 : db_column_int64(st, col);
}

bool team_role_valid(const char *role)
{
	return role && (strcmp(role, "lead") == 0 || strcmp(role, "member") == 0);
}

int team_official_check(struct db *db, int64_t tenant_id, int64_t user_id, const char *field,
			struct team_official *out, struct err *e)
{
	struct db_stmt *st = NULL;
	struct team_official o;
	char status[16] = "";
	int64_t enterprise_id = 0, enterprise_role = 0;
	int rc;

	memset(&o, 0, sizeof o);
	rc = db_queryf(db, &st, e,
		       "SELECT u.id, u.display_name, u.department_id, d.path, u.status, "
		       "u.enterprise_id, (SELECT COUNT(*) FROM user_roles r WHERE r.tenant_id = "
		       "u.tenant_id AND r.user_id = u.id AND r.role = 'enterprise') "
		       "FROM users u LEFT JOIN departments d ON d.id = u.department_id "
		       "WHERE u.tenant_id = $1 AND u.id = $2",
		       "ii", tenant_id, user_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		o.id = db_column_int64(st, 0);
		copy_text(o.display_name, sizeof o.display_name, db_column_text(st, 1));
		o.department_id = column_id(st, 2);
		copy_text(o.dept_path, sizeof o.dept_path, db_column_text(st, 3));
		copy_text(status, sizeof status, db_column_text(st, 4));
		enterprise_id = column_id(st, 5);
		enterprise_role = db_column_int64(st, 6);
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	if (rc == DB_DONE)
		return err_set(e, ERR_UNPROCESSABLE, field, "用户 %" PRId64 " 不存在",
			       "user %" PRId64 " does not exist", user_id);
	if (strcmp(status, "active") != 0)
		return err_set(e, ERR_UNPROCESSABLE, field, "用户 %" PRId64 " 已停用",
			       "user %" PRId64 " is disabled", user_id);
	if (enterprise_id || enterprise_role)
		return err_set(e, ERR_UNPROCESSABLE, field,
			       "用户 %" PRId64 " 是企业用户，不能承担服务或台账责任",
			       "user %" PRId64 " is an enterprise user, not an official", user_id);
	if (out)
		*out = o;
	return 0;
}

struct enterprise_brief {
	int64_t id;
	int64_t grid_id;
	bool is_key;
	char status[16];
	char grid_path[128];
};

/* The enterprise if it exists and scope reaches it; ERR_NOT_FOUND "id" otherwise. */
static int load_enterprise(struct db *db, const struct actor *who, enum scope scope,
			   int64_t tenant_id, int64_t id, struct enterprise_brief *out,
			   struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, grid_id, is_key, status, "
			   "COALESCE((SELECT path FROM grids WHERE id = e.grid_id), '') "
			   "FROM enterprises e WHERE tenant_id = $1 AND id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		out->id = db_column_int64(st, 0);
		out->grid_id = column_id(st, 1);
		out->is_key = db_column_int64(st, 2) != 0;
		copy_text(out->status, sizeof out->status, db_column_text(st, 3));
		copy_text(out->grid_path, sizeof out->grid_path, db_column_text(st, 4));
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	struct scope_row row = {.grid_id = out->grid_id, .grid_path = out->grid_path,
				.enterprise_id = out->id};
	if (rc == DB_DONE || !scope_allows(who, scope, &row))
		return err_set(e, ERR_NOT_FOUND, "id", "企业 %" PRId64 " 不存在",
			       "enterprise %" PRId64 " does not exist", id);
	return 0;
}

/* The member's role into role[8]; "" when not on the team. */
static int current_role(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t user_id,
			char role[8], struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT role FROM service_team_members WHERE tenant_id = $1 "
			   "AND enterprise_id = $2 AND user_id = $3",
			   "iii", tenant_id, enterprise_id, user_id);
	if (rc)
		return rc;
	role[0] = '\0';
	rc = db_step(st, e);
	if (rc == DB_ROW)
		copy_text(role, 8, db_column_text(st, 0));
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int team_assign(struct db *db, void *arg, struct err *e)
{
	struct team_write *w = arg;
	struct enterprise_brief en;
	json_t *sum = NULL;
	int rc;

	w->created = w->changed = false;
	w->demoted_user_id = 0;
	w->old_role[0] = '\0';
	if (!team_role_valid(w->role))
		return err_set(e, ERR_UNPROCESSABLE, "role", "角色应为 lead（组长）或 member（成员）",
			       "role must be 'lead' or 'member'");
	if ((rc = load_enterprise(db, w->who, w->scope, w->tenant_id, w->enterprise_id, &en, e)))
		return rc;
	if (strcmp(en.status, "active") != 0)
		return err_set(e, ERR_UNPROCESSABLE, "enterprise_id",
			       "企业 %" PRId64 " 不是存续状态，不能安排服务团队",
			       "enterprise %" PRId64 " is not active (status '%s')", w->enterprise_id,
			       en.status);
	if ((rc = team_official_check(db, w->tenant_id, w->user_id, "user_id", NULL, e)))
		return rc;
	if ((rc = current_role(db, w->tenant_id, w->enterprise_id, w->user_id, w->old_role, e)))
		return rc;
	if (strcmp(w->old_role, w->role) == 0)
		return 0;

	if (strcmp(w->role, "lead") == 0) {
		rc = db_query_i64(db, &w->demoted_user_id, e,
				  "SELECT user_id FROM service_team_members WHERE tenant_id = $1 "
				  "AND enterprise_id = $2 AND role = 'lead'",
				  "ii", w->tenant_id, w->enterprise_id);
		if (rc == ERR_NOT_FOUND) {
			err_clear(e);
			w->demoted_user_id = 0;
		} else if (rc)
			return rc;
		if (w->demoted_user_id &&
		    (rc = db_execf(db, e,
				   "UPDATE service_team_members SET role = 'member' WHERE tenant_id = $1 "
				   "AND enterprise_id = $2 AND user_id = $3",
				   "iii", w->tenant_id, w->enterprise_id, w->demoted_user_id)))
			return rc;
	}
	int64_t by = w->who ? w->who->user_id : 0;
	if (w->old_role[0])
		rc = db_execf(db, e,
			      "UPDATE service_team_members SET role = $1, assigned_at = $2, "
			      "assigned_by = $3 WHERE tenant_id = $4 AND enterprise_id = $5 "
			      "AND user_id = $6",
			      "tiiiii", w->role, w->now, by, w->tenant_id, w->enterprise_id, w->user_id);
	else
		rc = db_execf(db, e,
			      "INSERT INTO service_team_members (tenant_id, enterprise_id, user_id, "
			      "role, assigned_at, assigned_by) VALUES ($1, $2, $3, $4, $5, $6)",
			      "iiitii", w->tenant_id, w->enterprise_id, w->user_id, w->role, w->now, by);
	if (rc)
		return rc;
	w->created = !w->old_role[0];
	w->changed = true;

	sum = json_pack("{s:I,s:[o,s]}", "user_id", (json_int_t)w->user_id, "role",
			w->old_role[0] ? json_string(w->old_role) : json_null(), w->role);
	if (w->demoted_user_id)
		json_object_set_new(sum, "demoted_lead", json_integer(w->demoted_user_id));
	rc = audit_append(db, w->who, w->tenant_id, "service_team", w->enterprise_id, "assign", sum,
			  e);
	json_decref(sum);
	return rc;
}

int team_remove(struct db *db, void *arg, struct err *e)
{
	struct team_write *w = arg;
	struct enterprise_brief en;
	int rc;

	w->old_role[0] = '\0';
	if ((rc = load_enterprise(db, w->who, w->scope, w->tenant_id, w->enterprise_id, &en, e)))
		return rc;
	if ((rc = current_role(db, w->tenant_id, w->enterprise_id, w->user_id, w->old_role, e)))
		return rc;
	if (!w->old_role[0])
		return err_set(e, ERR_NOT_FOUND, "user_id", "用户 %" PRId64 " 不在该企业的服务团队中",
			       "user %" PRId64 " is not on this enterprise's team", w->user_id);
	rc = db_execf(db, e,
		      "DELETE FROM service_team_members WHERE tenant_id = $1 AND enterprise_id = $2 "
		      "AND user_id = $3",
		      "iii", w->tenant_id, w->enterprise_id, w->user_id);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:I,s:s}", "user_id", (json_int_t)w->user_id, "role", w->old_role);
	rc = audit_append(db, w->who, w->tenant_id, "service_team", w->enterprise_id, "remove", sum,
			  e);
	json_decref(sum);
	return rc;
}

int team_list_for_enterprise(struct db *db, const struct actor *who, enum scope scope,
			     int64_t enterprise_id,
			     int (*each)(const struct team_member *m, void *ctx), void *ctx,
			     struct err *e)
{
	struct enterprise_brief en;
	struct db_stmt *st = NULL;
	int rc;

	if ((rc = load_enterprise(db, who, scope, who->tenant_id, enterprise_id, &en, e)))
		return rc;
	rc = db_queryf(db, &st, e,
		       "SELECT m.enterprise_id, m.user_id, m.role, u.login, u.display_name, u.status, "
		       "u.department_id, d.name, m.assigned_at, m.assigned_by "
		       "FROM service_team_members m JOIN users u ON u.id = m.user_id "
		       "LEFT JOIN departments d ON d.id = u.department_id "
		       "WHERE m.tenant_id = $1 AND m.enterprise_id = $2 "
		       "ORDER BY CASE m.role WHEN 'lead' THEN 0 ELSE 1 END, m.user_id",
		       "ii", who->tenant_id, enterprise_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct team_member m;
		memset(&m, 0, sizeof m);
		m.enterprise_id = db_column_int64(st, 0);
		m.user_id = db_column_int64(st, 1);
		copy_text(m.role, sizeof m.role, db_column_text(st, 2));
		copy_text(m.login, sizeof m.login, db_column_text(st, 3));
		copy_text(m.display_name, sizeof m.display_name, db_column_text(st, 4));
		copy_text(m.user_status, sizeof m.user_status, db_column_text(st, 5));
		m.department_id = column_id(st, 6);
		copy_text(m.dept_name, sizeof m.dept_name, db_column_text(st, 7));
		m.assigned_at = db_column_int64(st, 8);
		m.assigned_by = db_column_int64(st, 9);
		if (each(&m, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

#define PORTFOLIO_FROM                                                                    \
	" FROM service_team_members m JOIN enterprises e ON e.tenant_id = m.tenant_id "   \
	"AND e.id = m.enterprise_id WHERE m.tenant_id = $1 AND m.user_id = $2"

static int portfolio_counts(struct db *db, const struct actor *who, enum scope scope,
			    int64_t user_id, struct team_portfolio *c, struct err *e)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;

	buf_init(&sql, 4096);
	buf_adds(&sql, "SELECT COUNT(*), "
		       "COALESCE(SUM(CASE WHEN e.status = 'active' THEN 1 ELSE 0 END), 0), "
		       "COALESCE(SUM(CASE WHEN m.role = 'lead' THEN 1 ELSE 0 END), 0), "
		       "COALESCE(SUM(CASE WHEN e.is_key = 1 THEN 1 ELSE 0 END), 0)" PORTFOLIO_FROM);
	if (scope_sql(who, scope, &enterprise_cols, &sql)) {
		buf_release(&sql);
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	}
	rc = db_queryf(db, &st, e, sql.p, "ii", who->tenant_id, user_id);
	buf_release(&sql);
	if (rc)
		return rc;
	memset(c, 0, sizeof *c);
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		c->total = db_column_int64(st, 0);
		c->active = db_column_int64(st, 1);
		c->as_lead = db_column_int64(st, 2);
		c->key = db_column_int64(st, 3);
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int team_list_for_user(struct db *db, const struct actor *who, enum scope scope, int64_t user_id,
		       int64_t after, int64_t limit,
		       int (*each)(const struct team_assignment *a, void *ctx), void *ctx,
		       struct team_portfolio *counts, struct err *e)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;

	if (counts && (rc = portfolio_counts(db, who, scope, user_id, counts, e)))
		return rc;
	buf_init(&sql, 4096);
	buf_adds(&sql, "SELECT e.id, e.name, e.credit_code, e.status, e.is_key, m.role, "
		       "m.assigned_at, (SELECT COUNT(*) FROM service_team_members t "
		       "WHERE t.tenant_id = m.tenant_id AND t.enterprise_id = m.enterprise_id)"
		       PORTFOLIO_FROM " AND m.enterprise_id > $3");
	if (scope_sql(who, scope, &enterprise_cols, &sql)) {
		buf_release(&sql);
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	}
	buf_adds(&sql, " ORDER BY m.enterprise_id LIMIT $4");
	rc = db_queryf(db, &st, e, sql.p, "iiii", who->tenant_id, user_id, after, limit);
	buf_release(&sql);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct team_assignment a;
		memset(&a, 0, sizeof a);
		a.enterprise_id = db_column_int64(st, 0);
		copy_text(a.name, sizeof a.name, db_column_text(st, 1));
		copy_text(a.credit_code, sizeof a.credit_code, db_column_text(st, 2));
		copy_text(a.status, sizeof a.status, db_column_text(st, 3));
		a.is_key = db_column_int64(st, 4) != 0;
		copy_text(a.role, sizeof a.role, db_column_text(st, 5));
		a.assigned_at = db_column_int64(st, 6);
		a.team_size = db_column_int64(st, 7);
		if (each(&a, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- blind spots ---- */

/*
 * How a section is computed. `from` is "FROM ... WHERE ..." over alias e
 * (enterprises), u (users, with d its department) or g (grids), with $1 the
 * tenant, then $2 the section's parameter when it has one, then the time
 * (blindspot_params.now) when it uses it; the runner appends the scope
 * filter, the keyset and the limit. `value` is the row's figure.
 */
struct blindspot_impl {
	const char *from;
	/* The same for a narrower scope than SCOPE_ALL, when another join order
	 * serves it better (a grid's enterprises first); NULL = from. */
	const char *from_scoped;
	/* What SCOPE_ALL counts, when a join of `from` is not needed for it; NULL = from. */
	const char *count_from;
	/* The keyset column, when not the subject's id column (the same value); NULL = that. */
	const char *key;
	const char *value;
	/* The section's parameter (e.g. a maximum from the settings); NULL = none. */
	int (*param)(struct db *db, const struct actor *who, const struct blindspot_params *p,
		     int64_t *out, struct err *e);
	bool uses_now;
};

/* An active official serving the enterprise e (lead_only: as its lead). */
#define SERVED_BY_ACTIVE(lead_only)                                                          \
	"EXISTS (SELECT 1 FROM service_team_members m JOIN users su ON su.id = m.user_id "   \
	"WHERE m.tenant_id = e.tenant_id AND m.enterprise_id = e.id AND su.status = 'active'" \
	lead_only ")"

static const struct blindspot_impl impl_no_team = {
	.from = "FROM enterprises e WHERE e.tenant_id = $1 AND e.status = 'active' "
		"AND NOT " SERVED_BY_ACTIVE(""),
	.value = "0",
};

static const struct blindspot_impl impl_key_no_lead = {
	.from = "FROM enterprises e WHERE e.tenant_id = $1 AND e.status = 'active' "
		"AND e.is_key = 1 AND NOT " SERVED_BY_ACTIVE(" AND m.role = 'lead'"),
	.value = "0",
};

static int param_max_per_official(struct db *db, const struct actor *who,
				  const struct blindspot_params *p, int64_t *out, struct err *e)
{
	(void)p;
	return settings_get_int(db, who->tenant_id, TEAM_SETTING_MAX, out, e);
}

static const struct blindspot_impl impl_overloaded = {
	.from = "FROM users u LEFT JOIN departments d ON d.id = u.department_id "
		"JOIN (SELECT m.user_id AS uid, COUNT(*) AS n FROM service_team_members m "
		"JOIN enterprises e ON e.tenant_id = m.tenant_id AND e.id = m.enterprise_id "
		"WHERE m.tenant_id = $1 AND e.status = 'active' GROUP BY m.user_id) c "
		"ON c.uid = u.id WHERE u.tenant_id = $1 AND u.status = 'active' AND c.n > $2",
	.value = "c.n",
	.param = param_max_per_official,
};

/* Enterprises whose visit under their policy (走访服务制度) is overdue: the
 * visit state is kept current by core/visit_policy.c, so this is a range of
 * the due index. The figure: whole days overdue, counting the day begun. */
/* Only active enterprises have a due date (visit_state_refresh), so the whole
 * district's count is a range of the due index alone and its page walks the
 * states in enterprise order; a grid's share starts from the grid's
 * enterprises. */
static const struct blindspot_impl impl_overdue_visit = {
	.from = "FROM visit_state vs CROSS JOIN enterprises e WHERE vs.tenant_id = $1 "
		"AND e.id = vs.enterprise_id AND vs.next_due_at < $2",
	.from_scoped = "FROM enterprises e CROSS JOIN visit_state vs WHERE e.tenant_id = $1 "
		       "AND vs.tenant_id = e.tenant_id AND vs.enterprise_id = e.id "
		       "AND vs.next_due_at < $2",
	.count_from = "FROM visit_state vs WHERE vs.tenant_id = $1 AND vs.next_due_at < $2",
	.key = "vs.enterprise_id",
	.value = "($2 - vs.next_due_at + 86399999) / 86400000",
	.uses_now = true,
};

/* Unit grids without an active grid worker assigned to them; the figure: their
 * active enterprises. */
static const struct blindspot_impl impl_grid_no_worker = {
	.from = "FROM grids g WHERE g.tenant_id = $1 AND g.level = 'unit' AND NOT EXISTS "
		"(SELECT 1 FROM users gu JOIN user_roles gr ON gr.tenant_id = gu.tenant_id "
		"AND gr.user_id = gu.id AND gr.role = 'grid_worker' WHERE gu.tenant_id = "
		"g.tenant_id AND gu.grid_id = g.id AND gu.status = 'active')",
	.value = "(SELECT COUNT(*) FROM enterprises ge WHERE ge.tenant_id = g.tenant_id "
		 "AND ge.grid_id = g.id AND ge.status = 'active')",
};

static int param_dispatch_hours(struct db *db, const struct actor *who,
				const struct blindspot_params *p, int64_t *out, struct err *e)
{
	(void)p;
	return settings_get_int(db, who->tenant_id, BLINDSPOT_SETTING_DISPATCH, out, e);
}

/* Grids with requests left unanswered: received (or returned to the
 * dispatcher) and not acted on for the setting's hours, or dispatched and not
 * signed past the signing deadline. The figure: how many. */
static const struct blindspot_impl impl_unanswered = {
	.from = "FROM grids g JOIN (SELECT r.grid_id AS gid, COUNT(*) AS n FROM requests r "
		"WHERE r.tenant_id = $1 AND ((r.state IN ('received', 'returned') AND "
		"r.updated_at < $3 - $2 * 3600000) OR (r.state = 'dispatched' AND "
		"r.sign_due_at < $3)) GROUP BY r.grid_id) c ON c.gid = g.id WHERE g.tenant_id = $1",
	.value = "c.n",
	.param = param_dispatch_hours,
	.uses_now = true,
};

/*
 * The report's sections, in order. To add one, write its impl above — a
 * FROM/WHERE over enterprises, officials or grids, and a parameter function
 * if it needs a setting — and list it here.
 */
static const struct blindspot_section sections[] = {
	{"no_team", "无服务团队的企业", "active enterprises without a service team",
	 BLINDSPOT_ENTERPRISE, NULL, NULL, &impl_no_team},
	{"key_no_lead", "无组长的重点企业", "key enterprises without a team lead",
	 BLINDSPOT_ENTERPRISE, NULL, NULL, &impl_key_no_lead},
	{"overloaded", "包联企业过多的干部", "officials serving more enterprises than the maximum",
	 BLINDSPOT_OFFICIAL, TEAM_SETTING_MAX, "enterprises", &impl_overloaded},
	{"overdue_visit", "逾期未走访的企业", "enterprises not visited within their visit policy",
	 BLINDSPOT_ENTERPRISE, NULL, "days_overdue", &impl_overdue_visit},
	{"grid_no_worker", "无网格员的单元网格", "unit grids without a grid worker",
	 BLINDSPOT_GRID, NULL, "enterprises", &impl_grid_no_worker},
	{"unanswered", "有诉求无人应答的网格", "grids with requests left unanswered",
	 BLINDSPOT_GRID, BLINDSPOT_SETTING_DISPATCH, "requests", &impl_unanswered},
};

const struct blindspot_section *blindspot_sections(size_t *n)
{
	*n = ARRAY_SIZE(sections);
	return sections;
}

const struct blindspot_section *blindspot_section(const char *code)
{
	for (size_t i = 0; code && i < ARRAY_SIZE(sections); i++)
		if (strcmp(sections[i].code, code) == 0)
			return &sections[i];
	return NULL;
}

static void read_row(const struct blindspot_section *s, struct db_stmt *st,
		     struct blindspot_row *row)
{
	memset(row, 0, sizeof *row);
	row->id = db_column_int64(st, 0);
	row->name = db_column_text(st, 1);
	if (s->subject == BLINDSPOT_ENTERPRISE) {
		row->credit_code = db_column_text(st, 2);
		row->is_key = db_column_int64(st, 3) != 0;
		row->grid_id = column_id(st, 4);
	} else if (s->subject == BLINDSPOT_OFFICIAL) {
		row->login = db_column_text(st, 2);
		row->department_id = column_id(st, 3);
		row->dept_name = db_column_text(st, 4);
	} else {
		row->code = db_column_text(st, 2);
		row->level = db_column_text(st, 3);
		row->grid_id = row->id;
	}
	row->value = db_column_int64(st, 5);
}

/* Scope columns of grids (alias g): the grid itself. */
static const struct scope_cols grid_cols = {.grid = "g.id"};

/* One section: its total, then its page. *stop is set when a callback asks to stop. */
static int run_section(struct db *db, const struct actor *who, enum scope scope,
		       const struct blindspot_section *s, const struct blindspot_params *p,
		       const struct blindspot_sink *sink, void *ctx, bool *stop, struct err *e)
{
	static const char *const keys[] = {[BLINDSPOT_ENTERPRISE] = "e.id",
					   [BLINDSPOT_OFFICIAL] = "u.id", [BLINDSPOT_GRID] = "g.id"};
	static const char *const cols[] = {
		[BLINDSPOT_ENTERPRISE] = "e.name, e.credit_code, e.is_key, e.grid_id",
		[BLINDSPOT_OFFICIAL] = "u.display_name, u.login, u.department_id, d.name",
		[BLINDSPOT_GRID] = "g.name, g.code, g.level, g.parent_id"};
	const struct scope_cols *scols = s->subject == BLINDSPOT_ENTERPRISE ? &enterprise_cols
					 : s->subject == BLINDSPOT_OFFICIAL ? &official_cols
									     : &grid_cols;
	const struct blindspot_impl *im = s->impl;
	const char *key = im->key ? im->key : keys[s->subject];
	struct buf where, sql;
	struct db_args a = {0};
	struct db_stmt *st = NULL;
	int64_t param = 0, total = 0;
	int rc;

	if (im->param && (rc = im->param(db, who, p, &param, e)))
		return rc;
	db_args_int(&a, who->tenant_id); /* $1 */
	if (im->param)
		db_args_int(&a, param);  /* $2 */
	if (im->uses_now)
		db_args_int(&a, p->now); /* $2 or $3 */
	buf_init(&where, 4096);
	buf_init(&sql, 8192);
	rc = buf_adds(&where, scope != SCOPE_ALL && im->from_scoped ? im->from_scoped : im->from);
	if (!rc)
		rc = scope_sql(who, scope, scols, &where);
	if (!rc)
		rc = buf_addf(&sql, "SELECT COUNT(*) %s",
			      scope == SCOPE_ALL && im->count_from ? im->count_from : where.p);
	if (rc) {
		rc = err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
		goto out;
	}
	if ((rc = db_query_args(db, &st, e, sql.p, &a)))
		goto out;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		total = db_column_int64(st, 0);
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	if (sink->section && sink->section(s, total, param, ctx)) {
		*stop = true;
		rc = 0;
		goto out;
	}

	buf_reset(&sql);
	int n_after = db_args_int(&a, p->after), n_limit = db_args_int(&a, p->limit);
	if (buf_addf(&sql, "SELECT %s, %s, %s %s AND %s > $%d ORDER BY %s LIMIT $%d", key,
		     cols[s->subject], im->value, where.p, key, n_after, key, n_limit)) {
		rc = err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
		goto out;
	}
	if ((rc = db_query_args(db, &st, e, sql.p, &a)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct blindspot_row row;
		read_row(s, st, &row);
		if (sink->row && sink->row(s, &row, ctx)) {
			*stop = true;
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	rc = rc < 0 ? rc : 0;
out:
	buf_release(&sql);
	buf_release(&where);
	return rc;
}

int blindspot_report(struct db *db, const struct actor *who, enum scope scope,
		     const struct blindspot_params *p, const struct blindspot_sink *sink,
		     void *ctx, struct err *e)
{
	const struct blindspot_section *only = NULL;
	bool stop = false;

	if (p->section && !(only = blindspot_section(p->section)))
		return err_set(e, ERR_BAD_REQUEST, "section", "未知的盲区类别“%s”",
			       "unknown blind-spot section '%s'", p->section);
	if (p->limit < 1 || p->limit > 1000)
		return err_set(e, ERR_BAD_REQUEST, "limit", "limit 应在 1 到 1000 之间",
			       "limit must be between 1 and 1000");
	for (size_t i = 0; i < ARRAY_SIZE(sections) && !stop; i++) {
		if (only && only != &sections[i])
			continue;
		int rc = run_section(db, who, scope, &sections[i], p, sink, ctx, &stop, e);
		if (rc)
			return rc;
	}
	return 0;
}
