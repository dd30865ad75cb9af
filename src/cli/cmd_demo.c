/*
 * cmd_demo.c — `yiqiban demo`: a demo district (二七区) with the departments
 * enterprise requests are routed to and one user per role. Idempotent: what
 * exists is kept, what is missing is added.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/demo.h"
#include "cli/demo_data.h"
#include "cli/demo_grids.h"
#include "cli/demo_visits.h"
#include "core/dept.h"
#include "core/enterprise.h"
#include "core/grid.h"
#include "core/request.h"
#include "core/request_catalog.h"
#include "core/open311.h"
#include "core/team.h"
#include "core/tenant.h"
#include "core/user.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define DEMO_SEED 20250210 /* the day of the newspaper page the project comes from */
#define DEMO_BATCH 500

static const struct {
	const char *code, *name, *parent;
} depts[] = {
	{"gov", "二七区人民政府", NULL},
	{"amr", "市场监督管理局", "gov"},
	{"amr-reg", "登记注册科", "amr"},
	{"amr-food", "食品安全科", "amr"},
	{"tax", "税务局", "gov"},
	{"hrss", "人力资源和社会保障局", "gov"},
	{"housing", "住房和城乡建设局", "gov"},
	{"nrp", "自然资源和规划局", "gov"},
	{"eco", "生态环境分局", "gov"},
	{"urban", "城市管理局", "gov"},
	{"fire", "消防救援大队", "gov"},
	{"utility", "水电气暖协调办公室", "gov"},
	{"finance", "金融工作局", "gov"},
	{"sti", "科技和工业信息化局", "gov"},
	{"commerce", "商务局", "gov"},
	{"transport", "交通运输局", "gov"},
	{"police", "公安分局", "gov"},
	{"justice", "司法局", "gov"},
	{"gsb", "政务服务和大数据管理局", "gov"},
	{"dehua", "德化街街道办事处", "gov"},
	{"yimalu", "一马路街道办事处", "gov"},
	{"daxuelu", "大学路街道办事处", "gov"},
	{"mazhai", "马寨镇人民政府", "gov"},
	{"bank-zz", "郑州银行二七支行", NULL},
};

static const struct {
	const char *login, *name, *roles, *dept;
} users[] = {
	{"admin", "系统管理员", "admin", "gsb"},
	{"leader", "王区长", "leader", "gov"},
	{"dispatcher", "李受理", "dispatcher", "gsb"},
	{"handler", "张承办", "handler", "amr-reg"},
	{"depthead", "赵科长", "dept_head", "amr"},
	{"gridworker", "刘网格", "grid_worker", "dehua"},
	{"inspector", "陈执法", "inspector", "amr-food"},
	{"bank", "周经理", "bank_officer", "bank-zz"},
	{"mediator", "孙调解", "mediator", "justice"},
	{"supervisor", "吴监督", "supervisor", NULL},
	{"observer", "郑体验", "experience_officer", NULL},
	{"advisor", "冯顾问", "advisor", NULL},
	{"enterprise", "郑州二七示范商贸有限公司", "enterprise", NULL},
};

/* One write job: enterprises [start, start+count) of the generated stream. */
struct gen_job {
	const struct actor *who;
	int64_t tenant;
	struct demo_rng *rng;
	int64_t start, count;
	int64_t first_id; /* out: id of the first enterprise created */
	const struct geo_shape *area; /* the district: locations are drawn inside it */
};

static int gen_fn(struct db *db, void *arg, struct err *e)
{
	struct gen_job *j = arg;
	int64_t now = now_ms();
	for (int64_t n = j->start; n < j->start + j->count; n++) {
		struct demo_entity d;
		demo_entity(j->rng, n, &d);
		/* inside a unit grid of the district: redraw (uniformly over its box) until so */
		for (int k = 0; j->area && k < 1000; k++) {
			int64_t g = 0;
			int rc = grid_locate(db, j->tenant, d.lon, d.lat, &g, e);
			if (rc)
				return rc;
			if (g)
				break;
			d.lon = j->area->bbox.minx +
				demo_rng_unit(j->rng) * (j->area->bbox.maxx - j->area->bbox.minx);
			d.lat = j->area->bbox.miny +
				demo_rng_unit(j->rng) * (j->area->bbox.maxy - j->area->bbox.miny);
		}
		struct enterprise_write w = {
			.who = j->who, .tenant_id = j->tenant, .source = "demo", .now = now,
			.in = {.credit_code = d.credit_code, .name = d.name, .kind = d.kind,
			       .legal_rep = d.legal_rep, .phone = d.phone, .address = d.address,
			       .industry_division = d.industry_division, .size_class = d.size_class,
			       .registered_on = d.registered_on, .status = d.status, .tags = d.tags,
			       .set_location = true, .lat = d.lat, .lon = d.lon, .set_key = true,
			       .is_key = d.is_key},
		};
		if (n == 0) {
			/* the demo enterprise user's own firm, always first */
			w.in.name = "郑州二七示范商贸有限公司";
			w.in.kind = "enterprise";
			w.in.industry_division = "52";
			w.in.size_class = "small";
			w.in.status = "active";
			w.in.is_key = true;
			w.in.tags = "重点帮扶,商贸";
			w.in.address = "郑州市二七区大学路88号";
		}
		int rc = enterprise_create(db, &w, e);
		if (rc == ERR_CONFLICT)
			continue; /* a generated code repeated by chance */
		if (rc)
			return rc;
		if (n == j->start)
			j->first_id = w.id;
	}
	return 0;
}

/* Officials who serve enterprises (包联干部), spread over the departments. */
#define DEMO_OFFICIALS 60
static const char *const official_depts[] = {"amr", "amr-reg", "tax", "hrss", "housing", "eco",
					     "urban", "fire", "sti", "commerce", "finance", "dehua",
					     "yimalu", "daxuelu", "mazhai", "gsb"};

struct team_job {
	const struct actor *who;
	int64_t tenant;
	const int64_t *officials;
	struct demo_rng *rng;
	int64_t after;  /* enterprises with id > after ... */
	int64_t limit;  /* ... at most this many per job */
	int64_t last;   /* out: last enterprise id seen, 0 = none left */
};

static int assign(struct db *db, const struct team_job *j, int64_t ent, int64_t user,
		  const char *role, struct err *e)
{
	struct team_write w = {.who = j->who, .scope = SCOPE_ALL, .tenant_id = j->tenant,
			       .enterprise_id = ent, .user_id = user, .role = role, .now = now_ms()};
	return team_assign(db, &w, e);
}

/* Key enterprises get a lead and a member (a few only members: blind spots to
 * find); one in five other active enterprises gets one official. The choice
 * of officials is skewed so that some serve more than the allowed maximum. */
static int team_fn(struct db *db, void *arg, struct err *e)
{
	struct team_job *j = arg;
	struct db_stmt *st = NULL;
	int64_t rows[DEMO_BATCH][2];
	int n = 0, rc = db_queryf(db, &st, e,
				  "SELECT id, is_key FROM enterprises WHERE tenant_id = $1 AND id > $2 "
				  "AND status = 'active' ORDER BY id LIMIT $3",
				  "iii", j->tenant, j->after, j->limit);
	if (rc)
		return rc;
	while (n < DEMO_BATCH && (rc = db_step(st, e)) == DB_ROW) {
		rows[n][0] = db_column_int64(st, 0);
		rows[n][1] = db_column_int64(st, 1);
		n++;
	}
	db_finalize(st);
	if (rc < 0)
		return rc;
	rc = 0;
	j->last = n ? rows[n - 1][0] : 0;
	for (int i = 0; i < n; i++) {
		int64_t ent = rows[i][0];
		/* skew: a third of the picks go to the first eight officials */
		int64_t a = demo_rng_below(j->rng, 3) == 0 ? (int64_t)demo_rng_below(j->rng, 8)
							   : (int64_t)demo_rng_below(j->rng, DEMO_OFFICIALS);
		int64_t b = (a + 1 + (int64_t)demo_rng_below(j->rng, DEMO_OFFICIALS - 1)) % DEMO_OFFICIALS;
		if (rows[i][1]) {
			bool leaderless = demo_rng_below(j->rng, 40) == 0;
			rc = assign(db, j, ent, j->officials[a], leaderless ? "member" : "lead", e);
			if (!rc)
				rc = assign(db, j, ent, j->officials[b], "member", e);
		} else if (demo_rng_below(j->rng, 5) == 0)
			rc = assign(db, j, ent, j->officials[a], "lead", e);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- requests (诉求): a catalogue, time limits and three months of history ---- */

/* Categories of enterprise matters with their usual departments
 * (shared/reference/district.md), and what enterprises write about them. */
static const struct demo_cat demo_cats[] = {
	{"lic", "证照办理", NULL, "amr-reg", "help", 2,
	 {"企业开办需要同时办理多个证照，想了解能否一次提交、并联审批。",
	  "分支机构备案材料已提交一周，系统一直显示审核中，请帮忙催办。"}},
	{"lic.biz", "营业执照", "lic", "amr-reg", "help", 8,
	 {"办理经营范围变更时系统提示表述不规范，不知道应该如何填写，请帮助指导。",
	  "公司迁址到二七区，营业执照地址变更需要提交哪些材料？线上能否全程办理？"}},
	{"lic.food", "食品经营许可", "lic", "amr-food", "help", 5,
	 {"新开餐饮门店申请食品经营许可证，现场核查预约不上，希望尽快安排。",
	  "食品经营许可证即将到期，延续办理需要准备哪些材料，是否需要再次现场核查？"}},
	{"lic.build", "施工许可", "lic", "housing", "help", 3,
	 {"厂房改造项目施工许可证申请材料已齐，审批超过承诺时限仍未办结。",
	  "小型装修工程是否需要办理施工许可？请明确标准。"}},
	{"lic.eco", "排污许可", "lic", "eco", "help", 2,
	 {"新建生产线需要变更排污许可，想咨询办理流程和时限。",
	  "排污许可证年度执行报告系统无法提交，一直报错。"}},
	{"tax", "税费服务", NULL, "tax", "help", 2,
	 {"跨区迁移后税务登记信息没有同步，无法正常申报。",
	  "希望安排税务专员上门辅导新出台的税费政策。"}},
	{"tax.invoice", "发票办理", "tax", "tax", "help", 6,
	 {"数电发票开票额度不够用，申请调增额度一直没有结果。",
	  "新办企业首次申领发票，税控设备和电子发票怎么开通？"}},
	{"tax.refund", "退税减免", "tax", "tax", "consultation", 5,
	 {"增值税留抵退税申请提交后超过承诺时限仍未到账。",
	  "小微企业“六税两费”减免政策是否适用我公司，如何享受？"}},
	{"hr", "用工社保", NULL, "hrss", "help", 2,
	 {"招用高校毕业生能享受哪些补贴，怎么申请？",
	  "企业职工参保信息有误，需要更正。"}},
	{"hr.si", "社保缴纳", "hr", "hrss", "help", 5,
	 {"单位社保缴费基数申报系统无法登录，影响本月缴费。",
	  "新入职员工社保增员后仍显示未参保，请帮助核实。"}},
	{"hr.talent", "人才与培训补贴", "hr", "hrss", "consultation", 3,
	 {"职工技能提升培训补贴申请已满三个月没有到账。",
	  "引进的硕士人才生活补贴如何申报，需要哪些证明？"}},
	{"hr.dispute", "劳动关系", "hr", "hrss", "help", 2,
	 {"与离职员工就经济补偿发生争议，希望提供调解指导。",
	  "企业经营困难需要调整工作时间，如何依法办理综合工时审批？"}},
	{"util", "水电气暖", NULL, "utility", "help", 2,
	 {"园区内多家企业反映近期频繁停电，影响生产，请协调供电部门。",
	  "水电气暖报装能否“一窗受理、联合办理”？"}},
	{"util.water", "供水", "util", "utility", "help", 4,
	 {"厂区自来水压力不足，高峰期无法正常生产，已多次向供水公司反映。",
	  "新建厂房申请供水报装，迟迟没有安排现场踏勘。"}},
	{"util.power", "供电", "util", "utility", "help", 5,
	 {"生产车间申请增容，供电方案答复超过时限。",
	  "门店所在楼宇突然停电且没有提前通知，冷链货品损失严重。"}},
	{"util.gas", "燃气", "util", "utility", "help", 3,
	 {"餐饮门店燃气开户需要消防验收材料，办理顺序不清楚。",
	  "燃气管道改线申请已提交，至今无人联系。"}},
	{"util.heat", "供暖", "util", "utility", "help", 2,
	 {"办公楼供暖温度长期不达标，物业和热力公司互相推诿。",
	  "新建办公楼申请集中供暖入网，需要哪些手续？"}},
	{"build", "工程建设", NULL, "housing", "help", 3,
	 {"项目竣工联合验收预约后一直没有安排，影响交付。",
	  "施工工地夜间施工许可怎么申请？"}},
	{"land", "规划用地", NULL, "nrp", "consultation", 2,
	 {"企业扩建需要调整用地规划条件，想了解审批流程。",
	  "厂房不动产权证办理遇到历史遗留问题，请协调解决。"}},
	{"urban", "城市管理", NULL, "urban", "help", 2,
	 {"门店外的共享单车长期占道，影响顾客进出。",
	  "夜市经营需要办理哪些手续？"}},
	{"urban.sign", "门头招牌", "urban", "urban", "help", 3,
	 {"更换门头招牌需要审批吗？设置标准在哪里查询？",
	  "门头招牌被要求拆除，但此前已经按要求备案，希望复核。"}},
	{"urban.road", "占道与停车", "urban", "urban", "help", 2,
	 {"临时占道装卸货物需要办理什么手续？",
	  "商户门前划设停车位后影响货车进出，请重新规划。"}},
	{"fire", "消防安全", NULL, "fire", "help", 3,
	 {"新装修门店需要办理消防验收，预约时间过长，能否加快？",
	  "隔壁仓库堆放易燃物品，存在消防隐患，请尽快处理。"}},
	{"finance", "融资需求", NULL, "finance", "help", 4,
	 {"企业需要流动资金贷款300万元，希望对接合适的银行产品。",
	  "申请的创业担保贷款审批超过一个月没有回音。"}},
	{"sti", "科技创新", NULL, "sti", "consultation", 3,
	 {"想申报高新技术企业认定，不清楚研发费用如何归集。",
	  "专精特新中小企业申报材料清单在哪里下载？"}},
	{"commerce", "商务外贸", NULL, "commerce", "consultation", 2,
	 {"外贸企业想了解今年的出口信用保险补贴政策。",
	  "计划在二七区开设连锁门店，有哪些促消费扶持政策？"}},
	{"transport", "交通物流", NULL, "transport", "help", 2,
	 {"物流车辆进城通行证办理需要哪些材料？",
	  "园区门口路段拥堵严重，希望增设交通信号灯。"}},
	{"police", "治安与涉企案件", NULL, "police", "report", 2,
	 {"公司被冒用名义签订合同，已报案但一直没有进展。",
	  "刻制公章需要到哪里备案？"}},
	{"legal", "法律服务", NULL, "justice", "consultation", 2,
	 {"企业合同纠纷想申请法律援助或免费法律咨询。",
	  "希望为员工组织一次劳动法律法规讲座。"}},
	{"policy", "政策咨询", NULL, "gsb", "consultation", 5,
	 {"想了解二七区对新落户企业的奖励政策和申请条件。",
	  "惠企政策很多，能否告诉我们公司符合哪些政策？"}},
	{"complaint", "投诉举报", NULL, "amr", "complaint", 4,
	 {"某部门工作人员办事推诿，要求企业反复提交同一材料。",
	  "执法检查过于频繁，一个月内被不同部门检查四次，影响经营。"}},
	{"other", "其他诉求", NULL, NULL, "suggestion", 1,
	 {"建议在政务服务大厅增设企业服务专窗。",
	  "希望组织银企对接会，帮助中小企业融资。"}},
};

const struct demo_cat *demo_categories(size_t *n)
{
	*n = ARRAY_SIZE(demo_cats);
	return demo_cats;
}

/* Time limits: complaints in 15 working days, consultations in 3, utilities'
 * help in 3 with signing within 2 working hours, fire hazards signed within 2. */
static const struct {
	const char *cat, *type;
	int sign_minutes, handle_days, visit_days;
} demo_policies[] = {
	{NULL, "complaint", 450, 15, 5}, {NULL, "report", 450, 15, 5},
	{NULL, "consultation", 450, 3, 3}, {"util", "help", 120, 3, 3},
	{"fire", NULL, 120, 5, 3},        {"finance", NULL, 450, 3, 3},
	{"policy", NULL, 450, 2, 3},      {"lic.biz", "consultation", 450, 2, 3},
};

/* Departments the categories go to that have no official: a desk handler each
 * (食品安全科's requests are signed by the head of 市场监督管理局 above it). */
static const char *const desk_depts[] = {"nrp", "utility", "transport", "police", "justice"};

/* How a request's life goes. Most run the usual loop; the rest take a side
 * path; a few stop on the way (their next step would be after now). */
enum fate {
	F_USUAL, F_EXTEND, F_PAUSE, F_RETURN, F_REOPEN, F_LATE, F_UNRATED, F_MERGE, F_VOID,
	/* the last weeks: left open on purpose */
	F_WAIT_DISPATCH, F_WAIT_SIGN, F_STUCK, F_PAUSED, F_EXT_PENDING, F_RET_PENDING,
	F_RETURNED, F_WAIT_RATE,
};

#define DEMO_REQUEST_DAYS 90

struct demo_plan {
	int64_t at; /* received */
	int fate;
	int cat;    /* index into demo_cats, -1 = drawn */
};

struct demo_people {
	struct actor disp, head, leader, super, ent, grid, observer;
	int64_t ent_firm;           /* the demo enterprise user's firm */
	struct actor handlers[96];  /* every handler, with department */
	int nh;
};

struct req_job {
	const struct actor *sys;
	int64_t tenant;
	struct demo_rng *rng;
	struct workcal *cal;
	struct demo_people *p;
	const int64_t *cat_ids;     /* by demo_cats index */
	const int64_t *dept_ids;    /* by demo_cats index: 0 = none */
	int64_t gsb;                /* the department of last resort */
	const int64_t *ents;
	int64_t nents;
	const struct demo_plan *plan; /* ascending by time */
	int64_t first, count;       /* this job's slice of the plan */
	int64_t now;
	int64_t prev;               /* last request created (a master for duplicates) */
};

static int load_actor(struct db *db, int64_t tenant, int64_t id, struct actor *a, struct err *e)
{
	struct user u;
	int rc = user_get(db, tenant, id, &u, e);
	if (rc)
		return rc;
	memset(a, 0, sizeof *a);
	a->tenant_id = tenant;
	a->user_id = u.id;
	a->department_id = u.department_id;
	a->enterprise_id = u.enterprise_id;
	a->roles = u.roles;
	snprintf(a->login, sizeof a->login, "%s", u.login);
	snprintf(a->display_name, sizeof a->display_name, "%s", u.display_name);
	snprintf(a->dept_path, sizeof a->dept_path, "%s", u.dept_path);
	snprintf(a->request_id, sizeof a->request_id, "demo");
	return 0;
}

/* An instant `minutes` working minutes after t. */
static int64_t work_after(const struct workcal *cal, int64_t t, int64_t minutes)
{
	int64_t out = t;
	if (workcal_add_workhours(cal, t, minutes, &out, NULL))
		out = t + minutes * 60000;
	return out;
}

/* The instant at fraction q of the working time between a and b. */
static int64_t work_fraction(const struct workcal *cal, int64_t a, int64_t b, double q)
{
	int64_t out = a, ms = workcal_workms_between(cal, a, b, NULL);
	if (workcal_add_workms(cal, a, (int64_t)((double)ms * q), &out, NULL))
		out = a;
	return out;
}

static int64_t pick(struct demo_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)demo_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* A handler of the department, else its head's (NULL if none). */
static const struct actor *handler_of(struct req_job *j, int64_t dept, const char *path)
{
	int n = 0, idx[96];
	for (int i = 0; i < j->p->nh; i++)
		if (j->p->handlers[i].department_id == dept)
			idx[n++] = i;
	if (n)
		return &j->p->handlers[idx[demo_rng_below(j->rng, (uint64_t)n)]];
	const struct actor *head = &j->p->head;
	return strncmp(path, head->dept_path, strlen(head->dept_path)) == 0 ? head : NULL;
}

/* Who decides extensions and returns of the handler's department. */
static const struct actor *approver_of(struct req_job *j, const struct actor *h)
{
	const struct actor *head = &j->p->head;
	return strncmp(h->dept_path, head->dept_path, strlen(head->dept_path)) == 0 ? head
										   : &j->p->leader;
}

/* One step at t, or nothing when t is in the future (the request waits there). */
static int step(struct db *db, struct req_job *j, const struct actor *who, int64_t id,
		enum req_action a, struct request_step *p, int64_t t, bool *stop, struct err *e)
{
	if (*stop || t > j->now) {
		*stop = true;
		return 0;
	}
	p->who = who;
	p->scope = who ? authz_scope(who, request_action_perm(a)) : SCOPE_NONE;
	p->tenant_id = j->tenant;
	p->id = id;
	p->action = a;
	p->now = t;
	p->cal = j->cal;
	return request_act(db, p, e);
}

#define STEP(who, a, t, ...)                                                                  \
	do {                                                                                  \
		struct request_step s_ = {__VA_ARGS__};                                       \
		if ((rc = step(db, j, (who), id, (a), &s_, (t), &stop, e)))                    \
			return rc;                                                            \
	} while (0)

const char *const demo_replies[DEMO_REPLIES] = {
	"已与企业电话沟通，按规定为企业办理完毕，请查收。",
	"经现场核实，问题已协调相关单位解决，后续如有问题请随时联系。",
	"已安排专人对接，相关材料已审核通过并办结。",
	"已答复企业政策适用条件和申报流程，并提供了办理指南。",
	"已协调责任单位限期整改，整改情况已反馈企业。",
};

/* The life of one request: created at t0, then every step up to now. */
static int request_life(struct db *db, struct req_job *j, const struct demo_plan *pl,
			struct err *e)
{
	int64_t t0 = pl->at;
	int fate = pl->fate;
	struct demo_rng *r = j->rng;
	struct demo_people *p = j->p;
	const struct workcal *cal = j->cal;
	int ci = 0, rc = 0, wsum = 0;
	for (size_t i = 0; i < ARRAY_SIZE(demo_cats); i++)
		wsum += demo_cats[i].weight;
	for (int w = (int)demo_rng_below(r, (uint64_t)wsum); w >= demo_cats[ci].weight; ci++)
		w -= demo_cats[ci].weight; /* weighted choice */
	if (pl->cat >= 0)
		ci = pl->cat;
	const struct demo_cat *dc = &demo_cats[ci];
	/* the demo firm writes online now and then; others call the hotline, come
	 * to the hall, or are reported by their grid worker or an observer */
	bool own = demo_rng_below(r, 12) == 0;
	uint64_t ch = demo_rng_below(r, 100);
	const struct actor *by = own ? &p->ent : ch < 75 ? &p->disp : ch < 90 ? &p->grid : &p->observer;
	const char *channel = own ? (ch < 85 ? "online" : "qrcode")
			      : ch < 45 ? "hotline" : ch < 75 ? "hall" : ch < 90 ? "grid" : "observer";
	int64_t ent = own ? p->ent_firm : j->ents[demo_rng_below(r, (uint64_t)j->nents)];
	char content[600];
	snprintf(content, sizeof content, "%s", dc->ask[demo_rng_below(r, 2)]);
	const char *type = demo_rng_below(r, 10) < 8 ? dc->type
			   : (const char *[]){"consultation", "help", "suggestion"}[demo_rng_below(r, 3)];
	if (strcmp(dc->code, "complaint") == 0)
		type = "complaint";
	struct request_create c = {
		.who = by, .tenant_id = j->tenant, .now = t0,
		.in = {.channel = channel, .req_type = type, .enterprise_id = ent,
		       .category_id = own ? j->cat_ids[ci] : 0, .content = content,
		       .urgency = demo_rng_below(r, 25) == 0 ? "urgent" : "normal",
		       .contact_phone = "0371-6688" "1234"},
	};
	if ((rc = request_create(db, &c, e)))
		return rc;
	int64_t id = c.id, prev = j->prev;
	j->prev = id;
	bool stop = false;
	const struct actor *disp = &p->disp;

	int64_t t = work_after(cal, t0, pick(r, 10, 150));
	if (fate == F_WAIT_DISPATCH)
		return 0;
	if (fate == F_VOID) {
		STEP(disp, RA_VOID, t, .internal_note = "重复来电，已与企业确认作废");
		return 0;
	}
	if (fate == F_MERGE && prev) {
		struct request m;
		if ((rc = request_get(db, j->tenant, prev, &m, e)))
			return rc;
		bool ok = m.state != RS_MERGED && m.state != RS_VOIDED;
		request_release(&m);
		if (ok) {
			STEP(disp, RA_MERGE, t, .master_id = prev,
			     .internal_note = "同一事项重复反映，合并办理");
			return 0;
		}
	}
	int64_t dept = j->dept_ids[ci];
	if (!dept) /* no usual department: the government service centre takes it */
		dept = j->gsb;
	char path[256] = "";
	struct db_stmt *ps = NULL;
	if ((rc = db_queryf(db, &ps, e, "SELECT path FROM departments WHERE id = $1", "i", dept)))
		return rc;
	if ((rc = db_step(ps, e)) == DB_ROW)
		snprintf(path, sizeof path, "%s", db_column_text(ps, 0));
	db_finalize(ps);
	if (rc < 0)
		return rc;
	const struct actor *h = handler_of(j, dept, path);
	if (!h)
		return err_set(e, ERR_INTERNAL, NULL, "演示数据：部门没有承办人",
			       "demo data: a department without a handler");
	if (fate == F_RETURN || fate == F_RETURNED || fate == F_RET_PENDING) {
		/* first sent to the wrong department, which asks to return it */
		const struct actor *wrong = h;
		for (int tries = 0; tries < 50 && wrong->department_id == dept; tries++)
			wrong = &p->handlers[demo_rng_below(r, (uint64_t)p->nh)];
		STEP(disp, RA_DISPATCH, t, .department_id = wrong->department_id,
		     .category_id = j->cat_ids[ci]);
		t = work_after(cal, t, pick(r, 20, 240));
		STEP(wrong, RA_SIGN, t);
		t = work_after(cal, t, pick(r, 10, 120));
		STEP(wrong, RA_RETURN_APPLY, t, .internal_note = "不属于本单位职责范围，申请退回重新派单");
		if (fate == F_RET_PENDING)
			return 0;
		t = work_after(cal, t, pick(r, 30, 300));
		STEP(approver_of(j, wrong), RA_RETURN_DECIDE, t, .approve = true,
		     .internal_note = "同意退回");
		if (fate == F_RETURNED)
			return 0;
		t = work_after(cal, t, pick(r, 10, 120));
	}
	STEP(disp, RA_DISPATCH, t, .department_id = dept, .category_id = j->cat_ids[ci]);
	if (fate == F_WAIT_SIGN)
		return 0;
	struct request q;
	if (stop || (rc = request_get(db, j->tenant, id, &q, e)))
		return rc;
	request_release(&q);
	t = work_after(cal, t, fate == F_LATE ? pick(r, 480, 900) : pick(r, 5, 360));
	STEP(h, RA_SIGN, t);
	t = work_after(cal, t, pick(r, 1, 90));
	STEP(h, RA_START, t);
	int64_t due = q.handle_due_at;
	if (demo_rng_below(r, 30) == 0) { /* 督办 */
		const struct actor *sup = demo_rng_below(r, 2) ? &p->super : &p->leader;
		t = work_after(cal, t, pick(r, 30, 300));
		STEP(sup, RA_SUPERVISE, t, .level = (int)pick(r, 1, 2),
		     .internal_note = "请加快办理，按期答复企业");
	}
	if (fate == F_PAUSE || fate == F_PAUSED) {
		int64_t at = work_fraction(cal, t, due, 0.3);
		STEP(h, RA_PAUSE, at, .public_note = "请企业补充提供相关证明材料，收到后继续办理");
		if (fate == F_PAUSED)
			return 0;
		t = work_after(cal, at, pick(r, 300, 1500));
		STEP(h, RA_RESUME, t, .public_note = "已收到补充材料，继续办理");
		if (stop || (rc = request_get(db, j->tenant, id, &q, e)))
			return rc;
		request_release(&q);
		due = q.handle_due_at;
	}
	if (fate == F_EXTEND || fate == F_EXT_PENDING) {
		int64_t at = work_fraction(cal, t, due, 0.75);
		int days = (int)pick(r, 2, 5);
		STEP(h, RA_EXTEND_APPLY, at, .days = days,
		     .internal_note = "需协调多个单位现场核查，申请延期");
		if (fate == F_EXT_PENDING)
			return 0;
		t = work_after(cal, at, pick(r, 30, 240));
		bool yes = demo_rng_below(r, 10) != 0;
		STEP(approver_of(j, h), RA_EXTEND_DECIDE, t, .approve = yes,
		     .internal_note = yes ? "同意延期" : "不同意延期，请按期办结");
		if (stop || (rc = request_get(db, j->tenant, id, &q, e)))
			return rc;
		request_release(&q);
		due = q.handle_due_at;
	}
	/* the reply: in time mostly, a little late sometimes, never for the stuck */
	if (fate == F_STUCK)
		return 0;
	double q_ = demo_rng_unit(r);
	t = fate == F_LATE ? work_after(cal, due, pick(r, 30, 900))
			   : work_fraction(cal, t, due, fate == F_WAIT_RATE ? 0.1 + 0.2 * q_ : 0.1 + 0.85 * q_);
	const char *reply = demo_replies[demo_rng_below(r, DEMO_REPLIES)];
	STEP(h, RA_REPLY, t, .public_note = reply, .internal_note = "已电话回复企业");
	if (fate == F_WAIT_RATE)
		return 0;
	const struct actor *rater = ent == p->ent_firm ? &p->ent : disp;
	t = work_after(cal, t, pick(r, 30, 1200));
	if (fate == F_UNRATED) {
		if (demo_rng_below(r, 2)) {
			STEP(disp, RA_CLOSE, t, .internal_note = "多次回访未接通，按规定办结");
		} else {
			if (stop || (rc = request_get(db, j->tenant, id, &q, e)))
				return rc;
			request_release(&q);
			STEP(NULL, RA_AUTO_CLOSE, q.visit_due_at + 60000);
		}
		return 0;
	}
	if (fate == F_REOPEN) {
		STEP(rater, RA_RATE, t, .rating = "unsatisfied", .solved = false,
		     .public_note = "问题没有实际解决");
		t = work_after(cal, t, pick(r, 30, 600));
		STEP(rater, RA_REOPEN, t, .public_note = "企业反映问题仍未解决，重新办理");
		if (stop || (rc = request_get(db, j->tenant, id, &q, e)))
			return rc;
		request_release(&q);
		t = work_fraction(cal, t, q.handle_due_at, 0.2 + 0.6 * demo_rng_unit(r));
		STEP(h, RA_REPLY, t, .public_note = "已重新核实并协调解决，请企业确认。");
		t = work_after(cal, t, pick(r, 30, 900));
		STEP(rater, RA_RATE, t, .rating = demo_rng_below(r, 2) ? "basic" : "satisfied",
		     .solved = true);
		return 0;
	}
	/* ratings: mostly satisfied, 98 % solved */
	uint64_t v = demo_rng_below(r, 100);
	STEP(rater, RA_RATE, t, .rating = v < 86 ? "satisfied" : v < 98 ? "basic" : "unsatisfied",
	     .solved = v < 98 || demo_rng_below(r, 3) == 0,
	     .public_note = v < 30 ? "办理及时，态度很好，感谢！" : NULL);
	return 0;
}

#undef STEP

static int req_fn(struct db *db, void *arg, struct err *e)
{
	struct req_job *j = arg;
	for (int64_t i = j->first; i < j->first + j->count; i++) {
		int rc = request_life(db, j, &j->plan[i], e);
		if (rc)
			return rc;
	}
	return 0;
}

static int cmp_plan(const void *a, const void *b)
{
	int64_t x = ((const struct demo_plan *)a)->at, y = ((const struct demo_plan *)b)->at;
	return (x > y) - (x < y);
}

/* One write job: desk handlers, the categories and the time limits. */
struct catalog_job {
	const struct actor *who;
	int64_t tenant;
	const char *hash;
	int64_t *cat_ids, *dept_ids; /* out, by demo_cats index (dept 0 = none) */
};

/* Open311 services (core/open311.h): what citizens report from the street, with the
 * form fields of the reports (the body of PUT .../open311-attributes). */
static const struct {
	const char *cat, *code, *attrs;
} demo_open311[] = {
	{"urban.road", "URB-ROAD",
	 "[{\"code\":\"kind\",\"datatype\":\"singlevaluelist\",\"required\":true,"
	 "\"description\":\"问题类型\",\"values\":[{\"key\":\"stall\",\"name\":\"占道经营\"},"
	 "{\"key\":\"parking\",\"name\":\"违规停车\"},{\"key\":\"goods\",\"name\":\"店外堆物\"}]},"
	 "{\"code\":\"plate\",\"datatype\":\"string\",\"description\":\"车牌号（违规停车时填写）\"}]"},
	{"urban.sign", "URB-SIGN", NULL},
	{"util.water", "UTIL-WATER",
	 "[{\"code\":\"since\",\"datatype\":\"datetime\",\"description\":\"开始时间\"}]"},
	{"util.power", "UTIL-POWER",
	 "[{\"code\":\"kind\",\"datatype\":\"singlevaluelist\",\"required\":true,"
	 "\"description\":\"问题类型\",\"values\":[{\"key\":\"outage\",\"name\":\"停电\"},"
	 "{\"key\":\"voltage\",\"name\":\"电压不稳\"}]},"
	 "{\"code\":\"since\",\"datatype\":\"datetime\",\"description\":\"开始时间\"}]"},
	{"fire", "FIRE",
	 "[{\"code\":\"hazard\",\"datatype\":\"multivaluelist\",\"required\":true,"
	 "\"description\":\"隐患类型\",\"values\":[{\"key\":\"exit\",\"name\":\"堵塞安全出口\"},"
	 "{\"key\":\"goods\",\"name\":\"违规存放易燃物\"},{\"key\":\"wire\",\"name\":\"私拉电线\"}]}]"},
	{"transport", "TRAFFIC", NULL},
};

static int demo_open311_fn(struct db *db, const struct catalog_job *j, struct err *e)
{
	for (size_t i = 0; i < ARRAY_SIZE(demo_open311); i++) {
		size_t k = 0;
		while (k < ARRAY_SIZE(demo_cats) && strcmp(demo_cats[k].code, demo_open311[i].cat))
			k++;
		if (k == ARRAY_SIZE(demo_cats))
			continue;
		struct category_write w = {.who = j->who, .tenant_id = j->tenant, .id = j->cat_ids[k],
					   .open311_code = demo_open311[i].code, .now = now_ms()};
		int rc = category_update(db, &w, e);
		if (!rc && demo_open311[i].attrs) {
			json_error_t je;
			struct open311_attrs_write a = {.who = j->who, .tenant_id = j->tenant,
							.category_id = w.id, .now = w.now,
							.attributes = json_loads(demo_open311[i].attrs, 0, &je)};
			rc = open311_attrs_put(db, &a, e);
			json_decref(a.attributes);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int catalog_fn(struct db *db, void *arg, struct err *e)
{
	struct catalog_job *j = arg;
	int rc;
	/* desk handlers for the departments no official serves */
	for (size_t i = 0; i < ARRAY_SIZE(desk_depts); i++) {
		char login[32];
		struct demo_rng nr;
		struct demo_entity d;
		demo_rng_seed(&nr, DEMO_SEED + 2000 + (uint64_t)i);
		demo_entity(&nr, 1, &d);
		snprintf(login, sizeof login, "desk.%s", desk_depts[i]);
		struct user_write w = {.who = j->who, .tenant_id = j->tenant, .login = login,
				       .display_name = d.legal_rep, .set_roles = true,
				       .roles = 1u << ROLE_HANDLER, .password_hash = j->hash,
				       .set_department = true, .now = now_ms()};
		if ((rc = dept_id_by_code(db, j->tenant, desk_depts[i], &w.department_id, e)) ||
		    (rc = user_create(db, &w, e)))
			return rc;
	}
	for (size_t i = 0; i < ARRAY_SIZE(demo_cats); i++) {
		const struct demo_cat *dc = &demo_cats[i];
		struct category_write w = {.who = j->who, .tenant_id = j->tenant, .code = dc->code,
					   .name = dc->name, .sort = (int64_t)i, .now = now_ms()};
		j->dept_ids[i] = 0;
		if (dc->dept && (rc = dept_id_by_code(db, j->tenant, dc->dept, &j->dept_ids[i], e)))
			return rc;
		w.department_id = j->dept_ids[i];
		for (size_t k = 0; dc->parent && k < i; k++)
			if (strcmp(demo_cats[k].code, dc->parent) == 0)
				w.parent_id = j->cat_ids[k];
		if ((rc = category_create(db, &w, e)))
			return rc;
		j->cat_ids[i] = w.id;
	}
	if ((rc = demo_open311_fn(db, j, e)))
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(demo_policies); i++) {
		struct policy_write w = {.who = j->who, .tenant_id = j->tenant,
					 .req_type = demo_policies[i].type,
					 .sign_minutes = demo_policies[i].sign_minutes,
					 .handle_days = demo_policies[i].handle_days,
					 .visit_days = demo_policies[i].visit_days, .now = now_ms()};
		for (size_t k = 0; demo_policies[i].cat && k < ARRAY_SIZE(demo_cats); k++)
			if (strcmp(demo_cats[k].code, demo_policies[i].cat) == 0)
				w.category_id = j->cat_ids[k];
		if ((rc = policy_put(db, &w, e)))
			return rc;
	}
	return 0;
}

int demo_catalog(struct db_pool *pool, const struct actor *sys, int64_t tenant, const char *hash,
		 int64_t *cat_ids, int64_t *dept_ids, struct err *e)
{
	struct catalog_job cj = {.who = sys, .tenant = tenant, .hash = hash, .cat_ids = cat_ids,
				 .dept_ids = dept_ids};
	return db_pool_write(pool, catalog_fn, &cj, e);
}

/* The request catalogue and its history, deterministically from the seed
 * (and the date: the history ends at the start of today). */
static int demo_requests(struct db_pool *pool, struct db *rdb, const struct actor *sys,
			 int64_t tenant, int64_t n_ent, const char *hash, int64_t *made,
			 struct err *e)
{
	int64_t cat_ids[ARRAY_SIZE(demo_cats)], dept_ids[ARRAY_SIZE(demo_cats)];
	struct demo_people *p = xcalloc(1, sizeof *p);
	int64_t *ents = NULL;
	struct demo_plan *plan = NULL;
	struct workcal *cal = NULL;
	struct db_stmt *st = NULL;
	int rc;

	if ((rc = demo_catalog(pool, sys, tenant, hash, cat_ids, dept_ids, e)))
		goto out;

	/* the people of the loop */
	static const char *const logins[] = {"dispatcher", "depthead", "leader", "supervisor",
					     "enterprise", "gridworker", "observer"};
	struct actor *as[] = {&p->disp, &p->head, &p->leader, &p->super, &p->ent, &p->grid,
			      &p->observer};
	for (size_t i = 0; i < ARRAY_SIZE(logins); i++) {
		struct user u;
		if ((rc = user_get_by_login(rdb, tenant, logins[i], &u, e)) ||
		    (rc = load_actor(rdb, tenant, u.id, as[i], e)))
			goto out;
	}
	p->ent_firm = p->ent.enterprise_id;
	if ((rc = db_queryf(rdb, &st, e,
			    "SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id "
			    "AND r.role = 'handler' WHERE u.tenant_id = $1 AND u.department_id IS NOT NULL "
			    "ORDER BY u.id",
			    "i", tenant)))
		goto out;
	int64_t hid[96];
	int nh = 0;
	while (nh < 96 && (rc = db_step(st, e)) == DB_ROW)
		hid[nh++] = db_column_int64(st, 0);
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	for (int i = 0; i < nh; i++)
		if ((rc = load_actor(rdb, tenant, hid[i], &p->handlers[p->nh++], e)))
			goto out;

	/* the firms that ask: active ones */
	int64_t n = 0;
	ents = xcalloc((size_t)n_ent + 1, sizeof *ents);
	if ((rc = db_queryf(rdb, &st, e,
			    "SELECT id FROM enterprises WHERE tenant_id = $1 AND status = 'active' "
			    "ORDER BY id",
			    "i", tenant)))
		goto out;
	while (n < n_ent && (rc = db_step(st, e)) == DB_ROW)
		ents[n++] = db_column_int64(st, 0);
	db_finalize(st);
	st = NULL;
	if (rc < 0 || n == 0)
		goto out;
	if ((rc = workcal_get(rdb, tenant, &cal, e)))
		goto out;

	/* about one request a year for every dozen firms, over 90 days, plus the
	 * ones left open on purpose in the last weeks */
	struct demo_rng rng;
	demo_rng_seed(&rng, DEMO_SEED + 11);
	/* the history ends at the start of today (Shanghai): the same data all day long */
	int64_t now = workcal_utc_ms(workcal_local_day(now_ms()), 0), today = now;
	static const struct {
		int fate, n;
		int64_t min_age_h, max_age_h; /* hours before the start of today */
		const char *cat;              /* NULL = any */
	} open_ones[] = {
		{F_WAIT_DISPATCH, 3, 0, 20, NULL},    {F_WAIT_SIGN, 2, 40, 90, NULL},
		{F_STUCK, 2, 500, 700, NULL},         {F_STUCK, 1, 500, 700, "lic.biz"},
		{F_PAUSED, 2, 100, 200, NULL},        {F_EXT_PENDING, 1, 200, 260, "lic.food"},
		{F_RET_PENDING, 1, 80, 150, NULL},    {F_RETURNED, 2, 100, 170, NULL},
		{F_WAIT_RATE, 3, 150, 250, NULL},
	};
	int64_t n_hist = n_ent / 12 < 40 ? 40 : n_ent / 12 > 420 ? 420 : n_ent / 12, total = n_hist;
	for (size_t i = 0; i < ARRAY_SIZE(open_ones); i++)
		total += open_ones[i].n;
	plan = xcalloc((size_t)total, sizeof *plan);
	int64_t k = 0;
	for (; k < n_hist; k++) {
		/* mostly on working days in office hours; the hotline never sleeps */
		int64_t day = workcal_local_day(today) - 1 - pick(&rng, 0, DEMO_REQUEST_DAYS - 1);
		int64_t min = pick(&rng, 0, 9) < 8 ? pick(&rng, 8 * 60, 18 * 60) : pick(&rng, 0, 1439);
		if (!workcal_is_workday(cal, day, NULL) && pick(&rng, 0, 2))
			day -= 2;
		uint64_t f = demo_rng_below(&rng, 1000);
		plan[k].at = workcal_utc_ms(day, min * 60000);
		plan[k].fate = f < 60 ? F_EXTEND : f < 110 ? F_PAUSE : f < 150 ? F_RETURN
			     : f < 175 ? F_REOPEN : f < 215 ? F_LATE : f < 245 ? F_UNRATED
			     : f < 260 ? F_MERGE : f < 270 ? F_VOID : F_USUAL;
		plan[k].cat = -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(open_ones); i++)
		for (int m = 0; m < open_ones[i].n; m++, k++) {
			plan[k].at = now - pick(&rng, open_ones[i].min_age_h, open_ones[i].max_age_h) *
						   3600000;
			plan[k].fate = open_ones[i].fate;
			plan[k].cat = -1;
			for (size_t c = 0; open_ones[i].cat && c < ARRAY_SIZE(demo_cats); c++)
				if (strcmp(demo_cats[c].code, open_ones[i].cat) == 0)
					plan[k].cat = (int)c;
		}
	qsort(plan, (size_t)total, sizeof *plan, cmp_plan);
	struct req_job j = {.sys = sys, .tenant = tenant, .rng = &rng, .cal = cal, .p = p,
			    .cat_ids = cat_ids, .dept_ids = dept_ids, .ents = ents, .nents = n,
			    .plan = plan, .now = now};
	if ((rc = dept_id_by_code(rdb, tenant, "gsb", &j.gsb, e)))
		goto out;
	for (j.first = 0; j.first < total; j.first += j.count) {
		j.count = total - j.first < 250 ? total - j.first : 250;
		if ((rc = db_pool_write(pool, req_fn, &j, e)))
			goto out;
	}
	*made = total;
out:
	db_finalize(st);
	workcal_unref(cal);
	free(plan);
	free(ents);
	free(p);
	return rc;
}

int demo_setup(struct db_pool *pool, struct demo_base *b, struct err *e)
{
	struct db *rdb = db_pool_reader(pool, e);
	int rc;

	memset(b, 0, sizeof *b);
	if (!rdb)
		return e->code ? e->code : ERR_UNAVAILABLE;
	if (tenant_resolve(rdb, "erqi", &b->tenant, e)) {
		struct tenant_new t = {"erqi", "二七区", "410103", 0};
		err_clear(e);
		if ((rc = db_pool_write(pool, tenant_create, &t, e)))
			return rc;
		b->tenant = t.id;
	}
	b->sys = (struct actor){.tenant_id = b->tenant, .roles = 1u << ROLE_ADMIN};
	snprintf(b->sys.login, sizeof b->sys.login, "demo");
	snprintf(b->sys.request_id, sizeof b->sys.request_id, "demo");
	/* the shipped holiday years, unless the tenant already had them */
	struct workcal_seed seed = {.who = &b->sys, .tenant_id = b->tenant, .now = now_ms()};
	if ((rc = db_pool_write(pool, workcal_seed, &seed, e)))
		return rc;

	for (size_t i = 0; i < ARRAY_SIZE(depts); i++) {
		int64_t id = 0, parent = 0;
		if (dept_id_by_code(rdb, b->tenant, depts[i].code, &id, e) == 0)
			continue;
		if (depts[i].parent &&
		    (rc = dept_id_by_code(rdb, b->tenant, depts[i].parent, &parent, e)))
			return rc;
		struct dept_write w = {.who = &b->sys, .tenant_id = b->tenant, .code = depts[i].code,
				       .name = depts[i].name, .parent_id = parent,
				       .sort = (int64_t)i, .now = now_ms()};
		if ((rc = db_pool_write(pool, dept_create, &w, e)))
			return rc;
		b->added_depts++;
	}
	if ((rc = password_hash(DEMO_PASSWORD, b->hash, e)))
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		struct user u;
		if (user_get_by_login(rdb, b->tenant, users[i].login, &u, e) == 0)
			continue;
		struct user_write w = {.who = &b->sys, .tenant_id = b->tenant, .login = users[i].login,
				       .display_name = users[i].name, .set_roles = true,
				       .roles = 1u << role_from_code(users[i].roles),
				       .password_hash = b->hash, .now = now_ms()};
		if (users[i].dept) {
			if ((rc = dept_id_by_code(rdb, b->tenant, users[i].dept, &w.department_id, e)))
				return rc;
			w.set_department = true;
		}
		if ((rc = db_pool_write(pool, user_create, &w, e)))
			return rc;
		b->added_users++;
	}
	err_clear(e);
	return 0;
}

void demo_print_logins(void)
{
	printf("\n  %-12s %-14s %s\n", "login", "password", "role");
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		const struct role_info *ri = role_info((enum role)role_from_code(users[i].roles));
		printf("  %-12s %-14s %s %s\n", users[i].login, DEMO_PASSWORD, ri->name_zh,
		       ri->name_en);
	}
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
					     {"enterprises", required_argument, 0, 'n'},
					     {"no-grids", no_argument, 0, 'G'},
					     {"outline", required_argument, 0, 'o'},
					     {0, 0, 0, 0}};
	bool grids = true;
	const char *outline = NULL;
	struct demo_grid_result gr;
	struct demo_visit_result vr;
	memset(&gr, 0, sizeof gr);
	memset(&vr, 0, sizeof vr);
	int64_t n_ent = 5000;
	const char *dbpath = "yiqiban.db";
	struct db_pool *pool = NULL;
	struct db *conn = NULL;
	struct err e;
	int c, applied = 0, status = 1, added_d = 0, added_u = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dbpath = optarg;
		else if (c == 'n') {
			if (!parse_i64(optarg, &n_ent) || n_ent < 1 || n_ent > 10000000) {
				fprintf(stderr, "yiqiban demo: --enterprises takes 1 to 10000000\n");
				return 2;
			}
		} else if (c == 'G')
			grids = false;
		else if (c == 'o')
			outline = optarg;
		else
			return 2;
	}
	err_clear(&e);
	if (db_open(dbpath, DB_OPEN_CREATE, &conn, &e) || migrate_up(conn, &applied, &e))
		goto fail;
	db_close(conn);
	conn = NULL;
	if (db_pool_open(dbpath, NULL, &pool, &e))
		goto fail;
	struct db *rdb = db_pool_reader(pool, &e);
	if (!rdb)
		goto fail;
	struct demo_base base;
	if (demo_setup(pool, &base, &e))
		goto fail;
	int64_t tenant = base.tenant;
	struct actor sys = base.sys;
	const char *hash = base.hash;
	added_d = base.added_depts;
	added_u = base.added_users;
	/* the market: generated once, deterministically */
	int64_t have = 0, added_e = 0, n_req = 0;
	if (db_query_i64(rdb, &have, &e, "SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1", "i",
			 tenant))
		goto fail;
	if (have == 0) {
		struct demo_rng rng;
		demo_rng_seed(&rng, DEMO_SEED);
		/* grids first: every enterprise is then placed as it is registered */
		if (grids && demo_grids(pool, &sys, tenant, outline, hash, &gr, &e))
			goto fail;
		for (int64_t start = 0; start < n_ent; start += DEMO_BATCH) {
			struct gen_job j = {&sys, tenant, &rng, start,
					    n_ent - start < DEMO_BATCH ? n_ent - start : DEMO_BATCH, 0,
					    grids ? &gr.outline : NULL};
			if (db_pool_write(pool, gen_fn, &j, &e))
				goto fail;
			if (start == 0) {
				/* bind the demo enterprise user to the first enterprise */
				struct user eu;
				if (user_get_by_login(rdb, tenant, "enterprise", &eu, &e))
					goto fail;
				struct user_write w = {.who = &sys, .tenant_id = tenant, .id = eu.id,
						       .set_enterprise = true,
						       .enterprise_id = j.first_id, .now = now_ms()};
				if (db_pool_write(pool, user_update, &w, &e))
					goto fail;
				/* and the demo grid worker to the grid of that enterprise */
				if (grids && demo_grids_bind_worker(pool, rdb, &sys, tenant, j.first_id,
								    &e))
					goto fail;
			}
		}
		if (db_query_i64(rdb, &added_e, &e,
				 "SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1", "i", tenant))
			goto fail;

		/* officials and service teams */
		int64_t officials[DEMO_OFFICIALS];
		for (int i = 0; i < DEMO_OFFICIALS; i++) {
			char login[32], name[32];
			struct demo_rng nr;
			demo_rng_seed(&nr, DEMO_SEED + 1000 + (uint64_t)i);
			struct demo_entity d;
			demo_entity(&nr, 1, &d);
			snprintf(login, sizeof login, "official%02d", i + 1);
			snprintf(name, sizeof name, "%s", d.legal_rep);
			struct user_write w = {.who = &sys, .tenant_id = tenant, .login = login,
					       .display_name = name, .set_roles = true,
					       .roles = 1u << ROLE_HANDLER, .password_hash = hash,
					       .set_department = true, .now = now_ms()};
			if (dept_id_by_code(rdb, tenant, official_depts[i % ARRAY_SIZE(official_depts)],
					    &w.department_id, &e))
				goto fail;
			if (db_pool_write(pool, user_create, &w, &e))
				goto fail;
			officials[i] = w.id;
		}
		struct demo_rng tr;
		demo_rng_seed(&tr, DEMO_SEED + 7);
		for (struct team_job j = {&sys, tenant, officials, &tr, 0, DEMO_BATCH, 1}; j.last;
		     j.after = j.last)
			if (db_pool_write(pool, team_fn, &j, &e))
				goto fail;
		/* the request catalogue, time limits and three months of requests */
		if (demo_requests(pool, rdb, &sys, tenant, n_ent, hash, &n_req, &e))
			goto fail;
		/* visit policies, a campaign and months of visits by the grid workers */
		if (grids && demo_visits(pool, rdb, &sys, tenant, &vr, &e))
			goto fail;
	}
	printf("demo district 二七区 ready in %s: %d departments, %d users and %lld enterprises "
	       "added\n",
	       dbpath, added_d, added_u, (long long)added_e);
	if (added_e)
		printf("%d officials (official01 … official%02d, handlers in several departments) serve "
		       "the enterprises' service teams\n",
		       DEMO_OFFICIALS, DEMO_OFFICIALS);
	if (gr.units)
		printf("grids from %s: %d streets, %d unit grids, %d grid workers (gw001 …) and %d "
		       "community grid leaders (网格长, gl001 …); the login gridworker serves the "
		       "demo enterprise's grid\n",
		       gr.source, gr.streets, gr.units, gr.workers, gr.leaders);
	if (n_req)
		printf("%lld requests (诉求) over the last %d days, in every state of the loop; "
		       "categories and time limits under /api/v1/request-categories, /api/v1/time-limits\n",
		       (long long)n_req, DEMO_REQUEST_DAYS);
	if (vr.visits)
		printf("%lld visits (走访) by the grid workers under %d visit policies, %lld findings "
		       "(%lld raised as requests), %lld far from the enterprise; %lld enterprises "
		       "overdue; campaign 千企万户大走访 %lld of %lld visited\n",
		       (long long)vr.visits, vr.policies, (long long)vr.findings,
		       (long long)vr.requests, (long long)vr.far, (long long)vr.overdue,
		       (long long)vr.campaign_visited, (long long)vr.campaign_targets);
	demo_print_logins();
	status = 0;
	goto out;
fail:
	cli_error(&e);
out:
	geo_shape_free(&gr.outline);
	db_close(conn);
	db_pool_free(pool);
	return status;
}
