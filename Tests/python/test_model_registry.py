"""The model registry governed on chain (PROTOCOL §10.4, issue 17), seen through the official
`openai` client on the shared devnet (shared_devnet.py): a `RegisterModel` proposal that both
participants vote for makes a new model id servable through the network — once the API nodes have an
ML node reporting that id (added through their loopback admin API), the client lists it and a chat
completion naming it goes client → proxy → Transfer Agent → drawn executor → that ML node, and the
chain records the inference under the new id. A `RetireModel` proposal then removes it: the client no
longer lists it and a request naming it is refused with 404.

Run alone with:
    GONKA_BIN=.build/debug/gonka python3 -m unittest discover -s Tests/python -p test_model_registry.py -v
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import openai

import shared_devnet

# Sorts after the devnet's own id, so clients that take the first listed model keep theirs.
NEW_MODEL = "SmolLM2-135M-Instruct.registry-test"


class ModelRegistryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = openai.OpenAI(base_url=shared_devnet.proxy(), api_key="unused", max_retries=0, timeout=120)
        cls.manifest, cls.binary = shared_devnet.manifest()
        cls.nodes = cls.manifest["nodes"]
        cls.rpc = "http://127.0.0.1:%d" % cls.nodes[0]["rpc_port"]
        cls.directory = tempfile.mkdtemp(prefix="gonka-registry-test-")
        cls.mlnode = None
        cls.mlnode_log = None

    @classmethod
    def tearDownClass(cls):
        if cls.mlnode:
            cls.mlnode.terminate()
            try:
                cls.mlnode.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cls.mlnode.kill()
        if cls.mlnode_log:
            cls.mlnode_log.close()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def gonka(self, *args, node=0, timeout=60):
        out = subprocess.run(
            [self.binary, *args, "--node", "http://127.0.0.1:%d" % self.nodes[node]["rpc_port"], "--json"],
            capture_output=True, text=True, timeout=timeout)
        self.assertEqual(out.returncode, 0, "gonka %s: %s%s" % (" ".join(args), out.stdout, out.stderr))
        return json.loads(out.stdout)

    def tx_gov(self, *args, by):
        """Signs with the node's own account key, which its API node also signs with (Starts,
        Finishes, validations): a transaction that lost the race for a sequence number is refused
        `bad_sequence` and changed nothing, so it is sent again, as a user would."""
        home = self.nodes[by]["home"]
        command = [self.binary, "tx", "gov", *args, "--from", "validator", "--home", home,
                   "--node", "http://127.0.0.1:%d" % self.nodes[by]["rpc_port"], "--json"]
        for _ in range(10):
            out = subprocess.run(command, capture_output=True, text=True, timeout=60)
            if out.returncode != 0 and "bad_sequence" in out.stdout + out.stderr:
                time.sleep(1)
                continue
            self.assertEqual(out.returncode, 0, "gonka %s: %s%s" % (" ".join(args), out.stdout, out.stderr))
            result = json.loads(out.stdout)
            self.assertEqual(result["code"], 0, result)
            return
        self.fail("gonka tx gov %s: bad_sequence ten times" % " ".join(args))

    def decide(self, title, content):
        """Submits an expedited proposal, has every participant vote yes, waits until it is decided;
        returns its final status."""
        path = os.path.join(self.directory, title + ".json")
        with open(path, "w") as f:
            json.dump({"title": title, "deposit": "200gnk", "expedited": True, "content": content}, f)
        self.tx_gov("submit", path, by=0)
        proposals = self.gonka("query", "proposals")
        ids = [p["id"] for p in proposals if p["title"] == title]
        self.assertTrue(ids, proposals)
        for node in range(len(self.nodes)):
            self.tx_gov("vote", str(ids[-1]), "yes", by=node)
        deadline = time.time() + 120
        while True:
            status = self.gonka("query", "proposal", str(ids[-1]))["proposal"]["status"]
            if status not in ("deposit_period", "voting_period") or time.time() > deadline:
                return status
            time.sleep(1)

    def listed(self):
        return [m.id for m in self.client.models.list().data]

    def wait_until(self, predicate, what, seconds=60):
        deadline = time.time() + seconds
        while not predicate():
            self.assertLess(time.time(), deadline, what)
            time.sleep(1)

    def start_mlnode(self):
        """An ML node serving the devnet's weights under the new id, added to every API node."""
        log = type(self).mlnode_log = open(os.path.join(self.directory, "mlnode.log"), "w+")
        type(self).mlnode = subprocess.Popen(
            [self.binary, "mlnode", "start", "--model", shared_devnet.model_path(), "--port", "0",
             "--served-model-name", NEW_MODEL, "--threads", "1", "--poc-threads", "1"],
            stdout=log, stderr=subprocess.STDOUT)
        url = None
        deadline = time.time() + 120
        while url is None:
            self.assertIsNone(self.mlnode.poll(), "the ML node exited")
            self.assertLess(time.time(), deadline, "the ML node printed no URL")
            log.seek(0)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read())
            url = match.group(1) if match else None
            time.sleep(0.5)
        for node in self.nodes:
            self.assertIsNotNone(node.get("admin_port"), "devnet.json names no admin port")
            request = urllib.request.Request(
                "http://127.0.0.1:%d/admin/mlnodes" % node["admin_port"],
                data=json.dumps({"url": url, "model": NEW_MODEL}).encode(), method="POST",
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                self.assertEqual(json.load(response)["model"], NEW_MODEL)

    def test_a_registered_model_is_served_through_the_network_until_it_is_retired(self):
        self.assertNotIn(NEW_MODEL, self.listed())
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(
                model=NEW_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)

        self.start_mlnode()
        status = self.decide("register-model", {"register_model": {
            "id": NEW_MODEL, "tokens_per_second_per_weight": 1, "quantization": "Q4_1",
            "context_length": 8192, "validation_threshold_ppm": 1000, "sampler": "native"}})
        self.assertEqual(status, "passed")
        self.wait_until(lambda: NEW_MODEL in self.listed(), "the API node never listed the registered model")

        raw = self.client.chat.completions.with_raw_response.create(
            model=NEW_MODEL, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8, temperature=0)
        response = raw.parse()
        self.assertEqual(response.model, NEW_MODEL)
        self.assertTrue(response.choices[0].message.content)
        inference_id = raw.headers.get("x-gonka-inference-id")
        self.assertTrue(inference_id)
        record = {}

        def recorded():
            with urllib.request.urlopen(self.rpc + "/query/inference/" + inference_id, timeout=30) as r:
                record.update(json.load(r).get("value") or {})
            return bool(record)

        self.wait_until(recorded, "the chain has no record of inference %s" % inference_id)
        self.assertEqual(record["model"], NEW_MODEL)

        status = self.decide("retire-model", {"retire_model": {"id": NEW_MODEL}})
        self.assertEqual(status, "passed")
        self.wait_until(lambda: NEW_MODEL not in self.listed(), "the retired model is still listed")
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(
                model=NEW_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)


if __name__ == "__main__":
    unittest.main()
