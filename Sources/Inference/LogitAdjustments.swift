import GonkaCore

/// What a request asks to change in the model's logits before each draw: OpenAI's `logit_bias`,
/// `presence_penalty` and `frequency_penalty`, and vLLM's `repetition_penalty`. Part of the native
/// sampler (PROTOCOL §7.2 test 3, docs/VALIDATION.md "The native sampler"): the executor's draw and
/// the validator's replay apply the same adjustments to the same logits, in the same order, so a
/// replay stays exact. Reported logprobs stay the model's own (as vLLM reports them by default).
///
/// For each token `t`, with `c(t)` its count among the choice's tokens so far and `seen(t)` whether
/// it is in the prompt or among them:
///
/// 1. `ℓ ← ℓ + bias(t)` (tokens named in `logit_bias`);
/// 2. if `seen(t)` and `repetition_penalty ≠ 1`: `ℓ ← ℓ / r` when `ℓ > 0`, else `ℓ ← ℓ · r`;
/// 3. if `c(t) > 0`: `ℓ ← ℓ − (c(t) · frequency_penalty + presence_penalty)`.
///
/// All in `Float`, one operation at a time as written.
public struct LogitAdjustments: Sendable, Hashable {
    /// `logit_bias`: (token id, bias in −100…100), ascending ids, one entry per id.
    public private(set) var bias: [TokenBias]
    /// −2…2; 0 is off.
    public var presencePenalty: Float
    /// −2…2; 0 is off.
    public var frequencyPenalty: Float
    /// (0, 2]; 1 is off.
    public var repetitionPenalty: Float

    public struct TokenBias: Sendable, Hashable {
        public var token: Int
        public var value: Float
    }

    /// No adjustment: the logits as the model gave them.
    public static let none = LogitAdjustments()

    public var isEmpty: Bool { bias.isEmpty && presencePenalty == 0 && frequencyPenalty == 0 && repetitionPenalty == 1 }

    public init() {
        bias = []
        presencePenalty = 0
        frequencyPenalty = 0
        repetitionPenalty = 1
    }

    /// The adjustments of a request's fields (nil: off), each range-checked; `vocabularySize`
    /// bounds the `logit_bias` ids. Throws ``InferenceError`` naming the field.
    public init(
        logitBias: [Int: Double]? = nil, presencePenalty: Double? = nil, frequencyPenalty: Double? = nil,
        repetitionPenalty: Double? = nil, vocabularySize: Int
    ) throws(InferenceError) {
        self.init()
        for (value, name) in [(presencePenalty, "presence_penalty"), (frequencyPenalty, "frequency_penalty")] {
            if let value, !(value.isFinite && (-2...2).contains(value)) {
                throw InferenceError.invalidParameter(name, "must be between -2 and 2")
            }
        }
        if let value = repetitionPenalty, !(value.isFinite && value > 0 && value <= 2) {
            throw InferenceError.invalidParameter("repetition_penalty", "must be in (0, 2]")
        }
        self.presencePenalty = Float(presencePenalty ?? 0)
        self.frequencyPenalty = Float(frequencyPenalty ?? 0)
        self.repetitionPenalty = Float(repetitionPenalty ?? 1)
        guard let logitBias else { return }
        guard logitBias.count <= Self.maxBiasEntries else {
            throw InferenceError.invalidParameter("logit_bias", "at most \(Self.maxBiasEntries) entries")
        }
        for (token, value) in logitBias.sorted(by: { $0.key < $1.key }) {
            guard (0..<vocabularySize).contains(token) else {
                throw InferenceError.invalidParameter("logit_bias", "\(token) is not a token id of this model")
            }
            guard value.isFinite, (-100...100).contains(value) else {
                throw InferenceError.invalidParameter("logit_bias", "values must be between -100 and 100")
            }
            if value != 0 { bias.append(TokenBias(token: token, value: Float(value))) }
        }
    }

    /// The adjustments of a request body's `logit_bias`, `presence_penalty`, `frequency_penalty`
    /// and `repetition_penalty` (absent or null: off), as ``init(logitBias:presencePenalty:frequencyPenalty:repetitionPenalty:vocabularySize:)``
    /// checks them; a field of the wrong type is refused too. Read by the Transfer Agent (to refuse
    /// before any escrow) and the validator (from the executed request).
    public init(request object: JSONValue, vocabularySize: Int = .max) throws(InferenceError) {
        func number(_ key: String) throws(InferenceError) -> Double? {
            guard let value = object[key], !value.isNull else { return nil }
            guard let number = value.doubleValue else { throw .invalidParameter(key, "must be a number") }
            return number
        }
        var bias: [Int: Double]?
        if let value = object["logit_bias"], !value.isNull {
            guard let fields = value.objectValue else { throw .invalidParameter("logit_bias", "must be an object") }
            var ids: [Int: Double] = [:]
            for (key, entry) in fields {
                guard let id = Self.tokenID(key), let number = entry.doubleValue else {
                    throw .invalidParameter("logit_bias", "maps token ids (in decimal) to numbers")
                }
                // Two keys for one token would leave which bias applies to the order a reader
                // visits them in: the executor's and the validator's could differ.
                guard ids.updateValue(number, forKey: id) == nil else {
                    throw .invalidParameter("logit_bias", "names token \(id) twice")
                }
            }
            bias = ids
        }
        try self.init(
            logitBias: bias, presencePenalty: try number("presence_penalty"),
            frequencyPenalty: try number("frequency_penalty"), repetitionPenalty: try number("repetition_penalty"),
            vocabularySize: vocabularySize)
    }

    /// A `logit_bias` key as a token id: decimal digits, no sign or leading zero, so each id has
    /// one spelling (`"5"`, never `"05"` or `"+5"`).
    public static func tokenID(_ key: String) -> Int? {
        guard let id = Int(key), String(id) == key else { return nil }
        return id
    }

    /// OpenAI's limit on `logit_bias` entries.
    public static let maxBiasEntries = 300

    /// Applies the adjustments for one position to `logits`, given what the choice has produced so far.
    public func apply(to logits: UnsafeMutableBufferPointer<Float>, history: History) {
        for entry in bias where logits.indices.contains(entry.token) { logits[entry.token] += entry.value }
        if repetitionPenalty != 1 {
            let r = repetitionPenalty
            for token in history.seen where logits.indices.contains(token) {
                let v = logits[token]
                logits[token] = v > 0 ? v / r : v * r
            }
        }
        if presencePenalty != 0 || frequencyPenalty != 0 {
            for (token, count) in history.counts where logits.indices.contains(token) {
                logits[token] -= Float(count) * frequencyPenalty + presencePenalty
            }
        }
    }

    /// The tokens the penalties look at: the prompt's (repetition only) and the choice's own.
    /// Each token is adjusted on its own, so the order these are visited in does not matter.
    public struct History: Sendable {
        /// Prompt and output tokens (the repetition penalty's set).
        public private(set) var seen: Set<Int>
        /// Output tokens and how often each was produced.
        public private(set) var counts: [Int: Int]

        public init(prompt: [Int]) {
            seen = Set(prompt)
            counts = [:]
        }

        /// One more output token.
        public mutating func record(_ token: Int) {
            seen.insert(token)
            counts[token, default: 0] += 1
        }
    }
}
