/// The numeric kernels: dot products and dequantisation over GGUF blocks, matrix products,
/// normalisation, RoPE, softmax, SiLU and attention. All take raw pointers; callers own the memory.
public enum Kernels {}

extension Kernels {
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// The first four halves at `p` (8 bytes, which every Q4_0, Q4_1 and Q8_0 block has), as
    /// floats: a block's scale is lane 0 and Q4_1's minimum lane 1. `half(_:_:)` on a block scale
    /// compiles to `vpinsrw` into whatever register is free, often a loop accumulator, which chains
    /// every block's conversion behind the previous block's FMA (a false dependency that made the
    /// matrix-vector loops latency-bound); this zero-extending 8-byte load has none.
    @inline(__always)
    static func blockHalves(_ p: UnsafeRawPointer) -> SIMD4<Float> {
        let v = p.loadUnaligned(as: SIMD4<Float16>.self)
        var r = SIMD4<Float>()
        for i in 0..<4 { r[i] = Float(v[i]) }
        return r
    }

    // Element-wise loops rather than the standard library's generic SIMD conversions: those stay
    // out-of-line calls across modules, while these loops become vpmovzxbd/vpmovsxbd + vcvtdq2ps.
    @inline(__always)
    static func floats(_ q: SIMD16<UInt8>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = Float(q[i]) }
        return r
    }

    @inline(__always)
    static func floats(_ q: SIMD16<Int8>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = Float(q[i]) }
        return r
    }

    /// The sum of the lanes as a tree (halves added pairwise): a handful of vector adds instead of
    /// the 15 dependent scalar adds of `sum()`, which runs once per output row of every matrix-vector
    /// product (about 200,000 times per decoded token).
    @inline(__always)
    public static func horizontalSum(_ v: SIMD16<Float>) -> Float {
        let eight = v.lowHalf + v.highHalf
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }

    /// Per-32-element sums of `x[0..<count]` into `sums[0..<count/32]` (Q4_0/Q4_1 dot products use them).
    public static func blockSums(_ x: UnsafePointer<Float>, count: Int, into sums: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawPointer(x)
        for b in 0..<(count / 32) {
            let a = raw.loadUnaligned(fromByteOffset: b * 128, as: SIMD16<Float>.self)
            let c = raw.loadUnaligned(fromByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            sums[b] = (a + c).sum()
        }
    }

    /// `row · x` for one row of `type` with `count` elements; `sums` are `x`'s block sums
    /// (needed by Q4_0 and Q4_1, ignored otherwise).
    @inline(__always)
    public static func dot(
        _ type: GGMLType, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, sums: UnsafePointer<Float>, count: Int
    ) -> Float {
        switch type {
        case .q4_1: dotQ4_1(row, x, sums, blocks: count / 32)
        case .q4_0: dotQ4_0(row, x, sums, blocks: count / 32)
        case .q8_0: dotQ8_0(row, x, blocks: count / 32)
        case .f16: dotF16(row, x, count: count)
        case .f32: dotF32(UnsafeRawPointer(row), UnsafeRawPointer(x), count: count)
        }
    }

    /// Widens 8 bytes to 32-bit lanes straight from memory (one `vpmovzxbd` with a memory operand).
    @inline(__always)
    static func widened(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int32> {
        let q = p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self)
        var r = SIMD8<Int32>()
        for i in 0..<8 { r[i] = Int32(q[i]) }
        return r
    }

    @inline(__always)
    static func floats(_ q: SIMD8<Int32>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(q[i]) }
        return r
    }

    /// The nibble mask (15) and shift (4) of a Q4 block as values the optimiser cannot see. With
    /// constants it narrows `widen(q) & 15` back to `widen(q & 15)`: the nibbles are split in bytes
    /// first and widened from registers, four cross-lane shuffles per block instead of two widening
    /// loads, and those shuffles are the bottleneck (llvm-mca, znver3: 20.8 → 17.3 cycles per
    /// two-row block). `count >> 62` is 0 for any real row length, but the compiler cannot know it.
    @inline(__always)
    static func nibbleMaskAndShift(count: Int) -> (mask: SIMD8<Int32>, shift: SIMD8<Int32>) {
        let zero = Int32(truncatingIfNeeded: count >> 62)
        return (SIMD8(repeating: 15 | zero), SIMD8(repeating: 4 | zero))
    }

    /// `Σ q·x` of one Q4_1 block's 32 nibbles (without the block scale): bytes 0–7 and 8–15 hold
    /// elements 0–7 and 8–15 in their low nibbles and 16–23 and 24–31 in their high ones.
    @inline(__always)
    static func q4Block(
        _ p: UnsafeRawPointer, _ x: UnsafeRawPointer, _ xOffset: Int, mask: SIMD8<Int32>, shift: SIMD8<Int32>
    ) -> SIMD8<Float> {
        let a = widened(p, 4)
        let b = widened(p, 12)
        var t = floats(a & mask) * x.loadUnaligned(fromByteOffset: xOffset, as: SIMD8<Float>.self)
        t = t.addingProduct(floats(b & mask), x.loadUnaligned(fromByteOffset: xOffset + 32, as: SIMD8<Float>.self))
        t = t.addingProduct(floats(a &>> shift), x.loadUnaligned(fromByteOffset: xOffset + 64, as: SIMD8<Float>.self))
        return t.addingProduct(
            floats(b &>> shift), x.loadUnaligned(fromByteOffset: xOffset + 96, as: SIMD8<Float>.self))
    }

    @inline(__always)
    static func horizontalSum(_ v: SIMD8<Float>) -> Float {
        let four = v.lowHalf + v.highHalf
        let two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }

    @inline(__always)
    static func dotQ4_1(
        _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>, blocks: Int
    )
        -> Float
    {
        let xr = UnsafeRawPointer(x)
        let (mask, shift) = nibbleMaskAndShift(count: blocks)
        var acc = SIMD8<Float>()
        var offset: Float = 0
        for b in 0..<blocks {
            let p = row + b * 20
            let scales = blockHalves(p)
            acc = acc.addingProduct(q4Block(p, xr, b * 128, mask: mask, shift: shift), SIMD8(repeating: scales[0]))
            offset = offset.addingProduct(scales[1], sums[b])
        }
        return horizontalSum(acc) + offset
    }

    /// Two rows' dot products with `x` at once: `x` is loaded once per block and the two
    /// accumulator chains overlap (one row alone is bound by the FMA and add latencies).
    @inline(__always)
    public static func dot2(
        _ type: GGMLType, _ rowA: UnsafeRawPointer, _ rowB: UnsafeRawPointer, _ x: UnsafePointer<Float>,
        sums: UnsafePointer<Float>, count: Int
    ) -> (Float, Float) {
        let xr = UnsafeRawPointer(x)
        switch type {
        case .q4_1:
            let (mask, shift) = nibbleMaskAndShift(count: count)
            var accA = SIMD8<Float>()
            var accB = SIMD8<Float>()
            var offA: Float = 0
            var offB: Float = 0
            for b in 0..<(count / 32) {
                let pa = rowA + b * 20
                let pb = rowB + b * 20
                let ta = q4Block(pa, xr, b * 128, mask: mask, shift: shift)
                let tb = q4Block(pb, xr, b * 128, mask: mask, shift: shift)
                let sa = blockHalves(pa)
                let sb = blockHalves(pb)
                accA = accA.addingProduct(ta, SIMD8(repeating: sa[0]))
                accB = accB.addingProduct(tb, SIMD8(repeating: sb[0]))
                let sum = sums[b]
                offA = offA.addingProduct(sa[1], sum)
                offB = offB.addingProduct(sb[1], sum)
            }
            return (horizontalSum(accA) + offA, horizontalSum(accB) + offB)
        case .q8_0:
            var accA = SIMD16<Float>()
            var accB = SIMD16<Float>()
            for b in 0..<(count / 32) {
                let pa = rowA + b * 34
                let pb = rowB + b * 34
                let x0 = xr.loadUnaligned(fromByteOffset: b * 128, as: SIMD16<Float>.self)
                let x1 = xr.loadUnaligned(fromByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
                var ta = floats(pa.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * x0
                ta = ta.addingProduct(floats(pa.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)), x1)
                var tb = floats(pb.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * x0
                tb = tb.addingProduct(floats(pb.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)), x1)
                accA = accA.addingProduct(ta, SIMD16(repeating: blockHalves(pa)[0]))
                accB = accB.addingProduct(tb, SIMD16(repeating: blockHalves(pb)[0]))
            }
            return (horizontalSum(accA), horizontalSum(accB))
        default:
            return (dot(type, rowA, x, sums: sums, count: count), dot(type, rowB, x, sums: sums, count: count))
        }
    }

    @inline(__always)
    static func dotQ4_0(
        _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>, blocks: Int
    )
        -> Float
    {
        let xr = UnsafeRawPointer(x)
        var acc = SIMD16<Float>()
        var offset: Float = 0
        for b in 0..<blocks {
            let p = row + b * 18
            let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            let x0 = xr.loadUnaligned(fromByteOffset: b * 128, as: SIMD16<Float>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            var t = floats(q & 0x0F) * x0
            t = t.addingProduct(floats(q &>> 4), x1)
            let d = blockHalves(p)[0]
            acc = acc.addingProduct(t, SIMD16(repeating: d))
            offset -= 8 * d * sums[b]
        }
        return horizontalSum(acc) + offset
    }

    @inline(__always)
    static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let xr = UnsafeRawPointer(x)
        var acc = SIMD16<Float>()
        for b in 0..<blocks {
            let p = row + b * 34
            let q0 = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
            let q1 = p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
            let x0 = xr.loadUnaligned(fromByteOffset: b * 128, as: SIMD16<Float>.self)
            let x1 = xr.loadUnaligned(fromByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            var t = floats(q0) * x0
            t = t.addingProduct(floats(q1), x1)
            acc = acc.addingProduct(t, SIMD16(repeating: blockHalves(p)[0]))
        }
        return horizontalSum(acc)
    }

    @inline(__always)
    static func dotF16(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, count: Int) -> Float {
        var sum: Float = 0
        for i in 0..<count { sum = sum.addingProduct(half(row, 2 * i), x[i]) }
        return sum
    }

    /// `a · b` over `count` floats.
    @inline(__always)
    public static func dotF32(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Float {
        var acc0 = SIMD16<Float>()
        var acc1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= count {
            acc0 = acc0.addingProduct(
                a.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self),
                b.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self))
            acc1 = acc1.addingProduct(
                a.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD16<Float>.self),
                b.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD16<Float>.self))
            i += 32
        }
        var sum = horizontalSum(acc0 + acc1)
        while i < count {
            sum = sum.addingProduct(
                a.loadUnaligned(fromByteOffset: 4 * i, as: Float.self),
                b.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
            i += 1
        }
        return sum
    }

    /// `count` elements of `type` starting at `src` (a whole number of blocks) as floats.
    public static func dequantize(
        _ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let o = UnsafeMutableRawPointer(out)
        switch type {
        case .f32:
            o.copyMemory(from: src, byteCount: 4 * count)
        case .f16:
            for i in 0..<count { out[i] = half(src, 2 * i) }
        case .q4_1:
            for b in 0..<(count / 32) {
                let p = src + b * 20
                let d = SIMD16<Float>(repeating: half(p, 0))
                let m = SIMD16<Float>(repeating: half(p, 2))
                let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
                o.storeBytes(of: floats(q & 0x0F) * d + m, toByteOffset: b * 128, as: SIMD16<Float>.self)
                o.storeBytes(of: floats(q &>> 4) * d + m, toByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            }
        case .q4_0:
            for b in 0..<(count / 32) {
                let p = src + b * 18
                let d = SIMD16<Float>(repeating: half(p, 0))
                let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
                o.storeBytes(of: (floats(q & 0x0F) - 8) * d, toByteOffset: b * 128, as: SIMD16<Float>.self)
                o.storeBytes(of: (floats(q &>> 4) - 8) * d, toByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            }
        case .q8_0:
            for b in 0..<(count / 32) {
                let p = src + b * 34
                let d = SIMD16<Float>(repeating: half(p, 0))
                let q0 = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
                let q1 = p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
                o.storeBytes(of: floats(q0) * d, toByteOffset: b * 128, as: SIMD16<Float>.self)
                o.storeBytes(of: floats(q1) * d, toByteOffset: b * 128 + 64, as: SIMD16<Float>.self)
            }
        }
    }
}
