"""Authentication: login, tenants, login log, lockout, CSRF, logout, session
timeouts, API tokens, own password change, disabled users."""
import os
import re
import sqlite3
import tempfile
import time
import unittest

from harness import DEMO_PASSWORD, Server, run_cli

LOGIN = "/api/v1/auth/login"
NEW_PW = "Fresh#Pass2026"


def now_ms():
    return int(time.time() * 1000)


def create_user(admin, login, password=DEMO_PASSWORD, roles=("experience_officer",), **extra):
    """Create a user as admin; returns the JSON of the new user."""
    body = {"login": login, "display_name": "测试 " + login, "roles": list(roles), **extra}
    if password is not None:
        body["password"] = password
    r = admin.post("/api/v1/users", body)
    assert r.status == 201, r
    return r.json


def db_write(srv, query, params=()):
    """Change the database behind the server's back, as another process would (the server
    notices within the two seconds it trusts its session cache; see wait_status)."""
    con = sqlite3.connect(srv.db, timeout=10)
    try:
        con.execute(query, params)
        con.commit()
    finally:
        con.close()


def wait_status(get, status, limit=15.0):
    """Repeat get() until it answers status (or limit seconds pass); returns the last answer.
    For changes the server cannot see at once: another process's writes to the database."""
    t_end = time.time() + limit
    while True:
        r = get()
        if r.status == status or time.time() > t_end:
            return r
        time.sleep(0.1)


def assert_error(tc, r, status, code, field=None):
    tc.assertEqual(r.status, status, r)
    tc.assertEqual(r.error.get("code"), code, r)
    tc.assertTrue(r.error.get("message") and r.error.get("message_zh"), r)
    if field is not None:
        tc.assertEqual(r.error.get("field"), field, r)


class Login(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def attempts(self, login):
        return self.srv.sql("SELECT login, user_id, ok, reason FROM login_attempts "
                            "WHERE login = ? ORDER BY id", (login,))

    def test_login_sets_cookie_and_csrf(self):
        c = self.srv.client()
        r = c.post(LOGIN, {"login": "admin", "password": DEMO_PASSWORD})
        self.assertEqual(r.status, 200, r)
        sc = r.header("Set-Cookie")
        self.assertTrue(sc.startswith("yq_session="), sc)
        attrs = [a.strip().lower() for a in sc.split(";")[1:]]
        self.assertIn("httponly", attrs)
        self.assertIn("samesite=lax", attrs)
        self.assertIn("path=/", attrs)
        self.assertNotIn("secure", attrs)  # no --secure-cookie given
        token = sc.split(";")[0].split("=", 1)[1]
        self.assertGreaterEqual(len(token), 40)
        self.assertNotIn("token", r.json, "the session token must not be in the body "
                                          "unless bearer is asked for")
        self.assertGreaterEqual(len(r.json["csrf_token"]), 20)
        self.assertEqual(r.json["user"]["login"], "admin")
        self.assertGreater(r.json["expires_at"], now_ms())
        # only the SHA-256 of the token is stored
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM sessions WHERE token_hash = ?",
                                      (token,))[0][0], 0)

    def test_me_shows_roles_and_permissions(self):
        c = self.srv.login("admin")
        r = c.get("/api/v1/me")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["login"], "admin")
        self.assertEqual(r.json["roles"], ["admin"])
        self.assertEqual(r.json["session_kind"], "cookie")
        self.assertEqual(r.json["csrf_token"], c.csrf)
        self.assertEqual(r.json["permissions"]["user.write"], "all")
        self.assertEqual(r.json["permissions"]["audit.read"], "all")
        self.assertEqual(r.json["permissions"]["token.own"], "self")
        h = self.srv.login("handler").get("/api/v1/me")
        self.assertEqual(h.json["roles"], ["handler"])
        self.assertEqual(h.json["permissions"]["user.read"], "dept")
        self.assertNotIn("user.write", h.json["permissions"])
        self.assertNotIn("audit.read", h.json["permissions"])
        self.assertEqual(h.json["department_name"], "登记注册科")
        self.assertNotIn("password_hash", h.raw)

    def test_wrong_password_and_unknown_user_look_the_same(self):
        c = self.srv.client()
        bad = c.post(LOGIN, {"login": "leader", "password": "Wrong#Pass1"})
        assert_error(self, bad, 401, "unauthenticated", "password")
        self.assertIsNone(bad.header("Set-Cookie"))
        self.assertIsNone(c.cookie)
        unknown = c.post(LOGIN, {"login": "no.such.user", "password": "Wrong#Pass1"})
        assert_error(self, unknown, 401, "unauthenticated", "password")
        self.assertEqual(bad.error, unknown.error)
        self.assertIsNone(unknown.header("Set-Cookie"))

    def test_login_body_validation(self):
        c = self.srv.client()
        assert_error(self, c.post(LOGIN, {"login": "admin"}), 400, "bad_request", "password")
        assert_error(self, c.post(LOGIN, {"password": "x"}), 400, "bad_request", "login")
        assert_error(self, c.post(LOGIN, {"login": "admin", "password": DEMO_PASSWORD,
                                          "role": "admin"}), 400, "bad_request", "role")
        assert_error(self, c.post(LOGIN, raw=b"{not json", headers={
            "Content-Type": "application/json"}), 400, "bad_request", "body")
        assert_error(self, c.post(LOGIN, {"login": "admin", "password": 123}), 400,
                     "bad_request", "password")

    def test_login_with_tenant_code(self):
        c = self.srv.client()
        r = c.post(LOGIN, {"tenant": "erqi", "login": "leader", "password": DEMO_PASSWORD})
        self.assertEqual(r.status, 200, r)
        r = c.post(LOGIN, {"tenant": "nosuch", "login": "leader", "password": DEMO_PASSWORD})
        assert_error(self, r, 404, "not_found", "tenant")
        self.assertIn("tenant", r.error["message"])
        self.assertIn("nosuch", r.error["message"])

    def test_every_attempt_is_recorded(self):
        login = "rec.user"
        u = create_user(self.admin, login)
        c = self.srv.client()
        self.assertEqual(c.post(LOGIN, {"login": login, "password": "Wrong#Pass1"}).status, 401)
        self.assertEqual(c.post(LOGIN, {"login": login, "password": DEMO_PASSWORD}).status, 200)
        self.assertEqual(c.post(LOGIN, {"login": "rec.ghost", "password": "x"}).status, 401)
        self.assertEqual(self.attempts(login), [(login, u["id"], 0, "bad_password"),
                                                (login, u["id"], 1, "ok")])
        self.assertEqual(self.attempts("rec.ghost"), [("rec.ghost", 0, 0, "unknown_user")])
        # also readable over the API (audit.read), newest first
        r = self.admin.get("/api/v1/login-attempts?login=" + login)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([(i["ok"], i["reason"], i["user_id"]) for i in r.json["items"]],
                         [(True, "ok", u["id"]), (False, "bad_password", u["id"])])
        self.assertEqual(r.json["items"][0]["ip"], "127.0.0.1")
        # a successful login records last_login_at
        me = self.admin.get("/api/v1/users/%d" % u["id"]).json
        self.assertIsNotNone(me["last_login_at"])

    def test_login_is_audited_with_request_id(self):
        c = self.srv.client()
        r = c.post(LOGIN, {"login": "leader", "password": DEMO_PASSWORD})
        self.assertEqual(r.status, 200, r)
        sid = self.srv.sql("SELECT MAX(id) FROM sessions")[0][0]
        rows = self.srv.sql("SELECT actor_login, action, request_id FROM audit_log WHERE "
                            "entity = 'session' AND entity_id = ?", (sid,))
        self.assertEqual(rows, [("leader", "login", r.header("X-Request-Id"))])
        # failed logins are in login_attempts, not in the audit log
        before = self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0]
        c.post(LOGIN, {"login": "leader", "password": "Wrong#Pass1"})
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0], before)
        c.post(LOGIN, {"login": "leader", "password": DEMO_PASSWORD})  # reset the count

    def test_bearer_login(self):
        c = self.srv.login("dispatcher", bearer=True)
        self.assertIsNone(c.cookie)
        self.assertTrue(c.bearer)
        r = c.get("/api/v1/me")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["session_kind"], "bearer")
        self.assertNotIn("csrf_token", r.json)
        # a garbage bearer token is 401
        r = self.srv.client().get("/api/v1/me", headers={"Authorization": "Bearer nope"})
        assert_error(self, r, 401, "unauthenticated")
        r = self.srv.client().get("/api/v1/me", headers={"Authorization": "Bearer " + "x" * 300})
        assert_error(self, r, 401, "unauthenticated")

    # ---- CSRF ----

    def test_csrf_required_for_cookie_sessions(self):
        c = self.srv.login("leader")
        before = self.srv.counts()
        r = c.post("/api/v1/me/tokens", {"name": "no csrf"}, csrf=False)
        assert_error(self, r, 403, "forbidden", "X-CSRF-Token")
        r = c.post("/api/v1/me/tokens", {"name": "bad csrf"}, csrf=False,
                   headers={"X-CSRF-Token": c.csrf[:-1] + ("A" if c.csrf[-1] != "A" else "B")})
        assert_error(self, r, 403, "forbidden", "X-CSRF-Token")
        r = c.post("/api/v1/me/tokens", {"name": "empty csrf"}, csrf=False,
                   headers={"X-CSRF-Token": ""})
        assert_error(self, r, 403, "forbidden", "X-CSRF-Token")
        # another session's CSRF token does not fit this session
        other = self.srv.login("leader")
        r = c.post("/api/v1/me/tokens", {"name": "other csrf"}, csrf=False,
                   headers={"X-CSRF-Token": other.csrf})
        assert_error(self, r, 403, "forbidden", "X-CSRF-Token")
        # logout is also protected
        r = c.post("/api/v1/auth/logout", csrf=False)
        assert_error(self, r, 403, "forbidden", "X-CSRF-Token")
        after = self.srv.counts()
        for table in ("sessions", "login_attempts", "audit_log"):
            before[table] += 1  # the second login (audited)
        self.assertEqual(before, after)
        # GET needs no CSRF token; the right one works
        self.assertEqual(c.get("/api/v1/me").status, 200)
        r = c.post("/api/v1/me/tokens", {"name": "with csrf"})
        self.assertEqual(r.status, 201, r)

    def test_bearer_needs_no_csrf(self):
        c = self.srv.login("leader", bearer=True)
        r = c.post("/api/v1/me/tokens", {"name": "bearer"})
        self.assertEqual(r.status, 201, r)

    # ---- logout ----

    def test_logout_revokes_cookie_session(self):
        c = self.srv.login("leader")
        cookie = c.cookie
        self.assertEqual(c.get("/api/v1/me").status, 200)
        r = c.post("/api/v1/auth/logout")
        self.assertEqual(r.status, 204, r)
        sc = r.header("Set-Cookie")
        self.assertRegex(sc, r"^yq_session=;")
        self.assertIn("Max-Age=0", sc)
        self.assertIsNone(c.cookie)
        stale = self.srv.client()
        stale.cookie = cookie
        assert_error(self, stale.get("/api/v1/me"), 401, "unauthenticated")
        # a second logout with the old cookie is 401 too
        assert_error(self, stale.post("/api/v1/auth/logout", headers={"X-CSRF-Token": c.csrf}),
                     401, "unauthenticated")

    def test_logout_bearer_and_other_sessions_survive(self):
        a = self.srv.login("dispatcher", bearer=True)
        b = self.srv.login("dispatcher")
        self.assertEqual(a.post("/api/v1/auth/logout").status, 204)
        assert_error(self, a.get("/api/v1/me"), 401, "unauthenticated")
        self.assertEqual(b.get("/api/v1/me").status, 200)

    # ---- API tokens ----

    def test_api_token_lifecycle(self):
        c = self.srv.login("bank")
        before = self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0]
        r = c.post("/api/v1/me/tokens", {"name": "银行对接", "expires_days": 30})
        self.assertEqual(r.status, 201, r)
        tok, tid = r.json["token"], r.json["id"]
        self.assertTrue(tok.startswith("yq_"), tok)
        self.assertGreaterEqual(len(tok), 40)
        self.assertEqual(r.json["name"], "银行对接")
        self.assertAlmostEqual(r.json["expires_at"], r.json["created_at"] + 30 * 86400000,
                               delta=1000)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0], before + 1)
        self.assertEqual(self.srv.sql("SELECT entity, entity_id, action, actor_login FROM "
                                      "audit_log ORDER BY tenant_id, seq DESC LIMIT 1")[0],
                         ("api_token", tid, "create", "bank"))
        # the secret is stored only as a hash
        rows = self.srv.sql("SELECT kind, token_hash, name FROM sessions WHERE id = ?", (tid,))
        self.assertEqual(rows[0][0], "api")
        self.assertNotIn(tok, rows[0][1])

        api = self.srv.client()
        api.bearer = tok
        me = api.get("/api/v1/me")
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json["login"], "bank")
        self.assertEqual(me.json["session_kind"], "bearer")
        # a token can do what its user can: bank_officer sees itself only
        users = api.get("/api/v1/users")
        self.assertEqual([u["login"] for u in users.json["items"]], ["bank"])

        lst = c.get("/api/v1/me/tokens")
        self.assertEqual(lst.status, 200, lst)
        mine = [t for t in lst.json["items"] if t["id"] == tid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["name"], "银行对接")
        self.assertIsNone(mine[0]["revoked_at"])
        self.assertNotIn("token", mine[0])
        self.assertNotIn(tok, lst.raw)
        self.assertNotIn(tok[3:], lst.raw)

        # another user can neither see nor revoke it
        other = self.srv.login("mediator")
        self.assertNotIn(tid, [t["id"] for t in other.get("/api/v1/me/tokens").json["items"]])
        assert_error(self, other.delete("/api/v1/me/tokens/%d" % tid), 404, "not_found")
        self.assertEqual(api.get("/api/v1/me").status, 200)

        r = c.delete("/api/v1/me/tokens/%d" % tid)
        self.assertEqual(r.status, 204, r)
        assert_error(self, api.get("/api/v1/me"), 401, "unauthenticated")
        assert_error(self, c.delete("/api/v1/me/tokens/%d" % tid), 404, "not_found")
        assert_error(self, c.delete("/api/v1/me/tokens/abc"), 404, "not_found")
        lst = c.get("/api/v1/me/tokens")
        self.assertIsNotNone([t for t in lst.json["items"] if t["id"] == tid][0]["revoked_at"])
        # the creating session is unaffected
        self.assertEqual(c.get("/api/v1/me").status, 200)

    def test_api_token_validation(self):
        c = self.srv.login("bank")
        assert_error(self, c.post("/api/v1/me/tokens", {}), 400, "bad_request", "name")
        assert_error(self, c.post("/api/v1/me/tokens", {"name": ""}), 422, "unprocessable",
                     "name")
        assert_error(self, c.post("/api/v1/me/tokens", {"name": "x", "expires_days": 0}), 422,
                     "unprocessable", "expires_days")
        assert_error(self, c.post("/api/v1/me/tokens", {"name": "x", "expires_days": "7"}), 400,
                     "bad_request", "expires_days")
        assert_error(self, c.post("/api/v1/me/tokens", {"name": "x", "scope": "all"}), 400,
                     "bad_request", "scope")
        r = c.post("/api/v1/me/tokens", {"name": "forever"})
        self.assertEqual(r.status, 201, r)
        self.assertIsNone(r.json["expires_at"])

    def test_expired_api_token_is_refused(self):
        c = self.srv.login("advisor")
        r = c.post("/api/v1/me/tokens", {"name": "short", "expires_days": 1})
        self.assertEqual(r.status, 201, r)
        api = self.srv.client()
        api.bearer = r.json["token"]
        self.assertEqual(api.get("/api/v1/me").status, 200)
        # we cannot wait a day: move the expiry into the past
        db_write(self.srv, "UPDATE sessions SET expires_at = ? WHERE id = ?",
                 (now_ms() - 1000, r.json["id"]))
        assert_error(self, wait_status(lambda: api.get("/api/v1/me"), 401), 401,
                     "unauthenticated")

    # ---- own password ----

    def test_change_own_password(self):
        login = "pw.user1"
        create_user(self.admin, login)
        a = self.srv.login(login)
        b = self.srv.login(login)
        t = a.post("/api/v1/me/tokens", {"name": "script"})
        self.assertEqual(t.status, 201, t)
        api = self.srv.client()
        api.bearer = t.json["token"]
        before = self.srv.counts()

        def change(old, new):
            return a.post("/api/v1/me/password", {"old_password": old, "new_password": new})

        assert_error(self, change("Wrong#Pass1", NEW_PW), 422, "unprocessable", "old_password")
        for weak in ("Ab1!x", "abcdefgh12", "ABCDEFGH!!", "abcdefghij", "PW.USER1",
                     "Pw.User1"):
            assert_error(self, change(DEMO_PASSWORD, weak), 422, "unprocessable", "new_password")
        assert_error(self, change(DEMO_PASSWORD, DEMO_PASSWORD), 422, "unprocessable",
                     "new_password")
        assert_error(self, a.post("/api/v1/me/password", {"old_password": DEMO_PASSWORD}), 400,
                     "bad_request", "new_password")
        self.assertEqual(before, self.srv.counts(), "a refused change wrote something")
        # nothing was revoked by the refused attempts
        self.assertEqual(b.get("/api/v1/me").status, 200)

        r = change(DEMO_PASSWORD, NEW_PW)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(a.get("/api/v1/me").status, 200, "the current session must survive")
        assert_error(self, b.get("/api/v1/me"), 401, "unauthenticated")
        assert_error(self, api.get("/api/v1/me"), 401, "unauthenticated")
        c = self.srv.client()
        assert_error(self, c.post(LOGIN, {"login": login, "password": DEMO_PASSWORD}), 401,
                     "unauthenticated")
        self.assertEqual(c.post(LOGIN, {"login": login, "password": NEW_PW}).status, 200)
        last = self.srv.sql("SELECT entity, action, actor_login FROM audit_log "
                            "WHERE entity = 'user' ORDER BY seq DESC LIMIT 1")[0]
        self.assertEqual(last, ("user", "set_password", login))

    def test_must_change_password_cleared_by_own_change(self):
        u = create_user(self.admin, "otp.user", password=None)
        otp = u["one_time_password"]
        self.assertTrue(u["must_change_password"])
        c = self.srv.login("otp.user", password=otp)
        self.assertTrue(c.get("/api/v1/me").json["must_change_password"])
        r = c.post("/api/v1/me/password", {"old_password": otp, "new_password": NEW_PW})
        self.assertEqual(r.status, 204, r)
        self.assertFalse(c.get("/api/v1/me").json["must_change_password"])

    # ---- disabled users ----

    def test_disabled_user_locked_out(self):
        login = "dis.user"
        u = create_user(self.admin, login)
        web = self.srv.login(login)
        bearer = self.srv.login(login, bearer=True)
        t = web.post("/api/v1/me/tokens", {"name": "t"})
        api = self.srv.client()
        api.bearer = t.json["token"]
        for c in (web, bearer, api):
            self.assertEqual(c.get("/api/v1/me").status, 200)

        r = self.admin.patch("/api/v1/users/%d" % u["id"], {"status": "disabled"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "disabled")
        for c in (web, bearer, api):
            assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
        r = self.srv.client().post(LOGIN, {"login": login, "password": DEMO_PASSWORD})
        assert_error(self, r, 401, "unauthenticated", "password")
        self.assertEqual(self.srv.sql("SELECT reason FROM login_attempts WHERE login = ? "
                                      "ORDER BY id DESC LIMIT 1", (login,)), [("disabled",)])
        # the sessions were revoked, not just suspended: enabling again does not revive them
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM sessions WHERE user_id = ? AND "
                                      "revoked_at = 0", (u["id"],))[0][0], 0)
        r = self.admin.patch("/api/v1/users/%d" % u["id"], {"status": "active"})
        self.assertEqual(r.status, 200, r)
        for c in (web, bearer, api):
            assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
        self.assertEqual(self.srv.login(login).get("/api/v1/me").status, 200)


    def test_disabled_status_alone_blocks_sessions(self):
        # defence in depth: even if a session survived the disabling (a path that
        # forgets to revoke, another process), the user's status is checked: at once
        # after a change through the server, within seconds after one behind its back
        u = create_user(self.admin, "dis.only")
        c = self.srv.login("dis.only")
        self.assertEqual(c.get("/api/v1/me").status, 200)
        db_write(self.srv, "UPDATE users SET status = 'disabled' WHERE id = ?", (u["id"],))
        assert_error(self, wait_status(lambda: c.get("/api/v1/me"), 401), 401,
                     "unauthenticated")


class SessionCache(unittest.TestCase):
    """The server answers known sessions from memory; every change made through it that
    alters what a session may do applies to the very next request."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def dept(self, code, parent=None):
        body = {"code": code, "name": "缓存测试 " + code}
        if parent:
            body["parent_id"] = parent
        r = self.admin.post("/api/v1/departments", body)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def logins(self, c):
        r = c.get("/api/v1/users?limit=200")
        self.assertEqual(r.status, 200, r)
        return sorted(u["login"] for u in r.json["items"])

    def warm(self, *clients):
        for c in clients:
            for _ in range(3):
                self.assertEqual(c.get("/api/v1/me").status, 200)

    def test_roles_and_department_apply_at_once(self):
        d1, d2 = self.dept("sc-d1"), self.dept("sc-d2")
        create_user(self.admin, "sc.mate1", department_id=d1)
        create_user(self.admin, "sc.mate2", department_id=d2)
        u = create_user(self.admin, "sc.user", roles=("mediator",))
        c = self.srv.login("sc.user")
        self.warm(c)
        self.assertEqual(self.logins(c), ["sc.user"])  # own record only
        self.assertNotIn("request.handle", c.get("/api/v1/me").json["permissions"])
        # a handler of d1: its department's users, and the permissions that go with it
        r = self.admin.patch("/api/v1/users/%d" % u["id"],
                             {"roles": ["handler"], "department_id": d1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.logins(c), ["sc.mate1", "sc.user"])
        self.assertIn("request.handle", c.get("/api/v1/me").json["permissions"])
        # moved to d2
        r = self.admin.patch("/api/v1/users/%d" % u["id"], {"department_id": d2})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.logins(c), ["sc.mate2", "sc.user"])
        # the role taken away
        r = self.admin.patch("/api/v1/users/%d" % u["id"], {"roles": ["mediator"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.logins(c), ["sc.user"])
        self.assertNotIn("request.handle", c.get("/api/v1/me").json["permissions"])

    def test_department_moved_under_another(self):
        # a department head sees the users of its department tree, matched by the
        # department's path: moving the department changes the path of the head's session
        top, other = self.dept("sc-top"), self.dept("sc-other")
        sub = self.dept("sc-sub", top)
        create_user(self.admin, "sc.sub1", department_id=sub)
        create_user(self.admin, "sc.head", roles=("dept_head",), department_id=top)
        c = self.srv.login("sc.head")
        self.warm(c)
        self.assertEqual(self.logins(c), ["sc.head", "sc.sub1"])
        r = self.admin.patch("/api/v1/departments/%d" % top, {"parent_id": other})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.logins(c), ["sc.head", "sc.sub1"])

    def test_password_reset_and_disable_end_sessions_at_once(self):
        u = create_user(self.admin, "sc.reset")
        web = self.srv.login("sc.reset")
        bearer = self.srv.login("sc.reset", bearer=True)
        self.warm(web, bearer)
        r = self.admin.post("/api/v1/users/%d/password" % u["id"], {})
        self.assertIn(r.status, (200, 201), r)
        for c in (web, bearer):
            assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
        v = create_user(self.admin, "sc.disable")
        c = self.srv.login("sc.disable", bearer=True)
        self.warm(c)
        r = self.admin.patch("/api/v1/users/%d" % v["id"], {"status": "disabled"})
        self.assertEqual(r.status, 200, r)
        assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")

    def test_logout_and_token_revocation_apply_at_once(self):
        create_user(self.admin, "sc.out")
        web = self.srv.login("sc.out")
        other = self.srv.login("sc.out")
        r = web.post("/api/v1/me/tokens", {"name": "cache"})
        self.assertEqual(r.status, 201, r)
        api = self.srv.client()
        api.bearer = r.json["token"]
        self.warm(web, other, api)
        r = web.delete("/api/v1/me/tokens/%d" % r.json["id"])
        self.assertIn(r.status, (200, 204), r)
        assert_error(self, api.get("/api/v1/me"), 401, "unauthenticated")
        self.assertEqual(web.get("/api/v1/me").status, 200)
        stale = self.srv.client()
        stale.cookie = web.cookie
        self.warm(stale)
        self.assertEqual(web.post("/api/v1/auth/logout").status, 204)
        assert_error(self, stale.get("/api/v1/me"), 401, "unauthenticated")
        self.assertEqual(other.get("/api/v1/me").status, 200)

    def test_many_sessions(self):
        # more sessions than fit in one cache slot each: all stay valid, none mixed up
        clients = [self.srv.login(l, bearer=True) for l in ("leader", "dispatcher", "handler",
                                                             "bank", "advisor", "enterprise")]
        for _ in range(3):
            for c, l in zip(clients, ("leader", "dispatcher", "handler", "bank", "advisor",
                                      "enterprise")):
                r = c.get("/api/v1/me")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["login"], l)


class Lockout(unittest.TestCase):
    """Own server: the lockout threshold is a tenant setting."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def set(self, **kv):
        body = {k.replace("_", ".", 1): v for k, v in kv.items()}
        return self.admin.put("/api/v1/settings", body)

    def fail(self, login):
        return self.srv.client().post(LOGIN, {"login": login, "password": "Wrong#Pass1"})

    def ok(self, login):
        return self.srv.client().post(LOGIN, {"login": login, "password": DEMO_PASSWORD})

    def test_settings_validation(self):
        r = self.admin.get("/api/v1/settings")
        self.assertEqual(r.status, 200, r)
        self.assertIn("login.max_failures", r.json)
        self.assertIn("login.lock_minutes", r.json)
        before = self.srv.counts()
        assert_error(self, self.admin.put("/api/v1/settings", {"login.max_failures": 0}), 422,
                     "unprocessable", "login.max_failures")
        assert_error(self, self.admin.put("/api/v1/settings", {"login.max_failures": "3"}), 400,
                     "bad_request", "login.max_failures")
        assert_error(self, self.admin.put("/api/v1/settings", {"no.such": 1}), 400,
                     "bad_request", "no.such")
        assert_error(self, self.admin.put("/api/v1/settings",
                                          {"login.lock_minutes": 5, "bogus": 1}), 400,
                     "bad_request", "bogus")
        assert_error(self, self.srv.login("leader").put("/api/v1/settings",
                                                        {"login.max_failures": 9}), 403,
                     "forbidden")
        self.assertEqual(before, self.srv.counts())

    def test_lockout_and_unlock(self):
        r = self.set(login_max_failures=3)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["login.max_failures"], 3)
        self.assertEqual(r.json["login.lock_minutes"], 15)
        self.assertEqual(self.srv.sql("SELECT entity, action, actor_login FROM audit_log "
                                      "ORDER BY seq DESC LIMIT 1")[0],
                         ("setting", "set", "admin"))
        uid = self.srv.sql("SELECT id FROM users WHERE login = 'observer'")[0][0]

        assert_error(self, self.fail("observer"), 401, "unauthenticated")
        assert_error(self, self.fail("observer"), 401, "unauthenticated")
        third = self.fail("observer")
        assert_error(self, third, 429, "rate_limited", "login")
        retry = int(third.header("Retry-After"))
        self.assertTrue(14 * 60 < retry <= 15 * 60, retry)
        self.assertIsNone(third.header("Set-Cookie"))

        # the right password is refused as well while locked
        r = self.ok("observer")
        assert_error(self, r, 429, "rate_limited", "login")
        self.assertTrue(0 < int(r.header("Retry-After")) <= 15 * 60)
        self.assertIsNone(r.header("Set-Cookie"))
        reasons = [x[0] for x in self.srv.sql(
            "SELECT reason FROM login_attempts WHERE user_id = ? ORDER BY id", (uid,))]
        self.assertEqual(reasons, ["bad_password"] * 3 + ["locked"])
        self.assertGreater(self.srv.sql("SELECT locked_until FROM users WHERE id = ?",
                                        (uid,))[0][0], now_ms())
        self.assertEqual(self.srv.sql("SELECT action, actor_id, request_id FROM audit_log "
                                      "WHERE entity = 'user' AND entity_id = ? "
                                      "ORDER BY seq DESC LIMIT 1", (uid,)),
                         [("lock", 0, third.header("X-Request-Id"))])
        u = self.admin.get("/api/v1/users/%d" % uid).json
        self.assertIsNotNone(u["locked_until"])
        # other users are unaffected
        self.assertEqual(self.ok("advisor").status, 200)

        r = self.admin.patch("/api/v1/users/%d" % uid, {"unlock": True})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["locked_until"])
        self.assertEqual(self.ok("observer").status, 200)
        # the failure count started again from zero
        assert_error(self, self.fail("observer"), 401, "unauthenticated")
        assert_error(self, self.fail("observer"), 401, "unauthenticated")
        assert_error(self, self.fail("observer"), 429, "rate_limited")
        self.admin.patch("/api/v1/users/%d" % uid, {"unlock": True})

    def test_success_resets_failure_count(self):
        self.assertEqual(self.set(login_max_failures=3).status, 200)
        for _ in range(3):
            assert_error(self, self.fail("supervisor"), 401, "unauthenticated")
            assert_error(self, self.fail("supervisor"), 401, "unauthenticated")
            self.assertEqual(self.ok("supervisor").status, 200)

    def test_lock_minutes_setting(self):
        r = self.set(login_max_failures=1, login_lock_minutes=1)
        self.assertEqual(r.status, 200, r)
        try:
            r = self.fail("mediator")
            assert_error(self, r, 429, "rate_limited")
            self.assertTrue(0 < int(r.header("Retry-After")) <= 60, r.header("Retry-After"))
        finally:
            self.assertEqual(self.set(login_max_failures=3, login_lock_minutes=15).status, 200)
            uid = self.srv.sql("SELECT id FROM users WHERE login = 'mediator'")[0][0]
            self.admin.patch("/api/v1/users/%d" % uid, {"unlock": True})

    def test_unknown_user_never_locks_anything(self):
        self.assertEqual(self.set(login_max_failures=3).status, 200)
        for _ in range(5):
            assert_error(self, self.srv.client().post(LOGIN, {"login": "ghost", "password": "x"}),
                         401, "unauthenticated")


class Tenants(unittest.TestCase):
    """Two tenants in one database: logins are looked up within the tenant."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="yqtest-")
        db = os.path.join(d, "yiqiban.db")
        run_cli("demo", "--db", db, "--enterprises", "50")
        out = run_cli("init", "--db", db, "--tenant", "other", "--tenant-name", "另一区",
                      "--admin", "admin").stdout
        cls.other_pw = re.search(r"password:\s+(\S+)", out).group(1)
        cls.srv = Server.start(db=db, tmpdir=d)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def login(self, tenant, password):
        body = {"login": "admin", "password": password}
        if tenant is not None:
            body["tenant"] = tenant
        return self.srv.client().post(LOGIN, body)

    def test_login_is_per_tenant(self):
        r = self.login("erqi", DEMO_PASSWORD)
        self.assertEqual(r.status, 200, r)
        erqi_id = r.json["user"]["id"]
        r = self.login("other", self.other_pw)
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json["user"]["id"], erqi_id)
        self.assertTrue(r.json["user"]["must_change_password"])
        assert_error(self, self.login("erqi", self.other_pw), 401, "unauthenticated")
        assert_error(self, self.login("other", DEMO_PASSWORD), 401, "unauthenticated")
        # the failure was recorded against the right tenant
        rows = self.srv.sql("SELECT t.code, a.reason FROM login_attempts a JOIN tenants t ON "
                            "t.id = a.tenant_id ORDER BY a.id DESC LIMIT 2")
        self.assertEqual(rows, [("other", "bad_password"), ("erqi", "bad_password")])

    def test_tenant_required_when_several(self):
        r = self.login(None, DEMO_PASSWORD)
        assert_error(self, r, 400, "bad_request", "tenant")
        r = self.login("", DEMO_PASSWORD)
        assert_error(self, r, 400, "bad_request", "tenant")
        r = self.login("gone", DEMO_PASSWORD)
        assert_error(self, r, 404, "not_found", "tenant")
        self.assertIn("tenant", r.error["message"])

    def test_tenants_do_not_see_each_other(self):
        c = self.srv.client()
        r = c.post(LOGIN, {"tenant": "other", "login": "admin", "password": self.other_pw})
        c.csrf = r.json["csrf_token"]
        # a one-time password must be changed before anything else
        assert_error(self, c.get("/api/v1/users"), 403, "forbidden", "password")
        self.assertEqual(c.get("/api/v1/me").status, 200)
        new_pw = "Other#Admin2026"
        r = c.post("/api/v1/me/password", {"old_password": self.other_pw, "new_password": new_pw})
        self.assertEqual(r.status, 204, r)
        type(self).other_pw = new_pw
        users = c.get("/api/v1/users").json["items"]
        self.assertEqual([u["login"] for u in users], ["admin"])
        self.assertEqual(c.get("/api/v1/departments").json["items"], [])
        erqi_leader = self.srv.sql("SELECT id FROM users WHERE login = 'leader'")[0][0]
        assert_error(self, c.get("/api/v1/users/%d" % erqi_leader), 404, "not_found")
        assert_error(self, c.patch("/api/v1/users/%d" % erqi_leader, {"status": "disabled"}),
                     404, "not_found")
        # an erqi token cannot be revoked by the other tenant's admin
        e = self.srv.client()
        r = e.post(LOGIN, {"tenant": "erqi", "login": "admin", "password": DEMO_PASSWORD})
        sid = self.srv.sql("SELECT MAX(id) FROM sessions")[0][0]
        assert_error(self, c.delete("/api/v1/me/tokens/%d" % sid), 404, "not_found")
        self.assertEqual(e.get("/api/v1/me").status, 200)
        # the audit log of each tenant verifies
        v = c.get("/api/v1/audit/verify")
        self.assertEqual(v.status, 200, v)
        self.assertTrue(v.json["ok"], v)
        # ... and only its own rows are checked and counted
        own = self.srv.sql("SELECT COUNT(*) FROM audit_log a JOIN tenants t ON t.id = a.tenant_id "
                           "WHERE t.code = 'other'")[0][0]
        self.assertEqual(v.json["rows"], own)
        self.assertLess(own, self.srv.sql("SELECT COUNT(*) FROM audit_log")[0][0])


class Timeouts(unittest.TestCase):
    """Session idle and absolute timeouts; each test has its own server."""

    def start(self, *args):
        srv = Server.start(args=list(args))
        self.addCleanup(srv.stop)
        return srv

    def test_idle_timeout(self):
        srv = self.start("--session-idle", "1")
        c = srv.login("leader")
        self.assertEqual(c.get("/api/v1/me").status, 200)
        time.sleep(1.5)
        r = c.get("/api/v1/me")
        assert_error(self, r, 401, "unauthenticated")
        self.assertIn("expired", r.error["message"])
        # a fresh login works again
        self.assertEqual(srv.login("leader").get("/api/v1/me").status, 200)

    def test_active_session_is_not_idle(self):
        # requests keep refreshing the session: an active user is not logged
        # out after the idle period
        srv = self.start("--session-idle", "2")
        c = srv.login("leader")
        t_end = time.time() + 3.5
        while time.time() < t_end:
            r = c.get("/api/v1/me")
            self.assertEqual(r.status, 200, "active session expired: %r" % r)
            time.sleep(0.3)
        time.sleep(2.5)
        assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")

    def test_absolute_timeout(self):
        srv = self.start("--session-max", "3")
        c = self.srv_login_checked(srv)
        t0 = time.time()
        # in use all the time, it still ends after the absolute lifetime
        while time.time() - t0 < 1.5:
            self.assertEqual(c.get("/api/v1/me").status, 200)
            time.sleep(0.2)
        time.sleep(max(0, 3.3 - (time.time() - t0)))
        r = c.get("/api/v1/me")
        assert_error(self, r, 401, "unauthenticated")
        self.assertIn("expired", r.error["message"])

    def srv_login_checked(self, srv):
        c = srv.client()
        r = c.post(LOGIN, {"login": "leader", "password": DEMO_PASSWORD})
        self.assertEqual(r.status, 200, r)
        self.assertIn("Max-Age=3", r.header("Set-Cookie"))
        self.assertAlmostEqual(r.json["expires_at"], now_ms() + 3000, delta=1500)
        c.csrf = r.json["csrf_token"]
        return c

    def test_api_tokens_do_not_idle_out(self):
        srv = self.start("--session-idle", "1", "--session-max", "2")
        c = srv.login("bank")
        r = c.post("/api/v1/me/tokens", {"name": "long-lived"})
        self.assertEqual(r.status, 201, r)
        api = srv.client()
        api.bearer = r.json["token"]
        time.sleep(2.2)
        assert_error(self, c.get("/api/v1/me"), 401, "unauthenticated")
        self.assertEqual(api.get("/api/v1/me").status, 200)


if __name__ == "__main__":
    unittest.main()
