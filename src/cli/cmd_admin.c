/*
 * cmd_admin.c — administrative commands: init, migrate, user, audit verify,
 * backup, routes, version. Writes go through the same group-committing pool
 * and core functions as the server, with the system as the actor.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"
#include "core/audit.h"
#include "core/dept.h"
#include "core/tenant.h"
#include "core/user.h"
#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "http/http.h"
#include "base/banned.h"

void cli_error(const struct err *e)
{
	if (e->field[0])
		fprintf(stderr, "yiqiban: %s (%s)\n         %s\n", e->message, e->field, e->message_zh);
	else
		fprintf(stderr, "yiqiban: %s\n         %s\n", e->message, e->message_zh);
}

static bool is_sqlite_path(const char *db)
{
	return strncmp(db, "postgres", 8) != 0 && strncmp(db, "host=", 5) != 0;
}

/* Open a direct connection and bring the schema up to date. */
static int migrate_db(const char *db, bool create, int *applied, struct err *e)
{
	struct db *conn = NULL;
	if (!create && is_sqlite_path(db) && access(db, F_OK) != 0)
		return err_set(e, ERR_NOT_FOUND, "db", "数据库“%s”不存在，请先运行 yiqiban init",
			       "database '%s' does not exist; run 'yiqiban init' first", db);
	int rc = db_open(db, create ? DB_OPEN_CREATE : 0, &conn, e);
	if (!rc)
		rc = migrate_up(conn, applied, e);
	db_close(conn);
	return rc;
}

int cli_open_pool(const char *db, struct db_pool **out, struct err *e)
{
	int applied = 0;
	int rc = migrate_db(db, false, &applied, e);
	if (rc)
		return rc;
	if (applied)
		fprintf(stderr, "yiqiban: applied %d migration(s) to %s\n", applied, db);
	return db_pool_open(db, NULL, out, e);
}

/* Options shared by most commands. */
struct common {
	const char *db;
	const char *tenant;
};

static int parse_common(int argc, char **argv, struct common *c, const struct option *extra,
			int (*on_extra)(int opt, const char *arg, void *ctx), void *ctx)
{
	struct option opts[16];
	int n = 0;
	opts[n++] = (struct option){"db", required_argument, 0, 'd'};
	opts[n++] = (struct option){"tenant", required_argument, 0, 'T'};
	for (const struct option *o = extra; o && o->name && n < 15; o++)
		opts[n++] = *o;
	opts[n] = (struct option){0, 0, 0, 0};
	if (!c->db)
		c->db = "yiqiban.db";
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			c->db = optarg;
		else if (ch == 'T')
			c->tenant = optarg;
		else if (ch == '?' || !on_extra || on_extra(ch, optarg, ctx))
			return -1;
	}
	return 0;
}

static void system_actor(struct actor *a, int64_t tenant)
{
	memset(a, 0, sizeof *a);
	a->tenant_id = tenant;
	snprintf(a->login, sizeof a->login, "system");
	snprintf(a->request_id, sizeof a->request_id, "cli");
	a->roles = 1u << ROLE_ADMIN;
}

/* ---- init ---- */

struct init_opts {
	const char *name, *region, *admin;
};

static int init_extra(int opt, const char *arg, void *ctx)
{
	struct init_opts *o = ctx;
	if (opt == 'n')
		o->name = arg;
	else if (opt == 'r')
		o->region = arg;
	else if (opt == 'a')
		o->admin = arg;
	else
		return -1;
	return 0;
}

int cmd_init(int argc, char **argv)
{
	static const struct option extra[] = {{"tenant-name", required_argument, 0, 'n'},
					      {"region", required_argument, 0, 'r'},
					      {"admin", required_argument, 0, 'a'},
					      {0, 0, 0, 0}};
	struct common c = {0};
	struct init_opts o = {"二七区", "410103", "admin"};
	struct db_pool *pool = NULL;
	struct err e;
	int applied = 0, status = 1;
	char otp[24], hash[PASSWORD_HASH_MAX];

	if (parse_common(argc, argv, &c, extra, init_extra, &o) || optind != argc) {
		fprintf(stderr, "yiqiban init: bad arguments; see 'yiqiban help init'\n");
		return 2;
	}
	if (!c.tenant)
		c.tenant = "erqi";
	err_clear(&e);
	if (migrate_db(c.db, true, &applied, &e) || db_pool_open(c.db, NULL, &pool, &e))
		goto fail;
	struct tenant_new t = {c.tenant, o.name, o.region, 0};
	if (db_pool_write(pool, tenant_create, &t, &e)) {
		if (e.code == ERR_CONFLICT)
			err_set(&e, ERR_CONFLICT, "tenant", "辖区“%s”已初始化",
				"tenant '%s' is already initialised", c.tenant);
		goto fail;
	}
	struct actor sys;
	system_actor(&sys, t.id);
	struct workcal_seed seed = {.who = &sys, .tenant_id = t.id, .now = now_ms()};
	if (db_pool_write(pool, workcal_seed, &seed, &e))
		goto fail;
	password_generate(otp);
	if (password_hash(otp, hash, &e))
		goto fail;
	struct user_write w = {.who = &sys, .tenant_id = t.id, .login = o.admin,
			       .display_name = "系统管理员", .set_roles = true,
			       .roles = 1u << ROLE_ADMIN, .password_hash = hash,
			       .must_change_password = true, .now = now_ms()};
	if (db_pool_write(pool, user_create, &w, &e))
		goto fail;
	printf("database:   %s (schema version %d)\n", c.db, migrate_latest());
	printf("tenant:     %s (%s, id %" PRId64 ")\n", c.tenant, o.name, t.id);
	printf("calendar:   %d built-in holiday year(s) loaded\n", seed.loaded);
	printf("admin:      %s\n", o.admin);
	printf("password:   %s   (one-time: change it at first login)\n", otp);
	status = 0;
	goto out;
fail:
	cli_error(&e);
out:
	db_pool_free(pool);
	return status;
}

int cmd_migrate(int argc, char **argv)
{
	struct common c = {0};
	struct err e;
	int applied = 0;
	if (parse_common(argc, argv, &c, NULL, NULL, NULL) || optind != argc) {
		fprintf(stderr, "usage: yiqiban migrate [--db PATH]\n");
		return 2;
	}
	err_clear(&e);
	if (migrate_db(c.db, false, &applied, &e)) {
		cli_error(&e);
		return 1;
	}
	printf("applied %d migration(s); schema version %d\n", applied, migrate_latest());
	return 0;
}

/* ---- user ---- */

struct user_opts {
	const char *name, *roles, *dept;
	bool password_stdin;
};

static int user_extra(int opt, const char *arg, void *ctx)
{
	struct user_opts *o = ctx;
	switch (opt) {
	case 'n': o->name = arg; return 0;
	case 'r': o->roles = arg; return 0;
	case 'D': o->dept = arg; return 0;
	case 'p': o->password_stdin = true; return 0;
	}
	return -1;
}

static int read_password(char *out, size_t n, struct err *e)
{
	if (!fgets(out, (int)n, stdin))
		return err_set(e, ERR_BAD_REQUEST, "password", "无法从标准输入读取密码",
			       "cannot read the password from standard input");
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int parse_role_list(const char *list, unsigned *roles, struct err *e)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", list);
	*roles = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int r = role_from_code(tok);
		if (r < 0)
			return err_set(e, ERR_UNPROCESSABLE, "role", "未知角色“%s”",
				       "unknown role '%s'", tok);
		*roles |= 1u << r;
	}
	return 0;
}

static int print_user(const struct user *u, void *ctx)
{
	(void)ctx;
	const char *codes[ROLE__COUNT];
	int n = roles_to_codes(u->roles, codes, ROLE__COUNT);
	printf("%-6" PRId64 " %-20s %-10s %-16s ", u->id, u->login, u->status, u->dept_name);
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", codes[i]);
	printf("  %s\n", u->display_name);
	return 0;
}

int cmd_user(int argc, char **argv)
{
	static const struct option extra[] = {{"name", required_argument, 0, 'n'},
					      {"role", required_argument, 0, 'r'},
					      {"dept", required_argument, 0, 'D'},
					      {"password-stdin", no_argument, 0, 'p'},
					      {0, 0, 0, 0}};
	struct common c = {0};
	struct user_opts o = {0};
	struct db_pool *pool = NULL;
	struct err e;
	int status = 1;
	char pw[160] = "", hash[PASSWORD_HASH_MAX];

	if (argc < 2) {
		fprintf(stderr, "yiqiban user: give a subcommand: add, passwd, disable, enable, list\n");
		return 2;
	}
	const char *sub = argv[1];
	if (parse_common(argc - 1, argv + 1, &c, extra, user_extra, &o))
		return 2;
	const char *login = optind < argc - 1 ? argv[optind + 1] : NULL;
	err_clear(&e);
	if (cli_open_pool(c.db, &pool, &e))
		goto fail;
	struct db *rdb = db_pool_reader(pool, &e);
	int64_t tenant;
	if (!rdb || tenant_resolve(rdb, c.tenant, &tenant, &e))
		goto fail;
	struct actor sys;
	system_actor(&sys, tenant);

	if (strcmp(sub, "list") == 0) {
		struct user_filter f = {.role = -1, .limit = INT64_MAX};
		status = user_list(rdb, &sys, SCOPE_ALL, &f, print_user, NULL, &e) ? 1 : 0;
		if (status)
			goto fail;
		goto out;
	}
	if (!login) {
		fprintf(stderr, "yiqiban user %s: give the LOGIN\n", sub);
		status = 2;
		goto out;
	}
	struct user_write w = {.who = &sys, .tenant_id = tenant, .now = now_ms()};
	if (strcmp(sub, "add") == 0) {
		if (!o.name) {
			fprintf(stderr, "yiqiban user add: --name is required\n");
			status = 2;
			goto out;
		}
		w.login = login;
		w.display_name = o.name;
		if (o.roles && parse_role_list(o.roles, &w.roles, &e))
			goto fail;
		w.set_roles = true;
		if (o.dept) {
			if (dept_id_by_code(rdb, tenant, o.dept, &w.department_id, &e))
				goto fail;
			w.set_department = true;
		}
	} else if (strcmp(sub, "passwd") != 0 && strcmp(sub, "disable") != 0 &&
		   strcmp(sub, "enable") != 0) {
		fprintf(stderr, "yiqiban user: unknown subcommand '%s'\n", sub);
		status = 2;
		goto out;
	}
	if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0) {
		if (o.password_stdin) {
			if (read_password(pw, sizeof pw, &e) || password_check_policy(pw, login, &e))
				goto fail;
		} else {
			password_generate(pw);
			w.must_change_password = true;
		}
		if (password_hash(pw, hash, &e))
			goto fail;
		w.password_hash = hash;
	}
	if (strcmp(sub, "add") == 0) {
		if (db_pool_write(pool, user_create, &w, &e))
			goto fail;
		printf("created user %s (id %" PRId64 ")\n", login, w.id);
	} else {
		struct user u;
		if (user_get_by_login(rdb, tenant, login, &u, &e))
			goto fail;
		w.id = u.id;
		if (strcmp(sub, "passwd") == 0) {
			if (db_pool_write(pool, user_set_password, &w, &e))
				goto fail;
			printf("password of %s changed; sessions revoked\n", login);
		} else {
			w.status = strcmp(sub, "disable") == 0 ? "disabled" : "active";
			w.unlock = strcmp(sub, "enable") == 0;
			if (db_pool_write(pool, user_update, &w, &e))
				goto fail;
			printf("user %s %sd\n", login, sub);
		}
	}
	if (w.must_change_password)
		printf("one-time password: %s\n", pw);
	status = 0;
	goto out;
fail:
	cli_error(&e);
	status = 1;
out:
	db_pool_free(pool);
	return status;
}

/* ---- audit, backup, routes, version ---- */

int cmd_audit(int argc, char **argv)
{
	struct common c = {0};
	struct db *db = NULL;
	struct err e;
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		fprintf(stderr, "usage: yiqiban audit verify [--db PATH]\n");
		return 2;
	}
	if (parse_common(argc - 1, argv + 1, &c, NULL, NULL, NULL) || optind != argc - 1) {
		fprintf(stderr, "usage: yiqiban audit verify [--db PATH]\n");
		return 2;
	}
	err_clear(&e);
	if (is_sqlite_path(c.db) && access(c.db, F_OK) != 0) {
		err_set(&e, ERR_NOT_FOUND, "db", "数据库“%s”不存在", "database '%s' does not exist",
			c.db);
		cli_error(&e);
		return 1;
	}
	int64_t rows;
	int bad;
	struct audit_problem p;
	if (db_open(c.db, DB_OPEN_READONLY, &db, &e) || audit_verify(db, 0, &rows, &bad, &p, &e)) {
		cli_error(&e);
		db_close(db);
		return 1;
	}
	db_close(db);
	if (bad) {
		printf("audit log BROKEN at tenant %" PRId64 " seq %" PRId64 ": %s\n", p.tenant_id,
		       p.seq, p.what);
		printf("审计日志被篡改：辖区 %" PRId64 " 第 %" PRId64 " 条\n", p.tenant_id, p.seq);
		return 1;
	}
	printf("audit log intact: %" PRId64 " rows verified\n", rows);
	return 0;
}

int cmd_backup(int argc, char **argv)
{
	struct common c = {0};
	struct db *db = NULL;
	struct err e;
	bool ok = false;
	if (parse_common(argc, argv, &c, NULL, NULL, NULL) || optind != argc - 1) {
		fprintf(stderr, "usage: yiqiban backup [--db PATH] DEST\n");
		return 2;
	}
	const char *dest = argv[optind];
	err_clear(&e);
	if (is_sqlite_path(c.db) && access(c.db, F_OK) != 0) {
		err_set(&e, ERR_NOT_FOUND, "db", "数据库“%s”不存在", "database '%s' does not exist",
			c.db);
		goto fail;
	}
	if (db_open(c.db, DB_OPEN_READONLY, &db, &e) || db_backup(db, dest, &e))
		goto fail;
	db_close(db);
	db = NULL;
	if (db_open(dest, DB_OPEN_READONLY, &db, &e) || db_check(db, &ok, &e))
		goto fail;
	if (!ok)
		goto fail;
	db_close(db);
	struct stat sb;
	printf("backup written to %s (%lld bytes), integrity ok\n", dest,
	       stat(dest, &sb) == 0 ? (long long)sb.st_size : -1LL);
	return 0;
fail:
	cli_error(&e);
	db_close(db);
	return 1;
}

int cmd_routes(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	size_t n;
	const struct route *rt = routes_all(&n);
	for (size_t i = 0; i < n; i++)
		printf("%-7s %-40s %-16s %s\n", rt[i].method, rt[i].pattern, perm_name(rt[i].perm),
		       rt[i].summary);
	return 0;
}

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("yiqiban %s (schema %d)\n", YIQIBAN_VERSION, migrate_latest());
	return 0;
}
