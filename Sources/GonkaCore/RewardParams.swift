/// Parameters of issuance, distribution, settlement and claims (PROTOCOL §8, §12 "rewards" rows),
/// the `rewards` object of `params` in genesis. All integers: fractions are parts per million and
/// λ is given in millionths. Missing fields take the defaults, so older genesis files still decode.
public struct RewardParams: Codable, Hashable, Sendable {
    /// R₀ of §8.2, the reward of epoch 1, in ngonka (323,000 GNK).
    public var initialEpochReward: UInt64
    /// −λ of §8.2 in millionths: R(e) = ⌊R₀ × exp(−decay × (e − 1) / 10⁶)⌋ (475: λ = −0.000475).
    public var issuanceDecayMicro: UInt64
    /// Share of every settled inference cost credited to the training fund (20%), ppm.
    public var trainingFundSharePpm: UInt64
    /// Share of a settled inference's cost the validators that passed it split (10%, §7.3), ppm.
    public var validatorSharePpm: UInt64
    /// The largest fall of the reward denominator W_ref per epoch (10%, §8.3), ppm.
    public var referenceDecayPpm: UInt64
    /// Epochs a settlement may be claimed in before it is burned (1).
    public var claimWindowEpochs: UInt64
    /// Vesting of claimed rewards (§8.3): this build implements none, so only 0 is accepted.
    public var rewardVestingEpochs: UInt64

    public init(
        initialEpochReward: UInt64 = 323_000 * 1_000_000_000, issuanceDecayMicro: UInt64 = 475,
        trainingFundSharePpm: UInt64 = 200_000, validatorSharePpm: UInt64 = 100_000,
        referenceDecayPpm: UInt64 = 100_000, claimWindowEpochs: UInt64 = 1, rewardVestingEpochs: UInt64 = 0
    ) {
        self.initialEpochReward = initialEpochReward
        self.issuanceDecayMicro = issuanceDecayMicro
        self.trainingFundSharePpm = trainingFundSharePpm
        self.validatorSharePpm = validatorSharePpm
        self.referenceDecayPpm = referenceDecayPpm
        self.claimWindowEpochs = claimWindowEpochs
        self.rewardVestingEpochs = rewardVestingEpochs
    }

    /// PROTOCOL §12 (devnet column).
    public static let defaults = RewardParams()

    /// What is wrong with these values, or nil.
    public var problem: String? {
        if issuanceDecayMicro > 1_000_000 { return "issuance_decay_micro must be at most 1,000,000" }
        if trainingFundSharePpm + validatorSharePpm > 1_000_000 {
            return "training_fund_share_ppm + validator_share_ppm must be at most 1,000,000"
        }
        if referenceDecayPpm > 1_000_000 { return "reference_decay_ppm must be at most 1,000,000" }
        if claimWindowEpochs == 0 { return "claim_window_epochs must be at least 1" }
        if rewardVestingEpochs != 0 { return "reward_vesting_epochs: vesting is not implemented; it must be 0" }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case initialEpochReward = "initial_epoch_reward"
        case issuanceDecayMicro = "issuance_decay_micro"
        case trainingFundSharePpm = "training_fund_share_ppm"
        case validatorSharePpm = "validator_share_ppm"
        case referenceDecayPpm = "reference_decay_ppm"
        case claimWindowEpochs = "claim_window_epochs"
        case rewardVestingEpochs = "reward_vesting_epochs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RewardParams.defaults
        func value(_ key: CodingKeys, _ fallback: UInt64) throws -> UInt64 {
            try c.decodeIfPresent(UInt64.self, forKey: key) ?? fallback
        }
        initialEpochReward = try value(.initialEpochReward, d.initialEpochReward)
        issuanceDecayMicro = try value(.issuanceDecayMicro, d.issuanceDecayMicro)
        trainingFundSharePpm = try value(.trainingFundSharePpm, d.trainingFundSharePpm)
        validatorSharePpm = try value(.validatorSharePpm, d.validatorSharePpm)
        referenceDecayPpm = try value(.referenceDecayPpm, d.referenceDecayPpm)
        claimWindowEpochs = try value(.claimWindowEpochs, d.claimWindowEpochs)
        rewardVestingEpochs = try value(.rewardVestingEpochs, d.rewardVestingEpochs)
    }
}
