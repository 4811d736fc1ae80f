import Foundation

/// The executor's view of one ML-node answer, chunk by chunk (PROTOCOL §6.3): records token ids,
/// logprobs and top-k for the payload, and turns each chunk into what the client asked for (the
/// rewrite forced logprobs, token ids and usage; the client sees them only if it asked).
struct ExecutorCapture: @unchecked Sendable {
    // `@unchecked Sendable`: the JSON values it keeps are plain Foundation values created and read by
    // the one task that relays one answer.
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
    private var chatLogprobs: [Any] = []
    private var completionLogprobs: (tokens: [Any], logprobs: [Any], top: [Any], offsets: [Any]) = ([], [], [], [])
    /// An error event the ML node sent in the stream.
    private(set) var streamError: [String: Any]?

    init(kind: RequestKind, originalBody: [String: Any]) {
        self.kind = kind
        switch kind {
        case .chat:
            clientLogprobs = (originalBody["logprobs"] as? Bool) ?? false
            clientTopLogprobs = (originalBody["top_logprobs"] as? Int) ?? 0
        case .completion:
            let k = originalBody["logprobs"] as? Int
            clientLogprobs = k != nil
            clientTopLogprobs = k ?? 0
        }
        let options = originalBody["stream_options"] as? [String: Any]
        clientUsage = (options?["include_usage"] as? Bool) ?? false
    }

    /// The request the ML node runs: logprobs forced with at least 5 alternatives, token ids in
    /// logprob entries, a seed, streaming with usage (the executor always streams from the ML node
    /// so it answers its TA as soon as the ML node accepted the request).
    static func rewrite(_ body: [String: Any], kind: RequestKind, seed: Int64) -> [String: Any] {
        var out = body
        switch kind {
        case .chat:
            out["logprobs"] = true
            out["top_logprobs"] = max(5, (body["top_logprobs"] as? Int) ?? 0)
        case .completion:
            out["logprobs"] = max(5, (body["logprobs"] as? Int) ?? 0)
        }
        if body["seed"] == nil || body["seed"] is NSNull { out["seed"] = seed }
        out["stream"] = true
        out["stream_options"] = ["include_usage": true]
        out["return_tokens_as_token_ids"] = true
        return out
    }

    static func tokenID(_ text: Any?) -> UInt32? {
        guard let s = text as? String, s.hasPrefix("token_id:") else { return nil }
        return UInt32(s.dropFirst("token_id:".count))
    }

    static func float(_ any: Any?) -> Float { Float((any as? NSNumber)?.doubleValue ?? -9999) }

    /// Takes one SSE `data:` JSON object from the ML node; returns the chunk to send the client
    /// (nil: nothing to send for it).
    mutating func take(_ event: [String: Any]) -> [String: Any]? {
        if let error = event["error"] as? [String: Any] {
            streamError = error
            return event
        }
        if id.isEmpty {
            id = (event["id"] as? String) ?? ""
            created = (event["created"] as? Int) ?? 0
            model = (event["model"] as? String) ?? ""
        }
        if let usage = event["usage"] as? [String: Any] {
            promptTokens = UInt64((usage["prompt_tokens"] as? Int) ?? 0)
            completionTokens = UInt64((usage["completion_tokens"] as? Int) ?? 0)
        }
        var out = event
        let choices = (event["choices"] as? [[String: Any]]) ?? []
        if choices.isEmpty {
            return event["usage"] != nil && !clientUsage ? nil : out
        }
        var outChoices: [[String: Any]] = []
        for var choice in choices {
            if let reason = choice["finish_reason"] as? String { finishReason = reason }
            switch kind {
            case .chat:
                if let delta = choice["delta"] as? [String: Any], let content = delta["content"] as? String {
                    text += content
                }
                choice["logprobs"] = takeChat(choice["logprobs"] as? [String: Any]).map { $0 as Any } ?? NSNull()
            case .completion:
                if let piece = choice["text"] as? String { text += piece }
                choice["logprobs"] = takeCompletion(choice["logprobs"] as? [String: Any]).map { $0 as Any } ?? NSNull()
            }
            outChoices.append(choice)
        }
        out["choices"] = outChoices
        return out
    }

    private mutating func takeChat(_ logprobs: [String: Any]?) -> [String: Any]? {
        guard let content = logprobs?["content"] as? [[String: Any]] else { return nil }
        var client: [Any] = []
        for entry in content {
            let top = (entry["top_logprobs"] as? [[String: Any]]) ?? []
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
            shown["token"] = Self.text(entry["bytes"])
            shown["top_logprobs"] = top.prefix(clientTopLogprobs).map { alt -> [String: Any] in
                var alt = alt
                alt["token"] = Self.text(alt["bytes"])
                return alt
            }
            client.append(shown)
        }
        chatLogprobs.append(contentsOf: client)
        return clientLogprobs ? ["content": client] : nil
    }

    private mutating func takeCompletion(_ logprobs: [String: Any]?) -> [String: Any]? {
        guard let logprobs, let ids = logprobs["tokens"] as? [Any] else { return nil }
        let values = (logprobs["token_logprobs"] as? [Any]) ?? []
        let tops = (logprobs["top_logprobs"] as? [[String: Any]]) ?? []
        for (i, token) in ids.enumerated() {
            guard let id = Self.tokenID(token) else { continue }
            let top = (i < tops.count ? tops[i] : [:]).compactMap { key, value in
                Self.tokenID(key).map { InferencePayload.Alternative(token: $0, logprob: Self.float(value)) }
            }.sorted { $0.logprob != $1.logprob ? $0.logprob > $1.logprob : $0.token < $1.token }
            tokens.append(
                InferencePayload.Token(token: id, logprob: Self.float(i < values.count ? values[i] : nil), top: top))
        }
        // Legacy completions carry no token bytes; the client sees `token_id:N` entries.
        var shown = logprobs
        shown["top_logprobs"] = tops.map { top -> [String: Any] in
            let kept = top.sorted { Self.float($0.value) > Self.float($1.value) }.prefix(clientTopLogprobs)
            return Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
        }
        completionLogprobs.tokens.append(contentsOf: ids)
        completionLogprobs.logprobs.append(contentsOf: values)
        completionLogprobs.top.append(contentsOf: (shown["top_logprobs"] as? [Any]) ?? [])
        completionLogprobs.offsets.append(contentsOf: (logprobs["text_offset"] as? [Any]) ?? [])
        return clientLogprobs ? shown : nil
    }

    static func text(_ bytes: Any?) -> String {
        let list = (bytes as? [Any])?.compactMap { ($0 as? NSNumber)?.uint8Value } ?? []
        return String(decoding: list, as: UTF8.self)
    }

    /// The whole answer for a client that did not stream.
    var completeResponse: [String: Any] {
        let usage: [String: Any] = [
            "prompt_tokens": promptTokens, "completion_tokens": completionTokens,
            "total_tokens": promptTokens + completionTokens,
        ]
        var choice: [String: Any] = ["index": 0, "finish_reason": finishReason.isEmpty ? "stop" : finishReason]
        switch kind {
        case .chat:
            choice["message"] = ["role": "assistant", "content": text]
            choice["logprobs"] = clientLogprobs ? ["content": chatLogprobs] as Any : NSNull() as Any
            return [
                "id": id, "object": "chat.completion", "created": created, "model": model, "choices": [choice],
                "usage": usage,
            ]
        case .completion:
            choice["text"] = text
            choice["logprobs"] =
                clientLogprobs
                ? [
                    "tokens": completionLogprobs.tokens, "token_logprobs": completionLogprobs.logprobs,
                    "top_logprobs": completionLogprobs.top, "text_offset": completionLogprobs.offsets,
                ] as [String: Any] as Any : NSNull() as Any
            return [
                "id": id, "object": "text_completion", "created": created, "model": model, "choices": [choice],
                "usage": usage,
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
