/*
 * cmd_demo.c — `yiqiban demo`: a demo district (二七区) with the departments
 * enterprise requests are routed to and one user per role. Idempotent: what
 * exists is kept, what is missing is added.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "cli/demo_data.h"
#include "core/dept.h"
#include "core/enterprise.h"
#include "core/team.h"
#include "core/tenant.h"
#include "core/user.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define DEMO_PASSWORD "Yiqiban@2026"
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
};

static int gen_fn(struct db *db, void *arg, struct err *e)
{
	struct gen_job *j = arg;
	int64_t now = now_ms();
	for (int64_t n = j->start; n < j->start + j->count; n++) {
		struct demo_entity d;
		demo_entity(j->rng, n, &d);
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

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
					     {"enterprises", required_argument, 0, 'n'},
					     {0, 0, 0, 0}};
	int64_t n_ent = 5000;
	const char *dbpath = "yiqiban.db";
	struct db_pool *pool = NULL;
	struct db *conn = NULL;
	struct err e;
	int c, applied = 0, status = 1, added_d = 0, added_u = 0;
	char hash[PASSWORD_HASH_MAX];

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dbpath = optarg;
		else if (c == 'n') {
			if (!parse_i64(optarg, &n_ent) || n_ent < 1 || n_ent > 10000000) {
				fprintf(stderr, "yiqiban demo: --enterprises takes 1 to 10000000\n");
				return 2;
			}
		} else
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
	int64_t tenant;
	if (tenant_resolve(rdb, "erqi", &tenant, &e)) {
		struct tenant_new t = {"erqi", "二七区", "410103", 0};
		err_clear(&e);
		if (db_pool_write(pool, tenant_create, &t, &e))
			goto fail;
		tenant = t.id;
	}
	struct actor sys = {.tenant_id = tenant, .roles = 1u << ROLE_ADMIN};
	snprintf(sys.login, sizeof sys.login, "demo");
	snprintf(sys.request_id, sizeof sys.request_id, "demo");
	/* the shipped holiday years, unless the tenant already had them */
	struct workcal_seed seed = {.who = &sys, .tenant_id = tenant, .now = now_ms()};
	if (db_pool_write(pool, workcal_seed, &seed, &e))
		goto fail;

	for (size_t i = 0; i < ARRAY_SIZE(depts); i++) {
		int64_t id = 0, parent = 0;
		if (db_query_i64(rdb, &id, &e,
				 "SELECT id FROM departments WHERE tenant_id = $1 AND code = $2", "it",
				 tenant, depts[i].code) == 0)
			continue;
		if (depts[i].parent &&
		    db_query_i64(rdb, &parent, &e,
				 "SELECT id FROM departments WHERE tenant_id = $1 AND code = $2", "it",
				 tenant, depts[i].parent))
			goto fail;
		struct dept_write w = {.who = &sys, .tenant_id = tenant, .code = depts[i].code,
				       .name = depts[i].name, .parent_id = parent,
				       .sort = (int64_t)i, .now = now_ms()};
		if (db_pool_write(pool, dept_create, &w, &e))
			goto fail;
		added_d++;
	}
	if (password_hash(DEMO_PASSWORD, hash, &e))
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		struct user u;
		if (user_get_by_login(rdb, tenant, users[i].login, &u, &e) == 0)
			continue;
		struct user_write w = {.who = &sys, .tenant_id = tenant, .login = users[i].login,
				       .display_name = users[i].name, .set_roles = true,
				       .roles = 1u << role_from_code(users[i].roles),
				       .password_hash = hash, .now = now_ms()};
		if (users[i].dept) {
			if (db_query_i64(rdb, &w.department_id, &e,
					 "SELECT id FROM departments WHERE tenant_id = $1 AND code = $2",
					 "it", tenant, users[i].dept))
				goto fail;
			w.set_department = true;
		}
		if (db_pool_write(pool, user_create, &w, &e))
			goto fail;
		added_u++;
	}
	/* the market: generated once, deterministically */
	int64_t have = 0, added_e = 0;
	if (db_query_i64(rdb, &have, &e, "SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1", "i",
			 tenant))
		goto fail;
	if (have == 0) {
		struct demo_rng rng;
		demo_rng_seed(&rng, DEMO_SEED);
		for (int64_t start = 0; start < n_ent; start += DEMO_BATCH) {
			struct gen_job j = {&sys, tenant, &rng, start,
					    n_ent - start < DEMO_BATCH ? n_ent - start : DEMO_BATCH, 0};
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
			if (db_query_i64(rdb, &w.department_id, &e,
					 "SELECT id FROM departments WHERE tenant_id = $1 AND code = $2",
					 "it", tenant, official_depts[i % ARRAY_SIZE(official_depts)]))
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
	}
	printf("demo district 二七区 ready in %s: %d departments, %d users and %lld enterprises "
	       "added\n",
	       dbpath, added_d, added_u, (long long)added_e);
	if (added_e)
		printf("%d officials (official01 … official%02d, handlers in several departments) serve "
		       "the enterprises' service teams\n",
		       DEMO_OFFICIALS, DEMO_OFFICIALS);
	printf("\n  %-12s %-14s %s\n", "login", "password", "role");
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		const struct role_info *ri = role_info((enum role)role_from_code(users[i].roles));
		printf("  %-12s %-14s %s %s\n", users[i].login, DEMO_PASSWORD, ri->name_zh,
		       ri->name_en);
	}
	status = 0;
	goto out;
fail:
	cli_error(&e);
out:
	db_close(conn);
	db_pool_free(pool);
	return status;
}
