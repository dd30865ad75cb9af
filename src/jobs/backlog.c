/*
 * backlog.c — the runner of the visit system's backlog; see backlog.h.
 *
 * One thread. The tenants to serve are a small array: those the writes told
 * of (visit_backlog_notify, called inside their job, so a step is queued on
 * the writer after it and sees it) and those a scan of the database finds
 * (at start, every minute, and after a failed step). Each round does one
 * step per tenant in the array and drops the tenants whose step said nothing
 * is left; between rounds it rests for the pause setting of the tenant it
 * just served (one tenant: its own pause; several: the last one's).
 */
#include "jobs/backlog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/authz.h"
#include "core/settings.h"
#include "core/visit.h"
#include "db/db.h"
#include "jobs/jobs.h"
#include "base/banned.h"

#define SCAN_MS 60000       /* look for backlog left by a stop or a crash this often */
#define RETRY_MS 5000       /* after a failed step */
#define REST_SLICE_MS 200   /* the pause setting is read again this often while resting */

/* A tenant being served, and its figures for the log line at the end. */
struct served {
	int64_t tenant_id;
	int64_t chunks, enterprises;
	int64_t longest_ns;
	int64_t started_ns;
};

struct backlog {
	struct db_pool *pool;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* CLOCK_MONOTONIC: told of a tenant, stopping */
	bool stopping;
	int64_t *told;           /* tenants told of since the last look (under mu) */
	size_t ntold, captold;
};

/* Called by the visit core inside a write job: remember the tenant, wake the thread. */
static void told(void *ctx, int64_t tenant_id)
{
	struct backlog *b = ctx;
	pthread_mutex_lock(&b->mu);
	if (b->ntold == b->captold) {
		b->captold = b->captold ? 2 * b->captold : 8;
		b->told = xrealloc(b->told, b->captold * sizeof *b->told);
	}
	b->told[b->ntold++] = tenant_id;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Wait until told, stopping, or ms passed; called with mu held. */
static void wait_ms(struct backlog *b, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!b->stopping && !b->ntold)
		if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) != 0)
			break;
}

static bool stopping(struct backlog *b)
{
	pthread_mutex_lock(&b->mu);
	bool s = b->stopping;
	pthread_mutex_unlock(&b->mu);
	return s;
}

/* Add a tenant to the array unless it is there. */
static void serve_add(struct served **v, size_t *n, size_t *cap, int64_t tenant_id)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].tenant_id == tenant_id)
			return;
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = (struct served){.tenant_id = tenant_id, .started_ns = mono_ns()};
}

/* Rest for the tenant's pause setting, read again every slice (lowering it
 * ends the rest); returns early when stopping or told of new work (a policy
 * change restarts a pass: it should not wait for a rest of the old one). */
static void rest(struct backlog *b, int64_t tenant_id)
{
	int64_t start = mono_ns();
	for (;;) {
		struct err e;
		int64_t pause = 0;
		struct db *db = db_pool_reader(b->pool, &e);
		if (!db || settings_get_int(db, tenant_id, VISIT_SETTING_PAUSE, &pause, &e))
			pause = 0;
		int64_t left = pause - (mono_ns() - start) / 1000000;
		if (left <= 0)
			return;
		pthread_mutex_lock(&b->mu);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ms = left < REST_SLICE_MS ? left : REST_SLICE_MS;
		ts.tv_nsec += (long)ms * 1000000L;
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!b->stopping && !b->ntold)
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		bool stop = b->stopping || b->ntold;
		pthread_mutex_unlock(&b->mu);
		if (stop)
			return;
	}
}

static void *runner_main(void *arg)
{
	struct backlog *b = arg;
	struct served *v = NULL;
	size_t n = 0, cap = 0;
	int64_t next_scan = 0; /* monotonic ms; 0: at once */
	bool failed = false;

	for (;;) {
		/* who to serve: those told of, and those a scan finds when it is due */
		pthread_mutex_lock(&b->mu);
		for (size_t i = 0; i < b->ntold; i++)
			serve_add(&v, &n, &cap, b->told[i]);
		b->ntold = 0;
		bool stop = b->stopping;
		pthread_mutex_unlock(&b->mu);
		if (stop)
			break;
		if (mono_ns() / 1000000 >= next_scan) {
			struct err e;
			int64_t *ids = NULL;
			size_t nids = 0;
			struct db *db = db_pool_reader(b->pool, &e);
			if (!db || visit_backlog_tenants(db, &ids, &nids, &e))
				log_warn("visit backlog: cannot look for work left: %s", e.message);
			for (size_t i = 0; i < nids; i++)
				serve_add(&v, &n, &cap, ids[i]);
			free(ids);
			next_scan = mono_ns() / 1000000 + (failed ? RETRY_MS : SCAN_MS);
			failed = false;
		}
		/* one round: a step per tenant */
		for (size_t i = 0; i < n && !stopping(b);) {
			struct served *s = &v[i];
			struct actor who;
			struct err e;
			jobs_actor(&who, s->tenant_id);
			err_clear(&e);
			struct visit_backlog_step step = {.who = &who, .tenant_id = s->tenant_id,
							  .now = now_ms()};
			int rc = db_pool_write(b->pool, visit_backlog_step, &step, &e);
			if (rc) {
				log_warn("visit backlog of tenant %" PRId64 ": a chunk failed (retried "
					 "in %d s): %s", s->tenant_id, RETRY_MS / 1000, e.message);
				failed = true;
				next_scan = mono_ns() / 1000000 + RETRY_MS;
			} else if (step.did) {
				s->chunks++;
				s->enterprises += step.processed;
				if (step.ns > s->longest_ns)
					s->longest_ns = step.ns;
			}
			if (rc || !step.more) {
				if (!rc && s->chunks)
					log_info("visit backlog of tenant %" PRId64 " done: %" PRId64
						 " enterprises in %" PRId64 " chunks, %.1f s, longest chunk "
						 "%.1f ms",
						 s->tenant_id, s->enterprises, s->chunks,
						 (double)(mono_ns() - s->started_ns) / 1e9,
						 (double)s->longest_ns / 1e6);
				v[i] = v[--n];
				continue;
			}
			i++;
			rest(b, s->tenant_id);
		}
		if (n)
			continue;
		pthread_mutex_lock(&b->mu);
		int64_t wait = next_scan - mono_ns() / 1000000;
		if (wait > 0)
			wait_ms(b, wait);
		pthread_mutex_unlock(&b->mu);
	}
	free(v);
	return NULL;
}

int backlog_start(struct db_pool *pool, struct backlog **out, struct err *e)
{
	struct backlog *b = xcalloc(1, sizeof *b);
	*out = NULL;
	b->pool = pool;
	pthread_mutex_init(&b->mu, NULL);
	cond_init_monotonic(&b->cv);
	visit_backlog_set_notify(told, b);
	if (!thread_start(&b->thread, runner_main, b, "yq-backlog")) {
		backlog_stop(b);
		return err_set(e, ERR_INTERNAL, NULL, "无法启动走访后台任务线程",
			       "cannot start the visit backlog thread");
	}
	b->started = true;
	*out = b;
	return 0;
}

void backlog_stop(struct backlog *b)
{
	if (!b)
		return;
	visit_backlog_set_notify(NULL, NULL);
	pthread_mutex_lock(&b->mu);
	b->stopping = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (b->started)
		pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->told);
	free(b);
}
