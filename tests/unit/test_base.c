/*
 * test_base.c — the base layer: errors, buffers, arena, UTF-8, tokens and the
 * JSON validation getters, table-driven where the cases are many.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/jsonv.h"
#include "base/jsonw.h"
#include "base/util.h"
#include "base/banned.h"

static void test_err_set_and_status(void **state)
{
	(void)state;
	struct err e;
	err_clear(&e);
	assert_int_equal(err_set(&e, ERR_UNPROCESSABLE, "login", "“%s”太短", "'%s' too short", "ab"),
			 ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "login");
	assert_string_equal(e.message, "'ab' too short");
	assert_string_equal(e.message_zh, "“ab”太短");
	static const struct { int code, status; const char *name; } t[] = {
		{ERR_BAD_REQUEST, 400, "bad_request"}, {ERR_UNAUTHENTICATED, 401, "unauthenticated"},
		{ERR_FORBIDDEN, 403, "forbidden"},     {ERR_NOT_FOUND, 404, "not_found"},
		{ERR_METHOD, 405, "method_not_allowed"}, {ERR_CONFLICT, 409, "conflict"},
		{ERR_TOO_LARGE, 413, "payload_too_large"}, {ERR_UNPROCESSABLE, 422, "unprocessable"},
		{ERR_RATE_LIMITED, 429, "rate_limited"}, {ERR_INTERNAL, 500, "internal"},
		{ERR_UNAVAILABLE, 503, "unavailable"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(err_http_status(t[i].code), t[i].status);
		assert_string_equal(err_code_name(t[i].code), t[i].name);
	}
	assert_int_equal(err_http_status(-999), 500);
}

static void test_buf_limits(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 10);
	assert_string_equal(b.p, "");
	assert_int_equal(buf_adds(&b, "12345"), 0);
	assert_int_equal(buf_addf(&b, "%d", 6789), 0);
	assert_int_equal(b.len, 9);
	assert_int_equal(buf_adds(&b, "ab"), -1); /* would exceed max: unchanged */
	assert_string_equal(b.p, "123456789");
	assert_int_equal(buf_addc(&b, 'x'), 0);
	assert_int_equal(buf_addc(&b, 'y'), -1);
	buf_release(&b);

	buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%04d", i);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.p + 3996, "0999", 4);
	size_t n;
	char *p = buf_detach(&b, &n);
	assert_int_equal(n, 4000);
	assert_int_equal(b.len, 0);
	free(p);
	buf_release(&b);
}

static void test_buf_json_escape(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	const char in[] = "a\"b\\c\n\x01中";
	buf_add_json_str(&b, in, sizeof in - 1);
	assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001中\"");
	buf_release(&b);
}

static void free_counter(void *p)
{
	(*(int *)p)++;
}

static void test_arena(void **state)
{
	(void)state;
	int freed = 0;
	struct arena *a = arena_new(64);
	char *s = arena_strdup(a, "二七区");
	assert_string_equal(s, "二七区");
	for (int i = 0; i < 100; i++) {
		void *p = arena_alloc(a, (size_t)(i * 37 + 1));
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 0xab, (size_t)(i * 37 + 1));
	}
	char *big = arena_zalloc(a, 1 << 20);
	assert_int_equal(big[12345], 0);
	assert_string_equal(arena_printf(a, "%s-%d", "x", 42), "x-42");
	arena_defer(a, free_counter, &freed);
	arena_defer(a, free_counter, &freed);
	arena_free(a);
	assert_int_equal(freed, 2);
	arena_free(NULL);
}

static void test_utf8(void **state)
{
	(void)state;
	static const struct { const char *s; size_t n; bool ok; } t[] = {
		{"hello", 5, true},
		{"二七帮·易企办", 0, true},
		{"\xf0\x9f\x98\x80", 4, true},      /* U+1F600 */
		{"\xff", 1, false},
		{"\xc0\xaf", 2, false},              /* overlong '/' */
		{"\xe0\x80\xaf", 3, false},          /* overlong */
		{"\xed\xa0\x80", 3, false},          /* surrogate */
		{"\xf4\x90\x80\x80", 4, false},      /* > U+10FFFF */
		{"\xe4\xb8", 2, false},              /* truncated */
		{"a\xe4\xb8" "b", 4, false},
		{"\x80", 1, false},                  /* lone continuation */
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		size_t n = t[i].n ? t[i].n : strlen(t[i].s);
		assert_int_equal(utf8_valid(t[i].s, n), t[i].ok);
	}
	assert_int_equal(utf8_len("二七区ab", strlen("二七区ab")), 5);
}

/* jsonw_value writes what json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(p)) writes. */
static void same_as_jansson(json_t *j, int precision)
{
	struct buf b;
	char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(precision));
	buf_init(&b, 0);
	assert_non_null(want);
	assert_int_equal(jsonw_value(&b, j, precision), 0);
	assert_string_equal(b.p, want);
	free(want);
	buf_release(&b);
	json_decref(j);
}

static void test_jsonw(void **state)
{
	(void)state;
	static const double reals[] = {0.0, -0.0, 1.0, -2.5, 0.1, 1.0 / 3.0, 1e20, 1e-7,
				       123456789012345.0, 34.7568, 113.6253, 99.99};
	for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
		same_as_jansson(json_real(reals[i]), 12);
		same_as_jansson(json_real(reals[i]), 17);
	}
	/* reals are written without printf where that is exact: many of them, as jansson does */
	uint64_t seed = 88172645463325252ULL;
	for (int i = 0; i < 60000; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17; /* xorshift64 */
		double v;
		switch (i % 6) {
		case 0: /* a coordinate as typed: up to 8 decimals */
			v = (double)(int64_t)(seed % 36000000000ULL) / 1e8 - 180;
			break;
		case 1: /* a few decimals */
			v = (double)(int64_t)(seed % 2000000) / (double)(1 + (seed >> 40) % 1000) - 1000;
			break;
		case 2: { /* any double of a wide range of magnitudes */
			double m = (double)(seed >> 11) / 9007199254740992.0;
			v = m * pow(10, (double)((int)((seed >> 3) % 24) - 8));
			break;
		}
		case 3: /* ties and near ties at the 12th digit */
			v = ((double)(seed % 1000000000000ULL) + 0.5) / 1e6;
			break;
		case 4: /* near powers of ten */
			v = pow(10, (double)((int)(seed % 20) - 6)) * (1 - 1e-13 * (double)(seed >> 60));
			break;
		default: /* whole numbers */
			v = (double)(int64_t)(seed % 2000000000000ULL) - 1e12;
		}
		same_as_jansson(json_real(v), 12);
		same_as_jansson(json_real(v), 6);
	}
	static const json_int_t ints[] = {0, 1, -1, 42, 1700000000000LL, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		same_as_jansson(json_integer(ints[i]), 12);
	same_as_jansson(json_string("诉求 \"quoted\" back\\slash /slash\n\r\t\b\f\x01\x1f\x7f é"), 12);
	same_as_jansson(json_stringn("a\0b", 3), 12);
	/* every byte that needs escaping, at every place of a word (the scan reads 8 at a time) */
	static const char special[] = {'"', '\\', '\n', '\x01', '\x1f', '\0', '\x7f', ' '};
	for (size_t k = 0; k < sizeof special; k++)
		for (size_t at = 0; at < 26; at++) {
			char t[40] = "abcdefghijklmnopqrstuvwxyz\xe4\xba\x8c" "0123";
			t[at] = special[k];
			same_as_jansson(json_stringn(t, 29 + (at & 3)), 12);
		}
	same_as_jansson(json_string(""), 12);
	same_as_jansson(json_pack("{s:[i,s,b,b,n,f],s:{},s:[],s:{s:{s:s}},s:o}", "list", 1, "二",
				  1, 0, 0.5, "empty", "none", "deep", "a", "b", "c", "null",
				  json_null()),
			12);
	/* keys in insertion order, escaped like strings */
	json_t *o = json_object();
	json_object_set_new(o, "zeta", json_integer(1));
	json_object_set_new(o, "alpha\"q", json_integer(2));
	json_object_set_new(o, "中文", json_string("值"));
	same_as_jansson(o, 12);
	/* a full buffer fails */
	struct buf b;
	buf_init(&b, 8);
	json_t *big = json_pack("{s:s}", "key", "a value longer than eight bytes");
	assert_int_equal(jsonw_value(&b, big, 12), -1);
	json_decref(big);
	buf_release(&b);
}

/* The streaming writer writes what jansson writes for the same document. */
static void test_jsonw_stream(void **state)
{
	(void)state;
	struct buf b;
	struct jsonw w;
	buf_init(&b, 0);
	jsonw_init(&w, &b, 12);
	jsonw_object(&w);
	jsonw_kint(&w, "id", 42);
	jsonw_kstr(&w, "title", "诉求 \"q\"\n");
	jsonw_knull(&w, "none");
	jsonw_kbool(&w, "yes", true);
	jsonw_kbool(&w, "no", false);
	jsonw_key(&w, "lat");
	jsonw_real(&w, 34.7568);
	jsonw_key(&w, "whole");
	jsonw_real(&w, 3);
	jsonw_key(&w, "empty");
	jsonw_object(&w);
	jsonw_end(&w);
	jsonw_key(&w, "list");
	jsonw_array(&w);
	jsonw_int(&w, INT64_MIN);
	jsonw_str(&w, "");
	jsonw_array(&w);
	jsonw_end(&w);
	jsonw_object(&w);
	jsonw_kint(&w, "a", 1);
	jsonw_kint(&w, "b", -1);
	jsonw_end(&w);
	jsonw_null(&w);
	jsonw_end(&w);
	jsonw_key(&w, "tree");
	json_t *tree = json_pack("{s:[i,s]}", "x", 1, "y");
	jsonw_json(&w, tree);
	jsonw_end(&w);
	assert_int_equal(jsonw_finish(&w), 0);
	json_t *want_j = json_pack("{s:i,s:s,s:n,s:b,s:b,s:f,s:f,s:{},s:[I,s,[],{s:i,s:i},n],s:O}",
				   "id", 42, "title", "诉求 \"q\"\n", "none", "yes", 1, "no", 0,
				   "lat", 34.7568, "whole", 3.0, "empty", "list",
				   (json_int_t)INT64_MIN, "", "a", 1, "b", -1, "tree", tree);
	char *want = json_dumps(want_j, JSON_COMPACT | JSON_REAL_PRECISION(12));
	assert_string_equal(b.p, want);
	free(want);
	json_decref(want_j);
	json_decref(tree);

	/* misuse and a full buffer are reported by jsonw_finish */
	buf_reset(&b);
	jsonw_init(&w, &b, 12);
	jsonw_object(&w);
	assert_int_equal(jsonw_finish(&w), -1); /* not closed */
	jsonw_int(&w, 1);                       /* a value without its key */
	jsonw_end(&w);
	assert_int_equal(jsonw_finish(&w), -1);
	jsonw_init(&w, &b, 12);
	jsonw_array(&w);
	jsonw_key(&w, "k"); /* a key in an array */
	jsonw_end(&w);
	assert_int_equal(jsonw_finish(&w), -1);
	jsonw_init(&w, &b, 12);
	jsonw_end(&w); /* nothing open */
	assert_int_equal(jsonw_finish(&w), -1);
	buf_release(&b);
	buf_init(&b, 8);
	jsonw_init(&w, &b, 12);
	jsonw_str(&w, "longer than eight bytes");
	assert_int_equal(jsonw_finish(&w), -1);
	buf_release(&b);
}

static void test_tokens_and_hash(void **state)
{
	(void)state;
	char a[64], b[64], h[65];
	assert_int_equal(crypto_init(), 0);
	random_token(a, sizeof a, 32);
	random_token(b, sizeof b, 32);
	assert_int_equal(strlen(a), 43);
	assert_string_not_equal(a, b);
	for (const char *p = a; *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	sha256_hex("abc", 3, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(str_eq_ct("abc", "abc"));
	assert_false(str_eq_ct("abc", "abd"));
	assert_false(str_eq_ct("abc", "abcd"));
	int64_t v;
	assert_true(parse_i64("-42", &v) && v == -42);
	assert_false(parse_i64("42x", &v));
	assert_false(parse_i64("", &v));
	assert_false(parse_i64(" 1", &v));
	assert_false(parse_i64("99999999999999999999", &v));
}

static void test_jsonv(void **state)
{
	(void)state;
	struct err e;
	const char *s = NULL;
	int64_t n = 0;
	bool b = false;
	json_t *arr = NULL;

	err_clear(&e);
	assert_null(jsonv_parse_object("", 0, &e));
	assert_string_equal(e.field, "body");
	assert_null(jsonv_parse_object("[1]", 3, &e));
	assert_int_equal(e.code, ERR_BAD_REQUEST);
	assert_null(jsonv_parse_object("{\"a\":1,\"a\":2}", 13, &e));
	assert_null(jsonv_parse_object("{\"a\":\"\xff\"}", 9, &e));
	assert_null(jsonv_parse_object("{\"a\":\"\\u0000\"}", 14, &e));
	assert_null(jsonv_parse_object("{\"a\":1} x", 9, &e));

	const char *doc = "{\"name\":\"二七区\",\"n\":7,\"flag\":true,\"tags\":[\"a\",\"b\"],"
			  "\"blank\":\"  \",\"nul\":null}";
	json_t *o = jsonv_parse_object(doc, strlen(doc), &e);
	assert_non_null(o);
	static const char *const ok_keys[] = {"name", "n", "flag", "tags", "blank", "nul", NULL};
	static const char *const few_keys[] = {"name", NULL};
	assert_int_equal(jsonv_only(o, ok_keys, &e), 0);
	assert_int_equal(jsonv_only(o, few_keys, &e), ERR_BAD_REQUEST);

	assert_int_equal(jsonv_str(o, "name", true, 3, &s, &e), 0);
	assert_string_equal(s, "二七区");
	assert_int_equal(jsonv_str(o, "name", true, 2, &s, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "name");
	assert_int_equal(jsonv_str(o, "n", true, 0, &s, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "n");
	assert_int_equal(jsonv_str(o, "missing", true, 0, &s, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "missing");
	s = "unchanged";
	assert_int_equal(jsonv_str(o, "nul", false, 0, &s, &e), 0);
	assert_string_equal(s, "unchanged");
	assert_int_equal(jsonv_text(o, "blank", true, 10, &s, &e), ERR_UNPROCESSABLE);

	assert_int_equal(jsonv_int(o, "n", true, 1, 10, &n, &e), 0);
	assert_int_equal(n, 7);
	assert_int_equal(jsonv_int(o, "n", true, 8, 10, &n, &e), ERR_UNPROCESSABLE);
	assert_int_equal(jsonv_int(o, "name", true, 0, 1, &n, &e), ERR_BAD_REQUEST);
	assert_int_equal(jsonv_bool(o, "flag", true, &b, &e), 0);
	assert_true(b);
	assert_int_equal(jsonv_bool(o, "n", true, &b, &e), ERR_BAD_REQUEST);
	assert_int_equal(jsonv_str_array(o, "tags", true, 5, &arr, &e), 0);
	assert_int_equal(json_array_size(arr), 2);
	assert_int_equal(jsonv_str_array(o, "tags", true, 1, &arr, &e), ERR_UNPROCESSABLE);
	assert_true(jsonv_has(o, "n"));
	assert_false(jsonv_has(o, "nul"));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_and_status), cmocka_unit_test(test_buf_limits),
		cmocka_unit_test(test_buf_json_escape),    cmocka_unit_test(test_arena),
		cmocka_unit_test(test_utf8),               cmocka_unit_test(test_tokens_and_hash),
		cmocka_unit_test(test_jsonv),              cmocka_unit_test(test_jsonw),
		cmocka_unit_test(test_jsonw_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
