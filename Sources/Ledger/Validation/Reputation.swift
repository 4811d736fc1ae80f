import GonkaCore

/// An executor's reputation (PROTOCOL §7.1): 0..100, rising linearly over `epochs_to_max_reputation`
/// clean epochs. Stored as the count of clean epochs, so the linear rise is exact in integers:
/// ``score(epochsToMax:)`` = ⌊100 · clean / epochs_to_max⌋, capped at 100.
///
/// Update rule (``next(after:params:)``), applied once at each epoch's end:
/// * a confirmed invalidation in the epoch resets the count to 0;
/// * otherwise an epoch whose miss rate misses / (served + missed) is above `max_clean_miss_rate`
///   (1%) does not count, and neither does an epoch with no assigned inference at all (an idle host
///   proves nothing; see docs/VALIDATION.md);
/// * otherwise the count grows by one, up to `epochs_to_max_reputation`.
public struct Reputation: Sendable, Hashable, Codable {
    /// Clean epochs counted so far, at most `epochs_to_max_reputation`.
    public let cleanEpochs: UInt64

    /// The highest score.
    public static let maxScore: UInt64 = 100

    public init(cleanEpochs: UInt64 = 0) {
        self.cleanEpochs = cleanEpochs
    }

    /// A new executor's reputation.
    public static let zero = Reputation()

    /// What one epoch of an executor contributes to its reputation.
    public struct EpochRecord: Sendable, Hashable {
        /// Inferences it finished as the executor.
        public var served: UInt64
        /// Inferences it was assigned and missed (expired, refused, reported).
        public var missed: UInt64
        /// Whether any of its inferences was confirmed INVALIDATED this epoch (§7.3).
        public var confirmedInvalidation: Bool

        public init(served: UInt64, missed: UInt64, confirmedInvalidation: Bool = false) {
            self.served = served
            self.missed = missed
            self.confirmedInvalidation = confirmedInvalidation
        }
    }

    /// 0...100: ⌊100 · clean / epochsToMax⌋ capped at 100; 100 when `epochsToMax` is 0.
    public func score(epochsToMax: UInt64) -> UInt64 {
        guard epochsToMax > 0, cleanEpochs < epochsToMax else { return Self.maxScore }
        return Self.maxScore * cleanEpochs / epochsToMax
    }

    /// The score under `params`.
    public func score(params: ValidationParams) -> UInt64 { score(epochsToMax: params.epochsToMaxReputation) }

    /// Whether the epoch counts as clean: something assigned, and a miss rate of at most the limit
    /// (compared exactly: `missed · 10⁶ ≤ limit_ppm · (served + missed)`, in `UInt128`).
    public static func isClean(_ epoch: EpochRecord, maxMissRatePpm: UInt64) -> Bool {
        let assigned = UInt128(epoch.served) + UInt128(epoch.missed)
        guard !epoch.confirmedInvalidation, assigned > 0 else { return false }
        return UInt128(epoch.missed) * 1_000_000 <= UInt128(maxMissRatePpm) * assigned
    }

    /// The reputation after `epoch`.
    public func next(after epoch: EpochRecord, params: ValidationParams) -> Reputation {
        if epoch.confirmedInvalidation { return .zero }
        guard Self.isClean(epoch, maxMissRatePpm: params.maxCleanMissRatePpm) else { return self }
        return Reputation(cleanEpochs: min(cleanEpochs + 1, params.epochsToMaxReputation))
    }
}
