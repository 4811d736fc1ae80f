import GonkaCore
import GonkaWire

/// State keys of module Validation. Numbers are 8-byte big-endian and addresses their 20 raw bytes,
/// so prefix scans come back in numeric, then address, order.
extension StateKey {
    static let validationRecordPrefix = Array("validation/record/".utf8)
    static let validationByEpochPrefix = Array("validation/by_epoch/".utf8)
    static let votingPrefix = Array("validation/voting/".utf8)
    static let openVotePrefix = Array("validation/open_vote/".utf8)
    static let voteDeadlinePrefix = Array("validation/vote_deadline/".utf8)
    static let executorVotePrefix = Array("validation/executor_vote/".utf8)
    static let validationStatsPrefix = Array("validation/stats/".utf8)
    static let reputationPrefix = Array("validation/reputation/".utf8)
    static let validationEpochPrefix = Array("validation/epoch/".utf8)
    static let trafficPrefix = Array("validation/traffic/".utf8)
    static let openVoteCountPrefix = Array("validation/open_votes/".utf8)

    /// `Wire.ValidationRecord` of one validator's check of one inference.
    static func validationRecord(_ id: String, _ validator: Address) -> [UInt8] {
        validationRecordPrefix + Array(id.utf8) + validator.bytes
    }
    static func validationRecords(_ id: String) -> [UInt8] { validationRecordPrefix + Array(id.utf8) }
    /// Empty-valued index of validations by the inference's epoch and the validator.
    static func validationByEpoch(_ epoch: UInt64, _ validator: Address, _ id: String) -> [UInt8] {
        validationByEpochPrefix + BigEndian.encode(epoch) + validator.bytes + Array(id.utf8)
    }
    static func validationsByEpoch(_ epoch: UInt64, _ validator: Address? = nil) -> [UInt8] {
        validationByEpochPrefix + BigEndian.encode(epoch) + (validator?.bytes ?? [])
    }
    /// `Wire.VotingRecord` of a failed inference (open or decided).
    static func voting(_ id: String) -> [UInt8] { votingPrefix + Array(id.utf8) }
    /// Empty-valued index of open votes, by inference id.
    static func openVote(_ id: String) -> [UInt8] { openVotePrefix + Array(id.utf8) }
    /// Empty-valued index of open votes under the height whose end-block decides them.
    static func voteDeadline(height: UInt64, id: String) -> [UInt8] {
        voteDeadlinePrefix + BigEndian.encode(height) + Array(id.utf8)
    }
    static func voteDeadlines(height: UInt64) -> [UInt8] { voteDeadlinePrefix + BigEndian.encode(height) }
    /// Empty-valued index of an executor's open votes (INVALID invalidates them at once).
    static func executorVote(_ executor: Address, _ id: String) -> [UInt8] {
        executorVotePrefix + executor.bytes + Array(id.utf8)
    }
    static func executorVotes(_ executor: Address) -> [UInt8] { executorVotePrefix + executor.bytes }
    /// `Wire.ValidationStats` of one participant in one epoch.
    static func validationStats(_ epoch: UInt64, _ address: Address) -> [UInt8] {
        validationStatsPrefix + BigEndian.encode(epoch) + address.bytes
    }
    static func validationStats(epoch: UInt64) -> [UInt8] { validationStatsPrefix + BigEndian.encode(epoch) }
    /// `Wire.ReputationRecord` of a participant.
    static func reputation(_ address: Address) -> [UInt8] { reputationPrefix + address.bytes }
    /// `Wire.ValidationEpoch`: the epoch-fixed inputs of §7.1's sampling.
    static func validationEpoch(_ epoch: UInt64) -> [UInt8] { validationEpochPrefix + BigEndian.encode(epoch) }
    /// Inferences finished in an epoch (8-byte big-endian): the next epoch's traffic R.
    static func traffic(_ epoch: UInt64) -> [UInt8] { trafficPrefix + BigEndian.encode(epoch) }

    static func openVotes(epoch: UInt64) -> [UInt8] { openVoteCountPrefix + BigEndian.encode(epoch) }
}

/// Reads and writes of module Validation's records: one place that knows their keys and defaults.
enum ValidationStore {
    static func stats(
        _ epoch: UInt64, _ address: Address, in state: StateContext
    ) throws(LedgerError)
        -> Wire.ValidationStats
    {
        if let stored = try state.record(
            Wire.ValidationStats.self, at: StateKey.validationStats(epoch, address), what: "validation stats")
        {
            return stored
        }
        var fresh = Wire.ValidationStats()
        fresh.epoch = epoch
        fresh.address = address.description
        return fresh
    }

    static func saveStats(_ stats: Wire.ValidationStats, in state: StateContext) throws(LedgerError) {
        let address = try parseAddress(stats.address, field: "stats address")
        try state.setRecord(stats, at: StateKey.validationStats(stats.epoch, address))
    }

    /// Applies `change` to the stats of `address` in `epoch` and stores them.
    @discardableResult
    static func updateStats(
        _ epoch: UInt64, _ address: Address, in state: StateContext,
        _ change: (inout Wire.ValidationStats) throws(LedgerError) -> Void
    ) throws(LedgerError) -> Wire.ValidationStats {
        var stats = try stats(epoch, address, in: state)
        try change(&stats)
        try saveStats(stats, in: state)
        return stats
    }

    static func reputation(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.ReputationRecord {
        try state.record(Wire.ReputationRecord.self, at: StateKey.reputation(address), what: "reputation")
            ?? {
                var fresh = Wire.ReputationRecord()
                fresh.address = address.description
                return fresh
            }()
    }

    static func epoch(_ epoch: UInt64, in state: StateContext) throws(LedgerError) -> Wire.ValidationEpoch? {
        try state.record(Wire.ValidationEpoch.self, at: StateKey.validationEpoch(epoch), what: "validation epoch")
    }

    static func voting(_ id: String, in state: StateContext) throws(LedgerError) -> Wire.VotingRecord? {
        try state.record(Wire.VotingRecord.self, at: StateKey.voting(id), what: "voting record")
    }

    static func traffic(_ epoch: UInt64, in state: StateContext) throws(LedgerError) -> UInt64 {
        guard let raw = try state.get(StateKey.traffic(epoch)) else { return 0 }
        return try BigEndian.decode(raw, what: "traffic")
    }

    static func addTraffic(_ epoch: UInt64, in state: StateContext) throws(LedgerError) {
        state.set(StateKey.traffic(epoch), BigEndian.encode(try traffic(epoch, in: state) &+ 1))
    }
}

extension ValidationStore {
    /// The obligation inputs of §7.1 fixed for `epoch` (its sampling snapshot), as the validation
    /// worker reads them from `/query/validation_epoch`: every participant with weight serves every
    /// model, reputations as of the epoch's start. Nil before the epoch began.
    struct ObligationInputs {
        let traffic: UInt64
        let weights: [Address: UInt64]
        let reputations: [Address: UInt64]

        func snapshot(model: String) -> ValidationObligations.Snapshot {
            ValidationObligations.Snapshot(traffic: traffic, modelWeights: [model: weights], reputations: reputations)
        }
    }

    static func obligationInputs(_ epoch: UInt64, in state: StateContext) throws(LedgerError) -> ObligationInputs? {
        guard let snapshot = try self.epoch(epoch, in: state) else { return nil }
        var weights: [Address: UInt64] = [:]
        var reputations: [Address: UInt64] = [:]
        for entry in snapshot.weights where entry.weight > 0 {
            let address = try parseAddress(entry.address, field: "snapshot address")
            weights[address] = entry.weight
            reputations[address] = entry.reputation
        }
        return ObligationInputs(traffic: snapshot.traffic, weights: weights, reputations: reputations)
    }

    /// Revalidation votes still open on inferences of `epoch` (its settlement waits for them).
    static func openVotes(_ epoch: UInt64, in state: StateContext) throws(LedgerError) -> UInt64 {
        guard let raw = try state.get(StateKey.openVotes(epoch: epoch)) else { return 0 }
        return try BigEndian.decode(raw, what: "open votes of epoch \(epoch)")
    }

    /// Adds `delta` (+1 when a vote opens, −1 when it is decided) to `epoch`'s open votes.
    static func countOpenVote(_ epoch: UInt64, opened: Bool, in state: StateContext) throws(LedgerError) {
        let count = try openVotes(epoch, in: state)
        let next = opened ? count &+ 1 : (count > 0 ? count - 1 : 0)
        if next == 0 {
            state.delete(StateKey.openVotes(epoch: epoch))
        } else {
            state.set(StateKey.openVotes(epoch: epoch), BigEndian.encode(next))
        }
    }
}
