/// An element of GF(p), p = 2²⁵⁵ − 19, in radix 2⁵¹: five 64-bit limbs. Every operation returns
/// limbs below 2⁵¹ + 2¹², which keeps the 128-bit sums of ``*`` far from overflow and lets ``-``
/// add 2p instead of checking for borrows. Only ``bytes`` reduces fully (canonical encoding).
///
/// Used by ``Ed25519Verifier``; variable time (signatures and keys are public).
struct FieldElement25519: Sendable {
    var l0: UInt64
    var l1: UInt64
    var l2: UInt64
    var l3: UInt64
    var l4: UInt64

    static let mask: UInt64 = (1 << 51) - 1
    static let zero = FieldElement25519(0, 0, 0, 0, 0)
    static let one = FieldElement25519(1, 0, 0, 0, 0)
    /// The curve constant d = −121665 / 121666.
    static let d = FieldElement25519(
        0x3_4DCA_1359_78A3, 0x1_A828_3B15_6EBD, 0x5_E7A2_6001_C029, 0x7_39C6_63A0_3CBB, 0x5_2036_CEE2_B6FF)
    /// 2d, as table entries store it.
    static let d2 = FieldElement25519(
        0x6_9B94_26B2_F159, 0x3_5050_762A_DD7A, 0x3_CF44_C003_8052, 0x6_738C_C740_7977, 0x2_406D_9DC5_6DFF)
    /// √−1 = 2^((p−1)/4).
    static let sqrtMinusOne = FieldElement25519(
        0x6_1B27_4A0E_A0B0, 0x0_D5A5_FC8F_189D, 0x7_EF5E_9CBD_0C60, 0x7_8595_A680_4C9E, 0x2_B832_4804_FC1D)

    @inline(__always)
    init(_ l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64, _ l4: UInt64) {
        self.l0 = l0
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.l4 = l4
    }

    /// The low 255 bits of 32 little-endian bytes (the top bit is ignored, as RFC 8032 decoding
    /// does before it reads the sign).
    init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= 32)
        let w0 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let w1 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let w2 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let w3 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        self.init(
            w0 & Self.mask, (w0 >> 51 | w1 << 13) & Self.mask, (w1 >> 38 | w2 << 26) & Self.mask,
            (w2 >> 25 | w3 << 39) & Self.mask, (w3 >> 12) & Self.mask)
    }

    /// Carries every limb into the next (the top one wraps around times 19). Limbs below 2⁶³ in,
    /// below 2⁵¹ + 2¹² out.
    @inline(__always)
    func carried() -> FieldElement25519 {
        var r = self
        r.l1 &+= r.l0 >> 51
        r.l0 &= Self.mask
        r.l2 &+= r.l1 >> 51
        r.l1 &= Self.mask
        r.l3 &+= r.l2 >> 51
        r.l2 &= Self.mask
        r.l4 &+= r.l3 >> 51
        r.l3 &= Self.mask
        r.l0 &+= (r.l4 >> 51) &* 19
        r.l4 &= Self.mask
        return r
    }

    @inline(__always)
    static func + (a: FieldElement25519, b: FieldElement25519) -> FieldElement25519 {
        FieldElement25519(a.l0 &+ b.l0, a.l1 &+ b.l1, a.l2 &+ b.l2, a.l3 &+ b.l3, a.l4 &+ b.l4).carried()
    }

    /// a + 2p − b: `b`'s limbs are below 2⁵¹ + 2¹², so no limb borrows.
    @inline(__always)
    static func - (a: FieldElement25519, b: FieldElement25519) -> FieldElement25519 {
        FieldElement25519(
            (a.l0 &+ 0xF_FFFF_FFFF_FFDA) &- b.l0, (a.l1 &+ 0xF_FFFF_FFFF_FFFE) &- b.l1,
            (a.l2 &+ 0xF_FFFF_FFFF_FFFE) &- b.l2, (a.l3 &+ 0xF_FFFF_FFFF_FFFE) &- b.l3,
            (a.l4 &+ 0xF_FFFF_FFFF_FFFE) &- b.l4
        ).carried()
    }

    @inline(__always)
    static prefix func - (a: FieldElement25519) -> FieldElement25519 { .zero - a }

    @inline(__always)
    private static func product(_ a: UInt64, _ b: UInt64) -> UInt128 { UInt128(a) &* UInt128(b) }

    static func * (a: FieldElement25519, b: FieldElement25519) -> FieldElement25519 {
        // Schoolbook with the wrap-around folded in: 2²⁵⁵ ≡ 19, so a limb product landing at
        // 2^(51·k), k ≥ 5, comes back at 2^(51·(k−5)) times 19.
        let b1 = b.l1 &* 19
        let b2 = b.l2 &* 19
        let b3 = b.l3 &* 19
        let b4 = b.l4 &* 19
        var r0 = product(a.l0, b.l0) &+ product(a.l1, b4) &+ product(a.l2, b3) &+ product(a.l3, b2)
        r0 &+= product(a.l4, b1)
        var r1 = product(a.l0, b.l1) &+ product(a.l1, b.l0) &+ product(a.l2, b4) &+ product(a.l3, b3)
        r1 &+= product(a.l4, b2)
        var r2 = product(a.l0, b.l2) &+ product(a.l1, b.l1) &+ product(a.l2, b.l0) &+ product(a.l3, b4)
        r2 &+= product(a.l4, b3)
        var r3 = product(a.l0, b.l3) &+ product(a.l1, b.l2) &+ product(a.l2, b.l1) &+ product(a.l3, b.l0)
        r3 &+= product(a.l4, b4)
        var r4 = product(a.l0, b.l4) &+ product(a.l1, b.l3) &+ product(a.l2, b.l2) &+ product(a.l3, b.l1)
        r4 &+= product(a.l4, b.l0)
        return reduce(&r0, &r1, &r2, &r3, &r4)
    }

    func squared() -> FieldElement25519 {
        // The cross terms of a², each counted twice.
        let d0 = l0 &* 2
        let d1 = l1 &* 2
        let d2 = l2 &* 38
        let d4 = l4 &* 19
        let l3x19 = l3 &* 19
        var r0 = Self.product(l0, l0) &+ Self.product(d1, d4) &+ Self.product(d2, l3)
        var r1 = Self.product(d0, l1) &+ Self.product(d2, l4) &+ Self.product(l3, l3x19)
        var r2 = Self.product(d0, l2) &+ Self.product(l1, l1) &+ Self.product(l3 &* 2, d4)
        var r3 = Self.product(d0, l3) &+ Self.product(d1, l2) &+ Self.product(l4, d4)
        var r4 = Self.product(d0, l4) &+ Self.product(d1, l3) &+ Self.product(l2, l2)
        return Self.reduce(&r0, &r1, &r2, &r3, &r4)
    }

    /// Carries five 128-bit column sums (each below 2¹¹⁵) down to limbs below 2⁵¹ + 2¹².
    @inline(__always)
    private static func reduce(
        _ r0: inout UInt128, _ r1: inout UInt128, _ r2: inout UInt128, _ r3: inout UInt128, _ r4: inout UInt128
    ) -> FieldElement25519 {
        r1 &+= r0 >> 51
        r2 &+= r1 >> 51
        r3 &+= r2 >> 51
        r4 &+= r3 >> 51
        let top = UInt64(truncatingIfNeeded: r4 >> 51)
        var l0 = (UInt64(truncatingIfNeeded: r0) & mask) &+ top &* 19
        var l1 = UInt64(truncatingIfNeeded: r1) & mask
        l1 &+= l0 >> 51
        l0 &= mask
        return FieldElement25519(
            l0, l1, UInt64(truncatingIfNeeded: r2) & mask, UInt64(truncatingIfNeeded: r3) & mask,
            UInt64(truncatingIfNeeded: r4) & mask)
    }

    /// `self` squared `n` times.
    func squared(times n: Int) -> FieldElement25519 {
        var r = self
        for _ in 0..<n { r = r.squared() }
        return r
    }

    /// (z^(2²⁵⁰ − 1), z¹¹): the shared start of the exponentiation chains (ref10's).
    private func chain250() -> (z250: FieldElement25519, z11: FieldElement25519) {
        let z2 = squared()
        let z9 = self * z2.squared(times: 2)
        let z11 = z2 * z9
        let z5 = z9 * z11.squared()  // 2⁵ − 1
        let z10 = z5.squared(times: 5) * z5
        let z20 = z10.squared(times: 10) * z10
        let z40 = z20.squared(times: 20) * z20
        let z50 = z40.squared(times: 10) * z10
        let z100 = z50.squared(times: 50) * z50
        let z200 = z100.squared(times: 100) * z100
        let z250 = z200.squared(times: 50) * z50
        return (z250, z11)
    }

    /// 1/z = z^(p − 2) (0 for 0).
    func inverted() -> FieldElement25519 {
        let (z250, z11) = chain250()
        return z250.squared(times: 5) * z11
    }

    /// z^((p − 5)/8) = z^(2²⁵² − 3), the square-root step of point decoding.
    func powPMinus5Over8() -> FieldElement25519 {
        chain250().z250.squared(times: 2) * self
    }

    /// The canonical 32-byte little-endian encoding (fully reduced; the top bit is 0).
    var bytes: [UInt8] {
        var t = carried().carried()
        // t < 2p: subtract p once if t ≥ p, i.e. if t + 19 carries out of 2²⁵⁵.
        var q = (t.l0 &+ 19) >> 51
        q = (t.l1 &+ q) >> 51
        q = (t.l2 &+ q) >> 51
        q = (t.l3 &+ q) >> 51
        q = (t.l4 &+ q) >> 51
        t.l0 &+= 19 &* q
        t.l1 &+= t.l0 >> 51
        t.l0 &= Self.mask
        t.l2 &+= t.l1 >> 51
        t.l1 &= Self.mask
        t.l3 &+= t.l2 >> 51
        t.l2 &= Self.mask
        t.l4 &+= t.l3 >> 51
        t.l3 &= Self.mask
        t.l4 &= Self.mask
        let words = [t.l0 | t.l1 << 51, t.l1 >> 13 | t.l2 << 38, t.l2 >> 26 | t.l3 << 25, t.l3 >> 39 | t.l4 << 12]
        var out = [UInt8](repeating: 0, count: 32)
        for (i, word) in words.enumerated() {
            for j in 0..<8 { out[i * 8 + j] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(j))) }
        }
        return out
    }

    /// Whether the canonical value is odd (RFC 8032's "negative" x).
    var isNegative: Bool { bytes[0] & 1 == 1 }
    var isZero: Bool { bytes.allSatisfy { $0 == 0 } }
}
