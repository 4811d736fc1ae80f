import Foundation
import GonkaCore
import GonkaWire

/// Module Governance (PROTOCOL §10): proposals with a deposit, votes weighted by compute, the
/// tally at the end of the voting period, and the execution of what passed (``GovernanceContent``).
///
/// Life of a proposal (heights are block heights, periods from ``GovernanceParams``):
/// * `MsgSubmitProposal` at h by a registered participant, with at least `min_initial_deposit_ppm`
///   of the minimum deposit, escrowed in the `gov` module account: DEPOSIT_PERIOD until
///   h + `max_deposit_period_blocks`;
/// * when deposits reach the minimum (`expedited_min_deposit` for an expedited one) at h':
///   VOTING_PERIOD, tallied at the end of h' + `voting_period_blocks` (expedited:
///   `expedited_voting_period_blocks`);
/// * a deposit period that ends short of the minimum: REJECTED, deposits **burned**;
/// * the tally (``GovernanceTally``) with voting power = each voter's weight in the epoch whose
///   validator set signs the tally block: PASSED (content executed, deposits refunded; FAILED if
///   execution fails, deposits still refunded), vetoed (REJECTED, deposits **burned**), quorum or
///   threshold not reached (REJECTED, deposits **refunded**), as Cosmos x/gov with its default
///   `burn_vote_veto = true`, `burn_vote_quorum = false`;
/// * an expedited proposal that does not pass becomes a normal one: votes kept, its vote ends at
///   voting start + `voting_period_blocks`, deposits stay in escrow.
///
/// Votes: yes / abstain / no / no-with-veto by a registered participant (or an operator key it
/// granted `MsgVote`), while the vote runs; a later vote replaces the earlier one (Cosmos).
enum Governance {
    static let moduleAddress = Bank.ModuleAccount.governance.address

    // MARK: Records

    static func proposal(_ id: UInt64, in state: StateContext) throws(LedgerError) -> Wire.GovProposal? {
        try state.record(Wire.GovProposal.self, at: StateKey.proposal(id), what: "proposal \(id)")
    }

    static func proposals(in state: StateContext) throws(LedgerError) -> [Wire.GovProposal] {
        try state.records(Wire.GovProposal.self, withPrefix: StateKey.proposalPrefix, what: "proposal")
    }

    static func votes(_ id: UInt64, in state: StateContext) throws(LedgerError) -> [Wire.GovVote] {
        try state.records(Wire.GovVote.self, withPrefix: StateKey.proposalVotes(id), what: "vote")
    }

    static func upgradePlan(in state: StateContext) throws(LedgerError) -> Wire.UpgradePlan? {
        try state.record(Wire.UpgradePlan.self, at: StateKey.upgradePlan, what: "upgrade plan")
    }

    static func pendingParams(in state: StateContext) throws(LedgerError) -> Wire.PendingParamChanges? {
        try state.record(Wire.PendingParamChanges.self, at: StateKey.pendingParams, what: "pending parameters")
    }

    /// The minimum deposit that opens the vote of a (non-)expedited proposal.
    static func minDeposit(expedited: Bool, params: GovernanceParams) -> UInt64 {
        expedited ? params.expeditedMinDeposit : params.minDeposit
    }

    /// What the submission itself must carry: ⌈minimum × min_initial_deposit_ppm / 10⁶⌉.
    static func minInitialDeposit(expedited: Bool, params: GovernanceParams) -> UInt64 {
        let product = UInt128(minDeposit(expedited: expedited, params: params)) * UInt128(params.minInitialDepositPpm)
        return UInt64(clamping: (product + 999_999) / 1_000_000)
    }

    // MARK: Messages

    /// `MsgSubmitProposal` (PROTOCOL §10).
    static func handle(
        _ msg: Wire.MsgSubmitProposal, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let proposer = try parseAddress(msg.proposer, field: "proposer")
        guard try Participants.participant(proposer, in: state) != nil else { throw .notParticipant(proposer) }
        guard !msg.title.isEmpty, msg.title.utf8.count <= 140 else {
            throw .invalidField("title", "must be 1–140 bytes")
        }
        guard msg.summary.utf8.count <= 10_000 else { throw .invalidField("summary", "longer than 10,000 bytes") }
        guard msg.hasContent else { throw .invalidProposal("content names no proposal kind") }
        let kind = try GovernanceContent.check(msg.content, height: context.height, params: params, state: state)
        let gov = params.governance
        let initial = minInitialDeposit(expedited: msg.expedited, params: gov)
        guard msg.deposit >= initial, msg.deposit > 0 else {
            throw .depositBelowMinimum(need: Amount(ngonka: max(initial, 1)), offered: Amount(ngonka: msg.deposit))
        }
        let id = try nextID(in: state)
        try Bank.transfer(from: proposer, to: moduleAddress, amount: Amount(ngonka: msg.deposit), in: state)
        var proposal = Wire.GovProposal()
        proposal.id = id
        proposal.proposer = proposer.description
        proposal.title = msg.title
        proposal.summary = msg.summary
        proposal.content = msg.content
        proposal.expedited = msg.expedited
        proposal.status = .depositPeriod
        proposal.submitHeight = context.height
        proposal.depositEndHeight = context.height + gov.maxDepositPeriodBlocks
        var events: [LedgerEvent] = [
            .proposalSubmitted(proposalID: id, proposer: proposer, kind: kind, expedited: msg.expedited),
            .proposalDeposited(proposalID: id, depositor: proposer, amount: Amount(ngonka: msg.deposit)),
        ]
        addDeposit(&proposal, from: proposer, amount: msg.deposit)
        if proposal.totalDeposit >= minDeposit(expedited: msg.expedited, params: gov) {
            events.append(startVoting(&proposal, height: context.height, params: gov, state: state))
        } else {
            state.set(StateKey.depositEnd(proposal.depositEndHeight, id), [])
        }
        try state.setRecord(proposal, at: StateKey.proposal(id))
        return events
    }

    /// `MsgDeposit` (PROTOCOL §10): any account adds to a proposal's escrow while it is open.
    static func handle(
        _ msg: Wire.MsgDeposit, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let depositor = try parseAddress(msg.depositor, field: "depositor")
        guard msg.amount > 0 else { throw .invalidAmount("deposit must be positive") }
        guard var proposal = try Self.proposal(msg.proposalID, in: state) else {
            throw .unknownProposal(msg.proposalID)
        }
        guard proposal.status == .depositPeriod || proposal.status == .votingPeriod else {
            throw .proposalClosed(msg.proposalID, status: statusName(proposal.status))
        }
        try Bank.transfer(from: depositor, to: moduleAddress, amount: Amount(ngonka: msg.amount), in: state)
        addDeposit(&proposal, from: depositor, amount: msg.amount)
        var events: [LedgerEvent] = [
            .proposalDeposited(proposalID: proposal.id, depositor: depositor, amount: Amount(ngonka: msg.amount))
        ]
        let gov = params.governance
        if proposal.status == .depositPeriod,
            proposal.totalDeposit >= minDeposit(expedited: proposal.expedited, params: gov)
        {
            state.delete(StateKey.depositEnd(proposal.depositEndHeight, proposal.id))
            events.append(startVoting(&proposal, height: context.height, params: gov, state: state))
        }
        try state.setRecord(proposal, at: StateKey.proposal(proposal.id))
        return events
    }

    /// `MsgVote` (PROTOCOL §10): a registered participant's vote while the vote runs; the last one
    /// counts. Its power is decided at the tally, not now.
    static func handle(
        _ msg: Wire.MsgVote, context: BlockContext, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let voter = try parseAddress(msg.voter, field: "voter")
        guard try Participants.participant(voter, in: state) != nil else { throw .notParticipant(voter) }
        guard [.yes, .abstain, .no, .noWithVeto].contains(msg.option) else {
            throw .invalidField("option", "must be yes, abstain, no or no_with_veto")
        }
        guard let proposal = try Self.proposal(msg.proposalID, in: state) else {
            throw .unknownProposal(msg.proposalID)
        }
        guard proposal.status == .votingPeriod, context.height <= proposal.votingEndHeight else {
            throw .proposalClosed(msg.proposalID, status: statusName(proposal.status))
        }
        var vote = Wire.GovVote()
        vote.voter = voter.description
        vote.option = msg.option
        vote.height = context.height
        try state.setRecord(vote, at: StateKey.proposalVote(proposal.id, voter))
        return [.proposalVoted(proposalID: proposal.id, voter: voter, option: optionName(msg.option))]
    }

    // MARK: End of block

    struct EndBlock {
        var events: [LedgerEvent] = []
        /// The `params` key was rewritten: the ledger reloads its parameters after the commit.
        var paramsChanged = false
    }

    /// Deposit periods and votes that end at this block, then (at the last block of an epoch)
    /// parameter changes waiting for the next epoch. Runs last in the ledger's end-block
    /// transaction, so a parameter it changes is in force from the next block.
    static func endBlock(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> EndBlock {
        var out = EndBlock()
        let h = context.height
        for entry in try state.entries(withPrefix: StateKey.depositEnds(h)) {
            state.delete(entry.key)
            let id = try BigEndian.decode(Array(entry.key.suffix(8)), what: "deposit index")
            guard var proposal = try Self.proposal(id, in: state), proposal.status == .depositPeriod else { continue }
            proposal.status = .rejected
            proposal.outcome = "deposit_period_ended"
            try settleDeposits(&proposal, burn: true, state: state)
            try state.setRecord(proposal, at: StateKey.proposal(id))
            out.events.append(decided(proposal))
        }
        for entry in try state.entries(withPrefix: StateKey.votingEnds(h)) {
            state.delete(entry.key)
            let id = try BigEndian.decode(Array(entry.key.suffix(8)), what: "voting index")
            guard var proposal = try Self.proposal(id, in: state), proposal.status == .votingPeriod else { continue }
            var changed = false
            out.events += try tally(
                &proposal, context: context, params: params, state: state, changed: &changed)
            if changed { out.paramsChanged = true }
            try state.setRecord(proposal, at: StateKey.proposal(id))
        }
        if (h + 1) % params.epochs.epochLength == 0, let pending = try pendingParams(in: state) {
            state.delete(StateKey.pendingParams)
            out.events += try GovernanceContent.applyPending(pending.changes, state: state)
            out.paramsChanged = true
        }
        return out
    }

    /// The tally of one proposal whose vote ends now, and what follows from it.
    private static func tally(
        _ proposal: inout Wire.GovProposal, context: BlockContext, params: ChainParams, state: StateContext,
        changed: inout Bool
    ) throws(LedgerError) -> [LedgerEvent] {
        let powers = try votingPowers(at: context.height, in: state)
        var tally = GovernanceTally(totalPower: powers.total)
        for vote in try votes(proposal.id, in: state) {
            tally.add(vote.option, power: powers.weights[vote.voter] ?? 0)
        }
        var record = tally.record
        record.epoch = powers.epoch
        proposal.finalTally = record
        let outcome = tally.outcome(params.governance, expedited: proposal.expedited)
        if proposal.expedited, outcome != .passed {
            // Cosmos: a failed expedited vote goes on as a normal one; votes and deposits stay.
            proposal.expedited = false
            proposal.convertedFromExpedited = true
            let end = max(proposal.votingStartHeight + params.governance.votingPeriodBlocks, context.height + 1)
            proposal.votingEndHeight = end
            state.set(StateKey.votingEnd(end, proposal.id), [])
            return [.proposalVotingStarted(proposalID: proposal.id, votingEndHeight: end)]
        }
        var events: [LedgerEvent] = []
        switch outcome {
        case .passed:
            do {
                let result = try GovernanceContent.execute(
                    proposal, context: context, params: params, state: state)
                events += result.events
                if result.paramsChanged { changed = true }
                proposal.status = .passed
                proposal.outcome = outcome.rawValue
            } catch {
                // Execution checks before it writes, so a failure leaves nothing half done.
                proposal.status = .failed
                proposal.outcome = "execution_failed: \(error.description)"
            }
            try settleDeposits(&proposal, burn: false, state: state)
        case .vetoed:
            proposal.status = .rejected
            proposal.outcome = outcome.rawValue
            try settleDeposits(&proposal, burn: true, state: state)
        case .quorumNotReached, .thresholdNotReached:
            proposal.status = .rejected
            proposal.outcome = outcome.rawValue
            try settleDeposits(&proposal, burn: false, state: state)
        }
        events.append(decided(proposal))
        return events
    }

    /// Voting power at `height` (PROTOCOL §10): each participant's weight in the epoch whose
    /// validator set signs `height` (compute, not money: an account without weight has none).
    static func votingPowers(
        at height: UInt64, in state: StateContext
    ) throws(LedgerError) -> (epoch: UInt64, total: UInt64, weights: [String: UInt64]) {
        guard let set = try Epochs.validatorSet(forHeight: height, in: state),
            let record = try Epochs.epoch(set.epoch, in: state)
        else { return (0, 0, [:]) }
        var weights: [String: UInt64] = [:]
        var total: UInt64 = 0
        for member in record.participants where member.weight > 0 {
            weights[member.address, default: 0] &+= member.weight
            total &+= member.weight
        }
        return (set.epoch, total, weights)
    }

    // MARK: Helpers

    private static func nextID(in state: StateContext) throws(LedgerError) -> UInt64 {
        let id =
            try state.get(StateKey.nextProposalID).map { raw throws(LedgerError) in
                try BigEndian.decode(raw, what: "next proposal id")
            } ?? 1
        state.set(StateKey.nextProposalID, BigEndian.encode(id + 1))
        return id
    }

    private static func addDeposit(_ proposal: inout Wire.GovProposal, from depositor: Address, amount: UInt64) {
        proposal.totalDeposit &+= amount
        if let index = proposal.deposits.firstIndex(where: { $0.depositor == depositor.description }) {
            proposal.deposits[index].amount &+= amount
        } else {
            var deposit = Wire.GovDeposit()
            deposit.depositor = depositor.description
            deposit.amount = amount
            proposal.deposits.append(deposit)
        }
    }

    private static func startVoting(
        _ proposal: inout Wire.GovProposal, height: UInt64, params: GovernanceParams, state: StateContext
    ) -> LedgerEvent {
        proposal.status = .votingPeriod
        proposal.votingStartHeight = height
        proposal.votingEndHeight =
            height + (proposal.expedited ? params.expeditedVotingPeriodBlocks : params.votingPeriodBlocks)
        state.set(StateKey.votingEnd(proposal.votingEndHeight, proposal.id), [])
        return .proposalVotingStarted(proposalID: proposal.id, votingEndHeight: proposal.votingEndHeight)
    }

    /// Returns every deposit to its depositor, or burns them all, out of the `gov` escrow.
    private static func settleDeposits(
        _ proposal: inout Wire.GovProposal, burn: Bool, state: StateContext
    ) throws(LedgerError) {
        proposal.depositFate = burn ? "burned" : "refunded"
        if burn {
            if proposal.totalDeposit > 0 {
                try Bank.burn(Amount(ngonka: proposal.totalDeposit), from: moduleAddress, in: state)
            }
            return
        }
        for deposit in proposal.deposits where deposit.amount > 0 {
            let depositor = try parseAddress(deposit.depositor, field: "depositor")
            try Bank.transfer(from: moduleAddress, to: depositor, amount: Amount(ngonka: deposit.amount), in: state)
        }
    }

    private static func decided(_ proposal: Wire.GovProposal) -> LedgerEvent {
        .proposalDecided(
            proposalID: proposal.id, status: statusName(proposal.status), outcome: proposal.outcome,
            depositFate: proposal.depositFate)
    }

    /// The names the CLI, events and queries use.
    static func statusName(_ status: Wire.ProposalStatus) -> String {
        switch status {
        case .depositPeriod: "deposit_period"
        case .votingPeriod: "voting_period"
        case .passed: "passed"
        case .rejected: "rejected"
        case .failed: "failed"
        default: "unspecified"
        }
    }

    static func optionName(_ option: Wire.VoteOption) -> String {
        switch option {
        case .yes: "yes"
        case .abstain: "abstain"
        case .no: "no"
        case .noWithVeto: "no_with_veto"
        default: "unspecified"
        }
    }
}
