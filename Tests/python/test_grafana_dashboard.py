"""The Grafana dashboard (docs/grafana/gonka.json, docs/OBSERVE.md) against the metrics the code
exports:
* every metric name a panel's expression uses is registered somewhere in Sources/ (a string literal
  `"gonka_…"`; a histogram's `_bucket` series counts as its family) — cheap, no binary;
* the committed JSON is what scripts/grafana-dashboard writes (edit the script, not the JSON);
* on the shared test devnet (shared_devnet.py, needs $GONKA_BIN and the model): every family the
  chain nodes', API nodes' and proxy's `/metrics` export has a panel, and `scripts/observe
  --config-only` (what `make observe` scrapes) lists each of those processes.

Run alone with:
    GONKA_BIN=.build/debug/gonka python3 -m unittest discover -s Tests/python -p test_grafana_dashboard.py -v
"""

import json
import os
import re
import runpy
import subprocess
import sys
import unittest
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "docs", "grafana", "gonka.json")


def expressions():
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def dashboard_names():
    """Metric families the expressions use (a histogram's `_bucket` series named by its family)."""
    names = set()
    for expr in expressions():
        for name in re.findall(r"\bgonka_[a-z0-9_]+", expr):
            names.add(re.sub(r"_bucket$", "", name))
    return names


def source_names():
    found = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "Sources")):
        for name in files:
            if name.endswith(".swift"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    found |= set(re.findall(r'"(gonka_[a-z0-9_]+)"', f.read()))
    return found


def exported(url):
    """Family names of the exposition at `url` (from its `# TYPE` lines, counters with `_total`)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


class DashboardTest(unittest.TestCase):
    def test_every_name_is_registered_by_the_code(self):
        names = dashboard_names()
        self.assertGreater(len(names), 30)
        unknown = sorted(names - source_names())
        self.assertEqual(unknown, [], "the dashboard uses metrics no source registers")

    def test_every_expression_filters_by_node(self):
        for expr in expressions():
            for selector in re.findall(r"\bgonka_[a-z0-9_]+(\{[^}]*\})?", expr):
                self.assertIn('node=~"$node"', selector, expr)

    def test_the_json_is_the_generator_output(self):
        generated = runpy.run_path(os.path.join(ROOT, "scripts", "grafana-dashboard"), run_name="dashboard")
        with open(DASHBOARD) as f:
            committed = json.load(f)
        self.assertEqual(committed, json.loads(json.dumps(generated["dashboard"])),
                         "docs/grafana/gonka.json is stale: run scripts/grafana-dashboard")


class LiveDashboardTest(unittest.TestCase):
    def test_every_exported_family_has_a_panel(self):
        import shared_devnet
        proxy = shared_devnet.proxy()
        manifest, _ = shared_devnet.manifest()
        node = manifest["nodes"][0]
        # One request through the network, so the request families exist (a counter appears once it counts).
        request = urllib.request.Request(
            proxy + "/chat/completions", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"model": self.model(proxy), "max_tokens": 4,
                             "messages": [{"role": "user", "content": "Hello!"}]}).encode())
        with urllib.request.urlopen(request, timeout=120) as response:
            self.assertEqual(response.status, 200)
        used = dashboard_names()
        sources = {
            "chain node": "http://127.0.0.1:%d/metrics" % node["rpc_port"],
            "API node": "http://127.0.0.1:%d/metrics" % node["api_port"],
            "proxy": proxy[: -len("/v1")] + "/metrics",
        }
        for where, url in sources.items():
            families = {re.sub(r"_total$", "", name) for name in exported(url)}
            self.assertTrue(families, where)
            missing = sorted(f for f in families if f not in used and f + "_total" not in used)
            self.assertEqual(missing, [], "%s exports families no panel shows" % where)

    @staticmethod
    def model(proxy):
        with urllib.request.urlopen(proxy + "/models", timeout=30) as response:
            return json.load(response)["data"][0]["id"]

    def test_observe_scrapes_every_process(self):
        import shared_devnet
        shared_devnet.proxy()
        manifest, _ = shared_devnet.manifest()
        directory = os.path.dirname(manifest["nodes"][0]["home"])
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "observe"), "--dir", directory,
                              "--config-only"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(directory, "prometheus", "prometheus.yml")) as f:
            config = f.read()
        for node in manifest["nodes"]:
            self.assertIn('"127.0.0.1:%d"' % node["rpc_port"], config)
            self.assertIn('"127.0.0.1:%d"' % node["api_port"], config)
        self.assertIn('"127.0.0.1:%d"' % manifest["proxy"]["port"], config)
        self.assertIn('labels: {node: "node0"}', config)


if __name__ == "__main__":
    unittest.main()
