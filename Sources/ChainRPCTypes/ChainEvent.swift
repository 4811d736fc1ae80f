import Foundation
import GonkaCore

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

        public init(height: UInt64, hash: String, numTxs: Int, appHash: String, timeMs: Int64) {
            self.height = height
            self.hash = hash
            self.numTxs = numTxs
            self.appHash = appHash
            self.timeMs = timeMs
        }

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

        public init(hash: String, height: UInt64, index: Int, code: Int, log: String) {
            self.hash = hash
            self.height = height
            self.index = index
            self.code = code
            self.log = log
        }
    }

    /// Decodes one server-sent event by its name; malformed data of a known kind is an error.
    public init(name: String, data: String) throws {
        let bytes = Array(data.utf8)
        switch name {
        case "new_block": self = .newBlock(try JSONDecoder().decode(NewBlock.self, from: Data(bytes)))
        case "tx": self = .tx(try JSONDecoder().decode(TxCommitted.self, from: Data(bytes)))
        case "ledger":
            let value = try JSONValue(parsing: bytes)
            guard let h = value["height"]?.uint64Value, let type = value["type"]?.stringValue else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: [], debugDescription: "ledger event without height and type"))
            }
            self = .ledger(height: h, type: type, data: value)
        default: self = .other(name: name, data: data)
        }
    }
}
