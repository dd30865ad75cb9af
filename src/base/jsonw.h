/*
 * jsonw.h — writing a jansson value as compact JSON text into a struct buf.
 *
 * The same text as json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(p)) —
 * object keys in insertion order, strings escaped only where RFC 8259 needs
 * it (", \ and control characters), reals as "%.<p>g" with ".0" added to a
 * whole number — at a fraction of the cost: a reply is one pass over the
 * tree appending runs of bytes, instead of one callback per character
 * (jansson's dumper was a fifth of the time of a request detail).
 */
#ifndef YQ_JSONW_H
#define YQ_JSONW_H

#include <jansson.h>

#include "base/buf.h"

/* Append j to b; precision 1..17 significant digits for reals. Returns 0, or -1 when b
 * reached its maximum (b then holds a partial text). */
int jsonw_value(struct buf *b, const json_t *j, int precision);

#endif
