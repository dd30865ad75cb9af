"""Test harness: start the real yiqiban server on a free loopback port with a
temporary database, and talk to it over HTTP.

    srv = Server.start()            # demo data: one user per role, password DEMO_PASSWORD
    c = srv.login("admin")          # Client with cookie + CSRF token
    st, body = c.get("/api/v1/me")
    srv.stop()                      # SIGTERM; fails if the server crashed or ASan complained

The binary comes from $YQ_BIN (default build/release/yiqiban).
"""
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, os.environ.get("YQ_BIN", "build/release/yiqiban"))
DEMO_PASSWORD = "Yiqiban@2026"
ROLES = ["admin", "leader", "dispatcher", "handler", "depthead", "gridworker", "inspector",
         "bank", "mediator", "supervisor", "observer", "advisor", "enterprise"]


def run_cli(*args, stdin=None, check=True):
    """Run the yiqiban binary; returns CompletedProcess with text output."""
    p = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("yiqiban %s failed (%d):\n%s%s" % (" ".join(args), p.returncode,
                                                                 p.stdout, p.stderr))
    return p


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def error(self):
        return (self.json or {}).get("error") or {}

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


class Client:
    """HTTP client on one keep-alive connection; keeps the session cookie and CSRF token."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None
        self.bearer = None
        self.conn = None

    def request(self, method, path, body=None, raw=None, headers=None, csrf=True):
        h = {"Connection": "keep-alive"}
        if self.cookie:
            h["Cookie"] = self.cookie
        if self.bearer:
            h["Authorization"] = "Bearer " + self.bearer
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        data = raw
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                payload = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        r = Response(resp.status, resp.getheaders(), payload.decode("utf-8", "replace"))
        sc = r.header("Set-Cookie")
        if sc:
            m = re.match(r"yq_session=([^;]*)", sc)
            if m:
                self.cookie = "yq_session=" + m.group(1) if m.group(1) else None
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class Server:
    def __init__(self):
        self.dir = None
        self.db = None
        self.proc = None
        self.port = None
        self.stderr_lines = []
        self.args = []

    @classmethod
    def start(cls, demo=True, args=(), db=None, tmpdir=None, enterprises=200):
        """A server on a demo database; the demo market is kept small for speed."""
        s = cls()
        s.dir = tmpdir or tempfile.mkdtemp(prefix="yqtest-")
        s.db = db or os.path.join(s.dir, "yiqiban.db")
        s.args = list(args)
        if demo and not os.path.exists(s.db):
            run_cli("demo", "--db", s.db, "--enterprises", str(enterprises))
        s.launch()
        return s

    def launch(self):
        self.stderr_lines = []
        # The digital employee writes on its own clock; tests that want it pass
        # --scheduler-interval (so background acts never disturb the others).
        sched = [] if any(a.startswith("--scheduler") for a in self.args) else ["--no-scheduler"]
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0", "--access-log",
             os.path.join(self.dir, "access.log"), *sched, *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.stderr_lines.append(line)
                m = re.search(r"\(port (\d+),", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(60) or self.port is None:
            self.proc.kill()
            raise AssertionError("server did not start:\n" + "".join(self.stderr_lines))

    def client(self):
        return Client(self.port)

    def login(self, login, password=DEMO_PASSWORD, bearer=False):
        c = self.client()
        body = {"login": login, "password": password}
        if bearer:
            body["bearer"] = True
        r = c.post("/api/v1/auth/login", body)
        if r.status != 200:
            raise AssertionError("login %s failed: %r" % (login, r))
        if bearer:
            c.cookie = None
            c.bearer = r.json["token"]
        else:
            c.csrf = r.json["csrf_token"]
        return c

    def sql(self, query, params=()):
        """Read the database directly (a separate read-only connection)."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def counts(self):
        """Row counts of every table: compared before and after a refused request."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            names = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            return {n: con.execute('SELECT COUNT(*) FROM "%s"' % n).fetchone()[0] for n in names}
        finally:
            con.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self, cleanup=True):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("server did not stop on SIGTERM")
            time.sleep(0.05)
            self.proc = None
            errs = "".join(self.stderr_lines)
            if rc != 0 or "Sanitizer" in errs or "runtime error" in errs:
                raise AssertionError("server exited %d:\n%s" % (rc, errs))
        if cleanup and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
