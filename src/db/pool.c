/*
 * pool.c — per-thread reader connections and one group-committing writer.
 *
 * Readers: each thread that asks gets its own read-only connection, kept in
 * a pthread key (closed when the thread exits) and on a list so that
 * db_pool_free() can close the ones still open.
 *
 * Writer: one thread owns the only write connection. db_pool_write() puts a
 * job on the queue and sleeps until the writer has run it and made it
 * durable. The writer takes everything queued (up to max_batch), runs it in
 * one BEGIN IMMEDIATE ... COMMIT with each job in its own SAVEPOINT, so a
 * failing job is rolled back alone. It never sleeps while jobs are waiting;
 * batches form by themselves from the jobs that arrive while the previous
 * one runs. If the transaction breaks (COMMIT or a savepoint fails), every
 * job of it that had succeeded gets the error and nothing of them is stored;
 * jobs not yet run go into a fresh transaction.
 *
 * Durability is pipelined. The writer's COMMIT returns once the batch is
 * written to the database's log (SQLite: appended to the WAL, with
 * synchronous=NORMAL, which keeps the file consistent after a power loss),
 * and the batch goes to the syncer thread, which fdatasync()s the log file
 * and only then wakes the batch's jobs: a job is acknowledged when its
 * commit is on disk, as before, but the writer runs the next batch while the
 * disk flushes this one, and one flush covers every batch committed before
 * it began. A flush that fails stops the process (as PostgreSQL does): the
 * log on disk is then the truth, and no job was told it is stored. Readers
 * may see a committed batch up to one flush (about a millisecond) before it
 * is durable; a write that depends on it is acknowledged only after a flush
 * that covers both. Backends that cannot (commit_log NULL or -1) and
 * db_pool_opts.sync_in_commit keep the old way: the COMMIT syncs, and the
 * writer wakes the batch itself.
 *
 * db_pool_write_async() queues a job nobody waits for (bookkeeping such as a
 * session's last-seen time): the pool owns a copy of its argument and frees
 * it after the commit; a failure is logged.
 */
#include "db/db.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "base/xalloc.h"

#include "base/banned.h"

#define DEFAULT_MAX_BATCH 512

/* One db_pool_write() call; lives on the caller's stack until done. */
struct job {
	db_write_fn fn;
	void *arg;
	struct err *err;      /* the caller's, or own */
	struct err own;
	int status;           /* fn's status, or the transaction's error */
	bool done;            /* set with pool->mu held, then cv is signalled */
	bool async;           /* nobody waits: heap-allocated, freed by the writer, no cv */
	const struct db_waiter *waiter; /* a coroutine waits: woken by waiter->wake, no cv */
	pthread_cond_t cv;
	STAILQ_ENTRY(job) link;
};

STAILQ_HEAD(jobq, job);

/* A reader connection of one thread. */
struct reader {
	struct db_pool *pool;
	struct db *db;
	LIST_ENTRY(reader) link;
};

struct db_pool {
	char *url;
	int max_batch;
	int max_wait_us;
	struct db *wdb;              /* used by the writer thread only, once started */
	struct job **batch;          /* max_batch slots, writer thread only */
	pthread_t writer;
	bool writer_started;
	pthread_key_t key;           /* this thread's struct reader */
	bool key_created;
	void (*before_sync)(void *ctx);
	void *before_sync_ctx;
	bool pipelined;              /* set before the threads start: the syncer acknowledges */
	int log_fd;                  /* the writer's commit log, synced by the syncer; -1: none */
	char *log_path;
	dev_t log_dev;               /* the file log_fd has open */
	ino_t log_ino;
	pthread_t syncer;
	bool syncer_started;
	pthread_mutex_t mu;          /* guards the fields below */
	pthread_cond_t work;         /* jobs queued or stopping */
	struct jobq queue;
	int queued;
	bool stopping;
	pthread_cond_t sync_work;    /* committed jobs to sync, or sync_stopping */
	struct jobq unsynced;        /* committed, not yet known to be on disk */
	bool sync_stopping;
	LIST_HEAD(, reader) readers;
	struct db_pool_stats stats;
};

/* The pool whose writer runs on this thread, if any. */
static _Thread_local struct db_pool *writer_of;
/* How db_pool_write waits on this thread (db_pool_set_waiter); NULL: it blocks. */
static _Thread_local const struct db_waiter *thread_waiter;

/* Make sure a failed job leaves a reason in its err. */
static void ensure_err(int status, struct err *e)
{
	if (e->code == ERR_OK)
		err_set(e, status < 0 ? status : ERR_INTERNAL, NULL, "写入失败（状态 %d）",
			"write failed (status %d)", status);
}

/*
 * Run one job inside SAVEPOINT j: *status gets fn's result, e its error.
 * Returns 0, or an error in txe if the enclosing transaction is broken
 * (the savepoint could not be opened, rolled back or released).
 */
static int run_job(struct db *db, db_write_fn fn, void *arg, int *status, struct err *e,
		   struct err *txe)
{
	int rc;

	*status = 0;
	rc = db_savepoint(db, txe);
	if (rc < 0)
		return rc;
	*status = fn(db, arg, e);
	if (*status != 0) {
		ensure_err(*status, e);
		rc = db_rollback_to(db, txe);
		if (rc < 0)
			return rc;
	}
	return db_release(db, txe);
}

/* A db_pool_write() from inside a job: run at once in a nested savepoint. */
static int run_nested(struct db *db, db_write_fn fn, void *arg, struct err *e)
{
	struct err own, txe;
	int status, rc;

	if (!e)
		e = &own;
	err_clear(e);
	err_clear(&txe);
	rc = run_job(db, fn, arg, &status, e, &txe);
	if (rc < 0) {
		*e = txe;
		return rc;
	}
	return status;
}

static int hist_bucket(size_t n)
{
	int b = 0;

	while (n > 1 && b < 7) {
		n >>= 1;
		b++;
	}
	return b;
}

/* Fail the jobs of a broken transaction that had succeeded. */
static void fail_succeeded(struct job **jobs, size_t n, const struct err *txe)
{
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->status == 0) {
			*jobs[i]->err = *txe;
			jobs[i]->status = txe->code;
		}
	}
}

/* Tell the jobs of q they are done (their status and err are set), emptying q. */
static void finish(struct db_pool *p, struct jobq *q)
{
	struct jobq rest = STAILQ_HEAD_INITIALIZER(rest);
	struct job *j;

	pthread_mutex_lock(&p->mu);
	while ((j = STAILQ_FIRST(q))) {
		STAILQ_REMOVE_HEAD(q, link);
		if (j->async || j->waiter) {
			STAILQ_INSERT_TAIL(&rest, j, link);
			continue;
		}
		j->done = true; /* its caller's, gone once the lock is released */
		pthread_cond_signal(&j->cv);
	}
	pthread_mutex_unlock(&p->mu);
	while ((j = STAILQ_FIRST(&rest))) {
		STAILQ_REMOVE_HEAD(&rest, link);
		if (j->waiter) {
			/* The coroutine cannot run before wake(): the job is still there. */
			const struct db_waiter *w = j->waiter;
			w->wake(w->ctx);
			continue;
		}
		if (j->status)
			log_warn("background write failed: %s", j->err->message);
		free(j);
	}
}

/*
 * Run jobs[0..n) in one transaction, as far as it goes; record stats and
 * hand the jobs it finished to the syncer (or wake them when the commit
 * synced itself). Returns how many jobs it finished (>= 1).
 */
static size_t run_group(struct db_pool *p, struct job **jobs, size_t n)
{
	struct err txe;
	size_t i, ran = 0, failed = 0;
	bool committed = false;
	int64_t commit_ns = 0;
	int rc;

	err_clear(&txe);
	rc = db_begin(p->wdb, true, &txe);
	if (rc < 0) {
		ran = n;
		fail_succeeded(jobs, n, &txe);
		goto wake;
	}
	for (i = 0; i < n; i++) {
		struct job *j = jobs[i];
		ran = i + 1;
		rc = run_job(p->wdb, j->fn, j->arg, &j->status, j->err, &txe);
		if (j->status != 0)
			failed++;
		if (rc < 0)
			goto rollback;
	}
	{
		int64_t t0 = mono_ns();
		rc = db_commit(p->wdb, &txe);
		commit_ns = mono_ns() - t0;
	}
	if (rc == 0) {
		committed = true;
		goto wake;
	}
rollback:
	db_rollback(p->wdb);
	if (txe.code == ERR_OK)
		err_set(&txe, ERR_INTERNAL, NULL, "事务失败", "transaction failed");
	fail_succeeded(jobs, ran, &txe);
wake:
	pthread_mutex_lock(&p->mu);
	p->stats.jobs += ran;
	p->stats.jobs_failed += failed;
	if (committed) {
		p->stats.commits++;
		p->stats.batch_hist[hist_bucket(ran)]++;
		p->stats.commit_ns_total += (uint64_t)commit_ns;
	}
	if (committed && p->pipelined) { /* acknowledged once the syncer has flushed it */
		for (i = 0; i < ran; i++)
			STAILQ_INSERT_TAIL(&p->unsynced, jobs[i], link);
		pthread_cond_signal(&p->sync_work);
		pthread_mutex_unlock(&p->mu);
		return ran;
	}
	pthread_mutex_unlock(&p->mu);
	struct jobq q = STAILQ_HEAD_INITIALIZER(q);
	for (i = 0; i < ran; i++)
		STAILQ_INSERT_TAIL(&q, jobs[i], link);
	finish(p, &q);
	return ran;
}

/* With max_wait_us set, give a small batch a moment to grow (p->mu held). */
static void wait_for_more(struct db_pool *p)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)p->max_wait_us * 1000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	while (p->queued < p->max_batch && !p->stopping)
		if (pthread_cond_timedwait(&p->work, &p->mu, &until) == ETIMEDOUT)
			break;
}

static void *writer_main(void *arg)
{
	struct db_pool *p = arg;
	size_t n, done;
	struct job *j;

	writer_of = p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->queued == 0 && !p->stopping)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->queued == 0)
			break; /* stopping, queue drained */
		if (p->max_wait_us > 0)
			wait_for_more(p);
		n = 0;
		while (n < (size_t)p->max_batch && (j = STAILQ_FIRST(&p->queue))) {
			STAILQ_REMOVE_HEAD(&p->queue, link);
			p->batch[n++] = j;
		}
		p->queued -= (int)n;
		pthread_mutex_unlock(&p->mu);
		for (done = 0; done < n;)
			done += run_group(p, p->batch + done, n - done);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	writer_of = NULL;
	return NULL;
}

/* fsync the directory holding path, so that the file's name is durable too. */
static int sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (n >= sizeof dir)
		return -1;
	if (slash && n == 0)
		n = 1; /* "/file": the root */
	memcpy(dir, slash ? path : ".", slash ? n : 1);
	dir[slash ? n : 1] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Open (again) the log file for syncing; 0, or -1 with errno. */
static int open_log(struct db_pool *p)
{
	struct stat st;
	int fd = open(p->log_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || sync_dir(p->log_path) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (p->log_fd >= 0)
		close(p->log_fd);
	p->log_fd = fd;
	p->log_dev = st.st_dev;
	p->log_ino = st.st_ino;
	return 0;
}

/*
 * Make every commit so far durable. The log is the same file for the life of
 * the writer's connection; should it ever have been replaced, the new one is
 * opened (and its name synced) first. Failure is fatal: see the top.
 */
static void sync_log(struct db_pool *p)
{
	struct stat st;
	if (stat(p->log_path, &st) != 0 ||
	    ((st.st_ino != p->log_ino || st.st_dev != p->log_dev) && open_log(p) != 0)) {
		log_error("cannot open the commit log %s: %s; stopping so that no write is "
			  "acknowledged that is not on disk", p->log_path, strerror(errno));
		abort();
	}
	while (fdatasync(p->log_fd) != 0) {
		if (errno == EINTR)
			continue;
		log_error("fdatasync of the commit log %s failed: %s; stopping so that no write "
			  "is acknowledged that is not on disk", p->log_path, strerror(errno));
		abort();
	}
}

static void *syncer_main(void *arg)
{
	struct db_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (STAILQ_EMPTY(&p->unsynced) && !p->sync_stopping)
			pthread_cond_wait(&p->sync_work, &p->mu);
		if (STAILQ_EMPTY(&p->unsynced))
			break; /* stopping, everything acknowledged */
		/* every batch committed before the flush begins is covered by it */
		struct jobq q = STAILQ_HEAD_INITIALIZER(q);
		STAILQ_CONCAT(&q, &p->unsynced);
		pthread_mutex_unlock(&p->mu);
		if (p->before_sync)
			p->before_sync(p->before_sync_ctx);
		int64_t t0 = mono_ns();
		sync_log(p);
		int64_t dt = mono_ns() - t0;
		pthread_mutex_lock(&p->mu);
		p->stats.syncs++;
		p->stats.sync_ns_total += (uint64_t)dt;
		pthread_mutex_unlock(&p->mu);
		finish(p, &q);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void reader_free(void *arg)
{
	struct reader *r = arg;

	pthread_mutex_lock(&r->pool->mu);
	LIST_REMOVE(r, link);
	pthread_mutex_unlock(&r->pool->mu);
	db_close(r->db);
	free(r);
}

int db_pool_open(const char *url, const struct db_pool_opts *opts, struct db_pool **out,
		 struct err *e)
{
	struct db_pool *p;
	int rc;

	*out = NULL;
	p = xcalloc(1, sizeof *p);
	p->url = xstrdup(url ? url : "");
	p->max_batch = opts && opts->max_batch > 0 ? opts->max_batch : DEFAULT_MAX_BATCH;
	p->max_wait_us = opts && opts->max_wait_us > 0 ? opts->max_wait_us : 0;
	p->batch = xcalloc((size_t)p->max_batch, sizeof *p->batch);
	pthread_mutex_init(&p->mu, NULL);
	cond_init_monotonic(&p->work);
	pthread_cond_init(&p->sync_work, NULL);
	STAILQ_INIT(&p->queue);
	STAILQ_INIT(&p->unsynced);
	LIST_INIT(&p->readers);
	p->log_fd = -1;
	if (opts) {
		p->before_sync = opts->before_sync;
		p->before_sync_ctx = opts->before_sync_ctx;
	}

	rc = db_open(p->url, DB_OPEN_CREATE, &p->wdb, e);
	if (rc < 0)
		goto out_free;
	db_defer_enable(p->wdb); /* every transaction of it goes through run_group */
	if (!(opts && opts->sync_in_commit) && p->wdb->ops->commit_log) {
		char path[4096];
		if (p->wdb->ops->commit_log(p->wdb, path, sizeof path) == 0) {
			p->log_path = xstrdup(path);
			if (open_log(p) != 0) {
				rc = err_set(e, ERR_INTERNAL, NULL, "无法打开提交日志 %s：%s",
					     "cannot open the commit log %s: %s", path,
					     strerror(errno));
				goto out_free;
			}
			if (!thread_start(&p->syncer, syncer_main, p, "yq-db-syncer")) {
				rc = err_set(e, ERR_INTERNAL, NULL, "无法启动数据库同步线程",
					     "cannot start the database syncer thread");
				goto out_free;
			}
			p->syncer_started = true;
			p->pipelined = true; /* log_fd is the syncer's from now on */
		}
	}
	if (pthread_key_create(&p->key, reader_free) != 0) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法创建线程键", "cannot create a thread key");
		goto out_free;
	}
	p->key_created = true;
	if (!thread_start(&p->writer, writer_main, p, "yq-db-writer")) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法启动数据库写线程",
			     "cannot start the database writer thread");
		goto out_free;
	}
	p->writer_started = true;
	*out = p;
	return 0;

out_free:
	db_pool_free(p);
	return rc;
}

void db_pool_free(struct db_pool *p)
{
	struct reader *r;

	if (!p)
		return;
	if (p->writer_started) {
		pthread_mutex_lock(&p->mu);
		p->stopping = true;
		pthread_cond_signal(&p->work);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->writer, NULL);
	}
	if (p->syncer_started) { /* after the writer: its last batches are acknowledged */
		pthread_mutex_lock(&p->mu);
		p->sync_stopping = true;
		pthread_cond_signal(&p->sync_work);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->syncer, NULL);
	}
	if (p->log_fd >= 0)
		close(p->log_fd);
	free(p->log_path);
	if (p->key_created) {
		pthread_setspecific(p->key, NULL);
		pthread_key_delete(p->key); /* destructors no longer run */
	}
	while ((r = LIST_FIRST(&p->readers))) {
		LIST_REMOVE(r, link);
		db_close(r->db);
		free(r);
	}
	db_close(p->wdb);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->sync_work);
	pthread_mutex_destroy(&p->mu);
	free(p->batch);
	free(p->url);
	free(p);
}

struct db *db_pool_reader(struct db_pool *p, struct err *e)
{
	struct reader *r;
	struct db *db = NULL;

	if (writer_of == p)
		return p->wdb; /* inside a job: read what the batch has written */
	r = pthread_getspecific(p->key);
	if (r)
		return r->db;
	if (db_open(p->url, DB_OPEN_READONLY, &db, e) < 0)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->pool = p;
	r->db = db;
	pthread_mutex_lock(&p->mu);
	LIST_INSERT_HEAD(&p->readers, r, link);
	pthread_mutex_unlock(&p->mu);
	if (pthread_setspecific(p->key, r) != 0) {
		reader_free(r);
		err_set(e, ERR_INTERNAL, NULL, "无法保存线程的读连接",
			"cannot store the thread's reader connection");
		return NULL;
	}
	return db;
}

void db_pool_set_waiter(const struct db_waiter *w)
{
	thread_waiter = w;
}

/* db_pool_write of a coroutine: queue, give the thread away, come back when woken. */
static int write_yielding(struct db_pool *p, struct job *j, const struct db_waiter *w)
{
	j->waiter = w;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		return err_set(j->err, ERR_UNAVAILABLE, NULL, "数据库正在关闭",
			       "database is shutting down");
	}
	w->suspend(w->ctx);
	STAILQ_INSERT_TAIL(&p->queue, j, link);
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	w->wait(w->ctx);
	return j->status;
}

int db_pool_write(struct db_pool *p, db_write_fn fn, void *arg, struct err *e)
{
	struct job j;

	if (writer_of == p)
		return run_nested(p->wdb, fn, arg, e);
	/* what this thread reads after the write must see it: leave its snapshot */
	struct reader *rd = pthread_getspecific(p->key);
	if (rd)
		db_read_end(rd->db);
	memset(&j, 0, sizeof j);
	j.fn = fn;
	j.arg = arg;
	j.err = e ? e : &j.own;
	err_clear(j.err);
	if (thread_waiter)
		return write_yielding(p, &j, thread_waiter);
	pthread_cond_init(&j.cv, NULL);

	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		pthread_cond_destroy(&j.cv);
		return err_set(e, ERR_UNAVAILABLE, NULL, "数据库正在关闭",
			       "database is shutting down");
	}
	STAILQ_INSERT_TAIL(&p->queue, &j, link);
	p->queued++;
	pthread_cond_signal(&p->work);
	while (!j.done)
		pthread_cond_wait(&j.cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_cond_destroy(&j.cv);
	return j.status;
}

/* An async job and the copy of its argument, in one allocation. */
struct async_job {
	struct job j;
	max_align_t arg[];
};

void db_pool_write_async(struct db_pool *p, db_write_fn fn, const void *arg, size_t size)
{
	struct async_job *a;

	if (writer_of == p) {
		struct err e;
		if (run_nested(p->wdb, fn, (void *)arg, &e))
			log_warn("background write failed: %s", e.message);
		return;
	}
	a = xmalloc(sizeof *a + size);
	memset(&a->j, 0, sizeof a->j);
	memcpy(a->arg, arg, size);
	a->j.fn = fn;
	a->j.arg = a->arg;
	a->j.err = &a->j.own;
	a->j.async = true;
	err_clear(a->j.err);
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		free(a);
		return;
	}
	STAILQ_INSERT_TAIL(&p->queue, &a->j, link);
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void db_pool_stats(struct db_pool *p, struct db_pool_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->stats;
	pthread_mutex_unlock(&p->mu);
}

const char *db_pool_url(struct db_pool *p)
{
	return p->url;
}
