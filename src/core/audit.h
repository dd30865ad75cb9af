/*
 * audit.h — the tamper-evident audit log.
 *
 * Every write appends a row inside the same transaction as the change: who,
 * when, tenant, entity, id, action and a JSON summary of the change. Rows of
 * a tenant form a chain: seq increases by one with no gap, and
 *   hash = SHA-256(prev_hash "|" tenant "|" seq "|" at "|" actor_id "|"
 *                  actor_login "|" entity "|" entity_id "|" action "|" summary "|" request_id)
 * with prev_hash of the first row being 64 zeros. Changing a row breaks its
 * hash; removing one leaves a gap in seq; both are named by audit_verify().
 */
#ifndef YQ_AUDIT_H
#define YQ_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

/*
 * Append one row. summary may be NULL ("{}"); it is serialised with sorted
 * keys so the same change always hashes the same. Call inside a write job.
 */
int audit_append(struct db *db, const struct actor *who, int64_t tenant_id, const char *entity,
		 int64_t entity_id, const char *action, json_t *summary, struct err *e);
/* The same with the summary already serialised (compact, keys sorted at every level, as
 * audit_append writes it); NULL is "{}". */
int audit_append_text(struct db *db, const struct actor *who, int64_t tenant_id,
		      const char *entity, int64_t entity_id, const char *action, const char *summary,
		      struct err *e);

struct audit_problem {
	int64_t tenant_id;
	int64_t seq;       /* first row that is wrong or missing */
	char what[160];    /* "hash mismatch (row changed)", "row missing (gap)", "prev_hash does not match" */
};

/*
 * Check the chain of one tenant (tenant_id > 0) or of every tenant (0).
 * *rows gets the number of rows checked.
 * Returns 0 and *bad=0 when intact; 0 and *bad=1 with *p filled at the
 * first problem; negative on database errors.
 */
int audit_verify(struct db *db, int64_t tenant_id, int64_t *rows, int *bad,
		 struct audit_problem *p, struct err *e);

struct audit_row {
	int64_t seq, at, actor_id, entity_id;
	const char *actor_login, *entity, *action, *summary, *request_id, *hash; /* borrowed */
};

struct audit_filter {
	const char *entity;  /* NULL = any */
	int64_t entity_id;   /* 0 = any */
	int64_t actor_id;    /* 0 = any */
	int64_t before;      /* keyset: seq less than (newest first); 0 = from the newest */
	int64_t limit;
};

/* Rows of a tenant, newest first; each() returning non-zero stops. */
int audit_list(struct db *db, int64_t tenant_id, const struct audit_filter *f,
	       int (*each)(const struct audit_row *row, void *ctx), void *ctx, struct err *e);

#endif
