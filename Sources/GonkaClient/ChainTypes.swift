import Foundation
import GonkaCore

// The JSON shapes of the chain RPC (docs/RPC.md, the contract between the node and its clients).
// Integers are JSON numbers; hashes and keys lowercase hex; amounts decimal strings of ngonka.

/// `GET /status`: what a node knows about itself and the chain.
public struct NodeStatus: Codable, Hashable, Sendable {
    public var chainID: String
    public var moniker: String
    /// Hex of the node's p2p public key.
    public var nodeID: String
    /// Last committed height (0 before the first block).
    public var height: UInt64
    public var blockHash: String
    public var appHash: String
    public var blockTimeMs: Int64
    public var catchingUp: Bool
    public var peers: [Peer]
    public var mempoolSize: Int
    public var validator: ValidatorInfo?
    public var consensus: ConsensusState
    /// `host:port` the node's P2P host is bound to (nil while it is not listening); with
    /// ``nodeID`` it is the node's `persistent_peers` entry.
    public var p2pListen: String?

    public struct Peer: Codable, Hashable, Sendable {
        public var id: String
        public var address: String
        public var outbound: Bool
    }

    public struct ValidatorInfo: Codable, Hashable, Sendable {
        /// Bech32 address of the consensus key.
        public var address: String
        public var power: UInt64
    }

    public struct ConsensusState: Codable, Hashable, Sendable {
        public var height: UInt64
        public var round: Int
        public var step: String
    }

    enum CodingKeys: String, CodingKey {
        case moniker, height, peers, validator, consensus
        case chainID = "chain_id"
        case nodeID = "node_id"
        case blockHash = "block_hash"
        case appHash = "app_hash"
        case blockTimeMs = "block_time_ms"
        case catchingUp = "catching_up"
        case mempoolSize = "mempool_size"
        case p2pListen = "p2p_listen"
    }
}

/// `GET /block/{h}`: a committed block, its transactions and the validators whose precommits
/// committed it.
public struct BlockInfo: Codable, Hashable, Sendable {
    public var height: UInt64
    public var hash: String
    public var timeMs: Int64
    /// Hex address of the proposer's consensus key.
    public var proposer: String
    /// State after the previous block (the header's app hash).
    public var appHash: String
    public var lastBlockHash: String
    public var numTxs: Int
    public var txs: [BlockTx]
    public var commit: CommitInfo

    public struct BlockTx: Codable, Hashable, Sendable {
        public var hash: String
        /// Base64 of the raw tx bytes.
        public var tx: String
        public var bytes: [UInt8]? { Data(base64Encoded: tx).map { Array($0) } }
    }

    public struct CommitInfo: Codable, Hashable, Sendable {
        public var round: Int
        /// Hex addresses of the validators whose precommits are in the commit.
        public var signers: [String]
    }

    enum CodingKeys: String, CodingKey {
        case height, hash, proposer, txs, commit
        case timeMs = "time_ms"
        case appHash = "app_hash"
        case lastBlockHash = "last_block_hash"
        case numTxs = "num_txs"
    }
}

/// `GET /tx/{hash}` and the commit-mode answer of `POST /tx`: where a tx landed and how it went.
public struct TxResult: Codable, Hashable, Sendable {
    public var hash: String
    public var height: UInt64
    public var index: Int
    /// 0 = success; anything else failed and `log` says why.
    public var code: Int
    public var log: String
    public var events: [TxEvent]

    public struct TxEvent: Codable, Hashable, Sendable {
        public var type: String
        public var attributes: [String: String]
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hash = try c.decode(String.self, forKey: .hash)
        height = try c.decode(UInt64.self, forKey: .height)
        index = try c.decode(Int.self, forKey: .index)
        code = try c.decode(Int.self, forKey: .code)
        log = try c.decodeIfPresent(String.self, forKey: .log) ?? ""
        events = try c.decodeIfPresent([TxEvent].self, forKey: .events) ?? []
    }
}

/// `POST /tx`: in sync mode only the hash and the checkTx verdict; in commit mode also the block.
public struct BroadcastResult: Codable, Hashable, Sendable {
    public var hash: String
    public var code: Int
    public var log: String
    /// Set in commit mode.
    public var height: UInt64?
    public var index: Int?

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hash = try c.decode(String.self, forKey: .hash)
        code = try c.decode(Int.self, forKey: .code)
        log = try c.decodeIfPresent(String.self, forKey: .log) ?? ""
        height = try c.decodeIfPresent(UInt64.self, forKey: .height)
        index = try c.decodeIfPresent(Int.self, forKey: .index)
    }
}

/// `GET /query/{path}`: a state record at a height with its proof, the record kept as JSON until
/// the caller names its type.
public struct QueryResult: Codable, Hashable, Sendable {
    public var height: UInt64
    /// Hex of the state key.
    public var key: String
    public var value: JSONValue
    public var proof: JSONValue

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        height = try c.decode(UInt64.self, forKey: .height)
        key = try c.decodeIfPresent(String.self, forKey: .key) ?? ""
        value = try c.decodeIfPresent(JSONValue.self, forKey: .value) ?? .null
        proof = try c.decodeIfPresent(JSONValue.self, forKey: .proof) ?? .null
    }

    /// The record decoded as `T`, or `nil` when the state holds none.
    public func decodeValue<T: Decodable>(_ type: T.Type) throws -> T? {
        if value == .null { return nil }
        return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
    }
}

/// `query balance/{address}`.
public struct BalanceRecord: Codable, Hashable, Sendable {
    public var address: Address
    public var amount: Amount
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
}

/// An event of `GET /events`.
public enum ChainEvent: Hashable, Sendable {
    case newBlock(NewBlock)
    case tx(TxCommitted)
    /// A ledger event: its height, type and the whole JSON object.
    case ledger(height: UInt64, type: String, data: JSONValue)
    /// An event kind this client does not know (kept so newer nodes do not break older clients).
    case other(name: String, data: String)

    public struct NewBlock: Codable, Hashable, Sendable {
        public var height: UInt64
        public var hash: String
        public var numTxs: Int
        public var appHash: String
        public var timeMs: Int64

        enum CodingKeys: String, CodingKey {
            case height, hash
            case numTxs = "num_txs"
            case appHash = "app_hash"
            case timeMs = "time_ms"
        }
    }

    public struct TxCommitted: Codable, Hashable, Sendable {
        public var hash: String
        public var height: UInt64
        public var index: Int
        public var code: Int
        public var log: String
    }

    /// Decodes one server-sent event by its name; malformed data of a known kind is an error.
    public init(name: String, data: String) throws {
        let bytes = Data(data.utf8)
        switch name {
        case "new_block": self = .newBlock(try JSONDecoder().decode(NewBlock.self, from: bytes))
        case "tx": self = .tx(try JSONDecoder().decode(TxCommitted.self, from: bytes))
        case "ledger":
            let value = try JSONDecoder().decode(JSONValue.self, from: bytes)
            guard case .object(let fields) = value, case .number(let height)? = fields["height"],
                let h = UInt64(exactly: height), case .string(let type)? = fields["type"]
            else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: [], debugDescription: "ledger event without height and type"))
            }
            self = .ledger(height: h, type: type, data: value)
        default: self = .other(name: name, data: data)
        }
    }
}

/// Any JSON value, for the parts of answers whose shape depends on the query (records, proofs).
/// Numbers are kept as `Double`, which is exact for the integers the chain sends below 2^53;
/// amounts travel as strings so they are never rounded.
public enum JSONValue: Codable, Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if let i = Int64(exactly: n) { try c.encode(i) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Pretty JSON with sorted keys.
    public var prettyString: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// One tx's answer in `POST /txs`: `code` 0 accepted into the mempool, 1 refused with `error`
/// (the ledger's short code, or `mempool_full`) and `log`.
public struct BatchBroadcastResult: Codable, Hashable, Sendable {
    public var hash: String?
    public var code: Int
    public var error: String?
    public var log: String
}

struct BatchBroadcastAnswer: Codable, Sendable {
    var results: [BatchBroadcastResult]
}
