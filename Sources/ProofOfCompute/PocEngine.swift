import Foundation
import GonkaCore
import Synchronization
import Tensor

/// Hits of one computed batch of a search: the nonces with `d < r_target` and their distances.
public struct PocBatch: Sendable, Hashable {
    public var nonces: [UInt64]
    public var distances: [Double]
    /// Nonces the search had tried when this batch was found (including this batch).
    public var noncesTried: UInt64

    public init(nonces: [UInt64], distances: [Double], noncesTried: UInt64 = 0) {
        self.nonces = nonces
        self.distances = distances
        self.noncesTried = noncesTried
    }
}

/// Counters of the latest search.
public struct PocProgress: Sendable, Hashable {
    public var noncesTried: UInt64
    public var hits: UInt64
    public var seconds: Double
    public var running: Bool
    public var noncesPerSecond: Double { seconds > 0 ? Double(noncesTried) / seconds : 0 }

    public init(noncesTried: UInt64 = 0, hits: UInt64 = 0, seconds: Double = 0, running: Bool = false) {
        self.noncesTried = noncesTried
        self.hits = hits
        self.seconds = seconds
        self.running = running
    }
}

/// The fast PoC computation (PROTOCOL §5.2): many nonces at once, each layer's projections as
/// matrix–matrix products over `Tensor` kernels on `threads` threads, Float32 throughout (the final
/// distance summed in Double). Agrees with ``PocReference`` to ~1e-6 in distance.
///
/// One computation at a time: `distances` and a running `search` take turns batch by batch.
///
/// `@unchecked Sendable`: the thread pool is used only under `computeLock`; the rest is immutable
/// or atomic.
public final class PocEngine: @unchecked Sendable {
    public let weights: PocWeights
    public let threads: Int
    /// The unit target vector.
    let target: [Float]
    /// RoPE cos/sin per position: `seqLen × headDim` floats (``Kernels/ropeTable``).
    let ropeTables: [Float]
    /// Norm gains with the next matrix's input scale folded in: `normGain(g[i]) × matrixScale(dim)`,
    /// per layer for attention and FFN, then the final norm (scaling a product's input by `s` equals
    /// scaling its output by `s`).
    let attentionGains: [[Float]]
    let ffnGains: [[Float]]
    let finalGain: [Float]
    private let pool: ThreadPool
    private let computeLock = Mutex(())
    private let searches = Mutex<[SearchControl]>([])
    private let latest = Mutex<SearchControl?>(nil)

    /// Nonces per forward pass: a batch's activations stay in the L2 cache.
    public static let forwardBatch = 32

    public var config: PocModelConfig { weights.config }
    public var blockHashHex: String { weights.blockHashHex }

    /// The engine for the sprint of `blockHashHex` (64 hex digits) with model `config`.
    public convenience init(blockHashHex: String, config: PocModelConfig, threads: Int) throws(PocError) {
        let pool = ThreadPool(threads: threads)
        let weights = try PocWeights(blockHashHex: blockHashHex, config: config, pool: pool)
        self.init(weights: weights, pool: pool)
    }

    /// An engine over already built weights.
    public convenience init(weights: PocWeights, threads: Int) {
        self.init(weights: weights, pool: ThreadPool(threads: threads))
    }

    private init(weights: PocWeights, pool: ThreadPool) {
        self.weights = weights
        self.pool = pool
        self.threads = pool.threads
        let c = weights.config
        target = PocReference.target(blockHashHex: weights.blockHashHex, vocab: c.vocab).map(Float.init)
        var tables = [Float](repeating: 0, count: c.seqLen * c.headDim)
        tables.withUnsafeMutableBufferPointer { buffer in
            for t in 0..<c.seqLen {
                Kernels.ropeTable(
                    position: t, headDim: c.headDim, base: c.ropeTheta, into: buffer.baseAddress! + t * c.headDim)
            }
        }
        ropeTables = tables
        let scale = PocWeights.matrixScale(cols: c.dim)
        func gains(_ name: String) -> [Float] {
            (weights.values(name) ?? []).map { PocWeights.normGain($0) * scale }
        }
        attentionGains = (0..<c.nLayers).map { gains("layers.\($0).attention_norm") }
        ffnGains = (0..<c.nLayers).map { gains("layers.\($0).ffn_norm") }
        finalGain = gains("norm")
    }

    /// The distances of `nonces` for participant `publicKeyHex` (validation, §5.4).
    public func distances(publicKeyHex: String, nonces: [UInt64]) throws(PocError) -> [Double] {
        let pk = try PocSeed.canonicalPublicKey(publicKeyHex)
        var out: [Double] = []
        out.reserveCapacity(nonces.count)
        var start = 0
        while start < nonces.count {
            let end = Swift.min(start + Self.forwardBatch, nonces.count)
            out += compute(pk: pk, nonces: Array(nonces[start..<end]))
            start = end
        }
        return out
    }

    /// Searches `lattice` from its `startIndex`-th nonce on a dedicated thread, `batchSize` nonces
    /// at a time; each batch with hits (`d < rTarget`) is yielded. Ends when the consumer stops
    /// iterating (or its task is cancelled), on ``stop()``, or when the lattice runs out.
    public func search(
        publicKeyHex: String, lattice: NonceLattice, rTarget: Double, batchSize: Int, startIndex: UInt64 = 0
    ) throws(PocError) -> AsyncStream<PocBatch> {
        let pk = try PocSeed.canonicalPublicKey(publicKeyHex)
        guard (1...65_536).contains(batchSize) else {
            throw .invalidArgument("batch_size = \(batchSize) must be in 1...65536")
        }
        guard rTarget.isFinite, rTarget > 0 else { throw .invalidArgument("r_target = \(rTarget) must be positive") }
        let control = SearchControl()
        searches.withLock { $0.append(control) }
        latest.withLock { $0 = control }
        let (stream, continuation) = AsyncStream.makeStream(of: PocBatch.self, bufferingPolicy: .unbounded)
        continuation.onTermination = { _ in control.stop.store(true, ordering: .relaxed) }
        let thread = Thread { [self] in
            defer {
                control.finish()
                searches.withLock { list in list.removeAll { $0 === control } }
                continuation.finish()
            }
            var k = startIndex
            var exhausted = false
            while !control.stop.load(ordering: .relaxed) && !exhausted {
                var nonces: [UInt64] = []
                nonces.reserveCapacity(batchSize)
                while nonces.count < batchSize {
                    guard let n = lattice.nonce(at: k) else {
                        exhausted = true
                        break
                    }
                    nonces.append(n)
                    k &+= 1
                }
                var hits = PocBatch(nonces: [], distances: [])
                var start = 0
                while start < nonces.count && !control.stop.load(ordering: .relaxed) {
                    let end = Swift.min(start + Self.forwardBatch, nonces.count)
                    let slice = Array(nonces[start..<end])
                    let d = compute(pk: pk, nonces: slice)
                    for (n, distance) in zip(slice, d) where distance < rTarget {
                        hits.nonces.append(n)
                        hits.distances.append(distance)
                    }
                    control.tried.add(UInt64(slice.count), ordering: .relaxed)
                    start = end
                }
                control.hits.add(UInt64(hits.nonces.count), ordering: .relaxed)
                hits.noncesTried = control.tried.load(ordering: .relaxed)
                if !hits.nonces.isEmpty { continuation.yield(hits) }
            }
        }
        thread.stackSize = 1 << 22
        thread.start()
        return stream
    }

    /// Stops every running search (each finishes its current forward pass, then its stream ends).
    public func stop() {
        searches.withLock { list in for c in list { c.stop.store(true, ordering: .relaxed) } }
    }

    /// Counters of the latest search (zero before the first).
    public var progress: PocProgress {
        latest.withLock { $0?.progress ?? PocProgress() }
    }

    // MARK: - The batched forward pass

    /// Distances for up to ``forwardBatch`` nonces (more works too, with larger scratch).
    func compute(pk: String, nonces: [UInt64]) -> [Double] {
        computeLock.withLock { _ in forward(pk: pk, nonces: nonces) }
    }

    private func forward(pk: String, nonces: [UInt64]) -> [Double] {
        let c = config
        let b = nonces.count
        guard b > 0 else { return [] }
        let d = c.dim
        let s = c.seqLen
        let f = c.ffnHidden
        let hd = c.headDim
        let heads = c.nHeads
        let rows = b * s
        // Products run on a multiple of 4 rows (zero rows appended): every row then takes the same
        // register-blocked path, so a nonce's distance does not depend on the batch it is in.
        let padded = (rows + 3) / 4 * 4
        let lastRows = (b + 3) / 4 * 4
        let eps = c.normEps
        let scaleFFN = PocWeights.matrixScale(cols: f)
        let scaleDim = PocWeights.matrixScale(cols: d)
        let h = weights.blockHashHex
        let w = weights

        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            return p
        }
        let x = buffer(padded * d)
        let hn = buffer(padded * d)
        let q = buffer(padded * d)
        let k = buffer(padded * d)
        let v = buffer(padded * d)
        let att = buffer(padded * d)
        let gate = buffer(padded * f)
        let up = buffer(padded * f)
        let last = buffer(lastRows * d)
        let logits = buffer(lastRows * c.vocab)
        defer {
            for p in [x, hn, q, k, v, att, gate, up, last, logits] { p.deallocate() }
        }
        func matrix(_ name: String, rows: Int, cols: Int) -> WeightMatrix {
            WeightMatrix(type: .f32, rows: rows, cols: cols, data: UnsafeRawPointer(w.pointer(name)))!
        }

        pool.parallelFor(b) { range in
            for i in range {
                var stream = PhiloxStream(seed: PocSeed.input(h, pk, nonces[i]))
                stream.fillNormals(into: UnsafeMutableBufferPointer(start: x + i * s * d, count: s * d))
            }
        }
        ropeTables.withUnsafeBufferPointer { tablesBuffer in
            let tables = tablesBuffer.baseAddress!
            for l in 0..<c.nLayers {
                let p = "layers.\(l)."
                attentionGains[l].withUnsafeBufferPointer { attnNorm in
                    let attnNorm = attnNorm.baseAddress!
                    pool.parallelFor(rows) { range in
                        for r in range {
                            Kernels.rmsNorm(x + r * d, weight: attnNorm, count: d, eps: eps, into: hn + r * d)
                        }
                    }
                }
                Kernels.matMul(
                    pool: pool,
                    targets: [
                        .init(weight: matrix(p + "attention.wq", rows: d, cols: d), y: q, ldy: d),
                        .init(weight: matrix(p + "attention.wk", rows: d, cols: d), y: k, ldy: d),
                        .init(weight: matrix(p + "attention.wv", rows: d, cols: d), y: v, ldy: d),
                    ], x: hn, ldx: d, tokens: padded)
                pool.parallelFor(rows) { range in
                    for r in range {
                        let table = tables + (r % s) * hd
                        Kernels.rope(q + r * d, heads: heads, headDim: hd, table: table)
                        Kernels.rope(k + r * d, heads: heads, headDim: hd, table: table)
                    }
                }
                pool.parallelFor(b * heads) { range in
                    Self.attention(
                        units: range, q: q, k: k, v: v, out: att, seqLen: s, dim: d, heads: heads, headDim: hd,
                        outputScale: scaleDim)
                }
                Kernels.matMul(
                    pool: pool,
                    targets: [
                        .init(weight: matrix(p + "attention.wo", rows: d, cols: d), y: x, ldy: d, accumulate: true)
                    ],
                    x: att, ldx: d, tokens: padded)
                ffnGains[l].withUnsafeBufferPointer { ffnNorm in
                    let ffnNorm = ffnNorm.baseAddress!
                    pool.parallelFor(rows) { range in
                        for r in range {
                            Kernels.rmsNorm(x + r * d, weight: ffnNorm, count: d, eps: eps, into: hn + r * d)
                        }
                    }
                }
                Kernels.matMul(
                    pool: pool,
                    targets: [
                        .init(weight: matrix(p + "feed_forward.w1", rows: f, cols: d), y: gate, ldy: f),
                        .init(weight: matrix(p + "feed_forward.w3", rows: f, cols: d), y: up, ldy: f),
                    ], x: hn, ldx: d, tokens: padded)
                pool.parallelFor(rows) { range in
                    for r in range {
                        Kernels.swiGLU(gate + r * f, up + r * f, count: f)
                        let g = gate + r * f
                        for i in 0..<f { g[i] *= scaleFFN }
                    }
                }
                Kernels.matMul(
                    pool: pool,
                    targets: [
                        .init(weight: matrix(p + "feed_forward.w2", rows: d, cols: f), y: x, ldy: d, accumulate: true)
                    ],
                    x: gate, ldx: f, tokens: padded)
            }
        }
        finalGain.withUnsafeBufferPointer { finalNorm in
            for i in 0..<b {
                Kernels.rmsNorm(
                    x + (i * s + s - 1) * d, weight: finalNorm.baseAddress!, count: d, eps: eps, into: last + i * d)
            }
        }
        Kernels.matMul(
            pool: pool, targets: [.init(weight: matrix("output", rows: c.vocab, cols: d), y: logits, ldy: c.vocab)],
            x: last, ldx: d, tokens: lastRows)
        var result = [Double](repeating: 0, count: b)
        let vocab = c.vocab
        target.withUnsafeBufferPointer { t in
            result.withUnsafeMutableBufferPointer { out in
                let out = out
                pool.parallelFor(b) { range in
                    for i in range {
                        var stream = PhiloxStream(seed: PocSeed.permutation(h, pk, nonces[i]))
                        let perm = stream.permutation(count: vocab)
                        let l = logits + i * vocab
                        var norm2 = 0.0
                        for j in 0..<vocab { norm2 += Double(l[j]) * Double(l[j]) }
                        let inv = 1 / norm2.squareRoot()
                        var sum = 0.0
                        for j in 0..<vocab {
                            let diff = Double(l[perm[j]]) * inv - Double(t[j])
                            sum += diff * diff
                        }
                        out[i] = sum.squareRoot()
                    }
                }
            }
        }
        return result
    }

    /// Causal attention of `(nonce, head)` units over one nonce's `seqLen` positions.
    private static func attention(
        units: Range<Int>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, seqLen s: Int, dim d: Int, heads: Int, headDim hd: Int, outputScale: Float
    ) {
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: s)
        defer { scores.deallocate() }
        let scale = 1 / Float(hd).squareRoot()
        for unit in units {
            let nonce = unit / heads
            let head = unit % heads
            let base = nonce * s * d + head * hd
            for t in 0..<s {
                let qt = UnsafeRawPointer(q + base + t * d)
                for j in 0...t {
                    scores[j] = Kernels.dotF32(qt, UnsafeRawPointer(k + base + j * d), count: hd) * scale
                }
                Kernels.softmax(scores, count: t + 1)
                let o = out + base + t * d
                o.initialize(repeating: 0, count: hd)
                for j in 0...t {
                    let p = scores[j]
                    let vj = v + base + j * d
                    for e in 0..<hd { o[e] += p * vj[e] }
                }
                for e in 0..<hd { o[e] *= outputScale }
            }
        }
    }
}

/// The shared state of one search: its stop flag and counters.
final class SearchControl: Sendable {
    let stop = Atomic<Bool>(false)
    let tried = Atomic<UInt64>(0)
    let hits = Atomic<UInt64>(0)
    let started = ContinuousClock.now
    private let ended = Mutex<ContinuousClock.Instant?>(nil)

    func finish() { ended.withLock { $0 = .now } }

    var progress: PocProgress {
        let end = ended.withLock { $0 }
        let elapsed = (end ?? .now) - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return PocProgress(
            noncesTried: tried.load(ordering: .relaxed), hits: hits.load(ordering: .relaxed), seconds: seconds,
            running: end == nil)
    }
}
