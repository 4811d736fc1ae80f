import GonkaCore
import Tensor

/// How to pick tokens: temperature, top-k, top-p, min-p, stop strings, limits and the seed.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 is greedy (argmax, lowest id on ties).
    public var temperature: Float = 1
    /// Keep only the `topK` most likely tokens (0: all).
    public var topK: Int = 0
    /// Keep the smallest prefix of the sorted distribution whose mass reaches `topP`.
    public var topP: Float = 1
    /// Drop tokens less likely than `minP` times the most likely one.
    public var minP: Float = 0
    public var maxTokens: Int = 256
    /// Generation ends when the text contains one of these; the text stops before it.
    public var stop: [String] = []
    /// The seed of the Philox stream the draws come from.
    public var seed: UInt64 = 0
    /// Alternatives to report with each token's logprob (0…20).
    public var topLogprobs: Int = 0
    /// Which of a request's `n` choices this is (0-based): picks the choice's own stream
    /// (``Sampler/stream(seed:choice:)``).
    public var choice: Int = 0
    /// The structured-output constraint: tokens it refuses are masked before every draw.
    public var grammar: OutputGrammar?
    /// `logit_bias` and the penalties, applied to the logits before the mask and the draw.
    public var adjustments: LogitAdjustments = .none

    /// Most choices one request may ask for (`n`).
    public static let maxChoices = 8

    public init(
        temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0, maxTokens: Int = 256,
        stop: [String] = [], seed: UInt64 = 0, topLogprobs: Int = 0, choice: Int = 0, grammar: OutputGrammar? = nil,
        adjustments: LogitAdjustments = .none
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.maxTokens = maxTokens
        self.stop = stop
        self.seed = seed
        self.topLogprobs = topLogprobs
        self.choice = choice
        self.grammar = grammar
        self.adjustments = adjustments
    }

    /// Throws ``InferenceError`` for values out of range.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0, temperature <= 100 else {
            throw InferenceError.invalidParameter("temperature", "must be in 0…100")
        }
        guard topK >= 0 else { throw InferenceError.invalidParameter("top_k", "must be ≥ 0") }
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw InferenceError.invalidParameter("top_p", "must be in (0, 1]")
        }
        guard minP.isFinite, minP >= 0, minP <= 1 else {
            throw InferenceError.invalidParameter("min_p", "must be in 0…1")
        }
        guard maxTokens >= 1 else { throw InferenceError.invalidParameter("max_tokens", "must be ≥ 1") }
        guard (0...Logprobs.maxTop).contains(topLogprobs) else {
            throw InferenceError.invalidParameter("top_logprobs", "must be in 0…\(Logprobs.maxTop)")
        }
        guard stop.count <= 16, stop.allSatisfy({ !$0.isEmpty }) else {
            throw InferenceError.invalidParameter("stop", "at most 16 non-empty strings")
        }
        guard (0..<Self.maxChoices).contains(choice) else {
            throw InferenceError.invalidParameter("choice", "must be in 0…\(Self.maxChoices - 1)")
        }
    }
}

/// Draws tokens from logits with a seeded Philox stream: one uniform word per draw, so the same
/// seed and logits give the same tokens on every machine that computes the same logits.
///
/// The rule (PROTOCOL §7.2 test 3, docs/VALIDATION.md "The native sampler") is the pure function
/// ``draw(_:parameters:uniform:)``; this type only owns the stream. ``SamplerReplay`` replays the
/// same rule on a validator's logits.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var stream: PhiloxStream

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        stream = Self.stream(seed: parameters.seed, choice: parameters.choice)
    }

    /// The stream of a request's `seed` for choice `choice` (of `n`): one `nextUniformFloat()` per
    /// output position, greedy too. Choice 0 (every `n = 1` request) keys it with
    /// `gonka/inference/sampler/{seed}`, choice i > 0 with `gonka/inference/sampler/{seed}/choice/{i}`.
    public static func stream(seed: UInt64, choice: Int = 0) -> PhiloxStream {
        choice == 0
            ? PhiloxStream(seedString: "gonka/inference/sampler/\(seed)")
            : PhiloxStream(seedString: "gonka/inference/sampler/\(seed)/choice/\(choice)")
    }

    /// The next token for `logits` (the model's output for one position, adjusted and masked as
    /// the request asks: ``ChoiceDecoder`` does that).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        let u = stream.nextUniformFloat()
        return Self.draw(logits, parameters: parameters, uniform: u)
    }

    /// The token the rule picks for `logits` with the uniform `u` ∈ [0, 1): greedy is the argmax
    /// (lowest id on ties); otherwise the inverse CDF at `u` over ``support(_:parameters:)``.
    public static func draw(
        _ logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters, uniform u: Float
    ) -> Int {
        if parameters.temperature == 0 { return Logprobs.argmax(logits) }
        return pick(u, from: support(logits, parameters: parameters)) ?? Logprobs.argmax(logits)
    }

    /// The inverse CDF: the first candidate whose running weight exceeds `u · total`, walking
    /// `candidates` in order (the last one if rounding leaves `u · total` past the end; nil if empty).
    static func pick(_ u: Float, from candidates: [Candidate]) -> Int? {
        let total = candidates.reduce(Float(0)) { $0 + $1.weight }
        let target = u * total
        var running: Float = 0
        for c in candidates {
            running += c.weight
            if target < running { return c.id }
        }
        return candidates.last?.id
    }

    /// The candidates a sampled (temperature > 0) draw picks from, with their unnormalised weights
    /// `exp((logit − max) / T)`, in the order the inverse CDF walks them: min-p (`w ≥ min_p`, `w > 0`),
    /// then top-k, then top-p (a candidate is kept while the mass before it is < `top_p` of the
    /// total). With top-k or top-p the order is most likely first (lower id on ties); with neither it
    /// is token id order.
    static func support(_ logits: UnsafeBufferPointer<Float>, parameters p: SamplingParameters) -> [Candidate] {
        var maximum = -Float.infinity
        for v in logits { maximum = max(maximum, v) }
        let inverseT = 1 / p.temperature
        // Unnormalised probabilities relative to the best token; min-p is a threshold on them.
        var candidates: [Candidate] = []
        candidates.reserveCapacity(p.topK > 0 ? p.topK * 2 : 1024)
        let threshold = max(p.minP, 0)
        for (id, v) in logits.enumerated() {
            let w = Kernels.exp((v - maximum) * inverseT)
            if w > 0 && w >= threshold { candidates.append((id, w)) }
        }
        // Only top-k and top-p need the candidates in order of probability (ties by id); plain
        // temperature / min-p sampling walks them in id order and skips ordering ~49k entries.
        // Neither sorts the whole vocabulary: top-k keeps a k-entry heap, top-p first drops tokens too
        // unlikely to be in its prefix (exactly: see `narrowForTopP`).
        var cutoffTotal: Float?
        if p.topK > 0 && candidates.count > p.topK {
            candidates = Self.best(p.topK, of: candidates)
        } else if p.topP < 1 {
            let total = candidates.reduce(Float(0)) { $0 + $1.weight }
            cutoffTotal = total
            candidates = Self.narrowForTopP(candidates, mass: p.topP * total)
            candidates.sort(by: Self.before)
        } else if p.topK > 0 {
            candidates.sort(by: Self.before)
        }
        if p.topP < 1 {
            let total = cutoffTotal ?? candidates.reduce(Float(0)) { $0 + $1.weight }
            var running: Float = 0
            var keep = candidates.count
            for (i, c) in candidates.enumerated() {
                running += c.weight
                if running >= p.topP * total {
                    keep = i + 1
                    break
                }
            }
            candidates.removeLast(candidates.count - keep)
        }
        return candidates
    }

    typealias Candidate = (id: Int, weight: Float)

    /// More likely first, lower id on ties.
    static func before(_ a: Candidate, _ b: Candidate) -> Bool {
        a.weight != b.weight ? a.weight > b.weight : a.id < b.id
    }

    /// The `k` first candidates in ``before(_:_:)`` order, sorted: a k-entry heap whose root is the
    /// worst kept, so most of the vocabulary costs one comparison.
    static func best(_ k: Int, of candidates: [Candidate]) -> [Candidate] {
        var heap: [Candidate] = []
        heap.reserveCapacity(k)
        for c in candidates {
            if heap.count < k {
                heap.append(c)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    guard before(heap[parent], heap[i]) else { break }
                    heap.swapAt(parent, i)
                    i = parent
                }
            } else if before(c, heap[0]) {
                heap[0] = c
                var i = 0
                while true {
                    let l = 2 * i + 1
                    let r = l + 1
                    var worst = i
                    if l < heap.count && before(heap[worst], heap[l]) { worst = l }
                    if r < heap.count && before(heap[worst], heap[r]) { worst = r }
                    if worst == i { break }
                    heap.swapAt(i, worst)
                    i = worst
                }
            }
        }
        return heap.sorted(by: before)
    }

    /// The candidates the top-p prefix can reach: weights are bucketed by binade ([2⁻ᵇ, 2¹⁻ᵇ), heaviest
    /// first) in one pass; the prefix, sorted by weight, reaches `mass` before it leaves the first
    /// binades whose mass (with a margin for summation order) reaches it, so sorting only those gives
    /// the same prefix as sorting everything.
    static func narrowForTopP(_ candidates: [Candidate], mass: Float) -> [Candidate] {
        var binades = [Float](repeating: 0, count: 160)
        for c in candidates { binades[min(159, max(0, -Int(c.weight.exponent)))] += c.weight }
        var sum: Float = 0
        for b in 0..<159 {
            sum += binades[b]
            if sum >= mass * 1.001 {
                let floor = Float(sign: .plus, exponent: -b, significand: 1)
                return candidates.filter { $0.weight >= floor }
            }
        }
        return candidates
    }
}

extension Sampler {
    /// The logits a draw sees: the model's, adjusted by `logit_bias` and the penalties over
    /// `history`, then masked by the grammar in `state` (when a vocabulary and a state are given).
    /// The one order the executor's draw (``ChoiceDecoder``) and the validator's replay
    /// (``SamplerReplay``) share; the reported logprobs stay the model's own.
    public static func shaped(
        _ logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters, history: LogitAdjustments.History?,
        vocabulary: GrammarVocabulary?, state: OutputGrammar.State?
    ) -> [Float] {
        var shaped = Array(logits)
        shaped.withUnsafeMutableBufferPointer { row in
            if let history { parameters.adjustments.apply(to: row, history: history) }
            if let grammar = parameters.grammar, let vocabulary, let state {
                vocabulary.mask(row, grammar: grammar, state: state)
            }
        }
        return shaped
    }
}
