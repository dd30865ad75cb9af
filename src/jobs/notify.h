/*
 * notify.h — the in-app inbox (站内通知): one row per recipient.
 *
 * The digital employee adds notifications inside the write job of the act
 * that causes them (notify_add, not audited on its own: the act's audit row
 * names the recipients). A user reads only their own inbox; marking read is
 * a write job and audited.
 */
#ifndef YQ_NOTIFY_H
#define YQ_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

#define NOTIFY_TITLE_MAX 256
#define NOTIFY_BODY_MAX 1024

struct notification {
	int64_t id;
	int64_t user_id;
	char kind[32];                 /* remind_handle, escalate_1, escalate_2, visit_due, daily_report */
	char title[NOTIFY_TITLE_MAX];
	char body[NOTIFY_BODY_MAX];
	int64_t request_id;            /* 0 = none */
	int64_t created_at;
	int64_t read_at;               /* 0 = unread */
};

/* Inside a write job: add one notification; *id (may be NULL) gets its id. */
int notify_add(struct db *db, int64_t tenant_id, int64_t user_id, const char *kind,
	       const char *title, const char *body, int64_t request_id, int64_t now, int64_t *id,
	       struct err *e);

struct notify_filter {
	bool unread;   /* only unread ones */
	int64_t after; /* keyset, newest first: id < after; 0 = from the newest */
	int64_t limit; /* 1..200 */
};

/* A user's notifications, newest first; each() returning non-zero stops. */
int notify_list(struct db *db, int64_t tenant_id, int64_t user_id, const struct notify_filter *f,
		int (*each)(const struct notification *n, void *ctx), void *ctx, struct err *e);
int notify_unread_count(struct db *db, int64_t tenant_id, int64_t user_id, int64_t *out,
			struct err *e);
/* One of the user's notifications; ERR_NOT_FOUND (field "id") for anyone else's. */
int notify_get(struct db *db, int64_t tenant_id, int64_t user_id, int64_t id,
	       struct notification *out, struct err *e);

/* Write-job argument of notify_mark_read. */
struct notify_read {
	const struct actor *who;  /* the owner of the inbox */
	int64_t id;               /* 0 = every unread notification (up to up_to) */
	int64_t up_to;            /* with id 0: only notifications with id <= up_to; 0 = all */
	int64_t now;
	int64_t changed;          /* out: notifications marked now (already read ones are kept) */
};
/* Write job: mark one (ERR_NOT_FOUND if not the actor's) or all as read. Audited when
 * something changed. */
int notify_mark_read(struct db *db, void *arg, struct err *e);

#endif
