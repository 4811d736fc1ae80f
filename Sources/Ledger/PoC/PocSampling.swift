import GonkaCore

/// The validation sample of PROTOCOL §5.4 as the ledger names it; the rule itself is
/// ``PocValidationSample`` (GonkaCore), shared with the PoC engine. The verdict on the recomputed
/// distances is ``PocVerdict`` (GonkaCore), shared with the node's orchestrator.
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
}
