import ChainRPCTypes
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage

/// Module Rewards' records as the RPC's types (`/query/supply`'s breakdown, `/query/settlement/…`,
/// `/query/rewards/…`), read through the ledger's own queries over one committed version.
struct RewardReader {
    let state: AuthenticatedStore
    let version: UInt64

    private var view: VersionedStateView { VersionedStateView(state: state, version: version) }

    private func run<T>(_ body: () throws(LedgerError) -> T) throws(QueryError) -> T {
        do { return try body() } catch { throw .internal("state read failed: \(error)") }
    }

    /// The module accounts and running totals (the caller reads minted and burned with a proof).
    func supplyBreakdown() throws(QueryError) -> SupplyBreakdown {
        let view = view
        let supply = try run { () throws(LedgerError) in try RewardQueries.supply(in: view) }
        let t = supply.totals
        return SupplyBreakdown(
            modules: supply.modules.mapValues(\.ngonka), rewardIssued: t.rewardIssued, pending: t.pending,
            claimed: t.claimed, settlementsBurned: t.burned, trainingCredited: t.trainingCredited,
            trainingSpent: t.trainingSpent, openEscrow: supply.liabilities.openEscrow,
            unsettledCost: supply.liabilities.unsettledCost, nextEpoch: t.nextEpoch, referenceWeight: t.referenceWeight)
    }

    /// Why an inference's records may be missing: the records of inferences of epochs before the
    /// first whose claim window is still open are pruned (PROTOCOL §3.3); nil before any was.
    func prunedInferencesNote() throws(QueryError) -> String? {
        let view = view
        let kept = try run { () throws(LedgerError) in try RewardQueries.supply(in: view).totals.nextUnclosedEpoch }
        guard kept > 0 else { return nil }
        return "pruned: inference and validation records of epochs before \(kept) are deleted once the epoch's claim "
            + "window closes (PROTOCOL §3.3); the epoch's settlement and aggregates are kept"
    }

    /// Epoch `requested`'s settlement (default: the last settled epoch).
    func epoch(_ requested: UInt64?) throws(QueryError) -> EpochSettlementInfo {
        let view = view
        let next = try run { () throws(LedgerError) in try RewardQueries.supply(in: view).totals.nextEpoch }
        let epoch = requested ?? (next > 0 ? next - 1 : 0)
        guard let found = try run({ () throws(LedgerError) in try RewardQueries.epoch(epoch, in: view) }) else {
            return EpochSettlementInfo(
                epoch: epoch, settled: false, height: 0, issuance: 0, fees: 0, totalWeight: 0, referenceWeight: 0,
                rewardPaid: 0, workPaid: 0, trainingFund: 0, claimed: 0, burned: 0, claimUntilEpoch: 0,
                settlements: [])
        }
        let s = found.summary
        return EpochSettlementInfo(
            epoch: s.epoch, settled: true, height: s.height, issuance: s.issuance, fees: s.fees,
            totalWeight: s.totalWeight, referenceWeight: s.referenceWeight, rewardPaid: s.rewardPaid,
            workPaid: s.workPaid, trainingFund: s.trainingFund, claimed: s.claimed, burned: s.burned,
            claimUntilEpoch: s.claimUntilEpoch, settlements: found.settlements.map(Self.settlement))
    }

    func settlements(of address: Address, epoch: UInt64?) throws(QueryError) -> [SettlementInfo] {
        let view = view
        return try run { () throws(LedgerError) in
            try RewardQueries.settlements(of: address, epoch: epoch, in: view)
        }.map(Self.settlement)
    }

    static func settlement(_ s: Wire.Settlement) -> SettlementInfo {
        SettlementInfo(
            address: s.address, epoch: s.epoch, weight: s.weight, reward: s.reward, work: s.work,
            trainingFund: s.trainingFund, status: s.status, reason: s.reason, settledHeight: s.settledHeight,
            closedHeight: s.closedHeight, claimUntilEpoch: s.claimUntilEpoch, missedValidations: s.missedValidations)
    }
}
