import GonkaCore

/// The executor's view of one ML-node answer, chunk by chunk (PROTOCOL §6.3): records token ids,
/// logprobs and top-k for the payload, and turns each chunk into what the client asked for (the
/// rewrite forced logprobs, token ids and usage; the client sees them only if it asked).
struct ExecutorCapture: Sendable {
    let kind: RequestKind
    /// What the client asked for before the rewrite.
    let clientLogprobs: Bool
    let clientTopLogprobs: Int
    let clientUsage: Bool

    /// One choice of the answer (`n` > 1 answers have several, by `index`).
    struct Choice: Sendable {
        var tokens: [InferencePayload.Token] = []
        var text = ""
        /// Tool calls streamed as `delta.tool_calls` (the ML node sends each call whole).
        var toolCalls: [JSONValue] = []
        var finishReason = ""
        /// Client-facing logprob entries, kept for a non-streamed answer.
        var chatLogprobs: [JSONValue] = []
        var completionLogprobs: (tokens: [JSONValue], logprobs: [JSONValue], top: [JSONValue], offsets: [JSONValue]) =
            ([], [], [], [])
    }

    private(set) var choices: [Choice] = []
    /// Text of every choice so far (only its being non-empty is read: the first-token mark).
    var text: String { choices.map(\.text).joined() }
    /// The payload's choices, in index order.
    var payloadChoices: [InferencePayload.Choice] {
        (choices.isEmpty ? [Choice()] : choices).map {
            InferencePayload.Choice(finishReason: $0.finishReason, tokens: $0.tokens)
        }
    }
    private(set) var promptTokens: UInt64 = 0
    private(set) var completionTokens: UInt64 = 0
    private(set) var id = ""
    private(set) var created = 0
    private(set) var model = ""
    /// An error event the ML node sent in the stream.
    private(set) var streamError: JSONValue?

    init(kind: RequestKind, originalBody: JSONValue) {
        self.kind = kind
        switch kind {
        case .chat:
            clientLogprobs = originalBody["logprobs"]?.boolValue ?? false
            clientTopLogprobs = originalBody["top_logprobs"]?.intValue ?? 0
        case .completion:
            let k = originalBody["logprobs"]?.intValue
            clientLogprobs = k != nil
            clientTopLogprobs = k ?? 0
        }
        clientUsage = originalBody["stream_options"]?["include_usage"]?.boolValue ?? false
    }

    /// The request the ML node runs: logprobs forced with at least 5 alternatives, token ids in
    /// logprob entries, a seed, streaming with usage (the executor always streams from the ML node
    /// so it answers its TA as soon as the ML node accepted the request).
    static func rewrite(_ body: JSONValue, kind: RequestKind, seed: Int64) -> JSONValue {
        var out = body
        switch kind {
        case .chat:
            out["logprobs"] = true
            out["top_logprobs"] = JSONValue(max(5, body["top_logprobs"]?.intValue ?? 0))
        case .completion:
            out["logprobs"] = JSONValue(max(5, body["logprobs"]?.intValue ?? 0))
        }
        if body["seed"]?.isNull ?? true { out["seed"] = .int(seed) }
        out["stream"] = true
        out["stream_options"] = ["include_usage": true]
        out["return_tokens_as_token_ids"] = true
        return out
    }

    static func tokenID(_ text: JSONValue?) -> UInt32? { tokenID(text?.stringValue) }

    static func tokenID(_ text: String?) -> UInt32? {
        guard let s = text, s.hasPrefix("token_id:") else { return nil }
        return UInt32(s.dropFirst("token_id:".count))
    }

    static func float(_ value: JSONValue?) -> Float { Float(value?.doubleValue ?? -9999) }

    /// Takes one SSE `data:` JSON object from the ML node; returns the chunk to send the client
    /// (nil: nothing to send for it).
    mutating func take(_ event: JSONValue) -> JSONValue? {
        if let error = event["error"], error.objectValue != nil {
            streamError = error
            return event
        }
        if id.isEmpty {
            id = event["id"]?.stringValue ?? ""
            created = event["created"]?.intValue ?? 0
            model = event["model"]?.stringValue ?? ""
        }
        if let usage = event["usage"], usage.objectValue != nil {
            promptTokens = usage["prompt_tokens"]?.uint64Value ?? 0
            completionTokens = usage["completion_tokens"]?.uint64Value ?? 0
        }
        var out = event
        let choices = (event["choices"]?.arrayValue ?? []).filter { $0.objectValue != nil }
        if choices.isEmpty {
            return event["usage"] != nil && !clientUsage ? nil : out
        }
        var outChoices: [JSONValue] = []
        for var choice in choices {
            let index = choice["index"]?.intValue ?? 0
            // The ML node numbers choices 0..<n (n ≤ 8); anything else is not an answer to record.
            guard (0..<8).contains(index) else { continue }
            while self.choices.count <= index { self.choices.append(Choice()) }
            if let reason = choice["finish_reason"]?.stringValue { self.choices[index].finishReason = reason }
            switch kind {
            case .chat:
                if let content = choice["delta"]?["content"]?.stringValue { self.choices[index].text += content }
                for call in choice["delta"]?["tool_calls"]?.arrayValue ?? [] where call["id"] != nil {
                    self.choices[index].toolCalls.append(
                        ["id": call["id"] ?? "", "type": "function", "function": call["function"] ?? [:]])
                }
                choice["logprobs"] = takeChat(choice["logprobs"], index: index) ?? .null
            case .completion:
                if let piece = choice["text"]?.stringValue { self.choices[index].text += piece }
                choice["logprobs"] = takeCompletion(choice["logprobs"], index: index) ?? .null
            }
            outChoices.append(choice)
        }
        out["choices"] = .array(outChoices)
        return out
    }

    private mutating func takeChat(_ logprobs: JSONValue?, index: Int) -> JSONValue? {
        guard let content = logprobs?["content"]?.arrayValue else { return nil }
        var client: [JSONValue] = []
        for entry in content where entry.objectValue != nil {
            let top = (entry["top_logprobs"]?.arrayValue ?? []).filter { $0.objectValue != nil }
            if let id = Self.tokenID(entry["token"]) {
                choices[index].tokens.append(
                    InferencePayload.Token(
                        token: id, logprob: Self.float(entry["logprob"]),
                        top: top.compactMap { alt in
                            Self.tokenID(alt["token"]).map {
                                InferencePayload.Alternative(token: $0, logprob: Self.float(alt["logprob"]))
                            }
                        }))
            }
            var shown = entry
            shown["token"] = .string(Self.text(entry["bytes"]))
            shown["top_logprobs"] = .array(
                top.prefix(clientTopLogprobs).map { alt in
                    var alt = alt
                    alt["token"] = .string(Self.text(alt["bytes"]))
                    return alt
                })
            client.append(shown)
        }
        choices[index].chatLogprobs.append(contentsOf: client)
        return clientLogprobs ? ["content": .array(client)] : nil
    }

    private mutating func takeCompletion(_ logprobs: JSONValue?, index: Int) -> JSONValue? {
        guard let logprobs, let ids = logprobs["tokens"]?.arrayValue else { return nil }
        let values = logprobs["token_logprobs"]?.arrayValue ?? []
        let tops = (logprobs["top_logprobs"]?.arrayValue ?? []).map { $0.objectValue ?? [] }
        for (i, token) in ids.enumerated() {
            guard let id = Self.tokenID(token) else { continue }
            let top = (i < tops.count ? tops[i] : []).compactMap { key, value in
                Self.tokenID(key).map { InferencePayload.Alternative(token: $0, logprob: Self.float(value)) }
            }.sorted { $0.logprob != $1.logprob ? $0.logprob > $1.logprob : $0.token < $1.token }
            choices[index].tokens.append(
                InferencePayload.Token(token: id, logprob: Self.float(i < values.count ? values[i] : nil), top: top))
        }
        // Legacy completions carry no token bytes; the client sees `token_id:N` entries.
        var shown = logprobs
        let shownTops: [JSONValue] = tops.map { top in
            .object(Array(top.sorted { Self.float($0.1) > Self.float($1.1) }.prefix(clientTopLogprobs)))
        }
        shown["top_logprobs"] = .array(shownTops)
        choices[index].completionLogprobs.tokens.append(contentsOf: ids)
        choices[index].completionLogprobs.logprobs.append(contentsOf: values)
        choices[index].completionLogprobs.top.append(contentsOf: shownTops)
        choices[index].completionLogprobs.offsets.append(contentsOf: logprobs["text_offset"]?.arrayValue ?? [])
        return clientLogprobs ? shown : nil
    }

    static func text(_ bytes: JSONValue?) -> String {
        let list = bytes?.arrayValue?.compactMap { $0.intValue.flatMap(UInt8.init(exactly:)) } ?? []
        return String(decoding: list, as: UTF8.self)
    }

    /// The whole answer for a client that did not stream.
    var completeResponse: JSONValue {
        let usage: JSONValue = [
            "prompt_tokens": JSONValue(promptTokens), "completion_tokens": JSONValue(completionTokens),
            "total_tokens": JSONValue(promptTokens + completionTokens),
        ]
        let all = choices.isEmpty ? [Choice()] : choices
        switch kind {
        case .chat:
            let list: [JSONValue] = all.enumerated().map { index, c in
                var message: JSONValue = ["role": "assistant", "content": .string(c.text)]
                if !c.toolCalls.isEmpty {
                    // OpenAI's shape: the text before the calls, or null.
                    let text = c.text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
                    message["content"] = text.isEmpty ? .null : .string(c.text)
                    message["tool_calls"] = .array(c.toolCalls)
                }
                return [
                    "index": JSONValue(index), "message": message,
                    "logprobs": clientLogprobs ? ["content": .array(c.chatLogprobs)] : .null,
                    "finish_reason": .string(c.finishReason.isEmpty ? "stop" : c.finishReason),
                ]
            }
            return [
                "id": .string(id), "object": "chat.completion", "created": JSONValue(created),
                "model": .string(model), "choices": .array(list), "usage": usage,
            ]
        case .completion:
            let list: [JSONValue] = all.enumerated().map { index, c in
                [
                    "index": JSONValue(index), "text": .string(c.text),
                    "logprobs": clientLogprobs
                        ? [
                            "tokens": .array(c.completionLogprobs.tokens),
                            "token_logprobs": .array(c.completionLogprobs.logprobs),
                            "top_logprobs": .array(c.completionLogprobs.top),
                            "text_offset": .array(c.completionLogprobs.offsets),
                        ] : .null,
                    "finish_reason": .string(c.finishReason.isEmpty ? "stop" : c.finishReason),
                ]
            }
            return [
                "id": .string(id), "object": "text_completion", "created": JSONValue(created),
                "model": .string(model), "choices": .array(list), "usage": usage,
            ]
        }
    }
}

/// Splits a byte stream of server-sent events into `data:` payloads.
struct SSESplitter {
    private var buffer: [UInt8] = []

    /// Feeds bytes; returns the complete events' data fields.
    mutating func push(_ bytes: some Sequence<UInt8>) -> [String] {
        buffer.append(contentsOf: bytes)
        var out: [String] = []
        while let end = Self.boundary(in: buffer) {
            let event = String(decoding: buffer[..<end.start], as: UTF8.self)
            buffer.removeFirst(end.end)
            var data: [String] = []
            for line in event.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = line.hasSuffix("\r") ? line.dropLast() : line
                if line.hasPrefix("data:") {
                    let value = line.dropFirst(5)
                    data.append(String(value.hasPrefix(" ") ? value.dropFirst() : value))
                }
            }
            if !data.isEmpty { out.append(data.joined(separator: "\n")) }
        }
        return out
    }

    private static func boundary(in bytes: [UInt8]) -> (start: Int, end: Int)? {
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == 10 && bytes[i + 1] == 10 { return (i, i + 2) }
            if i + 3 < bytes.count, bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13, bytes[i + 3] == 10 {
                return (i, i + 4)
            }
            i += 1
        }
        return nil
    }
}
