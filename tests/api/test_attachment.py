"""Attachments of requests end to end: PNG, JPEG and PDF accepted by their content
(whatever the name or Content-Type says), everything else refused (text renamed .png,
HTML, SVG, polyglots, truncated images) with nothing stored; the tenant's size and
count limits; bytes stored once per tenant by SHA-256; downloads with the stored type,
nosniff and an RFC 5987 Content-Disposition that round-trips Chinese names; safe file
names; who may attach, read and remove (404 outside the request.read scope, the
uploader only, never once the request is finished); the audit trail.
"""
import hashlib
import http.client
import struct
import unittest
import urllib.parse
import zlib

from harness import Server

REQ = "/api/v1/requests"


def png(w=1, h=1, extra=b""):
    """A real PNG (w x h, RGB), optionally with a private ancillary chunk of padding."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = b"".join(b"\0" + b"\xff\x00\x00" * w for _ in range(h))
    out = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
    if extra:
        out += chunk(b"prVt", extra)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xdb\x00\x43\x00" + bytes(range(64)) + b"\xff\xd9")
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


class Attachments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = srv = Server.start(enterprises=60)
        cls.dept = dict(srv.sql("SELECT code, id FROM departments"))
        cls.c = {name: srv.login(name) for name in
                 ("admin", "dispatcher", "handler", "enterprise", "observer", "leader")}
        firm = srv.sql("SELECT enterprise_id FROM users WHERE login = 'enterprise'")[0][0]
        firm_b = srv.sql("SELECT id FROM enterprises WHERE id <> ? AND status = 'active' "
                         "ORDER BY id LIMIT 1", (firm,))[0][0]
        r = cls.c["admin"].post("/api/v1/users", {
            "login": "firm.b", "display_name": "乙公司", "password": "Firm#Two2026",
            "roles": ["enterprise"], "enterprise_id": firm_b})
        assert r.status == 201, r
        cls.c["firm.b"] = srv.login("firm.b", password="Firm#Two2026")
        cls.taxman = srv.sql("SELECT u.login FROM users u JOIN departments d ON d.id = "
                             "u.department_id WHERE d.code = 'tax' AND u.login LIKE 'official%' "
                             "ORDER BY u.id LIMIT 1")[0][0]
        cls.c["taxman"] = srv.login(cls.taxman)
        cls.uid = dict(srv.sql("SELECT login, id FROM users"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def submit(self, who="enterprise", content="营业执照变更材料已提交，附上照片和申请书。"):
        r = self.c[who].post(REQ, {"type": "help", "content": content})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def upload(self, who, rid, data, filename=None, ctype="application/octet-stream"):
        path = "%s/%d/attachments" % (REQ, rid)
        if filename is not None:
            path += "?filename=" + urllib.parse.quote(filename, safe="")
        return self.c[who].request("POST", path, raw=data, headers={"Content-Type": ctype})

    def uploaded(self, who, rid, data, filename=None, ctype="application/octet-stream"):
        r = self.upload(who, rid, data, filename, ctype)
        self.assertEqual(r.status, 201, r)
        return r.json

    def raw_get(self, who, path):
        """The body of a GET as bytes (Response decodes text)."""
        h = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        try:
            h.request("GET", path, headers={"Cookie": self.c[who].cookie})
            resp = h.getresponse()
            self.assertEqual(resp.status, 200)
            return resp.read()
        finally:
            h.close()

    def set_setting(self, key, value):
        r = self.c["admin"].put("/api/v1/settings", {key: value})
        self.assertEqual(r.status, 200, r)

    def stored(self, rid):
        return self.srv.sql("SELECT COUNT(*) FROM request_attachments WHERE request_id = ?",
                            (rid,))[0][0]

    # ---- accepted types ----

    def test_png_jpeg_pdf_by_content(self):
        rid = self.submit()
        cases = [(png(3, 2), "现场照片.png", "image/png"),
                 (JPEG, "photo.JPEG", "image/jpeg"),
                 (PDF, "申请书.pdf", "application/pdf")]
        for data, name, want in cases:
            with self.subTest(name=name):
                a = self.uploaded("enterprise", rid, data, name)
                self.assertEqual(a["content_type"], want)
                self.assertEqual(a["filename"], name)
                self.assertEqual(a["size"], len(data))
                self.assertEqual(a["sha256"], hashlib.sha256(data).hexdigest())
                self.assertEqual(a["request_id"], rid)
                self.assertEqual(a["uploaded_by"], self.uid["enterprise"])
                self.assertFalse(a["existed"])
                d = self.c["enterprise"].get(a["url"])
                self.assertEqual(d.status, 200, d)
                self.assertEqual(d.header("Content-Type"), want)
                self.assertEqual(d.header("X-Content-Type-Options"), "nosniff")
                self.assertIn("sandbox", d.header("Content-Security-Policy") or "")
                self.assertTrue(d.header("Content-Disposition").startswith("attachment;"))
        # the body is the exact bytes (read raw: Response decodes text)
        a = self.c["enterprise"].get("%s/%d/attachments" % (REQ, rid)).json
        self.assertEqual([x["filename"] for x in a["items"]], [n for _, n, _ in cases])
        self.assertEqual(a["limits"]["max_count"], 10)
        self.assertEqual(a["limits"]["max_bytes"], 10 * 1024 * 1024)
        for x, (data, _, _) in zip(a["items"], cases):
            blob = self.srv.sql("SELECT data FROM attachment_blobs WHERE sha256 = ?",
                                (x["sha256"],))[0][0]
            self.assertEqual(bytes(blob), data)
        for x, (data, _, _) in zip(a["items"], cases):
            self.assertEqual(self.raw_get("enterprise", x["url"]), data)

    def test_content_type_is_only_a_hint(self):
        rid = self.submit()
        # a PDF sent as image/png named .png: it is a PDF, and its name says so
        a = self.uploaded("enterprise", rid, PDF, "scan.png", ctype="image/png")
        self.assertEqual(a["content_type"], "application/pdf")
        self.assertEqual(a["filename"], "scan.png.pdf")
        d = self.c["enterprise"].get(a["url"])
        self.assertEqual(d.header("Content-Type"), "application/pdf")
        # no name at all
        a = self.uploaded("enterprise", rid, JPEG)
        self.assertEqual(a["filename"], "附件.jpg")

    # ---- refusals ----

    def test_refusals_store_nothing(self):
        rid = self.submit()
        before = self.srv.counts()
        bad = [
            (b"just some text, renamed\n", "notes.png", "image/png"),
            (b"<html><body><script>alert(1)</script></body></html>", "x.png", "text/html"),
            (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
             "x.svg", "image/svg+xml"),
            (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.jpg",
             "image/jpeg"),
            # polyglots: a real format later in the file does not count
            (b"<script>alert(1)</script>" + PDF, "x.pdf", "application/pdf"),
            (b"\n" + png(), "x.png", "image/png"),
            (b" %PDF-1.4\n%%EOF", "x.pdf", "application/pdf"),
            (png()[:20], "cut.png", "image/png"),                 # no IHDR: not a PNG
            (b"\xff\xd8\xff", "cut.jpg", "image/jpeg"),            # SOI alone
            (b"%PDF-x.y\n", "fake.pdf", "application/pdf"),
            (b"PK\x03\x04" + b"\0" * 40, "doc.docx", "application/zip"),
            (b"MZ\x90\x00" + b"\0" * 60, "setup.png", "image/png"),
            (b"GIF88a" + b"\0" * 20, "x.gif", "image/gif"),
        ]
        for data, name, ctype in bad:
            with self.subTest(data=data[:16]):
                assert_error(self, self.upload("enterprise", rid, data, name, ctype), 422,
                             "unprocessable", "file")
        assert_error(self, self.upload("enterprise", rid, b"", "x.png"), 400, "bad_request",
                     "file")
        assert_error(self, self.upload("enterprise", rid, png(), b"bad\xff.png"), 422,
                     "unprocessable", "filename")
        self.assertEqual(before, self.srv.counts())

    def test_size_limit(self):
        rid = self.submit()
        self.set_setting("attachments.max_bytes", 4096)
        try:
            before = self.srv.counts()
            big = png(extra=b"\0" * 5000)
            assert_error(self, self.upload("enterprise", rid, big, "big.png"), 413,
                         "payload_too_large", "file")
            self.assertEqual(self.c["enterprise"].get(
                "%s/%d/attachments" % (REQ, rid)).json["limits"]["max_bytes"], 4096)
            self.assertEqual(before, self.srv.counts())
            ok = png(extra=b"\0" * 3000)
            self.assertLessEqual(len(ok), 4096)
            self.uploaded("enterprise", rid, ok, "ok.png")
        finally:
            self.set_setting("attachments.max_bytes", 10485760)
        # beyond the largest value the setting can take: the route's own limit
        before = self.srv.counts()
        r = self.upload("enterprise", rid, b"\x89PNG" + b"\0" * (32 * 1024 * 1024 + 10), "x.png")
        assert_error(self, r, 413, "payload_too_large")
        self.assertEqual(before, self.srv.counts())
        # the setting's own range
        r = self.c["admin"].put("/api/v1/settings", {"attachments.max_bytes": 64 * 1024 * 1024})
        assert_error(self, r, 422, "unprocessable", "attachments.max_bytes")

    def test_count_limit_and_dedup(self):
        rid, rid2 = self.submit(), self.submit()
        data = png(2, 2)
        a = self.uploaded("enterprise", rid, data, "a.png")
        # the same bytes again on the same request: the attachment there is
        before = self.srv.counts()
        r = self.upload("enterprise", rid, data, "again.png")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["existed"])
        self.assertEqual(r.json["id"], a["id"])
        self.assertEqual(r.json["filename"], "a.png")
        self.assertEqual(before, self.srv.counts())
        # on another request: a new attachment, the same single blob
        b = self.uploaded("enterprise", rid2, data, "b.png")
        self.assertNotEqual(b["id"], a["id"])
        sha = hashlib.sha256(data).hexdigest()
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM attachment_blobs WHERE sha256 = ?",
                                      (sha,))[0][0], 1)
        self.assertEqual(self.srv.sql(
            "SELECT COUNT(*) FROM request_attachments WHERE sha256 = ?", (sha,))[0][0], 2)
        # the count limit
        self.set_setting("attachments.max_per_request", 2)
        try:
            self.uploaded("enterprise", rid, png(5, 5), "c.png")
            before = self.srv.counts()
            assert_error(self, self.upload("enterprise", rid, png(6, 6), "d.png"), 422,
                         "unprocessable", "file")
            self.assertEqual(before, self.srv.counts())
            self.assertEqual(self.stored(rid), 2)
        finally:
            self.set_setting("attachments.max_per_request", 10)
        # removing one reference keeps the shared blob; removing the last removes it
        self.assertEqual(self.c["enterprise"].delete(a["url"]).status, 204)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM attachment_blobs WHERE sha256 = ?",
                                      (sha,))[0][0], 1)
        self.assertEqual(self.c["enterprise"].get(b["url"]).status, 200)
        self.assertEqual(self.c["enterprise"].delete(b["url"]).status, 204)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM attachment_blobs WHERE sha256 = ?",
                                      (sha,))[0][0], 0)
        self.assertEqual(self.c["enterprise"].get(b["url"]).status, 404)

    # ---- names ----

    def test_chinese_name_round_trips(self):
        rid = self.submit()
        name = "营业执照 副本（2025年）;v2%.pdf"
        a = self.uploaded("enterprise", rid, PDF, name)
        self.assertEqual(a["filename"], name)
        d = self.c["enterprise"].get(a["url"])
        cd = d.header("Content-Disposition")
        self.assertTrue(cd.isascii(), cd)
        star = cd.split("filename*=", 1)[1]
        self.assertTrue(star.startswith("UTF-8''"), cd)
        self.assertEqual(urllib.parse.unquote(star[len("UTF-8''"):], encoding="utf-8"), name)
        fallback = cd.split('filename="', 1)[1].split('"', 1)[0]
        self.assertEqual(fallback, "____ ___2025__;v2_.pdf")

    def test_names_are_sanitised(self):
        rid = self.submit("dispatcher")
        cases = [
            ("../../etc/passwd.png", "passwd.png"),
            ("C:\\Users\\张三\\Desktop\\照片.png", "照片.png"),
            ("photo\u202egnp.exe", "photognp.exe.png"),   # right-to-left override dropped
            ("a\tb\r\nc\x1bd\x7f.png", "abcd.png"),
            ("  ...hidden.png  ", "hidden.png"),
            ('say "hi"<>|*?:.png', "say hi______.png"),
            ("..", "附件.png"),
            ("图" * 150 + ".png", "图" * 96 + ".png"),
            ("x" * 120, "x" * 96 + ".png"),
        ]
        for i, (sent, want) in enumerate(cases):
            with self.subTest(name=sent):
                a = self.uploaded("dispatcher", rid, png(i + 1, 1), sent)
                self.assertEqual(a["filename"], want)

    # ---- who may ----

    def test_scopes(self):
        rid = self.submit()
        a = self.uploaded("enterprise", rid, JPEG, "x.jpg")
        before = self.srv.counts()
        # another firm, a handler of another department, an observer who did not submit it
        for who in ("firm.b", "taxman", "observer", "handler"):
            with self.subTest(who=who):
                assert_error(self, self.c[who].get(a["url"]), 404, "not_found")
                assert_error(self, self.c[who].get("%s/%d/attachments" % (REQ, rid)), 404,
                             "not_found")
                assert_error(self, self.upload(who, rid, png(), "p.png"), 404, "not_found")
                assert_error(self, self.c[who].delete(a["url"]), 404, "not_found")
        self.assertEqual(before, self.srv.counts())
        # the dispatcher and leaders read everything; the department once it is dispatched
        self.assertEqual(self.c["dispatcher"].get(a["url"]).status, 200)
        self.assertEqual(self.c["leader"].get(a["url"]).status, 200)
        r = self.c["dispatcher"].post("%s/%d/actions/dispatch" % (REQ, rid),
                                      {"department_id": self.dept["amr-reg"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.c["handler"].get(a["url"]).status, 200)
        h = self.uploaded("handler", rid, PDF, "核查记录.pdf")
        self.assertEqual(h["uploaded_by"], self.uid["handler"])
        # the enterprise sees the handler's file too
        names = [x["filename"] for x in self.c["enterprise"].get(
            "%s/%d/attachments" % (REQ, rid)).json["items"]]
        self.assertEqual(names, ["x.jpg", "核查记录.pdf"])
        # only the uploader removes
        assert_error(self, self.c["dispatcher"].delete(a["url"]), 403, "forbidden")
        assert_error(self, self.c["enterprise"].delete(h["url"]), 403, "forbidden")
        self.assertEqual(self.stored(rid), 2)
        self.assertEqual(self.c["handler"].delete(h["url"]).status, 204)
        self.assertEqual(self.stored(rid), 1)
        # ids that are not attachments
        assert_error(self, self.c["enterprise"].get("/api/v1/attachments/999999"), 404,
                     "not_found")
        assert_error(self, self.c["enterprise"].get("/api/v1/attachments/abc"), 404,
                     "not_found")

    def test_finished_requests_are_frozen(self):
        rid = self.submit()
        a = self.uploaded("enterprise", rid, png(7, 7), "before.png")
        r = self.c["dispatcher"].post("%s/%d/actions/void" % (REQ, rid),
                                      {"internal_note": "重复提交"})
        self.assertEqual(r.status, 200, r)
        before = self.srv.counts()
        assert_error(self, self.upload("enterprise", rid, png(8, 8), "after.png"), 409,
                     "conflict", "state")
        assert_error(self, self.c["enterprise"].delete(a["url"]), 409, "conflict", "state")
        self.assertEqual(before, self.srv.counts())
        # still readable
        self.assertEqual(self.c["enterprise"].get(a["url"]).status, 200)

    def test_audited(self):
        rid = self.submit()
        a = self.uploaded("enterprise", rid, png(9, 9), "审计.png")
        self.assertEqual(self.c["enterprise"].delete(a["url"]).status, 204)
        rows = self.srv.sql("SELECT action, actor_id, summary FROM audit_log WHERE "
                            "entity = 'attachment' AND entity_id = ? ORDER BY seq", (a["id"],))
        self.assertEqual([r[0] for r in rows], ["upload", "delete"])
        self.assertEqual({r[1] for r in rows}, {self.uid["enterprise"]})
        self.assertIn('"filename":"审计.png"', rows[0][2])
        self.assertIn('"request_id":%d' % rid, rows[0][2])
        r = self.c["admin"].get("/api/v1/audit/verify")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json.get("ok"), r)


if __name__ == "__main__":
    unittest.main()
