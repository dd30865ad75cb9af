"""Grids through the API and the CLI: GeoJSON import all-or-nothing with errors naming
the feature and field, re-import idempotent, dry runs that write nothing, the coverage
report (gaps, overlaps), placement of enterprises and requests checked against a
brute-force point-in-rectangle computed here, points on shared edges going to the
smaller id, points in holes, a grid worker's and a grid leader's scope, deletion
re-placing, the GeoJSON map with metrics equal to direct counts, and who may do what."""
import json
import os
import random
import tempfile
import unittest

from harness import Server, run_cli

GRIDS = "/api/v1/grids"

# A fictional district 410199 over the demo market's area: two streets (west, east),
# each two communities (south, north), each 2 x 2 unit grids; unit grid 001 of the
# first community has a square hole, filled by a 17th unit grid (a grid inside
# another's hole). East of X1 nothing is covered: those enterprises are "outside".
X0, X1 = 113.50, 113.66
Y0, Y1 = 34.60, 34.78
HOLE = (113.51, 34.61, 113.52, 34.62)


def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def feature(code, name, rings, level=None):
    props = {"code": code, "name": name}
    if level:
        props["level"] = level
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Polygon", "coordinates": rings}}


def district():
    """(features, unit rectangles {code: (x0,y0,x1,y1, hole or None)})."""
    feats = [feature("410199", "测试区", [rect(X0, Y0, X1, Y1)], "district")]
    units = {}
    xm = (X0 + X1) / 2
    ym = (Y0 + Y1) / 2
    for s, (sx0, sx1) in enumerate(((X0, xm), (xm, X1)), 1):
        sc = "410199%03d" % s
        feats.append(feature(sc, "街道%d" % s, [rect(sx0, Y0, sx1, Y1)]))
        for c, (cy0, cy1) in enumerate(((Y0, ym), (ym, Y1)), 1):
            cc = sc + "%03d" % c
            feats.append(feature(cc, "社区%d-%d" % (s, c), [rect(sx0, cy0, sx1, cy1)]))
            xs = (sx0, (sx0 + sx1) / 2, sx1)
            ys = (cy0, (cy0 + cy1) / 2, cy1)
            k = 0
            for j in range(2):
                for i in range(2):
                    k += 1
                    uc = cc + "%03d" % k
                    r = (xs[i], ys[j], xs[i + 1], ys[j + 1])
                    hole = HOLE if (s, c, k) == (1, 1, 1) else None
                    rings = [rect(*r)] + ([rect(*hole)[::-1]] if hole else [])
                    feats.append(feature(uc, "网格%s" % uc[-7:], rings))
                    units[uc] = r + (hole,)
    units["410199001001005"] = HOLE + (None,)
    feats.append(feature("410199001001005", "洞中网格", [rect(*HOLE)]))
    return feats, units


def fc(feats):
    return {"type": "FeatureCollection", "features": feats}


def brute(units, ids, x, y):
    """Smallest id of the unit grids containing (x, y), edges included, holes excluded."""
    best = None
    for code, (x0, y0, x1, y1, hole) in units.items():
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            continue
        if hole and hole[0] < x < hole[2] and hole[1] < y < hole[3]:
            continue
        if best is None or ids[code] < best:
            best = ids[code]
    return best


class Grids(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="yqgrid-")
        db = os.path.join(cls.tmp, "yiqiban.db")
        run_cli("demo", "--db", db, "--enterprises", "300", "--no-grids")
        cls.srv = Server.start(db=db, tmpdir=cls.tmp)
        cls.admin = cls.srv.login("admin")
        cls.feats, cls.units = district()
        r = cls.admin.post(GRIDS + "/import", fc(cls.feats))
        assert r.status == 200, r
        cls.report = r.json
        cls.ids = {c: i for c, i in cls.srv.sql("SELECT code, id FROM grids")}

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_import_report(self):
        rep = self.report
        self.assertEqual(rep["created"], len(self.feats))
        self.assertEqual((rep["updated"], rep["unchanged"], rep["errors"]), (0, 0, []))
        cov = {c["code"]: c for c in rep["coverage"]}
        # an exact tessellation: no gap, no overlap at any level (the hole is filled)
        for code in ("410199", "410199001", "410199001001", "410199002002"):
            self.assertIn(code, cov)
            self.assertEqual(cov[code]["gap_m2"], 0, cov[code])
            self.assertEqual(cov[code]["overlap_m2"], 0, cov[code])
        self.assertEqual(cov["410199"]["children"], 2)
        self.assertEqual(cov["410199001001"]["children"], 5)
        # paths and parents follow the codes
        rows = self.srv.sql("SELECT g.code, g.level, p.code, g.path FROM grids g "
                            "LEFT JOIN grids p ON p.id = g.parent_id")
        for code, level, parent, path in rows:
            self.assertEqual(level, {6: "district", 9: "street", 12: "community",
                                     15: "unit"}[len(code)])
            self.assertEqual(parent, code[:-3] if len(code) > 6 else None)
            self.assertTrue(path.endswith("/%d/" % self.ids[code]), path)

    def test_reimport_is_idempotent_and_updates(self):
        r = self.admin.post(GRIDS + "/import", fc(self.feats))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["created"], r.json["updated"], r.json["unchanged"]),
                         (0, 0, len(self.feats)))
        self.assertEqual(r.json["placement"]["enterprises_moved"], 0)
        renamed = [dict(f) for f in self.feats]
        renamed[1] = json.loads(json.dumps(self.feats[1]))
        renamed[1]["properties"]["name"] = "街道一（更名）"
        r = self.admin.post(GRIDS + "/import", fc(renamed))
        self.assertEqual((r.json["created"], r.json["updated"]), (0, 1), r)
        self.assertEqual(self.srv.sql("SELECT name, version FROM grids WHERE code = '410199001'"),
                         [("街道一（更名）", 2)])
        r = self.admin.post(GRIDS + "/import", fc(self.feats))
        self.assertEqual(r.json["updated"], 1, r)

    def test_enterprises_placed_as_brute_force_says(self):
        rows = self.srv.sql("SELECT id, lon, lat, grid_id FROM enterprises "
                            "WHERE lat IS NOT NULL")
        self.assertGreater(len(rows), 100)
        inside = outside = 0
        for eid, lon, lat, gid in rows:
            want = brute(self.units, self.ids, lon, lat)
            self.assertEqual(gid, want, (eid, lon, lat))
            if want:
                inside += 1
            else:
                outside += 1
        self.assertGreater(inside, 50)
        self.assertGreater(outside, 0)  # east of X1
        r = self.admin.get(GRIDS + "/unplaced?limit=200")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["total"], outside)
        for it in r.json["items"]:
            self.assertIsNone(brute(self.units, self.ids, it["lon"], it["lat"]))

    def test_locate_agrees_with_brute_force(self):
        rnd = random.Random(7)
        pts = [(rnd.uniform(113.48, 113.70), rnd.uniform(34.58, 34.80)) for _ in range(150)]
        # vertices, shared edges, the hole's edge and inside, the district's outer edge
        xm, ym = (X0 + X1) / 2, (Y0 + Y1) / 2
        pts += [(xm, ym), (xm, 34.65), (113.54, ym), (X0, Y0), (X1, Y1), (X1, 34.7),
                (113.515, 34.615), (113.51, 34.615), (113.52, 34.62), (113.54, 34.645),
                (X1 + 1e-9, 34.7), (113.5, 34.7)]
        c = self.admin
        for x, y in pts:
            r = c.get(GRIDS + "/locate?lat=%r&lon=%r" % (y, x))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["grid_id"], brute(self.units, self.ids, x, y), (x, y))
            if r.json["grid_id"]:
                levels = [g["level"] for g in r.json["grids"]]
                self.assertEqual(levels, ["unit", "community", "street", "district"])

    def test_point_in_hole_belongs_to_the_hole_grid(self):
        r = self.admin.get(GRIDS + "/locate?lat=34.615&lon=113.515")
        self.assertEqual(r.json["grid_id"], self.ids["410199001001005"])
        # on the hole's edge both contain it: the smaller id (the holed grid) wins
        r = self.admin.get(GRIDS + "/locate?lat=34.615&lon=113.51")
        self.assertEqual(r.json["grid_id"], self.ids["410199001001001"])

    def test_requests_placed(self):
        c = self.srv.login("dispatcher")
        cat = self.srv.sql("SELECT id FROM request_categories WHERE active = 1 LIMIT 1")[0][0]
        r = c.post("/api/v1/requests", {"type": "help", "category_id": cat, "channel": "hotline",
                                        "content": "网格测试：路灯不亮", "contact_name": "张三",
                                        "contact_phone": "13800000000",
                                        "lat": 34.65, "lon": 113.53})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["grid_id"], brute(self.units, self.ids, 113.53, 34.65))
        # without a location: the enterprise's grid
        eid, gid = self.srv.sql("SELECT id, grid_id FROM enterprises WHERE grid_id IS NOT NULL "
                                "AND status = 'active' LIMIT 1")[0]
        r = c.post("/api/v1/requests", {"type": "help", "category_id": cat, "channel": "hotline",
                                        "content": "网格测试：企业诉求", "enterprise_id": eid})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["grid_id"], gid)
        # every placed request agrees with brute force / its enterprise
        for rid, lat, lon, g, eg in self.srv.sql(
                "SELECT r.id, r.lat, r.lon, r.grid_id, e.grid_id FROM requests r "
                "LEFT JOIN enterprises e ON e.id = r.enterprise_id"):
            want = brute(self.units, self.ids, lon, lat) if lat is not None else None
            self.assertEqual(g, want or eg, rid)
        self.assertEqual(run_cli("stats", "check", "--db", self.srv.db).returncode, 0)

    def test_bad_imports_write_nothing(self):
        before = self.srv.counts()
        bad = json.loads(json.dumps(self.feats[:3]))
        cases = []
        f = json.loads(json.dumps(bad))
        f[2]["geometry"]["coordinates"][0].pop()  # unclosed ring
        cases.append((f, "features[2].geometry"))
        f = json.loads(json.dumps(bad))
        f[1]["properties"]["code"] = "41019900A"
        cases.append((f, "features[1].properties.code"))
        f = json.loads(json.dumps(bad))
        f[1]["properties"]["name"] = ""
        cases.append((f, "features[1].properties.name"))
        f = json.loads(json.dumps(bad))
        f[0]["properties"]["level"] = "street"
        cases.append((f, "features[0].properties.level"))
        f = json.loads(json.dumps(bad))
        f[2]["geometry"]["coordinates"] = [[[113.5, 34.6], [113.6, 34.7], [113.6, 34.6],
                                            [113.5, 34.7], [113.5, 34.6]]]  # bow-tie
        cases.append((f, "features[2].geometry"))
        f = json.loads(json.dumps(bad))
        f[2]["geometry"]["coordinates"][0][1] = [200.0, 34.6]
        cases.append((f, "features[2].geometry"))
        f = json.loads(json.dumps(bad)) + [feature("410188001", "孤儿街道",
                                                   [rect(113.5, 34.6, 113.6, 34.7)])]
        cases.append((f, "features[3].properties.code"))  # parent 410188 nowhere
        f = json.loads(json.dumps(bad)) + [json.loads(json.dumps(bad[1]))]
        cases.append((f, "features[3].properties.code"))  # twice in the file
        for feats, field in cases:
            r = self.admin.post(GRIDS + "/import", fc(feats))
            self.assertEqual(r.status, 422, (field, r))
            self.assertTrue(r.error["field"].startswith(field), (field, r.error))
            self.assertTrue(r.error["message_zh"] and r.error["message"])
            self.assertTrue(r.json["errors"], r)
        for body, field in (({"type": "Feature"}, "type"),
                            ({"type": "FeatureCollection", "features": []}, "features"),
                            ({"type": "FeatureCollection"}, "features")):
            r = self.admin.post(GRIDS + "/import", body)
            self.assertEqual((r.status, r.error.get("field")), (422, field), r)
        r = self.admin.request("POST", GRIDS + "/import", raw=b"{not json")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.srv.counts(), before)

    def test_dry_run_writes_nothing(self):
        before = self.srv.counts()
        extra = feature("410199002002009", "新网格", [rect(113.65, 34.77, 113.66, 34.78)])
        r = self.admin.post(GRIDS + "/import?dry_run=1", fc(self.feats + [extra]))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["dry_run"])
        self.assertEqual(r.json["created"], 1)
        cov = {c["code"]: c for c in r.json["coverage"]}
        self.assertGreater(cov["410199002002"]["overlap_m2"], 0)  # 009 overlaps 004
        self.assertEqual(sorted(cov["410199002002"]["overlap_between"]),
                         ["410199002002004", "410199002002009"])
        self.assertEqual(self.srv.counts(), before)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM grids WHERE code = '410199002002009'"),
                         [(0,)])

    def test_gap_reported(self):
        # a new street and community east of the district whose unit grids leave a quarter
        # uncovered (dry run)
        x0, x1, y0, y1 = 113.66, 113.70, 34.60, 34.64
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        feats = [feature("410199003", "街道3", [rect(x0, y0, x1, y1)]),
                 feature("410199003001", "社区3-1", [rect(x0, y0, x1, y1)]),
                 feature("410199003001001", "网格3-1-1", [rect(x0, y0, xm, ym)]),
                 feature("410199003001002", "网格3-1-2", [rect(xm, y0, x1, ym)]),
                 feature("410199003001003", "网格3-1-3", [rect(x0, ym, xm, y1)])]
        r = self.admin.post(GRIDS + "/import?dry_run=1", fc(feats))
        self.assertEqual(r.status, 200, r)
        cov = {c["code"]: c for c in r.json["coverage"]}
        c = cov["410199003001"]
        self.assertEqual(c["overlap_m2"], 0, c)
        self.assertGreater(c["gap_m2"], 0.20 * c["area_m2"], c)
        self.assertLess(c["gap_m2"], 0.30 * c["area_m2"], c)
        x, y = c["gap_example"]
        self.assertTrue(xm <= x <= x1 and ym <= y <= y1, c)
        self.assertEqual(cov["410199003"]["gap_m2"], 0)

    def test_grid_worker_scope(self):
        uid = self.srv.sql("SELECT id FROM users WHERE login = 'gridworker'")[0][0]
        unit = self.ids["410199001002003"]
        community = self.ids["410199001002"]
        gw = self.srv.login("gridworker")
        try:
            # unassigned: sees no enterprise, no grid
            self.admin.delete(GRIDS + "/%d/workers/%d" % (unit, uid))
            r = gw.get("/api/v1/enterprises?limit=200")
            self.assertEqual((r.status, r.json["items"]), (200, []), r)
            r = self.admin.put(GRIDS + "/%d/workers/%d" % (unit, uid))
            self.assertEqual(r.status, 200, r)
            self.assertEqual([w["id"] for w in r.json["items"]], [uid])
            want = {i for i, in self.srv.sql("SELECT id FROM enterprises WHERE grid_id = ?",
                                            (unit,))}
            self.assertTrue(want)
            got = {e["id"] for e in gw.get("/api/v1/enterprises?limit=200").json["items"]}
            self.assertEqual(got, want)
            self.assertEqual([g["id"] for g in gw.get(GRIDS).json["items"]], [unit])
            other = min(want ^ {i for i, in self.srv.sql("SELECT id FROM enterprises")})
            self.assertEqual(gw.get("/api/v1/enterprises/%d" % other).status, 404)
            self.assertEqual(gw.get(GRIDS + "/%d" % community).status, 404)
            # a grid leader (on the community) reaches every grid below it
            self.admin.put(GRIDS + "/%d/workers/%d" % (community, uid))
            below = {i for i, in self.srv.sql(
                "SELECT e.id FROM enterprises e JOIN grids g ON g.id = e.grid_id "
                "WHERE g.code LIKE '410199001002%'")}
            got = {e["id"] for e in gw.get("/api/v1/enterprises?limit=200").json["items"]}
            self.assertEqual(got, below)
            self.assertGreater(len(below), len(want))
            one = min(below - want)
            self.assertEqual(gw.get("/api/v1/enterprises/%d" % one).status, 200)
            self.assertEqual(len(gw.get(GRIDS + "?level=unit").json["items"]), 4)
            # only grid workers can be assigned
            hid = self.srv.sql("SELECT id FROM users WHERE login = 'handler'")[0][0]
            r = self.admin.put(GRIDS + "/%d/workers/%d" % (unit, hid))
            self.assertEqual((r.status, r.error["field"]), (422, "user_id"), r)
            r = self.admin.delete(GRIDS + "/%d/workers/%d" % (unit, uid))
            self.assertEqual((r.status, r.error["field"]), (404, "user_id"), r)
        finally:
            self.admin.delete(GRIDS + "/%d/workers/%d" % (community, uid))

    def test_map_metrics_equal_direct_counts(self):
        r = self.admin.get(GRIDS + "/map.geojson?level=unit")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/geo+json"))
        feats = r.json["features"]
        self.assertEqual(len(feats), 17)
        for f in feats:
            p = f["properties"]
            n = self.srv.sql("SELECT COUNT(*) FROM enterprises WHERE grid_id = ? AND "
                             "status = 'active'", (p["id"],))[0][0]
            self.assertEqual(p["enterprises"], n, p["code"])
            self.assertEqual(f["geometry"]["type"], "Polygon")
        r = self.admin.get(GRIDS + "/map.geojson?level=district&from=2025-01-01&to=2026-12-31")
        p = r.json["features"][0]["properties"]
        self.assertEqual(p["enterprises"], self.srv.sql(
            "SELECT COUNT(*) FROM enterprises WHERE grid_id IS NOT NULL AND status = 'active'")[0][0])
        self.assertEqual(p["received"], self.srv.sql(
            "SELECT COUNT(*) FROM requests WHERE grid_id IS NOT NULL")[0][0])
        g = self.admin.get(GRIDS + "/%d" % self.ids["410199"]).json
        self.assertEqual(g["enterprises"], p["enterprises"])
        self.assertEqual(g["geometry"]["type"], "Polygon")
        self.assertEqual(self.admin.get(GRIDS + "/map.geojson?from=2026-01-01").status, 400)
        self.assertEqual(self.admin.get(GRIDS + "/map.geojson?level=city").status, 400)

    def test_list_filters_cover_the_grid_and_below(self):
        """?grid_id= on the request and enterprise lists: that grid and every grid below it
        (requests and enterprises sit in unit grids; the map and the analysis drill down from
        streets and communities)."""
        def ids(path, **q):
            out, after = set(), None
            while True:
                args = dict(q, limit=200, **({"after": after} if after else {}))
                qs = "&".join("%s=%s" % kv for kv in args.items())
                r = self.admin.get(path + "?" + qs)
                self.assertEqual(r.status, 200, r)
                out |= {it["id"] for it in r.json["items"]}
                after = r.json["next"]
                if not after:
                    return out
        for code in ("410199", "410199001", "410199001001", "410199001001001"):
            gid = self.ids[code]
            path = self.srv.sql("SELECT path FROM grids WHERE id = ?", (gid,))[0][0]
            want_e = {i for (i,) in self.srv.sql(
                "SELECT e.id FROM enterprises e JOIN grids g ON g.id = e.grid_id "
                "WHERE g.path LIKE ?", (path + "%",))}
            self.assertEqual(ids("/api/v1/enterprises", grid_id=gid), want_e, code)
            want_r = {i for (i,) in self.srv.sql(
                "SELECT r.id FROM requests r JOIN grids g ON g.id = r.grid_id "
                "WHERE g.path LIKE ?", (path + "%",))}
            self.assertEqual(ids("/api/v1/requests", grid_id=gid), want_r, code)
            if code == "410199":
                self.assertGreater(len(want_e), 50)
        self.assertEqual(ids("/api/v1/requests", grid_id=999999), set())

    def test_delete(self):
        r = self.admin.delete(GRIDS + "/%d" % self.ids["410199002"])
        self.assertEqual((r.status, r.error.get("field")), (409, "id"), r)
        self.assertEqual(self.admin.delete(GRIDS + "/999999").status, 404)
        # the hole's grid: its enterprises fall back to no grid, the holed one keeps its own
        extra = feature("410199002002009", "临时网格", [rect(113.70, 34.70, 113.71, 34.71)])
        r = self.admin.post(GRIDS + "/import", fc([extra]))
        self.assertEqual((r.status, r.json["created"]), (200, 1), r)
        gid = self.srv.sql("SELECT id FROM grids WHERE code = '410199002002009'")[0][0]
        r = self.admin.delete(GRIDS + "/%d" % gid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM grids WHERE id = ?", (gid,)), [(0,)])

    def test_permissions_and_bad_queries(self):
        d = self.srv.login("dispatcher")
        self.assertEqual(d.get(GRIDS).status, 200)
        self.assertEqual(d.post(GRIDS + "/import", fc(self.feats)).status, 403)
        self.assertEqual(d.get(GRIDS + "/unplaced").status, 403)
        ent = self.srv.login("enterprise")
        self.assertEqual(ent.get(GRIDS).status, 403)
        self.assertEqual(ent.get(GRIDS + "/map.geojson").status, 403)
        for q, field in (("lat=91&lon=113", "lat"), ("lat=34&lon=abc", "lon"),
                         ("lon=113", "lat"), ("lat=34&lon=nan", "lon")):
            r = self.admin.get(GRIDS + "/locate?" + q)
            self.assertEqual((r.status, r.error.get("field")), (400, field), (q, r))
        r = self.admin.get(GRIDS + "?level=x")
        self.assertEqual((r.status, r.error.get("field")), (400, "level"))

    def test_cli_import_export(self):
        path = os.path.join(self.tmp, "grids.geojson")
        with open(path, "w") as f:
            json.dump(fc(self.feats), f)
        out = run_cli("grid", "import", path, "--dry-run", "--db", self.srv.db).stdout
        rep = json.loads(out)
        self.assertTrue(rep["errors"] == [] and rep["unchanged"] + rep["updated"] == len(self.feats))
        out = run_cli("grid", "export", "--level", "street", "--db", self.srv.db).stdout
        fcj = json.loads(out)
        self.assertEqual(sorted(f["properties"]["code"] for f in fcj["features"]),
                         ["410199001", "410199002"])
        with open(path, "w") as f:
            f.write("{broken")
        p = run_cli("grid", "import", path, "--db", self.srv.db, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("grids.geojson", p.stderr)


if __name__ == "__main__":
    unittest.main()
