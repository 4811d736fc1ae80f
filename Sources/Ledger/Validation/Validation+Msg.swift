import GonkaCore
import GonkaWire

extension Validation {
    // MARK: MsgValidation

    /// `MsgValidation` (PROTOCOL §7.2, §7.3), authority = the validator. Rejected, changing nothing:
    /// a validator without weight in the inference's epoch or INVALID in it, its own inference, an
    /// unknown or unfinished inference, a second validation by the same validator, one after the
    /// window (the end of the epoch after the inference's), a vote from someone not drawn or not
    /// during an open vote, and a verdict whose numbers contradict its pass/fail.
    static func handle(
        _ msg: Wire.MsgValidation, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let validator = try parseAddress(msg.validator, field: "validator")
        try Inference.validateID(msg.inferenceID)
        guard var rec = try Inference.record(msg.inferenceID, in: state) else {
            throw .unknownInference(msg.inferenceID)
        }
        switch rec.status {
        case .finished, .validated, .voting, .invalidated: break
        default: throw .notFinished(msg.inferenceID, status: InferenceQueries.statusName(rec.status))
        }
        guard try weight(of: validator, epoch: rec.epoch, in: state) > 0 else { throw .notParticipant(validator) }
        guard !(try isInvalid(validator, epoch: rec.epoch, in: state)) else { throw .participantInvalid(validator) }
        guard rec.executor != validator.description else { throw .ownInference(msg.inferenceID) }
        let current = try Inference.currentEpoch(in: state)
        guard current <= rec.epoch &+ windowEpochs else {
            throw .outsideWindow(
                "validations of epoch \(rec.epoch)'s inferences closed with epoch \(rec.epoch + windowEpochs)")
        }
        guard try state.get(StateKey.validationRecord(msg.inferenceID, validator)) == nil else {
            throw .duplicate("\(validator) already validated inference \(msg.inferenceID)")
        }
        try checkVerdict(msg, completionTokens: rec.completionTokens, model: rec.model, state: state)
        // A drawn revalidator's check while the vote is open is its vote, whatever its flag says.
        let pending = try isPendingRevalidator(validator, of: rec, in: state)
        let asVote = msg.vote || pending

        var stored = Wire.ValidationRecord()
        stored.inferenceID = msg.inferenceID
        stored.validator = validator.description
        stored.passed = msg.passed
        stored.reason = msg.reason
        stored.distancePpm = msg.distancePpm
        stored.samplerMisses = msg.samplerMisses
        stored.height = context.height
        stored.epoch = rec.epoch
        stored.vote = asVote
        try state.setRecord(stored, at: StateKey.validationRecord(msg.inferenceID, validator))
        state.set(StateKey.validationByEpoch(rec.epoch, validator, msg.inferenceID), [])
        try ValidationStore.updateStats(rec.epoch, validator, in: state) { $0.validationsDone &+= 1 }
        var events: [LedgerEvent] = [
            .validationRecorded(
                inferenceID: msg.inferenceID, validator: validator, passed: msg.passed, reason: msg.reason,
                vote: asVote)
        ]

        if msg.passed {
            try Rewards.validationPassed(rec, by: validator, params: params.rewards, state: state)
        }
        if asVote {
            events += try castVote(msg, by: validator, record: &rec, context: context, params: params, state: state)
        } else if msg.passed {
            if rec.status == .finished {
                rec.status = .validated
                try state.setRecord(rec, at: StateKey.inferenceRecord(rec.inferenceID))
                events.append(.inferenceValidated(inferenceID: rec.inferenceID, executor: try executor(of: rec)))
                events += try recordOutcome(.validated, of: rec, context: context, params: params, state: state)
            }
        } else if rec.status == .finished || rec.status == .validated {
            events += try openVote(
                rec: &rec, firstValidator: validator, reason: msg.reason, context: context, params: params,
                state: state)
        }
        return events
    }

    /// The verdict's own consistency: a pass has no reason, a distance within the model's
    /// threshold and misses within §7.2 test 3's allowance; a failure names a known reason; nobody
    /// misses more positions than the output has.
    static func checkVerdict(
        _ msg: Wire.MsgValidation, completionTokens: UInt64, model: String, state: StateContext
    ) throws(LedgerError) {
        guard msg.samplerMisses <= completionTokens else {
            throw .contradictoryVerdict(
                "sampler_misses \(msg.samplerMisses) is more than the output's \(completionTokens) tokens")
        }
        guard msg.passed else {
            guard reasons.contains(msg.reason) else {
                throw .contradictoryVerdict(
                    "a failed validation needs a reason (\(reasons.sorted().joined(separator: ", "))), "
                        + "not \"\(msg.reason)\"")
            }
            return
        }
        guard msg.reason.isEmpty else {
            throw .contradictoryVerdict("a passed validation gives reason \"\(msg.reason)\"")
        }
        let info = try Inference.validationModelInfo(model, in: state)
        let threshold = info?.validationThresholdPpm ?? 0
        if threshold > 0, msg.distancePpm > threshold {
            throw .contradictoryVerdict(
                "passed with distance_ppm \(msg.distancePpm) above the model's threshold \(threshold)")
        }
        // Test 3's replay tolerance, or test 4's argmax one for a model served by an opaque sampler.
        let allowed =
            info?.sampler == "opaque"
            ? MissTolerance.argmax(positions: completionTokens) : MissTolerance.replay(positions: completionTokens)
        guard msg.samplerMisses <= allowed else {
            throw .contradictoryVerdict(
                "passed with \(msg.samplerMisses) sampler misses, more than the \(allowed) allowed")
        }
    }

    /// Whether `validator` was drawn for the open vote on `rec` and has not voted yet.
    static func isPendingRevalidator(
        _ validator: Address, of rec: Wire.InferenceRecord, in state: StateContext
    ) throws(LedgerError) -> Bool {
        guard rec.status == .voting, let voting = try ValidationStore.voting(rec.inferenceID, in: state),
            voting.outcome.isEmpty
        else { return false }
        let text = validator.description
        return voting.revalidators.contains { $0.address == text && $0.vote == 0 }
    }

    static func executor(of rec: Wire.InferenceRecord) throws(LedgerError) -> Address {
        try parseAddress(rec.executor, field: "executor")
    }
}
