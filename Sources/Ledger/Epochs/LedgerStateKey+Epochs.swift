import GonkaCore
import GonkaWire

/// State keys of the Epochs and PoC modules for the query server (values are the `Wire` records
/// named in each comment).
extension LedgerStateKey {
    /// `Wire.EpochRecord` of epoch `index`.
    public static func epoch(_ index: UInt64) -> [UInt8] { StateKey.epoch(index) }
    /// `Wire.ValidatorSetRecord`s keyed by their first height (8-byte big-endian after the prefix).
    public static var validatorSetPrefix: [UInt8] { StateKey.validatorSetPrefix }
    /// `Wire.PocSprintRecord` of a participant's sprint at P.
    public static func pocSprint(_ p: UInt64, _ participant: Address) -> [UInt8] { StateKey.pocSprint(p, participant) }
    /// `Wire.PocBatchRecord`s of a participant's sprint at P, in submission order.
    public static func pocBatchPrefix(_ p: UInt64, _ participant: Address) -> [UInt8] {
        StateKey.pocBatchPrefix(p, participant)
    }
    /// `Wire.MsgSubmitPocValidation`s for a participant's sprint at P, by validator address.
    public static func pocValidationPrefix(_ p: UInt64, _ participant: Address) -> [UInt8] {
        StateKey.pocValidationPrefix(p, participant)
    }
    /// The first height of a validator-set record's key.
    public static func validatorSetHeight(_ key: [UInt8]) -> UInt64? {
        guard key.count == StateKey.validatorSetPrefix.count + 8 else { return nil }
        return key.suffix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
