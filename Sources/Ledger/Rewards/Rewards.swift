import GonkaCore
import GonkaWire

/// Module Rewards (PROTOCOL §8): where every coin of issuance, inference fees and tx fees goes.
///
/// * As inferences start, finish, expire and are invalidated, and as validators pass them, the
///   hooks below keep the `inference` account's liabilities and each participant's per-epoch
///   ``Wire/WorkCounters`` (earned costs, validator shares out and in) and each epoch's tx fees.
/// * **Settlement** of epoch e runs at the end of the first block in which e's validation window
///   has closed (the executor pool of epoch e + 2 is in effect, §7.1) and no revalidation vote on
///   one of e's inferences is still open: it walks e's participants (``EpochDistribution``), moves
///   R(e) (``EpochIssuance``, capped by the pool) and the fees out of the mining pool and the settled
///   costs out of the `inference` account (the training fund's share to the fund), and records a
///   pending ``Wire/Settlement`` per participant in the `rewards` account. An INVALID participant's
///   is burned at once.
/// * **Claims** (`MsgClaimRewards`, `Rewards+Claim.swift`) pay a settlement after auditing the
///   revealed seed's validation obligations, or burn it; what is not claimed by the end of
///   `claim_window_epochs` is burned. Nothing forfeited is ever redistributed.
///
/// Three invariants are checked after every block (``checkInvariants(in:)``).
enum Rewards {
    static let account = Bank.ModuleAccount.rewards.address
    static let miningPool = Bank.ModuleAccount.miningPool.address
    static let trainingFund = Bank.ModuleAccount.trainingFund.address

    static let pending = "pending"
    static let claimed = "claimed"
    static let burned = "burned"

    // MARK: Genesis

    /// A training fund funded at genesis counts as credited, so the fund's invariant holds from
    /// block 1.
    static func initGenesis(state: StateContext) throws(LedgerError) {
        var totals = try RewardsStore.totals(in: state)
        totals.trainingCredited = try Bank.balance(of: trainingFund, in: state).ngonka
        try RewardsStore.saveTotals(totals, in: state)
    }

    // MARK: Hooks of module Inference and the tx pipeline

    /// An escrow moved into the `inference` account (a Start).
    static func escrowOpened(_ escrow: UInt64, in state: StateContext) throws(LedgerError) {
        try RewardsStore.updateLiabilities(in: state) { record in
            let (sum, overflow) = record.openEscrow.addingReportingOverflow(escrow)
            record.openEscrow = sum
            return !overflow
        }
    }

    /// An escrow returned in full (expiry).
    static func escrowRefunded(_ escrow: UInt64, in state: StateContext) throws(LedgerError) {
        try RewardsStore.updateLiabilities(in: state) { record in
            guard record.openEscrow >= escrow else { return false }
            record.openEscrow -= escrow
            return true
        }
    }

    /// Both halves of an inference are in: its escrow became cost (kept until settlement) and
    /// refund (already paid back); the executor earned the cost in the inference's epoch.
    static func inferenceSettled(_ rec: Wire.InferenceRecord, state: StateContext) throws(LedgerError) {
        try RewardsStore.updateLiabilities(in: state) { record in
            guard record.openEscrow >= rec.escrow else { return false }
            record.openEscrow -= rec.escrow
            let (sum, overflow) = record.unsettledCost.addingReportingOverflow(rec.cost)
            record.unsettledCost = sum
            return !overflow
        }
        let executor = try parseAddress(rec.executor, field: "executor")
        try RewardsStore.updateWork(rec.epoch, executor, in: state) { counters in
            let (sum, overflow) = counters.earned.addingReportingOverflow(rec.cost)
            counters.earned = sum
            return !overflow
        }
        state.set(StateKey.finished(rec.epoch, rec.inferenceID), executor.bytes + Array(rec.model.utf8))
    }

    /// An inference was INVALIDATED (its cost already refunded): the executor earns nothing for it
    /// and the validators that passed it lose their shares (§7.3).
    static func inferenceInvalidated(
        _ rec: Wire.InferenceRecord, params: RewardParams, state: StateContext
    )
        throws(LedgerError)
    {
        try RewardsStore.updateLiabilities(in: state) { record in
            guard record.unsettledCost >= rec.cost else { return false }
            record.unsettledCost -= rec.cost
            return true
        }
        let executor = try parseAddress(rec.executor, field: "executor")
        let passers = try passingValidators(of: rec.inferenceID, in: state)
        let each = passers.isEmpty ? 0 : validatorShare(of: rec.cost, params: params) / UInt64(passers.count)
        for validator in passers where each > 0 {
            try RewardsStore.updateWork(rec.epoch, validator, in: state) { counters in
                guard counters.sharesIn >= each else { return false }
                counters.sharesIn -= each
                return true
            }
        }
        try RewardsStore.updateWork(rec.epoch, executor, in: state) { counters in
            let out = each * UInt64(passers.count)
            guard counters.earned >= rec.cost, counters.sharesOut >= out else { return false }
            counters.earned -= rec.cost
            counters.sharesOut -= out
            return true
        }
    }

    /// `validator`'s passing validation of `rec` was just recorded: the validators that passed it
    /// now split its `validator_share` evenly (⌊share / k⌋ each for k passers), carved out of the
    /// executor's earnings. Called once per passing record, so the previous split was k − 1 ways.
    /// Not for an INVALIDATED inference: nobody is paid for it.
    static func validationPassed(
        _ rec: Wire.InferenceRecord, by validator: Address, params: RewardParams, state: StateContext
    ) throws(LedgerError) {
        guard rec.status != .invalidated else { return }
        let share = validatorShare(of: rec.cost, params: params)
        guard share > 0 else { return }
        let passers = try passingValidators(of: rec.inferenceID, in: state)
        let k = UInt64(passers.count)
        guard k > 0 else { return }
        let before = k > 1 ? share / (k - 1) : 0
        let now = share / k
        for other in passers {
            let previous = other == validator ? 0 : before
            try RewardsStore.updateWork(rec.epoch, other, in: state) { counters in
                guard counters.sharesIn >= previous else { return false }
                counters.sharesIn = counters.sharesIn - previous + now
                return true
            }
        }
        let executor = try parseAddress(rec.executor, field: "executor")
        try RewardsStore.updateWork(rec.epoch, executor, in: state) { counters in
            let previousOut = before * (k - 1)
            guard counters.sharesOut >= previousOut else { return false }
            counters.sharesOut = counters.sharesOut - previousOut + now * k
            return true
        }
    }

    /// A tx fee went into `fee_collector` during `epoch`; it joins R(epoch) at settlement (§8.3).
    static func feeCollected(_ amount: Amount, epoch: UInt64, in state: StateContext) throws(LedgerError) {
        let (sum, overflow) = try RewardsStore.fees(epoch, in: state).addingReportingOverflow(amount.ngonka)
        guard !overflow else { throw .overflow("fees of epoch \(epoch)") }
        state.set(StateKey.epochFees(epoch), BigEndian.encode(sum))
    }

    /// A passed governance spend (§10) paid `amount` out of the training fund.
    static func trainingFundSpent(_ amount: UInt64, in state: StateContext) throws(LedgerError) {
        var totals = try RewardsStore.totals(in: state)
        totals.trainingSpent &+= amount
        try RewardsStore.saveTotals(totals, in: state)
    }

    /// ⌊cost × validator_share⌋: what the validators that passed an inference split.
    static func validatorShare(of cost: UInt64, params: RewardParams) -> UInt64 {
        UInt64(UInt128(cost) * UInt128(params.validatorSharePpm) / 1_000_000)
    }

    /// The validators with a passing record for inference `id`, in address order.
    static func passingValidators(of id: String, in state: StateContext) throws(LedgerError) -> [Address] {
        try state.records(Wire.ValidationRecord.self, withPrefix: StateKey.validationRecords(id), what: "validation")
            .filter(\.passed).map { record throws(LedgerError) in
                try parseAddress(record.validator, field: "validator")
            }
    }

    // MARK: End of block

    /// Settles every epoch whose validation window has closed and whose votes are decided, then
    /// burns the settlements whose claim window has ended. Runs after Epochs' end-block, so the
    /// current epoch is the one the next block sees.
    static func endBlock(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError)
        -> [LedgerEvent]
    {
        let current = try Inference.currentEpoch(in: state)
        var totals = try RewardsStore.totals(in: state)
        var events: [LedgerEvent] = []
        var changed = false
        while totals.nextEpoch &+ Validation.windowEpochs < current,
            try ValidationStore.openVotes(totals.nextEpoch, in: state) == 0
        {
            events += try settle(
                epoch: totals.nextEpoch, current: current, totals: &totals, context: context, params: params,
                state: state)
            totals.nextEpoch += 1
            changed = true
        }
        while totals.nextUnclosedEpoch < totals.nextEpoch {
            let epoch = totals.nextUnclosedEpoch
            let until = try RewardsStore.epochSettlement(epoch, in: state)?.claimUntilEpoch ?? 0
            guard until < current else { break }
            events += try closeClaims(epoch: epoch, totals: &totals, height: context.height, state: state)
            // The claim audit was the last rule to read the epoch's inference records (§3.3).
            _ = try Pruning.pruneEpoch(epoch, context: context, params: params, state: state)
            totals.nextUnclosedEpoch += 1
            changed = true
        }
        if changed { try RewardsStore.saveTotals(totals, in: state) }
        return events
    }

    /// §8.3–§8.4 for one epoch.
    private static func settle(
        epoch: UInt64, current: UInt64, totals: inout Wire.RewardTotals, context: BlockContext,
        params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let snapshot = try ValidationStore.epoch(epoch, in: state)
        let available = try Bank.balance(of: miningPool, in: state).ngonka
        let issuance = snapshot == nil ? 0 : min(EpochIssuance.reward(epoch: epoch, params: params.rewards), available)
        let fees = try RewardsStore.fees(epoch, in: state)
        if fees > 0 {
            try Bank.transfer(
                from: Bank.ModuleAccount.feeCollector.address, to: miningPool, amount: Amount(ngonka: fees), in: state)
            state.delete(StateKey.epochFees(epoch))
        }
        let members = try members(of: epoch, snapshot: snapshot, state: state)
        let distribution: EpochDistribution
        do {
            distribution = try EpochDistribution.compute(
                pool: issuance &+ fees, members: members, previousReference: totals.referenceWeight,
                params: params.rewards)
        } catch {
            throw .invariantViolated("settlement of epoch \(epoch): \(error)")
        }
        // The validators' shares only move between participants: what leaves the inference account
        // is exactly earned − training.
        guard distribution.workTotal == distribution.earnedTotal - distribution.trainingTotal else {
            throw .invariantViolated(
                "settlement of epoch \(epoch): work \(distribution.workTotal) ≠ earned "
                    + "\(distribution.earnedTotal) − training \(distribution.trainingTotal)")
        }
        try Bank.transfer(from: miningPool, to: account, amount: Amount(ngonka: distribution.rewardTotal), in: state)
        try Bank.transfer(
            from: Inference.moduleAddress, to: trainingFund, amount: Amount(ngonka: distribution.trainingTotal),
            in: state)
        try Bank.transfer(
            from: Inference.moduleAddress, to: account, amount: Amount(ngonka: distribution.workTotal), in: state)
        try RewardsStore.updateLiabilities(in: state) { record in
            guard record.unsettledCost >= distribution.earnedTotal else { return false }
            record.unsettledCost -= distribution.earnedTotal
            return true
        }
        // Genesis powers are consensus weights, not PoC weights: on another scale, they would hold
        // W_ref far from the first sprints' weights for many epochs. The reference starts at epoch 1.
        totals.referenceWeight = epoch == 0 ? 0 : distribution.referenceWeight
        totals.rewardIssued &+= distribution.rewardTotal
        totals.trainingCredited &+= distribution.trainingTotal
        totals.pending &+= distribution.rewardTotal &+ distribution.workTotal

        var record = Wire.EpochSettlement()
        record.epoch = epoch
        record.height = context.height
        record.issuance = issuance
        record.fees = fees
        record.totalWeight = distribution.totalWeight
        record.referenceWeight = distribution.referenceWeight
        record.rewardPaid = distribution.rewardTotal
        record.workPaid = distribution.workTotal
        record.trainingFund = distribution.trainingTotal
        record.claimUntilEpoch = current &+ params.rewards.claimWindowEpochs &- 1
        var events: [LedgerEvent] = []
        for share in distribution.shares where share.reward > 0 || share.work > 0 || share.training > 0 {
            var settlement = Wire.Settlement()
            settlement.address = share.address.description
            settlement.epoch = epoch
            settlement.weight = share.weight
            settlement.reward = share.reward
            settlement.work = share.work
            settlement.trainingFund = share.training
            settlement.status = pending
            settlement.settledHeight = context.height
            settlement.claimUntilEpoch = record.claimUntilEpoch
            record.participants += 1
            events.append(
                .settled(
                    epoch: epoch, participant: share.address, reward: Amount(ngonka: share.reward),
                    work: Amount(ngonka: share.work)))
            if try Validation.isInvalid(share.address, epoch: epoch, in: state) {
                events += try burn(
                    &settlement, reason: "invalid", height: context.height, totals: &totals, epochRecord: &record,
                    state: state)
            }
            try state.setRecord(settlement, at: StateKey.settlement(epoch, share.address))
        }
        for entry in try state.entries(withPrefix: StateKey.work(epoch: epoch)) { state.delete(entry.key) }
        try state.setRecord(record, at: StateKey.epochSettlement(epoch))
        events.append(
            .epochSettled(
                epoch: epoch, issuance: Amount(ngonka: issuance), fees: Amount(ngonka: fees),
                rewardPaid: Amount(ngonka: distribution.rewardTotal), workPaid: Amount(ngonka: distribution.workTotal),
                trainingFund: Amount(ngonka: distribution.trainingTotal)))
        return events
    }

    /// The epoch's participants: everyone in its sampling snapshot (the weights the executor pool
    /// and validation used), merged with anyone holding work counters (none should be missing from
    /// the snapshot, but money recorded is never skipped), in address order.
    private static func members(
        of epoch: UInt64, snapshot: Wire.ValidationEpoch?, state: StateContext
    ) throws(LedgerError) -> [EpochDistribution.Member] {
        var byAddress: [Address: EpochDistribution.Member] = [:]
        for entry in snapshot?.weights ?? [] {
            let address = try parseAddress(entry.address, field: "snapshot address")
            byAddress[address] = EpochDistribution.Member(address: address, weight: entry.weight)
        }
        for counters in try state.records(
            Wire.WorkCounters.self, withPrefix: StateKey.work(epoch: epoch), what: "work counters")
        {
            let address = try parseAddress(counters.address, field: "work counters address")
            var member = byAddress[address] ?? EpochDistribution.Member(address: address, weight: 0)
            member.earned = counters.earned
            member.sharesOut = counters.sharesOut
            member.sharesIn = counters.sharesIn
            byAddress[address] = member
        }
        return byAddress.values.sorted { $0.address.bytes.lexicographicallyPrecedes($1.address.bytes) }
    }

    /// Burns what is still pending of `epoch` (claim window over) and drops the epoch's audit index.
    private static func closeClaims(
        epoch: UInt64, totals: inout Wire.RewardTotals, height: UInt64, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        guard var record = try RewardsStore.epochSettlement(epoch, in: state) else { return [] }
        var events: [LedgerEvent] = []
        for var settlement in try state.records(
            Wire.Settlement.self, withPrefix: StateKey.settlements(epoch: epoch), what: "settlement")
        where settlement.status == pending {
            events += try burn(
                &settlement, reason: "unclaimed", height: height, totals: &totals, epochRecord: &record, state: state)
            let address = try parseAddress(settlement.address, field: "settlement address")
            try state.setRecord(settlement, at: StateKey.settlement(epoch, address))
        }
        try state.setRecord(record, at: StateKey.epochSettlement(epoch))
        for entry in try state.entries(withPrefix: StateKey.finished(epoch: epoch)) { state.delete(entry.key) }
        return events
    }

    /// Burns a pending settlement (never redistributed, §8.3).
    static func burn(
        _ settlement: inout Wire.Settlement, reason: String, height: UInt64, totals: inout Wire.RewardTotals,
        epochRecord: inout Wire.EpochSettlement, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let amount = settlement.reward &+ settlement.work
        try Bank.burn(Amount(ngonka: amount), from: account, in: state)
        guard totals.pending >= amount else { throw .invariantViolated("pending settlements below a settlement") }
        totals.pending -= amount
        totals.burned &+= amount
        epochRecord.burned &+= amount
        settlement.status = burned
        settlement.reason = reason
        settlement.closedHeight = height
        let address = try parseAddress(settlement.address, field: "settlement address")
        return [
            .settlementBurned(
                epoch: settlement.epoch, participant: address, amount: Amount(ngonka: amount), reason: reason)
        ]
    }

    // MARK: Invariants (§8.3)

    /// Beside the supply: the `inference` account holds exactly its liabilities, the `rewards`
    /// account exactly the pending settlements, and the training fund exactly what its rules moved.
    /// Returns the first violation, or nil.
    static func checkInvariants(in state: StateContext) throws(LedgerError) -> String? {
        let liabilities = try RewardsStore.liabilities(in: state)
        let escrow = try Bank.balance(of: Inference.moduleAddress, in: state).ngonka
        let owed = UInt128(liabilities.openEscrow) + UInt128(liabilities.unsettledCost)
        if UInt128(escrow) != owed {
            return "the inference account holds \(escrow) ngonka but owes \(owed) (open escrow "
                + "\(liabilities.openEscrow) + unsettled cost \(liabilities.unsettledCost))"
        }
        let totals = try RewardsStore.totals(in: state)
        let held = try Bank.balance(of: account, in: state).ngonka
        if held != totals.pending {
            return "the rewards account holds \(held) ngonka but \(totals.pending) is pending"
        }
        let fund = try Bank.balance(of: trainingFund, in: state).ngonka
        if UInt128(fund) + UInt128(totals.trainingSpent) != UInt128(totals.trainingCredited) {
            return "the training fund holds \(fund) ngonka but was credited \(totals.trainingCredited) "
                + "and spent \(totals.trainingSpent)"
        }
        return nil
    }
}
