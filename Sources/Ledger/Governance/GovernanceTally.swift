import GonkaCore
import GonkaWire

/// PROTOCOL §10's decision over a finished vote, pure and in integers: powers are epoch weights,
/// fractions parts per million, every comparison cross-multiplied in `UInt128` so nothing rounds.
///
/// In this order (Cosmos x/gov's):
/// 1. turnout = (yes + no + abstain + no_with_veto) / total weight: below `quorum` → quorum not
///    reached (also when nobody has weight);
/// 2. no_with_veto / turnout ≥ `veto_threshold` → vetoed;
/// 3. yes / (turnout − abstain) > `threshold` (`expedited_threshold` for an expedited proposal) →
///    passed; otherwise (and when everybody abstained) threshold not reached.
struct GovernanceTally: Hashable, Sendable {
    var yes: UInt64 = 0
    var abstain: UInt64 = 0
    var no: UInt64 = 0
    var noWithVeto: UInt64 = 0
    /// The effective epoch's total weight.
    var totalPower: UInt64 = 0

    enum Outcome: String, Sendable, Hashable {
        case passed
        case quorumNotReached = "quorum_not_reached"
        case vetoed
        case thresholdNotReached = "threshold_not_reached"
    }

    static let million: UInt128 = 1_000_000

    /// Adds `power` to `option`'s count (unknown options count nothing; votes are checked on entry).
    mutating func add(_ option: Wire.VoteOption, power: UInt64) {
        switch option {
        case .yes: yes &+= power
        case .abstain: abstain &+= power
        case .no: no &+= power
        case .noWithVeto: noWithVeto &+= power
        default: break
        }
    }

    var turnout: UInt128 { UInt128(yes) + UInt128(abstain) + UInt128(no) + UInt128(noWithVeto) }

    func outcome(_ params: GovernanceParams, expedited: Bool) -> Outcome {
        let voted = turnout
        guard totalPower > 0, voted * Self.million >= UInt128(params.quorumPpm) * UInt128(totalPower) else {
            return .quorumNotReached
        }
        if UInt128(noWithVeto) * Self.million >= UInt128(params.vetoThresholdPpm) * voted { return .vetoed }
        let decisive = voted - UInt128(abstain)
        let threshold = UInt128(expedited ? params.expeditedThresholdPpm : params.thresholdPpm)
        guard decisive > 0, UInt128(yes) * Self.million > threshold * decisive else { return .thresholdNotReached }
        return .passed
    }

    var record: Wire.TallyResult {
        var out = Wire.TallyResult()
        out.yes = yes
        out.abstain = abstain
        out.no = no
        out.noWithVeto = noWithVeto
        out.totalPower = totalPower
        return out
    }
}
