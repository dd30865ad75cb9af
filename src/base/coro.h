/*
 * coro.h — stackful coroutines (ucontext) for running a request handler on
 * the thread that serves its connection, across waits for the database
 * writer: the handler yields where it would block, the thread goes on
 * serving other connections, and the handler is resumed when its write is
 * durable.
 *
 * A coroutine runs on its own stack (mapped with a guard page below it,
 * reused from a process-wide free list). It is resumed by one thread at a
 * time; it may yield, be resumed later from another thread, and ends when
 * its function returns. Nested coroutines are not supported: coro_resume()
 * is called from ordinary thread code only.
 *
 * AddressSanitizer is told about every switch (fiber annotations), so it
 * checks coroutine stacks as it checks thread stacks.
 */
#ifndef YQ_BASE_CORO_H
#define YQ_BASE_CORO_H

#include <stdbool.h>
#include <stddef.h>

struct coro;
typedef void (*coro_fn)(void *arg);

/* A coroutine that will run fn(arg) when first resumed; NULL if no stack could be mapped. */
struct coro *coro_new(coro_fn fn, void *arg);
/* Run c until it yields or its function returns; true when it has ended. */
bool coro_resume(struct coro *c);
/* From inside a coroutine: back to whoever resumed it. */
void coro_yield(void);
/* The coroutine running on this thread, NULL in ordinary thread code. */
struct coro *coro_self(void);
/* Release an ended coroutine (its stack goes back to the free list). */
void coro_free(struct coro *c);
/* Stack size of every coroutine, bytes (without the guard page). */
size_t coro_stack_size(void);

#endif
