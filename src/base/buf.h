/*
 * buf.h — a growable byte buffer with a maximum size, always NUL-terminated.
 *
 * struct buf b; buf_init(&b, 1 << 20); buf_add(&b, p, n); ... buf_release(&b);
 * Appends past `max` fail with -1 and leave the buffer unchanged, so a body
 * reader can answer 413 instead of growing without bound. max 0 = unlimited.
 */
#ifndef YQ_BUF_H
#define YQ_BUF_H

#include <stddef.h>

struct buf {
	char *p;     /* contents, NUL-terminated; never NULL after buf_init */
	size_t len;  /* bytes used, not counting the NUL */
	size_t cap;  /* bytes allocated */
	size_t max;  /* maximum len, 0 = unlimited */
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
int buf_add(struct buf *b, const void *p, size_t n);
/* Room for n more bytes (and the NUL) without a reallocation, for writers that fill
 * p + len themselves, then add to len and terminate; -1 past max. */
int buf_reserve(struct buf *b, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (with quotes), escaping as RFC 8259 requires. */
int buf_add_json_str(struct buf *b, const char *s, size_t n);
/* Take ownership of the contents (caller frees); the buffer is reset to empty. */
char *buf_detach(struct buf *b, size_t *len);

#endif
