import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

extension StateKey {
    static let signingInfoPrefix = Array("slashing/info/".utf8)

    /// `Wire.SigningInfo` of a participant: liveness window, jail, tombstone.
    static func signingInfo(_ address: Address) -> [UInt8] { signingInfoPrefix + address.bytes }
}

/// A double sign as the ledger sees it (PROTOCOL §3.1, §9): the offence of
/// `Consensus.DuplicateVoteEvidence`, whose two signatures the node has already verified against
/// the validator set of `height` and this chain id (the ledger does not know vote encodings).
public struct DoubleSignEvidence: Sendable, Hashable {
    /// The address of the validator's consensus key (the votes' `validator`).
    public let validator: Address
    /// The height, round and vote type (1 prevote, 2 precommit) of the two conflicting votes.
    public let height: UInt64
    public let round: UInt32
    public let voteType: UInt32

    public init(validator: Address, height: UInt64, round: UInt32, voteType: UInt32) {
        self.validator = validator
        self.height = height
        self.round = round
        self.voteType = voteType
    }
}

/// Module Slashing (PROTOCOL §9): jail and tombstone, `MsgUnjail`, the consensus liveness window,
/// executor downtime at the epoch boundary, INVALID's slash and double-sign evidence. Every burn
/// goes through ``Collateral/slash(_:ppm:reason:offence:context:jailed:tombstoned:state:)``.
///
/// Jailed and tombstoned participants leave the executor pool at once
/// (`Inference.removeFromExecutorSet`) and the validator set from two heights later: the ledger
/// recomputes the set after a block that jails or unjails (`Epochs.refreshValidatorSet`, which like
/// every set update skips them through `Epochs.validatorMembers`); the next epoch's executor pool
/// skips them too.
enum Slashing {
    // MARK: Records

    static func info(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.SigningInfo {
        try state.record(Wire.SigningInfo.self, at: StateKey.signingInfo(address), what: "signing info")
            ?? Wire.SigningInfo.with { $0.address = address.description }
    }

    static func save(_ info: Wire.SigningInfo, _ address: Address, in state: StateContext) throws(LedgerError) {
        try state.setRecord(info, at: StateKey.signingInfo(address))
    }

    /// Whether `address` may not validate or execute: jailed or tombstoned.
    static func isExcluded(_ address: Address, in state: StateContext) throws(LedgerError) -> Bool {
        guard
            let info = try state.record(Wire.SigningInfo.self, at: StateKey.signingInfo(address), what: "signing info")
        else { return false }
        return info.jailed || info.tombstoned
    }

    /// Jails (and with `tombstone`, tombstones) `address`: out of the executor pool now, out of
    /// the validator set from two heights later; the liveness window starts again.
    private static func jail(
        _ address: Address, until: UInt64, tombstone: Bool, context: BlockContext, state: StateContext
    ) throws(LedgerError) {
        var info = try info(address, in: state)
        info.jailed = true
        info.jailedUntil = max(info.jailedUntil, until)
        if tombstone { info.tombstoned = true }
        info.missedBitmap = Data()
        info.missed = 0
        info.counted = 0
        try save(info, address, in: state)
        try Inference.removeFromExecutorSet(address, context: context, in: state)
    }

    // MARK: MsgUnjail

    /// `MsgUnjail` (§9): a jailed, not tombstoned validator, at or after its `jailed_until` height.
    /// It rejoins the validator set two heights later and the executor pool at the next epoch.
    static func handle(
        _ msg: Wire.MsgUnjail, context: BlockContext, state: StateContext
    ) throws(LedgerError)
        -> [LedgerEvent]
    {
        let validator = try parseAddress(msg.validator, field: "validator")
        var info = try info(validator, in: state)
        guard !info.tombstoned else { throw .tombstoned(validator) }
        guard info.jailed else { throw .notJailed(validator) }
        guard context.height >= info.jailedUntil else {
            throw .stillJailed(validator, until: info.jailedUntil, height: context.height)
        }
        info.jailed = false
        info.jailedUntil = 0
        try save(info, validator, in: state)
        return [.unjailed(validator: validator)]
    }

    // MARK: Liveness (§9: signed < 50% of the last 100 blocks → 1% and jail)

    /// Counts block `h − 1` for every validator of its set: signed iff its consensus key is among
    /// `context.lastCommitSigners` (the precommits block h carries). A window of
    /// `liveness_window` bits per validator (bit `counted % window`) holds the misses; once a full
    /// window is counted and fewer than `liveness_min_signed_ppm` of it were signed, the validator
    /// is slashed `liveness_ppm` and jailed for `jail_blocks`. No commit information (`nil`): nothing
    /// is counted.
    static func countLiveness(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError)
        -> [LedgerEvent]
    {
        guard let signers = context.lastCommitSigners, context.height >= 2 else { return [] }
        guard let set = try Epochs.validatorSet(forHeight: context.height - 1, in: state) else { return [] }
        let signed = Set(signers)
        let p = params.slashing
        let window = p.livenessWindow
        var events: [LedgerEvent] = []
        for member in set.validators {
            guard let address = try? Address(member.address),
                let key = try? PublicKey(previouslyValidated: Array(member.consensusPubkey))
            else { continue }
            var info = try info(address, in: state)
            guard !info.jailed, !info.tombstoned else { continue }
            let bytes = Int((window + 7) / 8)
            var bitmap = [UInt8](info.missedBitmap)
            if bitmap.count != bytes { bitmap = [UInt8](repeating: 0, count: bytes) }
            let index = Int(info.counted % window)
            let wasMissed = bitmap[index / 8] & (1 << (index % 8)) != 0
            let missed = !signed.contains(key.address)
            if wasMissed { info.missed -= 1 }
            if missed {
                bitmap[index / 8] |= 1 << (index % 8)
                info.missed += 1
            } else {
                bitmap[index / 8] &= ~(1 << (index % 8))
            }
            info.counted += 1
            info.missedBitmap = Data(bitmap)
            let signedInWindow = UInt128(window - min(info.missed, window))
            if info.counted >= window, signedInWindow * 1_000_000 < UInt128(window) * UInt128(p.livenessMinSignedPpm) {
                try save(info, address, in: state)
                try jail(
                    address, until: context.height &+ p.jailBlocks, tombstone: false, context: context, state: state)
                events.append(
                    try Collateral.slash(
                        address, ppm: p.livenessPpm, reason: .liveness, offence: context.height - 1, context: context,
                        jailed: true, state: state))
            } else {
                try save(info, address, in: state)
            }
        }
        return events
    }

    // MARK: Executor downtime and INVALID (at the epoch boundary / when declared)

    /// At the epoch boundary (when the next executor pool takes over): every executor of epoch
    /// `ended` that missed more than `downtime_miss_rate_ppm` of its served + missed inferences is
    /// slashed `downtime_ppm`.
    static func endEpoch(
        _ ended: UInt64, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let rate = UInt128(params.slashing.downtimeMissRatePpm)
        var events: [LedgerEvent] = []
        for stats in try state.records(
            Wire.ValidationStats.self, withPrefix: StateKey.validationStats(epoch: ended), what: "validation stats")
        {
            let total = UInt128(stats.served) + UInt128(stats.missed)
            guard total > 0, UInt128(stats.missed) * 1_000_000 > total * rate else { continue }
            let address = try parseAddress(stats.address, field: "stats address")
            events.append(
                try Collateral.slash(
                    address, ppm: params.slashing.downtimePpm, reason: .downtime, offence: ended, context: context,
                    state: state))
        }
        return events
    }

    /// INVALID (§7.4) slashes `slash_invalid`; called where module Validation declares it.
    static func invalid(
        _ executor: Address, epoch: UInt64, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> LedgerEvent {
        try Collateral.slash(
            executor, ppm: params.slashing.invalidPpm, reason: .invalid, offence: epoch, context: context, state: state)
    }

    // MARK: Double sign

    /// The participant a double sign of `evidence` punishes, or why the evidence is refused at a
    /// block of height `height`: from the future, older than `evidence_max_age_blocks`, a key that
    /// was not in the validator set of its height, or a validator already tombstoned.
    static func check(
        _ evidence: DoubleSignEvidence, atHeight height: UInt64, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> Address {
        guard evidence.height <= height else {
            throw .invalidEvidence("offence at height \(evidence.height) is after block \(height)")
        }
        guard height - evidence.height <= params.slashing.evidenceMaxAgeBlocks else {
            throw .invalidEvidence(
                "too old: offence at height \(evidence.height), block \(height), window "
                    + "\(params.slashing.evidenceMaxAgeBlocks) blocks")
        }
        let set = try Epochs.validatorSet(forHeight: evidence.height, in: state)?.validators ?? []
        guard
            let member = set.first(where: {
                (try? PublicKey(previouslyValidated: Array($0.consensusPubkey)))?.address == evidence.validator
            }), let participant = try? Address(member.address)
        else {
            throw .invalidEvidence(
                "unknown validator: \(evidence.validator) is not in the set of height \(evidence.height)")
        }
        guard !(try info(participant, in: state)).tombstoned else {
            throw .invalidEvidence("already punished: \(participant) is tombstoned")
        }
        return participant
    }

    /// Applies the block's evidence: each valid one slashes `double_sign_ppm` and tombstones.
    /// Evidence that fails ``check(_:atHeight:params:state:)`` here (the node refuses such blocks
    /// before consensus decides them) changes nothing.
    static func applyEvidence(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError)
        -> [LedgerEvent]
    {
        var events: [LedgerEvent] = []
        for evidence in context.evidence {
            let participant: Address
            do {
                participant = try check(evidence, atHeight: context.height, params: params, state: state)
            } catch {
                if error.shortDescription == "invalid_evidence" { continue }
                throw error
            }
            try jail(participant, until: .max, tombstone: true, context: context, state: state)
            events.append(
                try Collateral.slash(
                    participant, ppm: params.slashing.doubleSignPpm, reason: .doubleSign, offence: evidence.height,
                    context: context, jailed: true, tombstoned: true, state: state))
        }
        return events
    }
}
