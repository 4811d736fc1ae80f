import ChainRPCTypes
import Consensus
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf
import Testing

@testable import ChainNode

/// `processProposal`'s header checks: a block this node builds passes; each field changed alone
/// is rejected, naming the field.
@Suite struct LedgerApplicationTests {
    let validatorKey = TestChain.key(seed: 50, index: 0)
    let wallet: TestChain

    init() throws {
        wallet = try TestChain(accounts: 2)
    }

    func makeApp() throws -> LedgerApplication {
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z",
            accounts: wallet.genesis.accounts, validators: [TestChain.validatorEntry(validatorKey, power: 10)])
        return try LedgerApplication(
            genesis: genesis, state: try AuthenticatedStore(inMemory: "app"), blocks: try BlockStore(inMemory: "b"))
    }

    func commit(_ blockID: Hash, height: UInt64, time: Int64, key: SigningKey? = nil) -> Consensus.Commit {
        let vote = Consensus.Vote(
            type: .precommit, height: height, round: 0, blockID: blockID, timestamp: time,
            validator: validatorKey.publicKey.address)
        let signed = Consensus.SignedVote.sign(
            vote, chainID: TestChain.chainID, signer: Consensus.Signer(key: key ?? validatorKey))
        return Consensus.Commit(height: height, round: 0, blockID: blockID, precommits: [signed])
    }

    func mutated(_ bytes: [UInt8], _ change: (inout Wire.Block) -> Void) throws -> [UInt8] {
        var block = try Wire.Block(serializedBytes: bytes)
        change(&block)
        return try block.serializedBytes()
    }

    func rejectedField(_ app: LedgerApplication, _ bytes: [UInt8]) -> String? {
        if case .failure(let r) = app.check(bytes) { return r.field }
        return nil
    }

    @Test func firstBlockHeaderChecks() throws {
        let app = try makeApp()
        let proposer = validatorKey.publicKey.address
        let tx = try wallet.send(from: 0, to: 1, amount: 5)
        let good = app.makeBlock(proposer: proposer, txs: [tx])
        #expect(rejectedField(app, good) == nil)
        #expect(app.processProposal(good))
        let other = Data(Hash.sha256("other").bytes)
        let cases: [(String, (inout Wire.Block) -> Void)] = [
            ("chain_id", { $0.header.chainID = "other-chain" }),
            ("height", { $0.header.height = 2 }),
            ("time", { $0.header.timeMs += 1 }),
            ("data_hash", { $0.header.dataHash = other }),
            ("validators_hash", { $0.header.validatorsHash = other }),
            ("next_validators_hash", { $0.header.nextValidatorsHash = other }),
            ("app_hash", { $0.header.appHash = other }),
            ("proposer", { $0.header.proposer = Data(repeating: 7, count: 20) }),
            ("last_block_id", { $0.header.lastBlockID = Wire.BlockID.with { $0.hash = other } }),
            ("txs", { $0.txs.append(Data([0xFF, 0xFF, 0xFF])) }),
            ("evidence", { $0.evidence = [Wire.DuplicateVoteEvidence()] }),
        ]
        for (field, change) in cases {
            #expect(rejectedField(app, try mutated(good, change)) == field, "\(field)")
        }
        #expect(rejectedField(app, [0xFF, 0x01, 0x02]) == "block")
    }

    @Test func laterBlockChecksTheLastCommit() throws {
        let app = try makeApp()
        let proposer = validatorKey.publicKey.address
        let first = app.makeBlock(proposer: proposer, txs: [])
        let firstID = Consensus.blockID(of: first)
        let decoded = try Wire.Block(serializedBytes: first)
        let commit1 = commit(firstID, height: 1, time: decoded.header.timeMs + 700)
        _ = try app.execute(height: 1, blockID: firstID, block: decoded, commit: commit1, save: true, bytes: first)
        #expect(app.tip.height == 1)
        let good = app.makeBlock(proposer: proposer, txs: [try wallet.send(from: 0, to: 1, amount: 5)])
        #expect(rejectedField(app, good) == nil)
        let header = try Wire.Block(serializedBytes: good).header
        // Block time = weighted median of the last commit's timestamps.
        #expect(header.timeMs == decoded.header.timeMs + 700)
        let forged = commit(firstID, height: 1, time: 1, key: TestChain.key(seed: 51, index: 0))
        let cases: [(String, (inout Wire.Block) -> Void)] = [
            ("last_block_id", { $0.header.lastBlockID = Wire.BlockID.with { $0.hash = Data(Hash.zero.bytes) } }),
            ("last_commit", { $0.clearLastCommit() }),
            ("last_commit", { $0.lastCommit = forged.wire }),
            ("last_commit", { $0.lastCommit.precommits = [] }),
            ("last_commit_hash", { $0.header.lastCommitHash = Data(Hash.zero.bytes) }),
            ("height", { $0.header.height = 1 }),
        ]
        for (field, change) in cases {
            #expect(rejectedField(app, try mutated(good, change)) == field, "\(field)")
        }
    }

    @Test func replaysStoredBlocksTheStateLacks() throws {
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z",
            accounts: wallet.genesis.accounts, validators: [TestChain.validatorEntry(validatorKey, power: 10)])
        let blocks = try BlockStore(inMemory: "b")
        let app = try LedgerApplication(genesis: genesis, state: try AuthenticatedStore(inMemory: "s1"), blocks: blocks)
        let tx = try wallet.send(from: 0, to: 1, amount: 5)
        let bytes = app.makeBlock(proposer: validatorKey.publicKey.address, txs: [tx])
        let id = Consensus.blockID(of: bytes)
        let block = try Wire.Block(serializedBytes: bytes)
        let applied = try app.execute(
            height: 1, blockID: id, block: block, commit: commit(id, height: 1, time: block.header.timeMs + 1),
            save: true, bytes: bytes)
        #expect(applied.results.first?.isSuccess == true)
        #expect(try blocks.tx(hash: Hash.sha256(tx))?.code == 0)
        // A fresh state store (the crash left it behind): opening replays block 1 to the same root.
        let again = try LedgerApplication(
            genesis: genesis, state: try AuthenticatedStore(inMemory: "s2"), blocks: blocks)
        #expect(again.tip.height == 1)
        #expect(again.appHash == applied.appHash)
    }

    @Test func prunesOldStateVersionsAndQueriesSayWhy() throws {
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z",
            accounts: wallet.genesis.accounts, validators: [TestChain.validatorEntry(validatorKey, power: 10)])
        let app = try LedgerApplication(
            genesis: genesis, state: try AuthenticatedStore(inMemory: "s"), blocks: try BlockStore(inMemory: "b"),
            limits: LedgerApplication.Limits(keepRecent: 2, pruneInterval: 1))
        for h in 1...5 as ClosedRange<UInt64> {
            let bytes = app.makeBlock(proposer: validatorKey.publicKey.address, txs: [])
            let id = Consensus.blockID(of: bytes)
            let block = try Wire.Block(serializedBytes: bytes)
            _ = try app.execute(
                height: h, blockID: id, block: block, commit: commit(id, height: h, time: block.header.timeMs + 1),
                save: true, bytes: bytes)
        }
        #expect(app.state.oldestVersion == 3)
        let address = wallet.address(0)
        #expect(throws: QueryError.self) {
            try QueryEngine.run(.balance(address), height: 1, state: app.state, latest: 5)
        }
        let latest = try QueryEngine.run(.balance(address), height: nil, state: app.state, latest: 5)
        #expect(latest.height == 5)
        let old = try QueryEngine.run(.balance(address), height: 3, state: app.state, latest: 5)
        #expect(old.value == latest.value)
    }
}

/// Round 0's proposer rotates from height to height by power (a devnet bench found one validator
/// proposing every block, so the other nodes' mempools never reached a block).
@Suite struct ProposerRotationTests {
    func makeApp(powers: [UInt64]) throws -> LedgerApplication {
        let wallet = try TestChain(accounts: 1)
        let validators = powers.enumerated().map { i, power in
            TestChain.validatorEntry(TestChain.key(seed: 60, index: i), name: "v\(i)", power: power)
        }
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z", accounts: wallet.genesis.accounts,
            validators: validators)
        return try LedgerApplication(
            genesis: genesis, state: try AuthenticatedStore(inMemory: "rotation"),
            blocks: try BlockStore(inMemory: "rotation-blocks"))
    }

    @Test func equalPowersTakeTurns() throws {
        let app = try makeApp(powers: [10, 10, 10, 10])
        let proposers = (1...8).map { app.consensusValidators(forHeight: UInt64($0)).proposer.address }
        #expect(Set(proposers[0..<4]).count == 4)
        #expect(Array(proposers[4..<8]) == Array(proposers[0..<4]))
    }

    @Test func turnsFollowPower() throws {
        let app = try makeApp(powers: [30, 10])
        let proposers = (1...40).map { app.consensusValidators(forHeight: UInt64($0)).proposer.address }
        let counts = Dictionary(grouping: proposers, by: { $0 }).mapValues(\.count).values.sorted()
        #expect(counts == [10, 30])
    }

    @Test func anyHeightIsTheSameWhicheverWayItIsReached() throws {
        let stepped = try makeApp(powers: [7, 5, 3])
        for h in 1...25 { _ = stepped.consensusValidators(forHeight: UInt64(h)) }
        let direct = try makeApp(powers: [7, 5, 3])
        #expect(direct.consensusValidators(forHeight: 25) == stepped.consensusValidators(forHeight: 25))
        // Asking for an earlier height (a node restarted lower) starts again from genesis.
        #expect(stepped.consensusValidators(forHeight: 3) == direct.consensusValidators(forHeight: 3))
    }
}
