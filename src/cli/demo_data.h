/*
 * demo_data.h — deterministic generator of a fictional district's market
 * entities for `yiqiban demo` (and smaller or larger sets for tests).
 */
#ifndef YQ_DEMO_DATA_H
#define YQ_DEMO_DATA_H

#include <stdbool.h>
#include <stdint.h>

struct demo_rng {
	uint64_t state;
};

void demo_rng_seed(struct demo_rng *r, uint64_t seed);
uint64_t demo_rng_below(struct demo_rng *r, uint64_t n); /* uniform in [0, n) */
double demo_rng_unit(struct demo_rng *r);                 /* uniform in [0, 1) */

struct demo_entity {
	char credit_code[19];
	char name[160];
	const char *kind;       /* enterprise, individual, cooperative */
	char legal_rep[32];
	char phone[16];
	char address[128];
	double lat, lon;
	char industry_division[4];
	const char *size_class;
	char registered_on[24];
	const char *status;
	char tags[160];
	bool is_key;
};

/* The n-th entity of the stream (call in order: n = 0, 1, 2, ... on one rng). */
void demo_entity(struct demo_rng *r, int64_t n, struct demo_entity *d);

#endif
