import GonkaCore

/// Which of a participant's nonces a validator must recompute (PROTOCOL §5.4), implemented once:
/// the ledger checks `MsgSubmitPocValidation.sampled_nonces` against it and the orchestrator calls
/// it to know what to recompute.
///
/// * seed = SHA-256(`"{validator_pk}/{H}"`) with `validator_pk` the validator's consensus public key
///   in lowercase hex and `H` = hex(hash(block P));
/// * `nonces` in ascending order (the ledger's order); when there are at most `count`, all of them;
/// * otherwise a partial Fisher–Yates from the front over a ``PhiloxStream`` keyed by the seed:
///   for i in 0..<count, j = i + uniformInt(below: n − i), swap(i, j); the first `count`, sorted.
public enum PocSampling {
    public static func seed(validatorKeyHex: String, blockHashHex: String) -> Hash {
        Hash.sha256("\(validatorKeyHex.lowercased())/\(blockHashHex.lowercased())")
    }

    public static func sample(
        nonces: [UInt64], validatorKeyHex: String, blockHashHex: String, count: Int
    ) -> [UInt64] {
        let sorted = nonces.sorted()
        guard sorted.count > count else { return sorted }
        var pool = sorted
        var random = PhiloxStream(seed: seed(validatorKeyHex: validatorKeyHex, blockHashHex: blockHashHex))
        for i in 0..<max(count, 0) {
            let j = i + Int(random.uniformInt(below: UInt64(pool.count - i)))
            if i != j { pool.swapAt(i, j) }
        }
        return pool[..<max(count, 0)].sorted()
    }

    /// How many recomputed distances are at or above the target (the k of §5.4).
    public static func mismatches(recomputedNano: [UInt64], rTargetNano: UInt64) -> Int {
        recomputedNano.count { $0 >= rTargetNano }
    }
}
