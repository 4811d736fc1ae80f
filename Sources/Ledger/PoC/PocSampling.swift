import GonkaCore

/// The validation sample of PROTOCOL §5.4 as the ledger names it; the rule itself is
/// ``PocValidationSample`` (GonkaCore), shared with the PoC engine.
public enum PocSampling {
    public static func seed(validatorKeyHex: String, blockHashHex: String) -> Hash {
        PocValidationSample.seed(validatorKeyHex: validatorKeyHex, blockHashHex: blockHashHex)
    }

    public static func sample(
        nonces: [UInt64], validatorKeyHex: String, blockHashHex: String, count: Int
    ) -> [UInt64] {
        PocValidationSample.sample(
            nonces: nonces, count: count, seed: seed(validatorKeyHex: validatorKeyHex, blockHashHex: blockHashHex))
    }

    /// How many recomputed distances are at or above the target (the k of §5.4).
    public static func mismatches(recomputedNano: [UInt64], rTargetNano: UInt64) -> Int {
        recomputedNano.count { $0 >= rTargetNano }
    }
}
