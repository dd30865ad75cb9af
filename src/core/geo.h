/* temporary copy of the geo API agreed with the geo branch; replaced by the merge */
#ifndef YQ_GEO_H
#define YQ_GEO_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
struct geo_pt { double x, y; };
struct geo_ring { struct geo_pt *pts; size_t n; };
struct geo_poly { struct geo_ring *rings; size_t nrings; };
struct geo_bbox { double minx, miny, maxx, maxy; };
struct geo_shape { struct geo_poly *polys; size_t npolys; struct geo_bbox bbox; };
int geo_from_geojson(const json_t *geometry, const char *field_prefix, struct geo_shape *out, struct err *e);
json_t *geo_to_geojson(const struct geo_shape *s);
void geo_shape_free(struct geo_shape *s);
int geo_contains(const struct geo_shape *s, double x, double y);
double geo_area_m2(const struct geo_shape *s);
struct geo_pt geo_label_point(const struct geo_shape *s);
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);
struct geo_index;
struct geo_index *geo_index_build(const struct geo_shape *const *shapes, const int64_t *ids, size_t n);
int64_t geo_index_find(const struct geo_index *ix, double x, double y);
int64_t geo_brute_find(const struct geo_shape *const *shapes, const int64_t *ids, size_t n, double x, double y);
void geo_index_free(struct geo_index *ix);
struct geo_cover_report {
	double gap_m2, overlap_m2, outside_m2;
	size_t samples;
	struct geo_pt gap_example, overlap_example;
	int64_t overlap_a, overlap_b;
};
void geo_cover(const struct geo_shape *parent, const struct geo_shape *const *children, const int64_t *ids,
	       size_t n, double step_m, struct geo_cover_report *out);
#endif
