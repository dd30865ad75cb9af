/*
 * main.c — entry point: find the command in the table and run it.
 */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "base/banned.h"

int cmd_import(int argc, char **argv); /* cmd_import.c (belongs in cli.h) */
int cmd_stats(int argc, char **argv);  /* cmd_stats.c (belongs in cli.h) */

static const struct cmd cmds[] = {
	{"serve", cmd_serve,
	 "yiqiban serve [--db PATH] [--listen HOST:PORT] [--threads N] [--handler-threads N]\n"
	 "              [--access-log FILE|-] [--session-idle SECONDS] [--session-max SECONDS]\n"
	 "              [--secure-cookie] [--max-body BYTES] [--no-scheduler]\n"
	 "              [--scheduler-interval SECONDS] [--webhook-allow-private]\n"
	 "              [--web-root DIR|off]",
	 "Start the HTTP server on an initialised database, applying any pending\n"
	 "migrations first. Defaults: --db yiqiban.db, --listen 127.0.0.1:8080 (port 0\n"
	 "picks a free port), --threads 8, access log (JSON lines) to stdout ('off' for\n"
	 "none); browser sessions end after 1800 idle seconds or 43200 s in all.\n"
	 "--threads serve connections, reads and writes: a write waiting for its group\n"
	 "commit gives the thread to other connections, so many share one commit.\n"
	 "CPU-heavy writes (password hashing, uploads, imports) run on\n"
	 "--handler-threads (default 64; 0: on --threads) while their connection waits.\n"
	 "--max-body limits request bodies of routes without a limit of their own\n"
	 "(default 65536 bytes; larger bodies get 413).\n"
	 "The digital employee (reminders, escalation, return visits, auto-close,\n"
	 "daily reports) ticks every --scheduler-interval seconds (default 30) unless\n"
	 "--no-scheduler; webhooks are sent by the same component and may reach\n"
	 "loopback and private addresses only with --webhook-allow-private.\n"
	 "The web UI (built by 'make web') is served at / from --web-root DIR; by\n"
	 "default from web/dist under the working directory, else web/dist of the\n"
	 "source tree the binary was built in; without one, / answers a JSON index.\n"
	 "SIGINT/SIGTERM stop it after in-flight requests."},
	{"init", cmd_init,
	 "yiqiban init [--db PATH] [--tenant CODE] [--tenant-name NAME] [--region CODE] [--admin LOGIN]",
	 "Create the database, run the migrations, create the tenant (default 'erqi',\n"
	 "二七区, 410103) and its first administrator (default 'admin'), and print the\n"
	 "administrator's one-time password. Refuses if the tenant already exists."},
	{"migrate", cmd_migrate, "yiqiban migrate [--db PATH]",
	 "Apply the schema migrations this binary knows and print the schema version."},
	{"user", cmd_user,
	 "yiqiban user add LOGIN --name NAME [--role R1,R2] [--dept CODE] [--password-stdin]\n"
	 "yiqiban user passwd LOGIN [--password-stdin]\n"
	 "yiqiban user disable LOGIN\n"
	 "yiqiban user enable LOGIN\n"
	 "yiqiban user list\n"
	 "       (all take [--db PATH] [--tenant CODE])",
	 "Manage user accounts. Without --password-stdin a one-time password is generated\n"
	 "and printed; the user must change it at first login. Roles: enterprise,\n"
	 "grid_worker, dispatcher, handler, dept_head, inspector, bank_officer, mediator,\n"
	 "supervisor, experience_officer, advisor, leader, admin."},
	{"audit", cmd_audit, "yiqiban audit verify [--db PATH]",
	 "Check the hash chain of the audit log. Exit status 0 if intact; otherwise\n"
	 "print the first row that was changed or removed and exit 1."},
	{"import", cmd_import,
	 "yiqiban import enterprises FILE [--db PATH] [--tenant CODE] [--errors OUT.csv|OUT.xlsx]\n"
	 "                              [--accept-check-failures] [--batch N]",
	 "Import market entities from a CSV (UTF-8, with or without BOM, or GBK/GB18030)\n"
	 "or .xlsx file (its first worksheet). The header row names the columns in\n"
	 "Chinese or English: 统一社会信用代码/credit_code and 企业名称/name are required;\n"
	 "类型, 法定代表人, 联系电话, 地址, 纬度, 经度, 行业门类, 行业大类, 规模, 成立日期,\n"
	 "状态, 重点企业, 标签 are optional; unknown columns are ignored with a warning.\n"
	 "Rows are upserted by credit code in batches (--batch, default 500), so running\n"
	 "the same file again changes nothing and an interrupted import can simply be\n"
	 "run again. Rows that fail validation, and a credit code repeated later in the\n"
	 "file, are refused and listed in the report written by --errors (CSV, or XLSX\n"
	 "by the .xlsx extension). --accept-check-failures admits credit codes whose\n"
	 "check character is wrong (early pilot codes). A progress bar is drawn on a\n"
	 "terminal. Exit status 0 when the file was processed (even with refused rows),\n"
	 "1 when it could not be (unreadable, a required column missing, ...)."},
	{"stats", cmd_stats,
	 "yiqiban stats rebuild [--db PATH] [--tenant CODE]\n"
	 "yiqiban stats check [--db PATH] [--tenant CODE]",
	 "The live counters behind the rates (响应率, 解决率, 满意率, 按期结案率) are kept\n"
	 "in the same transaction as every change of a request. 'rebuild' recounts them\n"
	 "from the requests table (after upgrading from a version without them, or\n"
	 "after requests were changed outside the program); 'check' compares them with\n"
	 "a recount and lists the rows that differ (exit status 1 if any)."},
	{"grid", cmd_grid,
	 "yiqiban grid import FILE.geojson [--dry-run] [--db PATH] [--tenant CODE]\n"
	 "yiqiban grid export [--level district|street|community|unit] [--db PATH]\n"
	 "yiqiban grid place [--db PATH] [--tenant CODE]",
	 "Grids (网格): 'import' reads a GeoJSON FeatureCollection whose features carry\n"
	 "properties code (6 digits: district, 9: street, 12: community, 15: unit grid;\n"
	 "a code starts with its parent's) and name, checks every geometry (closed rings,\n"
	 "valid coordinates, no self-intersection, holes inside) and writes nothing if\n"
	 "any feature is wrong; otherwise it creates or updates the grids by code,\n"
	 "reports gaps and overlaps between sibling grids, and places every located\n"
	 "enterprise and request in its unit grid again (points in no grid are listed).\n"
	 "--dry-run does all of it and rolls back. 'export' writes the grids with their\n"
	 "metrics as GeoJSON to stdout; 'place' places everything again."},
	{"backup", cmd_backup, "yiqiban backup [--db PATH] DEST",
	 "Write an online, consistent copy of the database to DEST (a new file), safe\n"
	 "while the server runs, and check the copy's integrity."},
	{"demo", cmd_demo, "yiqiban demo [--db PATH] [--enterprises N] [--no-grids] [--outline FILE.geojson]",
	 "Create (or complete) a demo district: departments of 二七区, one user per role\n"
	 "(each with the password printed) and N market entities (default 5000) with\n"
	 "valid credit codes, generated deterministically. Safe to run again."},
	{"gen", cmd_gen,
	 "yiqiban gen [--db PATH] [--enterprises N] [--requests N] [--years N] [--until DATE]\n"
	 "            [--seed S] [--grids N] [--batch N]",
	 "Generate a city-scale data set for benchmarks into a new database: the demo\n"
	 "district's departments, users (the demo logins), request catalogue and time\n"
	 "limits, then N market entities (default 10000) and N requests (default\n"
	 "100000) over the --years (default 2) before --until (default today), with\n"
	 "realistic categories, departments, channels and times of day, each with the\n"
	 "timeline the request loop would have written and its place in the live rate\n"
	 "counters (`yiqiban stats check` holds). Recent requests are left open at\n"
	 "every stage of the loop. The same seed, sizes and --until give the same data.\n"
	 "Written through the storage layer on two connections at once, without a\n"
	 "journal (commits every --batch requests, default 20000), then made a WAL\n"
	 "database and synced; no audit rows (a running server writes one per step). An\n"
	 "interrupted gen leaves a file to delete, which gen refuses. --grids must be\n"
	 "0 until the grid module lands (grid_id stays empty)."},
	{"routes", cmd_routes, "yiqiban routes",
	 "Print the HTTP route table: method, path, permission, summary."},
	{"version", cmd_version, "yiqiban version", "Print the version."},
};

static void usage(FILE *f)
{
	fprintf(f, "yiqiban — 易企办, the district enterprise service platform\n\nUsage:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f, "\nRun 'yiqiban help COMMAND' or 'yiqiban COMMAND --help' for details.\n");
}

static int help_for(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0) {
			printf("NAME\n    yiqiban %s\n\nSYNOPSIS\n", cmds[i].name);
			for (const char *p = cmds[i].usage; *p;) {
				const char *nl = strchr(p, '\n');
				int n = nl ? (int)(nl - p) : (int)strlen(p);
				printf("    %.*s\n", n, p);
				p += n + (nl ? 1 : 0);
			}
			printf("\nDESCRIPTION\n");
			for (const char *p = cmds[i].help; *p;) {
				const char *nl = strchr(p, '\n');
				int n = nl ? (int)(nl - p) : (int)strlen(p);
				printf("    %.*s\n", n, p);
				p += n + (nl ? 1 : 0);
			}
			return 0;
		}
	fprintf(stderr, "yiqiban: no command '%s'\n", name);
	return 2;
}

int main(int argc, char **argv)
{
	if (crypto_init()) {
		fprintf(stderr, "yiqiban: cannot initialise libsodium\n");
		return 1;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		return help_for(argv[2]);
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (strcmp(cmds[i].name, argv[1]) == 0) {
			for (int k = 2; k < argc; k++)
				if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)
					return help_for(argv[1]);
			return cmds[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "yiqiban: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
