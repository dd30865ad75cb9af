"""HTTP basics: health, request ids, 404/405, metrics, access log, keep-alive."""
import json
import os
import re
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
        # the logins wrote (sessions): each write acknowledged after a flush of the log
        commits = int(re.search(r"^yiqiban_db_commits_total (\d+)$", r.raw, re.M).group(1))
        syncs = int(re.search(r"^yiqiban_db_log_syncs_total (\d+)$", r.raw, re.M).group(1))
        self.assertGreater(commits, 0)
        self.assertGreater(syncs, 0)
        self.assertLessEqual(syncs, commits)

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


class WritesInFlight(unittest.TestCase):
    """Writing handlers run as coroutines on the HTTP threads and wait for the group commit
    without holding the thread. A client that hangs up while its write waits, and a server
    stopped while writes wait, must neither crash nor leak (the ASan run checks) nor lose
    the write: it was queued, so it commits."""

    def post_and_hang_up(self, srv, token, codes):
        import socket
        socks = []
        for code in codes:
            body = json.dumps({"code": code, "name": "断开测试 " + code}).encode()
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(("POST /api/v1/departments HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n" % (token, len(body))).encode() + body)
            socks.append(s)
        for s in socks:
            s.close()

    def wait_for_codes(self, srv, codes, deadline_s=30):
        want = set(codes)
        deadline = time.monotonic() + deadline_s
        while True:
            got = {r[0] for r in srv.sql("SELECT code FROM departments")}
            if want <= got or time.monotonic() > deadline:
                return want - got
            time.sleep(0.05)

    def test_client_hangs_up_while_its_write_waits(self):
        srv = Server.start()
        try:
            admin = srv.login("admin", bearer=True)
            codes = ["hang-%d" % i for i in range(40)]
            self.post_and_hang_up(srv, admin.bearer, codes)
            self.assertEqual(self.wait_for_codes(srv, codes), set(), "queued writes lost")
            # the server goes on serving reads and writes on the same threads
            r = admin.post("/api/v1/departments", {"code": "after-hang", "name": "之后"})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(admin.get("/api/v1/departments/%d" % r.json["id"]).status, 200)
            admin.close()
        finally:
            srv.stop()  # fails on a crash or a sanitizer report

    def test_stop_while_writes_wait(self):
        import threading
        srv = Server.start()
        try:
            clients = [srv.login("admin", bearer=True) for _ in range(8)]
            acked, stop = [], threading.Event()

            def load(i):
                n = 0
                while not stop.is_set():
                    code = "stop-%d-%d" % (i, n)
                    n += 1
                    try:
                        r = clients[i].post("/api/v1/departments", {"code": code, "name": code})
                    except Exception:  # the server went away mid-request
                        return
                    if r.status == 201:
                        acked.append(code)
                    else:
                        return

            threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(8)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(acked) < 50 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertGreaterEqual(len(acked), 50, "too little load to test anything")
            srv.stop(cleanup=False)  # SIGTERM with writes in flight: clean exit, no leak
            stop.set()
            for t in threads:
                t.join(30)
            got = {r[0] for r in srv.sql("SELECT code FROM departments")}
            self.assertEqual(set(acked) - got, set(), "acknowledged writes lost on stop")
        finally:
            srv.stop()
