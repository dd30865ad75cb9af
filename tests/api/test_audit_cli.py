"""The command line: audit verify (intact, changed row, missing row, and the same
through the API), version/help, init, user add/list/passwd/disable/enable, serve on
a missing database, backup under write load, migrate."""
import hashlib
import http.client
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import unittest

from harness import BIN, DEMO_PASSWORD, Server, run_cli


def copy_db(src, dst):
    """A consistent copy of an SQLite database (WAL content included)."""
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def login_status(srv, login, password):
    r = srv.client().post("/api/v1/auth/login", {"login": login, "password": password})
    return r


class AuditVerify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="yqaudit-")
        cls.demo = os.path.join(cls.tmp, "demo.db")
        run_cli("demo", "--db", cls.demo, "--enterprises", "50")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fresh(self, name):
        d = tempfile.mkdtemp(prefix="yq-" + name + "-", dir=self.tmp)
        db = os.path.join(d, "yiqiban.db")
        copy_db(self.demo, db)
        return d, db

    def tamper(self, db, sql):
        con = sqlite3.connect(db)
        try:
            cur = con.execute(sql)
            self.assertEqual(cur.rowcount, 1, sql)
            con.commit()
        finally:
            con.close()

    def test_fresh_demo_intact(self):
        p = run_cli("audit", "verify", "--db", self.demo, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("intact", p.stdout)
        rows = int(re.search(r"(\d+) rows", p.stdout).group(1))
        n = sqlite3.connect(self.demo).execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
        self.assertEqual(rows, n)
        self.assertGreater(rows, 10)

    def test_missing_db(self):
        p = run_cli("audit", "verify", "--db", os.path.join(self.tmp, "nope.db"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not exist", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "nope.db")))

    def check_broken(self, d, db, seq, words):
        p = run_cli("audit", "verify", "--db", db, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("seq %d" % seq, p.stdout)
        self.assertIn("BROKEN", p.stdout)
        self.assertIn(words, p.stdout)
        srv = Server.start(db=db, tmpdir=d)
        try:
            admin = srv.login("admin")
            r = admin.get("/api/v1/audit/verify")
            self.assertEqual(r.status, 200, r)
            self.assertIs(r.json["ok"], False, r.json)
            self.assertEqual(r.json["problem"]["seq"], seq, r.json)
            self.assertEqual(r.json["problem"]["tenant_id"], 1)
        finally:
            srv.stop(cleanup=False)

    def test_changed_row(self):
        d, db = self.fresh("changed")
        # with a server that ran and stopped, as in real life
        Server.start(db=db, tmpdir=d).stop(cleanup=False)
        self.tamper(db, "UPDATE audit_log SET summary = '{\"forged\":true}' WHERE seq = 5")
        self.check_broken(d, db, 5, "changed")

    def test_changed_row_other_column(self):
        d, db = self.fresh("actor")
        self.tamper(db, "UPDATE audit_log SET actor_login = 'mallory' WHERE seq = 7")
        self.check_broken(d, db, 7, "changed")

    def test_deleted_middle_row(self):
        d, db = self.fresh("deleted")
        n = sqlite3.connect(db).execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
        mid = n // 2
        self.tamper(db, "DELETE FROM audit_log WHERE seq = %d" % mid)
        self.check_broken(d, db, mid, "missing")

    def test_deleted_first_row(self):
        d, db = self.fresh("first")
        self.tamper(db, "DELETE FROM audit_log WHERE seq = 1")
        p = run_cli("audit", "verify", "--db", db, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("seq 1", p.stdout)

    def test_changed_hash_column(self):
        d, db = self.fresh("hash")
        self.tamper(db, "UPDATE audit_log SET hash = CASE WHEN substr(hash, 1, 1) = '0' "
                        "THEN '1' ELSE '0' END || substr(hash, 2) WHERE seq = 3")
        p = run_cli("audit", "verify", "--db", db, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("seq 3", p.stdout)

    def test_forged_row_with_recomputed_hash(self):
        # a forger who recomputes the changed row's own hash (the rule is public)
        # still breaks the link to the next row: verify names seq 6
        d, db = self.fresh("forged")
        con = sqlite3.connect(db)
        cols = ("tenant_id, seq, at, actor_id, actor_login, entity, entity_id, action, "
                "summary, request_id, prev_hash")
        row = con.execute("SELECT %s FROM audit_log WHERE seq = 5" % cols).fetchone()
        t, seq, at, actor, login, entity, eid, action, summary, reqid, prev = row
        summary = '{"forged":true}'
        h = hashlib.sha256(("%s|%d|%d|%d|%d|%s|%s|%d|%s|%s|%s" % (
            prev, t, seq, at, actor, login, entity, eid, action, summary, reqid)).encode()
        ).hexdigest()
        # sanity: the same computation reproduces the stored hash of an untouched row
        row4 = con.execute("SELECT %s, hash FROM audit_log WHERE seq = 4" % cols).fetchone()
        h4 = hashlib.sha256(("%s|%d|%d|%d|%d|%s|%s|%d|%s|%s|%s" % (
            row4[10], row4[0], row4[1], row4[2], row4[3], row4[4], row4[5], row4[6], row4[7],
            row4[8], row4[9])).encode()).hexdigest()
        self.assertEqual(h4, row4[11], "hash rule of audit.h not reproduced")
        con.execute("UPDATE audit_log SET summary = ?, hash = ? WHERE seq = 5", (summary, h))
        con.commit()
        con.close()
        p = run_cli("audit", "verify", "--db", db, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("seq 6", p.stdout)
        self.assertIn("prev_hash", p.stdout)


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="yqcli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_version(self):
        p = run_cli("version")
        self.assertRegex(p.stdout, r"^yiqiban \d+\.\d+\.\d+ \(schema \d+\)\n$")
        self.assertEqual(run_cli("--version").stdout, p.stdout)

    def test_help(self):
        p = run_cli("--help")
        self.assertIn("Usage:", p.stdout)
        for cmd in ("serve", "init", "migrate", "user add", "audit verify", "backup", "demo",
                    "routes", "version"):
            self.assertIn("yiqiban " + cmd, p.stdout)
        bare = run_cli(check=False)
        self.assertEqual(bare.returncode, 2)
        self.assertIn("Usage:", bare.stderr)

    def test_help_serve_man_page(self):
        p = run_cli("help", "serve")
        lines = p.stdout.splitlines()
        for sec in ("NAME", "SYNOPSIS", "DESCRIPTION"):
            self.assertIn(sec, lines, p.stdout)
        self.assertLess(lines.index("NAME"), lines.index("SYNOPSIS"))
        self.assertLess(lines.index("SYNOPSIS"), lines.index("DESCRIPTION"))
        self.assertEqual(lines[lines.index("NAME") + 1].strip(), "yiqiban serve")
        self.assertIn("--listen", p.stdout)
        self.assertIn("--max-body", p.stdout)  # the option exists: it must be documented
        self.assertEqual(run_cli("serve", "--help").stdout, p.stdout)
        for cmd in ("init", "user", "audit", "backup", "migrate"):
            self.assertIn("DESCRIPTION", run_cli("help", cmd).stdout)

    def test_unknown_command(self):
        p = run_cli("frobnicate", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("frobnicate", p.stderr)
        p = run_cli("help", "frobnicate", check=False)
        self.assertEqual(p.returncode, 2)
        p = run_cli("user", "frobnicate", "--db", self.path("x.db"), check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_init_one_time_password(self):
        db = self.path("new.db")
        p = run_cli("init", "--db", db)
        m = re.search(r"^password:\s+(\S+)", p.stdout, re.M)
        self.assertTrue(m, p.stdout)
        otp = m.group(1)
        self.assertIn("admin", p.stdout)
        srv = Server.start(demo=False, db=db, tmpdir=self.tmp)
        try:
            self.assertEqual(login_status(srv, "admin", "wrong" + otp).status, 401)
            c = srv.login("admin", otp)
            r = c.get("/api/v1/me")
            self.assertEqual(r.status, 200, r)
            self.assertIs(r.json["must_change_password"], True)
            self.assertIn("admin", r.json["roles"])
        finally:
            srv.stop(cleanup=False)
        before = os.path.getsize(db)
        p = run_cli("init", "--db", db, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already initialised", p.stderr)
        self.assertNotIn("password:", p.stdout)
        self.assertEqual(os.path.getsize(db), before)
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT COUNT(*) FROM users").fetchone()[0], 1)
        self.assertEqual(con.execute("SELECT COUNT(*) FROM tenants").fetchone()[0], 1)
        con.close()
        self.assertEqual(run_cli("audit", "verify", "--db", db).returncode, 0)

    def test_migrate_up_to_date(self):
        db = self.path("m.db")
        run_cli("init", "--db", db)
        p = run_cli("migrate", "--db", db)
        self.assertRegex(p.stdout, r"applied 0 migration")
        p = run_cli("migrate", "--db", self.path("absent.db"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(self.path("absent.db")))

    def test_bad_arguments_and_files(self):
        db = self.path("ok.db")
        run_cli("init", "--db", db)
        missing = self.path("missing.db")
        for args, rc in ((["serve", "--db", db, "--max-body", "0"], 2),
                         (["serve", "--db", db, "--threads", "abc"], 2),
                         (["serve", "--db", db, "extra"], 2),
                         (["serve", "--db", db, "--no-such-option"], 2),
                         (["audit"], 2), (["audit", "verify", "--db", db, "extra"], 2),
                         (["user"], 2), (["user", "add", "--db", db], 2),
                         (["user", "add", "x1", "--db", db], 2),   # --name is required
                         (["backup", "--db", db], 2),
                         (["user", "list", "--db", missing], 1),
                         (["backup", "--db", missing, self.path("b1.db")], 1),
                         (["backup", "--db", db, self.path("no/such/dir/b.db")], 1)):
            p = run_cli(*args, check=False)
            self.assertEqual(p.returncode, rc, "%s: %s%s" % (args, p.stdout, p.stderr))
            self.assertTrue(p.stderr.strip(), "%s: no message" % args)
        self.assertFalse(os.path.exists(missing))
        self.assertFalse(os.path.exists(self.path("b1.db")))
        garbage = self.path("garbage.db")
        with open(garbage, "w") as f:
            f.write("this is not a database\n" * 100)
        for args in (["audit", "verify", "--db", garbage], ["user", "list", "--db", garbage],
                     ["backup", "--db", garbage, self.path("b2.db")]):
            p = run_cli(*args, check=False)
            self.assertEqual(p.returncode, 1, "%s: %s%s" % (args, p.stdout, p.stderr))
            self.assertIn("not a database", p.stderr)

    def test_serve_missing_db(self):
        db = self.path("missing.db")
        p = subprocess_run([BIN, "serve", "--db", db, "--listen", "127.0.0.1:0",
                            "--access-log", "off"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("init", p.stderr)
        self.assertIn("does not exist", p.stderr)
        self.assertFalse(os.path.exists(db), "serve created the database")

    def test_serve_uninitialised_db(self):
        db = self.path("empty.db")
        open(db, "w").close()
        p = subprocess_run([BIN, "serve", "--db", db, "--listen", "127.0.0.1:0",
                            "--access-log", "off"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("run 'yiqiban init'", p.stderr)


def subprocess_run(args):
    import subprocess
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


class UserCli(unittest.TestCase):
    """user add/list/passwd/disable/enable on a demo DB while the server runs."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.db = cls.srv.db

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def user(self, *args, stdin=None, check=True):
        return run_cli("user", *args, "--db", self.db, stdin=stdin, check=check)

    def test_add_and_list(self):
        p = self.user("add", "zhangsan", "--name", "张三", "--role", "dispatcher,handler",
                      "--dept", "amr")
        self.assertIn("created user zhangsan", p.stdout)
        otp = re.search(r"one-time password: (\S+)", p.stdout).group(1)
        lines = [l for l in self.user("list").stdout.splitlines() if " zhangsan " in l]
        self.assertEqual(len(lines), 1)
        self.assertIn("dispatcher,handler", lines[0])
        self.assertIn("张三", lines[0])
        self.assertIn("市场监督管理局", lines[0])
        # the server sees it, with a password that must be changed
        c = self.srv.login("zhangsan", otp)
        me = c.get("/api/v1/me").json
        self.assertEqual(sorted(me["roles"]), ["dispatcher", "handler"])
        self.assertIs(me["must_change_password"], True)
        # the same login again, an unknown role, an unknown department: refused
        self.assertEqual(self.user("add", "zhangsan", "--name", "X", check=False).returncode, 1)
        p = self.user("add", "lisi", "--name", "X", "--role", "wizard", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("wizard", p.stderr)
        p = self.user("add", "lisi", "--name", "X", "--dept", "nodept", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nodept", p.stderr)
        self.assertNotIn(" lisi ", self.user("list").stdout)
        p = run_cli("audit", "verify", "--db", self.db)
        self.assertIn("intact", p.stdout)

    def test_passwd(self):
        self.user("add", "wangwu", "--name", "王五", "--role", "handler", "--password-stdin",
                  stdin="First#Pass2026\n")
        old = self.srv.login("wangwu", "First#Pass2026")
        self.assertEqual(old.get("/api/v1/me").status, 200)
        other = self.srv.login("handler")
        for weak, words in (("short1A", "8 characters"), ("alllowercase", "three of"),
                            ("", "8 characters")):
            p = self.user("passwd", "wangwu", "--password-stdin", stdin=weak + "\n", check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("password", p.stderr)
            self.assertIn(words, p.stderr)
        # refused: nothing changed, the old session still works
        self.assertEqual(old.get("/api/v1/me").status, 200)
        self.assertEqual(login_status(self.srv, "wangwu", "First#Pass2026").status, 200)
        p = self.user("passwd", "wangwu", "--password-stdin", stdin="Second#Pass2026\n")
        self.assertIn("changed", p.stdout)
        r = old.get("/api/v1/me")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(login_status(self.srv, "wangwu", "First#Pass2026").status, 401)
        new = self.srv.login("wangwu", "Second#Pass2026")
        me = new.get("/api/v1/me").json
        self.assertIs(me["must_change_password"], False)
        # other users' sessions are untouched
        self.assertEqual(other.get("/api/v1/me").status, 200)
        p = self.user("passwd", "nobody-here", "--password-stdin", stdin="Second#Pass2026\n",
                      check=False)
        self.assertEqual(p.returncode, 1)

    def test_disable_enable(self):
        self.user("add", "zhaoliu", "--name", "赵六", "--password-stdin",
                  stdin="Zhao#Liu2026\n")
        s = self.srv.login("zhaoliu", "Zhao#Liu2026")
        p = self.user("disable", "zhaoliu")
        self.assertIn("disabled", p.stdout)
        r = login_status(self.srv, "zhaoliu", "Zhao#Liu2026")
        self.assertEqual(r.status, 401, r)
        self.assertNotIn("csrf_token", r.raw)
        self.assertEqual(s.get("/api/v1/me").status, 401, "session of a disabled user")
        p = self.user("enable", "zhaoliu")
        self.assertIn("enabled", p.stdout)
        self.assertEqual(self.srv.login("zhaoliu", "Zhao#Liu2026").get("/api/v1/me").status, 200)


class Backup(unittest.TestCase):
    def test_backup_under_write_load(self):
        srv = Server.start()
        stop = threading.Event()
        acked = []           # (time acknowledged, code)
        errors = []
        lock = threading.Lock()

        def load():
            c = srv.login("admin")
            i = 0
            while not stop.is_set():
                code = "bk-%d" % i
                i += 1
                try:
                    r = c.post("/api/v1/departments", {"code": code, "name": "备份中 %d" % i})
                except (OSError, http.client.HTTPException) as e:
                    errors.append(repr(e))
                    return
                if r.status != 201:
                    errors.append(repr(r))
                    return
                with lock:
                    acked.append(code)
            c.close()

        t = threading.Thread(target=load, daemon=True)
        try:
            t.start()
            # wait for the load to be under way (a loaded machine may take a while to log in)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not errors:
                with lock:
                    if len(acked) > 5:
                        break
                time.sleep(0.05)
            with lock:
                before = set(acked)
            dest = os.path.join(srv.dir, "backup.db")
            p = run_cli("backup", "--db", srv.db, dest, check=False)
            deadline = time.monotonic() + 60  # and for writes after the backup began
            while time.monotonic() < deadline and not errors:
                with lock:
                    if len(acked) > len(before) + 5:
                        break
                time.sleep(0.05)
            stop.set()
            t.join(30)
            self.assertEqual(errors, [])
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("integrity ok", p.stdout)
            self.assertFalse(os.path.exists(dest + "-wal") or os.path.exists(dest + "-shm"),
                             "backup left -wal/-shm files beside the copy")
            self.assertGreater(len(before), 5, "no write load before the backup")
            self.assertGreater(len(acked), len(before), "no writes during the backup")
            con = sqlite3.connect("file:%s?mode=ro" % dest, uri=True)
            try:
                self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
                codes = {r[0] for r in con.execute("SELECT code FROM departments")}
            finally:
                con.close()
            self.assertEqual(before - codes, set(), "acknowledged before the backup, not in it")
            self.assertTrue({c for c in codes if c.startswith("bk-")} <= set(acked))
            v = run_cli("audit", "verify", "--db", dest, check=False)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            # never overwrite
            size = os.path.getsize(dest)
            p = run_cli("backup", "--db", srv.db, dest, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("already exists", p.stderr)
            self.assertEqual(os.path.getsize(dest), size)
            # the copy is a working database
            copy = Server.start(db=dest, tmpdir=tempfile.mkdtemp(prefix="yqcopy-"))
            try:
                r = copy.login("admin").get("/api/v1/departments")
                self.assertEqual(r.status, 200)
                self.assertTrue(before <= {d["code"] for d in r.json["items"]})
            finally:
                copy.stop()
            print("\nbackup: %d departments acknowledged before it started, %d in all"
                  % (len(before), len(acked)))
        finally:
            stop.set()
            t.join(30)
            srv.stop()


if __name__ == "__main__":
    unittest.main()
