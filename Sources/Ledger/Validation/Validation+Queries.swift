import GonkaCore
import GonkaWire

/// Read-only views of module Validation for queries (chain RPC, `Ledger` accessors), over any
/// `StateStore` — the chain node passes a view of one committed version.
public enum ValidationQueries {
    /// Every validation of one inference, by validator address, and its vote if one was opened.
    public struct InferenceValidations: Sendable, Hashable {
        public let validations: [Wire.ValidationRecord]
        public let voting: Wire.VotingRecord?
    }

    /// One participant's validation standing in an epoch.
    public struct Standing: Sendable, Hashable {
        public let address: Address
        /// Weight in the epoch's sampling snapshot (0: not a participant of that epoch).
        public let weight: UInt64
        /// Reputation score 0..100 now (the snapshot has the one at the epoch's start).
        public let reputation: UInt64
        public let stats: Wire.ValidationStats
    }

    public static func inference(_ id: String, in store: any StateStore) throws(LedgerError) -> InferenceValidations {
        let state = StateContext(store: store)
        return InferenceValidations(
            validations: try state.records(
                Wire.ValidationRecord.self, withPrefix: StateKey.validationRecords(id), what: "validation record"),
            voting: try ValidationStore.voting(id, in: state))
    }

    /// The validations of `epoch`'s inferences, by validator then inference id; one validator's only
    /// when `validator` is given.
    public static func validations(
        epoch: UInt64, validator: Address?, in store: any StateStore
    ) throws(LedgerError) -> [Wire.ValidationRecord] {
        let state = StateContext(store: store)
        let prefix = StateKey.validationsByEpoch(epoch, validator)
        let base = StateKey.validationsByEpoch(epoch).count
        var out: [Wire.ValidationRecord] = []
        for entry in try state.entries(withPrefix: prefix) {
            let rest = entry.key.dropFirst(base)
            guard rest.count > 20, let address = Address(bytes: Array(rest.prefix(20))) else { continue }
            let id = String(decoding: rest.dropFirst(20), as: UTF8.self)
            if let record = try state.record(
                Wire.ValidationRecord.self, at: StateKey.validationRecord(id, address), what: "validation record")
            {
                out.append(record)
            }
        }
        return out
    }

    /// The epoch's fixed sampling inputs (§7.1), or nil for an epoch that never began.
    public static func epoch(_ epoch: UInt64, in store: any StateStore) throws(LedgerError) -> Wire.ValidationEpoch? {
        try ValidationStore.epoch(epoch, in: StateContext(store: store))
    }

    /// Every participant of the epoch's snapshot, and anyone else with stats in it, in address order.
    public static func standings(
        epoch: UInt64, params: ValidationParams, in store: any StateStore
    ) throws(LedgerError) -> [Standing] {
        let state = StateContext(store: store)
        var weights: [Address: UInt64] = [:]
        for entry in try ValidationStore.epoch(epoch, in: state)?.weights ?? [] {
            if let address = try? Address(entry.address) { weights[address] = entry.weight }
        }
        var stats: [Address: Wire.ValidationStats] = [:]
        for record in try state.records(
            Wire.ValidationStats.self, withPrefix: StateKey.validationStats(epoch: epoch), what: "validation stats")
        {
            if let address = try? Address(record.address) { stats[address] = record }
        }
        let addresses = Set(weights.keys).union(stats.keys).sorted {
            $0.bytes.lexicographicallyPrecedes($1.bytes)
        }
        var out: [Standing] = []
        for address in addresses {
            var record = Wire.ValidationStats()
            if let stored = stats[address] {
                record = stored
            } else {
                record = try ValidationStore.stats(epoch, address, in: state)
            }
            let reputation = Reputation(cleanEpochs: try ValidationStore.reputation(address, in: state).cleanEpochs)
            out.append(
                Standing(
                    address: address, weight: weights[address] ?? 0, reputation: reputation.score(params: params),
                    stats: record))
        }
        return out
    }

    /// The open votes `revalidator` was drawn for and has not voted in, by inference id.
    public static func pendingVotes(
        revalidator: Address, in store: any StateStore
    ) throws(LedgerError) -> [Wire.VotingRecord] {
        let state = StateContext(store: store)
        let text = revalidator.description
        var out: [Wire.VotingRecord] = []
        for entry in try state.entries(withPrefix: StateKey.openVotePrefix) {
            let id = String(decoding: entry.key.dropFirst(StateKey.openVotePrefix.count), as: UTF8.self)
            guard let voting = try ValidationStore.voting(id, in: state), voting.outcome.isEmpty,
                voting.revalidators.contains(where: { $0.address == text && $0.vote == 0 })
            else { continue }
            out.append(voting)
        }
        return out
    }

    /// The epoch inference records count toward now (the executor pool's).
    public static func currentEpoch(in store: any StateStore) throws(LedgerError) -> UInt64 {
        try Inference.currentEpoch(in: StateContext(store: store))
    }
}

extension Ledger {
    /// Every validation of inference `id` and its vote, in committed state.
    public func validations(of id: String) throws(LedgerError) -> ValidationQueries.InferenceValidations {
        try ValidationQueries.inference(id, in: committedStore)
    }

    /// The validation standing of every participant of `epoch`.
    public func validationStandings(epoch: UInt64) throws(LedgerError) -> [ValidationQueries.Standing] {
        try ValidationQueries.standings(epoch: epoch, params: params.validation, in: committedStore)
    }

    /// The sampling snapshot of `epoch`.
    public func validationEpoch(_ epoch: UInt64) throws(LedgerError) -> Wire.ValidationEpoch? {
        try ValidationQueries.epoch(epoch, in: committedStore)
    }

    /// The epoch inference records count toward now.
    public func currentInferenceEpoch() throws(LedgerError) -> UInt64 {
        try Inference.currentEpoch(in: StateContext(store: committedStore))
    }
}
