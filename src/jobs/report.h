/*
 * report.h — the daily summary of requests (诉求日报), one per Shanghai day.
 *
 * report_daily_build() computes the figures of a day from the requests
 * table on any connection (a reader: the writer only stores the result):
 *   {"day":"2025-09-22","from":<ms>,"to":<ms>,"generated_at":<ms>,
 *    "totals":{"received":n,"dispatched":n,"replied":n,"closed":n,"overdue":n},
 *    "by_department":[{"department_id":3,"department_name":"登记注册科",
 *                      "department_path":"/1/2/3/","dispatched":n,"replied":n,
 *                      "closed":n,"overdue":n}, ...],
 *    "audit_head":{"seq":n,"hash":"..."}}
 * received/dispatched/replied/closed count requests whose (latest) time of
 * that step falls on the day; overdue counts the requests open (dispatched,
 * signed, in progress) at generation whose handling deadline passed before
 * the end of the day. The audit chain head is published with the report, so
 * rows cut from the end of the chain are detectable later.
 */
#ifndef YQ_REPORT_H
#define YQ_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct db;

/* Build the report of a day (day number, Shanghai). *out is new (caller decrefs). */
int report_daily_build(struct db *db, int64_t tenant_id, int64_t day, int64_t now, json_t **out,
		       struct err *e);
/* Is the report of a day stored? */
int report_daily_exists(struct db *db, int64_t tenant_id, const char *day, bool *out,
			struct err *e);
/* The day ("YYYY-MM-DD") of the latest stored report into *out (caller frees);
 * ERR_NOT_FOUND (field "day") when there is none yet. */
int report_daily_latest(struct db *db, int64_t tenant_id, char **out, struct err *e);
/* The stored report of a day ("YYYY-MM-DD"): *out parsed JSON (caller decrefs);
 * ERR_NOT_FOUND (field "day") when there is none. */
int report_daily_get(struct db *db, int64_t tenant_id, const char *day, json_t **out,
		     struct err *e);

#endif
