import Consensus
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import Ledger
import Storage
import Testing

@testable import ChainNode

/// Issue 23's *Done when*: a fifth node joins a four-validator chain that has run 2,000+ blocks
/// (`GONKA_STATESYNC_BLOCKS=2010`; 300 by default) by state sync (real P2P, in-process nodes) in
/// under a minute, then follows blocks and answers queries with the same state (proofs and values)
/// as the validators.
@Suite(.serialized, .hangGuard) struct StateSyncNetworkTests {
    /// Timeouts tighter than `fast`: a 2,000-block chain in a test's time.
    static let timeouts = Consensus.Timeouts(
        propose: 400, proposeDelta: 100, prevote: 100, prevoteDelta: 50, precommit: 100, precommitDelta: 50, commit: 1)

    /// The chain's length before the fifth node joins. Issue 23's form is 2,000+ blocks
    /// (`GONKA_STATESYNC_BLOCKS=2010`: ~2.5–4.5 minutes of four nodes at full speed on 2 cores,
    /// run alone); by default 300, since in the whole suite, beside the PoC network tests, the long
    /// form starved them and itself (both missed their waits at 6 tests at once).
    static var targetHeight: UInt64 {
        UInt64(ProcessInfo.processInfo.environment["GONKA_STATESYNC_BLOCKS"] ?? "") ?? 300
    }

    @Test(.timeLimit(.minutes(10))) func aFifthNodeJoinsByStateSyncAndFollows() async throws {
        let target = Self.targetHeight
        let interval = max(target / 4, 10)
        let net = try TestNetwork(validators: 4, seed: 23)
        defer { net.cleanup() }
        var running: [RunningNode] = []
        var ports: [(Int, Int)] = []
        defer { for node in running { node.task.cancel() } }
        for i in 0..<4 {
            try net.writeConfig(i, peers: ports, snapshotInterval: interval)
            let node = try await RunningNode(home: net.homes[i], name: "node\(i)", timeouts: Self.timeouts)
            running.append(node)
            ports.append((i, node.p2pPort))
        }
        let started = ContinuousClock.now
        let reached = await eventually(.seconds(480)) { running[0].height >= target }
        let chainTime = ContinuousClock.now - started
        print("state sync test: \(running[0].height) blocks in \(chainTime)")
        try #require(reached, "the chain reaches \(target) blocks (at \(running[0].height))")

        // The fifth node: fresh keys, the same genesis, the four as peers, [state_sync] enable.
        let home = net.root.appendingPathComponent("joiner", isDirectory: true)
        try FileManager.default.createDirectory(
            at: home.appendingPathComponent("data"), withIntermediateDirectories: true)
        let keys = KeyStore(home: home)
        try keys.add(name: "p2p", key: SigningKey())
        try keys.add(name: "consensus", key: SigningKey())
        try keys.add(name: "validator", key: SigningKey())
        try net.genesis.encodedJSON().write(to: home.appendingPathComponent("genesis.json"))
        var config = NodeConfig(moniker: "joiner", chainID: TestChain.chainID)
        config.p2pListen = "127.0.0.1:0"
        config.rpcListen = "127.0.0.1:0"
        config.timeouts = "fast"
        config.stateSyncEnabled = true
        // The trust `gonka node join --state-sync` takes from its peer: the block after that
        // peer's newest snapshot (the genesis-set check is StateSyncTests').
        let seed = try ChainClient(baseURL: "http://127.0.0.1:\(try await running[3].node.rpcPort())")
        let offered = try await seed.snapshots()
        #expect(offered.count == 2, "snapshot_keep_recent")
        #expect(offered.map(\.height) == offered.map(\.height).sorted(by: >))
        try await RPCContract.check(seed, [.init("/snapshots", SnapshotList.self)])
        let trust = try #require(try await seed.snapshotTrust())
        config.trustHeight = trust.height
        config.trustHash = trust.hash
        config.persistentPeers = ports.map { "\(net.p2pKeys[$0.0].publicKey.hex)@127.0.0.1:\($0.1)" }
        try config.toml.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)

        let joinStarted = ContinuousClock.now
        var options = StateSyncClient.Options()
        options.deadline = .seconds(60)
        let outcome = try await Node.stateSyncIfNeeded(
            home: home, logger: TestNetwork.logger("joiner"), options: options)
        guard case .restored(let height, _, let chunks) = outcome else {
            Issue.record("not restored: \(outcome)")
            return
        }
        #expect(height >= target - interval, "a recent snapshot (\(height))")
        #expect(height + 1 == trust.height, "the snapshot the trusted block names")
        let joiner = try await RunningNode(home: home, name: "joiner", timeouts: Self.timeouts)
        running.append(joiner)
        // It follows: block sync from the snapshot's height to the chain's tip, and on.
        let caughtUp = await eventually(.seconds(60)) {
            joiner.height >= max(running[0].height, height + 20)
        }
        let joinTime = ContinuousClock.now - joinStarted
        print("state sync test: joined at snapshot \(height) (\(chunks) chunks), caught up in \(joinTime)")
        #expect(caughtUp, "the joiner follows blocks (at \(joiner.height), chain at \(running[0].height))")
        #expect(joinTime < .seconds(60), "joined in \(joinTime)")
        #expect(joiner.node.status.snapshot.halted == nil)
        // Its block store starts at the snapshot, like a pruned node's.
        #expect(try joiner.node.driver.blocks.oldestHeight() == height)
        #expect(try joiner.node.driver.blocks.block(at: height - 1) == nil)

        // Same state as the validators at a height both have: the same value and proof (so the
        // same app hash) for a funded account, and the same block hash.
        let at = joiner.height - 1
        let joinerRPC = try ChainClient(baseURL: "http://127.0.0.1:\(try await joiner.node.rpcPort())")
        let validatorRPC = try ChainClient(baseURL: "http://127.0.0.1:\(try await running[1].node.rpcPort())")
        let address = net.wallet.accounts[0].publicKey.address
        let mine = try await joinerRPC.query("account/\(address)", height: at)
        let theirs = try await validatorRPC.query("account/\(address)", height: at)
        #expect(mine == theirs)
        #expect(mine.value != .null)
        let mineBlock = try await joinerRPC.block(at + 1)
        let theirBlock = try await validatorRPC.block(at + 1)
        #expect(mineBlock.hash == theirBlock.hash)
        #expect(mineBlock.appHash == theirBlock.appHash)
        #expect(try await joinerRPC.balance(address) > .zero)
        for node in running { await node.stop() }
        running = []
    }
}
