/*
 * test_geo.c — grid geometry: GeoJSON parsing and every validation error
 * (with the field it names), exact orientation, point-in-polygon on
 * vertices, edges and holes, areas, distances, label points, the packed
 * R-tree against brute force on a generated tessellation with holes, islands,
 * gaps, multipolygons and shared edges, and coverage reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/geo.h"
#include "base/banned.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int64_t rnd_range(int64_t lo, int64_t hi) /* inclusive */
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static int parse_str(const char *text, const char *prefix, struct geo_shape *s, struct err *e)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	err_clear(e);
	int rc = geo_from_geojson(j, prefix, s, e);
	json_decref(j);
	return rc;
}

static void parse_ok(const char *text, struct geo_shape *s)
{
	struct err e;
	if (parse_str(text, NULL, s, &e) != 0)
		fail_msg("rejected: %s (%s) for %s", e.message, e.field, text);
}

/* ---------------------------------------------------------------- parsing */

#define SQUARE_WITH_HOLE                                                                           \
	"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4],[0,4],[0,0]],"                  \
	"[[1,1],[1,2],[2,2],[2,1],[1,1]]]}"
static const char square_with_hole[] = SQUARE_WITH_HOLE;

static void test_parse_polygon(void **state)
{
	(void)state;
	struct geo_shape s;
	parse_ok(square_with_hole, &s);
	assert_int_equal(s.npolys, 1);
	assert_int_equal(s.polys[0].nrings, 2);
	assert_int_equal(s.polys[0].rings[0].n, 5);
	assert_true(s.bbox.minx == 0 && s.bbox.miny == 0 && s.bbox.maxx == 4 && s.bbox.maxy == 4);

	/* round trip through GeoJSON gives the same rings */
	json_t *j = geo_to_geojson(&s);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "Polygon");
	struct geo_shape t;
	struct err e;
	assert_int_equal(geo_from_geojson(j, NULL, &t, &e), 0);
	json_decref(j);
	assert_int_equal(t.npolys, 1);
	assert_int_equal(t.polys[0].nrings, 2);
	for (size_t r = 0; r < 2; r++) {
		assert_int_equal(t.polys[0].rings[r].n, s.polys[0].rings[r].n);
		assert_memory_equal(t.polys[0].rings[r].pts, s.polys[0].rings[r].pts,
				    s.polys[0].rings[r].n * sizeof(struct geo_pt));
	}
	geo_shape_free(&t);
	geo_shape_free(&s);
	geo_shape_free(&s); /* emptied: a second free is harmless */
	geo_shape_free(NULL);
}

/* Rings come out counter-clockwise (outer) and clockwise (holes); repeated
 * consecutive positions are dropped; altitudes are accepted. */
static void test_parse_normalises(void **state)
{
	(void)state;
	struct geo_shape s;
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":["
		 "[[0,0],[0,4,100],[0,4],[4,4],[4,0],[0,0]]," /* clockwise, one repeat */
		 "[[1,1],[2,1],[2,2],[1,2],[1,1]]]}",	      /* counter-clockwise hole */
		 &s);
	const struct geo_ring *o = &s.polys[0].rings[0], *h = &s.polys[0].rings[1];
	assert_int_equal(o->n, 5);
	double a = 0;
	for (size_t i = 0; i + 1 < o->n; i++)
		a += o->pts[i].x * o->pts[i + 1].y - o->pts[i + 1].x * o->pts[i].y;
	assert_true(a > 0);
	a = 0;
	for (size_t i = 0; i + 1 < h->n; i++)
		a += h->pts[i].x * h->pts[i + 1].y - h->pts[i + 1].x * h->pts[i].y;
	assert_true(a < 0);
	assert_true(o->pts[0].x == o->pts[o->n - 1].x && o->pts[0].y == o->pts[o->n - 1].y);
	geo_shape_free(&s);
}

static void test_parse_multipolygon(void **state)
{
	(void)state;
	struct geo_shape s;
	/* a square with a hole, an island in the hole, a square touching the
	 * first at a corner and one sharing part of its edge */
	parse_ok("{\"type\":\"MultiPolygon\",\"coordinates\":["
		 "[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,3],[3,3],[3,1],[1,1]]],"
		 "[[[1.5,1.5],[2.5,1.5],[2.5,2.5],[1.5,2.5],[1.5,1.5]]],"
		 "[[[4,4],[5,4],[5,5],[4,5],[4,4]]],"
		 "[[[4,1],[6,1],[6,2],[4,2],[4,1]]]]}",
		 &s);
	assert_int_equal(s.npolys, 4);
	assert_true(s.bbox.maxx == 6 && s.bbox.maxy == 5);
	json_t *j = geo_to_geojson(&s);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "MultiPolygon");
	assert_int_equal(json_array_size(json_object_get(j, "coordinates")), 4);
	json_decref(j);
	assert_int_equal(geo_contains(&s, 2, 2), 1);   /* island */
	assert_int_equal(geo_contains(&s, 1.2, 2), 0); /* hole around the island */
	assert_int_equal(geo_contains(&s, 5, 1.5), 1);
	geo_shape_free(&s);
}

static void test_parse_feature(void **state)
{
	(void)state;
	struct geo_shape s;
	struct err e;
	parse_ok("{\"type\":\"Feature\",\"properties\":{\"name\":\"网格1\"},"
		 "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}}",
		 &s);
	assert_int_equal(s.npolys, 1);
	assert_int_equal(s.polys[0].rings[0].n, 4);
	geo_shape_free(&s);

	const char *bad = "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
			  "\"coordinates\":[[[0,0],[1,0],[1,1],[200,1],[0,0]]]}}";
	assert_int_equal(parse_str(bad, NULL, &s, &e), -1);
	assert_string_equal(e.field, "geometry.coordinates[0][3]");
	assert_int_equal(parse_str(bad, "features[12]", &s, &e), -1);
	assert_string_equal(e.field, "features[12].geometry.coordinates[0][3]");
	assert_int_equal(e.code, ERR_UNPROCESSABLE);
	assert_int_equal(parse_str("{\"type\":\"Feature\",\"geometry\":null}", NULL, &s, &e), -1);
	assert_string_equal(e.field, "geometry");
	assert_int_equal(
		parse_str("{\"type\":\"Feature\",\"geometry\":null}", "features[3]", &s, &e), -1);
	assert_string_equal(e.field, "features[3].geometry");
	assert_null(s.polys);
}

struct bad_case {
	const char *json;
	const char *prefix;
	int code;
	const char *field;
	const char *msg; /* part of the English message */
};

#define SQ "[[0,0],[4,0],[4,4],[0,4],[0,0]]"

static const struct bad_case bad_cases[] = {
	{"[1,2]", NULL, ERR_BAD_REQUEST, "geometry", "GeoJSON object"},
	{"{\"coordinates\":[]}", NULL, ERR_BAD_REQUEST, "geometry.type", "type"},
	{"{\"type\":\"Point\",\"coordinates\":[1,2]}", NULL, ERR_UNPROCESSABLE, "geometry.type",
	 "Polygon or"},
	{"{\"type\":\"Polygon\"}", NULL, ERR_BAD_REQUEST, "geometry.coordinates", "coordinates"},
	{"{\"type\":\"Polygon\",\"coordinates\":[]}", NULL, ERR_UNPROCESSABLE,
	 "geometry.coordinates", "outer ring"},
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[]}", NULL, ERR_UNPROCESSABLE,
	 "geometry.coordinates", "at least one polygon"},
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[7]}", NULL, ERR_BAD_REQUEST,
	 "geometry.coordinates[0]", "array of rings"},
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",5]}", NULL, ERR_BAD_REQUEST,
	 "geometry.coordinates[1]", "array of positions"},
	/* unclosed ring */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4],[0,4],[0,1]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0]", "not closed"},
	/* too few positions */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[0,0]]]}", NULL, ERR_UNPROCESSABLE,
	 "geometry.coordinates[0]", "at least 4 positions"},
	/* four positions, two distinct */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,0],[0,0]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0]", "3 distinct"},
	/* longitude 181, latitude -91 */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[181,4],[0,4],[0,0]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0][2]", "longitude 181"},
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,-91],[0,4],[0,0]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0][2]", "latitude -91"},
	/* non-numbers */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[\"4\",0],[4,4],[0,4],[0,0]]]}", NULL,
	 ERR_BAD_REQUEST, "geometry.coordinates[0][1]", "longitude must be a number"},
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,null],[0,4],[0,0]]]}", NULL,
	 ERR_BAD_REQUEST, "geometry.coordinates[0][2]", "latitude must be a number"},
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4,true],[0,4],[0,0]]]}", NULL,
	 ERR_BAD_REQUEST, "geometry.coordinates[0][2]", "altitude must be a number"},
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4],[4,4],[0,4],[0,0]]]}", NULL,
	 ERR_BAD_REQUEST, "geometry.coordinates[0][1]", "[longitude, latitude]"},
	/* bow-tie */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0]",
	 "edge from position 0 to 1 meets the edge from position 2 to 3"},
	/* figure eight: touches itself at a vertex */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[2,0],[1,1],[2,2],[0,2],[1,1],[0,0]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[0]", "crosses itself"},
	/* a vertex on another edge */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4],[2,0],[0,4],[0,0]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0]", "crosses itself"},
	/* a spike going back along itself */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4],[4,6],[4,5],[0,4],[0,0]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[0]",
	 "doubles back on itself at position 3"},
	/* three collinear points */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[2,0],[0,0]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[0]", "doubles back"},
	/* holes */
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[5,5],[6,5],[6,6],[5,6],[5,5]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[1]", "hole lies outside"},
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[3,1],[5,1],[5,2],[3,2],[3,1]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[1]", "hole crosses the outer ring"},
	/* a hole whose corners are all inside, but one edge leaves through a
	 * vertex of a notch in the outer ring and comes back through another:
	 * no two edges cross properly */
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[8,0],[8,8],[6,8],[5,3],[5,1],[3,1],[3,3],["
	 "2,8],"
	 "[0,8],[0,0]],[[1,3],[1,0.5],[7,0.5],[7,3],[1,3]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[1]", "hole crosses the outer ring"},
	/* a hole outside touching the outer ring along an edge */
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[4,1],[5,1],[5,2],[4,2],[4,1]]]}", NULL,
	 ERR_UNPROCESSABLE, "geometry.coordinates[1]", "hole lies outside"},
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ "," SQ "]}", NULL, ERR_UNPROCESSABLE,
	 "geometry.coordinates[1]", "coincides"},
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[1,1],[1,2],[2,2],[2,1],[1,1]],"
	 "[[1.5,1.5],[1.5,3],[3,3],[3,1.5],[1.5,1.5]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[2]", "hole overlaps ring 1"},
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[1,1],[1,3],[3,3],[3,1],[1,1]],"
	 "[[1.5,1.5],[1.5,2],[2,2],[2,1.5],[1.5,1.5]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[2]", "hole overlaps ring 1"},
	{"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[1,1],[1,2],[2,2],[2,1],[1,1]],"
	 "[[1,1],[1,2],[2,2],[2,1],[1,1]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[2]", "hole overlaps ring 1"},
	/* multipolygon parts overlapping: crossing, identical, one inside the other */
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQ "],[[[3,3],[6,3],[6,6],[3,6],[3,3]]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[1]", "polygon overlaps polygon 0"},
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[[[[9,9],[10,9],[10,10],[9,9]]],[" SQ "],[" SQ
	 "]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[2]", "polygon overlaps polygon 1"},
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQ "],[[[1,1],[2,1],[2,2],[1,2],[1,1]]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[1]", "polygon overlaps polygon 0"},
	/* an island larger than the hole it sits in */
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQ ",[[1,1],[1,2],[2,2],[2,1],[1,1]]],"
	 "[[[0.5,0.5],[2.5,0.5],[2.5,2.5],[0.5,2.5],[0.5,0.5]]]]}",
	 NULL, ERR_UNPROCESSABLE, "geometry.coordinates[1]", "polygon overlaps polygon 0"},
	/* field names inside a MultiPolygon, and with a prefix */
	{"{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQ "],[[[5,5],[6,5],[6,\"x\"],[5,5]]]]}",
	 NULL, ERR_BAD_REQUEST, "geometry.coordinates[1][0][2]", "latitude must be a number"},
	{"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4],[181,4],[0,0]]]}",
	 "features[12].geometry", ERR_UNPROCESSABLE, "features[12].geometry.coordinates[0][3]",
	 "longitude 181"},
};

static void test_validation_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct geo_shape s;
		struct err e;
		memset(&s, 0x5a, sizeof s);
		int rc = parse_str(c->json, c->prefix, &s, &e);
		if (rc != -1 || e.code != c->code || strcmp(e.field, c->field) != 0 ||
		    !strstr(e.message, c->msg))
			fail_msg("case %zu %s: rc %d code %d field \"%s\" message \"%s\"", i,
				 c->json, rc, e.code, e.field, e.message);
		assert_true(e.message_zh[0] != '\0');
		assert_null(s.polys);
		assert_int_equal(s.npolys, 0);
	}
}

/* What OGC allows and we accept: holes touching the outer ring or each
 * other at a point or along an edge, parts touching. */
static void test_valid_touching(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[0,2],[2,1],[2,3],[0,2]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[0,1],[2,1],[2,3],[0,3],[0,1]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":[" SQ ",[[1,1],[2,1],[2,2],[1,2],[1,1]],"
		"[[2,2],[3,2],[3,3],[2,3],[2,2]],[[2,1],[3,1],[3,2],[2,2],[2,1]]]}",
		"{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQ
		"],[[[4,0],[8,0],[8,4],[4,4],[4,0]]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[2,0],[2,2],[0,2],[0,0]]]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct geo_shape s;
		parse_ok(ok[i], &s);
		geo_shape_free(&s);
	}
}

/* A ring of 100,000 vertices is checked in well under a second (the
 * self-intersection test does not compare every pair of edges); a crossing
 * planted in it is found. */
static void test_big_ring(void **state)
{
	(void)state;
	const size_t n = 100000;
	json_t *ring = json_array();
	for (size_t i = 0; i < n; i++) {
		double t = 2 * M_PI * (double)i / (double)n, r = 0.1 * (1 + 0.05 * sin(40 * t));
		json_array_append_new(ring,
				      json_pack("[f,f]", 113.6 + r * cos(t), 34.7 + r * sin(t)));
	}
	json_array_append(ring, json_array_get(ring, 0));
	json_t *g = json_pack("{s:s, s:[o]}", "type", "Polygon", "coordinates", ring);
	struct geo_shape s;
	struct err e;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(geo_from_geojson(g, NULL, &s, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 5.0); /* pairwise would be 5e9 edge pairs */
	struct geo_pt lp = geo_label_point(&s);
	assert_int_equal(geo_classify(&s, lp.x, lp.y), GEO_INSIDE);
	/* the index takes a shape this big (fewer, longer bands) and agrees
	 * with brute force near its wavy boundary */
	const struct geo_shape *sp[1] = {&s};
	int64_t id = 77;
	struct geo_index *ix = geo_index_build(sp, &id, 1);
	assert_int_equal(geo_index_find(ix, lp.x, lp.y), 77);
	size_t in = 0;
	for (int k = 0; k < 2000; k++) {
		double t = 2 * M_PI * rnd01(),
		       r = 0.1 * (1 + 0.05 * sin(40 * t)) * (0.99 + 0.02 * rnd01());
		double x = 113.6 + r * cos(t), y = 34.7 + r * sin(t);
		int64_t got = geo_index_find(ix, x, y);
		assert_int_equal(got, geo_brute_find(sp, &id, 1, x, y));
		in += got != 0;
	}
	assert_true(in > 200 && in < 1800);
	const struct geo_pt *v = &s.polys[0].rings[0].pts[12345];
	assert_int_equal(geo_index_find(ix, v->x, v->y), 77);
	geo_index_free(ix);
	geo_shape_free(&s);
	/* swap two vertices far apart: the ring now crosses itself */
	json_t *a = json_array_get(ring, 1000), *b = json_array_get(ring, 60000);
	json_incref(a);
	json_incref(b);
	json_array_set(ring, 1000, b);
	json_array_set(ring, 60000, a);
	json_decref(a);
	json_decref(b);
	assert_int_equal(geo_from_geojson(g, NULL, &s, &e), -1);
	assert_string_equal(e.field, "geometry.coordinates[0]");
	assert_non_null(strstr(e.message, "crosses itself"));
	json_decref(g);
}

/* ---------------------------------------------------------------- exact predicates */

/* Coordinates on a lattice of 2^-k units so the determinant is exact in 128-bit integers. */
static int sign128(int64_t ax, int64_t ay, int64_t bx, int64_t by, int64_t cx, int64_t cy)
{
	__int128 d = (__int128)(bx - ax) * (cy - ay) - (__int128)(by - ay) * (cx - ax);
	return (d > 0) - (d < 0);
}

/* (e1, e2) with u·e2 - v·e1 = 1, if gcd(u, v) = 1. */
static bool bezout(int64_t u, int64_t v, int64_t *e1, int64_t *e2)
{
	/* extended Euclid on (u, v): s·u + t·v = g */
	int64_t r0 = u, r1 = v, s0 = 1, s1 = 0, t0 = 0, t1 = 1;
	while (r1 != 0) {
		int64_t q = r0 / r1, x;
		x = r0 - q * r1, r0 = r1, r1 = x;
		x = s0 - q * s1, s0 = s1, s1 = x;
		x = t0 - q * t1, t0 = t1, t1 = x;
	}
	if (r0 != 1 && r0 != -1)
		return false;
	/* s0·u + t0·v = r0: take e2 = s0·r0, e1 = -t0·r0 */
	*e2 = s0 * r0;
	*e1 = -t0 * r0;
	return (__int128)u * *e2 - (__int128)v * *e1 == 1;
}

static void orient_trials(double base, int bits, int64_t span)
{
	double unit = ldexp(1.0, -bits);
	size_t naive_wrong = 0, zero = 0;
	for (int k = 0; k < 200000; k++) {
		int64_t ax = rnd_range(0, span), ay = rnd_range(0, span), bx = rnd_range(0, span),
			by = rnd_range(0, span);
		int64_t cx, cy;
		if (k % 4 == 0) {
			/* b - a = (u, v) coprime, (e1, e2) with u·e2 - v·e1 = 1, and
			 * c = a + m·(u, v) + s·(e1, e2): the determinant is exactly s
			 * (-1, 0 or 1) while its two products are ~2^80 */
			int64_t u, v, e1, e2;
			do {
				u = rnd_range(-span / 4, span / 4);
				v = rnd_range(-span / 4, span / 4);
			} while (!bezout(u, v, &e1, &e2));
			int64_t m = rnd_range(-1, 2), sg = rnd_range(-1, 1);
			bx = ax + u;
			by = ay + v;
			cx = ax + m * u + sg * e1;
			cy = ay + m * v + sg * e2;
		} else {
			double t = rnd01();
			cx = ax + (int64_t)llround(t * (double)(bx - ax)) + rnd_range(-2, 2);
			cy = ay + (int64_t)llround(t * (double)(by - ay)) + rnd_range(-2, 2);
		}
		struct geo_pt a = {base + (double)ax * unit, base + (double)ay * unit};
		struct geo_pt b = {base + (double)bx * unit, base + (double)by * unit};
		struct geo_pt c = {base + (double)cx * unit, base + (double)cy * unit};
		int want = sign128(ax, ay, bx, by, cx, cy);
		assert_int_equal(geo_orient(a, b, c), want);
		assert_int_equal(geo_orient(b, c, a), want); /* cyclic */
		assert_int_equal(geo_orient(b, a, c), -want);
		double naive = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
		naive_wrong += ((naive > 0) - (naive < 0)) != want;
		zero += want == 0;
	}
	/* the cases are hard enough that plain doubles get some wrong */
	assert_true(naive_wrong > 0);
	assert_true(zero > 0);
}

/* Points whose coordinate differences are not exact in doubles (one point
 * near 0, one near 3): plain doubles then get signs wrong, not only zeros,
 * which is what the filter's error bound is for. Exact reference: every
 * coordinate is a multiple of 2^-60 below 4, so 128-bit integers hold the
 * determinant. */
static void orient_mixed_trials(void)
{
	size_t naive_wrong_sign = 0;
	for (int k = 0; k < 200000; k++) {
		struct geo_pt a = {ldexp((double)(rnd() >> 14), -60),
				   ldexp((double)(rnd() >> 14), -60)};
		struct geo_pt b = {2 + 2 * rnd01(), 2 + 2 * rnd01()};
		double t = 0.01 + 0.99 * rnd01(); /* c >= 0.02: a multiple of 2^-60 too */
		struct geo_pt c = {a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
		int nudge = (int)rnd_range(-2, 2);
		for (int i = 0; i < (nudge < 0 ? -nudge : nudge); i++)
			c.y = nextafter(c.y, nudge < 0 ? 0 : 8);
		__int128 ax = (__int128)ldexp(a.x, 60), ay = (__int128)ldexp(a.y, 60);
		__int128 bx = (__int128)ldexp(b.x, 60), by = (__int128)ldexp(b.y, 60);
		__int128 cx = (__int128)ldexp(c.x, 60), cy = (__int128)ldexp(c.y, 60);
		__int128 d = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
		int want = (d > 0) - (d < 0);
		assert_int_equal(geo_orient(a, b, c), want);
		double naive = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
		naive_wrong_sign += naive != 0 && ((naive > 0) - (naive < 0)) != want;
	}
	assert_true(naive_wrong_sign > 0);
}

static void test_orient_exact(void **state)
{
	(void)state;
	rng_state = 1;
	orient_mixed_trials();
	orient_trials(0.0, 40, (int64_t)1 << 41);
	orient_trials(113.0, 44, (int64_t)1 << 44); /* longitudes around 113°–114° */
	orient_trials(34.0, 47, (int64_t)1 << 45);
}

static void test_segments(void **state)
{
	(void)state;
	struct geo_pt o = {0, 0}, a = {2, 0}, b = {2, 2}, c = {1, 1}, d = {3, 3}, e = {4, 4},
		      f = {0, 2};
	assert_true(geo_segments_intersect(o, b, a, f));  /* X */
	assert_true(geo_segments_intersect(o, a, a, b));  /* shared endpoint */
	assert_true(geo_segments_intersect(o, b, c, a));  /* T: endpoint on the other */
	assert_true(geo_segments_intersect(o, d, c, e));  /* collinear overlap */
	assert_true(geo_segments_intersect(o, c, c, e));  /* collinear, touching */
	assert_false(geo_segments_intersect(o, c, d, e)); /* collinear, apart */
	assert_false(geo_segments_intersect(o, a, f, b)); /* parallel */
	assert_false(
		geo_segments_intersect(o, c, a, (struct geo_pt){3, 0})); /* lines meet outside */
	/* on y = x whatever the rounding of the decimals; off it by one ulp */
	struct geo_pt p = {0.1, 0.1}, q = {0.3, 0.3}, r = {0.2, 0.2};
	assert_int_equal(geo_orient(p, q, r), 0);
	assert_int_equal(geo_orient(p, q, (struct geo_pt){0.2, nextafter(0.2, 1)}), 1);
	assert_int_equal(geo_orient(p, q, (struct geo_pt){0.2, nextafter(0.2, 0)}), -1);
}

/* ---------------------------------------------------------------- contains */

static void test_contains(void **state)
{
	(void)state;
	struct geo_shape s;
	parse_ok(square_with_hole, &s);
	static const struct {
		double x, y;
		int want;
		enum geo_where where;
	} pts[] = {
		{0, 0, 1, GEO_BOUNDARY},	{4, 0, 1, GEO_BOUNDARY},
		{4, 4, 1, GEO_BOUNDARY},	{0, 4, 1, GEO_BOUNDARY},
		{2, 0, 1, GEO_BOUNDARY},	{4, 3.5, 1, GEO_BOUNDARY},
		{0, 0.1, 1, GEO_BOUNDARY},	{0.5, 4, 1, GEO_BOUNDARY},
		{3, 3, 1, GEO_INSIDE},		{0.5, 2, 1, GEO_INSIDE},
		{1, 1, 1, GEO_BOUNDARY},	{1.5, 1, 1, GEO_BOUNDARY},
		{2, 1.5, 1, GEO_BOUNDARY},	{1, 2, 1, GEO_BOUNDARY},
		{1.5, 1.5, 0, GEO_OUTSIDE},	{1.01, 1.99, 0, GEO_OUTSIDE},
		{-1, 2, 0, GEO_OUTSIDE},	{4.0000001, 2, 0, GEO_OUTSIDE},
		{2, -1e-300, 0, GEO_OUTSIDE},	{5, 5, 0, GEO_OUTSIDE},
		{-1, 0, 0, GEO_OUTSIDE},	{2, 1, 1, GEO_BOUNDARY},
		{0.999999, 1.5, 1, GEO_INSIDE},
	};
	for (size_t i = 0; i < ARRAY_SIZE(pts); i++) {
		if (geo_contains(&s, pts[i].x, pts[i].y) != pts[i].want ||
		    geo_classify(&s, pts[i].x, pts[i].y) != pts[i].where)
			fail_msg("point %zu (%g, %g): contains %d where %d", i, pts[i].x, pts[i].y,
				 geo_contains(&s, pts[i].x, pts[i].y),
				 geo_classify(&s, pts[i].x, pts[i].y));
	}
	assert_int_equal(geo_contains(&s, NAN, 1), 0);
	assert_int_equal(geo_contains(&s, 1, INFINITY), 0);
	geo_shape_free(&s);

	/* a slanted edge: on it exactly, one ulp either side */
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[0,4],[0,0]]]}", &s);
	assert_int_equal(geo_classify(&s, 2, 2), GEO_BOUNDARY);
	assert_int_equal(geo_classify(&s, 2, nextafter(2, 3)), GEO_OUTSIDE);
	assert_int_equal(geo_classify(&s, 2, nextafter(2, 1)), GEO_INSIDE);
	assert_int_equal(geo_classify(&s, 1, 1), GEO_INSIDE);
	geo_shape_free(&s);

	/* real coordinates: a grid corner and the midpoint of a vertical edge */
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":[[[113.61,34.71],[113.62,34.71],[113.62,34."
		 "72],"
		 "[113.61,34.72],[113.61,34.71]]]}",
		 &s);
	assert_int_equal(geo_classify(&s, 113.62, 34.715), GEO_BOUNDARY);
	assert_int_equal(geo_classify(&s, 113.61, 34.71), GEO_BOUNDARY);
	assert_int_equal(geo_classify(&s, 113.615, 34.715), GEO_INSIDE);
	assert_int_equal(geo_classify(&s, nextafter(113.62, 200), 34.715), GEO_OUTSIDE);
	geo_shape_free(&s);
}

/* ---------------------------------------------------------------- area, distance, labels */

static void test_area(void **state)
{
	(void)state;
	struct geo_shape s;
	parse_ok(
		"{\"type\":\"Polygon\",\"coordinates\":[[[113.6,34.7],[113.61,34.7],[113.61,34.71],"
		"[113.6,34.71],[113.6,34.7]]]}",
		&s);
	double a = geo_area_m2(&s);
	/* on the sphere a lat-lon cell is exactly R²·Δλ·(sin φ2 − sin φ1) */
	double R = GEO_EARTH_R_M, cell = R * R * (0.01 * M_PI / 180) *
					 (sin(34.71 * M_PI / 180) - sin(34.70 * M_PI / 180));
	assert_true(fabs(a - cell) / cell < 1e-9);
	/* and the WGS-84 ellipsoid gives 1,016,328 m² (authalic-latitude formula);
	 * a sphere of the mean radius is within 0.5 % of it at these latitudes */
	assert_true(fabs(a - 1016328.0) / 1016328.0 < 0.005);
	assert_true(a > 1.01e6 && a < 1.02e6);
	geo_shape_free(&s);

	/* a hole is subtracted; a big 1°×1° cell is still exact */
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":[[[113,30],[114,30],[114,31],[113,31],[113,"
		 "30]],"
		 "[[113.25,30.25],[113.25,30.75],[113.75,30.75],[113.75,30.25],[113.25,30.25]]]}",
		 &s);
	double outer = R * R * (M_PI / 180) * (sin(31 * M_PI / 180) - sin(30 * M_PI / 180));
	double hole =
		R * R * (0.5 * M_PI / 180) * (sin(30.75 * M_PI / 180) - sin(30.25 * M_PI / 180));
	assert_true(fabs(geo_area_m2(&s) - (outer - hole)) / outer < 1e-9);
	geo_shape_free(&s);

	/* a triangle: half of its square, whichever diagonal (to first order) */
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":[[[113.6,34.7],[113.61,34.7],[113.6,34.71],"
		 "[113.6,34.7]]]}",
		 &s);
	assert_true(fabs(geo_area_m2(&s) - cell / 2) / cell < 1e-4);
	geo_shape_free(&s);
	assert_true(geo_area_m2(NULL) == 0);
}

static void test_distance(void **state)
{
	(void)state;
	double R = GEO_EARTH_R_M;
	/* one degree along a meridian, a quarter of the equator */
	assert_true(fabs(geo_distance_m(34, 113, 35, 113) - R * M_PI / 180) < 1e-6);
	assert_true(fabs(geo_distance_m(0, 0, 0, 90) - R * M_PI / 2) < 1e-6);
	assert_true(geo_distance_m(34.7, 113.6, 34.7, 113.6) == 0);
	/* Beijing – Shanghai: 1,067,311.6 m by the spherical law of cosines on
	 * the same sphere (another formula); published ellipsoidal ~1,067-1,068 km */
	double d = geo_distance_m(39.9042, 116.4074, 31.2304, 121.4737);
	assert_true(fabs(d - 1067311.645) < 0.01);
	assert_true(fabs(geo_distance_m(31.2304, 121.4737, 39.9042, 116.4074) - d) < 1e-6);
	/* antipodes (haversine loses precision there: asin near 1) */
	assert_true(fabs(geo_distance_m(10, 20, -10, -160) - R * M_PI) < 1.0);
}

static void test_label_point(void **state)
{
	(void)state;
	static const char *const shapes[] = {
		/* U: the centroid is outside */
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[3,0],[3,3],[2,3],[2,1],[1,1],[1,3],"
		"[0,3],[0,0]]]}",
		/* the middle is a hole */
		SQUARE_WITH_HOLE,
		"{\"type\":\"Polygon\",\"coordinates\":[" SQ
		",[[0.5,0.5],[0.5,3.5],[3.5,3.5],[3.5,0.5],[0.5,0.5]]]}",
		/* a thin sliver, and a multipolygon whose larger part is second */
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[10,1e-7],[0,2e-7],[0,0]]]}",
		"{\"type\":\"MultiPolygon\",\"coordinates\":[[[[10,10],[11,10],[11,11],[10,10]]],"
		"[" SQ "]]}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(shapes); i++) {
		struct geo_shape s;
		parse_ok(shapes[i], &s);
		struct geo_pt p = geo_label_point(&s);
		if (geo_classify(&s, p.x, p.y) != GEO_INSIDE)
			fail_msg("shape %zu: label (%g, %g) not inside", i, p.x, p.y);
		if (i == 4)
			assert_true(p.x < 4 && p.y < 4);
		geo_shape_free(&s);
	}
	struct geo_shape empty = {0};
	struct geo_pt p = geo_label_point(&empty);
	assert_true(p.x == 0 && p.y == 0);
}

/* ---------------------------------------------------------------- a generated tessellation */

/*
 * COLS×ROWS cells of a perturbed lattice near Zhengzhou. Every coordinate is
 * a multiple of 2^-20 degrees, so midpoints and quarter points of edges are
 * exactly on the edges. Each side between two corners is a polyline shared
 * by the two cells it separates. Some cells have a hole; half of the holes
 * are filled by an island (its own shape, sharing the hole's edges); some
 * cells are missing (gaps); some pairs of cells two apart are one
 * MultiPolygon shape. Ids are a random permutation.
 */
#define COLS 64
#define ROWS 48
#define UNIT (1.0 / 1048576.0)
#define CELL 2048 /* units: about 200 m */

struct poly_line {
	int64_t (*p)[2];
	size_t n; /* points including both corners */
};

struct tess {
	int64_t corner[COLS + 1][ROWS + 1][2];
	struct poly_line hor[COLS][ROWS + 1]; /* from corner (i,j) to (i+1,j) */
	struct poly_line ver[COLS + 1][ROWS]; /* from corner (i,j) to (i,j+1) */
	int cell_shape[COLS][ROWS];	      /* shape index or -1 */
	size_t nshapes;
	struct geo_shape *shapes;
	const struct geo_shape **sp;
	int64_t *ids;
	struct geo_ring hole[COLS][ROWS];      /* n == 0: no hole */
	struct geo_pt hole_centre[COLS][ROWS]; /* each hole is star-shaped around it */
	int island_shape[COLS][ROWS];	       /* -1: empty hole */
};

static struct geo_pt U(const int64_t *q) {
	return (struct geo_pt){113.5 + (double)q[0] * UNIT, 34.6 + (double)q[1] * UNIT};
}

static void
make_line(struct poly_line *l, const int64_t *a, const int64_t *b, int axis)
{
	size_t k = (size_t)rnd_range(3, 12);
	l->n = k + 2;
	l->p = xmalloc(l->n * sizeof *l->p);
	for (size_t m = 0; m < l->n; m++) {
		double s = (double)m / (double)(k + 1);
		double off = (m == 0 || m == k + 1)
				     ? 0
				     : (rnd01() * 2 - 1) * 0.08 * CELL * sin(M_PI * s);
		l->p[m][0] = (int64_t)llround((double)a[0] + s * (double)(b[0] - a[0]) +
					      (axis ? off : 0));
		l->p[m][1] = (int64_t)llround((double)a[1] + s * (double)(b[1] - a[1]) +
					      (axis ? 0 : off));
	}
	l->p[0][0] = a[0], l->p[0][1] = a[1];
	l->p[l->n - 1][0] = b[0], l->p[l->n - 1][1] = b[1];
}

static void push_line(struct geo_pt *out, size_t *k, const struct poly_line *l, bool reverse)
{
	for (size_t m = 0; m + 1 < l->n; m++)
		out[(*k)++] = U(l->p[reverse ? l->n - 1 - m : m]);
}

static struct geo_ring cell_ring(const struct tess *t, int i, int j)
{
	struct geo_ring r;
	size_t cap = t->hor[i][j].n + t->ver[i + 1][j].n + t->hor[i][j + 1].n + t->ver[i][j].n;
	r.pts = xmalloc(cap * sizeof *r.pts);
	size_t k = 0;
	push_line(r.pts, &k, &t->hor[i][j], false);
	push_line(r.pts, &k, &t->ver[i + 1][j], false);
	push_line(r.pts, &k, &t->hor[i][j + 1], true);
	push_line(r.pts, &k, &t->ver[i][j], true);
	r.pts[k++] = r.pts[0];
	r.n = k;
	return r;
}

static bool has_hole(int i, int j)
{
	return (i * 7 + j * 3) % 11 == 0;
}

static bool is_gap(int i, int j)
{
	return (i * 5 + j * 11) % 17 == 3 && !has_hole(i, j);
}

static bool starts_pair(int i, int j)
{
	return (i + 2 * j) % 23 == 0 && i + 2 < COLS && !is_gap(i, j) && !is_gap(i + 2, j);
}

static struct tess *tess_make(uint64_t seed)
{
	rng_state = seed;
	struct tess *t = xcalloc(1, sizeof *t);
	for (int i = 0; i <= COLS; i++)
		for (int j = 0; j <= ROWS; j++) {
			t->corner[i][j][0] = (int64_t)i * CELL + rnd_range(-CELL / 8, CELL / 8);
			t->corner[i][j][1] = (int64_t)j * CELL + rnd_range(-CELL / 8, CELL / 8);
		}
	for (int i = 0; i < COLS; i++)
		for (int j = 0; j <= ROWS; j++)
			make_line(&t->hor[i][j], t->corner[i][j], t->corner[i + 1][j], 0);
	for (int i = 0; i <= COLS; i++)
		for (int j = 0; j < ROWS; j++)
			make_line(&t->ver[i][j], t->corner[i][j], t->corner[i][j + 1], 1);

	size_t cap = COLS * ROWS * 2;
	t->shapes = xcalloc(cap, sizeof *t->shapes);
	for (int i = 0; i < COLS; i++)
		for (int j = 0; j < ROWS; j++)
			t->cell_shape[i][j] = t->island_shape[i][j] = -1;
	bool paired[COLS][ROWS];
	memset(paired, 0, sizeof paired);
	for (int j = 0; j < ROWS; j++)
		for (int i = 0; i < COLS; i++) {
			if (is_gap(i, j) || paired[i][j])
				continue;
			struct geo_ring rings[2][2];
			struct geo_poly polys[2];
			size_t np = 0;
			int cells[2][2] = {{i, j}, {i + 2, j}};
			size_t ncells = starts_pair(i, j) && !paired[i + 2][j] ? 2 : 1;
			for (size_t c = 0; c < ncells; c++) {
				int ci = cells[c][0], cj = cells[c][1];
				paired[ci][cj] = true;
				rings[c][0] = cell_ring(t, ci, cj);
				polys[np] = (struct geo_poly){rings[c], 1};
				if (has_hole(ci, cj)) {
					/* a clockwise octagon around the middle of the cell */
					int64_t cx = (t->corner[ci][cj][0] +
						      t->corner[ci + 1][cj + 1][0]) /
						     2;
					int64_t cy = (t->corner[ci][cj][1] +
						      t->corner[ci + 1][cj + 1][1]) /
						     2;
					struct geo_ring *h = &t->hole[ci][cj];
					t->hole_centre[ci][cj] = U((int64_t[2]){cx, cy});
					h->n = 9;
					h->pts = xmalloc(9 * sizeof *h->pts);
					for (int v = 0; v < 8; v++) {
						double ang = -2 * M_PI * v / 8,
						       rad = CELL * (0.12 + 0.08 * rnd01());
						int64_t q[2] = {
							cx + (int64_t)llround(rad * cos(ang)),
							cy + (int64_t)llround(rad * sin(ang))};
						h->pts[v] = U(q);
					}
					h->pts[8] = h->pts[0];
					rings[c][1] = *h;
					polys[np].nrings = 2;
				}
				np++;
				t->cell_shape[ci][cj] = (int)t->nshapes;
			}
			geo_shape_from_polys(polys, np, &t->shapes[t->nshapes++]);
			for (size_t c = 0; c < ncells; c++)
				free(rings[c][0].pts);
		}
	for (int i = 0; i < COLS; i++)
		for (int j = 0; j < ROWS; j++)
			if (t->hole[i][j].n && (i + j) % 2 == 0) {
				struct geo_poly island = {&t->hole[i][j], 1};
				t->island_shape[i][j] = (int)t->nshapes;
				geo_shape_from_polys(&island, 1, &t->shapes[t->nshapes++]);
			}
	t->sp = xmalloc(t->nshapes * sizeof *t->sp);
	t->ids = xmalloc(t->nshapes * sizeof *t->ids);
	for (size_t k = 0; k < t->nshapes; k++) {
		t->sp[k] = &t->shapes[k];
		t->ids[k] = (int64_t)k + 1;
	}
	for (size_t k = t->nshapes - 1; k > 0; k--) { /* shuffle the ids */
		size_t m = (size_t)rnd_range(0, (int64_t)k);
		int64_t x = t->ids[k];
		t->ids[k] = t->ids[m];
		t->ids[m] = x;
	}
	return t;
}

static void tess_free(struct tess *t)
{
	for (size_t k = 0; k < t->nshapes; k++)
		geo_shape_free(&t->shapes[k]);
	for (int i = 0; i < COLS; i++)
		for (int j = 0; j <= ROWS; j++)
			free(t->hor[i][j].p);
	for (int i = 0; i <= COLS; i++)
		for (int j = 0; j < ROWS; j++)
			free(t->ver[i][j].p);
	for (int i = 0; i < COLS; i++)
		for (int j = 0; j < ROWS; j++)
			free(t->hole[i][j].pts);
	free(t->shapes);
	free(t->sp);
	free(t->ids);
	free(t);
}

static int64_t cell_id(const struct tess *t, int i, int j)
{
	if (i < 0 || j < 0 || i >= COLS || j >= ROWS || t->cell_shape[i][j] < 0)
		return 0;
	return t->ids[t->cell_shape[i][j]];
}

static int64_t min_id(int64_t a, int64_t b)
{
	return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* Every generated shape is valid GeoJSON by our rules. */
static void test_tessellation_valid(void **state)
{
	(void)state;
	struct tess *t = tess_make(42);
	assert_true(t->nshapes > 2500);
	size_t holes = 0, multi = 0;
	for (size_t k = 0; k < t->nshapes; k++) {
		json_t *j = geo_to_geojson(&t->shapes[k]);
		struct geo_shape s;
		struct err e;
		char prefix[48];
		snprintf(prefix, sizeof prefix, "features[%zu].geometry", k);
		if (geo_from_geojson(j, prefix, &s, &e) != 0)
			fail_msg("shape %zu rejected: %s at %s", k, e.message, e.field);
		json_decref(j);
		holes += s.polys[0].nrings > 1;
		multi += s.npolys > 1;
		assert_true(fabs(geo_area_m2(&s) - geo_area_m2(&t->shapes[k])) <
			    1e-6 * geo_area_m2(&s));
		geo_shape_free(&s);
	}
	assert_true(holes > 100);
	assert_true(multi > 20);
	tess_free(t);
}

/* The index agrees with brute force on 200,000 points: uniform ones (in
 * cells, in holes, in gaps, outside everything), vertices, exact points on
 * edges, points one ulp off an edge and points inside holes; and points on
 * shared edges and corners get the smallest id of the cells meeting there. */
static void test_index_vs_brute(void **state)
{
	(void)state;
	struct tess *t = tess_make(7);
	struct geo_index *ix = geo_index_build(t->sp, t->ids, t->nshapes);
	assert_int_equal(geo_index_count(ix), t->nshapes);
	struct geo_bbox all = {INFINITY, INFINITY, -INFINITY, -INFINITY};
	for (size_t k = 0; k < t->nshapes; k++) {
		all.minx = fmin(all.minx, t->shapes[k].bbox.minx);
		all.miny = fmin(all.miny, t->shapes[k].bbox.miny);
		all.maxx = fmax(all.maxx, t->shapes[k].bbox.maxx);
		all.maxy = fmax(all.maxy, t->shapes[k].bbox.maxy);
	}
	double w = all.maxx - all.minx, h = all.maxy - all.miny;
	size_t n = 200000, none = 0, boundary = 0, checked_min = 0;
	for (size_t q = 0; q < n; q++) {
		double x, y;
		int64_t expect = -1; /* -1: only compare with brute force */
		int kind = (int)(q % 8);
		if (kind <= 2) { /* uniform, 10 % margin around everything */
			x = all.minx - 0.1 * w + 1.2 * w * rnd01();
			y = all.miny - 0.1 * h + 1.2 * h * rnd01();
		} else if (kind <= 5) { /* on a cell side: vertex, midpoint, quarter point, or one
					   ulp off */
			int i = (int)rnd_range(0, COLS - 1), j = (int)rnd_range(0, ROWS),
			    vert = (int)(rnd() & 1);
			if (vert) {
				i = (int)rnd_range(0, COLS);
				j = (int)rnd_range(0, ROWS - 1);
			}
			const struct poly_line *l = vert ? &t->ver[i][j] : &t->hor[i][j];
			size_t m = (size_t)rnd_range(0, (int64_t)l->n - 2);
			struct geo_pt a = U(l->p[m]), b = U(l->p[m + 1]);
			int how = (int)rnd_range(0, 4);
			if (how == 0) {
				x = a.x, y = a.y;
			} else {
				double f = how == 1 ? 0.5 : 0.25;
				x = a.x + (b.x - a.x) * f;
				y = a.y + (b.y - a.y) * f;
			}
			if (how <= 2) {
				/* exactly on the side between the two cells it separates */
				assert_int_equal(geo_orient(a, b, (struct geo_pt){x, y}), 0);
				bool corner = how == 0 && m == 0;
				int64_t c1 = vert ? cell_id(t, i - 1, j) : cell_id(t, i, j - 1);
				int64_t c2 = vert ? cell_id(t, i, j) : cell_id(t, i, j);
				if (!corner) {
					expect = min_id(c1, c2);
					checked_min++;
				} else {
					/* a lattice corner: up to four cells */
					int ci = i, cj = j;
					expect = min_id(
						min_id(cell_id(t, ci - 1, cj - 1),
						       cell_id(t, ci, cj - 1)),
						min_id(cell_id(t, ci - 1, cj), cell_id(t, ci, cj)));
					checked_min++;
				}
			} else {
				x = how == 3 ? nextafter(x, INFINITY) : x;
				y = how == 4 ? nextafter(y, -INFINITY) : y;
			}
		} else if (kind == 6) { /* in or on a hole */
			int i, j;
			do {
				i = (int)rnd_range(0, COLS - 1);
				j = (int)rnd_range(0, ROWS - 1);
			} while (!t->hole[i][j].n || t->cell_shape[i][j] < 0);
			const struct geo_ring *hr = &t->hole[i][j];
			size_t v = (size_t)rnd_range(0, 7);
			if (rnd() & 1) { /* a hole vertex or edge midpoint: cell and island meet */
				double f = (rnd() & 1) ? 0 : 0.5;
				x = hr->pts[v].x + (hr->pts[v + 1].x - hr->pts[v].x) * f;
				y = hr->pts[v].y + (hr->pts[v + 1].y - hr->pts[v].y) * f;
				assert_int_equal(geo_orient(hr->pts[v], hr->pts[v + 1],
							    (struct geo_pt){x, y}),
						 0);
				int64_t isl = t->island_shape[i][j] >= 0
						      ? t->ids[t->island_shape[i][j]]
						      : 0;
				expect = min_id(isl, t->ids[t->cell_shape[i][j]]);
				checked_min++;
			} else { /* strictly inside the hole: the island or nothing */
				struct geo_pt c = t->hole_centre[i][j];
				double f = 0.9 * rnd01();
				x = c.x + (hr->pts[v].x - c.x) * f;
				y = c.y + (hr->pts[v].y - c.y) * f;
				expect = t->island_shape[i][j] >= 0 ? t->ids[t->island_shape[i][j]]
								    : 0;
			}
		} else { /* a label point of a random shape */
			size_t k = (size_t)rnd_range(0, (int64_t)t->nshapes - 1);
			struct geo_pt p = geo_label_point(&t->shapes[k]);
			assert_int_equal(geo_classify(&t->shapes[k], p.x, p.y), GEO_INSIDE);
			x = p.x, y = p.y;
			expect = t->ids[k];
		}
		int64_t got = geo_index_find(ix, x, y),
			ref = geo_brute_find(t->sp, t->ids, t->nshapes, x, y);
		if (got != ref || (expect >= 0 && got != expect))
			fail_msg("point %zu (kind %d) (%.17g, %.17g): index %lld brute %lld "
				 "expected %lld",
				 q, kind, x, y, (long long)got, (long long)ref, (long long)expect);
		none += got == 0;
		for (size_t k = 0; k < t->nshapes && kind >= 3 && kind <= 5; k++)
			if (geo_classify(&t->shapes[k], x, y) == GEO_BOUNDARY) {
				boundary++;
				break;
			}
	}
	/* the sample really covers the cases */
	assert_true(none > n / 50);
	assert_true(boundary > n / 10);
	assert_true(checked_min > n / 10);
	geo_index_free(ix);
	tess_free(t);
}

static void test_index_edges(void **state)
{
	(void)state;
	struct geo_index *ix = geo_index_build(NULL, NULL, 0);
	assert_int_equal(geo_index_find(ix, 1, 1), 0);
	assert_int_equal(geo_index_count(ix), 0);
	geo_index_free(ix);
	geo_index_free(NULL);
	assert_int_equal(geo_index_find(NULL, 1, 1), 0);

	/* the same square three times and an empty shape: the smallest id wins */
	struct geo_shape a, b, empty = {0};
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":[" SQ "]}", &a);
	geo_shape_copy(&a, &b);
	const struct geo_shape *sp[4] = {&a, &empty, &b, &a};
	int64_t ids[4] = {9, 1, 4, 6};
	ix = geo_index_build(sp, ids, 4);
	assert_int_equal(geo_index_count(ix), 3);
	assert_int_equal(geo_index_find(ix, 2, 2), 4);
	assert_int_equal(geo_index_find(ix, 4, 4), 4);
	assert_int_equal(geo_index_find(ix, 5, 5), 0);
	assert_int_equal(geo_index_find(ix, NAN, 2), 0);
	assert_int_equal(geo_brute_find(sp, ids, 4, 2, 2), 4);
	assert_int_equal(geo_brute_find(sp, ids, 4, 5, 2), 0);
	geo_index_free(ix);
	geo_shape_free(&a);
	geo_shape_free(&b);
}

/* ---------------------------------------------------------------- coverage */

static void rect(struct geo_shape *s, double x0, double y0, double x1, double y1)
{
	struct geo_pt p[5] = {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}};
	struct geo_ring r = {p, 5};
	struct geo_poly P = {&r, 1};
	geo_shape_from_polys(&P, 1, s);
}

static void test_cover(void **state)
{
	(void)state;
	struct geo_shape parent, q[6];
	const double x0 = 113.60, y0 = 34.70, xm = 113.61, ym = 34.71, x1 = 113.62, y1 = 34.72;
	rect(&parent, x0, y0, x1, y1);
	rect(&q[0], x0, y0, xm, ym);
	rect(&q[1], xm, y0, x1, ym);
	rect(&q[2], x0, ym, xm, y1);
	rect(&q[3], xm, ym, x1, y1);
	rect(&q[4], 113.605, 34.705, 113.615, 34.715); /* overlaps all four by a quarter each */
	rect(&q[5], 113.615, 34.715, 113.625, 34.725); /* sticks out of the parent */
	const struct geo_shape *ch[6] = {&q[0], &q[1], &q[2], &q[3], &q[4], &q[5]};
	int64_t ids[6] = {11, 12, 13, 14, 15, 16};
	double quad = geo_area_m2(&q[0]);
	struct geo_cover_report r;

	/* exact 2×2 tessellation: no gap, no overlap (shared edges are not overlaps) */
	geo_cover(&parent, ch, ids, 4, 10, &r);
	assert_true(r.samples > 40000 && r.samples <= 60000); /* ~1830 m × 2220 m at 10 m */
	assert_true(r.gap_m2 == 0 && r.overlap_m2 == 0 && r.outside_m2 == 0);
	assert_int_equal(r.overlap_a, 0);

	/* one child removed: the gap is its area (the lattice tiles the bbox, so
	 * only the half column or row of cells cut by the quadrant's edges errs:
	 * about 0.5/91 + 0.5/111 < 1.1 %) */
	const struct geo_shape *three[3] = {&q[0], &q[1], &q[2]};
	geo_cover(&parent, three, ids, 3, 10, &r);
	assert_true(fabs(r.gap_m2 - quad) / quad < 0.011);
	assert_true(r.overlap_m2 == 0);
	assert_true(r.gap_example.x > xm && r.gap_example.y > ym);

	/* an overlapping child: it overlaps its own area, by the first two ids */
	geo_cover(&parent, ch, ids, 5, 10, &r);
	double over = geo_area_m2(&q[4]);
	assert_true(fabs(r.overlap_m2 - over) / over < 0.02);
	assert_true(r.gap_m2 == 0);
	assert_true(r.overlap_a == 11 && r.overlap_b == 15);
	assert_int_equal(geo_contains(&q[4], r.overlap_example.x, r.overlap_example.y), 1);

	/* a child sticking out of the parent's bbox: 3/4 of it is outside */
	geo_cover(&parent, ch, ids, 6, 10, &r);
	double stick = geo_area_m2(&q[5]);
	assert_true(fabs(r.outside_m2 - 0.75 * stick) / stick < 0.001);
	assert_true(fabs(r.overlap_m2 - over - stick / 4) / over < 0.03);

	/* an L-shaped parent: a child over the missing corner is outside by sampling */
	struct geo_shape L;
	parse_ok("{\"type\":\"Polygon\",\"coordinates\":[[[113.60,34.70],[113.62,34.70],[113.62,34."
		 "71],"
		 "[113.61,34.71],[113.61,34.72],[113.60,34.72],[113.60,34.70]]]}",
		 &L);
	geo_cover(&L, ch, ids, 4, 10, &r);
	assert_true(fabs(r.outside_m2 - quad) / quad < 0.011);
	assert_true(r.gap_m2 == 0 && r.overlap_m2 == 0);

	/* a sample exactly on the edge shared by two children is in neither
	 * strictly: no overlap. With one lattice cell the only sample is the
	 * gap example of a cover with no children; split the parent there. */
	geo_cover(&parent, ch, ids, 0, 1e6, &r);
	assert_int_equal(r.samples, 1);
	double xs = r.gap_example.x;
	assert_true(xs > x0 && xs < x1);
	struct geo_shape left, right;
	rect(&left, x0, y0, xs, y1);
	rect(&right, xs, y0, x1, y1);
	const struct geo_shape *halves[2] = {&left, &right};
	geo_cover(&parent, halves, ids, 2, 1e6, &r);
	assert_true(r.samples == 1 && r.overlap_m2 == 0 && r.gap_m2 == 0);
	geo_shape_free(&left);
	geo_shape_free(&right);

	/* the lattice is clamped to about a million samples */
	geo_cover(&parent, ch, ids, 4, 0.01, &r);
	assert_true(r.samples <= GEO_COVER_MAX_SAMPLES && r.samples > 900000);
	assert_true(r.gap_m2 == 0 && r.overlap_m2 == 0);
	/* also for a long thin parent (10 km × 1 m) */
	struct geo_shape thin;
	rect(&thin, 113.60, 34.70, 113.71, 34.70001);
	geo_cover(&thin, NULL, NULL, 0, 0.001, &r);
	assert_true(r.samples <= GEO_COVER_MAX_SAMPLES && r.samples > 500000);
	assert_true(fabs(r.gap_m2 - geo_area_m2(&thin)) / geo_area_m2(&thin) < 1e-6);
	geo_shape_free(&thin);

	geo_shape_free(&L);
	geo_shape_free(&parent);
	for (int i = 0; i < 6; i++)
		geo_shape_free(&q[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_polygon),
		cmocka_unit_test(test_parse_normalises),
		cmocka_unit_test(test_parse_multipolygon),
		cmocka_unit_test(test_parse_feature),
		cmocka_unit_test(test_validation_errors),
		cmocka_unit_test(test_valid_touching),
		cmocka_unit_test(test_big_ring),
		cmocka_unit_test(test_orient_exact),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_area),
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_label_point),
		cmocka_unit_test(test_tessellation_valid),
		cmocka_unit_test(test_index_vs_brute),
		cmocka_unit_test(test_index_edges),
		cmocka_unit_test(test_cover),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
