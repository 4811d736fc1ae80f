import GonkaCore
import GonkaWire

extension StateKey {
    /// Index of every inference record (empty values) under the epoch whose claim window closing
    /// deletes it (PROTOCOL §3.3): the record's own epoch, or a later one when it had to wait.
    static let inferenceByEpochPrefix = Array("inference/by_epoch/".utf8)

    static func inferenceByEpoch(_ epoch: UInt64, _ id: String) -> [UInt8] {
        inferencesByEpoch(epoch) + Array(id.utf8)
    }
    static func inferencesByEpoch(_ epoch: UInt64) -> [UInt8] { inferenceByEpochPrefix + BigEndian.encode(epoch) }
}

/// Pruning by rule (PROTOCOL §3.3 "As built"): the per-inference records of an epoch are deleted in
/// the end-block that closes the epoch's claim window, the moment the last rule that reads them can
/// no longer need them. Until then they are read by, in order of closing: the expiry (§6.4), the
/// validation window (§7.1, the epoch after the inference's), revalidation votes (§7.3, decided
/// before the epoch settles), settlement (§8.4, which reads per-epoch counters, already dropped
/// there) and the claim audit (§8.4, which reads the finished index and the validation records
/// until the claim window closes). The per-epoch aggregates (the epoch's settlement summary and
/// per-participant settlements, the sampling snapshot, the traffic count, the validation stats)
/// stay for the explorer and queries: their size follows participants × epochs, not traffic.
///
/// Deterministic: ids come from a prefix scan (key order), the only time read is the block's.
enum Pruning {
    /// Records that `epoch`'s records are pruned once its claims close (called where a record is
    /// created, and again when a Start after its Finish moves it to another epoch).
    static func index(_ id: String, epoch: UInt64, in state: StateContext) {
        state.set(StateKey.inferenceByEpoch(epoch, id), [])
    }

    /// What one call deleted: inference records (with their validation and voting records) and
    /// records kept for a later epoch because a rule could still read them.
    struct Outcome: Sendable, Equatable {
        var pruned: UInt64 = 0
        var deferred: UInt64 = 0
    }

    /// Deletes the per-inference records of `epoch` once its claim window has closed (called by
    /// Rewards right after the unclaimed settlements are burned): every inference record indexed
    /// under it, its validation records and voting record, and the epoch's validation index. A
    /// record still open (a Start or Finish not yet expired) or whose request timestamp is still
    /// inside the request window (a replayed Start would be accepted again without its record,
    /// §6.2) is moved to the next epoch's index instead: it is pruned when that one closes.
    static func pruneEpoch(
        _ epoch: UInt64, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> Outcome {
        var outcome = Outcome()
        let prefix = StateKey.inferencesByEpoch(epoch)
        let now = try Inference.blockTime(context, in: state)
        let window = RequestWindow(params)
        for entry in try state.entries(withPrefix: prefix) {
            state.delete(entry.key)
            let id = String(decoding: entry.key.dropFirst(prefix.count), as: UTF8.self)
            guard let record = try Inference.record(id, in: state) else { continue }
            if isStillNeeded(record, now: now, window: window) {
                index(id, epoch: epoch &+ 1, in: state)
                outcome.deferred += 1
                continue
            }
            state.delete(StateKey.inferenceRecord(id))
            for validation in try state.entries(withPrefix: StateKey.validationRecords(id)) {
                state.delete(validation.key)
            }
            state.delete(StateKey.voting(id))
            outcome.pruned += 1
        }
        for entry in try state.entries(withPrefix: StateKey.validationsByEpoch(epoch)) { state.delete(entry.key) }
        return outcome
    }

    /// Whether a rule can still read `record`: it is open (its expiry index still points at it), or
    /// a Start carrying its request could still be accepted (the timestamp is not yet too old).
    private static func isStillNeeded(_ record: Wire.InferenceRecord, now: Int64, window: RequestWindow) -> Bool {
        switch record.status {
        // Open, or waiting for a vote (never past settlement, which waits for every vote).
        case .started, .awaitingStart, .voting: return true
        default: break
        }
        guard record.timestamp != 0 else { return false }
        return window.place(record.timestamp, reference: now) != .tooOld
    }
}
