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
#include "core/dept.h"
#include "core/tenant.h"
#include "core/user.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

#define DEMO_PASSWORD "Yiqiban@2026"

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

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'}, {0, 0, 0, 0}};
	const char *dbpath = "yiqiban.db";
	struct db_pool *pool = NULL;
	struct db *conn = NULL;
	struct err e;
	int c, applied = 0, status = 1, added_d = 0, added_u = 0;
	char hash[PASSWORD_HASH_MAX];

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd')
			return 2;
		dbpath = optarg;
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
	printf("demo district 二七区 ready in %s: %d departments and %d users added\n", dbpath,
	       added_d, added_u);
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
