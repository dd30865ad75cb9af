/*
 * api_visit.c — the visit system (走访服务制度) over HTTP (core/visit.h).
 *
 *   GET    /api/v1/visit-policies                 visit.read   the policies, strictest first
 *   POST   /api/v1/visit-policies                 visit.plan
 *   GET    /api/v1/visit-policies/{id}            visit.read
 *   PATCH  /api/v1/visit-policies/{id}            visit.plan
 *   DELETE /api/v1/visit-policies/{id}            visit.plan
 *   GET    /api/v1/visit-policies/recompute       visit.read   the recomputation after a change
 *   GET    /api/v1/enterprises/{id}/visit-state   visit.read   last visit, next due date
 *   GET    /api/v1/visit-tasks                    visit.read   due and overdue visits in scope
 *   GET    /api/v1/visit-tasks/workers            visit.read   the figures of each grid worker
 *   GET    /api/v1/me/visit-tasks                 visit.write  a grid worker's own tasks
 *   POST   /api/v1/visits                         visit.write  record a visit
 *   GET    /api/v1/visits                         visit.read   visits in scope, newest first
 *   GET    /api/v1/visits/{id}                    visit.read   one visit, findings, photos
 *   POST   /api/v1/visits/{id}/photos             visit.write  add a photo (the raw image)
 *   GET    /api/v1/visit-photos/{id}              visit.read   download a photo
 *
 * The rules (policies, due dates, scope, the distance check) are in core.
 */
#include "api/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/attachment.h"
#include "core/geo.h"
#include "core/visit.h"
#include "core/workcal.h"
#include "base/banned.h"

/* ---- policies ---- */

static json_t *policy_json(const struct visit_policy *p)
{
	json_t *m = json_object();
	json_object_set_new(m, "is_key", p->match_key < 0 ? json_null() : json_boolean(p->match_key));
	json_object_set_new(m, "tag", p->match_tag[0] ? json_string(p->match_tag) : json_null());
	json_object_set_new(m, "size_class",
			    p->match_size[0] ? json_string(p->match_size) : json_null());
	json_object_set_new(m, "industry_section",
			    p->match_section[0] ? json_string(p->match_section) : json_null());
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(p->id));
	json_object_set_new(j, "name", json_string(p->name));
	json_object_set_new(j, "interval_days", json_integer(p->interval_days));
	json_object_set_new(j, "match", m);
	json_object_set_new(j, "enterprises", json_integer(p->enterprises));
	json_object_set_new(j, "version", json_integer(p->version));
	json_object_set_new(j, "created_by", api_id(p->created_by));
	json_object_set_new(j, "created_at", api_time(p->created_at));
	json_object_set_new(j, "updated_at", api_time(p->updated_at));
	return j;
}

/* The recomputation of the visit states (pass in progress or the last one). */
static json_t *recompute_json(const struct visit_recompute *c)
{
	json_t *j = json_object();
	json_object_set_new(j, "generation", json_integer(c->generation));
	json_object_set_new(j, "running", json_boolean(c->running));
	json_object_set_new(j, "progress", json_real(visit_recompute_progress(c)));
	json_object_set_new(j, "done", json_integer(c->done));
	json_object_set_new(j, "changed", json_integer(c->changed));
	json_object_set_new(j, "chunks", json_integer(c->chunks));
	json_object_set_new(j, "next_enterprise_id", c->running ? json_integer(c->next_id)
								 : json_null());
	json_object_set_new(j, "last_enterprise_id", json_integer(c->last_id));
	json_object_set_new(j, "started_at", api_time(c->started_at));
	json_object_set_new(j, "updated_at", api_time(c->updated_at));
	json_object_set_new(j, "finished_at", api_time(c->finished_at));
	return j;
}

static int h_recompute(struct req *r)
{
	struct visit_recompute c;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = visit_recompute_get(db, r->actor.tenant_id, &c, &r->err);
	return rc ? rc : reply_json(r, 200, recompute_json(&c));
}

static int add_policy(const struct visit_policy *p, void *ctx)
{
	json_array_append_new(ctx, policy_json(p));
	return 0;
}

static int h_policy_list(struct req *r)
{
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct visit_recompute c;
	json_t *items = json_array();
	int rc = visit_policy_list(db, r->actor.tenant_id, add_policy, items, &r->err);
	if (!rc)
		rc = visit_recompute_get(db, r->actor.tenant_id, &c, &r->err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *j = api_list(items, 0);
	json_object_set_new(j, "recompute", recompute_json(&c));
	return reply_json(r, 200, j);
}

/* An optional string or null; *out stays NULL for null. */
static int opt_text(struct req *r, json_t *obj, const char *key, const char *field,
		    const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return req_fail(r, ERR_BAD_REQUEST, field, "字段 %s 应为字符串或 null",
				"'%s' must be a string or null", field);
	*out = json_string_value(v);
	return 0;
}

static int parse_policy(struct req *r, json_t *b, struct visit_policy_input *in)
{
	static const char *const allowed[] = {"name", "interval_days", "match", NULL};
	static const char *const match_keys[] = {"is_key", "tag", "size_class", "industry_section",
						 NULL};
	int rc;
	in->match_key = -1;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_str(b, "name", false, 0, &in->name, &r->err)))
		return rc;
	if (jsonv_has(b, "interval_days")) {
		if ((rc = jsonv_int(b, "interval_days", true, INT64_MIN, INT64_MAX, &in->interval_days,
				    &r->err)))
			return rc;
		in->set_interval = true;
	}
	json_t *m = json_object_get(b, "match");
	if (!m)
		return 0;
	in->set_match = true;
	if (json_is_null(m))
		return 0;
	if (!json_is_object(m))
		return req_fail(r, ERR_BAD_REQUEST, "match", "match 应为对象", "'match' must be an object");
	if ((rc = jsonv_only(m, match_keys, &r->err))) {
		char field[64];
		snprintf(field, sizeof field, "match.%.32s", r->err.field);
		snprintf(r->err.field, sizeof r->err.field, "%s", field);
		return rc;
	}
	json_t *k = json_object_get(m, "is_key");
	if (k && !json_is_null(k)) {
		if (!json_is_boolean(k))
			return req_fail(r, ERR_BAD_REQUEST, "match.is_key",
					"match.is_key 应为 true、false 或 null",
					"'match.is_key' must be true, false or null");
		in->match_key = json_is_true(k) ? 1 : 0;
	}
	if ((rc = opt_text(r, m, "tag", "match.tag", &in->match_tag)) ||
	    (rc = opt_text(r, m, "size_class", "match.size_class", &in->match_size)) ||
	    (rc = opt_text(r, m, "industry_section", "match.industry_section", &in->match_section)))
		return rc;
	return 0;
}

/* The policy after a change, with the recomputation the change started (as
 * the change left it: its first chunk done). */
static int reply_policy(struct req *r, int status, const struct visit_policy_write *w)
{
	struct visit_policy p;
	int rc = visit_policy_get(req_db(r), r->actor.tenant_id, w->id, &p, &r->err);
	if (rc)
		return rc;
	json_t *j = policy_json(&p);
	json_object_set_new(j, "recomputed", json_integer(w->recomputed));
	json_object_set_new(j, "recompute", recompute_json(&w->recompute));
	return reply_json(r, status, j);
}

static int h_policy_create(struct req *r)
{
	struct visit_policy_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				       .now = now_ms()};
	json_t *b = req_body_json(r);
	int rc;
	if (!b)
		return r->err.code;
	if ((rc = parse_policy(r, b, &w.in)) || (rc = visit_policy_validate(&w.in, true, &r->err)) ||
	    (rc = req_write(r, visit_policy_create, &w)))
		return rc;
	return reply_policy(r, 201, &w);
}

static int h_policy_get(struct req *r)
{
	int64_t id;
	struct visit_policy p;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = visit_policy_get(db, r->actor.tenant_id, id, &p, &r->err)))
		return rc;
	return reply_json(r, 200, policy_json(&p));
}

static int h_policy_update(struct req *r)
{
	struct visit_policy_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				       .now = now_ms()};
	json_t *b;
	int rc = req_param_id(r, "id", &w.id);
	if (rc)
		return rc;
	if (!(b = req_body_json(r)))
		return r->err.code;
	if ((rc = parse_policy(r, b, &w.in)) ||
	    (rc = visit_policy_validate(&w.in, false, &r->err)) ||
	    (rc = req_write(r, visit_policy_update, &w)))
		return rc;
	return reply_policy(r, 200, &w);
}

static int h_policy_delete(struct req *r)
{
	struct visit_policy_write w = {.who = &r->actor, .tenant_id = r->actor.tenant_id,
				       .now = now_ms()};
	int rc = req_param_id(r, "id", &w.id);
	if (rc || (rc = req_write(r, visit_policy_delete, &w)))
		return rc;
	return reply_json(r, 200, json_pack("{s:I,s:I,s:o}", "id", (json_int_t)w.id, "recomputed",
					    (json_int_t)w.recomputed, "recompute",
					    recompute_json(&w.recompute)));
}

/* ---- state and tasks ---- */

/* Days from today (local) to the due day: 0 due today, negative overdue. */
static int64_t days_left(int64_t due, int64_t now)
{
	return workcal_local_day(due) - workcal_local_day(now);
}

static int h_state(struct req *r)
{
	int64_t id, now = now_ms();
	struct visit_state s;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = visit_state_get(db, &r->actor, r->scope, id, &s, &r->err)))
		return rc;
	json_t *j = json_object();
	json_object_set_new(j, "enterprise_id", json_integer(id));
	json_object_set_new(j, "policy",
			    s.policy_id ? json_pack("{s:I,s:s,s:i}", "id", (json_int_t)s.policy_id,
						    "name", s.policy_name, "interval_days",
						    s.interval_days)
					: json_null());
	json_object_set_new(j, "last_visit_id", api_id(s.last_visit_id));
	json_object_set_new(j, "last_visit_at", api_time(s.last_visit_at));
	json_object_set_new(j, "visits", json_integer(s.visits));
	json_object_set_new(j, "next_due_at", api_time(s.next_due_at));
	json_object_set_new(j, "overdue", json_boolean(s.next_due_at && s.next_due_at < now));
	json_object_set_new(j, "days_left",
			    s.next_due_at ? json_integer(days_left(s.next_due_at, now)) : json_null());
	json_object_set_new(j, "recompute_pending", json_boolean(s.pending));
	return reply_json(r, 200, j);
}

struct task_ctx {
	json_t *items;
	int64_t now, n;
	bool has_point;
	double lat, lon;
	char cursor[VISIT_CURSOR_MAX];
};

static int add_task(const struct visit_task *t, void *p)
{
	struct task_ctx *c = p;
	json_t *j = json_object();
	json_object_set_new(j, "enterprise_id", json_integer(t->enterprise_id));
	json_object_set_new(j, "name", json_string(t->name));
	json_object_set_new(j, "credit_code", json_string(t->credit_code));
	json_object_set_new(j, "address", json_string(t->address));
	json_object_set_new(j, "is_key", json_boolean(t->is_key));
	json_object_set_new(j, "grid_id", api_id(t->grid_id));
	json_object_set_new(j, "lat", t->has_location ? json_real(t->lat) : json_null());
	json_object_set_new(j, "lon", t->has_location ? json_real(t->lon) : json_null());
	json_object_set_new(j, "policy_id", api_id(t->policy_id));
	json_object_set_new(j, "interval_days", json_integer(t->interval_days));
	json_object_set_new(j, "last_visit_at", api_time(t->last_visit_at));
	json_object_set_new(j, "next_due_at", json_integer(t->next_due_at));
	json_object_set_new(j, "overdue", json_boolean(t->next_due_at < c->now));
	json_object_set_new(j, "days_left", json_integer(days_left(t->next_due_at, c->now)));
	json_object_set_new(j, "distance_m",
			    c->has_point && t->has_location
				    ? json_integer((json_int_t)lround(
					      geo_distance_m(c->lat, c->lon, t->lat, t->lon)))
				    : json_null());
	json_array_append_new(c->items, j);
	visit_task_cursor(t, c->cursor);
	c->n++;
	return 0;
}

/* ?lat=&lon= (both or neither): where the worker is, for the distances. */
static int query_point(struct req *r, bool *has, double *lat, double *lon)
{
	const char *la = req_query(r, "lat"), *lo = req_query(r, "lon");
	char *end = NULL;
	*has = false;
	if (!(la && *la) && !(lo && *lo))
		return 0;
	if (!la || !*la)
		return req_fail(r, ERR_BAD_REQUEST, "lat", "缺少纬度 lat", "'lat' is required with 'lon'");
	if (!lo || !*lo)
		return req_fail(r, ERR_BAD_REQUEST, "lon", "缺少经度 lon", "'lon' is required with 'lat'");
	*lat = strtod(la, &end);
	if (*end || !isfinite(*lat) || fabs(*lat) > 90)
		return req_fail(r, ERR_BAD_REQUEST, "lat", "纬度应为 -90 到 90 之间的数",
				"lat must be a number between -90 and 90");
	*lon = strtod(lo, &end);
	if (*end || !isfinite(*lon) || fabs(*lon) > 180)
		return req_fail(r, ERR_BAD_REQUEST, "lon", "经度应为 -180 到 180 之间的数",
				"lon must be a number between -180 and 180");
	*has = true;
	return 0;
}

/* The tasks of the query under scope; worker_filter: ?grid_id= and ?worker_id= allowed. */
static int tasks(struct req *r, enum scope scope, bool worker_filter)
{
	struct visit_task_filter f = {0};
	struct visit_task_counts counts;
	struct task_ctx c = {.now = now_ms()};
	int64_t within = 0, worker = 0;
	struct db *db;
	int rc = req_query_int(r, "within_days", 14, 0, 365, &within);
	if (!rc)
		rc = req_query_int(r, "limit", 50, 1, 200, &f.limit);
	if (!rc && worker_filter)
		rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &f.grid_id);
	if (!rc && worker_filter)
		rc = req_query_int(r, "worker_id", 0, 0, INT64_MAX, &worker);
	if (!rc)
		rc = query_point(r, &c.has_point, &c.lat, &c.lon);
	if (rc)
		return rc;
	f.after = req_query(r, "after");
	if (worker && f.grid_id)
		return req_fail(r, ERR_BAD_REQUEST, "worker_id", "grid_id 与 worker_id 只能给出一个",
				"give grid_id or worker_id, not both");
	if (!(db = req_db(r)))
		return r->err.code;
	if (worker && (rc = visit_worker_grid(db, r->actor.tenant_id, worker, "worker_id",
					      &f.grid_id, &r->err)))
		return rc;
	/* due before the end of the day `within` days from today */
	f.due_before = workcal_utc_ms(workcal_local_day(c.now) + within + 1, 0);
	c.items = json_array();
	rc = visit_tasks(db, &r->actor, scope, &f, c.now, add_task, &c, &counts, &r->err);
	if (rc) {
		json_decref(c.items);
		return rc;
	}
	json_t *j = json_object();
	json_object_set_new(j, "items", c.items);
	json_object_set_new(j, "next", c.n == f.limit ? json_string(c.cursor) : json_null());
	json_object_set_new(j, "counts", json_pack("{s:I,s:I}", "overdue", (json_int_t)counts.overdue,
						   "due", (json_int_t)counts.due));
	json_object_set_new(j, "due_before", json_integer(f.due_before));
	return reply_json(r, 200, j);
}

static int h_tasks(struct req *r)
{
	return tasks(r, r->scope, true);
}

static int h_my_tasks(struct req *r)
{
	if (!r->actor.grid_id)
		return req_fail(r, ERR_UNPROCESSABLE, "grid_id", "您还没有分配网格",
				"you have no grid assigned");
	return tasks(r, r->scope, false);
}

static int add_worker(const struct visit_worker *w, void *ctx)
{
	json_t *j = json_object();
	json_object_set_new(j, "user_id", json_integer(w->user_id));
	json_object_set_new(j, "login", json_string(w->login));
	json_object_set_new(j, "display_name", json_string(w->display_name));
	json_object_set_new(j, "grid", json_pack("{s:I,s:s,s:s}", "id", (json_int_t)w->grid_id,
						 "code", w->grid_code, "name", w->grid_name));
	json_object_set_new(j, "enterprises", json_integer(w->enterprises));
	json_object_set_new(j, "with_duty", json_integer(w->with_duty));
	json_object_set_new(j, "overdue", json_integer(w->overdue));
	json_object_set_new(j, "due", json_integer(w->due));
	json_object_set_new(j, "visits_30d", json_integer(w->visits_recent));
	json_array_append_new(ctx, j);
	return 0;
}

static int h_workers(struct req *r)
{
	struct page pg;
	int64_t within = 0, grid = 0, now = now_ms();
	struct db *db;
	int rc = api_page(r, &pg);
	if (!rc)
		rc = req_query_int(r, "within_days", 14, 0, 365, &within);
	if (!rc)
		rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &grid);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	int64_t due_before = workcal_utc_ms(workcal_local_day(now) + within + 1, 0);
	json_t *items = json_array();
	rc = visit_worker_counts(db, &r->actor, r->scope, grid, now, due_before,
				 now - 30 * VISIT_DAY_MS, pg.after, pg.limit, add_worker, items,
				 &r->err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	size_t n = json_array_size(items);
	int64_t next = (int64_t)n == pg.limit
			       ? json_integer_value(json_object_get(json_array_get(items, n - 1), "user_id"))
			       : 0;
	json_t *j = api_list(items, next);
	json_object_set_new(j, "due_before", json_integer(due_before));
	return reply_json(r, 200, j);
}

/* ---- visits ---- */

static json_t *visit_json(const struct visit *v)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(v->id));
	json_object_set_new(j, "enterprise_id", json_integer(v->enterprise_id));
	json_object_set_new(j, "enterprise_name", json_string(v->enterprise_name));
	json_object_set_new(j, "grid_id", api_id(v->grid_id));
	json_object_set_new(j, "worker_id", json_integer(v->worker_id));
	json_object_set_new(j, "worker_name", json_string(v->worker_name));
	json_object_set_new(j, "visited_at", json_integer(v->visited_at));
	json_object_set_new(j, "lat", v->has_position ? json_real(v->lat) : json_null());
	json_object_set_new(j, "lon", v->has_position ? json_real(v->lon) : json_null());
	json_object_set_new(j, "distance_m",
			    v->has_distance ? json_integer((json_int_t)lround(v->distance_m))
					    : json_null());
	json_object_set_new(j, "far", json_boolean(v->far));
	json_object_set_new(j, "met", json_pack("{s:s,s:s}", "name", v->met_name, "role",
						v->met_role));
	json_object_set_new(j, "summary", json_string(v->summary));
	json_object_set_new(j, "findings", json_integer(v->findings));
	json_object_set_new(j, "requests", json_integer(v->requests));
	json_object_set_new(j, "photos", json_integer(v->photos));
	json_object_set_new(j, "created_at", json_integer(v->created_at));
	return j;
}

static int add_finding(const struct visit_finding *f, void *ctx)
{
	json_t *j = json_object();
	json_object_set_new(j, "seq", json_integer(f->seq));
	json_object_set_new(j, "category_id", json_integer(f->category_id));
	json_object_set_new(j, "category_name", json_string(f->category_name));
	json_object_set_new(j, "description", json_string(f->description));
	json_object_set_new(j, "raise_request", json_boolean(f->raise_request));
	json_object_set_new(j, "request_id", api_id(f->request_id));
	json_object_set_new(j, "request_number",
			    f->request_id ? json_string(f->request_number) : json_null());
	json_array_append_new(ctx, j);
	return 0;
}

static json_t *photo_json(const struct visit_photo *p)
{
	char url[64];
	snprintf(url, sizeof url, "/api/v1/visit-photos/%lld", (long long)p->id);
	return json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:I,s:I,s:s}", "id", (json_int_t)p->id,
			 "visit_id", (json_int_t)p->visit_id, "filename", p->filename,
			 "content_type", p->content_type, "size", (json_int_t)p->size, "sha256",
			 p->sha256, "uploaded_by", (json_int_t)p->uploaded_by, "uploaded_at",
			 (json_int_t)p->uploaded_at, "url", url);
}

static int add_photo(const struct visit_photo *p, void *ctx)
{
	json_array_append_new(ctx, photo_json(p));
	return 0;
}

/* The visit with its findings and photos, as the actor may read it. */
static json_t *visit_detail(struct req *r, int64_t id)
{
	struct db *db = req_db(r);
	struct visit v;
	if (!db || visit_get(db, &r->actor, authz_scope(&r->actor, PERM_VISIT_READ), id, &v,
			     &r->err))
		return NULL;
	json_t *j = visit_json(&v), *findings = json_array(), *photos = json_array();
	visit_release(&v);
	if (visit_findings(db, r->actor.tenant_id, id, add_finding, findings, &r->err) ||
	    visit_photos(db, r->actor.tenant_id, id, add_photo, photos, &r->err)) {
		json_decref(findings);
		json_decref(photos);
		json_decref(j);
		return NULL;
	}
	json_object_set_new(j, "finding_list", findings);
	json_object_set_new(j, "photo_list", photos);
	return j;
}

static int finding_field(struct req *r, size_t i)
{
	char field[64];
	snprintf(field, sizeof field, "findings[%zu].%.32s", i % 1000, r->err.field);
	snprintf(r->err.field, sizeof r->err.field, "%s", field);
	return r->err.code;
}

static int parse_findings(struct req *r, json_t *b, struct visit_input *in)
{
	static const char *const allowed[] = {"category_id", "description", "raise_request", "type",
					      NULL};
	json_t *arr = json_object_get(b, "findings");
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return req_fail(r, ERR_BAD_REQUEST, "findings", "findings 应为数组",
				"'findings' must be an array");
	size_t n = json_array_size(arr);
	if (n > VISIT_FINDINGS_MAX)
		return req_fail(r, ERR_UNPROCESSABLE, "findings", "一次走访最多记录 %d 条发现",
				"at most %d findings per visit", VISIT_FINDINGS_MAX);
	struct visit_finding_input *f = arena_zalloc(r->arena, (n ? n : 1) * sizeof *f);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		char field[64];
		if (!json_is_object(o)) {
			snprintf(field, sizeof field, "findings[%zu]", i);
			return req_fail(r, ERR_BAD_REQUEST, field, "%s 应为对象", "'%s' must be an object",
					field);
		}
		if (jsonv_only(o, allowed, &r->err) ||
		    jsonv_int(o, "category_id", true, 1, INT64_MAX, &f[i].category_id, &r->err) ||
		    jsonv_str(o, "description", true, 0, &f[i].description, &r->err) ||
		    jsonv_bool(o, "raise_request", false, &f[i].raise_request, &r->err) ||
		    jsonv_str(o, "type", false, 16, &f[i].req_type, &r->err))
			return finding_field(r, i);
	}
	in->findings = f;
	in->nfindings = n;
	return 0;
}

static json_t *warning(const char *code, const char *zh, const char *en)
{
	return json_pack("{s:s,s:s,s:s}", "code", code, "message_zh", zh, "message", en);
}

static int h_record(struct req *r)
{
	static const char *const allowed[] = {"enterprise_id", "visited_at", "lat", "lon",
					      "met_name", "met_role", "summary", "findings", NULL};
	struct visit_write w = {.who = &r->actor, .scope = r->scope,
				.tenant_id = r->actor.tenant_id, .now = now_ms()};
	struct visit_input *in = &w.in;
	json_t *b = req_body_json(r);
	int rc;
	if (!b)
		return r->err.code;
	in->visited_at = w.now;
	if ((rc = jsonv_only(b, allowed, &r->err)) ||
	    (rc = jsonv_int(b, "enterprise_id", true, 1, INT64_MAX, &in->enterprise_id, &r->err)) ||
	    (rc = jsonv_int(b, "visited_at", false, 1, INT64_MAX, &in->visited_at, &r->err)) ||
	    (rc = jsonv_str(b, "met_name", false, 0, &in->met_name, &r->err)) ||
	    (rc = jsonv_str(b, "met_role", false, 0, &in->met_role, &r->err)) ||
	    (rc = jsonv_str(b, "summary", true, 0, &in->summary, &r->err)) ||
	    (rc = parse_findings(r, b, in)))
		return rc;
	if (jsonv_has(b, "lat") || jsonv_has(b, "lon")) {
		json_t *la = json_object_get(b, "lat"), *lo = json_object_get(b, "lon");
		if (!json_is_number(la))
			return req_fail(r, ERR_BAD_REQUEST, "lat", "纬度 lat 应为数字（与 lon 一同给出）",
					"'lat' must be a number (given with 'lon')");
		if (!json_is_number(lo))
			return req_fail(r, ERR_BAD_REQUEST, "lon", "经度 lon 应为数字（与 lat 一同给出）",
					"'lon' must be a number (given with 'lat')");
		in->has_position = true;
		in->lat = json_number_value(la);
		in->lon = json_number_value(lo);
	}
	if ((rc = visit_validate(in, w.now, &r->err)) || (rc = req_write(r, visit_record, &w)))
		return rc;
	json_t *j = visit_detail(r, w.id);
	if (!j)
		return r->err.code;
	json_t *warnings = json_array();
	char zh[256], en[256];
	if (w.far) {
		snprintf(zh, sizeof zh, "记录的位置距企业登记地址 %ld 米，超过 %lld 米",
			 lround(w.distance_m), (long long)w.threshold_m);
		snprintf(en, sizeof en,
			 "the position recorded is %ld m from the enterprise's location, more than "
			 "%lld m",
			 lround(w.distance_m), (long long)w.threshold_m);
		json_t *wj = warning("far_from_enterprise", zh, en);
		json_object_set_new(wj, "distance_m", json_integer((json_int_t)lround(w.distance_m)));
		json_object_set_new(wj, "threshold_m", json_integer(w.threshold_m));
		json_array_append_new(warnings, wj);
	}
	if (!in->has_position)
		json_array_append_new(warnings, warning("no_position", "没有记录走访位置，无法核对距离",
							"no position was recorded: the distance "
							"cannot be checked"));
	else if (!w.enterprise_located)
		json_array_append_new(warnings,
				      warning("enterprise_not_located",
					      "企业没有登记坐标，无法核对距离",
					      "the enterprise has no location: the distance cannot "
					      "be checked"));
	json_object_set_new(j, "warnings", warnings);
	json_object_set_new(j, "campaigns", json_integer(w.campaigns));
	struct visit_state s;
	if (visit_state_get(req_db(r), &r->actor, authz_scope(&r->actor, PERM_VISIT_READ),
			    in->enterprise_id, &s, &r->err) == 0)
		json_object_set_new(j, "state",
				    json_pack("{s:o,s:o,s:o}", "last_visit_at",
					      api_time(s.last_visit_at), "next_due_at",
					      api_time(s.next_due_at), "policy_id",
					      api_id(s.policy_id)));
	return reply_json(r, 201, j);
}

static int h_visit_get(struct req *r)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	json_t *j = visit_detail(r, id);
	return j ? reply_json(r, 200, j) : r->err.code;
}

struct list_ctx {
	json_t *items;
	int64_t n;
	char cursor[VISIT_CURSOR_MAX];
};

static int add_visit(const struct visit *v, void *p)
{
	struct list_ctx *c = p;
	json_array_append_new(c->items, visit_json(v));
	visit_cursor(v, c->cursor);
	c->n++;
	return 0;
}

/* ?from=&to= (YYYY-MM-DD, local days, both included) into [from, to) ms. */
static int query_period(struct req *r, int64_t *from, int64_t *to)
{
	const char *f = req_query(r, "from"), *t = req_query(r, "to");
	int64_t d;
	*from = *to = 0;
	if (f && *f) {
		if (!workcal_parse_date(f, &d))
			return req_fail(r, ERR_BAD_REQUEST, "from", "起始日期应为 YYYY-MM-DD",
					"from must be a date YYYY-MM-DD");
		*from = workcal_utc_ms(d, 0);
	}
	if (t && *t) {
		if (!workcal_parse_date(t, &d))
			return req_fail(r, ERR_BAD_REQUEST, "to", "截止日期应为 YYYY-MM-DD",
					"to must be a date YYYY-MM-DD");
		*to = workcal_utc_ms(d + 1, 0);
	}
	if (*from && *to && *to <= *from)
		return req_fail(r, ERR_BAD_REQUEST, "to", "截止日期不能早于起始日期",
				"to must not be before from");
	return 0;
}

static int h_visit_list(struct req *r)
{
	struct visit_filter f = {0};
	struct list_ctx c = {0};
	int64_t far = 0;
	struct db *db;
	int rc = req_query_int(r, "limit", 50, 1, 200, &f.limit);
	if (!rc)
		rc = req_query_int(r, "enterprise_id", 0, 0, INT64_MAX, &f.enterprise_id);
	if (!rc)
		rc = req_query_int(r, "worker_id", 0, 0, INT64_MAX, &f.worker_id);
	if (!rc)
		rc = req_query_int(r, "grid_id", 0, 0, INT64_MAX, &f.grid_id);
	if (!rc)
		rc = req_query_int(r, "far", 0, 0, 1, &far);
	if (!rc)
		rc = query_period(r, &f.from, &f.to);
	if (rc)
		return rc;
	f.far_only = far != 0;
	f.after = req_query(r, "after");
	if (!(db = req_db(r)))
		return r->err.code;
	c.items = json_array();
	if ((rc = visit_list(db, &r->actor, r->scope, &f, add_visit, &c, &r->err))) {
		json_decref(c.items);
		return rc;
	}
	return reply_json(r, 200,
			  json_pack("{s:o,s:o}", "items", c.items, "next",
				    c.n == f.limit ? json_string(c.cursor) : json_null()));
}

/* ---- photos ---- */

static int h_photo_upload(struct req *r)
{
	struct attachment_file f;
	struct visit_photo_add job = {.who = &r->actor, .scope = r->scope,
				      .tenant_id = r->actor.tenant_id, .file = &f, .now = now_ms()};
	int64_t max_bytes = 0;
	struct db *db;
	int rc = req_param_id(r, "id", &job.visit_id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	struct visit v; /* a visit out of reach is 404 before the file is looked at */
	if ((rc = visit_get(db, &r->actor, authz_scope(&r->actor, PERM_VISIT_READ), job.visit_id,
			    &v, &r->err)))
		return rc;
	visit_release(&v);
	if ((rc = attachment_limits(db, r->actor.tenant_id, &max_bytes, NULL, &r->err)) ||
	    (rc = attachment_prepare(r->body.p, r->body.len, req_query(r, "filename"), max_bytes,
				     &f, &r->err)) ||
	    (rc = req_write(r, visit_photo_add, &job)))
		return rc;
	struct visit_photo p;
	if ((rc = visit_photo_get(req_db(r), &r->actor, authz_scope(&r->actor, PERM_VISIT_READ),
				  job.id, &p, &r->err)))
		return rc;
	json_t *j = photo_json(&p);
	json_object_set_new(j, "existed", json_boolean(job.existed));
	return reply_json(r, job.existed ? 200 : 201, j);
}

static int send_data(const void *p, size_t n, void *ctx)
{
	struct req *r = ctx;
	return reply_raw(r, 200, r->content_type, p, n);
}

static int h_photo_get(struct req *r)
{
	int64_t id;
	struct visit_photo p;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = visit_photo_get(db, &r->actor, r->scope, id, &p, &r->err)))
		return rc;
	/* the blob store is the attachments' */
	struct attachment a = {.tenant_id = p.tenant_id};
	snprintf(a.sha256, sizeof a.sha256, "%s", p.sha256);
	r->content_type = arena_strdup(r->arena, p.content_type);
	if ((rc = attachment_data(db, &a, send_data, r, &r->err)))
		return rc;
	req_header_add(r, "Content-Disposition", api_disposition(r->arena, p.filename));
	req_header_add(r, "Content-Security-Policy", "sandbox; default-src 'none'");
	return 0;
}

const struct route api_visit_routes[] = {
	{"GET", "/api/v1/visit-policies", h_policy_list, PERM_VISIT_READ, 0, 0,
	 "走访规则 / visit policies"},
	{"POST", "/api/v1/visit-policies", h_policy_create, PERM_VISIT_PLAN, 0, 0,
	 "新建走访规则 / create a visit policy"},
	{"GET", "/api/v1/visit-policies/{id}", h_policy_get, PERM_VISIT_READ, 0, 0,
	 "走访规则详情 / one visit policy"},
	{"PATCH", "/api/v1/visit-policies/{id}", h_policy_update, PERM_VISIT_PLAN, 0, 0,
	 "修改走访规则 / change a visit policy"},
	{"DELETE", "/api/v1/visit-policies/{id}", h_policy_delete, PERM_VISIT_PLAN, 0, 0,
	 "删除走访规则 / delete a visit policy"},
	{"GET", "/api/v1/visit-policies/recompute", h_recompute, PERM_VISIT_READ, 0, 0,
	 "走访状态重算进度 / progress of the visit states' recomputation"},
	{"GET", "/api/v1/enterprises/{id}/visit-state", h_state, PERM_VISIT_READ, 0, 0,
	 "企业走访状态 / an enterprise's last visit and next due date"},
	{"GET", "/api/v1/visit-tasks", h_tasks, PERM_VISIT_READ, 0, 0,
	 "待走访企业 / enterprises due for a visit"},
	{"GET", "/api/v1/visit-tasks/workers", h_workers, PERM_VISIT_READ, 0, 0,
	 "网格员走访任务统计 / visit figures per grid worker"},
	{"GET", "/api/v1/me/visit-tasks", h_my_tasks, PERM_VISIT_WRITE, 0, 0,
	 "我的走访任务 / my visit tasks"},
	{"POST", "/api/v1/visits", h_record, PERM_VISIT_WRITE, 256u << 10, 0,
	 "记录走访 / record a visit"},
	{"GET", "/api/v1/visits", h_visit_list, PERM_VISIT_READ, 0, 0, "走访记录 / visits"},
	{"GET", "/api/v1/visits/{id}", h_visit_get, PERM_VISIT_READ, 0, 0,
	 "走访记录详情 / one visit"},
	{"POST", "/api/v1/visits/{id}/photos", h_photo_upload, PERM_VISIT_WRITE,
	 ATTACHMENT_ROUTE_MAX, ROUTE_SLOW, "上传走访照片 / add a photo to a visit"},
	{"GET", "/api/v1/visit-photos/{id}", h_photo_get, PERM_VISIT_READ, 0, 0,
	 "下载走访照片 / download a visit photo"},
	{0},
};
