import GonkaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The validation statistics of PROTOCOL §5.4: which nonces a validator samples and when the
/// recomputed distances mean fraud.
public enum PocStatistics {
    /// `P[X ≥ k]` for `X ~ Binomial(n, p)`, summed in log space (log-gamma binomial coefficients,
    /// log-sum-exp), so tails far below `Double.leastNormalMagnitude` relative to their terms stay
    /// accurate. `k ≤ 0` → 1, `k > n` → 0.
    public static func binomialUpperTail(k: Int, n: Int, p: Double) -> Double {
        guard n >= 0 else { return 0 }
        if k <= 0 { return 1 }
        if k > n { return 0 }
        if p <= 0 { return 0 }
        if p >= 1 { return 1 }
        let logP = log(p)
        let logQ = log1p(-p)
        let lgN = logGamma(Double(n) + 1)
        var terms: [Double] = []
        terms.reserveCapacity(n - k + 1)
        for i in k...n {
            let logChoose = lgN - logGamma(Double(i) + 1) - logGamma(Double(n - i) + 1)
            terms.append(logChoose + Double(i) * logP + Double(n - i) * logQ)
        }
        let m = terms.max()!
        var sum = 0.0
        for t in terms { sum += exp(t - m) }
        return Swift.min(1, exp(m + log(sum)))
    }

    private static func logGamma(_ x: Double) -> Double {
        #if canImport(Glibc)
            Glibc.lgamma(x)
        #elseif canImport(Musl)
            Musl.lgamma(x)
        #else
            Darwin.lgamma(x)
        #endif
    }

    /// The `poc_fraud_min_mismatches` parameter (§5.4) derived from what it stands for: the smallest
    /// k with `P[Bin(sampled, mismatchRate) ≥ k] < threshold`, i.e. the fewest recomputed distances
    /// ≥ r_target that the honest kernel mismatch rate cannot explain (n = 200, p₀ = 5e-4,
    /// threshold 1e-7: 5). The chain itself only compares against the stored integer
    /// (``PocVerdict``, GonkaCore); this is how that integer is chosen and kept true.
    /// `sampled + 1` when even all of them would not be improbable enough.
    public static func fraudMinMismatches(sampled: Int, mismatchRate: Double, threshold: Double) -> Int {
        let n = max(0, sampled)
        for k in 1...(n + 1) where binomialUpperTail(k: k, n: n, p: mismatchRate) < threshold {
            return k
        }
        return n + 1
    }

    /// ``fraudMinMismatches(sampled:mismatchRate:threshold:)`` for the epoch parameters' sample size,
    /// `poc_mismatch_rate_ppb` and `poc_fraud_threshold_ppb`.
    public static func fraudMinMismatches(_ params: EpochParams) -> Int {
        fraudMinMismatches(
            sampled: Int(clamping: params.pocValidationSample), mismatchRate: Double(params.pocMismatchRatePpb) / 1e9,
            threshold: Double(params.pocFraudThresholdPpb) / 1e9)
    }

    /// The validator's sample of a participant's nonces (§5.4), ascending: the rule the ledger
    /// checks, ``PocValidationSample`` in GonkaCore.
    public static func sampleNonces(from nonces: [UInt64], count: Int, seed: Hash) -> [UInt64] {
        PocValidationSample.sample(nonces: nonces, count: count, seed: seed)
    }

    /// ``sampleNonces(from:count:seed:)`` with the protocol's seed `SHA-256("{validator_pk}/{H}")`.
    public static func sampleNonces(
        from nonces: [UInt64], count: Int, validatorPublicKeyHex: String, blockHashHex: String
    ) -> [UInt64] {
        sampleNonces(
            from: nonces, count: count,
            seed: PocSeed.validationSample(validatorPublicKeyHex: validatorPublicKeyHex, blockHashHex: blockHashHex))
    }
}

/// Distances on the wire (poc.proto): fixed point `distance_nano = floor(d × 1e9)`.
public enum PocDistance {
    /// `floor(d × 1e9)`; 0 for negative or NaN, `UInt64.max` past its range.
    public static func nano(_ d: Double) -> UInt64 {
        guard d.isFinite || d == .infinity, !d.isNaN, d > 0 else { return 0 }
        let scaled = (d * 1e9).rounded(.down)
        guard scaled < 18_446_744_073_709_551_615.0 else { return .max }
        return UInt64(scaled)
    }

    /// The distance a fixed-point value stands for: the middle of `[n, n+1)` nano, so
    /// `nano(distance(fromNano: n)) == n` for every `n` below 2⁵³.
    public static func distance(fromNano n: UInt64) -> Double {
        (Double(n) + 0.5) / 1e9
    }
}
