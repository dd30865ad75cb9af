/*
 * cmd_serve.c — `yiqiban serve`: open the database, start the HTTP server,
 * wait for SIGINT/SIGTERM, stop cleanly (in-flight requests finish, the
 * writer drains its queue).
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "core/tenant.h"
#include "db/db.h"
#include "http/http.h"
#include "jobs/backlog.h"
#include "jobs/scheduler.h"
#include "jobs/webhook.h"
#include "base/banned.h"

/*
 * The base of the links printed in 政企码: --public-url, else "http://" + the
 * listen address (with the port actually bound when it was 0). A trailing
 * '/' is dropped. Returns false if the URL is not http(s).
 */
static bool public_url(const char *given, const char *addr, int port, char *out, size_t n)
{
	if (given) {
		if (strncmp(given, "http://", 7) != 0 && strncmp(given, "https://", 8) != 0)
			return false;
		snprintf(out, n, "%s", given);
	} else {
		const char *colon = strrchr(addr, ':');
		int hl = colon ? (int)(colon - addr) : (int)strlen(addr);
		snprintf(out, n, "http://%.*s:%d", hl, addr, port);
	}
	size_t len = strlen(out);
	while (len > 8 && out[len - 1] == '/')
		out[--len] = '\0';
	return true;
}

static bool has_index(const char *dir)
{
	char p[PATH_MAX + 64];
	struct stat st;
	snprintf(p, sizeof p, "%.*s/index.html", PATH_MAX, dir);
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * The web UI's directory: --web-root DIR (must hold index.html; "off" = none),
 * else web/dist under the working directory, else web/dist of the source
 * tree the binary was built in (build/VARIANT/yiqiban -> ../../web/dist).
 * out gets the absolute path, or "" for none. False if DIR was given but is
 * not usable.
 */
static bool find_web_root(const char *given, char out[PATH_MAX])
{
	char exe[PATH_MAX], cand[PATH_MAX + 16];
	out[0] = '\0';
	if (given) {
		if (strcmp(given, "off") == 0)
			return true;
		if (!has_index(given) || !realpath(given, out)) {
			out[0] = '\0';
			return false;
		}
		return true;
	}
	if (has_index("web/dist") && realpath("web/dist", out))
		return true;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(cand, sizeof cand, "%.*s/../../web/dist", PATH_MAX - 16, exe);
			if (has_index(cand) && realpath(cand, out))
				return true;
		}
	}
	out[0] = '\0';
	return true;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, 0, 'd'},          {"listen", required_argument, 0, 'l'},
		{"threads", required_argument, 0, 't'},     {"access-log", required_argument, 0, 'a'},
		{"handler-threads", required_argument, 0, 'H'},
		{"session-idle", required_argument, 0, 'i'}, {"session-max", required_argument, 0, 'm'},
		{"secure-cookie", no_argument, 0, 'S'},     {"public-url", required_argument, 0, 'u'},
		{"max-body", required_argument, 0, 'b'},    {"no-scheduler", no_argument, 0, 'N'},
		{"scheduler-interval", required_argument, 0, 'I'},
		{"webhook-allow-private", no_argument, 0, 'P'}, {"web-root", required_argument, 0, 'W'},
		{0, 0, 0, 0},
	};
	const char *dbpath = "yiqiban.db", *logpath = "-", *given_url = NULL, *web_root = NULL;
	char pub[512], web[PATH_MAX];
	struct app app;
	struct err e;
	struct http_server *srv = NULL;
	struct scheduler *sched = NULL;
	struct backlog *backlog = NULL;
	bool scheduler_on = true, curl_ready = false;
	int64_t n, interval = 30;
	int c, status = 1;

	memset(&app, 0, sizeof app);
	app.cfg.addr = "127.0.0.1:8080";
	app.cfg.threads = 8;
	app.cfg.handler_threads = 64;
	app.cfg.max_body = 64 * 1024;
	app.cfg.session_idle_ms = 30 * 60 * 1000LL;
	app.cfg.session_max_ms = 12 * 3600 * 1000LL;
	app.version = YIQIBAN_VERSION;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dbpath = optarg; break;
		case 'l': app.cfg.addr = optarg; break;
		case 'a': logpath = optarg; break;
		case 'S': app.cfg.cookie_secure = true; break;
		case 'u': given_url = optarg; break;
		case 'N': scheduler_on = false; break;
		case 'P': webhook_set_allow_private(true); break;
		case 'W': web_root = optarg; break;
		case 'I':
			if (!parse_i64(optarg, &interval) || interval < 1 || interval > 86400) {
				fprintf(stderr, "yiqiban serve: --scheduler-interval must be 1 to 86400 seconds\n");
				return 2;
			}
			break;
		case 'H':
			if (!parse_i64(optarg, &n) || n < 0 || n > 4096) {
				fprintf(stderr, "yiqiban serve: --handler-threads must be 0 to 4096\n");
				return 2;
			}
			app.cfg.handler_threads = (int)n;
			break;
		case 't':
		case 'i':
		case 'm':
		case 'b':
			if (!parse_i64(optarg, &n) || n <= 0 || n > 1000000000) {
				fprintf(stderr, "yiqiban serve: bad number '%s'\n", optarg);
				return 2;
			}
			if (c == 't')
				app.cfg.threads = (int)n;
			else if (c == 'i')
				app.cfg.session_idle_ms = n * 1000;
			else if (c == 'm')
				app.cfg.session_max_ms = n * 1000;
			else
				app.cfg.max_body = (size_t)n;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "yiqiban serve: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (given_url && !public_url(given_url, NULL, 0, pub, sizeof pub)) {
		fprintf(stderr, "yiqiban serve: --public-url must start with http:// or https://\n");
		return 2;
	}
	app.cfg.public_url = given_url ? pub : NULL;
	if (!find_web_root(web_root, web)) {
		fprintf(stderr, "yiqiban serve: --web-root '%s' has no index.html (build it with 'make web')\n",
			web_root);
		return 2;
	}
	app.cfg.web_root = web[0] ? web : NULL;

	if (strcmp(logpath, "-") == 0)
		app.cfg.access_log = stdout;
	else if (strcmp(logpath, "off") != 0) {
		app.cfg.access_log = fopen(logpath, "a");
		if (!app.cfg.access_log) {
			fprintf(stderr, "yiqiban serve: cannot open access log '%s'\n", logpath);
			return 1;
		}
	}
	if (app.cfg.access_log)
		setvbuf(app.cfg.access_log, NULL, _IOLBF, 0);

	/* Block the stop signals in every thread; the main thread waits for them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	err_clear(&e);
	if (cli_open_pool(dbpath, &app.pool, &e)) {
		cli_error(&e);
		goto out;
	}
	struct db *rdb = db_pool_reader(app.pool, &e);
	int64_t tenants = 0;
	if (!rdb || tenant_count(rdb, &tenants, &e)) {
		cli_error(&e);
		goto out;
	}
	if (tenants == 0) {
		err_set(&e, ERR_UNPROCESSABLE, "db", "数据库“%s”尚未初始化，请先运行 yiqiban init",
			"database '%s' has no district yet; run 'yiqiban init' first", dbpath);
		cli_error(&e);
		goto out;
	}
	size_t nroutes;
	routes_all(&nroutes);
	app.metrics = metrics_new(nroutes);
	app.started_ms = now_ms();
	if (!given_url) {
		/* Known before start unless the port is 0 (then set right after start,
		 * before the port is announced: no client can know it earlier). */
		const char *colon = strrchr(app.cfg.addr, ':');
		int64_t port = 0;
		if (colon && parse_i64(colon + 1, &port) && port > 0) {
			public_url(NULL, app.cfg.addr, (int)port, pub, sizeof pub);
			app.cfg.public_url = pub;
		}
	}
	/* before the first request: a policy change must find it listening; it also
	 * resumes the recomputation a stop or a crash left */
	if (backlog_start(app.pool, &backlog, &e)) {
		cli_error(&e);
		goto out;
	}
	if (http_server_start(&app, &srv, &e)) {
		cli_error(&e);
		goto out;
	}
	if (!app.cfg.public_url) {
		public_url(NULL, app.cfg.addr, http_server_port(srv), pub, sizeof pub);
		app.cfg.public_url = pub;
	}
	if (!given_url)
		log_info("enterprise codes link to %s (set --public-url for printed codes)", pub);
	if (webhook_global_init()) {
		err_set(&e, ERR_INTERNAL, NULL, "无法初始化 libcurl", "cannot initialise libcurl");
		cli_error(&e);
		goto out;
	}
	curl_ready = true;
	if (scheduler_on) {
		/* the digital employee: its first tick is done when this returns */
		if (scheduler_start(app.pool, (int)interval, &sched, &e)) {
			cli_error(&e);
			goto out;
		}
		log_info("digital employee: ticks every %d s%s", (int)interval,
			 webhook_allow_private() ? ", webhooks may reach private addresses" : "");
	}
	if (app.cfg.web_root)
		log_info("web UI from %s", app.cfg.web_root);
	else
		log_info("no web UI (build it with 'make web', or pass --web-root DIR)");
	log_info("yiqiban %s listening on http://%s (port %d, database %s, %d threads)",
		 YIQIBAN_VERSION, app.cfg.addr, http_server_port(srv), dbpath, app.cfg.threads);
	int sig;
	sigwait(&set, &sig);
	log_info("received signal %d, stopping", sig);
	status = 0;
out:
	http_server_stop(srv);
	scheduler_stop(sched); /* before the pool it writes through */
	backlog_stop(backlog);
	if (curl_ready)
		webhook_global_cleanup();
	db_pool_free(app.pool);
	metrics_free(app.metrics);
	if (app.cfg.access_log && app.cfg.access_log != stdout)
		fclose(app.cfg.access_log);
	return status;
}
