#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The distribution the requested sampling draws from at one position, rebuilt from the validator's
/// top-k (PROTOCOL §7.2 test 4: "its expectation under the requested sampling").
///
/// **Tail:** the support is the validator's top-k plus the forced (emitted) token with its forced
/// logprob when it is not listed; the rest of the vocabulary is treated as carrying no mass. The
/// expectation is therefore that of the truncated distribution: slightly less spread than the real
/// one, which with the usual k ≥ 5 and sampling filters is a small effect, and which the emitted
/// token's own entry keeps from ever giving it probability 0.
///
/// Construction, mirroring the native sampler's order (min-p, top-k, top-p), with
/// `margin` = `sampler_margin` widening each filter so a boundary token is not cut on noise:
/// 1. entries sorted by raw logprob descending (token id ascending on ties); tempered weights
///    `wⱼ = exp((ℓⱼ − ℓ₀)/T)` (so w₀ = 1);
/// 2. min-p: keep `wⱼ ≥ min_p − margin`;
/// 3. top-k (k > 0): keep rank < k, and any later entry whose normalised probability is within
///    `margin` of the k-th's;
/// 4. top-p (< 1): keep an entry while the normalised mass before it is `< top_p + margin`;
/// 5. q = the kept weights normalised.
/// Temperature 0 is the point mass on the first entry.
public struct SamplingDistribution: Sendable, Hashable {
    /// The support with natural-log probabilities, most likely first.
    public let support: [InferenceCheck.TokenLogprob]

    public init(
        top: [InferenceCheck.TokenLogprob], forced: InferenceCheck.TokenLogprob, sampling: InferenceCheck.Sampling,
        margin: Double
    ) {
        var entries = top
        if !entries.contains(where: { $0.token == forced.token }) { entries.append(forced) }
        entries = InferenceCheck.sortedByLikelihood(entries.filter { $0.logprob.isFinite })
        guard let best = entries.first else {
            support = []
            return
        }
        guard sampling.temperature > 0 else {
            support = [.init(token: best.token, logprob: 0)]
            return
        }
        var kept = entries.map { (token: $0.token, weight: exp(($0.logprob - best.logprob) / sampling.temperature)) }
        if sampling.minP > 0 { kept.removeAll { $0.weight < sampling.minP - margin } }
        if sampling.topK > 0, kept.count > sampling.topK {
            let total = kept.reduce(0.0) { $0 + $1.weight }
            let kth = kept[sampling.topK - 1].weight / total
            kept = kept.enumerated().filter { $0.offset < sampling.topK || $0.element.weight / total >= kth - margin }
                .map(\.element)
        }
        if sampling.topP < 1 {
            let total = kept.reduce(0.0) { $0 + $1.weight }
            var before = 0.0
            var count = 0
            for entry in kept {
                guard before / total < sampling.topP + margin else { break }
                before += entry.weight
                count += 1
            }
            kept.removeLast(kept.count - count)
        }
        let total = kept.reduce(0.0) { $0 + $1.weight }
        guard total > 0 else {
            support = []  // min-p above 1 filtered everything: no token is possible
            return
        }
        support = kept.map { .init(token: $0.token, logprob: log($0.weight / total)) }
    }

    /// log q(token), `nil` outside the support.
    public func logProbability(of token: UInt32) -> Double? {
        support.first { $0.token == token }?.logprob
    }

    /// E[log q] = Σ q log q (minus the entropy).
    public var expectedLogLikelihood: Double {
        support.reduce(0.0) { $0 + exp($1.logprob) * $1.logprob }
    }

    /// Var[log q] = Σ q (log q)² − E².
    public var variance: Double {
        let mean = expectedLogLikelihood
        let second = support.reduce(0.0) { $0 + exp($1.logprob) * $1.logprob * $1.logprob }
        return max(0, second - mean * mean)
    }
}
