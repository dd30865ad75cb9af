/*
 * xalloc.h — allocation for application code: abort on out-of-memory.
 * Library-style code that must survive OOM uses malloc directly.
 */
#ifndef YQ_XALLOC_H
#define YQ_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
