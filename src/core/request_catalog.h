/*
 * request_catalog.h — request categories (a tree, each with its usual
 * handling department) and the time-limit policies per category and type.
 */
#ifndef YQ_REQUEST_CATALOG_H
#define YQ_REQUEST_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

struct category {
	int64_t id, parent_id, department_id;
	char code[64];
	char name[256];
	char path[256];
	char department_name[260];
	char open311_code[64];
	bool active;
	int64_t sort;
};

/* Write-job argument of category_create / category_update. */
struct category_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t id;                /* update; create: out */
	const char *code;          /* create: required, 1-32 of [A-Za-z0-9_.-] */
	const char *name;          /* create: required, 1-50 characters */
	bool set_parent;
	int64_t parent_id;         /* 0 = top */
	bool set_department;
	int64_t department_id;     /* 0 = none */
	const char *open311_code;  /* "" = not published */
	bool set_active, active;
	bool set_sort;
	int64_t sort;
	int64_t now;
};
int category_create(struct db *db, void *arg, struct err *e);
int category_update(struct db *db, void *arg, struct err *e);
int category_get(struct db *db, int64_t tenant_id, int64_t id, struct category *out,
		 struct err *e);
/* Every category of the tenant in tree order. */
int category_list(struct db *db, int64_t tenant_id,
		  int (*each)(const struct category *c, void *ctx), void *ctx, struct err *e);

struct policy {
	int64_t id, category_id;
	char req_type[16];
	int sign_minutes, handle_days, visit_days;
	int64_t updated_at;
};

/* Write-job argument of policy_put (insert or replace the policy of a key). */
struct policy_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t category_id;       /* 0 = any */
	const char *req_type;      /* NULL or "" = any */
	int sign_minutes;          /* 30 .. 7200 */
	int handle_days;           /* 1 .. 120 */
	int visit_days;            /* 1 .. 30 */
	bool remove;               /* delete the policy of this key instead */
	int64_t now;
};
int policy_put(struct db *db, void *arg, struct err *e);
int policy_list(struct db *db, int64_t tenant_id, int (*each)(const struct policy *p, void *ctx),
		void *ctx, struct err *e);

#endif
