import GonkaCore

/// What a transaction or block did, for subscribers (API nodes, explorers, the CLI). Events are
/// typed here; `kind` and `attributes` give the flat form for JSON and SSE.
public enum LedgerEvent: Hashable, Sendable {
    /// A fee was taken from the signer into the fee collector.
    case feePaid(payer: Address, amount: Amount)
    case transfer(from: Address, to: Address, amount: Amount)
    case participantRegistered(address: Address, url: String)
    case operatorGranted(granter: Address, grantee: Address, msgTypes: [String], expiresAtHeight: UInt64)
    case operatorRevoked(granter: Address, grantee: Address)
    /// Coins created at genesis (or, later, by issuance).
    case minted(to: Address, amount: Amount)
    /// A stage of the epoch schedule began at this block (PROTOCOL §4). `blockHash` is hex(hash(P)),
    /// empty until it is known (from block P+1 on).
    case pocStage(epoch: UInt64, stage: String, pocStartHeight: UInt64, blockHash: String)
    case seedCommitted(participant: Address, epoch: UInt64)
    case pocBatch(participant: Address, pocStartHeight: UInt64, mlNodeID: String, nonces: Int)
    case pocValidation(validator: Address, participant: Address, pocStartHeight: UInt64, fraud: Bool)
    /// The sprint's result for one participant (end of block P + weights_offset).
    case weightComputed(epoch: UInt64, participant: Address, weight: UInt64, status: String)
    /// A new validator set was handed to consensus; it signs from `fromHeight` on.
    case validatorSetChanged(epoch: UInt64, fromHeight: UInt64, validators: Int, totalPower: UInt64)
    /// A Start was recorded and its escrow moved into the inference module account (§6.4).
    case inferenceStarted(inferenceID: String, requester: Address, executor: Address, model: String, escrow: Amount)
    /// A Finish arrived before its Start and waits for it.
    case inferenceFinishReceived(inferenceID: String, executor: Address)
    /// Start and Finish are both in: the cost was charged and the rest refunded.
    case inferenceFinished(inferenceID: String, executor: Address, cost: Amount, refund: Amount)
    /// Unfinished within `inference_expiry_blocks`: the escrow was refunded in full.
    case inferenceExpired(inferenceID: String, executor: Address, refund: Amount)
    /// An executor missed an inference: `skipped` by the TA (a later attempt) or `expired`.
    case executorMissed(executor: Address, inferenceID: String, reason: String)
    /// A `MsgValidation` was accepted (§7.2); `vote` when it was a revalidation vote (§7.3).
    case validationRecorded(inferenceID: String, validator: Address, passed: Bool, reason: String, vote: Bool)
    /// The inference is VALIDATED: by its first pass, or by a vote.
    case inferenceValidated(inferenceID: String, executor: Address)
    /// A failure opened a revalidation vote (§7.3) among `revalidators`, decided by `deadlineHeight`.
    case inferenceVoting(
        inferenceID: String, executor: Address, firstValidator: Address, reason: String, revalidators: [Address],
        deadlineHeight: UInt64)
    /// The vote confirmed the failure: the requester was refunded `refund` (the whole cost).
    case inferenceInvalidated(inferenceID: String, executor: Address, refund: Amount)
    /// The executor's sequential test crossed its threshold (§7.4): INVALID for `epoch`.
    case executorInvalid(executor: Address, epoch: UInt64)
    /// An epoch was settled (§8.3): R(e) and the fees distributed by weight, the work coins recorded.
    case epochSettled(
        epoch: UInt64, issuance: Amount, fees: Amount, rewardPaid: Amount, workPaid: Amount, trainingFund: Amount)
    /// A participant's settlement of an epoch, pending its claim.
    case settled(epoch: UInt64, participant: Address, reward: Amount, work: Amount)
    /// A settlement was claimed and paid.
    case rewardsClaimed(epoch: UInt64, participant: Address, amount: Amount)
    /// A settlement was burned ("invalid", "missed_validations", "no_seed_commitment", "unclaimed").
    case settlementBurned(epoch: UInt64, participant: Address, amount: Amount, reason: String)
    /// A governance proposal was submitted (PROTOCOL §10); `kind` is its content kind.
    case proposalSubmitted(proposalID: UInt64, proposer: Address, kind: String, expedited: Bool)
    /// A deposit joined a proposal's escrow.
    case proposalDeposited(proposalID: UInt64, depositor: Address, amount: Amount)
    /// The deposit reached the minimum (or an expedited vote failed over): the vote runs until
    /// the end of `votingEndHeight`.
    case proposalVotingStarted(proposalID: UInt64, votingEndHeight: UInt64)
    /// A participant voted (a later vote replaces its earlier one).
    case proposalVoted(proposalID: UInt64, voter: Address, option: String)
    /// The proposal ended: `status` passed/rejected/failed, `outcome` why, `depositFate` refunded/burned.
    case proposalDecided(proposalID: UInt64, status: String, outcome: String, depositFate: String)
    /// A governed parameter took a new value (JSON text) at this block's end.
    case paramChanged(name: String, value: String)
    /// A software upgrade's handler ran at this height and the chain continued.
    case upgradeApplied(name: String, height: UInt64)
    /// Collateral moved into the `collateral` module account (§9).
    case collateralDeposited(participant: Address, amount: Amount)
    /// A withdrawal began unbonding; it is paid back at the end of `releaseHeight`.
    case collateralUnbonding(participant: Address, amount: Amount, releaseHeight: UInt64)
    /// An unbonding withdrawal was paid back.
    case collateralReleased(participant: Address, amount: Amount)
    /// A slash burned `amount` of the participant's collateral (§9); `reason` is `invalid`,
    /// `downtime`, `double_sign` or `liveness`.
    case slashed(participant: Address, reason: String, amount: Amount, jailed: Bool, tombstoned: Bool)
    case unjailed(validator: Address)

    /// A stable name for the event type, e.g. `"transfer"`.
    public var kind: String {
        switch self {
        case .feePaid: "fee_paid"
        case .transfer: "transfer"
        case .participantRegistered: "participant_registered"
        case .operatorGranted: "operator_granted"
        case .operatorRevoked: "operator_revoked"
        case .minted: "minted"
        case .pocStage: "poc_stage"
        case .seedCommitted: "seed_committed"
        case .pocBatch: "poc_batch"
        case .pocValidation: "poc_validation"
        case .weightComputed: "weight_computed"
        case .validatorSetChanged: "validator_set_changed"
        case .inferenceStarted: "inference_started"
        case .inferenceFinishReceived: "inference_finish_received"
        case .inferenceFinished: "inference_finished"
        case .inferenceExpired: "inference_expired"
        case .executorMissed: "executor_missed"
        case .validationRecorded: "validation_recorded"
        case .inferenceValidated: "inference_validated"
        case .inferenceVoting: "inference_voting"
        case .inferenceInvalidated: "inference_invalidated"
        case .executorInvalid: "executor_invalid"
        case .epochSettled: "epoch_settled"
        case .settled: "settled"
        case .rewardsClaimed: "rewards_claimed"
        case .settlementBurned: "settlement_burned"
        case .proposalSubmitted: "proposal_submitted"
        case .proposalDeposited: "proposal_deposited"
        case .proposalVotingStarted: "proposal_voting_started"
        case .proposalVoted: "proposal_voted"
        case .proposalDecided: "proposal_decided"
        case .paramChanged: "param_changed"
        case .upgradeApplied: "upgrade_applied"
        case .collateralDeposited: "collateral_deposited"
        case .collateralUnbonding: "collateral_unbonding"
        case .collateralReleased: "collateral_released"
        case .slashed: "slashed"
        case .unjailed: "unjailed"
        }
    }

    /// The event's fields as ordered (name, value) pairs.
    public var attributes: [(String, String)] {
        switch self {
        case .feePaid(let payer, let amount): [("payer", payer.description), ("amount", String(amount.ngonka))]
        case .transfer(let from, let to, let amount):
            [("from", from.description), ("to", to.description), ("amount", String(amount.ngonka))]
        case .participantRegistered(let address, let url): [("address", address.description), ("url", url)]
        case .operatorGranted(let granter, let grantee, let types, let expires):
            [
                ("granter", granter.description), ("grantee", grantee.description),
                ("msg_types", types.joined(separator: ",")), ("expires_at_height", String(expires)),
            ]
        case .operatorRevoked(let granter, let grantee):
            [("granter", granter.description), ("grantee", grantee.description)]
        case .minted(let to, let amount): [("to", to.description), ("amount", String(amount.ngonka))]
        case .pocStage(let epoch, let stage, let p, let hash):
            [("epoch", String(epoch)), ("stage", stage), ("poc_start_height", String(p)), ("block_hash", hash)]
        case .seedCommitted(let participant, let epoch):
            [("participant", participant.description), ("epoch", String(epoch))]
        case .pocBatch(let participant, let p, let node, let nonces):
            [
                ("participant", participant.description), ("poc_start_height", String(p)), ("ml_node_id", node),
                ("nonces", String(nonces)),
            ]
        case .pocValidation(let validator, let participant, let p, let fraud):
            [
                ("validator", validator.description), ("participant", participant.description),
                ("poc_start_height", String(p)), ("fraud", String(fraud)),
            ]
        case .weightComputed(let epoch, let participant, let weight, let status):
            [
                ("epoch", String(epoch)), ("participant", participant.description), ("weight", String(weight)),
                ("status", status),
            ]
        case .validatorSetChanged(let epoch, let from, let count, let total):
            [
                ("epoch", String(epoch)), ("from_height", String(from)), ("validators", String(count)),
                ("total_power", String(total)),
            ]
        case .inferenceStarted(let id, let requester, let executor, let model, let escrow):
            [
                ("inference_id", id), ("requester", requester.description), ("executor", executor.description),
                ("model", model), ("escrow", String(escrow.ngonka)),
            ]
        case .inferenceFinishReceived(let id, let executor): [("inference_id", id), ("executor", executor.description)]
        case .inferenceFinished(let id, let executor, let cost, let refund):
            [
                ("inference_id", id), ("executor", executor.description), ("cost", String(cost.ngonka)),
                ("refund", String(refund.ngonka)),
            ]
        case .inferenceExpired(let id, let executor, let refund):
            [("inference_id", id), ("executor", executor.description), ("refund", String(refund.ngonka))]
        case .executorMissed(let executor, let id, let reason):
            [("executor", executor.description), ("inference_id", id), ("reason", reason)]
        case .validationRecorded(let id, let validator, let passed, let reason, let vote):
            [
                ("inference_id", id), ("validator", validator.description), ("passed", String(passed)),
                ("reason", reason), ("vote", String(vote)),
            ]
        case .inferenceValidated(let id, let executor): [("inference_id", id), ("executor", executor.description)]
        case .inferenceVoting(let id, let executor, let first, let reason, let revalidators, let deadline):
            [
                ("inference_id", id), ("executor", executor.description), ("first_validator", first.description),
                ("reason", reason), ("revalidators", revalidators.map(\.description).joined(separator: ",")),
                ("deadline_height", String(deadline)),
            ]
        case .inferenceInvalidated(let id, let executor, let refund):
            [("inference_id", id), ("executor", executor.description), ("refund", String(refund.ngonka))]
        case .executorInvalid(let executor, let epoch): [("executor", executor.description), ("epoch", String(epoch))]
        case .epochSettled(let epoch, let issuance, let fees, let reward, let work, let training):
            [
                ("epoch", String(epoch)), ("issuance", String(issuance.ngonka)), ("fees", String(fees.ngonka)),
                ("reward_paid", String(reward.ngonka)), ("work_paid", String(work.ngonka)),
                ("training_fund", String(training.ngonka)),
            ]
        case .settled(let epoch, let participant, let reward, let work):
            [
                ("epoch", String(epoch)), ("participant", participant.description), ("reward", String(reward.ngonka)),
                ("work", String(work.ngonka)),
            ]
        case .rewardsClaimed(let epoch, let participant, let amount):
            [("epoch", String(epoch)), ("participant", participant.description), ("amount", String(amount.ngonka))]
        case .settlementBurned(let epoch, let participant, let amount, let reason):
            [
                ("epoch", String(epoch)), ("participant", participant.description), ("amount", String(amount.ngonka)),
                ("reason", reason),
            ]
        case .proposalSubmitted(let id, let proposer, let kind, let expedited):
            [
                ("proposal_id", String(id)), ("proposer", proposer.description), ("kind", kind),
                ("expedited", String(expedited)),
            ]
        case .proposalDeposited(let id, let depositor, let amount):
            [("proposal_id", String(id)), ("depositor", depositor.description), ("amount", String(amount.ngonka))]
        case .proposalVotingStarted(let id, let end): [("proposal_id", String(id)), ("voting_end_height", String(end))]
        case .proposalVoted(let id, let voter, let option):
            [("proposal_id", String(id)), ("voter", voter.description), ("option", option)]
        case .proposalDecided(let id, let status, let outcome, let fate):
            [("proposal_id", String(id)), ("status", status), ("outcome", outcome), ("deposit_fate", fate)]
        case .paramChanged(let name, let value): [("name", name), ("value", value)]
        case .upgradeApplied(let name, let height): [("name", name), ("height", String(height))]
        case .collateralDeposited(let participant, let amount):
            [("participant", participant.description), ("amount", String(amount.ngonka))]
        case .collateralUnbonding(let participant, let amount, let release):
            [
                ("participant", participant.description), ("amount", String(amount.ngonka)),
                ("release_height", String(release)),
            ]
        case .collateralReleased(let participant, let amount):
            [("participant", participant.description), ("amount", String(amount.ngonka))]
        case .slashed(let participant, let reason, let amount, let jailed, let tombstoned):
            [
                ("participant", participant.description), ("reason", reason), ("amount", String(amount.ngonka)),
                ("jailed", String(jailed)), ("tombstoned", String(tombstoned)),
            ]
        case .unjailed(let validator): [("validator", validator.description)]
        }
    }
}
