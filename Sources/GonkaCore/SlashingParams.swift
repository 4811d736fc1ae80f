/// Parameters of slashing and jail (PROTOCOL §9, §12 "slashing" row), the `slashing` object of
/// `params` in genesis. Fractions are ppm of the collateral (deposit + unbonding) that is burned.
/// Missing fields take the devnet defaults.
public struct SlashingParams: Codable, Hashable, Sendable {
    /// INVALID executor (§7.4): 20%.
    public var invalidPpm: UInt64
    /// Executor downtime: 10% when its missed inferences exceed `downtimeMissRatePpm` (5%) of its
    /// served + missed in an epoch.
    public var downtimePpm: UInt64
    public var downtimeMissRatePpm: UInt64
    /// Double sign: 5% and tombstone.
    public var doubleSignPpm: UInt64
    /// Consensus liveness: 1% and jail when the validator signed fewer than `livenessMinSignedPpm`
    /// (50%) of the last `livenessWindow` (100) blocks.
    public var livenessPpm: UInt64
    public var livenessWindow: UInt64
    public var livenessMinSignedPpm: UInt64
    /// Blocks a jailed validator waits before `MsgUnjail` is accepted (devnet 20, mainnet 600).
    public var jailBlocks: UInt64
    /// Evidence of a double sign older than this many blocks (block height − offence height) is
    /// refused (devnet 1,000, mainnet 100,000; CometBFT's `max_age_num_blocks`).
    public var evidenceMaxAgeBlocks: UInt64

    public init(
        invalidPpm: UInt64 = 200_000, downtimePpm: UInt64 = 100_000, downtimeMissRatePpm: UInt64 = 50_000,
        doubleSignPpm: UInt64 = 50_000, livenessPpm: UInt64 = 10_000, livenessWindow: UInt64 = 100,
        livenessMinSignedPpm: UInt64 = 500_000, jailBlocks: UInt64 = 20, evidenceMaxAgeBlocks: UInt64 = 1_000
    ) {
        self.invalidPpm = invalidPpm
        self.downtimePpm = downtimePpm
        self.downtimeMissRatePpm = downtimeMissRatePpm
        self.doubleSignPpm = doubleSignPpm
        self.livenessPpm = livenessPpm
        self.livenessWindow = livenessWindow
        self.livenessMinSignedPpm = livenessMinSignedPpm
        self.jailBlocks = jailBlocks
        self.evidenceMaxAgeBlocks = evidenceMaxAgeBlocks
    }

    /// PROTOCOL §12, devnet column.
    public static let devnet = SlashingParams()

    /// The liveness window is stored as a bitmap; more than this many blocks is refused.
    public static let maxLivenessWindow: UInt64 = 10_000

    enum CodingKeys: String, CodingKey {
        case invalidPpm = "invalid_ppm"
        case downtimePpm = "downtime_ppm"
        case downtimeMissRatePpm = "downtime_miss_rate_ppm"
        case doubleSignPpm = "double_sign_ppm"
        case livenessPpm = "liveness_ppm"
        case livenessWindow = "liveness_window"
        case livenessMinSignedPpm = "liveness_min_signed_ppm"
        case jailBlocks = "jail_blocks"
        case evidenceMaxAgeBlocks = "evidence_max_age_blocks"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SlashingParams.devnet
        func value(_ key: CodingKeys, _ fallback: UInt64) throws -> UInt64 {
            try c.decodeIfPresent(UInt64.self, forKey: key) ?? fallback
        }
        invalidPpm = try value(.invalidPpm, d.invalidPpm)
        downtimePpm = try value(.downtimePpm, d.downtimePpm)
        downtimeMissRatePpm = try value(.downtimeMissRatePpm, d.downtimeMissRatePpm)
        doubleSignPpm = try value(.doubleSignPpm, d.doubleSignPpm)
        livenessPpm = try value(.livenessPpm, d.livenessPpm)
        livenessWindow = try value(.livenessWindow, d.livenessWindow)
        livenessMinSignedPpm = try value(.livenessMinSignedPpm, d.livenessMinSignedPpm)
        jailBlocks = try value(.jailBlocks, d.jailBlocks)
        evidenceMaxAgeBlocks = try value(.evidenceMaxAgeBlocks, d.evidenceMaxAgeBlocks)
    }

    /// Why these parameters cannot run a chain, or `nil` when they can (checked at genesis).
    public var problem: String? {
        for (name, value) in [
            ("invalid_ppm", invalidPpm), ("downtime_ppm", downtimePpm), ("downtime_miss_rate_ppm", downtimeMissRatePpm),
            ("double_sign_ppm", doubleSignPpm), ("liveness_ppm", livenessPpm),
            ("liveness_min_signed_ppm", livenessMinSignedPpm),
        ] where value > 1_000_000 {
            return "\(name) must be at most 1,000,000"
        }
        if livenessWindow == 0 || livenessWindow > Self.maxLivenessWindow {
            return "liveness_window must be in 1…\(Self.maxLivenessWindow)"
        }
        if evidenceMaxAgeBlocks == 0 { return "evidence_max_age_blocks must be at least 1" }
        return nil
    }
}
