/*
 * api.h — the route tables of the API files, each terminated by a zero entry.
 * An API file turns HTTP into calls of src/core (no SQL, no business rules).
 */
#ifndef YQ_API_H
#define YQ_API_H

#include <jansson.h>

#include "http/http.h"

extern const struct route api_system_routes[];
extern const struct route api_auth_routes[];
extern const struct route api_user_routes[];
extern const struct route api_dept_routes[];
extern const struct route api_audit_routes[];
extern const struct route api_team_routes[], api_ledger_routes[];
extern const struct route api_enterprise_routes[];
extern const struct route api_import_routes[];
extern const struct route api_calendar_routes[];
extern const struct route api_ecode_routes[];
extern const struct route api_request_routes[];
extern const struct route api_open311_routes[];
extern const struct route api_stats_routes[];
extern const struct route api_notify_routes[];
extern const struct route api_attachment_routes[];
extern const struct route api_suggest_routes[];
extern const struct route api_grid_routes[], api_analysis_routes[];
extern const struct route api_visit_routes[], api_campaign_routes[];

/* Common query parameters of list endpoints: ?limit=&after= (keyset on id). */
struct page {
	int64_t limit;  /* 1..200, default 50 */
	int64_t after;  /* id of the last row of the previous page, 0 = start */
};
int api_page(struct req *r, struct page *p);

/* {"items":[...],"next":"<after>"|null} */
json_t *api_list(json_t *items, int64_t next_after);

struct user;
/* A user as JSON; mask_personal hides phone and e-mail (api_user.c). */
json_t *api_user_json(const struct user *u, bool mask_personal);

struct enterprise_filter;
/* The list filters of GET /api/v1/enterprises from the query string (api_enterprise.c). */
int api_enterprise_filter(struct req *r, struct enterprise_filter *f);

struct jsonw;
/*
 * A JSON reply written straight into the response body, no tree: begin
 * (status, content type, an empty body and w over it), write with w, then
 * return api_reply_end(r, w) — 0, or ERR_INTERNAL if the text is not
 * complete (the dispatcher then answers the error instead).
 */
void api_reply_begin(struct req *r, int status, struct jsonw *w);
int api_reply_end(struct req *r, const struct jsonw *w);

/* An optional reference to JSON: null for 0. */
json_t *api_id(int64_t id);

/* Milliseconds to JSON: null for 0. */
json_t *api_time(int64_t ms);

struct arena;
/* The Content-Disposition of a download named `name` (UTF-8): RFC 6266 with
 * an RFC 5987 filename*; allocated in the arena. */
const char *api_disposition(struct arena *ar, const char *name);

#endif
