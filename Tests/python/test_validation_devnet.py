"""Inference validation on a devnet of real processes, seen through the official `openai` client
(PROTOCOL §7, issue 15): `gonka devnet up` with four participants, two honest and two serving a
cheating copy of the model under the registered id (`--node-model`): node 2 a more coarsely
quantised copy (4-bit weights snapped to 3-bit levels), node 3 the model without 4 of its layers.

Traffic goes client → `gonka proxy` → node 0's Transfer Agent → a drawn executor. Every API node's
validation worker checks what its secret seed obliges it to; failures go to a revalidation vote.
The test sends requests until both cheaters are INVALID (or a deadline), then checks:
* each cheater is INVALID, out of the executor pool, and gets no more requests;
* every inference that was INVALIDATED was refunded in full, and the developer's balance is the
  genesis balance minus exactly the cost of the inferences that were not;
* no honest participant has a confirmed invalidation.

Long form (`GONKA_E2E=1`, `make e2e`): more honest traffic after the convictions, and the honest
nodes' every check passed. Run alone with:
    GONKA_BIN=.build/debug/gonka python3 -m unittest Tests/python/test_validation_devnet.py -v
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import openai

PROMPTS = [
    "Name a colour.", "Count to five.", "Say hello in French.", "Name a fruit.", "What is two plus two?",
    "Name a planet.", "Write a short greeting.", "Name an animal.", "What is the capital of Italy?",
    "Name a month.", "Give me a number.", "Name a city in Japan.",
]


def model_path():
    explicit = os.environ.get("GONKA_MODEL")
    if explicit:
        return explicit
    return os.path.expanduser("~/.cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf")


class ValidationDevnetTest(unittest.TestCase):
    directory = None
    binary = None

    def gonka(self, *args, timeout=60):
        out = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError("gonka %s failed:\n%s%s" % (" ".join(args), out.stdout, out.stderr))
        return out.stdout

    def query(self, *args):
        return json.loads(self.gonka("query", *args, "--node", self.rpc, "--json"))

    @classmethod
    def setUpClass(cls):
        cls.binary = os.environ.get("GONKA_BIN")
        if not cls.binary or not os.access(cls.binary, os.X_OK):
            raise unittest.SkipTest("GONKA_BIN does not name the built gonka binary")
        if not os.path.exists(model_path()):
            raise unittest.SkipTest("no model at " + model_path())
        cls.directory = tempfile.mkdtemp(prefix="gonka-validation-test-")
        cheats = os.path.join(cls.directory, "cheats")
        try:
            q3 = subprocess.run(
                [cls.binary, "bench", "cheat-model", "q3", "--model", model_path(), "--out", cheats],
                capture_output=True, text=True, timeout=300, check=True).stdout.strip()
            layers = subprocess.run(
                [cls.binary, "bench", "cheat-model", "minus-layers", "--layers", "4", "--model", model_path(),
                 "--out", cheats],
                capture_output=True, text=True, timeout=300, check=True).stdout.strip()
            cls.devnet = os.path.join(cls.directory, "devnet")
            out = subprocess.run(
                [cls.binary, "devnet", "up", "--dir", cls.devnet, "--participants", "4", "--model", model_path(),
                 "--node-model", "2=" + q3, "--node-model", "3=" + layers],
                capture_output=True, text=True, timeout=300)
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as error:
            cls.tearDownClass()
            raise AssertionError("setup failed: %s" % error)
        if out.returncode != 0:
            cls.tearDownClass()
            raise AssertionError("devnet up failed:\n" + out.stdout + out.stderr)
        with open(os.path.join(cls.devnet, "devnet.json")) as f:
            manifest = json.load(f)
        cls.rpc = manifest["nodes"][0]["rpc_url"]
        cls.accounts = [node["account_address"] for node in manifest["nodes"]]
        cls.developer = manifest["proxy"]["address"]
        cls.client = openai.OpenAI(
            base_url="http://127.0.0.1:%d/v1" % manifest["proxy"]["port"], api_key="unused", max_retries=0,
            timeout=180)
        cls.model = cls.client.models.list().data[0].id

    @classmethod
    def tearDownClass(cls):
        if cls.directory:
            devnet = os.path.join(cls.directory, "devnet")
            if os.path.exists(os.path.join(devnet, "devnet.json")):
                subprocess.run([cls.binary, "devnet", "down", "--dir", devnet], capture_output=True, timeout=60)
            if not getattr(cls, "passed", True):
                # A failed run keeps its devnet (the nodes' logs) to look into.
                print("validation devnet: kept in %s (each node's log is devnet/nodeN/node.log; remove the "
                      "directory when done)" % cls.directory)
            else:
                shutil.rmtree(cls.directory, ignore_errors=True)

    def ask(self, i):
        """One request (greedy or sampled, short or longer); returns (inference id, executor)."""
        sampled = i % 2 == 1
        raw = self.client.chat.completions.with_raw_response.create(
            model=self.model, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            max_tokens=4 + (i * 5) % 20, temperature=1.0 if sampled else 0, seed=i if sampled else None)
        response = raw.parse()
        self.assertTrue(response.choices)
        return raw.headers.get("x-gonka-inference-id"), raw.headers.get("x-gonka-executor")

    def rpc_value(self, path):
        with urllib.request.urlopen(self.rpc + "/query/" + path, timeout=30) as response:
            return json.load(response)["value"]

    def standings(self):
        """Each participant's validation standing over every epoch so far (INVALID in any epoch
        counts, with the epochs it was INVALID in; invalidations are summed), by address."""
        current = self.rpc_value("validation_epoch")["epoch"]
        out = {}
        for epoch in range(0, current + 1):
            for p in self.rpc_value("validation_epoch/%d" % epoch)["participants"]:
                seen = out.setdefault(p["address"], {"status": "active", "invalidated": 0, "invalid_in": set()})
                seen["invalidated"] += p["invalidated"]
                if p["status"] == "INVALID":
                    seen["status"] = "INVALID"
                    seen["invalid_in"].add(epoch)
        return out

    def pool(self):
        """The executor pool's epoch and addresses."""
        executors = self.query("executors", "--model", self.model)
        return executors["epoch"], {c["address"] for c in executors["candidates"]}

    def settled(self, ids):
        """Waits until no inference is STARTED or VOTING (votes decide within 20 blocks). A record
        still missing after that is a request whose Start the chain refused: drawn by a Transfer
        Agent from a pool one block old, for an executor the block before had just made INVALID
        (nothing is charged for it)."""
        deadline = time.time() + 120
        while True:
            records = [self.rpc_value("inference/" + i) for i in ids]
            open_ = [r for r in records if r is None or r["status"] in ("STARTED", "AWAITING_START", "VOTING")]
            if not open_ or time.time() > deadline:
                return records
            if all(r is None for r in open_) and time.time() > deadline - 100:
                return records
            time.sleep(2)

    def test_cheaters_are_convicted_and_refunded_and_honest_hosts_are_not(self):
        type(self).passed = False
        long_form = os.environ.get("GONKA_E2E") == "1"
        cheaters = {self.accounts[2], self.accounts[3]}
        honest = {self.accounts[0], self.accounts[1]}
        sent = []
        deadline = time.time() + (900 if long_form else 600)
        convicted = set()
        i = 0
        while convicted != cheaters and time.time() < deadline:
            sent.append(self.ask(i))
            i += 1
            if i % 3 == 0:
                standing = self.standings()
                convicted = {a for a in cheaters if standing.get(a, {}).get("status") == "INVALID"}
        self.assertEqual(convicted, cheaters, "both cheaters INVALID after %d requests" % i)
        # Out of the executor pool at once: no candidate, and no more requests for them. INVALID
        # holds for the epoch of the verdict (§7.4): a cheater comes back with the next epoch's PoC
        # weight, so each is checked against the pool of an epoch it is INVALID in (on a slow
        # machine the next epoch may have begun; then that cheater is not checked).
        invalid_in = {a: self.standings()[a]["invalid_in"] for a in cheaters}
        epoch, pool = self.pool()
        out = {a for a in cheaters if epoch in invalid_in[a]}
        self.assertFalse(pool & out, "INVALID participants left the executor pool")
        after = [self.ask(i + k) for k in range(8 if long_form else 3)]
        if self.pool()[0] == epoch:
            self.assertFalse({executor for _, executor in after} & out)
        if out != cheaters:
            print("validation devnet: epoch %d began after a verdict; checked out of its pool: %s" % (epoch, out))
        sent += after
        # Refunds: every INVALIDATED inference returned its whole escrow; the developer paid exactly
        # the cost of the others.
        records = self.settled([inference_id for inference_id, _ in sent])
        paid = 0
        invalidated = {a: 0 for a in self.accounts}
        for (inference_id, executor), r in zip(sent, records):
            if r is None:
                self.assertIn(executor, cheaters, "only a just-convicted executor's Start may be refused")
                continue
            escrow, refund = int(r["escrow"].rstrip("ngonka")), int(r["refund"].rstrip("ngonka"))
            if r["status"] == "INVALIDATED":
                self.assertEqual(refund, escrow, "an invalidated inference is refunded in full")
                invalidated[r["executor"]] += 1
            paid += escrow - refund
        self.assertGreater(sum(invalidated[a] for a in cheaters), 0)
        self.assertEqual(sum(invalidated[a] for a in honest), 0, "no honest inference was invalidated")
        balance = self.rpc_value("balance/" + self.developer)
        genesis = 10_000 * 10**9
        self.assertEqual(int(str(balance["amount"]).rstrip("ngonka")), genesis - paid)
        # No honest participant has a confirmed invalidation; the cheaters have theirs.
        standing = self.standings()
        for address in honest:
            self.assertEqual(standing[address]["invalidated"], 0, address)
            self.assertEqual(standing[address]["status"], "active", address)
        print("validation devnet: %d requests, cheaters convicted, invalidated %s" % (len(sent), invalidated))
        type(self).passed = True


if __name__ == "__main__":
    unittest.main()
