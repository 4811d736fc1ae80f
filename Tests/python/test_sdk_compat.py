"""Agent-framework compatibility (issue 20 part 7): the `openai`, `anthropic`, `litellm` and
`langchain-openai` packages from PyPI, unchanged, each through `gonka proxy` of one shared test
devnet (shared_devnet.py; test_openai_proxy.py covers the `openai` client in more depth).

Each SDK: a plain answer, a stream with usage, logprobs, seed, stop, n = 2, content parts, JSON
mode and schema, a tool call round trip (call → tool result → answer) streamed and not, and its
error type for a bad request. Short max_tokens keep the whole file to a couple of minutes.
Run with `make test-python`, or `scripts/test-python .build/debug/gonka test_sdk_compat.py`.
"""

import json
import os
import unittest

import shared_devnet

# litellm fetches a price list from the network at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
PARTS = [{"role": "user", "content": [{"type": "text", "text": "What is the capital"},
                                      {"type": "text", "text": "of France?"}]}]
WEATHER_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["city"],
                  "properties": {"city": {"type": "string", "maxLength": 16}}}
WEATHER = [{"type": "function", "function": {
    "name": "weather", "description": "The current weather of a city", "parameters": WEATHER_SCHEMA}}]
FORCE_WEATHER = {"type": "function", "function": {"name": "weather"}}
CITY_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["city", "big"],
               "properties": {"city": {"type": "string", "maxLength": 16}, "big": {"type": "boolean"}}}


def setUpModule():
    global PROXY, MODEL
    PROXY = shared_devnet.proxy()
    import openai
    MODEL = openai.OpenAI(base_url=PROXY, api_key="unused", max_retries=0).models.list().data[0].id


def tearDownModule():
    # The last module (alphabetically) on the shared devnet: its nodes would otherwise keep ~40% of
    # the CPU until the process exits, beside the devnets of the modules after this one.
    shared_devnet.down()


class AnthropicSDK(unittest.TestCase):
    """The `anthropic` client against the proxy's `POST /v1/messages`."""

    @classmethod
    def setUpClass(cls):
        import anthropic
        cls.anthropic = anthropic
        cls.client = anthropic.Anthropic(base_url=PROXY[:-len("/v1")], api_key="unused", max_retries=0, timeout=120)

    def test_plain_system_stop_and_stream_with_usage(self):
        message = self.client.messages.create(
            model=MODEL, max_tokens=8, temperature=0, system="Answer in one word.",
            messages=[{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}])
        self.assertEqual(message.type, "message")
        self.assertEqual(message.content[0].type, "text")
        self.assertTrue(message.content[0].text)
        self.assertIn(message.stop_reason, ("end_turn", "max_tokens"))
        self.assertGreater(message.usage.input_tokens, 0)
        self.assertGreater(message.usage.output_tokens, 0)
        with self.client.messages.stream(
                model=MODEL, max_tokens=8, temperature=0, system="Answer in one word.",
                messages=[{"role": "user", "content": "What is the capital of France?"}]) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        self.assertEqual(text, message.content[0].text)
        self.assertEqual(final.usage.output_tokens, message.usage.output_tokens)
        stopped = self.client.messages.create(
            model=MODEL, max_tokens=30, temperature=0, stop_sequences=["."], messages=QUESTION)
        self.assertNotIn(".", stopped.content[0].text if stopped.content else "")

    def test_tool_use_round_trip(self):
        tools = [{"name": "weather", "description": "The current weather of a city", "input_schema": WEATHER_SCHEMA}]
        question = {"role": "user", "content": "Weather in Paris?"}
        for streamed in (False, True):
            kwargs = dict(model=MODEL, max_tokens=60, temperature=0, tools=tools,
                          tool_choice={"type": "tool", "name": "weather"}, messages=[question])
            if streamed:
                with self.client.messages.stream(**kwargs) as stream:
                    message = stream.get_final_message()
            else:
                message = self.client.messages.create(**kwargs)
            self.assertEqual(message.stop_reason, "tool_use")
            use = [block for block in message.content if block.type == "tool_use"][0]
            self.assertEqual(use.name, "weather")
            self.assertIsInstance(use.input["city"], str)
            answer = self.client.messages.create(
                model=MODEL, max_tokens=12, temperature=0, tools=tools, messages=[
                    question, {"role": "assistant", "content": message.content},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": "18 C and sunny"}]}])
            self.assertTrue(answer.content)

    def test_bad_request_is_a_bad_request_error(self):
        with self.assertRaises(self.anthropic.BadRequestError) as caught:
            self.client.messages.create(model=MODEL, max_tokens=4, messages=[
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nobody", "content": "1"}]}])
        self.assertIn("toolu_nobody", str(caught.exception))
        with self.assertRaises(self.anthropic.NotFoundError):
            self.client.messages.create(model="no-such-model", max_tokens=4, messages=QUESTION)


class LiteLLM(unittest.TestCase):
    """`litellm.completion` with the OpenAI-compatible provider pointed at the proxy."""

    @classmethod
    def setUpClass(cls):
        import litellm
        litellm.suppress_debug_info = True
        cls.litellm = litellm

    def complete(self, **kwargs):
        return self.litellm.completion(
            model="openai/" + MODEL, api_base=PROXY, api_key="unused", num_retries=0, **kwargs)

    def test_plain_logprobs_seed_stop_n_and_parts(self):
        response = self.complete(messages=PARTS, max_tokens=8, temperature=0, logprobs=True, top_logprobs=2)
        self.assertTrue(response.choices[0].message.content)
        self.assertTrue(response.choices[0].logprobs["content"])
        self.assertGreater(response.usage.completion_tokens, 0)
        first = self.complete(messages=QUESTION, max_tokens=6, temperature=1, seed=4)
        again = self.complete(messages=QUESTION, max_tokens=6, temperature=1, seed=4)
        self.assertEqual(first.choices[0].message.content, again.choices[0].message.content)
        stopped = self.complete(messages=QUESTION, max_tokens=30, temperature=0, stop=["."])
        self.assertNotIn(".", stopped.choices[0].message.content or "")
        two = self.complete(messages=QUESTION, max_tokens=6, temperature=1, seed=11, n=2)
        self.assertEqual(len(two.choices), 2)

    def test_stream_with_usage(self):
        text, usage = "", None
        for chunk in self.complete(messages=QUESTION, max_tokens=8, temperature=0, stream=True,
                                   stream_options={"include_usage": True}):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if getattr(chunk, "usage", None):
                usage = chunk.usage
        self.assertTrue(text)
        self.assertIsNotNone(usage)
        self.assertGreater(usage.completion_tokens, 0)

    def test_json_mode_and_schema(self):
        response = self.complete(
            messages=[{"role": "user", "content": "Describe Paris as JSON."}], max_tokens=120, temperature=1, seed=5,
            response_format={"type": "json_schema", "json_schema": {"name": "city", "strict": True,
                                                                    "schema": CITY_SCHEMA}})
        value = json.loads(response.choices[0].message.content)
        self.assertEqual(sorted(value), ["big", "city"])
        response = self.complete(messages=[{"role": "user", "content": "The weather, as JSON."}], max_tokens=120,
                                 temperature=1, seed=3, response_format={"type": "json_object"})
        self.assertIsInstance(json.loads(response.choices[0].message.content), dict)

    def test_tool_call_round_trip(self):
        question = {"role": "user", "content": "Weather in Paris?"}
        for streamed in (False, True):
            response = self.complete(messages=[question], max_tokens=60, temperature=0, tools=WEATHER,
                                     tool_choice=FORCE_WEATHER, stream=streamed)
            if streamed:
                response = self.litellm.stream_chunk_builder(list(response), messages=[question])
            call = response.choices[0].message.tool_calls[0]
            self.assertEqual(response.choices[0].finish_reason, "tool_calls")
            self.assertEqual(call.function.name, "weather")
            self.assertIsInstance(json.loads(call.function.arguments)["city"], str)
            answer = self.complete(max_tokens=12, temperature=0, tools=WEATHER, messages=[
                question,
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": call.id, "type": "function",
                    "function": {"name": "weather", "arguments": call.function.arguments}}]},
                {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}])
            self.assertTrue(answer.choices[0].message.content)

    def test_bad_request_is_a_bad_request_error(self):
        with self.assertRaises(self.litellm.BadRequestError):
            self.complete(messages=QUESTION, max_tokens=2, n=9)

    def test_anthropic_provider_through_messages(self):
        # litellm's Anthropic provider speaks the Messages API: the proxy's /v1/messages serves it.
        response = self.litellm.completion(
            model="anthropic/" + MODEL, api_base=PROXY[:-len("/v1")], api_key="unused", num_retries=0,
            messages=QUESTION, max_tokens=8, temperature=0)
        self.assertTrue(response.choices[0].message.content)


class LangChainOpenAI(unittest.TestCase):
    """`langchain_openai.ChatOpenAI` pointed at the proxy."""

    @classmethod
    def setUpClass(cls):
        from langchain_openai import ChatOpenAI
        cls.ChatOpenAI = ChatOpenAI

    def chat(self, **kwargs):
        kwargs.setdefault("temperature", 0)
        kwargs.setdefault("max_tokens", 8)
        return self.ChatOpenAI(model=MODEL, base_url=PROXY, api_key="unused", max_retries=0, timeout=120, **kwargs)

    def test_invoke_parts_logprobs_seed_stop_n(self):
        from langchain_core.messages import HumanMessage, SystemMessage
        answer = self.chat(logprobs=True).invoke([
            SystemMessage("Answer in one word."),
            HumanMessage(content=[{"type": "text", "text": "What is the capital"},
                                  {"type": "text", "text": "of France?"}])])
        self.assertTrue(answer.content)
        self.assertTrue(answer.response_metadata["logprobs"]["content"])
        seeded = self.chat(temperature=1, seed=4)
        self.assertEqual(seeded.invoke("Say a word.").content, seeded.invoke("Say a word.").content)
        stopped = self.chat(max_tokens=30, stop=["."]).invoke("What is the capital of France?")
        self.assertNotIn(".", stopped.content)
        result = self.chat(temperature=1, seed=11, n=2).generate([[HumanMessage("Say a word.")]])
        self.assertEqual(len(result.generations[0]), 2)

    def test_stream_with_usage(self):
        chunks = list(self.chat(stream_usage=True).stream("What is the capital of France?"))
        self.assertTrue("".join(c.content for c in chunks))
        usage = [c.usage_metadata for c in chunks if c.usage_metadata]
        self.assertTrue(usage)
        self.assertGreater(usage[-1]["output_tokens"], 0)

    def test_structured_output_json_schema_and_json_mode(self):
        structured = self.chat(max_tokens=120, temperature=1, seed=5).with_structured_output(
            {"title": "city", "description": "A city", **CITY_SCHEMA}, method="json_schema", strict=True)
        value = structured.invoke("Describe Paris as JSON.")
        self.assertEqual(sorted(value), ["big", "city"])
        mode = self.chat(max_tokens=120, temperature=1, seed=3).with_structured_output(method="json_mode")
        self.assertIsInstance(mode.invoke("The weather, as JSON."), dict)

    def test_tool_call_round_trip(self):
        from langchain_core.messages import HumanMessage, ToolMessage
        from langchain_core.tools import tool

        @tool
        def weather(city: str) -> str:
            """The current weather of a city."""
            return "18 C and sunny"

        bound = self.chat(max_tokens=60).bind_tools([weather], tool_choice="weather")
        question = HumanMessage("Weather in Paris?")
        for streamed in (False, True):
            if streamed:
                message = None
                for chunk in bound.stream([question]):
                    message = chunk if message is None else message + chunk
            else:
                message = bound.invoke([question])
            self.assertEqual(len(message.tool_calls), 1, message)
            call = message.tool_calls[0]
            self.assertEqual(call["name"], "weather")
            self.assertIsInstance(call["args"]["city"], str)
            answer = self.chat(max_tokens=12).bind_tools([weather]).invoke(
                [question, message, ToolMessage(weather.invoke(call["args"]), tool_call_id=call["id"])])
            self.assertTrue(answer.content)

    def test_bad_request_is_an_openai_error(self):
        import openai
        with self.assertRaises(openai.BadRequestError):
            self.chat(n=9).invoke("hi")


if __name__ == "__main__":
    unittest.main()
