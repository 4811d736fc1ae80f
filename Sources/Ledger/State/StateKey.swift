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

    static func balance(_ address: Address) -> [UInt8] { balancePrefix + address.bytes }
    static func moduleAccount(_ name: String) -> [UInt8] { moduleAccountPrefix + Array(name.utf8) }
    static func account(_ address: Address) -> [UInt8] { accountPrefix + address.bytes }
    static func participant(_ address: Address) -> [UInt8] { participantPrefix + address.bytes }
    static func grant(granter: Address, grantee: Address) -> [UInt8] { grantPrefix + granter.bytes + grantee.bytes }
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
