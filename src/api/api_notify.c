/*
 * api_notify.c — the digital employee over HTTP: the caller's inbox
 * (/api/v1/notifications), outgoing webhooks (/api/v1/webhooks, permission
 * webhook.write) and the daily reports (/api/v1/reports/daily, report.read).
 *
 * A notification as JSON:
 *   {"id","kind","title","body","request_id"|null,"created_at","read_at"|null,"read"}
 * A webhook as JSON (the secret only in the answer that set it):
 *   {"id","url","events":[...],"description","active","created_by","created_at",
 *    "updated_at","deliveries":{"pending","delivered","failed"},"secret_hint"}
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/workcal.h"
#include "jobs/notify.h"
#include "jobs/report.h"
#include "jobs/webhook.h"
#include "base/banned.h"

/* ---- notifications ---- */

static json_t *notification_json(const struct notification *n)
{
	json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:o,s:I,s:o,s:b}", "id", (json_int_t)n->id, "kind",
			      n->kind, "title", n->title, "body", n->body, "request_id",
			      n->request_id ? json_integer(n->request_id) : json_null(), "created_at",
			      (json_int_t)n->created_at, "read_at", api_time(n->read_at), "read",
			      n->read_at != 0);
	return j;
}

struct inbox_ctx {
	json_t *items;
	int64_t last, n;
};

static int each_notification(const struct notification *n, void *p)
{
	struct inbox_ctx *c = p;
	json_array_append_new(c->items, notification_json(n));
	c->last = n->id;
	c->n++;
	return 0;
}

static int h_inbox(struct req *r)
{
	struct notify_filter f = {0};
	struct page pg;
	int64_t unread = 0, only_unread = 0;
	int rc;

	if ((rc = api_page(r, &pg)) ||
	    (rc = req_query_int(r, "unread", 0, 0, 1, &only_unread)))
		return rc;
	f.unread = only_unread == 1;
	f.after = pg.after;
	f.limit = pg.limit;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct inbox_ctx c = {json_array(), 0, 0};
	if ((rc = notify_list(db, r->actor.tenant_id, r->actor.user_id, &f, each_notification, &c,
			      &r->err)) ||
	    (rc = notify_unread_count(db, r->actor.tenant_id, r->actor.user_id, &unread, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	json_t *out = api_list(c.items, c.n == pg.limit ? c.last : 0);
	json_object_set_new(out, "unread", json_integer(unread));
	return reply_json(r, 200, out);
}

static int h_read(struct req *r)
{
	struct notify_read m = {.who = &r->actor, .now = now_ms()};
	struct notification n;
	int rc;

	if ((rc = req_param_id(r, "id", &m.id)) || (rc = req_write(r, notify_mark_read, &m)))
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	if ((rc = notify_get(db, r->actor.tenant_id, r->actor.user_id, m.id, &n, &r->err)))
		return rc;
	return reply_json(r, 200, notification_json(&n));
}

static int h_read_all(struct req *r)
{
	static const char *const allowed[] = {"up_to", NULL};
	struct notify_read m = {.who = &r->actor, .now = now_ms()};
	int64_t unread = 0;
	int rc;

	if (r->body.len) {
		json_t *b = req_body_json(r);
		if (!b)
			return r->err.code;
		if ((rc = jsonv_only(b, allowed, &r->err)) ||
		    (rc = jsonv_int(b, "up_to", false, 1, INT64_MAX, &m.up_to, &r->err)))
			return rc;
	}
	if ((rc = req_write(r, notify_mark_read, &m)))
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	if ((rc = notify_unread_count(db, r->actor.tenant_id, r->actor.user_id, &unread, &r->err)))
		return rc;
	return reply_json(r, 200,
			  json_pack("{s:I,s:I}", "marked", (json_int_t)m.changed, "unread",
				    (json_int_t)unread));
}

/* ---- webhooks ---- */

static json_t *events_json(const char *events)
{
	json_t *a = json_array();
	for (const char *p = events; *p;) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

static json_t *webhook_json(const struct webhook *w, const char *secret)
{
	char hint[16];
	snprintf(hint, sizeof hint, "%.4s…", w->secret);
	json_t *j = json_pack("{s:I,s:s,s:o,s:s,s:b,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:s}", "id",
			      (json_int_t)w->id, "url", w->url, "events", events_json(w->events),
			      "description", w->description, "active", w->active, "created_by",
			      (json_int_t)w->created_by, "created_at", (json_int_t)w->created_at,
			      "updated_at", (json_int_t)w->updated_at, "deliveries", "pending",
			      (json_int_t)w->pending, "delivered", (json_int_t)w->delivered,
			      "failed", (json_int_t)w->failed, "secret_hint", hint);
	if (secret && *secret)
		json_object_set_new(j, "secret", json_string(secret));
	return j;
}

static int each_webhook(const struct webhook *w, void *p)
{
	json_array_append_new(p, webhook_json(w, NULL));
	return 0;
}

static int h_hooks(struct req *r)
{
	struct db *db = req_db(r);
	int rc;
	if (!db)
		return r->err.code;
	json_t *items = json_array();
	if ((rc = webhook_list(db, r->actor.tenant_id, each_webhook, items, &r->err))) {
		json_decref(items);
		return rc;
	}
	return reply_json(r, 200, api_list(items, 0));
}

static int reply_hook(struct req *r, int status, int64_t id, const char *secret)
{
	struct webhook *w = arena_alloc(r->arena, sizeof *w);
	struct db *db = req_db(r);
	int rc;
	if (!db)
		return r->err.code;
	if ((rc = webhook_get(db, r->actor.tenant_id, id, w, &r->err)))
		return rc;
	return reply_json(r, status, webhook_json(w, secret));
}

static int h_hook(struct req *r)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	return rc ? rc : reply_hook(r, 200, id, NULL);
}

/* The body of POST and PATCH: "events" as an array of names into a comma list. */
static int hook_body(struct req *r, json_t *b, bool create, struct webhook_write *w)
{
	static const char *const allowed[] = {"url", "events", "secret", "description", "active",
					      NULL};
	json_t *events = NULL;
	bool active = true;
	int rc;

	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_str(b, "url", create, WEBHOOK_URL_MAX, &w->url, &r->err)) ||
	    (rc = jsonv_str(b, "secret", false, WEBHOOK_SECRET_MAX, &w->secret, &r->err)) ||
	    (rc = jsonv_str(b, "description", false, WEBHOOK_DESC_MAX_CHARS, &w->description,
			    &r->err)) ||
	    (rc = jsonv_str_array(b, "events", false, 64, &events, &r->err)))
		return rc;
	w->active = -1;
	if (jsonv_has(b, "active")) {
		if ((rc = jsonv_bool(b, "active", true, &active, &r->err)))
			return rc;
		w->active = active;
	} else if (create) {
		w->active = 1;
	}
	if (events) {
		struct buf s;
		size_t i;
		json_t *v;
		buf_init(&s, WEBHOOK_EVENTS_MAX);
		json_array_foreach(events, i, v)
		{
			const char *name = json_string_value(v);
			if (!webhook_event_known(name)) {
				buf_release(&s);
				return req_fail(r, ERR_UNPROCESSABLE, "events", "未知事件“%s”",
						"unknown event '%s'", name);
			}
			if ((i && buf_addc(&s, ',')) || buf_adds(&s, name)) {
				buf_release(&s);
				return req_fail(r, ERR_UNPROCESSABLE, "events", "订阅的事件过多",
						"events: too many events");
			}
		}
		w->events = arena_strdup(r->arena, s.p);
		buf_release(&s);
	}
	return 0;
}

static int h_hook_create(struct req *r)
{
	struct webhook_write w = {.who = &r->actor, .now = now_ms()};
	json_t *b = req_body_json(r);
	int rc;
	if (!b)
		return r->err.code;
	if ((rc = hook_body(r, b, true, &w)) || (rc = req_write(r, webhook_create, &w)))
		return rc;
	return reply_hook(r, 201, w.id, w.secret_out);
}

static int h_hook_update(struct req *r)
{
	struct webhook_write w = {.who = &r->actor, .now = now_ms()};
	json_t *b;
	int rc;
	if ((rc = req_param_id(r, "id", &w.id)))
		return rc;
	if (!(b = req_body_json(r)))
		return r->err.code;
	if ((rc = hook_body(r, b, false, &w)) || (rc = req_write(r, webhook_update, &w)))
		return rc;
	return reply_hook(r, 200, w.id, w.secret_out);
}

static int h_hook_delete(struct req *r)
{
	struct webhook_write w = {.who = &r->actor, .now = now_ms()};
	int rc;
	if ((rc = req_param_id(r, "id", &w.id)) || (rc = req_write(r, webhook_delete, &w)))
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

struct dlv_ctx {
	json_t *items;
	int64_t last, n;
};

static int each_delivery(const struct webhook_delivery *d, void *p)
{
	struct dlv_ctx *c = p;
	json_error_t je;
	json_t *payload = json_loads(d->payload, 0, &je);
	bool pending = strcmp(d->status, "pending") == 0;
	json_array_append_new(
		c->items,
		json_pack("{s:I,s:I,s:s,s:s,s:i,s:i,s:o,s:o,s:s,s:I,s:o,s:o}", "id", (json_int_t)d->id,
			  "webhook_id", (json_int_t)d->webhook_id, "event", d->event, "status",
			  d->status, "attempts", d->attempts, "max_attempts", WEBHOOK_MAX_ATTEMPTS,
			  "next_attempt_at", pending ? json_integer(d->next_attempt_at) : json_null(),
			  "last_status", d->last_status ? json_integer(d->last_status) : json_null(),
			  "last_error", d->last_error, "created_at", (json_int_t)d->created_at,
			  "delivered_at", api_time(d->delivered_at), "payload",
			  payload ? payload : json_null()));
	c->last = d->id;
	c->n++;
	return 0;
}

static int h_deliveries(struct req *r)
{
	struct webhook *w = arena_alloc(r->arena, sizeof *w);
	struct page pg;
	int64_t id;
	int rc;
	const char *status = req_query(r, "status");
	if (status && *status && strcmp(status, "pending") && strcmp(status, "delivered") &&
	    strcmp(status, "failed"))
		return req_fail(r, ERR_BAD_REQUEST, "status", "状态应为 pending、delivered 或 failed",
				"status must be pending, delivered or failed");
	if ((rc = req_param_id(r, "id", &id)) || (rc = api_page(r, &pg)))
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	if ((rc = webhook_get(db, r->actor.tenant_id, id, w, &r->err)))
		return rc;
	struct dlv_ctx c = {json_array(), 0, 0};
	if ((rc = webhook_deliveries(db, r->actor.tenant_id, id, status, pg.after, pg.limit,
				     each_delivery, &c, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	return reply_json(r, 200, api_list(c.items, c.n == pg.limit ? c.last : 0));
}

static int h_hook_test(struct req *r)
{
	struct webhook_ping p = {.who = &r->actor, .now = now_ms()};
	int rc;
	if ((rc = req_param_id(r, "id", &p.id)) || (rc = req_write(r, webhook_ping, &p)))
		return rc;
	return reply_json(r, 202, json_pack("{s:I,s:s}", "delivery_id", (json_int_t)p.delivery_id,
					    "event", "ping"));
}

/* ---- daily reports ---- */

/* A department head sees the departments of their tree, and sums of those only. */
static void scope_report(struct req *r, json_t *rep)
{
	json_t *kept = json_array(), *d;
	size_t i;
	int64_t sums[4] = {0};
	static const char *const keys[] = {"dispatched", "replied", "closed", "overdue"};
	json_array_foreach(json_object_get(rep, "by_department"), i, d)
	{
		struct scope_row row = {
			.dept_id = json_integer_value(json_object_get(d, "department_id")),
			.dept_path = json_string_value(json_object_get(d, "department_path"))};
		if (!scope_allows(&r->actor, r->scope, &row))
			continue;
		for (int k = 0; k < 4; k++)
			sums[k] += json_integer_value(json_object_get(d, keys[k]));
		json_array_append(kept, d);
	}
	json_t *totals = json_object();
	for (int k = 0; k < 4; k++)
		json_object_set_new(totals, keys[k], json_integer(sums[k]));
	json_object_set_new(rep, "by_department", kept);
	json_object_set_new(rep, "totals", totals);
	json_object_del(rep, "audit_head");
}

static int h_daily(struct req *r)
{
	const char *day = req_query(r, "day");
	int64_t dn;
	json_t *rep = NULL;
	int rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	if (day && *day) {
		if (!workcal_parse_date(day, &dn))
			return req_fail(r, ERR_BAD_REQUEST, "day", "日期应为 YYYY-MM-DD",
					"day must be a date YYYY-MM-DD");
	} else {
		/* the latest report */
		char *latest = NULL;
		if ((rc = report_daily_latest(db, r->actor.tenant_id, &latest, &r->err)))
			return rc;
		day = arena_strdup(r->arena, latest);
		free(latest);
	}
	if ((rc = report_daily_get(db, r->actor.tenant_id, day, &rep, &r->err)))
		return rc;
	json_object_set_new(rep, "scope", json_string(scope_name(r->scope)));
	if (r->scope != SCOPE_ALL)
		scope_report(r, rep);
	return reply_json(r, 200, rep);
}

const struct route api_notify_routes[] = {
	{"GET", "/api/v1/notifications", h_inbox, PERM_LOGIN, 0, 0,
	 "我的通知（?unread=1 只看未读） / my notifications"},
	{"POST", "/api/v1/notifications/{id}/read", h_read, PERM_LOGIN, 0, 0,
	 "标记通知已读 / mark a notification read"},
	{"POST", "/api/v1/notifications/read-all", h_read_all, PERM_LOGIN, 0, 0,
	 "全部标记已读 / mark all notifications read"},
	{"GET", "/api/v1/webhooks", h_hooks, PERM_WEBHOOK_WRITE, 0, 0,
	 "回调列表 / list webhooks"},
	{"POST", "/api/v1/webhooks", h_hook_create, PERM_WEBHOOK_WRITE, 0, 0,
	 "登记回调 / register a webhook"},
	{"GET", "/api/v1/webhooks/{id}", h_hook, PERM_WEBHOOK_WRITE, 0, 0,
	 "查看回调 / get a webhook"},
	{"PATCH", "/api/v1/webhooks/{id}", h_hook_update, PERM_WEBHOOK_WRITE, 0, 0,
	 "修改、停用回调或更换密钥 / change, deactivate a webhook or rotate its secret"},
	{"DELETE", "/api/v1/webhooks/{id}", h_hook_delete, PERM_WEBHOOK_WRITE, 0, 0,
	 "删除回调及其投递记录 / delete a webhook and its deliveries"},
	{"GET", "/api/v1/webhooks/{id}/deliveries", h_deliveries, PERM_WEBHOOK_WRITE, 0, 0,
	 "回调投递记录 / deliveries of a webhook"},
	{"POST", "/api/v1/webhooks/{id}/test", h_hook_test, PERM_WEBHOOK_WRITE, 0, 0,
	 "发送测试消息 / queue a test delivery"},
	{"GET", "/api/v1/reports/daily", h_daily, PERM_REPORT_READ, 0, 0,
	 "诉求日报 / daily request report"},
	{0},
};
