/*
 * test_creditcode.c — GB 32100 credit codes: the reference examples, every
 * single-character mutation of them, and the error classes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/util.h"
#include "core/creditcode.h"
#include "base/banned.h"

static const char *const valid[] = {
	"91350200776049653A", "91440101MA5CJQ4N59", "913502000728319549",
	"91430111MA4L41YT1U", "53640000MJX1736997",
};

static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

static void test_reference_examples(void **state)
{
	(void)state;
	struct credit_result r;
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		credit_code_check(valid[i], &r);
		assert_int_equal(r.status, CREDIT_OK);
		assert_string_equal(r.normalized, valid[i]);
		assert_int_equal(credit_code_check_char(valid[i]), valid[i][17]);
	}
	credit_code_check("91440101MA5CJQ4N59", &r);
	assert_string_equal(r.entity_type, "enterprise");
	credit_code_check(" 91430111ma4l41yt1u ", &r); /* case and spaces */
	assert_int_equal(r.status, CREDIT_OK);
	assert_string_equal(r.normalized, "91430111MA4L41YT1U");
	credit_code_check("53640000MJX1736997", &r);
	assert_string_equal(r.entity_type, "");
}

static void test_pilot_code_fails_check(void **state)
{
	(void)state;
	struct credit_result r;
	struct err e;
	bool warn;
	credit_code_check("91350100M0001TGQXM", &r);
	assert_true(r.status == CREDIT_BAD_CHECK_CHAR || r.status == CREDIT_BAD_ORG_CHECK);
	assert_int_equal(credit_code_validate("91350100M0001TGQXM", false, "credit_code", &r, &warn, &e),
			 ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "credit_code");
	assert_false(warn);
	assert_int_equal(credit_code_validate("91350100M0001TGQXM", true, "credit_code", &r, &warn, &e), 0);
	assert_true(warn);
}

/* Every substitution of one character by another of the alphabet is caught
 * (as a check failure), never accepted. */
static void test_single_mutations(void **state)
{
	(void)state;
	struct credit_result r;
	int caught = 0;
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++)
		for (int pos = 0; pos < 18; pos++)
			for (const char *a = alphabet; *a; a++) {
				char m[19];
				memcpy(m, valid[i], 19);
				if (m[pos] == *a)
					continue;
				m[pos] = *a;
				credit_code_check(m, &r);
				assert_true(r.status == CREDIT_BAD_CHECK_CHAR ||
					    r.status == CREDIT_BAD_ORG_CHECK);
				caught++;
			}
	assert_int_equal(caught, 5 * 18 * 30);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct { const char *code; enum credit_check st; int pos; } t[] = {
		{"", CREDIT_BAD_LENGTH, 0},
		{"91350200776049653", CREDIT_BAD_LENGTH, 0},
		{"91350200776049653AB", CREDIT_BAD_LENGTH, 0},
		{"9135020077604965IA", CREDIT_BAD_CHAR, 17},
		{"O1350200776049653A", CREDIT_BAD_CHAR, 1},
		{"91350200776049653S", CREDIT_BAD_CHAR, 18},
		{"91350200776049653V", CREDIT_BAD_CHAR, 18},
		{"9135020077604965-A", CREDIT_BAD_CHAR, 17},
		{"91350200776049653B", CREDIT_BAD_CHECK_CHAR, 18},
		{"二七区二七区", CREDIT_BAD_LENGTH, 0}, /* 18 bytes, 6 characters */
	};
	struct credit_result r;
	struct err e;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		credit_code_check(t[i].code, &r);
		assert_int_equal(r.status, t[i].st);
		assert_int_equal(r.position, t[i].pos);
		err_clear(&e);
		assert_int_equal(credit_code_validate(t[i].code, true, "code", &r, NULL, &e),
				 t[i].st == CREDIT_BAD_LENGTH || t[i].st == CREDIT_BAD_CHAR
					 ? ERR_UNPROCESSABLE : 0);
	}
	credit_code_check("91350200776049653B", &r);
	assert_int_equal(r.expected, 'A');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_examples), cmocka_unit_test(test_pilot_code_fails_check),
		cmocka_unit_test(test_single_mutations), cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
