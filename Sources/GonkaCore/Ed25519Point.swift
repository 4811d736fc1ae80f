/// Whether 32 bytes are an Ed25519 point encoding that RFC 8032 §5.1.3 decodes (PROTOCOL §2: keys).
///
/// swift-crypto's BoringSSL backend (Linux) accepts any 32 bytes as a public key, so without this
/// check a node on Linux would register keys that a stricter platform refuses. The rule here is the
/// RFC's, the same on every platform: with `y` the low 255 bits (little-endian) and `s` the top bit,
/// the encoding is valid iff `y < p` (canonical), `x² = (y² − 1) / (d·y² + 1)` has a solution mod
/// `p = 2²⁵⁵ − 19`, and not (`x = 0` and `s = 1`). Small-order points decode and are accepted, as in
/// the RFC. Existence of `x` is Euler's criterion on `u·v` (`u/v` is a square iff `u·v = u/v · v²`
/// is): `(u·v)^((p−1)/2) = 1`. Variable time: public keys are public.
enum Ed25519Point {
    static func isValidEncoding(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 32 else { return false }
        var limbs = SIMD4<UInt64>()
        for i in 0..<32 {
            limbs[i / 8] |= UInt64(bytes[i]) << (8 * UInt64(i % 8))
        }
        let sign = limbs[3] >> 63
        limbs[3] &= 0x7FFF_FFFF_FFFF_FFFF
        let y = FieldElement(limbs: limbs)
        guard !y.isAtLeastP else { return false }

        let y2 = y * y
        let u = y2 - .one
        let v = FieldElement.d * y2 + .one
        if u == .zero { return sign == 0 }  // x = 0: only the positive sign is canonical
        guard v != .zero else { return false }  // cannot happen for Ed25519's non-square d
        return (u * v).power(FieldElement.halfPMinusOne) == .one
    }

    /// An element of GF(2²⁵⁵ − 19), four little-endian 64-bit limbs, always fully reduced.
    struct FieldElement: Equatable {
        var limbs: SIMD4<UInt64>

        static let zero = FieldElement(limbs: SIMD4(0, 0, 0, 0))
        static let one = FieldElement(limbs: SIMD4(1, 0, 0, 0))
        /// p = 2²⁵⁵ − 19.
        static let p = SIMD4<UInt64>(0xFFFF_FFFF_FFFF_FFED, .max, .max, 0x7FFF_FFFF_FFFF_FFFF)
        /// (p − 1) / 2 = 2²⁵⁴ − 10, the exponent of Euler's criterion.
        static let halfPMinusOne = SIMD4<UInt64>(0xFFFF_FFFF_FFFF_FFF6, .max, .max, 0x3FFF_FFFF_FFFF_FFFF)
        /// The curve constant d = −121665 / 121666.
        static let d = FieldElement(
            limbs: SIMD4(
                0x75EB_4DCA_1359_78A3, 0x0070_0A4D_4141_D8AB, 0x8CC7_4079_7779_E898, 0x5203_6CEE_2B6F_FE73))

        /// Whether the limbs, read as a 256-bit integer, are ≥ p.
        var isAtLeastP: Bool {
            for i in (0..<4).reversed() where limbs[i] != Self.p[i] {
                return limbs[i] > Self.p[i]
            }
            return true
        }

        static func + (a: FieldElement, b: FieldElement) -> FieldElement {
            // Both < p < 2²⁵⁵, so the sum fits in 256 bits.
            var sum = SIMD4<UInt64>()
            var carry: UInt64 = 0
            for i in 0..<4 {
                let (s1, o1) = a.limbs[i].addingReportingOverflow(b.limbs[i])
                let (s2, o2) = s1.addingReportingOverflow(carry)
                sum[i] = s2
                carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
            }
            return FieldElement(reducingOnce: sum)
        }

        static func - (a: FieldElement, b: FieldElement) -> FieldElement {
            // a − b, plus p when that borrows.
            var difference = SIMD4<UInt64>()
            var borrow: UInt64 = 0
            for i in 0..<4 {
                let (d1, o1) = a.limbs[i].subtractingReportingOverflow(b.limbs[i])
                let (d2, o2) = d1.subtractingReportingOverflow(borrow)
                difference[i] = d2
                borrow = (o1 ? 1 : 0) + (o2 ? 1 : 0)
            }
            if borrow != 0 {
                var carry: UInt64 = 0
                for i in 0..<4 {
                    let (s1, o1) = difference[i].addingReportingOverflow(p[i])
                    let (s2, o2) = s1.addingReportingOverflow(carry)
                    difference[i] = s2
                    carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
                }
            }
            return FieldElement(limbs: difference)
        }

        static func * (a: FieldElement, b: FieldElement) -> FieldElement {
            // Schoolbook 256 × 256 → 512 bits.
            var wide = SIMD8<UInt64>()
            for i in 0..<4 {
                var carry: UInt128 = 0
                for j in 0..<4 {
                    let t = UInt128(a.limbs[i]) * UInt128(b.limbs[j]) + UInt128(wide[i + j]) + carry
                    wide[i + j] = UInt64(truncatingIfNeeded: t)
                    carry = t >> 64
                }
                wide[i + 4] = UInt64(truncatingIfNeeded: carry)
            }
            // 2²⁵⁶ ≡ 38 (mod p): fold the high half in twice, then subtract p while needed.
            var folded = SIMD4<UInt64>()
            var carry: UInt128 = 0
            for i in 0..<4 {
                let t = UInt128(wide[i]) + UInt128(wide[i + 4]) * 38 + carry
                folded[i] = UInt64(truncatingIfNeeded: t)
                carry = t >> 64
            }
            var extra = carry * 38  // carry < 39
            for i in 0..<4 {
                let t = UInt128(folded[i]) + extra
                folded[i] = UInt64(truncatingIfNeeded: t)
                extra = t >> 64
            }
            if extra != 0 {
                // Wrapped past 2²⁵⁶ once more, so the low limbs are now tiny: adding 38 cannot carry far.
                folded[0] &+= 38
            }
            return FieldElement(reducingOnce: folded).reducedOnceMore
        }

        /// `self` raised to the 256-bit exponent `e` (square and multiply, high bit first).
        func power(_ e: SIMD4<UInt64>) -> FieldElement {
            var result = FieldElement.one
            for i in (0..<4).reversed() {
                for bit in (0..<64).reversed() {
                    result = result * result
                    if (e[i] >> UInt64(bit)) & 1 == 1 { result = result * self }
                }
            }
            return result
        }

        init(limbs: SIMD4<UInt64>) {
            self.limbs = limbs
        }

        /// From a value < 2²⁵⁶: subtracts p once if needed (enough for values < 2p).
        private init(reducingOnce value: SIMD4<UInt64>) {
            self.limbs = value
            if isAtLeastP { self = self.subtractingP }
        }

        /// Values in [2p, 2²⁵⁶) need a second subtraction.
        private var reducedOnceMore: FieldElement {
            isAtLeastP ? subtractingP : self
        }

        private var subtractingP: FieldElement {
            var difference = SIMD4<UInt64>()
            var borrow: UInt64 = 0
            for i in 0..<4 {
                let (d1, o1) = limbs[i].subtractingReportingOverflow(Self.p[i])
                let (d2, o2) = d1.subtractingReportingOverflow(borrow)
                difference[i] = d2
                borrow = (o1 ? 1 : 0) + (o2 ? 1 : 0)
            }
            return FieldElement(limbs: difference)
        }
    }
}
