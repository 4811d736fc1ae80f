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

    public init(id: Int, logprob: TokenLogprob, text: String) {
        self.id = id
        self.logprob = logprob
        self.text = text
    }
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

/// What a multi-choice generation reports as it runs: each choice's tokens, then that choice's end.
public enum GenerationEvent: Sendable, Equatable {
    case token(choice: Int, GeneratedToken)
    case finished(choice: Int, Generation)
}

/// A finished generation.
public struct Generation: Sendable, Equatable {
    public let promptTokens: Int
    /// Generated ids (the end-of-turn token excluded).
    public let tokens: [Int]
    public let logprobs: [TokenLogprob]
    public let text: String
    public let finishReason: FinishReason
    /// Prompt positions restored from a prefix cache instead of computed (0 without one).
    public var cachedTokens = 0

    public init(
        promptTokens: Int, tokens: [Int], logprobs: [TokenLogprob], text: String, finishReason: FinishReason,
        cachedTokens: Int = 0
    ) {
        self.promptTokens = promptTokens
        self.tokens = tokens
        self.logprobs = logprobs
        self.text = text
        self.finishReason = finishReason
        self.cachedTokens = cachedTokens
    }
}

extension LlamaSession {
    /// Generates from `prompt` (ids, no BOS added) with `parameters`; `onToken` sees each token as it
    /// is produced and returns false to stop. The cache is reset first.
    public func generate(
        prompt: [Int], parameters: SamplingParameters, onToken: (GeneratedToken) -> Bool = { _ in true }
    ) throws -> Generation {
        try generate(prompt: prompt, parameters: parameters, choices: 1) { event in
            if case .token(_, let token) = event { return onToken(token) }
            return true
        }[0]
    }

    /// Generates `choices` answers to `prompt` sharing one prefill: the prompt is evaluated once,
    /// and each choice i continues from its last logits (the cache truncated back to the prompt)
    /// with `parameters.choice = i`, so its own seeded stream. `onToken` sees (choice, token) as they
    /// are produced, then each choice's end; returning false from a token stops this choice and
    /// the ones after it.
    public func generate(
        prompt: [Int], parameters: SamplingParameters, choices: Int,
        onEvent: (GenerationEvent) -> Bool = { _ in true }
    ) throws -> [Generation] {
        try Self.check(prompt: prompt, parameters: parameters, choices: choices, model: model, capacity: capacity)
        reset()
        let promptLogits = try evaluate(prompt)
        var generations: [Generation] = []
        for choice in 0..<choices {
            truncate(to: prompt.count)
            var p = parameters
            p.choice = choice
            let generation = try continueGeneration(prompt: prompt, logits: promptLogits, parameters: p) {
                onEvent(.token(choice: choice, $0))
            }
            generations.append(generation)
            _ = onEvent(.finished(choice: choice, generation))
            if generation.finishReason == .cancelled { break }
        }
        return generations
    }

    /// Refuses a generation request that cannot run in a cache of `capacity` positions: bad
    /// parameters, `choices` outside 1…``SamplingParameters/maxChoices``, an empty prompt, an id
    /// outside the vocabulary, or a prompt plus `max_tokens` beyond `capacity`.
    public static func check(
        prompt: [Int], parameters: SamplingParameters, choices: Int, model: LlamaModel, capacity: Int
    ) throws {
        try parameters.validate()
        guard (1...SamplingParameters.maxChoices).contains(choices) else {
            throw InferenceError.invalidParameter("n", "must be in 1…\(SamplingParameters.maxChoices)")
        }
        guard !prompt.isEmpty else { throw InferenceError.emptyInput("prompt") }
        let size = model.config.vocabularySize
        for (position, id) in prompt.enumerated() where id < 0 || id >= size {
            throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: size)
        }
        guard prompt.count + parameters.maxTokens <= capacity else {
            throw InferenceError.contextOverflow(need: prompt.count + parameters.maxTokens, limit: capacity)
        }
    }

    /// One choice from the prompt's last `logits` (the cache holds the prompt).
    private func continueGeneration(
        prompt: [Int], logits promptLogits: [Float], parameters: SamplingParameters,
        onToken: (GeneratedToken) -> Bool
    ) throws -> Generation {
        var decoder = ChoiceDecoder(model: model, prompt: prompt, parameters: parameters)
        var step = promptLogits.withUnsafeBufferPointer { decoder.accept($0) }
        while true {
            switch step {
            case .end(let reason):
                return decoder.generation(reason)
            case .token(let token, let done):
                if !onToken(token) { return decoder.generation(.cancelled) }
                if let done { return decoder.generation(done) }
                let logits = try evaluate([token.id])
                step = logits.withUnsafeBufferPointer { decoder.accept($0) }
            }
        }
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
        if replay?.parameters.grammar != nil { replay?.attach(model.grammarVocabulary) }
        replay?.begin(prompt: prompt)
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
