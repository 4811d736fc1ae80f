/// Parameters of on-chain governance (PROTOCOL §10, §12 "governance" row), the `governance` object
/// of `params` in genesis. Periods are in blocks, amounts in ngonka, fractions in parts per
/// million. Missing fields take the devnet defaults, so older genesis files still decode.
public struct GovernanceParams: Codable, Hashable, Sendable {
    /// Deposit a proposal needs before its vote starts (devnet 100 GNK).
    public var minDeposit: UInt64
    /// Deposit an expedited proposal needs (devnet 200 GNK).
    public var expeditedMinDeposit: UInt64
    /// Share of the minimum the submission itself must carry (25%): a proposal cannot be posted
    /// for free and left for others to fund.
    public var minInitialDepositPpm: UInt64
    /// Blocks after submission in which deposits may reach the minimum (devnet 60).
    public var maxDepositPeriodBlocks: UInt64
    /// Blocks a vote runs (devnet 60) and an expedited vote runs (devnet 20).
    public var votingPeriodBlocks: UInt64
    public var expeditedVotingPeriodBlocks: UInt64
    /// Turnout (voted weight / total weight) a vote needs (33.4%).
    public var quorumPpm: UInt64
    /// Yes share of the non-abstain votes a proposal must exceed (50%; expedited 66.7%).
    public var thresholdPpm: UInt64
    public var expeditedThresholdPpm: UInt64
    /// No-with-veto share of all votes at or above which a proposal is vetoed (33.4%).
    public var vetoThresholdPpm: UInt64

    public init(
        minDeposit: UInt64 = 100_000_000_000, expeditedMinDeposit: UInt64 = 200_000_000_000,
        minInitialDepositPpm: UInt64 = 250_000, maxDepositPeriodBlocks: UInt64 = 60, votingPeriodBlocks: UInt64 = 60,
        expeditedVotingPeriodBlocks: UInt64 = 20, quorumPpm: UInt64 = 334_000, thresholdPpm: UInt64 = 500_000,
        expeditedThresholdPpm: UInt64 = 667_000, vetoThresholdPpm: UInt64 = 334_000
    ) {
        self.minDeposit = minDeposit
        self.expeditedMinDeposit = expeditedMinDeposit
        self.minInitialDepositPpm = minInitialDepositPpm
        self.maxDepositPeriodBlocks = maxDepositPeriodBlocks
        self.votingPeriodBlocks = votingPeriodBlocks
        self.expeditedVotingPeriodBlocks = expeditedVotingPeriodBlocks
        self.quorumPpm = quorumPpm
        self.thresholdPpm = thresholdPpm
        self.expeditedThresholdPpm = expeditedThresholdPpm
        self.vetoThresholdPpm = vetoThresholdPpm
    }

    /// PROTOCOL §12 devnet column.
    public static let devnet = GovernanceParams()

    /// Why these parameters cannot run governance, or `nil` when they can.
    public var problem: String? {
        if minDeposit == 0 { return "governance.min_deposit must be positive" }
        if expeditedMinDeposit < minDeposit { return "governance.expedited_min_deposit must be at least min_deposit" }
        if expeditedVotingPeriodBlocks == 0 || expeditedVotingPeriodBlocks >= votingPeriodBlocks {
            return "governance.expedited_voting_period_blocks must be positive and shorter than voting_period_blocks"
        }
        if maxDepositPeriodBlocks == 0 { return "governance.max_deposit_period_blocks must be positive" }
        if expeditedThresholdPpm < thresholdPpm {
            return "governance.expedited_threshold_ppm must be at least threshold_ppm"
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case minDeposit = "min_deposit"
        case expeditedMinDeposit = "expedited_min_deposit"
        case minInitialDepositPpm = "min_initial_deposit_ppm"
        case maxDepositPeriodBlocks = "max_deposit_period_blocks"
        case votingPeriodBlocks = "voting_period_blocks"
        case expeditedVotingPeriodBlocks = "expedited_voting_period_blocks"
        case quorumPpm = "quorum_ppm"
        case thresholdPpm = "threshold_ppm"
        case expeditedThresholdPpm = "expedited_threshold_ppm"
        case vetoThresholdPpm = "veto_threshold_ppm"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GovernanceParams.devnet
        func value(_ key: CodingKeys, _ fallback: UInt64) throws -> UInt64 {
            try c.decodeIfPresent(UInt64.self, forKey: key) ?? fallback
        }
        minDeposit = try value(.minDeposit, d.minDeposit)
        expeditedMinDeposit = try value(.expeditedMinDeposit, d.expeditedMinDeposit)
        minInitialDepositPpm = try value(.minInitialDepositPpm, d.minInitialDepositPpm)
        maxDepositPeriodBlocks = try value(.maxDepositPeriodBlocks, d.maxDepositPeriodBlocks)
        votingPeriodBlocks = try value(.votingPeriodBlocks, d.votingPeriodBlocks)
        expeditedVotingPeriodBlocks = try value(.expeditedVotingPeriodBlocks, d.expeditedVotingPeriodBlocks)
        quorumPpm = try value(.quorumPpm, d.quorumPpm)
        thresholdPpm = try value(.thresholdPpm, d.thresholdPpm)
        expeditedThresholdPpm = try value(.expeditedThresholdPpm, d.expeditedThresholdPpm)
        vetoThresholdPpm = try value(.vetoThresholdPpm, d.vetoThresholdPpm)
    }
}
