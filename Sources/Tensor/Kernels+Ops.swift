#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Kernels {
    /// `out = x / sqrt(mean(x²) + eps) · weight` over `count` floats (`out` may be `x`).
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, count: Int, eps: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        let sumSquares = dotF32(UnsafeRawPointer(x), UnsafeRawPointer(x), count: count)
        let scale = 1 / (sumSquares / Float(count) + eps).squareRoot()
        for i in 0..<count { out[i] = x[i] * scale * weight[i] }
    }

    /// The cosines and sines of RoPE for `position`: `table[2i] = cos(pos·θᵢ)`, `table[2i+1] = sin(pos·θᵢ)`
    /// with `θᵢ = base^(−2i/headDim)`, for `i < headDim/2`.
    public static func ropeTable(position: Int, headDim: Int, base: Double, into table: UnsafeMutablePointer<Float>) {
        for i in 0..<(headDim / 2) {
            let theta = Double(position) * pow(base, -2 * Double(i) / Double(headDim))
            table[2 * i] = Float(cos(theta))
            table[2 * i + 1] = Float(sin(theta))
        }
    }

    /// Rotates the adjacent pairs `(v[2i], v[2i+1])` of each of `heads` vectors of `headDim` by the
    /// angles in `table` (from ``ropeTable(position:headDim:base:into:)``).
    public static func rope(_ v: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, table: UnsafePointer<Float>) {
        for h in 0..<heads {
            let p = v + h * headDim
            for i in 0..<(headDim / 2) {
                let c = table[2 * i]
                let s = table[2 * i + 1]
                let a = p[2 * i]
                let b = p[2 * i + 1]
                p[2 * i] = a * c - b * s
                p[2 * i + 1] = a * s + b * c
            }
        }
    }

    /// `e^x` lane-wise (Cephes polynomial, about 1 ulp; inputs clamped to the finite range).
    @inline(__always)
    public static func exp(_ v: SIMD16<Float>) -> SIMD16<Float> {
        // Masked replace and element-wise integer loops vectorise; `clamped`, `rounded`, `pointwiseMax`
        // and the generic conversions became calls or scalar loops here (checked in the disassembly).
        var x = v
        x.replace(with: -87.3, where: x .< -87.3)
        x.replace(with: 88.3, where: x .> 88.3)
        // Round to nearest with the 1.5·2²³ trick: the integer also lands in the low mantissa bits.
        let shifted = x * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        var r = x.addingProduct(n, SIMD16(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD16(repeating: 2.121_944_4e-4))
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = (p * r * r + r) + 1
        var bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self)
        for i in 0..<16 { bits[i] = (bits[i] &- 0x4B40_0000 &+ 127) &<< 23 }
        return y * unsafeBitCast(bits, to: SIMD16<Float>.self)
    }

    /// `e^x` for one float.
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(SIMD16(repeating: x))[0] }

    /// In place: `v = softmax(v)` over `count` floats; returns `log(Σ e^(v−max)) + max`, the log-sum-exp.
    @discardableResult
    public static func softmax(_ v: UnsafeMutablePointer<Float>, count: Int) -> Float {
        guard count > 0 else { return -.infinity }
        let maximum = Self.maximum(v, count: count)
        var sum: Float = 0
        var i = 0
        let m = SIMD16<Float>(repeating: maximum)
        let raw = UnsafeMutableRawPointer(v)
        var acc = SIMD16<Float>()
        while i + 16 <= count {
            let e = exp(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - m)
            raw.storeBytes(of: e, toByteOffset: 4 * i, as: SIMD16<Float>.self)
            acc += e
            i += 16
        }
        sum = acc.sum()
        while i < count {
            v[i] = exp(v[i] - maximum)
            sum += v[i]
            i += 1
        }
        let inverse = 1 / sum
        for j in 0..<count { v[j] *= inverse }
        return Float(log(Double(sum))) + maximum
    }

    /// The largest of `count` floats (count > 0).
    @inline(__always)
    public static func maximum(_ v: UnsafePointer<Float>, count: Int) -> Float {
        let raw = UnsafeRawPointer(v)
        var m = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= count {
            let x = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            m.replace(with: x, where: x .> m)
            i += 16
        }
        var result = -Float.infinity
        for k in 0..<16 { result = Swift.max(result, m[k]) }
        while i < count {
            result = Swift.max(result, v[i])
            i += 1
        }
        return result
    }

    /// In place: `gate = silu(gate) · up` over `count` floats.
    public static func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        let g = UnsafeMutableRawPointer(gate)
        let u = UnsafeRawPointer(up)
        var i = 0
        while i + 16 <= count {
            let x = g.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            let silu = x / (exp(-x) + 1)
            g.storeBytes(
                of: silu * u.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i,
                as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            let x = gate[i]
            gate[i] = x / (exp(-x) + 1) * up[i]
            i += 1
        }
    }

    /// Causal grouped-query attention for `tokens` queries at positions `start..<start+tokens`.
    ///
    /// * `q`, `out`: `tokens` rows of `heads·headDim` floats (row stride `heads·headDim`).
    /// * `keys`, `values`: the cache, one row of `kvHeads·headDim` floats per position `0..<start+tokens`.
    /// Query head `h` reads key/value head `h / (heads / kvHeads)`; scores are scaled by `1/√headDim`.
    public static func attention(
        pool: ThreadPool, q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, tokens: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int
    ) {
        attention(
            pool: pool,
            sequences: [AttentionSequence(q: q, keys: keys, values: values, out: out, tokens: tokens, start: start)],
            heads: heads, kvHeads: kvHeads, headDim: headDim)
    }

    /// One sequence's part of a batched ``attention(pool:sequences:heads:kvHeads:headDim:)``: its
    /// queries, its own cache and its output rows, as in the one-sequence form.
    public struct AttentionSequence {
        public let q: UnsafePointer<Float>
        public let keys: UnsafePointer<Float>
        public let values: UnsafePointer<Float>
        public let out: UnsafeMutablePointer<Float>
        public let tokens: Int
        public let start: Int

        public init(
            q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
            out: UnsafeMutablePointer<Float>, tokens: Int, start: Int
        ) {
            self.q = q
            self.keys = keys
            self.values = values
            self.out = out
            self.tokens = tokens
            self.start = start
        }
    }

    /// The attention of several sequences, each over its own cache, as one parallel job over every
    /// (sequence, query, head): a batched decode step issues one job per layer instead of one per
    /// sequence. Each unit is computed exactly as in the one-sequence form, so the output bits do
    /// not depend on the batch.
    public static func attention(
        pool: ThreadPool, sequences: [AttentionSequence], heads: Int, kvHeads: Int, headDim: Int
    ) {
        let group = heads / kvHeads
        let qStride = heads * headDim
        let kvStride = kvHeads * headDim
        let scale = 1 / Float(headDim).squareRoot()
        // firstUnit[s]: the first unit of sequence s; units of s are its tokens × heads.
        var firstUnit: [Int] = []
        firstUnit.reserveCapacity(sequences.count + 1)
        var total = 0
        var longest = 0
        for sequence in sequences {
            firstUnit.append(total)
            total += sequence.tokens * heads
            longest = max(longest, sequence.start + sequence.tokens)
        }
        firstUnit.append(total)
        pool.parallelFor(total) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: longest)
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: headDim)
            defer {
                scores.deallocate()
                acc.deallocate()
            }
            var s = 0
            for unit in range {
                while unit >= firstUnit[s + 1] { s += 1 }
                let sequence = sequences[s]
                let local = unit - firstUnit[s]
                let t = local / heads
                let h = local % heads
                let kvh = h / group
                let length = sequence.start + t + 1
                let keys = sequence.keys
                let values = sequence.values
                let qh = UnsafeRawPointer(sequence.q + t * qStride + h * headDim)
                if headDim == 64 {
                    attend64(
                        q: qh, keys: UnsafeRawPointer(keys + kvh * headDim),
                        values: UnsafeRawPointer(values + kvh * headDim),
                        stride: kvStride * 4, length: length, scale: scale, scores: scores, out: acc)
                } else {
                    for j in 0..<length {
                        scores[j] =
                            dotF32(qh, UnsafeRawPointer(keys + j * kvStride + kvh * headDim), count: headDim) * scale
                    }
                    softmax(scores, count: length)
                    acc.initialize(repeating: 0, count: headDim)
                    for j in 0..<length {
                        let vr = values + j * kvStride + kvh * headDim
                        for d in 0..<headDim { acc[d] += scores[j] * vr[d] }
                    }
                }
                (sequence.out + t * qStride + h * headDim).update(from: acc, count: headDim)
            }
        }
    }

    /// One query row of head dimension 64 against `length` cached rows: the query and the output
    /// stay in registers.
    @inline(__always)
    static func attend64(
        q: UnsafeRawPointer, keys: UnsafeRawPointer, values: UnsafeRawPointer, stride: Int, length: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        let q0 = q.loadUnaligned(as: V.self) * scale
        let q1 = q.loadUnaligned(fromByteOffset: 64, as: V.self) * scale
        let q2 = q.loadUnaligned(fromByteOffset: 128, as: V.self) * scale
        let q3 = q.loadUnaligned(fromByteOffset: 192, as: V.self) * scale
        for j in 0..<length {
            let k = keys + j * stride
            var s = q0 * k.loadUnaligned(as: V.self)
            s = s.addingProduct(q1, k.loadUnaligned(fromByteOffset: 64, as: V.self))
            s = s.addingProduct(q2, k.loadUnaligned(fromByteOffset: 128, as: V.self))
            s = s.addingProduct(q3, k.loadUnaligned(fromByteOffset: 192, as: V.self))
            scores[j] = s.sum()
        }
        softmax(scores, count: length)
        var a0 = V()
        var a1 = V()
        var a2 = V()
        var a3 = V()
        for j in 0..<length {
            let v = values + j * stride
            let p = V(repeating: scores[j])
            a0 = a0.addingProduct(p, v.loadUnaligned(as: V.self))
            a1 = a1.addingProduct(p, v.loadUnaligned(fromByteOffset: 64, as: V.self))
            a2 = a2.addingProduct(p, v.loadUnaligned(fromByteOffset: 128, as: V.self))
            a3 = a3.addingProduct(p, v.loadUnaligned(fromByteOffset: 192, as: V.self))
        }
        let o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: a0, as: V.self)
        o.storeBytes(of: a1, toByteOffset: 64, as: V.self)
        o.storeBytes(of: a2, toByteOffset: 128, as: V.self)
        o.storeBytes(of: a3, toByteOffset: 192, as: V.self)
    }
}
