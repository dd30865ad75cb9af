"""政企码 end to end: an administrator fetches an enterprise's code (JSON, PNG,
SVG); a scan opens the public card (JSON, and an HTML page) without login,
showing no contact data; tampered codes and closed enterprises answer 404; an
enterprise user sees its own code and check-in code only; an inspector
verifies check-in codes (each attempt audited), a dispatcher may not.

The expiry of check-in codes needs a clock: tests/unit/test_ecode.c covers it."""
import re
import struct
import unittest

from harness import Server

ENT = "/api/v1/enterprises"
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def credit_code(n, region="410122"):
    """A valid GB 32100 code (organisation-code check digit and mod-31 check character)."""
    org = "EC%06d" % n
    s = sum((int(c) if c.isdigit() else ord(c) - 55) * w
            for c, w in zip(org, [3, 7, 9, 10, 5, 8, 4, 2]))
    r = 11 - s % 11
    body = "91" + region + org + ("X" if r == 10 else "0" if r == 11 else str(r))
    r = 31 - sum(ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body)) % 31
    return body + ALPHABET[0 if r == 31 else r]


def flip(token, i):
    """The token with character i replaced by another base64url character."""
    c = token[i]
    return token[:i] + ("B" if c == "A" else "A") + token[i + 1:]


class ECode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        cls.uid = dict(cls.srv.sql("SELECT login, id FROM users"))
        cls.e1 = cls.create(1, name="<script>alert('x')</script>二七&示范\"商贸\"有限公司",
                            phone="13812345678", legal_rep="王大锤", address="郑州市二七区大学路 1 号",
                            industry_section="F", industry_division="52")
        cls.e2 = cls.create(2, name="郑州另一家企业有限公司", phone="13987654321")
        cls.closed = cls.create(3, name="已注销企业有限公司", status="deregistered")
        cls.guessed = cls.create(4, name="被猜码企业有限公司")
        r = cls.admin.patch("/api/v1/users/%d" % cls.uid["enterprise"],
                            {"enterprise_id": cls.e1["id"]})
        assert r.status == 200, r
        cls.ent = cls.srv.login("enterprise")
        cls.inspector = cls.srv.login("inspector")
        cls.dispatcher = cls.srv.login("dispatcher")
        cls.anon = cls.srv.client()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    @classmethod
    def create(cls, n, **fields):
        body = {"credit_code": credit_code(n)}
        body.update(fields)
        r = cls.admin.post(ENT, body)
        assert r.status == 201, r
        return r.json

    def code_of(self, ent, client=None):
        r = (client or self.admin).get("%s/%d/code" % (ENT, ent["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json

    def audit(self, entity):
        return self.srv.sql("SELECT entity_id, action, actor_login, request_id, summary "
                            "FROM audit_log WHERE entity = ? ORDER BY seq", (entity,))

    # ---- the code and its images ----

    def test_admin_fetches_code(self):
        c = self.code_of(self.e1)
        self.assertEqual(c["kid"], 1)
        self.assertRegex(c["token"], r"^[A-Za-z0-9_-]{80,140}$")
        self.assertEqual(c["url"], "http://127.0.0.1:%d/e/%s" % (self.srv.port, c["token"]))
        # the signing key was made on first use, once, and audited
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM signing_keys")[0][0], 1)
        self.assertEqual([a[1] for a in self.audit("signing_key")], ["create"])
        # the same enterprise's code is stable within a day
        self.assertEqual(self.code_of(self.e1)["token"], c["token"])
        self.assertNotEqual(self.code_of(self.e2)["token"], c["token"])

    def test_png(self):
        for scale in (None, 1, 5, 20):
            with self.subTest(scale=scale):
                q = "" if scale is None else "?scale=%d" % scale
                r = self.admin.request("GET", "%s/%d/code.png%s" % (ENT, self.e1["id"], q))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), "image/png")
                raw = self.raw_get("%s/%d/code.png%s" % (ENT, self.e1["id"], q))
                self.assertEqual(raw[:8], b"\x89PNG\r\n\x1a\n")
                length, kind, w, h, depth, color = struct.unpack(">I4sIIBB", raw[8:26])
                self.assertEqual((length, kind, depth, color), (13, b"IHDR", 8, 0))
                s = scale or 8
                self.assertEqual(w, h)
                self.assertEqual(w % s, 0)
                modules = w // s - 8  # quiet zone of 4 modules each side
                self.assertEqual((modules - 17) % 4, 0, "QR sizes are 17 + 4 * version")
                self.assertTrue(21 <= modules <= 177)
        for bad in ("0", "21", "x", "-1"):
            r = self.admin.get("%s/%d/code.png?scale=%s" % (ENT, self.e1["id"], bad))
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.error["field"], "scale")

    def raw_get(self, path):
        """Body bytes (the harness decodes text)."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Cookie": self.admin.cookie})
            return conn.getresponse().read()
        finally:
            conn.close()

    def test_svg(self):
        r = self.admin.get("%s/%d/code.svg" % (ENT, self.e1["id"]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "image/svg+xml; charset=utf-8")
        self.assertTrue(r.raw.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg '), r)
        self.assertTrue(r.raw.endswith("</svg>\n"))
        self.assertEqual(r.raw.count("<path"), 1)
        self.assertNotIn("<script", r.raw)
        self.assertIn("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;二七&amp;示范&quot;商贸&quot;"
                      "有限公司", r.raw)
        import xml.etree.ElementTree as ET
        root = ET.fromstring(r.raw.encode())
        text = root.find("{http://www.w3.org/2000/svg}text")
        self.assertEqual(text.text, self.e1["name"])

    # ---- what a scan opens ----

    def test_public_card_without_login(self):
        tok = self.code_of(self.e1)["token"]
        r = self.anon.get("/api/v1/public/e/" + tok)
        self.assertEqual(r.status, 200, r)
        card = r.json
        self.assertEqual(card["name"], self.e1["name"])
        self.assertEqual(card["credit_code"], self.e1["credit_code"])
        self.assertEqual(card["kind"], "enterprise")
        self.assertEqual(card["status"], "active")
        self.assertEqual(card["address"], "郑州市二七区大学路 1 号")
        self.assertEqual((card["industry_section"], card["industry_division"]), ("F", "52"))
        self.assertEqual(card["request_path"], "/#/portal/requests/new?enterprise_code=" + tok)
        for hidden in ("phone", "legal_rep", "checkin_secret", "id"):
            self.assertNotIn(hidden, card)
        self.assertNotIn("13812345678", r.raw)
        self.assertNotIn("王大锤", r.raw)
        # a stale or foreign credential does not matter on a public route
        r = self.anon.get("/api/v1/public/e/" + tok, headers={"Authorization": "Bearer nope"})
        self.assertEqual(r.status, 200, r)

    def test_tampered_token_is_404(self):
        tok = self.code_of(self.e1)["token"]
        unknown = self.anon.get("/api/v1/public/e/AQEBAQ" + "A" * 86)
        self.assertEqual(unknown.status, 404, unknown)
        self.assertEqual(unknown.error["code"], "not_found")
        for i in (0, 1, 5, len(tok) // 2, len(tok) - 2, len(tok) - 1):
            with self.subTest(position=i):
                r = self.anon.get("/api/v1/public/e/" + flip(tok, i))
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.error, unknown.error)  # the same answer, no oracle
        for bad in (tok[:-1], tok + "A", tok[:40], "x", "%00" + tok):
            r = self.anon.get("/api/v1/public/e/" + bad)
            self.assertEqual(r.status, 404, r)
            self.assertEqual(r.error, unknown.error)

    def test_closed_enterprise_is_404_saying_so(self):
        tok = self.code_of(self.closed)["token"]
        r = self.anon.get("/api/v1/public/e/" + tok)
        self.assertEqual(r.status, 404, r)
        self.assertIn("no longer in business", r.error["message"])
        r = self.anon.get("/e/" + tok)
        self.assertEqual(r.status, 404, r)
        self.assertIn("no longer in business", r.raw)

    def test_html_page(self):
        tok = self.code_of(self.e1)["token"]
        r = self.anon.get("/e/" + tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", r.header("Content-Security-Policy"))
        page = r.raw
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertIn('<meta name="viewport" content="width=device-width, initial-scale=1">', page)
        self.assertNotIn("<script", page)
        self.assertIn("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;二七&amp;示范&quot;商贸&quot;",
                      page)
        self.assertIn('href="/#/portal/requests/new?enterprise_code=%s"' % tok, page)
        self.assertIn("提出诉求 / Raise a request", page)
        self.assertIn(self.e1["credit_code"], page)
        self.assertNotIn("13812345678", page)
        self.assertNotIn("王大锤", page)
        # self-contained: no external resources, no scripts, no attributes we did not write
        self.assertFalse(re.search(r"\b(src|srcset|action)=", page), page)
        self.assertEqual(re.findall(r'href="([^"]*)"', page),
                         ["/#/portal/requests/new?enterprise_code=" + tok])
        r = self.anon.get("/e/" + flip(tok, 10))
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertIn("no such enterprise code", r.raw)

    # ---- scopes ----

    def test_enterprise_user_sees_only_its_own(self):
        mine = self.code_of(self.e1, self.ent)
        self.assertEqual(mine["token"], self.code_of(self.e1)["token"])
        for suffix in ("code", "code.svg", "code.png", "checkin-code"):
            with self.subTest(route=suffix):
                r = self.ent.get("%s/%d/%s" % (ENT, self.e1["id"], suffix))
                self.assertEqual(r.status, 200, r)
                other = self.ent.get("%s/%d/%s" % (ENT, self.e2["id"], suffix))
                missing = self.ent.get("%s/999999/%s" % (ENT, suffix))
                self.assertEqual(other.status, 404, other)
                self.assertEqual(other.error, missing.error)
        r = self.ent.get("%s/%d/checkin-code" % (ENT, self.e1["id"]))
        c = r.json
        self.assertRegex(c["code"], r"^[0-9]{6}$")
        self.assertRegex(c["qr_token"], r"^[A-Za-z0-9_-]{32}$")
        self.assertEqual(c["enterprise_id"], self.e1["id"])
        self.assertEqual(c["next_at"], (c["step"] + 1) * 60000)
        self.assertEqual(c["expires_at"], (c["step"] + 2) * 60000)
        # only the enterprise itself shows its check-in code
        for who in (self.admin, self.inspector):
            r = who.get("%s/%d/checkin-code" % (ENT, self.e1["id"]))
            self.assertEqual(r.status, 403, r)

    # ---- on-site check-in ----

    def checkin(self):
        r = self.ent.get("%s/%d/checkin-code" % (ENT, self.e1["id"]))
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_inspector_verifies(self):
        before = len(self.audit("checkin"))
        c = self.checkin()
        r = self.inspector.post("/api/v1/checkin/verify",
                                {"enterprise_id": self.e1["id"], "code": c["code"]})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["ok"], True)
        self.assertEqual(r.json["enterprise"], {"id": self.e1["id"], "name": self.e1["name"],
                                                "credit_code": self.e1["credit_code"]})
        self.assertIsInstance(r.json["verified_at"], int)
        ok_req = r.header("X-Request-Id")

        r = self.inspector.post("/api/v1/checkin/verify", {"qr_token": c["qr_token"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["enterprise"]["id"], self.e1["id"])

        wrong = c["code"][:5] + str((int(c["code"][5]) + 1) % 10)
        r = self.inspector.post("/api/v1/checkin/verify",
                                {"enterprise_id": self.e1["id"], "code": wrong})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.error["field"], "code")
        self.assertIn("expired or wrong", r.error["message"])
        bad_req = r.header("X-Request-Id")
        # the right code for another enterprise is wrong there
        r = self.inspector.post("/api/v1/checkin/verify",
                                {"enterprise_id": self.e2["id"], "code": c["code"]})
        self.assertEqual(r.status, 422, r)
        r = self.inspector.post("/api/v1/checkin/verify", {"qr_token": flip(c["qr_token"], 30)})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.error["field"], "qr_token")

        rows = self.audit("checkin")[before:]
        self.assertEqual([(a[1], a[2]) for a in rows],
                         [("verify", "inspector"), ("verify", "inspector"),
                          ("verify_failed", "inspector"), ("verify_failed", "inspector"),
                          ("verify_failed", "inspector")])
        self.assertEqual(rows[0][0], self.e1["id"])
        self.assertEqual(rows[0][3], ok_req)
        self.assertEqual(rows[2][3], bad_req)
        self.assertIn('"method":"qr"', rows[1][4])
        self.assertNotIn(wrong, rows[2][4])

    def test_verify_refusals(self):
        c = self.checkin()
        r = self.dispatcher.post("/api/v1/checkin/verify",
                                 {"enterprise_id": self.e1["id"], "code": c["code"]})
        self.assertEqual(r.status, 403, r)
        self.assertIn("checkin.verify", r.error["message"])
        r = self.ent.post("/api/v1/checkin/verify",
                          {"enterprise_id": self.e1["id"], "code": c["code"]})
        self.assertEqual(r.status, 403, r)
        r = self.anon.post("/api/v1/checkin/verify",
                           {"enterprise_id": self.e1["id"], "code": c["code"]})
        self.assertEqual(r.status, 401, r)
        before = len(self.audit("checkin"))
        for body, field in (({}, "enterprise_id"), ({"enterprise_id": self.e1["id"]}, "code"),
                            ({"code": c["code"]}, "enterprise_id"),
                            ({"qr_token": c["qr_token"], "code": c["code"]}, "qr_token"),
                            ({"enterprise_id": "1", "code": c["code"]}, "enterprise_id"),
                            ({"enterprise_id": self.e1["id"], "code": 123456}, "code"),
                            ({"enterprise_id": self.e1["id"], "code": c["code"], "x": 1}, "x")):
            with self.subTest(body=body):
                r = self.inspector.post("/api/v1/checkin/verify", body)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.error["field"], field)
        # malformed requests are not attempts: nothing audited
        self.assertEqual(len(self.audit("checkin")), before)

    def test_guessing_is_limited(self):
        # ten wrong codes on one enterprise within ten minutes stop the checking (429)
        statuses = []
        for i in range(12):
            r = self.inspector.post("/api/v1/checkin/verify",
                                    {"enterprise_id": self.guessed["id"], "code": "%06d" % i})
            statuses.append(r.status)
            if r.status == 429:
                break
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertEqual(set(statuses[:-1]), {422}, statuses)
        self.assertLessEqual(len(statuses), 11)
        self.assertEqual(r.error["code"], "rate_limited")
        self.assertEqual(r.header("Retry-After"), "600")
        last = self.audit("checkin")[-1]
        self.assertEqual((last[0], last[1]), (self.guessed["id"], "verify_failed"))
        self.assertIn('"limited":true', last[4])
        # other enterprises are not affected
        c = self.checkin()
        r = self.inspector.post("/api/v1/checkin/verify",
                                {"enterprise_id": self.e1["id"], "code": c["code"]})
        self.assertEqual(r.status, 200, r)


class PublicUrl(unittest.TestCase):
    def test_public_url_option(self):
        srv = Server.start(args=["--public-url", "https://yqb.example.cn/"])
        try:
            admin = srv.login("admin")
            r = admin.get(ENT + "/1/code")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["url"], "https://yqb.example.cn/e/" + r.json["token"])
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
