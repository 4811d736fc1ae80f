import GonkaCore
import GonkaWire

extension Validation {
    // MARK: Revalidation (§7.3)

    /// A first failure: the inference goes to VOTING and revalidators are drawn from the epoch's
    /// participants other than the executor, the failing validator and anyone INVALID.
    static func openVote(
        rec: inout Wire.InferenceRecord, firstValidator: Address, reason: String, context: BlockContext,
        params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let executor = try executor(of: rec)
        let snapshot = try ValidationStore.epoch(rec.epoch, in: state) ?? Wire.ValidationEpoch()
        var candidates: [Revalidation.Candidate] = []
        for entry in snapshot.weights {
            let address = try parseAddress(entry.address, field: "snapshot address")
            guard address != executor, address != firstValidator,
                !(try isInvalid(address, epoch: rec.epoch, in: state))
            else { continue }
            candidates.append(Revalidation.Candidate(address: address, weight: entry.weight))
        }
        let drawn: [Revalidation.Candidate]
        do {
            drawn = try Revalidation.draw(
                count: Int(clamping: params.validation.revalidators), from: candidates,
                seed: Revalidation.seed(blockHash: context.lastBlockHash ?? .zero, inferenceID: rec.inferenceID))
        } catch {
            throw .overflow("revalidator weights")
        }
        var voting = Wire.VotingRecord()
        voting.inferenceID = rec.inferenceID
        voting.firstValidator = firstValidator.description
        voting.firstReason = reason
        voting.failureHeight = context.height
        voting.deadlineHeight = context.height &+ params.validation.invalidationVoteBlocks
        voting.alreadyValidated = rec.status == .validated
        // A drawn participant that already checked the inference has voted: its verdict counts.
        for candidate in drawn {
            var entry = Wire.Revalidator()
            entry.address = candidate.address.description
            entry.weight = candidate.weight
            if let earlier = try state.record(
                Wire.ValidationRecord.self, at: StateKey.validationRecord(rec.inferenceID, candidate.address),
                what: "validation record")
            {
                entry.vote = earlier.passed ? 1 : 2
            }
            voting.revalidators.append(entry)
        }
        rec.status = .voting
        try state.setRecord(rec, at: StateKey.inferenceRecord(rec.inferenceID))
        var events: [LedgerEvent] = [
            .inferenceVoting(
                inferenceID: rec.inferenceID, executor: executor, firstValidator: firstValidator, reason: reason,
                revalidators: drawn.map(\.address), deadlineHeight: voting.deadlineHeight)
        ]
        if drawn.isEmpty {
            // Nobody else serves the model: the failure stands (Revalidation.outcome).
            try state.setRecord(voting, at: StateKey.voting(rec.inferenceID))
            events += try decide(
                &voting, outcome: .invalidated, rec: &rec, context: context, params: params, state: state)
            return events
        }
        try state.setRecord(voting, at: StateKey.voting(rec.inferenceID))
        state.set(StateKey.openVote(rec.inferenceID), [])
        try ValidationStore.countOpenVote(rec.epoch, opened: true, in: state)
        state.set(StateKey.voteDeadline(height: voting.deadlineHeight, id: rec.inferenceID), [])
        state.set(StateKey.executorVote(executor, rec.inferenceID), [])
        if let outcome = Revalidation.outcome(votes: tally(voting), deadlinePassed: false) {
            events += try decideOpen(
                &voting, outcome: outcome, rec: &rec, context: context, params: params, state: state)
        }
        return events
    }

    /// A drawn revalidator's vote; decides the vote once a side has won or everyone has voted.
    static func castVote(
        _ msg: Wire.MsgValidation, by validator: Address, record rec: inout Wire.InferenceRecord,
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        guard rec.status == .voting, var voting = try ValidationStore.voting(rec.inferenceID, in: state),
            voting.outcome.isEmpty
        else { throw .voteClosed(rec.inferenceID) }
        let text = validator.description
        guard let index = voting.revalidators.firstIndex(where: { $0.address == text && $0.vote == 0 }) else {
            throw .notRevalidator(validator, id: rec.inferenceID)
        }
        voting.revalidators[index].vote = msg.passed ? 1 : 2
        try state.setRecord(voting, at: StateKey.voting(rec.inferenceID))
        guard let outcome = Revalidation.outcome(votes: tally(voting), deadlinePassed: false) else { return [] }
        return try decideOpen(&voting, outcome: outcome, rec: &rec, context: context, params: params, state: state)
    }

    static func tally(_ voting: Wire.VotingRecord) -> [(weight: UInt64, vote: Revalidation.Vote)] {
        voting.revalidators.map { entry in
            (entry.weight, entry.vote == 1 ? .passed : entry.vote == 2 ? .failed : .pending)
        }
    }

    /// Decides an open vote and removes it from the open indexes.
    static func decideOpen(
        _ voting: inout Wire.VotingRecord, outcome: Revalidation.Outcome, rec: inout Wire.InferenceRecord,
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let executor = try executor(of: rec)
        state.delete(StateKey.openVote(rec.inferenceID))
        try ValidationStore.countOpenVote(rec.epoch, opened: false, in: state)
        state.delete(StateKey.voteDeadline(height: voting.deadlineHeight, id: rec.inferenceID))
        state.delete(StateKey.executorVote(executor, rec.inferenceID))
        return try decide(&voting, outcome: outcome, rec: &rec, context: context, params: params, state: state)
    }

    /// Applies a vote's outcome to the inference, the money and the executor's test.
    private static func decide(
        _ voting: inout Wire.VotingRecord, outcome: Revalidation.Outcome, rec: inout Wire.InferenceRecord,
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let executor = try executor(of: rec)
        voting.decidedHeight = context.height
        var events: [LedgerEvent] = []
        switch outcome {
        case .invalidated:
            voting.outcome = "invalidated"
            try state.setRecord(voting, at: StateKey.voting(rec.inferenceID))
            events += try invalidate(&rec, params: params, state: state)
            events += try recordOutcome(.invalidated, of: rec, context: context, params: params, state: state)
        case .validated:
            voting.outcome = "validated"
            try state.setRecord(voting, at: StateKey.voting(rec.inferenceID))
            rec.status = .validated
            try state.setRecord(rec, at: StateKey.inferenceRecord(rec.inferenceID))
            events.append(.inferenceValidated(inferenceID: rec.inferenceID, executor: executor))
            if let first = try? Address(voting.firstValidator) {
                try ValidationStore.updateStats(rec.epoch, first, in: state) { $0.falseAlarms &+= 1 }
            }
            if !voting.alreadyValidated {
                events += try recordOutcome(.validated, of: rec, context: context, params: params, state: state)
            }
        }
        return events
    }

    /// INVALIDATED: the requester gets the whole cost back at once (it was still in the inference
    /// account: costs are only paid out at the epoch's settlement), the executor's work counters
    /// lose it and the validators that passed it their shares (``Rewards/inferenceInvalidated``).
    private static func invalidate(
        _ rec: inout Wire.InferenceRecord, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let executor = try executor(of: rec)
        let requester = try parseAddress(rec.requester, field: "requester")
        let cost = Amount(ngonka: rec.cost)
        if cost > .zero {
            try Bank.transfer(from: Inference.moduleAddress, to: requester, amount: cost, in: state)
        }
        try Rewards.inferenceInvalidated(rec, params: params.rewards, state: state)
        rec.refund &+= rec.cost
        rec.status = .invalidated
        try state.setRecord(rec, at: StateKey.inferenceRecord(rec.inferenceID))
        return [.inferenceInvalidated(inferenceID: rec.inferenceID, executor: executor, refund: cost)]
    }

    // MARK: The sequential test (§7.4)

    /// Counts a confirmed outcome for the inference's executor in the inference's epoch and runs
    /// the sequential test; crossing its threshold makes the executor INVALID at once.
    static func recordOutcome(
        _ outcome: SequentialTest.Outcome, of rec: Wire.InferenceRecord, context: BlockContext, params: ChainParams,
        state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let executor = try executor(of: rec)
        let test: SequentialTest
        do {
            let v = params.validation
            test = try SequentialTest(
                honestFailRatePpb: v.honestFailRatePpb, cheaterFailRatePpb: v.cheaterFailRatePpb,
                falseConvictionRatePpb: v.falseConvictionRatePpb)
        } catch {
            throw .storage(StateCorruption(what: "validation parameters: \(error)"))
        }
        var stats = try ValidationStore.stats(rec.epoch, executor, in: state)
        switch outcome {
        case .validated: stats.validated &+= 1
        case .invalidated: stats.invalidated &+= 1
        }
        let wasInvalid = stats.invalid
        let next = test.recording(outcome, in: SequentialTest.State(llr: stats.llr, isInvalid: stats.invalid))
        stats.llr = next.llr
        stats.invalid = next.isInvalid
        var events: [LedgerEvent] = []
        if next.isInvalid, !wasInvalid {
            stats.invalidHeight = context.height
            try ValidationStore.saveStats(stats, in: state)
            events += try declareInvalid(executor, epoch: rec.epoch, context: context, params: params, state: state)
        } else {
            try ValidationStore.saveStats(stats, in: state)
        }
        return events
    }

    /// INVALID (§7.4): out of the executor pool (if the epoch is the current one), reputation 0,
    /// every inference of it still VOTING invalidated and refunded, and `slash_invalid` of its
    /// collateral burned (§9). (Forfeiting the epoch's settlement belongs to Rewards, §8.)
    private static func declareInvalid(
        _ executor: Address, epoch: UInt64, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        var events: [LedgerEvent] = [.executorInvalid(executor: executor, epoch: epoch)]
        events.append(try Slashing.invalid(executor, epoch: epoch, context: context, params: params, state: state))
        if try Inference.currentEpoch(in: state) == epoch {
            try Inference.removeFromExecutorSet(executor, context: context, in: state)
        }
        var reputation = try ValidationStore.reputation(executor, in: state)
        reputation.cleanEpochs = 0
        try state.setRecord(reputation, at: StateKey.reputation(executor))
        for entry in try state.entries(withPrefix: StateKey.executorVotes(executor)) {
            let id = String(decoding: entry.key.dropFirst(StateKey.executorVotes(executor).count), as: UTF8.self)
            guard var rec = try Inference.record(id, in: state), rec.status == .voting,
                var voting = try ValidationStore.voting(id, in: state)
            else {
                state.delete(entry.key)
                continue
            }
            events += try decideOpen(
                &voting, outcome: .invalidated, rec: &rec, context: context, params: params, state: state)
        }
        return events
    }

    // MARK: End-block

    /// Decides the votes whose deadline is this block: a side that won already won; otherwise
    /// VALIDATED (benefit of the doubt, §7.3).
    static func endBlock(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        var events: [LedgerEvent] = []
        let prefix = StateKey.voteDeadlines(height: context.height)
        for entry in try state.entries(withPrefix: prefix) {
            let id = String(decoding: entry.key.dropFirst(prefix.count), as: UTF8.self)
            guard var rec = try Inference.record(id, in: state), rec.status == .voting,
                var voting = try ValidationStore.voting(id, in: state), voting.outcome.isEmpty
            else {
                state.delete(entry.key)
                continue
            }
            let outcome = Revalidation.outcome(votes: tally(voting), deadlinePassed: true) ?? .validated
            events += try decideOpen(
                &voting, outcome: outcome, rec: &rec, context: context, params: params, state: state)
        }
        return events
    }
}
