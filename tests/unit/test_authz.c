/*
 * test_authz.c — roles, permission scopes, the scope filters, and the route
 * matcher (path parameters, 404 vs 405).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/util.h"
#include "core/authz.h"
#include "http/http.h"
#include "base/banned.h"

static struct actor actor_with(unsigned roles)
{
	struct actor a;
	memset(&a, 0, sizeof a);
	a.tenant_id = 7;
	a.user_id = 42;
	a.department_id = 5;
	a.grid_id = 9;
	a.roles = roles;
	snprintf(a.grid_path, sizeof a.grid_path, "/1/4/9/");
	snprintf(a.dept_path, sizeof a.dept_path, "/1/5/");
	return a;
}

static void test_roles_catalogue(void **state)
{
	(void)state;
	for (int r = 0; r < ROLE__COUNT; r++) {
		const struct role_info *ri = role_info((enum role)r);
		assert_non_null(ri);
		assert_int_equal(role_from_code(ri->code), r);
		assert_true(strlen(ri->name_zh) > 0);
	}
	assert_int_equal(role_from_code("root"), -1);
	assert_int_equal(role_from_code(NULL), -1);
	assert_null(role_info(ROLE__COUNT));
}

static void test_scopes(void **state)
{
	(void)state;
	struct actor none = actor_with(0);
	none.user_id = 0;
	assert_int_equal(authz_scope(NULL, PERM_PUBLIC), SCOPE_ALL);
	assert_int_equal(authz_scope(NULL, PERM_LOGIN), SCOPE_NONE);
	assert_int_equal(authz_scope(&none, PERM_LOGIN), SCOPE_NONE);

	struct actor ent = actor_with(1u << ROLE_ENTERPRISE);
	assert_int_equal(authz_scope(&ent, PERM_LOGIN), SCOPE_SELF);
	assert_int_equal(authz_scope(&ent, PERM_USER_READ), SCOPE_NONE);
	assert_int_equal(authz_scope(&ent, PERM_AUDIT_READ), SCOPE_NONE);

	struct actor head = actor_with(1u << ROLE_DEPT_HEAD);
	assert_int_equal(authz_scope(&head, PERM_USER_READ), SCOPE_DEPT_TREE);
	assert_int_equal(authz_scope(&head, PERM_USER_WRITE), SCOPE_NONE);

	/* several roles: the widest scope wins */
	struct actor both = actor_with(1u << ROLE_HANDLER | 1u << ROLE_DISPATCHER);
	assert_int_equal(authz_scope(&both, PERM_USER_READ), SCOPE_ALL);
	struct actor admin = actor_with(1u << ROLE_ADMIN);
	/* administrators hold every permission but the ones that belong to a
	 * role's own work: an enterprise's self-service, raising, handling,
	 * approving and rating requests, recording visits (grid workers) */
	for (int p = PERM_USER_READ; p < PERM__COUNT; p++) {
		bool own_work = p == PERM_ENTERPRISE_SELF || p == PERM_REQUEST_SUBMIT ||
				p == PERM_REQUEST_HANDLE || p == PERM_REQUEST_APPROVE ||
				p == PERM_REQUEST_RATE || p == PERM_VISIT_WRITE;
		assert_int_equal(authz_scope(&admin, (enum perm)p) == SCOPE_NONE, own_work);
	}
	/* only administrators write users, departments, settings or read the audit log */
	for (int r = 0; r < ROLE__COUNT; r++) {
		if (r == ROLE_ADMIN)
			continue;
		assert_int_equal(role_scope((enum role)r, PERM_USER_WRITE), SCOPE_NONE);
		assert_int_equal(role_scope((enum role)r, PERM_DEPT_WRITE), SCOPE_NONE);
		assert_int_equal(role_scope((enum role)r, PERM_AUDIT_READ), SCOPE_NONE);
		assert_int_equal(role_scope((enum role)r, PERM_SETTINGS_WRITE), SCOPE_NONE);
	}
}

static void test_scope_sql(void **state)
{
	(void)state;
	struct actor a = actor_with(0);
	static const struct scope_cols cols = {.dept = "u.department_id", .grid = "u.grid_id", .owner = "u.id"};
	static const struct scope_cols nocols = {0};
	static const struct scope_cols entcols = {.enterprise = "e.id"};
	static const struct { enum scope s; const struct scope_cols *c; const char *want; } t[] = {
		{SCOPE_ALL, &cols, ""},
		{SCOPE_DEPT, &cols, " AND u.department_id = 5"},
		{SCOPE_DEPT_TREE, &cols, " AND u.department_id IN (SELECT id FROM departments WHERE "
					 "tenant_id = 7 AND path LIKE '/1/5/%')"},
		{SCOPE_GRID, &cols, " AND u.grid_id IN (SELECT id FROM grids WHERE tenant_id = 7 "
				    "AND path LIKE '/1/4/9/%')"},
		{SCOPE_SELF, &cols, " AND u.id = 42"},
		{SCOPE_NONE, &cols, " AND 0=1"},
		{SCOPE_DEPT, &nocols, " AND 0=1"}, /* a table without the column: deny */
		{SCOPE_SELF, &nocols, " AND 0=1"},
		{SCOPE_SELF, &entcols, " AND 0=1"}, /* not an enterprise user */
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(scope_sql(&a, t[i].s, t[i].c, &b), 0);
		assert_string_equal(b.p, t[i].want);
		buf_release(&b);
	}
	/* a grid leader: its grid and every grid below, by path */
	struct actor lead = a;
	snprintf(lead.grid_path, sizeof lead.grid_path, "/1/9/");
	struct buf gb;
	buf_init(&gb, 0);
	scope_sql(&lead, SCOPE_GRID, &cols, &gb);
	assert_string_equal(gb.p, " AND u.grid_id IN (SELECT id FROM grids WHERE tenant_id = 7 AND "
				  "path LIKE '/1/9/%')");
	buf_release(&gb);
	struct scope_row below = {.grid_id = 12, .grid_path = "/1/9/12/"},
			 beside = {.grid_id = 13, .grid_path = "/1/10/13/"};
	assert_true(scope_allows(&lead, SCOPE_GRID, &below));
	assert_false(scope_allows(&lead, SCOPE_GRID, &beside));
	assert_false(scope_allows(&a, SCOPE_GRID, &below)); /* no path: its grid alone */
	/* an enterprise user: SELF means its enterprise (or, with an owner column, either) */
	struct actor ent = actor_with(1u << ROLE_ENTERPRISE);
	ent.enterprise_id = 77;
	struct buf eb;
	buf_init(&eb, 0);
	scope_sql(&ent, SCOPE_SELF, &entcols, &eb);
	assert_string_equal(eb.p, " AND e.id = 77");
	buf_reset(&eb);
	static const struct scope_cols both = {.owner = "r.created_by", .enterprise = "r.enterprise_id"};
	scope_sql(&ent, SCOPE_SELF, &both, &eb);
	assert_string_equal(eb.p, " AND (r.created_by = 42 OR r.enterprise_id = 77)");
	buf_release(&eb);

	/* an actor without a department gets nothing under dept scopes */
	struct actor nodept = actor_with(0);
	nodept.department_id = 0;
	nodept.dept_path[0] = '\0';
	struct buf b;
	buf_init(&b, 0);
	scope_sql(&nodept, SCOPE_DEPT_TREE, &cols, &b);
	assert_string_equal(b.p, " AND 0=1");
	buf_release(&b);
}

static void test_scope_allows(void **state)
{
	(void)state;
	struct actor a = actor_with(0);
	assert_true(scope_allows(&a, SCOPE_ALL, &(struct scope_row){.dept_id = 0, .dept_path = NULL, .grid_id = 0, .owner_id = 0}));
	assert_true(scope_allows(&a, SCOPE_DEPT_TREE, &(struct scope_row){.dept_id = 12, .dept_path = "/1/5/12/", .grid_id = 0, .owner_id = 0}));
	assert_true(scope_allows(&a, SCOPE_DEPT_TREE, &(struct scope_row){.dept_id = 5, .dept_path = "/1/5/", .grid_id = 0, .owner_id = 0}));
	assert_false(scope_allows(&a, SCOPE_DEPT_TREE, &(struct scope_row){.dept_id = 51, .dept_path = "/1/51/", .grid_id = 0, .owner_id = 0}));
	assert_false(scope_allows(&a, SCOPE_DEPT_TREE, &(struct scope_row){.dept_id = 1, .dept_path = "/1/", .grid_id = 0, .owner_id = 0}));
	assert_true(scope_allows(&a, SCOPE_DEPT, &(struct scope_row){.dept_id = 5, .dept_path = "/1/5/", .grid_id = 0, .owner_id = 0}));
	assert_false(scope_allows(&a, SCOPE_DEPT, &(struct scope_row){.dept_id = 12, .dept_path = "/1/5/12/", .grid_id = 0, .owner_id = 0}));
	assert_true(scope_allows(&a, SCOPE_GRID, &(struct scope_row){.dept_id = 0, .dept_path = NULL, .grid_id = 9, .owner_id = 0}));
	assert_false(scope_allows(&a, SCOPE_GRID, &(struct scope_row){.dept_id = 0, .dept_path = NULL, .grid_id = 8, .owner_id = 0}));
	assert_true(scope_allows(&a, SCOPE_SELF, &(struct scope_row){.dept_id = 0, .dept_path = NULL, .grid_id = 0, .owner_id = 42}));
	assert_false(scope_allows(&a, SCOPE_SELF, &(struct scope_row){.dept_id = 0, .dept_path = NULL, .grid_id = 0, .owner_id = 43}));
	/* an enterprise user's own enterprise */
	struct actor ent = actor_with(1u << ROLE_ENTERPRISE);
	ent.enterprise_id = 77;
	assert_true(scope_allows(&ent, SCOPE_SELF, &(struct scope_row){.enterprise_id = 77}));
	assert_false(scope_allows(&ent, SCOPE_SELF, &(struct scope_row){.enterprise_id = 78}));
	assert_false(scope_allows(&a, SCOPE_SELF, &(struct scope_row){.enterprise_id = 77}));
	assert_false(scope_allows(&a, SCOPE_NONE, &(struct scope_row){.dept_id = 5, .dept_path = "/1/5/", .grid_id = 9, .owner_id = 42}));
}

static void test_route_match(void **state)
{
	(void)state;
	struct req r;
	memset(&r, 0, sizeof r);
	r.arena = arena_new(0);
	size_t n;
	const struct route *all = routes_all(&n);
	assert_true(n > 10);

	int i = routes_match("GET", "/api/v1/users/123", &r);
	assert_true(i >= 0);
	assert_string_equal(all[i].pattern, "/api/v1/users/{id}");
	assert_int_equal(r.nparams, 1);
	assert_string_equal(r.pname[0], "id");
	assert_string_equal(r.pval[0], "123");

	assert_true(routes_match("GET", "/api/v1/users", &r) >= 0);
	assert_int_equal(routes_match("DELETE", "/api/v1/users", &r), -2);
	assert_int_equal(routes_match("GET", "/api/v1/users/", &r), -1);
	assert_int_equal(routes_match("GET", "/api/v1/users/1/2", &r), -1);
	assert_int_equal(routes_match("GET", "/api/v1/user", &r), -1);
	assert_int_equal(routes_match("GET", "/api/v1/usersx", &r), -1);
	assert_int_equal(routes_match("GET", "", &r), -1);
	i = routes_match("POST", "/api/v1/users/9/password", &r);
	assert_true(i >= 0);
	assert_string_equal(all[i].pattern, "/api/v1/users/{id}/password");
	assert_string_equal(r.pval[0], "9");
	assert_string_equal(routes_allow("/api/v1/users", r.arena), "GET, POST");
	assert_null(routes_allow("/nothing", r.arena));

	/* every route: a non-empty summary, a known method, a pattern under / */
	for (size_t k = 0; k < n; k++) {
		assert_true(all[k].summary && *all[k].summary);
		assert_true(all[k].pattern[0] == '/');
		assert_non_null(strstr("GET POST PUT PATCH DELETE", all[k].method));
		/* no two routes with the same method and pattern */
		for (size_t j = k + 1; j < n; j++)
			assert_false(strcmp(all[k].method, all[j].method) == 0 &&
				     strcmp(all[k].pattern, all[j].pattern) == 0);
	}
	arena_free(r.arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_catalogue), cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_scope_sql),       cmocka_unit_test(test_scope_allows),
		cmocka_unit_test(test_route_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
