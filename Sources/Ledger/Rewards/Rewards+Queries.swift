import GonkaCore
import GonkaWire

/// Read-only views of module Rewards for queries (chain RPC, tests), over any `StateStore` — the
/// chain node passes a view of one committed version.
public enum RewardQueries {
    /// Where the supply is (§8.1), with the module's running totals.
    public struct Supply: Sendable, Hashable {
        public let minted: Amount
        public let burned: Amount
        /// Balances of the module accounts, by name.
        public let modules: [String: Amount]
        public let totals: Wire.RewardTotals
        public let liabilities: Wire.InferenceLiabilities
    }

    public static func supply(in store: any StateStore) throws(LedgerError) -> Supply {
        let state = StateContext(store: store)
        var modules: [String: Amount] = [:]
        for account in Bank.ModuleAccount.allCases {
            modules[account.rawValue] = try Bank.balance(of: account.address, in: state)
        }
        return Supply(
            minted: try Bank.minted(in: state), burned: try Bank.burned(in: state), modules: modules,
            totals: try RewardsStore.totals(in: state), liabilities: try RewardsStore.liabilities(in: state))
    }

    /// An epoch's settlement summary and every participant's settlement in it (address order); nil
    /// before the epoch is settled.
    public static func epoch(
        _ epoch: UInt64, in store: any StateStore
    ) throws(LedgerError)
        -> (summary: Wire.EpochSettlement, settlements: [Wire.Settlement])?
    {
        let state = StateContext(store: store)
        guard let summary = try RewardsStore.epochSettlement(epoch, in: state) else { return nil }
        let settlements = try state.records(
            Wire.Settlement.self, withPrefix: StateKey.settlements(epoch: epoch), what: "settlement")
        return (summary, settlements)
    }

    /// `address`'s settlements, newest epoch first: of `epoch` only, or of the last `limit` settled
    /// epochs.
    public static func settlements(
        of address: Address, epoch: UInt64?, limit: UInt64 = 100, in store: any StateStore
    ) throws(LedgerError) -> [Wire.Settlement] {
        let state = StateContext(store: store)
        if let epoch {
            return try RewardsStore.settlement(epoch, address, in: state).map { [$0] } ?? []
        }
        let next = try RewardsStore.totals(in: state).nextEpoch
        var out: [Wire.Settlement] = []
        var e = next
        while e > 0, next - e < limit {
            e -= 1
            if let found = try RewardsStore.settlement(e, address, in: state) { out.append(found) }
        }
        return out
    }

    /// `address`'s work so far in an epoch not yet settled (earned costs, validator shares).
    public static func work(
        of address: Address, epoch: UInt64, in store: any StateStore
    ) throws(LedgerError)
        -> Wire.WorkCounters
    {
        try RewardsStore.work(epoch, address, in: StateContext(store: store))
    }

    /// The epoch inference counts toward now.
    public static func currentEpoch(in store: any StateStore) throws(LedgerError) -> UInt64 {
        try Inference.currentEpoch(in: StateContext(store: store))
    }
}
