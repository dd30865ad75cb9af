/*
 * metrics.c — request counts and latency histograms per route, and the
 * Prometheus text exposition (with the database writer's figures).
 * Counters are relaxed atomics: observing costs a few adds, no lock.
 */
#include "http/http.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "jobs/scheduler.h"
#include "base/banned.h"

/* Latency bucket upper bounds in seconds. */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				0.1,    0.25,  0.5,    1.0,   2.5,  5.0};
#define NB (ARRAY_SIZE(bounds))

struct route_stats {
	atomic_uint_fast64_t by_class[6]; /* 1xx..5xx by status/100, [0] other */
	atomic_uint_fast64_t buckets[NB + 1];
	atomic_uint_fast64_t ns_sum;
	atomic_uint_fast64_t count;
};

struct metrics {
	size_t n; /* routes; slot n is "unmatched" */
	struct route_stats *rs;
};

struct metrics *metrics_new(size_t nroutes)
{
	struct metrics *m = xcalloc(1, sizeof *m);
	m->n = nroutes;
	m->rs = xcalloc(nroutes + 1, sizeof *m->rs);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->rs);
	free(m);
}

void metrics_observe(struct metrics *m, int route_idx, int status, int64_t ns)
{
	if (!m)
		return;
	size_t i = route_idx >= 0 && (size_t)route_idx < m->n ? (size_t)route_idx : m->n;
	struct route_stats *s = &m->rs[i];
	int cls = status / 100;
	atomic_fetch_add_explicit(&s->by_class[cls >= 1 && cls <= 5 ? cls : 0], 1,
				  memory_order_relaxed);
	double sec = (double)ns / 1e9;
	size_t b = 0;
	while (b < NB && sec > bounds[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->ns_sum, (uint64_t)(ns > 0 ? ns : 0), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

static void label(struct buf *o, const struct route *rt)
{
	if (rt)
		buf_addf(o, "method=\"%s\",route=\"%s\"", rt->method, rt->pattern);
	else
		buf_adds(o, "method=\"\",route=\"unmatched\"");
}

void metrics_render(struct metrics *m, struct app *app, struct buf *o)
{
	size_t n;
	const struct route *rt = routes_all(&n);
	static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

	buf_adds(o, "# HELP yiqiban_http_requests_total HTTP requests by route and status class.\n"
		    "# TYPE yiqiban_http_requests_total counter\n");
	for (size_t i = 0; i <= m->n; i++)
		for (int c = 0; c < 6; c++) {
			uint64_t v = atomic_load_explicit(&m->rs[i].by_class[c], memory_order_relaxed);
			if (!v)
				continue;
			buf_adds(o, "yiqiban_http_requests_total{");
			label(o, i < n ? &rt[i] : NULL);
			buf_addf(o, ",status=\"%s\"} %" PRIu64 "\n", cls[c], v);
		}
	buf_adds(o, "# HELP yiqiban_http_request_duration_seconds Time from first byte to response.\n"
		    "# TYPE yiqiban_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= m->n; i++) {
		struct route_stats *s = &m->rs[i];
		uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
		if (!count)
			continue;
		uint64_t cum = 0;
		for (size_t b = 0; b <= NB; b++) {
			cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
			buf_adds(o, "yiqiban_http_request_duration_seconds_bucket{");
			label(o, i < n ? &rt[i] : NULL);
			if (b < NB)
				buf_addf(o, ",le=\"%g\"} %" PRIu64 "\n", bounds[b], cum);
			else
				buf_addf(o, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		buf_adds(o, "yiqiban_http_request_duration_seconds_sum{");
		label(o, i < n ? &rt[i] : NULL);
		buf_addf(o, "} %.6f\n",
			 (double)atomic_load_explicit(&s->ns_sum, memory_order_relaxed) / 1e9);
		buf_adds(o, "yiqiban_http_request_duration_seconds_count{");
		label(o, i < n ? &rt[i] : NULL);
		buf_addf(o, "} %" PRIu64 "\n", count);
	}

	struct db_pool_stats ds;
	db_pool_stats(app->pool, &ds);
	buf_addf(o,
		 "# HELP yiqiban_db_commits_total Group commits done by the writer.\n"
		 "# TYPE yiqiban_db_commits_total counter\n"
		 "yiqiban_db_commits_total %" PRIu64 "\n"
		 "# HELP yiqiban_db_write_jobs_total Write jobs run (each in its own savepoint).\n"
		 "# TYPE yiqiban_db_write_jobs_total counter\n"
		 "yiqiban_db_write_jobs_total %" PRIu64 "\n"
		 "# HELP yiqiban_db_write_jobs_failed_total Write jobs rolled back.\n"
		 "# TYPE yiqiban_db_write_jobs_failed_total counter\n"
		 "yiqiban_db_write_jobs_failed_total %" PRIu64 "\n"
		 "# HELP yiqiban_db_commit_seconds_total Time spent committing.\n"
		 "# TYPE yiqiban_db_commit_seconds_total counter\n"
		 "yiqiban_db_commit_seconds_total %.6f\n"
		 "# HELP yiqiban_db_log_syncs_total Flushes of the commit log by the syncer "
		 "(acknowledging the batches committed before each).\n"
		 "# TYPE yiqiban_db_log_syncs_total counter\n"
		 "yiqiban_db_log_syncs_total %" PRIu64 "\n"
		 "# HELP yiqiban_db_log_sync_seconds_total Time spent flushing the commit log.\n"
		 "# TYPE yiqiban_db_log_sync_seconds_total counter\n"
		 "yiqiban_db_log_sync_seconds_total %.6f\n",
		 ds.commits, ds.jobs, ds.jobs_failed, (double)ds.commit_ns_total / 1e9, ds.syncs,
		 (double)ds.sync_ns_total / 1e9);
	static const char *sizes[] = {"1", "3", "7", "15", "31", "63", "127", "+Inf"};
	buf_adds(o, "# HELP yiqiban_db_batch_size Jobs per group commit.\n"
		    "# TYPE yiqiban_db_batch_size histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < 8; i++) {
		cum += ds.batch_hist[i];
		buf_addf(o, "yiqiban_db_batch_size_bucket{le=\"%s\"} %" PRIu64 "\n", sizes[i], cum);
	}
	buf_addf(o, "yiqiban_db_batch_size_sum %" PRIu64 "\nyiqiban_db_batch_size_count %" PRIu64 "\n",
		 ds.jobs, ds.commits);
	struct req_cache_stats cs;
	req_cache_stats(&cs);
	buf_addf(o,
		 "# HELP yiqiban_http_answer_cache_lookups_total Reads of request pages and details: "
		 "answered from an HTTP thread's kept answers (hit), or built because none was "
		 "kept for that caller and query (miss) or it was no longer current (stale).\n"
		 "# TYPE yiqiban_http_answer_cache_lookups_total counter\n"
		 "yiqiban_http_answer_cache_lookups_total{result=\"hit\"} %" PRIu64 "\n"
		 "yiqiban_http_answer_cache_lookups_total{result=\"miss\"} %" PRIu64 "\n"
		 "yiqiban_http_answer_cache_lookups_total{result=\"stale\"} %" PRIu64 "\n"
		 "# HELP yiqiban_http_answer_cache_stores_total Answers built and kept to be given again.\n"
		 "# TYPE yiqiban_http_answer_cache_stores_total counter\n"
		 "yiqiban_http_answer_cache_stores_total %" PRIu64 "\n",
		 cs.hit, cs.miss, cs.stale, cs.kept);
	scheduler_metrics_render(o);
	buf_addf(o, "# HELP yiqiban_uptime_seconds Seconds since start.\n"
		    "# TYPE yiqiban_uptime_seconds gauge\nyiqiban_uptime_seconds %.3f\n",
		 (double)(now_ms() - app->started_ms) / 1000.0);
}
