/* tenant.c — see tenant.h. */
#include "core/tenant.h"

#include <string.h>

#include "base/util.h"
#include "core/audit.h"
#include "db/db.h"
#include "base/banned.h"

int tenant_create(struct db *db, void *arg, struct err *e)
{
	struct tenant_new *t = arg;
	struct db_stmt *st = NULL;
	size_t n = strlen(t->code);
	bool ok = n >= 2 && n <= 32;
	for (size_t i = 0; ok && i < n; i++)
		ok = (t->code[i] >= 'a' && t->code[i] <= 'z') || (t->code[i] >= '0' && t->code[i] <= '9') ||
		     t->code[i] == '_' || t->code[i] == '-';
	if (!ok)
		return err_set(e, ERR_UNPROCESSABLE, "tenant", "辖区代码应为 2 到 32 个小写字母、数字、_ 或 -",
			       "tenant code must be 2 to 32 of a-z, 0-9, _ and -");
	if (!t->name || !*t->name)
		return err_set(e, ERR_UNPROCESSABLE, "tenant_name", "辖区名称不能为空",
			       "tenant name must not be empty");
	int rc = db_queryf(db, &st, e,
			   "INSERT INTO tenants (code, name, region_code, created_at) "
			   "VALUES ($1, $2, $3, $4) RETURNING id",
			   "ttti", t->code, t->name, t->region_code ? t->region_code : "", now_ms());
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		t->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	json_t *sum = json_pack("{s:s,s:s}", "code", t->code, "name", t->name);
	rc = audit_append(db, NULL, t->id, "tenant", t->id, "create", sum, e);
	json_decref(sum);
	return rc;
}

int tenant_resolve(struct db *db, const char *code, int64_t *tenant_id, struct err *e)
{
	int rc;
	if (code && *code) {
		rc = db_query_i64(db, tenant_id, e, "SELECT id FROM tenants WHERE code = $1", "t",
				  code);
		if (rc == ERR_NOT_FOUND)
			return err_set(e, ERR_NOT_FOUND, "tenant", "找不到辖区“%s”",
				       "no tenant '%s'", code);
		return rc;
	}
	int64_t n = 0;
	rc = tenant_count(db, &n, e);
	if (rc)
		return rc;
	if (n != 1)
		return err_set(e, ERR_BAD_REQUEST, "tenant", "请指定辖区代码",
			       "more than one tenant: give the tenant code");
	return db_query_i64(db, tenant_id, e, "SELECT id FROM tenants", "");
}


int tenant_count(struct db *db, int64_t *n, struct err *e)
{
	return db_query_i64(db, n, e, "SELECT COUNT(*) FROM tenants", "");
}
