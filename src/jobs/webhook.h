/*
 * webhook.h — outgoing webhooks: registrations, the delivery queue, signing
 * and sending.
 *
 * An event (a request step, a notice of the digital employee, a test ping)
 * is queued as one row of webhook_deliveries per subscribed webhook, inside
 * the write job of the event itself, so a delivery exists exactly when its
 * event committed. The delivery thread (scheduler.c) sends due rows with
 * libcurl: POST of the stored JSON body with
 *   Content-Type: application/json
 *   X-Yiqiban-Event: request.dispatch
 *   X-Yiqiban-Delivery: 42            (the row id: receivers deduplicate on it)
 *   X-Yiqiban-Signature: sha256=<hex HMAC-SHA256 of the body, key = the secret>
 * within WEBHOOK_TIMEOUT_MS, no redirects, no proxy. A 2xx answer delivers
 * it; anything else is retried after 30 s, 2 min, 10 min, 1 h and 6 h, and
 * then marked failed, keeping the last error and HTTP status. Delivery is
 * at least once: a send interrupted by a stop is sent again after a start.
 *
 * Only http:// and https:// URLs without credentials are accepted. Hosts on
 * loopback, private, link-local and multicast addresses are refused, both
 * when the URL is registered (literal addresses, "localhost") and when a
 * connection is opened (whatever a name resolves to), unless the server runs
 * with --webhook-allow-private (tests; receivers inside a government network).
 */
#ifndef YQ_WEBHOOK_H
#define YQ_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;
struct db_pool;

#define WEBHOOK_TIMEOUT_MS 5000
#define WEBHOOK_MAX_ATTEMPTS 6      /* the first attempt and 5 retries */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 128
#define WEBHOOK_EVENTS_MAX 512      /* the comma-separated filter, in bytes */
#define WEBHOOK_DESC_MAX_CHARS 100
#define WEBHOOK_PER_TENANT_MAX 50
#define WEBHOOK_RETENTION_DAYS 30   /* delivered and failed deliveries are kept this long */

/* Process-wide: may webhooks reach loopback and private addresses? (default false) */
void webhook_set_allow_private(bool allow);
bool webhook_allow_private(void);

/* libcurl's global state: call once at start (before threads) and at exit. */
int webhook_global_init(void);
void webhook_global_cleanup(void);

/* Check a URL as described above; ERR_UNPROCESSABLE naming "url". */
int webhook_url_check(const char *url, struct err *e);
/* Is name an event a webhook can subscribe to (or a pattern: "*", "request.*", "notice.*")? */
bool webhook_event_known(const char *name);
/* Does the comma-separated filter take the event? ("ping" always passes.) */
bool webhook_filter_matches(const char *filter, const char *event);

/*
 * Milliseconds to wait after the attempts-th failed attempt (1-based) before
 * the next one: 30 s, 2 min, 10 min, 1 h, 6 h; -1 from WEBHOOK_MAX_ATTEMPTS
 * on (the delivery has failed for good).
 */
int64_t webhook_backoff_ms(int attempts);
/* "sha256=" + 64 hex digits of HMAC-SHA256(secret, body) into out (at least 72 bytes). */
void webhook_sign(const char *secret, const void *body, size_t len, char *out, size_t outsz);

struct webhook {
	int64_t id;
	char url[WEBHOOK_URL_MAX + 1];
	char secret[WEBHOOK_SECRET_MAX + 1];
	char events[WEBHOOK_EVENTS_MAX + 1];
	char description[WEBHOOK_DESC_MAX_CHARS * 4 + 1];
	bool active;
	int64_t created_by, created_at, updated_at;
	int64_t pending, delivered, failed; /* deliveries by status */
};

int webhook_get(struct db *db, int64_t tenant_id, int64_t id, struct webhook *out,
		struct err *e);
/* The tenant's webhooks by id; each() returning non-zero stops. */
int webhook_list(struct db *db, int64_t tenant_id,
		 int (*each)(const struct webhook *w, void *ctx), void *ctx, struct err *e);

/* Write-job argument of webhook_create / webhook_update / webhook_delete. */
struct webhook_write {
	const struct actor *who;
	int64_t id;                 /* update, delete; out for create */
	const char *url;            /* create: required; update: NULL = unchanged */
	const char *secret;         /* NULL = generate (create) / unchanged (update) */
	const char *events;         /* comma-separated; NULL = "*" (create) / unchanged */
	const char *description;    /* NULL = "" / unchanged */
	int active;                 /* -1 = true (create) / unchanged; 0; 1 */
	int64_t now;
	char secret_out[WEBHOOK_SECRET_MAX + 1]; /* out: the secret when set or generated */
};
/* Write jobs, audited (the secret itself is never in the audit log). */
int webhook_create(struct db *db, void *arg, struct err *e);
int webhook_update(struct db *db, void *arg, struct err *e);
/* Deletes the webhook with its deliveries. */
int webhook_delete(struct db *db, void *arg, struct err *e);

/*
 * Inside a write job: queue event with this data for every active webhook
 * of the tenant whose filter takes it. The body sent is
 *   {"event":"...","tenant_id":1,"at":<ms>,"data":{...}}   (data borrowed).
 * *queued (may be NULL) gets the number of deliveries queued.
 */
int webhook_emit(struct db *db, int64_t tenant_id, const char *event, json_t *data, int64_t now,
		 int *queued, struct err *e);
/* Is any active webhook of the tenant subscribed to event? (cheap check before building data) */
int webhook_wanted(struct db *db, int64_t tenant_id, const char *event, bool *out,
		   struct err *e);

/* Write-job argument of webhook_ping. */
struct webhook_ping {
	const struct actor *who;
	int64_t id;
	int64_t now;
	int64_t delivery_id;        /* out */
};
/* Queue a "ping" delivery to one webhook (ERR_CONFLICT if it is inactive). Audited. */
int webhook_ping(struct db *db, void *arg, struct err *e);

struct webhook_delivery {
	int64_t id, webhook_id;
	const char *event, *payload, *status, *last_error; /* borrowed for the callback */
	int attempts, last_status;
	int64_t next_attempt_at, created_at, delivered_at;
};
/* Deliveries of a webhook, newest first (keyset: id < after); status NULL = any. */
int webhook_deliveries(struct db *db, int64_t tenant_id, int64_t webhook_id, const char *status,
		       int64_t after, int64_t limit,
		       int (*each)(const struct webhook_delivery *d, void *ctx), void *ctx,
		       struct err *e);

/* Write-job argument of webhook_purge. */
struct webhook_purge {
	const struct actor *who;
	int64_t now;
	int64_t removed;            /* out */
};
/* Delete (up to 10000) delivered and failed deliveries older than WEBHOOK_RETENTION_DAYS.
 * Audited when something was removed. */
int webhook_purge(struct db *db, void *arg, struct err *e);

struct webhook_send_stats {
	int attempted, delivered, retrying, failed;
};
/*
 * One pass of the delivery thread: send up to `max` due deliveries of every
 * tenant (next_attempt_at <= now, webhook active) concurrently, then record
 * the outcomes (attempts, status, next_attempt_at, last error) in one write
 * job with the system actor. Returns 0 or an error code.
 */
int webhook_send_due(struct db_pool *pool, int64_t now, int max, struct webhook_send_stats *out,
		     struct err *e);

#endif
