/*
 * webhook.c — webhook registrations, the delivery queue, signatures and the
 * sender (libcurl multi: the due deliveries of one pass go out concurrently,
 * so one slow receiver costs the others at most WEBHOOK_TIMEOUT_MS).
 */
#include "jobs/webhook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/request.h"
#include "db/db.h"
#include "jobs/jobs.h"
#include "base/banned.h"

static atomic_bool allow_private;

void webhook_set_allow_private(bool allow)
{
	atomic_store(&allow_private, allow);
}

bool webhook_allow_private(void)
{
	return atomic_load(&allow_private);
}

int webhook_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void webhook_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- addresses ---- */

static bool v4_private(uint32_t a) /* host byte order */
{
	return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
	       (a & 0xFFC00000u) == 0x64400000u || /* 100.64/10 carrier-grade NAT */
	       (a & 0xFFFF0000u) == 0xA9FE0000u || /* 169.254/16 link-local */
	       (a & 0xFFF00000u) == 0xAC100000u || /* 172.16/12 */
	       (a & 0xFFFF0000u) == 0xC0A80000u || /* 192.168/16 */
	       (a >> 28) >= 14;                    /* multicast, reserved, broadcast */
}

static bool v6_private(const unsigned char *b)
{
	static const unsigned char zero[16];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(b, mapped, 12) == 0)
		return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
				  (uint32_t)b[14] << 8 | b[15]);
	if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) /* :: and ::1 */
		return true;
	return (b[0] & 0xFE) == 0xFC ||                 /* fc00::/7 unique local */
	       (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || /* fe80::/10 link-local */
	       b[0] == 0xFF;                            /* multicast */
}

static bool sockaddr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_private(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_private(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return true;
}

/* A host name as written in a URL: loopback names and literal private addresses. */
static bool host_private(const char *host)
{
	char h[256];
	size_t n = strlen(host);
	if (n >= sizeof h)
		return false;
	memcpy(h, host, n + 1);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h[n - 1] = '\0';
		char *pct = strchr(h + 1, '%'); /* zone id */
		if (pct)
			*pct = '\0';
		unsigned char b[16];
		return inet_pton(AF_INET6, h + 1, b) != 1 || v6_private(b);
	}
	for (char *p = h; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	while (n > 0 && h[n - 1] == '.')
		h[--n] = '\0';
	if (strcmp(h, "localhost") == 0 || (n > 10 && strcmp(h + n - 10, ".localhost") == 0))
		return true;
	struct in_addr a4;
	if (inet_aton(h, &a4)) /* also the short and numeric forms: 127.1, 2130706433 */
		return v4_private(ntohl(a4.s_addr));
	return false;
}

/* ---- checks ---- */

static int url_fail(struct err *e, const char *zh, const char *en)
{
	return err_set_msg(e, ERR_UNPROCESSABLE, "url", zh, en);
}

int webhook_url_check(const char *url, struct err *e)
{
	CURLU *u = NULL;
	char *scheme = NULL, *part = NULL, *host = NULL;
	int rc = 0;

	if (!url || !*url)
		return url_fail(e, "请填写回调地址", "url is required");
	size_t n = strlen(url);
	if (n > WEBHOOK_URL_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "url", "回调地址不能超过 %d 个字符",
			       "url must not exceed %d characters", WEBHOOK_URL_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return url_fail(e, "回调地址不能含空格、控制字符或非 ASCII 字符（国际化域名请用 punycode）",
					"url must be printable ASCII without spaces (write "
					"international host names in punycode)");
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return url_fail(e, "回调地址须以 http:// 或 https:// 开头",
				"url must start with http:// or https://");
	const char *auth = strstr(url, "://") + 3;
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen))
		return url_fail(e, "回调地址不能包含用户名或密码", "url must not contain credentials");
	u = curl_url();
	if (!u)
		return err_set(e, ERR_INTERNAL, "url", "内存不足", "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		rc = url_fail(e, "回调地址格式不正确", "url is not a valid absolute URL");
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		rc = url_fail(e, "回调地址须以 http:// 或 https:// 开头",
			      "url must start with http:// or https://");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
		rc = url_fail(e, "回调地址不能包含用户名或密码", "url must not contain credentials");
		goto out;
	}
	if (!webhook_allow_private() && host_private(host))
		rc = url_fail(e, "回调地址不能指向本机或内网地址（服务器以 --webhook-allow-private 启动时除外）",
			      "url must not point to a loopback or private address (unless the "
			      "server runs with --webhook-allow-private)");
out:
	curl_free(part);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

static const char *const notices[] = {"remind_handle", "escalate_1", "escalate_2", "visit_due",
				      "daily_report"};

bool webhook_event_known(const char *name)
{
	if (!name)
		return false;
	if (!strcmp(name, "*") || !strcmp(name, "request.*") || !strcmp(name, "notice.*") ||
	    !strcmp(name, "request.submit"))
		return true;
	if (!strncmp(name, "request.", 8)) {
		int a = req_action_parse(name + 8);
		return a >= 0;
	}
	if (!strncmp(name, "notice.", 7))
		for (size_t i = 0; i < ARRAY_SIZE(notices); i++)
			if (!strcmp(name + 7, notices[i]))
				return true;
	return false;
}

bool webhook_filter_matches(const char *filter, const char *event)
{
	if (!strcmp(event, "ping"))
		return true;
	size_t elen = strlen(event);
	for (const char *p = filter; p && *p;) {
		size_t n = strcspn(p, ",");
		if ((n == 1 && p[0] == '*') || (n == elen && !memcmp(p, event, n)) ||
		    (n >= 2 && p[n - 1] == '*' && p[n - 2] == '.' && elen > n - 1 &&
		     !memcmp(p, event, n - 1)))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* A comma-separated list of known events, each once, not empty. */
static int events_check(const char *events, struct err *e)
{
	char item[64];
	if (!*events)
		return err_set(e, ERR_UNPROCESSABLE, "events", "请至少订阅一种事件",
			       "events must name at least one event");
	if (strlen(events) > WEBHOOK_EVENTS_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "events", "订阅的事件过多",
			       "events: too many events");
	for (const char *p = events; *p;) {
		size_t n = strcspn(p, ",");
		snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
		if (n >= sizeof item || !webhook_event_known(item))
			return err_set(e, ERR_UNPROCESSABLE, "events", "未知事件“%s”",
				       "unknown event '%s'", item);
		p += n;
		if (*p == ',' && !*++p)
			return err_set(e, ERR_UNPROCESSABLE, "events", "事件名不能为空",
				       "an event name is empty");
	}
	return 0;
}

static int secret_check(const char *s, struct err *e)
{
	size_t n = strlen(s);
	if (n < WEBHOOK_SECRET_MIN || n > WEBHOOK_SECRET_MAX)
		return err_set(e, ERR_UNPROCESSABLE, "secret", "签名密钥应为 %d 到 %d 个字符",
			       "secret must be %d to %d characters", WEBHOOK_SECRET_MIN,
			       WEBHOOK_SECRET_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return err_set(e, ERR_UNPROCESSABLE, "secret", "签名密钥只能包含可见的 ASCII 字符",
				       "secret must be printable ASCII without spaces");
	return 0;
}

static int desc_check(const char *s, struct err *e)
{
	size_t n = strlen(s);
	if (!utf8_valid(s, n) || utf8_len(s, n) > WEBHOOK_DESC_MAX_CHARS)
		return err_set(e, ERR_UNPROCESSABLE, "description", "说明不能超过 %d 个字符",
			       "description must be valid UTF-8 of at most %d characters",
			       WEBHOOK_DESC_MAX_CHARS);
	return 0;
}

/* ---- signing and back-off ---- */

int64_t webhook_backoff_ms(int attempts)
{
	static const int64_t delays[] = {30 * 1000LL, 2 * 60 * 1000LL, 10 * 60 * 1000LL,
					 3600 * 1000LL, 6 * 3600 * 1000LL};
	if (attempts < 1)
		return 0;
	if (attempts >= WEBHOOK_MAX_ATTEMPTS || (size_t)attempts > ARRAY_SIZE(delays))
		return -1;
	return delays[attempts - 1];
}

void webhook_sign(const char *secret, const void *body, size_t len, char *out, size_t outsz)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof mac + 1];
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	hex_encode(mac, sizeof mac, hex);
	snprintf(out, outsz, "sha256=%s", hex);
	sodium_memzero(&st, sizeof st);
}

/* ---- registrations ---- */

#define HOOK_COLS                                                                             \
	"w.id, w.url, w.secret, w.events, w.description, w.active, w.created_by, w.created_at, " \
	"w.updated_at, (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.tenant_id = w.tenant_id " \
	"AND d.webhook_id = w.id AND d.status = 'pending'), (SELECT COUNT(*) FROM "          \
	"webhook_deliveries d WHERE d.tenant_id = w.tenant_id AND d.webhook_id = w.id AND "  \
	"d.status = 'delivered'), (SELECT COUNT(*) FROM webhook_deliveries d WHERE "         \
	"d.tenant_id = w.tenant_id AND d.webhook_id = w.id AND d.status = 'failed')"

static void read_hook(struct db_stmt *st, struct webhook *w)
{
	memset(w, 0, sizeof *w);
	w->id = db_column_int64(st, 0);
	snprintf(w->url, sizeof w->url, "%s", db_column_text(st, 1));
	snprintf(w->secret, sizeof w->secret, "%s", db_column_text(st, 2));
	snprintf(w->events, sizeof w->events, "%s", db_column_text(st, 3));
	snprintf(w->description, sizeof w->description, "%s", db_column_text(st, 4));
	w->active = db_column_int64(st, 5) != 0;
	w->created_by = db_column_int64(st, 6);
	w->created_at = db_column_int64(st, 7);
	w->updated_at = db_column_int64(st, 8);
	w->pending = db_column_int64(st, 9);
	w->delivered = db_column_int64(st, 10);
	w->failed = db_column_int64(st, 11);
}

int webhook_get(struct db *db, int64_t tenant_id, int64_t id, struct webhook *out,
		struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " HOOK_COLS " FROM webhooks w WHERE w.tenant_id = $1 AND w.id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_hook(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "回调 %lld 不存在", "webhook %lld does not exist",
			       (long long)id);
	return rc < 0 ? rc : 0;
}

int webhook_list(struct db *db, int64_t tenant_id,
		 int (*each)(const struct webhook *w, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT " HOOK_COLS " FROM webhooks w WHERE w.tenant_id = $1 ORDER BY w.id",
			   "i", tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct webhook *w = xmalloc(sizeof *w);
		read_hook(st, w);
		int stop = each(w, ctx);
		free(w);
		if (stop)
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static json_t *hook_summary(const char *url, const char *events, const char *desc, bool active)
{
	return json_pack("{s:s,s:s,s:s,s:b}", "url", url, "events", events, "description", desc,
			 "active", active);
}

int webhook_create(struct db *db, void *arg, struct err *e)
{
	struct webhook_write *w = arg;
	const char *events = w->events ? w->events : "*";
	const char *desc = w->description ? w->description : "";
	int64_t count = 0;
	int rc;

	if ((rc = webhook_url_check(w->url, e)) || (rc = events_check(events, e)) ||
	    (rc = desc_check(desc, e)))
		return rc;
	if (w->secret) {
		if ((rc = secret_check(w->secret, e)))
			return rc;
		snprintf(w->secret_out, sizeof w->secret_out, "%s", w->secret);
	} else {
		random_token(w->secret_out, sizeof w->secret_out, 32);
	}
	if ((rc = db_query_i64(db, &count, e, "SELECT COUNT(*) FROM webhooks WHERE tenant_id = $1",
			       "i", w->who->tenant_id)))
		return rc;
	if (count >= WEBHOOK_PER_TENANT_MAX)
		return err_set(e, ERR_CONFLICT, NULL, "回调数量已达上限（%d 个）",
			       "a district may have at most %d webhooks", WEBHOOK_PER_TENANT_MAX);
	bool active = w->active != 0;
	if ((rc = db_query_i64(db, &w->id, e,
			       "INSERT INTO webhooks (tenant_id, url, secret, events, description, "
			       "active, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, "
			       "$6, $7, $8, $8) RETURNING id",
			       "itttti" "ii", w->who->tenant_id, w->url, w->secret_out, events, desc,
			       (int64_t)active, w->who->user_id, w->now)))
		return rc;
	json_t *sum = hook_summary(w->url, events, desc, active);
	rc = audit_append(db, w->who, w->who->tenant_id, "webhook", w->id, "create", sum, e);
	json_decref(sum);
	return rc;
}

int webhook_update(struct db *db, void *arg, struct err *e)
{
	struct webhook_write *w = arg;
	struct webhook *old = xmalloc(sizeof *old);
	int rc;

	w->secret_out[0] = '\0';
	if ((rc = webhook_get(db, w->who->tenant_id, w->id, old, e)))
		goto out;
	const char *url = w->url ? w->url : old->url;
	const char *events = w->events ? w->events : old->events;
	const char *desc = w->description ? w->description : old->description;
	bool active = w->active < 0 ? old->active : w->active != 0;
	if ((w->url && (rc = webhook_url_check(url, e))) ||
	    (w->events && (rc = events_check(events, e))) ||
	    (w->description && (rc = desc_check(desc, e))) ||
	    (w->secret && (rc = secret_check(w->secret, e))))
		goto out;
	if (w->secret)
		snprintf(w->secret_out, sizeof w->secret_out, "%s", w->secret);
	if ((rc = db_execf(db, e,
			   "UPDATE webhooks SET url = $1, secret = $2, events = $3, description = $4, "
			   "active = $5, updated_at = $6 WHERE tenant_id = $7 AND id = $8",
			   "ttttiiii", url, w->secret ? w->secret : old->secret, events, desc,
			   (int64_t)active, w->now, w->who->tenant_id, w->id)))
		goto out;
	json_t *sum = hook_summary(url, events, desc, active);
	json_object_set_new(sum, "secret_changed", json_boolean(w->secret != NULL));
	rc = audit_append(db, w->who, w->who->tenant_id, "webhook", w->id, "update", sum, e);
	json_decref(sum);
out:
	free(old);
	return rc;
}

int webhook_delete(struct db *db, void *arg, struct err *e)
{
	struct webhook_write *w = arg;
	struct webhook *old = xmalloc(sizeof *old);
	int rc;

	if ((rc = webhook_get(db, w->who->tenant_id, w->id, old, e)))
		goto out;
	if ((rc = db_execf(db, e,
			   "DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2",
			   "ii", w->who->tenant_id, w->id)) ||
	    (rc = db_execf(db, e, "DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2", "ii",
			   w->who->tenant_id, w->id)))
		goto out;
	json_t *sum = hook_summary(old->url, old->events, old->description, old->active);
	json_object_set_new(sum, "deliveries",
			    json_integer(old->pending + old->delivered + old->failed));
	rc = audit_append(db, w->who, w->who->tenant_id, "webhook", w->id, "delete", sum, e);
	json_decref(sum);
out:
	free(old);
	return rc;
}

/* ---- queueing ---- */

#define EMIT_MAX WEBHOOK_PER_TENANT_MAX

/* Ids of the active webhooks of the tenant that take event (at most EMIT_MAX). */
static int subscribers(struct db *db, int64_t tenant_id, const char *event, int64_t *ids, int *n,
		       struct err *e)
{
	struct db_stmt *st = NULL;
	*n = 0;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, events FROM webhooks WHERE tenant_id = $1 AND active = 1 "
			   "ORDER BY id",
			   "i", tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW && *n < EMIT_MAX)
		if (webhook_filter_matches(db_column_text(st, 1), event))
			ids[(*n)++] = db_column_int64(st, 0);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int webhook_wanted(struct db *db, int64_t tenant_id, const char *event, bool *out,
		   struct err *e)
{
	int64_t ids[EMIT_MAX];
	int n = 0;
	int rc = subscribers(db, tenant_id, event, ids, &n, e);
	*out = n > 0;
	return rc;
}

static int queue(struct db *db, int64_t tenant_id, int64_t hook, const char *event,
		 const char *payload, int64_t now, int64_t *id, struct err *e)
{
	return db_query_i64(db, id, e,
			    "INSERT INTO webhook_deliveries (tenant_id, webhook_id, event, payload, "
			    "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
			    "iitti", tenant_id, hook, event, payload, now);
}

static char *payload_of(int64_t tenant_id, const char *event, json_t *data, int64_t now)
{
	json_t *j = json_pack("{s:s,s:I,s:I,s:o}", "event", event, "tenant_id",
			      (json_int_t)tenant_id, "at", (json_int_t)now, "data",
			      data ? json_incref(data) : json_object());
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

int webhook_emit(struct db *db, int64_t tenant_id, const char *event, json_t *data, int64_t now,
		 int *queued, struct err *e)
{
	int64_t ids[EMIT_MAX], id;
	int n = 0, rc;

	if (queued)
		*queued = 0;
	if ((rc = subscribers(db, tenant_id, event, ids, &n, e)) || !n)
		return rc;
	char *payload = payload_of(tenant_id, event, data, now);
	if (!payload)
		return err_set(e, ERR_INTERNAL, NULL, "无法生成回调内容", "cannot encode the webhook body");
	for (int i = 0; i < n && !rc; i++)
		rc = queue(db, tenant_id, ids[i], event, payload, now, &id, e);
	free(payload);
	if (!rc && queued)
		*queued = n;
	return rc;
}

int webhook_ping(struct db *db, void *arg, struct err *e)
{
	struct webhook_ping *p = arg;
	struct webhook *w = xmalloc(sizeof *w);
	char *payload = NULL;
	int rc;

	if ((rc = webhook_get(db, p->who->tenant_id, p->id, w, e)))
		goto out;
	if (!w->active) {
		rc = err_set(e, ERR_CONFLICT, "active", "回调已停用，请先启用",
			     "the webhook is not active; activate it first");
		goto out;
	}
	json_t *data = json_pack("{s:I,s:s}", "webhook_id", (json_int_t)p->id, "message",
				 "来自易企办的测试消息 / test delivery from yiqiban");
	payload = payload_of(p->who->tenant_id, "ping", data, p->now);
	json_decref(data);
	if (!payload) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法生成回调内容", "cannot encode the webhook body");
		goto out;
	}
	if ((rc = queue(db, p->who->tenant_id, p->id, "ping", payload, p->now, &p->delivery_id, e)))
		goto out;
	json_t *sum = json_pack("{s:I}", "delivery_id", (json_int_t)p->delivery_id);
	rc = audit_append(db, p->who, p->who->tenant_id, "webhook", p->id, "ping", sum, e);
	json_decref(sum);
out:
	free(payload);
	free(w);
	return rc;
}

int webhook_deliveries(struct db *db, int64_t tenant_id, int64_t webhook_id, const char *status,
		       int64_t after, int64_t limit,
		       int (*each)(const struct webhook_delivery *d, void *ctx), void *ctx,
		       struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, webhook_id, event, payload, status, last_error, attempts, "
			   "last_status, next_attempt_at, created_at, delivered_at FROM "
			   "webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2 AND "
			   "($3 = '' OR status = $3) AND id < $4 ORDER BY id DESC LIMIT $5",
			   "iitii", tenant_id, webhook_id, status ? status : "",
			   after > 0 ? after : INT64_MAX, limit > 0 && limit <= 200 ? limit : 50);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct webhook_delivery d = {
			.id = db_column_int64(st, 0), .webhook_id = db_column_int64(st, 1),
			.event = db_column_text(st, 2), .payload = db_column_text(st, 3),
			.status = db_column_text(st, 4), .last_error = db_column_text(st, 5),
			.attempts = (int)db_column_int64(st, 6),
			.last_status = (int)db_column_int64(st, 7),
			.next_attempt_at = db_column_int64(st, 8),
			.created_at = db_column_int64(st, 9), .delivered_at = db_column_int64(st, 10),
		};
		if (each(&d, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- sending ---- */

struct send {
	int64_t id, tenant_id, webhook_id;
	int attempts;              /* before this one */
	char event[64];
	char *url, *secret, *payload;
	struct curl_slist *headers;
	CURL *h;
	char errbuf[CURL_ERROR_SIZE];
	char blocked[INET6_ADDRSTRLEN]; /* the private address refused, "" if none */
	bool done, ok;
	long status;
	char error[300];
};

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct send *s = ctx;
	(void)purpose;
	if (!webhook_allow_private() && sockaddr_private(&a->addr)) {
		if (a->family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&a->addr)->sin_addr,
				  s->blocked, sizeof s->blocked);
		else if (a->family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr,
				  s->blocked, sizeof s->blocked);
		else
			snprintf(s->blocked, sizeof s->blocked, "?");
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static int prepare(struct send *s)
{
	char line[160], sig[80];
	if (!(s->h = curl_easy_init()))
		return -1;
	webhook_sign(s->secret, s->payload, strlen(s->payload), sig, sizeof sig);
	s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
	s->headers = curl_slist_append(s->headers, "Expect:");
	s->headers = curl_slist_append(s->headers, "User-Agent: yiqiban-webhook/1");
	snprintf(line, sizeof line, "X-Yiqiban-Event: %s", s->event);
	s->headers = curl_slist_append(s->headers, line);
	snprintf(line, sizeof line, "X-Yiqiban-Delivery: %lld", (long long)s->id);
	s->headers = curl_slist_append(s->headers, line);
	snprintf(line, sizeof line, "X-Yiqiban-Signature: %s", sig);
	s->headers = curl_slist_append(s->headers, line);
	CURL *h = s->h;
	curl_easy_setopt(h, CURLOPT_URL, s->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->payload);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(s->payload));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)WEBHOOK_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)WEBHOOK_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(h, CURLOPT_PRIVATE, s);
	return 0;
}

static void finish(struct send *s, CURLcode res)
{
	s->done = true;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
	if (res == CURLE_OK && s->status >= 200 && s->status < 300) {
		s->ok = true;
		return;
	}
	if (s->blocked[0])
		snprintf(s->error, sizeof s->error,
			 "refused to connect to the private address %s (see --webhook-allow-private)",
			 s->blocked);
	else if (res != CURLE_OK)
		snprintf(s->error, sizeof s->error, "%s", s->errbuf[0] ? s->errbuf
								   : curl_easy_strerror(res));
	else if (s->status >= 300 && s->status < 400)
		snprintf(s->error, sizeof s->error, "HTTP %ld (redirects are not followed)", s->status);
	else
		snprintf(s->error, sizeof s->error, "HTTP %ld", s->status);
}

/* Send every prepared transfer concurrently, waiting until all finished. */
static void perform(struct send *sends, int n)
{
	CURLM *m = curl_multi_init();
	int running = 0, left;
	for (int i = 0; i < n; i++) {
		if (prepare(&sends[i])) {
			sends[i].done = true;
			snprintf(sends[i].error, sizeof sends[i].error, "cannot start a transfer");
			continue;
		}
		curl_multi_add_handle(m, sends[i].h);
	}
	do {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE) {
				char *p = NULL;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
				if (p)
					finish((struct send *)(void *)p, msg->data.result);
			}
		if (running)
			curl_multi_poll(m, NULL, 0, 200, NULL);
	} while (running);
	for (int i = 0; i < n; i++) {
		if (sends[i].h) {
			if (!sends[i].done) {
				sends[i].done = true;
				snprintf(sends[i].error, sizeof sends[i].error, "transfer aborted");
			}
			curl_multi_remove_handle(m, sends[i].h);
			curl_easy_cleanup(sends[i].h);
			sends[i].h = NULL;
		}
		curl_slist_free_all(sends[i].headers);
		sends[i].headers = NULL;
	}
	curl_multi_cleanup(m);
}

struct record {
	struct send *sends;
	int n;
	int64_t now;
	struct webhook_send_stats *stats;
};

/* Write job: the outcome of each attempt, audited per delivery. */
static int record(struct db *db, void *arg, struct err *e)
{
	struct record *r = arg;
	int rc = 0;
	for (int i = 0; i < r->n && !rc; i++) {
		struct send *s = &r->sends[i];
		struct actor who;
		int attempts = s->attempts + 1;
		const char *action;
		jobs_actor(&who, s->tenant_id);
		if (s->ok) {
			action = "deliver";
			rc = db_execf(db, e,
				      "UPDATE webhook_deliveries SET attempts = $1, status = 'delivered', "
				      "delivered_at = $2, last_status = $3, last_error = '' WHERE "
				      "tenant_id = $4 AND id = $5 AND status = 'pending' AND attempts = $6",
				      "iiiiii", (int64_t)attempts, r->now, (int64_t)s->status,
				      s->tenant_id, s->id, (int64_t)s->attempts);
		} else {
			int64_t delay = webhook_backoff_ms(attempts);
			action = delay < 0 ? "fail" : "retry";
			rc = db_execf(db, e,
				      "UPDATE webhook_deliveries SET attempts = $1, status = $2, "
				      "next_attempt_at = $3, last_status = $4, last_error = $5 WHERE "
				      "tenant_id = $6 AND id = $7 AND status = 'pending' AND attempts = $8",
				      "itiitiii", (int64_t)attempts, delay < 0 ? "failed" : "pending",
				      delay < 0 ? r->now : r->now + delay, (int64_t)s->status, s->error,
				      s->tenant_id, s->id, (int64_t)s->attempts);
		}
		if (rc || db_changes(db) != 1)
			continue; /* deleted or recorded meanwhile: nothing to say */
		json_t *sum = json_pack("{s:I,s:s,s:i,s:i,s:s}", "webhook_id", (json_int_t)s->webhook_id,
					"event", s->event, "attempt", attempts, "http_status",
					(int)s->status, "error", s->ok ? "" : s->error);
		rc = audit_append(db, &who, s->tenant_id, "webhook_delivery", s->id, action, sum, e);
		json_decref(sum);
		if (!rc && r->stats) {
			if (s->ok)
				r->stats->delivered++;
			else if (!strcmp(action, "fail"))
				r->stats->failed++;
			else
				r->stats->retrying++;
		}
	}
	return rc;
}

static void sends_free(struct send *sends, int n)
{
	for (int i = 0; i < n; i++) {
		free(sends[i].url);
		if (sends[i].secret)
			sodium_memzero(sends[i].secret, strlen(sends[i].secret));
		free(sends[i].secret);
		free(sends[i].payload);
	}
	free(sends);
}

int webhook_send_due(struct db_pool *pool, int64_t now, int max, struct webhook_send_stats *out,
		     struct err *e)
{
	struct webhook_send_stats stats = {0};
	struct db_stmt *st = NULL;
	struct send *sends = NULL;
	int64_t *tenants = NULL;
	size_t ntenants = 0, cap = 0;
	int n = 0, rc;

	if (out)
		*out = stats;
	if (max < 1)
		max = 1;
	struct db *db = db_pool_reader(pool, e);
	if (!db)
		return e->code ? e->code : ERR_UNAVAILABLE;
	/* tenants with something due (a district has few webhooks; the index leads with tenant) */
	if ((rc = db_queryf(db, &st, e, "SELECT id FROM tenants ORDER BY id", NULL)))
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (ntenants == cap) {
			cap = cap ? 2 * cap : 16;
			tenants = xrealloc(tenants, cap * sizeof *tenants);
		}
		tenants[ntenants++] = db_column_int64(st, 0);
	}
	db_finalize(st);
	st = NULL;
	sends = xcalloc((size_t)max, sizeof *sends);
	if (rc < 0)
		goto out;
	for (size_t t = 0; t < ntenants && n < max; t++) {
		rc = db_queryf(db, &st, e,
			       "SELECT d.id, d.webhook_id, d.event, d.payload, d.attempts, w.url, "
			       "w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = "
			       "d.webhook_id WHERE d.tenant_id = $1 AND d.status = 'pending' AND "
			       "d.next_attempt_at <= $2 AND w.active = 1 ORDER BY d.next_attempt_at, "
			       "d.id LIMIT $3",
			       "iii", tenants[t], now, (int64_t)(max - n));
		if (rc)
			goto out;
		while ((rc = db_step(st, e)) == DB_ROW && n < max) {
			struct send *s = &sends[n++];
			s->tenant_id = tenants[t];
			s->id = db_column_int64(st, 0);
			s->webhook_id = db_column_int64(st, 1);
			snprintf(s->event, sizeof s->event, "%s", db_column_text(st, 2));
			s->payload = xstrdup(db_column_text(st, 3));
			s->attempts = (int)db_column_int64(st, 4);
			s->url = xstrdup(db_column_text(st, 5));
			s->secret = xstrdup(db_column_text(st, 6));
		}
		db_finalize(st);
		st = NULL;
		if (rc < 0)
			goto out;
	}
	rc = 0;
	if (!n)
		goto out;
	perform(sends, n);
	stats.attempted = n;
	struct record r = {sends, n, now, &stats};
	rc = db_pool_write(pool, record, &r, e);
	if (rc)
		stats.delivered = stats.retrying = stats.failed = 0;
out:
	db_finalize(st);
	sends_free(sends, n);
	free(tenants);
	if (out)
		*out = stats;
	return rc;
}

int webhook_purge(struct db *db, void *arg, struct err *e)
{
	struct webhook_purge *p = arg;
	int64_t before = p->now - (int64_t)WEBHOOK_RETENTION_DAYS * 86400 * 1000;
	p->removed = 0;
	int rc = db_execf(db, e,
			  "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
			  "WHERE tenant_id = $1 AND status IN ('delivered', 'failed') AND created_at < $2 "
			  "ORDER BY id LIMIT 10000)",
			  "ii", p->who->tenant_id, before);
	if (rc)
		return rc;
	p->removed = db_changes(db);
	if (!p->removed)
		return 0;
	json_t *sum = json_pack("{s:I,s:I}", "removed", (json_int_t)p->removed, "created_before",
				(json_int_t)before);
	rc = audit_append(db, p->who, p->who->tenant_id, "webhook_delivery", 0, "purge", sum, e);
	json_decref(sum);
	return rc;
}
