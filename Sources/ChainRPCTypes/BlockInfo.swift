import Foundation
import GonkaCore

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

    public init(
        height: UInt64, hash: String, timeMs: Int64, proposer: String, appHash: String, lastBlockHash: String,
        numTxs: Int, txs: [BlockTx], commit: CommitInfo
    ) {
        self.height = height
        self.hash = hash
        self.timeMs = timeMs
        self.proposer = proposer
        self.appHash = appHash
        self.lastBlockHash = lastBlockHash
        self.numTxs = numTxs
        self.txs = txs
        self.commit = commit
    }

    public struct BlockTx: Codable, Hashable, Sendable {
        public var hash: String
        /// Base64 of the raw tx bytes.
        public var tx: String
        public var bytes: [UInt8]? { Data(base64Encoded: tx).map { Array($0) } }

        public init(hash: String, tx: String) {
            self.hash = hash
            self.tx = tx
        }
    }

    public struct CommitInfo: Codable, Hashable, Sendable {
        public var round: Int
        /// Hex addresses of the validators whose precommits are in the commit.
        public var signers: [String]

        public init(round: Int, signers: [String]) {
            self.round = round
            self.signers = signers
        }
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

        public init(type: String, attributes: [String: String]) {
            self.type = type
            self.attributes = attributes
        }
    }

    public init(hash: String, height: UInt64, index: Int, code: Int, log: String, events: [TxEvent]) {
        self.hash = hash
        self.height = height
        self.index = index
        self.code = code
        self.log = log
        self.events = events
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
