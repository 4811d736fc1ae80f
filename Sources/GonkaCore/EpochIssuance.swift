/// The epoch reward of PROTOCOL §8.2, `R(e) = ⌊R₀ × exp(λ × (e − 1))⌋`, in exact integer arithmetic:
/// the same value on every machine, no libm, no floating point.
///
/// exp(λ) is summed as its Taylor series in fixed point with 30 decimal places (``scale``), raised
/// to the power e − 1 by repeated squaring with round-to-nearest 256-bit products, and the product
/// with R₀ is floored. The accumulated error is far below one ngonka for every epoch a chain will
/// see (relative ≈ (e − 1) × 10⁻²⁸); a committed table computed at 50 digits with Python's
/// `decimal` (Tests/LedgerTests/Fixtures) checks e = 1…2,000 and samples up to 60,000 exactly.
public enum EpochIssuance {
    /// 10³⁰: the fixed-point unit of exp values (they lie in (0, 1]).
    static let scale: UInt128 = 1_000_000_000_000_000_000_000_000_000_000

    /// R(e) in ngonka for e ≥ 1; 0 for epoch 0 (genesis, which no sprint produced).
    public static func reward(epoch: UInt64, params: RewardParams) -> UInt64 {
        guard epoch >= 1 else { return 0 }
        let factor = power(expNegative(micro: params.issuanceDecayMicro), epoch - 1)
        let product = UInt128(params.initialEpochReward).multipliedFullWidth(by: factor)
        // R₀ × factor / scale ≤ R₀ < 2⁶⁴: the quotient fits.
        return UInt64(scale.dividingFullWidth(product).quotient)
    }

    /// exp(−micro / 10⁶) × ``scale``, for micro ≤ 10⁶, by its alternating Taylor series.
    static func expNegative(micro: UInt64) -> UInt128 {
        precondition(micro <= 1_000_000, "exp(−x) is only summed for x ≤ 1")
        var sum = scale
        var term = scale
        var k: UInt128 = 1
        while true {
            // term_k = term_{k−1} × x / k with x = micro / 10⁶; term ≤ 10³⁰ so term × micro < 2¹²⁸.
            term = term * UInt128(micro) / (1_000_000 * k)
            if term == 0 { break }
            if k % 2 == 1 { sum -= term } else { sum += term }
            k += 1
        }
        return sum
    }

    /// base^n in fixed point (both scaled by ``scale``).
    static func power(_ base: UInt128, _ n: UInt64) -> UInt128 {
        var result = scale
        var square = base
        var n = n
        while n > 0 {
            if n & 1 == 1 { result = multiply(result, square) }
            n >>= 1
            if n > 0 { square = multiply(square, square) }
        }
        return result
    }

    /// round(a × b / scale) for a, b ≤ scale.
    static func multiply(_ a: UInt128, _ b: UInt128) -> UInt128 {
        let product = a.multipliedFullWidth(by: b)
        let (quotient, remainder) = scale.dividingFullWidth(product)
        return remainder * 2 >= scale ? quotient + 1 : quotient
    }
}
