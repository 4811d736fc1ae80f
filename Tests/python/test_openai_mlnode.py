"""The ML node seen through the official `openai` client (PyPI).

Starts `$GONKA_BIN mlnode start --port 0` (the model from $GONKA_MODEL or the `make model` cache),
reads the URL it prints, and talks to it with `openai.OpenAI`. Run with `make test-python`, or:
    GONKA_BIN=.build/debug/gonka python3 -m unittest discover -s Tests/python -v
"""

import os
import queue
import re
import subprocess
import threading
import time
import unittest
import urllib.request

import openai

START_TIMEOUT_S = 60
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


class OpenAIClientTest(unittest.TestCase):
    server = None
    client = None
    model = None

    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("GONKA_BIN")
        if not binary or not os.access(binary, os.X_OK):
            raise unittest.SkipTest("GONKA_BIN does not name the built gonka binary")
        command = [binary, "mlnode", "start", "--port", "0", "--parallel", "1", "--queue", "4", "--threads", "2",
                   "--context", "1024"]
        cls.server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = queue.Queue()

        def pump():
            for line in cls.server.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        url, output, deadline = None, [], time.monotonic() + START_TIMEOUT_S
        try:
            while url is None:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                if line is None:
                    raise RuntimeError("gonka mlnode exited:\n" + "".join(output))
                output.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    url = match.group(1)
            cls.output = output
            cls.url = url
            # /health answers once the server serves.
            with urllib.request.urlopen(url + "/health", timeout=10) as response:
                assert response.status == 200
        except BaseException:
            cls.stop_server()
            raise
        cls.client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)
        cls.model = cls.client.models.list().data[0].id

    @classmethod
    def stop_server(cls):
        if cls.server is not None and cls.server.poll() is None:
            cls.server.terminate()
            try:
                cls.server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                cls.server.kill()
                cls.server.wait()

    @classmethod
    def tearDownClass(cls):
        cls.stop_server()

    def test_load_report(self):
        text = "".join(self.output)
        for word in ("layers", "parameters", "context", "vocab", "Q4_1".lower()):
            self.assertIn(word, text.lower())

    def test_capital_of_france(self):
        reply = self.client.chat.completions.create(model=self.model, messages=QUESTION, temperature=0, max_tokens=20)
        self.assertIn("Paris", reply.choices[0].message.content)
        self.assertEqual(reply.choices[0].message.role, "assistant")
        self.assertGreater(reply.usage.prompt_tokens, 10)
        self.assertEqual(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens)

    def test_streaming(self):
        plain = self.client.chat.completions.create(model=self.model, messages=QUESTION, temperature=0, max_tokens=20)
        stream = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, temperature=0, max_tokens=20, stream=True,
            stream_options={"include_usage": True})
        pieces, usage, finish = [], None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
        self.assertGreater(len(pieces), 1)
        self.assertEqual("".join(pieces), plain.choices[0].message.content)
        self.assertIsNotNone(usage)
        self.assertEqual(usage.completion_tokens, plain.usage.completion_tokens)
        self.assertIn(finish, ("stop", "length"))

    def test_logprobs(self):
        reply = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, temperature=0, max_tokens=10, logprobs=True, top_logprobs=4)
        content = reply.choices[0].logprobs.content
        self.assertEqual(len(content), reply.usage.completion_tokens)
        for entry in content:
            self.assertLessEqual(entry.logprob, 0)
            self.assertEqual(len(entry.top_logprobs), 4)
            values = [alt.logprob for alt in entry.top_logprobs]
            self.assertEqual(values, sorted(values, reverse=True))
            self.assertAlmostEqual(values[0], entry.logprob, places=4)  # greedy picks the best
        self.assertEqual(b"".join(bytes(e.bytes) for e in content).decode(), reply.choices[0].message.content)

    def test_seeded_sampling_repeats(self):
        args = dict(model=self.model, messages=QUESTION, temperature=1.0, max_tokens=12, seed=42)
        first = self.client.chat.completions.create(**args).choices[0].message.content
        second = self.client.chat.completions.create(**args).choices[0].message.content
        self.assertEqual(first, second)

    def test_legacy_completion(self):
        reply = self.client.completions.create(
            model=self.model, prompt="The capital of France is", max_tokens=6, temperature=0, logprobs=2)
        choice = reply.choices[0]
        self.assertIn("Paris", choice.text)
        self.assertEqual("".join(choice.logprobs.tokens), choice.text)

    def test_bad_request(self):
        with self.assertRaises(openai.BadRequestError) as raised:
            self.client.chat.completions.create(model=self.model, messages=QUESTION, temperature=5)
        self.assertEqual(raised.exception.body.get("param"), "temperature")
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="no-such-model", messages=QUESTION)

    def test_zz_metrics(self):
        """`/metrics` in the Prometheus text format with vLLM's families under gonka_mlnode_ (runs
        last, after the other tests' requests)."""
        import metrics_check
        found = metrics_check.families(self.url + "/metrics")
        metrics_check.check(self, found, {
            "gonka_mlnode_requests_running": "gauge", "gonka_mlnode_requests_waiting": "gauge",
            "gonka_mlnode_kv_cache_usage_perc": "gauge",
            "gonka_mlnode_time_to_first_token_seconds": "histogram",
            "gonka_mlnode_inter_token_latency_seconds": "histogram",
            "gonka_mlnode_e2e_request_latency_seconds": "histogram",
            "gonka_mlnode_prompt_tokens": "counter", "gonka_mlnode_generation_tokens": "counter",
            "gonka_mlnode_request_success": "counter",
        }, "mlnode")
        reasons = {s.labels.get("finished_reason") for s in found["gonka_mlnode_request_success"].samples}
        self.assertTrue(reasons & {"stop", "length"}, reasons)
        self.assertGreater(sum(s.value for s in found["gonka_mlnode_generation_tokens"].samples), 0)
        # A share of the cache, idle between requests.
        usage = found["gonka_mlnode_kv_cache_usage_perc"].samples[0].value
        self.assertTrue(0 <= usage <= 1, usage)


if __name__ == "__main__":
    unittest.main()
