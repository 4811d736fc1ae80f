#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The distribution the requested sampling draws from at one position, as far as the validator's
/// top-k determines it (PROTOCOL §7.2 test 4: "its expectation under the requested sampling").
///
/// **Outcomes.** Each token of the validator's top-k is an outcome of its own; every other token is
/// lumped into one **tail** outcome. The emitted token is either one of the listed tokens or "the
/// tail", and which it is follows exactly the categorical distribution over these outcomes when the
/// executor samples honestly, so the log-likelihood test on them is calibrated. (Renormalising the
/// top-k alone, as this type first did, treats the tail as carrying no mass: at temperature 1 a
/// small model puts a third of its mass beyond the top 5, every tail draw then looked improbable,
/// and honest hosts failed. Measured on a devnet: 3 of 6 honest sampled inferences.)
///
/// **The tail's weight** is known exactly at temperature 1 without filters: the raw mass the
/// top-k leaves, `M = 1 − Σ pⱼ`. At another temperature T it depends on how the tail's mass is
/// spread, so it is bounded: every tail token has p ≤ p_k (the last listed), and Σ pᵢ^(1/T) over
/// a mass M lies between its values for M spread evenly over the rest of the vocabulary (at most
/// ``vocabularyBound`` tokens) and M concentrated in tokens of p_k. A filter that may cut into the
/// tail (top-k beyond the list, top-p or min-p reaching it) makes its lower bound 0, one that
/// certainly removes it makes it 0 outright. The emitted token's own weight, when it is in the
/// tail, is a lower bound of what the sampler kept.
///
/// **Filters** (engines differ: ours and vLLM temper before top-p and min-p, llama.cpp after) are
/// read leniently, each on its own over all listed tokens, widened by `margin` (`sampler_margin`),
/// tempered or raw: a token is dropped only if every reading drops it. An engine therefore never
/// keeps a token this support lacks, which is what makes "outside the support" a proof.
///
/// ``measure(of:)`` takes, over the tail's range, the most lenient deviation and the largest
/// variance, so an honest sequence's z can only be over-estimated: the test keeps its false-failure
/// bound whatever the true tail. Lumping hides *which* tail token was drawn, and the tail as one
/// outcome is often likely, so a decoder that favours the tail is seen by a second statistic, the
/// count of tail outcomes against its largest honest expectation (``tailProbability``).
public struct SamplingDistribution: Sendable, Hashable {
    /// A listed token that survives the filters, with its tempered weight relative to the most
    /// likely listed token (weight 1).
    public struct Entry: Sendable, Hashable {
        public var token: UInt32
        public var weight: Double
    }

    /// Kept listed tokens, most likely first.
    public let listed: [Entry]
    /// The tail's tempered weight, on the scale of ``listed`` (0…0 when the filters remove it).
    public let tail: ClosedRange<Double>
    /// The greedy form: temperature 0 is a point mass on the most likely listed token.
    public let greedy: Bool

    /// At most this many tokens share the tail (the spread bound at temperatures above 1).
    public static let vocabularyBound = 1 << 18
    /// Below this a listed logprob counts as "no mass" (e^−100).
    static let negligibleLogprob = -100.0
    /// Tail weights tried between the bounds.
    static let gridSteps = 16

    /// - Parameters:
    ///   - top: the validator's top-k with raw (untempered) natural-log probabilities.
    ///   - forced: the emitted token with the validator's raw logprob of it.
    public init(
        top: [InferenceCheck.TokenLogprob], forced: InferenceCheck.TokenLogprob, sampling: InferenceCheck.Sampling,
        margin: Double
    ) {
        let entries = InferenceCheck.sortedByLikelihood(top.filter { $0.logprob.isFinite })
        guard let best = entries.first else {
            listed = []
            tail = 0...0
            greedy = sampling.temperature <= 0
            return
        }
        guard sampling.temperature > 0 else {
            listed = [Entry(token: best.token, weight: 1)]
            tail = 0...0
            greedy = true
            return
        }
        greedy = false
        let a = 1 / sampling.temperature
        let raw = entries.map { exp($0.logprob - best.logprob) }  // p_j / p_0
        let tempered = raw.map { pow($0, a) }
        let mass = max(0, 1 - entries.reduce(0.0) { $0 + exp($1.logprob) })
        // The tail's tempered weight on the scale of w_0 = 1 (see the type's comment).
        // In logs: a listed logprob may be JSON's stand-in for −∞ (−9999), whose probability
        // underflows to 0 and would make the bounds 0 × ∞.
        var low = 0.0
        var high = 0.0
        if mass > 0 {
            let logMass = log(mass)
            let logP0 = best.logprob
            // The least likely listed token that carries mass at all bounds the tail tokens (an
            // entry at −9999 is a stand-in for −∞, not a bound on anything).
            let logPk = entries.last { $0.logprob > Self.negligibleLogprob }?.logprob ?? logP0
            let logSpread = log(Double(max(1, Self.vocabularyBound - entries.count)))
            let even = Self.weight(logSpread + a * (logMass - logSpread - logP0))
            let concentrated = Self.weight(logMass + (a - 1) * logPk - a * logP0)
            (low, high) = (min(even, concentrated), max(even, concentrated))
            if !top.contains(where: { $0.token == forced.token }), forced.logprob.isFinite {
                let own = Self.weight(a * (forced.logprob - logP0))
                low = min(max(low, own), high)
            }
        }
        let totalHigh = tempered.reduce(0, +) + high
        var keep = Array(repeating: true, count: entries.count)
        var tailCut = false
        var tailPartial = false
        if sampling.minP > 0 {
            let floor = sampling.minP - margin
            for j in entries.indices where tempered[j] < floor && raw[j] < floor { keep[j] = false }
            // Tail tokens are at most as likely as the last listed one.
            if tempered[tempered.count - 1] < floor && raw[raw.count - 1] < floor {
                tailCut = true
            } else {
                tailPartial = true
            }
        }
        if sampling.topK > 0 {
            let k = sampling.topK
            if k < entries.count {
                let kth = raw[k - 1]
                for j in k..<entries.count where kth - raw[j] > margin { keep[j] = false }
            }
            // A tail token within `margin` of the k-th may be the other engine's k-th.
            let forcedNearKth =
                !top.contains { $0.token == forced.token } && forced.logprob.isFinite
                && raw[min(k, entries.count) - 1] - exp(forced.logprob - best.logprob) <= margin
            if k <= entries.count && !forcedNearKth { tailCut = true } else { tailPartial = true }
        }
        if sampling.topP < 1 {
            let limit = sampling.topP + margin
            var beforeTempered = 0.0
            var beforeRaw = 0.0
            for j in entries.indices {
                if beforeTempered / totalHigh >= limit && beforeRaw >= limit { keep[j] = false }
                beforeTempered += tempered[j]
                beforeRaw += exp(entries[j].logprob)
            }
            if beforeTempered / totalHigh >= limit && beforeRaw >= limit { tailCut = true } else { tailPartial = true }
        }
        listed = entries.indices.filter { keep[$0] }.map { Entry(token: entries[$0].token, weight: tempered[$0]) }
        if tailCut || !(high > 0) {
            tail = 0...0
        } else {
            tail = (tailPartial || !(low <= high) ? 0 : low)...high
        }
    }

    /// `exp(logWeight)`, kept finite: a tail weight beyond 10¹² (the tail is then all but certain)
    /// changes nothing the tests read, and ∞ would turn probabilities into NaN.
    static func weight(_ logWeight: Double) -> Double {
        guard !logWeight.isNaN else { return 0 }
        return min(exp(logWeight), 1e12)
    }

    /// The probability of the tail outcome, over the tail's range.
    public var tailProbability: ClosedRange<Double> {
        guard !greedy else { return 0...0 }
        let listedTotal = listed.reduce(0.0) { $0 + $1.weight }
        func q(_ w: Double) -> Double {
            let value = w > 0 ? w / (listedTotal + w) : 0
            return value.isNaN ? 0 : value
        }
        // Rounding may put q(low) an ulp above q(high) when the bounds nearly meet.
        let (a, b) = (q(tail.lowerBound), q(tail.upperBound))
        return min(a, b)...max(a, b)
    }

    /// Whether `token` is the tail outcome (not a kept listed token).
    public func isTail(_ token: UInt32) -> Bool { !listed.contains { $0.token == token } }

    /// How the emitted `token` deviates from the expectation: `log q(outcome) − E[log q]` and
    /// `Var[log q]`, the most lenient deviation and the largest variance over the tail's range; nil
    /// when no reading of the filters allows it (outside the support).
    public func measure(of token: UInt32) -> (deviation: Double, variance: Double)? {
        if greedy { return listed.first?.token == token ? (0, 0) : nil }
        let index = listed.firstIndex { $0.token == token }
        if index == nil, tail.upperBound == 0 { return nil }
        let listedTotal = listed.reduce(0.0) { $0 + $1.weight }
        var best: (deviation: Double, variance: Double)?
        let steps = tail.lowerBound == tail.upperBound ? 0 : Self.gridSteps
        for step in 0...steps {
            let w = tail.lowerBound + (tail.upperBound - tail.lowerBound) * Double(step) / Double(max(1, steps))
            if index == nil, w <= 0 { continue }
            let total = listedTotal + w
            var mean = 0.0
            var second = 0.0
            for entry in listed where entry.weight > 0 {
                let q = entry.weight / total
                mean += q * log(q)
                second += q * log(q) * log(q)
            }
            if w > 0 {
                let q = w / total
                mean += q * log(q)
                second += q * log(q) * log(q)
            }
            let own = index.map { listed[$0].weight / total } ?? w / total
            let deviation = log(own) - mean
            let variance = max(0, second - mean * mean)
            best = (max(best?.deviation ?? -.infinity, deviation), max(best?.variance ?? 0, variance))
        }
        return best
    }
}
