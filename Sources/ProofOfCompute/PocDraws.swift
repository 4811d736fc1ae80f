import GonkaCore

/// The per-nonce random draws of the fast engine: the same numbers as ``PhiloxStream``'s
/// one-word-at-a-time definitions (PROTOCOL §2, docs/POC.md §1), computed in bulk.
///
/// They live here rather than in GonkaCore because this module is compiled `-Ounchecked` (and for
/// Haswell-class vectors) in every configuration: GonkaCore is unoptimised in debug builds, and
/// the generic SIMD code below runs a hundred times slower there. Each function is checked bit for
/// bit against the plain draws (tests `PocDrawsTests`).
public enum PocDraws {
    /// Eight Philox4x32-10 blocks at once: those of counters `(index + lane, counterHigh)` for
    /// lanes 0…7, as their four words (`words.0[lane]` is word 0 of block `index + lane`). The
    /// arithmetic of ``Philox/block(counter:key:)`` lane by lane, in 64-bit lanes so that a
    /// 32×32→64 multiply is one vector instruction.
    @inline(__always)
    public static func blocks8(
        index: UInt64, counterHigh: SIMD2<UInt32>, key: SIMD2<UInt32>
    ) -> (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>) {
        let mask = SIMD8<UInt64>(repeating: 0xFFFF_FFFF)
        let counters = SIMD8<UInt64>(repeating: index) &+ SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7)
        var c0 = counters & mask
        var c1 = counters &>> 32
        var c2 = SIMD8<UInt64>(repeating: UInt64(counterHigh[0]))
        var c3 = SIMD8<UInt64>(repeating: UInt64(counterHigh[1]))
        var k0 = key[0]
        var k1 = key[1]
        let m0 = SIMD8<UInt64>(repeating: 0xD251_1F53)  // PHILOX_M4x32_0
        let m1 = SIMD8<UInt64>(repeating: 0xCD9E_8D57)  // PHILOX_M4x32_1
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9  // PHILOX_W32_0
                k1 &+= 0xBB67_AE85  // PHILOX_W32_1
            }
            // Both factors are below 2³²: the 64-bit product is the exact full-width product.
            let p0 = (c0 & mask) &* m0
            let p1 = (c2 & mask) &* m1
            let next0 = (p1 &>> 32) ^ c1 ^ SIMD8(repeating: UInt64(k0))
            let next2 = (p0 &>> 32) ^ c3 ^ SIMD8(repeating: UInt64(k1))
            c1 = p1 & mask
            c3 = p0 & mask
            c0 = next0
            c2 = next2
        }
        return (
            SIMD8<UInt32>(truncatingIfNeeded: c0), SIMD8<UInt32>(truncatingIfNeeded: c1),
            SIMD8<UInt32>(truncatingIfNeeded: c2), SIMD8<UInt32>(truncatingIfNeeded: c3)
        )
    }

    /// The PoC normals of eight blocks (``Philox/normal(_:)`` lane by lane: the same steps in
    /// the same order, so the same bits).
    @inline(__always)
    public static func normals8(_ words: (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>)) -> SIMD8<Float> {
        // `word >> 8 < 2²⁴` converts exactly through Int32 (a native vector conversion).
        let scale = SIMD8<Float>(repeating: 0x1p-24)
        let u1 = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: words.0 &>> 8)) * scale
        let u2 = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: words.1 &>> 8)) * scale
        let u3 = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: words.2 &>> 8)) * scale
        let u4 = SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: words.3 &>> 8)) * scale
        var sum = u1 + u2
        sum = sum + u3
        sum = sum + u4
        sum = sum - 2
        return sum * SIMD8(repeating: Philox.sqrt3)
    }

    /// Fills `buffer` with `stream`'s next `buffer.count` normals: the values of that many
    /// `nextNormal()` calls, and the stream moves as far.
    public static func fillNormals(_ stream: inout PhiloxStream, into buffer: UnsafeMutableBufferPointer<Float>) {
        guard stream.position & 3 == 0, let base = buffer.baseAddress else {
            for i in buffer.indices { buffer[i] = stream.nextNormal() }
            return
        }
        let count = buffer.count
        var index = stream.position >> 2
        var i = 0
        while i + 8 <= count {
            let normals = normals8(blocks8(index: index, counterHigh: stream.counterHigh, key: stream.key))
            UnsafeMutableRawPointer(base + i).storeBytes(of: normals, as: SIMD8<Float>.self)
            index &+= 8
            i += 8
        }
        while i < count {
            base[i] = Philox.normal(stream.block(at: index))
            index &+= 1
            i += 1
        }
        stream.seek(to: stream.position &+ UInt64(count) &* 4)
    }

    /// Writes into `buffer` the permutation of `0..<buffer.count` that `stream.permutation(count:)`
    /// draws (``DeterministicRandomSource/permutation(count:)``: the same draws, the same result,
    /// the stream left at the same position), without generic calls or allocation.
    /// - Precondition: `buffer.count ≤ Int32.max`.
    public static func fillPermutation(_ stream: inout PhiloxStream, into buffer: UnsafeMutableBufferPointer<Int32>) {
        let n = buffer.count
        precondition(n <= Int(Int32.max), "fillPermutation(into:) needs at most Int32.max elements")
        guard let out = buffer.baseAddress else { return }
        for i in 0..<n { out[i] = Int32(truncatingIfNeeded: i) }
        guard n > 1 else { return }
        guard stream.position & 3 == 0 else {
            // Unaligned: the plain draw (never the case for PoC's fresh streams).
            let plain = stream.permutation(count: n)
            for i in 0..<n { out[i] = Int32(truncatingIfNeeded: plain[i]) }
            return
        }
        var index = stream.position >> 2
        var draws: UInt64 = 0  // UInt64 draws consumed
        // Eight blocks give 16 draws: block b gives (w0 | w1 << 32), then (w2 | w3 << 32).
        var low = SIMD8<UInt64>()
        var high = SIMD8<UInt64>()
        var slot = 16
        var i = n - 1
        while i >= 1 {
            if slot == 16 {
                let w = blocks8(index: index, counterHigh: stream.counterHigh, key: stream.key)
                low = SIMD8<UInt64>(truncatingIfNeeded: w.0) | SIMD8<UInt64>(truncatingIfNeeded: w.1) &<< 32
                high = SIMD8<UInt64>(truncatingIfNeeded: w.2) | SIMD8<UInt64>(truncatingIfNeeded: w.3) &<< 32
                index &+= 8
                slot = 0
            }
            let value = slot & 1 == 0 ? low[slot >> 1] : high[slot >> 1]
            slot += 1
            draws &+= 1
            let bound = UInt64(i + 1)
            guard uniformIntAccepts(value, below: bound) else { continue }
            let j = Int(truncatingIfNeeded: value % bound)
            let t = out[i]
            out[i] = out[j]
            out[j] = t
            i -= 1
        }
        stream.seek(to: stream.position &+ draws &* 2)
    }

    /// Whether `uniformInt(below: bound)` keeps the draw `value` (`value < 2⁶⁴ − (2⁶⁴ mod bound)`).
    /// For `bound ≤ 2³²` every rejected value lies above `2⁶⁴ − 2³²`, i.e. has an all-ones high
    /// word: only those pay for the threshold's division.
    /// - Precondition: `0 < bound ≤ 2³²`.
    @inline(__always)
    public static func uniformIntAccepts(_ value: UInt64, below bound: UInt64) -> Bool {
        guard value >> 32 == 0xFFFF_FFFF, let rejectFrom = WeightedDraw.rejectionStart(total: bound) else {
            return true
        }
        return value < rejectFrom
    }
}
