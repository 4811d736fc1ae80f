/// The fraud verdict of PROTOCOL §5.4, implemented once for the validator that submits
/// `MsgSubmitPocValidation` (the node's PoC orchestrator) and the ledger that checks its `fraud`
/// flag against the evidence it carries: `k` = how many recomputed distances are at or above
/// r_target; fraud iff `k ≥ poc_fraud_min_mismatches`.
///
/// `poc_fraud_min_mismatches` is the smallest k whose binomial tail `P[Bin(n, p₀) ≥ k]` is below
/// `poc_fraud_threshold`; it is precomputed into the parameters (integers only on chain), and
/// `PocStatistics.fraudMinMismatches` (ProofOfCompute) derives it for a test that keeps the
/// parameter true.
public struct PocVerdict: Sendable, Hashable {
    /// Recomputed distances at or above r_target (the k of §5.4).
    public let mismatches: Int
    public let fraud: Bool

    public init(recomputedNano: [UInt64], rTargetNano: UInt64, minMismatches: UInt64) {
        mismatches = recomputedNano.count { $0 >= rTargetNano }
        fraud = UInt64(mismatches) >= minMismatches
    }

    /// The verdict under the epoch parameters' r_target and `poc_fraud_min_mismatches`.
    public init(recomputedNano: [UInt64], params: EpochParams) {
        self.init(
            recomputedNano: recomputedNano, rTargetNano: params.rTargetNano,
            minMismatches: params.pocFraudMinMismatches)
    }
}
