"""Service teams, the blind-spot report and the key-enterprise ledger through the
API: lead uniqueness, refusals naming the field, who may do what (enterprise
user, handler with scope self, department head with dept_tree, administrator),
the blind-spot report listing exactly the enterprises that lack a team, the
ledger's state machine, overdue counts, and the .xlsx export opened as a zip."""
import http.client
import io
import re
import unittest
import zipfile

import gb32100
from harness import Server

ENT = "/api/v1/enterprises"
LEDGER = "/api/v1/ledger"
REPORT = "/api/v1/reports/blind-spots"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


def fetch_bytes(client, path):
    """GET path with client's credentials; (status, headers dict lower-cased, body bytes)."""
    h = {}
    if client.cookie:
        h["Cookie"] = client.cookie
    if client.bearer:
        h["Authorization"] = "Bearer " + client.bearer
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
    try:
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Base(unittest.TestCase):
    enterprises = 8
    code_base = 700000

    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start(enterprises=cls.enterprises)
        cls.uid = dict(cls.srv.sql("SELECT login, id FROM users"))
        cls.c = {name: cls.srv.login(name) for name in (
            "admin", "leader", "dispatcher", "handler", "depthead", "inspector", "gridworker",
            "supervisor", "enterprise")}
        cls.admin = cls.c["admin"]
        cls.n = cls.code_base

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def new_ent(self, is_key=False, status="active"):
        type(self).n += 1
        body = {"credit_code": gb32100.make(type(self).n), "name": "测试企业%d有限公司" % type(self).n,
                "is_key": is_key, "status": status}
        r = self.admin.post(ENT, body)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def audit_count(self):
        return self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0]

    def last_audit(self):
        return self.srv.sql("SELECT entity, entity_id, action, actor_login, request_id, summary "
                            "FROM audit_log ORDER BY tenant_id, seq DESC LIMIT 1")[0]

    def assert_audited(self, r, entity, entity_id, action, before, actor="admin"):
        self.assertEqual(self.audit_count(), before + 1, r)
        row = self.last_audit()
        self.assertEqual(row[:4], (entity, entity_id, action, actor))
        self.assertEqual(row[4], r.header("X-Request-Id"))
        return row[5]

    def new_user(self, login, roles, dept_code, disabled=False):
        dept = self.srv.sql("SELECT id FROM departments WHERE code = ?", (dept_code,))[0][0]
        r = self.admin.post("/api/v1/users", {"login": login, "display_name": login,
                                              "password": "Strong#Pass2026", "roles": roles,
                                              "department_id": dept})
        self.assertEqual(r.status, 201, r)
        if disabled:
            r = self.admin.patch("/api/v1/users/%d" % r.json["id"], {"status": "disabled"})
            self.assertEqual(r.status, 200, r)
        return r.json["id"]


class Teams(Base):
    code_base = 700000

    def team_url(self, ent):
        return "%s/%d/team" % (ENT, ent)

    def assign(self, ent, login, role="member", client=None):
        return (client or self.admin).post(self.team_url(ent),
                                           {"user_id": self.uid[login], "role": role})

    def test_assign_and_one_lead(self):
        ent = self.new_ent(is_key=True)
        before = self.audit_count()
        r = self.assign(ent, "handler")
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json["changed"])
        self.assertIsNone(r.json["demoted_user_id"])
        self.assert_audited(r, "service_team", ent, "assign", before)
        self.assertEqual(self.assign(ent, "inspector", "lead").status, 201)

        # a new lead demotes the old one, in the same write
        before = self.audit_count()
        r = self.assign(ent, "depthead", "lead")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["demoted_user_id"], self.uid["inspector"])
        summary = self.assert_audited(r, "service_team", ent, "assign", before)
        self.assertIn('"demoted_lead":%d' % self.uid["inspector"], summary)
        roles = {m["login"]: m["role"] for m in r.json["items"]}
        self.assertEqual(roles, {"depthead": "lead", "inspector": "member", "handler": "member"})
        self.assertEqual(r.json["items"][0]["login"], "depthead", "lead first")

        # promoting a member: 200, the previous lead demoted
        r = self.assign(ent, "handler", "lead")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["demoted_user_id"], self.uid["depthead"])
        got = self.admin.get(self.team_url(ent))
        self.assertEqual(got.status, 200, got)
        self.assertEqual([m["login"] for m in got.json["items"] if m["role"] == "lead"],
                         ["handler"])
        self.assertEqual(got.json["enterprise_id"], ent)
        self.assertEqual(self.srv.sql(
            "SELECT COUNT(*) FROM service_team_members WHERE enterprise_id = ? AND role = 'lead'",
            (ent,))[0][0], 1)

        # the same role again writes nothing
        before = self.srv.counts()
        r = self.assign(ent, "handler", "lead")
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["changed"])
        self.assertEqual(before, self.srv.counts())

        # role defaults to member
        r = self.admin.post(self.team_url(ent), {"user_id": self.uid["leader"]})
        self.assertEqual(r.status, 201, r)
        self.assertIn(("leader", "member"), {(m["login"], m["role"]) for m in r.json["items"]})

    def test_assign_refusals_name_the_field(self):
        ent = self.new_ent()
        gone = self.new_ent(status="deregistered")
        off = self.new_user("team.off", ["handler"], "amr-reg", disabled=True)
        url = self.team_url(ent)
        before = self.srv.counts()
        cases = [
            ({}, 400, "bad_request", "user_id"),
            ({"user_id": "12"}, 400, "bad_request", "user_id"),
            ({"user_id": 0}, 422, "unprocessable", "user_id"),
            ({"user_id": self.uid["handler"], "role": "boss"}, 422, "unprocessable", "role"),
            ({"user_id": self.uid["handler"], "role": 1}, 400, "bad_request", "role"),
            ({"user_id": self.uid["handler"], "extra": 1}, 400, "bad_request", "extra"),
            ({"user_id": 999999}, 422, "unprocessable", "user_id"),
            ({"user_id": self.uid["enterprise"]}, 422, "unprocessable", "user_id"),
            ({"user_id": off}, 422, "unprocessable", "user_id"),
        ]
        for body, status, code, field in cases:
            with self.subTest(body=body):
                assert_error(self, self.admin.post(url, body), status, code, field)
        assert_error(self, self.admin.post(self.team_url(999999), {"user_id": self.uid["handler"]}),
                     404, "not_found", "id")
        assert_error(self, self.admin.post(self.team_url(gone), {"user_id": self.uid["handler"]}),
                     422, "unprocessable", "enterprise_id")
        assert_error(self, self.admin.post("%s/abc/team" % ENT, {"user_id": 1}), 404,
                     "not_found", "id")
        self.assertEqual(before, self.srv.counts())

    def test_remove(self):
        ent = self.new_ent()
        self.assertEqual(self.assign(ent, "handler", "lead").status, 201)
        url = "%s/%d" % (self.team_url(ent), self.uid["handler"])
        before = self.audit_count()
        r = self.admin.delete(url)
        self.assertEqual(r.status, 204, r)
        self.assert_audited(r, "service_team", ent, "remove", before)
        self.assertEqual(self.admin.get(self.team_url(ent)).json["items"], [])
        assert_error(self, self.admin.delete(url), 404, "not_found", "user_id")
        assert_error(self, self.admin.delete("%s/x" % self.team_url(ent)), 404, "not_found",
                     "user_id")

    def test_who_may_read_and_change_teams(self):
        ent = self.new_ent()
        own = self.srv.sql("SELECT enterprise_id FROM users WHERE login = 'enterprise'")[0][0]
        self.assertTrue(own)
        before = self.srv.counts()
        for login in ("leader", "dispatcher", "handler", "depthead", "enterprise", "gridworker"):
            with self.subTest(role=login):
                c = self.c[login]
                r = c.post(self.team_url(ent), {"user_id": self.uid["handler"]})
                assert_error(self, r, 403, "forbidden")
                r = c.delete("%s/%d" % (self.team_url(ent), self.uid["handler"]))
                assert_error(self, r, 403, "forbidden")
        self.assertEqual(before, self.srv.counts())
        # reading: staff with enterprise.read see every team
        for login in ("leader", "dispatcher", "handler", "depthead", "supervisor"):
            self.assertEqual(self.c[login].get(self.team_url(ent)).status, 200, login)
        # an enterprise user sees its own enterprise's team, and no other (404, not 403)
        self.assertIn(self.assign(own, "handler", "lead").status, (200, 201))
        r = self.c["enterprise"].get(self.team_url(own))
        self.assertEqual(r.status, 200, r)
        self.assertIn(self.uid["handler"], [m["user_id"] for m in r.json["items"]])
        assert_error(self, self.c["enterprise"].get(self.team_url(ent)), 404, "not_found", "id")
        # a grid worker only within the grid (the new enterprise has none)
        assert_error(self, self.c["gridworker"].get(self.team_url(ent)), 404, "not_found", "id")

    def test_portfolio(self):
        worker = self.new_user("team.port", ["handler"], "amr-reg")
        ents = [self.new_ent(is_key=(i == 0)) for i in range(3)]
        for i, ent in enumerate(ents):
            r = self.admin.post(self.team_url(ent),
                                {"user_id": worker, "role": "lead" if i == 1 else "member"})
            self.assertEqual(r.status, 201, r)
        url = "/api/v1/users/%d/enterprises" % worker
        r = self.admin.get(url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["enterprise_id"] for x in r.json["items"]], ents)
        self.assertEqual(r.json["counts"], {"total": 3, "active": 3, "as_lead": 1, "key": 1})
        self.assertEqual([x["role"] for x in r.json["items"]], ["member", "lead", "member"])
        # keyset paging
        seen, after = [], 0
        while True:
            r = self.admin.get(url + "?limit=2&after=%d" % after)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["counts"]["total"], 3)
            seen += [x["enterprise_id"] for x in r.json["items"]]
            if r.json["next"] is None:
                break
            after = r.json["next"]
        self.assertEqual(seen, ents)
        # visibility of the official follows user.read (or oneself)
        self.assertEqual(self.c["depthead"].get(url).status, 200)     # dept_tree: amr-reg is below amr
        self.assertEqual(self.c["handler"].get(url).status, 200)      # dept: same department
        assert_error(self, self.c["inspector"].get(url), 404, "not_found", "id")  # amr-food
        assert_error(self, self.c["supervisor"].get(url), 404, "not_found", "id")  # no user.read
        r = self.c["supervisor"].get("/api/v1/users/%d/enterprises" % self.uid["supervisor"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["counts"]["total"], 0)
        assert_error(self, self.admin.get("/api/v1/users/999999/enterprises"), 404, "not_found")
        # an enterprise user has no user.read: only its own (empty) portfolio
        assert_error(self, self.c["enterprise"].get(url), 404, "not_found", "id")


class BlindSpots(Base):
    """A fresh district with a tiny market, so the report can be checked row by row."""
    enterprises = 6
    code_base = 800000

    def section(self, client, code, limit=3):
        """Every row of one section, paging through it; (total, [ids])."""
        ids, after, total = [], 0, None
        for _ in range(100):
            r = client.get("%s?section=%s&limit=%d&after=%d" % (REPORT, code, limit, after))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.json["sections"]), 1)
            s = r.json["sections"][0]
            self.assertEqual(s["code"], code)
            total = s["total"] if total is None else total
            self.assertEqual(s["total"], total, "the total does not depend on the page")
            ids += [x["id"] for x in s["items"]]
            if s["next"] is None:
                return total, ids
            after = s["next"]
        self.fail("paging did not end")

    def expected_no_team(self):
        return sorted(r[0] for r in self.srv.sql(
            "SELECT e.id FROM enterprises e WHERE e.status = 'active' AND NOT EXISTS "
            "(SELECT 1 FROM service_team_members m JOIN users u ON u.id = m.user_id "
            "WHERE m.enterprise_id = e.id AND u.status = 'active')"))

    def clear_demo_teams(self):
        """The demo gives some enterprises a team; start from none, through the API."""
        for ent, user in self.srv.sql("SELECT enterprise_id, user_id FROM service_team_members"):
            r = self.admin.delete("%s/%d/team/%d" % (ENT, ent, user))
            self.assertEqual(r.status, 204, r)

    def test_report(self):
        self.clear_demo_teams()
        active = sorted(r[0] for r in self.srv.sql(
            "SELECT id FROM enterprises WHERE status = 'active'"))
        self.assertTrue(active)
        # at first no enterprise has a team
        total, ids = self.section(self.admin, "no_team")
        self.assertEqual(ids, active)
        self.assertEqual(total, len(active))

        a, b = self.new_ent(), self.new_ent()
        k1, k2 = self.new_ent(is_key=True), self.new_ent(is_key=True)
        gone = self.new_ent(is_key=True, status="deregistered")
        busy = self.new_user("bs.busy", ["handler"], "amr-reg")
        quitter = self.new_user("bs.quit", ["handler"], "amr-reg")

        # serve every active enterprise but a and k2; k1 gets a member, no lead
        for ent in active:
            self.assertEqual(self.admin.post("%s/%d/team" % (ENT, ent),
                                             {"user_id": busy}).status, 201)
        for ent, role in ((b, "member"), (k1, "member")):
            self.assertEqual(self.admin.post("%s/%d/team" % (ENT, ent),
                                             {"user_id": busy, "role": role}).status, 201)
        # a team of one disabled official is no team
        self.assertEqual(self.admin.post("%s/%d/team" % (ENT, a),
                                         {"user_id": quitter, "role": "lead"}).status, 201)
        self.assertEqual(self.admin.patch("/api/v1/users/%d" % quitter,
                                          {"status": "disabled"}).status, 200)

        # the report lists exactly the enterprises that lack a team
        total, ids = self.section(self.admin, "no_team", limit=1)
        self.assertEqual(ids, sorted([a, k2]))
        self.assertEqual(ids, self.expected_no_team())
        self.assertEqual(total, 2)
        self.assertNotIn(gone, ids)

        key_no_lead = sorted(r[0] for r in self.srv.sql(
            "SELECT e.id FROM enterprises e WHERE e.status = 'active' AND e.is_key = 1 AND NOT "
            "EXISTS (SELECT 1 FROM service_team_members m JOIN users u ON u.id = m.user_id "
            "WHERE m.enterprise_id = e.id AND m.role = 'lead' AND u.status = 'active')"))
        total, ids = self.section(self.admin, "key_no_lead")
        self.assertEqual(ids, key_no_lead)
        self.assertIn(k1, ids)
        self.assertIn(k2, ids)

        # the whole report in one call; the dispatcher and the leader see the same
        full = self.admin.get(REPORT + "?limit=1000")
        self.assertEqual(full.status, 200, full)
        self.assertEqual([s["code"] for s in full.json["sections"]],
                         ["no_team", "key_no_lead", "overloaded", "overdue_visit",
                          "grid_no_worker", "unanswered"])
        self.assertEqual(full.json["sections"][2]["setting"],
                         {"key": "team.max_enterprises_per_official", "value": 30})
        self.assertEqual(full.json["sections"][2]["total"], 0)
        for login in ("dispatcher", "leader"):
            r = self.c[login].get(REPORT + "?limit=1000")
            self.assertEqual(r.json, full.json, login)
        row = full.json["sections"][0]["items"][0]
        self.assertEqual(set(row), {"id", "name", "credit_code", "is_key", "grid_id"})

        # overloaded officials: the maximum is a tenant setting
        served = len(active) + 2
        r = self.admin.put("/api/v1/settings", {"team.max_enterprises_per_official": served - 1})
        self.assertEqual(r.status, 200, r)
        r = self.admin.get(REPORT + "?section=overloaded")
        s = r.json["sections"][0]
        self.assertEqual(s["total"], 1)
        self.assertEqual(s["items"][0]["id"], busy)
        self.assertEqual(s["items"][0]["enterprises"], served)
        self.assertEqual(s["items"][0]["login"], "bs.busy")
        self.assertEqual(s["items"][0]["department_name"], "登记注册科")
        self.assertEqual(self.admin.put("/api/v1/settings",
                                        {"team.max_enterprises_per_official": served}).status, 200)
        self.assertEqual(self.admin.get(REPORT + "?section=overloaded").json["sections"][0]["total"],
                         0)
        assert_error(self, self.admin.put("/api/v1/settings",
                                          {"team.max_enterprises_per_official": 0}),
                     422, "unprocessable", "team.max_enterprises_per_official")

        # assigning closes the gap
        self.assertEqual(self.admin.post("%s/%d/team" % (ENT, k2),
                                         {"user_id": busy, "role": "lead"}).status, 201)
        self.assertEqual(self.section(self.admin, "no_team")[1], [a])

    def test_refusals_and_permissions(self):
        assert_error(self, self.admin.get(REPORT + "?section=nope"), 400, "bad_request", "section")
        assert_error(self, self.admin.get(REPORT + "?after=5"), 400, "bad_request", "after")
        assert_error(self, self.admin.get(REPORT + "?limit=0"), 400, "bad_request", "limit")
        assert_error(self, self.admin.get(REPORT + "?limit=1001"), 400, "bad_request", "limit")
        for login in ("handler", "depthead", "supervisor", "enterprise"):
            assert_error(self, self.c[login].get(REPORT), 403, "forbidden")
        # a grid worker sees its grid's part (tests/api/test_visits.py checks the rows)
        self.assertEqual(self.c["gridworker"].get(REPORT).status, 200)


class Ledger(Base):
    code_base = 900000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.k1 = cls.make_ent(True)
        cls.k2 = cls.make_ent(True)
        cls.plain = cls.make_ent(False)

    @classmethod
    def make_ent(cls, is_key):
        cls.n += 1
        r = cls.admin.post(ENT, {"credit_code": gb32100.make(cls.n), "is_key": is_key,
                                 "name": "台账测试企业%d有限公司" % cls.n})
        assert r.status == 201, r
        return r.json["id"]

    def body(self, **kw):
        b = {"enterprise_id": self.k1, "title": "用电增容审批慢", "description": "需协调供电公司",
             "responsible_user_id": self.uid["handler"], "deadline": "2099-06-30"}
        b.update(kw)
        return {k: v for k, v in b.items() if v is not None}

    def create(self, client=None, **kw):
        r = (client or self.admin).post(LEDGER, self.body(**kw))
        self.assertEqual(r.status, 201, r)
        return r.json

    def progress(self, item, status=None, client=None, note="已现场办理"):
        body = {"note": note}
        if status:
            body["status"] = status
        return (client or self.admin).post("%s/%d/progress" % (LEDGER, item["id"]), body)

    def all_ids(self, client, query=""):
        ids, after = [], 0
        while True:
            r = client.get("%s?limit=3&after=%d%s" % (LEDGER, after, query))
            self.assertEqual(r.status, 200, r)
            ids += [x["id"] for x in r.json["items"]]
            if r.json["next"] is None:
                return ids
            after = r.json["next"]

    # ---- create ----

    def test_create(self):
        before = self.audit_count()
        r = self.admin.post(LEDGER, self.body())
        self.assertEqual(r.status, 201, r)
        it = r.json
        self.assert_audited(r, "ledger_item", it["id"], "create", before)
        self.assertEqual(it["status"], "open")
        self.assertEqual(it["deadline_on"], "2099-06-30")
        self.assertEqual(it["deadline_at"], 4086518399999)  # 2099-06-30T23:59:59.999+08:00
        self.assertFalse(it["overdue"])
        self.assertEqual(it["responsible_name"], "张承办")
        self.assertEqual(it["responsible_department_name"], "登记注册科")
        self.assertEqual(it["created_by"], self.uid["admin"])
        self.assertIsNone(it["resolved_at"])
        self.assertEqual(self.admin.get("%s/%d" % (LEDGER, it["id"])).json, it)
        # leap day and month ends
        for day, at in (("2028-02-29", 1835452799999), ("2027-12-31", 1830268799999)):
            self.assertEqual(self.create(deadline=day)["deadline_at"], at, day)

    def test_create_refusals_name_the_field(self):
        before = self.srv.counts()
        cases = [
            (dict(title=None), 400, "bad_request", "title"),
            (dict(title=""), 422, "unprocessable", "title"),
            (dict(title="   "), 422, "unprocessable", "title"),
            (dict(title="问" * 101), 422, "unprocessable", "title"),
            (dict(description="x" * 2001), 422, "unprocessable", "description"),
            (dict(deadline=None), 400, "bad_request", "deadline"),
            (dict(deadline=20260101), 400, "bad_request", "deadline"),
            (dict(deadline="2026-02-29"), 422, "unprocessable", "deadline"),
            (dict(deadline="2026-04-31"), 422, "unprocessable", "deadline"),
            (dict(deadline="2026/01/01"), 422, "unprocessable", "deadline"),
            (dict(deadline="2026-1-1"), 422, "unprocessable", "deadline"),
            (dict(enterprise_id=None), 400, "bad_request", "enterprise_id"),
            (dict(enterprise_id=self.plain), 422, "unprocessable", "enterprise_id"),
            (dict(enterprise_id=999999), 422, "unprocessable", "enterprise_id"),
            (dict(responsible_user_id=None), 400, "bad_request", "responsible_user_id"),
            (dict(responsible_user_id=self.uid["enterprise"]), 422, "unprocessable",
             "responsible_user_id"),
            (dict(responsible_user_id=999999), 422, "unprocessable", "responsible_user_id"),
            (dict(status="closed"), 400, "bad_request", "status"),
        ]
        for kw, status, code, field in cases:
            with self.subTest(kw=str(kw)[:60]):
                assert_error(self, self.admin.post(LEDGER, self.body(**kw)), status, code, field)
        self.assertEqual(before, self.srv.counts())
        # the edges that are allowed
        self.create(title="问" * 100, description="述" * 2000)

    def test_who_may_create(self):
        before = self.srv.counts()
        # no ledger.write at all
        for login in ("dispatcher", "inspector", "gridworker", "supervisor", "enterprise"):
            assert_error(self, self.c[login].post(LEDGER, self.body()), 403, "forbidden")
        # a handler (self) only for themselves
        assert_error(self, self.c["handler"].post(
            LEDGER, self.body(responsible_user_id=self.uid["depthead"])), 403, "forbidden",
            "responsible_user_id")
        # a department head (dept_tree: amr and below) not for another department
        assert_error(self, self.c["depthead"].post(
            LEDGER, self.body(responsible_user_id=self.uid["dispatcher"])), 403, "forbidden",
            "responsible_user_id")
        self.assertEqual(before, self.srv.counts())
        own = self.create(client=self.c["handler"])
        self.assertEqual(own["created_by"], self.uid["handler"])
        self.create(client=self.c["depthead"], responsible_user_id=self.uid["inspector"])
        self.create(client=self.c["leader"], responsible_user_id=self.uid["dispatcher"])

    # ---- scopes ----

    def test_scopes(self):
        mine = self.create(responsible_user_id=self.uid["handler"])
        food = self.create(responsible_user_id=self.uid["inspector"])
        gsb = self.create(responsible_user_id=self.uid["dispatcher"])
        every = set(self.all_ids(self.admin))
        self.assertTrue({mine["id"], food["id"], gsb["id"]} <= every)
        self.assertEqual(set(self.all_ids(self.c["dispatcher"])), every)
        self.assertEqual(set(self.all_ids(self.c["leader"])), every)

        handler_ids = set(self.all_ids(self.c["handler"]))
        want = {r[0] for r in self.srv.sql(
            "SELECT id FROM ledger_items WHERE responsible_user_id = ?", (self.uid["handler"],))}
        self.assertEqual(handler_ids, want)
        depthead_ids = set(self.all_ids(self.c["depthead"]))
        want = {r[0] for r in self.srv.sql(
            "SELECT li.id FROM ledger_items li JOIN users u ON u.id = li.responsible_user_id "
            "JOIN departments d ON d.id = u.department_id WHERE d.path LIKE "
            "(SELECT d2.path FROM departments d2 WHERE d2.code = 'amr') || '%'")}
        self.assertEqual(depthead_ids, want)
        self.assertIn(food["id"], depthead_ids)
        self.assertNotIn(gsb["id"], depthead_ids)

        # single reads and writes outside the read scope: 404 as if missing
        for login, item in (("handler", food), ("handler", gsb), ("depthead", gsb)):
            c = self.c[login]
            url = "%s/%d" % (LEDGER, item["id"])
            assert_error(self, c.get(url), 404, "not_found", "id")
            assert_error(self, c.get(url + "/progress"), 404, "not_found", "id")
            assert_error(self, c.patch(url, {"title": "x"}), 404, "not_found", "id")
            assert_error(self, self.progress(item, client=c), 404, "not_found", "id")
        # readable by the dispatcher, who may not write
        assert_error(self, self.progress(mine, client=self.c["dispatcher"]), 403, "forbidden")
        for login in ("gridworker", "supervisor", "enterprise", "inspector"):
            assert_error(self, self.c[login].get(LEDGER), 403, "forbidden")

    # ---- progress and the state machine ----

    def test_state_machine(self):
        it = self.create()
        url = "%s/%d" % (LEDGER, it["id"])
        handler = self.c["handler"]
        before = self.srv.counts()
        for status in ("resolved", "closed"):
            assert_error(self, self.progress(it, status, client=handler), 409, "conflict", "status")
        assert_error(self, self.progress(it, "done"), 422, "unprocessable", "status")
        assert_error(self, self.admin.post(url + "/progress", {}), 400, "bad_request", "note")
        assert_error(self, self.admin.post(url + "/progress", {"note": " "}), 422,
                     "unprocessable", "note")
        assert_error(self, self.admin.post(url + "/progress", {"note": "x" * 2001}), 422,
                     "unprocessable", "note")
        assert_error(self, self.admin.patch(url, {"status": "closed"}), 400, "bad_request",
                     "status")
        self.assertEqual(before, self.srv.counts())

        steps = [(None, "open"), ("in_progress", "in_progress"), ("resolved", "resolved"),
                 ("in_progress", "in_progress"), ("resolved", "resolved"), ("closed", "closed")]
        for status, after in steps:
            before = self.audit_count()
            r = self.progress(it, status, client=handler)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["status_after"], after)
            self.assertEqual(r.json["item"]["status"], after)
            self.assertEqual(r.json["user_id"], self.uid["handler"])
            summary = self.assert_audited(r, "ledger_item", it["id"], "progress", before,
                                          actor="handler")
            if status and status != "open":
                self.assertIn('"status":[', summary)
            if after == "resolved":
                self.assertIsNotNone(r.json["item"]["resolved_at"])
            if status == "in_progress":
                self.assertIsNone(r.json["item"]["resolved_at"])
        r = self.admin.get(url + "/progress?limit=200")
        self.assertEqual([p["status_after"] for p in r.json["items"]], [s[1] for s in steps])
        self.assertEqual(r.json["items"][0]["user_name"], "张承办")
        # paging the progress
        r = self.admin.get(url + "/progress?limit=4")
        self.assertEqual(len(r.json["items"]), 4)
        r2 = self.admin.get(url + "/progress?limit=4&after=%d" % r.json["next"])
        self.assertEqual(len(r2.json["items"]), 2)
        self.assertIsNone(r2.json["next"])

        # closed is final
        before = self.srv.counts()
        assert_error(self, self.progress(it, "in_progress"), 409, "conflict", "status")
        assert_error(self, self.progress(it), 409, "conflict", "status")
        assert_error(self, self.admin.patch(url, {"title": "再议"}), 409, "conflict", "status")
        self.assertEqual(before, self.srv.counts())

    def test_patch(self):
        it = self.create()
        url = "%s/%d" % (LEDGER, it["id"])
        handler, head = self.c["handler"], self.c["depthead"]
        # the responsible handler edits the text, not the deadline or the owner
        before = self.audit_count()
        r = handler.patch(url, {"title": "用电增容（已约谈）", "description": ""})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["title"], r.json["description"]), ("用电增容（已约谈）", ""))
        self.assert_audited(r, "ledger_item", it["id"], "update", before, actor="handler")
        before = self.srv.counts()
        assert_error(self, handler.patch(url, {"deadline": "2099-12-31"}), 403, "forbidden",
                     "deadline")
        assert_error(self, handler.patch(url, {"responsible_user_id": self.uid["depthead"]}), 403,
                     "forbidden", "responsible_user_id")
        assert_error(self, head.patch(url, {"deadline": "2026-13-01"}), 422, "unprocessable",
                     "deadline")
        assert_error(self, head.patch(url, {"title": ""}), 422, "unprocessable", "title")
        assert_error(self, head.patch(url, {"responsible_user_id": self.uid["dispatcher"]}), 403,
                     "forbidden", "responsible_user_id")
        assert_error(self, head.patch(url, {"responsible_user_id": self.uid["enterprise"]}), 422,
                     "unprocessable", "responsible_user_id")
        assert_error(self, head.patch(url, {"enterprise_id": self.k2}), 400, "bad_request",
                     "enterprise_id")
        self.assertEqual(before, self.srv.counts())
        # the department head moves the deadline and hands the item over within the tree
        r = head.patch(url, {"deadline": "2099-07-31", "responsible_user_id": self.uid["inspector"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["deadline_at"] - 4086518399999, 31 * 86400000)
        self.assertEqual(r.json["responsible_user_id"], self.uid["inspector"])
        # now the handler no longer sees it
        assert_error(self, handler.get(url), 404, "not_found", "id")
        # nothing to change: no audit row
        before = self.srv.counts()
        self.assertEqual(head.patch(url, {"deadline": "2099-07-31"}).status, 200)
        self.assertEqual(before, self.srv.counts())

    # ---- overdue, summary, export ----

    def test_overdue_summary_and_export(self):
        k = self.make_ent(True)
        late = self.create(enterprise_id=k, deadline="2020-01-31")
        late2 = self.create(enterprise_id=k, deadline="2021-02-28",
                            responsible_user_id=self.uid["inspector"])
        self.assertEqual(self.progress(late2, "in_progress").status, 201)
        done = self.create(enterprise_id=k, deadline="2020-01-31")
        for s in ("in_progress", "resolved"):
            self.assertEqual(self.progress(done, s).status, 201)
        future = self.create(enterprise_id=k, deadline="2099-12-31")
        self.assertTrue(late["overdue"])
        self.assertFalse(future["overdue"])
        self.assertFalse(self.admin.get("%s/%d" % (LEDGER, done["id"])).json["overdue"])

        ids = self.all_ids(self.admin, "&enterprise_id=%d&overdue=1" % k)
        self.assertEqual(ids, [late["id"], late2["id"]])
        ids = self.all_ids(self.admin, "&enterprise_id=%d&status=resolved" % k)
        self.assertEqual(ids, [done["id"]])
        ids = self.all_ids(self.admin, "&responsible_user_id=%d&enterprise_id=%d" % (
            self.uid["inspector"], k))
        self.assertEqual(ids, [late2["id"]])
        for bad, field in (("status=done", "status"), ("overdue=2", "overdue"),
                           ("enterprise_id=x", "enterprise_id"), ("limit=0", "limit")):
            assert_error(self, self.admin.get(LEDGER + "?" + bad), 400, "bad_request", field)

        # summary: computed independently from the list
        r = self.admin.get(LEDGER + "/summary?limit=1000")
        self.assertEqual(r.status, 200, r)
        items = []
        after = 0
        while True:
            page = self.admin.get("%s?limit=200&after=%d" % (LEDGER, after)).json
            items += page["items"]
            if page["next"] is None:
                break
            after = page["next"]
        pending = [x for x in items if x["status"] in ("open", "in_progress")]
        self.assertEqual(r.json["totals"]["open"], len(pending))
        self.assertEqual(r.json["totals"]["overdue"], sum(x["overdue"] for x in pending))
        by_ent = {g["enterprise_id"]: (g["open"], g["overdue"]) for g in r.json["by_enterprise"]}
        self.assertEqual(by_ent[k], (3, 2))
        for ent, (n_open, n_over) in by_ent.items():
            mine = [x for x in pending if x["enterprise_id"] == ent]
            self.assertEqual((len(mine), sum(x["overdue"] for x in mine)), (n_open, n_over))
        by_off = {g["user_id"]: (g["open"], g["overdue"]) for g in r.json["by_official"]}
        for uid, (n_open, n_over) in by_off.items():
            mine = [x for x in pending if x["responsible_user_id"] == uid]
            self.assertEqual((len(mine), sum(x["overdue"] for x in mine)), (n_open, n_over))
        self.assertEqual(sum(v[0] for v in by_off.values()), len(pending))
        overdue_order = [g["overdue"] for g in r.json["by_enterprise"]]
        self.assertEqual(overdue_order, sorted(overdue_order, reverse=True))
        # the handler's summary covers only their own items
        r = self.c["handler"].get(LEDGER + "/summary")
        self.assertEqual([g["user_id"] for g in r.json["by_official"]], [self.uid["handler"]])
        assert_error(self, self.admin.get(LEDGER + "/summary?limit=0"), 400, "bad_request",
                     "limit")

        # export: same filters, one row per item plus the header
        for client, query in ((self.admin, ""), (self.admin, "?enterprise_id=%d&overdue=1" % k),
                              (self.c["handler"], ""), (self.c["depthead"], "?status=open"),
                              (self.admin, "?enterprise_id=999999")):
            with self.subTest(query=query):
                status, headers, data = fetch_bytes(client, LEDGER + "/export.xlsx" + query)
                self.assertEqual(status, 200, data[:300])
                self.assertEqual(headers["content-type"], XLSX)
                self.assertEqual(headers["content-disposition"],
                                 'attachment; filename="ledger.xlsx"')
                listed = self.all_ids(client, "&" + query[1:] if query else "")
                z = zipfile.ZipFile(io.BytesIO(data))
                self.assertIsNone(z.testzip())
                sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
                rows = re.findall(r"<row [^>]*>", sheet)
                self.assertEqual(len(rows), 1 + len(listed))
                text = sheet
                if "xl/sharedStrings.xml" in z.namelist():
                    text += z.read("xl/sharedStrings.xml").decode("utf-8")
                self.assertIn("办结时限", text)
        status, _, data = fetch_bytes(self.admin, LEDGER + "/export.xlsx?status=bogus")
        self.assertEqual(status, 400)
        status, _, _ = fetch_bytes(self.c["enterprise"], LEDGER + "/export.xlsx")
        self.assertEqual(status, 403)

    def test_audit_chain_intact(self):
        self.create()
        r = self.admin.get("/api/v1/audit/verify")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["ok"], r)


if __name__ == "__main__":
    unittest.main()
