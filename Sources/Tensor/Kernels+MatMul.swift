extension Kernels {
    /// One product of a batched matrix job: `y[t·ldy + r] (+)= W[r] · x[t]` for every row `r` of
    /// `weight` and token `t`.
    public struct MatMulTarget {
        public let weight: WeightMatrix
        public let y: UnsafeMutablePointer<Float>
        public let ldy: Int
        public let accumulate: Bool

        public init(weight: WeightMatrix, y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false) {
            self.weight = weight
            self.y = y
            self.ldy = ldy
            self.accumulate = accumulate
        }

        /// `y[index]` (+)= `value`, as `accumulate` says.
        @inline(__always)
        func store(_ value: Float, at index: Int) {
            if accumulate { y[index] += value } else { y[index] = value }
        }
    }

    /// Rows per work unit: the matrix-vector path walks quantised rows directly; the batched path
    /// dequantises a panel of this many rows into per-thread scratch and reuses it for every token.
    static let vectorChunk = 64
    static let panelRows = 24
    /// How far ahead of the rows being multiplied the matrix-vector path prefetches: 8 rows (2.9 KB
    /// of a 576-column Q4_1 matrix). Decode at one thread went from ~36 to ~47 tokens/s on a busy
    /// machine with it; 4 to 12 rows measured alike.
    static let prefetchRows = 8

    /// `targets` (all with the same `cols`) times the `tokens` activation rows of `x` (row stride
    /// `ldx` floats), split across `pool`'s workers by rows. One token uses dot products over the
    /// quantised blocks (Q4_1 and Q8_0 against 16-bit activations, `Kernels+Int16.swift`); more
    /// tokens use dequantised panels and a 3×4 register-blocked kernel.
    public static func matMul(
        pool: ThreadPool, targets: [MatMulTarget], x: UnsafePointer<Float>, ldx: Int, tokens: Int
    ) {
        guard let cols = targets.first?.weight.cols, tokens > 0 else { return }
        let chunk = tokens == 1 ? vectorChunk : panelRows
        var units: [(target: Int, start: Int, end: Int)] = []
        for (index, target) in targets.enumerated() {
            var start = 0
            while start < target.weight.rows {
                let end = min(start + chunk, target.weight.rows)
                units.append((index, start, end))
                start = end
            }
        }
        if tokens == 1 {
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: cols / 32 + 1)
            defer { sums.deallocate() }
            if cols % 32 == 0 { blockSums(x, count: cols, into: sums) }
            let integer =
                cols % 32 == 0 && targets.contains { hasInt16Path($0.weight.type) }
                ? Int16Activations(x, count: cols) : nil
            defer { integer?.deallocate() }
            pool.parallelFor(units.count) { range in
                for u in range {
                    let unit = units[u]
                    let target = targets[unit.target]
                    let w = target.weight
                    var r = unit.start
                    if let integer, hasInt16Path(w.type) {
                        while r + 2 <= unit.end {
                            let (a, b) = dot2(
                                w.type, w.row(r), w.row(r + 1), integer, count: cols,
                                prefetchAhead: prefetchRows * w.rowBytes)
                            target.store(a, at: r)
                            target.store(b, at: r + 1)
                            r += 2
                        }
                        if r < unit.end {
                            let v = dot(w.type, w.row(r), integer, count: cols)
                            target.store(v, at: r)
                        }
                        continue
                    }
                    while r + 2 <= unit.end {
                        let (a, b) = dot2(w.type, w.row(r), w.row(r + 1), x, sums: sums, count: cols)
                        target.store(a, at: r)
                        target.store(b, at: r + 1)
                        r += 2
                    }
                    if r < unit.end {
                        let v = dot(w.type, w.row(r), x, sums: sums, count: cols)
                        target.store(v, at: r)
                    }
                }
            }
            return
        }
        pool.parallelFor(units.count) { range in
            let panel = UnsafeMutablePointer<Float>.allocate(capacity: panelRows * cols)
            defer { panel.deallocate() }
            for u in range {
                let unit = units[u]
                let target = targets[unit.target]
                let w = target.weight
                let n = unit.end - unit.start
                for r in 0..<n { w.dequantizeRow(unit.start + r, into: panel + r * cols) }
                panelProduct(
                    panel: panel, rows: n, cols: cols, x: x, ldx: ldx, tokens: tokens,
                    y: target.y + unit.start, ldy: target.ldy, accumulate: target.accumulate)
            }
        }
    }

    /// `y[t·ldy + r] (+)= panel[r] · x[t]` for a dequantised panel of `rows` rows.
    static func panelProduct(
        panel: UnsafeMutablePointer<Float>, rows: Int, cols: Int, x: UnsafePointer<Float>, ldx: Int, tokens: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
    ) {
        let fast = cols % 8 == 0
        var t = 0
        while t < tokens {
            let tileTokens = min(4, tokens - t)
            var r = 0
            if fast && tileTokens == 4 {
                while r + 3 <= rows {
                    micro3x4(
                        w: UnsafeRawPointer(panel + r * cols), ldw: cols * 4, x: UnsafeRawPointer(x + t * ldx),
                        ldx: ldx * 4, k: cols, y: y + t * ldy + r, ldy: ldy, accumulate: accumulate)
                    r += 3
                }
            }
            while r < rows {
                for tt in t..<(t + tileTokens) {
                    let v = dotF32(UnsafeRawPointer(panel + r * cols), UnsafeRawPointer(x + tt * ldx), count: cols)
                    if accumulate { y[tt * ldy + r] += v } else { y[tt * ldy + r] = v }
                }
                r += 1
            }
            t += tileTokens
        }
    }

    /// The register-blocked core: 3 weight rows × 4 tokens, 12 accumulators of 8 lanes.
    @inline(__always)
    static func micro3x4(
        w: UnsafeRawPointer, ldw: Int, x: UnsafeRawPointer, ldx: Int, k: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
    ) {
        typealias V = SIMD8<Float>
        var a00 = V(), a01 = V(), a02 = V(), a03 = V()
        var a10 = V(), a11 = V(), a12 = V(), a13 = V()
        var a20 = V(), a21 = V(), a22 = V(), a23 = V()
        let w1 = w + ldw
        let w2 = w1 + ldw
        let x1 = x + ldx
        let x2 = x1 + ldx
        let x3 = x2 + ldx
        var off = 0
        let end = k * 4
        while off < end {
            let r0 = w.loadUnaligned(fromByteOffset: off, as: V.self)
            let r1 = w1.loadUnaligned(fromByteOffset: off, as: V.self)
            let r2 = w2.loadUnaligned(fromByteOffset: off, as: V.self)
            var v = x.loadUnaligned(fromByteOffset: off, as: V.self)
            a00 = a00.addingProduct(r0, v)
            a10 = a10.addingProduct(r1, v)
            a20 = a20.addingProduct(r2, v)
            v = x1.loadUnaligned(fromByteOffset: off, as: V.self)
            a01 = a01.addingProduct(r0, v)
            a11 = a11.addingProduct(r1, v)
            a21 = a21.addingProduct(r2, v)
            v = x2.loadUnaligned(fromByteOffset: off, as: V.self)
            a02 = a02.addingProduct(r0, v)
            a12 = a12.addingProduct(r1, v)
            a22 = a22.addingProduct(r2, v)
            v = x3.loadUnaligned(fromByteOffset: off, as: V.self)
            a03 = a03.addingProduct(r0, v)
            a13 = a13.addingProduct(r1, v)
            a23 = a23.addingProduct(r2, v)
            off += 32
        }
        @inline(__always) func put(_ t: Int, _ r: Int, _ v: V) {
            if accumulate { y[t * ldy + r] += v.sum() } else { y[t * ldy + r] = v.sum() }
        }
        put(0, 0, a00)
        put(1, 0, a01)
        put(2, 0, a02)
        put(3, 0, a03)
        put(0, 1, a10)
        put(1, 1, a11)
        put(2, 1, a12)
        put(3, 1, a13)
        put(0, 2, a20)
        put(1, 2, a21)
        put(2, 2, a22)
        put(3, 2, a23)
    }
}
