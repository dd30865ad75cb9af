/*
 * tabular.c — CSV and XLSX readers (see tabular.h).
 *
 * Both readers assemble one row at a time in a struct rowbuf and hand it to
 * the caller's callback. CSV is a byte-level state machine fed in chunks,
 * after an optional pass through iconv (GB18030 -> UTF-8). XLSX is a zip:
 * libzip inflates each XML part in chunks straight into an expat parser, so
 * the worksheet is never held whole; workbook.xml and its relationships
 * name the first sheet, styles.xml says which cell formats are dates, and
 * sharedStrings.xml is loaded into one buffer of NUL-terminated strings.
 */
#include "core/tabular.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <iconv.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "base/buf.h"
#include "base/util.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define CHUNK 65536

void tabular_column_name(size_t col, char out[8])
{
	char tmp[8];
	int n = 0;
	col++;
	while (col && n < 7) {
		tmp[n++] = (char)('A' + (col - 1) % 26);
		col = (col - 1) / 26;
	}
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

static void resolve_opts(const struct tabular_opts *in, struct tabular_opts *o)
{
	o->max_cell = in && in->max_cell ? in->max_cell : TABULAR_MAX_CELL;
	o->max_cells = in && in->max_cells ? in->max_cells : TABULAR_MAX_CELLS;
	o->max_unzipped = in && in->max_unzipped ? in->max_unzipped : TABULAR_MAX_UNZIPPED;
}

/* ---- the row being assembled ---- */

struct rowbuf {
	struct buf text;       /* the cells, each followed by a NUL */
	size_t *off;           /* start of each cell in text */
	size_t *lens;
	const char **ptrs;     /* filled just before the callback (text may move) */
	unsigned char *kinds;
	size_t n;              /* cells so far (empty cells are added only before a value) */
	size_t max_cell, max_cells;
	int64_t row_no;
	bool date1904;
	uint64_t done, total;  /* progress */
	tabular_row_fn fn;
	void *ctx;
};

static void rowbuf_init(struct rowbuf *rb, const struct tabular_opts *o, tabular_row_fn fn,
			void *ctx)
{
	memset(rb, 0, sizeof *rb);
	buf_init(&rb->text, 0);
	rb->max_cell = o->max_cell;
	rb->max_cells = o->max_cells;
	rb->off = xcalloc(o->max_cells, sizeof *rb->off);
	rb->lens = xcalloc(o->max_cells, sizeof *rb->lens);
	rb->ptrs = xcalloc(o->max_cells, sizeof *rb->ptrs);
	rb->kinds = xcalloc(o->max_cells, 1);
	rb->fn = fn;
	rb->ctx = ctx;
}

static void rowbuf_release(struct rowbuf *rb)
{
	buf_release(&rb->text);
	free(rb->off);
	free(rb->lens);
	free(rb->ptrs);
	free(rb->kinds);
}

static int cell_error(struct err *e, int64_t row, size_t col, const char *zh, const char *en,
		      size_t limit)
{
	char c[8], mzh[200], men[200];
	tabular_column_name(col, c);
	snprintf(mzh, sizeof mzh, "第 %" PRId64 " 行 %s 列：%s（上限 %zu）", row, c, zh, limit);
	snprintf(men, sizeof men, "row %" PRId64 ", column %s: %s (limit %zu)", row, c, en, limit);
	return err_set_msg(e, ERR_UNPROCESSABLE, "file", mzh, men);
}

static int too_long(struct err *e, int64_t row, size_t col, size_t limit)
{
	return cell_error(e, row, col, "单元格内容过长（字节）", "cell too long (bytes)", limit);
}

/* Add cell number col (0-based) to the row; empty cells are left implicit. */
static int rowbuf_push(struct rowbuf *rb, size_t col, const char *s, size_t len,
		       unsigned char kind, struct err *e)
{
	if (len == 0)
		return 0;
	if (col >= rb->max_cells)
		return cell_error(e, rb->row_no, col, "列数过多", "too many columns", rb->max_cells);
	if (len > rb->max_cell)
		return too_long(e, rb->row_no, col, rb->max_cell);
	if (col < rb->n)
		return cell_error(e, rb->row_no, col, "单元格重复或顺序错误",
				  "cell repeated or out of order", rb->max_cells);
	while (rb->n < col) {
		rb->off[rb->n] = rb->text.len;
		rb->lens[rb->n] = 0;
		rb->kinds[rb->n] = TABULAR_TEXT;
		buf_addc(&rb->text, '\0');
		rb->n++;
	}
	rb->off[rb->n] = rb->text.len;
	rb->lens[rb->n] = len;
	rb->kinds[rb->n] = kind;
	buf_add(&rb->text, s, len);
	buf_addc(&rb->text, '\0');
	rb->n++;
	return 0;
}

/* Hand the row to the callback (unless empty) and start the next one. */
static int rowbuf_emit(struct rowbuf *rb, struct err *e)
{
	int rc = 0;
	if (rb->n) {
		for (size_t i = 0; i < rb->n; i++)
			rb->ptrs[i] = rb->text.p + rb->off[i];
		struct tabular_row row = {rb->row_no, rb->n, rb->ptrs, rb->lens, rb->kinds,
					  rb->date1904, rb->done, rb->total};
		rc = rb->fn(&row, rb->ctx, e);
		if (rc && e->code == ERR_OK)
			err_set(e, rc, NULL, "读取被中止", "reading stopped");
	}
	buf_reset(&rb->text);
	rb->n = 0;
	return rc;
}

/* ---- input: a file or a buffer ---- */

struct src {
	FILE *f;
	const unsigned char *mem;
	size_t len, pos;
	uint64_t total; /* size in bytes */
	const char *name;
};

static int src_read(struct src *s, unsigned char *p, size_t cap, size_t *got, struct err *e)
{
	if (!s->f) {
		size_t n = s->len - s->pos < cap ? s->len - s->pos : cap;
		memcpy(p, s->mem + s->pos, n);
		s->pos += n;
		*got = n;
		return 0;
	}
	*got = fread(p, 1, cap, s->f);
	s->pos += *got;
	if (*got == 0 && ferror(s->f))
		return err_set(e, ERR_INTERNAL, "file", "无法读取文件“%s”：%s",
			       "cannot read '%s': %s", s->name, strerror(errno));
	return 0;
}

static int src_rewind(struct src *s, struct err *e)
{
	s->pos = 0;
	if (s->f && fseek(s->f, 0, SEEK_SET) != 0)
		return err_set(e, ERR_INTERNAL, "file", "无法重新读取文件“%s”",
			       "cannot rewind '%s'", s->name);
	return 0;
}

/* ---- CSV ---- */

enum csv_state { S_START, S_UNQUOTED, S_QUOTED, S_QUOTE_IN_QUOTED, S_AFTER_CR };

struct csv {
	struct rowbuf rb;
	struct buf cell;     /* the cell being read */
	enum csv_state state;
	size_t col;
	bool cell_over;      /* the cell passed max_cell */
	int64_t record;      /* number of the current record, 1-based */
	int64_t quote_row;   /* record where the open quoted cell started */
	int rc;
};

static int csv_end_cell(struct csv *c, struct err *e)
{
	c->rb.row_no = c->record;
	if (c->cell_over)
		return too_long(e, c->record, c->col, c->rb.max_cell);
	int rc = rowbuf_push(&c->rb, c->col, c->cell.p, c->cell.len, TABULAR_TEXT, e);
	buf_reset(&c->cell);
	c->col++;
	return rc;
}

static int csv_end_row(struct csv *c, struct err *e)
{
	int rc = csv_end_cell(c, e);
	if (!rc)
		rc = rowbuf_emit(&c->rb, e);
	c->col = 0;
	c->record++;
	return rc;
}

static void csv_add(struct csv *c, const unsigned char *p, size_t n)
{
	if (!c->cell_over && buf_add(&c->cell, p, n))
		c->cell_over = true;
}

/* Feed n bytes of UTF-8 text. */
static int csv_feed(struct csv *c, const unsigned char *p, size_t n, struct err *e)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char ch = p[i];
		switch (c->state) {
		case S_AFTER_CR:
			c->state = S_START;
			if (ch == '\n')
				break;
			/* a lone CR ended the record: ch starts the next one */
			/* fall through */
		case S_START:
			if (ch == '"') {
				c->state = S_QUOTED;
				c->quote_row = c->record;
			} else if (ch == ',') {
				rc = csv_end_cell(c, e);
			} else if (ch == '\n') {
				rc = csv_end_row(c, e);
			} else if (ch == '\r') {
				rc = csv_end_row(c, e);
				c->state = S_AFTER_CR;
			} else {
				csv_add(c, &ch, 1);
				c->state = S_UNQUOTED;
			}
			break;
		case S_UNQUOTED: {
			size_t j = i;
			while (j < n && p[j] != ',' && p[j] != '\n' && p[j] != '\r')
				j++;
			csv_add(c, p + i, j - i);
			i = j;
			if (i == n)
				break;
			ch = p[i];
			if (ch == ',') {
				rc = csv_end_cell(c, e);
				c->state = S_START;
			} else {
				rc = csv_end_row(c, e);
				c->state = ch == '\r' ? S_AFTER_CR : S_START;
			}
			break;
		}
		case S_QUOTED: {
			size_t j = i;
			while (j < n && p[j] != '"')
				j++;
			csv_add(c, p + i, j - i);
			i = j;
			if (i < n)
				c->state = S_QUOTE_IN_QUOTED;
			break;
		}
		case S_QUOTE_IN_QUOTED:
			if (ch == '"') {
				csv_add(c, &ch, 1);
				c->state = S_QUOTED;
			} else if (ch == ',') {
				rc = csv_end_cell(c, e);
				c->state = S_START;
			} else if (ch == '\n' || ch == '\r') {
				rc = csv_end_row(c, e);
				c->state = ch == '\r' ? S_AFTER_CR : S_START;
			} else {
				/* "ab"cd: lenient, as Excel reads it */
				csv_add(c, &ch, 1);
				c->state = S_UNQUOTED;
			}
			break;
		}
		/* a cell growing past the limit stops the read at once (an unclosed
		 * quote would otherwise swallow the rest of the file first) */
		if (!rc && c->cell_over)
			rc = too_long(e, c->record, c->col, c->rb.max_cell);
	}
	return rc;
}

static int csv_finish(struct csv *c, struct err *e)
{
	if (c->state == S_QUOTED)
		return err_set(e, ERR_UNPROCESSABLE, "file",
			       "第 %" PRId64 " 行开始的引号没有闭合",
			       "row %" PRId64 ": quoted cell is never closed", c->quote_row);
	if (c->state == S_START && c->col == 0)
		return 0;
	if (c->state == S_AFTER_CR)
		return 0;
	return csv_end_row(c, e);
}

/* Bytes at the end of p[0..n) that begin a UTF-8 sequence not yet complete. */
static size_t utf8_tail(const unsigned char *p, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		unsigned char b = p[n - k];
		if ((b & 0xC0) == 0x80)
			continue;
		size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
		return need > k ? k : 0;
	}
	return 0;
}

/* Is the whole input valid UTF-8 (after skip bytes)? Reads s to the end. */
static int scan_utf8(struct src *s, size_t skip, bool *valid, struct err *e)
{
	if (!s->f) {
		*valid = utf8_valid((const char *)s->mem + skip, s->len - skip);
		return 0;
	}
	unsigned char *b = xmalloc(CHUNK + 4);
	size_t carry = 0, got;
	int rc = src_rewind(s, e);
	*valid = true;
	if (!rc && skip)
		rc = src_read(s, b, skip, &got, e);
	while (!rc && *valid) {
		rc = src_read(s, b + carry, CHUNK, &got, e);
		if (rc)
			break;
		if (got == 0) {
			*valid = carry == 0;
			break;
		}
		size_t n = carry + got, tail = utf8_tail(b, n);
		*valid = utf8_valid((const char *)b, n - tail);
		memmove(b, b + n - tail, tail);
		carry = tail;
	}
	free(b);
	return rc;
}

/* Convert GB18030 to UTF-8 with iconv and feed the parser. */
static int feed_gb18030(struct csv *c, struct src *s, struct err *e)
{
	iconv_t cd = iconv_open("UTF-8", "GB18030");
	if (cd == (iconv_t)-1)
		return err_set(e, ERR_INTERNAL, "file", "系统不支持 GB18030 编码转换",
			       "GB18030 conversion is not available (iconv)");
	char *in = xmalloc(CHUNK + 16), *out = xmalloc(CHUNK * 4);
	size_t inlen = 0, got;
	uint64_t consumed = 0;
	int rc = 0;
	for (;;) {
		rc = src_read(s, (unsigned char *)in + inlen, CHUNK, &got, e);
		if (rc)
			break;
		bool eof = got == 0;
		inlen += got;
		c->rb.done = s->pos;
		char *ip = in;
		size_t il = inlen;
		while (il > 0 && !rc) {
			char *op = out;
			size_t ol = CHUNK * 4;
			size_t r = iconv(cd, &ip, &il, &op, &ol);
			int err = errno;
			rc = csv_feed(c, (unsigned char *)out, (size_t)(op - out), e);
			if (rc || r != (size_t)-1)
				break;
			if (err == E2BIG)
				continue;
			if (err == EINVAL && !eof)
				break; /* incomplete sequence at the end: carry it over */
			rc = err_set(e, ERR_UNPROCESSABLE, "file",
				     "文件编码无法识别：第 %" PRIu64 " 字节起既不是 UTF-8 也不是 GB18030",
				     "unknown encoding: byte %" PRIu64
				     " is neither UTF-8 nor GB18030; save the file as CSV UTF-8",
				     consumed + (uint64_t)(ip - in));
		}
		if (rc)
			break;
		consumed += (uint64_t)(ip - in);
		memmove(in, ip, il);
		inlen = il;
		if (eof)
			break;
	}
	free(in);
	free(out);
	iconv_close(cd);
	return rc;
}

static int read_csv(struct src *s, const struct tabular_opts *o, tabular_row_fn fn, void *ctx,
		    struct err *e)
{
	struct csv c;
	unsigned char head[4] = {0};
	size_t got = 0, skip = 0;
	bool valid = false;
	int rc;

	memset(&c, 0, sizeof c);
	rowbuf_init(&c.rb, o, fn, ctx);
	buf_init(&c.cell, o->max_cell);
	c.record = 1;
	c.rb.total = s->total;

	rc = src_read(s, head, sizeof head, &got, e);
	if (rc)
		goto out;
	if (got >= 2 && ((head[0] == 0xFF && head[1] == 0xFE) || (head[0] == 0xFE && head[1] == 0xFF))) {
		rc = err_set(e, ERR_UNPROCESSABLE, "file",
			     "不支持 UTF-16 编码的文件，请另存为“CSV UTF-8”或 .xlsx",
			     "UTF-16 text is not supported; save as 'CSV UTF-8' or .xlsx");
		goto out;
	}
	if (got >= 4 && head[0] == 0xD0 && head[1] == 0xCF && head[2] == 0x11 && head[3] == 0xE0) {
		rc = err_set(e, ERR_UNPROCESSABLE, "file",
			     "这是旧版 .xls 或加密的工作簿，请另存为 .xlsx 或 CSV",
			     "this is a legacy .xls or an encrypted workbook; save it as .xlsx or CSV");
		goto out;
	}
	bool bom = got >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF;
	bool gb_bom = got >= 4 && head[0] == 0x84 && head[1] == 0x31 && head[2] == 0x95 &&
		      head[3] == 0x33;
	skip = bom ? 3 : gb_bom ? 4 : 0;
	if (!gb_bom) {
		rc = scan_utf8(s, skip, &valid, e);
		if (rc)
			goto out;
		if (bom && !valid) {
			rc = err_set(e, ERR_UNPROCESSABLE, "file",
				     "文件声明为 UTF-8 但含有无效的 UTF-8 字节",
				     "the file says it is UTF-8 (byte-order mark) but is not valid UTF-8");
			goto out;
		}
	}
	rc = src_rewind(s, e);
	if (!rc && skip)
		rc = src_read(s, head, skip, &got, e);
	if (rc)
		goto out;
	if (valid) {
		unsigned char *b = xmalloc(CHUNK);
		for (;;) {
			rc = src_read(s, b, CHUNK, &got, e);
			if (rc || got == 0)
				break;
			c.rb.done = s->pos;
			rc = csv_feed(&c, b, got, e);
			if (rc)
				break;
		}
		free(b);
	} else {
		rc = feed_gb18030(&c, s, e);
	}
	if (!rc) {
		c.rb.done = s->total;
		rc = csv_finish(&c, e);
	}
out:
	buf_release(&c.cell);
	rowbuf_release(&c.rb);
	return rc;
}

/* ---- XLSX ---- */

struct xlsx {
	zip_t *z;
	struct tabular_opts o;
	uint64_t inflated;      /* bytes inflated so far, against o.max_unzipped */
	bool date1904;
	char sheet_rid[128];
	char sheet[512], sst[512], styles[512]; /* part names inside the zip */
	struct buf sst_text;    /* shared strings, each NUL-terminated */
	size_t *sst_off;
	size_t sst_n, sst_cap;
	unsigned char *xf_date; /* per cellXfs entry: 1 if its number format is a date */
	size_t xf_n, xf_cap;
	int *date_fmts;         /* custom number format ids that are dates */
	size_t date_fmt_n, date_fmt_cap;
};

/* State common to every part parser; each parser's struct embeds it first. */
struct xp {
	XML_Parser p;
	struct xlsx *x;
	struct err *e;
	int rc;                 /* set by a handler that stopped the parse */
	uint64_t done, total;   /* progress through the part */
};

static void xp_stop(struct xp *xp, int rc)
{
	if (!xp->rc)
		xp->rc = rc;
	XML_StopParser(xp->p, XML_FALSE);
}

static const char *local_name(const char *name)
{
	const char *s = strrchr(name, '|');
	return s ? s + 1 : name;
}

/* Attribute by local name; ns: true = must have a namespace, false = must not. */
static const char *attr(const char **atts, const char *name, bool ns)
{
	for (int i = 0; atts[i]; i += 2) {
		const char *bar = strrchr(atts[i], '|');
		if ((bar != NULL) == ns && strcmp(bar ? bar + 1 : atts[i], name) == 0)
			return atts[i + 1];
	}
	return NULL;
}

static void XMLCALL no_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal)
{
	struct xp *xp = ud;
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	xp_stop(xp, err_set(xp->e, ERR_UNPROCESSABLE, "file", "工作簿含有不允许的 DTD",
			    "the workbook contains a DTD, which is not allowed"));
}

static int bomb(struct xlsx *x, struct err *e)
{
	return err_set(e, ERR_UNPROCESSABLE, "file",
		       "工作簿解压后超过 %" PRIu64 " 字节，拒绝读取（疑似压缩炸弹）",
		       "the workbook inflates to more than %" PRIu64 " bytes (zip bomb?); refused",
		       x->o.max_unzipped);
}

/*
 * Inflate part `name` chunk by chunk into an expat parser with the given
 * handlers. *found (if not NULL) tells whether the part exists; a missing
 * part is then not an error.
 */
static int read_part(struct xlsx *x, const char *name, bool *found, struct xp *xp,
		     XML_StartElementHandler start, XML_EndElementHandler end,
		     XML_CharacterDataHandler text, struct err *e)
{
	zip_int64_t idx = zip_name_locate(x->z, name, 0);
	zip_stat_t st;
	zip_file_t *zf = NULL;
	XML_Parser p = NULL;
	char *chunk = NULL;
	int rc = 0;

	if (found)
		*found = idx >= 0;
	if (idx < 0) {
		if (found)
			return 0;
		return err_set(e, ERR_UNPROCESSABLE, "file", "工作簿缺少“%s”",
			       "the workbook has no part '%s'", name);
	}
	zip_stat_init(&st);
	if (zip_stat_index(x->z, (zip_uint64_t)idx, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE)) {
		if (st.size > x->o.max_unzipped - x->inflated)
			return bomb(x, e);
		xp->total = st.size;
	}
	zf = zip_fopen_index(x->z, (zip_uint64_t)idx, 0);
	if (!zf)
		return err_set(e, ERR_UNPROCESSABLE, "file", "无法读取工作簿中的“%s”：%s",
			       "cannot read '%s' in the workbook: %s", name,
			       zip_strerror(x->z));
	p = XML_ParserCreateNS(NULL, '|');
	if (!p) {
		rc = err_set(e, ERR_INTERNAL, NULL, "内存不足", "out of memory");
		goto out;
	}
	xp->p = p;
	xp->x = x;
	xp->e = e;
	xp->rc = 0;
	xp->done = 0;
	XML_SetUserData(p, xp);
	XML_SetElementHandler(p, start, end);
	if (text)
		XML_SetCharacterDataHandler(p, text);
	XML_SetStartDoctypeDeclHandler(p, no_doctype);
	chunk = xmalloc(CHUNK);
	for (;;) {
		zip_int64_t n = zip_fread(zf, chunk, CHUNK);
		if (n < 0) {
			rc = err_set(e, ERR_UNPROCESSABLE, "file",
				     "工作簿中的“%s”已损坏或不完整：%s",
				     "'%s' in the workbook is damaged or truncated: %s", name,
				     zip_file_strerror(zf));
			break;
		}
		x->inflated += (uint64_t)n;
		xp->done += (uint64_t)n;
		if (x->inflated > x->o.max_unzipped) {
			rc = bomb(x, e);
			break;
		}
		if (XML_Parse(p, chunk, (int)n, n == 0) == XML_STATUS_ERROR) {
			if (xp->rc)
				rc = xp->rc;
			else
				rc = err_set(e, ERR_UNPROCESSABLE, "file",
					     "工作簿中的“%s”不是有效的 XML（第 %lu 行：%s）",
					     "'%s' in the workbook is not valid XML (line %lu: %s)",
					     name, (unsigned long)XML_GetCurrentLineNumber(p),
					     XML_ErrorString(XML_GetErrorCode(p)));
			break;
		}
		if (xp->rc) {
			rc = xp->rc;
			break;
		}
		if (n == 0)
			break;
	}
out:
	free(chunk);
	if (p)
		XML_ParserFree(p);
	zip_fclose(zf);
	return rc;
}

/* ---- workbook.xml and its relationships ---- */

static void XMLCALL wb_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xp *xp = ud;
	const char *ln = local_name(name), *v;
	if (strcmp(ln, "workbookPr") == 0) {
		v = attr(atts, "date1904", false);
		xp->x->date1904 = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
	} else if (strcmp(ln, "sheet") == 0 && !xp->x->sheet_rid[0]) {
		v = attr(atts, "id", true);
		if (v)
			snprintf(xp->x->sheet_rid, sizeof xp->x->sheet_rid, "%s", v);
	}
}

static void XMLCALL ignore_end(void *ud, const XML_Char *name)
{
	(void)ud;
	(void)name;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A relationship target relative to xl/ as a part name. */
static void part_name(const char *target, char *out, size_t n)
{
	if (target[0] == '/')
		snprintf(out, n, "%s", target + 1);
	else
		snprintf(out, n, "xl/%s", target);
}

static void XMLCALL rels_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xp *xp = ud;
	struct xlsx *x = xp->x;
	if (strcmp(local_name(name), "Relationship") != 0)
		return;
	const char *id = attr(atts, "Id", false), *target = attr(atts, "Target", false),
		   *type = attr(atts, "Type", false);
	if (!target || !type)
		return;
	if (id && x->sheet_rid[0] && strcmp(id, x->sheet_rid) == 0)
		part_name(target, x->sheet, sizeof x->sheet);
	else if (ends_with(type, "/sharedStrings"))
		part_name(target, x->sst, sizeof x->sst);
	else if (ends_with(type, "/styles"))
		part_name(target, x->styles, sizeof x->styles);
}

/* ---- styles.xml: which cell formats are dates ---- */

struct styles_ctx {
	struct xp xp;
	bool in_cellxfs;
};

static bool builtin_date(int id)
{
	return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
	       (id >= 50 && id <= 58);
}

/* Does a custom number format show a date (y, d, or m without digits)? */
static bool date_code(const char *code)
{
	bool y = false, d = false, m = false, digits = false;
	for (const char *p = code; *p; p++) {
		if (*p == '"') {
			p = strchr(p + 1, '"');
			if (!p)
				break;
		} else if (*p == '[') {
			p = strchr(p + 1, ']');
			if (!p)
				break;
		} else if (*p == '\\' || *p == '_' || *p == '*') {
			if (!p[1])
				break;
			p++;
		} else {
			char c = (char)tolower((unsigned char)*p);
			y |= c == 'y' || c == 'e';
			d |= c == 'd';
			m |= c == 'm';
			digits |= c == '0' || c == '#' || c == '?';
		}
	}
	return y || d || (m && !digits);
}

static bool xf_is_date(struct xlsx *x, int fmt)
{
	if (builtin_date(fmt))
		return true;
	for (size_t i = 0; i < x->date_fmt_n; i++)
		if (x->date_fmts[i] == fmt)
			return true;
	return false;
}

static void XMLCALL styles_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct styles_ctx *s = ud;
	struct xlsx *x = s->xp.x;
	const char *ln = local_name(name);
	if (strcmp(ln, "numFmt") == 0) {
		const char *id = attr(atts, "numFmtId", false), *code = attr(atts, "formatCode", false);
		if (id && code && date_code(code)) {
			if (x->date_fmt_n == x->date_fmt_cap) {
				x->date_fmt_cap = x->date_fmt_cap ? 2 * x->date_fmt_cap : 16;
				x->date_fmts = xrealloc(x->date_fmts,
							x->date_fmt_cap * sizeof *x->date_fmts);
			}
			x->date_fmts[x->date_fmt_n++] = atoi(id);
		}
	} else if (strcmp(ln, "cellXfs") == 0) {
		s->in_cellxfs = true;
	} else if (strcmp(ln, "xf") == 0 && s->in_cellxfs) {
		const char *id = attr(atts, "numFmtId", false);
		if (x->xf_n == x->xf_cap) {
			x->xf_cap = x->xf_cap ? 2 * x->xf_cap : 64;
			x->xf_date = xrealloc(x->xf_date, x->xf_cap);
		}
		x->xf_date[x->xf_n++] = id && xf_is_date(x, atoi(id));
	}
}

static void XMLCALL styles_end(void *ud, const XML_Char *name)
{
	struct styles_ctx *s = ud;
	if (strcmp(local_name(name), "cellXfs") == 0)
		s->in_cellxfs = false;
}

/* ---- sharedStrings.xml ---- */

struct sst_ctx {
	struct xp xp;
	bool in_si, in_t;
	int rph;              /* inside phonetic runs: their text is not part of the string */
};

static void XMLCALL sst_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct sst_ctx *s = ud;
	struct xlsx *x = s->xp.x;
	const char *ln = local_name(name);
	(void)atts;
	if (strcmp(ln, "si") == 0) {
		s->in_si = true;
		if (x->sst_n == x->sst_cap) {
			x->sst_cap = x->sst_cap ? 2 * x->sst_cap : 1024;
			x->sst_off = xrealloc(x->sst_off, x->sst_cap * sizeof *x->sst_off);
		}
		x->sst_off[x->sst_n++] = x->sst_text.len;
	} else if (strcmp(ln, "rPh") == 0) {
		s->rph++;
	} else if (strcmp(ln, "t") == 0 && s->in_si && !s->rph) {
		s->in_t = true;
	}
}

static void XMLCALL sst_end(void *ud, const XML_Char *name)
{
	struct sst_ctx *s = ud;
	const char *ln = local_name(name);
	if (strcmp(ln, "si") == 0) {
		buf_addc(&s->xp.x->sst_text, '\0');
		s->in_si = false;
	} else if (strcmp(ln, "rPh") == 0) {
		s->rph--;
	} else if (strcmp(ln, "t") == 0) {
		s->in_t = false;
	}
}

static void XMLCALL sst_text(void *ud, const XML_Char *s, int len)
{
	struct sst_ctx *c = ud;
	if (c->in_t)
		buf_add(&c->xp.x->sst_text, s, (size_t)len);
}

/* ---- the worksheet ---- */

struct sheet_ctx {
	struct xp xp;
	struct rowbuf rb;
	struct buf cur;       /* text of the current <v> or inline string */
	bool cur_over;
	bool in_data, in_c, in_v, in_is, in_t;
	int rph;
	int64_t last_row;
	size_t col, next_col;
	char type[16];
	long style;
};

/* Column of a cell reference ("C7" -> 2); -1 if it has no letters. */
static long ref_column(const char *r)
{
	long col = 0;
	int n = 0;
	for (; *r >= 'A' && *r <= 'Z' && n < 4; r++, n++)
		col = col * 26 + (*r - 'A' + 1);
	return n ? col - 1 : -1;
}

/* Excel escapes control characters in strings as _xHHHH_; decode them in place. */
static size_t unescape_x(char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n;) {
		unsigned v = 0;
		bool esc = i + 7 <= n && s[i] == '_' && s[i + 1] == 'x' && s[i + 6] == '_';
		for (size_t k = 2; esc && k < 6; k++) {
			char c = s[i + k];
			int d = c >= '0' && c <= '9' ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : -1;
			esc = d >= 0;
			v = v * 16 + (unsigned)(d < 0 ? 0 : d);
		}
		if (esc && v > 0 && v < 0xD800) {
			if (v < 0x80) {
				s[w++] = (char)v;
			} else if (v < 0x800) {
				s[w++] = (char)(0xC0 | (v >> 6));
				s[w++] = (char)(0x80 | (v & 0x3F));
			} else {
				s[w++] = (char)(0xE0 | (v >> 12));
				s[w++] = (char)(0x80 | ((v >> 6) & 0x3F));
				s[w++] = (char)(0x80 | (v & 0x3F));
			}
			i += 7;
		} else {
			s[w++] = s[i++];
		}
	}
	return w;
}

/* Decimal text of a number cell's value: integers without a fraction, others as the
 * shortest text that reads back as the same double. */
static void number_text(const char *v, char *out, size_t n)
{
	char *end;
	double d = strtod(v, &end);
	while (*end == ' ')
		end++;
	if (end == v || *end || !isfinite(d))
		snprintf(out, n, "%s", v);
	else if (d == floor(d) && fabs(d) < 1e15)
		snprintf(out, n, "%.0f", d == 0 ? 0.0 : d);
	else /* the shortest text that reads back as the same double */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(out, n, "%.*g", prec, d);
			if (strtod(out, NULL) == d)
				break;
		}
}

static int sheet_end_cell(struct sheet_ctx *s)
{
	struct xlsx *x = s->xp.x;
	struct err *e = s->xp.e;
	const char *t = s->type;
	char tmp[64];
	if (s->cur_over)
		return too_long(e, s->rb.row_no, s->col, s->rb.max_cell);
	if (strcmp(t, "s") == 0) {
		char *end;
		unsigned long idx = strtoul(s->cur.p, &end, 10);
		if (!s->cur.len || *end || idx >= x->sst_n)
			return err_set(e, ERR_UNPROCESSABLE, "file",
				       "第 %" PRId64 " 行引用了不存在的共享字符串",
				       "row %" PRId64 ": reference to a missing shared string",
				       s->rb.row_no);
		const char *str = x->sst_text.p + x->sst_off[idx];
		size_t len = strlen(str);
		if (len > s->rb.max_cell)
			return too_long(e, s->rb.row_no, s->col, s->rb.max_cell);
		char *copy = xstrndup(str, len);
		len = unescape_x(copy, len);
		int rc = rowbuf_push(&s->rb, s->col, copy, len, TABULAR_TEXT, e);
		free(copy);
		return rc;
	}
	if (strcmp(t, "inlineStr") == 0 || strcmp(t, "str") == 0 || strcmp(t, "e") == 0) {
		size_t len = unescape_x(s->cur.p, s->cur.len);
		return rowbuf_push(&s->rb, s->col, s->cur.p, len, TABULAR_TEXT, e);
	}
	if (strcmp(t, "b") == 0) {
		if (!s->cur.len)
			return 0;
		const char *b = strcmp(s->cur.p, "0") == 0 ? "FALSE" : "TRUE";
		return rowbuf_push(&s->rb, s->col, b, strlen(b), TABULAR_BOOL, e);
	}
	if (strcmp(t, "d") == 0) { /* ISO 8601 date cell */
		size_t len = s->cur.len > 10 && s->cur.p[10] == 'T' ? 10 : s->cur.len;
		return rowbuf_push(&s->rb, s->col, s->cur.p, len, TABULAR_DATE, e);
	}
	/* "n" or no type: a number, maybe in a date format */
	if (!s->cur.len)
		return 0;
	bool is_date = s->style >= 0 && (size_t)s->style < x->xf_n && x->xf_date[s->style];
	char *end;
	double d = strtod(s->cur.p, &end);
	if (is_date && end != s->cur.p && !*end && tabular_excel_date(d, x->date1904, tmp))
		return rowbuf_push(&s->rb, s->col, tmp, 10, TABULAR_DATE, e);
	number_text(s->cur.p, tmp, sizeof tmp);
	return rowbuf_push(&s->rb, s->col, tmp, strlen(tmp), TABULAR_NUMBER, e);
}

static void XMLCALL sheet_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct sheet_ctx *s = ud;
	const char *ln = local_name(name), *v;
	if (strcmp(ln, "sheetData") == 0) {
		s->in_data = true;
	} else if (!s->in_data) {
		return;
	} else if (strcmp(ln, "row") == 0) {
		v = attr(atts, "r", false);
		int64_t r;
		s->rb.row_no = v && parse_i64(v, &r) && r > 0 ? r : s->last_row + 1;
		s->next_col = 0;
		buf_reset(&s->rb.text);
		s->rb.n = 0;
	} else if (strcmp(ln, "c") == 0) {
		v = attr(atts, "r", false);
		long col = v ? ref_column(v) : -1;
		s->col = col >= 0 ? (size_t)col : s->next_col;
		v = attr(atts, "t", false);
		snprintf(s->type, sizeof s->type, "%s", v ? v : "n");
		v = attr(atts, "s", false);
		s->style = v ? atol(v) : 0;
		buf_reset(&s->cur);
		s->cur_over = false;
		s->in_c = true;
	} else if (s->in_c && strcmp(ln, "v") == 0) {
		s->in_v = true;
	} else if (s->in_c && strcmp(ln, "is") == 0) {
		s->in_is = true;
	} else if (s->in_is && strcmp(ln, "rPh") == 0) {
		s->rph++;
	} else if (s->in_is && !s->rph && strcmp(ln, "t") == 0) {
		s->in_t = true;
	}
}

static void XMLCALL sheet_end(void *ud, const XML_Char *name)
{
	struct sheet_ctx *s = ud;
	const char *ln = local_name(name);
	int rc = 0;
	if (strcmp(ln, "sheetData") == 0) {
		s->in_data = false;
	} else if (!s->in_data) {
		return;
	} else if (strcmp(ln, "v") == 0) {
		s->in_v = false;
	} else if (strcmp(ln, "t") == 0) {
		s->in_t = false;
	} else if (strcmp(ln, "rPh") == 0) {
		s->rph--;
	} else if (strcmp(ln, "is") == 0) {
		s->in_is = false;
	} else if (strcmp(ln, "c") == 0) {
		s->in_c = false;
		rc = sheet_end_cell(s);
		s->next_col = s->col + 1;
	} else if (strcmp(ln, "row") == 0) {
		s->rb.done = s->xp.done;
		s->rb.total = s->xp.total;
		rc = rowbuf_emit(&s->rb, s->xp.e);
		s->last_row = s->rb.row_no;
	}
	if (rc)
		xp_stop(&s->xp, rc);
}

static void XMLCALL sheet_text(void *ud, const XML_Char *t, int len)
{
	struct sheet_ctx *s = ud;
	if ((s->in_v || s->in_t) && !s->cur_over && buf_add(&s->cur, t, (size_t)len)) {
		s->cur_over = true;
		xp_stop(&s->xp, too_long(s->xp.e, s->rb.row_no, s->col, s->rb.max_cell));
	}
}

static int read_xlsx(zip_t *z, const struct tabular_opts *o, tabular_row_fn fn, void *ctx,
		     struct err *e)
{
	struct xlsx x;
	struct xp wb = {0}, rels = {0};
	struct styles_ctx st = {0};
	struct sst_ctx sst = {0};
	struct sheet_ctx sh;
	bool found;
	int rc;

	memset(&x, 0, sizeof x);
	memset(&sh, 0, sizeof sh);
	x.z = z;
	x.o = *o;
	buf_init(&x.sst_text, 0);
	rowbuf_init(&sh.rb, o, fn, ctx);
	buf_init(&sh.cur, o->max_cell);

	rc = read_part(&x, "xl/workbook.xml", &found, &wb, wb_start, ignore_end, NULL, e);
	if (rc)
		goto out;
	if (!found) {
		bool ods = zip_name_locate(z, "content.xml", 0) >= 0;
		rc = err_set(e, ERR_UNPROCESSABLE, "file",
			     ods ? "这是 OpenDocument 表格（.ods），请另存为 .xlsx 或 CSV"
				 : "该 zip 文件不是 Excel 工作簿（.xlsx）：缺少 xl/workbook.xml",
			     ods ? "this is an OpenDocument spreadsheet (.ods); save it as .xlsx or CSV"
				 : "the zip file is not an Excel workbook (.xlsx): no xl/workbook.xml");
		goto out;
	}
	rc = read_part(&x, "xl/_rels/workbook.xml.rels", &found, &rels, rels_start, ignore_end,
		       NULL, e);
	if (rc)
		goto out;
	if (!x.sheet[0] || zip_name_locate(z, x.sheet, 0) < 0)
		snprintf(x.sheet, sizeof x.sheet, "xl/worksheets/sheet1.xml");
	if (!x.sst[0])
		snprintf(x.sst, sizeof x.sst, "xl/sharedStrings.xml");
	if (!x.styles[0])
		snprintf(x.styles, sizeof x.styles, "xl/styles.xml");
	if (zip_name_locate(z, x.sheet, 0) < 0) {
		rc = err_set(e, ERR_UNPROCESSABLE, "file", "工作簿中没有工作表",
			     "the workbook has no worksheet");
		goto out;
	}
	rc = read_part(&x, x.styles, &found, &st.xp, styles_start, styles_end, NULL, e);
	if (!rc)
		rc = read_part(&x, x.sst, &found, &sst.xp, sst_start, sst_end, sst_text, e);
	if (rc)
		goto out;
	sh.rb.date1904 = x.date1904;
	rc = read_part(&x, x.sheet, NULL, &sh.xp, sheet_start, sheet_end, sheet_text, e);
out:
	buf_release(&sh.cur);
	rowbuf_release(&sh.rb);
	buf_release(&x.sst_text);
	free(x.sst_off);
	free(x.xf_date);
	free(x.date_fmts);
	return rc;
}

static int zip_open_error(zip_error_t *ze, struct err *e)
{
	int code = zip_error_code_zip(ze);
	const char *why = zip_error_strerror(ze);
	if (code == ZIP_ER_NOZIP)
		return err_set(e, ERR_UNPROCESSABLE, "file",
			       "不是 .xlsx 文件（不是 zip 格式，或文件不完整）",
			       "not an .xlsx file (not a zip archive, or the file is truncated)");
	return err_set(e, ERR_UNPROCESSABLE, "file", "无法打开 .xlsx 文件（已损坏或不完整）：%s",
		       "cannot open the .xlsx file (damaged or truncated): %s", why);
}

/* ---- entry points ---- */

enum tabular_format tabular_sniff(const void *head, size_t n)
{
	const unsigned char *h = head;
	return n >= 4 && h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4 ? TABULAR_XLSX
									      : TABULAR_CSV;
}

int tabular_read_file(const char *path, enum tabular_format fmt, const struct tabular_opts *opts,
		      tabular_row_fn fn, void *ctx, struct err *e)
{
	struct tabular_opts o;
	struct src s = {0};
	int rc;

	resolve_opts(opts, &o);
	s.name = path;
	s.f = fopen(path, "rb");
	if (!s.f)
		return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_UNPROCESSABLE, "file",
			       "无法打开文件“%s”：%s", "cannot open '%s': %s", path,
			       strerror(errno));
	if (fseek(s.f, 0, SEEK_END) == 0) {
		long end = ftell(s.f);
		s.total = end > 0 ? (uint64_t)end : 0;
		fseek(s.f, 0, SEEK_SET);
	}
	if (fmt == TABULAR_AUTO) {
		unsigned char head[4];
		size_t n = fread(head, 1, sizeof head, s.f);
		fmt = tabular_sniff(head, n);
		fseek(s.f, 0, SEEK_SET);
	}
	if (fmt == TABULAR_XLSX) {
		fclose(s.f);
		s.f = NULL;
		int zerr = 0;
		zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
		if (!z) {
			zip_error_t ze;
			zip_error_init_with_code(&ze, zerr);
			rc = zip_open_error(&ze, e);
			zip_error_fini(&ze);
			return rc;
		}
		rc = read_xlsx(z, &o, fn, ctx, e);
		zip_discard(z);
		return rc;
	}
	rc = read_csv(&s, &o, fn, ctx, e);
	fclose(s.f);
	return rc;
}

int tabular_read_mem(const void *data, size_t len, enum tabular_format fmt,
		     const struct tabular_opts *opts, tabular_row_fn fn, void *ctx, struct err *e)
{
	struct tabular_opts o;
	int rc;

	resolve_opts(opts, &o);
	if (fmt == TABULAR_AUTO)
		fmt = tabular_sniff(data, len);
	if (fmt == TABULAR_XLSX) {
		zip_error_t ze;
		zip_error_init(&ze);
		zip_source_t *zs = zip_source_buffer_create(data, len, 0, &ze);
		zip_t *z = zs ? zip_open_from_source(zs, ZIP_RDONLY, &ze) : NULL;
		if (!z) {
			zip_source_free(zs);
			rc = zip_open_error(&ze, e);
			zip_error_fini(&ze);
			return rc;
		}
		zip_error_fini(&ze);
		rc = read_xlsx(z, &o, fn, ctx, e);
		zip_discard(z);
		return rc;
	}
	struct src s = {.mem = data, .len = len, .total = len, .name = "upload"};
	return read_csv(&s, &o, fn, ctx, e);
}

/* ---- dates ---- */

bool tabular_excel_date(double serial, bool date1904, char out[11])
{
	if (!isfinite(serial) || serial < 0 || serial > 3000000)
		return false;
	int64_t s = (int64_t)floor(serial), z;
	if (date1904)
		z = s + 1462 - 25569;
	else if (s < 1 || s == 60)
		return false;
	else
		z = s < 60 ? s - 25568 : s - 25569;
	/* days since 1970-01-01 to a civil date (H. Hinnant's algorithm) */
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 1900 || y > 9999)
		return false;
	snprintf(out, 11, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
	return true;
}
