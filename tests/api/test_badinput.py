"""Bad input: malformed JSON, bad UTF-8, wrong types, missing/unknown fields, rule
violations, oversized bodies (Content-Length and chunked), and a seeded fuzz loop.

Every refused request must leave the database untouched (srv.counts() equal before
and after), answer with exactly {"error":{"code","message","message_zh","field"}}
in valid UTF-8, and leave the server healthy.
"""
import http.client
import json
import random
import unittest

from harness import DEMO_PASSWORD, Server

JSON_CT = "application/json"
ERROR_KEYS = {"code", "message", "message_zh", "field"}

# Invalid UTF-8 byte sequences, each placed inside a JSON string.
BAD_UTF8 = [
    b"\xff\xfe",              # bytes that never occur in UTF-8
    b"\xc0\xaf",              # overlong '/'
    b"\xe0\x80\xaf",          # overlong, 3 bytes
    b"\xf0\x80\x80\xaf",      # overlong, 4 bytes
    b"\xed\xa0\x80",          # lone high surrogate U+D800
    b"\xed\xbf\xbf",          # lone low surrogate U+DFFF
    b"\xf4\x90\x80\x80",      # above U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # 5-byte form
    b"\x80",                  # stray continuation byte
    b"\xe5\xad",              # truncated 3-byte sequence
]


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False).encode()


class Route:
    """What we know about one write route: a valid body and the ways to break it."""

    def __init__(self, name, method, path, valid, limit, wrong_types, required, rule_breaks,
                 public=False):
        self.name = name
        self.method = method
        self.path = path
        self.valid = valid            # dict: a body the route would accept
        self.limit = limit            # body limit in bytes
        self.wrong_types = wrong_types  # [(field, bad value)] -> 400 naming field
        self.required = required      # fields whose absence -> 400 naming field
        self.rule_breaks = rule_breaks  # [(field, value)] -> 422 naming field
        self.public = public          # no session needed (login)


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        uid = cls.srv.sql("SELECT id FROM users WHERE login = 'handler'")[0][0]
        cls.dept_id = cls.srv.sql("SELECT id FROM departments WHERE code = 'amr'")[0][0]
        cls.routes = [
            Route("user-create", "POST", "/api/v1/users",
                  {"login": "newbie", "display_name": "新用户", "phone": "13800000000",
                   "email": "newbie@example.cn", "department_id": cls.dept_id,
                   "roles": ["handler"]},
                  8192,
                  [("login", 42), ("display_name", ["x"]), ("department_id", "7"),
                   ("department_id", 1.5), ("roles", {"a": 1}), ("roles", "handler"),
                   ("roles", [1, 2]), ("phone", 13800000000), ("email", True)],
                  ["login", "display_name"],
                  [("login", "x" * 33), ("login", "Bad Login"), ("display_name", "名" * 65),
                   ("display_name", "   "), ("phone", "1" * 21), ("email", "e" * 101),
                   ("department_id", 0), ("department_id", -5), ("roles", ["no_such_role"]),
                   ("password", "short")]),
            Route("dept-create", "POST", "/api/v1/departments",
                  {"code": "newdept", "name": "新部门", "parent_id": cls.dept_id, "sort": 3},
                  64 * 1024,
                  [("code", 5), ("name", {"zh": "x"}), ("parent_id", "1"), ("sort", "3"),
                   ("sort", 2.5), ("parent_id", [cls.dept_id])],
                  ["code", "name"],
                  [("code", "c" * 33), ("name", "n" * 65), ("name", " "),
                   ("sort", 2 ** 31), ("sort", -2 ** 31 - 1), ("parent_id", 0)]),
            Route("user-update", "PATCH", "/api/v1/users/%d" % uid,
                  {"display_name": "改名", "phone": "13900000000"},
                  8192,
                  [("display_name", 1), ("email", ["a@b.cn"]), ("department_id", "3"),
                   ("roles", {"handler": True}), ("status", 1), ("unlock", "yes")],
                  [],
                  [("phone", "1" * 21), ("phone", "12ab5"), ("email", "not-an-address"),
                   ("department_id", 0), ("department_id", 999999), ("status", "gone"),
                   ("roles", ["no_such_role"]), ("display_name", "名" * 65)]),
            Route("settings", "PUT", "/api/v1/settings",
                  {"login.max_failures": 6, "login.lock_minutes": 20},
                  4096,
                  [("login.max_failures", "5"), ("login.lock_minutes", 1.5),
                   ("login.max_failures", [5]), ("login.lock_minutes", True)],
                  [],
                  [("login.max_failures", 0), ("login.max_failures", 101),
                   ("login.lock_minutes", 1441), ("login.lock_minutes", -1)]),
            Route("login", "POST", "/api/v1/auth/login",
                  {"login": "admin", "password": DEMO_PASSWORD},
                  4096,
                  [("login", 1), ("password", 12345678), ("bearer", "yes"),
                   ("tenant", 1), ("login", {"x": 1})],
                  ["login", "password"],
                  [("login", "l" * 65), ("password", "p" * 129), ("login", "  "),
                   ("tenant", "t" * 33)],
                  public=True),
            Route("token-create", "POST", "/api/v1/me/tokens",
                  {"name": "ci token", "expires_days": 30},
                  4096,
                  [("name", 7), ("expires_days", "30"), ("expires_days", 3.5),
                   ("name", ["x"])],
                  ["name"],
                  [("name", "n" * 65), ("name", ""), ("expires_days", 0),
                   ("expires_days", 3651)]),
        ]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- plumbing ----

    def send(self, route, raw, chunked=False, headers=None):
        """One request on a fresh connection; returns (status, raw bytes, headers)."""
        h = {"Content-Type": JSON_CT}
        if not route.public:
            h["Cookie"] = self.admin.cookie
            h["X-CSRF-Token"] = self.admin.csrf
        if headers:
            h.update(headers)
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        try:
            if chunked:
                # an iterable body without Content-Length: sent with Transfer-Encoding: chunked
                step = 1000
                parts = [raw[i:i + step] for i in range(0, len(raw), step)]
                conn.request(route.method, route.path, body=iter(parts), headers=h,
                             encode_chunked=True)
            else:
                conn.request(route.method, route.path, body=raw, headers=h)
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheaders()
        finally:
            conn.close()

    def check_error_shape(self, status, raw, what):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail("%s: error body is not valid UTF-8 (%s): %r" % (what, e, raw[:300]))
        try:
            doc = json.loads(text)
        except ValueError:
            self.fail("%s: error body is not JSON: %r" % (what, raw[:300]))
        self.assertIsInstance(doc, dict, what)
        self.assertEqual(set(doc), {"error"}, "%s: %r" % (what, doc))
        err = doc["error"]
        self.assertIsInstance(err, dict, what)
        self.assertEqual(set(err), ERROR_KEYS, "%s: %r" % (what, err))
        for k in ERROR_KEYS:
            self.assertIsInstance(err[k], str, "%s: %s not a string" % (what, k))
        self.assertTrue(err["message"].strip(), "%s: empty message" % what)
        self.assertTrue(err["message_zh"].strip(), "%s: empty message_zh" % what)
        return err

    def healthy(self):
        r = self.srv.client().get("/healthz")
        self.assertEqual(r.status, 200, "server unhealthy after a refused request: %r" % r)

    def refused(self, route, raw, status, code=None, field=None, chunked=False, what=""):
        what = "%s %s %s: %r" % (route.name, what, "chunked" if chunked else "", raw[:120])
        before = self.srv.counts()
        st, body, _ = self.send(route, raw, chunked=chunked)
        self.assertEqual(st, status, "%s -> %d %r" % (what, st, body[:300]))
        err = self.check_error_shape(st, body, what)
        if code:
            self.assertEqual(err["code"], code, "%s: %r" % (what, err))
        if field is not None:
            self.assertEqual(err["field"], field, "%s: %r" % (what, err))
        self.assertEqual(self.srv.counts(), before, "%s changed the database" % what)
        self.healthy()
        return err

    # ---- malformed bodies ----

    def test_malformed_json(self):
        for rt in self.routes:
            v = dumps(rt.valid)
            bodies = [
                v[:-1],                       # truncated
                v[: len(v) // 2],             # truncated mid-way
                v + b" x",                    # trailing garbage
                v + b"}",                     # extra brace
                v + v,                        # two objects
                v.replace(b'"', b"'"),        # single quotes
                b"{login: 1}",                # bare key
                b'{"a":1,}',                  # trailing comma
                b'{"a" 1}',                   # missing colon
                b"{",
                b"}",
                b"nul",
                b"\xef\xbb\xbf" + v,          # UTF-8 byte order mark
                b'{"a":"unterminated}',
                b'{"a":"bad escape \\q"}',
                b'{"a":"\\u12"}',
                b'{"a":NaN}',
                b'{"a":1e99999}',             # real overflow
                b'{"a":123456789012345678901234567890}',  # integer overflow
                b'{"a":"tab\tinside"}',       # raw control character in a string
                b'{"a":' + b"[" * 3000,       # too deep (jansson stops at 2048)
                b"[" * 2000 + b"]" * 2000,    # top-level array, deep
            ]
            for raw in bodies:
                self.refused(rt, raw, 400, "bad_request", "body", what="malformed")

    def test_top_level_not_object(self):
        for rt in self.routes:
            for raw in (b"[]", b"[" + dumps(rt.valid) + b"]", b'"string"', b"42", b"null",
                        b"true", b"3.5"):
                self.refused(rt, raw, 400, "bad_request", "body", what="top-level")

    def test_empty_body(self):
        for rt in self.routes:
            self.refused(rt, b"", 400, "bad_request", "body", what="empty")
            self.refused(rt, b"   \r\n\t ", 400, "bad_request", "body", what="blank")

    def test_invalid_utf8(self):
        for rt in self.routes:
            key = next(iter(rt.valid))
            for bad in BAD_UTF8:
                # inside a value
                obj = dict(rt.valid)
                obj[key] = "\x00PLACEHOLDER"
                raw = dumps(obj).replace(b"\\u0000PLACEHOLDER", b"ab" + bad + b"cd")
                self.assertIn(bad, raw)
                self.refused(rt, raw, 400, "bad_request", "body", what="utf8 value")
                # inside a key
                raw = b'{"k' + bad + b'":1}'
                self.refused(rt, raw, 400, "bad_request", "body", what="utf8 key")
                # at the very end of the body
                self.refused(rt, dumps(rt.valid) + bad, 400, "bad_request", "body",
                             what="utf8 tail")
            # the brief's example, verbatim
            self.refused(rt, b'{"login":"\xff\xfe"}', 400, "bad_request", "body")

    def test_escaped_surrogates_and_nul(self):
        for rt in self.routes:
            key = next(iter(rt.valid))
            for esc in (b"\\ud800", b"\\udfff", b"\\ud800x", b"\\ud800\\u0041"):
                obj = dict(rt.valid)
                obj[key] = "\x00SLOT"
                raw = dumps(obj).replace(b"\\u0000SLOT", b"a" + esc)
                self.refused(rt, raw, 400, "bad_request", what="escaped surrogate")
            for val in ("a\x00b", "\x00", "end\x00"):
                obj = dict(rt.valid)
                obj[key] = val
                raw = json.dumps(obj).encode()
                self.assertIn(b"\\u0000", raw)
                self.refused(rt, raw, 400, "bad_request", what="NUL in string")
            self.refused(rt, b'{"a\\u0000b":1}', 400, "bad_request", what="NUL in key")

    def test_duplicate_keys(self):
        for rt in self.routes:
            key = next(iter(rt.valid))
            v = dumps(rt.valid)
            raw = v[:-1] + b"," + dumps({key: rt.valid[key]})[1:]  # same key, same value
            self.assertEqual(raw.count(json.dumps(key).encode()), 2)
            self.refused(rt, raw, 400, "bad_request", "body", what="duplicate key")

    # ---- field validation ----

    def test_wrong_types(self):
        for rt in self.routes:
            for field, bad in rt.wrong_types:
                obj = dict(rt.valid)
                obj[field] = bad
                self.refused(rt, dumps(obj), 400, "bad_request", field,
                             what="wrong type %s=%r" % (field, bad))

    def test_missing_required(self):
        for rt in self.routes:
            for field in rt.required:
                obj = {k: v for k, v in rt.valid.items() if k != field}
                self.refused(rt, dumps(obj), 400, "bad_request", field,
                             what="missing %s" % field)
                obj[field] = None  # null counts as missing
                self.refused(rt, dumps(obj), 400, "bad_request", field,
                             what="null %s" % field)
            if rt.required:
                err = self.refused(rt, b"{}", 400, "bad_request", what="{}")
                self.assertIn(err["field"], rt.required)

    def test_unknown_fields(self):
        for rt in self.routes:
            for name in ("zzz_unknown", "Login", "id", "tenant_id", "字段", "a" * 50):
                obj = dict(rt.valid)
                obj[name] = 1
                self.refused(rt, dumps(obj), 400, "bad_request", name,
                             what="unknown %s" % name)

    def test_rule_breaks(self):
        for rt in self.routes:
            for field, val in rt.rule_breaks:
                obj = dict(rt.valid)
                obj[field] = val
                self.refused(rt, dumps(obj), 422, "unprocessable", field,
                             what="rule %s=%r" % (field, val))

    def test_long_non_ascii_names_stay_utf8(self):
        # messages and the field are fixed-size buffers: truncation must not cut a
        # multi-byte character in half (the reply would no longer be UTF-8).
        rt = self.routes[0]
        for pad in range(4):
            name = "k" * pad + "字" * 150
            obj = dict(rt.valid)
            obj[name] = 1
            err = self.refused(rt, dumps(obj), 400, "bad_request", what="long unknown key")
            self.assertTrue(name.startswith(err["field"]) and err["field"], err["field"])
        settings = self.routes[3]
        for pad in range(2):
            self.refused(settings, dumps({"b" * pad + "é" * 300: 1}), 400, "bad_request",
                         what="long setting key")

    def test_bad_bytes_in_path_stay_utf8(self):
        # the path (percent-decoded by libmicrohttpd) is echoed in 404 messages and
        # written to the access log: both must stay valid UTF-8 JSON
        user_patch = self.routes[2]
        cases = [("GET", "/nope%ff%fe", 404, ""), ("GET", "/api/v1/%c0%afx", 404, ""),
                 ("PATCH", "/api/v1/users/%ff", 404, "id"),
                 ("PATCH", "/api/v1/users/%ed%a0%80", 404, "id"),
                 ("PATCH", "/api/v1/users/1%e5%ad", 404, "id"),
                 ("DELETE", "/api/v1/departments/%f8%88%80%80%80", 404, "id")]
        for method, path, status, field in cases:
            rt = Route("path", method, path, user_patch.valid, 0, [], [], [])
            body = b"" if method in ("GET", "DELETE") else dumps({"display_name": "x"})
            self.refused(rt, body, status, "not_found", field, what=path)
        with open(self.srv.dir + "/access.log", "rb") as f:
            for line in f:
                try:
                    json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    self.fail("access log line is not UTF-8 JSON (%s): %r" % (e, line[:300]))

    # ---- body limits ----

    def padded(self, rt, size, extra=None):
        """A JSON body of exactly `size` bytes (whitespace padding before the '}')."""
        obj = dict(rt.valid)
        if extra:
            obj.update(extra)
        raw = dumps(obj)
        self.assertLess(len(raw), size)
        raw = raw[:-1] + b" " * (size - len(raw)) + b"}"
        self.assertEqual(len(raw), size)
        return raw

    def test_oversized_body(self):
        for rt in self.routes:
            over = self.padded(rt, rt.limit + 1)
            for chunked in (False, True):
                err = self.refused(rt, over, 413, "payload_too_large", "body", chunked=chunked,
                                   what="limit+1")
                self.assertIn(str(rt.limit), err["message"])
            big = self.padded(rt, 1024 * 1024)
            self.refused(rt, big, 413, "payload_too_large", "body", what="1 MiB")
            self.refused(rt, big, 413, "payload_too_large", "body", chunked=True, what="1 MiB")
            # exactly at the limit is not too large: an unknown field makes it a 400
            at = self.padded(rt, rt.limit, {"zz_pad": 1})
            for chunked in (False, True):
                self.refused(rt, at, 400, "bad_request", "zz_pad", chunked=chunked,
                             what="at limit")

    def test_oversized_unauthenticated_and_invalid_utf8(self):
        # the size check comes first, whatever else is wrong with the request
        rt = self.routes[1]
        anon = Route("dept-anon", rt.method, rt.path, rt.valid, rt.limit, [], [], [],
                     public=True)
        self.refused(anon, b"\xff" * (rt.limit + 10), 413, "payload_too_large", "body")
        self.refused(anon, b"\xff" * (rt.limit + 10), 413, "payload_too_large", "body",
                     chunked=True)
        self.refused(anon, dumps(rt.valid), 401, "unauthenticated")

    def test_keep_alive_after_refusals(self):
        # a refused request must not poison the connection for the next one
        c = self.srv.login("admin")
        for raw in (b"{", b"\xff", b"[]", b""):
            r = c.request("POST", "/api/v1/departments", raw=raw,
                          headers={"Content-Type": JSON_CT})
            self.assertEqual(r.status, 400)
        r = c.get("/api/v1/me")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["login"], "admin")

    # ---- login specifics ----

    def test_login_attempts_only_for_real_attempts(self):
        rt = self.routes[4]
        before = self.srv.counts()
        st, body, _ = self.send(rt, dumps({"login": "leader", "password": "Wrong#Pass1"}))
        self.assertEqual(st, 401)
        self.check_error_shape(st, body, "wrong password")
        after = self.srv.counts()
        self.assertEqual(after["login_attempts"], before["login_attempts"] + 1)
        before["login_attempts"] += 1
        self.assertEqual(after, before, "a failed login changed more than login_attempts")
        # a malformed login gets no attempt row (checked by refused())
        self.refused(rt, b'{"login":"leader","password":', 400, "bad_request", "body")
        self.refused(rt, dumps({"login": "leader"}), 400, "bad_request", "password")
        self.refused(rt, dumps({"login": "leader", "password": "x", "extra": 1}), 400,
                     "bad_request", "extra")

    # ---- max-body server option ----

    def test_max_body_option(self):
        small = Server.start(args=["--max-body", "1000"])
        try:
            admin = small.login("admin")
            dept_limit = 1000
            rt = self.routes[1]
            over = self.padded(rt, dept_limit + 1)
            for chunked in (False, True):
                before = small.counts()
                conn = http.client.HTTPConnection("127.0.0.1", small.port, timeout=60)
                h = {"Content-Type": JSON_CT, "Cookie": admin.cookie, "X-CSRF-Token": admin.csrf}
                if chunked:
                    conn.request("POST", rt.path, body=iter([over[:500], over[500:]]),
                                 headers=h, encode_chunked=True)
                else:
                    conn.request("POST", rt.path, body=over, headers=h)
                resp = conn.getresponse()
                raw = resp.read()
                conn.close()
                self.assertEqual(resp.status, 413, raw)
                err = self.check_error_shape(resp.status, raw, "--max-body")
                self.assertEqual(err["code"], "payload_too_large")
                self.assertIn("1000", err["message"])
                self.assertEqual(small.counts(), before)
            # at the limit: accepted and created
            r = admin.request("POST", rt.path, raw=self.padded(rt, dept_limit,
                                                               {"code": "maxbody"}),
                              headers={"Content-Type": JSON_CT})
            self.assertEqual(r.status, 201, r)
            # routes with their own limit keep it (users: 8192)
            r = admin.request("POST", "/api/v1/users",
                              raw=self.padded(self.routes[0], 4000, {"zz": 1}),
                              headers={"Content-Type": JSON_CT})
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.error["field"], "zz")
        finally:
            small.stop()

    # ---- fuzz ----

    def test_fuzz_user_create(self):
        rng = random.Random(20260214)
        rt = self.routes[0]
        values = [None, True, False, 0, -1, 1, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 1.5, -0.0, 1e308,
                  "", " ", "a", "x" * 40, "字" * 70, "\u0000", "\ud7ff", "\U0001F600" * 5,
                  "line\nbreak", "<script>", "' OR 1=1 --", "%s%n%x", [], [None], ["handler"],
                  ["admin", "admin"], ["handler"] * 20, {}, {"a": {"b": []}}, [[[[[]]]]]]
        keys = list(rt.valid) + ["password", "status", "id", "zzz", ""]

        def mutate(i):
            obj = dict(rt.valid)
            obj["login"] = "fz%03d" % i
            obj["password"] = "Fuzz#2026x"
            op = rng.randrange(10)
            if op == 0:    # replace a value
                obj[rng.choice(keys)] = rng.choice(values)
            elif op == 1:  # drop a key
                obj.pop(rng.choice(list(obj)), None)
            elif op == 2:  # several value changes
                for _ in range(rng.randint(2, 4)):
                    obj[rng.choice(keys)] = rng.choice(values)
            raw = bytearray(dumps(obj))
            if op == 3:    # flip bytes
                for _ in range(rng.randint(1, 4)):
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
            elif op == 4:  # delete a slice
                a = rng.randrange(len(raw))
                del raw[a:a + rng.randint(1, 10)]
            elif op == 5:  # insert random bytes
                a = rng.randrange(len(raw))
                raw[a:a] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op == 6:  # duplicate a slice
                a = rng.randrange(len(raw))
                b = min(len(raw), a + rng.randint(1, 30))
                raw[b:b] = raw[a:b]
            elif op == 7:  # truncate
                raw = raw[:rng.randrange(len(raw))]
            elif op == 8:  # swap structural characters
                for _ in range(rng.randint(1, 3)):
                    a = rng.randrange(len(raw))
                    raw[a] = ord(rng.choice('{}[]:,"\\ 0-eE.'))
            elif op == 9:  # interesting multi-byte sequences in a string
                bad = rng.choice(BAD_UTF8 + [b"\\u0000", b"\\ud800", b"\\", b"\xe5\xad\x97"])
                at = raw.find(b'"', raw.find(b":") + 1) + 1
                raw[at:at] = bad
            return bytes(raw)

        before = self.srv.counts()
        statuses = {}
        created = 0
        for i in range(300):
            raw = mutate(i)
            try:
                st, body, _ = self.send(rt, raw)
            except (OSError, http.client.HTTPException) as e:
                self.fail("fuzz case %d %r: no answer (%r)" % (i, raw, e))
            statuses[st] = statuses.get(st, 0) + 1
            what = "fuzz case %d %r -> %d %r" % (i, raw, st, body[:200])
            self.assertTrue(200 <= st < 300 or 400 <= st < 500, what)
            self.assertNotIn(st, (401, 403, 404, 405, 413), what)
            if st >= 400:
                self.check_error_shape(st, body, what)
            else:
                self.assertEqual(st, 201, what)
                doc = json.loads(body.decode("utf-8"))
                self.assertEqual(doc["login"], "fz%03d" % i, what)
                created += 1
        self.healthy()
        after = self.srv.counts()
        # exactly the created users were written, each with its audit row
        self.assertEqual(after["users"] - before["users"], created)
        self.assertEqual(after["audit_log"] - before["audit_log"], created)
        self.assertEqual(after["login_attempts"], before["login_attempts"])
        self.assertGreater(created, 0, statuses)
        self.assertGreater(sum(n for s, n in statuses.items() if s >= 400), 150, statuses)
        print("\nfuzz: %s, %d users created" % (sorted(statuses.items()), created))


if __name__ == "__main__":
    unittest.main()
