import TensorIntrinsics

/// The batched product's fast path: two rows times four tokens per pass on the 16-bit path, with
/// the per-block factor products taken out of the inner loop.
///
/// `dot2` (decode) computes, per row, token and block, `k = [d, m] · [scale, sum]` and adds
/// `m·sum` to a running offset: three vector operations of eight in the inner loop that depend on
/// the row and the token but not on the weights' nibbles. Here they are done beforehand, eight rows
/// at a time from the unit's factors (``PanelFactors``, gathered once per model): `d·scale` for every (block, token, row) of a 64-row unit, and each (token, row)'s
/// offset summed over the blocks in block order. The same IEEE products and the same sequential sum
/// as `dot2`, so every output keeps its bits (batch invariance, `Kernels.matMul`); the inner loop is
/// left with the integer products, one conversion and one fused multiply-add per row, token and
/// block, and each row pair's nibbles are widened once for four tokens.
extension Kernels {
    /// Tokens per pass.
    static let panelTokens = 4

    /// One worker's scratch for ``panelProduct(_:rows:_:first:cols:scratch:factors:)``: the products
    /// of a pass, laid out block-major over a unit's 64 rows, and room for a unit's block factors
    /// when its matrix has no ``PanelFactors`` table.
    struct PanelScratch {
        let blocks: Int
        /// A unit's `d` and `m` gathered here when its matrix has no table (the table's layout).
        let ownD: UnsafeMutablePointer<Float16>
        let ownM: UnsafeMutablePointer<Float16>
        /// `k[(b·4 + t)·64 + i] = d[b·64 + i] · scale_t(b)`.
        let k: UnsafeMutablePointer<Float>
        /// `offset[t·64 + i] = Σ_b m[b·64 + i] · sum_t(b)`, added in block order from 0.
        let offset: UnsafeMutablePointer<Float>

        init(blocks: Int) {
            self.blocks = blocks
            let unit = Kernels.vectorChunk
            ownD = .allocate(capacity: blocks * unit)
            ownM = .allocate(capacity: blocks * unit)
            k = .allocate(capacity: blocks * Kernels.panelTokens * unit)
            offset = .allocate(capacity: Kernels.panelTokens * unit)
        }

        func deallocate() {
            ownD.deallocate()
            ownM.deallocate()
            k.deallocate()
            offset.deallocate()
        }

        /// The block factors of `rows` (one unit, at most 64) of `weight`, `d[b·64 + i]` and (Q4_1)
        /// `m[b·64 + i]`: a slice of the matrix's ``PanelFactors`` when it has one, else gathered
        /// from the rows into this scratch.
        func factors(_ weight: WeightMatrix, rows: Range<Int>) -> PanelFactorsOfUnit {
            if let table = weight.panelFactors {
                let (d, m) = table._withUnsafeGuaranteedRef { $0.unit(startingAt: rows.lowerBound, blocks: blocks) }
                return PanelFactorsOfUnit(d: d, m: m)
            }
            PanelFactors.gather(weight, rows: rows, d: ownD, m: weight.type == .q4_1 ? ownM : nil)
            return PanelFactorsOfUnit(d: UnsafePointer(ownD), m: UnsafePointer(ownM))
        }

        /// The products of one pass over `x` (four tokens), for the unit whose factors are `f`.
        func prepare(_ x: [Int16Activations], first: Int, factors f: PanelFactorsOfUnit, hasOffset: Bool) {
            let unit = Kernels.vectorChunk
            for t in 0..<Kernels.panelTokens {
                let a = x[first + t]
                for b in 0..<blocks {
                    let scale = SIMD8<Float>(repeating: a.scale(b))
                    for i in stride(from: 0, to: unit, by: 8) {
                        UnsafeMutableRawPointer(k + (b * Kernels.panelTokens + t) * unit + i).storeBytes(
                            of: Kernels.floats8(f.d + b * unit + i) * scale, as: SIMD8<Float>.self)
                    }
                }
                guard hasOffset else { continue }
                for i in stride(from: 0, to: unit, by: 8) {
                    var sum = SIMD8<Float>()
                    for b in 0..<blocks {
                        sum += Kernels.floats8(f.m + b * unit + i) * SIMD8(repeating: a.sum(b))
                    }
                    UnsafeMutableRawPointer(offset + t * unit + i).storeBytes(of: sum, as: SIMD8<Float>.self)
                }
            }
        }
    }

    /// A unit's block factors, block-major (``PanelFactors``'s layout).
    struct PanelFactorsOfUnit {
        let d: UnsafePointer<Float16>
        let m: UnsafePointer<Float16>
    }

    /// Eight half-precision values as floats (`vcvtph2ps`; exact).
    @inline(__always)
    static func floats8(_ p: UnsafePointer<Float16>) -> SIMD8<Float> {
        let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float16>.self)
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(h[i]) }
        return r
    }

    /// One block's `Σ q·x` for the 16-bit halves `lo` (elements 0–15) and `hi` (16–31) of a row's
    /// block, against token `x`'s block `b`, as floats (eight lanes).
    @inline(__always)
    static func panelStep(_ lo: SIMD16<Int16>, _ hi: SIMD16<Int16>, _ x: UnsafeRawPointer, _ b: Int) -> SIMD8<Float> {
        let x0 = x.loadUnaligned(fromByteOffset: b * 64, as: SIMD16<Int16>.self)
        let x1 = x.loadUnaligned(fromByteOffset: b * 64 + 32, as: SIMD16<Int16>.self)
        return floats(multiplyAddPairs(lo, x0) &+ multiplyAddPairs(hi, x1))
    }

    /// `y[t·ldy + r] (+)= W[r] · x[t]` for the unit `rows` and the four tokens from `first`, on the
    /// 16-bit path (`hasInt16Path`), bit-identical to `rowsProduct` (decode): the same row pairs from `rows.lowerBound`, the same products and sums in the same order.
    /// `factors` are the unit's (``PanelScratch/factors(_:rows:)``).
    static func panelProduct(
        _ target: MatMulTarget, rows: Range<Int>, _ x: [Int16Activations], first: Int, cols: Int,
        scratch: PanelScratch, factors: PanelFactorsOfUnit
    ) {
        let q4 = target.weight.type == .q4_1
        let blocks = cols / 32
        scratch.prepare(x, first: first, factors: factors, hasOffset: q4)
        if q4 {
            let (mask, shift) = nibbleMaskAndShift16(count: cols)
            panelRows(target, rows: rows, x, first: first, blocks: blocks, scratch: scratch, offsets: true) { row, b in
                let q = widened16(row + b * 20, 4)
                return (q & mask, q &>> shift)
            }
        } else {
            panelRows(target, rows: rows, x, first: first, blocks: blocks, scratch: scratch, offsets: false) { row, b in
                (signedWidened16(row + b * 34, 2), signedWidened16(row + b * 34, 18))
            }
        }
    }

    /// ``panelProduct(_:rows:_:first:cols:scratch:)``'s loops for one block format: `weights` gives
    /// a row's block `b` as 16-bit halves (Q4_1: low and high nibbles; Q8_0: the two 16-byte
    /// halves), `offsets` whether the format has a per-block minimum (Q4_1).
    @inline(__always)
    static func panelRows(
        _ target: MatMulTarget, rows: Range<Int>, _ x: [Int16Activations], first: Int, blocks: Int,
        scratch: PanelScratch, offsets q4: Bool,
        weights panelWeights: (UnsafeRawPointer, Int) -> (SIMD16<Int16>, SIMD16<Int16>)
    ) {
        let w = target.weight
        let unit = vectorChunk
        let x0 = UnsafeRawPointer(x[first].values)
        let x1 = UnsafeRawPointer(x[first + 1].values)
        let x2 = UnsafeRawPointer(x[first + 2].values)
        let x3 = UnsafeRawPointer(x[first + 3].values)
        let y = (first * target.ldy, (first + 1) * target.ldy, (first + 2) * target.ldy, (first + 3) * target.ldy)
        /// The output of row `i` of the unit for token `t`: `dot2`'s `horizontalSum(acc) + offset`.
        @inline(__always) func finish(_ acc: SIMD8<Float>, _ t: Int, _ i: Int) -> Float {
            q4 ? horizontalSum(acc) + scratch.offset[t * unit + i] : horizontalSum(acc)
        }
        // The first pass over a unit reads its rows from memory: ask for the row pair
        // `prefetchRows` rows ahead while this one is multiplied (as decode does). An eight-stream
        // step's profile had a fifth of this loop's samples on the first use of the widened rows.
        let ahead = prefetchRows * w.rowBytes
        let pairBytes = 2 * w.rowBytes
        var r = rows.lowerBound
        while r + 2 <= rows.upperBound {
            let i = r - rows.lowerBound
            let rowA = w.row(r)
            let rowB = w.row(r + 1)
            var line = 0
            while line < pairBytes {
                prefetch(rowA + ahead + line)
                line += 64
            }
            var a0 = SIMD8<Float>()
            var a1 = SIMD8<Float>()
            var a2 = SIMD8<Float>()
            var a3 = SIMD8<Float>()
            var b0 = SIMD8<Float>()
            var b1 = SIMD8<Float>()
            var b2 = SIMD8<Float>()
            var b3 = SIMD8<Float>()
            for b in 0..<blocks {
                let (loA, hiA) = panelWeights(rowA, b)
                let (loB, hiB) = panelWeights(rowB, b)
                let k = scratch.k + b * panelTokens * unit + i
                a0 = a0.addingProduct(panelStep(loA, hiA, x0, b), SIMD8(repeating: k[0]))
                b0 = b0.addingProduct(panelStep(loB, hiB, x0, b), SIMD8(repeating: k[1]))
                a1 = a1.addingProduct(panelStep(loA, hiA, x1, b), SIMD8(repeating: k[unit]))
                b1 = b1.addingProduct(panelStep(loB, hiB, x1, b), SIMD8(repeating: k[unit + 1]))
                a2 = a2.addingProduct(panelStep(loA, hiA, x2, b), SIMD8(repeating: k[2 * unit]))
                b2 = b2.addingProduct(panelStep(loB, hiB, x2, b), SIMD8(repeating: k[2 * unit + 1]))
                a3 = a3.addingProduct(panelStep(loA, hiA, x3, b), SIMD8(repeating: k[3 * unit]))
                b3 = b3.addingProduct(panelStep(loB, hiB, x3, b), SIMD8(repeating: k[3 * unit + 1]))
            }
            target.store(finish(a0, 0, i), at: y.0 + r)
            target.store(finish(b0, 0, i + 1), at: y.0 + r + 1)
            target.store(finish(a1, 1, i), at: y.1 + r)
            target.store(finish(b1, 1, i + 1), at: y.1 + r + 1)
            target.store(finish(a2, 2, i), at: y.2 + r)
            target.store(finish(b2, 2, i + 1), at: y.2 + r + 1)
            target.store(finish(a3, 3, i), at: y.3 + r)
            target.store(finish(b3, 3, i + 1), at: y.3 + r + 1)
            r += 2
        }
        if r < rows.upperBound {
            // The odd last row (`dot`'s order: the same products, the same sequential offset).
            let i = r - rows.lowerBound
            let row = w.row(r)
            var a0 = SIMD8<Float>()
            var a1 = SIMD8<Float>()
            var a2 = SIMD8<Float>()
            var a3 = SIMD8<Float>()
            for b in 0..<blocks {
                let (lo, hi) = panelWeights(row, b)
                let k = scratch.k + b * panelTokens * unit + i
                a0 = a0.addingProduct(panelStep(lo, hi, x0, b), SIMD8(repeating: k[0]))
                a1 = a1.addingProduct(panelStep(lo, hi, x1, b), SIMD8(repeating: k[unit]))
                a2 = a2.addingProduct(panelStep(lo, hi, x2, b), SIMD8(repeating: k[2 * unit]))
                a3 = a3.addingProduct(panelStep(lo, hi, x3, b), SIMD8(repeating: k[3 * unit]))
            }
            target.store(finish(a0, 0, i), at: y.0 + r)
            target.store(finish(a1, 1, i), at: y.1 + r)
            target.store(finish(a2, 2, i), at: y.2 + r)
            target.store(finish(a3, 3, i), at: y.3 + r)
        }
    }
}
