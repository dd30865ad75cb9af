"""docs/api.md lists exactly the routes of the router, and the OpenAPI document agrees."""
import os
import re
import unittest

from harness import ROOT, Server, run_cli


def router_routes():
    out = run_cli("routes").stdout
    return {tuple(line.split()[:2]) for line in out.splitlines() if line.strip()}


class ApiDocs(unittest.TestCase):
    def test_api_md_matches_router(self):
        with open(os.path.join(ROOT, "docs", "api.md"), encoding="utf-8") as f:
            documented = set(re.findall(r"^### (GET|POST|PUT|PATCH|DELETE) (\S+)$", f.read(), re.M))
        routes = router_routes()
        self.assertTrue(routes)
        self.assertEqual(sorted(routes - documented), [], "routes missing from docs/api.md")
        self.assertEqual(sorted(documented - routes), [], "docs/api.md lists routes that do not exist")

    def test_openapi_matches_router(self):
        srv = Server.start()
        try:
            doc = srv.client().get("/api/v1/openapi.json").json
        finally:
            srv.stop()
        self.assertEqual(doc["openapi"], "3.0.3")
        ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
        self.assertEqual(ops, router_routes())
        for p, item in doc["paths"].items():
            for m, op in item.items():
                self.assertTrue(op["summary"], (m, p))
                self.assertIn("x-permission", op)


if __name__ == "__main__":
    unittest.main()
