"""Durability: kill -9 the server under write load; every acknowledged write survives.

8 threads, each with its own admin session, create departments as fast as they can.
A 201 reply is an acknowledgement: the batch is COMMITted and its log flushed to disk.
After ~1.5 s the server gets SIGKILL while requests are in flight. Then, on the
files left behind: every acknowledged department is there, nothing that was never
sent is there, every department has its audit row, PRAGMA integrity_check is ok,
`yiqiban audit verify` passes, and the restarted server serves the departments.
Three kill cycles on the same database.
"""
import http.client
import sqlite3
import threading
import time
import unittest

from harness import Server, run_cli

THREADS = 8
LOAD_SECONDS = 1.5
CYCLES = 3


class Loader:
    """THREADS clients creating departments until the server goes away."""

    def __init__(self, srv, cycle):
        self.srv = srv
        self.cycle = cycle
        self.lock = threading.Lock()
        self.acked = set()      # codes answered 201
        self.sent = set()       # every code a request was started for
        self.failures = []      # unexpected replies while the server was alive
        self.killed = threading.Event()
        self.clients = [srv.login("admin") for _ in range(THREADS)]
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def run(self, t):
        c = self.clients[t]
        n = 0
        while True:
            code = "k%d-t%d-%d" % (self.cycle, t, n)
            n += 1
            with self.lock:
                self.sent.add(code)
            try:
                r = c.post("/api/v1/departments", {"code": code, "name": "压测部门 %s" % code})
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this write is unacknowledged
            if r.status == 201 and r.json and r.json.get("code") == code:
                with self.lock:
                    self.acked.add(code)
            elif not self.killed.is_set():
                with self.lock:
                    self.failures.append((code, r.status, r.raw[:300]))
                return

    def join(self):
        for t in self.threads:
            t.join(60)
            if t.is_alive():
                raise AssertionError("load thread still running after the kill")
        for c in self.clients:
            c.close()


class Crash(unittest.TestCase):
    def test_kill9_under_load(self):
        srv = Server.start()
        try:
            all_acked = set()
            for cycle in range(1, CYCLES + 1):
                all_acked |= self.one_cycle(srv, cycle, all_acked)
            srv.stop(cleanup=False)
            # a clean stop after all that: the database is still sound
            self.check_files(srv, all_acked, set(), "after final stop")
        finally:
            if srv.proc:
                srv.kill9()
            srv.stop()

    def one_cycle(self, srv, cycle, earlier):
        load = Loader(srv, cycle)
        t0 = time.monotonic()
        load.start()
        time.sleep(LOAD_SECONDS)
        with load.lock:
            in_flight_from = len(load.sent) - len(load.acked)
        load.killed.set()
        srv.kill9()
        elapsed = time.monotonic() - t0
        load.join()
        self.assertEqual(load.failures, [], "unexpected replies under load")
        acked, sent = set(load.acked), set(load.sent)
        self.assertGreater(len(acked), 20, "too little load to test anything")
        self.assertGreater(in_flight_from, 0, "no request was in flight at the kill")

        # odd cycles: look with sqlite3 first (it recovers the WAL); even cycles: let
        # `yiqiban audit verify` open the crashed files read-only before anything else
        present = self.check_files(srv, acked | earlier, sent, "cycle %d" % cycle,
                                   verify_first=cycle % 2 == 0)

        # the restarted server sees every acknowledged department
        srv.launch()
        h = srv.client().get("/healthz")
        self.assertEqual(h.status, 200, h)
        admin = srv.login("admin")
        r = admin.get("/api/v1/departments")
        self.assertEqual(r.status, 200, r)
        listed = {d["code"] for d in r.json["items"]}
        self.assertEqual((acked | earlier) - listed, set(), "acknowledged but not served")
        # and takes writes again, chaining the audit log after the crash
        r = admin.post("/api/v1/departments", {"code": "after-kill-%d" % cycle, "name": "恢复"})
        self.assertEqual(r.status, 201, r)
        v = admin.get("/api/v1/audit/verify")
        self.assertEqual(v.status, 200, v)
        self.assertTrue(v.json["ok"], v.json)
        admin.close()
        print("\ncycle %d: %d acknowledged writes checked (%.0f writes/s over %.2f s), "
              "%d sent, %d unacknowledged of which %d were stored"
              % (cycle, len(acked), len(acked) / elapsed, elapsed, len(sent),
                 len(sent - acked), len((sent - acked) & present)))
        return acked | {"after-kill-%d" % cycle}

    def check_files(self, srv, must_have, may_have, what, verify_first=False):
        """Check the database left on disk; returns the codes of this cycle stored."""
        if verify_first:
            self.audit_verify(srv, what)
        con = sqlite3.connect(srv.db, timeout=30)
        try:
            ic = con.execute("PRAGMA integrity_check").fetchall()
            self.assertEqual(ic, [("ok",)], "%s: integrity_check" % what)
            codes = {r[0] for r in con.execute("SELECT code FROM departments")}
            missing = must_have - codes
            self.assertEqual(missing, set(), "%s: %d acknowledged departments lost"
                             % (what, len(missing)))
            if may_have:
                cycle_prefix = next(iter(may_have)).split("-")[0] + "-"
                stored = {c for c in codes if c.startswith(cycle_prefix)}
                self.assertEqual(stored - may_have, set(), "%s: never-sent departments" % what)
            else:
                stored = set()
            ids = {r[0] for r in con.execute("SELECT id FROM departments")}
            audited = {r[0] for r in con.execute(
                "SELECT entity_id FROM audit_log WHERE entity = 'department' AND action = 'create'")}
            self.assertEqual(ids - audited, set(), "%s: departments without their audit row" % what)
            seqs = con.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM audit_log "
                               "WHERE tenant_id = 1").fetchone()
            self.assertEqual(seqs[0], seqs[2] - seqs[1] + 1, "%s: audit seq gap" % what)
        finally:
            con.close()
        self.audit_verify(srv, what)
        return stored

    def audit_verify(self, srv, what):
        p = run_cli("audit", "verify", "--db", srv.db, check=False)
        self.assertEqual(p.returncode, 0, "%s: audit verify: %s%s" % (what, p.stdout, p.stderr))
        self.assertIn("intact", p.stdout)


if __name__ == "__main__":
    unittest.main()
