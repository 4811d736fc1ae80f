import Foundation
import GonkaCore

/// `POST /tx`: in sync mode only the hash and the checkTx verdict; in commit mode also the block.
public struct BroadcastResult: Codable, Hashable, Sendable {
    public var hash: String
    public var code: Int
    public var log: String
    /// Set in commit mode.
    public var height: UInt64?
    public var index: Int?

    public init(hash: String, code: Int, log: String, height: UInt64? = nil, index: Int? = nil) {
        self.hash = hash
        self.code = code
        self.log = log
        self.height = height
        self.index = index
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hash = try c.decode(String.self, forKey: .hash)
        code = try c.decode(Int.self, forKey: .code)
        log = try c.decodeIfPresent(String.self, forKey: .log) ?? ""
        height = try c.decodeIfPresent(UInt64.self, forKey: .height)
        index = try c.decodeIfPresent(Int.self, forKey: .index)
    }
}

/// One tx's answer in `POST /txs`: `code` 0 accepted into the mempool, 1 refused with `error`
/// (the ledger's short code, or `mempool_full`) and `log`.
public struct BatchBroadcastResult: Codable, Hashable, Sendable {
    public var hash: String?
    public var code: Int
    public var error: String?
    public var log: String

    public init(hash: String?, code: Int, error: String?, log: String) {
        self.hash = hash
        self.code = code
        self.error = error
        self.log = log
    }
}

/// `POST /txs`'s answer: one result per tx, in order.
public struct BatchBroadcastAnswer: Codable, Hashable, Sendable {
    public var results: [BatchBroadcastResult]

    public init(results: [BatchBroadcastResult]) { self.results = results }
}

/// `POST /txs`'s body: base64 of each raw tx.
public struct TxBatchSubmission: Codable, Hashable, Sendable {
    public var txs: [String]

    public init(txs: [String]) { self.txs = txs }
}

/// `POST /tx`'s JSON body (the other form is the raw bytes): base64 of the raw tx.
public struct TxSubmission: Codable, Hashable, Sendable {
    public var tx: String

    public init(tx: String) { self.tx = tx }
}
