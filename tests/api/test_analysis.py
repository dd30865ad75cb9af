"""The analysis (研判) through the API on the demo district (grids cut from the 二七区
outline, ~60 requests placed in them): every figure — the grid x category matrix at each
level, trends, rising grids and categories, the top problems, the heat map, the Excel
export — equals a direct count over the requests table computed here; counters follow a
request that is voided; a grid worker sees its grid only; bad parameters name the field."""
import datetime
import http.client
import io
import unittest
import zipfile

from harness import Server, run_cli

A = "/api/v1/analysis"
FROM, TO = "2025-01-01", "2026-12-31"


def day_of(ms):
    return (datetime.datetime.utcfromtimestamp(ms / 1000) + datetime.timedelta(hours=8)).date()


class Analysis(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start(enterprises=300)
        cls.admin = cls.srv.login("admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def requests(self):
        """[(day, unit grid id or 0, category id or 0)] of the valid requests."""
        return [(day_of(t), g or 0, c or 0) for t, g, c in self.srv.sql(
            "SELECT received_at, grid_id, category_id FROM requests "
            "WHERE state NOT IN ('merged', 'voided')")]

    def ancestor(self, level):
        """unit grid id -> id of its ancestor at level."""
        rows = self.srv.sql("SELECT id, parent_id, level FROM grids")
        parent = {i: p for i, p, _ in rows}
        lvl = {i: l for i, _, l in rows}
        out = {}
        for i in lvl:
            g = i
            while g and lvl[g] != level:
                g = parent[g]
            out[i] = g
        return out

    def test_matrix_equals_direct_count(self):
        reqs = self.requests()
        self.assertGreater(len(reqs), 30)
        for level in ("unit", "community", "street", "district"):
            up = self.ancestor(level)
            r = self.admin.get(A + "/matrix?source=requests&level=%s&from=%s&to=%s"
                               % (level, FROM, TO))
            self.assertEqual(r.status, 200, r)
            want = {}
            for _, g, c in reqs:
                k = (up.get(g, 0) if g else 0, c)
                want[k] = want.get(k, 0) + 1
            got = {(x["grid_id"], x["category_id"]): x["count"] for x in r.json["cells"]}
            self.assertEqual(got, want, level)
            self.assertEqual(r.json["total"], len(reqs))
            self.assertEqual(sum(g["total"] for g in r.json["grids"]), len(reqs))
            totals = [g["total"] for g in r.json["grids"]]
            self.assertEqual(totals, sorted(totals, reverse=True))
        names = dict(self.srv.sql("SELECT id, name FROM request_categories"))
        for c in r.json["categories"]:
            self.assertEqual(c["name"], names.get(c["id"], "未分类"))

    def test_period_filter_and_trend(self):
        reqs = self.requests()
        days = sorted(d for d, _, _ in reqs)
        lo, hi = days[len(days) // 4], days[3 * len(days) // 4]
        r = self.admin.get(A + "/matrix?source=requests&from=%s&to=%s" % (lo, hi))
        self.assertEqual(r.json["total"], sum(1 for d in days if lo <= d <= hi))
        for bucket in ("day", "week", "month"):
            r = self.admin.get(A + "/trend?source=requests&bucket=%s&from=%s&to=%s"
                               % (bucket, lo, hi))
            self.assertEqual(r.status, 200, r)
            s = r.json["series"]
            self.assertEqual(sum(x["count"] for x in s), sum(1 for d in days if lo <= d <= hi))
            starts = [x["start"] for x in s]
            self.assertEqual(starts, sorted(starts))
            if bucket == "day":
                self.assertEqual(len(s), (hi - lo).days + 1)
                for x in s:
                    d = datetime.date.fromisoformat(x["start"])
                    self.assertEqual(x["count"], days.count(d))
            if bucket == "week":
                self.assertTrue(all(datetime.date.fromisoformat(x["start"]).weekday() == 0
                                    for x in s))

    def test_rising_and_top(self):
        reqs = self.requests()
        to = max(d for d, _, _ in reqs)
        up = self.ancestor("street")
        span = 30
        cur_from = to - datetime.timedelta(days=span - 1)
        prev_from = cur_from - datetime.timedelta(days=span)
        r = self.admin.get(A + "/rising?source=requests&level=street&days=%d&to=%s&min=1&limit=100"
                           % (span, to))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["current"], {"from": str(cur_from), "to": str(to)})
        count = {}
        for d, g, _ in reqs:
            k = up.get(g, 0) if g else 0
            if cur_from <= d <= to:
                count.setdefault(k, [0, 0])[0] += 1
            elif prev_from <= d < cur_from:
                count.setdefault(k, [0, 0])[1] += 1
        want = {k: v for k, v in count.items() if v[0] > v[1] and v[0] >= 1}
        got = {x["id"]: [x["current"], x["previous"]] for x in r.json["grids"]}
        self.assertEqual(got, want)
        changes = [x["change"] for x in r.json["grids"]]
        self.assertEqual(changes, sorted(changes, reverse=True))
        # top: the largest (street, category) pair
        r = self.admin.get(A + "/top?source=requests&level=street&limit=5&from=%s&to=%s"
                           % (FROM, TO))
        pairs = {}
        for _, g, c in reqs:
            k = (up.get(g, 0) if g else 0, c)
            pairs[k] = pairs.get(k, 0) + 1
        self.assertEqual(r.json["items"][0]["count"], max(pairs.values()))
        self.assertEqual(r.json["total"], len(reqs))
        self.assertAlmostEqual(r.json["items"][0]["share"], max(pairs.values()) / len(reqs))

    def test_heatmap_and_xlsx(self):
        reqs = self.requests()
        up = self.ancestor("community")
        r = self.admin.get(A + "/heatmap.geojson?source=requests&level=community&from=%s&to=%s"
                           % (FROM, TO))
        self.assertEqual(r.status, 200, r)
        want = {}
        for _, g, _ in reqs:
            if g:
                want[up[g]] = want.get(up[g], 0) + 1
        for f in r.json["features"]:
            p = f["properties"]
            self.assertEqual(p["count"], want.get(p["id"], 0), p["code"])
            self.assertLessEqual(p["intensity"], 1.0)
        self.assertEqual(r.json["max"], max(want.values()))
        self.assertEqual(len(r.json["features"]),
                         self.srv.sql("SELECT COUNT(*) FROM grids WHERE level = 'community'")[0][0])
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        conn.request("GET", A + "/matrix.xlsx?level=street&from=%s&to=%s" % (FROM, TO),
                     headers={"Cookie": self.admin.cookie})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        z = zipfile.ZipFile(io.BytesIO(body))
        self.assertIn("xl/worksheets/sheet1.xml", z.namelist())
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        # the grand total: the requests and the visit findings (the demo's visits) of the period
        findings = len([1 for (t,) in self.srv.sql(
            "SELECT v.visited_at FROM visit_findings f JOIN visits v ON v.id = f.visit_id")
            if FROM <= day_of(t).isoformat() <= TO])
        self.assertIn("<v>%d</v>" % (len(reqs) + findings), sheet)

    def test_counters_follow_changes(self):
        d = self.srv.login("dispatcher")
        cat = self.srv.sql("SELECT id FROM request_categories WHERE active = 1 LIMIT 1")[0][0]
        eid, gid = self.srv.sql("SELECT id, grid_id FROM enterprises WHERE grid_id IS NOT NULL "
                                "AND status = 'active' LIMIT 1")[0]
        q = A + "/matrix?source=requests&level=unit&from=%s&to=%s&grid_id=%d" % (FROM, TO, gid)
        before = self.admin.get(q).json["total"]
        r = d.post("/api/v1/requests", {"type": "help", "category_id": cat, "channel": "hotline",
                                        "content": "研判测试：路面破损", "enterprise_id": eid})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.admin.get(q).json["total"], before + 1)
        r = d.post("/api/v1/requests/%d/actions/void" % r.json["id"], {"internal_note": "重复登记"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.admin.get(q).json["total"], before)
        self.assertEqual(run_cli("stats", "check", "--db", self.srv.db).returncode, 0)

    def test_findings_move_with_their_enterprise(self):
        rows = self.srv.sql(
            "SELECT v.enterprise_id, e.grid_id, COUNT(*) FROM visit_findings f JOIN visits v "
            "ON v.id = f.visit_id JOIN enterprises e ON e.id = v.enterprise_id "
            "GROUP BY v.enterprise_id ORDER BY COUNT(*) DESC LIMIT 1")
        self.assertTrue(rows, "the demo has visit findings")
        eid, old, n = rows[0]
        new, lon, lat = self.srv.sql("SELECT id, label_lon, label_lat FROM grids WHERE "
                                     "level = 'unit' AND id <> ? LIMIT 1", (old,))[0]
        q = A + "/matrix?source=findings&level=unit&from=%s&to=%s&grid_id=%%d" % (FROM, TO)
        before_old = self.admin.get(q % old).json["total"]
        before_new = self.admin.get(q % new).json["total"]
        r = self.admin.patch("/api/v1/enterprises/%d" % eid, {"lat": lat, "lon": lon})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["grid_id"], new)
        self.assertEqual(self.admin.get(q % old).json["total"], before_old - n)
        self.assertEqual(self.admin.get(q % new).json["total"], before_new + n)
        self.assertEqual(run_cli("stats", "check", "--db", self.srv.db).returncode, 0)

    def test_grid_worker_sees_its_grid(self):
        gid = self.srv.sql("SELECT grid_id FROM users WHERE login = 'gridworker'")[0][0]
        self.assertTrue(gid)
        gw = self.srv.login("gridworker")
        r = gw.get(A + "/matrix?source=requests&level=unit&from=%s&to=%s" % (FROM, TO))
        self.assertEqual(r.status, 200, r)
        self.assertTrue({g["id"] for g in r.json["grids"]} <= {gid})
        n = sum(1 for _, g, _ in self.requests() if g == gid)
        self.assertEqual(r.json["total"], n)
        other = self.srv.sql("SELECT id FROM grids WHERE level = 'unit' AND id <> ? LIMIT 1",
                             (gid,))[0][0]
        r = gw.get(A + "/matrix?level=unit&grid_id=%d" % other)
        self.assertEqual(r.json["total"], 0)

    def test_permissions_and_bad_parameters(self):
        for login in ("enterprise", "handler", "bank"):
            self.assertEqual(self.srv.login(login).get(A + "/matrix").status, 403, login)
        for q, status, field in (("level=city", 400, "level"), ("source=x", 400, "source"),
                                 ("from=2026-13-01", 400, "from"),
                                 ("from=2026-05-01&to=2026-04-01", 422, "to"),
                                 ("from=2020-01-01&to=2026-01-01", 422, "from"),
                                 ("grid_id=-1", 400, "grid_id")):
            r = self.admin.get(A + "/matrix?" + q)
            self.assertEqual((r.status, r.error.get("field")), (status, field), (q, r))
        r = self.admin.get(A + "/trend?bucket=year")
        self.assertEqual((r.status, r.error.get("field")), (400, "bucket"))
        r = self.admin.get(A + "/matrix?grid_id=999999")
        self.assertEqual((r.status, r.error.get("field")), (404, "grid_id"))


if __name__ == "__main__":
    unittest.main()
