/*
 * scheduler.h — the digital employee (RPA 政务数字员工): routine work done
 * on time by the server itself.
 *
 * Every tick, for every tenant, on the tenant's working-day calendar:
 *  - remind_handle: an open request (dispatched, signed, in progress) whose
 *    elapsed working time reached "reminder.fraction_percent" (default 80)
 *    of its handling limit: the handler is notified (or, before signing, the
 *    handlers of the department);
 *  - escalate_1: an open request past its handling deadline: the department
 *    heads of its department (the nearest department up the tree that has
 *    any; the leaders if none) are notified and the request is supervised at
 *    level 1 (督办, request_act RA_SUPERVISE as the system);
 *  - escalate_2: still open "escalation.leader_after_days" (default 1)
 *    working days after escalate_1 (counted like every limit: the day of
 *    escalate_1 does not count, the time is up at the end of the Nth working
 *    day): the leaders are notified, supervision level 2;
 *  - visit_due: a replied request: the dispatchers are notified that the
 *    return visit / rating is due;
 *  - auto_close: a replied request without a rating after the visit deadline
 *    (or "visit.auto_close_days" working days after the reply, when set) is
 *    closed as unrated (RA_AUTO_CLOSE);
 *  - daily_report: once per Shanghai day, the summary of the day before
 *    (report.h) is stored and the leaders are notified.
 * Paused requests are skipped: their clock stands still.
 *
 * Each act is one write job (nested in a job per batch, so a failing act is
 * rolled back alone) that re-checks the request, inserts its job_marks row
 * (tenant, request, kind, round = start of the watched clock) and does the
 * act, with the system actor (jobs.h): the mark commits with the act, so no
 * act is ever done twice, across restarts too, and a reopened or re-
 * dispatched request is watched again on its new clock. Every act is
 * audited and queued to subscribed webhooks ("notice.<kind>").
 *
 * The server runs two threads: the ticker (every interval seconds; the
 * first tick completes before scheduler_start returns) and the webhook
 * sender (webhook_send_due about once a second).
 */
#ifndef YQ_SCHEDULER_H
#define YQ_SCHEDULER_H

#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct db_pool;

enum scheduler_act {
	SCHED_REMIND,
	SCHED_ESCALATE_1,
	SCHED_ESCALATE_2,
	SCHED_VISIT_DUE,
	SCHED_AUTO_CLOSE,
	SCHED_DAILY_REPORT,
	SCHED__COUNT
};

/* "remind_handle", "escalate_1", "escalate_2", "visit_due", "auto_close", "daily_report" */
const char *scheduler_act_name(enum scheduler_act a);

struct scheduler_counts {
	uint64_t acts[SCHED__COUNT]; /* acts done (committed) */
	uint64_t failed;             /* acts whose job failed (rolled back, retried next tick) */
	uint64_t ticks;
	uint64_t sent, delivered, retrying, gave_up; /* webhook attempts and outcomes */
};

/*
 * One tick at `now` (UTC ms) over every tenant; done (may be NULL) gets
 * what this tick did (added to, not reset). Also adds to the process totals.
 * Returns 0, or the first error (the other tenants are still processed).
 */
int scheduler_tick(struct db_pool *pool, int64_t now, struct scheduler_counts *done,
		   struct err *e);

struct scheduler;

/* Start the ticker (interval_s >= 1) and the webhook sender. */
int scheduler_start(struct db_pool *pool, int interval_s, struct scheduler **out, struct err *e);
/* Stop both threads (waits for a send in progress, at most the webhook timeout). NULL: no-op. */
void scheduler_stop(struct scheduler *s);

/* Process-wide totals since start. */
void scheduler_totals(struct scheduler_counts *out);
/* Prometheus lines of the totals (yiqiban_scheduler_acts_total{act}, ...). */
void scheduler_metrics_render(struct buf *out);

#endif
