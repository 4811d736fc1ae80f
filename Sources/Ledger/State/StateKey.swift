import GonkaCore

/// Where each module keeps its records in the state tree. Keys are readable ASCII prefixes
/// followed by raw bytes, so a prefix scan returns one module's records in a stable order.
enum StateKey {
    static let balancePrefix = Array("bank/balance/".utf8)
    static let minted = Array("bank/supply/minted".utf8)
    static let burned = Array("bank/supply/burned".utf8)
    static let moduleAccountPrefix = Array("bank/module/".utf8)
    static let accountPrefix = Array("auth/account/".utf8)
    static let participantPrefix = Array("participants/participant/".utf8)
    static let grantPrefix = Array("participants/grant/".utf8)
    static let params = Array("params".utf8)
    static let chainID = Array("chain_id".utf8)
    static let inferenceRecordPrefix = Array("inference/record/".utf8)
    static let inferenceExpiryPrefix = Array("inference/expiry/".utf8)
    static let modelPrefix = Array("inference/model/".utf8)
    static let modelPricePrefix = Array("inference/price/".utf8)
    /// A retired model's registry entry, kept for the validation of inferences started before.
    static let retiredModelPrefix = Array("inference/retired_model/".utf8)
    static let executorSet = Array("inference/executor_set".utf8)
    /// The pool the last change replaced, and the height and block time of that change (§6.4).
    static let replacedExecutorSet = Array("inference/replaced_executor_set".utf8)
    static let replacedExecutorSetAt = Array("inference/replaced_executor_set_at".utf8)
    static let missesPrefix = Array("inference/misses/".utf8)
    static let lastBlockTime = Array("inference/block_time".utf8)
    /// Free duty transactions per participant in the block in progress; deleted at end-block, so
    /// never committed.
    static let dutyCountPrefix = Array("duty/count/".utf8)

    static func balance(_ address: Address) -> [UInt8] { balancePrefix + address.bytes }
    static func moduleAccount(_ name: String) -> [UInt8] { moduleAccountPrefix + Array(name.utf8) }
    static func account(_ address: Address) -> [UInt8] { accountPrefix + address.bytes }
    static func participant(_ address: Address) -> [UInt8] { participantPrefix + address.bytes }
    static func grant(granter: Address, grantee: Address) -> [UInt8] { grantPrefix + granter.bytes + grantee.bytes }
    static func inferenceRecord(_ id: String) -> [UInt8] { inferenceRecordPrefix + Array(id.utf8) }
    /// The expiry index: one empty-valued key per unfinished inference, under its expiry height.
    static func inferenceExpiry(height: UInt64, id: String) -> [UInt8] {
        inferenceExpiryPrefix + BigEndian.encode(height) + Array(id.utf8)
    }
    static func inferenceExpiries(height: UInt64) -> [UInt8] { inferenceExpiryPrefix + BigEndian.encode(height) }
    static func model(_ id: String) -> [UInt8] { modelPrefix + Array(id.utf8) }
    static func modelPrice(_ id: String) -> [UInt8] { modelPricePrefix + Array(id.utf8) }
    static func retiredModel(_ id: String) -> [UInt8] { retiredModelPrefix + Array(id.utf8) }
    static func misses(_ address: Address) -> [UInt8] { missesPrefix + address.bytes }
    static func dutyCount(_ address: Address) -> [UInt8] { dutyCountPrefix + address.bytes }
}

/// Fixed-width big-endian integers for values in the state tree.
enum BigEndian {
    static func encode(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    static func decode(_ bytes: [UInt8], what: String) throws(LedgerError) -> UInt64 {
        guard bytes.count == 8 else { throw .storage(StateCorruption(what: what)) }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// A record in state that does not decode: the store was damaged or written by something else.
struct StateCorruption: Error, CustomStringConvertible {
    let what: String
    var description: String { "corrupt state record: \(what)" }
}
