/// A deterministic natural logarithm in fixed point, for consensus code that must not use floating
/// point or libm (PROTOCOL §7.4: the sequential test's log-likelihood ratios are computed from the
/// integer parameters at run time, identically on every node).
///
/// Values are Q16.48: an `Int64` `v` stands for `v / 2⁴⁸`. ``ln(_:over:)`` returns `ln(a / b)`
/// rounded to nearest on that scale, for any `a, b` in `1...UInt64.max` (|result| ≤ 64·ln 2 ≈ 44.4).
///
/// Method (docs/VALIDATION.md § Fixed-point logarithm), all in `UInt128`/`Int128` on a Q62 scale:
/// 1. `k` = ⌊log₂(a/b)⌋ from bit lengths, `m = ⌊a·2⁶² / (b·2ᵏ)⌋ ∈ [2⁶², 2⁶³)` (the mantissa in [1, 2));
/// 2. `s = ⌊(m − 2⁶²)·2⁶² / (m + 2⁶²)⌋` (s < 1/3), and `ln m = 2·atanh s = 2·Σ s²ⁱ⁺¹/(2i+1)`, summed
///    with truncating Q62 products until the term is 0 (≤ 21 terms);
/// 3. `k·ln 2 + ln m` with `ln 2` as the nearest Q62 integer, rounded to Q48 by adding 2¹³ and an
///    arithmetic shift right by 14 (halves round up).
///
/// Error bound: the Q62 intermediate is within 2⁻⁵⁵ of ln(a/b) (≤ 64 truncations of 2⁻⁶² each plus
/// 64 × ½ ulp of ln 2), so the result is within ½ + 2⁻⁷ ulp (2⁻⁴⁸) of the true value: the correctly
/// rounded value except when ln(a/b) lies within 2⁻⁵⁵ of a rounding midpoint, and never more than
/// 1 ulp off. `FixedLogTests` checks this against 50-digit values from `scripts/gen-fixed-log-vectors.py`.
public enum FixedLog {
    /// Fractional bits of a result.
    public static let fractionBits = 48
    /// 1.0 on the Q48 scale.
    public static let one: Int64 = 1 << 48

    /// ln 2 · 2⁶², rounded to nearest (50-digit decimal: 3196577161300663915.4…).
    static let ln2Q62: Int128 = 3_196_577_161_300_663_915
    static let oneQ62: UInt128 = 1 << 62

    /// `ln(numerator / denominator)` in Q48, rounded to nearest; `nil` when either is zero.
    public static func ln(_ numerator: UInt64, over denominator: UInt64) -> Int64? {
        guard numerator > 0, denominator > 0 else { return nil }
        let a = UInt128(numerator)
        let b = UInt128(denominator)
        // a/b lies in (2^(k−1), 2^(k+1)) for k = bitlen(a) − bitlen(b); the shifts below stay under 2¹²⁷.
        var k = b.leadingZeroBitCount - a.leadingZeroBitCount
        func mantissa(_ k: Int) -> UInt128 {
            k >= 0 ? (a << 62) / (b << UInt128(k)) : (a << UInt128(62 - k)) / b
        }
        var m = mantissa(k)
        if m < oneQ62 {
            k -= 1
            m = mantissa(k)
        }
        let s = ((m - oneQ62) << 62) / (m + oneQ62)
        let s2 = (s * s) >> 62
        var term = s
        var sum: UInt128 = 0
        var divisor: UInt128 = 1
        while term != 0 {
            sum += term / divisor
            term = (term * s2) >> 62
            divisor += 2
        }
        let q62 = Int128(k) * ln2Q62 + Int128(2 * sum)
        return Int64((q62 + (1 << 13)) >> 14)
    }
}
