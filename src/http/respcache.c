/*
 * respcache.c — whole answers of reads, kept per HTTP thread (see http.h).
 *
 * What makes a kept answer current is the reader connection's data version:
 * SQLite changes it when a read transaction begins after any commit to the
 * file, by this process or another, so an answer read in a transaction with
 * the same version was read from the same data. The version belongs to a
 * connection, and a connection to a thread, hence one cache per thread
 * (each thread builds its own copy of an answer). Time is the handler's
 * business: it says until when the answer it wrote stays what it is.
 *
 * A small direct-mapped table by a hash of the key, bounded in entries and
 * bytes; freed when the thread ends.
 */
#include "http/http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define SLOTS 64                    /* a power of two */
#define MAX_ANSWER (256 * 1024)     /* larger answers are not kept */
#define MAX_BYTES (4 * 1024 * 1024) /* per thread */

struct slot {
	char *key;
	size_t key_len;
	uint64_t hash, version, serial;
	int64_t built, until;       /* valid for now in [built, until) */
	char *body;
	size_t len;
};

struct cache {
	struct slot slot[SLOTS];
	size_t bytes;               /* bodies and keys held */
};

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t n_hit, n_miss, n_stale, n_kept; /* relaxed: counts for /metrics */

static void count(atomic_uint_fast64_t *n)
{
	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
}

void req_cache_stats(struct req_cache_stats *out)
{
	out->hit = atomic_load_explicit(&n_hit, memory_order_relaxed);
	out->miss = atomic_load_explicit(&n_miss, memory_order_relaxed);
	out->stale = atomic_load_explicit(&n_stale, memory_order_relaxed);
	out->kept = atomic_load_explicit(&n_kept, memory_order_relaxed);
}

static void slot_clear(struct cache *c, struct slot *s)
{
	c->bytes -= s->len + s->key_len;
	free(s->key);
	free(s->body);
	memset(s, 0, sizeof *s);
}

static void cache_free(void *p)
{
	struct cache *c = p;
	for (int i = 0; i < SLOTS; i++)
		slot_clear(c, &c->slot[i]);
	free(c);
}

static void make_key(void)
{
	pthread_key_create(&key, cache_free);
}

static struct cache *this_thread(void)
{
	pthread_once(&once, make_key);
	struct cache *c = pthread_getspecific(key);
	if (!c) {
		c = xcalloc(1, sizeof *c);
		if (pthread_setspecific(key, c) != 0) {
			free(c);
			return NULL;
		}
	}
	return c;
}

/* FNV-1a */
static uint64_t hash_of(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

static void add_field(struct buf *b, const char *p)
{
	if (!p) {
		buf_adds(b, "-;");
		return;
	}
	buf_addf(b, "%zu:", strlen(p));
	buf_adds(b, p);
	buf_adds(b, ";");
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	(void)kind;
	add_field(cls, k);
	add_field(cls, v);
	return MHD_YES;
}

bool req_cache_get(struct req *r, unsigned extra, int64_t now, struct req_cache_ticket *t)
{
	struct db *db;
	struct cache *c;
	struct buf b;
	const struct actor *a = &r->actor;

	memset(t, 0, sizeof *t);
	if (!r->authed || !r->route || !(db = req_db(r)) || !db_data_version(db, &t->version))
		return false;
	/* everything the answer may depend on, but the data and the time */
	buf_init(&b, 0);
	buf_addf(&b, "%d;%lld;%lld;%lld;%lld;%lld;%u;%d;%u;", r->route_idx, (long long)a->tenant_id,
		 (long long)a->user_id, (long long)a->department_id, (long long)a->grid_id,
		 (long long)a->enterprise_id, a->roles, (int)r->scope, extra);
	add_field(&b, a->dept_path);
	add_field(&b, a->grid_path);
	for (int i = 0; i < r->nparams; i++) {
		add_field(&b, r->pname[i]);
		add_field(&b, r->pval[i]);
	}
	buf_adds(&b, "?");
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, &b);
	t->key_len = b.len;
	t->key = arena_alloc(r->arena, b.len ? b.len : 1);
	memcpy(t->key, b.p, b.len);
	buf_release(&b);
	t->hash = hash_of(t->key, t->key_len);
	t->serial = db->serial;
	t->now = now;
	t->usable = true;

	if (!(c = this_thread()))
		return false;
	struct slot *s = &c->slot[t->hash & (SLOTS - 1)];
	if (!s->body || s->hash != t->hash || s->key_len != t->key_len ||
	    memcmp(s->key, t->key, t->key_len) != 0) {
		count(&n_miss);
		return false;
	}
	if (s->version != t->version || s->serial != t->serial || now < s->built ||
	    now >= s->until || now - s->built >= REQ_CACHE_MAX_AGE_MS) {
		slot_clear(c, s);
		count(&n_stale);
		return false;
	}
	reply_raw(r, 200, "application/json; charset=utf-8", s->body, s->len);
	count(&n_hit);
	return true;
}

void req_cache_put(struct req *r, const struct req_cache_ticket *t, int64_t until)
{
	struct cache *c;
	struct db *db;
	uint64_t version;

	if (!t->usable || r->status != 200 || r->out.len > MAX_ANSWER || until <= t->now)
		return;
	/* still the snapshot the ticket was taken in (a write in between ends it) */
	if (!(db = req_db(r)) || db->serial != t->serial || !db_reading(db) ||
	    !db_data_version(db, &version) || version != t->version || !(c = this_thread()))
		return;
	struct slot *s = &c->slot[t->hash & (SLOTS - 1)];
	slot_clear(c, s);
	if (c->bytes + r->out.len + t->key_len > MAX_BYTES)
		return;
	s->key = xmalloc(t->key_len ? t->key_len : 1);
	memcpy(s->key, t->key, t->key_len);
	s->key_len = t->key_len;
	s->body = xmalloc(r->out.len ? r->out.len : 1);
	memcpy(s->body, r->out.p, r->out.len);
	s->len = r->out.len;
	s->hash = t->hash;
	s->version = t->version;
	s->serial = t->serial;
	s->built = t->now;
	s->until = until;
	c->bytes += s->len + s->key_len;
	count(&n_kept);
}
