/*
 * static.c — the built web UI (web/dist) served from a web root: the page at
 * "/" and the hashed bundles under "/assets/".
 *
 * Names are checked before anything touches the file system: one path
 * segment of [A-Za-z0-9._-], not starting with '.', so no "..", no '/', no
 * hidden files (the router has already split the path at '/', and a decoded
 * "%2F" never reaches a single segment because of that check). Files are
 * opened with O_NOFOLLOW and must be regular files.
 *
 * Caching: every answer carries an ETag (size and modification time, plus
 * "-gz" for the compressed variant) and answers If-None-Match with 304.
 * Files under /assets/ have content hashes in their names, so they are
 * cached for a year ("immutable"); the page itself is revalidated on every
 * load ("no-cache"), so a new build is picked up at once. When the build
 * left NAME.gz beside NAME (web/scripts/compress.mjs) and the client accepts
 * gzip, the compressed bytes are sent with Content-Encoding: gzip.
 */
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/log.h"
#include "base/banned.h"

#define STATIC_MAX_BYTES (32u << 20)

static const struct {
	const char *ext, *type;
} types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json; charset=utf-8"},
	{".map", "application/json; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".jpeg", "image/jpeg"},
	{".gif", "image/gif"},
	{".webp", "image/webp"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
	{".woff", "font/woff"},
	{".ttf", "font/ttf"},
	{".txt", "text/plain; charset=utf-8"},
	{".wasm", "application/wasm"},
};

const char *static_content_type(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t k = strlen(types[i].ext);
		if (n > k && strcasecmp(name + n - k, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

bool static_name_ok(const char *name)
{
	size_t n = 0;
	if (!name || name[0] == '.' || name[0] == '\0')
		return false;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		if (!ok || n >= 128)
			return false;
	}
	return strstr(name, "..") == NULL;
}

/* Does an If-None-Match header list this tag (or "*")? Weak comparison, as
 * RFC 9110 asks for If-None-Match. */
static bool etag_listed(const char *header, const char *tag)
{
	const char *t = tag;
	if (strncmp(t, "W/", 2) == 0)
		t += 2;
	size_t tl = strlen(t);
	const char *p = header;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		const char *end = p;
		if (*end == '"') {
			end = strchr(end + 1, '"');
			end = end ? end + 1 : p + strlen(p);
		} else
			while (*end && *end != ',')
				end++;
		if ((size_t)(end - p) == tl && memcmp(p, t, tl) == 0)
			return true;
		p = end;
	}
	return false;
}

static bool accepts_gzip(struct req *r)
{
	const char *ae = req_header(r, "Accept-Encoding");
	if (!ae)
		return false;
	/* "gzip" listed and not refused with q=0 */
	const char *g = strcasestr(ae, "gzip");
	if (!g)
		return false;
	const char *q = strstr(g, ";q=0");
	const char *comma = strchr(g, ',');
	if (q && (!comma || q < comma) && !(q[4] == '.' && q[5] >= '1' && q[5] <= '9'))
		return false;
	return true;
}

/* Open dir/name as a regular file; -1 if it is not one. */
static int open_file(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size < 0 ||
	    (uint64_t)st->st_size > STATIC_MAX_BYTES) {
		close(fd);
		return -1;
	}
	return fd;
}

static int read_all(int fd, size_t size, struct buf *out)
{
	char chunk[65536];
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf_add(out, chunk, (size_t)n))
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int static_reply(struct req *r, const char *dir, const char *name, bool immutable)
{
	const char *root = r->app->cfg.web_root;
	if (!root || !static_name_ok(name))
		return req_fail(r, ERR_NOT_FOUND, NULL, "找不到 %s", "no such file %s", r->path);
	const char *path = arena_printf(r->arena, "%s%s%s/%s", root, dir && *dir ? "/" : "",
					dir ? dir : "", name);
	struct stat st, gst;
	int fd = open_file(path, &st);
	if (fd < 0)
		return req_fail(r, ERR_NOT_FOUND, NULL, "找不到 %s", "no such file %s", r->path);

	/* the precompressed variant, when it is as new as the file */
	bool gz = false;
	if (accepts_gzip(r)) {
		int gfd = open_file(arena_printf(r->arena, "%s.gz", path), &gst);
		if (gfd >= 0 && gst.st_mtim.tv_sec >= st.st_mtim.tv_sec) {
			close(fd);
			fd = gfd;
			gz = true;
		} else if (gfd >= 0)
			close(gfd);
	}
	const struct stat *s = gz ? &gst : &st;
	const char *etag = arena_printf(r->arena, "\"%" PRIx64 "-%" PRIx64 "%s\"",
					(uint64_t)st.st_size, (uint64_t)mtime_ns(&st),
					gz ? "-gz" : "");
	req_header_add(r, "ETag", etag);
	req_header_add(r, "Cache-Control",
		       immutable ? "public, max-age=31536000, immutable" : "no-cache");
	req_header_add(r, "Vary", "Accept-Encoding");
	const char *inm = req_header(r, "If-None-Match");
	if (inm && etag_listed(inm, etag)) {
		close(fd);
		r->content_type = static_content_type(name);
		r->status = 304;
		buf_reset(&r->out);
		return 0;
	}
	buf_reset(&r->out);
	int rc = read_all(fd, (size_t)s->st_size, &r->out);
	close(fd);
	if (rc) {
		log_error("request %s: cannot read %s", r->id, path);
		buf_reset(&r->out);
		return req_fail(r, ERR_INTERNAL, NULL, "无法读取文件", "cannot read the file");
	}
	if (gz)
		req_header_add(r, "Content-Encoding", "gzip");
	r->content_type = static_content_type(name);
	r->status = 200;
	return 0;
}

bool static_has_index(const struct app *app)
{
	if (!app->cfg.web_root)
		return false;
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s/index.html", app->cfg.web_root);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
