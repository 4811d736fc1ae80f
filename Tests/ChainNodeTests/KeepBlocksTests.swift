import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import P2P
import Storage
import SwiftProtobuf
import Testing

@testable import ChainNode

/// `[storage] keep_blocks` (issue 23): the block store keeps the latest blocks, a pruned block is
/// answered "pruned" over RPC and over block sync, and a pruning node restarts from its store.
@Suite(.serialized, .hangGuard) struct KeepBlocksTests {
    @Test func theStoreKeepsTheLatestBlocksAndTheirTxResults() throws {
        let store = try BlockStore(inMemory: "keep")
        for h in UInt64(1)...10 { try store.save(BlockStoreTests.block(h)) }
        let old = BlockStore.TxRecord(hash: Hash.sha256("old"), height: 2, index: 0, code: 0, log: "", events: [])
        let recent = BlockStore.TxRecord(hash: Hash.sha256("new"), height: 9, index: 0, code: 0, log: "", events: [])
        try store.index([old, recent])
        #expect(try store.oldestHeight() == 1)
        #expect(throws: StorageError.self) { try store.prune(keepingRecent: 0) }
        #expect(try store.prune(keepingRecent: 3) == 7)
        #expect(try store.oldestHeight() == 8)
        #expect(try store.latestHeight() == 10)
        #expect(try store.block(at: 7) == nil)
        #expect(try store.block(at: 8) == BlockStoreTests.block(8))
        #expect(try store.tx(hash: old.hash) == nil)
        #expect(try store.tx(hash: recent.hash) == recent)
        // Nothing more to prune; the next block still follows the latest.
        #expect(try store.prune(keepingRecent: 3) == 0)
        try store.save(BlockStoreTests.block(11))
        #expect(try store.prune(keepingRecent: 3) == 1)
        #expect(try store.oldestHeight() == 9)
    }

    @Test func blockSyncSkipsHeightsAPeerPruned() throws {
        var sync = BlockSync()
        let pruning = PeerID(SigningKey().publicKey)
        let archive = PeerID(SigningKey().publicKey)
        sync.peer(pruning, isAt: 50, base: 40)
        let plan = sync.plan(tip: 0, window: 5, atHeightFor: .zero, stuckBeforeSync: .zero)
        #expect(plan.isEmpty, "nobody stores heights 1–5")
        sync.peer(archive, isAt: 50)
        #expect(
            sync.plan(tip: 0, window: 3, atHeightFor: .zero, stuckBeforeSync: .zero).allSatisfy { $0.peer == archive })
        // A "no block" below the sender's base says it pruned that height: its base rises, its
        // height stands (a plain "no block" would lower it).
        var other = BlockSync()
        other.peer(pruning, isAt: 50)
        let lowered = other.noBlock(height: 3, base: 40, from: pruning)
        #expect(!lowered)
        #expect(other.peerHeights[pruning] == 50)
        #expect(other.peerBases[pruning] == 40)
        #expect(other.plan(tip: 38, window: 3, atHeightFor: .zero, stuckBeforeSync: .zero).map(\.height) == [40, 41])

        // The answer a pruning node sends carries its base; the status announces it.
        let payload = try #require(BlockSync.responsePayload(height: 3, stored: nil, base: 40))
        let envelope = try Wire.BlockSyncEnvelope(serializedBytes: payload)
        #expect(envelope.noBlock.height == 3)
        #expect(envelope.noBlock.base == 40)
        let status = try Wire.BlockSyncEnvelope(serializedBytes: BlockSync.statusPayload(height: 50, base: 40))
        #expect(status.status.base == 40)
    }

    @Test func configRefusesAKeepBelowTheMinimum() throws {
        var config = NodeConfig(moniker: "n", chainID: "c")
        config.keepBlocks = 1
        #expect(throws: NodeError.self) { try NodeConfig(toml: config.toml) }
        config.keepBlocks = 7
        #expect(try NodeConfig(toml: config.toml).keepBlocks == 7)
        #expect(try NodeConfig(toml: NodeConfig(moniker: "n", chainID: "c").toml).keepBlocks == 0)
    }

    @Test(.timeLimit(.minutes(2))) func aPruningNodeAnswersPrunedAndRestarts() async throws {
        let net = try TestNetwork(validators: 1)
        defer { net.cleanup() }
        try net.writeConfig(0, peers: [], keepBlocks: 4)
        var running = try await RunningNode(home: net.homes[0], name: "keep-blocks", pruneInterval: 1)
        do {
            #expect(await eventually { running.height >= 12 })
            let blocks = running.node.driver.blocks
            let oldest = try blocks.oldestHeight()
            #expect(oldest > 1, "old blocks are pruned")
            #expect(try blocks.latestHeight() - oldest < 6)
            let client = try ChainClient(baseURL: "http://127.0.0.1:\(try await running.node.rpcPort())")
            do {
                _ = try await client.block(1)
                Issue.record("a pruned block was served")
            } catch {
                #expect(error.httpStatus == 404)
                #expect(error.serverCode == "pruned", "\(error)")
            }
            let latest = try blocks.latestHeight()
            #expect(try await client.block(latest).height == latest)
            do {
                _ = try await client.block(latest + 1_000)
                Issue.record("a future block was served")
            } catch {
                #expect(error.serverCode == "not_found", "\(error)")
            }
            // Restarted from its pruned store, it resumes and keeps committing.
            await running.stop()
            let stoppedAt = try BlockStore(path: net.homes[0].appendingPathComponent("data/blocks.sqlite").path)
                .latestHeight()
            running = try await RunningNode(home: net.homes[0], name: "keep-blocks-2", pruneInterval: 1)
            #expect(await eventually { running.height >= stoppedAt + 3 }, "the pruning node resumes after a restart")
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }
}
