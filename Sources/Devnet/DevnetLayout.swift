import ChainNode
import Foundation
import GonkaCore
import Ledger
import Storage

/// Writes a fresh devnet: one genesis shared by N validator homes (each with account, consensus
/// and p2p keys, equal power), a funded faucet home, and each node's config.toml with its own
/// loopback ports and every other node as a persistent peer.
public enum DevnetLayout {
    /// Genesis balance of each validator's account.
    public static let validatorBalance = Amount(gnk: 1_000_000)!
    /// The genesis supply of PROTOCOL §8.1, at mainnet scale: 1 B GNK, of which the mining pool
    /// (680 M) and the community pool (120 M) are module accounts and 200 M go to genesis accounts.
    /// The faucet holds what the validators, the developer and any extra accounts do not.
    public static let genesisAccountsTotal = Amount(gnk: 200_000_000)!
    public static let miningPoolBalance = Amount(gnk: 680_000_000)!
    public static let communityPoolBalance = Amount(gnk: 120_000_000)!
    /// Consensus power of each genesis validator.
    public static let validatorPower: UInt64 = 100
    /// Name of the developer key (in the faucet home) the signing proxy signs with.
    public static let developerKey = "developer"
    /// Genesis balance of the developer account.
    public static let developerBalance = Amount(gnk: 10_000)!

    /// `extraAccounts` are funded with `extraBalance` each (the chain benchmark's senders).
    /// `model`: the GGUF file each node's API node serves in-process (none: no API nodes), under
    /// the devnet's registered model id (``Genesis/Model/devnetDefault``); `nodeModels[K]`: another
    /// file node K serves under that id instead (a cheat model for the validation tests);
    /// (a URL: node K's API node has no in-process model and uses the ML node there);
    /// `validate: false` turns the API nodes' validation workers off (to measure their cost);
    /// `epochs` is the schedule (``EpochParams/quick`` for tests that need several epochs);
    /// `registeredModel` is genesis's one registry entry (its sampler kind and threshold);
    /// `hosts[K]`: node K runs in that network namespace and listens on (and is dialled at) that
    /// address instead of 127.0.0.1 (none: every node on loopback).
    public static func create(
        dir: URL, participants: Int, testHooks: Bool, binary: String,
        extraAccounts: [Address] = [], extraBalance: Amount = Amount(gnk: 1_000)!, model: String? = nil,
        nodeModels: [Int: String] = [:], validate: Bool = true, epochs: EpochParams = .devnet,
        registeredModel: Genesis.Model = .devnetDefault, hosts: [DevnetHost] = []
    ) throws -> DevnetManifest {
        guard hosts.isEmpty || hosts.count == participants else {
            throw DevnetError("--netns names \(hosts.count) namespaces for \(participants) participants (one per node)")
        }
        if !nodeModels.isEmpty {
            guard model != nil else {
                throw DevnetError("--node-model needs the nodes to serve a model (not --chain-only)")
            }
            try DevnetNodeModel.check(
                nodeModels.map { DevnetNodeModel(node: $0.key, path: $0.value) }, participants: participants)
        }
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let ports = try DevnetPorts.allocate(participants * 4)
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
                p2pPort: ports[index * 4], rpcPort: ports[index * 4 + 1], apiPort: ports[index * 4 + 2],
                nodeID: p2p.publicKey, accountAddress: account.address,
                validatorAddress: Hex.encode(consensusKey.address.bytes),
                // The admin routes (ML nodes, API keys) on loopback (inside the node's namespace, if it
                // runs in one), where the nodes run an API node.
                adminPort: model == nil ? nil : ports[index * 4 + 3],
                netns: hosts.isEmpty ? nil : hosts[index].netns, address: hosts.isEmpty ? nil : hosts[index].address)
            nodes.append(node)
            validators.append(
                .init(
                    name: node.moniker, address: account.address, url: "http://\(node.host):\(node.apiPort)",
                    consensusPubkey: consensus.publicKey, p2pPubkey: p2p.publicKey, power: validatorPower))
            accounts.append(.init(address: account.address, balance: validatorBalance))
        }
        let faucetHome = dir.appendingPathComponent("faucet", isDirectory: true)
        let faucet = try KeyStore(home: faucetHome).entryOrCreate("faucet")
        // The developer key the devnet's signing proxy pays with.
        let developer = try KeyStore(home: faucetHome).entryOrCreate(developerKey)
        accounts.append(.init(address: developer.address, balance: developerBalance))
        for address in extraAccounts where !accounts.contains(where: { $0.address == address }) {
            accounts.append(.init(address: address, balance: extraBalance))
        }
        let others = accounts.reduce(UInt64(0)) { $0 + $1.balance.ngonka }
        guard others < genesisAccountsTotal.ngonka else {
            throw DevnetError("the devnet's genesis accounts would hold more than \(genesisAccountsTotal.gnkString)")
        }
        accounts.append(.init(address: faucet.address, balance: Amount(ngonka: genesisAccountsTotal.ngonka - others)))
        let genesis = Genesis(
            chainID: DevnetManifest.chainID, genesisTime: ISO8601DateFormatter().string(from: Date()),
            params: ChainParams(epochs: epochs), accounts: accounts,
            moduleAccounts: [
                .init(name: "mining_pool", balance: miningPoolBalance),
                .init(name: "community_pool", balance: communityPoolBalance),
            ], validators: validators, models: [registeredModel])
        try genesis.validate()
        let genesisJSON = try genesis.encodedJSON()
        for node in nodes {
            let home = URL(fileURLWithPath: node.home, isDirectory: true)
            try genesisJSON.write(to: home.appendingPathComponent("genesis.json"), options: .atomic)
            let peers = nodes.filter { $0.index != node.index }.map { "\($0.nodeID)@\($0.host):\($0.p2pPort)" }
            var config = NodeConfig(
                moniker: node.moniker, chainID: DevnetManifest.chainID, accountKey: "validator",
                p2pListen: "\(node.host):\(node.p2pPort)", persistentPeers: peers, rpcListen: node.rpcListen,
                apiListen: "\(node.host):\(node.apiPort)", timeouts: "devnet", testHooks: testHooks)
            // Every devnet participant mines each sprint (PROTOCOL §5) on one thread.
            config.pocEnabled = true
            if let model {
                config.apiEnabled = true
                config.apiML = "embedded"
                config.apiModel = nodeModels[node.index] ?? model
                if let url = nodeModels[node.index], DevnetNodeModel.isURL(url) {
                    // No model in process: the API node serves through that ML node.
                    config.apiML = ""
                    config.apiModel = model
                    config.apiMLNodes = [url]
                }
                // The id genesis registers, whatever file or engine serves it.
                config.apiModelID = registeredModel.id
                config.apiValidate = validate
                if let admin = node.adminPort { config.apiAdminListen = "127.0.0.1:\(admin)" }
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
