import GonkaCore
import GonkaWire

/// State keys of module Rewards. Numbers are 8-byte big-endian and addresses their 20 raw bytes,
/// so prefix scans come back in epoch, then address, order.
extension StateKey {
    static let workPrefix = Array("rewards/work/".utf8)
    static let settlementPrefix = Array("rewards/settlement/".utf8)
    static let epochSettlementPrefix = Array("rewards/epoch/".utf8)
    static let epochFeesPrefix = Array("rewards/fees/".utf8)
    static let finishedPrefix = Array("rewards/finished/".utf8)
    static let rewardTotals = Array("rewards/totals".utf8)
    static let inferenceLiabilities = Array("inference/liabilities".utf8)

    static func work(_ epoch: UInt64, _ address: Address) -> [UInt8] {
        workPrefix + BigEndian.encode(epoch) + address.bytes
    }
    static func work(epoch: UInt64) -> [UInt8] { workPrefix + BigEndian.encode(epoch) }
    static func settlement(_ epoch: UInt64, _ address: Address) -> [UInt8] {
        settlementPrefix + BigEndian.encode(epoch) + address.bytes
    }
    static func settlements(epoch: UInt64) -> [UInt8] { settlementPrefix + BigEndian.encode(epoch) }
    static func epochSettlement(_ epoch: UInt64) -> [UInt8] { epochSettlementPrefix + BigEndian.encode(epoch) }
    static func epochFees(_ epoch: UInt64) -> [UInt8] { epochFeesPrefix + BigEndian.encode(epoch) }
    /// The index of an epoch's finished inferences the claim audit walks (§8.4); the value is the
    /// executor's 20 address bytes followed by the model id.
    static func finished(_ epoch: UInt64, _ id: String) -> [UInt8] {
        finishedPrefix + BigEndian.encode(epoch) + Array(id.utf8)
    }
    static func finished(epoch: UInt64) -> [UInt8] { finishedPrefix + BigEndian.encode(epoch) }
}

/// Reads and writes of module Rewards' records.
enum RewardsStore {
    static func totals(in state: StateContext) throws(LedgerError) -> Wire.RewardTotals {
        try state.record(Wire.RewardTotals.self, at: StateKey.rewardTotals, what: "reward totals") ?? .init()
    }

    static func saveTotals(_ totals: Wire.RewardTotals, in state: StateContext) throws(LedgerError) {
        try state.setRecord(totals, at: StateKey.rewardTotals)
    }

    static func liabilities(in state: StateContext) throws(LedgerError) -> Wire.InferenceLiabilities {
        try state.record(Wire.InferenceLiabilities.self, at: StateKey.inferenceLiabilities, what: "liabilities")
            ?? .init()
    }

    /// Applies `change` to the inference account's liabilities; a result below zero is corruption
    /// (a rule moved money that was never recorded), never a transaction's fault.
    static func updateLiabilities(
        in state: StateContext, _ change: (inout Wire.InferenceLiabilities) -> Bool
    ) throws(LedgerError) {
        var record = try liabilities(in: state)
        guard change(&record) else { throw .invariantViolated("inference liabilities would fall below zero") }
        try state.setRecord(record, at: StateKey.inferenceLiabilities)
    }

    static func work(
        _ epoch: UInt64, _ address: Address, in state: StateContext
    ) throws(LedgerError)
        -> Wire.WorkCounters
    {
        if let record = try state.record(
            Wire.WorkCounters.self, at: StateKey.work(epoch, address), what: "work counters of \(address)")
        {
            return record
        }
        var fresh = Wire.WorkCounters()
        fresh.address = address.description
        fresh.epoch = epoch
        return fresh
    }

    static func updateWork(
        _ epoch: UInt64, _ address: Address, in state: StateContext,
        _ change: (inout Wire.WorkCounters) -> Bool
    ) throws(LedgerError) {
        var record = try work(epoch, address, in: state)
        guard change(&record) else { throw .overflow("work counters of \(address) in epoch \(epoch)") }
        try state.setRecord(record, at: StateKey.work(epoch, address))
    }

    static func settlement(
        _ epoch: UInt64, _ address: Address, in state: StateContext
    ) throws(LedgerError)
        -> Wire.Settlement?
    {
        try state.record(Wire.Settlement.self, at: StateKey.settlement(epoch, address), what: "settlement")
    }

    static func epochSettlement(_ epoch: UInt64, in state: StateContext) throws(LedgerError) -> Wire.EpochSettlement? {
        try state.record(Wire.EpochSettlement.self, at: StateKey.epochSettlement(epoch), what: "epoch settlement")
    }

    static func fees(_ epoch: UInt64, in state: StateContext) throws(LedgerError) -> UInt64 {
        guard let raw = try state.get(StateKey.epochFees(epoch)) else { return 0 }
        return try BigEndian.decode(raw, what: "fees of epoch \(epoch)")
    }
}
