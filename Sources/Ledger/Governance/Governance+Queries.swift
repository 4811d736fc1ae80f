import GonkaCore
import GonkaWire

/// Read-only views of module Governance for queries (chain RPC, `Ledger` accessors), over any
/// `StateStore`: the chain node passes a view of one committed version.
public enum GovernanceQueries {
    /// A proposal with its votes and, while it runs, the tally so far at the current weights.
    public struct ProposalView: Sendable, Hashable {
        public let proposal: Wire.GovProposal
        /// Every vote, in voter address order, with the voter's power now.
        public let votes: [Vote]
        /// The decided tally once it ended; the tally the votes would give now while it runs.
        public let tally: Wire.TallyResult
        /// What the tally would decide now (or decided): passed, vetoed, …
        public let outcomeNow: String

        public struct Vote: Sendable, Hashable {
            public let voter: String
            public let option: String
            public let height: UInt64
            public let power: UInt64
        }
    }

    /// Every proposal in id order; only those with `status` (e.g. `voting_period`) when given.
    public static func proposals(status: String?, in store: any StateStore) throws(LedgerError) -> [Wire.GovProposal] {
        let all = try Governance.proposals(in: StateContext(store: store))
        guard let status else { return all }
        return all.filter { Governance.statusName($0.status) == status }
    }

    /// One proposal with its votes (nil when there is no such proposal). `height` is the committed
    /// height the view is of: the weights in force there give the running tally.
    public static func proposal(
        _ id: UInt64, height: UInt64, params: ChainParams, in store: any StateStore
    ) throws(LedgerError) -> ProposalView? {
        let state = StateContext(store: store)
        guard let proposal = try Governance.proposal(id, in: state) else { return nil }
        let powers = try Governance.votingPowers(at: height, in: state)
        var running = GovernanceTally(totalPower: powers.total)
        var votes: [ProposalView.Vote] = []
        for vote in try Governance.votes(id, in: state) {
            let power = powers.weights[vote.voter] ?? 0
            running.add(vote.option, power: power)
            votes.append(
                .init(voter: vote.voter, option: Governance.optionName(vote.option), height: vote.height, power: power))
        }
        let decided = proposal.status != .depositPeriod && proposal.status != .votingPeriod
        var tally = decided ? proposal.finalTally : running.record
        if !decided { tally.epoch = powers.epoch }
        let outcome =
            decided
            ? proposal.outcome : running.outcome(params.governance, expedited: proposal.expedited).rawValue
        return ProposalView(proposal: proposal, votes: votes, tally: tally, outcomeNow: outcome)
    }

    /// The scheduled software upgrade, if any.
    public static func upgradePlan(in store: any StateStore) throws(LedgerError) -> Wire.UpgradePlan? {
        try Governance.upgradePlan(in: StateContext(store: store))
    }

    /// Parameter changes that passed and wait for the next epoch.
    public static func pendingParams(in store: any StateStore) throws(LedgerError) -> [Wire.ParamChange] {
        try Governance.pendingParams(in: StateContext(store: store))?.changes ?? []
    }

    /// The kind name of a proposal's content (`param_change`, …).
    public static func kind(_ content: Wire.ProposalContent) -> String { GovernanceContent.kind(content) }
    public static func statusName(_ status: Wire.ProposalStatus) -> String { Governance.statusName(status) }
}

extension Ledger {
    /// Governance proposals on the committed state (see ``GovernanceQueries``).
    public func proposals(status: String? = nil) throws(LedgerError) -> [Wire.GovProposal] {
        try GovernanceQueries.proposals(status: status, in: store)
    }

    /// One proposal with its votes and running tally on the committed state.
    public func proposal(_ id: UInt64) throws(LedgerError) -> GovernanceQueries.ProposalView? {
        try GovernanceQueries.proposal(id, height: height ?? 0, params: params, in: store)
    }

    /// The scheduled software upgrade on the committed state.
    public func upgradePlan() throws(LedgerError) -> Wire.UpgradePlan? {
        try GovernanceQueries.upgradePlan(in: store)
    }
}
