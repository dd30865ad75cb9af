/*
 * xlsx.c — one-sheet .xlsx writer over libxlsxwriter (see xlsx.h).
 *
 * libxlsxwriter 1.1 writes only to a named file and frees the workbook in
 * workbook_close(); lxw_workbook_free() drops a workbook without writing it.
 * Memory output therefore goes through a mkstemp() file of our own, read
 * back whole after the close and unlinked.
 */
#include "core/xlsx.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "base/banned.h"

#define STRING_MAX_CHARS 32767 /* Excel's limit per cell */

struct xlsx_sheet {
	lxw_workbook *wb;        /* NULL once closed */
	lxw_worksheet *ws;       /* owned by wb */
	size_t ncols;
	size_t rows;             /* data rows written (the header is row 0) */
	char path[512];          /* where the workbook is written */
	bool temp;               /* path is our temporary file */
};

static int lib_error(struct err *e, const char *what, lxw_error rc)
{
	return err_set(e, ERR_INTERNAL, NULL, "生成 Excel 文件失败（%s：%s）",
		       "writing the .xlsx failed (%s: %s)", what, lxw_strerror(rc));
}

/* Excel's rule: 1..31 characters, none of [ ] : * ? / \ */
static bool sheet_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n && utf8_valid(name, n) && utf8_len(name, n) <= 31 && !strpbrk(name, "[]:*?/\\");
}

/* A fresh private file for the workbook; its name into x->path. */
static int make_temp(struct xlsx_sheet *x, struct err *e)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	if ((size_t)snprintf(x->path, sizeof x->path, "%s/yq-xlsx-XXXXXX", dir) >= sizeof x->path)
		return err_set(e, ERR_INTERNAL, NULL, "临时目录路径过长",
			       "temporary directory path too long");
	int fd = mkstemp(x->path);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, NULL, "无法创建临时文件（%s）",
			       "cannot create a temporary file in %s", dir);
	close(fd);
	x->temp = true;
	return 0;
}

int xlsx_sheet_new(const char *sheet_name, const struct xlsx_column *cols, size_t ncols,
		   const char *path, struct xlsx_sheet **out, struct err *e)
{
	struct xlsx_sheet *x = xcalloc(1, sizeof *x);
	lxw_format *bold;
	lxw_error lrc;
	int rc = 0;

	*out = NULL;
	if (!ncols || ncols > LXW_COL_MAX) {
		rc = err_set(e, ERR_INTERNAL, NULL, "列数无效", "bad column count %zu", ncols);
		goto fail;
	}
	x->ncols = ncols;
	if (!sheet_name_ok(sheet_name)) {
		rc = err_set(e, ERR_INTERNAL, NULL, "工作表名称无效", "bad sheet name");
		goto fail;
	}
	if (path) {
		if ((size_t)snprintf(x->path, sizeof x->path, "%s", path) >= sizeof x->path) {
			rc = err_set(e, ERR_INTERNAL, NULL, "文件路径过长", "file path too long");
			goto fail;
		}
	} else if ((rc = make_temp(x, e)))
		goto fail;

	const char *tmpdir = getenv("TMPDIR");
	lxw_workbook_options opt = {.constant_memory = LXW_TRUE,
				    .tmpdir = (char *)(tmpdir && *tmpdir ? tmpdir : NULL)};
	if (!(x->wb = workbook_new_opt(x->path, &opt))) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法创建 Excel 工作簿",
			     "cannot create the workbook");
		goto fail;
	}
	if (!(x->ws = workbook_add_worksheet(x->wb, sheet_name))) {
		rc = err_set(e, ERR_INTERNAL, NULL, "工作表名称无效", "bad sheet name");
		goto fail;
	}
	bold = workbook_add_format(x->wb);
	format_set_bold(bold);
	format_set_bottom(bold, LXW_BORDER_THIN);
	for (size_t i = 0; i < ncols; i++) {
		if (cols[i].width > 0 &&
		    (lrc = worksheet_set_column(x->ws, (lxw_col_t)i, (lxw_col_t)i, cols[i].width,
						NULL))) {
			rc = lib_error(e, "column", lrc);
			goto fail;
		}
	}
	worksheet_freeze_panes(x->ws, 1, 0);
	for (size_t i = 0; i < ncols; i++) {
		if ((lrc = worksheet_write_string(x->ws, 0, (lxw_col_t)i,
						  cols[i].header ? cols[i].header : "", bold))) {
			rc = lib_error(e, "header", lrc);
			goto fail;
		}
	}
	*out = x;
	return 0;
fail:
	xlsx_sheet_free(x);
	return rc;
}

int xlsx_add_row(struct xlsx_sheet *x, const struct xlsx_cell *cells, size_t n, struct err *e)
{
	lxw_row_t row;

	if (!x->wb)
		return err_set(e, ERR_INTERNAL, NULL, "工作簿已关闭", "the workbook is closed");
	if (n > x->ncols)
		return err_set(e, ERR_UNPROCESSABLE, NULL, "单元格多于列数",
			       "%zu cells for %zu columns", n, x->ncols);
	if (x->rows >= XLSX_MAX_ROWS)
		return err_set(e, ERR_UNPROCESSABLE, NULL, "超过 Excel 的行数上限，请缩小导出范围",
			       "more rows than Excel allows (%d): narrow the export", XLSX_MAX_ROWS);
	row = (lxw_row_t)(x->rows + 1);
	for (size_t i = 0; i < n; i++) {
		const struct xlsx_cell *c = &cells[i];
		lxw_error lrc = LXW_NO_ERROR;
		if (c->kind == XLSX_STRING && c->s && *c->s) {
			size_t len = strlen(c->s);
			if (!utf8_valid(c->s, len))
				return err_set(e, ERR_UNPROCESSABLE, NULL, "单元格文字不是有效的 UTF-8",
					       "cell text is not valid UTF-8 (row %zu)", x->rows + 1);
			if (utf8_len(c->s, len) > STRING_MAX_CHARS)
				return err_set(e, ERR_UNPROCESSABLE, NULL,
					       "单元格文字超过 32767 个字符",
					       "cell text longer than 32767 characters (row %zu)",
					       x->rows + 1);
			lrc = worksheet_write_string(x->ws, row, (lxw_col_t)i, c->s, NULL);
		} else if (c->kind == XLSX_NUMBER) {
			lrc = worksheet_write_number(x->ws, row, (lxw_col_t)i, c->n, NULL);
		}
		if (lrc)
			return lib_error(e, "cell", lrc);
	}
	x->rows++;
	return 0;
}

size_t xlsx_rows(const struct xlsx_sheet *x)
{
	return x->rows;
}

/* The whole file into a malloc'ed buffer. */
static int slurp(const char *path, char **data, size_t *len, struct err *e)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	char *p = NULL;
	int rc = 0;

	if (!f || fstat(fileno(f), &sb) != 0 || sb.st_size < 0) {
		rc = err_set(e, ERR_INTERNAL, NULL, "无法读取生成的 Excel 文件",
			     "cannot read the written workbook back");
		goto out;
	}
	p = xmalloc((size_t)sb.st_size + 1);
	if (fread(p, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		free(p);
		p = NULL;
		rc = err_set(e, ERR_INTERNAL, NULL, "无法读取生成的 Excel 文件",
			     "short read of the written workbook");
		goto out;
	}
	*data = p;
	*len = (size_t)sb.st_size;
out:
	if (f)
		fclose(f);
	return rc;
}

int xlsx_finish(struct xlsx_sheet *x, char **data, size_t *len, struct err *e)
{
	lxw_workbook *wb = x->wb;
	lxw_error lrc;

	if (!wb)
		return err_set(e, ERR_INTERNAL, NULL, "工作簿已关闭", "the workbook is closed");
	x->wb = NULL;
	x->ws = NULL;
	if ((lrc = workbook_close(wb))) {
		if (!x->temp)
			unlink(x->path); /* no partial output left behind */
		return lib_error(e, "close", lrc);
	}
	if (!x->temp)
		return 0;
	return slurp(x->path, data, len, e);
}

void xlsx_sheet_free(struct xlsx_sheet *x)
{
	if (!x)
		return;
	if (x->wb)
		lxw_workbook_free(x->wb);
	/* the temporary file goes; a file output was only written by a finish */
	if (x->temp)
		unlink(x->path);
	free(x);
}
