/*
 * backlog.h — the server's runner of the visit system's backlog: the
 * recomputation of every enterprise's visit state after a policy change and
 * the resolution of a campaign's targets, done in chunks (core/visit.h,
 * visit_backlog_step), one write job at a time, so that the district's other
 * writes go between two chunks instead of waiting seconds for one job.
 *
 * A thread: told by the writes that leave backlog (visit_backlog_set_notify)
 * it runs that tenant's steps, resting visits.recompute_pause_ms between two
 * (the setting is read again while it rests: lowering it ends the rest, and
 * so does new work), round-robin over the tenants that have some. At start, and every
 * minute, it also looks for backlog left by a stop or a crash (each chunk
 * commits with the cursor it moved, so it resumes after the last committed
 * one). It runs whether or not the digital employee (scheduler.h) does: the
 * visit state depends on it. Chunks are done as the digital employee
 * (jobs.h), which the audit rows of a finished pass name.
 */
#ifndef YQ_BACKLOG_H
#define YQ_BACKLOG_H

#include "base/err.h"

struct db_pool;
struct backlog;

/* Start the runner (it registers with the visit core at once). */
int backlog_start(struct db_pool *pool, struct backlog **out, struct err *e);
/* Stop it: the chunk in progress finishes (tens of milliseconds), the rest
 * waits for the next start. NULL: no-op. */
void backlog_stop(struct backlog *b);

#endif
