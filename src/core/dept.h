/*
 * dept.h — the department tree of a tenant.
 *
 * Departments form a tree (parent_id). Each row keeps its materialised path
 * of ids, '/1/5/12/', so "this department and below" is one prefix match.
 * Moving a department rewrites the paths of its whole subtree in the same
 * transaction; a move under its own subtree is refused.
 */
#ifndef YQ_DEPT_H
#define YQ_DEPT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

struct dept {
	int64_t id;
	int64_t parent_id;  /* 0 = top level */
	char code[64];
	char name[256];
	char path[256];
	int64_t sort;
	bool active;
	int64_t user_count; /* users in this department (not below) */
	int64_t created_at, updated_at;
};

/* Write-job argument for dept_create / dept_update. */
struct dept_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t id;            /* update: the department; create: out */
	/* create: code and name required; update: NULL = unchanged */
	const char *code;
	const char *name;
	bool set_parent;       /* update: change parent (create: parent_id always used) */
	int64_t parent_id;     /* 0 = top level */
	bool set_sort;
	int64_t sort;
	bool set_active;
	bool active;
	int64_t now;
};

/* Write job bodies (arg = struct dept_write *). Audited. */
int dept_create(struct db *db, void *arg, struct err *e);
int dept_update(struct db *db, void *arg, struct err *e);
/* Write job body (arg = struct dept_write *, uses who/tenant_id/id): delete a
 * department without children or users (ERR_CONFLICT otherwise). Audited. */
int dept_delete(struct db *db, void *arg, struct err *e);

int dept_get(struct db *db, int64_t tenant_id, int64_t id, struct dept *out, struct err *e);
/* The id of the department with this code; ERR_NOT_FOUND naming field "dept". */
int dept_id_by_code(struct db *db, int64_t tenant_id, const char *code, int64_t *id,
		    struct err *e);
/* Every department of the tenant in tree order (by path); stops when each() returns non-zero. */
int dept_list(struct db *db, int64_t tenant_id, int (*each)(const struct dept *d, void *ctx),
	      void *ctx, struct err *e);

#endif
