/*
 * arena.h — a region allocator with a cleanup list, one per HTTP request.
 *
 * Everything allocated from an arena is freed by arena_free(); callbacks
 * registered with arena_defer() run first, in reverse order (finalize a
 * statement, drop a JSON reference). Allocation aborts on out-of-memory.
 */
#ifndef YQ_ARENA_H
#define YQ_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_new(size_t first_block);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);            /* 16-byte aligned, uninitialised */
void *arena_zalloc(struct arena *a, size_t n);           /* zeroed */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_defer(struct arena *a, void (*fn)(void *), void *p);

#endif
