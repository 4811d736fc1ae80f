import GonkaCore

/// The seed strings of PROTOCOL §5.1–5.2, built in one place so the reference, the fast engine and
/// the validators all hash the same text. `H` is the sprint's block hash as 64 lower-case hex digits,
/// `pk` the participant's public key as 64 lower-case hex digits, `n` the nonce in decimal.
public enum PocSeed {
    /// `H` in canonical form (lower case), or an error unless it is 64 hex digits.
    public static func canonicalBlockHash(_ text: String) throws(PocError) -> String {
        guard let hash = Hash(hex: text) else {
            throw .invalidBlockHash("expected 64 hex digits, got \(text.utf8.count) characters")
        }
        return hash.hex
    }

    /// `pk` in canonical form (lower case), or an error unless it is 64 hex digits (an Ed25519 key).
    public static func canonicalPublicKey(_ text: String) throws(PocError) -> String {
        guard text.utf8.count == 64, let bytes = Hex.decode(text) else {
            throw .invalidPublicKey("expected 64 hex digits (an Ed25519 public key)")
        }
        return Hex.encode(bytes)
    }

    /// `SHA-256("{H}/pool")`: the weight pool's stream.
    public static func pool(_ h: String) -> Hash { Hash.sha256("\(h)/pool") }
    /// `SHA-256("{H}/{tensor_name}")`: where a tensor's slice starts.
    public static func tensor(_ h: String, _ name: String) -> Hash { Hash.sha256("\(h)/\(name)") }
    /// `SHA-256("{H}/{pk}/input/{n}")`: the nonce's input vectors.
    public static func input(_ h: String, _ pk: String, _ n: UInt64) -> Hash { Hash.sha256("\(h)/\(pk)/input/\(n)") }
    /// `SHA-256("{H}/{pk}/perm/{n}")`: the nonce's logit permutation.
    public static func permutation(_ h: String, _ pk: String, _ n: UInt64) -> Hash {
        Hash.sha256("\(h)/\(pk)/perm/\(n)")
    }
    /// `SHA-256("{H}/target")`: the sprint's target vector.
    public static func target(_ h: String) -> Hash { Hash.sha256("\(h)/target") }
    /// `SHA-256("{validator_pk}/{H}")`: which nonces a validator samples (§5.4).
    public static func validationSample(validatorPublicKeyHex: String, blockHashHex: String) -> Hash {
        PocValidationSample.seed(validatorKeyHex: validatorPublicKeyHex, blockHashHex: blockHashHex)
    }
}
