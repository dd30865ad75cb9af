"""The enterprise registry through the API: credit codes, validation naming the
field, versioned history, search (trigram and short substrings), keyset paging,
PII masking, scopes (an enterprise sees only itself) and self-service."""
import unittest
import urllib.parse

import gb32100
from harness import Server

ENT = "/api/v1/enterprises"


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


class Registry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        cls.dispatcher = cls.srv.login("dispatcher")
        cls.observer = cls.srv.login("observer")
        cls.n = 500000

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def code(self):
        type(self).n += 1
        return gb32100.make(type(self).n)

    def create(self, **fields):
        body = {"credit_code": self.code(), "name": "测试企业%d有限公司" % type(self).n}
        body.update(fields)
        r = self.admin.post(ENT, body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def list_all(self, client, query=""):
        out, after = [], None
        for _ in range(1000):
            q = query + ("&" if query else "") + "limit=7"
            if after:
                q += "&after=" + urllib.parse.quote(after)
            r = client.get(ENT + "?" + q)
            self.assertEqual(r.status, 200, r)
            out += r.json["items"]
            after = r.json["next"]
            if not after:
                return out
        self.fail("paging did not end")

    # ---- credit codes ----

    def test_reference_codes_through_api(self):
        for c in ["91350200776049653A", "91440101MA5CJQ4N59", "913502000728319549",
                  "91430111MA4L41YT1U", "53640000MJX1736997"]:
            r = self.admin.get("/api/v1/credit-codes/" + c)
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.json["valid"], (c, r))

    def test_every_single_mutation_is_refused(self):
        base = "91440101MA5CJQ4N59"
        # a sample of substitutions at every position, through the checker endpoint
        for pos in range(18):
            for ch in "0AKY":
                if base[pos] == ch:
                    continue
                m = base[:pos] + ch + base[pos + 1:]
                r = self.admin.get("/api/v1/credit-codes/" + m)
                self.assertFalse(r.json["valid"], m)
                self.assertTrue(r.json["overridable"], m)
                self.assertEqual(r.json["valid"], gb32100.is_valid(m))

    def test_code_errors_name_the_field(self):
        for bad, status in [("9144010", "bad_length"), ("91440101MA5CJQ4NI9", "bad_character"),
                            ("91440101MA5CJQ4N5S", "bad_character")]:
            self.assertEqual(self.admin.get("/api/v1/credit-codes/" + bad).json["status"], status)
            r = self.admin.post(ENT, {"credit_code": bad, "name": "某公司"})
            assert_error(self, r, 422, "unprocessable", "credit_code")
            # an override does not admit length or alphabet errors
            r = self.admin.post(ENT, {"credit_code": bad, "name": "某公司", "override_check": True})
            assert_error(self, r, 422, "unprocessable", "credit_code")

    def test_pilot_code_needs_override(self):
        before = self.srv.counts()
        r = self.admin.post(ENT, {"credit_code": "91350100M0001TGQXM", "name": "试点企业"})
        assert_error(self, r, 422, "unprocessable", "credit_code")
        self.assertIn("override", r.error["message"])
        self.assertEqual(self.srv.counts(), before)
        r = self.admin.post(ENT, {"credit_code": "91350100m0001tgqxm", "name": "试点企业",
                                  "override_check": True})
        self.assertEqual(r.status, 201, r)
        self.assertFalse(r.json["credit_code_ok"])
        self.assertEqual(r.json["credit_code"], "91350100M0001TGQXM")
        self.assertEqual(r.json["warnings"][0]["field"], "credit_code")

    def test_duplicate_code_409(self):
        e = self.create()
        r = self.admin.post(ENT, {"credit_code": e["credit_code"].lower(), "name": "另一家"})
        assert_error(self, r, 409, "conflict", "credit_code")

    def test_kind_from_code(self):
        r = self.admin.post(ENT, {"credit_code": gb32100.make(990001, kind="2"), "name": "张三小吃店"})
        self.assertEqual(r.json["kind"], "individual")
        r = self.admin.post(ENT, {"credit_code": gb32100.make(990002, kind="3"), "name": "花生合作社"})
        self.assertEqual(r.json["kind"], "cooperative")

    # ---- validation ----

    def test_fields_validated(self):
        cases = [
            ({"name": ""}, 422, "name"),
            ({"name": "   "}, 422, "name"),
            ({"name": "长" * 101}, 422, "name"),
            ({"name": 5}, 400, "name"),
            ({"kind": "company"}, 422, "kind"),
            ({"phone": "call me"}, 422, "phone"),
            ({"industry_section": "Z"}, 422, "industry_section"),
            ({"industry_section": "C", "industry_division": "52"}, 422, "industry_division"),
            ({"industry_division": "99"}, 422, "industry_division"),
            ({"size_class": "huge"}, 422, "size_class"),
            ({"registered_on": "2023-02-29"}, 422, "registered_on"),
            ({"registered_on": "20230101"}, 422, "registered_on"),
            ({"status": "closed"}, 422, "status"),
            ({"lat": 91, "lon": 113}, 422, "lat"),
            ({"lat": 34}, 400, "lon"),
            ({"lat": "34", "lon": 113}, 400, "lat"),
            ({"tags": ",".join("t%d" % i for i in range(11))}, 422, "tags"),
            ({"tags": ["十七个字符的标签十七个字符的标签长"]}, 422, "tags"),
            ({"is_key": "yes"}, 400, "is_key"),
            ({"extra": 1}, 400, "extra"),
        ]
        before = self.srv.counts()
        for fields, status, field in cases:
            body = {"credit_code": gb32100.make(880000), "name": "校验公司"}
            body.update(fields)
            r = self.admin.post(ENT, body)
            self.assertEqual((r.status, r.error.get("field")), (status, field), (fields, r))
        self.assertEqual(self.srv.counts(), before)
        r = self.admin.post(ENT, {"name": "无代码"})
        assert_error(self, r, 400, "bad_request", "credit_code")

    def test_normalisation(self):
        e = self.create(tags="商贸， 外贸;商贸 ,", industry_division="13", lat=34.7, lon=113.6)
        self.assertEqual(e["tags"], ["商贸", "外贸"])
        self.assertEqual(e["industry_section"], "C")
        self.assertEqual(e["industry_section_zh"], "制造业")
        self.assertEqual((e["lat"], e["lon"]), (34.7, 113.6))
        self.assertEqual(e["status"], "active")

    # ---- history ----

    def test_history(self):
        e = self.create(phone="13800001111", size_class="small")
        url = "%s/%d" % (ENT, e["id"])
        r = self.admin.patch(url, {"size_class": "medium", "tags": ["专精特新"]})
        self.assertEqual(r.json["version"], 2)
        r = self.admin.patch(url, {"size_class": "medium"})  # no change: no new version
        self.assertEqual(r.json["version"], 2)
        r = self.admin.patch(url, {"status": "moved_out", "lat": 34.75, "lon": 113.65})
        self.assertEqual(r.json["version"], 3)
        h = self.admin.get(url + "/history").json["items"]
        self.assertEqual([v["version"] for v in h], [3, 2, 1])
        self.assertEqual(h[1]["changes"]["size_class"], ["small", "medium"])
        self.assertEqual(h[1]["changes"]["tags"], ["", "专精特新"])
        self.assertEqual(h[0]["changes"]["status"], ["active", "moved_out"])
        self.assertEqual(h[0]["snapshot"]["status"], "moved_out")
        self.assertEqual(h[2]["changes"], {})
        self.assertEqual(h[2]["snapshot"]["size_class"], "small")
        self.assertEqual(h[0]["actor_login"], "admin")
        audit = self.srv.sql("SELECT action FROM audit_log WHERE entity = 'enterprise' AND "
                             "entity_id = ? ORDER BY seq", (e["id"],))
        self.assertEqual([a[0] for a in audit], ["create", "update", "update"])
        # an observer (no PII right) sees the history without contact data
        ho = self.observer.get(url + "/history").json["items"]
        self.assertNotIn("phone", ho[2]["snapshot"])
        self.assertTrue(self.admin.get("/api/v1/audit/verify").json["ok"])

    # ---- search and paging ----

    def test_search_by_name(self):
        a = self.create(name="郑州二七区金鹰商贸有限公司")
        b = self.create(name="河南金鹰物流有限公司")
        c = self.create(name="郑州市百货大楼")
        def ids(q):
            return {x["id"] for x in self.list_all(self.admin, "q=" + urllib.parse.quote(q))}
        self.assertEqual(ids("金鹰商贸") & {a["id"], b["id"], c["id"]}, {a["id"]})  # trigram
        self.assertEqual(ids("金鹰") & {a["id"], b["id"], c["id"]}, {a["id"], b["id"]})  # 2 chars
        self.assertEqual(ids("百货大楼") & {a["id"], b["id"], c["id"]}, {c["id"]})
        self.assertEqual(ids("不存在的名字"), set())
        self.assertEqual(ids("%"), set())
        self.assertEqual(ids('金鹰"商贸'), set())
        r = self.admin.get(ENT + "?q=" + urllib.parse.quote("长" * 51))
        assert_error(self, r, 400, "bad_request", "q")

    def test_filters(self):
        k = self.create(is_key=True, size_class="large", industry_division="65", tags=["数字经济"])
        self.create(size_class="micro", industry_division="52")
        got = self.list_all(self.admin, "is_key=1&size_class=large&industry_section=I&tag="
                            + urllib.parse.quote("数字经济"))
        self.assertEqual([x["id"] for x in got], [k["id"]])
        got = self.list_all(self.admin, "credit_code=" + k["credit_code"])
        self.assertEqual([x["id"] for x in got], [k["id"]])
        prefix = k["credit_code"][:12]
        self.assertIn(k["id"], [x["id"] for x in self.list_all(self.admin, "credit_code=" + prefix)])
        r = self.admin.get(ENT + "?count=1&is_key=1&limit=1")
        self.assertGreaterEqual(r.json["total"], 1)
        for bad in ["is_key=2", "sort=size", "limit=0", "after=garbage", "grid_id=x"]:
            r = self.admin.get(ENT + "?" + bad)
            self.assertEqual(r.status, 400, (bad, r))

    def test_keyset_paging_stable_under_inserts(self):
        for i in range(5):
            self.create(name="分页测试%02d公司" % i)
        for sort in ("id", "name", "registered_on"):
            seen, after = [], None
            for page in range(1000):
                q = "sort=%s&limit=4" % sort + ("&after=" + urllib.parse.quote(after) if after else "")
                r = self.admin.get(ENT + "?" + q)
                self.assertEqual(r.status, 200, r)
                seen += [x["id"] for x in r.json["items"]]
                if page == 1:
                    self.create(name="翻页中插入公司")  # an insert while paging
                after = r.json["next"]
                if not after:
                    break
            self.assertEqual(len(seen), len(set(seen)), sort)
            total = self.admin.get(ENT + "?count=1&limit=1").json["total"]
            self.assertGreaterEqual(len(seen), total - 1, sort)
        names = [x["name"] for x in self.list_all(self.admin, "sort=name")]
        self.assertEqual(names, sorted(names, key=lambda s: s.encode()))

    # ---- masking and scope ----

    def test_pii_masked_for_observers(self):
        e = self.create(phone="13912345678", legal_rep="李四光")
        url = "%s/%d" % (ENT, e["id"])
        self.assertEqual(self.dispatcher.get(url).json["phone"], "13912345678")
        o = self.observer.get(url).json
        self.assertEqual((o["phone"], o["legal_rep"]), ("139****5678", "李**"))
        listed = [x for x in self.list_all(self.observer, "credit_code=" + e["credit_code"])]
        self.assertEqual(listed[0]["phone"], "139****5678")

    def test_enterprise_user_sees_only_itself(self):
        mine, other = self.create(phone="13700000001"), self.create()
        uid = self.srv.sql("SELECT id FROM users WHERE login = 'enterprise'")[0][0]
        r = self.admin.patch("/api/v1/users/%d" % uid, {"enterprise_id": mine["id"]})
        self.assertEqual(r.status, 200, r)
        ent = self.srv.login("enterprise")
        self.assertEqual([x["id"] for x in self.list_all(ent)], [mine["id"]])
        self.assertEqual(ent.get("%s/%d" % (ENT, mine["id"])).json["phone"], "13700000001")
        assert_error(self, ent.get("%s/%d" % (ENT, other["id"])), 404, "not_found")
        assert_error(self, ent.get("%s/%d/history" % (ENT, other["id"])), 404, "not_found")
        assert_error(self, ent.patch("%s/%d" % (ENT, mine["id"]), {"phone": "1"}), 403, "forbidden")
        # self-service: contact data only
        r = ent.get("/api/v1/my/enterprise")
        self.assertEqual(r.json["id"], mine["id"])
        r = ent.patch("/api/v1/my/enterprise", {"phone": "0371-68886666", "address": "郑州市二七区大学路1号"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["phone"], "0371-68886666")
        h = self.admin.get("%s/%d/history" % (ENT, mine["id"])).json["items"]
        self.assertEqual(h[0]["source"], "self")
        for bad in ({"name": "改名"}, {"status": "revoked"}, {"is_key": True}):
            r = ent.patch("/api/v1/my/enterprise", bad)
            self.assertEqual(r.status, 400, (bad, r))
        # staff without a bound enterprise: 404 on /my/enterprise is not reachable (403)
        assert_error(self, self.dispatcher.get("/api/v1/my/enterprise"), 403, "forbidden")
        # binding to a missing enterprise is refused
        r = self.admin.patch("/api/v1/users/%d" % uid, {"enterprise_id": 99999999})
        assert_error(self, r, 422, "unprocessable", "enterprise_id")

    def test_grid_worker_sees_only_its_grid(self):
        self.create()
        gw = self.srv.login("gridworker")
        gid = self.srv.sql("SELECT grid_id FROM users WHERE login = 'gridworker'")[0][0]
        want = {i for i, in self.srv.sql("SELECT id FROM enterprises WHERE grid_id = ?", (gid,))}
        self.assertTrue(want)
        self.assertEqual({e["id"] for e in gw.get(ENT + "?limit=200").json["items"]}, want)
        # without a grid: nothing
        uid = self.srv.sql("SELECT id FROM users WHERE login = 'gridworker'")[0][0]
        admin = self.srv.login("admin")
        self.assertEqual(admin.delete("/api/v1/grids/%d/workers/%d" % (gid, uid)).status, 200)
        try:
            self.assertEqual(gw.get(ENT).json["items"], [])
        finally:
            self.assertEqual(admin.put("/api/v1/grids/%d/workers/%d" % (gid, uid)).status, 200)

    def test_write_permissions(self):
        for who in ("dispatcher", "leader", "enterprise", "handler"):
            c = self.srv.login(who)
            r = c.post(ENT, {"credit_code": gb32100.make(770000), "name": "无权公司"})
            assert_error(self, r, 403, "forbidden")
        bank = self.srv.login("bank")
        assert_error(self, bank.get(ENT), 403, "forbidden")


if __name__ == "__main__":
    unittest.main()
