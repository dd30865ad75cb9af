/*
 * test_ecode.c — 政企码 (src/core/ecode.c) against a real SQLite database in a
 * temporary directory: signing keys and rotation, the token format and its
 * refusals (every bit flip, truncation, extension, foreign tenant, wrong kid,
 * non-canonical encodings), the check-in code against RFC 6238 vectors and
 * an HMAC computed here with libsodium, its time window, and the QR images
 * (PNG decoded back with libpng; SVG structure and escaping).
 *
 * Write jobs run directly inside a write transaction, as the pool does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>
#include <qrencode.h>
#include <sodium.h>

#include "base/util.h"
#include "core/ecode.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define B64	 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define NOW	 1767225600000LL		    /* 2026-01-01T00:00:00Z */
#define RFC_SEED "12345678901234567890123456789012" /* RFC 6238 SHA-256 seed */

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
	int64_t tenant, other_tenant;
	int64_t ent, other_ent; /* one enterprise in each tenant */
	struct actor who;
};

static int64_t add_tenant(struct db *db, const char *code)
{
	struct err e = {0};
	int64_t id = 0;
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_query_i64(db, &id, &e,
				      "INSERT INTO tenants (code, name, created_at) "
				      "VALUES ($1, $1, 0) RETURNING id",
				      "t", code),
			 0);
	assert_int_equal(db_commit(db, &e), 0);
	return id;
}

static int64_t add_enterprise(struct db *db, int64_t tenant, const char *code, const char *secret)
{
	struct err e = {0};
	int64_t id = 0;
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_query_i64(db, &id, &e,
				      "INSERT INTO enterprises (tenant_id, credit_code, name, "
				      "checkin_secret, created_at, updated_at) "
				      "VALUES ($1, $2, $2, $3, 0, 0) RETURNING id",
				      "itt", tenant, code, secret),
			 0);
	assert_int_equal(db_commit(db, &e), 0);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-ecode-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	f->tenant = add_tenant(f->db, "erqi");
	f->other_tenant = add_tenant(f->db, "other");
	f->ent = add_enterprise(f->db, f->tenant, "91440101MA5CJQ4N59", RFC_SEED);
	f->other_ent = add_enterprise(f->db, f->other_tenant, "91350200776049653A",
				      "another-secret-of-32-characters!");
	f->who.tenant_id = f->tenant;
	snprintf(f->who.login, sizeof f->who.login, "tester");
	ecode_cache_clear(); /* every fixture is a new database with the same tenant ids */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	ecode_cache_clear();
	db_close(f->db);
	unlink(f->path);
	snprintf(p, sizeof p, "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run a write job in its own transaction: commit on success, roll back on failure. */
static int run(struct fixture *f, db_write_fn fn, void *arg, struct err *e)
{
	int rc;

	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	rc = fn(f->db, arg, e);
	if (rc == 0)
		assert_int_equal(db_commit(f->db, e), 0);
	else
		db_rollback(f->db);
	return rc;
}

static int64_t ensure_key(struct fixture *f, int64_t tenant)
{
	struct ecode_key_job j = {.who = &f->who, .tenant_id = tenant, .now = NOW};
	struct err e;
	if (run(f, ecode_ensure_key, &j, &e))
		fail_msg("ensure key: %s", e.message);
	return j.kid;
}

static int64_t rotate_key(struct fixture *f, int64_t tenant)
{
	struct ecode_key_job j = {.who = &f->who, .tenant_id = tenant, .now = NOW};
	struct err e;
	if (run(f, ecode_rotate_key, &j, &e))
		fail_msg("rotate key: %s", e.message);
	assert_true(j.created);
	return j.kid;
}

static void sign(struct fixture *f, int64_t tenant, int64_t ent, char tok[ECODE_TOKEN_MAX],
		 int64_t *kid)
{
	struct err e;
	if (ecode_sign(f->db, tenant, ent, NOW, tok, kid, &e))
		fail_msg("sign: %s", e.message);
}

static bool verifies(struct fixture *f, int64_t tenant, const char *tok)
{
	struct err e;
	struct ecode_claims c;
	int rc = ecode_verify(f->db, tenant, tok, &c, &e);
	if (rc && rc != ERR_NOT_FOUND)
		fail_msg("verify: unexpected error %d %s", rc, e.message);
	if (rc)
		assert_string_equal(e.field, "token");
	return rc == 0;
}

static int64_t count(struct fixture *f, const char *sql, int64_t tenant)
{
	struct err e;
	int64_t n = -1;
	assert_int_equal(db_query_i64(f->db, &n, &e, sql, "i", tenant), 0);
	return n;
}

/* The test's own encoder of the token format (ecode.h), to forge tokens. */
static size_t put_varint(unsigned char *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* Sign payload with the secret key (tenant, kid) read from the database. */
static void forge(struct fixture *f, int64_t key_tenant, int64_t key_kid,
		  const unsigned char *payload, size_t plen, char out[ECODE_TOKEN_MAX])
{
	struct err e;
	struct db_stmt *st = NULL;
	unsigned char sk[crypto_sign_SECRETKEYBYTES], tok[256];
	size_t n = 0;

	assert_int_equal(
		db_queryf(f->db, &st, &e,
			  "SELECT secret_key FROM signing_keys WHERE tenant_id = $1 AND kid = $2",
			  "ii", key_tenant, key_kid),
		0);
	assert_int_equal(db_step(st, &e), DB_ROW);
	const char *txt = db_column_text(st, 0);
	assert_int_equal(sodium_base642bin(sk, sizeof sk, txt, strlen(txt), NULL, &n, NULL, B64),
			 0);
	assert_int_equal(n, sizeof sk);
	db_finalize(st);
	memcpy(tok, payload, plen);
	crypto_sign_detached(tok + plen, NULL, payload, plen, sk);
	sodium_bin2base64(out, ECODE_TOKEN_MAX, tok, plen + crypto_sign_BYTES, B64);
}

static size_t payload(unsigned char *p, int64_t tenant, int64_t ent, int64_t kid, int64_t day)
{
	size_t n = 0;
	p[n++] = 1;
	n += put_varint(p + n, (uint64_t)tenant);
	n += put_varint(p + n, (uint64_t)ent);
	n += put_varint(p + n, (uint64_t)kid);
	n += put_varint(p + n, (uint64_t)day);
	return n;
}

static size_t decode(const char *tok, unsigned char *out, size_t max)
{
	size_t n = 0;
	assert_int_equal(sodium_base642bin(out, max, tok, strlen(tok), NULL, &n, NULL, B64), 0);
	return n;
}

/* ---- keys and tokens ---- */

static void test_sign_verify_round_trip(void **state)
{
	struct fixture *f = *state;
	char tok[ECODE_TOKEN_MAX];
	int64_t kid = 0;
	struct err e;
	struct ecode_claims c;

	/* no key yet: signing says so, verification of anything fails */
	assert_int_equal(ecode_sign(f->db, f->tenant, f->ent, NOW, tok, &kid, &e), ERR_NOT_FOUND);
	assert_string_equal(e.field, "key");

	assert_int_equal(ensure_key(f, f->tenant), 1);
	assert_int_equal(ensure_key(f, f->tenant), 1); /* idempotent */
	assert_int_equal(
		count(f, "SELECT COUNT(*) FROM signing_keys WHERE tenant_id = $1", f->tenant), 1);
	assert_int_equal(count(f,
			       "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
			       "entity = 'signing_key'",
			       f->tenant),
			 1);

	sign(f, f->tenant, f->ent, tok, &kid);
	assert_int_equal(kid, 1);
	memset(&c, 0, sizeof c);
	assert_int_equal(ecode_verify(f->db, 0, tok, &c, &e), 0);
	assert_int_equal(c.tenant_id, f->tenant);
	assert_int_equal(c.enterprise_id, f->ent);
	assert_int_equal(c.kid, 1);
	assert_int_equal(c.issued_day, NOW / 86400000);
	assert_true(verifies(f, f->tenant, tok));

	/* the documented bytes: version, varints, 64-byte signature */
	unsigned char raw[256], want[64];
	size_t n = decode(tok, raw, sizeof raw);
	size_t plen = payload(want, f->tenant, f->ent, 1, NOW / 86400000);
	assert_int_equal(n, plen + crypto_sign_BYTES);
	assert_memory_equal(raw, want, plen);
	assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789-_"),
			 strlen(tok));

	/* the URL */
	struct buf url;
	buf_init(&url, 0);
	assert_int_equal(ecode_url("https://yqb.example.cn/", tok, &url), 0);
	assert_int_equal(strncmp(url.p, "https://yqb.example.cn/e/", 25), 0);
	assert_string_equal(url.p + 25, tok);
	buf_release(&url);
}

static void test_every_bit_flip_rejected(void **state)
{
	struct fixture *f = *state;
	char tok[ECODE_TOKEN_MAX], t2[ECODE_TOKEN_MAX];
	unsigned char raw[256];

	ensure_key(f, f->tenant);
	sign(f, f->tenant, f->ent, tok, NULL);
	assert_true(verifies(f, 0, tok));
	size_t n = decode(tok, raw, sizeof raw);

	/* every bit of the decoded bytes */
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			raw[i] ^= (unsigned char)(1u << b);
			sodium_bin2base64(t2, sizeof t2, raw, n, B64);
			if (verifies(f, 0, t2))
				fail_msg("byte %zu bit %d flipped still verifies", i, b);
			raw[i] ^= (unsigned char)(1u << b);
		}
	/* every bit of the text, including the unused low bits of the last character */
	size_t len = strlen(tok);
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(t2, tok, len + 1);
			t2[i] = (char)(t2[i] ^ (1 << b));
			if (t2[i] == '\0')
				continue;
			if (verifies(f, 0, t2))
				fail_msg("character %zu bit %d flipped still verifies: %s", i, b,
					 t2);
		}
	assert_true(verifies(f, 0, tok));
}

static void test_truncated_and_extended_rejected(void **state)
{
	struct fixture *f = *state;
	char tok[ECODE_TOKEN_MAX], t2[ECODE_TOKEN_MAX + 8];
	unsigned char raw[256];

	ensure_key(f, f->tenant);
	sign(f, f->tenant, f->ent, tok, NULL);
	size_t len = strlen(tok);
	for (size_t k = 0; k < len; k++) {
		memcpy(t2, tok, k);
		t2[k] = '\0';
		if (verifies(f, 0, t2))
			fail_msg("truncated to %zu characters still verifies", k);
	}
	static const char *const tails[] = {"A",    "-", "_",  "0", "AA", "AAA",
					    "AAAA", "=", "==", " ", "\n"};
	for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
		snprintf(t2, sizeof t2, "%s%s", tok, tails[i]);
		if (verifies(f, 0, t2))
			fail_msg("extended with '%s' still verifies", tails[i]);
	}
	/* bytes dropped from or added to the signature, re-encoded canonically */
	size_t n = decode(tok, raw, sizeof raw);
	sodium_bin2base64(t2, sizeof t2, raw, n - 1, B64);
	assert_false(verifies(f, 0, t2));
	raw[n] = 0;
	sodium_bin2base64(t2, sizeof t2, raw, n + 1, B64);
	assert_false(verifies(f, 0, t2));
	assert_false(verifies(f, 0, NULL));
	assert_false(verifies(f, 0, ""));
	/* a very long token */
	char longtok[400];
	memset(longtok, 'A', sizeof longtok - 1);
	longtok[sizeof longtok - 1] = '\0';
	assert_false(verifies(f, 0, longtok));
}

static void test_other_tenant_rejected(void **state)
{
	struct fixture *f = *state;
	char tok[ECODE_TOKEN_MAX], forged[ECODE_TOKEN_MAX];
	unsigned char p[64];

	ensure_key(f, f->tenant);
	sign(f, f->tenant, f->ent, tok, NULL);
	/* B has no key at all */
	assert_false(verifies(f, f->other_tenant, tok));
	/* B has its own kid 1 */
	ensure_key(f, f->other_tenant);
	assert_true(verifies(f, f->tenant, tok));
	assert_false(verifies(f, f->other_tenant, tok));
	/* a payload claiming tenant B (and B's enterprise), signed with A's kid 1 */
	size_t n = payload(p, f->other_tenant, f->other_ent, 1, NOW / 86400000);
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	assert_false(verifies(f, f->other_tenant, forged));
	/* the same payload signed with B's key does verify: the forge helper is right */
	forge(f, f->other_tenant, 1, p, n, forged);
	assert_true(verifies(f, f->other_tenant, forged));
	/* B's token is not A's */
	assert_false(verifies(f, f->tenant, forged));
}

static void test_rotation_keeps_old_tokens(void **state)
{
	struct fixture *f = *state;
	char old[ECODE_TOKEN_MAX], cur[ECODE_TOKEN_MAX], forged[ECODE_TOKEN_MAX];
	unsigned char p[64];
	int64_t kid = 0;

	ensure_key(f, f->tenant);
	sign(f, f->tenant, f->ent, old, &kid);
	assert_int_equal(kid, 1);
	assert_true(verifies(f, 0, old)); /* kid 1 is now cached */

	assert_int_equal(rotate_key(f, f->tenant), 2);
	assert_int_equal(ensure_key(f, f->tenant), 2);
	sign(f, f->tenant, f->ent, cur, &kid);
	assert_int_equal(kid, 2);
	assert_true(verifies(f, 0, cur)); /* kid 2 is loaded on first sight */
	assert_true(verifies(f, 0, old));
	assert_string_not_equal(old, cur);
	assert_int_equal(count(f,
			       "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
			       "entity = 'signing_key' AND action = 'rotate'",
			       f->tenant),
			 1);

	/* wrong kid: a payload naming kid 2 signed with key 1, and kid 1 signed with key 2 */
	size_t n = payload(p, f->tenant, f->ent, 2, NOW / 86400000);
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	n = payload(p, f->tenant, f->ent, 1, NOW / 86400000);
	forge(f, f->tenant, 2, p, n, forged);
	assert_false(verifies(f, 0, forged));
	/* a kid that does not exist */
	n = payload(p, f->tenant, f->ent, 3, NOW / 86400000);
	forge(f, f->tenant, 2, p, n, forged);
	assert_false(verifies(f, 0, forged));

	/* a cold cache (a restarted server) verifies both */
	ecode_cache_clear();
	assert_true(verifies(f, 0, old));
	assert_true(verifies(f, 0, cur));
}

static void test_noncanonical_payload_rejected(void **state)
{
	struct fixture *f = *state;
	char forged[ECODE_TOKEN_MAX];
	unsigned char p[64];
	size_t n;

	ensure_key(f, f->tenant);
	/* validly signed, but malformed payloads: the signature alone is not enough */
	/* tenant as a non-minimal varint (0x81 0x00 = 1) */
	n = 0;
	p[n++] = 1;
	p[n++] = (unsigned char)(0x80 | f->tenant);
	p[n++] = 0;
	n += put_varint(p + n, (uint64_t)f->ent);
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 20000);
	assert_true(f->tenant < 0x80);
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	/* version 2 */
	n = payload(p, f->tenant, f->ent, 1, 20000);
	p[0] = 2;
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	/* a trailing byte after the four fields */
	n = payload(p, f->tenant, f->ent, 1, 20000);
	p[n++] = 0;
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	/* enterprise 0 */
	n = payload(p, f->tenant, 0, 1, 20000);
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	/* a varint of 10 bytes (beyond 63 bits) */
	n = 0;
	p[n++] = 1;
	n += put_varint(p + n, (uint64_t)f->tenant);
	for (int i = 0; i < 9; i++)
		p[n++] = 0xff;
	p[n++] = 0x01;
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 20000);
	forge(f, f->tenant, 1, p, n, forged);
	assert_false(verifies(f, 0, forged));
	/* and the well-formed one verifies */
	n = payload(p, f->tenant, f->ent, 1, 20000);
	forge(f, f->tenant, 1, p, n, forged);
	assert_true(verifies(f, 0, forged));
}

/* ---- check-in codes ---- */

/* HMAC-SHA256 TOTP computed here with libsodium, independently of ecode.c. */
static void totp_ref(const char *secret, uint64_t counter, char out[7])
{
	unsigned char msg[8], mac[32];
	crypto_auth_hmacsha256_state st;
	for (int i = 0; i < 8; i++)
		msg[i] = (unsigned char)(counter >> (56 - 8 * i));
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, msg, 8);
	crypto_auth_hmacsha256_final(&st, mac);
	int off = mac[31] & 15;
	unsigned long bin = ((unsigned long)(mac[off] & 0x7f) << 24) |
			    ((unsigned long)mac[off + 1] << 16) |
			    ((unsigned long)mac[off + 2] << 8) | mac[off + 3];
	snprintf(out, 7, "%06lu", bin % 1000000);
}

static void test_totp_vectors(void **state)
{
	(void)state;
	/* RFC 6238 appendix B, SHA-256 column (8 digits; ours are the last 6), T = time / 30 */
	static const struct {
		uint64_t time;
		const char *totp8;
	} v[] = {
		{59, "46119246"},	  {1111111109, "68084774"}, {1111111111, "67062674"},
		{1234567890, "91819424"}, {2000000000, "90698825"}, {20000000000ULL, "77737706"},
	};
	char got[7], ref[7];
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		uint64_t t = v[i].time / 30;
		ecode_checkin_code_at(RFC_SEED, strlen(RFC_SEED), t, got);
		assert_string_equal(got, v[i].totp8 + 2);
		totp_ref(RFC_SEED, t, ref);
		assert_string_equal(got, ref);
		/* and our 60 s step: the code of counter t is accepted during minute t */
		int64_t matched = -1;
		assert_true(ecode_checkin_code_ok(RFC_SEED, strlen(RFC_SEED), got,
						  (int64_t)t * 60000 + 1234, 1, &matched));
		assert_int_equal(matched, (int64_t)t);
	}
	/* a few more counters against the reference, with another key */
	const char *key = "q7Vb1k0mJ0dY0U2n9z3r8cXwWk5mQe3pTt6yHh2LkGs";
	for (uint64_t c = 29000000; c < 29000050; c++) {
		ecode_checkin_code_at(key, strlen(key), c, got);
		totp_ref(key, c, ref);
		assert_string_equal(got, ref);
	}
	assert_int_equal(ecode_checkin_step(NOW), NOW / 60000);
}

static void test_checkin_window(void **state)
{
	(void)state;
	const char *k = RFC_SEED;
	size_t kl = strlen(k);
	int64_t t = NOW / 60000 + 7, m = -1;
	int64_t at = t * 60000 + 30000; /* the code is read in the middle of step t */
	char code[7], tok[ECODE_CHECKIN_TOKEN_MAX];

	ecode_checkin_code_at(k, kl, (uint64_t)t, code);
	ecode_checkin_token_at(k, kl, 42, t, tok);
	assert_int_equal(strlen(tok), 32);

	/* step t and t+1 (59 s later) are fine; t+2 and t-1 are not */
	assert_true(ecode_checkin_code_ok(k, kl, code, at, 1, &m));
	assert_int_equal(m, t);
	assert_true(ecode_checkin_code_ok(k, kl, code, at + 59000, 1, &m));
	assert_int_equal(m, t);
	assert_true(ecode_checkin_code_ok(k, kl, code, (t + 2) * 60000 - 1, 1, NULL));
	assert_false(ecode_checkin_code_ok(k, kl, code, (t + 2) * 60000, 1, NULL));
	assert_false(ecode_checkin_code_ok(k, kl, code, at + 120000, 1, NULL));
	assert_false(ecode_checkin_code_ok(k, kl, code, at - 60000, 1, NULL));
	assert_false(ecode_checkin_code_ok(k, kl, code, t * 60000 - 1, 1, NULL));
	/* window 0: only the current step */
	assert_true(ecode_checkin_code_ok(k, kl, code, at, 0, NULL));
	assert_false(ecode_checkin_code_ok(k, kl, code, at + 59000, 0, NULL));

	/* the QR token: same window, bound to the enterprise */
	assert_true(ecode_checkin_token_ok(k, kl, 42, tok, at, 1, &m));
	assert_int_equal(m, t);
	assert_true(ecode_checkin_token_ok(k, kl, 42, tok, at + 59000, 1, NULL));
	assert_false(ecode_checkin_token_ok(k, kl, 42, tok, (t + 2) * 60000, 1, NULL));
	assert_false(ecode_checkin_token_ok(k, kl, 42, tok, at - 60000, 1, NULL));
	assert_false(ecode_checkin_token_ok(k, kl, 43, tok, at, 1, NULL));
	assert_false(ecode_checkin_token_ok("another key of thirty-two bytes!", 32, 42, tok, at, 1,
					    NULL));
	int64_t id = 0, step = 0;
	assert_true(ecode_checkin_token_parse(tok, &id, &step));
	assert_int_equal(id, 42);
	assert_int_equal(step, t);

	/* every bit flip of the QR token's bytes is refused */
	unsigned char raw[24];
	char t2[ECODE_CHECKIN_TOKEN_MAX];
	assert_int_equal(decode(tok, raw, sizeof raw), 24);
	for (size_t i = 0; i < sizeof raw; i++)
		for (int b = 0; b < 8; b++) {
			raw[i] ^= (unsigned char)(1u << b);
			sodium_bin2base64(t2, sizeof t2, raw, sizeof raw, B64);
			int64_t want_id =
				i < 8 ? (int64_t)((uint64_t)42 ^
						  ((uint64_t)1 << (8 * (7 - i) + (size_t)b)))
				      : 42;
			if (ecode_checkin_token_ok(k, kl, want_id, t2, at, 1, NULL) ||
			    ecode_checkin_token_ok(k, kl, 42, t2, at, 1, NULL))
				fail_msg("check-in token byte %zu bit %d flipped still verifies", i,
					 b);
			raw[i] ^= (unsigned char)(1u << b);
		}

	/* malformed codes and tokens */
	static const char *const bad[] = {"",	    "12345",  "1234567",     "12a456",
					  " 12345", "123 45", "１２３４５６"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(ecode_checkin_code_ok(k, kl, bad[i], at, 1, NULL));
	assert_false(ecode_checkin_code_ok(k, kl, NULL, at, 1, NULL));
	char wrong[7];
	memcpy(wrong, code, sizeof wrong);
	wrong[5] = (char)('0' + (wrong[5] - '0' + 1) % 10);
	assert_false(ecode_checkin_code_ok(k, kl, wrong, at, 1, NULL));
	assert_false(ecode_checkin_token_parse("", &id, &step));
	assert_false(ecode_checkin_token_parse("AAAA", &id, &step));
	assert_false(ecode_checkin_token_ok(k, kl, 42, NULL, at, 1, NULL));
	char longer[ECODE_CHECKIN_TOKEN_MAX + 2];
	snprintf(longer, sizeof longer, "%sA", tok);
	assert_false(ecode_checkin_token_ok(k, kl, 42, longer, at, 1, NULL));
}

static void test_checkin_with_database(void **state)
{
	struct fixture *f = *state;
	struct ecode_checkin c;
	struct err e;
	int64_t at = NOW + 12345;

	assert_int_equal(ecode_checkin_current(f->db, f->tenant, f->ent, at, &c, &e), 0);
	assert_int_equal(c.step, at / 60000);
	assert_int_equal(c.next_at, (c.step + 1) * 60000);
	assert_int_equal(c.expires_at, (c.step + 2) * 60000);
	char ref[7];
	totp_ref(RFC_SEED, (uint64_t)c.step, ref);
	assert_string_equal(c.code, ref);
	/* other tenant's enterprise: not found */
	assert_int_equal(ecode_checkin_current(f->db, f->tenant, f->other_ent, at, &c, &e),
			 ERR_NOT_FOUND);
	assert_int_equal(ecode_checkin_current(f->db, f->tenant, f->ent, at, &c, &e), 0);

	struct ecode_checkin_attempt a = {.tenant_id = f->tenant,
					  .enterprise_id = f->ent,
					  .code = c.code,
					  .now = at + 59000,
					  .window = 1};
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_true(a.ok);
	assert_int_equal(a.step, c.step);
	a.now = c.expires_at;
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_false(a.ok);
	/* the same code for the other tenant (its enterprise id does not exist there) */
	a = (struct ecode_checkin_attempt){.tenant_id = f->other_tenant,
					   .enterprise_id = f->ent,
					   .code = c.code,
					   .now = at,
					   .window = 1};
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_false(a.ok);
	/* by QR token: the enterprise comes from the token */
	a = (struct ecode_checkin_attempt){
		.tenant_id = f->tenant, .token = c.token, .now = at, .window = 1};
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_true(a.ok);
	assert_int_equal(a.enterprise_id, f->ent);
	a = (struct ecode_checkin_attempt){
		.tenant_id = f->tenant, .token = "garbage", .now = at, .window = 1};
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_false(a.ok);
	assert_int_equal(a.enterprise_id, 0);

	/* an enterprise without a usable secret cannot show or verify a code */
	int64_t weak = add_enterprise(f->db, f->tenant, "913502000728319549", "short");
	assert_int_equal(ecode_checkin_current(f->db, f->tenant, weak, at, &c, &e), ERR_CONFLICT);
	char code[7];
	ecode_checkin_code_at("short", 5, (uint64_t)(at / 60000), code);
	a = (struct ecode_checkin_attempt){.tenant_id = f->tenant,
					   .enterprise_id = weak,
					   .code = code,
					   .now = at,
					   .window = 1};
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_false(a.ok);

	/* each attempt is recorded, right or wrong */
	int64_t real = now_ms();
	char wrong[7], prev[7];
	assert_int_equal(ecode_checkin_current(f->db, f->tenant, f->ent, real, &c, &e), 0);
	ecode_checkin_code_at(RFC_SEED, strlen(RFC_SEED), (uint64_t)(c.step - 1), prev);
	memcpy(wrong, c.code, sizeof wrong);
	do /* neither this step's code nor the previous one's */
		wrong[0] = (char)('0' + (wrong[0] - '0' + 1) % 10);
	while (strcmp(wrong, c.code) == 0 || strcmp(wrong, prev) == 0);
	struct ecode_checkin_attempt good = {.who = &f->who,
					     .tenant_id = f->tenant,
					     .enterprise_id = f->ent,
					     .code = c.code,
					     .now = real,
					     .window = 1};
	struct ecode_checkin_attempt bad = good;
	bad.code = wrong;
	a = good;
	assert_int_equal(run(f, ecode_checkin_verify, &a, &e), 0);
	assert_true(a.ok);
	a = bad;
	assert_int_equal(run(f, ecode_checkin_verify, &a, &e), 0);
	assert_false(a.ok);
	assert_false(a.limited);
	a = (struct ecode_checkin_attempt){.who = &f->who,
					   .tenant_id = f->tenant,
					   .token = "garbage",
					   .now = real,
					   .window = 1};
	assert_int_equal(run(f, ecode_checkin_verify, &a, &e), 0);
	assert_false(a.ok);
	const char *q_ok = "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
			   "entity = 'checkin' AND action = 'verify'";
	const char *q_failed = "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
			       "entity = 'checkin' AND action = 'verify_failed'";
	assert_int_equal(count(f, q_ok, f->tenant), 1);
	assert_int_equal(count(f, q_failed, f->tenant), 2);
	assert_int_equal(count(f,
			       "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
			       "entity = 'checkin' AND entity_id = 0 AND actor_login = 'tester'",
			       f->tenant),
			 1);

	/* the guessing guard: ten failures on one enterprise in ten minutes stop the
	 * checking, even of the right code; other enterprises are not affected;
	 * failures age out */
	for (int i = 1; i < ECODE_CHECKIN_MAX_FAILURES; i++) {
		a = bad;
		assert_int_equal(run(f, ecode_checkin_verify, &a, &e), 0);
		assert_false(a.limited);
	}
	a = good;
	assert_int_equal(run(f, ecode_checkin_verify, &a, &e), 0);
	assert_false(a.ok);
	assert_true(a.limited);
	a = good;
	a.enterprise_id = 0;
	a.code = NULL;
	a.token = c.token; /* by QR token too */
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_true(a.limited);
	a = (struct ecode_checkin_attempt){.tenant_id = f->tenant,
					   .enterprise_id = weak,
					   .code = "000000",
					   .now = real,
					   .window = 1};
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_false(a.limited);
	a = good;
	a.now = real + ECODE_CHECKIN_LOCK_MS + 60000;
	a.window = 100;
	assert_int_equal(ecode_checkin_check(f->db, &a, &e), 0);
	assert_false(a.limited);
	assert_true(a.ok);
	assert_int_equal(count(f, q_failed, f->tenant), 2 + ECODE_CHECKIN_MAX_FAILURES - 1 + 1);
}

/* ---- QR images ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_qr_png(void **state)
{
	(void)state;
	const char *url = "https://yqb.example.cn/e/AQEBAebPASampleTokenTextThatIsLongEnoughToNeed"
			  "ALargerVersion_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP";
	QRcode *qr = QRcode_encodeString8bit(url, 0, QR_ECLEVEL_M);
	assert_non_null(qr);
	int modules = qr->width;
	static const int scales[] = {1, 3, 8, 20};
	struct err e;

	for (size_t s = 0; s < sizeof scales / sizeof *scales; s++) {
		int scale = scales[s];
		uint32_t side = (uint32_t)((modules + 8) * scale);
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(ecode_qr_png(url, scale, &b, &e), 0);
		const unsigned char *p = (const unsigned char *)b.p;
		assert_true(b.len > 33);
		static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
		assert_memory_equal(p, sig, 8);
		assert_int_equal(be32(p + 8), 13);
		assert_memory_equal(p + 12, "IHDR", 4);
		assert_int_equal(be32(p + 16), side);
		assert_int_equal(be32(p + 20), side);
		assert_int_equal(p[24], 8); /* bit depth */
		assert_int_equal(p[25], 0); /* grayscale */

		/* decode it back and compare every module with the encoder's matrix */
		png_image img;
		memset(&img, 0, sizeof img);
		img.version = PNG_IMAGE_VERSION;
		assert_true(png_image_begin_read_from_memory(&img, b.p, b.len));
		img.format = PNG_FORMAT_GRAY;
		unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
		assert_non_null(px);
		assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
		assert_int_equal(img.width, side);
		for (int y = 0; y < modules + 8; y++)
			for (int x = 0; x < modules + 8; x++) {
				bool dark = x >= 4 && y >= 4 && x < modules + 4 &&
					    y < modules + 4 &&
					    (qr->data[(y - 4) * modules + (x - 4)] & 1);
				/* every pixel of the module */
				for (int dy = 0; dy<scale; dy += scale> 1 ? scale - 1 : 1)
					for (int dx = 0; dx<scale; dx += scale> 1 ? scale - 1 : 1) {
						unsigned char v =
							px[(size_t)(y * scale + dy) * side +
							   (size_t)(x * scale + dx)];
						if (v != (dark ? 0 : 255))
							fail_msg("scale %d module %d,%d pixel %u",
								 scale, x, y, v);
					}
			}
		free(px);
		buf_release(&b);
	}
	QRcode_free(qr);

	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(ecode_qr_png(url, 0, &b, &e), ERR_BAD_REQUEST);
	assert_int_equal(ecode_qr_png(url, 21, &b, &e), ERR_BAD_REQUEST);
	assert_int_equal(b.len, 0);
	/* too long for any QR version */
	char *huge = malloc(8000);
	memset(huge, 'x', 7999);
	huge[7999] = '\0';
	assert_int_not_equal(ecode_qr_png(huge, 2, &b, &e), 0);
	assert_int_equal(b.len, 0);
	free(huge);
	buf_release(&b);
}

static size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_qr_svg(void **state)
{
	(void)state;
	const char *url = "http://127.0.0.1:8080/e/AQEBAebPAQ";
	const char *name = "<script>alert(1)</script> 张&李\"商贸\" 'x'";
	struct err e;
	struct buf b;
	QRcode *qr = QRcode_encodeString8bit(url, 0, QR_ECLEVEL_M);
	assert_non_null(qr);
	int side = qr->width + 8;
	QRcode_free(qr);

	buf_init(&b, 0);
	assert_int_equal(ecode_qr_svg(url, name, &b, &e), 0);
	assert_int_equal(strncmp(b.p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44), 0);
	assert_int_equal(strcmp(b.p + b.len - 7, "</svg>\n"), 0);
	assert_int_equal(occurrences(b.p, "<svg"), 1);
	assert_int_equal(occurrences(b.p, "<path"), 1);
	assert_int_equal(occurrences(b.p, "<text"), 1);
	assert_int_equal(occurrences(b.p, "</text>"), 1);
	char vb[64];
	snprintf(vb, sizeof vb, "viewBox=\"0 0 %d ", side);
	assert_non_null(strstr(b.p, vb));
	assert_non_null(strstr(b.p,
			       "&lt;script&gt;alert(1)&lt;/script&gt; 张&amp;李&quot;商贸&quot; "
			       "&#39;x&#39;"));
	assert_null(strstr(b.p, "<script"));
	/* every '<' opens one of our elements; '&' only starts an entity */
	for (const char *p = strchr(b.p, '<'); p; p = strchr(p + 1, '<'))
		assert_true(strncmp(p, "<?xml", 5) == 0 || strncmp(p, "<svg", 4) == 0 ||
			    strncmp(p, "</svg>", 6) == 0 || strncmp(p, "<rect", 5) == 0 ||
			    strncmp(p, "<path", 5) == 0 || strncmp(p, "<text", 5) == 0 ||
			    strncmp(p, "</text>", 7) == 0);
	for (const char *p = strchr(b.p, '&'); p; p = strchr(p + 1, '&'))
		assert_true(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
			    strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
			    strncmp(p, "&#39;", 5) == 0);
	/* the path draws exactly the dark modules: count them from the runs */
	const char *d = strstr(b.p, " d=\"");
	assert_non_null(d);
	long area = 0;
	int x, y, run, back, used;
	for (const char *p = d + 4; *p == 'M'; p += used) {
		assert_int_equal(sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &back, &used), 4);
		assert_int_equal(run, back);
		assert_true(x >= 4 && y >= 4 && x + run <= side - 4 && y < side - 4);
		area += run;
	}
	qr = QRcode_encodeString8bit(url, 0, QR_ECLEVEL_M);
	long dark = 0;
	for (int i = 0; i < qr->width * qr->width; i++)
		dark += qr->data[i] & 1;
	QRcode_free(qr);
	assert_int_equal(area, dark);
	buf_release(&b);

	/* no caption: no text element */
	buf_init(&b, 0);
	assert_int_equal(ecode_qr_svg(url, NULL, &b, &e), 0);
	assert_null(strstr(b.p, "<text"));
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sign_verify_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_bit_flip_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_extended_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_tenant_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_old_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noncanonical_payload_rejected, setup,
						teardown),
		cmocka_unit_test(test_totp_vectors),
		cmocka_unit_test(test_checkin_window),
		cmocka_unit_test_setup_teardown(test_checkin_with_database, setup, teardown),
		cmocka_unit_test(test_qr_png),
		cmocka_unit_test(test_qr_svg),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
