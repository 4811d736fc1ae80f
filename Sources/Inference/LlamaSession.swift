import Tensor

/// One sequence's computation over a ``LlamaModel``: the KV cache, scratch buffers and a thread pool.
/// Not thread-safe; give each concurrent request its own session (the model is shared).
///
/// KV cache layout: per layer, keys and values are each `capacity` rows of `kvHeads · headDim`
/// floats, one row per position (position-major), so a batch appends contiguous rows.
public final class LlamaSession {
    public let model: LlamaModel
    public let pool: ThreadPool
    /// Positions the cache holds.
    public let capacity: Int
    /// Positions now in the cache.
    public private(set) var count = 0

    private let keys: [UnsafeMutablePointer<Float>]
    private let values: [UnsafeMutablePointer<Float>]
    private var scratch: Scratch?

    /// A session with room for `capacity` positions (at most the model's context) on `threads` threads.
    public init(model: LlamaModel, capacity: Int? = nil, threads: Int = 1) {
        self.model = model
        let c = model.config
        self.capacity = max(1, min(capacity ?? min(c.contextLength, 4096), c.contextLength))
        pool = ThreadPool(threads: threads)
        let rowFloats = self.capacity * c.kvWidth
        keys = (0..<c.layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rowFloats) }
        values = (0..<c.layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: rowFloats) }
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    /// Forgets every cached position.
    public func reset() { count = 0 }

    /// Drops cached positions after the first `keeping`.
    public func truncate(to keeping: Int) { count = max(0, min(count, keeping)) }

    /// Checks that every id is in the vocabulary.
    public func validate(_ ids: [Int]) throws {
        let size = model.config.vocabularySize
        for (position, id) in ids.enumerated() where id < 0 || id >= size {
            throw InferenceError.tokenOutOfVocabulary(id: id, position: position, vocabularySize: size)
        }
    }

    /// Runs `ids` at the next positions (one batch) and hands `logits` the logits of each batch
    /// position in `logitsFrom..<ids.count` (default: the last), numbered from 0, in order.
    public func evaluate(
        _ ids: [Int], logitsFrom: Int? = nil, logits: (Int, UnsafeBufferPointer<Float>) throws -> Void
    ) throws {
        try validate(ids)
        guard !ids.isEmpty else { throw InferenceError.emptyInput("token batch") }
        guard count + ids.count <= capacity else {
            throw InferenceError.contextOverflow(need: count + ids.count, limit: capacity)
        }
        let from = max(0, min(logitsFrom ?? (ids.count - 1), ids.count))
        let c = model.config
        let tokens = ids.count
        if scratch == nil || scratch!.tokens < tokens { scratch = Scratch(config: c, tokens: max(tokens, 1)) }
        guard let s = scratch else { return }
        let e = c.embedding
        let qWidth = c.heads * c.headDim
        let kv = c.kvWidth
        let start = count
        /// RMSNorm of the residual rows `rows` into `s.xn`, packed from its first row.
        func normalize(_ weight: [Float], rows: Range<Int>) {
            weight.withUnsafeBufferPointer { w in
                for t in rows {
                    Kernels.rmsNorm(
                        s.x + t * e, weight: w.baseAddress!, count: e, eps: c.rmsEpsilon,
                        into: s.xn + (t - rows.lowerBound) * e)
                }
            }
        }

        for (t, id) in ids.enumerated() { model.embeddingTable.dequantizeRow(id, into: s.x + t * e) }
        for t in 0..<tokens {
            Kernels.ropeTable(position: start + t, headDim: c.headDim, base: c.ropeBase, into: s.rope + t * c.headDim)
        }

        for (index, layer) in model.layers.enumerated() {
            let cacheK = keys[index]
            let cacheV = values[index]
            normalize(layer.attentionNorm, rows: 0..<tokens)
            Kernels.matMul(
                pool: pool,
                targets: [
                    .init(weight: layer.q, y: s.q, ldy: qWidth),
                    .init(weight: layer.k, y: cacheK + start * kv, ldy: kv),
                    .init(weight: layer.v, y: cacheV + start * kv, ldy: kv),
                ], x: s.xn, ldx: e, tokens: tokens)
            for t in 0..<tokens {
                let table = s.rope + t * c.headDim
                Kernels.rope(s.q + t * qWidth, heads: c.heads, headDim: c.headDim, table: table)
                Kernels.rope(cacheK + (start + t) * kv, heads: c.kvHeads, headDim: c.headDim, table: table)
            }
            Kernels.attention(
                pool: pool, q: s.q, keys: cacheK, values: cacheV, out: s.attention, tokens: tokens, start: start,
                heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            Kernels.matMul(
                pool: pool, targets: [.init(weight: layer.o, y: s.x, ldy: e, accumulate: true)], x: s.attention,
                ldx: qWidth, tokens: tokens)
            normalize(layer.ffnNorm, rows: 0..<tokens)
            Kernels.matMul(
                pool: pool,
                targets: [
                    .init(weight: layer.gate, y: s.gate, ldy: c.feedForward),
                    .init(weight: layer.up, y: s.up, ldy: c.feedForward),
                ], x: s.xn, ldx: e, tokens: tokens)
            Kernels.swiGLU(s.gate, s.up, count: tokens * c.feedForward)
            Kernels.matMul(
                pool: pool, targets: [.init(weight: layer.down, y: s.x, ldy: e, accumulate: true)], x: s.gate,
                ldx: c.feedForward, tokens: tokens)
        }
        count += tokens

        let rows = tokens - from
        guard rows > 0 else { return }
        normalize(model.outputNorm, rows: from..<tokens)
        // The head in chunks of rows, so scoring a long completion never holds all its logits.
        let vocabulary = c.vocabularySize
        let chunk = min(rows, Self.headChunk)
        let out = s.logits
        var first = 0
        while first < rows {
            let n = min(chunk, rows - first)
            Kernels.matMul(
                pool: pool, targets: [.init(weight: model.output, y: out, ldy: vocabulary)], x: s.xn + first * e,
                ldx: e,
                tokens: n)
            for r in 0..<n {
                try logits(first + r, UnsafeBufferPointer(start: out + r * vocabulary, count: vocabulary))
            }
            first += n
        }
    }

    /// Logit rows computed per head pass.
    static let headChunk = 32

    /// Runs `ids` at the next positions (one batch) and returns the logits of the batch positions
    /// `logitsFrom..<ids.count`, `vocabularySize` floats each, in order.
    public func evaluate(_ ids: [Int], logitsFrom: Int? = nil) throws -> [Float] {
        var result: [Float] = []
        try evaluate(ids, logitsFrom: logitsFrom) { _, row in result.append(contentsOf: row) }
        return result
    }
}

/// Activation buffers for a batch of up to `tokens` positions.
private final class Scratch {
    let tokens: Int
    let x: UnsafeMutablePointer<Float>
    let xn: UnsafeMutablePointer<Float>
    let q: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    let rope: UnsafeMutablePointer<Float>
    /// Logit rows of one head pass: kept, not allocated per call, because a decode step's 49,152
    /// floats are above malloc's mmap threshold and each fresh mapping costs page faults.
    let logits: UnsafeMutablePointer<Float>

    init(config c: LlamaConfig, tokens: Int) {
        self.tokens = tokens
        let qWidth = c.heads * c.headDim
        x = .allocate(capacity: tokens * c.embedding)
        xn = .allocate(capacity: tokens * max(c.embedding, qWidth))
        q = .allocate(capacity: tokens * qWidth)
        attention = .allocate(capacity: tokens * qWidth)
        gate = .allocate(capacity: tokens * c.feedForward)
        up = .allocate(capacity: tokens * c.feedForward)
        rope = .allocate(capacity: tokens * c.headDim)
        logits = .allocate(capacity: min(tokens, LlamaSession.headChunk) * c.vocabularySize)
    }

    deinit {
        for p in [x, xn, q, attention, gate, up, rope, logits] { p.deallocate() }
    }
}
