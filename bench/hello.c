/* bench/hello.c — the HTTP floor: a bare libmicrohttpd server answering every request with a
 * small JSON body. Thread pool of N + epoll, like yiqiban; the response is queued on the
 * second call of the access handler (the first only marks the request), which keeps
 * keep-alive connections open (see docs/benchmarks.md).
 * Usage: hello PORT [THREADS]   (PORT 0 picks a free port; prints "listening (port N, ...)")
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"status\":\"ok\",\"version\":\"hello\"}";
static struct MHD_Response *resp;
static volatile sig_atomic_t stop;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **req_cls)
{
	static int marker;
	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (*req_cls == NULL) {
		*req_cls = &marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, MHD_HTTP_OK, resp);
}

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: hello PORT [THREADS]\n");
		return 2;
	}
	unsigned port = (unsigned)atoi(argv[1]);
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
	resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
					       MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	struct MHD_Daemon *d =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL,
			     NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "hello: cannot listen on port %u\n", port);
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "hello listening (port %u, %u threads)\n", info ? info->port : port,
		threads);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	return 0;
}
