import GonkaCore
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

extension Anthropic {
    /// The Anthropic answer for an OpenAI chat answer (what `/v1/chat/completions` returned for the
    /// translated request): a JSON completion becomes a `message`, an OpenAI error an Anthropic
    /// `error` with the same status, a server-sent-events stream Anthropic's event stream
    /// (``EventStream``).
    public static func response(_ response: Response) async -> Response {
        var translated = await translate(response)
        // Headers the upstream added (X-Gonka-Inference-Id, …) stay; the body's own are the new ones.
        for field in response.headers where field.name != .contentType && field.name != .contentLength {
            if translated.headers[field.name] == nil { translated.headers.append(field) }
        }
        return translated
    }

    static func translate(_ response: Response) async -> Response {
        let body = response.body
        if response.status == .ok, response.headers[.contentType]?.hasPrefix("text/event-stream") == true {
            var headers = response.headers
            headers[.contentLength] = nil
            let translated = ResponseBody { writer in
                let stream = EventStream.Shared()
                try await body.write(
                    writer.map { buffer in ByteBuffer(bytes: stream.feed(Array(buffer.readableBytesView))) })
            }
            return Response(status: .ok, headers: headers, body: translated)
        }
        let sink = Sink()
        do {
            try await body.write(Collector(sink: sink))
        } catch {
            return json(
                errorBody(type: "api_error", message: "The answer could not be read: \(error)"), status: .badGateway)
        }
        let value = try? JSONValue(parsing: sink.bytes.withLock { $0 })
        guard let value, value.objectValue != nil else {
            return json(
                errorBody(
                    type: "api_error", message: "The upstream answer is not JSON (status \(response.status.code))."),
                status: response.status == .ok ? .badGateway : response.status)
        }
        if response.status != .ok || value["error"] != nil {
            let message = value["error"]?["message"]?.stringValue ?? "The request failed."
            let status = response.status == .ok ? HTTPResponse.Status.internalServerError : response.status
            return json(errorBody(type: errorType(status: Int(status.code)), message: message), status: status)
        }
        return json(message(from: value), status: .ok)
    }

    /// An error as Anthropic's API sends it.
    public static func error(_ message: String, status: Int) -> Response {
        json(errorBody(type: errorType(status: status), message: message), status: .init(code: status))
    }

    static func errorBody(type: String, message: String) -> JSONValue {
        ["type": "error", "error": ["type": .string(type), "message": .string(message)]]
    }

    /// Anthropic's error type of an HTTP status.
    static func errorType(status: Int) -> String {
        switch status {
        case 401: "authentication_error"
        case 402: "billing_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.bytes())))
    }

    /// `msg_…` from a `chatcmpl-…` id.
    static func messageID(_ chatID: String?) -> String {
        let suffix = chatID.map { $0.hasPrefix("chatcmpl-") ? String($0.dropFirst(9)) : $0 } ?? ""
        return "msg_" + (suffix.isEmpty ? "0" : suffix)
    }

    static func stopReason(_ finish: String?) -> JSONValue {
        switch finish {
        case "length": "max_tokens"
        case "tool_calls": "tool_use"
        case .none: .null
        default: "end_turn"
        }
    }

    /// A tool call's arguments (JSON text) as `input` (an object; `{}` if they do not parse).
    static func input(_ arguments: String?) -> JSONValue {
        guard let arguments, let value = try? JSONValue(parsing: arguments), value.objectValue != nil else {
            return [:]
        }
        return value
    }

    /// A chat completion as a `message`: the first choice's text block and `tool_use` blocks.
    static func message(from completion: JSONValue) -> JSONValue {
        let choice = completion["choices"]?.arrayValue?.first
        let message = choice?["message"]
        var content: [JSONValue] = []
        if let text = message?["content"]?.stringValue, !text.isEmpty {
            content.append(["type": "text", "text": .string(text)])
        }
        for call in message?["tool_calls"]?.arrayValue ?? [] {
            content.append([
                "type": "tool_use", "id": .string(call["id"]?.stringValue ?? ""),
                "name": .string(call["function"]?["name"]?.stringValue ?? ""),
                "input": input(call["function"]?["arguments"]?.stringValue),
            ])
        }
        return [
            "id": .string(messageID(completion["id"]?.stringValue)), "type": "message", "role": "assistant",
            "model": completion["model"] ?? .null, "content": .array(content),
            "stop_reason": stopReason(choice?["finish_reason"]?.stringValue), "stop_sequence": .null,
            "usage": [
                "input_tokens": completion["usage"]?["prompt_tokens"] ?? 0,
                "output_tokens": completion["usage"]?["completion_tokens"] ?? 0,
            ],
        ]
    }

    /// Collects a body's bytes.
    final class Sink: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    struct Collector: ResponseBodyWriter {
        let sink: Sink
        mutating func write(_ buffer: ByteBuffer) async throws {
            sink.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    /// OpenAI chat chunks (`data: {…}` events, `data: [DONE]`) in, Anthropic's events out:
    /// `message_start`; per text run or tool call a `content_block_start`, its deltas (`text_delta`,
    /// `input_json_delta`) and `content_block_stop`; at the end `message_delta` (stop_reason,
    /// usage) and `message_stop`. An error event becomes Anthropic's `error` event. Only choice 0
    /// is read (Anthropic has no `n`).
    struct EventStream {
        enum Block { case none, text, tool }

        private var pending: [UInt8] = []
        private var started = false
        private var ended = false
        private var open = Block.none
        private var index = -1
        private var stop: JSONValue = .null
        private var inputTokens: JSONValue = 0
        private var outputTokens: JSONValue = 0

        /// A stream's translator, fed by one writer in order.
        final class Shared: Sendable {
            private let state = Mutex(EventStream())
            func feed(_ bytes: [UInt8]) -> [UInt8] { state.withLock { $0.feed(bytes) } }
        }

        /// Takes bytes of the OpenAI stream; returns Anthropic event bytes.
        mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
            pending.append(contentsOf: bytes)
            var out: [UInt8] = []
            while let end = Self.eventEnd(pending) {
                let event = Array(pending[..<end.lowerBound])
                pending.removeFirst(end.upperBound)
                for line in event.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("data:".utf8)) {
                    let data = String(decoding: line.dropFirst(5), as: UTF8.self).trimmingCharacters()
                    out += handle(data)
                }
            }
            return out
        }

        static func eventEnd(_ bytes: [UInt8]) -> Range<Int>? {
            guard bytes.count >= 2 else { return nil }
            for i in 0..<(bytes.count - 1) where bytes[i] == 0x0A && bytes[i + 1] == 0x0A { return i..<(i + 2) }
            return nil
        }

        static func event(_ name: String, _ data: JSONValue) -> [UInt8] {
            Array("event: \(name)\ndata: ".utf8) + data.bytes() + Array("\n\n".utf8)
        }

        mutating func handle(_ data: String) -> [UInt8] {
            guard !ended else { return [] }
            if data == "[DONE]" { return finish() }
            guard let chunk = try? JSONValue(parsing: data), chunk.objectValue != nil else { return [] }
            if let error = chunk["error"] {
                ended = true
                return Self.event(
                    "error",
                    Anthropic.errorBody(
                        type: "api_error", message: error["message"]?.stringValue ?? "generation failed"))
            }
            var out: [UInt8] = []
            if !started {
                started = true
                out += Self.event(
                    "message_start",
                    [
                        "type": "message_start",
                        "message": [
                            "id": .string(Anthropic.messageID(chunk["id"]?.stringValue)), "type": "message",
                            "role": "assistant",
                            "model": chunk["model"] ?? .null, "content": [], "stop_reason": .null,
                            "stop_sequence": .null, "usage": ["input_tokens": 0, "output_tokens": 0],
                        ],
                    ])
            }
            if let usage = chunk["usage"], !usage.isNull {
                inputTokens = usage["prompt_tokens"] ?? 0
                outputTokens = usage["completion_tokens"] ?? 0
            }
            for choice in chunk["choices"]?.arrayValue ?? [] where choice["index"]?.intValue ?? 0 == 0 {
                let delta = choice["delta"]
                if let text = delta?["content"]?.stringValue, !text.isEmpty {
                    if open != .text {
                        out += close()
                        out += startBlock(.text, ["type": "text", "text": ""])
                    }
                    out += Self.event(
                        "content_block_delta",
                        [
                            "type": "content_block_delta", "index": .int(Int64(index)),
                            "delta": ["type": "text_delta", "text": .string(text)],
                        ])
                }
                for call in delta?["tool_calls"]?.arrayValue ?? [] {
                    if let id = call["id"]?.stringValue {
                        out += close()
                        out += startBlock(
                            .tool,
                            [
                                "type": "tool_use", "id": .string(id),
                                "name": .string(call["function"]?["name"]?.stringValue ?? ""), "input": [:],
                            ])
                    }
                    if let arguments = call["function"]?["arguments"]?.stringValue, !arguments.isEmpty, open == .tool {
                        out += Self.event(
                            "content_block_delta",
                            [
                                "type": "content_block_delta", "index": .int(Int64(index)),
                                "delta": ["type": "input_json_delta", "partial_json": .string(arguments)],
                            ])
                    }
                }
                if let reason = choice["finish_reason"]?.stringValue {
                    out += close()
                    stop = Anthropic.stopReason(reason)
                }
            }
            return out
        }

        mutating func startBlock(_ kind: Block, _ block: JSONValue) -> [UInt8] {
            index += 1
            open = kind
            return Self.event(
                "content_block_start",
                ["type": "content_block_start", "index": .int(Int64(index)), "content_block": block])
        }

        mutating func close() -> [UInt8] {
            guard open != .none else { return [] }
            open = .none
            return Self.event("content_block_stop", ["type": "content_block_stop", "index": .int(Int64(index))])
        }

        mutating func finish() -> [UInt8] {
            ended = true
            var out = close()
            if !started {
                started = true
                out += Self.event(
                    "message_start",
                    [
                        "type": "message_start",
                        "message": [
                            "id": "msg_0", "type": "message", "role": "assistant", "model": .null, "content": [],
                            "stop_reason": .null, "stop_sequence": .null,
                            "usage": ["input_tokens": 0, "output_tokens": 0],
                        ],
                    ])
            }
            out += Self.event(
                "message_delta",
                [
                    "type": "message_delta", "delta": ["stop_reason": stop, "stop_sequence": .null],
                    "usage": ["input_tokens": inputTokens, "output_tokens": outputTokens],
                ])
            out += Self.event("message_stop", ["type": "message_stop"])
            return out
        }
    }
}

extension String {
    /// Without leading and trailing spaces.
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " || $0 == "\r" }.reversed())
    }
}
