/// Parameters of epochs and Proof of Compute (PROTOCOL §4, §5, §12), the `epochs` object of
/// `params` in genesis. Stage boundaries are block offsets from P, the sprint's first block.
/// Missing fields take the devnet defaults, so older genesis files still decode. All integers:
/// consensus code never sees a float (distances are fixed-point nano units, rates are ppb/ppm).
public struct EpochParams: Codable, Hashable, Sendable {
    /// Blocks per epoch; sprint n ≥ 1 starts at P = n × epoch_length (epoch 0 is genesis).
    public var epochLength: UInt64
    /// Seeds (`MsgCommitSeed`) are accepted from P + this offset until the end of generation.
    public var seedCommitOffset: UInt64
    /// Generation runs over [P+1, P + generationEnd) (hash(block P) is known from P+1 on).
    public var generationEnd: UInt64
    /// Late batches are accepted until P + exchangeEnd (exclusive).
    public var exchangeEnd: UInt64
    /// Validations are accepted over [P + validationStart, P + validationEnd).
    public var validationStart: UInt64
    public var validationEnd: UInt64
    /// New weights are computed at the end of block P + weightsOffset.
    public var weightsOffset: UInt64
    /// From height P + switchOffset the new weights are the validator set (handed to consensus at
    /// P + switchOffset − 2, PROTOCOL §3.1's H+2 rule).
    public var switchOffset: UInt64
    /// Claims (PROTOCOL §8.4) open at P + claimOffset.
    public var claimOffset: UInt64
    /// The PoC model preset (`devnet`, `testnet`, `mainnet`; PROTOCOL §5.1).
    public var pocModel: String
    /// A nonce is valid iff its distance in nano units (floor(d × 10⁹)) is below this.
    /// Devnet: 1,389,998,891, what `gonka poc calibrate --hit-rate 1/16` measured on the devnet
    /// model over 100,000 nonces (docs/POC.md).
    public var rTargetNano: UInt64
    /// Nonces each validator samples per participant (PROTOCOL §5.4).
    public var pocValidationSample: UInt64
    /// Fraud iff at least this many of the sampled nonces recompute to ≥ r_target: the smallest k
    /// with P[Bin(n, poc_mismatch_rate) ≥ k] < poc_fraud_threshold, precomputed (5 for n = 200,
    /// p₀ = 5e-4, threshold 1e-7).
    public var pocFraudMinMismatches: UInt64
    /// p₀ and the tail threshold behind `pocFraudMinMismatches`, in parts per billion (recorded so
    /// the K above can be re-derived; the ledger itself only uses K).
    public var pocMismatchRatePpb: UInt64
    public var pocFraudThresholdPpb: UInt64
    /// Most nonces in one `MsgSubmitPocBatch`.
    public var maxPocBatchNonces: UInt64
    /// No participant's weight above this share of the total (PROTOCOL §5.6), in ppm.
    public var maxIndividualPowerPpm: UInt64

    public init(
        epochLength: UInt64 = 120, seedCommitOffset: UInt64 = 0, generationEnd: UInt64 = 20, exchangeEnd: UInt64 = 22,
        validationStart: UInt64 = 24, validationEnd: UInt64 = 34, weightsOffset: UInt64 = 34,
        switchOffset: UInt64 = 39, claimOffset: UInt64 = 40, pocModel: String = "devnet",
        rTargetNano: UInt64 = 1_389_998_891, pocValidationSample: UInt64 = 200, pocFraudMinMismatches: UInt64 = 5,
        pocMismatchRatePpb: UInt64 = 500_000, pocFraudThresholdPpb: UInt64 = 100, maxPocBatchNonces: UInt64 = 1_000,
        maxIndividualPowerPpm: UInt64 = 250_000
    ) {
        self.epochLength = epochLength
        self.seedCommitOffset = seedCommitOffset
        self.generationEnd = generationEnd
        self.exchangeEnd = exchangeEnd
        self.validationStart = validationStart
        self.validationEnd = validationEnd
        self.weightsOffset = weightsOffset
        self.switchOffset = switchOffset
        self.claimOffset = claimOffset
        self.pocModel = pocModel
        self.rTargetNano = rTargetNano
        self.pocValidationSample = pocValidationSample
        self.pocFraudMinMismatches = pocFraudMinMismatches
        self.pocMismatchRatePpb = pocMismatchRatePpb
        self.pocFraudThresholdPpb = pocFraudThresholdPpb
        self.maxPocBatchNonces = maxPocBatchNonces
        self.maxIndividualPowerPpm = maxIndividualPowerPpm
    }

    /// PROTOCOL §4/§12 devnet column.
    public static let devnet = EpochParams()

    /// A short schedule for tests: 30-block epochs, stages scaled down
    /// (generation [P+1, P+8), batches until P+10, validation [P+11, P+16), weights at P+16,
    /// switch at P+19, claim from P+20).
    public static let short = EpochParams(
        epochLength: 30, generationEnd: 8, exchangeEnd: 10, validationStart: 11, validationEnd: 16, weightsOffset: 16,
        switchOffset: 19, claimOffset: 20)

    /// 40-block epochs for devnets that must see several epochs in minutes (`gonka devnet up
    /// --short-epochs`, the rewards tests): generation [P+1, P+10), batches until P+12, validation
    /// [P+14, P+30), weights at P+30, switch at P+32, claims from P+33.
    public static let quick = EpochParams(
        epochLength: 40, generationEnd: 10, exchangeEnd: 12, validationStart: 14, validationEnd: 30, weightsOffset: 30,
        switchOffset: 32, claimOffset: 33)

    /// Why these offsets cannot form a schedule, or `nil` when they can.
    public var problem: String? {
        if epochLength < 8 { return "epoch_length must be at least 8" }
        if !(seedCommitOffset < generationEnd) { return "seed_commit_offset must be before generation_end" }
        if !(generationEnd >= 2) { return "generation_end must be at least 2 (generation starts at P+1)" }
        if !(generationEnd <= exchangeEnd && exchangeEnd <= validationStart) {
            return "need generation_end ≤ exchange_end ≤ validation_start"
        }
        if !(validationStart < validationEnd && validationEnd <= weightsOffset) {
            return "need validation_start < validation_end ≤ weights_offset"
        }
        if !(weightsOffset + 2 <= switchOffset) {
            return "switch_offset must be at least weights_offset + 2 (consensus takes a set two blocks ahead)"
        }
        if !(switchOffset < claimOffset && claimOffset < epochLength) {
            return "need switch_offset < claim_offset < epoch_length"
        }
        if rTargetNano == 0 { return "r_target_nano must be positive" }
        if pocValidationSample == 0 { return "poc_validation_sample must be positive" }
        if pocFraudMinMismatches == 0 { return "poc_fraud_min_mismatches must be positive" }
        if maxPocBatchNonces == 0 { return "max_poc_batch_nonces must be positive" }
        if maxIndividualPowerPpm == 0 || maxIndividualPowerPpm > 1_000_000 {
            return "max_individual_power_ppm must be in 1…1000000"
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case epochLength = "epoch_length"
        case seedCommitOffset = "seed_commit_offset"
        case generationEnd = "generation_end"
        case exchangeEnd = "exchange_end"
        case validationStart = "validation_start"
        case validationEnd = "validation_end"
        case weightsOffset = "weights_offset"
        case switchOffset = "switch_offset"
        case claimOffset = "claim_offset"
        case pocModel = "poc_model"
        case rTargetNano = "r_target_nano"
        case pocValidationSample = "poc_validation_sample"
        case pocFraudMinMismatches = "poc_fraud_min_mismatches"
        case pocMismatchRatePpb = "poc_mismatch_rate_ppb"
        case pocFraudThresholdPpb = "poc_fraud_threshold_ppb"
        case maxPocBatchNonces = "max_poc_batch_nonces"
        case maxIndividualPowerPpm = "max_individual_power_ppm"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EpochParams.devnet
        func value(_ key: CodingKeys, _ fallback: UInt64) throws -> UInt64 {
            try c.decodeIfPresent(UInt64.self, forKey: key) ?? fallback
        }
        epochLength = try value(.epochLength, d.epochLength)
        seedCommitOffset = try value(.seedCommitOffset, d.seedCommitOffset)
        generationEnd = try value(.generationEnd, d.generationEnd)
        exchangeEnd = try value(.exchangeEnd, d.exchangeEnd)
        validationStart = try value(.validationStart, d.validationStart)
        validationEnd = try value(.validationEnd, d.validationEnd)
        weightsOffset = try value(.weightsOffset, d.weightsOffset)
        switchOffset = try value(.switchOffset, d.switchOffset)
        claimOffset = try value(.claimOffset, d.claimOffset)
        pocModel = try c.decodeIfPresent(String.self, forKey: .pocModel) ?? d.pocModel
        rTargetNano = try value(.rTargetNano, d.rTargetNano)
        pocValidationSample = try value(.pocValidationSample, d.pocValidationSample)
        pocFraudMinMismatches = try value(.pocFraudMinMismatches, d.pocFraudMinMismatches)
        pocMismatchRatePpb = try value(.pocMismatchRatePpb, d.pocMismatchRatePpb)
        pocFraudThresholdPpb = try value(.pocFraudThresholdPpb, d.pocFraudThresholdPpb)
        maxPocBatchNonces = try value(.maxPocBatchNonces, d.maxPocBatchNonces)
        maxIndividualPowerPpm = try value(.maxIndividualPowerPpm, d.maxIndividualPowerPpm)
    }
}
