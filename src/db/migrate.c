/*
 * migrate.c — apply the numbered migrations of sql/ (see migrate.h).
 *
 * The version lives in schema_version, one row per applied migration. Each
 * migration runs in its own write transaction together with its row, and
 * the current version is read again inside that transaction, so two
 * processes migrating the same database at once apply each migration once.
 * Dialect words (@WORD@) are replaced through db_ops.dialect outside string
 * literals and comments. Lines between "-- @only NAME" and "-- @end" are kept
 * only for the backend called NAME (e.g. SQLite's FTS5 tables and triggers).
 */
#include "db/migrate.h"

#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "db/db.h"

#include "base/banned.h"

#define SCHEMA_SQL                                                                           \
	"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "           \
	"name TEXT NOT NULL, applied_at BIGINT NOT NULL)"

static bool word_start(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool word_char(char c)
{
	return word_start(c) || (c >= '0' && c <= '9');
}

/* Length of the literal or comment starting at p, 0 if none starts there. */
static size_t quoted_len(const char *p)
{
	const char *end;

	if (*p == '\'' || *p == '"') {
		end = strchr(p + 1, *p);
		return end ? (size_t)(end - p) + 1 : strlen(p);
	}
	if (p[0] == '-' && p[1] == '-') {
		end = strchr(p, '\n');
		return end ? (size_t)(end - p) + 1 : strlen(p);
	}
	if (p[0] == '/' && p[1] == '*') {
		end = strstr(p + 2, "*/");
		return end ? (size_t)(end - p) + 2 : strlen(p);
	}
	return 0;
}

/* Copy sql into out with every @WORD@ replaced by the backend's text. */
static int substitute(const struct db_ops *ops, const struct migration *m, struct buf *out,
		      struct err *e)
{
	const char *p = m->sql;

	buf_reset(out);
	while (*p) {
		size_t n = quoted_len(p);
		/* "-- @only NAME" ... "-- @end": lines for one backend only */
		if (n && strncmp(p, "-- @only ", 9) == 0) {
			size_t nl = strlen(ops->name);
			bool mine = strncmp(p + 9, ops->name, nl) == 0 &&
				    (p[9 + nl] == '\n' || p[9 + nl] == ' ' || p[9 + nl] == '\0');
			const char *end = strstr(p, "\n-- @end");
			if (!end)
				return err_set(e, ERR_INTERNAL, NULL, "迁移 %d（%s）中 @only 缺少 @end",
					       "migration %d (%s): '-- @only' without '-- @end'",
					       m->version, m->name);
			if (mine) {
				p += n; /* keep the body, drop the marker lines */
				buf_add(out, p, (size_t)(end + 1 - p));
			}
			p = end + 1;
			p += quoted_len(p);
			continue;
		}
		if (n) {
			buf_add(out, p, n);
			p += n;
			continue;
		}
		if (p[0] == '@' && word_start(p[1])) {
			char word[64];
			const char *w = p + 1;
			size_t len = 0;
			while (word_char(w[len]))
				len++;
			if (w[len] == '@' && len < sizeof word) {
				const char *text;
				memcpy(word, w, len);
				word[len] = '\0';
				text = ops->dialect(word);
				if (!text)
					return err_set(e, ERR_INTERNAL, NULL,
						       "迁移 %d（%s）中有未知的方言词 '@%s@'",
						       "migration %d (%s): unknown dialect word '@%s@'",
						       m->version, m->name, word);
				buf_adds(out, text);
				p = w + len + 1;
				continue;
			}
		}
		buf_addc(out, *p++);
	}
	return 0;
}

static int check_list(const struct migration *list, struct err *e)
{
	int prev = 0;

	for (const struct migration *m = list; m->version; m++) {
		if (m->version < 0 || m->version <= prev || !m->name || !m->sql)
			return err_set(e, ERR_INTERNAL, NULL, "迁移列表在版本 %d 处无效",
				       "migration list is invalid at version %d", m->version);
		prev = m->version;
	}
	return 0;
}

static int read_version(struct db *db, int *version, struct err *e)
{
	int64_t v = 0;
	int rc;

	rc = db_query_i64(db, &v, e, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
			  NULL);
	*version = rc == 0 ? (int)v : 0;
	return rc;
}

/* Apply one migration in its own transaction; *done tells whether it ran. */
static int apply_one(struct db *db, const struct migration *m, const char *sql, bool *done,
		     struct err *e)
{
	struct err me;
	int cur, rc;

	*done = false;
	rc = db_begin(db, true, e);
	if (rc < 0)
		return rc;
	rc = read_version(db, &cur, e);
	if (rc < 0)
		goto out_rollback;
	if (cur >= m->version) /* applied meanwhile by another process */
		goto out_rollback;
	err_clear(&me);
	rc = db_exec(db, sql, &me);
	if (rc < 0) {
		/* each format prints its own language's message and skips the other (%.0s) */
		err_set(e, rc, me.field, "迁移 %d（%s）失败：%s%.0s",
			"migration %d (%s) failed: %.0s%s", m->version, m->name, me.message_zh,
			me.message);
		goto out_rollback;
	}
	rc = db_execf(db, e,
		      "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
		      "iti", (int64_t)m->version, m->name, now_ms());
	if (rc < 0)
		goto out_rollback;
	rc = db_commit(db, e);
	if (rc < 0)
		goto out_rollback;
	*done = true;
	return 0;

out_rollback:
	db_rollback(db);
	return rc;
}

int migrate_apply(struct db *db, const struct migration *list, int *applied, struct err *e)
{
	struct buf sql;
	int n = 0, cur, rc;

	buf_init(&sql, 0);
	rc = check_list(list, e);
	if (rc < 0)
		goto out;
	rc = db_exec(db, SCHEMA_SQL, e);
	if (rc < 0)
		goto out;
	rc = read_version(db, &cur, e);
	if (rc < 0)
		goto out;
	for (const struct migration *m = list; m->version; m++) {
		bool done;
		if (m->version <= cur)
			continue;
		rc = substitute(db->ops, m, &sql, e);
		if (rc < 0)
			goto out;
		rc = apply_one(db, m, sql.p, &done, e);
		if (rc < 0)
			goto out;
		n += done;
	}
out:
	buf_release(&sql);
	if (applied)
		*applied = n;
	return rc;
}

int migrate_up(struct db *db, int *applied, struct err *e)
{
	return migrate_apply(db, migrations, applied, e);
}

int migrate_version(struct db *db, int *version, struct err *e)
{
	const char *has_table = db->ops->dialect("SQL_HAS_TABLE");
	int64_t n = 0;
	int rc;

	*version = 0;
	if (!has_table)
		return err_set(e, ERR_INTERNAL, NULL, "后端 '%s' 无法检查表是否存在",
			       "backend '%s' cannot tell whether a table exists", db->ops->name);
	rc = db_query_i64(db, &n, e, has_table, "t", "schema_version");
	if (rc < 0 || n == 0)
		return rc;
	return read_version(db, version, e);
}

int migrate_latest(void)
{
	int v = 0;

	for (const struct migration *m = migrations; m->version; m++)
		if (m->version > v)
			v = m->version;
	return v;
}
