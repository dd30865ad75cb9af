"""The web UI's static files: GET / and GET /assets/{file} from --web-root.

Content types, ETag and If-None-Match (304), the gzip variant, cache headers,
HEAD, and that nothing outside the web root can be read (encoded "..",
hidden files, symlinks, directories).
"""
import gzip
import http.client
import os
import shutil
import tempfile
import unittest

from harness import Server, run_cli

JS = b"console.log('\xe6\x98\x93\xe4\xbc\x81\xe5\x8a\x9e');\n" * 200


def raw_get(port, path, method="GET", headers=None):
    """A request with the path sent exactly as given (no client normalisation)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class StaticFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="yqweb-")
        root = os.path.join(cls.tmp, "dist")
        os.makedirs(os.path.join(root, "assets", "sub"))
        with open(os.path.join(root, "index.html"), "wb") as f:
            f.write("<!doctype html><title>二七帮·易企办</title>".encode())
        with open(os.path.join(root, "assets", "index-AbC123.js"), "wb") as f:
            f.write(JS)
        with open(os.path.join(root, "assets", "index-AbC123.js.gz"), "wb") as f:
            f.write(gzip.compress(JS))
        for name, data in (("style-1.css", b"body{}"), ("logo-2.svg", b"<svg/>"), ("x.woff2", b"w"),
                           ("data.bin", b"\0\1"), (".hidden", b"secret"), ("sub/inner.js", b"1")):
            with open(os.path.join(root, "assets", name), "wb") as f:
                f.write(data)
        with open(os.path.join(cls.tmp, "outside.txt"), "wb") as f:
            f.write(b"outside the web root")
        os.symlink(os.path.join(cls.tmp, "outside.txt"), os.path.join(root, "assets", "link.txt"))
        cls.srv = Server.start(args=["--web-root", root])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path, **kw):
        return raw_get(self.srv.port, path, **kw)

    def test_index_is_the_page(self):
        st, h, body = self.get("/")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn("二七帮".encode(), body)
        self.assertEqual(h["cache-control"], "no-cache")
        self.assertIn("default-src 'self'", h["content-security-policy"])
        self.assertTrue(h["etag"].startswith('"'))

    def test_assets_types_and_cache(self):
        for name, ctype in (("index-AbC123.js", "text/javascript; charset=utf-8"),
                            ("style-1.css", "text/css; charset=utf-8"), ("logo-2.svg", "image/svg+xml"),
                            ("x.woff2", "font/woff2"), ("data.bin", "application/octet-stream")):
            st, h, _ = self.get("/assets/" + name)
            self.assertEqual(st, 200, name)
            self.assertEqual(h["content-type"], ctype, name)
            self.assertEqual(h["cache-control"], "public, max-age=31536000, immutable", name)
            self.assertEqual(h["x-content-type-options"], "nosniff")

    def test_etag_and_304(self):
        st, h, body = self.get("/assets/index-AbC123.js")
        self.assertEqual((st, body), (200, JS))
        tag = h["etag"]
        st, h2, body = self.get("/assets/index-AbC123.js", headers={"If-None-Match": tag})
        self.assertEqual((st, body), (304, b""))
        self.assertEqual(h2["etag"], tag)
        st, _, _ = self.get("/assets/index-AbC123.js", headers={"If-None-Match": '"other", W/' + tag})
        self.assertEqual(st, 304)
        st, _, _ = self.get("/assets/index-AbC123.js", headers={"If-None-Match": '"other"'})
        self.assertEqual(st, 200)
        st, _, _ = self.get("/", headers={"If-None-Match": "*"})
        self.assertEqual(st, 304)

    def test_gzip_variant(self):
        st, h, body = self.get("/assets/index-AbC123.js", headers={"Accept-Encoding": "br, gzip"})
        self.assertEqual(st, 200)
        self.assertEqual(h["content-encoding"], "gzip")
        self.assertEqual(gzip.decompress(body), JS)
        self.assertIn("Accept-Encoding", h["vary"])
        plain_tag = self.get("/assets/index-AbC123.js")[1]["etag"]
        self.assertNotEqual(h["etag"], plain_tag)
        st, h, body = self.get("/assets/index-AbC123.js", headers={"Accept-Encoding": "gzip;q=0"})
        self.assertNotIn("content-encoding", h)
        self.assertEqual(body, JS)

    def test_head(self):
        st, h, body = self.get("/assets/index-AbC123.js", method="HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(int(h["content-length"]), len(JS))
        st, h, body = self.get("/healthz", method="HEAD")
        self.assertEqual((st, body), (200, b""))

    def test_nothing_outside_the_root(self):
        for path in ("/assets/..%2Findex.html", "/assets/..%2F..%2Foutside.txt", "/assets/%2e%2e%2foutside.txt",
                     "/assets/..", "/assets/%2e%2e", "/assets/.hidden", "/assets/link.txt", "/assets/sub",
                     "/assets/sub%2Finner.js", "/assets/sub/inner.js", "/assets/", "/assets/a%00b",
                     "/assets/..\\outside.txt", "/../outside.txt", "/%2e%2e/outside.txt", "/index.html",
                     "/assets/" + "a" * 300 + ".js", "/assets/nope.js"):
            st, h, body = self.get(path)
            self.assertIn(st, (400, 404), path)
            self.assertNotIn(b"outside the web root", body, path)
            self.assertNotIn(b"secret", body, path)

    def test_post_is_not_allowed(self):
        st, h, _ = self.get("/assets/index-AbC123.js", method="POST")
        self.assertEqual(st, 405)
        self.assertIn("GET", h["allow"])


class NoWebRoot(unittest.TestCase):
    def test_json_index_without_web_root(self):
        srv = Server.start(args=["--web-root", "off"])
        try:
            r = srv.client().get("/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json["api"], "/api/v1/")
            self.assertEqual(r.header("Cache-Control"), "no-store")
            self.assertEqual(srv.client().get("/assets/index.js").status, 404)
        finally:
            srv.stop()

    def test_bad_web_root_is_refused(self):
        p = run_cli("serve", "--db", "/nonexistent/x.db", "--web-root", "/nonexistent-dir", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--web-root", p.stderr)


if __name__ == "__main__":
    unittest.main()
