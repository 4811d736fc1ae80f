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

/// Double-sign evidence at the node (PROTOCOL §3.1, §9): verified evidence goes into the proposer's
/// block, every node checks it, the ledger slashes 5% and tombstones; each bad class (forged, for
/// another chain, unknown validator, already punished, too old) is dropped from the pool with its
/// reason and a block carrying it is rejected at the `evidence` field.
@Suite struct LedgerApplicationEvidenceTests {
    /// Power 30: signs every commit alone (> 2/3 of 40).
    let honestKey = TestChain.key(seed: 60, index: 0)
    /// Power 10: the double signer.
    let cheatKey = TestChain.key(seed: 60, index: 1)
    let wallet: TestChain

    init() throws {
        wallet = try TestChain(accounts: 2)
    }

    func makeApp(evidenceMaxAge: UInt64 = 1_000) throws -> LedgerApplication {
        var params = ChainParams.devnet
        params.slashing.evidenceMaxAgeBlocks = evidenceMaxAge
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z", params: params,
            accounts: wallet.genesis.accounts + [
                .init(address: cheatKey.publicKey.address, balance: Amount(gnk: 100)!)
            ],
            validators: [
                TestChain.validatorEntry(honestKey, name: "honest", power: 30),
                TestChain.validatorEntry(cheatKey, name: "cheat", power: 10),
            ])
        return try LedgerApplication(
            genesis: genesis, state: try AuthenticatedStore(inMemory: "app"), blocks: try BlockStore(inMemory: "b"))
    }

    /// Builds, checks and executes the next block (proposed and committed by the honest validator).
    @discardableResult
    func advance(_ app: LedgerApplication, txs: [[UInt8]] = []) throws -> LedgerApplication.Applied {
        let bytes = app.makeBlock(proposer: honestKey.publicKey.address, txs: txs)
        if case .failure(let rejection) = app.check(bytes) { Issue.record("own block rejected: \(rejection)") }
        let id = Consensus.blockID(of: bytes)
        let block = try Wire.Block(serializedBytes: bytes)
        let height = app.tip.height + 1
        let vote = Consensus.Vote(
            type: .precommit, height: height, round: 0, blockID: id, timestamp: block.header.timeMs + 500,
            validator: honestKey.publicKey.address)
        let signed = Consensus.SignedVote.sign(
            vote, chainID: TestChain.chainID, signer: Consensus.Signer(key: honestKey))
        let commit = Consensus.Commit(height: height, round: 0, blockID: id, precommits: [signed])
        return try app.execute(height: height, blockID: id, block: block, commit: commit, save: true, bytes: bytes)
    }

    /// Two precommits of `validator` at (height, 0) for different blocks, signed by `signer` under `chainID`.
    func doubleSign(
        height: UInt64, validator: SigningKey? = nil, signer: SigningKey? = nil, chainID: String = TestChain.chainID
    ) throws -> Consensus.DuplicateVoteEvidence {
        let who = (validator ?? cheatKey).publicKey.address
        let votes = ["a", "b"].map { tag in
            Consensus.SignedVote.sign(
                Consensus.Vote(
                    type: .precommit, height: height, round: 0, blockID: Hash.sha256(tag), timestamp: 0, validator: who),
                chainID: chainID, signer: Consensus.Signer(key: signer ?? validator ?? cheatKey))
        }
        return try Consensus.DuplicateVoteEvidence(votes[0], votes[1])
    }

    func rejection(
        _ app: LedgerApplication, carrying evidence: Consensus.DuplicateVoteEvidence
    ) throws
        -> LedgerApplication.Rejection?
    {
        var block = try Wire.Block(serializedBytes: app.makeBlock(proposer: honestKey.publicKey.address, txs: []))
        block.evidence = [evidence.wire]
        block.header.evidenceHash = Data(LedgerApplication.evidenceHash(block.evidence))
        if case .failure(let r) = app.check(try block.serializedBytes()) { return r }
        return nil
    }

    @Test func evidenceGoesIntoTheNextBlockAndTheValidatorIsSlashedAndTombstoned() throws {
        let app = try makeApp()
        let cheater = cheatKey.publicKey.address
        let deposit = Wire.MsgDepositCollateral.with {
            $0.participant = cheater.description
            $0.amount = 40 * Amount.ngonkaPerGNK
        }
        let tx = try Array(
            Wire.Tx.signed(
                body: Wire.TxBody.with {
                    $0.chainID = TestChain.chainID
                    $0.signer = cheater.description
                    $0.messages = [Wire.Msg(deposit)]
                    $0.fee = 100_000
                }, by: cheatKey
            ).serializedData())
        let first = try advance(app, txs: [tx])
        #expect(first.results.first?.isSuccess == true, "\(String(describing: first.results.first?.error))")
        try advance(app)
        let evidence = try doubleSign(height: 2)
        #expect(app.addEvidence(evidence) == nil)
        #expect(app.evidencePool.count == 1)
        let applied = try advance(app)
        let block = try Wire.Block(serializedBytes: try #require(try app.blocks.block(at: applied.height)).block)
        #expect(block.evidence.count == 1, "the proposer put the pooled evidence in its block")
        #expect(!block.header.evidenceHash.isEmpty)
        #expect(app.evidencePool.isEmpty)
        #expect(
            applied.events.contains(
                .slashed(
                    participant: cheater, reason: "double_sign", amount: Amount(ngonka: 2 * Amount.ngonkaPerGNK),
                    jailed: true, tombstoned: true)))
        #expect(try app.ledger.signingInfo(cheater).tombstoned)
        #expect(try app.ledger.collateral(cheater).deposit == 38 * Amount.ngonkaPerGNK)
        // Already punished: dropped from the pool, and a block carrying it is rejected.
        let again = try doubleSign(height: 3)
        #expect(app.addEvidence(again)?.contains("already punished") == true)
        #expect(app.evidencePool.isEmpty)
        let rejected = try rejection(app, carrying: again)
        #expect(rejected?.field == "evidence")
        #expect(rejected?.reason.contains("already punished") == true)
    }

    @Test func badEvidenceIsDroppedWithItsReasonAndBlocksCarryingItAreRejected() throws {
        let app = try makeApp(evidenceMaxAge: 2)
        for _ in 0..<5 { try advance(app) }
        let root = app.appHash
        let stranger = TestChain.key(seed: 61, index: 0)
        let cases: [(String, Consensus.DuplicateVoteEvidence)] = [
            ("signatures do not verify", try doubleSign(height: 5, signer: stranger)),
            ("signatures do not verify", try doubleSign(height: 5, chainID: "other-chain")),
            ("unknown validator", try doubleSign(height: 5, validator: stranger)),
            ("too old", try doubleSign(height: 3)),
            ("after block", try doubleSign(height: 7)),
        ]
        for (reason, evidence) in cases {
            let dropped = app.addEvidence(evidence)
            #expect(dropped?.contains(reason) == true, "\(reason): \(String(describing: dropped))")
            let rejected = try rejection(app, carrying: evidence)
            #expect(rejected?.field == "evidence", "\(reason)")
            #expect(rejected?.reason.contains(reason) == true, "\(reason): \(String(describing: rejected))")
        }
        #expect(app.evidencePool.isEmpty)
        // Within the window (age 2) it is accepted; a wrong evidence_hash is not.
        let fresh = try doubleSign(height: 4)
        #expect(app.addEvidence(fresh) == nil)
        var block = try Wire.Block(serializedBytes: app.makeBlock(proposer: honestKey.publicKey.address, txs: []))
        #expect(block.evidence.count == 1)
        block.header.evidenceHash = Data(Hash.zero.bytes)
        if case .failure(let r) = app.check(try block.serializedBytes()) {
            #expect(r.field == "evidence_hash")
        } else {
            Issue.record("a wrong evidence_hash was accepted")
        }
        #expect(app.appHash == root, "checking changes nothing")
        #expect(!(try app.ledger.signingInfo(cheatKey.publicKey.address)).tombstoned)
    }
}
