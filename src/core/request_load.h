/*
 * request_load.h — writing generated (or migrated) requests fast: the rows
 * exactly as given, by multi-row INSERT statements prepared once and bound
 * in place from the caller's structs (no copy of the values, no SQL text per
 * row). For `yiqiban gen` (cli/cmd_gen.c).
 *
 * The parts can go to different connections (threads): the request rows
 * (RL_ROWS), the timeline — events and applications — (RL_TIMELINE), and the
 * request's share of the rate counters and analysis counts (RL_COUNTERS,
 * through request_stats_apply: the tables request_stats, request_stats_month,
 * request_stats_open and grid_stats); or all to one. The caller assigns
 * the ids (r->id > 0, growing) and makes each request consistent (a row the
 * state machine could have produced): nothing is validated, no audit row or
 * webhook is written. The counters are deferred on a connection that defers
 * (db_defer_enable) and summed per key.
 *
 * The texts are bound by reference: what was added must stay valid until
 * request_load_flush, which writes every row still pending.
 */
#ifndef YQ_REQUEST_LOAD_H
#define YQ_REQUEST_LOAD_H

#include <stddef.h>

#include "base/err.h"
#include "core/request.h"

struct db;

enum { RL_ROWS = 1, RL_TIMELINE = 2, RL_COUNTERS = 4 };

struct request_load;
/* parts: RL_ROWS, RL_TIMELINE, RL_COUNTERS or'ed together. Inside a transaction on db. */
int request_load_open(struct db *db, int parts, struct request_load **out, struct err *e);
/* Queue r (its id given) with its events (oldest first) and applications. */
int request_load_add(struct request_load *l, const struct request *r,
		     const struct request_event *ev, size_t nev,
		     const struct request_application *apps, size_t napps, struct err *e);
/* Write everything pending: before the texts go, and before a COMMIT. */
int request_load_flush(struct request_load *l, struct err *e);
/* Rows written so far (requests, events, applications). */
void request_load_counts(const struct request_load *l, int64_t *requests, int64_t *events,
			 int64_t *apps);
/* NULL is a no-op; pending rows are dropped. */
void request_load_free(struct request_load *l);

#endif
