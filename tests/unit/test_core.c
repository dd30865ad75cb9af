/*
 * test_core.c — core modules on a real SQLite file: the audit hash chain
 * (append, verify, tamper and gap detection, rollback), the password policy
 * and hashing, login names, settings, and the login/lockout steps.
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
#include "core/audit.h"
#include "core/session.h"
#include "core/settings.h"
#include "core/tenant.h"
#include "core/user.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

static char dir[64], path[128];

static struct db *fresh_db(void)
{
	struct db *db = NULL;
	struct err e;
	int applied = 0;
	snprintf(dir, sizeof dir, "/tmp/yq-test-core-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/t.db", dir);
	assert_int_equal(db_open(path, DB_OPEN_CREATE, &db, &e), 0);
	assert_int_equal(migrate_up(db, &applied, &e), 0);
	assert_true(applied >= 1);
	return db;
}

static void drop_db(struct db *db)
{
	char p[160];
	db_close(db);
	static const char *const sfx[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		snprintf(p, sizeof p, "%s%s", path, sfx[i]);
		unlink(p);
	}
	rmdir(dir);
}

static int64_t make_tenant(struct db *db, const char *code)
{
	struct err e;
	struct tenant_new t = {code, "测试区", "410103", 0};
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(tenant_create(db, &t, &e), 0);
	assert_int_equal(db_commit(db, &e), 0);
	return t.id;
}

static void append_n(struct db *db, int64_t tenant, int n)
{
	struct err e;
	struct actor who = {.tenant_id = tenant, .user_id = 1};
	snprintf(who.login, sizeof who.login, "tester");
	assert_int_equal(db_begin(db, true, &e), 0);
	for (int i = 0; i < n; i++) {
		json_t *sum = json_pack("{s:i,s:s}", "i", i, "名称", "二七");
		assert_int_equal(audit_append(db, &who, tenant, "thing", i, "create", sum, &e), 0);
		json_decref(sum);
	}
	assert_int_equal(db_commit(db, &e), 0);
}

static void verify(struct db *db, int *bad, struct audit_problem *p, int64_t *rows)
{
	struct err e;
	assert_int_equal(audit_verify(db, 0, rows, bad, p, &e), 0);
}

static void test_audit_chain(void **state)
{
	(void)state;
	struct db *db = fresh_db();
	struct err e;
	int bad;
	int64_t rows;
	struct audit_problem p;
	int64_t t1 = make_tenant(db, "aa"), t2 = make_tenant(db, "bb");
	append_n(db, t1, 10);
	append_n(db, t2, 3);
	verify(db, &bad, &p, &rows);
	assert_int_equal(bad, 0);
	assert_int_equal(rows, 15); /* 13 + the two tenant creations */

	/* each tenant's chain is gapless from 1 */
	int64_t max = 0;
	assert_int_equal(db_query_i64(db, &max, &e, "SELECT MAX(seq) FROM audit_log WHERE tenant_id = $1",
				      "i", t1), 0);
	assert_int_equal(max, 11);

	/* a job rolled back takes its audit row with it; the chain stays intact */
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_exec(db, "SAVEPOINT j", &e), 0);
	assert_int_equal(audit_append(db, NULL, t1, "thing", 99, "create", NULL, &e), 0);
	assert_int_equal(db_exec(db, "ROLLBACK TO j", &e), 0);
	assert_int_equal(db_exec(db, "RELEASE j", &e), 0);
	assert_int_equal(audit_append(db, NULL, t1, "thing", 100, "create", NULL, &e), 0);
	assert_int_equal(db_commit(db, &e), 0);
	verify(db, &bad, &p, &rows);
	assert_int_equal(bad, 0);

	/* change a row: named by seq */
	assert_int_equal(db_exec(db, "UPDATE audit_log SET summary = '{\"i\":666}' WHERE tenant_id = 1 AND seq = 5", &e), 0);
	verify(db, &bad, &p, &rows);
	assert_int_equal(bad, 1);
	assert_int_equal(p.tenant_id, t1);
	assert_int_equal(p.seq, 5);
	assert_non_null(strstr(p.what, "hash mismatch"));
	drop_db(db);
}

static void test_audit_gap_and_relink(void **state)
{
	(void)state;
	struct db *db = fresh_db();
	struct err e;
	int bad;
	int64_t rows;
	struct audit_problem p;
	int64_t t = make_tenant(db, "cc");
	append_n(db, t, 8);
	/* remove a middle row: the gap is named */
	assert_int_equal(db_exec(db, "DELETE FROM audit_log WHERE seq = 4", &e), 0);
	verify(db, &bad, &p, &rows);
	assert_int_equal(bad, 1);
	assert_int_equal(p.seq, 4);
	assert_non_null(strstr(p.what, "missing"));
	/* renumbering to hide the gap breaks the prev_hash link instead */
	assert_int_equal(db_exec(db, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 4", &e), 0);
	verify(db, &bad, &p, &rows);
	assert_int_equal(bad, 1);
	assert_int_equal(p.seq, 4);
	drop_db(db);
}

static void test_password_policy(void **state)
{
	(void)state;
	static const struct { const char *pw; int code; } t[] = {
		{"Abcdef1!", 0},         {"abcdef12", ERR_UNPROCESSABLE}, /* two classes */
		{"Abc1!", ERR_UNPROCESSABLE},  /* short */
		{"ABCDEFG1", ERR_UNPROCESSABLE}, {"Abcdefgh1", 0},
		{"密码密码密码Ab1", 0},   /* other + upper + lower + digit */
		{"Wang.wei1", ERR_UNPROCESSABLE}, /* equals login, case-insensitively */
		{"\xff\xfe" "Abcdef1", ERR_BAD_REQUEST},
	};
	struct err e;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		err_clear(&e);
		assert_int_equal(password_check_policy(t[i].pw, "wang.wei1", &e), t[i].code);
		if (t[i].code)
			assert_string_equal(e.field, "password");
	}
	char otp[24];
	for (int i = 0; i < 20; i++) {
		password_generate(otp);
		assert_int_equal(password_check_policy(otp, "x", &e), 0);
	}
}

static void test_password_hash(void **state)
{
	(void)state;
	char h[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
	struct err e;
	assert_int_equal(crypto_init(), 0);
	assert_int_equal(password_hash("Yiqiban@2026", h, &e), 0);
	assert_int_equal(password_hash("Yiqiban@2026", h2, &e), 0);
	assert_non_null(strstr(h, "$argon2id$"));
	assert_string_not_equal(h, h2); /* salted */
	assert_true(password_verify(h, "Yiqiban@2026"));
	assert_false(password_verify(h, "Yiqiban@2027"));
	assert_false(password_verify("", "x"));
	assert_false(password_verify("garbage", "x"));
}

static void test_login_names(void **state)
{
	(void)state;
	static const struct { const char *login; bool ok; } t[] = {
		{"admin", true},   {"wang.wei", true}, {"a_b-c", true}, {"9lives", true},
		{"ab", false},     {"Admin", false},   {".dot", false}, {"has space", false},
		{"王伟", false},   {"abcdefghijabcdefghijabcdefghijabc", false},
	};
	struct err e;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(user_check_login(t[i].login, &e) == 0, t[i].ok);
}

static void test_settings_and_lockout(void **state)
{
	(void)state;
	struct db *db = fresh_db();
	struct err e;
	int64_t t = make_tenant(db, "dd");
	struct actor who = {.tenant_id = t, .user_id = 0};
	int64_t v;
	assert_int_equal(settings_get_int(db, t, "login.max_failures", &v, &e), 0);
	assert_int_equal(v, 5);
	assert_int_equal(settings_get_int(db, t, "nope", &v, &e), ERR_BAD_REQUEST);
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(settings_set_int(db, &who, "login.max_failures", 2, &e), 0);
	assert_int_equal(settings_set_int(db, &who, "login.max_failures", 0, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "login.max_failures");

	char h[PASSWORD_HASH_MAX];
	assert_int_equal(password_hash("Right#pass1", h, &e), 0);
	struct user_write w = {.who = &who, .tenant_id = t, .login = "li", .display_name = "李",
			       .password_hash = h, .now = 1000};
	w.login = "lina";
	assert_int_equal(user_create(db, &w, &e), 0);
	assert_int_equal(db_commit(db, &e), 0);

	/* two wrong passwords lock the account; then even the right one is refused */
	for (int i = 0; i < 3; i++) {
		struct login_attempt a = {.tenant_id = t, .login = "lina",
					  .password = i < 2 ? "wrong" : "Right#pass1",
					  .now = 2000 + i, .session_max_ms = 3600000};
		assert_int_equal(auth_login_prepare(db, &a, &e), 0);
		auth_login_verify(&a);
		assert_int_equal(db_begin(db, true, &e), 0);
		assert_int_equal(auth_login_record(db, &a, &e), 0);
		assert_int_equal(db_commit(db, &e), 0);
		if (i == 0)
			assert_string_equal(a.outcome, "bad_password");
		if (i == 1)
			assert_true(a.locked_until_after > a.now);
		if (i == 2)
			assert_string_equal(a.outcome, "locked");
	}
	int64_t n = 0;
	assert_int_equal(db_query_i64(db, &n, &e, "SELECT COUNT(*) FROM login_attempts WHERE login = 'lina'", ""), 0);
	assert_int_equal(n, 3);

	/* once the lock has run out, one more wrong password does not lock again,
	 * and the right one then works */
	int64_t until = 0;
	assert_int_equal(db_query_i64(db, &until, &e, "SELECT locked_until FROM users WHERE login = 'lina'", ""), 0);
	static const char *const seq[] = {"wrong", "Right#pass1"};
	for (int i = 0; i < 2; i++) {
		struct login_attempt a = {.tenant_id = t, .login = "lina", .password = seq[i],
					  .now = until + 1 + i, .session_max_ms = 3600000};
		assert_int_equal(auth_login_prepare(db, &a, &e), 0);
		auth_login_verify(&a);
		assert_int_equal(db_begin(db, true, &e), 0);
		assert_int_equal(auth_login_record(db, &a, &e), 0);
		assert_int_equal(db_commit(db, &e), 0);
		assert_string_equal(a.outcome, i == 0 ? "bad_password" : "ok");
		assert_int_equal(a.locked_until_after, 0);
	}
	drop_db(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit_chain),    cmocka_unit_test(test_audit_gap_and_relink),
		cmocka_unit_test(test_password_policy), cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_login_names),    cmocka_unit_test(test_settings_and_lockout),
	};
	crypto_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
