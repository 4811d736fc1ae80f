"""The network path seen through the official `openai` client (PyPI): `gonka devnet up` with two
validators serving the embedded model, then the signing proxy it starts and prints.

A request goes client → `gonka proxy` (signs with the funded developer key) → one node's Transfer
Agent → the other node's executor → its in-process ML node, and back, streamed or not.
Run with `make test-python`, or:
    GONKA_BIN=.build/debug/gonka python3 -m unittest Tests/python/test_openai_proxy.py -v
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import openai

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def model_path():
    explicit = os.environ.get("GONKA_MODEL")
    if explicit:
        return explicit
    return os.path.expanduser("~/.cache/gonka/models/SmolLM2-135M-Instruct.Q4_1.gguf")


class ProxyTest(unittest.TestCase):
    directory = None
    binary = None
    client = None
    model = None

    @classmethod
    def setUpClass(cls):
        cls.binary = os.environ.get("GONKA_BIN")
        if not cls.binary or not os.access(cls.binary, os.X_OK):
            raise unittest.SkipTest("GONKA_BIN does not name the built gonka binary")
        if not os.path.exists(model_path()):
            raise unittest.SkipTest("no model at " + model_path())
        cls.directory = tempfile.mkdtemp(prefix="gonka-proxy-test-")
        devnet = os.path.join(cls.directory, "devnet")
        try:
            out = subprocess.run(
                [cls.binary, "devnet", "up", "--dir", devnet, "--participants", "2", "--model", model_path()],
                capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired as error:
            cls.tearDownClass()
            raise AssertionError("devnet up timed out: %s" % error)
        if out.returncode != 0:
            cls.tearDownClass()
            raise AssertionError("devnet up failed:\n" + out.stdout + out.stderr)
        match = re.search(r"^\s+(http://127\.0\.0\.1:\d+/v1)\s*$", out.stdout, re.MULTILINE)
        if not match:
            cls.tearDownClass()
            raise AssertionError("no proxy URL in:\n" + out.stdout)
        cls.client = openai.OpenAI(base_url=match.group(1), api_key="unused", max_retries=0, timeout=120)
        cls.model = cls.client.models.list().data[0].id

    @classmethod
    def tearDownClass(cls):
        if cls.directory:
            devnet = os.path.join(cls.directory, "devnet")
            if os.path.exists(os.path.join(devnet, "devnet.json")):
                subprocess.run([cls.binary, "devnet", "down", "--dir", devnet], capture_output=True, timeout=60)
            shutil.rmtree(cls.directory, ignore_errors=True)

    def test_chat_with_logprobs(self):
        response = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, max_tokens=8, temperature=0, logprobs=True, top_logprobs=3)
        choice = response.choices[0]
        self.assertTrue(choice.message.content)
        self.assertGreater(len(choice.logprobs.content), 0)
        self.assertEqual(len(choice.logprobs.content[0].top_logprobs), 3)
        self.assertFalse(choice.logprobs.content[0].token.startswith("token_id:"))
        self.assertGreater(response.usage.completion_tokens, 0)

    def test_stream(self):
        stream = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, max_tokens=8, temperature=0, stream=True,
            stream_options={"include_usage": True})
        text = ""
        usage = None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage:
                usage = chunk.usage
        self.assertTrue(text)
        self.assertIsNotNone(usage)
        self.assertGreater(usage.completion_tokens, 0)

    def test_stream_without_usage_sends_only_chunks(self):
        # The executor forces usage from its ML node; a client that did not ask must get no usage
        # chunk, and nothing else in its place (a `data: null` once reached clients as None).
        stream = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, max_tokens=8, temperature=0, stream=True)
        chunks = list(stream)
        self.assertTrue(chunks)
        for chunk in chunks:
            self.assertIsNotNone(chunk)
            self.assertIsNone(chunk.usage)
            self.assertTrue(chunk.choices)

    def test_content_parts_developer_role_and_sdk_fields(self):
        # What LangChain and most SDK helpers send (issue 20): content as parts, a developer turn,
        # names, SDK fields this network ignores, and a field nobody knows (ignored, as vLLM does).
        response = self.client.chat.completions.create(
            model=self.model, max_tokens=6, temperature=0, user="u-1", metadata={"run": "1"}, store=False,
            presence_penalty=0.0, frequency_penalty=0.0, service_tier="auto",
            messages=[
                {"role": "developer", "content": "Answer in one word."},
                {"role": "user", "name": "ana", "content": [
                    {"type": "text", "text": "What is the capital"}, {"type": "text", "text": "of France?"}]},
            ],
            extra_body={"some_future_field": {"x": 1}})
        self.assertTrue(response.choices[0].message.content)

    def test_image_part_is_a_bad_request_naming_vision(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.chat.completions.create(
                model=self.model, max_tokens=2,
                messages=[{"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])
        self.assertIn("no vision", str(caught.exception))

    def test_n_choices_through_the_network(self):
        response = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, max_tokens=6, temperature=1, seed=11, n=2)
        self.assertEqual([c.index for c in response.choices], [0, 1])
        self.assertTrue(all(c.message.content is not None for c in response.choices))
        self.assertGreater(response.usage.completion_tokens, 0)
        stream = self.client.chat.completions.create(
            model=self.model, messages=QUESTION, max_tokens=6, temperature=1, seed=11, n=2, stream=True,
            stream_options={"include_usage": True})
        texts = ["", ""]
        usage = None
        for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
            if chunk.usage:
                usage = chunk.usage
        self.assertEqual(texts, [c.message.content for c in response.choices])
        self.assertEqual(usage.completion_tokens, response.usage.completion_tokens)

    def test_n_above_eight_is_a_bad_request(self):
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model=self.model, messages=QUESTION, max_tokens=2, n=9)

    def test_json_mode_and_schema(self):
        import json
        # A free-form object can run into max_tokens (then it is cut, as with vLLM); this seed's
        # answer ends within the limit (the same request is MLNodeTests' AgentRequestTests, which
        # checks finish_reason "stop"; seeded sampling is the same on every node).
        response = self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "The weather, as JSON."}],
            max_tokens=120, temperature=1, seed=3, response_format={"type": "json_object"})
        self.assertEqual(response.choices[0].finish_reason, "stop")
        self.assertIsInstance(json.loads(response.choices[0].message.content), dict)
        schema = {"type": "object", "additionalProperties": False, "required": ["city", "big"],
                  "properties": {"city": {"type": "string", "maxLength": 16}, "big": {"type": "boolean"}}}
        response = self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "Describe Paris as JSON."}],
            max_tokens=120, temperature=1, seed=5,
            response_format={"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": schema}})
        value = json.loads(response.choices[0].message.content)
        self.assertEqual(sorted(value), ["big", "city"])
        self.assertIsInstance(value["big"], bool)
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(
                model=self.model, messages=QUESTION, max_tokens=2,
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#"}}})

    def test_unknown_model_is_an_openai_error(self):
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="no-such-model", messages=QUESTION, max_tokens=2)


if __name__ == "__main__":
    unittest.main()
