/*
 * tabular.h — streaming readers of the tables people keep in spreadsheets:
 * CSV and XLSX.
 *
 * CSV follows RFC 4180 (quoted cells, doubled quotes, line breaks inside
 * quotes, CRLF or LF) in UTF-8 with or without a byte-order mark. Files that
 * are not valid UTF-8 are read as GB18030 (a superset of GBK and GB2312, what
 * Chinese Excel writes for "CSV") and converted with iconv.
 *
 * XLSX (Office Open XML) is read from its zip with libzip and parsed with
 * expat while it is inflated, chunk by chunk: only the shared-string table
 * and the current row are held in memory. The first worksheet of the
 * workbook is read. Shared, inline and rich-text strings, numbers, booleans
 * and cells skipped in a row are handled; numbers in a date format come out
 * as YYYY-MM-DD. A zip whose parts inflate to more than a limit (a "zip
 * bomb"), a zip that is not a workbook and a truncated file are refused.
 *
 * Rows reach a callback one at a time, as arrays of NUL-terminated UTF-8
 * cells. Rows whose cells are all empty are skipped (their numbers still
 * count) and trailing empty cells are dropped. A cell longer than
 * max_cell bytes or a row with a non-empty cell beyond column max_cells
 * stops the read with ERR_UNPROCESSABLE naming the row and column.
 */
#ifndef YQ_TABULAR_H
#define YQ_TABULAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum tabular_format {
	TABULAR_AUTO = 0, /* by content: "PK\3\4" is XLSX, anything else CSV */
	TABULAR_CSV,
	TABULAR_XLSX,
};

/* What a cell held in the file (CSV cells are always text). */
enum tabular_kind {
	TABULAR_TEXT = 0,
	TABULAR_NUMBER, /* an XLSX number; the text is its shortest decimal form */
	TABULAR_DATE,   /* an XLSX number in a date format, converted to YYYY-MM-DD */
	TABULAR_BOOL,   /* an XLSX boolean: "TRUE" or "FALSE" */
};

#define TABULAR_MAX_CELL 4096               /* bytes of one cell */
#define TABULAR_MAX_CELLS 200               /* columns of one row */
#define TABULAR_MAX_UNZIPPED (200u << 20)   /* bytes the XLSX parts may inflate to */

/* Limits; zero fields take the defaults above. */
struct tabular_opts {
	size_t max_cell;
	size_t max_cells;
	uint64_t max_unzipped;
};

struct tabular_row {
	int64_t row_no;             /* 1-based row of the file (CSV: record; XLSX: sheet row) */
	size_t n;                   /* cells, trailing empty cells dropped (n >= 1) */
	const char *const *cells;   /* NUL-terminated UTF-8; borrowed until the callback returns */
	const size_t *lens;         /* byte length of each cell */
	const unsigned char *kinds; /* enum tabular_kind of each cell */
	bool date1904;              /* XLSX workbook uses the 1904 date system */
	uint64_t bytes_done;        /* progress: input consumed so far (CSV: file bytes; */
	uint64_t bytes_total;       /*   XLSX: inflated sheet bytes) of this many */
};

/* Row callback: return 0 to go on, or an error code (with e filled) to stop the read. */
typedef int (*tabular_row_fn)(const struct tabular_row *row, void *ctx, struct err *e);

/*
 * Read the file at path (format given, or TABULAR_AUTO to detect) and call
 * fn for every non-empty row in order. opts may be NULL for the defaults.
 * Returns 0 when the whole table was read, fn's status if it stopped the
 * read, or an error code with e filled (field "file"): unreadable file,
 * unsupported encoding, malformed CSV, not an XLSX workbook, over a limit.
 */
int tabular_read_file(const char *path, enum tabular_format fmt, const struct tabular_opts *opts,
		      tabular_row_fn fn, void *ctx, struct err *e);

/* The same for a table in memory (data borrowed for the duration of the call). */
int tabular_read_mem(const void *data, size_t len, enum tabular_format fmt,
		     const struct tabular_opts *opts, tabular_row_fn fn, void *ctx, struct err *e);

/* The format the first bytes of a file suggest: XLSX for a zip, else CSV. */
enum tabular_format tabular_sniff(const void *head, size_t n);

/*
 * An Excel serial day number (fractions are the time of day and are
 * dropped) as YYYY-MM-DD in out. The 1900 system counts 1900-01-01 as day 1
 * and includes Excel's phantom 1900-02-29 (day 60, refused); the 1904
 * system counts from 1904-01-01 as day 0. False if not a date in 1900..9999.
 */
bool tabular_excel_date(double serial, bool date1904, char out[11]);

/* Spreadsheet column name of a 0-based index ("A", "Z", "AA") into out[8]. */
void tabular_column_name(size_t col, char out[8]);

#endif
