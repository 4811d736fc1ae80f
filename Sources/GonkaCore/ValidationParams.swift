/// Parameters of inference validation (PROTOCOL §7.1, §7.2, §7.4, §12 "validation" rows), meant as
/// the `validation` object of `params` in genesis. All integers, so consensus code never sees a
/// float: fractions are parts per million (`…Ppm`) or, where 1 ppm is too coarse (α = 1e-9), parts
/// per billion (`…Ppb`). Missing fields take the defaults, so older genesis files still decode.
///
/// The per-model `validation_threshold` is not here: it lives with the model in the registry.
public struct ValidationParams: Codable, Hashable, Sendable {
    /// Traffic R (finished inferences) at and above which the floor is the minimum average (10,000).
    public var trafficFullCutoff: UInt64
    /// Traffic at which the floor is the halfway average (5,000).
    public var trafficHalfwayCutoff: UInt64
    /// Traffic at and below which every inference is checked by the maximum average (100).
    public var trafficMinCutoff: UInt64
    /// `minAvg` at R ≥ full cutoff (0.01), at the halfway cutoff (0.05) and at R ≤ min cutoff (1.0), ppm.
    public var minValidationAveragePpm: UInt64
    public var halfwayValidationAveragePpm: UInt64
    public var maxValidationAveragePpm: UInt64
    /// Clean epochs from reputation 0 to 100 (§7.1).
    public var epochsToMaxReputation: UInt64
    /// An epoch whose miss rate is above this does not count as clean (1%), ppm.
    public var maxCleanMissRatePpm: UInt64
    /// §7.4's P0 = `honest_fail_rate` (0.01), P1 (0.30) and α (1e-6), parts per billion.
    public var honestFailRatePpb: UInt64
    public var cheaterFailRatePpb: UInt64
    public var falseConvictionRatePpb: UInt64
    /// §7.2 thresholds shared by every model: `position_ceiling` (0.30) and `sampler_margin` (1e-3), ppm,
    /// and `likelihood_margin` (4 standard errors) in millionths of a standard error.
    public var positionCeilingPpm: UInt64
    public var samplerMarginPpm: UInt64
    public var likelihoodMarginPpm: UInt64
    /// §7.2 test 4 only (a model served by an opaque engine, another engine than the validator's):
    /// probability mass within which its greedy argmax and its sampling filters' boundaries are
    /// not judged (0.10), ppm. Two engines' logprobs of one model differ by up to ~0.3 (llama.cpp's
    /// 8-bit activations against this engine's, `gonka bench validation --pair`), so near-ties flip.
    public var opaqueMarginPpm: UInt64
    /// §7.3: revalidators drawn for a failed inference (5) and the blocks they have to vote (20).
    public var revalidators: UInt64
    public var invalidationVoteBlocks: UInt64

    public init(
        trafficFullCutoff: UInt64 = 10_000, trafficHalfwayCutoff: UInt64 = 5_000, trafficMinCutoff: UInt64 = 100,
        minValidationAveragePpm: UInt64 = 10_000, halfwayValidationAveragePpm: UInt64 = 50_000,
        maxValidationAveragePpm: UInt64 = 1_000_000, epochsToMaxReputation: UInt64 = 30,
        maxCleanMissRatePpm: UInt64 = 10_000, honestFailRatePpb: UInt64 = 10_000_000,
        cheaterFailRatePpb: UInt64 = 300_000_000, falseConvictionRatePpb: UInt64 = 1_000,
        positionCeilingPpm: UInt64 = 300_000, samplerMarginPpm: UInt64 = 1_000, likelihoodMarginPpm: UInt64 = 4_000_000,
        opaqueMarginPpm: UInt64 = 100_000, revalidators: UInt64 = 5, invalidationVoteBlocks: UInt64 = 20
    ) {
        self.trafficFullCutoff = trafficFullCutoff
        self.trafficHalfwayCutoff = trafficHalfwayCutoff
        self.trafficMinCutoff = trafficMinCutoff
        self.minValidationAveragePpm = minValidationAveragePpm
        self.halfwayValidationAveragePpm = halfwayValidationAveragePpm
        self.maxValidationAveragePpm = maxValidationAveragePpm
        self.epochsToMaxReputation = epochsToMaxReputation
        self.maxCleanMissRatePpm = maxCleanMissRatePpm
        self.honestFailRatePpb = honestFailRatePpb
        self.cheaterFailRatePpb = cheaterFailRatePpb
        self.falseConvictionRatePpb = falseConvictionRatePpb
        self.positionCeilingPpm = positionCeilingPpm
        self.samplerMarginPpm = samplerMarginPpm
        self.likelihoodMarginPpm = likelihoodMarginPpm
        self.opaqueMarginPpm = opaqueMarginPpm
        self.revalidators = revalidators
        self.invalidationVoteBlocks = invalidationVoteBlocks
    }

    /// PROTOCOL §12 (devnet and mainnet share these).
    public static let defaults = ValidationParams()

    enum CodingKeys: String, CodingKey {
        case trafficFullCutoff = "traffic_full_cutoff"
        case trafficHalfwayCutoff = "traffic_halfway_cutoff"
        case trafficMinCutoff = "traffic_min_cutoff"
        case minValidationAveragePpm = "min_validation_average_ppm"
        case halfwayValidationAveragePpm = "halfway_validation_average_ppm"
        case maxValidationAveragePpm = "max_validation_average_ppm"
        case epochsToMaxReputation = "epochs_to_max_reputation"
        case maxCleanMissRatePpm = "max_clean_miss_rate_ppm"
        case honestFailRatePpb = "honest_fail_rate_ppb"
        case cheaterFailRatePpb = "cheater_fail_rate_ppb"
        case falseConvictionRatePpb = "false_conviction_rate_ppb"
        case positionCeilingPpm = "position_ceiling_ppm"
        case samplerMarginPpm = "sampler_margin_ppm"
        case likelihoodMarginPpm = "likelihood_margin_ppm"
        case opaqueMarginPpm = "opaque_margin_ppm"
        case revalidators
        case invalidationVoteBlocks = "invalidation_vote_blocks"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ValidationParams.defaults
        func value(_ key: CodingKeys, _ fallback: UInt64) throws -> UInt64 {
            try c.decodeIfPresent(UInt64.self, forKey: key) ?? fallback
        }
        trafficFullCutoff = try value(.trafficFullCutoff, d.trafficFullCutoff)
        trafficHalfwayCutoff = try value(.trafficHalfwayCutoff, d.trafficHalfwayCutoff)
        trafficMinCutoff = try value(.trafficMinCutoff, d.trafficMinCutoff)
        minValidationAveragePpm = try value(.minValidationAveragePpm, d.minValidationAveragePpm)
        halfwayValidationAveragePpm = try value(.halfwayValidationAveragePpm, d.halfwayValidationAveragePpm)
        maxValidationAveragePpm = try value(.maxValidationAveragePpm, d.maxValidationAveragePpm)
        epochsToMaxReputation = try value(.epochsToMaxReputation, d.epochsToMaxReputation)
        maxCleanMissRatePpm = try value(.maxCleanMissRatePpm, d.maxCleanMissRatePpm)
        honestFailRatePpb = try value(.honestFailRatePpb, d.honestFailRatePpb)
        cheaterFailRatePpb = try value(.cheaterFailRatePpb, d.cheaterFailRatePpb)
        falseConvictionRatePpb = try value(.falseConvictionRatePpb, d.falseConvictionRatePpb)
        positionCeilingPpm = try value(.positionCeilingPpm, d.positionCeilingPpm)
        samplerMarginPpm = try value(.samplerMarginPpm, d.samplerMarginPpm)
        likelihoodMarginPpm = try value(.likelihoodMarginPpm, d.likelihoodMarginPpm)
        opaqueMarginPpm = try value(.opaqueMarginPpm, d.opaqueMarginPpm)
        revalidators = try value(.revalidators, d.revalidators)
        invalidationVoteBlocks = try value(.invalidationVoteBlocks, d.invalidationVoteBlocks)
    }

    /// Why these parameters cannot run a chain, or `nil` when they can (checked at genesis).
    public var problem: String? {
        let million: UInt64 = 1_000_000
        let billion: UInt64 = 1_000_000_000
        if !(trafficMinCutoff < trafficHalfwayCutoff && trafficHalfwayCutoff < trafficFullCutoff) {
            return "traffic cutoffs must rise strictly: min < halfway < full"
        }
        if !(maxValidationAveragePpm <= million && halfwayValidationAveragePpm <= maxValidationAveragePpm
            && minValidationAveragePpm <= halfwayValidationAveragePpm)
        {
            return "validation averages must satisfy min ≤ halfway ≤ max ≤ 1,000,000 ppm"
        }
        if !(honestFailRatePpb > 0 && honestFailRatePpb < cheaterFailRatePpb && cheaterFailRatePpb < billion) {
            return "fail rates must satisfy 0 < honest_fail_rate_ppb < cheater_fail_rate_ppb < 1,000,000,000"
        }
        if !(falseConvictionRatePpb > 0 && falseConvictionRatePpb < billion) {
            return "false_conviction_rate_ppb must be in 1…999,999,999"
        }
        if maxCleanMissRatePpm > million { return "max_clean_miss_rate_ppm must be at most 1,000,000" }
        if positionCeilingPpm == 0 || positionCeilingPpm > million {
            return "position_ceiling_ppm must be in 1…1,000,000"
        }
        if samplerMarginPpm >= million { return "sampler_margin_ppm must be below 1,000,000" }
        if opaqueMarginPpm >= million { return "opaque_margin_ppm must be below 1,000,000" }
        if revalidators == 0 { return "revalidators must be at least 1" }
        if invalidationVoteBlocks == 0 { return "invalidation_vote_blocks must be at least 1" }
        return nil
    }
}
