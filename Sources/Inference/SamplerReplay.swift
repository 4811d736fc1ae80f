import GonkaCore
import Tensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The validator's replay of the native sampler (PROTOCOL §7.2 test 3; the exact rule is written in
/// docs/VALIDATION.md, "The native sampler"): at each output position it draws the position's
/// uniform from the request's seed stream, runs ``Sampler/draw(_:parameters:uniform:)`` on the
/// validator's logits, and says whether the executor's token is explained.
///
/// `margin` (`sampler_margin`, probability mass) absorbs the small logit differences between the
/// executor's decode and the validator's batched scoring: a draw near a boundary is ``Draw/ambiguous``
/// rather than a miss, and a token is ``Draw/outsideSupport`` only if the filters exclude it even
/// when each is widened by `margin` (the widening of `Verification.SamplingDistribution`, applied to
/// the whole vocabulary).
public struct SamplerReplay: Sendable {
    /// The replayed draw at one position.
    public struct Draw: Sendable, Hashable {
        /// The token the validator's sampler draws with the position's uniform (greedy: the argmax,
        /// lowest id on ties).
        public var drawn: Int
        /// Margin-sized noise could change the answer about the executor's token: sampled, the
        /// uniform is within `margin` of a boundary of the token's CDF interval (or the token is kept
        /// only by the widened filters); greedy, the token's probability is within `margin` of the
        /// argmax's (for the argmax itself: the runner-up's is within `margin` of it).
        public var ambiguous: Bool
        /// The executor's token is filtered out even by the filters widened by `margin` (sampled
        /// requests only; a greedy request's support is the whole vocabulary).
        public var outsideSupport: Bool

        public init(drawn: Int, ambiguous: Bool, outsideSupport: Bool) {
            self.drawn = drawn
            self.ambiguous = ambiguous
            self.outsideSupport = outsideSupport
        }
    }

    /// `sampler_margin`'s default (PROTOCOL §12).
    public static let defaultMargin = 1e-3

    public let parameters: SamplingParameters
    public let margin: Double
    private var stream: PhiloxStream
    /// The vocabulary a constrained request's mask is computed over (``attach(_:)``).
    private var vocabulary: GrammarVocabulary?
    /// Where the executor's tokens have led the grammar; nil once a token broke it (the rest is
    /// judged unconstrained: the breaking token already counts as impossible).
    private var grammarState: OutputGrammar.State?
    /// What the penalties look at: the prompt (``begin(prompt:)``) and the executor's tokens so far;
    /// nil when the request has no adjustments.
    private var history: LogitAdjustments.History?

    /// A replay of the request's `parameters` (its seed picks the stream). Throws
    /// ``InferenceError`` for sampling values out of range or a margin outside 0…1.
    public init(parameters: SamplingParameters, margin: Double = defaultMargin) throws {
        try parameters.validate()
        guard margin.isFinite, (0...1).contains(margin) else {
            throw InferenceError.invalidParameter("sampler_margin", "must be in 0…1")
        }
        self.parameters = parameters
        self.margin = margin
        stream = Sampler.stream(seed: parameters.seed, choice: parameters.choice)
        grammarState = parameters.grammar?.start
        history = parameters.adjustments.isEmpty ? nil : LogitAdjustments.History(prompt: [])
    }

    /// Gives the replay the request's prompt, which the repetition penalty counts (the session
    /// that scores does it, before the first position).
    public mutating func begin(prompt: [Int]) {
        if history != nil { history = LogitAdjustments.History(prompt: prompt) }
    }

    /// Gives a constrained replay the model's vocabulary (the session that scores does it).
    public mutating func attach(_ vocabulary: GrammarVocabulary) {
        if parameters.grammar != nil && self.vocabulary == nil { self.vocabulary = vocabulary }
    }

    /// The next position: draws its uniform (greedy requests too, as the sampler does) and judges
    /// `emitted`, the executor's token, against the validator's `logits` for that position. A
    /// constrained request is judged on the logits masked by the grammar in the state the
    /// executor's earlier tokens led to, as the sampler drew them; a token the grammar refuses is
    /// outside the support.
    public mutating func replay(_ logits: UnsafeBufferPointer<Float>, emitted: Int) -> Draw {
        let u = stream.nextUniformFloat()
        defer { history?.record(emitted) }
        if history == nil && grammarState == nil {
            return Self.judge(logits, parameters: parameters, uniform: u, emitted: emitted, margin: margin)
        }
        // The executor's sampler saw the logits adjusted (bias, penalties over its own earlier
        // tokens) and then masked by the grammar in the state its earlier tokens led to.
        let state = grammarState
        let shaped = Sampler.shaped(
            logits, parameters: parameters, history: history, vocabulary: vocabulary, state: state)
        var draw = shaped.withUnsafeBufferPointer {
            Self.judge($0, parameters: parameters, uniform: u, emitted: emitted, margin: margin)
        }
        guard let grammar = parameters.grammar, let vocabulary, let state else { return draw }
        grammarState = vocabulary.advance(state, by: emitted, grammar: grammar)
        if grammarState == nil {
            draw.ambiguous = false
            draw.outsideSupport = true
        }
        return draw
    }

    /// The verdict for one position given its uniform `u`: a pure function.
    public static func judge(
        _ logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters, uniform u: Float, emitted: Int,
        margin: Double
    ) -> Draw {
        guard logits.indices.contains(emitted) else {
            return Draw(
                drawn: Sampler.draw(logits, parameters: parameters, uniform: u), ambiguous: false, outsideSupport: true)
        }
        if parameters.temperature == 0 { return greedy(logits, emitted: emitted, margin: margin) }
        let support = Sampler.support(logits, parameters: parameters)
        let drawn = Sampler.pick(u, from: support) ?? Logprobs.argmax(logits)
        if let interval = interval(of: emitted, in: support) {
            let distance = min(abs(Double(u) - interval.lower), abs(Double(u) - interval.upper))
            // Only a would-be miss pays for the shifted-filter draws.
            let ambiguous =
                distance <= margin
                || (drawn != emitted
                    && explainedByShiftedFilters(
                        logits, parameters: parameters, uniform: u, emitted: emitted, margin: margin))
            return Draw(drawn: drawn, ambiguous: ambiguous, outsideSupport: false)
        }
        // Not in the exact support: either it sits in a filter's margin band (a boundary case, as
        // ambiguous as a uniform near an edge) or it cannot have been drawn at all.
        let widened = inWidenedSupport(emitted, logits, parameters: parameters, margin: margin)
        return Draw(drawn: drawn, ambiguous: widened, outsideSupport: !widened)
    }

    /// Whether the executor's token would be the draw (or within `margin` of its boundary) had a
    /// filter's threshold been `margin` higher or lower: top-p's `top_p ± margin`, min-p's
    /// `min_p ± margin`. The executor's and the validator's logits differ a little, so an entry at a
    /// filter's edge can be in one nucleus and not the other; that changes the normalising mass, and
    /// so every CDF boundary, by more than a uniform near one edge would show. The honest misses
    /// `gonka bench validation` found (1.65% of 2,000 pairs had one; one pair failed) were all of
    /// sampled requests with top-p.
    static func explainedByShiftedFilters(
        _ logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters, uniform u: Float, emitted: Int,
        margin: Double
    ) -> Bool {
        var variants: [SamplingParameters] = []
        let m = Float(margin)
        if parameters.topP < 1 {
            for topP in [parameters.topP - m, min(1, parameters.topP + m)] where topP > 0 {
                var shifted = parameters
                shifted.topP = topP
                variants.append(shifted)
            }
        }
        if parameters.minP > 0 {
            for minP in [max(0, parameters.minP - m), min(1, parameters.minP + m)] {
                var shifted = parameters
                shifted.minP = minP
                variants.append(shifted)
            }
        }
        for variant in variants {
            let support = Sampler.support(logits, parameters: variant)
            if Sampler.pick(u, from: support) == emitted { return true }
            if let interval = interval(of: emitted, in: support),
                min(abs(Double(u) - interval.lower), abs(Double(u) - interval.upper)) <= margin
            {
                return true
            }
        }
        return false
    }

    /// The normalised CDF interval `[lower, upper)` of `token` in the walk order of `support`.
    static func interval(of token: Int, in support: [Sampler.Candidate]) -> (lower: Double, upper: Double)? {
        let total = support.reduce(Float(0)) { $0 + $1.weight }
        guard total > 0 else { return nil }
        var running: Float = 0
        for c in support {
            let before = running
            running += c.weight
            if c.id == token { return (Double(before) / Double(total), Double(running) / Double(total)) }
        }
        return nil
    }

    /// Greedy: the argmax, and whether the executor's token is within `margin` of probability of
    /// it (softmax of the raw logits).
    static func greedy(_ logits: UnsafeBufferPointer<Float>, emitted: Int, margin: Double) -> Draw {
        let best = Logprobs.argmax(logits)
        let lse = Logprobs.logSumExp(logits)
        func probability(_ v: Float) -> Double { exp(Double(v - lse)) }
        let rival: Float
        if emitted != best {
            rival = logits[emitted]
        } else {
            var second = -Float.infinity
            for (i, v) in logits.enumerated() where i != best && v > second { second = v }
            rival = second
        }
        let gap = probability(logits[best]) - probability(rival)
        return Draw(drawn: best, ambiguous: gap <= margin, outsideSupport: false)
    }

    /// Whether `token` survives the sampler's filters each widened by `margin`, over the whole
    /// vocabulary, with the sampler's weights `w = exp((logit − max)/T)` (so `w = 1` at the top):
    /// min-p keeps `w > 0` and `w ≥ min_p − margin`; top-k (when more than k remain) keeps entries
    /// whose normalised probability is ≥ the k-th's − margin; top-p keeps an entry while the
    /// normalised mass strictly before it (most likely first, lower id on ties) is < `top_p + margin`.
    static func inWidenedSupport(
        _ token: Int, _ logits: UnsafeBufferPointer<Float>, parameters p: SamplingParameters, margin: Double
    ) -> Bool {
        var maximum = -Float.infinity
        for v in logits { maximum = max(maximum, v) }
        let inverseT = 1 / p.temperature
        let minimum = Double(p.minP) - margin
        var kept: [Sampler.Candidate] = []
        for (id, v) in logits.enumerated() {
            let w = Kernels.exp((v - maximum) * inverseT)
            if w > 0 && Double(w) >= minimum { kept.append((id, w)) }
        }
        guard let own = kept.first(where: { $0.id == token }) else { return false }
        if p.topK > 0 && kept.count > p.topK, let kth = Sampler.best(p.topK, of: kept).last {
            let total = kept.reduce(0.0) { $0 + Double($1.weight) }
            let floor = Double(kth.weight) / total - margin
            guard Double(own.weight) / total >= floor else { return false }
            kept.removeAll { Double($0.weight) / total < floor }
        }
        if p.topP < 1 {
            let total = kept.reduce(0.0) { $0 + Double($1.weight) }
            var before = 0.0
            for c in kept where Sampler.before(c, own) { before += Double(c.weight) }
            return before / total < Double(p.topP) + margin
        }
        return true
    }
}
