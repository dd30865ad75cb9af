/*
 * ledger.c — the key-enterprise ledger (see ledger.h).
 *
 * Rules kept here and nowhere else:
 *  - items only on key enterprises; the responsible official is an active
 *    staff user (team_official_check) within the writer's scope;
 *  - title 1..100 characters, not blank; description and notes up to 2000;
 *  - the deadline is a real calendar date, due at its last millisecond in
 *    Asia/Shanghai;
 *  - status moves only along `transitions`, through progress entries;
 *    closed is final;
 *  - scope reaches an item through its responsible official (alias ru).
 * Write jobs run on the writer thread one at a time, so what a job checks
 * still holds when it writes. Every statement filters by tenant_id.
 */
#include "core/ledger.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/util.h"
#include "core/audit.h"
#include "core/team.h"
#include "db/db.h"
#include "base/banned.h"

#define DAY_MS (86400 * INT64_C(1000))

static const char *const status_names[LEDGER__COUNT] = {
	[LEDGER_OPEN] = "open",
	[LEDGER_IN_PROGRESS] = "in_progress",
	[LEDGER_RESOLVED] = "resolved",
	[LEDGER_CLOSED] = "closed",
};

static const char *const status_zh[LEDGER__COUNT] = {
	[LEDGER_OPEN] = "待办",
	[LEDGER_IN_PROGRESS] = "办理中",
	[LEDGER_RESOLVED] = "已解决",
	[LEDGER_CLOSED] = "已关闭",
};

/* transitions[from][to]: the only moves there are. */
static const bool transitions[LEDGER__COUNT][LEDGER__COUNT] = {
	[LEDGER_OPEN] = {[LEDGER_IN_PROGRESS] = true},
	[LEDGER_IN_PROGRESS] = {[LEDGER_RESOLVED] = true},
	[LEDGER_RESOLVED] = {[LEDGER_CLOSED] = true, [LEDGER_IN_PROGRESS] = true}, /* close, reopen */
	[LEDGER_CLOSED] = {0},
};

/* Scope reaches an item through its responsible official. */
static const struct scope_cols item_cols = {.dept = "ru.department_id",
					    .owner = "li.responsible_user_id"};

const char *ledger_status_name(enum ledger_status s)
{
	return (unsigned)s < LEDGER__COUNT ? status_names[s] : NULL;
}

const char *ledger_status_zh(enum ledger_status s)
{
	return (unsigned)s < LEDGER__COUNT ? status_zh[s] : "";
}

int ledger_status_from_name(const char *s)
{
	for (int i = 0; s && i < LEDGER__COUNT; i++)
		if (strcmp(status_names[i], s) == 0)
			return i;
	return -1;
}

bool ledger_transition_allowed(enum ledger_status from, enum ledger_status to)
{
	return (unsigned)from < LEDGER__COUNT && (unsigned)to < LEDGER__COUNT &&
	       transitions[from][to];
}

bool ledger_status_pending(enum ledger_status s)
{
	return s == LEDGER_OPEN || s == LEDGER_IN_PROGRESS;
}

bool ledger_overdue(enum ledger_status s, int64_t deadline_at, int64_t now)
{
	return ledger_status_pending(s) && deadline_at < now;
}

/* ---- dates ---- */

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool ledger_date_valid(int y, int m, int d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap(y));
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int ledger_deadline_parse(const char *s, const char *field, int64_t *deadline_at, struct err *e)
{
	int v[3] = {0, 0, 0};
	static const int width[3] = {4, 2, 2};
	const char *p = s;

	for (int k = 0; p && k < 3; k++) {
		for (int i = 0; i < width[k]; i++, p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			v[k] = v[k] * 10 + (*p - '0');
		}
		if (*p != (k < 2 ? '-' : '\0'))
			goto bad;
		p++;
	}
	if (!s || !ledger_date_valid(v[0], v[1], v[2]))
		goto bad;
	*deadline_at = (days_from_civil(v[0], v[1], v[2]) + 1) * DAY_MS - LEDGER_UTC_OFFSET_MS - 1;
	return 0;
bad:
	return err_set(e, ERR_UNPROCESSABLE, field, "“%s”应为有效日期，格式 YYYY-MM-DD",
		       "%s must be a real date written YYYY-MM-DD", field);
}

void ledger_format_local(int64_t ms, char *out, size_t n)
{
	struct tm tm;
	time_t t;

	if (!ms) {
		snprintf(out, n, "%s", "");
		return;
	}
	t = (time_t)((ms + LEDGER_UTC_OFFSET_MS) / 1000);
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, n, "%s", "");
		return;
	}
	snprintf(out, n, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min);
}

/* ---- validation ---- */

/* Only white space (ASCII, or the ideographic space U+3000)? */
static bool blank(const char *s)
{
	while (*s) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		else if (strncmp(s, "\xe3\x80\x80", 3) == 0)
			s += 3;
		else
			return false;
	}
	return true;
}

/* Text of at most max characters; required also refuses blank text. */
static int check_text(const char *s, const char *field, size_t max, bool required, struct err *e)
{
	size_t n;

	if (!s) {
		if (required)
			return err_set(e, ERR_BAD_REQUEST, field, "缺少必填字段“%s”",
				       "missing required field '%s'", field);
		return 0;
	}
	n = strlen(s);
	if (!utf8_valid(s, n))
		return err_set(e, ERR_BAD_REQUEST, field, "“%s”不是有效的 UTF-8",
			       "%s is not valid UTF-8", field);
	if (required && blank(s))
		return err_set(e, ERR_UNPROCESSABLE, field, "“%s”不能为空", "%s must not be empty",
			       field);
	if (utf8_len(s, n) > max)
		return err_set(e, ERR_UNPROCESSABLE, field, "“%s”不能超过 %zu 个字符",
			       "%s must not exceed %zu characters", field, max);
	return 0;
}

/* ---- reading ---- */

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int64_t column_id(struct db_stmt *st, int col)
{
	return db_column_is_null(st, col) ? 0 : db_column_int64(st, col);
}

/* Columns read by read_item(), in its order. */
#define ITEM_COLS                                                                            \
	"li.id, li.tenant_id, li.enterprise_id, e.name, e.credit_code, li.title, "            \
	"li.description, li.responsible_user_id, ru.display_name, ru.department_id, d.name, " \
	"d.path, li.deadline_on, li.deadline_at, li.status, li.created_by, li.created_at, "   \
	"li.updated_at, li.resolved_at"
#define ITEM_FROM                                                                          \
	" FROM ledger_items li JOIN enterprises e ON e.id = li.enterprise_id "              \
	"JOIN users ru ON ru.id = li.responsible_user_id "                                  \
	"LEFT JOIN departments d ON d.id = ru.department_id "

static void read_item(struct db_stmt *st, int64_t now, struct ledger_item *it)
{
	int s;

	memset(it, 0, sizeof *it);
	it->id = db_column_int64(st, 0);
	it->tenant_id = db_column_int64(st, 1);
	it->enterprise_id = db_column_int64(st, 2);
	copy_text(it->enterprise_name, sizeof it->enterprise_name, db_column_text(st, 3));
	copy_text(it->credit_code, sizeof it->credit_code, db_column_text(st, 4));
	copy_text(it->title, sizeof it->title, db_column_text(st, 5));
	copy_text(it->description, sizeof it->description, db_column_text(st, 6));
	it->responsible_user_id = db_column_int64(st, 7);
	copy_text(it->responsible_name, sizeof it->responsible_name, db_column_text(st, 8));
	it->responsible_dept_id = column_id(st, 9);
	copy_text(it->responsible_dept_name, sizeof it->responsible_dept_name,
		  db_column_text(st, 10));
	copy_text(it->responsible_dept_path, sizeof it->responsible_dept_path,
		  db_column_text(st, 11));
	copy_text(it->deadline_on, sizeof it->deadline_on, db_column_text(st, 12));
	it->deadline_at = db_column_int64(st, 13);
	s = ledger_status_from_name(db_column_text(st, 14));
	it->status = s < 0 ? LEDGER_OPEN : (enum ledger_status)s;
	it->created_by = db_column_int64(st, 15);
	it->created_at = db_column_int64(st, 16);
	it->updated_at = db_column_int64(st, 17);
	it->resolved_at = db_column_int64(st, 18);
	it->overdue = ledger_overdue(it->status, it->deadline_at, now);
}

/* The item whatever the scope; ERR_NOT_FOUND "id" if there is none. */
static int load(struct db *db, int64_t tenant_id, int64_t id, int64_t now,
		struct ledger_item *out, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " ITEM_COLS ITEM_FROM "WHERE li.tenant_id = $1 AND li.id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_item(st, now, out);
	db_finalize(st);
	if (rc < 0)
		return rc;
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "台账事项 %" PRId64 " 不存在",
			       "ledger item %" PRId64 " does not exist", id);
	return 0;
}

static bool item_in_scope(const struct actor *who, enum scope scope, const struct ledger_item *it)
{
	struct scope_row row = {.dept_id = it->responsible_dept_id,
				.dept_path = it->responsible_dept_path,
				.owner_id = it->responsible_user_id};
	return scope_allows(who, scope, &row);
}

static bool official_in_scope(const struct actor *who, enum scope scope,
			      const struct team_official *o)
{
	struct scope_row row = {.dept_id = o->department_id, .dept_path = o->dept_path,
				.owner_id = o->id};
	return scope_allows(who, scope, &row);
}

int ledger_get(struct db *db, const struct actor *who, enum scope scope, int64_t id,
	       int64_t now, struct ledger_item *out, struct err *e)
{
	int rc = load(db, who->tenant_id, id, now, out, e);
	if (rc)
		return rc;
	if (!item_in_scope(who, scope, out))
		return err_set(e, ERR_NOT_FOUND, "id", "台账事项 %" PRId64 " 不存在",
			       "ledger item %" PRId64 " does not exist", id);
	return 0;
}

/* Load an item for a write job: in read scope (else 404) and write scope (else 403). */
static int load_writable(struct db *db, const struct ledger_write *w, struct ledger_item *it,
			 struct err *e)
{
	int rc = load(db, w->tenant_id, w->id, w->now, it, e);
	if (rc)
		return rc;
	if (!item_in_scope(w->who, w->read_scope, it))
		return err_set(e, ERR_NOT_FOUND, "id", "台账事项 %" PRId64 " 不存在",
			       "ledger item %" PRId64 " does not exist", w->id);
	if (!item_in_scope(w->who, w->scope, it))
		return err_set(e, ERR_FORBIDDEN, "id", "无权修改该台账事项",
			       "you may not change this ledger item");
	return 0;
}

/* ---- writing ---- */

/* The responsible official: active staff, within the write scope. */
static int check_responsible(struct db *db, const struct ledger_write *w, int64_t user_id,
			     struct team_official *o, struct err *e)
{
	int rc = team_official_check(db, w->tenant_id, user_id, "responsible_user_id", o, e);
	if (rc)
		return rc;
	if (!official_in_scope(w->who, w->scope, o))
		return err_set(e, ERR_FORBIDDEN, "responsible_user_id",
			       "只能将台账事项交给您权限范围内的干部",
			       "you may only make officials within your scope responsible");
	return 0;
}

int ledger_create(struct db *db, void *arg, struct err *e)
{
	struct ledger_write *w = arg;
	struct team_official o;
	struct db_stmt *st = NULL;
	int64_t deadline_at = 0, is_key = -1;
	int rc;

	if ((rc = check_text(w->title, "title", LEDGER_TITLE_MAX, true, e)) ||
	    (rc = check_text(w->description, "description", LEDGER_TEXT_MAX, false, e)))
		return rc;
	if (!w->deadline)
		return err_set(e, ERR_BAD_REQUEST, "deadline", "缺少必填字段“deadline”",
			       "missing required field 'deadline'");
	if ((rc = ledger_deadline_parse(w->deadline, "deadline", &deadline_at, e)))
		return rc;
	rc = db_query_i64(db, &is_key, e,
			  "SELECT is_key FROM enterprises WHERE tenant_id = $1 AND id = $2", "ii",
			  w->tenant_id, w->enterprise_id);
	if (rc == ERR_NOT_FOUND)
		return err_set(e, ERR_UNPROCESSABLE, "enterprise_id", "企业 %" PRId64 " 不存在",
			       "enterprise %" PRId64 " does not exist", w->enterprise_id);
	if (rc)
		return rc;
	if (is_key != 1)
		return err_set(e, ERR_UNPROCESSABLE, "enterprise_id",
			       "企业 %" PRId64 " 不是重点企业，不能建立台账",
			       "enterprise %" PRId64 " is not a key enterprise", w->enterprise_id);
	if ((rc = check_responsible(db, w, w->responsible_user_id, &o, e)))
		return rc;

	rc = db_queryf(db, &st, e,
		       "INSERT INTO ledger_items (tenant_id, enterprise_id, title, description, "
		       "responsible_user_id, deadline_on, deadline_at, status, created_by, "
		       "created_at, updated_at) "
		       "VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $9) RETURNING id",
		       "iittitiii", w->tenant_id, w->enterprise_id, w->title,
		       w->description ? w->description : "", w->responsible_user_id, w->deadline,
		       deadline_at, w->who ? w->who->user_id : 0, w->now);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		w->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	json_t *sum = json_pack("{s:I,s:s,s:I,s:s}", "enterprise_id", (json_int_t)w->enterprise_id,
				"title", w->title, "responsible_user_id",
				(json_int_t)w->responsible_user_id, "deadline_on", w->deadline);
	rc = audit_append(db, w->who, w->tenant_id, "ledger_item", w->id, "create", sum, e);
	json_decref(sum);
	return rc;
}

static void change_text(json_t *sum, const char *field, const char *old, const char *new_)
{
	if (new_ && strcmp(old, new_) != 0)
		json_object_set_new(sum, field, json_pack("[s,s]", old, new_));
}

int ledger_update(struct db *db, void *arg, struct err *e)
{
	struct ledger_write *w = arg;
	struct ledger_item it;
	struct team_official o;
	json_t *sum = NULL;
	int64_t deadline_at;
	int rc;

	w->changed = false;
	if ((rc = load_writable(db, w, &it, e)))
		return rc;
	if (it.status == LEDGER_CLOSED)
		return err_set(e, ERR_CONFLICT, "status", "台账事项已关闭，不能修改",
			       "the ledger item is closed");
	if ((rc = check_text(w->title, "title", LEDGER_TITLE_MAX, w->title != NULL, e)) ||
	    (rc = check_text(w->description, "description", LEDGER_TEXT_MAX, false, e)))
		return rc;
	deadline_at = it.deadline_at;
	if (w->deadline && (rc = ledger_deadline_parse(w->deadline, "deadline", &deadline_at, e)))
		return rc;
	bool new_deadline = w->deadline && strcmp(w->deadline, it.deadline_on) != 0;
	bool new_responsible = w->responsible_user_id &&
			       w->responsible_user_id != it.responsible_user_id;
	if (w->scope == SCOPE_SELF && new_deadline)
		return err_set(e, ERR_FORBIDDEN, "deadline", "责任人不能自行调整办结时限",
			       "the responsible official may not move their own deadline");
	if (w->scope == SCOPE_SELF && new_responsible)
		return err_set(e, ERR_FORBIDDEN, "responsible_user_id",
			       "责任人不能自行移交台账事项",
			       "the responsible official may not hand the item to someone else");
	if (new_responsible && (rc = check_responsible(db, w, w->responsible_user_id, &o, e)))
		return rc;

	sum = json_object();
	change_text(sum, "title", it.title, w->title);
	change_text(sum, "description", it.description, w->description);
	if (new_deadline)
		change_text(sum, "deadline_on", it.deadline_on, w->deadline);
	if (new_responsible)
		json_object_set_new(sum, "responsible_user_id",
				    json_pack("[I,I]", (json_int_t)it.responsible_user_id,
					      (json_int_t)w->responsible_user_id));
	if (!json_object_size(sum))
		goto out;
	rc = db_execf(db, e,
		      "UPDATE ledger_items SET title = $1, description = $2, deadline_on = $3, "
		      "deadline_at = $4, responsible_user_id = $5, updated_at = $6 "
		      "WHERE tenant_id = $7 AND id = $8",
		      "tttiiiii", w->title ? w->title : it.title,
		      w->description ? w->description : it.description,
		      new_deadline ? w->deadline : it.deadline_on, deadline_at,
		      new_responsible ? w->responsible_user_id : it.responsible_user_id, w->now,
		      w->tenant_id, w->id);
	if (!rc)
		rc = audit_append(db, w->who, w->tenant_id, "ledger_item", w->id, "update", sum, e);
	if (!rc)
		w->changed = true;
out:
	json_decref(sum);
	return rc;
}

int ledger_add_progress(struct db *db, void *arg, struct err *e)
{
	struct ledger_write *w = arg;
	struct ledger_item it;
	struct db_stmt *st = NULL;
	enum ledger_status to;
	int rc;

	if ((rc = load_writable(db, w, &it, e)))
		return rc;
	if ((rc = check_text(w->note, "note", LEDGER_TEXT_MAX, true, e)))
		return rc;
	to = it.status;
	if (w->status) {
		int s = ledger_status_from_name(w->status);
		if (s < 0)
			return err_set(e, ERR_UNPROCESSABLE, "status",
				       "未知状态“%s”（应为 open、in_progress、resolved、closed）",
				       "unknown status '%s' (open, in_progress, resolved, closed)",
				       w->status);
		to = (enum ledger_status)s;
	}
	if (it.status == LEDGER_CLOSED)
		return err_set(e, ERR_CONFLICT, "status", "台账事项已关闭",
			       "the ledger item is closed");
	if (to != it.status && !ledger_transition_allowed(it.status, to))
		return err_set(e, ERR_CONFLICT, "status", "状态不能从“%s”变为“%s”",
			       "status cannot change from '%s' to '%s'", ledger_status_name(it.status),
			       ledger_status_name(to));

	rc = db_queryf(db, &st, e,
		       "INSERT INTO ledger_progress (tenant_id, item_id, at, user_id, note, "
		       "status_after) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
		       "iiiitt", w->tenant_id, w->id, w->now, w->who ? w->who->user_id : 0, w->note,
		       ledger_status_name(to));
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		w->progress_id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	int64_t resolved_at = to == LEDGER_RESOLVED && it.status != LEDGER_RESOLVED ? w->now
			      : to == LEDGER_IN_PROGRESS				  ? 0
											  : it.resolved_at;
	rc = db_execf(db, e,
		      "UPDATE ledger_items SET status = $1, updated_at = $2, resolved_at = $3 "
		      "WHERE tenant_id = $4 AND id = $5",
		      "tiiii", ledger_status_name(to), w->now, resolved_at, w->tenant_id, w->id);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:I,s:s}", "progress_id", (json_int_t)w->progress_id, "note",
				w->note);
	if (to != it.status)
		json_object_set_new(sum, "status", json_pack("[s,s]", ledger_status_name(it.status),
							     ledger_status_name(to)));
	rc = audit_append(db, w->who, w->tenant_id, "ledger_item", w->id, "progress", sum, e);
	json_decref(sum);
	return rc;
}

/* ---- lists ---- */

int ledger_list(struct db *db, const struct actor *who, enum scope scope,
		const struct ledger_filter *f,
		int (*each)(const struct ledger_item *it, void *ctx), void *ctx, struct err *e)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	const char *status = f->status >= 0 ? ledger_status_name((enum ledger_status)f->status) : "";
	int rc;

	buf_init(&sql, 8192);
	buf_adds(&sql, "SELECT " ITEM_COLS ITEM_FROM "WHERE li.tenant_id = $1 AND li.id > $2");
	if (scope_sql(who, scope, &item_cols, &sql)) {
		buf_release(&sql);
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	}
	/* Optional filters bind fixed parameter numbers; unused ones match everything. */
	buf_adds(&sql, " AND ($3 = 0 OR li.enterprise_id = $3)"
		       " AND ($4 = 0 OR li.responsible_user_id = $4)"
		       " AND ($5 = '' OR li.status = $5)"
		       " AND ($6 = 0 OR (li.status IN ('open', 'in_progress') AND li.deadline_at < $7))"
		       " ORDER BY li.id LIMIT $8");
	rc = db_queryf(db, &st, e, sql.p, "iiiitiii", who->tenant_id, f->after, f->enterprise_id,
		       f->responsible_user_id, status ? status : "", (int64_t)f->overdue, f->now,
		       f->limit);
	buf_release(&sql);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct ledger_item it;
		read_item(st, f->now, &it);
		if (each(&it, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int ledger_progress_list(struct db *db, const struct actor *who, enum scope scope,
			 int64_t item_id, int64_t after, int64_t limit,
			 int (*each)(const struct ledger_progress *p, void *ctx), void *ctx,
			 struct err *e)
{
	struct ledger_item it;
	struct db_stmt *st = NULL;
	int rc = ledger_get(db, who, scope, item_id, 0, &it, e);
	if (rc)
		return rc;
	rc = db_queryf(db, &st, e,
		       "SELECT p.id, p.item_id, p.at, p.user_id, u.display_name, p.note, "
		       "p.status_after FROM ledger_progress p LEFT JOIN users u ON u.id = p.user_id "
		       "WHERE p.tenant_id = $1 AND p.item_id = $2 AND p.id > $3 "
		       "ORDER BY p.id LIMIT $4",
		       "iiii", who->tenant_id, item_id, after, limit);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct ledger_progress p = {
			.id = db_column_int64(st, 0),
			.item_id = db_column_int64(st, 1),
			.at = db_column_int64(st, 2),
			.user_id = db_column_int64(st, 3),
			.user_name = db_column_text(st, 4),
			.note = db_column_text(st, 5),
			.status_after = db_column_text(st, 6),
		};
		if (each(&p, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* Pending items in scope, as FROM/WHERE; $1 tenant, $2 now. */
static int pending_where(const struct actor *who, enum scope scope, struct buf *w)
{
	buf_adds(w, ITEM_FROM "WHERE li.tenant_id = $1 AND li.status IN ('open', 'in_progress')");
	return scope_sql(who, scope, &item_cols, w);
}

#define OVERDUE_SUM "COALESCE(SUM(CASE WHEN li.deadline_at < $2 THEN 1 ELSE 0 END), 0)"

static int groups(struct db *db, const struct actor *who, const char *select,
		  const char *group, const struct buf *where, int64_t now, int64_t limit,
		  int (*each)(const struct ledger_count *c, void *ctx), void *ctx, struct err *e)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;

	buf_init(&sql, 8192);
	if (buf_addf(&sql,
		     "SELECT %s, COUNT(*), " OVERDUE_SUM " %s GROUP BY %s "
		     "ORDER BY 5 DESC, 4 DESC, 1 LIMIT $3",
		     select, where->p, group)) {
		buf_release(&sql);
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	}
	rc = db_queryf(db, &st, e, sql.p, "iii", who->tenant_id, now, limit);
	buf_release(&sql);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct ledger_count c = {
			.id = db_column_int64(st, 0),
			.name = db_column_text(st, 1),
			.detail = db_column_text(st, 2),
			.open = db_column_int64(st, 3),
			.overdue = db_column_int64(st, 4),
		};
		if (each(&c, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int ledger_summary(struct db *db, const struct actor *who, enum scope scope, int64_t now,
		   int64_t limit, int (*by_enterprise)(const struct ledger_count *c, void *ctx),
		   int (*by_official)(const struct ledger_count *c, void *ctx), void *ctx,
		   struct ledger_totals *totals, struct err *e)
{
	struct buf where, sql;
	struct db_stmt *st = NULL;
	int rc;

	buf_init(&where, 8192);
	buf_init(&sql, 8192);
	if (pending_where(who, scope, &where) ||
	    buf_addf(&sql,
		     "SELECT COUNT(*), " OVERDUE_SUM ", COUNT(DISTINCT li.enterprise_id), "
		     "COUNT(DISTINCT li.responsible_user_id) %s",
		     where.p)) {
		rc = err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
		goto out;
	}
	if (totals) {
		if ((rc = db_queryf(db, &st, e, sql.p, "ii", who->tenant_id, now)))
			goto out;
		memset(totals, 0, sizeof *totals);
		rc = db_step(st, e);
		if (rc == DB_ROW) {
			totals->open = db_column_int64(st, 0);
			totals->overdue = db_column_int64(st, 1);
			totals->enterprises = db_column_int64(st, 2);
			totals->officials = db_column_int64(st, 3);
		}
		db_finalize(st);
		if (rc < 0)
			goto out;
	}
	rc = 0;
	if (by_enterprise)
		rc = groups(db, who, "li.enterprise_id, e.name, e.credit_code",
			    "li.enterprise_id, e.name, e.credit_code", &where, now, limit,
			    by_enterprise, ctx, e);
	if (!rc && by_official)
		rc = groups(db, who, "li.responsible_user_id, ru.display_name, d.name",
			    "li.responsible_user_id, ru.display_name, d.name", &where, now, limit,
			    by_official, ctx, e);
out:
	buf_release(&sql);
	buf_release(&where);
	return rc;
}
