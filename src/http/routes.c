/*
 * routes.c — the route table of the whole API, assembled from the per-file
 * tables in src/api/, and the matcher.
 *
 * Patterns are literal segments and "{name}" parameters; a parameter may
 * carry a literal suffix ("{code}.json": the value is the segment without
 * it, so the format of an Open311 resource is part of its route). The table is small
 * (a hundred and some routes), so matching is a linear scan over patterns split
 * into segments once, against the path split once per request: a route with
 * another number of segments is passed over at once, and a segment compare
 * fails on the first differing byte.
 */
#include "http/http.h"
#include "api/api.h"

#include <pthread.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "base/banned.h"

static const struct route *const tables[] = {
	api_system_routes, api_auth_routes, api_user_routes, api_dept_routes, api_audit_routes,
	api_team_routes, api_ledger_routes,
	api_enterprise_routes,
	api_ecode_routes,
	api_request_routes,
	api_attachment_routes,
	api_suggest_routes,
	api_open311_routes,
	api_stats_routes,
	api_notify_routes,
	api_calendar_routes,
	api_import_routes,
	api_grid_routes,
	api_visit_routes,
	api_campaign_routes,
	api_analysis_routes,
};

#define MAX_SEGS 16

/* One segment of a pattern: literal text, or a parameter with an optional literal suffix. */
struct seg {
	const char *p;       /* literal: the text; parameter: the name */
	size_t len;          /* of the text or name */
	bool param;
	const char *suffix;  /* parameter: literal after '}' ("" if none) */
	size_t slen;
};

/* A pattern split into segments; nseg -1 if it has too many (never matches). */
struct compiled {
	int nseg;
	struct seg seg[MAX_SEGS];
	int literals;        /* literal segments: the more, the more specific */
};

static struct route *all;
static struct compiled *comp;
static uint32_t *tags;          /* per route: see tag_of */
static size_t nall;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void compile(const char *pat, struct compiled *c)
{
	c->nseg = 0;
	c->literals = 0;
	while (*pat == '/') {
		const char *start = pat + 1, *end = strchr(start, '/');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		const char *close = len >= 2 && start[0] == '{' ? memchr(start, '}', len) : NULL;
		if (c->nseg == MAX_SEGS) {
			c->nseg = -1;
			return;
		}
		struct seg *g = &c->seg[c->nseg++];
		if (close) {
			g->param = true;
			g->p = start + 1;
			g->len = (size_t)(close - start - 1);
			g->suffix = close + 1;
			g->slen = (size_t)(start + len - close - 1);
		} else {
			g->param = false;
			g->p = start;
			g->len = len;
			c->literals++;
		}
		pat = start + len;
	}
}

#define TAG_ANY 0xffffffu

/* The number of segments and a hash of the third ("/api/v1/<this>/..."), TAG_ANY for a
 * parameter or none there: a path can only match routes of its tag or of TAG_ANY for its
 * number of segments, so the scan reads a small array, not every compiled pattern. */
static uint32_t tag_of(int nseg, const char *third, size_t len)
{
	uint32_t h = 2166136261u;
	if (!third)
		return (uint32_t)nseg << 24 | TAG_ANY;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)third[i]) * 16777619u;
	return (uint32_t)nseg << 24 | (h & TAG_ANY);
}

static void collect(void)
{
	size_t n = 0, k = 0;
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct route *rt = tables[t]; rt->method; rt++)
			n++;
	all = xcalloc(n + 1, sizeof *all);
	comp = xcalloc(n + 1, sizeof *comp);
	tags = xcalloc(n + 1, sizeof *tags);
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct route *rt = tables[t]; rt->method; rt++) {
			struct compiled *c = &comp[k];
			compile(rt->pattern, c);
			bool lit = c->nseg > 2 && !c->seg[2].param;
			tags[k] = tag_of(c->nseg & 0x7f, lit ? c->seg[2].p : NULL, lit ? c->seg[2].len : 0);
			all[k++] = *rt;
		}
	nall = n;
}

const struct route *routes_all(size_t *n)
{
	pthread_once(&once, collect);
	if (n)
		*n = nall;
	return all;
}

/* A request path split at '/': segment i is p[i] with length len[i]; n -1 if it has too
 * many or does not start with '/'. */
struct split {
	int n;
	const char *p[MAX_SEGS];
	size_t len[MAX_SEGS];
};

static void split_path(const char *path, struct split *s)
{
	s->n = 0;
	if (*path != '/') {
		s->n = -1;
		return;
	}
	while (*path == '/') {
		const char *start = path + 1, *end = strchr(start, '/');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		if (s->n == MAX_SEGS) {
			s->n = -1;
			return;
		}
		s->p[s->n] = start;
		s->len[s->n++] = len;
		path = start + len;
	}
}

/*
 * Match the split path against a compiled pattern. On success fills r's params
 * (names and values copied into r's arena) when r is not NULL.
 */
static bool match(const struct compiled *c, const struct split *s, struct req *r)
{
	if (c->nseg != s->n || s->n < 0)
		return false;
	for (int i = 0; i < c->nseg; i++) {
		const struct seg *g = &c->seg[i];
		if (g->param) {
			/* "{name}" or "{name}.ext": the value is what precedes the suffix */
			if (s->len[i] <= g->slen ||
			    memcmp(s->p[i] + s->len[i] - g->slen, g->suffix, g->slen) != 0)
				return false;
		} else if (g->len != s->len[i] || memcmp(g->p, s->p[i], g->len) != 0)
			return false;
	}
	if (r) {
		int np = 0;
		for (int i = 0; i < c->nseg && np < REQ_MAX_PARAMS; i++) {
			const struct seg *g = &c->seg[i];
			if (!g->param)
				continue;
			r->pname[np] = arena_strndup(r->arena, g->p, g->len);
			r->pval[np] = arena_strndup(r->arena, s->p[i], s->len[i] - g->slen);
			np++;
		}
		r->nparams = np;
	}
	return true;
}

int routes_match(const char *method, const char *path, struct req *r)
{
	size_t n;
	const struct route *rt = routes_all(&n);
	struct split sp;
	bool path_seen = false;
	/* HEAD is GET without the body (libmicrohttpd leaves the body out) */
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	int best = -1, best_lit = -1;

	split_path(path, &sp);
	uint32_t any = tag_of(sp.n & 0x7f, NULL, 0);
	uint32_t tag = sp.n > 2 ? tag_of(sp.n & 0x7f, sp.p[2], sp.len[2]) : any;
	/* Several patterns may match ("/enterprises/export.xlsx" and
	 * "/enterprises/{id}"): the one with more literal segments wins. */
	for (size_t i = 0; i < n; i++) {
		if ((tags[i] != tag && tags[i] != any) || !match(&comp[i], &sp, NULL))
			continue;
		if (strcmp(rt[i].method, method) != 0) {
			path_seen = true;
			continue;
		}
		if (comp[i].literals > best_lit) {
			best = (int)i;
			best_lit = comp[i].literals;
		}
	}
	if (best >= 0) {
		match(&comp[best], &sp, r);
		return best;
	}
	return path_seen ? -2 : -1;
}

const char *routes_allow(const char *path, struct arena *a)
{
	size_t n;
	const struct route *rt = routes_all(&n);
	struct split sp;
	struct buf b;

	split_path(path, &sp);
	buf_init(&b, 256);
	for (size_t i = 0; i < n; i++)
		if (match(&comp[i], &sp, NULL)) {
			if (b.len)
				buf_adds(&b, ", ");
			buf_adds(&b, rt[i].method);
		}
	const char *s = b.len ? arena_strdup(a, b.p) : NULL;
	buf_release(&b);
	return s;
}
