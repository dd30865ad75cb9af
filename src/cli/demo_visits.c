/*
 * demo_visits.c — the demo district's visit system (走访服务制度): default
 * policies, the campaign 千企万户大走访 (started 8 weeks ago, ends in 5 weeks,
 * about half done), and about five months of visits by the grid workers.
 *
 * Everything goes through the core functions (visit_policy_create,
 * campaign_create, visit_record, request_act), so the visit state, the
 * campaign counters and the requests' rate counters are what they would be
 * had the visits been recorded one by one. Deterministic from the seed and
 * the date: the history ends at the start of today (Shanghai).
 *
 * Who is visited: every active enterprise in a grid with a worker, its last
 * visit drawn within a little more than its interval (so about one in twenty
 * is overdue), the visits before it spaced 60–100 % of the interval; one
 * enterprise in twenty-five is never visited, and the grids without a
 * worker (every tenth) are not visited at all — the blind spots.
 */
#include "cli/demo_visits.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "cli/demo_data.h"
#include "core/campaign.h"
#include "core/request.h"
#include "core/user.h"
#include "core/visit.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

#define VISIT_SEED (20250210 + 31)
#define HISTORY_DAYS 150
#define CAMPAIGN_AGO_DAYS 56
#define CAMPAIGN_LEFT_DAYS 35
#define HOUR_MS 3600000LL
#define BATCH 400

static const struct {
	const char *name;
	int days;
	int key;                   /* -1 any */
	const char *tag, *size;
} policies[] = {
	{"存续企业每季度走访", 90, -1, NULL, NULL},
	{"重点企业每月走访", 30, 1, NULL, NULL},
	{"专精特新企业每两月走访", 60, -1, "专精特新", NULL},
	{"大型企业每45天走访", 45, -1, NULL, "large"},
};

static const char *const roles_met[] = {"法定代表人", "总经理", "财务负责人", "行政主管",
					"店长", "生产主管"};
static const char *const other_names[] = {"王静", "李娜", "张磊", "刘洋", "陈敏", "杨帆",
					  "赵强", "黄丽", "周伟", "吴芳"};
static const char *const summaries[] = {
	"了解企业生产经营情况，宣讲惠企政策，企业经营正常。",
	"走访企业负责人，了解用工和融资需求，登记企业诉求。",
	"开展安全生产提示，核实企业经营地址和联系方式。",
	"宣传“二七帮·易企办”诉求渠道，指导企业线上提交诉求。",
	"回访企业前期反映问题的办理情况，企业表示满意。",
	"了解企业年度目标和扩产计划，收集对营商环境的意见建议。",
};
static const char *const finding_texts[] = {
	"企业反映门前道路破损，货车进出困难，希望尽快修复。",
	"企业希望了解今年的稳岗补贴政策和申报时间。",
	"企业反映近期多次停电，影响正常生产。",
	"企业有流动资金贷款需求，希望对接银行。",
	"企业反映招工难，希望参加区里组织的招聘会。",
	"企业门头招牌需要更换，不清楚审批要求。",
};

struct person {
	struct actor a;
};

struct target {
	int64_t id, grid;
	bool has_location;
	double lat, lon;
	char legal_rep[132];
	char registered_on[11];
	int interval;
};

struct plan {
	int64_t at;
	int target, worker;      /* indexes */
	int role, name, summary; /* indexes into the texts */
	double dlat, dlon;       /* offset of the recorded position */
	bool finding, raise;
	int category, text;
};

struct category {
	int64_t id, dept, handler; /* the handler who signs its requests (0: none) */
};

struct job {
	struct demo_visit_result *res;
	const struct actor *sys;
	int64_t tenant, now;
	struct workcal *cal;
	struct person *workers;
	struct target *targets;
	const struct plan *plan;
	size_t first, count;
	const struct category *cats;
	size_t ncats;
	const struct actor *disp;
	struct person *handlers; /* by category index */
	struct demo_rng *rng;
};

static int load_actor(struct db *db, int64_t tenant, int64_t id, struct actor *a, struct err *e)
{
	struct user u;
	struct db_stmt *st = NULL;
	int rc = user_get(db, tenant, id, &u, e);
	if (rc)
		return rc;
	memset(a, 0, sizeof *a);
	a->tenant_id = tenant;
	a->user_id = u.id;
	a->department_id = u.department_id;
	a->enterprise_id = u.enterprise_id;
	a->roles = u.roles;
	snprintf(a->login, sizeof a->login, "%s", u.login);
	snprintf(a->display_name, sizeof a->display_name, "%s", u.display_name);
	snprintf(a->dept_path, sizeof a->dept_path, "%s", u.dept_path);
	snprintf(a->request_id, sizeof a->request_id, "demo");
	rc = db_queryf(db, &st, e,
		       "SELECT u.grid_id, g.path FROM users u JOIN grids g ON g.id = u.grid_id "
		       "WHERE u.tenant_id = $1 AND u.id = $2",
		       "ii", tenant, id);
	if (rc)
		return rc;
	if ((rc = db_step(st, e)) == DB_ROW) {
		a->grid_id = db_column_int64(st, 0);
		snprintf(a->grid_path, sizeof a->grid_path, "%s", db_column_text(st, 1));
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static int64_t pick(struct demo_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)demo_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* ---- policies and the campaign ---- */

static int setup_fn(struct db *db, void *arg, struct err *e)
{
	struct job *j = arg;
	int rc = 0;
	for (size_t i = 0; !rc && i < ARRAY_SIZE(policies); i++) {
		struct visit_policy_write w = {
			.who = j->sys, .tenant_id = j->tenant, .now = j->now - HISTORY_DAYS * 86400000LL,
			.in = {.name = policies[i].name, .set_interval = true,
			       .interval_days = policies[i].days, .set_match = true,
			       .match_key = policies[i].key, .match_tag = policies[i].tag,
			       .match_size = policies[i].size}};
		rc = visit_policy_create(db, &w, e);
		j->res->policies += !rc;
	}
	/* the states of every enterprise now, not in the server's background */
	return rc ? rc : visit_backlog_run(db, j->sys, j->tenant, j->now, e);
}

static int campaign_fn(struct db *db, void *arg, struct err *e)
{
	struct job *j = arg;
	int64_t today = workcal_local_day(j->now);
	char start[16], deadline[16];
	workcal_format_date(today - CAMPAIGN_AGO_DAYS, start, sizeof start);
	workcal_format_date(today + CAMPAIGN_LEFT_DAYS, deadline, sizeof deadline);
	struct campaign_create c = {
		.who = j->sys, .tenant_id = j->tenant,
		.now = workcal_utc_ms(today - CAMPAIGN_AGO_DAYS, 9 * HOUR_MS),
		.in = {.name = "千企万户大走访",
		       .description = "全区存续企业全覆盖走访：摸清企业诉求，宣讲惠企政策，"
				      "问题当场登记、限时办结。",
		       .starts_on = start, .deadline_on = deadline, .kind = CT_ALL}};
	int rc = campaign_create(db, &c, e);
	return rc ? rc : visit_backlog_run(db, j->sys, j->tenant, j->now, e); /* every target now */
}

/* ---- the visits ---- */

/* A raised request runs its course up to now: dispatched, signed, answered,
 * rated on the return visit — each step only if its time has come. */
static int request_course(struct db *db, struct job *j, int64_t id, const struct category *c,
			  const struct actor *handler, int64_t t0, struct err *e)
{
	static const enum req_action acts[] = {RA_DISPATCH, RA_SIGN, RA_REPLY, RA_RATE};
	int64_t t = t0;
	for (size_t k = 0; k < ARRAY_SIZE(acts); k++) {
		t += k == 0   ? pick(j->rng, 1, 6) * HOUR_MS
		     : k == 1 ? pick(j->rng, 1, 4) * HOUR_MS
		     : k == 2 ? pick(j->rng, 20, 96) * HOUR_MS
			      : pick(j->rng, 24, 72) * HOUR_MS;
		if (t > j->now || (k >= 1 && !handler))
			return 0;
		const struct actor *who = k == 1 || k == 2 ? handler : j->disp;
		struct request_step s = {
			.who = who, .scope = authz_scope(who, request_action_perm(acts[k])),
			.tenant_id = j->tenant, .id = id, .action = acts[k], .now = t, .cal = j->cal,
			.department_id = c->dept,
			.public_note = k == 2 ? "已联系企业并协调相关单位解决，请企业确认。" : NULL,
			.rating = "satisfied", .solved = true};
		int rc = request_act(db, &s, e);
		if (rc)
			return rc;
	}
	return 0;
}

static int visits_fn(struct db *db, void *arg, struct err *e)
{
	struct job *j = arg;
	for (size_t i = j->first; i < j->first + j->count; i++) {
		const struct plan *p = &j->plan[i];
		const struct target *t = &j->targets[p->target];
		struct person *w = &j->workers[p->worker];
		struct visit_finding_input f = {0};
		bool legal = p->role < 2;
		struct visit_write v = {
			.who = &w->a, .scope = SCOPE_GRID, .tenant_id = j->tenant,
			.now = p->at + pick(j->rng, 5, 120) * 60000,
			.in = {.enterprise_id = t->id, .visited_at = p->at,
			       .has_position = t->has_location, .lat = t->lat + p->dlat,
			       .lon = t->lon + p->dlon, .met_role = roles_met[p->role],
			       .met_name = legal && t->legal_rep[0] ? t->legal_rep
								    : other_names[p->name],
			       .summary = summaries[p->summary]}};
		if (v.now > j->now)
			v.now = j->now;
		if (p->finding) {
			f.category_id = j->cats[p->category].id;
			f.description = finding_texts[p->text];
			f.raise_request = p->raise;
			v.in.findings = &f;
			v.in.nfindings = 1;
		}
		int rc = visit_record(db, &v, e);
		if (rc)
			return rc;
		j->res->visits++;
		j->res->far += v.far;
		j->res->findings += p->finding;
		if (p->finding && p->raise && v.request_ids[0]) {
			j->res->requests++;
			const struct actor *h =
				j->handlers[p->category].a.user_id ? &j->handlers[p->category].a : NULL;
			if ((rc = request_course(db, j, v.request_ids[0], &j->cats[p->category], h, v.now,
						 e)))
				return rc;
		}
	}
	return 0;
}

static int cmp_plan(const void *a, const void *b)
{
	int64_t x = ((const struct plan *)a)->at, y = ((const struct plan *)b)->at;
	return (x > y) - (x < y);
}

/* The workers on each grid: index of the first worker of grid g in ws (sorted by grid). */
struct gw {
	int64_t grid;
	int idx;
};

static int cmp_gw(const void *a, const void *b)
{
	const struct gw *x = a, *y = b;
	if (x->grid != y->grid)
		return (x->grid > y->grid) - (x->grid < y->grid);
	return x->idx - y->idx;
}

int demo_visits(struct db_pool *pool, struct db *rdb, const struct actor *sys, int64_t tenant,
		struct demo_visit_result *res, struct err *e)
{
	struct db_stmt *st = NULL;
	struct person *workers = NULL, *handlers = NULL;
	struct gw *gws = NULL;
	struct target *targets = NULL;
	struct plan *plan = NULL;
	struct category *cats = NULL;
	struct workcal *cal = NULL;
	struct actor disp;
	size_t nw = 0, nt = 0, np = 0, nc = 0, cap;
	int rc;

	memset(res, 0, sizeof *res);
	int64_t now = workcal_utc_ms(workcal_local_day(now_ms()), 0), today = workcal_local_day(now);
	struct demo_rng rng;
	demo_rng_seed(&rng, VISIT_SEED);
	struct job j = {.res = res, .sys = sys, .tenant = tenant, .now = now, .rng = &rng};
	if ((rc = db_pool_write(pool, setup_fn, &j, e)) || (rc = db_pool_write(pool, campaign_fn, &j, e)))
		goto out;

	/* the grid workers, by grid */
	int64_t ids[4096];
	if ((rc = db_queryf(rdb, &st, e,
			    "SELECT u.id FROM users u WHERE u.tenant_id = $1 AND u.status = 'active' "
			    "AND u.grid_id IS NOT NULL AND EXISTS (SELECT 1 FROM user_roles r WHERE "
			    "r.tenant_id = u.tenant_id AND r.user_id = u.id AND r.role = 'grid_worker') "
			    "ORDER BY u.id",
			    "i", tenant)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW && nw < ARRAY_SIZE(ids))
		ids[nw++] = db_column_int64(st, 0);
	db_finalize(st);
	st = NULL;
	if (rc < 0 || !nw)
		goto out;
	workers = xcalloc(nw, sizeof *workers);
	gws = xcalloc(nw, sizeof *gws);
	for (size_t i = 0; i < nw; i++) {
		if ((rc = load_actor(rdb, tenant, ids[i], &workers[i].a, e)))
			goto out;
		gws[i] = (struct gw){workers[i].a.grid_id, (int)i};
	}
	qsort(gws, nw, sizeof *gws, cmp_gw);

	/* categories whose department has a handler (findings are raised there) */
	if ((rc = db_queryf(rdb, &st, e,
			    "SELECT c.id, c.department_id, COALESCE((SELECT MIN(u.id) FROM users u "
			    "JOIN user_roles r ON r.tenant_id = u.tenant_id AND r.user_id = u.id AND "
			    "r.role = 'handler' WHERE u.tenant_id = c.tenant_id AND u.department_id = "
			    "c.department_id AND u.status = 'active'), 0) FROM request_categories c "
			    "WHERE c.tenant_id = $1 AND c.active = 1 AND c.department_id IS NOT NULL "
			    "ORDER BY c.id",
			    "i", tenant)))
		goto out;
	cap = 64;
	cats = xcalloc(cap, sizeof *cats);
	while ((rc = db_step(st, e)) == DB_ROW && nc < cap)
		if (db_column_int64(st, 2))
			cats[nc++] = (struct category){db_column_int64(st, 0), db_column_int64(st, 1),
						       db_column_int64(st, 2)};
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	handlers = xcalloc(nc ? nc : 1, sizeof *handlers);
	for (size_t i = 0; i < nc; i++)
		if ((rc = load_actor(rdb, tenant, cats[i].handler, &handlers[i].a, e)))
			goto out;
	struct user du;
	if ((rc = user_get_by_login(rdb, tenant, "dispatcher", &du, e)) ||
	    (rc = load_actor(rdb, tenant, du.id, &disp, e)) || (rc = workcal_get(rdb, tenant, &cal, e)))
		goto out;

	/* the enterprises with a duty and a grid */
	if ((rc = db_queryf(rdb, &st, e,
			    "SELECT e.id, e.grid_id, e.lat, e.lon, e.legal_rep, e.registered_on, "
			    "s.interval_days FROM enterprises e JOIN visit_state s ON s.tenant_id = "
			    "e.tenant_id AND s.enterprise_id = e.id WHERE e.tenant_id = $1 AND "
			    "e.status = 'active' AND e.grid_id IS NOT NULL AND s.interval_days IS NOT "
			    "NULL ORDER BY e.id",
			    "i", tenant)))
		goto out;
	cap = 1024;
	targets = xmalloc(cap * sizeof *targets);
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (nt == cap) {
			cap *= 2;
			targets = xrealloc(targets, cap * sizeof *targets);
		}
		struct target *t = &targets[nt++];
		memset(t, 0, sizeof *t);
		t->id = db_column_int64(st, 0);
		t->grid = db_column_int64(st, 1);
		t->has_location = !db_column_is_null(st, 2) && !db_column_is_null(st, 3);
		t->lat = db_column_double(st, 2);
		t->lon = db_column_double(st, 3);
		snprintf(t->legal_rep, sizeof t->legal_rep, "%s", db_column_text(st, 4));
		snprintf(t->registered_on, sizeof t->registered_on, "%s", db_column_text(st, 5));
		t->interval = (int)db_column_int64(st, 6);
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;

	/* the plan: backwards from a last visit within ~interval */
	cap = nt * 3 + 16;
	plan = xmalloc(cap * sizeof *plan);
	for (size_t i = 0; i < nt; i++) {
		struct target *t = &targets[i];
		struct gw key = {t->grid, -1}, *g = NULL;
		size_t lo = 0, hi = nw;
		while (lo < hi) { /* the first worker of the grid */
			size_t mid = (lo + hi) / 2;
			if (cmp_gw(&gws[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < nw && gws[lo].grid == t->grid)
			g = &gws[lo];
		uint64_t skip = demo_rng_below(&rng, 25);
		if (!g || skip == 0)
			continue; /* no worker here, or forgotten: overdue */
		size_t ng = 1;
		while (lo + ng < nw && gws[lo + ng].grid == t->grid)
			ng++;
		int64_t reg = 0;
		if (!t->registered_on[0] || !workcal_parse_date(t->registered_on, &reg))
			reg = today - 10000;
		int64_t age = pick(&rng, 1, t->interval + t->interval / 12);
		while (age <= HISTORY_DAYS && today - age >= reg) {
			if (np == cap) {
				cap *= 2;
				plan = xrealloc(plan, cap * sizeof *plan);
			}
			struct plan *p = &plan[np++];
			memset(p, 0, sizeof *p);
			p->at = workcal_utc_ms(today - age, pick(&rng, 9 * 60, 17 * 60 + 30) * 60000);
			p->target = (int)i;
			p->worker = g[demo_rng_below(&rng, ng)].idx;
			p->role = (int)demo_rng_below(&rng, ARRAY_SIZE(roles_met));
			p->name = (int)demo_rng_below(&rng, ARRAY_SIZE(other_names));
			p->summary = (int)demo_rng_below(&rng, ARRAY_SIZE(summaries));
			/* within ~150 m; one visit in thirty recorded 0.6–2 km away */
			double m = demo_rng_below(&rng, 30) == 0 ? (double)pick(&rng, 600, 2000)
								 : (double)pick(&rng, 0, 150);
			double ang = demo_rng_unit(&rng) * 6.283185307179586;
			p->dlat = m * sin(ang) / 111320.0;
			p->dlon = m * cos(ang) / 92000.0;
			p->finding = nc && demo_rng_below(&rng, 100) < 12;
			p->raise = p->finding && demo_rng_below(&rng, 100) < 35;
			p->category = nc ? (int)demo_rng_below(&rng, nc) : 0;
			p->text = (int)demo_rng_below(&rng, ARRAY_SIZE(finding_texts));
			age += pick(&rng, t->interval * 6 / 10, t->interval);
		}
	}
	qsort(plan, np, sizeof *plan, cmp_plan);
	j.cal = cal;
	j.workers = workers;
	j.targets = targets;
	j.plan = plan;
	j.cats = cats;
	j.ncats = nc;
	j.disp = &disp;
	j.handlers = handlers;
	for (j.first = 0; j.first < np; j.first += j.count) {
		j.count = np - j.first < BATCH ? np - j.first : BATCH;
		if ((rc = db_pool_write(pool, visits_fn, &j, e)))
			goto out;
	}
	if ((rc = db_query_i64(rdb, &res->overdue, e,
			       "SELECT COUNT(*) FROM visit_state WHERE tenant_id = $1 AND next_due_at < $2",
			       "ii", tenant, now)) ||
	    (rc = db_query_i64(rdb, &res->campaign_targets, e,
			       "SELECT COALESCE(SUM(targets), 0) FROM visit_campaigns WHERE tenant_id = $1",
			       "i", tenant)) ||
	    (rc = db_query_i64(rdb, &res->campaign_visited, e,
			       "SELECT COALESCE(SUM(visited), 0) FROM visit_campaigns WHERE tenant_id = $1",
			       "i", tenant)))
		goto out;
out:
	db_finalize(st);
	workcal_unref(cal);
	free(plan);
	free(targets);
	free(cats);
	free(handlers);
	free(gws);
	free(workers);
	return rc;
}
