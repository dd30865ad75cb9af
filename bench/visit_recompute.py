#!/usr/bin/env python3
"""How long a visit-policy change or a campaign over every enterprise holds the writer.

    bench/visit_recompute.py --bin build/release/yiqiban --db big.db [--probes 2] [--idle 60]
                             [--set visits.recompute_pause_ms=20] [--only campaign]

Starts `yiqiban serve` on DB (a copy you can spoil: the policies and campaigns it creates
stay), and while enterprises keep submitting requests (--probes clients, one POST
/api/v1/requests at a time each) it creates a policy over every enterprise, changes it,
deletes it, and creates a campaign over every active enterprise. For each it prints how
long the write itself took to answer, how long until the visit states were all recomputed
(when the server recomputes in the background), and the slowest and the median request
submitted meanwhile (--idle: first, the requests alone). The database needs a visit_state row per enterprise (`yiqiban gen`
does not write them: see docs/benchmarks.md).
"""
import argparse
import json
import re
import subprocess
import threading
import time
import urllib.request

PASSWORD = "Yiqiban@2026"


def http(port, method, path, body=None, token=None, timeout=300):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def login(port, who):
    st, j = http(port, "POST", "/api/v1/auth/login",
                 {"login": who, "password": PASSWORD, "bearer": True})
    if st != 200:
        raise SystemExit("login %s: %s %s" % (who, st, j))
    return j["token"]


class Probe(threading.Thread):
    """One enterprise client submitting requests back to back; (start, seconds) each."""

    def __init__(self, port, token, stop):
        super().__init__(daemon=True)
        self.port, self.token, self.stop, self.samples = port, token, stop, []

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            t0 = time.monotonic()
            st, _ = http(self.port, "POST", "/api/v1/requests",
                         {"type": "help", "content": "探测写入延迟的诉求 %d" % n}, self.token)
            if st != 201:
                raise SystemExit("probe: POST /api/v1/requests answered %s" % st)
            self.samples.append((t0, time.monotonic() - t0))


def busy(port, token, answer):
    """Is the background work the write left still going? (None: the server has none.)"""
    if "recompute" in answer:  # a policy change
        st, j = http(port, "GET", "/api/v1/visit-policies/recompute", token=token)
        return st == 200 and j["running"]
    if "resolving" in answer:  # a campaign
        st, j = http(port, "GET", "/api/v1/visit-campaigns/%d" % answer["id"], token=token)
        return st == 200 and j["resolving"] is not None
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/release/yiqiban")
    ap.add_argument("--db", required=True)
    ap.add_argument("--probes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=N",
                    help="a setting first, e.g. visits.recompute_pause_ms=20")
    ap.add_argument("--only", help="only the operations whose name contains this")
    ap.add_argument("--idle", type=float, default=0,
                    help="first measure the requests alone for this many seconds")
    a = ap.parse_args()

    p = subprocess.Popen([a.bin, "serve", "--db", a.db, "--listen", "127.0.0.1:0",
                          "--access-log", "off", "--no-scheduler", "--threads", str(a.threads)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    log = []
    for line in p.stdout:
        log.append(line)
        m = re.search(r"port (\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if not port:
        raise SystemExit("server did not start:\n" + "".join(log))
    threading.Thread(target=lambda: [log.append(x) for x in p.stdout], daemon=True).start()
    try:
        admin, ent = login(port, "admin"), login(port, "enterprise")
        for kv in a.set:
            k, v = kv.split("=", 1)
            st, j = http(port, "PUT", "/api/v1/settings", {k: int(v)}, admin)
            if st != 200:
                raise SystemExit("setting %s: %s %s" % (kv, st, j))
        stop = threading.Event()
        probes = [Probe(port, ent, stop) for _ in range(a.probes)]
        for pr in probes:
            pr.start()
        time.sleep(2)  # warm up: the probes' own latency first
        if a.idle:
            t0 = time.monotonic()
            time.sleep(a.idle)
            alone = sorted(x for pr in probes for (t, x) in pr.samples if t >= t0)
            print("%-28s %4d requests alone in %.0f s: slowest %6.3f s, median %6.3f s"
                  % ("(nothing else)", len(alone), a.idle, alone[-1], alone[len(alone) // 2]),
                  flush=True)
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
        deadline = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600 + 60 * 86400))
        pid = [None]

        def ops():
            yield "POST policy (all, 90 days)", "POST", "/api/v1/visit-policies", \
                {"name": "全部企业（基准）", "interval_days": 90}
            yield "PATCH policy (60 days)", "PATCH", "/api/v1/visit-policies/%d" % pid[0], \
                {"interval_days": 60}
            yield "DELETE policy", "DELETE", "/api/v1/visit-policies/%d" % pid[0], None
            yield "POST campaign (all)", "POST", "/api/v1/visit-campaigns", \
                {"name": "基准走访 %d" % time.time(), "starts_on": today, "deadline_on": deadline,
                 "target": {"kind": "all"}}

        for name, method, path, body in ops():
            if a.only and a.only not in name and not name.startswith("POST policy"):
                continue
            t0 = time.monotonic()
            st, j = http(port, method, path, body, admin)
            answered = time.monotonic() - t0
            if st not in (200, 201):
                raise SystemExit("%s: %s %s" % (name, st, j))
            if pid[0] is None and "interval_days" in (j or {}):
                pid[0] = j["id"]
            # until the background work (if any) is done
            while busy(port, admin, j):
                time.sleep(0.05)
            done = time.monotonic() - t0
            time.sleep(1)
            window = [s for pr in probes for (t, s) in pr.samples if t0 - 0.001 <= t <= t0 + done]
            slow = sorted((t - t0, x) for pr in probes for (t, x) in pr.samples
                          if t0 <= t <= t0 + done and x > 0.5)
            if slow:
                print("   slow requests (start after the write, seconds): " +
                      ", ".join("+%.1f: %.2f" % v for v in slow[:10]))
            window.sort()
            print("%-28s answered in %6.2f s, done in %6.2f s; %4d requests meanwhile: "
                  "slowest %6.3f s, median %6.3f s"
                  % (name, answered, done, len(window), window[-1] if window else 0,
                     window[len(window) // 2] if window else 0), flush=True)
        base = sorted(s for pr in probes for (t, s) in pr.samples)
        if base:
            print("all %d requests: median %.3f s" % (len(base), base[len(base) // 2]))
        stop.set()
        for pr in probes:
            pr.join()
    finally:
        p.terminate()
        p.wait()
        for line in log:
            if "recompute" in line or "visit" in line:
                print("server: " + line.rstrip())


if __name__ == "__main__":
    main()
