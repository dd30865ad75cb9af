/*
 * test_enterprise.c — the registry core on a real SQLite file: validation
 * table, tag normalisation, versioned updates, upsert outcomes, list cursors
 * in every sort order (no row lost or repeated across pages), and the
 * generated demo market (valid codes, deterministic).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/demo_data.h"
#include "core/creditcode.h"
#include "core/enterprise.h"
#include "core/tenant.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

static char dir[64], path[128];
static struct db *db;
static int64_t tenant;
static struct actor who;

static int setup(void **state)
{
	struct err e;
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/yq-test-ent-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	if (db_open(path, DB_OPEN_CREATE, &db, &e) || migrate_up(db, NULL, &e))
		return -1;
	struct tenant_new t = {"tt", "测试区", "410103", 0};
	if (db_begin(db, true, &e) || tenant_create(db, &t, &e) || db_commit(db, &e))
		return -1;
	tenant = t.id;
	memset(&who, 0, sizeof who);
	who.tenant_id = tenant;
	who.user_id = 1;
	who.roles = 1u << ROLE_ADMIN;
	snprintf(who.login, sizeof who.login, "tester");
	return 0;
}

static int teardown(void **state)
{
	char p[160];
	(void)state;
	db_close(db);
	static const char *const sfx[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		snprintf(p, sizeof p, "%s%s", path, sfx[i]);
		unlink(p);
	}
	return rmdir(dir);
}

static int run_write(int (*fn)(struct db *, void *, struct err *), struct enterprise_write *w,
		 struct err *e)
{
	w->who = &who;
	w->tenant_id = tenant;
	w->now = 1000;
	int rc = db_begin(db, true, e);
	if (rc)
		return rc;
	rc = fn(db, w, e);
	if (rc) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db, e);
}

static void test_validation_table(void **state)
{
	(void)state;
	static const struct {
		struct enterprise_input in;
		int code;
		const char *field;
	} t[] = {
		{{.credit_code = "91440101MA5CJQ4N59", .name = "好公司"}, 0, ""},
		{{.name = "无代码"}, ERR_BAD_REQUEST, "credit_code"},
		{{.credit_code = "91440101MA5CJQ4N59"}, ERR_BAD_REQUEST, "name"},
		{{.credit_code = "91440101MA5CJQ4N58", .name = "x"}, ERR_UNPROCESSABLE, "credit_code"},
		{{.credit_code = "91440101MA5CJQ4N58", .name = "x", .override_check = true}, 0, ""},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .industry_division = "13",
		  .industry_section = "F"}, ERR_UNPROCESSABLE, "industry_division"},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .industry_division = "13"}, 0, ""},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .registered_on = "2024-02-29"}, 0, ""},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .registered_on = "2100-02-29"},
		 ERR_UNPROCESSABLE, "registered_on"},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .phone = "+86 371-6666-8888"}, 0, ""},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .phone = "12"}, ERR_UNPROCESSABLE, "phone"},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "a\nb"}, ERR_UNPROCESSABLE, "name"},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .tags = "a,b,c,d,e,f,g,h,i,j,k"},
		 ERR_UNPROCESSABLE, "tags"},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .tags = "a,a,a,a,a,a,a,a,a,a,b"}, 0, ""},
		{{.credit_code = "91440101MA5CJQ4N59", .name = "x", .set_location = true, .lat = 34.7,
		  .lon = 181}, ERR_UNPROCESSABLE, "lon"},
	};
	struct err e;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		err_clear(&e);
		assert_int_equal(enterprise_validate(&t[i].in, true, &e), t[i].code);
		assert_string_equal(e.field, t[i].field);
	}
}

static void test_versions_and_upsert(void **state)
{
	(void)state;
	struct err e;
	struct enterprise en;
	struct enterprise_write w = {.in = {.credit_code = "91430111MA4L41YT1U", .name = "长沙公司",
					    .tags = " 外贸 ，商贸;外贸 ", .industry_division = "51"}};
	assert_int_equal(run_write(enterprise_create, &w, &e), 0);
	assert_int_equal(enterprise_get(db, tenant, w.id, &en, &e), 0);
	assert_string_equal(en.tags, "外贸,商贸");
	assert_string_equal(en.industry_section, "F");
	assert_int_equal(en.version, 1);

	/* upsert with the same data: unchanged, no new version */
	struct enterprise_write u = {.in = {.credit_code = "91430111ma4l41yt1u", .name = "长沙公司"}};
	assert_int_equal(run_write(enterprise_upsert, &u, &e), 0);
	assert_int_equal(u.outcome, ENTERPRISE_UNCHANGED);
	assert_int_equal(u.id, w.id);
	/* with a change: updated, version 2 */
	u.in.size_class = "small";
	assert_int_equal(run_write(enterprise_upsert, &u, &e), 0);
	assert_int_equal(u.outcome, ENTERPRISE_UPDATED);
	assert_int_equal(enterprise_get(db, tenant, w.id, &en, &e), 0);
	assert_int_equal(en.version, 2);
	int64_t versions = 0;
	assert_int_equal(db_query_i64(db, &versions, &e,
				      "SELECT COUNT(*) FROM enterprise_versions WHERE enterprise_id = $1",
				      "i", w.id), 0);
	assert_int_equal(versions, 2);
	/* a new code: created */
	struct enterprise_write n = {.in = {.credit_code = "913502000728319549", .name = "厦门公司"}};
	assert_int_equal(run_write(enterprise_upsert, &n, &e), 0);
	assert_int_equal(n.outcome, ENTERPRISE_CREATED);
	/* contact-only updates refuse other fields */
	struct enterprise_write c = {.id = w.id, .contact_only = true, .in = {.name = "改名"}};
	assert_int_equal(run_write(enterprise_update, &c, &e), ERR_FORBIDDEN);
	c.in.name = NULL;
	c.in.phone = "0731-88886666";
	assert_int_equal(run_write(enterprise_update, &c, &e), 0);
	/* the section must agree with the division after a partial update */
	struct enterprise_write s = {.id = w.id, .in = {.industry_section = "C"}};
	assert_int_equal(run_write(enterprise_update, &s, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "industry_division");
}

struct collect {
	int64_t ids[512];
	int n;
	struct enterprise last;
};

static int collect(const struct enterprise *en, void *p)
{
	struct collect *c = p;
	c->ids[c->n++] = en->id;
	c->last = *en;
	return 0;
}

static void test_cursors_every_sort(void **state)
{
	(void)state;
	struct err e;
	struct demo_rng rng;
	demo_rng_seed(&rng, 42);
	/* a batch of generated entities with colliding names and dates */
	assert_int_equal(db_begin(db, true, &e), 0);
	for (int i = 0; i < 120; i++) {
		struct demo_entity d;
		demo_entity(&rng, i, &d);
		struct enterprise_write w = {.who = &who, .tenant_id = tenant, .now = 1,
					     .in = {.credit_code = d.credit_code,
						    .name = i % 3 ? d.name : "同名公司",
						    .registered_on = i % 4 ? d.registered_on : "2020-01-01"}};
		int rc = enterprise_create(db, &w, &e);
		assert_true(rc == 0 || rc == ERR_CONFLICT);
	}
	assert_int_equal(db_commit(db, &e), 0);
	int64_t total = 0;
	struct enterprise_filter all = {.is_key = -1, .limit = 1000};
	assert_int_equal(enterprise_count(db, &who, SCOPE_ALL, &all, &total, &e), 0);
	for (int sort = 0; sort < 3; sort++) {
		struct collect acc = {.n = 0};
		char cursor[ENTERPRISE_CURSOR_MAX] = "";
		for (int page = 0; page < 100; page++) {
			struct collect c = {.n = 0};
			struct enterprise_filter f = {.is_key = -1, .limit = 7, .sort = (enum enterprise_sort)sort,
						      .after = page ? cursor : NULL};
			assert_int_equal(enterprise_list(db, &who, SCOPE_ALL, &f, collect, &c, &e), 0);
			memcpy(acc.ids + acc.n, c.ids, (size_t)c.n * sizeof c.ids[0]);
			acc.n += c.n;
			if (c.n < 7)
				break;
			enterprise_cursor(&c.last, (enum enterprise_sort)sort, cursor);
		}
		assert_int_equal(acc.n, total);
		for (int i = 0; i < acc.n; i++)
			for (int j = i + 1; j < acc.n; j++)
				assert_true(acc.ids[i] != acc.ids[j]);
	}
	struct enterprise_filter bad = {.is_key = -1, .limit = 7, .sort = ENTERPRISE_SORT_NAME,
					.after = "i.5"};
	struct collect c = {.n = 0};
	assert_int_equal(enterprise_list(db, &who, SCOPE_ALL, &bad, collect, &c, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "after");
}

static void test_demo_market(void **state)
{
	(void)state;
	struct demo_rng a, b;
	demo_rng_seed(&a, 7);
	demo_rng_seed(&b, 7);
	int individuals = 0, keys = 0;
	for (int i = 0; i < 2000; i++) {
		struct demo_entity x, y;
		demo_entity(&a, i, &x);
		demo_entity(&b, i, &y);
		assert_string_equal(x.credit_code, y.credit_code); /* deterministic */
		assert_string_equal(x.name, y.name);
		struct credit_result cr;
		credit_code_check(x.credit_code, &cr);
		assert_int_equal(cr.status, CREDIT_OK);
		assert_string_equal(cr.entity_type, x.kind);
		assert_true(x.lat > 34.59 && x.lat < 34.77 && x.lon > 113.49 && x.lon < 113.69);
		struct enterprise_input in = {.credit_code = x.credit_code, .name = x.name,
					      .kind = x.kind, .phone = x.phone, .address = x.address,
					      .industry_division = x.industry_division,
					      .size_class = x.size_class, .registered_on = x.registered_on,
					      .status = x.status, .tags = x.tags};
		struct err e;
		assert_int_equal(enterprise_validate(&in, true, &e), 0);
		individuals += strcmp(x.kind, "individual") == 0;
		keys += x.is_key;
	}
	assert_true(individuals > 600 && individuals < 1200); /* individual businesses are many */
	assert_true(keys > 20 && keys < 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation_table), cmocka_unit_test(test_versions_and_upsert),
		cmocka_unit_test(test_cursors_every_sort), cmocka_unit_test(test_demo_market),
	};
	crypto_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
