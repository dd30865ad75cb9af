/*
 * tenant.h — districts (tenants). A deployment may serve many; every row of
 * every table carries its tenant id.
 */
#ifndef YQ_TENANT_H
#define YQ_TENANT_H

#include <stdint.h>

#include "base/err.h"

struct db;

struct tenant_new {
	const char *code;        /* 'erqi': 2-32 of [a-z0-9_-] */
	const char *name;        /* 二七区 */
	const char *region_code; /* GB/T 2260, 6 digits, may be "" */
	int64_t id;              /* out */
};

/* Write job body (arg = struct tenant_new *). ERR_CONFLICT if the code exists. */
int tenant_create(struct db *db, void *arg, struct err *e);
/* Tenant id by code; ERR_NOT_FOUND. An empty or NULL code picks the only tenant. */
int tenant_resolve(struct db *db, const char *code, int64_t *tenant_id, struct err *e);

/* Number of tenants (0 means the database was never initialised). */
int tenant_count(struct db *db, int64_t *n, struct err *e);

#endif
