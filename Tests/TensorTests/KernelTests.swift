import Foundation
import Testing

@testable import Tensor

/// A small deterministic generator for test data.
struct TestRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

/// Random blocks of `type` for `rows × cols` (scales kept small and positive).
func randomMatrixBytes(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> [UInt8] {
    var random = TestRandom(state: seed)
    var bytes: [UInt8] = []
    func half(_ f: Float) -> [UInt8] { withUnsafeBytes(of: Float16(f).bitPattern.littleEndian) { Array($0) } }
    for _ in 0..<rows {
        switch type {
        case .f32:
            for _ in 0..<cols { bytes += withUnsafeBytes(of: random.float().bitPattern.littleEndian) { Array($0) } }
        case .f16:
            for _ in 0..<cols { bytes += half(random.float()) }
        case .q4_0, .q4_1, .q8_0:
            for _ in 0..<(cols / 32) {
                bytes += half(abs(random.float()) * 0.1 + 0.01)
                if type == .q4_1 { bytes += half(random.float() * 0.2) }
                for _ in 0..<(type == .q8_0 ? 32 : 16) { bytes.append(random.byte()) }
            }
        }
    }
    return bytes
}

struct KernelTests {
    @Test(arguments: GGMLType.allCases)
    func dotMatchesDequantisedProduct(_ type: GGMLType) {
        let cols = 96
        let bytes = randomMatrixBytes(type, rows: 1, cols: cols, seed: UInt64(type.rawValue) + 1)
        var random = TestRandom(state: 99)
        let x = (0..<cols).map { _ in random.float() }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: 1, cols: cols, data: raw.baseAddress!)!
            var row = [Float](repeating: 0, count: cols)
            row.withUnsafeMutableBufferPointer { w.dequantizeRow(0, into: $0.baseAddress!) }
            let expected = zip(row, x).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            var sums = [Float](repeating: 0, count: cols / 32)
            x.withUnsafeBufferPointer { xp in
                sums.withUnsafeMutableBufferPointer {
                    Kernels.blockSums(xp.baseAddress!, count: cols, into: $0.baseAddress!)
                }
                let got = sums.withUnsafeBufferPointer {
                    Kernels.dot(type, w.row(0), xp.baseAddress!, sums: $0.baseAddress!, count: cols)
                }
                #expect(abs(got - expected) < 1e-3 * max(1, abs(expected)), "\(type)")
            }
        }
    }

    @Test func q4_1LayoutIsLowNibblesThenHighNibbles() {
        var block: [UInt8] = withUnsafeBytes(of: Float16(2).bitPattern.littleEndian) { Array($0) }
        block += withUnsafeBytes(of: Float16(-1).bitPattern.littleEndian) { Array($0) }
        block += (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        var out = [Float](repeating: 0, count: 32)
        block.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer {
                Kernels.dequantize(.q4_1, raw.baseAddress!, count: 32, into: $0.baseAddress!)
            }
        }
        #expect(out[0] == -1 && out[1] == 1 && out[15] == 29)
        #expect(out[16] == 29 && out[31] == -1)
    }

    @Test(arguments: [(GGMLType.q4_1, 1), (.q4_1, 7), (.q8_0, 1), (.q8_0, 9), (.f32, 5), (.q4_0, 4)], [1, 2])
    func matMulMatchesNaive(_ setup: (GGMLType, Int), threads: Int) {
        let (type, tokens) = setup
        let rows = 50
        let cols = 64
        let bytes = randomMatrixBytes(type, rows: rows, cols: cols, seed: 5)
        var random = TestRandom(state: 3)
        let x = (0..<(tokens * cols)).map { _ in random.float() }
        let pool = ThreadPool(threads: threads)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!)!
            var dense = [Float](repeating: 0, count: rows * cols)
            dense.withUnsafeMutableBufferPointer { d in
                for r in 0..<rows { w.dequantizeRow(r, into: d.baseAddress! + r * cols) }
            }
            var y = [Float](repeating: 1, count: tokens * rows)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    Kernels.matMul(
                        pool: pool, targets: [.init(weight: w, y: yp.baseAddress!, ldy: rows, accumulate: true)],
                        x: xp.baseAddress!, ldx: cols, tokens: tokens)
                }
            }
            for t in 0..<tokens {
                for r in 0..<rows {
                    var expected: Float = 1
                    for k in 0..<cols { expected += dense[r * cols + k] * x[t * cols + k] }
                    #expect(abs(y[t * rows + r] - expected) < 1e-3 * max(1, abs(expected)), "t \(t) r \(r)")
                }
            }
        }
    }

    /// Batch invariance (issue 19 part 3, PROTOCOL §7.2): each token's products are bit-identical
    /// whether it is multiplied alone on one thread or inside batches of other shapes on others
    /// (11 tokens pass as 4 + 4 + 2 + 1, 7 as 4 + 2 + 1; 137 rows end with an odd row), and whether
    /// the batched passes read the block factors from the model's ``PanelFactors`` table or gather
    /// them from the rows.
    @Test(arguments: [GGMLType.q4_1, .q8_0, .f32, .q4_0], [200, 137])
    func matMulIsBitIdenticalWhateverTheBatchAndThreads(_ type: GGMLType, rows: Int) {
        let cols = 128
        let tokens = 11
        let bytes = randomMatrixBytes(type, rows: rows, cols: cols, seed: 17)
        var random = TestRandom(state: 23)
        let x = (0..<(tokens * cols)).map { _ in random.float() }
        bytes.withUnsafeBytes { raw in
            let plain = WeightMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!)!
            let table = PanelFactors(plain)
            #expect((table != nil) == (type == .q4_1 || type == .q8_0))
            var w = plain
            /// `y` for the tokens `range` multiplied as one batch on `threads` threads.
            func product(_ range: Range<Int>, threads: Int) -> [Float] {
                var y = [Float](repeating: 0, count: range.count * rows)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Kernels.matMul(
                            pool: ThreadPool(threads: threads),
                            targets: [.init(weight: w, y: yp.baseAddress!, ldy: rows)],
                            x: xp.baseAddress! + range.lowerBound * cols, ldx: cols, tokens: range.count)
                    }
                }
                return y
            }
            let alone = (0..<tokens).flatMap { product($0..<($0 + 1), threads: 1) }
            func differing(_ other: [Float]) -> Int { zip(alone, other).count { $0.bitPattern != $1.bitPattern } }
            for (matrix, source) in [(plain, "gathered"), (plain.with(table), "table")] {
                w = matrix
                for threads in [1, 2, 3] {
                    let batched = product(0..<tokens, threads: threads)
                    let chunked = product(0..<4, threads: threads) + product(4..<tokens, threads: threads)
                    #expect(
                        differing(batched) == 0,
                        "\(type), \(rows) rows, one batch of \(tokens), \(threads) threads, factors \(source)")
                    #expect(
                        differing(chunked) == 0,
                        "\(type), \(rows) rows, chunks of 4 and 7, \(threads) threads, factors \(source)")
                }
            }
        }
    }

    @Test func int16ActivationsRoundWithinHalfAStep() {
        var random = TestRandom(state: 21)
        // Block 0 mixes a large element with tiny ones, block 1 is all zero, block 2 is ordinary.
        var x = (0..<96).map { _ in random.float() * 1e-3 }
        x[5] = -4_000
        for i in 32..<64 { x[i] = 0 }
        let q = x.withUnsafeBufferPointer { Kernels.Int16Activations($0.baseAddress!, count: 96) }
        defer { q.deallocate() }
        #expect(q.scale(0) == Float(4_000) / 32767)
        #expect(q.values[5] == -32767)
        #expect(q.scale(1) == 0 && (32..<64).allSatisfy { q.values[$0] == 0 })
        for b in 0..<3 {
            let block = x[(b * 32)..<(b * 32 + 32)]
            #expect(q.sum(b) == block.reduce(0, +))
            for i in block.indices {
                #expect(abs(Float(q.values[i]) * q.scale(b) - x[i]) <= q.scale(b) / 2 * 1.0001, "i \(i)")
            }
        }
    }

    /// The 16-bit matrix-vector path (Q4_1, Q8_0) against the exact product of the dequantised rows,
    /// within the bound its rounding allows: Σ|w| × half a step of each block. 51 rows take the
    /// two-row kernel and the single-row one.
    @Test(arguments: [GGMLType.q4_1, .q8_0])
    func int16MatrixVectorStaysWithinItsRoundingBound(_ type: GGMLType) {
        let rows = 51
        let cols = 128
        let bytes = randomMatrixBytes(type, rows: rows, cols: cols, seed: 17)
        var random = TestRandom(state: 8)
        let x = (0..<cols).map { i in random.float() * (i % 32 == 3 ? 50 : 1) }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, cols: cols, data: raw.baseAddress!)!
            var y = [Float](repeating: 0, count: rows)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    Kernels.matMul(
                        pool: ThreadPool(threads: 1), targets: [.init(weight: w, y: yp.baseAddress!, ldy: rows)],
                        x: xp.baseAddress!, ldx: cols, tokens: 1)
                }
            }
            var row = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                row.withUnsafeMutableBufferPointer { w.dequantizeRow(r, into: $0.baseAddress!) }
                var exact: Double = 0
                var bound: Double = 0
                for b in 0..<(cols / 32) {
                    let step = Double(x[(b * 32)..<(b * 32 + 32)].map(abs).max()!) / 32767
                    for i in (b * 32)..<(b * 32 + 32) {
                        exact += Double(row[i]) * Double(x[i])
                        bound += abs(Double(row[i])) * step / 2
                    }
                }
                // Plus float rounding of the sums themselves.
                #expect(abs(Double(y[r]) - exact) <= bound + 1e-5 * max(1, abs(exact)), "row \(r)")
            }
        }
    }

    @Test func expIsAccurate() {
        for x in stride(from: Float(-80), through: 80, by: 0.37) {
            let got = Kernels.exp(x)
            let expected = Float(exp(Double(x)))
            #expect(abs(got - expected) <= 4e-7 * expected, "x = \(x)")
        }
        #expect(Kernels.exp(-1000) == 0 || Kernels.exp(-1000) < 1e-37)
    }

    @Test func softmaxNormalises() {
        var v: [Float] = (0..<37).map { Float($0 % 7) - 3 }
        let lse = v.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: $0.count) }
        #expect(abs(v.reduce(0, +) - 1) < 1e-5)
        #expect(lse.isFinite)
        #expect(v[3] > v[2])
    }

    @Test func ropeRotatesAdjacentPairs() {
        var table = [Float](repeating: 0, count: 8)
        table.withUnsafeMutableBufferPointer {
            Kernels.ropeTable(position: 3, headDim: 8, base: 10_000, into: $0.baseAddress!)
        }
        var v: [Float] = [1, 0, 0, 1, 2, 2, 3, -1]
        let before = zip(v, v).map(*).reduce(0, +)
        table.withUnsafeBufferPointer { t in
            v.withUnsafeMutableBufferPointer {
                Kernels.rope($0.baseAddress!, heads: 1, headDim: 8, table: t.baseAddress!)
            }
        }
        #expect(abs(v[0] - Float(cos(Double(3)))) < 1e-6 && abs(v[1] - Float(sin(Double(3)))) < 1e-6)
        #expect(abs(zip(v, v).map(*).reduce(0, +) - before) < 1e-4)
    }

    @Test(arguments: [1, 2])
    func attentionMatchesNaive(threads: Int) {
        let heads = 4
        let kvHeads = 2
        let d = 16
        let start = 3
        let tokens = 2
        let positions = start + tokens
        var random = TestRandom(state: 11)
        let q = (0..<(tokens * heads * d)).map { _ in random.float() }
        let k = (0..<(positions * kvHeads * d)).map { _ in random.float() }
        let v = (0..<(positions * kvHeads * d)).map { _ in random.float() }
        var out = [Float](repeating: 0, count: tokens * heads * d)
        let pool = ThreadPool(threads: threads)
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        Kernels.attention(
                            pool: pool, q: qp.baseAddress!, keys: kp.baseAddress!, values: vp.baseAddress!,
                            out: op.baseAddress!, tokens: tokens, start: start, heads: heads, kvHeads: kvHeads,
                            headDim: d)
                    }
                }
            }
        }
        for t in 0..<tokens {
            for h in 0..<heads {
                let kvh = h / (heads / kvHeads)
                let n = start + t + 1
                var scores = (0..<n).map { j in
                    (0..<d).reduce(Float(0)) { $0 + q[(t * heads + h) * d + $1] * k[(j * kvHeads + kvh) * d + $1] } / 4
                }
                let m = scores.max()!
                scores = scores.map { Float(exp(Double($0 - m))) }
                let total = scores.reduce(0, +)
                for i in 0..<d {
                    var expected: Float = 0
                    for j in 0..<n { expected += scores[j] / total * v[(j * kvHeads + kvh) * d + i] }
                    #expect(abs(out[(t * heads + h) * d + i] - expected) < 1e-4)
                }
            }
        }
    }

    @Test func threadPoolRunsEveryWorkerEachTime() {
        let pool = ThreadPool(threads: 3)
        for round in 0..<200 {
            var seen = [Int](repeating: 0, count: 1000)
            seen.withUnsafeMutableBufferPointer { s in
                pool.parallelFor(1000) { range in
                    for i in range { s[i] += 1 }
                }
            }
            #expect(seen.allSatisfy { $0 == 1 }, "round \(round)")
        }
    }
}
