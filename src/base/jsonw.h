/*
 * jsonw.h — writing compact JSON text into a struct buf: a jansson value
 * (jsonw_value), or a document value by value with no tree at all (struct
 * jsonw).
 *
 * The text is what json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(p))
 * writes — object keys in the order written, strings escaped only where
 * RFC 8259 needs it (", \ and control characters), reals as "%.<p>g" with
 * ".0" added to a whole number — at a fraction of the cost: one pass
 * appending runs of bytes, instead of one callback per character (jansson's
 * dumper was a fifth of the time of a request detail). The streaming writer
 * also saves building the tree (json_pack was another fifth): a reply is
 * written straight into the output buffer.
 *
 *     struct jsonw w;
 *     jsonw_init(&w, &out, 12);
 *     jsonw_object(&w);
 *     jsonw_key(&w, "id"); jsonw_int(&w, 42);
 *     jsonw_key(&w, "tags"); jsonw_array(&w); jsonw_str(&w, "a"); jsonw_end(&w);
 *     jsonw_end(&w);
 *     if (jsonw_finish(&w)) ... the buffer reached its maximum
 *
 * Commas are the writer's business; keys are literals the caller knows need
 * no escaping (ASCII letters, digits, '_'). Strings must be valid UTF-8 (as
 * jansson requires of its strings); they are not checked here.
 */
#ifndef YQ_JSONW_H
#define YQ_JSONW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"

/* Append j to b; precision 1..17 significant digits for reals. Returns 0, or -1 when b
 * reached its maximum (b then holds a partial text). */
int jsonw_value(struct buf *b, const json_t *j, int precision);

#define JSONW_MAX_DEPTH 32

struct jsonw {
	struct buf *b;       /* borrowed output */
	int precision;       /* significant digits of reals */
	int depth;           /* open objects and arrays */
	bool key;            /* a key was written: its value comes next, no comma */
	bool failed;         /* an append failed or the nesting was wrong: jsonw_finish says so */
	uint32_t members;    /* bit d: the container at depth d has a member already */
	uint32_t arrays;     /* bit d: the container at depth d is an array */
};

void jsonw_init(struct jsonw *w, struct buf *b, int precision);
/* Open an object or an array (as a value: after a key, in an array, or at the top). */
void jsonw_object(struct jsonw *w);
void jsonw_array(struct jsonw *w);
/* Close the innermost object or array. */
void jsonw_end(struct jsonw *w);
/* The key of the next member of the innermost object (a literal: no escaping; inline, so
 * a literal's length is known when compiling). */
void jsonw_keyn(struct jsonw *w, const char *k, size_t n);
static inline void jsonw_key(struct jsonw *w, const char *k)
{
	jsonw_keyn(w, k, strlen(k));
}
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_real(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* A jansson value, as jsonw_value writes it (borrowed). */
void jsonw_json(struct jsonw *w, const json_t *j);
/* A value already written as JSON text (n bytes, not checked; n == 0 fails). */
void jsonw_raw(struct jsonw *w, const char *text, size_t n);
/* Key and value in one call. */
static inline void jsonw_kstr(struct jsonw *w, const char *k, const char *s)
{
	jsonw_key(w, k);
	jsonw_str(w, s);
}

static inline void jsonw_kint(struct jsonw *w, const char *k, int64_t v)
{
	jsonw_key(w, k);
	jsonw_int(w, v);
}

static inline void jsonw_kbool(struct jsonw *w, const char *k, bool v)
{
	jsonw_key(w, k);
	jsonw_bool(w, v);
}

static inline void jsonw_knull(struct jsonw *w, const char *k)
{
	jsonw_key(w, k);
	jsonw_null(w);
}
/* 0 when the text is complete (every container closed) and nothing failed; else -1. */
int jsonw_finish(const struct jsonw *w);

#endif
