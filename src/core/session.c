/*
 * session.c — login steps, sessions and API tokens (see session.h).
 *
 * Every request names its session, so session_lookup answers from a small
 * in-process cache of recent successful lookups (token hash -> what the
 * lookup returned, plus the times the timeouts need): no JOIN of sessions,
 * users, departments and grids and no roles query for a known session, only
 * one read of a one-row counter. A cached answer is used only while
 *   - the counter auth_epoch (sql/019) is what it was before the answer was
 *     read: session_changed() adds one in the transaction of every change
 *     that could alter an answer (logout, revocation, a user's roles,
 *     status, department, grid, password or binding, a department or grid
 *     moved), in this process or another (the CLI);
 *   - no such change has committed in this process since (a generation,
 *     bumped after the commit: the same, without a read for the writer's own
 *     changes), and
 *   - it is younger than CACHE_TRUST_MS, which bounds how long an edit of
 *     the tables that bypasses session_changed (by hand) takes to be seen;
 * and the expiry, absolute and idle timeouts are checked on every use
 * against the cached times, the idle clock kept current by session_seen().
 * Only successful lookups are cached; failures always ask the database.
 */
#include "core/session.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/util.h"
#include "core/audit.h"
#include "core/settings.h"
#include "core/user.h"
#include "db/db.h"
#include "base/banned.h"

#define API_TOKEN_PREFIX "yq_"

static void token_hash(const char *token, char out[65])
{
	sha256_hex(token, strlen(token), out);
}

/* ---- the cache ---- */

#define CACHE_SLOTS 4096       /* direct-mapped by token hash, a power of two */
#define CACHE_LOCKS 64         /* slot i is guarded by lock i % CACHE_LOCKS */
#define CACHE_TRUST_MS 2000

struct cached {
	bool used;
	char hash[65];             /* the token's SHA-256, hex */
	uint64_t generation;       /* of changes, read before the database was */
	int64_t epoch;             /* auth_epoch.n, read before the database was */
	int64_t read_ns;           /* when (monotonic) */
	int64_t created_at, expires_at;
	struct session_info info;  /* last_seen_at kept current by session_seen */
};

static atomic_uint_fast64_t generation;
static struct cached cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu[CACHE_LOCKS];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_init(void)
{
	for (int i = 0; i < CACHE_LOCKS; i++)
		pthread_mutex_init(&cache_mu[i], NULL);
}

static size_t slot_of(const char *hash)
{
	size_t v = 0;
	for (int i = 0; i < 8; i++) /* hex digits of a SHA-256: uniform */
		v = v << 4 | (size_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
	return v & (CACHE_SLOTS - 1);
}

/* The cached answer for hash into *out, with its times; false if none usable. */
static bool cache_get(const char *hash, int64_t epoch, struct session_info *out,
		      int64_t *created, int64_t *expires)
{
	size_t i = slot_of(hash);
	bool hit = false;
	int64_t t = mono_ns();
	uint64_t gen = atomic_load(&generation);

	pthread_once(&cache_once, cache_init);
	pthread_mutex_lock(&cache_mu[i % CACHE_LOCKS]);
	struct cached *c = &cache[i];
	if (c->used && c->generation == gen && c->epoch == epoch &&
	    t - c->read_ns < CACHE_TRUST_MS * 1000000LL && strcmp(c->hash, hash) == 0) {
		*out = c->info;
		*created = c->created_at;
		*expires = c->expires_at;
		hit = true;
	}
	pthread_mutex_unlock(&cache_mu[i % CACHE_LOCKS]);
	return hit;
}

/* Keep an answer read from the database when generation gen and epoch were current. */
static void cache_put(const char *hash, const struct session_info *si, int64_t created,
		      int64_t expires, uint64_t gen, int64_t epoch, int64_t read_ns)
{
	size_t i = slot_of(hash);

	pthread_once(&cache_once, cache_init);
	pthread_mutex_lock(&cache_mu[i % CACHE_LOCKS]);
	struct cached *c = &cache[i];
	c->used = true;
	memcpy(c->hash, hash, sizeof c->hash);
	c->generation = gen;
	c->epoch = epoch;
	c->read_ns = read_ns;
	c->created_at = created;
	c->expires_at = expires;
	c->info = *si;
	pthread_mutex_unlock(&cache_mu[i % CACHE_LOCKS]);
}

void session_seen(const struct session_info *si, int64_t now)
{
	size_t i = slot_of(si->token_hash);

	pthread_once(&cache_once, cache_init);
	pthread_mutex_lock(&cache_mu[i % CACHE_LOCKS]);
	struct cached *c = &cache[i];
	if (c->used && strcmp(c->hash, si->token_hash) == 0 && c->info.last_seen_at < now)
		c->info.last_seen_at = now;
	pthread_mutex_unlock(&cache_mu[i % CACHE_LOCKS]);
}

int session_changed(struct db *db, struct err *e)
{
	int rc = db_execf(db, e, "UPDATE auth_epoch SET n = n + 1 WHERE id = 1", NULL);
	if (!rc)
		db_bump_on_commit(db, &generation);
	return rc;
}

void session_cache_clear(void)
{
	atomic_fetch_add(&generation, 1);
}

/* The timeouts and expiry, for a session that exists, is not revoked and whose user is active. */
static int check_times(const struct session_info *si, int64_t created, int64_t expires,
		       int64_t now, const struct session_policy *pol, struct err *e)
{
	if ((expires && now >= expires) ||
	    (strcmp(si->kind, "web") == 0 &&
	     ((pol->max_ms && now - created >= pol->max_ms) ||
	      (pol->idle_ms && now - si->last_seen_at >= pol->idle_ms))))
		return err_set(e, ERR_UNAUTHENTICATED, NULL, "会话已过期，请重新登录",
			       "session expired; log in again");
	return 0;
}

int lockout_policy_get(struct db *db, int64_t tenant_id, struct lockout_policy *out,
		       struct err *e)
{
	int64_t minutes = 15;
	int rc = settings_get_int(db, tenant_id, "login.max_failures", &out->max_failures, e);
	if (!rc)
		rc = settings_get_int(db, tenant_id, "login.lock_minutes", &minutes, e);
	out->lock_ms = minutes * 60 * 1000;
	return rc;
}

static int load_roles(struct db *db, int64_t tenant_id, int64_t user_id, unsigned *roles,
		      struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT role FROM user_roles WHERE tenant_id = $1 AND user_id = $2", "ii",
			   tenant_id, user_id);
	if (rc)
		return rc;
	*roles = 0;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int r = role_from_code(db_column_text(st, 0));
		if (r >= 0)
			*roles |= 1u << r;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int session_lookup(struct db *db, const char *token, int64_t now,
		   const struct session_policy *pol, struct session_info *out, struct err *e)
{
	struct db_stmt *st = NULL;
	char h[65];
	int64_t created, expires, read_ns, epoch = 0;
	uint64_t gen;
	int rc;

	memset(out, 0, sizeof *out);
	if (strlen(token) > 128)
		goto unauth;
	token_hash(token, h);
	/* the generation and epoch before the read: a change committed meanwhile makes the
	 * entry stale */
	bool keep = db_generation(db, &generation, &gen);
	read_ns = mono_ns();
	if ((rc = db_query_i64(db, &epoch, e, "SELECT n FROM auth_epoch WHERE id = 1", NULL)))
		return rc;
	if (cache_get(h, epoch, out, &created, &expires))
		return check_times(out, created, expires, now, pol, e);
	rc = db_queryf(db, &st, e,
		       "SELECT s.id, s.tenant_id, s.user_id, s.kind, s.csrf_token, s.created_at, "
		       "s.last_seen_at, s.expires_at, s.revoked_at, u.login, u.display_name, "
		       "u.status, u.department_id, d.path, u.must_change_password, u.enterprise_id, "
		       "u.grid_id, g.path "
		       "FROM sessions s JOIN users u ON u.id = s.user_id "
		       "LEFT JOIN departments d ON d.id = u.department_id "
		       "LEFT JOIN grids g ON g.id = u.grid_id "
		       "WHERE s.token_hash = $1",
		       "t", h);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc < 0) {
		db_finalize(st);
		return rc;
	}
	if (rc != DB_ROW) {
		db_finalize(st);
		goto unauth;
	}
	struct actor *a = &out->actor;
	a->session_id = db_column_int64(st, 0);
	a->tenant_id = db_column_int64(st, 1);
	a->user_id = db_column_int64(st, 2);
	snprintf(out->kind, sizeof out->kind, "%s", db_column_text(st, 3));
	snprintf(out->csrf, sizeof out->csrf, "%s", db_column_text(st, 4));
	created = db_column_int64(st, 5);
	out->last_seen_at = db_column_int64(st, 6);
	expires = db_column_int64(st, 7);
	int64_t revoked = db_column_int64(st, 8);
	snprintf(a->login, sizeof a->login, "%s", db_column_text(st, 9));
	snprintf(a->display_name, sizeof a->display_name, "%s", db_column_text(st, 10));
	bool active = strcmp(db_column_text(st, 11), "active") == 0;
	a->department_id = db_column_is_null(st, 12) ? 0 : db_column_int64(st, 12);
	snprintf(a->dept_path, sizeof a->dept_path, "%s", db_column_text(st, 13));
	out->must_change_password = db_column_int64(st, 14) != 0;
	a->enterprise_id = db_column_is_null(st, 15) ? 0 : db_column_int64(st, 15);
	a->grid_id = db_column_is_null(st, 16) ? 0 : db_column_int64(st, 16);
	snprintf(a->grid_path, sizeof a->grid_path, "%s", db_column_text(st, 17));
	db_finalize(st);
	memcpy(out->token_hash, h, sizeof out->token_hash);

	if (revoked || !active)
		goto unauth;
	if ((rc = check_times(out, created, expires, now, pol, e)))
		return rc;
	if ((rc = load_roles(db, a->tenant_id, a->user_id, &a->roles, e)))
		return rc;
	if (keep)
		cache_put(h, out, created, expires, gen, epoch, read_ns);
	return 0;
unauth:
	return err_set(e, ERR_UNAUTHENTICATED, NULL, "登录凭据无效或已失效",
		       "invalid or revoked credentials");
}

int session_touch(struct db *db, int64_t session_id, int64_t now, struct err *e)
{
	return db_execf(db, e, "UPDATE sessions SET last_seen_at = $1 WHERE id = $2", "ii", now,
			session_id);
}

int session_revoke(struct db *db, const struct actor *who, int64_t session_id, struct err *e)
{
	int rc = session_changed(db, e);
	if (rc)
		return rc;
	rc = db_execf(db, e,
			  "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 "
			  "AND user_id = $4 AND revoked_at = 0",
			  "iiii", now_ms(), session_id, who->tenant_id, who->user_id);
	if (rc)
		return rc;
	if (db_changes(db) == 0)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该会话或令牌",
			       "no such session or token");
	json_t *sum = json_pack("{s:I}", "session_id", (json_int_t)session_id);
	rc = audit_append(db, who, who->tenant_id, "session", session_id, "revoke", sum, e);
	json_decref(sum);
	return rc;
}

int session_revoke_user(struct db *db, int64_t tenant_id, int64_t user_id, int64_t keep_session,
			int64_t now, struct err *e)
{
	int rc = session_changed(db, e);
	if (rc)
		return rc;
	return db_execf(db, e,
			"UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 "
			"AND revoked_at = 0 AND id <> $4",
			"iiii", now, tenant_id, user_id, keep_session);
}

int auth_login_prepare(struct db *db, struct login_attempt *a, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = lockout_policy_get(db, a->tenant_id, &a->policy, e);
	if (rc)
		return rc;
	a->user_id = 0;
	a->password_hash[0] = '\0';
	rc = db_queryf(db, &st, e,
		       "SELECT id, password_hash, status, locked_until FROM users "
		       "WHERE tenant_id = $1 AND login = $2",
		       "it", a->tenant_id, a->login);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		a->user_id = db_column_int64(st, 0);
		snprintf(a->password_hash, sizeof a->password_hash, "%s", db_column_text(st, 1));
		a->disabled = strcmp(db_column_text(st, 2), "active") != 0;
		a->locked_until = db_column_int64(st, 3);
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* A valid argon2id hash of a random password, verified against for unknown
 * users so that the reply time does not tell whether a login exists. */
static const char *dummy_hash(void)
{
	static char h[PASSWORD_HASH_MAX];
	static int done;
	if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		char pw[32];
		struct err e;
		random_token(pw, sizeof pw, 16);
		if (password_hash(pw, h, &e) == 0)
			__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	}
	return h;
}

void auth_login_verify(struct login_attempt *a)
{
	if (!a->user_id) {
		const char *h = dummy_hash();
		if (h[0])
			(void)password_verify(h, a->password);
		a->password_ok = false;
		return;
	}
	/* Verify even for locked and disabled accounts, so the time taken does
	 * not tell them apart from others. */
	a->password_ok = password_verify(a->password_hash, a->password) &&
			 a->locked_until <= a->now && !a->disabled;
}

int auth_login_record(struct db *db, void *arg, struct err *e)
{
	struct login_attempt *a = arg;
	int rc = 0;
	char h[65];

	a->session_id = 0;
	a->token[0] = a->csrf[0] = '\0';
	a->locked_until_after = 0;
	if (!a->user_id)
		a->outcome = "unknown_user";
	else if (a->disabled)
		a->outcome = "disabled";
	else if (a->locked_until > a->now)
		a->outcome = "locked";
	else if (!a->password_ok)
		a->outcome = "bad_password";
	else
		a->outcome = "ok";

	rc = db_execf(db, e,
		      "INSERT INTO login_attempts (tenant_id, login, user_id, ok, reason, ip, "
		      "user_agent, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		      "itiittti", a->tenant_id, a->login, a->user_id, (int64_t)(strcmp(a->outcome, "ok") == 0),
		      a->outcome, a->ip ? a->ip : "", a->user_agent ? a->user_agent : "", a->now);
	if (rc)
		return rc;

	if (strcmp(a->outcome, "bad_password") == 0) {
		/* Count the failure; lock when the threshold is reached. */
		/* A lock that has run out starts the count again: one more wrong
		 * password after it does not lock at once. (Every SET expression
		 * reads the row as it was before the UPDATE.) */
		rc = db_execf(db, e,
			      "UPDATE users SET "
			      "failed_logins = CASE WHEN locked_until > 0 AND locked_until <= $4 "
			      "THEN 1 ELSE failed_logins + 1 END, "
			      "locked_until = CASE WHEN (CASE WHEN locked_until > 0 AND locked_until <= $4 "
			      "THEN 1 ELSE failed_logins + 1 END) >= $1 THEN $2 "
			      "WHEN locked_until <= $4 THEN 0 ELSE locked_until END WHERE id = $3",
			      "iiii", a->policy.max_failures, a->now + a->policy.lock_ms, a->user_id,
			      a->now);
		if (rc)
			return rc;
		int64_t until = 0;
		rc = db_query_i64(db, &until, e, "SELECT locked_until FROM users WHERE id = $1", "i",
				  a->user_id);
		if (rc)
			return rc;
		if (until > a->now) {
			a->locked_until_after = until;
			json_t *sum = json_pack("{s:s,s:I}", "login", a->login, "locked_until",
						(json_int_t)until);
			struct actor sys = {.tenant_id = a->tenant_id};
			snprintf(sys.request_id, sizeof sys.request_id, "%s",
				 a->request_id ? a->request_id : "");
			rc = audit_append(db, &sys, a->tenant_id, "user", a->user_id, "lock", sum, e);
			json_decref(sum);
		}
		return rc;
	}
	if (strcmp(a->outcome, "ok") != 0)
		return 0;

	random_token(a->token, sizeof a->token, 32);
	random_token(a->csrf, sizeof a->csrf, 24);
	token_hash(a->token, h);
	a->expires_at = a->now + a->session_max_ms;
	struct db_stmt *st = NULL;
	rc = db_queryf(db, &st, e,
		       "INSERT INTO sessions (tenant_id, user_id, kind, token_hash, csrf_token, ip, "
		       "created_at, last_seen_at, expires_at) "
		       "VALUES ($1, $2, 'web', $3, $4, $5, $6, $6, $7) RETURNING id",
		       "iitttii", a->tenant_id, a->user_id, h, a->csrf, a->ip ? a->ip : "", a->now,
		       a->expires_at);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		a->session_id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	rc = db_execf(db, e,
		      "UPDATE users SET failed_logins = 0, locked_until = 0, last_login_at = $1 "
		      "WHERE id = $2",
		      "ii", a->now, a->user_id);
	if (rc)
		return rc;
	struct actor who = {.tenant_id = a->tenant_id, .user_id = a->user_id};
	snprintf(who.login, sizeof who.login, "%s", a->login);
	snprintf(who.request_id, sizeof who.request_id, "%s", a->request_id ? a->request_id : "");
	json_t *sum = json_pack("{s:s}", "ip", a->ip ? a->ip : "");
	rc = audit_append(db, &who, a->tenant_id, "session", a->session_id, "login", sum, e);
	json_decref(sum);
	return rc;
}

int token_create(struct db *db, void *arg, struct err *e)
{
	struct token_new *t = arg;
	char raw[TOKEN_CHARS - 4], h[65];
	struct db_stmt *st = NULL;
	int rc;

	random_token(raw, sizeof raw, 32);
	snprintf(t->token, sizeof t->token, API_TOKEN_PREFIX "%s", raw);
	token_hash(t->token, h);
	rc = db_queryf(db, &st, e,
		       "INSERT INTO sessions (tenant_id, user_id, kind, token_hash, name, created_at, "
		       "last_seen_at, expires_at) VALUES ($1, $2, 'api', $3, $4, $5, $5, $6) "
		       "RETURNING id",
		       "iittii", t->who->tenant_id, t->who->user_id, h, t->name, t->now,
		       t->expires_at);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		t->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	json_t *sum = json_pack("{s:s,s:I}", "name", t->name, "expires_at",
				(json_int_t)t->expires_at);
	rc = audit_append(db, t->who, t->who->tenant_id, "api_token", t->id, "create", sum, e);
	json_decref(sum);
	return rc;
}

int token_list(struct db *db, const struct actor *who,
	       int (*each)(const struct token_row *t, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, name, created_at, last_seen_at, expires_at, revoked_at "
			   "FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND kind = 'api' "
			   "ORDER BY id",
			   "ii", who->tenant_id, who->user_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct token_row t = {
			.id = db_column_int64(st, 0), .name = db_column_text(st, 1),
			.created_at = db_column_int64(st, 2), .last_used_at = db_column_int64(st, 3),
			.expires_at = db_column_int64(st, 4), .revoked_at = db_column_int64(st, 5),
		};
		if (each(&t, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int login_attempt_list(struct db *db, int64_t tenant_id, const char *login, int64_t before,
		       int64_t limit, int (*each)(const struct login_row *l, void *ctx), void *ctx,
		       struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, login, user_id, ok, reason, ip, user_agent, at FROM login_attempts "
			   "WHERE tenant_id = $1 AND ($2 = 0 OR id < $2) AND ($3 = '' OR login = $3) "
			   "ORDER BY id DESC LIMIT $4",
			   "iiti", tenant_id, before, login ? login : "", limit);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct login_row l = {
			.id = db_column_int64(st, 0), .login = db_column_text(st, 1),
			.user_id = db_column_int64(st, 2), .ok = db_column_int64(st, 3) != 0,
			.reason = db_column_text(st, 4), .ip = db_column_text(st, 5),
			.user_agent = db_column_text(st, 6), .at = db_column_int64(st, 7),
		};
		if (each(&l, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
