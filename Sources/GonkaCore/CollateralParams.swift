/// Parameters of collateral (PROTOCOL §5.6, §9, §12 "collateral" row), the `collateral` object of
/// `params` in genesis. Missing fields take the devnet defaults.
public struct CollateralParams: Codable, Hashable, Sendable {
    /// The share of raw PoC weight that counts without collateral (20%), ppm.
    public var baseSharePpm: UInt64
    /// Collateral that backs one unit of weight, in ngonka (devnet 1 GNK).
    public var perWeight: UInt64
    /// The collateral term applies to the weights of epochs above this number. Devnet: 1,000,000
    /// (never within a devnet's life), so devnets whose participants deposit nothing keep their
    /// whole PoC weight; mainnet 180.
    public var graceEpochs: UInt64
    /// A withdrawal is paid back at the first epoch start at least this many epochs after it (1).
    public var unbondingEpochs: UInt64

    public init(
        baseSharePpm: UInt64 = 200_000, perWeight: UInt64 = Amount.ngonkaPerGNK, graceEpochs: UInt64 = 1_000_000,
        unbondingEpochs: UInt64 = 1
    ) {
        self.baseSharePpm = baseSharePpm
        self.perWeight = perWeight
        self.graceEpochs = graceEpochs
        self.unbondingEpochs = unbondingEpochs
    }

    /// PROTOCOL §12, devnet column.
    public static let devnet = CollateralParams()

    enum CodingKeys: String, CodingKey {
        case baseSharePpm = "base_share_ppm"
        case perWeight = "per_weight"
        case graceEpochs = "grace_epochs"
        case unbondingEpochs = "unbonding_epochs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CollateralParams.devnet
        baseSharePpm = try c.decodeIfPresent(UInt64.self, forKey: .baseSharePpm) ?? d.baseSharePpm
        perWeight = try c.decodeIfPresent(UInt64.self, forKey: .perWeight) ?? d.perWeight
        graceEpochs = try c.decodeIfPresent(UInt64.self, forKey: .graceEpochs) ?? d.graceEpochs
        unbondingEpochs = try c.decodeIfPresent(UInt64.self, forKey: .unbondingEpochs) ?? d.unbondingEpochs
    }

    /// Why these parameters cannot run a chain, or `nil` when they can (checked at genesis).
    public var problem: String? {
        if baseSharePpm > 1_000_000 { return "base_share_ppm must be at most 1,000,000" }
        if perWeight == 0 { return "per_weight must be at least 1 ngonka" }
        return nil
    }

    /// §5.6's collateral term: weight = base·raw + min((1 − base)·raw, collateral / per_weight),
    /// in integers: the base part is ⌊raw × base_share⌋, the rest of raw counts as far as
    /// ⌊collateral / per_weight⌋ covers it. A fully collateralised participant keeps exactly `raw`.
    public func weight(raw: UInt64, collateral: Amount) -> UInt64 {
        let base = UInt64(UInt128(raw) * UInt128(baseSharePpm) / 1_000_000)
        let covered = collateral.ngonka / perWeight
        return base + min(raw - base, covered)
    }

    /// Whether the collateral term applies to the weights of `epoch`.
    public func applies(toEpoch epoch: UInt64) -> Bool { epoch > graceEpochs }
}
