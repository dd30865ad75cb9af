/*
 * visit_policy.c — visit policies and the visit state they give each
 * enterprise (see visit.h): the pure rules (matching, the strictest policy,
 * due dates), the policies' validation and storage, and the one place that
 * computes and writes visit_state (compute_state). Reading the state, the
 * tasks and the visit records are in visit.c.
 *
 * The state of every enterprise is one row of visit_state, written in the
 * transaction of whatever changed an input: a visit, a policy, the registry.
 * Readers never recompute it: the overdue are a range of the index
 * visit_state_due. Every statement filters by tenant_id.
 */
#include "core/visit.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/campaign.h"
#include "core/settings.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int64_t column_id(struct db_stmt *st, int col)
{
	return db_column_is_null(st, col) ? 0 : db_column_int64(st, col);
}

/* ---- pure rules ---- */

static bool has_tag(const char *tags, const char *tag)
{
	size_t n = strlen(tag);
	for (const char *p = tags ? tags : ""; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && memcmp(p, tag, n) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

bool visit_policy_matches(const struct visit_policy *p, const struct visit_subject *s)
{
	if (p->match_key >= 0 && (p->match_key == 1) != s->is_key)
		return false;
	if (p->match_tag[0] && !has_tag(s->tags, p->match_tag))
		return false;
	if (p->match_size[0] && strcmp(p->match_size, s->size_class ? s->size_class : "") != 0)
		return false;
	if (p->match_section[0] &&
	    strcmp(p->match_section, s->industry_section ? s->industry_section : "") != 0)
		return false;
	return true;
}

const struct visit_policy *visit_policy_pick(const struct visit_policy *ps, size_t n,
					     const struct visit_subject *s)
{
	const struct visit_policy *best = NULL;
	if (!s->active)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!visit_policy_matches(&ps[i], s))
			continue;
		if (!best || ps[i].interval_days < best->interval_days ||
		    (ps[i].interval_days == best->interval_days && ps[i].id < best->id))
			best = &ps[i];
	}
	return best;
}

int64_t visit_due_at(int64_t anchor_day, int interval_days)
{
	return (anchor_day + interval_days + 1) * VISIT_DAY_MS - VISIT_LOCAL_OFFSET_MS - 1;
}

int64_t visit_anchor_day(int64_t last_visit_at, const char *registered_on, int64_t created_at)
{
	int64_t day;
	if (last_visit_at > 0)
		return workcal_local_day(last_visit_at);
	if (registered_on && *registered_on && workcal_parse_date(registered_on, &day))
		return day;
	return workcal_local_day(created_at);
}

/* ---- policies: validation ---- */

static const char *const sizes[] = {"large", "medium", "small", "micro"};

static bool size_valid(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		if (strcmp(sizes[i], s) == 0)
			return true;
	return false;
}

int visit_policy_validate(const struct visit_policy_input *in, bool create, struct err *e)
{
	int rc;
	if ((create || in->name) &&
	    (rc = text_check(in->name, "name", "名称", VISIT_POLICY_NAME_MAX, true, e)))
		return rc;
	if (create && !in->set_interval)
		return err_set(e, ERR_BAD_REQUEST, "interval_days", "缺少走访周期 interval_days",
			       "'interval_days' is required");
	if (in->set_interval && (in->interval_days < 1 || in->interval_days > 3650))
		return err_set(e, ERR_UNPROCESSABLE, "interval_days", "走访周期应为 1 到 3650 天",
			       "interval_days must be between 1 and 3650");
	if (!in->set_match)
		return 0;
	if (in->match_key < -1 || in->match_key > 1)
		return err_set(e, ERR_UNPROCESSABLE, "match.is_key", "is_key 应为 true、false 或 null",
			       "match.is_key must be true, false or null");
	if (in->match_tag && *in->match_tag) {
		size_t n = strlen(in->match_tag);
		if (!utf8_valid(in->match_tag, n) || utf8_len(in->match_tag, n) > 16 ||
		    strpbrk(in->match_tag, ",;") || strstr(in->match_tag, "，") ||
		    strstr(in->match_tag, "；") || in->match_tag[strspn(in->match_tag, " ")] == '\0' ||
		    in->match_tag[0] == ' ' || in->match_tag[n - 1] == ' ')
			return err_set(e, ERR_UNPROCESSABLE, "match.tag",
				       "标签应为 1 到 16 个字符，不含逗号、分号和首尾空格",
				       "match.tag must be one tag of 1 to 16 characters (no commas, "
				       "semicolons or surrounding spaces)");
	}
	if (in->match_size && *in->match_size && !size_valid(in->match_size))
		return err_set(e, ERR_UNPROCESSABLE, "match.size_class",
			       "企业规模应为 large、medium、small 或 micro",
			       "match.size_class must be large, medium, small or micro");
	if (in->match_section && *in->match_section &&
	    (strlen(in->match_section) != 1 || in->match_section[0] < 'A' ||
	     in->match_section[0] > 'T'))
		return err_set(e, ERR_UNPROCESSABLE, "match.industry_section",
			       "行业门类应为 A 到 T 的一个大写字母（GB/T 4754）",
			       "match.industry_section must be one letter A to T (GB/T 4754)");
	return 0;
}

/* ---- policies: storage ---- */

#define POLICY_COLS                                                                          \
	"p.id, p.name, p.interval_days, p.match_key, p.match_tag, p.match_size, "           \
	"p.match_section, p.version, p.created_by, p.created_at, p.updated_at, "            \
	"(SELECT COUNT(*) FROM visit_state s WHERE s.tenant_id = p.tenant_id AND "          \
	"s.policy_id = p.id)"

static void read_policy(struct db_stmt *st, struct visit_policy *p, bool with_count)
{
	memset(p, 0, sizeof *p);
	p->id = db_column_int64(st, 0);
	copy_text(p->name, sizeof p->name, db_column_text(st, 1));
	p->interval_days = (int)db_column_int64(st, 2);
	p->match_key = db_column_is_null(st, 3) ? -1 : (int)db_column_int64(st, 3);
	copy_text(p->match_tag, sizeof p->match_tag, db_column_text(st, 4));
	copy_text(p->match_size, sizeof p->match_size, db_column_text(st, 5));
	copy_text(p->match_section, sizeof p->match_section, db_column_text(st, 6));
	p->version = db_column_int64(st, 7);
	p->created_by = db_column_int64(st, 8);
	p->created_at = db_column_int64(st, 9);
	p->updated_at = db_column_int64(st, 10);
	if (with_count)
		p->enterprises = db_column_int64(st, 11);
}

int visit_policy_get(struct db *db, int64_t tenant_id, int64_t id, struct visit_policy *out,
		     struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " POLICY_COLS " FROM visit_policies p WHERE p.tenant_id = $1 "
			   "AND p.id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_policy(st, out, true);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "走访规则不存在", "no such visit policy");
	return rc < 0 ? rc : 0;
}

int visit_policy_list(struct db *db, int64_t tenant_id,
		      int (*each)(const struct visit_policy *p, void *ctx), void *ctx,
		      struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " POLICY_COLS " FROM visit_policies p WHERE p.tenant_id = $1 "
			   "ORDER BY p.interval_days, p.id",
			   "i", tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct visit_policy p;
		read_policy(st, &p, true);
		if (each(&p, ctx)) {
			rc = DB_DONE;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* Every policy of the tenant (without counts) into a new array; caller frees. */
static int load_policies(struct db *db, int64_t tenant_id, struct visit_policy **out, size_t *n,
			 struct err *e)
{
	struct db_stmt *st = NULL;
	size_t cap = 8;
	*n = 0;
	*out = xmalloc(cap * sizeof **out);
	int rc = db_queryf(db, &st, e,
			   "SELECT p.id, p.name, p.interval_days, p.match_key, p.match_tag, "
			   "p.match_size, p.match_section, p.version, p.created_by, p.created_at, "
			   "p.updated_at FROM visit_policies p WHERE p.tenant_id = $1 ORDER BY p.id",
			   "i", tenant_id);
	if (rc)
		goto fail;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (*n == cap) {
			cap *= 2;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		read_policy(st, &(*out)[(*n)++], false);
	}
	db_finalize(st);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	free(*out);
	*out = NULL;
	*n = 0;
	return rc;
}

/* ---- visit state ---- */

/* What the state of one enterprise should be. */
struct computed {
	int64_t policy_id;  /* 0 = none */
	int interval;
	int64_t due;        /* 0 = none */
};

static struct computed compute_state(const struct visit_policy *ps, size_t n,
				     const struct visit_subject *s, int64_t anchor_day)
{
	struct computed c = {0, 0, 0};
	const struct visit_policy *p = visit_policy_pick(ps, n, s);
	if (p) {
		c.policy_id = p->id;
		c.interval = p->interval_days;
		c.due = visit_due_at(anchor_day, p->interval_days);
	}
	return c;
}

/* An enterprise as its state is computed from it, and its stored state (the
 * s columns are NULL when it has no row yet). */
#define STATE_ROW                                                                            \
	"SELECT e.id, e.status, e.is_key, e.tags, e.size_class, e.industry_section, "       \
	"e.registered_on, e.created_at, s.enterprise_id, s.last_visit_at, s.anchor_day, "    \
	"s.policy_id, s.interval_days, s.next_due_at FROM enterprises e LEFT JOIN "          \
	"visit_state s ON s.tenant_id = e.tenant_id AND s.enterprise_id = e.id "

/* A state to write. */
struct change {
	int64_t enterprise_id, anchor;
	struct computed c;
	bool insert;        /* the enterprise has no row yet */
};

/* The state the enterprise of a STATE_ROW row should have into *ch; true
 * when that is not what is stored. */
static bool row_change(const struct visit_policy *ps, size_t n, struct db_stmt *st,
		       struct change *ch)
{
	struct visit_subject s = {
		.active = strcmp(db_column_text(st, 1), "active") == 0,
		.is_key = db_column_int64(st, 2) != 0,
		.tags = db_column_text(st, 3),
		.size_class = db_column_text(st, 4),
		.industry_section = db_column_text(st, 5),
	};
	ch->enterprise_id = db_column_int64(st, 0);
	ch->anchor = visit_anchor_day(column_id(st, 9), db_column_text(st, 6),
				      db_column_int64(st, 7));
	ch->c = compute_state(ps, n, &s, ch->anchor);
	ch->insert = db_column_is_null(st, 8);
	return ch->insert || db_column_int64(st, 10) != ch->anchor ||
	       column_id(st, 11) != ch->c.policy_id || column_id(st, 12) != ch->c.interval ||
	       column_id(st, 13) != ch->c.due;
}

static int write_change(struct db *db, int64_t tenant_id, const struct change *ch,
			struct err *e)
{
	if (ch->insert)
		return db_execf(db, e,
				"INSERT INTO visit_state (tenant_id, enterprise_id, anchor_day, "
				"policy_id, interval_days, next_due_at) VALUES ($1, $2, $3, $4, $5, $6)",
				"iiiIII", tenant_id, ch->enterprise_id, ch->anchor, ch->c.policy_id,
				(int64_t)ch->c.interval, ch->c.due);
	return db_execf(db, e,
			"UPDATE visit_state SET anchor_day = $1, policy_id = $2, interval_days = $3, "
			"next_due_at = $4 WHERE tenant_id = $5 AND enterprise_id = $6",
			"iIIIii", ch->anchor, ch->c.policy_id, (int64_t)ch->c.interval, ch->c.due,
			tenant_id, ch->enterprise_id);
}

int visit_state_refresh(struct db *db, int64_t tenant_id, int64_t enterprise_id,
			struct err *e)
{
	struct visit_policy *ps = NULL;
	struct db_stmt *st = NULL;
	struct change ch;
	size_t n = 0;
	int rc = load_policies(db, tenant_id, &ps, &n, e);
	if (rc)
		return rc;
	rc = db_queryf(db, &st, e, STATE_ROW "WHERE e.tenant_id = $1 AND e.id = $2", "ii",
		       tenant_id, enterprise_id);
	if (rc)
		goto out;
	rc = db_step(st, e);
	if (rc == DB_DONE) {
		rc = err_set(e, ERR_NOT_FOUND, "enterprise_id", "企业不存在", "no such enterprise");
		goto out;
	}
	if (rc < 0)
		goto out;
	bool differs = row_change(ps, n, st, &ch);
	db_finalize(st);
	st = NULL;
	rc = differs ? write_change(db, tenant_id, &ch, e) : 0;
out:
	db_finalize(st);
	free(ps);
	return rc;
}

/* ---- recomputing every state, in chunks ---- */

#define CHUNK_DEFAULT 2000

#define RECOMPUTE_COLS                                                                       \
	"SELECT generation, next_id, last_id, done, changed, chunks, started_at, updated_at, " \
	"finished_at FROM visit_recompute WHERE tenant_id = $1"

int visit_recompute_get(struct db *db, int64_t tenant_id, struct visit_recompute *out,
			struct err *e)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e, RECOMPUTE_COLS, "i", tenant_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		out->generation = db_column_int64(st, 0);
		out->next_id = db_column_int64(st, 1);
		out->last_id = db_column_int64(st, 2);
		out->done = db_column_int64(st, 3);
		out->changed = db_column_int64(st, 4);
		out->chunks = db_column_int64(st, 5);
		out->started_at = db_column_int64(st, 6);
		out->updated_at = db_column_int64(st, 7);
		out->finished_at = column_id(st, 8);
		out->running = db_column_is_null(st, 8);
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

double visit_recompute_progress(const struct visit_recompute *r)
{
	if (!r->running)
		return 1.0;
	if (r->last_id <= 0 || r->next_id > r->last_id)
		return 1.0;
	return r->next_id > 1 ? (double)(r->next_id - 1) / (double)r->last_id : 0.0;
}

/* Enterprises per chunk: the setting (its default when unset). */
static int chunk_size(struct db *db, int64_t tenant_id, int64_t *out, struct err *e)
{
	int rc = settings_get_int(db, tenant_id, VISIT_SETTING_CHUNK, out, e);
	if (!rc && *out < 1)
		*out = CHUNK_DEFAULT;
	return rc;
}

/*
 * Start a pass over every enterprise (inside the job of a policy change). A
 * pass in progress starts again from the first enterprise. The highest id
 * is read walking the ids down (the tenant_id indexes would sort the whole
 * tenant): for progress only.
 */
static int recompute_start(struct db *db, int64_t tenant_id, int64_t now, struct err *e)
{
	int64_t last = 0;
	int rc = db_query_i64(db, &last, e,
			      "SELECT id FROM enterprises WHERE +tenant_id = $1 ORDER BY id DESC "
			      "LIMIT 1",
			      "i", tenant_id);
	if (rc == ERR_NOT_FOUND) {
		err_clear(e);
		rc = 0;
	}
	if (!rc)
		rc = db_execf(db, e,
			      "UPDATE visit_recompute SET generation = generation + 1, next_id = 0, "
			      "last_id = $2, done = 0, changed = 0, chunks = 0, started_at = $3, "
			      "updated_at = $3, finished_at = NULL WHERE tenant_id = $1",
			      "iii", tenant_id, last, now);
	if (!rc && db_changes(db) == 0)
		rc = db_execf(db, e,
			      "INSERT INTO visit_recompute (tenant_id, generation, next_id, last_id, "
			      "started_at, updated_at) VALUES ($1, 1, 0, $2, $3, $3)",
			      "iii", tenant_id, last, now);
	return rc;
}

/*
 * The next chunk of the pass in progress: at most limit enterprises from
 * next_id on, by id, each written when its state changed, ending early once
 * the monotonic clock passes deadline_ns (0: never; checked every few
 * enterprises); the pass moved on in the same transaction, finished when the
 * chunk ran out of enterprises (then, if audit, an audit row "finish" with
 * what the pass did). *did is false when no pass is in progress; *changed
 * (may be NULL) gets the states written.
 */
static int recompute_chunk(struct db *db, const struct actor *who, int64_t tenant_id,
			   int64_t limit, int64_t deadline_ns, int64_t now, bool audit, bool *did,
			   int64_t *processed, int64_t *changed, struct err *e)
{
	struct visit_recompute r;
	struct visit_policy *ps = NULL;
	struct db_stmt *st = NULL;
	struct change ch;
	size_t n = 0;
	int64_t rows = 0, nch = 0, last = 0;
	bool cut = false; /* ended by the clock */
	*did = false;
	int rc = visit_recompute_get(db, tenant_id, &r, e);
	if (rc || !r.running)
		return rc;
	*did = true;
	if ((rc = load_policies(db, tenant_id, &ps, &n, e)))
		return rc;
	/* +e.tenant_id: walk the ids (the primary key) from next_id, not a
	 * tenant index that would sort the whole tenant. A state is written while
	 * the walk goes on: it changes no key the walk uses. */
	rc = db_queryf(db, &st, e,
		       STATE_ROW "WHERE +e.tenant_id = $1 AND e.id >= $2 ORDER BY e.id LIMIT $3",
		       "iii", tenant_id, r.next_id, limit);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		rows++;
		last = db_column_int64(st, 0);
		if (row_change(ps, n, st, &ch)) {
			if ((rc = write_change(db, tenant_id, &ch, e)))
				goto out;
			nch++;
		}
		if (deadline_ns && rows % 16 == 0 && mono_ns() > deadline_ns) {
			cut = true;
			break;
		}
	}
	if (rc < 0)
		goto out;
	bool end = !cut && rows < limit;
	db_finalize(st);
	st = NULL;
	rc = db_execf(db, e,
		      end ? "UPDATE visit_recompute SET next_id = $2, done = done + $3, "
			    "changed = changed + $4, chunks = chunks + 1, updated_at = $5, "
			    "finished_at = $5 WHERE tenant_id = $1"
			  : "UPDATE visit_recompute SET next_id = $2, done = done + $3, "
			    "changed = changed + $4, chunks = chunks + 1, updated_at = $5 "
			    "WHERE tenant_id = $1",
		      "iiiii", tenant_id, rows ? last + 1 : r.next_id, rows, nch, now);
	if (!rc && end && audit) { /* the pass is over: what it did, in the audit log */
		json_t *sum = json_pack("{s:I,s:I,s:I,s:I}", "enterprises",
					(json_int_t)(r.done + rows), "changed",
					(json_int_t)(r.changed + nch), "chunks",
					(json_int_t)(r.chunks + 1), "started_at",
					(json_int_t)r.started_at);
		rc = audit_append(db, who, tenant_id, "visit_recompute", r.generation, "finish", sum,
				  e);
		json_decref(sum);
	}
	if (rc)
		goto out;
	*processed = rows;
	if (changed)
		*changed = nch;
out:
	db_finalize(st);
	free(ps);
	return rc;
}

int visit_state_recompute(struct db *db, int64_t tenant_id, int64_t now, int64_t *changed,
			  struct err *e)
{
	int64_t limit = 0, total = 0;
	bool did = true;
	int rc = chunk_size(db, tenant_id, &limit, e);
	if (!rc)
		rc = recompute_start(db, tenant_id, now, e);
	while (!rc && did) {
		int64_t rows = 0, nch = 0;
		rc = recompute_chunk(db, NULL, tenant_id, limit, 0, now, false, &did, &rows, &nch,
				     e);
		total += nch;
	}
	if (!rc && changed)
		*changed = total;
	return rc;
}

/* ---- the backlog ---- */

static struct {
	pthread_mutex_t mu;
	void (*fn)(void *ctx, int64_t tenant_id);
	void *ctx;
} notifier = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL};

void visit_backlog_set_notify(void (*fn)(void *ctx, int64_t tenant_id), void *ctx)
{
	pthread_mutex_lock(&notifier.mu);
	notifier.fn = fn;
	notifier.ctx = ctx;
	pthread_mutex_unlock(&notifier.mu);
}

void visit_backlog_notify(int64_t tenant_id)
{
	pthread_mutex_lock(&notifier.mu);
	if (notifier.fn)
		notifier.fn(notifier.ctx, tenant_id);
	pthread_mutex_unlock(&notifier.mu);
}

int visit_backlog_pending(struct db *db, int64_t tenant_id, bool *pending, struct err *e)
{
	int64_t n = 0;
	int rc = db_query_i64(db, &n, e,
			      "SELECT (SELECT COUNT(*) FROM visit_recompute WHERE tenant_id = $1 AND "
			      "finished_at IS NULL) + (SELECT COUNT(*) FROM visit_campaigns WHERE "
			      "tenant_id = $1 AND resolve_next IS NOT NULL)",
			      "i", tenant_id);
	*pending = n > 0;
	return rc;
}

int visit_backlog_tenants(struct db *db, int64_t **out, size_t *n, struct err *e)
{
	struct db_stmt *st = NULL;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT tenant_id FROM visit_recompute WHERE finished_at IS NULL UNION "
			   "SELECT tenant_id FROM visit_campaigns WHERE resolve_next IS NOT NULL "
			   "ORDER BY 1",
			   NULL);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[(*n)++] = db_column_int64(st, 0);
	}
	db_finalize(st);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return rc;
	}
	return 0;
}

int visit_backlog_step(struct db *db, void *arg, struct err *e)
{
	struct visit_backlog_step *s = arg;
	int64_t t0 = mono_ns(), limit = s->limit;
	int64_t budget = s->budget_ms ? s->budget_ms : VISIT_CHUNK_BUDGET_MS;
	int64_t deadline = budget > 0 ? t0 + budget * 1000000LL : 0;
	s->did = s->more = false;
	s->processed = 0;
	int rc = limit > 0 ? 0 : chunk_size(db, s->tenant_id, &limit, e);
	if (!rc)
		rc = recompute_chunk(db, s->who, s->tenant_id, limit, deadline, s->now, true,
				     &s->did, &s->processed, NULL, e);
	if (!rc && !s->did)
		rc = campaign_resolve_chunk(db, s->who, s->tenant_id, limit, deadline, &s->did,
					    &s->processed, e);
	if (!rc && s->did)
		rc = visit_backlog_pending(db, s->tenant_id, &s->more, e);
	s->ns = mono_ns() - t0;
	return rc;
}

int visit_backlog_run(struct db *db, const struct actor *who, int64_t tenant_id, int64_t now,
		      struct err *e)
{
	struct visit_backlog_step s = {.who = who, .tenant_id = tenant_id, .now = now,
				       .budget_ms = -1}; /* nobody waits: whole chunks */
	int rc;
	do
		rc = visit_backlog_step(db, &s, e);
	while (!rc && s.more);
	return rc;
}

/* ---- policies: writes ---- */

static json_t *policy_summary(const struct visit_policy *p)
{
	json_t *m = json_object();
	if (p->match_key >= 0)
		json_object_set_new(m, "is_key", json_boolean(p->match_key == 1));
	if (p->match_tag[0])
		json_object_set_new(m, "tag", json_string(p->match_tag));
	if (p->match_size[0])
		json_object_set_new(m, "size_class", json_string(p->match_size));
	if (p->match_section[0])
		json_object_set_new(m, "industry_section", json_string(p->match_section));
	return json_pack("{s:s,s:i,s:o}", "name", p->name, "interval_days", p->interval_days,
			 "match", m);
}

static void apply_input(struct visit_policy *p, const struct visit_policy_input *in)
{
	if (in->name)
		copy_text(p->name, sizeof p->name, in->name);
	if (in->set_interval)
		p->interval_days = (int)in->interval_days;
	if (in->set_match) {
		p->match_key = in->match_key;
		copy_text(p->match_tag, sizeof p->match_tag, in->match_tag);
		copy_text(p->match_size, sizeof p->match_size, in->match_size);
		copy_text(p->match_section, sizeof p->match_section, in->match_section);
	}
}

static int name_taken(struct db *db, int64_t tenant_id, const char *name, int64_t except,
		      struct err *e)
{
	int64_t n = 0;
	int rc = db_query_i64(db, &n, e,
			      "SELECT COUNT(*) FROM visit_policies WHERE tenant_id = $1 AND name = $2 "
			      "AND id <> $3",
			      "iti", tenant_id, name, except);
	if (rc)
		return rc;
	if (n)
		return err_set(e, ERR_CONFLICT, "name", "已有同名的走访规则“%s”",
			       "a visit policy named '%s' exists", name);
	return 0;
}

/* The NULL-or-value parameters of a policy's criteria. */
static int store_policy(struct db *db, struct visit_policy_write *w, const struct visit_policy *p,
			bool create, struct err *e)
{
	struct db_args a = {0};
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;
	buf_init(&sql, 0);
	int n_key = p->match_key >= 0 ? db_args_int(&a, p->match_key) : 0;
	int n_tag = p->match_tag[0] ? db_args_text(&a, p->match_tag) : 0;
	int n_size = p->match_size[0] ? db_args_text(&a, p->match_size) : 0;
	int n_sec = p->match_section[0] ? db_args_text(&a, p->match_section) : 0;
	char v[4][8];
	snprintf(v[0], sizeof v[0], n_key ? "$%d" : "NULL", n_key);
	snprintf(v[1], sizeof v[1], n_tag ? "$%d" : "NULL", n_tag);
	snprintf(v[2], sizeof v[2], n_size ? "$%d" : "NULL", n_size);
	snprintf(v[3], sizeof v[3], n_sec ? "$%d" : "NULL", n_sec);
	if (create)
		buf_addf(&sql,
			 "INSERT INTO visit_policies (tenant_id, name, interval_days, match_key, "
			 "match_tag, match_size, match_section, created_by, created_at, updated_at) "
			 "VALUES ($%d, $%d, $%d, %s, %s, %s, %s, $%d, $%d, $%d) RETURNING id",
			 db_args_int(&a, w->tenant_id), db_args_text(&a, p->name),
			 db_args_int(&a, p->interval_days), v[0], v[1], v[2], v[3],
			 db_args_int(&a, w->who ? w->who->user_id : 0), db_args_int(&a, w->now),
			 db_args_int(&a, w->now));
	else
		buf_addf(&sql,
			 "UPDATE visit_policies SET name = $%d, interval_days = $%d, match_key = %s, "
			 "match_tag = %s, match_size = %s, match_section = %s, version = version + 1, "
			 "updated_at = $%d WHERE tenant_id = $%d AND id = $%d RETURNING id",
			 db_args_text(&a, p->name), db_args_int(&a, p->interval_days), v[0], v[1],
			 v[2], v[3], db_args_int(&a, w->now), db_args_int(&a, w->tenant_id),
			 db_args_int(&a, w->id));
	rc = db_query_args(db, &st, e, sql.p, &a);
	buf_release(&sql);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		w->id = db_column_int64(st, 0);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/*
 * After a policy change, in its job: a new pass over every enterprise, its
 * first chunk done at once (a district smaller than a chunk is then up to
 * date when the change commits), the rest left to the backlog runner.
 */
static int policies_changed(struct db *db, struct visit_policy_write *w, struct err *e)
{
	int64_t limit = 0, rows = 0;
	bool did = false;
	int rc = chunk_size(db, w->tenant_id, &limit, e);
	if (!rc)
		rc = recompute_start(db, w->tenant_id, w->now, e);
	if (!rc)
		rc = recompute_chunk(db, w->who, w->tenant_id, limit,
				     mono_ns() + VISIT_CHUNK_BUDGET_MS * 1000000LL, w->now, false,
				     &did, &rows, &w->recomputed, e);
	if (!rc)
		rc = visit_recompute_get(db, w->tenant_id, &w->recompute, e);
	if (!rc && w->recompute.running)
		visit_backlog_notify(w->tenant_id);
	return rc;
}

/* The audit summary's note of the pass a change started. */
static void audit_pass(json_t *sum, const struct visit_policy_write *w)
{
	json_object_set_new(sum, "recompute", json_pack("{s:I,s:b}", "generation",
							(json_int_t)w->recompute.generation,
							"running", w->recompute.running));
}

int visit_policy_create(struct db *db, void *arg, struct err *e)
{
	struct visit_policy_write *w = arg;
	struct visit_policy p;
	int64_t count = 0;
	int rc = visit_policy_validate(&w->in, true, e);
	if (rc)
		return rc;
	memset(&p, 0, sizeof p);
	p.match_key = -1;
	apply_input(&p, &w->in);
	if ((rc = name_taken(db, w->tenant_id, p.name, 0, e)) ||
	    (rc = db_query_i64(db, &count, e,
			       "SELECT COUNT(*) FROM visit_policies WHERE tenant_id = $1", "i",
			       w->tenant_id)))
		return rc;
	if (count >= VISIT_POLICIES_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "name", "走访规则最多 %d 条",
			       "at most %d visit policies", VISIT_POLICIES_MAX);
	if ((rc = store_policy(db, w, &p, true, e)) || (rc = policies_changed(db, w, e)))
		return rc;
	json_t *sum = policy_summary(&p);
	audit_pass(sum, w);
	rc = audit_append(db, w->who, w->tenant_id, "visit_policy", w->id, "create", sum, e);
	json_decref(sum);
	return rc;
}

int visit_policy_update(struct db *db, void *arg, struct err *e)
{
	struct visit_policy_write *w = arg;
	struct visit_policy old, p;
	int rc = visit_policy_validate(&w->in, false, e);
	if (rc || (rc = visit_policy_get(db, w->tenant_id, w->id, &old, e)))
		return rc;
	p = old;
	apply_input(&p, &w->in);
	/* a new name alone changes no enterprise's state */
	bool same = p.interval_days == old.interval_days && p.match_key == old.match_key &&
		    strcmp(p.match_tag, old.match_tag) == 0 &&
		    strcmp(p.match_size, old.match_size) == 0 &&
		    strcmp(p.match_section, old.match_section) == 0;
	if ((rc = name_taken(db, w->tenant_id, p.name, w->id, e)) ||
	    (rc = store_policy(db, w, &p, false, e)) ||
	    (rc = same ? visit_recompute_get(db, w->tenant_id, &w->recompute, e)
		       : policies_changed(db, w, e)))
		return rc;
	json_t *sum = json_pack("{s:o,s:o}", "before", policy_summary(&old), "after",
				policy_summary(&p));
	audit_pass(sum, w);
	rc = audit_append(db, w->who, w->tenant_id, "visit_policy", w->id, "update", sum, e);
	json_decref(sum);
	return rc;
}

int visit_policy_delete(struct db *db, void *arg, struct err *e)
{
	struct visit_policy_write *w = arg;
	struct visit_policy old;
	int rc = visit_policy_get(db, w->tenant_id, w->id, &old, e);
	if (rc ||
	    (rc = db_execf(db, e, "DELETE FROM visit_policies WHERE tenant_id = $1 AND id = $2",
			   "ii", w->tenant_id, w->id)) ||
	    (rc = policies_changed(db, w, e)))
		return rc;
	json_t *sum = policy_summary(&old);
	audit_pass(sum, w);
	rc = audit_append(db, w->who, w->tenant_id, "visit_policy", w->id, "delete", sum, e);
	json_decref(sum);
	return rc;
}

