import TensorIntrinsics

/// Matrix-vector products with the activations rounded to 16-bit integers per 32-element block, so
/// a block's dot product is integer multiply-adds (`vpmaddwd`, 16 products per instruction) and one
/// float scale instead of a widening, a conversion and a float FMA per weight.
///
/// This is llama.cpp's approach with twice its activation precision: llama.cpp rounds activations
/// to 8 bits, which moves this model's logits by up to ~1.5 (fixtures/models.md); 16 bits keep the
/// rounding error of each block below 2⁻¹⁶ of its largest element, far under the weights' own
/// 4-bit quantisation error, so scores stay within the fixtures' float-reference tolerances.
extension Kernels {
    /// One activation vector in 16-bit blocks: `values[i] ≈ x[i] / scale(i / 32)`, and the exact
    /// float sum of each block (Q4_1's per-block minimum multiplies it). A block's scale and sum sit
    /// side by side in `factors` so the kernels fetch both with one load.
    public struct Int16Activations {
        public let values: UnsafeMutablePointer<Int16>
        /// `[scale, sum]` of each block.
        public let factors: UnsafeMutablePointer<SIMD2<Float>>
        public let count: Int

        /// Rounds `x[0..<count]` (`count` a multiple of 32) into freshly allocated buffers; release
        /// them with `deallocate()`.
        public init(_ x: UnsafePointer<Float>, count: Int) {
            precondition(count % 32 == 0, "activation length must be a multiple of 32")
            let blocks = count / 32
            values = .allocate(capacity: count)
            factors = .allocate(capacity: blocks)
            self.count = count
            for b in 0..<blocks {
                let block = x + b * 32
                var largest: Float = 0
                var sum: Float = 0
                for i in 0..<32 {
                    largest = max(largest, abs(block[i]))
                    sum += block[i]
                }
                guard largest > 0 else {
                    factors[b] = SIMD2(0, sum)
                    (values + b * 32).initialize(repeating: 0, count: 32)
                    continue
                }
                factors[b] = SIMD2(largest / 32767, sum)
                let inverse = 32767 / largest
                for i in 0..<32 {
                    let q = (block[i] * inverse).rounded(.toNearestOrEven)
                    values[b * 32 + i] = Int16(max(-32767, min(32767, q)))
                }
            }
        }

        /// Block `b`'s scale (one step of its 16-bit values) and exact sum.
        public func scale(_ b: Int) -> Float { factors[b][0] }
        public func sum(_ b: Int) -> Float { factors[b][1] }

        public func deallocate() {
            values.deallocate()
            factors.deallocate()
        }

        /// `[scale, sum, 0, 0]` of block `b`: times a block's `[d, m, …]` halves it gives the
        /// block's integer-sum multiplier and its offset at once.
        @inline(__always)
        func blockFactors(_ b: Int) -> SIMD4<Float> {
            SIMD4(lowHalf: factors[b], highHalf: .zero)
        }
    }

    /// Whether `dot2(_:_:_:_:count:)` below handles `type`; other types keep the float path.
    public static func hasInt16Path(_ type: GGMLType) -> Bool { type == .q4_1 || type == .q8_0 }

    /// Widens 16 bytes to 16-bit lanes straight from memory (`vpmovzxbw` / `vpmovsxbw`).
    @inline(__always)
    static func widened16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<Int16> {
        let q = p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
        var r = SIMD16<Int16>()
        for i in 0..<16 { r[i] = Int16(q[i]) }
        return r
    }

    @inline(__always)
    static func signedWidened16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<Int16> {
        let q = p.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self)
        var r = SIMD16<Int16>()
        for i in 0..<16 { r[i] = Int16(q[i]) }
        return r
    }

    /// The nibble mask and shift in 16-bit lanes, opaque to the optimiser for the reason given at
    /// `nibbleMaskAndShift(count:)`: with constants it splits the nibbles in bytes and widens them
    /// from registers, two shuffles per block instead of one widening load.
    @inline(__always)
    static func nibbleMaskAndShift16(count: Int) -> (mask: SIMD16<Int16>, shift: SIMD16<Int16>) {
        let zero = Int16(truncatingIfNeeded: count >> 62)
        return (SIMD16(repeating: 15 | zero), SIMD16(repeating: 4 | zero))
    }

    /// `Σ q·x` of one Q4_1 block's nibbles against its 16-bit activations `x0` (elements 0–15,
    /// the low nibbles) and `x1` (16–31, the high ones), in eight 32-bit lanes.
    @inline(__always)
    static func q4BlockInt16(
        _ p: UnsafeRawPointer, _ x0: SIMD16<Int16>, _ x1: SIMD16<Int16>, mask: SIMD16<Int16>, shift: SIMD16<Int16>
    ) -> SIMD8<Int32> {
        let q = widened16(p, 4)
        return multiplyAddPairs(q & mask, x0) &+ multiplyAddPairs(q &>> shift, x1)
    }

    @inline(__always)
    static func q8BlockInt16(_ p: UnsafeRawPointer, _ x0: SIMD16<Int16>, _ x1: SIMD16<Int16>) -> SIMD8<Int32> {
        multiplyAddPairs(signedWidened16(p, 2), x0) &+ multiplyAddPairs(signedWidened16(p, 18), x1)
    }

    /// Two rows of `type` (Q4_1 or Q8_0, see `hasInt16Path`) times the 16-bit activations `x`.
    @inline(__always)
    public static func dot2(
        _ type: GGMLType, _ rowA: UnsafeRawPointer, _ rowB: UnsafeRawPointer, _ x: Int16Activations, count: Int,
        prefetchAhead: Int = 0
    ) -> (Float, Float) {
        let xv = UnsafeRawPointer(x.values)
        var accA = SIMD8<Float>()
        var accB = SIMD8<Float>()
        switch type {
        case .q4_1:
            let (mask, shift) = nibbleMaskAndShift16(count: count)
            var offA = SIMD4<Float>()
            var offB = SIMD4<Float>()
            for b in 0..<(count / 32) {
                let pa = rowA + b * 20
                let pb = rowB + b * 20
                if prefetchAhead != 0 {
                    prefetch(pa + prefetchAhead)
                    prefetch(pb + prefetchAhead)
                }
                let x0 = xv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
                let x1 = xv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
                let ta = floats(q4BlockInt16(pa, x0, x1, mask: mask, shift: shift))
                let tb = floats(q4BlockInt16(pb, x0, x1, mask: mask, shift: shift))
                // [d·scale, m·sum, …] per row: the first multiplies the integer sum, the second is
                // the block's offset, added up in lane 1.
                let factors = x.blockFactors(b)
                let ka = blockHalves(pa) * factors
                let kb = blockHalves(pb) * factors
                accA = accA.addingProduct(ta, SIMD8(repeating: ka[0]))
                accB = accB.addingProduct(tb, SIMD8(repeating: kb[0]))
                offA += ka
                offB += kb
            }
            return (horizontalSum(accA) + offA[1], horizontalSum(accB) + offB[1])
        default:
            for b in 0..<(count / 32) {
                let pa = rowA + b * 34
                let pb = rowB + b * 34
                if prefetchAhead != 0 {
                    prefetch(pa + prefetchAhead)
                    prefetch(pb + prefetchAhead)
                }
                let x0 = xv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
                let x1 = xv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
                let factors = x.blockFactors(b)
                let ka = blockHalves(pa) * factors
                let kb = blockHalves(pb) * factors
                accA = accA.addingProduct(floats(q8BlockInt16(pa, x0, x1)), SIMD8(repeating: ka[0]))
                accB = accB.addingProduct(floats(q8BlockInt16(pb, x0, x1)), SIMD8(repeating: kb[0]))
            }
            return (horizontalSum(accA), horizontalSum(accB))
        }
    }

    /// Two rows times two tokens' activations: `(rowA·x, rowB·x, rowA·y, rowB·y)`, each bit-identical
    /// to what `dot2` gives for that row and token (the same integer products, conversions,
    /// multiplies and fused adds in the same order); the rows' nibbles are widened once for both
    /// tokens, which is what makes a prefill batch cheaper per position than decoding.
    @inline(__always)
    public static func dot2x2(
        _ type: GGMLType, _ rowA: UnsafeRawPointer, _ rowB: UnsafeRawPointer, _ x: Int16Activations,
        _ y: Int16Activations, count: Int
    ) -> (Float, Float, Float, Float) {
        let xv = UnsafeRawPointer(x.values)
        let yv = UnsafeRawPointer(y.values)
        var accAX = SIMD8<Float>()
        var accBX = SIMD8<Float>()
        var accAY = SIMD8<Float>()
        var accBY = SIMD8<Float>()
        switch type {
        case .q4_1:
            let (mask, shift) = nibbleMaskAndShift16(count: count)
            var offAX: Float = 0
            var offBX: Float = 0
            var offAY: Float = 0
            var offBY: Float = 0
            for b in 0..<(count / 32) {
                let pa = rowA + b * 20
                let pb = rowB + b * 20
                let qa = widened16(pa, 4)
                let qb = widened16(pb, 4)
                let (loA, hiA) = (qa & mask, qa &>> shift)
                let (loB, hiB) = (qb & mask, qb &>> shift)
                let halvesA = blockHalves(pa)
                let halvesB = blockHalves(pb)
                let x0 = xv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
                let x1 = xv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
                let fx = x.blockFactors(b)
                let kax = halvesA * fx
                let kbx = halvesB * fx
                accAX = accAX.addingProduct(
                    floats(multiplyAddPairs(loA, x0) &+ multiplyAddPairs(hiA, x1)), SIMD8(repeating: kax[0]))
                accBX = accBX.addingProduct(
                    floats(multiplyAddPairs(loB, x0) &+ multiplyAddPairs(hiB, x1)), SIMD8(repeating: kbx[0]))
                offAX += kax[1]
                offBX += kbx[1]
                let y0 = yv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
                let y1 = yv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
                let fy = y.blockFactors(b)
                let kay = halvesA * fy
                let kby = halvesB * fy
                accAY = accAY.addingProduct(
                    floats(multiplyAddPairs(loA, y0) &+ multiplyAddPairs(hiA, y1)), SIMD8(repeating: kay[0]))
                accBY = accBY.addingProduct(
                    floats(multiplyAddPairs(loB, y0) &+ multiplyAddPairs(hiB, y1)), SIMD8(repeating: kby[0]))
                offAY += kay[1]
                offBY += kby[1]
            }
            return (
                horizontalSum(accAX) + offAX, horizontalSum(accBX) + offBX, horizontalSum(accAY) + offAY,
                horizontalSum(accBY) + offBY
            )
        default:
            for b in 0..<(count / 32) {
                let pa = rowA + b * 34
                let pb = rowB + b * 34
                let a0 = signedWidened16(pa, 2)
                let a1 = signedWidened16(pa, 18)
                let b0 = signedWidened16(pb, 2)
                let b1 = signedWidened16(pb, 18)
                let halvesA = blockHalves(pa)
                let halvesB = blockHalves(pb)
                let x0 = xv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
                let x1 = xv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
                let fx = x.blockFactors(b)
                accAX = accAX.addingProduct(
                    floats(multiplyAddPairs(a0, x0) &+ multiplyAddPairs(a1, x1)), SIMD8(repeating: (halvesA * fx)[0]))
                accBX = accBX.addingProduct(
                    floats(multiplyAddPairs(b0, x0) &+ multiplyAddPairs(b1, x1)), SIMD8(repeating: (halvesB * fx)[0]))
                let y0 = yv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
                let y1 = yv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
                let fy = y.blockFactors(b)
                accAY = accAY.addingProduct(
                    floats(multiplyAddPairs(a0, y0) &+ multiplyAddPairs(a1, y1)), SIMD8(repeating: (halvesA * fy)[0]))
                accBY = accBY.addingProduct(
                    floats(multiplyAddPairs(b0, y0) &+ multiplyAddPairs(b1, y1)), SIMD8(repeating: (halvesB * fy)[0]))
            }
            return (horizontalSum(accAX), horizontalSum(accBX), horizontalSum(accAY), horizontalSum(accBY))
        }
    }

    /// One row: `dot2` with the row twice would do twice the work, so this is the odd row's path.
    @inline(__always)
    public static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ x: Int16Activations, count: Int) -> Float {
        let xv = UnsafeRawPointer(x.values)
        var acc = SIMD8<Float>()
        var offset: Float = 0
        let (mask, shift) = nibbleMaskAndShift16(count: count)
        for b in 0..<(count / 32) {
            let x0 = xv.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
            let x1 = xv.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
            if type == .q4_1 {
                let p = row + b * 20
                let k = blockHalves(p) * x.blockFactors(b)
                acc = acc.addingProduct(
                    floats(q4BlockInt16(p, x0, x1, mask: mask, shift: shift)), SIMD8(repeating: k[0]))
                offset += k[1]
            } else {
                let p = row + b * 34
                acc = acc.addingProduct(
                    floats(q8BlockInt16(p, x0, x1)), SIMD8(repeating: blockHalves(p)[0] * x.scale(b)))
            }
        }
        return horizontalSum(acc) + offset
    }
}
