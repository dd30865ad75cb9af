/*
 * xlsx.h — write one worksheet of an .xlsx workbook: a header row and rows
 * of string or number cells, into memory or into a file.
 *
 * A thin layer over libxlsxwriter for exports (ledger, enterprises, ...):
 *
 *   static const struct xlsx_column cols[] = {{"编号", 8}, {"企业名称", 30}};
 *   struct xlsx_sheet *x = NULL;
 *   if (xlsx_sheet_new("台账", cols, 2, NULL, &x, &e)) ...
 *   struct xlsx_cell row[] = {xlsx_num(1), xlsx_str("郑州某某有限公司")};
 *   xlsx_add_row(x, row, 2, &e);
 *   xlsx_finish(x, &data, &len, &e);   // data: caller frees
 *   xlsx_sheet_free(x);
 *
 * The header row is bold and frozen; columns get the given widths (in
 * characters; a CJK character counts about 2). Rows are streamed to disk as
 * they are added (libxlsxwriter's constant-memory mode), so memory does not
 * grow with the row count. libxlsxwriter writes only to files, so for memory
 * output the workbook goes to a private temporary file (mkstemp in $TMPDIR or
 * /tmp) that is read back and removed by xlsx_finish / xlsx_sheet_free.
 * Strings must be UTF-8; control characters are escaped by the library.
 */
#ifndef YQ_XLSX_H
#define YQ_XLSX_H

#include <stddef.h>

#include "base/err.h"

#define XLSX_MAX_ROWS 1048575 /* data rows below the header (Excel's limit) */

struct xlsx_sheet;

struct xlsx_column {
	const char *header;   /* header label (UTF-8, Chinese as users expect) */
	double width;         /* column width in characters; 0 = the default */
};

enum xlsx_kind { XLSX_EMPTY, XLSX_STRING, XLSX_NUMBER };

struct xlsx_cell {
	enum xlsx_kind kind;
	const char *s;        /* XLSX_STRING (NULL = empty) */
	double n;             /* XLSX_NUMBER */
};

static inline struct xlsx_cell xlsx_str(const char *s)
{
	return (struct xlsx_cell){.kind = XLSX_STRING, .s = s};
}

static inline struct xlsx_cell xlsx_num(double n)
{
	return (struct xlsx_cell){.kind = XLSX_NUMBER, .n = n};
}

/*
 * Start a workbook with one sheet named sheet_name (at most 31 characters,
 * none of []:*?/\) and the header row of cols. path NULL: the bytes are
 * returned by xlsx_finish; else the workbook is written to path. *out is
 * freed with xlsx_sheet_free. Returns 0 or ERR_INTERNAL (temp file, library).
 */
int xlsx_sheet_new(const char *sheet_name, const struct xlsx_column *cols, size_t ncols,
		   const char *path, struct xlsx_sheet **out, struct err *e);

/* Append a row of up to ncols cells (fewer leave the rest empty). ERR_UNPROCESSABLE
 * for too many rows or cells, a string over 32767 characters or not UTF-8. */
int xlsx_add_row(struct xlsx_sheet *x, const struct xlsx_cell *cells, size_t n, struct err *e);

/* Data rows added so far. */
size_t xlsx_rows(const struct xlsx_sheet *x);

/*
 * Close the workbook. For memory output, *data (caller frees with free())
 * and *len get the .xlsx bytes; for file output data and len may be NULL.
 * Call once; then only xlsx_sheet_free.
 */
int xlsx_finish(struct xlsx_sheet *x, char **data, size_t *len, struct err *e);

/* Release everything (and remove the temporary file). NULL is a no-op. */
void xlsx_sheet_free(struct xlsx_sheet *x);

#endif
