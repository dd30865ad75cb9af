/* jobs.c — the digital employee's identity and the request hook; see jobs.h. */
#include "jobs/jobs.h"

#include <stdio.h>
#include <string.h>

#include "jobs/webhook.h"
#include "base/banned.h"

void jobs_actor(struct actor *a, int64_t tenant_id)
{
	memset(a, 0, sizeof *a);
	a->tenant_id = tenant_id;
	snprintf(a->login, sizeof a->login, "%s", JOBS_LOGIN);
	snprintf(a->display_name, sizeof a->display_name, "%s", JOBS_NAME);
	snprintf(a->request_id, sizeof a->request_id, "%s", JOBS_REQUEST_ID);
}

static json_t *opt(int64_t v)
{
	return v ? json_integer(v) : json_null();
}

int jobs_on_request_event(struct db *db, int64_t tenant_id, int64_t request_id,
			  const struct request *r, const char *action, enum req_state from,
			  int64_t now, struct err *e)
{
	char event[64];
	struct request own;
	bool wanted = false;
	int rc;

	snprintf(event, sizeof event, "request.%s", action);
	if ((rc = webhook_wanted(db, tenant_id, event, &wanted, e)) || !wanted)
		return rc;
	if (!r) {
		if ((rc = request_get(db, tenant_id, request_id, &own, e)))
			return rc;
		r = &own;
	}
	/* what an integration needs to follow the loop; no contact data, no content */
	json_t *req = json_pack(
		"{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:i,s:i,s:o,s:o,s:o}", "id", (json_int_t)r->id,
		"number", r->number, "type", r->req_type, "title", r->title, "state",
		req_state_name(r->state), "urgency", r->urgency, "department_id",
		opt(r->department_id), "enterprise_id", opt(r->enterprise_id), "supervision_level",
		r->supervision_level, "reopen_count", r->reopen_count, "handle_due_at",
		opt(r->handle_due_at), "visit_due_at", opt(r->visit_due_at), "closed_at",
		opt(r->closed_at));
	json_object_set_new(req, "rating", json_string(r->rating));
	json_t *data = json_pack("{s:s,s:s,s:o}", "action", action, "from_state",
				 from == RS__COUNT ? "" : req_state_name(from), "request", req);
	rc = webhook_emit(db, tenant_id, event, data, now, NULL, e);
	json_decref(data);
	if (r == &own)
		request_release(&own);
	return rc;
}
