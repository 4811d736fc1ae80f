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
    /// Held for a whole forward pass; guards the pass's scratch buffers.
    private let computeLock = Mutex(ForwardScratch())
    private let searches = Mutex<[SearchControl]>([])
    private let latest = Mutex<SearchControl?>(nil)

    /// Nonces per forward pass: a batch's activations stay in the L2 cache.
    public static let forwardBatch = 32
    /// Nonces per forward pass of a search with a rate cap.
    public static let cappedForwardBatch = 8

    public var config: PocModelConfig { weights.config }
    public var blockHashHex: String { weights.blockHashHex }

    /// The engine for the sprint of `blockHashHex` (64 hex digits) with model `config`.
    public convenience init(
        blockHashHex: String, config: PocModelConfig, threads: Int, niceness: Int32 = 0
    ) throws(PocError) {
        let pool = ThreadPool(threads: threads, niceness: niceness)
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
    ///
    /// `maxNoncesPerSecond` (`nil`: as fast as the threads go) caps the search's average rate: after
    /// each forward pass the thread idles until the nonces tried are no more than the cap times the
    /// seconds since the search started. For hosts that give PoC only part of a machine; the cap is
    /// on work done, so the weight the sprint earns scales with it.
    public func search(
        publicKeyHex: String, lattice: NonceLattice, rTarget: Double, batchSize: Int, startIndex: UInt64 = 0,
        maxNoncesPerSecond: Int? = nil
    ) throws(PocError) -> AsyncStream<PocBatch> {
        let pk = try PocSeed.canonicalPublicKey(publicKeyHex)
        guard (1...65_536).contains(batchSize) else {
            throw .invalidArgument("batch_size = \(batchSize) must be in 1...65536")
        }
        guard rTarget.isFinite, rTarget > 0 else { throw .invalidArgument("r_target = \(rTarget) must be positive") }
        if let maxNoncesPerSecond, maxNoncesPerSecond < 1 {
            throw .invalidArgument("max_nonces_per_second = \(maxNoncesPerSecond) must be at least 1")
        }
        // A capped search computes a few nonces per pass so that the work done tracks the cap
        // closely (a nonce's distance does not depend on the pass it is in).
        let step = maxNoncesPerSecond == nil ? Self.forwardBatch : Self.cappedForwardBatch
        let control = SearchControl()
        searches.withLock { $0.append(control) }
        latest.withLock { $0 = control }
        let (stream, continuation) = AsyncStream.makeStream(of: PocBatch.self, bufferingPolicy: .unbounded)
        continuation.onTermination = { _ in control.stop.store(true, ordering: .relaxed) }
        let thread = Thread { [self] in
            // The pool's helpers run at its nice value; the search thread is one of its workers.
            ThreadPriority.lowerCurrentThread(to: pool.niceness)
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
                    let end = Swift.min(start + step, nonces.count)
                    let slice = Array(nonces[start..<end])
                    let d = compute(pk: pk, nonces: slice)
                    for (n, distance) in zip(slice, d) where distance < rTarget {
                        hits.nonces.append(n)
                        hits.distances.append(distance)
                    }
                    let tried = control.tried.add(UInt64(slice.count), ordering: .relaxed).newValue
                    start = end
                    if let maxNoncesPerSecond {
                        Self.pace(control, tried: tried, maxNoncesPerSecond: maxNoncesPerSecond)
                    }
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

    /// Idles the search thread until `tried` nonces are within `maxNoncesPerSecond` times the
    /// search's age, in short sleeps so that a stop is seen promptly.
    private static func pace(_ control: SearchControl, tried: UInt64, maxNoncesPerSecond: Int) {
        let due = Duration.seconds(Double(tried) / Double(maxNoncesPerSecond))
        while !control.stop.load(ordering: .relaxed) {
            let ahead = due - (ContinuousClock.now - control.started)
            guard ahead > .zero else { return }
            let nap = Swift.min(ahead, .milliseconds(50))
            Thread.sleep(forTimeInterval: Double(nap.components.seconds) + Double(nap.components.attoseconds) * 1e-18)
        }
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
        computeLock.withLock { scratch in forward(pk: pk, nonces: nonces, scratch: &scratch) }
    }

    private func forward(pk: String, nonces: [UInt64], scratch: inout ForwardScratch) -> [Double] {
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

        // The activations live in scratch kept from call to call (fresh megabyte buffers cost
        // page faults and zeroing every forward pass). Only the padding rows need zeros: every
        // other element is written before it is read.
        let buffers = scratch.fitting(paddedRows: padded, lastRows: lastRows, config: c)
        let x = buffers.x
        let hn = buffers.hn
        let q = buffers.q
        let k = buffers.k
        let v = buffers.v
        let att = buffers.att
        let gate = buffers.gate
        let up = buffers.up
        let last = buffers.last
        let logits = buffers.logits
        for p in [x, hn, att] { (p + rows * d).update(repeating: 0, count: (padded - rows) * d) }
        gate.advanced(by: rows * f).update(repeating: 0, count: (padded - rows) * f)
        (last + b * d).update(repeating: 0, count: (lastRows - b) * d)
        func matrix(_ name: String, rows: Int, cols: Int) -> WeightMatrix {
            WeightMatrix(type: .f32, rows: rows, cols: cols, data: UnsafeRawPointer(w.pointer(name)))!
        }

        pool.parallelFor(b) { range in
            for i in range {
                Self.drawInput(h, pk, nonces[i], into: UnsafeMutableBufferPointer(start: x + i * s * d, count: s * d))
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
                    let perm = UnsafeMutableBufferPointer<Int32>.allocate(capacity: vocab)
                    defer { perm.deallocate() }
                    for i in range {
                        Self.drawPermutation(h, pk, nonces[i], into: perm)
                        let l = logits + i * vocab
                        var norm2 = 0.0
                        for j in 0..<vocab { norm2 += Double(l[j]) * Double(l[j]) }
                        let inv = 1 / norm2.squareRoot()
                        var sum = 0.0
                        for j in 0..<vocab {
                            let diff = Double(l[Int(perm[j])]) * inv - Double(t[j])
                            sum += diff * diff
                        }
                        out[i] = sum.squareRoot()
                    }
                }
            }
        }
        return result
    }

    /// Nonce `n`'s input (§5.2 step 1): the first `buffer.count` normals of
    /// `SHA-256("{H}/{pk}/input/{n}")`, eight Philox blocks at a time.
    public static func drawInput(_ h: String, _ pk: String, _ n: UInt64, into buffer: UnsafeMutableBufferPointer<Float>)
    {
        var stream = PhiloxStream(seed: PocSeed.input(h, pk, n))
        PocDraws.fillNormals(&stream, into: buffer)
    }

    /// Nonce `n`'s logit permutation (§5.2 step 4) of `0..<buffer.count`: the same as
    /// ``PocReference``'s `permutation(count:)`, drawn without its generic calls.
    public static func drawPermutation(
        _ h: String, _ pk: String, _ n: UInt64, into buffer: UnsafeMutableBufferPointer<Int32>
    ) {
        var stream = PhiloxStream(seed: PocSeed.permutation(h, pk, n))
        PocDraws.fillPermutation(&stream, into: buffer)
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

/// The activation buffers of a forward pass, grown to the largest batch seen and reused (one pass
/// at a time: the engine's `computeLock` owns them).
struct ForwardScratch: ~Copyable {
    private(set) var paddedRows = 0
    private(set) var lastRows = 0
    private var config: PocModelConfig?
    private(set) var x = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var hn = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var q = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var k = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var v = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var att = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var gate = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var up = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var last = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var logits = UnsafeMutablePointer<Float>.allocate(capacity: 0)

    init() {}

    deinit { deallocateAll() }

    private func deallocateAll() {
        for p in [x, hn, q, k, v, att, gate, up, last, logits] { p.deallocate() }
    }

    /// Buffers for at least `paddedRows` activation rows and `lastRows` final rows of `config`,
    /// zero-filled when (re)allocated.
    mutating func fitting(paddedRows rows: Int, lastRows last: Int, config c: PocModelConfig) -> ForwardScratchView {
        if rows > paddedRows || last > lastRows || config != c {
            deallocateAll()
            func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                p.initialize(repeating: 0, count: count)
                return p
            }
            paddedRows = Swift.max(rows, paddedRows)
            lastRows = Swift.max(last, lastRows)
            config = c
            x = buffer(paddedRows * c.dim)
            hn = buffer(paddedRows * c.dim)
            q = buffer(paddedRows * c.dim)
            k = buffer(paddedRows * c.dim)
            v = buffer(paddedRows * c.dim)
            att = buffer(paddedRows * c.dim)
            gate = buffer(paddedRows * c.ffnHidden)
            up = buffer(paddedRows * c.ffnHidden)
            self.last = buffer(lastRows * c.dim)
            logits = buffer(lastRows * c.vocab)
        }
        return ForwardScratchView(
            x: x, hn: hn, q: q, k: k, v: v, att: att, gate: gate, up: up, last: self.last, logits: logits)
    }
}

/// The pointers of a ``ForwardScratch`` for one pass.
struct ForwardScratchView {
    let x, hn, q, k, v, att, gate, up, last, logits: UnsafeMutablePointer<Float>
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
