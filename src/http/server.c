/*
 * server.c — libmicrohttpd glue: per-request state, body reading, the
 * dispatcher (route → limits → authentication → CSRF → permission →
 * handler), replies, error rendering, the access log.
 *
 * libmicrohttpd calls the access handler several times per request. We set
 * up state on the first call and return MHD_YES without answering, take the
 * body in the middle calls and answer on the last one: answering on the
 * first call makes libmicrohttpd close the connection after every response
 * (see shared/reference/performance.md, a 4-5x difference).
 *
 * Handlers that write never block a libmicrohttpd thread. A write waits for
 * the group commit (db_pool_write), and a libmicrohttpd thread blocked there
 * would stall every connection it serves and keep the writer's batches to
 * one job per thread. So the dispatcher authenticates and authorises on the
 * libmicrohttpd thread and then, for a method other than GET/HEAD, runs the
 * handler as a coroutine (base/coro.h) on that same thread: when it calls
 * req_write, the connection is suspended, the job queued and the coroutine
 * yields, and the thread goes on serving other connections. The writer,
 * once the batch is durable, resumes the connection; libmicrohttpd calls the
 * access handler again, which resumes the coroutine where it waited, and the
 * answer goes out when the handler returns. Many writes wait at once, so one
 * commit acknowledges many requests, and a write costs two thread hand-offs
 * (to the writer and back), each shared by the whole batch.
 *
 * Routes marked ROUTE_SLOW (password hashing, parsing an uploaded file) run
 * on a pool of handler threads instead, the connection suspended meanwhile,
 * so that their CPU time does not stall the connections of an HTTP thread.
 * Reads run where they arrive.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "base/arena.h"
#include "base/coro.h"
#include "base/jsonv.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/session.h"
#include "base/banned.h"

/* The handler threads and their queue of suspended requests. */
struct handlers {
	pthread_mutex_t mu;
	pthread_cond_t work;
	STAILQ_HEAD(, req) queue;
	bool stopping;        /* set once; new requests then run on their own thread */
	int nthreads;         /* started */
	pthread_t *threads;
};

struct http_server {
	struct MHD_Daemon *d;
	struct app *app;
	int port;
	struct handlers h;
	atomic_int live;        /* handler coroutines not yet ended */
	atomic_bool stopping;   /* no new coroutines: writes block their thread */
};

static atomic_uint_fast64_t req_counter;
static char id_prefix[9];

/* ---- helpers for handlers ---- */

struct db *req_db(struct req *r)
{
	struct db *db = db_pool_reader(r->app->pool, &r->err);
	return db;
}

int req_write(struct req *r, db_write_fn fn, void *arg)
{
	return db_pool_write(r->app->pool, fn, arg, &r->err);
}

const char *req_param(struct req *r, const char *name)
{
	for (int i = 0; i < r->nparams; i++)
		if (strcmp(r->pname[i], name) == 0)
			return r->pval[i];
	return NULL;
}

int req_param_id(struct req *r, const char *name, int64_t *out)
{
	const char *v = req_param(r, name);
	int64_t id;
	if (!v || !parse_i64(v, &id) || id <= 0)
		return req_fail(r, ERR_NOT_FOUND, name, "编号“%s”无效", "no such id '%s'",
				v ? v : "");
	*out = id;
	return 0;
}

void req_header_add(struct req *r, const char *name, const char *value)
{
	if (r->nheaders == REQ_MAX_HEADERS) {
		log_error("request %s: too many response headers, dropped %s", r->id, name);
		return;
	}
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = value;
	r->nheaders++;
}

const char *req_query(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int req_query_int(struct req *r, const char *name, int64_t def, int64_t min, int64_t max,
		  int64_t *out)
{
	const char *v = req_query(r, name);
	int64_t n;
	if (!v || !*v) {
		*out = def;
		return 0;
	}
	if (!parse_i64(v, &n))
		return req_fail(r, ERR_BAD_REQUEST, name, "参数“%s”应为整数",
				"query parameter '%s' must be an integer", name);
	if (n < min || n > max)
		return req_fail(r, ERR_BAD_REQUEST, name, "参数“%s”应在 %lld 到 %lld 之间",
				"query parameter '%s' must be between %lld and %lld", name,
				(long long)min, (long long)max);
	*out = n;
	return 0;
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_client_ip(struct req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN] = "";
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				  host, sizeof host);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, host,
				  sizeof host);
	}
	return arena_strdup(r->arena, host);
}

json_t *req_body_json(struct req *r)
{
	if (!r->json)
		r->json = jsonv_parse_object(r->body.p, r->body.len, &r->err);
	return r->json;
}

int reply_json(struct req *r, int status, json_t *j)
{
	r->status = status;
	r->content_type = "application/json; charset=utf-8";
	buf_reset(&r->out);
	if (j)
		jsonw_value(&r->out, j, 12);
	json_decref(j);
	return 0;
}

int reply_raw(struct req *r, int status, const char *content_type, const void *p, size_t n)
{
	r->status = status;
	r->content_type = content_type;
	buf_reset(&r->out);
	buf_add(&r->out, p, n);
	return 0;
}

static void reply_error(struct req *r)
{
	struct err *e = &r->err;
	if (e->code == ERR_OK)
		err_set(e, ERR_INTERNAL, NULL, "内部错误", "internal error");
	r->status = err_http_status(e->code);
	r->content_type = "application/json; charset=utf-8";
	buf_reset(&r->out);
	buf_adds(&r->out, "{\"error\":{\"code\":");
	const char *code = err_code_name(e->code);
	buf_add_json_str(&r->out, code, strlen(code));
	buf_adds(&r->out, ",\"message\":");
	buf_add_json_str(&r->out, e->message, strlen(e->message));
	buf_adds(&r->out, ",\"message_zh\":");
	buf_add_json_str(&r->out, e->message_zh, strlen(e->message_zh));
	buf_adds(&r->out, ",\"field\":");
	buf_add_json_str(&r->out, e->field, strlen(e->field));
	buf_adds(&r->out, "}}");
	if (r->status >= 500)
		log_error("request %s %s %s: %s", r->id, r->method, r->path, e->message);
}

/* ---- authentication ---- */

static const char *bearer_token(struct req *r)
{
	const char *h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

static bool unsafe_method(const char *m)
{
	return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

struct touch_job {
	int64_t session_id, now;
};

static int touch_fn(struct db *db, void *arg, struct err *e)
{
	struct touch_job *t = arg;
	return session_touch(db, t->session_id, t->now, e);
}

/* Fill r->actor from the credentials, if any. Returns 0 (maybe unauthenticated) or error. */
static int authenticate(struct req *r)
{
	const char *tok = bearer_token(r);
	bool cookie = false;
	if (!tok) {
		tok = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
		cookie = tok != NULL;
	}
	if (!tok)
		return 0;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	struct session_info si;
	struct session_policy pol = {r->app->cfg.session_idle_ms, r->app->cfg.session_max_ms};
	int64_t now = now_ms();
	int rc = session_lookup(db, tok, now, &pol, &si, &r->err);
	if (rc)
		return rc;
	r->authed = true;
	r->via_cookie = cookie;
	r->actor = si.actor;
	snprintf(r->actor.request_id, sizeof r->actor.request_id, "%s", r->id);
	snprintf(r->csrf, sizeof r->csrf, "%s", si.csrf);
	r->must_change_password = si.must_change_password;
	/* Refresh last_seen_at at most every SESSION_TOUCH_MS, but often enough
	 * that a short idle timeout does not end a session in use. */
	int64_t touch_every = SESSION_TOUCH_MS;
	if (pol.idle_ms > 0 && pol.idle_ms / 4 < touch_every)
		touch_every = pol.idle_ms / 4;
	if (now - si.last_seen_at > touch_every) {
		/* not awaited: nothing is acknowledged by it */
		struct touch_job t = {si.actor.session_id, now};
		db_pool_write_async(r->app->pool, touch_fn, &t, sizeof t);
		session_seen(&si, now);
	}
	return 0;
}

/*
 * Everything before the handler: route, body limit, authentication, CSRF,
 * permission. Returns true if the handler is to run, false if r holds the
 * answer (an error) already.
 */
static bool dispatch_pre(struct req *r)
{
	int rc;

	if (!r->route) {
		if (r->method_mismatch)
			req_fail(r, ERR_METHOD, NULL, "不支持 %s 方法", "method %s not allowed here",
				 r->method);
		else
			req_fail(r, ERR_NOT_FOUND, NULL, "找不到 %s", "no route for %s", r->path);
		reply_error(r);
		return false;
	}
	if (r->body_too_large) {
		size_t lim = r->route->max_body ? r->route->max_body : r->app->cfg.max_body;
		req_fail(r, ERR_TOO_LARGE, "body", "请求体超过 %zu 字节",
			 "request body larger than %zu bytes", lim);
		reply_error(r);
		return false;
	}
	if (r->route->perm != PERM_PUBLIC) {
		rc = authenticate(r);
		if (rc) {
			reply_error(r);
			return false;
		}
	}
	if (r->route->perm != PERM_PUBLIC && !r->authed) {
		req_fail(r, ERR_UNAUTHENTICATED, NULL, "请先登录", "login required");
		reply_error(r);
		return false;
	}
	if (r->via_cookie && unsafe_method(r->method) && !(r->route->flags & ROUTE_NO_CSRF)) {
		const char *h = req_header(r, "X-CSRF-Token");
		if (!h || !r->csrf[0] || !str_eq_ct(h, r->csrf)) {
			req_fail(r, ERR_FORBIDDEN, "X-CSRF-Token", "缺少或错误的 CSRF 令牌",
				 "missing or wrong CSRF token (send the X-CSRF-Token header)");
			reply_error(r);
			return false;
		}
	}
	if (r->must_change_password && !(r->route->flags & ROUTE_BEFORE_PW_CHANGE)) {
		req_fail(r, ERR_FORBIDDEN, "password",
			 "请先修改一次性密码（POST /api/v1/me/password）",
			 "change your one-time password first (POST /api/v1/me/password)");
		reply_error(r);
		return false;
	}
	r->scope = authz_scope(r->authed ? &r->actor : NULL, r->route->perm);
	if (r->scope == SCOPE_NONE) {
		req_fail(r, ERR_FORBIDDEN, NULL, "无权执行此操作（需要权限 %s）",
			 "not allowed (needs permission %s)", perm_name(r->route->perm));
		reply_error(r);
		return false;
	}
	return true;
}

static void run_handler(struct req *r)
{
	err_clear(&r->err);
	int rc = r->route->fn(r);
	if (rc || r->status == 0)
		reply_error(r);
}

/* ---- libmicrohttpd callbacks ---- */

static struct req *req_new(struct app *app, struct MHD_Connection *c, const char *url,
			   const char *method)
{
	struct req *r = xcalloc(1, sizeof *r);
	r->app = app;
	r->conn = c;
	r->arena = arena_new(4096);
	r->t0_ns = mono_ns();
	r->method = method;
	r->path = url;
	r->route_idx = -1;
	snprintf(r->id, sizeof r->id, "%s%08" PRIxFAST64, id_prefix,
		 atomic_fetch_add(&req_counter, 1) + 1);
	buf_init(&r->out, 0);
	err_clear(&r->err);
	int idx = routes_match(method, url, r);
	size_t limit = 1;
	if (idx >= 0) {
		r->route_idx = idx;
		r->route = routes_all(NULL) + idx;
		limit = r->route->max_body ? r->route->max_body : app->cfg.max_body;
	} else if (idx == -2)
		r->method_mismatch = true;
	buf_init(&r->body, limit);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t n;
	if (cl && parse_i64(cl, &n) && (uint64_t)n > limit && r->route)
		r->body_too_large = true;
	return r;
}

static void req_free(struct req *r)
{
	if (!r)
		return;
	json_decref(r->json);
	buf_release(&r->body);
	buf_release(&r->out);
	arena_free(r->arena);
	free(r);
}

static void access_log(struct req *r, int64_t ns)
{
	FILE *f = r->app->cfg.access_log;
	if (!f)
		return;
	char ts[32];
	struct buf b;
	buf_init(&b, 0);
	time_format_utc(now_ms(), ts, sizeof ts);
	buf_addf(&b, "{\"ts\":\"%s\",\"id\":\"%s\",\"method\":", ts, r->id);
	buf_add_json_str(&b, r->method, strlen(r->method));
	buf_adds(&b, ",\"path\":");
	buf_add_json_str(&b, r->path, strlen(r->path));
	if (r->route) {
		buf_adds(&b, ",\"route\":");
		buf_add_json_str(&b, r->route->pattern, strlen(r->route->pattern));
	}
	buf_addf(&b, ",\"status\":%d,\"ms\":%.3f,\"bytes\":%zu,\"user\":%" PRId64, r->status,
		 (double)ns / 1e6, r->out_len, r->authed ? r->actor.user_id : (int64_t)0);
	if (r->status >= 400 && r->err.code) {
		buf_adds(&b, ",\"error\":");
		buf_add_json_str(&b, err_code_name(r->err.code), strlen(err_code_name(r->err.code)));
	}
	buf_adds(&b, "}\n");
	fwrite(b.p, 1, b.len, f);
	buf_release(&b);
}

static bool run_coro(struct http_server *s, struct req *r, bool yielding);

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct app *app = cls;
	struct req *r = *req_cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	/* Closed while its handler waited or before it went on: finish it here
	 * (its writes are acknowledged to no one, but its memory is released). */
	while (r->coro)
		run_coro(r->server, r, false);
	int64_t ns = mono_ns() - r->t0_ns;
	metrics_observe(app->metrics, r->route_idx, r->status ? r->status : 499, ns);
	access_log(r, ns);
	req_free(r);
	*req_cls = NULL;
}

/* ---- handler threads ---- */

/* Writing methods run on a handler thread; reads run where they arrive. */
static bool runs_on_handler_thread(const struct req *r)
{
	return strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
}

static void *handler_main(void *arg)
{
	struct handlers *h = arg;
	struct req *r;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!(r = STAILQ_FIRST(&h->queue)) && !h->stopping)
			pthread_cond_wait(&h->work, &h->mu);
		if (!r)
			break; /* stopping, queue drained */
		STAILQ_REMOVE_HEAD(&h->queue, hlink);
		pthread_mutex_unlock(&h->mu);
		run_handler(r);
		r->handled = true;
		MHD_resume_connection(r->conn); /* the access handler is called again: answer */
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/*
 * Suspend r's connection and queue r for a handler thread. False if the
 * threads are stopping (the caller then runs the handler itself).
 */
static bool hand_off(struct handlers *h, struct req *r)
{
	pthread_mutex_lock(&h->mu);
	if (h->stopping || h->nthreads == 0) {
		pthread_mutex_unlock(&h->mu);
		return false;
	}
	MHD_suspend_connection(r->conn);
	STAILQ_INSERT_TAIL(&h->queue, r, hlink);
	pthread_cond_signal(&h->work);
	pthread_mutex_unlock(&h->mu);
	return true;
}

static void handlers_init(struct handlers *h)
{
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->work, NULL);
	STAILQ_INIT(&h->queue);
}

/* Start n threads (fewer if the system refuses; 0 means handlers run inline). */
static void handlers_start(struct handlers *h, int n)
{
	h->threads = xcalloc((size_t)n, sizeof *h->threads);
	for (int i = 0; i < n; i++) {
		if (!thread_start(&h->threads[i], handler_main, h, "yq-handler")) {
			log_warn("started %d of %d handler threads", i, n);
			break;
		}
		h->nthreads++;
	}
}

/* Let the threads finish the queue, then join them; handlers run inline from now on. */
static void handlers_stop(struct handlers *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->work);
	pthread_mutex_unlock(&h->mu);
	for (int i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
}

/* After the daemon has stopped: nothing can hand off any more. */
static void handlers_release(struct handlers *h)
{
	free(h->threads);
	pthread_cond_destroy(&h->work);
	pthread_mutex_destroy(&h->mu);
}

/* ---- handler coroutines ---- */

static void coro_main(void *arg)
{
	run_handler(arg);
}

/* db_waiter of a coroutine's req_write: see db_pool_set_waiter. */
static void waiter_suspend(void *ctx)
{
	struct req *r = ctx;
	atomic_store_explicit(&r->woken, false, memory_order_relaxed);
	MHD_suspend_connection(r->conn);
}

static void waiter_wait(void *ctx)
{
	(void)ctx;
	coro_yield();
}

/* On the writer thread. After the store, r may be gone: nothing follows it. */
static void waiter_wake(void *ctx)
{
	struct req *r = ctx;
	MHD_resume_connection(r->conn);
	atomic_store_explicit(&r->woken, true, memory_order_release);
}

/*
 * Run r's coroutine until it waits for a write or ends. It runs only once
 * its last write has woken it (the writer may still be inside
 * waiter_wake). With the waiter set, its writes yield; without (r is
 * being finished off), they block. True when it has ended.
 */
static bool run_coro(struct http_server *s, struct req *r, bool yielding)
{
	while (!atomic_load_explicit(&r->woken, memory_order_acquire))
		sched_yield();
	if (yielding)
		db_pool_set_waiter(&r->waiter);
	bool ended = coro_resume(r->coro);
	db_pool_set_waiter(NULL);
	if (ended) {
		coro_free(r->coro);
		r->coro = NULL;
		atomic_fetch_sub(&s->live, 1);
	}
	return ended;
}

/*
 * Authenticated reads (GET, HEAD) run their session check and their handler
 * in one read transaction of the thread's reader connection: one snapshot and
 * its locks instead of one per statement. A handler that writes leaves it
 * (db_pool_write ends it) and reads what it wrote.
 */
static bool reads_in_one_snapshot(const struct req *r)
{
	return r->route && r->route->perm != PERM_PUBLIC && !runs_on_handler_thread(r);
}

/* Begin the read transaction; NULL (and statements run on their own) if it cannot. */
static struct db *read_begin(struct req *r)
{
	struct err e;
	err_clear(&e);
	struct db *db = db_pool_reader(r->app->pool, &e);
	if (!db || db_read_begin(db, &e) != 0) {
		log_warn("request %s: no read transaction: %s", r->id, e.message);
		return NULL;
	}
	return db;
}

/* Start r's handler as a coroutine; false if none could be made. */
static bool start_coro(struct http_server *s, struct req *r, bool *ended)
{
	if (atomic_load(&s->stopping) || !(r->coro = coro_new(coro_main, r)))
		return false;
	atomic_fetch_add(&s->live, 1);
	r->server = s;
	r->waiter = (struct db_waiter){waiter_suspend, waiter_wait, waiter_wake, r};
	atomic_store(&r->woken, true);
	*ended = run_coro(s, r, true);
	return true;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct http_server *s = cls;
	struct req *r = *req_cls;
	(void)version;

	if (!r) {
		*req_cls = req_new(s->app, c, url, method);
		return MHD_YES;
	}
	if (*upload_size) {
		if (!r->body_too_large && buf_add(&r->body, upload_data, *upload_size))
			r->body_too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}

	if (!r->handled && r->coro) {
		/* resumed by the writer: go on where the handler waited */
		if (!run_coro(s, r, true))
			return MHD_YES;
		r->handled = true;
	}
	if (!r->handled && reads_in_one_snapshot(r)) {
		/* the session check and the handler's reads: one read transaction */
		struct db *db = read_begin(r);
		if (dispatch_pre(r))
			run_handler(r);
		if (db)
			db_read_end(db);
		r->handled = true;
	}
	if (!r->handled) {
		if (dispatch_pre(r)) {
			bool ended;
			if (!runs_on_handler_thread(r))
				run_handler(r);
			else if (!(r->route->flags & ROUTE_SLOW) && start_coro(s, r, &ended)) {
				if (!ended)
					return MHD_YES; /* waits for a write; the writer resumes c */
			} else if (hand_off(&s->h, r))
				return MHD_YES; /* answered when a handler thread resumes c */
			else
				run_handler(r);
		}
		r->handled = true;
	}

	size_t len;
	char *body = buf_detach(&r->out, &len);
	r->out_len = len;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	bool cache_set = false;
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, MHD_HTTP_HEADER_CACHE_CONTROL) == 0)
			cache_set = true;
	if (!cache_set)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->set_cookie)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	for (int i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	if (r->status == 405 && r->method_mismatch) {
		const char *allow = routes_allow(r->path, r->arena);
		if (allow)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode the path in place, except "%00": a NUL would cut the path
 * short ("/users/1%00x" read as "/users/1"), so it stays literal and the
 * path matches nothing or fails id parsing.
 */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s;
	(void)cls;
	(void)c;
	for (const char *r = s; *r; r++) {
		int hi, lo;
		if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
		    (hi || lo)) {
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else
			*w++ = *r;
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("libmicrohttpd: %s", line);
}

static int parse_addr(const char *addr, struct sockaddr_in *sa, struct err *e)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	int64_t port;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (!colon || (size_t)(colon - addr) >= sizeof host || !parse_i64(colon + 1, &port) ||
	    port < 0 || port > 65535)
		return err_set(e, ERR_BAD_REQUEST, "listen", "监听地址“%s”无效，应为 主机:端口",
			       "bad listen address '%s': expected HOST:PORT", addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (!*host || strcmp(host, "*") == 0)
		snprintf(host, sizeof host, "0.0.0.0");
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return err_set(e, ERR_BAD_REQUEST, "listen", "监听地址“%s”无效",
			       "bad listen address '%s': host must be an IPv4 address", addr);
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

int http_server_start(struct app *app, struct http_server **out, struct err *e)
{
	struct sockaddr_in sa;
	int rc = parse_addr(app->cfg.addr, &sa, e);
	if (rc)
		return rc;
	if (!id_prefix[0]) {
		unsigned char raw[4];
		randombytes_buf(raw, sizeof raw);
		hex_encode(raw, sizeof raw, id_prefix);
	}
	struct http_server *s = xcalloc(1, sizeof *s);
	s->app = app;
	handlers_init(&s->h);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
#ifdef __linux__
	flags |= MHD_USE_EPOLL;
#endif
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_THREAD_POOL_SIZE,
				(unsigned)(app->cfg.threads > 0 ? app->cfg.threads : 2),
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, app,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
				MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
				MHD_OPTION_END);
	if (!s->d) {
		handlers_release(&s->h);
		free(s);
		return err_set(e, ERR_UNAVAILABLE, "listen", "无法在 %s 上监听（端口被占用？）",
			       "cannot listen on %s (port in use?)", app->cfg.addr);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : ntohs(sa.sin_port);
	handlers_start(&s->h, app->cfg.handler_threads);
	*out = s;
	return 0;
}

int http_server_port(struct http_server *s)
{
	return s->port;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	/* Coroutines first: each ends once its writes are done and libmicrohttpd
	 * has sent its answer; new writing requests block their thread now. */
	atomic_store(&s->stopping, true);
	for (int i = 0; i < 60000 && atomic_load(&s->live) > 0; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	if (atomic_load(&s->live) > 0)
		log_warn("stopping with %d request handler(s) still waiting", atomic_load(&s->live));
	/* Handler threads next: each resumes its connection, so none stays
	 * suspended; requests arriving meanwhile run on their own thread. */
	handlers_stop(&s->h);
	MHD_stop_daemon(s->d);
	handlers_release(&s->h);
	free(s);
}
