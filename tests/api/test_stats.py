"""The live rates through the API: a known set of requests is driven through
the closed loop (with a few deadlines moved into the past while the server is
stopped, then `yiqiban stats rebuild`), and every counter, numerator,
denominator and rate is compared with the hand count; department heads see
only their departments; the weights are settings that must sum to 100.

A second class measures GET /api/v1/stats/rates on 100 000 generated requests
against a GROUP BY over the requests table (printed, not asserted).
"""
import datetime
import math
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import unittest

from harness import Server, run_cli

COUNTERS = ["received", "valid", "dispatched", "responded", "responded_on_time", "replied",
            "replied_on_time", "closed", "closed_on_time", "rated", "solved", "satisfied",
            "basic", "unsatisfied", "unrated", "reopened"]
DAY_MS = 86400000
LONG_AGO = 1100  # days: R20 is moved this far back, beyond the demo's history
TZ = datetime.timezone(datetime.timedelta(hours=8))


def counts(**kw):
    c = {k: 0 for k in COUNTERS}
    c.update(overdue=0)
    c.update(kw)
    c["due"] = c["closed"] + c["overdue"]
    return c


def add(*cs):
    return {k: sum(c[k] for c in cs) for k in cs[0]}


def round4(x):
    """The server's rounding of percentages: 4 decimals, half up, in these float steps."""
    return None if x is None else math.floor(x * 10000.0 + 0.5) / 10000.0


def pct(num, den):
    return None if den == 0 else num / den


def expected_rates(c, weights=(10, 50, 40), basic=90):
    """The definitions of docs/api.md, computed the way the server does (same float steps)."""
    r = {
        "response": (c["responded"], c["dispatched"], pct(100 * c["responded"], c["dispatched"])),
        "response_on_time": (c["responded_on_time"], c["dispatched"],
                             pct(100 * c["responded_on_time"], c["dispatched"])),
        "reply_on_time": (c["replied_on_time"], c["replied"],
                          pct(100 * c["replied_on_time"], c["replied"])),
        "resolution": (c["solved"], c["closed"], pct(100 * c["solved"], c["closed"])),
        "satisfaction": ((100 * c["satisfied"] + basic * c["basic"]) / 100, c["rated"],
                         pct(100 * c["satisfied"] + basic * c["basic"], c["rated"])),
        "on_time_closure": (c["closed_on_time"], c["due"], pct(100 * c["closed_on_time"], c["due"])),
    }
    parts = [r["response"][2], r["resolution"][2], r["satisfaction"][2]]
    comp = None
    if None not in parts:
        comp = (weights[0] * parts[0] + weights[1] * parts[1] + weights[2] * parts[2]) / 100
    return r, comp


def today_local():
    return datetime.datetime.now(TZ).date()


class Rates(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="yqtest-stats-")
        db = os.path.join(cls.dir, "yiqiban.db")
        run_cli("demo", "--db", db, "--enterprises", "50")
        # The demo's own requests move three days back, so today holds only the set below
        # (queries of the set use from=to=today); the counters are rebuilt to match.
        con = sqlite3.connect(db)
        con.execute("UPDATE enterprises SET grid_id = 42 WHERE id = 1")  # the demo firm's grid
        con.execute("UPDATE requests SET received_at = received_at - ?", (3 * DAY_MS,))
        con.commit()
        con.close()
        run_cli("stats", "rebuild", "--db", db)
        cls.srv = Server.start(db=db, tmpdir=cls.dir)
        try:
            cls.drive()
        except BaseException:
            cls.srv.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    @classmethod
    def clients(cls):
        s = cls.srv
        cls.admin, cls.leader, cls.disp = s.login("admin"), s.login("leader"), s.login("dispatcher")
        cls.handler, cls.head = s.login("handler"), s.login("depthead")
        cls.ent, cls.official = s.login("enterprise"), s.login("official03")

    @classmethod
    def act(cls, client, rid, action, body=None):
        r = client.post("/api/v1/requests/%d/actions/%s" % (rid, action), body)
        if r.status != 200:
            raise AssertionError("%s on %d: %r" % (action, rid, r))

    @classmethod
    def submit(cls, client, **body):
        body.setdefault("type", "help")
        body.setdefault("content", "办理食品经营许可证需要哪些材料？")
        r = client.post("/api/v1/requests", body)
        if r.status != 201:
            raise AssertionError("submit: %r" % r)
        return r.json["id"]

    @classmethod
    def drive(cls):
        """The hand-counted set (R1..R20; A = 登记注册科, B = 食品安全科, C = 税务局)."""
        cls.clients()
        dept = dict(cls.srv.sql("SELECT code, id FROM departments"))
        A, B, C = dept["amr-reg"], dept["amr-food"], dept["tax"]
        cls.A, cls.B, cls.C, cls.AMR = A, B, C, dept["amr"]
        cats = []
        for code, name in (("license", "证照办理"), ("food", "食品安全")):
            r = cls.admin.post("/api/v1/request-categories", {"code": code, "name": name})
            assert r.status == 201, r
            cats.append(r.json["id"])
        cls.cats = cats
        act, d = cls.act, cls.disp
        X = cls.X = cats[0]  # every request of the set is in category X
        R = [None]
        for i in range(1, 21):
            if i <= 6:
                R.append(cls.submit(cls.ent, category_id=X))  # online, grid 42
            else:
                R.append(cls.submit(d, category_id=X, channel="hotline" if i == 20 else "hall"))
        cls.R = R

        def dispatch(i, dep):
            act(d, R[i], "dispatch", {"department_id": dep})

        def through(i, who, rating=None, solved=False):
            act(who, R[i], "sign")
            act(who, R[i], "reply", {"public_note": "已办理完毕"})
            if rating:
                act(d, R[i], "rate", {"rating": rating, "solved": solved})

        # A
        for i in range(1, 11):
            dispatch(i, A)
        through(1, cls.handler, "satisfied", True)
        through(2, cls.handler, "satisfied", True)
        through(3, cls.handler, "basic", True)
        through(4, cls.handler, "basic", False)
        through(5, cls.handler, "unsatisfied", False)
        through(6, cls.handler)
        act(d, R[6], "close")
        act(cls.handler, R[7], "sign")
        act(cls.handler, R[7], "start")
        act(cls.handler, R[10], "sign")          # R8 and R9 wait unsigned
        dispatch(19, A)
        # B
        for i in (11, 12):
            dispatch(i, B)
        through(11, cls.head, "satisfied", True)
        through(12, cls.head, "unsatisfied", False)
        act(d, R[12], "reopen", {"public_note": "企业不满意，重新办理"})
        dispatch(13, C)
        act(cls.leader, R[13], "return", {"internal_note": "派错部门"})
        dispatch(13, B)
        through(13, cls.head, "basic", True)
        # C
        dispatch(14, C)
        through(14, cls.official, "satisfied", True)
        dispatch(15, C)
        # not dispatched
        act(d, R[17], "void", {"internal_note": "重复提交"})
        act(d, R[18], "merge", {"master_id": R[16]})
        act(d, R[19], "merge", {"master_id": R[16]})
        # R20: a full loop, moved to last year below
        dispatch(20, A)
        through(20, cls.handler, "satisfied", True)

        cls.check_before = run_cli("stats", "check", "--db", cls.srv.db).stdout

        # Deadlines in the past and a request of last year, written while the server is down;
        # the counters no longer match until they are rebuilt.
        cls.srv.stop(cleanup=False)
        now = int(time.time() * 1000)
        t = today_local()
        end_of_yesterday = int(datetime.datetime(t.year, t.month, t.day, tzinfo=TZ).timestamp()
                               * 1000) - 1
        con = sqlite3.connect(cls.srv.db)
        con.execute("UPDATE requests SET sign_due_at = ?, handle_due_at = ? WHERE id = ?",
                    (now - 3600000, end_of_yesterday, R[9]))
        con.execute("UPDATE requests SET handle_due_at = ? WHERE id = ?", (end_of_yesterday, R[10]))
        con.execute("UPDATE requests SET received_at = received_at - ? WHERE id = ?",
                    (LONG_AGO * DAY_MS, R[20]))
        con.commit()
        con.close()
        cls.check_drift = run_cli("stats", "check", "--db", cls.srv.db, check=False)
        cls.rebuild = run_cli("stats", "rebuild", "--db", cls.srv.db).stdout
        cls.check_after = run_cli("stats", "check", "--db", cls.srv.db, check=False)
        cls.srv.launch()
        cls.clients()
        # R9 signed and answered late, then rated; R10 stays overdue
        act(cls.handler, R[9], "sign")
        act(cls.handler, R[9], "reply", {"public_note": "已办理完毕"})
        act(cls.disp, R[9], "rate", {"rating": "satisfied", "solved": True})

        cls.want = {
            A: counts(received=11, valid=10, dispatched=10, responded=9, responded_on_time=8,
                      replied=7, replied_on_time=6, closed=7, closed_on_time=6, rated=6, solved=4,
                      satisfied=3, basic=2, unsatisfied=1, unrated=1, overdue=1),
            B: counts(received=3, valid=3, dispatched=3, responded=3, responded_on_time=3,
                      replied=2, replied_on_time=2, closed=2, closed_on_time=2, rated=2, solved=2,
                      satisfied=1, basic=1, reopened=1),
            C: counts(received=2, valid=2, dispatched=2, responded=1, responded_on_time=1,
                      replied=1, replied_on_time=1, closed=1, closed_on_time=1, rated=1, solved=1,
                      satisfied=1),
            0: counts(received=3, valid=1),
        }
        cls.last_year = counts(received=1, valid=1, dispatched=1, responded=1,
                               responded_on_time=1, replied=1, replied_on_time=1, closed=1,
                               closed_on_time=1, rated=1, solved=1, satisfied=1)

    # ---- helpers ----

    def get(self, client, path, status=200, mine=True):
        """GET; mine: only the set's requests (received today), not the demo's."""
        if mine and "from=" not in path:
            t = today_local().isoformat()
            path += ("&" if "?" in path else "?") + "from=%s&to=%s" % (t, t)
        r = client.get(path)
        self.assertEqual(r.status, status, r)
        return r.json

    def assert_figures(self, item, want, weights=(10, 50, 40), basic=90, what=""):
        got = dict(item["counts"])
        self.assertEqual(got, want, what)
        rates, comp = expected_rates(want, weights, basic)
        for name, (num, den, p) in rates.items():
            g = item["rates"][name]
            self.assertEqual((g["numerator"], g["denominator"], g["percent"]),
                             (num, den, round4(p)), "%s %s" % (what, name))
        self.assertEqual(item["rates"]["composite"], round4(comp), what)
        res = rates["resolution"][2]
        self.assertEqual(item["meets_target"], res is not None and res >= 98, what)

    # ---- tests ----

    def test_by_department_matches_the_hand_count(self):
        y = today_local().year
        j = self.get(self.leader, "/api/v1/stats/rates?by=department", mine=False)
        self.assertEqual((j["from"], j["to"], j["by"]), ("%d-01-01" % y, "%d-12-31" % y,
                                                         "department"))  # the current year
        j = self.get(self.leader, "/api/v1/stats/rates?by=department")
        self.assertEqual(j["as_of"], today_local().isoformat())
        items = {it["id"] or 0: it for it in j["items"]}
        self.assertEqual(sorted(items), sorted(self.want))
        for dep, want in self.want.items():
            self.assert_figures(items[dep], want, what="department %s" % dep)
        self.assertEqual(items[self.A]["name"], "登记注册科")
        self.assertEqual(items[0]["name"], "未派单")
        self.assert_figures(j["total"], add(*self.want.values()), what="total")
        # the hand count, written out for 登记注册科
        a = items[self.A]["rates"]
        self.assertEqual(a["response"]["percent"], 90.0)            # 9 / 10
        self.assertEqual(a["response_on_time"]["percent"], 80.0)    # 8 / 10
        self.assertEqual(a["resolution"]["percent"], 57.1429)       # 4 / 7
        self.assertEqual(a["satisfaction"]["numerator"], 4.8)       # 3 + 0.9 × 2
        self.assertEqual(a["satisfaction"]["percent"], 80.0)        # 4.8 / 6
        self.assertEqual(a["on_time_closure"]["denominator"], 8)    # 7 closed + 1 overdue
        self.assertEqual(a["on_time_closure"]["percent"], 75.0)     # 6 / 8
        self.assertEqual(a["composite"], 69.5714)                   # 9 + 28.5714.. + 32
        self.assertEqual(j["settings"], {"weights": {"response": 10, "resolution": 50,
                                                     "satisfaction": 40},
                                         "basic_satisfied_percent": 90,
                                         "target_resolution_percent": 98})

    def test_other_dimensions_add_up(self):
        total = add(*self.want.values())
        for by in ("none", "category", "grid", "type", "channel"):
            j = self.get(self.leader, "/api/v1/stats/rates?by=" + by)
            self.assert_figures(j["total"], total, what=by)
            summed = add(*[it["counts"] for it in j["items"]])
            self.assertEqual(summed, total, by)
        cat = self.get(self.leader, "/api/v1/stats/rates?by=category")["items"]
        self.assertEqual([(it["id"], it["name"]) for it in cat], [(self.X, "证照办理")])
        grid = {it["id"]: it for it in self.get(self.leader, "/api/v1/stats/rates?by=grid")["items"]}
        self.assertEqual(grid[42]["counts"]["received"], 6)   # the demo firm's R1-R6
        self.assertEqual(grid[None]["name"], "未划入网格")
        ch = {it["code"]: it for it in self.get(self.leader, "/api/v1/stats/rates?by=channel")["items"]}
        self.assertEqual(sorted(ch), ["hall", "online"])      # R20 (hotline) is last year's
        self.assertEqual(ch["online"]["name"], "网上")
        self.assertEqual(ch["online"]["counts"]["solved"], 3)
        one = self.get(self.leader, "/api/v1/stats/rates?by=none")
        self.assertEqual(len(one["items"]), 1)
        # filters
        j = self.get(self.leader, "/api/v1/stats/rates?by=none&department_id=%d" % self.B)
        self.assert_figures(j["total"], self.want[self.B], what="filter B")
        j = self.get(self.leader, "/api/v1/stats/rates?by=none&type=complaint")
        self.assertEqual(j["total"]["counts"]["received"], 0)
        self.assertIsNone(j["total"]["rates"]["response"]["percent"])
        self.assertIsNone(j["total"]["rates"]["composite"])

    def test_periods(self):
        y = today_local().year
        long_ago = (today_local() - datetime.timedelta(days=LONG_AGO)).isoformat()
        j = self.get(self.leader, "/api/v1/stats/rates?by=department&from=%s&to=%s"
                     % (long_ago, long_ago))
        self.assertEqual([it["id"] for it in j["items"]], [self.A])
        self.assert_figures(j["items"][0], self.last_year)
        self.assert_figures(j["total"], self.last_year)
        # trends: buckets cover the period and add up to the rates of the same period
        year = "from=%d-01-01&to=%d-12-31" % (y, y)
        whole = self.get(self.leader, "/api/v1/stats/rates?by=none&" + year)["total"]["counts"]
        for bucket, n in (("month", (12,)), ("week", (53, 54))):
            j = self.get(self.leader, "/api/v1/stats/trend?bucket=%s&%s" % (bucket, year))
            self.assertEqual(j["bucket"], bucket)
            self.assertIn(len(j["items"]), n)
            self.assertEqual(add(*[it["counts"] for it in j["items"]]), whole, bucket)
        self.assertEqual(j["items"][0]["from"], "%d-01-01" % y)       # weeks clipped to the year
        self.assertEqual(j["items"][-1]["to"], "%d-12-31" % y)
        m = today_local().month
        j = self.get(self.leader, "/api/v1/stats/trend?bucket=month")  # today only
        self.assertEqual([it["label"] for it in j["items"]], ["%d-%02d" % (y, m)])
        self.assert_figures(j["items"][0], add(*self.want.values()))
        t = today_local().isoformat()
        j = self.get(self.leader, "/api/v1/stats/trend?bucket=day")
        self.assertEqual([(it["label"], it["from"], it["to"]) for it in j["items"]], [(t, t, t)])
        # bad input names the field
        for q, status, field in (("bucket=year", 400, "bucket"), ("from=2026-02-30", 400, "from"),
                                 ("to=tomorrow", 400, "to"),
                                 ("from=2026-05-01&to=2026-04-01", 422, "to"),
                                 ("from=2000-01-01&to=2026-01-01", 422, "from"),
                                 ("bucket=day&from=2020-01-01&to=2026-01-01", 422, "bucket")):
            r = self.leader.get("/api/v1/stats/trend?" + q)
            self.assertEqual((r.status, r.error.get("field")), (status, field), q)
            self.assertTrue(r.error["message"] and r.error["message_zh"])
        r = self.leader.get("/api/v1/stats/rates?by=street")
        self.assertEqual((r.status, r.error["field"]), (400, "by"))
        # the cubes hold the department and one more dimension: two more are refused
        r = self.leader.get("/api/v1/stats/rates?by=category&type=help")
        self.assertEqual((r.status, r.error["field"]), (422, "type"))
        r = self.leader.get("/api/v1/stats/trend?channel=online&grid_id=42")
        self.assertEqual(r.status, 422, r)
        j = self.get(self.leader, "/api/v1/stats/rates?by=department&type=help&department_id=%d"
                     % self.A)
        self.assertEqual([it["id"] for it in j["items"]], [self.A])
        self.assert_figures(j["total"], self.want[self.A])  # every request of the set is 'help'


    def test_ranking_with_the_target(self):
        j = self.get(self.leader, "/api/v1/stats/ranking")
        self.assertEqual(j["target"], {"rate": "resolution", "percent": 98, "below": 1})
        got = [(it["rank"], it["department_id"], it["rates"]["composite"]) for it in j["items"]]
        # B: 10 × 100 % + 50 × 100 % + 40 × 95 %; C: 10 × 50 % (R15 unsigned) + 50 + 40 × 100 %
        self.assertEqual(got, [(1, self.B, 98.0), (2, self.C, 95.0), (3, self.A, 69.5714)])
        for it in j["items"]:
            self.assert_figures(it, self.want[it["department_id"]], what=it["name"])
        self.assertEqual([it["meets_target"] for it in j["items"]], [True, True, False])

    def test_department_head_sees_own_departments(self):
        j = self.get(self.head, "/api/v1/stats/rates?by=department")
        self.assertEqual(sorted(it["id"] for it in j["items"]), sorted([self.A, self.B]))
        self.assert_figures(j["total"], add(self.want[self.A], self.want[self.B]))
        j = self.get(self.head, "/api/v1/stats/ranking")
        self.assertEqual([it["department_id"] for it in j["items"]], [self.B, self.A])
        # a filter on another department finds nothing rather than leaking it
        j = self.get(self.head, "/api/v1/stats/rates?by=none&department_id=%d" % self.C)
        self.assertEqual(j["total"]["counts"]["received"], 0)
        j = self.get(self.head, "/api/v1/stats/trend?bucket=month")
        self.assertEqual(sum(it["counts"]["received"] for it in j["items"]), 14)

    def test_forbidden_without_report_read(self):
        for login in ("enterprise", "handler", "gridworker", "supervisor"):
            c = self.srv.login(login)
            for path in ("/api/v1/stats/rates", "/api/v1/stats/trend", "/api/v1/stats/ranking"):
                r = c.get(path)
                self.assertEqual(r.status, 403, (login, path, r))
                self.assertIn("report.read", r.error["message"])
        self.assertEqual(self.srv.client().get("/api/v1/stats/rates").status, 401)

    def test_cli_check_and_rebuild(self):
        self.assertIn("match a recount", self.check_before)
        self.assertEqual(self.check_drift.returncode, 1, self.check_drift)
        self.assertIn("differ from a recount", self.check_drift.stdout)
        self.assertIn("request_stats_open", self.check_drift.stdout)
        self.assertIn("rebuilt the counters", self.rebuild)
        self.assertEqual(self.check_after.returncode, 0, self.check_after)
        # and after the later steps, kept live by the server
        p = run_cli("stats", "check", "--db", self.srv.db, check=False)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM audit_log WHERE entity = "
                                      "'request_stats' AND action = 'rebuild'"), [(2,)])

    def test_weights_are_settings_summing_to_100(self):
        r = self.admin.put("/api/v1/settings", {"rates.weight_response": 20})
        self.assertEqual((r.status, r.error["field"]), (422, "rates.weight_response"), r)
        self.assertIn("100", r.error["message_zh"])
        self.assertEqual(self.get(self.admin, "/api/v1/settings")["rates.weight_response"], 10)
        r = self.admin.put("/api/v1/settings", {"rates.weight_response": 101})
        self.assertEqual(r.status, 422, r)
        try:
            r = self.admin.put("/api/v1/settings", {"rates.weight_response": 20,
                                                    "rates.weight_resolution": 40,
                                                    "rates.basic_satisfied_percent": 50,
                                                    "rates.target_resolution_percent": 95})
            self.assertEqual(r.status, 200, r)
            j = self.get(self.leader, "/api/v1/stats/rates?by=department")
            items = {it["id"] or 0: it for it in j["items"]}
            for dep, want in self.want.items():
                self.assert_figures(items[dep], want, weights=(20, 40, 40), basic=50)
            self.assertEqual(j["settings"]["target_resolution_percent"], 95)
        finally:
            r = self.admin.put("/api/v1/settings", {"rates.weight_response": 10,
                                                    "rates.weight_resolution": 50,
                                                    "rates.basic_satisfied_percent": 90,
                                                    "rates.target_resolution_percent": 98})
            self.assertEqual(r.status, 200, r)


TITLE = "厂区供电增容申请答复超时"
# a request's text is typically a few sentences: about 300 bytes here
CONTENT = ("生产车间新上两条生产线，需要增加用电容量，三个月前已向供电部门提交增容申请，"
           "至今没有答复方案，影响设备调试和投产，请协调尽快办理。")


def fill_requests(con, n, seed=20250210):
    """n generated requests of the last year and this one, straight into the table."""
    # the demo's categories, each usually handled by its own department; 300 grids
    cats = con.execute("SELECT id, department_id FROM request_categories WHERE department_id "
                       "IS NOT NULL").fetchall()
    depts = [r[0] for r in con.execute("SELECT id FROM departments WHERE code != 'bank-zz'")]
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    year0 = int(datetime.datetime(today_local().year, 1, 1, tzinfo=TZ).timestamp() * 1000)
    rows = []
    for i in range(n):
        rec = rng.randrange(year0 - 365 * DAY_MS, now)
        st = rng.choices(["received", "dispatched", "signed", "in_progress", "replied",
                          "closed", "voided"], [2, 3, 3, 5, 7, 78, 2])[0]
        cat, cat_dep = rng.choice(cats)
        dep = None if st in ("received", "voided") else (
            cat_dep if rng.random() < 0.9 else rng.choice(depts))
        disp = rec + 3600000 if dep else 0
        signed = disp + rng.randrange(1, 2 * DAY_MS) if st not in ("received", "dispatched",
                                                                 "voided") else 0
        replied = signed + rng.randrange(1, 10 * DAY_MS) if st in ("replied", "closed") else 0
        rating = rng.choice(["satisfied", "satisfied", "satisfied", "basic", "unsatisfied",
                             "unrated"]) if st == "closed" else ""
        rows.append((1, "P%08d" % i, rng.choice(["online", "hall", "hotline", "grid"]),
                     rng.choice(["consultation", "help", "complaint"]), TITLE,
                     CONTENT[i % len(CONTENT):] + CONTENT[:i % len(CONTENT)], st, dep,
                     cat, rng.choice([None] + list(range(1, 301))), rec, disp, disp + 7 * 3600000 if disp else 0,
                     signed, disp + 7 * DAY_MS if disp else 0, replied,
                     replied + DAY_MS if st == "closed" else 0, rating,
                     None if rating in ("", "unrated") else int(rng.random() < 0.9),
                     None if st != "closed" else int(replied <= disp + 7 * DAY_MS), rec, rec))
    con.executemany(
        "INSERT INTO requests (tenant_id, number, channel, req_type, title, content, state, "
        "department_id, category_id, grid_id, received_at, dispatched_at, sign_due_at, signed_at, "
        "handle_due_at, replied_at, closed_at, rating, rating_solved, closed_on_time, "
        "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    return now, year0


# What a dashboard would run without the counters: the same figures straight from requests.
_V = "state NOT IN ('merged', 'voided')"
_D = _V + " AND department_id IS NOT NULL"
_C = _V + " AND state = 'closed'"
_R = _C + " AND rating IN ('satisfied', 'basic', 'unsatisfied')"
SCAN = ("SELECT department_id, COUNT(*), " + ", ".join(
    "SUM(CASE WHEN %s THEN 1 ELSE 0 END)" % c for c in (
        _V, _D, _D + " AND signed_at > 0",
        _D + " AND signed_at > 0 AND (sign_due_at = 0 OR signed_at <= sign_due_at)",
        _D + " AND replied_at > 0",
        _D + " AND replied_at > 0 AND (handle_due_at = 0 OR replied_at <= handle_due_at)",
        _C, _C + " AND closed_on_time = 1", _R, _R + " AND rating_solved = 1",
        _C + " AND rating = 'satisfied'", _C + " AND rating = 'basic'",
        _C + " AND rating = 'unsatisfied'", _C + " AND rating = 'unrated'",
        _V + " AND reopen_count > 0",
        "state IN ('dispatched', 'signed', 'in_progress') AND handle_due_at > 0 "
        "AND handle_due_at < :now")) +
    " FROM requests WHERE tenant_id = 1 AND received_at >= :y0 AND received_at < :y1 "
    "GROUP BY department_id")


class Latency(unittest.TestCase):
    """GET /api/v1/stats/rates from the counters vs a GROUP BY over the requests table,
    on the demo data and on generated requests (figures printed, not asserted)."""
    N = int(os.environ.get("YQ_STATS_N", "20000" if "asan" in os.environ.get("YQ_BIN", "")
                           else "100000"))

    def measure(self, db, label):
        y = today_local().year
        y0 = int(datetime.datetime(y, 1, 1, tzinfo=TZ).timestamp() * 1000)
        y1 = int(datetime.datetime(y + 1, 1, 1, tzinfo=TZ).timestamp() * 1000)
        now = int(time.time() * 1000)
        con = sqlite3.connect(db)
        n = con.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        year_n = con.execute("SELECT COUNT(*) FROM requests WHERE received_at >= ? AND "
                             "received_at < ?", (y0, y1)).fetchone()[0]
        rows = [con.execute("SELECT COUNT(*) FROM %s WHERE dim = 'none' AND day >= ? AND "
                            "day <= ?" % t, (d0, d1)).fetchone()[0]
                for t, (d0, d1) in (("request_stats_month", self.days(y)),
                                    ("request_stats", self.days(y)))]
        srv = Server.start(db=db, tmpdir=os.path.dirname(db))
        try:
            c = srv.login("leader")
            path = "/api/v1/stats/rates?by=department"
            first = c.get(path)
            self.assertEqual(first.status, 200, first)
            self.assertEqual(first.json["total"]["counts"]["received"], year_n)
            api = []
            for _ in range(30):
                t0 = time.perf_counter()
                c.get(path)
                api.append((time.perf_counter() - t0) * 1000)
        finally:
            srv.stop(cleanup=False)
        scan = []
        for _ in range(5):
            t0 = time.perf_counter()
            got = con.execute(SCAN, {"now": now, "y0": y0, "y1": y1}).fetchall()
            scan.append((time.perf_counter() - t0) * 1000)
        con.close()
        self.assertEqual(sum(r[1] for r in got), year_n)
        print("\n  %s: %d requests (%d this year); department x month rows read: %d "
              "(day rows of the year: %d)\n"
              "    GET %s  median %.2f ms, max %.2f ms (HTTP round trip)\n"
              "    the same figures by GROUP BY over requests (in-process sqlite3, no HTTP): "
              "median %.1f ms" % (label, n, year_n, rows[0], rows[1], path,
                                  statistics.median(api), max(api), statistics.median(scan)))

    @staticmethod
    def days(y):
        epoch = datetime.date(1970, 1, 1)
        return ((datetime.date(y, 1, 1) - epoch).days, (datetime.date(y, 12, 31) - epoch).days)

    def test_rates_latency(self):
        d = tempfile.mkdtemp(prefix="yqtest-statsperf-")
        db = os.path.join(d, "yiqiban.db")
        try:
            run_cli("demo", "--db", db)
            self.measure(db, "demo data")
            con = sqlite3.connect(db)
            fill_requests(con, self.N)
            con.close()
            t0 = time.perf_counter()
            out = run_cli("stats", "rebuild", "--db", db).stdout.strip()
            print("\n  %s (%.0f ms)" % (out, (time.perf_counter() - t0) * 1000))
            self.measure(db, "demo + %d generated" % self.N)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
