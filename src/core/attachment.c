/*
 * attachment.c — see attachment.h: type detection by content, safe file
 * names, and the storage of attachments (metadata rows, blobs by hash).
 */
#include "core/attachment.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "core/audit.h"
#include "core/request.h"
#include "core/settings.h"
#include "db/db.h"
#include "base/banned.h"

/* ---- types by content ---- */

static const struct {
	const char *type;
	const char *ext[4]; /* the first is the one appended */
} types[] = {
	{"image/png", {".png"}},       {"image/jpeg", {".jpg", ".jpeg", ".jpe", ".jfif"}},
	{"image/gif", {".gif"}},       {"image/webp", {".webp"}},
	{"application/pdf", {".pdf"}},
};

static bool digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

const char *attachment_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	if (!p)
		return NULL;
	/* PNG: the signature, then the IHDR chunk that must come first */
	if (len >= 33 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(p + 12, "IHDR", 4) == 0)
		return "image/png";
	/* JPEG: SOI, then the first marker segment (APPn, DQT, SOFn, COM ...) */
	if (len >= 4 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF && p[3] >= 0xC0 &&
	    p[3] != 0xFF)
		return "image/jpeg";
	/* PDF: the header at offset 0 (readers tolerate junk before it; we do not) */
	if (len >= 8 && memcmp(p, "%PDF-", 5) == 0 && digit(p[5]) && p[6] == '.' && digit(p[7]))
		return "application/pdf";
	if (len >= 13 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "image/gif";
	if (len >= 16 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBPVP8", 7) == 0)
		return "image/webp";
	return NULL;
}

const char *attachment_extension(const char *content_type)
{
	for (size_t i = 0; content_type && i < ARRAY_SIZE(types); i++)
		if (strcmp(types[i].type, content_type) == 0)
			return types[i].ext[0];
	return "";
}

/* Do the code points cp[a..n) end in an extension of the type (ASCII, any case)?
 * Its length in code points goes to *ext_len. */
static bool ext_fits(const uint32_t *cp, size_t a, size_t n, const char *content_type,
		     size_t *ext_len)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (strcmp(types[i].type, content_type) != 0)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(types[i].ext) && types[i].ext[k]; k++) {
			const char *x = types[i].ext[k];
			size_t el = strlen(x), j = 0;
			if (n - a <= el)
				continue;
			for (; j < el; j++) {
				uint32_t c = cp[n - el + j];
				if (c >= 'A' && c <= 'Z')
					c += 32;
				if (c != (unsigned char)x[j])
					break;
			}
			if (j == el) {
				*ext_len = el;
				return true;
			}
		}
	}
	return false;
}

/* ---- names ---- */

#define NAME_MAX_IN 1024 /* code points of a sent name that are looked at */

/* The code point at *p of valid UTF-8, advancing *p. */
static uint32_t decode(const unsigned char **p)
{
	const unsigned char *s = *p;
	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if (s[0] < 0xE0) {
		*p = s + 2;
		return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
	}
	if (s[0] < 0xF0) {
		*p = s + 3;
		return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
	}
	*p = s + 4;
	return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
	       (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

static size_t encode(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* Characters a file name never keeps: controls, bidirectional and invisible
 * formatting (a right-to-left override makes "x\u202Egnp.exe" look like a
 * picture), line separators, the byte-order mark, quotes. */
static bool dropped(uint32_t c)
{
	return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F) || c == '"' ||
	       (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
	       (c >= 0x2060 && c <= 0x2069) || c == 0xFEFF;
}

/* Characters that file systems refuse: replaced by '_'. */
static bool replaced(uint32_t c)
{
	return c == ':' || c == '*' || c == '?' || c == '<' || c == '>' || c == '|';
}

int attachment_filename(const char *in, const char *content_type, char *out, size_t outsz,
			struct err *e)
{
	uint32_t cp[NAME_MAX_IN];
	size_t n = 0;
	const char *ext = attachment_extension(content_type);
	if (in && !utf8_valid(in, strlen(in)))
		return err_set(e, ERR_UNPROCESSABLE, "filename", "文件名不是有效的 UTF-8",
			       "filename is not valid UTF-8");
	/* the last path component */
	const char *base = in ? in : "";
	for (const char *p = base; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	for (const unsigned char *p = (const unsigned char *)base; *p && n < NAME_MAX_IN;) {
		uint32_t c = decode(&p);
		if (!dropped(c))
			cp[n++] = replaced(c) ? '_' : c;
	}
	/* no leading dots or spaces (hidden files, "..") and no trailing ones */
	size_t a = 0;
	while (a < n && (cp[a] == '.' || cp[a] == ' ' || cp[a] == 0x3000))
		a++;
	while (n > a && (cp[n - 1] == '.' || cp[n - 1] == ' ' || cp[n - 1] == 0x3000))
		n--;
	/* the extension kept when it fits the type, else the type's appended */
	size_t ext_len = 0;
	bool fits = ext_fits(cp, a, n, content_type, &ext_len);
	size_t stem_end = fits ? n - ext_len : n;
	size_t max_stem = ATTACHMENT_NAME_MAX_CHARS - (fits ? ext_len : strlen(ext));
	if (stem_end - a > max_stem)
		stem_end = a + max_stem;
	char name[ATTACHMENT_NAME_MAX_CHARS * 4 + 8];
	size_t k = 0;
	if (stem_end == a) /* nothing left of the name */
		k += (size_t)snprintf(name, sizeof name, "附件");
	for (size_t i = a; i < stem_end; i++)
		k += encode(cp[i], name + k);
	if (fits)
		for (size_t i = n - ext_len; i < n; i++)
			k += encode(cp[i], name + k);
	else
		k += (size_t)snprintf(name + k, sizeof name - k, "%s", ext);
	name[k] = '\0';
	snprintf(out, outsz, "%s", name);
	return 0;
}

/* ---- checking an upload ---- */

int attachment_prepare(const void *data, size_t len, const char *filename, int64_t max_bytes,
		       struct attachment_file *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!len)
		return err_set(e, ERR_BAD_REQUEST, "file", "请上传文件（请求体为文件内容）",
			       "no file: the request body is the file");
	if ((int64_t)len > max_bytes)
		return err_set(e, ERR_TOO_LARGE, "file", "文件超过 %lld 字节的上限",
			       "the file is larger than the limit of %lld bytes",
			       (long long)max_bytes);
	out->content_type = attachment_sniff(data, len);
	if (!out->content_type)
		return err_set(e, ERR_UNPROCESSABLE, "file",
			       "只能上传 PNG、JPEG、GIF、WebP 图片或 PDF 文件（按文件内容识别）",
			       "only PNG, JPEG, GIF, WebP images and PDF files are accepted "
			       "(the type is read from the content)");
	int rc = attachment_filename(filename, out->content_type, out->filename,
				     sizeof out->filename, e);
	if (rc)
		return rc;
	out->data = data;
	out->len = len;
	sha256_hex(data, len, out->sha256);
	return 0;
}

int attachment_limits(struct db *db, int64_t tenant_id, int64_t *max_bytes, int64_t *max_count,
		      struct err *e)
{
	int rc = 0;
	if (max_bytes)
		rc = settings_get_int(db, tenant_id, ATTACHMENT_MAX_BYTES_KEY, max_bytes, e);
	if (!rc && max_count)
		rc = settings_get_int(db, tenant_id, ATTACHMENT_MAX_COUNT_KEY, max_count, e);
	return rc;
}

/* ---- storage ---- */

/* The state of the request as the actor may reach it: 404 outside the scope
 * (naming the attachment when one is at stake). */
static int reach(struct db *db, const struct actor *who, enum scope scope, int64_t tenant,
		 int64_t request_id, bool attachment, enum req_state *state, struct err *e)
{
	struct request r;
	int rc = request_get(db, tenant, request_id, &r, e);
	if (rc)
		return rc;
	bool visible = request_visible(who, scope, &r);
	*state = r.state;
	request_release(&r);
	if (!visible)
		return attachment
			       ? err_set(e, ERR_NOT_FOUND, "id", "找不到该附件",
					 "no such attachment")
			       : err_set(e, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
	return 0;
}

/* 409 `state` once the request is finished: its attachments are frozen. */
static int frozen(enum req_state s, struct err *e)
{
	if (s != RS_CLOSED && s != RS_MERGED && s != RS_VOIDED)
		return 0;
	char zh[160], en[160];
	snprintf(zh, sizeof zh, "诉求%s，不能再增删附件", req_state_zh(s));
	snprintf(en, sizeof en, "the request is %s: its attachments can no longer change",
		 req_state_name(s));
	return err_set_msg(e, ERR_CONFLICT, "state", zh, en);
}

int attachment_blob_put(struct db *db, int64_t tenant_id, const struct attachment_file *f,
			struct err *e)
{
	struct db_stmt *st = NULL;
	int64_t have = 0;
	int rc = db_query_i64(
		db, &have, e,
		"SELECT COUNT(*) FROM attachment_blobs WHERE tenant_id = $1 AND sha256 = $2", "it",
		tenant_id, f->sha256);
	if (rc || have)
		return rc;
	rc = db_prepare(db, "INSERT INTO attachment_blobs (tenant_id, sha256, data) VALUES ($1, $2, $3)",
			&st, e);
	if (rc)
		return rc;
	if (db_bind_int64(st, 1, tenant_id) || db_bind_text(st, 2, f->sha256) ||
	    db_bind_blob(st, 3, f->data, f->len))
		rc = err_set(e, ERR_INTERNAL, "file", "无法保存文件", "cannot store the file");
	else
		rc = db_step(st, e);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int attachment_blob_release(struct db *db, int64_t tenant_id, const char *sha256, struct err *e)
{
	int64_t left = 0;
	int rc = db_query_i64(db, &left, e,
			      "SELECT (SELECT COUNT(*) FROM request_attachments WHERE tenant_id = $1 "
			      "AND sha256 = $2) + (SELECT COUNT(*) FROM visit_photos WHERE "
			      "tenant_id = $1 AND sha256 = $2)",
			      "it", tenant_id, sha256);
	if (rc || left)
		return rc;
	return db_execf(db, e, "DELETE FROM attachment_blobs WHERE tenant_id = $1 AND sha256 = $2",
			"it", tenant_id, sha256);
}

static json_t *summary(int64_t request_id, const char *filename, const char *type, int64_t size,
		       const char *sha)
{
	return json_pack("{s:I,s:s,s:s,s:I,s:s}", "request_id", (json_int_t)request_id, "filename",
			 filename, "content_type", type, "size", (json_int_t)size, "sha256", sha);
}

int attachment_add(struct db *db, void *arg, struct err *e)
{
	struct attachment_add *a = arg;
	const struct attachment_file *f = a->file;
	struct db_stmt *st = NULL;
	int64_t max_count = 0, count = 0;
	enum req_state state;
	int rc = reach(db, a->who, a->scope, a->tenant_id, a->request_id, false, &state, e);
	if (rc || (rc = frozen(state, e)))
		return rc;
	/* the same bytes on the same request: the attachment there is */
	rc = db_queryf(
		db, &st, e,
		"SELECT id FROM request_attachments WHERE tenant_id = $1 AND request_id = $2 "
		"AND sha256 = $3 ORDER BY id LIMIT 1",
		"iit", a->tenant_id, a->request_id, f->sha256);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		a->id = db_column_int64(st, 0);
		a->existed = true;
	}
	db_finalize(st);
	if (rc < 0 || a->existed)
		return rc < 0 ? rc : 0;
	if ((rc = attachment_limits(db, a->tenant_id, NULL, &max_count, e)) ||
	    (rc = db_query_i64(db, &count, e,
			       "SELECT COUNT(*) FROM request_attachments WHERE tenant_id = $1 AND "
			       "request_id = $2",
			       "ii", a->tenant_id, a->request_id)))
		return rc;
	if (count >= max_count)
		return err_set(e, ERR_UNPROCESSABLE, "file", "每条诉求最多 %lld 个附件",
			       "a request has at most %lld attachments", (long long)max_count);
	if ((rc = attachment_blob_put(db, a->tenant_id, f, e)))
		return rc;
	rc = db_queryf(
		db, &st, e,
		"INSERT INTO request_attachments (tenant_id, request_id, filename, content_type, "
		"size, sha256, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
		"RETURNING id",
		"iitti"
		"tii",
		a->tenant_id, a->request_id, f->filename, f->content_type, (int64_t)f->len,
		f->sha256, a->who->user_id, a->now);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		a->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	json_t *sum =
		summary(a->request_id, f->filename, f->content_type, (int64_t)f->len, f->sha256);
	rc = audit_append(db, a->who, a->tenant_id, "attachment", a->id, "upload", sum, e);
	json_decref(sum);
	return rc;
}

int attachment_remove(struct db *db, void *arg, struct err *e)
{
	struct attachment_remove *a = arg;
	struct attachment at;
	int rc = attachment_get(db, a->tenant_id, a->id, &at, e);
	if (rc)
		return rc;
	/* out of reach is "no such attachment", before saying whose it is */
	enum req_state state;
	if ((rc = reach(db, a->who, a->scope, a->tenant_id, at.request_id, true, &state, e)))
		return rc;
	if (at.uploaded_by != a->who->user_id)
		return err_set(e, ERR_FORBIDDEN, "id", "只有上传者可以删除附件",
			       "only the uploader removes an attachment");
	if ((rc = frozen(state, e)))
		return rc;
	if ((rc = db_execf(db, e,
			   "DELETE FROM request_attachments WHERE tenant_id = $1 AND id = $2", "ii",
			   a->tenant_id, a->id)) ||
	    (rc = attachment_blob_release(db, a->tenant_id, at.sha256, e)))
		return rc;
	json_t *sum = summary(at.request_id, at.filename, at.content_type, at.size, at.sha256);
	rc = audit_append(db, a->who, a->tenant_id, "attachment", a->id, "delete", sum, e);
	json_decref(sum);
	return rc;
}

#define ATT_COLS                                                                                   \
	"SELECT a.id, a.tenant_id, a.request_id, a.filename, a.content_type, a.size, a.sha256, "   \
	"a.uploaded_by, COALESCE(u.display_name, ''), a.uploaded_at FROM request_attachments a "   \
	"LEFT JOIN users u ON u.id = a.uploaded_by "

static void read_row(struct db_stmt *st, struct attachment *a)
{
	memset(a, 0, sizeof *a);
	a->id = db_column_int64(st, 0);
	a->tenant_id = db_column_int64(st, 1);
	a->request_id = db_column_int64(st, 2);
	snprintf(a->filename, sizeof a->filename, "%s", db_column_text(st, 3));
	snprintf(a->content_type, sizeof a->content_type, "%s", db_column_text(st, 4));
	a->size = db_column_int64(st, 5);
	snprintf(a->sha256, sizeof a->sha256, "%s", db_column_text(st, 6));
	a->uploaded_by = db_column_int64(st, 7);
	snprintf(a->uploader_name, sizeof a->uploader_name, "%s", db_column_text(st, 8));
	a->uploaded_at = db_column_int64(st, 9);
}

int attachment_get(struct db *db, int64_t tenant_id, int64_t id, struct attachment *out,
		   struct err *e)
{
	struct db_stmt *st = NULL;
	memset(out, 0, sizeof *out);
	int rc = db_queryf(db, &st, e, ATT_COLS "WHERE a.tenant_id = $1 AND a.id = $2", "ii",
			   tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_row(st, out);
	db_finalize(st);
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该附件", "no such attachment");
	return rc < 0 ? rc : 0;
}

int attachment_list(struct db *db, int64_t tenant_id, int64_t request_id,
		    int (*each)(const struct attachment *a, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   ATT_COLS "WHERE a.tenant_id = $1 AND a.request_id = $2 ORDER BY a.id",
			   "ii", tenant_id, request_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct attachment a;
		read_row(st, &a);
		if (each(&a, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int attachment_data(struct db *db, const struct attachment *a,
		    int (*sink)(const void *p, size_t n, void *ctx), void *ctx, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT data FROM attachment_blobs WHERE tenant_id = $1 AND sha256 = $2",
			   "it", a->tenant_id, a->sha256);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		size_t n = 0;
		const void *p = db_column_blob(st, 0, &n);
		rc = sink(p, n, ctx);
	} else if (rc == DB_DONE)
		rc = err_set(e, ERR_INTERNAL, "id", "附件内容丢失",
			     "the attachment's content is missing");
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
