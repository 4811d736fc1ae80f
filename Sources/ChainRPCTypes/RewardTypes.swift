import Foundation
import GonkaCore

// Module Rewards' queries (docs/RPC.md, PROTOCOL §8): where the supply is, each epoch's
// settlement, and a participant's settlements with their claim or burn.

/// The module accounts and the running totals of issuance, settlements and the training fund.
public struct SupplyBreakdown: Codable, Hashable, Sendable {
    /// Balances of the module accounts by name (`mining_pool`, `community_pool`, `training_fund`,
    /// `fee_collector`, `inference`, `rewards`).
    public var modules: [String: UInt64]
    /// Σ reward coins paid out of the mining pool so far (Σ over settled epochs, each ≤ R(e)).
    public var rewardIssued: UInt64
    /// Settlements recorded and not yet claimed or burned (what the `rewards` account holds).
    public var pending: UInt64
    public var claimed: UInt64
    /// Σ settlements burned (INVALID, missed validations, unclaimed, no seed commitment).
    public var settlementsBurned: UInt64
    public var trainingCredited: UInt64
    public var trainingSpent: UInt64
    /// What the `inference` account owes: escrow of open inferences and costs of unsettled epochs.
    public var openEscrow: UInt64
    public var unsettledCost: UInt64
    /// Epochs below this are settled.
    public var nextEpoch: UInt64
    public var referenceWeight: UInt64

    public init(
        modules: [String: UInt64], rewardIssued: UInt64, pending: UInt64, claimed: UInt64, settlementsBurned: UInt64,
        trainingCredited: UInt64, trainingSpent: UInt64, openEscrow: UInt64, unsettledCost: UInt64,
        nextEpoch: UInt64, referenceWeight: UInt64
    ) {
        self.modules = modules
        self.rewardIssued = rewardIssued
        self.pending = pending
        self.claimed = claimed
        self.settlementsBurned = settlementsBurned
        self.trainingCredited = trainingCredited
        self.trainingSpent = trainingSpent
        self.openEscrow = openEscrow
        self.unsettledCost = unsettledCost
        self.nextEpoch = nextEpoch
        self.referenceWeight = referenceWeight
    }

    enum CodingKeys: String, CodingKey {
        case modules, pending, claimed
        case rewardIssued = "reward_issued"
        case settlementsBurned = "settlements_burned"
        case trainingCredited = "training_credited"
        case trainingSpent = "training_spent"
        case openEscrow = "open_escrow"
        case unsettledCost = "unsettled_cost"
        case nextEpoch = "next_epoch"
        case referenceWeight = "reference_weight"
    }
}

/// A participant's settlement of one epoch (amounts in ngonka).
public struct SettlementInfo: Codable, Hashable, Sendable {
    public var address: String
    public var epoch: UInt64
    public var weight: UInt64
    public var reward: UInt64
    public var work: UInt64
    public var trainingFund: UInt64
    /// `pending`, `claimed` or `burned`.
    public var status: String
    /// Why it was burned, else empty.
    public var reason: String
    public var settledHeight: UInt64
    public var closedHeight: UInt64
    public var claimUntilEpoch: UInt64
    public var missedValidations: UInt64

    public init(
        address: String, epoch: UInt64, weight: UInt64, reward: UInt64, work: UInt64, trainingFund: UInt64,
        status: String, reason: String, settledHeight: UInt64, closedHeight: UInt64, claimUntilEpoch: UInt64,
        missedValidations: UInt64
    ) {
        self.address = address
        self.epoch = epoch
        self.weight = weight
        self.reward = reward
        self.work = work
        self.trainingFund = trainingFund
        self.status = status
        self.reason = reason
        self.settledHeight = settledHeight
        self.closedHeight = closedHeight
        self.claimUntilEpoch = claimUntilEpoch
        self.missedValidations = missedValidations
    }

    enum CodingKeys: String, CodingKey {
        case address, epoch, weight, reward, work, status, reason
        case trainingFund = "training_fund"
        case settledHeight = "settled_height"
        case closedHeight = "closed_height"
        case claimUntilEpoch = "claim_until_epoch"
        case missedValidations = "missed_validations"
    }
}

/// One epoch's settlement and every participant's share (`/query/settlement/E`).
public struct EpochSettlementInfo: Codable, Hashable, Sendable {
    public var epoch: UInt64
    /// False before the epoch is settled (every other field then zero).
    public var settled: Bool
    public var height: UInt64
    /// R(e) as paid (capped by the pool), the epoch's tx fees, W(e) and W_ref(e).
    public var issuance: UInt64
    public var fees: UInt64
    public var totalWeight: UInt64
    public var referenceWeight: UInt64
    public var rewardPaid: UInt64
    public var workPaid: UInt64
    public var trainingFund: UInt64
    public var claimed: UInt64
    public var burned: UInt64
    public var claimUntilEpoch: UInt64
    public var settlements: [SettlementInfo]

    public init(
        epoch: UInt64, settled: Bool, height: UInt64, issuance: UInt64, fees: UInt64, totalWeight: UInt64,
        referenceWeight: UInt64, rewardPaid: UInt64, workPaid: UInt64, trainingFund: UInt64, claimed: UInt64,
        burned: UInt64, claimUntilEpoch: UInt64, settlements: [SettlementInfo]
    ) {
        self.epoch = epoch
        self.settled = settled
        self.height = height
        self.issuance = issuance
        self.fees = fees
        self.totalWeight = totalWeight
        self.referenceWeight = referenceWeight
        self.rewardPaid = rewardPaid
        self.workPaid = workPaid
        self.trainingFund = trainingFund
        self.claimed = claimed
        self.burned = burned
        self.claimUntilEpoch = claimUntilEpoch
        self.settlements = settlements
    }

    enum CodingKeys: String, CodingKey {
        case epoch, settled, height, issuance, fees, claimed, burned, settlements
        case totalWeight = "total_weight"
        case referenceWeight = "reference_weight"
        case rewardPaid = "reward_paid"
        case workPaid = "work_paid"
        case trainingFund = "training_fund"
        case claimUntilEpoch = "claim_until_epoch"
    }
}
