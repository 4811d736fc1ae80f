"""The explorer (issue 18) in a real browser: a devnet of real processes (`gonka devnet up`, two
participants with API nodes over the real model), one inference through the signing proxy, and a
participant registered with HTML in its API URL. Headless Chromium (Debian's `chromium`, driven
over the DevTools protocol on a pipe, Tests/python/headless.py) loads every page from node 0's API
port and from `gonka explorer --node RPC`, and checks:
* the figures shown equal the chain's answers: the height (within a couple of blocks), the epoch,
  each participant's weight, status, collateral and jail, the inference's cost, refund and status,
  a governance proposal's status, deposit and tally (yes/no shares of the total power);
* each devnet API node's health column reads "ok, N ms";
* the height moves on without a reload (the live relay of the chain's event stream), and so does
  an open proposal's tally when a vote changes;
* the hostile URL, and a proposal title with a script tag in it, are shown as text, and the page
  runs no script but its own;
* no console error, exception, CSP violation or failed load on any page;
* bad input (unknown participant, malformed inference id, block above the tip, a huge query
  string) gets a 404 or 400 page, never a 500.
Screenshots of every page go to $GONKA_EXPLORER_SHOTS (default: a temporary folder);
`make explorer-shots` keeps them in explorer-shots/.

Without chromium the test is skipped unless GONKA_REQUIRE_BROWSER=1 (CI: .ci/run installs it).
Run alone with:
    GONKA_BIN=.build/debug/gonka python3 -m unittest Tests/python/test_explorer_browser.py -v
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from headless import Browser, chromium_binary

HOSTILE_URL = 'http://127.0.0.1:1/"><script>window.pwned=1</script>'
HOSTILE_TITLE = '</td><script>window.pwned=1</script> text proposal'


def model_path():
    explicit = os.environ.get("GONKA_MODEL")
    if explicit:
        return explicit
    return os.path.expanduser("~/.cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def grouped(n):
    return "{:,}".format(n)


def percent(part, whole):
    """As the explorer writes a share: one decimal, rounded half up, "—" of nothing."""
    if whole == 0:
        return "—"
    tenths = (part * 1000 + whole // 2) // whole
    return "%d.%d %%" % (tenths // 10, tenths % 10)


class ExplorerBrowserTest(unittest.TestCase):
    directory = None
    explorer = None
    browser = None

    @classmethod
    def gonka(cls, *args, timeout=120):
        out = subprocess.run([cls.binary, *args], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError("gonka %s failed:\n%s%s" % (" ".join(args), out.stdout, out.stderr))
        return out.stdout

    @classmethod
    def setUpClass(cls):
        cls.binary = os.environ.get("GONKA_BIN")
        if not cls.binary or not os.access(cls.binary, os.X_OK):
            raise unittest.SkipTest("GONKA_BIN does not name the built gonka binary")
        if not chromium_binary():
            if os.environ.get("GONKA_REQUIRE_BROWSER") == "1":
                raise AssertionError("no chromium on PATH (apt-get install -y chromium)")
            raise unittest.SkipTest("no chromium on PATH (apt-get install -y chromium)")
        if not os.path.exists(model_path()):
            raise unittest.SkipTest("no model at " + model_path())
        cls.directory = tempfile.mkdtemp(prefix="gonka-explorer-test-")
        cls.shots = os.environ.get("GONKA_EXPLORER_SHOTS") or os.path.join(cls.directory, "shots")
        os.makedirs(cls.shots, exist_ok=True)
        try:
            cls.devnet = os.path.join(cls.directory, "devnet")
            cls.gonka("devnet", "up", "--dir", cls.devnet, "--participants", "2", "--model", model_path(),
                      timeout=300)
            with open(os.path.join(cls.devnet, "devnet.json")) as f:
                manifest = json.load(f)
            cls.rpc = manifest["nodes"][0]["rpc_url"]
            cls.api = "http://127.0.0.1:%d" % manifest["nodes"][0]["api_port"]
            cls.proxy = "http://127.0.0.1:%d" % manifest["proxy"]["port"]
            cls.register_hostile_participant()
            cls.proposal_id = cls.one_proposal(manifest)
            cls.inference_id = cls.one_inference()
            cls.start_local_explorer()
            cls.browser = Browser()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def register_hostile_participant(cls):
        """A participant whose registered API URL carries a script tag (the ledger accepts any
        http(s) URL without spaces): `gonka node join` with that --url."""
        home = os.path.join(cls.directory, "hostile")
        out = cls.gonka("keys", "add", "validator", "--home", home)
        address = re.search(r"address:\s+(\S+)", out).group(1)
        cls.gonka("devnet", "fund", "--dir", cls.devnet, address, "100gnk")
        cls.gonka("node", "join", "--home", home, "--peer", cls.rpc, "--url", HOSTILE_URL, "--p2p-listen",
                  "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0")
        cls.hostile = address

    @classmethod
    def one_proposal(cls, manifest):
        """Node 0 deposits collateral and submits a text proposal (its title carries a script tag)
        with its full deposit, so its vote opens at once; node 0 votes yes and node 1 no."""
        nodes = manifest["nodes"][:2]
        for node in nodes:
            cls.gonka("devnet", "fund", "--dir", cls.devnet, node["account_address"], "160gnk")
        # A collateral deposit, so the participants pages' collateral column has a figure to get wrong.
        cls.gonka("tx", "collateral", "deposit", "validator", "7gnk", "--home", nodes[0]["home"], "--node", cls.rpc)
        path = os.path.join(cls.directory, "proposal.json")
        with open(path, "w") as f:
            json.dump({"title": HOSTILE_TITLE, "summary": "<b>not bold</b>", "deposit": "100gnk",
                       "content": {"text": {}}}, f)
        cls.gonka("tx", "gov", "submit", path, "--home", nodes[0]["home"], "--from", "validator",
                  "--node", cls.rpc)
        found = [p for p in cls.get(cls.rpc + "/query/proposals")["value"] if p["title"] == HOSTILE_TITLE]
        if not found:
            raise AssertionError("the proposal is not on chain")
        proposal_id = found[-1]["id"]
        for node, option in zip(nodes, ["yes", "no"]):
            cls.gonka("tx", "gov", "vote", str(proposal_id), option, "--home", node["home"], "--from", "validator",
                      "--node", cls.rpc)
        return proposal_id

    @classmethod
    def one_inference(cls):
        body = json.dumps({"model": cls.get(cls.proxy + "/v1/models")["data"][0]["id"],
                           "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 8})
        request = urllib.request.Request(cls.proxy + "/v1/chat/completions", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=180) as response:
            inference_id = response.headers["x-gonka-inference-id"]
            json.load(response)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = cls.get(cls.rpc + "/query/inference/" + inference_id)["value"]
            if record and record["status"] != "STARTED" and record["finish_height"] > 0:
                return inference_id
            time.sleep(0.5)
        raise AssertionError("inference %s not finished on chain in 60 s" % inference_id)

    @classmethod
    def start_local_explorer(cls):
        cls.explorer_log = open(os.path.join(cls.directory, "explorer.log"), "w+")
        cls.explorer = subprocess.Popen([cls.binary, "explorer", "--node", cls.rpc, "--port", "0"],
                                        stdout=cls.explorer_log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and cls.explorer.poll() is None:
            with open(cls.explorer_log.name) as f:
                match = re.search(r"^explorer of \S+ listening on (http://\S+?)/?$", f.read(), re.M)
            if match:
                cls.local = match.group(1)
                return
            time.sleep(0.1)
        with open(cls.explorer_log.name) as f:
            raise AssertionError("gonka explorer did not start:\n" + f.read())

    @classmethod
    def tearDownClass(cls):
        if cls.browser:
            cls.browser.close()
        if cls.explorer:
            cls.explorer.terminate()
            try:
                cls.explorer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.explorer.kill()
            cls.explorer_log.close()
        if cls.directory:
            if os.path.exists(os.path.join(cls.directory, "devnet", "devnet.json")):
                subprocess.run([cls.binary, "devnet", "down", "--dir", os.path.join(cls.directory, "devnet")],
                               capture_output=True, timeout=60)
            shutil.rmtree(cls.directory, ignore_errors=True)

    @staticmethod
    def get(url):
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)

    def status_of(self, url):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def load(self, path, shot, base=None):
        """Opens `path` in a new tab, saves its screenshot, checks it logged no problem; the tab."""
        page = self.browser.open((base or self.api) + path)
        page.screenshot(os.path.join(self.shots, shot + ".png"))
        self.assertEqual(page.problems(), [], path)
        self.assertFalse(page.eval("window.pwned === 1"), path)
        # The only script is the node's own live.js.
        self.assertEqual(page.eval("[...document.scripts].map(s => new URL(s.src).pathname)"),
                         ["/explorer/live.js"], path)
        return page

    def text(self, page, selector):
        return page.eval("(document.querySelector(%s) || {}).textContent" % json.dumps(selector))

    def test_1_overview(self):
        # The height shown is the chain's at some moment of the page's load: between the node's
        # answers just before and just after it.
        before = self.get(self.rpc + "/status")["height"]
        page = self.load("/", "overview")
        shown = int(self.text(page, "#height").replace(",", ""))
        after = self.get(self.rpc + "/status")["height"]
        self.assertTrue(before <= shown <= after, "shown %d, chain %d…%d" % (shown, before, after))
        epoch = self.get(self.rpc + "/query/epoch")["value"]
        self.assertEqual(self.text(page, "#epoch"), str(epoch["epoch"]))
        participants = self.get(self.rpc + "/query/participants")["value"]
        self.assertEqual(self.text(page, "#participant-count"), str(len(participants)))
        self.assertEqual(self.text(page, "#total-weight"), grouped(sum(p["weight"] for p in participants)))
        models = self.get(self.rpc + "/query/models")["value"]
        self.assertIn(models[0]["id"], self.text(page, "#models"))
        # Live: the height moves on without a reload, from the node's event stream.
        moved = page.wait_for("parseInt(document.getElementById('height').textContent.replace(/,/g, '')) > %d"
                              % shown, timeout=60)
        self.assertTrue(moved, "the height did not move on in 60 s")
        self.assertEqual(page.eval("document.getElementById('live-status').className"), "dot on")
        self.assertEqual(page.problems(), [])
        page.screenshot(os.path.join(self.shots, "overview-live.png"))
        page.close()

    def test_2_participants(self):
        page = self.load("/explorer/participants", "participants")
        participants = self.get(self.rpc + "/query/participants")["value"]
        self.assertGreaterEqual(len(participants), 3)
        for p in participants:
            row = "tr[data-address='%s'] " % p["address"]
            self.assertEqual(self.text(page, row + ".weight"), grouped(p["weight"]), p["address"])
            self.assertEqual(self.text(page, row + ".status"), p["status"], p["address"])
            self.assertEqual(self.text(page, row + ".power"), grouped(p["validator_power"]), p["address"])
            collateral = self.get(self.rpc + "/query/collateral/" + p["address"])["value"]
            self.assertEqual(self.text(page, row + ".collateral"), collateral["deposit"], p["address"])
            self.assertEqual(self.text(page, row + ".jailed"), self.jail_text(collateral), p["address"])
        deposits = [self.get(self.rpc + "/query/collateral/" + p["address"])["value"]["deposit"] for p in participants]
        self.assertTrue(any(d != "0ngonka" for d in deposits), deposits)
        # Each devnet node's API node answers its /health; the hostile URL is never probed.
        with open(os.path.join(self.devnet, "devnet.json")) as f:
            api_urls = {"http://127.0.0.1:%d" % n["api_port"] for n in json.load(f)["nodes"]}
        probed = [p for p in participants if p["url"].rstrip("/") in api_urls]
        self.assertGreaterEqual(len(probed), 2)
        for p in probed:
            health = self.text(page, "tr[data-address='%s'] .health" % p["address"])
            self.assertRegex(health, r"^ok, \d+ ms$", p["address"])
        self.assertEqual(self.text(page, "tr[data-address='%s'] .health" % self.hostile), "—")
        # The hostile URL is text in its cell, not markup.
        self.assertEqual(self.text(page, "tr[data-address='%s'] .url" % self.hostile), HOSTILE_URL)
        page.close()
        for i, p in enumerate(participants):
            page = self.load("/explorer/participant/" + p["address"], "participant-%d" % i)
            self.assertEqual(self.text(page, "#weight"), grouped(p["weight"]))
            self.assertEqual(self.text(page, "#status"), p["status"])
            self.assertEqual(self.text(page, "#url"), p["url"])
            collateral = self.get(self.rpc + "/query/collateral/" + p["address"])["value"]
            self.assertEqual(self.text(page, "#collateral"), collateral["deposit"])
            self.assertEqual(self.text(page, "#jailed"), self.jail_text(collateral))
            page.close()

    @staticmethod
    def jail_text(collateral):
        if collateral["tombstoned"]:
            return "tombstoned"
        return "jailed until %d" % collateral["jailed_until"] if collateral["jailed"] else "no"

    def test_3_inference(self):
        page = self.load("/explorer/inference/" + self.inference_id, "inference")
        record = self.get(self.rpc + "/query/inference/" + self.inference_id)["value"]
        self.assertEqual(self.text(page, "#cost"), record["cost"])
        self.assertEqual(self.text(page, "#refund"), record["refund"])
        self.assertEqual(self.text(page, "#status"), record["status"])
        self.assertIn(record["executor"], self.text(page, "#executor"))
        page.close()

    def test_4_blocks_and_txs(self):
        page = self.load("/explorer/blocks", "blocks")
        self.assertGreater(page.eval("document.querySelectorAll('#blocks tbody tr').length"), 1)
        page.close()
        record = self.get(self.rpc + "/query/inference/" + self.inference_id)["value"]
        height = record["start_height"]
        page = self.load("/explorer/block/%d" % height, "block")
        self.assertEqual(self.text(page, "#block-height"), str(height))
        block = self.get(self.rpc + "/block/%d" % height)
        self.assertEqual(page.eval("document.querySelectorAll('#txs tbody a').length"), len(block["txs"]))
        page.close()
        tx = block["txs"][0]["hash"]
        page = self.load("/explorer/tx/" + tx, "tx")
        result = self.get(self.rpc + "/tx/" + tx)
        self.assertEqual(self.text(page, "#tx-code"), "success" if result["code"] == 0 else
                         "failed (code %d)" % result["code"])
        page.close()

    def proposal_now(self):
        return self.get(self.rpc + "/query/proposal/%d" % self.proposal_id)["value"]

    def test_4b_proposals(self):
        """The proposals page and the proposal's page show the chain's status, deposit and tally
        (its answers just before and just after the load agree, else the load is retried: the vote
        may close meanwhile); the script in the title is text."""
        for attempt in range(3):
            before = self.proposal_now()
            page = self.load("/explorer/proposals", "proposals")
            after = self.proposal_now()
            if before == after:
                break
            page.close()
        detail = after
        tally, proposal = detail["tally"], detail["proposal"]
        self.assertGreater(tally["yes"], 0)
        self.assertGreater(tally["no"], 0)
        row = "tr[data-proposal='%d'] " % self.proposal_id
        self.assertEqual(self.text(page, row + ".title"), HOSTILE_TITLE)
        self.assertEqual(self.text(page, row + ".status"), proposal["status"])
        self.assertEqual(self.text(page, row + ".deposit"), proposal["total_deposit"])
        self.assertEqual(self.text(page, row + ".voting-end"), str(proposal["voting_end_height"]))
        total = tally["total_power"]
        for option, key in [("yes", "yes"), ("no", "no"), ("abstain", "abstain"), ("veto", "no_with_veto")]:
            self.assertEqual(self.text(page, row + "." + option),
                             "%s %s" % (grouped(tally[key]), percent(tally[key], total)), option)
        page.close()
        page = self.load("/explorer/proposal/%d" % self.proposal_id, "proposal")
        self.assertEqual(self.text(page, "#title"), HOSTILE_TITLE)
        self.assertEqual(self.text(page, "#summary"), "<b>not bold</b>")
        self.assertEqual(self.text(page, "#total-power"), grouped(total))
        self.assertEqual(self.text(page, "#tally .yes-share"), percent(tally["yes"], total))
        self.assertEqual(self.text(page, "#tally .no-share"), percent(tally["no"], total))
        self.assertEqual(page.eval("document.querySelectorAll('#votes tbody a').length"), len(detail["votes"]))
        # Live: node 1 changes its vote to abstain; the open page's tally follows without a reload.
        if proposal["status"] == "voting_period" and detail["blocks_left"] > 10:
            with open(os.path.join(self.devnet, "devnet.json")) as f:
                node1 = json.load(f)["nodes"][1]
            self.gonka("tx", "gov", "vote", str(self.proposal_id), "abstain", "--home", node1["home"], "--from",
                       "validator", "--node", self.rpc)
            moved = page.wait_for("document.querySelector('#tally .abstain').textContent !== '0'", timeout=30)
            self.assertTrue(moved, "the tally did not follow the new vote in 30 s")
            now = self.proposal_now()["tally"]
            self.assertEqual(self.text(page, "#tally .abstain"), grouped(now["abstain"]))
            self.assertEqual(self.text(page, "#tally .no"), grouped(now["no"]))
            self.assertEqual(page.problems(), [])
            page.screenshot(os.path.join(self.shots, "proposal-live.png"))
        page.close()

    def test_5_bad_input_pages(self):
        tip = self.get(self.rpc + "/status")["height"]
        stranger = "gonka1" + "q" * 38
        cases = [
            ("/explorer/participant/" + self.any_unregistered_address(), 404, "Unknown participant", "404-participant"),
            ("/explorer/participant/" + stranger, 400, "Not an address", "400-address"),
            ("/explorer/inference/not-an-id", 400, "Not an inference id", "400-inference"),
            ("/explorer/block/%d" % (tip + 100000), 404, "No such block", "404-block"),
            ("/explorer/blocks?q=" + "x" * 20000, 400, "Request too long", "400-long-query"),
            ("/explorer/proposal/%d" % (self.proposal_id + 1000), 404, "Unknown proposal", "404-proposal"),
            ("/explorer/proposal/x1", 400, "Not a proposal id", "400-proposal"),
        ]
        for path, code, says, shot in cases:
            status, body = self.status_of(self.api + path)
            self.assertEqual(status, code, path[:80])
            self.assertIn(says, body)
            page = self.browser.open(self.api + path)
            page.screenshot(os.path.join(self.shots, shot + ".png"))
            self.assertIn(says, self.text(page, "#error"))
            # The document's own 4xx is the one error the browser may log.
            problems = [p for p in page.problems() if not (p[0] == "network" and p[2].startswith(self.api + path[:40]))]
            self.assertEqual(problems, [], path[:80])
            page.close()

    def any_unregistered_address(self):
        # The faucet is an account, not a participant.
        with open(os.path.join(self.devnet, "devnet.json")) as f:
            manifest = json.load(f)
        faucet = manifest["faucet"]
        return faucet if isinstance(faucet, str) else faucet.get("address")

    def test_6_local_explorer(self):
        """`gonka explorer --node RPC` serves the same pages from its own port."""
        page = self.load("/", "local-overview", base=self.local)
        self.assertEqual(self.text(page, "#chain-id"), self.get(self.rpc + "/status")["chain_id"])
        page.close()
        page = self.load("/explorer/participants", "local-participants", base=self.local)
        self.assertEqual(self.text(page, "tr[data-address='%s'] .url" % self.hostile), HOSTILE_URL)
        page.close()

    def test_7_metrics(self):
        """The chain node's and the API nodes' `/metrics`, read by the Prometheus text parser."""
        import metrics_check
        with open(os.path.join(self.devnet, "devnet.json")) as f:
            nodes = json.load(f)["nodes"]
        chain = metrics_check.families(self.rpc + "/metrics")
        metrics_check.check(self, chain, {
            "gonka_height": "gauge", "gonka_round": "gauge", "gonka_peers": "gauge", "gonka_mempool_size": "gauge",
            "gonka_catching_up": "gauge", "gonka_txs_committed": "counter", "gonka_txs_failed": "counter",
            "gonka_consensus_block_interval_seconds": "histogram", "gonka_consensus_missing_validators": "gauge",
            "gonka_consensus_missing_validators_power": "gauge",
            "gonka_consensus_block_processing_seconds": "histogram",
        }, "chain node")
        self.assertGreater(chain["gonka_height"].samples[0].value, 0)
        apis = [metrics_check.families("http://127.0.0.1:%d/metrics" % n["api_port"]) for n in nodes]
        merged = {}
        for found in apis:
            for name, family in found.items():
                merged.setdefault(name, family)
        metrics_check.check(self, merged, {
            "gonka_api_http_requests": "counter", "gonka_api_requests": "counter",
            "gonka_api_time_to_first_token_seconds": "histogram",
            "gonka_api_e2e_request_latency_seconds": "histogram",
            "gonka_api_request_outcome": "counter", "gonka_api_tx_queue_depth": "gauge",
            "gonka_api_tx_queue_oldest_age_seconds": "gauge",
            # The embedded ML node's families, in its API node's exposition.
            "gonka_mlnode_requests_running": "gauge", "gonka_mlnode_kv_cache_usage_perc": "gauge",
            "gonka_mlnode_generation_tokens": "counter", "gonka_mlnode_time_to_first_token_seconds": "histogram",
        }, "API nodes")
        # Every request the devnet served ended once per role; the ones above completed.
        completed = set()
        for found in apis:
            family = found.get("gonka_api_request_outcome")
            for sample in family.samples if family else []:
                if sample.labels["outcome"] == "completed" and sample.value > 0:
                    completed.add(sample.labels["role"])
        self.assertEqual(completed, {"ta", "executor"})
        roles = set()
        for found in apis:
            if "gonka_api_e2e_request_latency_seconds" in found:
                roles |= {s.labels["role"] for s in found["gonka_api_e2e_request_latency_seconds"].samples}
        self.assertEqual(roles, {"ta", "executor"})
        routes = {s.labels.get("route") for s in apis[0]["gonka_api_http_requests"].samples}
        self.assertIn("/explorer", routes)
        proxy = metrics_check.families(self.proxy + "/metrics")
        metrics_check.check(self, proxy, {
            "gonka_proxy_requests": "counter", "gonka_proxy_upstream_latency_seconds": "histogram",
        }, "proxy")
        statuses = {s.labels["status"] for s in proxy["gonka_proxy_requests"].samples}
        self.assertIn("200", statuses)


if __name__ == "__main__":
    unittest.main()
