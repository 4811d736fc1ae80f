import GonkaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The plain scalar PoC computation of one nonce (PROTOCOL §5.2, docs/POC.md): straightforward
/// loops in `Double` over the same `Float` weights and inputs the fast ``PocEngine`` uses. It is the
/// yardstick: tests compare the engine against it, and `gonka poc mismatch` counts the nonces on
/// which the two fall on different sides of `r_target` (that rate is `poc_mismatch_rate`).
public struct PocReference: Sendable {
    public let weights: PocWeights
    /// The unit target vector `t` (§5.2 step 4).
    public let target: [Double]

    public var config: PocModelConfig { weights.config }

    public init(weights: PocWeights) {
        self.weights = weights
        self.target = Self.target(blockHashHex: weights.blockHashHex, vocab: weights.config.vocab)
    }

    public init(blockHashHex: String, config: PocModelConfig) throws(PocError) {
        self.init(weights: try PocWeights(blockHashHex: blockHashHex, config: config))
    }

    /// `t`: `vocab` normals from `SHA-256("{H}/target")`, divided by their Euclidean norm.
    public static func target(blockHashHex: String, vocab: Int) -> [Double] {
        var stream = PhiloxStream(seed: PocSeed.target(blockHashHex))
        let raw = stream.fill(normals: vocab).map(Double.init)
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { $0 / norm }
    }

    /// The distance `d = ‖o − t‖₂` of nonce `nonce` for the participant `publicKeyHex`.
    public func distance(publicKeyHex: String, nonce: UInt64) throws(PocError) -> Double {
        let pk = try PocSeed.canonicalPublicKey(publicKeyHex)
        let o = output(publicKeyHex: pk, nonce: nonce)
        var sum = 0.0
        for i in 0..<o.count {
            let diff = o[i] - target[i]
            sum += diff * diff
        }
        return sum.squareRoot()
    }

    /// `o`: the last position's logits, permuted, normalised (steps 1–4). `pk` must be canonical.
    func output(publicKeyHex pk: String, nonce: UInt64) -> [Double] {
        let logits = lastLogits(publicKeyHex: pk, nonce: nonce)
        var stream = PhiloxStream(seed: PocSeed.permutation(weights.blockHashHex, pk, nonce))
        let perm = stream.permutation(count: logits.count)
        let permuted = perm.map { logits[$0] }
        let norm = permuted.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return permuted.map { $0 / norm }
    }

    /// The input vectors of a nonce: `seqLen × dim` normals, row-major (row = position).
    public static func input(blockHashHex h: String, publicKeyHex pk: String, nonce: UInt64, count: Int) -> [Float] {
        var stream = PhiloxStream(seed: PocSeed.input(h, pk, nonce))
        return stream.fill(normals: count)
    }

    /// The forward pass (steps 1–2): the last position's `vocab` logits. `pk` must be canonical.
    public func lastLogits(publicKeyHex pk: String, nonce: UInt64) -> [Double] {
        let c = config
        let d = c.dim
        let s = c.seqLen
        let hd = c.headDim
        let eps = Double(c.normEps)
        let w = weights
        var x = Self.input(blockHashHex: w.blockHashHex, publicKeyHex: pk, nonce: nonce, count: s * d).map(Double.init)

        func tensor(_ name: String) -> UnsafePointer<Float> { w.pointer(name) }
        func norm(_ v: ArraySlice<Double>, _ g: UnsafePointer<Float>) -> [Double] {
            var ss = 0.0
            for value in v { ss += value * value }
            let scale = 1 / (ss / Double(v.count) + eps).squareRoot()
            var out = [Double](repeating: 0, count: v.count)
            for (i, value) in v.enumerated() { out[i] = value * scale * Double(PocWeights.normGain(g[i])) }
            return out
        }
        func matVec(_ m: UnsafePointer<Float>, rows: Int, cols: Int, _ v: [Double]) -> [Double] {
            let factor = Double(PocWeights.matrixScale(cols: cols))
            var out = [Double](repeating: 0, count: rows)
            for r in 0..<rows {
                var acc = 0.0
                let row = m + r * cols
                for k in 0..<cols { acc += Double(row[k]) * v[k] }
                out[r] = acc * factor
            }
            return out
        }
        func rope(_ v: inout [Double], position: Int) {
            for h in 0..<c.nHeads {
                for i in 0..<(hd / 2) {
                    let angle = Double(position) * pow(c.ropeTheta, -2 * Double(i) / Double(hd))
                    let (cs, sn) = (Double(Float(cos(angle))), Double(Float(sin(angle))))
                    let a = v[h * hd + 2 * i]
                    let b = v[h * hd + 2 * i + 1]
                    v[h * hd + 2 * i] = a * cs - b * sn
                    v[h * hd + 2 * i + 1] = a * sn + b * cs
                }
            }
        }

        for l in 0..<c.nLayers {
            let p = "layers.\(l)."
            var q: [[Double]] = []
            var k: [[Double]] = []
            var v: [[Double]] = []
            for t in 0..<s {
                let h = norm(x[(t * d)..<(t * d + d)], tensor(p + "attention_norm"))
                var qt = matVec(tensor(p + "attention.wq"), rows: d, cols: d, h)
                var kt = matVec(tensor(p + "attention.wk"), rows: d, cols: d, h)
                rope(&qt, position: t)
                rope(&kt, position: t)
                q.append(qt)
                k.append(kt)
                v.append(matVec(tensor(p + "attention.wv"), rows: d, cols: d, h))
            }
            let scale = 1 / Double(hd).squareRoot()
            for t in 0..<s {
                var attended = [Double](repeating: 0, count: d)
                for head in 0..<c.nHeads {
                    let base = head * hd
                    var scores = [Double](repeating: 0, count: t + 1)
                    for j in 0...t {
                        var dot = 0.0
                        for e in 0..<hd { dot += q[t][base + e] * k[j][base + e] }
                        scores[j] = dot * scale
                    }
                    let m = scores.max()!
                    var sum = 0.0
                    for j in 0...t {
                        scores[j] = exp(scores[j] - m)
                        sum += scores[j]
                    }
                    for j in 0...t {
                        let weight = scores[j] / sum
                        for e in 0..<hd { attended[base + e] += weight * v[j][base + e] }
                    }
                }
                let o = matVec(tensor(p + "attention.wo"), rows: d, cols: d, attended)
                for i in 0..<d { x[t * d + i] += o[i] }
            }
            for t in 0..<s {
                let h = norm(x[(t * d)..<(t * d + d)], tensor(p + "ffn_norm"))
                let gate = matVec(tensor(p + "feed_forward.w1"), rows: c.ffnHidden, cols: d, h)
                let up = matVec(tensor(p + "feed_forward.w3"), rows: c.ffnHidden, cols: d, h)
                var act = [Double](repeating: 0, count: c.ffnHidden)
                for i in 0..<c.ffnHidden { act[i] = gate[i] / (1 + exp(-gate[i])) * up[i] }
                let down = matVec(tensor(p + "feed_forward.w2"), rows: d, cols: c.ffnHidden, act)
                for i in 0..<d { x[t * d + i] += down[i] }
            }
        }
        let last = norm(x[((s - 1) * d)..<(s * d)], tensor("norm"))
        return matVec(tensor("output"), rows: c.vocab, cols: d, last)
    }
}
