import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Storage
import Testing

@testable import Ledger

/// Determinism (DESIGN §6 "ledger replay"): the same blocks give the same app hash on every
/// store; the supply invariant is checked after every block and stops the node when broken.
@Suite struct LedgerReplayTests {
    /// A seeded mix of good and bad transactions over several blocks.
    func workload(_ chain: TestChain, seed: UInt64, blocks: Int) throws -> [[[UInt8]]] {
        var rng = SplitMix64(seed: seed)
        var out: [[[UInt8]]] = []
        for _ in 0..<blocks {
            var block: [[UInt8]] = []
            for _ in 0..<Int(rng.next() % 8) {
                let from = Int(rng.next() % UInt64(chain.accounts.count))
                let to = Int(rng.next() % UInt64(chain.accounts.count))
                switch rng.next() % 6 {
                case 0:
                    // Often more than the sender has.
                    block.append(try chain.send(from: from, to: to, amount: 1 + rng.next() % 10_000_000_000_000))
                case 1: block.append(try chain.send(from: from, to: to, amount: 1, fee: 1))  // fee too low
                default: block.append(try chain.send(from: from, to: to, amount: 1 + rng.next() % 1_000_000))
                }
            }
            out.append(block)
        }
        return out
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func sameBlocksGiveSameAppHashOnTwoFreshStores(seed: UInt64) throws {
        let a = try TestChain(accounts: 6)
        let b = try TestChain(accounts: 6)
        #expect(a.ledger.appHash == b.ledger.appHash)
        // Wallet sequences drift when a tx is rejected, so some later txs fail too: that is part of
        // the workload, and both stores must agree on every outcome.
        let blocks = try workload(a, seed: seed, blocks: 12)
        var hashes: Set<Hash> = [a.ledger.appHash]
        for block in blocks {
            let ra = try a.finalize(block)
            let rb = try b.finalize(block)
            #expect(ra == rb)
            #expect(ra.appHash == rb.appHash)
            hashes.insert(ra.appHash)
        }
        #expect(hashes.count > 1, "the workload changed nothing")
        #expect(try a.ledger.supplyInvariantViolation() == nil)
    }

    @Test func fileStoreAndMemoryStoreAgreeAndStateSurvivesReopening() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.sqlite").path
        let memory = try TestChain()
        var root = Hash.zero
        do {
            let file = try TestChain(store: try AuthenticatedStore(path: path))
            for block in try workload(memory, seed: 9, blocks: 5) {
                let expected = try memory.finalize(block)
                root = try file.finalize(block).appHash
                #expect(root == expected.appHash)
            }
        }
        let reopened = try Ledger(store: try AuthenticatedStore(path: path))
        #expect(reopened.appHash == root)
        #expect(reopened.height == 5)
        #expect(reopened.chainID == TestChain.chainID)
        #expect(reopened.params == memory.genesis.params)
        #expect(try reopened.balance(of: memory.address(0)) == (try memory.balance(0)))
    }

    @Test func plantedSupplyViolationStopsTheBlock() throws {
        let chain = try TestChain()
        try chain.finalize([try chain.send(from: 0, to: 1, amount: 10)])
        let height = chain.ledger.height
        let root = chain.ledger.appHash
        // Coins appear from nowhere: written straight into the store, bypassing Bank.
        try chain.store.set(StateKey.balance(chain.address(2)), BigEndian.encode(5))
        let violation = #expect(throws: LedgerError.self) { try chain.finalize([]) }
        #expect(violation?.shortDescription == "invariant_violated")
        #expect(violation?.description.contains("minted") == true)
        // Nothing was committed.
        #expect(chain.ledger.height == height)
        #expect(chain.ledger.appHash == root)
    }

    /// The node indexes a block's txs in `beforeCommit`: it runs with the results while the state
    /// is still at the previous height, and if it fails the block commits nothing, so a crash
    /// or an index failure can never leave committed txs unindexed.
    @Test func beforeCommitSeesTheResultsFirstAndItsFailureCommitsNothing() throws {
        let chain = try TestChain()
        try chain.finalize([try chain.send(from: 0, to: 1, amount: 10)])
        let height = chain.ledger.height
        let root = chain.ledger.appHash
        let balance = try chain.balance(1)
        let txs = [try chain.send(from: 0, to: 1, amount: 7), try chain.send(from: 0, to: 1, amount: 1, fee: 1)]
        let context = BlockContext(chainID: TestChain.chainID, height: (height ?? 0) + 1, time: 0, proposer: nil)
        struct IndexFailed: Error {}
        var seen: [TxResult] = []
        var heightInside: UInt64?
        let failure = #expect(throws: LedgerError.self) {
            try chain.ledger.finalize(block: txs, context: context) { results in
                seen = results
                heightInside = chain.ledger.height
                throw IndexFailed()
            }
        }
        #expect(failure?.shortDescription == "storage")
        #expect(seen.map(\.hash) == txs.map { Hash.sha256($0) })
        #expect(seen.map(\.isSuccess) == [true, false])
        #expect(heightInside == height, "the state committed before the index was written")
        #expect(chain.ledger.height == height)
        #expect(chain.ledger.appHash == root)
        #expect(try chain.balance(1) == balance)
        // The same block goes through once the index can be written.
        let applied = try chain.ledger.finalize(block: txs, context: context) { results in
            #expect(results.map(\.isSuccess) == [true, false])
        }
        #expect(applied.height == context.height)
        #expect(try chain.balance(1) == balance.adding(Amount(ngonka: 7)))
    }

    @Test func burnedCoinsKeepTheBooksBalanced() throws {
        let chain = try TestChain()
        let state = StateContext(store: chain.store)
        try state.transaction { () throws(LedgerError) in
            try Bank.burn(Amount(ngonka: 1_000), from: chain.address(0), in: state)
        }
        try state.flush()
        #expect(try Bank.checkSupplyInvariant(in: state) == nil)
        #expect(try Bank.burned(in: state) == Amount(ngonka: 1_000))
    }

    @Test func blocksMustComeInOrderAndOnThisChain() throws {
        let chain = try TestChain()
        #expect(throws: LedgerError.self) {
            try chain.ledger.finalize(
                block: [], context: BlockContext(chainID: TestChain.chainID, height: 5, time: 0, proposer: nil))
        }
        #expect(throws: LedgerError.self) {
            try chain.ledger.finalize(
                block: [], context: BlockContext(chainID: "other", height: 1, time: 0, proposer: nil))
        }
        #expect(chain.ledger.height == 0)
    }
}
