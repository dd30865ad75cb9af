"""Enterprise requests (诉求) end to end through HTTP: submitting (the enterprise
for itself only), the dispatcher's queue, signing and replying in the
department, rating, the timeline (internal notes never reach the enterprise),
scopes (404 outside them), extension and return decisions by the department
head, refusals that name the field and change nothing, the actions offered to
every role (checked against a model of the policy written here), every view
of the list with keyset paging, the category catalogue and time limits.

Deadlines are checked against a working-day calendar written here from
shared/reference/standards.md, independently of the server's.
"""
import datetime as dt
import unittest

import test_permissions as tp
from harness import ROLES, Server

REQ = "/api/v1/requests"
SH = dt.timezone(dt.timedelta(hours=8))
DAY_MS = 86400000

# ---- the calendar of standards.md ----

OFF = {
    2025: [("01-01", "01-01"), ("01-28", "02-04"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("05-31", "06-02"), ("10-01", "10-08")],
    2026: [("01-01", "01-03"), ("02-15", "02-23"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("06-19", "06-21"), ("09-25", "09-27"), ("10-01", "10-07")],
}
MAKEUP = {2025: ["01-26", "02-08", "04-27", "09-28", "10-11"],
          2026: ["01-04", "02-14", "02-28", "05-09", "09-20", "10-10"]}
PERIODS = [(9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30)]  # the default working hours


def workday(d):
    md = d.strftime("%m-%d")
    if md in MAKEUP.get(d.year, []):
        return True
    for a, b in OFF.get(d.year, []):
        if a <= md <= b:
            return False
    return d.weekday() < 5


def local_date(ms):
    return dt.datetime.fromtimestamp(ms / 1000, SH).date()


def end_of(d):
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=SH).timestamp() * 1000) + DAY_MS - 1


def add_workdays(ms, n):
    """The end of the n-th working day after the (Shanghai) date of ms."""
    d = local_date(ms)
    while n:
        d += dt.timedelta(days=1)
        if workday(d):
            n -= 1
    return end_of(d)


def paused_workdays(a_ms, b_ms):
    """Working days whose working periods intersect [a, b)."""
    k, d = 0, local_date(a_ms)
    while d <= local_date(b_ms):
        start = int(dt.datetime(d.year, d.month, d.day, tzinfo=SH).timestamp() * 1000)
        lo, hi = max(a_ms - start, 0), min(b_ms - start, DAY_MS)
        if workday(d) and any(min(hi, e * 60000) > max(lo, s * 60000) for s, e in PERIODS):
            k += 1
        d += dt.timedelta(days=1)
    return k


def now_ms():
    return int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)


# ---- the policy, as the design states it ----

OPEN = {"dispatched", "signed", "in_progress"}
ACTIONS = [  # (action, states it may be taken in, permission), in the server's order
    ("dispatch", {"received", "returned"}, "request.dispatch"),
    ("sign", {"dispatched"}, "request.handle"),
    ("start", {"signed"}, "request.handle"),
    ("reply", {"signed", "in_progress"}, "request.handle"),
    ("return_apply", OPEN, "request.handle"),
    ("return_decide", OPEN, "request.approve"),
    ("return", OPEN, "request.approve"),
    ("extend_apply", {"signed", "in_progress", "paused"}, "request.handle"),
    ("extend_decide", {"signed", "in_progress", "paused"}, "request.approve"),
    ("pause", {"signed", "in_progress"}, "request.handle"),
    ("resume", {"paused"}, "request.handle"),
    ("supervise", OPEN | {"received", "paused", "replied", "returned"}, "request.supervise"),
    ("rate", {"replied"}, "request.rate"),
    ("close", {"replied"}, "request.dispatch"),
    ("reopen", {"replied", "closed"}, "request.rate"),
    ("merge", {"received", "returned", "dispatched"}, "request.dispatch"),
    ("void", {"received", "returned"}, "request.dispatch"),
    ("note", OPEN | {"received", "paused", "replied", "returned", "closed", "merged", "voided"},
     "request.read"),
]


CODE = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "conflict",
        422: "unprocessable"}


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


class Requests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        srv = cls.srv
        cls.dept = dict(srv.sql("SELECT code, id FROM departments"))
        cls.path = dict(srv.sql("SELECT id, path FROM departments"))
        cls.c = {name: srv.login(name) for name in ROLES}
        admin = cls.c["admin"]
        # a second firm with its own account
        cls.firm = srv.sql("SELECT enterprise_id FROM users WHERE login = 'enterprise'")[0][0]
        cls.firm_b = srv.sql("SELECT id FROM enterprises WHERE id <> ? AND status = 'active' "
                             "ORDER BY id LIMIT 1", (cls.firm,))[0][0]
        r = admin.post("/api/v1/users", {"login": "firm.b", "display_name": "乙公司",
                                         "password": "Firm#Two2026", "roles": ["enterprise"],
                                         "enterprise_id": cls.firm_b})
        assert r.status == 201, r
        cls.c["firm.b"] = srv.login("firm.b", password="Firm#Two2026")
        # a handler of another department
        cls.taxman = srv.sql("SELECT u.login FROM users u JOIN departments d ON d.id = "
                             "u.department_id WHERE d.code = 'tax' AND u.login LIKE 'official%' "
                             "ORDER BY u.id LIMIT 1")[0][0]
        cls.c["taxman"] = srv.login(cls.taxman)
        cls.c["desk.utility"] = srv.login("desk.utility")
        cls.users = {row[0]: {"id": row[1], "dept": row[2], "ent": row[3]} for row in srv.sql(
            "SELECT login, id, department_id, enterprise_id FROM users")}
        cls.users["taxman"] = cls.users[cls.taxman]
        cls.cats = {c["code"]: c for c in cls.c["enterprise"].get(
            "/api/v1/request-categories").json["items"]}

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def submit(self, who="enterprise", **body):
        b = {"type": "help", "content": "办理营业执照经营范围变更时系统报错，请帮助处理。"}
        b.update(body)
        r = self.c[who].post(REQ, b)
        self.assertEqual(r.status, 201, r)
        return r.json

    def act(self, who, rid, action, status=200, **body):
        r = self.c[who].post("%s/%d/actions/%s" % (REQ, rid, action), body)
        self.assertEqual(r.status, status, "%s %s by %s: %r" % (action, rid, who, r))
        return r.json

    def get(self, who, rid):
        return self.c[who].get("%s/%d" % (REQ, rid))

    def dispatched(self, who="enterprise", dept="amr-reg", **body):
        q = self.submit(who, **body)
        return self.act("dispatcher", q["id"], "dispatch", department_id=self.dept[dept])

    def signed(self, **kw):
        q = self.dispatched(**kw)
        return self.act("handler", q["id"], "sign")

    def listing(self, who, query="", limit=7):
        out, after = [], 0
        for _ in range(500):
            r = self.c[who].get("%s?limit=%d&after=%s%s" % (REQ, limit, after, query))
            self.assertEqual(r.status, 200, r)
            out += r.json["items"]
            if r.json["next"] is None:
                self.assertLessEqual(len(r.json["items"]), limit)
                return out
            self.assertEqual(len(r.json["items"]), limit)
            after = r.json["next"]
        self.fail("paging did not end")

    # ---- the loop ----

    def test_loop_end_to_end(self):
        ent, disp, handler = self.c["enterprise"], self.c["dispatcher"], self.c["handler"]
        q = self.submit(channel="hall", title="经营范围变更", contact_phone="13800138000")
        rid = q["id"]
        self.assertEqual(q["state"], "received")
        self.assertEqual(q["channel"], "online")  # the enterprise submits online
        self.assertEqual(q["enterprise_id"], self.firm)
        self.assertEqual(q["title"], "经营范围变更")
        self.assertEqual(q["actions"], ["note"])
        self.assertNotIn("contact_phone", q)
        self.assertRegex(q["number"], r"^\d{8}-\d{6}$")
        # the dispatcher's queue
        ids = [x["id"] for x in self.listing("dispatcher", "&view=to_dispatch")]
        self.assertIn(rid, ids)
        d = self.get("dispatcher", rid).json
        self.assertEqual(d["actions"], ["dispatch", "supervise", "merge", "void", "note"])
        self.assertEqual(d["contact_phone"], "13800138000")
        self.assertEqual(d["applications"], [])
        cat = self.cats["lic.biz"]
        q = self.act("dispatcher", rid, "dispatch", department_id=self.dept["amr-reg"],
                     category_id=cat["id"], version=d["version"])
        self.assertEqual(q["state"], "dispatched")
        self.assertEqual(q["department_name"], "登记注册科")
        self.assertEqual(q["category_name"], "营业执照")
        dl = q["deadlines"]
        self.assertTrue(dl["handle"]["local"].endswith("T23:59:59.999+08:00"), dl)
        # help in 营业执照: no policy of its own or its parent's, 5 working days by default
        self.assertEqual(dl["handle"]["at"], add_workdays(q["times"]["dispatched_at"], 5))
        self.assertEqual(dl["sign"]["state"], "on_time")
        self.assertGreater(dl["sign"]["at"], q["times"]["dispatched_at"])
        self.assertIsNone(dl["visit"])
        # the department signs and replies
        self.assertIn(rid, [x["id"] for x in self.listing("handler", "&view=to_sign")])
        h = self.get("handler", rid).json
        self.assertEqual(h["actions"], ["sign", "return_apply", "note"])
        q = self.act("handler", rid, "sign", version=h["version"])
        self.assertEqual(q["state"], "signed")
        self.assertEqual(q["handler_name"], "张承办")
        self.assertEqual(q["actions"], ["start", "reply", "return_apply", "extend_apply",
                                        "pause", "note"])
        # a stale page cannot act
        r = handler.post("%s/%d/actions/start" % (REQ, rid), {"version": h["version"]})
        assert_error(self, r, 409, "conflict", "version")
        self.act("handler", rid, "start")
        q = self.act("handler", rid, "reply", public_note="请按规范表述目录选择经营范围。",
                     internal_note="内部：已电话沟通，企业法人较急")
        self.assertEqual(q["state"], "replied")
        self.assertIsNotNone(q["deadlines"]["visit"])
        # what the enterprise sees
        e = self.get("enterprise", rid).json
        self.assertEqual(e["state"], "replied")
        self.assertEqual(e["actions"], ["rate", "reopen", "note"])
        self.assertNotIn("applications", e)
        self.assertNotIn("contact_phone", e)
        self.assertIn(rid, [x["id"] for x in self.listing("enterprise", "&view=to_rate")])
        # the timeline: staff see the internal note, the enterprise never does
        r = ent.get("%s/%d/timeline" % (REQ, rid))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("内部：已电话沟通", r.raw)
        self.assertEqual([x["action"] for x in r.json["items"]],
                         ["submit", "dispatch", "sign", "start", "reply"])
        for ev in r.json["items"]:
            self.assertNotIn("internal_note", ev)
            self.assertNotIn("data", ev)
        staff = disp.get("%s/%d/timeline" % (REQ, rid)).json["items"]
        self.assertEqual(staff[-1]["internal_note"], "内部：已电话沟通，企业法人较急")
        self.assertEqual(staff[-1]["public_note"], "请按规范表述目录选择经营范围。")
        self.assertEqual(staff[1]["data"]["department_id"], self.dept["amr-reg"])
        # a note for staff only stays out of the enterprise's timeline
        self.act("handler", rid, "note", internal_note="内部备注二")
        self.assertEqual(len(ent.get("%s/%d/timeline" % (REQ, rid)).json["items"]), 5)
        self.assertEqual(len(disp.get("%s/%d/timeline" % (REQ, rid)).json["items"]), 6)
        # the enterprise rates: closed
        r = ent.post("%s/%d/actions/rate" % (REQ, rid), {"rating": "satisfied"})
        assert_error(self, r, 400, "bad_request", "solved")
        q = self.act("enterprise", rid, "rate", rating="satisfied", solved=True,
                     public_note="很快就解决了")
        self.assertEqual(q["state"], "closed")
        self.assertEqual(q["rating"], "satisfied")
        self.assertTrue(q["rating_solved"])
        self.assertTrue(q["closed_on_time"])
        self.assertEqual(q["actions"], ["note"])  # satisfied: no reopening
        self.assertIn(rid, [x["id"] for x in self.listing("enterprise", "&view=closed")])
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM request_events WHERE request_id = ?",
                                      (rid,))[0][0], 7)
        v = self.c["admin"].get("/api/v1/audit/verify")
        self.assertEqual(v.status, 200, v)
        self.assertTrue(v.json.get("ok"), v)

    def test_urgency_shortens_the_sign_limit(self):
        """Urgent and critical requests get at most 120 / 30 working minutes to be signed."""
        seen = {}
        for urgency in ("normal", "urgent", "critical"):
            q = self.dispatched(urgency=urgency)
            ev = [e for e in self.c["dispatcher"].get("%s/%d/timeline" % (REQ, q["id"])).json["items"]
                  if e["action"] == "dispatch"][-1]
            seen[urgency] = ev["data"]["limits"]["sign_minutes"]
        self.assertEqual(seen["urgent"], min(120, seen["normal"]))
        self.assertEqual(seen["critical"], min(30, seen["normal"]))
        self.assertLess(seen["critical"], seen["urgent"])

    def test_reopen_after_unsatisfied(self):
        q = self.signed()
        rid = q["id"]
        self.act("handler", rid, "reply", public_note="已答复")
        self.act("enterprise", rid, "rate", rating="unsatisfied", solved=False)
        e = self.get("enterprise", rid).json
        self.assertEqual(e["actions"], ["reopen", "note"])
        r = self.c["enterprise"].post("%s/%d/actions/reopen" % (REQ, rid), {})
        assert_error(self, r, 400, "bad_request", "public_note")
        q = self.act("enterprise", rid, "reopen", public_note="问题仍未解决")
        self.assertEqual(q["state"], "in_progress")
        self.assertEqual(q["reopen_count"], 1)
        self.assertEqual(q["rating"], "")
        self.assertEqual(q["deadlines"]["handle"]["at"],
                         add_workdays(q["updated_at"], 5))

    # ---- submitting ----

    def test_submit_rules(self):
        before = self.srv.counts()
        r = self.c["enterprise"].post(REQ, {"type": "help", "content": "x",
                                            "enterprise_id": self.firm_b})
        assert_error(self, r, 403, "forbidden", "enterprise_id")
        bad = [
            ({"type": "help"}, 400, "content"),
            ({"content": "x"}, 400, "type"),
            ({"type": "help", "content": "诉" * 4001}, 422, "content"),
            ({"type": "help", "content": "   "}, 422, "content"),
            ({"type": "praise", "content": "x"}, 422, "type"),
            ({"type": "help", "content": "x", "colour": "red"}, 400, "colour"),
            ({"type": "help", "content": "x", "title": "题" * 101}, 422, "title"),
            ({"type": "help", "content": "x", "urgency": "asap"}, 422, "urgency"),
            ({"type": "help", "content": "x", "contact_phone": "call me"}, 422, "contact_phone"),
            ({"type": "help", "content": "x", "lat": 91, "lon": 113}, 422, "lat"),
            ({"type": "help", "content": "x", "lat": "34.7", "lon": 113}, 400, "lat"),
            ({"type": "help", "content": "x", "category_id": 999999}, 422, "category_id"),
            ({"type": "help", "content": 5}, 400, "content"),
            ({"type": "help", "content": "响铃\x07字符"}, 422, "content"),
            ({"type": "help", "content": "x", "title": "退格\x08"}, 422, "title"),
        ]
        for body, status, field in bad:
            with self.subTest(body=str(body)[:60]):
                r = self.c["enterprise"].post(REQ, body)
                assert_error(self, r, status, CODE[status], field)
        r = self.c["enterprise"].post(REQ, raw=b"{not json", headers={
            "Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        # staff: the channel says how it came; online is the enterprise's own
        r = self.c["dispatcher"].post(REQ, {"type": "help", "content": "x", "channel": "online"})
        assert_error(self, r, 422, "unprocessable", "channel")
        r = self.c["dispatcher"].post(REQ, {"type": "help", "content": "x",
                                            "enterprise_id": 999999})
        assert_error(self, r, 422, "unprocessable", "enterprise_id")
        self.assertEqual(before, self.srv.counts())
        q = self.submit("dispatcher", enterprise_id=self.firm_b, contact_name="王经理")
        self.assertEqual(q["channel"], "hall")
        self.assertEqual(q["enterprise_id"], self.firm_b)
        q = self.submit("dispatcher", channel="hotline")
        self.assertEqual(q["channel"], "hotline")
        self.assertEqual(self.submit("supervisor")["channel"], "observer")
        # tabs and line breaks are text, not control characters
        q = self.submit(content="第一行\n第二行\t（附表）\r\n")
        self.assertEqual(self.get("enterprise", q["id"]).json["content"], "第一行\n第二行\t（附表）\r\n")
        # a title of 100 wide characters and 4000 characters of content survive whole
        q = self.submit(title="题" * 100, content="诉" * 4000)
        r = self.get("enterprise", q["id"])
        self.assertEqual(r.json["title"], "题" * 100)
        self.assertEqual(r.json["content"], "诉" * 4000)
        # who may not submit
        for login in ("bank", "mediator", "inspector", "handler"):
            r = self.c[login].post(REQ, {"type": "help", "content": "x"})
            self.assertEqual(r.status, 403, (login, r))

    def test_action_refusals_change_nothing(self):
        q = self.dispatched()
        rid = q["id"]
        before = self.srv.counts()
        r = self.c["handler"].post("%s/%d/actions/fly" % (REQ, rid), {})
        assert_error(self, r, 404, "not_found", "action")
        r = self.c["handler"].post("%s/%d/actions/auto_close" % (REQ, rid), {})
        assert_error(self, r, 404, "not_found", "action")
        r = self.c["handler"].post("%s/999999/actions/sign" % REQ, {})
        assert_error(self, r, 404, "not_found", "id")
        r = self.c["handler"].post("%s/%d/actions/sign" % (REQ, rid), {"colour": 1})
        assert_error(self, r, 400, "bad_request", "colour")
        r = self.c["handler"].post("%s/%d/actions/start" % (REQ, rid), {})
        assert_error(self, r, 409, "conflict", "state")
        r = self.c["handler"].post("%s/%d/actions/reply" % (REQ, rid), {})
        assert_error(self, r, 409, "conflict", "state")
        r = self.c["dispatcher"].post("%s/%d/actions/merge" % (REQ, rid), {"master_id": rid})
        assert_error(self, r, 422, "unprocessable", "master_id")
        r = self.c["handler"].post("%s/%d/actions/sign" % (REQ, rid), {"days": "two"})
        assert_error(self, r, 400, "bad_request", "days")
        # the enterprise is no staff: 403 for staff actions, 403 for internal notes
        for action in ("dispatch", "sign", "return", "supervise", "close", "void"):
            r = self.c["enterprise"].post("%s/%d/actions/%s" % (REQ, rid, action), {})
            assert_error(self, r, 403, "forbidden")
        r = self.c["enterprise"].post("%s/%d/actions/note" % (REQ, rid),
                                      {"internal_note": "x"})
        assert_error(self, r, 403, "forbidden", "internal_note")
        self.assertEqual(before, self.srv.counts())

    # ---- scopes ----

    def test_scopes(self):
        q = self.dispatched()
        rid = q["id"]
        missing = self.c["firm.b"].get("%s/999999" % REQ)
        self.assertEqual(missing.status, 404)
        for who in ("firm.b", "taxman", "observer", "desk.utility"):
            with self.subTest(who=who):
                r = self.get(who, rid)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.error, missing.error)
                self.assertEqual(self.c[who].get("%s/%d/timeline" % (REQ, rid)).status, 404)
                self.assertNotIn(rid, [x["id"] for x in self.listing(who)])
        before = self.srv.counts()
        r = self.c["taxman"].post("%s/%d/actions/sign" % (REQ, rid), {})
        assert_error(self, r, 404, "not_found", "id")
        r = self.c["firm.b"].post("%s/%d/actions/note" % (REQ, rid), {"public_note": "x"})
        assert_error(self, r, 404, "not_found", "id")
        self.assertEqual(before, self.srv.counts())
        # the head of 市场监督管理局 sees 登记注册科's requests
        self.assertEqual(self.get("depthead", rid).status, 200)
        self.assertIn(rid, [x["id"] for x in self.listing("depthead", "&view=open")])
        # no request.read at all
        for who in ("bank", "mediator"):
            self.assertEqual(self.get(who, rid).status, 403)
            self.assertEqual(self.c[who].get(REQ).status, 403)

    # ---- decisions of the department head ----

    def test_extension_decided_by_the_head(self):
        q = self.signed()
        rid = q["id"]
        due = q["deadlines"]["handle"]["at"]
        q = self.act("handler", rid, "extend_apply", days=3, internal_note="需现场核查")
        self.assertEqual(q["deadlines"]["handle"]["at"], due)
        self.assertNotIn("extend_apply", q["actions"])
        h = self.get("depthead", rid).json
        self.assertIn("extend_decide", h["actions"])
        [app] = h["applications"]
        self.assertEqual((app["kind"], app["status"], app["days"], app["reason"]),
                         ("extension", "pending", 3, "需现场核查"))
        self.assertEqual(app["applicant_name"], "张承办")
        self.assertIn(rid, [x["id"] for x in self.listing("depthead", "&view=pending_decision")])
        self.assertNotIn("applications", self.get("enterprise", rid).json)
        # the handler cannot decide; the head can
        r = self.c["handler"].post("%s/%d/actions/extend_decide" % (REQ, rid), {"approve": True})
        assert_error(self, r, 403, "forbidden")
        r = self.c["depthead"].post("%s/%d/actions/extend_decide" % (REQ, rid), {})
        assert_error(self, r, 400, "bad_request", "approve")
        q = self.act("depthead", rid, "extend_decide", approve=True, internal_note="同意")
        self.assertEqual(q["deadlines"]["handle"]["at"], add_workdays(due, 3))
        self.assertEqual(q["extended_days"], 3)
        self.assertEqual(q["applications"][0]["status"], "approved")
        self.assertNotIn(rid, [x["id"] for x in self.listing("depthead",
                                                              "&view=pending_decision")])
        # refused: the deadline stays
        due = q["deadlines"]["handle"]["at"]
        self.act("handler", rid, "extend_apply", days=2, internal_note="再延两天")
        q = self.act("depthead", rid, "extend_decide", approve=False)
        self.assertEqual(q["deadlines"]["handle"]["at"], due)
        self.assertEqual(q["extended_days"], 3)
        # pausing gives back the working days touched
        q = self.act("handler", rid, "pause", public_note="请补充材料")
        self.assertEqual(q["state"], "paused")
        self.assertEqual(q["actions"], ["extend_apply", "resume", "note"])
        q = self.act("handler", rid, "resume")
        self.assertEqual(q["state"], "signed")
        t = q["times"]
        self.assertIsNone(t["paused_at"])
        k = self.srv.sql("SELECT at FROM request_events WHERE request_id = ? AND action IN "
                         "('pause', 'resume') ORDER BY id", (rid,))
        self.assertEqual(q["deadlines"]["handle"]["at"],
                         add_workdays(due, paused_workdays(k[0][0], k[1][0]))
                         if paused_workdays(k[0][0], k[1][0]) else due)

    def test_extension_after_the_deadline_is_refused(self):
        rows = self.srv.sql(
            "SELECT r.id FROM requests r JOIN departments d ON d.id = r.department_id "
            "WHERE d.code = 'amr-reg' AND r.state IN ('signed', 'in_progress') "
            "AND r.handle_due_at < ? AND NOT EXISTS (SELECT 1 FROM request_applications a "
            "WHERE a.request_id = r.id AND a.status = 'pending')", (now_ms(),))
        self.assertTrue(rows, "the demo has an overdue request in 登记注册科")
        rid = rows[0][0]
        q = self.get("handler", rid).json
        self.assertEqual(q["deadlines"]["handle"]["state"], "overdue")
        self.assertNotIn("extend_apply", q["actions"])
        self.assertIn(rid, [x["id"] for x in self.listing("handler", "&view=overdue")])
        before = self.srv.counts()
        r = self.c["handler"].post("%s/%d/actions/extend_apply" % (REQ, rid),
                                   {"days": 2, "internal_note": "来不及了"})
        assert_error(self, r, 422, "unprocessable", "days")
        self.assertEqual(before, self.srv.counts())

    def test_return_decided_by_the_head(self):
        q = self.signed()
        rid = q["id"]
        r = self.c["handler"].post("%s/%d/actions/return_apply" % (REQ, rid), {})
        assert_error(self, r, 400, "bad_request", "internal_note")
        self.act("handler", rid, "return_apply", internal_note="属税务局职责")
        self.assertEqual(self.get("depthead", rid).json["actions"],
                         ["start", "reply", "return_decide", "return", "extend_apply", "pause",
                          "note"])
        q = self.act("depthead", rid, "return_decide", approve=False, internal_note="属本科")
        self.assertEqual(q["state"], "signed")
        self.act("handler", rid, "return_apply", internal_note="确属税务局职责")
        q = self.act("depthead", rid, "return_decide", approve=True)
        self.assertEqual(q["state"], "returned")
        self.assertIsNone(q["department_id"])
        self.assertEqual(self.get("handler", rid).status, 404)
        self.assertIn(rid, [x["id"] for x in self.listing("dispatcher", "&view=to_dispatch")])
        q = self.act("dispatcher", rid, "dispatch", department_id=self.dept["tax"])
        self.assertEqual(self.get("taxman", rid).status, 200)
        self.assertEqual([a["status"] for a in q["applications"]], ["refused", "approved"])

    # ---- the actions offered to each role ----

    def expected_actions(self, login, req, pending):
        grants = tp.GRANTS[tp.ROLE_OF.get(login, "enterprise" if login == "firm.b" else
                                          "handler")]
        u = self.users[login]

        def sees(scope):
            if scope == "all":
                return True
            dept = req["department_id"]
            if scope == "dept_tree":
                return bool(dept) and self.path[dept].startswith(self.path[u["dept"]])
            if scope == "dept":
                return bool(dept) and dept == u["dept"]
            if scope == "self":
                return req["created_by"] == u["id"] or bool(
                    req["enterprise_id"] and req["enterprise_id"] == u["ent"])
            if scope == "grid":  # the worker's grid and every grid below it
                paths = dict(self.srv.sql("SELECT id, path FROM grids"))
                mine = self.srv.sql("SELECT grid_id FROM users WHERE id = ?", (u["id"],))[0][0]
                return bool(mine and req["grid_id"]) and paths[req["grid_id"]].startswith(
                    paths[mine])
            return False

        out = []
        kind = {"extend": "extension", "return": "return"}
        for name, states, perm in ACTIONS:
            if req["state"] not in states or perm not in grants or not sees(grants[perm]):
                continue
            if name.endswith("_decide") and kind[name.split("_")[0]] not in pending:
                continue
            if name.endswith("_apply") and kind[name.split("_")[0]] in pending:
                continue
            if name == "extend_apply":
                due = req["handle_due_at"]
                if req["state"] == "paused" and req["paused_at"]:
                    k = paused_workdays(req["paused_at"], now_ms())
                    due = add_workdays(due, k) if k else due
                if not due or now_ms() > due:
                    continue
            if name == "reopen" and req["state"] == "closed" and req["rating"] != "unsatisfied":
                continue
            out.append(name)
        return out

    def test_actions_offered_to_every_role(self):
        # a few of our own next to the demo's: every state is there
        a = self.signed()["id"]
        self.act("handler", a, "extend_apply", days=2, internal_note="延期")
        b = self.dispatched()["id"]
        self.act("handler", b, "return_apply", internal_note="退单")
        c = self.signed()["id"]
        self.act("handler", c, "reply", public_note="答复")
        self.act("enterprise", c, "rate", rating="unsatisfied", solved=False)
        d = self.submit()["id"]
        self.act("dispatcher", d, "void", internal_note="测试")
        e = self.submit("firm.b")["id"]
        self.act("dispatcher", e, "merge", master_id=a)
        self.submit("observer")
        rows = self.srv.sql(
            "SELECT id, state, department_id, created_by, enterprise_id, handle_due_at, "
            "paused_at, rating, grid_id FROM requests ORDER BY id")
        cols = ["id", "state", "department_id", "created_by", "enterprise_id", "handle_due_at",
                "paused_at", "rating", "grid_id"]
        reqs = [dict(zip(cols, row)) for row in rows]
        states = {r["state"] for r in reqs}
        self.assertEqual(states, {"received", "dispatched", "signed", "in_progress", "paused",
                                  "replied", "returned", "closed", "merged", "voided"})
        pending = {}
        for rid, kind in self.srv.sql("SELECT request_id, kind FROM request_applications "
                                      "WHERE status = 'pending'"):
            pending.setdefault(rid, set()).add(kind)
        logins = ROLES + ["firm.b", "taxman", "desk.utility"]
        checked = 0
        for login in logins:
            grants = tp.GRANTS[tp.ROLE_OF.get(login, "enterprise" if login == "firm.b" else
                                              "handler")]
            for req in reqs:
                with self.subTest(login=login, id=req["id"], state=req["state"]):
                    r = self.get(login, req["id"])
                    if "request.read" not in grants:
                        self.assertEqual(r.status, 403, r)
                        continue
                    want = self.expected_actions(login, req, pending.get(req["id"], set()))
                    if "note" not in want:  # note: any state, for whoever may read it
                        self.assertEqual(r.status, 404, r)
                        continue
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json["actions"], want)
                    checked += 1
        self.assertGreater(checked, 300)

    # ---- lists ----

    def test_views(self):
        now0 = now_ms()
        rows = self.srv.sql(
            "SELECT id, state, department_id, created_by, enterprise_id, sign_due_at, "
            "handle_due_at, visit_due_at FROM requests")
        now1 = now_ms()
        pend = {r[0] for r in self.srv.sql("SELECT request_id FROM request_applications "
                                           "WHERE status = 'pending'")}

        def late_key(r):
            _, st, _, _, _, sign, handle, visit = r
            if st == "dispatched":
                return min(d for d in (sign, handle) if d > 0)
            return visit if st == "replied" else handle

        def overdue(r, now):
            _, st, _, _, _, sign, handle, visit = r
            return ((st in OPEN and 0 < handle < now) or (st == "dispatched" and 0 < sign < now)
                    or (st == "replied" and 0 < visit < now))

        views = {
            "all": lambda r: True,
            "to_dispatch": lambda r: r[1] in ("received", "returned"),
            "to_sign": lambda r: r[1] == "dispatched",
            "open": lambda r: r[1] in OPEN | {"paused"},
            "to_rate": lambda r: r[1] == "replied",
            "closed": lambda r: r[1] == "closed",
            "pending_decision": lambda r: r[0] in pend,
        }
        scopes = {
            "dispatcher": lambda r: True,
            "handler": lambda r: r[2] == self.dept["amr-reg"],
            "depthead": lambda r: r[2] is not None and self.path[r[2]].startswith(
                self.path[self.dept["amr"]]),
            "enterprise": lambda r: r[4] == self.firm or r[3] == self.users["enterprise"]["id"],
        }
        for who, sc in scopes.items():
            for view, keep in views.items():
                with self.subTest(who=who, view=view):
                    got = [x["id"] for x in self.listing(who, "&view=" + view, limit=9)]
                    self.assertEqual(len(got), len(set(got)))
                    self.assertEqual(got, sorted(got, reverse=True))
                    self.assertEqual(set(got), {r[0] for r in rows if sc(r) and keep(r)})
            with self.subTest(who=who, view="overdue"):
                items = self.listing(who, "&view=overdue")
                got = {x["id"] for x in items}
                self.assertEqual(len(got), len(items))
                self.assertTrue({r[0] for r in rows if sc(r) and overdue(r, now0)} <= got)
                self.assertTrue(got <= {r[0] for r in rows if sc(r) and overdue(r, now1 + 5000)})
                # longest overdue first: by the deadline that ran out first, then id
                by_id = {r[0]: r for r in rows}
                keys = [(late_key(by_id[x["id"]]), x["id"]) for x in items]
                self.assertEqual(keys, sorted(keys))
        # the demo has overdue ones
        self.assertTrue(self.listing("dispatcher", "&view=overdue"))
        # due soon: exactly the open, running ones whose reply deadline is near, soonest
        # deadline first (then the clock's start, then id), in pages of one as in one
        clock = dict(self.srv.sql("SELECT id, clock_from FROM requests"))
        openl = self.listing("dispatcher", "&view=open", limit=200)
        want = sorted((x["deadlines"]["handle"]["at"], clock[x["id"]], x["id"]) for x in openl
                      if x["state"] != "paused" and x["deadlines"]["handle"]["state"] == "due_soon")
        for limit in (1, 200):
            soon = self.listing("dispatcher", "&view=due_soon", limit=limit)
            self.assertEqual([x["id"] for x in soon], [w[2] for w in want])
        for x in openl:
            if x["state"] != "paused":
                self.assertIn(x["deadlines"]["handle"]["state"],
                              ("on_time", "due_soon", "overdue"))
        # filters
        reg = self.dept["amr-reg"]
        got = self.listing("dispatcher", "&department_id=%d" % reg)
        self.assertEqual({x["id"] for x in got}, {r[0] for r in rows if r[2] == reg})
        for st in ("closed", "paused"):
            got = self.listing("dispatcher", "&state=" + st)
            self.assertTrue(got)
            self.assertEqual({x["state"] for x in got}, {st})
        types = self.srv.sql("SELECT req_type, COUNT(*) FROM requests GROUP BY 1 ORDER BY 2 DESC")
        self.assertGreaterEqual(len(types), 2)
        for t, n in types:
            got = self.listing("dispatcher", "&type=" + t)
            self.assertEqual(len(got), n)
            self.assertEqual({x["type"] for x in got}, {t})
        got = self.listing("dispatcher", "&type=" + types[0][0])
        one = got[-1]
        got = self.listing("dispatcher", "&q=" + one["number"])
        self.assertEqual([x["id"] for x in got], [one["id"]])
        got = self.listing("dispatcher", "&enterprise_id=%d" % self.firm)
        self.assertEqual({x["enterprise_id"] for x in got}, {self.firm})
        self.assertNotIn("content", got[0])
        # refusals
        for q, field in (("view=everything", "view"), ("state=lost", "state"),
                         ("type=praise", "type"), ("limit=0", "limit"), ("limit=201", "limit"),
                         ("after=x", "after"), ("channel=fax", "channel"),
                         ("view=overdue&after=12", "after"),
                         ("view=overdue&after=d.1.x", "after"),
                         ("view=overdue&after=d.1.2.3", "after"),
                         ("view=overdue&after=d.-1.2", "after"),
                         ("view=due_soon&after=d.1.2", "after"),
                         ("view=due_soon&after=s.1.2", "after")):
            r = self.c["dispatcher"].get(REQ + "?" + q)
            assert_error(self, r, 400, "bad_request", field)

    def test_keyset_paging_is_stable(self):
        first = self.listing("dispatcher", limit=5)
        # new requests arrive meanwhile: the pages after a cursor do not change
        cursor = first[4]["id"]
        page = self.c["dispatcher"].get("%s?limit=5&after=%d" % (REQ, cursor)).json
        self.submit()
        again = self.c["dispatcher"].get("%s?limit=5&after=%d" % (REQ, cursor)).json
        self.assertEqual([x["id"] for x in page["items"]], [x["id"] for x in again["items"]])
        self.assertTrue(all(x["id"] < cursor for x in page["items"]))

    # ---- the catalogue and time limits ----

    def test_categories(self):
        items = list(self.cats.values())
        self.assertGreaterEqual(len(items), 25)
        by_id = {c["id"]: c for c in items}
        names = {c["name"] for c in items}
        for n in ("证照办理", "营业执照", "食品经营许可", "税费服务", "用工社保", "水电气暖",
                  "工程建设", "城市管理", "融资需求", "政策咨询", "投诉举报"):
            self.assertIn(n, names)
        for c in items:
            self.assertTrue(c["path"].endswith("/%d/" % c["id"]), c)
            if c["parent_id"]:
                self.assertTrue(c["path"].startswith(by_id[c["parent_id"]]["path"]), c)
        self.assertEqual(self.cats["lic.biz"]["parent_id"], self.cats["lic"]["id"])
        self.assertEqual(self.cats["lic.food"]["department_name"], "食品安全科")
        self.assertEqual(self.cats["util"]["department_id"], self.dept["utility"])
        admin = self.c["admin"]
        r = admin.post("/api/v1/request-categories",
                       {"code": "lic.seal", "name": "印章刻制", "parent_id": self.cats["lic"]["id"],
                        "department_id": self.dept["police"]})
        self.assertEqual(r.status, 201, r)
        new = r.json
        self.assertEqual(new["path"], self.cats["lic"]["path"] + "%d/" % new["id"])
        self.assertEqual(new["department_name"], "公安分局")
        before = self.srv.counts()
        for body, status, field in (
                ({"code": "lic.seal", "name": "重复"}, 409, "code"),
                ({"code": "bad code", "name": "x"}, 422, "code"),
                ({"code": "ok"}, 400, "name"),
                ({"code": "ok2", "name": "x", "parent_id": 999999}, 422, "parent_id"),
                ({"code": "ok3", "name": "x", "department_id": 999999}, 422, "department_id"),
                ({"code": "ok4", "name": "x", "colour": 1}, 400, "colour")):
            r = admin.post("/api/v1/request-categories", body)
            self.assertEqual((r.status, r.error.get("field")), (status, field), r)
        r = admin.patch("/api/v1/request-categories/%d" % new["id"],
                        {"parent_id": self.cats["tax"]["id"]})
        assert_error(self, r, 422, "unprocessable", "parent_id")
        r = self.c["dispatcher"].post("/api/v1/request-categories", {"code": "x", "name": "x"})
        assert_error(self, r, 403, "forbidden")
        self.assertEqual(before, self.srv.counts())
        r = admin.patch("/api/v1/request-categories/%d" % new["id"],
                        {"name": "印章刻制备案", "active": False})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["name"], r.json["active"]), ("印章刻制备案", False))
        r = self.c["enterprise"].post(REQ, {"type": "help", "content": "x",
                                            "category_id": new["id"]})
        assert_error(self, r, 422, "unprocessable", "category_id")
        r = admin.patch("/api/v1/request-categories/999999", {"name": "x"})
        self.assertEqual(r.status, 404, r)

    def test_time_limits(self):
        r = self.c["enterprise"].get("/api/v1/time-limits")
        self.assertEqual(r.status, 200, r)
        defaults = {d["type"]: d for d in r.json["defaults"]}
        self.assertEqual(defaults["complaint"]["handle_days"], 15)
        self.assertEqual(defaults["help"]["handle_days"], 5)
        pol = {(p["category_id"], p["type"]): p for p in r.json["items"]}
        self.assertEqual(pol[(None, "complaint")]["handle_days"], 15)
        self.assertEqual(pol[(self.cats["util"]["id"], "help")]["sign_minutes"], 120)
        admin = self.c["admin"]
        cat = self.cats["sti"]["id"]
        before = self.srv.counts()
        for body, field in (({"category_id": cat, "type": "help", "sign_minutes": 10,
                              "handle_days": 2, "visit_days": 2}, "sign_minutes"),
                            ({"category_id": cat, "type": "praise", "sign_minutes": 60,
                              "handle_days": 2, "visit_days": 2}, "type"),
                            ({"category_id": cat, "sign_minutes": 60, "handle_days": 0,
                              "visit_days": 2}, "handle_days"),
                            ({"category_id": 999999, "sign_minutes": 60, "handle_days": 2,
                              "visit_days": 2}, "category_id")):
            r = admin.put("/api/v1/time-limits", body)
            assert_error(self, r, 422, "unprocessable", field)
        r = admin.put("/api/v1/time-limits", {"category_id": cat, "type": "help"})
        assert_error(self, r, 400, "bad_request", "sign_minutes")
        r = self.c["dispatcher"].put("/api/v1/time-limits", {"category_id": cat, "type": "help",
                                                             "sign_minutes": 60,
                                                             "handle_days": 1,
                                                             "visit_days": 1})
        assert_error(self, r, 403, "forbidden")
        self.assertEqual(before, self.srv.counts())
        r = admin.put("/api/v1/time-limits", {"category_id": cat, "type": "help",
                                              "sign_minutes": 60, "handle_days": 1,
                                              "visit_days": 1})
        self.assertEqual(r.status, 200, r)
        self.assertIn((cat, "help"), {(p["category_id"], p["type"]) for p in r.json["items"]})
        # the next dispatch in that category follows it: the next working day
        q = self.submit()
        q = self.act("dispatcher", q["id"], "dispatch", department_id=self.dept["sti"],
                     category_id=cat)
        self.assertEqual(q["deadlines"]["handle"]["at"],
                         add_workdays(q["times"]["dispatched_at"], 1))
        staff = self.c["dispatcher"].get("%s/%d/timeline" % (REQ, q["id"])).json["items"]
        self.assertEqual(staff[-1]["data"]["limits"],
                         {"sign_minutes": 60, "handle_days": 1, "source": "category+type"})
        r = admin.put("/api/v1/time-limits", {"category_id": cat, "type": "help", "remove": True})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn((cat, "help"), {(p["category_id"], p["type"])
                                         for p in r.json["items"]})


if __name__ == "__main__":
    unittest.main()
