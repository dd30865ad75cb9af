/*
 * test_textmodel.c — the text model (src/core/textmodel.c): normalisation
 * and n-gram features of mixed Chinese / ASCII / full-width text, the naive
 * Bayes classifier on a synthetic set whose classes are separable only by
 * their vocabulary (with shared filler and cross-class noise), determinism,
 * and the duplicate measures (bigram Jaccard, haversine).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "core/textmodel.h"
#include "base/banned.h"

/* ---- features ---- */

static void test_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} t[] = {
		{"ＡＢＣ１２３，申领发票！", "abc000 申领发票"},
		{"Hello\tWORLD。", "hello world"},
		{"  发票　税务 ", "发票 税务"}, /* ideographic space U+3000 */
		{"《营业执照》“变更”……", "营业执照 变更"},
		{"社保😀工资", "社保 工资"}, /* emoji are separators */
		{"a\xff" "b", "a b"},   /* invalid UTF-8 too */
		{"\xe5\x8f", ""},       /* truncated sequence */
		{"人人々〇", "人人々0"},
		{"１０万元／月", "00万元 月"},
		{"", ""},
		{"，。！？", ""},
	};
	char out[128];
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		size_t n = textmodel_normalize(t[i].in, out, sizeof out);
		if (strcmp(out, t[i].want) != 0)
			fail_msg("normalize(%s) = '%s', want '%s'", t[i].in, out, t[i].want);
		assert_int_equal(n, strlen(t[i].want));
	}
	/* truncation never splits a character */
	char small[8];
	textmodel_normalize("申领发票", small, sizeof small);
	assert_string_equal(small, "申领");
	assert_true(utf8_valid(small, strlen(small)));
}

static bool has(const struct textmodel_feats *f, uint64_t v)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i] == v)
			return true;
	return false;
}

static void test_features(void **state)
{
	(void)state;
	struct textmodel_feats f = {0}, g = {0};
	/* 发 票 税, 发票; never 票税 (the comma separates) */
	textmodel_features("发票，税", TEXTMODEL_UNIGRAMS | TEXTMODEL_BIGRAMS, &f);
	assert_int_equal(f.n, 4);
	assert_true(has(&f, textmodel_unigram(0x53D1))); /* 发 */
	assert_true(has(&f, textmodel_unigram(0x7968))); /* 票 */
	assert_true(has(&f, textmodel_unigram(0x7A0E))); /* 税 */
	assert_true(has(&f, textmodel_bigram(0x53D1, 0x7968)));
	assert_false(has(&f, textmodel_bigram(0x7968, 0x7A0E)));
	for (size_t i = 1; i < f.n; i++)
		assert_true(f.v[i - 1] < f.v[i]); /* sorted, distinct */

	/* repeated n-grams count once */
	textmodel_features("发票发票发票", TEXTMODEL_UNIGRAMS | TEXTMODEL_BIGRAMS, &f);
	assert_int_equal(f.n, 4); /* 发 票 发票 票发 */

	/* full-width and half-width, upper and lower case are the same features */
	textmodel_features("ＥＴＣ申请ａｐｐ", TEXTMODEL_UNIGRAMS | TEXTMODEL_BIGRAMS, &f);
	textmodel_features("etc申请APP", TEXTMODEL_UNIGRAMS | TEXTMODEL_BIGRAMS, &g);
	assert_int_equal(f.n, g.n);
	assert_memory_equal(f.v, g.v, f.n * sizeof *f.v);
	assert_true(has(&f, textmodel_bigram('c', 0x7533))); /* c申: a bigram across scripts */

	/* only bigrams */
	textmodel_features("营业执照", TEXTMODEL_BIGRAMS, &f);
	assert_int_equal(f.n, 3);
	textmodel_features("税", TEXTMODEL_BIGRAMS, &f);
	assert_int_equal(f.n, 0);
	textmodel_features(NULL, TEXTMODEL_UNIGRAMS, &f);
	assert_int_equal(f.n, 0);
	textmodel_feats_release(&f);
	textmodel_feats_release(&g);
}

/* ---- duplicates ---- */

static void test_jaccard_and_distance(void **state)
{
	(void)state;
	const char *a = "厂区门口路灯坏了三个月，晚上很不安全，请尽快修理。";
	const char *b = "厂区门口的路灯坏了三个月了，晚上很不安全，请尽快维修！";
	const char *c = "申请调增数电发票开票额度，一直没有结果。";
	assert_true(textmodel_jaccard(a, a) == 1.0);
	double ab = textmodel_jaccard(a, b), ac = textmodel_jaccard(a, c);
	assert_true(ab > 0.5);
	assert_true(ab < 1.0);
	assert_true(ac < 0.05);
	assert_true(textmodel_jaccard(a, b) == textmodel_jaccard(b, a));
	/* punctuation, width and case do not matter */
	assert_true(textmodel_jaccard("发票ＡＢＣ，额度", "发票abc 额度。") == 1.0);
	/* one-character texts fall back to unigrams */
	assert_true(textmodel_jaccard("税", "税") == 1.0);
	assert_true(textmodel_jaccard("", "") == 0.0);
	assert_true(textmodel_jaccard("税", "票") == 0.0);

	/* Jaccard of sets by hand: {1,2,3} vs {2,3,4,5} = 2/5 */
	uint64_t x[] = {1, 2, 3}, y[] = {2, 3, 4, 5};
	struct textmodel_feats fx = {x, 3, 3}, fy = {y, 4, 4};
	assert_true(textmodel_jaccard_sets(&fx, &fy) == 0.4);

	/* one degree of latitude is about 111.195 km; 0.0027° is 300 m */
	double d = textmodel_haversine_m(34.7466, 113.6254, 35.7466, 113.6254);
	assert_true(d > 111190 && d < 111200);
	d = textmodel_haversine_m(34.7466, 113.6254, 34.7493, 113.6254);
	assert_true(d > 299 && d < 301);
	assert_true(textmodel_haversine_m(34.7, 113.6, 34.7, 113.6) == 0.0);
	/* east-west shrinks with the cosine of the latitude */
	d = textmodel_haversine_m(34.7466, 113.6254, 34.7466, 113.6254 + 0.0033);
	assert_true(d > 295 && d < 310);
}

/* ---- the classifier ---- */

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

/* Four departments, each with its own vocabulary; filler every class uses. */
static const char *const vocab[4][8] = {
	{"发票", "税务", "纳税申报", "增值税", "留抵退税", "税控设备", "开票额度", "个税"},
	{"社保", "工资", "养老保险", "参保", "劳动合同", "职工培训", "人才补贴", "失业保险"},
	{"营业执照", "许可证", "经营范围", "注册资本", "法定代表人", "名称核准", "股权变更",
	 "食品经营"},
	{"停电", "供水", "燃气", "供暖", "水压", "电力增容", "管道", "抄表"},
};
static const int64_t dept_of[4] = {31, 7, 12, 40};
static const char *const filler[] = {
	"企业", "希望", "尽快", "办理", "问题", "反映", "我们公司", "请帮助", "一直没有",
	"结果", "咨询", "材料", "已经", "多次", "相关部门", "协调", "解决", "谢谢",
};

/* A request text of class c: 2-3 of its words, 4-6 filler, sometimes one word of another class. */
static void gen_text(int c, char *out, size_t n)
{
	size_t k = 0;
	int words = 2 + (int)rnd(2), fill = 4 + (int)rnd(3);
	out[0] = '\0';
	for (int i = 0; i < words + fill; i++) {
		const char *w = i < words ? vocab[c][rnd(8)] : filler[rnd(ARRAY_SIZE(filler))];
		k += (size_t)snprintf(out + k, n - k, "%s%s", w, rnd(4) == 0 ? "，" : "");
	}
	if (rnd(10) < 3) /* noise: a word of another department */
		snprintf(out + k, n - k, "%s。", vocab[(c + 1 + (int)rnd(3)) % 4][rnd(8)]);
}

struct set {
	char text[400][256];
	struct textmodel_example ex[400];
	size_t n;
};

static void gen_set(struct set *s, uint64_t seed)
{
	rng_state = seed;
	s->n = 400;
	for (size_t i = 0; i < s->n; i++) {
		int c = (int)rnd(4);
		gen_text(c, s->text[i], sizeof s->text[i]);
		s->ex[i] = (struct textmodel_example){s->text[i], dept_of[c]};
	}
}

static void test_classifier_learns(void **state)
{
	(void)state;
	struct set *s = malloc(sizeof *s);
	gen_set(s, 42);
	struct textmodel_eval ev;
	struct textmodel *m = textmodel_build(s->ex, s->n, TEXTMODEL_ALPHA, 0.2, &ev);
	assert_non_null(m);
	assert_int_equal(ev.test, 80);
	assert_int_equal(ev.train, 320);
	assert_true(ev.top3 >= ev.top1);
	double acc = (double)ev.top1 / (double)ev.test;
	print_message("held-out top-1 %.3f top-3 %.3f (%zu test)\n", acc,
		      (double)ev.top3 / (double)ev.test, ev.test);
	assert_true(acc >= 0.95);
	assert_int_equal(textmodel_examples(m), 400);
	assert_int_equal(textmodel_classes(m), 4);
	assert_true(textmodel_vocabulary(m) > 50);
	assert_true(textmodel_bytes(m) > 0);

	/* texts the model never saw, one per department */
	static const struct {
		const char *text;
		int64_t want;
	} t[] = {
		{"我们公司的增值税发票开票额度不够用，请帮助调增。", 31},
		{"新入职员工的社保参保信息一直没有结果，工资无法发放。", 7},
		{"营业执照经营范围变更需要哪些材料？", 12},
		{"厂区频繁停电，电力增容申请多次反映没有结果。", 40},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct textmodel_guess g[3];
		size_t n = textmodel_predict(m, t[i].text, g, 3);
		assert_int_equal(n, 3);
		if (g[0].label != t[i].want)
			fail_msg("%s: got %lld, want %lld", t[i].text, (long long)g[0].label,
				 (long long)t[i].want);
		assert_true(g[0].p > 0.5);
		assert_true(g[0].p >= g[1].p && g[1].p >= g[2].p);
		assert_true(g[0].p + g[1].p + g[2].p <= 1.0 + 1e-9);
		assert_true(g[2].p > 0); /* smoothing: every class keeps some probability */
	}
	/* k larger than the classes: all four, probabilities sum to 1 */
	struct textmodel_guess all[8];
	size_t n = textmodel_predict(m, "发票", all, 8);
	assert_int_equal(n, 4);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += all[i].p;
	assert_true(sum > 0.999999 && sum < 1.000001);
	assert_int_equal(all[0].label, 31);
	/* nothing known: no guess */
	assert_int_equal(textmodel_predict(m, "Ω∑ⅩⅩ", all, 3), 0);
	assert_int_equal(textmodel_predict(m, "，。", all, 3), 0);
	textmodel_free(m);
	free(s);
}

static void test_classifier_deterministic(void **state)
{
	(void)state;
	struct set *s = malloc(sizeof *s);
	gen_set(s, 7);
	struct textmodel_eval e1, e2;
	struct textmodel *a = textmodel_build(s->ex, s->n, TEXTMODEL_ALPHA, 0.2, &e1);
	struct textmodel *b = textmodel_build(s->ex, s->n, TEXTMODEL_ALPHA, 0.2, &e2);
	assert_memory_equal(&e1, &e2, sizeof e1);
	for (size_t i = 0; i < 50; i++) {
		struct textmodel_guess ga[4], gb[4];
		size_t na = textmodel_predict(a, s->text[i], ga, 4);
		size_t nb = textmodel_predict(b, s->text[i], gb, 4);
		assert_int_equal(na, nb);
		assert_memory_equal(ga, gb, na * sizeof *ga); /* bit-identical */
	}
	textmodel_free(a);
	textmodel_free(b);
	free(s);
}

static void test_classifier_edges(void **state)
{
	(void)state;
	struct textmodel_guess g[3];
	struct textmodel_eval ev;
	/* no examples: a model that guesses nothing */
	struct textmodel *m = textmodel_build(NULL, 0, TEXTMODEL_ALPHA, 0.2, &ev);
	assert_int_equal(ev.test, 0);
	assert_int_equal(textmodel_predict(m, "发票", g, 3), 0);
	assert_int_equal(textmodel_classes(m), 0);
	textmodel_free(m);
	textmodel_free(NULL);

	/* too few to hold any out: no evaluation, still a model */
	struct textmodel_example ex[] = {{"发票税务", 1}, {"社保工资", 2}, {"发票开票", 1}};
	m = textmodel_build(ex, 3, TEXTMODEL_ALPHA, 0.2, &ev);
	assert_int_equal(ev.test, 0);
	assert_int_equal(ev.train, 3);
	assert_int_equal(textmodel_predict(m, "开发票", g, 3), 2);
	assert_int_equal(g[0].label, 1);
	assert_int_equal(g[1].label, 2);
	/* an equal score: the smaller label first */
	textmodel_free(m);
	struct textmodel_example tie[] = {{"甲", 9}, {"甲", 3}};
	m = textmodel_build(tie, 2, TEXTMODEL_ALPHA, 0, NULL);
	assert_int_equal(textmodel_predict(m, "甲", g, 3), 2);
	assert_int_equal(g[0].label, 3);
	assert_true(g[0].p == g[1].p);
	textmodel_free(m);

	/* the held-out share is the most recent: a label that appears only in the
	 * last examples cannot be guessed by the evaluation model */
	struct textmodel_example late[20];
	for (int i = 0; i < 20; i++)
		late[i] = (struct textmodel_example){i < 15 ? "发票税务" : "社保工资",
						     i < 15 ? 1 : 2};
	m = textmodel_build(late, 20, TEXTMODEL_ALPHA, 0.25, &ev);
	assert_int_equal(ev.train, 15);
	assert_int_equal(ev.test, 5);
	assert_int_equal(ev.top1, 0);
	assert_int_equal(ev.top3, 0);
	/* ... but the final model, trained on everything, knows it */
	assert_int_equal(textmodel_predict(m, "社保", g, 1), 1);
	assert_int_equal(g[0].label, 2);
	textmodel_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_jaccard_and_distance),
		cmocka_unit_test(test_classifier_learns),
		cmocka_unit_test(test_classifier_deterministic),
		cmocka_unit_test(test_classifier_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
