/*
 * test_open311.c — the Open311 protocol helpers: the strict form parser
 * (percent-decoding, '+', empty pairs, invalid UTF-8, %00, control
 * characters, key and pair limits), forms from JSON, XML escaping, the
 * writer's two formats of one document, times, the query window rules and
 * the field checks of a submission (core/open311.c's statics).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsonv.h"
#include "core/open311.h"
/* the statics: number, e-mail, URL and attribute-key checks */
#include "core/open311.c"
#include "base/banned.h"

/* The form as "k=v|k=v" (values' line breaks shown as \n). */
static void form_text(const struct open311_form *f, struct buf *b)
{
	buf_reset(b);
	for (size_t i = 0; i < f->n; i++) {
		if (i)
			buf_addc(b, '|');
		buf_adds(b, f->v[i].key);
		buf_addc(b, '=');
		for (const char *p = f->v[i].val; *p; p++) {
			if (*p == '\n')
				buf_adds(b, "\\n");
			else if (*p == '\r')
				buf_adds(b, "\\r");
			else if (*p == '\t')
				buf_adds(b, "\\t");
			else
				buf_addc(b, *p);
		}
	}
}

static const struct {
	const char *body;
	const char *want;  /* pairs, or NULL when the parse must fail */
	const char *field; /* the field named by the failure */
} form_cases[] = {
	{"a=1&b=2", "a=1|b=2", NULL},
	{"", "", NULL},
	{"&&a=1&&&", "a=1", NULL},
	{"a=hello+world", "a=hello world", NULL},
	{"a=%2B%20+", "a=+  ", NULL},
	{"a=%25", "a=%", NULL},
	{"a=1=2", "a=1=2", NULL},
	{"flag", "flag=", NULL},
	{"a=", "a=", NULL},
	{"a=%E4%BA%8C%E4%B8%83%E5%8C%BA", "a=二七区", NULL},
	{"a=%e4%ba%8c", "a=二", NULL},
	{"a=二七", "a=二七", NULL},
	{"attribute%5Bcolor%5D=red&attribute%5Bm%5D%5B%5D=x", "attribute[color]=red|attribute[m][]=x",
	 NULL},
	{"attribute[m][]=x&attribute[m][]=y", "attribute[m][]=x|attribute[m][]=y", NULL},
	{"d=line1%0Aline2%0D%0A%09end", "d=line1\\nline2\\r\\n\\tend", NULL},
	{"a=%F0%9F%98%80", "a=\xF0\x9F\x98\x80", NULL},
	/* broken escapes */
	{"a=%", NULL, "a"},
	{"a=%4", NULL, "a"},
	{"a=%zz", NULL, "a"},
	{"a=%4g&b=1", NULL, "a"},
	{"b=1&a=x%", NULL, "a"},
	/* NUL */
	{"a=%00", NULL, "a"},
	{"a=x%00y", NULL, "a"},
	{"%00=1", NULL, "body"},
	/* invalid UTF-8: overlong, surrogate, stray bytes, truncated, beyond U+10FFFF */
	{"a=%C0%AF", NULL, "a"},
	{"a=%E0%80%AF", NULL, "a"},
	{"a=%ED%A0%80", NULL, "a"},
	{"a=%FF", NULL, "a"},
	{"a=%80", NULL, "a"},
	{"a=%E4%BA", NULL, "a"},
	{"a=%F4%90%80%80", NULL, "a"},
	{"a=\xff", NULL, "a"},
	{"%C0%AF=1", NULL, "body"},
	/* control characters: none in keys, only tab and line breaks in values */
	{"a=%01", NULL, "a"},
	{"a=%7F", NULL, "a"},
	{"a=%1B[31m", NULL, "a"},
	{"a%0A=1", NULL, "body"},
	{"a%09=1", NULL, "body"},
	/* names */
	{"=1", NULL, "body"},
	{"%20=1", " =1", NULL},
};

static void test_form_cases(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < ARRAY_SIZE(form_cases); i++) {
		struct open311_form f = {0};
		struct err e;
		err_clear(&e);
		int rc = open311_form_parse(&f, form_cases[i].body, strlen(form_cases[i].body), &e);
		form_text(&f, &b);
		if (form_cases[i].want) {
			if (rc)
				fail_msg("case %zu '%s': %s", i, form_cases[i].body, e.message);
			if (strcmp(b.p, form_cases[i].want))
				fail_msg("case %zu '%s': got '%s', want '%s'", i, form_cases[i].body,
					 b.p, form_cases[i].want);
		} else {
			if (rc != ERR_BAD_REQUEST)
				fail_msg("case %zu '%s' should fail, got '%s'", i, form_cases[i].body, b.p);
			if (strcmp(e.field, form_cases[i].field))
				fail_msg("case %zu '%s': field '%s', want '%s'", i, form_cases[i].body,
					 e.field, form_cases[i].field);
			assert_true(e.message[0] && e.message_zh[0]);
		}
		open311_form_release(&f);
	}
	buf_release(&b);
}

static void test_form_limits(void **state)
{
	(void)state;
	struct buf body;
	struct open311_form f = {0};
	struct err e;
	char key[200];

	/* a key of exactly 64 bytes passes, 65 fails, and a huge raw key fails early */
	memset(key, 'k', 64);
	key[64] = '\0';
	buf_init(&body, 0);
	buf_addf(&body, "%s=1", key);
	err_clear(&e);
	assert_int_equal(open311_form_parse(&f, body.p, body.len, &e), 0);
	assert_int_equal(f.n, 1);
	open311_form_release(&f);
	buf_reset(&body);
	buf_addf(&body, "%sk=1", key);
	assert_int_equal(open311_form_parse(&f, body.p, body.len, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "body");
	assert_non_null(strstr(e.message, "64"));
	open311_form_release(&f);
	/* percent-encoded bytes count decoded: 64 x "%41" is a 64-byte key */
	buf_reset(&body);
	for (int i = 0; i < 64; i++)
		buf_adds(&body, "%41");
	buf_adds(&body, "=1");
	assert_int_equal(open311_form_parse(&f, body.p, body.len, &e), 0);
	assert_int_equal(strlen(f.v[0].key), 64);
	open311_form_release(&f);
	buf_reset(&body);
	for (int i = 0; i < 5000; i++)
		buf_addc(&body, 'x');
	assert_int_equal(open311_form_parse(&f, body.p, body.len, &e), ERR_BAD_REQUEST);
	open311_form_release(&f);

	/* 200 pairs pass, 201 fail */
	buf_reset(&body);
	for (int i = 0; i < OPEN311_FORM_MAX_PAIRS; i++)
		buf_addf(&body, "%sk%d=%d", i ? "&" : "", i, i);
	assert_int_equal(open311_form_parse(&f, body.p, body.len, &e), 0);
	assert_int_equal(f.n, OPEN311_FORM_MAX_PAIRS);
	assert_string_equal(open311_form_get(&f, "k199"), "199");
	assert_null(open311_form_get(&f, "k200"));
	open311_form_release(&f);
	buf_adds(&body, "&one=more");
	assert_int_equal(open311_form_parse(&f, body.p, body.len, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "body");
	open311_form_release(&f);

	/* the body need not be NUL-terminated: the length rules */
	const char raw[] = "a=1&b=2XXXX";
	assert_int_equal(open311_form_parse(&f, raw, 7, &e), 0);
	assert_string_equal(open311_form_get(&f, "b"), "2");
	open311_form_release(&f);
	/* a literal NUL byte inside the body is refused like %00 */
	const char nul[] = "a=1\0x&b=2";
	assert_int_equal(open311_form_parse(&f, nul, sizeof nul - 1, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "a");
	open311_form_release(&f);
	open311_form_release(NULL);
	buf_release(&body);
}

static void test_form_from_json(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		const char *want;
		const char *field;
	} cases[] = {
		{"{\"service_code\":\"P1\",\"lat\":34.75,\"long\":113.625,\"n\":null,\"k\":7}",
		 "service_code=P1|lat=34.75|long=113.625|k=7", NULL},
		{"{\"attribute\":{\"a\":\"1\",\"m\":[\"x\",\"y\"],\"z\":null,\"n\":2.5}}",
		 "attribute[a]=1|attribute[m][]=x|attribute[m][]=y|attribute[n]=2.5", NULL},
		{"{\"description\":\"二七\\n区\"}", "description=二七\\n区", NULL},
		{"{\"lat\":0.1}", "lat=0.1", NULL},
		{"{\"x\":true}", NULL, "x"},
		{"{\"x\":{\"y\":1}}", NULL, "x"},
		{"{\"x\":[1]}", NULL, "x"},
		{"{\"attribute\":{\"m\":[{\"a\":1}]}}", NULL, "attribute[m][]"},
		{"{\"attribute\":{\"m\":[true]}}", NULL, "attribute[m][]"},
		{"{\"x\":\"a\\u0001b\"}", NULL, "x"},
		{"{\"\":\"1\"}", NULL, "body"},
		{"{\"a\\nb\":\"1\"}", NULL, "body"},
	};
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct open311_form f = {0};
		struct err e;
		err_clear(&e);
		json_t *j = jsonv_parse_object(cases[i].json, strlen(cases[i].json), &e);
		if (!j)
			fail_msg("case %zu: bad test JSON: %s", i, e.message);
		int rc = open311_form_from_json(&f, j, &e);
		form_text(&f, &b);
		if (cases[i].want) {
			if (rc || strcmp(b.p, cases[i].want))
				fail_msg("case %zu: got '%s' (%s), want '%s'", i, b.p, e.message,
					 cases[i].want);
		} else {
			if (rc != ERR_BAD_REQUEST || strcmp(e.field, cases[i].field))
				fail_msg("case %zu: rc %d field '%s', want field '%s'", i, rc, e.field,
					 cases[i].field);
		}
		json_decref(j);
		open311_form_release(&f);
	}
	buf_release(&b);
}

static void test_xml_escape(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t n; /* 0 = strlen */
		const char *want;
	} cases[] = {
		{"plain", 0, "plain"},
		{"a&b", 0, "a&amp;b"},
		{"<x y='1'>\"</x>", 0, "&lt;x y=&apos;1&apos;&gt;&quot;&lt;/x&gt;"},
		{"&amp;", 0, "&amp;amp;"},
		{"二七区", 0, "二七区"},
		{"\xF0\x9F\x98\x80", 0, "\xF0\x9F\x98\x80"},
		{"a\rb", 0, "a&#13;b"},
		{"a\nb\tc", 0, "a\nb\tc"},
		{"\x01x\x1f", 0, "\xEF\xBF\xBDx\xEF\xBF\xBD"},
		{"\x7f", 0, "\xEF\xBF\xBD"},
		{"a\0b", 3, "a\xEF\xBF\xBD" "b"},
		{"\xff", 0, "\xEF\xBF\xBD"},
		{"\xC0\xAF", 0, "\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"\xED\xA0\x80", 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"x\xE4\xBA", 0, "x\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"\xEF\xBF\xBE\xEF\xBF\xBF", 0, "\xEF\xBF\xBD\xEF\xBF\xBD"},
		{"\xEF\xBF\xBD", 0, "\xEF\xBF\xBD"},
		{"]]>", 0, "]]&gt;"},
	};
	struct buf b;
	buf_init(&b, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_reset(&b);
		size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
		open311_xml_escape(&b, cases[i].in, n);
		if (strcmp(b.p, cases[i].want))
			fail_msg("case %zu: got '%s', want '%s'", i, b.p, cases[i].want);
		assert_true(utf8_valid(b.p, b.len));
	}
	buf_release(&b);
}

/* One document through the writer in both formats. */
static void write_doc(enum open311_fmt fmt, struct buf *b)
{
	struct open311_writer w;
	open311_writer_init(&w, fmt, b);
	open311_list_begin(&w, "service_requests");
	open311_obj_begin(&w, "request");
	open311_str(&w, "service_request_id", "42");
	open311_str(&w, "status_notes", NULL);
	open311_str(&w, "description", "a<b & \"c\"\n二");
	open311_num(&w, "lat", 34.7466);
	open311_int(&w, "order", 3);
	open311_bool(&w, "metadata", false);
	open311_time(&w, "requested_datetime", 1760000000000);
	open311_time(&w, "expected_datetime", 0);
	open311_list_begin(&w, "values");
	open311_obj_begin(&w, "value");
	open311_str(&w, "key", "k1");
	open311_end(&w);
	open311_end(&w);
	open311_list_begin(&w, "formats");
	open311_str(&w, "format", "text/xml");
	open311_str(&w, "format", "application/json");
	open311_end(&w);
	open311_end(&w);
	open311_obj_begin(&w, "request");
	open311_end(&w);
	open311_end(&w);
}

static void test_writer(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	write_doc(OPEN311_XML, &b);
	assert_string_equal(
		b.p, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		     "<service_requests><request><service_request_id>42</service_request_id>"
		     "<status_notes/><description>a&lt;b &amp; &quot;c&quot;\n二</description>"
		     "<lat>34.7466</lat><order>3</order><metadata>false</metadata>"
		     "<requested_datetime>2025-10-09T16:53:20+08:00</requested_datetime>"
		     "<expected_datetime/><values><value><key>k1</key></value></values>"
		     "<formats><format>text/xml</format><format>application/json</format></formats>"
		     "</request><request></request></service_requests>");
	buf_reset(&b);
	write_doc(OPEN311_JSON, &b);
	json_error_t je;
	json_t *j = json_loads(b.p, 0, &je);
	if (!j)
		fail_msg("not JSON: %s (%s)", b.p, je.text);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 2);
	json_t *r = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(r, "service_request_id")), "42");
	assert_true(json_is_null(json_object_get(r, "status_notes")));
	assert_string_equal(json_string_value(json_object_get(r, "description")), "a<b & \"c\"\n二");
	assert_true(json_real_value(json_object_get(r, "lat")) == 34.7466);
	assert_int_equal(json_integer_value(json_object_get(r, "order")), 3);
	assert_true(json_is_false(json_object_get(r, "metadata")));
	assert_string_equal(json_string_value(json_object_get(r, "requested_datetime")),
			    "2025-10-09T16:53:20+08:00");
	assert_true(json_is_null(json_object_get(r, "expected_datetime")));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(r, "values"), 0), "key")),
			    "k1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "formats"), 1)),
			    "application/json");
	assert_int_equal(json_object_size(json_array_get(j, 1)), 0);
	json_decref(j);

	/* the spec's error body */
	buf_reset(&b);
	open311_render_error(OPEN311_JSON, 403, "invalid api_key", &b);
	assert_string_equal(b.p, "[{\"code\":403,\"description\":\"invalid api_key\"}]");
	buf_reset(&b);
	open311_render_error(OPEN311_XML, 404, "a<b", &b);
	assert_string_equal(b.p, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<errors><error><code>404"
				 "</code><description>a&lt;b</description></error></errors>");
	/* non-finite numbers are null */
	buf_reset(&b);
	struct open311_writer w;
	open311_writer_init(&w, OPEN311_JSON, &b);
	open311_obj_begin(&w, "x");
	open311_num(&w, "n", NAN);
	open311_end(&w);
	assert_string_equal(b.p, "{\"n\":null}");
	buf_release(&b);
}

static void test_times(void **state)
{
	(void)state;
	char t[40];
	open311_format_time(0, t, sizeof t);
	assert_string_equal(t, "1970-01-01T08:00:00+08:00");
	open311_format_time(1760000000999, t, sizeof t);
	assert_string_equal(t, "2025-10-09T16:53:20+08:00");
	/* 2025-12-31T16:00:00Z is new year in Shanghai */
	open311_format_time(1767196800000, t, sizeof t);
	assert_string_equal(t, "2026-01-01T00:00:00+08:00");
	int64_t ms;
	assert_true(workcal_parse_instant(t, &ms));
	assert_int_equal(ms, 1767196800000);
}

static void test_query_window(void **state)
{
	(void)state;
	const int64_t day = 86400000, now = 1767196800000;
	struct open311_query q;
	struct err e;

	memset(&q, 0, sizeof q);
	assert_int_equal(open311_query_finish(&q, now, &e), 0);
	assert_true(q.has_start && !q.has_end);
	assert_int_equal(q.start, now - 90 * day);
	assert_int_equal(q.page, 1);
	assert_int_equal(q.page_size, 1000);

	memset(&q, 0, sizeof q);
	q.has_start = true;
	q.start = now - 200 * day;
	assert_int_equal(open311_query_finish(&q, now, &e), 0);
	assert_int_equal(q.end, now - 110 * day);

	memset(&q, 0, sizeof q);
	q.has_end = true;
	q.end = now;
	assert_int_equal(open311_query_finish(&q, now, &e), 0);
	assert_int_equal(q.start, now - 90 * day);

	memset(&q, 0, sizeof q);
	q.has_start = q.has_end = true;
	q.start = now - 90 * day;
	q.end = now;
	assert_int_equal(open311_query_finish(&q, now, &e), 0);
	q.start--;
	assert_int_equal(open311_query_finish(&q, now, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "end_date");
	q.start = now + 1;
	assert_int_equal(open311_query_finish(&q, now, &e), ERR_BAD_REQUEST);

	/* updated_after alone: no window on requested_datetime */
	memset(&q, 0, sizeof q);
	q.has_updated_after = true;
	q.updated_after = now - 400 * day;
	assert_int_equal(open311_query_finish(&q, now, &e), 0);
	assert_false(q.has_start || q.has_end);
	q.has_updated_before = true;
	q.updated_before = q.updated_after;
	assert_int_equal(open311_query_finish(&q, now, &e), ERR_BAD_REQUEST);
	assert_string_equal(e.field, "updated_before");

	/* ids override everything, even a bad range */
	memset(&q, 0, sizeof q);
	q.nids = 1;
	q.has_start = q.has_end = true;
	q.start = now;
	q.end = now - day;
	assert_int_equal(open311_query_finish(&q, now, &e), 0);
}

static void test_field_checks(void **state)
{
	(void)state;
	double d;
	static const char *const numbers_ok[] = {"0", "-1", "+2.5", "34.7466", ".5", "5.", "1e3",
						 "-1.5E-2"};
	static const char *const numbers_bad[] = {"", "-", ".", "e3", "1e", "0x10", "inf", "nan",
						  "1,5", " 1", "1 ", "1e999", "--1", "1.2.3"};
	for (size_t i = 0; i < ARRAY_SIZE(numbers_ok); i++)
		if (!parse_number(numbers_ok[i], &d))
			fail_msg("'%s' should be a number", numbers_ok[i]);
	for (size_t i = 0; i < ARRAY_SIZE(numbers_bad); i++)
		if (parse_number(numbers_bad[i], &d))
			fail_msg("'%s' should not be a number", numbers_bad[i]);

	assert_true(email_ok("a.b@example.cn"));
	assert_true(email_ok("张三@例子.中国"));
	static const char *const emails_bad[] = {"", "a", "@x.cn", "a@", "a@b", "a@@b.cn",
						 "a b@x.cn", "a@x..cn", "a@.x.cn", "a@x.cn.",
						 "<a>@x.cn"};
	for (size_t i = 0; i < ARRAY_SIZE(emails_bad); i++)
		if (email_ok(emails_bad[i]))
			fail_msg("'%s' should not be an e-mail address", emails_bad[i]);

	assert_true(url_ok("http://example.cn/a.jpg"));
	assert_true(url_ok("HTTPS://img.example.cn/p?id=1&x=%20"));
	static const char *const urls_bad[] = {"", "ftp://x.cn/a", "javascript:alert(1)",
					       "http://", "http:///x", "http://x.cn/a b",
					       "http://x.cn/\"onerror=", "//x.cn/a", "data:text/html,x"};
	for (size_t i = 0; i < ARRAY_SIZE(urls_bad); i++)
		if (url_ok(urls_bad[i]))
			fail_msg("'%s' should not be a media URL", urls_bad[i]);

	char code[65];
	bool many;
	assert_true(attribute_key("attribute[color]", code, sizeof code, &many));
	assert_string_equal(code, "color");
	assert_false(many);
	assert_true(attribute_key("attribute[m][]", code, sizeof code, &many));
	assert_string_equal(code, "m");
	assert_true(many);
	static const char *const keys_bad[] = {"attribute", "attribute[]", "attribute[x",
					       "attribute[x]y", "attribute[x][", "attribute[x][0]",
					       "attributes[x]", "xattribute[x]"};
	for (size_t i = 0; i < ARRAY_SIZE(keys_bad); i++)
		if (attribute_key(keys_bad[i], code, sizeof code, &many))
			fail_msg("'%s' should not be an attribute key", keys_bad[i]);

	assert_int_equal(open311_datatype_parse("multivaluelist"), O311_MULTI);
	assert_int_equal(open311_datatype_parse("list"), -1);
	for (int t = 0; t < O311__COUNT; t++)
		assert_int_equal(open311_datatype_parse(open311_datatype_name((enum open311_datatype)t)),
				 t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_cases),   cmocka_unit_test(test_form_limits),
		cmocka_unit_test(test_form_from_json), cmocka_unit_test(test_xml_escape),
		cmocka_unit_test(test_writer),       cmocka_unit_test(test_times),
		cmocka_unit_test(test_query_window), cmocka_unit_test(test_field_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
