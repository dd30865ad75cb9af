/*
 * ecode.h — 政企码 (the enterprise code) and the rotating on-site check-in code.
 *
 * The enterprise code is a signed token printed as a QR code at the
 * enterprise's door: inspectors scan it before entering, the enterprise uses
 * it to raise requests. It is verified offline: no table of issued codes,
 * only the tenant's Ed25519 public keys (cached in memory after first use).
 *
 * Token bytes (then base64url without padding):
 *   payload = 0x01 (version)
 *             varint tenant_id, varint enterprise_id, varint kid, varint issued_day
 *   token   = payload || Ed25519(secret key of (tenant, kid), payload)  (64 bytes)
 * Varints are unsigned LEB128, minimal length, at most 63 bits; issued_day is
 * days since 1970-01-01 UTC. The signature covers every payload byte, and the
 * decoder accepts only the one canonical text of the bytes, so any change of
 * the token text is rejected.
 *
 * Signing keys: one current key per tenant (the highest kid) in signing_keys.
 * ecode_ensure_key creates kid 1 on first use; ecode_rotate_key adds the next
 * kid. Older keys keep verifying the codes already printed.
 *
 * The check-in code proves an inspector is on site: a 6-digit code shown by
 * the enterprise, derived from enterprises.checkin_secret like RFC 6238
 * (TOTP) with HMAC-SHA256 and a 60 s step; the HMAC key is the bytes of the
 * stored secret text. Its QR variant is
 *   base64url(enterprise_id (8 bytes BE) || step (8 bytes BE) || mac (8 bytes))
 *   mac = HMAC-SHA256(secret, "yq-checkin-qr" || enterprise_id || step)[0..8)
 * A code of step s is accepted while the current step is s .. s+window
 * (window 1: a code still works up to 119 s after it appeared, never longer).
 */
#ifndef YQ_ECODE_H
#define YQ_ECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "core/authz.h"

struct db;

#define ECODE_VERSION	      1
#define ECODE_TOKEN_MAX	      160 /* longest token text + NUL */
#define ECODE_CHECKIN_STEP_MS 60000
#define ECODE_CHECKIN_WINDOW  1 /* previous steps accepted besides the current one */
/* Guessing guard: after this many failed attempts on one enterprise within
 * ECODE_CHECKIN_LOCK_MS, its codes are not checked until the failures age out. */
#define ECODE_CHECKIN_MAX_FAILURES 10
#define ECODE_CHECKIN_LOCK_MS	   (10 * 60 * 1000)
#define ECODE_CHECKIN_TOKEN_MAX	   40 /* check-in QR token text + NUL (32 characters) */
#define ECODE_QR_SCALE_DEFAULT	   8
#define ECODE_QR_SCALE_MAX	   20
#define ECODE_QR_QUIET		   4 /* quiet zone, in modules, on each side */

/* What a verified enterprise code says. */
struct ecode_claims {
	int64_t tenant_id;
	int64_t enterprise_id;
	int64_t kid;	    /* signing key id within the tenant */
	int64_t issued_day; /* days since 1970-01-01 UTC */
};

/* Write-job argument of ecode_ensure_key and ecode_rotate_key. */
struct ecode_key_job {
	const struct actor *who; /* for the audit row; NULL = the system */
	int64_t tenant_id;
	int64_t now;
	int64_t kid;  /* out: the current kid after the job */
	bool created; /* out: a key was created */
};

/*
 * Write job (arg = struct ecode_key_job *): give the tenant its first signing
 * key (kid 1) unless it has one. Creating a key appends an audit row
 * (entity "signing_key").
 */
int ecode_ensure_key(struct db *db, void *arg, struct err *e);
/* Write job: make a new current key (the next kid); old keys still verify. */
int ecode_rotate_key(struct db *db, void *arg, struct err *e);

/*
 * Sign the code of an enterprise with the tenant's current key into
 * out[ECODE_TOKEN_MAX]; *kid gets the key id. The enterprise is not looked
 * up. ERR_NOT_FOUND with field "key" if the tenant has no key yet (run
 * ecode_ensure_key first).
 */
int ecode_sign(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t now,
	       char out[ECODE_TOKEN_MAX], int64_t *kid, struct err *e);

/*
 * Verify a token. tenant_id > 0 requires the token to be that tenant's;
 * 0 takes the tenant from the token (public pages). Any malformed, altered or
 * foreign token is ERR_NOT_FOUND with field "token" and one message, so the
 * reason is not revealed; database failures are other codes. Does not look
 * the enterprise up.
 */
int ecode_verify(struct db *db, int64_t tenant_id, const char *token, struct ecode_claims *out,
		 struct err *e);

/* Forget the cached public keys (tests that reopen databases; after restoring a backup). */
void ecode_cache_clear(void);

/* "{public_base}/e/{token}" appended to out (a trailing '/' of public_base is dropped). */
int ecode_url(const char *public_base, const char *token, struct buf *out);

/*
 * QR code of text (error correction M) as an SVG document appended to out:
 * one <path> of the dark modules, a quiet zone of 4 modules, and caption
 * (UTF-8, XML-escaped; may be NULL) centred under the code.
 */
int ecode_qr_svg(const char *text, const char *caption, struct buf *out, struct err *e);
/*
 * The same as an 8-bit grayscale PNG appended to out, scale (1..20) pixels
 * per module: (modules + 8) * scale pixels square.
 */
int ecode_qr_png(const char *text, int scale, struct buf *out, struct err *e);

/* ---- the rotating check-in code ---- */

/* The step of a time: floor(now_ms / 60000). */
int64_t ecode_checkin_step(int64_t now_ms);
/* RFC 4226 dynamic truncation of HMAC-SHA256(key, counter as 8 bytes BE),
 * 6 decimal digits into out[7]. */
void ecode_checkin_code_at(const void *key, size_t keylen, uint64_t counter, char out[7]);
/* The QR token of (enterprise, step) into out[ECODE_CHECKIN_TOKEN_MAX]. */
void ecode_checkin_token_at(const void *key, size_t keylen, int64_t enterprise_id, int64_t step,
			    char out[ECODE_CHECKIN_TOKEN_MAX]);
/* The enterprise id and step a QR token names, without checking its mac; false if malformed. */
bool ecode_checkin_token_parse(const char *token, int64_t *enterprise_id, int64_t *step);
/*
 * Is code (6 digits) the code of a step in [step(now) - window, step(now)]?
 * *matched gets that step (may be NULL). Compares in constant time and
 * always computes every step of the window.
 */
bool ecode_checkin_code_ok(const void *key, size_t keylen, const char *code, int64_t now,
			   int window, int64_t *matched);
/* Is token a valid QR token of enterprise_id for a step in the same window? */
bool ecode_checkin_token_ok(const void *key, size_t keylen, int64_t enterprise_id,
			    const char *token, int64_t now, int window, int64_t *matched);

/* The current check-in code of an enterprise. */
struct ecode_checkin {
	int64_t enterprise_id;
	int64_t step;
	char code[7];
	char token[ECODE_CHECKIN_TOKEN_MAX];
	int64_t next_at;    /* ms: the next code appears */
	int64_t expires_at; /* ms: this code stops being accepted (end of the window) */
};

/* Compute the current check-in code; ERR_NOT_FOUND if the enterprise is not the tenant's. */
int ecode_checkin_current(struct db *db, int64_t tenant_id, int64_t enterprise_id, int64_t now,
			  struct ecode_checkin *out, struct err *e);

/* A verification attempt: give either enterprise_id + code, or token. */
struct ecode_checkin_attempt {
	const struct actor *who; /* the inspector, for the audit row */
	int64_t tenant_id;
	int64_t enterprise_id; /* with code; out: the enterprise the token names */
	const char *code;
	const char *token;
	int64_t now;
	int window;   /* ECODE_CHECKIN_WINDOW */
	bool ok;      /* out */
	bool limited; /* out: too many recent failures on this enterprise; not checked */
	int64_t step; /* out: the step that matched */
};

/*
 * Check an attempt against the enterprise's secret. Returns 0 with a->ok set
 * (an unknown enterprise or a malformed token is simply not ok); negative on
 * database errors only. A 6-digit code can be guessed, so an enterprise with
 * ECODE_CHECKIN_MAX_FAILURES failed attempts (audit rows "verify_failed")
 * in the last ECODE_CHECKIN_LOCK_MS before a->now gets a->limited instead.
 */
int ecode_checkin_check(struct db *db, struct ecode_checkin_attempt *a, struct err *e);

/*
 * Write job (arg = struct ecode_checkin_attempt *): ecode_checkin_check, then
 * the audit row of the attempt (entity "checkin", entity_id the enterprise or
 * 0, action "verify" or "verify_failed"). Running on the single writer makes
 * the guessing guard exact: concurrent attempts are counted one by one.
 * Returns 0 whether or not the code was right; see a->ok and a->limited.
 */
int ecode_checkin_verify(struct db *db, void *arg, struct err *e);

#endif
