import GonkaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension InferenceCheck {
    /// Result of test 4.
    struct LikelihoodMeasure {
        var mismatches: Int
        var misses: Int
        var impossible: Int
        var z: Double?
        var failed: Bool
    }

    /// Test 4 (PROTOCOL §7.2), for models whose sampler cannot be replayed:
    ///
    /// * **agreement** — the executor's reported logprob of each emitted token equals the validator's
    ///   forced logprob "within the distribution tolerance", read as: the one-token form of dᵢ,
    ///   `|ℓₑ − ℓᵥ| / (|ℓₑ| + |ℓᵥ| + 1e-6) / 2`, is at most `position_ceiling`, with ⌊0.02·N⌋
    ///   exceptions allowed (test 2's ceiling rule, applied to the emitted token);
    /// * **impossible** — a token of negligible probability (``isNegligible(_:top:temperature:)``)
    ///   or outside ``SamplingDistribution``'s support fails, as in test 3;
    /// * **sampled requests** — `z = (Σ log qᵢ(oᵢ) − Σ E[log qᵢ]) / √(Σ Var[log qᵢ])` over the possible
    ///   positions, where oᵢ is the emitted token's outcome in ``SamplingDistribution`` (a listed
    ///   token, or the lumped tail) and each term is its most lenient value over the tail's range
    ///   (the mean log-likelihood's deviation in standard errors; z = 0 when the variance is 0);
    ///   fails if `z < −likelihood_margin`; and, since the lumped tail hides which tail token was drawn,
    ///   the count of tail outcomes must not exceed its largest honest expectation by more than
    ///   `likelihood_margin` standard deviations (the reported z is the worse of the two);
    /// * **greedy requests** (temperature 0: there is no spread to test) — test 3's rule with the
    ///   validator's argmax: a miss is an emitted token that is not the argmax of the validator's
    ///   top-k and whose probability is more than `opaque_margin` below the argmax's; fails if
    ///   misses > max(1, ⌈0.03·N⌉).
    static func likelihood(
        executor: [ExecutorPosition], validator: [ValidatorPosition], sampling: Sampling, thresholds: Thresholds
    ) -> LikelihoodMeasure {
        var measure = LikelihoodMeasure(mismatches: 0, misses: 0, impossible: 0, z: nil, failed: false)
        let margin = max(thresholds.samplerMargin, thresholds.opaqueMargin)
        var deviation = 0.0
        var variance = 0.0
        var tailCount = 0.0
        var tailExpected = 0.0
        var tailVariance = 0.0
        for (e, v) in zip(executor, validator) {
            let gap = abs(e.logprob - v.forcedLogprob) / (abs(e.logprob) + abs(v.forcedLogprob) + 1e-6) / 2
            if gap > thresholds.positionCeiling { measure.mismatches += 1 }
            if isNegligible(v.forcedLogprob, top: v.top, temperature: sampling.temperature) {
                measure.impossible += 1
                continue
            }
            let forced = TokenLogprob(token: v.forcedToken, logprob: v.forcedLogprob)
            if sampling.temperature <= 0 {
                let best = sortedByLikelihood(v.top + [forced])[0]
                if best.token != e.token && exp(best.logprob) - exp(v.forcedLogprob) > margin {
                    measure.misses += 1
                }
                continue
            }
            let q = SamplingDistribution(
                top: v.top, forced: forced, sampling: sampling, margin: margin)
            guard let position = q.measure(of: e.token), position.deviation > -.infinity else {
                measure.impossible += 1
                continue
            }
            // A position the numbers cannot judge (NaN from a malformed score) counts for nothing.
            guard position.deviation.isFinite, position.variance.isFinite else { continue }
            deviation += position.deviation
            variance += position.variance
            // The tail count's most lenient expectation and its largest variance over the range.
            let tail = q.tailProbability
            tailExpected += tail.upperBound
            let nearHalf = min(max(0.5, tail.lowerBound), tail.upperBound)
            tailVariance += nearHalf * (1 - nearHalf)
            if q.isTail(e.token) { tailCount += 1 }
        }
        let n = executor.count
        var failed = measure.mismatches > n * 2 / 100 || measure.impossible > 0
        if sampling.temperature <= 0 {
            let tolerated = Int(MissTolerance.argmax(positions: UInt64(n)))
            failed = failed || SamplerMeasure(misses: measure.misses, impossible: 0).failed(tolerated: tolerated)
        } else {
            let z = variance > 0 ? deviation / variance.squareRoot() : 0
            // Too many tail outcomes count against the likelihood the same way (reported as −z).
            let tailZ = tailVariance > 0 ? (tailCount - tailExpected) / tailVariance.squareRoot() : 0
            measure.z = min(z, -tailZ)
            failed = failed || z < -thresholds.likelihoodMargin || tailZ > thresholds.likelihoodMargin
        }
        measure.failed = failed
        return measure
    }
}
