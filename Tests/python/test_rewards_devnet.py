"""Money on a devnet of real processes (PROTOCOL §8, issue 16): `gonka devnet up --short-epochs`
(40-block epochs) with four participants, traffic from the official `openai` client through
`gonka proxy`, and node 3 stopped during epoch 1 (before sprint 2, so it also loses its weight
from epoch 2 on). The test waits until epoch 2 is settled and checks:

* issuance: every settled epoch's R(e) equals R0 * exp(-0.000475 (e - 1)) floored, computed here
  with Python's decimal at 50 digits; the mining pool paid out exactly the settlements' reward
  coins (minus the fees it took in); nothing is minted after genesis;
* each running participant's balance is its genesis balance plus exactly the settlements it
  claimed (the API nodes claim on their own); node 3's settlements are burned, never paid to
  anyone else;
* the training fund holds exactly 20% (floored per executor and epoch) of the settled inference
  costs, recomputed from the inference records of every request this test sent;
* at every height checked, the `inference` account holds exactly the escrow of open inferences plus
  the cost of finished inferences of unsettled epochs;
* attacks do not pay: the others' epoch-1 rewards are exactly their weight's share of R(1) + fees
  over a W_ref that still counts node 3 (what they would get with it online), node 3's share is
  burned, not paid to anyone, and epoch 2's W_ref falls by at most reference_decay;
* `gonka query supply` shows the pools.

Run alone with:
    GONKA_BIN=.build/debug/gonka python3 -m unittest Tests/python/test_rewards_devnet.py -v
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
from decimal import Decimal, getcontext, ROUND_FLOOR

import openai

from shared_devnet import binary_or_skip, model_path

GNK = 10**9
R0 = 323_000 * GNK
PROMPTS = ["Name a colour.", "Count to three.", "Say hello.", "Name a fruit.", "Name a planet."]


def issuance(epoch):
    """R(e) of §8.2, independently: 50-digit decimal, floored."""
    if epoch < 1:
        return 0
    getcontext().prec = 50
    x = Decimal(-475) * Decimal(epoch - 1) / Decimal(10**6)
    return int((Decimal(R0) * x.exp()).to_integral_value(rounding=ROUND_FLOOR))


def ngonka(text):
    return int(str(text).rstrip("ngonka"))


class RewardsDevnetTest(unittest.TestCase):
    directory = None
    binary = None

    @classmethod
    def setUpClass(cls):
        cls.binary = binary_or_skip()
        cls.directory = tempfile.mkdtemp(prefix="gonka-rewards-test-")
        cls.devnet = os.path.join(cls.directory, "devnet")
        out = subprocess.run(
            [cls.binary, "devnet", "up", "--dir", cls.devnet, "--participants", "4", "--model", model_path(),
             "--short-epochs"],
            capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            cls.tearDownClass()
            raise AssertionError("devnet up failed:\n" + out.stdout + out.stderr)
        with open(os.path.join(cls.devnet, "devnet.json")) as f:
            cls.manifest = json.load(f)
        cls.rpc = cls.manifest["nodes"][0]["rpc_url"]
        cls.accounts = [node["account_address"] for node in cls.manifest["nodes"]]
        cls.client = openai.OpenAI(
            base_url="http://127.0.0.1:%d/v1" % cls.manifest["proxy"]["port"], api_key="unused", max_retries=2,
            timeout=120)
        cls.model = cls.client.models.list().data[0].id

    @classmethod
    def tearDownClass(cls):
        if cls.directory:
            if os.path.exists(os.path.join(cls.devnet, "devnet.json")):
                subprocess.run([cls.binary, "devnet", "down", "--dir", cls.devnet], capture_output=True, timeout=60)
            shutil.rmtree(cls.directory, ignore_errors=True)

    # --- chain reads ---

    def rpc_value(self, path, height=None):
        url = self.rpc + "/query/" + path + ("?height=%d" % height if height is not None else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = json.load(response)
        return answer["value"], answer["height"]

    def height(self):
        with urllib.request.urlopen(self.rpc + "/status", timeout=30) as response:
            return json.load(response)["height"]

    def wait_for(self, what, condition, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(2)
        self.fail("timed out waiting for " + what + " at height %d" % self.height())

    def settled(self, epoch):
        info, _ = self.rpc_value("settlement/%d" % epoch)
        return info if info["settled"] else None

    def check_inference_account(self, sent_ids):
        """The §8.3 invariant, seen from outside at one height: the inference account holds the
        escrow of open inferences plus the cost of finished ones of unsettled epochs, and the
        latter equals what this test's own records say."""
        supply, h = self.rpc_value("supply")
        r = supply["rewards"]
        self.assertEqual(r["modules"]["inference"], r["open_escrow"] + r["unsettled_cost"], "height %d" % h)
        unsettled = 0
        open_escrow = 0
        for inference_id in sent_ids:
            record, _ = self.rpc_value("inference/" + inference_id, height=h)
            if record is None:
                continue
            if record["status"] in ("STARTED",):
                open_escrow += ngonka(record["escrow"])
            elif record["status"] in ("FINISHED", "VALIDATED", "VOTING") and record["epoch"] >= r["next_epoch"]:
                unsettled += ngonka(record["cost"])
        self.assertEqual(r["unsettled_cost"], unsettled, "unsettled cost at height %d" % h)
        self.assertEqual(r["open_escrow"], open_escrow, "open escrow at height %d" % h)
        return h

    # --- the test ---

    def test_money_flows_by_the_rules(self):
        genesis = {a: ngonka(self.rpc_value("balance/" + a)[0]["amount"]) for a in self.accounts}
        supply0, _ = self.rpc_value("supply")
        sent = []
        stop = threading.Event()
        # Traffic pauses while node 3 is killed: a request in flight through node 3 as the proxy's
        # Transfer Agent can be executed and Finished by another node while its client only sees
        # the TA die (the proxy then re-signs it to another TA), so it is paid for on chain under
        # an id this test never learns, and the sums below would miss it (issue 22's soak is where
        # faults under traffic are accounted). `idle` is set while no request is in flight.
        pause = threading.Event()
        idle = threading.Event()

        def traffic():
            i = 0
            while not stop.is_set():
                if pause.is_set():
                    idle.set()
                    stop.wait(0.2)
                    continue
                idle.clear()
                try:
                    raw = self.client.chat.completions.with_raw_response.create(
                        model=self.model, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                        max_tokens=4 + i % 6, temperature=0)
                    inference_id = raw.headers.get("x-gonka-inference-id")
                    if inference_id:
                        sent.append(inference_id)
                except openai.APIError:
                    pass  # a request drawn to the stopped node may fail after its attempts
                i += 1
                stop.wait(1.5)

        # Each epoch's inference records as they stood when it settled: the chain prunes them when
        # the epoch's claim window closes (§8.4, one epoch later), and the training-fund check
        # below recomputes the settlement from them.
        at_settlement = {}

        def note_settlements():
            next_epoch = self.rpc_value("supply")[0]["rewards"]["next_epoch"]
            for e in range(next_epoch):
                if e in at_settlement:
                    continue
                records = {}
                for inference_id in list(sent):
                    record, _ = self.rpc_value("inference/" + inference_id)
                    if record and record["epoch"] == e:
                        records[inference_id] = record
                at_settlement[e] = records

        worker = threading.Thread(target=traffic, daemon=True)
        worker.start()
        try:
            # Epoch 1 begins at 73 (switch 72 + 1); node 3 dies at once (SIGKILL: a graceful stop
            # could still mine sprint 2 at P = 80).
            # The pause starts a few blocks early, so that the kill itself is not delayed by a
            # request in flight.
            self.wait_for("the end of epoch 0", lambda: self.height() >= 66, 240)
            pause.set()
            self.assertTrue(idle.wait(180), "the traffic thread did not pause")
            self.wait_for("epoch 1", lambda: self.rpc_value("validation_epoch")[0]["epoch"] >= 1, 240)
            os.kill(self.manifest["nodes"][3]["pid"], signal.SIGKILL)
            pause.clear()
            checked = [self.check_inference_account(list(sent))]
            # Epoch 1 settles when epoch 3 begins (153), epoch 2 when epoch 4 begins (193).
            self.wait_for("epoch 1 settled", lambda: note_settlements() or self.settled(1), 400)
            checked.append(self.check_inference_account(list(sent)))
            self.wait_for("epoch 2 settled", lambda: note_settlements() or self.settled(2), 300)
        finally:
            stop.set()
            worker.join(timeout=180)
        # Node 3's epoch-1 settlement burns when epoch 4 begins; the others have claimed theirs.
        running = self.accounts[:3]

        def claims_done():
            note_settlements()
            for e in (0, 1, 2):
                for s in self.settled(e)["settlements"]:
                    if s["address"] in running and s["status"] == "pending":
                        return False
            return all(s["status"] != "pending" for s in self.settled(1)["settlements"])
        self.wait_for("claims", claims_done, 120)
        checked.append(self.check_inference_account(list(sent)))
        self.assertGreater(len(sent), 20, "traffic reached the chain")

        epochs = [self.settled(e) for e in (0, 1, 2)]
        supply, _ = self.rpc_value("supply")
        r = supply["rewards"]
        note_settlements()
        # Issuance: exact, out of the pool, nothing minted after genesis.
        for e, info in enumerate(epochs):
            self.assertEqual(info["issuance"], issuance(e), "R(%d)" % e)
        self.assertEqual(ngonka(supply["minted"]), ngonka(supply0["minted"]))
        self.assertEqual(ngonka(supply["minted"]), 1_000_000_000 * GNK)
        settled_all = [self.settled(e) for e in range(r["next_epoch"])]
        paid = sum(info["reward_paid"] for info in settled_all)
        fees = sum(info["fees"] for info in settled_all)
        self.assertEqual(r["reward_issued"], paid)
        self.assertEqual(r["modules"]["mining_pool"], 680_000_000 * GNK + fees - paid)
        # Balances: genesis + exactly what each claimed; node 3 got nothing after it stopped.
        for address in self.accounts:
            claimed = 0
            for info in settled_all:
                for s in info["settlements"]:
                    if s["address"] == address and s["status"] == "claimed":
                        claimed += s["reward"] + s["work"]
            balance = ngonka(self.rpc_value("balance/" + address)[0]["amount"])
            self.assertEqual(balance, genesis[address] + claimed, address)
        node3 = [s for s in epochs[1]["settlements"] if s["address"] == self.accounts[3]]
        self.assertEqual(len(node3), 1)
        self.assertEqual((node3[0]["status"], node3[0]["reason"]), ("burned", "unclaimed"))
        for address in running:
            s = [s for s in epochs[1]["settlements"] if s["address"] == address][0]
            self.assertEqual(s["status"], "claimed", address)
        # Training fund: 20% of the settled costs, floored per executor and epoch, from our records.
        earned = {}
        for e in range(r["next_epoch"]):
            for record in at_settlement[e].values():
                if record["status"] in ("FINISHED", "VALIDATED"):
                    key = (record["epoch"], record["executor"])
                    earned[key] = earned.get(key, 0) + ngonka(record["cost"])
        training = sum(cost // 5 for cost in earned.values())
        self.assertGreater(training, 0)
        self.assertEqual(r["modules"]["training_fund"], training)
        self.assertEqual(sum(info["training_fund"] for info in settled_all), training)
        # Attacks do not pay. Epoch 1: W_ref still counts node 3, so the others get their share of
        # everything as if it were online, and its share stays unpaid (burned), not redistributed.
        e1 = epochs[1]
        self.assertEqual(e1["reference_weight"], e1["total_weight"])
        for s in e1["settlements"]:
            self.assertEqual(s["reward"], (e1["issuance"] + e1["fees"]) * s["weight"] // e1["reference_weight"])
        # Epoch 2: W_ref(2) = max(W(2), 0.9 W_ref(1)) and every reward is its weight's share over
        # it. (When sprint 2 produces weights without node 3, W falls by its quarter and W_ref by
        # 10%; on a loaded 2-core machine the sprint may end "kept", every weight unchanged. The
        # bound itself is a ledger test: theDenominatorFallsAtMostReferenceDecayPerEpoch.)
        e2 = epochs[2]
        self.assertEqual(e2["reference_weight"], max(e2["total_weight"], e1["reference_weight"] * 9 // 10))
        self.assertLessEqual(e1["reference_weight"] * 9 // 10, e2["reference_weight"])
        for s in e2["settlements"]:
            self.assertEqual(s["reward"], (e2["issuance"] + e2["fees"]) * s["weight"] // e2["reference_weight"])
        # The CLI shows it.
        text = subprocess.run(
            [self.binary, "query", "supply", "--node", self.rpc], capture_output=True, text=True, timeout=30).stdout
        self.assertIn("mining_pool", text)
        self.assertIn("training fund", text)
        print("rewards devnet: %d requests, checked heights %s, reward issued %d, training fund %d"
              % (len(sent), checked, r["reward_issued"], training))


if __name__ == "__main__":
    unittest.main()
