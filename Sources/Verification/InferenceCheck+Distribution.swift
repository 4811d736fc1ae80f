#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension InferenceCheck {
    /// Result of test 2.
    struct DistributionMeasure {
        var mean: Double
        var aboveCeiling: Int
        var failed: Bool
        var ppm: UInt64 { UInt64((mean * 1e6).rounded()) }
    }

    /// Test 2 (PROTOCOL §7.2) over all positions: fails if ``correctedMean(_:)`` exceeds the model's
    /// `validation_threshold` (strictly greater), or if more than ⌊0.02·N⌋ positions have a distance
    /// strictly above `position_ceiling`. N = 0 passes with mean 0.
    static func distribution(
        executor: [ExecutorPosition], validator: [ValidatorPosition], thresholds: Thresholds
    ) -> DistributionMeasure {
        let distances = zip(executor, validator).map { distance(executor: $0, validator: $1) }
        let mean = correctedMean(distances)
        let above = distances.filter { $0 > thresholds.positionCeiling }.count
        let allowed = distances.count * 2 / 100
        return DistributionMeasure(
            mean: mean, aboveCeiling: above, failed: mean > thresholds.validationThreshold || above > allowed)
    }

    /// `max(Σdᵢ/N − 0.10/√N, Σdᵢ/max(100, N))`, 0 for N = 0. The first term discounts the noise of a
    /// short sample; the second keeps a short output from being scored as if it were long (its sum
    /// is spread over at least 100 positions), so neither term alone decides.
    public static func correctedMean(_ distances: [Double]) -> Double {
        guard !distances.isEmpty else { return 0 }
        let n = Double(distances.count)
        let sum = distances.reduce(0, +)
        return max(sum / n - 0.10 / n.squareRoot(), sum / max(100, n))
    }

    /// dᵢ of PROTOCOL §7.2 for one position: over the validator's top-k tokens t,
    /// `mean_t |ℓᵥ(t) − ℓₑ(t)| / (|ℓᵥ(t)| + |ℓₑ(t)| + 1e-6) / 2` (so 0 ≤ dᵢ < 0.5).
    ///
    /// ℓₑ(t) is the executor's listed logprob, or, for a token missing from the executor's list, an
    /// extrapolation below the list's smallest entry ℓₘᵢₙ: the j-th missing token in the validator's
    /// order (logprob descending, token id ascending on ties) gets `ℓₘᵢₙ − j·Δ`, where Δ is the mean
    /// spacing of the executor's list `(ℓₘₐₓ − ℓₘᵢₙ)/(k − 1)`, or ln 2 when the list has one entry or
    /// no spread. A missing token is less likely than every listed one (else it would be listed),
    /// and successive missing tokens keep falling at the list's own rate.
    public static func distance(executor: ExecutorPosition, validator: ValidatorPosition) -> Double {
        guard !validator.top.isEmpty else { return 0 }
        let listed = Dictionary(executor.top.map { ($0.token, $0.logprob) }, uniquingKeysWith: { max($0, $1) })
        let executorValues = executor.top.map(\.logprob)
        let smallest = executorValues.min() ?? executor.logprob
        let largest = executorValues.max() ?? executor.logprob
        let spacing =
            executorValues.count >= 2 && largest > smallest
            ? (largest - smallest) / Double(executorValues.count - 1) : log(2.0)
        var missing = 0
        var sum = 0.0
        for t in sortedByLikelihood(validator.top) {
            let le: Double
            if let value = listed[t.token] {
                le = value
            } else {
                missing += 1
                le = smallest - Double(missing) * spacing
            }
            sum += abs(t.logprob - le) / (abs(t.logprob) + abs(le) + 1e-6) / 2
        }
        return sum / Double(validator.top.count)
    }

    /// Most likely first; lower token id first on equal logprobs.
    public static func sortedByLikelihood(_ list: [TokenLogprob]) -> [TokenLogprob] {
        list.sorted { $0.logprob > $1.logprob || ($0.logprob == $1.logprob && $0.token < $1.token) }
    }
}
