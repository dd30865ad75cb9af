/*
 * api_attachment.c — files attached to requests over HTTP (core/attachment.h).
 *
 * An upload is the raw file as the request body (not a form), with the name
 * in ?filename=; the Content-Type the client sends is ignored, the type is
 * read from the content. The route's body limit is the largest value the
 * tenant setting attachments.max_bytes may take; the tenant's own limit is
 * checked here. A download is sent with the stored type, as an attachment
 * (never rendered inline), with the name in RFC 5987 form for Chinese names.
 * Every route answers 404 for a request or attachment outside the caller's
 * request.read scope.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/util.h"
#include "core/attachment.h"
#include "core/request.h"
#include "base/banned.h"

static json_t *attachment_json(const struct attachment *a)
{
	char url[64];
	snprintf(url, sizeof url, "/api/v1/attachments/%lld", (long long)a->id);
	return json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:I,s:s,s:I,s:s}", "id", (json_int_t)a->id,
			 "request_id", (json_int_t)a->request_id, "filename", a->filename,
			 "content_type", a->content_type, "size", (json_int_t)a->size, "sha256",
			 a->sha256, "uploaded_by", (json_int_t)a->uploaded_by, "uploader_name",
			 a->uploader_name, "uploaded_at", (json_int_t)a->uploaded_at, "url", url);
}

/* The request of the path, if the caller may read it; 404 otherwise. */
static int load_request(struct req *r, struct request *q)
{
	int64_t id;
	struct db *db;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = request_get(db, r->actor.tenant_id, id, q, &r->err)))
		return rc;
	if (!request_visible(&r->actor, r->scope, q)) {
		request_release(q);
		return req_fail(r, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
	}
	return 0;
}

/* The attachment of the path, if the caller may read its request; 404 otherwise. */
static int load_attachment(struct req *r, struct attachment *a)
{
	int64_t id;
	struct db *db;
	struct request q;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!(db = req_db(r)))
		return r->err.code;
	if ((rc = attachment_get(db, r->actor.tenant_id, id, a, &r->err)))
		return rc;
	if ((rc = request_get(db, r->actor.tenant_id, a->request_id, &q, &r->err)))
		return rc;
	bool visible = request_visible(&r->actor, r->scope, &q);
	request_release(&q);
	if (!visible)
		return req_fail(r, ERR_NOT_FOUND, "id", "找不到该附件", "no such attachment");
	return 0;
}

static int h_upload(struct req *r)
{
	struct request q;
	struct attachment_file f;
	struct attachment a;
	int64_t max_bytes = 0;
	int rc = load_request(r, &q);
	if (rc)
		return rc;
	int64_t request_id = q.id;
	request_release(&q);
	if ((rc = attachment_limits(req_db(r), r->actor.tenant_id, &max_bytes, NULL, &r->err)) ||
	    (rc = attachment_prepare(r->body.p, r->body.len, req_query(r, "filename"), max_bytes,
				     &f, &r->err)))
		return rc;
	struct attachment_add job = {.who = &r->actor,
				     .scope = r->scope,
				     .tenant_id = r->actor.tenant_id,
				     .request_id = request_id,
				     .file = &f,
				     .now = now_ms()};
	if ((rc = req_write(r, attachment_add, &job)) ||
	    (rc = attachment_get(req_db(r), r->actor.tenant_id, job.id, &a, &r->err)))
		return rc;
	json_t *j = attachment_json(&a);
	json_object_set_new(j, "existed", json_boolean(job.existed));
	return reply_json(r, job.existed ? 200 : 201, j);
}

static int each_attachment(const struct attachment *a, void *ctx)
{
	json_array_append_new(ctx, attachment_json(a));
	return 0;
}

static int h_list(struct req *r)
{
	struct request q;
	int64_t max_bytes = 0, max_count = 0;
	int rc = load_request(r, &q);
	if (rc)
		return rc;
	json_t *items = json_array();
	rc = attachment_list(req_db(r), r->actor.tenant_id, q.id, each_attachment, items, &r->err);
	if (!rc)
		rc = attachment_limits(req_db(r), r->actor.tenant_id, &max_bytes, &max_count,
				       &r->err);
	request_release(&q);
	if (rc) {
		json_decref(items);
		return rc;
	}
	json_t *j = api_list(items, 0);
	json_object_set_new(j, "limits",
			    json_pack("{s:I,s:I,s:[sssss]}", "max_bytes", (json_int_t)max_bytes,
				      "max_count", (json_int_t)max_count, "types", "image/png",
				      "image/jpeg", "image/gif", "image/webp", "application/pdf"));
	return reply_json(r, 200, j);
}

static int send_data(const void *p, size_t n, void *ctx)
{
	struct req *r = ctx;
	return reply_raw(r, 200, r->content_type, p, n);
}

static int h_download(struct req *r)
{
	struct attachment a;
	int rc = load_attachment(r, &a);
	if (rc)
		return rc;
	r->content_type = arena_strdup(r->arena, a.content_type);
	if ((rc = attachment_data(req_db(r), &a, send_data, r, &r->err)))
		return rc;
	req_header_add(r, "Content-Disposition", api_disposition(r->arena, a.filename));
	/* a stored file never runs as a page of this site, whatever it contains */
	req_header_add(r, "Content-Security-Policy", "sandbox; default-src 'none'");
	return 0;
}

static int h_delete(struct req *r)
{
	struct attachment_remove job = {
		.who = &r->actor, .scope = r->scope, .tenant_id = r->actor.tenant_id};
	int rc = req_param_id(r, "id", &job.id);
	if (rc || (rc = req_write(r, attachment_remove, &job)))
		return rc;
	return reply_raw(r, 204, "application/json", "", 0);
}

const struct route api_attachment_routes[] = {
	{"POST", "/api/v1/requests/{id}/attachments", h_upload, PERM_REQUEST_READ,
	 ATTACHMENT_ROUTE_MAX, ROUTE_SLOW, "上传附件（图片或 PDF）/ attach a file (image or PDF)"},
	{"GET", "/api/v1/requests/{id}/attachments", h_list, PERM_REQUEST_READ, 0, 0,
	 "诉求的附件 / the request's attachments"},
	{"GET", "/api/v1/attachments/{id}", h_download, PERM_REQUEST_READ, 0, 0,
	 "下载附件 / download an attachment"},
	{"DELETE", "/api/v1/attachments/{id}", h_delete, PERM_REQUEST_READ, 0, 0,
	 "删除附件（上传者）/ remove an attachment (its uploader)"},
	{0},
};
