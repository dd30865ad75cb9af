/*
 * test_tabular.c — the CSV and XLSX readers (table-driven CSV edge cases,
 * GBK/GB18030 input, byte-order marks, quotes and line breaks, chunk
 * boundaries; XLSX files built with libxlsxwriter and by hand with libzip:
 * shared, inline and rich strings, numbers, dates, booleans, gaps, sheet
 * resolution, zip bombs, non-workbook zips, truncated files), Excel serial
 * dates, and the importer's header and value mapping (import.c's statics).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>
#include <zip.h>

#include "base/buf.h"
#include "base/util.h"
#include "core/tabular.h"
/* the importer's statics: header names, value mapping, CSV writing */
#include "core/import.c"
#include "base/banned.h"

/* ---- collecting rows as text: "row:cell|cell\n", kinds marked # number, @ date, ? bool ---- */

struct collect {
	struct buf b;
	int64_t rows;
	bool date1904;
	int stop_at; /* stop the read after this many rows (0 = never) */
};

static int collect_row(const struct tabular_row *row, void *ctx, struct err *e)
{
	struct collect *c = ctx;
	buf_addf(&c->b, "%" PRId64 ":", row->row_no);
	for (size_t i = 0; i < row->n; i++) {
		if (i)
			buf_addc(&c->b, '|');
		if (row->kinds[i] == TABULAR_NUMBER)
			buf_addc(&c->b, '#');
		else if (row->kinds[i] == TABULAR_DATE)
			buf_addc(&c->b, '@');
		else if (row->kinds[i] == TABULAR_BOOL)
			buf_addc(&c->b, '?');
		assert_int_equal(strlen(row->cells[i]), row->lens[i]);
		buf_add(&c->b, row->cells[i], row->lens[i]);
	}
	buf_addc(&c->b, '\n');
	c->rows++;
	c->date1904 = row->date1904;
	assert_true(row->bytes_done <= row->bytes_total || row->bytes_total == 0);
	if (c->stop_at && c->rows == c->stop_at)
		return err_set(e, ERR_CONFLICT, "x", "停止", "stopped by the callback");
	return 0;
}

static int read_mem(const void *p, size_t n, enum tabular_format fmt,
		    const struct tabular_opts *o, struct collect *c, struct err *e)
{
	buf_init(&c->b, 0);
	c->rows = 0;
	err_clear(e);
	return tabular_read_mem(p, n, fmt, o, collect_row, c, e);
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char p[160];
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/yq-test-tabular-XXXXXX");
		assert_non_null(mkdtemp(tmpdir));
	}
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)len + 1);
	assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

/* ---- CSV ---- */

static const struct {
	const char *name;
	const char *in;
	const char *out; /* expected rows, or NULL when err is expected */
	const char *err; /* substring of the English message */
} csv_cases[] = {
	{"simple", "a,b\nc,d\n", "1:a|b\n2:c|d\n", NULL},
	{"crlf", "a,b\r\nc,d\r\n", "1:a|b\n2:c|d\n", NULL},
	{"no final newline", "a,b\nc,d", "1:a|b\n2:c|d\n", NULL},
	{"lone cr", "a\rb\r", "1:a\n2:b\n", NULL},
	{"quoted comma", "\"a,1\",b\n", "1:a,1|b\n", NULL},
	{"doubled quotes", "\"say \"\"hi\"\"\",x\n", "1:say \"hi\"|x\n", NULL},
	{"empty quoted", "\"\",x\n", "1:|x\n", NULL},
	{"newline in quotes", "\"line1\nline2\",x\ny,z\n", "1:line1\nline2|x\n2:y|z\n", NULL},
	{"crlf in quotes", "\"l1\r\nl2\",x\r\n", "1:l1\r\nl2|x\n", NULL},
	{"bom", "\xEF\xBB\xBF" "名称,地址\n郑州,二七\n", "1:名称|地址\n2:郑州|二七\n", NULL},
	{"blank lines skipped but counted", "a\n\n\nb\n", "1:a\n4:b\n", NULL},
	{"trailing empty cells dropped", "a,b,,\n,,\n,x\n", "1:a|b\n3:|x\n", NULL},
	{"lenient stray quote", "a\"b,c\n", "1:a\"b|c\n", NULL},
	{"text after closing quote", "\"ab\"cd,e\n", "1:abcd|e\n", NULL},
	{"spaces kept", " a , b \n", "1: a | b \n", NULL},
	{"gbk", "\xCD\xB3\xD2\xBB\xC9\xE7\xBB\xE1\xD0\xC5\xD3\xC3\xB4\xFA\xC2\xEB\x2C\xC6\xF3"
		"\xD2\xB5\xC3\xFB\xB3\xC6\x0A\x39\x31\x34\x31\x30\x31\x30\x33\x30\x30\x30\x30"
		"\x30\x30\x30\x31\x39\x30\x2C\xD6\xA3\xD6\xDD\xB2\xE2\xCA\xD4\xD3\xD0\xCF\xDE"
		"\xB9\xAB\xCB\xBE\x0A",
	 "1:统一社会信用代码|企业名称\n2:914101030000000190|郑州测试有限公司\n", NULL},
	{"gb18030 four-byte", "x,\x95\x32\x82\x36\n", "1:x|\xF0\xA0\x80\x80\n", NULL},
	{"gbk quoted with newline", "\"\xD6\xA3\n\xD6\xDD\",a\n", "1:郑\n州|a\n", NULL},
	{"unterminated quote", "a,\"b\nc,d\n", NULL, "row 1: quoted cell is never closed"},
	{"bom but not utf-8", "\xEF\xBB\xBF" "a,\xD6\xFF\n", NULL, "not valid UTF-8"},
	{"utf-16", "\xFF\xFE" "a\0,\0b\0", NULL, "UTF-16"},
	{"legacy xls", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", NULL, "legacy .xls"},
	{"neither utf-8 nor gb18030", "ab,\xFF\xFF\n", NULL, "neither UTF-8 nor GB18030"},
	{"empty", "", "", NULL},
};

static void test_csv_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(csv_cases); i++) {
		struct collect c = {0};
		struct err e;
		const char *in = csv_cases[i].in;
		size_t n = strlen(in);
		if (strcmp(csv_cases[i].name, "utf-16") == 0)
			n = 8;
		int rc = read_mem(in, n, TABULAR_CSV, NULL, &c, &e);
		if (csv_cases[i].out) {
			if (rc || strcmp(c.b.p, csv_cases[i].out) != 0)
				fail_msg("case '%s': rc %d (%s), got [%s]", csv_cases[i].name, rc,
					 e.message, c.b.p);
		} else {
			if (rc != ERR_UNPROCESSABLE || !strstr(e.message, csv_cases[i].err))
				fail_msg("case '%s': rc %d, message '%s'", csv_cases[i].name, rc,
					 e.message);
			assert_string_equal(e.field, "file");
			assert_true(utf8_valid(e.message_zh, strlen(e.message_zh)));
		}
		/* the same through a file, and through auto-detection */
		write_file(tmp_path("case.csv"), in, n);
		struct collect c2 = {0};
		buf_init(&c2.b, 0);
		err_clear(&e);
		int rc2 = tabular_read_file(tmp_path("case.csv"), TABULAR_AUTO, NULL, collect_row,
					    &c2, &e);
		assert_int_equal(rc2, rc);
		if (!rc)
			assert_string_equal(c2.b.p, c.b.p);
		buf_release(&c.b);
		buf_release(&c2.b);
	}
}

static void test_csv_limits(void **state)
{
	(void)state;
	struct collect c = {0};
	struct err e;
	struct buf in;
	buf_init(&in, 0);

	/* a cell of 4096 bytes passes, 4097 does not (row 2, column B) */
	buf_adds(&in, "h1,h2\nx,");
	for (int i = 0; i < 4096; i++)
		buf_addc(&in, 'y');
	buf_adds(&in, "\n");
	assert_int_equal(read_mem(in.p, in.len, TABULAR_CSV, NULL, &c, &e), 0);
	assert_int_equal(c.rows, 2);
	buf_release(&c.b);
	in.len -= 1;
	buf_adds(&in, "y\n");
	assert_int_equal(read_mem(in.p, in.len, TABULAR_CSV, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "row 2, column B: cell too long"));
	assert_non_null(strstr(e.message_zh, "第 2 行 B 列"));
	assert_int_equal(c.rows, 1);
	buf_release(&c.b);

	/* an unclosed quote stops at the limit, not at the end of the file */
	buf_reset(&in);
	buf_adds(&in, "a,\"open\n");
	for (int i = 0; i < 10000; i++)
		buf_adds(&in, "row,row\n");
	assert_int_equal(read_mem(in.p, in.len, TABULAR_CSV, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "row 1, column B: cell too long"));
	buf_release(&c.b);

	/* 200 cells pass; a 201st non-empty one does not; empty ones beyond are ignored */
	buf_reset(&in);
	for (int i = 0; i < 200; i++)
		buf_addf(&in, "%sc%d", i ? "," : "", i);
	buf_adds(&in, ",,,,,\n");
	assert_int_equal(read_mem(in.p, in.len, TABULAR_CSV, NULL, &c, &e), 0);
	assert_non_null(strstr(c.b.p, "|c199\n"));
	buf_release(&c.b);
	in.len--;
	buf_adds(&in, "x\n");
	assert_int_equal(read_mem(in.p, in.len, TABULAR_CSV, NULL, &c, &e), ERR_UNPROCESSABLE);
	if (!strstr(e.message, "row 1, column GW: too many columns"))
		fail_msg("%s", e.message);
	buf_release(&c.b);

	/* smaller limits by option */
	struct tabular_opts o = {.max_cell = 3, .max_cells = 2};
	assert_int_equal(read_mem("abc,de\n", 7, TABULAR_CSV, &o, &c, &e), 0);
	buf_release(&c.b);
	assert_int_equal(read_mem("abcd\n", 5, TABULAR_CSV, &o, &c, &e), ERR_UNPROCESSABLE);
	buf_release(&c.b);
	assert_int_equal(read_mem("a,b,c\n", 6, TABULAR_CSV, &o, &c, &e), ERR_UNPROCESSABLE);
	buf_release(&c.b);

	/* the callback stops the read with its own error */
	c.stop_at = 1;
	assert_int_equal(read_mem("a\nb\nc\n", 6, TABULAR_CSV, NULL, &c, &e), ERR_CONFLICT);
	assert_string_equal(e.message, "stopped by the callback");
	assert_int_equal(c.rows, 1);
	buf_release(&c.b);
	buf_release(&in);
}

/* Files larger than the read chunk: multi-byte characters and quoted line
 * breaks fall across chunk boundaries, in UTF-8 and in GB18030. */
static void test_csv_chunks(void **state)
{
	(void)state;
	struct buf utf8, expect;
	buf_init(&utf8, 0);
	buf_init(&expect, 0);
	for (int i = 1; i <= 6000; i++) {
		buf_addf(&utf8, "%d,\"郑州二七区第%d号\n铺面\",€𠀀\r\n", i, i);
		buf_addf(&expect, "%d:%d|郑州二七区第%d号\n铺面|€𠀀\n", i, i, i);
	}
	assert_true(utf8.len > 3 * 65536);
	struct collect c = {0};
	struct err e;
	assert_int_equal(read_mem(utf8.p, utf8.len, TABULAR_AUTO, NULL, &c, &e), 0);
	assert_string_equal(c.b.p, expect.p);
	buf_release(&c.b);
	write_file(tmp_path("big.csv"), utf8.p, utf8.len);
	buf_init(&c.b, 0);
	assert_int_equal(tabular_read_file(tmp_path("big.csv"), TABULAR_CSV, NULL, collect_row, &c,
					   &e),
			 0);
	assert_string_equal(c.b.p, expect.p);
	buf_release(&c.b);

	/* the same text in GB18030, from a file and from memory */
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	assert_true(cd != (iconv_t)-1);
	size_t cap = utf8.len * 2, il = utf8.len, ol = cap;
	char *gb = malloc(cap), *ip = utf8.p, *op = gb;
	assert_int_not_equal(iconv(cd, &ip, &il, &op, &ol), (size_t)-1);
	iconv_close(cd);
	size_t gblen = cap - ol;
	assert_false(utf8_valid(gb, gblen));
	write_file(tmp_path("big-gb.csv"), gb, gblen);
	buf_init(&c.b, 0);
	assert_int_equal(tabular_read_file(tmp_path("big-gb.csv"), TABULAR_AUTO, NULL, collect_row,
					   &c, &e),
			 0);
	assert_string_equal(c.b.p, expect.p);
	buf_release(&c.b);
	assert_int_equal(read_mem(gb, gblen, TABULAR_CSV, NULL, &c, &e), 0);
	assert_string_equal(c.b.p, expect.p);
	buf_release(&c.b);
	free(gb);
	buf_release(&utf8);
	buf_release(&expect);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct collect c = {0};
	struct err e;
	buf_init(&c.b, 0);
	assert_int_equal(tabular_read_file("/nonexistent/x.csv", TABULAR_AUTO, NULL, collect_row,
					   &c, &e),
			 ERR_NOT_FOUND);
	assert_string_equal(e.field, "file");
	buf_release(&c.b);
}

/* ---- Excel dates ---- */

static void test_excel_dates(void **state)
{
	(void)state;
	static const struct {
		double serial;
		bool d1904;
		const char *out;
	} cases[] = {
		{1, false, "1900-01-01"},     {59, false, "1900-02-28"},   {60, false, NULL},
		{61, false, "1900-03-01"},    {25569, false, "1970-01-01"}, {43831, false, "2020-01-01"},
		{43831.75, false, "2020-01-01"}, {45657, false, "2024-12-31"}, {0, false, NULL},
		{-3, false, NULL},            {0, true, "1904-01-01"},     {42369, true, "2020-01-01"},
		{2958465, false, "9999-12-31"}, {2958466, false, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char out[11] = "";
		bool ok = tabular_excel_date(cases[i].serial, cases[i].d1904, out);
		if (!cases[i].out)
			assert_false(ok);
		else if (!ok || strcmp(out, cases[i].out) != 0)
			fail_msg("serial %g: got %s", cases[i].serial, ok ? out : "(refused)");
	}
	char name[8];
	tabular_column_name(0, name);
	assert_string_equal(name, "A");
	tabular_column_name(25, name);
	assert_string_equal(name, "Z");
	tabular_column_name(26, name);
	assert_string_equal(name, "AA");
	tabular_column_name(199, name);
	assert_string_equal(name, "GR");
	tabular_column_name(16383, name);
	assert_string_equal(name, "XFD");
}

/* ---- XLSX made by libxlsxwriter ---- */

static void make_workbook(const char *path, bool constant_memory)
{
	lxw_workbook_options o = {.constant_memory = constant_memory ? LXW_TRUE : LXW_FALSE};
	lxw_workbook *wb = workbook_new_opt(path, &o);
	assert_non_null(wb);
	lxw_worksheet *ws = workbook_add_worksheet(wb, "企业");
	lxw_worksheet *other = workbook_add_worksheet(wb, "other");
	lxw_format *date = workbook_add_format(wb);
	format_set_num_format(date, "yyyy-mm-dd");
	lxw_format *cn_date = workbook_add_format(wb);
	format_set_num_format(cn_date, "yyyy\"年\"m\"月\"d\"日\"");
	lxw_format *money = workbook_add_format(wb);
	format_set_num_format(money, "#,##0.00");
	lxw_format *red = workbook_add_format(wb);
	format_set_font_color(red, LXW_COLOR_RED);

	worksheet_write_string(ws, 0, 0, "统一社会信用代码", NULL);
	worksheet_write_string(ws, 0, 1, "企业名称", NULL);
	worksheet_write_string(ws, 0, 3, "成立日期", NULL); /* D1: C1 left out */
	worksheet_write_string(ws, 0, 4, "纬度", NULL);
	/* row 2 (index 1) left out entirely */
	worksheet_write_string(ws, 2, 0, "91350200776049653A", NULL);
	worksheet_write_string(ws, 2, 1, "厦门示范 & <公司>", NULL);
	lxw_datetime dt = {2019, 3, 5, 0, 0, 0};
	worksheet_write_datetime(ws, 2, 3, &dt, date);
	worksheet_write_number(ws, 2, 4, 34.7466, NULL);
	worksheet_write_number(ws, 3, 0, 13800138000.0, NULL);
	worksheet_write_number(ws, 3, 1, 1234.5, money);
	worksheet_write_boolean(ws, 3, 2, 1, NULL);
	lxw_datetime dt2 = {2020, 1, 1, 13, 30, 0};
	worksheet_write_datetime(ws, 3, 3, &dt2, cn_date);
	worksheet_write_number(ws, 3, 4, -0.0, NULL);
	if (!constant_memory) {
		lxw_rich_string_tuple f1 = {NULL, "郑州"}, f2 = {red, "二七"}, f3 = {NULL, "商贸"};
		lxw_rich_string_tuple *rich[] = {&f1, &f2, &f3, NULL};
		worksheet_write_rich_string(ws, 4, 1, rich, NULL);
	} else {
		worksheet_write_string(ws, 4, 1, "郑州二七商贸", NULL);
	}
	worksheet_write_number(ws, 4, 4, 43831, NULL); /* a date serial without a date format */
	worksheet_write_string(ws, 5, 2, "", NULL);     /* nothing on row 6 */
	worksheet_write_blank(ws, 6, 0, date);          /* styled but empty */
	worksheet_write_string(ws, 7, 0, "line1\nline2", NULL);
	worksheet_write_string(other, 0, 0, "not this sheet", NULL);
	assert_int_equal(workbook_close(wb), LXW_NO_ERROR);
}

static const char *const WORKBOOK_ROWS =
	"1:统一社会信用代码|企业名称||成立日期|纬度\n"
	"3:91350200776049653A|厦门示范 & <公司>||@2019-03-05|#34.7466\n"
	"4:#13800138000|#1234.5|?TRUE|@2020-01-01|#0\n"
	"5:|郑州二七商贸|||#43831\n"
	"8:line1\nline2\n";

static void test_xlsx_written(void **state)
{
	(void)state;
	for (int cm = 0; cm < 2; cm++) {
		const char *path = tmp_path(cm ? "cm.xlsx" : "sst.xlsx");
		make_workbook(path, cm);
		struct collect c = {0};
		struct err e;
		buf_init(&c.b, 0);
		int rc = tabular_read_file(path, TABULAR_AUTO, NULL, collect_row, &c, &e);
		if (rc)
			fail_msg("%s: %s", path, e.message);
		assert_string_equal(c.b.p, WORKBOOK_ROWS);
		assert_false(c.date1904);
		buf_release(&c.b);
		/* from memory too */
		size_t n;
		char *data = slurp(path, &n);
		assert_int_equal(read_mem(data, n, TABULAR_AUTO, NULL, &c, &e), 0);
		assert_string_equal(c.b.p, WORKBOOK_ROWS);
		buf_release(&c.b);
		/* truncated: refused */
		for (size_t cut = 0; cut < 3; cut++) {
			size_t len = cut == 0 ? n / 2 : cut == 1 ? n - 10 : 100;
			rc = read_mem(data, len, TABULAR_AUTO, NULL, &c, &e);
			assert_int_equal(rc, ERR_UNPROCESSABLE);
			assert_string_equal(e.field, "file");
			buf_release(&c.b);
		}
		/* a lower unzipped limit: the same file is a "zip bomb" */
		struct tabular_opts o = {.max_unzipped = 1000};
		assert_int_equal(read_mem(data, n, TABULAR_XLSX, &o, &c, &e), ERR_UNPROCESSABLE);
		assert_non_null(strstr(e.message, "zip bomb"));
		buf_release(&c.b);
		free(data);
	}
}

/* ---- XLSX built by hand ---- */

struct part {
	const char *name;
	const char *text;
};

static void *make_zip(const struct part *parts, size_t n, size_t *len)
{
	const char *path = tmp_path("hand.zip");
	unlink(path);
	int err = 0;
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	assert_non_null(z);
	for (size_t i = 0; i < n; i++) {
		zip_source_t *s = zip_source_buffer(z, parts[i].text, strlen(parts[i].text), 0);
		assert_non_null(s);
		assert_true(zip_file_add(z, parts[i].name, s, ZIP_FL_ENC_UTF_8) >= 0);
	}
	assert_int_equal(zip_close(z), 0);
	return slurp(path, len);
}

#define NS "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" " \
	   "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\""

static const char *const WB =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook " NS ">"
	"<workbookPr date1904=\"1\"/><sheets><sheet name=\"数据\" sheetId=\"3\" r:id=\"rId7\"/>"
	"<sheet name=\"b\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char *const RELS =
	"<?xml version=\"1.0\"?><Relationships "
	"xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
	"<Relationship Id=\"rId7\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/worksheet\" Target=\"/xl/worksheets/data.xml\"/>"
	"<Relationship Id=\"rId9\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/sharedStrings\" Target=\"strings.xml\"/>"
	"<Relationship Id=\"rId8\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
	"relationships/styles\" Target=\"styles.xml\"/></Relationships>";
static const char *const STYLES =
	"<styleSheet " NS "><numFmts count=\"1\"><numFmt numFmtId=\"170\" "
	"formatCode=\"[$-804]yyyy&quot;年&quot;m&quot;月&quot;\"/></numFmts>"
	"<cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>"
	"<cellXfs count=\"3\"><xf numFmtId=\"0\"/><xf numFmtId=\"170\"/><xf numFmtId=\"4\"/></cellXfs>"
	"</styleSheet>";
static const char *const STRINGS =
	"<sst " NS " count=\"3\" uniqueCount=\"3\"><si><t>名称</t></si>"
	"<si><r><rPr><b/></rPr><t>郑州</t></r><r><t xml:space=\"preserve\"> 二七 </t></r>"
	"<rPh sb=\"0\" eb=\"1\"><t>ZHENG</t></rPh></si>"
	"<si><t>a_x000D_b_x005F_c</t></si></sst>";
static const char *const SHEET =
	"<worksheet " NS "><dimension ref=\"A1:D4\"/><sheetData>"
	"<row r=\"2\"><c r=\"A2\" t=\"s\"><v>0</v></c><c r=\"C2\" t=\"inlineStr\"><is><t>内联</t></is></c></row>"
	"<row><c t=\"s\"><v>1</v></c><c s=\"1\"><v>0</v></c><c s=\"2\"><v>3.5</v></c>"
	"<c t=\"b\"><v>0</v></c></row>"
	"<row r=\"9\"><c r=\"B9\" t=\"s\"><v>2</v></c><c r=\"C9\" t=\"e\"><v>#N/A</v></c>"
	"<c r=\"D9\" t=\"str\"><f>A1</f><v>公式</v></c><c r=\"E9\" t=\"d\"><v>2021-05-06T00:00:00</v></c>"
	"<c r=\"F9\" t=\"inlineStr\"><is><r><t>富</t></r><r><t>文本</t></r></is></c></row>"
	"</sheetData></worksheet>";

static void test_xlsx_by_hand(void **state)
{
	(void)state;
	struct collect c = {0};
	struct err e;
	size_t n;
	const struct part parts[] = {
		{"[Content_Types].xml", "<Types/>"}, {"xl/workbook.xml", WB},
		{"xl/_rels/workbook.xml.rels", RELS}, {"xl/styles.xml", STYLES},
		{"xl/strings.xml", STRINGS},         {"xl/worksheets/data.xml", SHEET},
		{"xl/worksheets/sheet1.xml", "<worksheet><sheetData><row><c t=\"inlineStr\"><is>"
					     "<t>wrong sheet</t></is></c></row></sheetData></worksheet>"},
	};
	char *zip = make_zip(parts, ARRAY_SIZE(parts), &n);
	int rc = read_mem(zip, n, TABULAR_AUTO, NULL, &c, &e);
	if (rc)
		fail_msg("%s", e.message);
	assert_string_equal(c.b.p, "2:名称||内联\n"
				   "3:郑州 二七 |@1904-01-01|#3.5|?FALSE\n"
				   "9:|a\rb_c|#N/A|公式|@2021-05-06|富文本\n");
	assert_true(c.date1904);
	buf_release(&c.b);
	free(zip);

	/* no relationships: the first sheet falls back to sheet1.xml */
	const struct part bare[] = {
		{"xl/workbook.xml", "<workbook/>"},
		{"xl/worksheets/sheet1.xml", "<worksheet><sheetData><row><c><v>1</v></c>"
					     "<c t=\"inlineStr\"><is><t>x</t></is></c></row></sheetData></worksheet>"},
	};
	zip = make_zip(bare, ARRAY_SIZE(bare), &n);
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, NULL, &c, &e), 0);
	assert_string_equal(c.b.p, "1:#1|x\n");
	buf_release(&c.b);
	free(zip);

	/* a zip that is not a workbook */
	const struct part notxlsx[] = {{"hello.txt", "hello"}};
	zip = make_zip(notxlsx, 1, &n);
	assert_int_equal(read_mem(zip, n, TABULAR_AUTO, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "not an Excel workbook"));
	buf_release(&c.b);
	free(zip);
	const struct part ods[] = {{"mimetype", "application/vnd.oasis.opendocument.spreadsheet"},
				   {"content.xml", "<x/>"}};
	zip = make_zip(ods, 2, &n);
	assert_int_equal(read_mem(zip, n, TABULAR_AUTO, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, ".ods"));
	buf_release(&c.b);
	free(zip);

	/* not a zip at all, but said to be XLSX */
	assert_int_equal(read_mem("PK\3\4garbage", 11, TABULAR_AUTO, NULL, &c, &e),
			 ERR_UNPROCESSABLE);
	buf_release(&c.b);
	assert_int_equal(read_mem("a,b\n", 4, TABULAR_XLSX, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "not an .xlsx file"));
	buf_release(&c.b);

	/* a DTD (entity expansion) is refused */
	const struct part dtd[] = {
		{"xl/workbook.xml", "<workbook/>"},
		{"xl/worksheets/sheet1.xml",
		 "<!DOCTYPE w [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>"
		 "<worksheet><sheetData><row><c t=\"inlineStr\"><is><t>&b;</t></is></c></row>"
		 "</sheetData></worksheet>"},
	};
	zip = make_zip(dtd, 2, &n);
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "DTD"));
	buf_release(&c.b);
	free(zip);

	/* broken XML names the part and line */
	const struct part bad[] = {
		{"xl/workbook.xml", "<workbook/>"},
		{"xl/worksheets/sheet1.xml", "<worksheet><sheetData><row>\n<c></row>"},
	};
	zip = make_zip(bad, 2, &n);
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "xl/worksheets/sheet1.xml"));
	assert_non_null(strstr(e.message, "line 2"));
	buf_release(&c.b);
	free(zip);

	/* a shared string index out of range, and a shared string over the cell limit */
	const struct part sst[] = {
		{"xl/workbook.xml", "<workbook/>"},
		{"xl/sharedStrings.xml", "<sst><si><t>abcdef</t></si></sst>"},
		{"xl/worksheets/sheet1.xml", "<worksheet><sheetData><row r=\"4\"><c t=\"s\"><v>0</v>"
					     "</c><c t=\"s\"><v>1</v></c></row></sheetData></worksheet>"},
	};
	zip = make_zip(sst, 3, &n);
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, NULL, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "row 4: reference to a missing shared string"));
	buf_release(&c.b);
	struct tabular_opts small = {.max_cell = 5};
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, &small, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "row 4, column A: cell too long"));
	buf_release(&c.b);
	free(zip);

	/* a sheet that inflates beyond the limit while streaming */
	struct buf big;
	buf_init(&big, 0);
	buf_adds(&big, "<worksheet><sheetData>");
	for (int i = 1; i <= 40000; i++)
		buf_addf(&big, "<row r=\"%d\"><c><v>%d</v></c></row>", i, i);
	buf_adds(&big, "</sheetData></worksheet>");
	const struct part bomb[] = {{"xl/workbook.xml", "<workbook/>"},
				    {"xl/worksheets/sheet1.xml", big.p}};
	zip = make_zip(bomb, 2, &n);
	assert_true(n < big.len / 4);
	struct tabular_opts o = {.max_unzipped = 100000};
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, &o, &c, &e), ERR_UNPROCESSABLE);
	assert_non_null(strstr(e.message, "zip bomb"));
	buf_release(&c.b);
	assert_int_equal(read_mem(zip, n, TABULAR_XLSX, NULL, &c, &e), 0);
	assert_int_equal(c.rows, 40000);
	buf_release(&c.b);
	free(zip);
	buf_release(&big);
}

/* ---- the importer's header and value mapping ---- */

static void test_import_headers(void **state)
{
	(void)state;
	static const struct {
		const char *header;
		int field;
	} cases[] = {
		{"统一社会信用代码", F_CODE}, {" 统一社会信用代码* ", F_CODE}, {"Credit Code", F_CODE},
		{"credit_code", F_CODE},     {"企业名称（必填）", F_NAME},  {"名称", F_NAME},
		{"NAME", F_NAME},            {"经营者", F_LEGAL_REP},     {"住所", F_ADDRESS},
		{"纬度(WGS-84)", F_LAT},     {"经度", F_LON},             {"登记日期", F_REGISTERED},
		{"\u3000状态\u3000", F_STATUS}, {"重点企业＊", F_KEY},     {"标签", F_TAGS},
		{"行业大类", F_DIVISION},     {"size_class", F_SIZE},      {"备注", -1},
		{"", -1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (field_of(cases[i].header) != cases[i].field)
			fail_msg("header '%s': got %d", cases[i].header, field_of(cases[i].header));
	/* every header an export writes reads back as its own field */
	for (int f = 0; f < F__COUNT; f++)
		assert_int_equal(field_of(fields[f].zh), f);
}

static void test_import_values(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} dates[] = {
		{"2019-03-05", "2019-03-05"}, {"2019/3/5", "2019-03-05"}, {"2019.03.05", "2019-03-05"},
		{"2019年3月5日", "2019-03-05"}, {"20190305", "2019-03-05"},
		{"2019-03-05 00:00:00", "2019-03-05"}, {"2019-3", "2019-3"}, {"tomorrow", "tomorrow"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(dates); i++) {
		char v[32];
		snprintf(v, sizeof v, "%s", dates[i].in);
		normalise_date(v);
		assert_string_equal(v, dates[i].out);
	}
	char v[32];
	snprintf(v, sizeof v, "1");
	normalise_division(v);
	assert_string_equal(v, "01");
	snprintf(v, sizeof v, "13 农副食品加工业");
	normalise_division(v);
	assert_string_equal(v, "13");
	snprintf(v, sizeof v, "c 制造业");
	assert_string_equal(normalise_section(v), "C");
	snprintf(v, sizeof v, "制造业");
	assert_string_equal(normalise_section(v), "C");

	/* a whole row: labels in Chinese, masked contact data, an Excel date serial */
	const char *cells[] = {"914101030000000190", " 郑州测试有限公司 ", "个体工商户", "张**",
			       "138****0001", "43831", "34.7466", "113.6", "吊销，未注销", "是",
			       "'+86 371 1234"};
	size_t lens[ARRAY_SIZE(cells)];
	const unsigned char kinds[] = {0, 0, 0, 0, 0, TABULAR_NUMBER, TABULAR_NUMBER, 0, 0, 0, 0};
	struct tabular_row row = {2, ARRAY_SIZE(cells), cells, lens, kinds, false, 0, 0};
	int col[F__COUNT];
	for (int f = 0; f < F__COUNT; f++)
		col[f] = -1;
	col[F_CODE] = 0, col[F_NAME] = 1, col[F_KIND] = 2, col[F_LEGAL_REP] = 3, col[F_PHONE] = 4;
	col[F_REGISTERED] = 5, col[F_LAT] = 6, col[F_LON] = 7, col[F_STATUS] = 8, col[F_KEY] = 9;
	col[F_ADDRESS] = 10;
	struct arena *a = arena_new(4096);
	struct row_in ri = {&row, col, a};
	struct enterprise_input in;
	struct err e;
#define LENS()                                                                                \
	for (size_t i = 0; i < ARRAY_SIZE(cells); i++)                                      \
		lens[i] = strlen(cells[i]);
	LENS();
	err_clear(&e);
	assert_int_equal(convert(&ri, &in, false, false, &e), 0);
	assert_string_equal(in.credit_code, "914101030000000190");
	assert_string_equal(in.name, "郑州测试有限公司");
	assert_string_equal(in.kind, "individual");
	assert_null(in.legal_rep);                      /* masked: left unchanged */
	assert_null(in.phone);
	assert_string_equal(in.address, "+86 371 1234"); /* the formula guard removed */
	assert_string_equal(in.registered_on, "2020-01-01");
	assert_true(in.set_location);
	assert_true(in.lat == 34.7466 && in.lon == 113.6);
	assert_string_equal(in.status, "revoked");
	assert_true(in.set_key && in.is_key);
	assert_null(in.tags);                           /* column absent */
	assert_int_equal(enterprise_validate(&in, true, &e), 0);

	/* errors name the field */
	cells[9] = "maybe";
	LENS();
	assert_int_equal(convert(&ri, &in, false, false, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "is_key");
	cells[9] = "否";
	cells[7] = "";
	LENS();
	assert_int_equal(convert(&ri, &in, false, false, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "lon");
	cells[6] = "";
	LENS();
	assert_int_equal(convert(&ri, &in, false, false, &e), 0);
	assert_true(in.clear_location && !in.set_location);
	assert_true(in.set_key && !in.is_key);
	cells[6] = "北纬34";
	cells[7] = "113";
	LENS();
	assert_int_equal(convert(&ri, &in, false, false, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "lat");
	/* unknown labels go to enterprise_validate, which names the field */
	cells[6] = "34";
	cells[8] = "歇业";
	LENS();
	assert_int_equal(convert(&ri, &in, false, false, &e), 0);
	assert_int_equal(enterprise_validate(&in, true, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "status");
	/* a row shorter than the header: the missing cells are empty */
	row.n = 2;
	assert_int_equal(convert(&ri, &in, false, false, &e), 0);
	assert_string_equal(in.address, "");
	assert_true(in.clear_location);
#undef LENS
	arena_free(a);
}

static void test_csv_writer_round_trip(void **state)
{
	(void)state;
	const char *vals[] = {"plain", "a,b", "say \"hi\"", "two\nlines", " pad ", "=1+1",
			      "+86 371", "-12.5", "@home", "", "郑州"};
	struct buf out;
	buf_init(&out, 0);
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
		if (i)
			buf_addc(&out, ',');
		csv_cell(&out, vals[i]);
	}
	buf_adds(&out, "\r\n");
	assert_non_null(strstr(out.p, "\"'=1+1\""));
	assert_non_null(strstr(out.p, ",-12.5,"));
	struct collect c = {0};
	struct err e;
	assert_int_equal(read_mem(out.p, out.len, TABULAR_CSV, NULL, &c, &e), 0);
	assert_string_equal(c.b.p, "1:plain|a,b|say \"hi\"|two\nlines| pad |'=1+1|'+86 371|-12.5|"
				   "'@home||郑州\n");
	buf_release(&c.b);
	buf_release(&out);
	char d[32];
	double_text(34.7466, d, sizeof d);
	assert_string_equal(d, "34.7466");
	double_text(0.1 + 0.2, d, sizeof d);
	assert_true(strtod(d, NULL) == 0.1 + 0.2);
}

static int cleanup(void **state)
{
	(void)state;
	static const char *const names[] = {"case.csv", "big.csv",  "big-gb.csv", "cm.xlsx",
					    "sst.xlsx", "hand.zip"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		unlink(tmp_path(names[i]));
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_cases),      cmocka_unit_test(test_csv_limits),
		cmocka_unit_test(test_csv_chunks),     cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_excel_dates),    cmocka_unit_test(test_xlsx_written),
		cmocka_unit_test(test_xlsx_by_hand),   cmocka_unit_test(test_import_headers),
		cmocka_unit_test(test_import_values),  cmocka_unit_test(test_csv_writer_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, cleanup);
}
