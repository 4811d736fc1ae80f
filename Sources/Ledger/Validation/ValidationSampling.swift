import GonkaCore

/// Who validates what (PROTOCOL §7.1), in integers only, because the claim audit (§8.4) recomputes
/// every decision from the revealed seed and must agree bit for bit with what the validator did.
///
/// * `r` = the first 8 bytes of SHA-256(`"{hex(seed)}/{inference_id}"`) read **big-endian** as a
///   `UInt64` (the seed as 64 lowercase hex digits, the id as given, UTF-8); `r / 2⁶⁴` is the uniform.
/// * `minAvg` (``minimumAveragePpb(traffic:params:)``) in parts per billion, piecewise linear in the
///   traffic R, rounded up to the ppb (toward more validation).
/// * `target = minAvg + (1 − minAvg)·(1 − reputation/100)`, kept exact as `T / 10¹¹` with
///   `T = minAvg_ppb·100 + (10⁹ − minAvg_ppb)·(100 − reputation)`.
/// * `p = min(1, target × own / (model_total − executor))`, kept exact as the fraction
///   `(T·own) / (10¹¹·(model_total − executor))` (``Probability``).
/// * validate iff `r / 2⁶⁴ < p`, decided exactly as `r · D < N · 2⁶⁴` in 256 bits; p ≥ 1 always
///   validates. No rounding happens after `minAvg`.
public enum ValidationSampling {
    /// `p` as an exact fraction `numerator / denominator` (not reduced; may exceed 1 = "always").
    public struct Probability: Sendable, Hashable {
        public let numerator: UInt128
        public let denominator: UInt128

        /// Never validate.
        public static let zero = Probability(numerator: 0, denominator: 1)

        /// Whether p ≥ 1 (every inference is checked).
        public var isCertain: Bool { numerator >= denominator }

        /// The uniform `r / 2⁶⁴` falls below p: `r · denominator < numerator · 2⁶⁴`, compared in 256 bits.
        public func admits(_ r: UInt64) -> Bool {
            let lhs = UInt128(r).multipliedFullWidth(by: denominator)
            let rhs = (high: numerator >> 64, low: numerator << 64)
            return lhs.high < rhs.high || (lhs.high == rhs.high && lhs.low < rhs.low)
        }
    }

    /// Parts per billion in a whole.
    static let ppbScale: UInt64 = 1_000_000_000

    /// `r`: the first 8 bytes of SHA-256(`"{hex(seed)}/{inferenceID}"`), big-endian.
    public static func draw(seed: Hash, inferenceID: String) -> UInt64 {
        let digest = Hash.sha256("\(seed.hex)/\(inferenceID)").bytes
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// `minAvg` in ppb for traffic R: the max average for R ≤ min cutoff, the min average for
    /// R ≥ full cutoff, and linear between the cutoffs through the halfway average at the halfway
    /// cutoff, as `hi − ⌊(hi − lo)·(R − a)/(b − a)⌋` on each segment [a, b] (ppm values × 1000).
    public static func minimumAveragePpb(
        traffic: UInt64, params: ValidationParams
    ) throws(ValidationSamplingError)
        -> UInt64
    {
        try check(params)
        let maxAvg = params.maxValidationAveragePpm * 1_000
        let halfAvg = params.halfwayValidationAveragePpm * 1_000
        let minAvg = params.minValidationAveragePpm * 1_000
        let (low, half, full) = (params.trafficMinCutoff, params.trafficHalfwayCutoff, params.trafficFullCutoff)
        func slide(from hi: UInt64, to lo: UInt64, over a: UInt64, _ b: UInt64) -> UInt64 {
            hi - UInt64(UInt128(hi - lo) * UInt128(traffic - a) / UInt128(b - a))
        }
        if traffic <= low { return maxAvg }
        if traffic <= half { return slide(from: maxAvg, to: halfAvg, over: low, half) }
        if traffic < full { return slide(from: halfAvg, to: minAvg, over: half, full) }
        return minAvg
    }

    /// `p` for one (validator, inference) pair. `reputation` is the executor's score (0...100, larger
    /// values count as 100); the weights are those of the inference's model. A zero denominator
    /// (no one but the executor serves the model) gives p = 0.
    public static func probability(
        traffic: UInt64, reputation: UInt64, ownWeight: UInt64, modelTotalWeight: UInt64, executorWeight: UInt64,
        params: ValidationParams
    ) throws(ValidationSamplingError) -> Probability {
        let avg = try UInt128(minimumAveragePpb(traffic: traffic, params: params))
        let distrust = UInt128(Reputation.maxScore - min(reputation, Reputation.maxScore))
        let target = avg * 100 + (UInt128(ppbScale) - avg) * distrust  // target × 10¹¹, ≤ 10¹¹
        guard modelTotalWeight > executorWeight else { return .zero }
        let others = UInt128(modelTotalWeight - executorWeight)
        return Probability(numerator: target * UInt128(ownWeight), denominator: 100 * UInt128(ppbScale) * others)
    }

    /// Whether `seed` obliges its owner to validate `inferenceID` with probability `p`.
    public static func isObliged(seed: Hash, inferenceID: String, probability: Probability) -> Bool {
        probability.admits(draw(seed: seed, inferenceID: inferenceID))
    }

    /// Rejects parameters the piecewise floor cannot use: cutoffs must rise strictly
    /// (min < halfway < full) and averages must not rise with traffic (max ≥ halfway ≥ min), with
    /// the max average at most 100%.
    static func check(_ params: ValidationParams) throws(ValidationSamplingError) {
        guard params.trafficMinCutoff < params.trafficHalfwayCutoff,
            params.trafficHalfwayCutoff < params.trafficFullCutoff,
            params.maxValidationAveragePpm <= 1_000_000,
            params.maxValidationAveragePpm >= params.halfwayValidationAveragePpm,
            params.halfwayValidationAveragePpm >= params.minValidationAveragePpm
        else { throw .invalidParameters }
    }
}

/// Why a §7.1 sampling decision could not be computed.
public struct ValidationSamplingError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case invalidParameters
    }

    private let code: Code

    /// The traffic cutoffs do not rise strictly, or the averages rise with traffic or exceed 100%.
    public static let invalidParameters = Self(code: .invalidParameters)

    /// A label without associated values (safe for metrics).
    public var shortDescription: String {
        switch code {
        case .invalidParameters: "invalid_parameters"
        }
    }

    public var description: String {
        switch code {
        case .invalidParameters:
            "validation sampling needs traffic cutoffs min < halfway < full and averages 100% ≥ max ≥ halfway ≥ min"
        }
    }
}
