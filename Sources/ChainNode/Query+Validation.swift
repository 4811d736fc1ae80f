import ChainRPCTypes
import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage

/// Module Validation's records as the RPC's types (`/query/validation/…`, `/query/validations/…`,
/// `/query/validation_epoch…`, `/query/votes/…`), read through the ledger's own queries over one
/// committed version.
struct ValidationReader {
    let state: AuthenticatedStore
    let version: UInt64

    private var view: VersionedStateView { VersionedStateView(state: state, version: version) }

    private func run<T>(_ body: () throws(LedgerError) -> T) throws(QueryError) -> T {
        do { return try body() } catch { throw .internal("state read failed: \(error)") }
    }

    func inference(_ id: String) throws(QueryError) -> InferenceValidationsInfo {
        let found = try run { () throws(LedgerError) in try ValidationQueries.inference(id, in: view) }
        return InferenceValidationsInfo(
            inferenceID: id, validations: found.validations.map(Self.validation), voting: found.voting.map(Self.voting))
    }

    func validations(epoch: UInt64, validator: Address?) throws(QueryError) -> [ValidationInfo] {
        try run { () throws(LedgerError) in
            try ValidationQueries.validations(epoch: epoch, validator: validator, in: view)
        }.map(Self.validation)
    }

    func pendingVotes(_ revalidator: Address) throws(QueryError) -> [VotingInfo] {
        try run { () throws(LedgerError) in try ValidationQueries.pendingVotes(revalidator: revalidator, in: view) }
            .map(Self.voting)
    }

    /// The epoch `epoch` (default: the one inference counts toward now) with every standing.
    func epoch(_ requested: UInt64?, params: ChainParams) throws(QueryError) -> ValidationEpochInfo {
        let view = view
        let current = try run { () throws(LedgerError) in try ValidationQueries.currentEpoch(in: view) }
        let epoch = requested ?? current
        let snapshot = try run { () throws(LedgerError) in try ValidationQueries.epoch(epoch, in: view) }
        let standings = try run { () throws(LedgerError) in
            try ValidationQueries.standings(epoch: epoch, params: params.validation, in: view)
        }
        let threshold =
            (try? SequentialTest(
                honestFailRatePpb: params.validation.honestFailRatePpb,
                cheaterFailRatePpb: params.validation.cheaterFailRatePpb,
                falseConvictionRatePpb: params.validation.falseConvictionRatePpb))?.threshold ?? 0
        var startReputations: [String: UInt64] = [:]
        for entry in snapshot?.weights ?? [] { startReputations[entry.address] = entry.reputation }
        return ValidationEpochInfo(
            epoch: epoch, traffic: snapshot?.traffic ?? 0, begun: snapshot != nil,
            participants: standings.map { standing in
                let s = standing.stats
                return ValidationStandingInfo(
                    address: standing.address.description, weight: standing.weight, reputation: standing.reputation,
                    status: s.invalid ? "INVALID" : "active", served: s.served, missed: s.missed,
                    validated: s.validated, invalidated: s.invalidated, checked: s.validated &+ s.invalidated,
                    llrQ48: s.llr, llr: ValidationStandingInfo.decimal(q48: s.llr),
                    llrThreshold: ValidationStandingInfo.decimal(q48: threshold), invalidHeight: s.invalidHeight,
                    validationsDone: s.validationsDone, falseAlarms: s.falseAlarms)
            }, startReputations: startReputations)
    }

    static func validation(_ r: Wire.ValidationRecord) -> ValidationInfo {
        ValidationInfo(
            inferenceID: r.inferenceID, validator: r.validator, passed: r.passed, reason: r.reason,
            distancePpm: r.distancePpm, samplerMisses: r.samplerMisses, height: r.height, epoch: r.epoch, vote: r.vote)
    }

    static func voting(_ v: Wire.VotingRecord) -> VotingInfo {
        VotingInfo(
            inferenceID: v.inferenceID, firstValidator: v.firstValidator, firstReason: v.firstReason,
            failureHeight: v.failureHeight, deadlineHeight: v.deadlineHeight,
            revalidators: v.revalidators.map { entry in
                VotingInfo.Revalidator(
                    address: entry.address, weight: entry.weight,
                    vote: entry.vote == 1 ? "passed" : entry.vote == 2 ? "failed" : "pending")
            }, outcome: v.outcome, decidedHeight: v.decidedHeight)
    }
}
