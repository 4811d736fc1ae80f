import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import SwiftProtobuf
import Synchronization
import Testing

@testable import ChainNode
@testable import Storage

/// Snapshots off the commit path (issue 23): the block whose height is a multiple of
/// `snapshot_interval` only opens a read transaction of its version; the snapshot is written in
/// the background, so blocks go on committing while it is held back, and what it wrote is the
/// state of its own height (it restores to that block's app hash).
@Suite(.hangGuard) struct BackgroundSnapshotTests {
    @Test(.timeLimit(.minutes(1))) func blocksCommitWhileASnapshotIsBeingWritten() async throws {
        let wallet = try TestChain(accounts: 2)
        let validatorKey = TestChain.key(seed: 50, index: 0)
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z", accounts: wallet.genesis.accounts,
            validators: [TestChain.validatorEntry(validatorKey, power: 10)])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bg-snapshot-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let snapshots = try SnapshotStore(directory: directory.appendingPathComponent("snapshots"), keepRecent: 2)
        // The writer of each snapshot waits here (for at most 20 s) until the blocks are done.
        let gate = DispatchSemaphore(value: 0)
        let held = Mutex<[UInt64]>([])
        snapshots.setBeforeWrite { height in
            held.withLock { $0.append(height) }
            _ = gate.wait(timeout: .now() + 20)
        }
        var limits = LedgerApplication.Limits()
        limits.snapshotInterval = 2
        let app = try LedgerApplication(
            genesis: genesis, state: try AuthenticatedStore(path: directory.appendingPathComponent("state").path),
            blocks: try BlockStore(inMemory: "blocks"), limits: limits, snapshots: snapshots)
        var appHashes: [UInt64: Hash] = [:]
        let started = ContinuousClock.now
        for height in UInt64(1)...6 {
            let bytes = app.makeBlock(
                proposer: validatorKey.publicKey.address, txs: [try wallet.send(from: 0, to: 1, amount: height)])
            let id = Consensus.blockID(of: bytes)
            let block = try Wire.Block(serializedBytes: bytes)
            let vote = Consensus.Vote(
                type: .precommit, height: height, round: 0, blockID: id, timestamp: block.header.timeMs + 1,
                validator: validatorKey.publicKey.address)
            let commit = Consensus.Commit(
                height: height, round: 0, blockID: id,
                precommits: [
                    .sign(vote, chainID: TestChain.chainID, signer: Consensus.Signer(key: validatorKey))
                ])
            let applied = try app.execute(
                height: height, blockID: id, block: block, commit: commit, save: true, bytes: bytes)
            #expect(applied.results.allSatisfy { $0.isSuccess })
            appHashes[height] = applied.appHash
        }
        let elapsed = ContinuousClock.now - started
        // Six blocks committed while the snapshot of block 2 was held; those of 4 and 6 were due
        // while it was still being written, so they were skipped (one at a time).
        #expect(elapsed < .seconds(10), "the commits did not wait for the snapshot (\(elapsed))")
        #expect(snapshots.writing == 2)
        #expect(snapshots.list.isEmpty)
        gate.signal()
        await snapshots.waitForPending()
        #expect(held.withLock { $0 } == [2])
        let manifest = try #require(snapshots.list.first)
        #expect(snapshots.list.count == 1)
        #expect(manifest.height == 2 && manifest.root == appHashes[2])
        #expect(manifest.chainID == TestChain.chainID)
        var entries: [AuthenticatedStore.Entry] = []
        for index in manifest.chunkHashes.indices {
            let chunk = try #require(snapshots.chunk(height: 2, index: index))
            entries += try StateSnapshot.decode(chunk, after: entries.last?.key).get()
        }
        let restored = try AuthenticatedStore(inMemory: "restored")
        try restored.restore(entries: entries, version: 2, expectedRoot: try #require(appHashes[2]))
        #expect(restored.root == appHashes[2])
        #expect(appHashes[2] != appHashes[6])
    }
}
