import Foundation
import GonkaCore

/// `GET /query/{path}`: a state record at a height with its proof, the record kept as JSON until
/// the caller names its type.
public struct QueryResult: Codable, Hashable, Sendable {
    public var height: UInt64
    /// Hex of the state key.
    public var key: String
    public var value: JSONValue
    public var proof: JSONValue
    /// Set when `value` is null because the record may have been pruned by rule (PROTOCOL §3.3): a
    /// sentence naming what is pruned and from which epoch records are kept. Absent otherwise.
    public var pruned: String?

    public init(height: UInt64, key: String, value: JSONValue, proof: JSONValue, pruned: String? = nil) {
        self.height = height
        self.key = key
        self.value = value
        self.proof = proof
        self.pruned = pruned
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        height = try c.decode(UInt64.self, forKey: .height)
        key = try c.decodeIfPresent(String.self, forKey: .key) ?? ""
        value = try c.decodeIfPresent(JSONValue.self, forKey: .value) ?? .null
        proof = try c.decodeIfPresent(JSONValue.self, forKey: .proof) ?? .null
        pruned = try c.decodeIfPresent(String.self, forKey: .pruned)
    }

    /// The record decoded as `T`, or `nil` when the state holds none.
    public func decodeValue<T: Decodable>(_ type: T.Type) throws -> T? {
        if value.isNull { return nil }
        return try value.decode(T.self)
    }
}

/// `query balance/{address}`.
public struct BalanceRecord: Codable, Hashable, Sendable {
    public var address: Address
    @AmountText public var amount: Amount

    public init(address: Address, amount: Amount) {
        self.address = address
        self.amount = amount
    }
}

/// `query account/{address}`: the next sequence and the key the account signed with (if any).
public struct AccountRecord: Codable, Hashable, Sendable {
    public var address: Address
    /// The committed sequence.
    public var sequence: UInt64
    public var pubKey: String?
    /// The sequence the account's next transaction must carry at the node answering (committed
    /// plus its transactions in that node's mempool); only in answers at the latest height.
    public var nextSequence: UInt64?

    public init(address: Address, sequence: UInt64, pubKey: String?, nextSequence: UInt64? = nil) {
        self.address = address
        self.sequence = sequence
        self.pubKey = pubKey
        self.nextSequence = nextSequence
    }

    enum CodingKeys: String, CodingKey {
        case address, sequence
        case pubKey = "pub_key"
        case nextSequence = "next_sequence"
    }

    /// `pub_key` is `null` for an account that never signed; `next_sequence` is left out where
    /// unknown (the node adds it at the latest height only).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(pubKey, forKey: .pubKey)
        try c.encodeIfPresent(nextSequence, forKey: .nextSequence)
    }
}

/// `query supply`: minted, burned and what circulates (minted − burned).
public struct SupplyRecord: Codable, Hashable, Sendable {
    @AmountText public var minted: Amount
    @AmountText public var burned: Amount
    @AmountText public var circulating: Amount
    /// Where the supply is and how it moved (PROTOCOL §8); nil from a node without module Rewards.
    public var rewards: SupplyBreakdown?

    public init(minted: Amount, burned: Amount, circulating: Amount, rewards: SupplyBreakdown? = nil) {
        self.minted = minted
        self.burned = burned
        self.circulating = circulating
        self.rewards = rewards
    }
}
