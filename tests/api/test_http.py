"""HTTP basics: health, request ids, 404/405, metrics, access log, keep-alive."""
import json
import os
import time
import unittest

from harness import Server


class HttpBasics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_healthz(self):
        r = self.srv.client().get("/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.json["database"], "sqlite")

    def test_request_id_unique(self):
        c = self.srv.client()
        ids = {c.get("/healthz").header("X-Request-Id") for _ in range(20)}
        self.assertEqual(len(ids), 20)
        self.assertNotIn(None, ids)

    def test_unknown_route_404_json(self):
        r = self.srv.client().get("/api/v1/no-such-thing")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.error["code"], "not_found")
        self.assertTrue(r.error["message"] and r.error["message_zh"])

    def test_wrong_method_405_with_allow(self):
        r = self.srv.client().request("DELETE", "/api/v1/users")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.error["code"], "method_not_allowed")
        self.assertIn("GET", r.header("Allow"))
        self.assertIn("POST", r.header("Allow"))

    def test_nul_in_path_matches_nothing(self):
        admin = self.srv.login("admin")
        self.assertEqual(admin.get("/api/v1/users/1").status, 200)
        r = admin.get("/api/v1/users/1%00xyz")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.error["field"], "id")
        self.assertEqual(admin.get("/api/v1/users/%31").status, 200)  # other escapes decode

    def test_unauthenticated_401(self):
        for path in ("/api/v1/me", "/api/v1/users", "/api/v1/departments", "/api/v1/audit"):
            r = self.srv.client().get(path)
            self.assertEqual(r.status, 401, path)
            self.assertEqual(r.error["code"], "unauthenticated")

    def test_keep_alive(self):
        c = self.srv.client()
        c.get("/healthz")
        first = c.conn
        for _ in range(5):
            self.assertEqual(c.get("/healthz").status, 200)
        self.assertIs(c.conn, first, "connection was not kept alive")

    def test_metrics(self):
        c = self.srv.client()
        c.get("/healthz")
        c.get("/nope")
        admin = self.srv.login("admin")
        admin.get("/api/v1/users")
        r = c.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn('yiqiban_http_requests_total{method="GET",route="/healthz",status="2xx"}', r.raw)
        self.assertIn('route="unmatched",status="4xx"', r.raw)
        self.assertIn("yiqiban_http_request_duration_seconds_bucket", r.raw)
        self.assertIn("yiqiban_db_commits_total", r.raw)
        self.assertIn('yiqiban_db_batch_size_bucket{le="+Inf"}', r.raw)

    def test_access_log_json_lines(self):
        c = self.srv.client()
        rid = c.get("/healthz").header("X-Request-Id")
        path = os.path.join(self.srv.dir, "access.log")
        # the line is written when the response has been sent: allow it a moment
        for _ in range(100):
            with open(path, encoding="utf-8") as f:
                lines = [json.loads(l) for l in f if l.strip()]
            mine = [l for l in lines if l["id"] == rid]
            if mine:
                break
            time.sleep(0.02)
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["status"], 200)
        self.assertEqual(mine[0]["path"], "/healthz")
        self.assertGreater(mine[0]["bytes"], 0)


if __name__ == "__main__":
    unittest.main()
