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

    /// Rows per work unit, fixed whatever the batch or thread count (see `matMul`): a unit's
    /// quantised rows (23 KB of a 576-column Q4_1 matrix) stay in cache while every token of a
    /// batch passes over them.
    static let vectorChunk = 64
    /// How far ahead of the rows being multiplied the matrix-vector path prefetches: 8 rows (2.9 KB
    /// of a 576-column Q4_1 matrix). Decode at one thread went from ~36 to ~47 tokens/s on a busy
    /// machine with it; 4 to 12 rows measured alike.
    static let prefetchRows = 8

    /// `targets` (all with the same `cols`) times the `tokens` activation rows of `x` (row stride
    /// `ldx` floats), split across `pool`'s workers by rows: dot products over the quantised blocks
    /// (Q4_1 and Q8_0 against 16-bit activations, `Kernels+Int16.swift`), float ones for other types.
    ///
    /// Batch-invariant: every output `y[t][r]` is computed by the same arithmetic in the same order
    /// whatever `tokens`, the thread count or the other rows of the batch (work units are fixed
    /// 64-row ranges, row pairs fixed within them, each token's activations rounded on their own;
    /// batches pass four tokens, then two, then one over a row pair: `Kernels+Panel.swift`,
    /// `dot2x2`, `dot2`, all with decode's products and sums). So a position decoded alone, in a
    /// batch with other requests' tokens, or re-scored by a validator's prefill gets bit-identical
    /// logits — PROTOCOL §7.2's distance between two honest
    /// hosts on this engine is zero. A float-panel product (dequantise a panel, multiply 4 tokens at
    /// a time) rounds differently from the one-token path and was measured at up to 163 ppm of
    /// honest distance (docs/VALIDATION.md).
    public static func matMul(
        pool: ThreadPool, targets: [MatMulTarget], x: UnsafePointer<Float>, ldx: Int, tokens: Int
    ) {
        guard let cols = targets.first?.weight.cols, tokens > 0 else { return }
        var units: [(target: Int, start: Int, end: Int)] = []
        for (index, target) in targets.enumerated() {
            var start = 0
            while start < target.weight.rows {
                let end = min(start + vectorChunk, target.weight.rows)
                units.append((index, start, end))
                start = end
            }
        }
        let blocks = cols / 32 + 1
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: blocks * tokens)
        defer { sums.deallocate() }
        let useInt16 = cols % 32 == 0 && targets.contains { hasInt16Path($0.weight.type) }
        var integer: [Int16Activations] = []
        integer.reserveCapacity(useInt16 ? tokens : 0)
        for t in 0..<tokens {
            if cols % 32 == 0 { blockSums(x + t * ldx, count: cols, into: sums + t * blocks) }
            if useInt16 { integer.append(Int16Activations(x + t * ldx, count: cols)) }
        }
        defer { for activations in integer { activations.deallocate() } }
        // One token streams the weights from memory (prefetch ahead); several reuse each unit's
        // rows from cache, token after token.
        let prefetchAhead = tokens == 1 ? prefetchRows : 0
        let usePanels = useInt16 && tokens >= panelTokens
        pool.parallelFor(units.count) { range in
            let scratch = usePanels ? PanelScratch(blocks: cols / 32) : nil
            defer { scratch?.deallocate() }
            for u in range {
                let unit = units[u]
                let target = targets[unit.target]
                let rows = unit.start..<unit.end
                var t = 0
                if useInt16 && hasInt16Path(target.weight.type) {
                    if let scratch {
                        let factors = scratch.factors(target.weight, rows: rows)
                        while t + panelTokens <= tokens {
                            panelProduct(
                                target, rows: rows, integer, first: t, cols: cols, scratch: scratch, factors: factors)
                            t += panelTokens
                        }
                    }
                    while t + 2 <= tokens {
                        rowsProduct2(
                            target, rows: rows, integer[t], integer[t + 1], cols: cols, yOffsets: (t, t + 1))
                        t += 2
                    }
                }
                while t < tokens {
                    rowsProduct(
                        target, rows: rows, x: x + t * ldx, sums: sums + t * blocks,
                        integer: useInt16 ? integer[t] : nil, cols: cols, yOffset: t * target.ldy,
                        prefetchAhead: prefetchAhead * target.weight.rowBytes)
                    t += 1
                }
            }
        }
    }

    /// ``rowsProduct(_:rows:x:sums:integer:cols:yOffset:prefetchAhead:)`` for two tokens at once on
    /// the 16-bit path (`dot2x2`), with the same row pairs and the same bits per output.
    @inline(__always)
    static func rowsProduct2(
        _ target: MatMulTarget, rows: Range<Int>, _ x: Int16Activations, _ y: Int16Activations, cols: Int,
        yOffsets: (Int, Int)
    ) {
        let w = target.weight
        let (ox, oy) = (yOffsets.0 * target.ldy, yOffsets.1 * target.ldy)
        var r = rows.lowerBound
        while r + 2 <= rows.upperBound {
            let (ax, bx, ay, by) = dot2x2(w.type, w.row(r), w.row(r + 1), x, y, count: cols)
            target.store(ax, at: ox + r)
            target.store(bx, at: ox + r + 1)
            target.store(ay, at: oy + r)
            target.store(by, at: oy + r + 1)
            r += 2
        }
        if r < rows.upperBound {
            target.store(dot(w.type, w.row(r), x, count: cols), at: ox + r)
            target.store(dot(w.type, w.row(r), y, count: cols), at: oy + r)
        }
    }

    /// `y[yOffset + r] (+)= W[r] · x` for the rows `rows` of one target and one token, in row pairs
    /// from `rows.lowerBound` and an odd last row: the one order every batch shape shares.
    @inline(__always)
    static func rowsProduct(
        _ target: MatMulTarget, rows: Range<Int>, x: UnsafePointer<Float>, sums: UnsafeMutablePointer<Float>,
        integer: Int16Activations?, cols: Int, yOffset: Int, prefetchAhead: Int
    ) {
        let w = target.weight
        var r = rows.lowerBound
        if let integer, hasInt16Path(w.type) {
            while r + 2 <= rows.upperBound {
                let (a, b) = dot2(w.type, w.row(r), w.row(r + 1), integer, count: cols, prefetchAhead: prefetchAhead)
                target.store(a, at: yOffset + r)
                target.store(b, at: yOffset + r + 1)
                r += 2
            }
            if r < rows.upperBound { target.store(dot(w.type, w.row(r), integer, count: cols), at: yOffset + r) }
            return
        }
        while r + 2 <= rows.upperBound {
            let (a, b) = dot2(w.type, w.row(r), w.row(r + 1), x, sums: sums, count: cols)
            target.store(a, at: yOffset + r)
            target.store(b, at: yOffset + r + 1)
            r += 2
        }
        if r < rows.upperBound { target.store(dot(w.type, w.row(r), x, sums: sums, count: cols), at: yOffset + r) }
    }
}
