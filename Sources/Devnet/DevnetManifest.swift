import Foundation
import GonkaCore

/// What `gonka devnet up` writes and later reads back: the homes, ports and keys of a local
/// network, kept in `DIR/devnet.json` so `status`, `down` and the tests find every process.
public struct DevnetManifest: Codable, Sendable {
    /// The manifest's file name in the devnet directory.
    public static let fileName = "devnet.json"
    /// The chain id of every devnet.
    public static let chainID = "gonka-devnet"

    public var chainID: String
    public var binary: String
    public var testHooks: Bool
    public var faucet: Faucet
    public var nodes: [Node]
    /// The developer's signing proxy `devnet up` starts when the nodes serve a model.
    public var proxy: Proxy?

    /// The signing proxy process and the key it signs with.
    public struct Proxy: Codable, Sendable {
        public var pid: Int32?
        public var port: Int
        /// Name of the developer key in the faucet home.
        public var key: String
        public var address: Address
        public var url: String { "http://127.0.0.1:\(port)/v1" }
    }

    /// The home holding the funded faucet key.
    public struct Faucet: Codable, Sendable {
        public var home: String
        public var key: String
        public var address: Address

        /// Memberwise: each value as `devnet.json` holds it.
        public init(home: String, key: String, address: Address) {
            self.home = home
            self.key = key
            self.address = address
        }
    }

    /// One validator: its home, process, ports and addresses.
    public struct Node: Codable, Sendable {
        public var index: Int
        public var moniker: String
        public var home: String
        /// The running process, or nil before the first start.
        public var pid: Int32?
        public var p2pPort: Int
        public var rpcPort: Int
        public var apiPort: Int
        /// The API node's admin listener (`[api] admin_listen`, loopback: `/admin/mlnodes`,
        /// `/admin/apikeys`); nil for a node without an API node or from an older manifest.
        public var adminPort: Int?
        /// Hex of the p2p public key (the node id in `persistent_peers`).
        public var nodeID: String
        public var accountAddress: Address
        /// Hex of the consensus key's address, as `GET /block/{h}` lists commit signers.
        public var validatorAddress: String
        /// The network namespace (`ip netns`) the node's processes run in, or nil (this machine's
        /// own network). Set by `devnet up --netns` for the fault tests' partitions and slow links.
        public var netns: String?
        /// The address the node listens on and its peers dial: its namespace's address, or nil for
        /// 127.0.0.1.
        public var address: String?

        /// The address the node listens on: ``address`` or 127.0.0.1.
        public var host: String { address ?? "127.0.0.1" }
        public var rpcListen: String { "\(host):\(rpcPort)" }
        public var rpcURL: String { "http://\(rpcListen)" }
        public var logPath: String { home + "/node.log" }

        /// Memberwise: each value as `devnet.json` holds it.
        public init(
            index: Int, moniker: String, home: String, pid: Int32?, p2pPort: Int, rpcPort: Int, apiPort: Int,
            nodeID: String, accountAddress: Address, validatorAddress: String, adminPort: Int? = nil,
            netns: String? = nil, address: String? = nil
        ) {
            self.netns = netns
            self.address = address
            self.index = index
            self.moniker = moniker
            self.home = home
            self.pid = pid
            self.p2pPort = p2pPort
            self.rpcPort = rpcPort
            self.apiPort = apiPort
            self.adminPort = adminPort
            self.nodeID = nodeID
            self.accountAddress = accountAddress
            self.validatorAddress = validatorAddress
        }

        enum CodingKeys: String, CodingKey {
            case index, moniker, home, pid
            case p2pPort = "p2p_port"
            case rpcPort = "rpc_port"
            case apiPort = "api_port"
            case adminPort = "admin_port"
            case nodeID = "node_id"
            case accountAddress = "account_address"
            case validatorAddress = "validator_address"
            case netns, address
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(moniker, forKey: .moniker)
            try c.encode(home, forKey: .home)
            try c.encodeIfPresent(pid, forKey: .pid)
            try c.encode(p2pPort, forKey: .p2pPort)
            try c.encode(rpcPort, forKey: .rpcPort)
            try c.encode(apiPort, forKey: .apiPort)
            try c.encodeIfPresent(adminPort, forKey: .adminPort)
            try c.encode(nodeID, forKey: .nodeID)
            try c.encode(accountAddress, forKey: .accountAddress)
            try c.encode(validatorAddress, forKey: .validatorAddress)
            try c.encodeIfPresent(netns, forKey: .netns)
            try c.encodeIfPresent(address, forKey: .address)
            // Written for people and scripts; never read back.
            var extra = encoder.container(keyedBy: ExtraKeys.self)
            try extra.encode(rpcURL, forKey: .rpcURL)
            try extra.encode(logPath, forKey: .log)
            try extra.encodeIfPresent(adminPort.map { "http://127.0.0.1:\($0)" }, forKey: .adminURL)
        }

        enum ExtraKeys: String, CodingKey {
            case rpcURL = "rpc_url"
            case adminURL = "admin_url"
            case log
        }
    }

    /// Memberwise: each value as `devnet.json` holds it.
    public init(
        chainID: String, binary: String, testHooks: Bool, faucet: Faucet, nodes: [Node], proxy: Proxy? = nil
    ) {
        self.chainID = chainID
        self.binary = binary
        self.testHooks = testHooks
        self.faucet = faucet
        self.nodes = nodes
        self.proxy = proxy
    }

    enum CodingKeys: String, CodingKey {
        case binary, faucet, nodes, proxy
        case chainID = "chain_id"
        case testHooks = "test_hooks"
    }

    /// `DIR/devnet.json`.
    public static func url(in dir: URL) -> URL { dir.appendingPathComponent(fileName) }

    /// Reads `DIR/devnet.json`; a missing or unreadable one is an error that says what to do.
    public static func load(from dir: URL) throws -> DevnetManifest {
        let url = Self.url(in: dir)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DevnetError("no devnet in \(dir.path) (start one: gonka devnet up --dir \(dir.path))")
        }
        do {
            return try JSONDecoder().decode(DevnetManifest.self, from: Data(contentsOf: url))
        } catch {
            throw DevnetError("\(url.path) is unreadable: \(error) (remove the directory or use --reset)")
        }
    }

    /// Writes `DIR/devnet.json` (atomically).
    public func save(to dir: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: Self.url(in: dir), options: .atomic)
    }
}
