"""Open311 GeoReport v2 at /open311/v2/, exercised by a client that knows only the
spec: discovery, services and their definitions, filing requests (form-encoded and
JSON bodies, JSON and XML answers) with an api_key, following them by id, token and
list filters (the spec's and the page/updated_* extensions), the spec's error bodies
and codes. The administrator's side (categories, attributes, an API token) and the
staff's work on the requests (dispatch, reply, close) go through our own API, and
must show up as Open311 status and status_notes."""
import datetime
import json
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

from harness import Server

BASE = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
SH = datetime.timezone(datetime.timedelta(hours=8))


def iso(s):
    """An Open311 datetime: ISO 8601 with the +08:00 offset."""
    assert s.endswith("+08:00"), s
    return datetime.datetime.fromisoformat(s)


def xml_items(raw, root, item):
    """A list document as dicts of the items' child texts (nested lists as lists of dicts)."""
    doc = ET.fromstring(raw.encode("utf-8"))
    assert doc.tag == root, (doc.tag, raw[:200])
    out = []
    for it in doc:
        assert it.tag == item, it.tag
        out.append({c.tag: c.text for c in it})
    return out


class Open311Client:
    """What any GeoReport v2 client does: URLs with a format suffix, forms, api_key."""

    def __init__(self, http):
        self.http = http

    def get(self, path, fmt="json", **query):
        q = ("?" + urllib.parse.urlencode(query)) if query else ""
        r = self.http.get("%s/%s.%s%s" % (BASE, path, fmt, q))
        want = "application/json" if fmt == "json" else "text/xml"
        assert r.header("Content-Type").startswith(want), (r.header("Content-Type"), r)
        if fmt == "xml":
            assert r.raw.startswith('<?xml version="1.0" encoding="utf-8"?>'), r.raw[:80]
        return r

    def post(self, fields, fmt="json", raw=None, content_type=None):
        body = raw if raw is not None else urllib.parse.urlencode(fields, doseq=True).encode()
        return self.http.request(
            "POST", "%s/requests.%s" % (BASE, fmt), raw=body,
            headers={"Content-Type": content_type
                     or "application/x-www-form-urlencoded; charset=utf-8"})


class Open311(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start(enterprises=20)
        cls.admin = cls.srv.login("admin")
        cls.dispatcher = cls.srv.login("dispatcher")
        cls.handler = cls.srv.login("handler")
        cls.dept = cls.srv.sql("SELECT id, name FROM departments WHERE code = 'amr-reg'")[0]
        cls.tenant_code = cls.srv.sql("SELECT code FROM tenants")[0][0]

        def category(**body):
            r = cls.admin.post("/api/v1/request-categories", body)
            assert r.status == 201, r
            return r.json["id"]

        parent = category(code="t311-city", name="市容秩序")
        cls.road_id = category(code="t311-road", name="占道经营", parent_id=parent,
                            department_id=cls.dept[0], open311_code="T311-ROAD")
        cls.noise_id = category(code="t311-noise", name="施工噪声", open311_code="T311.NOISE")
        cls.hidden_id = category(code="t311-hidden", name="内部分类")
        r = cls.admin.put("/api/v1/request-categories/%d/open311-attributes" % cls.road_id, {
            "attributes": [
                {"code": "kind", "datatype": "singlevaluelist", "required": True, "order": 1,
                 "description": "占道类型",
                 "values": [{"key": "stall", "name": "流动摊点"},
                            {"key": "goods", "name": "店外堆物"}]},
                {"code": "tags", "datatype": "multivaluelist", "order": 2, "description": "涉及",
                 "values": [{"key": "food", "name": "餐饮"}, {"key": "night", "name": "夜间"},
                            {"key": "blind", "name": "占用盲道"}]},
                {"code": "count", "datatype": "number", "order": 3, "description": "摊位数量"},
                {"code": "seen_at", "datatype": "datetime", "order": 4,
                 "description": "发现时间"},
                {"code": "detail", "datatype": "text", "order": 5, "description": "补充说明"},
                {"code": "notice", "datatype": "string", "variable": False, "order": 6,
                 "description": "紧急情况请拨打 110"},
            ]})
        assert r.status == 200, r
        r = cls.dispatcher.post("/api/v1/me/tokens", {"name": "open311 app"})
        assert r.status == 201, r
        cls.key = r.json["token"]
        cls.o = Open311Client(cls.srv.client())

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def road(self, **extra):
        f = {"api_key": self.key, "service_code": "T311-ROAD", "lat": "34.7466",
             "long": "113.6253", "attribute[kind]": "stall",
             "description": "大学路与航海路口有流动摊点占道"}
        f.update(extra)
        return f

    def file(self, fields, fmt="json"):
        r = self.o.post(fields, fmt)
        self.assertEqual(r.status, 200, r)
        if fmt == "json":
            self.assertIsInstance(r.json, list)
            self.assertEqual(len(r.json), 1)
            sid = r.json[0]["service_request_id"]
        else:
            sid = xml_items(r.raw, "service_requests", "request")[0]["service_request_id"]
        self.assertIsInstance(sid, str)
        self.assertTrue(sid.isdigit(), sid)
        return sid

    def one(self, sid, fmt="json"):
        r = self.o.get("requests/" + sid, fmt)
        self.assertEqual(r.status, 200, r)
        items = r.json if fmt == "json" else xml_items(r.raw, "service_requests", "request")
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["service_request_id"], sid)
        return items[0]

    def spec_error(self, r, status, fmt="json", mentions=None):
        """The spec's error body: a list of {code, description}."""
        self.assertEqual(r.status, status, r)
        if fmt == "json":
            self.assertTrue(r.header("Content-Type").startswith("application/json"))
            self.assertIsInstance(r.json, list, r)
            self.assertEqual(sorted(r.json[0]), ["code", "description"])
            code, desc = r.json[0]["code"], r.json[0]["description"]
        else:
            self.assertTrue(r.header("Content-Type").startswith("text/xml"))
            errs = xml_items(r.raw, "errors", "error")
            code, desc = int(errs[0]["code"]), errs[0]["description"]
        self.assertEqual(code, status)
        self.assertTrue(desc)
        if mentions:
            self.assertIn(mentions, desc)
        return desc

    def count(self):
        return self.srv.sql("SELECT COUNT(*) FROM requests")[0][0]

    def act(self, client, sid, action, **body):
        r = client.post("/api/v1/requests/%s/actions/%s" % (sid, action), body)
        self.assertEqual(r.status, 200, r)
        return r.json

    # ---- discovery and services ----

    def test_discovery(self):
        d = self.o.get("discovery").json
        self.assertTrue(d["changeset"] and d["contact"] and d["key_service"])
        ep = d["endpoints"][0]
        self.assertEqual(ep["specification"], SPEC)
        self.assertTrue(ep["url"].endswith("/open311/v2"), ep)
        self.assertEqual(ep["type"], "production")
        self.assertEqual(sorted(ep["formats"]), ["application/json", "text/xml"])
        doc = ET.fromstring(self.o.get("discovery", "xml").raw.encode())
        self.assertEqual(doc.tag, "discovery")
        self.assertEqual(doc.findtext("endpoints/endpoint/specification"), SPEC)
        self.assertEqual(sorted(f.text for f in doc.findall("endpoints/endpoint/formats/format")),
                         ["application/json", "text/xml"])
        self.assertEqual(doc.findtext("changeset"), d["changeset"])
        iso(d["changeset"])

    def test_services_json_and_xml(self):
        js = {s["service_code"]: s for s in self.o.get("services").json}
        road, noise = js["T311-ROAD"], js["T311.NOISE"]
        self.assertEqual(road["service_name"], "占道经营")
        self.assertEqual(road["group"], "市容秩序")
        self.assertIs(road["metadata"], True)
        self.assertIs(noise["metadata"], False)
        self.assertIsNone(noise["group"])
        self.assertEqual(road["type"], "realtime")
        self.assertIn(self.dept[1], road["description"])
        self.assertIn("工作日", road["description"])
        self.assertIn("t311-road", road["keywords"])
        self.assertNotIn("内部分类", json.dumps(list(js.values()), ensure_ascii=False))
        xs = {s["service_code"]: s for s in
              xml_items(self.o.get("services", "xml").raw, "services", "service")}
        self.assertEqual(sorted(xs), sorted(js))
        for code, s in js.items():
            x = xs[code]
            self.assertEqual(x["service_name"], s["service_name"])
            self.assertEqual(x["metadata"], "true" if s["metadata"] else "false")
            self.assertEqual(x["description"], s["description"])
            self.assertEqual(x["group"], s["group"])

    def test_service_definition(self):
        d = self.o.get("services/T311-ROAD").json
        self.assertEqual(d["service_code"], "T311-ROAD")
        attrs = d["attributes"]
        self.assertEqual([a["code"] for a in attrs],
                         ["kind", "tags", "count", "seen_at", "detail", "notice"])
        self.assertEqual([a["order"] for a in attrs], [1, 2, 3, 4, 5, 6])
        kind = attrs[0]
        self.assertEqual((kind["datatype"], kind["required"], kind["variable"]),
                         ("singlevaluelist", True, True))
        self.assertEqual(kind["values"], [{"key": "stall", "name": "流动摊点"},
                                          {"key": "goods", "name": "店外堆物"}])
        self.assertIs(attrs[-1]["variable"], False)
        self.assertEqual(attrs[2]["values"], [])
        doc = ET.fromstring(self.o.get("services/T311-ROAD", "xml").raw.encode())
        self.assertEqual(doc.tag, "service_definition")
        self.assertEqual(doc.findtext("service_code"), "T311-ROAD")
        xa = doc.findall("attributes/attribute")
        self.assertEqual([a.findtext("code") for a in xa], [a["code"] for a in attrs])
        self.assertEqual([v.findtext("name") for v in xa[0].findall("values/value")],
                         ["流动摊点", "店外堆物"])
        self.assertEqual(xa[0].findtext("required"), "true")
        self.assertEqual(xa[5].findtext("variable"), "false")
        # a service without attributes, one with a dot in its code
        self.assertEqual(self.o.get("services/T311.NOISE").json,
                         {"service_code": "T311.NOISE", "attributes": []})
        for fmt in ("json", "xml"):
            self.spec_error(self.o.get("services/NOPE", fmt), 404, fmt, "NOPE")
            self.spec_error(self.o.get("services/t311-hidden", fmt), 404, fmt)

    # ---- filing and following ----

    def test_post_form_then_get_json(self):
        before = self.count()
        fields = self.road(**{
            "attribute[tags][]": ["food", "night"], "attribute[count]": "3",
            "attribute[seen_at]": "2026-01-15T20:30:00+08:00",
            "attribute[detail]": "晚上八点以后\n更严重", "address_string": "二七区大学路 88 号",
            "email": "citizen@example.cn", "phone": "13800138000", "first_name": "三",
            "last_name": "张", "device_id": "dev-1", "account_id": "acc-1",
            "media_url": "https://img.example.cn/p/1.jpg",
            "description": "大学路与航海路口有流动摊点占道 & <夜市>\n请尽快处理"})
        r = self.o.post(fields)
        self.assertEqual(r.status, 200, r)
        got = r.json[0]
        sid = got["service_request_id"]
        self.assertEqual(got["account_id"], "acc-1")
        self.assertIn("工作日", got["service_notice"])
        self.assertNotIn("token", got)
        self.assertEqual(self.count(), before + 1)

        q = self.one(sid)
        self.assertEqual(q["status"], "open")
        self.assertEqual(q["service_code"], "T311-ROAD")
        self.assertEqual(q["service_name"], "占道经营")
        self.assertEqual(q["description"], fields["description"])
        self.assertEqual(q["address"], "二七区大学路 88 号")
        self.assertAlmostEqual(q["lat"], 34.7466)
        self.assertAlmostEqual(q["long"], 113.6253)
        self.assertEqual(q["media_url"], "https://img.example.cn/p/1.jpg")
        self.assertEqual(q["status_notes"], "诉求已受理")
        self.assertIsNone(q["expected_datetime"])  # no deadline before dispatch
        self.assertIsNone(q["agency_responsible"])
        req_at = iso(q["requested_datetime"])
        self.assertLess(abs((datetime.datetime.now(SH) - req_at).total_seconds()), 120)
        self.assertEqual(q["updated_datetime"], q["requested_datetime"])
        # never contact data
        raw = self.o.get("requests/" + sid).raw
        for secret in ("citizen@example.cn", "13800138000", "张三", "dev-1", "acc-1"):
            self.assertNotIn(secret, raw)

        # what we stored: an ordinary request of channel open311, filed by the key's user
        row = self.srv.sql("SELECT r.channel, r.req_type, r.contact_name, r.contact_phone, "
                           "u.login, c.open311_code FROM requests r JOIN users u ON "
                           "u.id = r.created_by JOIN request_categories c ON c.id = r.category_id "
                           "WHERE r.id = ?", (int(sid),))[0]
        self.assertEqual(row, ("open311", "help", "张三", "13800138000", "dispatcher",
                               "T311-ROAD"))
        answers = self.srv.sql("SELECT code, seq, value FROM open311_request_attributes "
                               "WHERE request_id = ? ORDER BY code, seq", (int(sid),))
        self.assertEqual(answers, [("count", 0, "3"), ("detail", 0, "晚上八点以后\n更严重"),
                                   ("kind", 0, "stall"), ("seen_at", 0, "2026-01-15T20:30:00+08:00"),
                                   ("tags", 0, "food"), ("tags", 1, "night")])
        extra = self.srv.sql("SELECT email, device_id, account_id, media_url FROM "
                             "open311_requests WHERE request_id = ?", (int(sid),))
        self.assertEqual(extra, [("citizen@example.cn", "dev-1", "acc-1",
                                  "https://img.example.cn/p/1.jpg")])
        # staff see it in our API, with the contact data
        staff = self.dispatcher.get("/api/v1/requests/" + sid).json
        self.assertEqual((staff["channel"], staff["contact_phone"]), ("open311", "13800138000"))
        # the key was used
        used = self.dispatcher.get("/api/v1/me/tokens").json["items"]
        self.assertTrue(any(t["name"] == "open311 app" and t["last_used_at"] for t in used), used)

    def test_post_and_get_xml(self):
        sid = self.file(self.road(**{"address_string": "航海路 <1> & 2 号"}), "xml")
        x = self.one(sid, "xml")
        self.assertEqual(x["status"], "open")
        self.assertEqual(x["service_code"], "T311-ROAD")
        self.assertEqual(x["address"], "航海路 <1> & 2 号")
        self.assertEqual(float(x["lat"]), 34.7466)
        self.assertIsNone(x["media_url"])
        iso(x["requested_datetime"])
        j = self.one(sid)
        for k in ("status", "status_notes", "service_name", "description", "address",
                  "requested_datetime", "updated_datetime"):
            self.assertEqual(x[k], j[k], k)

    def test_post_json_body(self):
        body = {"api_key": self.key, "service_code": "T311-ROAD", "lat": 34.75, "long": 113.62,
                "jurisdiction_id": self.tenant_code,
                "attribute": {"kind": "goods", "tags": ["blind"], "count": 2},
                "description": "店外堆物占用盲道"}
        r = self.o.post(None, raw=json.dumps(body, ensure_ascii=False).encode(),
                        content_type="application/json")
        self.assertEqual(r.status, 200, r)
        sid = r.json[0]["service_request_id"]
        self.assertEqual(self.one(sid)["description"], "店外堆物占用盲道")
        self.assertEqual(self.srv.sql("SELECT code, value FROM open311_request_attributes WHERE "
                                      "request_id = ? ORDER BY code", (int(sid),)),
                         [("count", "2"), ("kind", "goods"), ("tags", "blind")])

    def test_address_only_and_generated_description(self):
        sid = self.file({"api_key": self.key, "service_code": "T311.NOISE",
                         "address_string": "郑州市二七区长江路 1 号"})
        q = self.one(sid)
        self.assertIsNone(q["lat"])
        self.assertEqual(q["description"], "施工噪声：郑州市二七区长江路 1 号")
        sid = self.file({"api_key": self.key, "service_code": "T311.NOISE", "address_id": "A-77"})
        self.assertEqual(self.one(sid)["address_id"], "A-77")

    def test_bad_api_key(self):
        before = self.count()
        web = self.srv.login("dispatcher").cookie.split("=", 1)[1]
        bank = self.srv.login("bank").post("/api/v1/me/tokens", {"name": "bank"}).json["token"]
        revoked = self.dispatcher.post("/api/v1/me/tokens", {"name": "old"}).json
        self.assertEqual(self.dispatcher.delete("/api/v1/me/tokens/%d" % revoked["id"]).status,
                         204)
        for fmt in ("json", "xml"):
            for key in (None, "", "nope", "yq_" + "A" * 43, web, revoked["token"], bank):
                with self.subTest(fmt=fmt, key=key):
                    f = self.road()
                    if key is None:
                        del f["api_key"]
                    else:
                        f["api_key"] = key
                    self.spec_error(self.o.post(f, fmt), 403, fmt, "api_key")
        # JSON bodies too
        r = self.o.post(None, raw=b'{"service_code":"T311-ROAD"}', content_type="application/json")
        self.spec_error(r, 403, "json", "api_key")
        self.assertEqual(self.count(), before)

    def test_bad_input(self):
        before = self.count()
        cases = [
            ({"attribute[kind]": ""}, 400, "attribute[kind]"),
            ({"attribute[kind]": "boat"}, 400, "attribute[kind]"),
            ({"attribute[kind][]": ["stall", "goods"]}, 400, "attribute[kind]"),
            ({"attribute[tags][]": ["food", "nope"]}, 400, "attribute[tags]"),
            ({"attribute[count]": "three"}, 400, "attribute[count]"),
            ({"attribute[seen_at]": "2026-01-15 20:30"}, 400, "attribute[seen_at]"),
            ({"attribute[color]": "red"}, 400, "attribute[color]"),
            ({"attribute[notice]": "x"}, 400, "attribute[notice]"),
            ({"attribute[kind": "stall"}, 400, "attribute[kind"),
            ({"lat": "", "long": ""}, 400, "lat"),
            ({"long": ""}, 400, "long"),
            ({"lat": "91"}, 400, "lat"),
            ({"lat": "0x10"}, 400, "lat"),
            ({"service_code": ""}, 400, "service_code"),
            ({"service_code": "NOPE"}, 404, "NOPE"),
            ({"service_code": "t311-hidden"}, 404, "service_code"),
            ({"email": "not-an-address"}, 400, "email"),
            ({"phone": "call me"}, 400, "phone"),
            ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
            ({"description": "长" * 4001}, 400, "description"),
            ({"first_name": "名" * 17}, 400, "first_name"),
            ({"favourite": "x"}, 400, "favourite"),
            ({"jurisdiction_id": "nowhere"}, 404, "jurisdiction_id"),
        ]
        for extra, status, mention in cases:
            with self.subTest(extra=str(extra)[:60]):
                self.spec_error(self.o.post(self.road(**extra)), status, "json", mention)
        # a missing required attribute, named, in XML
        f = self.road()
        del f["attribute[kind]"]
        desc = self.spec_error(self.o.post(f, "xml"), 400, "xml", "attribute[kind]")
        self.assertIn("占道类型", desc)
        # raw bodies the parser refuses
        key = urllib.parse.quote(self.key)
        for raw, mention in [
                (b"api_key=" + key.encode() + b"&service_code=T311.NOISE&address_string=%FF",
                 "address_string"),
                (b"api_key=" + key.encode() + b"&service_code=T311.NOISE&address_string=a%00b",
                 "address_string"),
                (b"api_key=" + key.encode() + b"&service_code=T311.NOISE&address_string=%E4%BA",
                 "address_string"),
                (b"api_key=" + key.encode() + b"&service_code=T311.NOISE&service_code=X",
                 "service_code"),
                (b"api_key=" + key.encode() + b"&" + b"k" * 65 + b"=1", "64")]:
            with self.subTest(raw=raw[-40:]):
                self.spec_error(self.o.post(None, raw=raw), 400, "json", mention)
        r = self.o.post(None, raw=b"x", content_type="multipart/form-data; boundary=x")
        self.spec_error(r, 400, "json", "Content-Type")
        r = self.o.post(None, raw=b"x", content_type="application/x-www-form-urlencoded; charset=gbk")
        self.spec_error(r, 400, "json", "UTF-8")
        self.assertEqual(self.count(), before)

    def test_tokens(self):
        sid = self.file(self.road())
        number = self.srv.sql("SELECT number FROM requests WHERE id = ?", (int(sid),))[0][0]
        self.assertEqual(self.o.get("tokens/" + number).json,
                         [{"service_request_id": sid, "token": number}])
        x = xml_items(self.o.get("tokens/" + number, "xml").raw, "service_requests", "request")
        self.assertEqual(x, [{"service_request_id": sid, "token": number}])
        for fmt in ("json", "xml"):
            self.spec_error(self.o.get("tokens/19990101-000001", fmt), 404, fmt)

    # ---- lists ----

    def test_list_filters_and_pages(self):
        t0 = datetime.datetime.now(SH) - datetime.timedelta(seconds=1)
        noise = [self.file({"api_key": self.key, "service_code": "T311.NOISE",
                            "address_string": "工地 %d" % i}) for i in range(3)]
        roads = [self.file(self.road()) for _ in range(2)]
        mine = noise + roads

        def ids(fmt="json", **q):
            r = self.o.get("requests", fmt, **q)
            self.assertEqual(r.status, 200, r)
            items = r.json if fmt == "json" else xml_items(r.raw, "service_requests", "request")
            return [i["service_request_id"] for i in items]

        everything = ids()
        self.assertEqual(everything[:5], list(reversed(mine)))  # newest first
        self.assertEqual(ids("xml"), everything)
        got = ids(service_code="T311.NOISE")
        self.assertTrue(set(noise) <= set(got))
        self.assertFalse(set(roads) & set(got))
        both = ids(service_code="T311.NOISE,T311-ROAD")
        self.assertTrue(set(mine) <= set(both))
        self.assertEqual(ids(service_request_id="%s,%s,%s,999999" % (roads[1], noise[0], roads[1])),
                         [roads[1], noise[0]])
        # pages: disjoint, in order, together the whole list
        pages = [ids(page_size=2, page=p) for p in range(1, 4)]
        self.assertEqual(pages[0] + pages[1] + pages[2], everything[:6])
        self.assertEqual(ids(page_size=2, page=1000), [])
        # with updated_after: by the last change, oldest first (a syncing client's order)
        synced = ids(updated_after=t0.isoformat())
        self.assertEqual([i for i in synced if i in mine], mine)
        self.assertEqual(ids("xml", updated_after=t0.isoformat()), synced)
        # the date window of requested_datetime
        # (the demo's history in its own services is older than a day)
        now = datetime.datetime.now(SH)
        self.assertEqual(ids(start_date=(now + datetime.timedelta(hours=1)).isoformat()), [])
        ours = {"service_code": "T311.NOISE,T311-ROAD"}
        self.assertEqual(ids(end_date=(now - datetime.timedelta(days=1)).isoformat(), **ours), [])
        self.assertTrue(set(mine) <= set(ids(
            start_date=(now - datetime.timedelta(days=1)).isoformat(),
            end_date=(now + datetime.timedelta(days=1)).isoformat(), **ours)))
        demo = ids(service_code="URB-ROAD,UTIL-WATER,UTIL-POWER,FIRE,TRAFFIC,URB-SIGN",
                   end_date=(now - datetime.timedelta(days=1)).isoformat())
        self.assertTrue(demo)
        self.assertFalse(set(demo) & set(mine))
        for q, field in [({"start_date": "yesterday"}, "start_date"),
                         ({"start_date": "2026-01-01T00:00:00"}, "start_date"),
                         ({"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-06-01T00:00:00Z"},
                          "90"),
                         ({"status": "pending"}, "status"), ({"page_size": "5000"}, "page_size"),
                         ({"page": "0"}, "page"), ({"service_request_id": "1,x"},
                                                   "service_request_id"),
                         ({"updated_after": "2026-02-01T00:00:00Z",
                           "updated_before": "2026-01-01T00:00:00Z"}, "updated_before")]:
            with self.subTest(q=q):
                for fmt in ("json", "xml"):
                    r = self.o.get("requests", fmt, **q)
                    self.spec_error(r, 400, fmt, field)
        for fmt in ("json", "xml"):
            self.spec_error(self.o.get("requests", fmt, jurisdiction_id="nowhere"), 404, fmt)
        self.assertEqual(ids(jurisdiction_id=self.tenant_code), everything)

    def test_status_follows_the_loop(self):
        sid = self.file(self.road())
        first = self.one(sid)
        self.assertEqual((first["status"], first["status_notes"]), ("open", "诉求已受理"))
        self.act(self.dispatcher, sid, "dispatch", department_id=self.dept[0])
        q = self.one(sid)
        self.assertEqual(q["status"], "open")
        self.assertEqual(q["agency_responsible"], self.dept[1])
        self.assertGreater(iso(q["expected_datetime"]), iso(q["requested_datetime"]))
        self.assertGreaterEqual(iso(q["updated_datetime"]), iso(first["updated_datetime"]))
        self.act(self.handler, sid, "sign")
        self.act(self.handler, sid, "reply", public_note="已责令摊主撤离并加强巡查",
                 internal_note="内部：摊主系屡犯，不得外传")
        q = self.one(sid)
        self.assertEqual((q["status"], q["status_notes"]), ("open", "已责令摊主撤离并加强巡查"))
        self.assertNotIn("不得外传", self.o.get("requests/" + sid).raw)
        self.assertNotIn("不得外传", self.o.get("requests/" + sid, "xml").raw)
        replied = iso(q["updated_datetime"])
        # updated_after picks what changed since (times are shown to the second, and a
        # request updated within the second given is returned again: never missed)
        later = (replied + datetime.timedelta(seconds=1)).isoformat()
        self.assertNotIn(sid, [i["service_request_id"] for i in self.o.get(
            "requests", updated_after=later).json])
        self.assertIn(sid, [i["service_request_id"] for i in self.o.get(
            "requests", updated_after=replied.isoformat()).json])
        self.assertNotIn(sid, [i["service_request_id"] for i in self.o.get(
            "requests", updated_before=replied.isoformat()).json])
        before_close = replied - datetime.timedelta(seconds=1)
        self.act(self.dispatcher, sid, "close")
        q = self.one(sid)
        self.assertEqual(q["status"], "closed")
        self.assertIsNone(q["service_notice"])
        ids_after = [i["service_request_id"] for i in self.o.get(
            "requests", updated_after=before_close.isoformat()).json]
        self.assertIn(sid, ids_after)
        mine = {"service_code": "T311-ROAD"}
        closed = [i["service_request_id"] for i in self.o.get("requests", status="closed",
                                                              **mine).json]
        opened = [i["service_request_id"] for i in self.o.get("requests", status="open",
                                                              **mine).json]
        self.assertIn(sid, closed)
        self.assertNotIn(sid, opened)
        self.assertFalse(set(closed) & set(opened))
        self.assertEqual(set(closed) | set(opened),
                         {i["service_request_id"] for i in self.o.get("requests", **mine).json})
        self.assertEqual(set(closed), {i["service_request_id"] for i in self.o.get(
            "requests", status="closed,open", **mine).json} - set(opened))

    def test_reclassified_stays_public(self):
        sid = self.file(self.road())
        self.act(self.dispatcher, sid, "dispatch", department_id=self.dept[0],
                 category_id=self.hidden_id)
        q = self.one(sid)
        self.assertEqual((q["service_code"], q["service_name"]), ("T311-ROAD", "占道经营"))
        self.assertIn(sid, [i["service_request_id"] for i in
                            self.o.get("requests", service_code="T311-ROAD").json])

    def test_demo_services(self):
        svc = {s["service_code"]: s for s in self.o.get("services").json}
        for code in ("URB-ROAD", "URB-SIGN", "UTIL-WATER", "UTIL-POWER", "FIRE", "TRAFFIC"):
            self.assertIn(code, svc)
        self.assertIs(svc["URB-ROAD"]["metadata"], True)
        self.assertIs(svc["URB-SIGN"]["metadata"], False)
        kind = self.o.get("services/URB-ROAD").json["attributes"][0]
        self.assertEqual((kind["code"], kind["datatype"], kind["required"]),
                         ("kind", "singlevaluelist", True))
        sid = self.file({"api_key": self.key, "service_code": "FIRE", "address_string": "仓库",
                         "attribute[hazard][]": ["exit", "wire"]})
        self.assertEqual(self.one(sid)["service_name"], "消防安全")

    def test_merged_and_voided_are_closed(self):
        master, dup, junk = self.file(self.road()), self.file(self.road()), self.file(self.road())
        self.act(self.dispatcher, dup, "merge", master_id=int(master))
        self.act(self.dispatcher, junk, "void", internal_note="重复测试数据")
        q = self.one(dup)
        self.assertEqual(q["status"], "closed")
        self.assertIn(master, q["status_notes"])
        self.assertEqual(self.one(junk)["status"], "closed")
        self.assertEqual(self.one(master)["status"], "open")

    def test_only_public_requests(self):
        # filed through our own API in a published service: visible, without the text
        r = self.dispatcher.post("/api/v1/requests", {
            "type": "complaint", "category_id": self.road_id, "content": "企业的内部投诉内容",
            "contact_phone": "13900139000", "address": "二七区某路"})
        self.assertEqual(r.status, 201, r)
        q = self.one(str(r.json["id"]))
        self.assertIsNone(q["description"])
        self.assertEqual(q["service_code"], "T311-ROAD")
        raw = self.o.get("requests/%d" % r.json["id"], "xml").raw
        self.assertNotIn("内部投诉", raw)
        self.assertNotIn("13900139000", raw)
        # not published: not there
        r = self.dispatcher.post("/api/v1/requests", {
            "type": "help", "category_id": self.hidden_id, "content": "不公开的诉求"})
        self.assertEqual(r.status, 201, r)
        for fmt in ("json", "xml"):
            self.spec_error(self.o.get("requests/%d" % r.json["id"], fmt), 404, fmt)
        self.assertNotIn(str(r.json["id"]), [i["service_request_id"] for i in
                                             self.o.get("requests").json])
        for path in ("requests/0", "requests/abc", "requests/99999999"):
            self.spec_error(self.o.get(path), 404)

    # ---- the administrator's side ----

    def test_attribute_definitions_admin(self):
        url = "/api/v1/request-categories/%d/open311-attributes" % self.noise_id
        bad = [
            ([{"code": "a b", "datatype": "string", "description": "x"}], "attributes[0].code"),
            ([{"code": "a", "datatype": "list", "description": "x"}], "attributes[0].datatype"),
            ([{"code": "a", "datatype": "singlevaluelist", "description": "x"}],
             "attributes[0].values"),
            ([{"code": "a", "datatype": "singlevaluelist", "description": "x",
               "values": [{"key": "k", "name": "n"}, {"key": "k", "name": "m"}]}],
             "attributes[0].values[1]"),
            ([{"code": "a", "datatype": "string", "description": "x", "values": [{"key": "k"}]}],
             "attributes[0].values"),
            ([{"code": "a", "datatype": "string", "description": "x"},
              {"code": "a", "datatype": "number", "description": "y"}], "attributes[1].code"),
            ([{"code": "a", "datatype": "string", "description": "x", "order": 2},
              {"code": "b", "datatype": "number", "description": "y", "order": 2}],
             "attributes[1].order"),
            ([{"code": "a", "datatype": "string", "description": "x", "variable": False,
               "required": True}], "attributes[0].required"),
            ([{"code": "a", "datatype": "string"}], "attributes[0].description"),
            ([{"code": "a", "datatype": "string", "description": "x", "color": 1}],
             "attributes[0].color"),
        ]
        for attrs, field in bad:
            with self.subTest(field=field):
                r = self.admin.put(url, {"attributes": attrs})
                self.assertIn(r.status, (400, 422), r)
                self.assertTrue(r.error["field"].startswith(field), (field, r))
        self.assertEqual(self.o.get("services/T311.NOISE").json["attributes"], [])
        self.assertEqual(self.handler.put(url, {"attributes": []}).status, 403)
        self.assertEqual(self.admin.put("/api/v1/request-categories/999999/open311-attributes",
                                        {"attributes": []}).status, 404)
        before = self.o.get("discovery").json["changeset"]
        r = self.admin.put(url, {"attributes": [
            {"code": "hours", "datatype": "string", "description": "施工时段", "required": True}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["items"][0]["order"], 1)
        self.assertEqual(self.handler.get(url).json, r.json)
        svc = {s["service_code"]: s for s in self.o.get("services").json}["T311.NOISE"]
        self.assertIs(svc["metadata"], True)
        self.assertGreaterEqual(iso(self.o.get("discovery").json["changeset"]), iso(before))
        f = {"api_key": self.key, "service_code": "T311.NOISE", "address_id": "x"}
        self.spec_error(self.o.post(f), 400, "json", "attribute[hours]")
        f["attribute[hours]"] = "夜间 22:00 以后"
        self.file(f)
        self.assertEqual(self.admin.put(url, {"attributes": []}).status, 200)
        self.assertIs({s["service_code"]: s for s in self.o.get("services").json}
                      ["T311.NOISE"]["metadata"], False)
        audit = self.srv.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'open311_attributes'")
        self.assertGreaterEqual(audit[0][0], 2)

    def test_open311_code_unique(self):
        r = self.admin.post("/api/v1/request-categories", {
            "code": "t311-dup", "name": "重复", "open311_code": "T311-ROAD"})
        self.assertEqual(r.status, 409, r)


if __name__ == "__main__":
    unittest.main()
