"""The digital employee through the real server: webhooks signed and delivered to
a receiver on 127.0.0.1 (checked with hmac here), failures to a closed port with
their back-off and last error visible, the inbox (visit notices after a reply,
escalation of an overdue request, read / unread), daily reports and permissions.

The server runs with --scheduler-interval 1 and --webhook-allow-private (the
receiver is on loopback). Overdue and nearly-due requests are made by moving
their deadlines in the database, as time passing would."""
import hashlib
import hmac
import http.server
import json
import socket
import sqlite3
import threading
import time
import unittest

from harness import Server

HOOKS = "/api/v1/webhooks"
INBOX = "/api/v1/notifications"
DAY_MS = 86400 * 1000
SHANGHAI_MS = 8 * 3600 * 1000


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POST; answers 200."""

    daemon_threads = True

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    def wait(self, pred, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                hits = [g for g in self.got if pred(g)]
            if hits:
                return hits
            time.sleep(0.1)
        return []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.got.append({"path": self.path, "headers": dict(self.headers),
                                    "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def now_ms():
    return int(time.time() * 1000)


class DigitalEmployee(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start(args=["--scheduler-interval", "1", "--webhook-allow-private"],
                               enterprises=20)
        cls.rx = Receiver()
        threading.Thread(target=cls.rx.serve_forever, daemon=True).start()
        cls.url = "http://127.0.0.1:%d/hook" % cls.rx.server_address[1]
        cls.c = {n: cls.srv.login(n) for n in ("admin", "leader", "dispatcher", "handler",
                                               "depthead", "enterprise")}
        cls.uid = dict(cls.srv.sql("SELECT login, id FROM users"))
        cls.dept = dict(cls.srv.sql("SELECT code, id FROM departments"))

    @classmethod
    def tearDownClass(cls):
        cls.rx.shutdown()
        cls.srv.stop()

    # ---- helpers ----

    def write_db(self, sql, params=()):
        con = sqlite3.connect(self.srv.db, timeout=20)
        try:
            con.execute(sql, params)
            con.commit()
        finally:
            con.close()

    def until(self, fn, timeout=10, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            v = fn()
            if v:
                return v
            time.sleep(0.2)
        self.fail("timed out waiting for " + what)

    def submit(self, title):
        r = self.c["enterprise"].post("/api/v1/requests", {"type": "help", "title": title,
                                                           "content": title + "，请协助办理"})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def act(self, who, rid, action, body=None):
        r = self.c[who].post("/api/v1/requests/%d/actions/%s" % (rid, action), body or {})
        self.assertEqual(r.status, 200, r)
        return r.json

    def signed(self, title):
        rid = self.submit(title)
        self.act("dispatcher", rid, "dispatch", {"department_id": self.dept["amr-reg"]})
        self.act("handler", rid, "sign")
        return rid

    def inbox(self, who, query=""):
        r = self.c[who].get(INBOX + query)
        self.assertEqual(r.status, 200, r)
        return r.json

    def notes_about(self, who, rid, kind):
        return [n for n in self.inbox(who, "?limit=200")["items"]
                if n["request_id"] == rid and n["kind"] == kind]

    def hook(self, **fields):
        body = {"url": self.url}
        body.update(fields)
        r = self.c["admin"].post(HOOKS, body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def deliveries(self, hook_id, query=""):
        r = self.c["admin"].get("%s/%d/deliveries%s" % (HOOKS, hook_id, query))
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    # ---- webhooks ----

    def test_webhook_registration_is_checked(self):
        admin = self.c["admin"]
        for url in ("ftp://example.com/x", "http://u:p@127.0.0.1/x", "https://a@b.example.com/",
                    "example.com/hook", "http://exa mple.com/"):
            r = admin.post(HOOKS, {"url": url})
            self.assertEqual((r.status, r.error.get("field")), (422, "url"), (url, r))
            self.assertTrue(r.error["message"] and r.error["message_zh"], r)
        r = admin.post(HOOKS, {"url": self.url, "events": ["request.dispatch", "request.fly"]})
        self.assertEqual((r.status, r.error.get("field")), (422, "events"), r)
        self.assertIn("request.fly", r.error["message"])
        r = admin.post(HOOKS, {"url": self.url, "secret": "short"})
        self.assertEqual((r.status, r.error.get("field")), (422, "secret"), r)
        r = admin.post(HOOKS, {"url": self.url, "colour": "red"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error["field"], "colour")

        h = self.hook(events=["notice.*"], description="政务外网对接")
        self.assertGreaterEqual(len(h["secret"]), 32)
        self.assertEqual(h["events"], ["notice.*"])
        self.assertTrue(h["active"])
        listed = [x for x in admin.get(HOOKS).json["items"] if x["id"] == h["id"]]
        self.assertEqual(len(listed), 1)
        self.assertNotIn("secret", listed[0])        # shown once only
        self.assertEqual(listed[0]["secret_hint"], h["secret"][:4] + "…")
        r = admin.patch("%s/%d" % (HOOKS, h["id"]), {"active": False, "events": ["*"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["active"], r.json["events"]), (False, ["*"]))
        self.assertNotIn("secret", r.json)
        r = admin.patch("%s/%d" % (HOOKS, h["id"]), {"secret": "a-new-secret-of-enough-length"})
        self.assertEqual(r.json["secret"], "a-new-secret-of-enough-length")
        # an inactive webhook cannot be pinged
        r = admin.post("%s/%d/test" % (HOOKS, h["id"]))
        self.assertEqual(r.status, 409, r)
        self.assertEqual(admin.delete("%s/%d" % (HOOKS, h["id"])).status, 204)
        self.assertEqual(admin.get("%s/%d" % (HOOKS, h["id"])).status, 404)
        self.assertEqual(admin.delete("%s/%d" % (HOOKS, h["id"])).status, 404)
        # (ids of deleted webhooks come back: the last four rows are this one's)
        audit = self.srv.sql("SELECT action FROM audit_log WHERE entity = 'webhook' AND "
                             "entity_id = ? ORDER BY seq", (h["id"],))
        self.assertEqual([a for (a,) in audit][-4:], ["create", "update", "update", "delete"])
        self.assertFalse(self.srv.sql("SELECT 1 FROM audit_log WHERE summary LIKE ?",
                                      ("%" + h["secret"] + "%",)))

    def test_events_are_signed_and_delivered(self):
        secret = "receiver-secret-0123456789"
        h = self.hook(events=["request.submit", "request.dispatch"], secret=secret)
        rid = self.submit("数字员工回调测试")
        got = self.rx.wait(lambda g: json.loads(g["body"])["data"].get("request", {})
                           .get("id") == rid)
        self.assertEqual(len(got), 1, got)
        g = got[0]
        self.assertEqual(g["path"], "/hook")
        self.assertEqual(g["headers"]["X-Yiqiban-Event"], "request.submit")
        self.assertEqual(g["headers"]["Content-Type"], "application/json")
        want = "sha256=" + hmac.new(secret.encode(), g["body"], hashlib.sha256).hexdigest()
        self.assertEqual(g["headers"]["X-Yiqiban-Signature"], want)
        wrong = "sha256=" + hmac.new(b"another", g["body"], hashlib.sha256).hexdigest()
        self.assertNotEqual(g["headers"]["X-Yiqiban-Signature"], wrong)
        body = json.loads(g["body"])
        self.assertEqual(body["event"], "request.submit")
        self.assertEqual(body["data"]["request"]["state"], "received")
        self.assertNotIn("contact_phone", body["data"]["request"])
        # the delivery is recorded with the id the receiver saw
        items = self.until(lambda: [d for d in self.deliveries(h["id"], "?status=delivered")
                                    if d["payload"]["data"]["request"]["id"] == rid],
                           what="delivered status")
        self.assertEqual(str(items[0]["id"]), g["headers"]["X-Yiqiban-Delivery"])
        self.assertEqual((items[0]["attempts"], items[0]["last_status"]), (1, 200))
        # dispatch: subscribed; sign: not
        self.act("dispatcher", rid, "dispatch", {"department_id": self.dept["amr-reg"]})
        self.act("handler", rid, "sign")
        got = self.rx.wait(lambda g: g["headers"]["X-Yiqiban-Event"] == "request.dispatch" and
                           json.loads(g["body"])["data"]["request"]["id"] == rid)
        self.assertEqual(len(got), 1)
        time.sleep(1.5)
        self.assertFalse([g for g in self.rx.got if g["headers"]["X-Yiqiban-Event"] ==
                          "request.sign"])
        # a ping goes whatever the filter
        r = self.c["admin"].post("%s/%d/test" % (HOOKS, h["id"]))
        self.assertEqual(r.status, 202, r)
        got = self.rx.wait(lambda g: g["headers"]["X-Yiqiban-Delivery"] ==
                           str(r.json["delivery_id"]))
        self.assertEqual(got[0]["headers"]["X-Yiqiban-Event"], "ping")
        self.c["admin"].delete("%s/%d" % (HOOKS, h["id"]))

    def test_failures_back_off_and_are_visible(self):
        h = self.hook(url="http://127.0.0.1:%d/nobody" % closed_port())
        r = self.c["admin"].post("%s/%d/test" % (HOOKS, h["id"]))
        self.assertEqual(r.status, 202, r)
        did = r.json["delivery_id"]
        t0 = now_ms()

        def attempts(n):
            d = [x for x in self.deliveries(h["id"]) if x["id"] == did][0]
            return d if d["attempts"] >= n else None

        d = self.until(lambda: attempts(1), what="first attempt")
        self.assertEqual(d["status"], "pending")
        self.assertTrue(d["last_error"], d)
        self.assertIsNone(d["last_status"])
        self.assertEqual(d["max_attempts"], 6)
        # the next attempt waits 30 s
        self.assertGreaterEqual(d["next_attempt_at"], t0 + 29000)
        self.assertLessEqual(d["next_attempt_at"], now_ms() + 31000)
        # time passes (as the database sees it): the remaining attempts, then failed
        for n in range(2, 7):
            self.write_db("UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE id = ?",
                          (did,))
            d = self.until(lambda: attempts(n), what="attempt %d" % n)
        self.assertEqual(d["status"], "failed")
        self.assertIsNone(d["next_attempt_at"])
        self.assertTrue(d["last_error"])
        hook = self.c["admin"].get("%s/%d" % (HOOKS, h["id"])).json
        self.assertEqual(hook["deliveries"]["failed"], 1)
        failed = self.deliveries(h["id"], "?status=failed")
        self.assertEqual([x["id"] for x in failed], [did])
        self.assertEqual(self.deliveries(h["id"], "?status=delivered"), [])
        r = self.c["admin"].get("%s/%d/deliveries?status=lost" % (HOOKS, h["id"]))
        self.assertEqual((r.status, r.error["field"]), (400, "status"))
        self.c["admin"].delete("%s/%d" % (HOOKS, h["id"]))

    # ---- the inbox and the loop ----

    def test_reply_tells_dispatchers_and_inbox_reads(self):
        rid = self.signed("回访提醒测试")
        self.act("handler", rid, "reply", {"public_note": "已为企业办理完毕"})
        notes = self.until(lambda: self.notes_about("dispatcher", rid, "visit_due"),
                           what="visit notice")
        self.assertEqual(len(notes), 1)
        n = notes[0]
        self.assertFalse(n["read"])
        self.assertIsNone(n["read_at"])
        self.assertIn("回访", n["title"])
        time.sleep(2.2)  # more ticks: still one
        self.assertEqual(len(self.notes_about("dispatcher", rid, "visit_due")), 1)
        unread = self.inbox("dispatcher", "?unread=1&limit=200")
        self.assertIn(n["id"], [x["id"] for x in unread["items"]])
        self.assertEqual(unread["unread"], len(unread["items"]))
        # nobody else can read it
        r = self.c["handler"].post("%s/%d/read" % (INBOX, n["id"]))
        self.assertEqual(r.status, 404, r)
        self.assertNotIn(n["id"], [x["id"] for x in self.inbox("handler", "?limit=200")["items"]])
        r = self.c["dispatcher"].post("%s/%d/read" % (INBOX, n["id"]))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["read"])
        self.assertIsNotNone(r.json["read_at"])
        after = self.inbox("dispatcher", "?unread=1&limit=200")
        self.assertNotIn(n["id"], [x["id"] for x in after["items"]])
        self.assertEqual(after["unread"], unread["unread"] - 1)
        r = self.c["dispatcher"].post(INBOX + "/read-all")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"marked": unread["unread"] - 1, "unread": 0})
        self.assertEqual(self.inbox("dispatcher", "?unread=1")["items"], [])
        # paging: newest first, keyset
        page = self.inbox("dispatcher", "?limit=1")
        if page["next"] is not None:
            nxt = self.inbox("dispatcher", "?limit=1&after=%d" % page["next"])
            self.assertLess(nxt["items"][0]["id"], page["items"][0]["id"])
        r = self.c["dispatcher"].get(INBOX + "?unread=yes")
        self.assertEqual((r.status, r.error["field"]), (400, "unread"))

    def test_overdue_request_is_escalated_once(self):
        rid = self.signed("超期督办测试")
        self.write_db("UPDATE requests SET handle_due_at = ? WHERE id = ?",
                      (now_ms() - 60000, rid))
        notes = self.until(lambda: self.notes_about("depthead", rid, "escalate_1"),
                           what="escalation")
        self.assertEqual(len(notes), 1)
        self.assertIn("督办", notes[0]["title"])
        req = self.c["dispatcher"].get("/api/v1/requests/%d" % rid).json
        self.assertEqual(req["supervision_level"], 1)
        tl = self.c["dispatcher"].get("/api/v1/requests/%d/timeline" % rid).json["items"]
        sup = [e for e in tl if e["action"] == "supervise"]
        self.assertEqual(len(sup), 1)
        self.assertEqual((sup[0]["actor_name"], sup[0]["actor_id"]), ("数字员工", 0))
        time.sleep(2.2)
        self.assertEqual(len(self.notes_about("depthead", rid, "escalate_1")), 1)
        self.assertEqual(self.notes_about("leader", rid, "escalate_1"), [])
        audit = self.srv.sql("SELECT actor_login, request_id FROM audit_log WHERE entity = "
                             "'request' AND entity_id = ? AND action = 'escalate_1'", (rid,))
        self.assertEqual(audit, [("digital-employee", "scheduler")])

    def test_nearly_due_request_reminds_the_handler(self):
        rid = self.signed("即将到期提醒测试")
        # dispatched ten days ago, due in an hour: far past 80 % of the limit
        self.write_db("UPDATE requests SET dispatched_at = ?, handle_due_at = ? WHERE id = ?",
                      (now_ms() - 10 * DAY_MS, now_ms() + 3600 * 1000, rid))
        notes = self.until(lambda: self.notes_about("handler", rid, "remind_handle"),
                           what="reminder")
        self.assertEqual(len(notes), 1)
        self.assertIn("到期", notes[0]["title"])
        self.assertEqual(self.notes_about("depthead", rid, "remind_handle"), [])

    # ---- daily reports ----

    def test_daily_report(self):
        today = (now_ms() + SHANGHAI_MS) // DAY_MS
        yesterday = time.strftime("%Y-%m-%d", time.gmtime((today - 1) * 86400))
        r = self.c["leader"].get("/api/v1/reports/daily")
        self.assertEqual(r.status, 200, r)
        rep = r.json
        self.assertEqual(rep["day"], yesterday)
        self.assertEqual(rep["scope"], "all")
        self.assertEqual(set(rep["totals"]),
                         {"received", "dispatched", "replied", "closed", "overdue"})
        self.assertIn("hash", rep["audit_head"])
        same = self.c["dispatcher"].get("/api/v1/reports/daily?day=" + yesterday)
        self.assertEqual(same.json, rep)
        # the independent count of what was received that day
        start = (today - 1) * DAY_MS - SHANGHAI_MS
        (n,), = self.srv.sql("SELECT COUNT(*) FROM requests WHERE received_at >= ? AND "
                             "received_at < ?", (start, start + DAY_MS))
        self.assertEqual(rep["totals"]["received"], n)
        # a department head sees the departments of the tree only
        mine = self.c["depthead"].get("/api/v1/reports/daily").json
        self.assertEqual(mine["scope"], "dept_tree")
        self.assertNotIn("audit_head", mine)
        paths = dict(self.srv.sql("SELECT id, path FROM departments"))
        amr = paths[self.dept["amr"]]
        for d in mine["by_department"]:
            self.assertTrue(d["department_path"].startswith(amr), d)
        self.assertEqual(mine["totals"]["dispatched"],
                         sum(d["dispatched"] for d in mine["by_department"]))
        # once a day: one row, one notice to each leader
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM daily_reports WHERE day = ?",
                                      (yesterday,)), [(1,)])
        leader_notes = [x for x in self.inbox("leader", "?limit=200")["items"]
                        if x["kind"] == "daily_report" and yesterday in x["title"]]
        self.assertEqual(len(leader_notes), 1)
        r = self.c["leader"].get("/api/v1/reports/daily?day=2000-01-01")
        self.assertEqual((r.status, r.error["field"]), (404, "day"))
        r = self.c["leader"].get("/api/v1/reports/daily?day=2025-02-30")
        self.assertEqual((r.status, r.error["field"]), (400, "day"))

    # ---- permissions and metrics ----

    def test_permissions(self):
        for who in ("leader", "dispatcher", "handler", "depthead", "enterprise"):
            self.assertEqual(self.c[who].get(HOOKS).status, 403, who)
            r = self.c[who].post(HOOKS, {"url": self.url})
            self.assertEqual(r.status, 403, who)
            self.assertIn("webhook.write", r.error["message"])
        for who in ("handler", "enterprise"):
            r = self.c[who].get("/api/v1/reports/daily")
            self.assertEqual(r.status, 403, who)
        self.assertEqual(self.srv.client().get(INBOX).status, 401)
        self.assertEqual(self.c["enterprise"].get(INBOX).status, 200)

    def test_metrics(self):
        text = self.srv.client().get("/metrics").raw
        self.assertIn('yiqiban_scheduler_acts_total{act="daily_report"}', text)
        ticks = [line for line in text.splitlines()
                 if line.startswith("yiqiban_scheduler_ticks_total ")]
        self.assertGreaterEqual(int(ticks[0].split()[1]), 1)


if __name__ == "__main__":
    unittest.main()
