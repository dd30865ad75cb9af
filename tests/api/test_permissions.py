"""The permission matrix: every route × every demo role (and no credentials),
and the data scopes of user.read.

GRANTS and ROUTES below are this test's statement of the policy. They mirror
src/core/authz.c (grants) and the route tables in src/api/; when the server
disagrees, the test fails. A route the matrix does not list fails the test
too: add new routes here, with the permission they should need.
"""
import unittest

from harness import ROLES, Server, run_cli

# demo login -> role code
ROLE_OF = {
    "admin": "admin", "leader": "leader", "dispatcher": "dispatcher", "handler": "handler",
    "depthead": "dept_head", "gridworker": "grid_worker", "inspector": "inspector",
    "bank": "bank_officer", "mediator": "mediator", "supervisor": "supervisor",
    "observer": "experience_officer", "advisor": "advisor", "enterprise": "enterprise",
}

# role -> {permission: scope}; unlisted permissions are not held.
_BASIC = {"dept.read": "all", "token.own": "self"}
_ENT_STAFF = {"enterprise.read": "all", "enterprise.pii": "all"}
GRANTS = {
    "admin": {"user.read": "all", "user.write": "all", "dept.read": "all",
              "dept.write": "all", "audit.read": "all", "settings.write": "all",
              "token.own": "self", "enterprise.read": "all", "enterprise.write": "all",
              "enterprise.pii": "all", "team.write": "all", "blindspot.read": "all",
              "ledger.read": "all", "ledger.write": "all", "checkin.verify": "all",
              "calendar.write": "all", "webhook.write": "all"},
    "leader": {"user.read": "all", **_BASIC, **_ENT_STAFF, "blindspot.read": "all",
               "ledger.read": "all", "ledger.write": "all"},
    "dispatcher": {"user.read": "all", **_BASIC, **_ENT_STAFF, "blindspot.read": "all",
                   "ledger.read": "all"},
    "dept_head": {"user.read": "dept_tree", **_BASIC, **_ENT_STAFF,
                  "ledger.read": "dept_tree", "ledger.write": "dept_tree"},
    "handler": {"user.read": "dept", **_BASIC, **_ENT_STAFF, "ledger.read": "self",
                "ledger.write": "self"},
    "inspector": {"user.read": "dept", **_BASIC, **_ENT_STAFF, "checkin.verify": "all"},
    "grid_worker": {"user.read": "self", **_BASIC, "enterprise.read": "grid",
                    "enterprise.pii": "grid"},
    "mediator": {"user.read": "self", **_BASIC, "enterprise.read": "all"},
    "bank_officer": {"user.read": "self", **_BASIC},
    "supervisor": {**_BASIC, "enterprise.read": "all"},
    "experience_officer": {**_BASIC, "enterprise.read": "all"},
    "advisor": {**_BASIC, "enterprise.read": "all"},
    "enterprise": {**_BASIC, "enterprise.read": "self", "enterprise.pii": "self",
                   "enterprise.self": "self"},
}

# enterprise requests (诉求): read, submit, dispatch, handle, approve, supervise, rate;
# the catalogue of categories and time limits
_REQUEST_GRANTS = {
    "admin": {"request.read": "all", "request.dispatch": "all", "request.supervise": "all",
              "category.write": "all"},
    "leader": {"request.read": "all", "request.supervise": "all", "request.approve": "all"},
    "dept_head": {"request.read": "dept_tree", "request.handle": "dept_tree",
                  "request.approve": "dept_tree"},
    "dispatcher": {"request.read": "all", "request.submit": "all", "request.dispatch": "all",
                   "request.supervise": "all", "request.rate": "all"},
    "handler": {"request.read": "dept", "request.handle": "dept"},
    "inspector": {"request.read": "dept"},
    "grid_worker": {"request.read": "grid", "request.submit": "grid"},
    "supervisor": {"request.read": "all", "request.submit": "all", "request.supervise": "all"},
    "experience_officer": {"request.read": "self", "request.submit": "all"},
    "advisor": {"request.read": "self", "request.submit": "all"},
    "enterprise": {"request.read": "self", "request.submit": "self", "request.rate": "self"},
}
for _role, _grants in _REQUEST_GRANTS.items():
    GRANTS[_role].update(_grants)

# dashboards and rates (the counters of a department head's departments only)
for _role, _scope in (("admin", "all"), ("leader", "all"), ("dispatcher", "all"),
                      ("dept_head", "dept_tree")):
    GRANTS[_role]["report.read"] = _scope

# grids: the administrator writes; staff who plan and dispatch read all; a grid worker its grid
for _role, _scope in (("admin", "all"), ("leader", "all"), ("dispatcher", "all"),
                      ("dept_head", "all"), ("supervisor", "all"), ("grid_worker", "grid")):
    GRANTS[_role]["grid.read"] = _scope
    GRANTS[_role]["analysis.read"] = _scope
GRANTS["admin"]["grid.write"] = "all"

# the visit system (走访): grid workers record visits in their grid and see its blind spots;
# staff who lead, dispatch and supervise read all; the administrator and leaders plan
# policies and campaigns
for _role, _scope in (("admin", "all"), ("leader", "all"), ("dispatcher", "all"),
                      ("supervisor", "all"), ("grid_worker", "grid")):
    GRANTS[_role]["visit.read"] = _scope
GRANTS["grid_worker"]["visit.write"] = "grid"
GRANTS["grid_worker"]["blindspot.read"] = "grid"
for _role in ("admin", "leader"):
    GRANTS[_role]["visit.plan"] = "all"

MISSING = 999999
# (method, pattern, permission, path parameter value, body, status a permitted caller gets).
# The requests are harmless: reads, or writes with an invalid body or a missing id, so that
# a permitted caller gets 400/404/422 and nothing changes. "{self}" is the caller's own id.
ROUTES = [
    ("GET", "/", "public", None, None, 200),
    ("GET", "/assets/{file}", "public", None, None, 404),  # "{file}" itself: no such file
    ("GET", "/healthz", "public", None, None, 200),
    ("GET", "/metrics", "public", None, None, 200),
    ("GET", "/api/v1/openapi.json", "public", None, None, 200),
    ("GET", "/api/v1/roles", "login", None, None, 200),
    ("GET", "/api/v1/settings", "settings.write", None, None, 200),
    ("PUT", "/api/v1/settings", "settings.write", None, {"login.max_failures": 0}, 422),
    ("POST", "/api/v1/auth/login", "public", None, {}, 400),
    ("POST", "/api/v1/auth/logout", "login", None, None, 204),  # on a throwaway session
    ("GET", "/api/v1/me", "login", None, None, 200),
    ("POST", "/api/v1/me/password", "login", None, {}, 400),
    ("GET", "/api/v1/me/tokens", "token.own", None, None, 200),
    ("POST", "/api/v1/me/tokens", "token.own", None, {}, 400),
    ("DELETE", "/api/v1/me/tokens/{id}", "token.own", MISSING, None, 404),
    ("GET", "/api/v1/users", "user.read", None, None, 200),
    ("GET", "/api/v1/users/{id}", "user.read", "{self}", None, 200),
    ("POST", "/api/v1/users", "user.write", None, {}, 400),
    ("PATCH", "/api/v1/users/{id}", "user.write", MISSING, {}, 404),
    ("POST", "/api/v1/users/{id}/password", "user.write", MISSING, {}, 404),
    ("GET", "/api/v1/departments", "dept.read", None, None, 200),
    ("GET", "/api/v1/departments/{id}", "dept.read", 1, None, 200),
    ("POST", "/api/v1/departments", "dept.write", None, {}, 400),
    ("PATCH", "/api/v1/departments/{id}", "dept.write", MISSING, {}, 404),
    ("DELETE", "/api/v1/departments/{id}", "dept.write", MISSING, None, 404),
    ("GET", "/api/v1/audit", "audit.read", None, None, 200),
    ("GET", "/api/v1/audit/verify", "audit.read", None, None, 200),
    ("GET", "/api/v1/login-attempts", "audit.read", None, None, 200),
    ("GET", "/api/v1/enterprises", "enterprise.read", None, None, 200),
    ("POST", "/api/v1/enterprises", "enterprise.write", None, {}, 400),
    ("GET", "/api/v1/enterprises/{id}", "enterprise.read", MISSING, None, 404),
    ("PATCH", "/api/v1/enterprises/{id}", "enterprise.write", MISSING, {}, 404),
    ("GET", "/api/v1/enterprises/{id}/history", "enterprise.read", MISSING, None, 404),
    ("GET", "/api/v1/credit-codes/{code}", "login", "91440101MA5CJQ4N59", None, 200),
    ("GET", "/api/v1/my/enterprise", "enterprise.self", None, None, 200),
    ("PATCH", "/api/v1/my/enterprise", "enterprise.self", None, {}, 200),
    ("GET", "/api/v1/enterprises/{id}/code", "enterprise.read", MISSING, None, 404),
    ("GET", "/api/v1/enterprises/{id}/code.svg", "enterprise.read", MISSING, None, 404),
    ("GET", "/api/v1/enterprises/{id}/code.png", "enterprise.read", MISSING, None, 404),
    ("GET", "/api/v1/enterprises/{id}/checkin-code", "enterprise.self", MISSING, None, 404),
    ("POST", "/api/v1/checkin/verify", "checkin.verify", None, {}, 400),
    # "{token}" stays in the path: a token that does not verify
    ("GET", "/api/v1/public/e/{token}", "public", None, None, 404),
    ("GET", "/e/{token}", "public", None, None, 404),
    # imports and exports; a JSON body is refused before anything is read (400)
    ("POST", "/api/v1/imports/enterprises", "enterprise.write", None, {}, 400),
    ("GET", "/api/v1/imports/{id}", "enterprise.write", MISSING, None, 404),
    ("GET", "/api/v1/imports/{id}/errors.csv", "enterprise.write", MISSING, None, 404),
    ("GET", "/api/v1/imports/{id}/errors.xlsx", "enterprise.write", MISSING, None, 404),
    ("GET", "/api/v1/enterprises/export.csv", "enterprise.read", None, None, 200),
    ("GET", "/api/v1/enterprises/export.xlsx", "enterprise.read", None, None, 200),
    ("GET", "/api/v1/enterprises/{id}/team", "enterprise.read", MISSING, None, 404),
    ("POST", "/api/v1/enterprises/{id}/team", "team.write", MISSING, {}, 400),
    # "{user_id}" stays in the path: not an id
    ("DELETE", "/api/v1/enterprises/{id}/team/{user_id}", "team.write", MISSING, None, 404),
    ("GET", "/api/v1/users/{id}/enterprises", "enterprise.read", "{self}", None, 200),
    ("GET", "/api/v1/reports/blind-spots", "blindspot.read", None, None, 200),
    ("GET", "/api/v1/ledger", "ledger.read", None, None, 200),
    ("POST", "/api/v1/ledger", "ledger.write", None, {}, 400),
    ("GET", "/api/v1/ledger/summary", "ledger.read", None, None, 200),
    ("GET", "/api/v1/ledger/export.xlsx", "ledger.read", None, None, 200),
    ("GET", "/api/v1/ledger/{id}", "ledger.read", MISSING, None, 404),
    ("PATCH", "/api/v1/ledger/{id}", "ledger.write", MISSING, {}, 404),
    ("POST", "/api/v1/ledger/{id}/progress", "ledger.write", MISSING, {}, 400),
    ("GET", "/api/v1/ledger/{id}/progress", "ledger.read", MISSING, None, 404),
    # the working-day calendar; "{year}" stays in the path: not a year (404)
    ("GET", "/api/v1/calendar", "login", None, None, 200),
    ("GET", "/api/v1/calendar/check", "login", None, None, 200),
    ("POST", "/api/v1/calendar/deadline", "login", None, {}, 400),
    ("PUT", "/api/v1/calendar/years/{year}", "calendar.write", None, {}, 404),
    ("DELETE", "/api/v1/calendar/years/{year}", "calendar.write", None, None, 404),
    ("GET", "/api/v1/calendar/workhours", "login", None, None, 200),
    ("PUT", "/api/v1/calendar/workhours", "calendar.write", None, {}, 400),
    # Open311 GeoReport v2: public, the POST's credential is its api_key (403 without);
    # "{code}" and "{token}" stay in the path and name nothing (404)
    ("GET", "/open311/v2/discovery.json", "public", None, None, 200),
    ("GET", "/open311/v2/discovery.xml", "public", None, None, 200),
    ("GET", "/open311/v2/services.json", "public", None, None, 200),
    ("GET", "/open311/v2/services.xml", "public", None, None, 200),
    ("GET", "/open311/v2/services/{code}.json", "public", None, None, 404),
    ("GET", "/open311/v2/services/{code}.xml", "public", None, None, 404),
    ("GET", "/open311/v2/requests.json", "public", None, None, 200),
    ("GET", "/open311/v2/requests.xml", "public", None, None, 200),
    ("POST", "/open311/v2/requests.json", "public", None, None, 403),
    ("POST", "/open311/v2/requests.xml", "public", None, None, 403),
    ("GET", "/open311/v2/requests/{id}.json", "public", MISSING, None, 404),
    ("GET", "/open311/v2/requests/{id}.xml", "public", MISSING, None, 404),
    ("GET", "/open311/v2/tokens/{token}.json", "public", None, None, 404),
    ("GET", "/open311/v2/tokens/{token}.xml", "public", None, None, 404),
    ("GET", "/api/v1/request-categories/{id}/open311-attributes", "login", MISSING, None, 404),
    ("PUT", "/api/v1/request-categories/{id}/open311-attributes", "category.write", MISSING,
     {}, 400),
    # the digital employee: inbox, webhooks, daily reports (the harness runs the server
    # without the scheduler: no report yet, 404)
    ("GET", "/api/v1/notifications", "login", None, None, 200),
    ("POST", "/api/v1/notifications/{id}/read", "login", MISSING, None, 404),
    ("POST", "/api/v1/notifications/read-all", "login", None, {"up_to": "x"}, 400),
    ("GET", "/api/v1/webhooks", "webhook.write", None, None, 200),
    ("POST", "/api/v1/webhooks", "webhook.write", None, {}, 400),
    ("GET", "/api/v1/webhooks/{id}", "webhook.write", MISSING, None, 404),
    ("PATCH", "/api/v1/webhooks/{id}", "webhook.write", MISSING, {}, 404),
    ("DELETE", "/api/v1/webhooks/{id}", "webhook.write", MISSING, None, 404),
    ("GET", "/api/v1/webhooks/{id}/deliveries", "webhook.write", MISSING, None, 404),
    ("POST", "/api/v1/webhooks/{id}/test", "webhook.write", MISSING, None, 404),
    ("GET", "/api/v1/reports/daily", "report.read", None, None, 404),
    # enterprise requests; "{action}" stays in the path: no such action (404)
    ("POST", "/api/v1/requests", "request.submit", None, {}, 400),
    ("GET", "/api/v1/requests", "request.read", None, None, 200),
    ("GET", "/api/v1/requests/{id}", "request.read", MISSING, None, 404),
    ("GET", "/api/v1/requests/{id}/timeline", "request.read", MISSING, None, 404),
    ("POST", "/api/v1/requests/{id}/actions/{action}", "login", MISSING, {}, 404),
    ("GET", "/api/v1/request-categories", "login", None, None, 200),
    ("POST", "/api/v1/request-categories", "category.write", None, {}, 400),
    ("PATCH", "/api/v1/request-categories/{id}", "category.write", MISSING, {}, 404),
    ("GET", "/api/v1/time-limits", "login", None, None, 200),
    ("PUT", "/api/v1/time-limits", "category.write", None, {}, 400),
    # attachments: whoever may read the request (404: no such request / attachment)
    ("POST", "/api/v1/requests/{id}/attachments", "request.read", MISSING, {}, 404),
    ("GET", "/api/v1/requests/{id}/attachments", "request.read", MISSING, None, 404),
    ("GET", "/api/v1/attachments/{id}", "request.read", MISSING, None, 404),
    ("DELETE", "/api/v1/attachments/{id}", "request.read", MISSING, None, 404),
    # duplicates and routing suggestions; a retrain with an unknown field is 400
    ("GET", "/api/v1/requests/{id}/suggestions", "request.dispatch", MISSING, None, 404),
    ("POST", "/api/v1/suggestions/retrain", "request.dispatch", None, {"x": 1}, 400),
    ("GET", "/api/v1/suggestions/model", "request.dispatch", None, None, 200),
    # the live rates
    ("GET", "/api/v1/stats/rates", "report.read", None, None, 200),
    ("GET", "/api/v1/stats/trend", "report.read", None, None, 200),
    ("GET", "/api/v1/stats/ranking", "report.read", None, None, 200),
    # grids; an import without a FeatureCollection is 422, a missing grid 404
    ("GET", "/api/v1/grids", "grid.read", None, None, 200),
    ("POST", "/api/v1/grids/import", "grid.write", None, {}, 422),
    ("GET", "/api/v1/grids/map.geojson", "grid.read", None, None, 200),
    ("GET", "/api/v1/grids/locate", "grid.read", None, None, 400),
    ("GET", "/api/v1/grids/unplaced", "grid.write", None, None, 200),
    ("GET", "/api/v1/grids/{id}", "grid.read", MISSING, None, 404),
    ("DELETE", "/api/v1/grids/{id}", "grid.write", MISSING, None, 404),
    ("GET", "/api/v1/grids/{id}/workers", "grid.read", MISSING, None, 404),
    ("PUT", "/api/v1/grids/{id}/workers/{user_id}", "grid.write", MISSING, None, 404),
    ("DELETE", "/api/v1/grids/{id}/workers/{user_id}", "grid.write", MISSING, None, 404),
    # the visit system: policies, state, tasks, visits, photos, campaigns
    ("GET", "/api/v1/visit-policies", "visit.read", None, None, 200),
    ("POST", "/api/v1/visit-policies", "visit.plan", None, {}, 400),
    ("GET", "/api/v1/visit-policies/{id}", "visit.read", MISSING, None, 404),
    ("PATCH", "/api/v1/visit-policies/{id}", "visit.plan", MISSING, {}, 404),
    ("DELETE", "/api/v1/visit-policies/{id}", "visit.plan", MISSING, None, 404),
    ("GET", "/api/v1/visit-policies/recompute", "visit.read", None, None, 200),
    ("GET", "/api/v1/enterprises/{id}/visit-state", "visit.read", MISSING, None, 404),
    ("GET", "/api/v1/visit-tasks", "visit.read", None, None, 200),
    ("GET", "/api/v1/visit-tasks/workers", "visit.read", None, None, 200),
    ("GET", "/api/v1/me/visit-tasks", "visit.write", None, None, 200),
    ("POST", "/api/v1/visits", "visit.write", None, {}, 400),
    ("GET", "/api/v1/visits", "visit.read", None, None, 200),
    ("GET", "/api/v1/visits/{id}", "visit.read", MISSING, None, 404),
    ("POST", "/api/v1/visits/{id}/photos", "visit.write", MISSING, {}, 404),
    ("GET", "/api/v1/visit-photos/{id}", "visit.read", MISSING, None, 404),
    ("GET", "/api/v1/visit-campaigns", "visit.read", None, None, 200),
    ("POST", "/api/v1/visit-campaigns", "visit.plan", None, {}, 400),
    ("GET", "/api/v1/visit-campaigns/{id}", "visit.read", MISSING, None, 404),
    ("GET", "/api/v1/visit-campaigns/{id}/progress", "visit.read", MISSING, None, 404),
    ("GET", "/api/v1/visit-campaigns/{id}/targets", "visit.read", MISSING, None, 404),
    # the analysis (研判)
    ("GET", "/api/v1/analysis/matrix", "analysis.read", None, None, 200),
    ("GET", "/api/v1/analysis/matrix.xlsx", "analysis.read", None, None, 200),
    ("GET", "/api/v1/analysis/trend", "analysis.read", None, None, 200),
    ("GET", "/api/v1/analysis/rising", "analysis.read", None, None, 200),
    ("GET", "/api/v1/analysis/top", "analysis.read", None, None, 200),
    ("GET", "/api/v1/analysis/heatmap.geojson", "analysis.read", None, None, 200),
]


def allowed(login, perm):
    """Expected: may this demo user (None = no credentials) call a route needing perm?"""
    if perm == "public":
        return True
    if login is None:
        return False
    return perm == "login" or perm in GRANTS[ROLE_OF[login]]


def router_routes():
    out = run_cli("routes").stdout
    return {tuple(line.split()[:3]) for line in out.splitlines() if line.strip()}


class Matrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.uid = dict(cls.srv.sql("SELECT login, id FROM users"))
        cls.cookie = {name: cls.srv.login(name) for name in ROLES}
        cls.bearer = {name: cls.srv.login(name, bearer=True) for name in ROLES}

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_demo_has_every_role(self):
        self.assertEqual(sorted(ROLE_OF), sorted(ROLES))
        self.assertEqual(sorted(GRANTS), sorted(ROLE_OF.values()))

    def test_matrix_lists_every_route(self):
        listed = {(m, p, perm) for m, p, perm, *_ in ROUTES}
        self.assertEqual(len(listed), len(ROUTES), "a route is listed twice")
        actual = router_routes()
        self.assertEqual(sorted(actual - listed), [],
                         "routes missing from the permission matrix (or with another "
                         "permission than the matrix says): add them to ROUTES")
        self.assertEqual(sorted(listed - actual), [], "the matrix lists routes that do not exist")

    def test_openapi_permissions_match(self):
        doc = self.srv.client().get("/api/v1/openapi.json").json
        ops = {(m.upper(), p, op["x-permission"]) for p, item in doc["paths"].items()
               for m, op in item.items()}
        self.assertEqual(ops, {(m, p, perm) for m, p, perm, *_ in ROUTES})
        for p, item in doc["paths"].items():
            for m, op in item.items():
                self.assertEqual("security" in op, op["x-permission"] != "public", (m, p))

    def test_roles_catalogue_matches_grants(self):
        r = self.cookie["observer"].get("/api/v1/roles")
        self.assertEqual(r.status, 200, r)
        got = {item["code"]: item["permissions"] for item in r.json["items"]}
        self.assertEqual(got, GRANTS)

    def test_me_permissions_match_grants(self):
        for name in ROLES:
            with self.subTest(role=name):
                me = self.cookie[name].get("/api/v1/me").json
                self.assertEqual(me["roles"], [ROLE_OF[name]])
                self.assertEqual(me["permissions"], GRANTS[ROLE_OF[name]])

    def call(self, client, login, method, pattern, param, body):
        path = pattern
        if param == "{self}":
            param = self.uid[login] if login else MISSING
        if param is not None:
            path = pattern.replace("{id}", str(param))
        return client.request(method, path, body=body)

    def check(self, r, login, method, pattern, perm, ok_status):
        what = "%s %s as %s" % (method, pattern, login or "anonymous")
        if allowed(login, perm):
            self.assertEqual(r.status, ok_status, "%s should be allowed: %r" % (what, r))
        elif login is None:
            self.assertEqual(r.status, 401, "%s: %r" % (what, r))
            self.assertEqual(r.error["code"], "unauthenticated", what)
        else:
            self.assertEqual(r.status, 403, "%s should be forbidden: %r" % (what, r))
            self.assertEqual(r.error["code"], "forbidden", what)
            self.assertEqual(r.error["field"], "", what)
            self.assertIn(perm, r.error["message"], what)

    def sweep(self, clients):
        before = self.srv.counts()
        for method, pattern, perm, param, body, ok_status in ROUTES:
            if pattern == "/api/v1/auth/logout":
                continue
            for login, client in clients.items():
                with self.subTest(route="%s %s" % (method, pattern), role=login):
                    r = self.call(client, login, method, pattern, param, body)
                    self.check(r, login, method, pattern, perm, ok_status)
        self.assertEqual(before, self.srv.counts(), "a probe request changed data")

    def test_every_route_every_role_cookie(self):
        self.sweep(self.cookie)

    def test_every_route_every_role_bearer(self):
        self.sweep(self.bearer)

    def test_every_route_without_credentials(self):
        self.sweep({None: self.srv.client()})

    def test_logout_every_role(self):
        for name in ROLES:
            with self.subTest(role=name):
                c = self.srv.login(name)
                self.assertEqual(c.post("/api/v1/auth/logout").status, 204)
                self.assertEqual(c.get("/api/v1/me").status, 401)
        r = self.srv.client().post("/api/v1/auth/logout")
        self.assertEqual(r.status, 401, r)

    def test_forbidden_writes_change_nothing_even_with_valid_bodies(self):
        """Valid, harmful requests from every role without the permission: 403, no change."""
        hid = self.uid["handler"]
        harmful = [
            ("PUT", "/api/v1/settings", "settings.write", {"login.max_failures": 1}),
            ("POST", "/api/v1/users", "user.write",
             {"login": "intruder", "display_name": "x", "password": "Intr#der2026",
              "roles": ["admin"]}),
            ("PATCH", "/api/v1/users/%d" % hid, "user.write", {"roles": ["admin"]}),
            ("PATCH", "/api/v1/users/%d" % hid, "user.write", {"status": "disabled"}),
            ("POST", "/api/v1/users/%d/password" % hid, "user.write",
             {"password": "Intr#der2026"}),
            ("POST", "/api/v1/departments", "dept.write", {"code": "evil", "name": "x"}),
            ("PATCH", "/api/v1/departments/2", "dept.write", {"name": "renamed"}),
            ("DELETE", "/api/v1/departments/23", "dept.write", None),
            ("PUT", "/api/v1/calendar/years/2027", "calendar.write",
             {"days": [{"day": "2027-01-01", "kind": "holiday"}]}),
            ("DELETE", "/api/v1/calendar/years/2025", "calendar.write", None),
            ("PUT", "/api/v1/calendar/workhours", "calendar.write", {"workhours": "00:00-24:00"}),
            ("POST", "/api/v1/webhooks", "webhook.write", {"url": "https://hooks.example.com/x"}),
            ("POST", "/api/v1/requests", "request.submit", {"type": "help", "content": "x"}),
            ("POST", "/api/v1/request-categories", "category.write", {"code": "evil", "name": "x"}),
            ("PUT", "/api/v1/time-limits", "category.write",
             {"type": "help", "sign_minutes": 30, "handle_days": 1, "visit_days": 1}),
            ("POST", "/api/v1/visit-policies", "visit.plan", {"name": "x", "interval_days": 1}),
            ("POST", "/api/v1/visit-campaigns", "visit.plan",
             {"name": "x", "deadline_on": "2099-12-31", "target": {"kind": "all"}}),
            ("POST", "/api/v1/visits", "visit.write",
             {"enterprise_id": 1, "summary": "x"}),
        ]
        before = self.srv.counts()
        snapshot = self.srv.sql("SELECT * FROM users ORDER BY id")
        for login in ROLES:
            for method, path, perm, body in harmful:
                if allowed(login, perm):
                    continue
                for client in (self.cookie[login], self.bearer[login]):
                    r = client.request(method, path, body=body)
                    self.assertEqual(r.status, 403, "%s %s as %s: %r" % (method, path, login, r))
        self.assertEqual(before, self.srv.counts())
        self.assertEqual(snapshot, self.srv.sql("SELECT * FROM users ORDER BY id"))


class Scopes(unittest.TestCase):
    """user.read is filtered by scope: lists, single reads, and filters."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.uid = dict(cls.srv.sql("SELECT login, id FROM users"))
        cls.dept = dict(cls.srv.sql("SELECT code, id FROM departments"))
        cls.c = {name: cls.srv.login(name) for name in ROLES}

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # what each demo user should see among the demo users, written out
    DEMO_VISIBLE = {
        "admin": set(ROLES), "leader": set(ROLES), "dispatcher": set(ROLES),
        "depthead": {"depthead", "handler", "inspector"},  # amr, amr-reg, amr-food
        "handler": {"handler"},                            # amr-reg only
        "inspector": {"inspector"},                        # amr-food only
        "gridworker": {"gridworker"}, "mediator": {"mediator"}, "bank": {"bank"},
    }
    NO_USER_READ = ("supervisor", "observer", "advisor", "enterprise")

    def expected_sql(self, login):
        """The scope computed independently from the database, for all users."""
        scope = GRANTS[ROLE_OF[login]].get("user.read")
        me = self.uid[login]
        if scope == "all":
            q, p = "SELECT login FROM users", ()
        elif scope == "dept_tree":
            q = ("SELECT u.login FROM users u JOIN departments d ON d.id = u.department_id "
                 "WHERE d.path LIKE (SELECT d2.path FROM users u2 JOIN departments d2 ON "
                 "d2.id = u2.department_id WHERE u2.id = ?) || '%'")
            p = (me,)
        elif scope == "dept":
            q = ("SELECT login FROM users WHERE department_id = "
                 "(SELECT department_id FROM users WHERE id = ?)")
            p = (me,)
        elif scope == "self":
            q, p = "SELECT login FROM users WHERE id = ?", (me,)
        else:
            raise AssertionError(scope)
        return {row[0] for row in self.srv.sql(q, p)}

    def visible(self, login, query=""):
        seen, after = [], 0
        while True:
            r = self.c[login].get("/api/v1/users?limit=5&after=%d%s" % (after, query))
            self.assertEqual(r.status, 200, r)
            seen += [u["login"] for u in r.json["items"]]
            if r.json["next"] is None:
                return seen
            after = r.json["next"]

    def test_list_is_scoped(self):
        for login, demo in self.DEMO_VISIBLE.items():
            with self.subTest(role=login):
                seen = self.visible(login)
                self.assertEqual(len(seen), len(set(seen)), "duplicates")
                self.assertEqual(set(seen) & set(ROLES), demo)
                self.assertEqual(set(seen), self.expected_sql(login))

    def test_no_user_read_is_403(self):
        for login in self.NO_USER_READ:
            with self.subTest(role=login):
                for path in ("/api/v1/users", "/api/v1/users/%d" % self.uid[login],
                             "/api/v1/users/%d" % self.uid["admin"]):
                    r = self.c[login].get(path)
                    self.assertEqual(r.status, 403, r)
                    self.assertEqual(r.error["code"], "forbidden")

    def test_single_read_outside_scope_is_404(self):
        missing = self.c["admin"].get("/api/v1/users/%d" % MISSING)
        self.assertEqual(missing.status, 404)
        for login, demo in self.DEMO_VISIBLE.items():
            for target in ROLES:
                with self.subTest(role=login, target=target):
                    r = self.c[login].get("/api/v1/users/%d" % self.uid[target])
                    if target in demo:
                        self.assertEqual(r.status, 200, r)
                        self.assertEqual(r.json["login"], target)
                    else:
                        self.assertEqual(r.status, 404, r)
                        # indistinguishable from a user that does not exist
                        self.assertEqual(r.error, missing.error)

    def test_filters_cannot_widen_scope(self):
        d = self.dept
        self.assertEqual(self.visible("depthead", "&department_id=%d" % d["gsb"]), [])
        self.assertEqual(self.visible("depthead", "&q=admin"), [])
        self.assertEqual(self.visible("depthead", "&role=admin"), [])
        self.assertEqual(self.visible("depthead", "&department_id=%d" % d["amr-food"]),
                         ["inspector"])
        self.assertEqual(self.visible("handler", "&department_id=%d" % d["amr"]), [])
        self.assertEqual(self.visible("gridworker", "&q=leader"), [])
        self.assertEqual(self.visible("gridworker", "&q=grid"), ["gridworker"])
        # keyset paging past other users does not leak them either
        self.assertEqual(self.visible("bank", "&status=active"), ["bank"])

    def test_new_users_follow_the_scope(self):
        admin = self.c["admin"]
        r = admin.post("/api/v1/users", {"login": "food.two", "display_name": "食品二",
                                         "password": "Food#Two2026", "roles": ["inspector"],
                                         "department_id": self.dept["amr-food"]})
        self.assertEqual(r.status, 201, r)
        new = r.json["id"]
        for login, sees in (("depthead", True), ("inspector", True), ("handler", False),
                            ("gridworker", False), ("dispatcher", True)):
            with self.subTest(role=login):
                self.assertEqual("food.two" in self.visible(login), sees)
                self.assertEqual(self.c[login].get("/api/v1/users/%d" % new).status,
                                 200 if sees else 404)
        # the newcomer (inspector, scope dept) sees amr-food
        c = self.srv.login("food.two", password="Food#Two2026")
        r = c.get("/api/v1/users?limit=200")
        self.assertEqual({u["login"] for u in r.json["items"]}, {"inspector", "food.two"})

    def test_several_roles_get_the_widest_scope(self):
        admin = self.c["admin"]
        pw = "Multi#Role2026"
        cases = [
            ("multi.a", ["grid_worker", "handler"], "amr-reg", "dept"),
            ("multi.b", ["handler", "dept_head"], "amr-reg", "dept_tree"),
            ("multi.c", ["grid_worker", "leader"], "dehua", "all"),
            ("multi.d", ["enterprise", "mediator"], None, "self"),
        ]
        for login, roles, dept, scope in cases:
            body = {"login": login, "display_name": login, "password": pw, "roles": roles}
            if dept:
                body["department_id"] = self.dept[dept]
            self.assertEqual(admin.post("/api/v1/users", body).status, 201)
            c = self.srv.login(login, password=pw)
            me = c.get("/api/v1/me").json
            self.assertEqual(me["permissions"]["user.read"], scope, login)
            self.uid[login] = me["id"]
            self.c[login] = c
            got = set(self.visible(login))
            if scope == "all":
                want = {r[0] for r in self.srv.sql("SELECT login FROM users")}
            elif scope == "dept":
                want = {r[0] for r in self.srv.sql(
                    "SELECT login FROM users WHERE department_id = ?", (self.dept[dept],))}
            elif scope == "dept_tree":
                want = {r[0] for r in self.srv.sql(
                    "SELECT u.login FROM users u JOIN departments d ON d.id = u.department_id "
                    "WHERE d.path LIKE (SELECT path FROM departments WHERE id = ?) || '%'",
                    (self.dept[dept],))}
            else:
                want = {login}
            self.assertEqual(got, want, login)

    def test_scoped_role_without_department_sees_nothing(self):
        # deny by default: a handler with no department has no department to see
        admin = self.c["admin"]
        r = admin.post("/api/v1/users", {"login": "lost.handler", "display_name": "无部门",
                                         "password": "Lost#Hand2026", "roles": ["handler"]})
        self.assertEqual(r.status, 201, r)
        c = self.srv.login("lost.handler", password="Lost#Hand2026")
        r = c.get("/api/v1/users")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["items"], [])
        self.assertEqual(c.get("/api/v1/users/%d" % self.uid["handler"]).status, 404)


if __name__ == "__main__":
    unittest.main()
