/// The per-block factors of a Q4_1 or Q8_0 matrix laid out as the batched product reads them
/// (`Kernels+Panel.swift`), built once when a model loads.
///
/// The batched product multiplies a 64-row unit of a matrix by four tokens at a time and needs the
/// unit's block factors (`d`, and Q4_1's minimum `m`) block-major: all 64 rows' factor of block 0,
/// then block 1, …. In the file they sit row-major inside each row's blocks, and gathering them
/// for every unit at every step was 14% of an eight-stream decode step (perf, release build).
/// Here they are gathered once: for unit `u`, `d` at `u·stride + b·64 + i` and `m` right after the
/// unit's `d`s, as the same half-precision values (so every product keeps its bits), rows past the
/// matrix's end zero. It costs 4 bytes per 32-weight Q4_1 block (20% of the weights), 2 per Q8_0
/// block.
public final class PanelFactors: @unchecked Sendable {
    /// `unitStride` halves per unit: `blocks·64` of `d`, then (Q4_1) `blocks·64` of `m`.
    let values: UnsafeMutablePointer<Float16>
    let unitStride: Int
    let count: Int

    /// The table of `matrix`, or nil for a type the batched product does not read this way.
    public init?(_ matrix: WeightMatrix) {
        guard matrix.cols % 32 == 0, matrix.type == .q4_1 || matrix.type == .q8_0 else { return nil }
        let unit = Kernels.vectorChunk
        let blocks = matrix.cols / 32
        let q4 = matrix.type == .q4_1
        let units = (matrix.rows + unit - 1) / unit
        unitStride = blocks * unit * (q4 ? 2 : 1)
        count = units * unitStride
        values = .allocate(capacity: count)
        for u in 0..<units {
            let d = values + u * unitStride
            Self.gather(
                matrix, rows: (u * unit)..<min((u + 1) * unit, matrix.rows), d: d, m: q4 ? d + blocks * unit : nil)
        }
    }

    /// Writes the factors of `rows` (one unit, at most 64 rows) of `matrix` block-major into `d`
    /// and, for Q4_1, `m` (`blocks·64` halves each; rows past the unit's end zero): the one home of
    /// the layout, for the table and for a matrix without one (``Kernels/PanelScratch``).
    static func gather(
        _ matrix: WeightMatrix, rows: Range<Int>, d: UnsafeMutablePointer<Float16>, m: UnsafeMutablePointer<Float16>?
    ) {
        let unit = Kernels.vectorChunk
        let blocks = matrix.cols / 32
        let blockBytes = matrix.type == .q4_1 ? 20 : 34
        d.initialize(repeating: 0, count: blocks * unit)
        m?.initialize(repeating: 0, count: blocks * unit)
        for (i, r) in rows.enumerated() {
            let row = matrix.row(r)
            for b in 0..<blocks {
                let block = row + b * blockBytes
                d[b * unit + i] = block.loadUnaligned(as: Float16.self)
                m?[b * unit + i] = block.loadUnaligned(fromByteOffset: 2, as: Float16.self)
            }
        }
    }

    deinit { values.deallocate() }

    /// The factors of the unit whose first row is `firstRow`: `d` and (Q4_1) `m`, `blocks·64` each.
    @inline(__always)
    func unit(startingAt firstRow: Int, blocks: Int) -> (d: UnsafePointer<Float16>, m: UnsafePointer<Float16>) {
        let d = values + (firstRow / Kernels.vectorChunk) * unitStride
        return (UnsafePointer(d), UnsafePointer(d + blocks * Kernels.vectorChunk))
    }

    /// Bytes the table holds.
    public var bytes: Int { count * MemoryLayout<Float16>.stride }
}

extension WeightMatrix {
    /// This matrix reading its batched-product factors from `factors`, which was built from it and
    /// must outlive the returned value (its owner keeps both, as it keeps the weights' bytes).
    public func with(_ factors: PanelFactors?) -> WeightMatrix {
        var copy = self
        copy.panelFactors = factors.map { Unmanaged.passUnretained($0) }
        return copy
    }
}
