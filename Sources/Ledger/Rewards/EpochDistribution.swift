import GonkaCore

/// PROTOCOL §8.3 for one epoch, as a pure function of the epoch's totals and each participant's
/// weight and work counters: what each is owed, and what the training fund gets. Walks
/// participants, never inferences (the counters were kept as inferences finished and validated).
///
/// * reward_i = ⌊(R(e) + fees(e)) × w_i / W_ref(e)⌋ with W_ref(e) = max(W(e), ⌊W_ref(e−1) ×
///   (1 − reference_decay)⌋): the denominator cannot fall faster than `reference_decay` per epoch, so
///   knocking others out raises nobody's share by more than that;
/// * training_i = ⌊earned_i × training_fund_share⌋ of the executor's settled inference costs;
/// * work_i = earned_i − training_i − shares_out_i + shares_in_i (the validators' shares of §7.3 move
///   from the executor to the validators that passed its inferences).
struct EpochDistribution: Sendable, Equatable {
    struct Member: Sendable, Equatable {
        var address: Address
        var weight: UInt64
        var earned: UInt64 = 0
        var sharesOut: UInt64 = 0
        var sharesIn: UInt64 = 0
    }

    struct Share: Sendable, Equatable {
        var address: Address
        var weight: UInt64
        var reward: UInt64
        var work: UInt64
        var training: UInt64
    }

    var totalWeight: UInt64
    var referenceWeight: UInt64
    var shares: [Share]
    var rewardTotal: UInt64
    var workTotal: UInt64
    var trainingTotal: UInt64
    /// Σ earned: what leaves the `inference` account for this epoch.
    var earnedTotal: UInt64

    enum Failure: Error, Equatable {
        /// A sum left 64 bits, or a member's shares out exceed what its costs leave after the fund.
        case overflow(String)
    }

    /// `pool` = R(e) (already capped by the mining pool) + the epoch's fees; members in any order
    /// (the result keeps it).
    static func compute(
        pool: UInt64, members: [Member], previousReference: UInt64, params: RewardParams
    ) throws(Failure) -> EpochDistribution {
        let weight = members.reduce(UInt128(0)) { $0 + UInt128($1.weight) }
        guard weight <= UInt128(UInt64.max) else { throw .overflow("total weight") }
        let decayed =
            UInt128(previousReference) * UInt128(1_000_000 - min(params.referenceDecayPpm, 1_000_000))
            / 1_000_000
        let reference = max(weight, decayed)
        var out = EpochDistribution(
            totalWeight: UInt64(weight), referenceWeight: UInt64(reference), shares: [], rewardTotal: 0, workTotal: 0,
            trainingTotal: 0, earnedTotal: 0)
        var rewardSum: UInt128 = 0
        var workSum: UInt128 = 0
        var trainingSum: UInt128 = 0
        var earnedSum: UInt128 = 0
        for member in members {
            let reward = reference == 0 ? 0 : UInt128(pool) * UInt128(member.weight) / reference
            let training = UInt128(member.earned) * UInt128(params.trainingFundSharePpm) / 1_000_000
            let kept = UInt128(member.earned) - training
            guard UInt128(member.sharesOut) <= kept else {
                throw .overflow("validator shares of \(member.address) exceed its earnings")
            }
            let work = kept - UInt128(member.sharesOut) + UInt128(member.sharesIn)
            guard work <= UInt128(UInt64.max) else { throw .overflow("work of \(member.address)") }
            rewardSum += reward
            workSum += work
            trainingSum += training
            earnedSum += UInt128(member.earned)
            out.shares.append(
                Share(
                    address: member.address, weight: member.weight, reward: UInt64(reward), work: UInt64(work),
                    training: UInt64(training)))
        }
        guard rewardSum <= UInt128(pool), workSum <= UInt128(UInt64.max), earnedSum <= UInt128(UInt64.max) else {
            throw .overflow("epoch totals")
        }
        out.rewardTotal = UInt64(rewardSum)
        out.workTotal = UInt64(workSum)
        out.trainingTotal = UInt64(trainingSum)
        out.earnedTotal = UInt64(earnedSum)
        return out
    }
}
