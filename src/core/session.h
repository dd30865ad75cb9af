/*
 * session.h — logins, browser sessions and API tokens.
 *
 * Tokens are 32 random bytes (base64url); only their SHA-256 is stored.
 * Browser sessions ('web') end after an idle period or an absolute lifetime;
 * API tokens ('api', prefixed "yq_") end at their own expiry or when revoked.
 * Logins go in three steps so that the slow password hash never runs on the
 * database writer thread: auth_login_prepare() reads the user (reader
 * connection), auth_login_verify() checks the password (no database), and the
 * write job auth_login_record() logs the attempt, counts failures and locks
 * the account, or creates the session.
 */
#ifndef YQ_SESSION_H
#define YQ_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

#define SESSION_COOKIE "yq_session"
#define SESSION_TOUCH_MS 60000 /* last_seen_at is refreshed at most this often */
#define TOKEN_CHARS 64         /* buffer size for a token */

struct session_policy {
	int64_t idle_ms; /* web sessions: end after this long without a request */
	int64_t max_ms;  /* web sessions: end this long after login */
};

struct session_info {
	struct actor actor;
	char kind[8];      /* "web" or "api" */
	char csrf[64];
	int64_t last_seen_at;
	bool must_change_password; /* one-time password not yet changed */
	char token_hash[65];       /* the token's SHA-256 (hex): the session's key */
};

/*
 * Resolve a token. ERR_UNAUTHENTICATED for unknown, expired, revoked, or a
 * disabled user. Answers from an in-process cache when it can (see
 * session.c): whatever changes what this returns must call session_changed()
 * in the same write job — logout and revocation, a user's roles, status,
 * department, grid, display name, password or enterprise, a department's or
 * grid's path. Edits of those tables that bypass it are seen within two
 * seconds.
 */
int session_lookup(struct db *db, const char *token, int64_t now,
		   const struct session_policy *pol, struct session_info *out, struct err *e);
/* Inside a write job that changes what session_lookup returns: no cached answer is used
 * once the job has committed, in this process or any other. Returns 0 or a db error. */
int session_changed(struct db *db, struct err *e);
/* The caller has refreshed the session's last_seen_at (session_touch): keep the cache's idle
 * clock with it. */
void session_seen(const struct session_info *si, int64_t now);
/* Forget every cached answer (tests). */
void session_cache_clear(void);
/* Write job body: refresh last_seen_at. */
int session_touch(struct db *db, int64_t session_id, int64_t now, struct err *e);
/* Write job body: revoke one session (logout) or token. Only the owner's (user_id). */
int session_revoke(struct db *db, const struct actor *who, int64_t session_id, struct err *e);
/* Write job body: revoke every session and token of a user (password change, disable). */
int session_revoke_user(struct db *db, int64_t tenant_id, int64_t user_id, int64_t keep_session,
			int64_t now, struct err *e);

/* Lockout settings of a tenant (settings table; defaults 5 failures, 15 minutes). */
struct lockout_policy {
	int64_t max_failures;
	int64_t lock_ms;
};
int lockout_policy_get(struct db *db, int64_t tenant_id, struct lockout_policy *out,
		       struct err *e);

struct login_attempt {
	/* input */
	int64_t tenant_id;
	const char *login;
	const char *password;
	const char *ip;
	const char *user_agent;
	const char *request_id; /* for the audit rows the attempt writes; NULL = none */
	int64_t now;
	int64_t session_max_ms;
	/* filled by prepare */
	int64_t user_id;       /* 0 if unknown */
	char password_hash[160];
	bool disabled;
	int64_t locked_until;
	struct lockout_policy policy;
	/* filled by verify */
	bool password_ok;
	/* filled by record */
	const char *outcome;   /* "ok", "bad_password", "unknown_user", "locked", "disabled" */
	int64_t session_id;
	char token[TOKEN_CHARS];
	char csrf[64];
	int64_t expires_at;
	int64_t locked_until_after; /* when the account is locked now, until when */
};

int auth_login_prepare(struct db *db, struct login_attempt *a, struct err *e);
void auth_login_verify(struct login_attempt *a);
/* Write job body (arg = struct login_attempt *). Always commits; read a->outcome. */
int auth_login_record(struct db *db, void *arg, struct err *e);


struct token_new {
	const struct actor *who;
	const char *name;      /* label, e.g. "bank integration" */
	int64_t expires_at;    /* 0 = never */
	int64_t now;
	int64_t id;            /* out */
	char token[TOKEN_CHARS]; /* out: shown once */
};
/* Write job body (arg = struct token_new *). */
int token_create(struct db *db, void *arg, struct err *e);

struct token_row {
	int64_t id, created_at, last_used_at, expires_at, revoked_at;
	const char *name; /* borrowed */
};
/* The actor's own API tokens (never their secrets), oldest first. */
int token_list(struct db *db, const struct actor *who,
	       int (*each)(const struct token_row *t, void *ctx), void *ctx, struct err *e);

struct login_row {
	int64_t id, user_id, at;
	bool ok;
	const char *login, *reason, *ip, *user_agent; /* borrowed */
};
/* Login attempts of a tenant, newest first; login NULL = any; before = keyset (id <). */
int login_attempt_list(struct db *db, int64_t tenant_id, const char *login, int64_t before,
		       int64_t limit, int (*each)(const struct login_row *l, void *ctx), void *ctx,
		       struct err *e);

#endif
