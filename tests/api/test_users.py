"""User administration: create (with and without a password), validation,
update of roles / department / status, password reset, list filters and
keyset paging, phone masking, and the audit trail of every write."""
import unittest

from harness import DEMO_PASSWORD, Server

USERS = "/api/v1/users"
STRONG = "Strong#Pass2026"


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


class Users(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        cls.dispatcher = cls.srv.login("dispatcher")
        cls.dept = dict(cls.srv.sql("SELECT code, id FROM departments"))
        cls.uid = dict(cls.srv.sql("SELECT login, id FROM users"))
        cls.seq = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def new_login(self, prefix="u"):
        Users.seq += 1
        return "%s.%03d" % (prefix, Users.seq)

    def create(self, login=None, password=STRONG, **fields):
        body = {"login": login or self.new_login(), "display_name": "测试用户"}
        if password is not None:
            body["password"] = password
        body.update(fields)
        r = self.admin.post(USERS, body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def audit_count(self):
        return self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0]

    def last_audit(self):
        return self.srv.sql("SELECT entity, entity_id, action, actor_login, request_id, summary "
                            "FROM audit_log ORDER BY tenant_id, seq DESC LIMIT 1")[0]

    def assert_audited(self, r, entity_id, action, before):
        """r wrote exactly one audit row about user entity_id, tagged with its request id."""
        self.assertEqual(self.audit_count(), before + 1, r)
        entity, eid, act, actor, reqid, _ = self.last_audit()
        self.assertEqual((entity, eid, act, actor), ("user", entity_id, action, "admin"))
        self.assertEqual(reqid, r.header("X-Request-Id"))

    def refused(self, r, status, code, field):
        """A refused write (callers compare srv.counts() around a batch of these)."""
        assert_error(self, r, status, code, field)

    def list_all(self, client, query=""):
        """Every page (the demo has some 400 users with its grid workers)."""
        items, after = [], 0
        while True:
            r = client.get(USERS + "?limit=200&after=%d" % after + ("&" + query if query else ""))
            self.assertEqual(r.status, 200, r)
            items += r.json["items"]
            if r.json["next"] is None:
                return items
            after = int(r.json["next"])

    # ---- create ----

    def test_create_with_password(self):
        before = self.audit_count()
        login = self.new_login("wang")
        r = self.admin.post(USERS, {
            "login": login, "display_name": "王伟", "password": STRONG,
            "phone": "13800001234", "email": "wang@example.cn",
            "department_id": self.dept["amr-reg"], "roles": ["handler", "inspector"]})
        self.assertEqual(r.status, 201, r)
        u = r.json
        self.assertEqual(u["login"], login)
        self.assertEqual(u["display_name"], "王伟")
        self.assertEqual(u["phone"], "13800001234")
        self.assertEqual(u["email"], "wang@example.cn")
        self.assertEqual(u["department_id"], self.dept["amr-reg"])
        self.assertEqual(u["department_name"], "登记注册科")
        self.assertEqual(sorted(u["roles"]), ["handler", "inspector"])
        self.assertEqual(u["status"], "active")
        self.assertFalse(u["must_change_password"])
        self.assertNotIn("one_time_password", u)
        self.assertNotIn("password", u)
        self.assertNotIn("password_hash", r.raw)
        self.assert_audited(r, u["id"], "create", before)
        # stored hashed
        h = self.srv.sql("SELECT password_hash FROM users WHERE id = ?", (u["id"],))[0][0]
        self.assertTrue(h.startswith("$argon2id$"), h)
        # the password logs in; the user reads back the same
        c = self.srv.login(login, password=STRONG)
        me = c.get("/api/v1/me").json
        self.assertEqual(me["id"], u["id"])
        self.assertEqual(sorted(me["roles"]), ["handler", "inspector"])
        got = self.admin.get("%s/%d" % (USERS, u["id"])).json
        for k in ("login", "display_name", "phone", "email", "department_id", "roles", "status"):
            self.assertEqual(got[k], u[k], k)

    def test_create_without_password_gives_one_time_password(self):
        r = self.admin.post(USERS, {"login": self.new_login("otp"), "display_name": "临时"})
        self.assertEqual(r.status, 201, r)
        u = r.json
        otp = u["one_time_password"]
        self.assertTrue(u["must_change_password"])
        self.assertGreaterEqual(len(otp), 12)
        self.assertEqual(u["roles"], [])
        self.assertIsNone(u["department_id"])
        # the one-time password is not stored in clear or shown again
        self.assertNotIn(otp, str(self.srv.sql("SELECT * FROM users WHERE id = ?", (u["id"],))))
        self.assertNotIn(otp, self.admin.get("%s/%d" % (USERS, u["id"])).raw)
        self.assertNotIn(otp, str(self.srv.sql("SELECT summary FROM audit_log")))
        c = self.srv.login(u["login"], password=otp)
        self.assertTrue(c.get("/api/v1/me").json["must_change_password"])
        # two users get different one-time passwords
        r2 = self.admin.post(USERS, {"login": self.new_login("otp"), "display_name": "临时"})
        self.assertNotEqual(r2.json["one_time_password"], otp)

    def test_duplicate_login_409(self):
        login = self.create()["login"]
        before = self.srv.counts()
        r = self.admin.post(USERS, {"login": login, "display_name": "又一个", "password": STRONG})
        self.refused(r, 409, "conflict", "login")
        r = self.admin.post(USERS, {"login": "handler", "display_name": "冒名",
                                    "password": STRONG})
        self.refused(r, 409, "conflict", "login")
        self.assertEqual(before, self.srv.counts())

    def test_bad_login_shape_422(self):
        before = self.srv.counts()
        for bad in ("ab", "x" * 33, "Upper", "with space", "-dash", ".dot", "_under", "张三",
                    "a/b", "a@b.cn", "tab\tx"):
            r = self.admin.post(USERS, {"login": bad, "display_name": "x", "password": STRONG})
            self.refused(r, 422, "unprocessable", "login")
        self.assertEqual(before, self.srv.counts())
        # the edges that are allowed
        for good in ("abc", "a" * 32, "9lives", "a.b_c-d"):
            self.create(login=good)

    def test_weak_passwords_422(self):
        before = self.srv.counts()
        login = self.new_login("weak")
        for bad in ("Ab1!xyz",            # 7 characters
                    "abcdefgh12",         # two classes: lower + digits
                    "ABCDEFGH!!",         # upper + other
                    "abcdefghijkl",       # one class
                    "密码密码密码密码",      # other only
                    "密码密码Ab1",          # 7 characters (13 bytes): characters count
                    login.upper()):       # the login itself (three classes, 8 characters)
            r = self.admin.post(USERS, {"login": login, "display_name": "x", "password": bad})
            self.refused(r, 422, "unprocessable", "password")
        self.assertEqual(before, self.srv.counts())
        # three classes and 8 characters is enough, also counting non-ASCII characters
        self.create(password="abcdefG1")
        self.create(password="密码Ab1!xy")

    def test_unknown_role_422(self):
        before = self.srv.counts()
        for roles in (["no_such_role"], ["handler", "root"], ["Admin"], ["observer"]):
            r = self.admin.post(USERS, {"login": self.new_login(), "display_name": "x",
                                        "password": STRONG, "roles": roles})
            self.refused(r, 422, "unprocessable", "roles")
        self.assertEqual(before, self.srv.counts())

    def test_unknown_department_422(self):
        before = self.srv.counts()
        for dept in (999999, 10 ** 15):
            r = self.admin.post(USERS, {"login": self.new_login(), "display_name": "x",
                                        "password": STRONG, "department_id": dept})
            self.refused(r, 422, "unprocessable", "department_id")
        self.assertEqual(before, self.srv.counts())

    def test_other_fields_validated(self):
        before = self.srv.counts()
        cases = [({"phone": "12ab"}, "phone"), ({"email": "not-an-email"}, "email"),
                 ({"display_name": ""}, "display_name")]
        for extra, field in cases:
            body = {"login": self.new_login(), "display_name": "x", "password": STRONG}
            body.update(extra)
            self.refused(self.admin.post(USERS, body), 422, "unprocessable", field)
        self.refused(self.admin.post(USERS, {"display_name": "x"}), 400, "bad_request", "login")
        self.refused(self.admin.post(USERS, {"login": self.new_login()}), 400, "bad_request",
                     "display_name")
        self.refused(self.admin.post(USERS, {"login": self.new_login(), "display_name": "x",
                                             "status": "active"}), 400, "bad_request", "status")
        self.assertEqual(before, self.srv.counts())

    # ---- update ----

    def test_patch_roles_department_status(self):
        u = self.create(roles=["grid_worker"], department_id=self.dept["dehua"])
        c = self.srv.login(u["login"], password=STRONG)
        self.assertEqual(c.get("/api/v1/me").json["permissions"]["user.read"], "self")
        url = "%s/%d" % (USERS, u["id"])

        before = self.audit_count()
        r = self.admin.patch(url, {"roles": ["dept_head", "handler"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(r.json["roles"]), ["dept_head", "handler"])
        self.assert_audited(r, u["id"], "update", before)
        self.assertIn('"roles"', self.last_audit()[5])
        # takes effect on the user's existing session, no new login needed
        self.assertEqual(c.get("/api/v1/me").json["permissions"]["user.read"], "dept_tree")

        before = self.audit_count()
        r = self.admin.patch(url, {"department_id": self.dept["amr"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["department_id"], self.dept["amr"])
        self.assertEqual(r.json["department_name"], "市场监督管理局")
        self.assertEqual(sorted(r.json["roles"]), ["dept_head", "handler"], "roles kept")
        self.assert_audited(r, u["id"], "update", before)
        # as a department head of amr the user now sees amr and below
        logins = {x["login"] for x in c.get(USERS + "?limit=200").json["items"]}
        self.assertTrue({"depthead", "handler", "inspector", u["login"]} <= logins, logins)
        self.assertNotIn("admin", logins)

        r = self.admin.patch(url, {"department_id": None})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["department_id"])

        r = self.admin.patch(url, {"display_name": "改名", "phone": "13912345678",
                                   "email": "new@example.cn"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["display_name"], r.json["phone"], r.json["email"]),
                         ("改名", "13912345678", "new@example.cn"))

        before = self.audit_count()
        r = self.admin.patch(url, {"status": "disabled"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "disabled")
        self.assert_audited(r, u["id"], "update", before)
        assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
        r = self.admin.patch(url, {"status": "active"})
        self.assertEqual(r.json["status"], "active")
        self.srv.login(u["login"], password=STRONG)

        r = self.admin.patch(url, {"roles": []})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["roles"], [])

    def test_patch_refusals(self):
        u = self.create(roles=["handler"])
        url = "%s/%d" % (USERS, u["id"])
        before = self.srv.counts()
        self.refused(self.admin.patch(url, {"roles": ["handler", "bogus"]}), 422,
                     "unprocessable", "roles")
        self.refused(self.admin.patch(url, {"department_id": 999999}), 422, "unprocessable",
                     "department_id")
        self.refused(self.admin.patch(url, {"status": "deleted"}), 422, "unprocessable",
                     "status")
        self.refused(self.admin.patch(url, {"login": "renamed"}), 400, "bad_request", "login")
        self.refused(self.admin.patch(url, {"unlock": "yes"}), 400, "bad_request", "unlock")
        self.refused(self.admin.patch("%s/999999" % USERS, {"status": "disabled"}), 404,
                     "not_found", "id")
        self.refused(self.admin.patch("%s/0" % USERS, {}), 404, "not_found", "id")
        self.refused(self.admin.patch("%s/abc" % USERS, {}), 404, "not_found", "id")
        self.assertEqual(before, self.srv.counts())
        self.assertEqual(self.admin.get(url).json["roles"], ["handler"])

    def test_admin_cannot_disable_or_demote_self(self):
        me = self.uid["admin"]
        url = "%s/%d" % (USERS, me)
        before = self.srv.counts()
        self.refused(self.admin.patch(url, {"status": "disabled"}), 422, "unprocessable",
                     "status")
        self.refused(self.admin.patch(url, {"roles": ["leader"]}), 422, "unprocessable", "roles")
        self.assertEqual(before, self.srv.counts())
        self.assertEqual(self.admin.get("/api/v1/me").status, 200)
        self.assertEqual(self.admin.get(url).json["status"], "active")
        # adding a role to oneself is fine
        r = self.admin.patch(url, {"roles": ["admin", "leader"]})
        self.assertEqual(r.status, 200, r)
        r = self.admin.patch(url, {"roles": ["admin"]})
        self.assertEqual(r.json["roles"], ["admin"])

    # ---- password reset ----

    def test_reset_password(self):
        u = self.create()
        url = "%s/%d/password" % (USERS, u["id"])
        c = self.srv.login(u["login"], password=STRONG)

        before = self.srv.counts()
        self.refused(self.admin.post(url, {"password": "short1A"}), 422, "unprocessable",
                     "password")
        self.refused(self.admin.post(url, {"password": "alllowercase"}), 422, "unprocessable",
                     "password")
        self.refused(self.admin.post(url, {"pw": STRONG}), 400, "bad_request", "pw")
        self.refused(self.admin.post("%s/999999/password" % USERS, {}), 404, "not_found", "id")
        self.assertEqual(before, self.srv.counts())
        self.assertEqual(c.get("/api/v1/me").status, 200)

        # a chosen password
        before = self.audit_count()
        r = self.admin.post(url, {"password": "Chosen#Pass1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"must_change_password": True})
        self.assert_audited(r, u["id"], "set_password", before)
        assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
        bad = self.srv.client().post("/api/v1/auth/login",
                                     {"login": u["login"], "password": STRONG})
        assert_error(self, bad, 401, "unauthenticated")
        c = self.srv.login(u["login"], password="Chosen#Pass1")
        self.assertTrue(c.get("/api/v1/me").json["must_change_password"])

        # a generated one: empty body, and {}
        for kw in ({"raw": b""}, {"body": {}}):
            before = self.audit_count()
            r = self.admin.request("POST", url, **kw)
            self.assertEqual(r.status, 200, r)
            otp = r.json["one_time_password"]
            self.assertTrue(r.json["must_change_password"])
            self.assert_audited(r, u["id"], "set_password", before)
            assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
            c = self.srv.login(u["login"], password=otp)

    def test_reset_password_clears_lockout(self):
        u = self.create()
        for _ in range(5):
            self.srv.client().post("/api/v1/auth/login",
                                   {"login": u["login"], "password": "Wrong#Pass1"})
        r = self.srv.client().post("/api/v1/auth/login", {"login": u["login"], "password": STRONG})
        assert_error(self, r, 429, "rate_limited")
        r = self.admin.post("%s/%d/password" % (USERS, u["id"]), {"password": "Chosen#Pass2"})
        self.assertEqual(r.status, 200, r)
        self.srv.login(u["login"], password="Chosen#Pass2")

    # ---- list: filters and paging ----

    def test_filter_q(self):
        logins = [u["login"] for u in self.list_all(self.admin, "q=handler")]
        self.assertEqual(logins, ["handler"])
        # q matches the display name too (张承办)
        logins = [u["login"] for u in self.list_all(self.admin, "q=%E6%89%BF%E5%8A%9E")]
        self.assertEqual(logins, ["handler"])
        self.assertEqual(self.list_all(self.admin, "q=zzz-no-match"), [])
        # substring, not prefix
        logins = {u["login"] for u in self.list_all(self.admin, "q=ispatch")}
        self.assertEqual(logins, {"dispatcher"})
        # LIKE wildcards in q are plain characters
        everyone = self.list_all(self.admin)
        underscored = [u["login"] for u in everyone if "_" in u["login"] or "_" in u["display_name"]]
        self.assertLess(len(underscored), len(everyone))
        self.assertEqual([u["login"] for u in self.list_all(self.admin, "q=_")], underscored)
        self.assertEqual(self.list_all(self.admin, "q=%25"), [])
        self.create(login="under_score")
        self.assertEqual([u["login"] for u in self.list_all(self.admin, "q=r_s")], ["under_score"])
        r = self.admin.get(USERS + "?q=" + "x" * 65)
        assert_error(self, r, 400, "bad_request", "q")

    def test_filter_role(self):
        self.assertEqual([u["login"] for u in self.list_all(self.admin, "role=dept_head")
                          if u["login"] in self.uid], ["depthead"])
        for u in self.list_all(self.admin, "role=handler"):
            self.assertIn("handler", u["roles"])
        assert_error(self, self.admin.get(USERS + "?role=nope"), 400, "bad_request", "role")

    def test_filter_department(self):
        items = self.list_all(self.admin, "department_id=%d" % self.dept["amr"])
        self.assertTrue(items)
        for u in items:
            self.assertEqual(u["department_id"], self.dept["amr"])
        self.assertIn("depthead", [u["login"] for u in items])
        # exactly that department, not the ones below it
        self.assertNotIn("handler", [u["login"] for u in items])
        self.assertEqual(self.list_all(self.admin, "department_id=999999"), [])
        assert_error(self, self.admin.get(USERS + "?department_id=x"), 400, "bad_request",
                     "department_id")

    def test_filter_status(self):
        u = self.create()
        self.admin.patch("%s/%d" % (USERS, u["id"]), {"status": "disabled"})
        disabled = self.list_all(self.admin, "status=disabled")
        self.assertIn(u["id"], [x["id"] for x in disabled])
        self.assertTrue(all(x["status"] == "disabled" for x in disabled))
        active = self.list_all(self.admin, "status=active")
        self.assertNotIn(u["id"], [x["id"] for x in active])
        self.assertTrue(all(x["status"] == "active" for x in active))
        assert_error(self, self.admin.get(USERS + "?status=gone"), 400, "bad_request", "status")
        # filters combine
        both = self.list_all(self.admin, "status=active&role=leader")
        self.assertEqual([x["login"] for x in both], ["leader"])

    def test_keyset_paging(self):
        for _ in range(7):
            self.create(login=self.new_login("page"))
        every = self.list_all(self.admin)
        ids = [u["id"] for u in every]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), self.srv.sql("SELECT COUNT(*) FROM users")[0][0])
        for limit in (4, 5, 50, 199, 200):  # the demo has some 400 users
            seen, after, pages = [], 0, 0
            while True:
                r = self.admin.get("%s?limit=%d&after=%d" % (USERS, limit, after))
                self.assertEqual(r.status, 200, r)
                items = r.json["items"]
                self.assertLessEqual(len(items), limit)
                seen += [u["id"] for u in items]
                pages += 1
                self.assertLess(pages, 1000, "paging does not end")
                if r.json["next"] is None:
                    break
                self.assertEqual(r.json["next"], items[-1]["id"])
                after = r.json["next"]
            self.assertEqual(seen, ids, "limit %d: duplicates or gaps" % limit)
        # paging with a filter
        page_ids = [u["id"] for u in every if u["login"].startswith("page.")]
        got, after = [], 0
        while True:
            r = self.admin.get("%s?q=page.&limit=3&after=%d" % (USERS, after))
            got += [u["id"] for u in r.json["items"]]
            if r.json["next"] is None:
                break
            after = r.json["next"]
        self.assertEqual(got, page_ids)
        for bad in ("limit=0", "limit=201", "limit=x", "after=-1", "after=1.5"):
            assert_error(self, self.admin.get(USERS + "?" + bad), 400, "bad_request")

    def test_paging_stable_under_inserts(self):
        first = self.admin.get(USERS + "?limit=3").json
        self.create()
        second = self.admin.get(USERS + "?limit=3&after=%d" % first["next"]).json
        self.assertEqual(second["items"][0]["id"], self.list_all(self.admin)[3]["id"])

    # ---- phone masking ----

    def test_phone_masked_for_non_admin(self):
        u = self.create(phone="13812341234", department_id=self.dept["gsb"])
        url = "%s/%d" % (USERS, u["id"])
        self.assertEqual(self.admin.get(url).json["phone"], "13812341234")
        self.assertEqual([x["phone"] for x in self.list_all(self.admin) if x["id"] == u["id"]],
                         ["13812341234"])
        for who in ("dispatcher", "leader"):
            c = self.dispatcher if who == "dispatcher" else self.srv.login(who)
            self.assertEqual(c.get(url).json["phone"], "138****1234", who)
            listed = [x for x in self.list_all(c) if x["id"] == u["id"]]
            self.assertEqual([x["phone"] for x in listed], ["138****1234"], who)
            self.assertNotIn("13812341234", c.get(USERS + "?limit=200").raw)
            self.assertNotIn("13812341234", c.get(url).raw)
        # e-mail addresses are personal data too
        m = self.create(email="wang.wei@example.cn")
        murl = "%s/%d" % (USERS, m["id"])
        self.assertEqual(self.admin.get(murl).json["email"], "wang.wei@example.cn")
        self.assertEqual(self.dispatcher.get(murl).json["email"], "w***@example.cn")
        # the user sees their own number in full on /me and on their own record
        own = self.srv.login(u["login"], password=STRONG)
        self.assertEqual(own.get("/api/v1/me").json["phone"], "13812341234")
        # short numbers are masked completely
        s = self.create(phone="12345")
        self.assertEqual(self.dispatcher.get("%s/%d" % (USERS, s["id"])).json["phone"], "****")
        e = self.create()
        self.assertEqual(self.dispatcher.get("%s/%d" % (USERS, e["id"])).json["phone"], "")

    # ---- audit ----

    def test_audit_chain_verifies_after_writes(self):
        u = self.create()
        self.admin.patch("%s/%d" % (USERS, u["id"]), {"display_name": "审计"})
        self.admin.post("%s/%d/password" % (USERS, u["id"]), {})
        r = self.admin.get("/api/v1/audit/verify")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["ok"], r)
        self.assertEqual(r.json["rows"], self.audit_count())
        # the API shows the same rows, newest first
        items = self.admin.get("/api/v1/audit?entity=user&entity_id=%d" % u["id"]).json["items"]
        self.assertEqual([i["action"] for i in items], ["set_password", "update", "create"])
        self.assertEqual(items[1]["summary"], {"display_name": ["测试用户", "审计"]})
        self.assertTrue(all(i["actor_login"] == "admin" for i in items))

    def test_reads_do_not_write(self):
        before = self.srv.counts()
        self.admin.get(USERS)
        self.admin.get("%s/%d" % (USERS, self.uid["handler"]))
        self.dispatcher.get(USERS + "?q=a&role=handler")
        self.assertEqual(before, self.srv.counts())


if __name__ == "__main__":
    unittest.main()
