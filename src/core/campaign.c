/*
 * campaign.c — visit campaigns (see campaign.h): target sets resolved at
 * creation, counted as visits arrive, and their progress by grid and worker.
 * Every statement filters by tenant_id.
 */
#include "core/campaign.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/grid.h"
#include "core/settings.h"
#include "core/visit.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

static const struct scope_cols enterprise_cols = {.grid = "e.grid_id", .enterprise = "e.id"};

static const char *const kind_names[CT__COUNT] = {
	[CT_ALL] = "all", [CT_KEY] = "key", [CT_TAG] = "tag", [CT_GRIDS] = "grids",
	[CT_ENTERPRISES] = "enterprises",
};

const char *campaign_kind_name(enum campaign_target_kind k)
{
	return (unsigned)k < CT__COUNT ? kind_names[k] : "?";
}

int campaign_kind_parse(const char *s)
{
	for (int i = 0; s && i < CT__COUNT; i++)
		if (strcmp(kind_names[i], s) == 0)
			return i;
	return -1;
}

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int64_t column_id(struct db_stmt *st, int col)
{
	return db_column_is_null(st, col) ? 0 : db_column_int64(st, col);
}

static int too_long(struct err *e)
{
	return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
}

/* ---- validation ---- */

int campaign_validate(const struct campaign_input *in, int64_t today, struct err *e)
{
	int64_t start = today, deadline = 0;
	int rc;
	if ((rc = text_check(in->name, "name", "活动名称", CAMPAIGN_NAME_MAX, true, e)) ||
	    (rc = text_check(in->description, "description", "活动说明", CAMPAIGN_DESC_MAX, false,
			     e)))
		return rc;
	if (in->starts_on && !workcal_parse_date(in->starts_on, &start))
		return err_set(e, ERR_UNPROCESSABLE, "starts_on", "开始日期应为 YYYY-MM-DD",
			       "starts_on must be a date YYYY-MM-DD");
	if (!in->deadline_on)
		return err_set(e, ERR_BAD_REQUEST, "deadline_on", "缺少截止日期 deadline_on",
			       "'deadline_on' is required");
	if (!workcal_parse_date(in->deadline_on, &deadline))
		return err_set(e, ERR_UNPROCESSABLE, "deadline_on", "截止日期应为 YYYY-MM-DD",
			       "deadline_on must be a date YYYY-MM-DD");
	if (deadline < today)
		return err_set(e, ERR_UNPROCESSABLE, "deadline_on", "截止日期不能早于今天",
			       "deadline_on must not be in the past");
	if (deadline < start)
		return err_set(e, ERR_UNPROCESSABLE, "deadline_on", "截止日期不能早于开始日期",
			       "deadline_on must not be before starts_on");
	if (deadline - start > 731)
		return err_set(e, ERR_UNPROCESSABLE, "deadline_on", "活动不能超过两年",
			       "a campaign must not last more than two years");
	if (in->kind < 0 || in->kind >= CT__COUNT)
		return err_set(e, ERR_UNPROCESSABLE, "target.kind",
			       "目标范围应为 all、key、tag、grids 或 enterprises",
			       "target.kind must be all, key, tag, grids or enterprises");
	if (in->kind == CT_TAG) {
		size_t n = in->tag ? strlen(in->tag) : 0;
		if (!n || !utf8_valid(in->tag, n) || utf8_len(in->tag, n) > 16)
			return err_set(e, ERR_UNPROCESSABLE, "target.tag", "标签应为 1 到 16 个字符",
				       "target.tag must be a tag of 1 to 16 characters");
	}
	if (in->kind == CT_GRIDS || in->kind == CT_ENTERPRISES) {
		const char *field = in->kind == CT_GRIDS ? "target.grid_ids" : "target.enterprise_ids";
		size_t max = in->kind == CT_GRIDS ? CAMPAIGN_GRIDS_MAX : CAMPAIGN_IDS_MAX;
		if (in->nids == 0 || in->nids > max)
			return err_set(e, ERR_UNPROCESSABLE, field, "%s 应列出 1 到 %zu 个编号",
				       "%s must list 1 to %zu ids", field, max);
		for (size_t i = 0; i < in->nids; i++)
			if (in->ids[i] <= 0) {
				char f[64];
				snprintf(f, sizeof f, "%s[%zu]", field, i);
				return err_set(e, ERR_UNPROCESSABLE, f, "编号应为正整数",
					       "'%s' must be a positive id", f);
			}
	}
	return 0;
}

/* ---- creation ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The target definition as stored (and audited). */
static json_t *definition(const struct campaign_input *in)
{
	json_t *t = json_pack("{s:s}", "kind", campaign_kind_name((enum campaign_target_kind)in->kind));
	if (in->kind == CT_TAG)
		json_object_set_new(t, "tag", json_string(in->tag));
	if (in->kind == CT_GRIDS || in->kind == CT_ENTERPRISES) {
		json_t *ids = json_array();
		for (size_t i = 0; i < in->nids; i++)
			json_array_append_new(ids, json_integer(in->ids[i]));
		json_object_set_new(t, in->kind == CT_GRIDS ? "grid_ids" : "enterprise_ids", ids);
	}
	return t;
}

/* Check every listed grid and enterprise before anything is written. */
static int check_ids(struct db *db, const struct campaign_create *c, char (*paths)[132],
		     struct err *e)
{
	const struct campaign_input *in = &c->in;
	struct db_stmt *st = NULL;
	char field[64];
	int rc = 0;
	for (size_t i = 0; !rc && i < in->nids; i++) {
		bool ok = false;
		if (in->kind == CT_GRIDS) {
			rc = db_queryf(db, &st, e, "SELECT path FROM grids WHERE tenant_id = $1 AND id = $2",
				       "ii", c->tenant_id, in->ids[i]);
			if (rc)
				return rc;
			if ((rc = db_step(st, e)) == DB_ROW) {
				snprintf(paths[i], sizeof paths[i], "%s%%", db_column_text(st, 0));
				ok = true;
			}
		} else {
			rc = db_queryf(db, &st, e,
				       "SELECT status FROM enterprises WHERE tenant_id = $1 AND id = $2",
				       "ii", c->tenant_id, in->ids[i]);
			if (rc)
				return rc;
			if ((rc = db_step(st, e)) == DB_ROW)
				ok = strcmp(db_column_text(st, 0), "active") == 0;
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			return rc;
		rc = 0;
		if (!ok) {
			snprintf(field, sizeof field, "target.%s[%zu]",
				 in->kind == CT_GRIDS ? "grid_ids" : "enterprise_ids", i);
			return in->kind == CT_GRIDS
				       ? err_set(e, ERR_UNPROCESSABLE, field, "网格 %" PRId64 " 不存在",
						 "grid %" PRId64 " does not exist", in->ids[i])
				       : err_set(e, ERR_UNPROCESSABLE, field,
						 "企业 %" PRId64 " 不存在或不是存续状态",
						 "enterprise %" PRId64 " does not exist or is not active",
						 in->ids[i]);
		}
	}
	return rc;
}

/* Does the definition match an active enterprise now? (paths: CT_GRIDS, as check_ids
 * left them) */
static int matches_any(struct db *db, const struct campaign_create *c, char (*paths)[132],
		       bool *any, struct err *e)
{
	const struct campaign_input *in = &c->in;
	int64_t n = 0;
	int rc = 0;
#define ANY_ACTIVE "SELECT COUNT(*) FROM (SELECT 1 FROM enterprises e WHERE e.tenant_id = $1 " \
		   "AND e.status = 'active'"
	switch ((enum campaign_target_kind)in->kind) {
	case CT_ALL:
		rc = db_query_i64(db, &n, e, ANY_ACTIVE " LIMIT 1) x", "i", c->tenant_id);
		break;
	case CT_KEY:
		rc = db_query_i64(db, &n, e, ANY_ACTIVE " AND e.is_key = 1 LIMIT 1) x", "i",
				  c->tenant_id);
		break;
	case CT_TAG:
		rc = db_query_i64(db, &n, e,
				  ANY_ACTIVE " AND e.id IN (SELECT enterprise_id FROM enterprise_tags "
					     "WHERE tenant_id = $1 AND tag = $2) LIMIT 1) x",
				  "it", c->tenant_id, in->tag);
		break;
	case CT_GRIDS:
		for (size_t i = 0; !rc && !n && i < in->nids; i++)
			rc = db_query_i64(db, &n, e,
					  ANY_ACTIVE " AND e.grid_id IN (SELECT id FROM grids WHERE "
						     "tenant_id = $1 AND path LIKE $2) LIMIT 1) x",
					  "it", c->tenant_id, paths[i]);
		break;
	case CT_ENTERPRISES: /* check_ids: every one is active */
		n = 1;
		break;
	case CT__COUNT:
		break;
	}
#undef ANY_ACTIVE
	*any = n > 0;
	return rc;
}

/* A campaign being resolved, and what a chunk adds to its counters. */
struct resolver {
	int64_t tenant_id, id, starts_at, deadline_at;
	int64_t targets, visited;
};

/* Add the enterprise as a target, visited by its earliest visit in the window
 * if it had one (also a visit recorded while the campaign was resolved). */
static int add_target(struct db *db, struct resolver *r, int64_t enterprise_id, struct err *e)
{
	struct db_stmt *st = NULL;
	int64_t visit = 0, at = 0, worker = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, visited_at, worker_id FROM visits WHERE tenant_id = $1 AND "
			   "enterprise_id = $2 AND visited_at >= $3 AND visited_at <= $4 "
			   "ORDER BY visited_at, id LIMIT 1",
			   "iiii", r->tenant_id, enterprise_id, r->starts_at, r->deadline_at);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		visit = db_column_int64(st, 0);
		at = db_column_int64(st, 1);
		worker = db_column_int64(st, 2);
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	rc = db_execf(db, e,
		      "INSERT INTO visit_campaign_targets (tenant_id, campaign_id, enterprise_id, "
		      "visit_id, visited_at, worker_id) VALUES ($1, $2, $3, $4, $5, $6)",
		      "iiiIII", r->tenant_id, r->id, enterprise_id, visit, at, worker);
	if (!rc) {
		r->targets++;
		r->visited += visit != 0;
	}
	return rc;
}

/* What a stored definition selects (resolve_chunk). */
struct selector {
	int kind;
	char tag[68];
	char (*paths)[128];      /* CT_GRIDS: the listed grids' paths */
	size_t npaths;
};

static int selector_load(struct db *db, int64_t tenant_id, const char *def, struct selector *sel,
			 struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(def, 0, &je), *ids;
	int rc = 0;
	memset(sel, 0, sizeof *sel);
	sel->kind = campaign_kind_parse(json_string_value(json_object_get(j, "kind")));
	if (sel->kind < 0 || sel->kind == CT_ENTERPRISES) {
		json_decref(j);
		return err_set(e, ERR_INTERNAL, NULL, "走访活动的目标定义无效",
			       "invalid stored target definition");
	}
	copy_text(sel->tag, sizeof sel->tag, json_string_value(json_object_get(j, "tag")));
	ids = json_object_get(j, "grid_ids");
	if (sel->kind == CT_GRIDS && json_array_size(ids)) {
		struct db_stmt *st = NULL;
		sel->paths = xcalloc(json_array_size(ids), sizeof *sel->paths);
		for (size_t i = 0; !rc && i < json_array_size(ids); i++) {
			rc = db_queryf(db, &st, e,
				       "SELECT path FROM grids WHERE tenant_id = $1 AND id = $2", "ii",
				       tenant_id, (int64_t)json_integer_value(json_array_get(ids, i)));
			if (rc)
				break;
			if ((rc = db_step(st, e)) == DB_ROW) /* a grid removed since: nothing */
				copy_text(sel->paths[sel->npaths++], sizeof sel->paths[0],
					  db_column_text(st, 0));
			db_finalize(st);
			rc = rc < 0 ? rc : 0;
		}
	}
	json_decref(j);
	return rc;
}

static bool in_grids(const struct selector *sel, const char *path)
{
	for (size_t i = 0; i < sel->npaths; i++)
		if (strncmp(path, sel->paths[i], strlen(sel->paths[i])) == 0)
			return true;
	return false;
}

/*
 * Resolve the next chunk of a campaign: the active enterprises its definition
 * selects among at most limit enterprises from resolve_next on, by id (fewer
 * once the monotonic clock passes deadline_ns; 0: never), added as targets,
 * and the counters and resolve_next moved on in the same transaction (NULL
 * when the chunk ran out of enterprises; then, if audit, an audit row
 * "resolve" with the final counts).
 */
static int resolve_chunk(struct db *db, const struct actor *who, struct resolver *r,
			 const char *def, int64_t next, int64_t limit, int64_t deadline_ns,
			 bool audit, bool *end, int64_t *processed, struct err *e)
{
	struct selector sel;
	struct db_stmt *st = NULL;
	int64_t rows = 0, last = 0;
	bool cut = false; /* ended by the clock */
	int rc = selector_load(db, r->tenant_id, def, &sel, e);
	if (rc)
		goto out;
	/* +e.tenant_id: walk the ids (the primary key) from next, not a tenant index
	 * that would sort the whole tenant; targets are added as the walk goes */
	rc = db_queryf(db, &st, e,
		       sel.kind == CT_TAG
			       ? "SELECT e.id, e.status, COALESCE(g.path, ''), CASE WHEN EXISTS "
				 "(SELECT 1 FROM enterprise_tags t WHERE t.tenant_id = e.tenant_id "
				 "AND t.enterprise_id = e.id AND t.tag = $4) THEN 1 ELSE 0 END "
				 "FROM enterprises e LEFT JOIN grids g ON g.id = e.grid_id WHERE "
				 "+e.tenant_id = $1 AND e.id >= $2 ORDER BY e.id LIMIT $3"
			       : "SELECT e.id, e.status, COALESCE(g.path, ''), e.is_key "
				 "FROM enterprises e LEFT JOIN grids g ON g.id = e.grid_id WHERE "
				 "+e.tenant_id = $1 AND e.id >= $2 ORDER BY e.id LIMIT $3",
		       sel.kind == CT_TAG ? "iiit" : "iii", r->tenant_id, next, limit, sel.tag);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		rows++;
		last = db_column_int64(st, 0);
		bool take = strcmp(db_column_text(st, 1), "active") == 0 &&
			    (sel.kind == CT_ALL ||
			     ((sel.kind == CT_KEY || sel.kind == CT_TAG) && db_column_int64(st, 3)) ||
			     (sel.kind == CT_GRIDS && in_grids(&sel, db_column_text(st, 2))));
		if (take && (rc = add_target(db, r, last, e)))
			goto out;
		if (deadline_ns && rows % 16 == 0 && mono_ns() > deadline_ns) {
			cut = true;
			break;
		}
	}
	if (rc < 0)
		goto out;
	*end = !cut && rows < limit;
	*processed = rows;
	db_finalize(st);
	st = NULL;
	rc = db_execf(db, e,
		      "UPDATE visit_campaigns SET targets = targets + $3, visited = visited + $4, "
		      "resolve_next = $5 WHERE tenant_id = $1 AND id = $2",
		      "iiiiI", r->tenant_id, r->id, r->targets, r->visited,
		      *end ? (int64_t)0 : (rows ? last + 1 : next));
	if (!rc && *end && audit) {
		int64_t targets = 0, visited = 0;
		struct db_stmt *q = NULL;
		if ((rc = db_queryf(db, &q, e,
				    "SELECT targets, visited FROM visit_campaigns WHERE tenant_id = $1 "
				    "AND id = $2",
				    "ii", r->tenant_id, r->id)))
			goto out;
		if ((rc = db_step(q, e)) == DB_ROW) {
			targets = db_column_int64(q, 0);
			visited = db_column_int64(q, 1);
		}
		db_finalize(q);
		if (rc < 0)
			goto out;
		json_t *sum = json_pack("{s:I,s:I}", "targets", (json_int_t)targets, "visited",
					(json_int_t)visited);
		rc = audit_append(db, who, r->tenant_id, "visit_campaign", r->id, "resolve", sum, e);
		json_decref(sum);
	}
out:
	db_finalize(st);
	free(sel.paths);
	return rc;
}

int campaign_resolve_chunk(struct db *db, const struct actor *who, int64_t tenant_id,
			   int64_t limit, int64_t deadline_ns, bool *did, int64_t *processed,
			   struct err *e)
{
	struct db_stmt *st = NULL;
	struct resolver r = {.tenant_id = tenant_id};
	char *def = NULL;
	int64_t next = 0;
	bool end = false;
	*did = false;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, target, starts_at, deadline_at, resolve_next FROM "
			   "visit_campaigns WHERE tenant_id = $1 AND resolve_next IS NOT NULL "
			   "ORDER BY id LIMIT 1",
			   "i", tenant_id);
	if (rc)
		return rc;
	if ((rc = db_step(st, e)) == DB_ROW) {
		r.id = db_column_int64(st, 0);
		def = xstrdup(db_column_text(st, 1));
		r.starts_at = db_column_int64(st, 2);
		r.deadline_at = db_column_int64(st, 3);
		next = db_column_int64(st, 4);
	}
	db_finalize(st);
	if (rc < 0 || !def)
		return rc < 0 ? rc : 0;
	*did = true;
	rc = resolve_chunk(db, who, &r, def, next, limit, deadline_ns, true, &end, processed, e);
	free(def);
	return rc;
}

int campaign_create(struct db *db, void *arg, struct err *e)
{
	struct campaign_create *c = arg;
	struct campaign_input *in = &c->in;
	char (*paths)[132] = NULL;
	int64_t today = workcal_local_day(c->now), start = today, deadline = 0, taken = 0;
	char starts_on[16], deadline_on[16];
	json_t *def = NULL;
	char *deftext = NULL;
	int64_t *ids = NULL;
	bool any = false;
	int rc = campaign_validate(in, today, e);
	if (rc)
		return rc;
	if (in->starts_on)
		workcal_parse_date(in->starts_on, &start);
	workcal_parse_date(in->deadline_on, &deadline);
	workcal_format_date(start, starts_on, sizeof starts_on);
	workcal_format_date(deadline, deadline_on, sizeof deadline_on);
	if ((rc = db_query_i64(db, &taken, e,
			       "SELECT COUNT(*) FROM visit_campaigns WHERE tenant_id = $1 AND name = $2",
			       "it", c->tenant_id, in->name)))
		return rc;
	if (taken)
		return err_set(e, ERR_CONFLICT, "name", "已有同名的走访活动“%s”",
			       "a campaign named '%s' exists", in->name);
	if (in->kind == CT_GRIDS || in->kind == CT_ENTERPRISES) {
		paths = xcalloc(in->nids, sizeof *paths);
		if ((rc = check_ids(db, c, paths, e)))
			goto out;
	}
	if ((rc = matches_any(db, c, paths, &any, e)))
		goto out;
	if (!any) {
		rc = err_set(e, ERR_UNPROCESSABLE, "target", "目标范围内没有存续的企业",
			     "the target set matches no active enterprise");
		goto out;
	}
	/* every check passed: write */
	struct resolver r = {.tenant_id = c->tenant_id, .starts_at = workcal_utc_ms(start, 0),
			     .deadline_at = workcal_utc_ms(deadline + 1, 0) - 1};
	def = definition(in);
	deftext = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
	rc = db_query_i64(db, &c->id, e,
			  "INSERT INTO visit_campaigns (tenant_id, name, description, target, starts_on, "
			  "starts_at, deadline_on, deadline_at, created_by, created_at) VALUES "
			  "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
			  "ittttitiii", c->tenant_id, in->name, in->description ? in->description : "",
			  deftext, starts_on, r.starts_at, deadline_on, r.deadline_at,
			  c->who ? c->who->user_id : (int64_t)0, c->now);
	if (rc)
		goto out;
	r.id = c->id;
	if (in->kind == CT_ENTERPRISES) { /* at most CAMPAIGN_IDS_MAX: at once */
		ids = xmalloc(in->nids * sizeof *ids);
		memcpy(ids, in->ids, in->nids * sizeof *ids);
		qsort(ids, in->nids, sizeof *ids, cmp_i64);
		for (size_t i = 0; !rc && i < in->nids; i++)
			if (i == 0 || ids[i] != ids[i - 1])
				rc = add_target(db, &r, ids[i], e);
		if (!rc)
			rc = db_execf(db, e,
				      "UPDATE visit_campaigns SET targets = $1, visited = $2 WHERE "
				      "tenant_id = $3 AND id = $4",
				      "iiii", r.targets, r.visited, c->tenant_id, c->id);
	} else { /* by chunks of enterprises: the first now, the rest in the background */
		int64_t last = 0, limit = 0, rows = 0;
		bool end = false;
		rc = db_query_i64(db, &last, e,
				  "SELECT id FROM enterprises WHERE +tenant_id = $1 ORDER BY id DESC "
				  "LIMIT 1",
				  "i", c->tenant_id);
		if (!rc)
			rc = settings_get_int(db, c->tenant_id, VISIT_SETTING_CHUNK, &limit, e);
		if (!rc)
			rc = db_execf(db, e,
				      "UPDATE visit_campaigns SET resolve_next = 0, resolve_last = $1 "
				      "WHERE tenant_id = $2 AND id = $3",
				      "iii", last, c->tenant_id, c->id);
		if (!rc)
			rc = resolve_chunk(db, c->who, &r, deftext, 0, limit > 0 ? limit : 2000,
					   mono_ns() + VISIT_CHUNK_BUDGET_MS * 1000000LL, false,
					   &end, &rows, e);
		c->resolving = !end;
	}
	if (rc)
		goto out;
	c->targets = r.targets;
	c->visited = r.visited;
	json_t *sum = json_pack("{s:s,s:s,s:s,s:O,s:I,s:I,s:b}", "name", in->name, "starts_on",
				starts_on, "deadline_on", deadline_on, "target", def, "targets",
				(json_int_t)c->targets, "visited", (json_int_t)c->visited,
				"resolving", c->resolving);
	rc = audit_append(db, c->who, c->tenant_id, "visit_campaign", c->id, "create", sum, e);
	json_decref(sum);
	if (!rc && c->resolving)
		visit_backlog_notify(c->tenant_id);
out:
	free(ids);
	free(deftext);
	json_decref(def);
	free(paths);
	return rc;
}

#define ON_VISIT_MAX 64

int campaign_on_visit(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t visit_id,
		      int64_t worker_id, int64_t visited_at, int64_t *counted, struct err *e)
{
	struct db_stmt *st = NULL;
	int64_t ids[ON_VISIT_MAX];
	size_t n = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT t.campaign_id FROM visit_campaign_targets t JOIN visit_campaigns c "
			   "ON c.id = t.campaign_id WHERE t.tenant_id = $1 AND t.enterprise_id = $2 "
			   "AND t.visit_id IS NULL AND c.starts_at <= $3 AND c.deadline_at >= $3",
			   "iii", tenant_id, enterprise_id, visited_at);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW && n < ON_VISIT_MAX)
		ids[n++] = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		rc = db_execf(db, e,
			      "UPDATE visit_campaign_targets SET visit_id = $1, visited_at = $2, "
			      "worker_id = $3 WHERE tenant_id = $4 AND campaign_id = $5 AND "
			      "enterprise_id = $6",
			      "iiiiii", visit_id, visited_at, worker_id, tenant_id, ids[i],
			      enterprise_id);
		if (!rc)
			rc = db_execf(db, e,
				      "UPDATE visit_campaigns SET visited = visited + 1 WHERE "
				      "tenant_id = $1 AND id = $2",
				      "ii", tenant_id, ids[i]);
	}
	if (counted)
		*counted = (int64_t)n;
	return rc;
}

/* ---- reading ---- */

void campaign_release(struct campaign *c)
{
	if (c) {
		free(c->description);
		free(c->target);
		c->description = c->target = NULL;
	}
}

#define CAMPAIGN_COLS                                                                        \
	"SELECT id, name, description, target, starts_on, deadline_on, starts_at, "          \
	"deadline_at, targets, visited, created_by, created_at, resolve_next, resolve_last "  \
	"FROM visit_campaigns "

static void read_campaign(struct db_stmt *st, struct campaign *c)
{
	memset(c, 0, sizeof *c);
	c->id = db_column_int64(st, 0);
	copy_text(c->name, sizeof c->name, db_column_text(st, 1));
	c->description = xstrdup(db_column_text(st, 2));
	c->target = xstrdup(db_column_text(st, 3));
	copy_text(c->starts_on, sizeof c->starts_on, db_column_text(st, 4));
	copy_text(c->deadline_on, sizeof c->deadline_on, db_column_text(st, 5));
	c->starts_at = db_column_int64(st, 6);
	c->deadline_at = db_column_int64(st, 7);
	c->targets = db_column_int64(st, 8);
	c->visited = db_column_int64(st, 9);
	c->created_by = db_column_int64(st, 10);
	c->created_at = db_column_int64(st, 11);
	c->resolving = !db_column_is_null(st, 12);
	c->resolve_next = column_id(st, 12);
	c->resolve_last = db_column_int64(st, 13);
}

double campaign_resolve_progress(const struct campaign *c)
{
	if (!c->resolving || c->resolve_last <= 0 || c->resolve_next > c->resolve_last)
		return 1.0;
	return c->resolve_next > 1 ? (double)(c->resolve_next - 1) / (double)c->resolve_last : 0.0;
}

int campaign_get(struct db *db, int64_t tenant_id, int64_t id, struct campaign *out,
		 struct err *e)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e, CAMPAIGN_COLS "WHERE tenant_id = $1 AND id = $2", "ii",
			   tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_campaign(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "走访活动不存在", "no such campaign");
	return rc < 0 ? rc : 0;
}

int campaign_list(struct db *db, int64_t tenant_id, int64_t after, int64_t limit,
		  int (*each)(const struct campaign *c, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   CAMPAIGN_COLS "WHERE tenant_id = $1 AND ($2 = 0 OR id < $2) "
					 "ORDER BY id DESC LIMIT $3",
			   "iii", tenant_id, after, limit);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct campaign c;
		read_campaign(st, &c);
		int stop = each(&c, ctx);
		campaign_release(&c);
		if (stop) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* " FROM ... WHERE ..." over the campaign's targets (t) and their enterprises
 * (e), in the actor's scope; the enterprises first when a grid narrows them.
 * $1 tenant, $2 campaign. */
static int targets_from(struct buf *sql, const struct actor *who, enum scope scope,
			bool enterprises_first)
{
	int rc;
	if (scope == SCOPE_ALL && !enterprises_first)
		rc = buf_adds(sql, " FROM visit_campaign_targets t CROSS JOIN enterprises e WHERE "
				   "t.tenant_id = $1 AND t.campaign_id = $2 AND e.tenant_id = "
				   "t.tenant_id AND e.id = t.enterprise_id");
	else
		rc = buf_adds(sql, " FROM enterprises e CROSS JOIN visit_campaign_targets t WHERE "
				   "e.tenant_id = $1 AND t.tenant_id = e.tenant_id AND "
				   "t.campaign_id = $2 AND t.enterprise_id = e.id");
	return rc ? rc : scope_sql(who, scope, &enterprise_cols, sql);
}

int campaign_progress(struct db *db, const struct actor *who, enum scope scope,
		      const struct campaign *c, struct campaign_progress *out, struct err *e)
{
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;
	memset(out, 0, sizeof *out);
	if (scope == SCOPE_ALL) {
		out->targets = c->targets;
		out->visited = c->visited;
		return 0;
	}
	buf_init(&sql, 4096);
	if (buf_adds(&sql, "SELECT COUNT(*), COUNT(t.visit_id)") || targets_from(&sql, who, scope, false)) {
		buf_release(&sql);
		return too_long(e);
	}
	rc = db_queryf(db, &st, e, sql.p, "ii", who->tenant_id, c->id);
	buf_release(&sql);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		out->targets = db_column_int64(st, 0);
		out->visited = db_column_int64(st, 1);
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- progress by grid ---- */

struct gnode {
	int64_t id;
	int level;
	char code[16], name[260], path[128];
	int64_t targets, visited;
};

static int cmp_gnode(const void *a, const void *b)
{
	return cmp_i64(&((const struct gnode *)a)->id, &((const struct gnode *)b)->id);
}

static struct gnode *find_gnode(struct gnode *v, size_t n, int64_t id)
{
	struct gnode key = {.id = id};
	return bsearch(&key, v, n, sizeof *v, cmp_gnode);
}

int campaign_by_grid(struct db *db, const struct actor *who, enum scope scope,
		     const struct campaign *c, int level, int64_t after, int64_t limit,
		     int (*each)(const struct campaign_group *g, void *ctx), void *ctx,
		     struct campaign_progress *unplaced, struct err *e)
{
	struct gnode *g = NULL;
	size_t ng = 0, cap = 0;
	struct db_stmt *st = NULL;
	struct buf sql;
	int rc;
	if (unplaced)
		memset(unplaced, 0, sizeof *unplaced);
	buf_init(&sql, 4096);
	/* every grid of the tenant, by id (a few thousand rows even for a city) */
	rc = db_queryf(db, &st, e,
		       "SELECT id, level, code, name, path FROM grids WHERE tenant_id = $1 ORDER BY id",
		       "i", who->tenant_id);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (ng == cap) {
			cap = cap ? cap * 2 : 256;
			g = xrealloc(g, cap * sizeof *g);
		}
		struct gnode *n = &g[ng++];
		memset(n, 0, sizeof *n);
		n->id = db_column_int64(st, 0);
		n->level = grid_level_parse(db_column_text(st, 1));
		copy_text(n->code, sizeof n->code, db_column_text(st, 2));
		copy_text(n->name, sizeof n->name, db_column_text(st, 3));
		copy_text(n->path, sizeof n->path, db_column_text(st, 4));
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	/* targets per unit grid, then rolled up along each grid's path */
	if (buf_adds(&sql, "SELECT e.grid_id, COUNT(*), COUNT(t.visit_id)") ||
	    targets_from(&sql, who, scope, false) || buf_adds(&sql, " GROUP BY e.grid_id")) {
		rc = too_long(e);
		goto out;
	}
	if ((rc = db_queryf(db, &st, e, sql.p, "ii", who->tenant_id, c->id)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int64_t gid = column_id(st, 0), targets = db_column_int64(st, 1),
			visited = db_column_int64(st, 2);
		struct gnode *home = gid ? find_gnode(g, ng, gid) : NULL;
		if (!home) {
			if (unplaced && !after) {
				unplaced->targets += targets;
				unplaced->visited += visited;
			}
			continue;
		}
		/* the path '/1/4/9/' names the grid and its ancestors */
		for (const char *p = home->path; *p;) {
			while (*p == '/')
				p++;
			if (!*p)
				break;
			int64_t anc = strtoll(p, NULL, 10);
			while (*p && *p != '/')
				p++;
			struct gnode *a = find_gnode(g, ng, anc);
			if (a && a->level == level) {
				a->targets += targets;
				a->visited += visited;
			}
		}
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = 0;
	int64_t shown = 0;
	for (size_t i = 0; i < ng && shown < limit; i++) {
		if (g[i].id <= after || g[i].level != level || !g[i].targets)
			continue;
		struct campaign_group out = {.id = g[i].id, .code = g[i].code, .name = g[i].name,
					     .level = grid_level_name((enum grid_level)level),
					     .grid_id = g[i].id, .targets = g[i].targets,
					     .visited = g[i].visited};
		shown++;
		if (each(&out, ctx))
			break;
	}
out:
	db_finalize(st);
	buf_release(&sql);
	free(g);
	return rc;
}

/* ---- progress by worker ---- */

int campaign_by_worker(struct db *db, const struct actor *who, enum scope scope,
		       const struct campaign *c, int64_t after, int64_t limit,
		       int (*each)(const struct campaign_group *g, void *ctx), void *ctx,
		       struct err *e)
{
	struct grid_worker_ref *w = NULL;
	struct db_stmt *st = NULL;
	size_t n = 0;
	int rc = visit_grid_workers(db, who, scope, 0, after, limit, &w, &n, e);
	for (size_t i = 0; !rc && i < n; i++) {
		struct campaign_group out = {.id = w[i].id, .code = w[i].login, .name = w[i].name,
					     .grid_id = w[i].grid_id};
		rc = db_queryf(db, &st, e,
			       "SELECT COUNT(*), COUNT(t.visit_id), COALESCE(SUM(CASE WHEN "
			       "t.worker_id = $4 THEN 1 ELSE 0 END), 0) FROM enterprises e CROSS JOIN "
			       "visit_campaign_targets t WHERE e.tenant_id = $1 AND e.grid_id IN "
			       "(SELECT id FROM grids WHERE tenant_id = $1 AND path LIKE $3) AND "
			       "t.tenant_id = e.tenant_id AND t.campaign_id = $2 AND "
			       "t.enterprise_id = e.id",
			       "iiti", who->tenant_id, c->id, w[i].grid_like, w[i].id);
		if (rc)
			break;
		rc = db_step(st, e);
		if (rc == DB_ROW) {
			out.targets = db_column_int64(st, 0);
			out.visited = db_column_int64(st, 1);
			out.visited_by = db_column_int64(st, 2);
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			break;
		rc = 0;
		if (each(&out, ctx))
			break;
	}
	db_finalize(st);
	free(w);
	return rc;
}

/* ---- targets ---- */

int campaign_targets(struct db *db, const struct actor *who, enum scope scope,
		     const struct campaign *c, enum campaign_target_status status,
		     int64_t grid_id, int64_t after, int64_t limit,
		     int (*each)(const struct campaign_target *t, void *ctx), void *ctx,
		     struct err *e)
{
	struct buf sql;
	struct db_args a = {0};
	struct db_stmt *st = NULL;
	char like[132];
	int rc;
	if (grid_id) {
		rc = db_queryf(db, &st, e, "SELECT path FROM grids WHERE tenant_id = $1 AND id = $2",
			       "ii", who->tenant_id, grid_id);
		if (rc)
			return rc;
		rc = db_step(st, e);
		if (rc == DB_ROW)
			snprintf(like, sizeof like, "%s%%", db_column_text(st, 0));
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			return rc;
		if (rc == DB_DONE)
			return err_set(e, ERR_UNPROCESSABLE, "grid_id", "网格 %" PRId64 " 不存在",
				       "grid %" PRId64 " does not exist", grid_id);
	}
	buf_init(&sql, 4096);
	db_args_int(&a, who->tenant_id); /* $1 */
	db_args_int(&a, c->id);          /* $2 */
	rc = buf_adds(&sql, "SELECT e.id, e.name, e.credit_code, e.address, e.is_key, e.grid_id, "
			    "t.visit_id, t.visited_at, t.worker_id, COALESCE((SELECT display_name "
			    "FROM users WHERE id = t.worker_id), '')");
	if (!rc)
		rc = targets_from(&sql, who, scope, grid_id != 0);
	if (!rc && grid_id)
		rc = buf_addf(&sql, " AND e.grid_id IN (SELECT id FROM grids WHERE tenant_id = $1 "
				    "AND path LIKE $%d)", db_args_text(&a, like));
	if (!rc && status == CTS_REMAINING)
		rc = buf_adds(&sql, " AND t.visit_id IS NULL");
	if (!rc && status == CTS_VISITED)
		rc = buf_adds(&sql, " AND t.visit_id IS NOT NULL");
	if (!rc)
		rc = buf_addf(&sql, " AND t.enterprise_id > $%d ORDER BY t.enterprise_id LIMIT $%d",
			      db_args_int(&a, after), db_args_int(&a, limit));
	if (rc) {
		rc = too_long(e);
		goto out;
	}
	if ((rc = db_query_args(db, &st, e, sql.p, &a)))
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct campaign_target t = {
			.enterprise_id = db_column_int64(st, 0),
			.name = db_column_text(st, 1),
			.credit_code = db_column_text(st, 2),
			.address = db_column_text(st, 3),
			.is_key = db_column_int64(st, 4) != 0,
			.grid_id = column_id(st, 5),
			.visit_id = column_id(st, 6),
			.visited_at = column_id(st, 7),
			.worker_id = column_id(st, 8),
			.worker_name = db_column_text(st, 9),
		};
		if (each(&t, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	rc = rc < 0 ? rc : 0;
out:
	db_finalize(st);
	buf_release(&sql);
	return rc;
}
