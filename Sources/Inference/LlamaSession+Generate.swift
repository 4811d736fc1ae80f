/// Why generation ended.
public enum FinishReason: String, Sendable, Equatable {
    /// The end-of-turn token or a stop string.
    case stop
    /// `maxTokens` or the context ran out.
    case length
    /// The caller's callback asked to stop.
    case cancelled
}

/// One generated token as it is produced.
public struct GeneratedToken: Sendable, Equatable {
    public let id: Int
    /// Logprob of `id` under the model (no temperature) and the requested alternatives.
    public let logprob: TokenLogprob
    /// The text this token adds (complete UTF-8 only; bytes of a split character wait for the next token).
    public let text: String
}

/// One teacher-forced completion position: the forced token's logprob with its alternatives, and
/// the replayed draw when scoring was asked to replay the sampler.
public struct ScoredToken: Sendable, Equatable {
    public let logprob: TokenLogprob
    public let draw: SamplerReplay.Draw?

    public init(logprob: TokenLogprob, draw: SamplerReplay.Draw?) {
        self.logprob = logprob
        self.draw = draw
    }
}

/// A finished generation.
public struct Generation: Sendable, Equatable {
    public let promptTokens: Int
    /// Generated ids (the end-of-turn token excluded).
    public let tokens: [Int]
    public let logprobs: [TokenLogprob]
    public let text: String
    public let finishReason: FinishReason
}

extension LlamaSession {
    /// Generates from `prompt` (ids, no BOS added) with `parameters`; `onToken` sees each token as it
    /// is produced and returns false to stop. The cache is reset first.
    public func generate(
        prompt: [Int], parameters: SamplingParameters, onToken: (GeneratedToken) -> Bool = { _ in true }
    ) throws -> Generation {
        try parameters.validate()
        guard !prompt.isEmpty else { throw InferenceError.emptyInput("prompt") }
        try validate(prompt)
        guard prompt.count + parameters.maxTokens <= capacity else {
            throw InferenceError.contextOverflow(need: prompt.count + parameters.maxTokens, limit: capacity)
        }
        reset()
        let tokenizer = model.tokenizer
        var sampler = Sampler(parameters)
        var logits = try evaluate(prompt)
        var ids: [Int] = []
        var logprobs: [TokenLogprob] = []
        var bytes: [UInt8] = []
        var emitted = 0  // bytes of `bytes` already returned as text
        var reason = FinishReason.length
        generation: for _ in 0..<parameters.maxTokens {
            let (id, entry) = logits.withUnsafeBufferPointer { buffer -> (Int, TokenLogprob) in
                let id = sampler.sample(buffer)
                return (id, Logprobs.entry(buffer, token: id, top: parameters.topLogprobs))
            }
            if id == tokenizer.endOfTurn || id == tokenizer.endOfText {
                reason = .stop
                break
            }
            ids.append(id)
            logprobs.append(entry)
            bytes.append(contentsOf: tokenizer.bytes(of: id))
            var text = String(decoding: bytes, as: UTF8.self)
            var stopped = false
            for stop in parameters.stop {
                if let range = text.firstRange(of: stop) {
                    text = String(text[..<range.lowerBound])
                    stopped = true
                }
            }
            if stopped {
                bytes = Array(text.utf8)
                reason = .stop
            }
            let complete = Self.completeUTF8Prefix(bytes)
            let piece = complete > emitted ? String(decoding: bytes[emitted..<complete], as: UTF8.self) : ""
            emitted = max(emitted, complete)
            if !onToken(GeneratedToken(id: id, logprob: entry, text: piece)) {
                reason = .cancelled
                break generation
            }
            if stopped { break }
            if ids.count == parameters.maxTokens { break }
            logits = try evaluate([id])
        }
        return Generation(
            promptTokens: prompt.count, tokens: ids, logprobs: logprobs, text: String(decoding: bytes, as: UTF8.self),
            finishReason: reason)
    }

    /// Teacher-forced scoring: runs `prompt + completion` in one batch and returns, for each
    /// completion position, the logprob of the forced completion token and the `top` best alternatives.
    public func score(prompt: [Int], completion: [Int], top: Int = 5) throws -> [TokenLogprob] {
        try score(prompt: prompt, completion: completion, top: top, replay: nil).map(\.logprob)
    }

    /// Teacher-forced scoring with the sampler replayed (PROTOCOL §7.2 test 3): one batched pass over
    /// `prompt + completion`; each completion position's logits row is judged by `replay` (if any)
    /// as it comes out of the head, so no row is kept or computed twice.
    public func score(prompt: [Int], completion: [Int], top: Int, replay: SamplerReplay?) throws -> [ScoredToken] {
        guard !prompt.isEmpty else { throw InferenceError.emptyInput("prompt") }
        guard !completion.isEmpty else { throw InferenceError.emptyInput("completion") }
        guard (0...Logprobs.maxTop).contains(top) else {
            throw InferenceError.invalidParameter("top_logprobs", "must be in 0…\(Logprobs.maxTop)")
        }
        let all = prompt + completion
        try validate(all)
        guard all.count <= capacity else { throw InferenceError.contextOverflow(need: all.count, limit: capacity) }
        reset()
        // Logits at position p predict token p + 1: completion token i is predicted at prompt.count - 1 + i.
        var entries: [ScoredToken] = []
        entries.reserveCapacity(completion.count)
        var replay = replay
        try evaluate(Array(all.dropLast()), logitsFrom: prompt.count - 1) { i, row in
            let draw = replay?.replay(row, emitted: completion[i])
            entries.append(ScoredToken(logprob: Logprobs.entry(row, token: completion[i], top: top), draw: draw))
        }
        return entries
    }

    /// The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        var i = bytes.count
        var back = 0
        while i > 0 && back < 4 {
            let b = bytes[i - 1]
            if b & 0xC0 == 0x80 {
                i -= 1
                back += 1
                continue
            }
            let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            return back + 1 >= need ? bytes.count : i - 1
        }
        return bytes.count
    }
}
