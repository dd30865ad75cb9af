"""Importing and exporting the enterprise registry.

CLI: a large generated CSV (YQ_IMPORT_ROWS rows, default 100,000; 20,000 under ASan) with
about 1% bad rows of many kinds -> every good row stored exactly once, every bad row reported
with its field; importing it again changes nothing; an import killed with SIGKILL half-way and
run again completes with nothing lost or doubled.
API: an .xlsx made here (shared strings, numbers, a date cell, gaps) uploaded; the run, its
error report as CSV and .xlsx; export round trips (.xlsx and CSV, and a masked export) that
import back as all "unchanged"; GB18030 input, unknown columns, repeated codes, refused
files; who may import and export, and what each role's export contains.
"""
import csv
import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import zipfile

from harness import BIN, Server, run_cli

ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
HEADER = ["统一社会信用代码", "企业名称", "类型", "法定代表人", "联系电话", "地址", "纬度", "经度",
          "行业门类", "行业大类", "规模", "成立日期", "状态", "重点企业", "标签"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def org_check(org8):
    """GB 11714 organisation-code check character of 8 characters."""
    w = [3, 7, 9, 10, 5, 8, 4, 2]
    s = sum((int(c) if c.isdigit() else ord(c) - 55) * w[i] for i, c in enumerate(org8))
    c = 11 - s % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def credit_code(i, prefix="91410103"):
    """A valid GB 32100 code: prefix (8) + organisation code (8 + check) + check character."""
    org8 = "%08d" % i
    first17 = prefix + org8 + org_check(org8)
    s = sum(ALPHA.index(c) * pow(3, k, 31) for k, c in enumerate(first17))
    c = 31 - s % 31
    return first17 + ALPHA[0 if c == 31 else c]


def default_rows():
    n = os.environ.get("YQ_IMPORT_ROWS")
    if n:
        return int(n)
    return 20000 if "asan" in os.environ.get("YQ_BIN", "") else 100000


INDUSTRY = [("C", "13"), ("F", "52"), ("I", "65"), ("H", "62"), ("A", "01"), ("", "")]
KINDS = ["企业", "个体工商户", "农民专业合作社", "enterprise"]
SIZES = ["大型", "中型", "小型", "微型", "", "small"]
STATUSES = ["存续", "存续", "在业", "迁出", "active"]


def good_row(i, prefix="91410103"):
    sec, div = INDUSTRY[i % len(INDUSTRY)]
    located = i % 9 != 0
    return [
        credit_code(i, prefix), "郑州测试%06d商贸有限公司" % i, KINDS[i % len(KINDS)],
        "张%s" % "伟芳娜秀英敏静丽强磊"[i % 10], "1380013%04d" % (i % 10000) if i % 5 else "",
        '二七区大学路%d号，"%d"号楼' % (i, i % 7) if i % 3 else "二七区, 德化街 %d 号" % i,
        "34.%06d" % (i % 1000000) if located else "", "113.%06d" % (i * 7 % 1000000) if located else "",
        sec, div, SIZES[i % len(SIZES)],
        "%04d-%02d-%02d" % (1990 + i % 35, 1 + i % 12, 1 + i % 28) if i % 4 else "",
        STATUSES[i % len(STATUSES)], "是" if i % 10 == 3 else "否",
        "制造,外贸" if i % 6 == 1 else "",
    ]


def _set(col, value):
    def f(row, i):
        row[HEADER.index(col)] = value
    return f


def _code(fn):
    def f(row, i):
        row[0] = fn(row[0], i)
    return f


# (expected field, how to spoil the row)
BAD = [
    ("credit_code", _code(lambda c, i: c[:17] + ("0" if c[17] != "0" else "1"))),  # check char
    ("name", _set("企业名称", "")),
    ("phone", _set("联系电话", "12ab34")),
    ("lat", lambda row, i: (_set("纬度", "95.5")(row, i), _set("经度", "113.6")(row, i))),
    ("status", _set("状态", "歇业")),
    ("registered_on", _set("成立日期", "2019-02-30")),
    ("credit_code", _code(lambda c, i: credit_code(i - 1))),  # repeats the row above
    ("is_key", _set("重点企业", "maybe")),
    ("industry_division", lambda row, i: (_set("行业门类", "C")(row, i),
                                          _set("行业大类", "98")(row, i))),
    ("credit_code", _code(lambda c, i: c[:17])),  # 17 characters
    ("kind", _set("类型", "公司制")),
    ("lon", lambda row, i: (_set("纬度", "34.7")(row, i), _set("经度", "东经113")(row, i))),
    ("size_class", _set("规模", "巨型")),
    ("name", _set("企业名称", "名" * 101)),
]


def make_rows(n, prefix="91410103"):
    """Rows 2..n+1 of the file; ~1% bad. Returns (rows, good {code: name}, bad {row_no: field})."""
    rows, good, bad = [], {}, {}
    for i in range(1, n + 1):
        row = good_row(i, prefix)
        if i % 100 == 50:
            field, spoil = BAD[(i // 100) % len(BAD)]
            spoil(row, i)
            bad[i + 1] = field
        else:
            good[row[0]] = row[1]
        rows.append(row)
    return rows, good, bad


def write_csv(path, rows, header=HEADER, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)


def parse_summary(out):
    got = dict(re.findall(r"^\s+(rows|created|updated|unchanged|failed)\s+(\d+)", out, re.M))
    run = re.search(r"import run (\d+)", out)
    return {k: int(v) for k, v in got.items()}, int(run.group(1)) if run else None


def q(db, sql, params=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


class CliImport(unittest.TestCase):
    """The large file through the command line."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="yqimport-")
        cls.n = default_rows()
        cls.rows, cls.good, cls.bad = make_rows(cls.n)
        cls.csv = os.path.join(cls.tmp, "企业名录.csv")
        write_csv(cls.csv, cls.rows)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fresh_db(self, name):
        db = os.path.join(self.tmp, name + ".db")
        run_cli("init", "--db", db)
        return db

    def check_stored(self, db, good):
        codes = q(db, "SELECT credit_code, name FROM enterprises")
        self.assertEqual(len(codes), len(good), "every good row exactly once")
        self.assertEqual(dict(codes), good)
        self.assertEqual(q(db, "SELECT COUNT(*) FROM enterprise_versions")[0][0], len(good),
                         "one version per enterprise: nothing written twice")

    def test_large_import_then_again(self):
        db = self.fresh_db("big")
        t0 = time.time()
        p = run_cli("import", "enterprises", self.csv, "--db", db, "--errors",
                    os.path.join(self.tmp, "errors.csv"), check=False)
        secs = time.time() - t0
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        sys.stderr.write("\n    import of %d rows: %.1f s, %.0f rows/s (%s)\n" % (
            self.n, secs, self.n / secs, os.path.relpath(BIN)))
        got, run = parse_summary(p.stdout)
        self.assertEqual(got, {"rows": self.n, "created": len(self.good), "updated": 0,
                               "unchanged": 0, "failed": len(self.bad)})
        self.assertIn("%d row(s) were refused" % len(self.bad), p.stdout)
        self.check_stored(db, self.good)
        # each bad row reported once, with its field
        errs = q(db, "SELECT row_no, field, message, message_zh FROM import_errors WHERE run_id = ?",
                 (run,))
        self.assertEqual({r: f for r, f, _, _ in errs}, self.bad)
        for r, f, msg, zh in errs:
            self.assertTrue(msg and zh and msg != zh, (r, f, msg, zh))
        dup = [m for r, f, m, _ in errs if "repeats row" in m]
        self.assertTrue(dup and all(re.search(r"repeats row \d+", m) for m in dup))
        self.assertEqual(q(db, "SELECT status, rows_total, rows_created, rows_failed, filename "
                               "FROM import_runs WHERE id = ?", (run,)),
                         [("done", self.n, len(self.good), len(self.bad), "企业名录.csv")])
        # the report written by --errors
        with open(os.path.join(self.tmp, "errors.csv"), encoding="utf-8-sig", newline="") as f:
            report = list(csv.reader(f))
        self.assertEqual(report[0], ["行号 row", "字段 field", "错误原因", "message"])
        self.assertEqual({int(r[0]): r[1] for r in report[1:]}, self.bad)
        # the import is audited as one row (the enterprises each have their own)
        self.assertEqual(q(db, "SELECT COUNT(*) FROM audit_log WHERE entity = 'import_run'")[0][0], 1)

        versions = q(db, "SELECT COUNT(*) FROM enterprise_versions")[0][0]
        audit = q(db, "SELECT COUNT(*) FROM audit_log")[0][0]
        t0 = time.time()
        p = run_cli("import", "enterprises", self.csv, "--db", db, check=False)
        secs = time.time() - t0
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        sys.stderr.write("    again (all unchanged): %.1f s, %.0f rows/s\n" % (secs, self.n / secs))
        got, run2 = parse_summary(p.stdout)
        self.assertNotEqual(run, run2)
        self.assertEqual(got, {"rows": self.n, "created": 0, "updated": 0,
                               "unchanged": len(self.good), "failed": len(self.bad)})
        self.assertEqual(q(db, "SELECT COUNT(*) FROM enterprise_versions")[0][0], versions)
        self.assertEqual(q(db, "SELECT COUNT(*) FROM audit_log")[0][0], audit + 1)
        self.check_stored(db, self.good)
        p = run_cli("audit", "verify", "--db", db)
        self.assertIn("intact", p.stdout)

    def test_kill9_then_run_again(self):
        n = min(self.n, 30000)
        rows, good, bad = make_rows(n)
        path = os.path.join(self.tmp, "kill.csv")
        write_csv(path, rows)
        db = self.fresh_db("kill")
        proc = subprocess.Popen([BIN, "import", "enterprises", path, "--db", db],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        committed = 0
        while time.time() < deadline and proc.poll() is None:
            try:
                r = q(db, "SELECT rows_total FROM import_runs")
                committed = r[0][0] if r else 0
            except sqlite3.OperationalError:
                committed = 0
            if committed >= n // 4:
                break
            time.sleep(0.02)
        self.assertIsNone(proc.poll(), "the import finished before it could be killed")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        stored = q(db, "SELECT COUNT(*) FROM enterprises")[0][0]
        self.assertGreater(stored, 0)
        self.assertLess(stored, len(good))
        self.assertEqual(q(db, "SELECT status FROM import_runs"), [("running",)])
        # the killed run's counts match what was committed
        total, created, failed = q(db, "SELECT rows_total, rows_created, rows_failed "
                                       "FROM import_runs")[0]
        self.assertEqual(created, stored)
        self.assertEqual(q(db, "SELECT COUNT(*) FROM import_errors")[0][0], failed)

        p = run_cli("import", "enterprises", path, "--db", db, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        got, run = parse_summary(p.stdout)
        self.assertEqual(got["rows"], n)
        self.assertEqual(got["unchanged"], stored)
        self.assertEqual(got["created"], len(good) - stored)
        self.assertEqual(got["updated"], 0)
        self.assertEqual(got["failed"], len(bad))
        self.check_stored(db, good)
        errs = q(db, "SELECT row_no, field FROM import_errors WHERE run_id = ?", (run,))
        self.assertEqual(dict(errs), bad)

    def test_cli_refusals(self):
        db = self.fresh_db("refuse")
        path = os.path.join(self.tmp, "noname.csv")
        write_csv(path, [[credit_code(1), "x"]], header=["统一社会信用代码", "名字"])
        p = run_cli("import", "enterprises", path, "--db", db, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing required column", p.stderr)
        self.assertIn("企业名称", p.stderr)
        self.assertEqual(q(db, "SELECT COUNT(*) FROM import_runs")[0][0], 0)
        p = run_cli("import", "enterprises", os.path.join(self.tmp, "nope.csv"), "--db", db,
                    check=False)
        self.assertEqual(p.returncode, 1)
        p = run_cli("import", "enterprises", "--db", db, check=False)
        self.assertEqual(p.returncode, 2)
        p = run_cli("import", "users", path, "--db", db, check=False)
        self.assertEqual(p.returncode, 2)
        # a cell over the limit stops the import with the row and column; rows before stay
        path = os.path.join(self.tmp, "long.csv")
        rows = [good_row(i) for i in range(1, 1201)]
        rows[1100][5] = "长" * 2000
        write_csv(path, rows)
        p = run_cli("import", "enterprises", path, "--db", db, "--batch", "500", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("row 1102, column F: cell too long", p.stderr)
        self.assertEqual(q(db, "SELECT status, rows_total FROM import_runs"), [("failed", 1100)])
        self.assertEqual(q(db, "SELECT COUNT(*) FROM enterprises")[0][0], 1100)
        # with --errors as .xlsx: a workbook naming the refused rows
        path = os.path.join(self.tmp, "few.csv")
        rows, good, bad = make_rows(300)
        write_csv(path, rows)
        out = os.path.join(self.tmp, "report.xlsx")
        p = run_cli("import", "enterprises", path, "--db", db, "--errors", out)
        self.assertIn("3 row(s) were refused", p.stdout)
        with zipfile.ZipFile(out) as z:
            sheet = z.read("xl/worksheets/sheet1.xml").decode()
        for row, field in bad.items():
            self.assertIn(field, sheet)


# ---- a minimal .xlsx writer (shared strings, numbers, a date style) ----

def col_name(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def make_xlsx(rows):
    """rows: lists of str (shared string), int/float (number), ("date", serial), None (gap)."""
    strings, index = [], {}
    sheet = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, v in enumerate(row):
            ref = "%s%d" % (col_name(c), r)
            if v is None or v == "":
                continue
            if isinstance(v, tuple):
                cells.append('<c r="%s" s="1"><v>%s</v></c>' % (ref, v[1]))
            elif isinstance(v, (int, float)):
                cells.append('<c r="%s"><v>%r</v></c>' % (ref, v))
            else:
                if v not in index:
                    index[v] = len(strings)
                    strings.append(v)
                cells.append('<c r="%s" t="s"><v>%d</v></c>' % (ref, index[v]))
        sheet.append('<row r="%d">%s</row>' % (r, "".join(cells)))
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"/>')
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook %s %s><sheets><sheet '
                   'name="企业" sheetId="1" r:id="rId1"/></sheets></workbook>' % (ns, rns))
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="%sworksheet" '
                   'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="%sstyles" '
                   'Target="styles.xml"/><Relationship Id="rId3" Type="%ssharedStrings" '
                   'Target="sharedStrings.xml"/></Relationships>' % (rel, rel, rel))
        z.writestr("xl/styles.xml", '<styleSheet %s><cellXfs count="2"><xf numFmtId="0"/>'
                   '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>' % ns)
        z.writestr("xl/sharedStrings.xml", '<sst %s count="%d" uniqueCount="%d">%s</sst>' % (
            ns, len(strings), len(strings), "".join("<si><t>%s</t></si>" % esc(s) for s in strings)))
        z.writestr("xl/worksheets/sheet1.xml", '<worksheet %s><sheetData>%s</sheetData>'
                   '</worksheet>' % (ns, "".join(sheet)))
    return buf.getvalue()


class ApiImportExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.admin = cls.srv.login("admin")
        # more than one page (1000) of exports, some of them key enterprises
        rows = [good_row(i, "91410105") for i in range(1, 1301)]
        f = io.StringIO()
        csv.writer(f, lineterminator="\r\n").writerows([HEADER] + rows)
        r = cls.admin.post("/api/v1/imports/enterprises", raw=f.getvalue().encode(),
                           headers={"Content-Type": "text/csv"})
        assert r.status == 200 and r.json["created"] == 1300, r

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def upload(self, client, data, ctype="text/csv", query=""):
        return client.post("/api/v1/imports/enterprises" + query, raw=data,
                           headers={"Content-Type": ctype} if ctype else None)

    def csv_bytes(self, rows, header=HEADER, encoding="utf-8"):
        f = io.StringIO()
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)
        return f.getvalue().encode(encoding)

    def versions(self):
        return self.srv.sql("SELECT COUNT(*) FROM enterprise_versions")[0][0]

    def test_xlsx_upload(self):
        header = ["统一社会信用代码", "企业名称", "联系电话", "成立日期", "纬度", "经度", "规模",
                  "状态", "备注"]
        rows = [header]
        for i in range(1, 51):
            rows.append([credit_code(90000000 + i, "92410103"), "二七个体%02d号店" % i,
                         13800138000 + i, ("date", 43831 + i), 34.75 + i / 1000,
                         113.62, "微型" if i % 2 else None, "歇业" if i == 20 else "存续",
                         "note"])
        data = make_xlsx(rows)
        r = self.upload(self.admin, data, ctype=None, query="?filename=" + urllib.parse.quote("个体户.xlsx"))
        self.assertEqual(r.status, 200, r)
        s = r.json
        self.assertEqual((s["rows_total"], s["created"], s["updated"], s["unchanged"],
                          s["failed"], s["status"], s["filename"]),
                         (50, 49, 0, 0, 1, "done", "个体户.xlsx"))
        self.assertEqual(s["errors_preview"][0]["row"], 21)
        self.assertEqual(s["errors_preview"][0]["field"], "status")
        self.assertTrue(s["errors_preview"][0]["message_zh"])
        self.assertEqual(s["warning"], "unknown columns ignored: 备注")
        self.assertEqual(s["header_row"], 1)
        got = self.srv.sql("SELECT phone, registered_on, lat, kind, size_class FROM enterprises "
                           "WHERE credit_code = ?", (credit_code(90000001, "92410103"),))
        self.assertEqual(got, [("13800138001", "2020-01-02", 34.751, "individual", "micro")])
        # the same bytes with the XLSX content type: nothing changes
        r = self.upload(self.admin, data, ctype=XLSX_TYPE)
        self.assertEqual((r.json["created"], r.json["unchanged"], r.json["failed"]), (0, 49, 1))

        run = s["id"]
        r = self.admin.get("/api/v1/imports/%d" % run)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["created"], r.json["failed"], r.json["kind"]),
                         (49, 1, "enterprises"))
        self.assertEqual(r.json["actor_id"],
                         self.srv.sql("SELECT id FROM users WHERE login = 'admin'")[0][0])
        r = self.admin.get("/api/v1/imports/%d/errors.csv" % run)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/csv"))
        self.assertIn("attachment", r.header("Content-Disposition"))
        self.assertTrue(r.raw.startswith("\ufeff"))
        report = list(csv.reader(io.StringIO(r.raw[1:])))
        self.assertEqual(report[0], ["行号 row", "字段 field", "错误原因", "message"])
        self.assertEqual([x[:2] for x in report[1:]], [["21", "status"]])
        r = self.admin.request("GET", "/api/v1/imports/%d/errors.xlsx" % run)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), XLSX_TYPE)
        self.assertEqual(self.admin.get("/api/v1/imports/999999").status, 404)
        self.assertEqual(self.admin.get("/api/v1/imports/999999/errors.csv").status, 404)

    def raw_get(self, client, path):
        """GET returning (status, headers, bytes): the harness decodes bodies as text."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=120)
        h = {}
        if client.cookie:
            h["Cookie"] = client.cookie
        if client.bearer:
            h["Authorization"] = "Bearer " + client.bearer
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), body

    def export_rows(self, client, query=""):
        st, h, body = self.raw_get(client, "/api/v1/enterprises/export.csv" + query)
        self.assertEqual(st, 200, body[:300])
        self.assertTrue(body.startswith(b"\xef\xbb\xbf"))
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        self.assertEqual(rows[0], HEADER)
        return rows[1:]

    def test_export_round_trips(self):
        n = self.srv.sql("SELECT COUNT(*) FROM enterprises")[0][0]
        self.assertGreater(n, 1000)  # more than one page of the export
        before = self.versions()
        contacts = self.srv.sql("SELECT id, phone, legal_rep FROM enterprises ORDER BY id")
        st, h, xlsx = self.raw_get(self.admin, "/api/v1/enterprises/export.xlsx")
        self.assertEqual(st, 200)
        self.assertEqual(h["Content-Type"], XLSX_TYPE)
        self.assertRegex(h["Content-Disposition"], r'attachment; filename="enterprises-\d{8}\.xlsx"')
        self.assertTrue(xlsx.startswith(b"PK\x03\x04"))
        r = self.upload(self.admin, xlsx, ctype=XLSX_TYPE)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["rows_total"], r.json["unchanged"], r.json["failed"]), (n, n, 0),
                         r.json["errors_preview"])
        rows = self.export_rows(self.admin)
        self.assertEqual(len(rows), n)
        self.assertEqual(len({row[0] for row in rows}), n)
        r = self.upload(self.admin, self.csv_bytes(rows))
        self.assertEqual((r.json["rows_total"], r.json["unchanged"], r.json["failed"]), (n, n, 0),
                         r.json["errors_preview"])
        # an export without enterprise.pii is masked, and importing it changes no contact data
        masked = self.export_rows(self.srv.login("mediator"))
        self.assertEqual(len(masked), n)
        phones = [row[4] for row in masked if row[4]]
        self.assertTrue(phones and all("****" in p for p in phones))
        self.assertTrue(all(row[3] == "" or row[3].endswith("**") for row in masked))
        r = self.upload(self.admin, self.csv_bytes(masked))
        self.assertEqual((r.json["unchanged"], r.json["failed"]), (n, 0), r.json["errors_preview"])
        self.assertEqual(self.versions(), before)
        self.assertEqual(self.srv.sql("SELECT id, phone, legal_rep FROM enterprises ORDER BY id"),
                         contacts)

    def test_export_filters_and_scopes(self):
        admin_all = self.export_rows(self.admin)
        active_key = self.export_rows(self.admin, "?status=active&is_key=1")
        want = self.srv.sql("SELECT COUNT(*) FROM enterprises WHERE status = 'active' AND is_key = 1")
        self.assertEqual(len(active_key), want[0][0])
        self.assertTrue(all(row[12] == "存续" and row[13] == "是" for row in active_key))
        code = admin_all[0][0]
        self.assertEqual([r[0] for r in self.export_rows(self.admin, "?credit_code=" + code)],
                         [code])
        st, _, body = self.raw_get(self.admin, "/api/v1/enterprises/export.csv?is_key=7")
        self.assertEqual(st, 400)
        # each role's export is exactly what its list shows
        for login in ("dispatcher", "gridworker", "enterprise", "mediator", "leader"):
            with self.subTest(role=login):
                c = self.srv.login(login)
                total = c.get("/api/v1/enterprises?count=1&limit=1").json["total"]
                self.assertEqual(len(self.export_rows(c)), total)
        # the enterprise user exports its own enterprise only, unmasked
        ent = self.srv.login("enterprise")
        eid = self.srv.sql("SELECT enterprise_id FROM users WHERE login = 'enterprise'")[0][0]
        self.assertIsNotNone(eid)
        own = self.srv.sql("SELECT credit_code, phone FROM enterprises WHERE id = ?", (eid,))[0]
        rows = self.export_rows(ent)
        self.assertEqual([(r[0], r[4]) for r in rows], [own])
        st, _, _ = self.raw_get(ent, "/api/v1/enterprises/export.xlsx")
        self.assertEqual(st, 200)

    def test_permissions(self):
        d = self.srv.login("dispatcher")
        self.assertEqual(len(self.export_rows(d)), self.srv.sql("SELECT COUNT(*) FROM enterprises")[0][0])
        runs = self.srv.sql("SELECT COUNT(*) FROM import_runs")
        data = self.csv_bytes([good_row(777, "93410103")])
        for login in ("dispatcher", "enterprise", "leader", "gridworker"):
            with self.subTest(role=login):
                r = self.upload(self.srv.login(login), data)
                self.assertEqual(r.status, 403, r)
                self.assertIn("enterprise.write", r.error["message"])
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM import_runs"), runs)
        for login in ("bank",):
            st, _, _ = self.raw_get(self.srv.login(login), "/api/v1/enterprises/export.csv")
            self.assertEqual(st, 403)
        st, _, _ = self.raw_get(self.srv.client(), "/api/v1/enterprises/export.csv")
        self.assertEqual(st, 401)
        # a token works for uploads (no CSRF header needed)
        tok = self.srv.login("admin", bearer=True)
        r = self.upload(tok, data)
        self.assertEqual((r.status, r.json["created"]), (200, 1), r)

    def test_refused_uploads(self):
        runs = self.srv.sql("SELECT COUNT(*) FROM import_runs")
        r = self.upload(self.admin, b"")
        self.assertEqual((r.status, r.error["field"]), (400, "body"), r)
        r = self.admin.post("/api/v1/imports/enterprises", {"rows": []})
        self.assertEqual((r.status, r.error["field"]), (400, "Content-Type"), r)
        r = self.upload(self.admin, self.csv_bytes([["x", "y"]], header=["统一社会信用代码", "地址"]))
        self.assertEqual(r.status, 422, r)
        self.assertIn("missing required column", r.error["message"])
        self.assertIn("企业名称", r.error["message_zh"])
        r = self.upload(self.admin, b"\xef\xbb\xbf")
        self.assertEqual(r.status, 422, r)
        self.assertIn("empty", r.error["message"])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("hello.txt", "hello")
        r = self.upload(self.admin, buf.getvalue(), ctype=XLSX_TYPE)
        self.assertEqual(r.status, 422, r)
        self.assertIn("not an Excel workbook", r.error["message"])
        r = self.upload(self.admin, b"PK\x03\x04 truncated", ctype="application/octet-stream")
        self.assertEqual(r.status, 422, r)
        r = self.upload(self.admin, self.csv_bytes([good_row(1)]) + b'"unclosed,x\r\n')
        self.assertEqual(r.status, 422, r)  # a run that stopped half-way
        self.assertEqual(r.json["status"], "failed")
        self.assertIn("never closed", r.json["error"]["message"])
        self.assertEqual(r.json["rows_total"], 1)
        self.assertEqual(self.srv.sql("SELECT COUNT(*) FROM import_runs")[0][0], runs[0][0] + 1)

    def test_gb18030_duplicates_and_title_row(self):
        rows = [good_row(i, "93410104") for i in range(1, 4)]
        rows.append(list(rows[0]))  # the same code again, row 6
        rows[3][1] = "另一个名字"
        data = ("二七区市场主体名录（2026年）\r\n".encode("gb18030") +
                self.csv_bytes(rows, encoding="gb18030"))
        r = self.upload(self.admin, data, query="?filename=gbk.csv")  # noqa
        self.assertEqual(r.status, 200, r)
        s = r.json
        self.assertEqual((s["header_row"], s["created"], s["failed"]), (2, 3, 1), s)
        self.assertEqual(s["errors_preview"][0]["row"], 6)
        self.assertEqual(s["errors_preview"][0]["field"], "credit_code")
        self.assertIn("repeats row 3", s["errors_preview"][0]["message"])
        self.assertEqual(self.srv.sql("SELECT name FROM enterprises WHERE credit_code = ?",
                                      (rows[0][0],)), [(rows[0][1],)])

    def test_update_through_import(self):
        code = credit_code(4242, "93410105")
        row = good_row(4242, "93410105")
        r = self.upload(self.admin, self.csv_bytes([row]))
        self.assertEqual(r.json["created"], 1)
        # a file with only some columns changes only those; empty cells clear
        r = self.upload(self.admin, self.csv_bytes([[code, row[1], "", "小型"]],
                                                   header=["credit_code", "name", "address",
                                                           "size_class"]))
        self.assertEqual((r.json["updated"], r.json["failed"]), (1, 0), r.json)
        got = self.srv.sql("SELECT address, size_class, phone, version FROM enterprises "
                           "WHERE credit_code = ?", (code,))
        self.assertEqual(got, [("", "small", row[4], 2)])
        hist = self.srv.sql("SELECT source, actor_login FROM enterprise_versions v JOIN "
                            "enterprises e ON e.id = v.enterprise_id WHERE e.credit_code = ? "
                            "ORDER BY v.version", (code,))
        self.assertEqual(hist, [("import", "admin"), ("import", "admin")])

    def test_accept_check_failures(self):
        row = good_row(5150, "93410106")
        row[0] = row[0][:17] + ("0" if row[0][17] != "0" else "1")
        r = self.upload(self.admin, self.csv_bytes([row]))
        self.assertEqual((r.json["failed"], r.json["errors_preview"][0]["field"]),
                         (1, "credit_code"))
        r = self.upload(self.admin, self.csv_bytes([row]), query="?accept_check_failures=1")
        self.assertEqual((r.json["created"], r.json["failed"]), (1, 0), r.json)
        self.assertEqual(self.srv.sql("SELECT credit_code_ok FROM enterprises WHERE "
                                      "credit_code = ?", (row[0],)), [(0,)])


if __name__ == "__main__":
    unittest.main()
