/*
 * enterprise.h — the registry of market entities (市场主体库).
 *
 * An enterprise is keyed by its unified social credit code within a tenant.
 * Every change of registration data bumps `version` and appends a row to
 * enterprise_versions with the changed fields and a snapshot (变更记录), in
 * the same transaction, together with an audit row. Names are searched by
 * substring through a trigram index (SQLite FTS5; pg_trgm on PostgreSQL).
 * Contact data (phone, legal representative) is personal: callers without
 * enterprise.pii get it masked (enterprise_mask()).
 */
#ifndef YQ_ENTERPRISE_H
#define YQ_ENTERPRISE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

struct enterprise {
	int64_t id;
	int64_t tenant_id;
	char credit_code[19];
	bool credit_code_ok;      /* false: admitted despite a failed check */
	char name[404];           /* up to 100 characters (4 bytes each at most) */
	char kind[16];            /* enterprise, individual, cooperative */
	char legal_rep[132];      /* up to 32 characters */
	char phone[32];
	char address[516];        /* up to 128 characters */
	bool has_location;
	double lat, lon;          /* WGS-84, valid when has_location */
	char industry_section[4]; /* GB/T 4754 门类 "A".."T", "" unknown */
	char industry_division[4];/* 大类 "01".."97", "" unknown */
	char size_class[8];       /* large, medium, small, micro, "" unknown */
	char registered_on[11];   /* YYYY-MM-DD, "" unknown */
	char status[16];          /* active, moved_out, deregistered, revoked */
	bool is_key;
	char tags[512];           /* "tag1,tag2" (normalised: trimmed, unique, in input order) */
	int64_t grid_id;          /* 0 = not placed */
	char grid_path[128];      /* '/1/4/9/' of grid_id, "" if not placed */
	int64_t version;
	int64_t created_at, updated_at;
};

/*
 * Input of create, update and upsert. On update, NULL strings and unset
 * flags leave a field unchanged; "" clears an optional text field.
 */
struct enterprise_input {
	const char *credit_code;   /* create/upsert: required; update: may change it (admin) */
	const char *name;          /* create: required */
	const char *kind;          /* default: from the code (9 1/2/3), else enterprise */
	const char *legal_rep;
	const char *phone;
	const char *address;
	const char *industry_section;
	const char *industry_division;
	const char *size_class;
	const char *registered_on;
	const char *status;
	const char *tags;          /* comma-separated (also ， and ;), at most 10 tags of 16 characters */
	bool set_location;         /* lat/lon given */
	bool clear_location;       /* set to unknown */
	double lat, lon;
	bool set_key;
	bool is_key;
	bool override_check;       /* admit a credit code whose check fails (enterprise.write) */
};

/* Field-level validation without the database (names the field in e). */
int enterprise_validate(const struct enterprise_input *in, bool create, struct err *e);

enum enterprise_outcome {
	ENTERPRISE_CREATED = 1,
	ENTERPRISE_UPDATED,
	ENTERPRISE_UNCHANGED,
};

/* Write-job argument for enterprise_create / _update / _upsert. */
struct enterprise_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t id;                   /* update: the enterprise; create/upsert: out */
	struct enterprise_input in;
	const char *source;           /* "api", "import", "self", "demo": kept in the version row */
	bool contact_only;            /* self-service: only phone, legal_rep, address may change */
	int64_t now;
	enum enterprise_outcome outcome; /* out */
	bool credit_warning;          /* out: the code failed its check and was admitted */
};

/* Write job bodies (arg = struct enterprise_write *). Duplicate code: ERR_CONFLICT "credit_code". */
int enterprise_create(struct db *db, void *arg, struct err *e);
/*
 * Bulk loading (a generated market, `yiqiban gen`): records validated and
 * normalised as enterprise_create does, with their tag index, but no
 * version rows and no audit rows, written by multi-row INSERTs (db_bulk)
 * with ids the loader assigns — it must be the only writer of enterprises
 * while it runs, and the table must not hold the credit codes it loads. The
 * indexes of enterprises and their tags, and the name search index, are set
 * aside while it loads and built again by enterprise_loader_close. Flush before every COMMIT; close in
 * the last transaction.
 */
struct enterprise_loader;
/* Inside a transaction. */
int enterprise_loader_open(struct db *db, struct enterprise_loader **out, struct err *e);
/* Queue w->in (w->tenant_id, w->now); w->id gets the id. ERR_CONFLICT for a credit code
 * this loader has seen; checkin_secret and grid_id (0: not placed) are the caller's. */
int enterprise_loader_add(struct enterprise_loader *l, struct enterprise_write *w,
			  const char *checkin_secret, int64_t grid_id, struct err *e);
int enterprise_loader_flush(struct enterprise_loader *l, struct err *e);
/* A loader that writes nothing: it checks and numbers, from first_id, what it is given as
 * enterprise_loader_add would (the same refusals, the same ids) — to know the ids of a
 * load before its rows are written. Free with enterprise_loader_free. */
struct enterprise_loader *enterprise_loader_plan(int64_t first_id);
int enterprise_loader_check(struct enterprise_loader *l, struct enterprise_write *w,
			    struct err *e);
/* Flush, build the indexes again (inside a transaction) and free. */
int enterprise_loader_close(struct enterprise_loader *l, struct err *e);
/* Free after a failure: what was not flushed is dropped, the indexes are not built again
 * (the load is to be thrown away). NULL is a no-op. */
void enterprise_loader_free(struct enterprise_loader *l);
int enterprise_update(struct db *db, void *arg, struct err *e);
/* Create, or update the enterprise with the same credit code; unchanged data writes nothing. */
int enterprise_upsert(struct db *db, void *arg, struct err *e);

int enterprise_get(struct db *db, int64_t tenant_id, int64_t id, struct enterprise *out,
		   struct err *e);
int enterprise_get_by_code(struct db *db, int64_t tenant_id, const char *credit_code,
			   struct enterprise *out, struct err *e);

enum enterprise_sort { ENTERPRISE_SORT_ID, ENTERPRISE_SORT_NAME, ENTERPRISE_SORT_REGISTERED };

struct enterprise_filter {
	const char *q;             /* name substring (any length; 3+ characters use the index) */
	const char *credit_code;   /* exact, or a prefix of at least 2 characters */
	const char *status;
	const char *industry_section;
	const char *industry_division;
	const char *size_class;
	const char *tag;
	int is_key;                /* -1 any, 0, 1 */
	int64_t grid_id;           /* 0 any */
	int64_t served_by;         /* 0 any; else enterprises whose service team has this user */
	enum enterprise_sort sort;
	const char *after;         /* keyset cursor from the previous page (enterprise_cursor) */
	int64_t limit;             /* 1..1000 */
};

/*
 * Enterprises the actor may see under scope, in filter order. each()
 * returning non-zero stops. A malformed cursor is ERR_BAD_REQUEST "after".
 */
int enterprise_list(struct db *db, const struct actor *who, enum scope scope,
		    const struct enterprise_filter *f,
		    int (*each)(const struct enterprise *en, void *ctx), void *ctx, struct err *e);
#define ENTERPRISE_CURSOR_MAX 512
/* The cursor that continues after en in sort order. */
void enterprise_cursor(const struct enterprise *en, enum enterprise_sort sort,
		       char out[ENTERPRISE_CURSOR_MAX]);
/* Count what enterprise_list would return without paging. */
int enterprise_count(struct db *db, const struct actor *who, enum scope scope,
		     const struct enterprise_filter *f, int64_t *n, struct err *e);

struct enterprise_version {
	int64_t version, changed_at, actor_id;
	const char *actor_login, *source, *changes, *snapshot; /* borrowed; JSON text */
};
/* The history of one enterprise, newest first. */
int enterprise_history(struct db *db, int64_t tenant_id, int64_t id,
		       int (*each)(const struct enterprise_version *v, void *ctx), void *ctx,
		       struct err *e);

/* JSON of an enterprise; masked hides phone and the legal representative's name. */
json_t *enterprise_json(const struct enterprise *en, bool masked);
/* Labels: "有限责任公司"-style names of kinds, sizes, statuses, in Chinese. */
const char *enterprise_status_zh(const char *status);
const char *enterprise_size_zh(const char *size);
const char *enterprise_kind_zh(const char *kind);
/* GB/T 4754-2017 section names: "C" -> "制造业"; NULL if unknown. */
const char *industry_section_zh(const char *section);
/* Is division dd valid, and does it belong to section s? */
bool industry_division_valid(const char *section, const char *division);

#endif
