/*
 * attachment.h — files attached to requests: photos and PDF documents.
 *
 * A file's type is decided by its content, never by its name or the
 * Content-Type the client sent: PNG, JPEG, GIF, WebP and PDF are recognised
 * by their signatures at offset 0 (attachment_sniff); anything else — HTML,
 * SVG, scripts, office files, archives, a file that starts with other bytes
 * and hides one of these formats later (a polyglot) — is refused. The bytes
 * are stored once per tenant in attachment_blobs, keyed by their SHA-256,
 * away from the tables that lists read; request_attachments holds the
 * metadata (name, type, size, hash, uploader). Removing the last reference
 * to a blob removes the blob.
 *
 * Who may attach: whoever may read the request (the caller checks the
 * request.read scope; the write job checks it again with the request as it
 * is then), while the request is not finished (closed, merged, voided).
 * Only the uploader removes an attachment, under the same condition.
 * Limits are tenant settings: attachments.max_bytes per file and
 * attachments.max_per_request. Every add and remove is audited
 * (entity "attachment").
 */
#ifndef YQ_ATTACHMENT_H
#define YQ_ATTACHMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

#define ATTACHMENT_NAME_MAX_CHARS 100
#define ATTACHMENT_MAX_BYTES_KEY  "attachments.max_bytes"
#define ATTACHMENT_MAX_COUNT_KEY  "attachments.max_per_request"
#define ATTACHMENT_ROUTE_MAX      (32u << 20) /* the largest attachments.max_bytes allowed */

/* The content type of a recognised file ("image/png", "image/jpeg",
 * "image/gif", "image/webp", "application/pdf"), NULL otherwise. */
const char *attachment_sniff(const void *data, size_t len);
/* The usual file extension of a sniffed type (".png"), "" if unknown. */
const char *attachment_extension(const char *content_type);

/*
 * A safe file name from what the client sent, into out (>= 404 bytes): the
 * last path component (after '/' or '\'), without control characters,
 * bidirectional overrides, quotes, leading dots and surrounding spaces, at
 * most ATTACHMENT_NAME_MAX_CHARS characters (the extension kept when
 * shortened), ending in an extension that fits the content type (appended
 * when it does not: "invoice" → "invoice.pdf", "x.exe" → "x.exe.png"). An
 * empty result becomes "附件" + extension. ERR_UNPROCESSABLE (field
 * "filename") for invalid UTF-8.
 */
int attachment_filename(const char *in, const char *content_type, char *out, size_t outsz,
			struct err *e);

struct attachment {
	int64_t id, tenant_id, request_id;
	char filename[404];
	char content_type[32];
	int64_t size;
	char sha256[65];
	int64_t uploaded_by;
	char uploader_name[260];
	int64_t uploaded_at;
};

/* A checked upload, prepared on the caller's thread (hashing a large file
 * must not hold up the database writer). */
struct attachment_file {
	const void *data; /* borrowed: the bytes */
	size_t len;
	const char *content_type; /* static: from attachment_sniff */
	char filename[404];       /* sanitised */
	char sha256[65];
};
/*
 * Check an upload without the database: 400 `file` when empty, 413 `file`
 * over max_bytes, 422 `file` when not a recognised type, 422 `filename`
 * when the name is not UTF-8; then name and hash it into out.
 */
int attachment_prepare(const void *data, size_t len, const char *filename, int64_t max_bytes,
		       struct attachment_file *out, struct err *e);

/* Store the bytes of a prepared file once per tenant (inside a write job);
 * nothing is written when the tenant already has a blob with that hash.
 * Shared by request attachments and visit photos (core/visit.c). */
int attachment_blob_put(struct db *db, int64_t tenant_id, const struct attachment_file *f,
			struct err *e);
/* Remove the blob of sha256 when no request attachment and no visit photo
 * uses it any more (inside a write job). */
int attachment_blob_release(struct db *db, int64_t tenant_id, const char *sha256, struct err *e);

/* Write-job argument of attachment_add. */
struct attachment_add {
	const struct actor *who;
	enum scope scope; /* the caller's request.read scope */
	int64_t tenant_id;
	int64_t request_id;
	const struct attachment_file *file;
	int64_t now;
	/* out */
	int64_t id;
	bool existed; /* the same bytes were already attached to this request */
};
/*
 * Attach a prepared file: 404 `id` when the request is out of the scope,
 * 409 `state` when it is finished, 422 `file` when it has
 * attachments.max_per_request already. The same bytes attached to the same
 * request again answer the existing attachment (existed = true) and store
 * nothing. The blob is shared with every attachment of the tenant that has
 * the same hash.
 */
int attachment_add(struct db *db, void *arg, struct err *e);

/* Write-job argument of attachment_remove. */
struct attachment_remove {
	const struct actor *who;
	enum scope scope; /* the caller's request.read scope */
	int64_t tenant_id;
	int64_t id;
};
/* Remove an attachment: 404 when it or its request is out of reach, 403 for
 * anyone but the uploader, 409 `state` once the request is finished. */
int attachment_remove(struct db *db, void *arg, struct err *e);

/* Metadata of one attachment (any request of the tenant; the caller checks
 * the request's scope). ERR_NOT_FOUND if none. */
int attachment_get(struct db *db, int64_t tenant_id, int64_t id, struct attachment *out,
		   struct err *e);
/* The attachments of a request, oldest first; each() returning non-zero stops. */
int attachment_list(struct db *db, int64_t tenant_id, int64_t request_id,
		    int (*each)(const struct attachment *a, void *ctx), void *ctx, struct err *e);
/* The stored bytes of an attachment, handed to sink (valid during the call only). */
int attachment_data(struct db *db, const struct attachment *a,
		    int (*sink)(const void *p, size_t n, void *ctx), void *ctx, struct err *e);

/* The tenant's limits (settings, with their defaults). */
int attachment_limits(struct db *db, int64_t tenant_id, int64_t *max_bytes, int64_t *max_count,
		      struct err *e);

#endif
