/*
 * textmodel.c — see textmodel.h: normalisation and character n-gram
 * features of Chinese text, naive Bayes over them, Jaccard similarity and
 * haversine distance.
 */
#include "core/textmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

/* ---- reading and normalising code points ---- */

/* The code point at *p (advancing *p), U+FFFD for an invalid sequence (one byte). */
static uint32_t next_cp(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c = s[0];
	int len = c < 0x80             ? 1
		  : (c & 0xE0) == 0xC0 ? 2
		  : (c & 0xF0) == 0xE0 ? 3
		  : (c & 0xF8) == 0xF0 ? 4
				       : 0;
	if (len == 1) {
		*p = s + 1;
		return c;
	}
	if (len == 0) {
		*p = s + 1;
		return 0xFFFD;
	}
	uint32_t cp = c & (0x7Fu >> len);
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*p = s + 1;
			return 0xFFFD;
		}
		cp = cp << 6 | (s[i] & 0x3F);
	}
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		*p = s + 1;
		return 0xFFFD;
	}
	*p = s + len;
	return cp;
}

/* The normalised character, or 0 for a separator (see textmodel.h). */
static uint32_t norm_cp(uint32_t c)
{
	if (c >= 0xFF01 && c <= 0xFF5E) /* full-width ASCII */
		c -= 0xFEE0;
	if (c < 0x80) {
		if (c >= 'A' && c <= 'Z')
			return c + 32;
		if (c >= '0' && c <= '9')
			return '0';
		return c >= 'a' && c <= 'z' ? c : 0;
	}
	if (c >= 0xFF10 && c <= 0xFF19)
		return '0';
	if (c < 0xC0 || c == 0xD7 || c == 0xF7) /* C1 controls, Latin-1 punctuation, × ÷ */
		return 0;
	if (c >= 0x2000 && c <= 0x2BFF) /* general punctuation, symbols, arrows, shapes */
		return 0;
	if (c >= 0x2E00 && c <= 0x2E7F) /* supplemental punctuation */
		return 0;
	if (c >= 0x3000 && c <= 0x303F) /* CJK symbols and punctuation, but 々 〆 〇 */
		return c == 0x3005 || c == 0x3006 ? c : c == 0x3007 ? '0' : 0;
	if (c >= 0xFE10 && c <= 0xFE1F) /* vertical forms */
		return 0;
	if (c >= 0xFE30 && c <= 0xFE6F) /* CJK compatibility forms, small form variants */
		return 0;
	if (c >= 0xFF00 &&
	    c <= 0xFF65) /* the rest of the full-width punctuation, half-width 。「」、・ */
		return 0;
	if (c >= 0xFFF0 && c <= 0xFFFF) /* specials, U+FFFD */
		return 0;
	if (c >= 0x1F000 && c <= 0x1FAFF) /* emoji and pictographs */
		return 0;
	if (c >= 0xE0000) /* tags, variation selectors supplement, private use */
		return 0;
	if ((c >= 0xFE00 && c <= 0xFE0F) || c == 0x200D) /* variation selectors */
		return 0;
	return c;
}

static size_t put_utf8(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

size_t textmodel_normalize(const char *text, char *out, size_t outsz)
{
	size_t k = 0;
	bool sep = false;
	if (!outsz)
		return 0;
	for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p;) {
		uint32_t c = norm_cp(next_cp(&p));
		if (!c) {
			sep = k > 0;
			continue;
		}
		char u[4];
		size_t n = put_utf8(c, u);
		if (k + (sep ? 1 : 0) + n + 1 > outsz)
			break;
		if (sep)
			out[k++] = ' ';
		sep = false;
		memcpy(out + k, u, n);
		k += n;
	}
	out[k] = '\0';
	return k;
}

/* ---- features ---- */

uint64_t textmodel_unigram(uint32_t cp)
{
	return (uint64_t)cp + 1;
}

uint64_t textmodel_bigram(uint32_t cp1, uint32_t cp2)
{
	return (uint64_t)1 << 42 | (uint64_t)cp1 << 21 | cp2;
}

static void feats_add(struct textmodel_feats *f, uint64_t v)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->v = xrealloc(f->v, f->cap * sizeof *f->v);
	}
	f->v[f->n++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

void textmodel_features(const char *text, unsigned ngrams, struct textmodel_feats *f)
{
	uint32_t prev = 0;
	f->n = 0;
	for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p;) {
		uint32_t c = norm_cp(next_cp(&p));
		if (c && (ngrams & TEXTMODEL_UNIGRAMS))
			feats_add(f, textmodel_unigram(c));
		if (c && prev && (ngrams & TEXTMODEL_BIGRAMS))
			feats_add(f, textmodel_bigram(prev, c));
		prev = c;
	}
	if (f->n > 1) {
		qsort(f->v, f->n, sizeof *f->v, cmp_u64);
		size_t k = 1;
		for (size_t i = 1; i < f->n; i++)
			if (f->v[i] != f->v[k - 1])
				f->v[k++] = f->v[i];
		f->n = k;
	}
}

void textmodel_feats_release(struct textmodel_feats *f)
{
	if (f) {
		free(f->v);
		memset(f, 0, sizeof *f);
	}
}

/* ---- similarity and distance ---- */

double textmodel_jaccard_sets(const struct textmodel_feats *a, const struct textmodel_feats *b)
{
	size_t i = 0, j = 0, both = 0;
	while (i < a->n && j < b->n) {
		if (a->v[i] == b->v[j]) {
			both++;
			i++;
			j++;
		} else if (a->v[i] < b->v[j])
			i++;
		else
			j++;
	}
	size_t uni = a->n + b->n - both;
	return uni ? (double)both / (double)uni : 0.0;
}

double textmodel_jaccard(const char *a, const char *b)
{
	struct textmodel_feats fa = {0}, fb = {0};
	textmodel_features(a, TEXTMODEL_BIGRAMS, &fa);
	textmodel_features(b, TEXTMODEL_BIGRAMS, &fb);
	if (!fa.n || !fb.n) {
		textmodel_features(a, TEXTMODEL_UNIGRAMS, &fa);
		textmodel_features(b, TEXTMODEL_UNIGRAMS, &fb);
	}
	double j = textmodel_jaccard_sets(&fa, &fb);
	textmodel_feats_release(&fa);
	textmodel_feats_release(&fb);
	return j;
}

double textmodel_haversine_m(double lat1, double lon1, double lat2, double lon2)
{
	const double rad = M_PI / 180.0, r = 6371000.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double s1 = sin(dlat / 2), s2 = sin(dlon / 2);
	double h = s1 * s1 + cos(lat1 * rad) * cos(lat2 * rad) * s2 * s2;
	if (h > 1)
		h = 1;
	return 2 * r * asin(sqrt(h));
}

/* ---- a map from feature codes to dense indices (open addressing) ---- */

struct fmap {
	uint64_t *keys; /* 0 = empty (no feature code is 0) */
	uint32_t *vals;
	size_t cap, n; /* cap a power of two, kept at most half full */
};

static size_t mix(uint64_t x, size_t cap)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x & (cap - 1);
}

static void fmap_grow(struct fmap *m)
{
	struct fmap o = *m;
	m->cap = o.cap ? 2 * o.cap : 1024;
	m->keys = xcalloc(m->cap, sizeof *m->keys);
	m->vals = xmalloc(m->cap * sizeof *m->vals);
	for (size_t i = 0; i < o.cap; i++) {
		if (!o.keys[i])
			continue;
		size_t h = mix(o.keys[i], m->cap);
		while (m->keys[h])
			h = (h + 1) & (m->cap - 1);
		m->keys[h] = o.keys[i];
		m->vals[h] = o.vals[i];
	}
	free(o.keys);
	free(o.vals);
}

/* The index of key; UINT32_MAX if absent. */
static uint32_t fmap_find(const struct fmap *m, uint64_t key)
{
	if (!m->cap)
		return UINT32_MAX;
	size_t h = mix(key, m->cap);
	while (m->keys[h]) {
		if (m->keys[h] == key)
			return m->vals[h];
		h = (h + 1) & (m->cap - 1);
	}
	return UINT32_MAX;
}

/* The index of key, added as the next index (m->n) when absent. */
static uint32_t fmap_add(struct fmap *m, uint64_t key)
{
	if (2 * (m->n + 1) > m->cap)
		fmap_grow(m);
	size_t h = mix(key, m->cap);
	while (m->keys[h]) {
		if (m->keys[h] == key)
			return m->vals[h];
		h = (h + 1) & (m->cap - 1);
	}
	m->keys[h] = key;
	m->vals[h] = (uint32_t)m->n;
	return (uint32_t)m->n++;
}

static void fmap_release(struct fmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/* ---- naive Bayes ---- */

struct textmodel {
	size_t nclass, nexamples, vocab;
	int64_t *labels;    /* class index -> label, ascending */
	double *log_prior;  /* per class */
	double *log_unseen; /* per class: log(alpha / (N_c + alpha V)), a feature absent from c */
	size_t nfeat;       /* size of the index space of start[] */
	uint32_t *start;    /* CSR over features: entries start[f] .. start[f+1] */
	uint16_t *cls;      /* entry: class index ... */
	float *w;           /* ... and log((count + alpha) / alpha) */
	struct fmap map;    /* feature code -> index (final models only) */
	double temperature; /* scores are divided by it before the softmax (calibration) */
};

/* A document as feature indices. */
struct doc {
	uint32_t *f;
	size_t n;
	uint32_t cls;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Train on docs[begin, end) over an index space of nfeat features and nclass classes. */
static struct textmodel *train(const struct doc *docs, size_t begin, size_t end, size_t nfeat,
			       const int64_t *labels, size_t nclass, double alpha)
{
	struct textmodel *m = xcalloc(1, sizeof *m);
	size_t n = end - begin;
	m->temperature = 1.0;
	m->nclass = nclass;
	m->nexamples = n;
	m->nfeat = nfeat;
	m->labels = xmalloc((nclass ? nclass : 1) * sizeof *m->labels);
	memcpy(m->labels, labels, nclass * sizeof *labels);
	m->log_prior = xcalloc(nclass ? nclass : 1, sizeof(double));
	m->log_unseen = xcalloc(nclass ? nclass : 1, sizeof(double));
	m->start = xcalloc(nfeat + 1, sizeof *m->start);

	/* documents grouped by class (a counting sort keeps their order) */
	size_t *cstart = xcalloc(nclass + 1, sizeof *cstart),
	       *order = xmalloc((n ? n : 1) * sizeof *order);
	double *ntok = xcalloc(nclass ? nclass : 1, sizeof *ntok);
	/* features of a single document are left out once there is enough data:
	 * they are mostly noise (names, numbers, typos) and most of the memory */
	uint32_t *df = xcalloc(nfeat ? nfeat : 1, sizeof *df);
	uint32_t min_df = n >= TEXTMODEL_PRUNE_FROM ? 2 : 1;
	for (size_t i = begin; i < end; i++) {
		cstart[docs[i].cls + 1]++;
		for (size_t j = 0; j < docs[i].n; j++)
			df[docs[i].f[j]]++;
	}
	for (size_t c = 0; c < nclass; c++)
		cstart[c + 1] += cstart[c];
	size_t *fill = xmalloc((nclass ? nclass : 1) * sizeof *fill);
	memcpy(fill, cstart, (nclass ? nclass : 1) * sizeof *fill);
	for (size_t i = begin; i < end; i++)
		order[fill[docs[i].cls]++] = i;
	free(fill);

	/* per class, the count of each feature: entries (feature, class, count) */
	uint32_t *cnt = xcalloc(nfeat ? nfeat : 1, sizeof *cnt), *touched = NULL;
	size_t ntouched = 0, cap_touched = 0, nent = 0, cap_ent = 0;
	struct ent {
		uint32_t f, count;
		uint16_t c;
	} *ents = NULL;
	for (size_t c = 0; c < nclass; c++) {
		for (size_t k = cstart[c]; k < cstart[c + 1]; k++) {
			const struct doc *d = &docs[order[k]];
			for (size_t j = 0; j < d->n; j++) {
				uint32_t f = d->f[j];
				if (df[f] < min_df)
					continue;
				ntok[c] += 1;
				if (cnt[f]++ != 0)
					continue;
				if (ntouched == cap_touched) {
					cap_touched = cap_touched ? 2 * cap_touched : 1024;
					touched = xrealloc(touched, cap_touched * sizeof *touched);
				}
				touched[ntouched++] = f;
			}
		}
		for (size_t t = 0; t < ntouched; t++) {
			if (nent == cap_ent) {
				cap_ent = cap_ent ? 2 * cap_ent : 4096;
				ents = xrealloc(ents, cap_ent * sizeof *ents);
			}
			ents[nent++] = (struct ent){touched[t], cnt[touched[t]], (uint16_t)c};
			m->start[touched[t] + 1]++;
			cnt[touched[t]] = 0;
		}
		ntouched = 0;
	}
	free(cnt);
	free(touched);
	free(df);

	/* CSR; entries of a feature stay in class order */
	for (size_t f = 0; f < nfeat; f++) {
		if (m->start[f + 1])
			m->vocab++;
		m->start[f + 1] += m->start[f];
	}
	m->cls = xmalloc((nent ? nent : 1) * sizeof *m->cls);
	m->w = xmalloc((nent ? nent : 1) * sizeof *m->w);
	uint32_t *pos = xmalloc((nfeat ? nfeat : 1) * sizeof *pos);
	memcpy(pos, m->start, nfeat * sizeof *pos);
	for (size_t i = 0; i < nent; i++) {
		uint32_t at = pos[ents[i].f]++;
		m->cls[at] = ents[i].c;
		m->w[at] = (float)(log((double)ents[i].count + alpha) - log(alpha));
	}
	free(pos);
	free(ents);

	double V = (double)(m->vocab ? m->vocab : 1);
	for (size_t c = 0; c < nclass; c++) {
		double docs_c = (double)(cstart[c + 1] - cstart[c]);
		/* a class without training documents (in an evaluation) cannot be guessed */
		m->log_prior[c] =
			docs_c > 0 ? log((docs_c + 1.0) / ((double)n + (double)nclass)) : -INFINITY;
		m->log_unseen[c] = log(alpha) - log(ntok[c] + alpha * V);
	}
	free(ntok);
	free(order);
	free(cstart);
	return m;
}

/* Scores (log posteriors up to a constant) of a document given as indices;
 * returns how many of its features the model knows. */
static size_t score(const struct textmodel *m, const uint32_t *f, size_t n, double *s)
{
	size_t known = 0;
	for (size_t c = 0; c < m->nclass; c++)
		s[c] = 0;
	for (size_t j = 0; j < n; j++) {
		uint32_t a = m->start[f[j]], b = m->start[f[j] + 1];
		if (a == b)
			continue;
		known++;
		for (uint32_t e = a; e < b; e++)
			s[m->cls[e]] += m->w[e];
	}
	for (size_t c = 0; c < m->nclass; c++)
		s[c] += m->log_prior[c] + (double)known * m->log_unseen[c];
	return known;
}

/* Class indices ordered by score (desc), ties by label (asc): the first k into
 * top; classes that cannot occur (score -inf) are left out. */
static size_t rank(const struct textmodel *m, const double *s, size_t *top, size_t k)
{
	size_t n = 0;
	for (size_t c = 0; c < m->nclass; c++) {
		if (isinf(s[c]) && s[c] < 0)
			continue;
		/* classes come in ascending label order: a later one passes an
		 * earlier one only with a strictly higher score */
		if (n == k && !(s[c] > s[top[k - 1]]))
			continue;
		size_t i = n < k ? n++ : k - 1;
		while (i > 0 && s[c] > s[top[i - 1]]) {
			top[i] = top[i - 1];
			i--;
		}
		top[i] = c;
	}
	return n;
}

static void softmax_top(const struct textmodel *m, const double *s, const size_t *top, size_t n,
			struct textmodel_guess *out)
{
	double mx = s[top[0]], z = 0, t = m->temperature;
	for (size_t c = 0; c < m->nclass; c++)
		z += exp((s[c] - mx) / t);
	for (size_t i = 0; i < n; i++) {
		out[i].label = m->labels[top[i]];
		out[i].p = exp((s[top[i]] - mx) / t) / z;
	}
}

/* Keep only the features the model uses: a map from their codes to a new,
 * dense index space, and the CSR over it (entries keep their order). */
static void compact(struct textmodel *m, const struct fmap *all)
{
	uint32_t *start = xcalloc(m->vocab + 1, sizeof *start);
	uint16_t *cls = xmalloc((m->start[m->nfeat] ? m->start[m->nfeat] : 1) * sizeof *cls);
	float *w = xmalloc((m->start[m->nfeat] ? m->start[m->nfeat] : 1) * sizeof *w);
	uint32_t at = 0;
	/* in the order the features were first seen: deterministic */
	uint64_t *code = xmalloc((m->nfeat ? m->nfeat : 1) * sizeof *code);
	for (size_t h = 0; h < all->cap; h++)
		if (all->keys[h])
			code[all->vals[h]] = all->keys[h];
	for (size_t f = 0; f < m->nfeat; f++) {
		uint32_t a = m->start[f], b = m->start[f + 1];
		if (a == b)
			continue;
		uint32_t ni = fmap_add(&m->map, code[f]);
		memcpy(cls + at, m->cls + a, (b - a) * sizeof *cls);
		memcpy(w + at, m->w + a, (b - a) * sizeof *w);
		at += b - a;
		start[ni + 1] = at;
	}
	free(code);
	free(m->start);
	free(m->cls);
	free(m->w);
	m->start = start;
	m->cls = cls;
	m->w = w;
	m->nfeat = m->map.n;
}

/*
 * Naive Bayes counts overlapping n-grams as independent evidence, so its
 * posteriors are far too sure of themselves. The scores are divided by a
 * temperature before the softmax; the temperature is the one of a small grid
 * with the least log loss on the held-out examples (rankings do not change).
 * s holds the scores of the n test documents, nclass each.
 */
static double calibrate(const double *s, const struct doc *docs, size_t n, size_t nclass)
{
	static const double grid[] = {1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32};
	double best = 1.0, best_loss = INFINITY;
	for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
		double loss = 0;
		size_t used = 0;
		for (size_t i = 0; i < n; i++) {
			const double *v = s + i * nclass;
			if (isinf(v[docs[i].cls]))
				continue; /* a class the evaluation model never saw */
			double mx = -INFINITY, z = 0;
			for (size_t c = 0; c < nclass; c++)
				if (v[c] > mx)
					mx = v[c];
			for (size_t c = 0; c < nclass; c++)
				z += exp((v[c] - mx) / grid[g]);
			loss += log(z) - (v[docs[i].cls] - mx) / grid[g];
			used++;
		}
		if (used && loss / (double)used < best_loss - 1e-12) {
			best_loss = loss / (double)used;
			best = grid[g];
		}
	}
	return best;
}

struct textmodel *textmodel_build(const struct textmodel_example *ex, size_t n, double alpha,
				  double holdout, struct textmodel_eval *ev)
{
	struct fmap map = {0};
	struct doc *docs = xcalloc(n ? n : 1, sizeof *docs);
	struct textmodel_feats tf = {0};
	int64_t *labels = xmalloc((n ? n : 1) * sizeof *labels);
	size_t nclass = 0;

	/* the classes: the distinct labels, ascending (at most TEXTMODEL_MAX_CLASSES) */
	for (size_t i = 0; i < n; i++)
		labels[i] = ex[i].label;
	qsort(labels, n, sizeof *labels, cmp_i64);
	for (size_t i = 0; i < n; i++)
		if ((!nclass || labels[i] != labels[nclass - 1]) && nclass < TEXTMODEL_MAX_CLASSES)
			labels[nclass++] = labels[i];
	for (size_t i = 0; i < n; i++) {
		const int64_t *hit = bsearch(&ex[i].label, labels, nclass, sizeof *labels, cmp_i64);
		docs[i].cls = hit ? (uint32_t)(hit - labels) : UINT32_MAX;
		textmodel_features(ex[i].text, TEXTMODEL_UNIGRAMS | TEXTMODEL_BIGRAMS, &tf);
		docs[i].f = xmalloc((tf.n ? tf.n : 1) * sizeof *docs[i].f);
		docs[i].n = tf.n;
		for (size_t j = 0; j < tf.n; j++)
			docs[i].f[j] = fmap_add(&map, tf.v[j]);
	}
	textmodel_feats_release(&tf);
	/* a label beyond the class limit has no class: leave such documents out */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (docs[i].cls == UINT32_MAX) {
			free(docs[i].f);
			continue;
		}
		docs[kept++] = docs[i];
	}
	n = kept;

	double temperature = 1.0;
	if (ev) {
		memset(ev, 0, sizeof *ev);
		size_t test = holdout > 0 && holdout < 1 ? (size_t)((double)n * holdout) : 0;
		ev->train = n;
		if (test >= 5 && test < n) {
			struct textmodel *em =
				train(docs, 0, n - test, map.n, labels, nclass, alpha);
			double *s = xmalloc(test * (nclass ? nclass : 1) * sizeof *s);
			size_t top[3];
			ev->train = n - test;
			ev->test = test;
			for (size_t i = 0; i < test; i++) {
				const struct doc *d = &docs[n - test + i];
				score(em, d->f, d->n, s + i * nclass);
				size_t k = rank(em, s + i * nclass, top, 3);
				for (size_t r = 0; r < k; r++)
					if (top[r] == d->cls) {
						ev->top1 += r == 0;
						ev->top3++;
					}
			}
			temperature = calibrate(s, docs + (n - test), test, nclass);
			free(s);
			textmodel_free(em);
		}
	}
	struct textmodel *m = train(docs, 0, n, map.n, labels, nclass, alpha);
	compact(m, &map);
	fmap_release(&map);
	m->temperature = temperature;
	for (size_t i = 0; i < n; i++)
		free(docs[i].f);
	free(docs);
	free(labels);
	return m;
}

void textmodel_free(struct textmodel *m)
{
	if (!m)
		return;
	free(m->labels);
	free(m->log_prior);
	free(m->log_unseen);
	free(m->start);
	free(m->cls);
	free(m->w);
	fmap_release(&m->map);
	free(m);
}

size_t textmodel_predict(const struct textmodel *m, const char *text, struct textmodel_guess *out,
			 size_t k)
{
	if (!m || !m->nclass || !k)
		return 0;
	struct textmodel_feats tf = {0};
	textmodel_features(text, TEXTMODEL_UNIGRAMS | TEXTMODEL_BIGRAMS, &tf);
	uint32_t *f = xmalloc((tf.n ? tf.n : 1) * sizeof *f);
	size_t nf = 0;
	for (size_t j = 0; j < tf.n; j++) {
		uint32_t idx = fmap_find(&m->map, tf.v[j]);
		if (idx != UINT32_MAX && idx < m->nfeat)
			f[nf++] = idx;
	}
	textmodel_feats_release(&tf);
	double *s = xmalloc(m->nclass * sizeof *s);
	size_t *top = xmalloc(k * sizeof *top), n = 0;
	if (score(m, f, nf, s) > 0) {
		n = rank(m, s, top, k);
		if (n)
			softmax_top(m, s, top, n, out);
	}
	free(top);
	free(s);
	free(f);
	return n;
}

double textmodel_temperature(const struct textmodel *m)
{
	return m ? m->temperature : 1.0;
}

size_t textmodel_examples(const struct textmodel *m)
{
	return m ? m->nexamples : 0;
}

size_t textmodel_classes(const struct textmodel *m)
{
	return m ? m->nclass : 0;
}

size_t textmodel_vocabulary(const struct textmodel *m)
{
	return m ? m->vocab : 0;
}

size_t textmodel_bytes(const struct textmodel *m)
{
	if (!m)
		return 0;
	size_t ent = m->start[m->nfeat];
	return sizeof *m + m->nclass * (sizeof(int64_t) + 2 * sizeof(double)) +
	       (m->nfeat + 1) * sizeof(uint32_t) + ent * (sizeof(uint16_t) + sizeof(float)) +
	       m->map.cap * (sizeof(uint64_t) + sizeof(uint32_t));
}
