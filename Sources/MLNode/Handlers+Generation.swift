import Foundation
import GonkaCore
import Hummingbird
import Inference
import Logging
import NIOCore

extension Handlers {
    /// `POST /v1/chat/completions`.
    func chat(_ body: [UInt8]) async throws -> Response {
        let sampling = try decode(OpenAI.Sampling.self, from: body)
        let request = try decode(OpenAI.ChatRequest.self, from: body)
        try checkModel(sampling.model)
        let tools = try Self.tools(body)
        let messages = try Self.messages(request.messages)
        let prompt = backend.chatPrompt(tools?.prompt(messages) ?? messages)
        let wantLogprobs = request.logprobs ?? false
        var parameters = try parameters(
            sampling, promptCount: prompt.count, topLogprobs: request.topLogprobs ?? 0, promptParam: "messages")
        if let constraint = tools?.constraint {
            do {
                parameters.grammar = try OutputGrammar.compile(responseFormat: constraint)
            } catch {
                throw MLNodeError.invalidRequest(error.message, param: error.param)
            }
        }
        try backend.checkSupported(parameters)
        let reader = tools.flatMap { $0.active ? $0 : nil }
        let admission = metrics.metered(try backend.admit())
        let id = "chatcmpl-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let created = Self.now
        let model = backend.info.id
        let asIDs = sampling.returnTokensAsTokenIDs ?? false
        let backend = self.backend
        @Sendable func logprobs(_ entries: [TokenLogprob]) -> OpenAI.ChatLogprobs? {
            guard wantLogprobs else { return nil }
            return OpenAI.ChatLogprobs(content: entries.map { Self.chatEntry($0, backend: backend, asIDs: asIDs) })
        }

        let choices = try Self.choices(sampling)
        if sampling.stream ?? false {
            let usage = sampling.streamOptions?.includeUsage ?? false
            @Sendable func chunk(_ choice: OpenAI.ChatChunkChoice?, usage: OpenAI.Usage? = nil) -> OpenAI.ChatChunk {
                OpenAI.ChatChunk(
                    id: id, created: created, model: model, choices: choice.map { [$0] } ?? [], usage: usage)
            }
            let start: @Sendable (Int) -> OpenAI.ChatChunk = { index in
                chunk(
                    OpenAI.ChatChunkChoice(
                        index: index, delta: OpenAI.Delta(role: "assistant", content: ""), logprobs: nil,
                        finishReason: nil))
            }
            let piece: @Sendable (Int, String, [TokenLogprob]) -> OpenAI.ChatChunk = { index, text, entries in
                chunk(
                    OpenAI.ChatChunkChoice(
                        index: index, delta: OpenAI.Delta(content: text), logprobs: logprobs(entries),
                        finishReason: nil))
            }
            let finish: @Sendable (Int, String) -> OpenAI.ChatChunk = { index, reason in
                chunk(OpenAI.ChatChunkChoice(index: index, delta: OpenAI.Delta(), logprobs: nil, finishReason: reason))
            }
            let withUsage: @Sendable (OpenAI.Usage) -> OpenAI.ChatChunk = { counts in chunk(nil, usage: counts) }
            let usageChunk = usage ? withUsage : nil
            var calls: StreamedToolCalls<OpenAI.ChatChunk>?
            if let reader {
                calls = StreamedToolCalls(tools: reader) { index, text, parsed, reason in
                    var out: [OpenAI.ChatChunk] = []
                    if !text.isEmpty {
                        out.append(
                            chunk(
                                OpenAI.ChatChunkChoice(
                                    index: index, delta: OpenAI.Delta(content: text), logprobs: nil,
                                    finishReason: nil)))
                    }
                    for (k, call) in parsed.enumerated() {
                        let delta = OpenAI.ToolCallDelta(
                            index: k, id: Self.toolCallID(), function: .init(name: call.name, arguments: call.arguments)
                        )
                        out.append(
                            chunk(
                                OpenAI.ChatChunkChoice(
                                    index: index, delta: OpenAI.Delta(toolCalls: [delta]), logprobs: nil,
                                    finishReason: nil)))
                    }
                    return out + [finish(index, parsed.isEmpty ? reason : "tool_calls")]
                }
            }
            return stream(
                admission: admission, prompt: prompt, parameters: parameters, choices: choices, start: start,
                piece: piece, finish: finish, usage: usageChunk, toolCalls: calls)
        }
        let generations = try await admission.generate(prompt: prompt, parameters: parameters, choices: choices) {
            _ in true
        }
        return Self.json(
            OpenAI.ChatCompletion(
                id: id, created: created, model: model,
                choices: generations.enumerated().map { index, generation in
                    var message = OpenAI.AssistantMessage(content: generation.text)
                    var finishReason = Self.finishReason(generation.finishReason)
                    if let found = reader?.calls(in: generation.text), !found.calls.isEmpty {
                        message = OpenAI.AssistantMessage(
                            content: found.content.isEmpty ? nil : found.content,
                            toolCalls: found.calls.map {
                                OpenAI.ToolCall(
                                    id: Self.toolCallID(), function: .init(name: $0.name, arguments: $0.arguments))
                            })
                        finishReason = "tool_calls"
                    }
                    return OpenAI.ChatChoice(
                        index: index, message: message, logprobs: logprobs(generation.logprobs),
                        finishReason: finishReason)
                },
                usage: .init(
                    promptTokens: prompt.count, completionTokens: generations.reduce(0) { $0 + $1.tokens.count },
                    cachedTokens: generations.first?.cachedTokens ?? 0)))
    }

    /// `POST /v1/completions`.
    func completion(_ body: [UInt8]) async throws -> Response {
        let sampling = try decode(OpenAI.Sampling.self, from: body)
        let request = try decode(OpenAI.CompletionRequest.self, from: body)
        try checkModel(sampling.model)
        guard !(request.echo ?? false) else {
            throw MLNodeError.invalidRequest("'echo' is not supported.", param: "echo")
        }
        let prompt: [Int]
        switch request.prompt {
        case .text(let text): prompt = backend.tokenize(text)
        case .tokens(let ids):
            try checkVocabulary(ids, param: "prompt")
            prompt = ids
        }
        guard !prompt.isEmpty else { throw MLNodeError.invalidRequest("'prompt' must not be empty.", param: "prompt") }
        let top = request.logprobs ?? 0
        let wantLogprobs = request.logprobs != nil
        guard (0...Logprobs.maxTop).contains(top) else {
            throw MLNodeError.invalidRequest("'logprobs' must be in 0…\(Logprobs.maxTop).", param: "logprobs")
        }
        let parameters = try parameters(sampling, promptCount: prompt.count, topLogprobs: top, promptParam: "prompt")
        try backend.checkSupported(parameters)
        let admission = metrics.metered(try backend.admit())
        let id = "cmpl-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let created = Self.now
        let model = backend.info.id
        let asIDs = sampling.returnTokensAsTokenIDs ?? false
        let backend = self.backend
        @Sendable func logprobs(_ entries: [TokenLogprob], offset: Int) -> OpenAI.CompletionLogprobs? {
            guard wantLogprobs else { return nil }
            var result = OpenAI.CompletionLogprobs()
            var offset = offset
            for entry in entries {
                let token = Self.tokenText(entry.token, backend: backend, asIDs: asIDs)
                result.tokens.append(token)
                result.tokenLogprobs.append(Self.finite(entry.logprob))
                var top: [String: Float] = [:]
                for alternative in entry.top {
                    let text = Self.tokenText(alternative.token, backend: backend, asIDs: asIDs)
                    top[text] = max(top[text] ?? -.infinity, Self.finite(alternative.logprob))
                }
                result.topLogprobs.append(top)
                result.textOffset.append(offset)
                offset += backend.tokenBytes(entry.token).count
            }
            return result
        }

        let choices = try Self.choices(sampling)
        if sampling.stream ?? false {
            let usage = sampling.streamOptions?.includeUsage ?? false
            let offsets = (0..<choices).map { _ in OffsetCounter() }
            @Sendable func chunk(_ choice: OpenAI.CompletionChoice?, usage: OpenAI.Usage? = nil) -> OpenAI.Completion {
                OpenAI.Completion(
                    id: id, created: created, model: model, choices: choice.map { [$0] } ?? [], usage: usage)
            }
            let piece: @Sendable (Int, String, [TokenLogprob]) -> OpenAI.Completion = { index, text, entries in
                let start = offsets[index].advance(
                    by: entries.reduce(0) { $0 + backend.tokenBytes($1.token).count })
                return chunk(
                    OpenAI.CompletionChoice(
                        index: index, text: text, logprobs: logprobs(entries, offset: start), finishReason: nil))
            }
            let finish: @Sendable (Int, String) -> OpenAI.Completion = { index, reason in
                chunk(OpenAI.CompletionChoice(index: index, text: "", logprobs: nil, finishReason: reason))
            }
            let withUsage: @Sendable (OpenAI.Usage) -> OpenAI.Completion = { counts in chunk(nil, usage: counts) }
            let usageChunk = usage ? withUsage : nil
            return stream(
                admission: admission, prompt: prompt, parameters: parameters, choices: choices, start: nil,
                piece: piece, finish: finish, usage: usageChunk)
        }
        let generations = try await admission.generate(prompt: prompt, parameters: parameters, choices: choices) {
            _ in true
        }
        return Self.json(
            OpenAI.Completion(
                id: id, created: created, model: model,
                choices: generations.enumerated().map { index, generation in
                    OpenAI.CompletionChoice(
                        index: index, text: generation.text, logprobs: logprobs(generation.logprobs, offset: 0),
                        finishReason: Self.finishReason(generation.finishReason))
                },
                usage: .init(
                    promptTokens: prompt.count, completionTokens: generations.reduce(0) { $0 + $1.tokens.count },
                    cachedTokens: generations.first?.cachedTokens ?? 0)))
    }

    /// A chat body's tools read by ``ChatTools/parse(_:)`` (400 naming the field).
    static func tools(_ body: [UInt8]) throws(MLNodeError) -> ChatTools? {
        guard let object = try? JSONValue(parsing: body) else { return nil }
        do {
            return try ChatTools.parse(object)
        } catch {
            throw .invalidRequest(error.message, param: error.param)
        }
    }

    /// A tool call id (`call_` and 24 random hex digits): unique per request.
    static func toolCallID() -> String {
        "call_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(24)
    }

    /// A request's `messages` read by ``ChatMessages/parse(_:)`` (400 naming the field).
    static func messages(_ value: JSONValue?) throws(MLNodeError) -> [ChatMessage] {
        do {
            return try ChatMessages.parse(value)
        } catch {
            throw .invalidRequest(error.message, param: error.param)
        }
    }

    // MARK: parameters

    /// The engine's sampling parameters for a request, every field range-checked (400 naming it).
    func parameters(
        _ s: OpenAI.Sampling, promptCount: Int, topLogprobs: Int, promptParam: String
    ) throws(MLNodeError) -> SamplingParameters {
        let context = backend.info.contextLength
        let filters = try Self.filters(temperature: s.temperature, topP: s.topP, topK: s.topK, minP: s.minP)
        guard (0...Logprobs.maxTop).contains(topLogprobs) else {
            throw .invalidRequest("'top_logprobs' must be in 0…\(Logprobs.maxTop).", param: "top_logprobs")
        }
        let adjustments = try Self.adjustments(
            logitBias: s.logitBias, presencePenalty: s.presencePenalty, frequencyPenalty: s.frequencyPenalty,
            repetitionPenalty: s.repetitionPenalty, vocabularySize: backend.info.vocabularySize)
        if let tier = s.serviceTier, !["auto", "default", "flex", "scale", "priority"].contains(tier) {
            throw .invalidRequest(
                "'service_tier' must be auto, default, flex, scale or priority.", param: "service_tier")
        }
        let stop = s.stop?.values ?? []
        guard stop.count <= 16, stop.allSatisfy({ !$0.isEmpty }) else {
            throw .invalidRequest("'stop' takes at most 16 non-empty strings.", param: "stop")
        }
        guard promptCount < context else {
            throw .contextLengthExceeded(need: promptCount + 1, limit: context, param: promptParam)
        }
        let maxTokens: Int
        if let requested = s.maxCompletionTokens ?? s.maxTokens {
            let param = s.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
            guard requested >= 1 else { throw .invalidRequest("'\(param)' must be at least 1.", param: param) }
            guard requested <= context else {
                throw .invalidRequest("'\(param)' must be at most the context length \(context).", param: param)
            }
            guard promptCount + requested <= context else {
                throw .contextLengthExceeded(need: promptCount + requested, limit: context, param: param)
            }
            maxTokens = requested
        } else {
            maxTokens = min(configuration.defaultMaxTokens, context - promptCount)
        }
        return SamplingParameters(
            temperature: filters.temperature, topK: filters.topK, topP: filters.topP, minP: filters.minP,
            maxTokens: maxTokens, stop: stop,
            seed: s.seed.map { UInt64(bitPattern: $0) } ?? UInt64.random(in: 0...UInt64.max),
            topLogprobs: topLogprobs, grammar: try Self.grammar(s.responseFormat), adjustments: adjustments)
    }

    /// `logit_bias` and the penalties as the sampler applies them (``LogitAdjustments``), each
    /// range-checked (400 naming the field, after `prefix`).
    static func adjustments(
        logitBias: [String: Double]?, presencePenalty: Double?, frequencyPenalty: Double?,
        repetitionPenalty: Double?, vocabularySize: Int, prefix: String = ""
    ) throws(MLNodeError) -> LogitAdjustments {
        var bias: [Int: Double]?
        if let logitBias {
            var ids: [Int: Double] = [:]
            for (key, value) in logitBias {
                guard let id = LogitAdjustments.tokenID(key) else {
                    throw .invalidRequest(
                        "'\(prefix)logit_bias' keys must be token ids of this model, in decimal; '\(key)' is not.",
                        param: prefix + "logit_bias")
                }
                ids[id] = value
            }
            bias = ids
        }
        do {
            return try LogitAdjustments(
                logitBias: bias, presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty,
                repetitionPenalty: repetitionPenalty, vocabularySize: vocabularySize)
        } catch {
            throw .from(error, param: error.parameter.map { prefix + $0 })
        }
    }

    /// `n`: how many choices (1…8), each from its own stream (``Sampler/stream(seed:choice:)``).
    static func choices(_ s: OpenAI.Sampling) throws(MLNodeError) -> Int {
        let n = s.n ?? 1
        guard (1...SamplingParameters.maxChoices).contains(n) else {
            throw .invalidRequest("'n' must be between 1 and \(SamplingParameters.maxChoices).", param: "n")
        }
        return n
    }

    /// The constraint of `response_format` (nil: none), refused with a 400 naming the field.
    static func grammar(_ format: JSONValue?) throws(MLNodeError) -> OutputGrammar? {
        guard let format, !format.isNull else { return nil }
        guard format["type"]?.stringValue != ToolCallFormat.type else {
            throw .invalidRequest(
                "'response_format.type' must be text, json_object or json_schema; a tool call is asked for with"
                    + " 'tools' and 'tool_choice'.", param: "response_format.type")
        }
        do {
            return try OutputGrammar.compile(responseFormat: format)
        } catch {
            throw .invalidRequest(error.message, param: error.param)
        }
    }

    /// The sampling filters of a request (chat, completions, or `/v1/score`'s `sampling`, whose
    /// fields are named with `prefix`), with the OpenAI defaults, range-checked (400 naming the field).
    static func filters(
        temperature: Double?, topP: Double?, topK: Int?, minP: Double?, prefix: String = ""
    ) throws(MLNodeError) -> (temperature: Float, topK: Int, topP: Float, minP: Float) {
        let temperature = temperature ?? 1
        guard temperature.isFinite, (0...2).contains(temperature) else {
            throw .invalidRequest("'\(prefix)temperature' must be between 0 and 2.", param: prefix + "temperature")
        }
        let topP = topP ?? 1
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw .invalidRequest("'\(prefix)top_p' must be in (0, 1].", param: prefix + "top_p")
        }
        let topK = topK ?? 0
        guard topK >= -1 else {
            throw .invalidRequest("'\(prefix)top_k' must be -1, 0 (all) or positive.", param: prefix + "top_k")
        }
        let minP = minP ?? 0
        guard minP.isFinite, (0...1).contains(minP) else {
            throw .invalidRequest("'\(prefix)min_p' must be in [0, 1].", param: prefix + "min_p")
        }
        return (Float(temperature), max(0, topK), Float(topP), Float(minP))
    }

    static func finishReason(_ reason: FinishReason) -> String {
        switch reason {
        case .stop, .cancelled: "stop"
        case .length: "length"
        }
    }

    /// A token as logprob entries show it: its text (bytes that are not whole UTF-8 show as U+FFFD,
    /// the exact bytes are in `bytes`), or `token_id:ID` when the request asked for ids.
    static func tokenText(_ id: Int, backend: Backend, asIDs: Bool) -> String {
        asIDs ? "token_id:\(id)" : String(decoding: backend.tokenBytes(id), as: UTF8.self)
    }

    static func chatEntry(_ entry: TokenLogprob, backend: Backend, asIDs: Bool) -> OpenAI.TokenLogprob {
        OpenAI.TokenLogprob(
            token: tokenText(entry.token, backend: backend, asIDs: asIDs), logprob: finite(entry.logprob),
            bytes: backend.tokenBytes(entry.token),
            topLogprobs: entry.top.map {
                OpenAI.TopLogprob(
                    token: tokenText($0.token, backend: backend, asIDs: asIDs), logprob: finite($0.logprob),
                    bytes: backend.tokenBytes($0.token))
            })
    }
}

/// The running byte offset of streamed completion text (`text_offset`).
final class OffsetCounter: @unchecked Sendable {
    // `@unchecked Sendable`: used only from the one task that writes a stream's chunks, in order.
    private var value = 0

    /// Returns the offset before adding `count`.
    func advance(by count: Int) -> Int {
        defer { value += count }
        return value
    }
}
