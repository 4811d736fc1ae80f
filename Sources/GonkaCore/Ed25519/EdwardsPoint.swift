/// A point of edwards25519 (−x² + y² = 1 + d·x²·y²) in extended coordinates (X : Y : Z : T):
/// x = X/Z, y = Y/Z, x·y = T/Z. The formulas are ref10's (as in BoringSSL), a = −1.
struct EdwardsPoint: Sendable {
    var x: FieldElement25519
    var y: FieldElement25519
    var z: FieldElement25519
    var t: FieldElement25519

    static let identity = EdwardsPoint(x: .zero, y: .one, z: .one, t: .zero)

    /// The base point B of RFC 8032 (y = 4/5, x even).
    static let base: EdwardsPoint = {
        let x = FieldElement25519(
            0x6_2D60_8F25_D51A, 0x4_12A4_B4F6_592A, 0x7_5B71_71A4_B31D, 0x1_FF60_5271_18FE, 0x2_1693_6D3C_D6E5)
        let y = FieldElement25519(
            0x6_6666_6666_6658, 0x4_CCCC_CCCC_CCCC, 0x1_9999_9999_9999, 0x3_3333_3333_3333, 0x6_6666_6666_6666)
        return EdwardsPoint(x: x, y: y, z: .one, t: x * y)
    }()

    init(x: FieldElement25519, y: FieldElement25519, z: FieldElement25519, t: FieldElement25519) {
        self.x = x
        self.y = y
        self.z = z
        self.t = t
    }

    /// Decodes 32 bytes exactly as BoringSSL's `x25519_ge_frombytes_vartime` does: y from the low
    /// 255 bits, x = √((y² − 1)/(d·y² + 1)) with the sign of bit 255; `nil` when there is no root.
    init?(decoding bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        let y = bytes.withUnsafeBytes { FieldElement25519(bytes: $0) }
        let yy = y.squared()
        let u = yy - .one
        let v = FieldElement25519.d * yy + .one
        let v3 = v.squared() * v
        // x = u·v³·(u·v⁷)^((p−5)/8), a square root of u/v when one exists (RFC 8032 §5.1.3).
        var x = (v3.squared() * v * u).powPMinus5Over8() * v3 * u
        let vxx = x.squared() * v
        if !(vxx - u).isZero {
            guard (vxx + u).isZero else { return nil }
            x = x * .sqrtMinusOne
        }
        if x.isNegative != (bytes[31] >> 7 == 1) { x = -x }
        self.init(x: x, y: y, z: .one, t: x * y)
    }

    var negated: EdwardsPoint { EdwardsPoint(x: -x, y: y, z: z, t: -t) }

    /// The 32-byte encoding: y, with the sign of x in bit 255.
    var encoded: [UInt8] {
        let zInverse = z.inverted()
        var out = (y * zInverse).bytes
        if (x * zInverse).isNegative { out[31] ^= 0x80 }
        return out
    }

    /// 2·P.
    func doubled() -> EdwardsPoint {
        let xx = x.squared()
        let yy = y.squared()
        let zz2 = z.squared()
        let b = zz2 + zz2
        let s = (x + y).squared()
        let ySum = yy + xx
        let yDifference = yy - xx
        let e = s - ySum
        let f = b - yDifference
        return EdwardsPoint(x: e * f, y: ySum * yDifference, z: yDifference * f, t: e * ySum)
    }

    /// P + Q.
    func adding(_ q: EdwardsPoint) -> EdwardsPoint {
        let a = (y + x) * (q.y + q.x)
        let b = (y - x) * (q.y - q.x)
        let c = t * (q.t * .d2)
        let zz = z * q.z
        let d = zz + zz
        return Self.completed(x: a - b, y: a + b, z: d + c, t: d - c)
    }

    /// P + Q for Q given as an affine niels triple.
    @inline(__always)
    func adding(_ q: AffineNiels) -> EdwardsPoint {
        let a = (y + x) * q.yPlusX
        let b = (y - x) * q.yMinusX
        let c = q.xy2d * t
        let d = z + z
        return Self.completed(x: a - b, y: a + b, z: d + c, t: d - c)
    }

    /// P − Q for Q given as an affine niels triple (−Q swaps y+x and y−x and negates 2dxy).
    @inline(__always)
    func subtracting(_ q: AffineNiels) -> EdwardsPoint {
        let a = (y + x) * q.yMinusX
        let b = (y - x) * q.yPlusX
        let c = q.xy2d * t
        let d = z + z
        return Self.completed(x: a - b, y: a + b, z: d - c, t: d + c)
    }

    /// ref10's "p1p1" (completed) coordinates back to extended ones.
    @inline(__always)
    private static func completed(
        x: FieldElement25519, y: FieldElement25519, z: FieldElement25519, t: FieldElement25519
    ) -> EdwardsPoint {
        EdwardsPoint(x: x * t, y: y * z, z: z * t, t: x * y)
    }
}

/// An affine point as (y + x, y − x, 2·d·x·y): what a mixed addition needs.
struct AffineNiels: Sendable {
    var yPlusX: FieldElement25519
    var yMinusX: FieldElement25519
    var xy2d: FieldElement25519
}

/// Multiples of one point for fixed-base multiplication: entry (j, m) is (m + 1)·256ʲ·P for
/// j < 32, m < 8 (256 points, ~30 KiB). With it, a·P for a 253-bit scalar in signed radix-16
/// digits costs 64 mixed additions and 4 doublings instead of ~250 doublings.
struct PointTable: Sendable {
    private var entries: [AffineNiels]

    init(_ point: EdwardsPoint) {
        var projective: [EdwardsPoint] = []
        projective.reserveCapacity(256)
        var window = point
        for _ in 0..<32 {
            var multiple = window
            projective.append(multiple)
            for _ in 1..<8 {
                multiple = multiple.adding(window)
                projective.append(multiple)
            }
            for _ in 0..<8 { window = window.doubled() }
        }
        // All to affine with one inversion (Montgomery's trick).
        var prefix: [FieldElement25519] = []
        prefix.reserveCapacity(projective.count)
        var running = FieldElement25519.one
        for p in projective {
            prefix.append(running)
            running = running * p.z
        }
        var inverse = running.inverted()
        var out = [AffineNiels](
            repeating: AffineNiels(yPlusX: .zero, yMinusX: .zero, xy2d: .zero), count: projective.count)
        for i in projective.indices.reversed() {
            let zInverse = inverse * prefix[i]
            inverse = inverse * projective[i].z
            let x = projective[i].x * zInverse
            let y = projective[i].y * zInverse
            out[i] = AffineNiels(yPlusX: y + x, yMinusX: y - x, xy2d: x * y * .d2)
        }
        entries = out
    }

    /// acc + digit·256ʲ·P for a digit in −8…8.
    @inline(__always)
    func add(window j: Int, digit: Int8, to acc: inout EdwardsPoint) {
        if digit > 0 {
            acc = acc.adding(entries[j &* 8 &+ Int(digit) &- 1])
        } else if digit < 0 {
            acc = acc.subtracting(entries[j &* 8 &- Int(digit) &- 1])
        }
    }

    /// The signed radix-16 digits (each −8…8) of a 32-byte little-endian scalar below 2²⁵⁵:
    /// a = Σ digits[i]·16ⁱ.
    static func digits(_ scalar: [UInt8]) -> [Int8] {
        var e = [Int8](repeating: 0, count: 64)
        for i in 0..<32 {
            e[2 * i] = Int8(scalar[i] & 15)
            e[2 * i + 1] = Int8(scalar[i] >> 4)
        }
        var carry: Int8 = 0
        for i in 0..<63 {
            e[i] += carry
            carry = (e[i] + 8) >> 4
            e[i] -= carry << 4
        }
        e[63] += carry
        return e
    }

    /// a·P + b·Q from their tables and digits.
    static func combination(_ a: [Int8], _ p: PointTable, _ b: [Int8], _ q: PointTable) -> EdwardsPoint {
        var acc = EdwardsPoint.identity
        // Odd digits (16·256ʲ) first, then ×16, then the even ones (256ʲ).
        for i in stride(from: 1, to: 64, by: 2) {
            p.add(window: i >> 1, digit: a[i], to: &acc)
            q.add(window: i >> 1, digit: b[i], to: &acc)
        }
        for _ in 0..<4 { acc = acc.doubled() }
        for i in stride(from: 0, to: 64, by: 2) {
            p.add(window: i >> 1, digit: a[i], to: &acc)
            q.add(window: i >> 1, digit: b[i], to: &acc)
        }
        return acc
    }
}
