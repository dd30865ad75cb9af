/*
 * geo.c — see geo.h.
 *
 * Robustness: every topological decision (is a point on an edge, on which
 * side of an edge, do two edges meet) goes through orient(), which is exact:
 * a floating-point filter with Shewchuk's error bound and, below the bound,
 * the sign of the exact sum of the six products of the determinant (each
 * product split into two doubles with fma, the twelve summed into a
 * non-overlapping expansion). Only derived numbers (where along an edge a
 * crossing lies, areas, label points, coverage estimates) are rounded.
 *
 * Validation finds candidate pairs of edges (or rings) by sorting their
 * bounding boxes by x and sweeping, so a district outline of thousands of
 * vertices is checked in about O(n log n), not O(n²). Whether a ring enters
 * or leaves another region is decided by cutting each of its edges at every
 * point where it meets the region's boundary and classifying one point of
 * each piece (a piece between two consecutive meeting points lies entirely
 * inside, outside or along the boundary).
 */
#include "core/geo.h"

#include <math.h>
#include <stdbool.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "base/banned.h"

#define D2R	  (M_PI / 180.0)
#define NONE	  ((size_t)-1)
#define NODE_CAP  16  /* entries per R-tree node */
#define STACK_CAP 256 /* R-tree traversal stack; enough for 2^32 items */

/* ---------------------------------------------------------------- exact predicates */

static void two_sum(double a, double b, double *s, double *err)
{
	double x = a + b, bv = x - a, av = x - bv;
	*s = x;
	*err = (a - av) + (b - bv);
}

/* Sign of the exact sum of t[0..n) (n <= 16): grow a non-overlapping
 * expansion, ordered by increasing magnitude; its largest non-zero component
 * has the sign of the sum. */
static int expansion_sign(const double *t, size_t n)
{
	double h[16];
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		double q = t[i];
		for (size_t j = 0; j < m; j++) {
			double s, e;
			two_sum(q, h[j], &s, &e);
			h[j] = e;
			q = s;
		}
		h[m++] = q;
	}
	while (m-- > 0)
		if (h[m] != 0)
			return h[m] > 0 ? 1 : -1;
	return 0;
}

/* (bx-ax)(cy-ay) - (by-ay)(cx-ax) = bx·cy - bx·ay - ax·cy - by·cx + by·ax + ay·cx, exactly. */
static int orient_exact(double ax, double ay, double bx, double by, double cx, double cy)
{
	const double f[6][2] = {{bx, cy}, {-bx, ay}, {-ax, cy}, {-by, cx}, {by, ax}, {ay, cx}};
	double t[12];
	for (int i = 0; i < 6; i++) {
		double p = f[i][0] * f[i][1];
		t[2 * i] = p;
		t[2 * i + 1] = fma(f[i][0], f[i][1], -p);
	}
	return expansion_sign(t, 12);
}

static inline int orient(double ax, double ay, double bx, double by, double cx, double cy)
{
	double l = (bx - ax) * (cy - ay), r = (by - ay) * (cx - ax), d = l - r;
	double bound = 1e-15 * (fabs(l) + fabs(r)); /* > (3 + 16ε)ε (Shewchuk, orient2d) */
	if (d > bound)
		return 1;
	if (d < -bound)
		return -1;
	return orient_exact(ax, ay, bx, by, cx, cy);
}

static inline int orient_pt(struct geo_pt a, struct geo_pt b, struct geo_pt c)
{
	return orient(a.x, a.y, b.x, b.y, c.x, c.y);
}

int geo_orient(struct geo_pt a, struct geo_pt b, struct geo_pt c)
{
	return orient_pt(a, b, c);
}

/* Closed segments p1p2 and q1q2 share a point. */
static bool seg_meet(struct geo_pt p1, struct geo_pt p2, struct geo_pt q1, struct geo_pt q2)
{
	int o1 = orient_pt(p1, p2, q1), o2 = orient_pt(p1, p2, q2);
	if (o1 != 0 && o1 == o2)
		return false;
	if (o1 == 0 && o2 == 0) /* collinear: do the projections overlap? */
		return fmax(fmin(p1.x, p2.x), fmin(q1.x, q2.x)) <=
			       fmin(fmax(p1.x, p2.x), fmax(q1.x, q2.x)) &&
		       fmax(fmin(p1.y, p2.y), fmin(q1.y, q2.y)) <=
			       fmin(fmax(p1.y, p2.y), fmax(q1.y, q2.y));
	int o3 = orient_pt(q1, q2, p1), o4 = orient_pt(q1, q2, p2);
	return !(o3 != 0 && o3 == o4);
}

int geo_segments_intersect(struct geo_pt p1, struct geo_pt p2, struct geo_pt q1, struct geo_pt q2)
{
	return seg_meet(p1, p2, q1, q2);
}

/* ---------------------------------------------------------------- point in polygon */

/* One edge of the crossing-number test for (px, py): 1 if the point is on the
 * edge; otherwise flip *cross when the edge crosses the ray to the right of
 * the point (half-open in y, so a vertex on the ray counts once). */
static inline int edge_step(double ax, double ay, double bx, double by, double px, double py,
			    int *cross)
{
	if ((py < ay && py < by) || (py > ay && py > by))
		return 0;
	if (px < ax && px < bx) {
		if ((ay <= py) != (by <= py))
			*cross ^= 1;
		return 0;
	}
	if (px > ax && px > bx)
		return 0;
	int o = orient(ax, ay, bx, by, px, py);
	if (o == 0)
		return 1;
	if ((ay <= py) != (by <= py) && (o > 0) == (by > ay))
		*cross ^= 1;
	return 0;
}

static enum geo_where poly_where(const struct geo_poly *P, double px, double py)
{
	int cross = 0;
	for (size_t r = 0; r < P->nrings; r++) {
		const struct geo_pt *p = P->rings[r].pts;
		size_t n = P->rings[r].n;
		for (size_t i = 0; i + 1 < n; i++)
			if (edge_step(p[i].x, p[i].y, p[i + 1].x, p[i + 1].y, px, py, &cross))
				return GEO_BOUNDARY;
	}
	return cross ? GEO_INSIDE : GEO_OUTSIDE;
}

static inline bool box_has(const struct geo_bbox *b, double x, double y)
{
	return x >= b->minx && x <= b->maxx && y >= b->miny && y <= b->maxy;
}

/* Without the bbox test. On a boundary of any ring, else by the even-odd
 * rule over all rings of all polygons: for a valid shape (polygons that do
 * not overlap, holes inside their outer ring) that is "inside one of the
 * polygons and not in its holes". */
static enum geo_where shape_where(const struct geo_shape *s, double x, double y)
{
	int cross = 0;
	for (size_t k = 0; k < s->npolys; k++)
		for (size_t r = 0; r < s->polys[k].nrings; r++) {
			const struct geo_pt *p = s->polys[k].rings[r].pts;
			size_t n = s->polys[k].rings[r].n;
			for (size_t i = 0; i + 1 < n; i++)
				if (edge_step(p[i].x, p[i].y, p[i + 1].x, p[i + 1].y, x, y, &cross))
					return GEO_BOUNDARY;
		}
	return cross ? GEO_INSIDE : GEO_OUTSIDE;
}

enum geo_where geo_classify(const struct geo_shape *s, double x, double y)
{
	if (!s || !s->npolys || !isfinite(x) || !isfinite(y) || !box_has(&s->bbox, x, y))
		return GEO_OUTSIDE;
	return shape_where(s, x, y);
}

int geo_contains(const struct geo_shape *s, double x, double y)
{
	return geo_classify(s, x, y) != GEO_OUTSIDE;
}

/* ---------------------------------------------------------------- shapes */

static void ring_bbox(const struct geo_ring *r, struct geo_bbox *b)
{
	for (size_t i = 0; i < r->n; i++) {
		b->minx = fmin(b->minx, r->pts[i].x);
		b->maxx = fmax(b->maxx, r->pts[i].x);
		b->miny = fmin(b->miny, r->pts[i].y);
		b->maxy = fmax(b->maxy, r->pts[i].y);
	}
}

static const struct geo_bbox empty_box = {INFINITY, INFINITY, -INFINITY, -INFINITY};

static void shape_bbox(struct geo_shape *s)
{
	s->bbox = empty_box;
	for (size_t i = 0; i < s->npolys; i++)
		if (s->polys[i].nrings)
			ring_bbox(&s->polys[i].rings[0], &s->bbox);
	if (!s->npolys)
		memset(&s->bbox, 0, sizeof s->bbox);
}

void geo_shape_free(struct geo_shape *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->npolys; i++) {
		for (size_t r = 0; r < s->polys[i].nrings; r++)
			free(s->polys[i].rings[r].pts);
		free(s->polys[i].rings);
	}
	free(s->polys);
	memset(s, 0, sizeof *s);
}

void geo_shape_from_polys(const struct geo_poly *polys, size_t npolys, struct geo_shape *out)
{
	memset(out, 0, sizeof *out);
	out->polys = xcalloc(npolys ? npolys : 1, sizeof *out->polys);
	out->npolys = npolys;
	for (size_t i = 0; i < npolys; i++) {
		const struct geo_poly *src = &polys[i];
		struct geo_poly *dst = &out->polys[i];
		dst->rings = xcalloc(src->nrings ? src->nrings : 1, sizeof *dst->rings);
		dst->nrings = src->nrings;
		for (size_t r = 0; r < src->nrings; r++) {
			size_t n = src->rings[r].n;
			dst->rings[r].pts = xmalloc((n ? n : 1) * sizeof(struct geo_pt));
			if (n)
				memcpy(dst->rings[r].pts, src->rings[r].pts,
				       n * sizeof(struct geo_pt));
			dst->rings[r].n = n;
		}
	}
	shape_bbox(out);
}

void geo_shape_copy(const struct geo_shape *src, struct geo_shape *out)
{
	geo_shape_from_polys(src->polys, src->npolys, out);
}

/* Twice the signed planar area in degrees² (positive = counter-clockwise). */
static double ring_signed2(const struct geo_ring *r)
{
	double s = 0;
	for (size_t i = 0; i + 1 < r->n; i++)
		s += (r->pts[i].x - r->pts[0].x) * (r->pts[i + 1].y - r->pts[0].y) -
		     (r->pts[i + 1].x - r->pts[0].x) * (r->pts[i].y - r->pts[0].y);
	return s;
}

static void ring_reverse(struct geo_ring *r)
{
	for (size_t i = 0, j = r->n - 1; i < j; i++, j--) {
		struct geo_pt t = r->pts[i];
		r->pts[i] = r->pts[j];
		r->pts[j] = t;
	}
}

/* ---------------------------------------------------------------- areas and distances */

/* |∮ sin φ dλ| along straight (λ, φ) edges, exactly: an edge contributes
 * Δλ·(cos φ1 - cos φ2)/Δφ = Δλ·sin φm·sinc(Δφ/2). Times R² it is the area on
 * the sphere of the region the ring bounds. */
static double ring_area_sr(const struct geo_pt *p, size_t n)
{
	double s = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		double dl = (p[i + 1].x - p[i].x) * D2R;
		double h = (p[i + 1].y - p[i].y) * D2R / 2, pm = (p[i + 1].y + p[i].y) * D2R / 2;
		s += dl * sin(pm) * (h == 0 ? 1 : sin(h) / h);
	}
	return fabs(s);
}

static double poly_area_m2(const struct geo_poly *P)
{
	if (!P->nrings)
		return 0;
	double a = ring_area_sr(P->rings[0].pts, P->rings[0].n);
	for (size_t r = 1; r < P->nrings; r++)
		a -= ring_area_sr(P->rings[r].pts, P->rings[r].n);
	return a * GEO_EARTH_R_M * GEO_EARTH_R_M;
}

double geo_area_m2(const struct geo_shape *s)
{
	double a = 0;
	for (size_t i = 0; s && i < s->npolys; i++)
		a += poly_area_m2(&s->polys[i]);
	return a;
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
	double dlat = (lat2 - lat1) * D2R, dlon = (lon2 - lon1) * D2R;
	double sa = sin(dlat / 2), so = sin(dlon / 2);
	double a = sa * sa + cos(lat1 * D2R) * cos(lat2 * D2R) * so * so;
	return 2 * GEO_EARTH_R_M * asin(fmin(1.0, sqrt(a)));
}

/* ---------------------------------------------------------------- label points */

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * A point strictly inside P: scan lines strictly between distinct vertex
 * latitudes (so no vertex lies on them), at up to 15 heights from the middle
 * outwards; the middle of the widest run inside wins, checked exactly.
 */
static bool poly_label(const struct geo_poly *P, struct geo_pt *out)
{
	size_t nv = 0;
	for (size_t r = 0; r < P->nrings; r++)
		nv += P->rings[r].n ? P->rings[r].n - 1 : 0;
	if (nv < 3)
		return false;
	double *ys = xmalloc(nv * sizeof *ys), *xs = xmalloc(nv * sizeof *xs);
	size_t k = 0;
	for (size_t r = 0; r < P->nrings; r++)
		for (size_t i = 0; i + 1 < P->rings[r].n; i++)
			ys[k++] = P->rings[r].pts[i].y;
	qsort(ys, nv, sizeof *ys, dbl_cmp);
	size_t nu = 1;
	for (size_t i = 1; i < nv; i++)
		if (ys[i] != ys[nu - 1])
			ys[nu++] = ys[i];
	bool found = false;
	double best_w = -1;
	size_t tried[15], ntried = 0;
	for (int t = 0; nu >= 2 && t < 15; t++) {
		double f = 0.5 + ((t & 1) ? 1 : -1) * ((t + 1) / 2) / 16.0;
		double target = ys[0] + f * (ys[nu - 1] - ys[0]);
		size_t lo = 0, hi = nu - 1; /* last index with ys <= target, below nu-1 */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (ys[mid] <= target)
				lo = mid;
			else
				hi = mid;
		}
		bool seen = false;
		for (size_t i = 0; i < ntried; i++)
			seen |= tried[i] == lo;
		if (seen)
			continue;
		tried[ntried++] = lo;
		double y = ys[lo] + (ys[lo + 1] - ys[lo]) / 2;
		if (!(y > ys[lo] && y < ys[lo + 1]))
			continue;
		size_t nx = 0;
		for (size_t r = 0; r < P->nrings; r++) {
			const struct geo_pt *p = P->rings[r].pts;
			for (size_t i = 0; i + 1 < P->rings[r].n; i++)
				if ((p[i].y < y) != (p[i + 1].y < y))
					xs[nx++] = p[i].x + (y - p[i].y) * (p[i + 1].x - p[i].x) /
								    (p[i + 1].y - p[i].y);
		}
		qsort(xs, nx, sizeof *xs, dbl_cmp);
		for (size_t i = 0; i + 1 < nx; i += 2) {
			double w = xs[i + 1] - xs[i], mx = xs[i] + w / 2;
			if (w > best_w && poly_where(P, mx, y) == GEO_INSIDE) {
				best_w = w;
				*out = (struct geo_pt){mx, y};
				found = true;
			}
		}
	}
	free(ys);
	free(xs);
	return found;
}

struct geo_pt geo_label_point(const struct geo_shape *s)
{
	struct geo_pt pt = {0, 0};
	if (!s || !s->npolys)
		return pt;
	size_t big = 0;
	double big_a = -1;
	for (size_t i = 0; i < s->npolys; i++) {
		double a = poly_area_m2(&s->polys[i]);
		if (a > big_a) {
			big_a = a;
			big = i;
		}
	}
	if (poly_label(&s->polys[big], &pt))
		return pt;
	for (size_t i = 0; i < s->npolys; i++)
		if (i != big && poly_label(&s->polys[i], &pt))
			return pt;
	return s->polys[0].nrings && s->polys[0].rings[0].n ? s->polys[0].rings[0].pts[0] : pt;
}

/* ---------------------------------------------------------------- sweep */

struct sbox {
	double minx, maxx, miny, maxy;
	uint32_t idx, grp;
};

static int sbox_cmp(const void *a, const void *b)
{
	const struct sbox *x = a, *y = b;
	if (x->minx != y->minx)
		return x->minx < y->minx ? -1 : 1;
	if (x->grp != y->grp)
		return x->grp < y->grp ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static struct sbox seg_box(struct geo_pt a, struct geo_pt b, size_t idx, size_t grp)
{
	return (struct sbox){fmin(a.x, b.x), fmax(a.x, b.x), fmin(a.y, b.y),
			     fmax(a.y, b.y), (uint32_t)idx,  (uint32_t)grp};
}

/* Call fn for every pair of boxes that overlap (closed); sorts bx by minx. */
static void sweep(struct sbox *bx, size_t n,
		  void (*fn)(void *, const struct sbox *, const struct sbox *), void *ctx)
{
	qsort(bx, n, sizeof *bx, sbox_cmp);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && bx[j].minx <= bx[i].maxx; j++)
			if (bx[j].miny <= bx[i].maxy && bx[i].miny <= bx[j].maxy)
				fn(ctx, &bx[i], &bx[j]);
}

struct pair3 {
	uint32_t a, b, c;
};

struct pairs {
	struct pair3 *v;
	size_t n, cap;
};

static void pairs_push(struct pairs *p, uint32_t a, uint32_t b, uint32_t c)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n].a = a;
	p->v[p->n].b = b;
	p->v[p->n].c = c;
	p->n++;
}

static int pair_cmp(const void *x, const void *y)
{
	const struct pair3 *a = x, *b = y;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return (a->c > b->c) - (a->c < b->c);
}

/* ---------------------------------------------------------------- simple rings */

/* Consecutive edges a→v→d go back over each other. */
static bool folds(struct geo_pt a, struct geo_pt v, struct geo_pt d)
{
	if (orient_pt(a, v, d) != 0)
		return false;
	if (a.x != v.x)
		return (a.x < v.x) == (d.x < v.x);
	return (a.y < v.y) == (d.y < v.y);
}

struct simple_ctx {
	const struct geo_pt *p;
	size_t m; /* edges */
	bool bad, fold;
	size_t bi, bj; /* the failing pair with the smallest (bj, bi) */
};

static void simple_pair(void *vc, const struct sbox *x, const struct sbox *y)
{
	struct simple_ctx *c = vc;
	size_t i = x->idx < y->idx ? x->idx : y->idx, j = x->idx < y->idx ? y->idx : x->idx;
	if (c->bad && (j > c->bj || (j == c->bj && i >= c->bi)))
		return;
	const struct geo_pt *p = c->p;
	bool hit, fold = false;
	if (j == i + 1)
		hit = fold = folds(p[i], p[j], p[j + 1]);
	else if (i == 0 && j == c->m - 1)
		hit = fold = folds(p[j], p[0], p[1]);
	else
		hit = seg_meet(p[i], p[i + 1], p[j], p[j + 1]);
	if (hit) {
		c->bad = true;
		c->fold = fold;
		c->bi = i;
		c->bj = j;
	}
}

/* 0 if ring r (closed, no repeated consecutive points, n >= 4) neither
 * crosses nor touches itself; else -1 with the pair of edges. */
static int ring_simple(const struct geo_ring *r, struct simple_ctx *c)
{
	size_t m = r->n - 1;
	struct sbox *bx = xmalloc(m * sizeof *bx);
	for (size_t i = 0; i < m; i++)
		bx[i] = seg_box(r->pts[i], r->pts[i + 1], i, 0);
	*c = (struct simple_ctx){.p = r->pts, .m = m};
	sweep(bx, m, simple_pair, c);
	free(bx);
	return c->bad ? -1 : 0;
}

/* ---------------------------------------------------------------- ring against region */

/* Parameter of c's projection on a→b, in [0, 1]. */
static double proj(struct geo_pt a, struct geo_pt b, struct geo_pt c)
{
	double dx = b.x - a.x, dy = b.y - a.y;
	double t = ((c.x - a.x) * dx + (c.y - a.y) * dy) / (dx * dx + dy * dy);
	return fmin(1.0, fmax(0.0, t));
}

struct cuts {
	double *t; /* parameters along the edge where it meets the boundary */
	size_t nt, capt;
	double *iv; /* [lo, hi) pairs: stretches along the boundary */
	size_t niv, capiv;
};

static void cut_add(struct cuts *c, double t)
{
	if (c->nt == c->capt) {
		c->capt = c->capt ? 2 * c->capt : 16;
		c->t = xrealloc(c->t, c->capt * sizeof *c->t);
	}
	c->t[c->nt++] = t;
}

static void cut_interval(struct cuts *c, double lo, double hi)
{
	if (c->niv + 2 > c->capiv) {
		c->capiv = c->capiv ? 2 * c->capiv : 16;
		c->iv = xrealloc(c->iv, c->capiv * sizeof *c->iv);
	}
	c->iv[c->niv++] = lo;
	c->iv[c->niv++] = hi;
	cut_add(c, lo);
	cut_add(c, hi);
}

/* Where edge a→b meets edge c→d, as parameters along a→b. A meeting at a
 * vertex of c→d is computed from that vertex alone, so the two boundary
 * edges sharing it give the same parameter. */
static void edge_cuts(struct geo_pt a, struct geo_pt b, struct geo_pt c, struct geo_pt d,
		      struct cuts *cu)
{
	int oc = orient_pt(a, b, c), od = orient_pt(a, b, d);
	if (oc != 0 && oc == od)
		return;
	if (oc == 0 && od == 0) {
		if (!seg_meet(a, b, c, d))
			return;
		double tc = proj(a, b, c), td = proj(a, b, d);
		double lo = fmin(tc, td), hi = fmax(tc, td);
		if (lo < hi)
			cut_interval(cu, lo, hi);
		else
			cut_add(cu, lo);
		return;
	}
	int oa = orient_pt(c, d, a), ob = orient_pt(c, d, b);
	if (oa != 0 && oa == ob)
		return;
	double t;
	if (oc == 0)
		t = proj(a, b, c);
	else if (od == 0)
		t = proj(a, b, d);
	else if (oa == 0)
		t = 0;
	else if (ob == 0)
		t = 1;
	else {
		double da = (d.x - c.x) * (a.y - c.y) - (d.y - c.y) * (a.x - c.x);
		double db = (d.x - c.x) * (b.y - c.y) - (d.y - c.y) * (b.x - c.x);
		t = fmin(1.0, fmax(0.0, da / (da - db)));
	}
	cut_add(cu, t);
}

static void rel_pair(void *vc, const struct sbox *x, const struct sbox *y)
{
	if ((x->grp == 0) == (y->grp == 0))
		return;
	if (x->grp != 0) {
		const struct sbox *t = x;
		x = y;
		y = t;
	}
	pairs_push(vc, x->idx, y->grp - 1, y->idx);
}

/*
 * Does the boundary of ring R have pieces strictly inside region Q (*in) and
 * strictly outside it (*out)? Pieces along Q's boundary count as neither.
 */
static void ring_vs_poly(const struct geo_ring *R, const struct geo_poly *Q, bool *in, bool *out)
{
	*in = *out = false;
	size_t mr = R->n - 1, mq = 0;
	for (size_t q = 0; q < Q->nrings; q++)
		mq += Q->rings[q].n - 1;
	struct sbox *bx = xmalloc((mr + mq) * sizeof *bx);
	size_t k = 0;
	for (size_t i = 0; i < mr; i++)
		bx[k++] = seg_box(R->pts[i], R->pts[i + 1], i, 0);
	for (size_t q = 0; q < Q->nrings; q++)
		for (size_t i = 0; i + 1 < Q->rings[q].n; i++)
			bx[k++] = seg_box(Q->rings[q].pts[i], Q->rings[q].pts[i + 1], i, q + 1);
	struct pairs pr = {0};
	sweep(bx, k, rel_pair, &pr);
	free(bx);
	if (pr.n)
		qsort(pr.v, pr.n, sizeof *pr.v, pair_cmp);

	struct cuts cu = {0};
	int carry = -1; /* where the previous edge lay, if it met nothing */
	size_t pi = 0;
	for (size_t i = 0; i < mr && !(*in && *out); i++) {
		struct geo_pt a = R->pts[i], b = R->pts[i + 1];
		cu.nt = cu.niv = 0;
		for (; pi < pr.n && pr.v[pi].a == i; pi++) {
			const struct geo_pt *qp = Q->rings[pr.v[pi].b].pts + pr.v[pi].c;
			edge_cuts(a, b, qp[0], qp[1], &cu);
		}
		if (cu.nt == 0) {
			int w = carry >= 0 ? carry
					   : (int)poly_where(Q, a.x + (b.x - a.x) / 2,
							     a.y + (b.y - a.y) / 2);
			*in |= w == GEO_INSIDE;
			*out |= w == GEO_OUTSIDE;
			carry = w == GEO_BOUNDARY ? -1 : w;
			continue;
		}
		carry = -1;
		cut_add(&cu, 0);
		cut_add(&cu, 1);
		qsort(cu.t, cu.nt, sizeof *cu.t, dbl_cmp);
		for (size_t j = 0; j + 1 < cu.nt; j++) {
			double t0 = cu.t[j], t1 = cu.t[j + 1];
			if (!(t0 < t1))
				continue;
			bool along = false;
			for (size_t v = 0; v < cu.niv && !along; v += 2)
				along = cu.iv[v] <= t0 && t1 <= cu.iv[v + 1];
			if (along)
				continue;
			double tm = t0 + (t1 - t0) / 2;
			enum geo_where w =
				poly_where(Q, a.x + (b.x - a.x) * tm, a.y + (b.y - a.y) * tm);
			*in |= w == GEO_INSIDE;
			*out |= w == GEO_OUTSIDE;
		}
	}
	free(cu.t);
	free(cu.iv);
	free(pr.v);
}

/* Do the interiors of A and B overlap? Either boundary has a piece strictly
 * inside the other region, or (boundaries all outside or along each other)
 * A lies within B, which an interior point of A tells. */
static bool regions_overlap(const struct geo_poly *A, const struct geo_poly *B)
{
	bool in, out;
	for (size_t r = 0; r < A->nrings; r++) {
		ring_vs_poly(&A->rings[r], B, &in, &out);
		if (in)
			return true;
	}
	for (size_t r = 0; r < B->nrings; r++) {
		ring_vs_poly(&B->rings[r], A, &in, &out);
		if (in)
			return true;
	}
	struct geo_pt lp;
	return poly_label(A, &lp) && poly_where(B, lp.x, lp.y) == GEO_INSIDE;
}

static void box_pair(void *vc, const struct sbox *x, const struct sbox *y)
{
	uint32_t i = x->idx < y->idx ? x->idx : y->idx, j = x->idx < y->idx ? y->idx : x->idx;
	pairs_push(vc, j, i, 0);
}

/* Pairs (j, i), i < j, of the rings whose bboxes overlap, sorted. */
static void ring_box_pairs(const struct geo_ring *const *rings, size_t n, struct pairs *pr)
{
	struct sbox *bx = xmalloc((n ? n : 1) * sizeof *bx);
	for (size_t i = 0; i < n; i++) {
		struct geo_bbox b = empty_box;
		ring_bbox(rings[i], &b);
		bx[i] = (struct sbox){b.minx, b.maxx, b.miny, b.maxy, (uint32_t)i, 0};
	}
	sweep(bx, n, box_pair, pr);
	free(bx);
	if (pr->n)
		qsort(pr->v, pr->n, sizeof *pr->v, pair_cmp);
}

/* ---------------------------------------------------------------- GeoJSON in */

struct pctx {
	char prefix[96];
	bool multi;
	size_t total; /* positions so far */
	struct err *e;
};

static void append_index(char *buf, size_t cap, size_t i)
{
	size_t len = strlen(buf);
	if (len + 1 < cap)
		snprintf(buf + len, cap - len, "[%zu]", i);
}

/* "<prefix>.coordinates[p][r][j]"; p only for a MultiPolygon, NONE leaves an index out. */
static const char *cfield(char *buf, size_t cap, const struct pctx *c, size_t p, size_t r, size_t j)
{
	snprintf(buf, cap, "%s%scoordinates", c->prefix, c->prefix[0] ? "." : "");
	if (c->multi && p != NONE)
		append_index(buf, cap, p);
	if (r != NONE)
		append_index(buf, cap, r);
	if (j != NONE)
		append_index(buf, cap, j);
	return buf;
}

static const char *mfield(char *buf, size_t cap, const char *prefix, const char *member)
{
	snprintf(buf, cap, "%s%s%s", prefix, prefix[0] && member[0] ? "." : "", member);
	return buf;
}

static int parse_position(struct pctx *c, const json_t *pos, size_t p, size_t r, size_t j,
			  struct geo_pt *out)
{
	char f[128];
	static const char *const zh[] = {"经度", "纬度", "高程"};
	static const char *const en[] = {"longitude", "latitude", "altitude"};
	if (!json_is_array(pos) || json_array_size(pos) < 2)
		return err_set(c->e, ERR_BAD_REQUEST, cfield(f, sizeof f, c, p, r, j),
			       "坐标点应为 [经度, 纬度] 数组",
			       "position must be an array [longitude, latitude]");
	for (size_t k = 0; k < json_array_size(pos); k++)
		if (!json_is_number(json_array_get(pos, k))) {
			char mz[64], me[64];
			snprintf(mz, sizeof mz, "%s应为数字", k < 3 ? zh[k] : "坐标值");
			snprintf(me, sizeof me, "%s must be a number",
				 k < 3 ? en[k] : "coordinate");
			return err_set_msg(c->e, ERR_BAD_REQUEST, cfield(f, sizeof f, c, p, r, j),
					   mz, me);
		}
	double x = json_number_value(json_array_get(pos, 0)),
	       y = json_number_value(json_array_get(pos, 1));
	if (!(x >= -180 && x <= 180))
		return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, j),
			       "经度 %g 超出 [-180, 180]", "longitude %g is outside [-180, 180]",
			       x);
	if (!(y >= -90 && y <= 90))
		return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, j),
			       "纬度 %g 超出 [-90, 90]", "latitude %g is outside [-90, 90]", y);
	*out = (struct geo_pt){x, y};
	return 0;
}

/* Parse, close-check, de-duplicate and self-intersection-check one ring. */
static int parse_ring(struct pctx *c, const json_t *arr, size_t p, size_t r, struct geo_ring *out)
{
	char f[128];
	if (!json_is_array(arr))
		return err_set(c->e, ERR_BAD_REQUEST, cfield(f, sizeof f, c, p, r, NONE),
			       "环应为坐标点数组", "ring must be an array of positions");
	size_t n = json_array_size(arr);
	if (n < 4)
		return err_set(
			c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, NONE),
			"环至少需要 4 个坐标点（首尾相同），实际 %zu 个",
			"ring needs at least 4 positions (the first repeated last), it has %zu", n);
	c->total += n;
	if (c->total > GEO_MAX_POSITIONS)
		return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, NONE, NONE, NONE),
			       "坐标点超过 %d 个", "more than %d positions", GEO_MAX_POSITIONS);
	out->pts = xmalloc(n * sizeof *out->pts);
	size_t *orig = xmalloc(n * sizeof *orig), k = 0;
	int rc = -1;
	struct geo_pt first = {0, 0};
	for (size_t j = 0; j < n; j++) {
		struct geo_pt pt;
		if (parse_position(c, json_array_get(arr, j), p, r, j, &pt))
			goto out_orig;
		if (j == 0)
			first = pt;
		if (j == n - 1 && (pt.x != first.x || pt.y != first.y)) {
			err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, NONE),
				"环未闭合：最后一个坐标点应与第一个相同",
				"ring is not closed: the last position must repeat the first");
			goto out_orig;
		}
		if (k > 0 && pt.x == out->pts[k - 1].x && pt.y == out->pts[k - 1].y)
			continue;
		orig[k] = j;
		out->pts[k++] = pt;
	}
	out->n = k;
	if (k < 4) {
		err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, NONE),
			"环至少需要 3 个不同的坐标点", "ring needs at least 3 distinct positions");
		goto out_orig;
	}
	struct simple_ctx sc;
	if (ring_simple(out, &sc)) {
		if (sc.fold)
			err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, NONE),
				"环在第 %zu 个坐标点处折返重叠",
				"ring doubles back on itself at position %zu",
				orig[sc.bj == sc.bi + 1 ? sc.bj : 0]);
		else
			err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, r, NONE),
				"环自相交：第 %zu–%zu 个坐标点之间的边与第 %zu–%zu "
				"个坐标点之间的边相交",
				"ring crosses itself: the edge from position %zu to %zu meets the "
				"edge from "
				"position %zu to %zu",
				orig[sc.bi], orig[sc.bi + 1], orig[sc.bj], orig[sc.bj + 1]);
		goto out_orig;
	}
	rc = 0;
out_orig:
	free(orig);
	return rc;
}

/* Holes inside the outer ring, not crossing it, not overlapping each other. */
static int check_holes(struct pctx *c, const struct geo_poly *P, size_t p)
{
	char f[128];
	const struct geo_poly outer = {P->rings, 1};
	for (size_t h = 1; h < P->nrings; h++) {
		bool in, out;
		ring_vs_poly(&P->rings[h], &outer, &in, &out);
		if (out && in)
			return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, h, NONE),
				       "内环（洞）与外环交叉", "hole crosses the outer ring");
		if (out)
			return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, h, NONE),
				       "内环（洞）不在外环之内",
				       "hole lies outside the outer ring");
		if (!in)
			return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, h, NONE),
				       "内环（洞）与外环重合",
				       "hole coincides with the outer ring");
	}
	if (P->nrings < 3)
		return 0;
	size_t nh = P->nrings - 1;
	const struct geo_ring **hr = xmalloc(nh * sizeof *hr);
	for (size_t h = 0; h < nh; h++)
		hr[h] = &P->rings[h + 1];
	struct pairs pr = {0};
	ring_box_pairs(hr, nh, &pr);
	int rc = 0;
	for (size_t k = 0; k < pr.n && !rc; k++) {
		size_t j = pr.v[k].a + 1, i = pr.v[k].b + 1;
		const struct geo_poly A = {&P->rings[i], 1}, B = {&P->rings[j], 1};
		if (regions_overlap(&A, &B))
			rc = err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, j, NONE),
				     "内环（洞）与第 %zu 个环重叠", "hole overlaps ring %zu", i);
	}
	free(pr.v);
	free(hr);
	return rc;
}

/* Polygons of a MultiPolygon must not overlap. */
static int check_parts(struct pctx *c, const struct geo_shape *s)
{
	char f[128];
	if (s->npolys < 2)
		return 0;
	const struct geo_ring **outer = xmalloc(s->npolys * sizeof *outer);
	for (size_t i = 0; i < s->npolys; i++)
		outer[i] = &s->polys[i].rings[0];
	struct pairs pr = {0};
	ring_box_pairs(outer, s->npolys, &pr);
	int rc = 0;
	for (size_t k = 0; k < pr.n && !rc; k++) {
		size_t j = pr.v[k].a, i = pr.v[k].b;
		if (regions_overlap(&s->polys[i], &s->polys[j]))
			rc = err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, j, NONE, NONE),
				     "多边形与第 %zu 个多边形重叠", "polygon overlaps polygon %zu",
				     i);
	}
	free(pr.v);
	free(outer);
	return rc;
}

/* rings of one polygon: arr is the JSON array of rings. */
static int parse_poly(struct pctx *c, const json_t *arr, size_t p, struct geo_poly *out)
{
	char f[128];
	if (!json_is_array(arr))
		return err_set(c->e, ERR_BAD_REQUEST, cfield(f, sizeof f, c, p, NONE, NONE),
			       "多边形应为环的数组", "polygon must be an array of rings");
	size_t nr = json_array_size(arr);
	if (nr == 0)
		return err_set(c->e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, p, NONE, NONE),
			       "多边形至少需要一个外环", "a polygon needs an outer ring");
	out->rings = xcalloc(nr, sizeof *out->rings);
	for (size_t r = 0; r < nr; r++) {
		out->nrings = r + 1; /* so that a partial ring is freed */
		if (parse_ring(c, json_array_get(arr, r), p, r, &out->rings[r]))
			return -1;
	}
	return check_holes(c, out, p);
}

static int parse_geometry(struct pctx *c, const json_t *g, const char *field_prefix,
			  struct geo_shape *out)
{
	char f[128];
	struct err *e = c->e;
	const char *type = json_is_object(g) ? json_string_value(json_object_get(g, "type")) : NULL;
	bool feature = type && strcmp(type, "Feature") == 0;
	snprintf(c->prefix, sizeof c->prefix, "%s",
		 field_prefix ? field_prefix
		 : feature    ? ""
			      : "geometry");
	if (!json_is_object(g))
		return err_set(e, ERR_BAD_REQUEST, c->prefix[0] ? c->prefix : "geometry",
			       "几何对象应为 GeoJSON 对象", "geometry must be a GeoJSON object");
	if (!type)
		return err_set(e, ERR_BAD_REQUEST, mfield(f, sizeof f, c->prefix, "type"),
			       "缺少字符串类型的“type”", "missing string \"type\"");
	if (feature) {
		g = json_object_get(g, "geometry");
		size_t len = strlen(c->prefix);
		if (len + sizeof ".geometry" <= sizeof c->prefix)
			memcpy(c->prefix + len, len ? ".geometry" : "geometry",
			       sizeof ".geometry" - !len);
		if (!json_is_object(g))
			return err_set(e, ERR_UNPROCESSABLE, c->prefix,
				       "Feature 缺少几何对象“geometry”",
				       "feature has no geometry object");
		type = json_string_value(json_object_get(g, "type"));
		if (!type)
			return err_set(e, ERR_BAD_REQUEST, mfield(f, sizeof f, c->prefix, "type"),
				       "缺少字符串类型的“type”", "missing string \"type\"");
	}
	if (strcmp(type, "Polygon") == 0)
		c->multi = false;
	else if (strcmp(type, "MultiPolygon") == 0)
		c->multi = true;
	else
		return err_set(e, ERR_UNPROCESSABLE, mfield(f, sizeof f, c->prefix, "type"),
			       "几何类型应为 Polygon 或 MultiPolygon",
			       "geometry type must be Polygon or MultiPolygon");
	const json_t *coords = json_object_get(g, "coordinates");
	if (!json_is_array(coords))
		return err_set(e, ERR_BAD_REQUEST, cfield(f, sizeof f, c, NONE, NONE, NONE),
			       "缺少坐标数组“coordinates”", "missing array \"coordinates\"");
	size_t np = c->multi ? json_array_size(coords) : 1;
	if (np == 0)
		return err_set(e, ERR_UNPROCESSABLE, cfield(f, sizeof f, c, NONE, NONE, NONE),
			       "多多边形至少需要一个多边形",
			       "a multipolygon needs at least one polygon");
	out->polys = xcalloc(np, sizeof *out->polys);
	for (size_t p = 0; p < np; p++) {
		out->npolys = p + 1; /* so that a partial polygon is freed */
		int rc = parse_poly(c, c->multi ? json_array_get(coords, p) : coords, p,
				    &out->polys[p]);
		if (rc)
			return rc;
	}
	return check_parts(c, out);
}

int geo_from_geojson(const json_t *g, const char *field_prefix, struct geo_shape *out,
		     struct err *e)
{
	struct pctx c = {.e = e};
	memset(out, 0, sizeof *out);
	if (parse_geometry(&c, g, field_prefix, out)) {
		geo_shape_free(out);
		return -1;
	}
	for (size_t p = 0; p < out->npolys; p++)
		for (size_t r = 0; r < out->polys[p].nrings; r++) {
			struct geo_ring *ring = &out->polys[p].rings[r];
			if ((ring_signed2(ring) > 0) != (r == 0))
				ring_reverse(ring);
		}
	shape_bbox(out);
	return 0;
}

/* ---------------------------------------------------------------- GeoJSON out */

static json_t *ring_json(const struct geo_ring *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->n; i++) {
		json_t *pt = json_array();
		json_array_append_new(pt, json_real(r->pts[i].x));
		json_array_append_new(pt, json_real(r->pts[i].y));
		json_array_append_new(a, pt);
	}
	return a;
}

static json_t *poly_json(const struct geo_poly *P)
{
	json_t *a = json_array();
	for (size_t r = 0; r < P->nrings; r++)
		json_array_append_new(a, ring_json(&P->rings[r]));
	return a;
}

json_t *geo_to_geojson(const struct geo_shape *s)
{
	json_t *coords;
	if (s->npolys == 1)
		return json_pack("{s:s, s:o}", "type", "Polygon", "coordinates",
				 poly_json(&s->polys[0]));
	coords = json_array();
	for (size_t i = 0; i < s->npolys; i++)
		json_array_append_new(coords, poly_json(&s->polys[i]));
	return json_pack("{s:s, s:o}", "type", "MultiPolygon", "coordinates", coords);
}

/* ---------------------------------------------------------------- packed R-tree */

/*
 * Layout. Nodes hold their children's boxes as four float arrays (rounded
 * outwards, so the float test never rejects a box that contains the point;
 * unused lanes are empty boxes), tested all sixteen at once into a bit mask.
 * Leaf nodes [0, nleaf) have items as children, the root is the last node.
 *
 * Each item (shape) has its edges copied, with their coordinates, into
 * lists by horizontal band of its bbox (at most 15 bands, about one per four
 * edges; band starts are 16-bit, so a shape of more than ~60,000 edges gets
 * fewer, longer bands): a point in band k only needs the edges whose y-range meets band k,
 * since every other edge fails the first test of edge_step(). band_of() is
 * monotone in y, so an edge listed in the bands from band_of(its min y) to
 * band_of(its max y) is in the band of every y it spans; item_where() thus
 * gives exactly what shape_where() gives on the original shape, reading one
 * 64-byte item and a few consecutive edges instead of chasing pointers
 * through the shape. Memory: about 1.5 copies of 32 bytes per edge.
 */
struct ixnode {
	float minx[NODE_CAP], miny[NODE_CAP], maxx[NODE_CAP], maxy[NODE_CAP];
	uint32_t first, count; /* children: items (leaf nodes) or nodes, contiguous */
};

#define MAX_BANDS 15

struct ixitem { /* 64 bytes: one cache line */
	int64_t id;
	double miny, inv_h;	/* band_of(y) = floor((y - miny) * inv_h), clamped */
	uint32_t ebase, etotal; /* its edges: edges[ebase .. ebase + etotal) */
	uint16_t nband;
	uint16_t off[MAX_BANDS]; /* band k: edges from ebase + off[k] to the next band's start or
				    etotal */
};

_Static_assert(sizeof(struct ixitem) == 64, "an item is one cache line");

struct ixedge {
	double ax, ay, bx, by;
};

struct geo_index {
	size_t n;	      /* items */
	struct ixitem *items; /* in STR order */
	struct ixedge *edges;
	struct ixnode *nodes;
	size_t nleaf, nnodes;
};

static inline uint32_t band_of(const struct ixitem *it, double y)
{
	double f = floor((y - it->miny) * it->inv_h);
	if (!(f > 0))
		return 0;
	return f >= (double)it->nband ? it->nband - 1u : (uint32_t)f;
}

static enum geo_where item_where(const struct geo_index *ix, const struct ixitem *it, double x,
				 double y)
{
	uint32_t b = band_of(it, y);
	const struct ixedge *e = ix->edges + it->ebase + it->off[b];
	const struct ixedge *end =
		ix->edges + it->ebase + (b + 1 < it->nband ? it->off[b + 1] : it->etotal);
	int cross = 0;
	for (; e < end; e++)
		if (edge_step(e->ax, e->ay, e->bx, e->by, x, y, &cross))
			return GEO_BOUNDARY;
	return cross ? GEO_INSIDE : GEO_OUTSIDE;
}

/* Bit k set if child k's box holds (x, y). */
static inline unsigned node_mask(const struct ixnode *nd, float x, float y)
{
	unsigned m = 0;
#if defined(__SSE2__)
	__m128 vx = _mm_set1_ps(x), vy = _mm_set1_ps(y);
	for (unsigned k = 0; k < NODE_CAP; k += 4) {
		__m128 inx = _mm_and_ps(_mm_cmple_ps(_mm_loadu_ps(nd->minx + k), vx),
					_mm_cmple_ps(vx, _mm_loadu_ps(nd->maxx + k)));
		__m128 iny = _mm_and_ps(_mm_cmple_ps(_mm_loadu_ps(nd->miny + k), vy),
					_mm_cmple_ps(vy, _mm_loadu_ps(nd->maxy + k)));
		m |= (unsigned)_mm_movemask_ps(_mm_and_ps(inx, iny)) << k;
	}
#else
	for (unsigned k = 0; k < NODE_CAP; k++)
		m |= (unsigned)((nd->minx[k] <= x) & (x <= nd->maxx[k]) & (nd->miny[k] <= y) &
				(y <= nd->maxy[k]))
		     << k;
#endif
	return m;
}

static float float_down(double v)
{
	float f = (float)v;
	return (double)f > v ? nextafterf(f, -INFINITY) : f;
}

static float float_up(double v)
{
	float f = (float)v;
	return (double)f < v ? nextafterf(f, INFINITY) : f;
}

struct strent {
	struct geo_bbox b;
	double cx, cy;
	uint32_t src; /* shape index, or node record index */
	uint32_t first, count;
};

static int str_cmp_x(const void *a, const void *b)
{
	const struct strent *x = a, *y = b;
	if (x->cx != y->cx)
		return x->cx < y->cx ? -1 : 1;
	return (x->src > y->src) - (x->src < y->src);
}

static int str_cmp_y(const void *a, const void *b)
{
	const struct strent *x = a, *y = b;
	if (x->cy != y->cy)
		return x->cy < y->cy ? -1 : 1;
	return (x->src > y->src) - (x->src < y->src);
}

/* Sort-Tile-Recursive order: vertical slices of S·CAP entries by centre x,
 * each sorted by centre y, S = ceil(sqrt(ceil(n / CAP))). */
static void str_sort(struct strent *e, size_t n)
{
	size_t groups = (n + NODE_CAP - 1) / NODE_CAP;
	size_t s = (size_t)ceil(sqrt((double)groups)), slice = (s ? s : 1) * NODE_CAP;
	qsort(e, n, sizeof *e, str_cmp_x);
	for (size_t i = 0; i < n; i += slice)
		qsort(e + i, n - i < slice ? n - i : slice, sizeof *e, str_cmp_y);
}

static void box_union(struct geo_bbox *a, const struct geo_bbox *b)
{
	a->minx = fmin(a->minx, b->minx);
	a->miny = fmin(a->miny, b->miny);
	a->maxx = fmax(a->maxx, b->maxx);
	a->maxy = fmax(a->maxy, b->maxy);
}

/* Copy shape s as item it, its edges from edges[*ne]. Band starts must fit
 * in 16 bits: a huge shape gets fewer bands (one at the worst). */
static void add_item(struct ixitem *it, const struct geo_shape *s, struct ixedge **edges,
		     size_t *ne, size_t *cap)
{
	size_t nedge = 0;
	for (size_t p = 0; p < s->npolys; p++)
		for (size_t r = 0; r < s->polys[p].nrings; r++)
			nedge += s->polys[p].rings[r].n ? s->polys[p].rings[r].n - 1 : 0;
	double h = s->bbox.maxy - s->bbox.miny;
	size_t nb = nedge / 4 < 1 ? 1 : nedge / 4 > MAX_BANDS ? MAX_BANDS : nedge / 4;
	size_t cnt[MAX_BANDS + 1], total;
	for (;;) {
		it->miny = s->bbox.miny;
		it->inv_h = h > 0 ? (double)nb / h : 0;
		it->nband = (uint16_t)nb;
		memset(cnt, 0, sizeof cnt);
		for (size_t p = 0; p < s->npolys; p++)
			for (size_t r = 0; r < s->polys[p].nrings; r++) {
				const struct geo_ring *R = &s->polys[p].rings[r];
				for (size_t k = 0; k + 1 < R->n; k++) {
					uint32_t b0 =
						band_of(it, fmin(R->pts[k].y, R->pts[k + 1].y));
					uint32_t b1 =
						band_of(it, fmax(R->pts[k].y, R->pts[k + 1].y));
					for (uint32_t b = b0; b <= b1; b++)
						cnt[b + 1]++;
				}
			}
		for (size_t b = 1; b <= nb; b++)
			cnt[b] += cnt[b - 1];
		total = cnt[nb];
		if (cnt[nb - 1] <= UINT16_MAX)
			break;
		nb = nb / 2;
	}
	if (*ne + total > UINT32_MAX)
		abort(); /* 4 billion edges would not fit in memory anyway */
	it->ebase = (uint32_t)*ne;
	it->etotal = (uint32_t)total;
	for (size_t b = 0; b < nb; b++)
		it->off[b] = (uint16_t)cnt[b];
	while (*cap < *ne + total) {
		*cap = *cap ? 2 * *cap : 4096;
		*edges = xrealloc(*edges, *cap * sizeof **edges);
	}
	struct ixedge *out = *edges + *ne;
	for (size_t p = 0; p < s->npolys; p++)
		for (size_t r = 0; r < s->polys[p].nrings; r++) {
			const struct geo_ring *R = &s->polys[p].rings[r];
			for (size_t k = 0; k + 1 < R->n; k++) {
				struct geo_pt a = R->pts[k], c = R->pts[k + 1];
				uint32_t b0 = band_of(it, fmin(a.y, c.y)),
					 b1 = band_of(it, fmax(a.y, c.y));
				for (uint32_t b = b0; b <= b1; b++)
					out[cnt[b]++] = (struct ixedge){a.x, a.y, c.x, c.y};
			}
		}
	*ne += total;
}

struct geo_index *geo_index_build(const struct geo_shape *const *shapes, const int64_t *ids,
				  size_t n)
{
	struct geo_index *ix = xcalloc(1, sizeof *ix);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		m += shapes[i] && shapes[i]->npolys;
	if (m == 0)
		return ix;
	if (m > UINT32_MAX / 2)
		abort(); /* would not fit in memory anyway */
	struct strent *e = xmalloc(m * sizeof *e);
	m = 0;
	for (size_t i = 0; i < n; i++) {
		if (!shapes[i] || !shapes[i]->npolys)
			continue;
		const struct geo_bbox *b = &shapes[i]->bbox;
		e[m] = (struct strent){
			*b, b->minx / 2 + b->maxx / 2, b->miny / 2 + b->maxy / 2, (uint32_t)i, 0,
			0};
		m++;
	}
	str_sort(e, m);

	ix->n = m;
	ix->items = xcalloc(m, sizeof *ix->items);
	size_t nedges = 0, cap = 0;
	for (size_t i = 0; i < m; i++) {
		ix->items[i].id = ids[e[i].src];
		add_item(&ix->items[i], shapes[e[i].src], &ix->edges, &nedges, &cap);
	}
	if (!ix->edges)
		ix->edges = xmalloc(sizeof *ix->edges);

	/* Levels bottom up: group `cnt` consecutive children (items, then the
	 * node records of the level below, from `base`) by CAP; STR-order each
	 * new level before the next one groups it (records keep their own
	 * child ranges). */
	struct bnode {
		struct geo_bbox b;
		uint32_t first, count;
	} *bn = xmalloc((m / (NODE_CAP - 1) + 64) * sizeof *bn);
	size_t cnt = m, base = 0, nn = 0;
	bool leaf = true;
	do {
		size_t start = nn;
		for (size_t g = 0; g < cnt; g += NODE_CAP) {
			struct bnode *nd = &bn[nn++];
			nd->first = (uint32_t)(base + g);
			nd->count = (uint32_t)(cnt - g < NODE_CAP ? cnt - g : NODE_CAP);
			nd->b = leaf ? e[g].b : bn[base + g].b;
			for (size_t k = 1; k < nd->count; k++)
				box_union(&nd->b, leaf ? &e[g + k].b : &bn[base + g + k].b);
		}
		size_t made = nn - start;
		if (leaf)
			ix->nleaf = made;
		if (made > 1) {
			struct strent *ne = xmalloc(made * sizeof *ne);
			for (size_t k = 0; k < made; k++) {
				const struct bnode *nd = &bn[start + k];
				ne[k] = (struct strent){nd->b,
							nd->b.minx / 2 + nd->b.maxx / 2,
							nd->b.miny / 2 + nd->b.maxy / 2,
							(uint32_t)k,
							nd->first,
							nd->count};
			}
			str_sort(ne, made);
			for (size_t k = 0; k < made; k++)
				bn[start + k] = (struct bnode){ne[k].b, ne[k].first, ne[k].count};
			free(ne);
		}
		base = start;
		cnt = made;
		leaf = false;
	} while (cnt > 1);

	ix->nnodes = nn;
	ix->nodes = xmalloc(nn * sizeof *ix->nodes);
	for (size_t k = 0; k < nn; k++) {
		struct ixnode *nd = &ix->nodes[k];
		nd->first = bn[k].first;
		nd->count = bn[k].count;
		for (unsigned c = 0; c < NODE_CAP; c++) {
			if (c >= nd->count) {
				nd->minx[c] = nd->miny[c] = INFINITY;
				nd->maxx[c] = nd->maxy[c] = -INFINITY;
				continue;
			}
			const struct geo_bbox *b =
				k < ix->nleaf ? &e[nd->first + c].b : &bn[nd->first + c].b;
			nd->minx[c] = float_down(b->minx);
			nd->miny[c] = float_down(b->miny);
			nd->maxx[c] = float_up(b->maxx);
			nd->maxy[c] = float_up(b->maxy);
		}
	}
	free(bn);
	free(e);
	return ix;
}

/*
 * Visit the items whose box may contain (x, y). With `best` (find), items
 * whose id is not below the best found so far are skipped; with `hit`
 * (coverage), every item is classified.
 */
struct cover_hit {
	size_t any;	  /* items containing the point, boundary included */
	size_t in;	  /* items strictly containing it */
	int64_t id1, id2; /* the two smallest ids among the strict ones */
};

static int64_t ix_query(const struct geo_index *ix, double x, double y, struct cover_hit *hit)
{
	uint32_t stack[STACK_CAP];
	size_t sp = 0;
	int64_t best = 0;
	bool found = false;
	float fx = (float)x, fy = (float)y; /* rounding is monotone: a box holding x holds fx */
	stack[sp++] = (uint32_t)(ix->nnodes - 1);
	while (sp) {
		uint32_t ni = stack[--sp];
		const struct ixnode *nd = &ix->nodes[ni];
		unsigned m = node_mask(nd, fx, fy);
		if (ni >= ix->nleaf) {
			for (; m && sp < STACK_CAP; m &= m - 1)
				stack[sp++] = nd->first + (uint32_t)__builtin_ctz(m);
			continue;
		}
		for (; m; m &= m - 1) {
			const struct ixitem *it =
				&ix->items[nd->first + (uint32_t)__builtin_ctz(m)];
			if (!hit) {
				if (found && it->id >= best)
					continue;
				if (item_where(ix, it, x, y) != GEO_OUTSIDE) {
					best = it->id;
					found = true;
				}
				continue;
			}
			enum geo_where w = item_where(ix, it, x, y);
			if (w == GEO_OUTSIDE)
				continue;
			hit->any++;
			if (w != GEO_INSIDE)
				continue;
			if (hit->in == 0 || it->id < hit->id1) {
				hit->id2 = hit->id1;
				hit->id1 = it->id;
			} else if (hit->in == 1 || it->id < hit->id2) {
				hit->id2 = it->id;
			}
			hit->in++;
		}
	}
	return best;
}

int64_t geo_index_find(const struct geo_index *ix, double x, double y)
{
	if (!ix || !ix->n || !isfinite(x) || !isfinite(y))
		return 0;
	return ix_query(ix, x, y, NULL);
}

int64_t geo_brute_find(const struct geo_shape *const *shapes, const int64_t *ids, size_t n,
		       double x, double y)
{
	int64_t best = 0;
	bool found = false;
	if (!isfinite(x) || !isfinite(y))
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct geo_shape *s = shapes[i];
		if (!s || !s->npolys || !box_has(&s->bbox, x, y) || (found && ids[i] >= best))
			continue;
		if (shape_where(s, x, y) != GEO_OUTSIDE) {
			best = ids[i];
			found = true;
		}
	}
	return best;
}

size_t geo_index_count(const struct geo_index *ix)
{
	return ix ? ix->n : 0;
}

void geo_index_free(struct geo_index *ix)
{
	if (!ix)
		return;
	free(ix->items);
	free(ix->edges);
	free(ix->nodes);
	free(ix);
}

/* ---------------------------------------------------------------- coverage */

static void cover_query(const struct geo_index *ix, double x, double y, struct cover_hit *h)
{
	*h = (struct cover_hit){0};
	if (ix->n)
		ix_query(ix, x, y, h);
}

/* Where a sample sits in its lattice cell: not the centre, so that grid
 * edges at round fractions of the parent's bbox (halves, quarters) do not
 * run exactly through a row or column of samples, which would then count
 * as on the boundary and drop out of the overlap estimate. */
#define COVER_FX 0.41421356237309503 /* √2 − 1 */
#define COVER_FY 0.61803398874989485 /* golden ratio − 1 */

struct aedge {
	double ax, ay, bx, by;
};

/* Sutherland–Hodgman clip of a closed ring by one side of an axis line:
 * keep the points with (axis ? y : x) * sign >= v * sign. */
static size_t clip_side(const struct geo_pt *in, size_t n, struct geo_pt *out, int axis, double v,
			double sign)
{
	size_t k = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		struct geo_pt a = in[i], b = in[i + 1];
		double ca = ((axis ? a.y : a.x) - v) * sign, cb = ((axis ? b.y : b.x) - v) * sign;
		if (ca >= 0)
			out[k++] = a;
		if ((ca >= 0) != (cb >= 0)) {
			double t = ca / (ca - cb);
			out[k++] = axis ? (struct geo_pt){a.x + (b.x - a.x) * t, v}
					: (struct geo_pt){v, a.y + (b.y - a.y) * t};
		}
	}
	if (k)
		out[k++] = out[0];
	return k;
}

/* Area (steradians) of the part of a ring inside box b. */
static double ring_area_in_box(const struct geo_ring *r, const struct geo_bbox *b)
{
	static const struct {
		int axis;
		double sign;
	} side[4] = {{0, 1}, {0, -1}, {1, 1}, {1, -1}};
	const double v[4] = {b->minx, b->maxx, b->miny, b->maxy};
	size_t n = r->n;
	struct geo_pt *p = xmalloc(n * sizeof *p);
	memcpy(p, r->pts, n * sizeof *p);
	for (int k = 0; k < 4; k++) { /* each pass at most doubles the points */
		struct geo_pt *q = xmalloc((2 * n + 2) * sizeof *q);
		n = clip_side(p, n, q, side[k].axis, v[k], side[k].sign);
		free(p);
		p = q;
	}
	double a = n >= 4 ? ring_area_sr(p, n) : 0;
	free(p);
	return a;
}

static double shape_area_outside_box(const struct geo_shape *s, const struct geo_bbox *b)
{
	if (s->bbox.minx >= b->minx && s->bbox.maxx <= b->maxx && s->bbox.miny >= b->miny &&
	    s->bbox.maxy <= b->maxy)
		return 0;
	double inside = 0;
	for (size_t i = 0; i < s->npolys; i++) {
		const struct geo_poly *P = &s->polys[i];
		for (size_t r = 0; r < P->nrings; r++)
			inside += (r ? -1 : 1) * ring_area_in_box(&P->rings[r], b);
	}
	return fmax(0.0, geo_area_m2(s) - inside * GEO_EARTH_R_M * GEO_EARTH_R_M);
}

void geo_cover(const struct geo_shape *parent, const struct geo_shape *const *children,
	       const int64_t *ids, size_t n, double step_m, struct geo_cover_report *out)
{
	memset(out, 0, sizeof *out);
	if (!parent || !parent->npolys)
		return;
	const struct geo_bbox pb = parent->bbox;
	double w = pb.maxx - pb.minx, h = pb.maxy - pb.miny;
	if (!(w > 0 && h > 0))
		return;
	double mdeg = GEO_EARTH_R_M * D2R; /* metres per degree of latitude */
	double wm = w * mdeg * cos((pb.miny + pb.maxy) / 2 * D2R), hm = h * mdeg;
	double min_step = sqrt(wm * hm / GEO_COVER_MAX_SAMPLES);
	if (!(step_m >= min_step))
		step_m = min_step;
	size_t nx = (size_t)fmax(1.0, floor(wm / step_m + 0.5)),
	       ny = (size_t)fmax(1.0, floor(hm / step_m + 0.5));
	if (nx > GEO_COVER_MAX_SAMPLES / ny) /* a very long, thin bbox */
		nx = GEO_COVER_MAX_SAMPLES / ny;
	double dx = w / (double)nx, dy = h / (double)ny;
	out->samples = nx * ny;

	struct geo_index *ix = geo_index_build(children, ids, n);
	/* the parent's edges crossing each row, so a sample costs a few edges */
	size_t ne = 0;
	for (size_t i = 0; i < parent->npolys; i++)
		for (size_t r = 0; r < parent->polys[i].nrings; r++)
			ne += parent->polys[i].rings[r].n;
	struct aedge *act = xmalloc((ne ? ne : 1) * sizeof *act);
	bool have_gap = false, have_overlap = false;
	for (size_t row = 0; row < ny; row++) {
		double ylo = pb.miny + (double)row * dy, y = ylo + COVER_FY * dy;
		double cell = GEO_EARTH_R_M * GEO_EARTH_R_M * dx * D2R *
			      (sin((ylo + dy) * D2R) - sin(ylo * D2R));
		size_t na = 0;
		for (size_t i = 0; i < parent->npolys; i++)
			for (size_t r = 0; r < parent->polys[i].nrings; r++) {
				const struct geo_pt *p = parent->polys[i].rings[r].pts;
				for (size_t k = 0; k + 1 < parent->polys[i].rings[r].n; k++)
					if (!((y < p[k].y && y < p[k + 1].y) ||
					      (y > p[k].y && y > p[k + 1].y)))
						act[na++] = (struct aedge){p[k].x, p[k].y,
									   p[k + 1].x, p[k + 1].y};
			}
		for (size_t col = 0; col < nx; col++) {
			double x = pb.minx + ((double)col + COVER_FX) * dx;
			/* shape_where() over the edges that can matter */
			enum geo_where pw = GEO_OUTSIDE;
			int cross = 0;
			for (size_t k = 0; k < na && pw == GEO_OUTSIDE; k++)
				if (edge_step(act[k].ax, act[k].ay, act[k].bx, act[k].by, x, y,
					      &cross))
					pw = GEO_BOUNDARY;
			if (pw == GEO_OUTSIDE && cross)
				pw = GEO_INSIDE;
			struct cover_hit hit;
			cover_query(ix, x, y, &hit);
			if (pw == GEO_INSIDE && hit.any == 0) {
				out->gap_m2 += cell;
				if (!have_gap)
					out->gap_example = (struct geo_pt){x, y};
				have_gap = true;
			}
			if (hit.in >= 2) {
				out->overlap_m2 += cell;
				if (!have_overlap) {
					out->overlap_example = (struct geo_pt){x, y};
					out->overlap_a = hit.id1;
					out->overlap_b = hit.id2;
				}
				have_overlap = true;
			}
			if (pw == GEO_OUTSIDE && hit.in >= 1)
				out->outside_m2 += cell;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (children[i] && children[i]->npolys)
			out->outside_m2 += shape_area_outside_box(children[i], &pb);
	free(act);
	geo_index_free(ix);
}
