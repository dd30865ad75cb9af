/*
 * coro.c — stackful coroutines on ucontext; see coro.h.
 *
 * The first switch into a new coroutine starts trampoline(), which reads its
 * coroutine from the thread-local `running` (makecontext passes only ints).
 * The coroutine's struct sits at the top of its own mapping, so one mmap
 * holds guard page, stack and struct, and a freed coroutine keeps its
 * mapping on the free list for the next one.
 */
#include "base/coro.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/* Sanitizer frames are several times larger. */
#define STACK_SIZE (2u << 20)
#else
#define STACK_SIZE (512u << 10)
#endif

#include "base/banned.h"

#define FREE_MAX 256 /* mappings kept for reuse */

struct coro {
	ucontext_t ctx;          /* the coroutine's, while it is not running */
	ucontext_t *back;        /* the resumer's, while it runs */
	coro_fn fn;
	void *arg;
	bool ended;
	char *map;               /* guard page + stack + this struct */
	size_t map_size;
	char *stack;             /* lowest usable stack address */
	size_t stack_size;
	void *fake_stack;        /* ASan's fake stack of the coroutine, kept across a yield */
	const void *back_bottom; /* the resumer's stack, for the switch back */
	size_t back_size;
	struct coro *next_free;
};

static _Thread_local struct coro *running;
static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;
static struct coro *free_list;
static int free_count;

static inline void switch_start(void **fake_save, const void *bottom, size_t size)
{
#ifdef CORO_ASAN
	__sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
	(void)fake_save;
	(void)bottom;
	(void)size;
#endif
}

static inline void switch_finish(void *fake_save, const void **bottom_old, size_t *size_old)
{
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(fake_save, bottom_old, size_old);
#else
	(void)fake_save;
	(void)bottom_old;
	(void)size_old;
#endif
}

size_t coro_stack_size(void)
{
	return STACK_SIZE;
}

static void trampoline(void)
{
	struct coro *c = running;

	switch_finish(NULL, &c->back_bottom, &c->back_size);
	c->fn(c->arg);
	c->ended = true;
	/* NULL: this fiber's fake stack is done with */
	switch_start(NULL, c->back_bottom, c->back_size);
	setcontext(c->back);
	abort(); /* setcontext does not return */
}

static struct coro *map_new(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = page + STACK_SIZE + ((sizeof(struct coro) + page - 1) / page) * page;
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m, page, PROT_NONE) != 0) {
		munmap(m, size);
		return NULL;
	}
	struct coro *c = (struct coro *)(void *)(m + page + STACK_SIZE);
	c->map = m;
	c->map_size = size;
	c->stack = m + page;
	c->stack_size = STACK_SIZE;
	return c;
}

/* Apart, so that getcontext (returns twice) clobbers nothing of the caller's. */
__attribute__((noinline)) static int make_ctx(struct coro *c)
{
	if (getcontext(&c->ctx) != 0)
		return -1;
	c->ctx.uc_stack.ss_sp = c->stack;
	c->ctx.uc_stack.ss_size = c->stack_size;
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, trampoline, 0);
	return 0;
}

struct coro *coro_new(coro_fn fn, void *arg)
{
	struct coro *c;

	pthread_mutex_lock(&free_mu);
	c = free_list;
	if (c) {
		free_list = c->next_free;
		free_count--;
	}
	pthread_mutex_unlock(&free_mu);
	if (!c && !(c = map_new())) {
		log_warn("coroutine: cannot map a %u KiB stack", (unsigned)(STACK_SIZE >> 10));
		return NULL;
	}
	char *map = c->map, *stack = c->stack;
	size_t map_size = c->map_size, stack_size = c->stack_size;
	memset(c, 0, sizeof *c);
	c->map = map;
	c->map_size = map_size;
	c->stack = stack;
	c->stack_size = stack_size;
	c->fn = fn;
	c->arg = arg;
#ifdef CORO_ASAN
	ASAN_UNPOISON_MEMORY_REGION(c->stack, c->stack_size);
#endif
	if (make_ctx(c) != 0) {
		coro_free(c);
		return NULL;
	}
	return c;
}

bool coro_resume(struct coro *c)
{
	ucontext_t here;
	void *fake = NULL;

	if (running || c->ended)
		abort(); /* nested, or resuming an ended coroutine: a bug */
	c->back = &here;
	running = c;
	switch_start(&fake, c->stack, c->stack_size);
	swapcontext(&here, &c->ctx);
	switch_finish(fake, NULL, NULL);
	running = NULL;
	return c->ended;
}

void coro_yield(void)
{
	struct coro *c = running;

	if (!c)
		abort();
	switch_start(&c->fake_stack, c->back_bottom, c->back_size);
	swapcontext(&c->ctx, c->back);
	switch_finish(c->fake_stack, &c->back_bottom, &c->back_size);
}

struct coro *coro_self(void)
{
	return running;
}

void coro_free(struct coro *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&free_mu);
	if (free_count < FREE_MAX) {
		c->next_free = free_list;
		free_list = c;
		free_count++;
		c = NULL;
	}
	pthread_mutex_unlock(&free_mu);
	if (c)
		munmap(c->map, c->map_size);
}
