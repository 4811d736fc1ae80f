/// An unbiased weighted draw in integer arithmetic (PROTOCOL §2; used for the executor choice of
/// §6.2 step 3, where the TA draws and the ledger re-derives the same result).
///
/// Given items with `UInt64` weights **in a caller-given deterministic order** and a
/// ``DeterministicRandomSource``:
/// 1. `total` = the sum of the weights (an overflow is an error, never a wrap);
/// 2. `value = uniformInt(below: total)`: draw `v = nextUInt64()`, reject it while
///    `v ≥ 2⁶⁴ − (2⁶⁴ mod total)` (``rejectionStart(total:)``), then `value = v mod total`;
/// 3. the winner is the first item `i` with `value < w₀ + … + wᵢ`.
///
/// Zero-weight items never win; an empty list or all-zero weights give `nil` and draw nothing.
public enum WeightedDraw {
    /// The smallest value of `nextUInt64()` that a draw below `total` rejects:
    /// `2⁶⁴ − (2⁶⁴ mod total)`, the largest multiple of `total` that is ≤ 2⁶⁴, so the accepted values
    /// `0 ..< rejectionStart` hit every residue equally often. Computed as
    /// `UInt64.max − (UInt64.max mod total)`. `nil` when `total` divides 2⁶⁴ (a power of two,
    /// including 1): then nothing is rejected.
    /// - Precondition: `total > 0`.
    public static func rejectionStart(total: UInt64) -> UInt64? {
        precondition(total > 0, "rejectionStart(total:) needs a positive total")
        let remainder = UInt64.max % total  // (2⁶⁴ − 1) mod total = (2⁶⁴ mod total) − 1, unless that is 0
        guard remainder != total - 1 else { return nil }
        return UInt64.max - remainder
    }

    /// The sum of `weights`, or `.totalOverflow`.
    public static func total(of weights: some Sequence<UInt64>) throws(WeightedDrawError) -> UInt64 {
        var total: UInt64 = 0
        for weight in weights {
            let (sum, overflow) = total.addingReportingOverflow(weight)
            guard !overflow else { throw .totalOverflow }
            total = sum
        }
        return total
    }

    /// The offset of the drawn weight in `weights`, or `nil` if all weights are zero (or there are
    /// none), in which case nothing is drawn from `source`.
    public static func index(
        weights: [UInt64],
        using source: inout some DeterministicRandomSource
    ) throws(WeightedDrawError) -> Int? {
        let total = try total(of: weights)
        guard total > 0 else { return nil }
        let value = source.uniformInt(below: total)
        var cumulative: UInt64 = 0
        for (offset, weight) in weights.enumerated() {
            cumulative += weight  // cannot overflow: bounded by `total`
            if value < cumulative { return offset }
        }
        preconditionFailure("value \(value) < total \(total) must fall in some item's range")
    }

    /// The drawn item, or `nil` if no item has a positive weight.
    public static func draw<Item>(
        from items: [(item: Item, weight: UInt64)],
        using source: inout some DeterministicRandomSource
    ) throws(WeightedDrawError) -> Item? {
        try index(weights: items.map(\.weight), using: &source).map { items[$0].item }
    }

    /// The drawn item with a fresh ``PhiloxStream`` keyed by `seed` (from position 0).
    public static func draw<Item>(
        from items: [(item: Item, weight: UInt64)],
        seed: Hash
    ) throws(WeightedDrawError) -> Item? {
        var stream = PhiloxStream(seed: seed)
        return try draw(from: items, using: &stream)
    }
}

/// Why a weighted draw could not be made.
public struct WeightedDrawError: Error, Hashable, CustomStringConvertible {
    private enum Code: Hashable {
        case totalOverflow
    }

    private let code: Code

    /// The weights add up to more than `UInt64.max`.
    public static let totalOverflow = Self(code: .totalOverflow)

    /// A label without associated values (safe for metrics).
    public var shortDescription: String {
        switch code {
        case .totalOverflow: "total_overflow"
        }
    }

    public var description: String {
        switch code {
        case .totalOverflow: "the weights of a draw add up to more than \(UInt64.max)"
        }
    }
}
