"""yiqiban gen: a deterministic data set — its sizes, the rate counters equal to a recount
(`stats check`), the stats endpoint equal to a GROUP BY over the requests, the same data from
the same seed, requests at every stage of the loop, and the server working on it."""
import os
import shutil
import sqlite3
import tempfile
import unittest

from harness import Server, run_cli

UNTIL = "2026-06-01"  # a fixed end: the same seed and sizes then give the same rows
N_ENT, N_REQ = 300, 8000  # enough keys to flush the counters several times in one transaction

# The counters of the three rates, as GROUP BY over the requests (the definitions of
# sql/012_request_stats.sql), by department, for requests received in a period.
GROUP_BY = """
SELECT COALESCE(department_id, 0),
       COUNT(*),
       SUM(state NOT IN ('merged', 'voided') AND department_id IS NOT NULL),
       SUM(state NOT IN ('merged', 'voided') AND department_id IS NOT NULL AND signed_at > 0),
       SUM(state NOT IN ('merged', 'voided') AND department_id IS NOT NULL AND replied_at > 0),
       SUM(state = 'closed'),
       SUM(state = 'closed' AND rating IN ('satisfied', 'basic', 'unsatisfied')),
       SUM(state = 'closed' AND rating IN ('satisfied', 'basic', 'unsatisfied')
           AND rating_solved = 1),
       SUM(state = 'closed' AND rating = 'satisfied')
FROM requests
WHERE (received_at + 28800000) / 86400000 BETWEEN
      julianday(?) - 2440587.5 AND julianday(?) - 2440587.5
GROUP BY 1"""
COUNTERS = ["received", "dispatched", "responded", "replied", "closed", "rated", "solved",
            "satisfied"]


def gen(db, *extra, check=True, split="1"):
    """split "1": the request rows on a second connection (a side file moved in at the end),
    "0": all on one connection — gen picks by the machine's load unless told."""
    os.environ["YQ_GEN_SPLIT"] = split
    try:
        return run_cli("gen", "--db", db, "--enterprises", str(N_ENT), "--requests",
                       str(N_REQ), "--until", UNTIL, *extra, check=check)
    finally:
        os.environ.pop("YQ_GEN_SPLIT", None)


class Gen(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="yqgen-")
        cls.db = os.path.join(cls.tmp, "gen.db")
        cls.out = gen(cls.db).stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def q(self, sql, *args, db=None):
        con = sqlite3.connect("file:%s?mode=ro" % (db or self.db), uri=True)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def test_sizes_and_report(self):
        ents = self.q("SELECT COUNT(*) FROM enterprises")[0][0]
        # a generated credit code may repeat by chance and is skipped
        self.assertGreater(ents, N_ENT * 0.99)
        self.assertLessEqual(ents, N_ENT)
        self.assertEqual(self.q("SELECT COUNT(*) FROM requests")[0][0], N_REQ)
        events = self.q("SELECT COUNT(*) FROM request_events")[0][0]
        self.assertGreater(events, 4 * N_REQ)  # submit, dispatch, sign, start, reply, rate ...
        self.assertIn("%d requests with %d events" % (N_REQ, events), self.out)
        self.assertIn("rows/s", self.out)
        # every request has its submit event first, and every event its request
        self.assertEqual(self.q("SELECT COUNT(*) FROM requests r WHERE NOT EXISTS (SELECT 1 "
                                "FROM request_events e WHERE e.tenant_id = r.tenant_id AND "
                                "e.request_id = r.id AND e.action = 'submit')")[0][0], 0)
        self.assertEqual(self.q("SELECT COUNT(*) FROM request_events e WHERE NOT EXISTS "
                                "(SELECT 1 FROM requests r WHERE r.id = e.request_id)")[0][0], 0)
        # the indexes set aside during the load are back
        self.assertEqual(self.q("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                                "name IN ('requests_state', 'requests_enterprise', "
                                "'request_events_request', 'enterprises_name')")[0][0], 4)
        self.assertEqual(self.q("PRAGMA integrity_check")[0][0], "ok")
        # a WAL database again, and the side file gone
        self.assertEqual(self.q("PRAGMA journal_mode")[0][0], "wal")
        self.assertFalse(os.path.exists(self.db + "-gen-requests"))

    def test_counters_equal_a_recount(self):
        p = run_cli("stats", "check", "--db", self.db, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("match a recount", p.stdout)

    def test_realistic_mix(self):
        states = dict(self.q("SELECT state, COUNT(*) FROM requests GROUP BY state"))
        # the old ones are closed; the recent ones wait at every stage of the loop
        self.assertGreater(states.get("closed", 0), N_REQ * 0.7)
        for s in ("received", "dispatched", "in_progress", "replied", "merged", "voided"):
            self.assertGreater(states.get(s, 0), 0, (s, states))
        # over the years asked for, mostly on working days in office hours
        lo, hi = self.q("SELECT MIN(received_at), MAX(received_at) FROM requests")[0]
        self.assertGreater(hi - lo, 700 * 86400000)
        self.assertLess(hi, self.q("SELECT (julianday(?) - 2440587.5) * 86400000 - 28800000",
                                   UNTIL)[0][0])
        office = self.q("SELECT AVG(((received_at + 28800000) % 86400000) / 3600000 BETWEEN 8 "
                        "AND 17) FROM requests")[0][0]
        self.assertGreater(office, 0.7)
        depts = self.q("SELECT COUNT(DISTINCT department_id) FROM requests")[0][0]
        cats = self.q("SELECT COUNT(DISTINCT category_id) FROM requests")[0][0]
        self.assertGreater(depts, 10)
        self.assertGreater(cats, 20)
        sat = self.q("SELECT AVG(rating = 'satisfied') FROM requests WHERE rating IN "
                     "('satisfied', 'basic', 'unsatisfied')")[0][0]
        self.assertTrue(0.7 < sat < 0.95, sat)
        self.assertGreater(self.q("SELECT COUNT(*) FROM request_applications WHERE kind = "
                                  "'extension' AND status = 'approved'")[0][0], 0)
        self.assertGreater(self.q("SELECT COUNT(*) FROM requests WHERE reopen_count > 0")[0][0], 0)

    def test_same_seed_same_data(self):
        db2 = os.path.join(self.tmp, "again.db")
        gen(db2, split="0")  # and on one connection: the same rows
        sums = ("SELECT COUNT(*), SUM(id * received_at % 1000003), SUM(length(content)), "
                "SUM(handle_due_at % 1000003), group_concat(state, '') FROM "
                "(SELECT * FROM requests ORDER BY id)")
        self.assertEqual(self.q(sums), self.q(sums, db=db2))
        for sql in ("SELECT COUNT(*), SUM(id * at % 1000003), SUM(request_id * length(data)), "
                    "SUM(length(public_note || internal_note || actor_name)) FROM request_events",
                    "SELECT COUNT(*), SUM(request_id * applied_at % 1000003) FROM "
                    "request_applications",
                    "SELECT COUNT(*), SUM(day * received + closed * 7 + satisfied) FROM "
                    "request_stats",
                    "SELECT COUNT(*), SUM(due_day * open_count) FROM request_stats_open"):
            self.assertEqual(self.q(sql), self.q(sql, db=db2), sql)
        ents = ("SELECT group_concat(credit_code || name, ',') FROM "
                "(SELECT * FROM enterprises ORDER BY id)")
        self.assertEqual(self.q(ents), self.q(ents, db=db2))
        db3 = os.path.join(self.tmp, "other.db")
        gen(db3, "--seed", "7")
        self.assertNotEqual(self.q(ents), self.q(ents, db=db3))

    def test_refusals(self):
        p = gen(self.db, check=False)  # not into a database with data
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already has", p.stderr)
        p = gen(os.path.join(self.tmp, "g.db"), "--grids", "10", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("grid", p.stderr)
        p = run_cli("gen", "--db", os.path.join(self.tmp, "x.db"), "--years", "0", check=False)
        self.assertEqual(p.returncode, 2)

    def test_server_on_it(self):
        # the stats endpoint gives what a GROUP BY over the requests gives
        d = tempfile.mkdtemp(dir=self.tmp)
        db = os.path.join(d, "copy.db")  # the other tests read the generated rows only
        shutil.copy(self.db, db)
        srv = Server.start(demo=False, db=db, tmpdir=d)
        try:
            leader = srv.login("leader")
            frm, to = "2025-06-01", "2026-05-31"
            r = leader.get("/api/v1/stats/rates?by=department&from=%s&to=%s" % (frm, to))
            self.assertEqual(r.status, 200, r)
            api = {(it["id"] or 0): [it["counts"][c] for c in COUNTERS] for it in r.json["items"]}
            rows = self.q(GROUP_BY, frm, to, db=db)
            want = {row[0]: [int(x) for x in row[1:]] for row in rows}
            self.assertEqual(api, want)
            self.assertGreater(sum(v[0] for v in want.values()), N_REQ * 0.4)
            # a request and the enterprise's own list
            c = srv.login("enterprise")
            r = c.get("/api/v1/requests?limit=5")
            self.assertEqual(r.status, 200, r)
            d = srv.login("dispatcher").get("/api/v1/requests/%d" % N_REQ)
            self.assertEqual(d.status, 200, d)
            self.assertEqual(d.json["id"], N_REQ)
            # and it takes new requests
            r = c.post("/api/v1/requests", {"type": "help", "content": "生成数据上的新诉求"})
            self.assertEqual(r.status, 201, r)
        finally:
            srv.stop(cleanup=False)


if __name__ == "__main__":
    unittest.main()
