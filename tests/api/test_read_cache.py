"""Pages of requests and requests' details given again from the HTTP threads' caches
(http/respcache.c) are never stale: the same bytes as an answer built afresh, for every
role and view; a new answer after any commit — through the API, or by another process
writing the file —; and a new answer once time alone changes it: a deadline running out
moves a request into the overdue queue, turns its state to overdue on any list and in
its detail, and takes the extension away from the actions its detail offers.

Each HTTP thread keeps its own pages and a client may land on either, so every
page is read several times on each side of a change.
"""
import re
import sqlite3
import time
import unittest

from harness import ROLES, Server

REQ = "/api/v1/requests"
VIEWS = ["all", "overdue", "to_dispatch", "to_sign", "open", "to_rate", "closed",
         "pending_decision", "due_soon"]
TRIES = 6


def now_ms():
    return int(time.time() * 1000)


class ReadCache(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server.start()
        cls.c = {name: cls.srv.login(name) for name in ROLES}
        cls.dept = dict(cls.srv.sql("SELECT code, id FROM departments"))

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def write(self, query, params=()):
        """Write the database file directly, as another process."""
        con = sqlite3.connect(self.srv.db, timeout=30)
        try:
            con.execute(query, params)
            con.commit()
        finally:
            con.close()

    def page(self, who, query):
        """The raw page, read TRIES times: all the same."""
        got = set()
        for _ in range(TRIES):
            r = self.c[who].get("%s?%s" % (REQ, query))
            self.assertEqual(r.status, 200, r)
            got.add(r.raw)
        self.assertEqual(len(got), 1, "%s %s: pages differ between reads" % (who, query))
        return got.pop()

    def assert_built_again_alike(self, who, path, kept):
        """After a commit that changes no answer (so every kept one is stale), the answer
        built afresh is byte for byte the kept one."""
        self.write("INSERT INTO cache_probe VALUES (1)")
        r = self.c[who].get(path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, kept)

    def items(self, who, query):
        r = self.c[who].get("%s?%s" % (REQ, query))
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    def dispatched(self):
        r = self.c["enterprise"].post(REQ, {"type": "help", "content": "缓存测试：系统报错请处理。"})
        self.assertEqual(r.status, 201, r)
        rid = r.json["id"]
        r = self.c["dispatcher"].post("%s/%d/actions/dispatch" % (REQ, rid),
                                      {"department_id": self.dept["amr-reg"]})
        self.assertEqual(r.status, 200, r)
        return rid

    def test_kept_pages_are_the_pages_built_afresh(self):
        self.write("CREATE TABLE IF NOT EXISTS cache_probe (x INTEGER)")
        checked = 0
        for who in ROLES:
            for view in VIEWS:
                q = "view=%s&limit=20" % view
                r = self.c[who].get("%s?%s" % (REQ, q))
                if r.status == 403:
                    continue
                with self.subTest(who=who, view=view):
                    self.assert_built_again_alike(who, "%s?%s" % (REQ, q), self.page(who, q))
                    checked += 1
        self.assertGreater(checked, 30)

    def test_a_commit_through_the_api_is_seen(self):
        before = self.page("dispatcher", "view=all&limit=20")
        r = self.c["enterprise"].post(REQ, {"type": "help", "content": "缓存测试：新的诉求。"})
        self.assertEqual(r.status, 201, r)
        rid = r.json["id"]
        for _ in range(TRIES):
            self.assertEqual(self.items("dispatcher", "view=all&limit=20")[0]["id"], rid)
        self.assertNotEqual(self.page("dispatcher", "view=all&limit=20"), before)
        # an overdue request signed by its handler: it leaves the queue
        late = self.dispatched()
        self.write("UPDATE requests SET sign_due_at = ? WHERE id = ?", (now_ms() - 3600000, late))
        self.page("handler", "view=overdue&limit=200")
        self.assertIn(late, [x["id"] for x in self.items("handler", "view=overdue&limit=200")])
        r = self.c["handler"].post("%s/%d/actions/sign" % (REQ, late), {})
        self.assertEqual(r.status, 200, r)
        for _ in range(TRIES):
            self.assertNotIn(late, [x["id"] for x in self.items("handler",
                                                                 "view=overdue&limit=200")])

    def cache_counts(self):
        r = self.srv.client().get("/metrics")
        self.assertEqual(r.status, 200, r)
        got = {}
        for result in ("hit", "miss", "stale"):
            m = re.search(r'^yiqiban_http_answer_cache_lookups_total\{result="%s"\} (\d+)$'
                          % result, r.raw, re.M)
            self.assertIsNotNone(m, result)
            got[result] = int(m.group(1))
        m = re.search(r"^yiqiban_http_answer_cache_stores_total (\d+)$", r.raw, re.M)
        self.assertIsNotNone(m)
        got["stores"] = int(m.group(1))
        return got

    def test_metrics_count_the_lookups(self):
        """/metrics counts every lookup once: given again, built for want of one, or built
        because the kept one was stale — which a commit makes every kept page."""
        q = "view=open&limit=7"
        m0 = self.cache_counts()
        for _ in range(10):
            self.assertEqual(self.c["dispatcher"].get("%s?%s" % (REQ, q)).status, 200)
        m1 = self.cache_counts()
        d = {k: m1[k] - m0[k] for k in m1}
        self.assertEqual(d["hit"] + d["miss"] + d["stale"], 10, d)
        self.assertGreaterEqual(d["hit"], 6, d)  # at most one built on each HTTP thread
        self.assertEqual(d["stores"], d["miss"] + d["stale"], d)
        r = self.c["enterprise"].post(REQ, {"type": "help", "content": "缓存计数：新的诉求。"})
        self.assertEqual(r.status, 201, r)
        for _ in range(10):
            self.assertEqual(self.c["dispatcher"].get("%s?%s" % (REQ, q)).status, 200)
        d = {k: v - m1[k] for k, v in self.cache_counts().items()}
        self.assertEqual(d["hit"] + d["miss"] + d["stale"], 10, d)
        self.assertGreaterEqual(d["stale"], 1, d)
        self.assertGreaterEqual(d["hit"], 6, d)

    def test_a_commit_by_another_process_is_seen(self):
        items = self.items("dispatcher", "view=overdue&limit=20")
        self.page("dispatcher", "view=overdue&limit=20")
        rid = items[0]["id"]
        self.write("UPDATE requests SET title = ? WHERE id = ?", ("缓存测试：改过的标题", rid))
        for _ in range(TRIES):
            x = {i["id"]: i for i in self.items("dispatcher", "view=overdue&limit=20")}
            self.assertEqual(x[rid]["title"], "缓存测试：改过的标题")

    def test_a_deadline_running_out_is_seen(self):
        # two requests waiting to be signed, whose signing deadlines run out in a
        # moment: one enters the overdue queue, and both read overdue on the list
        a, b = self.dispatched(), self.dispatched()
        soon = now_ms() + 2500
        for rid in (a, b):
            self.write("UPDATE requests SET sign_due_at = ?, handle_due_at = ? WHERE id = ?",
                       (soon, soon + 30 * 86400000, rid))
        q_over, q_sign = "view=overdue&limit=200", "view=to_sign&limit=200"
        over = self.page("dispatcher", q_over)
        self.assertLess(len(self.items("dispatcher", q_over)), 200, "a page not full")
        self.assertNotIn(a, [x["id"] for x in self.items("dispatcher", q_over)])
        self.page("dispatcher", q_sign)
        state = {x["id"]: x["deadlines"]["sign"]["state"]
                 for x in self.items("dispatcher", q_sign)}
        if now_ms() > soon:
            self.skipTest("the machine was too slow to read the pages before the deadline")
        self.assertIn(state[b], ("on_time", "due_soon"))
        while now_ms() <= soon + 50:
            time.sleep(0.1)
        for _ in range(TRIES):
            got = {x["id"]: x for x in self.items("dispatcher", q_over)}
            self.assertIn(a, got)
            self.assertEqual(got[a]["deadlines"]["sign"]["state"], "overdue")
            got = {x["id"]: x for x in self.items("dispatcher", q_sign)}
            self.assertEqual(got[b]["deadlines"]["sign"]["state"], "overdue")
        self.assertNotEqual(self.page("dispatcher", q_over), over)

    def detail(self, who, rid):
        """The raw detail, read TRIES times: all the same; None if the caller may not read it."""
        got = set()
        for _ in range(TRIES):
            r = self.c[who].get("%s/%d" % (REQ, rid))
            if r.status in (403, 404):
                return None
            self.assertEqual(r.status, 200, r)
            got.add(r.raw)
        self.assertEqual(len(got), 1, "%s %d: details differ between reads" % (who, rid))
        return got.pop()

    def test_kept_details_are_the_details_built_afresh(self):
        self.write("CREATE TABLE IF NOT EXISTS cache_probe (x INTEGER)")
        ids = [x["id"] for x in self.items("admin", "view=all&limit=12")]
        ids += [x["id"] for x in self.items("admin", "view=overdue&limit=4")]
        checked = 0
        for who in ROLES:
            for rid in ids:
                with self.subTest(who=who, id=rid):
                    kept = self.detail(who, rid)
                    if kept is None:
                        continue
                    self.assert_built_again_alike(who, "%s/%d" % (REQ, rid), kept)
                    checked += 1
        self.assertGreater(checked, 30)

    def test_a_commit_is_seen_in_the_detail(self):
        rid = self.dispatched()
        path = "%s/%d" % (REQ, rid)
        self.detail("handler", rid)
        r = self.c["handler"].post(path + "/actions/sign", {})
        self.assertEqual(r.status, 200, r)
        for _ in range(TRIES):
            self.assertEqual(self.c["handler"].get(path).json["state"], "signed")
        self.detail("handler", rid)
        self.write("UPDATE requests SET title = ? WHERE id = ?", ("缓存测试：详情的新标题", rid))
        for _ in range(TRIES):
            self.assertEqual(self.c["handler"].get(path).json["title"], "缓存测试：详情的新标题")

    def test_a_deadline_running_out_is_seen_in_the_detail(self):
        # signed by its handler, who may ask for an extension until the handling deadline
        rid = self.dispatched()
        path = "%s/%d" % (REQ, rid)
        r = self.c["handler"].post(path + "/actions/sign", {})
        self.assertEqual(r.status, 200, r)
        soon = now_ms() + 2500
        self.write("UPDATE requests SET handle_due_at = ? WHERE id = ?", (soon, rid))
        before = self.detail("handler", rid)
        d = self.c["handler"].get(path).json
        if now_ms() > soon:
            self.skipTest("the machine was too slow to read the detail before the deadline")
        self.assertIn("extend_apply", d["actions"])
        self.assertIn(d["deadlines"]["handle"]["state"], ("on_time", "due_soon"))
        while now_ms() <= soon + 50:
            time.sleep(0.1)
        for _ in range(TRIES):
            d = self.c["handler"].get(path).json
            self.assertEqual(d["deadlines"]["handle"]["state"], "overdue")
            self.assertNotIn("extend_apply", d["actions"])
        self.assertNotEqual(self.detail("handler", rid), before)


if __name__ == "__main__":
    unittest.main()
