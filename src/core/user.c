/*
 * user.c — user accounts, roles and passwords (see user.h).
 */
#include "core/user.h"

#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "core/audit.h"
#include "core/session.h"
#include "db/db.h"
#include "base/banned.h"

int password_check_policy(const char *pw, const char *login, struct err *e)
{
	size_t n = strlen(pw);
	int lower = 0, upper = 0, digit = 0, other = 0;
	if (!utf8_valid(pw, n))
		return err_set(e, ERR_BAD_REQUEST, "password", "密码不是有效的 UTF-8",
			       "password is not valid UTF-8");
	if (utf8_len(pw, n) < 8)
		return err_set(e, ERR_UNPROCESSABLE, "password", "密码至少需要 8 个字符",
			       "password must have at least 8 characters");
	if (n > 128)
		return err_set(e, ERR_UNPROCESSABLE, "password", "密码不能超过 128 字节",
			       "password must not exceed 128 bytes");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];
		if (c >= 'a' && c <= 'z')
			lower = 1;
		else if (c >= 'A' && c <= 'Z')
			upper = 1;
		else if (c >= '0' && c <= '9')
			digit = 1;
		else
			other = 1;
	}
	if (lower + upper + digit + other < 3)
		return err_set(e, ERR_UNPROCESSABLE, "password",
			       "密码需包含小写字母、大写字母、数字、其他字符中的至少三类",
			       "password needs three of: lower-case, upper-case, digits, other "
			       "characters");
	if (login && strcasecmp(pw, login) == 0)
		return err_set(e, ERR_UNPROCESSABLE, "password", "密码不能与登录名相同",
			       "password must not equal the login name");
	return 0;
}

int password_hash(const char *pw, char out[PASSWORD_HASH_MAX], struct err *e)
{
	_Static_assert(PASSWORD_HASH_MAX >= crypto_pwhash_STRBYTES, "hash buffer too small");
	if (crypto_pwhash_str_alg(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13))
		return err_set(e, ERR_INTERNAL, NULL, "密码哈希失败（内存不足）",
			       "password hashing failed (out of memory)");
	return 0;
}

bool password_verify(const char *hash, const char *pw)
{
	if (!hash || !*hash)
		return false;
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

void password_generate(char out[24])
{
	char tok[16];
	random_token(tok, sizeof tok, 9);
	snprintf(out, 24, "Yq%s7!", tok);
}

int user_check_login(const char *login, struct err *e)
{
	size_t n = strlen(login);
	if (n < 3 || n > 32)
		return err_set(e, ERR_UNPROCESSABLE, "login", "登录名长度应为 3 到 32 个字符",
			       "login must have 3 to 32 characters");
	for (size_t i = 0; i < n; i++) {
		char c = login[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  (i > 0 && (c == '.' || c == '_' || c == '-'));
		if (!ok)
			return err_set(e, ERR_UNPROCESSABLE, "login",
				       "登录名只能包含小写字母、数字和 . _ -，且以字母或数字开头",
				       "login may contain only a-z, 0-9 and . _ - and must start "
				       "with a letter or digit");
	}
	return 0;
}

int roles_to_codes(unsigned roles, const char **codes, int max)
{
	int n = 0;
	for (int r = 0; r < ROLE__COUNT && n < max; r++)
		if ((roles >> r) & 1u)
			codes[n++] = role_info((enum role)r)->code;
	return n;
}

static json_t *roles_json(unsigned roles)
{
	json_t *a = json_array();
	const char *codes[ROLE__COUNT];
	int n = roles_to_codes(roles, codes, ROLE__COUNT);
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(codes[i]));
	return a;
}

static int check_fields(struct db *db, const struct user_write *w, struct err *e)
{
	if (w->display_name && (!*w->display_name || utf8_len(w->display_name,
							      strlen(w->display_name)) > 64))
		return err_set(e, ERR_UNPROCESSABLE, "display_name", "姓名应为 1 到 64 个字符",
			       "display_name must have 1 to 64 characters");
	if (w->phone && *w->phone) {
		size_t n = strlen(w->phone);
		bool ok = n >= 5 && n <= 20;
		for (size_t i = 0; ok && i < n; i++)
			ok = isdigit((unsigned char)w->phone[i]) || (i == 0 && w->phone[i] == '+') ||
			     w->phone[i] == '-';
		if (!ok)
			return err_set(e, ERR_UNPROCESSABLE, "phone", "电话号码格式不正确",
				       "phone must be 5 to 20 digits (may start with + and contain -)");
	}
	if (w->email && *w->email) {
		const char *at = strchr(w->email, '@');
		if (!at || at == w->email || !strchr(at, '.') || strlen(w->email) > 100 ||
		    strchr(w->email, ' '))
			return err_set(e, ERR_UNPROCESSABLE, "email", "电子邮箱格式不正确",
				       "email is not a valid address");
	}
	if (w->status && strcmp(w->status, "active") != 0 && strcmp(w->status, "disabled") != 0)
		return err_set(e, ERR_UNPROCESSABLE, "status", "状态应为 active 或 disabled",
			       "status must be 'active' or 'disabled'");
	if (w->set_enterprise && w->enterprise_id) {
		int64_t ok = 0;
		int rc = db_query_i64(db, &ok, e,
				      "SELECT COUNT(*) FROM enterprises WHERE tenant_id = $1 AND id = $2",
				      "ii", w->tenant_id, w->enterprise_id);
		if (rc)
			return rc;
		if (!ok)
			return err_set(e, ERR_UNPROCESSABLE, "enterprise_id", "企业 %" PRId64 " 不存在",
				       "enterprise %" PRId64 " does not exist", w->enterprise_id);
	}
	if (w->set_department && w->department_id) {
		int64_t ok = 0;
		int rc = db_query_i64(db, &ok, e,
				      "SELECT COUNT(*) FROM departments WHERE tenant_id = $1 AND id = $2 "
				      "AND active = 1",
				      "ii", w->tenant_id, w->department_id);
		if (rc)
			return rc;
		if (!ok)
			return err_set(e, ERR_UNPROCESSABLE, "department_id", "部门 %" PRId64 " 不存在",
				       "department %" PRId64 " does not exist", w->department_id);
	}
	return 0;
}

static int write_roles(struct db *db, int64_t tenant, int64_t user, unsigned roles, struct err *e)
{
	int rc = db_execf(db, e, "DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2",
			  "ii", tenant, user);
	for (int r = 0; !rc && r < ROLE__COUNT; r++)
		if ((roles >> r) & 1u)
			rc = db_execf(db, e,
				      "INSERT INTO user_roles (tenant_id, user_id, role) VALUES ($1, $2, $3)",
				      "iit", tenant, user, role_info((enum role)r)->code);
	return rc;
}

int user_create(struct db *db, void *arg, struct err *e)
{
	struct user_write *w = arg;
	struct db_stmt *st = NULL;
	int rc;

	if (!w->login || !w->display_name || !w->password_hash)
		return err_set(e, ERR_BAD_REQUEST, !w->login ? "login" : !w->display_name ? "display_name" : "password",
			       "缺少必填字段", "missing required field");
	rc = user_check_login(w->login, e);
	if (!rc)
		rc = check_fields(db, w, e);
	if (rc)
		return rc;
	rc = db_queryf(db, &st, e,
		       "INSERT INTO users (tenant_id, login, display_name, phone, email, department_id, "
		       "password_hash, status, must_change_password, password_changed_at, created_at, "
		       "updated_at, enterprise_id) "
		       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $11) RETURNING id",
		       "ittttIttiiI", w->tenant_id, w->login, w->display_name,
		       w->phone ? w->phone : "", w->email ? w->email : "",
		       w->set_department ? w->department_id : 0, w->password_hash,
		       w->status ? w->status : "active", (int64_t)w->must_change_password, w->now,
		       w->set_enterprise ? w->enterprise_id : 0);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		w->id = db_column_int64(st, 0);
	db_finalize(st);
	if (rc < 0)
		return rc;
	rc = write_roles(db, w->tenant_id, w->id, w->roles, e);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:s,s:s,s:I,s:I,s:o}", "login", w->login, "display_name",
				w->display_name, "department_id",
				(json_int_t)(w->set_department ? w->department_id : 0), "enterprise_id",
				(json_int_t)(w->set_enterprise ? w->enterprise_id : 0), "roles",
				roles_json(w->roles));
	rc = audit_append(db, w->who, w->tenant_id, "user", w->id, "create", sum, e);
	json_decref(sum);
	return rc;
}

#define USER_COLS                                                                          \
	"u.id, u.tenant_id, u.login, u.display_name, u.phone, u.email, u.department_id, "  \
	"d.name, d.path, u.status, u.must_change_password, u.locked_until, u.last_login_at, " \
	"u.created_at, u.updated_at, u.enterprise_id"
#define USER_FROM " FROM users u LEFT JOIN departments d ON d.id = u.department_id "

static void read_user(struct db_stmt *st, struct user *u)
{
	memset(u, 0, sizeof *u);
	u->id = db_column_int64(st, 0);
	u->tenant_id = db_column_int64(st, 1);
	snprintf(u->login, sizeof u->login, "%s", db_column_text(st, 2));
	snprintf(u->display_name, sizeof u->display_name, "%s", db_column_text(st, 3));
	snprintf(u->phone, sizeof u->phone, "%s", db_column_text(st, 4));
	snprintf(u->email, sizeof u->email, "%s", db_column_text(st, 5));
	u->department_id = db_column_is_null(st, 6) ? 0 : db_column_int64(st, 6);
	snprintf(u->dept_name, sizeof u->dept_name, "%s", db_column_text(st, 7));
	snprintf(u->dept_path, sizeof u->dept_path, "%s", db_column_text(st, 8));
	snprintf(u->status, sizeof u->status, "%s", db_column_text(st, 9));
	u->must_change_password = db_column_int64(st, 10) != 0;
	u->locked_until = db_column_int64(st, 11);
	u->last_login_at = db_column_int64(st, 12);
	u->created_at = db_column_int64(st, 13);
	u->updated_at = db_column_int64(st, 14);
	u->enterprise_id = db_column_is_null(st, 15) ? 0 : db_column_int64(st, 15);
}

static int fetch_roles(struct db *db, struct user *u, struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT role FROM user_roles WHERE tenant_id = $1 AND user_id = $2", "ii",
			   u->tenant_id, u->id);
	if (rc)
		return rc;
	u->roles = 0;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int r = role_from_code(db_column_text(st, 0));
		if (r >= 0)
			u->roles |= 1u << r;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static int get_one(struct db *db, struct user *out, struct err *e, const char *where,
		   const char *types, int64_t tenant, int64_t id, const char *login)
{
	struct db_stmt *st = NULL;
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT " USER_COLS USER_FROM "WHERE %s", where);
	int rc = login ? db_queryf(db, &st, e, sql, types, tenant, login)
		       : db_queryf(db, &st, e, sql, types, tenant, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		read_user(st, out);
	db_finalize(st);
	if (rc < 0)
		return rc;
	if (rc == DB_DONE)
		return err_set(e, ERR_NOT_FOUND, login ? "login" : "id", "找不到该用户",
			       "no such user");
	return fetch_roles(db, out, e);
}

int user_get(struct db *db, int64_t tenant_id, int64_t id, struct user *out, struct err *e)
{
	return get_one(db, out, e, "u.tenant_id = $1 AND u.id = $2", "ii", tenant_id, id, NULL);
}

int user_get_by_login(struct db *db, int64_t tenant_id, const char *login, struct user *out,
		      struct err *e)
{
	return get_one(db, out, e, "u.tenant_id = $1 AND u.login = $2", "it", tenant_id, 0, login);
}

static void change(json_t *sum, const char *field, const char *old, const char *new_)
{
	if (new_ && strcmp(old, new_) != 0)
		json_object_set_new(sum, field, json_pack("[s,s]", old, new_));
}

int user_update(struct db *db, void *arg, struct err *e)
{
	struct user_write *w = arg;
	struct user old;
	json_t *sum = NULL;
	int rc = user_get(db, w->tenant_id, w->id, &old, e);
	if (rc)
		return rc;
	rc = check_fields(db, w, e);
	if (rc)
		return rc;
	if (w->who && w->who->user_id == w->id && w->status && strcmp(w->status, "disabled") == 0)
		return err_set(e, ERR_UNPROCESSABLE, "status", "不能停用自己的账号",
			       "you cannot disable your own account");
	if (w->who && w->who->user_id == w->id && w->set_roles &&
	    (old.roles & (1u << ROLE_ADMIN)) && !(w->roles & (1u << ROLE_ADMIN)))
		return err_set(e, ERR_UNPROCESSABLE, "roles", "不能移除自己的管理员角色",
			       "you cannot remove your own admin role");

	/* sessions carry their user's name, roles, department, status */
	if ((rc = session_changed(db, e)))
		return rc;
	rc = db_execf(db, e,
		      "UPDATE users SET display_name = $1, phone = $2, email = $3, department_id = $4, "
		      "status = $5, failed_logins = CASE WHEN $6 = 1 THEN 0 ELSE failed_logins END, "
		      "locked_until = CASE WHEN $6 = 1 THEN 0 ELSE locked_until END, updated_at = $7, "
		      "enterprise_id = $10 WHERE tenant_id = $8 AND id = $9",
		      "tttItiiiiI", w->display_name ? w->display_name : old.display_name,
		      w->phone ? w->phone : old.phone, w->email ? w->email : old.email,
		      w->set_department ? w->department_id : old.department_id,
		      w->status ? w->status : old.status, (int64_t)w->unlock, w->now, w->tenant_id,
		      w->id, w->set_enterprise ? w->enterprise_id : old.enterprise_id);
	if (rc)
		return rc;
	sum = json_object();
	change(sum, "display_name", old.display_name, w->display_name);
	change(sum, "phone", old.phone, w->phone);
	change(sum, "email", old.email, w->email);
	change(sum, "status", old.status, w->status);
	if (w->set_enterprise && w->enterprise_id != old.enterprise_id)
		json_object_set_new(sum, "enterprise_id",
				    json_pack("[I,I]", (json_int_t)old.enterprise_id,
					      (json_int_t)w->enterprise_id));
	if (w->set_department && w->department_id != old.department_id)
		json_object_set_new(sum, "department_id",
				    json_pack("[I,I]", (json_int_t)old.department_id,
					      (json_int_t)w->department_id));
	if (w->set_roles && w->roles != old.roles) {
		rc = write_roles(db, w->tenant_id, w->id, w->roles, e);
		if (rc)
			goto out;
		json_object_set_new(sum, "roles",
				    json_pack("[o,o]", roles_json(old.roles), roles_json(w->roles)));
	}
	if (w->unlock)
		json_object_set_new(sum, "unlock", json_true());
	if (w->status && strcmp(w->status, "disabled") == 0 && strcmp(old.status, "disabled") != 0) {
		rc = session_revoke_user(db, w->tenant_id, w->id, 0, w->now, e);
		if (rc)
			goto out;
	}
	if (json_object_size(sum))
		rc = audit_append(db, w->who, w->tenant_id, "user", w->id, "update", sum, e);
out:
	json_decref(sum);
	return rc;
}

int user_set_password(struct db *db, void *arg, struct err *e)
{
	struct user_write *w = arg;
	int rc = db_execf(db, e,
			  "UPDATE users SET password_hash = $1, must_change_password = $2, "
			  "password_changed_at = $3, updated_at = $3, failed_logins = 0, "
			  "locked_until = 0 WHERE tenant_id = $4 AND id = $5",
			  "tiiii", w->password_hash, (int64_t)w->must_change_password, w->now,
			  w->tenant_id, w->id);
	if (rc)
		return rc;
	if (db_changes(db) == 0)
		return err_set(e, ERR_NOT_FOUND, "id", "找不到该用户", "no such user");
	rc = session_revoke_user(db, w->tenant_id, w->id, w->keep_session, w->now, e);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:b}", "must_change_password", w->must_change_password);
	rc = audit_append(db, w->who, w->tenant_id, "user", w->id, "set_password", sum, e);
	json_decref(sum);
	return rc;
}

int user_list(struct db *db, const struct actor *who, enum scope scope,
	      const struct user_filter *f, int (*each)(const struct user *u, void *ctx),
	      void *ctx, struct err *e)
{
	static const struct scope_cols cols = {.dept = "u.department_id", .owner = "u.id"};
	struct buf sql;
	struct db_stmt *st = NULL;
	int rc;
	char like[160];

	buf_init(&sql, 4096);
	buf_adds(&sql, "SELECT " USER_COLS USER_FROM "WHERE u.tenant_id = $1 AND u.id > $2");
	if (scope_sql(who, scope, &cols, &sql))
		return err_set(e, ERR_INTERNAL, NULL, "查询过长", "query too long");
	/* Optional filters bind fixed parameter numbers; unused ones match everything. */
	buf_adds(&sql, " AND ($3 = '' OR u.login LIKE $3 ESCAPE '\\' OR u.display_name LIKE $3 ESCAPE '\\')"
		       " AND ($4 = 0 OR u.department_id = $4)"
		       " AND ($5 = '' OR u.status = $5)"
		       " AND ($6 = '' OR EXISTS (SELECT 1 FROM user_roles r WHERE r.tenant_id = u.tenant_id"
		       " AND r.user_id = u.id AND r.role = $6))"
		       " ORDER BY u.id LIMIT $7");
	like[0] = '\0';
	if (f->q && *f->q) {
		/* q is a plain substring: LIKE's own wildcards are escaped */
		db_like_contains(f->q, like, sizeof like);
	}
	const char *role = f->role >= 0 && f->role < ROLE__COUNT ? role_info((enum role)f->role)->code : "";
	rc = db_queryf(db, &st, e, sql.p, "iititti", who->tenant_id, f->after, like,
		       f->department_id, f->status ? f->status : "", role, f->limit);
	buf_release(&sql);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct user u;
		read_user(st, &u);
		rc = fetch_roles(db, &u, e);
		if (rc || each(&u, ctx))
			break;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}
