/*
 * ecode.c — 政企码 tokens (Ed25519), their QR images (SVG, PNG), and the
 * rotating check-in code (HMAC-SHA256, RFC 4226/6238 style). See ecode.h
 * for the formats.
 */
#include "core/ecode.h"

#include <errno.h>
#include <inttypes.h>
#include <png.h>
#include <pthread.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "db/db.h"
#include "base/banned.h"

#define B64		   sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define SIG_LEN		   crypto_sign_BYTES
#define PAYLOAD_MAX	   (1 + 4 * 9) /* version + four varints of at most 63 bits */
#define TOKEN_BYTES_MAX	   (PAYLOAD_MAX + SIG_LEN)
#define CHECKIN_RAW	   24 /* id (8) + step (8) + mac (8) */
#define CHECKIN_SECRET_MIN 16 /* bytes; a shorter secret is unusable */

static const char qr_label[] = "yq-checkin-qr";

/* ---- small codecs ---- */

static size_t varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;
	do {
		unsigned char b = v & 0x7f;
		v >>= 7;
		p[n++] = (unsigned char)(b | (v ? 0x80 : 0));
	} while (v);
	return n;
}

/* Decode a minimal varint from p[*i..n); false if malformed. At most 9 groups
 * of 7 bits, so the value fits in 63 bits. */
static bool varint_get(const unsigned char *p, size_t n, size_t *i, int64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 63 && *i < n; shift += 7) {
		unsigned char b = p[(*i)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift > 0)
				return false; /* not minimal: a trailing zero group */
			*out = (int64_t)v;
			return true;
		}
	}
	return false;
}

static void be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t be64_get(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Decode base64url text of at most max bytes into out; only the canonical text
 * of the bytes is accepted (re-encoding must give the same text), so no two
 * texts decode to the same bytes. Returns the byte count or -1.
 */
static long b64_decode_strict(const char *s, unsigned char *out, size_t max)
{
	size_t slen = strlen(s), n = 0;
	char again[ECODE_TOKEN_MAX];
	if (slen == 0 || slen >= sizeof again)
		return -1;
	if (sodium_base642bin(out, max, s, slen, NULL, &n, NULL, B64) != 0)
		return -1;
	if (sodium_base64_ENCODED_LEN(n, B64) > sizeof again)
		return -1;
	sodium_bin2base64(again, sizeof again, out, n, B64);
	if (strcmp(again, s) != 0)
		return -1;
	return (long)n;
}

/* ---- signing keys ---- */

static int create_key(struct db *db, struct ecode_key_job *j, int64_t kid, const char *action,
		      struct err *e)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	char pk64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, B64)];
	char sk64[sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES, B64)];

	crypto_sign_keypair(pk, sk);
	sodium_bin2base64(pk64, sizeof pk64, pk, sizeof pk, B64);
	sodium_bin2base64(sk64, sizeof sk64, sk, sizeof sk, B64);
	sodium_memzero(sk, sizeof sk);
	int rc = db_execf(
		db, e,
		"INSERT INTO signing_keys (tenant_id, kid, public_key, secret_key, created_at) "
		"VALUES ($1, $2, $3, $4, $5)",
		"iitti", j->tenant_id, kid, pk64, sk64, j->now);
	sodium_memzero(sk64, sizeof sk64);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:I,s:s}", "kid", (json_int_t)kid, "public_key", pk64);
	rc = audit_append(db, j->who, j->tenant_id, "signing_key", kid, action, sum, e);
	json_decref(sum);
	if (rc)
		return rc;
	j->kid = kid;
	j->created = true;
	return 0;
}

static int max_kid(struct db *db, int64_t tenant_id, int64_t *kid, struct err *e)
{
	return db_query_i64(db, kid, e,
			    "SELECT COALESCE(MAX(kid), 0) FROM signing_keys WHERE tenant_id = $1",
			    "i", tenant_id);
}

int ecode_ensure_key(struct db *db, void *arg, struct err *e)
{
	struct ecode_key_job *j = arg;
	int64_t kid = 0;
	j->created = false;
	int rc = max_kid(db, j->tenant_id, &kid, e);
	if (rc)
		return rc;
	if (kid > 0) {
		j->kid = kid;
		return 0;
	}
	return create_key(db, j, 1, "create", e);
}

int ecode_rotate_key(struct db *db, void *arg, struct err *e)
{
	struct ecode_key_job *j = arg;
	int64_t kid = 0;
	j->created = false;
	int rc = max_kid(db, j->tenant_id, &kid, e);
	if (rc)
		return rc;
	return create_key(db, j, kid + 1, kid ? "rotate" : "create", e);
}

/* ---- public-key cache: (tenant, kid) -> key, filled from signing_keys ---- */

struct cached_key {
	int64_t tenant_id, kid;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached_key *cache;
static size_t cache_n, cache_cap;

void ecode_cache_clear(void)
{
	pthread_mutex_lock(&cache_mu);
	free(cache);
	cache = NULL;
	cache_n = cache_cap = 0;
	pthread_mutex_unlock(&cache_mu);
}

/* Find (tenant, kid); copies the key into pk. *tenant_max gets the highest cached kid. */
static bool cache_find(int64_t tenant_id, int64_t kid, unsigned char *pk, int64_t *tenant_max)
{
	bool found = false;
	*tenant_max = 0;
	pthread_mutex_lock(&cache_mu);
	for (size_t i = 0; i < cache_n; i++) {
		if (cache[i].tenant_id != tenant_id)
			continue;
		if (cache[i].kid > *tenant_max)
			*tenant_max = cache[i].kid;
		if (cache[i].kid == kid) {
			memcpy(pk, cache[i].pk, sizeof cache[i].pk);
			found = true;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	return found;
}

static void cache_add(int64_t tenant_id, int64_t kid, const unsigned char *pk)
{
	pthread_mutex_lock(&cache_mu);
	for (size_t i = 0; i < cache_n; i++)
		if (cache[i].tenant_id == tenant_id && cache[i].kid == kid)
			goto out;
	if (cache_n == cache_cap) {
		cache_cap = cache_cap ? 2 * cache_cap : 8;
		cache = xrealloc(cache, cache_cap * sizeof *cache);
	}
	cache[cache_n].tenant_id = tenant_id;
	cache[cache_n].kid = kid;
	memcpy(cache[cache_n].pk, pk, sizeof cache[cache_n].pk);
	cache_n++;
out:
	pthread_mutex_unlock(&cache_mu);
}

/* Load every public key of a tenant into the cache. Keys only ever get added,
 * so only a kid above the highest cached one can be new. */
static int cache_load(struct db *db, int64_t tenant_id, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(
		db, &st, e,
		"SELECT kid, public_key FROM signing_keys WHERE tenant_id = $1 ORDER BY kid", "i",
		tenant_id);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		unsigned char pk[crypto_sign_PUBLICKEYBYTES];
		size_t n = 0;
		const char *txt = db_column_text(st, 1);
		if (sodium_base642bin(pk, sizeof pk, txt, strlen(txt), NULL, &n, NULL, B64) == 0 &&
		    n == sizeof pk)
			cache_add(tenant_id, db_column_int64(st, 0), pk);
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* The public key of (tenant, kid): 1 found, 0 no such key, negative on errors. */
static int public_key(struct db *db, int64_t tenant_id, int64_t kid, unsigned char *pk,
		      struct err *e)
{
	int64_t max = 0;
	if (cache_find(tenant_id, kid, pk, &max))
		return 1;
	if (max && kid < max)
		return 0;
	int rc = cache_load(db, tenant_id, e);
	if (rc)
		return rc;
	return cache_find(tenant_id, kid, pk, &max) ? 1 : 0;
}

/* ---- tokens ---- */

static size_t payload_put(unsigned char *p, const struct ecode_claims *c)
{
	size_t n = 0;
	p[n++] = ECODE_VERSION;
	n += varint_put(p + n, (uint64_t)c->tenant_id);
	n += varint_put(p + n, (uint64_t)c->enterprise_id);
	n += varint_put(p + n, (uint64_t)c->kid);
	n += varint_put(p + n, (uint64_t)c->issued_day);
	return n;
}

int ecode_sign(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t now,
	       char out[ECODE_TOKEN_MAX], int64_t *kid, struct err *e)
{
	struct db_stmt *st = NULL;
	unsigned char sk[crypto_sign_SECRETKEYBYTES], tok[TOKEN_BYTES_MAX];
	struct ecode_claims c = {.tenant_id = tenant_id,
				 .enterprise_id = enterprise_id,
				 .issued_day = now > 0 ? now / 86400000 : 0};
	size_t n = 0;

	if (tenant_id <= 0 || enterprise_id <= 0)
		return err_set(e, ERR_BAD_REQUEST, "id", "编号无效", "bad tenant or enterprise id");
	int rc = db_queryf(db, &st, e,
			   "SELECT kid, secret_key FROM signing_keys WHERE tenant_id = $1 "
			   "ORDER BY kid DESC LIMIT 1",
			   "i", tenant_id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		const char *txt = db_column_text(st, 1);
		c.kid = db_column_int64(st, 0);
		if (sodium_base642bin(sk, sizeof sk, txt, strlen(txt), NULL, &n, NULL, B64) != 0 ||
		    n != sizeof sk || c.kid <= 0)
			rc = err_set(e, ERR_INTERNAL, "key", "签名密钥 %" PRId64 " 已损坏",
				     "signing key %" PRId64 " is damaged", c.kid);
	} else if (rc == DB_DONE)
		rc = err_set(e, ERR_NOT_FOUND, "key", "本区尚无政企码签名密钥",
			     "the district has no signing key yet");
	db_finalize(st);
	if (rc != DB_ROW) {
		sodium_memzero(sk, sizeof sk);
		return rc;
	}
	size_t plen = payload_put(tok, &c);
	crypto_sign_detached(tok + plen, NULL, tok, plen, sk);
	sodium_memzero(sk, sizeof sk);
	sodium_bin2base64(out, ECODE_TOKEN_MAX, tok, plen + SIG_LEN, B64);
	if (kid)
		*kid = c.kid;
	return 0;
}

static int bad_token(struct err *e)
{
	return err_set(e, ERR_NOT_FOUND, "token", "找不到该政企码", "no such enterprise code");
}

int ecode_verify(struct db *db, int64_t tenant_id, const char *token, struct ecode_claims *out,
		 struct err *e)
{
	unsigned char tok[TOKEN_BYTES_MAX], pk[crypto_sign_PUBLICKEYBYTES];
	struct ecode_claims c;
	size_t i = 1;

	if (!token)
		return bad_token(e);
	long n = b64_decode_strict(token, tok, sizeof tok);
	if (n < 1 + 4 + SIG_LEN || tok[0] != ECODE_VERSION)
		return bad_token(e);
	size_t plen = (size_t)n - SIG_LEN;
	if (!varint_get(tok, plen, &i, &c.tenant_id) ||
	    !varint_get(tok, plen, &i, &c.enterprise_id) || !varint_get(tok, plen, &i, &c.kid) ||
	    !varint_get(tok, plen, &i, &c.issued_day) || i != plen)
		return bad_token(e);
	if (c.tenant_id <= 0 || c.enterprise_id <= 0 || c.kid <= 0 ||
	    (tenant_id > 0 && c.tenant_id != tenant_id))
		return bad_token(e);
	int rc = public_key(db, c.tenant_id, c.kid, pk, e);
	if (rc < 0)
		return rc;
	if (rc == 0 || crypto_sign_verify_detached(tok + plen, tok, plen, pk) != 0)
		return bad_token(e);
	if (out)
		*out = c;
	return 0;
}

int ecode_url(const char *public_base, const char *token, struct buf *out)
{
	size_t n = strlen(public_base);
	while (n && public_base[n - 1] == '/')
		n--;
	if (buf_add(out, public_base, n) || buf_adds(out, "/e/") || buf_adds(out, token))
		return -1;
	return 0;
}

/* ---- QR images ---- */

static QRcode *qr_encode(const char *text, struct err *e)
{
	QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	if (!qr)
		err_set(e, errno == ERANGE ? ERR_UNPROCESSABLE : ERR_INTERNAL, NULL,
			"无法生成二维码（%s）", "cannot encode the QR code (%s)",
			errno == ERANGE ? "text too long" : "encoder failure");
	return qr;
}

/* Append s as XML character data: escapes markup, drops characters XML 1.0 forbids. */
static int xml_escape(struct buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '&':
			rc = buf_adds(b, "&amp;");
			break;
		case '<':
			rc = buf_adds(b, "&lt;");
			break;
		case '>':
			rc = buf_adds(b, "&gt;");
			break;
		case '"':
			rc = buf_adds(b, "&quot;");
			break;
		case '\'':
			rc = buf_adds(b, "&#39;");
			break;
		default:
			if (ch < 0x20)
				rc = buf_addc(b, ' ');
			else
				rc = buf_addc(b, (char)ch);
		}
	}
	return rc;
}

/* Rough width of a caption in ems: ASCII half, everything else full width. */
static double caption_ems(const char *s)
{
	double w = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x80)
			w += 0.6;
		else if ((ch & 0xc0) != 0x80)
			w += 1.0;
	}
	return w;
}

int ecode_qr_svg(const char *text, const char *caption, struct buf *out, struct err *e)
{
	QRcode *qr = qr_encode(text, e);
	if (!qr)
		return e->code;
	int q = ECODE_QR_QUIET, w = qr->width, side = w + 2 * q;
	bool has_caption = caption && *caption && utf8_valid(caption, strlen(caption));
	double cap_h = has_caption ? 4.0 : 0.0;
	size_t mark = out->len;
	int rc = buf_addf(
		out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
		"viewBox=\"0 0 %d %g\" width=\"%d\" height=\"%g\" "
		"shape-rendering=\"crispEdges\">\n"
		"<rect width=\"%d\" height=\"%g\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
		side, side + cap_h, side * ECODE_QR_SCALE_DEFAULT,
		(side + cap_h) * ECODE_QR_SCALE_DEFAULT, side, side + cap_h);
	/* One subpath per horizontal run of dark modules. */
	for (int y = 0; y < w && !rc; y++)
		for (int x = 0; x < w && !rc;) {
			if (!(qr->data[y * w + x] & 1)) {
				x++;
				continue;
			}
			int run = 1;
			while (x + run < w && (qr->data[y * w + x + run] & 1))
				run++;
			rc = buf_addf(out, "M%d %dh%dv1h-%dz", x + q, y + q, run, run);
			x += run;
		}
	if (!rc)
		rc = buf_adds(out, "\"/>\n");
	if (!rc && has_caption) {
		double fs = (side - 2) / caption_ems(caption);
		if (fs > 2.2)
			fs = 2.2;
		rc = buf_addf(out,
			      "<text x=\"%g\" y=\"%.2f\" font-size=\"%.2f\" text-anchor=\"middle\" "
			      "font-family=\"sans-serif\" fill=\"#000\">",
			      side / 2.0, side + cap_h / 2 + fs * 0.35, fs);
		if (!rc)
			rc = xml_escape(out, caption);
		if (!rc)
			rc = buf_adds(out, "</text>\n");
	}
	if (!rc)
		rc = buf_adds(out, "</svg>\n");
	QRcode_free(qr);
	if (rc) {
		out->len = mark;
		out->p[mark] = '\0';
		return err_set(e, ERR_INTERNAL, NULL, "二维码图像过大", "QR image too large");
	}
	return 0;
}

static void png_write_cb(png_structp p, png_bytep data, size_t n)
{
	if (buf_add(png_get_io_ptr(p), data, n))
		png_error(p, "output buffer full");
}

static void png_flush_cb(png_structp p)
{
	(void)p;
}

/* libpng's default handlers print to stderr; ours stay quiet (the failing code never prints). */
static void png_error_cb(png_structp p, png_const_charp msg)
{
	(void)msg;
	png_longjmp(p, 1);
}

static void png_warning_cb(png_structp p, png_const_charp msg)
{
	(void)p;
	(void)msg;
}

/* Write the image; -1 on failure (out may hold a partial image). */
static int write_png(const QRcode *qr, int scale, struct buf *out)
{
	int q = ECODE_QR_QUIET, w = qr->width;
	png_uint_32 px = (png_uint_32)((w + 2 * q) * scale);
	png_structp p =
		png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_error_cb, png_warning_cb);
	png_infop info = p ? png_create_info_struct(p) : NULL;
	unsigned char *row = malloc(px);
	if (!p || !info || !row) {
		png_destroy_write_struct(&p, &info);
		free(row);
		return -1;
	}
	if (setjmp(png_jmpbuf(p))) {
		png_destroy_write_struct(&p, &info);
		free(row);
		return -1;
	}
	png_set_write_fn(p, out, png_write_cb, png_flush_cb);
	png_set_IHDR(p, info, px, px, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(p, info);
	for (png_uint_32 y = 0; y < px; y++) {
		int my = (int)(y / (png_uint_32)scale) - q;
		for (png_uint_32 x = 0; x < px; x++) {
			int mx = (int)(x / (png_uint_32)scale) - q;
			bool dark = my >= 0 && my < w && mx >= 0 && mx < w &&
				    (qr->data[my * w + mx] & 1);
			row[x] = dark ? 0 : 255;
		}
		png_write_row(p, row);
	}
	png_write_end(p, info);
	png_destroy_write_struct(&p, &info);
	free(row);
	return 0;
}

int ecode_qr_png(const char *text, int scale, struct buf *out, struct err *e)
{
	if (scale < 1 || scale > ECODE_QR_SCALE_MAX)
		return err_set(e, ERR_BAD_REQUEST, "scale", "scale 应在 1 到 %d 之间",
			       "scale must be between 1 and %d", ECODE_QR_SCALE_MAX);
	QRcode *qr = qr_encode(text, e);
	if (!qr)
		return e->code;
	size_t mark = out->len;
	int rc = write_png(qr, scale, out);
	QRcode_free(qr);
	if (rc) {
		out->len = mark;
		out->p[mark] = '\0';
		return err_set(e, ERR_INTERNAL, NULL, "无法生成 PNG 图像",
			       "cannot write the PNG image");
	}
	return 0;
}

/* ---- check-in codes ---- */

int64_t ecode_checkin_step(int64_t now_ms)
{
	return now_ms >= 0 ? now_ms / ECODE_CHECKIN_STEP_MS : 0;
}

static void hmac(const void *key, size_t keylen, const void *m1, size_t n1, const void *m2,
		 size_t n2, unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, m1, n1);
	if (n2)
		crypto_auth_hmacsha256_update(&st, m2, n2);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

void ecode_checkin_code_at(const void *key, size_t keylen, uint64_t counter, char out[7])
{
	unsigned char msg[8], mac[crypto_auth_hmacsha256_BYTES];
	be64_put(msg, counter);
	hmac(key, keylen, msg, sizeof msg, NULL, 0, mac);
	unsigned off = mac[sizeof mac - 1] & 0x0f;
	uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
		       (uint32_t)mac[off + 2] << 8 | mac[off + 3];
	snprintf(out, 7, "%06" PRIu32, bin % 1000000u);
}

static void checkin_mac(const void *key, size_t keylen, const unsigned char idstep[16],
			unsigned char mac8[8])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	hmac(key, keylen, qr_label, sizeof qr_label - 1, idstep, 16, mac);
	memcpy(mac8, mac, 8);
}

void ecode_checkin_token_at(const void *key, size_t keylen, int64_t enterprise_id, int64_t step,
			    char out[ECODE_CHECKIN_TOKEN_MAX])
{
	unsigned char raw[CHECKIN_RAW];
	be64_put(raw, (uint64_t)enterprise_id);
	be64_put(raw + 8, (uint64_t)step);
	checkin_mac(key, keylen, raw, raw + 16);
	sodium_bin2base64(out, ECODE_CHECKIN_TOKEN_MAX, raw, sizeof raw, B64);
}

static bool token_raw(const char *token, unsigned char raw[CHECKIN_RAW])
{
	if (!token || strlen(token) != sodium_base64_ENCODED_LEN(CHECKIN_RAW, B64) - 1)
		return false;
	return b64_decode_strict(token, raw, CHECKIN_RAW) == CHECKIN_RAW;
}

bool ecode_checkin_token_parse(const char *token, int64_t *enterprise_id, int64_t *step)
{
	unsigned char raw[CHECKIN_RAW];
	if (!token_raw(token, raw))
		return false;
	uint64_t id = be64_get(raw), s = be64_get(raw + 8);
	if (id == 0 || id > INT64_MAX || s > INT64_MAX)
		return false;
	*enterprise_id = (int64_t)id;
	*step = (int64_t)s;
	return true;
}

bool ecode_checkin_code_ok(const void *key, size_t keylen, const char *code, int64_t now,
			   int window, int64_t *matched)
{
	int64_t cur = ecode_checkin_step(now), hit = -1;
	if (!code || strlen(code) != 6 || strspn(code, "0123456789") != 6)
		return false;
	for (int w = 0; w <= window; w++) {
		char want[7];
		if (cur - w < 0)
			break;
		ecode_checkin_code_at(key, keylen, (uint64_t)(cur - w), want);
		bool eq = sodium_memcmp(want, code, 6) == 0;
		if (eq && hit < 0)
			hit = cur - w;
	}
	if (hit >= 0 && matched)
		*matched = hit;
	return hit >= 0;
}

bool ecode_checkin_token_ok(const void *key, size_t keylen, int64_t enterprise_id,
			    const char *token, int64_t now, int window, int64_t *matched)
{
	unsigned char raw[CHECKIN_RAW], mac8[8];
	int64_t id, step, cur = ecode_checkin_step(now);
	if (!ecode_checkin_token_parse(token, &id, &step) || !token_raw(token, raw))
		return false;
	checkin_mac(key, keylen, raw, mac8);
	bool eq = sodium_memcmp(mac8, raw + 16, 8) == 0;
	if (!eq || id != enterprise_id || step > cur || step < cur - window)
		return false;
	if (matched)
		*matched = step;
	return true;
}

/* The enterprise's check-in secret (caller frees); NULL with *rc = 0 if no such enterprise. */
static char *load_secret(struct db *db, int64_t tenant_id, int64_t enterprise_id, int *rc,
			 struct err *e)
{
	struct db_stmt *st = NULL;
	char *secret = NULL;
	*rc = db_queryf(db, &st, e,
			"SELECT checkin_secret FROM enterprises WHERE tenant_id = $1 AND id = $2",
			"ii", tenant_id, enterprise_id);
	if (*rc)
		return NULL;
	int s = db_step(st, e);
	if (s == DB_ROW)
		secret = xstrdup(db_column_text(st, 0));
	db_finalize(st);
	*rc = s < 0 ? s : 0;
	return secret;
}

static void free_secret(char *secret)
{
	if (!secret)
		return;
	sodium_memzero(secret, strlen(secret));
	free(secret);
}

int ecode_checkin_current(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t now,
			  struct ecode_checkin *out, struct err *e)
{
	int rc;
	char *secret = load_secret(db, tenant_id, enterprise_id, &rc, e);
	if (rc)
		return rc;
	if (!secret)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该企业", "no such enterprise");
	size_t n = strlen(secret);
	if (n < CHECKIN_SECRET_MIN) {
		free_secret(secret);
		return err_set(e, ERR_CONFLICT, "checkin_secret", "该企业没有可用的签到密钥",
			       "the enterprise has no usable check-in secret");
	}
	memset(out, 0, sizeof *out);
	out->enterprise_id = enterprise_id;
	out->step = ecode_checkin_step(now);
	ecode_checkin_code_at(secret, n, (uint64_t)out->step, out->code);
	ecode_checkin_token_at(secret, n, enterprise_id, out->step, out->token);
	out->next_at = (out->step + 1) * ECODE_CHECKIN_STEP_MS;
	out->expires_at = (out->step + 1 + ECODE_CHECKIN_WINDOW) * ECODE_CHECKIN_STEP_MS;
	free_secret(secret);
	return 0;
}

int ecode_checkin_check(struct db *db, struct ecode_checkin_attempt *a, struct err *e)
{
	int64_t step_named = 0, failures = 0;
	int rc;
	a->ok = false;
	a->limited = false;
	a->step = 0;
	if (a->token) {
		if (!ecode_checkin_token_parse(a->token, &a->enterprise_id, &step_named)) {
			a->enterprise_id = 0;
			return 0;
		}
	} else if (a->enterprise_id <= 0 || !a->code)
		return 0;
	/* The attempts are the audit rows of ecode_checkin_record (index on entity, entity_id). */
	rc = db_query_i64(
		db, &failures, e,
		"SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND entity = 'checkin' "
		"AND entity_id = $2 AND action = 'verify_failed' AND at > $3",
		"iii", a->tenant_id, a->enterprise_id, a->now - ECODE_CHECKIN_LOCK_MS);
	if (rc)
		return rc;
	if (failures >= ECODE_CHECKIN_MAX_FAILURES) {
		a->limited = true;
		return 0;
	}
	char *secret = load_secret(db, a->tenant_id, a->enterprise_id, &rc, e);
	if (rc || !secret)
		return rc;
	size_t n = strlen(secret);
	if (n >= CHECKIN_SECRET_MIN) {
		if (a->token)
			a->ok = ecode_checkin_token_ok(secret, n, a->enterprise_id, a->token,
						       a->now, a->window, &a->step);
		else
			a->ok = ecode_checkin_code_ok(secret, n, a->code, a->now, a->window,
						      &a->step);
	}
	free_secret(secret);
	return 0;
}

int ecode_checkin_verify(struct db *db, void *arg, struct err *e)
{
	struct ecode_checkin_attempt *a = arg;
	int rc = ecode_checkin_check(db, a, e);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:s,s:b,s:I}", "method", a->token ? "qr" : "code", "ok", a->ok,
				"at", (json_int_t)a->now);
	if (a->ok)
		json_object_set_new(sum, "step", json_integer(a->step));
	if (a->limited)
		json_object_set_new(sum, "limited", json_true());
	rc = audit_append(db, a->who, a->tenant_id, "checkin", a->enterprise_id,
			  a->ok ? "verify" : "verify_failed", sum, e);
	json_decref(sum);
	return rc;
}
