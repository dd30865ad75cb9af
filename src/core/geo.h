/*
 * geo.h — plane geometry for grid governance (网格化管理): grid outlines from
 * GeoJSON, point-in-grid lookups, areas, label points and coverage checks.
 *
 * Coordinates are WGS-84 degrees, x = longitude, y = latitude. Edges are
 * straight lines in (longitude, latitude), as RFC 7946 says; no shape may
 * cross the antimeridian. Every decision that can be decided exactly is: the
 * orientation of three points is computed with an exact fallback, so "on an
 * edge", "touching" and "crossing" do not depend on rounding, and the index
 * and the brute-force search always give the same answer.
 *
 * Areas and distances use a sphere of the mean Earth radius (GEO_EARTH_R_M);
 * at the latitudes of China this differs from the WGS-84 ellipsoid by less
 * than 0.5 %.
 *
 * Nothing here touches the database; src/core/grid.c stores grids and keeps
 * a geo_index of them.
 */
#ifndef YQ_GEO_H
#define YQ_GEO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define GEO_EARTH_R_M	      6371008.8 /* mean Earth radius (IUGG), metres */
#define GEO_MAX_POSITIONS     1000000	/* positions in one geometry */
#define GEO_COVER_MAX_SAMPLES 1000000

/* coordinates: x = longitude, y = latitude (WGS-84 degrees) */
struct geo_pt {
	double x, y;
};
struct geo_ring {
	struct geo_pt *pts;
	size_t n;
}; /* closed: pts[0] == pts[n-1], n >= 4 */
struct geo_poly {
	struct geo_ring *rings;
	size_t nrings;
}; /* rings[0] outer, the rest holes */
struct geo_bbox {
	double minx, miny, maxx, maxy;
};
struct geo_shape {
	struct geo_poly *polys;
	size_t npolys;
	struct geo_bbox bbox;
};

/*
 * Parse a GeoJSON geometry object (type Polygon or MultiPolygon; also accept
 * a Feature and use its geometry) into out, validating: right types, numbers,
 * lon in [-180,180], lat in [-90,90], every ring closed and with >= 4
 * positions (>= 3 distinct), no ring crossing or touching itself, holes inside
 * their outer ring and not crossing it or each other, polygons of a
 * MultiPolygon not overlapping. Touching at single points or along edges is
 * allowed between a hole and its outer ring, between holes and between the
 * polygons of a MultiPolygon (their interiors must not overlap).
 *
 * Consecutive repeated positions are dropped; outer rings are stored
 * counter-clockwise and holes clockwise (RFC 7946), so geo_to_geojson may not
 * give back the input positions one for one. Fields in errors use the input
 * positions ("geometry.coordinates[0][3]").
 *
 * `field_prefix` names the object passed: "features[12].geometry" gives
 * fields like "features[12].geometry.coordinates[0][3]". NULL means
 * "geometry" for a geometry object and "" for a Feature (whose fields then
 * read "geometry.coordinates[0][3]"). Types and shapes of JSON values that
 * are wrong are ERR_BAD_REQUEST, geometry that breaks a rule is
 * ERR_UNPROCESSABLE. On error out is left empty (geo_shape_free is still
 * safe). Returns 0 or -1. The caller frees out with geo_shape_free.
 */
int geo_from_geojson(const json_t *geometry, const char *field_prefix, struct geo_shape *out,
		     struct err *e);

/* A new GeoJSON geometry object (Polygon if s has one polygon, else
 * MultiPolygon); the caller owns the reference. */
json_t *geo_to_geojson(const struct geo_shape *s);

/* Free the contents of s and leave it empty; s itself is the caller's. NULL is a no-op. */
void geo_shape_free(struct geo_shape *s);

/* Deep copy of src into out (out must not hold anything); free with geo_shape_free. */
void geo_shape_copy(const struct geo_shape *src, struct geo_shape *out);

/* Build a shape from rings already known to be valid (tests, generators):
 * polys are copied, the bbox computed; no validation. */
void geo_shape_from_polys(const struct geo_poly *polys, size_t npolys, struct geo_shape *out);

/* Where a point lies with respect to a shape. */
enum geo_where {
	GEO_OUTSIDE = 0,  /* outside every polygon, or strictly inside a hole */
	GEO_BOUNDARY = 1, /* on an edge or vertex of a ring (outer or hole) */
	GEO_INSIDE = 2,	  /* in the interior */
};

/* Exact classification of (x, y) against s; GEO_OUTSIDE for non-finite x, y. */
enum geo_where geo_classify(const struct geo_shape *s, double x, double y);

/* 1 if (x,y) is inside s or on its boundary (including the boundary of a
 * hole), 0 if outside or strictly inside a hole. For a shape that breaks the
 * rules geo_from_geojson enforces (built by hand with overlapping polygons),
 * "inside" is by the even-odd rule over all its rings. */
int geo_contains(const struct geo_shape *s, double x, double y);

/* Approximate area on the sphere, square metres (edges straight in
 * longitude/latitude, integrated exactly on the sphere). */
double geo_area_m2(const struct geo_shape *s);

/* A point guaranteed inside s (for labels/demo placement): strictly inside
 * the largest polygon, near the middle of its widest horizontal run; a
 * boundary vertex only if no interior point can be found in floating point.
 * (0, 0) for an empty shape. */
struct geo_pt geo_label_point(const struct geo_shape *s);

/* Great-circle distance by the haversine formula, metres. */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

/* Exact sign of the orientation of c relative to the directed line a→b:
 * 1 counter-clockwise (c to the left), -1 clockwise, 0 collinear. */
int geo_orient(struct geo_pt a, struct geo_pt b, struct geo_pt c);

/* Do the closed segments p1-p2 and q1-q2 share at least one point? Exact. */
int geo_segments_intersect(struct geo_pt p1, struct geo_pt p2, struct geo_pt q1, struct geo_pt q2);

/*
 * A packed (static) R-tree over the shapes' bounding boxes + exact
 * point-in-polygon. Shapes are borrowed (must outlive the index); shapes
 * with no polygon are left out. Sort-Tile-Recursive packing, 16 entries per
 * node, flat arrays; queries allocate nothing and may run concurrently. The
 * index keeps its own copy of the edges, bucketed by horizontal band of each
 * shape (about 50 bytes per vertex: 20 MB for 10,000 grids of 40 vertices),
 * and answers exactly as geo_contains on the shapes would. Aborts on
 * out-of-memory like xmalloc.
 */
struct geo_index;
struct geo_index *geo_index_build(const struct geo_shape *const *shapes, const int64_t *ids,
				  size_t n);
/* id of the shape containing (x,y); when several contain it (shared edges,
 * overlaps) the smallest id; 0 if none. */
int64_t geo_index_find(const struct geo_index *ix, double x, double y);
/* the same answer by brute force over every shape (reference for tests and the benchmark). */
int64_t geo_brute_find(const struct geo_shape *const *shapes, const int64_t *ids, size_t n,
		       double x, double y);
/* Number of shapes in the index. */
size_t geo_index_count(const struct geo_index *ix);
void geo_index_free(struct geo_index *ix);

/*
 * Coverage of a parent by its children (gaps and overlaps between sibling
 * grids), estimated by sampling a lattice of points over the parent's bbox
 * with `step_m` metres spacing (clamped so at most ~1e6 samples; a step <= 0
 * asks for the finest lattice), one point in each lattice cell (at a fixed
 * irrational offset, so that edges at round fractions of the bbox do not run
 * through a row of samples). Each sample stands for its cell's area on the
 * sphere.
 *   gap     = sample strictly inside the parent and in no child (boundaries included);
 *   overlap = sample strictly inside two or more children (shared edges are not overlaps);
 *   outside = sample strictly inside a child and outside the parent, plus,
 *             computed exactly, each child's area outside the parent's bbox.
 */
struct geo_cover_report {
	double gap_m2, overlap_m2, outside_m2; /* estimated areas */
	size_t samples;
	struct geo_pt gap_example,
		overlap_example;      /* one sample point of each, valid if the area > 0 */
	int64_t overlap_a, overlap_b; /* the two children ids of the first overlap found */
};
void geo_cover(const struct geo_shape *parent, const struct geo_shape *const *children,
	       const int64_t *ids, size_t n, double step_m, struct geo_cover_report *out);

#endif
