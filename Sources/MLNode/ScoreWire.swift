import GonkaCore

/// `POST /v1/score` on the wire (PROTOCOL §11): the one definition of its body and its answer. The
/// ML node decodes ``Request`` and encodes ``Response``; the API node's validator
/// (`APINode.MLScoring`) encodes the first and decodes the second. Optional fields left nil are
/// omitted.
public enum ScoreWire {
    public struct Request: Codable, Sendable {
        public var model: String?
        public var promptTokens: [Int]
        public var completionTokens: [Int]
        public var topLogprobs: Int?
        /// The inference request's sampling and seed: asks for the sampler's replay per position.
        public var sampling: Sampling?
        /// `sampler_margin` (probability mass; default 1e-3), only with `sampling`.
        public var samplerMargin: Double?

        public init(
            model: String?, promptTokens: [Int], completionTokens: [Int], topLogprobs: Int?, sampling: Sampling?,
            samplerMargin: Double?
        ) {
            self.model = model
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.topLogprobs = topLogprobs
            self.sampling = sampling
            self.samplerMargin = samplerMargin
        }

        enum CodingKeys: String, CodingKey {
            case model, sampling
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case topLogprobs = "top_logprobs"
            case samplerMargin = "sampler_margin"
        }
    }

    /// `sampling` of a score request: the generation request's fields, defaults and ranges; the
    /// seed is required (a replay without it means nothing).
    public struct Sampling: Codable, Sendable {
        public var temperature: Double?
        public var topK: Int?
        public var topP: Double?
        public var minP: Double?
        public var seed: Int64?
        /// Which of the request's `n` choices is scored (0-based; default 0).
        public var choice: Int?
        /// The request's `response_format` (or a forced tool call's constraint): the replay masks
        /// with the same grammar.
        public var responseFormat: JSONValue?
        /// The request's `logit_bias` and penalties: the replay adjusts the logits as the sampler did.
        public var logitBias: [String: Double]?
        public var presencePenalty: Double?
        public var frequencyPenalty: Double?
        public var repetitionPenalty: Double?

        public init(
            temperature: Double? = nil, topK: Int? = nil, topP: Double? = nil, minP: Double? = nil,
            seed: Int64? = nil, choice: Int? = nil, responseFormat: JSONValue? = nil,
            logitBias: [String: Double]? = nil, presencePenalty: Double? = nil, frequencyPenalty: Double? = nil,
            repetitionPenalty: Double? = nil
        ) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.minP = minP
            self.seed = seed
            self.choice = choice
            self.responseFormat = responseFormat
            self.logitBias = logitBias
            self.presencePenalty = presencePenalty
            self.frequencyPenalty = frequencyPenalty
            self.repetitionPenalty = repetitionPenalty
        }

        enum CodingKeys: String, CodingKey {
            case temperature, seed, choice
            case topK = "top_k"
            case topP = "top_p"
            case minP = "min_p"
            case responseFormat = "response_format"
            case logitBias = "logit_bias"
            case presencePenalty = "presence_penalty"
            case frequencyPenalty = "frequency_penalty"
            case repetitionPenalty = "repetition_penalty"
        }
    }

    public struct Alternative: Codable, Sendable {
        public var token: Int
        public var logprob: Float

        public init(token: Int, logprob: Float) {
            self.token = token
            self.logprob = logprob
        }
    }

    /// One completion position; `drawn`, `ambiguous` and `outside_support` (the replayed sampler,
    /// PROTOCOL §7.2 test 3) are present only when the request had `sampling`.
    public struct Position: Codable, Sendable {
        public var token: Int
        public var logprob: Float
        public var topLogprobs: [Alternative]
        public var drawn: Int?
        public var ambiguous: Bool?
        public var outsideSupport: Bool?

        public init(
            token: Int, logprob: Float, topLogprobs: [Alternative], drawn: Int? = nil, ambiguous: Bool? = nil,
            outsideSupport: Bool? = nil
        ) {
            self.token = token
            self.logprob = logprob
            self.topLogprobs = topLogprobs
            self.drawn = drawn
            self.ambiguous = ambiguous
            self.outsideSupport = outsideSupport
        }

        enum CodingKeys: String, CodingKey {
            case token, logprob, drawn, ambiguous
            case topLogprobs = "top_logprobs"
            case outsideSupport = "outside_support"
        }
    }

    public struct Response: Codable, Sendable {
        public var positions: [Position]

        public init(positions: [Position]) { self.positions = positions }
    }
}
