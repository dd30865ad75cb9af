/*
 * demo.h — the demo district (二七区) shared by `yiqiban demo` and
 * `yiqiban gen`: its tenant, departments, one user per role, the request
 * catalogue with its time limits, and the texts enterprises write.
 */
#ifndef YQ_DEMO_H
#define YQ_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"
#include "core/user.h"

struct db_pool;

#define DEMO_PASSWORD "Yiqiban@2026"

struct demo_base {
	int64_t tenant;
	struct actor sys;              /* acts for the setup (admin role, no user) */
	char hash[PASSWORD_HASH_MAX];  /* of DEMO_PASSWORD */
	int added_depts, added_users;
};

/* The tenant, its calendar, the departments and the users, added where missing. */
int demo_setup(struct db_pool *pool, struct demo_base *b, struct err *e);
/* Print the demo logins with their password and role. */
void demo_print_logins(void);

/* A category of enterprise matters, its usual department and what enterprises write. */
struct demo_cat {
	const char *code, *name, *parent, *dept, *type; /* type: the usual kind of request */
	int weight;                                     /* share of the requests */
	const char *ask[2];
};
const struct demo_cat *demo_categories(size_t *n);

/*
 * Desk handlers, the categories (their ids into cat_ids, their departments'
 * into dept_ids, 0 = none, both by demo_categories index), the Open311
 * services and the time limits. Once per tenant.
 */
int demo_catalog(struct db_pool *pool, const struct actor *sys, int64_t tenant, const char *hash,
		 int64_t *cat_ids, int64_t *dept_ids, struct err *e);

/* Replies of departments to enterprises. */
#define DEMO_REPLIES 5
extern const char *const demo_replies[DEMO_REPLIES];

#endif
