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

    private(set) var tokens: [InferencePayload.Token] = []
    private(set) var text = ""
    private(set) var finishReason = ""
    private(set) var promptTokens: UInt64 = 0
    private(set) var completionTokens: UInt64 = 0
    private(set) var id = ""
    private(set) var created = 0
    private(set) var model = ""
    /// Client-facing logprob entries, kept for a non-streamed answer.
    private var chatLogprobs: [JSONValue] = []
    private var completionLogprobs:
        (tokens: [JSONValue], logprobs: [JSONValue], top: [JSONValue], offsets: [JSONValue]) =
            ([], [], [], [])
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
            if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
            switch kind {
            case .chat:
                if let content = choice["delta"]?["content"]?.stringValue { text += content }
                choice["logprobs"] = takeChat(choice["logprobs"]) ?? .null
            case .completion:
                if let piece = choice["text"]?.stringValue { text += piece }
                choice["logprobs"] = takeCompletion(choice["logprobs"]) ?? .null
            }
            outChoices.append(choice)
        }
        out["choices"] = .array(outChoices)
        return out
    }

    private mutating func takeChat(_ logprobs: JSONValue?) -> JSONValue? {
        guard let content = logprobs?["content"]?.arrayValue else { return nil }
        var client: [JSONValue] = []
        for entry in content where entry.objectValue != nil {
            let top = (entry["top_logprobs"]?.arrayValue ?? []).filter { $0.objectValue != nil }
            if let id = Self.tokenID(entry["token"]) {
                tokens.append(
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
        chatLogprobs.append(contentsOf: client)
        return clientLogprobs ? ["content": .array(client)] : nil
    }

    private mutating func takeCompletion(_ logprobs: JSONValue?) -> JSONValue? {
        guard let logprobs, let ids = logprobs["tokens"]?.arrayValue else { return nil }
        let values = logprobs["token_logprobs"]?.arrayValue ?? []
        let tops = (logprobs["top_logprobs"]?.arrayValue ?? []).map { $0.objectValue ?? [] }
        for (i, token) in ids.enumerated() {
            guard let id = Self.tokenID(token) else { continue }
            let top = (i < tops.count ? tops[i] : []).compactMap { key, value in
                Self.tokenID(key).map { InferencePayload.Alternative(token: $0, logprob: Self.float(value)) }
            }.sorted { $0.logprob != $1.logprob ? $0.logprob > $1.logprob : $0.token < $1.token }
            tokens.append(
                InferencePayload.Token(token: id, logprob: Self.float(i < values.count ? values[i] : nil), top: top))
        }
        // Legacy completions carry no token bytes; the client sees `token_id:N` entries.
        var shown = logprobs
        let shownTops: [JSONValue] = tops.map { top in
            .object(Array(top.sorted { Self.float($0.1) > Self.float($1.1) }.prefix(clientTopLogprobs)))
        }
        shown["top_logprobs"] = .array(shownTops)
        completionLogprobs.tokens.append(contentsOf: ids)
        completionLogprobs.logprobs.append(contentsOf: values)
        completionLogprobs.top.append(contentsOf: shownTops)
        completionLogprobs.offsets.append(contentsOf: logprobs["text_offset"]?.arrayValue ?? [])
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
        var choice: JSONValue = ["index": 0, "finish_reason": .string(finishReason.isEmpty ? "stop" : finishReason)]
        switch kind {
        case .chat:
            choice["message"] = ["role": "assistant", "content": .string(text)]
            choice["logprobs"] = clientLogprobs ? ["content": .array(chatLogprobs)] : .null
            return [
                "id": .string(id), "object": "chat.completion", "created": JSONValue(created),
                "model": .string(model), "choices": [choice], "usage": usage,
            ]
        case .completion:
            choice["text"] = .string(text)
            choice["logprobs"] =
                clientLogprobs
                ? [
                    "tokens": .array(completionLogprobs.tokens), "token_logprobs": .array(completionLogprobs.logprobs),
                    "top_logprobs": .array(completionLogprobs.top), "text_offset": .array(completionLogprobs.offsets),
                ] : .null
            return [
                "id": .string(id), "object": "text_completion", "created": JSONValue(created),
                "model": .string(model), "choices": [choice], "usage": usage,
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
