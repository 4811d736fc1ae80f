import GonkaCore

/// The state keys and value encodings a query server needs to read records at a height with a
/// proof (`GET /query/…` in the chain node). Delegates to the ledger's own ``StateKey`` so the
/// layout has one home.
public enum LedgerStateKey {
    /// Key of an account's balance; the value is an 8-byte big-endian ngonka amount.
    public static func balance(_ address: Address) -> [UInt8] { StateKey.balance(address) }
    /// Key of an account record (`Wire.Account` protobuf).
    public static func account(_ address: Address) -> [UInt8] { StateKey.account(address) }
    /// Prefix of participant records (`Wire.Participant` protobuf), in address order.
    public static var participantPrefix: [UInt8] { StateKey.participantPrefix }
    /// Key of the chain parameters (`ChainParams` JSON, sorted keys).
    public static var params: [UInt8] { StateKey.params }
    /// Keys of the minted and burned supply counters (8-byte big-endian ngonka).
    public static var minted: [UInt8] { StateKey.minted }
    public static var burned: [UInt8] { StateKey.burned }

    /// Key of an inference record (`Wire.InferenceRecord` protobuf).
    public static func inferenceRecord(_ id: String) -> [UInt8] { StateKey.inferenceRecord(id) }
    /// Key of an executor's miss record (`Wire.MissRecord` protobuf).
    public static func misses(_ address: Address) -> [UInt8] { StateKey.misses(address) }
    /// Key of the executor set (`Wire.ExecutorSet` protobuf: epoch seed and weights).
    public static var executorSet: [UInt8] { StateKey.executorSet }
    /// Prefix of the model registry (`Wire.ModelInfo` protobuf), in id order.
    public static var modelPrefix: [UInt8] { StateKey.modelPrefix }

    /// Prefix of one inference's validation records (`Wire.ValidationRecord`), by validator.
    public static func validationRecords(_ id: String) -> [UInt8] { StateKey.validationRecords(id) }
    /// Prefix of the index of epoch E's validations.
    public static func validationsByEpoch(_ epoch: UInt64) -> [UInt8] { StateKey.validationsByEpoch(epoch) }
    /// Key of epoch E's sampling snapshot (`Wire.ValidationEpoch`).
    public static func validationEpoch(_ epoch: UInt64) -> [UInt8] { StateKey.validationEpoch(epoch) }
    /// Prefix of the index of open revalidation votes.
    public static var openVotes: [UInt8] { StateKey.openVotePrefix }

    /// Key of epoch E's settlement summary (`Wire.EpochSettlement`).
    public static func epochSettlement(_ epoch: UInt64) -> [UInt8] { StateKey.epochSettlement(epoch) }
    /// Prefix of every participant's settlements (`Wire.Settlement`), by epoch then address.
    public static var settlementPrefix: [UInt8] { StateKey.settlementPrefix }

    /// Decodes a balance or supply value.
    public static func amount(_ bytes: [UInt8]) throws(LedgerError) -> Amount {
        Amount(ngonka: try BigEndian.decode(bytes, what: "amount"))
    }
}
