import GonkaCore
import GonkaWire

extension Rewards {
    // MARK: MsgClaimRewards (§8.4)

    /// `MsgClaimRewards`, authority = the participant. Rejected, changing nothing: no settlement
    /// for the epoch (not yet settled, or nothing owed), one already claimed or burned, a seed whose
    /// SHA-256 is not the participant's commitment. Accepted, it either pays the settlement (every
    /// validation the seed obliged was sent) or burns it (a missed obligation, or an epoch ≥ 1
    /// without a committed seed, which cannot be audited).
    static func handle(
        _ msg: Wire.MsgClaimRewards, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let participant = try parseAddress(msg.participant, field: "participant")
        guard var settlement = try RewardsStore.settlement(msg.epoch, participant, in: state) else {
            let totals = try RewardsStore.totals(in: state)
            if msg.epoch >= totals.nextEpoch {
                throw .outsideWindow(
                    "epoch \(msg.epoch) is not settled yet (an epoch is settled once its validation window, "
                        + "the next epoch, has ended)")
            }
            throw .noSettlement(participant, epoch: msg.epoch)
        }
        guard settlement.status == pending else {
            throw .duplicate(
                "the settlement of epoch \(msg.epoch) was already \(settlement.status)"
                    + (settlement.reason.isEmpty ? "" : " (\(settlement.reason))"))
        }
        let commitment = try seedCommitment(of: participant, epoch: msg.epoch, in: state)
        var totals = try RewardsStore.totals(in: state)
        guard var epochRecord = try RewardsStore.epochSettlement(msg.epoch, in: state) else {
            throw .storage(StateCorruption(what: "epoch settlement \(msg.epoch)"))
        }
        var events: [LedgerEvent] = []
        if let commitment {
            guard msg.seed.count == 32, let seed = Hash(bytes: msg.seed) else {
                throw .invalidField("seed", "must be the 32-byte seed committed at epoch \(msg.epoch)'s sprint")
            }
            guard Hash.sha256(seed.bytes) == commitment else {
                throw .seedMismatch(participant, epoch: msg.epoch)
            }
            let missed = try missedObligations(
                of: participant, seed: seed, epoch: msg.epoch, params: params.validation, state: state)
            if missed > 0 {
                settlement.missedValidations = missed
                events += try burn(
                    &settlement, reason: "missed_validations", height: context.height, totals: &totals,
                    epochRecord: &epochRecord, state: state)
            }
        } else if msg.epoch >= 1 {
            // Weight without a committed seed: nobody can say which validations it owed.
            events += try burn(
                &settlement, reason: "no_seed_commitment", height: context.height, totals: &totals,
                epochRecord: &epochRecord, state: state)
        } else {
            guard msg.seed.isEmpty else {
                throw .invalidField("seed", "epoch 0 (genesis) has no seed commitment; send an empty seed")
            }
        }
        if settlement.status == pending {
            let amount = settlement.reward &+ settlement.work
            try Bank.transfer(from: account, to: participant, amount: Amount(ngonka: amount), in: state)
            totals.pending -= amount
            totals.claimed &+= amount
            epochRecord.claimed &+= amount
            settlement.status = claimed
            settlement.closedHeight = context.height
            events.append(.rewardsClaimed(epoch: msg.epoch, participant: participant, amount: Amount(ngonka: amount)))
        }
        try state.setRecord(settlement, at: StateKey.settlement(msg.epoch, participant))
        try state.setRecord(epochRecord, at: StateKey.epochSettlement(msg.epoch))
        try RewardsStore.saveTotals(totals, in: state)
        return events
    }

    /// SHA-256(seed) the participant committed at `epoch`'s sprint, kept in the epoch record when
    /// the weights were computed; nil when it committed none (and always for epoch 0).
    static func seedCommitment(
        of participant: Address, epoch: UInt64, in state: StateContext
    ) throws(LedgerError)
        -> Hash?
    {
        guard epoch >= 1, let record = try Epochs.epoch(epoch, in: state) else { return nil }
        let text = participant.description
        guard let member = record.participants.first(where: { $0.address == text }), !member.seedHash.isEmpty else {
            return nil
        }
        return Hash(bytes: member.seedHash)
    }

    /// How many of `epoch`'s finished inferences `seed` obliged `participant` to validate (§7.1,
    /// with issue 9's ``ValidationObligations``) without a `MsgValidation` from it on chain.
    static func missedObligations(
        of participant: Address, seed: Hash, epoch: UInt64, params: ValidationParams, state: StateContext
    ) throws(LedgerError) -> UInt64 {
        guard let inputs = try ValidationStore.obligationInputs(epoch, in: state) else { return 0 }
        var snapshots: [String: ValidationObligations.Snapshot] = [:]
        let prefix = StateKey.finished(epoch: epoch)
        var missed: UInt64 = 0
        for entry in try state.entries(withPrefix: prefix) {
            let id = String(decoding: entry.key.dropFirst(prefix.count), as: UTF8.self)
            guard entry.value.count >= 20, let executor = Address(bytes: entry.value.prefix(20)) else {
                throw .storage(StateCorruption(what: "finished-inference index of epoch \(epoch)"))
            }
            let model = String(decoding: entry.value.dropFirst(20), as: UTF8.self)
            let inference = ValidationObligations.FinishedInference(id: id, executor: executor, model: model)
            let snapshot = snapshots[model] ?? inputs.snapshot(model: model)
            snapshots[model] = snapshot
            let probability: ValidationSampling.Probability
            do {
                probability = try ValidationObligations.probability(
                    validator: participant, inference: inference, snapshot: snapshot, params: params)
            } catch {
                throw .overflow("validation probability: \(error)")
            }
            guard probability.numerator > 0,
                ValidationSampling.isObliged(seed: seed, inferenceID: id, probability: probability)
            else { continue }
            if try state.get(StateKey.validationRecord(id, participant)) == nil { missed += 1 }
        }
        return missed
    }
}
