import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// Module Validation on a real ledger (PROTOCOL §7.2–§7.4): a pass validates, a failure opens a
/// vote among drawn revalidators, INVALIDATED refunds the requester the whole cost, five confirmed
/// invalidations make the executor INVALID (out of the pool, reputation 0, its open votes
/// invalidated), undecided votes validate at the deadline, and every bad input is rejected with
/// its reason and no state change.
@Suite struct ValidationLedgerTests {
    static let model = InferenceTests.model

    /// Four participants (weights 10, 20, 30, 40): an executor, a first validator and two others
    /// to draw as revalidators.
    static func makeChain(params: ChainParams = .devnet) throws -> TestChain {
        try TestChain(
            accounts: 4, params: params, validatorPowers: [10, 20, 30, 40],
            models: [Genesis.Model(id: model, tokensPerSecondPerWeight: 1, validationThresholdPpm: 50_000)])
    }

    @discardableResult
    static func block(_ chain: TestChain, _ txs: [[UInt8]] = []) throws -> BlockResult {
        try InferenceTests.block(chain, txs)
    }

    struct Served {
        let id: String
        let executor: Address
        let cost: UInt64
    }

    /// A started and finished inference from account 0; `executor` forces the draw (by varying the
    /// body until it lands there).
    static func served(_ chain: TestChain, executor wanted: Address? = nil, tag: String = "") throws -> Served {
        var attempt = 0
        while true {
            let (request, executor, key) = try InferenceTests.request(
                chain, body: "{\"tag\":\"\(tag)\",\"try\":\(attempt)}")
            attempt += 1
            if let wanted, executor != wanted { continue }
            let start = chain.startInference(
                request, taKey: chain.validators[0], executor: executor, model: model, promptTokens: 10, maxTokens: 100)
            let finish = chain.finishInference(
                request, executor: executor, model: model, promptTokens: 10, completionTokens: 20)
            let result = try block(
                chain,
                [
                    try InferenceTests.tx(chain, start, by: chain.validators[0]),
                    try InferenceTests.tx(chain, finish, by: key),
                ])
            #expect(result.txResults.allSatisfy { $0.isSuccess }, "\(result.txResults.compactMap(\.error))")
            let record = try #require(try chain.ledger.inference(request.inferenceID))
            return Served(id: request.inferenceID, executor: executor, cost: record.cost)
        }
    }

    static func validation(
        _ id: String, by validator: Address, passed: Bool, reason: String = "", distance: UInt64 = 1_000,
        misses: UInt64 = 0, vote: Bool = false
    ) -> Wire.MsgValidation {
        var msg = Wire.MsgValidation()
        msg.validator = validator.description
        msg.inferenceID = id
        msg.passed = passed
        msg.reason = passed ? reason : (reason.isEmpty ? "distribution" : reason)
        msg.distancePpm = distance
        msg.samplerMisses = misses
        msg.vote = vote
        return msg
    }

    /// Sends `msg` signed by `key` in its own block (free, or paying `fee`); returns the tx result.
    /// The sequence comes from the chain, since a rejected transaction does not consume one.
    @discardableResult
    static func send(
        _ chain: TestChain, _ msg: Wire.MsgValidation, by key: SigningKey, fee: UInt64 = 0
    ) throws -> TxResult {
        let address = key.publicKey.address
        let sequence = try chain.ledger.account(address).sequence
        let tx = try chain.sign(chain.body([Wire.Msg(msg)], signer: key, fee: fee, sequence: sequence), by: key)
        let result = try block(chain, [tx]).txResults[0]
        chain.sequences[address] = try chain.ledger.account(address).sequence
        return result
    }

    /// The participants other than `excluded`, heaviest first.
    static func others(_ chain: TestChain, excluding excluded: Address...) -> [SigningKey] {
        chain.validators.filter { !excluded.contains($0.publicKey.address) }.reversed()
    }

    static func stats(_ chain: TestChain, _ address: Address, epoch: UInt64 = 0) throws -> Wire.ValidationStats? {
        try chain.ledger.validationStandings(epoch: epoch).first { $0.address == address }?.stats
    }

    // MARK: Outcomes

    @Test func aPassValidatesOnceAndLowersTheExecutorsRatio() throws {
        let chain = try Self.makeChain()
        let served = try Self.served(chain)
        let validators = Self.others(chain, excluding: served.executor)
        let r1 = try Self.send(
            chain, Self.validation(served.id, by: validators[0].publicKey.address, passed: true), by: validators[0])
        #expect(r1.error == nil, "\(String(describing: r1.error))")
        #expect(try chain.ledger.inference(served.id)?.status == .validated)
        #expect(r1.events.contains(.inferenceValidated(inferenceID: served.id, executor: served.executor)))
        // A second validator's pass is recorded (its obligation) but counts nothing again.
        let r2 = try Self.send(
            chain, Self.validation(served.id, by: validators[1].publicKey.address, passed: true), by: validators[1])
        #expect(r2.error == nil)
        let stats = try #require(try Self.stats(chain, served.executor))
        #expect(stats.validated == 1)
        #expect(stats.served == 1)
        let test = try SequentialTest(
            honestFailRatePpb: 10_000_000, cheaterFailRatePpb: 300_000_000, falseConvictionRatePpb: 1_000)
        #expect(stats.llr == test.validatedStep)
        #expect(try chain.ledger.validations(of: served.id).validations.count == 2)
        #expect(try Self.stats(chain, validators[0].publicKey.address)?.validationsDone == 1)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func aConfirmedFailureRefundsTheRequesterTheWholeCost() throws {
        let chain = try Self.makeChain()
        let before = try chain.balance(0)
        let served = try Self.served(chain)
        #expect(try chain.balance(0) == Amount(ngonka: before.ngonka - served.cost))
        let first = Self.others(chain, excluding: served.executor)[0]
        let opened = try Self.send(
            chain, Self.validation(served.id, by: first.publicKey.address, passed: false, reason: "sampler"), by: first)
        #expect(opened.error == nil, "\(String(describing: opened.error))")
        #expect(try chain.ledger.inference(served.id)?.status == .voting)
        let voting = try #require(try chain.ledger.validations(of: served.id).voting)
        // Everyone but the executor and the first validator: two of four.
        #expect(voting.revalidators.count == 2)
        #expect(!voting.revalidators.contains { $0.address == served.executor.description })
        #expect(!voting.revalidators.contains { $0.address == first.publicKey.address.description })
        #expect(voting.deadlineHeight == voting.failureHeight + 20)
        for (index, revalidator) in voting.revalidators.enumerated() {
            let key = try #require(chain.validatorKey(try Address(revalidator.address)))
            let result = try Self.send(
                chain,
                Self.validation(served.id, by: key.publicKey.address, passed: false, reason: "sampler", vote: true),
                by: key)
            #expect(result.error == nil, "\(String(describing: result.error))")
            if index == 0 { #expect(try chain.ledger.inference(served.id)?.status == .voting) }
        }
        let record = try #require(try chain.ledger.inference(served.id))
        #expect(record.status == .invalidated)
        #expect(record.refund == record.escrow)
        #expect(try chain.balance(0) == before, "the requester has the whole cost back")
        #expect(try chain.ledger.balance(of: InferenceTests.escrowModule) == .zero)
        #expect(try chain.ledger.earnings(epoch: 0, address: served.executor) == .zero)
        let stats = try #require(try Self.stats(chain, served.executor))
        #expect(stats.invalidated == 1)
        #expect(!stats.invalid, "one invalidation is not enough for INVALID")
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    @Test func anUndecidedVoteValidatesAtTheDeadlineAndRecordsAFalseAlarm() throws {
        let chain = try Self.makeChain()
        let served = try Self.served(chain)
        let first = Self.others(chain, excluding: served.executor)[0]
        try Self.send(chain, Self.validation(served.id, by: first.publicKey.address, passed: false), by: first)
        let voting = try #require(try chain.ledger.validations(of: served.id).voting)
        // One revalidator passes it, the other never votes: no side has more than half.
        let key = try #require(chain.validatorKey(try Address(voting.revalidators[0].address)))
        try Self.send(chain, Self.validation(served.id, by: key.publicKey.address, passed: true, vote: true), by: key)
        #expect(try chain.ledger.inference(served.id)?.status == .voting)
        while (chain.ledger.height ?? 0) < voting.deadlineHeight { try Self.block(chain) }
        #expect(try chain.ledger.inference(served.id)?.status == .validated)
        #expect(try chain.ledger.validations(of: served.id).voting?.outcome == "validated")
        #expect(try Self.stats(chain, first.publicKey.address)?.falseAlarms == 1)
        #expect(try Self.stats(chain, served.executor)?.validated == 1)
        // Too late now.
        let late = try #require(chain.validatorKey(try Address(voting.revalidators[1].address)))
        let result = try Self.send(
            chain, Self.validation(served.id, by: late.publicKey.address, passed: false, vote: true), by: late)
        #expect(result.error?.shortDescription == "vote_closed")
    }

    @Test func fiveConfirmedInvalidationsMakeTheExecutorInvalidWithItsEffects() throws {
        let chain = try Self.makeChain()
        let before = try chain.balance(0)
        let cheater = chain.validators[1].publicKey.address
        let first = Self.others(chain, excluding: cheater)[0]
        // Six inferences of the cheater; the sixth will still be VOTING when it is convicted.
        let all = try (0..<6).map { try Self.served(chain, executor: cheater, tag: "c\($0)") }
        try Self.send(chain, Self.validation(all[5].id, by: first.publicKey.address, passed: false), by: first)
        #expect(try chain.ledger.inference(all[5].id)?.status == .voting)
        var convicted = false
        for served in all.prefix(5) {
            try Self.send(chain, Self.validation(served.id, by: first.publicKey.address, passed: false), by: first)
            let voting = try #require(try chain.ledger.validations(of: served.id).voting)
            for revalidator in voting.revalidators {
                let key = try #require(chain.validatorKey(try Address(revalidator.address)))
                let msg = Self.validation(served.id, by: key.publicKey.address, passed: false, vote: true)
                let result = try Self.send(chain, msg, by: key)
                #expect(result.error == nil, "\(String(describing: result.error))")
                if result.events.contains(.executorInvalid(executor: cheater, epoch: 0)) { convicted = true }
            }
        }
        #expect(convicted, "INVALID after the fifth confirmed invalidation")
        let stats = try #require(try Self.stats(chain, cheater))
        #expect(stats.invalid)
        #expect(stats.invalidated == 6, "the five voted ones and the open one")
        // Out of the executor pool at once, reputation 0, its open vote invalidated and refunded.
        #expect(!(try chain.ledger.executors(model: Self.model).candidates.contains { $0.address == cheater }))
        #expect(try chain.ledger.inference(all[5].id)?.status == .invalidated)
        #expect(try chain.balance(0) == before, "every invalidated inference was refunded")
        #expect(try chain.ledger.validationStandings(epoch: 0).first { $0.address == cheater }?.reputation == 0)
        // No honest participant has a confirmed invalidation.
        for key in Self.others(chain, excluding: cheater) {
            #expect(try Self.stats(chain, key.publicKey.address)?.invalidated ?? 0 == 0)
        }
        // INVALID may not validate any more.
        let honest = try Self.served(chain, executor: first.publicKey.address, tag: "h")
        let result = try Self.send(
            chain, Self.validation(honest.id, by: cheater, passed: false), by: chain.validators[1])
        #expect(result.error?.shortDescription == "participant_invalid")
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    // MARK: Bad input

    /// Each class of bad `MsgValidation` is rejected with its code and changes nothing.
    @Test func badValidationsAreRejectedWithTheirReasonAndChangeNothing() throws {
        let chain = try Self.makeChain()
        let served = try Self.served(chain)
        let executorKey = try #require(chain.validatorKey(served.executor))
        let validators = Self.others(chain, excluding: served.executor)
        let v = validators[0]
        let va = v.publicKey.address
        // An unfinished inference: started only.
        let (request, executor, _) = try InferenceTests.request(chain, body: "{\"unfinished\":1}")
        try Self.block(
            chain,
            [
                try InferenceTests.tx(
                    chain,
                    chain.startInference(request, taKey: chain.validators[0], executor: executor, model: Self.model),
                    by: chain.validators[0])
            ])
        let outsider = chain.accounts[1]
        let cases: [(String, Wire.MsgValidation, SigningKey, String)] = [
            (
                "non-participant", Self.validation(served.id, by: outsider.publicKey.address, passed: true), outsider,
                "not_participant"
            ),
            (
                "own inference", Self.validation(served.id, by: served.executor, passed: true), executorKey,
                "own_inference"
            ),
            (
                "unknown inference", Self.validation(String(repeating: "a", count: 64), by: va, passed: true), v,
                "unknown_inference"
            ),
            ("malformed id", Self.validation("xyz", by: va, passed: true), v, "invalid_field"),
            ("unfinished", Self.validation(request.inferenceID, by: va, passed: true), v, "inference_not_finished"),
            (
                "pass with a reason", Self.validation(served.id, by: va, passed: true, reason: "sampler"), v,
                "contradictory_verdict"
            ),
            (
                "pass above threshold", Self.validation(served.id, by: va, passed: true, distance: 50_001), v,
                "contradictory_verdict"
            ),
            (
                "pass with too many misses", Self.validation(served.id, by: va, passed: true, misses: 2), v,
                "contradictory_verdict"
            ),
            (
                // A native model's 20-token output tolerates ⌊3·20/100⌋ = 0 replay misses.
                "pass with one miss of 20", Self.validation(served.id, by: va, passed: true, misses: 1), v,
                "contradictory_verdict"
            ),
            (
                "fail with unknown reason", Self.validation(served.id, by: va, passed: false, reason: "vibes"), v,
                "contradictory_verdict"
            ),
            (
                "more misses than tokens", Self.validation(served.id, by: va, passed: false, misses: 21), v,
                "contradictory_verdict"
            ),
            ("vote without a vote", Self.validation(served.id, by: va, passed: false, vote: true), v, "vote_closed"),
        ]
        for (name, msg, key, code) in cases {
            // The outsider cannot send a free duty transaction: it pays the fee and is refused by the module.
            let fee: UInt64 = key.publicKey.address == outsider.publicKey.address ? 1_000_000 : 0
            let result = try Self.send(chain, msg, by: key, fee: fee)
            #expect(result.error?.shortDescription == code, "\(name): \(String(describing: result.error))")
            #expect(result.events.isEmpty, "\(name)")
            #expect(try chain.ledger.validations(of: served.id).validations.isEmpty, "\(name) changed nothing")
            #expect(try chain.ledger.inference(served.id)?.status == .finished, "\(name)")
        }
        // The boundary itself passes: distance = threshold, misses = ⌊3·20/100⌋ = 0.
        #expect(
            try Self.send(chain, Self.validation(served.id, by: va, passed: true, distance: 50_000, misses: 0), by: v)
                .error == nil)
        // A duplicate.
        let duplicate = try Self.send(chain, Self.validation(served.id, by: va, passed: false), by: v)
        #expect(duplicate.error?.shortDescription == "duplicate")
        #expect(try chain.ledger.inference(served.id)?.status == .validated)
        #expect(try chain.ledger.supplyInvariantViolation() == nil)
    }

    /// A model retired by governance (§10) after an inference started: the verdict on that inference
    /// is still held to the model's threshold, and a lawful pass still counts.
    @Test func aRetiredModelsInferencesKeepTheirValidationThreshold() throws {
        let gnk = Amount.ngonkaPerGNK
        var params = ChainParams.devnet
        params.governance = GovernanceLedgerTests.governance
        let chain = try Self.makeChain(params: params)
        let served = try Self.served(chain)
        let v = Self.others(chain, excluding: served.executor)[0]
        let va = v.publicKey.address
        // Participant 3 proposes to retire the model (it pays the deposit), 3 and 2 vote yes.
        let funding = try [2, 3].map { i in
            try chain.sign(
                chain.body(
                    [.send(from: chain.address(i), to: chain.validators[i].publicKey.address, amount: 500 * gnk)],
                    signer: chain.accounts[i]),
                by: chain.accounts[i])
        }
        #expect(try Self.block(chain, funding).txResults.allSatisfy(\.isSuccess))
        var retire = Wire.ProposalContent()
        retire.retireModel.modelID = Self.model
        let (_, end) = try GovernanceLedgerTests.propose(chain, retire, votes: [(3, .yes), (2, .yes)])
        _ = try GovernanceLedgerTests.advance(chain, to: end)
        #expect(try chain.ledger.models().isEmpty)
        let above = try Self.send(chain, Self.validation(served.id, by: va, passed: true, distance: 50_001), by: v)
        #expect(above.error?.shortDescription == "contradictory_verdict")
        let atThreshold = Self.validation(served.id, by: va, passed: true, distance: 50_000)
        #expect(try Self.send(chain, atThreshold, by: v).error == nil)
        #expect(try chain.ledger.inference(served.id)?.status == .validated)
    }

    @Test func onlyADrawnRevalidatorMayVoteAndOnlyOnce() throws {
        var params = ChainParams.devnet
        params.validation.revalidators = 1
        let chain = try Self.makeChain(params: params)
        let served = try Self.served(chain)
        let first = Self.others(chain, excluding: served.executor)[0]
        try Self.send(chain, Self.validation(served.id, by: first.publicKey.address, passed: false), by: first)
        let voting = try #require(try chain.ledger.validations(of: served.id).voting)
        #expect(voting.revalidators.count == 1)
        let drawn = voting.revalidators[0].address
        let notDrawn = try #require(
            chain.validators.first { key in
                let a = key.publicKey.address.description
                return a != drawn && a != served.executor.description && a != first.publicKey.address.description
            })
        for key in [notDrawn, first] {
            let result = try Self.send(
                chain, Self.validation(served.id, by: key.publicKey.address, passed: false, vote: true), by: key)
            #expect(result.error != nil)
            #expect(try chain.ledger.inference(served.id)?.status == .voting)
        }
        #expect(
            try Self.send(
                chain, Self.validation(served.id, by: notDrawn.publicKey.address, passed: false, vote: true),
                by: notDrawn
            ).error?.shortDescription == "not_revalidator")
        // The one drawn decides alone.
        let key = try #require(chain.validatorKey(try Address(drawn)))
        #expect(
            try Self.send(
                chain, Self.validation(served.id, by: key.publicKey.address, passed: true, vote: true), by: key
            ).error == nil)
        #expect(try chain.ledger.inference(served.id)?.status == .validated)
    }

    @Test func aDrawnRevalidatorsEarlierOrUnflaggedCheckIsItsVote() throws {
        let chain = try Self.makeChain()
        let served = try Self.served(chain)
        let others = Self.others(chain, excluding: served.executor)
        // One validator passes it first; a second fails it: the vote is among the other two.
        let early = others[1]
        try Self.send(chain, Self.validation(served.id, by: early.publicKey.address, passed: true), by: early)
        let failing = others[0]
        try Self.send(chain, Self.validation(served.id, by: failing.publicKey.address, passed: false), by: failing)
        let voting = try #require(try chain.ledger.validations(of: served.id).voting)
        #expect(voting.revalidators.count == 2)
        let earlyEntry = try #require(voting.revalidators.first { $0.address == early.publicKey.address.description })
        #expect(earlyEntry.vote == 1, "the earlier pass counts as its vote")
        #expect(try chain.ledger.inference(served.id)?.status == .voting)
        // The last one sends its own (unflagged) check: as a drawn revalidator it is its vote.
        let last = others[2]
        let result = try Self.send(
            chain, Self.validation(served.id, by: last.publicKey.address, passed: true), by: last)
        #expect(result.error == nil, "\(String(describing: result.error))")
        #expect(try chain.ledger.inference(served.id)?.status == .validated)
        let records = try chain.ledger.validations(of: served.id).validations
        #expect(records.first { $0.validator == last.publicKey.address.description }?.vote == true)
        #expect(try Self.stats(chain, served.executor)?.validated == 1, "counted once")
        #expect(try Self.stats(chain, failing.publicKey.address)?.falseAlarms == 1)
    }

    /// At a switch the ended epoch folds into reputations (§7.1) and the new epoch's snapshot holds
    /// the traffic R of the ended one and the reputations at its start.
    @Test func reputationFoldsAtTheSwitchAndTheSnapshotCarriesTrafficAndReputations() throws {
        let chain = try Self.makeChain()
        let cheater = chain.validators[1].publicKey.address
        let honest = chain.validators[2].publicKey.address
        let served = try (0..<3).map { try Self.served(chain, executor: honest, tag: "h\($0)") }
        let bad = try Self.served(chain, executor: cheater, tag: "c")
        let first = chain.validators[3]
        for s in served {
            try Self.send(chain, Self.validation(s.id, by: first.publicKey.address, passed: true), by: first)
        }
        try Self.send(chain, Self.validation(bad.id, by: first.publicKey.address, passed: false), by: first)
        let voting = try #require(try chain.ledger.validations(of: bad.id).voting)
        for r in voting.revalidators {
            let key = try #require(chain.validatorKey(try Address(r.address)))
            try Self.send(chain, Self.validation(bad.id, by: key.publicKey.address, passed: false, vote: true), by: key)
        }
        #expect(try chain.ledger.inference(bad.id)?.status == .invalidated)
        // The switch to epoch 1, as Epochs makes it (pool, then Validation.beginEpoch).
        let state = StateContext(store: chain.store)
        try state.transaction { () throws(LedgerError) in
            let candidates = try Inference.candidates(of: try Inference.executorSet(in: state))
            try Inference.setExecutorSet(epoch: 1, epochSeed: .zero, candidates: candidates, in: state)
            try Validation.beginEpoch(1, ended: 0, candidates: candidates, params: .devnet, state: state)
        }
        try state.flush()
        try Self.block(chain)
        let snapshot = try #require(try chain.ledger.validationEpoch(1))
        #expect(snapshot.traffic == 4, "four inferences finished in epoch 0")
        let reputations = Dictionary(uniqueKeysWithValues: snapshot.weights.map { ($0.address, $0.reputation) })
        // One clean epoch of 30: ⌊100/30⌋ = 3; the invalidated executor stays at 0; a participant
        // that served nothing proves nothing and stays at 0 too.
        #expect(reputations[honest.description] == 3)
        #expect(reputations[cheater.description] == 0)
        #expect(reputations[first.publicKey.address.description] == 0)
        #expect(try chain.ledger.validationStandings(epoch: 1).first { $0.address == honest }?.reputation == 3)
    }

    @Test func validationsCloseWithTheEpochAfterTheInferences() throws {
        let chain = try Self.makeChain()
        let served = try Self.served(chain)
        let v = Self.others(chain, excluding: served.executor)[0]
        // Move the executor pool two epochs on (what Epochs does at a switch), as the next block's
        // state: the inference's epoch 0 is then past its window.
        let state = StateContext(store: chain.store)
        try state.transaction { () throws(LedgerError) in
            let pool = try Inference.executorSet(in: state)
            try Inference.setExecutorSet(
                epoch: 2, epochSeed: .zero, candidates: try Inference.candidates(of: pool), in: state)
        }
        try state.flush()
        let result = try Self.send(chain, Self.validation(served.id, by: v.publicKey.address, passed: true), by: v)
        #expect(result.error?.shortDescription == "outside_window")
        #expect(try chain.ledger.inference(served.id)?.status == .finished)
    }

    // MARK: Pure rules

    @Test func voteOutcomesFollowTheCappedMajority() {
        typealias V = Revalidation.Vote
        let outcome = Revalidation.outcome
        // Five equal revalidators: three failures are a majority.
        let five: [(weight: UInt64, vote: V)] = [
            (1, .failed), (1, .failed), (1, .failed), (1, .pending), (1, .pending),
        ]
        #expect(outcome(five, false) == .invalidated)
        // One heavy revalidator counts for at most a third: 90 of 100 failing alone does not decide.
        let heavy: [(weight: UInt64, vote: V)] = [(90, .failed), (5, .pending), (5, .pending)]
        #expect(outcome(heavy, false) == nil)
        #expect(outcome(heavy, true) == .validated, "undecided at the deadline: benefit of the doubt")
        // With the heavy one and one more failing: 1/3 + 5·3/100 of W... still below half → open.
        #expect(outcome([(90, .failed), (5, .failed), (5, .pending)], false) == nil)
        // Two revalidators: each counts at most half; both must agree.
        #expect(outcome([(10, .failed), (10, .pending)], false) == nil)
        #expect(outcome([(10, .failed), (10, .failed)], false) == .invalidated)
        #expect(outcome([(10, .failed), (10, .passed)], false) == .validated, "all voted, no majority")
        // One revalidator decides alone; none at all: the failure stands.
        #expect(outcome([(7, .failed)], false) == .invalidated)
        #expect(outcome([(7, .passed)], false) == .validated)
        #expect(outcome([], false) == .invalidated)
    }

    @Test func theRevalidatorDrawIsWithoutReplacementOrderFreeAndSeeded() throws {
        let candidates = (0..<6).map { i in
            Revalidation.Candidate(address: TestChain.key(seed: 9, index: i).publicKey.address, weight: UInt64(i * 10))
        }
        let seed = Revalidation.seed(blockHash: .zero, inferenceID: "x")
        let a = try Revalidation.draw(count: 3, from: candidates, seed: seed)
        let b = try Revalidation.draw(count: 3, from: candidates.reversed(), seed: seed)
        #expect(a == b, "the caller's order does not matter")
        #expect(Set(a.map(\.address)).count == 3)
        #expect(!a.contains { $0.weight == 0 }, "a zero weight is never drawn")
        #expect(try Revalidation.draw(count: 10, from: candidates, seed: seed).count == 5)
        let other = try Revalidation.draw(
            count: 3, from: candidates, seed: Revalidation.seed(blockHash: .zero, inferenceID: "y"))
        let draws = try (0..<50).map { i in
            try Revalidation.draw(
                count: 1, from: candidates, seed: Revalidation.seed(blockHash: .zero, inferenceID: "\(i)"))[0]
        }
        #expect(Set(draws.map(\.address)).count > 2 || a != other, "the seed moves the draw")
    }
}
