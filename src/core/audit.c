/*
 * audit.c — the hash-chained audit log (see audit.h for the chain rule).
 *
 * The chain head is read from the table itself inside the writing
 * transaction, so a job rolled back to its savepoint takes its audit row
 * with it and the next job chains to the right predecessor; no state is
 * kept in memory.
 */
#include "core/audit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "db/db.h"
#include "base/banned.h"

static const char zero_hash[] =
	"0000000000000000000000000000000000000000000000000000000000000000";

static void row_hash(const char *prev, int64_t tenant, int64_t seq, int64_t at, int64_t actor_id,
		     const char *actor_login, const char *entity, int64_t entity_id,
		     const char *action, const char *summary, const char *request_id, char out[65])
{
	struct buf b;
	buf_init(&b, 0);
	buf_addf(&b, "%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|", prev, tenant, seq, at,
		 actor_id);
	buf_adds(&b, actor_login);
	buf_addf(&b, "|%s|%" PRId64 "|%s|", entity, entity_id, action);
	buf_adds(&b, summary);
	buf_addc(&b, '|');
	buf_adds(&b, request_id);
	sha256_hex(b.p, b.len, out);
	buf_release(&b);
}

int audit_append(struct db *db, const struct actor *who, int64_t tenant_id, const char *entity,
		 int64_t entity_id, const char *action, json_t *summary, struct err *e)
{
	char *sum = summary ? json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = audit_append_text(db, who, tenant_id, entity, entity_id, action, sum, e);
	free(sum);
	return rc;
}

int audit_append_text(struct db *db, const struct actor *who, int64_t tenant_id,
		      const char *entity, int64_t entity_id, const char *action, const char *summary,
		      struct err *e)
{
	struct db_stmt *st = NULL;
	int64_t seq = 1, at = now_ms();
	char prev[65], hash[65];
	int rc;

	snprintf(prev, sizeof prev, "%s", zero_hash);
	rc = db_queryf(db, &st, e,
		       "SELECT seq, hash FROM audit_log WHERE tenant_id = $1 "
		       "ORDER BY seq DESC LIMIT 1",
		       "i", tenant_id);
	if (rc)
		goto out;
	rc = db_step(st, e);
	if (rc < 0)
		goto out;
	if (rc == DB_ROW) {
		seq = db_column_int64(st, 0) + 1;
		snprintf(prev, sizeof prev, "%s", db_column_text(st, 1));
	}
	db_finalize(st);
	st = NULL;

	const char *s = summary ? summary : "{}";
	int64_t actor_id = who ? who->user_id : 0;
	const char *login = who ? who->login : "";
	const char *reqid = who ? who->request_id : "";
	row_hash(prev, tenant_id, seq, at, actor_id, login, entity, entity_id, action, s, reqid,
		 hash);
	rc = db_execf(db, e,
		      "INSERT INTO audit_log (tenant_id, seq, at, actor_id, actor_login, entity, "
		      "entity_id, action, summary, request_id, prev_hash, hash) "
		      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		      "iiiittittttt", tenant_id, seq, at, actor_id, login, entity, entity_id,
		      action, s, reqid, prev, hash);
out:
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int audit_verify(struct db *db, int64_t tenant_id, int64_t *rows, int *bad,
		 struct audit_problem *p, struct err *e)
{
	struct db_stmt *st = NULL;
	int64_t tenant = -1, expect = 1, count = 0;
	char prev[65];
	int rc;

	*bad = 0;
	memset(p, 0, sizeof *p);
	rc = db_queryf(db, &st, e,
		       "SELECT tenant_id, seq, at, actor_id, actor_login, entity, entity_id, action, "
		       "summary, request_id, prev_hash, hash FROM audit_log "
		       "WHERE ($1 = 0 OR tenant_id = $1) ORDER BY tenant_id, seq",
		       "i", tenant_id);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int64_t t = db_column_int64(st, 0), seq = db_column_int64(st, 1);
		char h[65];
		count++;
		if (t != tenant) {
			tenant = t;
			expect = 1;
			snprintf(prev, sizeof prev, "%s", zero_hash);
		}
		p->tenant_id = t;
		if (seq != expect) {
			p->seq = expect;
			snprintf(p->what, sizeof p->what,
				 "row missing: expected seq %" PRId64 ", found %" PRId64, expect, seq);
			*bad = 1;
			break;
		}
		if (strcmp(db_column_text(st, 10), prev) != 0) {
			p->seq = seq;
			snprintf(p->what, sizeof p->what,
				 "prev_hash does not match the hash of the row before");
			*bad = 1;
			break;
		}
		row_hash(prev, t, seq, db_column_int64(st, 2), db_column_int64(st, 3),
			 db_column_text(st, 4), db_column_text(st, 5), db_column_int64(st, 6),
			 db_column_text(st, 7), db_column_text(st, 8), db_column_text(st, 9), h);
		if (strcmp(h, db_column_text(st, 11)) != 0) {
			p->seq = seq;
			snprintf(p->what, sizeof p->what, "hash mismatch: the row was changed");
			*bad = 1;
			break;
		}
		snprintf(prev, sizeof prev, "%s", h);
		expect++;
	}
	if (rc > 0 || rc == DB_DONE)
		rc = 0;
out:
	db_finalize(st);
	*rows = count;
	return rc;
}

int audit_list(struct db *db, int64_t tenant_id, const struct audit_filter *f,
	       int (*each)(const struct audit_row *row, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT seq, at, actor_id, actor_login, entity, entity_id, action, summary, "
			   "request_id, hash FROM audit_log WHERE tenant_id = $1 "
			   "AND ($2 = 0 OR seq < $2) AND ($3 = '' OR entity = $3) "
			   "AND ($4 = 0 OR entity_id = $4) AND ($5 = 0 OR actor_id = $5) "
			   "ORDER BY seq DESC LIMIT $6",
			   "iitiii", tenant_id, f->before, f->entity ? f->entity : "", f->entity_id,
			   f->actor_id, f->limit);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct audit_row row = {
			.seq = db_column_int64(st, 0), .at = db_column_int64(st, 1),
			.actor_id = db_column_int64(st, 2), .actor_login = db_column_text(st, 3),
			.entity = db_column_text(st, 4), .entity_id = db_column_int64(st, 5),
			.action = db_column_text(st, 6), .summary = db_column_text(st, 7),
			.request_id = db_column_text(st, 8), .hash = db_column_text(st, 9),
		};
		if (each(&row, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
