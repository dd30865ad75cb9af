/*
 * demo_data.c — a realistic, fictional market of 二七区 for the demo:
 * deterministic from a seed, with plausible Chinese names, valid credit
 * codes, addresses on the district's roads, and industries, sizes, kinds and
 * statuses in the proportions of a Chinese urban district (individual
 * businesses are most market entities; most enterprises are micro).
 */
#include "cli/demo_data.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/creditcode.h"
#include "base/banned.h"

/* splitmix64: small, fast, and the same on every machine. */
static uint64_t next(struct demo_rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void demo_rng_seed(struct demo_rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t demo_rng_below(struct demo_rng *r, uint64_t n)
{
	return n ? next(r) % n : 0;
}

double demo_rng_unit(struct demo_rng *r)
{
	return (double)(next(r) >> 11) / 9007199254740992.0;
}

#define PICK(r, arr) (arr)[demo_rng_below((r), ARRAY_SIZE(arr))]

static const char *const brand1[] = {"金", "华", "瑞", "鑫", "永", "宏", "德", "中", "豫", "汇", "康",
				     "博", "恒", "嘉", "盛", "新", "天", "云", "正", "诚", "信", "隆",
				     "丰", "润", "泰", "安", "佳", "海", "亿", "百"};
static const char *const brand2[] = {"鹰", "润", "祥", "源", "盛", "达", "化", "原", "商", "通", "利",
				     "远", "昌", "禾", "茂", "阳", "辉", "宇", "邦", "德", "鼎", "洋",
				     "悦", "航", "晟", "和", "峰", "瑞", "成", "发"};
static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴",
				       "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗",
				       "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧"};
static const char *const given[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
				    "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华", "建国",
				    "红", "志强", "桂英", "鹏", "辉", "玲", "刚", "建华", "文", "斌"};
static const char *const roads[] = {"大学路", "京广路", "嵩山路", "长江路", "航海路", "淮河路",
				    "陇海路", "建设路", "二七路", "解放路", "一马路", "政通路",
				    "连云路", "兴华街", "福华街", "德化街", "铭功路", "民主路",
				    "大同路", "碧云路", "勤劳街", "庆丰街", "工人路", "齐礼阎路"};

/* Industries with their weight (per mille of entities), name words and sizes. */
struct industry {
	const char *division;  /* GB/T 4754 大类 */
	int weight;
	const char *ent_word;  /* in an enterprise name */
	const char *shop_word; /* in an individual business name, NULL: no individuals here */
};

static const struct industry industries[] = {
	{"52", 220, "商贸", "便利店"},       {"51", 110, "贸易", "批发部"},
	{"62", 100, "餐饮管理", "小吃店"},   {"61", 20, "酒店管理", "宾馆"},
	{"80", 40, "家政服务", "家政服务部"}, {"81", 50, "汽车维修", "修理部"},
	{"82", 40, "美容美发", "理发店"},     {"72", 70, "企业管理咨询", NULL},
	{"71", 20, "设备租赁", NULL},         {"65", 40, "信息技术", NULL},
	{"64", 20, "网络科技", NULL},         {"13", 10, "食品", NULL},
	{"18", 12, "服装", "裁缝店"},         {"34", 12, "机械制造", NULL},
	{"39", 10, "电子科技", NULL},         {"30", 6, "建材", NULL},
	{"48", 25, "建筑工程", NULL},         {"50", 25, "装饰工程", "装修队"},
	{"54", 25, "物流", "货运部"},         {"59", 10, "仓储", NULL},
	{"70", 30, "置业", NULL},             {"75", 25, "科技", NULL},
	{"73", 8, "生物技术", NULL},          {"87", 10, "文化传媒", "图文店"},
	{"89", 10, "体育文化", "健身房"},     {"83", 12, "教育咨询", "培训部"},
	{"84", 10, "医疗管理", "诊所"},       {"01", 10, "农业科技", NULL},
};

static const struct industry *pick_industry(struct demo_rng *r)
{
	int total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(industries); i++)
		total += industries[i].weight;
	int x = (int)demo_rng_below(r, (uint64_t)total);
	for (size_t i = 0; i < ARRAY_SIZE(industries); i++) {
		if (x < industries[i].weight)
			return &industries[i];
		x -= industries[i].weight;
	}
	return &industries[0];
}

static void make_code(struct demo_rng *r, const char *kind, char out[19])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	char c[19];
	c[0] = '9';
	c[1] = kind[0] == 'i' ? '2' : kind[0] == 'c' ? '3' : '1';
	memcpy(c + 2, "410103", 6);
	c[8] = 'M';
	c[9] = 'A';
	for (int i = 10; i < 16; i++)
		c[i] = alphabet[demo_rng_below(r, 31)];
	/* the organisation code's check digit must itself be in the alphabet */
	char org = credit_code_org_check(c + 8);
	while (!strchr(alphabet, org)) {
		c[15] = alphabet[demo_rng_below(r, 31)];
		org = credit_code_org_check(c + 8);
	}
	c[16] = org;
	c[17] = credit_code_check_char(c);
	c[18] = '\0';
	memcpy(out, c, 19);
}

void demo_entity(struct demo_rng *r, int64_t n, struct demo_entity *d)
{
	memset(d, 0, sizeof *d);
	const struct industry *ind = pick_industry(r);
	double k = demo_rng_unit(r);
	if (ind->shop_word && k < 0.62)
		d->kind = "individual";
	else if (ind->division[0] == '0' && k < 0.8)
		d->kind = "cooperative";
	else
		d->kind = "enterprise";
	make_code(r, d->kind, d->credit_code);
	const char *b1 = PICK(r, brand1), *b2 = PICK(r, brand2);
	const char *sn = PICK(r, surnames), *gn = PICK(r, given);
	if (strcmp(d->kind, "individual") == 0)
		snprintf(d->name, sizeof d->name, "二七区%s%s%s", b1, b2, ind->shop_word);
	else if (strcmp(d->kind, "cooperative") == 0)
		snprintf(d->name, sizeof d->name, "郑州市二七区%s%s种植专业合作社", b1, b2);
	else {
		static const char *const forms[] = {"有限公司", "有限公司", "有限公司", "有限责任公司",
						    "股份有限公司"};
		const char *city = demo_rng_below(r, 3) ? "郑州" : "河南";
		snprintf(d->name, sizeof d->name, "%s%s%s%s%s", city, b1, b2, ind->ent_word,
			 PICK(r, forms));
	}
	/* names repeat by chance; a serial keeps them apart, as registration would */
	if (n % 7 == 3) {
		size_t len = strlen(d->name);
		snprintf(d->name + len, sizeof d->name - len, "（%" PRId64 "）", n);
	}
	snprintf(d->legal_rep, sizeof d->legal_rep, "%s%s", sn, gn);
	static const char *const prefixes[] = {"138", "139", "137", "150", "151", "158", "186", "187", "135", "155"};
	snprintf(d->phone, sizeof d->phone, "%s%08" PRIu64, PICK(r, prefixes),
		 demo_rng_below(r, 100000000));
	snprintf(d->address, sizeof d->address, "郑州市二七区%s%" PRIu64 "号", PICK(r, roads),
		 1 + demo_rng_below(r, 300));
	/* denser toward the city centre in the north-east of the district */
	double u = demo_rng_unit(r), v = demo_rng_unit(r);
	d->lat = 34.600 + 0.166 * (1.0 - u * u);
	d->lon = 113.500 + 0.180 * (1.0 - v * v);
	snprintf(d->industry_division, sizeof d->industry_division, "%s", ind->division);
	double s = demo_rng_unit(r);
	if (strcmp(d->kind, "enterprise") != 0)
		d->size_class = "micro";
	else
		d->size_class = s < 0.78 ? "micro" : s < 0.94 ? "small" : s < 0.99 ? "medium" : "large";
	int year = 1995 + (int)(30.0 * (1.0 - demo_rng_unit(r) * demo_rng_unit(r)));
	if (year > 2025)
		year = 2025;
	snprintf(d->registered_on, sizeof d->registered_on, "%04d-%02d-%02d", year,
		 1 + (int)demo_rng_below(r, 12), 1 + (int)demo_rng_below(r, 28));
	double st = demo_rng_unit(r);
	d->status = st < 0.92 ? "active" : st < 0.95 ? "moved_out" : st < 0.99 ? "deregistered" : "revoked";
	/* tags */
	char *t = d->tags;
	size_t room = sizeof d->tags;
	t[0] = '\0';
#define TAG(x)                                                                               \
	do {                                                                                 \
		size_t l = strlen(d->tags);                                                  \
		snprintf(d->tags + l, room - l, "%s%s", l ? "," : "", (x));                  \
	} while (0)
	if (strcmp(d->size_class, "medium") == 0 || strcmp(d->size_class, "large") == 0)
		TAG("规上企业");
	if ((ind->division[0] == '6' && ind->division[1] >= '3') || strcmp(ind->division, "75") == 0 ||
	    strcmp(ind->division, "73") == 0 || strcmp(ind->division, "39") == 0) {
		if (demo_rng_below(r, 4) == 0)
			TAG("高新技术企业");
		if (demo_rng_below(r, 10) == 0)
			TAG("专精特新");
	}
	if (strcmp(ind->division, "51") == 0 && demo_rng_below(r, 5) == 0)
		TAG("外贸");
	if (year < 2000 && strcmp(d->kind, "individual") != 0 && demo_rng_below(r, 6) == 0)
		TAG("老字号");
	if (strcmp(d->size_class, "micro") == 0 && strcmp(d->kind, "enterprise") == 0)
		TAG("小微企业");
#undef TAG
	(void)t;
	/* key enterprises: the larger ones, and some small innovative firms */
	d->is_key = strcmp(d->status, "active") == 0 &&
		    (strcmp(d->size_class, "large") == 0 ||
		     (strcmp(d->size_class, "medium") == 0 && demo_rng_below(r, 3) != 0) ||
		     (strstr(d->tags, "专精特新") != NULL) ||
		     (strstr(d->tags, "高新技术企业") != NULL && demo_rng_below(r, 2) == 0));
}
