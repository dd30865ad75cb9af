"""The visit system (走访服务制度) through the API: policy resolution (the strictest matching
policy applies, recomputed when policies change), due dates counted from the last visit or the
registration date, visits recorded far away flagged with a warning (not refused), future and
pre-registration visits refused naming the field, findings raising requests on the enterprise's
behalf (channel grid, counted by the rates and the analysis), a grid worker recording and reading
only in its grid, tasks and per-worker figures equal to a direct count, photos checked by their
bytes, the blind-spot report (overdue visits appearing and disappearing, unit grids without a
worker, unanswered requests by grid) equal to a direct count, campaigns whose progress equals a
direct count, and every refused write leaving every table as it was."""
import http.client
import struct
import time
import unittest
import zlib

import gb32100
from harness import Server, run_cli

ENT = "/api/v1/enterprises"
POLICIES = "/api/v1/visit-policies"
VISITS = "/api/v1/visits"
TASKS = "/api/v1/visit-tasks"
CAMPAIGNS = "/api/v1/visit-campaigns"
REPORT = "/api/v1/reports/blind-spots"
DAY = 86400000
OFFSET = 8 * 3600000  # Asia/Shanghai, fixed UTC+8


def now_ms():
    return int(time.time() * 1000)


def local_day(ms):
    return (ms + OFFSET) // DAY


def day_of(date):
    y, m, d = map(int, date.split("-"))
    import datetime
    return (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days


def date_of(day):
    import datetime
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


def due_at(anchor_day, interval):
    """End (UTC ms) of the local day anchor + interval."""
    return (anchor_day + interval + 1) * DAY - OFFSET - 1


def png(seed=0):
    """A small valid PNG (1x1, a colour from the seed)."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    raw = b"\x00" + bytes([seed & 255, (seed >> 8) & 255, 7])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


def raw_request(client, method, path, body=b"", content_type="application/octet-stream"):
    """(status, headers, bytes) with the client's credentials and a raw body."""
    h = {"Content-Type": content_type}
    if client.cookie:
        h["Cookie"] = client.cookie
        if client.csrf:
            h["X-CSRF-Token"] = client.csrf
    if client.bearer:
        h["Authorization"] = "Bearer " + client.bearer
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def assert_states_match_rule(tc, srv):
    """Every enterprise's visit state is what the rule gives with the policies as they are."""
    pols = srv.sql("SELECT id, interval_days, match_key, match_tag, match_size, "
                   "match_section FROM visit_policies")
    rows = srv.sql(
        "SELECT e.id, e.status, e.is_key, e.tags, e.size_class, e.industry_section, "
        "s.policy_id, s.next_due_at, s.anchor_day FROM enterprises e "
        "JOIN visit_state s ON s.enterprise_id = e.id")
    tc.assertEqual(len(rows), srv.sql("SELECT COUNT(*) FROM enterprises")[0][0])
    for eid, status, is_key, tags, size, sec, pol, due, anchor in rows:
        best = None
        if status == "active":
            for p in pols:
                if p[2] is not None and p[2] != is_key:
                    continue
                if p[3] is not None and p[3] not in tags.split(","):
                    continue
                if p[4] is not None and p[4] != size:
                    continue
                if p[5] is not None and p[5] != sec:
                    continue
                if best is None or (p[1], p[0]) < (best[1], best[0]):
                    best = p
        tc.assertEqual(pol, best and best[0], eid)
        tc.assertEqual(due, best and due_at(anchor, best[1]), eid)


class Visits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = srv = Server.start()
        cls.uid = dict(srv.sql("SELECT login, id FROM users"))
        cls.c = {name: srv.login(name) for name in (
            "admin", "leader", "dispatcher", "supervisor", "handler", "enterprise", "gridworker")}
        cls.admin, cls.gw = cls.c["admin"], cls.c["gridworker"]
        cls.grid = srv.sql("SELECT grid_id FROM users WHERE login = 'gridworker'")[0][0]
        g = cls.admin.get("/api/v1/grids/%d" % cls.grid).json
        cls.here = (g["label"][1], g["label"][0])  # lat, lon inside the worker's grid
        # another unit grid with its own worker
        login, other = srv.sql(
            "SELECT u.login, u.grid_id FROM users u JOIN grids g ON g.id = u.grid_id "
            "WHERE u.login LIKE 'gw%' AND g.level = 'unit' AND u.grid_id <> ? "
            "ORDER BY u.id LIMIT 1", (cls.grid,))[0]
        cls.other_login, cls.other_grid = login, other
        cls.c[login] = srv.login(login)
        g = cls.admin.get("/api/v1/grids/%d" % other).json
        cls.there = (g["label"][1], g["label"][0])
        cats = cls.admin.get("/api/v1/request-categories").json["items"]
        cls.cat = [c["id"] for c in cats if c.get("active", True)][:3]
        cls.n = 880000

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def new_ent(self, where=None, registered_on="2020-01-01", **kw):
        type(self).n += 1
        lat, lon = where or self.here
        body = {"credit_code": gb32100.make(type(self).n),
                "name": "走访测试企业%d有限公司" % type(self).n, "lat": lat, "lon": lon,
                "registered_on": registered_on}
        body.update(kw)
        r = self.admin.post(ENT, body)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def state(self, ent, client=None):
        r = (client or self.admin).get("%s/%d/visit-state" % (ENT, ent))
        self.assertEqual(r.status, 200, r)
        return r.json

    def visit(self, ent, client=None, at=None, where=None, status=201, **kw):
        lat, lon = where or self.here
        body = {"enterprise_id": ent, "summary": "了解经营情况。", "lat": lat, "lon": lon}
        if at is not None:
            body["visited_at"] = at
        body.update(kw)
        r = (client or self.gw).post(VISITS, body)
        self.assertEqual(r.status, status, r)
        return r

    def all_pages(self, client, path, key):
        """Every item of a list paged by an id (`next`)."""
        items, after = [], None
        while True:
            sep = "&" if "?" in path else "?"
            r = client.get(path + (sep + "after=%s" % after if after else ""))
            self.assertEqual(r.status, 200, r)
            items += r.json["items"]
            after = r.json["next"]
            if not after:
                return {x[key]: x for x in items}

    def section(self, client, code):
        r = client.get(REPORT + "?section=%s&limit=1000" % code)
        self.assertEqual(r.status, 200, r)
        s = r.json["sections"][0]
        return s["total"], [it["id"] for it in s["items"]], s

    def refused(self, fn):
        """fn() must change no table at all."""
        before = self.srv.counts()
        fn()
        self.assertEqual(before, self.srv.counts(), "a refused request wrote something")

    # ---- policies and due dates ----

    def test_policy_resolution_and_due_dates(self):
        tag = "走访标签%d" % (type(self).n % 1000)
        plain = self.new_ent()
        key = self.new_ent(is_key=True)
        tagged = self.new_ent(tags=[tag])
        both = self.new_ent(is_key=True, tags=[tag], registered_on="2024-05-06")
        reg = day_of("2020-01-01")
        # the demo's policies: every active enterprise 90 days, key ones 30
        self.assertEqual(self.state(plain)["policy"]["interval_days"], 90)
        self.assertEqual(self.state(plain)["next_due_at"], due_at(reg, 90))
        self.assertTrue(self.state(plain)["overdue"])
        self.assertEqual(self.state(key)["policy"]["interval_days"], 30)

        r = self.admin.post(POLICIES, {"name": "标签企业20天" + tag, "interval_days": 20,
                                       "match": {"tag": tag}})
        self.assertEqual(r.status, 201, r)
        pid = r.json["id"]
        self.assertGreaterEqual(r.json["recomputed"], 2)
        self.assertEqual(r.json["match"], {"is_key": None, "tag": tag, "size_class": None,
                                           "industry_section": None})
        self.assertEqual(self.state(tagged)["policy"]["id"], pid)
        self.assertEqual(self.state(both)["policy"]["id"], pid)  # 20 < 30: the strictest
        self.assertEqual(self.state(both)["next_due_at"], due_at(day_of("2024-05-06"), 20))
        self.assertEqual(self.state(plain)["policy"]["interval_days"], 90)
        self.assertEqual(r.json["enterprises"], 2)

        # looser now: the key enterprise goes back to its 30 days, the other stays tagged
        r = self.admin.patch("%s/%d" % (POLICIES, pid), {"interval_days": 40})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["version"], 2)
        self.assertEqual(self.state(both)["policy"]["interval_days"], 30)
        self.assertEqual(self.state(tagged)["policy"]["interval_days"], 40)
        # criteria combine: key enterprises with the tag only
        r = self.admin.patch("%s/%d" % (POLICIES, pid), {"interval_days": 7,
                                                         "match": {"tag": tag, "is_key": True}})
        self.assertEqual(self.state(both)["policy"]["interval_days"], 7)
        self.assertEqual(self.state(tagged)["policy"]["interval_days"], 90)

        # the list is strictest first and counts what each policy applies to
        items = self.admin.get(POLICIES).json["items"]
        self.assertEqual([p["interval_days"] for p in items],
                         sorted(p["interval_days"] for p in items))
        for p in items:
            self.assertEqual(p["enterprises"], self.srv.sql(
                "SELECT COUNT(*) FROM visit_state WHERE policy_id = ?", (p["id"],))[0][0])
        # a registry change moves the duty in the same write
        r = self.admin.patch("%s/%d" % (ENT, tagged), {"is_key": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.state(tagged)["policy"]["interval_days"], 7)
        r = self.admin.patch("%s/%d" % (ENT, tagged), {"status": "moved_out"})
        self.assertEqual(r.status, 200, r)
        st = self.state(tagged)
        self.assertIsNone(st["policy"])
        self.assertIsNone(st["next_due_at"])

        r = self.admin.delete("%s/%d" % (POLICIES, pid))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.state(both)["policy"]["interval_days"], 30)
        self.assertEqual(self.admin.get("%s/%d" % (POLICIES, pid)).status, 404)
        # every state equals a recount by the rule, from the database
        self.assert_states_match_rule()

    def assert_states_match_rule(self):
        assert_states_match_rule(self, self.srv)

    def test_policy_refusals_name_the_field(self):
        cases = [
            ({"interval_days": 3}, 400, "name"),
            ({"name": "x"}, 400, "interval_days"),
            ({"name": "x", "interval_days": 0}, 422, "interval_days"),
            ({"name": "x", "interval_days": 3651}, 422, "interval_days"),
            ({"name": "x", "interval_days": "7"}, 400, "interval_days"),
            ({"name": "  ", "interval_days": 7}, 422, "name"),
            ({"name": "x" * 65, "interval_days": 7}, 422, "name"),
            ({"name": "x", "interval_days": 7, "match": {"size_class": "huge"}}, 422,
             "match.size_class"),
            ({"name": "x", "interval_days": 7, "match": {"industry_section": "Z"}}, 422,
             "match.industry_section"),
            ({"name": "x", "interval_days": 7, "match": {"tag": "a,b"}}, 422, "match.tag"),
            ({"name": "x", "interval_days": 7, "match": {"is_key": "yes"}}, 400, "match.is_key"),
            ({"name": "x", "interval_days": 7, "match": {"colour": "red"}}, 400, "match.colour"),
            ({"name": "x", "interval_days": 7, "match": [1]}, 400, "match"),
            ({"name": "x", "interval_days": 7, "extra": 1}, 400, "extra"),
            ({"name": "存续企业每季度走访", "interval_days": 7}, 409, "name"),
        ]
        for body, status, field in cases:
            with self.subTest(body=body):
                self.refused(lambda: assert_error(
                    self, self.admin.post(POLICIES, body), status,
                    {400: "bad_request", 409: "conflict", 422: "unprocessable"}[status], field))
        for login in ("gridworker", "dispatcher", "supervisor", "handler"):
            assert_error(self, self.c[login].post(POLICIES, {"name": "x", "interval_days": 7}),
                         403, "forbidden")

    # ---- visits ----

    def test_visit_moves_the_due_date_and_an_older_one_does_not(self):
        ent = self.new_ent()
        self.assertTrue(self.state(ent)["overdue"])
        t1 = now_ms() - 10 * DAY
        r = self.visit(ent, at=t1, met_name="王伟", met_role="总经理")
        v = r.json
        self.assertEqual((v["enterprise_id"], v["worker_id"], v["visited_at"]),
                         (ent, self.uid["gridworker"], t1))
        self.assertEqual(v["met"], {"name": "王伟", "role": "总经理"})
        self.assertFalse(v["far"])
        self.assertEqual(v["distance_m"], 0)
        self.assertEqual(v["warnings"], [])
        self.assertEqual(v["state"]["next_due_at"], due_at(local_day(t1), 90))
        st = self.state(ent)
        self.assertEqual((st["last_visit_id"], st["last_visit_at"], st["visits"]), (v["id"], t1, 1))
        self.assertFalse(st["overdue"])
        self.assertEqual(st["days_left"], local_day(t1) + 90 - local_day(now_ms()))
        # an older visit recorded later counts, but the latest stays the anchor
        r = self.visit(ent, at=t1 - 10 * DAY)
        st = self.state(ent)
        self.assertEqual((st["last_visit_at"], st["visits"]), (t1, 2))
        self.assertEqual(st["next_due_at"], due_at(local_day(t1), 90))
        # audited in the same write
        row = self.srv.sql("SELECT entity, entity_id, action, actor_login FROM audit_log "
                           "WHERE entity = 'visit' AND entity_id = ?", (r.json["id"],))
        self.assertEqual(row, [("visit", r.json["id"], "create", "gridworker")])

    def test_far_visit_is_recorded_with_a_warning(self):
        ent = self.new_ent()
        lat, lon = self.here
        far = (lat + 0.018, lon)  # about 2 km north
        r = self.visit(ent, where=far)
        v = r.json
        self.assertTrue(v["far"])
        self.assertTrue(1950 <= v["distance_m"] <= 2050, v["distance_m"])
        w = [x for x in v["warnings"] if x["code"] == "far_from_enterprise"]
        self.assertEqual(len(w), 1, v["warnings"])
        self.assertEqual(w[0]["threshold_m"], 500)
        self.assertEqual(w[0]["distance_m"], v["distance_m"])
        self.assertTrue(w[0]["message"] and w[0]["message_zh"])
        self.assertEqual(self.srv.sql("SELECT far FROM visits WHERE id = ?", (v["id"],)), [(1,)])
        self.assertIn(v["id"], [x["id"] for x in self.admin.get(
            VISITS + "?far=1&enterprise_id=%d" % ent).json["items"]])
        # the threshold is a setting
        self.assertEqual(self.admin.put("/api/v1/settings",
                                        {"visits.max_distance_m": 5000}).status, 200)
        try:
            v2 = self.visit(ent, where=far).json
            self.assertFalse(v2["far"])
            self.assertEqual(v2["warnings"], [])
        finally:
            self.admin.put("/api/v1/settings", {"visits.max_distance_m": 500})
        # without a position: recorded, with a warning that nothing was checked
        r = self.gw.post(VISITS, {"enterprise_id": ent, "summary": "电话回访。"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual([x["code"] for x in r.json["warnings"]], ["no_position"])
        self.assertIsNone(r.json["distance_m"])
        # (an enterprise without a location is in no grid: no grid worker reaches it)

    def test_refused_visits_name_the_field_and_write_nothing(self):
        ent = self.new_ent(registered_on="2025-01-10")
        gone = self.new_ent(status="deregistered")
        elsewhere = self.new_ent(where=self.there)
        base = {"enterprise_id": ent, "summary": "了解经营情况。"}
        now = now_ms()
        finding = {"category_id": self.cat[0], "description": "问题"}
        cases = [
            (dict(base, visited_at=now + DAY), 422, "visited_at"),
            (dict(base, visited_at=now + 10 * 60000), 422, "visited_at"),
            (dict(base, visited_at=(day_of("2025-01-09") * DAY) + 12 * 3600000 - OFFSET), 422,
             "visited_at"),
            (dict(base, visited_at=0), 422, "visited_at"),
            (dict(base, visited_at="today"), 400, "visited_at"),
            ({"summary": "x"}, 400, "enterprise_id"),
            (dict(base, enterprise_id=999999), 422, "enterprise_id"),
            (dict(base, enterprise_id=gone), 422, "enterprise_id"),
            (dict(base, enterprise_id=elsewhere), 403, "enterprise_id"),
            ({"enterprise_id": ent}, 400, "summary"),
            (dict(base, summary=" \n "), 422, "summary"),
            (dict(base, summary="长" * 2001), 422, "summary"),
            (dict(base, met_name="名" * 33), 422, "met_name"),
            (dict(base, lat=34.7), 400, "lon"),
            (dict(base, lon=113.6), 400, "lat"),
            (dict(base, lat=91, lon=113.6), 422, "lat"),
            (dict(base, lat=34.7, lon=-181), 422, "lon"),
            (dict(base, colour="red"), 400, "colour"),
            (dict(base, findings={"a": 1}), 400, "findings"),
            (dict(base, findings=[1]), 400, "findings[0]"),
            (dict(base, findings=[finding, {"description": "x"}]), 400,
             "findings[1].category_id"),
            (dict(base, findings=[{"category_id": self.cat[0]}]), 400, "findings[0].description"),
            (dict(base, findings=[dict(finding, description="  ")]), 422,
             "findings[0].description"),
            (dict(base, findings=[dict(finding, category_id=999999)]), 422,
             "findings[0].category_id"),
            (dict(base, findings=[dict(finding, type="praise")]), 422, "findings[0].type"),
            (dict(base, findings=[dict(finding, raise_request="yes")]), 400,
             "findings[0].raise_request"),
            (dict(base, findings=[dict(finding, extra=1)]), 400, "findings[0].extra"),
            (dict(base, findings=[finding] * 21), 422, "findings"),
        ]
        names = {400: "bad_request", 403: "forbidden", 422: "unprocessable"}
        for body, status, field in cases:
            with self.subTest(field=field, body=str(body)[:80]):
                self.refused(lambda: assert_error(self, self.gw.post(VISITS, body), status,
                                                  names[status], field))
        # a refused visit with a finding to raise creates no request either
        self.refused(lambda: assert_error(
            self, self.gw.post(VISITS, dict(base, visited_at=now + DAY, findings=[
                dict(finding, raise_request=True)])), 422, "unprocessable", "visited_at"))
        # the same day as the registration is fine
        self.visit(ent, at=day_of("2025-01-10") * DAY + 12 * 3600000 - OFFSET)
        # only grid workers record visits
        for login in ("admin", "leader", "dispatcher", "supervisor", "handler", "enterprise"):
            self.refused(lambda: assert_error(self, self.c[login].post(VISITS, base), 403,
                                              "forbidden"))

    def test_findings_raise_requests_on_the_enterprises_behalf(self):
        ent = self.new_ent()
        reqs_before = self.srv.sql("SELECT COUNT(*) FROM requests")[0][0]
        stats_before = self.srv.sql(
            "SELECT COALESCE(SUM(n), 0) FROM grid_stats WHERE source = 'finding'")[0][0]
        r = self.visit(ent, met_name="李娜", findings=[
            {"category_id": self.cat[0], "description": "门前道路破损，货车进出困难。",
             "raise_request": True},
            {"category_id": self.cat[1], "description": "希望了解稳岗补贴政策。"},
            {"category_id": self.cat[2], "description": "举报隔壁仓库违规堆放易燃物。",
             "raise_request": True, "type": "report"}])
        v = r.json
        self.assertEqual((v["findings"], v["requests"]), (3, 2))
        self.assertEqual(v["finding_list"], self.admin.get("%s/%d" % (VISITS, v["id"])).json[
            "finding_list"])
        f = v["finding_list"]
        self.assertEqual([x["seq"] for x in f], [1, 2, 3])
        self.assertEqual([x["raise_request"] for x in f], [True, False, True])
        self.assertIsNone(f[1]["request_id"])
        for x, typ in ((f[0], "help"), (f[2], "report")):
            q = self.admin.get("/api/v1/requests/%d" % x["request_id"])
            self.assertEqual(q.status, 200, q)
            q = q.json
            self.assertEqual(q["channel"], "grid")
            self.assertEqual(q["type"], typ)
            self.assertEqual(q["enterprise_id"], ent)
            self.assertEqual(q["category_id"], x["category_id"])
            self.assertEqual(q["content"], x["description"])
            self.assertEqual(q["state"], "received")
            self.assertEqual(x["request_number"], q["number"])
            self.assertEqual(self.srv.sql("SELECT created_by, contact_name FROM requests "
                                          "WHERE id = ?", (x["request_id"],)),
                             [(self.uid["gridworker"], "李娜")])
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM requests")[0][0], reqs_before + 2)
        # the requests are in the worker's grid, visible to it, and counted
        mine = self.gw.get("/api/v1/requests?channel=grid&limit=200").json["items"]
        self.assertTrue({f[0]["request_id"], f[2]["request_id"]} <= {q["id"] for q in mine})
        self.assertEqual(self.srv.sql("SELECT COALESCE(SUM(n), 0) FROM grid_stats "
                                      "WHERE source = 'finding'")[0][0], stats_before + 3)
        out = run_cli("stats", "check", "--db", self.srv.db).stdout
        self.assertIn("match", out)

    def test_photos_checked_by_their_bytes(self):
        ent = self.new_ent()
        vid = self.visit(ent).json["id"]
        url = "%s/%d/photos?filename=%s" % (VISITS, vid, "门头.png")
        url = url.replace("门头", "%E9%97%A8%E5%A4%B4")
        st, _, body = raw_request(self.gw, "POST", url, png(1))
        self.assertEqual(st, 201, body)
        import json
        p = json.loads(body)
        self.assertEqual((p["content_type"], p["filename"], p["existed"]),
                         ("image/png", "门头.png", False))
        st, _, body = raw_request(self.gw, "POST", url, png(1))
        self.assertEqual(st, 200, body)
        self.assertTrue(json.loads(body)["existed"])
        before = self.srv.counts()
        for data in (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj<<>>endobj\n", b"<html>x</html>",
                     b"GIF" + png(2)):
            st, _, body = raw_request(self.gw, "POST", url, data)
            self.assertEqual(st, 422, body)
            self.assertEqual(json.loads(body)["error"]["field"], "file")
        st, _, body = raw_request(self.gw, "POST", url, b"")
        self.assertEqual(st, 400, body)
        # only the worker who recorded the visit adds photos; others do not see it at all
        st, _, body = raw_request(self.c[self.other_login], "POST", url, png(3))
        self.assertEqual(st, 404, body)
        self.assertEqual(before, self.srv.counts())
        # the download is the bytes, as an attachment
        st, h, data = raw_request(self.admin, "GET", p["url"])
        self.assertEqual((st, data, h["content-type"]), (200, png(1), "image/png"))
        self.assertTrue(h["content-disposition"].startswith("attachment"))
        self.assertEqual(self.admin.get("%s/%d" % (VISITS, vid)).json["photos"], 1)
        st, _, _ = raw_request(self.c[self.other_login], "GET", p["url"])
        self.assertEqual(st, 404)
        # a request attachment with the same bytes shares the blob; removing it keeps the photo
        q = self.c["dispatcher"].post("/api/v1/requests", {"type": "help", "content": "照片共用",
                                                            "enterprise_id": ent})
        self.assertEqual(q.status, 201, q)
        st, _, body = raw_request(self.c["dispatcher"], "POST",
                                  "/api/v1/requests/%d/attachments?filename=a.png" % q.json["id"],
                                  png(1))
        self.assertEqual(st, 201, body)
        aid = json.loads(body)["id"]
        self.assertEqual(self.c["dispatcher"].delete("/api/v1/attachments/%d" % aid).status, 204)
        st, _, data = raw_request(self.admin, "GET", p["url"])
        self.assertEqual((st, data), (200, png(1)))

    # ---- scope ----

    def test_grid_worker_records_and_reads_only_in_its_grid(self):
        mine = self.new_ent()
        theirs = self.new_ent(where=self.there)
        other = self.c[self.other_login]
        v_mine = self.visit(mine).json["id"]
        v_theirs = self.visit(theirs, client=other, where=self.there).json["id"]
        self.refused(lambda: assert_error(self, self.gw.post(
            VISITS, {"enterprise_id": theirs, "summary": "越界"}), 403, "forbidden",
            "enterprise_id"))
        # single reads outside the grid are 404, as if nothing were there
        assert_error(self, self.gw.get("%s/%d" % (VISITS, v_theirs)), 404, "not_found", "id")
        assert_error(self, self.gw.get("%s/%d/visit-state" % (ENT, theirs)), 404, "not_found")
        self.assertEqual(self.gw.get("%s/%d" % (VISITS, v_mine)).status, 200)
        self.assertEqual(other.get("%s/%d" % (VISITS, v_theirs)).status, 200)
        # lists hold the grid's visits only; staff who read all see both
        ids, after = [], None
        while True:
            r = self.gw.get(VISITS + "?limit=200" + ("&after=" + after if after else ""))
            self.assertEqual(r.status, 200, r)
            ids += [x["id"] for x in r.json["items"]]
            after = r.json["next"]
            if not after:
                break
        want = [x[0] for x in self.srv.sql(
            "SELECT v.id FROM visits v JOIN enterprises e ON e.id = v.enterprise_id "
            "WHERE e.grid_id IN (SELECT id FROM grids WHERE path LIKE "
            "(SELECT path FROM grids WHERE id = ?) || '%') ORDER BY v.visited_at DESC, v.id DESC",
            (self.grid,))]
        self.assertEqual(ids, want)
        self.assertIn(v_mine, ids)
        self.assertNotIn(v_theirs, ids)
        for login in ("admin", "leader", "dispatcher", "supervisor"):
            got = {x["id"] for x in self.c[login].get(VISITS + "?limit=200&enterprise_id=%d"
                                                      % theirs).json["items"]}
            self.assertEqual(got, {v_theirs}, login)
        for login in ("handler", "enterprise"):
            assert_error(self, self.c[login].get(VISITS), 403, "forbidden")
        # filters: by worker, by period
        r = self.admin.get(VISITS + "?worker_id=%d&limit=200" % self.uid[self.other_login])
        self.assertTrue(all(x["worker_id"] == self.uid[self.other_login]
                            for x in r.json["items"]))
        today = date_of(local_day(now_ms()))
        r = self.admin.get(VISITS + "?from=%s&to=%s&limit=200" % (today, today))
        self.assertTrue({v_mine, v_theirs} <= {x["id"] for x in r.json["items"]})
        assert_error(self, self.admin.get(VISITS + "?from=2026-13-01"), 400, "bad_request", "from")
        assert_error(self, self.admin.get(VISITS + "?after=zzz"), 400, "bad_request", "after")

    # ---- tasks ----

    def test_tasks_soonest_first_and_equal_to_a_direct_count(self):
        self.new_ent()  # one more overdue in the grid
        now = now_ms()
        due_before = (local_day(now) + 14 + 1) * DAY - OFFSET
        sub = ("SELECT id FROM grids WHERE path LIKE (SELECT path FROM grids WHERE id = %d) || '%%'"
               % self.grid)
        want = [r[0] for r in self.srv.sql(
            "SELECT e.id FROM enterprises e JOIN visit_state s ON s.enterprise_id = e.id "
            "WHERE e.grid_id IN (%s) AND s.next_due_at < ? ORDER BY s.next_due_at, e.id" % sub,
            (due_before,))]
        overdue = self.srv.sql(
            "SELECT COUNT(*) FROM enterprises e JOIN visit_state s ON s.enterprise_id = e.id "
            "WHERE e.grid_id IN (%s) AND s.next_due_at < ?" % sub, (now,))[0][0]
        lat, lon = self.here
        got, after, pages = [], None, 0
        while True:
            r = self.gw.get("/api/v1/me/visit-tasks?limit=2&lat=%f&lon=%f" % (lat, lon)
                            + ("&after=" + after if after else ""))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["counts"]["due"], len(want))
            self.assertEqual(r.json["counts"]["overdue"], overdue)
            for t in r.json["items"]:
                self.assertIsNotNone(t["distance_m"])
                self.assertEqual(t["overdue"], t["next_due_at"] < now)
            got += [t["enterprise_id"] for t in r.json["items"]]
            after = r.json["next"]
            pages += 1
            if not after:
                break
        self.assertEqual(got, want)
        self.assertGreater(pages, 1)
        # the same through the staff view, by grid and by worker
        for q in ("grid_id=%d" % self.grid, "worker_id=%d" % self.uid["gridworker"]):
            r = self.admin.get(TASKS + "?limit=200&" + q)
            self.assertEqual([t["enterprise_id"] for t in r.json["items"]], want[:200], q)
        # the whole district for staff
        r = self.admin.get(TASKS + "?limit=1&within_days=0")
        all_due = self.srv.sql("SELECT COUNT(*) FROM visit_state WHERE next_due_at < ?",
                               ((local_day(now) + 1) * DAY - OFFSET,))[0][0]
        self.assertEqual(r.json["counts"]["due"], all_due)
        assert_error(self, self.admin.get(TASKS + "?after=d.x.1"), 400, "bad_request", "after")
        assert_error(self, self.admin.get(TASKS + "?within_days=400"), 400, "bad_request",
                     "within_days")
        assert_error(self, self.admin.get(TASKS + "?lat=34"), 400, "bad_request", "lon")
        assert_error(self, self.admin.get(TASKS + "?grid_id=999999"), 422, "unprocessable",
                     "grid_id")
        assert_error(self, self.admin.get(TASKS + "?worker_id=%d" % self.uid["admin"]), 422,
                     "unprocessable", "worker_id")
        assert_error(self, self.admin.get("/api/v1/me/visit-tasks"), 403, "forbidden")

    def test_figures_per_worker(self):
        now = now_ms()
        rows = self.all_pages(self.admin, TASKS + "/workers?limit=200", "user_id")
        self.assertIn(self.uid["gridworker"], rows)
        w = rows[self.uid["gridworker"]]
        sub = ("SELECT id FROM grids WHERE path LIKE (SELECT path FROM grids WHERE id = %d) || '%%'"
               % self.grid)
        ents, duty, over = self.srv.sql(
            "SELECT COUNT(*), COUNT(s.next_due_at), SUM(s.next_due_at < ?) FROM enterprises e "
            "JOIN visit_state s ON s.enterprise_id = e.id WHERE e.status = 'active' AND "
            "e.grid_id IN (%s)" % sub, (now,))[0]
        self.assertEqual((w["enterprises"], w["with_duty"], w["overdue"]), (ents, duty, over or 0))
        self.assertEqual(w["visits_30d"], self.srv.sql(
            "SELECT COUNT(*) FROM visits WHERE worker_id = ? AND visited_at >= ?",
            (self.uid["gridworker"], now - 30 * DAY))[0][0])
        # a grid worker sees itself (and no one outside its grid)
        mine = self.gw.get(TASKS + "/workers").json["items"]
        self.assertIn(self.uid["gridworker"], [x["user_id"] for x in mine])
        self.assertNotIn(self.uid[self.other_login], [x["user_id"] for x in mine])

    # ---- blind spots ----

    def test_overdue_visit_appears_in_the_blind_spots_and_goes_with_a_visit(self):
        ent = self.new_ent()
        for client in (self.admin, self.gw):
            total, ids, s = self.section(client, "overdue_visit")
            self.assertIn(ent, ids)
            self.assertEqual(s["subject"], "enterprise")
        row = [x for x in self.section(self.admin, "overdue_visit")[2]["items"]
               if x["id"] == ent][0]
        self.assertEqual(row["days_overdue"], local_day(now_ms()) - (day_of("2020-01-01") + 90))
        # the totals equal a direct count; the grid worker sees its grid's part only
        now = now_ms()
        total, ids, _ = self.section(self.admin, "overdue_visit")
        want = [r[0] for r in self.srv.sql(
            "SELECT e.id FROM enterprises e JOIN visit_state s ON s.enterprise_id = e.id "
            "WHERE e.status = 'active' AND s.next_due_at < ? ORDER BY e.id", (now,))]
        self.assertEqual(total, len(want))
        self.assertEqual(ids, want[:1000])
        total, ids, _ = self.section(self.gw, "overdue_visit")
        grid_ids = {r[0] for r in self.srv.sql(
            "SELECT e.id FROM enterprises e WHERE e.grid_id = ?", (self.grid,))}
        self.assertTrue(set(ids) <= grid_ids)
        self.visit(ent)
        self.assertNotIn(ent, self.section(self.admin, "overdue_visit")[1])
        self.assertNotIn(ent, self.section(self.gw, "overdue_visit")[1])

    def test_grids_without_a_worker(self):
        want = [r[0] for r in self.srv.sql(
            "SELECT g.id FROM grids g WHERE g.level = 'unit' AND NOT EXISTS (SELECT 1 FROM "
            "users u JOIN user_roles r ON r.user_id = u.id AND r.role = 'grid_worker' "
            "WHERE u.grid_id = g.id AND u.status = 'active') ORDER BY g.id")]
        self.assertTrue(want, "the demo leaves every tenth unit grid without a worker")
        total, ids, s = self.section(self.admin, "grid_no_worker")
        self.assertEqual((total, ids), (len(want), want))
        self.assertEqual(s["subject"], "grid")
        item = s["items"][0]
        self.assertEqual(set(item), {"id", "code", "name", "level", "enterprises"})
        self.assertEqual(item["enterprises"], self.srv.sql(
            "SELECT COUNT(*) FROM enterprises WHERE grid_id = ? AND status = 'active'",
            (item["id"],))[0][0])
        # a new worker on the first of them closes that gap
        r = self.admin.post("/api/v1/users", {"login": "gw.new", "display_name": "新网格员",
                                              "password": "Strong#Pass2026",
                                              "roles": ["grid_worker"]})
        self.assertEqual(r.status, 201, r)
        r = self.admin.put("/api/v1/grids/%d/workers/%d" % (want[0], r.json["id"]))
        self.assertEqual(r.status, 200, r)
        total, ids, _ = self.section(self.admin, "grid_no_worker")
        self.assertEqual(ids, want[1:])
        # the grid worker's own grid has a worker: its part of the section is empty
        self.assertEqual(self.section(self.gw, "grid_no_worker")[0], 0)

    def test_unanswered_requests_by_grid(self):
        now = now_ms()
        hours = 24
        rows = self.srv.sql(
            "SELECT grid_id, COUNT(*) FROM requests WHERE grid_id IS NOT NULL AND "
            "((state IN ('received', 'returned') AND updated_at < ?) OR "
            "(state = 'dispatched' AND sign_due_at < ?)) GROUP BY grid_id ORDER BY grid_id",
            (now - hours * 3600000, now))
        total, ids, s = self.section(self.admin, "unanswered")
        self.assertEqual(s["setting"], {"key": "blindspots.dispatch_hours", "value": 24})
        self.assertEqual((total, ids), (len(rows), [r[0] for r in rows]))
        self.assertEqual([x["requests"] for x in s["items"]], [r[1] for r in rows])
        # a longer patience leaves fewer grids (never more)
        self.assertEqual(self.admin.put("/api/v1/settings",
                                        {"blindspots.dispatch_hours": 720}).status, 200)
        try:
            self.assertLessEqual(self.section(self.admin, "unanswered")[0], total)
        finally:
            self.admin.put("/api/v1/settings", {"blindspots.dispatch_hours": 24})
        assert_error(self, self.admin.put("/api/v1/settings", {"blindspots.dispatch_hours": 0}),
                     422, "unprocessable", "blindspots.dispatch_hours")

    # ---- campaigns ----

    def direct_progress(self, cid, grid=None):
        q = ("SELECT COUNT(*), COUNT(DISTINCT CASE WHEN EXISTS (SELECT 1 FROM visits v, "
             "visit_campaigns c WHERE c.id = t.campaign_id AND v.enterprise_id = t.enterprise_id "
             "AND v.visited_at BETWEEN c.starts_at AND c.deadline_at) THEN t.enterprise_id END) "
             "FROM visit_campaign_targets t JOIN enterprises e ON e.id = t.enterprise_id "
             "WHERE t.campaign_id = ?")
        args = (cid,)
        if grid:
            q += (" AND e.grid_id IN (SELECT id FROM grids WHERE path LIKE (SELECT path FROM "
                  "grids WHERE id = ?) || '%')")
            args = (cid, grid)
        return tuple(self.srv.sql(q, args)[0])

    def test_demo_campaign_progress_equals_a_direct_count(self):
        items = self.admin.get(CAMPAIGNS).json["items"]
        demo = [c for c in items if c["name"] == "千企万户大走访"]
        self.assertEqual(len(demo), 1)
        c = demo[0]
        self.assertEqual(c["status"], "running")
        targets, visited = self.direct_progress(c["id"])
        self.assertEqual((c["progress"]["targets"], c["progress"]["visited"]), (targets, visited))
        self.assertTrue(0.2 < visited / targets < 0.8, (visited, targets))
        self.assertEqual(targets, self.srv.sql(
            "SELECT COUNT(*) FROM visit_campaign_targets WHERE campaign_id = ?", (c["id"],))[0][0])
        # the grid worker sees its grid's part
        mine = self.gw.get("%s/%d" % (CAMPAIGNS, c["id"])).json["progress"]
        self.assertEqual((mine["targets"], mine["visited"]),
                         self.direct_progress(c["id"], self.grid))

    def test_campaign_lifecycle_and_progress(self):
        today = local_day(now_ms())
        fresh = [self.new_ent() for _ in range(3)]
        old = self.new_ent()
        self.visit(old, at=now_ms() - 5 * DAY)  # inside the window: counts at creation
        self.visit(fresh[0], at=now_ms() - 40 * DAY)  # before it: does not
        r = self.admin.post(CAMPAIGNS, {
            "name": "网格专项走访", "starts_on": date_of(today - 30),
            "deadline_on": date_of(today + 10), "target": {"kind": "grids",
                                                             "grid_ids": [self.grid]}})
        self.assertEqual(r.status, 201, r)
        c = r.json
        self.assertEqual(c["status"], "running")
        self.assertEqual(c["target"], {"kind": "grids", "grid_ids": [self.grid]})
        cid = c["id"]
        t, v = self.direct_progress(cid)
        self.assertEqual((c["progress"]["targets"], c["progress"]["visited"]), (t, v))
        self.assertEqual(t, self.srv.sql("SELECT COUNT(*) FROM enterprises WHERE grid_id = ? "
                                         "AND status = 'active'", (self.grid,))[0][0])
        remaining = self.admin.get("%s/%d/targets?limit=200" % (CAMPAIGNS, cid)).json["items"]
        self.assertIn(fresh[0], [x["enterprise_id"] for x in remaining])
        self.assertNotIn(old, [x["enterprise_id"] for x in remaining])
        # a visit during the campaign counts for it, once
        r = self.visit(fresh[1])
        self.assertGreaterEqual(r.json["campaigns"], 1)
        self.visit(fresh[1])
        c2 = self.admin.get("%s/%d" % (CAMPAIGNS, cid)).json
        self.assertEqual(c2["progress"]["visited"], v + 1)
        self.assertEqual((c2["progress"]["targets"], c2["progress"]["visited"]),
                         self.direct_progress(cid))
        self.assertEqual(c2["progress"]["remaining"], t - v - 1)
        # by grid: one unit grid, equal to the count; by street: the same numbers rolled up
        r = self.admin.get("%s/%d/progress?by=grid" % (CAMPAIGNS, cid))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(g["grid_id"], g["targets"], g["visited"]) for g in r.json["items"]],
                         [(self.grid, t, v + 1)])
        r = self.admin.get("%s/%d/progress?by=grid&level=street" % (CAMPAIGNS, cid))
        self.assertEqual([(g["targets"], g["visited"], g["level"]) for g in r.json["items"]],
                         [(t, v + 1, "street")])
        # by worker: the demo worker and the others of the grid
        rows = self.all_pages(self.admin, "%s/%d/progress?by=worker&limit=200" % (CAMPAIGNS, cid),
                              "user_id")
        w = rows[self.uid["gridworker"]]
        self.assertEqual((w["targets"], w["visited"]), (t, v + 1))
        self.assertEqual(w["visited_by_worker"], self.srv.sql(
            "SELECT COUNT(*) FROM visit_campaign_targets WHERE campaign_id = ? AND worker_id = ?",
            (cid, self.uid["gridworker"]))[0][0])
        self.assertEqual(rows[self.uid[self.other_login]]["targets"], 0)
        # the remaining targets are exactly those without a visit in the window
        rem = {x["enterprise_id"] for x in self.gw.get(
            "%s/%d/targets?status=remaining&limit=200" % (CAMPAIGNS, cid)).json["items"]}
        done = {x["enterprise_id"] for x in self.gw.get(
            "%s/%d/targets?status=visited&limit=200" % (CAMPAIGNS, cid)).json["items"]}
        self.assertEqual(len(rem), t - v - 1)
        self.assertEqual(len(done), v + 1)
        self.assertIn(fresh[1], done)
        self.assertFalse(rem & done)
        # another grid's worker sees none of it
        other = self.c[self.other_login]
        self.assertEqual(other.get("%s/%d" % (CAMPAIGNS, cid)).json["progress"]["targets"], 0)
        self.assertEqual(other.get("%s/%d/targets" % (CAMPAIGNS, cid)).json["items"], [])

    def test_campaign_target_kinds_resolve_to_a_direct_count(self):
        today = local_day(now_ms())
        tag = "活动标签%d" % (type(self).n % 1000)
        a, b = self.new_ent(tags=[tag]), self.new_ent(tags=[tag], is_key=True)
        base = {"deadline_on": date_of(today + 30)}
        for name, target, want in (
                ("全部企业走访", {"kind": "all"},
                 "SELECT COUNT(*) FROM enterprises WHERE status = 'active'"),
                ("重点企业走访", {"kind": "key"},
                 "SELECT COUNT(*) FROM enterprises WHERE status = 'active' AND is_key = 1"),
                ("标签企业走访", {"kind": "tag", "tag": tag}, None),
                ("点名走访", {"kind": "enterprises", "enterprise_ids": [a, b, a]}, None)):
            r = self.admin.post(CAMPAIGNS, dict(base, name=name, target=target))
            self.assertEqual(r.status, 201, r)
            n = self.srv.sql(want)[0][0] if want else 2
            self.assertEqual(r.json["progress"]["targets"], n, name)
            self.assertEqual(r.json["progress"]["targets"], self.srv.sql(
                "SELECT COUNT(*) FROM visit_campaign_targets WHERE campaign_id = ?",
                (r.json["id"],))[0][0])

    def test_campaign_refusals_name_the_field(self):
        today = local_day(now_ms())
        gone = self.new_ent(status="deregistered")
        ok = {"name": "拒绝测试", "deadline_on": date_of(today + 5), "target": {"kind": "all"}}
        cases = [
            ({k: v for k, v in ok.items() if k != "name"}, 400, "name"),
            ({k: v for k, v in ok.items() if k != "deadline_on"}, 400, "deadline_on"),
            ({k: v for k, v in ok.items() if k != "target"}, 400, "target"),
            (dict(ok, deadline_on=date_of(today - 1)), 422, "deadline_on"),
            (dict(ok, deadline_on="2026-02-30"), 422, "deadline_on"),
            (dict(ok, starts_on=date_of(today + 9)), 422, "deadline_on"),
            (dict(ok, starts_on="soon"), 422, "starts_on"),
            (dict(ok, deadline_on=date_of(today + 800)), 422, "deadline_on"),
            (dict(ok, target={"kind": "everyone"}), 422, "target.kind"),
            (dict(ok, target={}), 400, "target.kind"),
            (dict(ok, target={"kind": "all", "x": 1}), 400, "target.x"),
            (dict(ok, target={"kind": "tag"}), 422, "target.tag"),
            (dict(ok, target={"kind": "tag", "tag": "没有这个标签"}), 422, "target"),
            (dict(ok, target={"kind": "grids"}), 400, "target.grid_ids"),
            (dict(ok, target={"kind": "grids", "grid_ids": []}), 422, "target.grid_ids"),
            (dict(ok, target={"kind": "grids", "grid_ids": [self.grid, 999999]}), 422,
             "target.grid_ids[1]"),
            (dict(ok, target={"kind": "grids", "grid_ids": ["a"]}), 400, "target.grid_ids[0]"),
            (dict(ok, target={"kind": "enterprises", "enterprise_ids": [gone]}), 422,
             "target.enterprise_ids[0]"),
            (dict(ok, target={"kind": "key", "grid_ids": [1]}), 400, "target.grid_ids"),
            (dict(ok, name="千企万户大走访"), 409, "name"),
            (dict(ok, description="长" * 501), 422, "description"),
        ]
        names = {400: "bad_request", 409: "conflict", 422: "unprocessable"}
        for body, status, field in cases:
            with self.subTest(field=field):
                self.refused(lambda: assert_error(self, self.admin.post(CAMPAIGNS, body), status,
                                                  names[status], field))
        for login in ("gridworker", "dispatcher", "supervisor"):
            self.refused(lambda: assert_error(self, self.c[login].post(CAMPAIGNS, ok), 403,
                                              "forbidden"))
        assert_error(self, self.admin.get(CAMPAIGNS + "/999999"), 404, "not_found", "id")
        assert_error(self, self.admin.get(CAMPAIGNS + "/1/progress?by=street"), 400,
                     "bad_request", "by")
        assert_error(self, self.admin.get(CAMPAIGNS + "/1/progress?level=planet"), 400,
                     "bad_request", "level")
        assert_error(self, self.admin.get(CAMPAIGNS + "/1/targets?status=maybe"), 400,
                     "bad_request", "status")

    def test_everything_adds_up(self):
        """The audit chain is intact and the rates' counters equal a recount."""
        self.assertIn("intact", run_cli("audit", "verify", "--db", self.srv.db).stdout)
        self.assertIn("match", run_cli("stats", "check", "--db", self.srv.db).stdout)
        # every visit's enterprise has a state that counts it
        rows = self.srv.sql("SELECT s.enterprise_id, s.visits, (SELECT COUNT(*) FROM visits v "
                            "WHERE v.enterprise_id = s.enterprise_id), s.last_visit_at, "
                            "(SELECT MAX(visited_at) FROM visits v WHERE v.enterprise_id = "
                            "s.enterprise_id) FROM visit_state s WHERE s.visits > 0")
        for eid, n, count, last, latest in rows:
            self.assertEqual((n, last), (count, latest), eid)
        # the campaigns' live counters equal their targets
        for cid, targets, visited in self.srv.sql(
                "SELECT id, targets, visited FROM visit_campaigns"):
            self.assertEqual((targets, visited), tuple(self.srv.sql(
                "SELECT COUNT(*), COUNT(visit_id) FROM visit_campaign_targets "
                "WHERE campaign_id = ?", (cid,))[0]))


RECOMPUTE = POLICIES + "/recompute"
CHUNK, PAUSE = "visits.recompute_chunk", "visits.recompute_pause_ms"


def poll(fn, what, deadline=60.0):
    """fn() until it returns something true, for at most `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("gave up waiting for " + what)
        time.sleep(0.02)


class Recompute(unittest.TestCase):
    """A policy change or a campaign over a district larger than a chunk: the write answers at
    once, the server does the rest in background chunks with the progress visible, reads show
    each enterprise's old or new state (never a half-written one), a second change restarts the
    pass, a SIGKILL loses nothing (the pass resumes after the last committed chunk), and the
    end equals the rule applied to the final policies."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        cls.n = cls.srv.sql("SELECT COUNT(*) FROM enterprises")[0][0]
        cls.ids = [r[0] for r in cls.srv.sql("SELECT id FROM enterprises ORDER BY id")]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def recompute(self):
        r = self.admin.get(RECOMPUTE)
        self.assertEqual(r.status, 200, r)
        return r.json

    def states(self):
        return {eid: (pol, due) for eid, pol, due in self.srv.sql(
            "SELECT enterprise_id, policy_id, next_due_at FROM visit_state")}

    def test_policy_change_answers_at_once_and_the_pass_resumes_after_a_kill(self):
        # ten enterprises a chunk, and a minute's rest between two: the pass stays midway
        self.admin.put("/api/v1/settings", {CHUNK: 10, PAUSE: 60000})
        before = self.states()
        gen = self.recompute()["generation"]
        r = self.admin.post(POLICIES, {"name": "规上企业每两月", "interval_days": 60,
                                       "match": {"size_class": "large"}})
        self.assertEqual(r.status, 201, r)
        rc = r.json["recompute"]
        self.assertEqual(rc["generation"], gen + 1)
        self.assertTrue(rc["running"], rc)
        self.assertEqual(rc["done"], 10)            # the write's own chunk
        self.assertEqual(rc["next_enterprise_id"], self.ids[10])
        self.assertEqual(rc["last_enterprise_id"], self.ids[-1])
        self.assertTrue(0 < rc["progress"] < 1, rc)
        self.assertIsNone(rc["finished_at"])
        pid = r.json["id"]
        # the server takes the next chunk at once, then rests: progress is visible
        rc = poll(lambda: (lambda j: j if j["done"] == 20 else None)(self.recompute()),
                  "the second chunk")
        self.assertTrue(rc["running"])
        self.assertEqual(rc["chunks"], 2)
        self.assertEqual(self.admin.get(POLICIES).json["recompute"], rc)
        # reads meanwhile: enterprises behind the pass have the new state, those ahead the
        # old one, flagged; every state is whole
        now = self.states()
        for eid in self.ids:
            st = self.admin.get("%s/%d/visit-state" % (ENT, eid)).json
            ahead = eid >= rc["next_enterprise_id"]
            self.assertEqual(st["recompute_pending"], ahead, eid)
            if ahead:
                self.assertEqual(now[eid], before[eid], eid)
            self.assertEqual((st["policy"] and st["policy"]["id"], st["next_due_at"]), now[eid])
        tasks = self.admin.get(TASKS + "?within_days=365&limit=200")
        self.assertEqual(tasks.status, 200, tasks)
        for t in tasks.json["items"]:
            self.assertEqual((t["policy_id"], t["next_due_at"]), now[t["enterprise_id"]])

        # a second change midway: a new pass from the first enterprise
        r = self.admin.patch("%s/%d" % (POLICIES, pid), {"interval_days": 45})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["recompute"]["generation"], gen + 2)
        self.assertEqual(r.json["recompute"]["done"], 10)
        poll(lambda: self.recompute()["done"] == 20, "the new pass's second chunk")

        # killed midway: the pass is where its last chunk committed
        self.srv.kill9()
        gen2, nxt, done, fin = self.srv.sql(
            "SELECT generation, next_id, done, finished_at FROM visit_recompute")[0]
        self.assertEqual((gen2, nxt, done, fin), (gen + 2, self.ids[20], 20, None))
        self.srv.launch()
        type(self).admin = self.admin = self.srv.login("admin")
        # it resumes at start (one chunk, then the long rest); no rest: it runs to the end
        poll(lambda: self.recompute()["done"] == 30, "the resumed pass")
        self.admin.put("/api/v1/settings", {PAUSE: 0})
        rc = poll(lambda: (lambda j: j if not j["running"] else None)(self.recompute()),
                  "the end of the pass")
        self.assertEqual(rc["generation"], gen + 2)
        self.assertEqual(rc["done"], self.n)
        self.assertEqual(rc["progress"], 1)
        self.assertIsNone(rc["next_enterprise_id"])
        self.assertIsNotNone(rc["finished_at"])
        assert_states_match_rule(self, self.srv)
        for eid in self.ids:
            self.assertFalse(self.admin.get("%s/%d/visit-state" % (ENT, eid))
                             .json["recompute_pending"])
        self.assertEqual(self.srv.sql(
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'visit_recompute' AND "
            "action = 'finish' AND entity_id = ?", (gen + 2,))[0][0], 1)
        # deleting it: the same again, to the end
        r = self.admin.delete("%s/%d" % (POLICIES, pid))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["recompute"]["generation"], gen + 3)
        poll(lambda: not self.recompute()["running"], "the end of the pass")
        assert_states_match_rule(self, self.srv)
        self.assertIn("intact", run_cli("audit", "verify", "--db", self.srv.db).stdout)

    def test_campaign_resolved_in_the_background(self):
        self.admin.put("/api/v1/settings", {CHUNK: 10, PAUSE: 60000})
        r = self.admin.post(CAMPAIGNS, {"name": "后台解析的走访", "starts_on": "2025-01-01",
                                        "deadline_on": date_of(local_day(now_ms()) + 30),
                                        "target": {"kind": "all"}})
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        res = r.json["resolving"]
        self.assertIsNotNone(res)
        # the write's own chunk, and maybe already the server's first (then it rests)
        self.assertIn(res["next_enterprise_id"], (self.ids[10], self.ids[20]))
        self.assertTrue(0 < res["progress"] < 1, res)
        active = self.srv.sql("SELECT COUNT(*) FROM enterprises WHERE status = 'active'")[0][0]
        self.assertLess(r.json["progress"]["targets"], active)
        c = poll(lambda: (lambda j: j if j["resolving"]["next_enterprise_id"] == self.ids[20]
                          else None)(self.admin.get("%s/%d" % (CAMPAIGNS, cid)).json),
                 "the server's first chunk")
        self.assertEqual(c["progress"]["targets"], self.srv.sql(
            "SELECT COUNT(*) FROM enterprises WHERE status = 'active' AND id < ?",
            (self.ids[20],))[0][0])
        self.admin.put("/api/v1/settings", {PAUSE: 0})
        c = poll(lambda: (lambda j: j if j["resolving"] is None else None)(
            self.admin.get("%s/%d" % (CAMPAIGNS, cid)).json), "the campaign's targets")
        self.assertEqual(c["progress"]["targets"], active)
        visited = self.srv.sql(
            "SELECT COUNT(*) FROM visit_campaign_targets t WHERE t.campaign_id = ? AND "
            "t.visit_id = (SELECT v.id FROM visits v WHERE v.enterprise_id = t.enterprise_id "
            "AND v.visited_at >= ? AND v.visited_at <= ? ORDER BY v.visited_at, v.id LIMIT 1)",
            (cid, c["starts_at"], c["deadline_at"]))[0][0]
        self.assertEqual(c["progress"]["visited"], visited)
        self.assertEqual(visited, self.srv.sql(
            "SELECT COUNT(DISTINCT enterprise_id) FROM visits v JOIN enterprises e ON "
            "e.id = v.enterprise_id WHERE e.status = 'active' AND v.visited_at >= ? AND "
            "v.visited_at <= ?", (c["starts_at"], c["deadline_at"]))[0][0])
        self.assertEqual(self.srv.sql(
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'visit_campaign' AND "
            "action = 'resolve' AND entity_id = ?", (cid,))[0][0], 1)

    def test_progress_permissions_and_bad_input(self):
        for login, status in (("leader", 200), ("gridworker", 200), ("supervisor", 200),
                              ("enterprise", 403), ("handler", 403)):
            r = self.srv.login(login).get(RECOMPUTE)
            self.assertEqual(r.status, status, (login, r))
        assert_error(self, self.srv.client().get(RECOMPUTE), 401, "unauthenticated")
        assert_error(self, self.admin.post(RECOMPUTE, {}), 405, "method_not_allowed")
        assert_error(self, self.admin.patch(RECOMPUTE, {"interval_days": 3}), 404,
                     "not_found", "id")  # the path of a policy whose id is no number
        for key, value, status in ((CHUNK, 0, 422), (CHUNK, 100001, 422), (CHUNK, "many", 400),
                                   (PAUSE, -1, 422), (PAUSE, 60001, 422), (PAUSE, 1.5, 400)):
            self.refused(lambda: assert_error(
                self, self.admin.put("/api/v1/settings", {key: value}), status,
                "unprocessable" if status == 422 else "bad_request", key))
        # only the planners change policies (and so start a pass)
        assert_error(self, self.srv.login("gridworker").post(
            POLICIES, {"name": "x", "interval_days": 7}), 403, "forbidden")

    def refused(self, fn):
        before = self.srv.counts()
        fn()
        self.assertEqual(before, self.srv.counts(), "a refused request wrote something")


if __name__ == "__main__":
    unittest.main()
