import Foundation
import GonkaCore
import GonkaTestKit
import MLNode
import Testing

/// Anthropic's Messages API on the ML node (issue 20 part 6): translated once to the chat request
/// (``Anthropic/chatRequest(_:)``) and the answer back, streamed and not, with tools.
@Suite(.serialized, .timeLimit(.minutes(5)), .hangGuard)
struct AnthropicTests {
    static let tools = """
        [{"name": "weather", "description": "Current weather of a city",
          "input_schema": {"type": "object", "required": ["city"],
                           "properties": {"city": {"type": "string", "maxLength": 16}}}}]
        """

    /// The same request as a chat completion and as a message: the same text and token counts.
    @Test func plainAndStreamedMatchTheChatAnswer() async throws {
        try await TestServer.with { server in
            let message = try await server.post(
                "/v1/messages",
                raw: Array(
                    #"{"model": "test-model", "max_tokens": 8, "temperature": 0, "system": "Answer briefly.", "messages": [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]}"#
                        .utf8))
            #expect(message.status == 200, "\(message.text)")
            #expect(message.json["type"] as? String == "message" && message.json["role"] as? String == "assistant")
            #expect((message.json["id"] as? String)?.hasPrefix("msg_") == true)
            let content = try #require(message.json["content"] as? [[String: Any]])
            let text = try #require(content.first?["text"] as? String)
            #expect(content.first?["type"] as? String == "text" && !text.isEmpty)
            #expect(message.json["stop_reason"] as? String == "max_tokens")
            let usage = try #require(message.json["usage"] as? [String: Int])

            let chat = try await server.post(
                "/v1/chat/completions",
                raw: Array(
                    #"{"model": "test-model", "max_tokens": 8, "temperature": 0, "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is the capital of France?"}]}"#
                        .utf8))
            let chatText = ((chat.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]
            #expect(chatText as? String == text)
            let chatUsage = try #require(chat.json["usage"] as? [String: Int])
            #expect(
                usage["input_tokens"] == chatUsage["prompt_tokens"]
                    && usage["output_tokens"] == chatUsage["completion_tokens"])

            let stream = try await server.post(
                "/v1/messages",
                raw: Array(
                    #"{"model": "test-model", "max_tokens": 8, "temperature": 0, "stream": true, "system": [{"type": "text", "text": "Answer briefly."}], "messages": [{"role": "user", "content": "What is the capital of France?"}]}"#
                        .utf8))
            #expect(stream.status == 200 && stream.contentType.hasPrefix("text/event-stream"))
            let names = stream.text.split(separator: "\n").compactMap { line in
                line.hasPrefix("event: ") ? String(line.dropFirst(7)) : nil
            }
            #expect(names.first == "message_start" && names.last == "message_stop", "\(names)")
            #expect(Array(names.suffix(3)) == ["content_block_stop", "message_delta", "message_stop"], "\(names)")
            #expect(names.filter { $0 == "content_block_start" }.count == 1)
            var streamed = ""
            var final: [String: Any] = [:]
            for chunk in stream.chunks {
                if let delta = chunk["delta"] as? [String: Any], delta["type"] as? String == "text_delta" {
                    streamed += delta["text"] as? String ?? ""
                }
                if chunk["type"] as? String == "message_delta" { final = chunk }
            }
            #expect(streamed == text)
            #expect((final["delta"] as? [String: Any])?["stop_reason"] as? String == "max_tokens")
            #expect((final["usage"] as? [String: Int])?["output_tokens"] == usage["output_tokens"])
        }
    }

    /// tool_choice `tool` forces a call: a tool_use block with its input, stop_reason tool_use;
    /// streamed as a tool_use block with an input_json_delta; the tool_result sent back is answered.
    @Test func toolUseRoundTrip() async throws {
        try await TestServer.with { server in
            let request = """
                {"model": "test-model", "max_tokens": 60, "temperature": 0, "tools": \(Self.tools),
                 "tool_choice": {"type": "tool", "name": "weather"},
                 "messages": [{"role": "user", "content": "Weather in Paris?"}]}
                """
            let answer = try await server.post("/v1/messages", raw: Array(request.utf8))
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer.json["stop_reason"] as? String == "tool_use", "\(answer.text)")
            let block = try #require((answer.json["content"] as? [[String: Any]])?.first)
            #expect(block["type"] as? String == "tool_use" && block["name"] as? String == "weather")
            let id = try #require(block["id"] as? String)
            let input = try #require(block["input"] as? [String: Any])
            #expect(input["city"] is String, "\(answer.text)")

            let streamBody = request.replacingOccurrences(
                of: "\"temperature\": 0,", with: "\"temperature\": 0, \"stream\": true,")
            let stream = try await server.post("/v1/messages", raw: Array(streamBody.utf8))
            var json = ""
            var started: [String: Any] = [:]
            for chunk in stream.chunks {
                if chunk["type"] as? String == "content_block_start" {
                    started = chunk["content_block"] as? [String: Any] ?? [:]
                }
                if let delta = chunk["delta"] as? [String: Any], delta["type"] as? String == "input_json_delta" {
                    json += delta["partial_json"] as? String ?? ""
                }
            }
            #expect(
                started["type"] as? String == "tool_use" && started["name"] as? String == "weather", "\(stream.text)")
            let streamedInput = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect(streamedInput?["city"] as? String == input["city"] as? String)

            let inputText = String(decoding: try JSONSerialization.data(withJSONObject: input), as: UTF8.self)
            let followUp = """
                {"model": "test-model", "max_tokens": 10, "temperature": 0, "tools": \(Self.tools),
                 "messages": [{"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "\(id)", "name": "weather", "input": \(inputText)}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "\(id)", "content": "18 C, sunny"}]}]}
                """
            let final = try await server.post("/v1/messages", raw: Array(followUp.utf8))
            #expect(final.status == 200, "\(final.text)")
            #expect((final.json["content"] as? [[String: Any]])?.isEmpty == false, "\(final.text)")
        }
    }

    @Test(arguments: [
        (#"{"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}"#, "max_tokens"),
        (#"{"model": "test-model", "max_tokens": 4, "messages": []}"#, "messages"),
        (#"{"model": "test-model", "max_tokens": 4, "messages": [{"role": "system", "content": "hi"}]}"#, "role"),
        (
            #"{"model": "test-model", "max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}]}"#,
            "toolu_x"
        ),
        (
            #"{"model": "test-model", "max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}]}"#,
            "no vision"
        ),
        (
            #"{"model": "test-model", "max_tokens": 4, "tool_choice": {"type": "sometimes"}, "messages": [{"role": "user", "content": "hi"}]}"#,
            "tool_choice.type"
        ),
        (
            #"{"model": "test-model", "max_tokens": 4, "tools": [{"name": "f", "input_schema": {"type": "strin"}}], "messages": [{"role": "user", "content": "hi"}]}"#,
            "parameters.type"
        ),
        ("[1]", "JSON object"),
    ])
    func badRequestsAreAnthropicErrors(body: String, mention: String) async throws {
        try await TestServer.with { server in
            let answer = try await server.post("/v1/messages", raw: Array(body.utf8))
            #expect(answer.status == 400, "\(answer.text)")
            #expect(answer.json["type"] as? String == "error")
            let error = try #require(answer.json["error"] as? [String: Any])
            #expect(error["type"] as? String == "invalid_request_error")
            #expect((error["message"] as? String)?.contains(mention) == true, "\(answer.text)")
        }
    }
}
