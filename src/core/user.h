/*
 * user.h — user accounts, their roles, and passwords.
 *
 * Passwords: at least 8 characters with three of the four classes (lower,
 * upper, digit, other), hashed with argon2id (libsodium, interactive limits).
 * Hashing is slow on purpose: do it before submitting the write job, never
 * inside it (the writer thread serves everyone).
 */
#ifndef YQ_USER_H
#define YQ_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

#define PASSWORD_HASH_MAX 160

struct user {
	int64_t id;
	int64_t tenant_id;
	char login[64];
	char display_name[256];
	char phone[32];
	char email[128];
	int64_t department_id;
	int64_t enterprise_id; /* enterprise users: the enterprise they act for, 0 = none */
	char dept_name[256];
	char dept_path[256];
	char status[16];       /* active, disabled */
	unsigned roles;        /* bit (1u << enum role) */
	bool must_change_password;
	int64_t locked_until;
	int64_t last_login_at;
	int64_t created_at, updated_at;
};

/* Policy check; names field "password". login is refused as a password. */
int password_check_policy(const char *password, const char *login, struct err *e);
int password_hash(const char *password, char out[PASSWORD_HASH_MAX], struct err *e);
bool password_verify(const char *hash, const char *password);
/* A random one-time password that meets the policy (16 characters + NUL). */
void password_generate(char out[24]);

/* Validate the shape of a login name: 3-32 of [a-z0-9._-], starting with a letter or digit. */
int user_check_login(const char *login, struct err *e);

/* Write-job argument for user_create / user_update / user_set_password. */
struct user_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t id;              /* update: the user; create: out */
	const char *login;       /* create only */
	const char *display_name;/* NULL = unchanged on update */
	const char *phone;
	const char *email;
	bool set_department;
	int64_t department_id;   /* 0 = none */
	bool set_enterprise;
	int64_t enterprise_id;   /* 0 = none */
	bool set_roles;
	unsigned roles;
	const char *status;      /* "active" / "disabled" / NULL */
	bool unlock;             /* clear failed logins and lockout */
	const char *password_hash; /* create, set_password */
	bool must_change_password;
	int64_t keep_session;    /* set_password: session to keep (own change), 0 = revoke all */
	int64_t now;
};

int user_create(struct db *db, void *arg, struct err *e);
int user_update(struct db *db, void *arg, struct err *e);
int user_set_password(struct db *db, void *arg, struct err *e);

int user_get(struct db *db, int64_t tenant_id, int64_t id, struct user *out, struct err *e);
int user_get_by_login(struct db *db, int64_t tenant_id, const char *login, struct user *out,
		      struct err *e);

struct user_filter {
	const char *q;           /* substring of login or display name, NULL = any */
	int64_t department_id;   /* 0 = any */
	int role;                /* -1 = any */
	const char *status;      /* NULL = any */
	int64_t after;           /* keyset: id greater than */
	int64_t limit;
};
/* Users the actor may see under scope, ordered by id; each() returning non-zero stops. */
int user_list(struct db *db, const struct actor *who, enum scope scope,
	      const struct user_filter *f, int (*each)(const struct user *u, void *ctx),
	      void *ctx, struct err *e);

/* Roles bitmask → JSON-friendly iteration helper: fills codes[] and returns the count. */
int roles_to_codes(unsigned roles, const char **codes, int max);

#endif
