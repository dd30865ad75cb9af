/*
 * api_request.c — enterprise requests over HTTP: submit, lists (work queues),
 * a request with its deadlines, the timeline, the actions of the state
 * machine, and the catalogue of categories and time limits.
 *
 * The route of an action needs only a login: the permission depends on the
 * action (request_action_perm) and is checked here against the caller's
 * roles, so one route serves every step of the loop.
 */
#include "api/api.h"

#include <string.h>

#include <inttypes.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/jsonw.h"
#include "base/util.h"
#include "core/enterprise.h"
#include "core/request.h"
#include "core/request_catalog.h"
#include "core/workcal.h"
#include "base/banned.h"

/* Staff see contact data and internal notes; the enterprise and observers do not. */
static bool is_staff(struct req *r)
{
	return authz_scope(&r->actor, PERM_REQUEST_HANDLE) != SCOPE_NONE ||
	       authz_scope(&r->actor, PERM_REQUEST_DISPATCH) != SCOPE_NONE ||
	       authz_scope(&r->actor, PERM_REQUEST_APPROVE) != SCOPE_NONE;
}

static int calendar(struct req *r, struct workcal **cal)
{
	return workcal_acquire(r->app->pool, &r->actor, cal, &r->err);
}

static void unref_cal(void *p)
{
	workcal_unref(p);
}

static void decref(void *p)
{
	json_decref(p);
}

static int reply_detail(struct req *r, const struct request_detail *d, const struct workcal *cal,
			int status, int64_t event_id);

/* ---- submit ---- */

static int h_submit(struct req *r)
{
	static const char *const allowed[] = {"type", "channel", "category_id", "enterprise_id",
					      "contact_name", "contact_phone", "title", "content",
					      "address", "lat", "lon", "urgency", NULL};
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct request_create c = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				   .now = now_ms()};
	struct request_input *in = &c.in;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_str(b, "type", true, 16, &in->req_type, &r->err);
	if (!rc)
		rc = jsonv_str(b, "channel", false, 16, &in->channel, &r->err);
	if (!rc)
		rc = jsonv_int(b, "category_id", false, 1, INT64_MAX, &in->category_id, &r->err);
	if (!rc)
		rc = jsonv_int(b, "enterprise_id", false, 1, INT64_MAX, &in->enterprise_id, &r->err);
	if (!rc)
		rc = jsonv_str(b, "contact_name", false, 0, &in->contact_name, &r->err);
	if (!rc)
		rc = jsonv_str(b, "contact_phone", false, 20, &in->contact_phone, &r->err);
	if (!rc)
		rc = jsonv_str(b, "title", false, 0, &in->title, &r->err);
	if (!rc)
		rc = jsonv_str(b, "content", true, 0, &in->content, &r->err);
	if (!rc)
		rc = jsonv_str(b, "address", false, 0, &in->address, &r->err);
	if (!rc)
		rc = jsonv_str(b, "urgency", false, 16, &in->urgency, &r->err);
	if (rc)
		return rc;
	if (jsonv_has(b, "lat") || jsonv_has(b, "lon")) {
		json_t *la = json_object_get(b, "lat"), *lo = json_object_get(b, "lon");
		if (!json_is_number(la))
			return req_fail(r, ERR_BAD_REQUEST, "lat", "纬度应为数字", "lat must be a number");
		if (!json_is_number(lo))
			return req_fail(r, ERR_BAD_REQUEST, "lon", "经度应为数字", "lon must be a number");
		in->set_location = true;
		in->lat = json_number_value(la);
		in->lon = json_number_value(lo);
	}
	/* The channel follows from who submits: an enterprise online (or by
	 * scanning its code), a grid worker on a visit, an observer; staff at
	 * the service hall or the hotline say which. */
	bool ent = actor_has_role(&r->actor, ROLE_ENTERPRISE) && r->actor.enterprise_id;
	if (ent) {
		if (in->enterprise_id && in->enterprise_id != r->actor.enterprise_id)
			return req_fail(r, ERR_FORBIDDEN, "enterprise_id", "只能为本企业提出诉求",
					"an enterprise raises requests for itself only");
		in->enterprise_id = r->actor.enterprise_id;
		if (!in->channel || (strcmp(in->channel, "online") && strcmp(in->channel, "qrcode")))
			in->channel = "online";
	} else if (!in->channel) {
		in->channel = actor_has_role(&r->actor, ROLE_GRID_WORKER)   ? "grid"
			      : actor_has_role(&r->actor, ROLE_DISPATCHER) ? "hall"
									   : "observer";
	}
	if (!ent && (!strcmp(in->channel, "online") || !strcmp(in->channel, "qrcode") ||
		     !strcmp(in->channel, "open311")))
		return req_fail(r, ERR_UNPROCESSABLE, "channel", "该渠道只用于企业自行提交",
				"this channel is for enterprises submitting themselves");
	if (in->enterprise_id && r->scope != SCOPE_ALL && !ent) {
		/* on an enterprise's behalf: only for enterprises within one's scope (an
		 * enterprise's own is always; request_create checks that it exists) */
		struct db *db = req_db(r);
		struct enterprise en;
		if (!db || enterprise_get(db, r->actor.tenant_id, in->enterprise_id, &en, &r->err))
			return req_fail(r, ERR_UNPROCESSABLE, "enterprise_id", "企业不存在",
					"no such enterprise");
		struct scope_row row = {.grid_id = en.grid_id, .grid_path = en.grid_path,
					.enterprise_id = en.id};
		if (!scope_allows(&r->actor, r->scope, &row))
			return req_fail(r, ERR_FORBIDDEN, "enterprise_id", "不能为该企业提出诉求",
					"not allowed to raise requests for this enterprise");
	}
	struct request q;
	struct workcal *cal = NULL;
	memset(&q, 0, sizeof q);
	c.row = &q; /* the stored request, read in the job */
	rc = req_write(r, request_create, &c);
	if (rc) {
		request_release(&q);
		return rc;
	}
	if (calendar(r, &cal) == 0)
		arena_defer(r->arena, unref_cal, cal);
	/* a request just made has no extension or return applications to read */
	struct request_detail d = {.r = q};
	rc = reply_detail(r, &d, cal, 201, 0);
	request_release(&q);
	return rc;
}

/* ---- reading ---- */

struct list_ctx {
	struct jsonw *w;
	int64_t n, now, last;  /* items written, the time, the id of the last */
	int64_t until;         /* the first instant a deadline state written may change */
	const struct workcal *cal;
	unsigned flags;
	enum request_view view;
	char next[72];         /* a deadline queue's cursor after the last item */
};

static int each_request(const struct request *q, void *p)
{
	struct list_ctx *c = p;
	jsonw_object(c->w); /* lists carry the title; the record has the text */
	request_json_until(c->w, q, c->now, c->cal, c->flags, &c->until);
	jsonw_end(c->w);
	if (c->view == RV_OVERDUE)
		snprintf(c->next, sizeof c->next, "d.%" PRId64 ".%" PRId64, request_overdue_key(q),
			 q->id);
	else if (c->view == RV_DUE_SOON)
		snprintf(c->next, sizeof c->next, "s.%" PRId64 ".%" PRId64 ".%" PRId64,
			 q->handle_due_at, q->clock_from, q->id);
	c->last = q->id;
	c->n++;
	return 0;
}

static const struct {
	const char *name;
	enum request_view view;
} views[] = {
	{"all", RV_ALL},         {"to_dispatch", RV_TO_DISPATCH}, {"to_sign", RV_TO_SIGN},
	{"open", RV_OPEN},       {"due_soon", RV_DUE_SOON},       {"overdue", RV_OVERDUE},
	{"to_rate", RV_TO_RATE}, {"closed", RV_CLOSED},           {"pending_decision", RV_PENDING_DECISION},
};

/*
 * The cursor of the deadline queues (their `next`): "d.<deadline>.<id>" for
 * the overdue queue, "s.<deadline>.<clock start>.<id>" for due soon; absent
 * or 0 = the start.
 */
static int deadline_cursor(struct req *r, struct request_filter *f)
{
	const char *v = req_query(r, "after");
	char t[72];
	int64_t x[3] = {0, 0, 0};
	int want = f->view == RV_DUE_SOON ? 3 : 2, n = 0;
	if (!v || !*v || strcmp(v, "0") == 0)
		return 0;
	if (strlen(v) < sizeof t && v[0] == (want == 3 ? 's' : 'd') && v[1] == '.') {
		char *p = t;
		snprintf(t, sizeof t, "%s", v + 2);
		while (p && n < want) { /* the numbers between the dots */
			char *dot = strchr(p, '.');
			if (dot)
				*dot++ = '\0';
			if (*p == '-' || *p == '+' || !parse_i64(p, &x[n++]))
				break;
			p = dot;
		}
		if (n == want && !p && x[0] > 0 && x[want - 1] > 0) {
			f->after_key = x[0];
			f->after_start = want == 3 ? x[1] : 0;
			f->after = x[want - 1];
			return 0;
		}
	}
	return req_fail(r, ERR_BAD_REQUEST, "after", "after 应为上一页的 next",
			"after must be the next of the previous page");
}

static int h_list(struct req *r)
{
	struct request_filter f = {.view = RV_ALL};
	const char *view = req_query(r, "view");
	int rc;
	if (view && *view) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(views) && strcmp(views[i].name, view); i++)
			;
		if (i == ARRAY_SIZE(views))
			return req_fail(r, ERR_BAD_REQUEST, "view",
					"视图应为 all、to_dispatch、to_sign、open、due_soon、overdue、to_rate、"
					"closed 或 pending_decision",
					"view must be all, to_dispatch, to_sign, open, due_soon, overdue, "
					"to_rate, closed or pending_decision");
		f.view = views[i].view;
	}
	f.state = req_query(r, "state");
	if (f.state && *f.state && req_state_parse(f.state) < 0)
		return req_fail(r, ERR_BAD_REQUEST, "state", "状态无效", "unknown state");
	f.req_type = req_query(r, "type");
	if (f.req_type && *f.req_type && !req_type_valid(f.req_type))
		return req_fail(r, ERR_BAD_REQUEST, "type", "诉求类型无效", "unknown request type");
	f.channel = req_query(r, "channel");
	if (f.channel && *f.channel && !req_channel_valid(f.channel))
		return req_fail(r, ERR_BAD_REQUEST, "channel", "渠道无效", "unknown channel");
	f.q = req_query(r, "q");
	if (f.q && utf8_len(f.q, strlen(f.q)) > 50)
		return req_fail(r, ERR_BAD_REQUEST, "q", "搜索词不能超过 50 个字符",
				"q must not exceed 50 characters");
	if ((rc = req_query_int(r, "department_id", 0, 0, INT64_MAX, &f.department_id)) ||
	    (rc = req_query_int(r, "category_id", 0, 0, INT64_MAX, &f.category_id)) ||
	    (rc = req_query_int(r, "enterprise_id", 0, 0, INT64_MAX, &f.enterprise_id)) ||
	    (rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &f.grid_id)) ||
	    (rc = req_query_int(r, "received_from", 0, 0, INT64_MAX, &f.received_from)) ||
	    (rc = req_query_int(r, "received_to", 0, 0, INT64_MAX, &f.received_to)) ||
	    (rc = f.view == RV_OVERDUE || f.view == RV_DUE_SOON
			  ? deadline_cursor(r, &f)
			  : req_query_int(r, "after", 0, 0, INT64_MAX, &f.after)) ||
	    (rc = req_query_int(r, "limit", 50, 1, 200, &f.limit)))
		return rc;
	/*
	 * The page, from this thread's cache while nothing has been committed and
	 * no deadline state written or membership of the queue can have changed
	 * with the time (see req_cache_get). Due soon is not kept: a request
	 * enters and leaves it as its working time runs, by deadline and clock.
	 */
	unsigned flags = is_staff(r) ? REQUEST_JSON_STAFF : 0;
	int64_t now = now_ms();
	struct req_cache_ticket ticket = {0};
	bool keep = f.view != RV_DUE_SOON;
	if (keep && req_cache_get(r, flags, now, &ticket))
		return 0;
	struct db *db = req_db(r);
	struct workcal *cal = NULL;
	if (!db || (rc = calendar(r, &cal)))
		return r->err.code ? r->err.code : rc;
	struct jsonw w;
	struct list_ctx c = {.w = &w, .now = now, .until = INT64_MAX, .cal = cal, .flags = flags,
			     .view = f.view};
	api_reply_begin(r, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "items");
	jsonw_array(&w);
	rc = request_list(db, &r->actor, r->scope, &f, c.now, cal, each_request, &c, &r->err);
	workcal_unref(cal);
	if (rc)
		return rc;
	jsonw_end(&w);
	jsonw_key(&w, "next"); /* a number (an id), or a deadline queue's cursor */
	if (c.n < f.limit)
		jsonw_null(&w);
	else if (c.view == RV_OVERDUE || c.view == RV_DUE_SOON)
		jsonw_str(&w, c.next);
	else
		jsonw_int(&w, c.last);
	jsonw_end(&w);
	if ((rc = api_reply_end(r, &w)))
		return rc;
	/* the overdue queue also grows as deadlines run out */
	if (keep && ticket.usable && c.view == RV_OVERDUE) {
		int64_t grows;
		struct err e2;
		err_clear(&e2);
		if (request_overdue_until(db, r->actor.tenant_id, now, &grows, &e2))
			keep = false;
		else if (grows < c.until)
			c.until = grows;
	}
	if (keep)
		req_cache_put(r, &ticket, c.until);
	return 0;
}

/* A request the caller may read; 404 outside the scope. */
static int visible(struct req *r, const struct request *q)
{
	if (request_visible(&r->actor, authz_scope(&r->actor, PERM_REQUEST_READ), q))
		return 0;
	return req_fail(r, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
}

static int load(struct req *r, struct request *q)
{
	int64_t id;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = request_get(db, r->actor.tenant_id, id, q, &r->err)))
		return rc;
	if ((rc = visible(r, q)))
		request_release(q);
	return rc;
}

/* The record as the caller sees it, with the actions it may take (and, for
 * staff, the extension and return applications). */
static int reply_detail_at(struct req *r, const struct request_detail *d,
			   const struct workcal *cal, int status, int64_t event_id, int64_t now,
			   int64_t *until)
{
	bool staff = is_staff(r);
	unsigned set = request_actions_until(&r->actor, &d->r, d->apps, d->napps, now, cal, until);
	struct jsonw w;
	api_reply_begin(r, status, &w);
	jsonw_object(&w);
	request_json_until(&w, &d->r, now, cal,
			   REQUEST_JSON_CONTENT | (staff ? REQUEST_JSON_STAFF : 0), until);
	jsonw_key(&w, "actions");
	jsonw_array(&w);
	for (int i = 0; i < RA__COUNT; i++)
		if (set & (1u << i))
			jsonw_str(&w, req_action_name((enum req_action)i));
	jsonw_end(&w);
	if (staff) {
		jsonw_key(&w, "applications");
		jsonw_array(&w);
		for (size_t i = 0; i < d->napps; i++) {
			const struct request_application *a = &d->apps[i];
			jsonw_object(&w);
			jsonw_kint(&w, "id", a->id);
			jsonw_kstr(&w, "kind", a->kind);
			jsonw_kstr(&w, "status", a->status);
			jsonw_kint(&w, "days", a->days);
			jsonw_kstr(&w, "reason", a->reason);
			jsonw_kint(&w, "applicant_id", a->applicant_id);
			jsonw_kstr(&w, "applicant_name", a->applicant_name);
			jsonw_kint(&w, "applied_at", a->applied_at);
			jsonw_key(&w, "decided_at");
			if (a->decided_at)
				jsonw_int(&w, a->decided_at);
			else
				jsonw_null(&w);
			jsonw_kstr(&w, "decision_note", a->decision_note);
			jsonw_end(&w);
		}
		jsonw_end(&w);
	}
	if (event_id)
		jsonw_kint(&w, "event_id", event_id);
	jsonw_end(&w);
	return api_reply_end(r, &w);
}

static int reply_detail(struct req *r, const struct request_detail *d, const struct workcal *cal,
			int status, int64_t event_id)
{
	return reply_detail_at(r, d, cal, status, event_id, now_ms(), NULL);
}

/* One statement reads the request and its applications. */
static int h_get(struct req *r)
{
	struct request_detail d;
	struct workcal *cal = NULL;
	struct db *db;
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	/* From this thread's cache while nothing has been committed and neither a deadline
	 * state nor an action offered can have changed with the time (as the pages are). */
	int64_t now = now_ms(), until = INT64_MAX;
	struct req_cache_ticket ticket;
	if (req_cache_get(r, 0, now, &ticket))
		return 0;
	if ((rc = request_get_detail(db, r->actor.tenant_id, id, &d, &r->err)))
		return rc;
	if (!(rc = visible(r, &d.r)) && !(rc = calendar(r, &cal))) {
		rc = reply_detail_at(r, &d, cal, 200, 0, now, &until);
		workcal_unref(cal);
	}
	request_detail_release(&d);
	if (!rc)
		req_cache_put(r, &ticket, until);
	return rc;
}

struct tl_ctx {
	json_t *items;
	bool staff;
};

static int each_event(const struct request_event *ev, void *p)
{
	struct tl_ctx *c = p;
	if (!c->staff && !*ev->public_note && strcmp(ev->action, "submit") &&
	    strcmp(ev->action, "dispatch") && strcmp(ev->action, "sign") &&
	    strcmp(ev->action, "reply") && strcmp(ev->action, "rate") &&
	    strcmp(ev->from_state, ev->to_state) == 0)
		return 0; /* internal bookkeeping: not part of the enterprise's timeline */
	json_error_t je;
	json_t *data = c->staff ? json_loads(ev->data, 0, &je) : NULL;
	json_t *j = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)ev->id, "at",
			      (json_int_t)ev->at, "actor_name", ev->actor_name, "action", ev->action,
			      "from_state", ev->from_state, "to_state", ev->to_state, "public_note",
			      ev->public_note);
	if (c->staff) {
		json_object_set_new(j, "internal_note", json_string(ev->internal_note));
		json_object_set_new(j, "actor_id", json_integer(ev->actor_id));
		json_object_set_new(j, "data", data ? data : json_object());
	}
	json_array_append_new(c->items, j);
	return 0;
}

static int h_timeline(struct req *r)
{
	struct request q;
	int rc = load(r, &q);
	if (rc)
		return rc;
	struct tl_ctx c = {json_array(), is_staff(r)};
	rc = request_events(req_db(r), r->actor.tenant_id, q.id, each_event, &c, &r->err);
	request_release(&q);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	return reply_json(r, 200, api_list(c.items, 0));
}

/* ---- actions ---- */

static int h_action(struct req *r)
{
	static const char *const allowed[] = {"department_id", "category_id", "master_id", "days",
					      "approve", "level", "solved", "rating", "public_note",
					      "internal_note", "version", NULL};
	const char *name = req_param(r, "action");
	int a = req_action_parse(name);
	if (a < 0 || a == RA_AUTO_CLOSE)
		return req_fail(r, ERR_NOT_FOUND, "action", "未知操作“%s”", "no action '%s'",
				name ? name : "");
	struct request_step s = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				 .action = (enum req_action)a, .now = now_ms()};
	s.scope = authz_scope(&r->actor, request_action_perm(s.action));
	if (s.scope == SCOPE_NONE)
		return req_fail(r, ERR_FORBIDDEN, NULL, "无权执行“%s”（需要权限 %s）",
				"not allowed to '%s' (needs permission %s)", name,
				perm_name(request_action_perm(s.action)));
	int rc = req_param_id(r, "id", &s.id);
	if (rc)
		return rc;
	json_t *b = r->body.len ? req_body_json(r) : json_object();
	if (!b)
		return r->err.code;
	if (!r->body.len)
		arena_defer(r->arena, decref, b);
	int64_t v = 0;
	bool flag = false;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_int(b, "department_id", false, 1, INT64_MAX, &s.department_id, &r->err)) ||
	    (rc = jsonv_int(b, "category_id", false, 1, INT64_MAX, &s.category_id, &r->err)) ||
	    (rc = jsonv_int(b, "master_id", false, 1, INT64_MAX, &s.master_id, &r->err)) ||
	    (rc = jsonv_int(b, "version", false, 1, INT64_MAX, &s.expect_version, &r->err)) ||
	    (rc = jsonv_str(b, "rating", false, 16, &s.rating, &r->err)) ||
	    (rc = jsonv_str(b, "public_note", false, 0, &s.public_note, &r->err)) ||
	    (rc = jsonv_str(b, "internal_note", false, 0, &s.internal_note, &r->err)))
		return rc;
	if ((rc = jsonv_int(b, "days", false, -1000, 1000, &v, &r->err)))
		return rc;
	s.days = (int)v;
	v = 0;
	if ((rc = jsonv_int(b, "level", false, -100, 100, &v, &r->err)))
		return rc;
	s.level = (int)v;
	if ((rc = jsonv_bool(b, "approve", s.action == RA_RETURN_DECIDE || s.action == RA_EXTEND_DECIDE,
			     &flag, &r->err)))
		return rc;
	s.approve = flag;
	flag = false;
	if ((rc = jsonv_bool(b, "solved", s.action == RA_RATE, &flag, &r->err)))
		return rc;
	s.solved = flag;
	/* only staff write internal notes */
	if (s.internal_note && *s.internal_note && !is_staff(r))
		return req_fail(r, ERR_FORBIDDEN, "internal_note", "只有工作人员可以填写内部备注",
				"only staff write internal notes");
	struct workcal *cal = NULL;
	if (calendar(r, &cal))
		return r->err.code;
	s.cal = cal;
	rc = req_write(r, request_act, &s);
	if (rc) {
		workcal_unref(cal);
		return rc;
	}
	struct request_detail d;
	rc = request_get_detail(req_db(r), r->actor.tenant_id, s.id, &d, &r->err);
	if (rc) {
		workcal_unref(cal);
		return rc;
	}
	rc = reply_detail(r, &d, cal, 200, s.event_id);
	workcal_unref(cal);
	request_detail_release(&d);
	return rc;
}

/* ---- categories and time limits ---- */

static json_t *category_json(const struct category *c)
{
	return json_pack("{s:I,s:o,s:s,s:s,s:s,s:o,s:s,s:s,s:b,s:I}", "id", (json_int_t)c->id,
			 "parent_id", c->parent_id ? json_integer(c->parent_id) : json_null(), "code",
			 c->code, "name", c->name, "path", c->path, "department_id",
			 c->department_id ? json_integer(c->department_id) : json_null(),
			 "department_name", c->department_name, "open311_code", c->open311_code,
			 "active", c->active, "sort", (json_int_t)c->sort);
}

static int each_category(const struct category *c, void *p)
{
	json_array_append_new(p, category_json(c));
	return 0;
}

static int h_categories(struct req *r)
{
	json_t *items = json_array();
	int rc = category_list(req_db(r), r->actor.tenant_id, each_category, items, &r->err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	return reply_json(r, 200, api_list(items, 0));
}

static int decode_category(struct req *r, json_t *b, struct category_write *w)
{
	static const char *const allowed[] = {"code", "name", "parent_id", "department_id",
					      "open311_code", "active", "sort", NULL};
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_str(b, "code", false, 32, &w->code, &r->err);
	if (!rc)
		rc = jsonv_str(b, "name", false, 0, &w->name, &r->err);
	if (!rc)
		rc = jsonv_str(b, "open311_code", false, 32, &w->open311_code, &r->err);
	if (!rc && json_object_get(b, "parent_id")) {
		w->set_parent = true;
		if (!json_is_null(json_object_get(b, "parent_id")))
			rc = jsonv_int(b, "parent_id", true, 1, INT64_MAX, &w->parent_id, &r->err);
	}
	if (!rc && json_object_get(b, "department_id")) {
		w->set_department = true;
		if (!json_is_null(json_object_get(b, "department_id")))
			rc = jsonv_int(b, "department_id", true, 1, INT64_MAX, &w->department_id, &r->err);
	}
	if (!rc && jsonv_has(b, "active")) {
		w->set_active = true;
		rc = jsonv_bool(b, "active", true, &w->active, &r->err);
	}
	if (!rc && jsonv_has(b, "sort")) {
		w->set_sort = true;
		rc = jsonv_int(b, "sort", true, 0, 1000000, &w->sort, &r->err);
	}
	return rc;
}

static int h_category_create(struct req *r)
{
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct category_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now_ms()};
	int rc = decode_category(r, b, &w);
	if (!rc && !w.code)
		rc = req_fail(r, ERR_BAD_REQUEST, "code", "缺少必填字段“code”", "missing required field 'code'");
	if (!rc && !w.name)
		rc = req_fail(r, ERR_BAD_REQUEST, "name", "缺少必填字段“name”", "missing required field 'name'");
	if (!rc)
		rc = req_write(r, category_create, &w);
	struct category c;
	if (!rc)
		rc = category_get(req_db(r), r->actor.tenant_id, w.id, &c, &r->err);
	return rc ? rc : reply_json(r, 201, category_json(&c));
}

static int h_category_update(struct req *r)
{
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct category_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now_ms()};
	int rc = req_param_id(r, "id", &w.id);
	if (!rc)
		rc = decode_category(r, b, &w);
	if (!rc)
		rc = req_write(r, category_update, &w);
	struct category c;
	if (!rc)
		rc = category_get(req_db(r), r->actor.tenant_id, w.id, &c, &r->err);
	return rc ? rc : reply_json(r, 200, category_json(&c));
}

static int each_policy(const struct policy *p, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:o,s:o,s:i,s:i,s:i,s:I}", "category_id",
					     p->category_id ? json_integer(p->category_id) : json_null(),
					     "type", *p->req_type ? json_string(p->req_type) : json_null(),
					     "sign_minutes", p->sign_minutes, "handle_days",
					     p->handle_days, "visit_days", p->visit_days, "updated_at",
					     (json_int_t)p->updated_at));
	return 0;
}

static int h_policies(struct req *r)
{
	json_t *items = json_array();
	int rc = policy_list(req_db(r), r->actor.tenant_id, each_policy, items, &r->err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	/* the built-in defaults, for reference */
	json_t *defaults = json_array();
	static const char *const types[] = {"consultation", "help", "complaint", "suggestion", "report"};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		struct time_limits l;
		request_default_limits(types[i], &l);
		json_array_append_new(defaults, json_pack("{s:s,s:i,s:i,s:i}", "type", types[i],
								  "sign_minutes", l.sign_minutes,
								  "handle_days", l.handle_days,
								  "visit_days", l.visit_days));
	}
	return reply_json(r, 200, json_pack("{s:o,s:o}", "items", items, "defaults", defaults));
}

static int h_policy_put(struct req *r)
{
	static const char *const allowed[] = {"category_id", "type", "sign_minutes", "handle_days",
					      "visit_days", "remove", NULL};
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	struct policy_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now_ms()};
	int64_t sm = 0, hd = 0, vd = 0;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_int(b, "category_id", false, 1, INT64_MAX, &w.category_id, &r->err);
	if (!rc)
		rc = jsonv_str(b, "type", false, 16, &w.req_type, &r->err);
	if (!rc)
		rc = jsonv_bool(b, "remove", false, &w.remove, &r->err);
	if (!rc)
		rc = jsonv_int(b, "sign_minutes", !w.remove, 0, 100000, &sm, &r->err);
	if (!rc)
		rc = jsonv_int(b, "handle_days", !w.remove, 0, 100000, &hd, &r->err);
	if (!rc)
		rc = jsonv_int(b, "visit_days", !w.remove, 0, 100000, &vd, &r->err);
	if (rc)
		return rc;
	w.sign_minutes = (int)sm;
	w.handle_days = (int)hd;
	w.visit_days = (int)vd;
	if ((rc = req_write(r, policy_put, &w)))
		return rc;
	return h_policies(r);
}

const struct route api_request_routes[] = {
	{"POST", "/api/v1/requests", h_submit, PERM_REQUEST_SUBMIT, 32768, 0,
	 "提出诉求 / submit a request"},
	{"GET", "/api/v1/requests", h_list, PERM_REQUEST_READ, 0, 0,
	 "诉求列表与工作队列（视图、筛选）/ request lists and work queues"},
	{"GET", "/api/v1/requests/{id}", h_get, PERM_REQUEST_READ, 0, 0,
	 "诉求详情、期限与可执行操作 / a request, its deadlines and possible actions"},
	{"GET", "/api/v1/requests/{id}/timeline", h_timeline, PERM_REQUEST_READ, 0, 0,
	 "诉求办理过程 / the request's timeline"},
	{"POST", "/api/v1/requests/{id}/actions/{action}", h_action, PERM_LOGIN, 8192, 0,
	 "办理操作（派单、签收、答复、退单、延期、挂起、督办、评价……）/ a step of the workflow"},
	{"GET", "/api/v1/request-categories", h_categories, PERM_LOGIN, 0, 0,
	 "诉求分类 / request categories"},
	{"POST", "/api/v1/request-categories", h_category_create, PERM_CATEGORY_WRITE, 4096, 0,
	 "新建诉求分类 / create a category"},
	{"PATCH", "/api/v1/request-categories/{id}", h_category_update, PERM_CATEGORY_WRITE, 4096, 0,
	 "修改诉求分类 / change a category"},
	{"GET", "/api/v1/time-limits", h_policies, PERM_LOGIN, 0, 0,
	 "办理时限规则 / time-limit policies"},
	{"PUT", "/api/v1/time-limits", h_policy_put, PERM_CATEGORY_WRITE, 4096, 0,
	 "设置办理时限 / set a time-limit policy"},
	{0},
};
