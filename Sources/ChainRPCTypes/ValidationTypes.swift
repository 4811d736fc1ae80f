import Foundation
import GonkaCore

// Module Validation's queries (docs/RPC.md, PROTOCOL §7): an inference's validations and vote,
// the validations of an epoch, participants' standing (counts, sequential test, reputation), the
// epoch's sampling snapshot, and the votes a revalidator owes.

/// One accepted `MsgValidation`.
public struct ValidationInfo: Codable, Hashable, Sendable {
    public var inferenceID: String
    public var validator: String
    public var passed: Bool
    /// Empty when passed.
    public var reason: String
    public var distancePpm: UInt64
    public var samplerMisses: UInt64
    public var height: UInt64
    /// The inference's epoch.
    public var epoch: UInt64
    /// A revalidation vote (§7.3) rather than the validator's own check.
    public var vote: Bool

    public init(
        inferenceID: String, validator: String, passed: Bool, reason: String, distancePpm: UInt64,
        samplerMisses: UInt64, height: UInt64, epoch: UInt64, vote: Bool
    ) {
        self.inferenceID = inferenceID
        self.validator = validator
        self.passed = passed
        self.reason = reason
        self.distancePpm = distancePpm
        self.samplerMisses = samplerMisses
        self.height = height
        self.epoch = epoch
        self.vote = vote
    }

    enum CodingKeys: String, CodingKey {
        case validator, passed, reason, height, epoch, vote
        case inferenceID = "inference_id"
        case distancePpm = "distance_ppm"
        case samplerMisses = "sampler_misses"
    }
}

/// The revalidation vote a failure opened (§7.3).
public struct VotingInfo: Codable, Hashable, Sendable {
    public struct Revalidator: Codable, Hashable, Sendable {
        public var address: String
        public var weight: UInt64
        /// `pending`, `passed` or `failed`.
        public var vote: String

        public init(address: String, weight: UInt64, vote: String) {
            self.address = address
            self.weight = weight
            self.vote = vote
        }
    }

    public var inferenceID: String
    public var firstValidator: String
    public var firstReason: String
    public var failureHeight: UInt64
    /// The end-block of this height decides a vote still open.
    public var deadlineHeight: UInt64
    public var revalidators: [Revalidator]
    /// Empty while open; `validated` or `invalidated`.
    public var outcome: String
    public var decidedHeight: UInt64

    public init(
        inferenceID: String, firstValidator: String, firstReason: String, failureHeight: UInt64,
        deadlineHeight: UInt64, revalidators: [Revalidator], outcome: String, decidedHeight: UInt64
    ) {
        self.inferenceID = inferenceID
        self.firstValidator = firstValidator
        self.firstReason = firstReason
        self.failureHeight = failureHeight
        self.deadlineHeight = deadlineHeight
        self.revalidators = revalidators
        self.outcome = outcome
        self.decidedHeight = decidedHeight
    }

    enum CodingKeys: String, CodingKey {
        case revalidators, outcome
        case inferenceID = "inference_id"
        case firstValidator = "first_validator"
        case firstReason = "first_reason"
        case failureHeight = "failure_height"
        case deadlineHeight = "deadline_height"
        case decidedHeight = "decided_height"
    }
}

/// `query validation/{id}`: every validation of one inference and its vote, if any.
public struct InferenceValidationsInfo: Codable, Hashable, Sendable {
    public var inferenceID: String
    public var validations: [ValidationInfo]
    public var voting: VotingInfo?

    public init(inferenceID: String, validations: [ValidationInfo], voting: VotingInfo?) {
        self.inferenceID = inferenceID
        self.validations = validations
        self.voting = voting
    }

    enum CodingKeys: String, CodingKey {
        case validations, voting
        case inferenceID = "inference_id"
    }
}

/// One participant's validation standing in an epoch: as executor (served, missed, confirmed
/// outcomes, the sequential test) and as validator (validations done, false alarms).
public struct ValidationStandingInfo: Codable, Hashable, Sendable {
    public var address: String
    /// Weight in the epoch's sampling snapshot (0: not a participant of that epoch).
    public var weight: UInt64
    /// Reputation 0..100 now.
    public var reputation: UInt64
    /// `active` or `INVALID`.
    public var status: String
    public var served: UInt64
    public var missed: UInt64
    /// Confirmed outcomes: checked = validated + invalidated.
    public var validated: UInt64
    public var invalidated: UInt64
    public var checked: UInt64
    /// The sequential test's log-likelihood ratio: Q48 fixed point, and as a decimal (6 places).
    public var llrQ48: Int64
    public var llr: String
    /// INVALID at ln(1/α), as a decimal (6 places).
    public var llrThreshold: String
    public var invalidHeight: UInt64
    public var validationsDone: UInt64
    public var falseAlarms: UInt64

    public init(
        address: String, weight: UInt64, reputation: UInt64, status: String, served: UInt64, missed: UInt64,
        validated: UInt64, invalidated: UInt64, checked: UInt64, llrQ48: Int64, llr: String, llrThreshold: String,
        invalidHeight: UInt64, validationsDone: UInt64, falseAlarms: UInt64
    ) {
        self.address = address
        self.weight = weight
        self.reputation = reputation
        self.status = status
        self.served = served
        self.missed = missed
        self.validated = validated
        self.invalidated = invalidated
        self.checked = checked
        self.llrQ48 = llrQ48
        self.llr = llr
        self.llrThreshold = llrThreshold
        self.invalidHeight = invalidHeight
        self.validationsDone = validationsDone
        self.falseAlarms = falseAlarms
    }

    enum CodingKeys: String, CodingKey {
        case address, weight, reputation, status, served, missed, validated, invalidated, checked, llr
        case llrQ48 = "llr_q48"
        case llrThreshold = "llr_threshold"
        case invalidHeight = "invalid_height"
        case validationsDone = "validations_done"
        case falseAlarms = "false_alarms"
    }

    /// A Q48 value as a decimal with 6 places, rounded toward zero (display only).
    public static func decimal(q48 value: Int64) -> String {
        let negative = value < 0
        let magnitude = value.magnitude
        let whole = magnitude >> 48
        let micro = (UInt128(magnitude & ((1 << 48) - 1)) * 1_000_000) >> 48
        let digits = String(micro)
        return (negative ? "-" : "") + "\(whole)." + String(repeating: "0", count: 6 - digits.count) + digits
    }
}

/// `query validation_epoch[/{E}]`: the epoch's sampling snapshot (§7.1) and every participant's standing.
public struct ValidationEpochInfo: Codable, Hashable, Sendable {
    public var epoch: UInt64
    /// Traffic R: inferences finished in the previous epoch (0 before the epoch began).
    public var traffic: UInt64
    /// Whether the epoch has begun (has a snapshot).
    public var begun: Bool
    public var participants: [ValidationStandingInfo]
    /// Reputations at the epoch's start, as the sampling uses them, by address.
    public var startReputations: [String: UInt64]

    public init(
        epoch: UInt64, traffic: UInt64, begun: Bool, participants: [ValidationStandingInfo],
        startReputations: [String: UInt64]
    ) {
        self.epoch = epoch
        self.traffic = traffic
        self.begun = begun
        self.participants = participants
        self.startReputations = startReputations
    }

    enum CodingKeys: String, CodingKey {
        case epoch, traffic, begun, participants
        case startReputations = "start_reputations"
    }
}
