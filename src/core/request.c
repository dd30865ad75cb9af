/*
 * request.c — enterprise requests: creation, the state machine, the
 * timeline, deadlines on the working-day calendar, and lists (see request.h).
 *
 * One table, `steps`, says for each action from which states it may be
 * taken, where it leads, and which permission it needs; request_act() is
 * the only code that changes a request's state, so the rules live in one
 * place. Each step writes the request row (with version + 1), an event of
 * the timeline and an audit row in the caller's write job.
 */
#include "core/request.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsonv.h"
#include "base/jsonw.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/settings.h"
#include "core/grid.h"
#include "core/request_stats.h"
#include "core/workcal.h"
#include "db/db.h"
#include "jobs/jobs.h"
#include "base/banned.h"

/* ---- names ---- */

static const char *const state_names[RS__COUNT][2] = {
	[RS_RECEIVED] = {"received", "已受理"},     [RS_DISPATCHED] = {"dispatched", "已派单"},
	[RS_SIGNED] = {"signed", "已签收"},         [RS_IN_PROGRESS] = {"in_progress", "办理中"},
	[RS_PAUSED] = {"paused", "已挂起"},         [RS_REPLIED] = {"replied", "已答复"},
	[RS_RETURNED] = {"returned", "已退单"},     [RS_CLOSED] = {"closed", "已办结"},
	[RS_MERGED] = {"merged", "已合并"},         [RS_VOIDED] = {"voided", "已作废"},
};

static const char *const action_names[RA__COUNT] = {
	[RA_DISPATCH] = "dispatch",           [RA_SIGN] = "sign",
	[RA_START] = "start",                 [RA_REPLY] = "reply",
	[RA_RETURN_APPLY] = "return_apply",   [RA_RETURN_DECIDE] = "return_decide",
	[RA_RETURN] = "return",               [RA_EXTEND_APPLY] = "extend_apply",
	[RA_EXTEND_DECIDE] = "extend_decide", [RA_PAUSE] = "pause",
	[RA_RESUME] = "resume",               [RA_SUPERVISE] = "supervise",
	[RA_RATE] = "rate",                   [RA_CLOSE] = "close",
	[RA_REOPEN] = "reopen",               [RA_MERGE] = "merge",
	[RA_VOID] = "void",                   [RA_NOTE] = "note",
	[RA_AUTO_CLOSE] = "auto_close",
};

const char *req_state_name(enum req_state s)
{
	return (unsigned)s < RS__COUNT ? state_names[s][0] : "?";
}

const char *req_state_zh(enum req_state s)
{
	return (unsigned)s < RS__COUNT ? state_names[s][1] : "?";
}

int req_state_parse(const char *s)
{
	for (int i = 0; s && i < RS__COUNT; i++)
		if (strcmp(state_names[i][0], s) == 0)
			return i;
	return -1;
}

const char *req_action_name(enum req_action a)
{
	return (unsigned)a < RA__COUNT ? action_names[a] : "?";
}

int req_action_parse(const char *s)
{
	for (int i = 0; s && i < RA__COUNT; i++)
		if (strcmp(action_names[i], s) == 0)
			return i;
	return -1;
}

static const char *const channels[] = {"online", "hall", "hotline", "grid", "observer", "qrcode",
				       "open311"};
static const char *const types[][2] = {{"consultation", "咨询"}, {"help", "求助"},
				       {"complaint", "投诉"},   {"suggestion", "建议"},
				       {"report", "举报"}};

bool req_channel_valid(const char *c)
{
	for (size_t i = 0; c && i < ARRAY_SIZE(channels); i++)
		if (strcmp(channels[i], c) == 0)
			return true;
	return false;
}

bool req_type_valid(const char *t)
{
	return req_type_zh(t) != NULL;
}

const char *req_type_zh(const char *t)
{
	for (size_t i = 0; t && i < ARRAY_SIZE(types); i++)
		if (strcmp(types[i][0], t) == 0)
			return types[i][1];
	return NULL;
}

/* ---- the state machine ---- */

#define S(x) (1u << (x))
#define OPEN_STATES (S(RS_DISPATCHED) | S(RS_SIGNED) | S(RS_IN_PROGRESS) | S(RS_PAUSED))
#define SAME (-1)

static const struct step_rule {
	unsigned from;   /* states the action may be taken in */
	int to;          /* resulting state, SAME = unchanged (or decided in code) */
	enum perm perm;
} steps[RA__COUNT] = {
	[RA_DISPATCH] = {S(RS_RECEIVED) | S(RS_RETURNED), RS_DISPATCHED, PERM_REQUEST_DISPATCH},
	[RA_SIGN] = {S(RS_DISPATCHED), RS_SIGNED, PERM_REQUEST_HANDLE},
	[RA_START] = {S(RS_SIGNED), RS_IN_PROGRESS, PERM_REQUEST_HANDLE},
	[RA_REPLY] = {S(RS_SIGNED) | S(RS_IN_PROGRESS), RS_REPLIED, PERM_REQUEST_HANDLE},
	[RA_RETURN_APPLY] = {S(RS_DISPATCHED) | S(RS_SIGNED) | S(RS_IN_PROGRESS), SAME,
			     PERM_REQUEST_HANDLE},
	[RA_RETURN_DECIDE] = {S(RS_DISPATCHED) | S(RS_SIGNED) | S(RS_IN_PROGRESS), SAME,
			      PERM_REQUEST_APPROVE},
	[RA_RETURN] = {S(RS_DISPATCHED) | S(RS_SIGNED) | S(RS_IN_PROGRESS), RS_RETURNED,
		       PERM_REQUEST_APPROVE},
	[RA_EXTEND_APPLY] = {S(RS_SIGNED) | S(RS_IN_PROGRESS) | S(RS_PAUSED), SAME,
			     PERM_REQUEST_HANDLE},
	[RA_EXTEND_DECIDE] = {S(RS_SIGNED) | S(RS_IN_PROGRESS) | S(RS_PAUSED), SAME,
			      PERM_REQUEST_APPROVE},
	[RA_PAUSE] = {S(RS_SIGNED) | S(RS_IN_PROGRESS), RS_PAUSED, PERM_REQUEST_HANDLE},
	[RA_RESUME] = {S(RS_PAUSED), SAME, PERM_REQUEST_HANDLE},
	[RA_SUPERVISE] = {OPEN_STATES | S(RS_RECEIVED) | S(RS_RETURNED) | S(RS_REPLIED), SAME,
			  PERM_REQUEST_SUPERVISE},
	[RA_RATE] = {S(RS_REPLIED), RS_CLOSED, PERM_REQUEST_RATE},
	[RA_CLOSE] = {S(RS_REPLIED), RS_CLOSED, PERM_REQUEST_DISPATCH},
	[RA_REOPEN] = {S(RS_REPLIED) | S(RS_CLOSED), RS_IN_PROGRESS, PERM_REQUEST_RATE},
	[RA_MERGE] = {S(RS_RECEIVED) | S(RS_RETURNED) | S(RS_DISPATCHED), RS_MERGED,
		      PERM_REQUEST_DISPATCH},
	[RA_VOID] = {S(RS_RECEIVED) | S(RS_RETURNED), RS_VOIDED, PERM_REQUEST_DISPATCH},
	[RA_NOTE] = {~0u, SAME, PERM_REQUEST_READ},
	[RA_AUTO_CLOSE] = {S(RS_REPLIED), RS_CLOSED, PERM_PUBLIC /* the system only */},
};

bool request_action_allowed(enum req_action a, enum req_state s)
{
	return (unsigned)a < RA__COUNT && (unsigned)s < RS__COUNT && (steps[a].from & S(s));
}

enum perm request_action_perm(enum req_action a)
{
	return (unsigned)a < RA__COUNT ? steps[a].perm : PERM_PUBLIC;
}

/* ---- validation ---- */

int request_validate(const struct request_input *in, struct err *e)
{
	int rc;
	if (!req_channel_valid(in->channel))
		return err_set(e, in->channel ? ERR_UNPROCESSABLE : ERR_BAD_REQUEST, "channel",
			       "渠道应为 online、hall、hotline、grid、observer、qrcode 或 open311",
			       "channel must be online, hall, hotline, grid, observer, qrcode or open311");
	if (!req_type_valid(in->req_type))
		return err_set(e, in->req_type ? ERR_UNPROCESSABLE : ERR_BAD_REQUEST, "type",
			       "类型应为 consultation（咨询）、help（求助）、complaint（投诉）、"
			       "suggestion（建议）或 report（举报）",
			       "type must be consultation, help, complaint, suggestion or report");
	if ((rc = text_check(in->content, "content", "诉求内容", 4000, true, e)) ||
	    (rc = text_check(in->title, "title", "标题", 100, false, e)) ||
	    (rc = text_check(in->contact_name, "contact_name", "联系人", 32, false, e)) ||
	    (rc = text_check(in->address, "address", "地址", 128, false, e)))
		return rc;
	if (in->contact_phone && *in->contact_phone) {
		size_t n = strlen(in->contact_phone), digits = 0;
		bool ok = n <= 20;
		for (size_t i = 0; ok && i < n; i++) {
			char c = in->contact_phone[i];
			if (isdigit((unsigned char)c))
				digits++;
			else
				ok = (i == 0 && c == '+') || c == '-' || c == ' ';
		}
		if (!ok || digits < 5)
			return err_set(e, ERR_UNPROCESSABLE, "contact_phone", "联系电话格式不正确",
				       "contact_phone must be 5 to 20 digits");
	}
	if (in->urgency && strcmp(in->urgency, "normal") && strcmp(in->urgency, "urgent") &&
	    strcmp(in->urgency, "critical"))
		return err_set(e, ERR_UNPROCESSABLE, "urgency", "紧急程度应为 normal、urgent 或 critical",
			       "urgency must be normal, urgent or critical");
	if (in->set_location && (!isfinite(in->lat) || in->lat < -90 || in->lat > 90 ||
				 !isfinite(in->lon) || in->lon < -180 || in->lon > 180))
		return err_set(e, ERR_UNPROCESSABLE, in->lat < -90 || in->lat > 90 ? "lat" : "lon",
			       "经纬度超出范围", "lat/lon out of range");
	return 0;
}

/* ---- reading ---- */

/* The columns read_row reads. Lists leave out what they do not show or need: the text
 * and the grid's path (the scope is in their WHERE): REQ_LIST_COLS. */
#define REQ_COLS_WITH(content, grid_path)                                                     \
	"r.id, r.tenant_id, r.number, r.channel, r.req_type, r.category_id, c.name, "         \
	"r.enterprise_id, en.name, r.contact_name, r.contact_phone, r.title, " content ", "   \
	"r.address, r.lat, r.lon, r.grid_id, r.urgency, r.state, r.paused_from, "             \
	"r.department_id, d.name, d.path, r.handler_id, u.display_name, r.created_by, "       \
	"r.master_id, r.reopen_count, r.supervision_level, r.received_at, r.dispatched_at, "  \
	"r.signed_at, r.replied_at, r.closed_at, r.sign_due_at, r.handle_due_at, "            \
	"r.visit_due_at, r.paused_at, r.paused_ms, r.extended_days, r.rating_solved, "        \
	"r.rating, r.rating_comment, r.closed_on_time, r.version, r.created_at, r.updated_at, "    \
	"r.clock_from, " grid_path
#define REQ_COLS \
	REQ_COLS_WITH("r.content", "COALESCE((SELECT path FROM grids WHERE id = r.grid_id), '')")
#define REQ_LIST_COLS REQ_COLS_WITH("''", "''")
#define REQ_NCOLS 49
#define REQ_FROM                                                                              \
	" FROM requests r LEFT JOIN request_categories c ON c.id = r.category_id "            \
	"LEFT JOIN enterprises en ON en.id = r.enterprise_id "                               \
	"LEFT JOIN departments d ON d.id = r.department_id "                                 \
	"LEFT JOIN users u ON u.id = r.handler_id "

/* A text column into a fixed buffer, cut short (as snprintf would) if it does not fit. */
static void copy_col(char *dst, size_t size, struct db_stmt *st, int col)
{
	size_t n;
	const char *p = db_column_textn(st, col, &n);
	if (n >= size)
		n = size - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

#define COPY(dst, col) copy_col((dst), sizeof(dst), st, (col))
#define OPT_ID(col) (db_column_is_null(st, (col)) ? 0 : db_column_int64(st, (col)))

/* With content false the text is not copied (NULL): lists do not show it. */
static void read_row_text(struct db_stmt *st, struct request *r, bool content)
{
	memset(r, 0, sizeof *r);
	r->id = db_column_int64(st, 0);
	r->tenant_id = db_column_int64(st, 1);
	COPY(r->number, 2);
	COPY(r->channel, 3);
	COPY(r->req_type, 4);
	r->category_id = OPT_ID(5);
	COPY(r->category_name, 6);
	r->enterprise_id = OPT_ID(7);
	COPY(r->enterprise_name, 8);
	COPY(r->contact_name, 9);
	COPY(r->contact_phone, 10);
	COPY(r->title, 11);
	r->content = content ? xstrdup(db_column_text(st, 12)) : NULL;
	COPY(r->address, 13);
	r->has_location = !db_column_is_null(st, 14) && !db_column_is_null(st, 15);
	r->lat = r->has_location ? db_column_double(st, 14) : 0;
	r->lon = r->has_location ? db_column_double(st, 15) : 0;
	r->grid_id = OPT_ID(16);
	COPY(r->urgency, 17);
	int s = req_state_parse(db_column_text(st, 18));
	r->state = s < 0 ? RS_RECEIVED : (enum req_state)s;
	s = req_state_parse(db_column_text(st, 19));
	r->paused_from = s < 0 ? RS_IN_PROGRESS : (enum req_state)s;
	r->department_id = OPT_ID(20);
	COPY(r->department_name, 21);
	COPY(r->dept_path, 22);
	r->handler_id = OPT_ID(23);
	COPY(r->handler_name, 24);
	r->created_by = db_column_int64(st, 25);
	r->master_id = OPT_ID(26);
	r->reopen_count = (int)db_column_int64(st, 27);
	r->supervision_level = (int)db_column_int64(st, 28);
	r->received_at = db_column_int64(st, 29);
	r->dispatched_at = db_column_int64(st, 30);
	r->signed_at = db_column_int64(st, 31);
	r->replied_at = db_column_int64(st, 32);
	r->closed_at = db_column_int64(st, 33);
	r->sign_due_at = db_column_int64(st, 34);
	r->handle_due_at = db_column_int64(st, 35);
	r->visit_due_at = db_column_int64(st, 36);
	r->paused_at = db_column_int64(st, 37);
	r->paused_ms = db_column_int64(st, 38);
	r->extended_days = (int)db_column_int64(st, 39);
	r->rating_solved = db_column_is_null(st, 40) ? -1 : (int)db_column_int64(st, 40);
	COPY(r->rating, 41);
	COPY(r->rating_comment, 42);
	r->closed_on_time = db_column_is_null(st, 43) ? -1 : (int)db_column_int64(st, 43);
	r->version = db_column_int64(st, 44);
	r->created_at = db_column_int64(st, 45);
	r->updated_at = db_column_int64(st, 46);
	r->clock_from = db_column_int64(st, 47);
	COPY(r->grid_path, 48);
}

static void read_row(struct db_stmt *st, struct request *r)
{
	read_row_text(st, r, true);
}

void request_release(struct request *r)
{
	if (r) {
		free(r->content);
		r->content = NULL;
	}
}

int request_get(struct db *db, int64_t tenant_id, int64_t id, struct request *out,
		struct err *e)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e,
			   "SELECT " REQ_COLS REQ_FROM "WHERE r.tenant_id = $1 AND r.id = $2", "ii",
			   tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_row(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
	return rc < 0 ? rc : 0;
}

/* The columns of an application (app_row reads them from column `at` on). */
#define APP_COLS                                                                              \
	"a.id, a.applicant_id, a.applied_at, a.decided_by, a.decided_at, a.days, a.kind, "    \
	"a.status, a.reason, a.decision_note, COALESCE(ua.display_name, '')"

/* Borrowed from the statement's row. */
static void app_row(struct db_stmt *st, int at, struct request_application *a)
{
	*a = (struct request_application){
		.id = db_column_int64(st, at), .applicant_id = db_column_int64(st, at + 1),
		.applied_at = db_column_int64(st, at + 2), .decided_by = db_column_int64(st, at + 3),
		.decided_at = db_column_int64(st, at + 4), .days = (int)db_column_int64(st, at + 5),
		.kind = db_column_text(st, at + 6), .status = db_column_text(st, at + 7),
		.reason = db_column_text(st, at + 8), .decision_note = db_column_text(st, at + 9),
		.applicant_name = db_column_text(st, at + 10),
	};
}

/* Owned copies: kind and status are the schema's words, the texts are strdup'ed. */
static void app_keep(struct request_detail *d, const struct request_application *a)
{
	static const char *const words[] = {"extension", "return", "pending", "approved", "refused"};
	struct request_application *c;
	d->apps = xrealloc(d->apps, (d->napps + 1) * sizeof *d->apps);
	c = &d->apps[d->napps++];
	*c = *a;
	c->kind = c->status = "";
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		if (strcmp(a->kind, words[i]) == 0)
			c->kind = words[i];
		if (strcmp(a->status, words[i]) == 0)
			c->status = words[i];
	}
	c->reason = xstrdup(a->reason);
	c->decision_note = xstrdup(a->decision_note);
	c->applicant_name = xstrdup(a->applicant_name);
}

void request_detail_release(struct request_detail *d)
{
	if (!d)
		return;
	request_release(&d->r);
	for (size_t i = 0; i < d->napps; i++) {
		free((char *)d->apps[i].reason);
		free((char *)d->apps[i].decision_note);
		free((char *)d->apps[i].applicant_name);
	}
	free(d->apps);
	d->apps = NULL;
	d->napps = 0;
}

int request_get_detail(struct db *db, int64_t tenant_id, int64_t id, struct request_detail *out,
		       struct err *e)
{
	struct db_stmt *st = NULL;
	out->r.content = NULL; /* the rest is read_row's */
	out->apps = NULL;
	out->napps = 0;
	/* one row per application (one with NULLs if none), in their order */
	int rc = db_queryf(db, &st, e,
			   "SELECT " REQ_COLS ", " APP_COLS REQ_FROM
			   "LEFT JOIN request_applications a ON a.tenant_id = r.tenant_id "
			   "AND a.request_id = r.id LEFT JOIN users ua ON ua.id = a.applicant_id "
			   "WHERE r.tenant_id = $1 AND r.id = $2 ORDER BY a.id",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	bool found = false;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (!found)
			read_row(st, &out->r);
		found = true;
		if (!db_column_is_null(st, REQ_NCOLS)) {
			struct request_application a;
			app_row(st, REQ_NCOLS, &a);
			app_keep(out, &a);
		}
	}
	db_finalize(st);
	if (rc < 0) {
		request_detail_release(out);
		return rc;
	}
	if (!found)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
	return 0;
}

bool request_visible(const struct actor *a, enum scope s, const struct request *r)
{
	struct scope_row row = {.dept_id = r->department_id, .dept_path = r->dept_path,
				.grid_id = r->grid_id, .grid_path = r->grid_path, .owner_id = r->created_by,
				.enterprise_id = r->enterprise_id};
	return scope_allows(a, s, &row);
}

/* ---- time limits ---- */

/* Defaults per type when no policy matches (standards.md: sign within a working
 * day; consultations 3 working days, help 5, complaints and reports 15). */
static const struct {
	const char *type;
	int sign_minutes, handle_days, visit_days;
} default_limits[] = {
	{"consultation", 450, 3, 3}, {"help", 450, 5, 3},   {"complaint", 450, 15, 5},
	{"suggestion", 450, 15, 5},  {"report", 450, 15, 5},
};

/* One policy row of (category, type or any) into out; *found says whether there was one. */
static int policy_row(struct db *db, int64_t tenant_id, int64_t category_id, const char *req_type,
		      struct time_limits *out, bool *found, struct err *e)
{
	struct db_stmt *st = NULL;
	/* the exact type before "any type" ('' sorts last) */
	int rc = db_queryf(db, &st, e,
			   "SELECT sign_minutes, handle_days, visit_days, req_type "
			   "FROM time_limit_policies WHERE tenant_id = $1 AND category_id = $2 "
			   "AND (req_type = $3 OR req_type = '') ORDER BY req_type DESC LIMIT 1",
			   "iit", tenant_id, category_id, req_type ? req_type : "");
	if (rc)
		return rc;
	rc = db_step(st, e);
	*found = rc == DB_ROW;
	if (rc == DB_ROW) {
		out->sign_minutes = (int)db_column_int64(st, 0);
		out->handle_days = (int)db_column_int64(st, 1);
		out->visit_days = (int)db_column_int64(st, 2);
		bool typ = *db_column_text(st, 3) != '\0';
		out->source = category_id ? (typ ? "category+type" : "category")
					  : (typ ? "type" : "tenant");
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

#define MAX_CATEGORY_DEPTH 16

int request_limits(struct db *db, int64_t tenant_id, int64_t category_id, const char *req_type,
		   struct time_limits *out, struct err *e)
{
	/* the category, then its ancestors (a policy of 证照办理 covers 营业执照
	 * unless that has its own), then "any category" */
	int64_t chain[MAX_CATEGORY_DEPTH + 1];
	int n = 0, rc;
	if (category_id) {
		struct db_stmt *st = NULL;
		char path[256] = "";
		if ((rc = db_queryf(db, &st, e,
				    "SELECT path FROM request_categories WHERE tenant_id = $1 AND id = $2",
				    "ii", tenant_id, category_id)))
			return rc;
		rc = db_step(st, e);
		if (rc == DB_ROW)
			snprintf(path, sizeof path, "%s", db_column_text(st, 0));
		db_finalize(st);
		if (rc < 0)
			return rc;
		/* '/3/17/' -> 17, 3 */
		int64_t ids[MAX_CATEGORY_DEPTH];
		int k = 0;
		for (char *p = path; *p && k < MAX_CATEGORY_DEPTH;) {
			char *end;
			long long v = strtoll(p + (*p == '/'), &end, 10);
			if (end == p + (*p == '/'))
				break;
			ids[k++] = v;
			p = end;
		}
		if (k == 0 || ids[k - 1] != category_id) {
			ids[0] = category_id; /* no usable path: the category alone */
			k = 1;
		}
		while (k > 0)
			chain[n++] = ids[--k];
	}
	chain[n++] = 0;
	for (int i = 0; i < n; i++) {
		bool found = false;
		if ((rc = policy_row(db, tenant_id, chain[i], req_type, out, &found, e)))
			return rc;
		if (found)
			return 0;
	}
	request_default_limits(req_type, out);
	return 0;
}

void request_default_limits(const char *req_type, struct time_limits *out)
{
	out->source = "default";
	out->sign_minutes = 450;
	out->handle_days = 5;
	out->visit_days = 3;
	for (size_t i = 0; req_type && i < ARRAY_SIZE(default_limits); i++)
		if (strcmp(default_limits[i].type, req_type) == 0) {
			out->sign_minutes = default_limits[i].sign_minutes;
			out->handle_days = default_limits[i].handle_days;
			out->visit_days = default_limits[i].visit_days;
		}
}

/* ---- writing ---- */

static int next_number(struct db *db, int64_t tenant, int64_t now, char out[24], struct err *e)
{
	char day[16], lo[24], hi[24];
	workcal_format_date(workcal_local_day(now), day, sizeof day);
	/* "2026-11-29" -> "20261129" */
	char d8[9] = {day[0], day[1], day[2], day[3], day[5], day[6], day[8], day[9], '\0'};
	snprintf(lo, sizeof lo, "%s-", d8);
	snprintf(hi, sizeof hi, "%s.", d8);
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT MAX(number) FROM requests WHERE tenant_id = $1 AND number > $2 "
			   "AND number < $3",
			   "itt", tenant, lo, hi);
	if (rc)
		return rc;
	int64_t seq = 0;
	rc = db_step(st, e);
	if (rc == DB_ROW && !db_column_is_null(st, 0))
		parse_i64(db_column_text(st, 0) + 9, &seq);
	db_finalize(st);
	if (rc < 0)
		return rc;
	snprintf(out, 24, "%s-%06" PRId64, d8, seq + 1);
	return 0;
}

/* An event and its audit row; d: the event's data as JSON text with sorted keys, or NULL. */
static int add_event(struct db *db, const struct actor *who, int64_t tenant, int64_t req,
		     int64_t now, const char *action, enum req_state from, enum req_state to,
		     const char *pub, const char *internal, const char *d, int64_t *event_id,
		     struct err *e)
{
	struct db_stmt *st = NULL;
	const char *name = who && who->user_id ? (who->display_name[0] ? who->display_name : who->login)
					       : "数字员工";
	int rc = db_queryf(db, &st, e,
			   "INSERT INTO request_events (tenant_id, request_id, at, actor_id, actor_name, "
			   "action, from_state, to_state, public_note, internal_note, data) "
			   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
			   "iiiitttttt" "t", tenant, req, now, who ? who->user_id : (int64_t)0, name,
			   action, from == RS__COUNT ? "" : req_state_name(from),
			   to == RS__COUNT ? "" : req_state_name(to), pub ? pub : "",
			   internal ? internal : "", d ? d : "{}");
	if (!rc) {
		rc = db_step(st, e);
		if (rc == DB_ROW && event_id)
			*event_id = db_column_int64(st, 0);
		rc = rc < 0 ? rc : 0;
	}
	db_finalize(st);
	if (!rc) { /* {"action", "data", "from", "to"}: sorted, as audit_append would write it */
		struct buf sum;
		struct jsonw w;
		buf_init(&sum, 0);
		jsonw_init(&w, &sum, 17);
		jsonw_object(&w);
		jsonw_kstr(&w, "action", action);
		if (d) {
			jsonw_key(&w, "data");
			jsonw_raw(&w, d, strlen(d));
		}
		jsonw_kstr(&w, "from", from == RS__COUNT ? "" : req_state_name(from));
		jsonw_kstr(&w, "to", to == RS__COUNT ? "" : req_state_name(to));
		jsonw_end(&w);
		rc = jsonw_finish(&w) ? err_set(e, ERR_INTERNAL, NULL, "内部错误", "audit summary")
				      : audit_append_text(db, who, tenant, "request", req, action,
							  sum.p, e);
		buf_release(&sum);
	}
	return rc;
}

/* The rest of a new request's row as the INSERT below stores it, with the
 * defaults of the table (sql/) and the texts cut to their buffers as
 * read_row_text() would; the names and the grid path were read before.
 * test_request compares it with the row read back. */
static void created_row(const struct request_create *c, const char *title, int64_t grid,
			struct request *n)
{
	const struct request_input *in = &c->in;
	n->id = c->id;
	n->tenant_id = c->tenant_id;
	snprintf(n->number, sizeof n->number, "%s", c->number);
	snprintf(n->channel, sizeof n->channel, "%s", in->channel);
	snprintf(n->req_type, sizeof n->req_type, "%s", in->req_type);
	n->category_id = in->category_id;
	n->enterprise_id = in->enterprise_id;
	snprintf(n->contact_name, sizeof n->contact_name, "%s",
		 in->contact_name ? in->contact_name : "");
	snprintf(n->contact_phone, sizeof n->contact_phone, "%s",
		 in->contact_phone ? in->contact_phone : "");
	snprintf(n->title, sizeof n->title, "%s", title);
	n->content = xstrdup(in->content);
	snprintf(n->address, sizeof n->address, "%s", in->address ? in->address : "");
	n->has_location = in->set_location;
	n->lat = in->set_location ? in->lat : 0;
	n->lon = in->set_location ? in->lon : 0;
	n->grid_id = grid;
	snprintf(n->urgency, sizeof n->urgency, "%s", in->urgency ? in->urgency : "normal");
	n->state = RS_RECEIVED;
	n->paused_from = RS_IN_PROGRESS; /* the column's '' */
	n->created_by = c->who ? c->who->user_id : 0;
	n->received_at = n->created_at = n->updated_at = c->now;
	n->rating_solved = -1;
	n->closed_on_time = -1;
	n->version = 1;
}

int request_create(struct db *db, void *arg, struct err *e)
{
	struct request_create *c = arg;
	struct request_input *in = &c->in;
	struct db_stmt *st = NULL;
	struct request row, *n = &row; /* the row as stored, made here rather than read back */
	memset(n, 0, sizeof *n);
	int rc = request_validate(in, e);
	if (rc)
		return rc;
	if (in->category_id) {
		rc = db_queryf(db, &st, e,
			       "SELECT name FROM request_categories WHERE tenant_id = $1 AND id = $2 "
			       "AND active = 1",
			       "ii", c->tenant_id, in->category_id);
		if (rc)
			return rc;
		rc = db_step(st, e);
		if (rc == DB_ROW)
			COPY(n->category_name, 0);
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			return rc;
		if (rc == DB_DONE)
			return err_set(e, ERR_UNPROCESSABLE, "category_id", "诉求分类不存在或已停用",
				       "no such active category");
	}
	int64_t grid = 0;
	if (in->enterprise_id) {
		rc = db_queryf(db, &st, e,
			       "SELECT e.grid_id, e.name, COALESCE(g.path, '') FROM enterprises e "
			       "LEFT JOIN grids g ON g.id = e.grid_id "
			       "WHERE e.tenant_id = $1 AND e.id = $2",
			       "ii", c->tenant_id, in->enterprise_id);
		if (rc)
			return rc;
		rc = db_step(st, e);
		if (rc == DB_ROW) {
			grid = db_column_is_null(st, 0) ? 0 : db_column_int64(st, 0);
			COPY(n->enterprise_name, 1);
			COPY(n->grid_path, 2);
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			return rc;
		if (rc == DB_DONE)
			return err_set(e, ERR_UNPROCESSABLE, "enterprise_id", "企业不存在",
				       "no such enterprise");
	}
	if (in->set_location) { /* placed by its own location first, else by its enterprise's */
		int64_t g = 0;
		if ((rc = grid_locate(db, c->tenant_id, in->lon, in->lat, &g, e)))
			return rc;
		if (g && g != grid) {
			grid = g;
			memset(n->grid_path, 0, sizeof n->grid_path);
			rc = db_queryf(db, &st, e, "SELECT path FROM grids WHERE id = $1", "i", grid);
			if (rc)
				return rc;
			rc = db_step(st, e);
			if (rc == DB_ROW)
				COPY(n->grid_path, 0);
			db_finalize(st);
			st = NULL;
			if (rc < 0)
				return rc;
		}
	}
	rc = next_number(db, c->tenant_id, c->now, c->number, e);
	if (rc)
		return rc;
	/* a title from the content when none is given: its first 30 characters */
	char title[404]; /* 100 characters of up to 4 bytes */
	if (in->title && in->title[strspn(in->title, " \t\r\n")])
		snprintf(title, sizeof title, "%s", in->title);
	else {
		const char *p = in->content;
		size_t k = 0, chars = 0;
		while (p[k] && chars < 30 && p[k] != '\n') {
			k++;
			while (((unsigned char)p[k] & 0xC0) == 0x80)
				k++;
			chars++;
		}
		snprintf(title, sizeof title, "%.*s", (int)k, p);
	}
	/* 'I': 0 stores NULL (no category, enterprise or grid) */
#define INSERT_REQUEST(lat, lon)                                                              \
	"INSERT INTO requests (tenant_id, number, channel, req_type, category_id, "           \
	"enterprise_id, contact_name, contact_phone, title, content, address, grid_id, "      \
	"urgency, state, created_by, received_at, created_at, updated_at, lat, lon) VALUES "  \
	"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'received', $14, $15, "     \
	"$15, $15, " lat ", " lon ") RETURNING id"
	const char *urgency = in->urgency ? in->urgency : "normal";
	int64_t by = c->who ? c->who->user_id : 0;
	if (in->set_location)
		rc = db_queryf(db, &st, e, INSERT_REQUEST("$16", "$17"), "ittt" "IIttttt" "Itii" "dd",
			       c->tenant_id, c->number, in->channel, in->req_type, in->category_id,
			       in->enterprise_id, in->contact_name ? in->contact_name : "",
			       in->contact_phone ? in->contact_phone : "", title, in->content,
			       in->address ? in->address : "", grid, urgency, by, c->now, in->lat,
			       in->lon);
	else
		rc = db_queryf(db, &st, e, INSERT_REQUEST("NULL", "NULL"), "ittt" "IIttttt" "Itii",
			       c->tenant_id, c->number, in->channel, in->req_type, in->category_id,
			       in->enterprise_id, in->contact_name ? in->contact_name : "",
			       in->contact_phone ? in->contact_phone : "", title, in->content,
			       in->address ? in->address : "", grid, urgency, by, c->now);
#undef INSERT_REQUEST
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		c->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	struct buf data;
	struct jsonw w;
	buf_init(&data, 0);
	jsonw_init(&w, &data, 17);
	jsonw_object(&w); /* sorted keys */
	jsonw_kstr(&w, "channel", in->channel);
	jsonw_kstr(&w, "number", c->number);
	jsonw_kstr(&w, "type", in->req_type);
	jsonw_end(&w);
	rc = jsonw_finish(&w) ? err_set(e, ERR_INTERNAL, NULL, "内部错误", "event data")
			      : add_event(db, c->who, c->tenant_id, c->id, c->now, "submit",
					  RS__COUNT, RS_RECEIVED, "诉求已受理", NULL, data.p, NULL, e);
	buf_release(&data);
	if (!rc) {
		created_row(c, title, grid, n);
		rc = request_stats_apply(db, NULL, n, e); /* the live rates' counters */
		if (!rc) /* webhooks hear of it in this same transaction */
			rc = jobs_on_request_event(db, c->tenant_id, c->id, n, "submit", RS__COUNT,
						   c->now, e);
		if (!rc && c->row) {
			request_release(c->row);
			*c->row = *n; /* handed over: the caller need not read it again */
		} else
			request_release(n);
	}
	return rc;
}

int request_set_grid(struct db *db, int64_t tenant_id, int64_t id, int64_t grid_id,
		     struct err *e)
{
	struct request r, n;
	int rc = request_get(db, tenant_id, id, &r, e);
	if (rc)
		return rc;
	if (r.grid_id == grid_id) {
		request_release(&r);
		return 0;
	}
	rc = db_execf(db, e, "UPDATE requests SET grid_id = $1 WHERE tenant_id = $2 AND id = $3",
		      "Iii", grid_id, tenant_id, id);
	if (!rc)
		rc = request_get(db, tenant_id, id, &n, e);
	if (!rc) {
		rc = request_stats_apply(db, &r, &n, e); /* the grid cube follows the move */
		request_release(&n);
	}
	request_release(&r);
	return rc;
}

static int note_field(const char *v, const char *field, bool required, struct err *e)
{
	return text_check(v, field, strcmp(field, "public_note") == 0 ? "答复/说明" : "内部备注", 2000,
			  required, e);
}

static int pending_app(struct db *db, int64_t tenant, int64_t req, const char *kind,
		       int64_t *id, int64_t *days, struct err *e)
{
	struct db_stmt *st = NULL;
	*id = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, days FROM request_applications WHERE tenant_id = $1 AND "
			   "request_id = $2 AND kind = $3 AND status = 'pending' ORDER BY id LIMIT 1",
			   "iit", tenant, req, kind);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		*id = db_column_int64(st, 0);
		if (days)
			*days = db_column_int64(st, 1);
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* Urgent and critical requests must be signed for sooner (the Zhengzhou rule:
 * urgent matters contacted within 30 minutes to 2 hours); the caps are tenant
 * settings and never lengthen a policy's limit. */
static int urgency_cap(struct db *db, int64_t tenant, const char *urgency,
		       struct time_limits *lim, struct err *e)
{
	const char *key = strcmp(urgency, "critical") == 0 ? "urgency.critical_sign_minutes"
			  : strcmp(urgency, "urgent") == 0  ? "urgency.urgent_sign_minutes"
							    : NULL;
	int64_t cap;
	if (!key)
		return 0;
	int rc = settings_get_int(db, tenant, key, &cap, e);
	if (!rc && cap < lim->sign_minutes)
		lim->sign_minutes = (int)cap;
	return rc;
}

static int cal_fail(struct err *e)
{
	if (e->code)
		return e->code;
	return err_set(e, ERR_UNPROCESSABLE, NULL, "无法计算期限（日期超出日历范围）",
		       "cannot compute the deadline (outside the calendar's years)");
}

/* Write the mutable columns of n over the row that has version r->version. */
static int save(struct db *db, const struct request *r, struct request *n, int64_t now,
		struct err *e)
{
	struct db_args a = {0};
	struct buf sql;
	struct db_stmt *st = NULL;
	n->version = r->version + 1;
	n->updated_at = now;
	buf_init(&sql, 0);
	buf_addf(&sql, "UPDATE requests SET state = $%d, paused_from = $%d, ",
		 db_args_text(&a, req_state_name(n->state)),
		 db_args_text(&a, n->state == RS_PAUSED ? req_state_name(n->paused_from) : ""));
#define REF(col, v)                                                                           \
	do {                                                                                  \
		if (v)                                                                        \
			buf_addf(&sql, col " = $%d, ", db_args_int(&a, (v)));                 \
		else                                                                          \
			buf_adds(&sql, col " = NULL, ");                                      \
	} while (0)
	REF("department_id", n->department_id);
	REF("handler_id", n->handler_id);
	REF("category_id", n->category_id);
	REF("master_id", n->master_id);
#undef REF
	buf_addf(&sql,
		 "reopen_count = $%d, supervision_level = $%d, dispatched_at = $%d, signed_at = $%d, "
		 "replied_at = $%d, closed_at = $%d, sign_due_at = $%d, handle_due_at = $%d, "
		 "visit_due_at = $%d, paused_at = $%d, paused_ms = $%d, extended_days = $%d, "
		 "clock_from = $%d, ",
		 db_args_int(&a, n->reopen_count), db_args_int(&a, n->supervision_level),
		 db_args_int(&a, n->dispatched_at), db_args_int(&a, n->signed_at),
		 db_args_int(&a, n->replied_at), db_args_int(&a, n->closed_at),
		 db_args_int(&a, n->sign_due_at), db_args_int(&a, n->handle_due_at),
		 db_args_int(&a, n->visit_due_at), db_args_int(&a, n->paused_at),
		 db_args_int(&a, n->paused_ms), db_args_int(&a, n->extended_days),
		 db_args_int(&a, n->clock_from));
	if (n->rating_solved >= 0)
		buf_addf(&sql, "rating_solved = $%d, ", db_args_int(&a, n->rating_solved));
	else
		buf_adds(&sql, "rating_solved = NULL, ");
	if (n->closed_on_time >= 0)
		buf_addf(&sql, "closed_on_time = $%d, ", db_args_int(&a, n->closed_on_time));
	else
		buf_adds(&sql, "closed_on_time = NULL, ");
	buf_addf(&sql,
		 "rating = $%d, rating_comment = $%d, version = $%d, updated_at = $%d "
		 "WHERE tenant_id = $%d AND id = $%d AND version = $%d",
		 db_args_text(&a, n->rating), db_args_text(&a, n->rating_comment),
		 db_args_int(&a, n->version), db_args_int(&a, now), db_args_int(&a, r->tenant_id),
		 db_args_int(&a, r->id), db_args_int(&a, r->version));
	int rc = db_query_args(db, &st, e, sql.p, &a);
	buf_release(&sql);
	if (!rc) {
		rc = db_step(st, e);
		rc = rc < 0 ? rc : 0;
	}
	db_finalize(st);
	if (!rc && db_changes(db) != 1)
		rc = err_set(e, ERR_CONFLICT, "version", "诉求已被他人修改，请刷新后重试",
			     "the request was changed meanwhile; reload and retry");
	return rc;
}

static void close_now(const struct request *r, struct request *n, int64_t now)
{
	n->closed_at = now;
	n->visit_due_at = 0;
	n->closed_on_time = r->handle_due_at ? (r->replied_at && r->replied_at <= r->handle_due_at) : 1;
}

/* The reply deadline as it stands at `now`: while paused, moved by the pause so far. */
static int64_t effective_due(const struct workcal *cal, const struct request *r, int64_t now)
{
	int64_t due = r->handle_due_at;
	if (due && r->state == RS_PAUSED && r->paused_at && cal &&
	    workcal_extend_for_pause(cal, r->handle_due_at, r->paused_at, now, WORKCAL_UNIT_DAYS,
				     &due, NULL))
		due = r->handle_due_at;
	return due;
}

/* The kind of application an action applies for or decides; NULL for the others. */
static const char *app_kind(enum req_action a)
{
	switch (a) {
	case RA_RETURN_APPLY:
	case RA_RETURN_DECIDE:
		return "return";
	case RA_EXTEND_APPLY:
	case RA_EXTEND_DECIDE:
		return "extension";
	default:
		return NULL;
	}
}

/*
 * What an action needs beyond the state (request_actions offers only what
 * passes): an application to decide, none pending to apply again, an
 * extension before the deadline, reopening a closed request only after an
 * unsatisfied rating. app_id is the oldest pending application of the
 * action's kind (app_kind), 0 if none.
 */
static int check_conditions(const struct request *r, enum req_action a, int64_t now,
			    const struct workcal *cal, int64_t app_id, struct err *e)
{
	switch (a) {
	case RA_RETURN_APPLY:
	case RA_EXTEND_APPLY:
	case RA_RETURN_DECIDE:
	case RA_EXTEND_DECIDE: {
		bool apply = a == RA_RETURN_APPLY || a == RA_EXTEND_APPLY;
		if (a == RA_EXTEND_APPLY) {
			int64_t due = effective_due(cal, r, now);
			if (!due || now > due)
				return err_set(e, ERR_UNPROCESSABLE, "days",
					       "已超过办理期限，不能再申请延期（须在期限前申请）",
					       "the handling deadline has passed: an extension must be "
					       "asked for before it");
		}
		if (apply && app_id)
			return err_set(e, ERR_CONFLICT, "action", "已有待审批的申请",
				       "an application of this kind is already pending");
		if (!apply && !app_id)
			return err_set(e, ERR_CONFLICT, "action", "没有待审批的申请",
				       "there is no pending application to decide");
		return 0;
	}
	case RA_REOPEN:
		if (r->state == RS_CLOSED && strcmp(r->rating, "unsatisfied") != 0)
			return err_set(e, ERR_CONFLICT, "state", "只有评价为不满意的诉求可以重办",
				       "only a request rated unsatisfied can be reopened");
		return 0;
	default:
		return 0;
	}
}

/* check_conditions with the pending application read from the database (its id and
 * days to app_id and app_days). */
static int conditions(struct db *db, const struct request *r, enum req_action a, int64_t now,
		      const struct workcal *cal, int64_t *app_id, int64_t *app_days, struct err *e)
{
	const char *kind = app_kind(a);
	int rc;
	*app_id = 0;
	if (kind && (rc = pending_app(db, r->tenant_id, r->id, kind, app_id, app_days, e)))
		return rc;
	return check_conditions(r, a, now, cal, *app_id, e);
}

unsigned request_actions_until(const struct actor *who, const struct request *r,
			       const struct request_application *apps, size_t napps, int64_t now,
			       const struct workcal *cal, int64_t *until)
{
	unsigned set = request_actions(who, r, apps, napps, now, cal);
	/* Time changes one condition only: an extension is asked for before the handling
	 * deadline. Offered now, it is until just after it (later if the clock is paused:
	 * the deadline then moves on with the time, so this bound comes first); refused for
	 * a deadline passed, it stays refused. */
	if (until && (set & (1u << RA_EXTEND_APPLY))) {
		int64_t due = effective_due(cal, r, now);
		if (due < INT64_MAX && due + 1 < *until)
			*until = due + 1;
	}
	return set;
}

unsigned request_actions(const struct actor *who, const struct request *r,
			 const struct request_application *apps, size_t napps, int64_t now,
			 const struct workcal *cal)
{
	unsigned out = 0;
	for (int i = 0; i < RA__COUNT; i++) {
		enum req_action a = (enum req_action)i;
		if (a == RA_AUTO_CLOSE || !request_action_allowed(a, r->state))
			continue;
		enum scope sc = authz_scope(who, steps[a].perm);
		if (sc == SCOPE_NONE || !request_visible(who, sc, r))
			continue;
		const char *kind = app_kind(a);
		int64_t app_id = 0;
		for (size_t k = 0; kind && k < napps && !app_id; k++) /* the oldest pending one */
			if (strcmp(apps[k].kind, kind) == 0 && strcmp(apps[k].status, "pending") == 0)
				app_id = apps[k].id;
		struct err e2;
		err_clear(&e2);
		if (!check_conditions(r, a, now, cal, app_id, &e2))
			out |= 1u << a;
	}
	return out;
}

/* Applications that can no longer be decided once the request is in state s lapse. */
static int lapse_applications(struct db *db, const struct request *r, enum req_state s,
			      int64_t now, json_t *data, struct err *e)
{
	static const struct {
		const char *kind;
		enum req_action decide;
	} kinds[] = {{"return", RA_RETURN_DECIDE}, {"extension", RA_EXTEND_DECIDE}};
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (request_action_allowed(kinds[i].decide, s))
			continue;
		int rc = db_execf(db, e,
				  "UPDATE request_applications SET status = 'refused', decided_at = $1, "
				  "decision_note = $2 WHERE tenant_id = $3 AND request_id = $4 "
				  "AND kind = $5 AND status = 'pending'",
				  "itiit", now, "已失效：诉求已进入其他环节 / lapsed: the request moved on",
				  r->tenant_id, r->id, kinds[i].kind);
		if (rc)
			return rc;
		if (db_changes(db) > 0)
			json_object_set_new(data, kinds[i].kind[0] == 'r' ? "lapsed_return"
									  : "lapsed_extension",
					    json_true());
	}
	return 0;
}

int request_act(struct db *db, void *arg, struct err *e)
{
	struct request_step *s = arg;
	struct request r, n;
	json_t *data = json_object();
	const char *pub = s->public_note, *internal = s->internal_note;
	int64_t app_id = 0, app_days = 0;
	int rc;

	memset(&r, 0, sizeof r);
	if ((unsigned)s->action >= RA__COUNT) {
		rc = err_set(e, ERR_BAD_REQUEST, "action", "未知操作", "unknown action");
		goto out;
	}
	rc = request_get(db, s->tenant_id, s->id, &r, e);
	if (rc)
		goto out;
	bool system = !s->who || !s->who->user_id;
	/* the system (the digital employee) auto-closes and escalates (supervise), nothing else */
	if (s->action == RA_AUTO_CLOSE ? !system
	    : system                   ? s->action != RA_SUPERVISE
				       : !request_visible(s->who, s->scope, &r)) {
		rc = err_set(e, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
		goto out;
	}
	if (s->expect_version && s->expect_version != r.version) {
		rc = err_set(e, ERR_CONFLICT, "version", "诉求已被他人修改，请刷新后重试",
			     "the request was changed meanwhile; reload and retry");
		goto out;
	}
	if (!request_action_allowed(s->action, r.state)) {
		char mzh[160], men[160];
		snprintf(mzh, sizeof mzh, "当前状态（%s）不能执行“%s”", req_state_zh(r.state),
			 req_action_name(s->action));
		snprintf(men, sizeof men, "action '%s' is not possible in state '%s'",
			 req_action_name(s->action), req_state_name(r.state));
		rc = err_set_msg(e, ERR_CONFLICT, "state", mzh, men);
		goto out;
	}
	if ((rc = conditions(db, &r, s->action, s->now, s->cal, &app_id, &app_days, e)))
		goto out;
	if ((rc = note_field(pub, "public_note", false, e)) ||
	    (rc = note_field(internal, "internal_note", false, e)))
		goto out;
	if (!s->cal && s->action != RA_NOTE) {
		rc = err_set(e, ERR_INTERNAL, NULL, "缺少工作日历", "no working-day calendar");
		goto out;
	}

	n = r;
	n.content = NULL; /* not written; r keeps ownership */
	int to = steps[s->action].to;
	n.state = to == SAME ? r.state : (enum req_state)to;
	struct time_limits lim;
	bool uncertain = false;

	switch (s->action) {
	case RA_DISPATCH: {
		int64_t ok = 0;
		if (!s->department_id) {
			rc = err_set(e, ERR_BAD_REQUEST, "department_id", "请选择承办部门",
				     "department_id is required");
			goto out;
		}
		if ((rc = db_query_i64(db, &ok, e,
				       "SELECT COUNT(*) FROM departments WHERE tenant_id = $1 AND id = $2 "
				       "AND active = 1",
				       "ii", s->tenant_id, s->department_id)))
			goto out;
		if (!ok) {
			rc = err_set(e, ERR_UNPROCESSABLE, "department_id", "承办部门不存在或已停用",
				     "no such active department");
			goto out;
		}
		if (s->category_id) {
			if ((rc = db_query_i64(db, &ok, e,
					       "SELECT COUNT(*) FROM request_categories WHERE tenant_id = $1 "
					       "AND id = $2 AND active = 1",
					       "ii", s->tenant_id, s->category_id)))
				goto out;
			if (!ok) {
				rc = err_set(e, ERR_UNPROCESSABLE, "category_id", "诉求分类不存在或已停用",
					     "no such active category");
				goto out;
			}
			n.category_id = s->category_id;
		}
		if ((rc = request_limits(db, s->tenant_id, n.category_id, r.req_type, &lim, e)) ||
		    (rc = urgency_cap(db, s->tenant_id, r.urgency, &lim, e)))
			goto out;
		n.department_id = s->department_id;
		n.handler_id = 0;
		n.dispatched_at = n.clock_from = s->now;
		n.signed_at = 0;
		n.extended_days = 0;
		n.paused_ms = 0;
		if (workcal_add_workhours(s->cal, s->now, lim.sign_minutes, &n.sign_due_at, &uncertain) ||
		    workcal_add_workdays(s->cal, s->now, lim.handle_days, &n.handle_due_at, &uncertain)) {
			rc = cal_fail(e);
			goto out;
		}
		json_object_set_new(data, "department_id", json_integer(n.department_id));
		json_object_set_new(data, "sign_due_at", json_integer(n.sign_due_at));
		json_object_set_new(data, "handle_due_at", json_integer(n.handle_due_at));
		json_object_set_new(data, "limits", json_pack("{s:i,s:i,s:s}", "sign_minutes",
							      lim.sign_minutes, "handle_days",
							      lim.handle_days, "source", lim.source));
		break;
	}
	case RA_SIGN:
		n.handler_id = s->who->user_id;
		n.signed_at = s->now;
		json_object_set_new(data, "on_time", json_boolean(s->now <= r.sign_due_at || !r.sign_due_at));
		break;
	case RA_START:
		break;
	case RA_REPLY:
		if ((rc = note_field(pub, "public_note", true, e)))
			goto out;
		if ((rc = request_limits(db, s->tenant_id, r.category_id, r.req_type, &lim, e)))
			goto out;
		n.replied_at = s->now;
		if (workcal_add_workdays(s->cal, s->now, lim.visit_days, &n.visit_due_at, &uncertain)) {
			rc = cal_fail(e);
			goto out;
		}
		json_object_set_new(data, "on_time",
				    json_boolean(!r.handle_due_at || s->now <= r.handle_due_at));
		break;
	case RA_RETURN_APPLY:
	case RA_EXTEND_APPLY: {
		const char *kind = s->action == RA_RETURN_APPLY ? "return" : "extension";
		if ((rc = note_field(internal, "internal_note", true, e)))
			goto out;
		if (s->action == RA_EXTEND_APPLY) {
			if (s->days < 1 || s->days > 30) {
				rc = err_set(e, ERR_UNPROCESSABLE, "days", "延期天数应为 1 到 30 个工作日",
					     "days must be 1 to 30 working days");
				goto out;
			}
		}
		if ((rc = db_execf(db, e,
				   "INSERT INTO request_applications (tenant_id, request_id, kind, days, "
				   "reason, applicant_id, applied_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
				   "iitit" "ii", s->tenant_id, r.id, kind,
				   (int64_t)(s->action == RA_EXTEND_APPLY ? s->days : 0), internal,
				   s->who->user_id, s->now)))
			goto out;
		if (s->action == RA_EXTEND_APPLY)
			json_object_set_new(data, "days", json_integer(s->days));
		break;
	}
	case RA_RETURN_DECIDE:
	case RA_EXTEND_DECIDE: {
		if ((rc = db_execf(db, e,
				   "UPDATE request_applications SET status = $1, decided_by = $2, "
				   "decided_at = $3, decision_note = $4 WHERE id = $5",
				   "tiiti", s->approve ? "approved" : "refused", s->who->user_id, s->now,
				   internal ? internal : (pub ? pub : ""), app_id)))
			goto out;
		json_object_set_new(data, "approved", json_boolean(s->approve));
		if (!s->approve)
			break;
		if (s->action == RA_RETURN_DECIDE) {
			n.state = RS_RETURNED;
			json_object_set_new(data, "department_id", json_integer(r.department_id));
			n.department_id = n.handler_id = 0;
			n.sign_due_at = n.handle_due_at = 0;
		} else {
			int64_t due;
			if (workcal_add_workdays(s->cal, r.handle_due_at, app_days, &due, &uncertain)) {
				rc = cal_fail(e);
				goto out;
			}
			n.handle_due_at = due;
			n.extended_days += (int)app_days;
			json_object_set_new(data, "days", json_integer(app_days));
			json_object_set_new(data, "handle_due_at", json_integer(due));
		}
		break;
	}
	case RA_RETURN:
		if ((rc = note_field(internal, "internal_note", true, e)))
			goto out;
		json_object_set_new(data, "department_id", json_integer(r.department_id));
		n.department_id = n.handler_id = 0;
		n.sign_due_at = n.handle_due_at = 0;
		break;
	case RA_PAUSE:
		if ((rc = note_field(pub, "public_note", true, e)))
			goto out;
		n.paused_from = r.state;
		n.paused_at = s->now;
		break;
	case RA_RESUME: {
		int64_t due = r.handle_due_at;
		if (due && workcal_extend_for_pause(s->cal, r.handle_due_at, r.paused_at, s->now,
						    WORKCAL_UNIT_DAYS, &due, &uncertain)) {
			rc = cal_fail(e);
			goto out;
		}
		n.state = r.paused_from;
		n.handle_due_at = due;
		n.paused_ms += s->now - r.paused_at;
		n.paused_at = 0;
		json_object_set_new(data, "paused_ms", json_integer(s->now - r.paused_at));
		json_object_set_new(data, "handle_due_at", json_integer(due));
		break;
	}
	case RA_SUPERVISE:
		if (s->level < 1 || s->level > 3) {
			rc = err_set(e, ERR_UNPROCESSABLE, "level", "督办级别应为 1 到 3",
				     "level must be 1 to 3");
			goto out;
		}
		if (s->level > n.supervision_level)
			n.supervision_level = s->level;
		json_object_set_new(data, "level", json_integer(n.supervision_level));
		break;
	case RA_RATE:
		if (!s->rating || (strcmp(s->rating, "satisfied") && strcmp(s->rating, "basic") &&
				   strcmp(s->rating, "unsatisfied"))) {
			rc = err_set(e, s->rating ? ERR_UNPROCESSABLE : ERR_BAD_REQUEST, "rating",
				     "评价应为 satisfied（满意）、basic（基本满意）或 unsatisfied（不满意）",
				     "rating must be satisfied, basic or unsatisfied");
			goto out;
		}
		if (pub && utf8_len(pub, strlen(pub)) > 300) {
			rc = err_set(e, ERR_UNPROCESSABLE, "public_note", "评价意见不能超过 300 个字符",
				     "the comment must not exceed 300 characters");
			goto out;
		}
		snprintf(n.rating, sizeof n.rating, "%s", s->rating);
		snprintf(n.rating_comment, sizeof n.rating_comment, "%s", pub ? pub : "");
		n.rating_solved = s->solved;
		close_now(&r, &n, s->now);
		json_object_set_new(data, "rating", json_string(s->rating));
		json_object_set_new(data, "solved", json_boolean(s->solved));
		break;
	case RA_CLOSE:
	case RA_AUTO_CLOSE:
		snprintf(n.rating, sizeof n.rating, "unrated");
		close_now(&r, &n, s->now);
		break;
	case RA_REOPEN:
		if ((rc = note_field(pub, "public_note", true, e)))
			goto out;
		if ((rc = request_limits(db, s->tenant_id, r.category_id, r.req_type, &lim, e)))
			goto out;
		if (workcal_add_workdays(s->cal, s->now, lim.handle_days, &n.handle_due_at, &uncertain)) {
			rc = cal_fail(e);
			goto out;
		}
		n.reopen_count++;
		n.clock_from = s->now;
		n.rating[0] = n.rating_comment[0] = '\0';
		n.rating_solved = -1;
		n.closed_at = n.replied_at = n.visit_due_at = 0;
		n.closed_on_time = -1;
		json_object_set_new(data, "handle_due_at", json_integer(n.handle_due_at));
		break;
	case RA_MERGE: {
		struct request m;
		struct err e2;
		if (!s->master_id || s->master_id == r.id) {
			rc = err_set(e, ERR_UNPROCESSABLE, "master_id", "请指定另一条主诉求",
				     "master_id must name another request");
			goto out;
		}
		if (request_get(db, s->tenant_id, s->master_id, &m, &e2)) {
			rc = err_set(e, ERR_UNPROCESSABLE, "master_id", "主诉求不存在",
				     "no such master request");
			goto out;
		}
		enum req_state ms = m.state;
		request_release(&m);
		if (ms == RS_MERGED || ms == RS_VOIDED) {
			rc = err_set(e, ERR_UNPROCESSABLE, "master_id", "主诉求已合并或作废",
				     "the master request is itself merged or voided");
			goto out;
		}
		n.master_id = s->master_id;
		n.sign_due_at = n.handle_due_at = 0;
		json_object_set_new(data, "master_id", json_integer(s->master_id));
		break;
	}
	case RA_VOID:
		if ((rc = note_field(internal, "internal_note", true, e)))
			goto out;
		break;
	case RA_NOTE:
		if ((!pub || !*pub) && (!internal || !*internal)) {
			rc = err_set(e, ERR_BAD_REQUEST, "public_note", "请填写备注",
				     "a note (public_note or internal_note) is required");
			goto out;
		}
		break;
	case RA__COUNT:
		break;
	}
	if (uncertain)
		json_object_set_new(data, "calendar_uncertain", json_true());

	if (n.state != r.state && (rc = lapse_applications(db, &r, n.state, s->now, data, e)))
		goto out;
	s->from = r.state;
	s->to = n.state;
	/* the version bumps on every step, so a stale page cannot act twice */
	rc = save(db, &r, &n, s->now, e);
	if (rc)
		goto out;
	char *d = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	rc = add_event(db, s->who, s->tenant_id, r.id, s->now, req_action_name(s->action), r.state,
		       n.state, pub, internal, d, &s->event_id, e);
	free(d);
	if (!rc)
		rc = request_stats_apply(db, &r, &n, e); /* the live rates' counters */
	if (!rc) /* webhooks hear of it in this same transaction */
		rc = jobs_on_request_event(db, s->tenant_id, r.id, &n, req_action_name(s->action),
					   r.state, s->now, e);
out:
	json_decref(data);
	request_release(&r);
	return rc;
}

/* ---- lists and the timeline ---- */

int64_t request_overdue_key(const struct request *r)
{
	switch (r->state) {
	case RS_DISPATCHED:
		if (r->sign_due_at && (!r->handle_due_at || r->sign_due_at <= r->handle_due_at))
			return r->sign_due_at;
		return r->handle_due_at;
	case RS_SIGNED:
	case RS_IN_PROGRESS:
		return r->handle_due_at;
	case RS_REPLIED:
		return r->visit_due_at;
	default:
		return 0;
	}
}

/*
 * The overdue queue's three kinds of lateness, each a range of one deadline in
 * the partial index of its states (sql/021), walked from the longest overdue.
 * A dispatched request late for both signing and reply is met by both walks:
 * the walk of its earlier deadline (request_overdue_key) takes it, the other
 * passes it by.
 */
static const struct {
	const char *col;  /* the deadline the walk is ordered by */
	const char *cond; /* the requests late by it; %d: the parameter of now */
} late[] = {
	{"r.handle_due_at",
	 REQ_HANDLING_SQL " AND r.handle_due_at > 0 AND "
	 "r.handle_due_at < $%d AND NOT (r.state = 'dispatched' AND r.sign_due_at > 0 AND "
	 "r.sign_due_at <= r.handle_due_at)"},
	{"r.sign_due_at",
	 "r.state = 'dispatched' AND r.sign_due_at > 0 AND r.sign_due_at < $%d AND "
	 "NOT (r.handle_due_at > 0 AND r.handle_due_at < r.sign_due_at)"},
	{"r.visit_due_at",
	 "r.state = 'replied' AND r.visit_due_at > 0 AND r.visit_due_at < $%d"},
};

int request_overdue_until(struct db *db, int64_t tenant_id, int64_t now, int64_t *until,
			  struct err *e)
{
	/* each on its partial index (sql/021): the first deadline not yet run out */
	static const char *const sql[] = {
		"SELECT min(r.handle_due_at) FROM requests r WHERE r.tenant_id = $1 AND "
		REQ_HANDLING_SQL " AND r.handle_due_at >= $2",
		"SELECT min(r.sign_due_at) FROM requests r WHERE r.tenant_id = $1 AND "
		"r.state = 'dispatched' AND r.sign_due_at >= $2",
		"SELECT min(r.visit_due_at) FROM requests r WHERE r.tenant_id = $1 AND "
		"r.state = 'replied' AND r.visit_due_at >= $2",
	};
	*until = INT64_MAX;
	for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
		struct db_stmt *st = NULL;
		int rc = db_queryf(db, &st, e, sql[i], "ii", tenant_id, now);
		if (rc)
			return rc;
		rc = db_step(st, e);
		/* late from the instant after its deadline: the page holds until then */
		if (rc == DB_ROW && !db_column_is_null(st, 0) && db_column_int64(st, 0) + 1 < *until)
			*until = db_column_int64(st, 0) + 1;
		db_finalize(st);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The states each view lists (a bit per enum req_state); 0: not by state. */
static unsigned view_states(enum request_view v)
{
	switch (v) {
	case RV_TO_DISPATCH: return S(RS_RECEIVED) | S(RS_RETURNED);
	case RV_TO_SIGN: return S(RS_DISPATCHED);
	case RV_OPEN: return OPEN_STATES;
	case RV_TO_RATE: return S(RS_REPLIED);
	case RV_CLOSED: return S(RS_CLOSED);
	default: return 0;
	}
}

#define WALKS_MAX 4 /* the most states of a view */

/* One ordered walk of a list (a state, a kind of lateness) and the row it stands on. */
struct walk {
	struct db_stmt *st;
	bool live;          /* row holds the walk's next request */
	struct request row;
	int64_t key;        /* the overdue queue: the deadline the walk is ordered by */
	int key_col;        /* its column (0: none) */
};

/* Step w to its next row; dead at the end. */
static int walk_next(struct walk *w, struct err *e)
{
	request_release(&w->row);
	w->live = false;
	int rc = db_step(w->st, e);
	if (rc != DB_ROW)
		return rc < 0 ? rc : 0;
	read_row_text(w->st, &w->row, false);
	w->key = w->key_col ? db_column_int64(w->st, w->key_col) : 0;
	w->live = true;
	return 0;
}

/*
 * Due soon, soonest reply deadline first: the running requests (not paused)
 * whose deadline has not passed and whose elapsed working time has reached
 * WORKCAL_SOON_DEFAULT of the time allowed. Deadlines fall at the end of
 * working days, so many requests share one; among those, the earlier the
 * clock started, the more of the time is used — once one is not due soon, no
 * later one of that deadline is. So the walk goes through the index of
 * (deadline, clock start) (sql/023) and, at the first request of a deadline
 * that is not due soon, jumps to the next deadline: it reads the requests it
 * returns and one more per deadline. `sql` holds the walk with its
 * parameters lo, start and id: (deadline, clock start, id) > (lo, start, id).
 */
static int due_soon_walk(struct db *db, const char *sql, struct db_args *a, int lo, int start,
			 int id, int64_t now, const struct workcal *cal, int64_t limit,
			 int (*each)(const struct request *r, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	struct request r;
	int64_t n = 0;
	int rc = 0;
	if (!cal)
		return 0;
	while (n < limit) {
		if ((rc = db_query_args(db, &st, e, sql, a)))
			break;
		bool jumped = false;
		while (n < limit && (rc = db_step(st, e)) == DB_ROW) {
			read_row_text(st, &r, false);
			if (workcal_state(cal, now, r.clock_from, r.handle_due_at, WORKCAL_SOON_DEFAULT,
					  NULL) != WORKCAL_DUE_SOON) {
				/* none after it with this deadline is: on to the next deadline */
				a->i[lo - 1] = r.handle_due_at;
				a->i[start - 1] = a->i[id - 1] = INT64_MAX;
				request_release(&r);
				jumped = true;
				break;
			}
			int stop = each(&r, ctx);
			request_release(&r);
			n++;
			if (stop)
				n = limit;
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0 || !jumped)
			break;
	}
	return rc < 0 ? rc : 0;
}

int request_list(struct db *db, const struct actor *who, enum scope scope,
		 const struct request_filter *f, int64_t now, const struct workcal *cal,
		 int (*each)(const struct request *r, void *ctx), void *ctx, struct err *e)
{
	static const struct scope_cols cols = {.dept = "r.department_id", .grid = "r.grid_id",
					       .owner = "r.created_by", .enterprise = "r.enterprise_id"};
	struct db_args a = {0};
	struct buf where, sql;
	struct walk walks[WALKS_MAX];
	size_t nwalks = 0;
	char like[256];
	int64_t limit = f->limit > 0 ? f->limit : 50, n = 0;
	bool overdue = f->view == RV_OVERDUE;
	int rc = 0;

	memset(walks, 0, sizeof walks);
	buf_init(&where, 0);
	buf_init(&sql, 0);
	/* what every walk shares: the tenant, the scope and the filters */
	int tenant = db_args_int(&a, who->tenant_id);
	if (scope_sql(who, scope, &cols, &where)) {
		rc = err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
		goto out;
	}
	if (f->view == RV_PENDING_DECISION)
		buf_addf(&where, " AND r.id IN (SELECT request_id FROM request_applications WHERE "
				 "tenant_id = $%d AND status = 'pending')", tenant);
	if (f->state && *f->state)
		buf_addf(&where, " AND r.state = $%d", db_args_text(&a, f->state));
#define EQ_ID(field, col)                                                                     \
	if (f->field)                                                                         \
		buf_addf(&where, " AND " col " = $%d", db_args_int(&a, f->field));
	EQ_ID(department_id, "r.department_id")
	EQ_ID(category_id, "r.category_id")
	EQ_ID(enterprise_id, "r.enterprise_id")
#undef EQ_ID
	if (f->grid_id) /* that grid and every grid below it (requests sit in unit grids) */
		buf_addf(&where,
			 " AND r.grid_id IN (SELECT g.id FROM grids g WHERE g.tenant_id = r.tenant_id "
			 "AND g.path LIKE (SELECT p.path FROM grids p WHERE p.tenant_id = r.tenant_id "
			 "AND p.id = $%d) || '%%')",
			 db_args_int(&a, f->grid_id));
	if (f->req_type && *f->req_type)
		buf_addf(&where, " AND r.req_type = $%d", db_args_text(&a, f->req_type));
	if (f->channel && *f->channel)
		buf_addf(&where, " AND r.channel = $%d", db_args_text(&a, f->channel));
	if (f->received_from)
		buf_addf(&where, " AND r.received_at >= $%d", db_args_int(&a, f->received_from));
	if (f->received_to)
		buf_addf(&where, " AND r.received_at < $%d", db_args_int(&a, f->received_to));
	if (f->q && *f->q) {
		db_like_contains(f->q, like, sizeof like);
		int q = db_args_text(&a, like);
		buf_addf(&where, " AND (r.number LIKE $%d ESCAPE '\\' OR r.title LIKE $%d ESCAPE '\\')",
			 q, q);
	}

	if (f->view == RV_DUE_SOON) {
		int t = db_args_int(&a, now);
		int lo = db_args_int(&a, f->after ? f->after_key : now);
		int start = db_args_int(&a, f->after ? f->after_start : -1);
		int id = db_args_int(&a, f->after);
		buf_adds(&sql, "SELECT " REQ_LIST_COLS REQ_FROM);
		buf_addf(&sql,
			 "WHERE r.tenant_id = $%d AND " REQ_HANDLING_SQL " "
			 "AND r.handle_due_at >= $%d AND r.handle_due_at >= $%d AND (r.handle_due_at > "
			 "$%d OR r.clock_from > $%d OR (r.clock_from = $%d AND r.id > $%d))",
			 tenant, t, lo, lo, start, start, id);
		buf_add(&sql, where.p, where.len);
		buf_adds(&sql, " ORDER BY r.handle_due_at, r.clock_from, r.id");
		rc = due_soon_walk(db, sql.p, &a, lo, start, id, now, cal, limit, each, ctx, e);
		goto out;
	}

	/* the walks */
	int lim = db_args_int(&a, limit);
	if (overdue) {
		int t = db_args_int(&a, now);
		int k = f->after ? db_args_int(&a, f->after_key) : 0;
		int after = f->after ? db_args_int(&a, f->after) : 0;
		for (size_t i = 0; i < ARRAY_SIZE(late); i++) {
			buf_reset(&sql);
			buf_adds(&sql, "SELECT " REQ_LIST_COLS ", ");
			buf_adds(&sql, late[i].col);
			buf_adds(&sql, REQ_FROM);
			buf_addf(&sql, "WHERE r.tenant_id = $%d AND ", tenant);
			buf_addf(&sql, late[i].cond, t);
			buf_add(&sql, where.p, where.len);
			if (k) /* after (key, id) of the previous page */
				buf_addf(&sql, " AND %s >= $%d AND (%s > $%d OR r.id > $%d)", late[i].col, k,
					 late[i].col, k, after);
			buf_addf(&sql, " ORDER BY %s, r.id LIMIT $%d", late[i].col, lim);
			walks[nwalks].key_col = REQ_NCOLS;
			if ((rc = db_query_args(db, &walks[nwalks++].st, e, sql.p, &a)))
				goto out;
		}
	} else if (view_states(f->view)) {
		/* a walk of the state index per state, newest first: each reads at most a page */
		unsigned states = view_states(f->view);
		int after = f->after ? db_args_int(&a, f->after) : 0;
		for (int s = 0; s < RS__COUNT; s++) {
			if (!(states & S(s)))
				continue;
			buf_reset(&sql);
			buf_adds(&sql, "SELECT " REQ_LIST_COLS REQ_FROM);
			buf_addf(&sql, "WHERE r.tenant_id = $%d AND r.state = '%s'", tenant,
				 req_state_name((enum req_state)s));
			buf_add(&sql, where.p, where.len);
			if (after)
				buf_addf(&sql, " AND r.id < $%d", after);
			buf_addf(&sql, " ORDER BY r.id DESC LIMIT $%d", lim);
			if ((rc = db_query_args(db, &walks[nwalks++].st, e, sql.p, &a)))
				goto out;
		}
	} else {
		/* all, or the requests with a pending application: one walk */
		int after = f->after ? db_args_int(&a, f->after) : 0;
		buf_adds(&sql, "SELECT " REQ_LIST_COLS REQ_FROM);
		buf_addf(&sql, "WHERE r.tenant_id = $%d", tenant);
		buf_add(&sql, where.p, where.len);
		if (after)
			buf_addf(&sql, " AND r.id < $%d", after);
		/* the requests with a pending application are few: let the planner find them
		 * and sort them ("+r.id" keeps it from walking the whole table in id order) */
		buf_addf(&sql, f->view == RV_PENDING_DECISION ? " ORDER BY +r.id DESC LIMIT $%d"
							       : " ORDER BY r.id DESC LIMIT $%d",
			 lim);
		if ((rc = db_query_args(db, &walks[nwalks++].st, e, sql.p, &a)))
			goto out;
	}
	for (size_t i = 0; i < nwalks; i++)
		if ((rc = walk_next(&walks[i], e)))
			goto out;

	/* merge: newest first, or the overdue queue longest overdue first */
	while (n < limit) {
		struct walk *best = NULL;
		for (size_t i = 0; i < nwalks; i++) {
			struct walk *w = &walks[i];
			if (!w->live)
				continue;
			if (!best || (overdue ? w->key < best->key ||
							(w->key == best->key && w->row.id < best->row.id)
					      : w->row.id > best->row.id))
				best = w;
		}
		if (!best || each(&best->row, ctx))
			break;
		n++;
		if ((rc = walk_next(best, e)))
			goto out;
	}
out:
	for (size_t i = 0; i < nwalks; i++) {
		request_release(&walks[i].row);
		db_finalize(walks[i].st);
	}
	buf_release(&where);
	buf_release(&sql);
	return rc;
}

int request_events(struct db *db, int64_t tenant_id, int64_t id,
		   int (*each)(const struct request_event *ev, void *ctx), void *ctx,
		   struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, at, actor_id, actor_name, action, from_state, to_state, "
			   "public_note, internal_note, data FROM request_events WHERE tenant_id = $1 "
			   "AND request_id = $2 ORDER BY id",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct request_event ev = {
			.id = db_column_int64(st, 0), .at = db_column_int64(st, 1),
			.actor_id = db_column_int64(st, 2), .actor_name = db_column_text(st, 3),
			.action = db_column_text(st, 4), .from_state = db_column_text(st, 5),
			.to_state = db_column_text(st, 6), .public_note = db_column_text(st, 7),
			.internal_note = db_column_text(st, 8), .data = db_column_text(st, 9),
		};
		if (each(&ev, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int request_applications(struct db *db, int64_t tenant_id, int64_t id,
			 int (*each)(const struct request_application *a, void *ctx), void *ctx,
			 struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " APP_COLS " FROM request_applications a "
			   "LEFT JOIN users ua ON ua.id = a.applicant_id "
			   "WHERE a.tenant_id = $1 AND a.request_id = $2 ORDER BY a.id",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct request_application a;
		app_row(st, 0, &a);
		if (each(&a, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- JSON ---- */

/* An optional reference or time: null for 0. */
static void opt_id(struct jsonw *w, const char *k, int64_t v)
{
	jsonw_key(w, k);
	if (v)
		jsonw_int(w, v);
	else
		jsonw_null(w);
}

static void deadline_json(struct jsonw *w, const char *k, const struct workcal *cal, int64_t now,
			  int64_t start, int64_t due, bool running, int64_t *until)
{
	char local[40];
	jsonw_key(w, k);
	if (!due) {
		jsonw_null(w);
		return;
	}
	workcal_format_local(due, local, sizeof local);
	jsonw_object(w);
	jsonw_kint(w, "at", due);
	jsonw_kstr(w, "local", local);
	if (running && cal) {
		jsonw_kstr(w, "state", workcal_due_name(workcal_state(cal, now, start, due,
								       WORKCAL_SOON_DEFAULT, NULL)));
		if (until) {
			int64_t u = workcal_state_until(cal, now, start, due, WORKCAL_SOON_DEFAULT);
			if (u < *until)
				*until = u;
		}
	} else
		jsonw_knull(w, "state");
	jsonw_end(w);
}

/* The members in the order the record has always had them (json_pack's, then the rest). */
void request_json(struct jsonw *w, const struct request *r, int64_t now,
		  const struct workcal *cal, unsigned flags)
{
	request_json_until(w, r, now, cal, flags, NULL);
}

void request_json_until(struct jsonw *w, const struct request *r, int64_t now,
			const struct workcal *cal, unsigned flags, int64_t *until)
{
	bool open = r->state == RS_DISPATCHED || r->state == RS_SIGNED || r->state == RS_IN_PROGRESS;
	const char *type_zh = req_type_zh(r->req_type);
	jsonw_kint(w, "id", r->id);
	jsonw_kstr(w, "number", r->number);
	jsonw_kstr(w, "channel", r->channel);
	jsonw_kstr(w, "type", r->req_type);
	jsonw_kstr(w, "type_zh", type_zh ? type_zh : "");
	opt_id(w, "category_id", r->category_id);
	jsonw_kstr(w, "category_name", r->category_name);
	opt_id(w, "enterprise_id", r->enterprise_id);
	jsonw_kstr(w, "enterprise_name", r->enterprise_name);
	jsonw_kstr(w, "title", r->title);
	if (flags & REQUEST_JSON_CONTENT)
		jsonw_kstr(w, "content", r->content ? r->content : "");
	jsonw_kstr(w, "address", r->address);
	jsonw_kstr(w, "urgency", r->urgency);
	jsonw_key(w, "lat");
	if (r->has_location)
		jsonw_real(w, r->lat);
	else
		jsonw_null(w);
	jsonw_key(w, "lon");
	if (r->has_location)
		jsonw_real(w, r->lon);
	else
		jsonw_null(w);
	jsonw_kstr(w, "state", req_state_name(r->state));
	jsonw_kstr(w, "state_zh", req_state_zh(r->state));
	jsonw_kstr(w, "department_name", r->department_name);
	opt_id(w, "department_id", r->department_id);
	jsonw_kstr(w, "handler_name", r->handler_name);
	opt_id(w, "master_id", r->master_id);
	jsonw_kstr(w, "rating", r->rating);
	jsonw_kint(w, "version", r->version);
	jsonw_kint(w, "reopen_count", r->reopen_count);
	jsonw_kint(w, "supervision_level", r->supervision_level);
	jsonw_kint(w, "received_at", r->received_at);
	jsonw_kint(w, "updated_at", r->updated_at);
	jsonw_key(w, "deadlines");
	jsonw_object(w);
	deadline_json(w, "sign", cal, now, r->dispatched_at, r->sign_due_at,
		      r->state == RS_DISPATCHED, until);
	deadline_json(w, "handle", cal, now, r->clock_from, r->handle_due_at, open, until);
	deadline_json(w, "visit", cal, now, r->replied_at, r->visit_due_at,
		      r->state == RS_REPLIED, until);
	jsonw_end(w);
	jsonw_key(w, "times");
	jsonw_object(w);
	opt_id(w, "dispatched_at", r->dispatched_at);
	opt_id(w, "signed_at", r->signed_at);
	opt_id(w, "replied_at", r->replied_at);
	opt_id(w, "closed_at", r->closed_at);
	opt_id(w, "paused_at", r->paused_at);
	jsonw_end(w);
	if (r->rating_solved < 0)
		jsonw_knull(w, "rating_solved");
	else
		jsonw_kbool(w, "rating_solved", r->rating_solved);
	jsonw_kstr(w, "rating_comment", r->rating_comment);
	if (r->closed_on_time < 0)
		jsonw_knull(w, "closed_on_time");
	else
		jsonw_kbool(w, "closed_on_time", r->closed_on_time);
	jsonw_kint(w, "extended_days", r->extended_days);
	jsonw_kint(w, "paused_ms", r->paused_ms);
	if (flags & REQUEST_JSON_STAFF) {
		jsonw_kstr(w, "contact_name", r->contact_name);
		jsonw_kstr(w, "contact_phone", r->contact_phone);
		opt_id(w, "handler_id", r->handler_id);
		opt_id(w, "grid_id", r->grid_id);
		opt_id(w, "created_by", r->created_by);
	}
}
