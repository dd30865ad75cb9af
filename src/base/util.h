/*
 * util.h — small shared helpers: clocks, random tokens, hashing, UTF-8,
 * hex and base64url.
 */
#ifndef YQ_UTIL_H
#define YQ_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int64_t now_ms(void);     /* wall clock, UTC milliseconds since the epoch */
int64_t mono_ns(void);    /* monotonic clock, nanoseconds */

/* "2026-11-29T01:36:44.123Z" into out (at least 25 bytes). */
void time_format_utc(int64_t ms, char *out, size_t n);

/* Call once before any crypto or random use; returns 0 or -1. */
int crypto_init(void);

/* n random bytes, base64url without padding, NUL-terminated into out (size >= 4n/3+2). */
void random_token(char *out, size_t outsz, size_t n);

/* SHA-256 of data as 64 lowercase hex characters + NUL into out[65]. */
void sha256_hex(const void *data, size_t len, char out[65]);

void hex_encode(const unsigned char *in, size_t n, char *out); /* out: 2n+1 */

/* base64url without padding; outsz >= 4n/3 + 2. */
void base64url_encode(const void *in, size_t n, char *out, size_t outsz);
/* Decode base64url (no padding); false if malformed or longer than outsz. */
bool base64url_decode(const char *in, void *out, size_t outsz, size_t *outlen);

/* True if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* Number of code points in valid UTF-8. */
size_t utf8_len(const char *s, size_t n);

/* Constant-time equality of two strings of possibly different length. */
bool str_eq_ct(const char *a, const char *b);

/* Parse a decimal int64; whole string must be digits (optional leading '-'). */
bool parse_i64(const char *s, int64_t *out);

/* A condition variable whose timed waits count on CLOCK_MONOTONIC (not moved by clock changes). */
void cond_init_monotonic(pthread_cond_t *cv);
/* pthread_create with default attributes, then the thread's name (up to 15 bytes, shown by
 * ps and perf); false if the thread could not be made. */
bool thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *name);

#endif
