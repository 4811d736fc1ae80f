import GonkaCore
import GonkaWire

/// Module Validation (PROTOCOL §7): validators' checks of finished inferences (`MsgValidation`),
/// the revalidation vote a failure opens (§7.3), the per-epoch sequential test over confirmed
/// outcomes (§7.4, ``SequentialTest``), INVALID with its effects, and reputation across epochs
/// (§7.1, ``Reputation``). The pure rules live in this folder's other types; this enum applies them
/// to state.
///
/// Lifecycle of an inference after its Finish (status in the inference record):
/// * FINISHED —first pass→ VALIDATED (a confirmed `validated` outcome for the executor);
/// * FINISHED or VALIDATED —first failure→ VOTING: revalidators are drawn (``Revalidation``);
/// * VOTING → INVALIDATED (the requester refunded the whole cost at once, the executor's earnings
///   for it removed, a confirmed `invalidated` outcome) or → VALIDATED (the first validator's
///   failure recorded as a false alarm; a `validated` outcome unless the inference already had one).
/// Later validations of a decided inference are recorded (they answer the validator's obligation,
/// §7.1) but change nothing.
///
/// The counts and the sequential test are kept per executor **per epoch of the inference**
/// (`ValidationStats`), whatever block the outcome lands in.
enum Validation {
    /// The reasons a failed `MsgValidation` may give (§7.2).
    static let reasons: Set<String> = ["commitment", "unavailable", "distribution", "sampler", "likelihood"]

    /// Validations of an epoch's inferences are accepted until the end of the next epoch (the one
    /// whose claim, §8.4, audits them).
    static let windowEpochs: UInt64 = 1

    // MARK: Epoch start

    /// Called when epoch `epoch`'s executor pool takes effect (genesis and each switch, right after
    /// `Inference.setExecutorSet`), with `ended` the epoch of the pool it replaces (nil at genesis;
    /// not always `epoch − 1`: an epoch whose sprint produced no weights keeps the old pool): folds
    /// the ended epoch into every participant's reputation, then records the new epoch's fixed
    /// sampling inputs (traffic R = inferences finished in the ended epoch, weights, reputations).
    static func beginEpoch(
        _ epoch: UInt64, ended: UInt64?, candidates: [ExecutorDraw.Candidate], params: ChainParams,
        state: StateContext
    ) throws(LedgerError) {
        if let ended { try foldReputations(ended: ended, params: params.validation, state: state) }
        var snapshot = Wire.ValidationEpoch()
        snapshot.epoch = epoch
        snapshot.traffic = try ended.map { e throws(LedgerError) in try ValidationStore.traffic(e, in: state) } ?? 0
        for candidate in candidates.filter({ $0.weight > 0 }).sorted(by: {
            $0.address.bytes.lexicographicallyPrecedes($1.address.bytes)
        }) {
            var entry = Wire.ValidationWeight()
            entry.address = candidate.address.description
            entry.weight = candidate.weight
            entry.reputation = Reputation(
                cleanEpochs: try ValidationStore.reputation(candidate.address, in: state).cleanEpochs
            ).score(params: params.validation)
            snapshot.weights.append(entry)
        }
        try state.setRecord(snapshot, at: StateKey.validationEpoch(epoch))
    }

    /// §7.1's reputation update, once per ended epoch, for every participant with stats in it (one
    /// without any served or missed inference proves nothing and keeps its count).
    private static func foldReputations(
        ended: UInt64, params: ValidationParams, state: StateContext
    ) throws(LedgerError) {
        let all = try state.records(
            Wire.ValidationStats.self, withPrefix: StateKey.validationStats(epoch: ended), what: "validation stats")
        for stats in all {
            let address = try parseAddress(stats.address, field: "stats address")
            var record = try ValidationStore.reputation(address, in: state)
            let next = Reputation(cleanEpochs: record.cleanEpochs).next(
                after: Reputation.EpochRecord(
                    served: stats.served, missed: stats.missed, confirmedInvalidation: stats.invalidated > 0),
                params: params)
            record.cleanEpochs = next.cleanEpochs
            record.lastEpoch = ended
            try state.setRecord(record, at: StateKey.reputation(address))
        }
    }

    // MARK: Hooks of module Inference

    /// An inference was settled (Start and Finish in): one more served for its executor and one
    /// more finished inference in its epoch's traffic.
    static func inferenceFinished(_ rec: Wire.InferenceRecord, state: StateContext) throws(LedgerError) {
        let executor = try parseAddress(rec.executor, field: "executor")
        try ValidationStore.updateStats(rec.epoch, executor, in: state) { $0.served &+= 1 }
        try ValidationStore.addTraffic(rec.epoch, in: state)
    }

    /// An executor missed an inference of `epoch` (skipped or expired).
    static func inferenceMissed(_ executor: Address, epoch: UInt64, state: StateContext) throws(LedgerError) {
        try ValidationStore.updateStats(epoch, executor, in: state) { $0.missed &+= 1 }
    }

    // MARK: Who may validate

    /// The participant's weight in the inference's epoch (0: not a participant then).
    static func weight(of address: Address, epoch: UInt64, in state: StateContext) throws(LedgerError) -> UInt64 {
        let text = address.description
        return try ValidationStore.epoch(epoch, in: state)?.weights.first { $0.address == text }?.weight ?? 0
    }

    /// Whether `address` is INVALID in `epoch`.
    static func isInvalid(_ address: Address, epoch: UInt64, in state: StateContext) throws(LedgerError) -> Bool {
        try ValidationStore.stats(epoch, address, in: state).invalid
    }
}
