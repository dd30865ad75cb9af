/* bench/geo_lookup.c — point-in-grid lookups: the packed R-tree (geo_index_find) against brute
 * force (geo_brute_find) over the same grids and the same random points (issue 7).
 *
 * The grids are a perturbed tessellation near Zhengzhou (deterministic seed): a lattice of
 * ~200 m cells whose corners are moved and whose sides are polylines of 5-15 segments shared
 * by the two cells they separate, so each grid has 20-60 vertices and neighbours share edges
 * exactly. The points are uniform over the grids' bbox plus a 2 % margin.
 *
 * Usage: geo_lookup [--grids N] [--points N] [--seed N]
 * Times are CPU time of the (single) thread, so the rates are per core.
 * Prints one JSON line:
 *   {"grids":10000,"index_per_s":...,"brute_per_s":...,"agree":true,"points":...,...}
 * and exits 1 if the two searches disagree on any point.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/geo.h"

#define CELL 0.002 /* degrees */

static uint64_t rng;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* CPU time of this thread: the figure is lookups per second of one core, and stays right on a
 * machine busy with other work (wall-clock time would count the time the thread waits for a core).
 */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xm(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "geo_lookup: out of memory\n");
		exit(1);
	}
	return p;
}

struct line {
	struct geo_pt *p;
	size_t n; /* including both corners */
};

/* A side from a to b with 4-14 interior points pushed sideways (axis 0: in y, 1: in x),
 * less near the corners so adjacent sides never cross. */
static void make_line(struct line *l, struct geo_pt a, struct geo_pt b, int axis)
{
	size_t k = 4 + (size_t)(rnd() % 11);
	l->n = k + 2;
	l->p = xm(l->n * sizeof *l->p);
	for (size_t m = 0; m < l->n; m++) {
		double s = (double)m / (double)(k + 1);
		double off = (m == 0 || m == k + 1)
				     ? 0
				     : (rnd01() * 2 - 1) * 0.08 * CELL * sin(M_PI * s);
		l->p[m].x = a.x + s * (b.x - a.x) + (axis ? off : 0);
		l->p[m].y = a.y + s * (b.y - a.y) + (axis ? 0 : off);
	}
	l->p[0] = a;
	l->p[l->n - 1] = b;
}

static void push(struct geo_pt *out, size_t *k, const struct line *l, bool reverse)
{
	for (size_t m = 0; m + 1 < l->n; m++)
		out[(*k)++] = l->p[reverse ? l->n - 1 - m : m];
}

int main(int argc, char **argv)
{
	size_t ngrids = 10000, npoints = 100000;
	uint64_t seed = 20250214;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--grids") == 0)
			ngrids = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--points") == 0)
			npoints = strtoul(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: geo_lookup [--grids N] [--points N] [--seed N]\n");
			return 2;
		}
	}
	if (ngrids == 0 || npoints == 0) {
		fprintf(stderr, "geo_lookup: --grids and --points must be positive\n");
		return 2;
	}
	rng = seed;
	size_t cols = (size_t)ceil(sqrt((double)ngrids)), rows = (ngrids + cols - 1) / cols;

	/* corners, then the shared sides */
	struct geo_pt *corner = xm((cols + 1) * (rows + 1) * sizeof *corner);
#define CORNER(i, j) corner[(size_t)(j) * (cols + 1) + (i)]
	for (size_t j = 0; j <= rows; j++)
		for (size_t i = 0; i <= cols; i++) {
			CORNER(i, j).x = 113.55 + (double)i * CELL + (rnd01() * 2 - 1) * CELL / 8;
			CORNER(i, j).y = 34.65 + (double)j * CELL + (rnd01() * 2 - 1) * CELL / 8;
		}
	struct line *hor = xm(cols * (rows + 1) * sizeof *hor),
		    *ver = xm((cols + 1) * rows * sizeof *ver);
#define HOR(i, j) hor[(size_t)(j)*cols + (i)]
#define VER(i, j) ver[(size_t)(j) * (cols + 1) + (i)]
	for (size_t j = 0; j <= rows; j++)
		for (size_t i = 0; i < cols; i++)
			make_line(&HOR(i, j), CORNER(i, j), CORNER(i + 1, j), 0);
	for (size_t j = 0; j < rows; j++)
		for (size_t i = 0; i <= cols; i++)
			make_line(&VER(i, j), CORNER(i, j), CORNER(i, j + 1), 1);

	struct geo_shape *shapes = xm(ngrids * sizeof *shapes);
	const struct geo_shape **sp = xm(ngrids * sizeof *sp);
	int64_t *ids = xm(ngrids * sizeof *ids);
	size_t nverts = 0;
	struct geo_bbox all = {INFINITY, INFINITY, -INFINITY, -INFINITY};
	for (size_t g = 0; g < ngrids; g++) {
		size_t i = g % cols, j = g / cols;
		size_t cap = HOR(i, j).n + VER(i + 1, j).n + HOR(i, j + 1).n + VER(i, j).n, k = 0;
		struct geo_pt *pts = xm(cap * sizeof *pts);
		push(pts, &k, &HOR(i, j), false);
		push(pts, &k, &VER(i + 1, j), false);
		push(pts, &k, &HOR(i, j + 1), true);
		push(pts, &k, &VER(i, j), true);
		pts[k++] = pts[0];
		struct geo_ring ring = {pts, k};
		struct geo_poly poly = {&ring, 1};
		geo_shape_from_polys(&poly, 1, &shapes[g]);
		free(pts);
		nverts += k - 1;
		sp[g] = &shapes[g];
		ids[g] = (int64_t)g + 1;
		all.minx = fmin(all.minx, shapes[g].bbox.minx);
		all.miny = fmin(all.miny, shapes[g].bbox.miny);
		all.maxx = fmax(all.maxx, shapes[g].bbox.maxx);
		all.maxy = fmax(all.maxy, shapes[g].bbox.maxy);
	}

	double t0 = now_s();
	struct geo_index *ix = geo_index_build(sp, ids, ngrids);
	double build_ms = (now_s() - t0) * 1e3;

	double w = all.maxx - all.minx, h = all.maxy - all.miny;
	struct geo_pt *pts = xm(npoints * sizeof *pts);
	for (size_t q = 0; q < npoints; q++) {
		pts[q].x = all.minx - 0.02 * w + 1.04 * w * rnd01();
		pts[q].y = all.miny - 0.02 * h + 1.04 * h * rnd01();
	}
	int64_t *a = xm(npoints * sizeof *a), *b = xm(npoints * sizeof *b);

	/* the index: whole passes over the points until at least 0.5 s */
	size_t passes = 0;
	t0 = now_s();
	double t1;
	do {
		for (size_t q = 0; q < npoints; q++)
			a[q] = geo_index_find(ix, pts[q].x, pts[q].y);
		passes++;
		t1 = now_s();
	} while (t1 - t0 < 0.5);
	double index_per_s = (double)(passes * npoints) / (t1 - t0);

	t0 = now_s();
	for (size_t q = 0; q < npoints; q++)
		b[q] = geo_brute_find(sp, ids, ngrids, pts[q].x, pts[q].y);
	double brute_per_s = (double)npoints / (now_s() - t0);

	size_t agree = 0, found = 0;
	for (size_t q = 0; q < npoints; q++) {
		agree += a[q] == b[q];
		found += a[q] != 0;
	}
	printf("{\"grids\":%zu,\"index_per_s\":%.0f,\"brute_per_s\":%.0f,\"agree\":%s,\"points\":%"
	       "zu,"
	       "\"found\":%zu,\"mean_vertices\":%.1f,\"build_ms\":%.1f}\n",
	       ngrids, index_per_s, brute_per_s, agree == npoints ? "true" : "false", npoints,
	       found, (double)nverts / (double)ngrids, build_ms);

	geo_index_free(ix);
	for (size_t g = 0; g < ngrids; g++)
		geo_shape_free(&shapes[g]);
	for (size_t k = 0; k < cols * (rows + 1); k++)
		free(hor[k].p);
	for (size_t k = 0; k < (cols + 1) * rows; k++)
		free(ver[k].p);
	free(hor);
	free(ver);
	free(corner);
	free(shapes);
	free(sp);
	free(ids);
	free(pts);
	free(a);
	free(b);
	return agree == npoints ? 0 : 1;
}
