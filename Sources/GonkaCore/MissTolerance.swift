/// How many sampler misses an output of `n` positions may have before its check fails (PROTOCOL
/// §7.2): the one home of the rule for the validator's check (`Verification.InferenceCheck`) and
/// the ledger's consistency check of a passed `MsgValidation`.
public enum MissTolerance {
    /// Test 3 (a replayed native sampler): ⌊0.03·n⌋, none below 34 positions. The native engine's
    /// kernels are batch- and thread-invariant, so an honest validator replays the executor's draws
    /// on bit-identical logits (measured by `gonka bench validation`: 0 misses in every honest
    /// pair); a validator whose logits differ slightly is covered by `sampler_margin`'s ambiguity,
    /// not by a free miss. The earlier floor of one free miss let every 1-token output of a cheap
    /// model through.
    public static func replay(positions n: UInt64) -> UInt64 {
        n / 100 * 3 + n % 100 * 3 / 100
    }

    /// Test 4's greedy form (the validator's argmax against an opaque backend, another engine whose
    /// argmax honestly differs now and then): max(1, ⌈0.03·n⌉).
    public static func argmax(positions n: UInt64) -> UInt64 {
        max(1, n / 100 * 3 + (n % 100 * 3 + 99) / 100)
    }
}
