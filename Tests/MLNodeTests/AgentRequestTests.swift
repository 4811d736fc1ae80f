import Foundation
import GonkaCore
import GonkaTestKit
import Inference
import MLNode
import Testing

/// What agent frameworks send (issue 20) on the ML node's OpenAI routes: content parts, names,
/// developer and tool turns, SDK fields and unknown fields; `n` > 1 choices; `response_format`.
@Suite(.serialized, .timeLimit(.minutes(5)), .hangGuard)
struct AgentRequestTests {
    static let history = """
        [{"role": "developer", "content": "Answer briefly."},
         {"role": "user", "name": "ana",
          "content": [{"type": "text", "text": "What is the weather"}, {"type": "text", "text": "in Paris?"}]},
         {"role": "assistant", "content": null,
          "tool_calls": [{"id": "call_1", "type": "function",
                          "function": {"name": "weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}]
        """

    /// The SDK fields and an unknown one are accepted; the prompt is the template's rendering of the
    /// normalised messages (developer as system, parts joined, the call and its result shown).
    @Test func agentHistoryAndSDKFieldsAreServed() async throws {
        try await TestServer.with { server in
            let request = """
                {"model": "test-model", "messages": \(Self.history), "temperature": 0, "max_tokens": 8,
                 "user": "u-1", "metadata": {"run": "7"}, "store": false, "service_tier": "auto",
                 "presence_penalty": 0.5, "frequency_penalty": 0, "logit_bias": {"5": 1},
                 "parallel_tool_calls": true, "max_completion_tokens": 8, "stream_options": null,
                 "some_future_field": {"nested": [1, 2]}}
                """
            let answer = try await server.post("/v1/chat/completions", raw: Array(request.utf8))
            #expect(answer.status == 200, "\(answer.text)")
            let tokenized = try await server.post(
                "/v1/tokenize", raw: Array(#"{"model": "test-model", "messages": \#(Self.history)}"#.utf8))
            let ids = try #require(tokenized.json["tokens"] as? [Int])
            let expected = ChatTemplate.render([
                ChatMessage(role: "system", content: "Answer briefly."),
                ChatMessage(role: "user", content: "What is the weather\nin Paris?", name: "ana"),
                ChatMessage(
                    role: "assistant", content: "",
                    toolCalls: [ChatToolCall(id: "call_1", name: "weather", arguments: #"{"city": "Paris"}"#)]),
                ChatMessage(role: "tool", content: "18 C, sunny", toolCallID: "call_1"),
            ])
            #expect(
                expected.contains(
                    "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"))
            #expect(expected.contains("<|im_start|>tool\n<tool_response>\n18 C, sunny\n</tool_response><|im_end|>"))
            #expect(ids == server.backend.tokenize(expected))
            let usage = try #require(answer.json["usage"] as? [String: Int])
            #expect(usage["prompt_tokens"] == ids.count)
        }
    }

    /// n = 3: three choices (index 0…2) with their own streams, usage summed; the stream carries
    /// each choice's deltas and finish under its index; choice 0 is the n = 1 answer of the seed.
    @Test func nChoices() async throws {
        try await TestServer.with { server in
            var request: [String: any Sendable] = [
                "model": "test-model", "messages": [["role": "user", "content": "Say a word."]], "temperature": 1,
                "max_tokens": 10, "seed": 5, "n": 3,
            ]
            let many = try await server.post("/v1/chat/completions", json: request)
            #expect(many.status == 200, "\(many.text)")
            let choices = try #require(many.json["choices"] as? [[String: Any]])
            #expect(choices.map { $0["index"] as? Int } == [0, 1, 2])
            let texts = choices.map { ($0["message"] as? [String: Any])?["content"] as? String ?? "" }
            #expect(Set(texts).count > 1, "\(texts)")
            let usage = try #require(many.json["usage"] as? [String: Int])
            request["n"] = 1
            let one = try await server.post("/v1/chat/completions", json: request)
            let first = (one.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
            #expect(first?["content"] as? String == texts[0])

            request["n"] = 3
            request["stream"] = true
            request["stream_options"] = ["include_usage": true]
            let stream = try await server.post("/v1/chat/completions", json: request)
            var streamed = ["", "", ""]
            var finishes = 0
            for chunk in stream.chunks {
                for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                    let index = try #require(choice["index"] as? Int)
                    streamed[index] += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
                    if choice["finish_reason"] as? String != nil { finishes += 1 }
                }
            }
            #expect(streamed == texts)
            #expect(finishes == 3)
            #expect(stream.chunks.last?["usage"] as? [String: Int] == usage)
        }
    }

    /// json_object and json_schema at temperature 1: the answer parses (and validates).
    @Test func responseFormat() async throws {
        try await TestServer.with { server in
            let schema = """
                {"type": "object", "additionalProperties": false, "required": ["city", "sunny"],
                 "properties": {"city": {"type": "string", "maxLength": 12}, "sunny": {"type": "boolean"}}}
                """
            let formats = [
                #"{"type": "json_object"}"#,
                #"{"type": "json_schema", "json_schema": {"name": "w", "strict": true, "schema": \#(schema)}}"#,
            ]
            for (i, format) in formats.enumerated() {
                let body = """
                    {"model": "test-model", "messages": [{"role": "user", "content": "The weather, as JSON."}],
                     "temperature": 1, "seed": 3, "max_tokens": 120, "response_format": \(format)}
                    """
                let answer = try await server.post("/v1/chat/completions", raw: Array(body.utf8))
                #expect(answer.status == 200, "\(answer.text)")
                let choice = try #require((answer.json["choices"] as? [[String: Any]])?.first)
                let text = try #require((choice["message"] as? [String: Any])?["content"] as? String)
                #expect(choice["finish_reason"] as? String == "stop", "\(text)")
                let value = try JSONValue(parsing: text)
                #expect(value.objectValue != nil, "\(text)")
                if i == 1 {
                    let expected = try JSONValue(parsing: schema)
                    #expect(JSONSchemaCheck.problems(value, schema: expected) == [], "\(text)")
                }
            }
        }
    }

    static let weatherSchema = """
        {"type": "object", "additionalProperties": false, "required": ["city", "unit"],
         "properties": {"city": {"type": "string", "maxLength": 16}, "unit": {"enum": ["celsius", "fahrenheit"]}}}
        """
    static let tools = """
        [{"type": "function", "function": {"name": "weather", "description": "Current weather of a city",
          "parameters": \(weatherSchema)}},
         {"type": "function", "function": {"name": "time", "description": "The time in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 16}},
                         "required": ["city"]}}}]
        """

    /// The tool calls of a chat answer: (id, name, arguments).
    static func calls(_ message: [String: Any]?) -> [(String, String, String)] {
        (message?["tool_calls"] as? [[String: Any]] ?? []).map { call in
            let function = call["function"] as? [String: Any]
            return (
                call["id"] as? String ?? "", function?["name"] as? String ?? "", function?["arguments"] as? String ?? ""
            )
        }
    }

    /// tool_choice naming a function and `required` force a call (temperature 1): the answer is
    /// `tool_calls` in OpenAI's shape with arguments valid for the function's schema, `content`
    /// null and finish_reason `tool_calls`; streamed, the same call arrives as a tool-call delta;
    /// the call and its result sent back are answered.
    @Test func forcedToolCalls() async throws {
        try await TestServer.with { server in
            let choices = [#"{"type": "function", "function": {"name": "weather"}}"#, #""required""#]
            for (i, choice) in choices.enumerated() {
                let body = """
                    {"model": "test-model", "messages": [{"role": "user", "content": "Weather in Paris?"}],
                     "temperature": 1, "seed": \(7 + i), "max_tokens": 60, "n": 2, "tools": \(Self.tools),
                     "tool_choice": \(choice)}
                    """
                let answer = try await server.post("/v1/chat/completions", raw: Array(body.utf8))
                #expect(answer.status == 200, "\(answer.text)")
                let choices = try #require(answer.json["choices"] as? [[String: Any]])
                var ids: Set<String> = []
                for choice in choices {
                    let message = choice["message"] as? [String: Any]
                    #expect(choice["finish_reason"] as? String == "tool_calls", "\(answer.text)")
                    #expect(message?["content"] is NSNull, "\(answer.text)")
                    let calls = Self.calls(message)
                    #expect(calls.count == 1, "\(answer.text)")
                    for (id, name, arguments) in calls {
                        #expect(id.hasPrefix("call_"))
                        ids.insert(id)
                        #expect(i == 1 ? ["weather", "time"].contains(name) : name == "weather")
                        let value = try JSONValue(parsing: arguments)
                        if name == "weather" {
                            #expect(
                                JSONSchemaCheck.problems(value, schema: try JSONValue(parsing: Self.weatherSchema))
                                    == [])
                        }
                    }
                }
                #expect(ids.count == choices.count, "ids unique per request")

                // Streamed: the same call (same seed) as one tool-call delta per call, then the finish.
                let streamBody = Array(body.replacingOccurrences(of: "\"n\": 2", with: "\"stream\": true").utf8)
                let stream = try await server.post("/v1/chat/completions", raw: streamBody)
                var streamed: [(String, String, String)] = []
                var content = ""
                var finish: String?
                for chunk in stream.chunks {
                    for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                        let delta = choice["delta"] as? [String: Any]
                        content += delta?["content"] as? String ?? ""
                        streamed += Self.calls(delta)
                        if let reason = choice["finish_reason"] as? String { finish = reason }
                    }
                }
                let first = Self.calls(choices[0]["message"] as? [String: Any])
                #expect(content == "" && finish == "tool_calls", "\(content.debugDescription) \(stream.text)")
                #expect(streamed.map { [$0.1, $0.2] } == first.map { [$0.1, $0.2] }, "\(stream.text)")
            }

            // The round trip: the call and its result in the history, answered in text.
            let call = try #require(
                Self.calls(
                    (try await server.post(
                        "/v1/chat/completions",
                        raw: Array(
                            """
                            {"model": "test-model", "messages": [{"role": "user", "content": "Weather in Paris?"}],
                             "temperature": 0, "max_tokens": 60, "tools": \(Self.tools), "tool_choice": "required"}
                            """.utf8)
                    ).json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
                ).first)
            let history = """
                [{"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": null, "tool_calls": [{"id": "\(call.0)", "type": "function",
                   "function": {"name": "\(call.1)", "arguments": \(JSONText.quoted(call.2))}}]},
                 {"role": "tool", "tool_call_id": "\(call.0)", "content": "18 C and sunny"}]
                """
            let final = try await server.post(
                "/v1/chat/completions",
                raw: Array(
                    #"{"model": "test-model", "messages": \#(history), "max_tokens": 12, "temperature": 0, "tools": \#(Self.tools), "tool_choice": "none"}"#
                        .utf8))
            #expect(final.status == 200, "\(final.text)")
            let text = ((final.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]
            #expect((text as? String)?.isEmpty == false, "\(final.text)")
        }
    }
}
