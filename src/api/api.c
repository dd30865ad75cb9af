/* api.c — helpers shared by the API files (paging, list envelopes, times). */
#include "api/api.h"

#include "base/banned.h"

int api_page(struct req *r, struct page *p)
{
	int rc = req_query_int(r, "limit", 50, 1, 200, &p->limit);
	if (!rc)
		rc = req_query_int(r, "after", 0, 0, INT64_MAX, &p->after);
	return rc;
}

json_t *api_list(json_t *items, int64_t next_after)
{
	return json_pack("{s:o,s:o}", "items", items, "next",
			 next_after ? json_integer(next_after) : json_null());
}

json_t *api_id(int64_t id)
{
	return id ? json_integer(id) : json_null();
}

json_t *api_time(int64_t ms)
{
	return ms ? json_integer(ms) : json_null();
}
