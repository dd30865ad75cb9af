/*
 * import.h — the enterprise registry in and out of spreadsheets: importing
 * CSV/XLSX files, the per-row error report, and exports.
 *
 * An import reads the file as a stream (core/tabular.h). The first row that
 * names both required columns (credit code and name) is the header; columns
 * are recognised by their Chinese or English names and unknown columns are
 * ignored (reported once in import_result.warning). Every data row is turned
 * into a struct enterprise_input and checked with enterprise_validate(); a
 * row that fails is recorded in import_errors (row, field, message in
 * English and Chinese) and skipped. Valid rows are upserted by credit code
 * in batches: one write job per batch, each row in its own nested savepoint
 * so a row the database refuses never sinks its batch. Each batch job also
 * writes its rows' errors and adds its counts to the import_runs row, so
 * the run's counts always match what is committed.
 *
 * A credit code whose check fails is refused unless override_check is set,
 * or the registry already holds it (admitted earlier by an administrator):
 * an export always imports back.
 *
 * Re-importing a file changes nothing (every row "unchanged", no new
 * versions), and an import interrupted at any point (even kill -9) can
 * simply be run again: rows already committed come out unchanged.
 *
 * A credit code that appears again later in the same file is reported as
 * an error on the later row, and the first occurrence is imported: letting
 * the later row win would make every re-import of such a file write two
 * versions, and a repeated code in a registry extract is usually a mistake
 * a clerk should see.
 *
 * Empty cells in a column that is present clear optional text fields
 * (legal_rep, phone, address, industry, size, registered_on, tags) and the
 * location (both lat and lon empty); they leave kind, status and is_key
 * unchanged. Columns absent from the file leave their fields unchanged.
 * Masked values from an export made without enterprise.pii ("138****1234",
 * "张**") are never written back: such phone and legal_rep cells leave the
 * stored value unchanged.
 */
#ifndef YQ_IMPORT_H
#define YQ_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "core/authz.h"
#include "core/tabular.h"

struct db;
struct db_pool;
struct enterprise_filter;

#define IMPORT_BATCH_ROWS 500

struct import_progress {
	int64_t rows;                  /* data rows read so far */
	int64_t created, updated, unchanged, failed; /* committed so far */
	uint64_t bytes_done, bytes_total;
};

struct import_opts {
	const struct actor *who;       /* recorded on the run, the versions and the audit log */
	int64_t tenant_id;
	const char *filename;          /* kept on the run ("" if NULL) */
	enum tabular_format format;    /* TABULAR_AUTO: by content */
	int batch_rows;                /* rows per write job; 0 = IMPORT_BATCH_ROWS */
	bool override_check;           /* admit credit codes whose check character fails */
	/* Called every few hundred rows and after every batch; may be NULL. */
	void (*progress)(const struct import_progress *p, void *ctx);
	void *progress_ctx;
};

struct import_result {
	int64_t run_id;                /* 0 if the file was refused before any row was read */
	int64_t rows_total;            /* data rows read (empty rows not counted) */
	int64_t created, updated, unchanged, failed;
	int64_t header_row;            /* row number of the header in the file */
	char warning[512];             /* "unknown columns ignored: ...", "" if none */
	char warning_zh[512];
};

/*
 * Import the enterprises in the file at path (or in memory). Returns 0 when
 * the whole file was processed, even if rows failed (res->failed counts
 * them; the run's status is "done"). Returns an error code with e filled
 * when the file cannot be used at all (unreadable, not CSV/XLSX, no header,
 * a required column missing: then res->run_id is 0 and nothing is written),
 * or when reading or writing stopped half-way (the run is marked "failed";
 * the batches committed before stay, and running the import again
 * completes it).
 */
int import_enterprises_file(struct db_pool *pool, const char *path, const struct import_opts *o,
			    struct import_result *res, struct err *e);
int import_enterprises_mem(struct db_pool *pool, const void *data, size_t len,
			   const struct import_opts *o, struct import_result *res, struct err *e);

struct import_run {
	int64_t id, actor_id, started_at, finished_at;
	char kind[16];                 /* "enterprises" */
	char filename[256];
	char status[16];               /* running, done, failed */
	int64_t rows_total, created, updated, unchanged, failed;
};

/* One run of the tenant; ERR_NOT_FOUND "id". */
int import_run_get(struct db *db, int64_t tenant_id, int64_t id, struct import_run *out,
		   struct err *e);

struct import_error {
	int64_t row_no;                /* row in the file (the header is usually row 1) */
	const char *field;             /* borrowed until each() returns */
	const char *message, *message_zh;
};

/* The refused rows of a run in row order, at most limit (0 = all). */
int import_errors_each(struct db *db, int64_t tenant_id, int64_t run_id, int64_t limit,
		       int (*each)(const struct import_error *er, void *ctx), void *ctx,
		       struct err *e);

/*
 * The error report of a run (columns 行号 row, 字段 field, 错误原因, message)
 * appended to out: fmt TABULAR_CSV gives CSV (UTF-8 with a byte-order mark,
 * CRLF, as Excel opens it), TABULAR_XLSX an .xlsx workbook.
 */
int import_report(struct db *db, int64_t tenant_id, int64_t run_id, enum tabular_format fmt,
		  struct buf *out, struct err *e);

/*
 * Export the enterprises the actor may see under scope that match f (its
 * limit and cursor are ignored: every match is written, read in pages of
 * 1000) with the Chinese header row the importer reads back, appended to
 * out as for import_report. Phone and legal representative are masked where
 * the actor lacks enterprise.pii for the row. *rows (may be NULL) gets the
 * number of enterprises. CSV cells a spreadsheet would take for a formula
 * (= + - @ first, not a number) get a leading apostrophe, which the
 * importer removes again.
 */
int import_export_enterprises(struct db *db, const struct actor *who, enum scope scope,
			      const struct enterprise_filter *f, enum tabular_format fmt,
			      struct buf *out, int64_t *rows, struct err *e);

#endif
