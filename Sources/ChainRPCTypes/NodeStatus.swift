import Foundation
import GonkaCore

// The JSON shapes of the chain RPC (docs/RPC.md, the contract between the node and its clients).
// Integers are JSON numbers; hashes and keys lowercase hex; amounts strings of ngonka with the
// unit (`"123ngonka"`, see `AmountText`).

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

    public init(
        chainID: String, moniker: String, nodeID: String, height: UInt64, blockHash: String, appHash: String,
        blockTimeMs: Int64, catchingUp: Bool, peers: [Peer], mempoolSize: Int, validator: ValidatorInfo?,
        consensus: ConsensusState, p2pListen: String?
    ) {
        self.chainID = chainID
        self.moniker = moniker
        self.nodeID = nodeID
        self.height = height
        self.blockHash = blockHash
        self.appHash = appHash
        self.blockTimeMs = blockTimeMs
        self.catchingUp = catchingUp
        self.peers = peers
        self.mempoolSize = mempoolSize
        self.validator = validator
        self.consensus = consensus
        self.p2pListen = p2pListen
    }

    public struct Peer: Codable, Hashable, Sendable {
        public var id: String
        public var address: String
        public var outbound: Bool

        public init(id: String, address: String, outbound: Bool) {
            self.id = id
            self.address = address
            self.outbound = outbound
        }
    }

    public struct ValidatorInfo: Codable, Hashable, Sendable {
        /// Bech32 address of the consensus key.
        public var address: String
        public var power: UInt64

        public init(address: String, power: UInt64) {
            self.address = address
            self.power = power
        }
    }

    public struct ConsensusState: Codable, Hashable, Sendable {
        public var height: UInt64
        public var round: Int
        public var step: String

        public init(height: UInt64, round: Int, step: String) {
            self.height = height
            self.round = round
            self.step = step
        }
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

    /// As synthesized, except that `validator` and `p2p_listen` are `null` when absent (the
    /// contract lists them), not left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(chainID, forKey: .chainID)
        try c.encode(moniker, forKey: .moniker)
        try c.encode(nodeID, forKey: .nodeID)
        try c.encode(height, forKey: .height)
        try c.encode(blockHash, forKey: .blockHash)
        try c.encode(appHash, forKey: .appHash)
        try c.encode(blockTimeMs, forKey: .blockTimeMs)
        try c.encode(catchingUp, forKey: .catchingUp)
        try c.encode(peers, forKey: .peers)
        try c.encode(mempoolSize, forKey: .mempoolSize)
        try c.encode(validator, forKey: .validator)
        try c.encode(consensus, forKey: .consensus)
        try c.encode(p2pListen, forKey: .p2pListen)
    }
}
