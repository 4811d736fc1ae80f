import ChainNode
import Foundation
import GonkaCore
import GonkaTestKit
import Ledger
import Storage

/// What `gonka devnet up` writes and later reads back: the homes, ports and keys of a local
/// network, kept in `DIR/devnet.json` so `status`, `down` and the tests find every process.
struct DevnetManifest: Codable, Sendable {
    static let fileName = "devnet.json"
    static let chainID = "gonka-devnet"

    var chainID: String
    var binary: String
    var testHooks: Bool
    var faucet: Faucet
    var nodes: [Node]
    /// The developer's signing proxy `devnet up` starts when the nodes serve a model.
    var proxy: Proxy?

    struct Proxy: Codable, Sendable {
        var pid: Int32?
        var port: Int
        /// Name of the developer key in the faucet home.
        var key: String
        var address: Address
        var url: String { "http://127.0.0.1:\(port)/v1" }
    }

    struct Faucet: Codable, Sendable {
        var home: String
        var key: String
        var address: Address
    }

    struct Node: Codable, Sendable {
        var index: Int
        var moniker: String
        var home: String
        /// The running process, or nil before the first start.
        var pid: Int32?
        var p2pPort: Int
        var rpcPort: Int
        var apiPort: Int
        /// Hex of the p2p public key (the node id in `persistent_peers`).
        var nodeID: String
        var accountAddress: Address
        /// Hex of the consensus key's address, as `GET /block/{h}` lists commit signers.
        var validatorAddress: String

        var rpcListen: String { "127.0.0.1:\(rpcPort)" }
        var rpcURL: String { "http://\(rpcListen)" }
        var logPath: String { home + "/node.log" }

        enum CodingKeys: String, CodingKey {
            case index, moniker, home, pid
            case p2pPort = "p2p_port"
            case rpcPort = "rpc_port"
            case apiPort = "api_port"
            case nodeID = "node_id"
            case accountAddress = "account_address"
            case validatorAddress = "validator_address"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(moniker, forKey: .moniker)
            try c.encode(home, forKey: .home)
            try c.encodeIfPresent(pid, forKey: .pid)
            try c.encode(p2pPort, forKey: .p2pPort)
            try c.encode(rpcPort, forKey: .rpcPort)
            try c.encode(apiPort, forKey: .apiPort)
            try c.encode(nodeID, forKey: .nodeID)
            try c.encode(accountAddress, forKey: .accountAddress)
            try c.encode(validatorAddress, forKey: .validatorAddress)
            // Written for people and scripts; never read back.
            var extra = encoder.container(keyedBy: ExtraKeys.self)
            try extra.encode(rpcURL, forKey: .rpcURL)
            try extra.encode(logPath, forKey: .log)
        }

        enum ExtraKeys: String, CodingKey {
            case rpcURL = "rpc_url"
            case log
        }
    }

    enum CodingKeys: String, CodingKey {
        case binary, faucet, nodes, proxy
        case chainID = "chain_id"
        case testHooks = "test_hooks"
    }

    static func url(in dir: URL) -> URL { dir.appendingPathComponent(fileName) }

    static func load(from dir: URL) throws -> DevnetManifest {
        let url = Self.url(in: dir)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError("no devnet in \(dir.path) (start one: gonka devnet up --dir \(dir.path))")
        }
        do {
            return try JSONDecoder().decode(DevnetManifest.self, from: Data(contentsOf: url))
        } catch {
            throw CLIError("\(url.path) is unreadable: \(error) (remove the directory or use --reset)")
        }
    }

    func save(to dir: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: Self.url(in: dir), options: .atomic)
    }
}

/// Writes a fresh devnet: one genesis shared by N validator homes (each with account, consensus
/// and p2p keys, equal power), a funded faucet home, and each node's config.toml with its own
/// loopback ports and every other node as a persistent peer.
enum DevnetLayout {
    static let validatorBalance = Amount(gnk: 1_000_000)!
    static let faucetBalance = Amount(gnk: 1_000_000_000)!
    static let validatorPower: UInt64 = 100
    static let developerKey = "developer"
    static let developerBalance = Amount(gnk: 10_000)!

    /// `extraAccounts` are funded with `extraBalance` each (the chain benchmark's senders).
    /// `model`: the GGUF file each node's API node serves in-process (none: no API nodes).
    static func create(
        dir: URL, participants: Int, testHooks: Bool, binary: String,
        extraAccounts: [Address] = [], extraBalance: Amount = Amount(gnk: 1_000)!, model: String? = nil
    ) throws -> DevnetManifest {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let ports = try FreePorts.allocate(participants * 3)
        var nodes: [DevnetManifest.Node] = []
        var validators: [Genesis.Validator] = []
        var accounts: [Genesis.Account] = []
        for index in 0..<participants {
            let home = dir.appendingPathComponent("node\(index)", isDirectory: true)
            try fm.createDirectory(at: home.appendingPathComponent("data"), withIntermediateDirectories: true)
            let keys = KeyStore(home: home)
            let account = try keys.entryOrCreate("validator")
            let consensus = try keys.entryOrCreate("consensus")
            let p2p = try keys.entryOrCreate("p2p")
            let consensusKey = try PublicKey(bytes: Hex.decode(consensus.publicKey) ?? [])
            let node = DevnetManifest.Node(
                index: index, moniker: "node\(index)", home: home.path, pid: nil,
                p2pPort: ports[index * 3], rpcPort: ports[index * 3 + 1], apiPort: ports[index * 3 + 2],
                nodeID: p2p.publicKey, accountAddress: account.address,
                validatorAddress: Hex.encode(consensusKey.address.bytes))
            nodes.append(node)
            validators.append(
                .init(
                    name: node.moniker, address: account.address, url: "http://127.0.0.1:\(node.apiPort)",
                    consensusPubkey: consensus.publicKey, p2pPubkey: p2p.publicKey, power: validatorPower))
            accounts.append(.init(address: account.address, balance: validatorBalance))
        }
        let faucetHome = dir.appendingPathComponent("faucet", isDirectory: true)
        let faucet = try KeyStore(home: faucetHome).entryOrCreate("faucet")
        accounts.append(.init(address: faucet.address, balance: faucetBalance))
        // The developer key the devnet's signing proxy pays with.
        let developer = try KeyStore(home: faucetHome).entryOrCreate(developerKey)
        accounts.append(.init(address: developer.address, balance: developerBalance))
        for address in extraAccounts where !accounts.contains(where: { $0.address == address }) {
            accounts.append(.init(address: address, balance: extraBalance))
        }
        let genesis = Genesis(
            chainID: DevnetManifest.chainID, genesisTime: ISO8601DateFormatter().string(from: Date()),
            accounts: accounts, validators: validators, models: [.devnetDefault])
        try genesis.validate()
        let genesisJSON = try genesis.encodedJSON()
        for node in nodes {
            let home = URL(fileURLWithPath: node.home, isDirectory: true)
            try genesisJSON.write(to: home.appendingPathComponent("genesis.json"), options: .atomic)
            let peers = nodes.filter { $0.index != node.index }.map { "\($0.nodeID)@127.0.0.1:\($0.p2pPort)" }
            var config = NodeConfig(
                moniker: node.moniker, chainID: DevnetManifest.chainID, accountKey: "validator",
                p2pListen: "127.0.0.1:\(node.p2pPort)", persistentPeers: peers, rpcListen: node.rpcListen,
                apiListen: "127.0.0.1:\(node.apiPort)", timeouts: "devnet", testHooks: testHooks)
            // Every devnet participant mines each sprint (PROTOCOL §5) on one thread.
            config.pocEnabled = true
            if let model {
                config.apiEnabled = true
                config.apiML = "embedded"
                config.apiModel = model
            }
            try config.toml.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        }
        let manifest = DevnetManifest(
            chainID: DevnetManifest.chainID, binary: binary, testHooks: testHooks,
            faucet: .init(home: faucetHome.path, key: "faucet", address: faucet.address), nodes: nodes)
        try manifest.save(to: dir)
        return manifest
    }
}

/// Free TCP ports on 127.0.0.1 for the devnet's nodes, all different, from below the kernel's
/// ephemeral range (`LoopbackSocket.freePort`), so no outgoing connection or port-0 bind takes one
/// before its node binds it. Another program could still take one; the node then fails to bind
/// and says so in its log.
enum FreePorts {
    static func allocate(_ count: Int) throws -> [Int] {
        do {
            return try (0..<count).map { _ in try LoopbackSocket.freePort() }
        } catch {
            throw CLIError("cannot find a free loopback port: \(error)")
        }
    }
}
