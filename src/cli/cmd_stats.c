/*
 * cmd_stats.c — `yiqiban stats rebuild|check`: recount the live counters of
 * the rates from the requests table (after an upgrade from a version without
 * them, or a repair), or compare them with a recount and name the rows that
 * differ (core/request_stats.h).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "core/analysis.h"
#include "core/request_stats.h"
#include "core/tenant.h"
#include "core/workcal.h"
#include "db/db.h"
#include "base/banned.h"

/* Declared here until it moves to cli.h with the other commands. */
int cmd_stats(int argc, char **argv);

#define SHOW_DIFFS 20

struct show {
	int64_t shown;
};

static int print_diff(const struct stats_diff *d, void *ctx)
{
	struct show *s = ctx;
	char day[16];
	if (s->shown++ >= SHOW_DIFFS)
		return 0;
	workcal_format_date(d->row.day, day, sizeof day);
	printf("%-18s %-7s %-8s day=%s department=%" PRId64, d->table,
	       d->stored ? "stored" : "recount", stats_dim_name(d->row.dim), day,
	       d->row.department_id);
	if (d->row.key_code[0])
		printf(" %s=%s", stats_dim_name(d->row.dim), d->row.key_code);
	else if (d->row.dim != SD_NONE)
		printf(" %s=%" PRId64, stats_dim_name(d->row.dim), d->row.key_id);
	if (d->row.due_day >= 0) {
		workcal_format_date(d->row.due_day, day, sizeof day);
		printf(" due_day=%s open_count=%" PRId64, day, d->row.open_count);
	} else {
		for (int i = 0; i < SC__COUNT; i++)
			printf(" %s=%" PRId64, stats_counter_name((enum stats_counter)i), d->row.c[i]);
	}
	putchar('\n');
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
					     {"tenant", required_argument, 0, 'T'},
					     {0, 0, 0, 0}};
	const char *db = "yiqiban.db", *tenant_code = NULL;
	struct db_pool *pool = NULL;
	struct err e;
	int c, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			db = optarg;
		else if (c == 'T')
			tenant_code = optarg;
		else {
			fprintf(stderr, "yiqiban stats: bad arguments; see 'yiqiban help stats'\n");
			return 2;
		}
	}
	bool rebuild = optind + 1 == argc && strcmp(argv[optind], "rebuild") == 0;
	bool check = optind + 1 == argc && strcmp(argv[optind], "check") == 0;
	if (!rebuild && !check) {
		fprintf(stderr, "usage: yiqiban stats rebuild|check [--db PATH] [--tenant CODE]\n");
		return 2;
	}
	err_clear(&e);
	if (cli_open_pool(db, &pool, &e))
		goto fail;
	struct db *rdb = db_pool_reader(pool, &e);
	int64_t tenant;
	if (!rdb || tenant_resolve(rdb, tenant_code, &tenant, &e))
		goto fail;
	int64_t t0 = mono_ns();
	if (rebuild) {
		struct actor sys = {.tenant_id = tenant, .roles = 1u << ROLE_ADMIN};
		snprintf(sys.login, sizeof sys.login, "system");
		snprintf(sys.request_id, sizeof sys.request_id, "cli");
		struct stats_rebuild job = {.who = &sys, .tenant_id = tenant};
		if (db_pool_write(pool, request_stats_rebuild, &job, &e))
			goto fail;
		printf("rebuilt the counters of tenant %" PRId64 ": %" PRId64 " day rows, %" PRId64
		       " month rows, %" PRId64 " open-deadline rows (%.1f ms)\n",
		       tenant, job.rows, job.month_rows, job.open_rows,
		       (double)(mono_ns() - t0) / 1e6);
		status = 0;
	} else {
		struct show s = {0};
		int64_t n = 0;
		if (request_stats_check(rdb, tenant, print_diff, &s, &n, &e))
			goto fail;
		if (n > SHOW_DIFFS)
			printf("... and %" PRId64 " more\n", n - SHOW_DIFFS);
		int64_t gdiff = 0;
		if (analysis_check(rdb, tenant, &gdiff, &e))
			goto fail;
		if (gdiff)
			printf("grid_stats (the analysis): %" PRId64 " (day, grid, category) key(s) "
			       "differ from a recount\n",
			       gdiff);
		n += gdiff;
		if (n) {
			printf("counters of tenant %" PRId64 " differ from a recount in %" PRId64
			       " row(s); run 'yiqiban stats rebuild'\n",
			       tenant, n);
			status = 1;
		} else {
			printf("counters of tenant %" PRId64 " match a recount (%.1f ms)\n", tenant,
			       (double)(mono_ns() - t0) / 1e6);
			status = 0;
		}
	}
	goto out;
fail:
	cli_error(&e);
out:
	db_pool_free(pool);
	return status;
}
