import ChainNode
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import Ledger
import Logging
import Storage

/// Node homes for in-process tests: `count` validators of equal power sharing one genesis (chain
/// id `TestChain.chainID`, TestChain's funded accounts), fast timeouts, every port 0.
final class TestNetwork {
    let root: URL
    let homes: [URL]
    let wallet: TestChain
    let p2pKeys: [SigningKey]
    let consensusKeys: [SigningKey]
    /// The validators' participant (account) keys.
    let accountKeys: [SigningKey]
    let genesis: Genesis

    init(validators count: Int, seed: UInt8 = 7, params: ChainParams? = nil, models: [Genesis.Model] = []) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("chainnode-\(UUID().uuidString)")
        wallet = try TestChain(accounts: 4)
        p2pKeys = (0..<count).map { TestChain.key(seed: seed, index: 1000 + $0) }
        consensusKeys = (0..<count).map { TestChain.key(seed: seed, index: 2000 + $0) }
        var validators: [Genesis.Validator] = []
        accountKeys = (0..<count).map { TestChain.key(seed: seed, index: 3000 + $0) }
        for i in 0..<count {
            let account = accountKeys[i]
            validators.append(
                Genesis.Validator(
                    name: "node\(i)", address: account.publicKey.address, url: "http://127.0.0.1:9000",
                    consensusPubkey: consensusKeys[i].publicKey.hex, p2pPubkey: p2pKeys[i].publicKey.hex, power: 10))
        }
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z", params: params ?? wallet.genesis.params,
            accounts: wallet.genesis.accounts, validators: validators, models: models)
        self.genesis = genesis
        var homes: [URL] = []
        for i in 0..<count {
            let home = root.appendingPathComponent("node\(i)", isDirectory: true)
            try FileManager.default.createDirectory(
                at: home.appendingPathComponent("data"), withIntermediateDirectories: true)
            let keys = KeyStore(home: home)
            try keys.add(name: "p2p", key: p2pKeys[i])
            try keys.add(name: "consensus", key: consensusKeys[i])
            try keys.add(name: "validator", key: accountKeys[i])
            try genesis.encodedJSON().write(to: home.appendingPathComponent("genesis.json"))
            homes.append(home)
        }
        self.homes = homes
        for i in 0..<count { try writeConfig(i, peers: []) }
    }

    /// Writes node `i`'s config with `peers` as (index, port) of running nodes.
    func writeConfig(
        _ i: Int, peers: [(Int, Int)], testHooks: Bool = false, pocThreads: Int? = nil, pocMaxNoncesPerSecond: Int = 0,
        keepBlocks: UInt64 = 0, snapshotInterval: UInt64 = 1000, stateSync: Bool = false
    ) throws {
        var config = NodeConfig(moniker: "node\(i)", chainID: TestChain.chainID)
        config.keepBlocks = keepBlocks
        config.snapshotInterval = snapshotInterval
        config.stateSyncEnabled = stateSync
        config.p2pListen = "127.0.0.1:0"
        config.rpcListen = "127.0.0.1:0"
        config.timeouts = "fast"
        config.testHooks = testHooks
        if let pocThreads {
            config.pocEnabled = true
            config.pocThreads = pocThreads
            config.pocMaxNoncesPerSecond = pocMaxNoncesPerSecond
        }
        config.persistentPeers = peers.map { "\(p2pKeys[$0.0].publicKey.hex)@127.0.0.1:\($0.1)" }
        try config.toml.write(to: homes[i].appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
    }

    static func logger(_ name: String) -> Logger {
        var logger = Logger(label: "test.\(name)")
        logger.logLevel = ProcessInfo.processInfo.environment["CHAINNODE_TEST_LOG"] != nil ? .info : .critical
        return logger
    }

    func cleanup() { try? FileManager.default.removeItem(at: root) }
}

/// A node running in a task of the test process.
final class RunningNode: Sendable {
    let node: Node
    let task: Task<Void, any Error>
    let p2pPort: Int

    /// `pruneInterval`: how often the node prunes state versions and blocks (every 100 blocks
    /// unless a test needs it sooner).
    /// `timeouts`: consensus timeouts other than the config's (`fast`).
    init(
        home: URL, name: String, pocWorker: (any PocWorker)? = nil, pruneInterval: UInt64 = 100,
        timeouts: Consensus.Timeouts? = nil
    ) async throws {
        let node = try Node(
            home: home, logger: TestNetwork.logger(name),
            tune: { config in
                config.gossipInterval = .milliseconds(500)
                config.stuckBeforeSync = .milliseconds(800)
                config.syncRequestTimeout = .seconds(2)
                config.limits.pruneInterval = pruneInterval
                if let timeouts { config.timeouts = timeouts }
            }, pocWorker: pocWorker)
        self.node = node
        task = Task { try await node.run() }
        p2pPort = try await node.p2pPort()
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    var height: UInt64 { node.status.snapshot.height }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
/// A cancelled test (its time limit passed) stops polling at once: with the sleep failing at once,
/// the loop would otherwise spin on a cooperative thread until its deadline.
func eventually(
    _ timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline, !Task.isCancelled {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
