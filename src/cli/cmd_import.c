/*
 * cmd_import.c — `yiqiban import enterprises FILE`: the enterprise import of
 * core/import.c from the command line, with a progress bar on a terminal
 * (plain lines every few seconds otherwise), a summary, and the per-row
 * error report written to a CSV or XLSX file on request.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "core/import.h"
#include "core/tenant.h"
#include "db/db.h"
#include "base/banned.h"

/* Declared here until it moves to cli.h with the other commands. */
int cmd_import(int argc, char **argv);

struct bar {
	bool tty;
	int64_t t0, last;   /* mono ns */
	bool drawn;
};

static void on_progress(const struct import_progress *p, void *ctx)
{
	struct bar *b = ctx;
	int64_t now = mono_ns();
	int64_t every = b->tty ? 100000000 : 5000000000;
	if (now - b->last < every)
		return;
	b->last = now;
	double secs = (double)(now - b->t0) / 1e9;
	double rate = secs > 0 ? (double)p->rows / secs : 0;
	double pct = p->bytes_total ? 100.0 * (double)p->bytes_done / (double)p->bytes_total : 0;
	if (pct > 100)
		pct = 100;
	if (b->tty) {
		char bar[31];
		int fill = (int)(pct * 30 / 100);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r%5.1f%% [%s] %" PRId64 " rows  %.0f rows/s  %" PRId64 " failed ",
			pct, bar, p->rows, rate, p->failed);
		b->drawn = true;
	} else {
		fprintf(stderr, "import: %" PRId64 " rows, %.0f rows/s, %.0f%% of the file\n",
			p->rows, rate, pct);
	}
	fflush(stderr);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Write the error report of run to path (.xlsx or CSV by the name). */
static int write_report(struct db *db, int64_t tenant, int64_t run, const char *path,
			struct err *e)
{
	struct buf b;
	buf_init(&b, 0);
	enum tabular_format fmt = has_suffix(path, ".xlsx") ? TABULAR_XLSX : TABULAR_CSV;
	int rc = import_report(db, tenant, run, fmt, &b, e);
	if (!rc) {
		FILE *f = fopen(path, "wb");
		bool ok = f && fwrite(b.p, 1, b.len, f) == b.len;
		if (f && fclose(f))
			ok = false;
		if (!ok)
			rc = err_set(e, ERR_INTERNAL, "errors", "无法写入“%s”", "cannot write '%s'",
				     path);
	}
	buf_release(&b);
	return rc;
}

static void summary(const struct import_result *r, int64_t ns, const char *file)
{
	double secs = (double)ns / 1e9;
	printf("import run %" PRId64 ": %s\n", r->run_id, file);
	printf("  rows       %" PRId64 "\n", r->rows_total);
	printf("  created    %" PRId64 "\n", r->created);
	printf("  updated    %" PRId64 "\n", r->updated);
	printf("  unchanged  %" PRId64 "\n", r->unchanged);
	printf("  failed     %" PRId64 "\n", r->failed);
	printf("  time       %.1f s (%.0f rows/s)\n", secs,
	       secs > 0 ? (double)r->rows_total / secs : 0.0);
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
					     {"tenant", required_argument, 0, 'T'},
					     {"errors", required_argument, 0, 'e'},
					     {"batch", required_argument, 0, 'b'},
					     {"accept-check-failures", no_argument, 0, 'a'},
					     {0, 0, 0, 0}};
	const char *db = "yiqiban.db", *tenant_code = NULL, *errors = NULL;
	int64_t batch = 0;
	bool accept = false;
	struct db_pool *pool = NULL;
	struct import_result res;
	struct err e;
	int c, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			db = optarg;
		else if (c == 'T')
			tenant_code = optarg;
		else if (c == 'e')
			errors = optarg;
		else if (c == 'b' && parse_i64(optarg, &batch) && batch > 0 && batch <= 100000)
			;
		else if (c == 'a')
			accept = true;
		else {
			fprintf(stderr, "yiqiban import: bad arguments; see 'yiqiban help import'\n");
			return 2;
		}
	}
	if (optind + 2 != argc || strcmp(argv[optind], "enterprises") != 0) {
		fprintf(stderr, "usage: yiqiban import enterprises FILE [--db PATH] [--tenant CODE] "
				"[--errors OUT.csv|OUT.xlsx]\n");
		return 2;
	}
	const char *file = argv[optind + 1];
	if (access(file, R_OK) != 0) {
		fprintf(stderr, "yiqiban import: cannot read '%s'\n", file);
		return 1;
	}
	err_clear(&e);
	memset(&res, 0, sizeof res);
	if (cli_open_pool(db, &pool, &e))
		goto fail;
	struct db *rdb = db_pool_reader(pool, &e);
	int64_t tenant;
	if (!rdb || tenant_resolve(rdb, tenant_code, &tenant, &e))
		goto fail;
	struct actor sys = {.tenant_id = tenant, .roles = 1u << ROLE_ADMIN};
	snprintf(sys.login, sizeof sys.login, "system");
	snprintf(sys.request_id, sizeof sys.request_id, "cli");

	const char *base = strrchr(file, '/');
	struct bar bar = {.tty = isatty(2) == 1, .t0 = mono_ns()};
	bar.last = bar.t0;
	struct import_opts o = {.who = &sys,
				.tenant_id = tenant,
				.filename = base ? base + 1 : file,
				.batch_rows = (int)batch,
				.override_check = accept,
				.progress = on_progress,
				.progress_ctx = &bar};
	int rc = import_enterprises_file(pool, file, &o, &res, &e);
	int64_t ns = mono_ns() - bar.t0;
	if (bar.drawn)
		fputc('\n', stderr);
	if (res.warning[0])
		fprintf(stderr, "yiqiban import: warning: %s\n         %s\n", res.warning,
			res.warning_zh);
	if (res.run_id)
		summary(&res, ns, file);
	if (rc) {
		cli_error(&e);
		if (res.run_id)
			fprintf(stderr, "yiqiban import: stopped; the %" PRId64 " rows above are "
					"committed — fix the file and run the import again\n",
				res.rows_total);
	}
	if (res.failed) {
		printf("%" PRId64 " row(s) were refused", res.failed);
		if (errors)
			printf("; the report is in %s\n", errors);
		else
			printf("; write the report with --errors OUT.csv (or OUT.xlsx)\n");
	}
	if (errors && res.run_id) {
		struct err e2;
		err_clear(&e2);
		if (write_report(rdb, tenant, res.run_id, errors, &e2)) {
			cli_error(&e2);
			rc = rc ? rc : e2.code;
		}
	}
	status = rc ? 1 : 0;
	goto out;
fail:
	cli_error(&e);
out:
	db_pool_free(pool);
	return status;
}
