"""Duplicates and routing suggestions for the dispatcher, end to end.

Routing: requests with vocabulary typical of three departments (发票/税 → 税务局,
社保/工资 → 人社局, 营业执照/许可证 → 登记注册科) are submitted and dispatched through
the API; after a retrain, new requests get the right department first, and the
held-out accuracy (time-ordered 80/20, the most recent held out) is high. The
learning loop: requests about a new topic are first dispatched to the wrong
department (the model learns that), then returned and re-dispatched (the model learns
the correction, and only after a retrain: the model is a cached snapshot). Inactive
departments are never suggested.

Duplicates: a near-identical request of the same enterprise is found, an unrelated one
is not; requests within 300 m are found across enterprises, farther ones are not;
closed requests older than 30 days and voided ones are not candidates.
"""
import random
import time
import unittest

from harness import ROLES, Server

REQ = "/api/v1/requests"

VOCAB = {
    "tax": ["增值税发票", "开具发票", "纳税申报", "税控盘", "个人所得税", "出口退税", "税务登记",
            "完税证明", "发票额度", "电子税务局"],
    "hrss": ["社保缴费", "拖欠工资", "养老保险", "医疗保险", "劳动合同", "失业保险金", "工资发放",
             "社保卡", "工伤认定", "职工参保"],
    "amr-reg": ["营业执照", "许可证", "经营范围", "注册资本", "股权变更", "名称预先核准",
                "法定代表人变更", "企业年报", "执照遗失补领", "许可证延续"],
}
FILLER = ["我们公司", "希望", "尽快", "办理", "请问", "需要", "什么材料", "流程", "一直没有",
          "结果", "麻烦", "帮忙", "咨询一下", "线上", "窗口", "多久"]


def text(rng, words):
    parts = rng.sample(words, 2) + rng.sample(FILLER, 4)
    rng.shuffle(parts)
    return "，".join(parts) + "。"


class Suggestions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = srv = Server.start(enterprises=60)
        cls.dept = dict(srv.sql("SELECT code, id FROM departments"))
        cls.dept_name = dict(srv.sql("SELECT id, name FROM departments"))
        cls.c = {name: srv.login(name) for name in ROLES}
        cls.firm = srv.sql("SELECT enterprise_id FROM users WHERE login = 'enterprise'")[0][0]
        # the vocabulary requests, interleaved by department, dispatched by the dispatcher
        rng = random.Random(20250210)
        cls.trained = []
        for i in range(60):
            code = list(VOCAB)[i % 3]
            rid = cls.submit_as("dispatcher", text(rng, VOCAB[code]))
            cls.dispatch(rid, code)
            cls.trained.append(rid)
        r = cls.c["dispatcher"].post("/api/v1/suggestions/retrain")
        assert r.status == 200, r
        cls.model = r.json  # as it was right after these dispatches (tests may retrain)
        cls.examples = srv.sql("SELECT COUNT(*) FROM requests WHERE department_id IS NOT NULL "
                               "AND state NOT IN ('merged', 'voided')")[0][0]
        cls.cat_examples = srv.sql(
            "SELECT COUNT(*) FROM requests WHERE department_id IS NOT NULL AND category_id IS "
            "NOT NULL AND state NOT IN ('merged', 'voided')")[0][0]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    @classmethod
    def submit_as(cls, who, content, **kw):
        body = {"type": "help", "content": content}
        body.update(kw)
        r = cls.c[who].post(REQ, body)
        assert r.status == 201, r
        return r.json["id"]

    @classmethod
    def dispatch(cls, rid, code):
        r = cls.c["dispatcher"].post("%s/%d/actions/dispatch" % (REQ, rid),
                                     {"department_id": cls.dept[code]})
        assert r.status == 200, r

    def suggest(self, rid, who="dispatcher"):
        r = self.c[who].get("%s/%d/suggestions" % (REQ, rid))
        self.assertEqual(r.status, 200, r)
        return r.json

    def top_department(self, content):
        s = self.suggest(self.submit_as("dispatcher", content))
        self.assertTrue(s["departments"], s)
        return s["departments"][0]

    # ---- routing ----

    def test_learns_departments_from_dispatches(self):
        probes = [
            ("这个月的增值税发票开不出来，税控盘一直报错，影响纳税申报。", "tax"),
            ("公司想给新员工办理社保缴费和养老保险，工资发放前要准备什么？", "hrss"),
            ("营业执照的经营范围需要变更，许可证是否也要重新办理？", "amr-reg"),
        ]
        for content, code in probes:
            with self.subTest(code=code):
                s = self.suggest(self.submit_as("dispatcher", content))
                deps = s["departments"]
                self.assertEqual(deps[0]["id"], self.dept[code], deps)
                self.assertEqual(deps[0]["name"], self.dept_name[self.dept[code]])
                # clearly ahead (the probabilities are calibrated, so not near 1)
                self.assertGreater(deps[0]["p"], 2 * deps[1]["p"], deps)
                self.assertLessEqual(len(deps), 3)
                ps = [d["p"] for d in deps]
                self.assertEqual(ps, sorted(ps, reverse=True))
                self.assertTrue(all(0 < p <= 1 for p in ps))
                self.assertLessEqual(sum(ps), 1.000001)
                self.assertEqual(len({d["id"] for d in deps}), len(deps))
                m = s["model"]
                self.assertGreaterEqual(m["trained_at"], self.model["trained_at"])
                self.assertGreaterEqual(m["examples"], self.model["department"]["examples"])
                self.assertTrue(0 <= m["holdout_accuracy"] <= 1, m)
                # categories: none of these requests was classified; the demo's were
                for cat in s["categories"]:
                    self.assertTrue(cat["name"] and 0 < cat["p"] <= 1, cat)

    def test_model_report(self):
        m = self.model
        # every dispatched request that is not merged or voided is an example
        n = self.examples
        self.assertGreaterEqual(n, 60)
        dep = m["department"]
        self.assertEqual(m["requests"], n)
        self.assertEqual(dep["examples"], n)
        self.assertEqual(dep["test"], int(n * 0.2))
        self.assertEqual(dep["train"] + dep["test"], n)
        self.assertGreaterEqual(dep["classes"], 3)
        self.assertGreater(dep["vocabulary"], 100)
        self.assertLessEqual(dep["top1_accuracy"], dep["top3_accuracy"])
        self.assertGreaterEqual(dep["temperature"], 1)
        # the held-out share is the most recent: here, vocabulary requests whose
        # departments the older ones taught
        self.assertLessEqual(dep["test"], 60)
        self.assertGreaterEqual(dep["top1_accuracy"], 0.8, m)
        self.assertGreaterEqual(dep["top3_accuracy"], 0.9, m)
        self.assertEqual(m["category"]["examples"], self.cat_examples)
        self.assertEqual(m["retrain_minutes"], 60)
        self.assertLess(abs(m["trained_at"] - time.time() * 1000), 600000)
        # the report as it is now; a retrain makes a new model from the data as it is now
        r = self.c["dispatcher"].get("/api/v1/suggestions/model")
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json["trained_at"], m["trained_at"])
        r = self.c["admin"].post("/api/v1/suggestions/retrain", {})
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json["trained_at"], m["trained_at"])
        now = self.srv.sql("SELECT COUNT(*) FROM requests WHERE department_id IS NOT NULL AND "
                           "state NOT IN ('merged', 'voided')")[0][0]
        self.assertEqual(r.json["department"]["examples"], now)
        self.assertEqual(self.c["dispatcher"].get("/api/v1/suggestions/model").json["trained_at"],
                         r.json["trained_at"])
        r = self.c["admin"].post("/api/v1/suggestions/retrain", {"holdout": 0.5})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error["field"], "holdout")

    def test_corrections_are_learned(self):
        rng = random.Random(7)
        topic = ["无人机航拍", "低空飞行", "飞行计划报备", "无人机备案", "航拍许可", "空域申请"]
        rids = [self.submit_as("dispatcher", text(rng, topic)) for _ in range(12)]
        for rid in rids:  # first sent to the wrong department
            self.dispatch(rid, "urban")
        probe = self.submit_as("dispatcher", "我们公司想用无人机航拍厂区，低空飞行要到哪里报备？")
        r = self.c["dispatcher"].post("/api/v1/suggestions/retrain")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.suggest(probe)["departments"][0]["id"], self.dept["urban"])
        for rid in rids:  # returned as misrouted, and dispatched again: the correction
            r = self.c["leader"].post("%s/%d/actions/return" % (REQ, rid),
                                      {"internal_note": "不属于本单位职责"})
            self.assertEqual(r.status, 200, r)
        # returned requests teach nothing: the examples shrink by 12 after a retrain
        before = self.c["dispatcher"].get("/api/v1/suggestions/model").json
        self.c["dispatcher"].post("/api/v1/suggestions/retrain")
        after = self.c["dispatcher"].get("/api/v1/suggestions/model").json
        self.assertEqual(after["department"]["examples"], before["department"]["examples"] - 12)
        waiting = self.suggest(probe)["departments"]
        self.assertNotEqual(waiting[0]["id"], self.dept["transport"])
        for rid in rids:
            self.dispatch(rid, "transport")
        # the cached model (built while they waited for the correction) does not know yet
        self.assertEqual(self.suggest(probe)["departments"], waiting)
        self.c["dispatcher"].post("/api/v1/suggestions/retrain")
        deps = self.suggest(probe)["departments"]
        self.assertEqual(deps[0]["id"], self.dept["transport"], deps)
        self.assertNotIn(self.dept["urban"], [d["id"] for d in deps[:1]])
        # an inactive department is never suggested
        admin = self.c["admin"]
        r = admin.patch("/api/v1/departments/%d" % self.dept["transport"], {"active": False})
        self.assertEqual(r.status, 200, r)
        try:
            deps = self.suggest(probe)["departments"]
            self.assertNotIn(self.dept["transport"], [d["id"] for d in deps])
        finally:
            r = admin.patch("/api/v1/departments/%d" % self.dept["transport"], {"active": True})
            self.assertEqual(r.status, 200, r)

    # ---- duplicates ----

    def test_duplicates_of_the_same_enterprise(self):
        a = self.submit_as("enterprise", "厂区门口路灯坏了三个月，晚上员工下班很不安全，请尽快修理。")
        b = self.submit_as("enterprise", "申请调增数电发票开票额度，一直没有结果。")
        v = self.submit_as("enterprise", "厂区门口路灯坏了三个月，晚上员工下班很不安全，请尽快修理。")
        r = self.c["dispatcher"].post("%s/%d/actions/void" % (REQ, v), {"internal_note": "重复"})
        self.assertEqual(r.status, 200, r)
        c = self.submit_as("enterprise", "厂区门口的路灯坏了三个月了，晚上员工下班很不安全，请尽快维修！")
        dups = self.suggest(c)["duplicates"]
        ids = [d["id"] for d in dups]
        self.assertIn(a, ids)
        self.assertNotIn(b, ids)   # unrelated text
        self.assertNotIn(v, ids)   # voided
        self.assertNotIn(c, ids)   # itself
        d = dups[ids.index(a)]
        self.assertEqual(d["reason"], "same_enterprise")
        self.assertGreater(d["score"], 0.5)
        self.assertLess(d["score"], 1.0)
        self.assertIsNone(d["distance_m"])
        self.assertEqual(d["state"], "received")
        self.assertTrue(d["number"] and d["title"])
        scores = [x["score"] for x in dups]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertLessEqual(len(dups), 5)
        # another enterprise's identical request without a location is no candidate
        firm_b = self.srv.sql("SELECT id FROM enterprises WHERE id <> ? ORDER BY id LIMIT 1",
                              (self.firm,))[0][0]
        other = self.submit_as("dispatcher", "厂区门口路灯坏了三个月，晚上员工下班很不安全，请尽快修理。",
                               enterprise_id=firm_b)
        self.assertNotIn(a, [x["id"] for x in self.suggest(other)["duplicates"]])

    def test_duplicates_nearby(self):
        lat, lon = 34.7246, 113.6401
        content = "路口东侧井盖缺失，车辆和行人经过很危险，请尽快补装。"
        here = self.submit_as("dispatcher", content, lat=lat, lon=lon)
        near = self.submit_as("dispatcher", "路口东侧的井盖缺失了，车辆行人经过很危险，请尽快补装！",
                              lat=lat + 0.00135, lon=lon)  # ~150 m north
        far = self.submit_as("dispatcher", content, lat=lat + 0.009, lon=lon)  # ~1 km
        dups = self.suggest(near)["duplicates"]
        ids = [d["id"] for d in dups]
        self.assertIn(here, ids)
        self.assertNotIn(far, ids)
        d = dups[ids.index(here)]
        self.assertEqual(d["reason"], "nearby")
        self.assertGreater(d["distance_m"], 140)
        self.assertLess(d["distance_m"], 160)
        self.assertNotIn(here, [x["id"] for x in self.suggest(far)["duplicates"]])
        # east-west, at this latitude 300 m is ~0.0033°: 0.0030° in, 0.0036° out
        east_in = self.submit_as("dispatcher", content, lat=lat, lon=lon + 0.0030)
        east_out = self.submit_as("dispatcher", content, lat=lat, lon=lon + 0.0036)
        ids = [x["id"] for x in self.suggest(here)["duplicates"]]
        self.assertIn(east_in, ids)
        self.assertNotIn(east_out, ids)

    def test_old_closed_requests_are_no_candidates(self):
        now = time.time() * 1000
        old = self.srv.sql("SELECT id, content FROM requests WHERE enterprise_id = ? AND "
                           "state = 'closed' AND received_at < ? ORDER BY id LIMIT 1",
                           (self.firm, now - 31 * 86400000))
        live = self.srv.sql("SELECT id, content FROM requests WHERE enterprise_id = ? AND "
                            "state NOT IN ('closed', 'merged', 'voided') ORDER BY id LIMIT 1",
                            (self.firm,))
        if not old or not live:
            self.skipTest("the demo firm has no old closed or no open request")
        s = self.suggest(self.submit_as("enterprise", old[0][1]))
        self.assertNotIn(old[0][0], [d["id"] for d in s["duplicates"]])
        s = self.suggest(self.submit_as("enterprise", live[0][1]))
        dups = {d["id"]: d for d in s["duplicates"]}
        self.assertIn(live[0][0], dups)
        self.assertEqual(dups[live[0][0]]["score"], 1.0)

    # ---- who may ----

    def test_permissions(self):
        rid = self.trained[0]
        before = self.srv.counts()
        for who in ROLES:
            allowed = who in ("dispatcher", "admin")
            with self.subTest(who=who):
                for method, path in (("GET", "%s/%d/suggestions" % (REQ, rid)),
                                     ("GET", "/api/v1/suggestions/model"),
                                     ("POST", "/api/v1/suggestions/retrain")):
                    r = self.c[who].request(method, path)
                    if allowed:
                        self.assertEqual(r.status, 200, (method, path, r))
                    else:
                        self.assertEqual(r.status, 403, (method, path, r))
                        self.assertIn("request.dispatch", r.error["message"])
        self.assertEqual(before, self.srv.counts())
        r = self.c["dispatcher"].get("%s/999999/suggestions" % REQ)
        self.assertEqual(r.status, 404, r)


if __name__ == "__main__":
    unittest.main()
