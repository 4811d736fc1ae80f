import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Module PoC: every rejection of issue 6's "Bad input" (and the other checks of §5.3–5.4), each
/// with its reason and no state change. Two identical chains run side by side: one block carries
/// the bad transaction, the twin's block is empty, and both app hashes must agree.
@Suite struct PocTests {
    enum Stage { case seeds, generation, validation }

    /// Twin chains at `stage` of sprint 1: at generation, participants 0–3 have submitted batches
    /// (0: nonces 0..<40, 1: 100..<120, 2: 0..<10, 3: 0..<25; account 4 is registered but not a
    /// validator, with nonces 0..<5). `next` is the height of the block the bad tx goes into.
    static func twins(at stage: Stage) throws -> (PocFixture, PocFixture) {
        let a = try PocFixture()
        let b = try PocFixture()
        for f in [a, b] {
            try f.advance(toNext: 20)
            try f.block([f.register(4)])
            try f.advance(toNext: PocFixture.p)
            if stage == .seeds { continue }
            try f.block((0..<4).map { try f.tx(f.seed($0), from: $0) })
            try f.block()
            try f.block([
                f.tx(f.batch(0, nonces: Array(0..<40)), from: 0), f.tx(f.batch(1, nonces: Array(100..<120)), from: 1),
                f.tx(f.batch(2, nonces: Array(0..<10)), from: 2), f.tx(f.batch(3, nonces: Array(0..<25)), from: 3),
                f.tx(f.batch(4, nonces: Array(0..<5)), from: 4),
            ])
            if stage == .validation { try f.advance(toNext: PocFixture.p + f.epochs.validationStart) }
        }
        #expect(a.chain.ledger.appHash == b.chain.ledger.appHash)
        return (a, b)
    }

    /// Runs `bad` (built on `a`, replayed on nothing in `b`) and checks the reason and the state.
    static func expectRejected(
        _ a: PocFixture, _ b: PocFixture, _ bad: [UInt8], code: String, contains text: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try a.block([bad])
        try b.block([])
        let error = try #require(result.txResults.first?.error, sourceLocation: sourceLocation)
        #expect(error.shortDescription == code, "\(error)", sourceLocation: sourceLocation)
        if let text { #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation) }
        #expect(a.chain.ledger.appHash == b.chain.ledger.appHash, "no state change", sourceLocation: sourceLocation)
    }

    @Test func batchesOutsideTheWindow() throws {
        // At P itself hash(P) is unknown: no batch yet.
        let (a, b) = try Self.twins(at: .seeds)
        try Self.expectRejected(a, b, a.tx(a.batch(0, nonces: [1]), from: 0), code: "outside_window")
        // For another sprint's P.
        try Self.expectRejected(a, b, a.tx(a.batch(0, nonces: [1], p: 60), from: 0), code: "outside_window")
        // After the exchange: validation stage.
        let (c, d) = try Self.twins(at: .validation)
        try Self.expectRejected(c, d, c.tx(c.batch(0, nonces: [1_000]), from: 0), code: "outside_window")
        // In epoch 0 there is no sprint at all.
        let e = try PocFixture()
        let f = try PocFixture()
        try Self.expectRejected(e, f, e.tx(e.batch(0, nonces: [1], p: 0), from: 0), code: "outside_window")
    }

    @Test func batchesWithBadContent() throws {
        let (a, b) = try Self.twins(at: .generation)
        // For another participant's key: the signer is not the participant.
        try Self.expectRejected(
            a, b, a.tx(a.batch(0, nonces: [1_000], participant: a.address(1)), from: 0), code: "no_grant")
        // Distance at r_target (not below it).
        try Self.expectRejected(
            a, b, a.tx(a.batch(0, nonces: [1_000], distances: [a.epochs.rTargetNano]), from: 0),
            code: "distance_too_large")
        // A nonce repeated within one batch, and one already submitted in an earlier batch.
        try Self.expectRejected(a, b, a.tx(a.batch(0, nonces: [1_000, 1_001, 1_000]), from: 0), code: "duplicate")
        try Self.expectRejected(a, b, a.tx(a.batch(0, nonces: [1_002, 7]), from: 0), code: "duplicate")
        // Off the lattice, index ≥ count.
        let (c, d) = try Self.twins(at: .seeds)
        try c.block()
        try d.block()
        try Self.expectRejected(
            c, d, c.tx(c.batch(0, nonces: [4, 7], index: 0, count: 2), from: 0), code: "invalid_field",
            contains: "lattice")
        try Self.expectRejected(
            c, d, c.tx(c.batch(0, nonces: [4], index: 2, count: 2), from: 0), code: "invalid_field",
            contains: "node_index")
        // Counts that do not match, an empty batch, too many nonces.
        try Self.expectRejected(
            c, d, c.tx(c.batch(0, nonces: [4, 6], distances: [1]), from: 0), code: "invalid_field",
            contains: "distances_nano")
        try Self.expectRejected(c, d, c.tx(c.batch(0, nonces: []), from: 0), code: "invalid_field")
        try Self.expectRejected(
            c, d, c.tx(c.batch(0, nonces: Array(0..<1_001)), from: 0), code: "invalid_field", contains: "more than")
    }

    /// §5.7: of a participant's n = 4 ML nodes, the two the shuffle keeps serving may not mine.
    @Test func batchesFromServingNodesAreRefused() throws {
        let (c, d) = try Self.twins(at: .seeds)
        try c.block()
        try d.block()
        let model = c.chain.genesis.models.map(\.id).min() ?? ""
        let owner = c.address(0).description
        let serving = ServingNodes.serving(epoch: 1, participant: owner, model: model, nodeCount: 4)
        let mining = ServingNodes.mining(epoch: 1, participant: owner, model: model, nodeCount: 4)
        #expect(serving.count == 2 && mining.count == 2)
        for index in serving {
            try Self.expectRejected(
                c, d, c.tx(c.batch(0, nonces: [index, index + 4], index: UInt32(index), count: 4), from: 0),
                code: "invalid_field", contains: "keeps serving")
        }
        let ok = try c.block([
            c.tx(c.batch(0, nonces: [mining[0], mining[0] + 4], index: UInt32(mining[0]), count: 4), from: 0)
        ])
        #expect(ok.txResults[0].isSuccess, "\(ok.txResults.compactMap(\.error))")
    }

    @Test func nodeCountMustStayTheSame() throws {
        let (a, b) = try Self.twins(at: .generation)
        // Participant 0's first batch used node_count 1.
        try Self.expectRejected(
            a, b, a.tx(a.batch(0, nonces: [2_000], index: 0, count: 2), from: 0), code: "invalid_field",
            contains: "node_count")
    }

    @Test func seedsAreOncePerEpochAndInTheirWindow() throws {
        let (a, b) = try Self.twins(at: .seeds)
        try Self.expectRejected(a, b, a.tx(a.seed(0, epoch: 2), from: 0), code: "outside_window")
        try Self.expectRejected(a, b, a.tx(a.seed(0, hash: [1, 2, 3]), from: 0), code: "invalid_field")
        #expect(try a.block([a.tx(a.seed(0), from: 0)]).txResults[0].isSuccess)
        try b.block([b.tx(b.seed(0), from: 0)])
        try Self.expectRejected(a, b, a.tx(a.seed(0), from: 0), code: "duplicate")
        // After generation the window is closed.
        let (c, d) = try Self.twins(at: .validation)
        try Self.expectRejected(c, d, c.tx(c.seed(1), from: 1), code: "outside_window")
    }

    @Test func validationsFromNonValidatorsOrForUnknownParticipants() throws {
        let (a, b) = try Self.twins(at: .validation)
        // Account 4 is a registered participant with batches, but not a validator of the current epoch.
        try Self.expectRejected(a, b, a.tx(a.validation(4, of: 0), from: 4), code: "not_validator")
        // A participant with no batches (nor registration): unknown here.
        var unknown = Wire.MsgSubmitPocValidation()
        unknown.validator = a.address(0).description
        unknown.participant = TestChain.key(seed: 99, index: 0).publicKey.address.description
        unknown.pocStartHeight = PocFixture.p
        try Self.expectRejected(a, b, a.tx(Wire.Msg(unknown), from: 0), code: "not_participant")
        // Validating oneself.
        try Self.expectRejected(a, b, a.tx(a.validation(0, of: 0), from: 0), code: "invalid_field", contains: "itself")
        // For another validator (signer is not the validator).
        try Self.expectRejected(a, b, a.tx(a.validation(1, of: 0), from: 0), code: "no_grant")
    }

    @Test func validationsMustCarryTheSampleAndConsistentEvidence() throws {
        let (a, b) = try Self.twins(at: .validation)
        // Participant 0 has 40 nonces, so the sample (≤ 200) is all of them; leave one out.
        try Self.expectRejected(
            a, b, a.tx(a.validation(1, of: 0, sample: Array(0..<39)), from: 1), code: "invalid_field",
            contains: "sampled_nonces")
        // A validator that lies: its evidence shows 6 of 40 distances ≥ r_target but it says honest.
        try Self.expectRejected(
            a, b, a.tx(a.validation(1, of: 0, far: 6, fraud: false), from: 1), code: "invalid_field", contains: "fraud")
        // The other way round: clean evidence, fraud claimed.
        try Self.expectRejected(
            a, b, a.tx(a.validation(1, of: 0, far: 4, fraud: true), from: 1), code: "invalid_field", contains: "fraud")
        // Accepted once, then a duplicate.
        #expect(try a.block([a.tx(a.validation(1, of: 0), from: 1)]).txResults[0].isSuccess)
        try b.block([b.tx(b.validation(1, of: 0), from: 1)])
        try Self.expectRejected(a, b, a.tx(a.validation(1, of: 0), from: 1), code: "duplicate")
        // Outside the window: at the weights stage.
        try a.advance(toNext: PocFixture.p + a.epochs.validationEnd)
        try b.advance(toNext: PocFixture.p + b.epochs.validationEnd)
        try Self.expectRejected(a, b, a.tx(a.validation(2, of: 0), from: 2), code: "outside_window")
    }

    @Test func validationSampleIsBoundedForLargeSprints() throws {
        let f = try PocFixture()
        try f.advance(toNext: PocFixture.p + 1)
        try f.block()
        let nonces = (0..<900).map { UInt64($0) }
        let result = try f.block(
            stride(from: 0, to: 900, by: 300).map { start in
                try f.tx(f.batch(0, nonces: Array(nonces[start..<start + 300])), from: 0)
            })
        #expect(result.txResults.allSatisfy { $0.isSuccess })
        try f.advance(toNext: PocFixture.p + f.epochs.validationStart)
        let msg = try f.validation(1, of: 0)
        guard case .submitPocValidation(let v) = msg.sum else { Issue.record("not a validation"); return }
        #expect(v.sampledNonces.count == 200)
        #expect(try f.block([f.tx(msg, from: 1)]).txResults[0].isSuccess)
    }

    @Test func dutyTransactionsAreFreeButBounded() throws {
        let a = try PocFixture(maxDutyTxsPerBlock: 2)
        try a.advance(toNext: PocFixture.p + 2)
        // Two free duty txs pass; the third in the same block is refused; none cost a fee.
        let before = try a.chain.balance(0)
        let three = try (0..<3).map { i in try a.tx(a.batch(0, nonces: [UInt64(i)]), from: 0) }
        let result = try a.block(three)
        #expect(result.txResults[0].isSuccess && result.txResults[1].isSuccess)
        #expect(result.txResults[2].error?.shortDescription == "duty_tx_limit")
        #expect(try a.chain.balance(0) == before)
        // The next block has a fresh allowance.
        #expect(try a.block([a.tx(a.batch(0, nonces: [50]), from: 0, sequence: 2)]).txResults[0].isSuccess)
        // A user transaction with no fee still pays: fee_too_low.
        let c = try PocFixture()
        let d = try PocFixture()
        for f in [c, d] { try f.advance(toNext: PocFixture.p + 2) }
        let send = try c.chain.sign(
            c.chain.body([.send(from: c.address(0), to: c.address(1), amount: 1)], signer: c.key(0), fee: 0),
            by: c.key(0))
        try Self.expectRejected(c, d, send, code: "fee_too_low")
        // A PoC message from an account that is not a participant is no duty: it pays, so with
        // no fee it is refused for the fee.
        try Self.expectRejected(c, d, c.tx(c.batch(4, nonces: [1]), from: 4), code: "fee_too_low")
        // With a fee it reaches the module, which refuses the non-participant.
        try Self.expectRejected(
            c, d, c.tx(c.batch(4, nonces: [1]), from: 4, fee: c.params.minGasPrice * 2_000, sequence: 0),
            code: "not_participant")
    }
}
