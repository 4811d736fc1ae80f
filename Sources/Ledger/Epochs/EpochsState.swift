import GonkaCore

/// State keys of the Epochs and PoC modules. Numbers are 8-byte big-endian so prefix scans come
/// back in numeric order.
extension StateKey {
    static let epochPrefix = Array("epochs/epoch/".utf8)
    static let validatorSetPrefix = Array("epochs/valset/".utf8)
    static let pocSprintPrefix = Array("poc/sprint/".utf8)
    static let pocBatchPrefix = Array("poc/batch/".utf8)
    static let pocNoncePrefix = Array("poc/nonce/".utf8)
    static let pocValidationPrefix = Array("poc/validation/".utf8)

    static func epoch(_ index: UInt64) -> [UInt8] { epochPrefix + BigEndian.encode(index) }
    static func validatorSet(from height: UInt64) -> [UInt8] { validatorSetPrefix + BigEndian.encode(height) }
    /// One participant's sprint record at P.
    static func pocSprint(_ p: UInt64, _ participant: Address) -> [UInt8] {
        pocSprintPrefix + BigEndian.encode(p) + participant.bytes
    }
    static func pocBatchPrefix(_ p: UInt64, _ participant: Address) -> [UInt8] {
        pocBatchPrefix + BigEndian.encode(p) + participant.bytes
    }
    static func pocNoncePrefix(_ p: UInt64, _ participant: Address) -> [UInt8] {
        pocNoncePrefix + BigEndian.encode(p) + participant.bytes
    }
    static func pocValidationPrefix(_ p: UInt64, _ participant: Address) -> [UInt8] {
        pocValidationPrefix + BigEndian.encode(p) + participant.bytes
    }
}
