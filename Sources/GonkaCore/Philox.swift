/// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
/// numbers: as easy as 1, 2, 3" (SC 2011), as shipped in Random123, cuRAND and JAX: the portable
/// randomness of PROTOCOL §2.
///
/// The generator is a keyed bijection on 128-bit counters: `block(counter:key:)` maps a counter to
/// four pseudo-random words, so any position of a stream can be computed without the ones before it.
/// ``PhiloxStream`` lays streams out over it and turns words into uniform floats and PoC normals.
public enum Philox {
    /// The round multipliers `PHILOX_M4x32_0`, `PHILOX_M4x32_1`.
    public static let multipliers: SIMD2<UInt32> = SIMD2(0xD251_1F53, 0xCD9E_8D57)
    /// The key schedule's Weyl increments `PHILOX_W32_0` (golden ratio), `PHILOX_W32_1` (√3 − 1).
    public static let keyIncrements: SIMD2<UInt32> = SIMD2(0x9E37_79B9, 0xBB67_AE85)
    /// Philox4x32-**10**: the round count of the protocol (and of cuRAND and JAX).
    public static let rounds = 10

    /// One Philox4x32-10 block: the four output words for `counter` under `key`.
    ///
    /// Round: `(hi₀, lo₀) = M₀ × c₀`, `(hi₁, lo₁) = M₁ × c₂` (32×32→64),
    /// `c ← (hi₁ ⊕ c₁ ⊕ k₀, lo₁, hi₀ ⊕ c₃ ⊕ k₁, lo₀)`; the key gains `(W₀, W₁)` before every round
    /// but the first. Checked against Random123's published known-answer vectors.
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c0 = counter[0]
        var c1 = counter[1]
        var c2 = counter[2]
        var c3 = counter[3]
        var k0 = key[0]
        var k1 = key[1]
        let m0 = multipliers[0]
        let m1 = multipliers[1]
        for round in 0..<rounds {
            if round > 0 {
                k0 &+= keyIncrements[0]
                k1 &+= keyIncrements[1]
            }
            let (hi0, lo0) = m0.multipliedFullWidth(by: c0)
            let (hi1, lo1) = m1.multipliedFullWidth(by: c2)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return SIMD4(c0, c1, c2, c3)
    }

    /// √3 rounded to the nearest `Float` (`0x1.bb67aep0`, bits `0x3fddb3d7`): the scale of the PoC
    /// normal. A constant, so no platform's `sqrt` is ever involved.
    public static let sqrt3: Float = 0x1.bb67aep0

    /// The uniform float of one word: `Float(word >> 8) × 2⁻²⁴`, a multiple of 2⁻²⁴ in [0, 1).
    /// Both steps are exact, so every platform gets the same bits.
    @inline(__always)
    public static func uniformFloat(_ word: UInt32) -> Float {
        Float(word >> 8) * 0x1p-24
    }

    /// The PoC "normal" of four words (PROTOCOL §2): `(u₁ + u₂ + u₃ + u₄ − 2) × √3` in `Float`,
    /// evaluated left to right: `((((u₁ + u₂) + u₃) + u₄) − 2) × √3`, each step rounded to `Float`.
    /// Mean ≈ 0, variance ≈ 1, range (−2√3, 2√3).
    @inline(__always)
    public static func normal(_ words: SIMD4<UInt32>) -> Float {
        normal(uniformFloat(words[0]), uniformFloat(words[1]), uniformFloat(words[2]), uniformFloat(words[3]))
    }

    @inline(__always)
    static func normal(_ u1: Float, _ u2: Float, _ u3: Float, _ u4: Float) -> Float {
        var sum = u1 + u2
        sum = sum + u3
        sum = sum + u4
        sum = sum - 2
        return sum * sqrt3
    }
}
