/*
 * cmd_grid.c — `yiqiban grid import|export|place`: grids from and to GeoJSON
 * files, and placing every located enterprise and request again.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "core/grid.h"
#include "core/tenant.h"
#include "db/db.h"
#include "base/banned.h"

static void print_report(const json_t *rep)
{
	char *s = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
	if (s) {
		puts(s);
		free(s);
	}
}

struct place_job {
	int64_t tenant;
	json_t *report;
};

static int place_job(struct db *db, void *arg, struct err *e)
{
	struct place_job *j = arg;
	return grid_place_all(db, j->tenant, j->report, e);
}

int cmd_grid(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
					     {"tenant", required_argument, 0, 'T'},
					     {"dry-run", no_argument, 0, 'n'},
					     {"level", required_argument, 0, 'l'},
					     {0, 0, 0, 0}};
	const char *db = "yiqiban.db", *tenant_code = NULL, *level_s = NULL;
	bool dry = false;
	struct db_pool *pool = NULL;
	json_t *fc = NULL;
	struct err e;
	int c, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			db = optarg;
		else if (c == 'T')
			tenant_code = optarg;
		else if (c == 'n')
			dry = true;
		else if (c == 'l')
			level_s = optarg;
		else {
			fprintf(stderr, "yiqiban grid: bad arguments; see 'yiqiban help grid'\n");
			return 2;
		}
	}
	const char *sub = optind < argc ? argv[optind] : "";
	bool imp = !strcmp(sub, "import") && optind + 2 == argc;
	bool exp = !strcmp(sub, "export") && optind + 1 == argc;
	bool place = !strcmp(sub, "place") && optind + 1 == argc;
	int level = level_s ? grid_level_parse(level_s) : -1;
	if ((!imp && !exp && !place) || (level_s && level < 0)) {
		fprintf(stderr, "usage: yiqiban grid import FILE.geojson [--dry-run] | export "
				"[--level district|street|community|unit] | place "
				"[--db PATH] [--tenant CODE]\n");
		return 2;
	}
	err_clear(&e);
	if (imp) {
		json_error_t je;
		fc = json_load_file(argv[optind + 1], 0, &je);
		if (!fc) {
			fprintf(stderr, "yiqiban grid import: %s: line %d: %s\n", argv[optind + 1],
				je.line, je.text);
			return 1;
		}
	}
	if (cli_open_pool(db, &pool, &e))
		goto fail;
	struct db *rdb = db_pool_reader(pool, &e);
	int64_t tenant;
	if (!rdb || tenant_resolve(rdb, tenant_code, &tenant, &e))
		goto fail;
	struct actor sys = {.tenant_id = tenant, .roles = 1u << ROLE_ADMIN};
	snprintf(sys.login, sizeof sys.login, "system");
	snprintf(sys.request_id, sizeof sys.request_id, "cli");
	if (imp) {
		struct grid_import job = {.who = &sys, .tenant_id = tenant, .now = now_ms(),
					  .fc = fc, .dry_run = dry};
		int rc = db_pool_write(pool, grid_import, &job, &e);
		if (job.report)
			print_report(job.report);
		json_decref(job.report);
		if (rc && !job.dry_run_done)
			goto fail;
		status = 0;
	} else if (exp) {
		json_t *out = NULL;
		if (grid_geojson(rdb, &sys, SCOPE_ALL, level, 0, 0, &out, &e))
			goto fail;
		if (json_dumpf(out, stdout, JSON_COMPACT) == 0)
			status = 0;
		putchar('\n');
		json_decref(out);
	} else {
		json_t *rep = json_object();
		struct place_job job = {tenant, rep};
		int rc = db_pool_write(pool, place_job, &job, &e);
		if (!rc) {
			print_report(rep);
			status = 0;
		}
		json_decref(rep);
		if (rc)
			goto fail;
	}
	goto out;
fail:
	cli_error(&e);
out:
	json_decref(fc);
	db_pool_free(pool);
	return status;
}
