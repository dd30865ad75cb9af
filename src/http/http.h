/*
 * http.h — the HTTP front end: requests, routes, replies.
 *
 * One declarative route table per API file (src/api/api_*.c), collected in
 * http/routes.c. The dispatcher matches method and path (404/405), reads the
 * body within the route's limit (413), authenticates (session cookie with
 * CSRF check, or Bearer token), checks the route's permission (401/403) and
 * only then calls the handler with r->scope set. A handler either replies
 * with reply_json() and returns 0, or fills r->err and returns its code; the
 * dispatcher turns that into the error shape
 *   {"error":{"code":"...","message":"...","message_zh":"...","field":"..."}}.
 * Everything a handler allocates for the request comes from r->arena.
 */
#ifndef YQ_HTTP_H
#define YQ_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "base/buf.h"
#include "base/err.h"
#include "core/authz.h"
#include "db/db.h"

struct arena;
struct MHD_Connection;
struct metrics;

/* Server-wide settings, fixed at start. */
struct http_config {
	const char *addr;          /* "127.0.0.1:8080" */
	int threads;               /* libmicrohttpd thread pool size */
	int handler_threads;       /* threads running writing handlers (0: on the libmicrohttpd threads) */
	size_t max_body;           /* default body limit for routes that set none */
	int64_t session_idle_ms;   /* web session idle timeout */
	int64_t session_max_ms;    /* web session absolute lifetime */
	bool cookie_secure;        /* add Secure to the session cookie (behind TLS) */
	FILE *access_log;          /* JSON lines; NULL = none */
	const char *public_url;    /* base of links printed in codes: "https://yqb.example.cn" */
	const char *web_root;      /* built web UI (index.html, assets/); NULL = none */
};

struct app {
	struct db_pool *pool;
	struct http_config cfg;
	struct metrics *metrics;
	int64_t started_ms;
	const char *version;
};

struct req;
typedef int (*handler_fn)(struct req *r);

enum route_flags {
	ROUTE_NO_CSRF = 1 << 0,      /* e.g. login: no session yet */
	ROUTE_BEFORE_PW_CHANGE = 1 << 1, /* open to a user who must still change a one-time password */
	ROUTE_SLOW = 1 << 2,         /* CPU-heavy (password hashing, parsing a file): a writing
				      * handler runs on a handler thread, not on the HTTP thread */
};

struct route {
	const char *method;   /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *pattern;  /* "/api/v1/users/{id}" */
	handler_fn fn;
	enum perm perm;       /* PERM_PUBLIC, PERM_LOGIN, or a permission */
	size_t max_body;      /* 0 = http_config.max_body */
	unsigned flags;       /* enum route_flags */
	const char *summary;  /* one line for the API reference */
};

#define REQ_MAX_PARAMS 6
#define REQ_MAX_HEADERS 8

struct req {
	struct app *app;
	struct arena *arena;
	struct MHD_Connection *conn;
	const struct route *route; /* NULL when nothing matched */
	int route_idx;             /* index for metrics; -1 unmatched */
	const char *method;        /* borrowed from libmicrohttpd */
	const char *path;
	char id[24];               /* request id, also the X-Request-Id header */
	int64_t t0_ns;
	int nparams;
	const char *pname[REQ_MAX_PARAMS];
	const char *pval[REQ_MAX_PARAMS];
	struct buf body;
	bool body_too_large;
	bool method_mismatch;      /* path matched, method did not (405) */
	json_t *json;              /* decoded body (req_body_json), released at the end */

	/* authentication, filled by the dispatcher */
	bool authed;
	bool via_cookie;
	struct actor actor;
	enum scope scope;          /* the route's permission scope for this actor */
	char csrf[64];             /* session CSRF token (cookie sessions) */
	bool must_change_password; /* the session's user still has a one-time password */

	/* response */
	int status;
	struct buf out;
	size_t out_len;            /* bytes sent (out is handed to libmicrohttpd) */
	const char *content_type;
	const char *set_cookie;    /* Set-Cookie header value, arena-owned */
	int nheaders;
	struct {
		const char *name, *value; /* arena-owned or static */
	} headers[REQ_MAX_HEADERS];   /* extra response headers (Retry-After, Content-Disposition ...) */
	struct err err;

	/* server.c */
	bool handled;              /* the handler has run (maybe on a handler thread): answer */
	STAILQ_ENTRY(req) hlink;   /* in the handler threads' queue */
	struct coro *coro;         /* the handler as a coroutine, until it ends */
	struct db_waiter waiter;   /* how its writes wait (db_pool_set_waiter) */
	_Atomic bool woken;        /* its write is done: the coroutine may run */
	struct http_server *server;
};

/* ---- for handlers ---- */

/* Reader connection of this thread; NULL with r->err set if it can't be opened. */
struct db *req_db(struct req *r);
/* Run a write job on the group-committing writer; see db_pool_write. */
int req_write(struct req *r, db_write_fn fn, void *arg);
/* Path parameter by name (from "{name}"), NULL if none. */
const char *req_param(struct req *r, const char *name);
/* Path parameter as a positive id; ERR_NOT_FOUND naming it otherwise. */
int req_param_id(struct req *r, const char *name, int64_t *out);
/* Add a response header (strings must live until the request ends); beyond
 * REQ_MAX_HEADERS the header is dropped and logged. */
void req_header_add(struct req *r, const char *name, const char *value);
/* Query-string argument, NULL if absent. */
const char *req_query(struct req *r, const char *name);
/* Query argument as int within [min,max]; def if absent; ERR_BAD_REQUEST if bad. */
int req_query_int(struct req *r, const char *name, int64_t def, int64_t min, int64_t max,
		  int64_t *out);
/* Request header, NULL if absent. */
const char *req_header(struct req *r, const char *name);
/* Client address as text (arena). */
const char *req_client_ip(struct req *r);
/* The decoded JSON object body; NULL with r->err set (400) if absent or malformed. */
json_t *req_body_json(struct req *r);

/* Serialize j (reference stolen) as the response body. Returns 0. */
int reply_json(struct req *r, int status, json_t *j);
/* Raw body with a content type (copied). */
int reply_raw(struct req *r, int status, const char *content_type, const void *p, size_t n);
/* Shorthand: fill r->err and return its code. */
#define req_fail(r, ...) err_set(&(r)->err, __VA_ARGS__)

/* ---- whole answers of reads, kept per thread (respcache.c) ---- */

/*
 * For a read whose answer depends on nothing but the database, the caller
 * (the actor's tenant, user, department, grid, enterprise, roles and the
 * route's scope, and `extra`), the route, the query string and the time.
 * Each HTTP thread keeps the answers it built; an answer is given again only
 *   - from the same reader connection, whose data version (db_data_version,
 *     in the request's read transaction) is what it was when the answer was
 *     read: no commit since, by this process or another;
 *   - at a time in [built, until) — until from the handler: the first instant
 *     at which the answer might read otherwise by time passing alone — and
 *     no more than REQ_CACHE_MAX_AGE_MS after it was built.
 * req_cache_get: true if r now holds the answer (200, JSON; the handler
 * returns 0); false otherwise, and *t is what req_cache_put needs to keep
 * the answer the handler then writes into r (kept only if it is a 200).
 */
#define REQ_CACHE_MAX_AGE_MS 600000
struct req_cache_ticket {
	bool usable;          /* the answer may be kept */
	uint64_t hash, version, serial;
	int64_t now;          /* the time the answer is for */
	char *key;            /* in r's arena */
	size_t key_len;
};
bool req_cache_get(struct req *r, unsigned extra, int64_t now, struct req_cache_ticket *t);
void req_cache_put(struct req *r, const struct req_cache_ticket *t, int64_t until);
/* Counts over all threads since start, for /metrics: answers given again
 * (hit), built because none was kept for the key (miss) or the kept one was
 * no longer current (stale: a commit or time since), and answers kept. */
struct req_cache_stats {
	uint64_t hit, miss, stale, kept;
};
void req_cache_stats(struct req_cache_stats *out);

/* ---- server ---- */

struct http_server;

/* Start listening; routes come from http/routes.c. */
int http_server_start(struct app *app, struct http_server **out, struct err *e);
/* Port actually bound (useful with port 0). */
int http_server_port(struct http_server *s);
void http_server_stop(struct http_server *s);

/* ---- routes (routes.c) ---- */

/* All routes, in match order; *n gets the count. */
const struct route *routes_all(size_t *n);
/*
 * Find the route for method+path. Fills params into r. Returns the index, or
 * -1 (not found) or -2 (path exists with another method).
 */
int routes_match(const char *method, const char *path, struct req *r);
/* "GET, POST" for a path that exists (arena string), NULL if none. */
const char *routes_allow(const char *path, struct arena *a);

/* ---- the web UI's static files (static.c) ---- */

/* Serve web_root[/dir]/name (name: one segment of [A-Za-z0-9._-], not
 * starting with '.'; anything else is 404) with its Content-Type, an ETag
 * (If-None-Match -> 304), the .gz variant when the client accepts gzip, and
 * Cache-Control: a year for immutable (content-hashed) files, else no-cache.
 * 404 when there is no web root or no such regular file. */
int static_reply(struct req *r, const char *dir, const char *name, bool immutable);
/* Whether the web root holds an index.html. */
bool static_has_index(const struct app *app);
/* For tests: is name acceptable, and its Content-Type by extension. */
bool static_name_ok(const char *name);
const char *static_content_type(const char *name);

/* ---- metrics (metrics.c) ---- */

struct metrics *metrics_new(size_t nroutes);
void metrics_free(struct metrics *m);
void metrics_observe(struct metrics *m, int route_idx, int status, int64_t ns);
/* Prometheus text exposition of requests, latency and database stats. */
void metrics_render(struct metrics *m, struct app *app, struct buf *out);

#endif
