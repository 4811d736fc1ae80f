/// Which of a participant's nonces a validator must recompute (PROTOCOL §5.4), implemented once for
/// the ledger (which checks `MsgSubmitPocValidation.sampled_nonces` against it), the orchestrator
/// and the PoC engine's tests:
///
/// * seed = SHA-256(`"{validator_pk}/{H}"`), both lowercase hex (`validator_pk` the validator's
///   consensus public key, `H` = hex(hash(block P)));
/// * the distinct `nonces` in ascending order; when there are at most `count`, all of them;
/// * otherwise a partial Fisher–Yates from the front over a ``PhiloxStream`` keyed by the seed:
///   for i in 0..<count, j = i + uniformInt(below: n − i), swap(i, j); the first `count`, sorted.
public enum PocValidationSample {
    public static func seed(validatorKeyHex: String, blockHashHex: String) -> Hash {
        Hash.sha256("\(validatorKeyHex.lowercased())/\(blockHashHex.lowercased())")
    }

    public static func sample(nonces: [UInt64], count: Int, seed: Hash) -> [UInt64] {
        var pool = Array(Set(nonces)).sorted()
        let count = max(0, count)
        guard pool.count > count else { return pool }
        var random = PhiloxStream(seed: seed)
        for i in 0..<count {
            let j = i + Int(random.uniformInt(below: UInt64(pool.count - i)))
            if i != j { pool.swapAt(i, j) }
        }
        return pool[..<count].sorted()
    }
}
