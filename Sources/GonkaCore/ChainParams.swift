/// The chain parameters this build uses (PROTOCOL §12). Genesis writes them into state; a passed
/// `ParamChange` proposal (PROTOCOL §10) rewrites them there, each parameter as its entry in
/// ``ChainParams/registry`` says. Missing fields in a genesis file take the devnet defaults.
public struct ChainParams: Codable, Hashable, Sendable {
    /// Largest accepted transaction, in bytes.
    public var maxTxBytes: UInt64
    /// Fee floor for user transactions, in ngonka per byte of the transaction (PROTOCOL §3.4).
    public var minGasPrice: UInt64
    /// Most validators in the active set (PROTOCOL §3.1).
    public var maxValidators: UInt64
    /// Bound on free protocol-duty transactions per participant per block (PROTOCOL §3.4).
    public var maxDutyTxsPerBlock: UInt64
    /// Longest accepted memo, in bytes.
    public var maxMemoBytes: UInt64
    /// Most messages in one transaction.
    public var maxMessagesPerTx: UInt64
    /// Epochs and PoC (PROTOCOL §4, §5): see ``EpochParams``.
    public var epochs: EpochParams
    /// `max_tokens` a Transfer Agent assumes when a request names none (PROTOCOL §6.2).
    public var defaultMaxTokens: UInt64
    /// Blocks after its Start an unfinished inference expires: full refund, executor miss (§6.4).
    public var inferenceExpiryBlocks: UInt64
    /// Attempts per inference (0..<max_attempts) before the TA gives up (§6.2 step 5).
    public var maxAttempts: UInt64
    /// How far a request's timestamp may lie behind / ahead of the block time, in seconds (§6.1).
    public var requestMaxAgeSeconds: UInt64
    public var requestMaxFutureSeconds: UInt64
    /// Dynamic price (§6.5), ngonka per token: the price a model starts at and its floor.
    public var startPrice: UInt64
    public var minPrice: UInt64
    /// Utilisation band in which the price holds, parts per million (0.40–0.60).
    public var priceBandLowPpm: UInt64
    public var priceBandHighPpm: UInt64
    /// Price elasticity (0.05) and largest step per block (2%), parts per million.
    public var priceElasticityPpm: UInt64
    public var priceMaxStepPpm: UInt64
    /// The utilisation window of the price, in seconds of block time (60).
    public var priceWindowSeconds: UInt64
    /// Inference validation (PROTOCOL §7): see ``ValidationParams``.
    public var validation: ValidationParams
    /// Issuance, distribution, settlement and claims (PROTOCOL §8): see ``RewardParams``.
    public var rewards: RewardParams
    /// Governance (PROTOCOL §10): see ``GovernanceParams``.
    public var governance: GovernanceParams
    /// Collateral (PROTOCOL §5.6, §9): see ``CollateralParams``.
    public var collateral: CollateralParams
    /// Slashing and jail (PROTOCOL §9): see ``SlashingParams``.
    public var slashing: SlashingParams

    public init(
        maxTxBytes: UInt64 = 65_536,
        minGasPrice: UInt64 = 10,
        maxValidators: UInt64 = 100,
        maxDutyTxsPerBlock: UInt64 = 1_000,
        maxMemoBytes: UInt64 = 256,
        maxMessagesPerTx: UInt64 = 64,
        epochs: EpochParams = .devnet,
        defaultMaxTokens: UInt64 = 512,
        inferenceExpiryBlocks: UInt64 = 30,
        maxAttempts: UInt64 = 3,
        requestMaxAgeSeconds: UInt64 = 60,
        requestMaxFutureSeconds: UInt64 = 30,
        startPrice: UInt64 = 100,
        minPrice: UInt64 = 1,
        priceBandLowPpm: UInt64 = 400_000,
        priceBandHighPpm: UInt64 = 600_000,
        priceElasticityPpm: UInt64 = 50_000,
        priceMaxStepPpm: UInt64 = 20_000,
        priceWindowSeconds: UInt64 = 60,
        validation: ValidationParams = .defaults,
        rewards: RewardParams = .defaults,
        governance: GovernanceParams = .devnet,
        collateral: CollateralParams = .devnet,
        slashing: SlashingParams = .devnet
    ) {
        self.maxTxBytes = maxTxBytes
        self.minGasPrice = minGasPrice
        self.maxValidators = maxValidators
        self.maxDutyTxsPerBlock = maxDutyTxsPerBlock
        self.maxMemoBytes = maxMemoBytes
        self.maxMessagesPerTx = maxMessagesPerTx
        self.epochs = epochs
        self.defaultMaxTokens = defaultMaxTokens
        self.inferenceExpiryBlocks = inferenceExpiryBlocks
        self.maxAttempts = maxAttempts
        self.requestMaxAgeSeconds = requestMaxAgeSeconds
        self.requestMaxFutureSeconds = requestMaxFutureSeconds
        self.startPrice = startPrice
        self.minPrice = minPrice
        self.priceBandLowPpm = priceBandLowPpm
        self.priceBandHighPpm = priceBandHighPpm
        self.priceElasticityPpm = priceElasticityPpm
        self.priceMaxStepPpm = priceMaxStepPpm
        self.priceWindowSeconds = priceWindowSeconds
        self.validation = validation
        self.rewards = rewards
        self.governance = governance
        self.collateral = collateral
        self.slashing = slashing
    }

    /// The defaults of `gonka devnet` (PROTOCOL §12, devnet column).
    public static let devnet = ChainParams()

    enum CodingKeys: String, CodingKey {
        case maxTxBytes = "max_tx_bytes"
        case minGasPrice = "min_gas_price"
        case maxValidators = "max_validators"
        case maxDutyTxsPerBlock = "max_duty_txs_per_block"
        case maxMemoBytes = "max_memo_bytes"
        case maxMessagesPerTx = "max_messages_per_tx"
        case epochs
        case defaultMaxTokens = "default_max_tokens"
        case inferenceExpiryBlocks = "inference_expiry_blocks"
        case maxAttempts = "max_attempts"
        case requestMaxAgeSeconds = "request_max_age_seconds"
        case requestMaxFutureSeconds = "request_max_future_seconds"
        case startPrice = "start_price"
        case minPrice = "min_price"
        case priceBandLowPpm = "price_band_low_ppm"
        case priceBandHighPpm = "price_band_high_ppm"
        case priceElasticityPpm = "price_elasticity_ppm"
        case priceMaxStepPpm = "price_max_step_ppm"
        case priceWindowSeconds = "price_window_seconds"
        case validation
        case rewards
        case governance
        case collateral
        case slashing
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ChainParams.devnet
        maxTxBytes = try c.decodeIfPresent(UInt64.self, forKey: .maxTxBytes) ?? d.maxTxBytes
        minGasPrice = try c.decodeIfPresent(UInt64.self, forKey: .minGasPrice) ?? d.minGasPrice
        maxValidators = try c.decodeIfPresent(UInt64.self, forKey: .maxValidators) ?? d.maxValidators
        maxDutyTxsPerBlock = try c.decodeIfPresent(UInt64.self, forKey: .maxDutyTxsPerBlock) ?? d.maxDutyTxsPerBlock
        maxMemoBytes = try c.decodeIfPresent(UInt64.self, forKey: .maxMemoBytes) ?? d.maxMemoBytes
        maxMessagesPerTx = try c.decodeIfPresent(UInt64.self, forKey: .maxMessagesPerTx) ?? d.maxMessagesPerTx
        epochs = try c.decodeIfPresent(EpochParams.self, forKey: .epochs) ?? d.epochs
        func value(_ key: CodingKeys, _ fallback: UInt64) throws -> UInt64 {
            try c.decodeIfPresent(UInt64.self, forKey: key) ?? fallback
        }
        defaultMaxTokens = try value(.defaultMaxTokens, d.defaultMaxTokens)
        inferenceExpiryBlocks = try value(.inferenceExpiryBlocks, d.inferenceExpiryBlocks)
        maxAttempts = try value(.maxAttempts, d.maxAttempts)
        requestMaxAgeSeconds = try value(.requestMaxAgeSeconds, d.requestMaxAgeSeconds)
        requestMaxFutureSeconds = try value(.requestMaxFutureSeconds, d.requestMaxFutureSeconds)
        startPrice = try value(.startPrice, d.startPrice)
        minPrice = try value(.minPrice, d.minPrice)
        priceBandLowPpm = try value(.priceBandLowPpm, d.priceBandLowPpm)
        priceBandHighPpm = try value(.priceBandHighPpm, d.priceBandHighPpm)
        priceElasticityPpm = try value(.priceElasticityPpm, d.priceElasticityPpm)
        priceMaxStepPpm = try value(.priceMaxStepPpm, d.priceMaxStepPpm)
        priceWindowSeconds = try value(.priceWindowSeconds, d.priceWindowSeconds)
        validation = try c.decodeIfPresent(ValidationParams.self, forKey: .validation) ?? d.validation
        rewards = try c.decodeIfPresent(RewardParams.self, forKey: .rewards) ?? d.rewards
        governance = try c.decodeIfPresent(GovernanceParams.self, forKey: .governance) ?? d.governance
        collateral = try c.decodeIfPresent(CollateralParams.self, forKey: .collateral) ?? d.collateral
        slashing = try c.decodeIfPresent(SlashingParams.self, forKey: .slashing) ?? d.slashing
    }
}

/// Version strings of this build.
public enum GonkaVersion {
    public static let current = "0.1.0"
    /// Bumped whenever consensus-visible behaviour changes.
    public static let protocolVersion = 1
}
