/*
 * jobs.h — the digital employee (RPA 政务数字员工): its identity and its
 * link into the request core.
 *
 * The scheduler (scheduler.h) writes as a system actor: user id 0, login
 * "digital-employee", request id "scheduler", so every act is in the audit
 * log and in the timeline as 数字员工. The request core calls
 * jobs_on_request_event() at the end of every step it writes, inside the
 * same write job, so that webhook deliveries of the step commit (or roll
 * back) with it.
 */
#ifndef YQ_JOBS_H
#define YQ_JOBS_H

#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"
#include "core/request.h"

struct db;

#define JOBS_LOGIN "digital-employee"
#define JOBS_NAME "数字员工"
#define JOBS_REQUEST_ID "scheduler"

/* Fill a with the system actor of a tenant (no roles, user id 0). */
void jobs_actor(struct actor *a, int64_t tenant_id);

/*
 * A request step was written (inside a write job): queue the webhook event
 * "request.<action>" ("request.submit" for a new request) for every active
 * webhook of the tenant that subscribes to it. r is the request after the
 * step, or NULL to read it (only done when some webhook wants the event);
 * from is the state before (RS__COUNT for a new request). Returns 0 or an
 * error code with e filled (then the caller's job rolls back).
 */
int jobs_on_request_event(struct db *db, int64_t tenant_id, int64_t request_id,
			  const struct request *r, const char *action, enum req_state from,
			  int64_t now, struct err *e);

#endif
