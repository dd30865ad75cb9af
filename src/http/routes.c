/*
 * routes.c — the route table of the whole API, assembled from the per-file
 * tables in src/api/, and the matcher.
 *
 * Patterns are literal segments and "{name}" parameters; a parameter may
 * carry a literal suffix ("{code}.json": the value is the segment without
 * it, so the format of an Open311 resource is part of its route). The table is small
 * (tens of routes), so matching is a linear scan over pre-split patterns; a
 * segment compare fails fast on the first differing byte.
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

static struct route *all;
static size_t nall;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void collect(void)
{
	size_t n = 0, k = 0;
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct route *rt = tables[t]; rt->method; rt++)
			n++;
	all = xcalloc(n + 1, sizeof *all);
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (const struct route *rt = tables[t]; rt->method; rt++)
			all[k++] = *rt;
	nall = n;
}

const struct route *routes_all(size_t *n)
{
	pthread_once(&once, collect);
	if (n)
		*n = nall;
	return all;
}

/*
 * Match path against pattern. On success fills r's params (names borrowed
 * from the pattern, values copied into r's arena) when r is not NULL.
 */
static bool match(const char *pat, const char *path, struct req *r)
{
	int np = 0;
	const char *names[REQ_MAX_PARAMS], *vals[REQ_MAX_PARAMS];
	size_t vlens[REQ_MAX_PARAMS];

	while (*pat && *path) {
		if (*pat != '/' || *path != '/')
			return false;
		pat++;
		path++;
		const char *pe = strchr(pat, '/');
		const char *se = strchr(path, '/');
		size_t pl = pe ? (size_t)(pe - pat) : strlen(pat);
		size_t sl = se ? (size_t)(se - path) : strlen(path);
		const char *close = pl >= 2 && pat[0] == '{' ? memchr(pat, '}', pl) : NULL;
		if (close) {
			/* "{name}" or "{name}.ext": the value is what precedes the suffix */
			size_t xl = (size_t)(pat + pl - close - 1);
			if (sl <= xl || np == REQ_MAX_PARAMS ||
			    memcmp(path + sl - xl, close + 1, xl) != 0)
				return false;
			names[np] = pat;
			vals[np] = path;
			vlens[np] = sl - xl;
			np++;
		} else if (pl != sl || memcmp(pat, path, pl) != 0)
			return false;
		pat += pl;
		path += sl;
	}
	if (*pat || *path)
		return false;
	if (r) {
		r->nparams = np;
		for (int i = 0; i < np; i++) {
			const char *close = strchr(names[i], '}');
			r->pname[i] = arena_strndup(r->arena, names[i] + 1,
						    (size_t)(close - names[i] - 1));
			r->pval[i] = arena_strndup(r->arena, vals[i], vlens[i]);
		}
	}
	return true;
}

/* Literal segments of a pattern: the more, the more specific. */
static int literals(const char *pat)
{
	int n = 0;
	for (const char *p = pat; (p = strchr(p, '/')); p++)
		if (p[1] != '{')
			n++;
	return n;
}

int routes_match(const char *method, const char *path, struct req *r)
{
	size_t n;
	const struct route *rt = routes_all(&n);
	bool path_seen = false;
	/* HEAD is GET without the body (libmicrohttpd leaves the body out) */
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	int best = -1, best_lit = -1;
	/* Several patterns may match ("/enterprises/export.xlsx" and
	 * "/enterprises/{id}"): the one with more literal segments wins. */
	for (size_t i = 0; i < n; i++) {
		if (!match(rt[i].pattern, path, NULL))
			continue;
		if (strcmp(rt[i].method, method) != 0) {
			path_seen = true;
			continue;
		}
		int lit = literals(rt[i].pattern);
		if (lit > best_lit) {
			best = (int)i;
			best_lit = lit;
		}
	}
	if (best >= 0) {
		match(rt[best].pattern, path, r);
		return best;
	}
	return path_seen ? -2 : -1;
}

const char *routes_allow(const char *path, struct arena *a)
{
	size_t n;
	const struct route *rt = routes_all(&n);
	struct buf b;
	buf_init(&b, 256);
	for (size_t i = 0; i < n; i++)
		if (match(rt[i].pattern, path, NULL)) {
			if (b.len)
				buf_adds(&b, ", ");
			buf_adds(&b, rt[i].method);
		}
	const char *s = b.len ? arena_strdup(a, b.p) : NULL;
	buf_release(&b);
	return s;
}
