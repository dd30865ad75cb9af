"""The working-day calendar over HTTP: the shipped 2025 and 2026 years, the day
check, the deadline calculator (the reference's worked example, working hours,
uncertain years), replacing and deleting years with field-naming validation,
working hours, permissions, auditing, and the built-in years loaded by init,
demo and on first use."""
import datetime
import os
import shutil
import sqlite3
import tempfile
import unittest

from harness import Server, run_cli

CAL = "/api/v1/calendar"
DEADLINE = CAL + "/deadline"
YEARS = CAL + "/years/"
HOURS = CAL + "/workhours"


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


def weekdays_in(year):
    d, n = datetime.date(year, 1, 1), 0
    while d.year == year:
        n += d.weekday() < 5
        d += datetime.timedelta(days=1)
    return n


# A made-up 2027 for the tests (the State Council has not published it).
DAYS_2027 = [
    {"day": "2027-01-01", "kind": "holiday", "name": "元旦"},
    {"day": "2027-02-06", "kind": "workday", "name": "春节"},   # Saturday
    {"day": "2027-02-08", "kind": "holiday", "name": "春节"},   # Monday
    {"day": "2027-02-09", "kind": "holiday", "name": "春节"},
]


class Calendar(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        cls.dispatcher = cls.srv.login("dispatcher")
        cls.enterprise = cls.srv.login("enterprise")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def deadline(self, client=None, **body):
        r = (client or self.dispatcher).post(DEADLINE, body)
        self.assertEqual(r.status, 200, r)
        return r.json

    def audit_count(self):
        return self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0]

    # ---- reading ----

    def test_shipped_years(self):
        for year, entries in ((2025, 23), (2026, 25)):
            with self.subTest(year=year):
                r = self.enterprise.get(CAL + "?year=%d" % year)
                self.assertEqual(r.status, 200, r)
                j = r.json
                self.assertEqual(j["year"], year)
                self.assertTrue(j["known"])
                self.assertIn("builtin", j["source"])
                # 261 weekdays - weekday holidays + make-up days (18/5 and 19/6)
                self.assertEqual(j["workdays"], 248)
                self.assertEqual(len(j["days"]), entries)
                self.assertEqual([d["day"] for d in j["days"]],
                                 sorted(d["day"] for d in j["days"]))
                for d in j["days"]:
                    wd = datetime.date.fromisoformat(d["day"]).weekday()
                    self.assertEqual(d["kind"], "holiday" if wd < 5 else "workday", d)
                    self.assertTrue(d["name"])
                self.assertEqual(j["known_years"][:2], [2025, 2026])
        days = {d["day"]: d for d in self.enterprise.get(CAL + "?year=2025").json["days"]}
        self.assertEqual(days["2025-09-28"], {"day": "2025-09-28", "kind": "workday",
                                              "name": "国庆节、中秋节"})
        self.assertNotIn("2025-09-27", days)  # an ordinary Saturday

    def test_unknown_year(self):
        r = self.dispatcher.get(CAL + "?year=2031")
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["known"])
        self.assertIsNone(r.json["source"])
        self.assertEqual(r.json["days"], [])
        self.assertEqual(r.json["workdays"], weekdays_in(2031))
        for bad in ("abc", "1969", "2200", "2025.0"):
            assert_error(self, self.dispatcher.get(CAL + "?year=" + bad), 400, "bad_request",
                         "year")

    def test_check(self):
        cases = [
            ("2025-09-26", True, "weekday", None, 5),
            ("2025-09-27", False, "weekend", None, 6),
            ("2025-09-28", True, "workday", "国庆节、中秋节", 7),
            ("2025-10-01", False, "holiday", "国庆节、中秋节", 3),
            ("2026-02-14", True, "workday", "春节", 6),
            ("2026-02-16", False, "holiday", "春节", 1),
            ("2026-02-21", False, "weekend", None, 6),  # a Saturday inside 春节: not listed
            ("2026-01-04", True, "workday", "元旦", 7),
        ]
        for date, work, kind, name, wd in cases:
            with self.subTest(date=date):
                r = self.enterprise.get(CAL + "/check?date=" + date)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json, {"date": date, "workday": work, "kind": kind,
                                          "name": name, "weekday": wd, "uncertain": False})
        r = self.enterprise.get(CAL + "/check?date=2031-01-06")
        self.assertEqual((r.json["workday"], r.json["uncertain"]), (True, True))
        r = self.enterprise.get(CAL + "/check")  # today
        self.assertEqual(r.status, 200, r)
        for bad in ("2025-02-29", "2025-9-28", "abc", "2025-09-28T00:00:00Z", "1969-12-31"):
            with self.subTest(bad=bad):
                assert_error(self, self.enterprise.get(CAL + "/check?date=" + bad), 400,
                             "bad_request", "date")

    # ---- the deadline calculator ----

    def test_worked_example(self):
        """standards.md: accepted Friday 2025-09-26, 3 working days -> end of Tuesday 09-30."""
        for start in ("2025-09-26T00:00:00+08:00", "2025-09-26T09:15:00+08:00",
                      "2025-09-26T23:59:59.999+08:00", "2025-09-25T16:00:00Z",
                      1758852000000):
            with self.subTest(start=start):
                j = self.deadline(start=start, workdays=3)
                self.assertEqual(j["deadline_local"], "2025-09-30T23:59:59.999+08:00")
                self.assertEqual(j["deadline_ms"], 1759247999999)
                self.assertFalse(j["uncertain"])
        # one millisecond earlier it is still Thursday in Shanghai
        j = self.deadline(start="2025-09-25T15:59:59.999Z", workdays=3)
        self.assertEqual(j["deadline_local"], "2025-09-29T23:59:59.999+08:00")
        self.assertEqual(j["start_local"], "2025-09-25T23:59:59.999+08:00")

    def test_deadline_holidays(self):
        cases = [
            ("2026-02-13T15:00:00+08:00", 1, "2026-02-14T23:59:59.999+08:00"),  # make-up Sat
            ("2026-02-13T15:00:00+08:00", 2, "2026-02-24T23:59:59.999+08:00"),  # after 春节
            ("2025-10-03T15:00:00+08:00", 1, "2025-10-09T23:59:59.999+08:00"),  # on a holiday
            ("2025-12-31T15:00:00+08:00", 1, "2026-01-04T23:59:59.999+08:00"),  # year boundary
        ]
        for start, n, due in cases:
            with self.subTest(start=start, n=n):
                j = self.deadline(start=start, workdays=n)
                self.assertEqual(j["deadline_local"], due)
                self.assertFalse(j["uncertain"])

    def test_deadline_hours(self):
        # Friday 16:00 + 2 h: 90 min on Friday, 30 on Sunday 09-28 (a make-up day)
        j = self.deadline(start="2025-09-26T16:00:00+08:00", workhours_minutes=120)
        self.assertEqual(j["deadline_local"], "2025-09-28T09:30:00.000+08:00")
        j = self.deadline(start="2025-03-05T12:30:00+08:00", workhours_minutes=60)
        self.assertEqual(j["deadline_local"], "2025-03-05T14:30:00.000+08:00")

    def test_deadline_uncertain(self):
        j = self.deadline(start="2031-03-03T10:00:00+08:00", workdays=1)
        self.assertEqual(j["deadline_local"], "2031-03-04T23:59:59.999+08:00")
        self.assertTrue(j["uncertain"])

    def test_deadline_bad_input(self):
        ok = {"start": "2025-09-26T10:00:00+08:00", "workdays": 3}
        cases = [
            ({"workdays": 3}, 400, "start"),
            ({**ok, "start": None}, 400, "start"),
            ({**ok, "start": True}, 400, "start"),
            ({**ok, "start": 1.5}, 400, "start"),
            ({**ok, "start": "2025-09-26T10:00:00"}, 422, "start"),  # no offset
            ({**ok, "start": "2025-09-26"}, 422, "start"),
            ({**ok, "start": "2025-13-01T10:00:00+08:00"}, 422, "start"),
            ({**ok, "start": "next friday"}, 422, "start"),
            ({**ok, "start": -10 ** 15}, 422, "start"),
            ({**ok, "start": 10 ** 16}, 422, "start"),
            ({**ok, "workdays": 0}, 422, "workdays"),
            ({**ok, "workdays": -1}, 422, "workdays"),
            ({**ok, "workdays": 1001}, 422, "workdays"),
            ({**ok, "workdays": "3"}, 400, "workdays"),
            ({"start": ok["start"]}, 400, "workdays"),
            ({**ok, "workhours_minutes": 60}, 422, "workhours_minutes"),
            ({"start": ok["start"], "workhours_minutes": 0}, 422, "workhours_minutes"),
            ({**ok, "deadline": 1}, 400, "deadline"),
            ({"start": "2199-12-30T10:00:00+08:00", "workdays": 5}, 422, "workdays"),
        ]
        for body, status, field in cases:
            with self.subTest(body=body):
                r = self.dispatcher.post(DEADLINE, body)
                assert_error(self, r, status, "bad_request" if status == 400 else
                             "unprocessable", field)

    # ---- changing years ----

    def test_add_2027_then_deadline(self):
        start = "2026-12-30T10:00:00+08:00"
        j = self.deadline(start=start, workdays=2)
        self.assertEqual(j["deadline_local"], "2027-01-01T23:59:59.999+08:00")
        self.assertTrue(j["uncertain"])

        before = self.audit_count()
        r = self.admin.put(YEARS + "2027", {"days": DAYS_2027, "source": "测试用 2027"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["known"])
        self.assertEqual(r.json["source"], "测试用 2027")
        self.assertEqual(r.json["days"], DAYS_2027)
        self.assertEqual(r.json["workdays"], weekdays_in(2027) - 3 + 1)
        self.assertIn(2027, r.json["known_years"])
        self.assertEqual(self.audit_count(), before + 1)
        row = self.srv.sql("SELECT entity, entity_id, action, actor_login, request_id "
                           "FROM audit_log ORDER BY seq DESC LIMIT 1")[0]
        self.assertEqual(row, ("calendar", 2027, "put_year", "admin", r.header("X-Request-Id")))

        # every reader sees it at once, and it is certain now
        j = self.deadline(start=start, workdays=2)
        self.assertEqual(j["deadline_local"], "2027-01-04T23:59:59.999+08:00")
        self.assertFalse(j["uncertain"])
        j = self.deadline(client=self.enterprise, start="2027-02-05T10:00:00+08:00", workdays=2)
        self.assertEqual(j["deadline_local"], "2027-02-10T23:59:59.999+08:00")
        self.assertFalse(j["uncertain"])
        r = self.dispatcher.get(CAL + "/check?date=2027-02-06")
        self.assertEqual((r.json["kind"], r.json["workday"], r.json["uncertain"]),
                         ("workday", True, False))

        # replacing the year replaces all of it
        r = self.admin.put(YEARS + "2027", {"days": DAYS_2027[:1]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["days"], DAYS_2027[:1])
        self.assertEqual(r.json["source"], "")
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM calendar_days "
                                      "WHERE day LIKE '2027-%'")[0][0], 1)

        # and deleting it makes the year uncertain again
        r = self.admin.delete(YEARS + "2027")
        self.assertEqual(r.status, 204, r)
        j = self.deadline(start=start, workdays=2)
        self.assertEqual(j["deadline_local"], "2027-01-01T23:59:59.999+08:00")
        self.assertTrue(j["uncertain"])
        self.assertFalse(self.dispatcher.get(CAL + "?year=2027").json["known"])
        assert_error(self, self.admin.delete(YEARS + "2027"), 404, "not_found", "year")
        row = self.srv.sql("SELECT action, entity_id FROM audit_log ORDER BY seq DESC LIMIT 1")
        self.assertEqual(row[0], ("delete_year", 2027))

    def test_delete_and_restore_a_shipped_year(self):
        saved = self.admin.get(CAL + "?year=2025").json
        r = self.admin.delete(YEARS + "2025")
        self.assertEqual(r.status, 204, r)
        try:
            r = self.dispatcher.get(CAL + "/check?date=2025-10-01")
            self.assertEqual((r.json["workday"], r.json["uncertain"]), (True, True))
            # deleting sticks: the built-in years are not loaded again
            self.assertFalse(self.dispatcher.get(CAL + "?year=2025").json["known"])
        finally:
            r = self.admin.put(YEARS + "2025", {"days": saved["days"], "source": saved["source"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["workdays"], 248)
        j = self.deadline(start="2025-09-26T10:00:00+08:00", workdays=3)
        self.assertEqual(j["deadline_local"], "2025-09-30T23:59:59.999+08:00")

    def test_put_validation(self):
        good = {"day": "2027-01-01", "kind": "holiday", "name": "元旦"}
        sunday = {"day": "2027-02-07", "kind": "holiday", "name": "春节"}
        cases = [
            # holiday on a Sunday, named by its index
            ({"days": [sunday]}, 422, "days[0].kind"),
            ({"days": [good, DAYS_2027[1], sunday]}, 422, "days[2].kind"),
            # workday on a Monday
            ({"days": [{"day": "2027-02-08", "kind": "workday"}]}, 422, "days[0].kind"),
            ({"days": [good, {"day": "2027-02-08", "kind": "festival"}]}, 422, "days[1].kind"),
            ({"days": [{"day": "2026-10-01", "kind": "holiday"}]}, 422, "days[0].day"),
            ({"days": [{"day": "2027-02-30", "kind": "holiday"}]}, 422, "days[0].day"),
            ({"days": [{"day": "2027/01/01", "kind": "holiday"}]}, 422, "days[0].day"),
            ({"days": [{"day": "", "kind": "holiday"}]}, 422, "days[0].day"),
            ({"days": [good, good]}, 422, "days[1].day"),
            ({"days": [{**good, "name": "节" * 33}]}, 422, "days[0].name"),
            ({"days": [{"day": 20270101, "kind": "holiday"}]}, 400, "days[0].day"),
            ({"days": [{"day": "2027-01-01"}]}, 400, "days[0].kind"),
            ({"days": [{**good, "kind": None}]}, 400, "days[0].kind"),
            ({"days": [{**good, "extra": 1}]}, 400, "days[0].extra"),
            ({"days": [good, "2027-02-08"]}, 400, "days[1]"),
            ({"days": [{**good, "day": "2027-01-%02d" % (1 + i % 28)} for i in range(61)]},
             422, "days"),
            ({}, 400, "days"),
            ({"days": None}, 400, "days"),
            ({"days": {"2027-01-01": "holiday"}}, 400, "days"),
            ({"days": [], "source": "x" * 101}, 422, "source"),
            ({"days": [], "source": 5}, 400, "source"),
            ({"days": [], "year": 2027}, 400, "year"),
        ]
        before = self.srv.counts()
        for body, status, field in cases:
            with self.subTest(body=str(body)[:80]):
                r = self.admin.put(YEARS + "2027", body)
                assert_error(self, r, status, "bad_request" if status == 400 else
                             "unprocessable", field)
        assert_error(self, self.admin.put(YEARS + "abc", {"days": []}), 404, "not_found")
        assert_error(self, self.admin.put(YEARS + "1969", {"days": []}), 422, "unprocessable",
                     "year")
        assert_error(self, self.admin.delete(YEARS + "2200"), 422, "unprocessable", "year")
        assert_error(self, self.admin.delete(YEARS + "2040"), 404, "not_found", "year")
        self.assertEqual(before, self.srv.counts())

    def test_permissions(self):
        before = self.srv.counts()
        for client in (self.dispatcher, self.enterprise):
            self.assertEqual(client.get(CAL + "?year=2025").status, 200)
            self.assertEqual(client.get(HOURS).status, 200)
            for method, path, body in (("PUT", YEARS + "2027", {"days": DAYS_2027}),
                                       ("DELETE", YEARS + "2025", None),
                                       ("PUT", HOURS, {"workhours": "08:00-18:00"})):
                r = client.request(method, path, body=body)
                assert_error(self, r, 403, "forbidden", "")
                self.assertIn("calendar.write", r.error["message"])
        anon = self.srv.client()
        for method, path, body in (("GET", CAL, None), ("GET", CAL + "/check", None),
                                   ("POST", DEADLINE, {"start": 0, "workdays": 1}),
                                   ("PUT", YEARS + "2027", {"days": []})):
            assert_error(self, anon.request(method, path, body=body), 401, "unauthenticated")
        self.assertEqual(before, self.srv.counts())
        me = self.admin.get("/api/v1/me").json
        self.assertEqual(me["permissions"].get("calendar.write"), "all")

    # ---- working hours ----

    def test_workhours(self):
        r = self.enterprise.get(HOURS)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"workhours": "09:00-12:00,13:30-17:30",
                                  "periods": [{"start": "09:00", "end": "12:00"},
                                              {"start": "13:30", "end": "17:30"}],
                                  "minutes_per_day": 420, "timezone": "Asia/Shanghai"})
        before = self.srv.counts()
        for bad in ("", "9-17", "09:00-12:00,11:00-13:00", "17:30-13:30", "09:00-25:00",
                    "01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,09:00-10:00"):
            with self.subTest(bad=bad):
                assert_error(self, self.admin.put(HOURS, {"workhours": bad}), 422,
                             "unprocessable", "workhours")
        assert_error(self, self.admin.put(HOURS, {"workhours": 9}), 400, "bad_request",
                     "workhours")
        assert_error(self, self.admin.put(HOURS, {}), 400, "bad_request", "workhours")
        self.assertEqual(before, self.srv.counts())
        try:
            r = self.admin.put(HOURS, {"workhours": "09:00-12:00,13:30-16:30"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["minutes_per_day"], 360)
            self.assertEqual(self.enterprise.get(HOURS).json["workhours"],
                             "09:00-12:00,13:30-16:30")
            # with the afternoon ending at 16:30, Friday 16:00 + 2 h is 10:30 next working day
            j = self.deadline(start="2025-09-26T16:00:00+08:00", workhours_minutes=120)
            self.assertEqual(j["deadline_local"], "2025-09-28T10:30:00.000+08:00")
            row = self.srv.sql("SELECT action, summary FROM audit_log ORDER BY seq DESC LIMIT 1")
            self.assertEqual(row[0], ("workhours", '{"workhours":"09:00-12:00,13:30-16:30"}'))
        finally:
            r = self.admin.put(HOURS, {"workhours": "09:00-12:00,13:30-17:30"})
            self.assertEqual(r.status, 200, r)


class BuiltinYears(unittest.TestCase):
    """init and demo load the shipped years; a tenant without them gets them on first use."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="yqcal-")
        self.db = os.path.join(self.dir, "yiqiban.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, q):
        con = sqlite3.connect(self.db)
        try:
            out = con.execute(q).fetchall()
            con.commit()
            return out
        finally:
            con.close()

    def test_init_loads_years(self):
        out = run_cli("init", "--db", self.db).stdout
        self.assertIn("2 built-in holiday year(s) loaded", out)
        self.assertEqual(self.sql("SELECT year FROM calendar_years ORDER BY year"),
                         [(2025,), (2026,)])
        self.assertEqual(self.sql("SELECT COUNT(*) FROM calendar_days")[0][0], 48)
        self.assertEqual(self.sql("SELECT builtin_loaded FROM calendar_meta"), [(1,)])

    def test_demo_again_keeps_changes(self):
        run_cli("demo", "--db", self.db, "--enterprises", "20")
        self.sql("DELETE FROM calendar_days WHERE day LIKE '2025-%'")
        self.sql("DELETE FROM calendar_years WHERE year = 2025")
        run_cli("demo", "--db", self.db, "--enterprises", "20")
        self.assertEqual(self.sql("SELECT year FROM calendar_years"), [(2026,)])

    def test_first_use_loads_years(self):
        run_cli("demo", "--db", self.db, "--enterprises", "20")
        for t in ("calendar_days", "calendar_years", "calendar_meta"):
            self.sql("DELETE FROM " + t)
        srv = Server.start(db=self.db, tmpdir=self.dir)
        try:
            c = srv.login("dispatcher")
            r = c.post(DEADLINE, {"start": "2025-09-26T10:00:00+08:00", "workdays": 3})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["deadline_local"], "2025-09-30T23:59:59.999+08:00")
            self.assertFalse(r.json["uncertain"])
            self.assertEqual(srv.sql("SELECT year FROM calendar_years ORDER BY year"),
                             [(2025,), (2026,)])
            rows = srv.sql("SELECT actor_login, summary FROM audit_log WHERE action = 'seed' "
                           "ORDER BY seq")
            self.assertEqual(rows[-1], ("dispatcher", '{"years":[2025,2026]}'))
            n = len(rows)
            c.get(CAL)
            self.assertEqual(len(srv.sql("SELECT 1 FROM audit_log WHERE action = 'seed'")), n)
        finally:
            srv.stop(cleanup=False)


if __name__ == "__main__":
    unittest.main()
