"""The network path seen through the official `openai` client (PyPI): `gonka devnet up` with two
validators serving the embedded model, then the signing proxy it starts and prints.

A request goes client → `gonka proxy` (signs with the funded developer key) → one node's Transfer
Agent → the other node's executor → its in-process ML node, and back, streamed or not. The devnet
is shared with test_sdk_compat.py (shared_devnet.py).
Run with `make test-python`, or:
    GONKA_BIN=.build/debug/gonka python3 -m unittest discover -s Tests/python -p test_openai_proxy.py -v
"""

import unittest

import openai

import shared_devnet

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


class ProxyTest(unittest.TestCase):
    client = None
    model = None

    @classmethod
    def setUpClass(cls):
        cls.client = openai.OpenAI(base_url=shared_devnet.proxy(), api_key="unused", max_retries=0, timeout=120)
        cls.model = cls.client.models.list().data[0].id

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

    def test_penalties_change_a_greedy_answer(self):
        # presence/frequency penalties are applied by the executor's sampler (and replayed by the
        # validators), so a greedy answer that repeats itself changes under them.
        ask = dict(model=self.model, max_tokens=24, temperature=0,
                   messages=[{"role": "user", "content": "Write the word cat ten times."}])
        plain = self.client.chat.completions.create(**ask).choices[0].message.content
        penalised = self.client.chat.completions.create(
            frequency_penalty=2.0, presence_penalty=1.0, **ask).choices[0].message.content
        self.assertTrue(plain and penalised)
        self.assertNotEqual(plain, penalised)

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

    WEATHER = [{"type": "function", "function": {
        "name": "weather", "description": "The current weather of a city",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["city"],
                       "properties": {"city": {"type": "string", "maxLength": 16}}}}}]

    def test_tool_call_round_trip(self):
        # Issue 20 part 4: a forced call (tool_choice naming the function) comes back as tool_calls,
        # streamed and not; the call and its result sent back are answered.
        import json
        for stream in (False, True):
            kwargs = dict(model=self.model, messages=[{"role": "user", "content": "Weather in Paris?"}],
                          max_tokens=60, temperature=0, tools=self.WEATHER,
                          tool_choice={"type": "function", "function": {"name": "weather"}})
            if stream:
                calls = {}
                finish = None
                for chunk in self.client.chat.completions.create(stream=True, **kwargs):
                    for choice in chunk.choices:
                        for delta in choice.delta.tool_calls or []:
                            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                            call["id"] += delta.id or ""
                            call["name"] += delta.function.name or ""
                            call["arguments"] += delta.function.arguments or ""
                        finish = choice.finish_reason or finish
                self.assertEqual(finish, "tool_calls")
                self.assertEqual(len(calls), 1)
                call = calls[0]
            else:
                response = self.client.chat.completions.create(**kwargs)
                choice = response.choices[0]
                self.assertEqual(choice.finish_reason, "tool_calls")
                self.assertIsNone(choice.message.content)
                self.assertEqual(len(choice.message.tool_calls), 1)
                tool_call = choice.message.tool_calls[0]
                call = {"id": tool_call.id, "name": tool_call.function.name,
                        "arguments": tool_call.function.arguments}
            self.assertEqual(call["name"], "weather")
            self.assertTrue(call["id"].startswith("call_"))
            self.assertIsInstance(json.loads(call["arguments"])["city"], str)
            history = [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": call["id"], "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]}}]},
                {"role": "tool", "tool_call_id": call["id"], "content": "18 C and sunny"},
            ]
            answer = self.client.chat.completions.create(
                model=self.model, messages=history, tools=self.WEATHER, max_tokens=12, temperature=0, stream=stream)
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
            else:
                text = answer.choices[0].message.content
            self.assertTrue(text)

    def test_tool_bad_requests_name_the_field(self):
        cases = [
            (dict(tools=self.WEATHER, tool_choice="required", response_format={"type": "json_object"}),
             "response_format"),
            (dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "strin"}}}]),
             "tools[0].function.parameters.type"),
            (dict(tools=self.WEATHER, tool_choice={"type": "function", "function": {"name": "rain"}}),
             "tool_choice.function.name"),
        ]
        for extra, param in cases:
            with self.assertRaises(openai.BadRequestError) as caught:
                self.client.chat.completions.create(model=self.model, messages=QUESTION, max_tokens=2, **extra)
            self.assertEqual(caught.exception.param, param, str(caught.exception))
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.chat.completions.create(
                model=self.model, max_tokens=2, messages=[
                    {"role": "user", "content": "hi"},
                    {"role": "tool", "tool_call_id": "call_nobody", "content": "42"}])
        self.assertEqual(caught.exception.param, "messages[1].tool_call_id")

    def test_unknown_model_is_an_openai_error(self):
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="no-such-model", messages=QUESTION, max_tokens=2)


if __name__ == "__main__":
    unittest.main()
