"""The soak (issue 22, docs/SOAK.md): four nodes of real processes, each in its own network namespace
(netns.py), three developer keys each behind its own signing proxy, a steady load from the official
`openai` client (streamed and not, each request with a timeout, the proxies in turn), and a seeded
schedule of faults: kill -9 of a node and its restart (a random node, the executor of a stream
mid-answer, or the Transfer Agent of one), a partition of one node (its link down), a slow link
(200 ± 50 ms, 2% loss; a token bucket where the kernel has no netem). The long form also partitions
two nodes now and then and times a fault so that a PoC sprint starts while it lasts. Node 0 is never
faulted: the test reads the chain's `/events` from it.

Checks at the end, each with its own message:
* no fork: the same block hash at every height on every node;
* no hang: every client request ended (answer or error) within its time limit;
* every inference the developer created (every `inference_started` / `inference_finish_received`
  ledger event, and every `X-Gonka-Inference-Id` the proxy returned, a 502's included) is FINISHED
  (or VALIDATED), EXPIRED with its escrow refunded in full, or INVALIDATED with a full refund;
* for every developer key, its balance = funding - the sum of its settled costs, to the ngonka;
* the supply: nothing minted, and the `inference` account holds exactly the open escrow plus the
  unsettled cost, at heights sampled during the run and at the end (with no escrow left open);
* every node is caught up and signs blocks at the end.

It prints the figures: requests sent, answered, errors by kind, p50/p99 latency, executor misses
the chain recorded, faults applied (with the sprints each crossed) and what the mid-stream kills'
streams saw. Those streams are the faults' own probes: they must end (an answer or an error, never a
hang) and settle like any other, but they are not counted in the share answered.

Environment: GONKA_SOAK_SEED (the schedule's seed; default: from the clock, printed, so a failing
schedule replays), GONKA_SOAK_MINUTES (the long form: load for that many minutes, faults repeating;
default: the short form, about 2.5 minutes of load), GONKA_SOAK_RATE (requests per second, default
1), GONKA_SOAK_BREAK_ACCOUNTING=1 (adds 1 ngonka to the expected cost: the accounting check must
then fail; how it was shown that it can fail). Needs root and iproute2 (else it skips, saying why);
GONKA_SOAK=0 leaves it out of a run.

    GONKA_BIN=.build/debug/gonka python3 -m unittest Tests/python/test_soak_devnet.py -v
"""

import json
import os
import random
import re
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import openai

import netns
from shared_devnet import binary_or_skip, model_path

PROMPTS = ["Name a colour.", "Count to three.", "Say hello.", "Name a fruit.", "Name a planet.", "Name a river."]
FINISHED = ("FINISHED", "VALIDATED")
TERMINAL = FINISHED + ("EXPIRED", "INVALIDATED")
REQUEST_TIMEOUT = 30      # seconds per attempt (the openai client's timeout)
MAX_RETRIES = 2           # the openai client's own retries (a 502, a timeout)
# A request must end within its attempts plus the client's backoff between them.
REQUEST_LIMIT = REQUEST_TIMEOUT * (MAX_RETRIES + 1) + 15
# Developer keys besides the devnet's own: each gets its own `gonka proxy`, the load uses them in turn.
EXTRA_DEVELOPERS = 2
# The kills of a node chosen by its role in a stream: the executor, or the Transfer Agent.
ROLE_KILLS = ("kill-executor", "kill-ta")
KILLS = ("kill",) + ROLE_KILLS


def ngonka(text):
    return int(str(text).rstrip("ngonka"))


def find_number(value, key):
    """The number under `key` anywhere in a JSON value (None when absent)."""
    if isinstance(value, dict):
        if key in value:
            try:
                return int(value[key])
            except (TypeError, ValueError):
                return None
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = find_number(item, key)
            if found is not None:
                return found
    return None


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def schedule(rng, minutes):
    """The seeded fault schedule: [(start_s, kind, nodes, duration_s, at_sprint)] and the load's
    length (s). The short form runs one kill (of a random node, or of a stream's executor or TA),
    a partition and a slow link once each in a seeded order; the long form repeats every kind (and
    partitions two nodes now and then) until `minutes` are up, and times a fault of its first batch
    (later ones now and then) to begin just before a sprint (`at_sprint`). A role kill picks its node
    when it runs (`nodes` is then unused)."""
    faults = []
    t = 15.0
    length = minutes * 60.0 if minutes else None
    kinds = list(KILLS) + ["partition", "slow"] if length else [rng.choice(KILLS), "partition", "slow"]
    first = True
    while True:
        batch = kinds[:]
        rng.shuffle(batch)
        if length and rng.random() < 0.5:
            batch.insert(rng.randrange(len(batch) + 1), "partition2")
        sprint_at = rng.randrange(len(batch)) if length and (first or rng.random() < 0.3) else None
        first = False
        for index, kind in enumerate(batch):
            duration = rng.uniform(15, 25) if kind != "partition2" else rng.uniform(8, 12)
            nodes = rng.sample([1, 2, 3], 2 if kind == "partition2" else 1)
            if length and t + duration + 20 > length:
                return faults, length
            faults.append((t, kind, nodes, duration, index == sprint_at))
            # Recovery (a restart, catching up) comes on top of the duration; the gap is after it.
            t += duration + rng.uniform(8, 14) + (20 if kind in KILLS else 0)
        if not length:
            return faults, t + 10


# `make test` runs the short form (~3 minutes), `make soak` the long one; GONKA_SOAK=0 leaves it out.
ENABLED = os.environ.get("GONKA_SOAK") != "0"


@unittest.skipUnless(ENABLED, "GONKA_SOAK=0: the soak is left out")
class SoakDevnetTest(unittest.TestCase):
    directory = None
    binary = None
    net = None
    extra_proxies = []

    @classmethod
    def setUpClass(cls):
        cls.binary = binary_or_skip()
        reason = netns.unavailable()
        if reason:
            raise unittest.SkipTest("the soak needs network namespaces: " + reason)
        seed = os.environ.get("GONKA_SOAK_SEED")
        cls.seed = int(seed) if seed else int(time.time()) % 100000
        cls.minutes = float(os.environ.get("GONKA_SOAK_MINUTES", "0") or 0)
        cls.rate = float(os.environ.get("GONKA_SOAK_RATE", "1") or 1)
        print("\nsoak: seed %d (GONKA_SOAK_SEED=%d replays it), %s form" % (
            cls.seed, cls.seed, "%g-minute" % cls.minutes if cls.minutes else "short"), flush=True)
        cls.net = netns.Network(4)
        cls.directory = tempfile.mkdtemp(prefix="gonka-soak-test-")
        cls.devnet = os.path.join(cls.directory, "devnet")
        args = [cls.binary, "devnet", "up", "--dir", cls.devnet, "--participants", "4", "--model", model_path()]
        for host in cls.net.hosts():
            args += ["--netns", host]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=300, env=cls.owned_env())
        except subprocess.TimeoutExpired as error:
            cls.tearDownClass()
            raise AssertionError("devnet up timed out: %s" % error)
        if out.returncode != 0:
            cls.tearDownClass()
            raise AssertionError("devnet up failed:\n" + out.stdout + out.stderr)
        cls.manifest = cls.load_manifest()
        cls.rpcs = [node["rpc_url"] for node in cls.manifest["nodes"]]
        cls.proxies = ["http://127.0.0.1:%d/v1" % cls.manifest["proxy"]["port"]]
        cls.developers = [cls.manifest["proxy"]["address"]]
        cls.extra_proxies = []
        try:
            for k in range(EXTRA_DEVELOPERS):
                cls.start_developer(k + 2)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_developer(cls, k):
        """Developer key k: a key in its own home, funded from the faucet, and its own `gonka proxy`
        in front of every API node."""
        home = os.path.join(cls.directory, "developer%d" % k)

        def gonka(*args):
            out = subprocess.run([cls.binary] + list(args), capture_output=True, text=True, timeout=120,
                                 env=cls.owned_env())
            if out.returncode != 0:
                raise AssertionError("gonka %s failed:\n%s%s" % (" ".join(args), out.stdout, out.stderr))
            return out.stdout

        address = re.search(r"address:\s+(\S+)", gonka("keys", "add", "developer", "--home", home)).group(1)
        gonka("devnet", "fund", "--dir", cls.devnet, address, "1000gnk")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        apis = ",".join("http://%s:%d" % (n.get("address") or "127.0.0.1", n["api_port"]) for n in cls.manifest["nodes"])
        log = open(os.path.join(home, "proxy.log"), "w")
        cls.extra_proxies.append(subprocess.Popen(
            [cls.binary, "proxy", "--home", home, "--key", "developer", "--node", apis, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=cls.owned_env()))
        log.close()
        url = "http://127.0.0.1:%d/v1" % port
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=3) as response:
                    if json.load(response).get("data"):
                        break
            except Exception:
                pass
            if time.time() > deadline or cls.extra_proxies[-1].poll() is not None:
                raise AssertionError("developer %d's proxy at %s did not answer; see %s/proxy.log" % (k, url, home))
            time.sleep(0.3)
        cls.proxies.append(url)
        cls.developers.append(address)

    @classmethod
    def owned_env(cls):
        """The environment for what the test starts: the nodes and the proxy shut down when this
        process is gone (GONKA_OWNER_PID), even after a SIGKILL no handler sees; netns.sweep()
        then removes the namespaces on the next run."""
        return dict(os.environ, GONKA_OWNER_PID=str(os.getpid()))

    @classmethod
    def load_manifest(cls):
        with open(os.path.join(cls.devnet, "devnet.json")) as f:
            return json.load(f)

    @classmethod
    def tearDownClass(cls):
        for proxy in cls.extra_proxies:
            proxy.terminate()
            try:
                proxy.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proxy.kill()
        cls.extra_proxies = []
        if cls.directory:
            if os.path.exists(os.path.join(cls.devnet, "devnet.json")):
                subprocess.run([cls.binary, "devnet", "down", "--dir", cls.devnet], capture_output=True, timeout=90)
            if os.environ.get("GONKA_SOAK_KEEP") or not getattr(cls, "passed", True):
                print("soak: devnet kept in %s (each node's log is devnet/nodeN/node.log; remove the directory "
                      "when done)" % cls.directory)
            else:
                shutil.rmtree(cls.directory, ignore_errors=True)
            cls.directory = None
        if cls.net:
            cls.net.close()
            cls.net = None

    # --- chain reads ---

    def get(self, url, timeout=10):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)

    def query(self, path, node=0, height=None):
        url = self.rpcs[node] + "/query/" + path + ("?height=%d" % height if height is not None else "")
        answer = self.get(url)
        return answer["value"], answer["height"]

    def height(self, node):
        try:
            return self.get(self.rpcs[node] + "/status", timeout=3)["height"]
        except Exception:
            return None

    def wait_for(self, what, condition, timeout, interval=1.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(interval)
        self.fail("%s (seed %d): timed out after %d s" % (what, self.seed, timeout))

    def caught_up(self, node):
        """Node `node` is within a block of node 0, which is itself moving."""
        reference, mine = self.height(0), self.height(node)
        return reference is not None and mine is not None and mine >= reference - 1

    # --- the ledger events, from node 0 ---

    def follow_events(self, stop, events, gaps):
        """Reads node 0's `/events` into `events` (inference ids → their ledger events) until
        `stop`; heights the stream skipped (a reconnect) go to `gaps`."""
        last = None
        while not stop.is_set():
            try:
                # The node writes a heartbeat comment every 5 s, so only a dead connection is
                # quiet this long; a reconnect would miss the blocks committed meanwhile (a gap).
                with urllib.request.urlopen(self.rpcs[0] + "/events", timeout=30) as stream:
                    name = None
                    for raw in stream:
                        if stop.is_set():
                            return
                        line = raw.decode().rstrip("\n")
                        if line.startswith("event: "):
                            name = line[7:]
                        elif line.startswith("data: ") and name:
                            data = json.loads(line[6:])
                            if name == "new_block":
                                h = data["height"]
                                if last is not None and h > last + 1:
                                    gaps.append((last + 1, h - 1))
                                last = h if last is None else max(last, h)
                            elif name == "ledger" and "inference_id" in data:
                                events.setdefault(data["inference_id"], []).append(data)
                            elif name == "ledger" and data.get("type") == "executor_missed":
                                events.setdefault(data.get("inference_id", "?"), []).append(data)
            except Exception:
                if stop.is_set():
                    return
                time.sleep(0.5)

    def keep_records(self, stop, events, results, seen):
        """Every ~10 s until `stop`: the latest record of every inference id known so far into
        `seen`. The chain prunes an epoch's records when its claim window closes (§8.4), so in the
        long form the end-of-run reads find the early ones gone; what was read here stands in.
        A record stops being read once it can no longer change: EXPIRED, INVALIDATED, VALIDATED,
        or FINISHED in an epoch already settled."""
        while not stop.wait(10):
            try:
                next_epoch = self.query("supply")[0]["rewards"]["next_epoch"]
                ids = (set(events) | {r["id"] for r in list(results) if r["id"]}) - {"?"}
                for inference_id in ids:
                    known = seen.get(inference_id)
                    if known and (known["status"] in ("EXPIRED", "INVALIDATED", "VALIDATED")
                                  or (known["status"] == "FINISHED" and known["epoch"] < next_epoch)):
                        continue
                    record, _ = self.query("inference/" + inference_id)
                    if record is not None:
                        seen[inference_id] = record
            except Exception:
                pass  # node 0 busy for a moment: the next round reads them

    # --- the load ---

    def one_request(self, client, model, i, rng_values, results, developer=0, probe=None):
        """One chat request through developer `developer`'s proxy into `results`. A `probe` (a
        mid-stream kill's stream) gets the response's headers (`id`, `executor`) and a `chunks`
        count as they come, and its `first` event set at the first token."""
        stream, tokens, prompt = rng_values
        record = {"i": i, "stream": stream, "start": time.time(), "end": None, "outcome": None, "id": None,
                  "retries": 0, "developer": developer, "probe": probe is not None}
        results.append(record)
        if probe is not None:
            probe["record"] = record
        try:
            if stream:
                raw = client.chat.completions.with_raw_response.create(
                    model=model, messages=[{"role": "user", "content": prompt}], max_tokens=tokens,
                    temperature=0, stream=True)
                record["id"] = raw.headers.get("x-gonka-inference-id")
                record["retries"] = getattr(raw, "retries_taken", 0)
                if probe is not None:
                    probe.update(id=record["id"], executor=raw.headers.get("x-gonka-executor"), chunks=0)
                text = ""
                for chunk in raw.parse():
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
                        if probe is not None:
                            probe["chunks"] += 1
                            probe["first"].set()
                record["outcome"] = "ok"
            else:
                raw = client.chat.completions.with_raw_response.create(
                    model=model, messages=[{"role": "user", "content": prompt}], max_tokens=tokens, temperature=0)
                record["id"] = raw.headers.get("x-gonka-inference-id")
                record["retries"] = getattr(raw, "retries_taken", 0)
                answer = raw.parse()
                record["outcome"] = "ok" if answer.choices else "empty answer"
        except openai.APIStatusError as error:
            record["outcome"] = "http %d" % error.status_code
            record["id"] = error.response.headers.get("x-gonka-inference-id")
        except openai.APITimeoutError:
            record["outcome"] = "timeout"
        except openai.APIConnectionError:
            record["outcome"] = "connection error"
        except openai.APIError as error:
            record["outcome"] = "api error (%s)" % type(error).__name__
        except Exception as error:  # a stream cut by a transport error, …
            record["outcome"] = "error (%s)" % type(error).__name__
        record["end"] = time.time()
        if probe is not None:
            probe["first"].set()  # an error before the first token: nothing more to wait for

    def clients(self):
        """An `openai` client per developer proxy, and the model they serve."""
        clients = [openai.OpenAI(base_url=url, api_key="unused", max_retries=MAX_RETRIES, timeout=REQUEST_TIMEOUT)
                   for url in self.proxies]
        return clients, clients[0].models.list().data[0].id

    def load(self, stop, results, threads):
        """Starts one request every 1/rate seconds, each on its own thread and through the
        developers' proxies in turn, until `stop`."""
        clients, model = self.clients()
        rng = random.Random(self.seed * 7 + 1)
        i = 0
        next_at = time.time()
        while not stop.is_set():
            values = (rng.random() < 0.5, rng.randint(4, 12), rng.choice(PROMPTS))
            d = i % len(clients)
            thread = threading.Thread(target=self.one_request, args=(clients[d], model, i, values, results, d),
                                      daemon=True)
            thread.start()
            threads.append(thread)
            i += 1
            next_at += 1.0 / self.rate
            stop.wait(max(0.0, next_at - time.time()))

    # --- the faults ---

    def apply(self, kind, nodes, duration, log, results, threads, aim=None):
        """Runs one fault and waits until its nodes are back in step. Returns the sprints (their P)
        whose generation stage overlapped it; `aim` is the sprint it was timed to, if any."""
        began = time.time()
        first_height = self.height(0) or 0
        if kind in KILLS:
            if kind == "kill":
                node, how = nodes[0], ""
            else:
                node, how = self.mid_stream_target(kind, nodes[0], results, threads)
                nodes = [node]
            pid = self.load_manifest()["nodes"][node]["pid"]
            os.kill(pid, signal.SIGKILL)
            log.append("kill -9 node%d%s (pid %d), restart after %.0f s" % (node, how, pid, duration))
            time.sleep(duration)
            out = subprocess.run([self.binary, "devnet", "restart-node", "--dir", self.devnet, str(node)],
                                 capture_output=True, text=True, timeout=60, env=self.owned_env())
            self.assertEqual(out.returncode, 0, "restart of node%d failed: %s%s" % (node, out.stdout, out.stderr))
        elif kind in ("partition", "partition2"):
            for node in nodes:
                self.net.cut(node)
            log.append("partition of %s for %.0f s" % (", ".join("node%d" % n for n in nodes), duration))
            time.sleep(duration)
            for node in nodes:
                self.net.restore(node)
        elif kind == "slow":
            what = self.net.slow(nodes[0], delay_ms=200, jitter_ms=50, loss_pct=2)
            log.append("%s on node%d for %.0f s" % (what, nodes[0], duration))
            time.sleep(duration)
            self.net.clear(nodes[0])
        for node in nodes:
            self.wait_for("node%d catching up after the %s" % (node, kind), lambda: self.caught_up(node), 180)
        last_height = self.height(0) or first_height
        # Sprint n starts at P = n * epoch_length; its generation stage is [P, P + generation_end).
        length, generation = self.epoch_length, self.generation_end
        crossed = [p for p in range(length, last_height + 1, length) if p <= last_height and p + generation > first_height]
        log[-1] += " (back in step after %.0f s; heights %d-%d%s%s)" % (
            time.time() - began, first_height, last_height,
            "; timed to the sprint at %d" % aim if aim is not None else "",
            "; during the sprint of P=%s" % ",".join(map(str, crossed)) if crossed else "")
        return crossed

    def wait_for_sprint(self):
        """Waits until the next sprint's first block P is at most 3 blocks away; returns P."""
        height = self.height(0) or 0
        aim = (height // self.epoch_length + 1) * self.epoch_length
        if aim - height < 3:
            return aim
        self.wait_for("the sprint at %d" % aim, lambda: (self.height(0) or 0) >= aim - 3, 600)
        return aim

    def mid_stream_target(self, kind, fallback, results, threads):
        """For `kill-executor` / `kill-ta`: starts a long streamed request (a probe) and returns the
        node serving it in that role, once its first token has come, with how it was chosen. Node 0
        is never faulted: a stream it serves in that role is let run and another is started."""
        clients, model = self.clients()
        role = "executor" if kind == "kill-executor" else "transfer_agent"
        addresses = [n["account_address"] for n in self.manifest["nodes"]]
        for attempt in range(6):
            probe = {"first": threading.Event(), "id": None, "executor": None, "chunks": 0, "record": None}
            values = (True, 256, "Tell a long story about a river and the towns along it.")
            i = -(1 + sum(1 for r in list(results) if r["probe"]))
            thread = threading.Thread(target=self.one_request, args=(clients[0], model, i, values, results, 0, probe),
                                      daemon=True)
            thread.start()
            threads.append(thread)
            if not probe["first"].wait(REQUEST_LIMIT) or not probe["id"]:
                continue
            if role == "executor":
                target = probe["executor"]
            else:
                target = None
                deadline = time.time() + 10
                while target is None and time.time() < deadline:
                    try:
                        record, _ = self.query("inference/" + probe["id"])
                        target = record and record.get("transfer_agent")
                    except Exception:
                        pass
                    if target is None:
                        time.sleep(0.3)
            if target in addresses[1:]:
                state = "mid-stream" if probe["record"]["end"] is None else "after the stream ended"
                return addresses.index(target), ", the %s of stream %s (%s, %d tokens in)" % (
                    "executor" if role == "executor" else "TA", probe["id"][:12], state, probe["chunks"])
        return fallback, " (no probe stream had a faultable %s: a random node)" % role

    # --- the test ---

    def test_soak(self):
        # Until the last check passes: a failed run keeps its devnet (the nodes' logs) to look into.
        type(self).passed = False
        rng = random.Random(self.seed)
        faults, length = schedule(rng, self.minutes)
        funding = [ngonka(self.query("balance/" + d)[0]["amount"]) for d in self.developers]
        supply0, _ = self.query("supply")
        params = self.query("params")[0]
        self.epoch_length = find_number(params, "epoch_length") or 120
        self.generation_end = find_number(params, "generation_end") or 20
        sprints_crossed = []
        stop_events, stop_load = threading.Event(), threading.Event()
        events, gaps, results, threads, fault_log, sampled = {}, [], [], [], [], []
        follower = threading.Thread(target=self.follow_events, args=(stop_events, events, gaps), daemon=True)
        follower.start()
        seen = {}
        recorder = threading.Thread(target=self.keep_records, args=(stop_events, events, results, seen), daemon=True)
        recorder.start()
        loader = threading.Thread(target=self.load, args=(stop_load, results, threads), daemon=True)
        began = time.time()
        loader.start()
        try:
            # A fault timed to a sprint waits for it; the later ones keep their gaps after it.
            shift = 0.0
            for start, kind, nodes, duration, at_sprint in faults:
                if self.minutes and start + shift + duration + 20 > length:
                    break
                while time.time() - began < start + shift:
                    time.sleep(0.5)
                    self.sample_inference_account(sampled)
                aim = None
                if at_sprint:
                    waiting = time.time()
                    aim = self.wait_for_sprint()
                    shift += time.time() - waiting
                sprints_crossed += self.apply(kind, nodes, duration, fault_log, results, threads, aim)
                print("soak: %.0f s: %s" % (time.time() - began, fault_log[-1]), flush=True)
            while time.time() - began < length:
                time.sleep(0.5)
                self.sample_inference_account(sampled)
        finally:
            stop_load.set()
            loader.join(timeout=30)
        load_seconds = time.time() - began
        # Every request ends within its limit: wait for the last ones, then call what is left hung.
        deadline = time.time() + REQUEST_LIMIT + 10
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.time()))
        now = time.time()
        hung = [r for r in results if r["end"] is None or r["end"] - r["start"] > REQUEST_LIMIT]
        # Every node caught up, then every inference the chain knows of settled one way or the other.
        for node in range(4):
            self.wait_for("node%d caught up at the end" % node, lambda: self.caught_up(node), 180)
        proxy_ids = {r["id"] for r in results if r["id"]}
        outcomes = {r["id"]: r["outcome"] for r in results if r["id"]}
        # A Start still queued on some Transfer Agent reaches the chain within the expiry window, and
        # every record with an escrow ends by then (FINISHED, or EXPIRED at its expiry height).
        expiry = find_number(self.query("params")[0], "inference_expiry_blocks") or 30
        load_end_height = self.height(0)
        pruned = set()
        last = {}

        def all_terminal():
            self.sample_inference_account(sampled)
            ids = set(events) | proxy_ids
            ids.discard("?")
            records = {}
            for i in ids:
                record = self.query("inference/" + i)[0]
                if record is None and i in seen:
                    pruned.add(i)  # its epoch's claim window closed: the record read during the run
                    record = seen[i]
                records[i] = record
            height = self.height(0)
            open_records = {i: r for i, r in records.items() if r is not None and r["status"] not in TERMINAL}
            # An id with no record yet waits for the expiry window; after it, it is reported below
            # ("ids the proxy returned that the chain never recorded") with the client's outcome.
            unrecorded = [i for i, r in records.items() if r is None]
            waiting_unrecorded = unrecorded and (height or 0) <= load_end_height + expiry + 3
            last.update(height=height, open=open_records, unrecorded=unrecorded)
            if open_records or waiting_unrecorded:
                return None
            return {i: r for i, r in records.items() if r is not None}

        deadline = time.time() + 240
        records = None
        while time.time() < deadline and records is None:
            records = all_terminal()
            if records is None:
                time.sleep(3)
        if records is None:
            described = ["%s %s executor %s start %s expiry %s epoch %s (client: %s)" % (
                i, r["status"], (r.get("executor") or "?")[-8:], r.get("start_height", "?"), r.get("expiry_height", "?"),
                r.get("epoch", "?"), outcomes.get(i, "not from the proxy")) for i, r in sorted(last["open"].items())]
            self.fail("not every inference FINISHED, EXPIRED or INVALIDATED 240 s after the load (seed %d, height %s, "
                      "load ended at %s, expiry %d blocks): %d open: %s; %d ids without a record (client outcomes %s)"
                      % (self.seed, last.get("height"), load_end_height, expiry, len(described), described[:20],
                         len(last["unrecorded"]), sorted(outcomes.get(i, "?") or "?" for i in last["unrecorded"])[:20]))
        stop_events.set()

        # --- figures ---
        # The mid-stream kills' probe streams are the faults' own, not the load's.
        probes = [r for r in results if r["probe"]]
        load_results = [r for r in results if not r["probe"]]
        answered = [r for r in load_results if r["outcome"] == "ok"]
        errors = {}
        for r in load_results:
            if r["outcome"] != "ok":
                kind = r["outcome"] or "hung"
                errors[kind] = errors.get(kind, 0) + 1
        latencies = [r["end"] - r["start"] for r in answered]
        misses = {}
        for node in self.manifest["nodes"]:
            value, _ = self.query("misses/" + node["account_address"])
            misses[node["moniker"]] = (value["reported"], value["expired"])
        statuses = {}
        for r in records.values():
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        share = 100.0 * len(answered) / max(1, len(load_results))
        print("soak figures (seed %d, %.0f s of load at %g/s, %d developer keys):" % (
            self.seed, load_seconds, self.rate, len(self.developers)))
        print("  requests sent %d, answered %d (%.2f%%), retried by the client %d, errors by kind %s" % (
            len(load_results), len(answered), share, sum(1 for r in load_results if r["retries"]), errors or "{}"))
        print("  mid-stream kill probes %d, outcomes %s" % (len(probes), [r["outcome"] for r in probes]))
        print("  latency of answered requests: p50 %.2f s, p99 %.2f s, max %.2f s" % (
            percentile(latencies, 50), percentile(latencies, 99), max(latencies) if latencies else 0))
        print("  inferences on chain %d %s (%d of them pruned by the end, read during the run); ids from the proxy %d"
              % (len(records), statuses, len(pruned), len(proxy_ids)))
        # An EXPIRED record either had its Start (the Finish never came in time: a miss for the
        # executor) or only its Finish (the Start never came: nobody was charged, the host unpaid).
        expired = [r for r in records.values() if r["status"] == "EXPIRED"]
        print("  EXPIRED after their Start (no Finish in time) %d, with a Finish and no Start %d" % (
            sum(1 for r in expired if r.get("transfer_agent")), sum(1 for r in expired if not r.get("transfer_agent"))))
        print("  executor misses recorded (reported, expired): %s" % misses)
        print("  faults applied: %d, during the generation stage of sprints %s" % (
            len(fault_log), sorted(set(sprints_crossed))))
        for line in fault_log:
            print("    " + line)
        print("  inference account checked at %d heights" % len(sampled), flush=True)

        # --- checks ---
        self.assertEqual(gaps, [], "the /events stream from node0 skipped heights %s: the inference ids may be "
                         "incomplete" % gaps)
        self.assertFalse(hung, "%d requests did not end within %d s (no answer, no error): %s" % (
            len(hung), REQUEST_LIMIT, [(r["i"], r["stream"], now - r["start"]) for r in hung][:10]))
        self.check_no_fork()
        unknown = sorted(proxy_ids - set(records))
        # Each with the client's outcome and the ledger events node0's /events showed for it: events
        # there mean the chain did record it and this test's reader lost the record (pruned before
        # it was read); none mean the chain never saw it.
        self.assertEqual(unknown, [], "ids the proxy returned that the chain never recorded (with the client's outcome "
                         "and the ledger events seen): %s" % [
                             (i, outcomes.get(i), [e.get("type") for e in events.get(i, [])]) for i in unknown][:20])
        missing = sorted(i for i in proxy_ids if i not in events)
        self.assertEqual(missing, [], "ids the proxy returned that node0's /events never showed")
        cost = {d: 0 for d in self.developers}
        for inference_id, r in sorted(records.items()):
            if ngonka(r["escrow"]) > 0:
                self.assertIn(r["requester"], self.developers, inference_id)
            if r["status"] in FINISHED:
                self.assertEqual(ngonka(r["cost"]) + ngonka(r["refund"]), ngonka(r["escrow"]),
                                 "%s: cost + refund = escrow" % inference_id)
                cost[r["requester"]] += ngonka(r["cost"])
            elif r["status"] == "EXPIRED":
                self.assertEqual((ngonka(r["cost"]), ngonka(r["refund"])), (0, ngonka(r["escrow"])),
                                 "%s EXPIRED without a full refund" % inference_id)
            elif r["status"] == "INVALIDATED":
                self.assertEqual(ngonka(r["refund"]), ngonka(r["escrow"]),
                                 "%s INVALIDATED without a full refund" % inference_id)
        if os.environ.get("GONKA_SOAK_BREAK_ACCOUNTING"):
            cost[self.developers[-1]] += 1
            print("soak: GONKA_SOAK_BREAK_ACCOUNTING: the expected cost is 1 ngonka too high; the next check must fail")
        for k, developer in enumerate(self.developers):
            balance = ngonka(self.query("balance/" + developer)[0]["amount"])
            self.assertEqual(balance, funding[k] - cost[developer],
                             "developer %d's balance %d != funding %d - settled costs %d (off by %d ngonka)" % (
                                 k + 1, balance, funding[k], cost[developer],
                                 balance - (funding[k] - cost[developer])))
        print("  settled cost per developer key (ngonka): %s" % [cost[d] for d in self.developers])
        supply, h = self.query("supply")
        self.assertEqual(ngonka(supply["minted"]), ngonka(supply0["minted"]), "coins minted after genesis")
        r = supply["rewards"]
        self.assertEqual(r["open_escrow"], 0, "escrow still open at height %d with every inference settled" % h)
        unsettled = sum(ngonka(rec["cost"]) for rec in records.values()
                        if rec["status"] in FINISHED and rec["epoch"] >= r["next_epoch"])
        self.assertEqual(r["unsettled_cost"], unsettled, "the chain's unsettled cost vs this test's records")
        bad = [s for s in sampled if s[1] != s[2] + s[3]]
        self.assertEqual(bad, [], "the inference account != open escrow + unsettled cost at (height, account, "
                         "escrow, unsettled) %s" % bad)
        self.check_signing(load_seconds)
        if self.minutes:
            self.assertTrue(sprints_crossed, "no fault overlapped a sprint's generation stage (seed %d)" % self.seed)
        # Issue 22's goal: >= 99% answered through the proxy while a node of four is down, partitioned
        # or slow. The long form holds it; the short one (~135 requests, where one error is 0.7%)
        # allows 3%.
        goal = 99.0 if self.minutes else 97.0
        self.assertGreaterEqual(share, goal, "%.2f%% of the requests answered, under the goal of %g%% (errors %s)" % (
            share, goal, errors))
        type(self).passed = True

    def sample_inference_account(self, sampled):
        """§8.3's invariant at the current height: inference account = open escrow + unsettled cost."""
        if sampled and time.time() - sampled[-1][4] < 5:
            return
        try:
            supply, h = self.query("supply")
        except Exception:
            return
        r = supply["rewards"]
        sampled.append((h, r["modules"].get("inference", 0), r["open_escrow"], r["unsettled_cost"], time.time()))

    def check_no_fork(self):
        """The same block hash at every height on every node."""
        top = min(self.height(n) for n in range(4))
        forks = []
        for h in range(1, top + 1):
            hashes = set()
            for n in range(4):
                try:
                    hashes.add(self.get("%s/block/%d" % (self.rpcs[n], h))["hash"])
                except urllib.error.HTTPError as error:
                    if error.code != 404:  # 404 `pruned`: a node keeping only recent blocks
                        raise
            if len(hashes) > 1:
                forks.append(h)
        self.assertEqual(forks, [], "fork: the nodes disagree on the block hash at heights %s" % forks[:20])
        print("soak: no fork: heights 1-%d agree on all 4 nodes" % top)

    def check_signing(self, load_seconds):
        """Every node signs: each validator is among the commit signers of a block after the faults.
        A node that was down or cut off through a whole sprint has no weight in the next epoch and
        signs again from the switch after the following sprint: the wait allows 1.5 epochs."""
        per_block = load_seconds / max(1, self.height(0) or 1)
        def signers_seen():
            top = self.height(0)
            seen = set()
            for h in range(max(1, top - 10), top + 1):
                seen |= {s.lower() for s in self.get("%s/block/%d" % (self.rpcs[0], h))["commit"]["signers"]}
            return all(node["validator_address"].lower() in seen for node in self.manifest["nodes"])
        self.wait_for("every node signing in the last 10 blocks", signers_seen,
                      60 + 1.5 * self.epoch_length * per_block, interval=2)
        for n in range(4):
            status = self.get(self.rpcs[n] + "/status")
            self.assertFalse(status["catching_up"], "node%d still catching up at the end" % n)


if __name__ == "__main__":
    unittest.main()
