/*
 * import.c — enterprise import from CSV/XLSX, the error report, and exports
 * (see import.h for the rules).
 *
 * The reader callback (on_row) maps the header once, then converts each row
 * into a struct enterprise_input whose strings live in the batch's arena,
 * validates it, and queues it. A full batch is committed by one write job
 * (batch_job) that upserts each row in a nested savepoint, stores the
 * batch's row errors and adds the batch's counts to the run — all in the
 * same transaction. Duplicate credit codes are found with an open-addressing
 * hash set of the codes queued so far.
 */
#include "core/import.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "core/creditcode.h"
#include "core/enterprise.h"
#include "core/xlsx.h"
#include "db/db.h"
#include "base/banned.h"

/* ---- columns ---- */

enum field {
	F_CODE,
	F_NAME,
	F_KIND,
	F_LEGAL_REP,
	F_PHONE,
	F_ADDRESS,
	F_LAT,
	F_LON,
	F_SECTION,
	F_DIVISION,
	F_SIZE,
	F_REGISTERED,
	F_STATUS,
	F_KEY,
	F_TAGS,
	F__COUNT
};

/* Field name, the header an export writes, and every header recognised. */
static const struct {
	const char *field, *zh;
	const char *alias[8];
} fields[F__COUNT] = {
	[F_CODE] = {"credit_code", "统一社会信用代码",
		    {"统一社会信用代码", "社会信用代码", "信用代码", "credit_code", "uscc"}},
	[F_NAME] = {"name", "企业名称", {"企业名称", "名称", "主体名称", "企业名", "name"}},
	[F_KIND] = {"kind", "类型", {"类型", "主体类型", "市场主体类型", "kind"}},
	[F_LEGAL_REP] = {"legal_rep", "法定代表人",
			 {"法定代表人", "经营者", "负责人", "法定代表人/经营者", "法人", "legal_rep"}},
	[F_PHONE] = {"phone", "联系电话", {"联系电话", "电话", "手机", "联系方式", "phone"}},
	[F_ADDRESS] = {"address", "地址", {"地址", "住所", "经营场所", "住所/经营场所", "address"}},
	[F_LAT] = {"lat", "纬度", {"纬度", "lat", "latitude"}},
	[F_LON] = {"lon", "经度", {"经度", "lon", "lng", "longitude"}},
	[F_SECTION] = {"industry_section", "行业门类", {"行业门类", "门类", "industry_section"}},
	[F_DIVISION] = {"industry_division", "行业大类", {"行业大类", "大类", "industry_division"}},
	[F_SIZE] = {"size_class", "规模", {"规模", "企业规模", "size_class", "size"}},
	[F_REGISTERED] = {"registered_on", "成立日期",
			  {"成立日期", "登记日期", "注册日期", "registered_on"}},
	[F_STATUS] = {"status", "状态", {"状态", "登记状态", "经营状态", "status"}},
	[F_KEY] = {"is_key", "重点企业", {"重点企业", "是否重点企业", "is_key"}},
	[F_TAGS] = {"tags", "标签", {"标签", "tags"}},
};

/* Header text as compared: trimmed, ASCII lower case, ' ' and '-' as '_',
 * without a trailing required-marker '*' or a parenthesised note. */
static void header_key(const char *s, char *out, size_t n)
{
	size_t k = 0;
	for (; *s && k + 1 < n; s++) {
		if (strncmp(s, "（", 3) == 0 || *s == '(')
			break;
		char c = *s;
		if (c == ' ' || c == '-')
			c = '_';
		out[k++] = (char)tolower((unsigned char)c);
	}
	out[k] = '\0';
	for (;;) {
		if (k && (out[k - 1] == '_' || out[k - 1] == '*' || out[k - 1] == '\t'))
			out[--k] = '\0';
		else if (k >= 3 && (strcmp(out + k - 3, "＊") == 0 || strcmp(out + k - 3, "\u3000") == 0))
			out[k -= 3] = '\0';
		else
			break;
	}
	size_t lead = 0;
	while (out[lead] == '_' || strncmp(out + lead, "\u3000", 3) == 0)
		lead += out[lead] == '_' ? 1 : 3;
	memmove(out, out + lead, strlen(out + lead) + 1);
}

static int field_of(const char *header)
{
	char key[128];
	header_key(header, key, sizeof key);
	for (int f = 0; f < F__COUNT; f++)
		for (int a = 0; a < 8 && fields[f].alias[a]; a++)
			if (strcmp(key, fields[f].alias[a]) == 0)
				return f;
	return -1;
}

/* ---- values ---- */

/* Trim ASCII space, NBSP and the ideographic space. */
static void trim(const char **s, size_t *n)
{
	const char *p = *s, *q = *s + *n;
	for (;;) {
		if (p < q && isspace((unsigned char)*p))
			p++;
		else if (q - p >= 3 && memcmp(p, "\u3000", 3) == 0)
			p += 3;
		else if (q - p >= 2 && memcmp(p, "\u00a0", 2) == 0)
			p += 2;
		else
			break;
	}
	for (;;) {
		if (q > p && isspace((unsigned char)q[-1]))
			q--;
		else if (q - p >= 3 && memcmp(q - 3, "\u3000", 3) == 0)
			q -= 3;
		else if (q - p >= 2 && memcmp(q - 2, "\u00a0", 2) == 0)
			q -= 2;
		else
			break;
	}
	*s = p;
	*n = (size_t)(q - p);
}

/* Is s (whole) a decimal number? */
static bool numeric(const char *s)
{
	char *end;
	if (!*s)
		return false;
	double d = strtod(s, &end);
	return *end == '\0' && isfinite(d);
}

/* A cell a spreadsheet would run as a formula: = + - @ first, and not a plain number. */
static bool formula_like(const char *s)
{
	return (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') && !numeric(s);
}

/* Shortest text that reads back as exactly d. */
static void double_text(double d, char *out, size_t n)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

struct row_in {
	const struct tabular_row *row;
	const int *col;     /* column of each field, -1 if absent */
	struct arena *a;
};

/* The cleaned text of field f: NULL if the column is absent, else arena text. */
static char *cell(const struct row_in *ri, enum field f)
{
	int c = ri->col[f];
	if (c < 0)
		return NULL;
	const char *s = "";
	size_t n = 0;
	if ((size_t)c < ri->row->n) {
		s = ri->row->cells[c];
		n = ri->row->lens[c];
	}
	trim(&s, &n);
	/* the export's guard against formulas: '=..., '+86... */
	if (n >= 2 && s[0] == '\'' && (s[1] == '=' || s[1] == '+' || s[1] == '-' || s[1] == '@')) {
		s++;
		n--;
	}
	return arena_strndup(ri->a, s, n);
}

static int kind_of(const struct row_in *ri, enum field f)
{
	int c = ri->col[f];
	return c >= 0 && (size_t)c < ri->row->n ? ri->row->kinds[c] : TABULAR_TEXT;
}

static void lower_ascii(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Map Chinese labels to codes; anything else is passed on (lower-cased) for
 * enterprise_validate to judge, so the error names the field. */
static const char *map_label(char *v, const char *const (*t)[2], size_t n)
{
	if (!*v)
		return v;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, t[i][0]) == 0)
			return t[i][1];
	lower_ascii(v);
	return v;
}

static const char *const kind_labels[][2] = {
	{"企业", "enterprise"},         {"公司", "enterprise"},
	{"个体工商户", "individual"},   {"个体", "individual"},
	{"个体户", "individual"},       {"农民专业合作社", "cooperative"},
	{"合作社", "cooperative"},      {"农民专业合作社（联合社）", "cooperative"},
};
static const char *const size_labels[][2] = {
	{"大型", "large"},  {"大型企业", "large"},  {"大", "large"},
	{"中型", "medium"}, {"中型企业", "medium"}, {"中", "medium"},
	{"小型", "small"},  {"小型企业", "small"},  {"小", "small"},
	{"微型", "micro"},  {"微型企业", "micro"},  {"微", "micro"},
};
static const char *const status_labels[][2] = {
	{"存续", "active"},        {"在业", "active"},      {"开业", "active"},
	{"正常", "active"},        {"存续（在营、开业、在册）", "active"},
	{"迁出", "moved_out"},     {"注销", "deregistered"}, {"已注销", "deregistered"},
	{"吊销", "revoked"},       {"已吊销", "revoked"},   {"吊销，未注销", "revoked"},
	{"吊销未注销", "revoked"},
};

/* "2019/3/5", "2019.03.05", "2019年3月5日", "20190305", "2019-03-05 00:00:00" -> "2019-03-05". */
static void normalise_date(char *v)
{
	int y = 0, m = 0, d = 0, k = 0;
	const char *p = v;
	size_t n = strlen(v);
	if (n == 8 && strspn(v, "0123456789") == 8) {
		y = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
		m = (v[4] - '0') * 10 + (v[5] - '0');
		d = (v[6] - '0') * 10 + (v[7] - '0');
	} else {
		int parts[3] = {0};
		for (k = 0; k < 3; k++) {
			int digits = 0;
			while (isdigit((unsigned char)*p) && digits < 5) {
				parts[k] = parts[k] * 10 + (*p++ - '0');
				digits++;
			}
			if (!digits)
				return;
			if (k == 2)
				break;
			if (*p == '-' || *p == '/' || *p == '.')
				p++;
			else if (strncmp(p, "年", 3) == 0 || strncmp(p, "月", 3) == 0)
				p += 3;
			else
				return;
		}
		if (strncmp(p, "日", 3) == 0)
			p += 3;
		if (*p && *p != ' ' && *p != 'T')
			return;
		y = parts[0];
		m = parts[1];
		d = parts[2];
	}
	if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return;
	snprintf(v, 11, "%04d-%02d-%02d", y, m, d);
}

/* "C", "c", "C 制造业", "C-制造业" or "制造业" -> "C". */
static const char *normalise_section(char *v)
{
	static const char *const codes[] = {"A", "B", "C", "D", "E", "F", "G", "H", "I", "J",
					    "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T"};
	if (!*v)
		return v;
	char c = (char)toupper((unsigned char)v[0]);
	if (c >= 'A' && c <= 'Z' && !isalpha((unsigned char)v[1])) {
		v[0] = c;
		v[1] = '\0';
		return v;
	}
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *zh = industry_section_zh(codes[i]);
		if (zh && strcmp(zh, v) == 0)
			return codes[i];
	}
	return v;
}

/* "13", 13, "1" -> "01", "13 农副食品加工业" -> "13". */
static void normalise_division(char *v)
{
	size_t digits = strspn(v, "0123456789");
	if (digits == 1 && (!v[1] || !isdigit((unsigned char)v[1]))) {
		v[2] = '\0';
		v[1] = v[0];
		v[0] = '0';
	} else if (digits == 2 && v[2] && !isdigit((unsigned char)v[2])) {
		v[2] = '\0';
	}
}

static int bad_value(struct err *e, enum field f, const char *zh, const char *en)
{
	char mzh[200], men[200];
	snprintf(mzh, sizeof mzh, "%s%s", fields[f].zh, zh);
	snprintf(men, sizeof men, "%s %s", fields[f].field, en);
	return err_set_msg(e, ERR_UNPROCESSABLE, fields[f].field, mzh, men);
}

static int parse_coord(const char *v, enum field f, double *out, struct err *e)
{
	char *end;
	*out = strtod(v, &end);
	if (end == v || *end || !isfinite(*out))
		return bad_value(e, f, "不是数字", "is not a number");
	return 0;
}

/* Fill in from the row. Returns 0, or ERR_UNPROCESSABLE naming the field. */
static int convert(const struct row_in *ri, struct enterprise_input *in, bool override_check,
		   bool date1904, struct err *e)
{
	char *v;
	memset(in, 0, sizeof *in);
	in->override_check = override_check;
	in->credit_code = cell(ri, F_CODE);
	in->name = cell(ri, F_NAME);
	if ((v = cell(ri, F_KIND)) && *v)
		in->kind = map_label(v, kind_labels, ARRAY_SIZE(kind_labels));
	/* masked exports ("张**", "138****1234") never overwrite real data */
	if ((v = cell(ri, F_LEGAL_REP)) && !strchr(v, '*'))
		in->legal_rep = v;
	if ((v = cell(ri, F_PHONE)) && !strchr(v, '*'))
		in->phone = v;
	in->address = cell(ri, F_ADDRESS);
	if ((v = cell(ri, F_SECTION)))
		in->industry_section = normalise_section(v);
	if ((v = cell(ri, F_DIVISION))) {
		normalise_division(v);
		in->industry_division = v;
	}
	if ((v = cell(ri, F_SIZE)))
		in->size_class = map_label(v, size_labels, ARRAY_SIZE(size_labels));
	if ((v = cell(ri, F_REGISTERED))) {
		double serial;
		char *end;
		if (kind_of(ri, F_REGISTERED) == TABULAR_NUMBER &&
		    (serial = strtod(v, &end), *end == '\0') &&
		    tabular_excel_date(serial, date1904, v))
			;
		else
			normalise_date(v);
		in->registered_on = v;
	}
	if ((v = cell(ri, F_STATUS)) && *v)
		in->status = map_label(v, status_labels, ARRAY_SIZE(status_labels));
	if ((v = cell(ri, F_KEY)) && *v) {
		lower_ascii(v);
		static const char *const yes[] = {"是", "1", "true", "y", "yes", "√", "重点"};
		static const char *const no[] = {"否", "0", "false", "n", "no", "×", "非重点"};
		bool found = false;
		for (size_t i = 0; i < ARRAY_SIZE(yes) && !found; i++)
			if (strcmp(v, yes[i]) == 0)
				found = in->is_key = true;
		for (size_t i = 0; i < ARRAY_SIZE(no) && !found; i++)
			if (strcmp(v, no[i]) == 0)
				found = true;
		if (!found)
			return bad_value(e, F_KEY, "应为“是”或“否”", "must be 是/否, yes/no, 1/0 or true/false");
		in->set_key = true;
	}
	in->tags = cell(ri, F_TAGS);
	char *lat = cell(ri, F_LAT), *lon = cell(ri, F_LON);
	if (lat || lon) {
		bool lat_empty = !lat || !*lat, lon_empty = !lon || !*lon;
		if (lat_empty && lon_empty) {
			in->clear_location = true;
		} else if (lat_empty || lon_empty) {
			enum field missing = lat_empty ? F_LAT : F_LON;
			return bad_value(e, missing, "缺失：经度和纬度须同时填写",
					 "is missing: give both lat and lon, or neither");
		} else {
			int rc = parse_coord(lat, F_LAT, &in->lat, e);
			if (!rc)
				rc = parse_coord(lon, F_LON, &in->lon, e);
			if (rc)
				return rc;
			in->set_location = true;
		}
	}
	return 0;
}

/* ---- the set of credit codes seen in this file ---- */

struct codeset {
	struct {
		char code[19];
		int64_t row;
	} *slot;
	size_t cap, n;
};

static uint64_t hash_code(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Row where code was first seen, or 0 after adding it with this row. */
static int64_t codeset_add(struct codeset *cs, const char *code, int64_t row)
{
	if (2 * (cs->n + 1) > cs->cap) {
		struct codeset bigger = {NULL, cs->cap ? 2 * cs->cap : 1024, 0};
		bigger.slot = xcalloc(bigger.cap, sizeof *bigger.slot);
		for (size_t i = 0; i < cs->cap; i++)
			if (cs->slot[i].row)
				codeset_add(&bigger, cs->slot[i].code, cs->slot[i].row);
		free(cs->slot);
		*cs = bigger;
	}
	size_t i = hash_code(code) & (cs->cap - 1);
	while (cs->slot[i].row) {
		if (strcmp(cs->slot[i].code, code) == 0)
			return cs->slot[i].row;
		i = (i + 1) & (cs->cap - 1);
	}
	snprintf(cs->slot[i].code, sizeof cs->slot[i].code, "%s", code);
	cs->slot[i].row = row;
	cs->n++;
	return 0;
}

/* ---- the import ---- */

struct pending {
	int64_t row_no;
	struct enterprise_input in;
};

struct row_err {
	int64_t row_no;
	struct err e;
};

struct imp {
	struct db_pool *pool;
	const struct import_opts *o;
	struct import_result *res;
	size_t batch;
	/* header */
	bool have_header;
	int tries;                    /* non-empty rows looked at for the header */
	int col[F__COUNT];
	struct err header_err;        /* why the first candidate row was not a header */
	/* the batch being collected */
	struct arena *arena;
	struct pending *rows;
	size_t nrows;
	struct row_err *errs;
	size_t nerrs;
	struct codeset codes;
	int64_t run_id;
	uint64_t bytes_done, bytes_total;
	int64_t read;                 /* data rows read */
};

static void progress(struct imp *im)
{
	if (!im->o->progress)
		return;
	struct import_progress p = {im->read,
				    im->res->created,
				    im->res->updated,
				    im->res->unchanged,
				    im->res->failed,
				    im->bytes_done,
				    im->bytes_total};
	im->o->progress(&p, im->o->progress_ctx);
}

struct run_job {
	struct imp *im;
	const char *status;           /* finish: "done" or "failed" */
	int64_t rows, created, updated, unchanged, failed; /* batch: the deltas */
};

static int run_create(struct db *db, void *arg, struct err *e)
{
	struct run_job *j = arg;
	struct imp *im = j->im;
	const struct import_opts *o = im->o;
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "INSERT INTO import_runs (tenant_id, kind, filename, actor_id, started_at) "
			   "VALUES ($1, 'enterprises', $2, $3, $4) RETURNING id",
			   "itii", o->tenant_id, o->filename ? o->filename : "",
			   o->who ? o->who->user_id : (int64_t)0, now_ms());
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW)
		im->run_id = db_column_int64(st, 0);
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

static int insert_error(struct db *db, struct imp *im, int64_t row, const struct err *re,
			struct err *e)
{
	return db_execf(db, e,
			"INSERT INTO import_errors (tenant_id, run_id, row_no, field, message, "
			"message_zh) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
			"iiitt" "t", im->o->tenant_id, im->run_id, row, re->field[0] ? re->field : "row",
			re->message, re->message_zh);
}

static int batch_job(struct db *db, void *arg, struct err *e)
{
	struct run_job *j = arg;
	struct imp *im = j->im;
	int64_t now = now_ms();
	int rc = 0;

	for (size_t i = 0; i < im->nrows; i++) {
		struct pending *p = &im->rows[i];
		struct enterprise_write w = {.who = im->o->who, .tenant_id = im->o->tenant_id,
					     .in = p->in, .source = "import", .now = now};
		struct err re;
		err_clear(&re);
		rc = db_pool_write(im->pool, enterprise_upsert, &w, &re);
		if (rc == ERR_INTERNAL || rc == ERR_UNAVAILABLE) {
			char mzh[300], men[300];
			snprintf(mzh, sizeof mzh, "第 %" PRId64 " 行写入失败：%s", p->row_no,
				 re.message_zh);
			snprintf(men, sizeof men, "row %" PRId64 " could not be written: %s",
				 p->row_no, re.message);
			return err_set_msg(e, rc, "file", mzh, men);
		}
		if (rc) {
			j->failed++;
			rc = insert_error(db, im, p->row_no, &re, e);
			if (rc)
				return rc;
			continue;
		}
		if (w.outcome == ENTERPRISE_CREATED)
			j->created++;
		else if (w.outcome == ENTERPRISE_UPDATED)
			j->updated++;
		else
			j->unchanged++;
	}
	for (size_t i = 0; i < im->nerrs && !rc; i++)
		rc = insert_error(db, im, im->errs[i].row_no, &im->errs[i].e, e);
	if (rc)
		return rc;
	j->failed += (int64_t)im->nerrs;
	j->rows = (int64_t)(im->nrows + im->nerrs);
	return db_execf(db, e,
			"UPDATE import_runs SET rows_total = rows_total + $1, "
			"rows_created = rows_created + $2, rows_updated = rows_updated + $3, "
			"rows_unchanged = rows_unchanged + $4, rows_failed = rows_failed + $5 "
			"WHERE tenant_id = $6 AND id = $7",
			"iiiii" "ii", j->rows, j->created, j->updated, j->unchanged, j->failed,
			im->o->tenant_id, im->run_id);
}

/* Commit the queued rows and errors. */
static int flush(struct imp *im, struct err *e)
{
	if (!im->nrows && !im->nerrs)
		return 0;
	struct run_job j = {.im = im};
	int rc = db_pool_write(im->pool, batch_job, &j, e);
	if (rc)
		return rc;
	im->res->rows_total += j.rows;
	im->res->created += j.created;
	im->res->updated += j.updated;
	im->res->unchanged += j.unchanged;
	im->res->failed += j.failed;
	im->nrows = im->nerrs = 0;
	arena_free(im->arena);
	im->arena = arena_new(64 * 1024);
	progress(im);
	return 0;
}

static int run_finish(struct db *db, void *arg, struct err *e)
{
	struct run_job *j = arg;
	struct imp *im = j->im;
	struct import_result *r = im->res;
	int rc = db_execf(db, e,
			  "UPDATE import_runs SET status = $1, finished_at = $2 "
			  "WHERE tenant_id = $3 AND id = $4",
			  "tiii", j->status, now_ms(), im->o->tenant_id, im->run_id);
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "filename",
				im->o->filename ? im->o->filename : "", "status", j->status,
				"rows", (json_int_t)r->rows_total, "created", (json_int_t)r->created,
				"updated", (json_int_t)r->updated, "unchanged",
				(json_int_t)r->unchanged, "failed", (json_int_t)r->failed);
	rc = audit_append(db, im->o->who, im->o->tenant_id, "import_run", im->run_id, "import",
			  sum, e);
	json_decref(sum);
	return rc;
}

static void missing_columns(struct imp *im, const int *col)
{
	char zh[256] = "", en[256] = "";
	for (int f = F_CODE; f <= F_NAME; f++) {
		if (col[f] >= 0)
			continue;
		size_t a = strlen(zh), b = strlen(en);
		snprintf(zh + a, sizeof zh - a, "%s%s", a ? "、" : "", fields[f].zh);
		snprintf(en + b, sizeof en - b, "%s%s (%s)", b ? ", " : "", fields[f].zh,
			 fields[f].field);
	}
	char mzh[400], men[400];
	snprintf(mzh, sizeof mzh, "缺少必需的列：%s（表头应在第一行）", zh);
	snprintf(men, sizeof men, "missing required column: %s (the header should be the first row)",
		 en);
	err_set_msg(&im->header_err, ERR_UNPROCESSABLE, "file", mzh, men);
}

/* Try row as the header. Returns 0 whether or not it was one; an error if it is a
 * header that cannot be used. */
static int header(struct imp *im, const struct tabular_row *row, struct err *e)
{
	int col[F__COUNT];
	for (int f = 0; f < F__COUNT; f++)
		col[f] = -1;
	for (size_t c = 0; c < row->n; c++) {
		int f = row->lens[c] ? field_of(row->cells[c]) : -1;
		if (f < 0)
			continue;
		if (col[f] >= 0) {
			char a[8], b[8];
			tabular_column_name((size_t)col[f], a);
			tabular_column_name(c, b);
			return err_set(e, ERR_UNPROCESSABLE, "file",
				       "第 %s 列和第 %s 列都是“%s”", "columns %s and %s both give %s", a,
				       b, fields[f].zh);
		}
		col[f] = (int)c;
	}
	if (col[F_CODE] < 0 || col[F_NAME] < 0) {
		if (im->tries++ == 0)
			missing_columns(im, col);
		return 0;
	}
	/* unknown columns: one warning */
	struct buf unk;
	buf_init(&unk, 400);
	for (size_t c = 0; c < row->n; c++)
		if (row->lens[c] && field_of(row->cells[c]) < 0) {
			if (unk.len)
				buf_adds(&unk, ", ");
			buf_adds(&unk, row->cells[c]);
		}
	if (unk.len) {
		snprintf(im->res->warning, sizeof im->res->warning, "unknown columns ignored: %s",
			 unk.p);
		snprintf(im->res->warning_zh, sizeof im->res->warning_zh, "以下列无法识别，已忽略：%s",
			 unk.p);
	}
	buf_release(&unk);
	memcpy(im->col, col, sizeof col);
	im->have_header = true;
	im->res->header_row = row->row_no;
	struct run_job j = {.im = im};
	int rc = db_pool_write(im->pool, run_create, &j, e);
	if (!rc)
		im->res->run_id = im->run_id;
	return rc;
}

static void add_error(struct imp *im, int64_t row_no, const struct err *re)
{
	struct row_err *r = &im->errs[im->nerrs++];
	r->row_no = row_no;
	r->e = *re;
}

/* Is code one whose check fails but that the registry already holds (admitted
 * earlier by an administrator)? Then it imports without the override, so an
 * export always imports back. */
static bool admitted(struct imp *im, const char *code)
{
	struct credit_result cr;
	struct enterprise en;
	struct err e;
	if (!code)
		return false;
	credit_code_check(code, &cr);
	if (cr.status != CREDIT_BAD_ORG_CHECK && cr.status != CREDIT_BAD_CHECK_CHAR)
		return false;
	struct db *db = db_pool_reader(im->pool, &e);
	return db && enterprise_get_by_code(db, im->o->tenant_id, cr.normalized, &en, &e) == 0;
}

static int on_row(const struct tabular_row *row, void *ctx, struct err *e)
{
	struct imp *im = ctx;
	int rc;
	im->bytes_done = row->bytes_done;
	im->bytes_total = row->bytes_total;
	if (!im->have_header) {
		rc = header(im, row, e);
		if (!rc && !im->have_header && im->tries >= 5)
			rc = (*e = im->header_err).code;
		return rc;
	}
	im->read++;
	struct pending *p = &im->rows[im->nrows];
	struct row_in ri = {row, im->col, im->arena};
	struct err re;
	err_clear(&re);
	p->row_no = row->row_no;
	rc = convert(&ri, &p->in, im->o->override_check, row->date1904, &re);
	if (!rc)
		rc = enterprise_validate(&p->in, true, &re);
	if (rc && strcmp(re.field, "credit_code") == 0 && admitted(im, p->in.credit_code)) {
		p->in.override_check = true;
		err_clear(&re);
		rc = enterprise_validate(&p->in, true, &re);
	}
	if (!rc) {
		struct credit_result cr;
		credit_code_check(p->in.credit_code, &cr);
		int64_t first = codeset_add(&im->codes, cr.normalized, row->row_no);
		if (first) {
			char mzh[200], men[200];
			snprintf(mzh, sizeof mzh,
				 "统一社会信用代码 %s 与第 %" PRId64 " 行重复（只导入第一次出现的行）",
				 cr.normalized, first);
			snprintf(men, sizeof men,
				 "credit code %s repeats row %" PRId64 " (only the first is imported)",
				 cr.normalized, first);
			rc = err_set_msg(&re, ERR_CONFLICT, "credit_code", mzh, men);
		}
	}
	if (rc)
		add_error(im, row->row_no, &re);
	else
		im->nrows++;
	if (im->nrows >= im->batch || im->nerrs >= im->batch)
		return flush(im, e);
	if ((im->read & 255) == 0)
		progress(im);
	return 0;
}

static int run(struct db_pool *pool, const char *path, const void *data, size_t len,
	       const struct import_opts *o, struct import_result *res, struct err *e)
{
	struct imp im;
	int rc;

	memset(res, 0, sizeof *res);
	memset(&im, 0, sizeof im);
	im.pool = pool;
	im.o = o;
	im.res = res;
	im.batch = o->batch_rows > 0 ? (size_t)o->batch_rows : IMPORT_BATCH_ROWS;
	im.arena = arena_new(64 * 1024);
	im.rows = xcalloc(im.batch, sizeof *im.rows);
	im.errs = xcalloc(im.batch, sizeof *im.errs);
	err_clear(&im.header_err);

	if (path)
		rc = tabular_read_file(path, o->format, NULL, on_row, &im, e);
	else
		rc = tabular_read_mem(data, len, o->format, NULL, on_row, &im, e);
	if (!rc && !im.have_header) {
		if (im.tries)
			*e = im.header_err;
		else
			err_set(e, ERR_UNPROCESSABLE, "file", "文件是空的：没有表头和数据",
				"the file is empty: no header row and no data");
		rc = e->code;
	}
	if (im.run_id) {
		struct err e2;
		err_clear(&e2);
		/* what was read before a failure is kept: a re-run completes it */
		int rc2 = flush(&im, rc ? &e2 : e);
		if (!rc)
			rc = rc2;
		struct run_job j = {.im = &im, .status = rc ? "failed" : "done"};
		err_clear(&e2);
		rc2 = db_pool_write(pool, run_finish, &j, rc ? &e2 : e);
		if (!rc)
			rc = rc2;
		progress(&im);
	}
	arena_free(im.arena);
	free(im.rows);
	free(im.errs);
	free(im.codes.slot);
	return rc;
}

int import_enterprises_file(struct db_pool *pool, const char *path, const struct import_opts *o,
			    struct import_result *res, struct err *e)
{
	return run(pool, path, NULL, 0, o, res, e);
}

int import_enterprises_mem(struct db_pool *pool, const void *data, size_t len,
			   const struct import_opts *o, struct import_result *res, struct err *e)
{
	return run(pool, NULL, data, len, o, res, e);
}

/* ---- reading runs and errors ---- */

int import_run_get(struct db *db, int64_t tenant_id, int64_t id, struct import_run *out,
		   struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT id, actor_id, started_at, finished_at, kind, filename, status, "
			   "rows_total, rows_created, rows_updated, rows_unchanged, rows_failed "
			   "FROM import_runs WHERE tenant_id = $1 AND id = $2",
			   "ii", tenant_id, id);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		memset(out, 0, sizeof *out);
		out->id = db_column_int64(st, 0);
		out->actor_id = db_column_int64(st, 1);
		out->started_at = db_column_int64(st, 2);
		out->finished_at = db_column_int64(st, 3);
		snprintf(out->kind, sizeof out->kind, "%s", db_column_text(st, 4));
		snprintf(out->filename, sizeof out->filename, "%s", db_column_text(st, 5));
		snprintf(out->status, sizeof out->status, "%s", db_column_text(st, 6));
		out->rows_total = db_column_int64(st, 7);
		out->created = db_column_int64(st, 8);
		out->updated = db_column_int64(st, 9);
		out->unchanged = db_column_int64(st, 10);
		out->failed = db_column_int64(st, 11);
		rc = 0;
	} else if (rc == DB_DONE) {
		rc = err_set(e, ERR_NOT_FOUND, "id", "导入记录 %" PRId64 " 不存在",
			     "import run %" PRId64 " does not exist", id);
	}
	db_finalize(st);
	return rc;
}

int import_errors_each(struct db *db, int64_t tenant_id, int64_t run_id, int64_t limit,
		       int (*each)(const struct import_error *er, void *ctx), void *ctx,
		       struct err *e)
{
	struct db_stmt *st = NULL;
	int rc = db_queryf(db, &st, e,
			   "SELECT row_no, field, message, message_zh FROM import_errors "
			   "WHERE tenant_id = $1 AND run_id = $2 ORDER BY row_no, field LIMIT $3",
			   "iii", tenant_id, run_id, limit > 0 ? limit : INT64_MAX);
	if (rc)
		return rc;
	while ((rc = db_step(st, e)) == DB_ROW) {
		struct import_error er = {db_column_int64(st, 0), db_column_text(st, 1),
					  db_column_text(st, 2), db_column_text(st, 3)};
		if (each(&er, ctx)) {
			rc = 0;
			break;
		}
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/* ---- writing tables: CSV (UTF-8 with BOM, CRLF) or XLSX, into a buffer ---- */

struct table_out {
	enum tabular_format fmt;
	struct buf *out;
	struct xlsx_sheet *x;
	size_t ncols;
	int rc;                       /* first error while adding rows */
};

static void csv_cell(struct buf *b, const char *s)
{
	bool guard = formula_like(s);
	bool quote = guard || strpbrk(s, ",\"\r\n") || (s[0] && (isspace((unsigned char)s[0]) ||
								 isspace((unsigned char)s[strlen(s) - 1])));
	if (!quote) {
		buf_adds(b, s);
		return;
	}
	buf_addc(b, '"');
	if (guard)
		buf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '"')
			buf_addc(b, '"');
		buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

static int out_open(struct table_out *t, enum tabular_format fmt, struct buf *out,
		    const char *sheet, const struct xlsx_column *cols, size_t n, struct err *e)
{
	memset(t, 0, sizeof *t);
	t->fmt = fmt;
	t->out = out;
	t->ncols = n;
	if (fmt == TABULAR_XLSX)
		return xlsx_sheet_new(sheet, cols, n, NULL, &t->x, e);
	buf_adds(out, "\xEF\xBB\xBF");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(out, ',');
		csv_cell(out, cols[i].header);
	}
	buf_adds(out, "\r\n");
	return 0;
}

/* Cell types for out_row: text, or a number given as text ("" = empty). */
enum { OUT_TEXT, OUT_NUMBER };

static void out_row(struct table_out *t, const char *const *cells, const unsigned char *types,
		    struct err *e)
{
	if (t->rc)
		return;
	if (t->fmt == TABULAR_CSV) {
		for (size_t i = 0; i < t->ncols; i++) {
			if (i)
				buf_addc(t->out, ',');
			csv_cell(t->out, cells[i]);
		}
		buf_adds(t->out, "\r\n");
		return;
	}
	struct xlsx_cell xc[F__COUNT];
	size_t n = t->ncols < F__COUNT ? t->ncols : F__COUNT;
	for (size_t i = 0; i < n; i++)
		xc[i] = types[i] == OUT_NUMBER && numeric(cells[i]) ? xlsx_num(strtod(cells[i], NULL))
								      : xlsx_str(cells[i]);
	t->rc = xlsx_add_row(t->x, xc, n, e);
}

static int out_close(struct table_out *t, struct err *e)
{
	int rc = t->rc;
	if (t->x) {
		char *data = NULL;
		size_t len = 0;
		if (!rc)
			rc = xlsx_finish(t->x, &data, &len, e);
		if (!rc && buf_add(t->out, data, len))
			rc = err_set(e, ERR_TOO_LARGE, NULL, "导出文件过大", "the export is too large");
		free(data);
		xlsx_sheet_free(t->x);
		t->x = NULL;
	}
	return rc;
}

struct report_ctx {
	struct table_out *t;
	struct err *e;
};

static int report_row(const struct import_error *er, void *ctx)
{
	struct report_ctx *c = ctx;
	char row[24];
	snprintf(row, sizeof row, "%" PRId64, er->row_no);
	const char *cells[] = {row, er->field, er->message_zh, er->message};
	static const unsigned char types[] = {OUT_NUMBER, OUT_TEXT, OUT_TEXT, OUT_TEXT};
	out_row(c->t, cells, types, c->e);
	return c->t->rc;
}

int import_report(struct db *db, int64_t tenant_id, int64_t run_id, enum tabular_format fmt,
		  struct buf *out, struct err *e)
{
	static const struct xlsx_column cols[] = {
		{"行号 row", 10}, {"字段 field", 18}, {"错误原因", 60}, {"message", 60}};
	struct table_out t;
	struct import_run run;
	int rc = import_run_get(db, tenant_id, run_id, &run, e);
	if (rc)
		return rc;
	rc = out_open(&t, fmt, out, "导入错误", cols, ARRAY_SIZE(cols), e);
	if (rc)
		return rc;
	struct report_ctx c = {&t, e};
	rc = import_errors_each(db, tenant_id, run_id, 0, report_row, &c, e);
	if (!rc)
		rc = t.rc;
	int rc2 = out_close(&t, e);
	return rc ? rc : rc2;
}

/* ---- export ---- */

struct export_ctx {
	struct table_out *t;
	struct err *e;
	const struct actor *who;
	enum scope pii;
	struct enterprise last;
	int64_t page, total;
};

static int export_row(const struct enterprise *en, void *ctx)
{
	struct export_ctx *c = ctx;
	struct scope_row sr = {.grid_id = en->grid_id, .grid_path = en->grid_path,
				.enterprise_id = en->id};
	bool masked = c->pii == SCOPE_NONE || !scope_allows(c->who, c->pii, &sr);
	char lat[32] = "", lon[32] = "";
	const char *legal_rep = en->legal_rep, *phone = en->phone;
	json_t *j = NULL;
	if (masked) {
		j = enterprise_json(en, true);
		legal_rep = json_string_value(json_object_get(j, "legal_rep"));
		phone = json_string_value(json_object_get(j, "phone"));
	}
	if (en->has_location) {
		double_text(en->lat, lat, sizeof lat);
		double_text(en->lon, lon, sizeof lon);
	}
	const char *kind = enterprise_kind_zh(en->kind), *size = enterprise_size_zh(en->size_class),
		   *status = enterprise_status_zh(en->status);
	const char *cells[F__COUNT] = {
		[F_CODE] = en->credit_code,
		[F_NAME] = en->name,
		[F_KIND] = kind ? kind : en->kind,
		[F_LEGAL_REP] = legal_rep ? legal_rep : "",
		[F_PHONE] = phone ? phone : "",
		[F_ADDRESS] = en->address,
		[F_LAT] = lat,
		[F_LON] = lon,
		[F_SECTION] = en->industry_section,
		[F_DIVISION] = en->industry_division,
		[F_SIZE] = size ? size : en->size_class,
		[F_REGISTERED] = en->registered_on,
		[F_STATUS] = status ? status : en->status,
		[F_KEY] = en->is_key ? "是" : "否",
		[F_TAGS] = en->tags,
	};
	/* all text, coordinates included: libxlsxwriter writes numbers with 16 digits,
	 * which does not always give back the same double, and an export must
	 * import back as "unchanged" */
	static const unsigned char types[F__COUNT] = {0};
	out_row(c->t, cells, types, c->e);
	json_decref(j);
	c->last = *en;
	c->page++;
	c->total++;
	return c->t->rc;
}

int import_export_enterprises(struct db *db, const struct actor *who, enum scope scope,
			      const struct enterprise_filter *f, enum tabular_format fmt,
			      struct buf *out, int64_t *rows, struct err *e)
{
	static const double widths[F__COUNT] = {22, 36, 12, 12, 16, 40, 12, 12,
						10, 10, 8,  12, 8,  10, 24};
	struct xlsx_column cols[F__COUNT];
	struct table_out t;
	struct enterprise_filter page = *f;
	char cursor[ENTERPRISE_CURSOR_MAX];
	int rc;

	for (int i = 0; i < F__COUNT; i++)
		cols[i] = (struct xlsx_column){fields[i].zh, widths[i]};
	rc = out_open(&t, fmt, out, "企业", cols, F__COUNT, e);
	if (rc)
		return rc;
	struct export_ctx c = {.t = &t, .e = e, .who = who,
			       .pii = authz_scope(who, PERM_ENTERPRISE_PII)};
	page.limit = 1000;
	page.after = NULL;
	for (;;) {
		c.page = 0;
		rc = enterprise_list(db, who, scope, &page, export_row, &c, e);
		if (!rc)
			rc = t.rc;
		if (rc || c.page < page.limit)
			break;
		enterprise_cursor(&c.last, page.sort, cursor);
		page.after = cursor;
	}
	int rc2 = out_close(&t, e);
	if (rows)
		*rows = c.total;
	return rc ? rc : rc2;
}
